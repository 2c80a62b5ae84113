"""Tags on Spark: the YAML catalogue's rules, transpiled, over `features`; the same five tables as DuckDB.

The rule and value expressions are the DuckDB stage's own (`_column_sql`, `_value_text`, `_value_num`);
only the reshaping differs: Spark has `stack` where DuckDB has UNPIVOT.
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.settings import Params
from pipeline.spark.tables import WorkTables
from pipeline.spark.transpile import spark_expr, spark_sql
from pipeline.stages.features import param_values, render_sql
from pipeline.stages.tags import _KEYS, TAG_TABLES, _column_sql, _quote, _value_num, _value_text
from tags.catalog import CATEGORIES, Catalog, TagDef, load_catalog

log = logging.getLogger("portrait.tags")


def evaluate_tags_spark(work: WorkTables, as_of: date, params: Params, catalog: Catalog | None = None) -> dict[str, int]:
    """Create tags_wide, tags, tag_dictionary, tag_quality and tag_distribution on Spark; return rows per table."""
    catalog = catalog if catalog is not None else load_catalog()
    values = param_values(as_of, params)
    available = set(work.columns("features"))
    unavailable = {t.id: [f for f in t.features if f not in available] for t in catalog}
    unavailable = {k: v for k, v in unavailable.items() if v}
    for tag_id, cols in unavailable.items():
        log.warning("tag %s is missing for everyone: features %s were not built", tag_id, ", ".join(cols))
    keys = ", ".join(k if k in available else f"CAST(NULL AS VARCHAR) AS {k}" for k in _KEYS)
    select = ", ".join(f'{_column_sql(t, values, unavailable.get(t.id))} AS "{t.id}"' for t in catalog)
    rows = {"tags_wide": work.sql("tags_wide", spark_sql(f"SELECT {keys}, {select} FROM features ORDER BY customer_id"))}
    _create_dictionary(work, catalog, as_of, values, unavailable)
    rows["tags"] = _create_long(work, catalog)
    _create_quality(work, catalog)
    rows["tag_dictionary"] = work.count("tag_dictionary")
    rows["tag_quality"] = work.count("tag_quality")
    rows["tag_distribution"] = work.count("tag_distribution")
    return {name: rows[name] for name in TAG_TABLES}


def _stack(pairs: list[tuple[str, list[str]]]) -> str:
    """Return `stack(n, 'id', e1, e2, …)`: one output row per (id, expressions)."""
    args = ", ".join(f"{_quote(i)}, {', '.join(exprs)}" for i, exprs in pairs)
    return f"stack({len(pairs)}, {args})"


def _create_long(work: WorkTables, catalog: Catalog) -> int:
    pairs = [(t.id, [spark_expr(_value_text(t)), f"CAST({spark_expr(_value_num(t))} AS DOUBLE)"]) for t in catalog]
    return work.sql("tags", f"""
        SELECT customer_id, tag_id, value, value_num, CASE WHEN value IS NULL THEN 'missing' ELSE 'ok' END AS status
        FROM (SELECT customer_id, {_stack(pairs)} AS (tag_id, value, value_num) FROM tags_wide)""")


_DICT_TYPES = {"position": pa.int32(), "levels": pa.list_(pa.string()), "labels": pa.list_(pa.string()),
               "features": pa.list_(pa.string()), "window_days": pa.int32(), "version": pa.int32(),
               "available": pa.bool_(), "data_as_of": pa.date32()}


def _create_dictionary(work: WorkTables, catalog: Catalog, as_of: date, values: dict[str, object],
                       unavailable: dict[str, list[str]]) -> None:
    columns = ("tag_id", "position", "name_zh", "name_en", "category", "category_en", "description", "value_type",
               "column_type", "levels", "labels", "unit", "rule", "requires", "rule_sql", "requires_sql", "features",
               "params", "explain", "window_days", "owner", "version", "rule_hash", "source", "available",
               "unavailable_reason", "data_as_of")
    rows = []
    for i, t in enumerate(catalog):
        missing = unavailable.get(t.id)
        rows.append((
            t.id, i + 1, t.name_zh, t.name_en, t.category, CATEGORIES[t.category], t.description, t.value_type,
            t.sql_type, list(t.levels), list(t.labels), t.unit, t.rule, t.requires,
            render_sql(t.rule, values, t.location), render_sql(t.requires, values, t.location) if t.requires else None,
            list(t.features), json.dumps({p: values[p] for p in t.params}, ensure_ascii=False, default=str),
            t.explain, t.window_days, t.owner, t.version,
            hashlib.sha256(f"{t.rule}\n{t.requires}".encode()).hexdigest()[:12], t.location,
            not missing, f"features not built in this run: {', '.join(missing)}" if missing else None, as_of,
        ))
    schema = pa.schema([(c, _DICT_TYPES.get(c, pa.string())) for c in columns])
    table = pa.Table.from_pylist([dict(zip(columns, r)) for r in rows], schema=schema)
    save_arrow(work, "tag_dictionary", table)


def save_arrow(work: WorkTables, name: str, table: pa.Table) -> int:
    """Write a small Arrow table (built on the driver) as work table `name`."""
    folder = work.path(name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*"):
        old.unlink()
    pq.write_table(table, folder / "part-0.parquet")
    work.spark.read.parquet(str(folder)).createOrReplaceTempView(name)
    if name not in work.names:
        work.names.append(name)
    return table.num_rows


def _quality_exprs(tag: TagDef) -> list[str]:
    col = f'"{tag.id}"'
    n_true = f"count_if({col})" if tag.value_type == "flag" else "CAST(NULL AS BIGINT)"
    score = tag.value_type == "score"
    stat = (lambda f: f"CAST({f}({col}) AS DOUBLE)") if score else (lambda f: "CAST(NULL AS DOUBLE)")
    allowed = tag.allowed_values
    unexpected = (f"count(*) FILTER (WHERE {col} NOT IN ({', '.join(_quote(v) for v in allowed)}))"
                  if allowed else "CAST(0 AS BIGINT)")
    return [f"CAST(count({col}) AS BIGINT)", f"CAST({n_true} AS BIGINT)", stat("avg"), stat("median"),
            stat("min"), stat("max"), f"CAST({unexpected} AS BIGINT)"]


_STATS = ("n_with_value", "n_true", "mean", "p50", "min", "max", "n_unexpected")


def _create_quality(work: WorkTables, catalog: Catalog) -> None:
    aggs = ", ".join(f'{e} AS "{t.id}__{s}"' for t in catalog for s, e in zip(_STATS, _quality_exprs(t)))
    work.sql("_tag_quality_wide", spark_sql(f"""
        SELECT CASE WHEN GROUPING(district_id) = 1 THEN 'overall' ELSE 'district' END AS scope,
               district_id, count(*) AS customers, {aggs}
        FROM tags_wide GROUP BY GROUPING SETS ((district_id), ())"""))
    pairs = [(t.id, [f"`{t.id}__{s}`" for s in _STATS]) for t in catalog]
    work.sql("_tag_quality", f"""
        SELECT tag_id, scope, district_id, customers, {', '.join(_STATS)}
        FROM (SELECT scope, district_id, customers, {_stack(pairs)} AS (tag_id, {', '.join(_STATS)}) FROM _tag_quality_wide)""")
    counted = [t for t in catalog if t.value_type != "score"]
    if counted:
        texts = [(t.id, [spark_expr(f'CAST("{t.id}" AS VARCHAR)')]) for t in counted]
        values = f"""
            SELECT tag_id, CASE WHEN GROUPING(district_id) = 1 THEN 'overall' ELSE 'district' END AS scope,
                   district_id, value, count(*) AS n
            FROM (SELECT district_id, {_stack(texts)} AS (tag_id, value) FROM tags_wide)
            GROUP BY GROUPING SETS ((tag_id, district_id, value), (tag_id, value))"""
    else:
        values = ("SELECT CAST(NULL AS STRING) AS tag_id, CAST(NULL AS STRING) AS scope, CAST(NULL AS STRING) AS district_id, "
                  "CAST(NULL AS STRING) AS value, CAST(0 AS BIGINT) AS n WHERE FALSE")
    work.sql("tag_distribution", f"""
        SELECT v.tag_id, v.scope, v.district_id, CASE WHEN v.value IS NULL THEN 'missing' ELSE 'ok' END AS status,
               v.value, v.n, round(v.n / q.customers, 4) AS share
        FROM ({values}) v
        JOIN _tag_quality q ON q.tag_id = v.tag_id AND q.scope = v.scope AND q.district_id <=> v.district_id
        JOIN tag_dictionary d ON d.tag_id = v.tag_id
        ORDER BY CASE WHEN v.scope = 'overall' THEN 0 ELSE 1 END, d.position, v.district_id NULLS LAST,
                 status DESC, v.n DESC, v.value NULLS LAST""")
    # DuckDB's json_group_object prints {"value":n,…}; to_json of a map prints the same JSON.
    work.sql("tag_quality", """
        WITH dist AS (
            SELECT tag_id, scope, district_id,
                   to_json(map_from_entries(collect_list(struct(value, n)))) AS distribution
            FROM tag_distribution WHERE status = 'ok' GROUP BY tag_id, scope, district_id
        )
        SELECT q.tag_id, d.category, d.value_type, q.scope, q.district_id, q.customers,
               CAST(q.n_with_value AS BIGINT) AS n_with_value, CAST(q.customers - q.n_with_value AS BIGINT) AS n_missing,
               round(q.n_with_value / NULLIF(q.customers, 0), 4) AS coverage,
               CAST(q.n_true AS BIGINT) AS n_true, round(q.n_true / NULLIF(q.n_with_value, 0), 4) AS true_rate,
               dist.distribution, q.mean, q.p50, q.min, q.max, CAST(q.n_unexpected AS BIGINT) AS n_unexpected
        FROM _tag_quality q
        JOIN tag_dictionary d ON d.tag_id = q.tag_id
        LEFT JOIN dist ON dist.tag_id = q.tag_id AND dist.scope = q.scope AND dist.district_id <=> q.district_id
        ORDER BY CASE WHEN q.scope = 'overall' THEN 0 ELSE 1 END, d.position, q.district_id NULLS LAST""")
