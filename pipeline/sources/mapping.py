"""Header mapping: which export feeds which canonical table, and which header is which column."""
from __future__ import annotations

import difflib
import fnmatch
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from pipeline.contracts import TABLES
from pipeline.errors import ConfigError, MappingError

DEFAULT_MAPPING = Path(__file__).with_name("default_mapping.yaml")
_BRACKETS = re.compile(r"[(\[【].*?[)\]】]")


@dataclass(frozen=True)
class Alias:
    """A header that means a canonical column, with an optional unit conversion."""

    header: str
    scale: float | None = None


@dataclass(frozen=True)
class TableMapping:
    """File patterns, header aliases and value synonyms for one canonical table."""

    table: str
    files: tuple[str, ...]
    columns: dict[str, tuple[Alias, ...]]
    values: dict[str, dict[str, str]]


@dataclass(frozen=True)
class Mapping:
    """The complete header mapping used by a run."""

    tables: dict[str, TableMapping]
    true_words: tuple[str, ...]
    false_words: tuple[str, ...]
    sources: tuple[str, ...]  # files it was read from, for the manifest

    def as_dict(self) -> dict[str, Any]:
        """Return the mapping as plain data, for the run manifest."""
        return {
            "sources": list(self.sources),
            "tables": {
                t: {
                    "files": list(m.files),
                    "columns": {c: [a.header for a in al] for c, al in m.columns.items()},
                    "values": m.values,
                }
                for t, m in self.tables.items()
            },
        }


@dataclass(frozen=True)
class Binding:
    """A canonical column bound to the export header that feeds it."""

    column: str
    header: str
    scale: float | None = None


@dataclass(frozen=True)
class HeaderResolution:
    """How one export's headers map onto its canonical table."""

    table: str
    bindings: tuple[Binding, ...]
    unknown: tuple[str, ...]  # headers that map to nothing: reported, not loaded
    ignored: tuple[str, ...] = ()  # headers that duplicate an already bound column
    wide_dates: tuple[tuple[str, date], ...] = ()  # wide readings: header -> day

    def header_for(self, column: str) -> str | None:
        """Return the export header bound to canonical `column`, if any."""
        for b in self.bindings:
            if b.column == column:
                return b.header
        return None


def normalise_header(header: str) -> str:
    """Return a header folded for comparison: NFKC, trimmed, case-folded, no spaces."""
    h = unicodedata.normalize("NFKC", str(header)).replace("\ufeff", "")
    return re.sub(r"\s+", "", h).casefold()


def _base(header: str) -> str:
    return _BRACKETS.sub("", normalise_header(header))


def _aliases(raw: Any, where: str) -> tuple[Alias, ...]:
    out = []
    for item in raw or []:
        if isinstance(item, str):
            out.append(Alias(item))
        elif isinstance(item, dict) and "header" in item:
            out.append(Alias(str(item["header"]), float(item["scale"]) if item.get("scale") is not None else None))
        else:
            raise ConfigError(f"mapping {where}: alias {item!r} is neither a header nor {{header:, scale:}}")
    return tuple(out)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"mapping file {path} does not exist") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"mapping file {path} is not valid YAML: {err}") from None
    unknown = set(data) - {"tables", "booleans"}
    if unknown:
        raise ConfigError(f"mapping file {path}: unknown keys {sorted(unknown)}", hint="use `tables:` and `booleans:`")
    for table, spec in (data.get("tables") or {}).items():
        if table not in TABLES:
            close = difflib.get_close_matches(table, list(TABLES), n=1)
            raise ConfigError(
                f"mapping file {path}: unknown table `{table}`",
                hint=f"did you mean `{close[0]}`?" if close else f"tables are {', '.join(TABLES)}",
            )
        for col in (spec or {}).get("columns", {}) or {}:
            if col not in TABLES[table].column_names:
                close = difflib.get_close_matches(col, TABLES[table].column_names, n=1)
                raise ConfigError(
                    f"mapping file {path}: table {table} has no canonical column `{col}`",
                    hint=f"did you mean `{close[0]}`?" if close else f"columns are {', '.join(TABLES[table].column_names)}",
                )
    return data


def load_mapping(override: Path | None = None) -> Mapping:
    """Return the default mapping, with a run's override file merged over it."""
    base = _read_yaml(DEFAULT_MAPPING)
    layers = [base] + ([_read_yaml(Path(override))] if override else [])
    tables: dict[str, TableMapping] = {}
    for name in TABLES:
        files: list[str] = []
        columns: dict[str, list[Alias]] = {c: [] for c in TABLES[name].column_names}
        values: dict[str, dict[str, str]] = {}
        for layer in reversed(layers):  # later layers win: their aliases come first
            spec = (layer.get("tables") or {}).get(name) or {}
            files += [str(f) for f in spec.get("files", []) or []]
            for col, raw in (spec.get("columns") or {}).items():
                columns[col] += list(_aliases(raw, f"{name}.{col}"))
            for col, syn in (spec.get("values") or {}).items():
                merged = {str(k): str(v) for k, v in (syn or {}).items()}
                values[col] = {**merged, **values.get(col, {})}
        tables[name] = TableMapping(name, tuple(files), {c: tuple(a) for c, a in columns.items()}, values)
    booleans: dict[str, list[str]] = {"true": [], "false": []}
    for layer in layers:
        section = layer.get("booleans") or {}
        for key, flag in (("true", True), ("false", False)):
            # YAML reads a bare `true:` key as the boolean True; accept either spelling.
            booleans[key] += [str(w) for w in (section.get(key) or section.get(flag) or [])]
    return Mapping(
        tables=tables,
        true_words=tuple(dict.fromkeys(booleans["true"])),
        false_words=tuple(dict.fromkeys(booleans["false"])),
        sources=tuple(str(p) for p in [DEFAULT_MAPPING] + ([override] if override else [])),
    )


def table_for_file(mapping: Mapping, file_name: str, headers: list[str]) -> str | None:
    """Return the canonical table an export feeds, by file name and then by headers."""
    name = Path(file_name).name.casefold()
    for table, tm in mapping.tables.items():
        if any(fnmatch.fnmatch(name, pat.casefold()) or fnmatch.fnmatch(Path(name).stem, pat.casefold()) for pat in tm.files):
            return table
    best, best_score = None, 0.0
    for table in TABLES:
        res = resolve_headers(mapping, table, headers, file_name, strict=False)
        required = TABLES[table].required_columns
        bound = {b.column for b in res.bindings}
        if table == "readings" and res.wide_dates:
            bound.add("reading_date")
            bound.add("kwh")
        if all(r in bound for r in required):
            # Most headers explained wins; the share of the contract explained breaks ties.
            score = len(bound) + len(bound) / len(TABLES[table].columns)
            if score > best_score:
                best, best_score = table, score
    return best


def parse_header_date(header: str) -> date | None:
    """Return the day a wide-export header names (2025-12-01, 2025/12/1, 20251201, 2025年12月1日)."""
    h = unicodedata.normalize("NFKC", str(header)).strip()
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日", "%Y.%m.%d", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(h, fmt).date()
        except ValueError:
            continue
    return None


def resolve_headers(
    mapping: Mapping, table: str, headers: list[str], file_label: str, strict: bool = True
) -> HeaderResolution:
    """Return how `headers` bind to `table`; with strict, a missing required column is an error."""
    tm = mapping.tables[table]
    bindings: dict[str, Binding] = {}
    ignored: list[str] = []
    unknown: list[str] = []
    wide: list[tuple[str, date]] = []
    for header in headers:
        if header is None or str(header).startswith("_gp_"):
            continue
        found = _match(tm, header)
        if found is None:
            day = parse_header_date(header) if table == "readings" else None
            if day is not None:
                wide.append((header, day))
            else:
                unknown.append(header)
        elif found.column in bindings:
            ignored.append(header)
        else:
            bindings[found.column] = found
    if wide and "reading_date" not in bindings:
        # A wide export: one column per day. Its day columns feed reading_date and kwh.
        pass
    else:
        unknown += [h for h, _ in wide]
        wide = []
    res = HeaderResolution(table, tuple(bindings.values()), tuple(unknown), tuple(ignored), tuple(wide))
    if strict:
        missing = [c for c in TABLES[table].required_columns if c not in bindings]
        if wide:
            missing = [c for c in missing if c not in ("reading_date", "kwh")]
        if missing:
            raise MappingError(_missing_message(table, missing, headers, file_label), hint=_missing_hint(table, missing))
    return res


def _match(tm: TableMapping, header: str) -> Binding | None:
    norm, base = normalise_header(header), _base(header)
    for exact in (True, False):
        for col, aliases in tm.columns.items():
            for alias in aliases:
                a = normalise_header(alias.header)
                has_unit = bool(_BRACKETS.search(a))
                if (exact and a == norm) or (not exact and not has_unit and a == base):
                    return Binding(col, header, alias.scale)
    return None


def _missing_message(table: str, missing: list[str], headers: list[str], file_label: str) -> str:
    parts = []
    for col in missing:
        label = TABLES[table].column(col).label
        close = difflib.get_close_matches(label, [str(h) for h in headers], n=3, cutoff=0.5)
        near = f" (closest headers: {', '.join(close)})" if close else ""
        parts.append(f"{label} ({col}){near}")
    shown = ", ".join(str(h) for h in headers[:20]) + (" …" if len(headers) > 20 else "")
    return f"{file_label}: required column(s) missing for table {table}: {'; '.join(parts)}. Headers in the file: {shown}"


def _missing_hint(table: str, missing: list[str]) -> str:
    col = missing[0]
    return (
        f"add the export's header to a mapping file under tables.{table}.columns.{col} "
        f"and pass it with `mapping = \"my_mapping.yaml\"` in run.toml (or --mapping)"
    )


def value_synonyms(mapping: Mapping, table: str) -> dict[str, dict[str, str]]:
    """Return the value synonyms declared for `table`'s columns."""
    return mapping.tables[table].values


def describe_mapping(res: HeaderResolution) -> dict[str, Any]:
    """Return a header resolution as plain data for the manifest and the validate report."""
    return {
        "table": res.table,
        "columns": {b.column: b.header for b in res.bindings},
        "scaled": {b.column: b.scale for b in res.bindings if b.scale is not None},
        "unknown_columns": list(res.unknown),
        "ignored_columns": list(res.ignored),
        "wide_days": len(res.wide_dates),
    }
