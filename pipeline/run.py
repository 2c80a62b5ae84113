"""One run: exports in, validated canonical tables, features, published snapshot, manifest."""
from __future__ import annotations

import importlib.util
import logging
import os
import platform
import secrets
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import duckdb

from pipeline import __version__
from pipeline.background import BackgroundStage
from pipeline.engine import connect
from pipeline.errors import IngestError, PortraitError
from pipeline.settings import Settings
from pipeline.sources.mapping import describe_mapping, load_mapping
from pipeline.stages.features import CUSTOMERS_PER_PASS, build_features, build_readings_features
from pipeline.stages.ingest import IngestProblems, StagedSource, ingest_sources
from pipeline.stages.usage_daily import extend_usage_daily, write_usage_daily
from pipeline.stages.validate import TableCounts, validate_sources
from pipeline.incremental import (
    base_snapshot,
    label_base_sources,
    reusable_contact_text,
    reusable_usage_daily,
    text_model_version,
    with_base_sources,
)
from pipeline.store import Snapshot, publish_snapshot, work_dir, write_run_manifest

log = logging.getLogger("portrait")
Progress = Callable[[str], None]

# Canonical tables published as they are; readings are published as `usage_daily` (stages/usage_daily.py).
PUBLISHED_CANONICAL = ("customers", "bills", "payments", "contacts", "outages", "applications")


@dataclass
class RunResult:
    """What a run did: counts, timings, warnings, and where it published."""

    run_id: str
    settings: Settings
    counts: dict[str, TableCounts]
    timings: dict[str, float]
    warnings: list[str]
    problems: IngestProblems
    staged: list[StagedSource] = field(default_factory=list)
    snapshot: Path | None = None
    manifest_path: Path | None = None
    rows: dict[str, int] = field(default_factory=dict)
    # stages that ran beside others (pipeline/background.py): their own wall time; their `timings`
    # entry is the time the run waited for them, so the timings still add up to the run's wall time
    background: dict[str, float] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        """Return True when every table satisfies accepted + rejected = read."""
        return all(c.balanced for c in self.counts.values())


def new_run_id() -> str:
    """Return a sortable, unique run id."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def code_version() -> str:
    """Return the package version plus the git commit when running from a checkout."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+{sha}" if sha else __version__


@contextmanager
def _timed(timings: dict[str, float], stage: str, progress: Progress | None, add: bool = False) -> Iterator[None]:
    """Time the block as `stage` (`add`: onto the stage's earlier time, for a stage run in two parts)."""
    if progress:
        progress(stage)
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = round((timings.get(stage, 0.0) if add else 0.0) + time.perf_counter() - start, 3)


def _check_problems(problems: IngestProblems, staged: list[StagedSource]) -> None:
    if problems.errors:
        if len(problems.errors) == 1:
            raise problems.errors[0]
        lines = "\n  ".join(str(e) for e in problems.errors)
        raise IngestError(f"{len(problems.errors)} exports cannot be read:\n  {lines}")
    if not any(s.table == "customers" for s in staged):
        raise IngestError("no export feeds the customers table (客户档案)",
                          hint="every run needs the customer archive; add it to the source folder or set table = \"customers\" on a source")


def _ingest_and_validate(con: duckdb.DuckDBPyConnection, settings: Settings, scratch: Path,
                         timings: dict[str, float], progress: Progress | None, base: Snapshot | None = None):
    mapping = load_mapping(settings.mapping)
    with _timed(timings, "ingest", progress):
        if base is None:
            staged, problems = ingest_sources(con, settings.sources, mapping, scratch)
        else:  # the base snapshot's tables first: a new row repeating one of their keys is the duplicate
            staged, problems = ingest_sources(con, with_base_sources(settings, base).sources, mapping, scratch)
            staged = label_base_sources(staged, base)
    _check_problems(problems, staged)
    with _timed(timings, "validate", progress):
        counts = validate_sources(con, staged, mapping, settings.as_of)
    unbalanced = [c.table for c in counts.values() if not c.balanced]
    if unbalanced:  # a bug, not bad data: refuse to publish rather than lose rows
        raise PortraitError(f"row accounting does not balance for {', '.join(unbalanced)}",
                            hint="this is a grid-portrait bug; run with --debug and report it")
    return mapping, staged, problems, counts


def validate_only(settings: Settings, progress: Progress | None = None) -> RunResult:
    """Return the validation report for the sources, writing nothing to any store."""
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="portrait-validate-") as tmp:
        con = connect(Path(tmp) / "work.duckdb", settings.duckdb)
        try:
            _, staged, problems, counts = _ingest_and_validate(con, settings, Path(tmp), timings, progress)
        finally:
            con.close()
    return RunResult("validate", settings, counts, timings, problems.warnings, problems, staged)


def _published_tables(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    tables = {name: f'SELECT * FROM "{name}"' for name in PUBLISHED_CANONICAL}
    tables["features"] = "SELECT * FROM features"
    tables["rejects"] = "SELECT * FROM rejects ORDER BY table_name, source, line"
    optional = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    for extra in ("contact_text",):
        if extra in optional:
            tables[extra] = f'SELECT * FROM "{extra}"'
    return tables


def _previous_snapshot(store: Path, settings: Settings) -> duckdb.DuckDBPyConnection | None:
    """Return a read-only view of the latest snapshot before this as-of date, if there is one."""
    from pipeline.store import open_snapshot, snapshots

    try:
        earlier = [s for s in snapshots(store) if s.as_of < settings.as_of]
    except PortraitError:
        return None
    return open_snapshot(store, earlier[-1].as_of) if earlier else None


def _manifest(run_id: str, settings: Settings, status: str, started: datetime, timings: dict[str, float],
              counts: dict[str, TableCounts], staged: list[StagedSource], warnings: list[str],
              mapping_sources: list[str], error: str | None = None, rows: dict[str, int] | None = None,
              base: Snapshot | None = None, background: dict[str, float] | None = None) -> dict:
    return {
        "run_id": run_id,
        "status": status,
        "as_of": settings.as_of.isoformat(),
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "engine": settings.engine,
        "host": {"python": platform.python_version(), "duckdb": duckdb.__version__, "cpus": os.cpu_count()},
        "sources": [s.label() for s in settings.sources],
        "inputs": [{**s.info, "table": s.table, "label": s.label, "mapping": describe_mapping(s.resolution)} for s in staged],
        "mapping_files": mapping_sources,
        "params": asdict(settings.params),
        "counts": {k: {"read": v.read, "accepted": v.accepted, "rejected": v.rejected, "reasons": v.reasons,
                       "sources": v.sources} for k, v in counts.items()},
        "rows": rows or {},
        "timings": timings,
        "total_seconds": round(sum(timings.values()), 3),
        "background_seconds": background or {},
        "warnings": warnings,
        "error": error,
        "text_model": text_model_version(),
        **({"incremental": {"base_as_of": base.as_of.isoformat(), "base_run_id": base.run_id}} if base else {}),
    }


def run_pipeline(settings: Settings, progress: Progress | None = None, keep_work: bool = False) -> RunResult:
    """Run ingest → validate → text → usage_daily → features → tags → segments → publish for one as-of date."""
    if settings.engine == "spark":
        if settings.incremental:
            raise PortraitError("incremental runs use the DuckDB engine",
                                hint="drop --incremental for a full Spark run, or run the month with --engine duckdb")
        from pipeline.spark.run import run_pipeline_spark

        return run_pipeline_spark(settings, progress, keep_work)
    run_id = new_run_id()
    started = datetime.now(timezone.utc)
    timings: dict[str, float] = {}
    background: dict[str, float] = {}  # stages run beside others: their own wall time (not in the total)
    counts: dict[str, TableCounts] = {}
    staged: list[StagedSource] = []
    warnings: list[str] = []
    mapping_sources: list[str] = []
    store = Path(settings.store)
    base = base_snapshot(store, settings.as_of) if settings.incremental else None
    scratch = work_dir(store, run_id)
    con = connect(scratch / "work.duckdb", settings.duckdb)
    rows: dict[str, int] = {}
    jobs: list[BackgroundStage] = []  # stages running beside the run's own thread
    try:
        mapping, staged, problems, counts = _ingest_and_validate(con, settings, scratch, timings, progress, base)
        mapping_sources = list(mapping.sources)
        warnings = list(problems.warnings)
        from pipeline.stages.text import BACKGROUND_NICE, contact_text

        # Text runs beside usage_daily and the reading models, on the cores they leave idle; the run
        # waits for it before the models over contacts. timings["text"] is that wait (what text adds
        # to the run's wall time), background["text"] its own wall time.
        workers = settings.duckdb.threads or None
        reuse = reusable_contact_text(base) if base is not None else None
        jobs.append(text_job := BackgroundStage("text", con, lambda cur, stop: contact_text(
            cur, workers, reuse, nice=BACKGROUND_NICE, stop=stop)))
        with _timed(timings, "usage_daily", progress):
            reuse_daily = reusable_usage_daily(base, staged, counts) if base is not None else None
            if reuse_daily is not None:
                usage = extend_usage_daily(con, settings.as_of, scratch / "usage_daily.parquet", *reuse_daily)
            else:
                usage = write_usage_daily(con, settings.as_of, scratch / "usage_daily.parquet")
        passes = usage.passes(CUSTOMERS_PER_PASS)
        with _timed(timings, "features", progress):
            prebuilt = build_readings_features(con, settings.as_of, settings.params, passes)
        with _timed(timings, "text", progress):
            rows["contact_text"] = text_job.result()
        background["text"] = text_job.seconds
        with _timed(timings, "features", progress, add=True):
            rows.update(build_features(con, settings.as_of, settings.params, readings_passes=passes,
                                       prebuilt=prebuilt))
        published: dict[str, int] = {}
        if importlib.util.find_spec("pipeline.stages.tags"):
            with _timed(timings, "tags", progress):
                from pipeline.stages.tags import evaluate_tags

                published.update(evaluate_tags(con, settings.as_of, settings.params))
        if importlib.util.find_spec("pipeline.stages.segments"):
            # (not beside tags: both keep the two cores busy, and side by side they took as long,
            # 19.4–20.6 s against 20.1 s one after the other at 1M, at 0.9 GB more memory)
            with _timed(timings, "segments", progress):
                from pipeline.stages.segments import build_segments

                previous = _previous_snapshot(store, settings)
                try:
                    published.update(build_segments(con, settings.as_of, settings.params, previous,
                                                   readings_files=usage.files))
                finally:
                    if previous is not None:
                        previous.close()
        rows.update(published)
        manifest = _manifest(run_id, settings, "published", started, timings, counts, staged, warnings,
                             mapping_sources, rows=rows, base=base, background=background)
        with _timed(timings, "publish", progress):
            tables = {**_published_tables(con), **{t: f'SELECT * FROM "{t}"' for t in published}}
            snap = publish_snapshot(con, store, settings.as_of, run_id, tables, manifest,
                                    folders={"usage_daily": usage.folder})
        manifest = _manifest(run_id, settings, "published", started, timings, counts, staged, warnings,
                             mapping_sources, rows=rows, base=base, background=background)
        manifest["snapshot"] = str(snap.relative_to(store))
        path = write_run_manifest(store, manifest)
        return RunResult(run_id, settings, counts, timings, warnings, problems, staged, snap, path, rows, background)
    except BaseException as err:
        msg = str(err) if isinstance(err, PortraitError) else f"{type(err).__name__}: {err}"
        write_run_manifest(store, _manifest(run_id, settings, "failed", started, timings, counts, staged,
                                            warnings, mapping_sources, error=msg, rows=rows, base=base,
                                            background=background))
        raise
    finally:
        for job in jobs:
            job.stop()  # (at once when it finished: a failed run must not leave one running)
        con.close()
        if not keep_work:
            shutil.rmtree(scratch, ignore_errors=True)
