"""体验地图: journey stages × volume and sentiment for a 台区 or a saved segment; the peak–end curve;
the worst moments of truth; improvement suggestions per stage.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import charts, export, guidance, queries
from dashboards.context import show_table, not_available, page_context

ctx = page_context()
t = ctx.t
st.title(":material/map: " + t("客户体验地图"))
st.caption(t("按旅程阶段（报装、缴费、停电、抢修、咨询、投诉）看接触量与情绪；红色为最差时刻（峰），绿色为最近的终点（终）。"))

if not (ctx.store.has("contact_text") and ctx.store.has("contacts")):
    not_available(ctx, "工单文本分析（contact_text）")
    st.stop()

saved = export.load_segments(ctx.store.path)
seg_name = st.selectbox(t("人群"), [""] + sorted(saved), key="xp_segment",
                        format_func=lambda n: n or t("本台区范围的全部用户"))
tree = saved[seg_name]["tree"] if seg_name else None
published = ctx.q("experience_map_rows", ctx.only) if tree is None and ctx.store.has("experience_map") else None
try:
    computed = ctx.q("experience_stages", ctx.only, tree)
except Exception as err:  # a saved segment whose tags no longer exist
    st.error(t("该人群的条件已失效：") + str(err))
    st.stop()
stages = published if published is not None and len(published) else computed
if stages.empty:
    st.info(t("本范围没有接触记录。"))
    st.stop()
source = t("画像库发布的体验地图") if stages is published else t("由本范围的工单情绪计算")
st.caption(t("数据来源") + "：" + source)

stages = stages.copy()
stages["stage_label"] = [guidance.pick(guidance.STAGES[s]["name"], ctx.lang) if s in guidance.STAGES else s
                         for s in stages["stage"]]
order = list(queries.JOURNEY_STAGES)
st.plotly_chart(charts.stage_map(stages, t("旅程阶段：接触量与平均情绪"), t("旅程阶段"), t("接触次数"), t("平均情绪"),
                                 t("峰(最差)"), t("终"), order), key="xp_map")

c1, c2 = st.columns([3, 2])
with c1:
    curve = ctx.q("experience_curve", ctx.only, tree)
    if len(curve) > 1:
        curve = curve.assign(hover=[f"{n} {t('次接触')}" for n in curve["contacts"]])
        st.plotly_chart(charts.emotion_curve(curve, "month", "mean_sentiment", t("逐月情绪曲线（峰终定律）"), t("月份"),
                                             t("平均情绪"), t("峰值(最差)"), t("终点(最近)"), hover="hover"), key="xp_curve")
with c2:
    rank = "peak_end_score" if "peak_end_score" in stages.columns else "mean_sentiment"
    worst_first = stages.sort_values(rank)
    st.markdown("**" + t("改进建议（按体验由差到好）") + "**")
    for r in worst_first.itertuples():
        fix = guidance.pick(guidance.STAGES[r.stage]["fix"], ctx.lang) if r.stage in guidance.STAGES else ""
        score = getattr(r, rank)
        icon = ":red[●]" if score < -0.3 else (":orange[●]" if score < 0 else ":green[●]")
        extra = f"，{t('不满意')} {int(r.dissatisfied)}" if hasattr(r, "dissatisfied") and pd.notna(r.dissatisfied) else ""
        st.markdown(f"{icon} **{r.stage_label}**（{t('平均情绪')} {r.mean_sentiment:+.2f}，{t('负面占比')} "
                    f"{r.negative_share:.0%}{extra}）：{fix}")
        if getattr(r, "peak_evidence", None) and isinstance(r.peak_evidence, str):
            st.caption(f"　{t('最差时刻')} {str(r.peak_at)[:10]} · {r.peak_topic}（{r.peak_sentiment:+.2f}）：{r.peak_evidence}")

st.markdown("**" + t("各阶段明细") + "**")
show = [c for c in ("stage_label", "contacts", "customers", "events", "mean_sentiment", "negative_share", "complaints",
                    "dissatisfied", "overdue", "worst_sentiment", "peak_sentiment", "end_sentiment", "peak_end_score",
                    "moments") if c in worst_first.columns]
show_table(ctx, worst_first[show].rename(columns={"stage_label": "stage"}))

st.subheader(":material/warning: " + t("最差的关键时刻"))
worst = ctx.q("worst_moments", ctx.only, tree, 10)
if len(worst):
    worst = worst.copy()
    worst["stage"] = [guidance.pick(guidance.STAGES[s]["name"], ctx.lang) if s in guidance.STAGES else s
                      for s in worst["stage"]]
    show_table(ctx, worst)
    st.caption(t("只显示依据词，不显示工单原文；在用户画像卡里可以看到本台区客户的完整记录。"))
