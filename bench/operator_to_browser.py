"""Time from an operator's send to the text being visible in the visitor's browser.

    python bench/operator_to_browser.py [--messages 25]

Starts `python app.py --no-dashboard` with a temporary DATA_DIR, opens the
visitor page in headless chromium (Playwright, Debian's chromium), asks for a
person, lets operator "mario" take the chat through the operator API, then
sends --messages messages at random intervals. A MutationObserver in the page
stamps the moment each message's text enters the DOM; the latency is that
stamp minus the moment just before the operator's HTTP call (same machine,
same clock). Prints p50 / p95 / max.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testkit.browser import chromium  # noqa: E402
from testkit.support import AppServer, Operator, add_operator, wait_until  # noqa: E402

OBSERVER = """
() => {
  window.__seen = {};
  const chat = document.querySelector('#chat');
  const scan = () => {
    for (const m of chat.innerText.matchAll(/\\[bench-(\\d+)\\]/g)) {
      if (!(m[1] in window.__seen)) window.__seen[m[1]] = Date.now();
    }
  };
  new MutationObserver(scan).observe(chat, {subtree: true, childList: true, characterData: true});
}
"""


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=25)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="sportello-o2b-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        add_operator(data_dir, "mario", "Mario Rossi")
        with AppServer(data_dir) as server, chromium() as ctx:
            mario = Operator(server.url, "mario")
            mario.online()
            page = ctx.new_page()
            page.set_extra_http_headers({"Accept-Language": "it-IT,it;q=0.9"})
            page.goto(server.url + "/")
            page.wait_for_selector("#chat .message", timeout=30_000)
            page.locator("#ask-person").click()
            page.wait_for_selector(".sp-phase[data-phase='asking_topic']", state="attached", timeout=10_000)
            page.locator("#msg textarea").fill("Una domanda per il personale")  # what it is about (issue 15)
            page.locator("#send").click()
            session_id = wait_until(lambda: mario.get("pending_sessions")["sessions"])[0]["session_id"]
            mario.take(session_id)
            page.wait_for_function(
                "document.querySelector('#chat').innerText.includes(\"Ora l'assiste\")", timeout=10_000
            )
            page.evaluate(OBSERVER)

            sent: dict[str, float] = {}
            for i in range(args.messages):
                time.sleep(random.uniform(0.2, 1.0))  # random phase against the page's poll
                sent[str(i)] = time.time() * 1000
                mario.send(session_id, f"Messaggio dell'operatore [bench-{i}]")
            page.wait_for_function(f"Object.keys(window.__seen).length >= {args.messages}", timeout=30_000)
            seen = page.evaluate("window.__seen")
            mario.close()

    lat = [(seen[k] - t0) / 1000 for k, t0 in sent.items()]
    print(f"operator send -> visible in the visitor's browser, {len(lat)} messages (poll every 0.5 s):")
    print(f"  p50 {statistics.median(lat):.3f}s  p95 {pct(lat, 95):.3f}s  max {max(lat):.3f}s  min {min(lat):.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
