"""The operator dashboard (Streamlit): `streamlit run dashboard.py`.

`python app.py` starts it on DASHBOARD_PORT (8501). It works on the same
store as the app (DATA_DIR / DATABASE_URL) and calls `sportello/` services directly.
Nothing but the sign-in page is reachable without signing in; every page
also checks the operator itself (`ui.require_operator`).

The page files are named differently from their URL paths on purpose: with a
`pages/` folder, Streamlit may run a page whose URL matches a file name
directly, without this script (its "pages directory" mode, used by AppTest
and by a fresh server before the first `st.navigation` call). Distinct names
send every request through this router.
"""

from __future__ import annotations

import streamlit as st

from sportello.faces.dashboard import chrome
from sportello.faces.dashboard import ui as ui

st.set_page_config(page_title="Sportello", page_icon=":material/support_agent:", layout="wide")
ui.theme()
ui.language_toggle()
with st.sidebar:
    chrome.translate(ui.lang())  # Streamlit's own strings and <html lang> in the operator's language
operator = ui.current_operator()

if operator is None:
    page = st.navigation(
        [
            st.Page(
                "pages/sign_in.py", title=ui.t("page_login"), icon=":material/login:", url_path="login", default=True
            )
        ],
        position="hidden",
    )
else:
    pages = [
        st.Page("pages/live_chat.py", title=ui.t("page_live"), icon=":material/forum:", url_path="live", default=True),
        st.Page(
            "pages/tickets.py", title=ui.t("page_tickets"), icon=":material/confirmation_number:", url_path="ticket"
        ),
        st.Page("pages/conversations.py", title=ui.t("page_log"), icon=":material/history:", url_path="conversazioni"),
        st.Page("pages/analytics.py", title=ui.t("page_analytics"), icon=":material/bar_chart:", url_path="analisi"),
    ]
    if operator["is_admin"]:
        pages.append(
            st.Page("pages/operators.py", title=ui.t("page_operators"), icon=":material/group:", url_path="operatori")
        )
    page = st.navigation(pages)
    ui.sidebar(operator)

page.run()
