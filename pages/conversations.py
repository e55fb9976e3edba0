"""Conversazioni: the log exactly as it is written to the sheet, filterable
by session, day and intent, with a CSV export and the sheet sync state."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import streamlit as st

from sportello.faces.dashboard import ui as ui
from sportello.faces.dashboard.texts import LABELS, LOG_HEADERS
from sportello.services.conversation_log import CONVERSATION_HEADER, EXCEL_DELIMITER, LOG_COLUMNS, csv_bytes
from sportello.services.reports import local_day
from sportello.services.tickets import local_stamp

op = ui.require_operator()
rt = ui.runtime()
log = rt.conversation_log
tz = rt.settings.timezone

st.title(ui.t("log_title"))
st.text(ui.t("log_intro"))

status = log.sync_status()
sink = status.get("sink", "?")
n = status["backlog"]
if status["state"] == "ok":
    st.success(ui.t("sync_ok", sink=ui.plain(sink)), icon=":material/check_circle:")
elif status["state"] == "syncing":
    st.info(ui.t("sync_syncing", n=n, sink=ui.plain(sink)), icon=":material/sync:")
elif status["state"] == "error":
    st.error(ui.t("sync_error", n=n, error=ui.plain(status.get("last_error") or "?")), icon=":material/error:")
else:
    st.warning(ui.t("sync_unknown", n=n), icon=":material/help:")
m1, m2 = st.columns(2)
m1.metric(ui.t("backlog"), n)
m2.metric(ui.t("last_sent"), ui.clock(status.get("last_sent_at"), tz) or "–")

today = local_day(rt.chat.clock(), tz)
f1, f2, f3 = st.columns([2, 2, 3])
session = f1.text_input(ui.t("session_filter"), key="log_session")
days = f2.date_input(ui.t("days"), value=(today - timedelta(days=6), today), key="log_days", format="DD/MM/YYYY")
intents = f3.multiselect(
    ui.t("intents"),
    log.intents(),
    format_func=ui.intent_label,  # "no_answer" reads "l'AI non sa rispondere"
    key="log_intents",
    placeholder=ui.t("choose_many"),
    select_all=False,
)

if isinstance(days, date):
    start = end = days
elif len(days) == 2:
    start, end = days
elif len(days) == 1:
    start = end = days[0]
else:
    start = end = None
rows = log.rows(session=session, start=start, end=end, intents=intents, tz=tz)

h1, h2, h3 = st.columns([3, 1, 1], vertical_alignment="center")
h1.text(ui.t("n_rows", n=len(rows)))
h2.download_button(
    ui.t("export_csv"),
    data=csv_bytes(CONVERSATION_HEADER, rows),
    file_name="conversazioni.csv",
    mime="text/csv",
    key="log_export",
    on_click="ignore",
)
h3.download_button(  # Excel (Italia): ';', a BOM, the venue's times
    ui.t("export_excel"),
    data=csv_bytes(
        CONVERSATION_HEADER,
        [{**r, "timestamp": local_stamp(r["timestamp"], tz)} for r in rows],
        delimiter=EXCEL_DELIMITER,
    ),
    file_name="conversazioni-excel.csv",
    mime="text/csv",
    key="log_export_excel",
    on_click="ignore",
    help=ui.t("export_excel_help"),
)
# The sheet keeps ISO-8601 UTC (and so does the export); on screen every time is the venue's, as elsewhere.
st.caption(ui.t("times_in", tz=tz))
table = pd.DataFrame(rows, columns=LOG_COLUMNS)
table.insert(0, ui.t("col_time", tz=tz), [ui.local_time(v, tz, "%d/%m %H:%M:%S") for v in table["timestamp"]])
table = table.drop(columns=["timestamp"])
# On screen the headers, the intents and the sync state in the operator's language; the sheet's own values stay
# in the data (hidden columns) and in the exports.
table.insert(
    table.columns.get_loc("intent_detected"), "intent_shown", [ui.intent_label(v) for v in table["intent_detected"]]
)
table["sync_shown"] = [ui.t(f"sync_{v}") if f"sync_{v}" in LABELS else v for v in table["sync"]]
headers = {name: st.column_config.Column(ui.log_header(name)) for name in LOG_HEADERS}
headers.update(
    intent_detected=None,
    sync=None,
    intent_shown=st.column_config.Column(ui.log_header("intent_detected")),
    sync_shown=st.column_config.Column(ui.log_header("sync")),
)
st.dataframe(table, hide_index=True, height=560, key="log_table", column_config=headers)
