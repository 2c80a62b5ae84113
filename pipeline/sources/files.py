"""File exports: discovery, encoding detection, and staging into something DuckDB reads directly."""
from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import IngestError

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
SUPPORTED_SUFFIXES = CSV_SUFFIXES | EXCEL_SUFFIXES | PARQUET_SUFFIXES
_SAMPLE_BYTES = 4 << 20
_CHUNK_BYTES = 16 << 20
# A UTF-8 file with a few broken lines is still UTF-8 (the broken lines become rejects);
# a file where much of the non-ASCII text fails is in another encoding.
_UTF8_BAD_SHARE = 0.01


@dataclass(frozen=True)
class FileInfo:
    """What the manifest records about one input file."""

    path: Path
    format: str  # csv | excel | parquet
    size: int
    sha256: str


def file_format(path: Path) -> str:
    """Return 'csv', 'excel' or 'parquet' for a supported export file."""
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in EXCEL_SUFFIXES:
        return "excel"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    raise IngestError(
        f"{path}: unsupported file type {suffix or '(none)'}",
        hint=f"export as one of {', '.join(sorted(SUPPORTED_SUFFIXES))}",
    )


def discover_files(path: Path) -> list[Path]:
    """Return the export files under `path` (a file or a folder), sorted by name."""
    path = Path(path)
    if not path.exists():
        raise IngestError(f"source {path} does not exist", hint="check --source / the path in run.toml")
    if path.is_file():
        return [path]
    files = [
        p for p in sorted(path.rglob("*"))
        if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
        and not p.name.startswith((".", "~$"))
    ]
    if not files:
        raise IngestError(f"source folder {path} holds no export files",
                          hint=f"expected files ending in {', '.join(sorted(SUPPORTED_SUFFIXES))}")
    return files


def file_info(path: Path) -> FileInfo:
    """Return the size and SHA-256 of an input file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return FileInfo(Path(path), file_format(Path(path)), Path(path).stat().st_size, digest.hexdigest())


def detect_encoding(path: Path) -> str:
    """Return 'utf-8' or 'gb18030' for a CSV export (a UTF-8 BOM is tolerated either way)."""
    with open(path, "rb") as fh:
        sample = fh.read(_SAMPLE_BYTES)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8"
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(sample, final=False)
    bad = utf8.count("\ufffd")
    non_ascii = sum(1 for ch in utf8 if ord(ch) > 127) or 1
    if bad == 0 or bad / non_ascii < _UTF8_BAD_SHARE:
        return "utf-8"
    gb = codecs.getincrementaldecoder("gb18030")(errors="replace").decode(sample, final=False)
    return "gb18030" if gb.count("\ufffd") < bad else "utf-8"


def normalise_encoding(name: str) -> str:
    """Return a canonical codec name; GBK and GB2312 are read as their superset GB18030."""
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        raise IngestError(f"unknown encoding {name!r}", hint="use utf-8, gbk or gb18030") from None
    return "gb18030" if codec in ("gbk", "gb2312", "gb18030", "cp936") else codec


def transcode_to_utf8(src: Path, dest: Path, encoding: str) -> int:
    """Write `src` re-encoded as UTF-8 to `dest`, streaming; return the bytes read.

    Undecodable bytes become U+FFFD, which validation turns into an `encoding` reject for that
    row, so a broken byte costs one row, not the file.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    read = 0
    with open(src, "rb") as fin, open(dest, "w", encoding="utf-8", newline="") as fout:
        first = True
        for chunk in iter(lambda: fin.read(_CHUNK_BYTES), b""):
            read += len(chunk)
            text = decoder.decode(chunk)
            if first:
                text = text.lstrip("\ufeff")
                first = False
            fout.write(text)
        fout.write(decoder.decode(b"", final=True))
    return read


def csv_header(path: Path) -> tuple[list[str], str]:
    """Return a UTF-8 CSV's header names (made unique) and its delimiter, read from the first line."""
    import csv

    with open(path, "r", encoding="utf-8", errors="replace", newline="") as fh:
        first = fh.readline().lstrip("\ufeff").rstrip("\r\n")
    if not first.strip():
        raise IngestError(f"{path.name}: the first line is empty", hint="exports must start with a header row")
    delimiter = max((",", "\t", ";", "|"), key=first.count)
    names = next(csv.reader([first], delimiter=delimiter))
    seen: dict[str, int] = {}
    unique = []
    for i, name in enumerate(names):
        name = name.strip() or f"column{i + 1}"
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return unique, delimiter


def _cell_text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") if value.time() != time(0) else value.strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def stage_excel(src: Path, dest: Path, sheet: str | None = None) -> list[str]:
    """Write an Excel sheet to Parquet as text columns plus its row numbers; return the headers."""
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(src))
    except Exception as err:  # calamine raises its own error types per format
        raise IngestError(f"{src}: cannot open the Excel file ({err})",
                          hint="check that it is a real .xlsx/.xls and not password-protected") from None
    names = book.sheet_names
    if sheet is not None and sheet not in names:
        raise IngestError(f"{src}: no sheet named {sheet!r}", hint=f"sheets are: {', '.join(names)}")
    rows = book.get_sheet_by_name(sheet or names[0]).to_python(skip_empty_area=False)
    if not rows:
        raise IngestError(f"{src}: sheet {sheet or names[0]!r} is empty", hint="export the sheet with a header row")
    headers = [_cell_text(h) or f"column{i + 1}" for i, h in enumerate(rows[0])]
    data = rows[1:]
    columns: dict[str, list] = {"_gp_line": [i + 2 for i in range(len(data))]}
    for j, header in enumerate(headers):
        columns[header] = [_cell_text(r[j]) if j < len(r) else None for r in data]
    table = pa.table({k: pa.array(v, type=pa.int64() if k == "_gp_line" else pa.string()) for k, v in columns.items()})
    pq.write_table(table, dest, compression="zstd")
    return headers
