"""Feature models on tiny inline inputs in an in-memory DuckDB, and the tags they drive.

Edge cases: a new customer with 10 days of data, no contacts at all, all-zero readings, a missing month.
"""
from __future__ import annotations

import math
from datetime import date

import duckdb
import pytest

from pipeline.engine import connect
from pipeline.settings import Params
from pipeline.stages.features import build_features, create_empty_canonical_tables
from pipeline.stages.tags import evaluate_tags
from pipeline.stages.text import contact_text
from tags.catalog import load_catalog

AS_OF = date(2025, 12, 31)
YEAR = ("2025-01-01", 365)  # the 365 days ending at AS_OF


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture
def con():
    c = connect()
    create_empty_canonical_tables(c)
    yield c
    c.close()


def add_customer(con, cid: str, **cols) -> None:
    row = {"customer_id": cid, "name": "测试", "category": "城乡居民生活用电", "district_id": "TQ0001",
           "station": "城东供电所", "open_date": date(2010, 1, 1), **cols}
    names = ", ".join(row)
    con.execute(f"INSERT INTO customers ({names}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


def add_readings(con, cid: str, start: str, days: int, kwh: str, peak: str = "NULL", flat: str = "NULL",
                 valley: str = "NULL", skip: tuple[str, str] | None = None) -> None:
    """Insert `days` daily readings from `start`; the value expressions may use `i` (day index) and `d` (date)."""
    where = f"WHERE NOT (d BETWEEN DATE '{skip[0]}' AND DATE '{skip[1]}')" if skip else ""
    con.execute(f"""
        INSERT INTO readings (customer_id, reading_date, kwh, kwh_peak, kwh_flat, kwh_valley)
        SELECT '{cid}', d, {kwh}, {peak}, {flat}, {valley}
        FROM (SELECT CAST(DATE '{start}' + INTERVAL (i) DAY AS DATE) AS d, i FROM range({days}) t(i)) {where}
    """)


def features(con) -> dict[str, dict]:
    contact_text(con)
    build_features(con, AS_OF, Params())
    return _rows(con, "features")


def tags(con, catalog) -> dict[str, dict]:
    evaluate_tags(con, AS_OF, Params(), catalog)
    return _rows(con, "tags_wide")


def _rows(con, table: str) -> dict[str, dict]:
    cur = con.execute(f"SELECT * FROM {table}")
    names = [d[0] for d in cur.description]
    return {r[0]: dict(zip(names, r)) for r in cur.fetchall()}


def status(con, cid: str, tag_id: str) -> str:
    return con.execute("SELECT status FROM tags WHERE customer_id = ? AND tag_id = ?", [cid, tag_id]).fetchone()[0]


def test_new_customer_with_ten_days_of_data(con, catalog):
    add_customer(con, "0000000001", open_date=date(2025, 12, 15))
    add_readings(con, "0000000001", "2025-12-22", 10, "5.0")
    f = features(con)["0000000001"]
    assert f["reading_days_12m"] == 10 and f["kwh_12m"] == 50 and f["kwh_daily_mean_12m"] == 5
    assert f["kwh_daily_mean_prev_6m"] is None and f["kwh_daily_mean_prior_90d"] is None
    assert f["reading_span_days_12m"] == 10 and f["missing_days_12m"] == 0 and f["zero_days_12m"] == 0
    assert f["ref_kwh_daily_min_4w"] is None and f["step_drop_ratio"] is None  # no half-year of history
    assert f["tenure_days"] == 16
    t = tags(con, catalog)["0000000001"]
    assert t["new_customer"] is True and t["tenure_band"] == "1年内"
    for tag_id in ("ladder_tier", "usage_trend", "vacant_home", "abnormal_use", "usage_level", "seasonality"):
        assert t[tag_id] is None and status(con, "0000000001", tag_id) == "missing", tag_id
    assert t["reading_completeness"] == "完整"


def test_customer_with_no_contacts(con, catalog):
    add_customer(con, "0000000002")
    add_readings(con, "0000000002", *YEAR, "8.0")
    f = features(con)["0000000002"]
    assert f["contacts_12m"] is None and f["complaints_chases_12m"] is None and f["n_texts_12m"] is None
    t = tags(con, catalog)["0000000002"]
    assert t["contact_count_12m"] == 0 and t["silent_customer"] is True and t["chronic_complainer"] is False
    assert t["escalation_signal"] is False and t["sensitive_customer"] == "无"
    for tag_id in ("preferred_service_channel", "sentiment_tendency", "complaint_motive", "bad_last_experience"):
        assert t[tag_id] is None and status(con, "0000000002", tag_id) == "missing", tag_id
    assert status(con, "0000000002", "silent_customer") == "ok"


def test_all_zero_readings(con, catalog):
    add_customer(con, "0000000003")
    add_readings(con, "0000000003", *YEAR, "0.0", peak="0.0", flat="0.0", valley="0.0")
    f = features(con)["0000000003"]
    assert f["zero_days_12m"] == 365 and f["low_days_12m"] == 365 and f["kwh_12m"] == 0
    assert f["kwh_daily_cv_12m"] is None and f["valley_share_12m"] is None and f["valley_share_recent"] is None
    assert f["peak_zero_days_12m"] == 0  # no night use either: not PV-like
    assert f["ref_kwh_daily_min_4w"] == 0 and f["step_drop_ratio"] is None
    t = tags(con, catalog)["0000000003"]
    assert t["vacant_home"] is True and t["suspected_pv"] is False and t["usage_stop_90d"] is False
    assert t["abnormal_use"] is None and t["load_shape"] == "近零型"
    assert t["tou_pattern"] is None and status(con, "0000000003", "tou_pattern") == "missing"  # 0 / 0 is no pattern


def test_missing_month(con, catalog):
    add_customer(con, "0000000004")
    add_readings(con, "0000000004", *YEAR, "6.0 + (i % 7)", skip=("2025-06-01", "2025-06-30"))
    f = features(con)["0000000004"]
    assert f["reading_days_12m"] == 335 and f["months_with_readings_12m"] == 11
    assert f["reading_span_days_12m"] == 365 and f["missing_days_12m"] == 30 and f["empty_months_12m"] == 1
    t = tags(con, catalog)["0000000004"]
    assert t["reading_completeness"] == "严重缺失"
    assert t["usage_trend"] == "平稳" and t["vacant_home"] is False and t["abnormal_use"] is False


def test_ev_charging_nights_and_pv_days(con, catalog):
    add_customer(con, "0000000005", tariff_type="阶梯分时")  # charges every other night
    add_readings(con, "0000000005", *YEAR, "7 + CASE WHEN i % 2 = 0 THEN 13 ELSE 3 END", peak="6.0", flat="1.0",
                 valley="CASE WHEN i % 2 = 0 THEN 13.0 ELSE 3.0 END")
    add_customer(con, "0000000006")  # rooftop PV: no daytime import on sunny (even) days
    add_readings(con, "0000000006", *YEAR, "CASE WHEN i % 2 = 0 THEN 3.0 ELSE 10.0 END",
                 peak="CASE WHEN i % 2 = 0 THEN 0.0 ELSE 6.0 END", flat="1.0 * (i % 2)", valley="3.0")
    add_customer(con, "0000000007")  # an ordinary home with a steady split
    add_readings(con, "0000000007", *YEAR, "10.0", peak="6.0", flat="1.0", valley="3.0")
    f = features(con)
    assert f["0000000005"]["valley_kwh_daily_mean_recent"] == pytest.approx(8.0)
    assert f["0000000005"]["valley_share_swing_recent"] > 0.1 and f["0000000007"]["valley_share_swing_recent"] == 0
    assert f["0000000006"]["peak_zero_days_12m"] == 183 and f["0000000005"]["peak_zero_days_12m"] == 0
    t = tags(con, catalog)
    assert (t["0000000005"]["suspected_ev"], t["0000000006"]["suspected_ev"], t["0000000007"]["suspected_ev"]) == (True, False, False)
    assert (t["0000000005"]["suspected_pv"], t["0000000006"]["suspected_pv"], t["0000000007"]["suspected_pv"]) == (False, True, False)
    assert t["0000000005"]["ev_charger_opportunity"] is True and t["0000000007"]["tou_pattern"] == "峰谷均衡"


def test_step_drop_is_abnormal_but_a_stop_is_a_care_alert(con, catalog):
    add_customer(con, "0000000008")  # drops to 30 % and stays there: theft or meter fault
    add_readings(con, "0000000008", *YEAR, "CASE WHEN d >= DATE '2025-11-01' THEN 3.0 ELSE 10.0 END")
    add_customer(con, "0000000009", elderly_alone=True)  # steady 3 kWh, then almost nothing for 5 days
    add_readings(con, "0000000009", *YEAR, "CASE WHEN d >= DATE '2025-12-27' THEN 0.01 ELSE 3.0 END")
    f = features(con)
    assert f["0000000008"]["step_drop_ratio"] == pytest.approx(0.3) and f["0000000008"]["step_drop_days"] >= 56
    assert f["0000000009"]["low_run_current_days"] == 5 and f["0000000009"]["low_run_max_90d"] == 5
    t = tags(con, catalog)
    assert t["0000000008"]["abnormal_use"] is True and t["0000000008"]["usage_stop_90d"] is False
    assert t["0000000008"]["sudden_change"] == "骤降"
    assert t["0000000009"]["abnormal_use"] is False
    assert t["0000000009"]["usage_stop_90d"] is True and t["0000000009"]["elderly_usage_stop"] is True
    assert t["0000000008"]["elderly_usage_stop"] is False


def test_overdue_bills_judged_against_their_due_date(con, catalog):
    add_customer(con, "0000000010")
    bills = []
    for m in range(1, 13):
        period = date(2025, m, 1)
        due = date(2026, 1, 25) if m == 12 else date(2025, m + 1, 25)
        arrears = {3: 80.0, 12: 100.0}.get(m, 0.0)  # March unpaid; December not yet due
        bills.append(("0000000010", period, 100.0, 100.0, 100.0 - arrears, arrears, 0.0, due))
    con.executemany("INSERT INTO bills (customer_id, period, amount, receivable, received, arrears, penalty, due_date) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", bills)
    pays = [("0000000010", f"2025-{m + 1:02d}-10 09:00:00", 100.0, "微信", date(2025, m, 1))
            for m in range(1, 12) if m not in (1, 2, 3)]
    pays += [("0000000010", "2025-03-01 09:00:00", 100.0, "微信", date(2025, 1, 1)),   # January paid late
             ("0000000010", "2025-03-20 09:00:00", 40.0, "微信", date(2025, 2, 1)),    # February: part by the due date…
             ("0000000010", "2025-04-02 09:00:00", 60.0, "微信", date(2025, 2, 1)),    # …the rest after it
             ("0000000010", "2025-04-10 09:00:00", 20.0, "微信", date(2025, 3, 1))]    # March: part, never the rest
    con.executemany("INSERT INTO payments (customer_id, paid_at, amount, channel, period) VALUES (?, ?, ?, ?, ?)", pays)
    f = features(con)["0000000010"]
    assert f["bills_fell_due_12m"] == 11  # the December bill falls due after the as-of date
    assert f["late_or_unpaid_bills_12m"] == 3
    assert f["outstanding_bills_now"] == 1 and f["outstanding_arrears_now"] == 80
    assert f["oldest_arrears_days"] == (AS_OF - date(2025, 4, 25)).days
    assert f["arrears_now"] == 80  # billing_features: only bills past their due date are in arrears
    t = tags(con, catalog)["0000000010"]
    assert t["late_payment_risk"] is True and t["in_arrears"] is True and t["payment_credit"] == "C"
    assert t["overdue_count_12m"] == 3 and t["long_arrears"] is True


def test_contact_signals_and_window(con, catalog):
    add_customer(con, "0000000011")
    rows = [
        ("T1", "2025-03-01 10:00:00", "投诉", "客户扬言要找你们领导，要求今天解决"),
        ("T2", "2025-03-03 10:00:00", "催办", "客户再次来电催办"),
        ("T3", "2025-05-01 10:00:00", "表扬", "抢修师傅很负责，希望领导表扬他们"),
        ("T4", "2025-06-01 10:00:00", "咨询", "客户称要向媒体曝光"),
        ("T5", "2024-12-31 10:00:00", "投诉", "一年前的投诉，不在窗口内，要找领导"),
    ]
    con.executemany("INSERT INTO contacts (ticket_id, customer_id, contacted_at, channel, business_type, content) "
                    "VALUES (?, '0000000011', ?, '95598电话', ?, ?)", rows)
    f = features(con)["0000000011"]
    assert f["complaints_chases_12m"] == 2 and f["leader_demands_12m"] == 1 and f["exposure_threats_12m"] == 1
    assert f["n_texts_12m"] == 4
    t = tags(con, catalog)["0000000011"]
    assert t["leader_demand"] is True and t["exposure_threat"] is True and t["escalation_signal"] is True
    assert t["chronic_complainer"] is False and t["praise_customer"] is True and t["silent_customer"] is False


def test_same_topic_repeats_within_the_window(con, catalog):
    add_customer(con, "0000000012")
    rows = [("A1", "2025-07-01 09:00:00", "故障报修"), ("A2", "2025-07-10 09:00:00", "催办"),
            ("A3", "2025-07-25 09:00:00", "投诉"), ("A4", "2025-10-01 09:00:00", "故障报修"),
            ("A5", "2025-10-02 09:00:00", "表扬")]
    con.executemany("INSERT INTO contacts (ticket_id, customer_id, contacted_at, channel, business_type, content) "
                    "VALUES (?, '0000000012', ?, '95598电话', ?, '停电了')", rows)
    contact_text(con)
    con.execute("UPDATE contact_text SET topic = '停电'")  # pin the topics: this tests the model, not the classifier
    con.execute("INSERT INTO contact_text SELECT * REPLACE ('A6' AS ticket_id, '服务态度' AS topic, "
                "TIMESTAMP '2025-11-01 09:00:00' AS contacted_at, '投诉' AS business_type) FROM contact_text WHERE ticket_id = 'A1'")
    build_features(con, AS_OF, Params())
    f = _rows(con, "features")["0000000012"]
    assert f["same_topic_max_window"] == 3  # A1, A2, A3 within 30 days; the praise does not count
    assert f["attitude_contacts_12m"] == 1 and f["top_topic_12m"] == "停电"
    t = tags(con, catalog)["0000000012"]
    assert t["same_issue_repeat"] is True and t["attitude_complaint"] is True and t["top_contact_topic"] == "停电"


def test_holder_age_from_the_resident_id(con, catalog):
    ids = {"0000000013": "110101195001011234", "0000000014": "11010119600630123X",
           "0000000015": "91330100MA2H3X4Y5Z", "0000000016": "123", "0000000017": None}
    for cid, id_number in ids.items():
        add_customer(con, cid, id_number=id_number)
    f = features(con)
    assert [f[c]["holder_age"] for c in ids] == [75, 65, None, None, None]
    t = tags(con, catalog)
    assert [t[c]["elderly_holder"] for c in ids] == [True, True, None, None, None]


def test_tags_whose_features_were_not_built_are_missing_for_everyone(con, catalog):
    add_customer(con, "0000000018")
    build_features(con, AS_OF, Params())  # no text stage: customer_text_features is not built
    evaluate_tags(con, AS_OF, Params(), catalog)
    assert con.execute("SELECT sentiment_tendency, complaint_motive FROM tags_wide").fetchall() == [(None, None)]
    available, reason = con.execute("SELECT available, unavailable_reason FROM tag_dictionary "
                                    "WHERE tag_id = 'sentiment_tendency'").fetchone()
    assert available is False and "n_texts_12m" in reason
    q = con.execute("SELECT n_missing, coverage FROM tag_quality WHERE tag_id = 'sentiment_tendency' AND scope = 'overall'")
    assert q.fetchone() == (1, 0.0)


def test_reading_models_in_customer_passes_equal_one_pass(con, tmp_path):
    """Runs evaluate the reading models over groups of usage_daily's 户号 ranges; the features must not change."""
    from pipeline.stages.usage_daily import write_usage_daily

    for k in range(12):
        cid = f"00{12345600 + k:08d}"
        add_customer(con, cid)
        add_readings(con, cid, "2025-01-01", 365, f"3 + {k} * 0.1 + (i % 7) * 0.5 + CASE WHEN i > 300 THEN -2 ELSE 0 END",
                     peak="2", valley=f"1 + (i % 3) * {k % 4}")
    contact_text(con)
    build_features(con, AS_OF, Params())
    one = _rows(con, "features")
    usage = write_usage_daily(con, AS_OF, tmp_path / "usage_daily.parquet", customers_per_file=2)
    assert len(usage.parts) == 6 and usage.passes(4) == [[f for p in usage.parts[i:i + 2] for f in p] for i in (0, 2, 4)]
    # 12 customers → 3 passes; after the first, two run at once on their own cursors, one thread each
    con.execute("SET threads = 4")
    build_features(con, AS_OF, Params(), readings_passes=usage.passes(4))
    assert _rows(con, "features") == one
    assert len(one) == 12 and all(r["kwh_12m"] > 0 and r["kwh_daily_p10_12m"] is not None for r in one.values())
    assert con.execute("SELECT current_setting('threads')").fetchone()[0] == 4  # restored
    # One part per pass: six passes, five of them concurrent.
    build_features(con, AS_OF, Params(), readings_passes=usage.passes(2))
    assert _rows(con, "features") == one


def test_a_failed_reading_pass_fails_the_build_and_restores_the_threads(con, tmp_path):
    from pipeline.stages.usage_daily import write_usage_daily

    for k in range(6):
        cid = f"00{12345600 + k:08d}"
        add_customer(con, cid)
        add_readings(con, cid, "2025-01-01", 365, "3 + (i % 7)")
    contact_text(con)
    usage = write_usage_daily(con, AS_OF, tmp_path / "usage_daily.parquet", customers_per_file=1)
    passes = usage.passes(1)
    passes[-1] = [tmp_path / "gone.parquet"]  # a part that disappeared mid-run
    con.execute("SET threads = 3")
    with pytest.raises(duckdb.IOException, match="gone.parquet"):
        build_features(con, AS_OF, Params(), readings_passes=passes)
    assert con.execute("SELECT current_setting('threads')").fetchone()[0] == 3


def test_double_features_do_not_depend_on_the_order_of_addition():
    """Parallel sums add in no fixed order; rounding DOUBLE features to 10 significant digits makes two
    runs over the same data give the same feature, and so the same tag at a rounding edge."""
    import duckdb

    from pipeline.stages.features import stable_double

    con = duckdb.connect()
    # a year of 2-decimal daily readings, summed in two orders: the floating-point sums differ
    values = [round(0.01 * ((i * 7919) % 2000), 2) for i in range(360)]
    forward, backward = 0.0, 0.0
    for v in values:
        forward += v
    for v in reversed(values):
        backward += v
    cases = [forward / 360, backward / 360, 21.395999999999997, 21.396000000000004]
    got = [con.execute(f"SELECT {stable_double('x', 'y')} FROM (SELECT ?::DOUBLE AS x)", [c]).fetchone()[0] for c in cases]
    assert got[0] == got[1] and got[2] == got[3] == 21.396
    # an edge-case value for a 2-decimal tag (capacity utilisation 100 × 21.396 / 240 = 8.915) now rounds one way
    assert len({round(100 * g / 240, 2) for g in got[2:]}) == 1
    keep = [0.0, -0.0, float("nan"), float("inf"), -float("inf"), None, 1e-120, 123456789012.5, -0.000123456789012]
    out = [con.execute(f"SELECT {stable_double('x', 'y')} FROM (SELECT ?::DOUBLE AS x)", [v]).fetchone()[0] for v in keep]
    assert out[:2] == [0.0, 0.0] and out[2] != out[2] and out[3:6] == [float("inf"), -float("inf"), None]
    assert out[6] == 1e-120  # below the rounding range: unchanged
    # 10 significant digits
    assert out[7] == 123456789000.0 and math.isclose(out[8], -0.000123456789, rel_tol=1e-14) and out[8] != keep[8]
