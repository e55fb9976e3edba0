"""The learning loop on the dashboard: label a visitor question (Analisi, live chat) and the
"Apprendimento · Learning" section (the admins' review of proposals, history with undo, counts per
intent, answer rate before/after). Calls `rt.learning` only (sportello.services.learning).

Visitor text (the questions being labelled, the proposals, the history) is never rendered as Markdown
or HTML: `st.text`, dataframes and option lists show it as it is; a label that Streamlit renders as
Markdown (an expander's) gets it through `ui.plain`. Who may review or undo is the service's rule:
the page only leaves out the buttons a non-admin could not use."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from sportello.domain.errors import DomainError
from sportello.domain.hours import zone
from sportello.domain.intents import ESCALATE
from sportello.faces.dashboard import ui

# The "new KB entry" choice of the label picker, beside the intents and ESCALATE ("must go to a person").
NEW_KB = "__kb__"
REVIEW_LIMIT = 50


def _when(ts: float | None, tz: str) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, tz=UTC).astimezone(zone(tz, or_utc=True)).strftime("%Y-%m-%d %H:%M")


def label_widget(rt, op: dict, question: str, lang: str, key: str) -> None:
    """Pick an intent / a person / a new KB entry for `question`, then save it as a label."""
    lang = lang if lang in ("it", "en") else "it"
    options = [*rt.learning.intents(), ESCALATE, NEW_KB]

    def label(choice: str) -> str:
        if choice == ESCALATE:
            return ui.t("label_escalate")
        if choice == NEW_KB:
            return ui.t("label_new_kb")
        return ui.t("label_intent", i=choice)

    choice = st.selectbox(
        ui.t("label_as"), options, index=None, format_func=label, key=f"lbl_pick_{key}", placeholder=ui.t("choose")
    )
    entry = None
    if choice == NEW_KB:
        c1, c2 = st.columns(2)
        entry = {
            "question_it": c1.text_input(
                ui.t("label_q_it"), value=question if lang == "it" else "", key=f"lbl_qit_{key}"
            ),
            "answer_it": c1.text_area(ui.t("label_a_it"), key=f"lbl_ait_{key}", height=90),
            "question_en": c2.text_input(
                ui.t("label_q_en"), value=question if lang == "en" else "", key=f"lbl_qen_{key}"
            ),
            "answer_en": c2.text_area(ui.t("label_a_en"), key=f"lbl_aen_{key}", height=90),
            "intent": st.text_input(ui.t("label_name"), key=f"lbl_name_{key}"),
        }
    if st.button(ui.t("label_save"), key=f"lbl_save_{key}", disabled=choice is None, type="primary"):
        try:
            saved = rt.learning.label(
                op,
                question,
                lang,
                intent=choice if choice not in (ESCALATE, NEW_KB) else None,
                escalate=choice == ESCALATE,
                kb_entry=entry,
            )
        except DomainError as exc:
            st.warning(ui.err(exc))
            return
        if saved["status"] == "proposed":
            ui.flash("info", ui.t("label_proposed", n=saved["id"]))
        else:
            ui.flash("success", ui.t("label_saved", n=saved["id"]))
        st.rerun()


def _review(rt, op: dict, tz: str) -> None:
    """The proposals waiting for an admin (operators' labels and the LLM's generated examples), each with
    Approva / Rifiuta; an intent or escalate proposal's question, and an intent proposal's intent, can be
    edited before approving (admins only)."""
    st.markdown(f"**{ui.t('review_title')}**")
    pending = rt.learning.pending()
    if not pending:
        st.caption(ui.t("review_none"))
        return
    sources = sorted({p["source"] for p in pending})
    if len(sources) > 1:
        pick = st.selectbox(
            ui.t("review_source"),
            ["", *sources],
            format_func=lambda s: ui.t(f"source_{s or 'all'}"),
            key="lbl_review_source",
        )
        pending = [p for p in pending if not pick or p["source"] == pick]
    topics = sorted({p["intent"] for p in pending if p["intent"]})
    if len(topics) > 1:  # an LLM's questions come 12 an intent: reviewed an intent at a time
        topic = st.selectbox(
            ui.t("review_intent"),
            ["", *topics],
            format_func=lambda s: s or ui.t("intent_all"),
            key="lbl_review_intent",
        )
        pending = [p for p in pending if not topic or p["intent"] == topic]
    st.caption(ui.t("review_shown", k=min(len(pending), REVIEW_LIMIT), n=len(pending)))
    shown = pending[:REVIEW_LIMIT]
    # The ones the admin saw: those of the page's previous run (a proposal that arrived since is not approved unseen).
    seen = st.session_state.get("lbl_review_seen", [])
    st.session_state["lbl_review_seen"] = [p["id"] for p in shown]
    if len(shown) > 1 and st.button(
        ui.t("review_approve_shown", k=len(shown)),
        key="lbl_approve_shown",
        help=ui.t("review_approve_shown_help"),
    ):
        try:
            done = rt.learning.approve_many(seen, op)
        except DomainError as exc:
            st.warning(ui.err(exc))
            return
        text = ui.t("review_approved_many", n=len(done["approved"]))
        if done["skipped"]:
            text += " " + ui.t("review_skipped_many", n=len(done["skipped"]))
        ui.flash("success", text)
        st.rerun()
    intents = rt.learning.intents()
    for p in shown:
        with st.container(border=True, key=f"lbl_review_{p['id']}"):
            st.text(
                ui.t(
                    "review_by",
                    n=p["id"],
                    who=ui.t("source_llm") if p["source"] == "llm" else p["operator_name"],
                    when=_when(p["created_at"], tz),
                    kind=p["kind"],
                    intent=p["intent"],
                )
            )
            st.text(p["question"])
            question = intent = None
            if p["kind"] == "kb_entry":
                for lg in ("it", "en"):
                    st.text(f"{lg.upper()}: {p[f'question_{lg}']}\n→ {p[f'answer_{lg}']}")
            else:
                question = st.text_input(ui.t("review_edit_q"), value=p["question"], key=f"lbl_edit_q_{p['id']}")
            if p["kind"] == "intent":
                options = intents if p["intent"] in intents else [p["intent"], *intents]
                intent = st.selectbox(
                    ui.t("review_edit_intent"), options, index=options.index(p["intent"]), key=f"lbl_edit_i_{p['id']}"
                )
            c1, c2, _ = st.columns([1, 1, 4])
            verdict = None
            if c1.button(ui.t("review_approve"), key=f"lbl_approve_{p['id']}", type="primary"):
                verdict = True
            if c2.button(ui.t("review_reject"), key=f"lbl_reject_{p['id']}"):
                verdict = False
            if verdict is not None:
                try:
                    rt.learning.review(p["id"], op, approve=verdict, question=question, intent=intent)
                except DomainError as exc:
                    st.warning(ui.err(exc))
                    return
                ui.flash("success", ui.t("review_approved" if verdict else "review_rejected", n=p["id"]))
                st.rerun()


def learning_section(rt, op: dict, tz: str) -> None:
    """Review (admins), history (who, when, status, review, undo), counts per intent, answer rate
    before/after the first label."""
    st.subheader(ui.t("learning_title"))
    st.caption(ui.t("learning_help_review"))
    rate = rt.learning.answer_rate_since()

    def pct(side: dict) -> str:
        return "–" if side["rate"] is None else f"{side['rate'] * 100:.1f}% ({side['answered']}/{side['questions']})"

    m = st.columns(2)
    m[0].metric(ui.t("rate_before"), pct(rate["before"]), help=ui.t("rate_help"))
    m[1].metric(ui.t("rate_after"), pct(rate["after"]), help=ui.t("rate_help"))

    if op.get("is_admin"):
        _review(rt, op, tz)
    history = rt.learning.history()
    if not history:
        st.info(ui.t("label_none"))
        return
    st.markdown(f"**{ui.t('label_counts')}**")
    counts = pd.DataFrame(rt.learning.counts_by_intent(), columns=["intent", "count"])
    st.dataframe(
        counts.rename(columns={"intent": ui.t("col_intent"), "count": ui.t("count")}),
        hide_index=True,
        key="lbl_counts",
    )
    st.markdown(f"**{ui.t('label_history')}**")
    rows = [
        {
            "#": h["id"],
            ui.t("col_when"): _when(h["created_at"], tz),
            ui.t("col_who"): h["operator_name"],
            ui.t("col_kind"): h["kind"],
            ui.t("col_intent"): h["intent"],
            ui.t("question"): h["question"],
            ui.t("col_status"): ui.t(f"status_{h['status']}"),
            ui.t("col_reviewed"): f"{_when(h['reviewed_at'], tz)} · {h['reviewed_by']}" if h["reviewed_at"] else "",
            ui.t("col_undone"): f"{_when(h['undone_at'], tz)} · {h['undone_by']}" if h["undone_at"] else "",
        }
        for h in history
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="lbl_history")
    # Only what this operator may undo: their own labels, or any label for an admin.
    active = [
        h
        for h in history
        if h["undone_at"] is None and h["status"] != "rejected" and (op.get("is_admin") or h["operator_id"] == op["id"])
    ]
    if active:
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        pick = c1.selectbox(
            ui.t("label_undo_pick"),
            [h["id"] for h in active],
            format_func=lambda i: next(
                f"#{h['id']} · {h['kind']} {h['intent']} · {h['question'][:60]}" for h in active if h["id"] == i
            ),
            key="lbl_undo_pick",
        )
        if c2.button(ui.t("label_undo"), key="lbl_undo"):
            try:
                rt.learning.undo(pick, op)
            except DomainError as exc:
                st.warning(ui.err(exc))
                return
            ui.flash("success", ui.t("label_undone", n=pick))
            st.rerun()
