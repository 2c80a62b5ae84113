"""Stand-in tag and segment tables for dashboard tests, written beside a real snapshot's tables.

The tag and segment stages publish `tags`, `tags_wide`, `tag_dictionary` and `segments`. Until a
store holds them (and to keep the dashboard tests independent of their exact rules), these
functions derive small, plausible versions from the published `features`. A table the snapshot
already publishes is never overwritten.
"""
from __future__ import annotations

import json
from pathlib import Path

import duckdb

# (id, name_zh, name_en, category, value_type, SQL over features f, requires, features, levels)
TAGS = [
    ("elderly_alone_flag", "独居老人", "Elderly living alone", "基础信息", "flag", "f.elderly_alone", None,
     ["elderly_alone"], None),
    ("residential", "居民用户", "Residential", "基础信息", "flag", "f.is_residential", None, ["is_residential"], None),
    ("usage_trend", "用电趋势", "Usage trend", "用电行为", "label",
     "CASE WHEN f.kwh_daily_mean_3m > 1.2 * f.kwh_daily_mean_prev_3m THEN '上升' "
     "WHEN f.kwh_daily_mean_3m < 0.8 * f.kwh_daily_mean_prev_3m THEN '下降' ELSE '平稳' END",
     "f.kwh_daily_mean_prev_3m > 0", ["kwh_daily_mean_3m", "kwh_daily_mean_prev_3m"], ["上升", "下降", "平稳"]),
    ("kwh_12m_score", "近12月用电量", "kWh in 12 months", "用电行为", "score", "f.kwh_12m", "f.reading_days_12m > 0",
     ["kwh_12m"], None),
    ("value_level", "价值等级", "Value level", "客户价值", "level",
     "CASE WHEN f.bill_amount_12m >= 3000 THEN '高' WHEN f.bill_amount_12m >= 800 THEN '中' ELSE '低' END",
     "f.bills_12m > 0", ["bill_amount_12m"], ["低", "中", "高"]),
    ("online_payer", "线上缴费", "Pays online", "行为偏好", "flag", "f.online_payment_share >= 0.5",
     "f.payments_12m > 0", ["online_payment_share"], None),
    ("contacts_12m_score", "近12月接触次数", "Contacts in 12 months", "触点记录", "score", "f.contacts_12m", None,
     ["contacts_12m"], None),
    ("frequent_caller", "95598高频来电", "Frequent 95598 caller", "触点记录", "flag", "f.calls_95598_12m >= 3", None,
     ["calls_95598_12m"], None),
    ("arrears_risk", "欠费", "In arrears", "费用记录", "flag", "f.arrears_now > 0", "f.bills_12m > 0",
     ["arrears_now"], None),
    ("late_payer", "逾期风险", "Late-payment risk", "费用记录", "flag", "f.late_payments_12m >= 3",
     "f.bills_due_12m > 0", ["late_payments_12m"], None),
    ("pv_user", "光伏用户", "Rooftop PV", "业务特征", "flag", "f.has_pv_connection", None, ["has_pv_connection"], None),
    ("sensitive_customer", "敏感客户", "Complaint-sensitive", "情感特征", "flag",
     "f.complaints_12m >= 2 OR f.escalation_cnt_12m > 0", None, ["complaints_12m", "escalation_cnt_12m"], None),
    ("sentiment_score", "情绪倾向得分", "Sentiment score", "情感特征", "score", "f.mean_sentiment_12m",
     "f.n_texts_12m > 0", ["mean_sentiment_12m"], None),
]

_DISC = {"D": ("支配型", "先说结论，给出选项和时限", "绕弯子、拖延", "您好，直接说结论："),
         "I": ("表达型", "热情互动，认可对方", "冷淡、只念条文", "您好，感谢您一直支持我们！"),
         "S": ("耐心型", "耐心细致，提前告知", "催促、突然变化", "您好，不着急，我慢慢给您说明。"),
         "C": ("精确型", "用数据、规定和书面材料", "含糊、估计", "您好，这是相关的数据和依据：")}


def add_tag_tables(snapshot_dir: Path) -> list[str]:
    """Write stand-in tags / tags_wide / tag_dictionary / segments next to `features`; return what was written."""
    snapshot_dir = Path(snapshot_dir)
    written = []
    con = duckdb.connect()
    try:
        con.execute(f"CREATE VIEW features AS SELECT * FROM read_parquet('{snapshot_dir / 'features.parquet'}')")
        cols = []
        for tid, _zh, _en, _cat, vt, rule, req, *_ in TAGS:
            typ = {"flag": "BOOLEAN", "score": "DOUBLE"}.get(vt, "VARCHAR")
            expr = f"CAST(({rule}) AS {typ})"
            if req:
                expr = f"CASE WHEN coalesce({req}, FALSE) THEN {expr} END"
            cols.append(f'{expr} AS "{tid}"')
        con.execute("CREATE TABLE tw AS SELECT f.customer_id, f.district_id, f.station, " + ", ".join(cols)
                    + " FROM features f ORDER BY f.customer_id")
        if not (snapshot_dir / "tags_wide.parquet").exists():
            con.execute(f"COPY tw TO '{snapshot_dir / 'tags_wide.parquet'}' (FORMAT parquet)")
            written.append("tags_wide")
        if not (snapshot_dir / "tags.parquet").exists():
            parts = [f"""SELECT customer_id, '{tid}' AS tag_id, CAST("{tid}" AS VARCHAR) AS value,
                         TRY_CAST("{tid}" AS DOUBLE) AS value_num,
                         CASE WHEN "{tid}" IS NULL THEN 'missing' ELSE 'ok' END AS status FROM tw"""
                     for tid, *_ in TAGS]
            con.execute(f"COPY ({' UNION ALL '.join(parts)} ORDER BY customer_id, tag_id) "
                        f"TO '{snapshot_dir / 'tags.parquet'}' (FORMAT parquet)")
            written.append("tags")
        if not (snapshot_dir / "tag_dictionary.parquet").exists():
            con.execute("CREATE TABLE d (tag_id VARCHAR, name_zh VARCHAR, name_en VARCHAR, category VARCHAR, "
                        "description VARCHAR, value_type VARCHAR, rule VARCHAR, features VARCHAR[], levels VARCHAR[], "
                        "version INTEGER, owner VARCHAR)")
            for tid, zh, en, cat, vt, rule, req, feats, levels in TAGS:
                con.execute("INSERT INTO d VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 'dashboard-tests')",
                            [tid, zh, en, cat, f"{zh}（测试用标签）", vt, rule.replace("f.", ""), feats, levels])
            con.execute(f"COPY d TO '{snapshot_dir / 'tag_dictionary.parquet'}' (FORMAT parquet)")
            written.append("tag_dictionary")
        if not (snapshot_dir / "segments.parquet").exists():
            con.execute(f"COPY ({_segments_sql(snapshot_dir / 'features.parquet')}) TO '{snapshot_dir / 'segments.parquet'}' (FORMAT parquet)")
            written.append("segments")
    finally:
        con.close()
    return written


def _segments_sql(features: Path) -> str:
    code = ("CASE WHEN coalesce(f.n_texts_12m, 0) = 0 THEN NULL "
            "WHEN f.chasing_cnt_12m > 0 OR f.escalation_cnt_12m > 0 THEN 'D' "
            "WHEN f.praises_12m > 0 THEN 'I' WHEN f.inquiries_12m > 1 THEN 'C' ELSE 'S' END")
    cases = lambda i: "CASE disc_code " + " ".join(f"WHEN '{k}' THEN '{v[i]}'" for k, v in _DISC.items()) + " END"  # noqa: E731
    score = ("least(1.0, 0.4 * (coalesce(f.complaints_12m, 0) > 0)::INT + 0.3 * (f.bill_amount_12m > 3000)::INT "
             "+ 0.3 * coalesce(f.elderly_alone, FALSE)::INT + 0.2 * (coalesce(f.arrears_now, 0) > 0)::INT)")
    return f"""
    WITH b AS (
        SELECT f.customer_id, f.district_id, {code} AS disc_code, {score} AS key_user_score, f.*  EXCLUDE (customer_id, district_id)
        FROM read_parquet('{features}') f)
    SELECT customer_id, district_id, disc_code,
           coalesce({cases(0)}, '数据不足') AS disc_type,
           CASE WHEN disc_code = 'D' THEN 0.7 ELSE 0.1 END AS disc_score_d,
           CASE WHEN disc_code = 'I' THEN 0.7 ELSE 0.1 END AS disc_score_i,
           CASE WHEN disc_code = 'S' THEN 0.7 ELSE 0.1 END AS disc_score_s,
           CASE WHEN disc_code = 'C' THEN 0.7 ELSE 0.1 END AS disc_score_c,
           CASE WHEN disc_code IS NULL THEN NULL ELSE 0.6 END AS disc_confidence,
           CASE WHEN disc_code IS NULL THEN NULL ELSE '催办 ' || chasing_cnt_12m || ' 次；表扬 ' || praises_12m || ' 次' END
               AS disc_evidence,
           {cases(1)} AS disc_advice_do, {cases(2)} AS disc_advice_avoid, {cases(3)} AS disc_advice_opening,
           CASE WHEN bill_amount_12m >= 3000 THEN '高价值' WHEN bill_amount_12m >= 800 THEN '中价值' ELSE '普通' END
               AS value_tier,
           CASE WHEN valley_share_12m > 0.45 THEN '谷电型' WHEN kwh_daily_mean_winter > 1.3 * kwh_daily_mean_summer
                THEN '冬季高峰型' WHEN kwh_daily_mean_summer > 1.3 * kwh_daily_mean_winter THEN '夏季高峰型'
                ELSE '平稳型' END AS load_shape,
           key_user_score,
           CASE WHEN key_user_score >= 0.3 THEN rank() OVER (ORDER BY key_user_score DESC, customer_id) END
               AS key_user_rank,
           CASE WHEN key_user_score >= 0.3 THEN concat_ws('；',
                CASE WHEN coalesce(complaints_12m, 0) > 0 THEN '敏感' END,
                CASE WHEN bill_amount_12m > 3000 THEN '高价值' END,
                CASE WHEN elderly_alone THEN '弱势群体' END,
                CASE WHEN coalesce(arrears_now, 0) > 0 THEN '欠费风险' END) END AS key_user_reasons,
           CASE WHEN elderly_alone THEN '关怀走访' WHEN coalesce(arrears_now, 0) > 0 THEN '缴费提醒'
                WHEN NOT ebill THEN '推荐电子账单' ELSE '常规维护' END AS suggested_action
    FROM b ORDER BY customer_id"""


def prepare(snapshot_dir: Path) -> list[str]:
    """Add the stand-in tables to a snapshot folder and its manifest; return what was written."""
    snapshot_dir = Path(snapshot_dir)
    written = add_tag_tables(snapshot_dir)
    manifest = snapshot_dir / "manifest.json"
    if written and manifest.exists():
        m = json.loads(manifest.read_text(encoding="utf-8"))
        m["tables"] = sorted(set(m.get("tables", [])) | set(written))
        manifest.write_text(json.dumps(m, ensure_ascii=False, indent=2), encoding="utf-8")
    return written
