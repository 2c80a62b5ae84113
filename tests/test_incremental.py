"""Incremental run: the sample split at 2025-11-30, the December exports added with --incremental,
gives the same features, tags and segments as full runs over every export."""
from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipeline.errors import ConfigError, PortraitError
from pipeline.run import run_pipeline
from pipeline.sample_exports import split_exports
from pipeline.settings import settings_from_dict
from pipeline.store import snapshot
from tests.conftest import SAMPLE

NOV, DEC = date(2025, 11, 30), date(2025, 12, 31)


def _settings(source: Path, store: Path, as_of: date, **extra):
    return settings_from_dict({"as_of": as_of.isoformat(), "store": str(store), "source": str(source), **extra})


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("incremental")
    counts = split_exports(SAMPLE / "exports", NOV, tmp / "base", tmp / "delta")
    # Both sides hold data rows, so the test exercises a real split.
    assert counts["日电量宽表_202512.csv"] == (0, -1) and counts["客服工单.csv"][1] > 100
    full, inc = tmp / "full", tmp / "inc"
    run_pipeline(_settings(SAMPLE / "exports", full, NOV))
    full_dec = run_pipeline(_settings(SAMPLE / "exports", full, DEC))
    run_pipeline(_settings(tmp / "base", inc, NOV))
    inc_dec = run_pipeline(_settings(tmp / "delta", inc, DEC, incremental=True))
    return full, inc, full_dec, inc_dec, tmp


def _table(store: Path, name: str) -> tuple[list[str], dict[str, tuple]]:
    path = snapshot(store, DEC).table_path(name)
    con = duckdb.connect()
    rel = con.sql(f"SELECT * FROM read_parquet('{path}') ORDER BY customer_id")
    cols, rows = rel.columns, rel.fetchall()
    con.close()
    return cols, {r[cols.index("customer_id")]: r for r in rows}


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


@pytest.mark.parametrize("table", ["tags_wide", "features", "segments"])
def test_incremental_snapshot_equals_the_full_run(stores, table) -> None:
    full, inc, *_ = stores
    cols_full, rows_full = _table(full, table)
    cols_inc, rows_inc = _table(inc, table)
    assert cols_inc == cols_full
    assert len(rows_full) > 1000 and rows_inc.keys() == rows_full.keys()
    differ = [(cid, col) for cid, row in rows_full.items() for col, a, b in zip(cols_full, row, rows_inc[cid])
              if not _same(a, b)]
    assert differ == [], f"{len(differ)} values differ, e.g. {differ[:5]}"


def test_incremental_run_reads_only_the_new_exports_and_reuses_the_base(stores) -> None:
    full, inc, full_dec, inc_dec, _ = stores
    manifest = snapshot(inc, DEC).manifest()
    assert manifest["incremental"]["base_as_of"] == NOV.isoformat()
    base_inputs = [i for i in manifest["inputs"] if i.get("base_snapshot")]
    assert {i["table"] for i in base_inputs} >= {"readings", "bills", "payments", "contacts"}
    assert all(i["label"].startswith("snapshot 2025-11-30/") for i in base_inputs)
    # 客户档案 came with the new exports: it replaces the base's instead of being read twice.
    assert [i["table"] for i in manifest["inputs"]].count("customers") == 1
    # Every accepted row of the full run is accepted here too, table by table.
    for table, c in full_dec.counts.items():
        assert inc_dec.counts[table].accepted == c.accepted, table
    # The applications export came in both halves: the repeats are rejected, naming the snapshot file.
    reasons = inc_dec.counts["applications"].reasons
    assert reasons.get("duplicate", 0) > 0
    con = duckdb.connect()
    msg = con.execute(f"SELECT message FROM read_parquet('{snapshot(inc, DEC).table_path('rejects')}') "
                      "WHERE table_name = 'applications' AND reason = 'duplicate' LIMIT 1").fetchone()[0]
    con.close()
    assert "snapshot 2025-11-30/applications.parquet" in msg
    # Only December's contacts were classified; the rest came from the base snapshot's contact_text.
    assert inc_dec.rows["contact_text"] == full_dec.rows["contact_text"]
    # The runs list (API and dashboard) says which run was incremental, and from which snapshot.
    from pipeline.api import open_store

    with open_store(inc) as store:
        runs = store.runs().df()
    assert [str(d)[:10] for d in runs["base_as_of"].dropna()] == [NOV.isoformat()] and runs["base_as_of"].isna().sum() == 1


def test_incremental_needs_an_earlier_snapshot(tmp_path) -> None:
    with pytest.raises(ConfigError, match="no snapshot before"):
        run_pipeline(_settings(SAMPLE / "exports", tmp_path / "empty", DEC, incremental=True))


def test_incremental_is_refused_on_spark(tmp_path) -> None:
    with pytest.raises(PortraitError, match="DuckDB engine"):
        run_pipeline(_settings(SAMPLE / "exports", tmp_path / "s", DEC, incremental=True, engine="spark"))
