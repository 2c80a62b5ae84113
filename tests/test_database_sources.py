"""Database sources round-trip real PostgreSQL and MariaDB tables into Parquet, exactly."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.sources.database import database_kind, list_tables, redact_uri, stage_table
from pipeline.sources.errors import SourceError
from tests.db_fixtures import execute_sql, load_frame, mysql_uri, postgres_uri  # noqa: F401

SERVERS = ["postgres_uri", "mysql_uri"]


@pytest.fixture(params=SERVERS)
def db_uri(request) -> str:
    """The scratch URI of each real server in turn."""
    return request.getfixturevalue(request.param)


def _customer_export() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "户号": ["0012345678", "0000000001", None, "9876543210"],
            "户名": ["张三", "李四", "王五", None],
            "缴费时间": pd.to_datetime(
                ["2024-01-15 08:30:00.123456", None, "2024-03-01 00:00:00", "2023-12-31 23:59:59"],
                format="ISO8601",
            ),
            "抄表日期": [dt.date(2024, 1, 1), None, dt.date(2024, 2, 29), dt.date(1999, 12, 31)],
            "电费金额": [123.45, 0.0, None, -7.5],
            "应缴金额": [Decimal("123.4500"), Decimal("0.0001"), None, Decimal("-99999.9999")],
            "是否欠费": [True, False, None, True],
            "户数": pd.array([1, None, 3, 4], dtype="Int64"),
        }
    )


EXPECTED_TYPES = {
    "户号": pa.string(),
    "户名": pa.string(),
    "缴费时间": pa.timestamp("us"),
    "抄表日期": pa.date32(),
    "电费金额": pa.float64(),
    "应缴金额": pa.decimal128(18, 4),
    "是否欠费": pa.bool_(),
    "户数": pa.int64(),
}

EXPECTED_ROWS = [
    {"户号": "0012345678", "户名": "张三", "缴费时间": dt.datetime(2024, 1, 15, 8, 30, 0, 123456),
     "抄表日期": dt.date(2024, 1, 1), "电费金额": 123.45, "应缴金额": Decimal("123.4500"), "是否欠费": True, "户数": 1},
    {"户号": "0000000001", "户名": "李四", "缴费时间": None,
     "抄表日期": None, "电费金额": 0.0, "应缴金额": Decimal("0.0001"), "是否欠费": False, "户数": None},
    {"户号": None, "户名": "王五", "缴费时间": dt.datetime(2024, 3, 1),
     "抄表日期": dt.date(2024, 2, 29), "电费金额": None, "应缴金额": None, "是否欠费": None, "户数": 3},
    {"户号": "9876543210", "户名": None, "缴费时间": dt.datetime(2023, 12, 31, 23, 59, 59),
     "抄表日期": dt.date(1999, 12, 31), "电费金额": -7.5, "应缴金额": Decimal("-99999.9999"), "是否欠费": True, "户数": 4},
]


# ---------------------------------------------------------------- round trips


@pytest.mark.db
def test_stage_table_round_trips_every_value(db_uri, tmp_path):
    load_frame(db_uri, "客户档案", _customer_export())
    dest = tmp_path / "客户档案.parquet"

    rows = stage_table(db_uri, "客户档案", dest=dest)

    table = pq.read_table(dest)
    assert rows == 4
    assert dict(zip(table.schema.names, table.schema.types)) == EXPECTED_TYPES
    assert sorted(table.to_pylist(), key=lambda r: r["户名"] or "") == sorted(EXPECTED_ROWS, key=lambda r: r["户名"] or "")


@pytest.mark.db
def test_staged_file_reads_in_duckdb_with_leading_zeros(db_uri, tmp_path):
    load_frame(db_uri, "客户档案", _customer_export())
    dest = tmp_path / "staged.parquet"
    stage_table(db_uri, "客户档案", dest=dest)

    with duckdb.connect() as con:
        ids = con.execute("SELECT 户号 FROM read_parquet(?) WHERE 户号 IS NOT NULL ORDER BY 户号", [str(dest)]).fetchall()
    assert ids == [("0000000001",), ("0012345678",), ("9876543210",)]
    assert pq.ParquetFile(dest).metadata.row_group(0).column(0).compression == "ZSTD"


@pytest.mark.db
def test_stage_query_passes_the_sql_verbatim(db_uri, tmp_path):
    load_frame(db_uri, "客户档案", _customer_export())
    dest = tmp_path / "query.parquet"
    # A literal % must reach the server untouched, not be read as a driver placeholder.
    query = "SELECT 户号, 电费金额 AS 金额 FROM 客户档案 WHERE 户号 LIKE '00%' ORDER BY 户号;"

    rows = stage_table(db_uri, query=query, dest=dest)

    assert rows == 2
    assert pq.read_table(dest).to_pylist() == [
        {"户号": "0000000001", "金额": 0.0},
        {"户号": "0012345678", "金额": 123.45},
    ]


@pytest.mark.db
def test_batches_of_seven_stage_all_fifty_rows(db_uri, tmp_path):
    frame = pd.DataFrame({"户号": [f"{i:010d}" for i in range(50)], "读数": [i * 1.5 for i in range(50)]})
    load_frame(db_uri, "readings", frame)
    dest = tmp_path / "readings.parquet"

    rows = stage_table(db_uri, "readings", dest=dest, batch_rows=7)

    table = pq.read_table(dest)
    assert rows == 50 == table.num_rows
    assert pq.ParquetFile(dest).metadata.num_row_groups == 8  # ceil(50 / 7): one row group per batch
    assert sorted(table.column("户号").to_pylist()) == [f"{i:010d}" for i in range(50)]


@pytest.mark.db
def test_empty_table_writes_columns_and_no_rows(db_uri, tmp_path):
    frame = pd.DataFrame({"户号": pd.Series([], dtype=object), "电费金额": pd.Series([], dtype=float)})
    load_frame(db_uri, "empty_export", frame)
    dest = tmp_path / "empty.parquet"

    rows = stage_table(db_uri, "empty_export", dest=dest)

    table = pq.read_table(dest)
    assert rows == 0 == table.num_rows
    assert dict(zip(table.schema.names, table.schema.types)) == {"户号": pa.string(), "电费金额": pa.float64()}


@pytest.mark.db
def test_awkward_table_names_are_quoted_not_concatenated(db_uri, tmp_path):
    name = 'odd "name` ; drop'
    load_frame(db_uri, name, pd.DataFrame({"户号": ["0000000007"]}))
    dest = tmp_path / "odd.parquet"

    assert name in list_tables(db_uri)
    assert stage_table(db_uri, name, dest=dest) == 1
    assert pq.read_table(dest).to_pylist() == [{"户号": "0000000007"}]


@pytest.mark.db
def test_list_tables_sees_only_the_scratch_namespace(db_uri):
    load_frame(db_uri, "b_表", pd.DataFrame({"x": ["1"]}))
    load_frame(db_uri, "a_表", pd.DataFrame({"x": ["1"]}))

    assert list_tables(db_uri) == ["a_表", "b_表"]


# ---------------------------------------------------------------- native column types


@pytest.mark.db
def test_postgres_native_types_map_to_arrow(postgres_uri, tmp_path):
    execute_sql(
        postgres_uri,
        "CREATE TABLE native (户号 VARCHAR(10), 性质 CHAR(2), 金额 NUMERIC(10, 2), 比率 NUMERIC, "
        "次数 SMALLINT, 序号 INTEGER, 有效 BOOLEAN, 时刻 TIMESTAMPTZ, 属性 JSONB, 编号 UUID)",
        "INSERT INTO native VALUES ('0000012345', '居民', 1234.50, 0.125, 3, 7, true, "
        "'2024-05-01 08:00:00+08', '{\"区\": \"东城\"}', '00000000-0000-0000-0000-000000000001'), "
        "(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    )
    dest = tmp_path / "native.parquet"

    stage_table(postgres_uri, "native", dest=dest)

    table = pq.read_table(dest)
    assert dict(zip(table.schema.names, table.schema.types)) == {
        "户号": pa.string(), "性质": pa.string(), "金额": pa.decimal128(10, 2), "比率": pa.float64(),
        "次数": pa.int16(), "序号": pa.int32(), "有效": pa.bool_(), "时刻": pa.timestamp("us", tz="UTC"),
        "属性": pa.string(), "编号": pa.string(),
    }
    first, second = table.to_pylist()
    assert first["户号"] == "0000012345" and first["金额"] == Decimal("1234.50") and first["比率"] == 0.125
    assert first["时刻"] == dt.datetime(2024, 5, 1, 0, 0, tzinfo=dt.timezone.utc)
    assert first["属性"] == '{"区": "东城"}' and first["编号"] == "00000000-0000-0000-0000-000000000001"
    assert set(second.values()) == {None}


@pytest.mark.db
def test_mysql_native_types_map_to_arrow(mysql_uri, tmp_path):
    execute_sql(
        mysql_uri,
        "CREATE TABLE native (户号 VARCHAR(10), 性质 CHAR(2), 金额 DECIMAL(10, 2), 正额 DECIMAL(8, 3) UNSIGNED, "
        "次数 SMALLINT, 序号 INT UNSIGNED, 有效 TINYINT(1), 时长 TIME, 年份 YEAR, 附件 VARBINARY(4)) "
        "CHARACTER SET utf8mb4",
        "INSERT INTO native VALUES ('0000012345', '居民', -1234.50, 12345.678, 3, 4000000000, 1, "
        "'-25:30:00', 2024, X'00FF'), (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    )
    dest = tmp_path / "native.parquet"

    stage_table(mysql_uri, "native", dest=dest)

    table = pq.read_table(dest)
    assert dict(zip(table.schema.names, table.schema.types)) == {
        "户号": pa.string(), "性质": pa.string(), "金额": pa.decimal128(10, 2), "正额": pa.decimal128(8, 3),
        "次数": pa.int16(), "序号": pa.uint32(), "有效": pa.bool_(), "时长": pa.string(), "年份": pa.int16(),
        "附件": pa.binary(),
    }
    first, second = table.to_pylist()
    assert first == {
        "户号": "0000012345", "性质": "居民", "金额": Decimal("-1234.50"), "正额": Decimal("12345.678"),
        "次数": 3, "序号": 4000000000, "有效": True, "时长": "-25:30:00", "年份": 2024, "附件": b"\x00\xff",
    }
    assert set(second.values()) == {None}


# ---------------------------------------------------------------- errors


@pytest.mark.db
def test_unknown_table_lists_the_available_ones(db_uri, tmp_path):
    load_frame(db_uri, "客户档案", _customer_export())

    with pytest.raises(SourceError) as caught:
        stage_table(db_uri, "客户档", dest=tmp_path / "x.parquet")

    message = str(caught.value)
    assert "'客户档' not found" in message and "available tables: 客户档案" in message
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.db
def test_failing_query_names_the_source_and_leaves_no_file(db_uri, tmp_path):
    with pytest.raises(SourceError, match="running the configured query failed") as caught:
        stage_table(db_uri, query="SELECT * FROM no_such_table", dest=tmp_path / "x.parquet")

    assert "no_such_table" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "uri",
    ["postgresql://app:secret@127.0.0.1:1/test", "mysql://app:secret@127.0.0.1:1/test"],
)
def test_unreachable_server_gives_redacted_source_error(uri, tmp_path):
    with pytest.raises(SourceError) as caught:
        stage_table(uri, "客户档案", dest=tmp_path / "x.parquet")

    err = caught.value
    assert "secret" not in str(err) and "secret" not in err.source and "secret" not in err.hint
    assert str(err).startswith(f"cannot connect to {uri.replace('secret', '***')}")
    assert "check the host and port" in err.hint


@pytest.mark.db
def test_rejected_password_gives_redacted_source_error(mysql_uri):
    uri = mysql_uri.replace("://root@", "://gp_nobody:secret@")

    with pytest.raises(SourceError) as caught:
        list_tables(uri)

    assert "secret" not in str(caught.value) and "gp_nobody:***@" in caught.value.source
    assert "user name and password" in caught.value.hint


@pytest.mark.db
def test_missing_postgres_schema_is_reported(postgres_uri):
    uri = postgres_uri.split("?")[0] + "?schema=gp_no_such_schema"

    with pytest.raises(SourceError, match="schema 'gp_no_such_schema' does not exist"):
        list_tables(uri)


def test_stage_table_needs_exactly_one_of_table_or_query(tmp_path):
    with pytest.raises(ValueError, match="exactly one"):
        stage_table("postgresql://h/db", dest=tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="exactly one"):
        stage_table("postgresql://h/db", "t", query="SELECT 1", dest=tmp_path / "x.parquet")


# ---------------------------------------------------------------- URIs


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        ("postgresql://u@h/db", "postgresql"),
        ("postgres://u@h/db", "postgresql"),
        ("postgresql+psycopg://u@h/db", "postgresql"),
        ("mysql://u@h/db", "mysql"),
        ("mariadb://u@h/db", "mysql"),
        ("mysql+pymysql://u@h/db", "mysql"),
    ],
)
def test_database_kind_reads_the_scheme(uri, kind):
    assert database_kind(uri) == kind


def test_unsupported_scheme_names_it_without_the_password():
    with pytest.raises(ValueError) as caught:
        database_kind("mssql://sa:secret@h/db")

    message = str(caught.value)
    assert "'mssql'" in message and "postgresql://" in message and "mysql://" in message
    assert "secret" not in message


@pytest.mark.parametrize(
    ("uri", "redacted"),
    [
        ("postgresql://app:secret@db:5432/mkt", "postgresql://app:***@db:5432/mkt"),
        ("mysql://root@127.0.0.1:3306/test", "mysql://root@127.0.0.1:3306/test"),
        ("mysql://u:p%40ss@h/db?charset=utf8mb4", "mysql://u:***@h/db?charset=utf8mb4"),
        ("mysql://u:p@ss/w?rd@h/db", "mysql://u:***@h/db"),  # unencoded specials must not leak
        ("postgresql://h/db?user=u&password=secret", "postgresql://h/db?user=u&password=***"),
    ],
)
def test_redact_uri_hides_passwords(uri, redacted):
    assert redact_uri(uri) == redacted
