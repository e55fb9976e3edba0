"""Emergencies: detected before anything else, answered with the venue's emergency instructions.

`detect(text)` says whether a visitor message reports an emergency happening now (someone ill or injured,
fire or smoke, a lost child or relative, someone stuck or locked in, a theft, violence), in Italian or English,
typed badly too: every word of five letters or more is first corrected to the nearest word of a generic
emergency vocabulary (edit distance 1, 2 for long words), then the patterns run on the corrected text.
Questions about what happens *if* (a child gets lost, there is a fire) and reports of the past (an injury last
week, a theft yesterday, an insurance claim) are not emergencies: they are left to the other rules.

`instructions(entries, lang, kind, fallback)` picks what to answer: the KB entry whose intent is one of the
known emergency names (`EMERGENCY_INTENTS`, or the `EMERGENCY_INTENT` setting); for a lost person, a lost-child
entry when the KB has one; else the `EMERGENCY_TEXT` setting, else a default "call 112" text.
Nothing here knows a venue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .retrieval_text import fold

EMERGENCY = "emergency"
# KB intent names that hold a venue's emergency instructions (compared folded, "-"/" " as "_").
EMERGENCY_INTENTS = ("emergency", "emergenza", "emergencies", "emergenze", "first_aid", "primo_soccorso", "sos")
LOST_PERSON_INTENTS = (
    "lost_child",
    "lost_children",
    "missing_child",
    "lost_person",
    "bambino_smarrito",
    "bambini_smarriti",
    "bambino_perso",
    "bambini_persi",
    "persona_smarrita",
)
DEFAULT_TEXT = {
    "it": "Se è un'emergenza chiami subito il 112 e avvisi il membro del personale più vicino.",
    "en": "If this is an emergency, call 112 now and tell the nearest member of staff.",
}

_W = r"(?!\w)"
_ILLNESS = (
    r"emergenz[ae]|emergency|emergencies|ambulanz[ae]|ambulance|pronto soccorso|first aid|primo soccorso|"
    r"defibrillat\w*|malore|svenut[oaie]|sviene|svenire|svenendo|fainted|fainting|faint|passed out|collapsed|"
    r"collapse|unconscious|incosciente|privo di sensi|priva di sensi|ferit[oaie]|injured|injury|bleeding|"
    r"sanguin\w*|perde (tanto |molto |parecchio )?sangue|si (e|sono) tagliat[oaie]|respira male|respira a fatica|"
    r"(e|sono) crollat[oaie]|si e (fatt[oa]|sentit[oa]) male|si sono fatti male|mi sono fatt[oa] male|"
    r"sta male|stanno male|sto male|mi sento male|si sente male|feel(ing)? (sick|ill|unwell|faint|dizzy)|"
    r"not feeling well|is unwell|taken ill|is sick|being sick|vomit\w*|vomita\w*|sentit[oa] male|not breathing|can'?t breathe|cannot breathe|non respira|"
    r"non riesce a respirare|difficolta a respirare|fa fatica a respirare|trouble breathing|difficulty breathing|"
    r"struggling to breathe|(faccia|gola|lingua|labbra) gonfi[ae]|(face|throat|tongue|lips) (is |are )?(all )?swollen|"
    r"swollen (face|throat|tongue|lips)|(a lot of|lots of|so much|loads of|tanto|molto) (blood|sangue)|"
    r"(blood|sangue) (everywhere|all over|dappertutto|ovunque)|(just|appena) cut (his|her|my|their) \w+|"
    r"cut (his|her|my|their) (hand|finger|head|leg|arm|foot|face)( \w+){0,3} (badly|deep\w*|open)|"
    r"(badly|deeply) cut|(chemical\w*|sostanz\w*|prodott\w*)( \w+){0,3} (in|negli|nell'?) ?(his|her|my|their|gli)? ?"
    r"(eyes?|occhi|occhio)|heart attack|infarto|attacco di cuore|dolor[ei]( \w+){0,2} al petto|male al petto|"
    r"pains? in (his|her|my|the|their) chest|(clutching|holding|grabbing) (his|her|my|their) chest|"
    # a face gone grey or blue said of someone ("he's gone grey"), not of the sky or the leaves
    r"(he|she|they)('?s|'?re| is| has| have| are)? (gone|going|turned|turning) (very |all |really )?(grey|gray|pale|blue|white)|"
    r"(face|lips) (is |are |has |have )?(gone |going |turned |turning )?(very |all |really )?(grey|gray|blue)|"
    r"si tiene il petto|cianotic[oa]|(diventat[oa]|e) (tutt[oa] )?grigi[oa] in (faccia|viso|volto)|"
    r"(faccia|viso|volto|labbra) (\w+ )?(grigi[oa]|grigie|cianotic\w*|viola|blu)|"
    r"in agony|(screaming|urla|grida) (in|dal|di) (pain|dolore)|"
    r"(can'?t|cannot) move (his|her|my|their) (leg|arm|foot|neck|back|hand|head)|"
    r"non (riesce|riesco|riescono) (piu )?a muovere (la |il |le |i |l')?(gamba|gambe|braccio|braccia|collo|schiena|"
    r"mano|mani|piede|piedi|testa)|slipped and (fell|hurt|can'?t)|"
    # a fall told with its trouble ("è scivolato sui gradini e non riesce ad alzarsi"), not a sore knee after a slip
    r"(e|sono) scivolat[oaie]( \S+){0,8} (non (riesce|riesco|muove|si muove|si alza)|piange|urla|sta urlando)|"
    r"chest pains?|crisi epilettica|epilessia|convulsion\w*|seizure|(having|had|has|in) a fit|stroke|ictus|soffoca\w*|choking|chokes|"
    r"allergic reaction|reazione allergica|shock anafilattico|anaphyla\w*|gonfiando|swelling up|"
    r"is hurt|got hurt|are hurt|been hurt|hurt (himself|herself|themselves|myself|badly)|"
    r"broke (his|her|my) (leg|arm|ankle|wrist)|(gamba|braccio|caviglia|polso) rott[oa]|"
    r"(si e|mi sono|ci siamo|si sono|ha|ho) rott[oa] (il |la |un |una |l')?(gamba|braccio|caviglia|polso|naso|anca|femore)|"
    r"(leg|arm|ankle|wrist|hip|nose|bone)( \w+){0,2} (broken|fractured)|"
    # not someone who "can't walk far / for long" (a mobility need: the accessibility answer), only "can't walk"
    r"(can'?t|cannot) walk(?! (very |too |that |so )?(far|long|much|a lot|distances?|more than|for (long|more)|yet|"
    r"all the way|the whole))|"
    r"non riesc[eo] (piu )?a camminare(?! (a lungo|molto|per molto|tanto|per (lunghi|lunghe) (tratti|distanze)))|"
    r"(e|sono) cadut[oaie]|fell(?! (asleep|in love|for|behind|apart|through|short|silent|ill))|has fallen|hit (his|her) head|battuto la testa|"
    r"need a doctor|serve un medico|c'?e un medico|is there a doctor|call a doctor|chiamate (un|il) medico|"
    r"ipoglicemi\w*|hypo|diabetic|diabetico|diabetica|sotto shock|in shock|overdose|"
    r"(si sono|sono) rotte le acque|waters? (have )?broken|in labou?r|contrazioni|"
    r"chiamate (la polizia|i carabinieri|un'?ambulanza|il 112|il 118|aiuto|i pompieri|i vigili del fuoco)|"
    r"call (the police|an ambulance|112|999|911|the fire brigade|for help)|sos|mayday"
)
_FIRE = (
    r"incendi[oa]|a fuoco|fuoco|on fire|fire|fiamme|flames|fumo|smoke|smoky|odore di bruciato|puzza di bruciato|"
    r"burning smell|smell of burning|smell\w* (of )?burning|something burning|brucia|bruciando|fuga di gas|perdita di gas|puzza di gas|"
    r"odore di gas|gas leak|smell (of )?gas|allarme antincendio|fire alarm|allarme|alarm|evacua\w*|esplosion\w*|"
    r"explosion|crollat[oa]|collapsed ceiling|allagat[oa]|flood(ed|ing)?"
)
# Fire words that are also ordinary words ("fire exit", "no smoking", "smoke-free") need a cue of now.
_FIRE_NOW = re.compile(
    r"\b(c'?e (un |del |molto )?(incendio|fuoco|fumo|odore|puzza|fiamme|allarme|fuga|perdita)|"
    r"there'?s|there is|i see|i can see|we see|i smell|we smell|smells? of|coming|everywhere|full of|"
    r"si sente|sento|sentiamo|vedo|vediamo|esce|uscendo|dappertutto|pieno di|piena di|is going off|went off|"
    r"goes off|ringing|suona|sta suonando|scattato|e scattato|sta bruciando|is burning|burning|brucia|"
    r"va a fuoco|on fire|a fuoco|incendio|fiamme|flames|gas leak|fuga di gas|perdita di gas|evacua\w*|"
    r"esplosion\w*|explosion|fire (in|at|on|near|inside)|(incendio|fuoco|fumo|fiamme) (in|nel|nella|nell|al|alla|"
    r"vicino|dentro)|smoke (in|at|from|inside))\b|\!"
)
_FIRE_INFO = re.compile(
    r"\b(fire exits?|uscit[ae] di sicurezza|uscit[ae] antincendio|smoking|no smoking|smoke[- ]?free|fumare|"
    r"fumatori|fumatore|vietato fumare|si puo fumare|e-?cig\w*|sigarett\w*|vape|vaping|fireworks?|"
    r"fuochi d'?artificio|fire ?pit|falo|bonfire|campfire|barbecue|bbq|fire brigade approved|(can|may|could) (i|we|you|one|people) smoke|allowed to smoke|"
    r"smoking area|posso fumare|possiamo fumare|accendere (un |il )?fuoco|(light|make|start) a fire|messa a fuoco|"
    r"mettere a fuoco|fuoco d'?artificio)\b"
)
_STUCK = (
    r"(stuck|trapped|locked|shut|chius[oaie]|bloccat[oaie]|intrappolat[oaie]|rimast[oaie] (chius[oaie]|bloccat[oaie]|dentro))"
    r"( \w+){0,4} (in|inside|dentro|nel|nella|nell|nei|nelle|in the|into)\b"
    r"|(can'?t|cannot|can not|unable to|non (riesco|riusciamo|riesce|riescono) a) (get|uscire|aprire|open|scendere)\b"
    r"|(ascensore|lift|elevator)( \w+){0,3} (bloccat\w*|fermo|ferma|stuck|broken down|stopped)"
    r"|(stuck|bloccat\w*|chius[oaie] dentro|locked in|trapped|wedged|jammed|incastrat[oaie])\b"
)
_STUCK_INFO = re.compile(
    r"\b(what (if|happens)|cosa succede se|se (si|mi|ci) (blocca|rimane|resta)|in caso di|in case)\b"
)
_CRIME = (
    r"rubat[oaie]|rubano|rubando|stolen|stealing|steal|furto|theft|thief|ladro|ladri|robbed|robbing|robbery|"
    r"rapina|derubat\w*|pickpocket\w*|borseggi\w*|scippat\w*|scippo|aggredit[oaie]|aggression\w*|aggressione|"
    r"aggredendo|(uomo|donna|signore|signora|ragazz[oi]|tizio|tipo|visitatore|man|woman|guy|person|visitor|someone|"
    r"qualcuno|he|she)( \w+){0,5} (aggressiv[oaie]|aggressive(ly)?)|(urla|grida|sta urlando|sta gridando) contro|"
    r"(shouting|screaming|yelling) at (people|visitors|us|me|the|children|kids|staff)|assault\w*|attacked|attacking|attack|picchiat[oaie]|picchia|picchiando|beating|punched|"
    r"hitting|rissa|fight|fighting|violen\w*|molest\w*|harass\w*|molestat[oaie]|molestie|minacci\w*|threaten\w*|"
    r"(has|with|holding|carrying|got|pulled) an? (weapon|gun|knife)|arma|armato|armata|coltello|knife|pistola|gun|shoving|following me|mi segue|ci segue|stalker|"
    r"stole|steals|snatched|(took|grabbed|nicked|swiped) my (bag|handbag|wallet|phone|mobile|purse|backpack|camera)|"
    r"ran (off|away) with my|(mi|ci|le|gli) ha(nno)? (appena )?(strappato|sfilato|portato via)|sfilat[oaie] (dalla|dalle|dal|di) (tasca|tasche|borsa|zaino)|exposing himself|si e spogliato|kidnap\w*|"
    r"rapit[oaie]|rapimento|abus\w*|"
    # a fight now: "stanno facendo a botte", "si picchiano", "two men are punching each other", "a brawl"
    r"(fa\w*|fatto) a botte|si (stanno )?picchi\w*|(a|prendendo a|presi a) (pugni|calci)|punching|brawl\w*|"
    # a car broken into now ("someone just broke into our car, window smashed")
    r"broke into (my|our|the|a) (car|van|camper|motorhome|caravan)|"
    r"window smashed|finestrino( \w+){0,4} (spaccato|rotto|sfondato)|"
    r"(smashed|spaccato|rotto|sfondato) (il |the |our |my )?(car )?(finestrino|window)|"
    r"(scassinat\w*|forzat[oaie]) (la |l'|l )?(auto|macchina|camper)"
)
# An animal out of its enclosure now ("there's a snake loose in the reptile house!", "è scappata una scimmia").
_ANIMAL = (
    r"animal[ei]?|animals|snake|serpent[ei]|serpente|lion|leone|tiger|tigre|wolf|wolves|lup[oi]|bear|ors[oi]|monkey|"
    r"scimmi[ae]|ape|gorilla|bull|tor[oi]|bison|bisonte|cinghiale|boar|cobra|python|pitone|crocodile|coccodrillo|"
    r"alligator|leopard|leopardo|cheetah|ghepardo|jaguar|giaguaro|puma|lynx|lince|elephant|elefante|rhino|rinoceronte|"
    r"hippo|ippopotamo|ostrich|struzzo|camel|cammello|zebra|giraffe|giraffa|kangaroo|canguro|lemur[ei]?|lemurs|"
    r"baboon|babbuin[oi]|chimp(anzee)?|scimpanze|orangutan|orango|panda|meerkat|suricat[oi]|hyena|iena|"
    r"penguin|pinguin[oi]|seal|foca|otter|lontra|goat|capr[ae]|deer|cervo|horse|cavall[oi]|pony|donkey|asin[oi]|"
    r"cow|mucca|pig|maial[ei]|sheep|pecor[ae]|buffalo|bufal[oi]|fox|volpe|eagle|aquila|owl|gufo|falcon|falco|"
    r"vulture|avvoltoio|parrot|pappagall[oi]|spider|ragno|scorpion|scorpione|lizard|lucertola|iguana|raccoon|procione"
)
_ANIMAL_LOOSE = re.compile(
    rf"\b({_ANIMAL})\b( \w+){{0,4}} (is |are |e |sono |has |have )?(loose|on the loose|escaped|got out|out of (its|the) "
    r"(enclosure|cage|pen|fence)|outside (its|the|their) (enclosure|cage|pen|fence)|over the fence|scappat[oaie]|"
    r"fuggit[oaie]|usc\w* dal (recinto|gabbia)|fuori (dal|dalla) (recinto|gabbia))\b|"
    rf"\b(loose|escaped|scappat[oaie]|fuggit[oaie])( \w+){{0,2}} (un |una |il |la |lo |a |an |the )?({_ANIMAL})\b"
)
# An animal threatening people now: a dog growling at children ("un cane senza guinzaglio che ringhia ai bambini"), a
# snake on the path with children right there ("there's a snake on the path ... my kids are right there").
_ANIMAL_THREAT = re.compile(
    r"\b(cane|cani|dog|dogs)\b( \w+){0,6} (ringhi\w*|growl\w*|snarl\w*|sta attaccando|is attacking|attacca)"
    r"( \w+)? (ai|a|alle|contro|at|on) (\w+ )?(bambin[oiae]|figli|children|kids|people|persone|gente|visitatori|"
    r"visitors|us|me|noi|my|mio|mia|miei|our)\b|"
    r"\b(there'?s|there is|c'?e) (a|an|un|una) (\w+ )?(snake|serpente|vipera|viper)\b(\W+\w+){0,8}\W+"
    r"(right there|won'?t move|not moving|non si muove|near (my|the|our) (kids|children|son|daughter)|"
    r"vicino ai (bambini|miei figli)|accanto ai (bambini|miei figli))"
)
# An animal's bite told now ("a snake bit my husband", "è stato morsicato da un cane"); "a bit" and "un morso" (a
# mouthful) are not, nor a question about whether an animal bites. A sting alone is the first-aid answer's (a sting
# with a swelling face is an allergic reaction, above).
_BITE = re.compile(
    r"\b((just |has |have )?bit (me|my|him|her|us|our|a|the|his)|(was|been|got|get|gets|is|has been|have been) bitten|"
    r"bitten by|(mi|ci|l'|lo|la|gli|le|ti) ha(nno)? (morso|morsicat\w*)|ha morso (mi[oa]|su[oa]|l[ao]|un|una|il|lo)|"
    r"(e|sono) stat[oaie] (morsicat\w*|mors[oaie])|morsicat[oaie] da|snake ?bite|morso di (vipera|serpente))\b"
)
# "The emergency number", "in case of an emergency", "the assembly point": the venue's safety answer, asked (not
# "there is a medical emergency, who do I call?").
_EMERGENCY_INFO = re.compile(
    r"\b((per|in caso di|in) (le |un'?|una )?emergenz[ae]|in (an|case of( an)?) emergenc(y|ies)|"
    r"emergency (number|line|phone|exits?|plan|procedures?|contacts?|assembly)|numer[oi] (di|per le|d') ?emergenz[ae]|"
    r"(linea|uscit[ae]|piano|telefono) di emergenza|punt[oi] di raccolta|assembly points?)\b"
)
_EMERGENCY_WORD = re.compile(r"emergenz[ae]|emergency|emergencies")
_EVER = re.compile(r"\b(ever|mai|in the past|in passato|before|prima d'?ora|history|storia|happened|successo)\b")
_CRIME_INFO = re.compile(
    r"\b(no weapons|armi ammesse|weapons allowed|knives allowed|coltelli ammessi|attack on titan|"
    r"security check|controlli di sicurezza|metal detector|"
    # whether the venue answers for a theft ("siete responsabili in caso di furto?", "are you liable if it's stolen?")
    r"(in caso di|in case of) (furto|theft|rapina|robbery)|(siete|sarete|e|are you|is the \w+) (responsabil\w*|liable)|"
    r"liability|specie minacciat\w*|endangered|ai controlli|at (the )?security|"
    # asking whether one may bring a knife in ("posso portare un coltellino svizzero nella borsa?")
    r"(bring|carry|portare) (in |into |dentro )?(a |an |my |un |il |il mio |mio )?(small |pocket |piccolo )?"
    r"(coltell\w*|knife|knives|pocketknife|penknife))\b"
)
_LOST = (
    r"non trovo( piu)?|non troviamo( piu)?|non riesco a trovare|non riusciamo a trovare|ho perso|abbiamo perso|"
    r"non (lo|la|li|le) (trovo|troviamo|vedo|vediamo)( piu)?|"
    r"si e pers[oa]|si sono persi|perso|persa|smarrit[oa]|scompars[oa]|sparit[oa]|missing|lost|"
    r"can'?t find|cannot find|can not find|couldn'?t find|wandered off|ran off|disappeared|is gone|"
    r"si e allontanat[oa]|allontanat[oa]"
)
_PERSON = (
    r"mio figlio|mia figlia|figli[oa]|figlioletto|bambin[oa]|bimb[oa]|piccol[oa]|nipote|nipotino|nipotina|"
    r"mio marito|mia moglie|mia madre|mio padre|mia mamma|mio papa|mia nonna|mio nonno|mio fratello|"
    r"mia sorella|mia amica|mio amico|il mio compagno|la mia compagna|"
    r"my ((elderly|old|little|young|older|younger|baby|small|autistic|disabled|deaf|blind) )?"
    r"(son|daughter|child|kid|boy|girl|husband|wife|mother|father|mum|mom|dad|grandmother|grandfather|"
    r"grandma|grandpa|granny|grandad|granddad|grandmother|brother|sister|friend|partner|toddler|baby|little one|grandson|granddaughter|"
    r"nephew|niece|children|kids|students?|pupils?)|our (son|daughter|child|kid|boy|girl|baby|children|kids)|"
    r"(la|il|mia|mio|nostra|nostro) (nonna|nonno|mamma|papa|madre|padre|zia|zio|figlia|figlio|bambina|bambino|"
    r"moglie|marito)|a child|a kid|a (little|small) (boy|girl)|little (boy|girl)|"
    r"toddler|un alunno|un'alunna|uno studente|una studentessa|alunni|students?|"
    # named by age: "my 6 year old", "our 3-year-old"
    r"(my|our) \d+ ?-?(year|yr)s? ?-?old"
)
_HYPOTHETICAL = re.compile(
    r"\b(what (if|happens|should (i|we|one|people) do if|do (i|we) do if|to do if)|"
    r"if (a|an|my|your|the|one|someone|somebody|children|kids)\b|"
    r"cosa (succede|si fa|faccio|devo fare|fare) (se|in caso)|come funziona se|in caso (di|un|una)|"
    r"se (un|una|uno|il|la|mio|mia|i|le|qualcuno|si)\b|nel caso (in cui|che)|procedur\w*|policy|wristbands?|braccialett\w*|"
    r"where do (lost|missing)|dove (si ritrovano|vanno|portate))\b"
)
# An evacuation or an alarm asked about ("in case of an evacuation where do we go?", "se suona l'allarme, dove ci si
# raduna?"): the venue's safety answer, like a question with "if".
_DRILL = re.compile(
    r"\b((in case of|in the event of|during) (an? |the )?(evacuation|fire alarm|alarm)|"
    r"(durante|in caso di) (un'?|una |l'?)?(evacuazione|allarme)|se (suona|scatta) (l'?|un )?allarme)"
)
# Something that happened before today (an insurance claim, a report) is not an emergency now.
_PAST = re.compile(
    r"\b(ieri|l'altro ieri|settimana scorsa|mese scorso|anno scorso|giorni fa|settimane fa|mesi fa|"
    r"la scorsa (settimana|visita|volta)|lo scorso|yesterday|last (week|month|year|time|visit|sunday|saturday)|"
    r"days ago|weeks ago|months ago|assicurazion\w*|insurance|claim|rimborso|refund|risarciment\w*|"
    r"compensation|denuncia|police report|report it|to report|per la denuncia|certificat\w*|money back|"
    r"(family|personal) emergenc(y|ies)|emergenza (familiare|personale)|"
    # a booking moved because someone is ill ("my son is sick, can I move our visit to another day?")
    r"(move|change|reschedule|spostare|cambiare) (our|my|the|la|il|l')? ?(visit|booking|tickets?|visita|prenotazione|"
    r"biglietti|data|orario))\b|"
    # "when did it happen?" asks about an event that is over ("quando è caduto l'impero romano?")
    r"^\W*(quando (e|sono|fu|furono)|when (did|was|were))\b"
)
# Things (a teddy bear, a child's coat) are lost property, not a lost person.
_THING_OF_PERSON = re.compile(
    r"\b(perso|persa) (la vista|l'udito)|lost (his|her|my|their) (sight|hearing)|"
    r"\b(kid|child|son|daughter|children|kids|boy|girl)'?s \w+|"
    r"(di mio figlio|di mia figlia|del bambino|della bambina|dei bambini|di mio marito|di mia moglie)\b"
)
_START = re.compile(
    r"^\W*(aiuto|help|soccorso|sos|emergency|emergenza)\s*(!|$|[,.:]|\s+(un |una |c'?e |someone|somebody|qualcuno|there|please|per favore|presto|quick|mi|my|il|la|we|i|ci|kid|child|man|woman|boy|girl|"
    r"uomo|donna|signora|signore|bambin[oa]|ragazz[oa]))"
    r"|[,.!;:]\s*(aiuto|help|sos)( me| us| please| per favore)?\W*$"
)

_ILLNESS_RE = re.compile(rf"\b({_ILLNESS}){_W}")
_FIRE_RE = re.compile(rf"\b({_FIRE}){_W}")
_STUCK_RE = re.compile(rf"\b({_STUCK})")
_CRIME_RE = re.compile(rf"\b({_CRIME}){_W}")
_LOST_RE = re.compile(rf"\b({_LOST}){_W}")
_PERSON_RE = re.compile(rf"\b({_PERSON}){_W}")
# Illness words that mean something else when asked about in general ("is the garden a good place to
# have a picnic if my child has allergies", "do you have first aid"): a question that only mentions them
# without a cue of "now" is left to the KB.
_ASKS = re.compile(
    r"^\W*(where|dove|dov'?e|is there|are there|do you|does|c'?e|ci sono|avete|what|which|quale|quali|how|come)\b"
)
# Words that, in a question with no other sign of trouble, ask about provisions ("is there an ambulance on site during
# the shows?", "dov'è il primo soccorso?") or mean something else ("does it fit?").
_ILLNESS_INFO = re.compile(
    r"\b(fit|faint|attack|hypo|collapse|in shock|sotto shock|alarm|allarme|ambulances?|ambulanz[ae]|first aid|"
    r"primo soccorso|pronto soccorso|defibrillat\w*)\b"
)

# The generic vocabulary typos are corrected to: every literal word of five letters or more in the patterns.
_VOCAB_SOURCES = (_ILLNESS, _FIRE, _STUCK, _CRIME, _LOST, _PERSON)
_SAFE = frozenset(
    """
    ferie fiore fiori fires hired hiring fumare smoking steak stealing stolen steel stole
    filme filmare filmato sentito sentita sentire parco parcheggio parking bloccare bloccato
    chiuso chiusa chiusi chiuse chiude chiudono closed close closes locker lockers locked
    missing listing losing lostfound allergy allergie allergies allergico allergica allergic
    ladder leader flame frame flames frames alarms alarm allarme cadute figure figura figurine
    piccolo piccola piccoli piccole small little nipote nipoti rapida rapido rapide rapidi
    urbano urbana urbani urbane suburbano suburbana accredito accrediti accreditato accreditata theres
    flight flights weapons showing
    spendendo spendere insured insure breeding attaching attached strike strikes striking
    """.split()
)


def _literal_words(pattern: str) -> set[str]:
    """The words a pattern spells out: a character class becomes its first letter ("ferit[oaie]" -> "ferito"),
    a fragment followed by \\w* is left out (a typo is corrected to a whole word only)."""
    plain = re.sub(r"\[([^\]])[^\]]*\]", r"\1", pattern)
    plain = re.sub(r"[a-z]+\\w\*|\\w|\\b|\(\?[!:=][^)]*\)|[?*+{}\d,]", " ", plain)
    return {w for w in re.split(r"[^a-z]+", plain) if len(w) >= 5}


VOCABULARY = frozenset(set().union(*(_literal_words(p) for p in _VOCAB_SOURCES)))
_ANY_WORD = re.compile("|".join(f"(?:{p})" for p in _VOCAB_SOURCES))


def _within(a: str, b: str, limit: int) -> bool:
    """Damerau-Levenshtein distance <= limit (transpositions count 1)."""
    if abs(len(a) - len(b)) > limit:
        return False
    prev2: list[int] | None = None
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if prev2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return False
        prev2, prev = prev, cur
    return prev[-1] <= limit


@lru_cache(maxsize=8192)
def _correct(word: str) -> str:
    if len(word) < 5 or word in VOCABULARY or word in _SAFE or not word.isalpha() or _ANY_WORD.fullmatch(word):
        return word
    limit = 2 if len(word) >= 9 else 1
    best = None
    for v in VOCABULARY:
        if v[0] != word[0] and v[:2] != word[1::-1]:
            continue  # typos rarely touch the first letter; this also keeps it fast
        if len(word) == 5 and len(v) <= 5:
            continue  # a five-letter word is corrected only for a missing letter ("store" is not "stole")
        if _within(word, v, limit):
            if best is None or abs(len(v) - len(word)) < abs(len(best) - len(word)):
                best = v
    return best or word


def corrected(text: str, known: frozenset[str] | set[str] = frozenset()) -> str:
    """Folded text with each long word replaced by the emergency-vocabulary word it is a typo of; a word in
    `known` (the KB's own vocabulary: a real word of the venue, "rapida" is not "rapita") is kept."""
    t = fold(text)
    return re.sub(r"[a-z]+", lambda m: m.group(0) if m.group(0) in known else _correct(m.group(0)), t)


@dataclass(frozen=True)
class Emergency:
    kind: str  # illness, fire, stuck, crime, animal, lost_person, help


def detect(text: str, known: frozenset[str] | set[str] = frozenset()) -> Emergency | None:
    """The emergency this message reports, or None. `known`: words never corrected (see `corrected`)."""
    raw = fold(text or "").strip()
    if not raw:
        return None
    t = corrected(raw, known)
    t = re.sub(r"\s+", " ", t.replace("’", "'"))
    past = bool(_PAST.search(t))
    hypothetical = bool(_HYPOTHETICAL.search(t) or _DRILL.search(t))
    unthinged = _THING_OF_PERSON.sub(" ", t)
    if _LOST_RE.search(unthinged) and _PERSON_RE.search(unthinged):
        if not hypothetical and not past:
            return Emergency("lost_person")
    if _STUCK_RE.search(t) and not _STUCK_INFO.search(t) and not past and _stuck_person(t):
        return Emergency("stuck")
    if _FIRE_RE.search(t) and _FIRE_NOW.search(t) and not _FIRE_INFO.search(t) and not past:
        if not hypothetical or _START.search(t):
            return Emergency("fire")
    if _CRIME_RE.search(t) and not _CRIME_INFO.search(t) and not past:
        return Emergency("crime")
    if (_ANIMAL_LOOSE.search(t) or _ANIMAL_THREAT.search(t)) and not hypothetical and not past and not _EVER.search(t):
        return Emergency("animal")
    if _BITE.search(t) and not hypothetical and not past and not _EVER.search(t):
        return Emergency("illness")
    found = [m.group(1) for m in _ILLNESS_RE.finditer(t)]
    if found and not past and not (hypothetical and not _START.search(t)):
        asked = "?" in t or _ASKS.match(t)
        trouble = [w for w in found if not _ILLNESS_INFO.fullmatch(w)]
        if all(_EMERGENCY_WORD.fullmatch(w) for w in trouble) and _EMERGENCY_INFO.search(t):
            trouble = []  # "the emergency number", "in case of an emergency": asked about
        if trouble or not asked or _START.search(t):
            return Emergency("illness")
    if _START.search(t) and not past:
        return Emergency("help")
    return None


_STUCK_WHERE = re.compile(
    r"\b(railings?|ringhier\w*|sbarre|cancellata|fence|recinzione|(head|hand|arm|leg|foot|finger)( \w+){0,1} stuck|"
    r"(testa|mano|braccio|gamba|piede|dito) (\w+ )?bloccat\w*|wedged|jammed|incastrat\w*|lift|elevator|ascensore|ascensori|toilet|toilets|bathroom|restroom|loo|wc|bagno|bagni|gabinetto|"
    r"room|sala|stanza|locale|cage|gabbia|recinto|enclosure|tunnel|cella|cell|cupola|dome|tower|torre|"
    r"glasshouse|serra|greenhouse|cellar|cantina|basement|sotterraneo|closet|armadio|storeroom|magazzino|"
    r"wall|walls|muro|mura|tree|albero|ledge|cornicione|roof|tetto|up there|lassu|can'?t get down|non riesce a scendere|"
    r"inside|dentro|locked in|chius[oaie] dentro|trapped|intrappolat\w*|can'?t get out|cannot get out|"
    r"non (riesco|riusciamo|riesce|riescono) a uscire)\b"
)
_STUCK_NOT = re.compile(
    r"\b(stuck (in|on) (traffic|the queue|coda)|traffico|traffic|bloccat\w* (in coda|nel traffico)|"
    r"(closed|chius[oaie]) (on|il|la|di|the|for|per|a|in (august|agosto|winter|inverno))|"
    r"locked (the|my|our) (bike|bicycle|car|locker)|(bike|bicycle|bici|car|auto|macchina|armadietto|locker)\b)"
)


def _stuck_person(t: str) -> bool:
    """Someone is physically stuck somewhere now (not a closed day, traffic or a locker question)."""
    if _STUCK_NOT.search(t) and not re.search(r"\b(lift|elevator|ascensore|trapped|intrappolat\w*)\b", t):
        return False
    person = re.search(
        r"\b(i'?m|i am|we'?re|we are|sono|siamo|e|is|are|my|mio|mia|someone|somebody|qualcuno|"
        r"un bambino|una bambina|a child|a man|a woman|un signore|una signora|people|persone|gente|mi|ci)\b|"
        # someone named: "little girl stuck in the toilet cubicle"
        rf"\b({_PERSON}|(little |small |young |old |elderly )?(girl|boy|kid|lady|man|woman|child))\b|"
        # the writer, unsaid: "stuck in the lift on 2nd floor", "bloccata in ascensore"
        r"^\W*(stuck|trapped|bloccat[oaie]|intrappolat[oaie]|chius[oaie] dentro)\b",
        t,
    )
    return bool(person and _STUCK_WHERE.search(t))


def _key(name: str) -> str:
    return re.sub(r"[\s-]+", "_", fold(name).strip())


# A question asked calmly about the venue's safety entry (its emergency, first-aid or lost-child entry): "what happens
# if a child gets separated from the group?", "where's the infirmary?", "in case of an evacuation can we use the
# lifts?". Such a question is answered from that entry when it ranks first, even below the threshold
# (`asks_about_safety`, `Retrieval.decide`): a visitor asking about safety gets the venue's safety answer, not a queue.
_SEPARATED = re.compile(
    r"\b(separat\w*|wander\w*|allontan\w*|wristbands?|bracciale\w*|braccialett\w*|si perd\w*|si smarris\w*|"
    r"smarrit\w*|lose (us|them|each other|sight)|gets? lost|got lost|perders[ie]|perdiamo di vista|pers[oi] di vista|"
    r"perdessimo)\b"
)
_CHILD = re.compile(r"\b(kids?|children|child|bambin\w*|bimb\w*|figli\w*|sons?|daughters?|toddlers?)\b")
_SAFETY_TOPIC = re.compile(
    r"\b(emergenz\w*|emergenc\w*|evacua\w*|alarm|allarme|first aid|primo soccorso|pronto soccorso|infermeri\w*|"
    r"infirmary|nurse|infermier\w*|defib\w*|dae|plasters?|cerott\w*|injur\w*|ferit\w*|si faccia male|gets? hurt|"
    r"fa male|malore|sta male|sente male|sentisse male|feel\w* (ill|unwell|sick)|ambulanc\w*|ambulanz\w*|medic\w*|"
    r"doctor|fire|incendi\w*|escape\w*|gets? out|got out|scappa\w*|heart|cardio\w*|puntur\w*|sting\w*|wasp|vesp\w*)\b"
)


def asks_about_safety(text: str, intent: str, setting: str | None = None) -> bool:
    """True when `text` asks about what the KB entry `intent` covers, when it is a safety entry (named as
    `instructions` finds them): a person lost or separated for a lost-person entry (LOST_PERSON_INTENTS), an
    emergency, first aid or an evacuation for an emergency or first-aid one (EMERGENCY_INTENTS, or `setting`: the
    EMERGENCY_INTENT setting)."""
    t = fold(text or "")
    key = _key(intent)
    if key in LOST_PERSON_INTENTS:
        return bool((_SEPARATED.search(t) or _LOST_RE.search(t)) and (_PERSON_RE.search(t) or _CHILD.search(t)))
    if key in EMERGENCY_INTENTS or (setting and key == _key(setting)):
        return bool(_SAFETY_TOPIC.search(t))
    return False


def instructions(entries, lang: str, kind: str | None = None, intent: str | None = None, fallback: str | None = None):
    """(entry or None, text) to answer an emergency with: the KB's emergency entry (the `intent` setting first,
    then the known names), for a lost person its lost-child entry when there is one; else `fallback`
    (the EMERGENCY_TEXT setting), else the default text in `lang`."""
    by_key: dict[str, list] = {}
    for e in entries:
        by_key.setdefault(_key(e.intent), []).append(e)
    names: list[str] = []
    if kind == "lost_person":
        names.extend(LOST_PERSON_INTENTS)
    if intent:
        names.insert(0 if kind != "lost_person" else len(names), _key(intent))
    names.extend(EMERGENCY_INTENTS)
    for name in names:
        group = by_key.get(name)
        if group:
            entry = next((e for e in group if e.lang == lang), group[0])
            return entry, entry.answer
    if fallback:
        return None, fallback
    return None, DEFAULT_TEXT.get(lang, DEFAULT_TEXT["en"])
