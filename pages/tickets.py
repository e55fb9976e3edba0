"""Ticket: a list with filters (status, assignee, text) beside the ticket opened (its fields, status,
assignee and a note, the transcript or AI history, notes, the replies by email, the calls back to a phone
ticket, the visitor's other tickets), and the filtered list exported as CSV. The phone tickets to call back
come first, the most overdue first."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from sportello.domain import ContactMethod, DomainError, TicketStatus
from sportello.domain.hours import zone
from sportello.domain.tickets import CallOutcome
from sportello.faces.dashboard import ticket_replies as replies_panel
from sportello.faces.dashboard import ui as ui
from sportello.services.callbacks import by_due

op = ui.require_operator()
rt = ui.runtime()
tickets = rt.tickets
tz = rt.settings.timezone
STATUSES = [s.value for s in TicketStatus]
NOBODY = 0  # the assignee choice "nobody" (operator ids start at 1)

LIST_ROWS = 50  # tickets listed at once; the filters narrow it (the exports hold them all)
ANYONE, ME = "any", "me"  # the assignee filter's choices besides NOBODY and each operator's id

st.title(ui.t("tickets_title"))
ui.show_flash()

names = tickets.operator_names()
f1, f2, f3 = st.columns([2, 1.3, 2], vertical_alignment="bottom")
statuses = f1.multiselect(
    ui.t("status"),
    STATUSES,
    # Resolved too: a chat an operator has just released is a resolved ticket, and it must be in the list.
    default=[TicketStatus.OPEN.value, TicketStatus.PENDING.value, TicketStatus.RESOLVED.value],
    format_func=lambda s: ui.t(f"st_{s}"),
    key="tk_status",
    placeholder=ui.t("choose_many"),
    select_all=False,  # Streamlit's "Select all" is English only
)
who = f2.selectbox(
    ui.t("assigned_to"),
    [ANYONE, ME, NOBODY, *sorted((i for i in names if i != op["id"]), key=lambda i: names[i].lower())],
    format_func=lambda v: {ANYONE: ui.t("anyone"), ME: ui.t("me"), NOBODY: ui.t("nobody")}.get(v) or names.get(v, "—"),
    key="tk_assignee",
)
q = f3.text_input(ui.t("search"), key="tk_q", help=ui.t("search_help"))

# Privacy: contacts in full for admins only (a***@example.org), in the list, the export and the ticket opened;
# the others' search does not match on them (TicketService.for_viewer).
rows = tickets.list(
    statuses=statuses,
    q=q,
    assigned_to=op["id"] if who == ME else (who if who not in (ANYONE, ME, NOBODY) else None),
    unassigned=who == NOBODY,
    viewer=op,
)
rows = by_due(rows)  # the phone tickets to call back first, the most overdue first
shown = rows

h1, h2, h3 = st.columns([3, 1, 1], vertical_alignment="center")
h1.text(ui.t("n_tickets", n=len(rows)))
h2.download_button(
    ui.t("export_csv"),
    data=tickets.export_csv(shown),
    file_name="ticket.csv",
    mime="text/csv",
    key="tk_export",
    on_click="ignore",
)
h3.download_button(
    ui.t("export_excel"),
    data=tickets.export_excel(shown, tz, lambda s: ui.t(f"st_{s}")),
    file_name="ticket-excel.csv",
    mime="text/csv",
    key="tk_export_excel",
    on_click="ignore",
    help=ui.t("export_excel_help"),
)
if not rows:
    st.info(ui.t("no_tickets"))
    st.stop()

replies_panel.replied_banner(rt, [r["id"] for r in rows])  # the visitor replied
by_id = {r["id"]: r for r in rows}
if st.session_state.get("tk_pick") not in by_id:
    st.session_state["tk_pick"] = rows[0]["id"]  # the first of the list (a call back due, else the newest)


def pick(ticket_id: int) -> None:
    st.session_state["tk_pick"] = ticket_id


def ticket_list() -> None:
    """The tickets as a list: one row each (number, status, question, channel, contact, when, assignee); the
    row clicked opens in the detail pane."""
    with st.container(height=560, key="tk_list"):
        for r in rows[:LIST_ROWS]:
            picked = r["id"] == st.session_state["tk_pick"]
            with st.container(border=True, key=f"tk_item_{r['id']}"):
                st.button(
                    f"#{r['id']} · {ui.t('st_' + r['status'])}",
                    key=f"tk_row_{r['id']}",
                    type="primary" if picked else "secondary",
                    on_click=pick,
                    args=(r["id"],),
                )
                st.text(r["original_question"] or "—")
                due = f" · {ui.t('due_column')}: {ui.clock(r['next_call_at'], tz)}" if r.get("next_call_at") else ""
                with st.container(key=f"tk_meta_{r['id']}"):  # text, never Markdown: a contact is no link
                    st.text(
                        f"{ui.contact_label(r['contact_method'])} · {r['contact_info'] or '—'} · "
                        f"{ui.clock(r['created_at'], tz)} · {r['assigned_to_name'] or ui.t('nobody')}{due}"
                    )
        if len(rows) > LIST_ROWS:
            st.caption(ui.t("tk_more", n=LIST_ROWS, total=len(rows)))


list_col, detail_col = st.columns([2, 3], gap="medium")
with list_col, st.container(key="tk_list_pane"):
    ticket_list()
ticket = tickets.get(st.session_state["tk_pick"], viewer=op)


def calls_section(ticket: dict) -> None:
    """The calls back to a phone ticket, and a form to log one (rt.callbacks)."""
    st.markdown(f"**{ui.t('calls_title')}**")
    if ticket.get("next_call_at"):
        st.caption(ui.t("call_due", when=ui.clock(ticket["next_call_at"], tz)))
    done = rt.callbacks.calls(ticket["id"], viewer=op)
    for c in done:
        who = ui.plain(c["operator_name"])
        outcome = ui.t(f"co_{c['outcome']}")
        st.caption(ui.t("call_line", n=c["attempt"], when=ui.clock(c["created_at"], tz), who=who, outcome=outcome))
        if c["note"]:
            st.text(c["note"])
    if not done:
        st.caption(ui.t("calls_none"))
    if ticket["status"] == TicketStatus.CLOSED:
        return
    with st.form(f"tk_call_{ticket['id']}", clear_on_submit=True):
        outcome = st.radio(
            ui.t("call_outcome"),
            [o.value for o in CallOutcome],
            format_func=lambda o: ui.t(f"co_{o}"),
            horizontal=True,
            key=f"tk_call_outcome_{ticket['id']}",
        )
        note = st.text_area(ui.t("call_note"), key=f"tk_call_note_{ticket['id']}")
        d1, d2 = st.columns(2)
        day = d1.date_input(ui.t("call_next"), value=None, format="DD/MM/YYYY", key=f"tk_call_day_{ticket['id']}")
        at = d2.time_input(" ", value=None, key=f"tk_call_time_{ticket['id']}")
        st.caption(ui.t("call_next_default", m=f"{rt.settings.callback_delay_min:g}"))
        if st.form_submit_button(ui.t("call_log")):
            when = None
            if day is not None:
                local = datetime.combine(day, at or datetime.min.time()).replace(tzinfo=zone(tz, or_utc=True))
                when = local.timestamp()
            try:
                rt.callbacks.log_call(ticket["id"], op, outcome, note.strip() or None, when)
            except DomainError as exc:
                st.error(ui.err(exc))
            else:
                ui.flash("success", ui.t("call_logged"))
                st.rerun()


def detail() -> None:
    """The ticket opened: its fields, transcript, AI history, notes, replies; the form (status, assignee,
    a note), the calls back, the visitor's other tickets, and erasure for admins."""
    st.subheader(ui.t("ticket_detail", id=ticket["id"]))
    fields = [
        (ui.t("original_question"), ticket["original_question"]),
        (ui.t("status"), ui.t(f"st_{ticket['status']}")),
        (ui.t("contact_method"), ui.contact_label(ticket["contact_method"])),
        (ui.t("contact"), ticket["contact_info"] or "—"),
        (ui.t("operator"), ticket["operator_name"] or "—"),
        (ui.t("resolution"), ticket["resolution_reason"] or "—"),
        (ui.t("language_of"), ticket["language"]),
        (ui.t("created"), ui.clock(ticket["created_at"], tz)),
        (ui.t("updated"), ui.clock(ticket["updated_at"], tz)),
    ]
    with st.container(key="tk_fields"):  # one block of text: the form follows without scrolling far
        st.text("\n".join(f"{label}: {value}" for label, value in fields))
    edit_form()  # the next step (a status, an assignee, a note) before the long texts
    if ticket["conversation_transcript"]:
        st.markdown(f"**{ui.t('transcript')}**")
        with st.container(border=True, key="tk_transcript"):
            st.text(ticket["conversation_transcript"])
    history = tickets.history_messages(ticket)
    if history:
        with st.expander(ui.t("ai_history"), expanded=not ticket["conversation_transcript"]):
            for m in history:
                ui.message(m, tz)
    chat_notes = rt.notes.list(ticket_id=ticket["id"])
    if ticket["notes"] or chat_notes:
        st.markdown(f"**{ui.t('notes')}**")
        with st.container(border=True, key="tk_notes"):
            for n in chat_notes:  # written in the live console or here, by operators only
                st.caption(ui.plain(f"{n['operator_name']} · {ui.clock(n['created_at'], tz)}"))
                st.text(n["text"])
            if ticket["notes"]:
                st.text(ticket["notes"])
    replies_panel.panel(rt, op, ticket, tz)  # replies by email and the visitor's answers
    if ticket["contact_method"] == ContactMethod.PHONE:
        calls_section(ticket)
    others = tickets.of_same_contact(ticket["session_id"], exclude=ticket["id"], viewer=op)
    if others:
        st.markdown(f"**{ui.t('other_tickets')}**")
        for t in others:
            stars = f" · {'★' * t['rating']}" if t.get("rating") else ""
            st.text(f"#{t['id']} · {ui.t('st_' + t['status'])} · {ui.clock(t['created_at'], tz)}{stars}")
    st.caption(ui.plain(f"{ui.t('session')}: {ticket['session_id']}"))
    erase_section()


def edit_form() -> None:
    # "Nobody" is a real option (0, never an operator's id): Streamlit shows a None value as its English
    # "Choose an option" placeholder.
    assignees = [NOBODY, *sorted(names, key=lambda i: names[i].lower())]
    tid = ticket["id"]
    status_key, assignee_key, note_key = f"tk_edit_status_{tid}", f"tk_edit_assignee_{tid}", f"tk_edit_note_{tid}"
    # The form shows the ticket as stored: after a save (here or elsewhere) its fields start again from it,
    # and only what the operator changed in it is written (a note alone never writes a status). The save
    # runs as the button's callback, before the page: the form is then filled again from the saved ticket.
    version = {"status": ticket["status"], "assigned_to": ticket["assigned_to"], "updated_at": ticket["updated_at"]}
    shown_key = f"tk_edit_shown_{tid}"
    if st.session_state.get(shown_key) != version:
        st.session_state[shown_key] = version
        st.session_state[status_key] = ticket["status"]
        st.session_state[assignee_key] = ticket["assigned_to"] if ticket["assigned_to"] in assignees else NOBODY
        st.session_state[note_key] = ""

    def _save(shown: dict = version) -> None:
        status, assignee = st.session_state[status_key], st.session_state[assignee_key]
        note = st.session_state[note_key]
        was = shown["assigned_to"] if shown["assigned_to"] in assignees else NOBODY
        try:
            tickets.update(
                tid,
                status=status if status != shown["status"] else None,
                append_note=note.strip() or None,
                assigned_to=assignee if assignee not in (NOBODY, was) else None,
                unassign=assignee == NOBODY and was != NOBODY,
                author=op["display_name"],
            )
        except DomainError as exc:
            ui.flash("error", ui.err(exc))
        else:
            ui.flash("success", ui.t("saved"))
            st.session_state.pop(shown_key, None)  # start again from the saved ticket

    with st.form(f"tk_edit_{tid}"):
        st.selectbox(
            ui.t("status"),
            STATUSES,
            format_func=lambda s: ui.t(f"st_{s}"),
            key=status_key,
            placeholder=ui.t("choose"),
        )
        st.selectbox(
            ui.t("assigned_to"),
            assignees,
            format_func=lambda i: ui.t("nobody") if i == NOBODY else names.get(i, "—"),
            key=assignee_key,
            placeholder=ui.t("choose"),
        )
        st.text_area(ui.t("add_note"), key=note_key)
        st.form_submit_button(ui.t("save"), type="primary", on_click=_save)


def erase_section() -> None:
    if op["is_admin"]:
        st.markdown(f"**{ui.t('erase_title')}**")
        st.caption(ui.t("erase_help"))
        confirmed = st.checkbox(ui.t("erase_confirm"), key=f"tk_erase_confirm_{ticket['id']}")
        if st.button(ui.t("erase_button"), key=f"tk_erase_{ticket['id']}", icon=":material/delete:"):
            if not confirmed:
                st.warning(ui.t("erase_need_confirm"))
            else:
                try:
                    rt.privacy.erase_session(ticket["session_id"])
                except DomainError as exc:
                    st.error(ui.err(exc))
                else:
                    ui.flash("success", ui.t("erased"))
                    st.rerun()


with detail_col, st.container(key="tk_detail"):
    detail()
