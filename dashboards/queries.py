"""The dashboard's query layer: read-only SQL over the published portrait store, scoped and masked in SQL.

Every public query takes a `Viewer` and applies two rules inside the SQL it runs, so a page
cannot forget them and a user who edits the URL or session state cannot get around them:

- **scope**: `staff` see only the 台区 (district_id) assigned to them; other roles see all;
- **masking**: personal data (name, phone, ID number, address, free text) is shown in clear
  only to staff of the customer's own district. Everyone else sees 张*, 138****1234,
  9915************25, the address cut to district level, and contact text without numbers.

SQL text is constant. Everything a user chooses travels as a `$parameter`; identifiers that
vary (tag columns, chart dimensions) come from whitelists checked against the store.
The connection is in-memory, may touch only the store's snapshot folders, and its
configuration is locked; the module only ever issues SELECTs over it (DuckDB's
allowed_directories does not distinguish reading from writing, so that is the guard).
"""
from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Iterable, Mapping

import duckdb
import pandas as pd

from dashboards.segment_query import SegmentError, SegmentField, compile_segment

ROLES = ("staff", "manager", "analyst", "admin")
ALL_DISTRICT_ROLES = ("manager", "analyst", "admin")
RUN_ROLES = ("analyst", "admin")

PII_COLUMNS = frozenset({"name", "address", "phone", "id_number", "content", "mobile", "id_card", "contact_phone"})
# Tables other helpers publish; the dashboard renders "not yet available" when one is absent.
OPTIONAL_TABLES = ("contact_text", "tags", "tags_wide", "tag_dictionary", "tag_quality", "segments", "care_alerts",
                   "service_gaps", "experience_map", "power_access", "segment_profiles")
MIX_COLUMNS = ("disc_type", "disc_code", "value_tier", "load_shape")
SEGMENT_FIELD_COLUMNS = {"disc_code": "label", "disc_type": "label", "value_tier": "label", "load_shape": "label",
                         "key_user_score": "score", "disc_confidence": "score"}
SEGMENT_FIELD_NAMES = {"disc_code": ("沟通风格代码", "DISC code"), "disc_type": ("沟通风格", "DISC type"),
                       "value_tier": ("价值等级(分群)", "Value tier (segment)"),
                       "load_shape": ("负荷形态(分群)", "Load shape (segment)"),
                       "key_user_score": ("重点用户得分", "Key-user score"),
                       "disc_confidence": ("沟通风格置信度", "DISC confidence")}
# Tables with a `<table>_history` view over every as-of date up to the chosen one (month-over-month figures).
HISTORY_TABLES = ("features", "tags_wide", "segments", "care_alerts")
JOURNEY_STAGES = ("报装", "缴费", "停电", "抢修", "咨询", "投诉")
SERVICE_GAPS = ("需求认知", "服务能力", "服务传递", "服务沟通", "客户体验")

_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")
_RUN_ID = re.compile(r"^[A-Za-z0-9_.:+-]{1,80}$")
_TABLE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

_MACROS = r"""
CREATE MACRO in_scope(role, allowed, d) AS
    (role IN ('manager', 'analyst', 'admin') OR (role = 'staff' AND list_contains(allowed, d)));
CREATE MACRO pii_visible(role, allowed, d) AS (role = 'staff' AND coalesce(list_contains(allowed, d), FALSE));
CREATE MACRO in_only(picked, d) AS (len(picked) = 0 OR list_contains(picked, d));
CREATE MACRO mask_name(s) AS CASE WHEN s IS NULL OR s = '' THEN s ELSE left(s, 1) || '*' END;
CREATE MACRO mask_phone(s) AS CASE
    WHEN s IS NULL OR s = '' THEN s
    WHEN length(regexp_replace(s, '[^0-9]', '', 'g')) >= 7
        THEN left(regexp_replace(s, '[^0-9]', '', 'g'), 3) || '****' || right(regexp_replace(s, '[^0-9]', '', 'g'), 4)
    ELSE '****' END;
CREATE MACRO mask_id(s) AS CASE
    WHEN s IS NULL OR s = '' THEN s
    WHEN length(s) > 6 THEN left(s, 4) || repeat('*', length(s) - 6) || right(s, 2)
    ELSE '******' END;
CREATE MACRO mask_address(s, district_name) AS CASE
    WHEN s IS NULL OR s = '' THEN s
    ELSE coalesce(nullif(regexp_extract(s, '^(.{0,20}?(区|县|镇|乡|旗))', 1), ''), district_name, '') || '***' END;
CREATE MACRO redact_once(s) AS regexp_replace(regexp_replace(regexp_replace(regexp_replace(s,
    '(^|[^0-9A-Za-z])([0-9]{17}[0-9Xx]|[0-9]{15})($|[^0-9A-Za-z])', '\1[证件号已隐去]\3', 'g'),
    '(^|[^0-9A-Za-z])(\+?86[- ]?)?1[3-9][0-9]{9}($|[^0-9])', '\1[手机号已隐去]\3', 'g'),
    '(^|[^0-9A-Za-z])1[3-9][0-9][- ][0-9]{4}[- ][0-9]{4}($|[^0-9])', '\1[手机号已隐去]\2', 'g'),
    '(^|[^0-9A-Za-z])(0[0-9]{2,3}-[0-9]{7,8}|0[0-9]{10,11})($|[^0-9])', '\1[电话已隐去]\3', 'g');
-- twice: a match consumes the character after it, which may be the boundary of the next number
CREATE MACRO redact_text(s) AS redact_once(redact_once(s));
"""

# Scoped customers: every customer query starts from this CTE.
_SCOPED = """scoped AS (
    SELECT c.customer_id, c.district_id, c.district_name, c.station,
           pii_visible($role, $allowed::VARCHAR[], c.district_id) AS pii
    FROM customers c
    WHERE in_scope($role, $allowed::VARCHAR[], c.district_id) AND in_only($only::VARCHAR[], c.district_id)
)"""

# One customer, if the viewer may see it (an uncorrelated check keeps point filters pushed into Parquet).
_ONE = """one AS (
    SELECT c.customer_id, c.district_id, c.district_name, c.name,
           pii_visible($role, $allowed::VARCHAR[], c.district_id) AS pii
    FROM customers c
    WHERE c.customer_id = $cid AND in_scope($role, $allowed::VARCHAR[], c.district_id)
)"""

_STAGE_CASE = """CASE
    WHEN x.business_type IN ('投诉', '举报') THEN '投诉'
    WHEN x.topic IN ('业扩', '过户更名') THEN '报装'
    WHEN x.topic IN ('缴费', '电费', '电价', '费控复电') THEN '缴费'
    WHEN x.business_type = '故障报修' OR x.topic IN ('抢修', '电压', '线路设施') THEN '抢修'
    WHEN x.topic = '停电' THEN '停电'
    ELSE '咨询' END"""


@dataclass(frozen=True)
class Viewer:
    """Who is looking: user name, role (staff|manager|analyst|admin) and the districts assigned to them."""

    username: str
    role: str
    districts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "districts", tuple(str(d) for d in self.districts))

    @property
    def sees_all_districts(self) -> bool:
        """Return whether the role sees every district (the SQL applies the same rule)."""
        return self.role in ALL_DISTRICT_ROLES

    @property
    def can_see_runs(self) -> bool:
        """Return whether the role may open runs and data quality."""
        return self.role in RUN_ROLES


class AccessDenied(PermissionError):
    """The viewer's role may not run this query."""


@dataclass
class PortraitStore:
    """A read-only DuckDB connection with one view per table of the chosen as-of snapshot."""

    path: Path
    as_of: date
    run_id: str
    as_ofs: tuple[date, ...]
    tables: frozenset[str]
    con: duckdb.DuckDBPyConnection
    _columns: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        """Return a cache key that changes when another run is published for this as-of date."""
        return (str(self.path), self.as_of.isoformat(), self.run_id)

    def has(self, table: str) -> bool:
        """Return whether the snapshot publishes `table`."""
        return table in self.tables

    def columns(self, table: str) -> tuple[str, ...]:
        """Return the column names of a published table (empty when absent)."""
        if table not in self.tables:
            return ()
        if table not in self._columns:
            cur = self.con.cursor()
            try:
                rows = cur.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = $t "
                                   "ORDER BY column_index", {"t": table}).fetchall()
            finally:
                cur.close()
            self._columns[table] = tuple(r[0] for r in rows)
        return self._columns[table]

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run constant SQL with named parameters on a fresh cursor; return a DataFrame."""
        used = set(_PARAM.findall(sql))
        given = dict(params or {})
        missing = used - given.keys()
        if missing:
            raise ValueError(f"query needs parameters {sorted(missing)}")
        cur = self.con.cursor()
        try:
            return cur.execute(sql, {k: v for k, v in given.items() if k in used}).df()
        finally:
            cur.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """Return a new cursor on the store's read-only connection (for tags.explain)."""
        return self.con.cursor()

    def close(self) -> None:
        """Close the connection."""
        self.con.close()


def store_pointer(store: Path) -> dict:
    """Return STORE/store.json; raise FileNotFoundError with a hint when the store has never published."""
    path = Path(store) / "store.json"
    if not path.exists():
        raise FileNotFoundError(f"{store} is not a portrait store (no store.json); run `portrait demo` first")
    return json.loads(path.read_text(encoding="utf-8"))


def available_as_ofs(store: Path) -> list[date]:
    """Return the published as-of dates, newest first."""
    return sorted((date.fromisoformat(k) for k in store_pointer(store).get("snapshots", {})), reverse=True)


def open_store(store: Path, as_of: date | None = None) -> PortraitStore:
    """Return a read-only PortraitStore over the current snapshot of `as_of` (default: the latest)."""
    store = Path(store).resolve()
    pointer = store_pointer(store)
    snaps = {date.fromisoformat(k): v for k, v in pointer.get("snapshots", {}).items()}
    if not snaps:
        raise FileNotFoundError(f"store {store} has no published snapshot; run `portrait run` first")
    as_of = as_of or max(snaps)
    if as_of not in snaps:
        raise FileNotFoundError(f"store {store} has no snapshot for {as_of}")
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                             "autoload_known_extensions": False})
    current = store / snaps[as_of]["path"]
    tables = sorted(p.stem for p in current.glob("*.parquet"))
    for name in tables:
        if _TABLE.match(name):
            con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet({_literal(current / (name + ".parquet"))})')
    history: dict[str, list[tuple[date, Path]]] = {}
    for d, v in sorted(snaps.items()):
        if d > as_of:
            continue
        for p in (store / v["path"]).glob("*.parquet"):
            if _TABLE.match(p.stem):
                history.setdefault(p.stem, []).append((d, p))
    for name, parts in history.items():
        if name not in HISTORY_TABLES:
            continue
        selects = []
        for d, p in parts:
            own = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({_literal(p)})").fetchall()}
            rest = "* EXCLUDE (as_of)" if "as_of" in own else "*"
            selects.append(f"SELECT DATE '{d.isoformat()}' AS as_of, {rest} FROM read_parquet({_literal(p)})")
        con.execute(f'CREATE VIEW "{name}_history" AS {" UNION ALL BY NAME ".join(selects)}')
    con.execute(_MACROS)
    con.execute(f"SET allowed_directories = [{_literal(str(store / 'snapshots') + '/')}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET parquet_metadata_cache = true")
    con.execute("SET lock_configuration = true")
    return PortraitStore(store, as_of, snaps[as_of]["run_id"], tuple(sorted(d for d in snaps if d <= as_of)),
                         frozenset(tables), con)


def _literal(p: Path | str) -> str:
    return "'" + str(p).replace("'", "''") + "'"


def _scope(viewer: Viewer, only: Iterable[str] = (), **extra: Any) -> dict[str, Any]:
    role = viewer.role if viewer.role in ROLES else "none"
    return {"role": role, "allowed": list(viewer.districts), "only": [str(d) for d in only or ()], **extra}


# --- districts and overview ------------------------------------------------------------------------------

def districts(store: PortraitStore, viewer: Viewer) -> pd.DataFrame:
    """Return the districts the viewer may see: district_id, district_name, station, customers."""
    return store.query(f"""WITH {_SCOPED}
        SELECT district_id, any_value(district_name) AS district_name, any_value(station) AS station,
               count(*) AS customers
        FROM scoped GROUP BY district_id ORDER BY any_value(station), district_id""", _scope(viewer))


def overview_history(store: PortraitStore, viewer: Viewer, only: Iterable[str] = ()) -> pd.DataFrame:
    """Return the headline figures per as-of date (oldest first) for the viewer's scope."""
    hist = "features_history" if store.has("features") else None
    if hist is None:
        return pd.DataFrame()
    df = store.query("""
        SELECT f.as_of, count(*) AS customers,
               count(*) FILTER (WHERE f.arrears_now > 0) AS arrears_customers,
               round(sum(coalesce(f.arrears_now, 0)), 2) AS arrears_amount,
               sum(coalesce(f.complaints_3m, 0)) AS complaints_3m,
               count(*) FILTER (WHERE f.complaints_12m > 0) AS complainants_12m,
               count(*) FILTER (WHERE f.elderly_alone OR f.low_income OR f.disabled OR f.hearing_impaired)
                   AS vulnerable
        FROM features_history f
        WHERE in_scope($role, $allowed::VARCHAR[], f.district_id) AND in_only($only::VARCHAR[], f.district_id)
        GROUP BY f.as_of ORDER BY f.as_of""", _scope(viewer, only))
    extra = []
    if store.has("segments") and (key := _key_user_predicate(store, "s")):
        extra.append(store.query(f"""
            SELECT s.as_of, count(*) FILTER (WHERE {key}) AS key_users
            FROM segments_history s JOIN customers c ON c.customer_id = s.customer_id
            WHERE in_scope($role, $allowed::VARCHAR[], c.district_id) AND in_only($only::VARCHAR[], c.district_id)
            GROUP BY s.as_of""", _scope(viewer, only)))
    sensitive = sensitive_tag(store)
    if sensitive:
        extra.append(store.query(f"""
            SELECT w.as_of, count(*) FILTER (WHERE {_truthy('w', sensitive)}) AS sensitive
            FROM tags_wide_history w JOIN customers c ON c.customer_id = w.customer_id
            WHERE in_scope($role, $allowed::VARCHAR[], c.district_id) AND in_only($only::VARCHAR[], c.district_id)
            GROUP BY w.as_of""", _scope(viewer, only)))
    if store.has("care_alerts") and "customer_id" in store.columns("care_alerts"):
        extra.append(store.query("""
            SELECT a.as_of, count(DISTINCT a.customer_id) AS care_alerts
            FROM care_alerts_history a JOIN customers c ON c.customer_id = a.customer_id
            WHERE in_scope($role, $allowed::VARCHAR[], c.district_id) AND in_only($only::VARCHAR[], c.district_id)
            GROUP BY a.as_of""", _scope(viewer, only)))
    for e in extra:
        df = df.merge(e, on="as_of", how="left")
    return df


def _truthy(alias: str, column: str) -> str:
    """Return SQL that is TRUE when a tag column holds a 'yes' value (flag true, level/label not 否/无)."""
    return (f"coalesce(TRY_CAST({alias}.\"{column}\" AS BOOLEAN), "
            f"CAST({alias}.\"{column}\" AS VARCHAR) NOT IN ('否', '无', '低', 'none', 'no', 'false', '0', ''), FALSE)")


KEY_USER_MIN_SCORE = 30.0  # key-user scores run 0–100; below this a customer is listed but not counted as key


def _key_user_predicate(store: PortraitStore, alias: str) -> str | None:
    """Return SQL for 'is a key user': the stage's own flag, else a score of KEY_USER_MIN_SCORE+ with reasons."""
    cols = store.columns("segments")
    if "is_key_user" in cols:
        return f"{alias}.is_key_user IS TRUE"
    parts = []
    if "key_user_score" in cols:
        parts.append(f"{alias}.key_user_score >= {KEY_USER_MIN_SCORE}")
    if "key_user_reasons" in cols:
        parts.append(f"coalesce(CAST({alias}.key_user_reasons AS VARCHAR), '') NOT IN ('', '[]')")
    if not parts and "key_user_rank" in cols:
        parts.append(f"{alias}.key_user_rank IS NOT NULL")
    return " AND ".join(parts) or None


def sensitive_tag(store: PortraitStore) -> str | None:
    """Return the id of the 敏感客户 (complaint-risk) tag in tags_wide, if the store has one."""
    if not (store.has("tags_wide") and store.has("tag_dictionary")):
        return None
    cols = set(store.columns("tags_wide"))
    for tag_id in ("sensitive_customer", "complaint_sensitive", "sensitive"):
        if tag_id in cols:
            return tag_id
    d = tag_dictionary(store)
    for _, r in d.iterrows():
        if "敏感" in str(r.get("name_zh", "")) and r["tag_id"] in cols:
            return str(r["tag_id"])
    return None


def district_table(store: PortraitStore, viewer: Viewer, only: Iterable[str] = ()) -> pd.DataFrame:
    """Return one row per district in scope with customers, risks and service-gap counts (manager comparison)."""
    df = store.query(f"""WITH {_SCOPED}
        SELECT s.district_id, any_value(s.district_name) AS district_name, any_value(s.station) AS station,
               count(*) AS customers,
               count(*) FILTER (WHERE f.arrears_now > 0) AS arrears_customers,
               sum(coalesce(f.complaints_3m, 0)) AS complaints_3m,
               count(*) FILTER (WHERE f.elderly_alone OR f.low_income OR f.disabled OR f.hearing_impaired) AS vulnerable,
               round(avg(f.mean_sentiment_12m), 3) AS mean_sentiment
        FROM scoped s LEFT JOIN features f ON f.customer_id = s.customer_id
        GROUP BY s.district_id ORDER BY any_value(s.station), s.district_id""", _scope(viewer, only))
    gaps = service_gap_counts(store, viewer, only, by_district=True)
    if not gaps.empty:
        wide = gaps.pivot_table(index="district_id", columns="gap", values="customers", aggfunc="sum", fill_value=0)
        wide.columns = [f"gap_{c}" for c in wide.columns]
        df = df.merge(wide.reset_index(), on="district_id", how="left")
    if store.has("segments") and (key := _key_user_predicate(store, "g")):
        k = store.query(f"""WITH {_SCOPED}
            SELECT s.district_id, count(*) FILTER (WHERE {key}) AS key_users
            FROM scoped s JOIN segments g ON g.customer_id = s.customer_id GROUP BY s.district_id""",
                        _scope(viewer, only))
        df = df.merge(k, on="district_id", how="left")
    return df


def segment_mix(store: PortraitStore, viewer: Viewer, column: str, only: Iterable[str] = ()) -> pd.DataFrame:
    """Return customers per value of a segments column (disc_type, value_tier, load_shape …) in scope."""
    if column not in MIX_COLUMNS:
        raise ValueError(f"unknown mix column {column!r}")
    if column not in store.columns("segments"):
        return pd.DataFrame(columns=["value", "customers"])
    return store.query(f"""WITH {_SCOPED}
        SELECT coalesce(CAST(g."{column}" AS VARCHAR), '数据不足') AS value, count(*) AS customers
        FROM scoped s JOIN segments g ON g.customer_id = s.customer_id
        GROUP BY 1 ORDER BY 2 DESC""", _scope(viewer, only))


def service_gap_counts(store: PortraitStore, viewer: Viewer, only: Iterable[str] = (),
                       by_district: bool = False) -> pd.DataFrame:
    """Return customers with a warning per service gap (需求认知 … 客户体验), optionally per district.

    Uses the published `service_gaps` table when there is one, else the contact features behind each gap.
    """
    group = "s.district_id, " if by_district else ""
    cols = store.columns("service_gaps")
    if "customer_id" in cols and (gap_col := next((c for c in ("gap", "gap_type", "gap_name", "gap_zh")
                                                   if c in cols), None)):
        return store.query(f"""WITH {_SCOPED}
            SELECT {group} CAST(g."{gap_col}" AS VARCHAR) AS gap, count(DISTINCT g.customer_id) AS customers
            FROM scoped s JOIN service_gaps g ON g.customer_id = s.customer_id
            GROUP BY ALL ORDER BY ALL""", _scope(viewer, only))
    if not store.has("features"):
        return pd.DataFrame(columns=["gap", "customers"])
    return store.query(f"""WITH {_SCOPED}, flags AS (
            SELECT s.district_id,
                   coalesce(f.repeated_contacts_12m, 0) > 0 OR coalesce(f.same_topic_max_window, 0) >= 3 AS g1,
                   coalesce(f.overdue_orders_12m, 0) > 0 AS g2,
                   coalesce(f.multi_transfer_orders_12m, 0) > 0 AS g3,
                   coalesce(f.attitude_contacts_12m, 0) > 0 OR coalesce(f.unnotified_outages_12m, 0) > 0 AS g4,
                   coalesce(f.dissatisfied_12m, 0) > 0 AS g5
            FROM scoped s JOIN features f ON f.customer_id = s.customer_id)
        SELECT {group.replace('s.', 'flags.')} gap, count(*) FILTER (WHERE hit) AS customers
        FROM flags, LATERAL (VALUES ('需求认知', g1), ('服务能力', g2), ('服务传递', g3), ('服务沟通', g4),
                                    ('客户体验', g5)) AS v(gap, hit)
        GROUP BY ALL ORDER BY ALL""", _scope(viewer, only))


def district_gap_warnings(store: PortraitStore, viewer: Viewer, only: Iterable[str] = ()) -> pd.DataFrame:
    """Return the published district-level service-gap warnings in scope (预警 first), with district names."""
    cols = set(store.columns("service_gaps"))
    if not {"district_id", "gap"} <= cols:
        return pd.DataFrame()
    level = "g.customer_id IS NULL" if "customer_id" in cols else "TRUE"
    if "level" in cols:
        level = "g.level = '台区'"
    pick = ", ".join(f"g.{c}" for c in ("gap", "warning", "events", "customers_affected", "contacts",
                                         "rate_per_100_contacts", "evidence", "last_at") if c in cols)
    order = "CASE g.warning WHEN '预警' THEN 0 WHEN '关注' THEN 1 ELSE 2 END, " if "warning" in cols else ""
    return store.query(f"""WITH names AS (
            SELECT district_id, any_value(district_name) AS district_name FROM customers GROUP BY district_id)
        SELECT g.district_id, n.district_name, {pick}
        FROM service_gaps g LEFT JOIN names n ON n.district_id = g.district_id
        WHERE {level} AND in_scope($role, $allowed::VARCHAR[], g.district_id)
          AND in_only($only::VARCHAR[], g.district_id)
        ORDER BY {order}g.district_id, g.gap""", _scope(viewer, only))


def care_alerts(store: PortraitStore, viewer: Viewer, only: Iterable[str] = (), limit: int = 500) -> pd.DataFrame:
    """Return care alerts in scope with the customer's (masked) name and phone, most urgent first."""
    cols = set(store.columns("care_alerts"))
    if "customer_id" not in cols:
        return pd.DataFrame()
    keep = [c for c in store.columns("care_alerts") if c not in PII_COLUMNS | {"customer_id", "district_id"}]
    order = []
    if "severity" in cols:
        order.append("CASE a.severity WHEN '紧急' THEN 0 WHEN '高' THEN 1 ELSE 2 END")
    if "ongoing" in cols:
        order.append("a.ongoing DESC")
    if "days" in cols:
        order.append("a.days DESC")
    return store.query(f"""WITH {_SCOPED}
        SELECT a.customer_id,
               CASE WHEN s.pii THEN c.name ELSE mask_name(c.name) END AS name,
               CASE WHEN s.pii THEN c.phone ELSE mask_phone(c.phone) END AS phone,
               s.district_name, {', '.join('a.' + chr(34) + k + chr(34) for k in keep)}
        FROM care_alerts a JOIN scoped s ON s.customer_id = a.customer_id
        JOIN customers c ON c.customer_id = a.customer_id
        ORDER BY {', '.join(order + ['a.customer_id'])} LIMIT $limit""",
                       _scope(viewer, only, limit=max(1, min(int(limit), 100_000))))


def experience_map_rows(store: PortraitStore, viewer: Viewer, only: Iterable[str] = ()) -> pd.DataFrame:
    """Return the published experience map for the scope: one 台区 (when one is chosen), else the whole area.

    Staff see only their own 台区 rows; the area-wide and per-type rows are for roles that see every district.
    """
    cols = set(store.columns("experience_map"))
    if not {"scope", "scope_id", "stage"} <= cols:
        return pd.DataFrame()
    only = [str(d) for d in only or ()]
    if only:
        where = "m.scope = '台区' AND m.scope_id = $one AND in_scope($role, $allowed::VARCHAR[], m.scope_id)"
        params = _scope(viewer, only, one=only[0])
    elif viewer.role == "staff" and len(viewer.districts) == 1:
        where = "m.scope = '台区' AND in_scope($role, $allowed::VARCHAR[], m.scope_id)"
        params = _scope(viewer)
    else:
        where = "m.scope = '全部' AND $role IN ('manager', 'analyst', 'admin')"
        params = _scope(viewer)
    order = "m.stage_order" if "stage_order" in cols else "m.stage"
    return store.query(f"SELECT m.* FROM experience_map m WHERE {where} ORDER BY {order}", params)


# --- key users ------------------------------------------------------------------------------------------

def key_users(store: PortraitStore, viewer: Viewer, only: Iterable[str] = (), disc: Iterable[str] = (),
              reason: str | None = None, min_score: float | None = None, vulnerable_only: bool = False,
              limit: int = 500) -> pd.DataFrame:
    """Return the ranked key users in scope, with masked contact details, reasons, DISC type and action."""
    if not store.has("segments"):
        return pd.DataFrame()
    cols = set(store.columns("segments"))
    pick = [c for c in ("key_user_rank", "key_user_score", "key_user_reasons", "disc_type", "disc_code",
                        "value_tier", "suggested_action") if c in cols]
    order = ", ".join([c for c, ok in (("g.key_user_score DESC", "key_user_score" in cols),
                                         ("g.key_user_rank", "key_user_rank" in cols)) if ok] or ["g.customer_id"])
    key = ("coalesce(CAST(g.key_user_reasons AS VARCHAR), '') NOT IN ('', '[]')" if "key_user_reasons" in cols
           else "TRUE")
    score = "g.key_user_score" if "key_user_score" in cols else "NULL"
    disc_col = "g.disc_type" if "disc_type" in cols else ("g.disc_code" if "disc_code" in cols else "NULL")
    reasons = "CAST(g.key_user_reasons AS VARCHAR)" if "key_user_reasons" in cols else "''"
    extra = ", ".join(f"g.{c}" for c in pick)
    # Rank first, then fetch (and mask) contact details for the rows kept: masking 1M rows to show 500 is waste.
    sql = f"""WITH base AS (
            SELECT c.customer_id, c.district_id, c.district_name, c.station, c.category,
                   pii_visible($role, $allowed::VARCHAR[], c.district_id) AS pii,
                   coalesce(c.elderly_alone OR c.low_income OR c.disabled OR c.hearing_impaired
                            OR c.foreign_language, FALSE) AS vulnerable
            FROM customers c
            WHERE in_scope($role, $allowed::VARCHAR[], c.district_id) AND in_only($only::VARCHAR[], c.district_id)),
        top AS (
            SELECT s.*, {extra}
            FROM base s JOIN segments g ON g.customer_id = s.customer_id
            WHERE ({key})
              AND (len($disc::VARCHAR[]) = 0 OR list_contains($disc::VARCHAR[], CAST({disc_col} AS VARCHAR)))
              AND ($reason = '' OR contains({reasons}, $reason))
              AND ($min_score IS NULL OR {score} >= $min_score::DOUBLE)
              AND (NOT $vulnerable_only OR s.vulnerable)
            ORDER BY {order} NULLS LAST, s.customer_id
            LIMIT $limit)
        SELECT t.customer_id,
               CASE WHEN t.pii THEN c.name ELSE mask_name(c.name) END AS name,
               CASE WHEN t.pii THEN c.phone ELSE mask_phone(c.phone) END AS phone,
               CASE WHEN t.pii THEN c.address ELSE mask_address(c.address, c.district_name) END AS address,
               t.* EXCLUDE (customer_id, pii)
        FROM top t JOIN customers c ON c.customer_id = t.customer_id
        ORDER BY {order.replace('g.', 't.')} NULLS LAST, t.customer_id"""
    return store.query(sql, _scope(viewer, only, disc=[str(d) for d in disc], reason=str(reason or "")[:40],
                                   min_score=None if min_score is None else float(min_score),
                                   vulnerable_only=bool(vulnerable_only), limit=max(1, min(int(limit), 100_000))))


# --- one customer: the portrait ------------------------------------------------------------------------

def customer_visible(store: PortraitStore, viewer: Viewer, customer_id: str) -> bool:
    """Return whether the viewer may open this customer."""
    return not store.query(f"WITH {_ONE} SELECT 1 FROM one", _scope(viewer, cid=str(customer_id))).empty


def customer_header(store: PortraitStore, viewer: Viewer, customer_id: str) -> pd.DataFrame:
    """Return the customer's archive row, masked for the viewer; empty when out of scope."""
    return store.query(f"""WITH {_ONE}
        SELECT c.customer_id,
               CASE WHEN o.pii THEN c.name ELSE mask_name(c.name) END AS name,
               CASE WHEN o.pii THEN c.phone ELSE mask_phone(c.phone) END AS phone,
               CASE WHEN o.pii THEN c.id_number ELSE mask_id(c.id_number) END AS id_number,
               CASE WHEN o.pii THEN c.address ELSE mask_address(c.address, c.district_name) END AS address,
               o.pii AS pii_visible,
               c.* EXCLUDE (customer_id, name, phone, id_number, address)
        FROM one o JOIN customers c ON c.customer_id = o.customer_id""",
                       _scope(viewer, cid=str(customer_id)))


def _per_customer(store: PortraitStore, viewer: Viewer, customer_id: str, table: str, columns: str,
                  order: str = "", limit: int | None = None) -> pd.DataFrame:
    if not store.has(table):
        return pd.DataFrame()
    sql = (f"WITH {_ONE} SELECT {columns} FROM \"{table}\" t "
           f"WHERE t.customer_id = $cid AND EXISTS (SELECT 1 FROM one) {order}"
           + (f" LIMIT {int(limit)}" if limit else ""))
    return store.query(sql, _scope(viewer, cid=str(customer_id)))


def customer_usage(store: PortraitStore, viewer: Viewer, customer_id: str) -> pd.DataFrame:
    """Return the customer's daily kWh (with 峰/平/谷 when known) over the published window."""
    cols = store.columns("usage_daily")
    split = ", ".join(f"t.{c}" for c in ("kwh_peak", "kwh_flat", "kwh_valley") if c in cols)
    return _per_customer(store, viewer, customer_id, "usage_daily",
                         "t.reading_date, t.kwh" + (f", {split}" if split else ""), "ORDER BY t.reading_date")


def customer_bills(store: PortraitStore, viewer: Viewer, customer_id: str) -> pd.DataFrame:
    """Return the customer's bills by period."""
    return _per_customer(store, viewer, customer_id, "bills", "t.* EXCLUDE (customer_id)", "ORDER BY t.period")


def customer_payments(store: PortraitStore, viewer: Viewer, customer_id: str) -> pd.DataFrame:
    """Return the customer's payments."""
    return _per_customer(store, viewer, customer_id, "payments", "t.* EXCLUDE (customer_id)", "ORDER BY t.paid_at")


def customer_contacts(store: PortraitStore, viewer: Viewer, customer_id: str) -> pd.DataFrame:
    """Return the contact timeline with text signals; free text redacted unless the viewer may see PII."""
    if not store.has("contacts"):
        return pd.DataFrame()
    has_text = store.has("contact_text")
    tcols = set(store.columns("contact_text"))
    signals = ", ".join(f"x.{c}" for c in ("sentiment", "sentiment_score", "topic", "escalation", "abuse",
                                            "chasing", "special_need", "evidence") if c in tcols)
    motives = ", ".join(f"x.{c}" for c in sorted(tcols) if c.startswith("motive_"))
    join = ("LEFT JOIN (SELECT * FROM contact_text WHERE customer_id = $cid) x ON x.ticket_id = t.ticket_id"
            if has_text else "")
    sel = ", ".join(s for s in (signals, motives) if s)
    return store.query(f"""WITH {_ONE}
        SELECT t.ticket_id, t.contacted_at, t.channel, t.business_type,
               CASE WHEN o.pii THEN t.content
                    ELSE redact_text(CASE WHEN o.name IS NULL OR length(o.name) < 2 THEN t.content
                                          ELSE replace(t.content, o.name, mask_name(o.name)) END) END AS content,
               t.* EXCLUDE (ticket_id, customer_id, contacted_at, channel, business_type, content)
               {', ' + sel if sel else ''}
        FROM contacts t JOIN one o ON o.customer_id = t.customer_id {join}
        WHERE t.customer_id = $cid
        ORDER BY t.contacted_at""", _scope(viewer, cid=str(customer_id)))


def customer_row(store: PortraitStore, viewer: Viewer, customer_id: str, table: str,
                 columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Return the rows of a per-customer published table (features, segments, care_alerts …), PII columns dropped.

    `columns` narrows the read to the columns named (those the table has), which matters for wide tables.
    """
    if table not in ("features", "segments", "tags_wide") + OPTIONAL_TABLES or not store.has(table):
        return pd.DataFrame()
    have = store.columns(table)
    if "customer_id" not in have:
        return pd.DataFrame()
    if columns is not None:
        wanted = set(columns)
        keep = [c for c in have if c in wanted and c not in PII_COLUMNS and c != "customer_id"]
        cols = ", ".join(["t.customer_id"] + [f't."{c}"' for c in keep])
    else:
        drop = [c for c in have if c in PII_COLUMNS]
        cols = "t.*" + (f" EXCLUDE ({', '.join(chr(34) + c + chr(34) for c in drop)})" if drop else "")
    return _per_customer(store, viewer, customer_id, table, cols)


def customer_tags(store: PortraitStore, viewer: Viewer, customer_id: str) -> pd.DataFrame:
    """Return the customer's tags with dictionary metadata: tag_id, names, category, value, status."""
    d = tag_dictionary(store)
    if store.has("tags_wide"):
        row = customer_row(store, viewer, customer_id, "tags_wide")
        if row.empty:
            return pd.DataFrame()
        r = row.iloc[0]
        skip = {"customer_id", "district_id", "station", "as_of", "district_name"}
        vals = [{"tag_id": c, "value": r[c]} for c in row.columns if c not in skip]
        df = pd.DataFrame(vals, columns=["tag_id", "value"])
        df["status"] = ["missing" if _is_null(v) else "ok" for v in df["value"]]
    elif store.has("tags"):
        df = _per_customer(store, viewer, customer_id, "tags", "t.* EXCLUDE (customer_id)")
        if df.empty:
            return df
    else:
        return pd.DataFrame()
    df["value"] = [_display_value(v) for v in df["value"]]
    if not d.empty:
        df = df.merge(d[[c for c in ("tag_id", "name_zh", "name_en", "category", "value_type", "description")
                         if c in d.columns]], on="tag_id", how="left")
    return df


def _is_null(v: Any) -> bool:
    try:
        return v is None or bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _display_value(v: Any) -> Any:
    if _is_null(v):
        return None
    if isinstance(v, (bool,)) or type(v).__name__ == "bool_":
        return "是" if bool(v) else "否"
    if isinstance(v, float):
        return round(v, 3)
    return v


# The features the portrait page shows or reasons with (headline figures, motives, gaps, recommended actions).
PORTRAIT_FEATURES = (
    "kwh_12m", "kwh_daily_mean_12m", "bill_amount_12m", "bills_12m", "arrears_now", "late_payments_12m",
    "autodebit_share", "ebill", "elderly_alone", "low_income", "disabled", "hearing_impaired", "contacts_12m",
    "contacts_3m", "complaints_12m", "complaints_3m", "chasing_cnt_12m", "mean_sentiment_12m", "last_sentiment_score",
    "peak_end_score", "top_motive", "n_motive_venting_12m", "n_motive_respect_12m", "n_motive_advice_12m",
    "n_motive_compensation_12m", "n_motive_fairness_12m", "n_motive_efficiency_12m", "repeated_contacts_12m",
    "same_topic_max_window", "overdue_orders_12m", "multi_transfer_orders_12m", "attitude_contacts_12m",
    "unnotified_outages_12m", "dissatisfied_12m", "step_drop_ratio", "low_run_current_days", "valley_share_12m",
    "has_charger_connection", "has_pv_connection", "applied_pv", "applied_charger", "holder_age",
)
_POOL = ThreadPoolExecutor(max_workers=6, thread_name_prefix="portrait")


def portrait_bundle(store: PortraitStore, viewer: Viewer, customer_id: str) -> dict[str, pd.DataFrame]:
    """Return everything the portrait page shows for one customer; {} when the viewer may not see them.

    The archive row is read first (it is the scope check); the other reads run concurrently on their own
    cursors, and each repeats the scope check in its own SQL.
    """
    header = customer_header(store, viewer, customer_id)
    if header.empty:
        return {}
    parts = {"tags": (customer_tags, ()), "usage": (customer_usage, ()), "bills": (customer_bills, ()),
             "payments": (customer_payments, ()), "contacts": (customer_contacts, ()),
             "features": (customer_row, ("features", PORTRAIT_FEATURES))}
    for t in ("segments", "care_alerts", "service_gaps"):
        parts[t] = (customer_row, (t,))
    futures = {k: _POOL.submit(fn, store, viewer, customer_id, *args) for k, (fn, args) in parts.items()}
    return {"header": header, **{k: f.result() for k, f in futures.items()}}


def search_customers(store: PortraitStore, viewer: Viewer, text: str, only: Iterable[str] = (),
                     limit: int = 30) -> pd.DataFrame:
    """Return customers in scope whose 户号 starts with `text`, or (where PII is visible) whose name contains it."""
    text = str(text or "").strip()[:40]
    if not text:
        return pd.DataFrame(columns=["customer_id", "name", "district_name"])
    return store.query(f"""WITH {_SCOPED}
        SELECT s.customer_id, CASE WHEN s.pii THEN c.name ELSE mask_name(c.name) END AS name,
               s.district_name, s.station
        FROM scoped s JOIN customers c ON c.customer_id = s.customer_id
        WHERE starts_with(s.customer_id, $text) OR (s.pii AND contains(c.name, $text))
        ORDER BY s.customer_id LIMIT $limit""", _scope(viewer, only, text=text, limit=int(limit)))


def explain_tag(store: PortraitStore, viewer: Viewer, customer_id: str, tag_id: str) -> dict[str, Any]:
    """Return why a customer has a tag value: the tags package's explanation, or the rule and its facts."""
    if not customer_visible(store, viewer, customer_id):
        return {}
    d = tag_dictionary(store)
    if d.empty or tag_id not in set(d["tag_id"]):
        return {}
    meta = d[d["tag_id"] == tag_id].iloc[0].to_dict()
    out: dict[str, Any] = {"tag_id": tag_id, "name_zh": meta.get("name_zh"), "rule": meta.get("rule"),
                           "description": meta.get("description")}
    try:
        from tags.explain import explain  # the tags package owns explanations; it never imports the pipeline
    except ImportError:
        explain = None
    if explain is not None and store.has("tags"):
        cur = store.cursor()
        try:
            e = explain(cur, str(customer_id), str(tag_id))
            out["explanation"] = _plain(e)
        except Exception as err:  # an explanation must never take the page down
            out["error"] = f"{type(err).__name__}: {err}"
        finally:
            cur.close()
    feats = _features_of(meta)
    fcols = set(store.columns("features"))
    feats = [f for f in feats if f in fcols]
    if feats:
        row = customer_row(store, viewer, customer_id, "features")
        if not row.empty:
            out["facts"] = {f: _display_value(row.iloc[0][f]) for f in feats}
    return out


def _features_of(meta: Mapping[str, Any]) -> list[str]:
    raw = meta.get("features")
    if raw is None or (isinstance(raw, float) and pd.isna(raw)):
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = re.split(r"[,\s;]+", raw)
    return [str(x) for x in list(raw) if str(x)]


def _plain(obj: Any) -> Any:
    from dataclasses import asdict, is_dataclass

    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: _plain(v) for k, v in asdict(obj).items()}
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


# --- tag catalogue ------------------------------------------------------------------------------------

def tag_dictionary(store: PortraitStore) -> pd.DataFrame:
    """Return the tag dictionary with a `tag_id` column (empty when not published)."""
    if not store.has("tag_dictionary"):
        return pd.DataFrame(columns=["tag_id", "name_zh", "name_en", "category", "value_type"])
    cols = store.columns("tag_dictionary")
    idc = "tag_id" if "tag_id" in cols else ("id" if "id" in cols else None)
    if idc is None:
        return pd.DataFrame(columns=["tag_id"])
    df = store.query(f'SELECT * FROM tag_dictionary ORDER BY "{idc}"')
    if idc != "tag_id":
        df = df.rename(columns={idc: "tag_id"})
    return df


def tag_distribution(store: PortraitStore, viewer: Viewer, tag_id: str, only: Iterable[str] = ()) -> pd.DataFrame:
    """Return value → customers for one tag in scope (score tags in 20 bins); `missing` counted apart."""
    col = _tag_column(store, tag_id)
    if col is None:
        return pd.DataFrame(columns=["value", "customers"])
    vt = _value_type(store, tag_id)
    if vt == "score":
        return store.query(f"""WITH {_SCOPED}, v AS (
                SELECT TRY_CAST(w."{col}" AS DOUBLE) AS x FROM scoped s JOIN tags_wide w ON w.customer_id = s.customer_id),
            r AS (SELECT min(x) AS lo, quantile_cont(x, 0.99) AS hi FROM v)
            SELECT CASE WHEN x IS NULL THEN NULL
                        ELSE round(r.lo + least(floor((x - r.lo) / nullif((r.hi - r.lo) / 20, 0)), 19)
                                   * coalesce(nullif((r.hi - r.lo) / 20, 0), 1), 4) END AS value,
                   count(*) AS customers
            FROM v, r GROUP BY 1 ORDER BY 1 NULLS LAST""", _scope(viewer, only))
    return store.query(f"""WITH {_SCOPED}
        SELECT CAST(w."{col}" AS VARCHAR) AS value, count(*) AS customers
        FROM scoped s JOIN tags_wide w ON w.customer_id = s.customer_id
        GROUP BY 1 ORDER BY 2 DESC""", _scope(viewer, only))


def tag_coverage(store: PortraitStore, viewer: Viewer, tag_id: str, only: Iterable[str] = ()) -> pd.DataFrame:
    """Return per district in scope: customers, with a value, missing data, coverage (and true rate) of one tag."""
    qcols = set(store.columns("tag_quality"))
    if {"tag_id", "district_id", "coverage"} <= qcols:
        pick = ", ".join(f"q.{a} AS {b}" for a, b in (("customers", "customers"), ("n_with_value", "with_value"),
                                                      ("n_missing", "missing"), ("coverage", "coverage"),
                                                      ("true_rate", "true_rate"), ("mean", "mean"))
                         if a in qcols)
        return store.query(f"""WITH names AS (
                SELECT district_id, any_value(district_name) AS district_name FROM customers GROUP BY district_id)
            SELECT q.district_id, n.district_name, {pick}
            FROM tag_quality q JOIN names n ON n.district_id = q.district_id
            WHERE q.tag_id = $tag AND in_scope($role, $allowed::VARCHAR[], q.district_id)
              AND in_only($only::VARCHAR[], q.district_id)
            ORDER BY q.district_id""", _scope(viewer, only, tag=str(tag_id)))
    col = _tag_column(store, tag_id)
    if col is None:
        return pd.DataFrame()
    return store.query(f"""WITH {_SCOPED}
        SELECT s.district_id, any_value(s.district_name) AS district_name, count(*) AS customers,
               count(w."{col}") AS with_value, count(*) - count(w."{col}") AS missing,
               round(count(w."{col}") / count(*), 4) AS coverage
        FROM scoped s LEFT JOIN tags_wide w ON w.customer_id = s.customer_id
        GROUP BY s.district_id ORDER BY s.district_id""", _scope(viewer, only))


def tag_history(store: PortraitStore, viewer: Viewer, tag_id: str, only: Iterable[str] = ()) -> pd.DataFrame:
    """Return per as-of date: customers, with a value, and the share true (flags) or the mean (scores)."""
    col = _tag_column(store, tag_id)
    if col is None:
        return pd.DataFrame()
    vt = _value_type(store, tag_id)
    measure = (f'avg(TRY_CAST(w."{col}" AS DOUBLE))' if vt == "score"
               else f'avg(CASE WHEN {_truthy("w", col)} THEN 1.0 ELSE 0.0 END) FILTER (WHERE w."{col}" IS NOT NULL)')
    return store.query(f"""
        SELECT w.as_of, count(*) AS customers, count(w."{col}") AS with_value, round({measure}, 4) AS measure
        FROM tags_wide_history w JOIN customers c ON c.customer_id = w.customer_id
        WHERE in_scope($role, $allowed::VARCHAR[], c.district_id) AND in_only($only::VARCHAR[], c.district_id)
        GROUP BY w.as_of ORDER BY w.as_of""", _scope(viewer, only))


def _tag_column(store: PortraitStore, tag_id: str) -> str | None:
    """Return `tag_id` when it is a tags_wide column (the whitelist for every tag identifier)."""
    if not isinstance(tag_id, str) or not _TABLE.match(tag_id):
        return None
    cols = set(store.columns("tags_wide")) - {"customer_id", "district_id", "station", "as_of", "district_name"}
    return tag_id if tag_id in cols else None


def _value_type(store: PortraitStore, tag_id: str) -> str:
    d = tag_dictionary(store)
    if "value_type" in d.columns:
        hit = d.loc[d["tag_id"] == tag_id, "value_type"]
        if len(hit):
            return str(hit.iloc[0])
    return "label"


# --- segments (人群圈选) ------------------------------------------------------------------------------

def segment_fields(store: PortraitStore) -> dict[str, SegmentField]:
    """Return the fields a segment may test: every published tag column, plus segment columns (DISC, tiers)."""
    out: dict[str, SegmentField] = {}
    d = tag_dictionary(store)
    wide = set(store.columns("tags_wide"))
    meta = {r["tag_id"]: r for r in d.to_dict("records")} if not d.empty else {}
    for tag_id in store.columns("tags_wide"):
        if tag_id in ("customer_id", "district_id", "station", "as_of", "district_name") or not _TABLE.match(tag_id):
            continue
        m = meta.get(tag_id, {})
        vt = str(m.get("value_type") or "label")
        if vt not in ("flag", "level", "label", "score"):
            vt = "label"
        values = _allowed_values(m)
        try:
            out[tag_id] = SegmentField(tag_id, vt, "w", values, str(m.get("name_zh") or tag_id),
                                       str(m.get("name_en") or tag_id))
        except SegmentError:
            continue
    for col, vt in SEGMENT_FIELD_COLUMNS.items():
        if col in store.columns("segments") and col not in wide:
            zh, en = SEGMENT_FIELD_NAMES[col]
            out[col] = SegmentField(col, vt, "s", (), zh, en)
    return out


def _allowed_values(meta: Mapping[str, Any]) -> tuple[str, ...]:
    for key in ("levels", "labels", "allowed_values", "values"):
        raw = meta.get(key)
        if raw is None or (isinstance(raw, float) and pd.isna(raw)):
            continue
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raw = [x for x in re.split(r"[,，|;]\s*", raw) if x]
        try:
            vals = tuple(str(x) for x in list(raw))
        except TypeError:
            continue
        if vals:
            return vals
    return ()


def field_values(store: PortraitStore, field_id: str) -> list[str]:
    """Return the distinct values of a level/label field (for the builder's pick list)."""
    fields = segment_fields(store)
    f = fields.get(field_id)
    if f is None:
        return []
    if f.values:
        return list(f.values)
    table = "tags_wide" if f.alias == "w" else "segments"
    df = store.query(f'SELECT DISTINCT CAST("{f.id}" AS VARCHAR) AS v FROM "{table}" WHERE "{f.id}" IS NOT NULL '
                     "ORDER BY 1 LIMIT 200")
    return [str(v) for v in df["v"]]


def _segment_sql(store: PortraitStore, tree: Mapping[str, Any] | None) -> tuple[str, str, dict[str, Any]]:
    """Return (joins, predicate, params) for a segment tree over the scoped CTE `s`."""
    if not tree:
        return "", "TRUE", {}
    fields = segment_fields(store)
    # The scoped CTE is aliased `sc`; tag columns live on `w`, segment columns on `s` (segments).
    compiled = compile_segment(tree, fields)
    joins = ""
    if "w" in compiled.aliases:
        joins += " JOIN tags_wide w ON w.customer_id = sc.customer_id"
    if "s" in compiled.aliases:
        joins += " JOIN segments s ON s.customer_id = sc.customer_id"
    return joins, compiled.sql, compiled.params


_SCOPED_SC = _SCOPED.replace("scoped AS (", "sc_src AS (", 1)


def segment_count(store: PortraitStore, viewer: Viewer, tree: Mapping[str, Any] | None,
                  only: Iterable[str] = ()) -> int:
    """Return how many customers in scope match the segment."""
    joins, pred, params = _segment_sql(store, tree)
    df = store.query(f"""WITH {_SCOPED_SC}
        SELECT count(*) AS n FROM sc_src sc {joins} WHERE {pred}""", _scope(viewer, only, **params))
    return int(df["n"].iloc[0])


def segment_by_district(store: PortraitStore, viewer: Viewer, tree: Mapping[str, Any] | None,
                        only: Iterable[str] = ()) -> pd.DataFrame:
    """Return the matching customers per district in scope, with the district's share."""
    joins, pred, params = _segment_sql(store, tree)
    return store.query(f"""WITH {_SCOPED_SC}
        SELECT sc.district_id, any_value(sc.district_name) AS district_name, any_value(sc.station) AS station,
               count(*) FILTER (WHERE {pred}) AS customers, count(*) AS district_customers,
               round(count(*) FILTER (WHERE {pred}) / count(*), 4) AS share
        FROM sc_src sc {joins.replace(' JOIN ', ' LEFT JOIN ')}
        GROUP BY sc.district_id HAVING count(*) FILTER (WHERE {pred}) > 0
        ORDER BY customers DESC, sc.district_id""", _scope(viewer, only, **params))


def segment_members(store: PortraitStore, viewer: Viewer, tree: Mapping[str, Any] | None, only: Iterable[str] = (),
                    limit: int = 20) -> pd.DataFrame:
    """Return matching customers (masked contact details, district, the tags the segment tests)."""
    joins, pred, params = _segment_sql(store, tree)
    fields = segment_fields(store)
    from dashboards.segment_query import segment_tags

    shown = [t for t in segment_tags(tree or {}) if t in fields][:12]
    if shown and "w" not in (joins or "") and any(fields[t].alias == "w" for t in shown):
        joins += " JOIN tags_wide w ON w.customer_id = sc.customer_id"
    if shown and " segments s " not in joins and any(fields[t].alias == "s" for t in shown):
        joins += " JOIN segments s ON s.customer_id = sc.customer_id"
    tag_cols = "".join(f', {fields[t].alias}."{t}"' for t in shown)
    return store.query(f"""WITH {_SCOPED_SC}, top AS (
            SELECT sc.customer_id, sc.pii, sc.district_id, sc.district_name, sc.station {tag_cols}
            FROM sc_src sc {joins}
            WHERE {pred}
            ORDER BY sc.customer_id LIMIT $limit)
        SELECT t.customer_id,
               CASE WHEN t.pii THEN c.name ELSE mask_name(c.name) END AS name,
               CASE WHEN t.pii THEN c.phone ELSE mask_phone(c.phone) END AS phone,
               CASE WHEN t.pii THEN c.address ELSE mask_address(c.address, c.district_name) END AS address,
               t.* EXCLUDE (customer_id, pii)
        FROM top t JOIN customers c ON c.customer_id = t.customer_id
        ORDER BY t.customer_id""", _scope(viewer, only, limit=max(1, min(int(limit), 1_000_000)), **params))


# --- experience map (客户体验地图) ---------------------------------------------------------------------

def _contacts_in_scope(store: PortraitStore, tree: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    joins, pred, params = _segment_sql(store, tree)
    kcols = set(store.columns("contacts"))
    extra = ", ".join(f"k.{c}" if c in kcols else f"NULL AS {c}" for c in ("satisfaction", "overdue", "transfers"))
    sql = f"""{_SCOPED_SC}, cx AS (
        SELECT x.ticket_id, x.customer_id, x.contacted_at, x.business_type, x.topic, x.sentiment, x.sentiment_score,
               x.evidence, sc.district_id, sc.district_name, {extra}, {_STAGE_CASE} AS stage
        FROM sc_src sc {joins}
        JOIN contact_text x ON x.customer_id = sc.customer_id
        LEFT JOIN contacts k ON k.ticket_id = x.ticket_id
        WHERE {pred})"""
    return sql, params


def experience_stages(store: PortraitStore, viewer: Viewer, only: Iterable[str] = (),
                      tree: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Return per journey stage: contacts, customers, mean sentiment, negative share, complaints, dissatisfied."""
    if not (store.has("contact_text") and store.has("contacts")):
        return pd.DataFrame()
    cte, params = _contacts_in_scope(store, tree)
    return store.query(f"""WITH {cte}
        SELECT stage, count(*) AS contacts, count(DISTINCT customer_id) AS customers,
               round(avg(sentiment_score), 3) AS mean_sentiment,
               round(avg(CASE WHEN sentiment = 'negative' THEN 1.0 ELSE 0.0 END), 3) AS negative_share,
               count(*) FILTER (WHERE business_type IN ('投诉', '举报')) AS complaints,
               count(*) FILTER (WHERE satisfaction = '不满意') AS dissatisfied,
               count(*) FILTER (WHERE overdue) AS overdue,
               round(min(sentiment_score), 3) AS worst_sentiment
        FROM cx GROUP BY stage ORDER BY mean_sentiment""", _scope(viewer, only, **params))


def experience_curve(store: PortraitStore, viewer: Viewer, only: Iterable[str] = (),
                     tree: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Return the sentiment curve by month: contacts, mean and worst sentiment (the peak–end curve)."""
    if not (store.has("contact_text") and store.has("contacts")):
        return pd.DataFrame()
    cte, params = _contacts_in_scope(store, tree)
    return store.query(f"""WITH {cte}
        SELECT date_trunc('month', contacted_at)::DATE AS month, count(*) AS contacts,
               round(avg(sentiment_score), 3) AS mean_sentiment, round(min(sentiment_score), 3) AS worst_sentiment
        FROM cx GROUP BY 1 ORDER BY 1""", _scope(viewer, only, **params))


def worst_moments(store: PortraitStore, viewer: Viewer, only: Iterable[str] = (),
                  tree: Mapping[str, Any] | None = None, limit: int = 10) -> pd.DataFrame:
    """Return the most negative contacts (moments of truth) in scope, worst first, without free text."""
    if not (store.has("contact_text") and store.has("contacts")):
        return pd.DataFrame()
    cte, params = _contacts_in_scope(store, tree)
    return store.query(f"""WITH {cte}
        SELECT contacted_at, stage, business_type, topic, sentiment_score, evidence, satisfaction,
               district_name, customer_id, ticket_id
        FROM cx ORDER BY sentiment_score, contacted_at DESC LIMIT $limit""",
                       _scope(viewer, only, limit=max(1, min(int(limit), 200)), **params))


def published_rows(store: PortraitStore, viewer: Viewer, table: str, only: Iterable[str] = (),
                   limit: int = 5000) -> pd.DataFrame:
    """Return rows of an optional published table (care_alerts, experience_map …) in scope, PII columns dropped."""
    if table not in OPTIONAL_TABLES or not store.has(table):
        return pd.DataFrame()
    cols = store.columns(table)
    drop = [c for c in cols if c in PII_COLUMNS]
    sel = "t.*" + (f" EXCLUDE ({', '.join(chr(34) + c + chr(34) for c in drop)})" if drop else "")
    lim = max(1, min(int(limit), 1_000_000))
    if "customer_id" in cols:
        return store.query(f"""WITH {_SCOPED}
            SELECT {sel}{'' if 'district_id' in cols else ', s.district_id'}
            {'' if 'district_name' in cols else ', s.district_name'}
            FROM "{table}" t JOIN scoped s ON s.customer_id = t.customer_id LIMIT {lim}""", _scope(viewer, only))
    if "district_id" in cols:
        return store.query(f"""SELECT {sel} FROM "{table}" t
            WHERE in_scope($role, $allowed::VARCHAR[], t.district_id) AND in_only($only::VARCHAR[], t.district_id)
            LIMIT {lim}""", _scope(viewer, only))
    if viewer.role in ALL_DISTRICT_ROLES:  # aggregate tables with no district: not for district-scoped staff
        return store.query(f'SELECT {sel} FROM "{table}" t LIMIT {lim}')
    return pd.DataFrame()


# --- runs and data quality ----------------------------------------------------------------------------

def _require_runs(viewer: Viewer) -> None:
    if viewer.role not in RUN_ROLES:
        raise AccessDenied("runs and data quality are for analysts and admins")


def runs(store: PortraitStore, viewer: Viewer) -> pd.DataFrame:
    """Return every run's manifest summary, newest first (analysts and admins only)."""
    _require_runs(viewer)
    rows = []
    for p in sorted((store.path / "runs").glob("*.json")):
        try:
            m = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        counts = m.get("counts") or {}
        rows.append({"run_id": m.get("run_id", p.stem), "as_of": m.get("as_of"), "status": m.get("status"),
                     "started_at": m.get("started_at"), "finished_at": m.get("finished_at"),
                     "total_seconds": m.get("total_seconds"), "code_version": m.get("code_version"),
                     "base_as_of": (m.get("incremental") or {}).get("base_as_of"),
                     "read": sum(int(c.get("read") or 0) for c in counts.values()),
                     "rejected": sum(int(c.get("rejected") or 0) for c in counts.values()),
                     "warnings": len(m.get("warnings") or []), "error": m.get("error")})
    df = pd.DataFrame(rows)
    return df.sort_values("started_at", ascending=False, ignore_index=True) if not df.empty else df


def run_manifest(store: PortraitStore, viewer: Viewer, run_id: str) -> dict:
    """Return one run's manifest (analysts and admins only); {} for an unknown run id."""
    _require_runs(viewer)
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        return {}
    path = store.path / "runs" / f"{run_id}.json"
    if path.parent != store.path / "runs" or not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def rejects(store: PortraitStore, viewer: Viewer, limit: int = 1000) -> pd.DataFrame:
    """Return the current snapshot's rejected rows with raw values redacted (analysts and admins only)."""
    _require_runs(viewer)
    if not store.has("rejects"):
        return pd.DataFrame()
    cols = store.columns("rejects")
    value = ", redact_text(CAST(r.value AS VARCHAR)) AS value" if "value" in cols else ""
    return store.query(f"""SELECT r.* EXCLUDE ({'value' if value else 'line'}){value if value else ', r.line'}
        FROM rejects r WHERE $role IN ('analyst', 'admin') ORDER BY ALL LIMIT $limit""",
                       {"role": viewer.role, "limit": max(1, min(int(limit), 100_000))})


def reject_reasons(store: PortraitStore, viewer: Viewer) -> pd.DataFrame:
    """Return rejected rows per table and reason in the current snapshot (analysts and admins only)."""
    _require_runs(viewer)
    if not store.has("rejects"):
        return pd.DataFrame()
    return store.query("""SELECT table_name, reason, count(*) AS rows FROM rejects
        WHERE $role IN ('analyst', 'admin') GROUP BY ALL ORDER BY rows DESC, table_name""", {"role": viewer.role})
