"""Database sources: stream a PostgreSQL or MySQL/MariaDB table or query into a Parquet file.

Ingest reads every source from a staged Parquet file whose columns carry the source's own
headers, so a database reader only copies rows faithfully: through a server-side cursor, in
batches, never holding a whole table in memory. Passwords may sit in the URI; every message
and every `SourceError.source` goes through `redact_uri` first.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pymysql
import pymysql.cursors
from psycopg import sql as pgsql
from pymysql.constants import FIELD_TYPE, FLAG

from pipeline.sources.errors import SourceError

_KINDS = {"postgresql": "postgresql", "postgres": "postgresql", "mysql": "mysql", "mariadb": "mysql"}
_SUPPORTED = (
    "postgresql://, postgres://, mysql://, mariadb:// (a +driver suffix such as postgresql+psycopg:// is accepted)"
)

# Short enough that a wrong host fails a run quickly, long enough for a slow VPN.
_CONNECT_TIMEOUT_S = 10

# Where a DSN can live instead of the config file; named once so the hint text stays in step with settings.
_DSN_HINT = 'or keep the URI in an environment variable and write uri = "env:NAME" in run.toml'

_MYSQL_PARAMS = ("charset", "connect_timeout", "unix_socket", "ssl_ca", "ssl_cert", "ssl_key")

# password=… in a query string or a libpq key=value DSN.
_PASSWORD_PARAM = re.compile(r"(?i)(\b(?:password|passwd|pwd)\s*=\s*)('(?:[^'\\]|\\.)*'|[^&#\s]*)")


def database_kind(uri: str) -> str:
    """Return 'postgresql' or 'mysql' for a database URI; ValueError for any other scheme."""
    scheme, sep, _ = uri.partition("://")
    base = scheme.lower().split("+", 1)[0]
    if not sep or base not in _KINDS:
        shown = f"scheme '{scheme}'" if sep else "no scheme"
        raise ValueError(f"unsupported database URI {redact_uri(uri)} ({shown}); supported: {_SUPPORTED}")
    return _KINDS[base]


def redact_uri(uri: str) -> str:
    """Return `uri` with any password replaced by `***`."""
    scheme, sep, rest = uri.partition("://")
    userinfo_end = _userinfo_end(rest) if sep else -1
    if userinfo_end >= 0:
        user, colon, password = rest[:userinfo_end].partition(":")
        if colon and password:
            rest = f"{user}:***{rest[userinfo_end:]}"
        uri = f"{scheme}{sep}{rest}"
    return _PASSWORD_PARAM.sub(lambda m: m.group(1) + "***" if m.group(2) else m.group(0), uri)


def list_tables(uri: str) -> list[str]:
    """Return the sorted table and view names of the URI's PostgreSQL schema or MySQL database."""
    with _session(uri) as session:
        return _table_names(session)


def stage_table(
    uri: str,
    table: str | None = None,
    *,
    query: str | None = None,
    dest: Path | str,
    batch_rows: int = 50_000,
) -> int:
    """Stream one table or query result into a zstd Parquet file at `dest`; return its row count."""
    if (table is None) == (query is None):
        raise ValueError("stage_table needs exactly one of table= or query=")
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
    dest = Path(dest)
    with _session(uri) as session:
        if table is not None:
            statement, what = _select_all(session, table), f"reading table {table!r}"
        else:
            statement, what = query.strip().rstrip(";").rstrip(), "running the configured query"
        return _written_parquet_rows(session, statement, what, dest, batch_rows)


# ---------------------------------------------------------------- connections


@dataclass(frozen=True)
class _Session:
    kind: str
    conn: Any
    namespace: str  # the PostgreSQL schema or MySQL database that table names resolve in
    source: str  # the redacted URI
    secrets: tuple[str, ...]  # password spellings to scrub from driver messages


@contextlib.contextmanager
def _session(uri: str) -> Iterator[_Session]:
    kind = database_kind(uri)
    connect = _postgres_session if kind == "postgresql" else _mysql_session
    session = connect(uri)
    try:
        yield session
    finally:
        session.conn.close()


def _postgres_session(uri: str) -> _Session:
    source, secrets = redact_uri(uri), _uri_secrets(uri)
    parts = urlsplit(uri)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    # `schema` is ours, not libpq's; libpq rejects unknown query parameters.
    schema = params.pop("schema", None)
    params.setdefault("connect_timeout", str(_CONNECT_TIMEOUT_S))
    # libpq parses the rest itself (multiple hosts, sslmode, options=-csearch_path=…).
    conninfo = "postgresql://" + uri.partition("://")[2].split("?", 1)[0].split("#", 1)[0]
    conninfo += "?" + urlencode(params)
    try:
        conn = psycopg.connect(conninfo)
    except psycopg.ProgrammingError as exc:
        # libpq refused the URI itself (an unknown parameter, a bad port) before connecting.
        text = _scrubbed(" ".join(str(exc).split()), secrets)
        raise ValueError(
            f"invalid PostgreSQL URI {source}: {text}; query parameters are libpq's plus schema="
        ) from None
    except psycopg.Error as exc:
        raise _connect_error(uri, source, secrets, str(exc)) from None
    try:
        # Staging only reads; a read-only transaction also stops a configured query from writing.
        conn.read_only = True
        if schema is not None:
            _use_postgres_schema(conn, schema, source)
        namespace = conn.execute("SELECT current_schema()").fetchone()[0]
    except BaseException:
        conn.close()
        raise
    if namespace is None:
        conn.close()
        raise SourceError(
            f"no existing schema on the search_path of {source}",
            source=source,
            hint="add ?schema=<name> to the URI",
        )
    return _Session("postgresql", conn, namespace, source, secrets)


def _use_postgres_schema(conn: psycopg.Connection, schema: str, source: str) -> None:
    schemas = [r[0] for r in conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
        "AND nspname <> 'information_schema' ORDER BY nspname"
    )]
    if schema not in schemas:
        raise SourceError(
            f"schema {schema!r} does not exist in {source}",
            source=source,
            hint=f"fix ?schema= in the URI; schemas there: {', '.join(schemas) or '(none)'}",
        )
    # Unqualified names in a configured query should resolve in the chosen schema too.
    conn.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(schema)))


def _mysql_session(uri: str) -> _Session:
    source, secrets = redact_uri(uri), _uri_secrets(uri)
    parts = urlsplit(uri)
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ValueError(f"{source} names no database; use mysql://user@host:3306/<database>")
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(params) - set(_MYSQL_PARAMS))
    if unknown:
        raise ValueError(
            f"unknown query parameter(s) {', '.join(unknown)} in {source}; supported: {', '.join(_MYSQL_PARAMS)}"
        )
    try:
        port = parts.port or 3306
    except ValueError:
        raise ValueError(f"the port in {source} is not a number") from None
    options: dict[str, Any] = {"charset": "utf8mb4", "connect_timeout": _CONNECT_TIMEOUT_S, **params}
    options["connect_timeout"] = int(options["connect_timeout"])
    try:
        conn = pymysql.connect(
            host=parts.hostname or "localhost",
            port=port,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password or ""),
            database=database,
            **options,
        )
    except pymysql.MySQLError as exc:
        raise _connect_error(uri, source, secrets, _mysql_message(exc)) from None
    try:
        # One consistent snapshot for the whole read, and no way for a configured query to write.
        conn.query("START TRANSACTION READ ONLY")
    except BaseException:
        conn.close()
        raise
    return _Session("mysql", conn, database, source, secrets)


def _connect_error(uri: str, source: str, secrets: tuple[str, ...], message: str) -> SourceError:
    # `from None` at the raise sites: the driver exception stays out of tracebacks, and its
    # text reaches the user only through this scrubbed copy.
    text = _scrubbed(" ".join(message.split()), secrets)
    lowered = text.lower()
    if any(s in lowered for s in ("password", "access denied", "authentication", "role ")):
        hint = f"check the user name and password in the URI, {_DSN_HINT}"
    elif "database" in lowered and ("does not exist" in lowered or "unknown" in lowered):
        hint = "check the database name (the path of the URI)"
    else:
        hint = f"check the host and port and that the server is running (try `{_ping_command(uri)}`), {_DSN_HINT}"
    return SourceError(f"cannot connect to {source}: {text}", source=source, hint=hint)


def _ping_command(uri: str) -> str:
    try:
        parts = urlsplit(uri)
        host, port = parts.hostname, parts.port
    except ValueError:  # several hosts, or a port that is not a number
        host, port = None, None
    if database_kind(uri) == "postgresql":
        return f"pg_isready -h {host or 'HOST'} -p {port or 5432}"
    return f"mysqladmin -h {host or 'HOST'} -P {port or 3306} ping"


def _mysql_message(exc: pymysql.MySQLError) -> str:
    return str(exc.args[1]) if len(exc.args) > 1 else str(exc)


# ---------------------------------------------------------------- tables


def _table_names(session: _Session) -> list[str]:
    if session.kind == "postgresql":
        # pg_class rather than information_schema: it also lists materialized views.
        rows = session.conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition "
            "ORDER BY c.relname",
            (session.namespace,),
        ).fetchall()
    else:
        with session.conn.cursor() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY table_name",
                (session.namespace,),
            )
            rows = cur.fetchall()
    return [r[0] for r in rows]


def _select_all(session: _Session, table: str) -> Any:
    tables = _table_names(session)
    if table not in tables:
        where = f"schema {session.namespace!r}" if session.kind == "postgresql" else f"database {session.namespace!r}"
        near = [t for t in tables if t.lower() == table.lower()]
        advice = f"did you mean {near[0]!r}? " if near else ""
        raise SourceError(
            f"table {table!r} not found in {where} of {session.source}",
            source=session.source,
            hint=f"{advice}available tables: {', '.join(tables) or '(none)'}",
        )
    # Only a name the server just listed reaches here, and it is still quoted as an identifier.
    if session.kind == "postgresql":
        return pgsql.SQL("SELECT * FROM {}").format(pgsql.Identifier(session.namespace, table))
    return f"SELECT * FROM {_mysql_identifier(session.namespace)}.{_mysql_identifier(table)}"


def _mysql_identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


# ---------------------------------------------------------------- staging


@dataclass(frozen=True)
class _ArrowColumn:
    name: str
    type: pa.DataType
    convert: Callable[[Any], Any] | None = None  # applied to non-NULL values before Arrow sees them


def _written_parquet_rows(session: _Session, statement: Any, what: str, dest: Path, batch_rows: int) -> int:
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename at the end, so a failed read never leaves a truncated file.
    partial = dest.with_name(dest.name + ".partial")
    batches = _postgres_batches if session.kind == "postgresql" else _mysql_batches
    rows = 0
    try:
        with batches(session, statement, what, batch_rows) as (columns, row_batches):
            schema = _arrow_schema(columns, session)
            with pq.ParquetWriter(partial, schema, compression="zstd") as writer:
                for batch in row_batches:
                    writer.write_batch(_record_batch(columns, schema, batch, session))
                    rows += len(batch)
        os.replace(partial, dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return rows


@contextlib.contextmanager
def _postgres_batches(session: _Session, statement: Any, what: str, batch_rows: int):
    with _read_errors(session, what, psycopg.Error):
        # A named cursor is a server-side cursor: rows arrive batch by batch.
        with session.conn.cursor(name="portrait_stage") as cur:
            cur.itersize = batch_rows
            cur.execute(statement)
            columns = [_postgres_column(c) for c in cur.description or ()]
            yield columns, iter(lambda: cur.fetchmany(batch_rows), [])


@contextlib.contextmanager
def _mysql_batches(session: _Session, statement: Any, what: str, batch_rows: int):
    with _read_errors(session, what, pymysql.MySQLError):
        # SSCursor is unbuffered: rows stay on the server until fetched.
        with session.conn.cursor(pymysql.cursors.SSCursor) as cur:
            cur.execute(statement)
            # The DB-API description lacks the UNSIGNED flag and the charset (TEXT vs BLOB), so
            # read pymysql's field packets; they have kept this shape across releases.
            columns = [_mysql_column(f) for f in cur._result.fields] if cur.description else []
            yield columns, iter(lambda: list(cur.fetchmany(batch_rows)), [])


@contextlib.contextmanager
def _read_errors(session: _Session, what: str, driver_error: type[Exception]):
    try:
        yield
    except driver_error as exc:
        message = _mysql_message(exc) if session.kind == "mysql" else str(exc)
        text = _scrubbed(" ".join(message.split()), session.secrets)
        client = "psql" if session.kind == "postgresql" else "the mysql client"
        raise SourceError(
            f"{what} failed on {session.source}: {text}",
            source=session.source,
            hint=f"check it runs in {client} against the same database; queries are sent verbatim",
        ) from None


def _arrow_schema(columns: list[_ArrowColumn], session: _Session) -> pa.Schema:
    names = [c.name for c in columns]
    if not names:
        raise SourceError(
            f"the result from {session.source} has no columns",
            source=session.source,
            hint="select at least one column",
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise SourceError(
            f"the result from {session.source} has column(s) {', '.join(map(repr, repeated))} more than once",
            source=session.source,
            hint="give each selected column a distinct alias (… AS name)",
        )
    return pa.schema([pa.field(c.name, c.type) for c in columns])


def _record_batch(
    columns: list[_ArrowColumn], schema: pa.Schema, rows: list[tuple], session: _Session
) -> pa.RecordBatch:
    arrays = []
    for column, values in zip(columns, zip(*rows)):
        if column.convert is not None:
            values = [None if v is None else column.convert(v) for v in values]
        try:
            arrays.append(pa.array(values, type=column.type))
        except (pa.ArrowException, TypeError, ValueError, decimal.InvalidOperation):
            # Never echo the value itself: exports carry personal data.
            odd = sorted({type(v).__name__ for v in values if v is not None})
            raise SourceError(
                f"column {column.name!r} from {session.source} has a value ({'/'.join(odd)}) "
                f"that does not fit Arrow type {column.type}",
                source=session.source,
                hint="stage it with query= and cast that column to text in the SELECT",
            ) from None
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


# ---------------------------------------------------------------- type mapping


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


_POSTGRES_TYPES: dict[str, pa.DataType] = {
    "bool": pa.bool_(),
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "oid": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "text": pa.string(),
    "varchar": pa.string(),
    "bpchar": pa.string(),
    "name": pa.string(),
    "date": pa.date32(),
    "time": pa.time64("us"),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "bytea": pa.binary(),
}


def _postgres_column(column: psycopg.Column) -> _ArrowColumn:
    info = psycopg.postgres.types.get(column.type_code)
    name = info.name if info else ""
    if name == "numeric":
        precision, scale = column.precision, column.scale
        if precision is not None and scale is not None and 0 < precision <= 38:
            return _ArrowColumn(column.name, pa.decimal128(precision, scale))
        # Unconstrained NUMERIC has no fixed scale (and may hold NaN), so it cannot be a decimal type.
        return _ArrowColumn(column.name, pa.float64(), float)
    if name in _POSTGRES_TYPES:
        return _ArrowColumn(column.name, _POSTGRES_TYPES[name])
    # json, uuid, interval, arrays, enums, …: text keeps them lossless; ingest casts later.
    return _ArrowColumn(column.name, pa.string(), _text)


_BINARY_CHARSET = 63


def _mysql_column(field: Any) -> _ArrowColumn:
    code, name = field.type_code, field.name
    unsigned = bool(field.flags & FLAG.UNSIGNED)
    if code == FIELD_TYPE.TINY and field.length == 1:
        # BOOLEAN is TINYINT(1) in MySQL; JDBC's tinyInt1isBit makes the same call.
        return _ArrowColumn(name, pa.bool_(), bool)
    integers = {
        FIELD_TYPE.TINY: (pa.int8(), pa.uint8()),
        FIELD_TYPE.SHORT: (pa.int16(), pa.uint16()),
        FIELD_TYPE.INT24: (pa.int32(), pa.uint32()),
        FIELD_TYPE.LONG: (pa.int32(), pa.uint32()),
        FIELD_TYPE.LONGLONG: (pa.int64(), pa.uint64()),
    }
    if code in integers:
        return _ArrowColumn(name, integers[code][unsigned])
    if code == FIELD_TYPE.YEAR:
        return _ArrowColumn(name, pa.int16())
    if code == FIELD_TYPE.FLOAT:
        return _ArrowColumn(name, pa.float32())
    if code == FIELD_TYPE.DOUBLE:
        return _ArrowColumn(name, pa.float64())
    if code in (FIELD_TYPE.DECIMAL, FIELD_TYPE.NEWDECIMAL):
        # The reported length counts the sign and the decimal point as well as the digits.
        precision = field.length - (1 if field.scale else 0) - (0 if unsigned else 1)
        if 0 < precision <= 38:
            return _ArrowColumn(name, pa.decimal128(precision, field.scale))
        return _ArrowColumn(name, pa.float64(), float)
    if code in (FIELD_TYPE.DATE, FIELD_TYPE.NEWDATE):
        return _ArrowColumn(name, pa.date32(), _mysql_zero_date_as_null)
    if code in (FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP):
        return _ArrowColumn(name, pa.timestamp("us"), _mysql_zero_date_as_null)
    if code == FIELD_TYPE.TIME:
        # MySQL TIME is a duration (negative or over 24 h allowed), so it stays text.
        return _ArrowColumn(name, pa.string(), _mysql_time_text)
    if code == FIELD_TYPE.BIT:
        if field.length == 1:
            return _ArrowColumn(name, pa.bool_(), lambda v: int.from_bytes(v, "big") == 1)
        return _ArrowColumn(name, pa.int64(), lambda v: int.from_bytes(v, "big"))
    blobs = (FIELD_TYPE.TINY_BLOB, FIELD_TYPE.MEDIUM_BLOB, FIELD_TYPE.LONG_BLOB, FIELD_TYPE.BLOB,
             FIELD_TYPE.VAR_STRING, FIELD_TYPE.STRING, FIELD_TYPE.VARCHAR, FIELD_TYPE.GEOMETRY)
    if code in blobs and field.charsetnr == _BINARY_CHARSET:
        return _ArrowColumn(name, pa.binary(), bytes)
    # Text, ENUM, SET, JSON and anything newer: text is lossless.
    return _ArrowColumn(name, pa.string(), _text)


def _mysql_zero_date_as_null(value: Any) -> Any:
    # pymysql hands back '0000-00-00…' as a string; it means "no date", as JDBC's convertToNull reads it.
    if isinstance(value, str) and value.startswith("0000-00-00"):
        return None
    return value


def _mysql_time_text(value: Any) -> str:
    if not isinstance(value, dt.timedelta):
        return _text(value)
    sign = "-" if value < dt.timedelta(0) else ""
    micros = abs(value) // dt.timedelta(microseconds=1)
    seconds, micro = divmod(micros, 1_000_000)
    text = f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"{text}.{micro:06d}" if micro else text


# ---------------------------------------------------------------- redaction


def _userinfo_end(rest: str) -> int:
    # The last '@' rather than the one urlsplit picks: an unencoded '@', '/' or '?' in a
    # password must not leak. A stray '@' later in the URI only over-redacts.
    return rest.rfind("@")


def _uri_secrets(uri: str) -> tuple[str, ...]:
    secrets: set[str] = set()
    _, sep, rest = uri.partition("://")
    end = _userinfo_end(rest) if sep else -1
    if end >= 0:
        secrets.add(rest[:end].partition(":")[2])
    secrets.update(m.group(2).strip("'") for m in _PASSWORD_PARAM.finditer(uri))
    secrets |= {unquote(s) for s in secrets}
    # Longest first, so a password that contains another is replaced whole.
    return tuple(sorted((s for s in secrets if s), key=len, reverse=True))


def _scrubbed(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return redact_uri(text)
