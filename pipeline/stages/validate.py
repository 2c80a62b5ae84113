"""Validate: cast staged exports onto the canonical contracts, in the engine, with row accounting.

Every input row ends in exactly one place: its canonical table, or `rejects` with the file,
line, column, a reason code and a message that says how to fix it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb

from pipeline.contracts import LOAD_ORDER, TABLES, Column, Table
from pipeline.sources.mapping import Mapping
from pipeline.stages.ingest import StagedSource

DATE_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日", "%Y.%m.%d",
                "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M"]
MONTH_FORMATS = ["%Y%m", "%Y-%m", "%Y/%m", "%Y年%m月", "%Y.%m"]
TIMESTAMP_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M",
                     "%Y%m%d%H%M%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y/%m/%d",
                     "%Y-%m-%d", "%Y%m%d", "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日"]
EARLIEST_DATE = date(1950, 1, 1)

REJECTS_COLUMNS = ("table_name", "source", "line", "column_name", "reason", "message", "value")


def latest_date(as_of: date) -> date:
    """The latest date a row may carry: the as-of date plus a year (later ones are rejected as out of range)."""
    return as_of + timedelta(days=366)


@dataclass
class TableCounts:
    """Row accounting for one canonical table (and per source file)."""

    table: str
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    sources: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        """Return True when accepted + rejected = read."""
        return self.accepted + self.rejected == self.read


def _q(ident: str) -> str:
    return '"' + str(ident).replace('"', '""') + '"'


def _lit(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def _list(values: list[str]) -> str:
    return "[" + ", ".join(_lit(v) for v in values) + "]"


# Exports pad cells with ASCII and full-width (U+3000) spaces and stray line breaks.
_BLANKS = "' \t\r\n\u3000'"


def _trimmed(expr: str) -> str:
    # TRIM with a character set costs about 2.5x the plain (spaces only) TRIM in DuckDB: 10 s instead
    # of 4 s for four columns of 12M payments. Cells without a tab, line break or U+3000 anywhere
    # can only carry spaces, so they take the plain TRIM; the result is the same either way.
    v = f"CAST({expr} AS VARCHAR)"
    odd = " OR ".join(f"strpos({v}, {c}) > 0" for c in ("chr(9)", "chr(10)", "chr(13)", "'\u3000'"))
    return f"NULLIF(CASE WHEN {odd} THEN TRIM({v}, {_BLANKS}) ELSE TRIM({v}) END, '')"


_FAMILIES = {
    "DATE": ("DATE", "TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "TIMESTAMP WITH TIME ZONE"),
    "TIMESTAMP": ("TIMESTAMP", "DATE", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "TIMESTAMP WITH TIME ZONE"),
    "DOUBLE": ("DOUBLE", "FLOAT", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER",
               "USMALLINT", "UTINYINT"),
    "INTEGER": ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT"),
    "BOOLEAN": ("BOOLEAN",),
}


def _native_type(source: StagedSource, col: Column) -> str | None:
    """Return the source's own type for `col` when it already is the contract's kind of value."""
    if source.resolution.wide_dates and col.name == "kwh":
        header = next(iter(h for h, _ in source.resolution.wide_dates))
    elif source.resolution.wide_dates and col.name == "reading_date":
        return "DATE"
    else:
        header = source.resolution.header_for(col.name)
    if header is None or col.name == "period":
        return None
    typ = source.types.get(header, "VARCHAR")
    family = _FAMILIES.get(col.type, ())
    return typ if (typ in family or typ.startswith("DECIMAL") and col.type == "DOUBLE") else None


def _raw_expr(source: StagedSource, col: Column, synonyms: dict[str, str]) -> str:
    header = source.resolution.header_for(col.name)
    native = _native_type(source, col)
    if source.resolution.wide_dates and col.name == "kwh":
        expr = "_gp_value" if native else _trimmed("_gp_value")
    elif source.resolution.wide_dates and col.name == "reading_date":
        return "_gp_daydate"
    elif header is None:
        return "CAST(NULL AS VARCHAR)"
    else:
        expr = _q(header) if native else _trimmed(_q(header))
    if native:
        return expr
    if synonyms:
        cases = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in synonyms.items() if k != "")
        empty = synonyms.get("")
        inner = f"CASE {expr} {cases} ELSE {expr} END" if cases else expr
        return f"COALESCE({inner}, {_lit(empty)})" if empty is not None else inner
    return expr


def _typed_expr(col: Column, raw: str, scale: float | None, mapping: Mapping, native: str | None = None) -> str:
    if native:
        expr = raw if native == col.type else f"CAST({raw} AS {col.type})"
        if col.type == "INTEGER" and native != "INTEGER":
            expr = f"TRY_CAST({raw} AS INTEGER)"
        return f"({expr} * {scale!r})" if scale else expr
    if col.type == "VARCHAR":
        return raw
    if col.type == "DATE":
        fmts = MONTH_FORMATS + DATE_FORMATS if col.name == "period" else DATE_FORMATS
        expr = f"COALESCE(TRY_CAST({raw} AS DATE), CAST(TRY_STRPTIME({raw}, {_list(fmts)}) AS DATE))"
        return f"CAST(date_trunc('month', {expr}) AS DATE)" if col.name == "period" else expr
    if col.type == "TIMESTAMP":
        return f"COALESCE(TRY_CAST({raw} AS TIMESTAMP), TRY_STRPTIME({raw}, {_list(TIMESTAMP_FORMATS)}))"
    if col.type == "DOUBLE":
        expr = f"TRY_CAST(REPLACE({raw}, ',', '') AS DOUBLE)"
        return f"({expr} * {scale!r})" if scale else expr
    if col.type == "INTEGER":
        d = f"TRY_CAST(REPLACE({raw}, ',', '') AS DOUBLE)"
        return f"CASE WHEN {d} = floor({d}) AND abs({d}) < 2e9 THEN CAST({d} AS INTEGER) END"
    if col.type == "BOOLEAN":
        return (f"CASE WHEN {raw} IN ({', '.join(_lit(w) for w in mapping.true_words)}) THEN TRUE "
                f"WHEN {raw} IN ({', '.join(_lit(w) for w in mapping.false_words)}) THEN FALSE END")
    raise ValueError(f"unsupported canonical type {col.type}")


_TYPE_CODES = {"DATE": "bad_date", "TIMESTAMP": "bad_timestamp", "DOUBLE": "bad_number",
               "INTEGER": "bad_integer", "BOOLEAN": "bad_boolean"}
_TYPE_HINTS = {
    "DATE": "write dates as YYYY-MM-DD",
    "TIMESTAMP": "write times as YYYY-MM-DD HH:MM:SS",
    "DOUBLE": "write a plain number, e.g. 12.5",
    "INTEGER": "write a whole number",
    "BOOLEAN": "write 是 or 否 (or add the word to `booleans:` in the mapping)",
}


def _reason(code: str, col: Column, message_sql: str) -> str:
    return f"concat({_lit(code + '|' + col.name + '|')}, {message_sql})"


def _shown(col: Column, raw: str) -> str:
    # Personal data never appears in messages: a reject report is read by more people than the export.
    return "'(personal data hidden)'" if col.pii else f"concat('''', left(CAST({raw} AS VARCHAR), 60), '''')"


def _bad_account_message(col: Column, raw: str) -> str:
    return (f"concat({_lit(f'{col.label} ({col.name}) = ')}, {_shown(col, raw)}, ' has ', length({raw}), "
            f"{_lit(' characters; it must be exactly 10 digits — if leading zeros were lost, re-export the column as text')})")


def _checks(table: Table, source: StagedSource, raws: dict[str, str], typed: dict[str, str], as_of: date,
            natives: dict[str, str | None]) -> list[tuple[str, str]]:
    """Return (condition, reason) pairs in priority order for one source."""
    out: list[tuple[str, str]] = []
    if source.encoding not in (None, "utf-8", "ascii"):
        for name, raw in raws.items():
            col = table.column(name)
            if natives[name]:
                continue
            out.append((f"contains({raw}, chr(65533))", _reason(
                "bad_encoding", col,
                f"'{col.label} ({col.name}) has bytes that are not valid {source.encoding} — re-export the file or check its encoding'")))
    latest = latest_date(as_of)
    for col in table.columns:
        raw, val = raws[col.name], typed[col.name]
        label = f"{col.label} ({col.name})"
        if col.required:
            out.append((f"{raw} IS NULL", _reason("missing_value", col, _lit(f"{label} is empty but required"))))
        if col.type != "VARCHAR" and not natives[col.name]:
            hint = "write the month as YYYYMM or YYYY-MM" if col.name == "period" else _TYPE_HINTS[col.type]
            out.append((f"{raw} IS NOT NULL AND {val} IS NULL", _reason(
                _TYPE_CODES[col.type], col,
                f"concat({_lit(label + ' = ')}, {_shown(col, raw)}, {_lit(' is not valid — ' + hint)})")))
        # A referencing table's 户号 is checked with the join to 客户档案 instead: a malformed one is
        # never a known customer, and a regex on every one of 365M readings costs seconds.
        if col.pattern and not (col.name == "customer_id" and table.references_customers):
            out.append((f"{raw} IS NOT NULL AND NOT regexp_full_match({raw}, {_lit(col.pattern)})",
                        _reason("bad_account", col, _bad_account_message(col, raw))))
        if col.allowed:
            allowed = ", ".join(col.allowed)
            out.append((f"{val} IS NOT NULL AND {val} NOT IN ({', '.join(_lit(a) for a in col.allowed)})", _reason(
                "unknown_value", col,
                f"concat({_lit(label + ' = ')}, {_shown(col, raw)}, "
                f"{_lit(f' is not one of {allowed} — add a synonym under values.{col.name} in the mapping file')})")))
        if col.min is not None or col.max is not None:
            lo = col.min if col.min is not None else float("-inf")
            hi = col.max if col.max is not None else float("inf")
            cond = " OR ".join(
                ([f"{val} < {col.min!r}"] if col.min is not None else [])
                + ([f"{val} > {col.max!r}"] if col.max is not None else [])
                + [f"isnan({val})"])
            out.append((f"{val} IS NOT NULL AND ({cond})", _reason(
                "out_of_range", col,
                f"concat({_lit(label + ' = ')}, {_shown(col, raw)}, {_lit(f' is outside the plausible range [{lo:g}, {hi:g}]')})")))
        if col.type in ("DATE", "TIMESTAMP"):
            out.append((f"{val} IS NOT NULL AND (CAST({val} AS DATE) < {_lit(EARLIEST_DATE)} OR CAST({val} AS DATE) > {_lit(latest)})",
                        _reason("date_out_of_range", col,
                                f"concat({_lit(label + ' = ')}, {_shown(col, raw)}, "
                                f"{_lit(f' is outside {EARLIEST_DATE} … {latest} (as-of {as_of} plus a year)')})")))
    return out


def _layers(source: StagedSource, mapping: Mapping, as_of: date):
    """Return (table, raw SQL, raw names, typed SQL, typed names, checks) for one source.

    Three layers, so each cell is trimmed once and cast once however many checks read it:
    raw text (r_*), typed value (t_*), then the first failing check per row.
    """
    table = TABLES[source.table]
    synonyms = mapping.tables[source.table].values
    scales = {b.column: b.scale for b in source.resolution.bindings}
    raw_sql = {c.name: _raw_expr(source, c, synonyms.get(c.name, {})) for c in table.columns}
    raws = {c.name: _q("r_" + c.name) for c in table.columns}
    natives = {c.name: _native_type(source, c) for c in table.columns}
    typed_sql = {c.name: _typed_expr(c, raws[c.name], scales.get(c.name), mapping, natives[c.name]) for c in table.columns}
    typed = {c.name: _q("t_" + c.name) for c in table.columns}
    return table, raw_sql, raws, typed_sql, typed, _checks(table, source, raws, typed, as_of, natives)


def trusted(source: StagedSource) -> bool:
    """Return True for a table of an incremental run's base snapshot: rows this code validated before.

    Its rows are not checked one by one again (they passed the same checks, and the date range only
    widens with a later as-of; a change of mapping or rules needs a full run, as the operator guide
    says). The cross-row checks still see them: a new row repeating one of their keys is the duplicate,
    and a customer the new 客户档案 no longer lists makes its rows unknown.
    """
    return bool(source.info.get("base_snapshot")) and source.format == "parquet" and not source.resolution.wide_dates


def _trusted_sql(source: StagedSource, relation: str) -> str:
    table = TABLES[source.table]
    cols = []
    for c in table.columns:
        header = source.resolution.header_for(c.name)
        cols.append(f"CAST({_q(header) if header else 'NULL'} AS {c.type}) AS {_q(c.name)}")
    return (f"SELECT {source.index} AS _gp_src, _gp_idx, CAST(NULL AS VARCHAR) AS _gp_day, {', '.join(cols)}, "
            f"CAST(NULL AS VARCHAR) AS _gp_reason FROM {relation} AS _gp_raw")


def _source_sql(source: StagedSource, mapping: Mapping, as_of: date, relation: str | None = None) -> str:
    if trusted(source):
        return _trusted_sql(source, relation or source.relation)
    table, raw_sql, raws, typed_sql, typed, checks = _layers(source, mapping, as_of)
    reason = "CASE " + " ".join(f"WHEN {cond} THEN {msg}" for cond, msg in checks) + " END" if checks else "NULL"
    relation = relation or source.relation
    if source.resolution.wide_dates:
        days = ", ".join(_q(h) for h, _ in source.resolution.wide_dates)
        values = ", ".join(f"({_lit(h)}, {_lit(d)})" for h, d in source.resolution.wide_dates)
        relation = (f"(SELECT u.*, d.day AS _gp_daydate FROM (UNPIVOT {relation} ON {days} INTO NAME _gp_day VALUE _gp_value) u "
                    f"JOIN (VALUES {values}) AS d(header, day) ON u._gp_day = d.header)")
        day = "_gp_day"
    else:
        day = "CAST(NULL AS VARCHAR)"
    layer1 = ", ".join(f"{raw_sql[c.name]} AS {raws[c.name]}" for c in table.columns)
    layer2 = ", ".join(f"{typed_sql[c.name]} AS {typed[c.name]}" for c in table.columns)
    cols = ", ".join(f"{typed[c.name]} AS {_q(c.name)}" for c in table.columns)
    return (f"SELECT {source.index} AS _gp_src, _gp_idx, _gp_day, {cols}, {reason} AS _gp_reason FROM ("
            f"SELECT *, {layer2} FROM (SELECT _gp_idx, {day} AS _gp_day, {layer1} FROM {relation} AS _gp_raw))")


def _line_sql(source: StagedSource, idx: str) -> str:
    """SQL for the 1-based line (CSV) or row (Excel) of a parsed row index."""
    if source.parse_rejects:
        # The CSV reader skips malformed lines, so parsed row k sits after every malformed line
        # that precedes it: line(k) = k + 1 + #{i : r_i - 1 - i < k} over sorted malformed lines r_i.
        return (f"({idx} + 1 + (SELECT count(*) FROM (SELECT line, row_number() OVER (ORDER BY line) AS i "
                f"FROM (SELECT DISTINCT line FROM {source.parse_rejects})) pr WHERE pr.line - 1 - pr.i < {idx}))")
    return idx if source.has_line else f"({idx} + 1)"


def _key_message(table: Table) -> str:
    return "(" + ", ".join(f"{table.column(k).label}" for k in table.key) + ")"


def validate_sources(
    con: duckdb.DuckDBPyConnection, staged: list[StagedSource], mapping: Mapping, as_of: date,
) -> dict[str, TableCounts]:
    """Create the canonical tables and `rejects` in `con`; return the row accounting per table."""
    con.execute("CREATE OR REPLACE TABLE rejects (table_name VARCHAR, source VARCHAR, line BIGINT, column_name VARCHAR, "
                "reason VARCHAR, message VARCHAR, value VARCHAR)")
    counts: dict[str, TableCounts] = {}
    labels = {s.index: s.label for s in staged}
    for name in LOAD_ORDER:
        table = TABLES[name]
        sources = [s for s in staged if s.table == name]
        tc = TableCounts(name)
        counts[name] = tc
        chk = f"_gp_chk_{name}"
        for stale in (name, chk, f"_gp_base_{name}"):
            _drop_relation(con, stale)
        # Parquet-backed sources (Parquet files, database extracts, staged Excel) are cheap to read
        # again, so their checked rows stay a view: copying a year of daily readings costs more than
        # every later read of the view. CSV is parsed once, into a table. Either way the cross-row
        # checks store only the rows they reject (`_cross_row_checks`): no UPDATE of a large table.
        lazy = bool(sources) and all(s.format in LAZY_FORMATS for s in sources)
        # An incremental run's stored rows are Parquet too: a new month's CSV stays in its parsed
        # table and the union stays a view, rather than a year of stored rows being copied with it.
        keep_parsed = not lazy and any(trusted(s) for s in sources)
        if sources:
            csv_tables = {} if lazy else {s.index: _parsed_csv(con, s) for s in sources if s.csv_read}
            union = " UNION ALL ".join(_source_sql(s, mapping, as_of, csv_tables.get(s.index)) for s in sources)
            con.execute(f"CREATE {'VIEW' if lazy or keep_parsed else 'TABLE'} _gp_base_{name} AS {union}")
            if not keep_parsed:
                for index in csv_tables:
                    con.execute(f"DROP TABLE _gp_csv_{index}")
        else:
            cols = ", ".join(f"CAST(NULL AS {c.type}) AS {_q(c.name)}" for c in table.columns)
            con.execute(f"CREATE TABLE _gp_base_{name} AS SELECT 0 AS _gp_src, 0::BIGINT AS _gp_idx, "
                        f"NULL::VARCHAR AS _gp_day, {cols}, NULL::VARCHAR AS _gp_reason LIMIT 0")
        per_src = _cross_row_checks(con, table, name, labels, as_of, [s.index for s in sources],
                                    [s.index for s in sources if trusted(s)])
        cols = ", ".join(_q(c.name) for c in table.columns)
        # The canonical table is a view over the checked rows: copying a 365M-row table just to
        # drop a few rejects would cost more than filtering them out on each read.
        con.execute(f"CREATE VIEW {_q(name)} AS SELECT {cols} FROM {chk} WHERE _gp_reason IS NULL")
        for s in sources:
            # a source whose every checked row was accepted has no checked row to report
            parsed, accepted = (per_src or {}).get(s.index, (0, 0))
            _write_rejects(con, table, s, chk, checked_rows=per_src is None or parsed != accepted)
        _count(con, tc, sources, chk, per_src)
    return counts


LAZY_FORMATS = ("parquet", "database", "excel")


def _parsed_csv(con: duckdb.DuckDBPyConnection, source: StagedSource) -> str:
    """Parse a CSV export into a table and return a relation over it whose _gp_idx is the row's position.

    `row_number() OVER ()` on the reader would number the rows too, but it runs the whole check
    pipeline above it on one thread (12M payments: 16.5 s). A table keeps the file's row order
    (insertion order is preserved), so its rowid is the position and the checks run in parallel.
    The reader's malformed-line rejects are stored here, as before.
    """
    con.execute(f"CREATE OR REPLACE TABLE _gp_csv_{source.index} AS SELECT * FROM {source.csv_read}")
    return f"(SELECT rowid + 1 AS _gp_idx, * FROM _gp_csv_{source.index})"


def _drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    kind = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name]).fetchone()
    if kind:
        con.execute(f"DROP {'VIEW' if kind[0] == 'VIEW' else 'TABLE'} {_q(name)}")


def _fk_reason_sql(table: Table, rel: str) -> str:
    col = table.column("customer_id")
    bad = _reason("bad_account", col, _bad_account_message(col, f"{rel}.customer_id"))
    return (f"CASE WHEN NOT regexp_full_match({rel}.customer_id, {_lit(col.pattern)}) THEN {bad} "
            f"ELSE concat('unknown_customer|customer_id|户号 (customer_id) = ''', {rel}.customer_id, "
            f"''' is not in 客户档案 — check that the customer export is complete, or that this row belongs to this utility') END")


def _cross_row_checks(con: duckdb.DuckDBPyConnection, table: Table, name: str, labels: dict[int, str],
                      as_of: date, sources: list[int], trusted: list[int] = ()) -> dict[int, tuple[int, int]] | None:
    """Find the rows of `_gp_base_<name>` (a view over Parquet-backed sources, or the parsed CSV table)
    that cross-row checks reject; define `_gp_chk_<name>`.

    The rejected rows go to `_gp_exc_<name>` (source, row, day, reason). One aggregate per
    customer finds both the 户号 missing from 客户档案 and the customers with a repeated day; only
    their rows are read again. The same scan counts each source's rows, so for tables keyed by
    customer this returns {source: (rows parsed, rows accepted)}; otherwise None.

    `trusted` sources (an incremental run's base snapshot, see `trusted`) hold no repeated day among
    themselves, so for a daily table the per-customer aggregate reads only their rows that can meet a
    new row (the new rows' days) or whose customer left 客户档案, instead of the whole year again.
    """
    base, exc = f"_gp_base_{name}", f"_gp_exc_{name}"
    con.execute(f"CREATE OR REPLACE TABLE {exc} (_gp_src INTEGER, _gp_idx BIGINT, _gp_day VARCHAR, _gp_reason VARCHAR)")
    good = f"FROM {base} WHERE _gp_reason IS NULL"
    per_src: dict[int, tuple[int, int]] | None = None
    fk = table.references_customers
    daily = _is_daily_key(table)
    if fk or daily:
        dup = "FALSE"
        if daily:
            day = _q(table.key[1])
            # The day range of the accepted rows lies within the dates validation accepts; bounding the
            # range by those (instead of filtering on every check) reads one column.
            inside = f"{day} >= {_lit(EARLIEST_DATE)} AND {day} <= {_lit(latest_date(as_of))}"
            lo, hi = con.execute(f"SELECT min({day}) FILTER (WHERE {inside}), max({day}) FILTER (WHERE {inside}) "
                                 f"FROM {base}").fetchone()
            if lo is not None:
                # over every row of the customer, so only the accepted ones may count
                dup = (f"count_if(_gp_reason IS NULL) > bit_count(bitstring_agg(CASE WHEN _gp_reason IS NULL "
                       f"THEN date_diff('day', {_lit(lo)}, {day}) END, 0, {(hi - lo).days}))")
        known = "customer_id IN (SELECT customer_id FROM customers)" if fk else "TRUE"
        rel = base
        if daily and trusted:
            rel = _trusted_subset(con, base, day, trusted, fk)
        # One source (the usual case): its counts are the customers' totals. Several: GROUPING SETS
        # counts each source in the same scan (a second grouping costs 3 s over 365M readings).
        single = len(sources) == 1
        grouping = "customer_id" if single else "GROUPING SETS ((customer_id), (_gp_src))"
        con.execute(f"CREATE OR REPLACE TEMP TABLE _gp_custagg AS SELECT {0 if single else 'GROUPING(customer_id)'} "
                    f"AS per_src, {sources[0] if single else '_gp_src'} AS _gp_src, customer_id, count(*) AS n, "
                    f"count_if(_gp_reason IS NULL) AS ok, {dup} AS dup, {known} AS known FROM {rel} GROUP BY {grouping}")
        per_src = {src: (n or 0, good_rows or 0) for src, n, good_rows in con.execute(
            f"SELECT {sources[0]}, sum(n), sum(ok) FROM _gp_custagg" if single else
            "SELECT _gp_src, n, ok FROM _gp_custagg WHERE per_src = 1").fetchall()}
        if rel != base:  # the aggregate saw part of the trusted rows: count them (every one passed the row checks)
            per_src.update({src: (n, n) for src, n in con.execute(
                f"SELECT _gp_src, count(*) FROM {base} WHERE _gp_src IN ({_list_ints(trusted)}) GROUP BY ALL").fetchall()})
        con.execute("CREATE OR REPLACE TEMP TABLE _gp_custcheck AS SELECT customer_id, dup, known FROM _gp_custagg "
                    "WHERE per_src = 0 AND ok > 0 AND (dup OR NOT known)")
        con.execute("DROP TABLE _gp_custagg")
        unknown, repeated = con.execute("SELECT count_if(NOT known), count_if(dup AND known) FROM _gp_custcheck").fetchone()
        if fk and unknown:  # (skipped when none: the statements below read every row of the table)
            con.execute(f"INSERT INTO {exc} SELECT _gp_src, _gp_idx, _gp_day, {_fk_reason_sql(table, base)} {good} "
                        f"AND customer_id IN (SELECT customer_id FROM _gp_custcheck WHERE NOT known)")
        if daily and repeated:
            _duplicate_rows(con, table, base, exc, labels,
                            "AND customer_id IN (SELECT customer_id FROM _gp_custcheck WHERE dup AND known)")
    if table.key and not daily:
        # Other keys: an aggregate over one 64-bit hash, among the rows no earlier check rejected.
        key = ", ".join(_q(k) for k in table.key)
        known = " AND customer_id NOT IN (SELECT customer_id FROM _gp_custcheck WHERE NOT known)" if fk else ""
        con.execute(f"CREATE OR REPLACE TEMP TABLE _gp_dupcand AS SELECT hash({key}) AS h {good}{known} "
                    f"GROUP BY 1 HAVING count(*) > 1")
        _duplicate_rows(con, table, base, exc, labels, f"{known} AND hash({key}) IN (SELECT h FROM _gp_dupcand)")
    if table.name == "outages":
        con.execute(f"INSERT INTO {exc} SELECT _gp_src, _gp_idx, _gp_day, "
                    f"concat('unknown_district|district_id|台区编号 (district_id) = ''', district_id, "
                    f"''' is not the 台区 of any customer in 客户档案 — check the 台区 codes match the customer export') {good} "
                    f"AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.district_id = {base}.district_id) "
                    # a row an earlier check rejected (a repeat) keeps that one reason: one reject per row
                    f"AND NOT EXISTS (SELECT 1 FROM {exc} e WHERE e._gp_src = {base}._gp_src AND e._gp_idx = {base}._gp_idx)")
    chk = f"_gp_chk_{name}"
    if con.execute(f"SELECT count(*) FROM {exc}").fetchone()[0]:
        con.execute(f"CREATE VIEW {chk} AS SELECT b.* REPLACE (COALESCE(b._gp_reason, e._gp_reason) AS _gp_reason) "
                    f"FROM {base} b LEFT JOIN {exc} e ON b._gp_src = e._gp_src AND b._gp_idx = e._gp_idx "
                    f"AND b._gp_day IS NOT DISTINCT FROM e._gp_day")
    else:
        con.execute(f"CREATE VIEW {chk} AS SELECT * FROM {base}")
    if per_src is not None:  # the cross-row rejects come off each source's accepted rows
        for src, n in con.execute(f"SELECT _gp_src, count(*) FROM {exc} GROUP BY _gp_src").fetchall():
            parsed, accepted = per_src[src]
            per_src[src] = (parsed, accepted - n)
    return per_src


def _list_ints(values) -> str:
    return ", ".join(str(int(v)) for v in values)


def _trusted_subset(con: duckdb.DuckDBPyConnection, base: str, day: str, trusted: list[int], fk: bool) -> str:
    """Return a relation over `base` with the rows of the other sources, and only those rows of the
    `trusted` sources that can be a repeated day (a day the other sources also have) or an unknown
    customer (one 客户档案 no longer lists)."""
    listed = _list_ints(trusted)
    lo, hi = con.execute(f"SELECT min({day}), max({day}) FROM {base} WHERE _gp_src NOT IN ({listed}) "
                         f"AND _gp_reason IS NULL").fetchone()
    con.execute("CREATE OR REPLACE TEMP TABLE _gp_gone (customer_id VARCHAR)")
    if fk:
        con.execute(f"INSERT INTO _gp_gone SELECT customer_id FROM (SELECT DISTINCT customer_id FROM {base} "
                    f"WHERE _gp_src IN ({listed})) ANTI JOIN customers USING (customer_id)")
    keep = [f"_gp_src NOT IN ({listed})"]
    if lo is not None:
        keep.append(f"{day} BETWEEN {_lit(lo)} AND {_lit(hi)}")
    if con.execute("SELECT count(*) FROM _gp_gone").fetchone()[0]:
        keep.append("customer_id IN (SELECT customer_id FROM _gp_gone)")
    return f"(SELECT * FROM {base} WHERE {' OR '.join(keep)})"


def _duplicate_rows(con: duckdb.DuckDBPyConnection, table: Table, base: str, exc: str, labels: dict[int, str],
                    candidates: str) -> None:
    """Insert into `exc` every row after the first of a repeated key, among the candidate rows."""
    key = ", ".join(_q(k) for k in table.key)
    src_label = "CASE first_src " + " ".join(f"WHEN {i} THEN {_lit(l)}" for i, l in labels.items()) + " END"
    con.execute(f"""
        INSERT INTO {exc}
        SELECT _gp_src, _gp_idx, _gp_day,
               concat('duplicate|{"+".join(table.key)}|duplicates the key {_key_message(table)} of an earlier row in ',
                      {src_label}, ' — keep one of the rows in the export')
        FROM (SELECT _gp_src, _gp_idx, _gp_day, row_number() OVER w AS rn, first_value(_gp_src) OVER w AS first_src
              FROM {base} WHERE _gp_reason IS NULL {candidates}
              WINDOW w AS (PARTITION BY {key} ORDER BY _gp_src, _gp_idx, _gp_day))
        WHERE rn > 1""")


def _is_daily_key(table: Table) -> bool:
    return (len(table.key) == 2 and table.key[0] == "customer_id"
            and table.column(table.key[1]).type == "DATE")


def _write_rejects(con: duckdb.DuckDBPyConnection, table: Table, source: StagedSource, chk: str,
                   checked_rows: bool = True) -> None:
    """Insert the source's rejected rows into `rejects`: the checked rows that failed (unless
    `checked_rows` is False: none did), then the lines the CSV reader could not parse."""
    line = _line_sql(source, "_gp_idx")
    pii = [c.name for c in table.columns if c.pii]
    value_cases = " ".join(
        f"WHEN {_lit(c.name)} THEN CAST({_q(c.name)} AS VARCHAR)" for c in table.columns if not c.pii)
    value = f"CASE split_part(_gp_reason, '|', 2) {value_cases} ELSE NULL END" if value_cases else "NULL"
    if checked_rows:
        con.execute(f"""
            INSERT INTO rejects
            SELECT {_lit(table.name)}, {_lit(source.label)}, {line},
                   split_part(_gp_reason, '|', 2), split_part(_gp_reason, '|', 1),
                   concat({_lit(source.label + ' line ')}, {line}, CASE WHEN _gp_day IS NOT NULL THEN concat(' column ', _gp_day) ELSE '' END,
                          ': ', substr(_gp_reason, length(split_part(_gp_reason, '|', 1)) + length(split_part(_gp_reason, '|', 2)) + 3)),
                   {value}
            FROM {chk} WHERE _gp_src = {source.index} AND _gp_reason IS NOT NULL""")
    if source.parse_rejects:
        show_line = "NULL" if pii else "left(any_value(csv_line), 200)"
        # A typed CSV column's cast failures are reported by the reader itself, by header name.
        headers = {b.header: table.column(b.column) for b in source.resolution.bindings}
        headers.update({h: table.column("kwh") for h, _ in source.resolution.wide_dates})
        cast_code = "CASE any_value(column_name) " + " ".join(
            f"WHEN {_lit(h)} THEN {_lit(_TYPE_CODES.get(c.type, 'bad_value'))}" for h, c in headers.items()) + " ELSE 'bad_value' END"
        cast_col = "CASE any_value(column_name) " + " ".join(
            f"WHEN {_lit(h)} THEN {_lit(c.name)}" for h, c in headers.items()) + " ELSE any_value(column_name) END"
        cast_hint = "CASE any_value(column_name) " + " ".join(
            f"WHEN {_lit(h)} THEN {_lit(c.label + ' (' + c.name + '): ' + _TYPE_HINTS.get(c.type, ''))}" for h, c in headers.items()) + " ELSE '' END"
        con.execute(f"""
            INSERT INTO rejects
            SELECT {_lit(table.name)}, {_lit(source.label)}, line,
                   CASE WHEN bool_or(error_type = 'CAST') THEN {cast_col} ELSE any_value(column_name) END,
                   CASE WHEN bool_or(error_type = 'INVALID ENCODING') THEN 'bad_encoding'
                        WHEN bool_or(error_type = 'CAST') THEN {cast_code}
                        ELSE 'malformed_line' END,
                   concat({_lit(source.label + ' line ')}, line, ': ',
                          CASE WHEN bool_or(error_type = 'INVALID ENCODING')
                               THEN 'bytes that are not valid UTF-8 — re-export the line, or set the file''s real encoding (e.g. gbk)'
                               WHEN bool_or(error_type = 'CAST')
                               THEN concat({cast_hint}, ' (', regexp_replace(any_value(error_message), '^Error when converting column "[^"]*". ', ''), ')')
                               ELSE concat(any_value(error_message), ' — fix the line''s quoting or column count') END),
                   {show_line}
            FROM {source.parse_rejects} GROUP BY line""")


def _count(con: duckdb.DuckDBPyConnection, tc: TableCounts, sources: list[StagedSource], chk: str,
           per_src: dict[int, tuple[int, int]] | None) -> None:
    if per_src is None:  # one scan of the checked rows gives every source's parsed and accepted counts
        per_src = {src: (n, ok) for src, n, ok in con.execute(
            f"SELECT _gp_src, count(*), count(*) FILTER (WHERE _gp_reason IS NULL) FROM {chk} GROUP BY _gp_src").fetchall()}
    rejected_by_src = dict(con.execute(
        "SELECT source, count(*) FROM rejects WHERE table_name = ? GROUP BY source", [tc.table]).fetchall())
    for s in sources:
        parsed, accepted_src = per_src.get(s.index, (0, 0))
        malformed = con.execute(f"SELECT count(DISTINCT line) FROM {s.parse_rejects}").fetchone()[0] if s.parse_rejects else 0
        tc.sources[s.label] = {"read": parsed + malformed, "accepted": accepted_src,
                               "rejected": rejected_by_src.get(s.label, 0)}
        tc.read += parsed + malformed
    tc.accepted = sum(ok for _, ok in per_src.values())
    tc.rejected = con.execute("SELECT count(*) FROM rejects WHERE table_name = ?", [tc.table]).fetchone()[0]
    tc.reasons = dict(con.execute(
        "SELECT reason, count(*) FROM rejects WHERE table_name = ? GROUP BY reason ORDER BY 2 DESC", [tc.table]).fetchall())
