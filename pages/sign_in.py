"""Sign in with the operator's username and password (same accounts as the API)."""

from __future__ import annotations

import streamlit as st

from sportello.domain import DomainError
from sportello.faces.dashboard import ui as ui

ui.forget_cookie()  # after "Esci": the sign-in cookie is cleared (and its token revoked)
st.title(ui.t("app_title"))
st.text(ui.t("login_intro"))
with st.form("login"):
    username = st.text_input(ui.t("username"), key="login_username")
    password = st.text_input(ui.t("password"), type="password", key="login_password")
    submitted = st.form_submit_button(ui.t("login_button"), type="primary")
if submitted:
    try:
        ui.sign_in(username, password)
    except DomainError as exc:
        st.error(ui.err(exc))
    else:
        st.rerun()
st.caption(ui.t("login_help"))
