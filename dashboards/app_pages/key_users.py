"""重点用户: the ranked key users of the viewer's districts with reasons, DISC type and action; filters; export."""
from __future__ import annotations

import re

import streamlit as st

from dashboards import queries
from dashboards.context import show_table, not_available, page_context
from dashboards.downloads import export_buttons, open_portrait

ctx = page_context()
t = ctx.t
st.title(":material/star: " + t("重点用户"))
st.caption(t("按重点用户得分排名：高价值、敏感、弱势、风险和机会用户。走访或致电前先看原因和沟通建议。"))

if not ctx.store.has("segments"):
    not_available(ctx, "重点用户（分群结果 segments）")
    st.stop()

base = ctx.q("key_users", ctx.only, limit=5000)
reasons = sorted({r for v in base.get("key_user_reasons", []) if isinstance(v, str)
                  for r in re.split(r"[；;,，、|]\s*", v.strip("[]")) if r.strip(" '\"")})
reasons = [r.strip(" '\"") for r in reasons]
disc_values = sorted({str(v) for v in base.get("disc_type", []) if isinstance(v, str)})

with st.container(border=True):
    c1, c2, c3, c4 = st.columns([2, 2, 2, 1])
    with c1:
        disc = st.multiselect(t("沟通风格"), disc_values, key="ku_disc", format_func=t, placeholder=t("全部"))
    with c2:
        reason = st.selectbox(t("入选原因"), [""] + reasons, key="ku_reason",
                              format_func=lambda r: r if r else t("全部原因"))
    with c3:
        top = float(base["key_user_score"].max()) if "key_user_score" in base.columns and len(base) else 0.0
        scale = 100.0 if top > 1 else 1.0  # the segments stage scores 0–100
        min_score = (st.slider(t("最低得分"), 0.0, scale, 0.0, scale / 20, key="ku_min")
                     if "key_user_score" in base.columns else None)
    with c4:
        vulnerable = st.checkbox(t("只看弱势群体"), key="ku_vuln")

filters = {"disc": tuple(disc), "reason": reason or None, "min_score": min_score or None, "vulnerable_only": vulnerable}
rows = ctx.q("key_users", ctx.only, disc=tuple(disc), reason=reason or None, min_score=min_score or None,
             vulnerable_only=vulnerable, limit=2000)

st.markdown(f"**{len(rows):,}** {t('位重点用户')}" + (f"（{t('显示前 2000 位')}）" if len(rows) >= 2000 else ""))
show = [c for c in ("key_user_rank", "customer_id", "name", "phone", "district_name", "key_user_score",
                    "key_user_reasons", "disc_type", "value_tier", "suggested_action", "vulnerable", "address")
        if c in rows.columns]
event = show_table(ctx, rows[show], key="ku_table", select=True, height=460)
picked = event.selection.rows if event and hasattr(event, "selection") else []
if picked:
    cid = str(rows.iloc[picked[0]]["customer_id"])
    if st.button(t("打开画像") + f"：{cid}", type="primary", key="ku_open"):
        open_portrait(cid)
else:
    st.caption(t("点选一行可打开该用户的画像。"))

store, viewer, only = ctx.store, ctx.viewer, ctx.only


def _rows():
    df = queries.key_users(store, viewer, only, disc=tuple(disc), reason=reason or None,
                           min_score=min_score or None, vulnerable_only=vulnerable, limit=100_000)
    return df[[c for c in show if c in df.columns]]


export_buttons(ctx, "key_users", {"districts": list(ctx.only) or "all", **filters}, _rows, "重点用户", "ku_export")
