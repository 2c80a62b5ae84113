"""Ingest: find the exports, stage each one where DuckDB reads it, and map its headers.

Nothing here loads rows into Python: CSV and Parquet are read by DuckDB in place, GBK is
transcoded in a streaming pass, Excel and database tables are staged as Parquet.
"""
from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipeline.contracts import TABLES
from pipeline.errors import IngestError, MappingError, PortraitError
from pipeline.settings import SourceSpec
from pipeline.sources import files as filesrc
from pipeline.sources.mapping import HeaderResolution, Mapping, resolve_headers, table_for_file


@dataclass
class StagedSource:
    """One export, staged and mapped: where DuckDB reads it and how its headers bind."""

    index: int
    table: str
    label: str  # file name or redacted database source, as shown to users
    format: str  # csv | excel | parquet | database
    relation: str  # a DuckDB FROM-clause yielding _gp_idx, [_gp_line], and the raw headers as VARCHAR
    resolution: HeaderResolution
    has_line: bool  # the relation carries _gp_line (Excel); CSV lines are derived from parse rejects
    encoding: str | None = None
    parse_rejects: str | None = None  # DuckDB rejects table of the CSV reader, when there is one
    info: dict = field(default_factory=dict)  # size, sha256, … for the manifest
    types: dict[str, str] = field(default_factory=dict)  # header -> DuckDB type the relation yields it as
    # CSV only: the bare read_csv(...) call. Validation parses it once into a table whose rowid is the
    # row's position, so no `row_number() OVER ()` serialises the checks (relation keeps that form).
    csv_read: str | None = None


@dataclass
class IngestProblems:
    """Whole-file problems, collected so a user sees all of them at once."""

    errors: list[PortraitError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unassigned: list[str] = field(default_factory=list)  # files that feed no table


def _sql_str(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _csv_relation(path: Path, index: int, *, rejects: bool, types: dict[str, str] | None = None) -> str:
    return f"(SELECT row_number() OVER () AS _gp_idx, * FROM {_csv_read(path, index, rejects=rejects, types=types)})"


def _csv_read(path: Path, index: int, *, rejects: bool, types: dict[str, str] | None = None) -> str:
    # The dialect comes from the header line, not DuckDB's sniffer: a sniffer can give up on a
    # file whose sample holds malformed lines, and those lines are exactly what must be reported.
    headers, delim = filesrc.csv_header(path)
    types = types or {}
    columns = "{" + ", ".join(f"{_sql_str(h)}: {_sql_str(types.get(h, 'VARCHAR'))}" for h in headers) + "}"
    opts = (f"auto_detect=false, header=true, delim={_sql_str(delim)}, quote='\"', escape='\"', "
            f"columns={columns}")
    if not rejects:  # a sample read for headers and types: skip what the real read will report
        opts += ", ignore_errors=true"
    if rejects:
        opts += f", store_rejects=true, rejects_table='_gp_rej_{index}', rejects_scan='_gp_rejscan_{index}'"
    return f"read_csv({_sql_str(str(path))}, {opts})"


def _parquet_relation(path: Path, has_line: bool) -> str:
    if has_line:
        return f"(SELECT _gp_line AS _gp_idx, * FROM read_parquet({_sql_str(str(path))}))"
    return f"(SELECT file_row_number + 1 AS _gp_idx, * EXCLUDE (file_row_number) FROM read_parquet({_sql_str(str(path))}, file_row_number=true))"


def _headers(con: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    return list(_types(con, relation))


def _types(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE SELECT * FROM {relation} LIMIT 0").fetchall()
    return {r[0]: r[1] for r in rows if not r[0].startswith("_gp_")}


# Values DuckDB's CSV reader casts natively. A column whose sample all looks like this is read
# typed, which is several times faster than casting text in SQL; a later row that does not fit
# is rejected by the reader itself, with its line and column.
_NATIVE = {
    "DATE": r"^\s*\d{4}-\d{2}-\d{2}\s*$",
    "TIMESTAMP": r"^\s*\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}\s*$",
    "DOUBLE": r"^\s*-?\d+(\.\d+)?\s*$",
}
_SAMPLE_ROWS = 5000


def _native_csv_types(con: duckdb.DuckDBPyConnection, relation: str, resolution: HeaderResolution) -> dict[str, str]:
    """Return header -> native type for the mapped columns whose sampled values DuckDB can cast directly."""
    wanted: dict[str, str] = {}
    table = TABLES[resolution.table]
    for b in resolution.bindings:
        typ = table.column(b.column).type
        if typ in _NATIVE and b.column != "period":
            wanted[b.header] = typ
    for header, _ in resolution.wide_dates:
        wanted[header] = "DOUBLE"
    if not wanted:
        return {}
    checks = ", ".join(
        f"bool_and({_q(h)} IS NULL OR regexp_matches({_q(h)}, {_sql_str(_NATIVE[t])})) AS {_q(h)}" for h, t in wanted.items())
    row = con.execute(f"SELECT {checks} FROM (SELECT * FROM {relation} LIMIT {_SAMPLE_ROWS})").fetchone()
    native = {h: t for (h, t), ok in zip(wanted.items(), row) if ok}
    days = [h for h, _ in resolution.wide_dates]
    if days and not all(h in native for h in days):  # UNPIVOT needs one type for every day column
        native = {h: t for h, t in native.items() if h not in days}
    return native


def _q(ident: str) -> str:
    return '"' + str(ident).replace('"', '""') + '"'


def _check_declared_encoding(path: Path, encoding: str) -> None:
    """Fail early, naming the line, when a file is not in the encoding the config declares."""
    with open(path, "rb") as fh:
        sample = fh.read(4 << 20)
    try:
        codecs.getincrementaldecoder(encoding)(errors="strict").decode(sample, final=False)
    except UnicodeDecodeError as err:
        line = sample[: err.start].count(b"\n") + 1
        guess = filesrc.detect_encoding(path)
        raise IngestError(
            f"{path.name}: line {line} is not valid {encoding} (byte 0x{sample[err.start]:02X} at offset {err.start})",
            hint=(f"the file looks like {guess}; set encoding = \"{guess}\" for this source, or drop the encoding "
                  "setting and let grid-portrait detect it") if guess != encoding else
                 "re-export the file as UTF-8 or GBK",
        ) from None


def stage_file(
    con: duckdb.DuckDBPyConnection, path: Path, index: int, work_dir: Path, mapping: Mapping,
    spec: SourceSpec, problems: IngestProblems,
) -> StagedSource | None:
    """Return one export file staged and mapped, or None (with the problem recorded)."""
    fmt = filesrc.file_format(path)
    info = filesrc.file_info(path)
    meta = {"path": str(path), "format": fmt, "size": info.size, "sha256": info.sha256}
    encoding = None
    has_line = False
    rejects = None
    if fmt == "csv":
        encoding = filesrc.normalise_encoding(spec.encoding) if spec.encoding else filesrc.detect_encoding(path)
        if spec.encoding:
            _check_declared_encoding(path, encoding)
        readable = path
        if encoding not in ("utf-8", "ascii"):
            readable = work_dir / f"src{index}.utf8.csv"
            filesrc.transcode_to_utf8(path, readable, encoding)
        relation = _csv_relation(readable, index, rejects=False)
        rejects = f"_gp_rej_{index}"
        meta["encoding"] = encoding
    elif fmt == "excel":
        staged = work_dir / f"src{index}.parquet"
        filesrc.stage_excel(path, staged, spec.sheet)
        relation, has_line = _parquet_relation(staged, has_line=True), True
    else:
        relation = _parquet_relation(path, has_line=False)
    try:
        headers = _headers(con, relation)
    except duckdb.Error as err:
        raise IngestError(f"{path.name}: cannot read the file ({str(err).splitlines()[0]})",
                          hint="check the file is a complete, well-formed export") from None
    table = spec.table or table_for_file(mapping, path.name, headers)
    if table is None:
        problems.unassigned.append(path.name)
        problems.warnings.append(
            f"{path.name}: matches no canonical table by name or headers; it was not loaded "
            "(add a `files:` pattern to the mapping, or set table = … for this source)"
        )
        return None
    if table not in TABLES:
        raise IngestError(f"source {spec.label()}: unknown table {table!r}", hint=f"tables are {', '.join(TABLES)}")
    resolution = resolve_headers(mapping, table, headers, path.name)
    csv_read = None
    if fmt == "csv":
        native = _native_csv_types(con, relation, resolution)
        relation = _csv_relation(readable, index, rejects=True, types=native)
        csv_read = _csv_read(readable, index, rejects=True, types=native)
    types = _types(con, relation)
    return StagedSource(index, table, path.name, fmt, relation, resolution, has_line, encoding, rejects, meta, types,
                        csv_read)


def stage_database(
    con: duckdb.DuckDBPyConnection, spec: SourceSpec, index: int, work_dir: Path, mapping: Mapping,
) -> StagedSource:
    """Return a database table or query staged as Parquet and mapped."""
    from pipeline.sources.database import stage_table

    dest = work_dir / f"src{index}.parquet"
    rows = stage_table(spec.resolved_uri(), table=spec.source_table, query=spec.query, dest=dest)
    relation = _parquet_relation(dest, has_line=False)
    types = _types(con, relation)
    label = spec.label()
    resolution = resolve_headers(mapping, spec.table, list(types), label)
    meta = {"source": label, "format": "database", "rows_staged": rows}
    return StagedSource(index, spec.table, label, "database", relation, resolution, False, None, None, meta, types)


def ingest_sources(
    con, sources: tuple[SourceSpec, ...], mapping: Mapping, work_dir: Path,
    stage_file=stage_file, stage_database=stage_database,
) -> tuple[list[StagedSource], IngestProblems]:
    """Return every export staged and mapped, plus the whole-file problems found on the way.

    `con` is whatever the stagers take: a DuckDB connection here, a Spark session for the Spark engine.
    """
    staged: list[StagedSource] = []
    problems = IngestProblems()
    index = 0
    for spec in sources:
        if spec.uri is not None:
            try:
                staged.append(stage_database(con, spec, index, work_dir, mapping))
            except PortraitError as err:
                problems.errors.append(err)
            except Exception as err:  # a driver error: report it with the redacted source
                problems.errors.append(IngestError(f"{spec.label()}: {type(err).__name__}: {err}"))
            index += 1
            continue
        for path in filesrc.discover_files(spec.path):
            try:
                got = stage_file(con, path, index, work_dir, mapping, spec, problems)
                if got is not None:
                    staged.append(got)
            except (MappingError, IngestError) as err:
                problems.errors.append(err)
            index += 1
    present = {s.table for s in staged}
    for name, table in TABLES.items():
        if name not in present and not table.optional:
            problems.warnings.append(f"no export feeds table {name} ({table.label}); its features will be empty")
    return staged, problems
