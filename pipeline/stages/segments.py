"""Segments stage: DISC-style types, value tiers, load shapes, key users, care alerts and service intelligence.

Models are fitted on a sample in scikit-learn and applied to every customer in SQL; everything
else is SQL in pipeline/sql/segments/. The stage reads `features`, `disc_signal_features`,
`contact_text` (when the text stage ran) and the canonical tables, and writes the tables it
returns. The fitted parameters go to `segment_models`, so a run can be explained and repeated.
"""
from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import duckdb

from pipeline.segments import disc_types, load_shapes
from pipeline.segments.clusters import ClusterModel
from pipeline.settings import Params
from pipeline.stages.features import SQL_DIR, feature_models, from_parts, param_values, render_sql

log = logging.getLogger("portrait")
SEGMENT_SQL = SQL_DIR / "segments"
PUBLISHED = ("segments", "care_alerts", "service_gaps", "experience_map", "power_access",
             "segment_models", "segment_profiles")

# Key-user score weights (重点用户): value first, then who may complain, who needs care, who may default or
# tamper, and who could use a new service. They sum to 1, so the score runs from 0 to 100.
KEY_USER_WEIGHTS = {"w_value": 0.30, "w_sensitive": 0.25, "w_vulnerable": 0.20, "w_risk": 0.15, "w_opportunity": 0.10}
# 重点用户 are those scoring at least this: on the sample about 8 % of customers, 5-15 per 台区, and everyone
# with a care alert (they score 80+).
KEY_USER_MIN_SCORE = 40.0

# Feature columns the segment SQL reads, with their types: a column that no feature model produced in
# this run (e.g. the text stage did not run) reads as NULL instead of failing the stage.
FEATURE_COLUMNS = {
    "district_id": "VARCHAR", "district_name": "VARCHAR", "is_residential": "BOOLEAN", "tariff_type": "VARCHAR",
    "ebill": "BOOLEAN", "has_phone": "BOOLEAN", "elderly_alone": "BOOLEAN", "low_income": "BOOLEAN",
    "disabled": "BOOLEAN", "hearing_impaired": "BOOLEAN", "foreign_language": "BOOLEAN",
    "bill_amount_12m": "DOUBLE", "bill_amount_6m": "DOUBLE", "bill_amount_prev_6m": "DOUBLE",
    "bill_amount_last": "DOUBLE", "bill_shock_ratio": "DOUBLE",
    "unpaid_bills_12m": "BIGINT", "late_payments_12m": "BIGINT", "autodebit_share": "DOUBLE",
    "online_payment_share": "DOUBLE",
    "complaints_12m": "BIGINT", "dissatisfied_12m": "BIGINT",
    "escalation_cnt_12m": "BIGINT", "abuse_cnt_12m": "BIGINT", "peak_end_score": "DOUBLE", "top_motive": "VARCHAR",
    "special_need": "VARCHAR",
    "step_drop_ratio": "DOUBLE", "step_drop_kwh_daily": "DOUBLE", "low_run_max_90d": "BIGINT",
    "has_charger_connection": "BOOLEAN",
    "reading_days_12m": "BIGINT", "low_days_12m": "BIGINT", "kwh_daily_mean_12m": "DOUBLE",
    "kwh_daily_mean_summer": "DOUBLE", "kwh_daily_mean_winter": "DOUBLE", "kwh_daily_mean_shoulder": "DOUBLE",
    "kwh_daily_mean_weekend": "DOUBLE", "kwh_daily_mean_weekday": "DOUBLE", "valley_share_12m": "DOUBLE",
    "kwh_daily_p10_12m": "DOUBLE", "peak_zero_days_12m": "BIGINT",
    "valley_kwh_daily_mean_recent": "DOUBLE", "valley_share_swing_recent": "DOUBLE",
}


def build_segments(con: duckdb.DuckDBPyConnection, as_of: date, params: Params,
                   previous: duckdb.DuckDBPyConnection | None = None,
                   readings_files: list[Path] | None = None) -> dict[str, int]:
    """Create the segment tables in `con` for `as_of`; return rows per table to publish.

    With `readings_files` (the run's usage_daily parts), the models over the daily readings read
    those instead of the `readings` view: the same rows within the published window, which such
    models stay within, without scanning the raw exports again (care_alerts at 1M customers: 1.9 s
    → 0.8 s for its read of the readings).
    """
    values = {**param_values(as_of, params), **KEY_USER_WEIGHTS, "key_user_min_score": KEY_USER_MIN_SCORE}
    _ensure_disc_signals(con, values)
    _create_inputs(con)

    disc_model = disc_types.fit_disc_model(con, previous)
    _create_disc_types(con, disc_model)
    shape_model = load_shapes.fit_load_shape_model(con, params, previous)
    _create_load_shapes(con, shape_model, params)
    _run_model(con, "customer_values", values, temp=True)
    for name in ("care_alerts", "segments", "service_gaps", "experience_map", "power_access"):
        _run_model(con, name, values, readings_files=readings_files)

    _write_models(con, params, disc_model, shape_model)
    _write_profiles(con, disc_model, shape_model)
    return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0] for t in PUBLISHED}


def _relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    # Canonical tables may be views over the validated rows, so look at both.
    return {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal"
    ).fetchall()}


def _ensure_disc_signals(con: duckdb.DuckDBPyConnection, values: dict[str, object]) -> None:
    # The features stage builds it; a caller that built features from another folder still gets it.
    if "disc_signal_features" in _relations(con):
        return
    model = next(m for m in feature_models() if m.name == "disc_signal_features")
    con.execute(f"CREATE OR REPLACE TABLE disc_signal_features AS {render_sql(model.sql, values, str(model.path))}")


def _create_inputs(con: duckdb.DuckDBPyConnection) -> None:
    have = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'features'").fetchall()}
    if "customer_id" not in have:
        raise ValueError("table `features` is missing; run the features stage before the segments stage")
    missing = [c for c in FEATURE_COLUMNS if c not in have]
    if missing:
        log.warning("segments: features lack %s; they read as NULL", ", ".join(missing))
    cols = ", ".join(f'"{c}"' if c in have else f'CAST(NULL AS {t}) AS "{c}"' for c, t in FEATURE_COLUMNS.items())
    con.execute(f"CREATE OR REPLACE TEMP VIEW segment_features AS SELECT customer_id, {cols} FROM features")
    if "contact_text" in _relations(con):
        con.execute("CREATE OR REPLACE TEMP VIEW segment_contact_text AS "
                    "SELECT ticket_id, sentiment_score, topic, evidence FROM contact_text")
    else:  # without the text stage the map has volumes but no sentiment, and gaps have no topics
        con.execute("CREATE OR REPLACE TEMP VIEW segment_contact_text AS SELECT ticket_id, "
                    "CAST(NULL AS DOUBLE) AS sentiment_score, '其他' AS topic, '' AS evidence FROM contacts")


def _create_disc_types(con: duckdb.DuckDBPyConnection, model: ClusterModel | None) -> None:
    con.execute(f"CREATE OR REPLACE TEMP TABLE disc_types AS {disc_types.disc_types_sql(model)}")
    con.execute("CREATE OR REPLACE TEMP TABLE disc_advice (code VARCHAR, disc_type VARCHAR, disc_advice_do VARCHAR, "
                "disc_advice_avoid VARCHAR, disc_opening VARCHAR)")
    con.executemany("INSERT INTO disc_advice VALUES (?, ?, ?, ?, ?)", disc_types.disc_advice_rows())


def _create_load_shapes(con: duckdb.DuckDBPyConnection, model: ClusterModel | None, params: Params) -> None:
    con.execute(f"CREATE OR REPLACE TEMP TABLE load_shapes AS {load_shapes.load_shapes_sql(model, params)}")


def _run_model(con: duckdb.DuckDBPyConnection, name: str, values: dict[str, object], temp: bool = False,
               readings_files: list[Path] | None = None) -> None:
    path = SEGMENT_SQL / f"{name}.sql"
    sql = render_sql(path.read_text(encoding="utf-8"), values, str(path))
    if readings_files:
        sql = from_parts(sql, readings_files)
    con.execute(f'CREATE OR REPLACE {"TEMP " if temp else ""}TABLE "{name}" AS {sql}')


def _write_models(con: duckdb.DuckDBPyConnection, params: Params,
                  disc_model: ClusterModel | None, shape_model: ClusterModel | None) -> None:
    coverage = dict(con.execute(
        "SELECT disc_code IS NOT NULL, count(*) FROM disc_types GROUP BY ALL").fetchall())
    typed, total = coverage.get(True, 0), sum(coverage.values()) or 1
    cuts = con.execute(
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
    # No as_of column: the snapshot is the as-of, and open_snapshot adds one to the `_history` views.
    con.execute("CREATE OR REPLACE TABLE segment_models (model VARCHAR, version INTEGER, method VARCHAR, "
                "fitted_rows BIGINT, params_json VARCHAR, spec_json VARCHAR)")
    con.executemany("INSERT INTO segment_models VALUES (?, ?, ?, ?, ?, ?)", rows)


def _write_profiles(con: duckdb.DuckDBPyConnection, disc_model: ClusterModel | None,
                    shape_model: ClusterModel | None) -> None:
    profiles = disc_types.disc_profiles(con, disc_model) + load_shapes.load_shape_profiles(con, shape_model)
    tiers = con.execute("""
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
    con.execute("CREATE OR REPLACE TABLE segment_profiles (model VARCHAR, cluster INTEGER, code VARCHAR, name VARCHAR, "
                "size BIGINT, share DOUBLE, profile VARCHAR)")
    con.executemany("INSERT INTO segment_profiles VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(p["model"], p["cluster"], p["code"], p["name"], p["size"], round(p["share"], 4), p["profile"])
                     for p in profiles])


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
