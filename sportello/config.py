"""Settings read from the environment (and an optional `.env` file).

Every knob of the product lives here, so the rest of the code never reads
`os.environ` directly. Secrets are read but never logged or repr'd.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sportello.domain.hours import parse_holidays, parse_hours, zone

ROOT = Path(__file__).resolve().parent.parent


class SettingError(ValueError):
    """A setting that cannot be used: the message names it and says what is wrong, in one line
    (app.py prints it and exits non-zero, without a traceback)."""


def load_dotenv(path: Path | None = None) -> None:
    """Load KEY=VALUE lines from `.env` into os.environ (existing values win)."""
    path = path or ROOT / ".env"
    if not path.is_file():
        return
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        os.environ.setdefault(key, value)


def _float(env: dict, name: str, default: float) -> float:
    try:
        return float(env.get(name, default))
    except ValueError:
        raise SettingError(f"{name} must be a number, got {env.get(name)!r}") from None


def _int(env: dict, name: str, default: int) -> int:
    try:
        return int(env.get(name, default))
    except ValueError:
        raise SettingError(f"{name} must be an integer, got {env.get(name)!r}") from None


@contextmanager
def single_thread_env() -> Iterator[None]:
    """OMP_NUM_THREADS=1 and OMP_WAIT_POLICY=PASSIVE while the block runs, restored afterwards.

    OpenMP reads them when a native engine's runtime loads (the e5 model, sportello/answering/semantic.py):
    one thread, and idle threads sleep instead of spinning (with the defaults, 2 threads on 2 busy cores
    were 10x slower). The only place besides `Settings.from_env` that touches the environment."""
    saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


ANSWERERS = ("auto", "semantic", "lexical")


def use_metrics_dir(path: Path) -> None:
    """PROMETHEUS_MULTIPROC_DIR=path, for prometheus_client's multiprocess mode (sportello/services/metrics.py):
    every process of the app (and the dashboard, its child) writes its counters there, /metrics adds them up."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process (the dashboard, pg_dump): this one's, plus `extra`."""
    return {**os.environ, **extra}


def _path(env: dict, name: str) -> Path | None:
    value = (env.get(name) or "").strip()
    return Path(value) if value else None


COLOR_RE = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
# The visitor's faces' colour (the page's buttons, the widget's launcher) when VENUE_PRIMARY_COLOR is not set:
# white text on it has a contrast of 6.3:1 (Gradio's own indigo, #6366f1, 4.46: under WCAG AA's 4.5).
DEFAULT_PRIMARY_COLOR = "#4f46e5"


def visitor_color(settings) -> str:
    """The colour of the visitor's faces: VENUE_PRIMARY_COLOR when it is a hex colour, else DEFAULT_PRIMARY_COLOR."""
    color = getattr(settings, "venue_primary_color", "") or ""
    return color if COLOR_RE.fullmatch(color) else DEFAULT_PRIMARY_COLOR


_LOGO_URL_RE = re.compile(r"^https?://[^\s\"'<>()\\]{1,2000}$")
LOGO_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")


def _venue_name(value: str) -> str:
    value = " ".join((value or "").split())
    if len(value) > 80 or any(ord(c) < 32 for c in value):
        raise SettingError("VENUE_NAME must be at most 80 printable characters")
    return value


def _color(value: str) -> str:
    value = (value or "").strip()
    if value and not COLOR_RE.match(value):
        raise SettingError(f"VENUE_PRIMARY_COLOR must be a hex colour like #0b5394, got {value[:40]!r}")
    return value


def _venue_logo(value: str, data_dir: Path) -> str:
    """An http(s) URL without quotes or brackets, or a picture file under DATA_DIR (its absolute path)."""
    value = (value or "").strip()
    if not value:
        return ""
    if value.startswith(("http://", "https://")):
        if not _LOGO_URL_RE.match(value):
            raise SettingError("VENUE_LOGO_URL must be a plain http(s) URL (no spaces, quotes or brackets)")
        return value
    path = (data_dir / value).resolve() if not Path(value).is_absolute() else Path(value).resolve()
    if not path.is_relative_to(data_dir) or path.suffix.lower() not in LOGO_SUFFIXES or not path.is_file():
        raise SettingError(
            f"VENUE_LOGO_URL must be an http(s) URL or a picture file under DATA_DIR, got {value[:80]!r}"
        )
    return str(path)


# -- Mail and ticket follow-up ------------------------------------------------------------
def _smtp_url(value: str) -> str:
    """`smtp://user:pass@host:port` (`smtps://` for implicit TLS, `?starttls=1`); the password never in the message."""
    value = (value or "").strip()
    if not value:
        return ""
    scheme, sep, rest = value.partition("://")
    host = rest.rpartition("@")[2].split("/")[0].split("?")[0]
    if not sep or scheme.lower() not in ("smtp", "smtps") or not host.split(":")[0]:
        raise SettingError("SMTP_URL must look like smtp://user:pass@host:port or smtps://user:pass@host:port")
    return value


def _one_line(env: dict, name: str) -> str:
    value = (env.get(name) or "").strip()
    if any(ord(c) < 32 for c in value):
        raise SettingError(f"{name} must be one line of printable characters")
    return value


def _public_url(value: str) -> str:
    value = (value or "").strip()
    if value and not _LOGO_URL_RE.match(value):
        raise SettingError("PUBLIC_URL must be a plain http(s) URL, e.g. https://help.museo.example")
    return value


_ORIGIN_RE = re.compile(r"^https?://(?:\*\.)?[A-Za-z0-9.-]{1,253}(?::\d{1,5})?$")


def _origins(value: str) -> tuple[str, ...]:
    """EMBED_ORIGINS: comma-separated origins (`https://www.museo.example`, `https://*.museo.example`), each
    written into the page's Content-Security-Policy, so nothing else (no quote, no `;`) is accepted."""
    origins = tuple(o.strip().rstrip("/") for o in (value or "").split(",") if o.strip())
    for origin in origins:
        if not _ORIGIN_RE.match(origin):
            raise SettingError(f"EMBED_ORIGINS must list origins like https://www.museo.example, got {origin[:60]!r}")
    return origins


def _webhook_format(value: str) -> str:
    value = (value or "json").strip().lower()
    if value not in ("json", "slack"):
        raise SettingError(f"ALERT_WEBHOOK_FORMAT must be json or slack, got {value[:40]!r}")
    return value


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    kb_path: Path
    port: int = 7860
    host: str = "0.0.0.0"
    dashboard_port: int = 8501
    queue_timeout_s: float = 120.0
    heartbeat_timeout_s: float = 15.0  # the dashboard beats every third of it (5 s)
    default_max_chats: int = 3
    max_message_len: int = 2000
    token_ttl_s: float = 12 * 3600
    outbox_interval_s: float = 0.5
    outbox_batch_size: int = 500
    # Sent outbox rows are deleted this many days after they were sent (the events table keeps the
    # log); rows not sent yet never are. 0 keeps them forever.
    outbox_keep_sent_days: float = 7.0
    timezone: str = "Europe/Rome"
    cors_origins: tuple[str, ...] = ()
    # The sites that may show the visitor page in a frame (the embed widget): the page's CSP frame-ancestors.
    # Empty: any site may (as before).
    embed_origins: tuple[str, ...] = ()
    # Input limits of the REST API and the visitor page's Gradio routes (sportello/faces/body_limit.py,
    # faces/api.py json_body).
    max_body_bytes: int = 64 * 1024
    max_json_depth: int = 32
    # Edge limits: the seconds a request body may take (any route, the /dashboard/ proxy's too;
    # 0 = no limit), and the writes a visitor may cause in one conversation besides messages (language,
    # operator offer, contact, rating) per RATE_WINDOW_S (services/throttle.py; 0 = unlimited).
    body_read_timeout_s: float = 30.0
    change_rate_per_session: int = 30
    # Live push: the change feed's watcher looks for rows other processes committed every
    # FEED_INTERVAL_S while someone listens (sportello/services/feed.py); the visitor stream
    # (GET /api/chat/sessions/{id}/stream, sportello/faces/stream.py) is capped per client address and per
    # chat (0 = unlimited; a new stream past STREAM_MAX_PER_SESSION closes that chat's oldest), sends a
    # keep-alive comment every STREAM_KEEPALIVE_S and is closed after STREAM_IDLE_S without news.
    feed_interval_s: float = 0.1
    stream_max_per_client: int = 100
    stream_max_per_session: int = 3
    stream_idle_s: float = 600.0
    stream_keepalive_s: float = 20.0
    # Faults and supervision (see README "Security").
    dashboard_max_body_bytes: int = 1024 * 1024
    dashboard_restart_max_s: float = 30.0
    dashboard_hung_s: float = 30.0
    db_start_timeout_s: float = 60.0
    health_db_timeout_s: float = 2.0
    health_min_free_mb: float = 100.0
    health_outbox_max_backlog: int = 1000
    health_outbox_max_age_s: float = 900.0
    health_cache_s: float = 1.0
    # Abuse limits (sportello/services/throttle.py); 0 disables a limit.
    login_max_failures_per_user: int = 5
    login_max_failures_per_ip: int = 20
    login_window_s: float = 900.0
    login_lockout_s: float = 300.0
    login_slowdown_max_s: float = 2.0
    session_rate_per_ip: int = 60
    message_rate_per_ip: int = 300
    rate_window_s: float = 60.0
    rate_limit_exempt: tuple[str, ...] = ()
    # Where the limits' counters are shared between processes (sportello/store/limits.py): Redis when set
    # (redis://host:6379/0), else the database. May hold a password: excluded from repr.
    redis_url: str = field(default="", repr=False)
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (IPs or networks, "*" for any):
    # behind them the per-client limits count each visitor's own address, not the proxy's. Empty: none.
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)
    max_messages_per_session: int = 1000
    poll_max_messages: int = 200
    password_scrypt_n: int = 2**17
    # Privacy: closed conversations older than this many days are anonymised by the
    # background sweeper (and by `python -m sportello admin retention`); 0 keeps them forever.
    retention_days: int = 0
    # The visitor page: business hours and holidays in TIMEZONE (sportello/domain/hours.py;
    # empty = always open), and the venue's name, logo (https URL or a file under DATA_DIR) and colour.
    business_hours: str = ""
    holidays: str = ""
    venue_name: str = ""
    venue_logo_url: str = ""
    venue_primary_color: str = ""
    # The offline answerer (sportello/answering/bot.py): auto (the fused lexical + e5 answerer when the model
    # loads, else the lexical one), semantic or lexical; an unknown value is warned about and means auto.
    answerer: str = "auto"
    # The labelled examples of the fused answerer (question,lang,expected). None: DATA_DIR/examples.csv, else
    # examples.csv next to the KB, else the shipped data/examples.csv (the first that exists).
    examples_path: Path | None = None
    # Emergencies (sportello/answering/emergency.py) are answered with the KB entry of this intent; empty: the
    # first KB intent named like emergency/emergenza (a lost-child intent for a lost person). A KB with none
    # answers EMERGENCY_TEXT; empty: "call 112 and tell the nearest member of staff" in the visitor's language.
    emergency_intent: str = ""
    emergency_text: str = ""
    # Hedged replies (the answer of the best intent plus "I don't have information about X" when the question
    # uses a word no KB entry uses, then a person offered): off by default (on the blind sets they cost 8-14
    # points of answerable accuracy); `eval` reports the hedged share either way.
    hedge_unknown_words: bool = False
    # The files the learning loop writes (sportello/services/learning.py) and every answerer watches.
    # None: DATA_DIR/learned_kb.csv and DATA_DIR/learned_examples.csv (see learned_kb_file / learned_examples_file).
    learned_kb_path: Path | None = None
    learned_examples_path: Path | None = None
    # Backups (sportello/services/backup.py): where they go (None: DATA_DIR/backups), how often the outbox
    # leader makes one (hours since the newest; 0 = never) and how many are kept (0 = all).
    backup_dir_path: Path | None = None
    backup_every_h: float = 24.0
    backup_keep: int = 7
    # Tickets followed to closure: the default delay before calling a phone ticket back again, the
    # service-level limits the Analisi page counts the tickets over, and the staff alerts (a chat waiting
    # ALERT_WAITING_S or longer, 0 = never; a new ticket; a visitor's reply) sent to a signed webhook
    # (json or a Slack-compatible body) and/or the staff address (sportello/services/alerts.py).
    callback_delay_min: float = 60.0
    ticket_first_response_limit_h: float = 24.0
    ticket_resolution_limit_h: float = 72.0
    alert_waiting_s: float = 60.0
    alert_webhook_url: str = ""
    alert_webhook_secret: str = field(default="", repr=False)
    alert_webhook_format: str = "json"
    alert_email: str = ""
    # Logging level of app.py (DEBUG, INFO, WARNING, ...).
    log_level: str = "INFO"
    # The first admin, created at start-up when both are set and the name is free (Hugging Face Spaces
    # and other deployments without a shell).
    admin_username: str = ""
    admin_password: str = field(default="", repr=False)
    admin_name: str = ""
    # Metrics and logs (sportello/services/metrics.py, sportello/faces/metrics.py, sportello/logs.py): /metrics
    # answers a METRICS_TOKEN bearer or a caller in METRICS_ALLOW (IPs or networks); with neither set it is 404.
    # LOG_FORMAT: plain (one line per event) or json (one object per line).
    metrics_token: str = field(default="", repr=False)
    metrics_allow: tuple[str, ...] = ()
    log_format: str = "plain"
    # Secrets and integrations: excluded from repr so they never reach a log.
    openai_api_key: str = field(default="", repr=False)
    openai_base_url: str = ""
    openai_model: str = ""
    google_service_account_json: str = field(default="", repr=False)
    google_application_credentials: str = ""
    sheet_id: str = ""
    sheets_api_url: str = ""
    # -- Mail and ticket follow-up(sportello/sinks/mail.py, sportello/services/ticket_replies.py).
    # SMTP_URL holds the SMTP password: out of repr, never logged (sinks/mail.py logs host and port only).
    smtp_url: str = field(default="", repr=False)
    mail_from: str = ""
    mail_reply_to: str = ""
    public_url: str = ""  # the base of the links in mails; empty: the app's own address (public_base_url)
    ticket_link_ttl_days: float = 30.0
    ticket_link_misses_per_ip: int = 20  # wrong or expired ticket links per client IP per RATE_WINDOW_S
    mail_retry_base_s: float = 30.0
    mail_retry_max_s: float = 3600.0
    mail_max_attempts: int = 20

    @property
    def public_base_url(self) -> str:
        """PUBLIC_URL without its trailing slash, or the app's own address (http://localhost:PORT)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "localhost" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def sheets_dir(self) -> Path:
        return self.data_dir / "sheets"

    @property
    def backup_dir(self) -> Path:
        return self.backup_dir_path or self.data_dir / "backups"

    @property
    def learned_kb_file(self) -> Path:
        """The KB file of the entries operators taught, merged after the main KB."""
        return self.learned_kb_path or self.data_dir / "learned_kb.csv"

    @property
    def learned_examples_file(self) -> Path:
        """The labelled examples operators taught, read before the shipped ones."""
        return self.learned_examples_path or self.data_dir / "learned_examples.csv"

    @classmethod
    def from_env(cls, env: dict | None = None, **overrides) -> Settings:
        if env is None:
            load_dotenv()
            env = dict(os.environ)
        data_dir = Path(env.get("DATA_DIR") or ROOT / "data").resolve()
        database_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'sportello.db'}"
        if database_url.startswith("postgres://"):
            database_url = "postgresql://" + database_url.removeprefix("postgres://")
        if database_url.startswith("postgresql://"):
            database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
        kb = env.get("KB_PATH")
        if kb:
            kb_path = Path(kb)
        elif (data_dir / "faq.csv").is_file():
            kb_path = data_dir / "faq.csv"
        else:
            kb_path = ROOT / "data" / "faq.csv"
        values = dict(
            data_dir=data_dir,
            database_url=database_url,
            kb_path=kb_path,
            port=_int(env, "PORT", 7860),
            host=env.get("HOST", "0.0.0.0"),
            dashboard_port=_int(env, "DASHBOARD_PORT", 8501),
            queue_timeout_s=_float(env, "QUEUE_TIMEOUT_S", 120.0),
            heartbeat_timeout_s=_float(env, "HEARTBEAT_TIMEOUT_S", 15.0),
            default_max_chats=_int(env, "MAX_CONCURRENT_CHATS", 3),
            max_message_len=_int(env, "MAX_MESSAGE_LEN", 2000),
            token_ttl_s=_float(env, "TOKEN_TTL_S", 12 * 3600),
            outbox_interval_s=_float(env, "OUTBOX_INTERVAL_S", 0.5),
            outbox_batch_size=_int(env, "OUTBOX_BATCH_SIZE", 500),
            outbox_keep_sent_days=_float(env, "OUTBOX_KEEP_SENT_DAYS", 7.0),
            timezone=env.get("TIMEZONE", "Europe/Rome"),
            retention_days=_int(env, "RETENTION_DAYS", 0),
            business_hours=env.get("BUSINESS_HOURS", "").strip(),
            holidays=env.get("HOLIDAYS", "").strip(),
            venue_name=_venue_name(env.get("VENUE_NAME", "")),
            venue_logo_url=_venue_logo(env.get("VENUE_LOGO_URL", ""), data_dir),
            venue_primary_color=_color(env.get("VENUE_PRIMARY_COLOR", "")),
            answerer=(env.get("ANSWERER") or "auto").strip().lower(),
            examples_path=_path(env, "EXAMPLES_PATH"),
            emergency_intent=(env.get("EMERGENCY_INTENT") or "").strip(),
            emergency_text=(env.get("EMERGENCY_TEXT") or "").strip(),
            hedge_unknown_words=(env.get("HEDGE_UNKNOWN_WORDS") or "").strip().lower() in ("1", "true", "yes", "on"),
            learned_kb_path=_path(env, "LEARNED_KB_PATH"),
            learned_examples_path=_path(env, "LEARNED_EXAMPLES_PATH"),
            backup_dir_path=_path(env, "BACKUP_DIR"),
            log_level=(env.get("LOG_LEVEL") or "INFO").strip().upper(),
            callback_delay_min=_float(env, "CALLBACK_DELAY_MIN", 60.0),
            ticket_first_response_limit_h=_float(env, "TICKET_FIRST_RESPONSE_LIMIT_H", 24.0),
            ticket_resolution_limit_h=_float(env, "TICKET_RESOLUTION_LIMIT_H", 72.0),
            alert_waiting_s=_float(env, "ALERT_WAITING_S", 60.0),
            alert_webhook_url=(env.get("ALERT_WEBHOOK_URL") or "").strip(),
            alert_webhook_secret=env.get("ALERT_WEBHOOK_SECRET") or "",
            alert_webhook_format=_webhook_format(env.get("ALERT_WEBHOOK_FORMAT", "")),
            alert_email=(env.get("ALERT_EMAIL") or "").strip(),
            admin_username=(env.get("ADMIN_USERNAME") or "").strip(),
            admin_password=env.get("ADMIN_PASSWORD") or "",
            admin_name=(env.get("ADMIN_NAME") or "").strip(),
            backup_every_h=_float(env, "BACKUP_EVERY_H", 24.0),
            backup_keep=_int(env, "BACKUP_KEEP", 7),
            cors_origins=tuple(o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip()),
            embed_origins=_origins(env.get("EMBED_ORIGINS", "")),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 64 * 1024),
            max_json_depth=_int(env, "MAX_JSON_DEPTH", 32),
            body_read_timeout_s=_float(env, "BODY_READ_TIMEOUT_S", 30.0),
            change_rate_per_session=_int(env, "CHANGE_RATE_PER_SESSION", 30),
            dashboard_max_body_bytes=_int(env, "DASHBOARD_MAX_BODY_BYTES", 1024 * 1024),
            dashboard_restart_max_s=_float(env, "DASHBOARD_RESTART_MAX_S", 30.0),
            dashboard_hung_s=_float(env, "DASHBOARD_HUNG_S", 30.0),
            db_start_timeout_s=_float(env, "DB_START_TIMEOUT_S", 60.0),
            health_db_timeout_s=_float(env, "HEALTH_DB_TIMEOUT_S", 2.0),
            health_min_free_mb=_float(env, "HEALTH_MIN_FREE_MB", 100.0),
            health_outbox_max_backlog=_int(env, "HEALTH_OUTBOX_MAX_BACKLOG", 1000),
            health_outbox_max_age_s=_float(env, "HEALTH_OUTBOX_MAX_AGE_S", 900.0),
            health_cache_s=_float(env, "HEALTH_CACHE_S", 1.0),
            login_max_failures_per_user=_int(env, "LOGIN_MAX_FAILURES_PER_USER", 5),
            login_max_failures_per_ip=_int(env, "LOGIN_MAX_FAILURES_PER_IP", 20),
            login_window_s=_float(env, "LOGIN_WINDOW_S", 900.0),
            login_lockout_s=_float(env, "LOGIN_LOCKOUT_S", 300.0),
            login_slowdown_max_s=_float(env, "LOGIN_SLOWDOWN_MAX_S", 2.0),
            session_rate_per_ip=_int(env, "SESSION_RATE_PER_IP", 60),
            message_rate_per_ip=_int(env, "MESSAGE_RATE_PER_IP", 300),
            rate_window_s=_float(env, "RATE_WINDOW_S", 60.0),
            rate_limit_exempt=tuple(a.strip() for a in env.get("RATE_LIMIT_EXEMPT", "").split(",") if a.strip()),
            redis_url=(env.get("REDIS_URL") or "").strip(),
            trusted_proxies=tuple(a.strip() for a in env.get("TRUSTED_PROXIES", "127.0.0.1").split(",") if a.strip()),
            max_messages_per_session=_int(env, "MAX_MESSAGES_PER_SESSION", 1000),
            poll_max_messages=_int(env, "POLL_MAX_MESSAGES", 200),
            feed_interval_s=_float(env, "FEED_INTERVAL_S", 0.1),
            stream_max_per_client=_int(env, "STREAM_MAX_PER_CLIENT", 100),
            stream_max_per_session=_int(env, "STREAM_MAX_PER_SESSION", 3),
            stream_idle_s=_float(env, "STREAM_IDLE_S", 600.0),
            stream_keepalive_s=_float(env, "STREAM_KEEPALIVE_S", 20.0),
            password_scrypt_n=_int(env, "PASSWORD_SCRYPT_N", 2**17),
            metrics_token=(env.get("METRICS_TOKEN") or "").strip(),
            metrics_allow=tuple(a.strip() for a in env.get("METRICS_ALLOW", "").split(",") if a.strip()),
            log_format=(env.get("LOG_FORMAT") or "plain").strip().lower(),
            openai_api_key=env.get("OPENAI_API_KEY", ""),
            openai_base_url=env.get("OPENAI_BASE_URL", ""),
            openai_model=env.get("OPENAI_MODEL", ""),
            google_service_account_json=env.get("GOOGLE_SERVICE_ACCOUNT_JSON", ""),
            google_application_credentials=env.get("GOOGLE_APPLICATION_CREDENTIALS", ""),
            sheet_id=env.get("SHEET_ID", ""),
            sheets_api_url=env.get("SHEETS_API_URL", ""),
            # Mail and ticket follow-up
            smtp_url=_smtp_url(env.get("SMTP_URL", "")),
            mail_from=_one_line(env, "MAIL_FROM"),
            mail_reply_to=_one_line(env, "MAIL_REPLY_TO"),
            public_url=_public_url(env.get("PUBLIC_URL", "")),
            ticket_link_ttl_days=_float(env, "TICKET_LINK_TTL_DAYS", 30.0),
            ticket_link_misses_per_ip=_int(env, "TICKET_LINK_MISSES_PER_IP", 20),
            mail_retry_base_s=_float(env, "MAIL_RETRY_BASE_S", 30.0),
            mail_retry_max_s=_float(env, "MAIL_RETRY_MAX_S", 3600.0),
            mail_max_attempts=_int(env, "MAIL_MAX_ATTEMPTS", 20),
        )
        values.update(overrides)
        # Unreadable hours, holidays or time zone stop the start with one line naming the setting.
        for name, parse, key in (
            ("BUSINESS_HOURS", parse_hours, "business_hours"),
            ("HOLIDAYS", parse_holidays, "holidays"),
            ("TIMEZONE", zone, "timezone"),
        ):
            try:
                parse(values[key])
            except ValueError as exc:
                raise SettingError(f"{name} cannot be read: {exc}") from None
        return cls(**values)
