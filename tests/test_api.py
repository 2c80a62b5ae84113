"""The public API (pipeline.api): every call, read-only, and the dashboard's scope and masking rules for a user."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pytest

from dashboards import queries as q
from dashboards.auth import load_users
from dashboards.queries import AccessDenied, Viewer
from dashboards.segment_query import SegmentError
from pipeline import open_store
from pipeline.api import CatalogEvaluation, PortraitStore
from pipeline.errors import PortraitError, StoreError
from tags.catalog import CatalogError, TagLookupError
from tags.explain import ExplainError, Explanation, TagDiff
from tests.two_month_store import DECEMBER, NOVEMBER, two_month_store

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ts(sample_store, tmp_path_factory):
    """The two-month store with its users."""
    return two_month_store(sample_store, tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def store(ts):
    s = open_store(ts.path)
    yield s
    s.close()


@pytest.fixture(scope="module")
def staff(ts):
    s = open_store(ts.path, user="staff1")
    yield s
    s.close()


@pytest.fixture(scope="module")
def manager(ts):
    s = open_store(ts.path, user="manager")
    yield s
    s.close()


@pytest.fixture(scope="module")
def raw(store) -> pd.DataFrame:
    """The unmasked archive (what a user must not see outside their own 台区)."""
    return store.customers().df().set_index("customer_id")


def _one(rel: duckdb.DuckDBPyRelation):
    return rel.fetchall()[0][0]


def _store_fingerprint(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file() and p.suffix != ".lock":
            h.update(f"{p.relative_to(path)}:{p.stat().st_size}:{p.stat().st_mtime_ns}".encode())
    return h.hexdigest()


# --- opening ----------------------------------------------------------------------------------------

def test_open_store_picks_latest_or_the_as_of_asked_for(ts, store):
    assert isinstance(store, PortraitStore)
    assert store.as_of == DECEMBER and store.user is None
    with open_store(ts.path, as_of="2025-11-30") as nov:
        assert nov.as_of == NOVEMBER
    with open_store(ts.path, as_of=NOVEMBER) as nov:
        assert nov.run_id != store.run_id
    assert "2025-12-31" in repr(store)


def test_open_store_errors_say_what_to_do(ts, tmp_path):
    with pytest.raises(StoreError, match="no snapshot for 2024-01-31.*2025-11-30, 2025-12-31"):
        open_store(ts.path, as_of="2024-01-31")
    with pytest.raises(StoreError, match="not a portrait store"):
        open_store(tmp_path)
    with pytest.raises(PortraitError, match="not a date"):
        open_store(ts.path, as_of="31/12/2025")
    with pytest.raises(PortraitError, match="no user 'nobody'.*portrait users add"):
        open_store(ts.path, user="nobody")


def test_user_can_be_a_name_a_user_or_a_viewer(ts):
    users = load_users(ts.users)
    for who in ("staff1", users["staff1"], Viewer("x", "staff", (ts.own_district,))):
        with open_store(ts.path, user=who) as s:
            assert s.user.role == "staff" and s.user.districts == (ts.own_district,)
    with pytest.raises(PortraitError, match="role 'boss' is unknown"):
        open_store(ts.path, user=Viewer("x", "boss"))


def test_a_disabled_user_is_refused(ts, tmp_path):
    from dashboards.auth import set_disabled

    users = tmp_path / "users.toml"
    shutil.copy(ts.users, users)
    set_disabled(users, "staff2", True)
    with pytest.raises(AccessDenied, match="disabled"):
        open_store(ts.path, user="staff2", users_file=users)


# --- what the store holds --------------------------------------------------------------------------

def test_as_of_dates_tables_and_columns(store):
    assert store.as_of_dates() == [NOVEMBER, DECEMBER]
    tables = store.tables()
    for t in ("customers", "features", "tags", "tags_wide", "tag_dictionary", "segments", "rejects"):
        assert t in tables
    assert store.columns("customers")[0] == "customer_id"
    assert store.columns("features_history")[0] == "as_of"
    with pytest.raises(StoreError, match="did you mean `segments`"):
        store.columns("segmentz")


def test_relation_is_lazy_and_materialises_to_polars_and_pandas(store, raw):
    rel = store.relation("customers")
    assert isinstance(rel, duckdb.DuckDBPyRelation)
    assert isinstance(rel.pl(), pl.DataFrame) and isinstance(rel.df(), pd.DataFrame)
    assert _one(rel.count("*")) == len(raw) == 2000
    history = store.relation("tags_wide_history")
    assert sorted(r[0] for r in history.aggregate("as_of").distinct().fetchall()) == [NOVEMBER, DECEMBER]
    assert store.relation("runs").columns == store.runs().columns


def test_customers_and_districts(store, ts):
    own = store.customers(district=ts.own_district)
    assert {r[0] for r in own.project("district_id").distinct().fetchall()} == {ts.own_district}
    d = store.districts().df()
    assert d["customers"].sum() == 2000 and ts.own_district in set(d["district_id"])
    assert list(d.columns) == ["district_id", "district_name", "station", "customers"]


# --- tags -------------------------------------------------------------------------------------------

def test_tags_long_by_id_and_by_category(store):
    all_tags = _one(store.tags().count("*"))
    n_tags = _one(store.relation("tag_dictionary").count("*"))
    assert all_tags == 2000 * n_tags
    one = store.tags("in_arrears").df()
    assert set(one["tag_id"]) == {"in_arrears"} and len(one) == 2000
    assert set(one["status"]) <= {"ok", "missing"} and set(one["name_zh"]) == {"欠费"}
    zh = store.tags(category="情感特征").df()
    en = store.tags(category="Sentiment").df()
    assert set(zh["category"]) == {"情感特征"} and len(zh) == len(en) > 0
    both = store.tags(ids=["in_arrears", "sensitive_customer"], category="情感特征").df()
    assert set(both["tag_id"]) == {"sensitive_customer"}


def test_unknown_tag_or_category_says_what_exists(store):
    with pytest.raises(TagLookupError, match="did you mean `in_arrears`"):
        store.tags("in_arrear")
    with pytest.raises(PortraitError, match="no tag category `情绪`.*情感特征"):
        store.tags(category="情绪")


def test_tags_wide_one_column_per_tag(store):
    wide = store.tags(ids=["in_arrears", "sensitive_customer"], wide=True)
    assert wide.columns == ["customer_id", "district_id", "station", "in_arrears", "sensitive_customer"]
    assert _one(wide.count("*")) == 2000
    assert len(store.tags(wide=True).columns) == len(store.columns("tags_wide"))


def test_segments_and_quality(store, ts):
    seg = store.segments()
    assert {"disc_type", "value_tier", "load_shape", "key_user_score", "is_key_user"} <= set(seg.columns)
    assert _one(seg.count("*")) == 2000
    assert {r[0] for r in store.segments(ts.own_district).project("district_id").distinct().fetchall()} == {ts.own_district}
    qual = store.quality("in_arrears").df()
    assert set(qual["tag_id"]) == {"in_arrears"} and {"overall", "district"} == set(qual["scope"])
    assert set(store.quality(district=ts.own_district).df()["district_id"]) == {ts.own_district}
    with pytest.raises(TagLookupError):
        store.quality("no_such_tag")


def test_explain_gives_the_facts_behind_a_published_value(store):
    row = store.tags("late_payment_risk").filter("value = 'true'").limit(1).fetchall()[0]
    e = store.explain(row[0], "late_payment_risk")
    assert isinstance(e, Explanation)
    assert e.value == "true" and e.status == "ok" and e.as_of == DECEMBER
    assert "逾期风险" in e.sentence and e.facts.get("late_or_unpaid_bills_12m", 0) >= 3
    with pytest.raises(ExplainError, match="not in this snapshot"):
        store.explain("0000000000", "late_payment_risk")
    with pytest.raises(ExplainError, match="did you mean"):
        store.explain(row[0], "late_payment_risks")


def test_diff_between_two_as_of_dates(store, ts):
    d = store.diff("2025-11-30", DECEMBER)
    assert isinstance(d, TagDiff) and (d.from_as_of, d.to_as_of) == (NOVEMBER, DECEMBER)
    assert len(d.changes) > 0 and set(d.changes["change"]) <= {"gained", "lost", "changed"}
    assert d.counts[["gained", "lost", "changed"]].to_numpy().sum() == len(d.changes)
    one = store.diff(NOVEMBER, DECEMBER, tag="in_arrears")
    assert set(one.changes["tag_id"]) <= {"in_arrears"}
    own = store.diff(NOVEMBER, DECEMBER, district=ts.own_district)
    assert set(own.changes["district_id"]) == {ts.own_district}
    with pytest.raises(ExplainError, match="no tags for as-of 2025-10-31"):
        store.diff("2025-10-31", DECEMBER)


# --- segments (人群圈选) ------------------------------------------------------------------------------

SEGMENT = {"all": [{"tag": "in_arrears", "op": "is_true"},
                   {"any": [{"tag": "value_tier", "op": "in", "values": ["高价值", "中价值"]},
                            {"tag": "key_user_score", "op": ">=", "value": 40}]}]}


def test_segment_matches_a_hand_written_query(store):
    got = store.segment(SEGMENT)
    assert got.columns[:4] == ["customer_id", "district_id", "district_name", "station"]
    assert {"in_arrears", "value_tier", "key_user_score"} <= set(got.columns)
    want = store.sql("""SELECT count(*) FROM tags_wide w JOIN segments s USING (customer_id)
                        WHERE w.in_arrears AND (w.value_tier IN ('高价值', '中价值') OR s.key_user_score >= 40)""")
    assert _one(got.count("*")) == _one(want) > 0
    as_json = store.segment('{"tag": "in_arrears", "op": "is_true"}')
    assert _one(as_json.count("*")) == _one(store.sql("SELECT count(*) FROM tags_wide WHERE in_arrears"))


@pytest.mark.parametrize("expr", [
    {"tag": 'in_arrears" OR 1=1 --', "op": "is_true"},                       # identifier injection
    {"tag": "in_arrears", "op": "is_true) OR (1=1"},                          # operator injection
    {"tag": "key_user_score", "op": ">=", "value": "0 OR 1=1"},              # a number that is SQL
    {"tag": "customers; DROP TABLE customers", "op": "is_true"},
    {"sql": "SELECT * FROM customers"},                                       # keys outside the grammar
    "in_arrears = true OR 1=1",                                               # SQL text instead of a tree
    "'; COPY customers TO '/tmp/leak.csv'; --",
])
def test_segment_injection_is_refused(store, expr):
    with pytest.raises(SegmentError):
        store.segment(expr)


def test_segment_values_travel_as_parameters(store, ts):
    before = _store_fingerprint(ts.path)
    evil = {"tag": "value_tier", "op": "in", "values": ["高价值') OR ('1'='1"]}
    with pytest.raises(SegmentError, match="not a value"):  # closed label sets are checked
        store.segment(evil)
    open_label = {"tag": "disc_type", "op": "in", "values": ["x' OR '1'='1", "'); DROP TABLE customers; --"]}
    assert _one(store.segment(open_label).count("*")) == 0
    assert _one(store.customers().count("*")) == 2000
    assert _store_fingerprint(ts.path) == before


# --- runs, accounting, SQL, catalogue trials ---------------------------------------------------------

def test_runs_row_accounting_and_manifest(store):
    runs = store.runs().df()
    assert len(runs) == 2 and set(runs["status"]) == {"published"} and runs["current"].all()
    assert list(pd.to_datetime(runs["as_of"]).dt.date) == [NOVEMBER, DECEMBER]  # newest run first: November was published second
    acc = store.row_accounting().df()
    assert (acc["read"] == acc["accepted"] + acc["rejected"]).all()
    assert {"customers", "readings", "contacts"} <= set(acc["table_name"])
    assert store.manifest()["run_id"] == store.run_id


def test_sql_runs_one_select_only(store, ts):
    assert _one(store.sql("SELECT count(*) FROM customers WHERE district_id = $d", {"d": ts.own_district})) > 0
    before = _store_fingerprint(ts.path)
    snap = next((ts.path / "snapshots" / "2025-12-31").glob("*/"))
    for bad in (f"COPY customers TO '{snap}/leak.parquet'", "SELECT 1; SELECT 2",
                "CREATE TABLE x AS SELECT 1", "DROP VIEW customers", "ATTACH 'x.db'"):
        with pytest.raises(PortraitError, match="exactly one SELECT"):
            store.sql(bad)
    assert _store_fingerprint(ts.path) == before


def test_evaluate_catalog_reproduces_the_published_tags_and_tries_a_new_one(store, tmp_path):
    folder = tmp_path / "tags"
    shutil.copytree(REPO / "tags", folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (folder / "trial.yaml").write_text("""category: 用电行为
owner: notebook
tags:
  - id: weekend_heavy
    name_zh: 周末用电偏高
    name_en: Weekend-heavy use
    description: 周末日均用电比工作日高三成以上。
    value_type: flag
    rule: kwh_daily_mean_weekend >= 1.3 * kwh_daily_mean_weekday
    requires: reading_days_12m >= 60
    features: [kwh_daily_mean_weekend, kwh_daily_mean_weekday, reading_days_12m]
    explain: 周末日均 {kwh_daily_mean_weekend:.1f} kWh，工作日日均 {kwh_daily_mean_weekday:.1f} kWh
    version: 1
""", encoding="utf-8")
    trial = store.evaluate_catalog(folder)
    try:
        assert isinstance(trial, CatalogEvaluation) and trial.as_of == DECEMBER
        assert trial.n_tags == _one(store.relation("tag_dictionary").count("*")) + 1
        for tag in ("in_arrears", "sensitive_customer", "ladder_tier"):
            mine = trial.values(tag).df().set_index("customer_id")["value"].astype(str)
            published = store.tags(tag, wide=True).df().set_index("customer_id")[tag].astype(str)
            assert mine.sort_index().equals(published.sort_index()), tag
        q_ = trial.quality("weekend_heavy").filter("scope = 'overall'").df().iloc[0]
        assert q_["customers"] == 2000 and 0 < q_["n_true"] < 2000
        hit = trial.values("weekend_heavy").filter("value").limit(1).fetchall()[0][0]
        assert "周末日均" in trial.explain(hit, "weekend_heavy").sentence
        assert _one(trial.relation("tags").filter("tag_id = 'weekend_heavy'").count("*")) == 2000
        with pytest.raises(ValueError):
            trial.relation("customers")
    finally:
        trial.close()
    assert "weekend_heavy" not in store.columns("tags_wide")  # nothing was published


def test_evaluate_catalog_reports_catalogue_problems(store, tmp_path):
    (tmp_path / "bad.yaml").write_text("category: 用电行为\ntags:\n  - id: x_tag\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="bad.yaml"):
        store.evaluate_catalog(tmp_path)


def test_every_call_leaves_the_store_untouched(ts, store):
    before = _store_fingerprint(ts.path)
    for t in store.tables():
        store.relation(t).limit(5).fetchall()
        store.relation(f"{t}_history").limit(5).fetchall()
    store.runs().fetchall()
    store.diff(NOVEMBER, DECEMBER)
    assert _store_fingerprint(ts.path) == before


# --- a staff user: own 台区 only, personal data in clear ----------------------------------------------

def test_staff_sees_only_their_district_everywhere(staff, ts):
    own = ts.own_district
    assert staff.user.role == "staff"
    assert {r[0] for r in staff.districts().fetchall()} == {own}
    for rel in (staff.customers(), staff.segments(), staff.tags(wide=True), staff.relation("features"),
                staff.relation("service_gaps"), staff.relation("care_alerts"), staff.relation("customers_history"),
                staff.quality()):
        assert {r[0] for r in rel.project("district_id").distinct().fetchall()} <= {own}
    n_own = _one(staff.customers().count("*"))
    assert 0 < n_own < 2000
    for table in ("usage_daily", "bills", "payments", "contacts", "contact_text", "applications"):
        ids = {r[0] for r in staff.relation(table).project("customer_id").distinct().fetchall()}
        assert ids <= {r[0] for r in staff.customers().project("customer_id").fetchall()}, table
    assert _one(staff.tags().aggregate("count(DISTINCT customer_id)")) == n_own
    assert {r[0] for r in staff.segment(SEGMENT).project("district_id").distinct().fetchall()} <= {own}
    assert set(staff.relation("experience_map").df()["scope_id"]) == {own}
    assert _one(staff.customers(district=ts.other_district).count("*")) == 0
    assert {r[0] for r in staff.relation("power_access").project("district_id").distinct().fetchall()} <= {own}


def test_staff_sees_their_customers_in_clear(staff, raw, ts):
    mine = staff.customers().df().set_index("customer_id")
    for col in ("name", "phone", "id_number", "address"):
        assert mine[col].equals(raw.loc[mine.index, col]), col


def test_staff_cannot_explain_or_diff_another_district(staff, store, ts):
    other = _one(store.customers(ts.other_district).project("customer_id").limit(1))
    mine = _one(staff.customers().project("customer_id").limit(1))
    assert staff.explain(mine, "in_arrears").customer_id == mine
    with pytest.raises(ExplainError, match="not in the 台区"):
        staff.explain(other, "in_arrears")
    d = staff.diff(NOVEMBER, DECEMBER)
    assert set(d.changes["district_id"]) <= {ts.own_district}
    assert d.counts[["gained", "lost", "changed"]].to_numpy().sum() == len(d.changes)
    assert staff.diff(NOVEMBER, DECEMBER, district=ts.other_district).changes.empty


def test_staff_cannot_read_city_wide_or_run_tables(staff, tmp_path):
    for call in (staff.runs, staff.row_accounting, staff.manifest, lambda: staff.relation("rejects"),
                 lambda: staff.relation("segment_models"), lambda: staff.relation("segment_profiles"),
                 lambda: staff.sql("SELECT 1"), lambda: staff.evaluate_catalog(tmp_path)):
        with pytest.raises(AccessDenied):
            call()
    assert _one(staff.relation("tag_dictionary").count("*")) > 0  # the catalogue is for everyone


# --- a manager: every 台区, personal data masked ------------------------------------------------------

def test_manager_sees_every_district_masked_like_the_dashboard(manager, raw, ts):
    masked = manager.customers().df().set_index("customer_id")
    assert len(masked) == 2000
    named = masked[raw["name"].str.len() >= 2]
    assert named["name"].str.fullmatch(r".\*").all()
    assert not (masked["phone"].dropna() == raw.loc[masked["phone"].dropna().index, "phone"]).any()
    assert masked["phone"].dropna().str.contains(r"\*\*\*\*").all()
    assert masked["id_number"].dropna().str.contains(r"\*").all()
    assert masked["address"].dropna().str.endswith("***").all()
    dash = q.open_store(ts.path)
    try:  # the same masking as the dashboard's own query layer
        for cid in list(masked.index[:5]) + [_one(manager.customers(ts.own_district).project("customer_id").limit(1))]:
            header = q.customer_header(dash, manager.user, cid).iloc[0]
            for col in ("name", "phone", "id_number", "address"):
                assert header[col] == masked.loc[cid, col], (cid, col)
    finally:
        dash.close()


def test_contact_text_is_redacted_unless_the_viewer_is_staff_of_the_district(ts, store, tmp_path):
    """The sample's texts hold no personal data, so a copy of the store gets some: the name, a phone, an ID."""
    copy = tmp_path / "store"
    shutil.copytree(ts.path, copy)
    snap = next((copy / "snapshots" / "2025-12-31").glob("*/contacts.parquet"))
    own = _one(store.relation("contacts").filter(
        f"customer_id IN (SELECT customer_id FROM customers WHERE district_id = '{ts.own_district}')")
        .project("customer_id").limit(1))
    con = duckdb.connect()
    try:
        con.execute(f"""COPY (SELECT k.* REPLACE (CASE WHEN k.customer_id = '{own}'
                            THEN c.name || '来电，电话13912345678，身份证110101199003071234，' || k.content
                            ELSE k.content END AS content)
                        FROM read_parquet('{snap}') k
                        JOIN read_parquet('{snap.with_name("customers.parquet")}') c USING (customer_id))
                        TO '{snap}.new' (FORMAT parquet)""")
    finally:
        con.close()
    Path(f"{snap}.new").replace(snap)
    name = _one(store.customers().filter(f"customer_id = '{own}'").project("name"))
    with open_store(copy, user="manager") as m, open_store(copy, user="staff1") as s:
        masked = m.relation("contacts").filter(f"customer_id = '{own}'").df()["content"]
        clear = s.relation("contacts").filter(f"customer_id = '{own}'").df()["content"]
    assert clear.str.contains("13912345678").all() and clear.str.contains(name, regex=False).all()
    assert not masked.str.contains("13912345678|110101199003071234").any()
    assert masked.str.contains("[手机号已隐去]", regex=False).all()
    assert not masked.str.contains(name, regex=False).any()


def test_manager_reads_city_figures_but_not_runs(manager):
    assert _one(manager.relation("segment_profiles").count("*")) > 0
    assert "全部" in set(manager.relation("experience_map").df()["scope"])
    assert len(manager.diff(NOVEMBER, DECEMBER).changes) > 0
    for call in (manager.runs, lambda: manager.relation("rejects"), lambda: manager.sql("SELECT 1")):
        with pytest.raises(AccessDenied):
            call()


def test_analyst_user_reads_runs_and_redacted_rejects(ts):
    with open_store(ts.path, user="analyst") as s:
        assert len(s.runs().df()) == 2
        rejects = s.relation("rejects").df()
        assert len(rejects) > 0 and list(rejects.columns) == s.columns("rejects")
        assert s.customers().df()["name"].str.fullmatch(r".\*|.?").all()  # analysts see masked archives too


@pytest.mark.parametrize("module", ["tags.catalog", "tags.explain", "pipeline.settings", "pipeline.store",
                                    "pipeline.stages.tags", "pipeline.cli", "dashboards.queries"])
def test_importing_any_module_first_does_not_cycle_through_the_api(module):
    """`pipeline/__init__` imports the API, so every module must still import on its own in a fresh process."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", f"import {module}; import pipeline; pipeline.open_store"],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-800:]
