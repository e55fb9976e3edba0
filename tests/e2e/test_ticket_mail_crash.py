"""Replies by email across a crash: `python app.py` SIGKILLed while a mail is on its way; after the
restart each reply arrives exactly once (a real SMTP server with STARTTLS and AUTH)."""

from __future__ import annotations

from sqlalchemy import create_engine, select

from sportello.store.tables import ticket_replies
from testkit.smtp import SmtpServer
from testkit.support import AppServer, Operator, Visitor, add_operator, wait_until


def test_sigkill_while_mail_is_sent_each_reply_arrives_once(data_dir, tmp_path, settings):
    add_operator(data_dir, "mario", "Mario Rossi")
    with SmtpServer(tmp_path / "smtp") as smtp:
        env = {
            "SMTP_URL": smtp.url,
            "MAIL_FROM": "help@museo.example",
            "MAIL_RETRY_BASE_S": "0.1",
            "MAIL_RETRY_MAX_S": "0.3",
        }
        srv = AppServer(data_dir, env=env).start()
        v = Visitor(srv.url, language="en")
        v.say("Can I talk to a human please?")
        v.accept(True)
        ticket = v.contact("email", "anna@example.org")["ticket"]
        v.close()
        op = Operator(srv.url, "mario")
        url = f"/api/tickets/{ticket['id']}/replies"
        for i in range(2):
            assert op.http.post(url, json={"text": f"reply {i}"}).status_code == 201
        smtp.wait_for(2)
        # The next mail stops in the middle of its SMTP transaction; the app dies there.
        smtp.hold.set()
        for i in range(2, 5):
            assert op.http.post(url, json={"text": f"reply {i}"}).status_code == 201
        wait_until(lambda: smtp.held >= 1)
        srv.kill()
        op.close()
        smtp.hold.clear()
        assert len(smtp.messages) == 2

        srv = AppServer(data_dir, env=env).start()
        try:
            smtp.wait_for(5)
            engine = create_engine(settings.database_url)

            def all_sent():
                with engine.connect() as conn:
                    rows = conn.execute(select(ticket_replies.c.state, ticket_replies.c.attempts)).all()
                return len(rows) == 5 and all(r.state == "sent" for r in rows) and rows

            rows = wait_until(all_sent)
            engine.dispose()
            assert sorted(r.attempts for r in rows) == [1, 1, 1, 1, 2]  # the one cut off went again, once
            ids = smtp.message_ids()
            assert len(ids) == 5 and len(set(ids)) == 5  # each exactly once
            bodies = sorted(
                next(w for w in m.get_content().splitlines() if w.startswith("reply ")) for m in smtp.messages
            )
            assert bodies == [f"reply {i}" for i in range(5)]
        finally:
            srv.stop()
