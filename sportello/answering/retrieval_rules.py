"""Rules that run before retrieval: what must go to a person, and small talk.

Emergencies are not here: `emergency.py` detects them before these rules run.
Escalation reasons (returned as the Answer's intent, with found=False):
operator_request, complaint, personal_case, and no_answer for
questions that are outside a venue help desk's knowledge even when they
share words with a KB topic (weather, hotels and restaurants to recommend,
a person's private contacts, buying artworks, private hire, jobs, other
places and transport elsewhere), unless the venue's own KB asks about them
(a garden that hosts weddings: `out_of_scope`'s `known`). Patterns work on
lowercased, accent-free text in Italian and English and name generic venue
vocabulary only, never one venue's own things.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .retrieval_text import fold

EMERGENCY = "emergency"  # answered first, by sportello.answering.emergency (urgent, with instructions)
OPERATOR_REQUEST = "operator_request"
COMPLAINT = "complaint"
PERSONAL_CASE = "personal_case"
OUT_OF_SCOPE = "no_answer"  # same as kb.NO_ANSWER: nothing in the KB answers it, offer a person

# Reports of something that happened, for an insurance claim or a police report: an individual case.
_CLAIM_RE = re.compile(r"\b(assicurazion\w*|insurance|risarciment\w*|compensation|claim|denuncia)\b")

_OPERATOR_STRONG = (
    r"operator[ei]?|operatric[ei]|umano|essere umano|persona (vera|reale|fisica|in carne)|human|humans|"
    r"real person|live person|live agent|agent|agente|customer service|servizio clienti|assistenza clienti|"
    r"supervisor|manager|responsabile"
)
_OPERATOR_SOFT = (
    r"persona|qualcuno|someone|somebody|anyone|staff|personale|dipendente|impiegat[oa]|addett[oa]|"
    r"staff member|member of staff|a person|people"
)
_COMM_VERB = (
    r"parlare|parlarne|parlo|parlar|parli|chattare|scrivere|passami|passatemi|mi passi|mi passa|"
    r"mettermi in contatto|mettetemi in contatto|contattare|chiamare|sentire|talk|speak|chat|connect|transfer|"
    r"put me through|get me|reach|call me|richiamare|richiamatemi"
)
_OPERATOR_RE = re.compile(rf"\b({_OPERATOR_STRONG})\b")
_OPERATOR_SOFT_RE = re.compile(rf"\b({_COMM_VERB})\b.*\b({_OPERATOR_SOFT}|{_OPERATOR_STRONG})\b")
# "can someone from the staff call me back?": a person asked to get in touch.
_CALL_ME_RE = re.compile(
    rf"\b({_OPERATOR_SOFT}|{_OPERATOR_STRONG})\b.*\b((call|ring|phone|contact|email|text) (me|us)( back)?|"
    r"richiamar(mi|ci)|ricontattar(mi|ci)|(mi|ci) (richiam|ricontatt)\w*)\b"
)
_OPERATOR_ONLY_RE = re.compile(
    rf"^\W*(un |an |a |the |l')?({_OPERATOR_STRONG}|{_OPERATOR_SOFT})\W*(please|per favore|grazie)?\W*$"
)
# Questions *about* the guides or staff, not requests to reach one.
_NOT_OPERATOR_RE = re.compile(r"\b(tour operator|operatori turistici|travel agent|agenzia|agency)\b")
# "How can I reach someone by email?" asks for the venue's contacts (a KB answer), not for a person now.
_BY_CHANNEL_RE = re.compile(
    r"\b(by|via|per|tramite|con una?|with an?) (e ?mail|mail|posta( elettronica)?|phone|telephone|telefono|letter|lettera)\b"
)

_COMPLAINT_RE = re.compile(
    r"\b(reclam[oi]|reclamare|lamentel\w*|lamentar\w*|mi lamento|protest\w*|vergogn\w*|scandal\w*|maleducat\w*|"
    r"scortes\w*|sgarbat\w*|pessim[oaie]|inaccettabil\w*|indecent\w*|delus[oaie]|delusione|arrabbiat\w*|"
    r"furios[oaie]|schifo|sporc[oaih]\w*|incompetent\w*|vergognoso|complain\w*|rude|rudely|unacceptable|"
    r"disgust\w*|disgrace\w*|terrible|awful|horrible|appalling|worst|angry|furious|disappoint\w*|dirty|"
    r"unprofessional|outrage\w*|ridiculous|never again|mai piu|rip ?off|truffa|scam)\b"
)

_CHARGE_RE = re.compile(
    r"\b(addebit\w*|doppio addebito|pagato due volte|pagat[oi] (il )?doppio|charged twice|double charge\w*|"
    r"double[- ]charged|billed twice|paid twice|overcharg\w*|wrong amount|importo sbagliato|importo errato|"
    r"charged (me )?(the )?wrong|charged \d+|invece di \d+|instead of \d+|chargeback|storno)\b"
)
_ORDER_ID_RE = re.compile(
    r"\b(ordine|order|prenotazione|booking|reservation|transazione|transaction|ricevuta|receipt|fattura|"
    r"invoice|codice|code|pratica|ticket)\b\W*(n\.?|no\.?|nr\.?|num\w*|number|#|id|ref\w*|code|codice)?\W*\d{3,}|#\s*\d{3,}"
)
_MY_THING_RE = re.compile(
    r"\b(mio ordine|mia ordinazione|mia prenotazione|miei biglietti|mio biglietto|mio pagamento|mio rimborso|"
    r"mio account|my (order|booking|reservation|tickets?|payment|refund|account|card|purchase|e-?tickets?|qr code))\b"
)
_PROBLEM_RE = re.compile(
    r"\b(non|not|n't|never|mai|still|ancora|problem\w*|errore|error|wrong|sbagliat\w*|annullat\w*|cancell?ed|"
    r"missing|manca|mancano|arrivat\w*|arrived|received|ricevut\w*|find|trovo|trova|work|funziona|"
    r"invalid|valid[oa]|scadut\w*|expired|where is|dov'?e|status|stato)\b"
)
_NOT_RECEIVED_RE = re.compile(
    r"\b(non (mi )?(ho |e |sono )?(ancora )?(ricevut\w*|arrivat\w*)|non (e |sono )?(mai )?arrivat\w*|"
    r"mai ricevut\w*|(didn'?t|did not|haven'?t|have not|never|hasn'?t|has not|still not|not yet) "
    r"(yet )?(receive|received|get|got|arrive|arrived|come|came|been (refunded|received))|"
    r"non (funziona|e valido|viene accettat\w*)|(doesn'?t|does not|didn'?t|did not|won'?t) (work|scan|open))\b"
)
_LOST_ITEM_VERB_RE = re.compile(
    r"\b(ho perso|abbiamo perso|ho smarrito|ho dimenticato|abbiamo dimenticato|ho lasciato|abbiamo lasciato|"
    r"dimenticat[oaie]|smarrit[oaie]|lost|left|forgot|forgotten|can'?t find|cannot find|non trovo( piu)?|"
    r"rubat[oaie]|stolen|furto|theft|robbed|derubat\w*)\b"
)
_SPECIFIC_ITEM_RE = re.compile(
    r"\b(mio|mia|miei|mie|my|our|nostr[oaie]|portafoglio|portafogli|telefono|cellulare|smartphone|iphone|chiavi|"
    r"borsa|borsetta|giacca|giubbotto|cappotto|occhiali|ombrello|zaino|sciarpa|cappello|guanti|passaporto|"
    r"documento|carta d'?identita|macchina fotografica|fotocamera|orologio|anello|collana|tablet|portatile|"
    r"wallet|purse|phone|keys|bag|handbag|jacket|coat|glasses|sunglasses|umbrella|backpack|scarf|hat|gloves|"
    r"passport|id card|camera|watch|ring|necklace|laptop|ieri|stamattina|oggi|stamani|stasera|pomeriggio|"
    r"yesterday|this morning|today|this afternoon|last (week|night|month)|sala \d+|room \d+)\b"
)
# "during my visit" says when, not what: it does not make a lost-and-found question an individual case.
# Asking how lost and found works, or whom to contact ("I forgot my glasses yesterday, how do I get them
# back?", "who do I call?"), is a KB question even when it says when or where: the lost-property answer is
# what the visitor needs. It is an individual case when it asks whether the item was found, or only reports
# the loss (the development venues' labels: the three new venues' pools and the demo's
# second development set answer how-to questions from the KB, and both kinds of set send "have you found
# it?" to a person).
_LOST_HOW_RE = re.compile(
    r"\b(how (do|can|could|should|would) (i|we|one) (get|retrieve|recover|collect|claim|reclaim|pick up|have|report)|"
    r"how (does|do) (it|this|that|lost and found|lost property) work|what (should|do|can|must) (i|we) do|"
    r"who (do|should|can|must) (i|we) (call|contact|ask|phone|ring|email|write to|speak to|talk to)|"
    r"come (faccio|posso|possiamo|si fa|fare|devo fare) (a|per) (recuperar\w*|riaver\w*|riprender\w*|ritirar\w*|"
    r"riottener\w*)|come (posso|possiamo|si puo) (recuperar\w*|riaver\w*|riprender\w*|ritirar\w*)|"
    r"come (li |la |lo |le |l'|l )?(recupero|riprendo|riottengo|riavro|ritiro)|"
    r"cosa (devo|dobbiamo|posso|possiamo) fare|come si (recupera\w*|ritira\w*|fa)|get (it|them) back|"
    r"(chi|a chi) (devo|dobbiamo|posso|possiamo) (chiamare|contattare|rivolger\w*|scrivere|chiedere)|"
    r"a chi (mi|ci) (rivolgo|rivolgiamo))\b"
)
# Asking whether the item was found or handed in: only a person can check.
_LOST_FOUND_RE = re.compile(
    r"\b((li|la|lo|le|l') avete|avete trovato|ha trovato|hanno trovato|qualcuno (ha|l'ha)|"
    r"do you (still )?have (it|them|my)|has anyone|did anyone|anyone (found|hand\w*)|found (it|them|my)|"
    r"handed in|consegnat\w*|ritrovat[oaie]|(is|are) (it|they) (there|with you))\b"
)
_TICKET_NAME_RE = re.compile(
    r"\b((change|changing|transfer|put|switch|correct|wrong|misspelt|misspelled) (the )?(name|holder)|"
    r"name (on|of) (the |my |our )?(tickets?|booking|reservation)|"
    r"(cambiare|cambio|modificare|correggere|sbagliato|errato|intestare|intestazione|intestatari\w*) (il |l'|l )?"
    r"(nome|nominativo|intestatari\w*)|(nome|nominativo|intestatari\w*) (sul|del|dei|sui|nel) (biglietto|biglietti|prenotazione)|"
    r"(biglietto|biglietti|prenotazione) (intestat\w*|nominativ\w*) (a|ad) )"
)
_BOOKING_NUMBER_RE = re.compile(
    r"\b(booking|reservation|order|confirmation|prenotazione|ordine|conferma)\W+(number|no|nr|n|ref|reference|code|id|"
    r"numero|codice|num)\b\W*(is|e|:)?\W*[a-z]*\d|\b[a-z]{1,4}-?\d{4,}\b"
)
_EXPIRED_CARD_RE = re.compile(
    r"\b((my|our|la mia|la nostra|mia|nostra) (membership|member'?s|friends?|annual|tessera|card|abbonamento)\w*"
    r"( \w+){0,3} (has |have |is |e |ha |era )?(expired|scadut\w*|run out|lapsed)|"
    r"(tessera|abbonamento|card|membership)\w*( \w+){0,2} (scadut\w*|expired|lapsed)|"
    r"(expired|lapsed) (membership|member'?s card|friends card|card)|(rinnovare|renew) (la mia|my) (tessera|card|membership) scadut\w*)"
)
_PARKING_FINE_RE = re.compile(
    r"\b(multa|multe|multato|multata|multati|contravvenzion\w*|verbale|parking (fine|ticket|penalty)|"
    r"(got|received|given|have) a (fine|ticket) (in|at|for|on)|fined|clamped|towed|rimoss[ao]|carro attrezzi)\b"
)
# Whether places are left on a given day: only the booking system or a person knows now ("il campus di luglio ha
# ancora posti per la terza settimana?", "are there still places on Saturday's night visit?"). How many a room
# holds, or whether tickets are sold at the door, is a KB question: those words are not here.
_PLACES_LEFT_RE = re.compile(
    r"\b((ancora|still) (dei |degli |some |any )?(posti|places|spots|seats|spaces|slots)|"
    r"(posti|places|spots|seats|spaces|slots|tickets|biglietti) (left|remaining|rimast[oi])|"
    r"(c'?e|ci sono) (ancora )?posto per (\d+|due|tre|quattro|cinque|noi|me)\b)"
)
_MY_VISIT_RE = re.compile(r"\b(my|our|mia|nostra|la mia|la nostra) (visit|visita|trip|day out|giornata)\b")
_ROBBED_RE = re.compile(r"\b(rubat[oaie]|stolen|furto|theft|robbed|derubat\w*|pickpocket\w*|borseggi\w*)\b")


# Out of scope: classes of questions a venue FAQ rarely answers, though they share words with one
# (a price, a phone number, opening hours, "buy", "rent").
_OOS_WEATHER_RE = re.compile(
    r"\b(meteo|previsioni( del tempo| meteo)?|che tempo (fa|fara|ci sara)|tempo fara|piovera|nevichera|"
    r"temporale|weather|forecast|will it (rain|snow)|going to rain|is it raining|temperatur[ae])\b"
)
_OOS_LODGING_RE = re.compile(
    r"\b(hotel|hotels|albergo|alberghi|b ?& ?b|bed and breakfast|ostello|hostel|airbnb|dove dormire|alloggio|"
    r"pernottare|accommodation|place to stay|where to stay|pizzeria|pizzerie|trattoria|trattorie|osteria|osterie|"
    r"nightlife|discoteca)\b"
)
# Dinner is out of scope when the visitor asks where to have it, not when it is at the museum (an evening
# event, the café): "where can we have dinner nearby" vs "is the café open for dinner".
_OOS_DINNER_RE = re.compile(r"\b(dinner|cena|cenare)\b")
_OOS_WHERE_NEARBY_RE = re.compile(
    r"\b(where|dove|near|nearby|close by|around here|vicino|vicini|nei dintorni|in zona|qui intorno|recommend\w*|"
    r"consigli\w*|suggest\w*|suggeri\w*|restaurants?|ristorant[ei]|good places?|posto|posti|locale|locali)\b"
)
_OOS_RESTAURANT_NEAR_RE = re.compile(
    r"\b(good|best|nice|cheap|buoni|buon|migliori) (restaurants?|ristoranti?)\b|"
    r"\b(restaurants?|ristoranti?) (near|nearby|close|around|in (the )?(area|town|city)|vicino|vicini|nei dintorni|in zona|in citta)\b"
)
_OOS_RECOMMEND_RE = re.compile(r"\b(consigli\w*|suggeri\w*|recommend\w*|suggest\w*)\b")
_OOS_PLACES_NEARBY_RE = re.compile(
    r"\b(ristorant[ei]|restaurants?|posto per mangiare|place to eat|places to eat|negozi|shops|shopping|"
    r"bar|bars|pub|pubs|cosa visitare|what to visit|things to do|cosa fare)\b"
)
_OOS_OTHER_PLACE_RE = re.compile(
    r"\b(taxi|taxis|cab|uber|supermercat\w*|supermarket|farmaci[ae]|pharmacy|ospedale|hospital|"
    r"cattedrale|cathedral|duomo|basilica|chies[ae]|church|teatro|theatre|theater|cinema|stadio|stadium|zoo|"
    r"spiaggia|beach|ufficio turistico|tourist office|tourist information|infopoint|ufficio postale|post office|banca|"
    r"bancomat piu vicino|nearest atm|benzina|petrol|gas station|biblioteca comunale|town library)\b"
)
_CONTACT = r"(numer[oi]( di telefono)?|phone( number)?|number|telefono|cellulare|mobile|e ?mail|indirizzo( email)?|address|contatt[oi]|contacts?|contact details)"
_PERSON = (
    r"(direttore|direttrice|director|curatore|curatrice|curator|sindaco|mayor|presidente|president|restauratore|"
    r"restorer|conservatore|custode|guardian|archeolog[oa]|archaeologist|educatore|educatrice|educator|"
    r"(la |il |una |un |the |a |your |vostr[oa] |one of (the|your) )?(guida|guide|guides|staff member|dipendente|employee)"
    r" [a-z]+)"
)
_OOS_PRIVATE_CONTACT_RE = re.compile(
    rf"\b((personal[ei]?|private|privat[oaie]|home|own|direct) {_CONTACT}|{_CONTACT} (personale|privat[oa]|di casa|diretto)|"
    rf"numero (di )?cellulare|mobile number|cell ?phone number|whatsapp|"
    rf"{_CONTACT} (of|for|di|del|della|dello|dell|al|alla) (the |your |il |la |lo |l )?{_PERSON}|"
    rf"{_PERSON}'?s (personal |private |own )?{_CONTACT}|(?!museum|museo|your)[a-z]+'s (personal |private |own )?{_CONTACT})\b"
)
_OOS_SELL_RE = re.compile(
    r"\b(vendete|vendere|vendi|in vendita|comprare|compro|acquistare|buy|buying|purchase|sell|selling|sold|for sale|"
    r"quanto vale|quanto valgono|valutazione|valutare|stima|stimare|worth|apprais\w*|value of)\b"
)
_OOS_ARTWORK_RE = re.compile(
    r"\b(quadr[oi]|dipint[oi]|opera d'?arte|opere( d'?arte| esposte)?|scultur[ae]|repert[oi]|monet[ae]|antic[oaih]\w*|"
    r"painting|paintings|artwork|artworks|sculptures?|coins?|antiques?|the (piece|work|painting|statue)|statu[ae]|statues?)\b"
)
_OOS_REPRO_RE = re.compile(
    r"\b(poster|stamp[ae]|print|prints|riproduzion\w*|reproduction|replica|cartolin\w*|postcards?|catalog\w*)\b"
)
_OOS_HIRE_RE = re.compile(
    r"\b((affitt\w*|noleggi\w*|rent|renting|hire|hiring out|privatizzare) .*\b(museo|museum|sala|sale|room|rooms|chiostro|"
    r"cloister|spazi|spaces?|venue|location|terrazza|terrace)|matrimoni\w*|wedding|sposar\w*|get married|ricevimento|"
    r"reception party|festa privata|feste private|private (party|parties|event|events|function|dinner)|corporate event\w*|"
    r"evento aziendale|eventi aziendali|festa di compleanno|birthday party|team building)\b"
)
_OOS_JOB_RE = re.compile(
    r"\b((offert[ae]|opportunita|posti?|annunci|cerco|cerca|cercando|ricerca) (di )?lavoro|lavoro (da|con|presso) voi|"
    r"lavorare (al|nel|per il|qui|da voi)|job|jobs|hiring|are you hiring|assumete|assunzion\w*|candidat\w*|candidarmi|curriculum|cv|"
    r"internship|internships|tirocini\w*|stage|volontari\w*|volunteer\w*|posizioni aperte|vacanc\w*|careers?|"
    r"cercate personale|work (at|for|in) the museum|recruit\w*)\b"
)


# Another venue ("other castles around the lake", "the annual pass from another castle", "free entry to other museums
# with the friends' card"): not this venue's to answer, though its KB names the same kind of place. A car park or a
# room is not a venue: those words are not here.
_OOS_OTHER_VENUE_RE = re.compile(
    r"\b(other|another|altr[oaie]|un'?altr[oa])( \w+)? (castles?|castell[oi]|museums?|muse[oi]|gardens?|giardin[oi]|"
    r"orti botanici|zoos?|science (centres?|centers?)|venues?|monuments?|monumenti|galler(y|ies)|galleri[ae]|"
    r"archaeological (sites?|parks?)|siti archeologici|parchi archeologici)\b"
)
# The venue asked to buy a visitor's things ("do you buy used telescopes?", "comprate libri usati?").
_OOS_BUY_FROM_VISITOR_RE = re.compile(
    r"\b((do|would|will|could) you (ever )?(buy|purchase|acquire)|(comprate|acquistate|ritirate)( \w+){0,3} "
    r"(usat[oiae]|di seconda mano|second[- ]hand)|sell (it |them |something |my \w+ )?to you|vendervi|vendere a voi)\b"
)


# The airport is another place when the visitor goes there ("from the museum to the airport", flights), not
# when they come from it ("how do I get to the museum from the airport" is how to get here).
_OOS_AIRPORT_RE = re.compile(
    r"\b((to|for|towards|reach|get to) (the )?airport|airport (shuttle|transfer)s? (times|timetable|schedule)|"
    r"(all|per l|verso l|fino all|raggiungere l) ?'?aeroporto|flights?|voli|volo|check-?in)\b"
)


def _nothing_known(_span: str) -> bool:
    return False


def _no_class(_rx: re.Pattern) -> bool:
    return False


# Kinds of question a venue's KB may answer as a whole (a cave whose FAQ says what to do when it rains, a castle that
# hosts weddings, a park with jobs and volunteering): when one of its questions is of the kind, every question of
# the kind is left to retrieval (`KBIndex.asks_kind`), not only those naming the same words.
KINDS = (_OOS_WEATHER_RE, _OOS_JOB_RE, _OOS_HIRE_RE)


def out_of_scope(
    text: str, known: Callable[[str], bool] = _nothing_known, kind_known: Callable[[re.Pattern], bool] = _no_class
) -> bool:
    """True for questions of a kind a venue's FAQ does not answer, though they share words with a topic.

    `known(span)`: whether this venue's KB asks about the words a rule matched (its questions name them:
    a garden that hosts weddings, a science centre with birthday parties, a zoo asked about "the zoo"); such a
    match is the KB's to answer, not out of scope (`KBIndex.asks_about`). `kind_known(pattern)`: whether the KB
    asks questions of that kind at all (`KINDS`; `KBIndex.asks_kind`)."""
    t = fold(text)

    def hit(rx: re.Pattern) -> bool:
        m = rx.search(t)
        return bool(m) and not known(m.group(0)) and not (rx in KINDS and kind_known(rx))

    if hit(_OOS_WEATHER_RE) or hit(_OOS_LODGING_RE) or hit(_OOS_JOB_RE) or hit(_OOS_HIRE_RE):
        return True
    if _OOS_RECOMMEND_RE.search(t) and hit(_OOS_PLACES_NEARBY_RE):
        return True
    if hit(_OOS_DINNER_RE) and _OOS_WHERE_NEARBY_RE.search(t) or hit(_OOS_RESTAURANT_NEAR_RE):
        return True
    if hit(_OOS_AIRPORT_RE):
        return True
    if hit(_OOS_OTHER_PLACE_RE):
        return True
    if _OOS_PRIVATE_CONTACT_RE.search(t) or _OOS_OTHER_VENUE_RE.search(t) or _OOS_BUY_FROM_VISITOR_RE.search(t):
        return True
    if _OOS_SELL_RE.search(t) and _OOS_ARTWORK_RE.search(t) and not _OOS_REPRO_RE.search(t):
        return True
    return False


def escalation_reason(
    text: str, known: Callable[[str], bool] = _nothing_known, kind_known: Callable[[re.Pattern], bool] = _no_class
) -> str | None:
    """The reason this message must go to a person, or None. `known`, `kind_known`: see `out_of_scope`."""
    t = fold(text).strip()
    if not t:
        return None
    if not _NOT_OPERATOR_RE.search(t) and (
        _OPERATOR_RE.search(t)
        or (_OPERATOR_SOFT_RE.search(t) and not _BY_CHANNEL_RE.search(t))
        or _OPERATOR_ONLY_RE.search(t)
        or _CALL_ME_RE.search(t)
    ):
        return OPERATOR_REQUEST
    if _COMPLAINT_RE.search(t):
        return COMPLAINT
    if _CHARGE_RE.search(t) or _ORDER_ID_RE.search(t) or _NOT_RECEIVED_RE.search(t) or _ROBBED_RE.search(t):
        return PERSONAL_CASE
    if _MY_THING_RE.search(t) and _PROBLEM_RE.search(t):
        return PERSONAL_CASE
    if _TICKET_NAME_RE.search(t) or _BOOKING_NUMBER_RE.search(t) or _EXPIRED_CARD_RE.search(t):
        return PERSONAL_CASE
    if _PARKING_FINE_RE.search(t) or _CLAIM_RE.search(t) or _PLACES_LEFT_RE.search(t):
        return PERSONAL_CASE
    if _LOST_ITEM_VERB_RE.search(t) and _SPECIFIC_ITEM_RE.search(_MY_VISIT_RE.sub(" ", t)):
        if _LOST_FOUND_RE.search(t) or not _LOST_HOW_RE.search(t):
            return PERSONAL_CASE
    if out_of_scope(text, known, kind_known):
        return OUT_OF_SCOPE
    return None


# Small talk. A message made only of these words is a greeting or a thank-you.
_GREETING_WORDS = set(
    """
    ciao salve buongiorno buonasera buonanotte buon pomeriggio giorno sera hello hi hey hiya howdy good morning
    afternoon evening there everyone all tutti a voi lei c e ce qualcuno anyone is yo greetings welcome benvenuto
    buondi ehi ehila
    volevo vorrei chiedere domandare fare una un cosa domanda informazione posso potrei i have a question quick
    can could ask
    chiederti chiedervi chiederle domandarti domandarvi paio qualche cose di del sul sulla informazioni info aiutarmi
    aiutarci aiutare help me us hope hoping m am we re you please per favore couple few some things plan planning
    visit visita organizzare parco museo castello giardino park museum castle garden zoo
    anybody somebody someone around out to of che mi puo potete potreste dare una mano questions about visiting
    scrivo avere delle risponde rispondere
    avrei avremmo bisogno voi with something anything need needed ho abbiamo wondering wonder if
    """.split()
)
_GREETING_KEYS = set(
    "ciao salve buongiorno buonasera buonanotte buondi ehila hello hi hey hiya howdy greetings".split()
)
_GREETING_PHRASES = re.compile(r"\b(good (morning|afternoon|evening|day)|buon pomeriggio|buona sera|buon giorno)\b")
_THANKS_KEYS = re.compile(r"\b(grazie|ringrazi\w*|thank\w*|thanks|thx|ty|cheers|merci|gracias|appreciated)\b")
_THANKS_WORDS = set(
    """
    grazie mille tante molte infinite davvero ancora tanto tutto ok okay va bene perfetto ottimo benissimo
    gentile gentilissimo gentilissima gentilissimi gentili molto cortese cortesissimo ti la vi ringrazio ringraziamo
    dell della per l aiuto informazione informazioni info risposta chiaro capito e ciao arrivederci saluti
    thank thanks you so much very a lot lots many great perfect that s helps helped helpful for the help info
    information answer cheers got it understood brilliant awesome nice lovely bye goodbye again kind of really
    thx ty wonderful excellent fine alright all right
    was been useful utile utilissimo utilissima utilissimi sei stato stata stati siete tantissimo tantissime
    u ya your vostro vostra tuo tua chiarissimo chiarissima chiarissimi chiarissime chiara chiari chiare
    all i needed need wanted have day good buona buon giornata serata weekend thats
    ve ll re d m
    clear now quick quickly fast reply replying risposto veloce rapida
    kindly patience most
    exactly what much appreciated
    """.split()
)
# Leave-taking ("ok, see you on Saturday then, bye!", "a posto così, arrivederci"). A strong word says goodbye even
# beside a thank-you ("thanks, bye"); a weak one ("buona serata", "that's all") only without one, where it is a thanks.
_GOODBYE_STRONG = re.compile(
    r"\b(bye|byee|goodbye|arrivederci|arrivederla|ciao ciao|a presto|alla prossima|see (you|ya)|take care|"
    r"talk (to you )?(later|soon)|ci vediamo|ci sentiamo)\b"
)
_GOODBYE_WEAK = re.compile(
    r"\b(buona (serata|giornata|notte|continuazione)|buon (lavoro|proseguimento|weekend|fine settimana)|"
    r"have a (good|nice|great|lovely) (one|day|evening|night|weekend)|that s (all|everything|it)|e tutto|"
    r"a posto cosi|niente altro|nothing else|no more questions)\b"
)
_GOODBYE_WORDS = set(
    """
    bye byee goodbye arrivederci arrivederla ciao presto prossima alla see you ya take care talk to later soon ci
    vediamo sentiamo buona buon serata giornata notte continuazione lavoro proseguimento fine settimana have a good
    nice great lovely one day evening night weekend that s all everything it e tutto per ora now for posto cosi
    niente altro nothing else no more questions then allora va bene ok okay right alright i ll let go domani
    tomorrow sabato domenica saturday sunday soon again
    """.split()
)
# A part of the day alone ("morning!", "evening"): a greeting only when it is the whole message.
_GREETING_ALONE = {"morning", "afternoon", "evening", "giorno", "sera", "mattina"}


def _tokens(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9]+", " ", fold(text)).split()


def small_talk(text: str) -> str | None:
    """'greeting', 'thanks' or 'goodbye' when the message is only that, else None."""
    t = fold(text)
    toks = _tokens(text)
    if not toks:
        return None
    if (_GOODBYE_STRONG.search(t) or (_GOODBYE_WEAK.search(t) and not _THANKS_KEYS.search(t))) and all(
        w in _GOODBYE_WORDS or w in _THANKS_WORDS for w in toks
    ):
        return "goodbye"
    if _THANKS_KEYS.search(t) and all(w in _THANKS_WORDS or w in _GREETING_WORDS for w in toks):
        return "thanks"
    if len(toks) == 1 and toks[0] in _GREETING_ALONE:
        return "greeting"
    if (_GREETING_PHRASES.search(t) or any(w in _GREETING_KEYS for w in toks)) and all(
        w in _GREETING_WORDS for w in toks
    ):
        return "greeting"
    return None


def small_talk_cue(text: str) -> bool:
    """True when the message contains a greeting or a thank-you word (it may contain more)."""
    t = fold(text)
    return bool(
        _THANKS_KEYS.search(t)
        or _GREETING_PHRASES.search(t)
        or _GOODBYE_STRONG.search(t)
        or any(w in _GREETING_KEYS for w in _tokens(text))
    )


def strip_small_talk(text: str) -> str:
    """Drop a leading greeting or thank-you ('Ciao, quanto costa?' -> 'quanto costa?')."""
    pattern = re.compile(
        r"^\W*((ciao|salve|buongiorno|buonasera|hello|hi|hey|good (morning|afternoon|evening)|grazie( mille)?|"
        r"thanks?( you)?|ok|okay)\b[\s,.!;:]*)+",
        re.IGNORECASE,
    )
    return pattern.sub("", text).strip()
