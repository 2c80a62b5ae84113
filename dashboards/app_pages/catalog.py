"""标签目录: every tag's definition and rule; its coverage per 台区, its distribution and its history across as-of dates."""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from dashboards import charts
from dashboards.context import fit_height, show_table, not_available, page_context
from dashboards.downloads import export_buttons

ctx = page_context()
t = ctx.t
st.title(":material/sell: " + t("标签目录"))
CATEGORIES = ["基础信息", "用电行为", "客户价值", "行为偏好", "触点记录", "费用记录", "业务特征", "情感特征"]

d = ctx.q("tag_dictionary")
if d.empty:
    not_available(ctx, "标签字典（tag_dictionary）")
    st.stop()
if "category" not in d.columns:
    d["category"] = ""
if "position" in d.columns:
    d = d.sort_values("position", ignore_index=True)

counts = d.groupby("category", as_index=False).size().rename(columns={"size": "tags"})
counts["order"] = [CATEGORIES.index(c) if c in CATEGORIES else 99 for c in counts["category"]]
counts = counts.sort_values("order")
top1, top2 = st.columns([1, 2])
with top1:
    st.metric(t("标签总数"), len(d), border=True)
    st.metric(t("标签类别"), int((counts["tags"] > 0).sum()), border=True)
with top2:
    st.plotly_chart(charts.bar(counts, "category", "tags", t("各类别标签数"), t("类别"), t("标签数"), height=260),
                    key="cat_counts")

f1, f2 = st.columns([1, 2])
with f1:
    cats = st.multiselect(t("类别"), [c for c in CATEGORIES if c in set(d["category"])], key="cat_filter",
                          placeholder=t("全部类别"))
with f2:
    text = st.text_input(t("搜索标签"), key="cat_search", placeholder=t("名称、编号或说明中的文字"))
view = d
if cats:
    view = view[view["category"].isin(cats)]
if text:
    hay = view.astype(str).agg(" ".join, axis=1)
    view = view[hay.str.contains(text, case=False, regex=False)]
show = [c for c in ("tag_id", "name_zh", "name_en", "category", "value_type", "description", "version", "owner")
        if c in view.columns]
event = show_table(ctx, view[show].rename(columns={"category": "tag_category"}), key="cat_table", select=True,
                   height=360)
ids = list(view["tag_id"])
picked = ids[event.selection.rows[0]] if event and event.selection.rows else None
tag_id = st.selectbox(t("查看标签"), ids, index=ids.index(picked) if picked in ids else (0 if ids else None),
                      format_func=lambda i: f"{i} · {d.set_index('tag_id').at[i, 'name_zh'] if 'name_zh' in d.columns else ''}",
                      key=f"cat_pick_{picked}")
if not tag_id:
    st.stop()

meta = d[d["tag_id"] == tag_id].iloc[0].to_dict()
with st.container(border=True):
    st.markdown(f"### {meta.get('name_zh', tag_id)} · {meta.get('name_en', '')} `{tag_id}`")
    st.markdown(f"{t('类别')}：**{meta.get('category')}** · {t('取值类型')}：**{meta.get('value_type')}** · "
                f"{t('版本')} {meta.get('version', '—')} · {t('负责人')} {meta.get('owner', '—')}")
    st.markdown(str(meta.get("description") or ""))
    if meta.get("rule") is not None:
        st.code(str(meta["rule"]), language="sql")
    extra = {k: (list(v) if hasattr(v, "__len__") and not isinstance(v, str) else v) for k, v in meta.items()
             if k not in ("tag_id", "name_zh", "name_en", "category", "value_type", "description", "rule", "version",
                          "owner") and v is not None and not (isinstance(v, float) and pd.isna(v))}
    if extra:
        st.json(json.loads(json.dumps(extra, ensure_ascii=False, default=str)), expanded=False)

c1, c2 = st.columns(2)
with c1:
    dist = ctx.q("tag_distribution", tag_id, ctx.only)
    if len(dist):
        dist = dist.copy()
        dist["value"] = dist["value"].astype(object).where(dist["value"].notna(), t("缺数据")).astype(str)
        st.plotly_chart(charts.bar(dist, "value", "customers", t("取值分布（本范围）"), t("取值"), t("用户数")), key="cat_dist")
    else:
        st.caption(t("该标签没有取值数据。"))
with c2:
    hist = ctx.q("tag_history", tag_id, ctx.only)
    if len(hist) > 1:
        st.plotly_chart(charts.trend(hist, "as_of", {"measure": t("命中比例 / 均值"), }, t("历史变化（各数据日期）"),
                                     t("数据日期"), t("比例 / 均值")), key="cat_hist")
    elif len(hist):
        st.metric(t("命中比例 / 均值"), f"{hist['measure'].iloc[-1]}")
        st.caption(t("只有一期数据，暂无环比"))

st.markdown("**" + t("覆盖率（按台区）") + "**")
cov = ctx.q("tag_coverage", tag_id, ctx.only)
if len(cov):
    if "coverage" in cov.columns and "district_name" in cov.columns:
        st.plotly_chart(charts.bar(cov.assign(pct=cov["coverage"] * 100), "district_name", "pct", t("覆盖率（%）"),
                                   t("台区"), "%", text=False, height=280), key="cat_cov")
    show_table(ctx, cov, height=fit_height(len(cov), 360))
    st.caption(t("“缺数据”表示该用户缺少计算此标签所需的数据，不等于标签为“否”。"))

if ctx.viewer.role in ("analyst", "admin"):
    st.divider()
    st.markdown("**" + t("目录管理（数据分析员）") + "**")
    st.caption(t("标签在 tags/*.yaml 中声明；修改后运行 `portrait run` 即可发布。下载完整目录用于评审："))
    export_buttons(ctx, "tag_dictionary", {"tags": len(d)}, lambda: d.copy(), "标签目录", "cat_export")
