"""K-means cluster models: fitted on a sample with scikit-learn, applied to every customer in SQL.

A fitted model is a handful of numbers (standardisation constants and centroids), so it is saved as
JSON with the snapshot and inlined into a SQL expression that assigns a million customers in the
engine. Fitting is deterministic: the sample is chosen by a hash of the customer id (not by row
order) and k-means runs with a fixed seed.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Callable

import duckdb
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

FIT_SAMPLE_ROWS = 50_000
SEED = 20251231
N_INIT = 10


@dataclass(frozen=True)
class ClusterModel:
    """A fitted k-means model: features, standardisation constants, centroids and a name per cluster."""

    model: str
    version: int
    features: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    centroids: tuple[tuple[float, ...], ...]  # in standardised units
    names: tuple[str, ...]  # the segment each cluster stands for, e.g. "D" or "夏季空调型"
    temperature: float  # softmax scale of the membership scores, in squared standardised distance
    n_fit: int
    seed: int
    naming: str  # "rules": named from the centroids; "previous": names carried over from last month

    def to_json(self) -> str:
        """Return the model as JSON text."""
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ClusterModel":
        """Return the model saved by `to_json`."""
        raw = json.loads(text)
        raw["features"] = tuple(raw["features"])
        raw["means"] = tuple(raw["means"])
        raw["scales"] = tuple(raw["scales"])
        raw["centroids"] = tuple(tuple(c) for c in raw["centroids"])
        raw["names"] = tuple(raw["names"])
        return cls(**raw)

    def raw_centroids(self) -> np.ndarray:
        """Return the centroids in the features' own units."""
        return np.asarray(self.centroids) * np.asarray(self.scales) + np.asarray(self.means)


def fit_sample(con: duckdb.DuckDBPyConnection, source: str, exprs: dict[str, str], where: str,
               limit: int = FIT_SAMPLE_ROWS) -> np.ndarray:
    """Return up to `limit` rows of the feature expressions, chosen by a hash of customer_id."""
    cols = ", ".join(f"CAST({e} AS DOUBLE) AS \"{n}\"" for n, e in exprs.items())
    # md5 of the id, not row order, picks the sample: permuting the input cannot change the fit.
    sql = (f"SELECT {cols} FROM {source} WHERE {where} "
           f"ORDER BY md5(customer_id), customer_id LIMIT {int(limit)}")
    table = con.sql(sql).to_arrow_table()
    if table.num_rows == 0:
        return np.empty((0, len(exprs)))
    return np.column_stack([table.column(n).to_numpy(zero_copy_only=False).astype(float) for n in exprs])


def fitted_model(model: str, version: int, features: tuple[str, ...], rows: np.ndarray, k: int,
                 name_clusters: Callable[[np.ndarray, np.ndarray], tuple[str, ...]],
                 previous: ClusterModel | None = None) -> ClusterModel | None:
    """Return a k-means model fitted on `rows`, named from last month's model when it still fits, else by rule.

    `name_clusters` gets the centroids standardised and in the features' own units, and returns a name per cluster.
    Returns None when there are fewer rows than clusters.
    """
    rows = np.asarray(rows, dtype=float)
    if len(rows) < max(k, 2):
        return None
    means = np.nanmean(rows, axis=0)
    means = np.where(np.isnan(means), 0.0, means)
    filled = np.where(np.isnan(rows), means, rows)  # a missing signal sits at the average
    scales = filled.std(axis=0)
    scales = np.where(scales > 1e-9, scales, 1.0)
    z = (filled - means) / scales
    usable = previous if previous is not None and previous.features == features and len(previous.names) == k else None
    # One thread: on a 2-core box shared with DuckDB, OpenMP k-means is ~50x slower than serial on 50k rows.
    with threadpool_limits(limits=1):
        if usable is not None:
            init = (usable.raw_centroids() - means) / scales
            km = KMeans(n_clusters=k, init=init, n_init=1, random_state=SEED).fit(z)
        else:
            km = KMeans(n_clusters=k, n_init=N_INIT, random_state=SEED).fit(z)
    centroids = km.cluster_centers_
    names, naming = None, "rules"
    if usable is not None:
        names = _names_from_previous(centroids, (usable.raw_centroids() - means) / scales, usable.names)
        naming = "previous" if names is not None else "rules"
    if names is None:
        names = tuple(name_clusters(centroids, centroids * scales + means))
    # Half the mean squared distance to the own centroid: a typical member scores about 0.6-0.9 for its
    # cluster, a customer half-way between two clusters about half each (checked on the sample).
    temperature = float(km.inertia_ / len(z) / 2) or 1.0
    return ClusterModel(model, version, features, tuple(map(float, means)), tuple(map(float, scales)),
                        tuple(tuple(map(float, c)) for c in centroids), tuple(names), temperature,
                        len(z), SEED, naming)


def _names_from_previous(centroids: np.ndarray, previous: np.ndarray, names: tuple[str, ...]) -> tuple[str, ...] | None:
    """Return last month's names for this month's clusters, or None when the clusters moved too far to match."""
    dist = np.linalg.norm(centroids[:, None, :] - previous[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(dist)
    gaps = np.linalg.norm(previous[:, None, :] - previous[None, :, :], axis=2)
    nearest_other = np.min(gaps + np.eye(len(previous)) * 1e9)
    # A cluster that drifted more than half-way to another one is no longer "the same behaviour".
    if dist[rows, cols].max() > 0.5 * nearest_other:
        return None
    out = [""] * len(centroids)
    for r, c in zip(rows, cols):
        out[r] = names[c]
    return tuple(out)


def assignment_sql(m: ClusterModel, exprs: dict[str, str], source: str, where: str = "TRUE") -> str:
    """Return SQL selecting customer_id, `cluster` (nearest centroid), `cluster_name`, `z_<feature>` and `p<k>` membership."""
    zs = []
    for name, mean, scale in zip(m.features, m.means, m.scales):
        zs.append(f"(COALESCE(CAST({exprs[name]} AS DOUBLE), {mean!r}) - {mean!r}) / {scale!r} AS \"z_{name}\"")
    dists = []
    for k, c in enumerate(m.centroids):
        terms = " + ".join(f"pow(\"z_{f}\" - {v!r}, 2)" for f, v in zip(m.features, c))
        dists.append(f"{terms} AS d{k}")
    ks = range(len(m.centroids))
    d_list = ", ".join(f"d{k}" for k in ks)
    nearest = f"list_position([{d_list}], least({d_list})) - 1"
    # Membership is a softmax over distances, scaled by the clusters' own spread: a customer between
    # two clusters gets about half of each.
    t = repr(m.temperature)
    weights = [f"exp(-(d{k} - least({d_list})) / {t})" for k in ks]
    total = " + ".join(weights)
    probs = ", ".join(f"{w} / ({total}) AS p{k}" for k, w in zip(ks, weights))
    names = ", ".join("'" + n.replace("'", "''") + "'" for n in m.names)
    zcols = ", ".join(f'"z_{f}"' for f in m.features)
    return (
        f"WITH z AS (SELECT customer_id, {', '.join(zs)} FROM {source} WHERE {where}), "
        f"d AS (SELECT customer_id, {zcols}, {', '.join(dists)} FROM z) "
        f"SELECT customer_id, {zcols}, CAST({nearest} AS INTEGER) AS cluster, "
        f"[{names}][{nearest} + 1] AS cluster_name, {probs} FROM d"
    )


def previous_model(previous: duckdb.DuckDBPyConnection | None, model: str) -> ClusterModel | None:
    """Return the model of that name saved in the previous snapshot's `segment_models`, if any."""
    if previous is None:
        return None
    try:
        found = previous.execute("SELECT params_json FROM segment_models WHERE model = ?", [model]).fetchall()
    except duckdb.Error:  # an older snapshot without segments
        return None
    if not found:
        return None
    try:
        return ClusterModel.from_json(found[0][0])
    except (KeyError, TypeError, ValueError):
        return None
