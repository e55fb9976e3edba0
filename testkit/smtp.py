"""A real SMTP server for the tests (aiosmtpd): STARTTLS (or implicit TLS) with a self-signed certificate
made here (the `cryptography` package), AUTH LOGIN/PLAIN, the messages it accepted kept in memory.

    with SmtpServer(tmp_path) as smtp:
        env = {"SMTP_URL": smtp.url}          # smtp://user:secret@127.0.0.1:PORT?starttls=1&cafile=...
        ...
        smtp.wait_for(1); smtp.messages[0]["Message-ID"]

`refuse` (addresses answered 550), `hold` (an Event: while set, MAIL FROM waits, so a test can kill the
sender mid-transaction), `stop()`/`start()` (the server down, then back on the same port).
"""

from __future__ import annotations

import asyncio
import datetime
import email
import email.policy
import ipaddress
import ssl
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from testkit.support import free_port

USER, PASSWORD = "sportello", "s3cret-p@ss"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A key and a certificate for 127.0.0.1 and localhost (PEM files in `directory`)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = directory / "smtp-key.pem", directory / "smtp-cert.pem"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


class _Handler:
    def __init__(self, server: SmtpServer):
        self.server = server

    async def handle_MAIL(self, smtp, session, envelope, address, mail_options):
        if self.server.hold.is_set():
            self.server.held += 1
        while self.server.hold.is_set():
            await asyncio.sleep(0.02)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):
        if address.lower() in self.server.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self.server.lock:
            self.server.messages.append(msg)
            self.server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"


class SmtpServer:
    def __init__(self, directory: Path, *, implicit_tls: bool = False, port: int | None = None):
        self.directory = Path(directory)
        self.implicit_tls = implicit_tls
        self.port = port or free_port()
        self.key, self.cert = self_signed(self.directory)
        self.messages: list = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse: set[str] = set()
        self.hold = threading.Event()
        self.lock = threading.Lock()
        self.logins: list[str] = []
        self.held = 0  # transactions that waited in MAIL FROM
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        scheme = "smtps" if self.implicit_tls else "smtp"
        tls = "" if self.implicit_tls else "starttls=1&"
        return f"{scheme}://{USER}:{PASSWORD.replace('@', '%40')}@127.0.0.1:{self.port}?{tls}cafile={self.cert}"

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        if ok:
            self.logins.append(mechanism)
        return AuthResult(success=ok)

    def start(self) -> SmtpServer:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        options = dict(
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate,
            auth_required=True,
            auth_require_tls=True,
            server_hostname="127.0.0.1",
        )
        if self.implicit_tls:
            options["ssl_context"] = context
        else:
            options.update(tls_context=context, require_starttls=True)
        self._controller = Controller(_Handler(self), **options)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self.hold.clear()
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]) for m in self.messages]

    def wait_for(self, n: int, timeout: float = 10.0) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.02)
        raise AssertionError(f"{len(self.messages)} mail(s) arrived, expected {n}")
