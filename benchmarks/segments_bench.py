"""Time the segments stage on a synthetic city: prints seconds per step and peak RSS.

    python benchmarks/segments_bench.py --customers 1000000 --db /tmp/segments-bench.duckdb

The input tables (customers, a year of daily readings, contacts with Chinese text, contact_text,
payments, outages, applications and a `features` table with the columns the stage reads) are
generated in DuckDB SQL in a child process, so the peak RSS printed is the stage's own. The DISC
signals model (pipeline/sql/disc_signal_features.sql, a features-stage model) is timed separately.
Rerunning reuses the database file; pass --regenerate to build it again.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

AS_OF = date(2025, 12, 31)

# Hidden communication style per contacting customer, expressed the way agents write it up.
_STYLE_PHRASES = {
    0: ["客户要求马上处理，只要结果", "客户语气急促，要求今天之内给答复", "请尽快派人", "客户打断解释，要求直接说怎么办"],
    1: ["客户聊起邻居们都在群里说这事", "客户讲述了家里孩子上网课的情况", "客户说上次的师傅人特别好", "拜托帮帮忙"],
    2: ["客户表示不着急，有空来看看", "客户语气平和，愿意等待安排", "辛苦你们了，慢慢来", "客户表示理解供电公司的工作"],
    3: ["客户要求提供电费明细和收费依据", "请给出书面答复", "客户询问阶梯电价分档标准的文件", "请逐项列出电费构成"],
}
_TOPIC_PHRASES = ["家中停电", "电费比上月高", "电压偏低", "充电桩报装进度", "过户手续", "电表读数有疑问"]
_TOPICS = ["停电", "电费", "电压", "业扩", "过户更名", "计量", "服务态度", "抢修", "缴费", "电价"]


def _list(items: list[str]) -> str:
    return "[" + ", ".join("'" + s + "'" for s in items) + "]"


def generate(db: Path, n: int, reading_days: int) -> None:
    """Write the input tables for `n` customers into the DuckDB file `db`."""
    import duckdb

    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db), config={"preserve_insertion_order": False})
    as_of = f"DATE '{AS_OF.isoformat()}'"
    style_phrases = "[" + ", ".join(_list(_STYLE_PHRASES[k]) for k in range(4)) + "]"
    steps = {
        "customers": f"""
            CREATE TABLE customers AS
            SELECT lpad(CAST(i * 7 + 1000000 AS VARCHAR), 10, '0') AS customer_id, '用户' || i AS name,
                   '测试路' || i || '号' AS address,
                   CASE WHEN i % 50 = 0 THEN '一般工商业' ELSE '城乡居民生活用电' END AS category,
                   '交流220V' AS voltage, 8.0 AS contract_capacity_kva, DATE '2010-01-01' + CAST(i % 5000 AS INTEGER) AS open_date,
                   'TQ' || lpad(CAST(i // 150 AS VARCHAR), 7, '0') AS district_id, (i // 150) || '号台区' AS district_name,
                   '供电所' || (i // 6000) AS station, '' AS industry, '1390000' || lpad(CAST(i % 10000 AS VARCHAR), 4, '0') AS phone,
                   -- holders born 1950-2004: about a fifth are 65 or older
                   '990000' || strftime(DATE '1950-01-01' + CAST((i * 7919) % 20000 AS INTEGER), '%Y%m%d') || '0011' AS id_number,
                   i % 3 = 0 AS prepaid, '阶梯' AS tariff_type, '微信' AS pay_method, i % 2 = 0 AS ebill,
                   i % 20 = 0 AS elderly_alone, i % 37 = 0 AS low_income, i % 53 = 0 AS disabled,
                   i % 97 = 0 AS hearing_impaired, FALSE AS foreign_language
            FROM range({n}) t(i)""",
        "readings": f"""
            CREATE TABLE readings AS
            SELECT lpad(CAST(i * 7 + 1000000 AS VARCHAR), 10, '0') AS customer_id,
                   {as_of} - CAST({reading_days} - 1 - d AS INTEGER) AS reading_date,
                   CASE WHEN i % 1000 = 20 AND d >= {reading_days} - 12 THEN 0.0   -- planted stops (elderly, i % 20 = 0)
                        ELSE round((3 + (i % 7) + 2 * cos(d / 58.0) + ((i * 31 + d * 17) % 10) / 10.0)
                                   * CASE WHEN i % 25 = 0 THEN 0.05 ELSE 1 END, 2) END AS kwh,
                   CAST(NULL AS DOUBLE) AS kwh_peak, CAST(NULL AS DOUBLE) AS kwh_flat, CAST(NULL AS DOUBLE) AS kwh_valley
            FROM range({n}) t(i), range({reading_days}) r(d)""",
        "contacts": f"""
            CREATE TABLE contacts AS
            WITH who AS (SELECT i, (i * 2654435761) % 4 AS style, 1 + (i * 40503) % 6 AS k
                         FROM range({n}) t(i) WHERE (i * 11) % 100 < 35)
            SELECT 'W' || i || '-' || j AS ticket_id, lpad(CAST(i * 7 + 1000000 AS VARCHAR), 10, '0') AS customer_id,
                   TIMESTAMP '2024-01-05 09:00:00' + INTERVAL ((i * 7 + j * 41) % 720) DAY AS contacted_at,
                   (['95598电话', '网上国网', '营业厅', '公众号', '上门'])[1 + CAST((style + (i + j) % 3 * (j % 2)) % 5 AS INTEGER)] AS channel,
                   (['咨询', '故障报修', '投诉', '表扬', '催办', '业务申请', '意见'])[1 + CAST((style * 2 + i + j) % 7 AS INTEGER)] AS business_type,
                   '客户来电反映' || {_list(_TOPIC_PHRASES)}[1 + CAST((i + j) % {len(_TOPIC_PHRASES)} AS INTEGER)] || '，'
                       || {style_phrases}[1 + CAST(style AS INTEGER)][1 + CAST((i + j) % 4 AS INTEGER)] || '。' AS content,
                   CAST((i + j) % 48 AS DOUBLE) AS handle_hours, (i + j) % 17 = 0 AS overdue, CAST((i + j) % 4 AS INTEGER) AS transfers,
                   (['满意', '基本满意', '不满意', '未回访'])[1 + CAST((i + j) % 4 AS INTEGER)] AS satisfaction,
                   j > 0 AND i % 5 = 0 AS repeated,
                   CAST(([90, 600, 350, 250])[1 + CAST(style AS INTEGER)] + (i * 13 + j) % 60 AS DOUBLE) AS call_seconds
            FROM who, range(6) r(j) WHERE j < k""",
        "contact_text": f"""
            CREATE TABLE contact_text AS
            SELECT ticket_id, customer_id, contacted_at, business_type, channel,
                   CASE WHEN hash(ticket_id) % 3 = 0 THEN 'negative' ELSE 'neutral' END AS sentiment,
                   round(((hash(ticket_id) % 2001) / 1000.0) - 1.0, 4) AS sentiment_score,
                   {_list(_TOPICS)}[1 + CAST(hash(ticket_id) % {len(_TOPICS)} AS INTEGER)] AS topic,
                   '不满；尽快' AS evidence
            FROM contacts""",
        "payments": f"""
            CREATE TABLE payments AS
            SELECT 'P' || i || '-' || m AS payment_id, lpad(CAST(i * 7 + 1000000 AS VARCHAR), 10, '0') AS customer_id,
                   TIMESTAMP '2025-01-10 10:00:00' + INTERVAL (m) MONTH AS paid_at, 80.0 AS amount, '微信' AS channel,
                   DATE '2024-12-01' + INTERVAL (m) MONTH AS period
            FROM range({n}) t(i), range(12) r(m)""",
        "outages": f"""
            CREATE TABLE outages AS
            SELECT 'TQ' || lpad(CAST(j % greatest({n} // 150, 1) AS VARCHAR), 7, '0') AS district_id,
                   TIMESTAMP '2025-01-03 08:00:00' + INTERVAL (j * 7 % 360) DAY AS start_at,
                   TIMESTAMP '2025-01-03 12:00:00' + INTERVAL (j * 7 % 360) DAY AS end_at,
                   CASE WHEN j % 3 = 0 THEN '故障' ELSE '计划' END AS kind, j % 10 <> 0 AS notified
            FROM range(greatest({n} // 100, 1)) t(j)""",
        "applications": f"""
            CREATE TABLE applications AS
            SELECT 'A' || i AS application_id, lpad(CAST(i * 7 + 1000000 AS VARCHAR), 10, '0') AS customer_id,
                   (['新装', '增容', '光伏并网', '充电桩', '过户', '更名'])[1 + CAST(i % 6 AS INTEGER)] AS app_type,
                   TIMESTAMP '2025-03-01 09:00:00' + INTERVAL (i % 270) DAY AS applied_at,
                   CASE WHEN i % 4 = 0 THEN NULL ELSE TIMESTAMP '2025-03-01 09:00:00' + INTERVAL (i % 270 + 3 + i % 20) DAY END AS completed_at,
                   '归档' AS stage
            FROM range({n}) t(i) WHERE i % 30 = 0""",
        "features": f"""
            CREATE TABLE features AS
            SELECT lpad(CAST(i * 7 + 1000000 AS VARCHAR), 10, '0') AS customer_id,
                   'TQ' || lpad(CAST(i // 150 AS VARCHAR), 7, '0') AS district_id, (i // 150) || '号台区' AS district_name,
                   i % 50 <> 0 AS is_residential, '阶梯' AS tariff_type, i % 2 = 0 AS ebill, TRUE AS has_phone,
                   i % 20 = 0 AS elderly_alone, i % 37 = 0 AS low_income, i % 53 = 0 AS disabled, i % 97 = 0 AS hearing_impaired,
                   FALSE AS foreign_language,
                   b AS bill_amount_12m, b * 0.55 AS bill_amount_6m, b * 0.45 AS bill_amount_prev_6m, b / 10 AS bill_amount_last,
                   1.0 + (i % 13) / 10.0 AS bill_shock_ratio, CAST(i % 29 = 0 AS BIGINT) AS unpaid_bills_12m,
                   CAST(i % 7 AS BIGINT) AS late_payments_12m, (i % 4) / 4.0 AS autodebit_share, (i % 5) / 5.0 AS online_payment_share,
                   CAST(i % 11 = 0 AS BIGINT) * 2 AS complaints_12m, CAST(i % 13 = 0 AS BIGINT) AS dissatisfied_12m,
                   CAST(i % 31 = 0 AS BIGINT) AS escalation_cnt_12m, CAST(0 AS BIGINT) AS abuse_cnt_12m,
                   ((i % 21) - 10) / 10.0 AS peak_end_score, (['', '求高效', '求公平', '求发泄'])[1 + CAST(i % 4 AS INTEGER)] AS top_motive,
                   '' AS special_need, 0.3 + (i % 10) / 10.0 AS step_drop_ratio, 2.0 AS step_drop_kwh_daily,
                   FALSE AS has_charger_connection,
                   CAST(365 AS BIGINT) AS reading_days_12m, CAST(CASE WHEN i % 25 = 0 THEN 300 ELSE 2 END AS BIGINT) AS low_days_12m,
                   m AS kwh_daily_mean_12m, m * (1 + (i % 5) / 10.0) AS kwh_daily_mean_summer, m * (1 + (i % 3) / 10.0) AS kwh_daily_mean_winter,
                   m AS kwh_daily_mean_shoulder, m * 1.05 AS kwh_daily_mean_weekend, m AS kwh_daily_mean_weekday,
                   0.25 + (i % 30) / 100.0 AS valley_share_12m, m * 0.6 AS kwh_daily_p10_12m, 0.2 + (i % 9) / 20.0 AS kwh_daily_cv_12m,
                   m * 0.3 AS valley_kwh_daily_mean_recent, 0.05 AS valley_share_swing_recent,
                   CAST(0 AS BIGINT) AS peak_zero_days_12m,
                   CAST(CASE WHEN i % 25 = 0 THEN 90 WHEN i % 1000 = 20 THEN 12 ELSE 0 END AS BIGINT) AS low_run_max_90d
            FROM (SELECT i, 600.0 + (i * 37) % 5000 AS b, (3 + i % 7) * CASE WHEN i % 25 = 0 THEN 0.05 ELSE 1 END AS m
                  FROM range({n}) t(i))""",
    }
    for name, sql in steps.items():
        start = time.perf_counter()
        con.execute(sql)
        rows = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
        print(f"  generated {name:<13} {rows:>13,} rows in {time.perf_counter() - start:6.1f}s", flush=True)
    con.execute("CHECKPOINT")
    con.close()


def measure(db: Path) -> None:
    """Time the DISC signals model and build_segments on the database; print seconds and peak RSS."""
    from pipeline.engine import connect
    from pipeline.settings import DuckDBSettings, Params
    from pipeline.stages.features import feature_models, param_values, render_sql
    from pipeline.stages.segments import build_segments

    con = connect(db, DuckDBSettings())
    params = Params()
    model = next(m for m in feature_models() if m.name == "disc_signal_features")
    start = time.perf_counter()
    con.execute(f"CREATE OR REPLACE TABLE disc_signal_features AS "
                f"{render_sql(model.sql, param_values(AS_OF, params), str(model.path))}")
    signals = time.perf_counter() - start
    steps = _time_steps()
    start = time.perf_counter()
    rows = build_segments(con, AS_OF, params, None)
    stage = time.perf_counter() - start
    customers = con.execute("SELECT count(*) FROM customers").fetchall()[0][0]
    readings = con.execute("SELECT count(*) FROM readings").fetchall()[0][0]
    contacts = con.execute("SELECT count(*) FROM contacts").fetchall()[0][0]
    con.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"customers {customers:,}  readings {readings:,}  contacts {contacts:,}")
    print(f"disc_signal_features (features stage): {signals:.2f}s")
    print(f"build_segments: {stage:.2f}s  rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
    print("  steps: " + ", ".join(f"{k} {v:.2f}s" for k, v in steps.items()))
    print(f"peak RSS of this process: {peak:,.0f} MiB")


def _time_steps() -> dict[str, float]:
    """Wrap the stage's steps so their seconds land in the returned dict (benchmark-only instrumentation)."""
    import pipeline.stages.segments as seg

    steps: dict[str, float] = {}

    def timed(label, fn):
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                name = args[1] if label == "sql" else label
                steps[name] = steps.get(name, 0.0) + time.perf_counter() - start
        return run

    seg.disc_types.fit_disc_model = timed("fit disc", seg.disc_types.fit_disc_model)
    seg._create_disc_types = timed("disc_types", seg._create_disc_types)
    seg._create_load_shapes = timed("load_shapes", seg._create_load_shapes)
    seg.load_shapes.fit_load_shape_model = timed("fit load shape", seg.load_shapes.fit_load_shape_model)
    seg._run_model = timed("sql", seg._run_model)
    seg._write_models = timed("models", seg._write_models)
    seg._write_profiles = timed("profiles", seg._write_profiles)
    return steps


def main() -> None:
    """Parse arguments, generate the inputs if needed, and measure."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--reading-days", type=int, default=365)
    ap.add_argument("--db", type=Path, default=Path("/tmp/segments-bench.duckdb"))
    ap.add_argument("--regenerate", action="store_true")
    ap.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate_only:
        generate(args.db, args.customers, args.reading_days)
        return
    if args.regenerate or not args.db.exists():
        print(f"generating {args.customers:,} customers into {args.db} …", flush=True)
        start = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--generate-only", "--customers", str(args.customers),
                        "--reading-days", str(args.reading_days), "--db", str(args.db)], check=True)
        print(f"generated in {time.perf_counter() - start:.0f}s", flush=True)
    measure(args.db)


if __name__ == "__main__":
    main()
