"""A store holding a year of data, and how long every dashboard and queue query takes on it.

    python bench/store_scale.py [--rows 1000000] [--runs 5] [--database-url postgresql://...] [--fresh]
                                [--store FILE] [--only NAME]

1. Generates (once, then cached) a realistic store of `--rows` messages spread over the last 365 days:
   ~110k sessions (AI only, handed to an operator, tickets, abandoned queues, untouched), their messages,
   the events and their outbox rows (all sent but the last few hundred), the tickets, a handful of
   operators online, chats waiting in the queue and live right now. Rows go in with bulk executemany,
   a few transactions, through the real table definitions on a store the migrations created. The SQLite
   file is cached under the temp dir (keyed by --rows and the schema); with --database-url the data goes
   to that PostgreSQL database instead (generated when it is empty, else timed as it is). --store FILE
   times a SQLite file generated before, in place (opening it applies the newer migrations).
2. Times (median of --runs) every query the dashboard pages and the API make, through the services the
   faces call: the Analisi report (7/30/90 days with the day cache kept by the runtime's Reports; the
   90 days also the first time in a process, and without the cache; the dashboard's warm-up of that cache),
   the learning loop's answer rate, the Conversazioni log (no filter, each filter), its
   intent list and sync state, the ticket list and its filters, health, the outbox backlog, the /metrics collection, the queue
   (pending_sessions), operator_status, and visitor_poll in each state (bot, waiting with queue position
   and estimated wait, live, closed).

Prints a table in ms. Nothing of the data is written by the timed calls (they are all reads, but the
health check's tiny kv write).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sportello.answering.bot import NO_ANSWER, Answer  # noqa: E402
from sportello.config import Settings  # noqa: E402
from sportello.domain import ContactMethod, Role, State, TicketStatus  # noqa: E402
from sportello.domain import credentials as auth  # noqa: E402
from sportello.domain.events import Event, EventKind  # noqa: E402
from sportello.runtime import Runtime  # noqa: E402
from sportello.services import reports as reports_mod  # noqa: E402
from sportello.services.reports import Reports, local_day  # noqa: E402
from sportello.sinks.layout import CONVERSATIONS, TICKETS, conversation_row, ticket_row  # noqa: E402
from sportello.store.database import Store, kv_get, kv_set  # noqa: E402
from sportello.store.tables import events, messages, operators, outbox, sessions, tickets  # noqa: E402

NOW_KEY = "bench_store_scale_now"
CHUNK = 20_000
DAY = 86400.0

INTENTS = [f"intent_{i:02d}" for i in range(40)]
QUESTIONS = [
    "Quanto costa il biglietto?",
    "A che ora apre il museo?",
    "Ci sono visite guidate in inglese?",
    "Posso portare il cane?",
    "Dove posso parcheggiare?",
    "Il museo è accessibile in sedia a rotelle?",
    "How much is a ticket?",
    "Is there a cloakroom?",
    "Posso fotografare le opere?",
    "C'è un bar nel museo?",
]
OPERATOR_NAMES = ["Mario Rossi", "Giulia Bianchi", "Luca Verdi", "Anna Neri", "Paolo Gallo", "Sara Costa"]
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


class BenchAnswerer:
    """Never called by the timed queries; keeps the runtime from loading a model."""

    def answer(self, question: str, lang: str | None = None) -> Answer:
        return Answer(False, "", NO_ANSWER, None, 0.0, lang or "it")


def schema_key() -> str:
    """The cache key of the schema: the table definitions and every migration."""
    h = hashlib.sha256()
    for path in [
        ROOT / "sportello/store/tables.py",
        *sorted((ROOT / "sportello/store/migrations/versions").glob("*.py")),
    ]:
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


class Generator:
    """Bulk rows of a year of conversations, ending at `now`."""

    def __init__(self, store: Store, n_messages: int, now: float, seed: int = 14):
        self.store = store
        self.target = n_messages
        self.now = now
        self.rnd = random.Random(seed)
        self.buf: dict[str, list[dict]] = {"sessions": [], "messages": [], "events": [], "outbox": [], "tickets": []}
        self.counts = dict.fromkeys(self.buf, 0)
        self.ticket_id = 0
        self.outbox_id = 0
        self.n_messages = 0
        self.pending_from = None  # outbox rows newer than this stay pending

    # -- helpers -------------------------------------------------------------
    def hexid(self) -> str:
        return f"{self.rnd.getrandbits(128):032x}"

    def flush(self, force: bool = False) -> None:
        if not force and sum(len(v) for v in self.buf.values()) < CHUNK * 3:
            return
        tables = {"sessions": sessions, "messages": messages, "events": events, "outbox": outbox, "tickets": tickets}
        with self.store.write() as conn:
            for name in ("sessions", "tickets", "messages", "outbox", "events"):
                rows = self.buf[name]
                if rows:
                    conn.execute(tables[name].insert(), rows)
                    self.counts[name] += len(rows)
                    rows.clear()

    def msg(self, s: dict, role: Role, author: str, text: str, intent: str, at: float) -> None:
        s["last_seq"] += 1
        self.buf["messages"].append(
            {
                "session_id": s["id"],
                "seq": s["last_seq"],
                "role": str(role),
                "author": author,
                "text": text,
                "intent": intent,
                "created_at": at,
            }
        )
        self.n_messages += 1

    def event(self, s: dict, kind: EventKind, at: float, **fields) -> None:
        e = Event(kind, s["id"], at, user_agent=s["user_agent"], **fields)
        self._outbox(s["id"], CONVERSATIONS, conversation_row(e), at, event=e)

    def _outbox(self, session_id: str, worksheet: str, values: list, at: float, *, event=None, key: str = "") -> None:
        event_id = self.hexid()
        pending = at >= self.pending_from
        self.outbox_id += 1
        self.buf["outbox"].append(
            {
                "id": self.outbox_id,
                "event_id": event_id,
                "worksheet": worksheet,
                "op": "upsert" if key else "append",
                "row_key": key,
                "session_id": session_id,
                "payload": json.dumps(values, ensure_ascii=False),
                "created_at": at,
                "status": "pending" if pending else "sent",
                "attempts": 0 if pending else 1,
                "last_error": "",
                "sent_at": None if pending else at + 1.5,
            }
        )
        if event is not None:
            values = {f: getattr(event, f) for f in Event.__dataclass_fields__}
            values["kind"] = str(event.kind)
            self.buf["events"].append({"id": event_id, "seq": self.outbox_id, **values})

    def ticket(self, s: dict, status: str, method: str, contact: str, at: float, operator: str, history: list) -> int:
        self.ticket_id += 1
        t = {
            "id": self.ticket_id,
            "session_id": s["id"],
            "original_question": s["original_question"],
            "conversation_transcript": "\n".join(f"[{i:02d}:00] Utente: {m}" for i, m in enumerate(history[:6])),
            "operator_name": operator,
            "started_at": s["created_at"],
            "ended_at": at,
            "resolution_reason": "risolto in chat" if method == ContactMethod.LIVE_CHAT else "",
            "status": status,
            "contact_method": method,
            "contact_info": contact,
            "conversation_history": json.dumps([{"role": "user", "text": m} for m in history[:6]]),
            "language": s["language"],
            "assigned_to": None,
            "notes": "",
            "created_at": at,
            "updated_at": at,
        }
        self.buf["tickets"].append(t)
        self._outbox(s["id"], TICKETS, ticket_row(t), at, key=str(t["id"]))
        return t["id"]

    # -- one session ---------------------------------------------------------
    def session(self, created: float, kind: str, *, now_state: str | None = None) -> dict:
        r = self.rnd
        lang = "it" if r.random() < 0.7 else "en"
        s = {
            "id": self.hexid(),
            "token_hash": auth.token_hash(f"bench-{self.counts['sessions'] + len(self.buf['sessions'])}"),
            "status": State.BOT,
            "language": lang,
            "user_agent": UA,
            "created_at": created,
            "updated_at": created,
            "last_seq": 0,
            "original_question": "",
            "escalation_reason": "",
            "offered_at": None,
            "waiting_since": None,
            "taken_at": None,
            "closed_at": None,
            "operator_id": None,
            "ticket_id": None,
        }
        at = created
        self.msg(s, Role.BOT, "Assistente", "Ciao! Come posso aiutarti?", "greeting", at)
        asked: list[str] = []
        if kind != "untouched":
            for _ in range(r.randint(1, 4)):
                at += r.uniform(5, 60)
                q = r.choice(QUESTIONS)
                if r.random() < 0.3:
                    q = f"{q} ({r.randint(1, 500)})"  # many distinct questions
                asked.append(q)
                self.msg(s, Role.USER, "Utente", q, "", at)
                at += 1
                if kind == "ai" and r.random() < 0.88 or kind != "ai" and len(asked) < 2:
                    intent = r.choice(INTENTS[: 10 if r.random() < 0.7 else 40])
                    reply = f"Risposta per {intent}."
                    self.msg(s, Role.BOT, "Assistente", reply, intent, at)
                    self.event(s, EventKind.AI_ANSWERED, at, intent=intent, text=q, reply=reply)
                else:
                    reply = "Non ho trovato una risposta. Vuoi parlare con un operatore?"
                    self.msg(s, Role.BOT, "Assistente", reply, NO_ANSWER, at)
                    self.event(s, EventKind.AI_NO_ANSWER, at, intent=NO_ANSWER, text=q, reply=reply)
                    s["status"] = State.OFFERED
                    s["offered_at"] = at
                    s["original_question"] = q
                    s["escalation_reason"] = NO_ANSWER
                    break
        if kind == "ai" and s["status"] == State.OFFERED and r.random() < 0.5:
            at += 10
            self.msg(s, Role.BOT, "Assistente", "Va bene.", "operator_declined", at)
            self.event(s, EventKind.OFFER_DECLINED, at, reply="Va bene.")
            s["status"] = State.BOT
        if kind in ("operator", "no_outcome", "waiting", "live"):
            if s["status"] != State.OFFERED:
                s["offered_at"], s["original_question"] = at, asked[-1]
            at += 5
            s["status"], s["waiting_since"] = State.WAITING, at
            if kind == "waiting":
                s["waiting_since"] = at = self.now - r.uniform(5, 200)
            self.msg(s, Role.SYSTEM, "Sistema", "Sei in coda.", "operator_queue", at)
            self.event(s, EventKind.QUEUED, at, question=s["original_question"], reply="Sei in coda.")
            if kind == "no_outcome":
                at += 900
                self.msg(s, Role.BOT, "Assistente", "Lasciaci un contatto.", "queue_timeout", at)
                self.event(s, EventKind.QUEUE_TIMEOUT, at, question=s["original_question"], reply="Contatto?")
                s["status"] = State.COLLECTING_CONTACT
            elif kind in ("operator", "live"):
                op_id = r.randint(1, len(OPERATOR_NAMES))
                name = OPERATOR_NAMES[op_id - 1].split()[0]
                at += r.expovariate(1 / 60)
                if kind == "live":
                    at = max(at, self.now - 600)
                s.update(status=State.LIVE, taken_at=at, operator_id=op_id)
                self.msg(s, Role.SYSTEM, "Sistema", f"🔄 Chat presa da {name}", "chat_handover", at)
                self.event(s, EventKind.HANDOVER, at, question=s["original_question"], operator=name)
                for i in range(r.randint(4, 24) if kind == "operator" else 4):
                    at += r.uniform(5, 40)
                    if i % 2:
                        self.msg(s, Role.OPERATOR, name, "Certo, le spiego.", "", at)
                        self.event(s, EventKind.OPERATOR_MESSAGE, at, text="Certo, le spiego.", operator=name)
                    else:
                        self.msg(s, Role.USER, "Utente", "Grazie, e poi?", "", at)
                        self.event(s, EventKind.LIVE_VISITOR_MESSAGE, at, text="Grazie, e poi?", operator=name)
                if kind == "operator":
                    at += 20
                    s.update(status=State.CLOSED, closed_at=at)
                    tid = self.ticket(s, TicketStatus.RESOLVED, ContactMethod.LIVE_CHAT, "", at, name, asked)
                    s["ticket_id"] = tid
                    self.msg(s, Role.SYSTEM, "Sistema", "Chat chiusa.", "chat_closed", at)
                    self.event(s, EventKind.CHAT_COMPLETED, at, transcript="…", operator=name, ticket_id=tid)
        if kind == "ticket":
            if s["status"] != State.OFFERED:
                s["offered_at"], s["original_question"] = at, asked[-1]
            at += 5
            self.msg(s, Role.BOT, "Assistente", "Nessun operatore.", "operator_unavailable", at)
            self.event(s, EventKind.NO_OPERATOR, at, question=s["original_question"], reply="Nessun operatore.")
            at += 30
            email = r.random() < 0.7
            contact = f"visitor{r.randint(1, 10**6)}@example.org" if email else f"+39 333 {r.randint(10**6, 10**7)}"
            self.msg(s, Role.USER, "Utente", contact, "", at)
            status = r.choice([TicketStatus.OPEN] * 1 + [TicketStatus.RESOLVED] * 6 + [TicketStatus.CLOSED] * 2)
            if self.now - at < 14 * DAY:
                status = r.choice([TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.RESOLVED])
            method = ContactMethod.EMAIL if email else ContactMethod.PHONE
            tid = self.ticket(s, status, method, contact, at, "", asked)
            s.update(status=State.CLOSED, closed_at=at, ticket_id=tid)
            self.msg(s, Role.BOT, "Assistente", f"🎫 Ticket #{tid}", "ticket_created", at)
            self.event(
                s, EventKind.TICKET_CREATED, at, question=s["original_question"], ticket_id=tid, contact_method=method
            )
        s["updated_at"] = at
        self.buf["sessions"].append(s)
        return s

    def run(self) -> dict:
        with self.store.write() as conn:
            for i, name in enumerate(OPERATOR_NAMES, start=1):
                online = i <= 3
                conn.execute(
                    operators.insert().values(
                        id=i,
                        username=name.split()[0].lower(),
                        display_name=name,
                        password_hash="x",
                        is_admin=i == 1,
                        active=True,
                        status="online" if online else "offline",
                        last_heartbeat=self.now - 5 if online else None,
                        max_chats=3,
                        created_at=self.now - 365 * DAY,
                    )
                )
        r = self.rnd
        # Every session of the year, in time order: a day has more sessions at the weekend, fewer in winter.
        mean_msgs = 7.4
        n_sessions = max(50, int(self.target / mean_msgs))
        start = self.now - 365 * DAY
        times = sorted(start + r.random() * (365 * DAY - 3600) for _ in range(n_sessions))
        self.pending_from = times[max(0, len(times) - 60)]  # the last minutes of rows are not sent yet
        kinds = ["untouched"] * 10 + ["ai"] * 60 + ["operator"] * 13 + ["ticket"] * 10 + ["no_outcome"] * 7
        for created in times:
            self.session(created, r.choice(kinds))
            self.flush()
            if self.n_messages >= self.target:
                break
        for _ in range(30):  # the queue right now
            self.session(self.now - 600, "waiting")
        for _ in range(6):  # live chats right now
            self.session(self.now - 900, "live")
        self.flush(force=True)
        kv_set(self.store, NOW_KEY, self.now)
        return dict(self.counts, messages=self.n_messages)


def sequences_after_bulk(store: Store) -> None:
    """PostgreSQL: explicit ids were inserted, move the serial sequences past them."""
    if store.engine.dialect.name != "postgresql":
        return
    from sqlalchemy import text

    with store.write() as conn:
        for table in ("outbox", "tickets", "operators", "messages"):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 1))"
                )
            )


def generated(url: str) -> bool:
    """Whether the database already holds a store this script generated (then it is timed as it is)."""
    store = Store(url)
    try:
        return kv_get(store, NOW_KEY) is not None
    finally:
        store.dispose()


def build(url: str, rows: int) -> dict:
    store = Store(url)
    try:
        t0 = time.perf_counter()
        counts = Generator(store, rows, time.time()).run()
        sequences_after_bulk(store)
        if store.engine.dialect.name == "postgresql":
            with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                from sqlalchemy import text

                conn.execute(text("VACUUM ANALYZE"))
        else:
            with store.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
        counts["seconds"] = round(time.perf_counter() - t0, 1)
        return counts
    finally:
        store.dispose()


# ---------------------------------------------------------------------------
# timing


def timed(fn, runs: int) -> tuple[float, float, object]:
    """Median wall and CPU (this process) milliseconds of `runs` calls, after one warm-up call."""
    fn()  # warm the caches (the page cache, SQLAlchemy's statement cache)
    wall, cpu = [], []
    out = None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(wall), statistics.median(cpu), out


def size(out) -> str:
    if isinstance(out, list | tuple):
        return f"{len(out)} rows"
    if isinstance(out, dict):
        if "messages" in out and "status" in out:
            return f"{out['status']}, pos {out.get('queue_position')}, wait {out.get('estimated_wait_s')}"
        return f"{len(out)} keys"
    if hasattr(out, "conversations"):
        return f"{out.conversations} conversations"
    return ""


def queries(rt: Runtime, now: float) -> list[tuple[str, object]]:
    tz = rt.settings.timezone
    today = local_day(now, tz)
    log, tk, chat = rt.conversation_log, rt.tickets, rt.chat
    from sqlalchemy import select

    def pick(status: str) -> str:
        with rt.store.read() as conn:
            row = conn.execute(
                select(sessions.c.id, sessions.c.token_hash)
                .where(sessions.c.status == status)
                .order_by(sessions.c.created_at.desc())
                .limit(1)
            ).first()
        return row.id

    # The tokens are "bench-<n>"; find n of a session by its hash among the recent ones (the last sessions made).
    with rt.store.read() as conn:
        total = conn.execute(select(sessions.c.id).order_by(sessions.c.created_at.desc()).limit(1)).scalar_one()
    del total
    n_sessions = rt.store.engine.connect().exec_driver_sql("SELECT COUNT(*) FROM sessions").scalar()
    by_hash = {auth.token_hash(f"bench-{i}"): f"bench-{i}" for i in range(max(0, n_sessions - 2000), n_sessions)}
    by_hash.update({auth.token_hash(f"bench-{i}"): f"bench-{i}" for i in range(0, 2000)})

    def poller(status: str):
        sid = pick(status)
        with rt.store.read() as conn:
            h = conn.execute(select(sessions.c.token_hash).where(sessions.c.id == sid)).scalar_one()
        token = by_hash[h]
        return lambda: chat.view.visitor_poll(sid, token, after=0)

    def old_poller():
        with rt.store.read() as conn:
            row = conn.execute(
                select(sessions.c.id, sessions.c.token_hash)
                .where(sessions.c.status == State.CLOSED)
                .order_by(sessions.c.created_at)
                .limit(1)
            ).first()
        return lambda: chat.view.visitor_poll(row.id, by_hash[row.token_hash], after=0)

    some_session = pick(State.CLOSED)[:6]
    return [
        ("analisi report 7 days", lambda: rt.reports.report(today - timedelta(days=6), today, tz)),
        ("analisi report 30 days", lambda: rt.reports.report(today - timedelta(days=29), today, tz)),
        ("analisi report 90 days", lambda: rt.reports.report(today - timedelta(days=89), today, tz)),
        (
            "analisi report 90 days, cold (the first of a process)",
            lambda: Reports(rt.store, clock=lambda: now).report(today - timedelta(days=89), today, tz),
        ),
        (
            "analisi day cache warm-up (dashboard start, in background)",
            lambda: Reports(rt.store, clock=lambda: now).warm(tz).join(),
        ),
        (
            "analisi report 90 days, no day cache",
            lambda: reports_mod.report(rt.store, today - timedelta(days=89), today, tz),
        ),
        ("learning answer rate", lambda: rt.learning.answer_rate_since()),
        ("conversazioni: sync status", log.sync_status),
        ("conversazioni: intents (filter)", log.intents),
        ("conversazioni: log, no filter", lambda: log.rows()),
        (
            "conversazioni: log, last 7 days (page default)",
            lambda: log.rows(start=today - timedelta(days=6), end=today, tz=tz),
        ),
        (
            "conversazioni: log, one day 90 days ago",
            lambda: log.rows(start=today - timedelta(days=90), end=today - timedelta(days=90), tz=tz),
        ),
        ("conversazioni: log, session prefix", lambda: log.rows(session=some_session)),
        ("conversazioni: log, one intent", lambda: log.rows(intents=["queue_timeout"])),
        (
            "conversazioni: log, rare intent + 7 days",
            lambda: log.rows(intents=["intent_39"], start=today - timedelta(days=6), end=today, tz=tz),
        ),
        ("tickets: list, all", lambda: tk.list()),
        ("tickets: list, open+pending", lambda: tk.list(statuses=["open", "pending"])),
        ("tickets: list, search text", lambda: tk.list(q="visitor12")),
        ("tickets: search (API, 100)", lambda: tk.search()),
        ("health report (uncached)", lambda: rt.health._compute()),
        ("outbox backlog (pending_summary)", lambda: rt.worker.status()),
        ("metrics: /metrics collection (gauges + counters)", rt.metrics.exposition),
        ("queue: pending_sessions", chat.view.pending_sessions),
        ("operator_status", chat.view.operator_status),
        ("visitor_poll: bot", poller(State.BOT)),
        ("visitor_poll: waiting (position + wait)", poller(State.WAITING)),
        ("visitor_poll: live", poller(State.LIVE)),
        ("visitor_poll: closed", poller(State.CLOSED)),
        ("visitor_poll: closed a year ago", old_poller()),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="messages in the store")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument(
        "--database-url", default="", help="a PostgreSQL database, generated when empty (default: cached SQLite)"
    )
    ap.add_argument("--cache-dir", default=str(Path(tempfile.gettempdir()) / "sportello-store-scale"))
    ap.add_argument("--fresh", action="store_true", help="regenerate the cached SQLite store")
    ap.add_argument("--only", default="", help="time only the queries whose name contains this")
    ap.add_argument(
        "--store",
        default="",
        help="time this SQLite file as it is (a store generated before: the migrations bring it to head), in place",
    )
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="store-scale-"))
    try:
        if args.store:
            url = f"sqlite:///{Path(args.store).resolve()}"
        elif args.database_url:
            url = args.database_url
            if generated(url):
                print(f"using the store generated before in {url.rsplit('@', 1)[-1]}", flush=True)
            else:
                print(f"generating {args.rows:,} messages in {url.rsplit('@', 1)[-1]} ...", flush=True)
                print(build(url, args.rows), flush=True)
        else:
            cache = Path(args.cache_dir)
            cache.mkdir(parents=True, exist_ok=True)
            cached = cache / f"store-{args.rows}-{schema_key()}.db"
            if args.fresh or not cached.exists():
                for old in cache.glob(f"store-{args.rows}-*.db*"):
                    old.unlink()
                tmp = cache / f"building-{args.rows}.db"
                for p in cache.glob(f"building-{args.rows}.db*"):
                    p.unlink()
                print(f"generating {args.rows:,} messages in {cached} ...", flush=True)
                print(build(f"sqlite:///{tmp}", args.rows), flush=True)
                tmp.rename(cached)
            else:
                print(f"using the cached store {cached}", flush=True)
            db = work / "sportello.db"
            shutil.copyfile(cached, db)
            url = f"sqlite:///{db}"

        settings = Settings.from_env({"DATA_DIR": str(work), "DATABASE_URL": url, "QUEUE_TIMEOUT_S": "3600"})
        rt = Runtime(settings, answerer=BenchAnswerer())
        try:
            now = kv_get(rt.store, NOW_KEY)
            rt.chat.clock = lambda: now
            rt.reports.clock = lambda: now  # today is not settled: its events are read every time
            with rt.store.engine.connect() as conn:
                for name in ("sessions", "messages", "events", "outbox", "tickets"):
                    print(f"  {name:9s} {conn.exec_driver_sql(f'SELECT COUNT(*) FROM {name}').scalar():>10,}")
            print(f"\n{'query':55s} {'wall ms':>8s} {'cpu ms':>8s}  result (medians of {args.runs} runs)")
            for name, fn in queries(rt, now):
                if args.only and args.only not in name:
                    continue
                ms, cpu, out = timed(fn, args.runs)
                print(f"{name:55s} {ms:8.1f} {cpu:8.1f}  {size(out)}", flush=True)
        finally:
            rt.store.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
