"""The Google Sheets sink: the outbox's rows written with gspread, batched,
within quota, exactly once.

Configuration (see `sportello.config.Settings`):

- `GOOGLE_SERVICE_ACCOUNT_JSON` (the key's JSON as a string) or
  `GOOGLE_APPLICATION_CREDENTIALS` (a path to it), and `SHEET_ID` (the id or
  the full URL of a spreadsheet shared with the service account as Editor);
- or `SHEETS_API_URL`: send the Sheets v4 requests to that base URL instead of
  https://sheets.googleapis.com (a local stand-in, like Google's emulators);
  no credentials are needed then (if a key is given too, it is used: the
  OAuth token is requested from the key's `token_uri`).

How it writes (the worker in `sportello.services.delivery` calls `prepare()` once, then
`write(rows)` with batches of pending rows in commit order):

- "Conversazioni" rows: ONE `append_rows` request per batch (RAW input,
  INSERT_ROWS), in commit order, with the outbox event id in the trailing
  `event_id` column. A row the outbox already tried to send (`attempts` > 0:
  the request may have reached Google before its answer was lost, or the
  app died meanwhile) is first looked up in that column, and skipped if
  present: nothing is written twice.
- "Ticket" rows: one row per ticket id (column A), located with one read of
  column A; changed tickets go in ONE `values:batchUpdate`, new ones in ONE
  `append_rows`. Rewriting a row is idempotent.
- Every write request takes a token from a client-side limiter (by default
  at most 60 write requests in any minute, Google's per-user quota); a 429
  that still happens is retried by the worker with backoff.
- Failures are `SinkError`s: retryable for 429, 5xx, timeouts and dropped
  connections; permanent (the worker stops and shows the message) for bad
  credentials, a spreadsheet that is not shared (403) or not found (404),
  or a worksheet whose header is not the expected one.

Messages meant for the dashboard are in Italian and English.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import gspread
import requests
from gspread.exceptions import APIError, SpreadsheetNotFound
from gspread.utils import InsertDataOption, ValueInputOption

from sportello.sinks.layout import CONVERSATION_HEADER, CONVERSATIONS, EVENT_ID, HEADERS, TICKET_HEADER, TICKETS
from sportello.sinks.sheets import SheetRow, SinkError

log = logging.getLogger("sportello.sheets")

GOOGLE_API = "https://sheets.googleapis.com"
SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]
MAX_CELL_CHARS = 50_000  # Google rejects a request with a longer cell
TRUNCATED = " …[troncato / truncated]"
MAX_REQUEST_BYTES = 2_000_000  # Google advises payloads of at most 2 MB
MAX_ROWS_PER_REQUEST = 1000


def bilingual(it: str, en: str) -> str:
    return f"{it} — {en}"


def parse_sheet_id(value: str) -> str:
    """A spreadsheet id from an id or a URL like .../spreadsheets/d/<id>/edit#gid=0."""
    value = (value or "").strip()
    m = re.search(r"/spreadsheets/d/([A-Za-z0-9_-]+)", value)
    if m:
        return m.group(1)
    m = re.search(r"[?&]key=([A-Za-z0-9_-]+)", value)
    if m:
        return m.group(1)
    return value.rstrip("/")


class ConfigError(Exception):
    """The settings do not describe a usable Google Sheets target."""


def load_service_account(settings) -> dict:
    """The service-account key as a dict, from the JSON string or the file path.

    Raises ConfigError with a message that never contains the key itself.
    """
    raw = (settings.google_service_account_json or "").strip()
    source = "GOOGLE_SERVICE_ACCOUNT_JSON"
    if not raw and settings.google_application_credentials:
        path = Path(settings.google_application_credentials).expanduser()
        source = f"GOOGLE_APPLICATION_CREDENTIALS ({path})"
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                bilingual(
                    f"Impossibile leggere il file della chiave {source}: {exc.strerror or exc}",
                    f"Cannot read the key file {source}: {exc.strerror or exc}",
                )
            ) from None
    try:
        info = json.loads(raw)
    except ValueError as exc:
        where = f"line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else "?"
        raise ConfigError(
            bilingual(
                f"{source} non è un JSON valido (riga/colonna {where}): incolla l'intero file JSON "
                "della chiave dell'account di servizio",
                f"{source} is not valid JSON ({where}): paste the whole JSON key file of the service account",
            )
        ) from None
    if not isinstance(info, dict):
        raise ConfigError(bilingual(f"{source} deve essere un oggetto JSON", f"{source} must be a JSON object"))
    missing = [k for k in ("type", "client_email", "private_key", "token_uri") if not info.get(k)]
    if info.get("type") not in (None, "service_account") or missing:
        what = ", ".join(missing) if missing else f"type={info.get('type')!r}"
        raise ConfigError(
            bilingual(
                f"{source} non è la chiave di un account di servizio Google (manca: {what})",
                f"{source} is not a Google service-account key (missing: {what})",
            )
        )
    return info


class _Redirect:
    """Mixin for a requests.Session: requests meant for https://sheets.googleapis.com go to `base_url`."""

    def _redirect_to(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/v4")
        if re.match(r"https?://(127\.|localhost|\[::1\])", self.base_url):
            self.trust_env = False  # never send a local stand-in's traffic through a proxy

    def request(self, method, url, *args, **kwargs):
        if isinstance(url, str) and url.startswith(GOOGLE_API):
            url = self.base_url + url[len(GOOGLE_API) :]
        return super().request(method, url, *args, **kwargs)


class _RedirectSession(_Redirect, requests.Session):
    """No credentials: for a stand-in that does not check them."""

    def __init__(self, base_url: str):
        super().__init__()
        self._redirect_to(base_url)


def _authorized_redirect_session(credentials, base_url: str) -> requests.Session:
    """Service-account credentials (OAuth token, Bearer header) sent to `base_url`."""
    from google.auth.transport.requests import AuthorizedSession

    class AuthorizedRedirectSession(_Redirect, AuthorizedSession):
        pass

    session = AuthorizedRedirectSession(credentials)
    session._redirect_to(base_url)
    return session


class WriteLimiter:
    """A token bucket: at most `per_window` write requests in any `window_s`.

    `burst` tokens are available at once, the rest refill evenly, so that
    burst + refill over a window never exceeds `per_window`.
    """

    def __init__(self, per_window: int = 60, window_s: float = 60.0, burst: int = 10, clock=time.monotonic):
        burst = max(1, min(burst, per_window - 1)) if per_window > 1 else 1
        self.capacity = float(burst)
        self.rate = max(per_window - burst, 1) / window_s  # tokens per second
        self.clock = clock
        self.tokens = self.capacity
        self.updated = clock()
        self.lock = threading.Lock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def delay(self) -> float:
        """Seconds until one token is available (0 if now)."""
        with self.lock:
            self._refill()
            return 0.0 if self.tokens >= 1 - 1e-9 else (1 - self.tokens) / self.rate

    def acquire(self, sleep: Callable[[float], None] = time.sleep) -> None:
        while True:
            with self.lock:
                self._refill()
                if self.tokens >= 1 - 1e-9:  # float dust must not make it spin
                    self.tokens = max(0.0, self.tokens - 1)
                    return
                wait = (1 - self.tokens) / self.rate
            sleep(wait)


def _fit(cell: str) -> str:
    if len(cell) <= MAX_CELL_CHARS:
        return cell
    return cell[: MAX_CELL_CHARS - len(TRUNCATED)] + TRUNCATED


def _row_number(updated_range: str) -> int | None:
    """First row of an A1 range like "'Ticket'!A5:N6" or "Ticket!A5"."""
    m = re.search(r"!\$?[A-Z]+\$?(\d+)", updated_range or "")
    return int(m.group(1)) if m else None


def _col_letter(n: int) -> str:
    out = ""
    while n > 0:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def _a1(title: str, cells: str) -> str:
    return "'" + title.replace("'", "''") + "'!" + cells


class GoogleSheetsSink:
    """Writes outbox rows to a Google spreadsheet (or a stand-in) with gspread."""

    name = "google_sheets"

    def __init__(
        self,
        sheet_id: str,
        *,
        credentials: dict | None = None,
        api_url: str = "",
        config_error: str = "",
        timeout_s: float = 30.0,
        writes_per_window: int = 60,
        window_s: float = 60.0,
        burst: int = 10,
        ticket_index_ttl_s: float = 60.0,
        client_factory: Callable[[], gspread.Client] | None = None,
    ):
        self.sheet_id = parse_sheet_id(sheet_id)
        self.credentials = credentials
        self.api_url = api_url
        self.config_error = config_error
        self.timeout_s = timeout_s
        self.limiter = WriteLimiter(writes_per_window, window_s, burst)
        self.ticket_index_ttl_s = ticket_index_ttl_s
        self._client_factory = client_factory
        self.service_account = (credentials or {}).get("client_email", "")
        self._book: gspread.Spreadsheet | None = None
        self._sheets: dict[str, gspread.Worksheet] = {}
        self._tickets: dict[str, int] | None = None  # ticket id -> row number
        self._tickets_read_at = 0.0
        self._refused: set[str] = set()  # event ids whose last attempt surely did not reach the sheet
        self.requests_made = 0
        self.write_requests = 0
        if config_error:
            log.error("Google Sheets misconfigured: %s", config_error)

    # -- what the dashboard shows -------------------------------------------
    @property
    def target(self) -> str:
        where = self.api_url or "Google Sheets"
        return f"{where} · {self.sheet_id or '?'}"

    def write_delay(self) -> float:
        """Seconds until the limiter allows the next write request."""
        return self.limiter.delay()

    # -- connection and worksheets ------------------------------------------
    def _client(self) -> gspread.Client:
        if self._client_factory is not None:
            return self._client_factory()
        if self.api_url and not self.credentials:
            client = gspread.Client(auth=None, session=_RedirectSession(self.api_url))
        else:
            from google.oauth2.service_account import Credentials

            try:
                creds = Credentials.from_service_account_info(self.credentials or {}, scopes=SCOPES)
            except (ValueError, KeyError) as exc:
                raise SinkError(
                    bilingual(
                        f"Chiave dell'account di servizio non valida: {type(exc).__name__}",
                        f"Invalid service-account key: {type(exc).__name__}: {str(exc)[:200]}",
                    ),
                    retryable=False,
                ) from None
            if self.api_url:  # a stand-in that also checks the OAuth flow
                client = gspread.Client(auth=None, session=_authorized_redirect_session(creds, self.api_url))
            else:
                client = gspread.Client(auth=creds)
        client.set_timeout(self.timeout_s)
        return client

    def prepare(self) -> None:
        """Open the spreadsheet; create the worksheets and headers that are missing."""
        if self.config_error:
            raise SinkError(self.config_error, retryable=False)
        if self._book is not None:
            return
        book = self._call(lambda: self._client().open_by_key(self.sheet_id), "open")
        existing = {ws.title: ws for ws in self._call(book.worksheets, "read")}
        sheets: dict[str, gspread.Worksheet] = {}
        for title in (CONVERSATIONS, TICKETS):
            ws = existing.get(title)
            if ws is None:
                ws = self._add_worksheet(book, title)
            sheets[title] = ws
        firsts = self._call(
            lambda: book.values_batch_get([_a1(t, "1:1") for t in sheets]).get("valueRanges", []), "read"
        )
        headers = []
        for (title, ws), vr in zip(sheets.items(), firsts, strict=False):
            update = self._header_update(ws, title, (vr.get("values") or [[]])[0])
            if update:
                headers.append(update)
        if headers:  # one request for every missing header
            self._call(lambda: book.values_batch_update(body={"valueInputOption": "RAW", "data": headers}), "write")
        self._book, self._sheets = book, sheets
        log.info("Google Sheets ready: %s (%s)", book.title, self.sheet_id)

    def _add_worksheet(self, book: gspread.Spreadsheet, title: str) -> gspread.Worksheet:
        header = HEADERS[title]
        try:
            return self._call(lambda: book.add_worksheet(title, rows=1, cols=len(header)), "write")
        except SinkError:
            # Another process may have created it at the same moment: use it if it is there now.
            for ws in self._call(book.worksheets, "read"):
                if ws.title == title:
                    return ws
            raise

    def _header_update(self, ws: gspread.Worksheet, title: str, first: list) -> dict | None:
        """The header cells to write for a worksheet (None if its header is right)."""
        header = HEADERS[title]
        first = [str(c) for c in first]
        if first == header:
            return None
        if not any(first):  # a new or empty worksheet
            self._ensure_columns(ws, len(header))
            return {"range": _a1(title, "A1"), "values": [header]}
        if title == CONVERSATIONS and first == CONVERSATION_HEADER:
            # The seed's sheet: add the event_id column used for de-duplication.
            self._ensure_columns(ws, len(header))
            return {"range": _a1(title, _col_letter(len(CONVERSATION_HEADER) + 1) + "1"), "values": [[EVENT_ID]]}
        raise SinkError(
            bilingual(
                f"Il foglio «{title}» ha un'intestazione inattesa ({', '.join(first[:8])}…): "
                f"la prima riga deve essere {', '.join(header)}. Rinomina quel foglio o correggi la riga 1",
                f"Worksheet '{title}' has an unexpected header ({', '.join(first[:8])}…): "
                f"row 1 must be {', '.join(header)}. Rename that worksheet or fix row 1",
            ),
            retryable=False,
        )

    def _ensure_columns(self, ws: gspread.Worksheet, n: int) -> None:
        if ws.col_count < n:
            self._call(lambda: ws.resize(cols=n), "write")

    # -- writing -------------------------------------------------------------
    def write(self, rows: Sequence[SheetRow]) -> None:
        self.prepare()
        appends: dict[str, list[SheetRow]] = {}
        upserts: dict[str, list[SheetRow]] = {}
        for row in rows:  # commit order is kept inside each worksheet
            (upserts if row.op == "upsert" else appends).setdefault(row.worksheet, []).append(row)
        for title, run in appends.items():
            self._append(title, run)
        for title, run in upserts.items():
            self._upsert(title, run)

    def _worksheet(self, title: str) -> gspread.Worksheet:
        ws = self._sheets.get(title)
        if ws is None:
            raise SinkError(bilingual(f"Foglio sconosciuto «{title}»", f"Unknown worksheet '{title}'"), retryable=False)
        return ws

    def _append(self, title: str, run: list[SheetRow]) -> None:
        ws = self._worksheet(title)
        # Rows tried before may be in the sheet already, unless this process saw
        # that attempt refused outright (429, 4xx): then there is nothing to check.
        if any(r.attempts and r.event_id not in self._refused for r in run):
            present = self._event_ids(title)
            run = [r for r in run if r.event_id not in present]
        cells = [[_fit(c) for c in r.cells()] for r in run]
        done = 0
        for chunk in self._chunks(cells):
            try:
                self._call(
                    lambda chunk=chunk: ws.append_rows(
                        chunk,
                        value_input_option=ValueInputOption.raw,
                        insert_data_option=InsertDataOption.insert_rows,
                        table_range="A1",
                    ),
                    "write",
                )
            except SinkError as exc:
                first_unsent = done + len(chunk) if exc.maybe_written else done
                self._refused = {r.event_id for r in run[first_unsent:]}
                raise
            done += len(chunk)
        self._refused = set()

    def _event_ids(self, title: str) -> set[str]:
        """The event ids already in the worksheet's event_id column."""
        col = _col_letter(HEADERS[title].index(EVENT_ID) + 1)
        data = self._call(lambda: self._book.values_get(_a1(title, f"{col}2:{col}")), "read")
        return {r[0] for r in data.get("values") or [] if r}

    @staticmethod
    def _chunks(cells: list[list[str]]) -> list[list[list[str]]]:
        """Split rows into requests of at most MAX_ROWS_PER_REQUEST rows and ~2 MB."""
        out: list[list[list[str]]] = []
        size = 0
        for rec in cells:
            n = sum(len(c.encode()) + 4 for c in rec) + 4
            if not out or len(out[-1]) >= MAX_ROWS_PER_REQUEST or size + n > MAX_REQUEST_BYTES:
                out.append([])
                size = 0
            out[-1].append(rec)
            size += n
        return out

    def _ticket_index(self, title: str, keys: list[str], force: bool) -> dict[str, int]:
        stale = time.monotonic() - self._tickets_read_at > self.ticket_index_ttl_s
        if self._tickets is None or force or stale or any(k not in self._tickets for k in keys):
            data = self._call(lambda: self._book.values_get(_a1(title, "A:A")), "read")
            index: dict[str, int] = {}
            for n, rec in enumerate(data.get("values") or [], start=1):
                if n > 1 and rec and rec[0]:
                    index.setdefault(str(rec[0]), n)
            self._tickets, self._tickets_read_at = index, time.monotonic()
        return self._tickets

    def _upsert(self, title: str, run: list[SheetRow]) -> None:
        ws = self._worksheet(title)
        latest: dict[str, list[str]] = {}  # row key -> its newest cells, first-seen order
        for row in run:
            latest[row.row_key] = [_fit(c) for c in row.cells()]
        try:
            index = self._ticket_index(title, list(latest), force=any(r.attempts for r in run))
            width = _col_letter(len(TICKET_HEADER if title == TICKETS else HEADERS.get(title, [])) or 1)
            updates = [
                {"range": _a1(title, f"A{index[k]}:{width}{index[k]}"), "values": [cells]}
                for k, cells in latest.items()
                if k in index
            ]
            fresh = [(k, cells) for k, cells in latest.items() if k not in index]
            if updates:
                self._call(
                    lambda: self._book.values_batch_update(body={"valueInputOption": "RAW", "data": updates}), "write"
                )
            if fresh:
                res = self._call(
                    lambda: ws.append_rows(
                        [cells for _, cells in fresh],
                        value_input_option=ValueInputOption.raw,
                        insert_data_option=InsertDataOption.insert_rows,
                        table_range="A1",
                    ),
                    "write",
                )
                first = _row_number(((res or {}).get("updates") or {}).get("updatedRange", ""))
                if first is None:
                    self._tickets = None
                else:
                    for i, (k, _) in enumerate(fresh):
                        index[k] = first + i
        except SinkError:
            self._tickets = None  # re-read before the next attempt
            raise

    # -- one request, with the errors mapped ---------------------------------
    def _call(self, fn: Callable, kind: str):
        if kind == "write":
            self.limiter.acquire()
            self.write_requests += 1
        self.requests_made += 1
        try:
            return fn()
        except APIError as exc:
            err = self._api_error(exc)
            status = exc.response.status_code if exc.response is not None else 0
            err.maybe_written = status >= 500 or status in (0, 408)  # 429 and 4xx: refused, not written
            raise err from None
        except SpreadsheetNotFound:
            raise self._not_found() from None
        except PermissionError:
            raise self._forbidden("") from None
        except requests.Timeout:
            raise SinkError(
                bilingual(
                    f"Google Sheets non ha risposto entro {self.timeout_s:g}s; nuovo tentativo",
                    f"Google Sheets did not answer within {self.timeout_s:g}s; retrying",
                )
            ) from None
        except requests.ConnectionError as exc:
            raise SinkError(
                bilingual(
                    "Connessione a Google Sheets interrotta; nuovo tentativo",
                    f"Connection to Google Sheets failed ({type(exc).__name__}); retrying",
                )
            ) from None
        except requests.RequestException as exc:
            raise SinkError(
                bilingual("Errore di rete verso Google Sheets", f"Network error to Google Sheets: {exc}")
            ) from None
        except Exception as exc:
            raise self._other(exc) from None

    def _other(self, exc: Exception) -> SinkError:
        from google.auth import exceptions as gauth

        if isinstance(exc, gauth.RefreshError):
            return SinkError(
                bilingual(
                    "Google ha rifiutato la chiave dell'account di servizio (revocata, cancellata o orologio errato)",
                    f"Google refused the service-account key (revoked, deleted or wrong clock): {str(exc)[:200]}",
                ),
                retryable=False,
            )
        if isinstance(exc, gauth.TransportError):
            return SinkError(
                bilingual("Impossibile contattare Google per l'accesso", f"Cannot reach Google to sign in: {exc}")
            )
        return SinkError(f"{type(exc).__name__}: {exc}")

    def _account(self) -> str:
        return self.service_account or "l'account di servizio / the service account"

    def _not_found(self) -> SinkError:
        return SinkError(
            bilingual(
                f"Foglio Google non trovato (SHEET_ID={self.sheet_id}): controlla l'id o l'URL",
                f"Google spreadsheet not found (SHEET_ID={self.sheet_id}): check the id or URL",
            ),
            retryable=False,
        )

    def _forbidden(self, detail: str) -> SinkError:
        account = self._account()
        return SinkError(
            bilingual(
                f"Il foglio {self.sheet_id} non è condiviso con {account}: condividilo come Editor",
                f"The spreadsheet {self.sheet_id} is not shared with {account}: share it as Editor"
                + (f" ({detail})" if detail else ""),
            ),
            retryable=False,
        )

    def _api_error(self, exc: APIError) -> SinkError:
        status = exc.response.status_code if exc.response is not None else 0
        try:
            err = exc.response.json().get("error", {})
        except Exception:
            err = {}
        message = str(err.get("message") or exc)[:300]
        reason = json.dumps(err.get("details") or err.get("errors") or "")
        if status == 429 or (status == 403 and "ateLimitExceeded" in reason):
            return SinkError(
                bilingual(
                    "Quota di scrittura di Google Sheets superata (429); le righe restano in coda",
                    f"Google Sheets write quota exceeded (429); rows stay queued: {message}",
                )
            )
        if status == 400 and "Unable to parse range" in message:
            self._book = None  # a worksheet was deleted or renamed: open and create it again
            return SinkError(
                bilingual(
                    "Un foglio è stato rinominato o cancellato; lo ricreo",
                    f"A worksheet was renamed or deleted; recreating it: {message}",
                )
            )
        if status >= 500 or status == 408:
            return SinkError(
                bilingual(
                    f"Google Sheets temporaneamente non disponibile ({status}); nuovo tentativo",
                    f"Google Sheets temporarily unavailable ({status}); retrying: {message}",
                )
            )
        if status == 404:
            return self._not_found()
        if status == 403:
            return self._forbidden(message)
        if status == 401:
            return SinkError(
                bilingual(
                    "Google Sheets rifiuta le credenziali (401): controlla la chiave dell'account di servizio",
                    f"Google Sheets rejects the credentials (401): check the service-account key: {message}",
                ),
                retryable=False,
            )
        return SinkError(
            bilingual(
                f"Google Sheets ha rifiutato la richiesta ({status})",
                f"Google Sheets refused the request ({status}): {message}",
            ),
            retryable=False,
        )


def build_google_sink(settings) -> GoogleSheetsSink | None:
    """The Google sink the settings ask for, or None if they ask for none.

    A half-done configuration (credentials without SHEET_ID, SHEET_ID without
    credentials, a key that is not valid JSON) still gives a Google sink, in
    an error state: the app starts, the error is shown, rows wait in the outbox.
    """
    sheet_id = parse_sheet_id(settings.sheet_id)
    has_creds = bool(settings.google_service_account_json or settings.google_application_credentials)
    api_url = (settings.sheets_api_url or "").strip()
    if not (sheet_id or has_creds or api_url):
        return None
    if not sheet_id:
        return GoogleSheetsSink(
            "",
            api_url=api_url,
            config_error=bilingual(
                "Google Sheets configurato ma SHEET_ID mancante: imposta l'id o l'URL del foglio",
                "Google Sheets is configured but SHEET_ID is missing: set the spreadsheet id or URL",
            ),
        )
    if api_url and not has_creds:
        return GoogleSheetsSink(sheet_id, api_url=api_url)
    if not has_creds:
        return GoogleSheetsSink(
            sheet_id,
            config_error=bilingual(
                "SHEET_ID è impostato ma mancano le credenziali: imposta GOOGLE_SERVICE_ACCOUNT_JSON "
                "o GOOGLE_APPLICATION_CREDENTIALS",
                "SHEET_ID is set but credentials are missing: set GOOGLE_SERVICE_ACCOUNT_JSON "
                "or GOOGLE_APPLICATION_CREDENTIALS",
            ),
        )
    try:
        info = load_service_account(settings)
    except ConfigError as exc:
        return GoogleSheetsSink(sheet_id, api_url=api_url, config_error=str(exc))
    return GoogleSheetsSink(sheet_id, credentials=info, api_url=api_url)
