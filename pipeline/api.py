"""The public, read-only Python API over a portrait store: what notebooks and other tools use.

    from pipeline import open_store

    store = open_store("store")                                 # latest as-of, full access
    store.segments().filter("is_key_user").df()                 # DuckDB relation -> pandas
    store.tags(category="情感特征").pl()                        # -> polars
    print(store.explain("0119182331", "sensitive_customer"))
    staff = open_store("store", user="staff1")                  # scoped and masked like the dashboard

**Frames.** Every call that returns rows returns a lazy `duckdb.DuckDBPyRelation`. Nothing is read
until the caller materialises it with `.pl()` (polars), `.df()` (pandas), `.arrow()` or `.fetchall()`,
or narrows it first with `.filter()`, `.project()`, `.aggregate()`, `.limit()`. So `store.tags()` over a
1M-customer store costs nothing until you ask for the rows you need, and the filter runs in DuckDB.
`explain` returns a `tags.explain.Explanation` and `diff` a `tags.explain.TagDiff` (pandas frames).
A relation belongs to its store: materialise it before `close()`.

**Read-only.** The store's Parquet files are opened through views on an in-memory DuckDB connection;
no call writes anything. `evaluate_catalog` evaluates a tag catalogue on a private scratch connection
and never publishes. This is a library in the caller's process, not a sandbox: code that can import it
can also read the files.

**Users.** With `user=` (a name from the dashboard's users file, a `dashboards.auth.User` or a
`dashboards.queries.Viewer`) every call applies the dashboard's rules, in SQL, with the dashboard's own
macros: staff see only the 台区 assigned to them, and personal data (name, phone, ID number, address,
contact text) is masked unless the viewer is staff of that customer's 台区. Runs, row accounting and
rejects are for analysts and admins. Without a user the caller sees everything, as the store's files do.
"""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

import duckdb
import pandas as pd

from dashboards import queries
from dashboards.auth import User, load_users, users_path
from dashboards.queries import AccessDenied, Viewer
from dashboards.segment_query import SegmentError, compile_segment, segment_tags
from pipeline.errors import PortraitError, StoreError
from pipeline.settings import parse_date
from pipeline.store import Snapshot, snapshot, snapshots
from tags.explain import ExplainError, Explanation, TagDiff, tag_diff
from tags.explain import explain as _explain_tag

__all__ = [
    "AccessDenied",
    "CatalogEvaluation",
    "ExplainError",
    "PortraitStore",
    "SegmentError",
    "Viewer",
    "open_store",
]

Relation = duckdb.DuckDBPyRelation

# Tables anyone may read whole: the catalogue as published (no customer rows, no district figures).
OPEN_TABLES = frozenset({"tag_dictionary"})
# Tables for analysts and admins only when a user is given (the dashboard's runs-and-quality page).
RUN_ROLE_TABLES = frozenset({"rejects"})
_KEY_COLUMNS = ("customer_id", "district_id", "station")
_PHONE_COLUMNS = frozenset({"phone", "mobile", "contact_phone"})
_ID_COLUMNS = frozenset({"id_number", "id_card"})


def open_store(path: str | Path, as_of: date | str | None = None,
               user: str | User | Viewer | None = None, users_file: str | Path | None = None) -> PortraitStore:
    """Return a read-only PortraitStore over the snapshot of `as_of` (default: the latest), scoped to `user`."""
    root = Path(path).expanduser().resolve()
    chosen = snapshot(root, parse_date(as_of, "as_of") if as_of is not None else None)  # StoreError with hints
    viewer = _viewer_for(user, root, users_file)
    dash = queries.open_store(root, chosen.as_of)
    try:
        _create_history_views(dash.con, snapshots(root))
    except BaseException:
        dash.close()
        raise
    # The run the views were built on (a run published in between would have moved store.json on).
    opened = Snapshot(dash.as_of, root / "snapshots" / dash.as_of.isoformat() / dash.run_id, dash.run_id)
    return PortraitStore(root, opened, viewer, dash)


class PortraitStore:
    """One as-of snapshot of a portrait store, read through DuckDB views; see the module docstring."""

    def __init__(self, path: Path, snap: Snapshot, viewer: Viewer | None, dash: queries.PortraitStore):
        self.path = path
        self.as_of: date = snap.as_of
        self.run_id: str = snap.run_id
        self.user: Viewer | None = viewer
        self._snapshot = snap
        self._tables = snap.tables()
        self._dash = dash
        self._con = dash.con
        self._columns: dict[str, list[str]] = {}

    def __repr__(self) -> str:
        who = f", user={self.user.username!r} ({self.user.role})" if self.user else ""
        return f"PortraitStore({str(self.path)!r}, as_of={self.as_of.isoformat()}{who})"

    def __enter__(self) -> PortraitStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection; relations from this store stop working."""
        self._dash.close()

    # --- what the store holds -------------------------------------------------------------------

    def as_of_dates(self) -> list[date]:
        """Return every published as-of date of the store, oldest first."""
        return [s.as_of for s in snapshots(self.path)]

    def tables(self) -> list[str]:
        """Return the tables this snapshot publishes (each also has a `<table>_history` view)."""
        return list(self._tables)

    def columns(self, table: str) -> list[str]:
        """Return the column names of a published table or `<table>_history` view."""
        self._check_table(table)
        if table not in self._columns:
            cur = self._con.cursor()
            try:
                self._columns[table] = [r[0] for r in cur.execute(f'DESCRIBE "{table}"').fetchall()]
            finally:
                cur.close()
        return self._columns[table]

    def relation(self, table: str) -> Relation:
        """Return a published table or `<table>_history` view (or `runs`), scoped and masked for the user."""
        if table == "runs":
            return self.runs()
        self._check_table(table)
        sql, params = self._scoped_table(table)
        return self._con.sql(sql, params=params or None)

    # --- customers, tags, segments --------------------------------------------------------------

    def customers(self, district: str | None = None) -> Relation:
        """Return the customer archive (one row per 户号), optionally one 台区; PII masked for the user's rules."""
        return self._in_district(self.relation("customers"), district)

    def districts(self) -> Relation:
        """Return the 台区 in the user's scope: district_id, district_name, station, customers."""
        sql, params = self._scoped_table("customers")
        return self._con.sql(f"""
            SELECT district_id, any_value(district_name) AS district_name, any_value(station) AS station,
                   count(*) AS customers
            FROM ({sql}) GROUP BY district_id ORDER BY any_value(station), district_id""", params=params or None)

    def tags(self, ids: str | Iterable[str] | None = None, category: str | None = None,
             district: str | None = None, wide: bool = False) -> Relation:
        """Return tag values, long (customer × tag, with names and status) or `wide` (one column per tag)."""
        chosen = self._tag_ids(ids, category)
        if wide:
            return self._tags_wide(chosen, district)
        params: dict[str, Any] = {}
        where = []
        if chosen is not None:
            where.append("list_contains($tag_ids::VARCHAR[], t.tag_id)")
            params["tag_ids"] = chosen
        scope = self._customer_filter("t", district, params)
        if scope:
            where.append(scope)
        return self._con.sql(f"""
            SELECT t.customer_id, t.tag_id, d.name_zh, d.category, d.value_type, t.value, t.value_num, t.status
            FROM tags t JOIN tag_dictionary d ON d.tag_id = t.tag_id
            {"WHERE " + " AND ".join(where) if where else ""}""", params=params or None)

    def segments(self, district: str | None = None) -> Relation:
        """Return the segments table: DISC type and advice, value tier, load shape, key-user score and reasons."""
        return self._in_district(self.relation("segments"), district)

    def quality(self, tag: str | None = None, district: str | None = None) -> Relation:
        """Return tag quality per tag and 台区 (plus overall rows): coverage, missing, true rate, distribution."""
        rel = self.relation("tag_quality")
        if tag is not None:
            self._tag_ids([tag], None)
            rel = rel.filter(f"tag_id = {_sql_text(tag)}")
        return self._in_district(rel, district)

    def explain(self, customer: str, tag: str) -> Explanation:
        """Return why `customer` has its value of `tag`: facts, thresholds, data window and the rule."""
        customer = str(customer)
        if self.user is not None and not queries.customer_visible(self._dash, self.user, customer):
            raise ExplainError(f"户号 {customer} is not in this snapshot or not in the 台区 of user "
                               f"{self.user.username!r}")
        cur = self._con.cursor()
        try:
            return _explain_tag(cur, customer, str(tag))
        finally:
            cur.close()

    def diff(self, from_as_of: date | str, to_as_of: date | str, tag: str | None = None,
             district: str | None = None) -> TagDiff:
        """Return who gained, lost or changed each tag between two as-of dates (one tag or 台区 when given)."""
        start, end = parse_date(from_as_of, "from_as_of"), parse_date(to_as_of, "to_as_of")
        if self.user is None or self.user.sees_all_districts:
            return self._tag_diff(start, end, tag, district)
        allowed = [d for d in self.user.districts if district is None or d == district]
        parts = [self._tag_diff(start, end, tag, d) for d in allowed] or [self._tag_diff(start, end, tag, "")]
        changes = pd.concat([p.changes for p in parts], ignore_index=True)
        counts = pd.concat([p.counts for p in parts], ignore_index=True)
        if len(parts) > 1 and not counts.empty:
            counts = counts.groupby(["tag_id", "name_zh"], sort=False, as_index=False)[["gained", "lost", "changed"]].sum()
        return TagDiff(start, end, changes, counts)

    def segment(self, expr: Mapping[str, Any] | str) -> Relation:
        """Return the customers in scope matching a segment expression tree (dict or its JSON text).

        The tree is the dashboard's segment builder grammar (`dashboards.segment_query`): `all` / `any` /
        `not` / `{"tag": id, "op": …, "value(s)": …}`. Field ids are checked against the published tags and
        segment columns, and every value travels as a parameter; anything else raises SegmentError.
        """
        tree = _segment_tree(expr)
        known = queries.segment_fields(self._dash)
        compiled = compile_segment(tree, known)
        shown = [t for t in segment_tags(tree) if t in known][:12]  # the fields tested, as columns
        aliases = set(compiled.aliases) | {known[t].alias for t in shown}
        joins = ""
        if "w" in aliases:
            joins += " JOIN tags_wide w ON w.customer_id = sc.customer_id"
        if "s" in aliases:
            joins += " JOIN segments s ON s.customer_id = sc.customer_id"
        params = dict(compiled.params)
        scope = self._scope_sql("c.district_id", params)
        tested = "".join(f', {known[t].alias}."{t}"' for t in shown)
        return self._con.sql(f"""
            WITH sc AS (SELECT c.customer_id, c.district_id, c.district_name, c.station FROM customers c
                        {"WHERE " + scope if scope else ""})
            SELECT sc.customer_id, sc.district_id, sc.district_name, sc.station{tested}
            FROM sc{joins}
            WHERE {compiled.sql}""", params=params or None)

    # --- runs and data quality (analysts and admins when a user is given) ------------------------

    def runs(self) -> Relation:
        """Return every run of the store, newest first: status, as-of, times (UTC), rows read/rejected, errors."""
        self._require_run_role("runs")
        current = {s.run_id for s in snapshots(self.path)}
        rows = []
        for p in sorted((self.path / "runs").glob("*.json")):
            try:
                m = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            counts = m.get("counts") or {}
            rows.append({
                "run_id": m.get("run_id", p.stem), "as_of": _maybe_date(m.get("as_of")), "status": m.get("status"),
                "current": m.get("run_id", p.stem) in current, "started_at": m.get("started_at"),
                "finished_at": m.get("finished_at"), "total_seconds": m.get("total_seconds"),
                "code_version": m.get("code_version"), "engine": m.get("engine"),
                "base_as_of": _maybe_date((m.get("incremental") or {}).get("base_as_of")),
                "rows_read": sum(int(c.get("read") or 0) for c in counts.values()),
                "rows_accepted": sum(int(c.get("accepted") or 0) for c in counts.values()),
                "rows_rejected": sum(int(c.get("rejected") or 0) for c in counts.values()),
                "warnings": len(m.get("warnings") or []), "error": m.get("error"), "snapshot": m.get("snapshot"),
            })
        frame = pd.DataFrame(rows, columns=list(_RUN_COLUMNS))
        for col in ("started_at", "finished_at"):  # UTC, without a zone: DuckDB hands zoned times to pytz
            frame[col] = pd.to_datetime(frame[col], utc=True).dt.tz_convert(None)
        frame = frame.astype(_RUN_COLUMNS)
        return self._con.from_df(frame).order("started_at DESC, run_id DESC")

    def row_accounting(self) -> Relation:
        """Return this snapshot's row accounting per table and source: read, accepted, rejected, reasons."""
        self._require_run_role("row accounting")
        rows = []
        for table, c in (self._snapshot.manifest().get("counts") or {}).items():
            sources = c.get("sources") or {"": {"read": c.get("read"), "accepted": c.get("accepted"),
                                                "rejected": c.get("rejected")}}
            for source, s in sources.items():
                rows.append({"table_name": table, "source": source or None, "read": int(s.get("read") or 0),
                             "accepted": int(s.get("accepted") or 0), "rejected": int(s.get("rejected") or 0),
                             "table_reasons": json.dumps(c.get("reasons") or {}, ensure_ascii=False)})
        frame = pd.DataFrame(rows, columns=["table_name", "source", "read", "accepted", "rejected", "table_reasons"])
        return self._con.from_df(frame.astype({"read": "int64", "accepted": "int64", "rejected": "int64"}))

    def manifest(self) -> dict[str, Any]:
        """Return the manifest this snapshot was published with (inputs, mapping, params, counts, timings)."""
        self._require_run_role("run manifests")
        return self._snapshot.manifest()

    # --- analysts: ad-hoc SQL and trying a tag catalogue ---------------------------------------

    def sql(self, query: str, params: Mapping[str, Any] | list[Any] | None = None) -> Relation:
        """Return the relation of one read-only SELECT over the store's views (only without a user)."""
        if self.user is not None:
            raise AccessDenied("sql() reads unscoped tables; open the store without a user, or use relation()")
        statements = self._con.extract_statements(query)
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise PortraitError("sql() runs exactly one SELECT (or WITH … SELECT) statement",
                                hint="the store is read-only; write results with .df().to_csv(…) or .pl().write_parquet(…)")
        return self._con.sql(query, params=params or None)

    def evaluate_catalog(self, folder: str | Path) -> CatalogEvaluation:
        """Return a tag catalogue folder evaluated over this snapshot's features, without publishing anything.

        The run's own parameters (from the snapshot's manifest) are used, so a copy of tags/ gives the
        published values back. Use it to try a new or changed tag before committing its YAML.
        """
        self._require_run_role("trying a tag catalogue")
        from pipeline.settings import Params
        from pipeline.stages.tags import evaluate_tags
        from tags.catalog import load_catalog

        catalog = load_catalog(Path(folder))  # CatalogError lists every problem with file and line
        saved = self._snapshot.manifest().get("params") or {}
        known = {f.name for f in fields(Params)}
        params = Params(**{k: v for k, v in saved.items() if k in known})
        scratch = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                                     "autoload_known_extensions": False})
        features = str(self._snapshot.table_path("features")).replace("'", "''")
        scratch.execute(f"CREATE VIEW features AS SELECT * FROM read_parquet('{features}')")
        rows = evaluate_tags(scratch, self.as_of, params, catalog)
        return CatalogEvaluation(self.as_of, len(catalog), rows, scratch)

    # --- internals ------------------------------------------------------------------------------

    def _check_table(self, table: str) -> None:
        if not isinstance(table, str) or table.removesuffix("_history") not in self.tables():
            known = self.tables()
            close = difflib.get_close_matches(str(table), known + [f"{t}_history" for t in known], n=1)
            raise StoreError(f"this snapshot publishes no table `{table}`",
                             hint=f"did you mean `{close[0]}`?" if close else f"tables: {', '.join(known)}")

    def _require_run_role(self, what: str) -> None:
        if self.user is not None and not self.user.can_see_runs:
            raise AccessDenied(f"{what}: for analysts and admins only (user {self.user.username!r} is "
                               f"{self.user.role})")

    def _scope_params(self) -> dict[str, Any]:
        assert self.user is not None
        role = self.user.role if self.user.role in queries.ROLES else "none"
        return {"role": role, "allowed": list(self.user.districts)}

    def _scope_sql(self, district_expr: str, params: dict[str, Any]) -> str:
        """Return the dashboard's scope predicate on `district_expr` (adding its parameters), or '' without a user."""
        if self.user is None:
            return ""
        params.update(self._scope_params())
        return f"in_scope($role, $allowed::VARCHAR[], {district_expr})"

    def _customer_filter(self, alias: str, district: str | None, params: dict[str, Any]) -> str:
        """Return a semi-join predicate on `alias`.customer_id for the user's scope and `district` ('' if none)."""
        conds = []
        scope = self._scope_sql("c.district_id", params)
        if scope:
            conds.append(scope)
        if district is not None:
            conds.append("c.district_id = $district")
            params["district"] = str(district)
        if not conds:
            return ""
        return f"{alias}.customer_id IN (SELECT c.customer_id FROM customers c WHERE {' AND '.join(conds)})"

    def _in_district(self, rel: Relation, district: str | None) -> Relation:
        if district is None:
            return rel
        return rel.filter(f"district_id = {_sql_text(district)}")

    def _scoped_table(self, table: str) -> tuple[str, dict[str, Any]]:
        """Return (SQL, parameters) that read `table` with the user's scope and masking applied."""
        cols = self.columns(table)
        quoted = f'"{table}"'
        if self.user is None:
            return f"SELECT * FROM {quoted}", {}
        history = table.endswith("_history")
        base = table.removesuffix("_history")
        params: dict[str, Any] = {}
        if base in OPEN_TABLES:
            return f"SELECT * FROM {quoted}", {}
        if base in RUN_ROLE_TABLES:
            self._require_run_role(f"table {table}")
            select = ", ".join("redact_text(CAST(t.value AS VARCHAR)) AS value" if c == "value" else f't."{c}"'
                               for c in cols)
            return f"SELECT {select} FROM {quoted} t", {}
        if base == "experience_map":  # staff: their own 台区 rows only; the city and type rows are for all-district roles
            params.update(self._scope_params())
            return (f"SELECT * FROM {quoted} t WHERE in_scope($role, $allowed::VARCHAR[], t.scope_id) "
                    "AND (t.scope = '台区' OR $role IN ('manager', 'analyst', 'admin'))"), params
        pii = [c for c in cols if c in queries.PII_COLUMNS]
        has_district, has_customer = "district_id" in cols, "customer_id" in cols
        if base == "customers":
            district, join = "t.district_id", ""
        elif has_customer and (pii or not has_district):
            archive = "customers_history" if history else "customers"
            on = "c.customer_id = t.customer_id" + (" AND c.as_of = t.as_of" if history else "")
            if not pii:  # scope only: a semi-join keeps big tables (usage_daily) streaming
                scope = self._scope_sql("c.district_id", params)
                match = f"c.as_of = t.as_of AND {scope}" if history else scope
                return (f"SELECT * FROM {quoted} t WHERE EXISTS (SELECT 1 FROM {archive} c "
                        f"WHERE c.customer_id = t.customer_id AND {match})"), params
            district, join = "c.district_id", f" LEFT JOIN {archive} c ON {on}"
        elif has_district:
            district, join = "t.district_id", ""
        else:
            if not self.user.sees_all_districts:
                raise AccessDenied(f"table {table} has figures for every 台区; staff read their own 台区 only")
            return f"SELECT * FROM {quoted}", {}
        scope = self._scope_sql(district, params)
        visible = f"pii_visible($role, $allowed::VARCHAR[], {district})"
        select = ", ".join(_masked(c, visible, "c" if join else "t") if c in pii else f't."{c}"' for c in cols)
        return f"SELECT {select} FROM {quoted} t{join} WHERE {scope}", params

    def _tag_ids(self, ids: str | Iterable[str] | None, category: str | None) -> list[str] | None:
        """Return the tag ids asked for (by id and/or category), checked against the dictionary; None for all."""
        if ids is None and category is None:
            return None
        cur = self._con.cursor()
        try:
            dictionary = cur.execute("SELECT tag_id, category, category_en FROM tag_dictionary ORDER BY position").fetchall()
        finally:
            cur.close()
        known = [r[0] for r in dictionary]
        chosen = known
        if ids is not None:
            wanted = [ids] if isinstance(ids, str) else [str(i) for i in ids]
            for tag_id in wanted:
                if tag_id not in known:
                    _raise_unknown_tag(tag_id, known)
            chosen = [t for t in known if t in set(wanted)]
        if category is not None:
            cat = str(category).strip().lower()
            in_cat = {r[0] for r in dictionary if cat in (r[1].lower(), (r[2] or "").lower(),
                                                          (r[2] or "").split(" ")[0].lower())}
            if not in_cat:
                names = sorted({r[1] for r in dictionary})
                raise PortraitError(f"there is no tag category `{category}`", hint=f"use one of {', '.join(names)}")
            chosen = [t for t in chosen if t in in_cat]
        return chosen

    def _tags_wide(self, chosen: list[str] | None, district: str | None) -> Relation:
        cols = self.columns("tags_wide")
        keys = [c for c in cols if c in _KEY_COLUMNS]
        picked = [c for c in cols if c not in keys] if chosen is None else [c for c in chosen if c in cols]
        params: dict[str, Any] = {}
        where = []
        scope = self._scope_sql("w.district_id", params)
        if scope:
            where.append(scope)
        if district is not None:
            where.append("w.district_id = $district")
            params["district"] = str(district)
        select = ", ".join(f'w."{c}"' for c in keys + picked)
        return self._con.sql(f"SELECT {select} FROM tags_wide w {'WHERE ' + ' AND '.join(where) if where else ''}",
                             params=params or None)

    def _tag_diff(self, start: date, end: date, tag: str | None, district: str | None) -> TagDiff:
        cur = self._con.cursor()
        try:
            return tag_diff(cur, start, end, tag, district)
        finally:
            cur.close()


_RUN_COLUMNS = {"run_id": "string", "as_of": "object", "status": "string", "current": "bool",
                "started_at": "datetime64[ns]", "finished_at": "datetime64[ns]", "total_seconds": "float64",
                "code_version": "string", "engine": "string", "base_as_of": "object", "rows_read": "int64", "rows_accepted": "int64",
                "rows_rejected": "int64", "warnings": "int64", "error": "string", "snapshot": "string"}


@dataclass
class CatalogEvaluation:
    """A tag catalogue evaluated over one snapshot's features on a scratch connection (nothing published)."""

    as_of: date
    n_tags: int
    rows: dict[str, int]
    con: duckdb.DuckDBPyConnection

    def __post_init__(self) -> None:
        # The tags stage leaves half-read results on its connection; readers get a cursor of their own.
        self._reader = self.con.cursor()

    def relation(self, table: Literal["tags_wide", "tags", "tag_dictionary", "tag_quality", "tag_distribution"]) -> Relation:
        """Return one of the tables the tags stage would publish: tags_wide, tags, tag_dictionary, tag_quality, tag_distribution."""
        if table not in ("tags_wide", "tags", "tag_dictionary", "tag_quality", "tag_distribution"):
            raise ValueError(f"a catalogue evaluation has no table {table!r}")
        return self._reader.sql(f'SELECT * FROM "{table}"')

    def quality(self, tag: str | None = None) -> Relation:
        """Return coverage, missing data and distribution per tag (overall and per 台区)."""
        rel = self.relation("tag_quality")
        return rel.filter(f"tag_id = {_sql_text(tag)}") if tag is not None else rel

    def values(self, tag: str) -> Relation:
        """Return customer_id, district_id and the value of one tag (NULL when the customer lacks the data)."""
        cur = self.con.cursor()
        try:
            cols = [r[0] for r in cur.execute("DESCRIBE tags_wide").fetchall()]
        finally:
            cur.close()
        if tag not in cols or tag in _KEY_COLUMNS:
            raise ValueError(f"the evaluated catalogue has no tag {tag!r}")
        return self._reader.sql(f'SELECT customer_id, district_id, "{tag}" AS value FROM tags_wide')

    def explain(self, customer: str, tag: str) -> Explanation:
        """Return why `customer` gets its value of `tag` under the evaluated catalogue."""
        cur = self.con.cursor()  # explain leaves results half-read; keep them off the shared connection
        try:
            return _explain_tag(cur, str(customer), str(tag))
        finally:
            cur.close()

    def close(self) -> None:
        """Drop the scratch connection."""
        self._reader.close()
        self.con.close()


# --- module helpers -------------------------------------------------------------------------------

def _maybe_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _viewer_for(user: str | User | Viewer | None, store: Path, users_file: str | Path | None) -> Viewer | None:
    """Return the Viewer whose rules apply: from a Viewer, a User, or a name in the dashboard's users file."""
    if user is None:
        return None
    if isinstance(user, Viewer):
        viewer = user
    elif isinstance(user, User):
        if user.disabled:
            raise AccessDenied(f"user {user.username!r} is disabled")
        viewer = user.viewer()
    elif isinstance(user, str):
        path = users_path(store, users_file)
        found = load_users(path).get(user)
        if found is None:
            raise PortraitError(f"there is no user {user!r} in {path}",
                                hint=f"add one with `portrait users add {user} --role staff --district … --store {store}`")
        if found.disabled:
            raise AccessDenied(f"user {user!r} is disabled")
        viewer = found.viewer()
    else:
        raise TypeError("user is a user name, a dashboards.auth.User or a dashboards.queries.Viewer")
    if viewer.role not in queries.ROLES:
        raise PortraitError(f"role {viewer.role!r} is unknown", hint=f"use one of {', '.join(queries.ROLES)}")
    return viewer


def _create_history_views(con: duckdb.DuckDBPyConnection, snaps: list[Snapshot]) -> None:
    """Create `<table>_history` over every published as-of date, with an `as_of` column (the snapshot's date wins)."""
    parts: dict[str, list[tuple[date, Path]]] = {}
    for s in snaps:
        for name in s.tables():
            parts.setdefault(name, []).append((s.as_of, s.table_path(name)))
    cur = con.cursor()
    try:
        for name, files in parts.items():
            selects = []
            for d, p in files:
                path = _sql_text(str(p))
                cols = {r[0] for r in cur.execute(f"DESCRIBE SELECT * FROM read_parquet({path})").fetchall()}
                rest = "* EXCLUDE (as_of)" if "as_of" in cols else "*"
                selects.append(f"SELECT DATE '{d.isoformat()}' AS as_of, {rest} FROM read_parquet({path})")
            cur.execute(f'CREATE OR REPLACE VIEW "{name}_history" AS {" UNION ALL BY NAME ".join(selects)}')
    finally:
        cur.close()


def _masked(column: str, visible: str, archive: str) -> str:
    """Return the dashboard's masking of one PII column (its SQL macros), shown in clear when `visible`."""
    col = f't."{column}"'
    if column == "name":
        hidden = f"mask_name({col})"
    elif column in _PHONE_COLUMNS:
        hidden = f"mask_phone({col})"
    elif column in _ID_COLUMNS:
        hidden = f"mask_id({col})"
    elif column == "address":
        hidden = f"mask_address({col}, {archive}.district_name)"
    elif column == "content":  # the customer's own name first, then numbers (phones, IDs) in the text
        name = f"{archive}.name"
        hidden = (f"redact_text(CASE WHEN {name} IS NULL OR length({name}) < 2 THEN {col} "
                  f"ELSE replace({col}, {name}, mask_name({name})) END)")
    else:
        hidden = "NULL"
    return f'CASE WHEN {visible} THEN {col} ELSE {hidden} END AS "{column}"'


def _segment_tree(expr: Mapping[str, Any] | str) -> Mapping[str, Any]:
    if isinstance(expr, str):
        try:
            expr = json.loads(expr)
        except ValueError:
            raise SegmentError("a segment is a JSON object such as "
                               '{"all": [{"tag": "in_arrears", "op": "is_true"}]}; SQL text is not accepted') from None
    if not isinstance(expr, Mapping):
        raise SegmentError("a segment is an object with `all`, `any`, `not` or `tag`")
    return expr


def _raise_unknown_tag(tag_id: str, known: list[str]) -> None:
    # Imported here: `import tags.catalog` runs `pipeline/__init__`, which imports this module.
    from tags.catalog import TagLookupError

    close = difflib.get_close_matches(str(tag_id), known, n=1)
    raise TagLookupError(f"there is no tag `{tag_id}` in this snapshot",
                         hint=f"did you mean `{close[0]}`?" if close else "`portrait tags list` shows every tag")


def _sql_text(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"
