"""Benchmark: features + tags for N synthetic customers with a year of daily readings.

Generates canonical tables directly in DuckDB SQL (no Python loop per row), then times
`build_features` and `evaluate_tags` and prints rows/s and peak memory (RSS of this process,
which includes DuckDB's buffers).

    python benchmarks/tags_bench.py                  # 100,000 customers × 365 days
    python benchmarks/tags_bench.py --customers 1000000 --threads 2 --memory-limit 6GB
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

from pipeline.engine import connect
from pipeline.settings import DuckDBSettings, Params
from pipeline.stages.features import build_features, create_empty_canonical_tables
from pipeline.stages.tags import evaluate_tags
from pipeline.stages.text import contact_text
from tags.catalog import load_catalog

AS_OF = date(2025, 12, 31)

# Uniform [0, 1) from a hash of the arguments: deterministic whatever the thread count.
U = "((hash({}) % 1000003) / 1000003.0)"


def _u(*args: str) -> str:
    return U.format(", ".join(args))


def synthetic_canonical_tables(con, n: int) -> dict[str, int]:
    """Create the canonical tables (and `contact_text`) for `n` customers; return rows per table."""
    create_empty_canonical_tables(con)
    con.execute(f"""
        INSERT INTO customers BY NAME
        SELECT lpad(CAST(i AS VARCHAR), 10, '0') AS customer_id, '客户' || i AS name, '江州市某路' || i || '号' AS address,
               CASE WHEN i % 100 < 88 THEN '城乡居民生活用电' WHEN i % 100 < 97 THEN '一般工商业'
                    WHEN i % 100 < 98 THEN '大工业' ELSE '农业生产' END AS category,
               '交流220V' AS voltage, CAST(4 + i % 12 AS DOUBLE) AS contract_capacity_kva,
               CAST(DATE '1998-01-01' + INTERVAL (i % 9800) DAY AS DATE) AS open_date,
               'TQ' || lpad(CAST(i // 75 AS VARCHAR), 7, '0') AS district_id, '台区' || (i // 75) AS district_name,
               '供电所' || (i // 1500) AS station, '13800' || lpad(CAST(i % 1000000 AS VARCHAR), 6, '0') AS phone,
               '110101' || CAST(1935 + i % 70 AS VARCHAR) || '0101' || lpad(CAST(i % 1000 AS VARCHAR), 3, '0') || '1' AS id_number,
               i % 3 = 0 AS prepaid, CASE WHEN i % 3 = 0 THEN '阶梯分时' ELSE '阶梯' END AS tariff_type,
               i % 2 = 0 AS ebill, i % 40 = 0 AS elderly_alone, i % 50 = 0 AS low_income, i % 70 = 0 AS disabled,
               i % 300 = 0 AS hearing_impaired, i % 310 = 0 AS foreign_language
        FROM range({n}) t(i)
    """)
    # Daily readings: seasonal base load with noise; 5 % EV nights, 3 % PV days, 4 % vacant, 2 % step drops.
    con.execute(f"""
        INSERT INTO readings BY NAME
        WITH r AS (
            SELECT lpad(CAST(i AS VARCHAR), 10, '0') AS customer_id,
                   CAST(DATE '{AS_OF.isoformat()}' - INTERVAL (k) DAY AS DATE) AS reading_date,
                   CASE WHEN i % 25 = 1 THEN 0.1 * {_u('i', 'k', '7')}
                        ELSE (2 + 12 * {_u('i')}) * (1 + 0.35 * cos(2 * pi() * (k - 170) / 365.0))
                             * (0.75 + 0.5 * {_u('i', 'k')}) * CASE WHEN i % 50 = 3 AND k < 60 THEN 0.3 ELSE 1 END END AS home,
                   CASE WHEN i % 20 = 0 AND {_u('i', 'k', '1')} < 0.75 THEN 8 + 6 * {_u('i', 'k', '2')} ELSE 0 END AS ev,
                   CASE WHEN i % 33 = 2 THEN 6 * {_u('i', 'k', '3')} ELSE 0 END AS pv
            FROM range({n}) c(i), range(365) d(k)
        )
        SELECT customer_id, reading_date,
               round(greatest(home * 0.6 - pv, 0) + home * 0.1 + home * 0.3 + ev, 2) AS kwh,
               round(greatest(home * 0.6 - pv, 0) + ev * 0.04, 2) AS kwh_peak,
               round(home * 0.1, 2) AS kwh_flat,
               round(home * 0.3 + ev * 0.96, 2) AS kwh_valley
        FROM r
    """)
    con.execute(f"""
        INSERT INTO bills BY NAME
        WITH b AS (
            SELECT lpad(CAST(i AS VARCHAR), 10, '0') AS customer_id, i, m,
                   CAST(DATE '2024-12-01' + INTERVAL (m) MONTH AS DATE) AS period,
                   round(60 + 400 * {_u('i')} * (0.8 + 0.4 * {_u('i', 'm')}), 2) AS amount,
                   i % 12 = 5 AND m IN (9, 10, 11) AS unpaid
            FROM range({n}) c(i), range(13) t(m)
        )
        SELECT customer_id, period, round(amount / 0.5) AS kwh, amount, amount AS receivable,
               CASE WHEN unpaid OR m = 12 THEN 0 ELSE amount END AS received,
               CASE WHEN unpaid OR m = 12 THEN amount ELSE 0 END AS arrears,
               CASE WHEN unpaid THEN round(amount * 0.01, 2) ELSE 0 END AS penalty,
               CAST(period + INTERVAL 1 MONTH + INTERVAL 24 DAY AS DATE) AS due_date
        FROM b
    """)
    con.execute(f"""
        INSERT INTO payments BY NAME
        SELECT 'JF' || b.customer_id || strftime(b.period, '%Y%m') AS payment_id, b.customer_id,
               CAST(b.period + INTERVAL 1 MONTH AS TIMESTAMP)
                   + INTERVAL (CAST(3 + 20 * {_u('b.customer_id', 'b.period')} AS INTEGER)
                               + CASE WHEN CAST(b.customer_id AS BIGINT) % 12 = 7 AND month(b.period) % 3 = 0 THEN 30 ELSE 0 END) DAY
                   + INTERVAL 10 HOUR AS paid_at,
               b.amount, ['网上国网', '微信', '支付宝', '银行代扣', '营业厅', '自助终端'][1 + CAST(CAST(b.customer_id AS BIGINT) % 6 AS INTEGER)] AS channel,
               b.period
        FROM bills b WHERE b.received > 0
    """)
    con.execute(f"""
        INSERT INTO contacts BY NAME
        WITH c AS (
            SELECT i, j, lpad(CAST(i AS VARCHAR), 10, '0') AS customer_id
            FROM range({n}) t(i), range(6) s(j)
            WHERE i % 3 = 0 AND j < 1 + CAST(5 * {_u('i')} AS INTEGER)
        )
        SELECT 'GD' || customer_id || j AS ticket_id, customer_id,
               TIMESTAMP '2025-01-01 08:00:00' + INTERVAL (CAST(360 * {_u('i', 'j')} AS INTEGER)) DAY AS contacted_at,
               ['95598电话', '网上国网', '营业厅', '公众号', '上门'][1 + CAST((i + j) % 5 AS INTEGER)] AS channel,
               ['咨询', '故障报修', '投诉', '举报', '意见', '表扬', '催办', '业务申请'][1 + CAST((i * 7 + j) % 8 AS INTEGER)] AS business_type,
               ['客户来电咨询电费', '客户反映停电，要求尽快恢复', '客户扬言要找你们领导', '客户称要向媒体曝光'][1 + CAST((i + j) % 4 AS INTEGER)] AS content,
               4.0 AS handle_hours, j % 7 = 0 AS overdue, CAST(j % 4 AS INTEGER) AS transfers,
               ['满意', '基本满意', '不满意', '未回访'][1 + CAST((i + 2 * j) % 4 AS INTEGER)] AS satisfaction,
               j > 2 AS repeated, 180.0 AS call_seconds
        FROM c
    """)
    con.execute(f"""
        INSERT INTO outages BY NAME
        SELECT 'TD' || g || '-' || k AS outage_id, 'TQ' || lpad(CAST(g AS VARCHAR), 7, '0') AS district_id,
               TIMESTAMP '2025-01-05 09:00:00' + INTERVAL (CAST(350 * {_u('g', 'k')} AS INTEGER)) DAY AS start_at,
               TIMESTAMP '2025-01-05 13:00:00' + INTERVAL (CAST(350 * {_u('g', 'k')} AS INTEGER)) DAY AS end_at,
               CASE WHEN k % 2 = 0 THEN '计划' ELSE '故障' END AS kind, k % 5 <> 0 AS notified
        FROM range({n // 75 + 1}) t(g), range(4) s(k)
    """)
    con.execute(f"""
        INSERT INTO applications BY NAME
        SELECT 'SQ' || i AS application_id, lpad(CAST(i AS VARCHAR), 10, '0') AS customer_id,
               ['新装', '增容', '光伏并网', '充电桩', '过户', '更名'][1 + CAST(i % 6 AS INTEGER)] AS app_type,
               TIMESTAMP '2025-03-01 10:00:00' + INTERVAL (CAST(280 * {_u('i')} AS INTEGER)) DAY AS applied_at,
               CASE WHEN i % 4 = 0 THEN NULL ELSE TIMESTAMP '2025-03-01 10:00:00'
                    + INTERVAL (CAST(280 * {_u('i')} AS INTEGER) + 3 + i % 40) DAY END AS completed_at,
               '装表接电' AS stage
        FROM range({n}) t(i) WHERE i % 50 = 4
    """)
    # The text stage's output, synthesised: the benchmark measures features and tags, not the classifier.
    _contact_text_like(con)
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("customers", "readings", "bills", "payments", "contacts", "outages", "applications", "contact_text")}


def _contact_text_like(con) -> None:
    """Create `contact_text` with the text stage's schema and plausible signals, in SQL."""
    probe = connect()
    try:
        create_empty_canonical_tables(probe)
        contact_text(probe)
        schema = probe.execute("DESCRIBE contact_text").fetchall()
    finally:
        probe.close()
    fixed = {"sentiment": "['negative', 'neutral', 'positive'][1 + CAST(hash(ticket_id) % 3 AS INTEGER)]",
             "sentiment_score": "((hash(ticket_id) % 2001) / 1000.0 - 1)",
             "topic": "['停电', '电费', '抢修', '业扩', '服务态度', '费控复电'][1 + CAST(hash(ticket_id) % 6 AS INTEGER)]",
             "special_need": "''", "evidence": "''", "urgency": "((hash(ticket_id) % 100) / 100.0)"}
    cols = []
    for name, typ, *_ in schema:
        if name in ("ticket_id", "customer_id", "contacted_at", "business_type", "channel"):
            cols.append(name)
        elif name in fixed:
            cols.append(f"CAST({fixed[name]} AS {typ}) AS {name}")
        elif typ == "TINYINT":
            cols.append(f"CAST(hash(ticket_id, '{name}') % 9 = 0 AS TINYINT) AS {name}")
        else:
            cols.append(f"CAST((hash(ticket_id, '{name}') % 100) / 100.0 AS {typ}) AS {name}")
    con.execute(f"CREATE OR REPLACE TABLE contact_text AS SELECT {', '.join(cols)} FROM contacts")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=0, help="DuckDB threads (0 = all cores)")
    parser.add_argument("--memory-limit", default="6GB")
    parser.add_argument("--db", type=Path, default=None, help="DuckDB file (default: a temporary file)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tags-bench-") as tmp:
        db = args.db or Path(tmp) / "bench.duckdb"
        con = connect(db, DuckDBSettings(memory_limit=args.memory_limit, threads=args.threads,
                                         temp_directory=str(Path(tmp) / "spill")))
        start = time.perf_counter()
        rows = synthetic_canonical_tables(con, args.customers)
        generate_s = time.perf_counter() - start
        print(f"generated in {generate_s:.1f}s: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))

        start = time.perf_counter()
        catalog = load_catalog()
        load_s = time.perf_counter() - start

        start = time.perf_counter()
        feature_rows = build_features(con, AS_OF, Params())
        features_s = time.perf_counter() - start

        start = time.perf_counter()
        tag_rows = evaluate_tags(con, AS_OF, Params(), catalog)
        tags_s = time.perf_counter() - start
        con.close()

    n = rows["customers"]
    in_rows = sum(v for k, v in rows.items() if k != "customers")
    print(f"customers {n:,}; input rows {in_rows:,} (readings {rows['readings']:,}); "
          f"{len(catalog)} tags; DuckDB threads {args.threads or 'all'}, memory limit {args.memory_limit}")
    print(f"catalogue load + checks  {load_s:7.2f} s")
    print(f"build_features           {features_s:7.2f} s  {in_rows / features_s:>12,.0f} input rows/s  "
          f"({feature_rows['features']:,} customers × features)")
    print(f"evaluate_tags            {tags_s:7.2f} s  {tag_rows['tags'] / tags_s:>12,.0f} tag values/s  "
          f"({n / tags_s:,.0f} customers/s; tags {tag_rows['tags']:,}, quality {tag_rows['tag_quality']:,} rows)")
    print(f"features + tags          {features_s + tags_s:7.2f} s  {in_rows / (features_s + tags_s):>12,.0f} input rows/s")
    print(f"peak RSS                 {_peak_rss_mb():7.0f} MB")


if __name__ == "__main__":
    main()
