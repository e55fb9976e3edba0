"""A local stand-in for the Google Sheets v4 endpoints gspread uses.

It keeps spreadsheets in memory and answers like Google does for:

    GET  /v4/spreadsheets/{id}                       metadata (sheets, grid sizes)
    POST /v4/spreadsheets/{id}:batchUpdate           addSheet, updateSheetProperties, appendDimension
    GET  /v4/spreadsheets/{id}/values/{range}        values.get
    PUT  /v4/spreadsheets/{id}/values/{range}        values.update
    POST /v4/spreadsheets/{id}/values/{range}:append values.append
    GET  /v4/spreadsheets/{id}/values:batchGet       values.batchGet
    POST /v4/spreadsheets/{id}/values:batchUpdate    values.batchUpdate

with Google's error bodies (`{"error": {"code", "message", "status"}}`), a
write quota (N write requests per window -> 429 RESOURCE_EXHAUSTED), a
per-request latency and injected faults: an HTTP status, a slow answer
after the write, a connection dropped after the write, a write held until
released (to kill a client while its request is in flight).

Start it in-process (tests, benchmarks)::

    with SheetsStandIn(write_quota=60, window_s=60) as standin:
        standin.add_spreadsheet("sheet-1")
        ...  # SHEETS_API_URL=standin.url SHEET_ID=sheet-1
        standin.values("sheet-1", "Conversazioni")

or as a program, to point an app at it by hand::

    python -m testkit.sheets_standin --port 8090 --sheet-id demo --write-quota 60
"""

from __future__ import annotations

import argparse
import json
import random
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

MAX_CELL_CHARS = 50_000
_NAMED_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


# ---------------------------------------------------------------- A1 notation
def col_index(letters: str) -> int:
    """'A' -> 1, 'Z' -> 26, 'AA' -> 27."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n


def col_letters(index: int) -> str:
    out = ""
    while index > 0:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


_CELL = re.compile(r"^([A-Za-z]*)(\d*)$")


@dataclass(frozen=True)
class A1:
    sheet: str | None
    r1: int | None = None  # 1-based, inclusive; None = open
    c1: int | None = None
    r2: int | None = None
    c2: int | None = None


def parse_a1(text: str) -> A1:
    """Parse `'Sheet'!A1:B2`, `Sheet!G:G`, `Sheet!5:5`, `Sheet`, `A1`."""
    text = text.strip()
    sheet: str | None = None
    cells = text
    if text.startswith("'"):
        i, name = 1, ""
        while i < len(text):
            if text[i] == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    name += "'"
                    i += 2
                    continue
                break
            name += text[i]
            i += 1
        sheet = name
        rest = text[i + 1 :]
        cells = rest[1:] if rest.startswith("!") else ""
    elif "!" in text:
        sheet, _, cells = text.rpartition("!")
    elif not re.fullmatch(r"[A-Za-z]{0,3}\d*(:[A-Za-z]{0,3}\d*)?", text):
        sheet, cells = text, ""
    if not cells:
        return A1(sheet)
    first, _, second = cells.partition(":")
    m1 = _CELL.match(first)
    m2 = _CELL.match(second or first)
    if not m1 or not m2:
        raise ValueError(f"Unable to parse range: {text}")
    c1 = col_index(m1.group(1)) if m1.group(1) else None
    r1 = int(m1.group(2)) if m1.group(2) else None
    c2 = col_index(m2.group(1)) if m2.group(1) else None
    r2 = int(m2.group(2)) if m2.group(2) else None
    if not second:  # a single cell: "A1" means A1:A1 for reads, the top-left for writes
        c2, r2 = c1, r1
    return A1(sheet, r1, c1, r2, c2)


def quote_title(title: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_]+", title):
        return title
    return "'" + title.replace("'", "''") + "'"


def a1_text(title: str, r1: int, c1: int, r2: int, c2: int) -> str:
    return f"{quote_title(title)}!{col_letters(c1)}{r1}:{col_letters(c2)}{r2}"


# ---------------------------------------------------------------- state
@dataclass
class Sheet:
    sheet_id: int
    title: str
    index: int
    row_count: int = 1000
    column_count: int = 26
    cells: list[list[str]] = field(default_factory=list)  # dense rows, ragged

    def properties(self) -> dict:
        return {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": self.index,
            "sheetType": "GRID",
            "gridProperties": {"rowCount": self.row_count, "columnCount": self.column_count},
        }

    def last_row(self) -> int:
        """1-based number of the last row holding a non-empty cell (0 if none)."""
        for i in range(len(self.cells) - 1, -1, -1):
            if any(v != "" for v in self.cells[i]):
                return i + 1
        return 0

    def put(self, row: int, col: int, values: list[list]) -> None:
        for dr, rec in enumerate(values):
            r = row + dr
            while len(self.cells) < r:
                self.cells.append([])
            line = self.cells[r - 1]
            for dc, value in enumerate(rec):
                c = col + dc
                while len(line) < c:
                    line.append("")
                line[c - 1] = "" if value is None else str(value)

    def read(self, rng: A1) -> list[list[str]]:
        r1 = rng.r1 or 1
        r2 = rng.r2 or max(self.row_count, len(self.cells))
        c1 = rng.c1 or 1
        c2 = rng.c2 or self.column_count
        out: list[list[str]] = []
        for r in range(r1, min(r2, len(self.cells)) + 1):
            line = self.cells[r - 1][c1 - 1 : c2]
            while line and line[-1] == "":
                line = line[:-1]
            out.append(list(line))
        while out and not out[-1]:
            out.pop()
        return out


@dataclass
class Spreadsheet:
    spreadsheet_id: str
    title: str
    shared: bool = True
    sheets: list[Sheet] = field(default_factory=list)
    next_sheet_id: int = 1000

    def sheet(self, title: str | None) -> Sheet | None:
        if title is None:
            return self.sheets[0] if self.sheets else None
        return next((s for s in self.sheets if s.title == title), None)


@dataclass
class Fault:
    kind: str  # "status" | "slow" | "drop" | "hold"
    status: int = 503
    delay_s: float = 0.0
    methods: tuple[str, ...] = ("POST", "PUT")  # which requests it hits (default: writes)
    path_contains: str = ""
    before_write: bool = False  # "slow"/"drop": act before applying the write instead of after


class ApiError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class SheetsStandIn:
    """The stand-in server; state and fault controls are plain Python."""

    def __init__(
        self,
        *,
        write_quota: int | None = None,
        read_quota: int | None = None,
        window_s: float = 60.0,
        latency_s: float | tuple[float, float] = 0.0,
        require_token: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.require_token = require_token  # then only "Bearer <a token from POST /token>" is accepted
        self.tokens: set[str] = set()
        self.token_requests: list[dict] = []  # the form fields of each POST /token
        self.write_quota = write_quota
        self.read_quota = read_quota
        self.window_s = window_s
        self.latency_s = latency_s
        self.lock = threading.RLock()
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.faults: list[Fault] = []
        self.requests: list[dict] = []  # every request: method, path, params, status, kind
        self._writes: deque[float] = deque()
        self._reads: deque[float] = deque()
        self.held = threading.Event()  # set while a "hold" fault is holding a request
        self._release = threading.Event()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SheetsStandIn:
        # serve_forever looks for shutdown() every poll interval (0.5 s by default): stop() waited ~0.4 s.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="sheets-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> SheetsStandIn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- state for tests ----------------------------------------------------
    def add_spreadsheet(
        self, spreadsheet_id: str, *, title: str = "Sportello", shared: bool = True, sheets: dict | None = None
    ) -> Spreadsheet:
        """A spreadsheet; `sheets` maps titles to rows (or to (rows, column_count))."""
        with self.lock:
            book = Spreadsheet(spreadsheet_id, title, shared)
            for title_, spec in (sheets or {"Foglio1": []}).items():
                rows, cols = spec if isinstance(spec, tuple) else (spec, 26)
                sheet = Sheet(book.next_sheet_id, title_, len(book.sheets), max(1000, len(rows)), cols)
                book.next_sheet_id += 1
                sheet.put(1, 1, rows)
                book.sheets.append(sheet)
            self.spreadsheets[spreadsheet_id] = book
            return book

    def values(self, spreadsheet_id: str, title: str) -> list[list[str]]:
        """Every row of a worksheet (trailing empty cells trimmed), header included."""
        with self.lock:
            sheet = self.spreadsheets[spreadsheet_id].sheet(title)
            return [] if sheet is None else sheet.read(A1(title))

    def records(self, spreadsheet_id: str, title: str) -> list[dict]:
        """The rows below the header as dicts keyed by the header."""
        rows = self.values(spreadsheet_id, title)
        if not rows:
            return []
        header = rows[0]
        return [dict(zip(header, r + [""] * (len(header) - len(r)), strict=False)) for r in rows[1:]]

    def sheet(self, spreadsheet_id: str, title: str) -> Sheet | None:
        with self.lock:
            return self.spreadsheets[spreadsheet_id].sheet(title)

    def inject(self, kind: str, count: int = 1, **options) -> None:
        """Queue `count` faults for the next matching requests (in order)."""
        with self.lock:
            self.faults.extend(Fault(kind, **options) for _ in range(count))

    def release(self) -> None:
        """Let a held request finish (it then answers, or drops if the client left)."""
        self._release.set()

    def writes(self) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["kind"] == "write"]

    # -- request handling ---------------------------------------------------
    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for i, f in enumerate(self.faults):
                if method in f.methods and f.path_contains in path:
                    return self.faults.pop(i)
        return None

    def _quota(self, kind: str) -> None:
        limit = self.write_quota if kind == "write" else self.read_quota
        if limit is None:
            return
        log = self._writes if kind == "write" else self._reads
        now = time.monotonic()
        with self.lock:
            while log and now - log[0] >= self.window_s:
                log.popleft()
            if len(log) >= limit:
                metric = "Write" if kind == "write" else "Read"
                raise ApiError(
                    429,
                    f"Quota exceeded for quota metric '{metric} requests' and limit "
                    f"'{metric} requests per minute per user' of service 'sheets.googleapis.com'.",
                )
            log.append(now)

    def _latency(self) -> None:
        lat = self.latency_s
        delay = random.uniform(*lat) if isinstance(lat, tuple) else lat
        if delay > 0:
            time.sleep(delay)

    def issue_token(self, form: dict) -> tuple[int, dict]:
        """OAuth token endpoint for service accounts (a JWT bearer assertion)."""
        with self.lock:
            self.token_requests.append(form)
        if (
            form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer"
            or form.get("assertion", "").count(".") != 2
        ):
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT assertion."}
        token = f"standin-{len(self.token_requests)}"
        with self.lock:
            self.tokens.add(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def check_auth(self, authorization: str) -> None:
        if not self.require_token:
            return
        scheme, _, token = (authorization or "").partition(" ")
        if scheme != "Bearer" or token not in self.tokens:
            raise ApiError(401, "Request is missing required authentication credential.")

    def handle(self, method: str, raw_path: str, body: bytes) -> tuple[int, dict]:
        parts = urlsplit(raw_path)
        path = parts.path
        params = parse_qs(parts.query)
        kind = "write" if method in ("POST", "PUT") else "read"
        if path.startswith("/_standin/"):  # debug: GET /_standin/{id}/{worksheet}
            _, _, book, title = path.split("/", 3)
            return 200, {"values": self.values(unquote(book), unquote(title))}
        self._quota(kind)
        if not path.startswith("/v4/spreadsheets/"):
            raise ApiError(404, f"Unknown endpoint {path}")
        rest = path[len("/v4/spreadsheets/") :]
        data = json.loads(body or b"{}") if body else {}
        if "/" not in rest:
            book_id, _, action = rest.partition(":")
            book = self._book(unquote(book_id))
            if method == "GET" and not action:
                return 200, self._metadata(book)
            if method == "POST" and action == "batchUpdate":
                return 200, self._batch_update(book, data)
            raise ApiError(404, f"Unknown endpoint {path}")
        book_id, _, tail = rest.partition("/")
        book = self._book(unquote(book_id))
        if tail == "values:batchGet" and method == "GET":
            return 200, self._batch_get(book, params.get("ranges", []))
        if tail == "values:batchUpdate" and method == "POST":
            return 200, self._values_batch_update(book, data)
        if not tail.startswith("values/"):
            raise ApiError(404, f"Unknown endpoint {path}")
        rng = unquote(tail[len("values/") :])
        if method == "POST" and rng.endswith(":append"):
            return 200, self._append(book, rng[: -len(":append")], params, data)
        if method == "GET":
            return 200, self._get(book, rng)
        if method == "PUT":
            self._input_option(params.get("valueInputOption", [""])[0])
            return 200, self._update(book, rng, data.get("values") or [])
        raise ApiError(404, f"Unknown endpoint {path}")

    def _book(self, book_id: str) -> Spreadsheet:
        book = self.spreadsheets.get(book_id)
        if book is None:
            raise ApiError(404, "Requested entity was not found.")
        if not book.shared:
            raise ApiError(403, "The caller does not have permission")
        return book

    @staticmethod
    def _input_option(option: str) -> str:
        if option not in ("RAW", "USER_ENTERED"):
            raise ApiError(400, "Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED")
        return option

    def _metadata(self, book: Spreadsheet) -> dict:
        with self.lock:
            return {
                "spreadsheetId": book.spreadsheet_id,
                "properties": {"title": book.title, "locale": "it_IT", "timeZone": "Europe/Rome"},
                "sheets": [{"properties": s.properties()} for s in book.sheets],
                "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.spreadsheet_id}/edit",
            }

    def _sheet(self, book: Spreadsheet, rng: A1) -> Sheet:
        sheet = book.sheet(rng.sheet)
        if sheet is None:
            raise ApiError(400, f"Unable to parse range: {rng.sheet}")
        return sheet

    def _batch_update(self, book: Spreadsheet, data: dict) -> dict:
        replies = []
        with self.lock:
            for req in data.get("requests") or []:
                if "addSheet" in req:
                    props = req["addSheet"].get("properties", {})
                    title = props.get("title") or f"Foglio{len(book.sheets) + 1}"
                    if book.sheet(title) is not None:
                        raise ApiError(
                            400,
                            f'Invalid requests[0].addSheet: A sheet with the name "{title}" already exists. '
                            "Please enter another name.",
                        )
                    grid = props.get("gridProperties", {})
                    sheet = Sheet(
                        book.next_sheet_id,
                        title,
                        len(book.sheets),
                        int(grid.get("rowCount", 1000)),
                        int(grid.get("columnCount", 26)),
                    )
                    book.next_sheet_id += 1
                    book.sheets.append(sheet)
                    replies.append({"addSheet": {"properties": sheet.properties()}})
                elif "updateSheetProperties" in req:
                    props = req["updateSheetProperties"]["properties"]
                    sheet = next((s for s in book.sheets if s.sheet_id == props.get("sheetId")), None)
                    if sheet is None:
                        raise ApiError(400, f"No grid with id: {props.get('sheetId')}")
                    grid = props.get("gridProperties", {})
                    sheet.row_count = int(grid.get("rowCount", sheet.row_count))
                    sheet.column_count = int(grid.get("columnCount", sheet.column_count))
                    replies.append({})
                elif "appendDimension" in req:
                    spec = req["appendDimension"]
                    sheet = next((s for s in book.sheets if s.sheet_id == spec.get("sheetId")), None)
                    if sheet is None:
                        raise ApiError(400, f"No grid with id: {spec.get('sheetId')}")
                    if spec.get("dimension") == "COLUMNS":
                        sheet.column_count += int(spec.get("length", 0))
                    else:
                        sheet.row_count += int(spec.get("length", 0))
                    replies.append({})
                else:
                    raise ApiError(400, f"The stand-in does not implement the request {sorted(req)}")
        return {"spreadsheetId": book.spreadsheet_id, "replies": replies}

    def _get(self, book: Spreadsheet, text: str) -> dict:
        rng = parse_a1(text)
        with self.lock:
            sheet = self._sheet(book, rng)
            values = sheet.read(rng)
            out = {
                "range": a1_text(
                    sheet.title,
                    rng.r1 or 1,
                    rng.c1 or 1,
                    rng.r2 or sheet.row_count,
                    rng.c2 or sheet.column_count,
                ),
                "majorDimension": "ROWS",
            }
        if values:
            out["values"] = values
        return out

    def _batch_get(self, book: Spreadsheet, ranges: list[str]) -> dict:
        return {"spreadsheetId": book.spreadsheet_id, "valueRanges": [self._get(book, r) for r in ranges]}

    @staticmethod
    def _check_cells(values: list[list]) -> None:
        for rec in values:
            for v in rec:
                if isinstance(v, str) and len(v) > MAX_CELL_CHARS:
                    raise ApiError(
                        400,
                        f"Your input contains more than the maximum of {MAX_CELL_CHARS} characters in a single cell.",
                    )

    def _update(self, book: Spreadsheet, text: str, values: list[list]) -> dict:
        rng = parse_a1(text)
        self._check_cells(values)
        with self.lock:
            sheet = self._sheet(book, rng)
            row, col = rng.r1 or 1, rng.c1 or 1
            width = max((len(v) for v in values), default=0)
            last_row, last_col = row + len(values) - 1, col + width - 1
            if values and (last_row > sheet.row_count or last_col > sheet.column_count):
                raise ApiError(
                    400,
                    f"Range ({quote_title(sheet.title)}!{col_letters(last_col)}{last_row}) exceeds grid limits. "
                    f"Max rows: {sheet.row_count}, max columns: {sheet.column_count}",
                )
            sheet.put(row, col, values)
        return {
            "spreadsheetId": book.spreadsheet_id,
            "updatedRange": a1_text(sheet.title, row, col, max(row, last_row), max(col, last_col)),
            "updatedRows": len(values),
            "updatedColumns": width,
            "updatedCells": sum(len(v) for v in values),
        }

    def _values_batch_update(self, book: Spreadsheet, data: dict) -> dict:
        self._input_option(data.get("valueInputOption", ""))
        for item in data.get("data") or []:
            self._check_cells(item.get("values") or [])
        with self.lock:  # all or nothing, as in Google
            responses = [self._update(book, item["range"], item.get("values") or []) for item in data.get("data") or []]
        return {
            "spreadsheetId": book.spreadsheet_id,
            "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
            "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
            "responses": responses,
        }

    def _append(self, book: Spreadsheet, text: str, params: dict, data: dict) -> dict:
        self._input_option(params.get("valueInputOption", [""])[0])
        insert = params.get("insertDataOption", ["OVERWRITE"])[0]
        values = data.get("values") or []
        self._check_cells(values)
        rng = parse_a1(text)
        with self.lock:
            sheet = self._sheet(book, rng)
            table_end = sheet.last_row()
            row, col = table_end + 1, rng.c1 or 1
            width = max((len(v) for v in values), default=0)
            if insert == "INSERT_ROWS":
                sheet.row_count += len(values)
            else:
                sheet.row_count = max(sheet.row_count, table_end + len(values))
            sheet.column_count = max(sheet.column_count, col + width - 1)
            sheet.put(row, col, values)
            last_row = row + len(values) - 1
            return {
                "spreadsheetId": book.spreadsheet_id,
                "tableRange": a1_text(sheet.title, 1, col, max(1, table_end), max(col, col + width - 1)),
                "updates": {
                    "spreadsheetId": book.spreadsheet_id,
                    "updatedRange": a1_text(sheet.title, row, col, last_row, col + width - 1),
                    "updatedRows": len(values),
                    "updatedColumns": width,
                    "updatedCells": sum(len(v) for v in values),
                },
            }


def _value_input(path: str, body: bytes) -> str | None:
    """The valueInputOption of a values write (query string or batchUpdate body)."""
    option = parse_qs(urlsplit(path).query).get("valueInputOption", [None])[0]
    if option is None and body and "values:batchUpdate" in path:
        try:
            option = json.loads(body).get("valueInputOption")
        except ValueError:
            return None
    return option


def _handler_for(standin: SheetsStandIn):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if method == "POST" and self.path == "/token":
                form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                return self._json(*standin.issue_token(form))
            kind = "write" if method in ("POST", "PUT") else "read"
            entry = {"method": method, "path": self.path, "kind": kind, "t": time.monotonic(), "status": None}
            entry["value_input"] = _value_input(self.path, body)  # RAW / USER_ENTERED / None
            if not self.path.startswith("/_standin/"):
                with standin.lock:
                    standin.requests.append(entry)
            standin._latency()
            fault = standin._take_fault(method, self.path)
            if fault and fault.kind == "status":
                entry["status"] = fault.status
                return self._error(fault.status, "Injected failure" if fault.status >= 500 else "Injected error")
            if fault and fault.before_write and fault.kind in ("slow", "drop"):
                if fault.kind == "slow":
                    time.sleep(fault.delay_s)
                else:
                    return self._drop(entry)
            try:
                if not self.path.startswith("/_standin/"):
                    standin.check_auth(self.headers.get("Authorization", ""))
                status, payload = standin.handle(method, self.path, body)
            except ApiError as exc:
                entry["status"] = exc.code
                return self._error(exc.code, exc.message)
            except (ValueError, KeyError) as exc:
                entry["status"] = 400
                return self._error(400, f"Invalid request: {exc}")
            entry["status"] = status
            entry["applied"] = True
            if fault and not fault.before_write:
                if fault.kind == "slow":
                    time.sleep(fault.delay_s)
                elif fault.kind == "drop":
                    return self._drop(entry)
                elif fault.kind == "hold":
                    standin.held.set()
                    standin._release.wait()
                    standin.held.clear()
                    standin._release.clear()
            self._json(status, payload)

        def _drop(self, entry: dict) -> None:
            entry["dropped"] = True
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def _error(self, code: int, message: str) -> None:
            self._json(
                code, {"error": {"code": code, "message": message, "status": _NAMED_STATUS.get(code, "UNKNOWN")}}
            )

        def _json(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                self.close_connection = True

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local stand-in for the Google Sheets v4 API")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--sheet-id", default="sportello-demo")
    parser.add_argument("--write-quota", type=int, default=None, help="write requests per window (429 beyond)")
    parser.add_argument("--window", type=float, default=60.0, help="quota window in seconds")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    args = parser.parse_args(argv)
    standin = SheetsStandIn(write_quota=args.write_quota, window_s=args.window, latency_s=args.latency, port=args.port)
    standin.add_spreadsheet(args.sheet_id)
    standin.start()
    print(f"SHEETS_API_URL={standin.url} SHEET_ID={args.sheet_id}  (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
