"""The reply mail: no header injection, text only, the SMTP settings never show the password."""

from __future__ import annotations

import email
import email.policy

import pytest

from sportello.config import SettingError, Settings
from sportello.sinks.mail import SmtpConfig, address, compose


def parse(msg):
    return email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)


def test_cr_lf_in_names_and_subject_cannot_add_a_header():
    msg = compose(
        sender="help@museo.example",
        sender_name="Mario\r\nBcc: victim@evil.example",
        to="anna@example.org",
        subject="Museo\r\nBcc: victim@evil.example\nX-Evil: 1",
        body="<script>alert(1)</script>\r\nBcc: nope@evil.example",
        message_id="<ticket-1.reply-2.3@museo.example>",
    )
    back = parse(msg)
    assert back["Bcc"] is None and back["X-Evil"] is None
    assert back["Subject"] == "Museo Bcc: victim@evil.example X-Evil: 1"
    assert back["From"].addresses[0].addr_spec == "help@museo.example"
    assert [a.addr_spec for a in back["To"].addresses] == ["anna@example.org"]
    assert back.get_content_type() == "text/plain" and "<script>" in back.get_content()


def test_addresses_with_line_breaks_are_refused():
    with pytest.raises(ValueError):
        address("anna@example.org\r\nBcc: x@evil.example")
    with pytest.raises(ValueError):
        address("not an address")


def test_smtp_url_is_parsed_and_the_password_never_shown():
    c = SmtpConfig.parse("smtp://user%40x:p%40ss@mail.example:587?starttls=1")
    assert (c.host, c.port, c.starttls, c.implicit_tls, c.username, c.password) == (
        "mail.example",
        587,
        True,
        False,
        "user@x",
        "p@ss",
    )
    assert "p@ss" not in repr(c) and "p@ss" not in c.target
    assert SmtpConfig.parse("smtps://u:p@mail.example").port == 465
    s = Settings.from_env({"SMTP_URL": "smtp://u:topsecret@mail.example:25"})
    assert "topsecret" not in repr(s)
    with pytest.raises(SettingError):
        Settings.from_env({"SMTP_URL": "http://mail.example"})
    assert Settings.from_env({"PORT": "8000", "HOST": "0.0.0.0"}).public_base_url == "http://localhost:8000"
    assert Settings.from_env({"PUBLIC_URL": "https://x.example/"}).public_base_url == "https://x.example"
