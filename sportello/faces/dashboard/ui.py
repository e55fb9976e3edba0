"""Streamlit glue shared by the dashboard pages: the cached runtime, the
signed-in operator, the language toggle, presence/heartbeat and the safe
rendering of chat messages. No business rule here: only calls to services.

Visitor text is never read as Markdown or HTML: it is shown with `st.text`
or in a dataframe cell (both plain text), and wherever Streamlit reads a
string as Markdown (st.markdown, st.caption, st.info/success/warning/error,
st.toast, expander, tab and button labels, help texts) it goes through
`plain`, which backslash-escapes every Markdown character.
"""

from __future__ import annotations

import functools
import json
import re
import time
from datetime import UTC, datetime

import streamlit as st
from streamlit.errors import StreamlitAPIException
from streamlit.runtime.scriptrunner import get_script_run_ctx

from sportello.config import Settings
from sportello.domain import DomainError, OperatorStatus, Role
from sportello.domain.hours import zone
from sportello.faces.dashboard import console_watch
from sportello.faces.dashboard import texts as texts
from sportello.faces.dashboard.texts import ERRORS, LABELS, error_text, tr
from sportello.runtime import Runtime, dashboard_runtime
from sportello.services.operators import SESSION_COOKIE

TOKEN_KEY = "op_token"
LANG_KEY = "ui_lang"
FLASH_KEY = "flash"


@st.cache_resource(show_spinner=False)
def _runtime(data_dir: str, database_url: str) -> Runtime:
    return dashboard_runtime(Settings.from_env())


def runtime() -> Runtime:
    settings = Settings.from_env()
    return _runtime(str(settings.data_dir), settings.database_url)


# ---------------------------------------------------------------- language
def lang() -> str:
    value = st.session_state.get(LANG_KEY) or "it"
    return value if value in ("it", "en") else "it"


def t(key: str, **kwargs) -> str:
    return tr(key, lang(), **kwargs)


def intent_label(code: str) -> str:
    """An intent id in the operator's language ("no_answer" -> "l'AI non sa rispondere"); a KB intent as it is."""
    return texts.intent_label(code, lang())


def log_header(column: str) -> str:
    """A "Conversazioni" column as the dashboard heads it ("user_message" -> "Messaggio del visitatore")."""
    entry = texts.LOG_HEADERS.get(column)
    return column if entry is None else (entry[1] if lang() == "en" else entry[0])


def err(exc: DomainError) -> str:
    """The operator's message for an error: escaped, since a message without a text of its own
    may quote what was typed (it is shown in alerts, which are Markdown)."""
    text = error_text(exc, lang())
    return text if getattr(exc, "code", "") in ERRORS else plain(text)


def language_toggle() -> None:
    if LANG_KEY not in st.session_state:
        st.session_state[LANG_KEY] = "it"
    st.sidebar.segmented_control(
        "Lingua / Language",
        ["it", "en"],
        format_func=lambda c: {"it": "Italiano", "en": "English"}[c],
        key=LANG_KEY,
        required=True,
    )


# ---------------------------------------------------------------- operator
def client_address() -> str | None:
    """The browser's address, the key of the sign-in guard (services/throttle.py LoginGuard).

    Streamlit's peer; when the peer is this machine (Streamlit says None for 127.0.0.1 and ::1), the
    app's /dashboard/ proxy is in front and its X-Forwarded-For names the client (faces/proxy.py sets
    it, dropping any the client sent). A header from anyone else is never read. None when unknown."""
    peer = st.context.ip_address
    if peer is not None:
        return peer if isinstance(peer, str) else None  # (a stand-in under Streamlit's AppTest)
    forwarded = str(st.context.headers.get("X-Forwarded-For") or "").split(",")[-1].strip()
    return forwarded or None


SIGNED_OUT_KEY = "signed_out"  # "Esci" in this tab: the connection's cookie is never read again
CLEAR_COOKIE_KEY = "clear_cookie"
COOKIE_URL = "/api/auth/cookie"  # faces/api.py, on the app's port (the dashboard is proxied at /dashboard/)

# The sign-in cookie is set and cleared by the API (Streamlit cannot): a same-origin request from the
# dashboard's page. HttpOnly: no script ever reads it back. Only the operator's own token goes in.
COOKIE_JS = """<script>
fetch(%(url)s, {method: %(method)s, credentials: "same-origin", headers: %(headers)s}).catch(function () {});
</script>"""


def cookie_token() -> str | None:
    """The sign-in cookie the browser sent when this tab connected (a reload, a deep link), or None."""
    try:
        value = st.context.cookies.get(SESSION_COOKIE)
    except Exception:  # no browser (AppTest, bare mode)
        return None
    return value if isinstance(value, str) and value else None


def _cookie_request(method: str, token: str | None = None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    script = COOKIE_JS % {"url": json.dumps(COOKIE_URL), "method": json.dumps(method), "headers": json.dumps(headers)}
    st.iframe(script, height=1)


COOKIE_SENT_KEY = "cookie_sent"


def keep_signed_in() -> None:
    """Put this tab's token in the sign-in cookie, once, unless the browser already sent it (signed-in pages)."""
    token = st.session_state.get(TOKEN_KEY)
    if token and cookie_token() != token and st.session_state.get(COOKIE_SENT_KEY) != token:
        st.session_state[COOKIE_SENT_KEY] = token
        _cookie_request("POST", token)


def forget_cookie() -> None:
    """After "Esci" (or a cookie whose token is no longer valid): the API clears the cookie and revokes it."""
    if st.session_state.pop(CLEAR_COOKIE_KEY, False):
        _cookie_request("DELETE")


def sign_in(username: str, password: str) -> dict:
    operators = runtime().operators
    token, op = operators.login(username, password, client=client_address())
    st.session_state[TOKEN_KEY] = token
    st.session_state.pop(SIGNED_OUT_KEY, None)
    st.session_state.pop(CLEAR_COOKIE_KEY, None)
    # Signing in means being at the desk: online, with a fresh heartbeat.
    return operators.set_status(op["id"], OperatorStatus.ONLINE)


def sign_out() -> None:
    operators = runtime().operators
    token = st.session_state.pop(TOKEN_KEY, None)
    st.session_state[SIGNED_OUT_KEY] = True
    st.session_state[CLEAR_COOKIE_KEY] = True
    if token:
        try:
            op = operators.authenticate(token, touch=False)
            operators.set_status(op["id"], OperatorStatus.OFFLINE)
        except DomainError:
            pass
        operators.logout(token)


def current_operator() -> dict | None:
    """The signed-in operator (refreshes the heartbeat), or None: this tab's sign-in, else the sign-in
    cookie (a reload, a deep link), unless the operator signed out in this tab."""
    token = st.session_state.get(TOKEN_KEY)
    from_cookie = False
    if not token and not st.session_state.get(SIGNED_OUT_KEY):
        token = cookie_token()
        from_cookie = True
    if not token:
        return None
    try:
        op = runtime().operators.authenticate(token)
    except DomainError:
        st.session_state.pop(TOKEN_KEY, None)
        st.session_state[SIGNED_OUT_KEY] = True  # an expired or revoked token: the cookie is not tried again
        st.session_state[CLEAR_COOKIE_KEY] = True
        return None
    if from_cookie:
        st.session_state[TOKEN_KEY] = token
    return op


def require_operator(*, admin: bool = False) -> dict:
    """Every page starts here: stop the page when nobody is signed in."""
    op = current_operator()
    if op is None:
        st.warning(t("login_required"))
        st.stop()
    if admin and not op["is_admin"]:
        st.error(t("admins_only"))
        st.stop()
    return op


def flash(kind: str, text: str) -> None:
    """A message shown once, after the next rerun."""
    st.session_state[FLASH_KEY] = (kind, text)


def show_flash() -> None:
    item = st.session_state.pop(FLASH_KEY, None)
    if item:
        kind, text = item
        {"success": st.success, "warning": st.warning, "error": st.error}.get(kind, st.info)(text)


def accepting(available: bool) -> str:
    """The Live page's "Chat accettate": out of business hours (domain/hours.py) nobody is offered a chat,
    whoever is online, so it says the desk is closed."""
    if not runtime().chat.opening_status(lang())["open"]:
        return t("accepting_closed")
    return t("yes") if available else t("no")


def heartbeat_every_s(settings: Settings) -> float:
    """A third of HEARTBEAT_TIMEOUT_S (5 s by default): two missed beats do not make the operator disappear,
    a closed console does within HEARTBEAT_TIMEOUT_S."""
    return max(1.0, min(20.0, settings.heartbeat_timeout_s / 3))


def sidebar(op: dict) -> None:
    """Identity, presence, the heartbeat and the sign-out button."""
    rt = runtime()
    with st.sidebar:
        st.text(f"{t('signed_in_as')}: {op['display_name']} ({op['username']})")
        current = op["status"] if op["status"] in set(OperatorStatus) else OperatorStatus.OFFLINE
        st.session_state["presence"] = current  # the store is the truth (another tab may have changed it)

        def _changed():
            rt.operators.set_status(op["id"], st.session_state["presence"] or OperatorStatus.OFFLINE)

        st.segmented_control(
            t("presence"),
            [s.value for s in OperatorStatus],
            format_func=lambda s: PRESENCE_ICONS[s] + " " + t(s),
            key="presence",
            required=True,
            on_change=_changed,
            help=t("presence_help"),
        )

        # The heartbeat: sent by the page's watcher while this tab is open (console_watch.py, with its long
        # poll; `look` when the API is out of reach). A closed tab stops beating and after HEARTBEAT_TIMEOUT_S
        # the operator is away: offered no chat, not shown online, and their queue is not left waiting for
        # nobody (ChatService.expire_waiting).
        st.toggle(t("alerts"), key=ALERTS_KEY, value=True, help=t("alerts_help"))
        waiting_badge(op["id"])
        if st.button(t("logout"), key="logout"):
            sign_out()
            st.rerun()
        keep_signed_in()  # last: the elements above keep their place (and their fragments' ids)


# ---------------------------------------------------------------- redraw only what changed
WATCH_EVERY_S = 0.5  # how often a page looks for news when the API's long poll is out of reach
QUEUE_CLOCK_S = 10.0  # while someone waits, the queue is redrawn this often anyway (the waiting times)
APP = "app"  # a watched key meaning "the whole page"
WATCHES_KEY = "watches"  # the Watch objects of the page's last full run, looked at by one watcher
TICKER_KEY = "console_watch"  # the watcher's fragment (the browser-side component, console_watch.py)


class Watch:
    """Keep a page current, redrawing only what changed, and only when something did.

    `check()` returns {fragment key: marker}: a value that changes when that fragment has something new
    to show (a chat's last message seq, the queue's ids); the key APP stands for the whole page. A full
    run takes the markers *before* drawing (`Watch(...)` at the top of the page), the fragments are made
    with `fragment(key)`, and `watch_ticker()` places the page's watcher: when the browser hears that the
    console changed (console_watch.py) it calls `check()` and reruns the fragments whose marker differs
    from the one they last drew. A fragment counts as drawn only once its body has run to the end: one
    cut short (Streamlit may stop a fragment run for a newer request) is rerun at the next look (the
    watcher looks again shortly after news). An idle page costs no Streamlit run at all."""

    def __init__(self, name: str, check):
        self.drawn_key = f"watch_{name}_drawn"  # {key: the marker its fragment last drew}
        self.seen_key = f"watch_{name}_seen"  # the markers of the last look
        self.check = check
        markers = check()
        st.session_state[self.drawn_key] = dict(markers)
        st.session_state[self.seen_key] = markers
        st.session_state.setdefault(WATCHES_KEY, {})[name] = self

    def changed(self) -> list[str]:
        """The keys whose marker differs from the one last drawn."""
        now = self.check()
        st.session_state[self.seen_key] = now
        drawn = st.session_state.get(self.drawn_key) or {}
        return [k for k in now.keys() | drawn.keys() if now.get(k) != drawn.get(k)]

    def drawn(self, key: str) -> None:
        """The fragment `key` has drawn what the last look saw (or newer)."""
        seen = st.session_state.get(self.seen_key) or {}
        st.session_state.setdefault(self.drawn_key, {})[key] = seen.get(key)

    def fragment(self, key: str):
        """`st.fragment(key=key)` whose body, once run to its end, counts as drawn."""

        def decorate(body):
            @functools.wraps(body)
            def drawing(*args, **kwargs):
                out = body(*args, **kwargs)
                self.drawn(key)
                return out

            return st.fragment(key=key)(drawing)

        return decorate


BEAT_KEY = "watch_beat"  # (operator id, time.monotonic() of this tab's last heartbeat from a look)


def look() -> None:
    """The watcher's callback (the browser heard news, or its clock): rerun the fragments whose marker changed,
    in one request; the whole page when APP is among them. With nothing changed, the watcher's own fragment
    reruns (Streamlit's default) and hands the browser the version now. Without the API in reach the browser
    looks every WATCH_EVERY_S, and the heartbeat goes from here (every HEARTBEAT_TIMEOUT_S / 3)."""
    op_id, beaten = st.session_state.get(BEAT_KEY) or (None, 0.0)
    if op_id is not None and time.monotonic() - beaten >= heartbeat_every_s(runtime().settings):
        st.session_state[BEAT_KEY] = (op_id, time.monotonic())
        runtime().operators.heartbeat(op_id)
    if not is_fragment_run():
        return
    keys = sorted({k for w in list((st.session_state.get(WATCHES_KEY) or {}).values()) for k in w.changed()})
    if not keys:
        return
    if APP not in keys:
        try:
            st.rerun(keys)
        except StreamlitAPIException:  # a key not drawn in the last full run: the whole page, never stale
            pass
    st.rerun()


def is_fragment_run() -> bool:
    """Whether this look runs as a fragment run (the watcher's own). A look whose trigger was folded into a full
    run (the operator opened another page just as the news came) must not rerun anything: the full run draws
    the whole page, and a keyed `st.rerun(keys)` from a callback would *replace* it with a rerun of the old
    page's fragments, leaving the new page's main area blank (it was: the README's former known issue)."""
    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


def watch_ticker(operator_id: int) -> None:
    """The page's one watcher: a fragment holding the browser-side component (console_watch.py) that long-polls
    the API for the console's version, starting from the one taken now, before the page's markers (a change
    in between is seen as news, never lost). It sends a look only when the version moves: no run per tick."""

    rt = runtime()
    if (st.session_state.get(BEAT_KEY) or (None,))[0] != operator_id:
        st.session_state[BEAT_KEY] = (operator_id, time.monotonic())  # (signing in beat just now)

    @st.fragment(key=TICKER_KEY)
    def _watch():
        version, _ = rt.chat.view.console_version(operator_id)
        console_watch.listen(
            version,
            look,
            clock_s=QUEUE_CLOCK_S,
            fallback_s=WATCH_EVERY_S,
            beat_s=heartbeat_every_s(rt.settings),
            key="console_watch_c",
        )

    _watch()


# ---------------------------------------------------------------- the waiting count and its alert
ALERTS_KEY = "alerts_on"
SEEN_KEY = "alerts_seen_waiting"
BADGE_KEY = "waiting_badge"  # the badge's fragment, redrawn when the queue changes

# A short beep (WebAudio) and a desktop notification (Web Notification API), run in the
# dashboard's own page (the component's iframe is same-origin). `window.top.__sportelloAlerts`
# counts them (the browser tests read it). Only figures and operator texts go in: no visitor text.
ALERT_JS = """<script>
(function () {
  const top = window.parent || window;
  top.__sportelloAlerts = (top.__sportelloAlerts || 0) + 1;
  try {
    const Ctx = top.AudioContext || top.webkitAudioContext;
    const ctx = new Ctx();
    const osc = ctx.createOscillator(), gain = ctx.createGain();
    osc.type = "sine"; osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.0001, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.25, ctx.currentTime + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.35);
    osc.connect(gain).connect(ctx.destination);
    osc.start(); osc.stop(ctx.currentTime + 0.4);
  } catch (e) {}
  try {
    const N = top.Notification;
    const show = () => new N(%(title)s, {body: %(body)s, tag: "sportello-queue"});
    if (N && N.permission === "granted") show();
    else if (N && N.permission !== "denied") N.requestPermission().then(p => { if (p === "granted") show(); });
  } catch (e) {}
})();
</script>"""


def alert_needed(previous: int | None, now: int) -> bool:
    """Alert when the number of waiting visitors grows (not on the first look, not when it shrinks)."""
    return previous is not None and now > previous


def waiting_badge(operator_id: int) -> None:
    """The sidebar's "In coda: n", read from the same queue the Live page lists; redrawn (with a sound
    and a desktop notification when it grows, if enabled) when the queue changes, which the page's
    watcher hears from the browser (console_watch.py)."""
    view = runtime().chat.view
    st.session_state[WATCHES_KEY] = {}  # a full run: the page's watches register anew (this one first)
    watch = Watch(BADGE_KEY, lambda: {BADGE_KEY: view.console_marker()["queue"]})

    @watch.fragment(BADGE_KEY)
    def _waiting():
        n = len(view.pending_sessions())
        st.text(t("waiting_badge", n=n))
        previous = st.session_state.get(SEEN_KEY)
        st.session_state[SEEN_KEY] = n
        if st.session_state.get(ALERTS_KEY, True) and alert_needed(previous, n):
            st.iframe(
                ALERT_JS % {"title": json.dumps(t("alert_title")), "body": json.dumps(t("alert_body", n=n))},
                height=1,
            )

    if SEEN_KEY not in st.session_state:  # the first look (at sign-in) is the baseline: no alert for it
        st.session_state[SEEN_KEY] = len(view.pending_sessions())
    _waiting()
    watch_ticker(operator_id)  # for the page's watches too (the Live page's register after this, in the same run)


# ---------------------------------------------------------------- theme
DEFAULT_PRIMARY = "#1f5f8b"


def primary_color() -> str:
    """The venue's colour (VENUE_PRIMARY_COLOR, as on the visitor page), or the default."""
    return runtime().settings.venue_primary_color or DEFAULT_PRIMARY


def theme() -> None:
    """The dashboard's look, matching the visitor page: the venue's colour on primary
    buttons and the operator's bubbles; the chat view's layout (visitor left, operator
    right, system notices centred). CSS only: no text of anyone goes in here."""
    color = primary_color()
    st.html(
        f"""<style>
:root {{ --sp-primary: {color}; }}
.stButton button[kind="primary"], .stFormSubmitButton button[kind="primaryFormSubmit"],
.stDownloadButton button[kind="primary"] {{ background-color: {color}; border-color: {color}; }}
h1, h2, h3 {{ color: {color}; }}
/* Captions dark enough to read (WCAG AA) on white and on the chat bubbles' greys. */
[data-testid="stCaptionContainer"] {{ opacity: 1 !important; }}
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p {{ color: #4b5563 !important; }}
.st-key-tk_fields [data-testid="stText"] {{ line-height: 1.6; }}
[class*="st-key-tk_meta_"] [data-testid="stText"] {{ font-size: .85rem; color: #4b5563; }}
[class*="st-key-msg-operator-"] {{ padding-left: 22%; box-sizing: border-box; }}
[class*="st-key-msg-operator-"] [data-testid="stChatMessage"] {{
  flex-direction: row-reverse; text-align: right;
  background: color-mix(in srgb, {color} 14%, white); border-radius: .8rem;
}}
[class*="st-key-msg-user-"] {{ padding-right: 22%; box-sizing: border-box; }}
[class*="st-key-msg-user-"] [data-testid="stChatMessage"] {{ background: #f1f3f5; border-radius: .8rem; }}
[class*="st-key-msg-bot-"] {{ padding-right: 22%; box-sizing: border-box; }}
[class*="st-key-msg-bot-"] [data-testid="stChatMessage"] {{ background: #f7f7fb; border-radius: .8rem; }}
[class*="st-key-msg-system-"], [class*="st-key-msg-time-"] {{ text-align: center; align-items: center; }}
[class*="st-key-msg-system-"] [data-testid="stText"], [class*="st-key-msg-time-"] [data-testid="stText"] {{
  text-align: center; color: #6b7280; font-size: .85rem;
}}
/* The inbox: compact, so the thread, the reply box and the controls fit in 1280x800. */
.block-container {{ padding-top: 2.5rem; padding-left: 1.5rem; padding-right: 1.5rem; }}
[class*="st-key-chat_head_"] button {{ padding: .2rem .55rem; min-height: 2rem; }}
[class*="st-key-chat_head_"] button p {{ font-size: .9rem; }}
h1 {{ font-size: 1.9rem !important; padding-bottom: .25rem !important; }}
.st-key-live_figures [data-testid="stMetricValue"] {{ font-size: 1.35rem; }}
.st-key-live_figures [data-testid="stMetric"] {{ padding: 0; }}
.st-key-inbox_list h3, .st-key-inbox_visitor h3, .st-key-inbox_thread h3 {{ font-size: 1.1rem; padding: .25rem 0; }}
@media (max-width: 640px) {{
  /* A chat open: the thread first, then the visitor, then the list. */
  [data-testid="stColumn"]:has(.st-key-inbox_thread) {{ order: -2; }}
  [data-testid="stColumn"]:has(.st-key-inbox_visitor) {{ order: -1; }}
  .st-key-tk_list {{ height: 40vh !important; }}
  [class*="st-key-transcript_"] {{ height: 36vh !important; }}
  .st-key-live_figures [data-testid="stMetricValue"] {{ font-size: 1.1rem; }}
  .st-key-live_figures [data-testid="stMetricLabel"] p {{ font-size: .8rem; }}
  [class*="st-key-msg-operator-"] {{ padding-left: 8%; }}
  [class*="st-key-msg-user-"], [class*="st-key-msg-bot-"] {{ padding-right: 8%; }}
}}
</style>"""
    )


def contact_label(method: str) -> str:
    """ "Chat dal vivo" for live_chat, "Email", "Telefono": never the raw code."""
    key = f"cm_{method}"
    return t(key) if key in LABELS else (method or "—")


# ---------------------------------------------------------------- rendering
def clock(iso_or_ts, tz: str) -> str:
    """Day and time in the venue's zone ("05/03 14:30")."""
    return local_time(iso_or_ts, tz, "%d/%m %H:%M")


# Material icons: they render without an emoji font.
AVATARS = {
    Role.USER: ":material/person:",
    Role.BOT: ":material/smart_toy:",
    Role.OPERATOR: ":material/support_agent:",
    Role.SYSTEM: ":material/info:",
}
PRESENCE_ICONS = {
    "online": ":material/radio_button_checked:",
    "away": ":material/schedule:",
    "offline": ":material/power_settings_new:",
}


def local_time(iso_or_ts, tz: str, fmt: str = "%H:%M") -> str:
    if iso_or_ts is None or iso_or_ts == "":
        return ""
    if isinstance(iso_or_ts, int | float):
        dt = datetime.fromtimestamp(iso_or_ts, tz=UTC)
    else:
        try:
            dt = datetime.fromisoformat(str(iso_or_ts).replace("Z", "+00:00"))
        except ValueError:
            return str(iso_or_ts)
    return dt.astimezone(zone(tz, or_utc=True)).strftime(fmt)


def _epoch(m: dict) -> float | None:
    value = m.get("created_at") or m.get("at")
    if isinstance(value, int | float):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except (TypeError, ValueError):
        return None


def plain(text: object) -> str:
    """Text for a Markdown element (a caption, an alert, an expander label) that shows exactly as
    written: every Markdown character backslash-escaped (GitHub-flavoured Markdown: links, images,
    emphasis, HTML tags; Streamlit's :directives[...] and $LaTeX$), so visitor text is never a link,
    an image the browser fetches, or markup. GitHub-flavoured Markdown also turns bare addresses into links
    (`http://…`, `www.…`, `name@host`) whatever is escaped: an invisible word joiner (U+2060) after the scheme,
    after `www` and before `@` keeps them text (they read the same; a copy holds the joiner)."""
    return _MD_SPECIAL.sub(r"\\\1", _AUTOLINK.sub(lambda m: m.group(0) + "\u2060", str(text)))


# Every ASCII punctuation character may be backslash-escaped in (CommonMark) Markdown; Streamlit's own
# `:color[...]`, `:material/...:` and `$math$` are punctuation too.
_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")
# Where a word joiner breaks GFM's autolink literals: after a URL scheme, after `www`, before `@`.
_AUTOLINK = re.compile(r"(?i)\b(?:https?|ftp|mailto|xmpp)(?=:)|\bwww(?=\.)|(?=@)")


TIME_GAP_S = 300  # a time label before a message that comes more than 5 minutes after the previous one


def chat_view(msgs: list[dict], tz: str, key: str, before: dict | None = None) -> None:
    """A conversation as a chat: the visitor (and the assistant) on the left, the operator on
    the right, system notices centred, a time label at the start and after each pause of more
    than five minutes. Every text is plain text (st.text): never Markdown, never HTML.
    `before`: the message drawn just above `msgs` (their time label follows from it), if any."""
    last: float | None = _epoch(before) if before else None
    for m in msgs:
        at = _epoch(m)
        if at is not None and (last is None or at - last > TIME_GAP_S):
            with st.container(key=f"msg-time-{key}-{m.get('seq', id(m))}"):
                st.text(local_time(at, tz, "%d/%m %H:%M"))
        if at is not None:
            last = at
        role = m.get("role", "")
        kind = {Role.USER: "user", Role.OPERATOR: "operator", Role.BOT: "bot"}.get(role, "system")
        with st.container(key=f"msg-{kind}-{key}-{m.get('seq', id(m))}"):
            if kind == "system":
                st.text(m.get("text", ""))
                continue
            with st.chat_message("user" if kind == "user" else "assistant", avatar=AVATARS.get(role)):
                author = {"user": t("who_visitor"), "bot": t("who_assistant")}.get(kind) or m.get("author") or ""
                st.caption(plain(f"{author} · {local_time(at, tz)}"))
                st.text(m.get("text", ""))


def message(m: dict, tz: str) -> None:
    """One chat message; its text is plain text, never Markdown or HTML."""
    role = m.get("role", "")
    name = "user" if role == Role.USER else "assistant"
    with st.chat_message(name, avatar=AVATARS.get(role, ":material/chat:")):
        st.text(m.get("text", ""))
        stamp = clock(m.get("created_at") or m.get("at"), tz)
        author = m.get("author") or ""
        st.text(f"{author} · {stamp}" if author else stamp)


def duration(seconds: float | None) -> str:
    """Compact, for metrics: 45 s, 2m 05s, 1h 02m."""
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
