"""The learning loop: operators teach the answerer from the dashboard.

An operator marks a visitor question as

- ``intent``: "this is intent X" (a labelled example, and a new phrasing of X in the learned KB,
  so that the lexical answerer learns it too);
- ``escalate``: "this must go to a person" (a labelled example `escalate`, read by the fused
  answerer; the lexical answerer has no example memory and keeps its own rules);
- ``kb_entry``: a new knowledge base entry, question and answer in Italian and English.

Review: a label by an admin (an active admin in the store, whatever the caller's dict says) applies at
once; a non-admin's is stored as a *proposal* that reaches the answerer only once an admin approves it
(`review`, recorded: by whom, when), and may be rejected. A label can be undone only by its author or
an admin (`Forbidden`, code `not_your_label`); the author's undo of a proposal withdraws it.

The `labels` table is the versioned source of truth (who, when, reviewed and undone by whom and when).
After each label, review or undo the files the answerers read are regenerated from the active rows
(approved, not undone):

- ``learned_examples.csv`` (`question,lang,expected`, next to the shipped data/examples.csv),
- ``learned_kb.csv`` (`id,intent,lang,questions,answer`, merged after the main KB).

Every process's answerer watches those files (mtime) and reloads them, so the app picks up what the
dashboard (a separate process) taught without a restart; this process's answerer is reloaded at once.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable

from sportello.answering.examples import Example, write_examples
from sportello.answering.kb import Answerer, KBEntry, KBError, read_kb, write_kb
from sportello.config import Settings
from sportello.domain.errors import Conflict, Forbidden, NotFound, ValidationError
from sportello.domain.events import EventKind
from sportello.domain.intents import ESCALATE
from sportello.services.reports import FLOW_INTENTS
from sportello.store import events as event_log
from sportello.store import labels as label_store
from sportello.store import operator_queries
from sportello.store.database import Store

log = logging.getLogger(__name__)

INTENT = "intent"
KB_ENTRY = "kb_entry"
KINDS = (INTENT, ESCALATE, KB_ENTRY)
LANGS = ("it", "en")
LEARNED_PREFIX = "learned-"
_SLUG = re.compile(r"[a-z0-9_]{2,64}\Z")
MAX_TEXT = 2000


def _clean(text: str | None) -> str:
    return " ".join(str(text or "").split())


def _phrasing(text: str) -> str:
    # `|` separates a KB row's phrasings.
    return _clean(text).replace("|", "/")


def _who(operator: dict) -> str:
    return _clean(operator.get("display_name") or operator.get("username"))[:128]


def _is_admin(conn, operator: dict) -> bool:
    """Whether the operator is, now, an active admin: asked of the store, not of the caller's dict
    (an admin demoted while signed in proposes from then on)."""
    try:
        row = operator_queries.by_id(conn, int(operator.get("id")))
    except (TypeError, ValueError):
        return False
    return bool(row is not None and row.active and row.is_admin)


def _base_entries(settings: Settings) -> list[KBEntry]:
    try:
        return read_kb(settings.kb_path).entries
    except KBError:
        log.exception("knowledge base %s unreadable", settings.kb_path)
        return []


def write_learned_files(store: Store, settings: Settings) -> bool:
    """Regenerate the learned files (`LEARNED_EXAMPLES_FILE`, `LEARNED_KB_FILE`) from the active labels;
    returns whether a file changed. Every answerer notices the change by itself (mtime); `Learning.sync`
    also reloads its process's answerer at once. Erasure calls it after blanking labels."""
    with store.read() as conn:
        active = label_store.active(conn)
    examples_path, kb_path = settings.learned_examples_file, settings.learned_kb_file
    if not active and not examples_path.exists() and not kb_path.exists():
        return False
    base = {(e.intent, e.lang): e for e in reversed(_base_entries(settings))}  # the first entry per (intent, lang)
    for x in active:
        if x["kind"] == KB_ENTRY:
            for lg in LANGS:
                key = (x["intent"], lg)
                base.setdefault(key, KBEntry("", x["intent"], lg, (x[f"question_{lg}"],), x[f"answer_{lg}"]))
    examples, kb_rows = [], []
    for x in active:
        if x["kind"] in (INTENT, ESCALATE):
            examples.append(Example(x["question"], x["lang"], x["intent"] if x["kind"] == INTENT else ESCALATE))
        if x["kind"] == INTENT:
            entry = base.get((x["intent"], x["lang"])) or next(
                (e for (i, _), e in base.items() if i == x["intent"]), None
            )
            if entry is not None:
                kb_rows.append(
                    (f"{LEARNED_PREFIX}{x['id']}", x["intent"], x["lang"], _phrasing(x["question"]), entry.answer)
                )
        elif x["kind"] == KB_ENTRY:
            for lg in LANGS:
                phrasings = [_phrasing(x[f"question_{lg}"])]
                if x["lang"] == lg and _phrasing(x["question"]).casefold() != phrasings[0].casefold():
                    phrasings.append(_phrasing(x["question"]))
                kb_rows.append(
                    (f"{LEARNED_PREFIX}{x['id']}-{lg}", x["intent"], lg, "|".join(phrasings), x[f"answer_{lg}"])
                )
    # Learned KB entries first in the file, so a phrasing row of a learned intent follows its entry.
    kb_rows.sort(key=lambda r: r[0].count("-") == 1)
    changed = write_kb(kb_path, kb_rows)
    changed |= write_examples(examples_path, examples)
    return changed


def _answer_counts(conn, ts: float | None, side: str, **bounds) -> dict:
    """{kind: how many} of the visitor questions (not the flow's intents) before or after `ts`."""
    return label_store.answer_counts(conn, ts, side, exclude=FLOW_INTENTS, **bounds)


class _SettledCounts:
    """The answer counts of the events before a past instant, kept for the next calls.

    Events are appended with their transaction's time and never deleted (an erasure keeps kind and
    intent), so those counts change only if an event dated before the instant comes later (a clock in
    the past: tests, imports) or events are deleted: both are seen in the events committed since
    (`events.seq`), and the counts are read again."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._key: tuple | None = None
        self._counts: dict = {}
        self._seen = 0

    def counts(self, conn, ts: float | None, cut: float) -> dict:
        """{"before": {kind: n}, "after": {kind: n}} of the events with at < cut."""
        with self.lock:
            newest = event_log.last_seq(conn)
            if self._key is not None:
                earliest, _ = event_log.since(conn, newest, self._seen, EventKind.ERASED)
                if newest < self._seen or (earliest is not None and earliest < self._key[1]):
                    self._key = None
            if self._key != (ts, cut):
                self._counts = {side: _answer_counts(conn, ts, side, hi=cut) for side in ("before", "after")}
                self._key = (ts, cut)
            self._seen = newest
            return self._counts


class Learning:
    """Labels from the dashboard, the learned files, and what they changed."""

    kinds = KINDS

    def __init__(
        self,
        store: Store,
        answerer: Answerer,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ):
        self._store = store
        self._answerer = answerer
        self.settings = settings
        self.clock = clock
        self._settled = _SettledCounts()
        self.examples_path = settings.learned_examples_file
        self.kb_path = settings.learned_kb_file
        try:
            self.sync()
        except Exception:  # a read-only DATA_DIR must not stop the app: the labels stay in the store
            log.exception("could not write the learned files under %s", settings.data_dir)

    # ------------------------------------------------------------------ the KB
    def intents(self) -> list[str]:
        """The intents an operator can pick: the main KB's and the learned KB entries', sorted.
        Never `escalate`: in the examples file that name means "must go to a person"."""
        names = {e.intent for e in _base_entries(self.settings)}
        with self._store.read() as conn:
            names |= label_store.active_intents(conn, KB_ENTRY)
        return sorted(n for n in names if n and n != ESCALATE)

    # ------------------------------------------------------------------ labelling
    def label(
        self,
        operator: dict,
        question: str,
        lang: str | None,
        *,
        intent: str | None = None,
        escalate: bool = False,
        kb_entry: dict | None = None,
    ) -> dict:
        """Store one decision and regenerate the learned files; returns the label. An admin's label is
        `approved` at once; a non-admin's is `proposed`, and reaches the answerer only once approved.

        Exactly one of: `intent="X"` (a KB intent), `escalate=True`, or
        `kb_entry={"question_it", "answer_it", "question_en", "answer_en", "intent" (optional name)}`."""
        question = _clean(question)
        if not question:
            raise ValidationError("empty question", code="invalid_input")
        if len(question) > MAX_TEXT:
            raise ValidationError("question too long", code="invalid_input")
        lang = (lang or "").strip().lower()
        if lang not in LANGS:
            lang = "it"
        chosen = [x for x in (intent, escalate or None, kb_entry) if x]
        if len(chosen) != 1:
            raise ValidationError("choose one of: an intent, escalate, a new KB entry", code="invalid_input")
        values = {
            "question": question,
            "lang": lang,
            "intent": "",
            "question_it": "",
            "question_en": "",
            "answer_it": "",
            "answer_en": "",
            "operator_id": operator.get("id"),
            "operator_name": _who(operator),
            "created_at": self.clock(),
        }
        if intent:
            intent = intent.strip()
            if intent not in self.intents():
                raise ValidationError(f"unknown intent {intent!r}", code="invalid_input")
            values.update(kind=INTENT, intent=intent)
        elif escalate:
            values.update(kind=ESCALATE)
        else:
            entry = {k: _clean(kb_entry.get(k)) for k in ("question_it", "question_en", "answer_it", "answer_en")}
            if lang == "it" and not entry["question_it"]:
                entry["question_it"] = question
            if lang == "en" and not entry["question_en"]:
                entry["question_en"] = question
            missing = [k for k, v in entry.items() if not v]
            if missing:
                raise ValidationError(f"a new KB entry needs {', '.join(missing)}", code="invalid_input")
            if any(len(v) > MAX_TEXT for v in entry.values()):
                raise ValidationError("text too long", code="invalid_input")
            name = (kb_entry.get("intent") or "").strip().lower()
            if name:
                if not _SLUG.match(name):
                    raise ValidationError("intent name: lowercase letters, digits and _", code="invalid_input")
                if name == ESCALATE or name in self.intents():
                    raise ValidationError(f"intent {name!r} already exists", code="invalid_input")
            values.update(kind=KB_ENTRY, intent=name, **entry)
        with self._store.write() as conn:
            if _is_admin(conn, operator):
                values.update(status=label_store.APPROVED, reviewed_by=values["operator_name"])
                values["reviewed_at"] = values["created_at"]
            else:
                values.update(status=label_store.PROPOSED, reviewed_by=None, reviewed_at=None)
            label_id = label_store.insert(conn, values)
            if values["kind"] == KB_ENTRY and not values["intent"]:
                values["intent"] = f"learned_{label_id}"
                label_store.set_intent(conn, label_id, values["intent"])
        log.info(
            "label #%s (%s %s) by %s: %s",
            label_id,
            values["kind"],
            values["intent"],
            values["operator_name"],
            values["status"],
        )
        if values["status"] == label_store.APPROVED:
            self.sync()
        return {"id": label_id, **values, "undone_at": None, "undone_by": None}

    def undo(self, label_id: int, operator: dict) -> dict:
        """Withdraw a label (kept in the history as undone); the answerer forgets it. Only its author
        or an admin may (`Forbidden`, code `not_your_label`)."""
        who = _who(operator)
        with self._store.write() as conn:
            row = label_store.get(conn, label_id)
            if row is None:
                raise NotFound(f"no label {label_id}", code="not_found")
            mine = operator.get("id") is not None and row.operator_id == operator.get("id")
            if not mine and not _is_admin(conn, operator):
                raise Forbidden("only its author or an administrator can undo a label", code="not_your_label")
            if row.undone_at is not None:
                raise Conflict(f"label {label_id} already undone", code="conflict")
            if row.status == label_store.REJECTED:
                raise Conflict(f"label {label_id} was rejected", code="conflict")
            now = self.clock()
            label_store.mark_undone(conn, row.id, now, who)
        log.info("label #%s undone by %s", label_id, who)
        self.sync()
        return {**label_store.as_dict(row), "undone_at": now, "undone_by": who}

    def review(self, label_id: int, operator: dict, *, approve: bool) -> dict:
        """An admin approves (the answerer learns it now) or rejects a proposal; recorded: by whom, when."""
        who = _who(operator)
        with self._store.write() as conn:
            if not _is_admin(conn, operator):
                raise Forbidden("only an administrator reviews the proposals", code="admin_review_only")
            row = label_store.get(conn, label_id)
            if row is None:
                raise NotFound(f"no label {label_id}", code="not_found")
            if row.status != label_store.PROPOSED or row.undone_at is not None:
                raise Conflict(f"label {label_id} is not waiting for a review", code="not_proposed")
            if approve and row.kind == KB_ENTRY and row.intent in label_store.active_intents(conn, KB_ENTRY):
                raise ValidationError(f"intent {row.intent!r} already exists", code="invalid_input")
            if approve and row.kind == INTENT and row.intent not in self._known_intents(conn):
                raise ValidationError(f"unknown intent {row.intent!r}", code="invalid_input")
            status = label_store.APPROVED if approve else label_store.REJECTED
            now = self.clock()
            label_store.mark_reviewed(conn, row.id, status, now, who)
        log.info("label #%s %s by %s", label_id, status, who)
        if approve:
            self.sync()
        return {**label_store.as_dict(row), "status": status, "reviewed_at": now, "reviewed_by": who}

    def _known_intents(self, conn) -> set[str]:
        return {e.intent for e in _base_entries(self.settings)} | label_store.active_intents(conn, KB_ENTRY)

    # ------------------------------------------------------------------ reading
    def history(self, limit: int = 500) -> list[dict]:
        """Every label, newest first (undone ones included)."""
        with self._store.read() as conn:
            return label_store.history(conn, limit)

    def pending(self) -> list[dict]:
        """The proposals waiting for an admin's review, oldest first."""
        with self._store.read() as conn:
            return label_store.pending(conn)

    def _active(self) -> list[dict]:
        with self._store.read() as conn:
            return label_store.active(conn)

    def counts_by_intent(self) -> list[dict]:
        """How many active labels each target has (an intent, `escalate`), most first."""
        counts = Counter(ESCALATE if x["kind"] == ESCALATE else x["intent"] for x in self._active())
        return [{"intent": k, "count": n} for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]

    def answer_rate_since(self, ts: float | None = None) -> dict:
        """The share of visitor questions the AI answered before and since `ts` (default: the first
        active label). {"since", "before": {"questions", "answered", "rate"}, "after": {...}}.

        Counted over every event ever recorded: the counts of the events older than the last full hour
        are kept (`_SettledCounts`, 47 ms on the 1M-message store), the newer ones are read each time."""
        if ts is None:
            active = self._active()
            ts = min((x["created_at"] for x in active), default=None)
        out: dict = {"since": ts}
        cut = (self.clock() // 3600 - 1) * 3600
        with self._store.read() as conn:
            settled = self._settled.counts(conn, ts, cut)
            for side in ("before", "after"):
                if ts is None and side == "after":
                    out[side] = {"questions": 0, "answered": 0, "rate": None}
                    continue
                counts = Counter(settled[side])
                counts.update(_answer_counts(conn, ts, side, lo=cut))
                answered = counts.get(label_store.ANSWER_KINDS[0], 0)
                total = answered + counts.get(label_store.ANSWER_KINDS[1], 0)
                out[side] = {"questions": total, "answered": answered, "rate": answered / total if total else None}
        return out

    # ------------------------------------------------------------------ the learned files
    def sync(self) -> bool:
        """Regenerate the learned files from the active labels; reload this process's answerer.
        Returns whether a file changed."""
        changed = write_learned_files(self._store, self.settings)
        if changed:
            self._reload_answerer()
        return changed

    def _reload_answerer(self) -> None:
        try:
            self._answerer.reload_learned()
        except Exception:
            log.exception("reloading the answerer after a label failed; it reloads by itself shortly")
