"""The store: atomic publish, per-as-of replacement, read-only access, and failed-run manifests."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipeline import store as store_mod
from pipeline.errors import StoreError
from pipeline.run import run_pipeline
from pipeline.store import open_snapshot, read_pointer, snapshot, snapshots
from tests.conftest import customer_rows, settings_for, write_csv


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    write_csv(folder / "客户档案.csv", customer_rows(3))
    write_csv(folder / "日电量.csv", [["户号", "数据日期", "日电量"]] + [
        ["0012345678", f"2025-11-{d:02d}", str(d)] for d in range(1, 31)] + [
        ["0012345678", f"2025-12-{d:02d}", str(d)] for d in range(1, 32)])
    return folder


def _customer_count(store: Path, as_of: date | None = None) -> int:
    con = open_snapshot(store, as_of)
    return con.execute("SELECT count(*) FROM customers").fetchone()[0]


def test_publish_layout_pointer_and_manifest(exports: Path, tmp_path: Path):
    store = tmp_path / "store"
    result = run_pipeline(settings_for(exports, store))
    pointer = read_pointer(store)
    assert list(pointer["snapshots"]) == ["2025-12-31"]
    snap = snapshot(store)
    assert snap.path == result.snapshot and snap.run_id == result.run_id
    assert {"customers", "usage_daily", "features", "rejects", "bills", "contacts"} <= set(snap.tables())
    manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    assert manifest["status"] == "published" and manifest["as_of"] == "2025-12-31"
    assert manifest["counts"]["readings"] == {**manifest["counts"]["readings"], "read": 61, "accepted": 61, "rejected": 0}
    assert {i["label"] for i in manifest["inputs"]} == {"客户档案.csv", "日电量.csv"}
    assert all(len(i["sha256"]) == 64 and i["size"] > 0 for i in manifest["inputs"])
    assert set(manifest["timings"]) >= {"ingest", "validate", "features", "publish"}
    assert not (store / ".work" / result.run_id).exists()  # scratch removed


def test_crash_mid_publish_leaves_previous_snapshot_untouched(exports: Path, tmp_path: Path, monkeypatch):
    store = tmp_path / "store"
    first = run_pipeline(settings_for(exports, store))
    before = (store / "store.json").read_text(encoding="utf-8")
    write_csv(exports / "客户档案.csv", customer_rows(5))

    real_rename = store_mod.os.rename

    def crash(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(store_mod.os, "rename", crash)
    with pytest.raises(OSError):
        run_pipeline(settings_for(exports, store))
    monkeypatch.setattr(store_mod.os, "rename", real_rename)
    assert (store / "store.json").read_text(encoding="utf-8") == before
    assert snapshot(store).path == first.snapshot and _customer_count(store) == 3
    failed = [json.loads(p.read_text()) for p in (store / "runs").glob("*.json")]
    assert sorted(m["status"] for m in failed) == ["failed", "published"]
    assert any("disk full" in (m["error"] or "") for m in failed)
    # The next good run cleans up the half-written directory and publishes.
    run_pipeline(settings_for(exports, store))
    assert _customer_count(store) == 5
    assert not list((store / "snapshots" / "2025-12-31").glob(".tmp-*"))


def test_rerun_replaces_only_its_own_as_of(exports: Path, tmp_path: Path):
    store = tmp_path / "store"
    run_pipeline(settings_for(exports, store).with_(as_of=date(2025, 11, 30)))
    run_pipeline(settings_for(exports, store))
    nov = snapshot(store, date(2025, 11, 30))
    write_csv(exports / "客户档案.csv", customer_rows(4))
    run_pipeline(settings_for(exports, store))
    assert [s.as_of for s in snapshots(store)] == [date(2025, 11, 30), date(2025, 12, 31)]
    assert snapshot(store, date(2025, 11, 30)) == nov and _customer_count(store, date(2025, 11, 30)) == 3
    assert _customer_count(store) == 4
    con = open_snapshot(store)
    assert con.execute("SELECT as_of, count(*) FROM customers_history GROUP BY 1 ORDER BY 1").fetchall() == [
        (date(2025, 11, 30), 3), (date(2025, 12, 31), 4)]
    assert con.execute("SELECT count(*) FROM runs WHERE status = 'published'").fetchone()[0] == 3


def test_readers_cannot_write(exports: Path, tmp_path: Path):
    store = tmp_path / "store"
    run_pipeline(settings_for(exports, store))
    con = open_snapshot(store)
    with pytest.raises(duckdb.Error):
        con.execute("INSERT INTO customers SELECT * FROM customers")
    with pytest.raises(StoreError):
        snapshot(store, date(2020, 1, 1))
    with pytest.raises(StoreError, match="not a portrait store"):
        snapshots(tmp_path / "nowhere")


def test_a_bad_export_fails_the_run_without_publishing(exports: Path, tmp_path: Path):
    store = tmp_path / "store"
    run_pipeline(settings_for(exports, store))
    write_csv(exports / "电费账单.csv", [["户号", "电费金额"], ["0012345678", "10"]])
    from pipeline.errors import MappingError
    with pytest.raises(MappingError):
        run_pipeline(settings_for(exports, store))
    assert _customer_count(store) == 3


def test_a_run_that_fails_beside_the_text_stage_stops_it(tmp_path: Path, monkeypatch):
    """Text runs in the background from validate to the models over contacts; a failure in between
    fails the run with its own error and stops the text job at its next batch."""
    import threading
    import time

    import pipeline.run as run_mod
    from conftest import SAMPLE
    from pipeline.stages import text as text_stage

    real = text_stage.classify_texts
    batches = []

    def slow(texts):  # one contact a batch, 0.1 s each: the sample's contacts would take minutes
        batches.append(len(texts))
        time.sleep(0.1)
        return real(texts)

    def broken(*args, **kwargs):
        raise OSError("usage_daily: disk full (simulated)")

    monkeypatch.setattr(text_stage, "BATCH_ROWS", 1)
    monkeypatch.setattr(text_stage, "classify_texts", slow)
    monkeypatch.setattr(run_mod, "write_usage_daily", broken)
    with pytest.raises(OSError, match="disk full"):
        run_pipeline(settings_for(SAMPLE / "exports", tmp_path / "store"))
    assert not any(t.name == "portrait-text" for t in threading.enumerate())
    done = len(batches)
    time.sleep(0.3)
    assert len(batches) == done < 50  # stopped, after a few of the sample's contacts
    failed = [json.loads(p.read_text()) for p in (tmp_path / "store" / "runs").glob("*.json")]
    assert [m["status"] for m in failed] == ["failed"] and "disk full" in failed[0]["error"]


def test_the_manifest_times_text_as_what_it_adds_and_as_its_own_time(tmp_path: Path):
    from conftest import SAMPLE

    result = run_pipeline(settings_for(SAMPLE / "exports", tmp_path / "store"))
    manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    assert list(manifest["background_seconds"]) == ["text"] and manifest["background_seconds"]["text"] > 0
    assert 0 <= manifest["timings"]["text"] <= manifest["background_seconds"]["text"] + 0.5
    assert manifest["total_seconds"] == round(sum(manifest["timings"].values()), 3)
    assert list(manifest["timings"])[:4] == ["ingest", "validate", "usage_daily", "features"]


@pytest.mark.parametrize("failing", ["tags", "segments"])
def test_a_failure_after_text_fails_the_run_with_its_own_error(tmp_path: Path, monkeypatch, failing):
    """A stage failing after the text job finished fails the run with its own error; nothing is left running."""
    import threading

    from conftest import SAMPLE
    from pipeline.stages import segments as segments_stage
    from pipeline.stages import tags as tags_stage

    def broken(*args, **kwargs):
        raise RuntimeError(f"{failing}: broken on purpose")

    module = tags_stage if failing == "tags" else segments_stage
    monkeypatch.setattr(module, "evaluate_tags" if failing == "tags" else "build_segments", broken)
    with pytest.raises(RuntimeError, match=f"{failing}: broken on purpose"):
        run_pipeline(settings_for(SAMPLE / "exports", tmp_path / "store"))
    assert not any(t.name.startswith("portrait-") and t.is_alive() for t in threading.enumerate())
    failed = [json.loads(p.read_text()) for p in (tmp_path / "store" / "runs").glob("*.json")]
    assert [m["status"] for m in failed] == ["failed"] and "broken on purpose" in failed[0]["error"]
