"""Segments stage: DISC accuracy on two samples, coverage, reproducibility and stability, care alerts,
service gaps, experience map, 获得电力, and the key-user CLI with its Excel-safe export."""
from __future__ import annotations

import csv
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from sklearn.metrics import f1_score
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.cli_segments import excel_safe_cell, masked_name, masked_phone, write_key_users
from pipeline.engine import connect
from pipeline.run import _ingest_and_validate
from pipeline.sample_exports import write_sample_exports
from pipeline.segments.clusters import ClusterModel, assignment_sql
from pipeline.segments.disc_types import ELIGIBLE, FEATURES, SIGNALS
from pipeline.settings import Params
from pipeline.stages.features import build_features
from pipeline.stages.segments import build_segments
from pipeline.stages.text import contact_text
from tests.conftest import AS_OF, SAMPLE, settings_for, write_csv

GAPS = ("需求认知", "服务能力", "服务传递", "服务沟通", "客户体验")
STAGES = ("报装", "缴费", "停电", "抢修", "咨询", "投诉")


def _work_connection(exports: Path, permute: bool = False) -> duckdb.DuckDBPyConnection:
    """Return an in-memory connection holding a run's canonical tables, contact text and features."""
    settings = settings_for(exports, Path(tempfile.mkdtemp()) / "store")
    con = connect(None, settings.duckdb)
    _ingest_and_validate(con, settings, Path(tempfile.mkdtemp()), {}, None)
    if permute:  # the same rows in another order
        for table, key in (("customers", "customer_id"), ("contacts", "ticket_id"), ("readings", "customer_id || reading_date")):
            con.execute(f"CREATE TEMP TABLE _perm AS SELECT * FROM {table} ORDER BY md5(CAST({key} AS VARCHAR)) DESC")
            kind = con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ?", [table]).fetchall()[0][0]
            con.execute(f"DROP {'VIEW' if kind else 'TABLE'} {table}")
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM _perm")
            con.execute("DROP TABLE _perm")
    contact_text(con)
    build_features(con, settings.as_of, settings.params)
    return con


@pytest.fixture(scope="module")
def sample_con():
    """The committed sample, through the segments stage."""
    con = _work_connection(SAMPLE / "exports")
    build_segments(con, AS_OF, Params())
    yield con
    con.close()


@pytest.fixture(scope="module")
def second_sample(tmp_path_factory):
    """A sample generated with another seed and more noise, through the segments stage: (connection, truth folder)."""
    out = tmp_path_factory.mktemp("seed7")
    write_sample_exports(out, customers=2000, seed=7, as_of=AS_OF, noise=0.25)
    con = _work_connection(out / "exports")
    build_segments(con, AS_OF, Params())
    yield con, out / "truth"
    con.close()


def _truth(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "planted_truth.csv", dtype={"customer_id": str, "disc_type": str,
                                                            "elderly_stop_date": str})


def _disc_macro_f1(con: duckdb.DuckDBPyConnection, truth: pd.DataFrame) -> tuple[float, int]:
    seg = con.sql("SELECT customer_id, disc_code FROM segments").df()
    ev = truth[truth.n_contacts >= 3].merge(seg, on="customer_id")
    return f1_score(ev.disc_type, ev.disc_code.fillna("数据不足"), labels=list("DISC"), average="macro"), len(ev)


def _care_precision_recall(con: duckdb.DuckDBPyConnection, truth: pd.DataFrame) -> tuple[float, float, float]:
    alerts = con.sql("SELECT customer_id, start_date FROM care_alerts").df()
    planted = truth[truth.elderly_stop_date.notna()]
    hits = set(alerts.customer_id) & set(planted.customer_id)
    on_day = alerts.merge(planted, on="customer_id")
    same_day = (on_day.start_date.astype(str).str[:10] == on_day.elderly_stop_date).mean()
    return len(hits) / max(len(set(alerts.customer_id)), 1), len(hits) / len(planted), same_day


def test_disc_macro_f1_on_the_sample(sample_con):
    f1, n = _disc_macro_f1(sample_con, _truth(SAMPLE / "truth"))
    print(f"\nDISC macro-F1 on data/sample (seed 42, noise 0.1), {n} customers with >= 3 contacts: {f1:.3f}")
    assert f1 >= 0.8


def test_disc_macro_f1_on_a_sample_nothing_was_tuned_on(second_sample):
    con, truth = second_sample
    f1, n = _disc_macro_f1(con, _truth(truth))
    print(f"\nDISC macro-F1 on a second sample (seed 7, noise 0.25), {n} customers with >= 3 contacts: {f1:.3f}")
    assert f1 >= 0.8


def test_every_feature_the_stage_reads_exists(sample_con):
    from pipeline.stages.segments import FEATURE_COLUMNS

    # The stage reads a missing column as NULL (e.g. no text stage); a rename upstream must fail here instead.
    have = dict(sample_con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                   "WHERE table_name = 'features'").fetchall())
    assert {c: t for c, t in FEATURE_COLUMNS.items() if have.get(c) != t} == {}


def test_customers_without_contacts_are_insufficient_data(sample_con):
    rows = sample_con.execute("""
        SELECT s.disc_type, s.disc_code, s.disc_score_d, s.disc_confidence, s.disc_evidence, s.disc_advice_do
        FROM segments s LEFT JOIN disc_signal_features d USING (customer_id)
        WHERE COALESCE(d.disc_contacts, 0) < 3""").fetchall()
    assert rows and all(r[0] == "数据不足" and r[1] is None and r[2] is None and r[3] is None and r[4] == "" for r in rows)
    assert all(r[5] for r in rows)  # still told how to talk to them
    typed = sample_con.execute("SELECT disc_type, disc_evidence, disc_score_d + disc_score_i + disc_score_s + disc_score_c "
                               "FROM segments WHERE disc_code IS NOT NULL").fetchall()
    assert {t[0] for t in typed} == {"支配型", "表达型", "耐心型", "精确型"}
    assert all(0 < len(t[1].split("；")) <= 3 for t in typed)
    assert all(abs(t[2] - 1) < 1e-3 for t in typed)
    coverage = sample_con.execute("SELECT size FROM segment_profiles WHERE model = 'disc' AND name = '数据不足'").fetchall()
    assert coverage[0][0] == len(rows)


def _published(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    out = {}
    for t in ("segments", "care_alerts", "service_gaps", "experience_map", "power_access", "segment_profiles"):
        out[t] = con.execute(f'SELECT * FROM "{t}" ORDER BY ALL').fetchall()
    out["models"] = con.execute("SELECT model, params_json FROM segment_models ORDER BY model").fetchall()
    return out


def test_same_input_gives_identical_output(sample_con):
    first = _published(sample_con)
    build_segments(sample_con, AS_OF, Params())
    assert _published(sample_con) == first


def _previous_with(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A connection shaped like open_snapshot's: just the segment_models of `con`."""
    prev = duckdb.connect()
    rows = con.execute("SELECT * FROM segment_models").fetchall()
    prev.execute("CREATE TABLE segment_models (model VARCHAR, version INTEGER, method VARCHAR, "
                 "fitted_rows BIGINT, params_json VARCHAR, spec_json VARCHAR)")
    prev.executemany("INSERT INTO segment_models VALUES (?, ?, ?, ?, ?, ?)", rows)
    return prev


def test_refit_with_previous_keeps_type_names(sample_con, second_sample):
    before = dict(sample_con.execute("SELECT customer_id, disc_code FROM segments").fetchall())
    other, _ = second_sample
    # Last month's model comes from a different population: the names must still mean the same behaviour.
    build_segments(sample_con, AS_OF, Params(), previous=_previous_with(other))
    naming = sample_con.execute("SELECT params_json FROM segment_models WHERE model = 'disc'").fetchall()[0][0]
    assert ClusterModel.from_json(naming).naming == "previous"
    after = dict(sample_con.execute("SELECT customer_id, disc_code FROM segments").fetchall())
    same = sum(before[c] == after[c] for c in before) / len(before)
    assert same >= 0.99
    # And a refit on the same data with its own model as previous changes nothing.
    build_segments(sample_con, AS_OF, Params(), previous=_previous_with(sample_con))
    assert dict(sample_con.execute("SELECT customer_id, disc_code FROM segments").fetchall()) == after
    build_segments(sample_con, AS_OF, Params())  # leave the module fixture as it was


def test_permuting_input_rows_does_not_change_assignments(sample_con):
    con = _work_connection(SAMPLE / "exports", permute=True)
    try:
        build_segments(con, AS_OF, Params())
        cols = "customer_id, disc_code, disc_cluster, disc_score_d, load_shape, value_tier, key_user_score, key_user_rank"
        assert con.execute(f"SELECT {cols} FROM segments ORDER BY customer_id").fetchall() == \
            sample_con.execute(f"SELECT {cols} FROM segments ORDER BY customer_id").fetchall()
    finally:
        con.close()


def test_saved_model_reassigns_every_customer_the_same_way(sample_con):
    model = ClusterModel.from_json(
        sample_con.execute("SELECT params_json FROM segment_models WHERE model = 'disc'").fetchall()[0][0])
    sql = assignment_sql(model, FEATURES, f"{SIGNALS} s", ELIGIBLE)
    again = dict(sample_con.execute(f"SELECT customer_id, cluster_name FROM ({sql})").fetchall())
    stored = dict(sample_con.execute("SELECT customer_id, disc_code FROM segments WHERE disc_code IS NOT NULL").fetchall())
    assert all(again[c] == code for c, code in stored.items())


@pytest.mark.parametrize("which", ["sample", "second"])
def test_care_alerts_find_the_planted_stops(which, sample_con, second_sample):
    con, truth = (sample_con, SAMPLE / "truth") if which == "sample" else second_sample
    precision, recall, same_day = _care_precision_recall(con, _truth(truth))
    print(f"\ncare alerts on the {which} sample: precision {precision:.2f}, recall {recall:.2f}, "
          f"start date exact {same_day:.0%}")
    assert recall >= 0.9 and precision >= 0.7
    rows = con.execute("SELECT evidence, start_date, severity, ongoing, end_date FROM care_alerts").fetchall()
    assert all(r[0] and r[1] for r in rows)
    assert all((r[2] == "紧急") == (r[3] and r[4] is None) for r in rows)


def test_service_gap_limits_come_from_params(sample_con):
    def customer_gaps(params: Params) -> dict[str, int]:
        build_segments(sample_con, AS_OF, params)
        return dict(sample_con.execute("SELECT gap, count(*) FROM service_gaps WHERE level = '客户' GROUP BY gap").fetchall())

    default = customer_gaps(Params())
    looser = customer_gaps(replace(Params(), gap_transfers=2, gap_repeat_contacts=2))
    stricter = customer_gaps(replace(Params(), gap_repeat_window_days=7))
    build_segments(sample_con, AS_OF, Params())
    assert looser["服务传递"] > default["服务传递"] and looser["需求认知"] > default["需求认知"]
    assert stricter["需求认知"] < default["需求认知"]
    assert looser["客户体验"] == default["客户体验"]
    districts = sample_con.execute("SELECT count(DISTINCT district_id) FROM customers").fetchall()[0][0]
    per_district = sample_con.execute("SELECT gap, count(*), count(DISTINCT district_id) FROM service_gaps "
                                      "WHERE level = '台区' GROUP BY gap").fetchall()
    assert {g for g, _, _ in per_district} == set(GAPS)
    assert all(n == districts and d == districts for _, n, d in per_district)
    warnings = {r[0] for r in sample_con.execute("SELECT DISTINCT warning FROM service_gaps").fetchall()}
    assert warnings <= {"预警", "关注", "正常"}


def test_experience_map_has_every_stage_with_peak_end_and_ranked_moments(sample_con):
    em = sample_con.sql("SELECT * FROM experience_map").df()
    assert {"全部", "台区", "沟通风格", "价值分层"} <= set(em.scope)
    for (_, _), g in em.groupby(["scope", "scope_id"]):
        assert list(g.sort_values("stage_order").stage) == list(STAGES)
        ranked = g.moment_rank.dropna().sort_values().astype(int).tolist()
        assert ranked == list(range(1, len(ranked) + 1))
    city = em[em.scope == "全部"].set_index("stage")
    by_district = em[em.scope == "台区"].groupby("stage").contacts.sum()
    assert (city.contacts == by_district.reindex(city.index)).all()
    worst = city.sort_values("moment_rank").iloc[0]
    assert worst.peak_sentiment <= worst.mean_sentiment and worst.moments
    # All three are published at 4 decimals: compare within one unit of the 4th decimal, not after a second rounding
    # (a mean that lands on a ...5 boundary rounds either way).
    assert ((city.peak_end_score - (city.peak_sentiment + city.end_sentiment) / 2).abs() <= 1.001e-4).all()


def test_power_access_against_targets(sample_con):
    pa = sample_con.sql("SELECT * FROM power_access").df()
    assert set(pa.app_type) <= {"新装", "增容", "光伏并网", "充电桩"}
    assert set(pa.customer_group) <= {"居民", "非居民"} and set(pa.status) <= {"达标", "未达标"}
    p = Params()
    assert (pa[pa.app_type == "光伏并网"].target_days == p.power_access_target_days_pv).all()
    res = pa[(pa.app_type != "光伏并网") & (pa.customer_group == "居民")]
    assert (res.target_days == p.power_access_target_days_residential).all()
    assert "全部" in set(pa.district_id)
    city = pa[pa.district_id == "全部"].set_index(["app_type", "customer_group"])
    parts = pa[pa.district_id != "全部"].groupby(["app_type", "customer_group"])[["completed_12m", "open_now"]].sum()
    assert (city[["completed_12m", "open_now"]] == parts.reindex(city.index)).all().all()


def test_key_users_are_ranked_per_district_with_reasons(sample_con):
    rows = sample_con.execute("""
        SELECT district_id, list(key_user_rank ORDER BY key_user_score DESC, customer_id),
               count(*), bool_and(suggested_action <> '')
        FROM segments GROUP BY district_id""").fetchall()
    assert all(ranks == list(range(1, n + 1)) and acted for _, ranks, n, acted in rows)
    urgent = sample_con.execute("""
        SELECT s.key_user_rank, s.key_user_reasons FROM care_alerts a JOIN segments s USING (customer_id)
        WHERE a.severity = '紧急'""").fetchall()
    assert urgent and all(rank <= 5 and "关怀" in reasons for rank, reasons in urgent)
    flagged = sample_con.execute("""
        SELECT bool_and(is_key_user = (key_user_score >= 40)), count(*) FILTER (WHERE is_key_user),
               bool_and(is_key_user) FILTER (WHERE customer_id IN (SELECT customer_id FROM care_alerts))
        FROM segments""").fetchall()[0]
    assert flagged[0] and 0 < flagged[1] < 0.2 * 2000 and flagged[2]


def test_excel_safe_cells_and_masks():
    assert excel_safe_cell('=HYPERLINK("http://evil.example","点我")') == '\'=HYPERLINK("http://evil.example","点我")'
    for bad in ("+1", "-1+2", "@SUM(A1)", "\tx", "\rx"):
        assert excel_safe_cell(bad).startswith("'")
    assert excel_safe_cell("张*") == "张*" and excel_safe_cell(3.5) == 3.5
    assert masked_phone("13812341234") == "138****1234" and masked_name("张三丰") == "张*"
    assert masked_phone(None) == "" and masked_name("") == ""


def test_export_neutralises_formulas_and_keeps_account_numbers_as_text(tmp_path):
    from openpyxl import load_workbook

    from pipeline.cli_segments import KEYUSER_COLUMNS

    row = {c: "" for c in KEYUSER_COLUMNS}
    row.update(key_user_rank=1, customer_id="0012345678", name=masked_name('=HYPERLINK("http://x","y")'),
               phone=masked_phone("13800001234"), key_user_score=88.5, key_user_reasons='=HYPERLINK("http://x","y")',
               suggested_action="-2+3")
    write_key_users([row], tmp_path / "k.csv")
    write_key_users([row], tmp_path / "k.xlsx")
    with open(tmp_path / "k.csv", encoding="utf-8-sig", newline="") as fh:
        header, values = list(csv.reader(fh))
    cells = dict(zip(header, values))
    assert cells["户号"] == "0012345678" and cells["户名"] == "'=*" and cells["原因"].startswith("'=")
    assert cells["建议动作"] == "'-2+3" and cells["联系电话"] == "138****1234"
    ws = load_workbook(tmp_path / "k.xlsx").active
    by_header = {ws.cell(1, i).value: ws.cell(2, i) for i in range(1, ws.max_column + 1)}
    assert by_header["户号"].value == "0012345678" and by_header["户号"].data_type == "s"
    assert by_header["户号"].number_format == "@"
    assert all(not (isinstance(c.value, str) and c.value.startswith("=")) for c in by_header.values())
    assert by_header["重点用户分"].value == 88.5


def test_keyusers_cli_prints_and_exports_masked(sample_store, tmp_path):
    from pipeline.store import open_snapshot

    con = open_snapshot(sample_store)
    district, phones = con.execute("""
        SELECT s.district_id, list(c.phone) FROM segments s JOIN customers c USING (customer_id)
        GROUP BY ALL ORDER BY count(*) DESC LIMIT 1""").fetchall()[0]
    con.close()
    runner = CliRunner()
    out = runner.invoke(app, ["keyusers", "--district", district, "--top", "3", "--store", str(sample_store)],
                        env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "重点用户" in out.output and "****" in out.output
    assert not any(p and p in out.output for p in phones)
    audit = sample_store / "app" / "audit.jsonl"
    before = audit.read_text(encoding="utf-8").splitlines() if audit.exists() else []
    for suffix in ("csv", "xlsx"):
        target = tmp_path / f"keyusers.{suffix}"
        out = runner.invoke(app, ["keyusers", "--district", district, "--top", "3", "--store", str(sample_store),
                                  "--output", str(target)])
        assert out.exit_code == 0, out.output
        assert target.exists()
    logged = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()[len(before):]]
    assert [(r["what"], r["rows"], r["format"], r["filter"]["district"]) for r in logged] == [
        ("keyusers (CLI)", 3, "csv", district), ("keyusers (CLI)", 3, "xlsx", district)]
    with open(tmp_path / "keyusers.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["排名"] for r in rows] == ["1", "2", "3"]
    assert all(r["联系电话"] == "" or "****" in r["联系电话"] for r in rows)
    bad = runner.invoke(app, ["keyusers", "--district", "TQ-nowhere", "--store", str(sample_store)])
    assert bad.exit_code != 0


def test_segments_describe_cli(sample_store):
    out = CliRunner().invoke(app, ["segments", "describe", "--store", str(sample_store)], env={"COLUMNS": "250"})
    assert out.exit_code == 0, out.output
    for word in ("支配型", "表达型", "耐心型", "精确型", "数据不足", "负荷形态", "价值分层", "coverage"):
        assert word in out.output


def test_a_tiny_run_with_a_formula_for_a_name(tmp_path):
    from pipeline.run import run_pipeline

    exports = tmp_path / "exports"
    write_csv(exports / "客户档案.csv", [
        ["户号", "户名", "用电地址", "用电类别", "台区编号", "台区名称", "供电所", "联系电话", "费控标志"],
        ["0012345678", '=HYPERLINK("http://evil.example","点我")', "测试路1号", "城乡居民生活用电", "TQ001", "一号台区",
         "城东供电所", "13800001234", "否"],
        ["0012345679", "李四", "测试路2号", "城乡居民生活用电", "TQ001", "一号台区", "城东供电所", "13800005678", "否"],
    ])
    store = tmp_path / "store"
    result = run_pipeline(settings_for(exports, store))
    assert result.rows["segments"] == 2
    target = tmp_path / "k.csv"
    out = CliRunner().invoke(app, ["keyusers", "--district", "一号台区", "--store", str(store), "--output", str(target)])
    assert out.exit_code == 0, out.output
    with open(target, encoding="utf-8-sig", newline="") as fh:
        names = [r["户名"] for r in csv.DictReader(fh)]
    assert sorted(names) == ["'=*", "李*"]


@pytest.mark.slow
def test_next_month_run_keeps_type_names_and_types(tmp_path):
    from datetime import date

    from pipeline.run import run_pipeline
    from pipeline.store import open_snapshot

    store = tmp_path / "store"
    run_pipeline(settings_for(SAMPLE / "exports", store))
    run_pipeline(settings_for(SAMPLE / "exports", store).with_(as_of=date(2026, 1, 31)))
    con = open_snapshot(store)
    try:
        model = ClusterModel.from_json(
            con.execute("SELECT params_json FROM segment_models WHERE model = 'disc'").fetchall()[0][0])
        assert model.naming == "previous"
        flips, typed = con.execute("""
            SELECT count(*) FILTER (WHERE a.disc_code IS DISTINCT FROM b.disc_code), count(*)
            FROM segments_history a JOIN segments_history b USING (customer_id)
            WHERE a.as_of = DATE '2025-12-31' AND b.as_of = DATE '2026-01-31' AND a.disc_code IS NOT NULL""").fetchall()[0]
        assert typed > 300 and flips <= 0.01 * typed  # the contacts did not change, so neither do the types
    finally:
        con.close()


def test_models_over_the_readings_give_the_same_rows_from_the_usage_daily_parts(sample_con, tmp_path):
    """A run hands the segments stage its usage_daily parts instead of the readings view: same care alerts."""
    from pipeline.stages.usage_daily import write_usage_daily

    tables = ("care_alerts", "segments")
    before = {t: sample_con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}
    assert before["care_alerts"], "the sample plants care alerts"
    usage = write_usage_daily(sample_con, AS_OF, tmp_path / "usage_daily.parquet", customers_per_file=300)
    files = usage.files
    assert len(usage.parts) > 1
    build_segments(sample_con, AS_OF, Params(), readings_files=files)
    after = {t: sample_con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}
    assert after == before
    # and the parts are what it read: without them, no daily reading is there to raise an alert
    for f in files:
        sample_con.execute(f"COPY (SELECT * FROM read_parquet('{f}') LIMIT 0) TO '{f}' (FORMAT parquet)")
    build_segments(sample_con, AS_OF, Params(), readings_files=files)
    assert sample_con.execute("SELECT count(*) FROM care_alerts").fetchone()[0] < len(before["care_alerts"])
    build_segments(sample_con, AS_OF, Params())  # leave the module fixture as it was
