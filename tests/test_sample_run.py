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
