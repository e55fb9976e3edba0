"""The visitor's satisfaction rating: 1-5 and an optional comment, once per session.

A conversation can be rated when it is over with an operator (released: "operator") or
while the AI is in charge after at least one answer from the knowledge base (the "end
chat / rate" affordance: "ai"). The rating is stored in `ratings` (one per session,
a second one is a Conflict `already_rated`), copied on the session's ticket when there
is one, and recorded as a `satisfaction_rating` event (its "Conversazioni" row:
bot_reply "rating 4/5: comment"), all in one transaction. The sheet's cells go through
`sinks.layout.safe_cell`, so a comment is never read as a formula.

`summary(days)` gives the Analisi page the counts and averages split by who resolved
the conversation.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sportello.config import Settings
from sportello.domain import Conflict, State, ValidationError
from sportello.domain.events import Event, EventKind
from sportello.domain.validation import check_characters
from sportello.services import events
from sportello.services.throttle import VisitorQuotas
from sportello.store import chat_queries as cq
from sportello.store import operator_queries as oq
from sportello.store import rating_queries as rq
from sportello.store.database import Store

MAX_COMMENT_LEN = 500
RESOLVED_BY = ("ai", "operator")


def validate_score(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5:
        return value
    raise ValidationError("score must be an integer from 1 to 5", code="invalid_score")


def validate_comment(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError("comment must be a string", code="invalid_comment")
    value = check_characters(value, "comment").strip()
    if len(value) > MAX_COMMENT_LEN:
        raise ValidationError(f"comment too long (limit {MAX_COMMENT_LEN} characters)", code="comment_too_long")
    return value


class FeedbackService:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        on_commit: Callable[[], None] | None = None,
        quotas: VisitorQuotas | None = None,
    ):
        self.store = store
        self.settings = settings
        self.clock = clock
        self.on_commit = on_commit or (lambda: None)
        # A rating is a visitor's write: CHANGE_RATE_PER_SESSION (the runtime passes the chat's quotas).
        self.quotas = quotas or VisitorQuotas(settings)

    @staticmethod
    def _resolved_by(conn, sess) -> str | None:
        """Who resolved the conversation, or None when there is nothing to rate yet."""
        if sess["status"] == State.CLOSED and sess["operator_id"] is not None:
            return "operator"
        if sess["status"] == State.BOT:
            return "ai" if cq.has_ai_answer(conn, sess["id"]) else None
        return None

    def can_rate(self, session_id: str, token: str) -> dict:
        """{"can_rate": bool, "rated": bool, "resolved_by": "ai" | "operator" | None}."""
        with self.store.read() as conn:
            sess = cq.read_session(conn, session_id, token)._mapping
            rated = rq.rated(conn, session_id)
            who = self._resolved_by(conn, sess)
        return {"can_rate": bool(who) and not rated, "rated": rated, "resolved_by": who}

    def rate(self, session_id: str, token: str, score: object, comment: object = "") -> dict:
        score = validate_score(score)
        comment = validate_comment(comment)
        self.quotas.change(session_id, self.settings.change_rate_per_session)
        with self.store.write() as conn:
            sess = cq.read_session(conn, session_id, token, lock=True)._mapping
            if rq.rated(conn, session_id):
                raise Conflict("this conversation has already been rated", code="already_rated")
            who = self._resolved_by(conn, sess)
            if who is None:
                raise Conflict(
                    "a conversation is rated after an operator closed it or the assistant answered",
                    code="nothing_to_rate",
                )
            now = self.clock()
            name = oq.first_name_of(conn, sess["operator_id"]) if who == "operator" else ""
            ticket_id = sess["ticket_id"]
            rq.add(
                conn,
                ticket_id,
                session_id=session_id,
                score=score,
                comment=comment,
                resolved_by=who,
                operator_name=name,
                created_at=now,
            )
            events.record(
                conn,
                Event(
                    EventKind.RATING,
                    session_id,
                    now,
                    reply=f"{score}/5",
                    text=comment,
                    operator=name,
                    ticket_id=ticket_id,
                    user_agent=sess["user_agent"] or "",
                ),
            )
        self.on_commit()
        return {"score": score, "comment": comment, "resolved_by": who, "ticket_id": ticket_id}

    def summary(self, days: float = 30) -> dict:
        """Ratings of the last `days` days: {"ai": {...}, "operator": {...}, "all": {...}}, each
        {"count", "average" (None when no rating), "distribution": {"1": n, ..., "5": n}}."""
        since = self.clock() - float(days) * 86400
        with self.store.read() as conn:
            rows = rq.scores_since(conn, since)

        def block(scores: list[int]) -> dict:
            return {
                "count": len(scores),
                "average": round(sum(scores) / len(scores), 2) if scores else None,
                "distribution": {str(i): scores.count(i) for i in range(1, 6)},
            }

        out = {who: block([r.score for r in rows if r.resolved_by == who]) for who in RESOLVED_BY}
        out["all"] = block([r.score for r in rows])
        out["days"] = days
        return out

    def recent(self, limit: int = 50) -> list[dict]:
        """The latest ratings with their comments, newest first (for the Analisi page)."""
        with self.store.read() as conn:
            rows = rq.recent(conn, limit)
        return [dict(r._mapping) for r in rows]
