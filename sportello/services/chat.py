"""The conversation flow: one explicit state machine over chat sessions.

States and transitions are declared in `sportello.domain.TRANSITIONS`:

    bot --no_answer/ask_person--> offered --decline--> bot
    offered --accept (operator available)--> waiting --take--> live --release--> closed (ticket "resolved")
    offered --accept (nobody available)--> collecting_contact --contact--> closed (ticket "open")
    waiting --timeout (QUEUE_TIMEOUT_S)--> collecting_contact

Every transition is a method of `ChatService`. Each method runs in ONE
transaction that locks the session row, checks the transition, writes the
new state, the messages and a typed event (`sportello.domain.events`), whose
row for the sheets the store lays out and puts in the outbox: they commit
together or not at all. Pages and endpoints only call these methods.
"""

from __future__ import annotations

import logging
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.engine import Connection

from sportello.answering.bot import NO_ANSWER, OPERATOR_REQUEST, Answer, Answerer
from sportello.config import Settings
from sportello.domain import (
    Conflict,
    ContactMethod,
    Forbidden,
    NotFound,
    Role,
    State,
    TicketStatus,
    ValidationError,
    first_name,
    guess_contact,
    iso,
    next_state,
    validate_contact,
    validate_language,
    validate_text,
)
from sportello.domain import credentials as auth
from sportello.domain.events import Event, EventKind
from sportello.domain.hours import BusinessHours, when_text
from sportello.domain.texts import t
from sportello.domain.validation import check_characters
from sportello.services import events, tickets
from sportello.services import operators as ops
from sportello.services.throttle import VisitorQuotas
from sportello.store.database import Store
from sportello.store.tables import messages, operators, sessions

log = logging.getLogger("sportello.flow")

BOT_AUTHOR = "Assistente"
USER_AUTHOR = "Utente"
SYSTEM_AUTHOR = "Sistema"
TYPING_S = 5.0  # how long an operator's "typing" mark shows on the visitor's page


def message_dict(m) -> dict:
    return {
        "seq": m["seq"],
        "role": m["role"],
        "author": m["author"],
        "text": m["text"],
        "created_at": iso(m["created_at"]),
    }


# The hot path's statements, built once: executed with a dict of parameters, SQLAlchemy
# compiles each once and finds it in its cache by a constant key (a statement built with
# .values(...) per call costs a cache-key walk over every value).
_INSERT_MESSAGE = messages.insert()
_SESSION = select(sessions).where(sessions.c.id == bindparam("_sid"))
_SESSION_FOR_UPDATE = _SESSION.with_for_update()
_UPDATE_SESSION = update(sessions).where(sessions.c.id == bindparam("_sid"))  # SET: the other keys given

_NAMES: dict[tuple[str, int], str] = {}  # (database, operator id) -> first name; display names never change


def operator_first_name(conn: Connection, operator_id: int | None) -> str:
    if operator_id is None:
        return ""
    key = (str(conn.engine.url), operator_id)
    name = _NAMES.get(key)
    if name is None:
        found = conn.execute(select(operators.c.display_name).where(operators.c.id == operator_id)).scalar_one_or_none()
        if found is None:
            return ""
        if len(_NAMES) > 10_000:
            _NAMES.clear()
        name = _NAMES[key] = first_name(found)
    return name


def read_session(conn: Connection, session_id: str, token: str | None, *, visitor: bool = True, lock: bool = False):
    """The session row (locked for the transaction with `lock`); NotFound when there is none,
    Forbidden when `visitor` and `token` is not the session's."""
    row = conn.execute(_SESSION_FOR_UPDATE if lock else _SESSION, {"_sid": session_id}).first()
    if row is None:
        raise NotFound("unknown session", code="unknown_session")
    if visitor and not auth.token_matches(token or "", row.token_hash):
        raise Forbidden("wrong session token", code="bad_session_token")
    return row


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
        self.conn.execute(_INSERT_MESSAGE, values)
        self.new.append(values)
        return values

    def record(self, kind: EventKind, **fields) -> None:
        """One event of this session (and its sheet row), committed with this transaction."""
        events.record(
            self.conn,
            Event(kind, self.sess["id"], self.now, user_agent=self.sess["user_agent"] or "", **fields),
        )

    def all_messages(self) -> list[dict]:
        rows = self.conn.execute(
            select(messages).where(messages.c.session_id == self.sess["id"]).order_by(messages.c.seq)
        )
        return [dict(r._mapping) for r in rows]

    def operator_name(self) -> str:
        return operator_first_name(self.conn, self.sess["operator_id"])


class ChatService:
    def __init__(
        self,
        store: Store,
        answerer: Answerer,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        on_commit: Callable[[], None] | None = None,
    ):
        self.store = store
        self.answerer = answerer
        self.settings = settings
        self.clock = clock
        self.on_commit = on_commit or (lambda: None)
        self.tz = getattr(settings, "timezone", "Europe/Rome")
        # Per-client rates of new sessions and messages (0 = unlimited), and the caps per session and poll.
        self.quotas = VisitorQuotas(settings)
        self.max_messages = getattr(settings, "max_messages_per_session", 0)
        self.poll_max = getattr(settings, "poll_max_messages", 0)
        # Outside business hours a visitor who wants a person goes to the contact form (domain/hours.py).
        self.hours = BusinessHours.parse(
            getattr(settings, "business_hours", ""), getattr(settings, "holidays", ""), self.tz
        )

    # ------------------------------------------------------------------ plumbing
    @contextmanager
    def _session(self, session_id: str, token: str | None = None, *, visitor: bool = True) -> Iterator[_Tx]:
        with self.store.write() as conn:
            row = read_session(conn, session_id, token, visitor=visitor, lock=True)
            tx = _Tx(conn, dict(row._mapping), self.clock(), self.tz)
            yield tx
            if tx.changes:
                tx.set(updated_at=tx.now)
                conn.execute(_UPDATE_SESSION, {"_sid": session_id, **tx.changes})
        self.on_commit()

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
        return ops.availability(conn, now, self.settings.heartbeat_timeout_s)["available"]

    @staticmethod
    def _queue_position(conn: Connection, sess) -> int | None:
        if sess["status"] != State.WAITING:
            return None
        ahead = conn.execute(
            select(func.count())
            .select_from(sessions)
            .where(
                sessions.c.status == State.WAITING,
                sessions.c.id != sess["id"],
                or_(
                    sessions.c.waiting_since < sess["waiting_since"],
                    and_(sessions.c.waiting_since == sess["waiting_since"], sessions.c.id < sess["id"]),
                ),
            )
        ).scalar_one()
        return ahead + 1

    def estimated_wait_s(self, conn: Connection, position: int | None) -> float | None:
        """Median of the last 20 queue waits, times the queue position."""
        if not position:
            return None
        rows = conn.execute(
            select(sessions.c.taken_at - sessions.c.waiting_since)
            .where(sessions.c.taken_at.is_not(None), sessions.c.waiting_since.is_not(None))
            .order_by(sessions.c.taken_at.desc())
            .limit(20)
        ).scalars()
        waits = [w for w in rows if w is not None and w >= 0]
        if not waits:
            return None
        return round(statistics.median(waits) * position, 1)

    # ------------------------------------------------------------------ visitor
    def start_session(self, language: str | None = "it", user_agent: str = "", *, client: str | None = None) -> dict:
        """A new conversation; `client` (the caller's address) counts against SESSION_RATE_PER_IP."""
        lang = validate_language(language)
        self.quotas.new_session(client)
        session_id = uuid.uuid4().hex
        token = auth.new_token()
        now = self.clock()
        with self.store.write() as conn:
            conn.execute(
                sessions.insert().values(
                    id=session_id,
                    token_hash=auth.token_hash(token),
                    status=State.BOT,
                    language=lang,
                    user_agent=(user_agent or "")[:512],
                    created_at=now,
                    updated_at=now,
                    last_seq=1,
                    original_question="",
                    escalation_reason="",
                )
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
            conn.execute(_INSERT_MESSAGE, greeting)
        return {
            "session_id": session_id,
            "token": token,
            "status": State.BOT.value,
            "language": lang,
            "messages": [message_dict(greeting)],
        }

    def set_language(self, session_id: str, token: str, language: str) -> dict:
        lang = validate_language(language)
        with self._session(session_id, token) as tx:
            tx.set(language=lang)
        return {"status": tx.state, "language": lang}

    def visitor_message(self, session_id: str, token: str, text: object, *, client: str | None = None) -> dict:
        """`client` (the caller's address) counts against MESSAGE_RATE_PER_IP."""
        text = self._text(text)
        self.quotas.message(client)
        answer: Answer | None = None
        while True:
            try:
                return self._visitor_turn(session_id, token, text, answer)
            except _NeedsAnswer as need:
                # The answerer may be slow (an LLM): never call it inside a transaction.
                # The chat is with the AI: answer outside, then write in a new transaction.
                try:
                    answer = self.answerer.answer(text, need.language)
                except Exception:
                    log.exception("answerer failed; escalating")
                    answer = Answer(False, "", NO_ANSWER, None, 0.0, need.language)

    def _visitor_turn(self, session_id: str, token: str, text: str, answer: Answer | None) -> dict:
        """The visitor's message in one transaction (one round trip for a live chat, the hot path);
        raises _NeedsAnswer, writing nothing, when the AI must answer and `answer` is not there yet."""
        with self._session(session_id, token) as tx:
            self._check_room(tx.sess["last_seq"])
            state = tx.state
            intent = ""
            suggestion = None
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
            elif state == State.WAITING:
                tx.say(Role.USER, USER_AUTHOR, text)
                tx.record(EventKind.QUEUE_MESSAGE, text=text)
            elif state == State.LIVE:
                tx.say(Role.USER, USER_AUTHOR, text)
                name = tx.operator_name()
                tx.record(EventKind.LIVE_VISITOR_MESSAGE, text=text, operator=name)
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
            return {
                "status": tx.state,
                "intent": intent,
                "offer_operator": tx.state == State.OFFERED,
                "suggestion": suggestion,
                "messages": [message_dict(m) for m in tx.new],
            }

    def _bot_turn(self, tx: _Tx, text: str, answer: Answer) -> tuple[str, str | None]:
        """The AI's turn: answer, or offer a person. Returns the intent and the "did you mean" question offered."""
        lang = tx.sess["language"]
        tx.say(Role.USER, USER_AUTHOR, text)
        if answer.found:
            tx.say(Role.BOT, BOT_AUTHOR, answer.answer, answer.intent)
            tx.record(EventKind.AI_ANSWERED, intent=answer.intent, text=text, reply=answer.answer)
            if tx.state == State.OFFERED:
                tx.move("answered")
            return answer.intent, None
        asked = answer.intent == OPERATOR_REQUEST
        suggestion = None if asked else answer.suggestion
        if asked:
            reply = t("ask_person", lang)
        elif suggestion:
            reply = t("no_answer_suggest", lang, question=suggestion)
        else:
            reply = t("no_answer", lang)
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

    @staticmethod
    def _last_question(tx: _Tx, before_seq: int) -> str:
        return (
            tx.conn.execute(
                select(messages.c.text)
                .where(
                    messages.c.session_id == tx.sess["id"], messages.c.role == Role.USER, messages.c.seq < before_seq
                )
                .order_by(messages.c.seq.desc())
                .limit(1)
            ).scalar_one_or_none()
            or ""
        )

    def answer_offer(self, session_id: str, token: str, accept: bool) -> dict:
        if not isinstance(accept, bool):
            raise ValidationError("accept must be true or false", code="invalid_accept")
        with self._session(session_id, token) as tx:
            lang = tx.sess["language"]
            asking = False
            if accept and tx.state == State.BOT:  # "talk to a person" at any time
                question = self._last_question(tx, before_seq=tx.sess["last_seq"] + 1)
                if not question and self.hours.is_open(tx.now):
                    # nothing asked yet: ask what it is about; the next message is the question
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
            position = self._queue_position(tx.conn, tx.sess)
            return {
                "status": tx.state,
                "queue_position": position,
                "estimated_wait_s": self.estimated_wait_s(tx.conn, position),
                "messages": [message_dict(m) for m in tx.new],
            }

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
            position = self._queue_position(tx.conn, tx.sess)
            reply = t("queued", lang, position=position)
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
        with self._session(session_id, token) as tx:
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

    def visitor_poll(self, session_id: str, token: str, after: int = 0) -> dict:
        """What the visitor has not seen yet. Read-only: the queue timeout is the sweeper's."""
        with self.store.read() as conn:
            row = read_session(conn, session_id, token)
            return self._snapshot(conn, row, after)

    def _snapshot(self, conn: Connection, row, after: int) -> dict:
        """The session and its messages after `after`, at most POLL_MAX_MESSAGES of them.

        When more are left, `more` is true and `last_seq` (= `next_after`) is the
        last one returned, so a client polling with after=last_seq reads on."""
        sess = row._mapping
        query = (
            select(messages)
            .where(messages.c.session_id == sess["id"], messages.c.seq > int(after or 0))
            .order_by(messages.c.seq)
        )
        if self.poll_max > 0:
            query = query.limit(self.poll_max + 1)
        msgs = [message_dict(m._mapping) for m in conn.execute(query)]
        more = self.poll_max > 0 and len(msgs) > self.poll_max
        if more:
            msgs = msgs[: self.poll_max]
        last_seq = msgs[-1]["seq"] if more else sess["last_seq"]
        position = self._queue_position(conn, sess)
        name = operator_first_name(conn, sess["operator_id"])
        typing_at = sess.get("operator_typing_at")
        return {
            "session_id": sess["id"],
            "status": sess["status"],
            "language": sess["language"],
            "queue_position": position,
            "estimated_wait_s": self.estimated_wait_s(conn, position),
            "operator_name": name or None,
            "ticket_id": sess["ticket_id"],
            "last_seq": last_seq,
            "more": more,
            "next_after": last_seq,
            "messages": msgs,
            # the operator said they are typing within TYPING_S (ChatService.operator_typing)
            "operator_typing": bool(
                sess["status"] == State.LIVE and typing_at and 0 <= self.clock() - typing_at < TYPING_S
            ),
        }

    # ------------------------------------------------------------------ queue timeout (the sweeper's only)
    def _expire(self, session_id: str) -> bool:
        with self._session(session_id, visitor=False) as tx:
            if tx.state != State.WAITING or tx.now - tx.sess["waiting_since"] < self.settings.queue_timeout_s:
                return False
            tx.move("timeout")
            reply = t("queue_timeout", tx.sess["language"])
            tx.say(Role.BOT, BOT_AUTHOR, reply, "queue_timeout")
            tx.record(EventKind.QUEUE_TIMEOUT, question=tx.sess["original_question"], reply=reply)
            return True

    def expire_waiting(self) -> int:
        """Move every chat waiting longer than QUEUE_TIMEOUT_S to contact collection."""
        cutoff = self.clock() - self.settings.queue_timeout_s
        with self.store.read() as conn:
            ids = (
                conn.execute(
                    select(sessions.c.id).where(sessions.c.status == State.WAITING, sessions.c.waiting_since <= cutoff)
                )
                .scalars()
                .all()
            )
        return sum(1 for sid in ids if self._expire(sid))

    # ------------------------------------------------------------------ operators
    def operator_status(self) -> dict:
        with self.store.read() as conn:
            return ops.availability(conn, self.clock(), self.settings.heartbeat_timeout_s)

    def pending_sessions(self) -> list[dict]:
        """The queue, oldest first. Read-only: chats past QUEUE_TIMEOUT_S are left out, and the
        sweeper (`expire_waiting`, run by the runtime) moves them to contact collection."""
        now = self.clock()
        with self.store.read() as conn:
            rows = conn.execute(
                select(sessions)
                .where(
                    sessions.c.status == State.WAITING, sessions.c.waiting_since > now - self.settings.queue_timeout_s
                )
                .order_by(sessions.c.waiting_since, sessions.c.id)
            ).all()
        return [
            {
                "session_id": r.id,
                "original_question": r.original_question,
                "waiting_since": iso(r.waiting_since),
                "waiting_s": round(now - r.waiting_since, 1),
                "queue_position": i + 1,
                "language": r.language,
            }
            for i, r in enumerate(rows)
        ]

    def operator_chats(self, operator_id: int) -> list[dict]:
        """The operator's live chats."""
        with self.store.read() as conn:
            rows = conn.execute(
                select(sessions)
                .where(sessions.c.operator_id == operator_id, sessions.c.status == State.LIVE)
                .order_by(sessions.c.taken_at)
            ).all()
        return [
            {
                "session_id": r.id,
                "original_question": r.original_question,
                "language": r.language,
                "taken_at": iso(r.taken_at),
                "last_seq": r.last_seq,
            }
            for r in rows
        ]

    def take_chat(self, operator_id: int, session_id: str) -> dict:
        with self._session(session_id, visitor=False) as tx:
            if tx.state != State.WAITING:
                raise Conflict("this chat is no longer waiting: another operator may have taken it", code="not_waiting")
            if not ops.has_capacity(tx.conn, operator_id):
                raise Conflict("you already have as many live chats as you can take", code="at_capacity")
            # Conditional update: if two transactions ever raced past the lock, only one wins.
            won = tx.conn.execute(
                update(sessions)
                .where(sessions.c.id == session_id, sessions.c.status == State.WAITING)
                .values(status=State.LIVE, operator_id=operator_id, taken_at=tx.now)
            ).rowcount
            if won != 1:
                raise Conflict("this chat was taken by another operator", code="not_waiting")
            tx.move("take")
            tx.set(operator_id=operator_id, taken_at=tx.now)
            name = tx.operator_name()
            tx.say(Role.SYSTEM, SYSTEM_AUTHOR, t("operator_joined", tx.sess["language"], name=name), "chat_handover")
            tx.record(EventKind.HANDOVER, question=tx.sess["original_question"], operator=name)
            return {"session_id": session_id, "status": tx.state, "operator_name": name}

    def operator_messages(self, operator_id: int, session_id: str, after: int = 0) -> dict:
        with self.store.read() as conn:
            row = read_session(conn, session_id, None, visitor=False)
            return self._snapshot(conn, row, after)

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
            )
            tx.set(ticket_id=ticket["id"])
            tx.say(Role.SYSTEM, SYSTEM_AUTHOR, t("chat_closed", tx.sess["language"], name=name), "chat_closed")
            tx.record(EventKind.CHAT_COMPLETED, transcript=text, operator=name, ticket_id=ticket["id"])
            return {"ticket": ticket, "status": tx.state}

    # ------------------------------------------------------------------ issue 15: typing, hours
    def operator_typing(self, operator_id: int, session_id: str) -> dict:
        """The operator is typing in their live chat: the visitor's poll says so for TYPING_S.
        Stored on the session row, so every process (API, page, dashboard) sees it."""
        now = self.clock()
        with self.store.write() as conn:
            done = conn.execute(
                update(sessions)
                .where(
                    sessions.c.id == session_id,
                    sessions.c.operator_id == operator_id,
                    sessions.c.status == State.LIVE,
                )
                .values(operator_typing_at=now)
            ).rowcount
        if done != 1:
            raise Conflict("this chat is not live with you", code="not_your_chat")
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

    def transfer_targets(self, operator_id: int) -> list[dict]:
        """The colleagues `operator_id` may hand a chat to now: present, with room (checked again
        by transfer_chat, in its transaction)."""
        now = self.clock()
        with self.store.read() as conn:
            return [
                o
                for o in ops.list_operators(conn)
                if o["id"] != operator_id and ops.can_take(o, now, self.settings.heartbeat_timeout_s)
            ]

    def transfer_chat(self, operator_id: int, session_id: str, to_operator_id: int) -> dict:
        """Hand a live chat to a colleague who is present (online, heartbeat fresh) with room for it.

        Only the operator who has the chat may transfer it; the chat stays live. The visitor
        reads "Ora la assiste X" and the sheet gets a `chat_transfer` row, in one transaction."""
        if not isinstance(to_operator_id, int) or isinstance(to_operator_id, bool):
            raise ValidationError("to_operator_id must be an operator id", code="invalid_to_operator_id")
        with self._session(session_id, visitor=False) as tx:
            self._own_live(tx, operator_id)
            if to_operator_id == operator_id:
                raise Conflict("this chat is already yours", code="same_operator")
            target = next(
                (o for o in ops.list_operators(tx.conn) if o["id"] == to_operator_id),
                None,
            )
            if target is None:
                raise NotFound("unknown operator", code="unknown_operator")
            if not ops.is_present(target, tx.now, self.settings.heartbeat_timeout_s):
                raise Conflict("that colleague is not online", code="target_offline")
            if not ops.has_capacity(tx.conn, to_operator_id):
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
