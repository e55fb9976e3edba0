"""Text processing for bilingual (Italian/English) retrieval.

Normalisation (case, accents, apostrophes), stop words, Snowball stemming for
both languages, a small synonym lexicon of generic venue vocabulary (museums,
gardens, science centres, castles, zoos: tickets, hours, access, food, pets,
photos, groups, schools...) shared by the two languages, and language
detection. Nothing here names one venue's own things (its rooms, events,
policies): what a KB says is learnt from the KB at load (`retrieval.KBIndex`).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

import snowballstemmer

_NON_WORD = re.compile(r"[^a-z0-9]+")


# The combining marks NFKD splits accents into (the Unicode blocks of combining diacritics).
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def fold(text: str) -> str:
    """Lowercase and strip accents, keeping punctuation."""
    text = text.lower()
    if text.isascii():
        return text
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text))


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
    qui qua gia sempre ancora molto poco tanto tutto tutti tutta tutte ogni altro altra altri altre stesso
    proprio siamo siete era erano fosse stata abbiamo avrei avremmo vorrebbe volere voglio vogliamo possono
    riesco riusciamo sai scusi scusate scusa chiedo chiedevo domandavo sapevo perfavore dunque quindi allora
    poi oppure invece anzi magari forse bene cioe tipo qualcosa niente nulla nostri nostre vostra suoi sue
    loro lei lui noi esiste esistono vero vera davvero quando
    """.split()
)
STOP_EN = set(
    """
    a about am an and any anything are as at be been being but by can could did do does doing for from get got
    had has have having he her here his how i i'd if in into is it its just know let like me might more most
    must my need of on or our please possible s should so some tell than that the their them then there these
    they this those to too us very was we were what whats which who will with would you your yours d ll m re t
    ve s hi ok okay dear there's is info information question wondering want wanted
    im also really actually maybe perhaps still already ever yes no sorry excuse wonder curious kindly needs
    needed anyone someone something one ones shall may she him it's that's there're where's what's cannot
    wanna gonna hey hello thanks thank guys folks when
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
    "barriere architettoniche": "sediarotelle",
    "step free": "sediarotelle",
    "reduced mobility": "sediarotelle",
    "mobilita ridotta": "sediarotelle",
    "non vedenti": "nonvedenti",
    "non vedente": "nonvedenti",
    "visually impaired": "nonvedenti",
    "partially sighted": "nonvedenti",
    "wi fi": "wifi",
    "e mail": "email",
    "audio guide": "audioguida",
    "audio guides": "audioguida",
    "audio tour": "audioguida",
    "audio guida": "audioguida",
    "gift shop": "bookshop",
    "book shop": "bookshop",
    "museum shop": "bookshop",
    "lost and found": "lostfound",
    "lost property": "lostfound",
    "oggetti smarriti": "lostfound",
    "oggetti ritrovati": "lostfound",
    "how much": "howmuch",
    "how long": "durata",
    "how much time": "durata",
    "quanto tempo": "durata",
    "quanto dura": "durata",
    "what time": "whattime",
    "a che ora": "whattime",
    "che ora": "whattime",
    "che orari": "orari",
    "last entry": "ultimoingresso",
    "last admission": "ultimoingresso",
    "ultimo ingresso": "ultimoingresso",
    "money back": "refund",
    "car park": "parking",
    "first sunday": "primadomenica",
    "prima domenica": "primadomenica",
    "baby changing": "fasciatoio",
    "changing table": "fasciatoio",
    "changing tables": "fasciatoio",
    "credit card": "creditcard",
    "debit card": "creditcard",
    "carta di credito": "creditcard",
    "carte di credito": "creditcard",
    "apple pay": "contactless",
    "google pay": "contactless",
    "over 65": "anziani",
    "over 65s": "anziani",
    "terza eta": "anziani",
    "new year": "capodanno",
    "fine anno": "capodanno",
    "primo gennaio": "capodanno",
    "1 gennaio": "capodanno",
    "christmas eve": "vigilia",
    "new year s eve": "capodanno",
    "new year s day": "capodanno",
    "santo stefano": "natale",
    "boxing day": "christmas",
    "easter monday": "pasquetta",
    "bank holiday": "holiday",
    "bank holidays": "holiday",
    "public holiday": "holiday",
    "public holidays": "holiday",
    "giorni festivi": "festivi",
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
    "in advance": "anticipo",
    "ahead of time": "anticipo",
    "per tempo": "anticipo",
    "mezzi pubblici": "transit",
    "public transport": "transit",
    "public transportation": "transit",
    "get there": "arrivare",
    "get in": "entrare",
    "get into": "entrare",
    "get to": "arrivare",
    "selfie stick": "selfie",
    "bastone per selfie": "selfie",
    "macchina fotografica": "fotocamera",
    "guided visit": "guidedtour",
    "guided visits": "guidedtour",
    "guided tour": "guidedtour",
    "guided tours": "guidedtour",
    "visita guidata": "guidedtour",
    "visite guidate": "guidedtour",
    "gift card": "giftcard",
    "gift cards": "giftcard",
    "carta regalo": "giftcard",
    "buono regalo": "giftcard",
    "buoni regalo": "giftcard",
    "picture gallery": "pinacoteca",
    "art gallery": "pinacoteca",
    "what is there to see": "collezione",
    "what to see": "collezione",
    "cosa vedere": "collezione",
    "da vedere": "collezione",
    "works of art": "artworks",
    "opere d arte": "opere",
    "phone number": "telefono",
    "on line": "online",
    "coffee shop": "caffetteria",
    "coffee bar": "caffetteria",
    "coffee house": "caffetteria",
    "in che via": "indirizzo",
    "in quale via": "indirizzo",
    "che strada": "indirizzo",
    "quale strada": "indirizzo",
    "what street": "address",
    "which street": "address",
    "numero di telefono": "telefono",
    "numero telefonico": "telefono",
    "get in touch": "contatto",
    "in touch": "contatto",
    "mettersi in contatto": "contatto",
    "quanto viene": "howmuch",
    "quanto vengono": "howmuch",
    "quanto si spende": "howmuch",
    "per forza": "obbligatorio",
    "turn up": "walkin",
    "show up": "walkin",
    "walk in": "walkin",
    "presentarsi": "walkin",
    "presentarmi": "walkin",
    "presentarci": "walkin",
    "presentarvi": "walkin",
    "hands on": "laboratorio",
    "year old": "eta",
    "years old": "eta",
    "year olds": "eta",
    "anni di eta": "eta",
    "time slot": "slot",
    "time slots": "slot",
}
_PHRASE_RE = re.compile(r"\b(" + "|".join(re.escape(p) for p in sorted(PHRASES, key=len, reverse=True)) + r")\b")

# Generic venue concepts shared by both languages. Each word (or its stem) maps
# to a concept token added next to the word's own stem; a word in two lists
# keeps the first concept. General synonyms only, not copies of test questions.
CONCEPTS: dict[str, list[str]] = {
    "price": """prezzo prezzi costo costi costa costano costare tariffa tariffe listino importo quota howmuch
        spendere spesa caro economico price prices priced cost costs costing fee fees pricing rate rates expensive
        cheap""".split(),
    "ticket": """biglietto biglietti ingresso ingressi entrata entrare entrano admission admissions entry
        entries entrance enter ticket tickets""".split(),
    "hours": """orari orario apertura aperture aperto aperta aperti apre aprono aprite chiude chiudono chiudete
        chiuso chiusa chiusi chiusura whattime ultimoingresso hours hour open opens opening close closes closing
        closed timetable schedule mattina mattino mattinata pomeriggio morning mornings afternoon afternoons""".split(),
    "duration": "durata dura durano durare duration lasts".split(),
    "child": """bambino bambini bambina bambine bimbo bimbi bimba bimbe figlio figli figlia figlie ragazzi ragazzo
        ragazza ragazzini piccoli piccolo minori minorenni kid kids child children toddler toddlers teenager
        teenagers son daughter""".split(),
    "student": """studente studenti studentessa universitari universitario universita giovani giovane student
        students university college youth young under26 under25""".split(),
    "discount": """sconto sconti scontato scontati ridotto ridotti ridotta riduzione riduzioni agevolazione
        agevolazioni agevolato convenzione convenzioni discount discounts discounted reduced reduction reductions
        concession concessions concessionary cheaper""".split(),
    "free": "gratis gratuito gratuita gratuiti gratuite gratuitamente omaggio free complimentary".split(),
    "senior": """anziani anziano anziana pensionati pensionato pensionata pensione senior seniors pensioner
        pensioners elderly retired retiree retirees oap""".split(),
    "book": """prenotare prenotazione prenotazioni prenoto prenota prenotarsi prenotato riservare riservato
        anticipo book booking booked bookings reserve reserved reservation reservations advance beforehand
        slot slots walkin""".split(),
    "buy": "acquistare acquisto acquisti comprare compro compra buy buying purchase purchasing".split(),
    "online": "online internet sito web website app eticket digitale digital".split(),
    "print": "stampare stampato stampa cartaceo print printed printout paper qr smartphone".split(),
    "food": """ristorante bar caffe caffetteria mangiare mangio pranzo pranzare cena colazione merenda spuntino
        panino panini bere bevande bevanda cibo cappuccino cafe cafeteria coffee restaurant lunch eat eating food
        snack snacks drink drinks breakfast sandwich sandwiches tea meal""".split(),
    "shop": """negozio negozi bookshop libreria libri souvenir souvenirs gadget cartoline catalogo cataloghi shop
        shops store books catalogue catalog catalogues postcards merchandise""".split(),
    "access": """disabili disabile disabilita accessibile accessibili accessibilita barriere carrozzina
        sediarotelle gradini rampa rampe handicap wheelchair wheelchairs disabled disability disabilities
        accessible accessibility step steps stairs ramp ramps mobility""".split(),
    "lift": "ascensore ascensori montacarichi lift lifts elevator elevators".split(),
    "blind": """cieco cieca ciechi cieche nonvedenti ipovedenti ipovedente braille tattile tattili tattilmente
        blind tactile touch toccare sight""".split(),
    "cloak": """guardaroba deposito armadietti armadietto cappotto cappotti giacca giacche zaino zaini borsa borse
        borsone valigia valigie trolley bagaglio bagagli ombrello ombrelli casco caschi cloakroom locker lockers
        coat coats jacket jackets backpack backpacks rucksack rucksacks bag bags luggage suitcase suitcases
        umbrella umbrellas helmet helmets""".split(),
    "photo": """foto fotografie fotografia fotografare fotografo fotocamera video filmare filmati riprendere
        riprese flash treppiede treppiedi selfie photo photos photograph photographs photography pictures picture
        pics film filming record recording video videos tripod tripods camera""".split(),
    "car": """auto automobile macchina parcheggio parcheggiare parcheggi posteggio sosta ztl car cars park
        parking drive driving motorway garage""".split(),
    "transit": """autobus bus pullman treno treni stazione navetta metro metropolitana tram fermata transit train
        trains station shuttle""".split(),
    "directions": "arrivare arrivo raggiungere indicazioni distanza dista directions reach far distance".split(),
    "pet": """cane cani cagnolino cucciolo gatto gatti animali animale guinzaglio dog dogs puppy cat cats pet
        pets animal animals lead leash""".split(),
    "stroller": """passeggino passeggini fasciatoio fasciatoi neonato neonati neonata bebe lattante allattare
        allattamento marsupio marsupi pannolino pannolini pram prams stroller strollers pushchair pushchairs
        buggy buggies baby babies infant infants nappy nappies diaper diapers breastfeeding carrier""".split(),
    "contact": """telefono telefonare telefonico chiamare numero email mail contatto contatti contattare recapito
        phone call email contact contacts telephone number""".split(),
    "gift": "regalo regali regalare buono buoni giftcard voucher vouchers gift gifts present presents".split(),
    "evening": """sera serale serali serata serate notte notti notturno notturna notturne concerto concerti
        musica aperitivo evening evenings night nights nighttime concert concerts music""".split(),
    "exhibit": """mostra mostre esposizione esposizioni temporanea temporanee exhibition exhibitions show shows
        temporary""".split(),
    "member": """tessera tessere socio soci iscrizione iscriversi abbonamento abbonamenti annuale amici membership
        member members join annual friends vantaggi vantaggio privilegi benefits benefit perks perk
        advantages""".split(),
    "lost": """lostfound smarrito smarrita smarriti perso persa persi dimenticato dimenticata ritrovato ritrovati
        lost forgot forgotten found""".split(),
    "wifi": "wifi wireless rete connessione connettersi password network hotspot".split(),
    "refund": """rimborso rimborsi rimborsare rimborsabile restituire soldi cambiare cambio spostare posticipare
        annullare disdire disdetta refund refunds refundable cancel cancellation change reschedule postpone
        money""".split(),
    "tour": """guida guidata guidate guidedtour guide guided tour tours accompagnata accompagna spiega spiegare
        spiegazione spiegazioni explain explains explanation explanations""".split(),
    "audio": "audioguida audioguide audioguides audio cuffie headphones".split(),
    "language": """lingua lingue italiano inglese francese tedesco spagnolo language languages english italian
        french german spanish""".split(),
    "school": """scuola scuole scolastica scolastiche classe classi scolaresca scolaresche alunni insegnanti
        insegnante maestra maestre professori gita elementare media school schools class classes pupils teachers
        teacher trip""".split(),
    "family": """famiglia famiglie genitori mamma papa madre padre family families parents mum mom dad mother
        father""".split(),
    "adult": "adulto adulti adulta adulte adult adults grownup grownups".split(),
    "age": "eta anni age ages aged".split(),
    "required": """obbligatorio obbligatoria obbligatori obbligatorie obbligo necessario necessaria mandatory
        compulsory required obligatory""".split(),
    "group": "gruppo gruppi comitiva comitive group groups party".split(),
    "pay": """pagare pago paghiamo pagamento pagamenti contanti bancomat carta carte paypal contactless creditcard
        satispay pay paying payment payments cash debit card cards visa mastercard""".split(),
    "collection": """collezione collezioni opere opera dipinti dipinto quadri quadro sculture scultura reperti
        pinacoteca archeologica archeologico archeologia capolavori capolavoro arte artisti collection collections
        works artworks artwork paintings painting sculptures sculpture archaeology archaeological masterpieces
        art artists""".split(),
    "holiday": """natale capodanno pasqua pasquetta festivi festivo festivita festa feste vigilia ferragosto
        epifania christmas easter holiday holidays""".split(),
    "address": "indirizzo address street located location".split(),
    "day": """lunedi martedi mercoledi giovedi venerdi sabato domenica weekend feriali monday tuesday wednesday
        thursday friday saturday sunday mondays tuesdays wednesdays thursdays fridays saturdays sundays
        weekends weekdays oggi domani today tomorrow""".split(),
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
                s = stem(w, lang)
                if len(s) >= 4 or s == w:  # "visa" -> "vis" would also catch "visita"
                    mapping.setdefault(s, "~" + concept)
    return mapping


CONCEPT_OF = _build_concept_map()


def words(text: str) -> list[str]:
    """Normalised words with multi-word expressions joined."""
    return list(_words(text))


@lru_cache(maxsize=65536)
def _words(text: str) -> tuple[str, ...]:
    """`words`, remembered: a KB's texts are split several times while it is indexed, and visitors repeat."""
    norm = normalize(text)
    if not norm:
        return ()
    return tuple(_PHRASE_RE.sub(lambda m: PHRASES[m.group(1)], norm).split())


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOP]


def looks_italian_word(w: str) -> bool:
    return len(w) > 2 and w[-1] in "aeio" and not w.endswith(("ee", "ie"))


def lang_scores(text: str, it_vocab: frozenset = frozenset(), en_vocab: frozenset = frozenset()) -> dict[str, float]:
    """Evidence for each language: function words count 2, words only the KB's Italian (English) side uses 1,
    accents / elisions (English contractions) 1.5."""
    folded = fold(text)
    ws = words(text)
    it = 2.0 * sum(w in IT_MARKERS for w in ws) + sum(w in it_vocab and w not in en_vocab for w in ws)
    en = 2.0 * sum(w in EN_MARKERS for w in ws) + sum(w in en_vocab and w not in it_vocab for w in ws)
    if re.search(r"[àèéìòù]", text.lower()) or "'" in folded and re.search(r"\b(l|un|dell|all|nell|c)'", folded):
        it += 1.5
    if re.search(r"\b\w+'(s|t|re|ll|ve|d|m)\b", folded):
        en += 1.5
    return {"it": it, "en": en}


def detect_lang(
    text: str, default: str = "it", it_vocab: frozenset = frozenset(), en_vocab: frozenset = frozenset()
) -> str:
    """Guess Italian or English from function words, the KB's own vocabulary and spelling."""
    ws = words(text)
    if not ws:
        return default
    scores = lang_scores(text, it_vocab, en_vocab)
    it, en = scores["it"], scores["en"]
    if it == en:
        content = [w for w in ws if w not in STOP and not w.isdigit()]
        vowel = sum(looks_italian_word(w) for w in content)
        eng = sum(w.endswith(("ing", "th", "ght", "ck", "ss", "ly", "s", "y", "k", "w")) for w in content)
        if vowel != eng:
            return "it" if vowel > eng else "en"
        return default
    return "it" if it > en else "en"
