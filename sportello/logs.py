"""Logging: one line per event, plain (default) or JSON (`LOG_FORMAT=json`), with the request id.

`setup_logging(settings)` configures the root logger once for the app process. Each line says the time,
level, logger and message, and `request_id` while a request is served (set by the API's middleware,
sportello/faces/metrics.py, returned in `X-Request-ID`). The sources log no secret and no personal data;
`Redact` is the backstop: it masks what looks like an email address, a phone number or a bearer token,
and the value of anything named password or token.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

REQUEST_ID: ContextVar[str | None] = ContextVar("sportello_request_id", default=None)
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s%(request_tag)s: %(message)s"

_PATTERNS = (
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [redacted]"),
    (re.compile(r"(?i)\b(password|passwd|token|secret|api_key)(\"?\s*[:=]\s*\"?)[^\s\"',;&]+"), r"\1\2[redacted]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"), "[email]"),
    (re.compile(r"(?<![\w.])\+?\d(?:[\s/-]?\d){7,14}(?![\w.])"), "[phone]"),
)


def redact(text: str) -> str:
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class Redact(logging.Filter):
    """Adds `request_id` to every record and masks secrets and contacts in its message (a backstop)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        record.request_tag = f" [{record.request_id}]" if record.request_id else ""
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id (in a request), exception."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


def handler(log_format: str = "plain", stream=None) -> logging.Handler:
    """A stream handler in `log_format` (plain or json), with the `Redact` filter."""
    out = logging.StreamHandler(stream or sys.stderr)
    out.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(PLAIN_FORMAT))
    out.addFilter(Redact())
    return out


def setup_logging(settings, stream=None) -> None:
    """The root logger at LOG_LEVEL, writing LOG_FORMAT lines (replaces handlers set before)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler(settings.log_format, stream))
    root.setLevel(settings.log_level)
