"""A fault at start-up: an empty or binary knowledge base. The app starts anyway, says so loudly, reports it
in /api/health and hands every question to a person. (A database that cannot be opened:
tests/e2e/test_startup_faults.py, a real `python app.py`.)"""

from __future__ import annotations

import httpx
import pytest

from testkit.inprocess import InProcessServer
from testkit.support import Visitor


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00" * 50])
def test_an_empty_or_binary_knowledge_base_starts_and_escalates_everything(data_dir, content):
    (data_dir / "faq.csv").write_bytes(content)
    with InProcessServer(data_dir) as srv:
        assert "KNOWLEDGE BASE" in srv.log(), srv.log()
        r = httpx.get(srv.url + "/api/health", timeout=10)
        assert r.status_code == 503, r.text
        assert r.json()["failing"] == ["knowledge_base"], r.text
        v = Visitor(srv.url)
        out = v.say("Quanto costa il biglietto?")
        assert out["status"] == "offered" and out["offer_operator"] is True, out
        v.close()
