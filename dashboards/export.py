"""Exports that are safe to open in Excel, the export audit log, and saved segments.

- A text cell that starts with = + - @ tab or carriage return is prefixed with an apostrophe,
  so Excel and LibreOffice show it as text instead of running it as a formula.
- Every export appends one JSON line to STORE/app/audit.jsonl: who, when, what, which filter,
  how many rows and the file format.
- Saved segments (name → expression tree) live in STORE/app/segments.json.

These are the only files the dashboard writes, and they sit outside the published snapshots.
"""
from __future__ import annotations

import io
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from dashboards.queries import Viewer
from dashboards.file_lock import locked

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_SEGMENT_NAME = re.compile(r"^[\w\u4e00-\u9fff ()（）·._-]{1,60}$")


def app_dir(store: Path) -> Path:
    """Return STORE/app, the dashboard's own folder (audit log, users, saved segments)."""
    return Path(store) / "app"


def excel_safe_value(value: Any) -> Any:
    """Return `value` with an apostrophe in front when it is text Excel would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def excel_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of `df` whose text cells (and column names) cannot start a formula."""
    out = df.copy()
    out.columns = [excel_safe_value(str(c)) for c in out.columns]
    for col in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[col]) or pd.api.types.is_bool_dtype(out[col])
                or pd.api.types.is_datetime64_any_dtype(out[col])):
            out[col] = out[col].map(excel_safe_value).astype(object)
    return out


def csv_bytes(df: pd.DataFrame) -> bytes:
    """Return `df` as Excel-safe CSV in UTF-8 with a BOM (so Excel shows Chinese correctly)."""
    return excel_safe(df).to_csv(index=False).encode("utf-8-sig")


def xlsx_bytes(df: pd.DataFrame, sheet: str = "export") -> bytes:
    """Return `df` as an Excel-safe .xlsx workbook (text stays text: no formulas, no auto links)."""
    buf = io.BytesIO()
    safe = excel_safe(df)
    for col in safe.columns:  # Excel has no time zones
        if isinstance(safe[col].dtype, pd.DatetimeTZDtype):
            safe[col] = safe[col].dt.tz_localize(None)
    with pd.ExcelWriter(buf, engine="xlsxwriter",
                        engine_kwargs={"options": {"strings_to_formulas": False, "strings_to_urls": False,
                                                   "strings_to_numbers": False}}) as writer:
        safe.to_excel(writer, sheet_name=sheet[:31] or "export", index=False)
    return buf.getvalue()


def audit_path(store: Path) -> Path:
    """Return STORE/app/audit.jsonl."""
    return app_dir(store) / "audit.jsonl"


def record_export(store: Path, viewer: Viewer, what: str, filter_desc: Any, rows: int, fmt: str,
                  as_of: str | None = None) -> dict:
    """Append one audit record for an export and return it."""
    record = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "user": viewer.username,
              "role": viewer.role, "districts": list(viewer.districts), "what": what, "filter": filter_desc,
              "rows": int(rows), "format": fmt, "as_of": as_of}
    path = audit_path(store)
    line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
    with locked(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
    return record


def read_audit(store: Path, limit: int = 500) -> pd.DataFrame:
    """Return the latest audit records, newest first."""
    path = audit_path(store)
    if not path.exists():
        return pd.DataFrame(columns=["at", "user", "role", "what", "filter", "rows", "format"])
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines()[-limit:]:
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return pd.DataFrame(rows[::-1])


def export_file(store: Path, viewer: Viewer, df: pd.DataFrame, what: str, filter_desc: Any, fmt: str,
                as_of: str | None = None) -> bytes:
    """Return `df` as Excel-safe CSV or xlsx bytes, after writing the audit record."""
    if fmt not in ("csv", "xlsx"):
        raise ValueError(f"unknown export format {fmt!r}")
    data = csv_bytes(df) if fmt == "csv" else xlsx_bytes(df, what)
    record_export(store, viewer, what, filter_desc, len(df), fmt, as_of)
    return data


# --- saved segments ----------------------------------------------------------------------------------

def segments_path(store: Path) -> Path:
    """Return STORE/app/segments.json."""
    return app_dir(store) / "segments.json"


def load_segments(store: Path) -> dict[str, dict]:
    """Return saved segments: name → {tree, owner, saved_at, description, count}."""
    path = segments_path(store)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return {}
    return dict(data.get("segments") or {})


def save_segment(store: Path, viewer: Viewer, name: str, tree: dict, description: str = "",
                 count: int | None = None) -> dict:
    """Save (or overwrite one's own) segment under `name`; return the entry."""
    name = (name or "").strip()
    if not _SEGMENT_NAME.match(name):
        raise ValueError("a segment name has 1–60 letters, digits, Chinese characters, spaces or ()._-")
    path = segments_path(store)
    with locked(path):
        saved = load_segments(store)
        old = saved.get(name)
        if old and old.get("owner") != viewer.username and viewer.role != "admin":
            raise PermissionError(f"segment {name!r} belongs to {old.get('owner')}; choose another name")
        entry = {"tree": tree, "owner": viewer.username, "saved_at": datetime.now(timezone.utc).isoformat(
            timespec="seconds"), "description": description, "count": count}
        saved[name] = entry
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps({"format": 1, "segments": saved}, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(tmp, path)
    return entry


def delete_segment(store: Path, viewer: Viewer, name: str) -> None:
    """Delete a saved segment (its owner or an admin)."""
    path = segments_path(store)
    with locked(path):
        saved = load_segments(store)
        old = saved.get(name)
        if old is None:
            return
        if old.get("owner") != viewer.username and viewer.role != "admin":
            raise PermissionError(f"segment {name!r} belongs to {old.get('owner')}")
        del saved[name]
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps({"format": 1, "segments": saved}, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(tmp, path)
