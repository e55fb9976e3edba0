"""Live: presence, the waiting queue ("Prendi") and the console with the
operator's live chats: a chat view refreshing by itself (visitor left,
operator right, system notices centred), reply, canned replies, internal
notes, transfer to a colleague and "Rilascia" with a resolution reason."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sportello.domain import DomainError, State
from sportello.domain.capacity import OperatorLoad, Refusal
from sportello.faces.dashboard import ui as ui
from sportello.faces.dashboard.learning import label_widget
from sportello.faces.dashboard.texts import CANNED, RELEASE_REASONS

# Redrawn when they change: the sidebar's watcher (ui.Watch) looks every ui.WATCH_EVERY_S with one cheap query
# (ChatView.console_marker: the queue's ids, the last seq of each of my chats) and reruns only the
# fragment whose marker changed; the page itself when my chats are others (taken, transferred, released).
QUEUE_KEY = "live_queue"  # the queue panel's fragment
QUEUE_CLOCK_S = 10.0  # while someone waits, the panel is redrawn this often anyway (the waiting times)
COLLEAGUES_REFRESH_S = 3.0
QUEUE_BUTTONS = 10  # rows with a "Prendi" button; the rest are listed below
RERUN_APP = "live_rerun_app"  # set by a callback inside a fragment that needs the whole page redrawn

op = ui.require_operator()
rt = ui.runtime()
service = rt.chat  # the transitions: take, send, release, transfer, typing
reads = rt.chat.view  # what the page shows: the queue, my chats, presence
tz = rt.settings.timezone

st.title(ui.t("live_title"))
ui.show_flash()
st.session_state.pop(RERUN_APP, None)  # this is a full run already: no need for another


def take(session_id: str) -> None:
    """A button callback: runs even when the row has left the queue meanwhile
    (taken by a colleague), so the operator gets a clear message."""
    try:
        service.take_chat(op["id"], session_id)
    except DomainError as exc:
        ui.flash("warning", ui.err(exc))
    else:
        ui.flash("success", ui.t("taken"))
    st.session_state[RERUN_APP] = True


def chat_key(session_id: str) -> str:
    return f"live_chat_{session_id}"


def console_check() -> dict:
    """The watcher's markers: the queue (and, while someone waits, a clock for the waiting times),
    each of my chats' last seq, and which chats are mine (the page, when that changes)."""
    marker = reads.console_marker(op["id"])
    queue = marker["queue"]
    clock = int(rt.chat.clock() // QUEUE_CLOCK_S) if queue else None
    return {
        QUEUE_KEY: (tuple(queue), clock),
        ui.APP: tuple(sorted(marker["chats"])),
        **{chat_key(sid): seq for sid, seq in marker["chats"].items()},
    }


watch = ui.Watch("live", console_check)  # the markers, before anything is drawn


@watch.fragment(QUEUE_KEY)
def queue_panel() -> None:
    if st.session_state.pop(RERUN_APP, False):
        st.rerun()  # the whole page: the flash message and the console with the new chat
    status = reads.operator_status()
    mine = next(o for o in status["operators"] if o["id"] == op["id"])
    c1, c2, c3 = st.columns(3)
    c1.metric(ui.t("operators_online"), status["online"])
    c2.metric(ui.t("accepting"), ui.accepting(status["available"]))
    c3.metric(ui.t("my_chats"), f"{mine['active_chats']} / {mine['max_chats']}")
    st.subheader(ui.t("queue"))
    waiting = reads.pending_sessions()
    if not waiting:
        st.info(ui.t("queue_empty"))
    # The rule take_chat applies (domain/capacity.py): present, with room.
    refusal = OperatorLoad.of(mine).refusal(rt.chat.clock(), rt.settings.heartbeat_timeout_s)
    if refusal is Refusal.AT_CAPACITY and waiting:
        st.warning(ui.t("at_capacity_note", n=mine["max_chats"]))
    elif refusal is Refusal.UNAVAILABLE and waiting:
        st.warning(ui.t("presence_help"))
    # In the queue's order (domain/queue.py): urgent chats first.
    for s in waiting[:QUEUE_BUTTONS]:
        with st.container(border=True, key=f"queue_{s['session_id']}"):
            left, right = st.columns([3, 1], vertical_alignment="center")
            with left:
                if s["urgent"]:
                    urgent_badge()
                st.text(s["original_question"] or "—")
                st.caption(
                    ui.plain(
                        f"#{s['queue_position']} · {s['language'].upper()} · "
                        f"{ui.t('waiting_for')}: {ui.duration(s['waiting_s'])}"
                    )
                )
            with right:
                st.button(
                    ui.t("take"),
                    key=f"take_{s['session_id']}",
                    type="primary",
                    disabled=refusal is not None,
                    on_click=take,
                    args=(s["session_id"],),
                )
    rest = waiting[QUEUE_BUTTONS:]
    if rest:
        st.text(ui.t("more_waiting", n=len(rest)))
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        ui.t("position"): s["queue_position"],
                        ui.t("urgent"): ui.t("urgent") if s["urgent"] else "",
                        ui.t("lang_col"): s["language"],
                        ui.t("waiting_for"): ui.duration(s["waiting_s"]),
                        ui.t("question"): s["original_question"],
                    }
                    for s in rest
                ]
            ),
            hide_index=True,
            height=240,
        )


def urgent_badge() -> None:
    """The URGENT mark of an emergency's chat (our own label, never the visitor's text)."""
    st.badge(ui.plain(ui.t("urgent")), icon=":material/emergency:", color="red")
    st.caption(ui.plain(ui.t("urgent_help")))


def transcript_fragment(session_id: str):
    key = f"msgs_{session_id}"

    @watch.fragment(chat_key(session_id))
    def transcript() -> None:
        cached = st.session_state.get(key) or []
        after = cached[-1]["seq"] if cached else 0
        try:
            snap = reads.operator_messages(session_id, after, viewer=op)
        except DomainError as exc:
            st.warning(ui.err(exc))
            return
        cached = cached + snap["messages"]
        st.session_state[key] = cached
        if snap["status"] != State.LIVE:
            st.session_state.pop(key, None)
            st.rerun()  # released elsewhere (e.g. another tab): refresh the console
        with st.container(height=420, key=f"transcript_{session_id}", autoscroll=True):
            st.caption(ui.t("ai_part"))  # the AI part comes first, then the hand-over notice
            ui.chat_view(cached, tz, key=session_id)

    return transcript


def send(session_id: str, text: str) -> bool:
    try:
        service.operator_send(op["id"], session_id, text)
    except DomainError as exc:
        st.warning(ui.err(exc))
        return False
    return True


def send_reply(session_id: str) -> None:
    """The "Invia" callback: send the reply and clear the box (a callback may set a widget's value)."""
    key = f"reply_text_{session_id}"
    try:
        service.operator_send(op["id"], session_id, st.session_state.get(key, ""))
    except DomainError as exc:
        st.session_state[f"send_error_{session_id}"] = True
        st.session_state[f"send_error_text_{session_id}"] = ui.err(exc)
    else:
        st.session_state[key] = ""


def chat_console(chat: dict, number: int) -> None:
    sid = chat["session_id"]
    lang = chat["language"] if chat["language"] in CANNED else "it"
    with st.container(border=True, key=f"chat_{sid}"):
        st.markdown(f"**{ui.t('chat_with', n=number)}** · {ui.t('visitor_lang', code=lang.upper())}")
        if chat["urgent"]:
            urgent_badge()
        st.text(chat["original_question"] or "—")
        transcript_fragment(sid)()
        visitor_lines = list(
            dict.fromkeys(
                m["text"]
                for m in st.session_state.get(f"msgs_{sid}") or []
                if m.get("role") == "user" and m.get("text")
            )
        )
        if visitor_lines:
            with st.expander(ui.t("label_visitor_msgs")):
                picked = st.selectbox(ui.t("label_pick_msg"), visitor_lines, key=f"lbl_msg_{sid}")
                label_widget(rt, op, picked, lang, key=f"live_{sid}")
        # Not a form: Streamlit sends the text area's value when the operator pauses (leaves it,
        # Ctrl+Enter), and that marks "operator typing" for the visitor; "Invia" sends and clears.
        st.text_area(ui.t("reply"), key=f"reply_text_{sid}", height=80, on_change=typing, args=(sid,))
        st.button(ui.t("send"), key=f"send_{sid}", type="primary", on_click=send_reply, args=(sid,))
        if st.session_state.pop(f"send_error_{sid}", None):
            st.warning(st.session_state.pop(f"send_error_text_{sid}", ""))
        with st.expander(ui.t("canned")):
            canned = st.selectbox(ui.t("canned"), CANNED[lang], key=f"canned_{sid}", label_visibility="collapsed")
            if st.button(ui.t("send_canned"), key=f"send_canned_{sid}") and send(sid, canned):
                st.rerun()
        notes_panel(sid)
        transfer_panel(sid)
        with st.expander(ui.t("release")):
            reason = st.selectbox(ui.t("release_reason"), RELEASE_REASONS[ui.lang()], key=f"reason_{sid}")
            note = st.text_input(ui.t("release_note"), key=f"reason_note_{sid}")
            if st.button(ui.t("release"), key=f"release_{sid}", type="primary"):
                full_reason = f"{reason}: {note.strip()}" if note.strip() else reason
                try:
                    out = service.release_chat(op["id"], sid, full_reason)
                except DomainError as exc:
                    ui.flash("warning", ui.err(exc))
                else:
                    ui.flash("success", ui.t("released", id=out["ticket"]["id"]))
                st.session_state.pop(f"msgs_{sid}", None)
                st.rerun()


def notes_panel(sid: str) -> None:
    """Internal notes on this chat: operators only, never sent to the visitor."""
    notes = rt.notes.list(session_id=sid)
    # A fixed label: Streamlit keeps the expander open across the rerun that adds a note.
    with st.expander(ui.t("chat_notes"), icon=":material/sticky_note_2:", expanded=bool(notes)):
        for n in notes:
            with st.container(border=True, key=f"note_{n['id']}"):
                st.caption(ui.plain(f"{n['operator_name']} · {ui.clock(n['created_at'], tz)}"))
                st.text(n["text"])
        with st.form(f"note_{sid}", clear_on_submit=True, border=False):
            text = st.text_area(ui.t("note_text"), key=f"note_text_{sid}", height=68)
            if st.form_submit_button(ui.t("note_add")):
                try:
                    rt.notes.add(op["id"], text, session_id=sid)
                except DomainError as exc:
                    st.warning(ui.err(exc))
                else:
                    ui.flash("success", ui.t("note_added"))
                    st.rerun()


def transfer_panel(sid: str) -> None:
    """Hand the chat to a colleague who is online with room (checked again by the service)."""
    with st.expander(ui.t("transfer"), icon=":material/swap_horiz:"):
        st.fragment(run_every=COLLEAGUES_REFRESH_S)(colleagues_form)(sid)


def colleagues_form(sid: str) -> None:
    """Refreshed by itself: a colleague who comes online appears without a click."""
    colleagues = reads.transfer_targets(op["id"])
    if not colleagues:
        st.info(ui.t("no_colleague"))
        return
    names = {o["id"]: f"{o['display_name']} ({o['active_chats']}/{o['max_chats']})" for o in colleagues}
    to = st.selectbox(
        ui.t("transfer_to"),
        list(names),
        format_func=names.get,
        key=f"transfer_to_{sid}",
        placeholder=ui.t("choose"),
    )
    if st.button(ui.t("transfer_button"), key=f"transfer_{sid}", icon=":material/swap_horiz:"):
        try:
            out = service.transfer_chat(op["id"], sid, to)
        except DomainError as exc:
            ui.flash("warning", ui.err(exc))
        else:
            ui.flash("success", ui.t("transferred", name=ui.plain(out["operator_name"])))
        st.session_state.pop(f"msgs_{sid}", None)
        st.rerun()


def typing(sid: str) -> None:
    """The operator is composing: the visitor's page shows "is typing"."""
    try:
        service.operator_typing(op["id"], sid)
    except DomainError:
        pass


chats = reads.operator_chats(op["id"])
queue_col, console_col = st.columns([2, 3], gap="large")
with queue_col:
    queue_panel()
with console_col:
    st.subheader(ui.t("my_chats"))
    if not chats:
        st.info(ui.t("no_chats"))
    elif len(chats) == 1:
        chat_console(chats[0], 1)
    else:
        # Tab labels are Markdown: numbered, never the visitor's text.
        tabs = st.tabs(
            [
                f"🚨 {ui.plain(ui.t('urgent'))} · {ui.t('chat_with', n=i)}" if c["urgent"] else ui.t("chat_with", n=i)
                for i, c in enumerate(chats, 1)
            ]
        )
        for i, (tab, chat) in enumerate(zip(tabs, chats, strict=True), 1):
            with tab:
                chat_console(chat, i)
