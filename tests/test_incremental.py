"""Incremental run: the sample split at 2025-11-30, the December exports added with --incremental,
gives the same features, tags and segments as full runs over every export."""
from __future__ import annotations

import math
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipeline.errors import ConfigError, PortraitError
from pipeline.run import run_pipeline
from pipeline.sample_exports import split_exports
from pipeline.settings import settings_from_dict
from pipeline.store import snapshot
from tests.conftest import SAMPLE, customer_rows, write_csv

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


def _table(store: Path, name: str, as_of: date = DEC) -> tuple[list[str], dict[str, tuple]]:
    path = snapshot(store, as_of).table_path(name)
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


def _daily_difference(a: Path, b: Path) -> tuple[int, int, int]:
    """Rows of usage_daily folder `a`, and rows only in `a` / only in `b` (as multisets)."""
    con = duckdb.connect()
    ra, rb = f"read_parquet('{a}/*.parquet')", f"read_parquet('{b}/*.parquet')"
    n = con.execute(f"SELECT count(*) FROM {ra}").fetchone()[0]
    only_a = con.execute(f"SELECT count(*) FROM (SELECT * FROM {ra} EXCEPT ALL SELECT * FROM {rb})").fetchone()[0]
    only_b = con.execute(f"SELECT count(*) FROM (SELECT * FROM {rb} EXCEPT ALL SELECT * FROM {ra})").fetchone()[0]
    con.close()
    return n, only_a, only_b


def test_incremental_keeps_the_base_daily_readings_and_adds_the_month(stores) -> None:
    full, inc, *_ = stores
    daily = snapshot(inc, DEC).table_path("usage_daily")
    n, only_inc, only_full = _daily_difference(daily, snapshot(full, DEC).table_path("usage_daily"))
    assert n > 100_000 and only_inc == 0 and only_full == 0
    # The base's part files are shared (hard links), not written again; December's rows are new files.
    base = {f.stat().st_ino for f in snapshot(inc, NOV).table_path("usage_daily").glob("*.parquet")}
    now = {f.stat().st_ino for f in daily.glob("*.parquet")}
    assert base and base < now


def test_incremental_drops_the_days_that_leave_the_window(stores, tmp_path) -> None:
    """A later as-of moves the 400-day window past the base's first day: the base's part is rewritten
    without it, and the snapshot still equals a full run's."""
    full, inc, *_ = stores
    as_of = date(2026, 1, 5)  # the window starts after 2024-12-01, the sample's first reading day
    new = tmp_path / "new"
    new.mkdir()
    shutil.copy(SAMPLE / "exports" / "客户档案.csv", new)  # only master data this time
    store, full_store = tmp_path / "inc", tmp_path / "full"
    shutil.copytree(inc, store)
    run_pipeline(_settings(new, store, as_of, incremental=True))
    run_pipeline(_settings(SAMPLE / "exports", full_store, as_of))
    daily = snapshot(store, as_of).table_path("usage_daily")
    n, only_inc, only_full = _daily_difference(daily, snapshot(full_store, as_of).table_path("usage_daily"))
    assert n > 100_000 and only_inc == 0 and only_full == 0
    first = duckdb.connect().execute(f"SELECT min(reading_date) FROM read_parquet('{daily}/*.parquet')").fetchone()[0]
    assert first == date(2024, 12, 2)
    for table in ("tags_wide", "features"):
        (cols, rows_inc), (_, rows_full) = _table(store, table, as_of), _table(full_store, table, as_of)
        assert rows_inc.keys() == rows_full.keys()
        differ = [(cid, col) for cid, row in rows_full.items() for col, a, b in zip(cols, row, rows_inc[cid])
                  if not _same(a, b)]
        assert differ == [], f"{table}: {len(differ)} values differ, e.g. {differ[:5]}"


def test_incremental_checks_new_rows_against_the_stored_ones(tmp_path) -> None:
    """The stored readings are not checked row by row again, but a new row repeating a stored day is
    still the duplicate, and a customer the new 客户档案 drops takes its stored readings with it."""
    base, new, store = tmp_path / "nov", tmp_path / "dec", tmp_path / "store"
    ids = [r[0] for r in customer_rows(3)[1:]]
    write_csv(base / "客户档案.csv", customer_rows(3))
    write_csv(base / "日电量.csv", [["户号", "数据日期", "日电量"]]
              + [[cid, f"2025-11-{d:02d}", i + d] for i, cid in enumerate(ids) for d in range(1, 31)])
    write_csv(new / "客户档案.csv", customer_rows(3)[:3])  # the third customer has left
    write_csv(new / "日电量.csv", [["户号", "数据日期", "日电量"], [ids[0], "2025-11-30", 9],
                                  [ids[0], "2025-12-01", 4], [ids[1], "2025-12-01", 5]])
    run_pipeline(_settings(base, store, NOV))
    result = run_pipeline(_settings(new, store, DEC, incremental=True))
    c = result.counts["readings"]
    assert c.balanced and (c.read, c.accepted) == (93, 62)
    assert c.reasons == {"unknown_customer": 30, "duplicate": 1}
    snap = snapshot(store, DEC)
    con = duckdb.connect()
    msg = con.execute(f"SELECT message FROM read_parquet('{snap.table_path('rejects')}') "
                      "WHERE table_name = 'readings' AND reason = 'duplicate'").fetchone()[0]
    assert msg.startswith("日电量.csv line 2") and "snapshot 2025-11-30/usage_daily.parquet/part-00000-0.parquet" in msg
    daily = con.execute(f"SELECT customer_id, count(*), sum(kwh) FROM read_parquet('{snap.table_path('usage_daily')}') "
                        "GROUP BY 1 ORDER BY 1").fetchall()
    con.close()
    # the stored 30 kWh of 2025-11-30 stays (not the repeat's 9); the departed customer is gone
    assert daily == [(ids[0], 31, sum(range(1, 31)) + 4), (ids[1], 31, sum(range(2, 32)) + 5)]


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
