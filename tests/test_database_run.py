"""End to end from real databases: load the sample exports into PostgreSQL and MariaDB, run from
there with `portrait run --config`, and compare the canonical tables with the file-based run."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipeline.store import open_snapshot
from tests.conftest import SAMPLE
from tests.db_fixtures import load_frame, mysql_uri, postgres_uri  # noqa: F401

pytestmark = [pytest.mark.db, pytest.mark.slow]

EXPORTS = SAMPLE / "exports"
# Database tables as a marketing system would hold them, under their own (Chinese) column names.
DB_TABLES = {
    "customers": ("cust_archive", lambda: pd.read_csv(EXPORTS / "客户档案.csv", dtype=str, encoding="utf-8-sig")),
    "bills": ("bill_detail", lambda: pd.read_csv(EXPORTS / "电费账单.csv", dtype=str)),
    "payments": ("pay_record", lambda: pd.read_csv(EXPORTS / "缴费记录.csv", dtype=str, encoding="gbk")),
    "contacts": ("wo_95598", lambda: pd.read_csv(EXPORTS / "客服工单.csv", dtype=str)),
    "applications": ("app_flow", lambda: pd.read_excel(EXPORTS / "业扩报装.xlsx", dtype=str, engine="openpyxl")),
    "outages": ("outage_event", lambda: pd.read_csv(EXPORTS / "停电事件.csv", dtype=str)),
}
COMPARE = ("customers", "bills", "payments", "contacts", "applications", "outages", "features")


def _run_from_database(uri: str, tmp_path: Path) -> Path:
    for table, (db_table, frame) in DB_TABLES.items():
        load_frame(uri, db_table, frame().astype(object).where(lambda f: f.notna(), None))
    env_name = "GP_TEST_DSN"
    lines = ['as_of = "2025-12-31"', 'store = "store"']
    for table, (db_table, _) in DB_TABLES.items():
        lines += ["[[sources]]", f'uri = "env:{env_name}"', f'table = "{table}"', f'source_table = "{db_table}"']
    for readings in sorted(EXPORTS.glob("日电量*")):
        lines += ["[[sources]]", f'path = "{readings}"']
    (tmp_path / "run.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "pipeline", "run", "--config", str(tmp_path / "run.toml")],
                         capture_output=True, text=True, env={**os.environ, env_name: uri}, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "secret" not in out.stdout + out.stderr
    return tmp_path / "store"


def _assert_same_tables(db_store: Path, file_store: Path) -> None:
    a, b = open_snapshot(db_store), open_snapshot(file_store)
    for table in COMPARE:
        left = a.execute(f"SELECT * FROM {table} ORDER BY ALL").df()
        right = b.execute(f"SELECT * FROM {table} ORDER BY ALL").df()
        assert len(left) == len(right) > 0, table
        pd.testing.assert_frame_equal(left, right, check_dtype=False, obj=table)
    reasons = "SELECT table_name, reason, count(*) FROM rejects GROUP BY ALL ORDER BY ALL"
    assert a.execute(reasons).fetchall() == b.execute(reasons).fetchall()


def test_postgresql_round_trip(postgres_uri, sample_store, tmp_path):  # noqa: F811
    _assert_same_tables(_run_from_database(postgres_uri, tmp_path), sample_store)


def test_mariadb_round_trip(mysql_uri, sample_store, tmp_path):  # noqa: F811
    _assert_same_tables(_run_from_database(mysql_uri, tmp_path), sample_store)
