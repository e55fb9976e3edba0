"""Text processing for bilingual (Italian/English) retrieval.

Normalisation (case, accents, apostrophes), stop words, Snowball stemming for
both languages, a small museum-domain synonym lexicon shared by the two
languages, and language detection.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

import snowballstemmer

_NON_WORD = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """Lowercase and strip accents, keeping punctuation."""
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c))


def normalize(text: str) -> str:
    """Lowercase, strip accents, keep only [a-z0-9] words separated by single spaces."""
    return _NON_WORD.sub(" ", fold(text)).strip()


# Function words and question fillers that say nothing about the topic.
STOP_IT = set(
    """
    a ad al allo alla ai agli alle all anche avete avere ha hai hanno ho c ce ci che chi con col coi cui d da dal
    dallo dalla dai dagli dalle dall de dei del dello della degli delle dell di e ed gli i il in io l la le li lo
    ma mi ne nei nel nello nella negli nelle nell o per piu po possibile posso possiamo potete potrei potrebbe
    puo può qual quale quali qualche quella quello questa questo questi sa sapere sarebbe se si sia sono su sua
    suo sul sullo sulla sui sugli sulle sull te ti tra fra tu un una uno vi voi vorrei vorremmo volevo vostro
    vostra vostri vostre mio mia miei mie nostro nostra ok okay salve per favore prego dire dirmi dite ditemi
    sapete sapreste informazione informazioni info chiedere domanda gentilmente cortesemente e stato essere
    c e cosa devo deve dobbiamo bisogna serve fare fate faccio
    """.split()
)
STOP_EN = set(
    """
    a about am an and any anything are as at be been being but by can could did do does doing for from get got
    had has have having he her here his how i i'd if in into is it its just know let like me might more most
    must my need of on or our please possible s should so some tell than that the their them then there these
    they this those to too us very was we were what whats which who will with would you your yours d ll m re t
    ve s hi ok okay dear there's is info information question wondering want wanted
    """.split()
)
STOP = STOP_IT | STOP_EN

# Words that mark a language (function words), used for detection only.
IT_MARKERS = set(
    """
    il lo la gli le di da del della dei delle che non per con una uno sono siete avete posso come quanto quanta
    quanti quando dove cosa c e ciao grazie buongiorno buonasera salve anche si ci mi vi qual quale quali al alla
    allo ai nel nella sul sulla perche chi vorrei potete mio mia ho ha fate aprite chiudete
    """.split()
)
EN_MARKERS = set(
    """
    the is are do does you can i how what when where a an of to for my your there hello hi thanks thank please
    which who will would could should have has with on at in it this that much many any get opening
    """.split()
)

# Multi-word expressions joined into one token before anything else.
PHRASES = {
    "sedia a rotelle": "sediarotelle",
    "sedie a rotelle": "sediarotelle",
    "non vedenti": "nonvedenti",
    "non vedente": "nonvedenti",
    "visually impaired": "nonvedenti",
    "wi fi": "wifi",
    "e mail": "email",
    "audio guide": "audioguida",
    "audio guides": "audioguida",
    "audio tour": "audioguida",
    "audio guida": "audioguida",
    "gift shop": "bookshop",
    "book shop": "bookshop",
    "lost and found": "lostfound",
    "lost property": "lostfound",
    "oggetti smarriti": "lostfound",
    "oggetti ritrovati": "lostfound",
    "how much": "howmuch",
    "money back": "refund",
    "car park": "parking",
    "first sunday": "primadomenica",
    "prima domenica": "primadomenica",
    "baby changing": "fasciatoio",
    "changing table": "fasciatoio",
    "credit card": "creditcard",
    "carta di credito": "creditcard",
    "apple pay": "contactless",
    "google pay": "contactless",
    "over 65": "anziani",
    "new year": "capodanno",
    "fine anno": "capodanno",
    "christmas eve": "vigilia",
    "new year s eve": "capodanno",
    "easter monday": "pasquetta",
    "fine settimana": "weekend",
    "non paga": "gratis",
    "non pagano": "gratis",
    "non si paga": "gratis",
    "non pagare": "gratis",
    "senza pagare": "gratis",
    "don t pay": "free",
    "do not pay": "free",
    "doesn t pay": "free",
    "without paying": "free",
    "for free": "free",
    "free of charge": "free",
}
_PHRASE_RE = re.compile(r"\b(" + "|".join(re.escape(p) for p in sorted(PHRASES, key=len, reverse=True)) + r")\b")

# Museum-domain concepts shared by both languages. Each word (or its stem) maps
# to a concept token added next to the word's own stem.
CONCEPTS: dict[str, list[str]] = {
    "price": "prezzo prezzi costo costi costa costano tariffa tariffe howmuch price prices cost costs fee fees pricing".split(),
    "ticket": "biglietto biglietti ingresso ingressi entrata ticket tickets admission entry entrance".split(),
    "hours": "orari orario apertura aperto aperti apre aprite chiude chiudete chiusura hours open opening close closing closes".split(),
    "child": "bambino bambini bambina figlio figli figlia ragazzi piccoli minori kid kids child children little ones".split(),
    "discount": "sconto sconti riduzione riduzioni ridotto ridotti agevolazione agevolazioni discount discounts reduced reduction concession concessions".split(),
    "free": "gratis gratuito gratuita gratuiti gratuitamente free".split(),
    "senior": "anziani anziano pensionati pensionato senior seniors pensioner pensioners elderly".split(),
    "book": "prenotare prenotazione prenotazioni prenoto prenota riservare book booking bookings reserve reservation".split(),
    "online": "online internet sito web website".split(),
    "food": "ristorante bar caffe caffetteria mangiare pranzo colazione merenda spuntino cafe coffee restaurant lunch eat food snack snacks drink".split(),
    "shop": "negozio bookshop libreria libri souvenir souvenirs shop store books catalogo catalogue catalog".split(),
    "access": "disabili disabile disabilita accessibile accessibilita barriere carrozzina sediarotelle wheelchair wheelchairs disabled disability accessible accessibility step".split(),
    "lift": "ascensore ascensori lift lifts elevator elevators".split(),
    "blind": "cieco cieca ciechi nonvedenti ipovedenti ipovedente blind braille tattile tattili tactile touch toccare".split(),
    "cloak": "guardaroba armadietti armadietto cappotto giacca zaino zaini borsa borse valigia valigie bagaglio bagagli cloakroom locker lockers coat coats jacket backpack backpacks rucksack bag bags luggage suitcase suitcases".split(),
    "photo": "foto fotografie fotografia fotografare fotografo video filmare riprese flash treppiede photo photos photograph photography pictures picture film filming video videos tripod selfie".split(),
    "car": "auto macchina parcheggio parcheggiare parcheggi car cars park parking drive driving".split(),
    "transit": "autobus bus treno stazione navetta metro train station shuttle tram".split(),
    "pet": "cane cani gatto gatti animali animale dog dogs cat cats pet pets animal animals".split(),
    "stroller": "passeggino passeggini fasciatoio fasciatoi neonato neonati pram prams stroller strollers pushchair pushchairs buggy baby babies".split(),
    "contact": "telefono telefonare chiamare email mail contatto contatti contattare phone call email contact telephone".split(),
    "gift": "regalo regali buono buoni regalare gift gifts voucher vouchers present".split(),
    "evening": "sera serale serali serata serate notte notti concerto concerti evening evenings night nights concert concerts".split(),
    "exhibit": "mostra mostre esposizione esposizioni exhibition exhibitions exhibit".split(),
    "member": "tessera socio soci iscrizione iscriversi abbonamento annuale membership member members join annual friends".split(),
    "lost": "lostfound smarrito smarriti perso persa dimenticato ritrovato ritrovati lost forgot forgotten found".split(),
    "wifi": "wifi wireless rete connessione password network".split(),
    "refund": "rimborso rimborsi rimborsare cambiare cambio spostare annullare disdire refund refunds cancel cancellation change reschedule".split(),
    "tour": "guida guidata guidate guide guided tour tours".split(),
    "audio": "audioguida audioguide audioguides".split(),
    "school": "scuola scuole classe classi scolaresca scolaresche alunni studenti insegnanti gita elementare media school schools class classes pupils teachers trip".split(),
    "family": "famiglia famiglie genitori family families parents".split(),
    "group": "gruppo gruppi comitiva group groups party".split(),
    "pay": "pagare pagamento pagamenti contanti bancomat paypal contactless creditcard pay payment payments cash debit".split(),
    "collection": "collezione collezioni opere quadri dipinti sculture reperti pinacoteca archeologica archeologia collection collections works paintings sculptures artworks archaeology archaeological".split(),
    "holiday": "natale capodanno pasqua pasquetta festivi festivo festivita vigilia ferragosto christmas holiday holidays".split(),
    "address": "indirizzo address street located location".split(),
    "workshop": "laboratorio laboratori attivita workshop workshops activities activity".split(),
}

_STEMMER_LOCK = threading.Lock()
_STEMMERS = {"it": snowballstemmer.stemmer("italian"), "en": snowballstemmer.stemmer("english")}


@lru_cache(maxsize=65536)
def stem(word: str, lang: str) -> str:
    with _STEMMER_LOCK:  # Snowball stemmer objects keep state between calls.
        return _STEMMERS[lang].stemWord(word)


def _build_concept_map() -> dict[str, str]:
    mapping: dict[str, str] = {}
    for concept, words in CONCEPTS.items():
        for w in words:
            w = normalize(w).replace(" ", "")
            mapping.setdefault(w, "~" + concept)
            for lang in ("it", "en"):
                mapping.setdefault(stem(w, lang), "~" + concept)
    return mapping


CONCEPT_OF = _build_concept_map()


def words(text: str) -> list[str]:
    """Normalised words with multi-word expressions joined."""
    norm = normalize(text)
    if not norm:
        return []
    return _PHRASE_RE.sub(lambda m: PHRASES[m.group(1)], norm).split()


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOP]


def looks_italian_word(w: str) -> bool:
    return len(w) > 2 and w[-1] in "aeio" and not w.endswith(("ee", "ie"))


def detect_lang(
    text: str, default: str = "it", it_vocab: frozenset = frozenset(), en_vocab: frozenset = frozenset()
) -> str:
    """Guess Italian or English from function words, the KB's own vocabulary and spelling."""
    folded = fold(text)
    ws = words(text)
    if not ws:
        return default
    it = 2.0 * sum(w in IT_MARKERS for w in ws) + sum(w in it_vocab and w not in en_vocab for w in ws)
    en = 2.0 * sum(w in EN_MARKERS for w in ws) + sum(w in en_vocab and w not in it_vocab for w in ws)
    if re.search(r"[àèéìòù]", text.lower()) or "'" in folded and re.search(r"\b(l|un|dell|all|nell|c)'", folded):
        it += 1.5
    if re.search(r"\b\w+'(s|t|re|ll|ve|d|m)\b", folded):
        en += 1.5
    if it == en:
        content = [w for w in ws if w not in STOP and not w.isdigit()]
        vowel = sum(looks_italian_word(w) for w in content)
        eng = sum(w.endswith(("ing", "th", "ght", "ck", "ss", "ly", "s", "y", "k", "w")) for w in content)
        if vowel != eng:
            return "it" if vowel > eng else "en"
        return default
    return "it" if it > en else "en"
