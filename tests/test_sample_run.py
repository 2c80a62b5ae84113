"""Golden checks of the spine on the committed sample: row accounting, planted defects, features."""
from __future__ import annotations

import json
import time

import pandas as pd

from pipeline.run import run_pipeline
from pipeline.store import open_snapshot, snapshot
from tests.conftest import SAMPLE, settings_for

# Generator defect kinds -> the reject reason the pipeline must give them.
DEFECT_REASONS = {"duplicate_row": "duplicate", "invalid_period": "bad_date", "unknown_customer": "unknown_customer",
                  "invalid_timestamp": "bad_timestamp", "negative_value": "out_of_range"}


def test_every_table_balances_on_the_sample(sample_store):
    manifest = snapshot(sample_store).manifest()
    for table, c in manifest["counts"].items():
        assert c["accepted"] + c["rejected"] == c["read"], table
    assert manifest["counts"]["customers"]["accepted"] >= 2000
    assert manifest["counts"]["readings"]["read"] >= 2000 * 395


def test_planted_defects_are_rejected_at_their_line_and_nothing_else(sample_store):
    defects = pd.read_csv(SAMPLE / "truth" / "defects.csv", dtype=str)
    expected = {(r.file, int(r.row) + 1, DEFECT_REASONS[r.kind]) for r in defects.itertuples()}
    con = open_snapshot(sample_store)
    got = set(con.execute("SELECT source, line, reason FROM rejects").fetchall())
    assert got == expected


def test_features_cover_every_customer(sample_store):
    con = open_snapshot(sample_store)
    n_customers = con.execute("SELECT count(*) FROM customers").fetchone()[0]
    assert con.execute("SELECT count(*), count(DISTINCT customer_id) FROM features").fetchone() == (n_customers, n_customers)
    # Leading zeros survive from export to features.
    assert con.execute("SELECT count(*) FROM features WHERE customer_id LIKE '0%'").fetchone()[0] > 0
    row = con.execute("SELECT min(reading_days_12m), max(reading_days_12m), count(bills_12m) FROM features").fetchone()
    assert row[1] == 365 and row[2] > 0.9 * n_customers


def test_manifest_records_inputs_mapping_and_timings(sample_store):
    manifest = snapshot(sample_store).manifest()
    labels = {i["label"]: i for i in manifest["inputs"]}
    assert labels["缴费记录.csv"]["encoding"] == "gb18030"
    assert labels["日电量宽表_202512.csv"]["mapping"]["wide_days"] == 31
    assert labels["日电量宽表_202512.csv"]["mapping"]["unknown_columns"] == ["电表资产号"]
    assert labels["业扩报装.xlsx"]["format"] == "excel"
    assert labels["客户档案.csv"]["mapping"]["columns"]["customer_id"] == "户号"
    assert manifest["code_version"] and manifest["as_of"] == "2025-12-31"
    assert json.dumps(manifest, ensure_ascii=False).count("sha256") == len(manifest["inputs"])


def test_a_sample_run_takes_under_30_seconds(tmp_path):
    start = time.perf_counter()
    result = run_pipeline(settings_for(SAMPLE / "exports", tmp_path / "store"))
    elapsed = time.perf_counter() - start
    assert result.balanced and elapsed < 30, result.timings


def test_a_hand_broken_copy_of_the_sample_loses_no_row(tmp_path):
    import shutil

    from pipeline.engine import connect
    from pipeline.run import _ingest_and_validate

    exports = tmp_path / "exports"
    shutil.copytree(SAMPLE / "exports", exports)
    cust = exports / "客户档案.csv"
    lines = cust.read_text(encoding="utf-8-sig").splitlines()
    lines.append(lines[5])                                  # a duplicated 户号
    lines[10] = lines[10].replace("城乡居民生活用电", "居民用电??", 1)  # an unknown category
    cust.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    bills = exports / "电费账单.csv"
    blines = bills.read_text(encoding="utf-8").splitlines()
    blines[20] = blines[20].replace(blines[20].split(",")[1], "2025/02/31", 1)  # a bad month
    bills.write_text("\n".join(blines) + "\n", encoding="utf-8")

    con = connect()
    _, _, _, counts = _ingest_and_validate(con, settings_for(exports, tmp_path / "store"), tmp_path, {}, None)
    assert all(c.balanced for c in counts.values())
    rejects = set(con.execute("SELECT source, line, reason FROM rejects WHERE source IN ('客户档案.csv', '电费账单.csv')").fetchall())
    assert ("客户档案.csv", len(lines), "duplicate") in rejects
    assert ("客户档案.csv", 11, "unknown_value") in rejects
    assert ("电费账单.csv", 21, "bad_date") in rejects
    assert counts["customers"].accepted == 1999 and counts["customers"].read == 2001
