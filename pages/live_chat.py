"""Live: the operator's inbox, in the style of Chatwoot's. Three panes side by side (stacked on a phone):
the conversations (waiting, mine, colleagues'), the open chat (its thread, the reply box: Enter sends,
Shift+Enter is a new line, "typing" reaches the visitor while the operator types; canned replies,
transfer, release) and the visitor (the question, the language now, how long they waited, their earlier
tickets and ratings, internal notes, teaching the AI). Out of business hours the page says the desk is
closed."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sportello.domain import DomainError, State
from sportello.domain.capacity import OperatorLoad, Refusal
from sportello.faces.dashboard import typing as typing_signal
from sportello.faces.dashboard import ui as ui
from sportello.faces.dashboard.learning import label_widget
from sportello.faces.dashboard.texts import CANNED, RELEASE_REASONS

# Redrawn when they change: when the browser hears that the console's version moved (ui.watch_ticker, a long poll
# of GET /api/operators/console), the sidebar's watcher (ui.Watch) runs one cheap query (ChatView.console_marker:
# the queue's ids, the colleagues' chats, the last seq and language of each of my chats) and reruns only the
# fragment whose marker changed; the page itself when my chats are others (taken, transferred, released) or
# another chat is opened. An idle page runs nothing.
LIST_KEY = "live_queue"  # the conversation list's fragment
STATUS_KEY = "live_status"  # the figures over the panes (online, accepting, my chats)
COLLEAGUES_REFRESH_S = 3.0
QUEUE_BUTTONS = 10  # rows with a "Prendi" button; the rest are listed below
RERUN_APP = "live_rerun_app"  # set by a callback inside a fragment that needs the whole page redrawn
OPEN_KEY = "inbox_open"  # the session id of the chat open in the thread pane
SEEN_KEY = "inbox_seen"  # {session id: the last seq drawn in the thread pane} (the list's "new" mark)
TRANSCRIPT_HEIGHT = 340  # px: the thread, the reply box and the controls fit in 1280x800 without scrolling

op = ui.require_operator()
rt = ui.runtime()
service = rt.chat  # the transitions: take, send, release, transfer, typing
reads = rt.chat.view  # what the page shows: the queue, the chats, presence
tz = rt.settings.timezone

st.title(ui.t("live_title"))
opening = rt.chat.opening_status(ui.lang())
if not opening["open"]:
    back = ui.t("closed_back", when=opening["back"]) if opening["back"] else ""
    st.warning(ui.t("closed_now") + back, icon=":material/door_front:")
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
        st.session_state[OPEN_KEY] = session_id  # the chat just taken opens in the thread pane
    st.session_state[RERUN_APP] = True


def open_chat(session_id: str) -> None:
    st.session_state[OPEN_KEY] = session_id
    st.session_state[RERUN_APP] = True


def chat_key(session_id: str) -> str:
    return f"live_chat_{session_id}"


def panel_key(session_id: str) -> str:
    return f"live_visitor_{session_id}"


def console_check() -> dict:
    """The watcher's markers: the list (the queue, with a clock for the waiting times while someone waits;
    the colleagues' chats; my chats' last seqs for the "new" mark), each of my chats' last seq (its thread)
    and language (its visitor pane), and which chats are mine (the page, when that changes)."""
    marker = reads.console_marker(op["id"])
    queue = marker["queue"]
    clock = int(rt.chat.clock() // ui.QUEUE_CLOCK_S) if queue else None
    news = (tuple(queue), tuple(marker["others"]), tuple(sorted(marker["chats"].items())), clock)
    return {
        LIST_KEY: news,
        STATUS_KEY: news[:2],
        ui.APP: tuple(sorted(marker["chats"])),
        **{chat_key(sid): seq for sid, seq in marker["chats"].items()},
        **{panel_key(sid): lang for sid, lang in marker["langs"].items()},
    }


watch = ui.Watch("live", console_check)  # the markers, before anything is drawn
chats = reads.operator_chats(op["id"])
numbers = {c["session_id"]: i for i, c in enumerate(chats, 1)}  # "Chat 1", "Chat 2": never the visitor's text
if st.session_state.get(OPEN_KEY) not in numbers:
    st.session_state[OPEN_KEY] = chats[0]["session_id"] if chats else None
opened = next((c for c in chats if c["session_id"] == st.session_state[OPEN_KEY]), None)


def me(status: dict) -> dict:
    return next(o for o in status["operators"] if o["id"] == op["id"])


@watch.fragment(STATUS_KEY)
def status_row() -> None:
    status = reads.operator_status()
    mine = me(status)
    with st.container(horizontal=True, key="live_figures", gap="medium"):
        st.metric(ui.t("operators_online"), status["online"], width="content")
        st.metric(ui.t("accepting"), ui.accepting(status["available"]), width="content")
        st.metric(ui.t("my_chats"), f"{mine['active_chats']} / {mine['max_chats']}", width="content")


@watch.fragment(LIST_KEY)
def conversation_list() -> None:
    """The inbox's list: who waits (with "Prendi"), my chats (one opens in the thread pane), my colleagues'."""
    if st.session_state.pop(RERUN_APP, False):
        st.rerun()  # the whole page: the flash message and the thread of the chat opened
    mine = me(reads.operator_status())
    waiting = reads.pending_sessions()
    st.subheader(ui.t("queue_n", n=len(waiting)))
    if not waiting:
        st.caption(ui.t("queue_empty"))
    # The rule take_chat applies (domain/capacity.py): present, with room.
    refusal = OperatorLoad.of(mine).refusal(rt.chat.clock(), rt.settings.heartbeat_timeout_s)
    if refusal is Refusal.AT_CAPACITY and waiting:
        st.warning(ui.t("at_capacity_note", n=mine["max_chats"]))
    elif refusal is Refusal.UNAVAILABLE and waiting:
        st.warning(ui.t("presence_help"))
    # In the queue's order (domain/queue.py): urgent chats first.
    for s in waiting[:QUEUE_BUTTONS]:
        with st.container(border=True, key=f"queue_{s['session_id']}"):
            if s["urgent"]:
                urgent_badge()
            st.text(s["original_question"] or "—")
            with st.container(horizontal=True, vertical_alignment="center", gap="small"):
                st.button(
                    ui.t("take"),
                    key=f"take_{s['session_id']}",
                    type="primary",
                    disabled=refusal is not None,
                    on_click=take,
                    args=(s["session_id"],),
                )
                st.caption(
                    ui.plain(
                        f"#{s['queue_position']} · {s['language'].upper()} · "
                        f"{ui.t('waiting_for')}: {ui.duration(s['waiting_s'])}"
                    )
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
    my_list()
    colleagues_list()


def my_list() -> None:
    """My chats: the one open is marked; one with a message I have not seen says so."""
    st.subheader(ui.t("my_chats_n", n=len(chats)))
    if not chats:
        st.caption(ui.t("no_chats"))
    seen = st.session_state.get(SEEN_KEY) or {}
    marker = st.session_state.get(watch.seen_key) or {}
    for c in chats:
        sid = c["session_id"]
        is_open = sid == st.session_state.get(OPEN_KEY)
        fresh = not is_open and marker.get(chat_key(sid), c["last_seq"]) > seen.get(sid, c["last_seq"])
        label = ui.t("chat_with", n=numbers[sid])
        if c["urgent"]:
            label = f"🚨 {ui.plain(ui.t('urgent'))} · {label}"
        if fresh:
            label += f" · {ui.t('new_message')}"
        with st.container(border=True, key=f"mine_{sid}"):
            st.button(
                label,
                key=f"open_{sid}",
                type="primary" if is_open else "secondary",
                icon=":material/chat:",
                on_click=open_chat,
                args=(sid,),
            )
            st.text(c["original_question"] or "—")


def colleagues_list() -> None:
    """The colleagues' live chats: who has which, for how long (read-only)."""
    theirs = reads.colleague_chats(op["id"])
    st.subheader(ui.t("colleagues_n", n=len(theirs)))
    if not theirs:
        st.caption(ui.t("no_colleague_chats"))
    for c in theirs:
        with st.container(border=True, key=f"theirs_{c['session_id']}"):
            if c["urgent"]:
                urgent_badge()
            st.text(c["original_question"] or "—")
            st.caption(ui.plain(f"{c['operator_name']} · {c['language'].upper()} · {ui.duration(c['live_s'])}"))


def urgent_badge() -> None:
    """The URGENT mark of an emergency's chat (our own label, never the visitor's text)."""
    st.badge(ui.plain(ui.t("urgent")), icon=":material/emergency:", color="red")
    st.caption(ui.plain(ui.t("urgent_help")))


def transcript(session_id: str) -> None:
    """The open chat's thread: what a full run finds is drawn once; a fragment under it (rerun when the chat's
    last seq moves) fetches the new messages and draws only those since the full run, so a message costs its
    own elements, not the whole conversation's."""
    key, drawn_key = f"msgs_{session_id}", f"msgs_drawn_{session_id}"

    def fetch() -> list[dict] | None:
        """The cached messages with the new ones appended; None when the chat cannot be read."""
        cached = st.session_state.get(key) or []
        after = cached[-1]["seq"] if cached else 0
        try:
            snap = reads.operator_messages(session_id, after, viewer=op)
        except DomainError as exc:
            st.warning(ui.err(exc))
            return None
        cached = cached + snap["messages"]
        st.session_state[key] = cached
        if snap["status"] != State.LIVE:
            st.session_state.pop(key, None)
            st.rerun()  # released elsewhere (e.g. another tab): refresh the console
        st.session_state.setdefault(SEEN_KEY, {})[session_id] = snap["last_seq"]
        return cached

    @watch.fragment(chat_key(session_id))
    def news() -> None:
        cached = fetch()
        n = st.session_state.get(drawn_key, 0)
        if cached and len(cached) > n:
            ui.chat_view(cached[n:], tz, key=session_id, before=cached[n - 1] if n else None)

    cached = fetch()
    with st.container(height=TRANSCRIPT_HEIGHT, key=f"transcript_{session_id}", autoscroll=True):
        st.caption(ui.t("ai_part"))  # the AI part comes first, then the hand-over notice
        if cached is not None:
            ui.chat_view(cached, tz, key=session_id)
            st.session_state[drawn_key] = len(cached)
            news()


def send(session_id: str, text: str) -> bool:
    try:
        service.operator_send(op["id"], session_id, text)
    except DomainError as exc:
        st.warning(ui.err(exc))
        return False
    return True


def send_reply(session_id: str) -> None:
    """The reply box's callback (Enter): send what was typed (the box empties itself)."""
    try:
        service.operator_send(op["id"], session_id, st.session_state.get(f"reply_text_{session_id}") or "")
    except DomainError as exc:
        st.session_state[f"send_error_{session_id}"] = ui.err(exc)


def typing(sid: str) -> None:
    """The operator is composing: the visitor's page shows "is typing"."""
    try:
        service.operator_typing(op["id"], sid)
    except DomainError:
        pass


def composer(sid: str) -> None:
    """The reply box: Enter sends, Shift+Enter is a new line (st.chat_input); sending reruns this fragment
    only (the thread shows the message at the watcher's next look)."""

    @st.fragment
    def reply_box() -> None:
        st.chat_input(
            ui.t("reply_placeholder"),
            key=f"reply_text_{sid}",
            max_chars=rt.settings.max_message_len,
            on_submit=send_reply,
            args=(sid,),
        )
        error = st.session_state.pop(f"send_error_{sid}", None)
        if error:
            st.warning(error)

    @st.fragment
    def typing_box() -> None:  # its own fragment: a typing signal reruns nothing else
        typing_signal.signal(f"reply_text_{sid}", lambda: typing(sid))

    reply_box()
    typing_box()


def thread(chat: dict) -> None:
    """The open chat: its number, the actions (canned replies, transfer, release), the thread, the reply box."""
    sid = chat["session_id"]
    lang = chat["language"] if chat["language"] in CANNED else "it"
    with st.container(key=f"chat_{sid}"):
        with st.container(horizontal=True, vertical_alignment="center", gap="small", key=f"chat_head_{sid}"):
            title = ui.t("chat_with", n=numbers[sid])
            if chat["urgent"]:
                title = f"🚨 {ui.plain(ui.t('urgent'))} · {title}"
            st.markdown(f"**{title}**", width="stretch")
            with st.popover(ui.t("canned_short"), icon=":material/bolt:"):
                canned = st.selectbox(ui.t("canned"), CANNED[lang], key=f"canned_{sid}")
                if st.button(ui.t("send_canned"), key=f"send_canned_{sid}") and send(sid, canned):
                    st.rerun()
            # The colleagues are refreshed every COLLEAGUES_REFRESH_S while the popover is open, not while it is
            # closed (an idle console runs nothing).
            with st.popover(
                ui.t("transfer_button"), icon=":material/swap_horiz:", key=f"xfer_pop_{sid}", on_change="rerun"
            ) as transfer_pop:
                st.fragment(run_every=COLLEAGUES_REFRESH_S if transfer_pop.open else None)(colleagues_form)(sid)
            with st.popover(ui.t("release"), icon=":material/check_circle:", type="primary"):
                release_form(sid)
        transcript(sid)
        composer(sid)


def release_form(sid: str) -> None:
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


def visitor_pane(chat: dict):
    sid = chat["session_id"]

    @watch.fragment(panel_key(sid))
    def pane() -> None:
        """Who the visitor is, as far as we know: the question, the language now (they may switch), how long
        they waited, their earlier tickets and ratings; then notes and teaching the AI."""
        now_lang = (st.session_state.get(watch.seen_key) or {}).get(panel_key(sid)) or chat["language"]
        st.subheader(ui.t("visitor_title"))
        if chat["urgent"]:
            urgent_badge()
        st.caption(ui.t("question"))
        st.text(chat["original_question"] or "—")
        st.text(f"{ui.t('language_now')}: {ui.t('lang_' + now_lang) if now_lang in ('it', 'en') else now_lang}")
        st.text(f"{ui.t('waited')}: {ui.duration(chat['waited_s'])}")
        st.text(f"{ui.t('taken_at')}: {ui.clock(chat['taken_at'], tz)}")
        earlier = rt.tickets.of_same_contact(sid, viewer=op)
        st.caption(ui.t("earlier_tickets"))
        if not earlier:
            st.text(ui.t("earlier_none"))
        for t in earlier:
            stars = f" · {'★' * t['rating']}{'☆' * (5 - t['rating'])}" if t.get("rating") else ""
            st.text(f"#{t['id']} · {ui.t('st_' + t['status'])} · {ui.clock(t['created_at'], tz)}{stars}")
            st.text(t["original_question"] or "—")
        notes_panel(sid)
        teach_panel(sid, now_lang)

    return pane


def teach_panel(sid: str, lang: str) -> None:
    visitor_lines = list(
        dict.fromkeys(
            m["text"] for m in st.session_state.get(f"msgs_{sid}") or [] if m.get("role") == "user" and m.get("text")
        )
    )
    if visitor_lines:
        with st.expander(ui.t("label_visitor_msgs"), icon=":material/school:"):
            picked = st.selectbox(ui.t("label_pick_msg"), visitor_lines, key=f"lbl_msg_{sid}")
            label_widget(rt, op, picked, lang if lang in CANNED else "it", key=f"live_{sid}")


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


status_row()
list_col, thread_col, visitor_col = st.columns([1.1, 2.5, 1.2], gap="medium")
with list_col, st.container(key="inbox_list"):
    conversation_list()
with thread_col:
    if opened is None:
        with st.container(key="inbox_nothread"):
            st.subheader(ui.t("thread_title"))
            st.info(ui.t("no_chats"))
    else:
        with st.container(key="inbox_thread"):  # (on a phone, the open thread comes first)
            thread(opened)
with visitor_col, st.container(key="inbox_visitor"):
    if opened is not None:
        visitor_pane(opened)()
