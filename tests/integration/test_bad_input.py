"""Bad input gets a clear 4xx JSON error and stores nothing."""

from __future__ import annotations

import httpx
import pytest

from testkit.support import Visitor, read_sheet, wait_until

pytestmark = pytest.mark.both_databases  # every test runs on SQLite and on PostgreSQL

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"], body
    return body["error"]["code"]


def post_msg(v: Visitor, payload, headers=None, session_id=None) -> httpx.Response:
    return v.http.post(
        f"/api/chat/sessions/{session_id or v.session_id}/messages",
        json=payload,
        headers=v.headers if headers is None else headers,
    )


def test_messages_empty_too_long_or_not_text_are_refused_and_nothing_stored(server):
    v = Visitor(server.url)
    before = v.poll()["last_seq"]
    for payload, status, code in [
        ({"text": ""}, 422, "empty_message"),
        ({"text": "   \n "}, 422, "empty_message"),
        ({"text": "x" * 2001}, 422, "message_too_long"),
        ({"text": 42}, 422, "invalid_text"),
        ({}, 422, "invalid_text"),
    ]:
        r = post_msg(v, payload)
        assert r.status_code == status and error_code(r) == code
    r = v.http.post(f"/api/chat/sessions/{v.session_id}/messages", content=b"{not json", headers=v.headers)
    assert r.status_code == 422 and error_code(r) == "invalid_json"
    assert v.poll()["last_seq"] == before  # nothing stored
    assert v.say("x" * 2000)["messages"][0]["text"] == "x" * 2000  # the limit itself is fine


def test_unknown_session_and_bad_tokens(server):
    v = Visitor(server.url)
    other = Visitor(server.url)
    r = post_msg(v, {"text": "ciao"}, session_id="0" * 32)
    assert r.status_code == 404 and error_code(r) == "unknown_session"
    r = post_msg(v, {"text": "ciao"}, headers={"X-Session-Token": "wrong"})
    assert r.status_code == 403 and error_code(r) == "bad_session_token"
    r = post_msg(v, {"text": "ciao"}, headers={})
    assert r.status_code == 401 and error_code(r) == "missing_session_token"
    # A visitor can read only its own session.
    r = v.http.get(f"/api/chat/sessions/{other.session_id}/messages", headers=v.headers)
    assert r.status_code == 403
    r = v.http.post(f"/api/chat/sessions/{other.session_id}/operator", json={"accept": True}, headers=v.headers)
    assert r.status_code == 403
    assert other.poll()["status"] == "bot"


def test_invalid_contact_and_wrong_state(server):
    v = Visitor(server.url)
    r = v.http.post(
        f"/api/chat/sessions/{v.session_id}/contact", json={"method": "email", "value": "a@b.it"}, headers=v.headers
    )
    assert r.status_code == 409 and error_code(r) == "wrong_state"
    v.say(HARD)
    v.accept(True)  # nobody online
    for method, value, code in [
        ("email", "anna@", "invalid_email"),
        ("email", "anna example.org", "invalid_email"),
        ("email", '=HYPERLINK("x")@x.it', "invalid_email"),
        ("phone", "12", "invalid_phone"),
        ("phone", "chiamami", "invalid_phone"),
        ("fax", "0612345678", "invalid_method"),
    ]:
        r = v.http.post(
            f"/api/chat/sessions/{v.session_id}/contact", json={"method": method, "value": value}, headers=v.headers
        )
        assert r.status_code == 422 and error_code(r) == code, (method, value, r.text)
    assert v.poll()["status"] == "collecting_contact"
    r = v.http.post(f"/api/chat/sessions/{v.session_id}/operator", json={"accept": "yes"}, headers=v.headers)
    assert r.status_code == 422


def test_invalid_language(server):
    r = httpx.post(server.url + "/api/chat/sessions", json={"language": "fr"})
    assert r.status_code == 422 and error_code(r) == "invalid_language"


def test_operator_auth_is_required(server):
    r = httpx.get(server.url + "/api/operators", params={"action": "status"})
    assert r.status_code == 401 and error_code(r) == "missing_token"
    r = httpx.get(server.url + "/api/operators", params={"action": "status"}, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and error_code(r) == "invalid_token"
    r = httpx.get(server.url + "/api/tickets", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401
    r = httpx.post(server.url + "/api/auth/login", json={"username": "mario", "password": "wrong-password"})
    assert r.status_code == 401 and error_code(r) == "bad_credentials"
    r = httpx.post(server.url + "/api/auth/login", json={"username": "nobody", "password": "password123"})
    assert r.status_code == 401 and error_code(r) == "bad_credentials"


def test_operator_wrong_state_and_bad_actions(server, mario, lucia):
    mario.online()
    v = Visitor(server.url)
    mario.send(v.session_id, "ciao", expect=409)  # not live
    mario.release(v.session_id, expect=409)
    mario.take(v.session_id, expect=409)  # not waiting
    v.say(HARD)
    v.accept()
    mario.take(v.session_id)
    r = lucia.post("send_message", {"session_id": v.session_id, "text": "sono Lucia"}, expect=409)
    assert r["error"]["code"] == "not_your_chat"
    lucia.release(v.session_id, expect=409)
    assert mario.post("send_message", {"session_id": v.session_id, "text": ""}, expect=422)["error"]["code"] == (
        "empty_message"
    )
    mario.send(v.session_id, "x" * 2001, expect=422)
    mario.take("f" * 32, expect=404)
    assert mario.post("take_chat", {}, expect=422)["error"]["code"] == "missing_session_id"
    assert mario.get("nonsense", expect=404)["error"]["code"] == "unknown_action"
    assert mario.post("set_status", {"status": "busy"}, expect=422)["error"]["code"] == "invalid_status"
    r = mario.http.patch("/api/tickets/99999", json={"status": "closed"})
    assert r.status_code == 404
    # Nothing above touched the chat: still live with Mario, only the handover line added.
    snap = mario.get("chat_messages", session_id=v.session_id)
    assert snap["status"] == "live" and snap["operator_name"] == "Mario"
    assert [m["role"] for m in snap["messages"]][-1] == "system"


def test_ticket_follow_up(server, mario):
    v = Visitor(server.url)
    v.say(HARD)
    v.accept()
    ticket = v.contact("phone", "+39 06 1234567")["ticket"]
    r = mario.http.patch(f"/api/tickets/{ticket['id']}", json={"status": "pending", "note": "richiamato"})
    assert r.status_code == 200, r.text
    t = r.json()["ticket"]
    assert t["status"] == "pending" and "Mario Rossi: richiamato" in t["notes"]
    r = mario.http.patch(f"/api/tickets/{ticket['id']}", json={"status": "done"})
    assert r.status_code == 422
    assert mario.http.get("/api/tickets", params={"status": "pending"}).json()["tickets"][0]["id"] == ticket["id"]
    rows = wait_until(
        lambda: [
            r
            for r in read_sheet(server.data_dir, "Ticket")
            if r["id"] == str(ticket["id"]) and r["status"] == "pending"
        ]
    )
    assert len(rows) == 1  # the Ticket worksheet keeps one row per ticket, kept current
    assert rows[0]["contact_info"] == "'+39061234567"  # a leading + would be a formula: escaped


def test_visitor_text_never_becomes_a_formula_in_the_sheet(server):
    v = Visitor(server.url, user_agent="=cmd|' /C calc'!A0")
    for text in ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)"]:
        v.say(text)
    rows = wait_until(
        lambda: (
            (r := [x for x in read_sheet(server.data_dir, "Conversazioni") if x["session_id"] == v.session_id])
            and len(r) >= 4
            and r
        )
    )
    assert [r["user_message"] for r in rows] == ['\'=HYPERLINK("http://evil","x")', "'+1+1", "'-2+3", "'@SUM(A1)"]
    assert all(r["user_agent"] == "'=cmd|' /C calc'!A0" for r in rows)
