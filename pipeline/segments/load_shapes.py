"""Load shapes (负荷形态): households clustered on the shape of their daily consumption, named by rule.

The inputs are ratios, not levels, so a small flat and a large flat household share a shape:
summer and winter against the shoulder months, weekend against weekdays, and the 谷 share. Three
groups are set apart by rule before clustering: customers without readings, vacant homes, and
rooftop-PV homes (many days with night use but no daytime import; their net curve says little about
how they live). Businesses get rule-based shapes: "夏季空调型" would mislabel an irrigation pump.
"""
from __future__ import annotations

import duckdb
import numpy as np

from pipeline.segments.clusters import ClusterModel, assignment_sql, fit_sample, fitted_model, previous_model
from pipeline.settings import Params

MODEL = "load_shape"
VERSION = 1
N_CLUSTERS = 8  # a few more than the names, so small groups (winter heating) get a cluster of their own
NO_DATA = "无数据"
VACANT = "空置型"
PV = "光伏型"

FEATURES: dict[str, str] = {
    "summer_index": "ln(greatest(f.kwh_daily_mean_summer, 0.01) / greatest(f.kwh_daily_mean_shoulder, 0.01))",
    "winter_index": "ln(greatest(f.kwh_daily_mean_winter, 0.01) / greatest(f.kwh_daily_mean_shoulder, 0.01))",
    "weekend_index": "ln(greatest(f.kwh_daily_mean_weekend, 0.01) / greatest(f.kwh_daily_mean_weekday, 0.01))",
    "valley_share": "f.valley_share_12m",
}
SOURCE = "segment_features f"
_HAS_READINGS = "COALESCE(f.reading_days_12m, 0) >= 60"


def _vacant(params: Params) -> str:
    return (f"(f.kwh_daily_mean_12m < {params.vacant_daily_kwh!r} "
            f"OR f.low_days_12m >= {params.vacant_low_day_share!r} * f.reading_days_12m)")


def _pv(params: Params) -> str:
    return f"COALESCE(f.peak_zero_days_12m, 0) >= {params.pv_zero_peak_days!r}"


def _household(params: Params) -> str:
    return (f"COALESCE(f.is_residential, TRUE) AND {_HAS_READINGS} AND NOT {_vacant(params)} "
            f"AND NOT {_pv(params)}")


def shape_names(params: Params):
    """Return a function naming household clusters from their centroids (in the features' own units)."""
    season = params.season_peak_ratio

    def name(centroids_z: np.ndarray, centroids_raw: np.ndarray) -> tuple[str, ...]:
        out = []
        for c in centroids_raw:
            f = dict(zip(FEATURES, c))
            summer, winter = np.exp(f["summer_index"]) - 1, np.exp(f["winter_index"]) - 1
            if f["valley_share"] >= params.valley_share_high:
                out.append("夜间型")  # charging an EV or storage heating at night
            # A centroid averages strong and mild households, so half the tag's season threshold names it.
            elif max(summer, winter) >= season / 2:
                if min(summer, winter) >= season / 3:
                    out.append("冬夏双峰型")
                else:
                    out.append("夏季空调型" if summer >= winter else "冬季采暖型")
            elif np.exp(f["weekend_index"]) >= 1.15:
                out.append("周末型")
            else:
                out.append("平稳型")
        return tuple(out)

    return name


def fit_load_shape_model(con: duckdb.DuckDBPyConnection, params: Params,
                         previous: duckdb.DuckDBPyConnection | None) -> ClusterModel | None:
    """Return the household load-shape model fitted on a sample (None when there are too few households)."""
    rows = fit_sample(con, SOURCE, FEATURES, _household(params))
    if len(rows) < 3 * N_CLUSTERS:
        return None
    return fitted_model(MODEL, VERSION, tuple(FEATURES), rows, N_CLUSTERS, shape_names(params),
                        previous_model(previous, MODEL))


def load_shapes_sql(m: ClusterModel | None, params: Params) -> str:
    """Return SQL for one row per customer: load_shape (a readable name) and load_shape_cluster."""
    season = params.season_peak_ratio
    business = f"""CASE
            WHEN f.kwh_daily_mean_weekend < 0.8 * f.kwh_daily_mean_weekday THEN '工作日型'
            WHEN greatest(f.kwh_daily_mean_summer, f.kwh_daily_mean_winter) >= {1 + season!r} * f.kwh_daily_mean_shoulder
                THEN '季节生产型'
            WHEN f.kwh_daily_p10_12m >= 0.6 * f.kwh_daily_mean_12m THEN '连续生产型'
            ELSE '平稳型' END"""
    if m is None:
        assigned = "SELECT NULL::VARCHAR AS customer_id, NULL::INTEGER AS cluster, NULL::VARCHAR AS cluster_name"
    else:
        assigned = assignment_sql(m, FEATURES, SOURCE, _household(params))
    return f"""
WITH a AS ({assigned})
SELECT f.customer_id,
       CASE WHEN NOT {_HAS_READINGS} THEN '{NO_DATA}'
            WHEN {_vacant(params)} THEN '{VACANT}'
            WHEN NOT COALESCE(f.is_residential, TRUE) THEN {business}
            WHEN {_pv(params)} THEN '{PV}'
            ELSE COALESCE(a.cluster_name, '{NO_DATA}') END AS load_shape,
       a.cluster AS load_shape_cluster
FROM segment_features f LEFT JOIN a USING (customer_id)
"""


def load_shape_profiles(con: duckdb.DuckDBPyConnection, m: ClusterModel | None) -> list[dict]:
    """Return one profile per household cluster and per rule-based shape: size, share, name, readable centroid."""
    counts = con.execute("SELECT load_shape, load_shape_cluster, count(*) FROM load_shapes GROUP BY ALL "
                         "ORDER BY load_shape_cluster NULLS LAST, load_shape").fetchall()
    total = sum(n for _, _, n in counts) or 1
    raw = m.raw_centroids() if m is not None else None
    out = []
    for shape, cluster, n in counts:
        if cluster is not None and raw is not None:
            f = dict(zip(FEATURES, raw[cluster]))
            profile = (f"夏季/春秋 {np.exp(f['summer_index']):.2f} 倍，冬季/春秋 {np.exp(f['winter_index']):.2f} 倍，"
                       f"周末/工作日 {np.exp(f['weekend_index']):.2f} 倍，谷电占比 {f['valley_share']:.0%}")
        elif shape == VACANT:
            profile = "日均用电低于空置阈值，或大多数日子几乎不用电"
        elif shape == PV:
            profile = "屋顶光伏：多日有夜间用电而白天不从电网取电（疑似光伏）"
        elif shape == NO_DATA:
            profile = "近一年日电量不足 60 天"
        else:
            profile = "非居民客户，按工作日/季节/基荷规则命名"
        out.append({"model": MODEL, "cluster": cluster, "code": shape, "name": shape, "size": n,
                    "share": n / total, "profile": profile})
    return out
