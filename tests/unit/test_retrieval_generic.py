"""Nothing venue-specific in the code: the out-of-scope rules defer to what a venue's own KB asks about, and
what a large KB derives (its index) is cached on disk by content hash."""

from __future__ import annotations

import unicodedata

from sportello.answering import retrieval
from sportello.answering.kb import KBEntry
from sportello.answering.retrieval import KBIndex, RetrievalAnswerer, cached_index
from sportello.answering.retrieval_rules import escalation_reason
from sportello.answering.retrieval_text import fold

ZOO = [
    KBEntry("it-1", "orari", "it", ("A che ora apre lo zoo?", "Orari dello zoo"), "Lo zoo apre alle 9."),
    KBEntry("en-1", "orari", "en", ("What time does the zoo open?", "Zoo opening hours"), "The zoo opens at 9."),
    KBEntry("it-2", "matrimoni", "it", ("Si possono celebrare matrimoni?",), "Sì, nel giardino delle giraffe."),
    KBEntry("en-2", "matrimoni", "en", ("Can we hold a wedding here?",), "Yes, in the giraffe garden."),
    KBEntry("it-3", "feste", "it", ("Organizzate feste di compleanno?",), "Sì, il sabato pomeriggio."),
    KBEntry("en-3", "feste", "en", ("Do you host birthday parties?",), "Yes, on Saturday afternoons."),
]
MUSEUM = [
    KBEntry("it-1", "orari", "it", ("Quando aprite?",), "Il museo apre alle 9."),
    KBEntry("en-1", "orari", "en", ("When do you open?",), "The museum opens at 9."),
]


def test_what_a_venue_kb_asks_about_is_not_out_of_scope():
    zoo, museum = RetrievalAnswerer(ZOO), RetrievalAnswerer(MUSEUM)
    for question, intent in (
        ("what time does the zoo open?", "orari"),
        ("Can we have our wedding at the zoo?", "matrimoni"),
        ("do you do birthday parties for kids?", "feste"),
    ):
        assert zoo.answer(question, "en").intent == intent, question
        assert museum.answer(question, "en").intent == "no_answer", question  # another venue's topic
    # the rules themselves: the same message, with and without a KB that asks about it
    assert escalation_reason("Can we hold a wedding here?") == "no_answer"
    assert escalation_reason("Can we hold a wedding here?", zoo.index.asks_about) is None
    # a KB word does not excuse a different request: every content word of the match must be asked about
    assert not zoo.index.asks_about("private party")
    assert zoo.index.asks_about("birthday parties") and zoo.index.asks_about("festa di compleanno")


def test_the_index_of_a_large_kb_is_cached_by_content(tmp_path, monkeypatch):
    monkeypatch.setattr(retrieval, "INDEX_CACHE_MIN_ENTRIES", 1)
    cache = tmp_path / "cache"
    built = []
    real_init = KBIndex.__init__

    def counting_init(self, entries):
        built.append(len(entries))
        real_init(self, entries)

    monkeypatch.setattr(KBIndex, "__init__", counting_init)
    first = cached_index(ZOO, [cache])
    files = list(cache.glob("kbindex-*.pickle"))
    assert built == [len(ZOO)] and len(files) == 1
    again = cached_index(ZOO, [cache])
    assert built == [len(ZOO)]  # read, not built
    assert again.intents == first.intents and again.asked == first.asked
    assert again.score("wedding at the zoo", "en")[0].intent == "matrimoni"
    cached_index(ZOO[:4], [cache])  # other content: another key
    assert built == [len(ZOO), 4] and len(list(cache.glob("kbindex-*.pickle"))) == 2
    # a file others may write is never unpickled; a broken one is rebuilt
    files[0].chmod(0o666)
    cached_index(ZOO, [cache])
    files[0].write_bytes(b"not a pickle")
    files[0].chmod(0o600)
    cached_index(ZOO, [cache])
    assert built == [len(ZOO), 4, len(ZOO), len(ZOO)]


def test_a_small_kb_is_not_cached(tmp_path):
    RetrievalAnswerer(MUSEUM, cache_dirs=[tmp_path])
    cached_index(MUSEUM, [tmp_path])
    assert list(tmp_path.iterdir()) == []


def test_fold_strips_accents_as_unicode_does():
    def by_unicode(text):
        text = unicodedata.normalize("NFKD", text.lower())
        return "".join(c for c in text if not unicodedata.combining(c))

    for text in ("Perché è così? ÀÉÎÕÜ ñ ç", "ß œ ’ “x” й ǅ ﬁ €9", "plain ascii, Quanto COSTA?", ""):
        assert fold(text) == by_unicode(text)


def test_literal_missing_counts_the_question_words_an_intent_never_uses():
    """Issue 25: the words of a question that the chosen intent's own text (questions, answer, name) lacks, in any
    form (stems, first letters, a typo's correction): a near-miss asks for such a detail."""
    from sportello.answering.kb import KBEntry
    from sportello.answering.retrieval import KBIndex

    entries = [
        KBEntry("1", "cafe", "en", ("Is there a café?",), "The café serves coffee, cakes and sandwiches."),
        KBEntry("2", "parking", "en", ("Is there parking?",), "The car park has 80 spaces."),
    ]
    index = KBIndex(entries)
    missing, asked = index.literal_missing("do you have vegan sandwiches at the cafe?")
    assert asked == 3  # vegan, sandwiches, cafe
    assert list(missing) == [1, 3]  # the café lacks "vegan" only; parking lacks all three
    missing, _ = index.literal_missing("any sandwichs at the café?")  # a typo and an inflection
    assert missing[index.intent_idx["cafe"]] == 0
