"""A two-month store (as-of 2025-11-30 and 2025-12-31) from the sample, with one user per role; built once per session.

Shared by the API, schema-reference and notebook tests. Fixtures imported into several modules would be
built once per module, so the build is cached here instead.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from tests.conftest import SAMPLE, settings_for

PASSWORD = "test-password-1"
NOVEMBER = date(2025, 11, 30)
DECEMBER = date(2025, 12, 31)
_BUILT: dict[str, TwoMonthStore] = {}


@dataclass(frozen=True)
class TwoMonthStore:
    """The store folder, its users file, and the two districts the staff users look after."""

    path: Path
    users: Path
    own_district: str  # staff1's
    other_district: str  # staff2's


def two_month_store(sample_store: Path, base: Path) -> TwoMonthStore:
    """Return the two-month store under `base`, building it on first use (copy of `sample_store` + November)."""
    key = str(base)
    if key in _BUILT:
        return _BUILT[key]
    import duckdb

    from dashboards.auth import add_user
    from pipeline.run import run_pipeline

    store = base / "two-month-store"
    shutil.copytree(sample_store, store, ignore=shutil.ignore_patterns(".lock", ".work", "app"))
    run_pipeline(settings_for(SAMPLE / "exports", store, as_of=NOVEMBER.isoformat()))
    customers = next((store / "snapshots" / DECEMBER.isoformat()).glob("*/customers.parquet"))
    con = duckdb.connect()
    try:
        own, other = [r[0] for r in con.execute(
            f"SELECT district_id FROM read_parquet('{customers}') GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2").fetchall()]
    finally:
        con.close()
    users = store / "app" / "users.toml"
    add_user(users, "staff1", "staff", PASSWORD, (own,), rounds=4)
    add_user(users, "staff2", "staff", PASSWORD, (other,), rounds=4)
    for role in ("manager", "analyst", "admin"):
        add_user(users, role, role, PASSWORD, rounds=4)
    _BUILT[key] = TwoMonthStore(store, users, own, other)
    return _BUILT[key]
