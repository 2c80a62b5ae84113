"""The tag catalogue: every tag declared once in tags/<category>.yaml, checked when it loads.

A declaration is data: the rule is a SQL expression over the per-customer `features` table,
`$name` placeholders read province thresholds from `Params`, and `requires` says when a
customer lacks the data the tag needs ("missing", which is never the same as a false flag).
The loader collects every problem with its file and line before it gives up.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any, Iterator

import sqlglot
import yaml
from sqlglot import exp

from pipeline.errors import PortraitError

TAGS_DIR = Path(__file__).resolve().parent

CATEGORIES: dict[str, str] = {
    "基础信息": "Basic information",
    "用电行为": "Electricity usage",
    "客户价值": "Customer value",
    "行为偏好": "Behavioural preferences",
    "触点记录": "Touchpoints",
    "费用记录": "Bills and payments",
    "业务特征": "Service applications",
    "情感特征": "Sentiment",
}

# Value type -> the column type in tags_wide.
VALUE_TYPES: dict[str, str] = {"flag": "BOOLEAN", "level": "VARCHAR", "score": "DOUBLE", "label": "VARCHAR"}

# Columns tags_wide carries besides the tags; a tag id may not shadow them.
RESERVED_IDS = frozenset({"customer_id", "district_id", "station", "as_of"})

_REQUIRED_KEYS = ("id", "name_zh", "name_en", "description", "value_type", "rule", "features", "owner", "version")
_OPTIONAL_KEYS = ("category", "requires", "levels", "labels", "unit", "explain", "window_days")
_FILE_KEYS = ("category", "owner", "tags")
_ID = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
            "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL")
# Feature-name suffix -> the days of history it summarises; the widest one is a tag's data window.
_WINDOW_SUFFIXES = (("_12m", 365), ("_6m", 180), ("_prev_6m", 365), ("_3m", 90), ("_prev_3m", 180),
                    ("_90d", 90), ("_prior_90d", 120), ("_30d", 30), ("_7d", 7), ("_ytd", 365))


class CatalogError(PortraitError):
    """The tag catalogue has problems; `problems` lists every one with its file and line."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"the tag catalogue has {len(problems)} {noun}:\n  " + "\n  ".join(problems),
                         hint="fix the YAML at the places named, then rerun")


class TagLookupError(PortraitError):
    """A tag or category asked for by name is not in the catalogue."""


@dataclass(frozen=True)
class TagDef:
    """One tag as declared in the catalogue."""

    id: str
    name_zh: str
    name_en: str
    category: str
    description: str
    value_type: str
    rule: str
    features: tuple[str, ...]
    owner: str
    version: int
    requires: str | None = None
    levels: tuple[str, ...] = ()  # the allowed values of a level tag, lowest first
    labels: tuple[str, ...] = ()  # the allowed values of a label tag, when it has a closed set
    unit: str | None = None
    explain: str | None = None  # sentence template: {feature}, {$param}, {value}, {?if true|if false}
    window_days: int | None = None  # days of history behind the tag; None for archive facts
    params: tuple[str, ...] = ()  # the $params the rule and requires read
    file: Path = field(default=Path("."), compare=False)
    line: int = 0

    @property
    def location(self) -> str:
        """Return `file:line` of the declaration, relative to the repository when possible."""
        return f"{_shown_path(self.file)}:{self.line}"

    @property
    def sql_type(self) -> str:
        """Return the tags_wide column type of this tag."""
        return VALUE_TYPES[self.value_type]

    @property
    def allowed_values(self) -> tuple[str, ...]:
        """Return the closed set of values of a level or label tag (empty when open)."""
        return self.levels or self.labels


@dataclass(frozen=True)
class Catalog:
    """The checked tag catalogue, in file then declaration order."""

    tags: tuple[TagDef, ...]
    folder: Path

    def __iter__(self) -> Iterator[TagDef]:
        return iter(self.tags)

    def __len__(self) -> int:
        return len(self.tags)

    def __contains__(self, tag_id: object) -> bool:
        return any(t.id == tag_id for t in self.tags)

    def get(self, tag_id: str) -> TagDef:
        """Return the tag with id `tag_id`, or raise a CatalogError with a suggestion."""
        for t in self.tags:
            if t.id == tag_id:
                return t
        close = difflib.get_close_matches(tag_id, [t.id for t in self.tags], n=1)
        hint = f"did you mean `{close[0]}`?" if close else "`portrait tags list` shows every tag"
        raise TagLookupError(f"there is no tag `{tag_id}`", hint=hint)

    def in_category(self, category: str) -> tuple[TagDef, ...]:
        """Return the tags of one category (Chinese name, English name or file stem)."""
        wanted = _category_named(category)
        return tuple(t for t in self.tags if t.category == wanted)

    def counts_by_category(self) -> dict[str, int]:
        """Return the number of tags per category, in the canonical category order."""
        return {c: sum(1 for t in self.tags if t.category == c) for c in CATEGORIES}


def _category_named(name: str) -> str:
    if name in CATEGORIES:
        return name
    for zh, en in CATEGORIES.items():
        if name.lower() in (en.lower(), en.split()[0].lower()):
            return zh
    stems = {"basic": "基础信息", "usage": "用电行为", "value": "客户价值", "preference": "行为偏好",
             "touchpoint": "触点记录", "billing": "费用记录", "business": "业务特征", "sentiment": "情感特征"}
    if name.lower() in stems:
        return stems[name.lower()]
    raise TagLookupError(f"there is no tag category `{name}`",
                         hint=f"use one of {', '.join(CATEGORIES)} (or {', '.join(stems)})")


def _shown_path(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(TAGS_DIR.parent))
    except ValueError:
        return str(path)


# --- YAML with line numbers ---------------------------------------------------------------

class _Located(dict):
    """A YAML mapping that remembers its own line and the line of each key."""

    line: int = 0
    key_lines: dict
    duplicate_keys: list

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings record line numbers (1-based) and duplicate keys."""


def _construct_located_map(loader: _LineLoader, node: yaml.MappingNode) -> _Located:
    loader.flatten_mapping(node)
    out = _Located()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    out.duplicate_keys = []
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            out.duplicate_keys.append((key, key_node.start_mark.line + 1))
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_located_map)


def _read_yaml(path: Path, problems: list[str]) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else 0
        problems.append(f"{_shown_path(path)}:{line}: not valid YAML: {err.problem or err}; "
                        "check the indentation and quote values that contain ':' or '#'")
    except UnicodeDecodeError:
        problems.append(f"{_shown_path(path)}:1: not UTF-8; save the file as UTF-8")
    return None


# --- loading and checking ---------------------------------------------------------------------

def known_params() -> dict[str, object]:
    """Return the `$name` placeholders tag SQL may use, with their default values."""
    from pipeline.settings import Params

    values: dict[str, object] = {f.name: getattr(Params(), f.name) for f in fields(Params)}
    values["as_of"] = date(2025, 12, 31)
    return values


def load_catalog(folder: Path = TAGS_DIR, features: dict[str, dict] | None = None) -> Catalog:
    """Return the checked catalogue declared in `folder`/*.yaml; raise CatalogError listing every problem."""
    folder = Path(folder)
    if features is None:
        from pipeline.stages.features import feature_catalog

        features = feature_catalog()
    problems: list[str] = []
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not files:
        raise CatalogError([f"{_shown_path(folder)}: no tag files (*.yaml) found; "
                            "a catalogue folder holds one YAML file per category"])
    params = known_params()
    tags: list[TagDef] = []
    for path in files:
        tags += _tags_in_file(path, features, params, problems)
    _check_unique(tags, problems)
    _check_binds(tags, features, params, problems)
    if problems:
        raise CatalogError(problems)
    return Catalog(tuple(tags), folder)


def _tags_in_file(path: Path, features: dict[str, dict], params: dict[str, object],
                  problems: list[str]) -> list[TagDef]:
    doc = _read_yaml(path, problems)
    where = _shown_path(path)
    if doc is None:
        return []
    if not isinstance(doc, _Located) or not isinstance(doc.get("tags"), list):
        problems.append(f"{where}:1: a tag file is a mapping with `category:` and a list under `tags:`; "
                        "copy the layout of tags/billing.yaml")
        return []
    for key, line in doc.duplicate_keys:
        problems.append(f"{where}:{line}: key `{key}` appears twice; keep one")
    for key in doc:
        if key not in _FILE_KEYS:
            problems.append(f"{where}:{doc.line_of(key)}: unknown file key `{key}`{_did_you_mean(key, _FILE_KEYS)}")
    file_category = doc.get("category")
    if file_category is not None:
        _check_category(file_category, f"{where}:{doc.line_of('category')}: file", problems)
    out = []
    for i, raw in enumerate(doc["tags"]):
        if not isinstance(raw, _Located):
            problems.append(f"{where}: entry {i + 1} under `tags:` is not a mapping; each tag is `- id: …` "
                            "followed by its keys")
            continue
        tag = _tag_from(raw, path, file_category, doc.get("owner"), features, params, problems)
        if tag is not None:
            out.append(tag)
    return out


def _tag_from(raw: _Located, path: Path, file_category: Any, file_owner: Any, features: dict[str, dict],
              params: dict[str, object], problems: list[str]) -> TagDef | None:
    where = _shown_path(path)
    tag_id = raw.get("id")
    label = f"tag `{tag_id}`" if tag_id else "a tag"
    start = len(problems)

    def problem(key: str | None, message: str) -> None:
        line = raw.line_of(key) if key else raw.line
        problems.append(f"{where}:{line}: {label} {message}")

    for key, line in raw.duplicate_keys:
        problems.append(f"{where}:{line}: {label} has key `{key}` twice; keep one")
    for key in raw:
        if key not in _REQUIRED_KEYS + _OPTIONAL_KEYS:
            problem(key, f"has unknown key `{key}`{_did_you_mean(key, _REQUIRED_KEYS + _OPTIONAL_KEYS)}")
    defaults = {"owner": file_owner, "category": file_category}
    for key in _REQUIRED_KEYS + ("category",):
        if raw.get(key) in (None, "") and defaults.get(key) in (None, ""):
            problem(None, f"has no `{key}`; add `{key}: …`"
                    + (" (or set it once at the top of the file)" if key in defaults else ""))
    if tag_id is not None and not (isinstance(tag_id, str) and _ID.match(tag_id)):
        problem("id", "has an id that is not snake_case ASCII; ids are column names, e.g. `late_payment_risk`")
    elif tag_id in RESERVED_IDS:
        problem("id", f"uses the reserved id `{tag_id}`; tags_wide already has that column, pick another id")

    category = raw.get("category", file_category)
    if "category" in raw:
        _check_category(category, f"{where}:{raw.line_of('category')}: {label}", problems)
    value_type = raw.get("value_type")
    if value_type is not None and value_type not in VALUE_TYPES:
        problem("value_type", f"has unknown value type `{value_type}`{_did_you_mean(str(value_type), VALUE_TYPES)}"
                f" (one of {', '.join(VALUE_TYPES)})")
    levels = _string_list(raw, "levels", problem)
    labels = _string_list(raw, "labels", problem)
    if value_type == "level" and not levels:
        problem("value_type", "is a level but lists no `levels:`; add them lowest first, e.g. `levels: [低, 中, 高]`")
    if value_type != "level" and levels:
        problem("levels", f"lists `levels:` but is a {value_type}; levels belong to level tags (labels use `labels:`)")
    if value_type != "label" and labels:
        problem("labels", f"lists `labels:` but is a {value_type}; use `levels:` for a level tag")
    declared = _string_list(raw, "features", problem)
    if "features" in raw and not declared:
        problem("features", "declares no features; list the feature columns its rule reads")
    for name in declared:
        if name not in features:
            problem("features", f"uses feature `{name}`, which no feature model defines"
                    f"{_did_you_mean(name, features, fallback='; `portrait tags list` shows the tags, pipeline/sql/ the features')}")
    version = raw.get("version")
    if version is not None and not (isinstance(version, int) and not isinstance(version, bool) and version >= 1):
        problem("version", f"has version {version!r}; a version is a whole number ≥ 1, raised when the rule changes")
    window = raw.get("window_days")
    if window is not None and not (isinstance(window, int) and window >= 0):
        problem("window_days", "has a window_days that is not a whole number of days")

    used_params: list[str] = []
    rule_columns: set[str] = set()
    for key in ("rule", "requires"):
        text = raw.get(key)
        if text is None:
            continue
        if not isinstance(text, str):
            problem(key, f"has a `{key}` that is not text; write the SQL expression as a string")
            continue
        expression = _parsed_expression(text, key, params, problem, used_params)
        if expression is None:
            continue
        rule_columns |= {c.name for c in expression.find_all(exp.Column)}
        if key == "rule" and value_type in ("level", "label"):
            _check_outputs(expression, levels or labels, value_type, problem)
    for name in sorted(rule_columns - set(declared)):
        if name in features:
            problem("features", f"reads `{name}` in its rule but does not declare it; add `{name}` to `features:`")
        else:
            problem("rule", f"reads `{name}`, which no feature model defines"
                    f"{_did_you_mean(name, features, fallback='')}")
    explain = raw.get("explain")
    if explain is not None:
        _check_template(str(explain), declared, params, used_params, problem)
    if len(problems) > start:
        return None
    return TagDef(
        id=tag_id, name_zh=str(raw["name_zh"]), name_en=str(raw["name_en"]), category=category,
        description=str(raw["description"]).strip(), value_type=value_type, rule=str(raw["rule"]).strip(),
        features=tuple(declared), owner=str(raw.get("owner") or file_owner), version=version,
        requires=str(raw["requires"]).strip() if raw.get("requires") is not None else None,
        levels=tuple(levels), labels=tuple(labels), unit=raw.get("unit"),
        explain=str(explain).strip() if explain is not None else None,
        window_days=window if window is not None else _window_from(declared),
        params=tuple(dict.fromkeys(used_params)), file=path, line=raw.line,
    )


def _string_list(raw: _Located, key: str, problem) -> list[str]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        problem(key, f"has a `{key}` that is not a list of names; write `{key}: [a, b]`")
        return []
    items = [str(v) for v in value]
    for dup in sorted({v for v in items if items.count(v) > 1}):
        problem(key, f"lists `{dup}` twice under `{key}`; keep one")
    return items


def _check_category(category: Any, where: str, problems: list[str]) -> None:
    if category not in CATEGORIES:
        english = {en.lower(): zh for zh, en in CATEGORIES.items()}
        suggestion = english.get(str(category).lower()) or (difflib.get_close_matches(str(category), CATEGORIES, n=1) or [None])[0]
        hint = f"; did you mean `{suggestion}`?" if suggestion else ""
        problems.append(f"{where} has unknown category `{category}`{hint} (one of {', '.join(CATEGORIES)})")


def _parsed_expression(text: str, key: str, params: dict[str, object], problem,
                       used_params: list[str]) -> exp.Expression | None:
    unknown = False
    for name in _PARAM.findall(text):
        if name not in params:
            unknown = True
            problem(key, f"uses parameter `${name}`, which Params does not define"
                    f"{_did_you_mean(name, params, fallback='; add it to Params in pipeline/settings.py')}")
        else:
            used_params.append(name)
    if unknown:
        return None
    from pipeline.stages.features import render_sql

    rendered = render_sql(text, params, key)
    try:
        statements = [st for st in sqlglot.parse(rendered, read="duckdb") if st is not None]
    except sqlglot.errors.ParseError as err:
        first = str(err).splitlines()[0]
        problem(key, f"has a `{key}` that is not valid DuckDB SQL: {first}; "
                "write one expression, e.g. `late_payments_12m >= $late_payments_risk`")
        return None
    if len(statements) != 1:
        problem(key, f"has a `{key}` with {len(statements) or 'no'} statements; a rule is one SQL expression, without `;`")
        return None
    expression = statements[0]
    if isinstance(expression, exp.Query) or expression.find(exp.Subquery, exp.Select, exp.Table):
        problem(key, f"reads another table in its `{key}`; rules see one customer's features only — "
                "add a feature model in pipeline/sql/ instead")
        return None
    return expression


def _check_outputs(expression: exp.Expression, allowed: list[str], value_type: str, problem) -> None:
    if isinstance(expression, exp.Paren):
        expression = expression.this
    if not allowed or not isinstance(expression, exp.Case):
        return
    outputs = [branch.args.get("true") for branch in expression.args.get("ifs", [])] + [expression.args.get("default")]
    key = "levels" if value_type == "level" else "labels"
    for out in outputs:
        if isinstance(out, exp.Literal) and out.is_string and out.this not in allowed:
            problem("rule", f"can return '{out.this}', which is not one of its {key} [{', '.join(allowed)}]; "
                    f"add it to `{key}:` or fix the rule")


_PLACEHOLDER = re.compile(r"\{(\$?[A-Za-z_][A-Za-z0-9_]*)(?::[^{}]*)?\}")


def _check_template(template: str, declared: list[str], params: dict[str, object], used_params: list[str],
                    problem) -> None:
    for name in _PLACEHOLDER.findall(template):
        if name.startswith("$"):
            if name[1:] not in params:
                problem("explain", f"explains with `{{{name}}}`, which Params does not define"
                        f"{_did_you_mean(name[1:], params, fallback='')}")
            elif name[1:] not in used_params:
                used_params.append(name[1:])
        elif name not in declared and name not in ("value", "name_zh"):
            problem("explain", f"explains with `{{{name}}}`, which is not one of its features; "
                    f"declare it under `features:` or use {{value}}")


def _window_from(features: list[str]) -> int | None:
    days = [d for name in features for suffix, d in _WINDOW_SUFFIXES if name.endswith(suffix)]
    return max(days) if days else None


def _check_unique(tags: list[TagDef], problems: list[str]) -> None:
    first: dict[str, TagDef] = {}
    for t in tags:
        if t.id in first:
            problems.append(f"{t.location}: tag `{t.id}` is declared twice (first at {first[t.id].location}); "
                            "ids are stable keys — rename one")
        else:
            first[t.id] = t


def _check_binds(tags: list[TagDef], features: dict[str, dict], params: dict[str, object], problems: list[str]) -> None:
    """Dry-run every rule on an empty, typed `features` table: catches typos in functions and type errors."""
    if not tags or not all(isinstance(v, dict) and v.get("type") for v in features.values()):
        return
    import duckdb

    from pipeline.stages.features import render_sql

    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        cols = ", ".join(f'"{name}" {info["type"]}' for name, info in features.items())
        con.execute(f"CREATE TABLE features ({cols})")
        for t in tags:
            for key, text in (("rule", t.rule), ("requires", t.requires)):
                if text is None:
                    continue
                sql = render_sql(text, params, key)
                try:
                    typ = con.execute(f"DESCRIBE SELECT ({sql}) AS v FROM features").fetchall()[0][1]
                except duckdb.Error as err:
                    message = str(err).splitlines()[0].split(": ", 1)[-1]
                    problems.append(f"{t.location}: tag `{t.id}` has a `{key}` DuckDB cannot run: {message}")
                    continue
                want = "BOOLEAN" if key == "requires" else t.sql_type
                if not _type_fits(typ, want):
                    problems.append(f"{t.location}: tag `{t.id}` is a {t.value_type if key == 'rule' else 'requires'} "
                                    f"but its `{key}` returns {typ}; it must return {want}"
                                    + (" (a comparison or AND/OR)" if want == "BOOLEAN" else ""))
    finally:
        con.close()


def _type_fits(actual: str, wanted: str) -> bool:
    if wanted == "DOUBLE":
        return actual.startswith(_NUMERIC) or actual == '"NULL"'
    if wanted == "VARCHAR":
        return actual == "VARCHAR"
    return actual == wanted


_GENERIC_WORDS = frozenset({"12m", "3m", "6m", "30d", "7d", "90d", "ytd", "cnt", "count", "n", "is", "has", "days", "mean"})


def _did_you_mean(name: str, choices, fallback: str = "") -> str:
    """Return "; did you mean `x`?" for the closest choice: shared words first (late_cnt_12m → late_payments_12m)."""
    choices = [str(c) for c in choices]
    if not choices:
        return fallback
    words = set(str(name).split("_")) - _GENERIC_WORDS

    def score(choice: str) -> tuple[int, float]:
        return len(words & set(choice.split("_"))), difflib.SequenceMatcher(None, str(name), choice).ratio()

    best = max(choices, key=score)
    shared, ratio = score(best)
    return f"; did you mean `{best}`?" if shared or ratio >= 0.6 else fallback
