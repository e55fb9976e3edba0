"""Run the red-team probes: `python3 -m redteam [--only NAME ...] [--list]`.

The probes run in lanes, in parallel: the browser lane (dashboard), the HTTP lane, the host lane (its own
apps), then the heavy probes (huge and slow bodies) once the others are done, so that they do not disturb
them. Exit code: 0 when every probe passed (SKIP counts as passing), 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import traceback

from redteam import dashboard, host, limits, privacy
from redteam.harness import Result, make_context

LANES = [
    # Browser lane: erasure first (an admin labels through the dashboard), then the dashboard probes.
    [
        privacy.erasure_labels,
        privacy.wal_erased,
        dashboard.visitor_markdown,
        dashboard.teach_unreviewed,
        dashboard.undo_by_other,
        dashboard.dashboard_signin_spray,
    ],
    [
        limits.headers,
        privacy.masking,
        limits.username_lockout,
        limits.gradio_500,
        limits.unmetered_writes,
    ],
    [host.startup_hours, host.disk_full],
]
LAST = [limits.slow_bodies, limits.gradio_body_limit]
ALL = [p for lane in LANES for p in lane] + LAST
BUDGET_S = 150  # a hard cap; the suite takes about 60-90 s on an idle 2-core machine


def _run_probe(probe, ctx) -> Result:
    started = time.monotonic()
    try:
        result = probe(ctx)
    except Exception as exc:  # a probe that breaks is a finding not proven fixed
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[0]
        result = Result(probe.__name__, "FAIL", f"probe error: {detail[:200]}")
    result.evidence += f" [{time.monotonic() - started:.1f}s]"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m redteam", description=__doc__)
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this probe (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the probes and exit")
    args = parser.parse_args(argv)
    names = [p.__name__ for p in ALL]
    if args.list:
        print("\n".join(names))
        return 0
    wanted = set(args.only or names)
    unknown = wanted - set(names)
    if unknown:
        parser.error(f"unknown probe(s) {', '.join(sorted(unknown))}; --list shows them")

    started = time.monotonic()
    ctx = make_context()
    results: list[Result] = []
    lock = threading.Lock()

    def lane(probes) -> None:
        for probe in probes:
            if probe.__name__ not in wanted:
                continue
            result = _run_probe(probe, ctx)
            with lock:
                results.append(result)
                print(result.line(), flush=True)

    try:
        threads = [threading.Thread(target=lane, args=(probes,), daemon=True) for probes in LANES]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(1.0, BUDGET_S - (time.monotonic() - started)))
        # The browser lane must be done: Playwright is bound to that thread.
        lane(LAST)
    finally:
        ctx.close()
    done = {r.name for r in results}
    for name in names:
        if name in wanted and name not in done:
            line = Result(name, "FAIL", "did not finish within the suite's time budget").line()
            print(line, flush=True)
            results.append(Result(name, "FAIL", ""))
    failures = [r for r in results if r.status == "FAIL"]
    took = time.monotonic() - started
    print(f"{len(results) - len(failures)} passed, {len(failures)} failed in {took:.0f}s", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
