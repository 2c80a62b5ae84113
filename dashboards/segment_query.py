"""Segment definitions (人群圈选) as a whitelisted expression tree, compiled to parameterised SQL.

A segment is JSON-like data, never SQL text:

    {"all": [node, …]}                         every node holds (AND)
    {"any": [node, …]}                         at least one node holds (OR)
    {"not": node}                              the node does not hold (missing data counts as "does not hold")
    {"tag": "arrears_risk", "op": "is_true"}   a condition on one tag (or segment field)
    {"tag": "value_tier", "op": "in", "values": ["高", "中"]}
    {"tag": "key_user_score", "op": ">=", "value": 0.7}

Field ids are checked against the fields the store publishes and emitted as quoted identifiers;
operators come from a fixed table; every value becomes a `$seg_N` parameter. Nothing the user
typed is ever pasted into the SQL text.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

MAX_CONDITIONS = 40
MAX_DEPTH = 6
MAX_VALUES = 100
MAX_VALUE_CHARS = 100
_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_ALIAS = re.compile(r"^[a-z]$")

FLAG_OPS = ("is_true", "is_false", "is_missing", "is_present")
CHOICE_OPS = ("in", "not_in", "is_missing", "is_present")
SCORE_OPS = (">=", ">", "<=", "<", "=", "!=", "between", "is_missing", "is_present")
OPS_BY_TYPE: dict[str, tuple[str, ...]] = {"flag": FLAG_OPS, "level": CHOICE_OPS, "label": CHOICE_OPS, "score": SCORE_OPS}
_COMPARISONS = {">=": ">=", ">": ">", "<=": "<=", "<": "<", "=": "=", "!=": "<>"}

OP_LABELS_ZH = {"is_true": "是", "is_false": "否", "is_missing": "缺数据", "is_present": "有数据", "in": "属于",
                "not_in": "不属于", ">=": "≥", ">": ">", "<=": "≤", "<": "<", "=": "=", "!=": "≠", "between": "介于"}
OP_LABELS_EN = {"is_true": "is true", "is_false": "is false", "is_missing": "has no data", "is_present": "has data",
                "in": "is one of", "not_in": "is not one of", ">=": "≥", ">": ">", "<=": "≤", "<": "<", "=": "=",
                "!=": "≠", "between": "between"}


class SegmentError(ValueError):
    """A segment definition is malformed or uses an unknown field, operator or value."""


@dataclass(frozen=True)
class SegmentField:
    """A field a segment may test: a tag column of tags_wide (alias `w`) or a segments column (alias `s`)."""

    id: str
    value_type: str  # flag | level | label | score
    alias: str = "w"
    values: tuple[str, ...] = ()  # the closed set of a level/label field, when known
    name_zh: str = ""
    name_en: str = ""

    def __post_init__(self) -> None:
        if not _IDENT.match(self.id):
            raise SegmentError(f"field id {self.id!r} is not a plain snake_case identifier")
        if self.value_type not in OPS_BY_TYPE:
            raise SegmentError(f"field {self.id!r} has unknown value type {self.value_type!r}")
        if not _ALIAS.match(self.alias):
            raise SegmentError(f"field {self.id!r} has an invalid table alias {self.alias!r}")

    def label(self, lang: str = "zh") -> str:
        """Return the field's display name in `lang`."""
        return (self.name_en if lang == "en" else self.name_zh) or self.id


@dataclass(frozen=True)
class CompiledSegment:
    """A segment as a SQL boolean expression plus its parameters, and the table aliases it reads."""

    sql: str
    params: dict[str, Any] = field(default_factory=dict)
    aliases: frozenset[str] = frozenset()


def compile_segment(tree: Mapping[str, Any], fields: Mapping[str, SegmentField],
                    param_prefix: str = "seg_") -> CompiledSegment:
    """Return the SQL predicate and parameters of a segment tree; raise SegmentError when it is invalid."""
    if not re.match(r"^[a-z_]{1,10}$", param_prefix):
        raise SegmentError("invalid parameter prefix")
    state = _State(fields, param_prefix)
    sql = state.node(tree, depth=0)
    return CompiledSegment(sql, state.params, frozenset(state.aliases))


def validate_segment(tree: Mapping[str, Any], fields: Mapping[str, SegmentField]) -> None:
    """Raise SegmentError when `tree` does not compile against `fields`."""
    compile_segment(tree, fields)


def segment_tags(tree: Any) -> list[str]:
    """Return the field ids a segment tree mentions, in order of first use."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            if "tag" in node and isinstance(node["tag"], str) and node["tag"] not in out:
                out.append(node["tag"])
            for key in ("all", "any"):
                for child in node.get(key) or []:
                    walk(child)
            if "not" in node:
                walk(node["not"])

    walk(tree)
    return out


def describe_segment(tree: Any, fields: Mapping[str, SegmentField], lang: str = "zh") -> str:
    """Return a human-readable one-line description of a segment (for the audit log and the UI)."""
    ops = OP_LABELS_EN if lang == "en" else OP_LABELS_ZH
    words = {"and": " AND " if lang == "en" else " 且 ", "or": " OR " if lang == "en" else " 或 ",
             "not": "NOT " if lang == "en" else "非 ", "everyone": "everyone" if lang == "en" else "全部用户"}

    def text(node: Any) -> str:
        if not isinstance(node, Mapping):
            return "?"
        if "all" in node or "any" in node:
            key = "all" if "all" in node else "any"
            parts = [text(c) for c in node.get(key) or []]
            if not parts:
                return words["everyone"] if key == "all" else "∅"
            joined = (words["and"] if key == "all" else words["or"]).join(parts)
            return joined if len(parts) == 1 else f"({joined})"
        if "not" in node:
            return words["not"] + text(node["not"])
        f = fields.get(node.get("tag", ""))
        name = f.label(lang) if f else str(node.get("tag"))
        op = node.get("op")
        if op in ("in", "not_in"):
            return f"{name} {ops.get(op, op)} {{{', '.join(map(str, node.get('values') or []))}}}"
        if op == "between":
            lo, hi = (node.get("values") or [None, None])[:2]
            return f"{name} {ops['between']} [{lo}, {hi}]"
        if op in _COMPARISONS:
            return f"{name} {ops[op]} {node.get('value')}"
        return f"{name} {ops.get(op, op)}"

    return text(tree)


class _State:
    def __init__(self, fields: Mapping[str, SegmentField], prefix: str):
        self.fields = fields
        self.prefix = prefix
        self.params: dict[str, Any] = {}
        self.aliases: set[str] = set()
        self.conditions = 0

    def param(self, value: Any) -> str:
        name = f"{self.prefix}{len(self.params)}"
        self.params[name] = value
        return f"${name}"

    def node(self, node: Any, depth: int) -> str:
        if depth > MAX_DEPTH:
            raise SegmentError(f"a segment may nest at most {MAX_DEPTH} levels deep")
        if not isinstance(node, Mapping):
            raise SegmentError("each part of a segment is an object with `all`, `any`, `not` or `tag`")
        keys = set(node)
        if keys in ({"all"}, {"any"}):
            key = next(iter(keys))
            children = node[key]
            if not isinstance(children, (list, tuple)):
                raise SegmentError(f"`{key}` takes a list of conditions")
            if not children:
                return "TRUE" if key == "all" else "FALSE"
            joiner = " AND " if key == "all" else " OR "
            return "(" + joiner.join(self.node(c, depth + 1) for c in children) + ")"
        if keys == {"not"}:
            return f"(NOT coalesce({self.node(node['not'], depth + 1)}, FALSE))"
        if "tag" in keys and keys <= {"tag", "op", "value", "values"}:
            return self.condition(node)
        raise SegmentError(f"unknown segment keys {sorted(map(str, keys))}; use all / any / not / tag+op")

    def condition(self, node: Mapping[str, Any]) -> str:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise SegmentError(f"a segment may have at most {MAX_CONDITIONS} conditions")
        tag_id = node.get("tag")
        f = self.fields.get(tag_id) if isinstance(tag_id, str) else None
        if f is None or f.id != tag_id:
            raise SegmentError(f"unknown tag {str(tag_id)[:64]!r}; pick one from the tag catalogue")
        op = node.get("op")
        if op not in OPS_BY_TYPE[f.value_type]:
            raise SegmentError(f"operator {str(op)[:16]!r} does not apply to {f.value_type} tag {f.id!r}; "
                               f"use one of {', '.join(OPS_BY_TYPE[f.value_type])}")
        self.aliases.add(f.alias)
        col = f'{f.alias}."{f.id}"'
        if op == "is_true":
            return f"({col} IS TRUE)"
        if op == "is_false":
            return f"({col} IS FALSE)"
        if op == "is_missing":
            return f"({col} IS NULL)"
        if op == "is_present":
            return f"({col} IS NOT NULL)"
        if op in ("in", "not_in"):
            values = _choice_values(node.get("values"), f)
            p = self.param(values)
            if op == "in":
                return f"list_contains({p}::VARCHAR[], CAST({col} AS VARCHAR))"
            return f"({col} IS NOT NULL AND NOT list_contains({p}::VARCHAR[], CAST({col} AS VARCHAR)))"
        if op == "between":
            raw = node.get("values")
            if not isinstance(raw, (list, tuple)) or len(raw) != 2:
                raise SegmentError(f"`between` on {f.id!r} takes two numbers: values: [low, high]")
            lo, hi = sorted(_number(v, f.id) for v in raw)
            return f"({col} BETWEEN {self.param(lo)}::DOUBLE AND {self.param(hi)}::DOUBLE)"
        value = _number(node.get("value"), f.id)
        return f"({col} {_COMPARISONS[op]} {self.param(value)}::DOUBLE)"


def _number(value: Any, tag_id: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise SegmentError(f"{tag_id!r} compares with a number; {value[:20]!r} is not one") from None
        else:
            raise SegmentError(f"{tag_id!r} compares with a number")
    value = float(value)
    if not math.isfinite(value):
        raise SegmentError(f"{tag_id!r} compares with a finite number")
    return value


def _choice_values(raw: Any, f: SegmentField) -> list[str]:
    if not isinstance(raw, (list, tuple)) or not raw:
        raise SegmentError(f"{f.id!r} needs at least one value to compare with")
    if len(raw) > MAX_VALUES:
        raise SegmentError(f"{f.id!r} lists more than {MAX_VALUES} values")
    out = []
    for v in raw:
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise SegmentError(f"{f.id!r} takes text values")
        s = str(v)
        if len(s) > MAX_VALUE_CHARS:
            raise SegmentError(f"a value of {f.id!r} is longer than {MAX_VALUE_CHARS} characters")
        if f.values and s not in f.values:
            raise SegmentError(f"{s[:20]!r} is not a value of {f.id!r}; use one of {', '.join(f.values)}")
        out.append(s)
    return out
