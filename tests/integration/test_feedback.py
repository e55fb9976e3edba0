"""Satisfaction rating and the operator-typing mark through the REST API (in-process server)."""

from __future__ import annotations

from testkit.support import Visitor, read_sheet, wait_until

HARD = "Posso prenotare una visita privata notturna con il direttore per il mio matrimonio?"


def rate(v: Visitor, body: dict, expect: int) -> dict:
    r = v.http.post(f"/api/chat/sessions/{v.session_id}/rating", json=body, headers=v.headers)
    assert r.status_code == expect, r.text
    return r.json()


def live_chat(server, mario) -> Visitor:
    mario.online()
    v = Visitor(server.url)
    v.say(HARD)
    assert v.accept()["status"] == "waiting"
    mario.take(v.session_id)
    return v


def test_rating_after_release_reaches_ticket_sheet_and_summary(server, mario, data_dir):
    v = live_chat(server, mario)
    rate(v, {"score": 5}, 409)  # still live: nothing to rate yet
    # the operator types: the visitor's poll says so, then the message clears it
    assert v.poll()["operator_typing"] is False
    assert mario.post("typing", {"session_id": v.session_id}) == {"ok": True, "typing_s": 5.0}
    assert v.poll()["operator_typing"] is True
    mario.send(v.session_id, "Certo, le mando i dettagli.")
    assert v.poll()["operator_typing"] is False
    ticket_id = mario.release(v.session_id, "ok")["ticket"]["id"]

    r = v.http.get(f"/api/chat/sessions/{v.session_id}/rating", headers=v.headers).json()
    assert r == {"can_rate": True, "rated": False, "resolved_by": "operator"}
    for bad in ({"score": 0}, {"score": 6}, {"score": "tre"}, {"score": True}, {"score": 4, "comment": "x" * 501}):
        rate(v, bad, 422)
    comment = 'gentile\n=HYPERLINK("http://x")'
    out = rate(v, {"score": 4, "comment": comment}, 200)
    assert out == {"score": 4, "comment": comment, "resolved_by": "operator", "ticket_id": ticket_id}
    again = rate(v, {"score": 1}, 409)
    assert again["error"]["code"] == "already_rated"

    ticket = mario.http.get(f"/api/tickets/{ticket_id}").json()["ticket"]
    assert ticket["rating"] == 4 and ticket["rating_comment"] == comment
    row = wait_until(
        lambda: [r for r in read_sheet(data_dir, "Conversazioni") if r["intent_detected"] == "satisfaction_rating"]
    )[0]
    assert row["bot_reply"] == 'rating 4/5: gentile\n\'=HYPERLINK("http://x")'  # no line is a formula
    assert row["user_agent"] == "Operatore: Mario"
    # another visitor's token cannot rate this session
    other = Visitor(server.url)
    r = other.http.post(f"/api/chat/sessions/{v.session_id}/rating", json={"score": 3}, headers=other.headers)
    assert r.status_code == 403


def test_an_ai_resolved_chat_can_be_rated_and_the_summary_splits_it(server, mario):
    v = Visitor(server.url)
    rate(v, {"score": 5}, 409)  # only the greeting so far
    assert v.say("Quanto costa il biglietto?")["status"] == "bot"
    assert rate(v, {"score": 5, "comment": "veloce"}, 200)["resolved_by"] == "ai"
    w = live_chat(server, mario)
    mario.release(w.session_id, "ok")
    rate(w, {"score": 2}, 200)
    summary = server.runtime.feedback.summary(7)
    assert summary["ai"]["count"] == 1 and summary["ai"]["average"] == 5.0
    assert summary["operator"] == {"count": 1, "average": 2.0, "distribution": {"1": 0, "2": 1, "3": 0, "4": 0, "5": 0}}
    assert summary["all"]["count"] == 2 and summary["all"]["average"] == 3.5
    assert [r["score"] for r in server.runtime.feedback.recent()] == [2, 5]


def test_typing_is_refused_for_a_chat_that_is_not_yours(server, mario, lucia):
    v = live_chat(server, mario)
    r = lucia.http.post("/api/operators", params={"action": "typing"}, json={"session_id": v.session_id})
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_your_chat"


def test_hours_endpoint_says_open_when_no_hours_are_set(server):
    import httpx

    assert httpx.get(server.url + "/api/chat/hours").json() == {"open": True, "back": None}


def test_erasing_a_visitor_blanks_the_rating_comment_and_keeps_the_score(server, mario):
    v = live_chat(server, mario)
    ticket_id = mario.release(v.session_id, "ok")["ticket"]["id"]
    rate(v, {"score": 3, "comment": "Sono Anna Verdi, 333 1234567"}, 200)
    server.runtime.privacy.erase_session(v.session_id)
    ticket = mario.http.get(f"/api/tickets/{ticket_id}").json()["ticket"]
    assert (ticket["rating"], ticket["rating_comment"]) == (3, "")
    assert [(r["score"], r["comment"]) for r in server.runtime.feedback.recent()] == [(3, "")]
    assert server.runtime.feedback.summary(1)["operator"]["count"] == 1
