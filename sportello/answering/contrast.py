"""Closed word classes a visitor names one member of: a language, a diet, a way to pay.

When the chosen answer names other members of the class but not the one asked ("tours in Spanish?" of an answer
that says "in Italian and English"; "vegan?" of one that says "gluten-free"), the answer does not cover the
question: the reply says what is known and plainly what is not, and offers a person (`Retrieval.decide`, a
hedged reply). Generic vocabulary only, Italian and English, matched on folded text (lowercase, no accents).
"""

from __future__ import annotations

import re

from .retrieval_text import fold

# class -> member -> pattern (on folded text; word boundaries are added)
CLASSES: dict[str, dict[str, str]] = {
    "language": {
        "italian": r"italian[oaie]?",
        "english": r"ingles[ei]|english",
        "french": r"frances[ei]|french",
        "german": r"tedesc(o|a|hi|he)|german",
        "spanish": r"spagnol[oaie]|spanish",
        "portuguese": r"portoghes[ei]|portuguese",
        "russian": r"russ[oaie]|russian",
        "chinese": r"cines[ei]|chinese|mandarin[oa]?",
        "japanese": r"giappones[ei]|japanese",
        "arabic": r"arab[oaie]|arabic",
        "dutch": r"olandes[ei]|dutch",
        "polish": r"polacc(o|a|hi|he)",
        "sign": r"lis|lingua (italiana )?dei segni|sign language",  # not "ASL": in Italy, the health service
    },
    "diet": {
        "vegan": r"vegan[oaie]?|vegan",
        "vegetarian": r"vegetarian[oaie]?",
        "gluten_free": r"senza glutine|gluten[- ]?free|celiac[oaihe]\w*|coeliac\w*|celiach\w*",
        "lactose_free": r"senza lattosio|lactose[- ]?free|dairy[- ]?free|intolleran\w* al lattosio",
        "halal": r"halal",
        "kosher": r"kosher",
    },
    "payment": {
        "cash": r"contanti|cash",
        # "card" alone is also a venue's pass ("the Valbruna Card"): the singular counts only as a way to pay
        "card": r"cart[ae] di (credito|debito)|credit cards?|debit cards?|bancomat|carte|cards|"
        r"(by|with a|with) card|card payments?|(con|tramite) (la )?carta",
        # a phone's wallet is a contactless payment ("contactless payments by phone" covers Apple Pay)
        "contactless": r"contactless|apple ?pay|google ?pay|samsung ?pay|nfc",
        "paypal": r"paypal",
        "satispay": r"satispay",
        "amex": r"amex|american express",
        "transfer": r"bonifico|bank transfer|wire transfer",
    },
}
_MEMBERS = [(cls, member) for cls, ms in CLASSES.items() for member in ms]
# One pass over a text for every member: group g<i> is _MEMBERS[i] (a KB is scanned entry by entry at load).
_ANY_MEMBER = re.compile("|".join(rf"\b(?P<g{i}>{CLASSES[cls][member]})\b" for i, (cls, member) in enumerate(_MEMBERS)))


# A language asked as the language of a service ("in English", "English-speaking", "tradotti in tedesco"): when the
# chosen answer names no language at all, it does not say (the tactile tour's answer, asked whether it is in English).
# Italian, the venue's own language, is taken for granted.
_FOREIGN = "|".join(p for m, p in CLASSES["language"].items() if m != "italian")
_ASKED_IN = re.compile(
    r"\b(in|into|parla\w*|speak\w*|spoken|tradott\w*|translated|dubbed|doppiat\w*)( \w+)? "
    rf"(?P<after>{_FOREIGN})\b|\b(?P<before>{_FOREIGN})[- ]speaking\b"
)


# An answer that speaks of languages without naming them all ("the audio guide is in 8 languages", "multilingual")
# may cover the one asked: the class is left alone (`ANY`).
ANY = "*"
_SOME_LANGUAGES = re.compile(
    r"\b(\d+|several|many|various|diverse|varie|molte|numerose) (languages|lingue)\b|"
    r"\b(multilingual|multilingue|all (major|main) languages|principali lingue)\b"
)


# An answer that says its members are the only ones ("only in Italian and English", "guides in other languages are
# not available", "cash only") answers a question about another member: no, so it is covered, not hedged (`ONLY`).
ONLY = "!"
_ONLY_WORDS = r"only|solo|soltanto|esclusivamente|unicamente"
# the words that may stand between "only" and the member ("only in Italian", "solo con carta", "only by card")
_ONLY_GAP = r"in|by|with|con|tramite|a|the|il|la|le|lingua|language|paying|pay|pagamento"
_ONLY = {
    cls: re.compile(
        rf"\b({_ONLY_WORDS})( ({_ONLY_GAP})){{0,2}} ({alts})\b|\b({alts}) only\b"
        + (r"|\b(other|altre) (languages|lingue)\b" if cls == "language" else "")
    )
    for cls, ms in CLASSES.items()
    for alts in ["|".join(f"(?:{p})" for p in ms.values())]
}


# A way to pay that not every till takes (PayPal, Satispay, Amex, a bank transfer, a phone's wallet), asked of an
# answer that names no way to pay at all ("can I pay for the online ticket with PayPal?" of the online tickets'
# answer): it does not say. Cash and cards are left out: nearly everywhere takes them, and a visitor asking "can I pay
# by card?" of the prices' answer is better answered than hedged.
_RARE_PAYMENT = "|".join(f"(?:{p})" for m, p in CLASSES["payment"].items() if m not in ("cash", "card"))
_NONE_NAMED = {"payment": re.compile(rf"\b(?P<what>{_RARE_PAYMENT})\b")}


def named(text: str) -> dict[str, dict[str, str]]:
    """The members `text` names, by class: {class: {member: the words as written (folded)}}; a text that speaks of
    languages it does not list has the member ANY, one that says its members are the only ones the member ONLY."""
    t = fold(text)
    out: dict[str, dict[str, str]] = {}
    for m in _ANY_MEMBER.finditer(t):
        cls, member = _MEMBERS[int(m.lastgroup[1:])]
        out.setdefault(cls, {}).setdefault(member, m.group(0))
    m = _SOME_LANGUAGES.search(t)
    if m:
        out.setdefault("language", {})[ANY] = m.group(0)
    for cls in list(out):
        m = _ONLY[cls].search(t)
        if m:
            out[cls][ONLY] = m.group(0)
    return out


def uncovered(question: str, covered: dict[str, set[str]]) -> list[str]:
    """The question's words (as written, folded) for members of a class that the answer's text (`covered`: its
    members by class) names others of, but not these, or for a language (`_ASKED_IN`) or an uncommon way to pay
    (`_NONE_NAMED`) asked of an answer that names none: what the answer does not cover."""
    out = []
    for cls, members in named(question).items():
        own = covered.get(cls)
        if own and (ANY in own or ONLY in own):
            continue
        if own:
            out += [words for member, words in members.items() if member not in own and member not in (ANY, ONLY)]
        elif cls == "language" and set(members) != {ANY} and (m := _ASKED_IN.search(fold(question))):
            out.append(m.group("after") or m.group("before"))
        elif cls in _NONE_NAMED and (m := _NONE_NAMED[cls].search(fold(question))):
            out.append(m.group("what"))
    return out
