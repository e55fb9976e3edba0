"""Analisi: conversations per day by outcome, the deflection rate, queue wait
and live-chat duration distributions, the tickets' service levels by channel, top intents and the questions the AI
could not answer (most frequent first), each of which an operator can label for the AI, and the
learning loop's history. Numbers come from sportello.services.reports and sportello.services.learning."""

from __future__ import annotations

from datetime import date, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from sportello.faces.dashboard import ui as ui
from sportello.faces.dashboard.learning import label_widget, learning_section
from sportello.services.conversation_log import csv_bytes
from sportello.services.reports import OUTCOMES, local_day

op = ui.require_operator()
rt = ui.runtime()
tz = rt.settings.timezone

st.title(ui.t("analytics_title"))
ui.show_flash()
today = local_day(rt.chat.clock(), tz)
days = st.date_input(ui.t("period"), value=(today - timedelta(days=29), today), key="an_days", format="DD/MM/YYYY")
if isinstance(days, date):
    start = end = days
elif len(days) == 2:
    start, end = days
else:
    start = end = days[0] if days else today

r = rt.reports.report(start, end, tz)


def pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.1f}%"


m = st.columns(5)
m[0].metric(ui.t("conversations"), r.conversations)
m[1].metric(ui.t("deflection"), pct(r.deflection_rate), help=ui.t("deflection_help"))
m[2].metric(ui.t("to_person"), f"{r.outcomes['operator']} ({pct(r.share('operator'))})")
m[3].metric(ui.t("to_ticket"), f"{r.outcomes['ticket']} ({pct(r.share('ticket'))})")
m[4].metric(
    ui.t("no_outcome"), f"{r.outcomes['no_outcome']} ({pct(r.share('no_outcome'))})", help=ui.t("no_outcome_help")
)


def ratings_section() -> None:
    """The visitors' 1-5 ratings since the period's first day, AI-resolved vs operator-resolved
    (sportello.services.feedback)."""
    span = max(1, (today - start).days + 1)
    summary = rt.feedback.summary(span)
    st.subheader(ui.t("ratings_title"))
    st.caption(ui.t("ratings_help", d=span))
    c1, c2 = st.columns(2)
    for col, who in ((c1, "ai"), (c2, "operator")):
        block = summary.get(who) or {"count": 0, "average": None}
        value = (
            ui.t("ratings_value", avg=f"{block['average']:.1f}", n=block["count"])
            if block["average"] is not None
            else ui.t("ratings_none")
        )
        col.metric(ui.t(f"ratings_{who}"), value)
    dist = pd.DataFrame(
        [
            {ui.t("score"): int(k), ui.t("outcome"): ui.t(f"out_{who}"), ui.t("count"): n}
            for who in ("ai", "operator")
            for k, n in (summary.get(who) or {}).get("distribution", {}).items()
        ]
    )
    if not dist.empty and dist[ui.t("count")].sum():
        st.altair_chart(
            alt.Chart(dist)
            .mark_bar()
            .encode(
                x=alt.X(f"{ui.t('score')}:O", title=ui.t("score")),
                y=alt.Y(f"{ui.t('count')}:Q", title=ui.t("count")),
                xOffset=f"{ui.t('outcome')}:N",
                color=alt.Color(
                    f"{ui.t('outcome')}:N",
                    scale=alt.Scale(
                        domain=[ui.t("out_ai"), ui.t("out_operator")], range=["#4c9a2a", ui.primary_color()]
                    ),
                ),
            )
            .properties(height=200),
            key="an_ratings",
        )


ratings_section()

outcome_label = {name: ui.t(f"out_{name}") for name in OUTCOMES}
colors = alt.Scale(domain=[outcome_label[o] for o in OUTCOMES], range=["#4c9a2a", "#1f77b4", "#ff7f0e", "#9e9e9e"])

st.subheader(ui.t("per_day"))
if not r.conversations:
    st.info(ui.t("nothing_in_period"))
long = pd.DataFrame(
    [{"day": d["day"], ui.t("outcome"): outcome_label[o], ui.t("count"): d[o]} for d in r.per_day for o in OUTCOMES]
)
st.altair_chart(
    alt.Chart(long)
    .mark_bar()
    .encode(
        x=alt.X("day:T", title=None, axis=alt.Axis(format="%d/%m")),
        y=alt.Y(f"{ui.t('count')}:Q", title=ui.t("conversations")),
        color=alt.Color(f"{ui.t('outcome')}:N", scale=colors, sort=[outcome_label[o] for o in OUTCOMES]),
        tooltip=["day:T", f"{ui.t('outcome')}:N", f"{ui.t('count')}:Q"],
    )
    .properties(height=260),
    key="an_per_day",
)


def histogram(title: str, dist: dict, key: str) -> None:
    st.subheader(title)
    c1, c2, c3 = st.columns(3)
    c1.metric(ui.t("count"), dist["count"])
    c2.metric(ui.t("p50"), ui.duration(dist["p50"]))
    c3.metric(ui.t("p90"), ui.duration(dist["p90"]))
    data = pd.DataFrame(dist["buckets"])
    st.altair_chart(
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("bucket:N", sort=None, title=None),
            x=alt.X("count:Q", title=ui.t("count")),
            tooltip=["bucket:N", "count:Q"],
        )
        .properties(height=240),
        key=key,
    )


left, right = st.columns(2, gap="large")
with left:
    histogram(ui.t("queue_wait"), r.queue_wait, "an_wait")
with right:
    histogram(ui.t("handle_time"), r.handle_time, "an_handle")


def service_levels_section() -> None:
    """Time to first response and to resolution of the tickets (median, p90) by channel,
    and the tickets over TICKET_FIRST_RESPONSE_LIMIT_H / TICKET_RESOLUTION_LIMIT_H."""
    s = rt.settings
    sla = rt.reports.service_levels(
        start,
        end,
        tz,
        first_limit_h=s.ticket_first_response_limit_h,
        resolution_limit_h=s.ticket_resolution_limit_h,
    )
    st.subheader(ui.t("sla_title"))
    st.caption(ui.t("sla_help", f=f"{s.ticket_first_response_limit_h:g}", r=f"{s.ticket_resolution_limit_h:g}"))
    rows = [
        {
            ui.t("sla_channel"): ui.contact_label(c["channel"]),
            ui.t("count"): c["first_response"]["count"],
            f"{ui.t('sla_first')} · {ui.t('p50')}": ui.duration(c["first_response"]["p50"]),
            f"{ui.t('sla_first')} · {ui.t('p90')}": ui.duration(c["first_response"]["p90"]),
            f"{ui.t('sla_resolution')} · {ui.t('p50')}": ui.duration(c["resolution"]["p50"]),
            f"{ui.t('sla_resolution')} · {ui.t('p90')}": ui.duration(c["resolution"]["p90"]),
        }
        for c in sla["by_channel"]
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="an_sla")
    if sla["over_limit"]:
        st.markdown(f"**{ui.t('sla_over')}** ({len(sla['over_limit'])})")
        over = [
            {
                "#": t["id"],
                ui.t("sla_channel"): ui.contact_label(t["channel"]),
                ui.t("status"): ui.t(f"st_{t['status']}"),
                ui.t("sla_first"): ui.duration(t["first_response_s"]),
                ui.t("sla_resolution"): ui.duration(t["resolution_s"]),
                ui.t("sla_over_what"): ", ".join(
                    ui.t(f"sla_{'first' if o == 'first_response' else o}") for o in t["over"]
                ),
            }
            for t in sla["over_limit"]
        ]
        st.dataframe(pd.DataFrame(over), hide_index=True, key="an_sla_over")


st.subheader(ui.t("top_intents"))
if r.top_intents:
    st.altair_chart(
        alt.Chart(pd.DataFrame([{**x, "intent": ui.intent_label(x["intent"])} for x in r.top_intents]))
        .mark_bar()
        .encode(
            x=alt.X("count:Q", title=ui.t("count")),
            y=alt.Y("intent:N", sort="-x", title=None),
            tooltip=["intent:N", "count:Q"],
        )
        .properties(height=max(160, 34 * len(r.top_intents))),
        key="an_intents",
    )

st.subheader(ui.t("unanswered"))
st.caption(ui.t("unanswered_help"))
columns = {
    "count": ui.t("times"),
    "question": ui.t("question"),
    "languages": ui.t("languages"),
    "last_asked": ui.t("last_asked"),
}
unanswered = pd.DataFrame(r.unanswered, columns=list(columns)).rename(columns=columns)
st.dataframe(unanswered, hide_index=True, key="an_unanswered")
st.download_button(
    ui.t("export_csv"),
    data=csv_bytes(["count", "question", "languages", "last_asked"], r.unanswered),
    file_name="domande-senza-risposta.csv",
    mime="text/csv",
    key="an_export",
    on_click="ignore",
)
# The learning loop: label each unanswered question (an intent, a person, a new KB entry).
for i, g in enumerate(r.unanswered[:20]):
    languages = [x.strip() for x in g["languages"].split(",")]
    with st.expander(ui.t("label_this", q=ui.plain(g["question"][:80])), expanded=False):
        label_widget(rt, op, g["question"], languages[0] if languages else "it", key=f"an_{i}")

learning_section(rt, op, tz)
service_levels_section()  # last, after the learning loop
