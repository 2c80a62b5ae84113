"""Validate on Spark: the DuckDB stage's own per-cell SQL (trim, synonyms, casts, checks, reason codes),
transpiled; foreign keys as joins and duplicates as a window. Same canonical tables, same `rejects`."""
from __future__ import annotations

from datetime import date

from pipeline.contracts import LOAD_ORDER, TABLES, Table
from pipeline.sources.mapping import Mapping
from pipeline.spark.ingest import CORRUPT
from pipeline.spark.tables import WorkTables
from pipeline.spark.transpile import spark_sql
from pipeline.stages.ingest import StagedSource
from pipeline.stages.validate import TableCounts, _bad_account_message, _key_message, _layers, _lit, _q, _reason


def _source_sql(source: StagedSource, mapping: Mapping, as_of: date) -> str:
    """Return DuckDB SQL for one export's checked rows (as the DuckDB stage builds it), reading a Spark view."""
    table, raw_sql, raws, typed_sql, typed, checks = _layers(source, mapping, as_of)
    if source.parse_rejects:  # a line Spark's CSV reader could not split into the header's columns
        checks.insert(0, (f"{CORRUPT} IS NOT NULL", "concat('malformed_line||', "
                          "'the line does not have the header''s columns — fix the line''s quoting or column count')"))
    reason = "CASE " + " ".join(f"WHEN {cond} THEN {msg}" for cond, msg in checks) + " END" if checks else "NULL"
    keep = f", {CORRUPT}" if source.parse_rejects else ""
    return ("SELECT {src} AS _gp_src, _gp_idx, _gp_day, {cols}, {reason} AS _gp_reason FROM ("
            "SELECT *, {layer2} FROM (SELECT _gp_idx, {day} AS _gp_day{keep}, {layer1} FROM {relation} AS _gp_raw))").format(
        src=source.index, cols=", ".join(f"{typed[c.name]} AS {_q(c.name)}" for c in table.columns), reason=reason,
        layer2=", ".join(f"{typed_sql[c.name]} AS {typed[c.name]}" for c in table.columns),
        day="_gp_day" if source.resolution.wide_dates else "CAST(NULL AS VARCHAR)", keep=keep,
        layer1=", ".join(f"{raw_sql[c.name]} AS {raws[c.name]}" for c in table.columns),
        relation=_relation(source))


def _relation(source: StagedSource) -> str:
    if not source.resolution.wide_dates:
        return source.relation
    # Wide readings (one column per day): Spark's stack() where DuckDB UNPIVOTs; UNPIVOT drops empty cells.
    days = {h for h, _ in source.resolution.wide_dates}
    others = ", ".join(_q(c) for c in ["_gp_idx", *source.types] if c not in days)
    keep = f", {CORRUPT}" if source.parse_rejects else ""
    stack = ", ".join(f"{_lit(h)}, DATE '{d.isoformat()}', {_q(h)}" for h, d in source.resolution.wide_dates)
    return (f"(SELECT * FROM (SELECT {others}{keep}, stack({len(days)}, {stack}) AS (_gp_day, _gp_daydate, _gp_value) "
            f"FROM {source.relation}) WHERE _gp_value IS NOT NULL)")


def validate_sources_spark(work: WorkTables, staged: list[StagedSource], mapping: Mapping,
                           as_of: date) -> dict[str, TableCounts]:
    """Create the canonical tables and `rejects` on Spark; return the row accounting per table."""
    counts: dict[str, TableCounts] = {}
    labels = {s.index: s.label for s in staged}
    rejects: list[str] = []
    for name in LOAD_ORDER:
        table = TABLES[name]
        sources = [s for s in staged if s.table == name]
        tc = TableCounts(name)
        counts[name] = tc
        if sources:
            checked = " UNION ALL ".join(spark_sql(_source_sql(s, mapping, as_of)) for s in sources)
        else:
            cols = ", ".join(f"CAST(NULL AS {c.type}) AS {_q(c.name)}" for c in table.columns)
            checked = spark_sql(f"SELECT 0 AS _gp_src, CAST(0 AS BIGINT) AS _gp_idx, CAST(NULL AS VARCHAR) AS _gp_day, "
                                f"{cols}, CAST(NULL AS VARCHAR) AS _gp_reason LIMIT 0")
        work.view(f"_gp_chk0_{name}", checked)
        work.view(f"_gp_chk1_{name}", _reference_sql(table, f"_gp_chk0_{name}"))
        work.sql(f"_gp_chk_{name}", _duplicate_sql(table, f"_gp_chk1_{name}", labels))
        cols = ", ".join(f"`{c.name}`" for c in table.columns)
        work.sql(name, f"SELECT {cols} FROM _gp_chk_{name} WHERE _gp_reason IS NULL")
        for s in sources:
            rejects.append(_rejects_sql(table, s, f"_gp_chk_{name}"))
    empty = ("SELECT CAST(NULL AS STRING) AS table_name, CAST(NULL AS STRING) AS source, CAST(NULL AS BIGINT) AS line, "
             "CAST(NULL AS STRING) AS column_name, CAST(NULL AS STRING) AS reason, CAST(NULL AS STRING) AS message, "
             "CAST(NULL AS STRING) AS value WHERE FALSE")
    work.sql("rejects", " UNION ALL ".join(rejects or [empty]))
    _count(work, counts, staged, labels)
    return counts


def _reference_sql(table: Table, chk: str) -> str:
    out = f"SELECT * FROM {chk}"
    if table.references_customers:
        col = table.column("customer_id")
        bad = _reason("bad_account", col, _bad_account_message(col, "c.customer_id"))
        unknown = ("concat('unknown_customer|customer_id|户号 (customer_id) = ''', c.customer_id, "
                   "''' is not in 客户档案 — check that the customer export is complete, or that this row belongs to this utility')")
        reason = (f"CASE WHEN c._gp_reason IS NOT NULL OR k.customer_id IS NOT NULL THEN c._gp_reason "
                  f"WHEN NOT regexp_full_match(c.customer_id, {_lit(col.pattern)}) THEN {bad} ELSE {unknown} END")
        others = ", ".join(f"c.{_q(x)}" for x in ("_gp_src", "_gp_idx", "_gp_day", *[c.name for c in table.columns]))
        out = spark_sql(f"SELECT {others}, {reason} AS _gp_reason FROM ({out}) c "
                        f"LEFT JOIN (SELECT DISTINCT customer_id FROM customers) k ON k.customer_id = c.customer_id")
    if table.name == "outages":
        others = ", ".join(f"c.{_q(x)}" for x in ("_gp_src", "_gp_idx", "_gp_day", *[c.name for c in table.columns]))
        unknown = ("concat('unknown_district|district_id|台区编号 (district_id) = ''', c.district_id, "
                   "''' is not the 台区 of any customer in 客户档案 — check the 台区 codes match the customer export')")
        out = spark_sql(f"SELECT {others}, CASE WHEN c._gp_reason IS NOT NULL OR k.district_id IS NOT NULL THEN c._gp_reason "
                        f"ELSE {unknown} END AS _gp_reason FROM ({out}) c "
                        f"LEFT JOIN (SELECT DISTINCT district_id FROM customers) k ON k.district_id = c.district_id")
    return out


def _duplicate_sql(table: Table, chk: str, labels: dict[int, str]) -> str:
    """Return the rows with later copies of a key marked `duplicate`, naming the export of the first copy."""
    key = ", ".join(_q(k) for k in table.key)
    src_label = "CASE first_src " + " ".join(f"WHEN {i} THEN {_lit(l)}" for i, l in labels.items()) + " END"
    others = ", ".join(_q(c) for c in ("_gp_src", "_gp_idx", "_gp_day", *[c.name for c in table.columns]))
    reason = (f"CASE WHEN _gp_reason IS NULL AND rn > 1 THEN concat('duplicate|{'+'.join(table.key)}|duplicates the key "
              f"{_key_message(table)} of an earlier row in ', {src_label}, ' — keep one of the rows in the export') "
              f"ELSE _gp_reason END")
    ordered = "ORDER BY _gp_src, _gp_idx, _gp_day"
    return spark_sql(f"""
        SELECT {others}, {reason} AS _gp_reason FROM (
            SELECT *, CASE WHEN _gp_reason IS NULL THEN row_number() OVER (PARTITION BY _gp_ok, {key} {ordered}) END AS rn,
                   first_value(_gp_src) OVER (PARTITION BY _gp_ok, {key} {ordered}) AS first_src
            FROM (SELECT *, _gp_reason IS NULL AS _gp_ok FROM {chk}))""")


def _rejects_sql(table: Table, source: StagedSource, chk: str) -> str:
    line = "_gp_idx" if source.has_line else "(_gp_idx + 1)"
    value_cases = " ".join(f"WHEN {_lit(c.name)} THEN CAST({_q(c.name)} AS VARCHAR)" for c in table.columns if not c.pii)
    value = f"CASE split_part(_gp_reason, '|', 2) {value_cases} ELSE NULL END" if value_cases else "NULL"
    return spark_sql(f"""
        SELECT {_lit(table.name)} AS table_name, {_lit(source.label)} AS source, CAST({line} AS BIGINT) AS line,
               NULLIF(split_part(_gp_reason, '|', 2), '') AS column_name, split_part(_gp_reason, '|', 1) AS reason,
               concat({_lit(source.label + ' line ')}, {line}, CASE WHEN _gp_day IS NOT NULL THEN concat(' column ', _gp_day) ELSE '' END,
                      ': ', substr(_gp_reason, length(split_part(_gp_reason, '|', 1)) + length(split_part(_gp_reason, '|', 2)) + 3)) AS message,
               {value} AS value
        FROM {chk} WHERE _gp_src = {source.index} AND _gp_reason IS NOT NULL""")


def _count(work: WorkTables, counts: dict[str, TableCounts], staged: list[StagedSource], labels: dict[int, str]) -> None:
    spark = work.spark
    for name, tc in counts.items():
        per_src = {r[0]: (r[1], r[2]) for r in spark.sql(
            f"SELECT _gp_src, count(*), count_if(_gp_reason IS NULL) FROM _gp_chk_{name} GROUP BY _gp_src").collect()}
        for s in (s for s in staged if s.table == name):
            read, accepted = per_src.get(s.index, (0, 0))
            tc.sources[s.label] = {"read": read, "accepted": accepted, "rejected": read - accepted}
            tc.read += read
        tc.accepted = sum(v[1] for v in per_src.values())
    reasons = spark.sql("SELECT table_name, reason, count(*) AS n FROM rejects GROUP BY table_name, reason "
                        "ORDER BY table_name, n DESC, reason").collect()
    for table_name, reason, n in reasons:
        tc = counts[table_name]
        tc.reasons[reason] = n
        tc.rejected += n
