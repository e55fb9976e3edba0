"""The shared app and its data, made before any operator signs in to the dashboard (signing in puts an
operator online, and a visitor who asks for a person would then wait in the queue instead of leaving a
contact)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from redteam.harness import App, Context, Visitor, free_port

ADMIN, OPERATOR, OTHER, VICTIM = "rt_admin", "rt_lucia", "rt_marco", "rt_giulia"
# Erasure by contact: the visitor names herself and her email in the question that gets labelled.
ERASE_EMAIL, ERASE_EMAIL_NAME = "anna.verdi@example.org", "Anna Verdi"
ERASE_EMAIL_Q = f"Modulo XJ17 per {ERASE_EMAIL_NAME}, scrivete a {ERASE_EMAIL}"
# Erasure by session: a phone and a name.
ERASE_PHONE, ERASE_PHONE_NAME = "3471234567", "Bruno Neri"
ERASE_PHONE_Q = f"Modulo KW42 per {ERASE_PHONE_NAME}, chiamate il {ERASE_PHONE}"
# What a non-admin teaches: the question, and a marker in the taught answer.
TEACH_Q = "Avete il quaderno RTQ99 per le classi in visita?"
TEACH_MARK = "RTMARK7781"
# A contact that only the ticket holds (not the question): what masking must hide.
MASK_EMAIL = "carla.bianchi.rt@example.org"
MASK_Q = "Ho dimenticato un ombrello verde nel guardaroba ieri"


class Beacon:
    """A tiny HTTP server on 127.0.0.1 that counts the requests a browser makes to it."""

    def __init__(self):
        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def markdown_payload(beacon: Beacon) -> tuple[str, str, str]:
    img = f"http://127.0.0.1:{beacon.port}/x.png"
    link = f"http://127.0.0.1:{beacon.port}/link"
    return f"![x]({img}) orari della sala [clicca qui]({link})", img, link


def start_main_app(ctx: Context) -> App:
    """The shared app with its dashboard, four operators, and the seeded visitors."""
    with ctx.lock:
        if ctx.app is not None:
            return ctx.app
        app = App(ctx.new_dir("main") / "data")
        app.data_dir.mkdir(parents=True, exist_ok=True)
        app.add_operator(ADMIN, "Rita Admin", "--admin")
        app.spawn()
        for username, name in ((OPERATOR, "Lucia Bianchi"), (OTHER, "Marco Gialli"), (VICTIM, "Giulia Neri")):
            app.add_operator(username, name)
        app.wait_ready()
        ctx.app = app
        beacon = Beacon()
        ctx.cleanups.append(beacon.close)
        ctx.seed["beacon"] = beacon
        _seed(app, ctx.seed)
        return app


def _visitor_with_contact(app: App, question: str, method: str, value: str) -> str:
    v = Visitor(app)
    try:
        v.say(question)
        reply = v.ask_person_and_leave(method, value)
        if reply is None:
            raise RuntimeError("an operator was online during the seed: the visitor waits instead of a ticket")
        return v.session_id
    finally:
        v.close()


def _seed(app: App, seed: dict) -> None:
    seed["erase_email_sid"] = _visitor_with_contact(app, ERASE_EMAIL_Q, "email", ERASE_EMAIL)
    seed["erase_phone_sid"] = _visitor_with_contact(app, ERASE_PHONE_Q, "phone", ERASE_PHONE)
    seed["mask_sid"] = _visitor_with_contact(app, MASK_Q, "email", MASK_EMAIL)
    payload, img, link = markdown_payload(seed["beacon"])
    seed["markdown"] = (payload, img, link)
    seed["markdown_sid"] = _visitor_with_contact(app, payload, "email", "dora.rt@example.org")
    v = Visitor(app)
    try:
        v.say(TEACH_Q)
    finally:
        v.close()
