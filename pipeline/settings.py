"""Typed, frozen run configuration, read from TOML; unknown keys are rejected with a hint."""
from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError


@dataclass(frozen=True)
class Params:
    """Thresholds that differ between provinces; tag and feature SQL reads them as `$name`."""

    # Residential annual ladder tariff (阶梯电价), Beijing-style defaults.
    ladder_tier1_kwh: float = 2880.0
    ladder_tier2_kwh: float = 4800.0
    ladder_price1: float = 0.4883
    ladder_price2: float = 0.5383
    ladder_price3: float = 0.7883
    # Time-of-use (峰谷) prices.
    tou_peak_price: float = 0.56
    tou_valley_price: float = 0.36
    # 获得电力 targets, days from application to power-on.
    power_access_target_days_residential: float = 5.0
    power_access_target_days_business: float = 15.0
    power_access_target_days_pv: float = 20.0
    # Service commitments (国家电网供电服务承诺).
    repair_arrival_minutes_city: float = 45.0
    repair_arrival_minutes_rural: float = 90.0
    planned_outage_notice_days: float = 7.0
    complaint_answer_working_days: float = 5.0
    reconnect_hours_after_payment: float = 24.0
    # Service-gap warning limits.
    gap_repeat_contacts: int = 3
    gap_repeat_window_days: int = 30
    gap_transfers: int = 3
    # Behaviour thresholds.
    late_payments_risk: int = 3
    vacant_daily_kwh: float = 0.5
    frequent_caller_contacts_12m: int = 6
    care_stop_daily_kwh: float = 0.3
    care_stop_days: int = 2
    # Tag library thresholds (tags/*.yaml).
    new_customer_days: int = 365  # 新立户: opened within this many days
    elderly_age: int = 65  # 老年客户: holder's age from the resident ID
    usage_trend_ratio: float = 0.15  # 用电趋势: 6-month mean moves more than this share
    season_peak_ratio: float = 0.3  # 季节特征: summer / winter mean above the shoulder months by this share
    valley_share_high: float = 0.45  # 峰谷特征: 谷 share at or above this is 谷电偏好
    peak_share_high: float = 0.65  # 峰谷特征: 峰 share at or above this is 峰电为主
    night_base_high_kwh: float = 3.0  # 夜间基荷: 10th-percentile 谷 kWh per day at or above this is high
    sudden_change_ratio: float = 2.0  # 用电突变: last 30 days vs the 90 before, up by this factor (down by its inverse)
    vacant_low_day_share: float = 0.8  # 空置房: share of days under vacant_daily_kwh
    ev_valley_swing: float = 0.07  # 疑似电动汽车: day-to-day spread of the 谷 share (charging vs other nights)
    ev_valley_share: float = 0.55  # 疑似电动汽车: or a 谷 share this high (charging almost every night)
    ev_valley_kwh: float = 6.0  # 疑似电动汽车: mean 谷 kWh per day over the last 90 days (days with a 峰/谷 split)
    pv_zero_peak_days: int = 15  # 疑似光伏: days with night use but no 峰 import
    abnormal_drop_ratio: float = 0.6  # 用电异常: consumption since the drop vs the customer's lowest 4-week mean
    abnormal_min_daily_kwh: float = 0.3  # 用电异常: below this the drop is a stop (care alert), not abnormal use
    electric_heating_ratio: float = 1.6  # 疑似电采暖: winter mean vs shoulder-month mean
    value_high_pct: float = 0.8  # 价值等级: bill percentile for 高价值
    value_mid_pct: float = 0.4  # 价值等级: bill percentile for 中价值
    bill_shock_ratio: float = 1.5  # 账单突增: last bill vs the mean of the 11 before
    bill_shock_min_amount: float = 100.0  # 账单突增: ignore last bills under this many 元
    arrears_high_amount: float = 500.0  # 欠费等级: 元 of arrears that is 高
    frequent_outages_12m: int = 4  # 频繁停电: outages of the 台区 in 12 months
    repeat_complaints_12m: int = 2  # 重复投诉: complaints in 12 months
    chronic_complaints_12m: int = 4  # 频繁投诉: complaints plus 催办 in 12 months
    digital_high_share: float = 0.8  # 线上化程度: online share of payments for 高
    digital_low_share: float = 0.3  # 线上化程度: online share of payments under this is 低


@dataclass(frozen=True)
class SourceSpec:
    """One input: a file or folder of exports, or a database table or query."""

    path: Path | None = None
    uri: str | None = None  # postgresql://… or mysql://…; "env:NAME" reads it from the environment
    table: str | None = None  # canonical table; inferred from file name / headers when omitted
    source_table: str | None = None  # database table to read
    query: str | None = None  # database query to read instead of a table
    encoding: str | None = None  # csv encoding; detected (UTF-8 / GB18030) when omitted
    sheet: str | None = None  # Excel sheet; the first one when omitted

    def resolved_uri(self) -> str | None:
        """Return the database URI, reading `env:NAME` from the environment."""
        if self.uri and self.uri.startswith("env:"):
            name = self.uri[4:]
            value = os.environ.get(name)
            if not value:
                raise ConfigError(
                    f"source uri says env:{name}, but the environment variable {name} is not set",
                    hint=f"export {name}='postgresql://user:password@host:5432/db' (or put it in a git-ignored local.toml)",
                )
            return value
        return self.uri

    def label(self) -> str:
        """Return a human label for messages; never includes a password."""
        if self.path is not None:
            return str(self.path)
        from pipeline.sources.database import redact_uri

        target = self.source_table or "query"
        uri = self.uri if (self.uri or "").startswith("env:") else redact_uri(self.uri or "")
        return f"{uri}#{target}"


@dataclass(frozen=True)
class DuckDBSettings:
    """Engine resources; defaults fit a 2-core / 8 GB budget."""

    memory_limit: str = "6GB"
    threads: int = 0  # 0 = DuckDB's default (all cores)
    temp_directory: str | None = None


@dataclass(frozen=True)
class SparkSettings:
    """Spark resources for engine = "spark" (the master is `spark_master`, local[<cpus>] when unset)."""

    driver_memory: str = "4g"
    shuffle_partitions: int = 0  # 0 = 2 x the local cores, or 200 on a cluster
    fit_sample_rows: int = 50_000  # segment models fit on at most this many customers, sampled by id hash


@dataclass(frozen=True)
class Settings:
    """A complete, validated run configuration."""

    as_of: date
    store: Path
    sources: tuple[SourceSpec, ...]
    mapping: Path | None = None  # extra header mapping merged over the defaults
    params: Params = field(default_factory=Params)
    duckdb: DuckDBSettings = field(default_factory=DuckDBSettings)
    engine: str = "duckdb"
    spark_master: str | None = None  # e.g. spark://host:7077; local[<cpus>] when unset
    spark: SparkSettings = field(default_factory=SparkSettings)
    # Add the sources (the new period's exports) to the store's latest earlier snapshot instead of
    # reading every month again; see pipeline/incremental.py.
    incremental: bool = False

    def with_(self, **changes: Any) -> "Settings":
        """Return a copy with some fields changed."""
        return replace(self, **changes)


def _reject_unknown(section: str, given: dict[str, Any], cls: type) -> None:
    known = [f.name for f in fields(cls)]
    for key in given:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"known keys: {', '.join(known)}"
            raise ConfigError(f"unknown key `{key}` in [{section}]", hint=hint)


def _coerce(cls: type, section: str, raw: dict[str, Any]) -> Any:
    _reject_unknown(section, raw, cls)
    out: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in raw:
            continue
        value = raw[f.name]
        default = getattr(cls(), f.name) if cls is not SourceSpec else None
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
        else:
            ok = True
        if not ok:
            raise ConfigError(
                f"[{section}] {f.name} = {value!r} has the wrong type",
                hint=f"expected a {type(default).__name__}, like {default!r}",
            )
        out[f.name] = value
    return cls(**out)


def parse_date(value: Any, what: str) -> date:
    """Return `value` as a date, accepting date objects and YYYY-MM-DD strings."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{what} = {value!r} is not a date", hint="write it as YYYY-MM-DD, e.g. 2025-12-31") from None


def load_settings(path: Path, overrides: dict[str, Any] | None = None) -> Settings:
    """Return the settings in the TOML file at `path`, with CLI overrides applied."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist", hint="pass --config with an existing run.toml") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {path} is not valid TOML: {err}") from None
    local = Path(path).with_name("local.toml")
    if local.exists():  # secrets (DSNs) live in a git-ignored file beside the config
        for key, value in tomllib.loads(local.read_text(encoding="utf-8")).items():
            raw.setdefault(key, value)
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return settings_from_dict(raw, base_dir=Path(path).parent)


_TOP_KEYS = ("as_of", "store", "sources", "source", "mapping", "params", "duckdb", "engine", "spark_master", "spark", "incremental")


def settings_from_dict(raw: dict[str, Any], base_dir: Path = Path(".")) -> Settings:
    """Return validated settings from a plain dict (as parsed from TOML)."""
    for key in raw:
        if key not in _TOP_KEYS:
            close = difflib.get_close_matches(key, _TOP_KEYS, n=1)
            raise ConfigError(
                f"unknown top-level key `{key}`",
                hint=f"did you mean `{close[0]}`?" if close else f"known keys: {', '.join(_TOP_KEYS)}",
            )
    if "as_of" not in raw:
        raise ConfigError("the run config has no as_of", hint="add as_of = 2025-12-31 (usually a month end)")
    sources_raw = list(raw.get("sources", []))
    if "source" in raw:  # shorthand: a single folder of exports
        sources_raw.insert(0, {"path": raw["source"]})
    if not sources_raw:
        raise ConfigError("the run config names no sources", hint='add source = "exports/" or [[sources]] entries')
    sources = []
    for i, s in enumerate(sources_raw):
        spec = _coerce(SourceSpec, f"sources[{i}]", dict(s))
        if spec.path is not None:
            p = Path(spec.path)
            spec = replace(spec, path=p if p.is_absolute() else base_dir / p)
        if (spec.path is None) == (spec.uri is None):
            raise ConfigError(f"sources[{i}] must have exactly one of path or uri")
        if spec.uri is not None and spec.table is None:
            raise ConfigError(f"sources[{i}] reads a database; say which canonical table it fills",
                              hint='add table = "customers" (or readings, bills, payments, contacts, outages, applications)')
        if spec.uri is not None and (spec.source_table is None) == (spec.query is None):
            raise ConfigError(f"sources[{i}] reads a database; give exactly one of source_table or query")
        sources.append(spec)
    store = Path(raw.get("store", "store"))
    mapping = raw.get("mapping")
    engine = raw.get("engine", "duckdb")
    if engine not in ("duckdb", "spark"):
        raise ConfigError(f"engine = {engine!r} is not supported", hint='use "duckdb" (default) or "spark"')
    incremental = raw.get("incremental", False)
    if not isinstance(incremental, bool):
        raise ConfigError(f"incremental = {incremental!r} must be true or false")
    return Settings(
        as_of=parse_date(raw["as_of"], "as_of"),
        store=store if store.is_absolute() else base_dir / store,
        sources=tuple(sources),
        mapping=(Path(mapping) if Path(mapping).is_absolute() else base_dir / mapping) if mapping else None,
        params=_coerce(Params, "params", dict(raw.get("params", {}))),
        duckdb=_coerce(DuckDBSettings, "duckdb", dict(raw.get("duckdb", {}))),
        engine=engine,
        spark_master=raw.get("spark_master"),
        spark=_coerce(SparkSettings, "spark", dict(raw.get("spark", {}))),
        incremental=incremental,
    )
