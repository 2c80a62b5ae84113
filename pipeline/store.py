"""The portrait store: a folder of Parquet snapshots keyed by as-of date, published atomically.

Layout (documented in the README; readers need only this and store.json):

    STORE/
      store.json                        which run directory is current for each as-of date
      snapshots/<as_of>/<run_id>/       one published snapshot: <table>.parquet + manifest.json
      runs/<run_id>.json                the manifest of every run, published or failed
      .work/<run_id>/                   a run's scratch space, removed when the run ends
      .lock                             held while a run publishes

Publishing writes a new run directory, then swaps the pointer in store.json with an atomic
rename. A crash at any point leaves the previous snapshot and pointer untouched. Re-running an
as-of date replaces only that date's pointer.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterator

import duckdb

from pipeline.errors import StoreError

log = logging.getLogger("portrait.store")
FORMAT_VERSION = 1
POINTER = "store.json"
KEEP_PREVIOUS = 1  # older run directories of an as-of date kept for readers still open on them


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data: dict) -> None:
    """Write `data` as JSON to `path` so readers see the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False, indent=2, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def read_pointer(store: Path) -> dict:
    """Return store.json, or an empty pointer for a store that has never published."""
    p = Path(store) / POINTER
    if not p.exists():
        return {"format": FORMAT_VERSION, "snapshots": {}}
    data = json.loads(p.read_text(encoding="utf-8"))
    if data.get("format") != FORMAT_VERSION:
        raise StoreError(f"{p} has store format {data.get('format')}, this version reads {FORMAT_VERSION}",
                         hint="upgrade grid-portrait, or rebuild the store with `portrait run`")
    return data


@contextmanager
def store_lock(store: Path) -> Iterator[None]:
    """Hold the store's writer lock; a second concurrent publisher fails fast with a clear error."""
    Path(store).mkdir(parents=True, exist_ok=True)
    fh = open(Path(store) / ".lock", "w")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(f"store {store} is being published by another run",
                             hint="wait for it to finish, or remove a stale .lock if no run is active") from None
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def work_dir(store: Path, run_id: str) -> Path:
    """Return (and create) a run's scratch folder inside the store."""
    path = Path(store) / ".work" / run_id
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_run_manifest(store: Path, manifest: dict) -> Path:
    """Record a run's manifest under runs/, whatever its outcome."""
    runs = Path(store) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    path = runs / f"{manifest['run_id']}.json"
    write_json_atomic(path, manifest)
    return path


def publish_snapshot(con: duckdb.DuckDBPyConnection, store: Path, as_of: date, run_id: str,
                     tables: dict[str, str], manifest: dict, folders: dict[str, Path] | None = None) -> Path:
    """Write `tables` (name -> SQL query) as the as-of snapshot and switch the pointer; return its folder.

    `folders` (name -> a folder of Parquet parts already written inside the store, such as
    usage_daily) are moved in as `<name>.parquet/`: every reader takes a folder as one table.
    """
    store = Path(store)
    day_dir = store / "snapshots" / as_of.isoformat()
    day_dir.mkdir(parents=True, exist_ok=True)
    with store_lock(store):
        for stale in day_dir.glob(".tmp-*"):  # left by a run that crashed mid-publish
            shutil.rmtree(stale, ignore_errors=True)
        tmp = day_dir / f".tmp-{run_id}"
        tmp.mkdir()
        def write(item: tuple[str, str]) -> None:
            name, query = item
            target = str(tmp / f"{name}.parquet").replace("'", "''")
            start = time.perf_counter()
            cursor = con.cursor()
            try:
                cursor.execute(f"COPY ({query}) TO '{target}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)")
            finally:
                cursor.close()
            log.debug("published %s in %.2fs", name, time.perf_counter() - start)

        # Two writers at once: one Parquet COPY leaves a core idle much of the time (publish ran at
        # 1.6 of 2 cores). The long `tags` table goes first; the other tables share the second writer.
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(write, sorted(tables.items(), key=lambda item: item[0] != "tags")))
        for name, folder in (folders or {}).items():
            shutil.move(str(folder), tmp / f"{name}.parquet")  # a rename: the run's work folder is in the store
        manifest = {**manifest, "tables": sorted({*tables, *(folders or {})})}
        write_json_atomic(tmp / "manifest.json", manifest)
        for f in tmp.rglob("*"):
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
            else:
                _fsync_dir(f)
        final = day_dir / run_id
        os.rename(tmp, final)
        _fsync_dir(day_dir)
        pointer = read_pointer(store)
        pointer["snapshots"][as_of.isoformat()] = {
            "path": str(final.relative_to(store)),
            "run_id": run_id,
            "published_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        pointer["updated_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_json_atomic(store / POINTER, pointer)
        _prune(day_dir, keep=final.name)
    return final


def _prune(day_dir: Path, keep: str) -> None:
    others = sorted((p for p in day_dir.iterdir() if p.is_dir() and p.name != keep and not p.name.startswith(".")),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for old in others[KEEP_PREVIOUS:]:
        shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class Snapshot:
    """One published as-of snapshot."""

    as_of: date
    path: Path
    run_id: str

    def table_path(self, name: str) -> Path:
        """Return the Parquet file of table `name` in this snapshot."""
        return self.path / f"{name}.parquet"

    def tables(self) -> list[str]:
        """Return the table names this snapshot holds."""
        return sorted(p.stem for p in self.path.glob("*.parquet"))

    def manifest(self) -> dict:
        """Return the run manifest the snapshot was published with."""
        return json.loads((self.path / "manifest.json").read_text(encoding="utf-8"))


def snapshots(store: Path) -> list[Snapshot]:
    """Return every published snapshot, oldest as-of first."""
    store = Path(store)
    if not (store / POINTER).exists():
        raise StoreError(f"{store} is not a portrait store (no {POINTER})",
                         hint="run `portrait demo` or `portrait run --store …` first")
    pointer = read_pointer(store)
    return [Snapshot(date.fromisoformat(k), store / v["path"], v["run_id"]) for k, v in sorted(pointer["snapshots"].items())]


def snapshot(store: Path, as_of: date | None = None) -> Snapshot:
    """Return the snapshot for `as_of`, or the latest one."""
    snaps = snapshots(store)
    if not snaps:
        raise StoreError(f"store {store} has no published snapshot", hint="run `portrait run` first")
    if as_of is None:
        return snaps[-1]
    for s in snaps:
        if s.as_of == as_of:
            return s
    raise StoreError(f"store {store} has no snapshot for {as_of}",
                     hint=f"available as-of dates: {', '.join(s.as_of.isoformat() for s in snaps)}")


def open_snapshot(store: Path, as_of: date | None = None) -> duckdb.DuckDBPyConnection:
    """Return an in-memory DuckDB connection with a read-only view per published table.

    Views named after the tables show the chosen snapshot; `<table>_history` views union the
    table over every as-of date with an `as_of` column; `runs` lists every run's manifest.
    """
    snap = snapshot(store, as_of)
    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    for name in snap.tables():
        con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet(\'{_sql_path(snap.table_path(name))}\')')
    history: dict[str, list[tuple[date, Path]]] = {}
    for s in snapshots(store):
        for name in s.tables():
            history.setdefault(name, []).append((s.as_of, s.table_path(name)))
    for name, parts in history.items():
        selects = []
        for d, p in parts:
            cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{_sql_path(p)}')").fetchall()]
            rest = "* EXCLUDE (as_of)" if "as_of" in cols else "*"  # the snapshot's date wins
            selects.append(f"SELECT DATE '{d.isoformat()}' AS as_of, {rest} FROM read_parquet('{_sql_path(p)}')")
        con.execute(f'CREATE VIEW "{name}_history" AS {" UNION ALL BY NAME ".join(selects)}')
    runs_glob = Path(store) / "runs" / "*.json"
    if list((Path(store) / "runs").glob("*.json")):
        con.execute(f"CREATE VIEW runs AS SELECT * FROM read_json('{_sql_path(runs_glob)}', union_by_name=true, "
                    "maximum_object_size=67108864)")
    return con


def _sql_path(p: Path) -> str:
    return str(p).replace("'", "''")
