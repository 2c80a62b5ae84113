"""Ingest on Spark: the same exports, header mapping and contracts as DuckDB, read by Spark's readers.

CSV is read as text (GBK/GB18030 through the reader's `encoding` option) and typed by the validate SQL;
Parquet is read as it is; Excel is converted to Parquet by the repo's reader first, and so are database
tables. Each export becomes a temp view `_gp_src_<n>` with `_gp_idx` (its 1-based row number in the file)
and the raw headers, described by the same `StagedSource` the DuckDB validate code generates SQL from.
"""
from __future__ import annotations

from pathlib import Path

from pipeline.contracts import TABLES
from pipeline.errors import IngestError
from pipeline.settings import SourceSpec
from pipeline.sources import files as filesrc
from pipeline.sources.mapping import Mapping, resolve_headers, table_for_file
from pipeline.stages.ingest import IngestProblems, StagedSource, _check_declared_encoding, ingest_sources

CORRUPT = "_gp_corrupt"
_ROW_BITS = 33  # monotonically_increasing_id(): partition index << 33 | row within the partition
# Contacts carry free text, where a quoted cell may hold a line break: read those files whole.
_MULTILINE_TABLES = ("contacts",)


def duckdb_type(spark_type) -> str:
    """Return the DuckDB type name the validate SQL expects for a Spark column type."""
    from pyspark.sql import types as T

    if isinstance(spark_type, T.StringType):
        return "VARCHAR"
    if isinstance(spark_type, T.DecimalType):
        return f"DECIMAL({spark_type.precision},{spark_type.scale})"
    return {T.DateType: "DATE", T.TimestampType: "TIMESTAMP", T.TimestampNTZType: "TIMESTAMP", T.DoubleType: "DOUBLE",
            T.FloatType: "FLOAT", T.LongType: "BIGINT", T.IntegerType: "INTEGER", T.ShortType: "SMALLINT",
            T.ByteType: "TINYINT", T.BooleanType: "BOOLEAN"}.get(type(spark_type), "VARCHAR")


def with_row_index(spark, df, start: int = 1):
    """Return `df` with `_gp_idx`: consecutive row numbers in read order, computed without a global sort."""
    from pyspark.sql import functions as F

    mask = (1 << _ROW_BITS) - 1
    df = df.withColumn("_gp_mid", F.monotonically_increasing_id())
    part = F.shiftright(F.col("_gp_mid"), _ROW_BITS)
    counts = dict(df.groupBy(part.alias("p")).count().collect())
    offsets, total = {}, start
    for p in sorted(counts):
        offsets[p] = total
        total += counts[p]
    if not offsets:
        return df.withColumn("_gp_idx", F.lit(start).cast("bigint")).drop("_gp_mid")
    offset = F.element_at(F.create_map(*[x for p, o in offsets.items() for x in (F.lit(p), F.lit(o))]),
                          part)
    return df.withColumn("_gp_idx", (offset + (F.col("_gp_mid").bitwiseAND(mask))).cast("bigint")).drop("_gp_mid")


def _read_csv(spark, path: Path, headers: list[str], delim: str, encoding: str, multiline: bool):
    from pyspark.sql import types as T

    schema = T.StructType([T.StructField(h, T.StringType()) for h in headers] + [T.StructField(CORRUPT, T.StringType())])
    return (spark.read.option("header", True).option("sep", delim).option("quote", '"').option("escape", '"')
            .option("encoding", encoding).option("multiLine", multiline).option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", CORRUPT).option("enforceSchema", True)
            .schema(schema).csv(str(path)))


def stage_file_spark(spark, path: Path, index: int, work_dir: Path, mapping: Mapping, spec: SourceSpec,
                     problems: IngestProblems) -> StagedSource | None:
    """Return one export registered as Spark view `_gp_src_<index>`, or None (with the problem recorded)."""
    fmt = filesrc.file_format(path)
    info = filesrc.file_info(path)
    meta = {"path": str(path), "format": fmt, "size": info.size, "sha256": info.sha256}
    encoding, has_line = None, False
    if fmt == "csv":
        encoding = filesrc.normalise_encoding(spec.encoding) if spec.encoding else filesrc.detect_encoding(path)
        if spec.encoding:
            _check_declared_encoding(path, encoding)
        meta["encoding"] = encoding
        readable = path
        if encoding not in ("utf-8", "ascii"):
            # The header line is read by Python; the rows by Spark's reader in the file's own encoding.
            readable = work_dir / f"src{index}.head.utf8.csv"
            with open(path, "rb") as src, open(readable, "wb") as dst:
                dst.write(src.readline().decode(encoding, errors="replace").encode("utf-8"))
        headers, delim = filesrc.csv_header(readable)
        df = None
    elif fmt == "excel":
        staged = work_dir / f"src{index}.parquet"
        filesrc.stage_excel(path, staged, spec.sheet)
        df, has_line = spark.read.parquet(str(staged)), True
        headers = [c for c in df.columns if not c.startswith("_gp_")]
    else:
        df = spark.read.parquet(str(path))
        headers = list(df.columns)
    table = spec.table or table_for_file(mapping, path.name, headers)
    if table is None:
        problems.unassigned.append(path.name)
        problems.warnings.append(
            f"{path.name}: matches no canonical table by name or headers; it was not loaded "
            "(add a `files:` pattern to the mapping, or set table = … for this source)")
        return None
    if table not in TABLES:
        raise IngestError(f"source {spec.label()}: unknown table {table!r}", hint=f"tables are {', '.join(TABLES)}")
    resolution = resolve_headers(mapping, table, headers, path.name)
    if fmt == "csv":
        df = _read_csv(spark, path, headers, delim, "utf-8" if encoding == "ascii" else encoding,
                       table in _MULTILINE_TABLES)
        df = with_row_index(spark, df)
    elif has_line:
        df = df.withColumnRenamed("_gp_line", "_gp_idx")
    else:
        df = with_row_index(spark, df)
    df.createOrReplaceTempView(f"_gp_src_{index}")
    types = {f.name: duckdb_type(f.dataType) for f in df.schema.fields if not f.name.startswith("_gp_")}
    return StagedSource(index, table, path.name, fmt, f"_gp_src_{index}", resolution, has_line, encoding,
                        CORRUPT if fmt == "csv" else None, meta, types)


def stage_database_spark(spark, spec: SourceSpec, index: int, work_dir: Path, mapping: Mapping) -> StagedSource:
    """Return a database table or query staged as Parquet (by the repo's reader) and registered in Spark."""
    from pipeline.sources.database import stage_table

    dest = work_dir / f"src{index}.parquet"
    rows = stage_table(spec.resolved_uri(), table=spec.source_table, query=spec.query, dest=dest)
    df = with_row_index(spark, spark.read.parquet(str(dest)))
    df.createOrReplaceTempView(f"_gp_src_{index}")
    types = {f.name: duckdb_type(f.dataType) for f in df.schema.fields if not f.name.startswith("_gp_")}
    label = spec.label()
    resolution = resolve_headers(mapping, spec.table, list(types), label)
    meta = {"source": label, "format": "database", "rows_staged": rows}
    return StagedSource(index, spec.table, label, "database", f"_gp_src_{index}", resolution, False, None, None, meta, types)


def ingest_sources_spark(spark, sources: tuple[SourceSpec, ...], mapping: Mapping,
                         work_dir: Path) -> tuple[list[StagedSource], IngestProblems]:
    """Return every export registered in Spark and mapped, plus the whole-file problems found on the way."""
    return ingest_sources(spark, sources, mapping, work_dir, stage_file=stage_file_spark,
                          stage_database=stage_database_spark)
