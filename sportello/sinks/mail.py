"""Mail out: the SMTP settings (`SMTP_URL`), a message built with the standard
library's `email.message.EmailMessage` (headers through `email.headerregistry`:
no header injection), and one send over `smtplib` (implicit TLS, STARTTLS,
AUTH) whose failure says whether it is worth retrying.

`SMTP_URL`: `smtp://user:pass@host:port` (plain, or STARTTLS with `?starttls=1`),
`smtps://user:pass@host:port` (implicit TLS). `?cafile=/path/ca.pem` trusts a
private CA besides the system's. The password is never logged nor shown: the
config's repr and `target` name the host and port only.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import parse_qs, unquote, urlsplit

TIMEOUT_S = 30.0


class MailError(Exception):
    """A send that failed. `permanent`: the server refused this message (5xx, a bad address); sending
    it again cannot succeed. Otherwise (server down, 4xx, a dropped connection) a retry may."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str = ""
    password: str = field(default="", repr=False)
    cafile: str = ""

    @classmethod
    def parse(cls, url: str) -> SmtpConfig:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://user:pass@host:port or smtps://user:pass@host:port")
        query = parse_qs(parts.query)
        flag = (query.get("starttls") or [""])[0].lower()
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if scheme == "smtps" else 25),
            implicit_tls=scheme == "smtps",
            starttls=scheme == "smtp" and flag in ("1", "true", "yes", "on"),
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            cafile=(query.get("cafile") or [""])[0],
        )

    @property
    def target(self) -> str:
        """What logs and the dashboard may show: never the credentials."""
        mode = "smtps" if self.implicit_tls else ("smtp+starttls" if self.starttls else "smtp")
        return f"{mode}://{self.host}:{self.port}"


def one_line(text: str) -> str:
    """A header value's text on one line (CR, LF and other controls become spaces)."""
    return " ".join("".join(c if c.isprintable() else " " for c in (text or "")).split())


def address(value: str, display_name: str = "") -> Address:
    """An `Address` from `addr@example.org` or `Name <addr@example.org>`; ValueError when unreadable."""
    value = (value or "").strip()
    if any(c in value for c in "\r\n"):
        raise ValueError("an address holds a line break")
    name, _, rest = value.rpartition("<")
    addr_spec = rest.rstrip(">").strip() if rest.endswith(">") else value
    name = one_line(display_name or name.strip().strip('"'))
    local, at, domain = addr_spec.rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in addr_spec):
        raise ValueError(f"not an email address: {addr_spec[:80]!r}")
    return Address(display_name=name, username=local, domain=domain)


def compose(
    *,
    sender: str,
    sender_name: str,
    to: str,
    subject: str,
    body: str,
    message_id: str,
    reply_to: str = "",
    date: float | None = None,
) -> EmailMessage:
    """A text/plain UTF-8 message (the body is never HTML). Names and the subject are put on one line,
    so a CR/LF in them cannot add a header."""
    msg = EmailMessage()
    msg["From"] = address(sender, sender_name)
    msg["To"] = address(to)
    if reply_to:
        msg["Reply-To"] = address(reply_to)
    msg["Subject"] = one_line(subject)
    msg["Date"] = formatdate(date if date is not None else time.time(), localtime=False)
    msg["Message-ID"] = message_id
    msg.set_content(body, subtype="plain", charset="utf-8")
    return msg


def _ssl_context(config: SmtpConfig) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if config.cafile:
        context.load_verify_locations(cafile=config.cafile)
    return context


def _refusal(code: int, text: bytes | str) -> MailError:
    said = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return MailError(f"{code} {said}".strip()[:500], permanent=500 <= code < 600)


class SmtpMailer:
    """Sends one message per connection (a help desk's replies are few)."""

    name = "smtp"

    def __init__(self, config: SmtpConfig, timeout_s: float = TIMEOUT_S):
        self.config = config
        self.timeout_s = timeout_s

    @property
    def target(self) -> str:
        return self.config.target

    def send(self, msg: EmailMessage) -> None:
        """Hand `msg` to the server; returns once the server accepted it (250 after DATA), else MailError."""
        c = self.config
        try:
            if c.implicit_tls:
                smtp = smtplib.SMTP_SSL(c.host, c.port, timeout=self.timeout_s, context=_ssl_context(c))
            else:
                smtp = smtplib.SMTP(c.host, c.port, timeout=self.timeout_s)
            with smtp:
                smtp.ehlo()
                if c.starttls:
                    smtp.starttls(context=_ssl_context(c))
                    smtp.ehlo()
                if c.username:
                    try:
                        smtp.login(c.username, c.password)
                    except smtplib.SMTPAuthenticationError as exc:
                        # The server's settings, not this message: retried (with backoff) once they are fixed.
                        raise MailError(f"authentication failed: {exc.smtp_code}", permanent=False) from None
                refused = smtp.send_message(msg)
                if refused:
                    code, text = next(iter(refused.values()))
                    raise _refusal(code, text)
        except MailError:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _refusal(code, text) from None
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, ...
            raise _refusal(exc.smtp_code, exc.smtp_error) from None
        except (smtplib.SMTPException, OSError) as exc:  # down, dropped, timed out, TLS: try again later
            raise MailError(f"{type(exc).__name__}: {exc}"[:500], permanent=False) from None
