"""What one change costs the operators' consoles of a process: each console's version read on its own, or the
consoles sharing one read per change (services/console_versions.py, what GET /api/operators/console does).

    python bench/console_versions.py [--queue 200,1000,2000] [--consoles 4] [--live 20] [--changes 300] [--json]

A SQLite database in a temporary directory with `--queue` chats waiting and `--live` live chats shared by the
`--consoles` operators. A change that is news for the consoles (the feed's `console_news` moves) wakes every
console, which asks for its version: CPU milliseconds per change for all the consoles, the old way (each reads
the queue and digests it: `ChatView.console_version`) and shared (`ConsoleVersions.version`), and reads per
change. The last line (with --json) is one JSON object for the largest queue: {"queue", "consoles",
"own_reads_ms_per_change", "shared_ms_per_change", "reads_per_change"}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sportello.config import Settings  # noqa: E402
from sportello.domain import State  # noqa: E402
from sportello.services.chat_view import ChatView  # noqa: E402
from sportello.services.console_versions import ConsoleVersions  # noqa: E402
from sportello.services.feed import ChangeFeed  # noqa: E402
from sportello.store.database import Store  # noqa: E402
from sportello.store.tables import operators, sessions  # noqa: E402


def fill(store: Store, queue: int, live: int, consoles: int) -> list[int]:
    now = time.time()
    with store.write() as conn:
        ops = [
            conn.execute(
                operators.insert().values(
                    username=f"op{i}",
                    display_name=f"Op {i}",
                    password_hash="x",
                    is_admin=False,
                    active=True,
                    status="online",
                    last_heartbeat=now,
                    max_chats=live,
                    created_at=now,
                )
            ).inserted_primary_key[0]
            for i in range(consoles)
        ]
        rows = [
            {
                "id": uuid.uuid4().hex,
                "token_hash": "x",
                "status": State.WAITING,
                "language": "it",
                "created_at": now,
                "updated_at": now,
                "last_seq": 3,
                "waiting_since": now - queue + i,
            }
            for i in range(queue)
        ] + [
            {
                "id": uuid.uuid4().hex,
                "token_hash": "x",
                "status": State.LIVE,
                "language": "it",
                "created_at": now,
                "updated_at": now,
                "last_seq": 5,
                "waiting_since": now - 600,
                "taken_at": now,
                "operator_id": ops[i % consoles],
            }
            for i in range(live)
        ]
        conn.execute(sessions.insert(), rows)
    return ops


def cpu_ms_per_change(step, changes: int) -> float:
    t0 = time.process_time()
    for _ in range(changes):
        step()
    return (time.process_time() - t0) * 1000 / changes


def measure(queue: int, live: int, consoles: int, changes: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="sportello-consoles-") as tmp:
        settings = Settings.from_env({"DATA_DIR": tmp, "QUEUE_TIMEOUT_S": "100000"})
        store = Store(settings.database_url)
        try:
            ops = fill(store, queue, live, consoles)
            view = ChatView(store, settings)
            feed = ChangeFeed(store)
            shared = ConsoleVersions(view, feed)
            assert all(shared.version(op) == view.console_version(op) for op in ops)  # the same digests

            def own() -> None:
                for op in ops:
                    view.console_version(op)

            def together() -> None:
                feed.notify("a-chat")  # news for the consoles (nobody subscribed: only the count moves)
                for op in ops:
                    shared.version(op)

            own()
            together()
            own_ms = cpu_ms_per_change(own, changes)
            reads = shared.reads
            shared_ms = cpu_ms_per_change(together, changes)
            return {
                "queue": queue,
                "consoles": consoles,
                "own_reads_ms_per_change": round(own_ms, 2),
                "shared_ms_per_change": round(shared_ms, 2),
                "reads_per_change": round((shared.reads - reads) / changes, 2),
            }
        finally:
            store.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queue", default="200,1000,2000", help="comma-separated numbers of chats waiting")
    parser.add_argument("--consoles", type=int, default=4)
    parser.add_argument("--live", type=int, default=20)
    parser.add_argument("--changes", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    print(f"one change woken in {args.consoles} consoles, {args.live} live chats; CPU ms per change")
    print(f"{'queue':>6} {'own reads':>10} {'shared':>8} {'reads/change':>13}")
    last = None
    for queue in [int(x) for x in args.queue.split(",") if x.strip()]:
        last = measure(queue, args.live, args.consoles, args.changes)
        print(
            f"{queue:>6} {last['own_reads_ms_per_change']:>10.2f} {last['shared_ms_per_change']:>8.2f} "
            f"{last['reads_per_change']:>13.2f}"
        )
    if args.json and last:
        print(json.dumps(last))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
