"""DuckDB connection factory: every connection is opened explicitly, with the run's resource limits."""
from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.settings import DuckDBSettings


def connect(path: Path | str | None = None, settings: DuckDBSettings | None = None,
            read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Return a DuckDB connection (in memory when `path` is None) with the run's limits applied."""
    settings = settings or DuckDBSettings()
    config: dict[str, object] = {
        # Row order of a scan is how CSV line numbers are recovered; keep it.
        "preserve_insertion_order": True,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    if settings.memory_limit:
        config["memory_limit"] = settings.memory_limit
    if settings.threads:
        config["threads"] = settings.threads
    if settings.temp_directory:
        config["temp_directory"] = settings.temp_directory
    return duckdb.connect(str(path) if path else ":memory:", read_only=read_only, config=config)
