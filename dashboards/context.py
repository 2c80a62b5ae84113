"""What every page needs: the store (read-only, cached), the logged-in viewer, language, district scope,
and cached calls into the query layer keyed by viewer and snapshot.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboards import auth, queries
from dashboards.i18n import column_label, labelled, translate
from dashboards.queries import PortraitStore, Viewer

STORE_ENV = "PORTRAIT_STORE"
_CACHED = frozenset({
    "districts", "overview_history", "district_table", "segment_mix", "service_gap_counts", "key_users",
    "portrait_bundle", "search_customers", "explain_tag", "tag_distribution", "tag_coverage", "tag_history",
    "segment_count", "segment_by_district", "segment_members", "experience_stages", "experience_curve",
    "worst_moments", "published_rows", "district_gap_warnings", "care_alerts", "experience_map_rows", "customer_row", "runs", "run_manifest", "rejects", "reject_reasons", "customer_visible",
})
_UNSCOPED = frozenset({"tag_dictionary", "segment_fields", "field_values", "sensitive_tag"})


def store_root() -> Path:
    """Return the store folder: $PORTRAIT_STORE, else ./store."""
    return Path(os.environ.get(STORE_ENV) or "store").resolve()


@st.cache_resource(max_entries=8, show_spinner=False)
def _open(path: str, as_of: str, run_id: str) -> PortraitStore:
    return queries.open_store(Path(path), date.fromisoformat(as_of))


def open_current(as_of: date | None = None) -> PortraitStore:
    """Return the cached read-only store for `as_of` (latest by default); reopened when a new run is published."""
    root = store_root()
    pointer = queries.store_pointer(root)
    snaps = pointer.get("snapshots") or {}
    if not snaps:
        raise FileNotFoundError(f"store {root} has no published snapshot; run `portrait demo` first")
    key = as_of.isoformat() if as_of and as_of.isoformat() in snaps else max(snaps)
    return _open(str(root), key, snaps[key]["run_id"])


@st.cache_data(ttl=900, max_entries=4000, show_spinner=False)
def _cached(name: str, store_key: tuple[str, str, str], viewer: Viewer | None, args: tuple,
            kwargs: tuple[tuple[str, Any], ...]) -> Any:
    store = _open(*store_key)
    fn = getattr(queries, name)
    if viewer is None:
        return fn(store, *args, **dict(kwargs))
    return fn(store, viewer, *args, **dict(kwargs))


def query(store: PortraitStore, viewer: Viewer, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call queries.<name>(store, viewer, …) through the cache (the viewer is part of the cache key)."""
    if name not in _CACHED:
        raise ValueError(f"{name} is not a cached query")
    return _cached(name, store.key, viewer, args, tuple(sorted(kwargs.items())))


def users_file() -> Path:
    """Return the users file for this store."""
    return auth.users_path(store_root())


def users() -> dict[str, auth.User]:
    """Return the users file's users (re-read when the file changes)."""
    path = users_file()
    mtime = path.stat().st_mtime_ns if path.exists() else 0
    return _users_at(str(path), mtime)


@st.cache_data(max_entries=4, show_spinner=False)
def _users_at(path: str, mtime: int) -> dict[str, auth.User]:
    return auth.load_users(Path(path))


def current_user() -> auth.User | None:
    """Return the logged-in user, re-read from the users file; None when the session holds no valid log-in."""
    name = st.session_state.get("auth_user")
    token = st.session_state.get("auth_token")
    if not name or not token or not auth.token_valid(name, token):
        return None
    user = users().get(name)
    if user is None or user.disabled:
        return None
    return user


def log_in(user: auth.User) -> None:
    """Mark the session as logged in as `user`."""
    st.session_state["auth_user"] = user.username
    st.session_state["auth_token"] = auth.session_token(user.username)


def log_out() -> None:
    """Forget the session's log-in and choices."""
    for k in list(st.session_state.keys()):
        if k != "ui_lang":
            del st.session_state[k]


def lang() -> str:
    """Return the UI language: 'zh' (default) or 'en'."""
    return "en" if st.session_state.get("ui_lang") == "en" else "zh"


def language_switch(where: str) -> None:
    """Render the 中文 / English switch; the choice lives outside widget state so it survives log-in."""
    from dashboards.i18n import LANGS

    current = lang()
    choice = st.radio(t("语言"), list(LANGS), index=list(LANGS).index(current), format_func=LANGS.get,
                      horizontal=True, key=f"lang_{where}")
    if choice != current:
        st.session_state["ui_lang"] = choice
        st.rerun()


def t(text: str) -> str:
    """Return a UI string in the session's language."""
    return translate(text, lang())


@dataclass(frozen=True)
class PageContext:
    """The store, viewer, language and district scope of one page run."""

    store: PortraitStore
    user: auth.User
    viewer: Viewer
    lang: str
    only: tuple[str, ...]

    def q(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call queries.<name>(store, viewer, …) through the cache; the viewer is part of the key."""
        if name in _UNSCOPED:
            return _cached(name, self.store.key, None, args, tuple(sorted(kwargs.items())))
        return query(self.store, self.viewer, name, *args, **kwargs)

    def t(self, text: str) -> str:
        """Return a UI string in this page's language."""
        return translate(text, self.lang)

    @property
    def as_of(self) -> date:
        """Return the snapshot's as-of date."""
        return self.store.as_of


def page_context() -> PageContext:
    """Return the page context, or stop the page when nobody is logged in (a forged session gets nothing)."""
    user = current_user()
    if user is None:
        st.warning(t("请先登录。"))
        st.stop()
    as_of = st.session_state.get("as_of")
    try:
        store = open_current(date.fromisoformat(as_of) if isinstance(as_of, str) else None)
    except FileNotFoundError as err:
        st.error(str(err))
        st.stop()
    picked = st.session_state.get("scope_district")
    only = (str(picked),) if picked else ()
    return PageContext(store, user, user.viewer(), lang(), only)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|~:$])")


def md(value: Any) -> str:
    """Return a value as Markdown-safe text (a masked phone 138****1234 must not turn bold)."""
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    return _MD_SPECIAL.sub(r"\\\1", str(value))


PERCENT_COLUMNS = frozenset({"share", "coverage", "negative_share", "within_target_share", "true_rate"})


def show_table(ctx: PageContext, df: pd.DataFrame, height: int | str = "auto", key: str | None = None,
               select: bool = False) -> Any:
    """Show a table with display labels and percentages; with `select`, one row can be picked (returns the event)."""
    cfg = {column_label(c, ctx.lang): st.column_config.NumberColumn(format="percent")
           for c in df.columns if c in PERCENT_COLUMNS}
    if select:
        return st.dataframe(labelled(df, ctx.lang), hide_index=True, column_config=cfg, height=height, key=key,
                            on_select="rerun", selection_mode="single-row")
    return st.dataframe(labelled(df, ctx.lang), hide_index=True, column_config=cfg, height=height, key=key)


def fit_height(rows: int, cap: int = 420) -> int:
    """Return a table height that shows `rows` rows without scrolling, up to `cap` pixels."""
    return min(35 * (rows + 1) + 3, cap)


def not_available(ctx: PageContext, what: str) -> None:
    """Render the friendly notice for a table the store does not publish yet."""
    st.info(ctx.t("暂未提供：") + ctx.t(what) + ctx.t("（该数据表尚未发布到画像库，下次运行后会自动出现）"))


def frame_or_notice(ctx: PageContext, df: pd.DataFrame | None, empty_text: str = "没有数据") -> bool:
    """Return True when `df` has rows; otherwise show a short notice and return False."""
    if df is None or len(df) == 0:
        st.caption(ctx.t(empty_text))
        return False
    return True
