"""Features on Spark: the same SQL models (pipeline/sql/*.sql), transpiled, in dependency order."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from pipeline.settings import Params
from pipeline.spark.tables import WorkTables
from pipeline.spark.transpile import spark_sql
from pipeline.stages.features import BASE_MODEL, SQL_DIR, feature_models, param_values, render_sql


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
    seen = set(work.columns(base.name))
    selects, joins = ["b.*"], []
    for i, m in enumerate(m for m in per_customer if m is not base):
        cols = [c for c in work.columns(m.name) if c not in seen]
        seen.update(cols)
        selects += [f"t{i}.`{c}`" for c in cols]
        joins.append(f"LEFT JOIN `{m.name}` t{i} ON t{i}.customer_id = b.customer_id")
    rows["features"] = work.sql("features", f"SELECT {', '.join(selects)} FROM `{base.name}` b {' '.join(joins)} "
                                            "ORDER BY b.customer_id")
    return rows
