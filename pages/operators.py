"""Operatori (administrators only): add operators, disable them, set how many
chats each can hold at once."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sportello.domain import DomainError, OperatorStatus
from sportello.faces.dashboard import ui as ui

op = ui.require_operator(admin=True)
rt = ui.runtime()
settings = rt.settings

st.title(ui.t("operators_title"))
ui.show_flash()

people = rt.operators.list_operators()
now = rt.chat.clock()


def presence(o: dict) -> str:
    """Who is really there: "Online" only with a console that beats (domain/capacity.py); an operator
    whose console closed without "Esci" is shown as gone, whatever the stored status says."""
    if rt.operators.is_present(o, now):
        return ui.t("online")
    if o["status"] == OperatorStatus.ONLINE and o["active"]:
        return ui.t("console_gone")
    return ui.t(o["status"])


st.dataframe(
    pd.DataFrame(
        [
            {
                ui.t("username"): o["username"],
                ui.t("display_name"): o["display_name"],
                ui.t("is_admin"): o["is_admin"],
                ui.t("active"): o["active"],
                ui.t("presence_now"): presence(o),
                ui.t("live_chats"): f"{o['active_chats']} / {o['max_chats']}",
            }
            for o in people
        ]
    ),
    hide_index=True,
    key="op_table",
)

left, right = st.columns(2, gap="large")
with left:
    st.subheader(ui.t("add_operator"))
    with st.form("op_add", clear_on_submit=True):
        username = st.text_input(ui.t("username"), key="op_add_username")
        name = st.text_input(ui.t("display_name"), key="op_add_name")
        password = st.text_input(ui.t("password"), type="password", key="op_add_password")
        max_chats = st.number_input(
            ui.t("max_chats"), min_value=1, max_value=20, value=settings.default_max_chats, key="op_add_max"
        )
        is_admin = st.checkbox(ui.t("is_admin"), key="op_add_admin")
        if st.form_submit_button(ui.t("create"), type="primary"):
            try:
                new = rt.operators.admin_add(
                    op["id"], username, name, password, is_admin=is_admin, max_chats=int(max_chats)
                )
            except DomainError as exc:
                st.error(ui.err(exc))
            else:
                ui.flash("success", ui.t("created_op", u=new["username"]))
                st.rerun()

with right:
    st.subheader(ui.t("edit_operator"))
    by_id = {o["id"]: o for o in people}
    picked = st.selectbox(
        ui.t("operator"),
        list(by_id),
        format_func=lambda i: f"{by_id[i]['display_name']} ({by_id[i]['username']})",
        key="op_pick",
    )
    target = by_id[picked]
    with st.form(f"op_edit_{picked}"):
        active = st.checkbox(ui.t("active"), value=target["active"], key=f"op_edit_active_{picked}")
        admin = st.checkbox(ui.t("is_admin"), value=target["is_admin"], key=f"op_edit_admin_{picked}")
        max_edit = st.number_input(
            ui.t("max_chats"), min_value=1, max_value=20, value=target["max_chats"], key=f"op_edit_max_{picked}"
        )
        new_password = st.text_input(ui.t("new_password"), type="password", key=f"op_edit_password_{picked}")
        if st.form_submit_button(ui.t("save"), type="primary"):
            try:
                rt.operators.admin_update(
                    op["id"],
                    picked,
                    active=active,
                    is_admin=admin,
                    max_chats=int(max_edit),
                    password=new_password or None,
                )
            except DomainError as exc:
                st.error(ui.err(exc))
            else:
                ui.flash("success", ui.t("saved"))
                st.rerun()
