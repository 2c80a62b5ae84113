"""The query layer enforces district scope and PII masking in SQL, whatever the page asks for."""
from __future__ import annotations

import re

import duckdb
import pytest

from dashboards import queries as q
from dashboards.queries import AccessDenied, Viewer


@pytest.fixture(scope="module")
def store(dash_store):
    s = q.open_store(dash_store.path)
    yield s
    s.close()


@pytest.fixture(scope="module")
def raw(dash_store):
    """The unmasked customer archive, read straight from Parquet (what the dashboard must not leak)."""
    snap = q.open_store(dash_store.path)
    try:
        return snap.query("SELECT * FROM customers").set_index("customer_id")
    finally:
        snap.close()


def staff(ds) -> Viewer:
    return Viewer("staff1", "staff", (ds.own_district,))


MANAGER = Viewer("manager", "manager")
ANALYST = Viewer("analyst", "analyst")


# --- scope ------------------------------------------------------------------------------------------------

def test_staff_gets_nothing_for_another_districts_customer(store, dash_store):
    v = staff(dash_store)
    other = dash_store.other_customer
    assert q.portrait_bundle(store, v, other) == {}
    assert q.customer_header(store, v, other).empty
    assert q.customer_usage(store, v, other).empty
    assert q.customer_bills(store, v, other).empty
    assert q.customer_payments(store, v, other).empty
    assert q.customer_contacts(store, v, other).empty
    assert q.customer_row(store, v, other, "features").empty
    assert q.customer_tags(store, v, other).empty
    assert not q.customer_visible(store, v, other)
    assert q.search_customers(store, v, other).empty
    tag = q.tag_dictionary(store)["tag_id"].iloc[0]
    assert q.explain_tag(store, v, other, tag) == {}


def test_staff_sees_own_customer_and_only_own_district(store, dash_store):
    v = staff(dash_store)
    bundle = q.portrait_bundle(store, v, dash_store.own_customer)
    assert len(bundle["header"]) == 1 and len(bundle["usage"]) > 0 and len(bundle["contacts"]) > 0
    assert set(q.districts(store, v)["district_id"]) == {dash_store.own_district}
    assert set(q.key_users(store, v, limit=10_000)["district_id"]) <= {dash_store.own_district}
    assert set(q.district_table(store, v)["district_id"]) == {dash_store.own_district}
    members = q.segment_members(store, v, None, limit=100_000)
    assert set(members["district_id"]) == {dash_store.own_district}
    assert q.segment_count(store, v, None) == len(members)
    assert set(q.worst_moments(store, v, limit=200)["customer_id"]) <= set(members["customer_id"])
    if store.has("care_alerts"):
        assert set(q.care_alerts(store, v)["customer_id"]) <= set(members["customer_id"])
    if store.has("service_gaps"):
        assert set(q.district_gap_warnings(store, v)["district_id"]) <= {dash_store.own_district}
    if store.has("experience_map"):
        rows = q.experience_map_rows(store, v)
        assert set(rows["scope_id"]) <= {dash_store.own_district}
    hist = q.overview_history(store, v)
    assert int(hist["customers"].iloc[-1]) == len(members)


def test_staff_cannot_widen_scope_with_a_district_filter(store, dash_store):
    v = staff(dash_store)
    only = (dash_store.other_district,)
    assert q.districts(store, v).shape[0] == 1
    assert q.segment_count(store, v, None, only) == 0
    assert q.key_users(store, v, only).empty
    hist = q.overview_history(store, v, only)
    assert hist.empty or hist["customers"].sum() == 0
    assert q.search_customers(store, v, dash_store.other_customer[:6], only).empty
    assert q.experience_stages(store, v, only).empty
    if store.has("tag_quality") or store.has("tags_wide"):
        tag = q.tag_dictionary(store)["tag_id"].iloc[0]
        assert q.tag_coverage(store, v, tag, only).empty


def test_unknown_role_or_empty_districts_sees_nothing(store, dash_store):
    for v in (Viewer("x", "staff", ()), Viewer("y", "superuser", (dash_store.own_district,)), Viewer("z", "", ())):
        assert q.segment_count(store, v, None) == 0
        assert q.portrait_bundle(store, v, dash_store.own_customer) == {}


def test_runs_are_for_analysts_and_admins(store, dash_store):
    for v in (staff(dash_store), MANAGER):
        for fn in (q.runs, q.rejects, q.reject_reasons):
            with pytest.raises(AccessDenied):
                fn(store, v)
        with pytest.raises(AccessDenied):
            q.run_manifest(store, v, store.run_id)
    assert len(q.runs(store, ANALYST)) >= 2
    assert q.run_manifest(store, ANALYST, store.run_id)["run_id"] == store.run_id
    assert q.run_manifest(store, ANALYST, "../../store") == {}


# --- masking ----------------------------------------------------------------------------------------------

def test_manager_sees_masked_personal_data(store, dash_store, raw):
    cid = dash_store.own_customer
    h = q.customer_header(store, MANAGER, cid).iloc[0]
    real = raw.loc[cid]
    assert not h["pii_visible"]
    assert h["name"] == real["name"][0] + "*"
    digits = re.sub(r"\D", "", real["phone"])
    assert h["phone"] == digits[:3] + "****" + digits[-4:]
    assert re.fullmatch(r"\d{3}\*{4}\d{4}", h["phone"])
    assert h["id_number"] == real["id_number"][:4] + "*" * (len(real["id_number"]) - 6) + real["id_number"][-2:]
    assert h["address"].endswith("***") and real["address"] not in h["address"]
    assert not re.search(r"\d", h["address"])


def test_manager_bundle_never_contains_the_real_name_phone_or_id(store, dash_store, raw):
    for cid in (dash_store.own_customer, dash_store.other_customer):
        real = raw.loc[cid]
        bundle = q.portrait_bundle(store, MANAGER, cid)
        text = "\n".join(df.astype(str).to_string() for df in bundle.values())
        assert real["phone"] not in text and real["id_number"] not in text
        assert real["address"] not in text
        if len(real["name"]) >= 2:
            assert real["name"] not in text


def test_analyst_is_masked_too_and_staff_sees_own_district_in_clear(store, dash_store, raw):
    cid = dash_store.own_customer
    assert q.customer_header(store, ANALYST, cid).iloc[0]["phone"] != raw.loc[cid, "phone"]
    h = q.customer_header(store, staff(dash_store), cid).iloc[0]
    assert h["pii_visible"] and h["phone"] == raw.loc[cid, "phone"] and h["name"] == raw.loc[cid, "name"]
    assert h["id_number"] == raw.loc[cid, "id_number"]


def test_masked_lists_mask_every_row(store, dash_store, raw):
    for rows in (q.key_users(store, MANAGER, limit=200), q.segment_members(store, MANAGER, None, limit=200)):
        for r in rows.itertuples():
            assert r.name == raw.loc[r.customer_id, "name"][0] + "*"
            assert not isinstance(r.phone, str) or "****" in r.phone
    own = q.segment_members(store, staff(dash_store), None, limit=50)
    assert all(r.phone == raw.loc[r.customer_id, "phone"] for r in own.itertuples() if isinstance(r.phone, str))


def test_contact_text_is_redacted_for_masked_viewers(store):
    cur = store.cursor()
    try:
        text = "客户张三来电，手机13812345678，座机0571-88886666，身份证11010519491231002X，户号0023666220，2025-12-01"
        out = cur.execute("SELECT redact_text(?)", [text]).fetchall()[0][0]
    finally:
        cur.close()
    assert "13812345678" not in out and "88886666" not in out and "11010519491231002X" not in out
    assert "0023666220" in out and "2025-12-01" in out


# --- read-only, parameters only ---------------------------------------------------------------------------

def test_store_connection_cannot_write_or_read_elsewhere(store, tmp_path):
    cur = store.cursor()
    try:
        with pytest.raises(duckdb.Error):
            cur.execute(f"COPY (SELECT 1) TO '{tmp_path / 'x.csv'}'")
        with pytest.raises(duckdb.Error):
            cur.execute("SET enable_external_access = true")
        with pytest.raises(duckdb.Error):
            cur.execute("SELECT * FROM read_csv('/etc/passwd')")
    finally:
        cur.close()


def test_hostile_text_inputs_are_parameters(store, dash_store):
    v = staff(dash_store)
    for text in ("' OR 1=1 --", "%' UNION SELECT phone FROM customers --", "x'); DROP VIEW customers; --"):
        assert q.search_customers(store, v, text).empty
        assert q.portrait_bundle(store, v, text) == {}
        assert q.key_users(store, v, reason=text).empty
    total = int(store.query("SELECT count(*) AS n FROM customers")["n"].iloc[0])
    assert total > 0 and q.segment_count(store, MANAGER, None) == total  # the views are all still there


def test_tag_identifiers_come_from_the_store_whitelist(store):
    for bad in ('customer_id', 'x" FROM customers; --', "phone", "name"):
        assert q.tag_distribution(store, MANAGER, bad).empty
        assert q.tag_history(store, MANAGER, bad).empty
    with pytest.raises(ValueError):
        q.segment_mix(store, MANAGER, "phone")
    assert q.published_rows(store, MANAGER, "customers").empty
