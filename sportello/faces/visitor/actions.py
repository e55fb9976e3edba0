"""The visitor page's actions: each takes the tab's view (a plain dict, see
sportello.faces.visitor.view.new_view), calls the service layer and returns the new view.

Synchronous and Gradio-free: the page runs them in worker threads. Errors of the
service (sportello.domain.DomainError) become notices in the visitor's language; they
never escape to Gradio's generic error toast.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sportello.domain import DomainError, RateLimited, validate_language
from sportello.domain.validation import InvalidPhone
from sportello.faces.storage_full import DISK_FULL, is_disk_full
from sportello.faces.visitor.view import (
    ERROR_NOTICES,
    SESSION_LOST,
    apply_snapshot,
    error_notice,
    language_from_header,
    local_greeting,
    new_view,
    ui,
)
from sportello.services.chat import ChatService, Started
from sportello.services.feedback import FeedbackService

log = logging.getLogger("sportello.visitor")
MAX_POLL_PAGES = 20
# A reload while a new chat's first message is on its way waits this long for it (`ChatService.starting`).
STARTING_WAIT_S = 30.0


def _copy(view: dict) -> dict:
    """A fresh view to change: notices and the pending message are per action."""
    v = dict(view)
    v["msgs"] = list(view["msgs"])
    v["notice"] = ""
    v["notice_kind"] = "error"
    v["contact_error"] = ""
    v["pending"] = None
    if "_shown" in view:
        v["_shown"] = dict(view["_shown"])
    return v


class VisitorActions:
    def __init__(self, service: ChatService, feedback: FeedbackService | None = None):
        self.service = service
        self.feedback = feedback
        self.max_len = service.settings.max_message_len

    # ------------------------------------------------------------------ plumbing
    def _refresh(self, view: dict) -> dict:
        # Polls are paged (POLL_MAX_MESSAGES): read on while the service says there is more.
        for _ in range(MAX_POLL_PAGES):
            snap = self.service.view.visitor_poll(view["sid"], view["token"], view["last_seq"])
            view = apply_snapshot(view, snap)
            if not snap.get("more"):
                break
        return self._with_hours(view)

    def _with_hours(self, view: dict) -> dict:
        """While the visitor leaves a contact: whether the desk is closed, and when it is back ("" unknown)."""
        if view.get("status") == "collecting_contact":
            opening = self.service.opening_status(view["lang"])
            view["closed_back"] = None if opening["open"] else (opening["back"] or "")
        return view

    def _ensure_session(self, view: dict, user_agent: str, client: str | None = None) -> dict:
        if view.get("sid"):
            return view
        start = self.service.start_session(view["lang"], user_agent or "", client=client)
        return self._started(view, start["session_id"], start["token"], start["language"])

    @staticmethod
    def _started(view: dict, sid: str, token: str, lang: str) -> dict:
        """The view on a chat just started: from the next poll on, the server's messages (its greeting
        first) replace the greeting shown before the chat existed."""
        view = dict(view)
        view.update(sid=sid, token=token, status="bot", lang=lang, last_seq=0, msgs=[])
        return view

    def _run(self, view: dict, action: Callable[[dict], dict], **notice_args) -> dict:
        """Run one action; a DomainError becomes a notice, the view is refreshed."""
        base = _copy(view)
        try:
            return action(base)
        except DomainError as exc:
            lang = base["lang"]
            if exc.code in SESSION_LOST:
                fresh = new_view(lang)
                fresh["notice"] = error_notice(exc.code, lang)
                fresh["_shown"] = base.get("_shown", {})
                return fresh
            if exc.code in ("invalid_email", "invalid_phone", "invalid_method"):
                code = exc.code
                if isinstance(exc, InvalidPhone) and exc.problem in ("too_short", "too_long"):
                    code = f"phone_{exc.problem}"  # say what is wrong: the length
                base["contact_error"] = error_notice(code, lang)
            elif isinstance(exc, RateLimited) and exc.code not in ERROR_NOTICES:
                base["notice"] = exc.message  # bilingual, with when to retry (services/throttle.py)
            else:
                base["notice"] = error_notice(exc.code, lang, limit=self.max_len, **notice_args)
            if base.get("sid"):
                try:
                    base = self._refresh(base)
                except DomainError:
                    pass
            return base
        except Exception as exc:
            if is_disk_full(exc):  # nothing was stored: say so, the visitor may send it again later
                log.error("visitor action refused: the disk is full (%s)", exc)
                base["notice"] = DISK_FULL
                return base
            log.exception("visitor action failed")
            base["notice"] = error_notice("", base["lang"])
            return base

    # ------------------------------------------------------------------ actions
    def resume(self, saved: object, accept_language: str | None) -> dict:
        """A page load: the conversation kept in the browser, or a new one."""
        view = new_view(language_from_header(accept_language))
        if not (isinstance(saved, dict) and isinstance(saved.get("sid"), str) and isinstance(saved.get("token"), str)):
            return view
        # A chat whose first message is still on its way (a reload meanwhile): shown once it is written.
        self.service.starting(saved["sid"], saved["token"], wait_s=STARTING_WAIT_S)
        try:
            snap = self.service.view.visitor_poll(saved["sid"], saved["token"], 0)
        except DomainError:
            return view  # forgotten session (e.g. a new database): start afresh, silently
        except Exception:
            log.exception("could not resume a visitor session")
            return view
        view.update(sid=saved["sid"], token=saved["token"], msgs=[], last_seq=0)
        return self._with_hours(apply_snapshot(view, snap))

    def empty(self, view: dict) -> dict:
        """Send with nothing typed: nothing is sent, a gentle hint, the chat stays."""
        v = _copy(view)
        v["notice"], v["notice_kind"] = ui("hint_empty", v["lang"]), "hint"
        return v

    def too_long(self, view: dict, text: str) -> dict:
        v = _copy(view)
        v["notice"] = error_notice("message_too_long", v["lang"], length=len(text), limit=self.max_len)
        return v

    def with_pending(self, view: dict, text: str) -> dict:
        """The view shown while the message is on its way (and the AI thinks)."""
        v = _copy(view)
        v["pending"] = text
        v["suggestions"] = []  # they answered the last turn: gone while the new one is on its way
        return v

    def send(
        self,
        view: dict,
        text: str,
        user_agent: str,
        client: str | None = None,
        on_chunk: Callable[[str], None] | None = None,
    ) -> dict:
        """`client` is the visitor's address: the per-client limits apply as on the API. With `on_chunk`,
        the AI's answer is streamed (`ChatService.visitor_message_stream`): `on_chunk` gets each piece of its
        text as the answerer writes it (provisional: the view returned holds what was stored)."""

        def act(v: dict) -> dict:
            if not v.get("sid"):  # no chat yet: it starts with this message, in one write
                items = self.service.start_with_message_stream(
                    v["lang"], user_agent or "", text, client=client, stream=on_chunk is not None
                )
            elif on_chunk is None:
                items = [self.service.visitor_message(v["sid"], v["token"], text, client=client)]
            else:
                items = self.service.visitor_message_stream(v["sid"], v["token"], text, client=client)
            for item in items:
                if isinstance(item, Started):
                    v = self._started(v, item.session_id, item.token, item.language)
                elif isinstance(item, str) and item:
                    on_chunk(item)
            return self._refresh(v)  # the suggested questions, if any, come with the poll

        return self._run(view, act, length=len(text))

    def ask_person(self, view: dict, user_agent: str, client: str | None = None) -> dict:
        """ "Talk to a person" at any time, and "yes" to the operator offer."""

        def act(v: dict) -> dict:
            v = self._ensure_session(v, user_agent, client)
            self.service.answer_offer(v["sid"], v["token"], True)
            return self._refresh(v)

        return self._run(view, act)

    def decline(self, view: dict) -> dict:
        def act(v: dict) -> dict:
            if not v.get("sid"):
                return v
            self.service.answer_offer(v["sid"], v["token"], False)
            return self._refresh(v)

        return self._run(view, act)

    def contact(self, view: dict, method: str, value: str) -> dict:
        def act(v: dict) -> dict:
            if not (value or "").strip():
                v["contact_error"] = error_notice("invalid_method", v["lang"])
                return v
            if not v.get("sid"):
                return v
            self.service.submit_contact(v["sid"], v["token"], method, value)
            return self._refresh(v)

        return self._run(view, act)

    def poll(self, view: dict) -> dict | None:
        """What changed in the chat since the view last read it (news from the operator side, or a message the
        page sent through the visitor API); None when there is no chat to ask about."""
        if not view.get("sid"):
            return None
        new = self._run(view, self._refresh)
        if not new["notice"] and not new["contact_error"]:  # a poll keeps the notices on screen
            new["notice"], new["contact_error"] = view.get("notice", ""), view.get("contact_error", "")
        return new

    def adopt(self, view: dict, sid: object, token: object) -> dict | None:
        """The chat the page's script started through the visitor API (page.py LIVE_JS): the view keeps it (and
        the browser, across reloads) from now on, and reads it whole (the script showed its messages meanwhile:
        the Chatbot now shows them, and the suggested questions). While its first message is still being written
        it is kept unread, for a later look. None when it is not one (a wrong token) or the view has a chat
        already."""
        if view.get("sid") or not (isinstance(sid, str) and isinstance(token, str) and sid and token):
            return None
        v = dict(view)
        v.update(sid=sid, token=token)
        try:
            snap = self.service.view.visitor_poll(sid, token, 0)
        except DomainError:
            if not self.service.starting(sid, token):  # its first message not written yet: kept all the same
                return None
            return v
        v.update(msgs=[], last_seq=0)
        v = apply_snapshot(v, snap)
        return self._refresh(v) if snap.get("more") else self._with_hours(v)

    def set_language(self, view: dict, lang: str) -> dict:
        def act(v: dict) -> dict:
            new = validate_language(lang)
            if v.get("sid"):
                self.service.set_language(v["sid"], v["token"], new)  # refused (429): the language stays
                v["lang"] = new
                return self._refresh(v)  # the chat as it is now (the page's script may have drawn a new phase)
            v["msgs"] = [local_greeting(new)]
            v["lang"] = new
            return v

        return self._run(view, act)

    def new_chat(self, view: dict) -> dict:
        fresh = new_view(view.get("lang") or "it")
        fresh["_shown"] = dict(view.get("_shown", {}))
        return fresh

    def open_rating(self, view: dict) -> dict:
        """ "End the chat and rate it" while the assistant is in charge: the form shows."""
        v = _copy(view)
        v["rating_open"] = True
        return v

    def rate(self, view: dict, score: object, comment: str) -> dict:
        def act(v: dict) -> dict:
            if not v.get("sid") or self.feedback is None:
                return v
            try:
                value = int(score) if score not in (None, "") else 0
            except (TypeError, ValueError):
                value = 0
            try:
                self.feedback.rate(v["sid"], v["token"], value, comment or "")
            except DomainError as exc:
                if exc.code != "already_rated":
                    raise
            v = self._refresh(v)  # the page's script may have drawn the release (LIVE_JS): the view reads it now
            v["rated"], v["rating_open"] = True, False
            v["notice"], v["notice_kind"] = ui("rate_thanks", v["lang"]), "hint"
            return v

        return self._run(view, act)
