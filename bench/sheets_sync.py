"""Rows per minute into Google Sheets: the seed's way vs the outbox, under quota.

Runs in one process against the local Sheets v4 stand-in
(testkit/sheets_standin.py) enforcing Google's per-user write quota, 60 write
requests per minute, with a realistic per-request latency (100-300 ms).

- The seed's way: each chat message calls `worksheet.append_row(row)` in the
  chat handler (several visitors at once); a refused request (429) is a lost
  row, and the visitor waits for the request.
- The outbox way: the same stream of messages is in the outbox (as the chat
  commits them); the worker sends them with one `append_rows` per batch
  through `sportello.sinks.google_sheets.GoogleSheetsSink`, and the chat's own latency
  (`ChatService.visitor_message`) is measured while that backlog drains, and
  without it.

To finish in a couple of minutes the quota window is scaled: by default one
"minute" lasts 6 s (60 writes per 6 s). Per-minute figures are per simulated
minute; the request latency is NOT scaled, which handicaps the outbox (it
sends requests one after the other, so latency bounds it, not the quota).

    python bench/sheets_sync.py [--window 6] [--messages 30000] [--batch 500]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gspread  # noqa: E402
from gspread.exceptions import APIError  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from sportello.config import Settings  # noqa: E402
from sportello.runtime import Runtime  # noqa: E402
from sportello.sinks.google_sheets import GoogleSheetsSink, _RedirectSession  # noqa: E402
from sportello.sinks.layout import CONVERSATION_HEADER, CONVERSATIONS, HEADERS, safe_cell  # noqa: E402
from sportello.store.outbox import backlog, enqueue  # noqa: E402
from sportello.store.tables import outbox  # noqa: E402
from testkit.sheets_standin import SheetsStandIn  # noqa: E402

QUESTIONS = [
    "Quanto costa il biglietto?",
    "What time do you open on Sunday?",
    "C'è un guardaroba?",
    "Can I bring my dog?",
    "=SUM(A1:A9) is this a formula?",
]


def stream(n: int, sessions: int = 400) -> list[list[str]]:
    """The same stream of "Conversazioni" rows for both ways."""
    sids = [uuid.uuid4().hex for _ in range(sessions)]
    return [
        [
            f"2025-05-01T10:{(i // 60) % 60:02d}:{i % 60:02d}Z",
            sids[i % sessions],
            QUESTIONS[i % len(QUESTIONS)],
            f"Risposta numero {i} con qualche dettaglio in più per essere realistica.",
            "faq",
            "Mozilla/5.0 (bench)",
        ]
        for i in range(n)
    ]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def ms(values: list[float]) -> str:
    return (
        f"p50 {pct(values, 50) * 1000:7.1f} ms  p95 {pct(values, 95) * 1000:7.1f} ms  max {max(values) * 1000:7.1f} ms"
    )


def seed_way(standin: SheetsStandIn, sheet_id: str, rows: list[list[str]], visitors: int, seconds: float) -> dict:
    """One append_row per message, from `visitors` concurrent chat handlers."""
    client = gspread.Client(auth=None, session=_RedirectSession(standin.url))
    ws = client.open_by_key(sheet_id).worksheet(CONVERSATIONS)
    lock = threading.Lock()
    it = iter(rows)
    written, lost, latencies = 0, 0, []
    deadline = time.monotonic() + seconds

    def visitor():
        nonlocal written, lost
        while time.monotonic() < deadline:
            with lock:
                row = next(it, None)
            if row is None:
                return
            t0 = time.monotonic()
            try:
                ws.append_row([safe_cell(c) for c in row], value_input_option="RAW")
                ok = True
            except APIError:
                ok = False  # the seed logged the error and went on: the row is lost
            dt = time.monotonic() - t0
            with lock:
                latencies.append(dt)
                written += ok
                lost += not ok

    t0 = time.monotonic()
    threads = [threading.Thread(target=visitor) for _ in range(visitors)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"written": written, "lost": lost, "elapsed": time.monotonic() - t0, "latencies": latencies}


def chat_latencies(runtime: Runtime, n: int, stop: threading.Event | None = None) -> list[float]:
    """The chat's own latency: `visitor_message` on fresh sessions, answered by the assistant."""
    service = runtime.chat
    out: list[float] = []
    session = None
    for i in range(n):
        if stop is not None and stop.is_set():
            break
        if i % 5 == 0:
            session = service.start_session("it", "bench")
        t0 = time.perf_counter()
        service.visitor_message(session["session_id"], session["token"], QUESTIONS[i % 4])
        out.append(time.perf_counter() - t0)
        time.sleep(0.02)
    return out


def outbox_way(standin: SheetsStandIn, sheet_id: str, rows: list[list[str]], args) -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix="sportello-bench-"))
    settings = Settings.from_env({"DATA_DIR": str(data_dir), "OUTBOX_BATCH_SIZE": str(args.batch)})
    sink = GoogleSheetsSink(sheet_id, api_url=standin.url, writes_per_window=args.quota, window_s=args.window)
    runtime = Runtime(settings, sink=sink)
    idle = chat_latencies(runtime, args.chat_messages)  # the worker is not running: no backlog drains
    with runtime.store.write() as conn:
        for row in rows:
            enqueue(conn, CONVERSATIONS, row, session_id=row[1])
        last_id = conn.execute(select(func.max(outbox.c.id))).scalar_one()
    queued = backlog(runtime.store)

    def stream_pending() -> int:
        with runtime.store.read() as conn:
            return conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.status == "pending", outbox.c.id <= last_id)
            ).scalar_one()

    writes_before = len(standin.writes())
    t0 = time.monotonic()
    runtime.worker.start()
    stop = threading.Event()
    busy: list[float] = []
    chatter = threading.Thread(target=lambda: busy.extend(chat_latencies(runtime, 10**9, stop)))
    chatter.start()
    while stream_pending() > 0:
        time.sleep(0.02)
    elapsed = time.monotonic() - t0
    stop.set()
    chatter.join()
    # the rows the chat added meanwhile are sent too
    while backlog(runtime.store) > 0:
        time.sleep(0.02)
    runtime.worker.stop()
    sent = runtime.worker.sent_total
    status = runtime.worker.status()
    runtime.store.dispose()
    return {
        "queued": queued,
        "sent": sent,
        "elapsed": elapsed,
        "write_requests": len(standin.writes()) - writes_before,
        "batches": status["batches_total"],
        "failures": status["last_error"],
        "idle": idle,
        "busy": busy,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--window", type=float, default=6.0, help="seconds in a simulated quota minute (default 6)")
    parser.add_argument("--quota", type=int, default=60, help="write requests per simulated minute (default 60)")
    parser.add_argument("--latency", type=float, nargs=2, default=(0.1, 0.3), help="request latency range, s")
    parser.add_argument("--messages", type=int, default=30000, help="messages in the stream (default 30000)")
    parser.add_argument("--batch", type=int, default=500, help="outbox batch size (OUTBOX_BATCH_SIZE)")
    parser.add_argument("--visitors", type=int, default=8, help="concurrent chats, seed's way (default 8)")
    parser.add_argument("--seed-minutes", type=float, default=2.0, help="simulated minutes for the seed's way")
    parser.add_argument("--chat-messages", type=int, default=100, help="chat messages for the idle latency")
    args = parser.parse_args(argv)

    rows = stream(args.messages)
    print(
        f"Sheets stand-in: {args.quota} write requests per {args.window:g} s simulated minute, "
        f"latency {args.latency[0] * 1000:.0f}-{args.latency[1] * 1000:.0f} ms per request (real time, not scaled)"
    )
    print(f"stream: {len(rows)} 'Conversazioni' rows from 400 sessions\n")

    with SheetsStandIn(write_quota=args.quota, window_s=args.window, latency_s=tuple(args.latency)) as standin:
        sheet = {CONVERSATIONS: [HEADERS[CONVERSATIONS]]}
        standin.add_spreadsheet("seed", sheets={CONVERSATIONS: [CONVERSATION_HEADER]})
        standin.add_spreadsheet("outbox", sheets=sheet)

        seed = seed_way(standin, "seed", rows, args.visitors, args.seed_minutes * args.window)
        seed_minutes = seed["elapsed"] / args.window
        seed_rate = seed["written"] / seed_minutes
        in_sheet = len(standin.values("seed", CONVERSATIONS)) - 1
        print("SEED'S WAY: one append_row per message, in the chat handler")
        print(f"  {args.visitors} concurrent chats for {seed_minutes:.1f} simulated minutes ({seed['elapsed']:.1f} s)")
        print(f"  rows written:  {seed['written']} (in the sheet: {in_sheet})")
        print(f"  rows LOST (429 refused, never retried): {seed['lost']}")
        print(f"  rows per simulated minute: {seed_rate:,.0f}")
        print(f"  chat latency (the visitor waits for Sheets): {ms(seed['latencies'])}\n")

        time.sleep(args.window)  # a fresh quota window for the outbox
        out = outbox_way(standin, "outbox", rows, args)
        out_minutes = out["elapsed"] / args.window
        out_rate = out["queued"] / out_minutes
        in_sheet = standin.values("outbox", CONVERSATIONS)[1:]
        ids = [r[6] for r in in_sheet]
        print("OUTBOX WAY: durable outbox, one append_rows per batch, client-side limiter, backoff")
        print(
            f"  backlog of {out['queued']} rows drained in {out_minutes:.1f} simulated minutes ({out['elapsed']:.1f} s)"
        )
        print(
            f"  write requests: {out['write_requests']} for {out['sent']} rows "
            f"({out['sent'] / max(out['write_requests'], 1):.0f} rows per request), {out['batches']} batches"
        )
        print(f"  rows in the sheet: {len(in_sheet)}, duplicates: {len(ids) - len(set(ids))}, lost: 0")
        print(f"  rows per simulated minute: {out_rate:,.0f}")
        print(f"  chat latency, worker idle:           {ms(out['idle'])}  ({len(out['idle'])} messages)")
        print(f"  chat latency, while backlog drains:  {ms(out['busy'])}  ({len(out['busy'])} messages)")
        print(f"  last sink error: {out['failures'] or 'none'}\n")

        print(f"RATIO outbox / seed: {out_rate / seed_rate:,.0f}x rows per minute")
        print(
            f"(per simulated minute of {args.window:g} s; with Google's real 60 s minute the latency no longer "
            f"bounds the outbox: {args.quota} requests x {args.batch} rows = {args.quota * args.batch:,} rows/min max)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
