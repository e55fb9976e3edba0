"""CSV injection (OWASP): no cell, and no line inside a cell, starts a formula;
line breaks never split a row; reading a file back gives the cells exactly.

Covers `safe_cell` (sinks/layout.py), the CSV sink (sinks/sheets.py: appends and
the ticket upserts that rewrite the file) and the dashboard's CSV exports
(services/conversation_log.py `csv_bytes`, services/tickets.py `TicketService.export_csv`).
"""

from __future__ import annotations

import csv
import io

import pytest

from sportello.services.conversation_log import csv_bytes
from sportello.services.tickets import EXPORT_COLUMNS, TicketService
from sportello.sinks.layout import CONVERSATION_HEADER, CONVERSATIONS, TICKET_HEADER, TICKETS, safe_cell
from sportello.sinks.sheets import CsvSink, SheetRow

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
HOSTILE = [
    "ciao\r=1+2\r@SUM(1)",
    "a\r\n-2+3\r\n\t=4",
    "riga\n+cmd|' /C calc'!A0",
    "\t=1",
    "\r=1",
    "\n=1",
    '=HYPERLINK("http://evil","x")',
    'x "quoted"\r=y',
    "ok\x00=nul",
]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "\n'=1"),  # a CR is a line break (normalised to LF)
        ("ciao\r=1+2\r@SUM(1)", "ciao\n'=1+2\n'@SUM(1)"),
        ("a\r\n-2\r\nb", "a\n'-2\nb"),
        ("riga\n+x", "riga\n'+x"),
        ("x\t@y", "x\t@y"),  # a formula char after a TAB inside a line is text
        ("ok\x00=nul", "ok=nul"),
        ("ciao", "ciao"),
        ("[HH:MM] Utente: ciao\n[HH:MM] Mario: -1", "[HH:MM] Utente: ciao\n[HH:MM] Mario: -1"),
        (None, ""),
        (3, "3"),
        (-3, "'-3"),
    ],
)
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


def test_safe_cell_is_idempotent():
    for text in HOSTILE:
        once = safe_cell(text)
        assert safe_cell(once) == once


def assert_safe_file(text: str) -> None:
    assert "\r" not in text
    for line in text.split("\n"):
        assert not line.startswith(TRIGGERS), repr(line)


def sink_rows(start: int, worksheet: str, op: str, values: list[list], keys: list[str] | None = None):
    return [
        SheetRow(
            id=start + i,
            event_id=f"ev{start + i}",
            worksheet=worksheet,
            op=op,
            row_key=(keys[i] if keys else f"ev{start + i}"),
            values=v,
        )
        for i, v in enumerate(values)
    ]


def test_csv_sink_appends_one_row_per_event_and_reads_back_exactly(tmp_path):
    sink = CsvSink(tmp_path)
    values = [["2025-03-10T10:00:00Z", "s1", text, "r\rx", "intent", "ua\r=1"] for text in HOSTILE]
    sink.write(sink_rows(1, CONVERSATIONS, "append", values))
    # A second sink (a restart) reads the event ids back and writes nothing twice.
    CsvSink(tmp_path).write(sink_rows(1, CONVERSATIONS, "append", values))
    back = sink.read(CONVERSATIONS)
    assert [r["user_message"] for r in back] == [safe_cell(t) for t in HOSTILE]
    assert [r["event_id"] for r in back] == [f"ev{i}" for i in range(1, len(HOSTILE) + 1)]
    assert {r["bot_reply"] for r in back} == {"r\nx"} and {r["user_agent"] for r in back} == {"ua\n'=1"}
    text = sink.path(CONVERSATIONS).read_bytes().decode("utf-8")
    assert_safe_file(text)
    assert list(csv.reader(io.StringIO(text, newline="")))[0] == CONVERSATION_HEADER + ["event_id"]


def ticket(tid: int, status: str, question: str) -> list:
    row = [""] * len(TICKET_HEADER)
    row[0], row[1], row[2], row[6], row[7] = tid, "s", status, question, f"[10:00] Utente: {question}"
    return row


def test_csv_sink_ticket_upserts_keep_one_row_per_ticket(tmp_path):
    sink = CsvSink(tmp_path)
    n = 0
    for status in ("open", "pending", "open", "resolved", "closed"):
        for tid, question in enumerate(HOSTILE, start=1):
            n += 1
            sink.write(sink_rows(n, TICKETS, "upsert", [ticket(tid, status, question)], keys=[str(tid)]))
    back = sink.read(TICKETS)
    assert [r["id"] for r in back] == [str(i) for i in range(1, len(HOSTILE) + 1)]
    assert {r["status"] for r in back} == {"closed"}
    assert [r["original_question"] for r in back] == [safe_cell(t) for t in HOSTILE]
    text = sink.path(TICKETS).read_bytes().decode("utf-8")
    assert_safe_file(text)
    for tid in range(1, len(HOSTILE) + 1):
        assert len([line for line in text.split("\n") if line.startswith(f"{tid},")]) == 1


def test_csv_sink_appends_new_tickets_and_rewrites_only_for_a_change(tmp_path):
    """New tickets are appended (the file is not rewritten: same inode); a changed ticket rewrites it; a file
    changed by someone else since (another process, an editor) is read again, never appended to blindly."""
    sink = CsvSink(tmp_path)
    path = sink.path(TICKETS)
    sink.write(sink_rows(1, TICKETS, "upsert", [ticket(1, "open", "a")], keys=["1"]))
    inode = path.stat().st_ino
    sink.write(sink_rows(2, TICKETS, "upsert", [ticket(2, "open", "b"), ticket(3, "open", "c")], keys=["2", "3"]))
    assert path.stat().st_ino == inode  # appended
    sink.write(sink_rows(4, TICKETS, "upsert", [ticket(2, "closed", "b")], keys=["2"]))
    assert path.stat().st_ino != inode  # a change: rewritten in one step
    assert [(r["id"], r["status"]) for r in sink.read(TICKETS)] == [("1", "open"), ("2", "closed"), ("3", "open")]
    # Someone else rewrote the file meanwhile (ticket 3 changed): this sink reads it again before writing.
    other = CsvSink(tmp_path)
    other.write(sink_rows(5, TICKETS, "upsert", [ticket(3, "resolved", "c")], keys=["3"]))
    sink.write(sink_rows(6, TICKETS, "upsert", [ticket(3, "closed", "c"), ticket(4, "open", "d")], keys=["3", "4"]))
    back = [(r["id"], r["status"]) for r in sink.read(TICKETS)]
    assert back == [("1", "open"), ("2", "closed"), ("3", "closed"), ("4", "open")]
    # A restart (a new sink) knows nothing yet: it reads the file, then appends again.
    CsvSink(tmp_path).write(sink_rows(7, TICKETS, "upsert", [ticket(5, "open", "e")], keys=["5"]))
    assert [r["id"] for r in sink.read(TICKETS)] == ["1", "2", "3", "4", "5"]


def test_dashboard_exports_are_formula_safe_and_read_back_exactly():
    rows = [dict.fromkeys(CONVERSATION_HEADER, text) for text in HOSTILE]
    data = csv_bytes(CONVERSATION_HEADER, rows).decode("utf-8-sig")
    assert_safe_file(data)
    back = list(csv.DictReader(io.StringIO(data, newline="")))
    assert [r["user_message"] for r in back] == [safe_cell(t) for t in HOSTILE]

    tickets = [dict.fromkeys(EXPORT_COLUMNS, text) | {"id": i} for i, text in enumerate(HOSTILE, start=1)]
    data = TicketService.export_csv(tickets).decode("utf-8-sig")
    assert_safe_file(data)
    back = list(csv.DictReader(io.StringIO(data, newline="")))
    assert [r["id"] for r in back] == [str(i) for i in range(1, len(HOSTILE) + 1)]
    assert [r[EXPORT_COLUMNS[1]] for r in back] == [safe_cell(t) for t in HOSTILE]


def legacy_ticket_file(tmp_path, body: str):
    """A Ticket.csv as the CSV sink wrote it before line endings were normalised."""
    sink = CsvSink(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    sink.path(TICKETS).write_bytes((",".join(TICKET_HEADER) + "\n" + body).encode("utf-8"))
    return sink


def test_an_old_ticket_file_with_bare_crs_is_repaired_on_the_next_upsert(tmp_path):
    rest = ",".join([""] * (len(TICKET_HEADER) - 7))
    sink = legacy_ticket_file(tmp_path, f"1,s,open,email,a@b.it,,ciao\r=1+2\r@SUM(1),{rest}\n")
    sink.write(sink_rows(1, TICKETS, "upsert", [ticket(2, "open", "altro")], keys=["2"]))
    back = sink.read(TICKETS)
    assert [(r["id"], r["status"]) for r in back] == [("1", "open"), ("2", "open")]
    assert back[0]["original_question"] == "ciao\n'=1+2\n'@SUM(1)"
    assert_safe_file(sink.path(TICKETS).read_bytes().decode("utf-8"))


def test_orphan_pieces_left_by_an_old_rewrite_are_dropped(tmp_path):
    rest = ",".join([""] * (len(TICKET_HEADER) - 7))
    # An earlier rewrite had split ticket 1 at its CRs into three lines.
    sink = legacy_ticket_file(tmp_path, f"1,s,open,email,a@b.it,,ciao\n'=1+2\n'@SUM(1),{rest}\n")
    sink.write(sink_rows(1, TICKETS, "upsert", [ticket(1, "closed", "ciao\r=1+2\r@SUM(1)")], keys=["1"]))
    back = sink.read(TICKETS)
    assert [(r["id"], r["status"]) for r in back] == [("1", "closed")]
    assert back[0]["original_question"] == "ciao\n'=1+2\n'@SUM(1)"
