"""台区总览: headline figures with month-over-month change, segment mixes, service-gap warnings, districts."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import charts, guidance
from dashboards.context import fit_height, show_table, not_available, page_context

ctx = page_context()
t = ctx.t

districts = ctx.q("districts")
scope_name = t("全部台区")
if ctx.only:
    hit = districts[districts["district_id"] == ctx.only[0]]
    scope_name = str(hit["district_name"].iloc[0]) if len(hit) else ctx.only[0]
elif ctx.viewer.role == "staff":
    scope_name = "、".join(districts["district_name"].astype(str)) or t("（未分配台区）")
st.title(f":material/home: {t('台区总览')} · {scope_name}")
st.caption(f"{t('数据日期')} {ctx.as_of} · {len(districts)} {t('个台区')}")

hist = ctx.q("overview_history", ctx.only)
if hist is None or hist.empty:
    st.info(t("画像库里没有特征表，无法计算总览。"))
    st.stop()
hist = hist[pd.to_datetime(hist["as_of"]).dt.date <= ctx.as_of]
now = hist.iloc[-1]
prev = hist.iloc[-2] if len(hist) > 1 else None


def _delta(col: str):
    if prev is None or col not in hist.columns or pd.isna(prev[col]) or pd.isna(now[col]):
        return None
    d = now[col] - prev[col]
    return int(d) if float(d).is_integer() else round(float(d), 2)


def _value(col: str) -> str:
    if col not in hist.columns or pd.isna(now[col]):
        return "—"
    v = now[col]
    return f"{int(v):,}" if float(v).is_integer() else f"{v:,.2f}"


cards = [("customers", "用户数", "normal", None),
         ("key_users", "重点用户", "off", "分群结果中的重点用户（高价值、敏感、弱势、风险、机会）"),
         ("sensitive", "敏感客户", "inverse", "投诉风险高的客户（情感特征标签）"),
         ("care_alerts", "关怀提醒", "inverse", "弱势客户用电突变等关怀提醒"),
         ("arrears_customers", "欠费户", "inverse", None),
         ("complaints_3m", "近3月投诉", "inverse", None)]
cols = st.columns(len(cards))
for col, (key, label, color, help_text) in zip(cols, cards):
    with col:
        st.metric(t(label), _value(key), _delta(key), delta_color=color, border=True,
                  help=t(help_text) if help_text else None)
if "arrears_amount" in hist.columns:
    st.caption(f"{t('欠费金额')}：{now['arrears_amount']:,.2f} {t('元')} · {t('弱势群体')}：{int(now['vulnerable']):,} "
               + (f"· {t('环比上期')}（{prev['as_of']:%Y-%m-%d}）" if prev is not None else f"· {t('只有一期数据，暂无环比')}"))

st.subheader(t("客户构成"))
if ctx.store.has("segments"):
    c1, c2, c3 = st.columns(3)
    for c, column, title, axis in ((c1, "disc_type", "沟通风格分布", "沟通风格"), (c2, "value_tier", "价值等级分布", "价值等级"),
                                   (c3, "load_shape", "负荷形态分布", "负荷形态")):
        with c:
            mix = ctx.q("segment_mix", column, ctx.only)
            if mix.empty:
                st.caption(t(title) + "：" + t("没有数据"))
                continue
            if ctx.lang == "en" and column == "disc_type":
                mix["value"] = [guidance.pick(guidance.DISC[guidance.DISC_BY_NAME[v]]["name"], "en")
                                if v in guidance.DISC_BY_NAME else t(v) for v in mix["value"]]
            if column == "disc_type":
                st.plotly_chart(charts.donut(mix, "value", "customers", t(title)), key=f"mix_{column}")
            elif column == "load_shape":
                st.plotly_chart(charts.bar(mix, "value", "customers", t(title), t(axis), t("用户数"), horizontal=True),
                                key=f"mix_{column}")
            else:
                st.plotly_chart(charts.bar(mix, "value", "customers", t(title), t(axis), t("用户数")),
                                key=f"mix_{column}")
else:
    not_available(ctx, "分群结果（沟通风格、价值等级、负荷形态）")

left, right = st.columns(2)
with left:
    gaps = ctx.q("service_gap_counts", ctx.only)
    if gaps.empty:
        not_available(ctx, "服务差距预警")
    else:
        gaps = gaps.copy()
        gaps["label"] = [guidance.pick(guidance.SERVICE_GAPS[g]["name"], ctx.lang) if g in guidance.SERVICE_GAPS
                         else g for g in gaps["gap"]]
        st.plotly_chart(charts.bar(gaps, "label", "customers", t("服务风险预警（五大服务差距）"), t("服务差距"),
                                   t("涉及用户数"), horizontal=True), key="gaps")
        if not ctx.store.has("service_gaps"):
            st.caption(t("由近12月工单特征计算：重复来电、超时、多次转派、态度投诉或未通知停电、回访不满意。"))
with right:
    if len(hist) > 1:
        ys = {c: t(label) for c, label in (("arrears_customers", "欠费户"), ("complaints_3m", "近3月投诉"),
                                           ("key_users", "重点用户"), ("sensitive", "敏感客户"),
                                           ("care_alerts", "关怀提醒")) if c in hist.columns}
        st.plotly_chart(charts.trend(hist, "as_of", ys, t("逐月变化"), t("数据日期"), t("户数 / 次数")), key="trend")
    else:
        st.info(t("只有一期数据，暂无环比"))

warnings = ctx.q("district_gap_warnings", ctx.only)
if len(warnings):
    hot = warnings[warnings["warning"].isin(["预警", "关注"])] if "warning" in warnings.columns else warnings
    with st.expander(t("台区服务差距预警") + f"（{t('预警')} {int((warnings.get('warning') == '预警').sum())}，"
                     f"{t('关注')} {int((warnings.get('warning') == '关注').sum())}）", expanded=bool(ctx.only)):
        show_table(ctx, hot.drop(columns=["district_id"]),
                     height=fit_height(len(hot), 360))
with st.expander(t("五大服务差距的含义与改进建议"), expanded=False):
    st.dataframe(pd.DataFrame([{t("服务差距"): guidance.pick(v["name"], ctx.lang),
                                t("预警信号"): guidance.pick(v["signal"], ctx.lang),
                                t("改进建议"): guidance.pick(v["fix"], ctx.lang)} for v in guidance.SERVICE_GAPS.values()]),
                 hide_index=True)

if ctx.store.has("care_alerts"):
    alerts = ctx.q("care_alerts", ctx.only, 200)
    st.subheader(":material/elderly: " + t("关怀提醒") + f"（{len(alerts)}）")
    if len(alerts):
        show_table(ctx, alerts.head(50), height=fit_height(min(len(alerts), 50), 320))
        st.caption(t("弱势客户（如独居老人）用电突然停止或骤变时提醒，请尽快电话联系或上门探望。"))
    else:
        st.caption(t("本范围没有关怀提醒。"))

st.subheader(t("台区对比"))
table = ctx.q("district_table", ctx.only)
if table.empty:
    st.caption(t("没有数据"))
else:
    show_table(ctx, table.drop(columns=["district_id"]),
                 height=fit_height(len(table), 420))

if ctx.store.has("power_access"):
    access = ctx.q("published_rows", "power_access", ctx.only, 2000)
    st.subheader(":material/electrical_services: " + t("获得电力（报装到送电时长）"))
    if len(access):
        access = access.copy()
        if "district_id" in access.columns:
            names = dict(zip(districts["district_id"], districts["district_name"]))
            access.insert(1, "district_name", access["district_id"].map(names))
            access = access.drop(columns=["district_id"])
        if {"app_type", "days_median", "target_days", "completed_12m"} <= set(access.columns):
            done = access[access["completed_12m"].fillna(0) > 0]
            if len(done):
                agg = done.assign(w=done["days_median"] * done["completed_12m"]).groupby("app_type", as_index=False).agg(
                    w=("w", "sum"), n=("completed_12m", "sum"), target=("target_days", "max"))
                agg["days"] = (agg["w"] / agg["n"]).round(1)
                fig = charts.bar(agg, "app_type", "days", t("各类业务报装到送电天数（中位，按完成量加权）"), t("业务类型"),
                                 t("天数"))
                fig.add_scatter(x=agg["app_type"], y=agg["target"].astype(float), mode="markers+text",
                                name=t("目标时限"), text=[f"{t('目标')} {float(v):g}" for v in agg["target"]],
                                textposition="middle right",
                                marker={"symbol": "diamond", "size": 14, "color": "#d62728"})
                fig.update_layout(showlegend=True)
                st.plotly_chart(fig, key="power_access")
        show_table(ctx, access, height=fit_height(len(access), 300))
    else:
        st.caption(t("没有数据"))

if ctx.store.has("segment_profiles") and ctx.viewer.sees_all_districts:
    with st.expander(t("分群画像说明（全部用户）"), expanded=False):
        profiles = ctx.q("published_rows", "segment_profiles", (), 500)
        show_table(ctx, profiles)
