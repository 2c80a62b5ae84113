"""用户管理 (admins): the users file's accounts (never their hashes), add or disable a user, the export audit log."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import auth, context, export
from dashboards.context import show_table, page_context

ctx = page_context()
t = ctx.t
if ctx.viewer.role != "admin":
    st.error(t("只有系统管理员可以管理用户。"))
    st.stop()
st.title(":material/group: " + t("用户管理"))
path = context.users_file()
st.caption(f"{t('用户文件')}：{path}")

users = context.users()
table = pd.DataFrame([{"username": u.username, "role": u.role, "districts": "、".join(u.districts),
                       "display_name": u.display_name, "email": u.email, "disabled": u.disabled}
                      for u in users.values()])
show_table(ctx, table)

districts = ctx.q("districts")
c1, c2 = st.columns(2)
with c1, st.form("add_user", clear_on_submit=True):
    st.markdown("**" + t("添加或重置用户") + "**")
    name = st.text_input(t("用户名"))
    role = st.selectbox(t("角色"), list(auth.ROLES))
    picked = st.multiselect(t("负责台区"), list(districts["district_id"]),
                            format_func=lambda d: f"{d} · {districts.set_index('district_id').at[d, 'district_name']}")
    display = st.text_input(t("显示名"))
    email = st.text_input(t("邮箱（单点登录用，可不填）"))
    password = st.text_input(t("初始密码（至少8位）"), type="password")
    if st.form_submit_button(t("保存用户"), type="primary"):
        try:
            auth.add_user(path, name.strip(), role, password, tuple(picked), display.strip(), email.strip())
            st.success(t("已保存：") + name)
        except auth.UserError as err:
            st.error(str(err))
with c2:
    st.markdown("**" + t("停用 / 启用") + "**")
    who = st.selectbox(t("用户"), sorted(users), key="users_toggle")
    if who and st.button(t("切换状态"), key="users_toggle_btn"):
        if who == ctx.viewer.username:
            st.error(t("不能停用自己。"))
        else:
            auth.set_disabled(path, who, not users[who].disabled)
            st.rerun()

st.subheader(t("导出审计日志"))
show_table(ctx, export.read_audit(ctx.store.path), height=320)
