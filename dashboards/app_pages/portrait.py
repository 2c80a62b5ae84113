"""用户画像卡: one customer on one screen — tags with explanations, usage and bills, contact timeline with its
emotion curve, communication style and advice, complaint motives, warnings, recommended actions, print version.
"""
from __future__ import annotations

import html
import json

import pandas as pd
import streamlit as st

from dashboards import charts, export, guidance
from dashboards.context import fit_height, show_table, md, page_context

ctx = page_context()
t = ctx.t
CATEGORIES = ["基础信息", "用电行为", "客户价值", "行为偏好", "触点记录", "费用记录", "业务特征", "情感特征"]
CATEGORY_EN = {"基础信息": "Basic", "用电行为": "Usage", "客户价值": "Value", "行为偏好": "Preferences",
               "触点记录": "Touchpoints", "费用记录": "Bills", "业务特征": "Applications", "情感特征": "Sentiment"}
FLAGS = [("elderly_alone", "独居老人"), ("low_income", "低保户"), ("disabled", "残疾人"), ("hearing_impaired", "聋哑人"),
         ("foreign_language", "外籍人士"), ("prepaid", "费控用户"), ("ebill", "电子账单")]
MOTIVE_KEYS = list(guidance.MOTIVES)
SENTIMENT = {"negative": "负面", "neutral": "中性", "positive": "正面"}

# --- which customer -----------------------------------------------------------------------------------
st.title(":material/badge: " + t("用户画像卡"))
wanted = st.query_params.get("customer") or st.session_state.get("portrait_customer") or ""
c1, c2 = st.columns([2, 3])
with c1:
    text = st.text_input(t("户号或户名"), key="pc_search", placeholder=t("输入户号（或本台区客户姓名）"))
with c2:
    options: dict[str, str] = {}
    if text:
        for r in ctx.q("search_customers", text, ctx.only).itertuples():
            options[str(r.customer_id)] = f"{r.customer_id} · {r.name} · {r.district_name}"
    elif ctx.store.has("segments"):
        for r in ctx.q("key_users", ctx.only, limit=50).itertuples():
            options[str(r.customer_id)] = f"{r.customer_id} · {r.name} · {r.district_name}"
    if wanted and wanted not in options:
        options = {wanted: wanted, **options}
    keys = list(options)
    choice = st.selectbox(t("选择用户（默认列出本范围的重点用户）"), keys, index=keys.index(wanted) if wanted in keys else None,
                          format_func=lambda k: options.get(k, k), key=f"pc_pick_{text}", placeholder=t("请选择"))
cid = choice or wanted
if not cid:
    st.info(t("输入户号，或从重点用户列表中选择一位用户。"))
    st.stop()
if st.query_params.get("customer") != cid:
    st.query_params["customer"] = cid
st.session_state["portrait_customer"] = cid

bundle = ctx.q("portrait_bundle", str(cid))
if not bundle:
    st.warning(t("找不到该用户，或该用户不在您负责的台区范围内。"))
    st.stop()

h = bundle["header"].iloc[0].to_dict()
f = bundle["features"].iloc[0].to_dict() if len(bundle["features"]) else {}
seg = bundle["segments"].iloc[0].to_dict() if len(bundle["segments"]) else {}
tags = bundle["tags"]
contacts = bundle["contacts"]


def _n(v, digits: int = 0) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "—"
    try:
        return f"{float(v):,.{digits}f}"
    except (TypeError, ValueError):
        return str(v)


def _has(v) -> bool:
    try:
        return bool(v) and not pd.isna(v)
    except (TypeError, ValueError):
        return bool(v)


# --- header -------------------------------------------------------------------------------------------
def _count(key: str) -> str:
    """Counts are NULL when a customer had no such event; show 0 once the customer has a features row."""
    return _n(f.get(key)) if _has(f.get(key)) or not f else "0"


with st.container(border=True):
    a, b = st.columns([3, 2])
    with a:
        badges = " ".join(f":orange-badge[{t(label)}]" for key, label in FLAGS[:5] if _has(h.get(key)))
        st.markdown(f"### {md(h.get('name'))} · `{h['customer_id']}` {badges}")
        st.markdown(f"{t('用电类别')}：**{md(h.get('category'))}** · {t('台区')}：**{md(h.get('district_name'))}** · "
                    f"{t('供电所')}：{md(h.get('station'))} · {t('电价')}：{md(h.get('tariff_type'))}"
                    + (f" · :blue-badge[{t('费控用户')}]" if _has(h.get("prepaid")) else "")
                    + (f" · :green-badge[{t('电子账单')}]" if _has(h.get("ebill")) else ""))
        st.markdown(f":material/call: {md(h.get('phone'))} · :material/home: {md(h.get('address'))} · "
                    f":material/id_card: {md(h.get('id_number'))}")
        st.caption((":material/lock_open: " + t("本台区客户：显示完整个人信息")) if h.get("pii_visible")
                   else (":material/lock: " + t("个人信息已脱敏（仅本台区的台区经理可见）")))
    with b:
        m1, m2, m3 = st.columns(3)
        m1.metric(t("近12月电量(kWh)"), _n(f.get("kwh_12m")))
        m2.metric(t("近12月电费(元)"), _n(f.get("bill_amount_12m")))
        m3.metric(t("当前欠费(元)"), _n(f.get("arrears_now"), 2) if _has(f.get("arrears_now")) or not f else "0.00")
        m4, m5, m6 = st.columns(3)
        m4.metric(t("近12月接触"), _count("contacts_12m"))
        m5.metric(t("近12月投诉"), _count("complaints_12m"))
        m6.metric(t("平均情绪"), _n(f.get("mean_sentiment_12m"), 2))

# --- style, motives, actions -----------------------------------------------------------------------------
left, middle, right = st.columns(3)
with left, st.container(border=True):
    st.markdown("#### " + t("沟通风格（DISC）"))
    code = seg.get("disc_code")
    dtype = seg.get("disc_type")
    key = code if code in guidance.DISC else guidance.DISC_BY_NAME.get(str(dtype))
    if key:
        d = guidance.DISC[key]
        conf = seg.get("disc_confidence")
        st.markdown(f"**{guidance.pick(d['name'], ctx.lang)}（{key}）** · {guidance.pick(d['trait'], ctx.lang)}"
                    + (f" · {t('置信度')} {float(conf):.0%}" if _has(conf) else ""))
        scores = {k: float(seg[f"disc_score_{k.lower()}"]) for k in "DISC"
                  if _has(seg.get(f"disc_score_{k.lower()}")) or seg.get(f"disc_score_{k.lower()}") == 0}
        if scores:
            st.plotly_chart(charts.disc_scores(scores, t("四型得分"),
                                               {k: guidance.pick(guidance.DISC[k]["name"], ctx.lang) for k in scores},
                                               t("得分")), key="disc_scores")
        if _has(seg.get("disc_evidence")):
            st.caption(t("依据") + "：" + str(seg["disc_evidence"]))
        do = seg.get("disc_advice_do") if ctx.lang == "zh" and _has(seg.get("disc_advice_do")) else guidance.pick(d["do"], ctx.lang)
        avoid = seg.get("disc_advice_avoid") if ctx.lang == "zh" and _has(seg.get("disc_advice_avoid")) else guidance.pick(d["avoid"], ctx.lang)
        own_opening = seg.get("disc_opening") if _has(seg.get("disc_opening")) else seg.get("disc_advice_opening")
        opening = own_opening if ctx.lang == "zh" and _has(own_opening) else guidance.pick(d["opening"], ctx.lang)
        st.success(f":material/check_circle: {t('建议')}：{do}")
        st.error(f":material/block: {t('避免')}：{avoid}")
        st.info(f":material/chat: {t('开场白')}：{opening}")
    elif seg:
        st.markdown(f"**{t('数据不足')}**")
        st.caption(t("该用户接触记录太少，无法判断沟通风格；按常规礼貌、清楚地沟通即可。"))
        if ctx.lang == "zh" and _has(seg.get("disc_advice_do")):
            st.success(f":material/check_circle: {t('建议')}：{md(seg['disc_advice_do'])}")
        if ctx.lang == "zh" and _has(seg.get("disc_advice_avoid")):
            st.error(f":material/block: {t('避免')}：{md(seg['disc_advice_avoid'])}")
    else:
        st.caption(t("暂未提供：") + t("分群结果"))

with middle, st.container(border=True):
    st.markdown("#### " + t("投诉诉求心理"))
    counts = {m: int(f.get(f"n_motive_{m}_12m") or 0) for m in MOTIVE_KEYS}
    if not any(counts.values()) and len(contacts):
        counts = {m: int(contacts.get(f"motive_{m}", pd.Series(dtype=float)).fillna(0).sum()) for m in MOTIVE_KEYS}
    present = [m for m in MOTIVE_KEYS if counts.get(m)]
    if present:
        mdf = pd.DataFrame({"motive": [guidance.pick(guidance.MOTIVES[m]["name"], ctx.lang) for m in MOTIVE_KEYS],
                            "n": [counts[m] for m in MOTIVE_KEYS]})
        st.plotly_chart(charts.bar(mdf, "motive", "n", t("近12月诉求心理（次）"), t("诉求"), t("次数"), height=220),
                        key="motives")
        for m in sorted(present, key=lambda m: -counts[m]):
            st.markdown(f"- **{guidance.pick(guidance.MOTIVES[m]['name'], ctx.lang)}**：{guidance.pick(guidance.MOTIVES[m]['handle'], ctx.lang)}")
        st.caption(guidance.pick(guidance.MOTIVE_SEQUENCE, ctx.lang))
    else:
        st.caption(t("近12月没有投诉诉求记录。"))
    st.markdown("#### " + t("关怀与服务预警"))
    warned = False
    for r in bundle["care_alerts"].to_dict("records"):
        warned = True
        head = " · ".join(md(r[k]) for k in ("severity", "alert_type") if _has(r.get(k)))
        if _has(r.get("ongoing")) and _has(r.get("days")):
            head += f"（{t('仍在持续')} {int(r['days'])} {t('天')}）"
        st.error(f":material/elderly: **{head}**：{md(r.get('evidence') or r.get('vulnerable_reason'))}"
                 + (f"  \n{t('建议')}：{md(r['suggested_action'])}" if _has(r.get("suggested_action")) else ""))
    if len(bundle["service_gaps"]):
        for r in bundle["service_gaps"].to_dict("records"):
            warned = True
            gap = r.get("gap")
            name = guidance.pick(guidance.SERVICE_GAPS[gap]["name"], ctx.lang) if gap in guidance.SERVICE_GAPS else md(gap)
            fix = guidance.pick(guidance.SERVICE_GAPS[gap]["fix"], ctx.lang) if gap in guidance.SERVICE_GAPS else ""
            st.warning(f":material/warning: **{name}**：{md(r.get('evidence'))}" + (f"  \n{t('建议')}：{fix}" if fix else ""))
    else:
        gap_facts = [("需求认知", f.get("repeated_contacts_12m"), "重复来电"), ("服务能力", f.get("overdue_orders_12m"), "超时工单"),
                     ("服务传递", f.get("multi_transfer_orders_12m"), "多次转派工单"),
                     ("服务沟通", (f.get("attitude_contacts_12m") or 0) + (f.get("unnotified_outages_12m") or 0),
                      "态度投诉/未通知停电"), ("客户体验", f.get("dissatisfied_12m"), "回访不满意")]
        for gap, n, label in gap_facts:
            if _has(n) and float(n) > 0:
                warned = True
                st.warning(f":material/warning: {guidance.pick(guidance.SERVICE_GAPS[gap]['name'], ctx.lang)}：{t(label)} {int(n)} {t('次')}"
                           f" — {guidance.pick(guidance.SERVICE_GAPS[gap]['fix'], ctx.lang)}")
    if not warned:
        st.caption(t("没有关怀提醒或服务预警。"))

actions = guidance.recommended_actions(f, h)
with right, st.container(border=True):
    st.markdown("#### " + t("建议动作"))
    if _has(seg.get("suggested_action")):
        st.markdown(f":material/star: **{md(seg['suggested_action'])}**")
        if _has(seg.get("key_user_reasons")):
            st.caption(md(seg["key_user_reasons"]))
    for a in actions:
        st.markdown(f"- **{guidance.pick(guidance.ACTIONS[a]['name'], ctx.lang)}** · "
                    f"{guidance.pick(guidance.ACTIONS[a]['why'], ctx.lang)}")
    if not actions and not _has(seg.get("suggested_action")):
        st.caption(t("暂无建议动作。"))
    if _has(seg.get("key_user_rank")):
        st.metric(t("重点用户排名"), f"#{int(seg['key_user_rank'])}",
                  help=t("重点用户得分") + f" {float(seg.get('key_user_score') or 0):.2f}")

# --- tags by category ------------------------------------------------------------------------------------
st.subheader(":material/sell: " + t("画像标签"))
if tags.empty:
    st.info(t("暂未提供：") + t("标签（tags_wide）") + t("（该数据表尚未发布到画像库，下次运行后会自动出现）"))
else:
    tags = tags.copy()
    if "category" not in tags.columns:
        tags["category"] = "基础信息"
    name_col = "name_en" if ctx.lang == "en" and "name_en" in tags.columns else "name_zh"
    if name_col not in tags.columns:
        tags[name_col] = tags["tag_id"]
    tabs = st.tabs([f"{CATEGORY_EN[c] if ctx.lang == 'en' else c}（{int((tags['category'] == c).sum())}）" for c in CATEGORIES])
    for tab, cat in zip(tabs, CATEGORIES):
        with tab:
            part = tags[tags["category"] == cat]
            if part.empty:
                st.caption(t("该类别暂无标签。"))
                continue
            labels = {}
            rank = {}
            for r in part.itertuples():
                name = getattr(r, name_col) if isinstance(getattr(r, name_col), str) else r.tag_id
                if r.status == "missing" or r.value is None:
                    labels[r.tag_id], rank[r.tag_id] = f"○ {name}：{t('缺数据')}", 3
                elif r.value in ("是", True):
                    labels[r.tag_id], rank[r.tag_id] = f"● {name}", 0
                elif r.value in ("否", False):
                    labels[r.tag_id], rank[r.tag_id] = f"○ {name}：{t('否')}", 2
                else:
                    labels[r.tag_id], rank[r.tag_id] = f"● {name}：{r.value}", 1
            order = sorted(labels, key=lambda k: rank[k])
            picked = st.pills(t("点击标签查看原因"), order, format_func=labels.get, key=f"tags_{cat}")
            if picked:
                ex = ctx.q("explain_tag", str(cid), picked)
                with st.container(border=True):
                    st.markdown(f"**{md(labels[picked])}** — {md(ex.get('description') or '')}")
                    expl = ex.get("explanation") if isinstance(ex.get("explanation"), dict) else {}
                    if expl.get("sentence"):
                        st.markdown(":material/lightbulb: " + md(expl["sentence"]))
                    facts = expl.get("facts") or ex.get("facts") or {}
                    if facts:
                        st.markdown(t("依据的数据") + "：" + "；".join(f"`{k}` = {md(v)}" for k, v in facts.items()))
                    if expl.get("params"):
                        st.caption(t("阈值参数") + "：" + "；".join(f"{k} = {md(v)}" for k, v in expl["params"].items()))
                    if expl.get("window_days"):
                        st.caption(t("数据窗口") + f"：{t('截至')} {expl.get('as_of') or ctx.as_of}，"
                                   f"{t('近')} {expl['window_days']} {t('天')}")
                    rule = expl.get("rule") or ex.get("rule")
                    if rule:
                        st.code(str(rule), language="sql")
                    filled = expl.get("rule_with_values")
                    if filled and str(filled).strip() != str(rule).strip():
                        st.caption(t("代入本户数值") + "：")
                        st.code(str(filled), language="sql")
                    if ex.get("error"):
                        st.caption(md(ex["error"]))
                    st.caption(f"{t('数据日期')} {ctx.as_of}")

# --- usage and bills -------------------------------------------------------------------------------------
st.subheader(":material/bolt: " + t("用电与电费"))
u1, u2 = st.columns(2)
usage = bundle["usage"]
with u1:
    if len(usage):
        split = {"kwh_valley": t("谷"), "kwh_flat": t("平"), "kwh_peak": t("峰")}
        st.plotly_chart(charts.daily_usage(usage, t("日用电量"), t("日期"), t("电量(kWh)"), t("30日均值"),
                                           split if all(c in usage.columns for c in split) else None), key="usage")
    else:
        st.caption(t("没有用电数据"))
with u2:
    bills = bundle["bills"]
    if len(bills):
        st.plotly_chart(charts.bills_chart(bills, t("月度电费"), t("账期"), t("电费(元)"), t("电量(kWh)"), t("欠费(元)")),
                        key="bills")
    else:
        st.caption(t("没有账单数据"))
if len(usage):
    monthly = usage.assign(month=pd.to_datetime(usage["reading_date"]).dt.to_period("M").dt.to_timestamp())
    monthly = monthly.groupby("month", as_index=False)["kwh"].sum()
    with st.expander(t("月度用电量"), expanded=False):
        st.plotly_chart(charts.bar(monthly, "month", "kwh", t("月度用电量"), t("月份"), t("电量(kWh)"), text=False),
                        key="monthly")

# --- contacts --------------------------------------------------------------------------------------------
st.subheader(":material/call: " + t("接触时间线与情绪曲线"))
if len(contacts) and "sentiment_score" in contacts.columns:
    cc = contacts.copy()
    cc["hover"] = cc["business_type"].astype(str) + " · " + cc.get("topic", "").astype(str)
    st.plotly_chart(charts.emotion_curve(cc, "contacted_at", "sentiment_score", t("接触情绪曲线（峰终定律）"), t("时间"),
                                         t("情绪得分"), t("峰值(最差)"), t("终点(最近)"), hover="hover"), key="emotion")
    st.caption(t("峰终定律：客户记住的是体验中最差的时刻和最后一次接触。红色三角为最差时刻，绿色星为最近一次。"))
if len(contacts):
    show = [c for c in ("contacted_at", "channel", "business_type", "topic", "sentiment", "sentiment_score", "content",
                        "satisfaction", "evidence") if c in contacts.columns]
    shown = contacts.sort_values("contacted_at", ascending=False)[show].copy()
    if "sentiment" in shown.columns:
        shown["sentiment"] = shown["sentiment"].map(lambda s: t(SENTIMENT.get(s, s)) if isinstance(s, str) else s)
    show_table(ctx, shown,
                 height=fit_height(len(contacts), 320))
else:
    st.caption(t("近期没有接触记录。"))


# --- printable one page ----------------------------------------------------------------------------------
def _print_html() -> str:
    e = html.escape
    shown_tags = ""
    if not tags.empty:
        for cat in CATEGORIES:
            part = tags[(tags["category"] == cat) & (tags["status"] != "missing") & (tags["value"] != "否")]
            if len(part):
                items = "、".join(e(f"{r.name_zh}" + ("" if r.value == "是" else f"：{r.value}"))
                                 for r in part.itertuples() if isinstance(r.name_zh, str))
                shown_tags += f"<tr><th>{e(cat)}</th><td>{items}</td></tr>"
    disc_key = seg.get("disc_code") if seg.get("disc_code") in guidance.DISC else guidance.DISC_BY_NAME.get(str(seg.get("disc_type")))
    disc_html = "数据不足"
    if disc_key:
        d = guidance.DISC[disc_key]
        disc_html = (f"<b>{e(d['name'][0])}（{disc_key}）</b>：{e(d['trait'][0])}<br>建议：{e(d['do'][0])}；"
                     f"避免：{e(d['avoid'][0])}<br>开场白：{e(d['opening'][0])}")
    motives = "、".join(guidance.MOTIVES[m]["name"][0] + f"（{counts[m]}次：{guidance.MOTIVES[m]['handle'][0]}）"
                       for m in MOTIVE_KEYS if counts.get(m)) or "无"
    acts = "".join(f"<li><b>{e(guidance.ACTIONS[a]['name'][0])}</b>：{e(guidance.ACTIONS[a]['why'][0])}</li>" for a in actions)
    recent = "".join(f"<tr><td>{e(str(r.contacted_at)[:16])}</td><td>{e(str(r.business_type))}</td>"
                     f"<td>{e(str(getattr(r, 'topic', '')))}</td><td>{e(str(getattr(r, 'sentiment', '')))}</td></tr>"
                     for r in contacts.sort_values("contacted_at", ascending=False).head(5).itertuples()) if len(contacts) else ""
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>用户画像 {e(str(cid))}</title>
<style>@page{{size:A4;margin:14mm}}body{{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;font-size:12px;color:#222}}
h1{{font-size:18px;margin:0 0 4px}}h2{{font-size:14px;border-bottom:2px solid #1f6fb2;margin:12px 0 4px}}
table{{border-collapse:collapse;width:100%}}th,td{{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}}
th{{background:#eef4fa;width:14%}}.muted{{color:#777}}</style></head><body onload="window.print()">
<h1>用户画像 1.0 · {e(str(h.get('name') or ''))}（户号 {e(str(cid))}）</h1>
<div class="muted">数据日期 {ctx.as_of} · 台区 {e(str(h.get('district_name')))} · 供电所 {e(str(h.get('station')))} ·
制表 {e(ctx.viewer.username)}</div>
<h2>基本信息</h2><table><tr><th>用电类别</th><td>{e(str(h.get('category')))}</td><th>联系电话</th><td>{e(str(h.get('phone')))}</td></tr>
<tr><th>用电地址</th><td colspan="3">{e(str(h.get('address')))}</td></tr>
<tr><th>近12月电量</th><td>{_n(f.get('kwh_12m'))} kWh</td><th>近12月电费</th><td>{_n(f.get('bill_amount_12m'))} 元</td></tr>
<tr><th>当前欠费</th><td>{_n(f.get('arrears_now'), 2)} 元</td><th>近12月接触/投诉</th><td>{_n(f.get('contacts_12m'))} / {_n(f.get('complaints_12m'))}</td></tr></table>
<h2>沟通风格与建议</h2><p>{disc_html}</p>
<h2>投诉诉求心理</h2><p>{e(motives)}</p>
<h2>画像标签</h2><table>{shown_tags or '<tr><td>暂无</td></tr>'}</table>
<h2>建议动作</h2><ul>{acts or '<li>暂无</li>'}</ul>
<h2>最近接触</h2><table><tr><th>时间</th><th>业务类型</th><th>主题</th><th>情绪</th></tr>{recent}</table>
</body></html>"""


store, viewer, as_of = ctx.store, ctx.viewer, ctx.as_of.isoformat()


def _print_file() -> bytes:
    body = _print_html().encode("utf-8")
    export.record_export(store.path, viewer, "portrait_print", {"customer_id": str(cid)}, 1, "html", as_of)
    return body


st.divider()
st.download_button(":material/print: " + t("打印版（一页纸画像）"), _print_file, file_name=f"用户画像_{cid}_{as_of}.html",
                   mime="text/html", key="print_portrait", on_click="ignore")
st.caption(t("下载后用浏览器打开即弹出打印；打印也会记录到审计日志。"))
if st.toggle(t("原始特征（分析用）"), key="pc_raw_features"):
    raw = ctx.q("customer_row", str(cid), "features")
    if len(raw):
        st.json(json.loads(raw.iloc[0].to_json(force_ascii=False, date_format="iso")), expanded=False)
