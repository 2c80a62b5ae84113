"""One run on Spark: ingest → validate → text → features → tags → segments → publish, same store as DuckDB.

Every stage runs in Spark and writes its tables as Parquet under the run's work folder. Publishing hands
those folders to `pipeline.store.publish_snapshot`, which writes one `<table>.parquet` per table, the
manifest (engine = "spark") and swaps the store pointer atomically, exactly as for a DuckDB run. The
daily readings are the exception: Spark writes them itself as `usage_daily.parquet/` range parts
(`write_usage_daily_spark`), the layout DuckDB's stages/usage_daily writes.
"""
from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

from pipeline.engine import connect
from pipeline.errors import PortraitError
from pipeline.run import (PUBLISHED_CANONICAL, Progress, RunResult, _check_problems, _manifest, _previous_snapshot,
                          _timed, new_run_id)
from pipeline.settings import Settings
from pipeline.sources.mapping import load_mapping
from pipeline.spark.session import SparkOptions, spark_session
from pipeline.spark.tables import WorkTables
from pipeline.spark.transpile import spark_sql
from pipeline.store import publish_snapshot, work_dir, write_run_manifest


def spark_options(settings: Settings) -> SparkOptions:
    """Return the Spark options of a run: the settings' master and [spark] section."""
    s = settings.spark
    return SparkOptions(master=settings.spark_master, driver_memory=s.driver_memory,
                        shuffle_partitions=s.shuffle_partitions, fit_sample_rows=s.fit_sample_rows)


def _published_tables(work: WorkTables, settings: Settings, published: list[str]) -> dict[str, str]:
    """Return name -> DuckDB query over the Spark work tables, as run.py publishes a DuckDB run."""
    def src(name: str) -> str:
        return f"read_parquet('{str(work.path(name)).replace(chr(39), chr(39) * 2)}/*.parquet')"

    tables = {name: f"SELECT * FROM {src(name)}" for name in PUBLISHED_CANONICAL}
    tables["features"] = f"SELECT * FROM {src('features')} ORDER BY customer_id"
    tables["rejects"] = f"SELECT * FROM {src('rejects')} ORDER BY table_name, source, line"
    if "contact_text" in work.names:
        tables["contact_text"] = f"SELECT * FROM {src('contact_text')} ORDER BY ticket_id"
    order = {"tags_wide": " ORDER BY customer_id", "tags": " ORDER BY customer_id, tag_id", "segments": " ORDER BY customer_id"}
    for name in published:
        tables[name] = f"SELECT * FROM {src(name)}{order.get(name, '')}"
    return tables


def write_usage_daily_spark(work: WorkTables, settings: Settings, folder: Path) -> Path:
    """Write the published window of readings as DuckDB's stages/usage_daily does: a folder of part files,
    each one contiguous range of 户号, named part-<k>-0.parquet in 户号 order.

    Spark writes the parts itself (a range repartition, each task one file), so publishing never
    funnels a year of readings through the driver: a driver-side sort of 365M rows took 150 s and
    11 GB at 1M customers.
    """
    from pipeline.stages.usage_daily import CUSTOMERS_PER_FILE, _place, window_filter

    spark = work.spark
    window = spark.sql(spark_sql(f"SELECT * FROM readings WHERE {window_filter(settings.as_of)}"))
    customers = work.count("customers")  # one row per 户号; every accepted reading's customer is there
    parts = max(1, -(-customers // CUSTOMERS_PER_FILE))
    staging = folder.with_name(folder.name + ".spark")
    shutil.rmtree(staging, ignore_errors=True)
    # Within a part rows keep no particular order, as in DuckDB's parts.
    window.repartitionByRange(parts, "customer_id").write.option("compression", "zstd").parquet(str(staging))
    files = sorted(staging.glob("part-*.parquet"))  # part-<partition>-…: partition order is 户号 order
    if not files:  # no reading in the window: one empty file keeps the columns
        window.limit(0).coalesce(1).write.mode("overwrite").option("compression", "zstd").parquet(str(staging))
        files = sorted(staging.glob("part-*.parquet"))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for k, f in enumerate(files):
        _place(folder, k, [f])  # DuckDB's own naming: part-<k>-0.parquet
    shutil.rmtree(staging, ignore_errors=True)
    return folder


def run_pipeline_spark(settings: Settings, progress: Progress | None = None, keep_work: bool = False,
                       spark=None) -> RunResult:
    """Run every stage on Spark for one as-of date, publish the snapshot; return what happened."""
    from pipeline.spark.features import build_features_spark
    from pipeline.spark.ingest import ingest_sources_spark
    from pipeline.spark.segments import build_segments_spark
    from pipeline.spark.tags import evaluate_tags_spark
    from pipeline.spark.text import contact_text_spark
    from pipeline.spark.validate import validate_sources_spark

    options = spark_options(settings)
    run_id = new_run_id()
    started = datetime.now(timezone.utc)
    timings: dict[str, float] = {}
    counts, staged, warnings, mapping_sources, rows = {}, [], [], [], {}
    store = Path(settings.store)
    scratch = work_dir(store, run_id)
    try:
        with _timed(timings, "spark", progress):
            spark = spark or spark_session(options)
        work = WorkTables(spark, scratch / "tables")
        mapping = load_mapping(settings.mapping)
        mapping_sources = list(mapping.sources)
        with _timed(timings, "ingest", progress):
            staged, problems = ingest_sources_spark(spark, settings.sources, mapping, scratch)
        _check_problems(problems, staged)
        warnings = list(problems.warnings)
        with _timed(timings, "validate", progress):
            counts = validate_sources_spark(work, staged, mapping, settings.as_of)
        unbalanced = [c.table for c in counts.values() if not c.balanced]
        if unbalanced:
            raise PortraitError(f"row accounting does not balance for {', '.join(unbalanced)}",
                                hint="this is a grid-portrait bug; run with --debug and report it")
        with _timed(timings, "text", progress):
            rows["contact_text"] = contact_text_spark(work)
        with _timed(timings, "features", progress):
            rows.update(build_features_spark(work, settings.as_of, settings.params))
        published: dict[str, int] = {}
        with _timed(timings, "tags", progress):
            published.update(evaluate_tags_spark(work, settings.as_of, settings.params))
        with _timed(timings, "segments", progress):
            previous = _previous_snapshot(store, settings)
            try:
                published.update(build_segments_spark(work, settings.as_of, settings.params, previous,
                                                      options.fit_sample_rows))
            finally:
                if previous is not None:
                    previous.close()
        rows.update(published)
        with _timed(timings, "publish", progress):
            usage = write_usage_daily_spark(work, settings, scratch / "usage_daily.parquet")
            con = connect(scratch / "publish.duckdb", settings.duckdb)
            try:
                manifest = _spark_manifest(run_id, settings, started, timings, counts, staged, warnings,
                                           mapping_sources, rows, spark, options)
                snap = publish_snapshot(con, store, settings.as_of, run_id,
                                        _published_tables(work, settings, list(published)), manifest,
                                        folders={"usage_daily": usage})
            finally:
                con.close()
        manifest = _spark_manifest(run_id, settings, started, timings, counts, staged, warnings, mapping_sources,
                                   rows, spark, options)
        manifest["snapshot"] = str(snap.relative_to(store))
        path = write_run_manifest(store, manifest)
        return RunResult(run_id, settings, counts, timings, warnings, problems, staged, snap, path, rows)
    except BaseException as err:
        msg = str(err) if isinstance(err, PortraitError) else f"{type(err).__name__}: {err}"
        write_run_manifest(store, _manifest(run_id, settings, "failed", started, timings, counts, staged,
                                            warnings, mapping_sources, error=msg, rows=rows))
        raise
    finally:
        if not keep_work:
            shutil.rmtree(scratch, ignore_errors=True)


def _spark_manifest(run_id, settings, started, timings, counts, staged, warnings, mapping_sources, rows, spark,
                    options: SparkOptions) -> dict:
    manifest = _manifest(run_id, settings, "published", started, timings, counts, staged, warnings,
                         mapping_sources, rows=rows)
    manifest["engine"] = "spark"
    manifest["host"]["spark"] = {"version": spark.version, "master": spark.sparkContext.master,
                                 "shuffle_partitions": spark.conf.get("spark.sql.shuffle.partitions"),
                                 "fit_sample_rows": options.fit_sample_rows}
    return manifest
