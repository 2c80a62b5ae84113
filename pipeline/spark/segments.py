"""Segments on Spark: fit on a sample on the driver with the DuckDB stage's own code, assign on the executors.

The k-means models (DISC types, load shapes) are fitted by `pipeline.segments.clusters.fitted_model` on at
most `fit_sample_rows` customers, chosen on the executors by the same md5-of-id order as DuckDB, so the
sample and the fit are identical. The fitted centroids are inlined into the assignment SQL
(`assignment_sql`), which Spark evaluates on every customer. Everything else is pipeline/sql/segments/*.sql,
transpiled.
"""
from __future__ import annotations

import logging
from datetime import date

import duckdb
import numpy as np
import pyarrow as pa

from pipeline.segments import disc_types, load_shapes
from pipeline.segments.clusters import ClusterModel, fitted_model, previous_model
from pipeline.settings import Params
from pipeline.spark.tables import WorkTables
from pipeline.spark.tags import save_arrow
from pipeline.spark.transpile import spark_sql
from pipeline.stages.features import param_values, render_sql
from pipeline.stages.segments import (FEATURE_COLUMNS, KEY_USER_MIN_SCORE, KEY_USER_WEIGHTS, PUBLISHED, SEGMENT_SQL,
                                      _json)

log = logging.getLogger("portrait")


class SparkQueries:
    """A DuckDB-cursor look-alike for small read-only queries: `execute(sql).fetchall()` on Spark.

    It lets the segment modules' profile functions, written against DuckDB, read Spark's tables."""

    def __init__(self, spark):
        self.spark = spark
        self._rows: list[tuple] = []

    def execute(self, sql: str, params: list | None = None) -> "SparkQueries":
        """Run one DuckDB query (translated) and keep its rows."""
        if params:
            raise ValueError("SparkQueries takes no parameters")
        self._rows = [tuple(r) for r in self.spark.sql(spark_sql(sql)).collect()]
        return self

    def fetchall(self) -> list[tuple]:
        """Return the rows of the last query."""
        return self._rows

    def fetchone(self) -> tuple | None:
        """Return the first row of the last query."""
        return self._rows[0] if self._rows else None


def fit_sample_spark(spark, source: str, exprs: dict[str, str], where: str, limit: int) -> np.ndarray:
    """Return up to `limit` rows of the expressions, chosen by md5(customer_id) on the executors."""
    cols = ", ".join(f'CAST({e} AS DOUBLE) AS "{n}"' for n, e in exprs.items())
    sql = f"SELECT {cols} FROM {source} WHERE {where} ORDER BY md5(customer_id), customer_id LIMIT {int(limit)}"
    table = spark.sql(spark_sql(sql)).toArrow()  # a top-k: only `limit` rows reach the driver
    if table.num_rows == 0:
        return np.empty((0, len(exprs)))
    return np.column_stack([table.column(n).to_numpy(zero_copy_only=False).astype(float) for n in exprs])


def build_segments_spark(work: WorkTables, as_of: date, params: Params,
                         previous: duckdb.DuckDBPyConnection | None = None, fit_sample_rows: int = 50_000) -> dict[str, int]:
    """Create the segment tables on Spark for `as_of`; return rows per table to publish."""
    values = {**param_values(as_of, params), **KEY_USER_WEIGHTS, "key_user_min_score": KEY_USER_MIN_SCORE}
    spark = work.spark
    _create_inputs(work)

    rows = fit_sample_spark(spark, f"{disc_types.SIGNALS} s", disc_types.FEATURES, disc_types.ELIGIBLE, fit_sample_rows)
    disc_model = (fitted_model(disc_types.MODEL, disc_types.VERSION, tuple(disc_types.FEATURES), rows, 4,
                               disc_types.types_by_axes, previous_model(previous, disc_types.MODEL))
                  if len(rows) >= 8 else None)
    work.sql("disc_types", spark_sql(disc_types.disc_types_sql(disc_model)))
    advice = disc_types.disc_advice_rows()
    save_arrow(work, "disc_advice", pa.table({k: [r[i] for r in advice] for i, k in enumerate(
        ("code", "disc_type", "disc_advice_do", "disc_advice_avoid", "disc_opening"))}))

    household = load_shapes._household(params)
    rows = fit_sample_spark(spark, load_shapes.SOURCE, load_shapes.FEATURES, household, fit_sample_rows)
    shape_model = (fitted_model(load_shapes.MODEL, load_shapes.VERSION, tuple(load_shapes.FEATURES), rows,
                                load_shapes.N_CLUSTERS, load_shapes.shape_names(params),
                                previous_model(previous, load_shapes.MODEL))
                   if len(rows) >= 3 * load_shapes.N_CLUSTERS else None)
    work.sql("load_shapes", spark_sql(load_shapes.load_shapes_sql(shape_model, params)))

    for name in ("customer_values", "care_alerts", "segments", "service_gaps", "experience_map", "power_access"):
        path = SEGMENT_SQL / f"{name}.sql"
        work.sql(name, spark_sql(render_sql(path.read_text(encoding="utf-8"), values, str(path))))

    queries = SparkQueries(spark)
    _write_models(work, queries, params, disc_model, shape_model)
    _write_profiles(work, queries, disc_model, shape_model)
    return {t: work.count(t) for t in PUBLISHED}


def _create_inputs(work: WorkTables) -> None:
    have = set(work.columns("features"))
    missing = [c for c in FEATURE_COLUMNS if c not in have]
    if missing:
        log.warning("segments: features lack %s; they read as NULL", ", ".join(missing))
    cols = ", ".join(f'"{c}"' if c in have else f'CAST(NULL AS {t}) AS "{c}"' for c, t in FEATURE_COLUMNS.items())
    work.view("segment_features", spark_sql(f"SELECT customer_id, {cols} FROM features"))
    if work.exists("contact_text"):
        work.view("segment_contact_text", "SELECT ticket_id, sentiment_score, topic, evidence FROM contact_text")
    else:
        work.view("segment_contact_text", "SELECT ticket_id, CAST(NULL AS DOUBLE) AS sentiment_score, '其他' AS topic, "
                                          "'' AS evidence FROM contacts")


def _write_models(work: WorkTables, q: SparkQueries, params: Params,
                  disc_model: ClusterModel | None, shape_model: ClusterModel | None) -> None:
    coverage = dict(q.execute("SELECT disc_code IS NOT NULL, count(*) FROM disc_types GROUP BY ALL").fetchall())
    typed, total = coverage.get(True, 0), sum(coverage.values()) or 1
    cuts = q.execute(
        "SELECT min(bill_amount_12m) FILTER (WHERE value_tier = '高价值'), min(bill_amount_12m) FILTER (WHERE value_tier = '中价值') "
        "FROM segment_features JOIN customer_values USING (customer_id)").fetchall()[0]
    rows = [
        ("disc", disc_types.VERSION, "kmeans", disc_model.n_fit if disc_model else 0,
         disc_model.to_json() if disc_model else "{}",
         _json({"signals": disc_types.SIGNALS, "features": disc_types.FEATURES, "eligible": disc_types.ELIGIBLE,
                "pace": disc_types.PACE, "focus": disc_types.FOCUS, "types": disc_types.TYPE_NAMES,
                "coverage": {"typed": typed, "customers": total, "share": round(typed / total, 4)}})),
        ("load_shape", load_shapes.VERSION, "kmeans", shape_model.n_fit if shape_model else 0,
         shape_model.to_json() if shape_model else "{}",
         _json({"features": load_shapes.FEATURES, "vacant_daily_kwh": params.vacant_daily_kwh,
                "pv_zero_peak_days": params.pv_zero_peak_days,
                "vacant_low_day_share": params.vacant_low_day_share, "season_peak_ratio": params.season_peak_ratio,
                "valley_share_high": params.valley_share_high})),
        ("value_tier", 1, "quantiles", 0,
         _json({"value_high_pct": params.value_high_pct, "value_mid_pct": params.value_mid_pct,
                "usage_trend_ratio": params.usage_trend_ratio, "late_payments_risk": params.late_payments_risk,
                "min_bill_amount_12m_high": cuts[0], "min_bill_amount_12m_mid": cuts[1]}),
         _json({"score": "revenue percentile ± 0.1 growth − 0.2 poor / 0.05 fair credit, clamped to [0, 1]"})),
        ("key_user", 1, "weights", 0, _json({**KEY_USER_WEIGHTS, "key_user_min_score": KEY_USER_MIN_SCORE}),
         _json({"sql": "pipeline/sql/segments/segments.sql"})),
        ("care_alert", 1, "rules", 0,
         _json({"care_stop_daily_kwh": params.care_stop_daily_kwh, "care_stop_days": params.care_stop_days,
                "abnormal_drop_ratio": params.abnormal_drop_ratio, "elderly_age": params.elderly_age,
                "baseline_days": 28, "lookback_days": 90}),
         _json({"sql": "pipeline/sql/segments/care_alerts.sql"})),
        ("service_gap", 1, "rules", 0,
         _json({"gap_repeat_contacts": params.gap_repeat_contacts, "gap_repeat_window_days": params.gap_repeat_window_days,
                "gap_transfers": params.gap_transfers}),
         _json({"sql": "pipeline/sql/segments/service_gaps.sql"})),
    ]
    schema = pa.schema([("model", pa.string()), ("version", pa.int32()), ("method", pa.string()),
                        ("fitted_rows", pa.int64()), ("params_json", pa.string()), ("spec_json", pa.string())])
    save_arrow(work, "segment_models", pa.Table.from_pylist([dict(zip(schema.names, r)) for r in rows], schema=schema))


def _write_profiles(work: WorkTables, q: SparkQueries, disc_model: ClusterModel | None,
                    shape_model: ClusterModel | None) -> None:
    profiles = disc_types.disc_profiles(q, disc_model) + load_shapes.load_shape_profiles(q, shape_model)
    tiers = q.execute("""
        SELECT value_tier, count(*), min(bill_amount_12m), max(bill_amount_12m), avg(value_score)
        FROM customer_values JOIN segment_features USING (customer_id)
        GROUP BY value_tier ORDER BY CASE value_tier WHEN '高价值' THEN 1 WHEN '中价值' THEN 2 WHEN '低价值' THEN 3 ELSE 4 END
    """).fetchall()
    total = sum(t[1] for t in tiers) or 1
    for tier, n, lo, hi, score in tiers:
        profile = ("无电费账单" if lo is None else
                   f"近12月电费 {lo:,.0f}–{hi:,.0f} 元，平均价值分 {score:.2f}（电费分位±增长±缴费信用）")
        profiles.append({"model": "value_tier", "cluster": None, "code": tier, "name": tier, "size": n,
                         "share": n / total, "profile": profile})
    schema = pa.schema([("model", pa.string()), ("cluster", pa.int32()), ("code", pa.string()), ("name", pa.string()),
                        ("size", pa.int64()), ("share", pa.float64()), ("profile", pa.string())])
    rows = [{**{k: p[k] for k in schema.names}, "share": round(p["share"], 4)} for p in profiles]
    save_arrow(work, "segment_profiles", pa.Table.from_pylist(rows, schema=schema))
