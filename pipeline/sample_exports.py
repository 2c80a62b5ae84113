"""Seeded sample exports for grid-portrait: realistic utility exports plus the planted truth.

`write_sample_exports` writes what a utility's systems would hand over (营销系统, 采集系统, 95598)
under `out_dir/exports/`, in the files, encodings and Chinese headers the default header mapping
expects, and the behaviours it planted under `out_dir/truth/` (never read by the pipeline; used to
evaluate tags, text analysis and clustering).

Run: ``python -m pipeline.sample_exports --out data/sample --customers 2000 --seed 42``
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = ["write_sample_exports", "export_file_names"]

# --------------------------------------------------------------------------------------
# Domain constants (DOMAIN.md defaults)
# --------------------------------------------------------------------------------------
LADDER_LIMITS = (2880.0, 4800.0)  # kWh / year
LADDER_PRICES = (0.4883, 0.5383, 0.7883)  # 元 / kWh
TOU_PRICES = (0.5583, 0.4883, 0.3583)  # 峰 / 平 / 谷 for 阶梯分时 households
TOU_LADDER_SURCHARGE = (0.0, 0.05, 0.30)  # added per kWh in tier 2 / tier 3
PENALTY_RATE = 0.001  # 违约金: 0.1 % of the overdue amount per day
DUE_DAY = 25  # 缴费截止日期: the 25th of the month after the period

CATEGORIES = ("城乡居民生活用电", "一般工商业", "大工业", "农业生产")
CATEGORY_SHARES = (0.88, 0.09, 0.01, 0.02)
RES, BIZ, IND, AGR = 0, 1, 2, 3

PAY_CHANNELS = ("网上国网", "微信", "支付宝", "银行代扣", "营业厅", "自助终端")
PAY_METHOD_OF_CHANNEL = {
    "网上国网": "网上国网", "微信": "微信", "支付宝": "支付宝",
    "银行代扣": "银行代扣", "营业厅": "柜台缴费", "自助终端": "柜台缴费",
}
CONTACT_CHANNELS = ("95598电话", "网上国网", "营业厅", "公众号", "上门")
BUSINESS_TYPES = ("咨询", "故障报修", "投诉", "举报", "意见", "表扬", "催办", "业务申请")
DISC_TYPES = ("D", "I", "S", "C")
MOTIVES = ("venting", "respect", "advice", "compensation", "fairness", "efficiency")

SPRING_FESTIVAL = {
    2023: date(2023, 1, 22), 2024: date(2024, 2, 10), 2025: date(2025, 1, 29),
    2026: date(2026, 2, 17), 2027: date(2027, 2, 6), 2028: date(2028, 1, 26),
}
XLSX_CREATED = datetime(2026, 1, 1, 0, 0, 0)  # fixed so the workbook is byte-reproducible

# Per-part random streams: changing one part of the generator leaves the others' data unchanged.
_PART_CUSTOMERS, _PART_OUTAGES, _PART_READINGS, _PART_BILLS = 1, 2, 3, 4
_PART_APPS, _PART_CONTACTS, _PART_TEXT, _PART_DEFECTS = 5, 6, 7, 8


def _rng(seed: int, part: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), part])


# --------------------------------------------------------------------------------------
# Names, places, identifiers
# --------------------------------------------------------------------------------------
CITY = "江州市"
_SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_OLD_GIVEN = (
    "建国 国华 秀英 桂英 玉兰 淑珍 德明 志强 桂兰 凤英 秀兰 翠花 福生 长林 树林 文华 玉珍 明华 振华 淑英 "
    "春生 金凤 宝山 素芳 永福 德胜 玉梅 素珍 国庆 建华 秀珍 桂芳 长春 兰英 志明 凤兰"
).split()
_YOUNG_GIVEN = (
    "子涵 浩然 雨萱 欣怡 梓轩 宇航 思远 佳怡 俊杰 嘉怡 晨曦 一鸣 诗琪 天宇 子豪 雅婷 思彤 博文 志远 若曦 "
    "明轩 雨桐 梦瑶 家豪 文博 晓东 丽娜 海涛 婷婷 晓燕 伟杰 佳琪 振宇 晓峰 玉洁 宏伟 春燕 丹丹 俊辉 敏杰"
).split()
_GIVEN_CHARS = list(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉斌波宁琳飞鑫浩宇轩欣怡婷雪梅林峰健亮俊凯帆"
    "晨阳博文彬莉楠颖倩婧蕾瑶璐琦瑞祥福庆荣昌盛"
)
_FOREIGN_NAMES = (
    "John Smith", "Maria Garcia", "David Miller", "James Wilson", "Emma Brown", "Kim Minjun",
    "Tanaka Hiroshi", "Olga Ivanova", "Lucas Martin", "Sarah Johnson", "Michael Brown", "Anna Kowalski",
    "Nguyen Van An", "Pierre Dubois", "Sofia Rossi", "Ahmed Khan",
)
_BRANDS = (
    "鑫源 恒达 华兴 宏发 永盛 金诚 天润 博远 佳和 瑞丰 兴旺 顺达 新华 美佳 聚福 德隆 汇通 锦程 众和 "
    "东方 泰和 万家 福满 金鼎 隆昌 盛世 宏图 润泽 康达 长青"
).split()
_SHOP_KINDS = (
    ("超市", "批发和零售业", 1.05), ("餐饮店", "住宿和餐饮业", 1.1), ("服装店", "批发和零售业", 1.05),
    ("五金店", "批发和零售业", 0.9), ("商贸有限公司", "批发和零售业", 0.6), ("物业管理有限公司", "房地产业", 0.8),
    ("大酒店", "住宿和餐饮业", 1.05), ("大药房", "卫生和社会工作", 1.0), ("便利店", "批发和零售业", 1.05),
    ("培训学校", "教育", 1.15), ("汽车维修有限公司", "居民服务、修理和其他服务业", 0.8),
    ("网络科技有限公司", "信息传输、软件和信息技术服务业", 0.45), ("茶楼", "住宿和餐饮业", 1.15),
    ("食品加工厂", "制造业", 0.7), ("诊所", "卫生和社会工作", 0.7), ("印刷厂", "制造业", 0.6),
)
_FACTORY_KINDS = (
    ("机械制造有限公司", "通用设备制造业"), ("金属制品有限公司", "金属制品业"), ("化工有限公司", "化学原料和化学制品制造业"),
    ("纺织有限公司", "纺织业"), ("新型建材有限公司", "非金属矿物制品业"), ("塑料制品有限公司", "橡胶和塑料制品业"),
    ("电子科技有限公司", "计算机、通信和其他电子设备制造业"), ("食品有限公司", "农副食品加工业"),
)
_FARM_KINDS = (("种植专业合作社", "农业"), ("养殖场", "畜牧业"), ("灌溉站", "农业"), ("水产养殖场", "渔业"))
_ESTATES = (
    "幸福小区 阳光花园 翠湖苑 锦绣家园 金色港湾 紫荆花园 和平新村 滨江名都 书香门第 御景湾 绿洲家园 世纪花城 "
    "康居小区 梧桐苑 文化新村 春晖小区 龙湖尚城 桂花园 丽景华庭 新华里 东湖小区 枫林苑 南苑新村 长江花园 "
    "星河湾 明珠花苑 清水湾 工人新村 电力宿舍 翡翠城"
).split()
_VILLAGES = "李家村 王庄村 河口村 张湾村 杨柳村 石桥村 大沟村 东岗村 刘家湾 桃园村 新河村 双塘村 高桥村 前进村".split()
_STREETS = "人民路 解放路 中山路 建设路 胜利路 文化路 滨江路 新华路 和平路 朝阳路 长江路 光明路".split()
_STATIONS = (
    ("城东供电所", "城东区", "urban"), ("城西供电所", "城西区", "urban"), ("城南供电所", "城南区", "urban"),
    ("开发区供电所", "经济开发区", "industrial"), ("桥头镇供电所", "桥头镇", "rural"),
    ("河口镇供电所", "河口镇", "rural"), ("城北供电所", "城北区", "urban"), ("新港供电所", "新港镇", "rural"),
    ("高新区供电所", "高新区", "industrial"), ("白沙镇供电所", "白沙镇", "rural"),
)
_ACCOUNT_PREFIXES = ("00", "31", "01", "32", "05", "33", "02", "35", "06", "36")
_PHONE_HEADS = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
                "158", "159", "177", "180", "186", "188", "189")
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = "10X98765432"
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _person_name(rng: np.random.Generator, age: int) -> str:
    weights = 1.0 / np.arange(1, len(_SURNAMES) + 1) ** 0.6
    surname = _SURNAMES[rng.choice(len(_SURNAMES), p=weights / weights.sum())]
    if rng.random() < 0.45:
        pool = _OLD_GIVEN if age >= 55 else _YOUNG_GIVEN
        return surname + pool[rng.integers(len(pool))]
    if rng.random() < 0.5:
        return surname + _GIVEN_CHARS[rng.integers(len(_GIVEN_CHARS))]
    return surname + "".join(_GIVEN_CHARS[j] for j in rng.integers(len(_GIVEN_CHARS), size=2))


def _resident_id(rng: np.random.Generator, birth: date) -> str:
    """An 18-character ID with a valid check digit but area code 99xxxx, which no province uses."""
    body = f"99{rng.integers(0, 10000):04d}{birth:%Y%m%d}{rng.integers(0, 1000):03d}"
    total = int(np.dot(_ID_WEIGHTS, [int(c) for c in body]))
    return body + _ID_CHECK[total % 11]


def _credit_code(rng: np.random.Generator) -> str:
    """A 统一社会信用代码-shaped code ('91' + area 99xxxx + 9 chars + check) with a valid check char."""
    org = "".join(_USCC_CHARS[j] for j in rng.integers(len(_USCC_CHARS), size=9))
    body = f"9199{rng.integers(0, 10000):04d}{org}"
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(body, _USCC_WEIGHTS))
    return body + _USCC_CHARS[(31 - total % 31) % 31]


def _fake_phone(rng: np.random.Generator) -> str:
    """An 11-digit mobile number with 0000 in the middle: looks real, is obviously fake."""
    return f"{_PHONE_HEADS[rng.integers(len(_PHONE_HEADS))]}0000{rng.integers(0, 10000):04d}"


# --------------------------------------------------------------------------------------
# Calendar
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Calendar:
    """The 13-month window ending at as_of: days, months and the long/wide split."""

    as_of: date
    start: date
    days: np.ndarray  # datetime64[D], start .. as_of
    months: tuple[tuple[int, int], ...]
    month_start_idx: np.ndarray
    wide_idx: int  # first day of the as_of month: the wide export starts here

    @classmethod
    def ending(cls, as_of: date) -> "_Calendar":
        start = date(as_of.year - 1, as_of.month, 1)
        days = np.arange(np.datetime64(start, "D"), np.datetime64(as_of, "D") + 1)
        months, idx = [], []
        for i, d in enumerate(days.astype(object)):
            if d.day == 1:
                months.append((d.year, d.month))
                idx.append(i)
        wide_idx = int((np.datetime64(date(as_of.year, as_of.month, 1), "D") - days[0]).astype(int))
        return cls(as_of, start, days, tuple(months), np.array(idx), wide_idx)

    @property
    def n_days(self) -> int:
        return len(self.days)

    @property
    def doy(self) -> np.ndarray:
        years = self.days.astype("datetime64[Y]")
        return (self.days - years.astype("datetime64[D]")).astype(int) + 1

    @property
    def weekday(self) -> np.ndarray:
        return (self.days.astype(int) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0

    def index_of(self, d: date) -> int:
        return int((np.datetime64(d, "D") - self.days[0]).astype(int))

    def date_at(self, i: int) -> date:
        return self.start + timedelta(days=int(i))

    def due_date(self, m: int) -> date:
        y, mo = self.months[m]
        y, mo = (y + 1, 1) if mo == 12 else (y, mo + 1)
        return date(y, mo, DUE_DAY)

    def issue_date(self, m: int) -> date:
        return self.due_date(m).replace(day=1)


def export_file_names(as_of: date = date(2025, 12, 31)) -> dict[str, str]:
    """Return the export file names for a window ending at `as_of`."""
    cal = _Calendar.ending(as_of)
    last_long = cal.date_at(cal.wide_idx - 1)
    return {
        "customers": "客户档案.csv",
        "readings": f"日电量_{cal.start:%Y%m}-{last_long:%Y%m}.parquet",
        "readings_wide": f"日电量宽表_{as_of:%Y%m}.csv",
        "bills": "电费账单.csv",
        "payments": "缴费记录.csv",
        "contacts": "客服工单.csv",
        "outages": "停电事件.csv",
        "applications": "业扩报装.xlsx",
    }


# --------------------------------------------------------------------------------------
# Customers and planted roles
# --------------------------------------------------------------------------------------
@dataclass
class _World:
    """Everything generated so far, as aligned per-customer arrays and per-district lists."""

    cal: _Calendar
    n: int
    ids: np.ndarray  # object: 10-digit strings
    category: np.ndarray  # int RES/BIZ/IND/AGR
    kind: np.ndarray  # object household kind
    age: np.ndarray  # int; 0 for organisations
    tq: np.ndarray  # district index
    tq_ids: list[str] = field(default_factory=list)
    tq_names: list[str] = field(default_factory=list)
    tq_kind: list[str] = field(default_factory=list)
    tq_station: list[int] = field(default_factory=list)
    tq_frequent_fault: np.ndarray | None = None
    station_names: list[str] = field(default_factory=list)
    weekend_factor: np.ndarray | None = None
    flags: dict[str, np.ndarray] = field(default_factory=dict)
    roles: dict[str, np.ndarray] = field(default_factory=dict)
    dates: dict[str, list] = field(default_factory=dict)  # per-customer planted dates (or None)
    numbers: dict[str, np.ndarray] = field(default_factory=dict)
    pref_channel: np.ndarray | None = None
    tariff: np.ndarray | None = None
    prepaid: np.ndarray | None = None
    profile: dict[str, list] = field(default_factory=dict)  # customer-file columns


def _exact_counts(n: int, shares: tuple[float, ...]) -> list[int]:
    counts = [int(round(n * s)) for s in shares[1:]]
    return [n - sum(counts)] + counts


def _districts(rng: np.random.Generator, n_customers: int) -> tuple[list, list, list, list, list]:
    n_tq = max(24, int(np.ceil(n_customers / 75)))
    n_station = max(5, int(np.ceil(n_tq / 5)))
    stations = list(_STATIONS[:n_station]) + [
        (f"第{k}供电所", f"第{k}片区", "urban") for k in range(len(_STATIONS) + 1, n_station + 1)
    ]
    per_station = np.full(n_station, n_tq // n_station)
    per_station[: n_tq % n_station] += 1
    tq_ids, tq_names, tq_kind, tq_station = [], [], [], []
    estates = list(rng.permutation(_ESTATES))
    villages = list(rng.permutation(_VILLAGES))
    used_codes: set[int] = set()
    for s, (sname, area, skind) in enumerate(stations):
        for k in range(per_station[s]):
            if skind == "rural":
                kind = "commercial" if k == 0 else "village"
            elif skind == "industrial":
                kind = "industrial" if k < 2 else "urban"
            else:
                kind = "commercial" if k == 0 else "urban"
            if kind == "urban":
                base = estates.pop() if estates else f"新区{len(tq_ids)}号小区"
                name = f"{base}{rng.integers(1, 4)}号台区"
            elif kind == "village":
                base = villages.pop() if villages else f"新村{len(tq_ids)}"
                name = f"{base}{rng.integers(1, 3)}号台区"
            elif kind == "commercial":
                name = f"{area}{_STREETS[rng.integers(len(_STREETS))]}商业街{k + 1}号台区"
            else:
                name = f"{area}工业园{k + 1}号台区"
            code = int(rng.integers(1000, 9999))
            while code in used_codes:
                code = int(rng.integers(1000, 9999))
            used_codes.add(code)
            tq_ids.append(f"TQ3301{s + 1:02d}{code:04d}")
            tq_names.append(name)
            tq_kind.append(kind)
            tq_station.append(s)
    return tq_ids, tq_names, tq_kind, tq_station, [s[0] for s in stations]


def _assign_roles(rng: np.random.Generator, w: _World) -> None:
    """Plant vacant / elderly-alone / EV / PV / abnormal / late payer / chronic complainer."""
    n, res = w.n, w.category == RES
    kind = w.kind
    res_idx = np.flatnonzero(res)
    n_res = len(res_idx)
    tq_kind = np.array(w.tq_kind, dtype=object)[w.tq]

    def pick(candidates: np.ndarray, count: int, weights: np.ndarray | None = None) -> np.ndarray:
        count = min(count, len(candidates))
        if count <= 0:
            return np.array([], dtype=int)
        p = None if weights is None else weights / weights.sum()
        return np.sort(rng.choice(candidates, size=count, replace=False, p=p))

    role = {k: np.zeros(n, dtype=bool) for k in
            ("vacant", "elderly_alone", "ev", "pv", "abnormal", "late_payer", "chronic")}
    role["vacant"] = kind == "vacant"
    role["elderly_alone"] = kind == "elderly_alone"
    families = np.isin(kind, ["couple", "family_small", "family_large"])
    ev_cand = np.flatnonzero(families & (w.age < 60))
    ev_w = np.where(tq_kind[ev_cand] == "urban", 2.0, 1.0)
    ev = pick(ev_cand, max(2, round(0.05 * n_res)), ev_w)
    role["ev"][ev] = True
    pv_cand = np.flatnonzero(np.isin(kind, ["family_small", "family_large", "couple", "elderly_couple"]) & ~role["ev"])
    pv_w = np.where(tq_kind[pv_cand] == "village", 6.0, 1.0)
    pv = pick(pv_cand, max(2, round(0.03 * n_res)), pv_w)
    role["pv"][pv] = True
    ab_cand = np.flatnonzero(
        (np.isin(kind, ["single_young", "couple", "family_small", "family_large"]) | (w.category == BIZ))
        & ~role["ev"] & ~role["pv"]
    )
    ab_w = np.where(w.category[ab_cand] == BIZ, 1.5, 1.0)
    ab = pick(ab_cand, max(2, round(0.02 * n_res)), ab_w)
    role["abnormal"][ab] = True
    active = ~role["vacant"]
    late = pick(np.flatnonzero(active), max(3, round(0.08 * n)))
    role["late_payer"][late] = True
    chronic_cand = np.flatnonzero(active & ~role["elderly_alone"] & (w.category != IND))
    chronic = pick(chronic_cand, max(3, round(0.02 * n)))
    role["chronic"][chronic] = True
    w.roles = role

    # planted dates
    cal = w.cal
    ev_start: list = [None] * n
    for i in ev:
        if rng.random() < 0.65:
            ev_start[i] = cal.start - timedelta(days=int(rng.integers(30, 900)))
        else:
            ev_start[i] = cal.start + timedelta(days=int(rng.integers(60, cal.n_days - 75)))
    stop: list = [None] * n
    resume: list = [None] * n
    eld = np.flatnonzero(role["elderly_alone"])
    n_stop = max(2, round(0.3 * len(eld)))
    for i in pick(eld, n_stop):
        s = cal.as_of - timedelta(days=int(rng.integers(3, 60)))
        stop[i] = s
        if rng.random() < 0.5:
            r = s + timedelta(days=int(rng.integers(3, 21)))
            resume[i] = r if r <= cal.as_of else None
    ab_start: list = [None] * n
    ratio = np.zeros(n)
    for i in ab:
        ab_start[i] = cal.as_of - timedelta(days=int(rng.integers(20, 181)))
        ratio[i] = rng.uniform(0.2, 0.4)
    pv_cap = np.zeros(n)
    pv_cap[pv] = rng.uniform(3.0, 8.0, size=len(pv)).round(1)
    w.dates = {"ev_start": ev_start, "elderly_stop_date": stop, "elderly_resume_date": resume,
               "abnormal_start": ab_start}
    w.numbers = {"abnormal_ratio": ratio, "pv_capacity_kw": pv_cap}


def _customers(seed: int, n: int, cal: _Calendar) -> _World:
    rng = _rng(seed, _PART_CUSTOMERS)
    tq_ids, tq_names, tq_kind, tq_station, stations = _districts(rng, n)
    n_tq = len(tq_ids)
    counts = _exact_counts(n, CATEGORY_SHARES)
    category = rng.permutation(np.repeat(np.arange(4), counts))

    # district of each customer: uneven district sizes, category-appropriate kinds
    kinds = np.array(tq_kind)
    size_w = rng.dirichlet(np.full(n_tq, 4.0)) + 0.01
    tq = np.zeros(n, dtype=int)
    allowed = {
        RES: np.isin(kinds, ["urban", "village"]),
        BIZ: np.isin(kinds, ["commercial", "urban", "village"]),
        IND: kinds == "industrial",
        AGR: kinds == "village",
    }
    boost = {BIZ: np.where(kinds == "commercial", 6.0, 1.0)}
    for c in range(4):
        idx = np.flatnonzero(category == c)
        ok = allowed[c] if allowed[c].any() else np.ones(n_tq, bool)
        p = size_w * ok * boost.get(c, 1.0)
        tq[idx] = rng.choice(n_tq, size=len(idx), p=p / p.sum())
    # every district gets at least a few customers
    for t in range(n_tq):
        if not (tq == t).any():
            cand = np.flatnonzero((category == RES) if kinds[t] != "industrial" else (category != IND))
            tq[rng.choice(cand, size=min(3, len(cand)), replace=False)] = t

    # household kinds and ages
    kind = np.empty(n, dtype=object)
    age = np.zeros(n, dtype=int)
    res_idx = np.flatnonzero(category == RES)
    n_res = len(res_idx)
    # vacant 4 %, elderly alone 5 %, elderly couple 8 %, single 12 %, couple 25 %, small family 30 %, large: the rest
    order = ["family_large", "vacant", "elderly_alone", "elderly_couple", "single_young", "couple", "family_small"]
    res_counts = _exact_counts(n_res, (0.0, 0.04, 0.05, 0.08, 0.12, 0.25, 0.30))
    kind[res_idx] = rng.permutation(np.repeat(np.array(order, dtype=object), res_counts))
    age_range = {"vacant": (30, 70), "elderly_alone": (68, 92), "elderly_couple": (62, 85),
                 "single_young": (22, 36), "couple": (25, 60), "family_small": (30, 56), "family_large": (35, 66)}
    for i in res_idx:
        lo, hi = age_range[kind[i]]
        age[i] = rng.integers(lo, hi + 1)
    kind[category == BIZ] = "business"
    kind[category == IND] = "industrial"
    kind[category == AGR] = "agriculture"
    agr = np.flatnonzero(category == AGR)
    farmer = np.zeros(n, dtype=bool)
    farmer[agr[rng.random(len(agr)) < 0.5]] = True  # half the farm accounts are in a person's name
    age[farmer] = rng.integers(35, 70, size=farmer.sum())

    # account numbers: station prefix + sequential number with random gaps
    station_of = np.array(tq_station)[tq]
    ids = np.empty(n, dtype=object)
    for s in range(len(stations)):
        idx = np.flatnonzero(station_of == s)
        if len(idx) == 0:
            continue
        start = int(rng.integers(1_000_000, 40_000_000))
        nums = start + np.cumsum(rng.integers(1, 3000, size=len(idx)))
        ids[rng.permutation(idx)] = [f"{_ACCOUNT_PREFIXES[s % 10]}{x:08d}" for x in nums]
    order_idx = np.argsort(ids.astype(str), kind="stable")
    category, kind, age, tq, ids, farmer = (a[order_idx] for a in (category, kind, age, tq, ids, farmer))

    w = _World(cal=cal, n=n, ids=ids, category=category, kind=kind, age=age, tq=tq, tq_ids=tq_ids,
               tq_names=tq_names, tq_kind=tq_kind, tq_station=tq_station, station_names=stations)
    _assign_roles(rng, w)
    _profile(rng, w, farmer)
    return w


def _special_flags(rng: np.random.Generator, w: _World) -> dict[str, np.ndarray]:
    n, res = w.n, w.category == RES
    role = w.roles
    flags = {k: np.zeros(n, dtype=bool) for k in ("elderly", "low_income", "disabled", "hearing", "foreign")}
    eld = np.flatnonzero(role["elderly_alone"])
    n_flag = int(round(0.85 * len(eld)))
    flags["elderly"][rng.choice(eld, size=n_flag, replace=False)] = True
    occupied = res & ~role["vacant"]
    flags["low_income"] = occupied & (rng.random(n) < np.where(role["elderly_alone"], 0.12, 0.025))
    flags["disabled"] = occupied & (rng.random(n) < np.where(w.age >= 65, 0.05, 0.015))
    cand_h = np.flatnonzero(occupied & ~role["elderly_alone"])
    flags["hearing"][rng.choice(cand_h, size=max(3, round(0.008 * n)), replace=False)] = True
    urban = np.array(w.tq_kind, dtype=object)[w.tq] == "urban"
    cand_f = np.flatnonzero(np.isin(w.kind, ["single_young", "couple", "family_small"]) & urban & ~flags["hearing"])
    flags["foreign"][rng.choice(cand_f, size=min(len(cand_f), max(3, round(0.008 * n))), replace=False)] = True
    return flags


def _profile(rng: np.random.Generator, w: _World, farmer: np.ndarray) -> None:
    """Fill the 客户档案 columns, payment preferences, tariff and special-group flags."""
    n, cal = w.n, w.cal
    w.flags = flags = _special_flags(rng, w)
    role = w.roles
    tq_kind = np.array(w.tq_kind, dtype=object)[w.tq]
    cols: dict[str, list] = {k: [] for k in (
        "户名", "用电地址", "用电类别", "电压等级", "合同容量(kVA)", "立户日期", "行业分类", "联系电话",
        "证件号码", "费控标志", "电价类型", "缴费方式", "电子账单")}
    pref = np.empty(n, dtype=object)
    tariff = np.empty(n, dtype=object)
    prepaid = np.zeros(n, dtype=bool)
    weekend = np.ones(n)
    latest_open = cal.start - timedelta(days=30)
    for i in range(n):
        c, k, a = w.category[i], w.kind[i], int(w.age[i])
        tk = tq_kind[i]
        area = _STATIONS[w.tq_station[w.tq[i]] % len(_STATIONS)][1]
        base_name = w.tq_names[w.tq[i]].split("号台区")[0].rstrip("0123456789")
        if c == RES:
            name = (_FOREIGN_NAMES[rng.integers(len(_FOREIGN_NAMES))] if flags["foreign"][i]
                    else _person_name(rng, a))
            if tk == "village":
                addr = f"{CITY}{area}{base_name}{rng.integers(1, 9)}组{rng.integers(1, 120)}号"
            else:
                addr = (f"{CITY}{area}{base_name}{rng.integers(1, 30)}栋{rng.integers(1, 5)}单元"
                        f"{rng.integers(1, 19)}{rng.integers(1, 5):02d}室")
            volt = "交流380V" if rng.random() < (0.25 if role["ev"][i] or role["pv"][i] else 0.04) else "交流220V"
            cap = int(rng.choice([12, 16, 20])) if volt == "交流380V" else int(rng.choice([4, 6, 8, 8, 10]))
            earliest = date(1995, 1, 1) if a >= 60 else date(2003, 1, 1)
            industry = "乡村居民" if tk == "village" else "城镇居民"
            ident = _resident_id(rng, date(cal.as_of.year - a, int(rng.integers(1, 13)), int(rng.integers(1, 29))))
            ev_like = role["ev"][i] and rng.random() < 0.85
            tariff[i] = "阶梯分时" if ev_like or rng.random() < 0.32 else "阶梯"
            prepaid[i] = rng.random() < 0.62
            if role["vacant"][i]:
                pref[i] = rng.choice(["银行代扣", "网上国网", "微信"], p=[0.6, 0.3, 0.1])
            elif role["elderly_alone"][i]:
                pref[i] = rng.choice(["营业厅", "银行代扣", "自助终端", "微信"], p=[0.8, 0.1, 0.05, 0.05])
            elif a >= 65:
                pref[i] = rng.choice(["营业厅", "银行代扣", "自助终端", "微信", "网上国网"], p=[0.55, 0.2, 0.1, 0.1, 0.05])
            elif a < 40:
                pref[i] = rng.choice(["网上国网", "微信", "支付宝", "银行代扣", "营业厅"], p=[0.35, 0.3, 0.2, 0.1, 0.05])
            else:
                pref[i] = rng.choice(["银行代扣", "微信", "网上国网", "支付宝", "营业厅", "自助终端"],
                                     p=[0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
            ebill = rng.random() < (0.7 if a < 40 else 0.45 if a < 65 else 0.08)
            weekend[i] = 1.0 if k in ("elderly_alone", "vacant") else rng.uniform(1.0, 1.15)
        else:
            brand = _BRANDS[rng.integers(len(_BRANDS))]
            if c == BIZ:
                shop, industry, weekend[i] = _SHOP_KINDS[rng.integers(len(_SHOP_KINDS))]
                name = f"{CITY}{brand}{shop}"
                addr = f"{CITY}{area}{_STREETS[rng.integers(len(_STREETS))]}{rng.integers(1, 400)}号"
                volt = rng.choice(["交流380V", "交流220V", "交流10kV"], p=[0.75, 0.15, 0.10])
                cap = int(rng.choice([20, 30, 50, 80, 100, 125, 160, 200, 250, 315]))
                if volt == "交流10kV":
                    cap = int(rng.choice([315, 400, 500, 630]))
                tariff[i] = "分时" if rng.random() < 0.6 else "单一"
                prepaid[i] = rng.random() < 0.3
                weekend[i] *= rng.uniform(0.92, 1.08)
            elif c == IND:
                fk, industry = _FACTORY_KINDS[rng.integers(len(_FACTORY_KINDS))]
                name = f"{CITY}{brand}{fk}"
                addr = f"{CITY}{area}工业园{_STREETS[rng.integers(len(_STREETS))]}{rng.integers(1, 200)}号"
                volt = "交流35kV" if rng.random() < 0.15 else "交流10kV"
                cap = int(rng.choice([315, 400, 500, 630, 800, 1000, 1250, 1600, 2000]))
                tariff[i] = "分时"
                weekend[i] = rng.uniform(0.85, 0.95)
            else:
                fk, industry = _FARM_KINDS[rng.integers(len(_FARM_KINDS))]
                village = base_name if tk == "village" else _VILLAGES[rng.integers(len(_VILLAGES))]
                name = _person_name(rng, a) if farmer[i] else f"{CITY}{village}{brand}{fk}"
                addr = f"{CITY}{area}{village}{rng.integers(1, 9)}组"
                volt = "交流380V" if rng.random() < 0.8 else "交流220V"
                cap = int(rng.choice([10, 15, 20, 30, 50]))
                tariff[i] = "单一"
                prepaid[i] = rng.random() < 0.4
            earliest = date(2003, 1, 1)
            ident = (_resident_id(rng, date(cal.as_of.year - a, int(rng.integers(1, 13)), int(rng.integers(1, 29))))
                     if farmer[i] else _credit_code(rng))
            pref[i] = rng.choice(["银行代扣", "网上国网", "营业厅", "微信"], p=[0.45, 0.25, 0.2, 0.1])
            ebill = rng.random() < 0.5
        span = (latest_open - earliest).days
        opened = earliest + timedelta(days=int(span * rng.random() ** 0.8))
        cols["户名"].append(name)
        cols["用电地址"].append(addr)
        cols["用电类别"].append(CATEGORIES[c])
        cols["电压等级"].append(str(volt))
        cols["合同容量(kVA)"].append(cap)
        cols["立户日期"].append(opened.isoformat())
        cols["行业分类"].append(industry)
        cols["联系电话"].append("" if rng.random() < 0.02 else _fake_phone(rng))
        cols["证件号码"].append(ident)
        cols["费控标志"].append("是" if prepaid[i] else "否")
        cols["电价类型"].append(tariff[i])
        cols["缴费方式"].append(PAY_METHOD_OF_CHANNEL[pref[i]])
        cols["电子账单"].append("是" if ebill else "否")
    w.pref_channel, w.tariff, w.prepaid, w.weekend_factor = pref, tariff, prepaid, weekend
    w.profile = cols


def _customers_frame(w: _World) -> pd.DataFrame:
    yn = lambda a: np.where(a, "是", "否")  # noqa: E731
    p = w.profile
    return pd.DataFrame({
        "户号": w.ids.astype(str),
        "户名": p["户名"],
        "用电地址": p["用电地址"],
        "用电类别": p["用电类别"],
        "电压等级": p["电压等级"],
        "合同容量(kVA)": p["合同容量(kVA)"],
        "立户日期": p["立户日期"],
        "台区编号": np.array(w.tq_ids, dtype=object)[w.tq],
        "台区名称": np.array(w.tq_names, dtype=object)[w.tq],
        "供电所": np.array(w.station_names, dtype=object)[np.array(w.tq_station)[w.tq]],
        "行业分类": p["行业分类"],
        "联系电话": p["联系电话"],
        "证件号码": p["证件号码"],
        "费控标志": p["费控标志"],
        "电价类型": p["电价类型"],
        "缴费方式": p["缴费方式"],
        "电子账单": p["电子账单"],
        "独居老人": yn(w.flags["elderly"]),
        "低保户": yn(w.flags["low_income"]),
        "残疾人": yn(w.flags["disabled"]),
        "聋哑人": yn(w.flags["hearing"]),
        "外籍人士": yn(w.flags["foreign"]),
    })


# --------------------------------------------------------------------------------------
# Outages
# --------------------------------------------------------------------------------------
@dataclass
class _Outage:
    tq: int
    start: datetime
    end: datetime
    kind: str  # 计划 / 故障
    notified: bool


def _outages(seed: int, w: _World) -> list[_Outage]:
    rng = _rng(seed, _PART_OUTAGES)
    cal = w.cal
    n_tq = len(w.tq_ids)
    kinds = np.array(w.tq_kind)
    fault_w = np.where(np.isin(kinds, ["village"]), 2.5, 1.0) * rng.uniform(0.5, 1.5, n_tq)
    n_freq = max(3, round(0.15 * n_tq))
    frequent = np.zeros(n_tq, dtype=bool)
    frequent[rng.choice(n_tq, size=n_freq, replace=False, p=fault_w / fault_w.sum())] = True
    w.tq_frequent_fault = frequent
    month_w = np.array([0.6, 0.6, 0.8, 0.9, 1.0, 1.3, 1.8, 1.8, 1.2, 0.9, 0.7, 0.7])  # storms and AC load
    day_months = cal.days.astype("datetime64[M]").astype(int) % 12
    day_w = month_w[day_months]
    out: list[_Outage] = []
    for t in range(n_tq):
        for _ in range(rng.poisson(1.3)):
            d = cal.date_at(int(rng.integers(0, cal.n_days - 1)))
            while d.weekday() == 6:
                d += timedelta(days=1)
            start = datetime(d.year, d.month, d.day, int(rng.choice([7, 8, 8, 9])), int(rng.choice([0, 0, 30])))
            end = start + timedelta(hours=int(rng.integers(4, 11)), minutes=int(rng.choice([0, 0, 30])))
            out.append(_Outage(t, start, end, "计划", bool(rng.random() < 0.88)))
        n_fault = rng.poisson(10.0) + 4 if frequent[t] else rng.poisson(1.2)
        days = rng.choice(cal.n_days, size=n_fault, p=day_w / day_w.sum())
        for di in days:
            d = cal.date_at(int(di))
            start = datetime(d.year, d.month, d.day, int(rng.integers(0, 24)), int(rng.integers(0, 60)))
            minutes = int(np.clip(rng.lognormal(np.log(120), 0.7), 20, 12 * 60))
            out.append(_Outage(t, start, start + timedelta(minutes=minutes), "故障", False))
    # keep at least two planned outages without notice so the 服务沟通 gap has examples
    planned = [o for o in out if o.kind == "计划"]
    if sum(not o.notified for o in planned) < 2:
        for o in planned[:2]:
            o.notified = False
    out = [o for o in out if o.start.date() <= cal.as_of]
    out.sort(key=lambda o: (o.start, o.tq))
    return out


def _outages_frame(w: _World, outages: list[_Outage]) -> pd.DataFrame:
    per_day: dict[date, int] = {}
    ids = []
    for o in outages:
        k = per_day.get(o.start.date(), 0) + 1
        per_day[o.start.date()] = k
        ids.append(f"TD{o.start:%Y%m%d}{k:03d}")
    return pd.DataFrame({
        "停电编号": ids,
        "台区编号": [w.tq_ids[o.tq] for o in outages],
        "停电开始时间": [f"{o.start:%Y-%m-%d %H:%M:%S}" for o in outages],
        "停电结束时间": [f"{min(o.end, datetime.combine(w.cal.as_of, datetime.max.time())):%Y-%m-%d %H:%M:%S}"
                    for o in outages],
        "停电类型": [o.kind for o in outages],
        "是否提前通知": ["是" if o.notified else "否" for o in outages],
    })


# --------------------------------------------------------------------------------------
# Daily readings
# --------------------------------------------------------------------------------------
@dataclass
class _Readings:
    total: np.ndarray  # N x D, kWh rounded to 0.01
    peak: np.ndarray
    flat: np.ndarray
    valley: np.ndarray
    season_profile: np.ndarray  # object per customer
    trend: np.ndarray  # object per customer


def _weather(rng: np.random.Generator, cal: _Calendar) -> tuple[np.ndarray, np.ndarray]:
    """Daily mean temperature (°C, a Yangtze-valley city) and a 0..1 sunshine factor."""
    d = cal.n_days
    ar = np.zeros(d)
    shocks = rng.normal(0, 1.6, d)
    for i in range(1, d):
        ar[i] = 0.7 * ar[i - 1] + shocks[i]
    temp = 16.5 + 13.0 * np.sin(2 * np.pi * (cal.doy - 110) / 365.25) + ar
    sunny = rng.random(d) < 0.55 + 0.15 * np.sin(2 * np.pi * (cal.doy - 110) / 365.25)
    sun = np.where(sunny, rng.uniform(0.8, 1.0, d), rng.uniform(0.1, 0.5, d))
    return temp, sun


def _readings(seed: int, w: _World, outages: list[_Outage], noise: float) -> _Readings:
    rng = _rng(seed, _PART_READINGS)
    cal, n = w.cal, w.n
    d = cal.n_days
    role, kind, cat = w.roles, w.kind, w.category
    temp, sun = _weather(rng, cal)
    cdd = np.clip(temp - 24.0, 0, None)
    hdd = np.clip(14.0 - temp, 0, None)
    wkend = cal.weekday >= 5
    doy = cal.doy
    days_obj = cal.days.astype(object)
    sf_mask = np.zeros(d, dtype=bool)
    nd_mask = np.zeros(d, dtype=bool)
    for i, dd in enumerate(days_obj):
        sf = SPRING_FESTIVAL.get(dd.year)
        if sf and -1 <= (dd - sf).days <= 6:
            sf_mask[i] = True
        if dd.month == 10 and dd.day <= 7:
            nd_mask[i] = True

    base_by_kind = {"vacant": (0.05, 0.22), "elderly_alone": (2.0, 4.0), "elderly_couple": (3.5, 6.5),
                    "single_young": (3.0, 5.5), "couple": (5.0, 8.0), "family_small": (7.0, 11.0),
                    "family_large": (10.0, 16.0)}
    base = np.zeros(n)
    for k, (lo, hi) in base_by_kind.items():
        m = kind == k
        base[m] = rng.uniform(lo, hi, m.sum())
    m = cat == BIZ
    base[m] = np.clip(rng.lognormal(np.log(60), 0.8, m.sum()), 8, 800)
    m = cat == IND
    base[m] = np.clip(rng.lognormal(np.log(3500), 0.6, m.sum()), 800, 20000)
    m = cat == AGR
    base[m] = np.clip(rng.lognormal(np.log(35), 0.7, m.sum()), 5, 300)

    # seasonality: AC in summer, heating in winter; some dual peak, some flat
    profile = np.empty(n, dtype=object)
    profile[:] = "flat"
    res_occ = (cat == RES) & ~role["vacant"] & ~role["elderly_alone"]
    draw = rng.choice(["summer", "winter", "dual", "flat"], size=n, p=[0.45, 0.10, 0.30, 0.15])
    profile[res_occ] = draw[res_occ]
    profile[role["elderly_alone"]] = "flat"
    profile[(cat == BIZ)] = "summer"
    profile[(cat == AGR)] = "irrigation"
    a_c = np.where(np.isin(profile, ["summer", "dual"]), rng.uniform(0.08, 0.15, n), rng.uniform(0.0, 0.015, n))
    a_h = np.where(np.isin(profile, ["winter", "dual"]), rng.uniform(0.05, 0.11, n), rng.uniform(0.0, 0.01, n))
    a_c[cat == BIZ] = rng.uniform(0.04, 0.09, (cat == BIZ).sum())
    a_c[cat == IND] = 0.01
    a_h[(cat == IND) | (cat == AGR)] = 0.0
    a_c[cat == AGR] = 0.0
    a_c[role["elderly_alone"]] = 0.02
    a_h[role["elderly_alone"]] = 0.02

    sigma = np.where(cat == RES, rng.uniform(0.16, 0.30, n), rng.uniform(0.08, 0.18, n))
    sigma[cat == IND] = rng.uniform(0.04, 0.09, (cat == IND).sum())
    sigma[role["elderly_alone"]] = rng.uniform(0.05, 0.09, role["elderly_alone"].sum())
    sigma = sigma * (0.85 + 1.5 * noise)

    trend = np.empty(n, dtype=object)
    trend[:] = "stable"
    t_amp = rng.uniform(-0.05, 0.05, n)
    tr = rng.random(n)
    can_trend = ~role["vacant"] & ~role["elderly_alone"] & ~role["abnormal"]
    up = can_trend & (tr < 0.12)
    down = can_trend & (tr > 0.90)
    t_amp[up] = rng.uniform(0.2, 0.45, up.sum())
    t_amp[down] = -rng.uniform(0.18, 0.3, down.sum())
    trend[up], trend[down] = "rising", "falling"
    t_amp[~can_trend] = 0.0
    tline = np.linspace(0.0, 1.0, d)

    z = rng.standard_normal((n, d))
    day_noise = np.exp(z * sigma[:, None] - sigma[:, None] ** 2 / 2)
    wk = np.where(wkend[None, :], w.weekend_factor[:, None], 1.0)
    core = base[:, None] * wk * (1.0 + t_amp[:, None] * tline[None, :]) * day_noise
    business = cat != RES
    core[np.ix_(business & (cat != AGR), sf_mask)] *= 0.35
    core[np.ix_(business & (cat != AGR), nd_mask)] *= 0.6
    irrigation = np.exp(-(((doy - 190) / 50.0) ** 2)) + 0.5 * np.exp(-(((doy - 110) / 20.0) ** 2))
    agr = cat == AGR
    core[agr] *= 0.4 + rng.uniform(1.0, 3.0, agr.sum())[:, None] * irrigation[None, :]
    cool = base[:, None] * a_c[:, None] * cdd[None, :] * day_noise
    heat = base[:, None] * a_h[:, None] * hdd[None, :] * day_noise

    # EV charging: 8-15 kWh on most nights from ev_start, almost all in the valley period
    ev = np.zeros((n, d))
    ev_idx = np.flatnonzero(role["ev"])
    if len(ev_idx):
        start_i = np.array([max(0, cal.index_of(w.dates["ev_start"][i])) for i in ev_idx])
        on = np.arange(d)[None, :] >= start_i[:, None]
        nights = rng.random((len(ev_idx), d)) < rng.uniform(0.65, 0.92, len(ev_idx))[:, None]
        energy = rng.uniform(8.0, 15.0, len(ev_idx))[:, None] * rng.uniform(0.8, 1.2, (len(ev_idx), d))
        ev[ev_idx] = on * nights * energy

    sp = np.clip(rng.normal(0.58, 0.05, n), 0.42, 0.72)
    sf = np.clip(rng.normal(0.11, 0.03, n), 0.05, 0.18)
    sp[cat == BIZ], sf[cat == BIZ] = rng.uniform(0.6, 0.72, (cat == BIZ).sum()), 0.2
    sp[cat == IND], sf[cat == IND] = 0.40, 0.30
    sp[cat == AGR], sf[cat == AGR] = 0.50, 0.20
    sv = 1.0 - sp - sf
    peak = core * sp[:, None] + cool * 0.65 + heat * 0.45 + ev * 0.04
    flat = core * sf[:, None] + cool * 0.10 + heat * 0.10 + ev * 0.04
    valley = core * sv[:, None] + cool * 0.25 + heat * 0.45 + ev * 0.92

    mult = np.ones((n, d))
    # trips: Spring Festival and random absences of ordinary households (confounders)
    ordinary = np.flatnonzero(np.isin(kind, ["single_young", "couple", "family_small", "family_large"]))
    sf_days = np.flatnonzero(sf_mask)
    for i in ordinary:
        if len(sf_days) and rng.random() < 0.2:
            s = sf_days[0] + int(rng.integers(-3, 3))
            mult[i, max(0, s): s + int(rng.integers(4, 11))] = 0.08
        if rng.random() < 0.06:
            s = int(rng.integers(0, d - 3))
            mult[i, s: s + int(rng.integers(3, 10))] = 0.1
    # outages cut the day's consumption of every customer in the district
    for o in outages:
        di = cal.index_of(o.start.date())
        if 0 <= di < d:
            hours = min((o.end - o.start).total_seconds() / 3600.0, 24.0)
            mult[w.tq == o.tq, di] *= 1.0 - 0.9 * hours / 24.0
    # abnormal use: an abrupt, sustained drop to 20-40 % of the previous level
    for i in np.flatnonzero(role["abnormal"]):
        mult[i, cal.index_of(w.dates["abnormal_start"][i]):] *= w.numbers["abnormal_ratio"][i]
    peak, flat, valley = peak * mult, flat * mult, valley * mult

    # elderly living alone who suddenly stop: ~0 kWh from the stop date (some resume)
    for i in np.flatnonzero(role["elderly_alone"]):
        s = w.dates["elderly_stop_date"][i]
        if s is None:
            continue
        r = w.dates["elderly_resume_date"][i]
        a, b = cal.index_of(s), (cal.index_of(r) if r else d)
        tiny = rng.uniform(0.0, 0.012, b - a)
        peak[i, a:b], flat[i, a:b], valley[i, a:b] = base[i] * tiny * 0.5, 0.0, base[i] * tiny * 0.5

    # PV: the meter reports net import; generation offsets peak first, then flat, then valley
    pv_idx = np.flatnonzero(role["pv"])
    if len(pv_idx):
        psh = 3.2 + 1.6 * np.sin(2 * np.pi * (doy - 80) / 365.25)
        gen = (w.numbers["pv_capacity_kw"][pv_idx][:, None] * psh[None, :] * sun[None, :]
               * rng.uniform(0.9, 1.1, (len(pv_idx), d)))
        for arr in (peak, flat, valley):
            take = np.minimum(arr[pv_idx], gen)
            arr[pv_idx] -= take
            gen -= take

    # vacant homes: a fridge-like trickle, some days exactly zero
    vac = np.flatnonzero(role["vacant"])
    if len(vac):
        trickle = base[vac][:, None] * rng.lognormal(0, 0.35, (len(vac), d))
        trickle *= rng.random((len(vac), d)) < 0.9
        trickle = np.minimum(trickle, 0.3)
        peak[vac], flat[vac], valley[vac] = trickle * 0.5, trickle * 0.15, trickle * 0.35

    total = np.round(peak + flat + valley, 2)
    p = np.minimum(np.round(peak, 2), total)
    v = np.clip(np.minimum(np.round(valley, 2), total - p), 0.0, None)
    f = np.clip(np.round(total - p - v, 2), 0.0, None)
    return _Readings(total, p + 0.0, f + 0.0, np.round(v, 2) + 0.0, profile, trend)


def _readings_table(w: _World, r: _Readings) -> pa.Table:
    """The long export (everything before the as_of month), sorted by 户号 then date."""
    cal = w.cal
    dl = cal.wide_idx
    idx = np.repeat(np.arange(w.n), dl)
    return pa.table({
        "户号": pc.take(pa.array(w.ids.astype(str), pa.string()), pa.array(idx)),
        "数据日期": pa.array(np.tile(cal.days[:dl], w.n), pa.date32()),
        "日电量": pa.array(r.total[:, :dl].ravel(), pa.float64()),
        "峰电量": pa.array(r.peak[:, :dl].ravel(), pa.float64()),
        "平电量": pa.array(r.flat[:, :dl].ravel(), pa.float64()),
        "谷电量": pa.array(r.valley[:, :dl].ravel(), pa.float64()),
    })


def _wide_frame(seed: int, w: _World, r: _Readings) -> pd.DataFrame:
    """The metering system's wide export for the as_of month: one column per day."""
    rng = _rng(seed, _PART_READINGS + 100)
    cal = w.cal
    cols = [f"{cal.date_at(i):%Y-%m-%d}" for i in range(cal.wide_idx, cal.n_days)]
    meters = [f"33300010{x:014d}" for x in np.sort(rng.choice(10**12, size=w.n, replace=False))]
    df = pd.DataFrame(r.total[:, cal.wide_idx:], columns=cols)
    df.insert(0, "电表资产号", np.array(meters, dtype=object)[rng.permutation(w.n)])
    df.insert(0, "户号", w.ids.astype(str))
    return df


# --------------------------------------------------------------------------------------
# Bills and payments
# --------------------------------------------------------------------------------------
def _ladder_cost(cum: np.ndarray) -> np.ndarray:
    t1 = np.minimum(cum, LADDER_LIMITS[0])
    t2 = np.clip(cum - LADDER_LIMITS[0], 0, LADDER_LIMITS[1] - LADDER_LIMITS[0])
    t3 = np.clip(cum - LADDER_LIMITS[1], 0, None)
    return t1 * LADDER_PRICES[0] + t2 * LADDER_PRICES[1] + t3 * LADDER_PRICES[2], t2, t3


def _monthly(cal: _Calendar, arr: np.ndarray) -> np.ndarray:
    return np.add.reduceat(arr, cal.month_start_idx, axis=1)


def _bill_amounts(seed: int, w: _World, r: _Readings) -> tuple[np.ndarray, np.ndarray]:
    """Return (settled kWh, 电费金额) per customer and month: annual ladder, TOU or flat business rate."""
    rng = _rng(seed, _PART_BILLS + 100)
    cal = w.cal
    kwh = np.rint(_monthly(cal, r.total))
    pk, fl, vl = (_monthly(cal, a) for a in (r.peak, r.flat, r.valley))
    n, m = kwh.shape
    # cumulative kWh since January of the bill's year; months of that year before the window
    # are estimated from the same calendar months inside the window
    prior = np.zeros((n, m))
    for j, (y, mo) in enumerate(cal.months):
        same_year = [k for k, (yy, mm) in enumerate(cal.months) if yy == y and mm < mo]
        missing = [mm for mm in range(1, mo) if (y, mm) not in cal.months]
        est = [max(k for k, (_, m2) in enumerate(cal.months) if m2 == mm) for mm in missing
               if any(m2 == mm for _, m2 in cal.months)]
        prior[:, j] = kwh[:, same_year].sum(axis=1) + kwh[:, est].sum(axis=1)
    c0, t2a, t3a = _ladder_cost(prior)
    c1, t2b, t3b = _ladder_cost(prior + kwh)
    ladder = c1 - c0
    tou_res = (pk * TOU_PRICES[0] + fl * TOU_PRICES[1] + vl * TOU_PRICES[2]
               + (t2b - t2a) * TOU_LADDER_SURCHARGE[1] + (t3b - t3a) * TOU_LADDER_SURCHARGE[2])
    rate = np.where(w.category == BIZ, rng.uniform(0.55, 0.64, n),
                    np.where(w.category == IND, rng.uniform(0.52, 0.6, n), rng.uniform(0.47, 0.52, n)))
    tou_biz = rate[:, None] * (pk * 1.3 + fl * 1.0 + vl * 0.55)
    single = np.where(w.category == BIZ, rate * 1.22, rate)[:, None] * kwh
    t = w.tariff[:, None]
    amount = np.where(t == "阶梯", ladder,
                      np.where(t == "阶梯分时", tou_res, np.where(t == "分时", tou_biz, single)))
    return kwh.astype(np.int64), np.round(amount, 2)


def _pay_time(rng: np.random.Generator, day: date, channel: str) -> datetime:
    if channel == "银行代扣":
        h, mi = int(rng.integers(1, 6)), int(rng.integers(0, 60))
    elif channel == "营业厅":
        h, mi = int(rng.integers(8, 17)), int(rng.integers(0, 60))
        if h == 8:
            mi = max(mi, 30)
    elif channel == "自助终端":
        h, mi = int(rng.integers(7, 22)), int(rng.integers(0, 60))
    else:
        h = int(rng.choice(np.arange(7, 24), p=_APP_HOURS))
        mi = int(rng.integers(0, 60))
    return datetime(day.year, day.month, day.day, h, mi, int(rng.integers(0, 60)))


_APP_HOURS = np.array([2, 4, 5, 5, 5, 6, 6, 5, 5, 5, 6, 6, 8, 9, 9, 8, 6], dtype=float)
_APP_HOURS /= _APP_HOURS.sum()


@dataclass
class _Billing:
    bills: pd.DataFrame
    payments: pd.DataFrame
    n_late: np.ndarray
    has_arrears: np.ndarray
    late_bills: list  # per customer: set of late bill indices


def _billing(seed: int, w: _World, r: _Readings, noise: float) -> _Billing:
    rng = _rng(seed, _PART_BILLS)
    cal = w.cal
    kwh, amount = _bill_amounts(seed, w, r)
    n, m = amount.shape
    due = [cal.due_date(j) for j in range(m)]
    issue = [cal.issue_date(j) for j in range(m)]
    due_ok = [j for j in range(m) if due[j] <= cal.as_of]  # the bills that fell due inside the window
    last12 = due_ok[-12:]
    role = w.roles
    habit = rng.choice(["early", "mid", "deadline"], size=n, p=[0.4, 0.4, 0.2])
    penalty = np.zeros((n, m))
    received = np.zeros((n, m))
    n_late = np.zeros(n, dtype=int)
    has_arrears = np.zeros(n, dtype=bool)
    late_bills: list = []
    pay_rows: list[tuple] = []
    for i in range(n):
        pref = w.pref_channel[i]
        if role["late_payer"][i]:
            k = int(rng.integers(3, 8))
            late = set(rng.choice(last12, size=min(k, len(last12)), replace=False).tolist())
            unpaid = set()
            if rng.random() < 0.4:
                unpaid = set(last12[-int(rng.integers(1, 4)):])
                late |= unpaid
        else:
            p1 = 0.10 + 0.3 * noise
            k = int(rng.random() < p1) + int(rng.random() < p1 / 4)
            late = set(rng.choice(last12, size=k, replace=False).tolist()) if k else set()
            unpaid = set()
        late_bills.append(late)
        for j in range(m):
            amt = float(amount[i, j])
            if amt <= 0:
                continue
            if due[j] > cal.as_of:  # issued after as_of: not yet due, not yet paid
                continue
            channel = pref if rng.random() < 0.88 else PAY_CHANNELS[rng.integers(len(PAY_CHANNELS))]
            if j in unpaid:
                days = (cal.as_of - due[j]).days
                if rng.random() < 0.25 and days > 0:
                    part = round(amt * float(rng.uniform(0.3, 0.7)), 2)
                    day = issue[j] + timedelta(days=int(rng.integers(2, 20)))
                    ch = "网上国网" if channel == "银行代扣" else channel
                    pay_rows.append((i, _pay_time(rng, day, ch), part, ch, j))
                    received[i, j] = part
                    penalty[i, j] = round((amt - part) * PENALTY_RATE * days, 2)
                else:
                    penalty[i, j] = round(amt * PENALTY_RATE * days, 2)
                has_arrears[i] = True
            elif j in late:
                room = (cal.as_of - due[j]).days
                days = int(rng.integers(1, max(2, min(41, room + 1))))
                pen = round(amt * PENALTY_RATE * days, 2)
                ch = rng.choice(["网上国网", "营业厅", "微信"]) if channel == "银行代扣" else channel
                pay_rows.append((i, _pay_time(rng, due[j] + timedelta(days=days), str(ch)), round(amt + pen, 2),
                                 str(ch), j))
                penalty[i, j] = pen
                received[i, j] = round(amt + pen, 2)
            else:
                if channel == "银行代扣":
                    day = issue[j] + timedelta(days=int(rng.integers(2, 6)))
                else:
                    lo, hi = {"early": (1, 8), "mid": (8, 19), "deadline": (18, 25)}[habit[i]]
                    day = issue[j] + timedelta(days=int(rng.integers(lo, hi)))
                day = min(day, due[j])
                if rng.random() < 0.04 and channel != "银行代扣" and amt >= 20:
                    first = float(np.floor(amt * rng.uniform(0.3, 0.7)))
                    early = max(issue[j] + timedelta(days=1), day - timedelta(days=int(rng.integers(1, 5))))
                    pay_rows.append((i, _pay_time(rng, early, channel), first, channel, j))
                    pay_rows.append((i, _pay_time(rng, day, channel), round(amt - first, 2), channel, j))
                else:
                    pay_rows.append((i, _pay_time(rng, day, channel), amt, channel, j))
                received[i, j] = amt
        n_late[i] = len(late & set(last12))

    receivable = np.round(amount + penalty, 2)
    received = np.round(received, 2)
    arrears = np.round(receivable - received, 2)
    periods = [f"{y}{mo:02d}" for y, mo in cal.months]
    bills = pd.DataFrame({
        "户号": np.repeat(w.ids.astype(str), m),
        "账期": np.tile(periods, n),
        "结算电量": kwh.ravel(),
        "电费金额": amount.ravel(),
        "应收电费": receivable.ravel(),
        "实收电费": received.ravel(),
        "欠费金额": arrears.ravel(),
        "违约金": penalty.ravel(),
        "缴费截止日期": np.tile([d.isoformat() for d in due], n),
    })
    pay_rows.sort(key=lambda t: (t[1], w.ids[t[0]], t[4]))
    payments = pd.DataFrame({
        "缴费流水号": [f"JF{t[1]:%Y%m%d}{k + 1:07d}" for k, t in enumerate(pay_rows)],
        "户号": [w.ids[t[0]] for t in pay_rows],
        "缴费时间": [f"{t[1]:%Y-%m-%d %H:%M:%S}" for t in pay_rows],
        "缴费金额": [t[2] for t in pay_rows],
        "缴费渠道": [t[3] for t in pay_rows],
        "账期": [periods[t[4]] for t in pay_rows],
    })
    return _Billing(bills, payments, n_late, has_arrears, late_bills)


# --------------------------------------------------------------------------------------
# Applications (业扩报装)
# --------------------------------------------------------------------------------------
_STAGES = ("受理", "勘查", "答复方案", "装表接电")


@dataclass
class _Application:
    customer: int
    app_type: str
    applied: datetime
    completed: datetime | None
    stage: str


def _work_time(rng: np.random.Generator, d: date) -> datetime:
    return datetime(d.year, d.month, d.day, int(rng.integers(8, 18)), int(rng.integers(0, 60)),
                    int(rng.integers(0, 60)))


def _applications(seed: int, w: _World) -> list[_Application]:
    rng = _rng(seed, _PART_APPS)
    cal, role = w.cal, w.roles
    apps: list[_Application] = []

    def done(i: int, kind: str, completed: date, lead_days: tuple[int, int]) -> None:
        applied = completed - timedelta(days=int(rng.integers(*lead_days)))
        apps.append(_Application(i, kind, _work_time(rng, applied), _work_time(rng, completed), "归档"))

    def open_(i: int, kind: str, applied: date) -> None:
        age = (cal.as_of - applied).days
        stage = _STAGES[min(len(_STAGES) - 1, int(age / 12 + rng.integers(0, 2)))]
        apps.append(_Application(i, kind, _work_time(rng, applied), None, stage))

    recent = lambda lo, hi: cal.as_of - timedelta(days=int(rng.integers(lo, hi)))  # noqa: E731
    for i in range(w.n):
        opened = date.fromisoformat(w.profile["立户日期"][i])
        if (cal.start - opened).days < 700:
            done(i, "新装", opened, (5, 45))
        if role["pv"][i]:
            done(i, "光伏并网", cal.start - timedelta(days=int(rng.integers(60, 1200))), (20, 60))
        elif w.category[i] == RES and not role["vacant"][i] and rng.random() < 0.006:
            open_(i, "光伏并网", recent(5, 70))
        if role["ev"][i]:
            start = w.dates["ev_start"][i]
            inside = start >= cal.start
            if rng.random() < (0.9 if inside else 0.8):
                done(i, "充电桩", start - timedelta(days=int(rng.integers(1, 10))), (8, 40))
        elif np.isin(w.kind[i], ["couple", "family_small", "family_large"]) and rng.random() < 0.012:
            open_(i, "充电桩", recent(3, 60))
        p_up = 0.08 if w.category[i] in (BIZ, IND) else 0.012
        if not role["vacant"][i] and rng.random() < p_up:
            if rng.random() < 0.75:
                done(i, "增容", recent(30, 420), (10, 50))
            else:
                open_(i, "增容", recent(5, 90))
        if w.category[i] == RES and rng.random() < 0.02:
            if rng.random() < 0.9:
                done(i, "过户", recent(5, 380), (1, 8))
            else:
                open_(i, "过户", recent(1, 20))
        if rng.random() < 0.008:
            done(i, "更名", recent(5, 380), (1, 6))
    apps = [a for a in apps
            if a.applied.date() <= cal.as_of and (a.completed is None or a.completed.date() <= cal.as_of)]
    apps.sort(key=lambda a: (a.applied, w.ids[a.customer]))
    return apps


def _write_applications(path: Path, w: _World, apps: list[_Application]) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    wb.set_properties({"created": XLSX_CREATED, "author": "营销系统", "title": "业扩报装"})
    ws = wb.add_worksheet("Sheet1")
    head = wb.add_format({"bold": True})
    dt = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    headers = ("申请编号", "户号", "业务类型", "申请时间", "完成时间", "当前环节")
    for c, h in enumerate(headers):
        ws.write_string(0, c, h, head)
    per_day: dict[date, int] = {}
    for r, a in enumerate(apps, start=1):
        k = per_day.get(a.applied.date(), 0) + 1
        per_day[a.applied.date()] = k
        ws.write_string(r, 0, f"YK{a.applied:%Y%m%d}{k:04d}")
        ws.write_string(r, 1, str(w.ids[a.customer]))
        ws.write_string(r, 2, a.app_type)
        ws.write_datetime(r, 3, a.applied, dt)
        if a.completed is not None:
            ws.write_datetime(r, 4, a.completed, dt)
        ws.write_string(r, 5, a.stage)
    ws.set_column(0, 0, 18)
    ws.set_column(1, 1, 12)
    ws.set_column(3, 4, 20)
    wb.close()


# --------------------------------------------------------------------------------------
# Contact texts
# --------------------------------------------------------------------------------------
# Fragment mini-language: leading "!" = only in negative texts, "+" = only in positive texts;
# a trailing "#m1,m2" names the complaint motives the fragment expresses (used as labels).
_TOPICS: dict[str, dict[str, list[str]]] = {
    "bill_spike": {
        "fact": ["{month}电费{amount}元，比上月高了不少", "近两个月电费比以往偏高", "{month}的电费账单金额比平时多",
                 "家中只有{people}口人，{month}用电量却有{kwh}度", "收到{month}的电费通知，金额比去年同期高",
                 "家里没有新增大功率电器，电量却增加了", "{month}电费和上个月相比多了{amount}元左右"],
        "bad": ["{month}电费突然翻了一倍，明显不正常#fairness", "家中常年没人住，电费却一点没少#fairness",
                "没有开空调，电费却涨了{k}成", "电费莫名其妙突增到{amount}元",
                "每个月电费都在涨，根本用不了这么多电#fairness", "阶梯电价一下子跳到第三档，电费高得离谱#fairness",
                "电费比邻居家高出一大截，家里人口还少#fairness"],
        "ask": ["电费为什么比上月高这么多", "{month}的电费是怎么计算的", "电费突增可能是什么原因", "怎么查询每天的用电量",
                "电费里的阶梯部分是怎么算的", "本月电费包含了哪几个月的用电"],
        "demand": ["核实电费", "调取每日用电数据核对", "上门检查用电情况", "解释电费的计算过程",
                   "退还多收的电费#compensation", "给出合理解释#fairness", "重新核算电费#fairness"],
    },
    "meter_check": {
        "fact": ["怀疑电表计量不准", "家中电器全部关闭后电表仍在走字", "新换的智能电表读数增长较快",
                 "电表显示的读数与账单上的不一致", "电表液晶屏显示不全", "电表箱门锁坏了，读数看不清"],
        "bad": ["电表明显走得快，多收了电费#fairness", "换表以后电量凭空多了{kwh}度#fairness", "电表有问题一直没人管",
                "申请校表{n}天了还没人来#efficiency"],
        "ask": ["电表校验需要怎么申请", "电表校验是否收费", "智能电表的读数怎么看", "电表多久校验一次",
                "校验不合格的话电费怎么退补"],
        "demand": ["对电表进行校验", "上门检测电表", "出具校验报告", "更换电表", "退补差错电量#compensation"],
    },
    "outage": {
        "fact": ["家中突然停电", "整栋楼都停电了", "{time}开始停电，至今未恢复", "小区大面积停电",
                 "不是停电，是家里总闸跳了合不上", "家中部分线路没电", "停电后来电没多久又停了", "楼道和家里都没电"],
        "bad": ["停电{h}个小时了一直没来电，家里老人孩子热得受不了", "大热天停电，家里根本待不下去",
                "停电也不说明原因，打电话也问不清楚#respect", "冬天停电，家里冷得不行", "晚上突然停电，什么都干不了#venting"],
        "ask": ["今天停电什么时候能恢复", "近期有没有计划停电", "停电信息在哪里可以查到", "停电是什么原因造成的"],
        "demand": ["尽快恢复供电#efficiency", "派人抢修", "说明停电原因", "告知预计来电时间", "派人上门查看"],
    },
    "no_notice": {
        "fact": ["计划停电的通知没有收到", "不清楚本次停电是计划检修"],
        "bad": ["计划停电事先没有收到任何通知#respect", "停电通知只贴在小区门口，很多住户都没看到#fairness",
                "说是计划检修，但没有提前告知，冰箱里的东西都坏了#compensation",
                "计划停电没提前通知，店里一天没法营业#compensation", "停电前一点消息都没有，家里正在做饭#venting",
                "检修停电没有短信通知，也没有公告#respect"],
        "ask": ["计划停电一般提前几天通知", "怎么订阅停电通知短信"],
        "demand": ["以后停电提前通知", "说明为什么没有通知#respect", "赔偿停电造成的损失#compensation",
                   "通过短信通知停电信息"],
    },
    "frequent_outage": {
        "fact": ["本月已经停了{n}次电", "最近一周多次停电", "一下雨就停电", "小区夏天经常停电"],
        "bad": ["一个月停了{n}次电，家里电器都快坏了#venting", "这片老是停电，别的小区都没事#fairness",
                "频繁停电反映了好几次一直没人解决#efficiency", "三天两头停电，生意根本没法做#compensation",
                "年年夏天都停电，说改造一直不改造#fairness"],
        "ask": ["频繁停电的原因是什么", "线路改造什么时候进行", "变压器是不是容量不够"],
        "demand": ["彻底解决频繁停电问题#efficiency", "对线路进行改造", "给出整改时间", "检查变压器"],
    },
    "low_voltage": {
        "fact": ["家中电压偏低，空调启动不了", "晚上用电高峰时灯光昏暗", "没有停电，只是电压很低，灯一闪一闪的",
                 "电压不稳，热水器经常跳闸", "电压低，冰箱时好时坏", "用电高峰时电压只有一百七八十伏"],
        "bad": ["电压低了一整个夏天都没人解决#efficiency", "电压忽高忽低，已经烧坏了{appliance}#compensation",
                "反映过好几次电压低，每次都说会处理#venting"],
        "ask": ["正常电压范围是多少", "电压低可以申请检测吗", "家里可以装稳压器吗"],
        "demand": ["上门检测电压", "调整变压器档位", "对线路进行增容改造", "彻底解决电压低的问题#efficiency"],
    },
    "slow_repair": {
        "fact": ["报修后抢修人员还没到", "故障报修后一直在等待抢修", "报修电话打了{n}次"],
        "bad": ["报修{h}个小时了仍然没人到现场#efficiency", "抢修人员迟迟不来，说在路上说了两个小时#efficiency",
                "抢修人员到了说没带材料又走了#venting", "故障报修{n}天了还没修好#efficiency",
                "别的地方早修好了，这里一直没人管#fairness", "抢修的人来了看了一眼就走了#respect"],
        "ask": ["抢修一般多长时间能到", "抢修进度怎么查询"],
        "demand": ["尽快派人抢修#efficiency", "告知抢修进度", "加快抢修速度#efficiency", "给出到达时间"],
    },
    "attitude": {
        "fact": ["营业厅排队时间较长", "工作人员解释得不够清楚"],
        "bad": ["营业厅工作人员态度恶劣#respect", "抢修人员说话很冲#respect", "话务员不耐烦，中途挂断了电话#respect",
                "台区经理电话长期打不通#efficiency", "工作人员互相推诿，谁都不管#efficiency",
                "营业员一边玩手机一边办业务#respect", "上门人员没有出示工作证，说话也不客气#respect",
                "工作人员解释不清楚还嫌问得多#respect"],
        "ask": ["营业厅的营业时间", "台区经理的联系方式"],
        "demand": ["对相关人员批评教育#respect", "相关人员赔礼道歉#respect", "改进服务态度", "给个说法#respect"],
    },
    "prepaid_restore": {
        "fact": ["已经交了电费，还没有恢复供电", "余额不足被远程停电，缴费后仍未来电", "缴费后等了{h}个小时才复电"],
        "bad": ["并没有欠费，却被停电了#fairness", "没收到任何欠费提醒就直接停电#respect",
                "缴费{h}个小时了还没复电，说好的24小时内呢#efficiency", "才欠了几块钱就给停电#fairness",
                "停电期间冰箱里的东西全坏了#compensation"],
        "ask": ["费控停电缴费后多久能复电", "怎么查询电费余额", "怎么设置余额不足提醒", "费控停电的规则是什么"],
        "demand": ["尽快复电#efficiency", "核实缴费到账情况", "开通余额提醒短信", "解释为什么停电#fairness"],
    },
    "expansion_progress": {
        "fact": ["{app}已经提交{n}天", "{app}勘查完了还没有答复方案", "{app}在等装表接电", "不清楚{app}办到哪一步了"],
        "bad": ["{app}提交{n}天了一点进展都没有#efficiency", "{app}材料已经交了三次还说不全#venting",
                "{app}一拖再拖，别人家早就装好了#fairness", "{app}每次问都说在走流程#efficiency"],
        "ask": ["{app}需要准备哪些材料", "{app}的办理进度", "{app}一般多长时间能办好", "{app}需要交哪些费用"],
        "demand": ["加快办理进度#efficiency", "告知办理进度", "尽快装表接电#efficiency", "一次性告知所需材料"],
    },
    "line_pole": {
        "fact": ["家门口的电杆影响车辆进出", "线路从院子上方穿过", "电线离窗户太近", "楼道里电线老化",
                 "电杆有些倾斜", "大风刮断了门前的电线"],
        "bad": ["电杆立在家门口，出门都不方便，找了好几次没人管#efficiency",
                "电线就在窗户边上，孩子在家很危险，一直没人处理#venting",
                "别人家门口的电杆都迁走了，就这里不迁#fairness"],
        "ask": ["电杆迁移怎么申请", "迁移电杆的费用由谁承担", "线路整改需要多长时间"],
        "demand": ["迁移电杆", "整改线路", "排除安全隐患", "上门查看现场"],
    },
    "compensation": {
        "fact": ["停电后冰箱里的食物变质", "来电时电压突然升高，{appliance}损坏"],
        "bad": ["停电导致冰箱里的食物全部变质#compensation", "电压突然升高烧坏了家中{appliance}#compensation",
                "来电瞬间{appliance}冒烟损坏#compensation", "停电导致店里冷柜的商品全部变质#compensation",
                "线路故障烧坏了{appliance}，维修要花好几百#compensation"],
        "ask": ["家电被烧坏了怎么申请赔偿", "停电损失能不能赔偿"],
        "demand": ["赔偿损失#compensation", "上门核实损失", "给出赔偿方案#compensation", "出具事故证明"],
    },
    "transfer": {
        "fact": ["房屋已经过户，需要变更电费户名", "新买的房子想办理电费过户", "需要把户名改成自己的名字"],
        "bad": ["过户材料交了两次还没办好#efficiency", "房子买了半年户名还没改过来#efficiency",
                "办理更名被要求跑了好几趟#venting"],
        "ask": ["办理过户需要哪些材料", "更名手续能不能网上办理", "过户以后原来的预存电费怎么处理", "过户需要本人到场吗"],
        "demand": ["办理过户更名手续", "告知所需材料", "尽快办结#efficiency", "说明办理流程"],
    },
    "tariff_query": {
        "fact": ["家里用电量较大，想改成峰谷电价", "准备买电动汽车，想了解充电电价", "家里人口多，想申请一户多人口电价"],
        "bad": ["今年电费进入第三档，觉得阶梯电价不合理#fairness", "开通峰谷电价后电费反而更高了#advice",
                "家里人口多，阶梯电价对大家庭不公平#fairness"],
        "ask": ["阶梯电价如何分档", "峰谷电价的时段怎么划分", "分时电价对自己家是否划算", "怎么申请峰谷电价",
                "充电桩执行什么电价", "光伏上网电价是多少", "一户多人口的阶梯电价怎么申请", "居民电价什么时候调整"],
        "demand": ["解释电价政策", "开通峰谷电价", "提供电价文件", "给出用电建议#advice"],
    },
    "payment_method": {
        "fact": ["想开通银行代扣", "想用网上国网交电费", "需要开具电子发票", "想查询过去一年的缴费记录", "想开通电子账单"],
        "bad": ["银行代扣没有扣款，结果产生了违约金#fairness", "网上国网缴费成功后显示未到账",
                "同一笔电费被重复扣款#compensation", "营业厅只能排队缴费，太不方便了"],
        "ask": ["如何开通银行代扣", "网上国网怎么交电费", "能否开具电子发票", "怎么查询缴费记录", "如何开通电子账单",
                "微信可以交电费吗"],
        "demand": ["办理代扣", "核实缴费记录", "退还重复缴纳的电费#compensation", "开具发票", "减免违约金#compensation"],
    },
    "report_theft": {
        "fact": ["邻居私拉电线，疑似窃电", "附近商铺疑似绕越电表用电", "有人私自搭接路灯线路", "工地临时用电私接公用线路"],
        "bad": ["举报多次窃电问题没人处理#efficiency", "窃电的人占便宜，守规矩的人吃亏#fairness"],
        "ask": ["举报窃电有没有奖励"],
        "demand": ["查处窃电行为", "上门核查", "对举报信息保密"],
    },
}
_TOPIC_GROUP = {
    "outage": "power", "no_notice": "power", "frequent_outage": "power", "slow_repair": "power",
    "low_voltage": "power", "compensation": "power", "prepaid_restore": "power", "line_pole": "service",
    "bill_spike": "bill", "meter_check": "bill", "tariff_query": "bill", "payment_method": "bill",
    "attitude": "service", "expansion_progress": "service", "transfer": "service", "report_theft": "service",
    "praise": "praise",
}
_MOTIVE_FRAGS = {  # "@scope:" limits a fragment to some topics (see _fits); untagged fragments fit any topic
    "venting": {
        "agent": ["客户情绪激动，在电话中抱怨了很久", "客户反复抱怨，称心里憋着一肚子火", "客户表示就是想把心里的不满说出来",
                  "客户语气很冲，一直在发牢骚", "客户称被折腾得心力交瘁，十分气愤", "客户怨气很大，抱怨供电公司不作为",
                  "客户称这件事让全家人都很窝火", "客户表示实在忍无可忍", "客户大声抱怨，情绪难以平复", "客户表示已经受够了",
                  "@power:客户抱怨一停电什么都干不了，越说越气"],
        "self": ["我真是受够了", "气死我了", "太让人窝火了", "越想越生气", "你们就是这么服务的？真让人寒心",
                 "一肚子火没处发", "实在忍不了了", "烦死了，每次都这样", "我快被你们气疯了", "真的太糟心了",
                 "@bill:每个月看到电费单就来气"],
    },
    "respect": {
        "agent": ["客户认为工作人员态度冷淡，没把客户当回事", "客户称营业员爱答不理，要求道歉",
                  "@power:客户反映抢修人员说话难听，感觉不被尊重", "客户要求相关人员当面赔礼道歉", "客户称打了几次电话都被敷衍",
                  "客户表示话务员中途挂断电话，很不尊重人", "客户称工作人员不耐烦，还嫌其啰嗦", "客户认为被当成无理取闹的人"],
        "self": ["你们工作人员什么态度", "把我们老百姓当什么了", "请那位工作人员给我道个歉", "说话能不能客气一点",
                 "每次打电话都被敷衍", "我不是来求你们的", "一点都不尊重人", "连句解释都没有就挂了电话"],
    },
    "advice": {
        "agent": ["客户希望供电公司给出解决办法", "@bill:客户询问怎样用电更划算", "客户希望工作人员帮忙出个主意",
                  "客户表示不知道该怎么办，希望得到指导", "@bill:客户想了解有没有更合适的电价方案",
                  "@bill:客户请求指导如何查询每天的用电量", "@bill:客户希望给出省电建议",
                  "@power:客户询问停电期间家里的电器该怎么保护"],
        "self": ["能不能给个建议", "我该怎么办呢", "@bill:有没有什么办法能省点电费", "请告诉我应该怎么处理", "你们有什么好的建议吗",
                 "想请你们帮忙出出主意", "不知道该找谁，请指点一下", "@power:以后再停电我该怎么办"],
    },
    "compensation": {
        "agent": ["@cut:客户称停电导致家中冰箱内食物变质，要求赔偿", "@power:客户反映电压不稳烧坏了{appliance}，要求供电公司赔偿",
                  "@bill:客户要求减免违约金", "客户要求赔偿误工损失", "@power:客户称来电时电压过高损坏{appliance}，要求照价赔偿",
                  "@bill:客户要求退还多收的电费", "@power:客户要求对停电造成的损失给予补偿", "客户要求供电公司承担由此造成的损失"],
        "self": ["@cut:冰箱里的东西全坏了，这个损失谁来赔", "@power:{appliance}被烧坏了，你们必须赔", "@bill:违约金必须给我免了",
                 "@bill:多收的电费要退给我", "@power:停电害得一天没做成事，要求赔偿", "这个损失你们得负责", "耽误的工夫谁来补偿"],
    },
    "fairness": {
        "agent": ["@bill:客户认为收费不合理，同样的用电邻居电费比他少", "@only_me:客户质疑为何只有他家被停电", "客户认为应当按规定公平处理",
                  "@grid:客户称别的小区早就改造了，他们小区一直没人管", "@bill:客户质疑阶梯电价计算不公平",
                  "@prepaid_restore:客户认为并未欠费却被停电，很不公平", "@bill:客户称违约金计算没有依据", "客户认为别人能办的他也应该能办",
                  "客户质疑处理结果厚此薄彼"],
        "self": ["@only_me:凭什么别人家不停就我家停", "@bill:同样用电，凭什么我家电费这么高", "这不公平", "@grid:别的小区都改造了，为什么我们没有",
                 "@prepaid_restore:我没欠费为什么给我停电", "请按规定办事，一视同仁", "@bill:为什么同一栋楼差别这么大", "凭什么别人能办我就不能办"],
    },
    "efficiency": {
        "agent": ["客户要求尽快处理，不要再拖", "客户称已经等了{n}天仍未解决", "@power:客户要求立即派人到现场", "客户不满处理进度太慢",
                  "客户要求给出明确的处理时限", "客户称多次反映一直没有下文", "客户要求不要推诿，一次性解决"],
        "self": ["请尽快处理", "已经等了{n}天了还没人来", "能不能快一点", "到底什么时候能弄好", "别再推来推去了", "给个准确时间",
                 "拖了这么久也该解决了"],
    },
}
_EMOTION = {
    "agent": ["客户对此非常不满", "客户情绪较大", "客户表示非常失望", "客户对处理结果不认可", "客户认为供电公司不负责任"],
    "self": ["非常不满意", "太失望了", "真是无语了", "很生气", "这服务太差了"],
}
_ESCALATION = {
    "agent": ["客户扬言要找你们领导", "客户表示如不解决将拨打12398投诉", "客户称要向媒体曝光", "客户表示要打12345市长热线",
              "客户要求领导出面解决", "客户称将向能源监管部门投诉", "客户扬言要上网发帖曝光", "客户表示要走法律途径"],
    "self": ["再不解决我就找你们领导", "我要打12398投诉你们", "我要找媒体曝光", "我要打12345", "让你们领导来跟我说",
             "我会去能源局投诉", "我要发到网上让大家评评理", "我要去法院起诉你们"],
}
_ABUSE = {
    "agent": ["客户在通话中辱骂坐席人员", "客户情绪失控，出言不逊", "客户多次使用侮辱性语言", "客户对工作人员进行人身攻击"],
    "self": ["你们就是一群废物", "什么垃圾服务", "一帮混日子的", "全是吃干饭的"],
}
_DISC_FRAGS = {
    "D": {
        "agent": ["客户语气急促，要求马上给结果", "客户称没时间听解释，只要结果", "客户要求今天之内给答复",
                  "客户打断坐席解释，要求直接说怎么办", "客户要求给出明确的办理时限", "客户表示不想听流程，只要结论",
                  "!客户称几天了还没处理好，要求立即回复#efficiency", "!客户不耐烦，一再催促#efficiency",
                  "客户说话简短直接，要求尽快处理", "客户要求办完马上电话告知"],
        "self": ["请马上处理", "今天之内给我答复", "别讲流程，直接说结果", "尽快！", "!几天了还没弄好#efficiency", "我没时间等",
                 "给个准话，什么时候好", "立刻派人来", "!说了多少遍了，赶紧办#efficiency", "办完直接告诉我结果"],
    },
    "I": {
        "agent": ["客户讲述了家里的很多情况，称孩子在家上网课", "客户说小区邻居们都在群里议论这事", "客户聊起自己在这住了二十多年",
                  "客户提到老伴身体不好，家里离不开空调", "!客户情绪起伏较大，说了很多心里话#venting", "客户称楼上楼下的邻居都来问他",
                  "客户说上次来的师傅人特别好，还记得对方的名字", "客户在电话里聊了很久家里的事", "客户说要把情况告诉小区的邻居们",
                  "客户讲起过年一家人团聚的事", "+客户连声夸奖工作人员"],
        "self": ["我们家孩子在上网课", "邻居们在群里都在说这事", "跟你说，我们这栋楼的人都这么觉得", "我在这住了二十多年了",
                 "老伴身体不好，家里离不开空调", "上次那个小师傅人特别好", "我们一大家子人都等着呢", "!说实话我心里挺难受的#venting",
                 "!我都跟邻居们说了，大家都很不满#venting", "+你们的人真的太好了", "我给你讲讲前因后果"],
    },
    "S": {
        "agent": ["客户语气平和，表示不着急", "客户表示理解供电公司的工作", "客户称有空的时候来看看就行", "客户愿意等待安排",
                  "客户很有礼貌，多次表示感谢", "客户表示按规定办就行", "客户说知道师傅们辛苦", "客户态度温和，只希望能提前告知",
                  "客户表示可以慢慢处理", "客户说不想给工作人员添麻烦"],
        "self": ["不着急", "麻烦你们有空的时候来看一下", "辛苦你们了", "按你们的安排来就行", "谢谢你们", "能提前说一声就好",
                 "不好意思打扰了", "慢慢来没关系", "有空再处理也行", "给你们添麻烦了"],
    },
    "C": {
        "agent": ["@bill:客户要求提供近{m}个月的电费明细", "@bill:客户询问阶梯电价分档标准及文件依据", "@meter:客户要求出具电能表校验报告",
                  "@meter:客户核对电表读数，称与自己记录的相差{x}度", "@bill:客户询问峰谷时段的具体划分及计价方式",
                  "@bill:客户要求提供收费依据的文件编号", "客户要求书面答复", "@bill:客户详细询问违约金的计算公式",
                  "@why_cut:客户要求提供停电原因的书面说明", "@bill:客户已在网上国网查询每日电量并做了对比", "@bill:客户要求逐项列出电费构成",
                  "客户询问相关规定的具体条款", "@power:客户询问抢修时限的具体规定", "@power:客户要求说明故障原因及处理依据",
                  "@service:客户要求列出办理流程和每个环节的时限", "@service:客户询问收费标准及文件依据"],
        "self": ["@bill:请提供近{m}个月的电费明细", "@bill:阶梯电价分档的依据是哪个文件", "@meter:我自己记录的读数和账单差了{x}度",
                 "@meter:请出具电表校验报告", "@bill:峰谷时段具体是几点到几点，怎么计价", "请给出书面答复", "@bill:违约金是按什么公式算的",
                 "@bill:我在网上国网查了每天的电量，数据对不上", "@bill:请逐项列出电费构成", "请告知相关规定的具体条款",
                 "麻烦把政策文件发给我", "@power:抢修时限是哪个文件规定的", "@why_cut:请书面说明这次停电的原因和时长",
                 "@service:请列出办理流程和每一步的时限"],
    },
}
_DEMAND_WRAP = {
    "agent": {"D": ["要求立即{d}", "要求今天之内{d}", "要求马上{d}", "要求尽快{d}"],
              "I": ["希望{d}", "希望能帮帮忙，{d}", "请求{d}"],
              "S": ["希望有空时{d}", "希望{d}，不着急", "请求{d}"],
              "C": ["要求{d}并书面答复", "要求{d}，并提供依据", "要求{d}"],
              "": ["要求{d}", "希望{d}", "请求{d}"]},
    "self": {"D": ["马上{d}！", "赶紧{d}", "今天必须{d}", "请尽快{d}"],
             "I": ["希望你们{d}，拜托了", "真心希望能{d}", "请{d}"],
             "S": ["麻烦你们有空{d}，谢谢", "方便的时候{d}就行", "麻烦{d}"],
             "C": ["请{d}，并提供相关依据", "请{d}，谢谢", "请{d}，并书面告知"],
             "": ["请{d}", "希望{d}", "麻烦{d}"]},
}
_OPENERS = {
    ("phone", "say"): ["客户来电反映", "客户致电95598反映", "客户来电称", "客户来电表示", "用户来电反映"],
    ("phone", "ask"): ["客户来电咨询", "客户来电询问", "客户致电95598咨询"],
    ("hall", "say"): ["客户到营业厅反映", "客户至营业厅称", "客户在营业厅表示"],
    ("hall", "ask"): ["客户到营业厅咨询", "客户在营业厅询问"],
    ("visit", "say"): ["台区经理上门走访时，客户反映", "上门服务时客户表示", "走访中客户提到"],
    ("visit", "ask"): ["走访中客户询问", "上门服务时客户咨询"],
    ("app", "say"): ["客户通过网上国网反映", "客户在网上国网留言称"],
    ("app", "ask"): ["客户通过网上国网咨询", "客户在网上国网留言询问"],
    ("wechat", "say"): ["客户在公众号留言反映", "客户通过公众号反映"],
    ("wechat", "ask"): ["客户在公众号留言询问", "客户通过公众号咨询"],
}
_TYPE_OPENERS = {"投诉": ["客户来电投诉，称", "客户致电95598投诉，反映"], "故障报修": ["客户来电报修，称", "客户致电95598报修，反映"],
                 "举报": ["客户来电举报，称", "客户实名举报，称"], "意见": ["客户来电提出意见，认为", "客户反馈意见，称"],
                 "业务申请": ["客户申请办理业务，称", "客户来电申请，称"]}
_FOLLOWUP = {"agent": ["客户再次来电反映", "客户就此前反映的问题再次来电，称"],
             "agent_chase": ["客户第{k}次来电催办，称", "客户来电催问处理进度，称", "客户再次来电催办，称"],
             "self": ["这是我第{k}次反映了，", "上次反映的问题还没解决，", "再问一次，", "之前已经反映过，"]}
_GREETING = ["", "", "你好，", "您好，", "你好！", "请问一下，"]
_SELF_TAG = {"网上国网": ["", "", "【网上国网留言】"], "公众号": ["", "", "【公众号留言】"]}
_PRAISE = {
    "who": ["抢修班的师傅", "台区经理", "营业厅的工作人员", "95598的话务员", "供电所的小伙子", "上门服务的工作人员",
            "抢修队的王师傅", "客户经理小李"],
    "what": ["冒雨连夜抢修，很快恢复了供电", "耐心解答了电费的疑问", "主动上门帮忙检查了家里的线路", "把电费问题一次讲得清清楚楚",
             "大热天在现场干了好几个小时", "办事效率高，一次就办好了", "过年期间还坚守岗位", "手把手教会了网上国网缴费",
             "帮忙把老化的进户线换了", "半夜接到报修二十分钟就到了现场"],
    "agent_close": ["特此表扬", "客户表示非常满意", "客户称服务太贴心了", "希望给予表扬", "客户表示真心感谢", "客户为工作人员点赞"],
    "self_close": ["特此表扬！", "非常满意！", "服务太贴心了！", "希望领导表扬他们！", "真心感谢！", "点个大大的赞！"],
}
_POSITIVE_CLOSE = {"agent": ["客户对工作人员的耐心解答表示满意", "问题解决后客户表示感谢", "客户称服务很好"],
                   "self": ["谢谢，已经明白了，服务很好", "问题解决了，谢谢你们", "太好了，感谢耐心解答"]}
_SPECIAL = {
    "hearing": {"agent": ["客户为聋哑人，通过在线文字客服沟通", "客户为听障人士，由家属手语翻译",
                          "客户为聋哑人，在营业厅通过手写方式沟通", "客户听力障碍，通过短信与工作人员联系"],
                "self": ["本人聋哑，不能接听电话，请发短信或文字回复", "我是听障人士，请不要打电话，用文字联系我"]},
    "foreign": {"agent": ["外籍客户，使用英语沟通", "客户为外籍人士，中文不流利，用英语交流"]},
    "elderly_alone": {"agent": ["客户为独居老人，行动不便", "老人独自居住，子女在外地", "客户是独居老人，听力不太好，需要慢慢解释",
                                "客户年纪大了，一个人住"],
                      "self": ["我一个人住，年纪大了", "家里就我一个老人"]},
}
_ENGLISH = {
    "power": {"neu": ["The power went out this morning. When will it be back?",
                      "Our building has no electricity, please send someone to check.",
                      "Is there a planned power cut this week?"],
              "neg": ["The power keeps going off and nobody has fixed it. This is unacceptable.#venting",
                      "Nobody told us about the power cut, and all the food in my fridge is spoiled.#compensation",
                      "I reported the outage hours ago and still no one has come. Very disappointing.#efficiency"]},
    "bill": {"neu": ["How is my electricity bill calculated?", "How can I pay the electricity bill online?",
                     "What are the peak and off-peak hours?"],
             "neg": ["My bill this month is double the usual amount. This is not right.#fairness",
                     "I was charged twice for the same bill and I am really upset.#compensation"]},
    "service": {"neu": ["How long does it take to transfer the account to my name?",
                        "What documents do I need for the application?"],
                "neg": ["The staff were rude to me and did not explain anything.#respect",
                        "My application has been pending for weeks with no progress. Please hurry.#efficiency"]},
    "praise": {"pos": ["Thank you so much for fixing the power so quickly!",
                       "The staff were very helpful and patient, thank you!"]},
}
_ENGLISH_ESCALATION = ["I will complain to your manager.", "I am going to report this to the authorities."]
_APPLIANCES = ["冰箱", "空调", "电视机", "洗衣机", "热水器", "电脑", "路由器", "电饭煲", "微波炉"]
_APP_NAMES = {"充电桩": "充电桩报装", "光伏并网": "光伏并网申请", "新装": "新装申请", "增容": "增容申请"}
_CN_NUM = ["两", "三", "四", "五", "六", "七"]


_SCOPES = {  # fragment scopes beyond the topic groups power / bill / service
    "cut": ("outage", "frequent_outage", "no_notice", "compensation", "prepaid_restore"),
    "why_cut": ("outage", "frequent_outage", "no_notice", "slow_repair"),
    "only_me": ("outage", "frequent_outage", "no_notice"),
    "grid": ("frequent_outage", "low_voltage", "line_pole"),
    "meter": ("meter_check", "bill_spike"),
}


def _fits(frag: str, topic: str) -> bool:
    """Whether a fragment may appear in a text on `topic` ("@x,y:" limits it to topics, groups or scopes x, y)."""
    if not frag.startswith("@"):
        return True
    scope = frag[1:frag.index(":")].split(",")
    group = _TOPIC_GROUP.get(topic, "service")
    return any(x in (topic, group) or topic in _SCOPES.get(x, ()) for x in scope)


def _parse(frag: str) -> tuple[str, str, tuple[str, ...]]:
    if frag.startswith("@"):
        frag = frag[frag.index(":") + 1:]
    pol = "neu"
    if frag[:1] == "!":
        pol, frag = "neg", frag[1:]
    elif frag[:1] == "+":
        pol, frag = "pos", frag[1:]
    motives: tuple[str, ...] = ()
    if "#" in frag:
        frag, m = frag.split("#")
        motives = tuple(m.split(","))
    return frag, pol, motives


@dataclass
class _Text:
    content: str
    sentiment: str
    motives: tuple[str, ...]
    escalation: int
    abuse: int
    special_need: str


class _TextMaker:
    """Builds one work-order text from fragments and returns it with its labels."""

    def __init__(self, rng: np.random.Generator, noise: float):
        self.rng = rng
        self.noise = noise

    def pick(self, items: list):
        return items[int(self.rng.integers(len(items)))]

    def pick_frag(self, items: list[str], sentiment: str, banned: tuple[str, ...] = (),
                  topic: str = "") -> tuple[str, str, tuple]:
        fits = [x for x in items if _fits(x, topic)]
        allowed = [f for f in (_parse(x) for x in fits)
                   if (f[1] == "neu" or f[1] == sentiment[:3]) and not any(b in f[0] for b in banned)]
        return self.pick(allowed) if allowed else ("", "neu", ())

    def style_type(self, disc: str) -> str:
        if disc and self.rng.random() >= self.noise:
            return disc
        return self.pick([t for t in DISC_TYPES if t != disc])

    def slots(self, month: int, app: str) -> dict[str, str]:
        r = self.rng
        return {"month": f"{month}月", "amount": str(int(r.integers(180, 900))), "people": self.pick(["两", "三", "一"]),
                "kwh": str(int(r.integers(300, 1500))), "k": self.pick(["三", "四", "五", "六"]),
                "n": self.pick(_CN_NUM), "h": self.pick(["三", "四", "五", "六", "十几"]),
                "time": self.pick(["昨天晚上", "今天早上", "今天中午", "前天下午", "凌晨"]),
                "appliance": self.pick(_APPLIANCES), "app": app, "m": self.pick(["三", "六", "十二"]),
                "x": str(int(r.integers(8, 120)))}

    def make(self, *, topic: str, btype: str, channel: str, sentiment: str, motives: tuple[str, ...],
             disc: str, escalation: bool, abuse: bool, followup_k: int, special: str, place: str,
             month: int, app: str, banned: tuple[str, ...]) -> _Text:
        r = self.rng
        voice = "self" if channel in ("网上国网", "公众号") and r.random() < 0.8 else "agent"
        if special == "hearing" and voice == "agent" and channel == "95598电话":
            voice = "self"
        slots = self.slots(month, app)
        labels: set[str] = set()
        if topic == "praise":
            return self._praise(voice, disc, slots, special, banned)
        if special == "foreign" and voice == "self":
            return self._english(topic, sentiment, escalation)
        spec = _TOPICS[topic]
        asking = btype == "咨询" and sentiment != "negative" and r.random() < 0.75

        # the issue itself
        if asking:
            issue = self.pick(spec["ask"])
        elif sentiment == "negative" and (r.random() < 0.6 or not spec["fact"]):
            issue, _, mot = _parse(self.pick(spec["bad"]))
            labels.update(mot)
        else:
            issue = self.pick(spec["fact"])
        issue = issue.format(**slots)

        frags: list[str] = []
        neg_items = 0
        if sentiment == "negative":
            neg_items += 1 if labels else 0
            for mv in motives:
                text, _, _ = self.pick_frag(_MOTIVE_FRAGS[mv][voice], "negative", banned, topic)
                frags.append(text.format(**slots))
                labels.add(mv)
                neg_items += 1
        # communication-style fragments (noise mixes in other types)
        n_style = int(r.choice([0, 1, 1, 1, 2, 2])) if disc else 0
        for _ in range(n_style):
            t = self.style_type(disc)
            text, pol, mot = self.pick_frag(_DISC_FRAGS[t][voice], sentiment, banned, topic)
            if text and text.format(**slots) not in frags:
                frags.append(text.format(**slots))
                labels.update(mot)
                neg_items += pol == "neg"
        if sentiment == "negative" and (neg_items == 0 or r.random() < 0.3):
            frags.append(self.pick(_EMOTION[voice]))
        if sentiment == "negative":
            r.shuffle(frags)

        # the demand, worded in the customer's style
        demands = [d for d in (_parse(x) for x in spec["demand"]) if sentiment == "negative" or not d[2]]
        demand, _, dmot = self.pick(demands)
        labels.update(dmot)
        wrap_type = self.style_type(disc) if disc and r.random() < 0.7 else ""
        if voice == "agent" and btype == "意见" and r.random() < 0.6:
            wrapped = "建议" + demand
        else:
            wrapped = self.pick(_DEMAND_WRAP[voice][wrap_type]).format(d=demand)

        positive_close = sentiment == "positive"
        if voice == "agent":
            text = self._agent(channel, btype, asking, issue, frags, wrapped, followup_k, special, positive_close)
        else:
            text = self._self(channel, asking, issue, frags, wrapped, followup_k, special, positive_close)
        if escalation:
            esc = self.pick(_ESCALATION[voice])
            text += esc + ("。" if voice == "agent" else "！")
        if abuse:
            text += self.pick(_ABUSE[voice]) + ("。" if voice == "agent" else "！")
        if special == "foreign":
            group = _TOPIC_GROUP.get(topic, "service")
            pool = _ENGLISH[group]["neg" if sentiment == "negative" else "neu"]
            quote, _, qmot = _parse(self.pick(pool))
            labels.update(qmot)
            text += f"客户原话：\u201c{quote}\u201d"
        text = self._localise(_tidy(text), place)
        motive_labels = tuple(m for m in MOTIVES if m in labels) if sentiment == "negative" else ()
        special_label = special if (special and special in ("hearing", "foreign", "elderly_alone")) else ""
        return _Text(text, sentiment, motive_labels, int(escalation), int(abuse), special_label)

    @staticmethod
    def _localise(text: str, place: str) -> str:
        if place == "家中":
            return text
        return text.replace("家中", place).replace("家里", place).replace("家门口", "门口")

    def _agent(self, channel, btype, asking, issue, frags, wrapped, followup_k, special, positive_close) -> str:
        r = self.rng
        where = {"95598电话": "phone", "营业厅": "hall", "上门": "visit", "网上国网": "app"}.get(channel, "wechat")
        if followup_k > 1 and where == "phone":
            key = "agent_chase" if btype == "催办" else "agent"
            opener = self.pick(_FOLLOWUP[key]).format(k=_cn_ordinal(followup_k))
        elif where == "phone" and not asking and btype in _TYPE_OPENERS and r.random() < 0.5:
            opener = self.pick(_TYPE_OPENERS[btype])
        else:
            opener = self.pick(_OPENERS[(where, "ask" if asking else "say")])
        head = ""
        if special:
            head = self.pick(_SPECIAL[special]["agent"]) + "。"
        body = opener + issue
        if frags:
            body += "，" + "，".join(frags)
        body += "，" + wrapped.rstrip("！") + "。"
        if positive_close:
            body += self.pick(_POSITIVE_CLOSE["agent"]) + "。"
        return head + body

    def _self(self, channel, asking, issue, frags, wrapped, followup_k, special, positive_close) -> str:
        tag = self.pick(_SELF_TAG.get(channel, [""]))
        head = tag
        if special in ("hearing", "elderly_alone") and special in _SPECIAL and "self" in _SPECIAL[special]:
            head += self.pick(_SPECIAL[special]["self"]) + "。"
        if followup_k > 1:
            head += self.pick(_FOLLOWUP["self"]).format(k=_cn_ordinal(followup_k))
        else:
            greeting = self.pick(_GREETING)
            head += "你好，" if greeting == "请问一下，" and not asking else greeting
        body = (("" if head.endswith("请问一下，") else "请问") + issue + "？") if asking else issue
        if frags:
            body += ("" if asking else "，") + "，".join(frags)
        end = wrapped if wrapped.endswith(("！", "。")) else wrapped + "。"
        body += ("" if asking and not frags else "，") + end
        if positive_close:
            body += self.pick(_POSITIVE_CLOSE["self"]) + "。"
        return head + body

    def _praise(self, voice, disc, slots, special, banned) -> _Text:
        who, what = self.pick(_PRAISE["who"]), self.pick(_PRAISE["what"])
        extra = ""
        if disc and self.rng.random() < 0.6:
            text, _, _ = self.pick_frag(_DISC_FRAGS[self.style_type(disc)][voice], "positive", banned)
            extra = ("，" + text.format(**slots)) if text else ""
        head = (self.pick(_SPECIAL[special]["agent"]) + "。") if special and voice == "agent" else ""
        if special == "foreign":
            tail = f"客户原话：\u201c{self.pick(_ENGLISH['praise']['pos'])}\u201d"
            if voice == "self":
                return _Text(self.pick(_ENGLISH["praise"]["pos"]), "positive", (), 0, 0, "foreign")
        else:
            tail = ""
        if voice == "agent":
            text = f"{head}客户来电表扬{who}{what}{extra}，{self.pick(_PRAISE['agent_close'])}。{tail}"
        else:
            text = f"感谢{who}{what}{extra}，{self.pick(_PRAISE['self_close'])}"
        return _Text(text, "positive", (), 0, 0, special if special else "")

    def _english(self, topic: str, sentiment: str, escalation: bool) -> _Text:
        group = _TOPIC_GROUP.get(topic, "service")
        pool = _ENGLISH[group]["neg" if sentiment == "negative" else "neu"]
        text, _, motives = _parse(self.pick(pool))
        if escalation:
            text += " " + self.pick(_ENGLISH_ESCALATION)
        return _Text(text, sentiment, motives if sentiment == "negative" else (), int(escalation), 0, "foreign")


_DOUBLED = (("立即尽快", "立即"), ("马上尽快", "马上"), ("今天之内尽快", "今天之内"), ("尽快尽快", "尽快"),
            ("赶紧尽快", "赶紧"), ("必须尽快", "必须"), ("立即加快", "加快"), ("马上加快", "加快"), ("今天之内加快", "加快"),
            ("赶紧加快", "加快"), ("必须加快", "必须加快"), ("立即彻底", "彻底"), ("马上彻底", "彻底"), ("今天之内彻底", "彻底"),
            ("！，", "！"), ("！。", "！"), ("？，", "？"))


def _tidy(text: str) -> str:
    """Remove doubled adverbs and punctuation that fragment joins can produce."""
    for a, b in _DOUBLED:
        text = text.replace(a, b)
    return text


def _cn_ordinal(k: int) -> str:
    return "二三四五六七八九十"[k - 2] if 2 <= k <= 10 else str(k)


# --------------------------------------------------------------------------------------
# Contacts (客服工单)
# --------------------------------------------------------------------------------------
_BTYPE_BY_DISC = {
    #      咨询  报修  投诉  举报  意见  表扬  催办  业务申请
    "D": [0.24, 0.26, 0.16, 0.02, 0.05, 0.01, 0.19, 0.07],
    "I": [0.28, 0.20, 0.10, 0.02, 0.12, 0.14, 0.06, 0.08],
    "S": [0.44, 0.24, 0.03, 0.02, 0.05, 0.07, 0.02, 0.13],
    "C": [0.42, 0.14, 0.10, 0.03, 0.10, 0.02, 0.05, 0.14],
}
_CHANNEL_BY_DISC = {
    #      95598  网上国网 营业厅 公众号 上门
    "D": [0.70, 0.15, 0.10, 0.04, 0.01],
    "I": [0.45, 0.08, 0.15, 0.20, 0.12],
    "S": [0.38, 0.05, 0.45, 0.04, 0.08],
    "C": [0.33, 0.50, 0.07, 0.09, 0.01],
}
_CALL_SECONDS = {"D": (60, 120), "I": (400, 900), "S": (250, 500), "C": (150, 350)}
_TOPICS_BY_BTYPE = {
    "咨询": {"tariff_query": 3, "payment_method": 3, "bill_spike": 2, "transfer": 1, "expansion_progress": 1,
           "meter_check": 1, "outage": 1, "prepaid_restore": 1},
    "故障报修": {"outage": 6, "low_voltage": 2, "line_pole": 1},
    "投诉": {"bill_spike": 3, "slow_repair": 2, "attitude": 2, "frequent_outage": 2, "no_notice": 1,
           "expansion_progress": 1, "compensation": 1, "meter_check": 1, "prepaid_restore": 1, "low_voltage": 1},
    "举报": {"report_theft": 1},
    "意见": {"line_pole": 2, "attitude": 1, "payment_method": 1, "frequent_outage": 1, "tariff_query": 1},
    "表扬": {"praise": 1},
    "催办": {"expansion_progress": 3, "slow_repair": 2, "compensation": 1, "meter_check": 1, "prepaid_restore": 1,
           "transfer": 1},
    "业务申请": {"transfer": 3, "expansion_progress": 2, "meter_check": 1, "payment_method": 2, "tariff_query": 1},
}
_HANDLE = {  # business type: (median hours, time limit hours)
    "咨询": (1.5, 24), "故障报修": (2.5, 8), "投诉": (40, 120), "举报": (60, 240), "意见": (30, 120),
    "表扬": (4, 72), "催办": (6, 24), "业务申请": (60, 360),
}
_MOTIVE_BY_TOPIC = {
    "bill_spike": ["fairness", "advice", "venting"], "meter_check": ["fairness", "advice"],
    "outage": ["efficiency", "venting"], "no_notice": ["respect", "compensation", "venting"],
    "frequent_outage": ["venting", "fairness", "efficiency"], "low_voltage": ["efficiency", "compensation"],
    "slow_repair": ["efficiency", "venting"], "attitude": ["respect", "venting"],
    "prepaid_restore": ["efficiency", "fairness"], "expansion_progress": ["efficiency", "fairness"],
    "line_pole": ["efficiency", "advice"], "compensation": ["compensation"], "transfer": ["efficiency", "advice"],
    "tariff_query": ["advice", "fairness"], "payment_method": ["fairness", "compensation"],
    "report_theft": ["fairness", "efficiency"],
}
_MOTIVE_BY_DISC = {"D": "efficiency", "I": "venting", "S": "advice", "C": "fairness"}


@dataclass
class _Contact:
    customer: int
    at: datetime
    btype: str
    topic: str
    channel: str
    followup_k: int  # 1 = first contact on the issue, k = k-th
    episode: int


def _contact_time(rng: np.random.Generator, d: date, channel: str) -> datetime:
    if channel in ("营业厅", "上门"):
        h = int(rng.integers(9, 17))
    elif channel == "95598电话":
        h = int(rng.choice(np.arange(6, 24), p=_CALL_HOURS))
    else:
        h = int(rng.choice(np.arange(7, 24), p=_APP_HOURS))
    return datetime(d.year, d.month, d.day, h, int(rng.integers(0, 60)), int(rng.integers(0, 60)))


_CALL_HOURS = np.array([1, 2, 5, 8, 9, 8, 6, 7, 8, 8, 7, 6, 6, 5, 4, 3, 2, 1], dtype=float)
_CALL_HOURS /= _CALL_HOURS.sum()


def _disc_types(rng: np.random.Generator, w: _World, who: np.ndarray) -> np.ndarray:
    disc = np.empty(w.n, dtype=object)
    disc[:] = ""
    for i in who:
        if w.roles["chronic"][i]:
            p = [0.5, 0.3, 0.05, 0.15]
        elif w.roles["elderly_alone"][i] or w.age[i] >= 70:
            p = [0.12, 0.25, 0.5, 0.13]
        elif w.category[i] != RES:
            p = [0.35, 0.15, 0.15, 0.35]
        elif 0 < w.age[i] < 40:
            p = [0.3, 0.22, 0.16, 0.32]
        else:
            p = [0.22, 0.26, 0.28, 0.24]
        disc[i] = DISC_TYPES[rng.choice(4, p=p)]
    return disc


def _plan_contacts(rng: np.random.Generator, w: _World, outages: list[_Outage], apps: list[_Application],
                   noise: float) -> tuple[list[_Contact], np.ndarray]:
    """Decide who contacts, their DISC type, and when / why / how each contact happens."""
    cal, role, n = w.cal, w.roles, w.n
    freq_tq = w.tq_frequent_fault[w.tq]
    p = np.full(n, 0.31)
    p += 0.18 * freq_tq + 0.10 * role["late_payer"] + 0.10 * (role["ev"] | role["pv"]) + 0.05 * (w.category != RES)
    p[w.flags["hearing"] | w.flags["foreign"]] = 0.9
    p[role["elderly_alone"]] = 0.35
    p[role["chronic"]] = 1.0
    p[role["vacant"]] = 0.0
    contacts_of = np.flatnonzero(rng.random(n) < p)
    disc = _disc_types(rng, w, contacts_of)
    outs_by_tq: dict[int, list[_Outage]] = {}
    for o in outages:
        outs_by_tq.setdefault(o.tq, []).append(o)
    apps_by_c: dict[int, list[_Application]] = {}
    for a in apps:
        apps_by_c.setdefault(a.customer, []).append(a)
    year_ago = cal.as_of - timedelta(days=364)
    plan: list[_Contact] = []
    episode = 0
    for i in contacts_of:
        d = disc[i]
        if role["chronic"][i]:
            total = int(rng.integers(6, 13))
        elif rng.random() < 0.4:
            total = 1 if rng.random() < 0.65 else 2
        else:
            total = min(9, 3 + int(rng.geometric(0.45)) - 1)
        mine: list[_Contact] = []
        attempts = 0
        while len(mine) < total and attempts < 40:  # an episode can fall past as_of; try again
            attempts += 1
            episode += 1
            bt_p = np.array(_BTYPE_BY_DISC[d if rng.random() >= noise else DISC_TYPES[rng.integers(4)]])
            if role["chronic"][i]:
                bt_p = bt_p * np.array([0.5, 0.6, 4.0, 1, 1, 0.2, 2.0, 0.5])
            if freq_tq[i]:
                bt_p = bt_p * np.array([1, 2.0, 1.3, 1, 1, 1, 1, 1])
            btype = BUSINESS_TYPES[rng.choice(8, p=bt_p / bt_p.sum())]
            topic = _choose_topic(rng, w, i, btype, freq_tq[i], outs_by_tq.get(w.tq[i], []), apps_by_c.get(i, []))
            start = _episode_day(rng, w, i, topic, outs_by_tq.get(w.tq[i], []), apps_by_c.get(i, []),
                                 year_ago if role["chronic"][i] else cal.start)
            ch_p = np.array(_CHANNEL_BY_DISC[d if rng.random() >= noise else DISC_TYPES[rng.integers(4)]])
            if w.flags["hearing"][i]:
                ch_p = ch_p * np.array([0.0, 2, 1, 2, 0.5])
            if role["elderly_alone"][i] or w.age[i] >= 75:
                ch_p = ch_p * np.array([1, 0.1, 2, 0.2, 2])
            n_follow = {"D": 0.55, "I": 0.35, "S": 0.08, "C": 0.3}[d]
            if role["chronic"][i]:
                n_follow = 0.6
            length = 1
            while length < total - len(mine) and rng.random() < n_follow and length < 4:
                length += 1
            when = start
            for k in range(1, length + 1):
                channel = CONTACT_CHANNELS[rng.choice(5, p=ch_p / ch_p.sum())]
                bt = btype
                if k > 1:
                    bt = "催办" if (d == "D" or role["chronic"][i] or rng.random() < 0.35) else (
                        "投诉" if rng.random() < 0.3 else btype if btype != "表扬" else "咨询")
                    if topic == "praise":
                        bt = "咨询"
                tp = topic if not (topic == "praise" and k > 1) else "tariff_query"
                if bt not in ("表扬",) and tp == "praise":
                    tp = "tariff_query"
                at = _contact_time(rng, when, channel)
                if at.date() <= cal.as_of:
                    mine.append(_Contact(i, at, bt, tp, channel, k, episode))
                when = when + timedelta(days=int(rng.integers(1, 6 if d != "S" else 15)))
                if when > cal.as_of:
                    break
        plan.extend(_fix_complaint_counts(rng, w, i, mine, year_ago))
    return plan, disc


def _choose_topic(rng, w: _World, i: int, btype: str, frequent: bool, outs: list[_Outage],
                  apps: list[_Application]) -> str:
    weights = dict(_TOPICS_BY_BTYPE[btype])
    if frequent:
        for t in ("outage", "frequent_outage", "slow_repair", "compensation", "low_voltage"):
            if t in weights:
                weights[t] *= 3.0
    if any(o.kind == "计划" and not o.notified for o in outs) and "no_notice" in weights:
        weights["no_notice"] *= 4.0
    if any(a.app_type in _APP_NAMES for a in apps) and "expansion_progress" in weights:
        weights["expansion_progress"] *= 3.0
    if any(a.app_type in ("过户", "更名") for a in apps) and "transfer" in weights:
        weights["transfer"] *= 4.0
    if not w.prepaid[i]:
        weights.pop("prepaid_restore", None)
    elif w.roles["late_payer"][i] and "prepaid_restore" in weights:
        weights["prepaid_restore"] *= 3.0
    if w.category[i] != RES:
        weights.pop("transfer", None) if len(weights) > 1 else None
    keys = sorted(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[rng.choice(len(keys), p=p / p.sum())]


def _episode_day(rng, w: _World, i: int, topic: str, outs: list[_Outage], apps: list[_Application],
                 earliest: date) -> date:
    cal = w.cal
    span = (cal.as_of - earliest).days

    def anyday() -> date:
        return earliest + timedelta(days=int(rng.integers(0, span + 1)))

    if topic in ("outage", "slow_repair", "frequent_outage", "compensation", "low_voltage", "no_notice"):
        pool = [o for o in outs if o.start.date() >= earliest]
        if topic == "no_notice":
            pool = [o for o in pool if o.kind == "计划" and not o.notified] or pool
        elif topic != "low_voltage":
            pool = [o for o in pool if o.kind == "故障"] or pool
        if pool:
            o = pool[int(rng.integers(len(pool)))]
            lag = 0 if topic in ("outage", "slow_repair", "low_voltage") else int(rng.integers(0, 3))
            return min(o.start.date() + timedelta(days=lag), cal.as_of)
    if topic == "bill_spike":
        windows = [(date(y, 8, 3), date(y, 9, 20)) for y in (cal.as_of.year - 1, cal.as_of.year)]
        windows += [(date(y, 1, 3), date(y, 2, 25)) for y in (cal.as_of.year, cal.as_of.year + 1)]
        windows = [(max(a, earliest), min(b, cal.as_of)) for a, b in windows if b >= earliest and a <= cal.as_of]
        windows = [(a, b) for a, b in windows if a <= b]
        if windows and rng.random() < 0.75:
            a, b = windows[int(rng.integers(len(windows)))]
            return a + timedelta(days=int(rng.integers(0, (b - a).days + 1)))
    if topic in ("expansion_progress", "transfer"):
        kinds = _APP_NAMES if topic == "expansion_progress" else ("过户", "更名")
        mine = [a for a in apps if a.app_type in kinds]
        if mine:
            a = mine[int(rng.integers(len(mine)))]
            lo = max(a.applied.date(), earliest)
            hi = min((a.completed.date() if a.completed else cal.as_of), cal.as_of)
            if lo <= hi:
                return lo + timedelta(days=int(rng.integers(0, (hi - lo).days + 1)))
    return anyday()


def _fix_complaint_counts(rng, w: _World, i: int, mine: list[_Contact], year_ago: date) -> list[_Contact]:
    """Chronic complainers: ≥4 投诉/催办 in the last year. Everyone else: ≤3 (and ≤2 投诉)."""
    chase = ("投诉", "催办")
    in_year = [c for c in mine if c.at.date() >= year_ago]
    if w.roles["chronic"][i]:
        while len(in_year) < 4:  # top up: a chronic complainer always has four recent contacts
            day = year_ago + timedelta(days=int(rng.integers(0, 365)))
            extra = _Contact(i, _contact_time(rng, min(day, w.cal.as_of), "95598电话"), "投诉", "attitude",
                             "95598电话", 1, -1)
            mine.append(extra)
            in_year.append(extra)
        need = 4 - sum(c.btype in chase for c in in_year)
        for c in in_year:
            if need <= 0:
                break
            if c.btype not in chase:
                c.btype = "投诉"
                if c.topic not in _TOPICS_BY_BTYPE["投诉"]:
                    c.topic = "bill_spike" if rng.random() < 0.5 else "attitude"
                need -= 1
        return mine
    n_complaint = n_chase = 0
    for c in sorted(in_year, key=lambda c: c.at):
        if c.btype == "投诉":
            n_complaint += 1
            n_chase += 1
            if n_complaint > 2 or n_chase > 3:
                c.btype = "意见"
                n_complaint -= 1
                n_chase -= 1
        elif c.btype == "催办":
            n_chase += 1
            if n_chase > 3:
                c.btype = "咨询"
                n_chase -= 1
    return mine


def _contacts(seed: int, w: _World, outages: list[_Outage], apps: list[_Application],
              noise: float) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    rng = _rng(seed, _PART_CONTACTS)
    plan, disc = _plan_contacts(rng, w, outages, apps, noise)
    plan.sort(key=lambda c: (c.at, w.ids[c.customer]))
    maker = _TextMaker(_rng(seed, _PART_TEXT), noise)
    role = w.roles
    freq_tq = w.tq_frequent_fault[w.tq]
    rows, truth = [], []
    per_day: dict[date, int] = {}
    last_topic_day: dict[tuple[int, str], date] = {}
    apps_by_c: dict[int, list[_Application]] = {}
    for a in apps:
        apps_by_c.setdefault(a.customer, []).append(a)
    for c in plan:
        i = c.customer
        d = disc[i]
        k = per_day.get(c.at.date(), 0) + 1
        per_day[c.at.date()] = k
        ticket = f"GD{c.at:%Y%m%d}{k:05d}"
        sentiment = _sentiment(rng, c, d, role["chronic"][i])
        motives: tuple[str, ...] = ()
        escalation = abuse = False
        if sentiment == "negative":
            cands = list(_MOTIVE_BY_TOPIC.get(c.topic, ["venting"]))
            if d == "S":  # patient customers rarely vent or chase
                cands = [m for m in cands if m not in ("venting", "efficiency")] or ["advice"]
            if rng.random() < 0.5:
                cands.append(_MOTIVE_BY_DISC[d])
            first = cands[int(rng.integers(len(cands)))]
            if d == "S" and first == "venting":
                first = "advice"
            motives = (first,)
            if rng.random() < 0.35:
                second = MOTIVES[int(rng.integers(6))]
                if second != first and not (d == "S" and second == "venting"):
                    motives = (first, second)
            p_esc = 0.45 if role["chronic"][i] else (0.14 if d == "D" else 0.05)
            escalation = rng.random() < p_esc
            abuse = rng.random() < (0.12 if role["chronic"][i] else 0.03 if d in ("D", "I") else 0.0)
        special = ""
        if w.flags["hearing"][i] and rng.random() < 0.9:
            special = "hearing"
        elif w.flags["foreign"][i] and rng.random() < 0.9:
            special = "foreign"
        elif role["elderly_alone"][i] and rng.random() < 0.45:
            special = "elderly_alone"
        app_name = "充电桩报装"
        mine = [a for a in apps_by_c.get(i, []) if a.app_type in _APP_NAMES]
        if mine:
            app_name = _APP_NAMES[mine[int(rng.integers(len(mine)))].app_type]
        elif role["pv"][i]:
            app_name = "光伏并网申请"
        elif w.category[i] != RES:
            app_name = "增容申请"
        place = {RES: "家中", BIZ: "店里", IND: "厂里", AGR: "泵房"}[int(w.category[i])]
        banned = ("老伴", "孩子", "一大家子", "过年一家人") if (role["elderly_alone"][i] or w.category[i] != RES) else ()
        text = maker.make(topic=c.topic, btype=c.btype, channel=c.channel, sentiment=sentiment, motives=motives,
                          disc=d, escalation=escalation, abuse=abuse, followup_k=c.followup_k, special=special,
                          place=place, month=(c.at - timedelta(days=20)).month, app=app_name, banned=banned)
        hours, overdue = _handle_hours(rng, c.btype, role["chronic"][i], freq_tq[i])
        transfers = int(rng.choice(5, p=[0.62, 0.24, 0.09, 0.04, 0.01]))
        if c.btype in ("投诉", "举报") and rng.random() < 0.3:
            transfers += 1
        if overdue and rng.random() < 0.4:
            transfers += 1
        transfers = min(transfers, 4)
        sat = _satisfaction(rng, c.btype, text.sentiment, overdue, transfers, role["chronic"][i])
        prev = last_topic_day.get((i, c.topic))
        repeated = c.followup_k > 1 or (prev is not None and (c.at.date() - prev).days <= 7)
        last_topic_day[(i, c.topic)] = c.at.date()
        if c.channel == "95598电话":
            t = d if rng.random() >= noise else DISC_TYPES[rng.integers(4)]
            lo, hi = _CALL_SECONDS[t]
            secs = str(int(rng.integers(lo, hi + 1)))
        else:
            secs = ""
        rows.append((ticket, w.ids[i], f"{c.at:%Y-%m-%d %H:%M:%S}", c.channel, c.btype, text.content,
                     f"{hours:.1f}", "是" if overdue else "否", transfers, sat, "是" if repeated else "否", secs))
        truth.append((ticket, w.ids[i], text.sentiment, "|".join(text.motives), text.escalation, text.abuse,
                      text.special_need, d, c.btype, c.topic, c.followup_k))
    contacts = pd.DataFrame(rows, columns=["工单编号", "户号", "受理时间", "受理渠道", "业务类型", "受理内容",
                                           "处理时长(小时)", "是否超时", "转派次数", "回访满意度", "是否重复来电",
                                           "通话时长(秒)"])
    truth_df = pd.DataFrame(truth, columns=["ticket_id", "customer_id", "sentiment", "motives", "escalation", "abuse",
                                            "special_need", "disc_type", "business_type", "topic", "followup_k"])
    return contacts, truth_df, disc


def _sentiment(rng, c: _Contact, disc: str, chronic: bool) -> str:
    if c.btype == "表扬":
        return "positive"
    if c.btype in ("投诉",):
        return "negative"
    if c.btype == "催办":
        return "neutral" if (disc == "S" and not chronic and rng.random() < 0.6) else "negative"
    if c.topic in ("attitude", "no_notice", "compensation", "slow_repair"):
        return "negative"
    p_neg = {"故障报修": 0.4, "意见": 0.6, "举报": 0.5, "咨询": 0.1, "业务申请": 0.08}[c.btype]
    if chronic:
        p_neg = min(0.9, p_neg + 0.4)
    if disc == "S":
        p_neg *= 0.5
    if disc == "I":
        p_neg = min(0.9, p_neg * 1.3)
    x = rng.random()
    if x < p_neg:
        return "negative"
    if c.btype in ("咨询", "业务申请") and x > 1 - (0.12 if disc in ("I", "S") else 0.04):
        return "positive"
    return "neutral"


def _handle_hours(rng, btype: str, chronic: bool, frequent: bool) -> tuple[float, bool]:
    median, limit = _HANDLE[btype]
    p_over = 0.06 * (2.0 if btype in ("投诉", "催办") else 1.0) * (2.0 if frequent and btype == "故障报修" else 1.0)
    p_over += 0.1 if chronic else 0.0
    if rng.random() < p_over:
        return round(limit * rng.uniform(1.05, 2.5), 1), True
    return round(max(0.1, min(rng.lognormal(np.log(median), 0.8), limit * 0.95)), 1), False


def _satisfaction(rng, btype: str, sentiment: str, overdue: bool, transfers: int, chronic: bool) -> str:
    if sentiment == "positive":
        p = [0.93, 0.05, 0.0, 0.02]
    elif btype == "投诉" or chronic:
        p = [0.32, 0.25, 0.33, 0.10]
    elif sentiment == "negative":
        p = [0.52, 0.26, 0.13, 0.09]
    else:
        p = [0.80, 0.12, 0.02, 0.06]
    p = np.array(p)
    if overdue or transfers >= 3:
        p[2] += 0.15
    return ("满意", "基本满意", "不满意", "未回访")[rng.choice(4, p=p / p.sum())]


# --------------------------------------------------------------------------------------
# Deliberate defects
# --------------------------------------------------------------------------------------
def _insert_rows(df: pd.DataFrame, extra: list[tuple[int, dict]]) -> tuple[pd.DataFrame, list[int]]:
    """Insert each extra row after data row `after` (0-based position in df); return 1-based row numbers."""
    pieces, numbers = [], []
    extra = sorted(extra, key=lambda t: t[0])
    prev = 0
    inserted = 0
    for after, row in extra:
        pieces.append(df.iloc[prev: after + 1])
        pieces.append(pd.DataFrame([row], columns=df.columns))
        inserted += 1
        numbers.append(after + 1 + inserted)
        prev = after + 1
    pieces.append(df.iloc[prev:])
    return pd.concat(pieces, ignore_index=True), numbers


def _defects(seed: int, w: _World, frames: dict[str, pd.DataFrame], disc: np.ndarray,
             names: dict[str, str]) -> pd.DataFrame:
    """Add realistic dirt to the export frames in place; return where each defect is."""
    rng = _rng(seed, _PART_DEFECTS)
    rec: list[tuple] = []

    # payments: exact duplicate lines right after the original
    pay = frames["payments"]
    picks = np.sort(rng.choice(len(pay), size=3, replace=False))
    pay, nums = _insert_rows(pay, [(int(p), pay.iloc[int(p)].to_dict()) for p in picks])
    for num in nums:
        rec.append((names["payments"], num, "", "duplicate_row", "", "exact duplicate of the previous line"))
    frames["payments"] = pay

    # bills: extra rows whose 账期 cannot be parsed
    bills = frames["bills"]
    bad_periods = ["2025-13", "202513", "2025-13"]
    picks = np.sort(rng.choice(np.arange(12, len(bills), 13), size=3, replace=False))  # after a customer's last bill
    extra = []
    for p, bad in zip(picks, bad_periods):
        row = bills.iloc[int(p)].to_dict()
        row["账期"] = bad
        extra.append((int(p), row))
    bills, nums = _insert_rows(bills, extra)
    for num, bad in zip(nums, bad_periods):
        rec.append((names["bills"], num, "账期", "invalid_period", bad, "账期 is not a valid YYYYMM month"))
    frames["bills"] = bills

    # contacts: unknown 户号 and impossible 受理时间 (extra rows, not in contacts_truth)
    con = frames["contacts"]
    known = set(w.ids.tolist())
    extra = []
    times = con["受理时间"].to_numpy()
    for j in range(3):
        unknown = f"{rng.integers(70, 99)}{rng.integers(0, 10**8):08d}"
        while unknown in known:
            unknown = f"{rng.integers(70, 99)}{rng.integers(0, 10**8):08d}"
        pos = int(rng.integers(0, len(con)))
        row = con.iloc[pos].to_dict()
        row["工单编号"] = f"GD{row['受理时间'][:10].replace('-', '')}9{j + 1:04d}"
        row["户号"] = unknown
        extra.append((pos, row, ("户号", "unknown_customer", unknown, "户号 not in 客户档案")))
    contacting = np.flatnonzero(disc != "")
    for j, bad in enumerate(["2025-02-30 10:00:00", "2025-04-31 09:15:00"]):
        before = int(np.searchsorted(times, bad[:10] + " 23:59:59"))  # keep the file in time order
        pos = max(0, before - 1)
        i = int(contacting[rng.integers(len(contacting))])
        row = con.iloc[pos].to_dict()
        row.update({"工单编号": f"GD{bad[:10].replace('-', '')}{j + 1:05d}", "户号": w.ids[i], "受理时间": bad,
                    "受理渠道": "95598电话", "业务类型": "咨询", "受理内容": "客户来电询问本月电费的缴费截止日期，请告知缴费截止日期。",
                    "处理时长(小时)": "0.5", "是否超时": "否", "转派次数": 0, "回访满意度": "满意", "是否重复来电": "否",
                    "通话时长(秒)": "180"})
        extra.append((pos, row, ("受理时间", "invalid_timestamp", bad, "date does not exist")))
    con, nums = _insert_rows(con, [(p, row) for p, row, _ in extra])
    order = sorted(range(len(extra)), key=lambda k: extra[k][0])
    for num, k in zip(nums, order):
        col, kind, value, why = extra[k][2]
        rec.append((names["contacts"], num, col, kind, value, why))
    frames["contacts"] = con

    # wide readings: a few negative cells (meter reset) on ordinary customers without planted behaviour
    wide = frames["readings_wide"]
    ordinary = np.flatnonzero(np.isin(w.kind, ["couple", "family_small", "family_large"])
                              & ~np.any(np.vstack([v for v in w.roles.values()]), axis=0))
    day_cols = list(wide.columns[2:])
    for i in np.sort(rng.choice(ordinary, size=3, replace=False)):
        col = day_cols[int(rng.integers(len(day_cols)))]
        val = -round(float(rng.uniform(1.0, 30.0)), 2)
        wide.loc[int(i), col] = val
        rec.append((names["readings_wide"], int(i) + 1, col, "negative_value", f"{val:.2f}",
                    "negative daily kWh (meter reset); replaces that day's value"))
    frames["readings_wide"] = wide
    return pd.DataFrame(rec, columns=["file", "row", "column", "kind", "value", "note"])


# --------------------------------------------------------------------------------------
# Truth
# --------------------------------------------------------------------------------------
def _planted_truth(w: _World, r: _Readings, billing: _Billing, contacts_truth: pd.DataFrame,
                   contacts: pd.DataFrame, disc: np.ndarray) -> pd.DataFrame:
    role, cal = w.roles, w.cal
    iso = lambda xs: [x.isoformat() if x else "" for x in xs]  # noqa: E731
    n_contacts = contacts_truth.groupby("customer_id").size()
    year_ago = (cal.as_of - timedelta(days=364)).isoformat()
    recent = contacts_truth[contacts["受理时间"].str[:10].to_numpy() >= year_ago]
    n_chase = recent[recent["business_type"].isin(["投诉", "催办"])].groupby("customer_id").size()
    ids = pd.Index(w.ids.astype(str))
    b = lambda a: a.astype(int)  # noqa: E731
    return pd.DataFrame({
        "customer_id": w.ids.astype(str),
        "category": [CATEGORIES[c] for c in w.category],
        "household_kind": w.kind,
        "age": w.age,
        "district_id": np.array(w.tq_ids, dtype=object)[w.tq],
        "station": np.array(w.station_names, dtype=object)[np.array(w.tq_station)[w.tq]],
        "frequent_fault_district": b(w.tq_frequent_fault[w.tq]),
        "season_profile": r.season_profile,
        "trend": r.trend,
        "is_ev": b(role["ev"]),
        "ev_start": iso(w.dates["ev_start"]),
        "is_pv": b(role["pv"]),
        "pv_capacity_kw": w.numbers["pv_capacity_kw"],
        "is_vacant": b(role["vacant"]),
        "is_elderly_alone": b(role["elderly_alone"]),
        "elderly_flagged": b(w.flags["elderly"]),
        "elderly_stop_date": iso(w.dates["elderly_stop_date"]),
        "elderly_resume_date": iso(w.dates["elderly_resume_date"]),
        "is_abnormal": b(role["abnormal"]),
        "abnormal_start": iso(w.dates["abnormal_start"]),
        "abnormal_ratio": np.round(w.numbers["abnormal_ratio"], 3),
        "is_late_payer": b(role["late_payer"]),
        "n_late_bills_12m": billing.n_late,
        "has_arrears": b(billing.has_arrears),
        "is_chronic_complainer": b(role["chronic"]),
        "n_complaints_12m": n_chase.reindex(ids, fill_value=0).to_numpy(),
        "disc_type": disc,
        "n_contacts": n_contacts.reindex(ids, fill_value=0).to_numpy(),
        "hearing_impaired": b(w.flags["hearing"]),
        "foreign_language": b(w.flags["foreign"]),
        "low_income": b(w.flags["low_income"]),
        "preferred_pay_channel": w.pref_channel,
    })


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------
def _write_csv(df: pd.DataFrame, path: Path, encoding: str = "utf-8", newline: str = "\n") -> None:
    text = df.to_csv(index=False, lineterminator=newline)
    with open(path, "w", encoding=encoding, newline="") as fh:
        fh.write(text)


def _money(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    df = df.copy()
    for c in cols:
        df[c] = [f"{x:.2f}" for x in df[c].to_numpy(dtype=float)]
    return df


def write_sample_exports(out_dir: Path, customers: int = 2000, seed: int = 42, as_of: date = date(2025, 12, 31),
                         noise: float = 0.1, with_defects: bool = True) -> dict[str, Path]:
    """Write seeded sample exports and their planted truth under out_dir; return name -> path."""
    if customers < 50:
        raise ValueError("customers must be at least 50 so every planted behaviour occurs")
    if not 0.0 <= noise <= 1.0:
        raise ValueError("noise must be between 0 and 1")
    out_dir = Path(out_dir)
    exp, tru = out_dir / "exports", out_dir / "truth"
    exp.mkdir(parents=True, exist_ok=True)
    tru.mkdir(parents=True, exist_ok=True)
    cal = _Calendar.ending(as_of)
    names = export_file_names(as_of)

    w = _customers(seed, customers, cal)
    outages = _outages(seed, w)
    readings = _readings(seed, w, outages, noise)
    billing = _billing(seed, w, readings, noise)
    apps = _applications(seed, w)
    contacts, contacts_truth, disc = _contacts(seed, w, outages, apps, noise)

    frames = {
        "bills": billing.bills,
        "payments": billing.payments,
        "contacts": contacts,
        "readings_wide": _wide_frame(seed, w, readings),
    }
    truth = _planted_truth(w, readings, billing, contacts_truth, contacts, disc)
    if with_defects:
        defects = _defects(seed, w, frames, disc, names)
    else:
        defects = pd.DataFrame(columns=["file", "row", "column", "kind", "value", "note"])

    paths = {k: exp / v for k, v in names.items()}
    _write_csv(_customers_frame(w), paths["customers"], encoding="utf-8-sig")
    pq.write_table(_readings_table(w, readings), paths["readings"], compression="zstd", compression_level=9,
                   use_byte_stream_split=["日电量", "峰电量", "平电量", "谷电量"], row_group_size=1 << 20)
    wide = frames["readings_wide"].copy()
    for c in wide.columns[2:]:
        wide[c] = [f"{x:.2f}" for x in wide[c].to_numpy(dtype=float)]
    _write_csv(wide, paths["readings_wide"])
    _write_csv(_money(frames["bills"], ["电费金额", "应收电费", "实收电费", "欠费金额", "违约金"]), paths["bills"])
    _write_csv(_money(frames["payments"], ["缴费金额"]), paths["payments"], encoding="gbk", newline="\r\n")
    _write_csv(frames["contacts"], paths["contacts"])
    _write_csv(_outages_frame(w, outages), paths["outages"])
    _write_applications(paths["applications"], w, apps)

    paths["planted_truth"] = tru / "planted_truth.csv"
    paths["contacts_truth"] = tru / "contacts_truth.csv"
    paths["defects"] = tru / "defects.csv"
    _write_csv(truth, paths["planted_truth"])
    _write_csv(contacts_truth, paths["contacts_truth"])
    _write_csv(defects, paths["defects"])
    return paths


def _summary(paths: dict[str, Path]) -> str:
    truth = pd.read_csv(paths["planted_truth"], dtype={"customer_id": str})
    counts = {c: int(truth[c].sum()) for c in truth.columns if c.startswith("is_")}
    counts["elderly_stop"] = int((truth["elderly_stop_date"].fillna("") != "").sum())
    counts["with_contacts"] = int((truth["n_contacts"] > 0).sum())
    lines = [f"{k}: {v}" for k, v in counts.items()]
    lines += [f"{p.relative_to(p.parent.parent)}: {p.stat().st_size / 1024:.0f} KiB" for p in paths.values()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write seeded grid-portrait sample exports and their truth.")
    parser.add_argument("--out", type=Path, default=Path("data/sample"))
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2025, 12, 31))
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--no-defects", action="store_true")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    try:
        paths = write_sample_exports(args.out, args.customers, args.seed, args.as_of, args.noise,
                                     not args.no_defects)
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    print(_summary(paths))
    print(f"written to {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# --------------------------------------------------------------------------------------
# Month-split exports, for trying (and testing) incremental runs
# --------------------------------------------------------------------------------------
_SPLIT_DATE_COLUMN = {"readings": "reading_date", "bills": "period", "payments": "paid_at",
                      "contacts": "contacted_at", "outages": "start_at", "applications": "applied_at"}
_DATE_TEXT = re.compile(r"(\d{4})\D?(\d{1,2})(?:\D?(\d{1,2}))?")


def _row_day(value: str | None) -> date | None:
    m = _DATE_TEXT.search(value or "")
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3) or 1))
    except ValueError:
        return None


def split_exports(src: Path, cutoff: date, base: Path, delta: Path) -> dict[str, tuple[int, int]]:
    """Split a folder of exports into what was exported by `cutoff` and what came after.

    Rows dated on or before `cutoff` go to `base`, later rows (and rows whose date cannot be read) to
    `delta`; 客户档案 (master data) and Excel files go to both. A full run on `base` as of `cutoff`
    followed by `portrait run --incremental` on `delta` then sees every row once. Returns, per file,
    the (base, delta) data-row counts (-1 where the whole file was copied).
    """
    import csv
    import shutil

    import duckdb

    from pipeline.sources import files as filesrc
    from pipeline.sources.mapping import load_mapping, resolve_headers, table_for_file

    mapping = load_mapping()
    base.mkdir(parents=True, exist_ok=True)
    delta.mkdir(parents=True, exist_ok=True)
    out: dict[str, tuple[int, int]] = {}
    con = duckdb.connect()
    for path in filesrc.discover_files(src):
        fmt = filesrc.file_format(path)
        if fmt == "parquet":
            headers = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()]
        elif fmt == "csv":
            encoding = filesrc.detect_encoding(path)
            with open(path, encoding=encoding, newline="") as fh:
                headers = next(csv.reader(fh))
            headers = [h.lstrip("\ufeff") for h in headers]
        else:
            headers = []
        table = table_for_file(mapping, path.name, headers) if headers else None
        binding = None
        if table in _SPLIT_DATE_COLUMN:
            res = resolve_headers(mapping, table, headers, path.name, strict=False)
            binding = next((b for b in res.bindings if b.column == _SPLIT_DATE_COLUMN[table]), None)
            if binding is None and res.wide_dates:  # a wide readings export: one column per day
                side = delta if min(day for _, day in res.wide_dates) > cutoff else base
                shutil.copy2(path, side / path.name)
                out[path.name] = (-1, 0) if side is base else (0, -1)
                continue
        if binding is None:  # master data, Excel, anything without a date to split on
            shutil.copy2(path, base / path.name)
            shutil.copy2(path, delta / path.name)
            out[path.name] = (-1, -1)
            continue
        if fmt == "parquet":
            col = '"' + binding.header.replace('"', '""') + '"'
            day = f"try_cast(left(CAST({col} AS VARCHAR), 10) AS DATE)"
            if table == "bills":
                day = f"try_strptime(left(regexp_replace(CAST({col} AS VARCHAR), '[^0-9]', '', 'g'), 6), '%Y%m')"
            counts = []
            for side, cond in ((base, f"{day} <= DATE '{cutoff}'"), (delta, f"{day} IS NULL OR {day} > DATE '{cutoff}'")):
                con.execute(f"COPY (SELECT * FROM read_parquet('{path}') WHERE {cond}) TO '{side / path.name}' (FORMAT parquet)")
                counts.append(con.execute(f"SELECT count(*) FROM read_parquet('{side / path.name}')").fetchone()[0])
            out[path.name] = (counts[0], counts[1])
            continue
        with open(path, encoding=encoding, newline="") as fh, \
                open(base / path.name, "w", encoding=encoding, newline="") as fb, \
                open(delta / path.name, "w", encoding=encoding, newline="") as fd:
            rows = csv.reader(fh)
            header = next(rows)
            at = [h.lstrip("\ufeff") for h in header].index(binding.header)
            wb, wd = csv.writer(fb), csv.writer(fd)
            wb.writerow(header)
            wd.writerow(header)
            n_base = n_delta = 0
            for row in rows:
                day = _row_day(row[at]) if len(row) > at else None
                if day is not None and day <= cutoff:
                    wb.writerow(row)
                    n_base += 1
                else:
                    wd.writerow(row)
                    n_delta += 1
        out[path.name] = (n_base, n_delta)
    con.close()
    return out
