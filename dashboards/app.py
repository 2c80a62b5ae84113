"""grid-portrait dashboard (用户画像): log-in gate, language, as-of date and district scope, then the pages.

Run with `portrait serve --store STORE` (or `PORTRAIT_STORE=STORE streamlit run dashboards/app.py`).
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

st.set_page_config(page_title="用户画像 · grid-portrait", page_icon=":material/bolt:", layout="wide")

from dashboards import context, login  # noqa: E402 - set_page_config must come first
from dashboards.context import t  # noqa: E402

# Not `pages/`: Streamlit would treat a folder of that name as legacy auto-pages and could run a page
# without this script (and its log-in gate) before st.navigation has run in the process.
PAGES = Path(__file__).resolve().parent / "app_pages"
PAGE_PATHS = ("overview", "key-users", "portrait", "segments", "experience", "catalog", "runs", "users")
ROLE_NAMES = {"staff": "台区经理", "manager": "管理人员", "analyst": "数据分析员", "admin": "系统管理员"}

login.adopt_oidc_login()
user = context.current_user()
if user is None:
    # Every page's address shows the log-in form, so a deep link (…/portrait?customer=…) survives logging in.
    st.navigation([st.Page(login.login_page, title=t("登录"), icon=":material/login:", url_path=path, default=path == "overview")
                   for path in PAGE_PATHS], position="hidden").run()
    st.stop()

try:
    as_ofs = [d.isoformat() for d in context.queries.available_as_ofs(context.store_root())]
except FileNotFoundError as err:
    st.error(t("找不到画像库") + f": {err}")
    st.stop()
if not as_ofs:
    st.error(t("找不到画像库") + f": {context.store_root()}")
    st.stop()
if st.session_state.get("as_of") not in as_ofs:
    st.session_state["as_of"] = as_ofs[0]

store = context.open_current()
viewer = user.viewer()
scope = context.query(store, viewer, "districts")
allowed = [str(d) for d in scope["district_id"]] if len(scope) else []
names = {str(r.district_id): f"{r.district_name}（{r.station}）" for r in scope.itertuples()} if len(scope) else {}
# A district chosen in the URL or session state is honoured only when the viewer may see it.
wanted = st.query_params.get("district")
if wanted and wanted in allowed and "scope_district" not in st.session_state:
    st.session_state["scope_district"] = wanted
if st.session_state.get("scope_district", "") not in [""] + allowed:
    st.session_state["scope_district"] = ""

with st.sidebar:
    st.markdown(f"### :material/bolt: {t('用户画像')}")
    who = user.display_name or user.username
    st.markdown(f"**{who}** · {t(ROLE_NAMES.get(user.role, user.role))}")
    if user.role == "staff":
        st.caption(t("负责台区") + "：" + "、".join(names.get(d, d) for d in user.districts))
        st.caption(":material/lock_open: " + t("可查看本台区客户的个人信息"))
    else:
        st.caption(":material/lock: " + t("个人信息已脱敏"))
    context.language_switch("sidebar")
    st.selectbox(t("数据日期"), as_ofs, key="as_of")
    st.selectbox(t("台区范围"), [""] + allowed, key="scope_district",
                 format_func=lambda d: names.get(d, d) if d else t("全部台区"))
    if st.button(t("退出登录"), key="logout"):
        context.log_out()
        if login.oidc_configured():
            st.logout()
        st.rerun()

pages = {
    t("服务"): [
        st.Page(PAGES / "overview.py", title=t("台区总览"), icon=":material/home:", url_path="overview", default=True),
        st.Page(PAGES / "key_users.py", title=t("重点用户"), icon=":material/star:", url_path="key-users"),
        st.Page(PAGES / "portrait.py", title=t("用户画像卡"), icon=":material/badge:", url_path="portrait"),
    ],
    t("分析"): [
        st.Page(PAGES / "segments.py", title=t("人群圈选"), icon=":material/filter_alt:", url_path="segments"),
        st.Page(PAGES / "experience.py", title=t("体验地图"), icon=":material/map:", url_path="experience"),
        st.Page(PAGES / "catalog.py", title=t("标签目录"), icon=":material/sell:", url_path="catalog"),
    ],
}
admin_pages = []
if viewer.can_see_runs:
    admin_pages.append(st.Page(PAGES / "runs.py", title=t("运行与数据质量"), icon=":material/fact_check:", url_path="runs"))
if viewer.role == "admin":
    admin_pages.append(st.Page(PAGES / "users.py", title=t("用户管理"), icon=":material/group:", url_path="users"))
if admin_pages:
    pages[t("管理")] = admin_pages

st.navigation(pages).run()
