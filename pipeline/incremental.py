"""Incremental run: add the exports of the new period to the latest earlier snapshot in the store.

    portrait run --incremental --source exports/2025-12/ --as-of 2025-12-31

The store's latest snapshot before the as-of date is the base. Its published canonical tables
(already validated, typed Parquet) are staged as sources ahead of the new exports, so the run reads
only the new period from the operational systems:

- The new rows go through the same checks as in a full run. A new row whose key is already in the
  base (a re-exported day, bill or ticket) is rejected as a duplicate that names the snapshot file.
- 客户档案 is master data: when the new exports carry it, it replaces the base's customers (and base
  rows of customers no longer in it are rejected, as a full run would); otherwise the base's is kept.
- Contact texts already classified in the base are reused (when the text model is the same); only
  the new contacts are classified.
- The base's published daily readings (usage_daily) are kept as they are when validation accepted
  every one of their rows again: the new period's readings are written next to them, range by range
  of 户号 (stages/usage_daily.extend_usage_daily), instead of the whole window being split and encoded
  again.
- Features, tags and segments are then computed over the union exactly as in a full run, so the
  snapshot equals what a full run over all the exports gives for that as-of date.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date
from pathlib import Path

from pipeline.contracts import TABLES
from pipeline.errors import ConfigError, StoreError
from pipeline.settings import Settings, SourceSpec
from pipeline.stages.ingest import StagedSource
from pipeline.stages.usage_daily import base_parts
from pipeline.stages.validate import TableCounts
from pipeline.store import Snapshot, snapshots

# canonical table -> the snapshot table it is published as
BASE_TABLES = {"customers": "customers", "readings": "usage_daily", "bills": "bills", "payments": "payments",
               "contacts": "contacts", "outages": "outages", "applications": "applications"}
TEXT_DIR = Path(__file__).resolve().parent / "text"


def base_snapshot(store: Path, as_of: date) -> Snapshot:
    """Return the latest snapshot before `as_of`: what an incremental run builds on."""
    try:
        earlier = [s for s in snapshots(store) if s.as_of < as_of]
    except StoreError:  # not a store yet
        earlier = []
    if not earlier:
        raise ConfigError(f"store {store} has no snapshot before {as_of} to add the new exports to",
                          hint="run a full `portrait run` first (without --incremental)")
    base = earlier[-1]
    if base.manifest().get("engine", "duckdb") != "duckdb":
        raise ConfigError(f"the base snapshot {base.as_of} was published by the Spark engine",
                          hint="incremental runs build on a DuckDB snapshot; run a full run first")
    return base


def base_sources(base: Snapshot) -> tuple[SourceSpec, ...]:
    """Return one source per published canonical table of the base snapshot, in contract order."""
    return tuple(SourceSpec(path=base.table_path(name), table=table)
                 for table, name in BASE_TABLES.items() if base.table_path(name).exists())


def with_base_sources(settings: Settings, base: Snapshot) -> Settings:
    """Return settings whose sources are the base snapshot's tables followed by the new exports."""
    return replace(settings, sources=base_sources(base) + tuple(settings.sources))


def label_base_sources(staged: list[StagedSource], base: Snapshot) -> list[StagedSource]:
    """Return the staged sources with the base's labelled as snapshot files, and its customers dropped
    when the new exports bring their own 客户档案 (master data replaces, it does not accumulate)."""
    base_paths = {base.table_path(name) for name in BASE_TABLES.values()}

    def in_base(s: StagedSource) -> bool:  # a table's file, or a part of a table stored as a folder
        path = s.info.get("path")
        return path is not None and (Path(path) in base_paths or Path(path).parent in base_paths)

    new_customers = any(s.table == "customers" and not in_base(s) for s in staged)
    out = []
    for s in staged:
        if in_base(s):
            if s.table == "customers" and new_customers:
                continue
            s = replace(s, label=f"snapshot {base.as_of.isoformat()}/{Path(s.info['path']).relative_to(base.path)}",
                        info={**s.info, "base_snapshot": base.as_of.isoformat()})
        out.append(s)
    return out


def text_model_version() -> str:
    """Return a hash of what contact-text classification depends on: code, lexicons and model weights."""
    digest = hashlib.sha256()
    paths = [TEXT_DIR / "classifier.py", TEXT_DIR / "blend_model.py", TEXT_DIR / "model" / "blend_model.json"]
    paths += sorted((TEXT_DIR / "lexicons").glob("*.y*ml"))
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def reusable_contact_text(base: Snapshot) -> Path | None:
    """Return the base's classified contacts when the same text model produced them, else None."""
    path = base.table_path("contact_text")
    if path.exists() and base.manifest().get("text_model") == text_model_version():
        return path
    return None


def reusable_usage_daily(base: Snapshot, staged: list[StagedSource],
                         counts: dict[str, TableCounts]) -> tuple[list[tuple[Path, ...]], str] | None:
    """Return the base's usage_daily parts and a query for the run's other accepted readings, when
    every base reading was accepted again (so the parts can be kept as they are); else None.

    A base reading can be rejected this time, e.g. when the new 客户档案 no longer lists its customer or
    the mapping's plausible range was narrowed; the run then writes usage_daily from all readings.
    """
    parts = base_parts(base.table_path("usage_daily"))
    from_base = [s for s in staged if s.table == "readings" and s.info.get("base_snapshot")]
    if parts is None or not from_base:
        return None
    per_source = counts["readings"].sources if "readings" in counts else {}
    if any((c := per_source.get(s.label)) is None or c["accepted"] != c["read"] for s in from_base):
        return None  # (accepted = read: balanced accounting leaves no rejected row)
    if {Path(s.info["path"]) for s in from_base} != {f for part in parts for f in part}:
        return None
    cols = ", ".join(f'"{c.name}"' for c in TABLES["readings"].columns)
    indexes = ", ".join(str(s.index) for s in from_base)
    # The base's sources are constant branches of the union below, so DuckDB does not read them.
    return parts, f"SELECT {cols} FROM _gp_chk_readings WHERE _gp_reason IS NULL AND _gp_src NOT IN ({indexes})"
