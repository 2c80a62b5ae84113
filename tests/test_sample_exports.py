"""Tests for the seeded sample-export generator (pipeline/sample_exports.py) and the committed sample."""
from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # allow `pytest tests/...` without an installed package
    sys.path.insert(0, str(ROOT))

from pipeline.sample_exports import export_file_names, write_sample_exports  # noqa: E402

SMALL = 300
NAMES = export_file_names(date(2025, 12, 31))
COMMITTED = ROOT / "data" / "sample"


def _read(paths: dict[str, Path], name: str) -> pd.DataFrame:
    """Read one generated file the way a careful loader would: 户号 and codes as strings."""
    path = paths[name]
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".xlsx":
        return pd.read_excel(path, sheet_name="Sheet1", dtype={"户号": str, "申请编号": str}, engine="openpyxl")
    encoding = {"customers": "utf-8-sig", "payments": "gbk"}.get(name, "utf-8")
    return pd.read_csv(path, dtype=str, encoding=encoding, keep_default_na=False)


def _daily(paths: dict[str, Path]) -> pd.DataFrame:
    """All daily kWh (long file + wide month) as one frame: 户号, 数据日期 (Timestamp), 日电量."""
    long = _read(paths, "readings")[["户号", "数据日期", "日电量"]]
    wide = _read(paths, "readings_wide").drop(columns=["电表资产号"])
    wide = wide.melt(id_vars="户号", var_name="数据日期", value_name="日电量")
    wide["日电量"] = wide["日电量"].astype(float)
    out = pd.concat([long, wide], ignore_index=True)
    out["数据日期"] = pd.to_datetime(out["数据日期"])
    return out


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> dict[str, Path]:
    return write_sample_exports(tmp_path_factory.mktemp("small"), customers=SMALL, seed=7)


@pytest.fixture(scope="module")
def small_again(tmp_path_factory) -> dict[str, Path]:
    return write_sample_exports(tmp_path_factory.mktemp("small_again"), customers=SMALL, seed=7)


@pytest.fixture(scope="module")
def small_other_seed(tmp_path_factory) -> dict[str, Path]:
    return write_sample_exports(tmp_path_factory.mktemp("small_other"), customers=SMALL, seed=8)


@pytest.fixture(scope="module")
def truth(small) -> pd.DataFrame:
    return pd.read_csv(small["planted_truth"], dtype={"customer_id": str}, keep_default_na=False)


@pytest.fixture(scope="module")
def daily(small) -> pd.DataFrame:
    return _daily(small)


# ---------------------------------------------------------------------------------- files and shape
def test_writes_every_export_and_truth_file(small):
    expected = set(NAMES) | {"planted_truth", "contacts_truth", "defects"}
    assert set(small) == expected
    for name, path in small.items():
        assert path.exists() and path.stat().st_size > 0, name
        assert path.parent.name == ("truth" if name in ("planted_truth", "contacts_truth", "defects") else "exports")


@pytest.mark.parametrize("name", ["customers", "readings", "readings_wide", "bills", "payments", "contacts",
                                  "outages", "applications", "planted_truth", "contacts_truth", "defects"])
def test_same_seed_gives_same_data(small, small_again, name):
    pd.testing.assert_frame_equal(_read(small, name), _read(small_again, name))


def test_csv_and_parquet_outputs_are_byte_identical_for_a_seed(small, small_again):
    for name in small:
        if small[name].suffix != ".xlsx":
            assert small[name].read_bytes() == small_again[name].read_bytes(), name


@pytest.mark.parametrize("name", ["customers", "readings", "bills", "contacts"])
def test_different_seed_gives_different_data(small, small_other_seed, name):
    a, b = _read(small, name), _read(small_other_seed, name)
    assert a.shape != b.shape or not a.equals(b)


def test_customer_file_headers_encoding_and_account_numbers(small):
    raw = small["customers"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "客户档案.csv must be UTF-8 with BOM"
    cust = _read(small, "customers")
    assert list(cust.columns) == [
        "户号", "户名", "用电地址", "用电类别", "电压等级", "合同容量(kVA)", "立户日期", "台区编号", "台区名称", "供电所",
        "行业分类", "联系电话", "证件号码", "费控标志", "电价类型", "缴费方式", "电子账单", "独居老人", "低保户", "残疾人",
        "聋哑人", "外籍人士"]
    assert len(cust) == SMALL and cust["户号"].is_unique
    assert cust["户号"].str.fullmatch(r"\d{10}").all()
    assert cust["户号"].str.startswith("0").sum() > SMALL * 0.2, "many 户号 must carry leading zeros"
    assert set(cust["用电类别"]) == {"城乡居民生活用电", "一般工商业", "大工业", "农业生产"}
    assert cust["台区编号"].str.fullmatch(r"TQ\d+").all()
    assert cust["证件号码"].str.len().eq(18).all()
    phones = cust["联系电话"][cust["联系电话"] != ""]
    assert phones.str.fullmatch(r"1\d{2}0000\d{4}").all()
    assert set(cust["电价类型"]) <= {"阶梯", "分时", "阶梯分时", "单一"}
    for col in ("费控标志", "电子账单", "独居老人", "低保户", "残疾人", "聋哑人", "外籍人士"):
        assert set(cust[col]) <= {"是", "否"}, col
    pd.to_datetime(cust["立户日期"], format="%Y-%m-%d")


def test_district_and_station_counts(small):
    cust = _read(small, "customers")
    assert cust["台区编号"].nunique() >= 20
    assert cust["供电所"].nunique() >= 4
    assert cust.groupby("台区编号")["台区名称"].nunique().eq(1).all()


def test_readings_cover_thirteen_months(small, daily):
    long = _read(small, "readings")
    assert long["户号"].dtype != np.int64
    assert long["数据日期"].min() == date(2024, 12, 1) and long["数据日期"].max() == date(2025, 11, 30)
    months = daily["数据日期"].dt.to_period("M").unique()
    assert len(months) == 13
    assert daily.groupby("户号").size().eq(396).all(), "every customer has every day of the window"
    split = long["峰电量"] + long["平电量"] + long["谷电量"]
    assert np.allclose(split, long["日电量"], atol=0.011)
    assert (long[["日电量", "峰电量", "平电量", "谷电量"]] >= 0).all().all()


def test_wide_file_has_one_column_per_day(small):
    wide = pd.read_csv(small["readings_wide"], dtype=str)
    days = [f"2025-12-{d:02d}" for d in range(1, 32)]
    assert list(wide.columns) == ["户号", "电表资产号"] + days
    assert len(wide) == SMALL and wide["户号"].is_unique


def test_payments_file_is_gbk_not_utf8(small):
    raw = small["payments"].read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("gbk")
    assert text.startswith("缴费流水号,户号,缴费时间,缴费金额,缴费渠道,账期")
    pay = _read(small, "payments")
    assert set(pay["缴费渠道"]) <= {"网上国网", "微信", "支付宝", "银行代扣", "营业厅", "自助终端"}
    pd.to_datetime(pay["缴费时间"], format="%Y-%m-%d %H:%M:%S")


def test_headers_of_other_exports(small):
    assert list(_read(small, "bills").columns) == [
        "户号", "账期", "结算电量", "电费金额", "应收电费", "实收电费", "欠费金额", "违约金", "缴费截止日期"]
    assert list(_read(small, "contacts").columns) == [
        "工单编号", "户号", "受理时间", "受理渠道", "业务类型", "受理内容", "处理时长(小时)", "是否超时", "转派次数",
        "回访满意度", "是否重复来电", "通话时长(秒)"]
    assert list(_read(small, "outages").columns) == [
        "停电编号", "台区编号", "停电开始时间", "停电结束时间", "停电类型", "是否提前通知"]
    apps = _read(small, "applications")
    assert list(apps.columns) == ["申请编号", "户号", "业务类型", "申请时间", "完成时间", "当前环节"]
    assert pd.api.types.is_datetime64_any_dtype(apps["申请时间"]), "times must be real Excel datetimes"
    assert apps["户号"].str.fullmatch(r"\d{10}").all()


# ---------------------------------------------------------------------------------- consistency
def test_bills_are_consistent_with_payments(small):
    bills = _read(small, "bills")
    bills = bills[bills["账期"].str.fullmatch(r"20\d{2}(0[1-9]|1[0-2])")]
    assert sorted(bills["账期"].unique()) == [f"{y}{m:02d}" for y, m in [(2024, 12)] + [(2025, k) for k in range(1, 13)]]
    num = bills[["电费金额", "应收电费", "实收电费", "欠费金额", "违约金"]].astype(float)
    assert np.allclose(num["欠费金额"], num["应收电费"] - num["实收电费"], atol=0.011)
    assert np.allclose(num["应收电费"], num["电费金额"] + num["违约金"], atol=0.011)
    pay = _read(small, "payments").drop_duplicates()
    paid = pay.assign(amt=pay["缴费金额"].astype(float)).groupby(["户号", "账期"])["amt"].sum()
    received = bills.assign(r=num["实收电费"]).set_index(["户号", "账期"])["r"]
    joined = received.to_frame().join(paid, how="left").fillna(0.0)
    assert np.allclose(joined["r"], joined["amt"], atol=0.011)
    due = pd.to_datetime(bills["缴费截止日期"], format="%Y-%m-%d")
    assert (due.dt.day == 25).all()


def test_contacts_vocabularies(small):
    con = _read(small, "contacts")
    assert set(con["受理渠道"]) <= {"95598电话", "网上国网", "营业厅", "公众号", "上门"}
    assert set(con["业务类型"]) <= {"咨询", "故障报修", "投诉", "举报", "意见", "表扬", "催办", "业务申请"}
    assert set(con["回访满意度"]) <= {"满意", "基本满意", "不满意", "未回访"}
    assert set(con["是否超时"]) == {"是", "否"} and set(con["是否重复来电"]) == {"是", "否"}
    assert con["工单编号"].is_unique
    assert con["受理内容"].nunique() > 0.9 * len(con), "texts must be varied"


# ---------------------------------------------------------------------------------- truth and planted behaviour
def test_truth_has_planted_counts_for_every_behaviour(truth):
    assert len(truth) == SMALL
    for col in ("is_ev", "is_pv", "is_vacant", "is_elderly_alone", "is_abnormal", "is_late_payer",
                "is_chronic_complainer"):
        assert truth[col].astype(int).sum() > 0, col
    assert (truth["elderly_stop_date"] != "").sum() > 0
    assert (truth["abnormal_start"] != "").sum() == truth["is_abnormal"].sum()
    assert set(truth["disc_type"]) <= {"", "D", "I", "S", "C"}
    with_contacts = truth["n_contacts"] > 0
    assert (truth.loc[with_contacts, "disc_type"] != "").all()
    assert (truth.loc[~with_contacts, "disc_type"] == "").all()
    assert set(truth.loc[with_contacts, "disc_type"]) == {"D", "I", "S", "C"}


def test_truth_is_not_inside_exports(small):
    exported = {p.name for p in small["customers"].parent.iterdir()}
    assert not exported & {"planted_truth.csv", "contacts_truth.csv", "defects.csv"}


def test_ev_owners_have_higher_valley_share(small, truth):
    long = _read(small, "readings")
    long = long.merge(truth[["customer_id", "is_ev", "ev_start", "category", "is_pv", "is_vacant"]],
                      left_on="户号", right_on="customer_id")
    res = long[(long["category"] == "城乡居民生活用电") & (long["is_pv"] == 0) & (long["is_vacant"] == 0)]
    ev = res[(res["is_ev"] == 1) & (pd.to_datetime(res["数据日期"]) >= pd.to_datetime(res["ev_start"]))]
    other = res[res["is_ev"] == 0]
    share = lambda f: f.groupby("户号")["谷电量"].sum() / f.groupby("户号")["日电量"].sum()  # noqa: E731
    assert share(ev).median() > 0.5
    assert share(ev).median() > share(other).median() + 0.15
    assert ev["日电量"].mean() > other["日电量"].mean()


def test_vacant_homes_use_almost_nothing(daily, truth):
    vacant = truth.loc[truth["is_vacant"] == 1, "customer_id"]
    v = daily[daily["户号"].isin(vacant)]
    assert v["日电量"].max() <= 0.3
    assert v.groupby("户号")["日电量"].mean().max() < 0.3


def test_elderly_stop_shows_as_zero_days(daily, truth):
    stopped = truth[truth["elderly_stop_date"] != ""]
    assert len(stopped) > 0
    for _, row in stopped.iterrows():
        s = daily[daily["户号"] == row["customer_id"]].set_index("数据日期")["日电量"].sort_index()
        start = pd.Timestamp(row["elderly_stop_date"])
        assert (s[start: start + pd.Timedelta(days=2)] <= 0.1).all(), row["customer_id"]
        assert s[start - pd.Timedelta(days=14): start - pd.Timedelta(days=1)].mean() > 1.0
        if row["elderly_resume_date"]:
            resume = pd.Timestamp(row["elderly_resume_date"])
            assert (s[start: resume - pd.Timedelta(days=1)] <= 0.1).all()
            assert s[resume:].mean() > 1.0
        else:
            assert (s[start:] <= 0.1).all()


def test_elderly_alone_use_little_and_steadily(daily, truth):
    eld = truth.loc[(truth["is_elderly_alone"] == 1) & (truth["elderly_stop_date"] == ""), "customer_id"]
    stats = daily[daily["户号"].isin(eld)].groupby("户号")["日电量"].agg(["mean", "std"])
    assert stats["mean"].between(1.5, 5.0).all()
    assert (stats["std"] / stats["mean"]).median() < 0.2
    assert truth.loc[truth["is_elderly_alone"] == 1, "elderly_flagged"].mean() < 1.0, "not every one is flagged"


def test_abnormal_use_drops_after_its_start(daily, truth):
    for _, row in truth[truth["is_abnormal"] == 1].iterrows():
        s = daily[daily["户号"] == row["customer_id"]].set_index("数据日期")["日电量"].sort_index()
        start = pd.Timestamp(row["abnormal_start"])
        before = s[start - pd.Timedelta(days=21): start - pd.Timedelta(days=1)].mean()
        after = s[start: start + pd.Timedelta(days=20)].mean()
        assert after < 0.6 * before, row["customer_id"]


def test_late_payers_and_chronic_complainers_are_visible(small, truth):
    assert truth.loc[truth["is_late_payer"] == 1, "n_late_bills_12m"].min() >= 3
    assert truth.loc[truth["is_late_payer"] == 0, "n_late_bills_12m"].max() <= 2
    assert truth.loc[truth["is_chronic_complainer"] == 1, "n_complaints_12m"].min() >= 4
    assert truth.loc[truth["is_chronic_complainer"] == 0, "n_complaints_12m"].max() <= 3
    elderly = truth.loc[truth["is_elderly_alone"] == 1, "customer_id"]
    pay = _read(small, "payments")
    assert (pay[pay["户号"].isin(elderly)]["缴费渠道"] == "营业厅").mean() > 0.5


def test_contact_habits_follow_disc_type(small, truth):
    con = _read(small, "contacts").merge(truth[["customer_id", "disc_type"]], left_on="户号", right_on="customer_id")
    secs = pd.to_numeric(con["通话时长(秒)"], errors="coerce")
    by_type = secs.groupby(con["disc_type"]).median()
    assert by_type["D"] < by_type["C"] < by_type["S"] < by_type["I"]
    chase = (con["业务类型"] == "催办").groupby(con["disc_type"]).mean()
    assert chase["D"] > chase["S"]
    app = (con["受理渠道"] == "网上国网").groupby(con["disc_type"]).mean()
    assert app["C"] == app.max()


def test_contacts_truth_labels(small):
    ct = pd.read_csv(small["contacts_truth"], dtype=str, keep_default_na=False)
    con = _read(small, "contacts")
    assert set(ct["ticket_id"]) <= set(con["工单编号"])
    assert set(ct["sentiment"]) == {"negative", "neutral", "positive"}
    motives = {m for ms in ct["motives"] for m in ms.split("|") if m}
    assert motives == {"venting", "respect", "advice", "compensation", "fairness", "efficiency"}
    assert (ct.loc[ct["sentiment"] != "negative", "motives"] == "").all()
    assert set(ct["escalation"]) == {"0", "1"} and set(ct["abuse"]) <= {"0", "1"}
    assert set(ct["special_need"]) <= {"", "hearing", "foreign", "elderly_alone"}
    text = con.set_index("工单编号").loc[ct["ticket_id"], "受理内容"].to_numpy()
    esc = ct["escalation"].to_numpy() == "1"
    assert all(any(k in t for k in ("领导", "12398", "12345", "曝光", "投诉你们", "能源", "法院", "法律", "网上",
                                    "manager", "authorities")) for t in text[esc])


def test_defects_are_recorded_and_located(small):
    defects = pd.read_csv(small["defects"], dtype=str, keep_default_na=False)
    assert set(defects["kind"]) == {"duplicate_row", "negative_value", "invalid_period", "unknown_customer",
                                    "invalid_timestamp"}
    assert "客户档案.csv" not in set(defects["file"])
    by_file = {NAMES["payments"]: "payments", NAMES["bills"]: "bills", NAMES["contacts"]: "contacts",
               NAMES["readings_wide"]: "readings_wide"}
    customers = set(_read(small, "customers")["户号"])
    for _, d in defects.iterrows():
        frame = _read(small, by_file[d["file"]])
        row = frame.iloc[int(d["row"]) - 1]
        if d["kind"] == "duplicate_row":
            assert row.equals(frame.iloc[int(d["row"]) - 2])
        elif d["kind"] == "negative_value":
            assert float(row[d["column"]]) < 0
        elif d["kind"] == "unknown_customer":
            assert row["户号"] not in customers
        else:
            assert row[d["column"]] == d["value"]


def test_without_defects_files_are_clean(tmp_path):
    paths = write_sample_exports(tmp_path, customers=120, seed=3, with_defects=False)
    assert pd.read_csv(paths["defects"]).empty
    pay = _read(paths, "payments")
    assert not pay.duplicated().any()
    assert _read(paths, "bills")["账期"].str.fullmatch(r"\d{6}").all()


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        write_sample_exports(tmp_path, customers=10)
    with pytest.raises(ValueError):
        write_sample_exports(tmp_path, customers=100, noise=2.0)


# ---------------------------------------------------------------------------------- committed sample
@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> dict[str, Path]:
    if not (COMMITTED / "exports" / NAMES["customers"]).exists():
        pytest.skip("data/sample has not been generated")
    return write_sample_exports(tmp_path_factory.mktemp("regen"), customers=2000, seed=42)


@pytest.mark.parametrize("name", ["customers", "bills", "contacts", "applications", "planted_truth"])
def test_committed_sample_matches_generator(regenerated, name):
    sub = "truth" if name == "planted_truth" else "exports"
    committed = {name: COMMITTED / sub / regenerated[name].name}
    pd.testing.assert_frame_equal(_read(committed, name), _read(regenerated, name))


def test_committed_sample_size(regenerated):
    total = sum(p.stat().st_size for p in COMMITTED.rglob("*") if p.is_file())
    assert total < 15 * 1024 * 1024
    truth = pd.read_csv(COMMITTED / "truth" / "planted_truth.csv", dtype={"customer_id": str})
    assert len(truth) >= 2000
