"""Issue 25, honest at the edge: a question that names a language, a diet or a way to pay that the chosen answer
does not name, though it names others of the kind, gets that answer with a plain "no information about X" and a
person offered (hedged), on any venue's KB, whatever HEDGE_UNKNOWN_WORDS says. Places left on a given day are
for the booking system or a person."""

from __future__ import annotations

from pathlib import Path

from sportello.answering import contrast
from sportello.answering.kb import KBEntry
from sportello.answering.retrieval import RetrievalAnswerer
from sportello.answering.retrieval_rules import PERSONAL_CASE, escalation_reason

VENUE = [
    KBEntry(
        "it-1",
        "visite",
        "it",
        ("Fate visite guidate?",),
        "Le visite guidate sono in italiano e in inglese, alle 11 e alle 15.",
    ),
    KBEntry(
        "en-1",
        "visite",
        "en",
        ("Do you offer guided tours?",),
        "Guided tours are in Italian and English, at 11 and 3 pm.",
    ),
    KBEntry("it-2", "bar", "it", ("C'è un bar?",), "Il bar ha piatti vegetariani e senza glutine."),
    KBEntry("en-2", "bar", "en", ("Is there a café?",), "The café has vegetarian and gluten-free dishes."),
    KBEntry(
        "it-3",
        "pagamenti",
        "it",
        ("Come posso pagare?",),
        "Accettiamo contanti, carte di credito e pagamenti contactless.",
    ),
    KBEntry("en-3", "pagamenti", "en", ("How can I pay?",), "We take cash, credit cards and contactless payments."),
    KBEntry("it-4", "laboratorio", "it", ("C'è un laboratorio per bambini?",), "Il laboratorio è il sabato alle 10."),
    KBEntry("en-4", "laboratorio", "en", ("Is there a children's workshop?",), "The workshop is on Saturdays at 10."),
]
DEMO = Path(__file__).resolve().parents[2] / "data" / "faq.csv"


def test_the_members_a_text_names_by_class():
    assert contrast.named("Visite in Italiano e in INGLESE") == {
        "language": {"italian": "italiano", "english": "inglese"}
    }
    assert contrast.named("vegan options? and can I pay with Apple Pay?") == {
        "diet": {"vegan": "vegan"},
        "payment": {"contactless": "apple pay"},
    }
    assert contrast.named("una guida in lingua dei segni (LIS)")["language"] == {"sign": "lingua dei segni"}
    assert contrast.named("the garden is in Germany") == {}  # a country is not its language
    covered = {"language": {"italian", "english"}}
    assert contrast.uncovered("tours in Spanish?", covered) == ["spanish"]
    assert contrast.uncovered("tours in English?", covered) == []
    assert contrast.uncovered("vegan menu?", {}) == []  # the answer names no diet: not this rule's to say
    assert contrast.uncovered("Can the tactile tour be done in English?", {}) == ["english"]  # nor any language
    assert contrast.uncovered("una guida che parla tedesco?", {}) == ["tedesco"]
    assert contrast.uncovered("Italian food at the café?", {}) == []


def test_an_answer_that_names_other_members_of_the_kind_is_hedged():
    bot = RetrievalAnswerer(VENUE)
    for question, lang, intent, word in (
        ("are there guided tours in Spanish?", "en", "visite", "spanish"),
        ("fate visite guidate in francese?", "it", "visite", "francese"),
        ("does the café have vegan dishes?", "en", "bar", "vegan"),
        ("il bar ha piatti senza lattosio?", "it", "bar", "senza lattosio"),
        ("posso pagare con satispay?", "it", "pagamenti", "satispay"),
        # a language asked of an answer that names none: it does not say
        ("il laboratorio per bambini si fa anche in inglese?", "it", "laboratorio", "inglese"),
        ("is the children's workshop English-speaking?", "en", "laboratorio", "english"),
    ):
        ans = bot.answer(question, lang)
        assert ans.hedged and not ans.found and ans.escalates, question
        assert ans.intent == intent and ans.suggestions == [intent], question
        assert ans.answer.startswith(bot.index.entry_for(intent, lang).answer) and word in ans.answer, question
    for question, lang, intent in (
        ("are the guided tours in English?", "en", "visite"),
        ("il bar ha piatti vegetariani?", "it", "bar"),
        ("can I pay with Apple Pay?", "en", "pagamenti"),  # a phone's wallet is a contactless payment
        ("do you take credit cards?", "en", "pagamenti"),
        ("is the children's workshop in Italian?", "en", "laboratorio"),  # the venue's own language
    ):
        ans = bot.answer(question, lang)
        assert ans.found and not ans.hedged and ans.intent == intent, question


def test_the_demo_kb_keeps_its_answers_where_its_text_covers_the_question():
    bot = RetrievalAnswerer.from_csv(DEMO)
    ans = bot.answer("is apple pay accepted at the ticket counter?", "en")  # "contactless payments by phone"
    assert ans.found and not ans.hedged and ans.intent == "metodi_pagamento"


def test_places_left_on_a_day_go_to_a_person():
    for question in (
        "il campus di luglio ha ancora posti per la terza settimana?",
        "are there still places on this saturday's night visit?",
        "any spots left for tomorrow's workshop?",
        "c'è posto per 4 al ristorante stasera?",
    ):
        assert escalation_reason(question) == PERSONAL_CASE, question
    for question in (
        "quanti posti ha la sala conferenze?",
        "how many seats does the planetarium have?",
        "c'è posto per la macchina vicino all'ingresso?",
        "are tickets still available at the door?",
    ):
        assert escalation_reason(question) is None, question


def test_another_venue_and_selling_to_the_venue_are_out_of_scope():
    for question in (
        "what other castles are there around the lake?",
        "can I use the annual pass from another castle here?",
        "la tessera dà l'ingresso gratis anche ad altri musei?",
        "do you buy used telescopes?",
        "comprate libri usati?",
    ):
        assert escalation_reason(question) == "no_answer", question
    for question in (
        "c'è un altro parcheggio se quello in cima è pieno?",  # a car park is not a venue
        "are there other rooms to visit?",
        "can I buy tickets at the door?",
        "do you sell used books in the shop?",
    ):
        assert escalation_reason(question) is None, question


def test_an_answer_that_speaks_of_languages_it_does_not_list_is_not_hedged():
    eight = contrast.named("The audio guide is available in 8 languages, including Italian and English.")
    covered = {cls: set(members) for cls, members in eight.items()}
    assert contrast.uncovered("is the audio guide in Japanese?", covered) == []
    assert contrast.uncovered("tours in other languages?", {"language": {"italian", "english"}}) == []
    assert contrast.uncovered("tours in other languages?", {}) == []


def test_an_answer_that_says_its_members_are_the_only_ones_answers_the_others():
    # "only in Italian and English", "guides in other languages are not available", "cash only": asked about
    # another member, the answer says no, so it covers the question (a hedge would say it does not know)
    for answer, question in (
        ("Guided tours are offered only in Italian and English.", "is there a guided tour in German?"),
        ("Tours in Italian and English. Guides in other languages are not available.", "tours in Spanish?"),
        ("Le visite si svolgono solo in italiano.", "c'è una visita in francese?"),
        ("At the kiosk: cash only.", "can I pay by card at the kiosk?"),
        ("Al chiosco si paga soltanto in contanti.", "posso pagare con satispay?"),
    ):
        covered = {cls: set(members) for cls, members in contrast.named(answer).items()}
        assert contrast.uncovered(question, covered) == [], (answer, question)
    # "only" about something else, or with no member after it, closes nothing
    for answer, question in (
        ("Tours in Italian and English, only on Saturdays.", "tours in Spanish?"),
        ("Only the café takes cash.", "can I pay with satispay?"),
    ):
        covered = {cls: set(members) for cls, members in contrast.named(answer).items()}
        assert contrast.uncovered(question, covered), (answer, question)


def test_a_card_to_pay_with_is_not_a_venue_pass():
    assert contrast.named("you pay at the machines by card or cash")["payment"] == {"card": "by card", "cash": "cash"}
    assert contrast.named("si paga con carta o contanti")["payment"] == {"card": "con carta", "cash": "contanti"}
    assert contrast.named("The Valbruna Card costs 60 euros a year") == {}
    covered = {"payment": {"card", "cash"}}
    assert contrast.uncovered("Do I need cash for the car park or do the machines take cards?", covered) == []


def test_an_uncommon_way_to_pay_asked_of_an_answer_that_names_none_is_not_covered():
    """The zoo's label pool: "can I pay for the online ticket with PayPal?" got the online tickets' answer, which
    names no way to pay. Cash and cards, taken nearly everywhere, are left to the answer."""
    assert contrast.uncovered("Si può pagare il biglietto online con PayPal?", {}) == ["paypal"]
    assert contrast.uncovered("do you take american express at the ticket office?", {}) == ["american express"]
    assert contrast.uncovered("posso pagare il gruppo con bonifico?", {}) == ["bonifico"]
    assert contrast.uncovered("can I pay by card at the ticket office?", {}) == []
    assert contrast.uncovered("si paga in contanti?", {}) == []
