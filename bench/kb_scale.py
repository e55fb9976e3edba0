"""A 5,000-entry knowledge base: cold and warm start, answer latency on one core, RSS of the model.

    python bench/kb_scale.py [--entries 5000] [--queries 400] [--keep DIR]

Generates a KB of ENTRIES rows (ENTRIES/2 intents x it/en; varied synthetic text: subjects x topics x
qualifiers of a generic venue, several phrasings each), then starts the app's offline answerer
(`bot.build_retrieval`, the fused lexical + e5 one) twice in fresh processes pinned to one core with
OMP_NUM_THREADS=1: cold (an empty DATA_DIR: every question, answer and example is embedded and cached under
DATA_DIR/cache by content hash) and warm (the same DATA_DIR: vectors read from the cache). The warm process then
asks QUERIES questions once each (KB questions reworded, typos, other words, escalations): p50/p99 per answer,
wall and CPU time. RSS added = after the model loaded, the KB was indexed and the questions were answered,
minus before the model loaded. start_s: from loading the model to the answerer ready; ready_s: the same from
the script's first line (imports included). Prints one JSON line; targets: warm start < 10 s, p99 < 80 ms,
RSS < 150 MB. Wall times count waiting for a busy core; the cpu_* figures are what an idle core would take.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()  # the script's first line: `ready_s` counts the imports too

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

SUBJECTS = [
    ("la terrazza panoramica", "the panoramic terrace"),
    ("il laboratorio di ceramica", "the ceramics workshop"),
    ("la serra tropicale", "the tropical glasshouse"),
    ("il planetario", "the planetarium"),
    ("la torre medievale", "the medieval tower"),
    ("il rettilario", "the reptile house"),
    ("la sala degli arazzi", "the tapestry hall"),
    ("il percorso sensoriale", "the sensory trail"),
    ("la biblioteca storica", "the historic library"),
    ("il giardino delle rose", "the rose garden"),
    ("la mostra di fotografia", "the photography exhibition"),
    ("il museo dei giocattoli", "the toy museum"),
    ("l'acquario", "the aquarium"),
    ("la cripta", "the crypt"),
    ("il teatro anatomico", "the anatomical theatre"),
    ("la fattoria didattica", "the teaching farm"),
    ("il labirinto di siepi", "the hedge maze"),
    ("la galleria delle carrozze", "the carriage gallery"),
    ("il sottomarino", "the submarine"),
    ("l'osservatorio", "the observatory"),
    ("la casa delle farfalle", "the butterfly house"),
    ("il chiostro", "the cloister"),
    ("la sala delle armature", "the armour room"),
    ("il frantoio antico", "the old olive mill"),
    ("la voliera", "the aviary"),
    ("il bosco didattico", "the learning woodland"),
    ("la cucina del castello", "the castle kitchen"),
    ("il laboratorio di robotica", "the robotics lab"),
    ("la sala dei dinosauri", "the dinosaur hall"),
    ("il mulino ad acqua", "the watermill"),
    ("la pinacoteca", "the picture gallery"),
    ("il giardino giapponese", "the Japanese garden"),
    ("la stazione meteo", "the weather station"),
    ("il museo del vino", "the wine museum"),
    ("la galleria dei minerali", "the mineral gallery"),
    ("il recinto dei lemuri", "the lemur enclosure"),
    ("le cantine", "the cellars"),
    ("il camminamento di ronda", "the battlement walk"),
    ("la sala immersiva", "the immersive room"),
    ("il vivaio", "the plant nursery"),
    ("la collezione di strumenti musicali", "the musical instrument collection"),
    ("la nave scuola", "the training ship"),
    ("il parco avventura", "the adventure park"),
    ("la sala delle mappe", "the map room"),
    ("il giardino dei semplici", "the herb garden"),
    ("la fucina del fabbro", "the blacksmith's forge"),
    ("il trenino", "the little train"),
    ("la sala della musica", "the music room"),
    ("il padiglione degli insetti", "the insect pavilion"),
    ("la grotta", "the cave"),
]
TOPICS = [
    (
        ("Quanto costa {s}?", "Qual è il prezzo per {s}?", "Si paga a parte per {s}?"),
        ("How much is {s}?", "What does {s} cost?", "Is {s} charged separately?"),
        ("L'ingresso a {s} costa {n} euro, ridotto {m} euro.", "Entry to {s} costs {n} euros, reduced {m} euros."),
    ),
    (
        ("Quando è aperto {s}?", "A che ora chiude {s}?", "Orari di {s}"),
        ("When is {s} open?", "What time does {s} close?", "Opening hours of {s}"),
        ("{S} è aperto dalle {h} alle {k}, chiuso il lunedì.", "{S} is open from {h} to {k}, closed on Mondays."),
    ),
    (
        ("Bisogna prenotare {s}?", "Come si prenota {s}?", "Serve la prenotazione per {s}?"),
        ("Do I need to book {s}?", "How do I book {s}?", "Is booking required for {s}?"),
        ("{S} si prenota online fino a {n} ore prima.", "{S} can be booked online up to {n} hours before."),
    ),
    (
        ("{s} è accessibile in sedia a rotelle?", "Ci sono gradini per {s}?"),
        ("Is {s} wheelchair accessible?", "Are there steps to reach {s}?"),
        ("{S} è raggiungibile con un ascensore da {n} posti.", "{S} is reached by a lift for {n} people."),
    ),
    (
        ("Da che età si può visitare {s}?", "{s} è adatto ai bambini piccoli?"),
        ("From what age can children visit {s}?", "Is {s} suitable for small children?"),
        ("{S} è adatto dai {n} anni in su.", "{S} is suitable from age {n} up."),
    ),
    (
        ("Quanto dura la visita a {s}?", "Quanto tempo serve per {s}?"),
        ("How long does the visit to {s} take?", "How much time do I need for {s}?"),
        ("La visita a {s} dura circa {n} minuti.", "The visit to {s} takes about {n} minutes."),
    ),
    (
        ("Si possono fare foto in {s}?", "È permesso fotografare {s}?"),
        ("Can I take photos in {s}?", "Is photography allowed in {s}?"),
        ("In {s} le foto sono ammesse senza flash.", "Photos are allowed in {s} without flash."),
    ),
    (
        ("Ci sono visite guidate di {s}?", "C'è una guida per {s}?"),
        ("Are there guided tours of {s}?", "Is there a guide for {s}?"),
        ("Le visite guidate di {s} partono alle {h} e alle {k}.", "Guided tours of {s} start at {h} and {k}."),
    ),
    (
        ("I cani possono entrare in {s}?", "Sono ammessi animali in {s}?"),
        ("Can dogs go into {s}?", "Are pets allowed in {s}?"),
        ("In {s} sono ammessi solo cani guida.", "Only assistance dogs are allowed in {s}."),
    ),
    (
        ("Dove si trova {s}?", "Come arrivo a {s}?"),
        ("Where is {s}?", "How do I get to {s}?"),
        ("{S} è al piano {n}, seguite i cartelli blu.", "{S} is on floor {n}; follow the blue signs."),
    ),
    (
        ("{s} è aperto anche in inverno?", "{s} chiude per la stagione?"),
        ("Is {s} open in winter too?", "Does {s} close for the season?"),
        ("{S} chiude da novembre a febbraio.", "{S} closes from November to February."),
    ),
    (
        ("Le scuole possono visitare {s}?", "Ci sono attività per classi in {s}?"),
        ("Can schools visit {s}?", "Are there class activities in {s}?"),
        ("{S} accoglie classi fino a {n} alunni.", "{S} welcomes classes of up to {n} pupils."),
    ),
]
QUALIFIERS = [
    ("", ""),
    (" per i gruppi", " for groups"),
    (" la sera", " in the evening"),
    (" nei festivi", " on public holidays"),
    (" con un passeggino", " with a pushchair"),
]


def make_kb(path: Path, n_entries: int, rng: random.Random) -> list[tuple[str, str]]:
    """Writes the KB; returns (question, lang) pairs to ask (reworded KB questions)."""
    rows, asked = [], []
    combos = [(s, t, q) for q in QUALIFIERS for t in TOPICS for s in SUBJECTS]
    rng.shuffle(combos)
    for i, (subject, topic, qual) in enumerate(combos[: n_entries // 2]):
        nums = {"n": rng.randint(2, 30), "m": rng.randint(1, 9), "h": f"{rng.randint(8, 12)}:00"}
        nums["k"] = f"{rng.randint(15, 22)}:30"
        for li, lang in enumerate(("it", "en")):
            s = subject[li] + qual[li]
            questions = [t.format(s=s, S=s[0].upper() + s[1:]) for t in topic[li]]
            questions = [q[0].upper() + q[1:] for q in questions]
            answer = topic[2][li].format(s=s, S=s[0].upper() + s[1:], **nums)
            rows.append((f"{lang}-{i:05d}", f"topic_{i:05d}", lang, " | ".join(questions), answer))
            asked.append((_reword(rng.choice(questions), rng), lang))
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "intent", "lang", "questions", "answer"])
        w.writerows(rows)
    return asked


def _reword(q: str, rng: random.Random) -> str:
    """A visitor's version: lower case, a typo or a dropped word, no question mark."""
    words = q.rstrip("?").lower().split()
    r = rng.random()
    if r < 0.3 and len(words) > 3:
        del words[rng.randrange(1, len(words))]
    elif r < 0.6:
        j = rng.randrange(len(words))
        w = words[j]
        if len(w) > 4:
            k = rng.randrange(1, len(w) - 2)
            words[j] = w[:k] + w[k + 1] + w[k] + w[k + 2 :]
    return " ".join(words)


OTHER = [
    "voglio parlare con un operatore",
    "I was charged twice for my order 12345",
    "who painted the Mona Lisa?",
    "che tempo fa domani?",
    "ciao",
    "grazie mille",
    "c'è un bancomat qui vicino?",
    "do you sell umbrellas?",
]


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def child(kb: Path, data_dir: Path, queries: Path | None) -> dict:
    """One start of the answerer as the app builds it; with `queries`, answer them and time each."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    sys.path.insert(0, str(ROOT))
    import numpy  # noqa: F401  (the lexical answerer needs it too: not the model's)

    from sportello.answering import bot
    from sportello.answering.semantic import SemanticAnswerer, load_encoder
    from sportello.config import Settings

    settings = Settings.from_env({"DATA_DIR": str(data_dir), "KB_PATH": str(kb), "ANSWERER": "semantic"})
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    encoder = load_encoder()
    model_s = time.perf_counter() - t0
    rss_model = _rss_mb() - rss0
    answerer = bot.build_retrieval(settings)
    start_s = time.perf_counter() - t0
    assert isinstance(answerer, SemanticAnswerer), type(answerer)
    out = {
        "start_s": round(start_s, 2),
        "ready_s": round(time.perf_counter() - _STARTED, 2),
        "model_load_s": round(model_s, 2),
        "texts_embedded": encoder.texts,
        "entries": len(answerer.entries),
        "intents": len(answerer.index.intents),
        "rss_model_mb": round(rss_model, 1),
    }
    if queries is None:
        return out
    asked = json.loads(queries.read_text(encoding="utf-8"))
    for q, lang in asked[:10]:  # warm-up (lazy imports, first allocations)
        answerer.answer(q + " ?", lang)
    wall, cpu, found = [], [], 0
    for q, lang in asked:
        t, c = time.perf_counter(), time.thread_time()
        a = answerer.answer(q, lang)
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.thread_time() - c) * 1000)
        found += a.found
    wq, cq = statistics.quantiles(wall, n=100), statistics.quantiles(cpu, n=100)
    out.update(
        queries=len(asked),
        answered=found,
        p50_ms=round(wq[49], 1),
        p99_ms=round(wq[98], 1),
        cpu_p50_ms=round(cq[49], 1),
        cpu_p99_ms=round(cq[98], 1),
        rss_added_mb=round(_rss_mb() - rss0, 1),
        load_average=round(os.getloadavg()[0], 1),
    )
    return out


def run_child(kb: Path, data_dir: Path, queries: Path | None) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--kb", str(kb), "--data-dir", str(data_dir)]
    if queries:
        cmd += ["--ask", str(queries)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = round(time.perf_counter() - t0, 2)  # with the interpreter and the imports
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--keep", type=Path, help="a directory to keep the KB and DATA_DIR in (else a temporary one)")
    parser.add_argument(
        "--warm-only", action="store_true", help="with --keep: reuse its KB and DATA_DIR, measure the warm start only"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kb", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ask", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.kb, args.data_dir, args.ask)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        kb, queries, data_dir = base / "faq.csv", base / "queries.json", base / "data"
        if args.warm_only and args.keep and kb.is_file() and queries.is_file():
            cold = {"start_s": None, "texts_embedded": None}
        else:
            rng = random.Random(25)
            asked = make_kb(kb, args.entries, rng)
            rng.shuffle(asked)
            asked = asked[: args.queries - len(OTHER)] + [(q, "it") for q in OTHER]
            queries.write_text(json.dumps(asked), encoding="utf-8")
            data_dir.mkdir(exist_ok=True)
            cold = run_child(kb, data_dir, None)
        warm = run_child(kb, data_dir, queries)
    report = {
        "bench": "kb_scale",
        "entries": warm["entries"],
        "intents": warm["intents"],
        "cold_start_s": cold["start_s"],
        "cold_texts_embedded": cold["texts_embedded"],
        "warm_start_s": warm["start_s"],
        "warm_ready_s": warm["ready_s"],
        "warm_texts_embedded": warm["texts_embedded"],
        "warm_process_s": warm["process_s"],
        "model_load_s": warm["model_load_s"],
        **{k: warm[k] for k in ("queries", "answered", "p50_ms", "p99_ms", "cpu_p50_ms", "cpu_p99_ms")},
        "rss_model_mb": warm["rss_model_mb"],
        "rss_added_mb": warm["rss_added_mb"],
        "load_average": warm["load_average"],
    }
    report["ok"] = report["warm_start_s"] < 10 and report["p99_ms"] < 80 and report["rss_added_mb"] < 150
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
