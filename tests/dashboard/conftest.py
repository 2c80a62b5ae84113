"""Dashboard fixtures: a two-month store from the sample, a users file per role, and logged-in AppTests."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.conftest import SAMPLE, settings_for

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
PASSWORD = "test-password-1"
ROLES = ("staff", "manager", "analyst", "admin")


@dataclass(frozen=True)
class DashStore:
    """A store for dashboard tests: its path, users file, and two districts with their customers."""

    path: Path
    users: Path
    own_district: str  # staff1's district
    other_district: str  # staff2's district
    own_customer: str  # a customer of own_district with contacts
    other_customer: str  # a customer of other_district with contacts

    def login_name(self, role: str) -> str:
        """Return the user name of the test user with `role` (staff → staff1)."""
        return "staff1" if role == "staff" else role


def _snapshot_dirs(store: Path) -> list[Path]:
    return sorted(p for p in (store / "snapshots").glob("*/*") if p.is_dir() and not p.name.startswith("."))


@pytest.fixture(scope="session")
def dash_store(sample_store: Path, tmp_path_factory) -> DashStore:
    """A copy of the sample store plus a 2025-11-30 snapshot, stand-in tag tables when absent, and test users."""
    from dashboards import auth
    from pipeline.run import run_pipeline
    from tests.dashboard.synthetic import prepare

    store = tmp_path_factory.mktemp("dash") / "store"
    shutil.copytree(sample_store, store, ignore=shutil.ignore_patterns(".lock", ".work", "app"))
    run_pipeline(settings_for(SAMPLE / "exports", store, as_of=date(2025, 11, 30).isoformat()))
    for snap in _snapshot_dirs(store):
        prepare(snap)
    current = max(_snapshot_dirs(store), key=lambda p: p.parent.name)
    con = duckdb.connect()
    try:
        rows = con.execute(f"""
            SELECT c.district_id, count(*) AS n FROM read_parquet('{current / 'customers.parquet'}') c
            GROUP BY 1 ORDER BY n DESC, 1 LIMIT 2""").fetchall()
        own, other = rows[0][0], rows[1][0]
        pick = f"""SELECT c.customer_id FROM read_parquet('{current / 'customers.parquet'}') c
                   JOIN read_parquet('{current / 'contacts.parquet'}') k USING (customer_id)
                   WHERE c.district_id = ? AND c.phone IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"""
        own_customer = con.execute(pick, [own]).fetchall()[0][0]
        other_customer = con.execute(pick, [other]).fetchall()[0][0]
    finally:
        con.close()
    users = store / "app" / "users.toml"
    auth.add_user(users, "staff1", "staff", PASSWORD, (own,), "台区经理一", rounds=4)
    auth.add_user(users, "staff2", "staff", PASSWORD, (other,), "台区经理二", rounds=4)
    for role in ("manager", "analyst", "admin"):
        auth.add_user(users, role, role, PASSWORD, (), rounds=4)
    return DashStore(store, users, own, other, own_customer, other_customer)


@pytest.fixture
def dash_env(dash_store: DashStore, monkeypatch) -> DashStore:
    """Point the app at the test store and users file (AppTest runs the app in this process)."""
    monkeypatch.setenv("PORTRAIT_STORE", str(dash_store.path))
    monkeypatch.setenv("PORTRAIT_USERS", str(dash_store.users))
    return dash_store


def logged_in(store: DashStore, role: str, timeout: float = 60):
    """Return an AppTest of the app after logging in through the form as the test user with `role`."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=timeout)
    at.run()
    at.text_input(key="login_username").input(store.login_name(role))
    at.text_input(key="login_password").input(PASSWORD)
    next(b for b in at.button if b.label == "登录").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def page_text(at) -> str:
    """Return the visible text of an AppTest run: markdown, captions, titles, metrics, alerts and tables."""
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    for df in at.dataframe:
        parts.append(df.value.to_string())
    return "\n".join(parts)
