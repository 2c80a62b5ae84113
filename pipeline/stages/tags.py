"""Tags: the catalogue evaluated over the `features` table in a few SQL statements, with its quality report.

Tables written (all keyed by customer_id where per customer):
  tags_wide         one row per customer, one typed column per tag (NULL = the customer lacks the data)
  tags              one row per customer × tag: value, value_num, status 'ok' | 'missing' (a view over
                    tags_wide, materialised when the snapshot is published)
  tag_dictionary    the catalogue as published: rules, features, the parameter values this run used
  tag_quality       per tag × 台区 (and overall): coverage, missing, true count, distribution
  tag_distribution  per tag × 台区 (and overall) × value: customer counts, missing counted apart
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import date

import duckdb
import pandas as pd

from pipeline.errors import PortraitError
from pipeline.settings import Params
from pipeline.stages.features import param_values, render_sql
from tags.catalog import CATEGORIES, Catalog, TagDef, load_catalog

log = logging.getLogger("portrait.tags")

TAG_TABLES = ("tags_wide", "tags", "tag_dictionary", "tag_quality", "tag_distribution")
_KEYS = ("customer_id", "district_id", "station")


class TagEvaluationError(PortraitError):
    """A tag rule failed while the catalogue was evaluated."""


def evaluate_tags(con: duckdb.DuckDBPyConnection, as_of: date, params: Params,
                  catalog: Catalog | None = None) -> dict[str, int]:
    """Create tags_wide, tags, tag_dictionary, tag_quality and tag_distribution; return rows per table."""
    catalog = catalog if catalog is not None else load_catalog()
    values = param_values(as_of, params)
    available = {r[0] for r in con.execute("DESCRIBE features").fetchall()}
    unavailable = {t.id: [f for f in t.features if f not in available] for t in catalog}
    unavailable = {k: v for k, v in unavailable.items() if v}
    for tag_id, cols in unavailable.items():  # e.g. the text stage did not run: those tags are all missing
        log.warning("tag %s is missing for everyone: features %s were not built", tag_id, ", ".join(cols))
    columns = {t.id: _column_sql(t, values, unavailable.get(t.id)) for t in catalog}
    _create_wide(con, catalog, columns, available)
    _create_dictionary(con, catalog, as_of, values, unavailable)
    _create_long(con, catalog)
    _create_quality(con, catalog)
    rows = {name: con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in TAG_TABLES if name != "tags"}
    rows["tags"] = rows["tags_wide"] * len(catalog)  # every customer × tag, missing included
    return {name: rows[name] for name in TAG_TABLES}


def _column_sql(tag: TagDef, values: dict[str, object], missing_features: list[str] | None) -> str:
    if missing_features:
        return f"CAST(NULL AS {tag.sql_type})"
    rule = render_sql(tag.rule, values, tag.location)
    requires = render_sql(tag.requires, values, tag.location) if tag.requires else None
    value = f"COALESCE(({rule}), FALSE)" if tag.value_type == "flag" else f"CAST(({rule}) AS {tag.sql_type})"
    if requires is None:
        return value
    return f"CASE WHEN COALESCE(({requires}), FALSE) THEN {value} END"


def _create_wide(con: duckdb.DuckDBPyConnection, catalog: Catalog, columns: dict[str, str], available: set[str]) -> None:
    keys = ", ".join(k if k in available else f"CAST(NULL AS VARCHAR) AS {k}" for k in _KEYS)
    select = ",\n  ".join(f'{sql} AS "{tag_id}"' for tag_id, sql in columns.items())
    try:
        con.execute(f"CREATE OR REPLACE TABLE tags_wide AS SELECT {keys},\n  {select}\nFROM features ORDER BY customer_id")
    except duckdb.Error:
        _raise_first_failing(con, catalog, columns)
        raise


def _raise_first_failing(con: duckdb.DuckDBPyConnection, catalog: Catalog, columns: dict[str, str]) -> None:
    """Evaluate tag by tag to name the one whose rule breaks on this run's data."""
    for t in catalog:
        try:
            con.execute(f'SELECT count({columns[t.id]}) FROM features').fetchone()
        except duckdb.Error as err:
            message = str(err).splitlines()[0]
            raise TagEvaluationError(f"tag `{t.id}` ({t.location}) fails on this run's features: {message}",
                                     hint="fix its rule, or check the feature values it reads with `portrait tags describe`") from None


def _value_text(tag: TagDef) -> str:
    col = f'"{tag.id}"'
    if tag.value_type == "score":  # whole numbers print without a trailing .0 ("3", not "3.0")
        return (f"CASE WHEN {col} = trunc({col}) AND abs({col}) < 1e15 THEN CAST(CAST({col} AS BIGINT) AS VARCHAR) "
                f"ELSE CAST({col} AS VARCHAR) END")
    return f"CAST({col} AS VARCHAR)"


def _value_num(tag: TagDef) -> str:
    col = f'"{tag.id}"'
    if tag.value_type == "flag":
        return f"CAST({col} AS DOUBLE)"
    if tag.value_type == "score":
        return col
    if tag.value_type == "level":  # position in the declared levels, lowest = 1
        levels = "[" + ", ".join(_quote(v) for v in tag.levels) + "]"
        return f"CAST(NULLIF(list_position({levels}, {col}), 0) AS DOUBLE)"
    return "CAST(NULL AS DOUBLE)"


def _create_long(con: duckdb.DuckDBPyConnection, catalog: Catalog) -> None:
    # A view, not a table: the long form is customers × tags rows, and writing it into the work database
    # costs more than computing it. Publishing streams it straight into Parquet. One UNPIVOT with two
    # value columns (text and number); INCLUDE NULLS keeps the missing rows.
    pairs = ", ".join(f'{_value_text(t)} AS "{t.id}__v", {_value_num(t)} AS "{t.id}__n"' for t in catalog)
    on = ", ".join(f'("{t.id}__v", "{t.id}__n") AS "{t.id}"' for t in catalog)
    if con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'tags'").fetchone()[0]:
        con.execute("DROP TABLE tags")
    # tag_id and status are ENUMs: Parquet stores them as plain strings either way, but the writer
    # dictionary-encodes an ENUM without hashing every value (1M customers: the COPY takes 12.7 s, not 22 s).
    ids = ", ".join(_quote(t.id) for t in catalog)
    con.execute(f"""
        CREATE OR REPLACE VIEW tags AS
        WITH pairs AS (SELECT customer_id, {pairs} FROM tags_wide)
        SELECT customer_id, CAST(tag_id AS ENUM({ids})) AS tag_id, value, value_num,
               CAST(CASE WHEN value IS NULL THEN 'missing' ELSE 'ok' END AS ENUM('ok', 'missing')) AS status
        FROM pairs UNPIVOT INCLUDE NULLS ((value, value_num) FOR tag_id IN ({on}))
    """)


def _create_dictionary(con: duckdb.DuckDBPyConnection, catalog: Catalog, as_of: date, values: dict[str, object],
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
    frame = pd.DataFrame(rows, columns=columns)
    types = {"position": "INTEGER", "levels": "VARCHAR[]", "labels": "VARCHAR[]", "features": "VARCHAR[]",
             "window_days": "INTEGER", "version": "INTEGER", "available": "BOOLEAN", "data_as_of": "DATE"}
    select = ", ".join(f'CAST("{c}" AS {types.get(c, "VARCHAR")}) AS "{c}"' for c in columns)
    con.register("_tag_dictionary_rows", frame)
    try:
        con.execute(f"CREATE OR REPLACE TABLE tag_dictionary AS SELECT {select} FROM _tag_dictionary_rows ORDER BY position")
    finally:
        con.unregister("_tag_dictionary_rows")


def _quality_struct(tag: TagDef) -> str:
    col = f'"{tag.id}"'
    n_true = f"count_if({col})" if tag.value_type == "flag" else "CAST(NULL AS BIGINT)"
    score = tag.value_type == "score"
    stat = (lambda f: f"CAST({f}({col}) AS DOUBLE)") if score else (lambda f: "CAST(NULL AS DOUBLE)")
    allowed = tag.allowed_values
    unexpected = (f"count(*) FILTER (WHERE {col} NOT IN ({', '.join(_quote(v) for v in allowed)}))"
                  if allowed else "CAST(0 AS BIGINT)")
    return (f"{{'n_with_value': count({col}), 'n_true': {n_true}, 'mean': {stat('avg')}, 'p50': {stat('median')}, "
            f"'min': {stat('min')}, 'max': {stat('max')}, 'n_unexpected': {unexpected}}}")


def _create_quality(con: duckdb.DuckDBPyConnection, catalog: Catalog) -> None:
    # One pass over tags_wide for the counts, and a GROUP BY over the unpivoted values for the value counts;
    # both per 台区 and overall. (DuckDB's histogram() is far slower per group than a plain GROUP BY.)
    structs = ", ".join(f'{_quality_struct(t)} AS "{t.id}"' for t in catalog)
    names = ", ".join(f'"{t.id}"' for t in catalog)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _tag_quality AS
        SELECT tag_id, scope, district_id, customers, s.*
        FROM (UNPIVOT (
            SELECT CASE WHEN GROUPING(district_id) = 1 THEN 'overall' ELSE 'district' END AS scope,
                   district_id, count(*) AS customers, {structs}
            FROM tags_wide GROUP BY GROUPING SETS ((district_id), ())
        ) ON {names} INTO NAME tag_id VALUE s)
    """)
    counted = [t for t in catalog if t.value_type != "score"]
    if counted:
        texts = ", ".join(f'CAST("{t.id}" AS VARCHAR) AS "{t.id}"' for t in counted)
        con.execute(f"CREATE OR REPLACE TEMP VIEW _tag_texts AS SELECT district_id, {texts} FROM tags_wide")
        values = f"""
            SELECT tag_id, CASE WHEN GROUPING(district_id) = 1 THEN 'overall' ELSE 'district' END AS scope,
                   district_id, value, count(*) AS n
            FROM _tag_texts UNPIVOT INCLUDE NULLS (value FOR tag_id IN ({', '.join(f'"{t.id}"' for t in counted)}))
            GROUP BY GROUPING SETS ((tag_id, district_id, value), (tag_id, value))"""
    else:
        values = ("SELECT NULL::VARCHAR AS tag_id, NULL::VARCHAR AS scope, NULL::VARCHAR AS district_id, "
                  "NULL::VARCHAR AS value, 0::BIGINT AS n WHERE FALSE")
    con.execute(f"""
        CREATE OR REPLACE TABLE tag_distribution AS
        SELECT v.tag_id, v.scope, v.district_id, CASE WHEN v.value IS NULL THEN 'missing' ELSE 'ok' END AS status,
               v.value, v.n, round(v.n / q.customers, 4) AS share
        FROM ({values}) v
        JOIN _tag_quality q ON q.tag_id = v.tag_id AND q.scope = v.scope AND q.district_id IS NOT DISTINCT FROM v.district_id
        JOIN tag_dictionary d ON d.tag_id = v.tag_id
        ORDER BY CASE WHEN v.scope = 'overall' THEN 0 ELSE 1 END, d.position, v.district_id, status DESC, v.n DESC, v.value
    """)
    con.execute("""
        CREATE OR REPLACE TABLE tag_quality AS
        WITH dist AS (
            SELECT tag_id, scope, district_id, CAST(json_group_object(value, n) AS VARCHAR) AS distribution
            FROM tag_distribution WHERE status = 'ok' GROUP BY ALL
        )
        SELECT q.tag_id, d.category, d.value_type, q.scope, q.district_id, q.customers,
               CAST(q.n_with_value AS BIGINT) AS n_with_value, CAST(q.customers - q.n_with_value AS BIGINT) AS n_missing,
               round(q.n_with_value / NULLIF(q.customers, 0), 4) AS coverage,
               CAST(q.n_true AS BIGINT) AS n_true, round(q.n_true / NULLIF(q.n_with_value, 0), 4) AS true_rate,
               dist.distribution, q.mean, q.p50, q.min, q.max, CAST(q.n_unexpected AS BIGINT) AS n_unexpected
        FROM _tag_quality q
        JOIN tag_dictionary d USING (tag_id)
        LEFT JOIN dist ON dist.tag_id = q.tag_id AND dist.scope = q.scope AND dist.district_id IS NOT DISTINCT FROM q.district_id
        ORDER BY CASE WHEN q.scope = 'overall' THEN 0 ELSE 1 END, d.position, q.district_id
    """)
    con.execute("DROP TABLE _tag_quality")
    con.execute("DROP VIEW IF EXISTS _tag_texts")


def _quote(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"
