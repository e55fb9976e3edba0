"""Ticket: filter and search tickets, open one (seed fields, transcript or AI
history, contact), change its status, add internal notes, assign it, log the
calls back to a phone ticket, and export the filtered list as CSV. The phone
tickets to call back come first, the most overdue first."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from sportello.domain import ContactMethod, DomainError, TicketStatus
from sportello.domain.hours import zone
from sportello.domain.tickets import CallOutcome
from sportello.faces.dashboard import ticket_replies as replies_panel
from sportello.faces.dashboard import ui as ui
from sportello.services.callbacks import by_due
from sportello.services.tickets import LIST_COLUMNS

op = ui.require_operator()
rt = ui.runtime()
tickets = rt.tickets
tz = rt.settings.timezone
STATUSES = [s.value for s in TicketStatus]
NOBODY = 0  # the assignee choice "nobody" (operator ids start at 1)

st.title(ui.t("tickets_title"))
ui.show_flash()

f1, f2, f3 = st.columns([2, 3, 1], vertical_alignment="bottom")
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
q = f2.text_input(ui.t("search"), key="tk_q", help=ui.t("search_help"))
only_mine = f3.checkbox(ui.t("only_mine"), key="tk_mine")

# Privacy: contacts in full for admins only (a***@example.org), in the list, the export and the ticket opened;
# the others' search does not match on them (TicketService.for_viewer).
rows = tickets.list(statuses=statuses, q=q, assigned_to=op["id"] if only_mine else None, viewer=op)
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

labels = {
    "id": "#",
    "status": ui.t("status"),
    "created_at": ui.t("created"),
    "contact_method": ui.t("contact_method"),
    "contact_info": ui.t("contact"),
    "original_question": ui.t("original_question"),
    "operator_name": ui.t("operator"),
    "assigned_to_name": ui.t("assigned_to"),
}
table = pd.DataFrame([{labels[c]: r[c] for c in LIST_COLUMNS} for r in shown])
table[ui.t("status")] = [ui.t(f"st_{s}") for s in table[ui.t("status")]]
table[ui.t("created")] = [ui.clock(v, tz) for v in table[ui.t("created")]]
table[ui.t("contact_method")] = [ui.contact_label(v) for v in table[ui.t("contact_method")]]
table[ui.t("due_column")] = [ui.clock(r["next_call_at"], tz) if r.get("next_call_at") else "" for r in shown]
st.dataframe(table, hide_index=True, height=320, key="tk_table")

replies_panel.replied_banner(rt, [r["id"] for r in rows])  # the visitor replied
by_id = {r["id"]: r for r in rows}
picked = st.selectbox(
    ui.t("pick_ticket"),
    list(by_id),
    format_func=lambda i: f"#{i} · {ui.t('st_' + by_id[i]['status'])} · {by_id[i]['original_question'][:70]}",
    key="tk_pick",
)
ticket = tickets.get(picked, viewer=op)


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


st.subheader(ui.t("ticket_detail", id=ticket["id"]))
left, right = st.columns([3, 2], gap="large")
with left:
    for label, value in (
        (ui.t("original_question"), ticket["original_question"]),
        (ui.t("status"), ui.t(f"st_{ticket['status']}")),
        (ui.t("contact_method"), ui.contact_label(ticket["contact_method"])),
        (ui.t("contact"), ticket["contact_info"] or "—"),
        (ui.t("operator"), ticket["operator_name"] or "—"),
        (ui.t("resolution"), ticket["resolution_reason"] or "—"),
        (ui.t("language_of"), ticket["language"]),
        (ui.t("created"), ui.clock(ticket["created_at"], tz)),
        (ui.t("updated"), ui.clock(ticket["updated_at"], tz)),
        (ui.t("session"), ticket["session_id"]),
    ):
        st.text(f"{label}: {value}")
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

with right:
    names = tickets.operator_names()
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
    if ticket["contact_method"] == ContactMethod.PHONE:
        calls_section(ticket)
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
