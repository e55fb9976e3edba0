"""Issue 22's bug list, on the services: ticket notes in local time, ghost operators, the Excel export."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sportello.services.tickets import TicketService
from tests.unit.test_chat_service import queued

ROME = ZoneInfo("Europe/Rome")


def test_a_ticket_note_is_stamped_in_local_time(desk):
    mario = desk.add_operator("mario", "Mario Rossi")
    sid, _ = queued(desk)
    desk.chat.take_chat(mario, sid)
    ticket = desk.chat.release_chat(mario, sid, "risolto")["ticket"]
    desk.clock.now = datetime(2025, 7, 1, 15, 30, tzinfo=ROME).timestamp()  # 13:30 UTC
    tickets = TicketService(desk.store, clock=desk.clock, tz="Europe/Rome")
    tickets.update(ticket["id"], append_note="Richiamare", author="Mario Rossi")
    assert tickets.get(ticket["id"])["notes"] == "[01/07/2025 15:30] Mario Rossi: Richiamare"


def test_presence_follows_the_console_within_a_few_seconds(desk):
    from sportello.config import Settings
    from sportello.faces.dashboard.ui import heartbeat_every_s

    defaults = Settings.from_env({"DATA_DIR": "/tmp/x"})
    assert defaults.heartbeat_timeout_s == 15.0 and heartbeat_every_s(defaults) == 5.0


def test_a_ghost_operator_leaves_no_visitor_waiting_for_nobody(desk):
    """Mario closed the tab without "Esci": once his console is quiet for HEARTBEAT_TIMEOUT_S, the visitor
    waiting for him is asked for a contact at once, not after QUEUE_TIMEOUT_S."""
    desk.add_operator("mario", "Mario Rossi")
    sid, tok = queued(desk)
    desk.clock.advance(desk.settings.heartbeat_timeout_s - 1)
    assert desk.chat.expire_waiting() == 0  # still there
    desk.clock.advance(2)
    assert desk.settings.heartbeat_timeout_s + 1 < desk.settings.queue_timeout_s
    assert desk.chat.expire_waiting() == 1
    snap = desk.chat.view.visitor_poll(sid, tok)
    assert snap["status"] == "collecting_contact"
    assert "non c'è più nessun operatore disponibile" in snap["messages"][-1]["text"]
    assert desk.chat.view.pending_sessions() == []


def test_operators_present_but_busy_keep_the_queue_waiting(desk):
    mario = desk.add_operator("mario", "Mario Rossi", max_chats=1)
    first, _ = queued(desk)
    sid, tok = queued(desk)
    desk.chat.take_chat(mario, first)  # at capacity: the second visitor waits for him
    desk.clock.advance(desk.settings.heartbeat_timeout_s - 1)
    desk.operators.heartbeat(mario)  # his console beats
    desk.clock.advance(desk.settings.heartbeat_timeout_s - 1)
    assert desk.chat.expire_waiting() == 0
    assert desk.chat.view.visitor_poll(sid, tok)["status"] == "waiting"


def test_the_excel_export_is_italian_and_a_masked_phone_shows_no_quote(desk):
    import csv
    import io

    from sportello.services.tickets import mask_contact
    from sportello.sinks.layout import safe_cell

    mario = desk.add_operator("mario", "Mario Rossi")
    desk.clock.now = datetime(2025, 7, 1, 15, 30, tzinfo=ROME).timestamp()
    sid, tok = queued(desk)
    desk.clock.advance(desk.settings.queue_timeout_s)
    desk.operators.heartbeat(mario)
    desk.chat.expire_waiting()
    desk.chat.submit_contact(sid, tok, "phone", "+39 333 123 4567")
    tickets = TicketService(desk.store, tz="Europe/Rome")
    operator_view = tickets.list(viewer={"id": mario, "is_admin": False})
    data = tickets.export_excel(operator_view, "Europe/Rome", {"open": "aperto"}.get)
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0]["status"] == "aperto"
    assert rows[0]["created_at"] == "01/07/2025 15:32:00"  # local time, not 13:32Z
    assert rows[0]["contact_info"] == "0039*******567"  # masked, formula-safe, no visible '
    assert safe_cell(mask_contact("+393331234567")) == mask_contact("+393331234567")
    plain = tickets.export_csv(operator_view).decode("utf-8-sig")
    assert plain.splitlines()[0].startswith("id,status,")  # the plain CSV stays as it was
