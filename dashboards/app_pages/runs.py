"""运行与数据质量: every run with its status; per table read / accepted / rejected; top reject reasons; manifest."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import charts
from dashboards.context import fit_height, show_table, page_context

ctx = page_context()
t = ctx.t
if not ctx.viewer.can_see_runs:  # the navigation hides this page; the query layer refuses it too
    st.error(t("只有数据分析员和系统管理员可以查看运行记录。"))
    st.stop()
st.title(":material/fact_check: " + t("运行与数据质量"))

runs = ctx.q("runs")
if runs.empty:
    st.info(t("还没有运行记录。"))
    st.stop()
failed = int((runs["status"] != "published").sum())
m1, m2, m3 = st.columns(3)
m1.metric(t("运行次数"), len(runs), border=True)
m2.metric(t("失败"), failed, border=True)
m3.metric(t("当前数据日期"), str(ctx.as_of), border=True)
st.caption(t("当前运行") + f"：`{ctx.store.run_id}`")
show_table(ctx, runs, height=fit_height(len(runs), 300))

ids = list(runs["run_id"])
run_id = st.selectbox(t("查看运行"), ids, index=ids.index(ctx.store.run_id) if ctx.store.run_id in ids else 0,
                      key="run_pick")
m = ctx.q("run_manifest", run_id)
if not m:
    st.stop()
st.markdown(f"**{run_id}** · {t('状态')}：**{m.get('status')}** · {t('数据日期')} {m.get('as_of')} · "
            f"{t('耗时(秒)')} {m.get('total_seconds')} · {t('代码版本')} {m.get('code_version')}"
            + (f" · {t('增量，基于快照')} {m['incremental'].get('base_as_of')}" if m.get("incremental") else ""))
if m.get("error"):
    st.error(m["error"])

counts = pd.DataFrame([{"table": k, "read": v.get("read"), "accepted": v.get("accepted"), "rejected": v.get("rejected"),
                        "balanced": v.get("read") == (v.get("accepted") or 0) + (v.get("rejected") or 0),
                        "reasons": "，".join(f"{r} {n}" for r, n in (v.get("reasons") or {}).items())}
                       for k, v in (m.get("counts") or {}).items()])
c1, c2 = st.columns([3, 2])
with c1:
    if len(counts):
        long = counts.melt(id_vars="table", value_vars=["accepted", "rejected"], var_name="kind", value_name="rows")
        long["kind"] = long["kind"].map({"accepted": t("接收"), "rejected": t("拒收")})
        st.plotly_chart(charts.bar(long[long["rows"] > 0], "table", "rows", t("各表接收 / 拒收行数"), t("表"), t("行数"),
                                   color="kind", text=False), key="run_counts")
        show_table(ctx, counts.rename(columns={"reasons": "reason"}))
with c2:
    timings = pd.DataFrame([{"stage": k, "seconds": v} for k, v in (m.get("timings") or {}).items()])
    if len(timings):
        st.plotly_chart(charts.bar(timings, "stage", "seconds", t("各阶段耗时"), t("阶段"), t("秒")), key="run_timings")
for w in m.get("warnings") or []:
    st.warning(w)

st.subheader(t("拒收原因（当前快照）"))
reasons = ctx.q("reject_reasons")
if len(reasons):
    st.plotly_chart(charts.bar(reasons.assign(label=reasons["table_name"] + " · " + reasons["reason"]), "label", "rows",
                               t("拒收原因排行"), t("表 · 原因"), t("行数"), horizontal=True), key="run_reasons")
    rej = ctx.q("rejects", 1000)
    show_table(ctx, rej, height=300)
    st.caption(t("原始值中的手机号、证件号和电话已隐去。"))
else:
    st.success(t("当前快照没有拒收行。"))

with st.expander(t("输入文件"), expanded=False):
    inputs = pd.DataFrame([{("bytes" if k == "size" else k): i.get(k)
                            for k in ("label", "table", "format", "encoding", "size", "sha256")}
                           for i in m.get("inputs") or []])
    show_table(ctx, inputs)
with st.expander(t("完整清单（manifest.json）"), expanded=False):
    st.json(m, expanded=False)
