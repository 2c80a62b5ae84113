"""Download buttons for exports: the file is built on click, from a fresh scoped query, and audited then."""
from __future__ import annotations

from typing import Any, Callable

import pandas as pd
import streamlit as st

from dashboards import export
from dashboards.context import PageContext
from dashboards.i18n import labelled


def export_buttons(ctx: PageContext, what: str, filter_desc: Any, rows: Callable[[], pd.DataFrame],
                   file_stem: str, key: str) -> None:
    """Render CSV and xlsx download buttons; `rows()` runs (with the viewer's scope) only when one is clicked."""
    store, viewer, lang, as_of = ctx.store, ctx.viewer, ctx.lang, ctx.as_of.isoformat()

    def build(fmt: str) -> Callable[[], bytes]:
        def data() -> bytes:
            df = labelled(rows(), lang)
            return export.export_file(store.path, viewer, df, what, filter_desc, fmt, as_of)
        return data

    c1, c2, _ = st.columns([1, 1, 4])
    with c1:
        st.download_button(ctx.t("导出 CSV"), build("csv"), file_name=f"{file_stem}_{as_of}.csv", mime="text/csv",
                           key=f"{key}_csv", icon=":material/download:", on_click="ignore")
    with c2:
        st.download_button(ctx.t("导出 Excel"), build("xlsx"), file_name=f"{file_stem}_{as_of}.xlsx",
                           mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                           key=f"{key}_xlsx", icon=":material/table_view:", on_click="ignore")
    st.caption(ctx.t("导出文件可安全用 Excel 打开；每次导出都会记录到审计日志（谁、何时、什么条件、多少行）。"))


def open_portrait(customer_id: str) -> None:
    """Switch to the portrait page for a customer (the page re-checks scope)."""
    st.session_state["portrait_customer"] = str(customer_id)
    st.switch_page("app_pages/portrait.py", query_params={"customer": str(customer_id)})
