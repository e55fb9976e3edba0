"""The conversation flow: one explicit state machine over chat sessions.

States and transitions are declared in `sportello.domain.TRANSITIONS`:

    bot --no_answer/ask_person--> offered --decline--> bot
    bot --ask_topic ("talk to a person" before any question)--> asking_topic --decline--> bot
    offered --answered--> bot
    offered|asking_topic --accept (operator available)--> waiting --take--> live --release--> closed (ticket "resolved")
    offered|asking_topic --accept (nobody available, or closed)--> collecting_contact --contact--> closed (ticket "open")
    waiting --timeout (QUEUE_TIMEOUT_S)--> collecting_contact

Every transition is a method of `ChatService`. Each method runs in ONE
transaction that locks the session row, checks the transition, writes the
new state, the messages and a typed event (`sportello.domain.events`), whose
row for the sheets the store lays out and puts in the outbox: they commit
together or not at all. Pages and endpoints only call these methods.

What visitors and operators read (polls, the queue, the operator's chats) is
`ChatView` (`sportello.services.chat_view`), reachable as `ChatService.view`.
The SQL is in `sportello.store.chat_queries` and `sportello.store.operator_queries`;
who may take a chat is `sportello.domain.capacity`, when a chat leaves the queue
`sportello.domain.queue`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from sportello.answering.bot import OPERATOR_REQUEST, Answer, Answerer, answer_chunks, emergency_reply
from sportello.answering.emergency import EMERGENCY
from sportello.answering.retrieval import MAX_SUGGESTIONS
from sportello.config import Settings
from sportello.domain import (
    Conflict,
    ContactMethod,
    DomainError,
    NotFound,
    RateLimited,
    Role,
    State,
    TicketStatus,
    ValidationError,
    concerns_console,
    guess_contact,
    next_state,
    validate_contact,
    validate_language,
    validate_text,
)
from sportello.domain import credentials as auth
from sportello.domain.capacity import OperatorLoad, Refusal
from sportello.domain.events import Event, EventKind
from sportello.domain.hours import BusinessHours, when_text
from sportello.domain.queue import leaves_queue, stranded, sweep_cutoff
from sportello.domain.texts import quoted, t
from sportello.domain.validation import check_characters
from sportello.services import events, tickets
from sportello.services.chat_view import (
    TYPING_S,
    ChatView,
    availability,
    message_dict,
    queue_figures,
    queue_position,
    suggestions_of,
)
from sportello.services.throttle import VisitorQuotas
from sportello.store import chat_queries as cq
from sportello.store import operator_queries as oq
from sportello.store.database import Store

log = logging.getLogger(__name__)

BOT_AUTHOR = "Assistente"
USER_AUTHOR = "Utente"
SYSTEM_AUTHOR = "Sistema"


class _NeedsAnswer(Exception):
    """Inside a visitor's transaction: the AI must answer first (outside any transaction)."""

    def __init__(self, language: str):
        super().__init__(language)
        self.language = language


@dataclass
class _Tx:
    """One locked session inside one transaction."""

    conn: Connection
    sess: dict
    now: float
    tz: str
    new: list[dict] = field(default_factory=list)
    changes: dict = field(default_factory=dict)
    position: int | None = None  # the place in the queue this turn gave the chat (read once: `_accept`)

    @property
    def state(self) -> str:
        return self.sess["status"]

    def set(self, **cols) -> None:
        self.sess.update(cols)
        self.changes.update(cols)

    def move(self, event: str) -> State:
        new = next_state(self.state, event)
        self.set(status=new)
        return new

    def say(self, role: Role, author: str, text: str, intent: str = "") -> dict:
        seq = self.sess["last_seq"] + 1
        self.set(last_seq=seq)
        values = {
            "session_id": self.sess["id"],
            "seq": seq,
            "role": str(role),
            "author": author,
            "text": text,
            "intent": intent,
            "created_at": self.now,
        }
        self.conn.execute(cq.INSERT_MESSAGE, values)
        self.new.append(values)
        return values

    def record(self, kind: EventKind, **fields) -> None:
        """One event of this session (and its sheet row), committed with this transaction."""
        events.record(
            self.conn,
            Event(kind, self.sess["id"], self.now, user_agent=self.sess["user_agent"] or "", **fields),
        )

    def all_messages(self) -> list[dict]:
        return cq.all_messages(self.conn, self.sess["id"])

    def operator_name(self) -> str:
        return oq.first_name_of(self.conn, self.sess["operator_id"])

    def queue_figures(self, timeout_s: float, waits: Callable[[Connection], list]) -> dict:
        return queue_figures(self.conn, self.sess, self.now, timeout_s, waits, position=self.position)


@dataclass(frozen=True)
class Started:
    """`start_with_message_stream`'s first item: the new chat, before its first message is written."""

    session_id: str
    token: str
    language: str


class _Starting:
    """The chats this process is starting with their first message: their token's hash, and an event set
    when their write is done (or failed)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chats: dict[str, tuple[str, threading.Event]] = {}

    def begin(self, session_id: str, token: str) -> Callable[[], None]:
        done = threading.Event()
        with self._lock:
            self._chats[session_id] = (auth.token_hash(token), done)

        def end() -> None:
            with self._lock:
                self._chats.pop(session_id, None)
            done.set()

        return end

    def check(self, session_id: str, token: str, wait_s: float) -> bool:
        with self._lock:
            found = self._chats.get(session_id)
        if found is None or not auth.token_matches(token or "", found[0]):
            return False
        return not (wait_s > 0 and found[1].wait(wait_s))


class ChatService:
    def __init__(
        self,
        store: Store,
        answerer: Answerer,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        on_commit: Callable[[], None] | None = None,
        on_change: Callable[[str, bool], None] | None = None,
        quotas: VisitorQuotas | None = None,
    ):
        self.store = store
        self.answerer = answerer
        self.settings = settings
        self.clock = clock
        self.on_commit = on_commit or (lambda: None)
        # After a commit that changed a chat, with its id and whether the change may be news for the operators'
        # consoles (`concerns_console`): the change feed wakes its streams, and the consoles (services/feed.py).
        self.on_change = on_change or (lambda _session_id, _console=True: None)
        self.tz = settings.timezone
        # Per-client rates of new sessions and messages (0 = unlimited), and the cap per session; the runtime
        # passes quotas on the counters every process shares (in memory when none are given).
        self.quotas = quotas or VisitorQuotas(settings)
        self.max_messages = settings.max_messages_per_session
        # Outside business hours a visitor who wants a person goes to the contact form (domain/hours.py).
        self.hours = BusinessHours.parse(settings.business_hours, settings.holidays, self.tz)
        # The read side (polls, the queue, the operator's chats), on the same store and clock.
        self.view = ChatView(store, settings, clock=clock)
        self._starting = _Starting()  # chats whose first message is on its way (`start_with_message_stream`)

    # ------------------------------------------------------------------ plumbing
    @contextmanager
    def _session(self, session_id: str, token: str | None = None, *, visitor: bool = True) -> Iterator[_Tx]:
        with self.store.write() as conn:
            row = cq.read_session(conn, session_id, token, visitor=visitor, lock=True)
            tx = _Tx(conn, dict(row._mapping), self.clock(), self.tz)
            yield tx
            self._save(tx)
        self._committed(tx, row.status, changed=bool(tx.changes))

    @contextmanager
    def _new_session(self, session_id: str, token: str, lang: str, user_agent: str) -> Iterator[_Tx]:
        """`_session` on a session this write creates (with its greeting, the first of `tx.new`)."""
        now = self.clock()
        with self.store.write() as conn:
            greeting = self._insert_session(conn, session_id, token, lang, user_agent, now)
            row = cq.read_session(conn, session_id, token, lock=True)
            tx = _Tx(conn, dict(row._mapping), now, self.tz, new=[greeting])
            yield tx
            self._save(tx)
        self._committed(tx, State.BOT, changed=True)  # (a new chat is news, whatever its turn wrote)

    def _committed(self, tx: _Tx, before: str, *, changed: bool) -> None:
        """After a chat's write committed: the delivery worker wakes (`on_commit`), and when the chat `changed`,
        its streams and, if it may be news for them (`concerns_console`), the operators' consoles."""
        self.on_commit()
        if changed:
            self.on_change(tx.sess["id"], concerns_console(before, tx.state))

    @staticmethod
    def _save(tx: _Tx) -> None:
        if tx.changes:
            tx.set(updated_at=tx.now)
            tx.conn.execute(cq.UPDATE_SESSION, {"_sid": tx.sess["id"], **tx.changes})

    def _check_room(self, last_seq: int) -> None:
        """A session holds at most MAX_MESSAGES_PER_SESSION messages (both sides); the visitor is refused past it."""
        if self.max_messages > 0 and last_seq >= self.max_messages:
            raise Conflict(
                "Questa conversazione ha raggiunto il numero massimo di messaggi: iniziane una nuova. / "
                "This conversation has reached its maximum number of messages: please start a new one.",
                code="session_full",
            )

    def _text(self, text: object) -> str:
        return validate_text(text, self.settings.max_message_len)

    def _available(self, conn: Connection, now: float) -> bool:
        return availability(conn, now, self.settings.heartbeat_timeout_s)["available"]

    # ------------------------------------------------------------------ visitor
    def start_session(self, language: str | None = "it", user_agent: str = "", *, client: str | None = None) -> dict:
        """A new conversation; `client` (the caller's address) counts against SESSION_RATE_PER_IP."""
        lang = validate_language(language)
        self.quotas.new_session(client)
        session_id, token = uuid.uuid4().hex, auth.new_token()
        with self.store.write() as conn:
            greeting = self._insert_session(conn, session_id, token, lang, user_agent, self.clock())
        return {
            "session_id": session_id,
            "token": token,
            "status": State.BOT.value,
            "language": lang,
            "messages": [message_dict(greeting)],
        }

    def _insert_session(self, conn: Connection, session_id: str, token: str, lang: str, user_agent: str, now: float):
        """A new session's row and its greeting (message 1), in the caller's write; returns the greeting."""
        conn.execute(
            cq.INSERT_SESSION,
            {
                "id": session_id,
                "token_hash": auth.token_hash(token),
                "status": State.BOT,
                "language": lang,
                "user_agent": (user_agent or "")[:512],
                "created_at": now,
                "updated_at": now,
                "last_seq": 1,
                "original_question": "",
                "escalation_reason": "",
            },
        )
        greeting = {
            "session_id": session_id,
            "seq": 1,
            "role": Role.BOT.value,
            "author": BOT_AUTHOR,
            "text": t("greeting", lang),
            "intent": "greeting",
            "created_at": now,
        }
        conn.execute(cq.INSERT_MESSAGE, greeting)
        return greeting

    def start_with_message(
        self, language: str | None, user_agent: str, text: object, *, client: str | None = None
    ) -> dict:
        """`start_session` and the visitor's first message in one call: see `start_with_message_stream`."""
        result: dict = {}
        for item in self.start_with_message_stream(language, user_agent, text, client=client, stream=False):
            if isinstance(item, dict):
                result = item
        return result

    def start_with_message_stream(
        self, language: str | None, user_agent: str, text: object, *, client: str | None = None, stream: bool = True
    ) -> Generator[Started | str | dict, None, None]:
        """A new conversation and its first message, written together once the AI has answered: one write
        instead of two (`start_session`, then `visitor_message`). Yields first `Started` (the new chat's id,
        token and language: the chat is "starting" until its write, see `starting`), then the answer's text
        in pieces as `visitor_message_stream` does, then, last, the dict `visitor_message` returns with the
        session's id, token and language, and its messages from the greeting on. The language, the text and
        both per-client rates (SESSION_RATE_PER_IP, MESSAGE_RATE_PER_IP) are checked before anything is
        yielded: a refusal raises, as `start_session` and `visitor_message` would, and nothing is written.
        `stream` False: the answerer answers at once (`answer`, as for `visitor_message`), no pieces."""
        lang = validate_language(language)
        text = self._text(text)
        self.quotas.new_session(client)
        self.quotas.message(client)
        session_id, token = uuid.uuid4().hex, auth.new_token()
        done = self._starting.begin(session_id, token)
        try:
            yield Started(session_id, token, lang)
            answer = (yield from self._answer_stream(text, lang)) if stream else self._answer(text, lang)
            with self._new_session(session_id, token, lang, user_agent) as tx:
                intent, suggestion = self._bot_turn(tx, text, answer)
            yield {
                "session_id": session_id,
                "token": token,
                "language": lang,
                **self._turn_result(tx, intent, suggestion),
            }
        finally:
            done()

    def starting(self, session_id: str, token: str, wait_s: float = 0.0) -> bool:
        """Whether `session_id` is a chat this process is starting with its first message
        (`start_with_message_stream`: its id and token are out, its write is not done yet) and `token` is
        its token. `wait_s` > 0: wait up to that long for the write, then say whether it is still to come."""
        return self._starting.check(session_id, token, wait_s)

    def _metered(self, session_id: str) -> None:
        """A visitor's write other than a message counts against CHANGE_RATE_PER_SESSION (429 above it)."""
        self.quotas.change(session_id, self.settings.change_rate_per_session)

    def _change_quota(self, session_id: str):
        """`_metered` inside the change's own transaction (`count(conn)`, `_joined_quota`): one write instead of two
        (the writes of a process queue on one lock)."""
        rate = self.settings.change_rate_per_session
        return self._joined_quota(lambda conn=None: self.quotas.change(session_id, rate, conn))

    def set_language(self, session_id: str, token: str, language: str) -> dict:
        lang = validate_language(language)
        self._metered(session_id)
        with self.store.read() as conn:  # the same language again: nothing to write
            sess = cq.read_session(conn, session_id, token)._mapping
            if sess["language"] == lang:
                return {"status": sess["status"], "language": lang}
        with self._session(session_id, token) as tx:
            tx.set(language=lang)
        return {"status": tx.state, "language": lang}

    def visitor_message(self, session_id: str, token: str, text: object, *, client: str | None = None) -> dict:
        """`client` (the caller's address) counts against MESSAGE_RATE_PER_IP."""
        text = self._text(text)
        answer: Answer | None = None
        language = self._ai_turn(session_id, token, client)
        if language is not None:
            answer = self._answer(text, language)
        while True:
            try:
                return self._visitor_turn(session_id, token, text, answer, client)
            except _NeedsAnswer as need:  # the chat came back to the AI meanwhile: answer outside, write again
                answer = self._answer(text, need.language)

    def visitor_message_stream(
        self, session_id: str, token: str, text: object, *, client: str | None = None
    ) -> Generator[str | dict, None, None]:
        """`visitor_message` with the AI's answer streamed: yields the answer's text in pieces as the
        answerer writes them (an LLM that streams; any other answerer gives its text once), then, last,
        the dict `visitor_message` returns. The pieces are provisional: the last item holds what was
        stored (the AI may still decide not to answer, or fall back to the offline answer). The visitor's
        message and the answer are written once, at the end, in one transaction, exactly as by
        `visitor_message`; the answerer runs outside any transaction. Nothing is yielded for a chat not
        with the AI (the queue, an operator): only the result. Errors are raised as by `visitor_message`."""
        text = self._text(text)
        language = self._ai_turn(session_id, token, client)
        if language is None:
            try:
                yield self._visitor_turn(session_id, token, text, None, client)
                return
            except _NeedsAnswer as need:  # the chat came back to the AI meanwhile
                language = need.language
        answer = yield from self._answer_stream(text, language)
        yield self._visitor_turn(session_id, token, text, answer)

    def _answer_stream(self, text: str, language: str) -> Generator[str, None, Answer]:
        """`_answer` with the answer's text yielded in pieces as the answerer writes them."""
        try:
            return (yield from answer_chunks(self.answerer, text, language))
        except Exception:
            log.exception("answerer failed; escalating")
            return Answer.none(language)

    def _ai_turn(self, session_id: str, token: str, client: str | None) -> str | None:
        """Before a visitor's message, in a read (no write lock: the writes of the process queue on one): when
        the chat is with the AI, the language to answer in, the message counted against MESSAGE_RATE_PER_IP
        and the room checked, all before the answerer runs; else None, and the turn decides in its one
        transaction. An unknown chat or a wrong token still counts the message, as the turn would."""
        try:
            with self.store.read() as conn:
                sess = cq.read_session(conn, session_id, token)._mapping
        except DomainError:
            self.quotas.message(client)
            raise
        if sess["status"] not in (State.BOT, State.OFFERED):
            return None
        self.quotas.message(client)
        self._check_room(sess["last_seq"])
        return sess["language"]

    def _answer(self, text: str, language: str) -> Answer:
        """The answerer's answer, outside any transaction (it may be slow: an LLM); a failure escalates."""
        try:
            return self.answerer.answer(text, language)
        except Exception:
            log.exception("answerer failed; escalating")
            return Answer.none(language)

    def _visitor_turn(
        self, session_id: str, token: str, text: str, answer: Answer | None, client: str | None = None
    ) -> dict:
        """The visitor's message in one transaction (one round trip for a live chat, the hot path);
        raises _NeedsAnswer, writing nothing, when the AI must answer and `answer` is not there yet.
        The first turn (`answer` None) counts the message against MESSAGE_RATE_PER_IP (`_message_quota`)."""
        with self._message_quota(client, answer is None) as count, self._session(session_id, token) as tx:
            count(tx.conn)
            self._check_room(tx.sess["last_seq"])
            state = tx.state
            intent = ""
            suggestion = None
            if tx.sess["suggestions"]:
                tx.set(suggestions="")  # the buttons answer the last turn only
            if state in (State.BOT, State.OFFERED):
                if answer is None:
                    raise _NeedsAnswer(tx.sess["language"])
                intent, suggestion = self._bot_turn(tx, text, answer)
            elif state == State.ASKING_TOPIC:
                # what the visitor wants to talk about: the question handed to the operator
                tx.say(Role.USER, USER_AUTHOR, text)
                tx.set(original_question=text)
                self._accept(tx)
                intent = OPERATOR_REQUEST
            elif state in (State.WAITING, State.LIVE):
                tx.say(Role.USER, USER_AUTHOR, text)
                urgent = emergency_reply(self.answerer, text, tx.sess["language"])
                if urgent is not None:
                    intent = self._emergency_with_person(tx, text, urgent)
                elif state == State.WAITING:
                    tx.record(EventKind.QUEUE_MESSAGE, text=text)
                else:
                    tx.record(EventKind.LIVE_VISITOR_MESSAGE, text=text, operator=tx.operator_name())
            elif state == State.COLLECTING_CONTACT:
                tx.say(Role.USER, USER_AUTHOR, text)
                contact = guess_contact(text)
                if contact:
                    self._open_ticket(tx, *contact)
                    intent = "ticket_created"
                else:
                    reply = t("contact_prompt", tx.sess["language"])
                    tx.say(Role.BOT, BOT_AUTHOR, reply, "contact_prompt")
                    tx.record(EventKind.CONTACT_PROMPT, text=text, reply=reply)
                    intent = "contact_prompt"
            else:
                raise Conflict("this conversation is closed; start a new one", code="chat_closed")
            return self._turn_result(tx, intent, suggestion)

    @staticmethod
    def _turn_result(tx: _Tx, intent: str, suggestion: str | None) -> dict:
        """What a visitor's message returns: the chat's state after it and the messages it wrote."""
        return {
            "status": tx.state,
            "intent": intent,
            "offer_operator": tx.state == State.OFFERED,
            "suggestion": suggestion,
            "suggestions": suggestions_of(tx.sess),
            "urgent": bool(tx.sess["urgent"]),
            "messages": [message_dict(m) for m in tx.new],
        }

    def _message_quota(self, client: str | None, first: bool):
        """Counts a visitor message once, in its first turn (`_joined_quota`): a refusal comes before the answerer
        runs, and a turn that fails (an unknown or closed chat) still counts."""
        return self._joined_quota(lambda conn=None: self.quotas.message(client, conn), active=first)

    @contextmanager
    def _joined_quota(self, take: Callable[..., None], active: bool = True) -> Iterator[Callable[[Connection], None]]:
        """A quota's token (`take(conn=None)`, raising RateLimited when refused). Quotas in SQLite take it in the
        caller's own write transaction (`count(conn)`, no commit of its own); when that transaction fails, the
        token rolled back with it (or was never reached) and is taken again on its own, so the attempt still
        counts. Other quota stores count first. `active` False: nothing to count."""
        joins = active and self.quotas.joins_transactions
        if active and not joins:
            take()

        def count(conn: Connection) -> None:
            if joins:
                take(conn)

        try:
            yield count
        except RateLimited:  # refused: nothing was taken
            raise
        except BaseException:
            if joins:  # rolled back with the transaction, or never reached (an unknown chat): taken on its own
                take()
            raise

    def _bot_turn(self, tx: _Tx, text: str, answer: Answer) -> tuple[str, str | None]:
        """The AI's turn: answer, or offer a person. Returns the intent and the "did you mean" question offered.

        An emergency (`answer.urgent`): the venue's instructions first, then straight to a person, marked
        urgent (the front of the queue when someone may take it, else the contact form). A hedged answer:
        its text, and a person offered. Suggestions (the middle band): up to 3 KB questions the visitor
        may have meant, kept on the session for the buttons beside "talk to a person"."""
        lang = tx.sess["language"]
        tx.say(Role.USER, USER_AUTHOR, text)
        if answer.urgent:
            return self._emergency(tx, text, answer), None
        if not answer.escalates:
            tx.say(Role.BOT, BOT_AUTHOR, answer.answer, answer.intent)
            tx.record(EventKind.AI_ANSWERED, intent=answer.intent, text=text, reply=answer.answer)
            if tx.state == State.OFFERED:
                tx.move("answered")
            return answer.intent, None
        asked = answer.intent == OPERATOR_REQUEST
        suggestion = None if asked or answer.hedged else answer.suggestion
        offered = [] if asked or answer.hedged else self._suggestions(answer, lang)
        if asked:
            reply = t("ask_person", lang)
        elif answer.hedged:
            reply = answer.answer  # the known part, and "no information about X": a person is offered
        elif len(offered) > 1:
            reply = t("no_answer_suggestions", lang, questions=quoted([s["question"] for s in offered], lang))
        elif suggestion:
            reply = t("no_answer_suggest", lang, question=suggestion)
        else:
            reply = t("no_answer", lang)
        if offered:
            tx.set(suggestions=json.dumps(offered, ensure_ascii=False))
        if tx.state == State.BOT:
            tx.move("ask_person" if asked else "no_answer")
            tx.set(offered_at=tx.now, escalation_reason=answer.intent)
        if not asked or not tx.sess["original_question"]:
            question = text
            if asked:  # "I want a person" is not the question: use the last one asked
                question = self._last_question(tx, before_seq=tx.sess["last_seq"]) or text
            tx.set(original_question=question)
        tx.say(Role.BOT, BOT_AUTHOR, reply, answer.intent)
        kind = EventKind.OPERATOR_REQUESTED if asked else EventKind.AI_NO_ANSWER
        tx.record(kind, intent=answer.intent, text=text, reply=reply)
        return answer.intent, suggestion

    def _suggestions(self, answer: Answer, lang: str) -> list[dict]:
        """[{intent, question}] of the answer's suggestions (at most 3), each with the question its button
        asks (`question_for`); the single "did you mean" question when the answerer names no intents."""
        ask = getattr(self.answerer, "question_for", None)
        out: list[dict] = []
        for intent in answer.suggestions[:MAX_SUGGESTIONS] if ask else ():
            question = ask(intent, lang)
            if question and all(question != s["question"] for s in out):
                out.append({"intent": intent, "question": question})
        if not out and answer.suggestion:
            out.append({"intent": "", "question": answer.suggestion})
        return out

    def _emergency(self, tx: _Tx, text: str, answer: Answer) -> str:
        """An emergency: the instructions, then a person at once (no question asked), the chat marked urgent:
        the front of the queue when someone may take it, else the contact form (the instructions stay shown)."""
        tx.say(Role.BOT, BOT_AUTHOR, answer.answer, EMERGENCY)
        tx.record(EventKind.AI_NO_ANSWER, intent=EMERGENCY, text=text, reply=answer.answer)
        tx.set(urgent=True, original_question=text)
        if tx.state == State.BOT:
            tx.move("no_answer")
        tx.set(offered_at=tx.now, escalation_reason=EMERGENCY)
        self._accept(tx)
        return EMERGENCY

    def _emergency_with_person(self, tx: _Tx, text: str, answer: Answer) -> str:
        """An emergency typed while waiting or live: the instructions at once and the chat marked urgent (the
        front of the queue, or urgent in the operator's console); the sheet row's intent is `emergency`."""
        tx.say(Role.BOT, BOT_AUTHOR, answer.answer, EMERGENCY)
        tx.record(EventKind.AI_NO_ANSWER, intent=EMERGENCY, text=text, reply=answer.answer)
        tx.set(urgent=True)
        if tx.state == State.WAITING:
            tx.set(original_question=text)  # what the operator reads in the queue
        return EMERGENCY

    @staticmethod
    def _last_question(tx: _Tx, before_seq: int) -> str:
        return cq.last_question(tx.conn, tx.sess["id"], before_seq)

    def answer_offer(self, session_id: str, token: str, accept: bool) -> dict:
        if not isinstance(accept, bool):
            raise ValidationError("accept must be true or false", code="invalid_accept")
        with self._change_quota(session_id) as count, self._session(session_id, token) as tx:
            count(tx.conn)
            lang = tx.sess["language"]
            asking = False
            if tx.sess["suggestions"]:
                tx.set(suggestions="")  # answered "talk to a person" (or not): the buttons go
            if accept and tx.state == State.BOT:  # "talk to a person" at any time
                question = self._last_question(tx, before_seq=tx.sess["last_seq"] + 1)
                if not question:
                    # nothing asked yet: ask what it is about (out of hours too: the ticket needs its question);
                    # the next message is the question
                    tx.move("ask_topic")
                    asking = True
                    reply = t("ask_topic", lang)
                    tx.say(Role.BOT, BOT_AUTHOR, reply, OPERATOR_REQUEST)
                    tx.record(EventKind.OPERATOR_REQUESTED, intent=OPERATOR_REQUEST, reply=reply)
                else:
                    tx.move("ask_person")
                tx.set(offered_at=tx.now, escalation_reason=OPERATOR_REQUEST, original_question=question)
            if asking or (tx.state in (State.WAITING, State.COLLECTING_CONTACT, State.ASKING_TOPIC) and accept):
                pass  # already accepted (or the topic is asked first): idempotent
            elif not accept:
                tx.move("decline")
                reply = t("declined", lang)
                tx.say(Role.BOT, BOT_AUTHOR, reply, "operator_declined")
                tx.record(EventKind.OFFER_DECLINED, reply=reply)
            else:
                self._accept(tx)
            result = {
                "status": tx.state,
                **tx.queue_figures(self.settings.queue_timeout_s, self.view.recent_waits),
                "messages": [message_dict(m) for m in tx.new],
            }
            if tx.state == State.COLLECTING_CONTACT:  # the contact form: whether the desk is closed, and till when
                result["opening"] = self.opening_status(lang, at=tx.now)
            return result

    def _accept(self, tx: _Tx) -> None:
        """The visitor wants a person: the queue when someone is available within business
        hours, else the contact form (saying when the venue is back, outside hours)."""
        lang = tx.sess["language"]
        if not self.hours.is_open(tx.now):
            back = self._back(tx.now, lang)
            reply = t("closed_hours", lang, when=back) if back else t("closed_hours_unknown", lang)
        elif self._available(tx.conn, tx.now):
            tx.move("accept_available")
            tx.set(waiting_since=tx.now)
            tx.position = queue_position(tx.conn, tx.sess, tx.now, self.settings.queue_timeout_s)
            reply = t("queued", lang, position=tx.position)
            tx.say(Role.SYSTEM, SYSTEM_AUTHOR, reply, "operator_queue")
            tx.record(EventKind.QUEUED, question=tx.sess["original_question"], reply=reply)
            return
        else:
            reply = t("no_operator", lang)
        tx.move("accept_unavailable")
        tx.say(Role.BOT, BOT_AUTHOR, reply, "operator_unavailable")
        tx.record(EventKind.NO_OPERATOR, question=tx.sess["original_question"], reply=reply)

    def submit_contact(self, session_id: str, token: str, method: str, value: str) -> dict:
        contact = validate_contact(method, value)
        with self._change_quota(session_id) as count, self._session(session_id, token) as tx:
            count(tx.conn)
            if tx.state != State.COLLECTING_CONTACT:
                raise Conflict(
                    f"a contact is asked only when no operator is available (chat is '{tx.state}')",
                    code="wrong_state",
                )
            ticket = self._open_ticket(tx, *contact)
            return {"ticket": ticket, "status": tx.state, "messages": [message_dict(m) for m in tx.new]}

    def _open_ticket(self, tx: _Tx, method: ContactMethod, value: str) -> dict:
        tx.move("contact")
        history = tx.all_messages()
        ticket = tickets.create(
            tx.conn,
            tx.now,
            session_id=tx.sess["id"],
            original_question=tx.sess["original_question"],
            conversation_transcript=tickets.transcript(history, self.tz),
            conversation_history=tickets.history(history),
            status=TicketStatus.OPEN,
            contact_method=method.value,
            contact_info=value,
            language=tx.sess["language"],
            started_at=tx.sess["created_at"],
            ended_at=tx.now,
            resolution_reason="",
            urgent=bool(tx.sess["urgent"]),
        )
        tx.set(ticket_id=ticket["id"], closed_at=tx.now)
        reply = t(f"ticket_created_{method.value}", tx.sess["language"], ticket_id=ticket["id"], contact=value)
        tx.say(Role.BOT, BOT_AUTHOR, reply, "ticket_created")
        tx.record(
            EventKind.TICKET_CREATED,
            question=tx.sess["original_question"],
            ticket_id=ticket["id"],
            contact_method=method.value,
        )
        return ticket

    # ------------------------------------------------------------------ queue timeout (the sweeper's only)
    def _present(self, conn: Connection, now: float) -> int:
        return availability(conn, now, self.settings.heartbeat_timeout_s)["online"]

    def _expire(self, session_id: str) -> bool:
        with self._session(session_id, visitor=False) as tx:
            if tx.state != State.WAITING:
                return False
            present = self._present(tx.conn, tx.now)
            if not leaves_queue(tx.sess["waiting_since"], tx.now, self.settings.queue_timeout_s, present):
                return False
            tx.move("timeout")
            # Nobody left to wait for (every console closed): say so, rather than "nobody answered in time".
            key = "queue_no_operator" if stranded(present) else "queue_timeout"
            reply = t(key, tx.sess["language"])
            tx.say(Role.BOT, BOT_AUTHOR, reply, key)
            tx.record(EventKind.QUEUE_TIMEOUT, question=tx.sess["original_question"], reply=reply)
            return True

    def expire_waiting(self) -> int:
        """Move every chat that leaves the queue (domain/queue.py `leaves_queue`: waited QUEUE_TIMEOUT_S or
        more, or no operator is present any more) to contact collection."""
        now = self.clock()
        with self.store.read() as conn:
            cutoff = sweep_cutoff(now, self.settings.queue_timeout_s, self._present(conn, now))
            ids = cq.timed_out_ids(conn, cutoff)
        return sum(1 for sid in ids if self._expire(sid))

    # ------------------------------------------------------------------ operators
    def take_chat(self, operator_id: int, session_id: str) -> dict:
        with self._session(session_id, visitor=False) as tx:
            if tx.state != State.WAITING:
                raise Conflict("this chat is no longer waiting: another operator may have taken it", code="not_waiting")
            refusal = self._refusal(tx, operator_id)
            if refusal is Refusal.UNAVAILABLE:
                raise Conflict("you are not online: set your presence to online to take a chat", code=refusal)
            if refusal is Refusal.AT_CAPACITY:
                raise Conflict("you already have as many live chats as you can take", code=refusal)
            if not cq.take_if_waiting(tx.conn, session_id, operator_id, tx.now):
                raise Conflict("this chat was taken by another operator", code="not_waiting")
            tx.move("take")
            tx.set(operator_id=operator_id, taken_at=tx.now)
            name = tx.operator_name()
            tx.say(Role.SYSTEM, SYSTEM_AUTHOR, t("operator_joined", tx.sess["language"], name=name), "chat_handover")
            tx.record(EventKind.HANDOVER, question=tx.sess["original_question"], operator=name)
            taken = {"session_id": session_id, "status": tx.state, "operator_name": name}
        self.view.forget_waits()  # a new wait: the estimate reads them afresh
        return taken

    def _refusal(self, tx: _Tx, operator_id: int) -> Refusal | None:
        """Why `operator_id` may not take one more chat now (domain/capacity.py), None if they may."""
        load = oq.load_of(tx.conn, operator_id)
        if load is None:
            raise NotFound("unknown operator", code="unknown_operator")
        return OperatorLoad.of(load).refusal(tx.now, self.settings.heartbeat_timeout_s)

    def _own_live(self, tx: _Tx, operator_id: int) -> None:
        if tx.state != State.LIVE or tx.sess["operator_id"] != operator_id:
            raise Conflict("this chat is not live with you", code="not_your_chat")

    def operator_send(self, operator_id: int, session_id: str, text: object) -> dict:
        text = self._text(text)
        with self._session(session_id, visitor=False) as tx:
            self._own_live(tx, operator_id)
            name = tx.operator_name()
            msg = tx.say(Role.OPERATOR, name, text)
            tx.set(operator_typing_at=None)  # the message is there: no longer typing
            tx.record(EventKind.OPERATOR_MESSAGE, text=text, operator=name)
            return {"message": message_dict(msg)}

    def release_chat(self, operator_id: int, session_id: str, resolution_reason: object = "") -> dict:
        reason = resolution_reason if isinstance(resolution_reason, str) else ""
        reason = check_characters(reason.strip()[: self.settings.max_message_len], "resolution_reason")
        with self._session(session_id, visitor=False) as tx:
            self._own_live(tx, operator_id)
            name = tx.operator_name()
            history = tx.all_messages()
            handover = next(
                (
                    m["seq"]
                    for m in history
                    if m["intent"] == "chat_handover" and m["created_at"] >= tx.sess["taken_at"]
                ),
                0,
            )
            live = [m for m in history if m["seq"] > handover]
            before = [m for m in history if m["seq"] < handover]
            text = tickets.transcript(live, self.tz, roles=(Role.USER, Role.OPERATOR))
            tx.move("release")
            tx.set(closed_at=tx.now)
            ticket = tickets.create(
                tx.conn,
                tx.now,
                session_id=tx.sess["id"],
                original_question=tx.sess["original_question"],
                conversation_transcript=text,
                conversation_history=tickets.history(before),
                operator_name=name,
                started_at=tx.sess["taken_at"],
                ended_at=tx.now,
                resolution_reason=reason,
                status=TicketStatus.RESOLVED,
                contact_method=ContactMethod.LIVE_CHAT.value,
                contact_info="",
                language=tx.sess["language"],
                urgent=bool(tx.sess["urgent"]),
            )
            tx.set(ticket_id=ticket["id"])
            tx.say(Role.SYSTEM, SYSTEM_AUTHOR, t("chat_closed", tx.sess["language"], name=name), "chat_closed")
            tx.record(EventKind.CHAT_COMPLETED, transcript=text, operator=name, ticket_id=ticket["id"])
            return {"ticket": ticket, "status": tx.state}

    # ------------------------------------------------------------------ operator typing, business hours
    def operator_typing(self, operator_id: int, session_id: str) -> dict:
        """The operator is typing in their live chat: the visitor's poll says so for TYPING_S.
        Stored on the session row, so every process (API, page, dashboard) sees it."""
        with self.store.write() as conn:
            done = cq.mark_typing(conn, session_id, operator_id, self.clock())
        if not done:
            raise Conflict("this chat is not live with you", code="not_your_chat")
        self.on_change(session_id, False)  # the visitor's page shows it; a console does not
        return {"ok": True, "typing_s": TYPING_S}

    def opening_status(self, language: str = "it", at: float | None = None) -> dict:
        """Whether the venue is within business hours now, and when it is back if not
        ("lunedì alle 9:00"): the visitor page shows it before anyone asks."""
        now = self.clock() if at is None else at
        lang = validate_language(language)
        if self.hours.is_open(now):
            return {"open": True, "back": None}
        return {"open": False, "back": self._back(now, lang)}

    def _back(self, now: float, lang: str) -> str | None:
        """When the venue opens next, as the visitor reads it ("lunedì alle 9:00"); None if never."""
        opening = self.hours.next_opening(now)
        return when_text(opening, now, lang) if opening else None

    def transfer_chat(self, operator_id: int, session_id: str, to_operator_id: int) -> dict:
        """Hand a live chat to a colleague who may take it (domain/capacity.py: present, with room).

        Only the operator who has the chat may transfer it; the chat stays live. The visitor
        reads "Ora l'assiste X" and the sheet gets a `chat_transfer` row, in one transaction."""
        if not isinstance(to_operator_id, int) or isinstance(to_operator_id, bool):
            raise ValidationError("to_operator_id must be an operator id", code="invalid_to_operator_id")
        with self._session(session_id, visitor=False) as tx:
            self._own_live(tx, operator_id)
            if to_operator_id == operator_id:
                raise Conflict("this chat is already yours", code="same_operator")
            refusal = self._refusal(tx, to_operator_id)
            if refusal is Refusal.UNAVAILABLE:
                raise Conflict("that colleague is not online", code="target_offline")
            if refusal is Refusal.AT_CAPACITY:
                raise Conflict("that colleague has no room for another chat", code="target_at_capacity")
            before = tx.operator_name()
            tx.set(operator_id=to_operator_id)
            name = tx.operator_name()
            reply = t("operator_joined", tx.sess["language"], name=name)  # the visitor reads who helps them now
            tx.say(Role.SYSTEM, SYSTEM_AUTHOR, reply, "chat_transfer")
            tx.record(
                EventKind.TRANSFERRED, question=tx.sess["original_question"], operator=name, text=before, reply=reply
            )
            return {"session_id": session_id, "status": tx.state, "operator_id": to_operator_id, "operator_name": name}
