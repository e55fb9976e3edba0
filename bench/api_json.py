"""What writing a large JSON answer costs the API: FastAPI's `jsonable_encoder` against `json.dumps`
(faces/fast_json.py, `FastJSONRoute`, on the API's main router).

    python bench/api_json.py [--queue 200,1000,2000] [--repeat 20] [--json]

The operators' queue (`GET /api/operators?action=pending_sessions`: one dict of seven fields per waiting chat)
of `--queue` chats, answered by the same endpoint on a route of each kind, through the whole ASGI stack
(Starlette's TestClient, in this process): CPU milliseconds per answer. The last line (with --json) is one
JSON object for the largest queue: {"queue", "fastapi_encoder_ms", "json_dumps_ms"}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi import APIRouter, FastAPI  # noqa: E402
from fastapi.routing import APIRoute  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from sportello.faces.fast_json import FastJSONRoute  # noqa: E402


def queue_of(n: int) -> dict:
    return {
        "sessions": [
            {
                "session_id": f"{i:032x}",
                "original_question": "Posso entrare con il mio cane? Ha bisogno di una ciotola d'acqua.",
                "waiting_since": "2026-12-06T09:30:00+01:00",
                "waiting_s": 123.4,
                "queue_position": i + 1,
                "language": "it",
                "urgent": False,
            }
            for i in range(n)
        ]
    }


def client(route_class, answer: dict) -> TestClient:
    router = APIRouter(route_class=route_class)

    @router.get("/api/operators")
    def operators_get():
        return answer

    app = FastAPI()
    app.include_router(router)
    return TestClient(app)


def cpu_ms(http: TestClient, repeat: int) -> float:
    http.get("/api/operators")
    t0 = time.process_time()
    for _ in range(repeat):
        http.get("/api/operators")
    return (time.process_time() - t0) * 1000 / repeat


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queue", default="200,1000,2000")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    print("the operators' queue as one JSON answer through the ASGI stack: CPU ms per answer")
    print(f"{'queue':>6} {'FastAPI encoder':>16} {'json.dumps':>11}")
    last = None
    for n in [int(x) for x in args.queue.split(",") if x.strip()]:
        answer = queue_of(n)
        plain, fast = client(APIRoute, answer), client(FastJSONRoute, answer)
        assert plain.get("/api/operators").content == fast.get("/api/operators").content  # the same bytes
        last = {
            "queue": n,
            "fastapi_encoder_ms": cpu_ms(plain, args.repeat),
            "json_dumps_ms": cpu_ms(fast, args.repeat),
        }
        print(f"{n:>6} {last['fastapi_encoder_ms']:>16.1f} {last['json_dumps_ms']:>11.1f}")
    if args.json and last:
        print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in last.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
