"""Latency of the offline answerer on a generated 1,000-entry knowledge base.

    python bench/answerer.py [--entries 1000] [--queries 2000]

The KB is the sample FAQ plus generated entries (500 intents x it/en) with
realistic vocabulary; queries mix paraphrases, typos, short queries,
out-of-scope questions and escalations. Prints p50/p95/p99 per answer().
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sportello.answering.bot import RetrievalAnswerer, load_kb  # noqa: E402

IT_WORDS = (
    "mostra biglietto orari sala opera dipinto scultura reperto visita guida laboratorio bambini famiglia gruppo "
    "scuola prenotazione rimborso caffè negozio catalogo tessera evento concerto giardino chiostro terrazza "
    "biblioteca archivio restauro conferenza corso fotografia accesso ascensore parcheggio stazione autobus "
    "sconto ingresso gratuito sabato domenica sera mattina inverno estate collezione pittura ceramica moneta"
).split()
EN_WORDS = (
    "exhibition ticket hours room artwork painting sculpture find visit guide workshop children family group "
    "school booking refund cafe shop catalogue membership event concert garden cloister terrace library archive "
    "restoration lecture course photography access lift parking station bus discount entry free saturday "
    "sunday evening morning winter summer collection painting ceramics coin"
).split()


def make_kb(path: Path, n_entries: int, rng: random.Random) -> None:
    base = load_kb(ROOT / "data" / "faq.csv")
    rows = [(e.id, e.intent, e.lang, " | ".join(e.questions), e.answer) for e in base]
    i = 0
    while len(rows) < n_entries:
        intent = f"topic_{i:04d}"
        for lang, pool, q in (("it", IT_WORDS, "Come funziona"), ("en", EN_WORDS, "How does")):
            words = rng.sample(pool, 6)
            questions = " | ".join(f"{q} {' '.join(rng.sample(words, 3))}?" for _ in range(rng.randint(2, 4)))
            answer = " ".join(rng.choice(pool) for _ in range(40)).capitalize() + "."
            rows.append((f"{lang}-g{i:04d}", intent, lang, questions, answer))
        i += 1
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "intent", "lang", "questions", "answer"])
        w.writerows(rows[:n_entries])


def make_queries(n: int, rng: random.Random) -> list[str]:
    fixed = [
        "prezzi?",
        "orari domenica",
        "quanto costa il bigleitto",
        "can I bring my dog?",
        "wifi password",
        "dove parcheggio la macchina",
        "is the museum wheelchair accessible?",
        "voglio parlare con un operatore",
        "I was charged twice for my order 12345",
        "who painted the Mona Lisa?",
        "ciao",
        "grazie mille",
        "mostra fotografia sabato sera biglietto ridotto per famiglia con bambini",
        "",
    ]
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            out.append(rng.choice(fixed))
        else:
            pool = rng.choice((IT_WORDS, EN_WORDS))
            out.append(" ".join(rng.sample(pool, rng.randint(1, 8))) + "?")
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        kb = Path(tmp) / "kb.csv"
        make_kb(kb, args.entries, rng)
        t0 = time.perf_counter()
        bot = RetrievalAnswerer.from_csv(kb)
        build = time.perf_counter() - t0
        queries = make_queries(args.queries, rng)
        for q in queries[:50]:  # warm up caches
            bot.answer(q)
        times = []
        for q in queries:
            t = time.perf_counter()
            bot.answer(q)
            times.append((time.perf_counter() - t) * 1000)
        print(f"KB entries: {len(bot.entries)} ({len(bot.index.intents)} intents), index build {build * 1000:.0f} ms")
    times.sort()
    q = statistics.quantiles(times, n=100)
    print(f"queries: {len(times)}")
    print(f"p50 {q[49]:.3f} ms   p95 {q[94]:.3f} ms   p99 {q[98]:.3f} ms   max {times[-1]:.3f} ms")
    ok = q[49] < 5 and q[98] < 20
    print("target p50 < 5 ms, p99 < 20 ms:", "OK" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
