"""The log-in page: user name and password from the users file, or the organisation's OIDC (st.login)."""
from __future__ import annotations

import streamlit as st

from dashboards import auth, context
from dashboards.context import t


def oidc_configured() -> bool:
    """Return whether st.login is set up ([auth] in secrets.toml and Authlib installed)."""
    try:
        if "auth" not in st.secrets:
            return False
    except Exception:  # no secrets.toml at all
        return False
    try:
        import authlib  # noqa: F401
    except ImportError:
        return False
    return True


def adopt_oidc_login() -> None:
    """Log the session in as the users-file account whose email the identity provider vouched for."""
    if context.current_user() is not None or not oidc_configured():
        return
    try:
        if not st.user.is_logged_in:
            return
        email = str(st.user.get("email") or "")
        if st.user.get("email_verified") is False:
            return
    except Exception:
        return
    user = auth.user_for_email(context.users(), email)
    if user is not None:
        context.log_in(user)
    else:
        st.session_state["oidc_unknown"] = True


def login_page() -> None:
    """Render the log-in form."""
    _, mid, _ = st.columns([1, 2, 1])
    with mid:
        _login_form()


def _login_form() -> None:
    st.title(":material/bolt: " + t("用户画像"))
    st.caption(t("网格化客户服务 · 用户画像"))
    context.language_switch("login")
    if not context.users_file().exists():
        st.warning(t("还没有用户文件：") + f" {context.users_file()} — " + t("用 `portrait users add` 添加用户。"))
    if st.session_state.pop("oidc_unknown", False):
        st.error(t("该账号没有画像系统权限，请联系管理员。"))
    with st.form("login"):
        username = st.text_input(t("用户名"), key="login_username")
        password = st.text_input(t("密码"), type="password", key="login_password")
        submitted = st.form_submit_button(t("登录"), type="primary")
    if submitted:
        name = (username or "").strip()
        if auth.THROTTLE.locked(name):
            st.error(t("尝试次数过多，请稍后再试。"))
            return
        user = auth.verify_password(context.users(), name, password or "")
        if user is None:
            auth.THROTTLE.failed(name)
            st.error(t("用户名或密码不正确。"))
            return
        auth.THROTTLE.succeeded(name)
        context.log_in(user)
        st.session_state.pop("login_password", None)
        st.rerun()
    if oidc_configured():
        st.divider()
        if st.button(t("使用单位账号登录（SSO）")):
            st.login()
    st.caption(t("个人信息默认脱敏；台区经理只能查看本台区客户。导出会记录审计日志。"))
