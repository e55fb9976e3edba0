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
