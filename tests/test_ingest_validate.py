"""Ingest and validate on small hand-made exports: every reason, line numbers, encodings, shapes."""
from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from pipeline.engine import connect
from pipeline.errors import IngestError, MappingError
from pipeline.run import _ingest_and_validate, validate_only
from tests.conftest import customer_rows, settings_for, write_csv


def _validate(folder: Path, **extra):
    """Return (connection, counts) after ingest+validate of a folder, keeping the tables."""
    con = connect()
    scratch = Path(tempfile.mkdtemp())
    _, staged, problems, counts = _ingest_and_validate(con, settings_for(folder, scratch / "store", **extra), scratch, {}, None)
    return con, counts, staged, problems


def _rejects(con, table: str) -> list[tuple]:
    return con.execute("SELECT line, column_name, reason, message FROM rejects WHERE table_name = ? ORDER BY line",
                       [table]).fetchall()


def test_every_reason_is_reported_with_file_line_and_fix(tiny_exports: Path):
    write_csv(tiny_exports / "日电量.csv", [
        ["户号", "数据日期", "日电量", "峰电量", "谷电量"],
        ["0012345678", "2025-12-01", "5.1", "3", "2.1"],       # line 2 ok
        ["0012345678", "2025-12-01", "5.1", "3", "2.1"],       # line 3 duplicate of line 2
        ["0012345678", "2025-12-02", "-3", "", ""],            # line 4 negative reading
        ["0012345678", "2025-12-03", "1"],                     # line 5 malformed (too few columns)
        ["0099999999", "2025-12-04", "1", "", ""],             # line 6 unknown customer
        ["0012345679", "2025-13-04", "1", "", ""],             # line 7 bad date
        ["0012345679", "2025-12-05", "abc", "", ""],           # line 8 bad number
        ["", "2025-12-05", "1", "", ""],                       # line 9 missing 户号
        ["0012345679", "2025-12-06", "1,234.5", "", ""],        # line 10 ok, thousands separator
    ])
    con, counts, _, _ = _validate(tiny_exports)
    c = counts["readings"]
    assert (c.read, c.accepted, c.rejected) == (9, 2, 7)
    got = {(line, reason) for line, _, reason, _ in _rejects(con, "readings")}
    assert got == {(3, "duplicate"), (4, "out_of_range"), (5, "malformed_line"), (6, "unknown_customer"),
                   (7, "bad_date"), (8, "bad_number"), (9, "missing_value")}
    messages = {reason: msg for _, _, reason, msg in _rejects(con, "readings")}
    assert messages["bad_date"].startswith("日电量.csv line 7: ") and "YYYY-MM-DD" in messages["bad_date"]
    assert "0099999999" in messages["unknown_customer"] and "客户档案" in messages["unknown_customer"]
    assert "'-3'" in messages["out_of_range"]
    assert con.execute("SELECT kwh FROM readings WHERE reading_date = DATE '2025-12-06'").fetchone()[0] == 1234.5


def test_lost_leading_zeros_and_unknown_category_are_rejected_not_guessed(tmp_path: Path):
    rows = customer_rows(2)
    rows.append(["12345680", "王五", "x", "城乡居民生活用电", "TQ001", "一号台区", "城东供电所", "", "否"])
    rows.append(["0012345681", "赵六", "x", "工业", "TQ001", "一号台区", "城东供电所", "", "否"])
    rows.append(["0012345682", "钱七", "x", "居民", "TQ001", "一号台区", "城东供电所", "", "是"])  # synonym
    write_csv(tmp_path / "客户档案.csv", rows)
    con, counts, _, _ = _validate(tmp_path)
    assert (counts["customers"].accepted, counts["customers"].rejected) == (3, 2)
    rej = {reason: msg for _, _, reason, msg in _rejects(con, "customers")}
    assert "leading zeros" in rej["bad_account"]
    assert "values.category" in rej["unknown_value"]
    assert con.execute("SELECT category, prepaid FROM customers WHERE customer_id = '0012345682'").fetchone() == (
        "城乡居民生活用电", True)
    # Personal data never leaks into reject values or messages.
    assert con.execute("SELECT count(*) FROM rejects WHERE message LIKE '%王五%' OR value LIKE '%王五%'").fetchone()[0] == 0


def test_gbk_is_detected_and_transcoded(tiny_exports: Path):
    write_csv(tiny_exports / "缴费记录.csv", [
        ["户号", "缴费时间", "缴费金额", "缴费渠道", "账期"],
        ["0012345678", "2025-12-05 10:00:00", "100", "微信支付", "202511"],
        ["0012345679", "2025/12/06 09:30", "88.5", "柜台", "2025-11"],
    ], encoding="gbk")
    con, counts, staged, _ = _validate(tiny_exports)
    assert [s.encoding for s in staged if s.table == "payments"] == ["gb18030"]
    assert counts["payments"].accepted == 2
    rows = con.execute("SELECT channel, period, paid_at FROM payments ORDER BY customer_id").fetchall()
    assert [r[0] for r in rows] == ["微信", "营业厅"]
    assert str(rows[1][1]) == "2025-11-01" and str(rows[1][2]) == "2025-12-06 09:30:00"


def test_gbk_file_declared_as_utf8_names_the_line_and_the_fix(tiny_exports: Path, tmp_path: Path):
    gbk = write_csv(tiny_exports / "缴费记录.csv", [
        ["户号", "缴费时间", "缴费金额", "缴费渠道"], ["0012345678", "2025-12-05 10:00:00", "100", "微信"]], encoding="gbk")
    settings = settings_for(tiny_exports, tmp_path / "s").with_(sources=(
        settings_for(tiny_exports, tmp_path / "s").sources[0],))
    from pipeline.settings import SourceSpec
    settings = settings.with_(sources=(SourceSpec(path=tiny_exports / "客户档案.csv"),
                                       SourceSpec(path=gbk, encoding="utf-8")))
    with pytest.raises(IngestError) as err:
        validate_only(settings)
    text = str(err.value)
    assert "缴费记录.csv: line 1 is not valid utf-8" in text and 'encoding = "gb18030"' in text


def test_a_broken_byte_in_a_gbk_file_costs_one_row(tiny_exports: Path):
    good = "户号,缴费时间,缴费金额,缴费渠道\n0012345678,2025-12-05 10:00:00,100,微信\n".encode("gbk")
    bad = b"0012345679,2025-12-05 10:00:00,100,\x81\x20\xff\n"
    tail = "0012345680,2025-12-07 10:00:00,50,支付宝\n".encode("gbk")
    (tiny_exports / "缴费记录.csv").write_bytes(good + bad + tail)
    con, counts, _, _ = _validate(tiny_exports, )
    c = counts["payments"]
    assert (c.read, c.accepted, c.rejected) == (3, 2, 1)
    assert _rejects(con, "payments")[0][0] == 3 and _rejects(con, "payments")[0][2] == "bad_encoding"


def test_invalid_utf8_lines_are_rejected_with_their_line(tiny_exports: Path):
    body = "户号,受理时间,受理渠道,业务类型,受理内容,工单编号\n" + "".join(
        f"0012345678,2025-12-0{i} 10:00:00,95598电话,咨询,客户咨询电价{i},T{i}\n" for i in range(1, 8))
    data = body.encode("utf-8").replace("电价3".encode(), b"\xff\xfe3")
    (tiny_exports / "客服工单.csv").write_bytes(data)
    con, counts, _, _ = _validate(tiny_exports)
    c = counts["contacts"]
    assert (c.read, c.accepted, c.rejected) == (7, 6, 1)
    assert _rejects(con, "contacts")[0][:3] == (4, "受理内容", "bad_encoding")


def test_missing_required_column_names_file_column_and_candidates(tiny_exports: Path):
    write_csv(tiny_exports / "电费账单.csv", [["户号", "账期月份", "电费金额"], ["0012345678", "202512", "10"]])
    with pytest.raises(MappingError) as err:
        validate_only(settings_for(tiny_exports, tiny_exports / "store"))
    text = str(err.value)
    assert "电费账单.csv" in text and "账期 (period)" in text and "账期月份" in text
    assert "tables.bills.columns.period" in text


def test_mapping_override_fixes_a_dialect(tiny_exports: Path, tmp_path: Path):
    write_csv(tiny_exports / "电费账单.csv", [["户号", "账期月份", "电费金额"], ["0012345678", "202512", "10"]])
    override = tmp_path / "mapping.yaml"
    override.write_text("tables:\n  bills:\n    columns:\n      period: [账期月份]\n", encoding="utf-8")
    con, counts, _, _ = _validate(tiny_exports, mapping=str(override))
    assert counts["bills"].accepted == 1
    assert str(con.execute("SELECT period FROM bills").fetchone()[0]) == "2025-12-01"


def test_wide_readings_excel_and_parquet_all_load(tiny_exports: Path):
    write_csv(tiny_exports / "日电量宽表_202512.csv", [
        ["户号", "电表资产号", "2025-12-01", "2025-12-02", "2025-12-03"],
        ["0012345678", "M1", "1.5", "", "2.5"],
        ["0012345679", "M2", "-1", "2", "3"],
    ])
    pq.write_table(pa.table({"户号": ["0012345680"], "数据日期": ["2025-11-30"], "日电量": [4.0]}),
                   tiny_exports / "日电量_202511.parquet")
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["申请编号", "户号", "业务类型", "申请时间", "完成时间", "当前环节"])
    from datetime import datetime
    ws.append(["A1", "0012345678", "光伏并网", datetime(2025, 3, 1, 9, 0), datetime(2025, 3, 20, 15, 0), "归档"])
    ws.append(["A2", "0012345679", "充电桩", datetime(2025, 12, 1, 9, 0), None, "勘查"])
    ws.append(["A3", "0012345679", "烧烤", datetime(2025, 12, 1, 9, 0), None, "勘查"])
    wb.save(tiny_exports / "业扩报装.xlsx")
    con, counts, staged, _ = _validate(tiny_exports)
    wide = next(s for s in staged if s.label.startswith("日电量宽表"))
    assert len(wide.resolution.wide_dates) == 3 and wide.resolution.unknown == ("电表资产号",)
    c = counts["readings"]
    assert (c.read, c.accepted, c.rejected) == (6, 5, 1)  # 5 non-empty day cells + 1 parquet row
    rej = _rejects(con, "readings")[0]
    assert rej[0] == 3 and "column 2025-12-01" in rej[3]
    assert counts["applications"].accepted == 2
    app_rej = _rejects(con, "applications")[0]
    assert app_rej[0] == 4 and app_rej[2] == "unknown_value"  # Excel row 4
    assert con.execute("SELECT completed_at IS NULL FROM applications WHERE application_id = 'A2'").fetchone()[0]


def test_a_file_that_matches_nothing_is_reported(tiny_exports: Path):
    write_csv(tiny_exports / "random.csv", [["foo", "bar"], ["1", "2"]])
    _, _, _, problems = _validate(tiny_exports)
    assert problems.unassigned == ["random.csv"]


def test_headers_alone_identify_an_oddly_named_file(tiny_exports: Path):
    write_csv(tiny_exports / "export_0001.csv", [
        ["工单编号", "户号", "受理时间", "受理渠道", "业务类型", "受理内容"],
        ["T1", "0012345678", "2025-12-01 10:00:00", "95598", "报修", "家里停电了"]])
    con, counts, _, _ = _validate(tiny_exports)
    assert counts["contacts"].accepted == 1
    assert con.execute("SELECT channel, business_type FROM contacts").fetchone() == ("95598电话", "故障报修")


_cell = st.text(alphabet=st.sampled_from(list("abc,\"'\n 中文户号；") + ["\t"]), max_size=12)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contents=st.lists(_cell, min_size=1, max_size=12))
def test_any_text_round_trips_and_rows_balance(tmp_path_factory, contents):
    folder = tmp_path_factory.mktemp("prop")
    rows = customer_rows(1)
    body = [["工单编号", "户号", "受理时间", "受理渠道", "业务类型", "受理内容"]]
    body += [[f"T{i}", "0012345678", "2025-12-01 10:00:00", "95598电话", "咨询", text] for i, text in enumerate(contents)]
    write_csv(folder / "客户档案.csv", rows)
    write_csv(folder / "客服工单.csv", body)
    con, counts, _, _ = _validate(folder)
    c = counts["contacts"]
    assert c.read == len(contents) and c.balanced
    got = dict(con.execute("SELECT ticket_id, content FROM contacts").fetchall())
    for i, text in enumerate(contents):
        expected = text.strip() or None
        assert got.get(f"T{i}", "MISSING") == expected


def test_a_malformed_account_in_a_referencing_table_is_bad_account_not_unknown(tiny_exports: Path):
    write_csv(tiny_exports / "日电量.csv", [["户号", "数据日期", "日电量"], ["12345678", "2025-12-01", "1"],
                                          ["0012345678", "2025-12-01", "2"], ["0099999999", "2025-12-01", "3"]])
    con, counts, _, _ = _validate(tiny_exports)
    got = {(line, reason) for line, _, reason, _ in _rejects(con, "readings")}
    assert got == {(2, "bad_account"), (4, "unknown_customer")}
    msg = next(m for _, _, r, m in _rejects(con, "readings") if r == "bad_account")
    assert "'12345678' has 8 characters" in msg and "leading zeros" in msg


_READING_DEFECTS = [
    ["0012345678", "2025-12-01", "5.1", "3", "2.1"],       # ok
    ["0012345678", "2025-12-01", "5.1", "3", "2.1"],       # duplicate of the row above
    ["0012345678", "2025-12-02", "-3", None, None],        # negative reading
    ["0099999999", "2025-12-04", "1", None, None],         # unknown customer
    ["12345678", "2025-12-04", "1", None, None],           # lost leading zeros
    ["0012345679", "2025-13-04", "1", None, None],         # bad date
    ["0012345679", "2025-12-05", "abc", None, None],       # bad number
    [None, "2025-12-05", "1", None, None],                 # missing 户号
    ["0012345679", "2025-12-06", "1,234.5", None, None],   # ok, thousands separator
]
_READING_HEADER = ["户号", "数据日期", "日电量", "峰电量", "谷电量"]


def test_parquet_readings_are_checked_in_place_with_the_same_reasons_and_lines_as_csv(tiny_exports: Path, tmp_path: Path):
    """Parquet-backed tables stay views over the file; the rows they reject match the CSV path's, line for line."""
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    for f in tiny_exports.iterdir():
        (csv_dir / f.name).write_bytes(f.read_bytes())
    write_csv(csv_dir / "日电量.csv", [_READING_HEADER] + [["" if v is None else v for v in r] for r in _READING_DEFECTS])
    cols = list(zip(*_READING_DEFECTS))
    pq.write_table(pa.table({h: pa.array(list(c), pa.string()) for h, c in zip(_READING_HEADER, cols)}),
                   tiny_exports / "日电量.parquet")
    got = {}
    for name, folder in (("csv", csv_dir), ("parquet", tiny_exports)):
        con, counts, staged, _ = _validate(folder)
        got[name] = ({(line, reason) for line, _, reason, _ in _rejects(con, "readings")},
                     (counts["readings"].read, counts["readings"].accepted, counts["readings"].rejected),
                     sorted(con.execute("SELECT customer_id, reading_date, kwh FROM readings").fetchall()))
        kind = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = '_gp_base_readings'").fetchone()[0]
        assert kind == ("VIEW" if name == "parquet" else "BASE TABLE")  # CSV is parsed once, into a table
    assert got["parquet"] == got["csv"]
    assert got["parquet"][0] == {(3, "duplicate"), (4, "out_of_range"), (5, "unknown_customer"), (6, "bad_account"),
                                 (7, "bad_date"), (8, "bad_number"), (9, "missing_value")}
    assert got["parquet"][1] == (9, 2, 7)


def test_a_day_repeated_across_two_parquet_files_is_a_duplicate_of_the_first_file(tiny_exports: Path):
    typed = {"户号": ["0012345678", "0012345679"], "数据日期": [date(2025, 12, 1), date(2025, 12, 1)], "日电量": [1.0, 2.0]}
    pq.write_table(pa.table(typed), tiny_exports / "日电量_a.parquet")
    pq.write_table(pa.table({**typed, "日电量": [1.0, -2.0]}), tiny_exports / "日电量_b.parquet")
    pq.write_table(pa.table({"户号": ["0012345680"], "数据日期": [date(2025, 12, 1)], "日电量": [3.0]}),
                   tiny_exports / "日电量_c.parquet")
    con, counts, _, _ = _validate(tiny_exports)
    c = counts["readings"]
    assert (c.read, c.accepted, c.rejected) == (5, 3, 2) and c.balanced
    rej = con.execute("SELECT source, line, reason, message FROM rejects WHERE table_name = 'readings' ORDER BY line").fetchall()
    assert [(s, line, r) for s, line, r, _ in rej] == [("日电量_b.parquet", 2, "duplicate"), ("日电量_b.parquet", 3, "out_of_range")]
    assert "日电量_a.parquet" in rej[0][3]
    assert c.sources["日电量_b.parquet"] == {"read": 2, "accepted": 0, "rejected": 2}


def test_far_out_dates_are_rejected_and_do_not_hide_a_repeated_day(tiny_exports: Path):
    """The repeated-day check sizes its day range from the dates validation accepts: a row dated 1900 or
    2999 (rejected as out of range) neither widens it to millennia nor keeps a real duplicate from being found."""
    days = [date(2025, 12, 1), date(1900, 1, 1), date(2999, 12, 31), date(2025, 12, 1), date(2025, 12, 2)]
    pq.write_table(pa.table({"户号": ["0012345678"] * 5, "数据日期": days, "日电量": [1.0, 2.0, 3.0, 4.0, 5.0]}),
                   tiny_exports / "日电量.parquet")
    con, counts, _, _ = _validate(tiny_exports)
    c = counts["readings"]
    assert (c.read, c.accepted, c.rejected) == (5, 2, 3) and c.balanced
    assert [(line, reason) for line, _, reason, _ in _rejects(con, "readings")] == [
        (3, "date_out_of_range"), (4, "date_out_of_range"), (5, "duplicate")]
    assert con.execute("SELECT sum(kwh) FROM readings").fetchone()[0] == 6.0


def test_padded_cells_are_trimmed_of_spaces_tabs_line_breaks_and_full_width_spaces(tiny_exports: Path):
    write_csv(tiny_exports / "缴费记录.csv", [
        ["缴费流水号", "户号", "缴费时间", "缴费金额", "缴费渠道", "账期"],
        ["P1", " 0012345678 ", "2025-12-01 10:00:00", "10", "微信", "202511"],          # ASCII spaces
        ["P2", "\u30000012345678\u3000", "2025-12-02 10:00:00", "11", "\t支付宝 ", "202511"],  # full-width, tab
        ["P3", "0012345678\r\n", "2025-12-03 10:00:00", "12", " \u3000营业厅", " 2025-11 "],  # line break
        ["P4", "\u3000 \t", "2025-12-04 10:00:00", "13", "微信", "202511"],                # nothing but blanks
    ])
    con, counts, _, _ = _validate(tiny_exports)
    rows = con.execute("SELECT payment_id, customer_id, channel, period FROM payments ORDER BY payment_id").fetchall()
    assert [r[1] for r in rows] == ["0012345678"] * 3
    assert [r[2] for r in rows] == ["微信", "支付宝", "营业厅"]
    assert {r[3] for r in rows} == {date(2025, 11, 1)}
    assert [(line, reason) for line, _, reason, _ in _rejects(con, "payments")] == [(5, "missing_value")]


def test_usage_daily_parts_hold_disjoint_customer_ranges(tiny_exports: Path, tmp_path: Path):
    """usage_daily is written once as parts of 户号 ranges: every window reading in exactly one part, no
    customer in two parts, parts in 户号 order, and the folder reads as one table."""
    import duckdb

    from pipeline.run import run_pipeline
    from pipeline.stages.usage_daily import part_expr, write_usage_daily
    from pipeline.store import snapshot

    rows = customer_rows(7)
    write_csv(tiny_exports / "客户档案.csv", rows)
    ids = sorted(r[0] for r in rows[1:])
    # interleaved by day, as a metering system exports; one reading falls before the 400-day window
    rows = [[c, f"2025-12-0{day}", str(day + i)] for day in (1, 2, 3) for i, c in enumerate(reversed(ids))]
    write_csv(tiny_exports / "日电量.csv", [["户号", "数据日期", "日电量"]] + rows + [[ids[0], "2024-11-01", "9"]])
    settings = settings_for(tiny_exports, tmp_path / "store")
    result = run_pipeline(settings, keep_work=True)
    con = duckdb.connect(str(result.snapshot.parent.parent.parent / ".work" / result.run_id / "work.duckdb"))
    usage = write_usage_daily(con, settings.as_of, tmp_path / "usage_daily.parquet", customers_per_file=2)
    assert len(usage.parts) == 4 and all(len(p) == 1 for p in usage.parts)
    per_part = [sorted({r[0] for r in con.execute(f"SELECT customer_id FROM read_parquet('{p[0]}')").fetchall()})
                for p in usage.parts]
    assert per_part == [ids[0:2], ids[2:4], ids[4:6], ids[6:7]]
    assert usage.passes(4) == [[usage.parts[0][0], usage.parts[1][0]], [usage.parts[2][0], usage.parts[3][0]]]
    assert part_expr(["b", "d", "f"], "x").count("CASE") == 3  # a tree: log2 comparisons a row, not one per bound
    # the published folder is one table: 21 readings in the window, the 2024 one not
    path = snapshot(tmp_path / "store").table_path("usage_daily")
    assert path.is_dir()
    got = duckdb.connect().execute(f"SELECT count(*), sum(kwh), min(reading_date) FROM read_parquet('{path}')").fetchone()
    assert got[0] == 21 and got[1] == sum(day + i for day in (1, 2, 3) for i in range(7)) and str(got[2]) == "2025-12-01"


def test_an_outage_both_repeated_and_in_an_unknown_district_is_rejected_once(tiny_exports: Path):
    """A row that fails two cross-row checks is one reject with the first reason, not two: every input
    row is either accepted or rejected, once."""
    write_csv(tiny_exports / "停电事件.csv", [
        ["停电编号", "台区编号", "停电开始时间", "停电结束时间", "停电类型", "是否提前通知"],
        ["O1", "TQ001", "2025-12-01 08:00:00", "2025-12-01 12:00:00", "计划", "是"],
        ["O2", "TQ999", "2025-12-02 08:00:00", "2025-12-02 12:00:00", "故障", "否"],
        ["O3", "TQ999", "2025-12-02 08:00:00", "2025-12-02 12:00:00", "故障", "否"],  # repeat of O2, unknown 台区
    ])
    con, counts, _, _ = _validate(tiny_exports)
    c = counts["outages"]
    assert (c.read, c.accepted, c.rejected) == (3, 1, 2) and c.balanced
    assert [(line, reason) for line, _, reason, _ in _rejects(con, "outages")] == [
        (3, "unknown_district"), (4, "duplicate")]
    assert con.execute("SELECT count(*) FROM _gp_chk_outages").fetchone()[0] == 3
