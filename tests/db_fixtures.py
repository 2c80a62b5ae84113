"""Scratch PostgreSQL schemas and MySQL/MariaDB databases for tests, and a loader for sample frames.

The servers are the local ones (see the task notes); PORTRAIT_TEST_POSTGRES_URI and
PORTRAIT_TEST_MYSQL_URI point the tests elsewhere. Off CI an unreachable server skips its
tests; on CI (the CI variable is set) it fails them, so a missing service cannot pass quietly.
"""
from __future__ import annotations

import datetime as dt
import decimal
import os
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import pandas as pd
import psycopg
import pymysql
import pytest
from psycopg import sql as pgsql

POSTGRES_URI = os.environ.get("PORTRAIT_TEST_POSTGRES_URI", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URI = os.environ.get("PORTRAIT_TEST_MYSQL_URI", "mysql://root@127.0.0.1:3306/test")


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    """Yield a URI whose ?schema= is a fresh gp_test_… schema, dropped afterwards."""
    schema = _scratch_name()
    conn = _server_connection("PostgreSQL", lambda: psycopg.connect(POSTGRES_URI, autocommit=True, connect_timeout=5))
    try:
        conn.execute(pgsql.SQL("CREATE SCHEMA {}").format(pgsql.Identifier(schema)))
        yield _with_query(POSTGRES_URI, schema=schema)
    finally:
        conn.execute(pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(schema)))
        conn.close()


@pytest.fixture
def mysql_uri() -> Iterator[str]:
    """Yield a URI naming a fresh gp_test_… database, dropped afterwards."""
    database = _scratch_name()
    conn = _server_connection("MySQL/MariaDB", lambda: _mysql_connect(MYSQL_URI, database=None))
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
        yield urlunsplit(urlsplit(MYSQL_URI)._replace(path=f"/{database}"))
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
        conn.close()


def execute_sql(uri: str, *statements: str) -> None:
    """Run DDL/DML statements in the scratch schema or database of `uri` and commit them."""
    if uri.startswith("postgres"):
        with _postgres_connect(uri) as conn:
            for statement in statements:
                conn.execute(statement)
        return
    conn = _mysql_connect(uri, database=unquote(urlsplit(uri).path.lstrip("/")))
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def load_frame(uri: str, table: str, frame: pd.DataFrame) -> None:
    """Create `table` from `frame`'s columns (text unless numeric, date/time or bool) and insert its rows."""
    columns = {name: _column_kind(frame[name]) for name in frame.columns}
    rows = [tuple(_python_value(v) for v in row) for row in frame.itertuples(index=False, name=None)]
    if uri.startswith("postgres"):
        _load_postgres(uri, table, columns, rows)
    else:
        _load_mysql(uri, table, columns, rows)


# ---------------------------------------------------------------- servers


def _scratch_name() -> str:
    return f"gp_test_{uuid.uuid4().hex[:12]}"


def _server_connection(label: str, connect):
    try:
        return connect()
    except (psycopg.Error, pymysql.MySQLError, OSError) as exc:
        problem = f"{label} test server is not reachable: {' '.join(str(exc).split())}"
    # Outside the except block, so the report is the one line, not a chained traceback.
    if os.environ.get("CI"):
        pytest.fail(f"{problem}; the server must be running in CI", pytrace=False)
    pytest.skip(problem)


def _with_query(uri: str, **params: str) -> str:
    parts = urlsplit(uri)
    query = "&".join([parts.query] * bool(parts.query) + [f"{k}={v}" for k, v in params.items()])
    return urlunsplit(parts._replace(query=query))


def _mysql_connect(uri: str, database: str | None):
    parts = urlsplit(uri)
    return pymysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
        database=database,
        charset="utf8mb4",
        connect_timeout=5,
        autocommit=True,
    )


# ---------------------------------------------------------------- loading


_SQL_TYPES = {
    #            PostgreSQL            MySQL/MariaDB
    "text": ("TEXT", "TEXT"),
    "bool": ("BOOLEAN", "BOOLEAN"),
    "int": ("BIGINT", "BIGINT"),
    "float": ("DOUBLE PRECISION", "DOUBLE"),
    "timestamp": ("TIMESTAMP", "DATETIME(6)"),
    "date": ("DATE", "DATE"),
    "decimal": ("NUMERIC(18, 4)", "DECIMAL(18, 4)"),
}


def _column_kind(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "timestamp"
    present = series.dropna()
    # pandas has no date or decimal dtype; object columns holding only those map to DATE / NUMERIC.
    if len(present) and all(isinstance(v, dt.date) and not isinstance(v, dt.datetime) for v in present):
        return "date"
    if len(present) and all(isinstance(v, decimal.Decimal) for v in present):
        return "decimal"
    if len(present) and all(isinstance(v, bool) for v in present):
        return "bool"
    return "text"


def _python_value(value):
    if value is None or (not isinstance(value, (list, tuple, dict)) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item"):  # numpy scalars: neither driver adapts them all
        return value.item()
    return value


def _load_postgres(uri: str, table: str, columns: dict[str, str], rows: list[tuple]) -> None:
    names = pgsql.SQL(", ").join(pgsql.Identifier(c) for c in columns)
    ddl = pgsql.SQL(", ").join(
        pgsql.SQL("{} {}").format(pgsql.Identifier(c), pgsql.SQL(_SQL_TYPES[k][0])) for c, k in columns.items()
    )
    with _postgres_connect(uri) as conn:
        conn.execute(pgsql.SQL("CREATE TABLE {} ({})").format(pgsql.Identifier(table), ddl))
        copy_sql = pgsql.SQL("COPY {} ({}) FROM STDIN").format(pgsql.Identifier(table), names)
        with conn.cursor() as cur, cur.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row(row)


def _postgres_connect(uri: str) -> psycopg.Connection:
    # The ?schema= of a scratch URI is ours, not libpq's: strip it and make it the search_path.
    parts = urlsplit(uri)
    params = dict(parse_qsl(parts.query))
    schema = params.pop("schema", "public")
    conninfo = urlunsplit(parts._replace(query="&".join(f"{k}={v}" for k, v in params.items())))
    conn = psycopg.connect(conninfo)
    conn.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(schema)))
    return conn


def _load_mysql(uri: str, table: str, columns: dict[str, str], rows: list[tuple]) -> None:
    database = unquote(urlsplit(uri).path.lstrip("/"))
    quoted = {c: _mysql_identifier(c) for c in columns}
    ddl = ", ".join(f"{quoted[c]} {_SQL_TYPES[k][1]}" for c, k in columns.items())
    placeholders = ", ".join(["%s"] * len(columns))
    insert = f"INSERT INTO {_mysql_identifier(table)} ({', '.join(quoted.values())}) VALUES ({placeholders})"
    conn = _mysql_connect(uri, database=database)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {_mysql_identifier(table)} ({ddl}) CHARACTER SET utf8mb4")
            if rows:
                cur.executemany(insert, rows)
    finally:
        conn.close()


def _mysql_identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
