"""Features on Spark: the same SQL models (pipeline/sql/*.sql), transpiled, in dependency order."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from pipeline.settings import Params
from pipeline.spark.tables import WorkTables
from pipeline.spark.transpile import spark_sql
from pipeline.stages.features import BASE_MODEL, SQL_DIR, STABLE_DIGITS, feature_models, param_values, render_sql


def build_features_spark(work: WorkTables, as_of: date, params: Params, folder: Path = SQL_DIR) -> dict[str, int]:
    """Create every model's table and the wide `features` table on Spark; return rows per table."""
    values = param_values(as_of, params)
    rows: dict[str, int] = {}
    built = []
    for model in feature_models(folder):
        missing = [d for d in model.depends if not work.exists(d) and d not in rows]
        if missing:  # as in DuckDB: a model whose inputs were not built is simply absent
            continue
        sql = spark_sql(render_sql(model.sql, values, str(model.path)))
        rows[model.name] = work.sql(model.name, sql)
        built.append(model)
    per_customer = [m for m in built if m.grain == "customer_id"]
    base = next(m for m in per_customer if m.name == BASE_MODEL)
    seen: set[str] = set()
    selects, joins = [], []
    for i, m in enumerate([base, *(m for m in per_customer if m is not base)]):
        alias = "b" if m is base else f"t{i}"
        doubles = set(work.double_columns(m.name))
        cols = [c for c in work.columns(m.name) if c not in seen]
        seen.update(cols)
        selects += [_stable_double(f"{alias}.`{c}`", c) if c in doubles else f"{alias}.`{c}`" for c in cols]
        if m is not base:
            joins.append(f"LEFT JOIN `{m.name}` {alias} ON {alias}.customer_id = b.customer_id")
    rows["features"] = work.sql("features", f"SELECT {', '.join(selects)} FROM `{base.name}` b {' '.join(joins)} "
                                            "ORDER BY b.customer_id")
    return rows


def _stable_double(expr: str, name: str) -> str:
    """Spark SQL for stages.features.stable_double: Spark's round() needs a constant scale, so scale by hand."""
    scale = f"power(10, {STABLE_DIGITS - 1} - floor(log10(abs({expr}))))"
    return (f"CASE WHEN abs({expr}) > 1e-100 AND abs({expr}) < 1e300 AND NOT isnan({expr}) "
            f"THEN round({expr} * {scale}) / {scale} ELSE {expr} END AS `{name}`")
