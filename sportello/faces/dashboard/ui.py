"""Streamlit glue shared by the dashboard pages: the cached runtime, the
signed-in operator, the language toggle, presence/heartbeat and the safe
rendering of chat messages. No business rule here: only calls to services.

Visitor text is always rendered with `st.text` (no Markdown, no HTML).
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from sportello.config import Settings
from sportello.domain import DomainError, OperatorStatus, Role
from sportello.faces.dashboard.texts import error_text, tr
from sportello.runtime import Runtime, dashboard_runtime
from sportello.services.reports import zone

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


def err(exc: DomainError) -> str:
    return error_text(exc, lang())


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
def sign_in(username: str, password: str) -> dict:
    operators = runtime().operators
    token, op = operators.login(username, password)
    st.session_state[TOKEN_KEY] = token
    # Signing in means being at the desk: online, with a fresh heartbeat.
    return operators.set_status(op["id"], OperatorStatus.ONLINE)


def sign_out() -> None:
    operators = runtime().operators
    token = st.session_state.pop(TOKEN_KEY, None)
    if token:
        try:
            op = operators.authenticate(token, touch=False)
            operators.set_status(op["id"], OperatorStatus.OFFLINE)
        except DomainError:
            pass
        operators.logout(token)


def current_operator() -> dict | None:
    """The signed-in operator (refreshes the heartbeat), or None."""
    token = st.session_state.get(TOKEN_KEY)
    if not token:
        return None
    try:
        return runtime().operators.authenticate(token)
    except DomainError:
        st.session_state.pop(TOKEN_KEY, None)
        return None


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


def heartbeat_every_s(settings: Settings) -> float:
    """Often enough that one missed beat does not make the operator disappear."""
    return max(2.0, min(15.0, settings.heartbeat_timeout_s / 4))


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

        @st.fragment(run_every=heartbeat_every_s(rt.settings))
        def _beat():
            # Runs while this tab is open; a closed tab stops beating and the
            # operator stops being offered chats after HEARTBEAT_TIMEOUT_S.
            rt.operators.heartbeat(op["id"])
            n = len(rt.chat.pending_sessions())
            st.text(t("waiting_badge", n=n))

        _beat()
        if st.button(t("logout"), key="logout"):
            sign_out()
            st.rerun()


# ---------------------------------------------------------------- rendering
def clock(iso_or_ts, tz: str) -> str:
    if iso_or_ts is None or iso_or_ts == "":
        return ""
    if isinstance(iso_or_ts, int | float):
        dt = datetime.fromtimestamp(iso_or_ts, tz=UTC)
    else:
        try:
            dt = datetime.fromisoformat(str(iso_or_ts).replace("Z", "+00:00"))
        except ValueError:
            return str(iso_or_ts)
    return dt.astimezone(zone(tz)).strftime("%d/%m %H:%M")


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
