"""Hostile input over HTTP: formula injection through line breaks, malformed
bodies and fields, oversized bodies. Every answer is a 4xx JSON error, never a
plain-text 500, and nothing a visitor types plants a formula in the sheets."""

from __future__ import annotations

import csv
import io
import time

import httpx
import pytest

from testkit.support import Visitor, read_sheet, wait_until

pytestmark = pytest.mark.both_databases  # every test runs on SQLite and on PostgreSQL

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def error_code(response: httpx.Response, status: int | None = None) -> str:
    assert response.headers["content-type"].startswith("application/json"), (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"], body
    if status is not None:
        assert response.status_code == status, (response.status_code, body)
    assert 400 <= response.status_code < 500, (response.status_code, body)
    return body["error"]["code"]


def sheet_text(server, worksheet: str) -> str:
    return (server.data_dir / "sheets" / f"{worksheet}.csv").read_bytes().decode("utf-8")


def assert_no_formula_line(text: str) -> None:
    """A naive reader (split on any line break) never sees a line that starts a formula."""
    assert "\r" not in text
    for line in text.split("\n"):
        assert not line.startswith(TRIGGERS), repr(line)


# ---------------------------------------------------------------- (1) CSV / formula safety
def test_line_breaks_in_chat_text_plant_no_formula_rows_in_conversazioni(server):
    v = Visitor(server.url, user_agent="ua\r=2+3")
    texts = ["ciao\r=1+2\r@SUM(1)", "riga\n+cmd|' /C calc'!A0", "a\r\n-2+3\r\n\t=4", "x\t@y"]
    for text in texts:
        v.say(text)
    rows = wait_until(
        lambda: (
            (r := [x for x in read_sheet(server.data_dir, "Conversazioni") if x["session_id"] == v.session_id])
            and len(r) >= len(texts)
            and r
        )
    )
    # Read back with the csv module: one row per message, the text exact but for the escaping.
    assert [r["user_message"] for r in rows] == [
        "ciao\n'=1+2\n'@SUM(1)",
        "riga\n'+cmd|' /C calc'!A0",
        "a\n'-2+3\n'\t=4",
        "x\t@y",
    ]
    assert {r["user_agent"] for r in rows} == {"ua\n'=2+3"}
    text = sheet_text(server, "Conversazioni")
    assert_no_formula_line(text)
    for row in csv.reader(io.StringIO(text, newline="")):
        assert len(row) == 7, row
        assert not any(cell.startswith(TRIGGERS) for cell in row), row


def test_a_ticket_with_line_breaks_stays_one_row_with_its_final_status(server, mario):
    v = Visitor(server.url)
    v.say(HARD + "\r=1+2\r@SUM(1)")
    v.accept(True)  # nobody online: a contact form
    ticket = v.contact("email", "anna@example.org")["ticket"]
    other = Visitor(server.url)
    other.say("domanda\r-1")
    other.accept(True)
    ticket2 = other.contact("phone", "+39 06 1234567")["ticket"]
    for status, note in [("pending", "nota\r=HYPERLINK(1)"), ("open", "x\r\n@y"), ("closed", "fine\r+z")]:
        r = mario.http.patch(f"/api/tickets/{ticket['id']}", json={"status": status, "note": note})
        assert r.status_code == 200, r.text
    r = mario.http.patch(f"/api/tickets/{ticket2['id']}", json={"status": "resolved"})
    assert r.status_code == 200, r.text

    def final():
        rows = read_sheet(server.data_dir, "Ticket")
        by_id = {r["id"]: r for r in rows}
        done = by_id.get(str(ticket["id"]), {}).get("status") == "closed"
        return done and by_id.get(str(ticket2["id"]), {}).get("status") == "resolved" and rows

    rows = wait_until(final)
    ids = [r["id"] for r in rows]
    assert sorted(ids) == sorted({str(ticket["id"]), str(ticket2["id"])}), ids  # one row per ticket, no orphans
    first = next(r for r in rows if r["id"] == str(ticket["id"]))
    assert first["original_question"] == HARD + "\n'=1+2\n'@SUM(1)"
    text = sheet_text(server, "Ticket")
    assert_no_formula_line(text)
    # The naive reader too: each ticket id starts exactly one physical line, with its final status.
    for tid, status in [(ticket["id"], "closed"), (ticket2["id"], "resolved")]:
        lines = [line for line in text.split("\n") if line.startswith(f"{tid},")]
        assert len(lines) == 1 and f",{status}," in lines[0], lines


def test_the_google_sink_gets_the_same_safe_cells(data_dir):
    """Google Sheets (RAW input) receives exactly what the CSV sink writes: `safe_cell`."""
    from testkit.inprocess import InProcessServer
    from testkit.sheets_standin import SheetsStandIn

    sheet = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-hostile"
    standin = SheetsStandIn().start()
    try:
        standin.add_spreadsheet(sheet)
        env = {"SHEETS_API_URL": standin.url, "SHEET_ID": sheet, "GOOGLE_SERVICE_ACCOUNT_JSON": ""}
        with InProcessServer(data_dir, env=env) as srv:
            v = Visitor(srv.url, user_agent="ua\r=2+3")
            v.say("ciao\r=1+2\r@SUM(1)")
            v.say("x\n\t=1")
            rows = wait_until(
                lambda: (
                    (r := [x for x in standin.records(sheet, "Conversazioni") if x["session_id"] == v.session_id])
                    and len(r) >= 2
                    and r
                ),
                timeout=30,
            )
        assert [r["user_message"] for r in rows] == ["ciao\n'=1+2\n'@SUM(1)", "x\n'\t=1"]
        assert {r["user_agent"] for r in rows} == {"ua\n'=2+3"}
    finally:
        standin.stop()


# ---------------------------------------------------------------- (2) malformed input
def test_non_string_fields_are_422_json_errors(server, mario):
    login = httpx.post(server.url + "/api/auth/login", json={"username": 5, "password": "x"})
    assert error_code(login, 422) == "invalid_username"
    login = httpx.post(server.url + "/api/auth/login", json={"username": "mario", "password": ["password123"]})
    assert error_code(login, 422) == "invalid_password"
    r = httpx.post(server.url + "/api/chat/sessions", json={"language": 5})
    assert error_code(r, 422) == "invalid_language"
    r = httpx.post(server.url + "/api/chat/sessions", json={"language": ["it"]})
    assert error_code(r, 422) == "invalid_language"
    v = Visitor(server.url)
    for payload in [{"text": 5}, {"text": ["ciao"]}, {"text": {"a": "b"}}, {"text": None}, {"text": True}]:
        r = v.http.post(f"/api/chat/sessions/{v.session_id}/messages", json=payload, headers=v.headers)
        assert error_code(r, 422) == "invalid_text"
    r = v.http.post(f"/api/chat/sessions/{v.session_id}/language", json={"language": {"x": 1}}, headers=v.headers)
    assert error_code(r, 422) == "invalid_language"
    v.say(HARD)
    v.accept(True)
    for payload, code in [
        ({"method": 5, "value": "anna@example.org"}, "invalid_method"),
        ({"method": "email", "value": ["anna@example.org"]}, "invalid_email"),
        ({"method": "phone", "value": 3906123456}, "invalid_phone"),
    ]:
        r = v.http.post(f"/api/chat/sessions/{v.session_id}/contact", json=payload, headers=v.headers)
        assert error_code(r, 422) == code, payload
    assert mario.post("set_status", {"status": 5}, expect=422)["error"]["code"] == "invalid_status"
    assert mario.post("set_status", {"status": ["online"]}, expect=422)["error"]["code"] == "invalid_status"
    assert mario.post("take_chat", {"session_id": 5}, expect=422)["error"]["code"] == "missing_session_id"
    ticket = v.contact("email", "anna@example.org")["ticket"]
    for payload, code in [
        ({"status": 5}, "invalid_status"),
        ({"status": ["closed"]}, "invalid_status"),
        ({"note": {"x": 1}}, "invalid_note"),
        ({"assigned_to": "mario"}, "invalid_assigned_to"),
        ({"assigned_to": [1]}, "invalid_assigned_to"),
        ({"assigned_to": True}, "invalid_assigned_to"),
        ({"assigned_to": 99999999999999999999}, "invalid_assigned_to"),
    ]:
        r = mario.http.patch(f"/api/tickets/{ticket['id']}", json=payload)
        assert error_code(r, 422) == code, payload
    r = mario.http.patch(f"/api/tickets/{ticket['id']}", content=b'{"assigned_to": 1e400}', headers=JSON)
    assert error_code(r, 422) == "invalid_assigned_to"


def test_huge_and_negative_integers_are_422_json_errors(server, mario):
    v = Visitor(server.url)
    big = "99999999999999999999"
    r = v.http.get(f"/api/chat/sessions/{v.session_id}/messages", params={"after": big}, headers=v.headers)
    assert error_code(r, 422) == "invalid_after"
    r = v.http.get(f"/api/chat/sessions/{v.session_id}/messages", params={"after": "2147483648"}, headers=v.headers)
    assert error_code(r, 422) == "invalid_after"
    r = v.http.get(f"/api/chat/sessions/{v.session_id}/messages", params={"after": "-1"}, headers=v.headers)
    assert error_code(r, 422) == "invalid_after"
    r = mario.http.get("/api/operators", params={"action": "chat_messages", "session_id": v.session_id, "after": big})
    assert error_code(r, 422) == "invalid_after"
    r = mario.http.get(f"/api/tickets/{big}")
    assert error_code(r, 422) == "invalid_ticket_id"
    r = mario.http.patch(f"/api/tickets/{big}", json={"status": "closed"})
    assert error_code(r, 422) == "invalid_ticket_id"
    for params, code in [
        ({"limit": big}, "invalid_limit"),
        ({"offset": big}, "invalid_offset"),
        ({"limit": "-5"}, "invalid_limit"),
        ({"offset": "-1"}, "invalid_offset"),
        ({"limit": "1e3"}, "invalid_limit"),
    ]:
        r = mario.http.get("/api/tickets", params=params)
        assert error_code(r, 422) == code, params
    # The largest valid values still work.
    assert v.poll(after=2147483647)["messages"] == []
    assert mario.http.get("/api/tickets/2147483647").status_code == 404


JSON = {"Content-Type": "application/json"}


def test_deep_nesting_bad_utf8_and_non_json_content_types_are_json_errors(server, mario):
    v = Visitor(server.url)
    url = f"/api/chat/sessions/{v.session_id}/messages"
    for depth in (1000, 10000):  # the larger one is still under MAX_BODY_BYTES
        for body in ("[" * depth + "]" * depth, '{"text": ' + '{"a":' * depth + "1" + "}" * depth + "}"):
            r = v.http.post(url, content=body.encode(), headers={**v.headers, **JSON})
            assert error_code(r, 422) == "invalid_json", depth
    r = httpx.post(
        server.url + "/api/auth/login", content=b'{"username": "mario\xff\xfe", "password": "x"}', headers=JSON
    )
    assert error_code(r, 422) == "invalid_json"
    r = v.http.post(url, content=b'{"text": "ciao \xc3\x28"}', headers={**v.headers, **JSON})
    assert error_code(r, 422) == "invalid_json"
    # A lone surrogate is valid JSON but not text.
    r = v.http.post(url, content=b'{"text": "ciao \\ud800"}', headers={**v.headers, **JSON})
    assert error_code(r, 422) == "invalid_characters"
    # Bodies that are not declared as JSON: 415, whatever they hold.
    for ctype in ("text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data"):
        r = v.http.post(url, content=b'{"text": "ciao"}', headers={**v.headers, "Content-Type": ctype})
        assert error_code(r, 415) == "unsupported_media_type", ctype
    r = httpx.post(
        server.url + "/api/auth/login",
        content=b'{"username": "mario", "password": "password123"}',
        headers={"Content-Type": "text/plain"},
    )
    assert error_code(r, 415) == "unsupported_media_type"
    # Without a content type the body is still read as JSON (curl --data-binary, old clients).
    r = v.http.post(url, content=b"{not json", headers=v.headers)
    assert error_code(r, 422) == "invalid_json"
    assert v.http.post(url, content=b'{"text": "ciao"}', headers=v.headers).status_code == 200
    assert v.http.post(url, json={"text": "ciao"}, headers={**v.headers}).status_code == 200
    r = v.http.post(
        url, content=b'{"text": "ciao"}', headers={**v.headers, "Content-Type": "application/json; charset=utf-8"}
    )
    assert r.status_code == 200
    # Empty bodies are an empty object whatever the type (heartbeat, logout).
    r = mario.http.post("/api/operators", params={"action": "heartbeat"}, content=b"")
    assert r.status_code == 200, r.text


def test_nul_characters_are_refused_with_a_clear_code(server, mario):
    """In any text: body fields, path and query parameters (PostgreSQL refuses NUL in text: a 500 before)."""
    nul = "ciao\x00mondo"
    mario.online()

    def live_visitor() -> Visitor:
        v = Visitor(server.url)
        v.say(HARD)
        v.accept(True)
        mario.take(v.session_id)
        return v

    def contact() -> httpx.Response:
        v = Visitor(server.url)
        mario.post("set_status", {"status": "away"})
        v.say(HARD)
        v.accept(True)  # nobody available: the contact form
        mario.online()
        body = {"method": "email", "value": "anna\x00@example.org"}
        return v.http.post(f"/api/chat/sessions/{v.session_id}/contact", json=body, headers=v.headers)

    def note() -> httpx.Response:
        v = live_visitor()
        ticket = mario.release(v.session_id)["ticket"]
        return mario.http.patch(f"/api/tickets/{ticket['id']}", json={"note": nul})

    def reason() -> httpx.Response:
        v = live_visitor()
        body = {"session_id": v.session_id, "resolution_reason": nul}
        return mario.http.put("/api/operators", params={"action": "release_chat"}, json=body)

    v = Visitor(server.url)
    cases = {
        "text": lambda: v.http.post(
            f"/api/chat/sessions/{v.session_id}/messages", json={"text": nul}, headers=v.headers
        ),
        "username": lambda: httpx.post(
            server.url + "/api/auth/login", json={"username": "mario\x00", "password": "password123"}
        ),
        "password": lambda: httpx.post(
            server.url + "/api/auth/login", json={"username": "mario", "password": "password123\x00"}
        ),
        "language": lambda: httpx.post(server.url + "/api/chat/sessions", json={"language": "it\x00"}),
        "user_agent": lambda: httpx.post(server.url + "/api/chat/sessions", json={"user_agent": "x\x00"}),
        "field name": lambda: httpx.post(server.url + "/api/chat/sessions", json={"x\x00": "it"}),
        "status": lambda: mario.http.post("/api/operators", params={"action": "set_status"}, json={"status": "on\x00"}),
        "session_id": lambda: mario.http.post(
            "/api/operators", params={"action": "take_chat"}, json={"session_id": "ab\x00cd"}
        ),
        "query": lambda: mario.http.get("/api/tickets", params={"q": nul}),
        "path": lambda: v.http.get("/api/chat/sessions/ab%00cd/messages", headers=v.headers),
        "contact": contact,
        "note": note,
        "reason": reason,
    }
    for where, call in cases.items():
        r = call()
        assert error_code(r, 422) == "invalid_characters", where
        assert "NUL" in r.json()["error"]["message"], where
    assert v.poll()["status"] == "bot"


# ---------------------------------------------------------------- (3) body limits
def test_a_declared_oversized_body_is_refused_before_it_is_read(server):
    v = Visitor(server.url)
    url = f"/api/chat/sessions/{v.session_id}/messages"
    r = v.http.post(url, content=b"x" * (64 * 1024 + 1), headers={**v.headers, **JSON})
    assert error_code(r, 413) == "body_too_large"
    ok = b'{"text": "' + b" " * (64 * 1024 - 20) + b'ciao"}'
    assert len(ok) <= 64 * 1024
    assert v.http.post(url, content=ok, headers={**v.headers, **JSON}).status_code == 200


def test_a_streamed_oversized_body_is_cut_at_the_limit(server):
    """200 MB announced by chunked transfer: the server answers 413 after the
    limit, long before the client could send it all."""
    v = Visitor(server.url)
    before = v.poll()["last_seq"]
    sent = 0
    total = 200 * 1024 * 1024
    chunk = b" " * (64 * 1024)

    def body():
        nonlocal sent
        while sent < total:
            sent += len(chunk)
            yield chunk

    t0 = time.monotonic()
    try:
        r = v.http.post(f"/api/chat/sessions/{v.session_id}/messages", content=body(), headers={**v.headers, **JSON})
    except httpx.HTTPError:
        r = None  # the server may close the connection while the client still writes
    elapsed = time.monotonic() - t0
    if r is not None:
        assert error_code(r, 413) == "body_too_large"
    assert sent < total / 4 and elapsed < 5, (sent, elapsed)
    assert v.poll()["last_seq"] == before
