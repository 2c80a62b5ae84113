"""Why a customer has a tag value, and who gained or lost a tag between two snapshots.

Reads only published tables (`features`, `tags`, `tag_dictionary` and the `<table>_history` views that
`pipeline.store.open_snapshot` creates), so the dashboard can use it without importing the pipeline.
"""
from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import duckdb
import pandas as pd
import sqlglot
from sqlglot import exp

_PLACEHOLDER = re.compile(r"\{(\$?[A-Za-z_][A-Za-z0-9_]*)(?::([^{}]*))?\}|\{\?([^{}|]*)\|([^{}]*)\}")
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


class ExplainError(LookupError):
    """The customer, tag or snapshot asked about is not in the published store."""


@dataclass(frozen=True)
class Explanation:
    """The facts, thresholds, data window and rule behind one customer's value of one tag."""

    customer_id: str
    tag_id: str
    name_zh: str
    name_en: str
    category: str
    value_type: str
    value: str | None
    status: str  # 'ok' | 'missing'
    as_of: date | None
    window_days: int | None
    facts: dict[str, Any]
    params: dict[str, Any]
    rule: str
    requires: str | None
    rule_with_values: str
    requires_with_values: str | None
    sentence: str
    unit: str | None = None
    version: int | None = None
    source: str | None = None
    district_id: str | None = field(default=None)

    @property
    def window_start(self) -> date | None:
        """Return the first day of the data window, or None for archive facts."""
        if self.as_of is None or not self.window_days:
            return None
        return self.as_of - timedelta(days=self.window_days - 1)

    @property
    def value_text(self) -> str:
        """Return the value as a person reads it: 是 / 否 for flags, 数据不足 when missing."""
        return _value_text(self.value_type, self.value, self.status, self.unit)

    def text(self) -> str:
        """Return the explanation as the lines `portrait tags explain` prints."""
        lines = [f"{self.name_zh}（{self.tag_id}，{self.category}）户号 {self.customer_id}：{self.value_text}",
                 f"  依据：{self.sentence}"]
        if self.facts:
            lines.append("  特征值：" + "；".join(f"{k} = {_shown(v)}" for k, v in self.facts.items()))
        if self.params:
            lines.append("  阈值参数：" + "；".join(f"${k} = {_shown(v)}" for k, v in self.params.items()))
        if self.as_of is not None:
            if self.window_start is not None:
                lines.append(f"  数据窗口：{self.window_start} 至 {self.as_of}（{self.window_days} 天），数据日期 as-of {self.as_of}")
            else:
                lines.append(f"  数据窗口：截至 {self.as_of} 的档案数据")
        lines.append(f"  规则：{_one_line(self.rule)}")
        lines.append(f"  代入：{_one_line(self.rule_with_values)}")
        if self.requires:
            state = "不满足 → 记为缺失" if self.status == "missing" else "满足"
            lines.append(f"  数据要求：{_one_line(self.requires)}（代入 {_one_line(self.requires_with_values or '')}，{state}）")
        if self.version is not None:
            lines.append(f"  标签版本 v{self.version}，定义于 {self.source}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()


def explain(con: duckdb.DuckDBPyConnection, customer_id: str, tag_id: str) -> Explanation:
    """Return why `customer_id` has its value of `tag_id` in the snapshot `con` shows."""
    entry = _dictionary_entry(con, tag_id)
    row = con.execute("SELECT value, status FROM tags WHERE customer_id = ? AND tag_id = ?", [customer_id, tag_id]).fetchone()
    if row is None:
        known = con.execute("SELECT count(*) FROM features WHERE customer_id = ?", [customer_id]).fetchone()[0]
        if not known:
            raise ExplainError(f"户号 {customer_id} is not in this snapshot; check the number (10 digits, leading zeros kept)")
        raise ExplainError(f"tag `{tag_id}` was not evaluated for 户号 {customer_id} in this snapshot")
    value, status = row
    features = list(entry["features"] or [])
    feature_cols = {r[0] for r in con.execute("DESCRIBE features").fetchall()}
    present = [f for f in features if f in feature_cols]
    facts: dict[str, Any] = dict.fromkeys(features)
    if present:
        cols = ", ".join(f'"{f}"' for f in present)
        values = con.execute(f"SELECT {cols} FROM features WHERE customer_id = ?", [customer_id]).fetchone()
        facts.update(zip(present, values or [None] * len(present)))
    district = None
    if "district_id" in feature_cols:
        found = con.execute("SELECT district_id FROM features WHERE customer_id = ?", [customer_id]).fetchone()
        district = found[0] if found else None
    params = json.loads(entry["params"] or "{}")
    sentence = _sentence(entry, facts, params, value, status)
    return Explanation(
        customer_id=customer_id, tag_id=tag_id, name_zh=entry["name_zh"], name_en=entry["name_en"],
        category=entry["category"], value_type=entry["value_type"], value=value, status=status,
        as_of=entry.get("data_as_of"), window_days=entry.get("window_days"), facts=facts, params=params,
        rule=entry["rule"], requires=entry.get("requires"),
        rule_with_values=_with_values(entry.get("rule_sql") or entry["rule"], facts),
        requires_with_values=_with_values(entry["requires_sql"], facts) if entry.get("requires_sql") else None,
        sentence=sentence, unit=entry.get("unit"), version=entry.get("version"), source=entry.get("source"),
        district_id=district,
    )


def _dictionary_entry(con: duckdb.DuckDBPyConnection, tag_id: str) -> dict[str, Any]:
    cur = con.execute("SELECT * FROM tag_dictionary WHERE tag_id = ?", [tag_id])
    names = [d[0] for d in cur.description]
    row = cur.fetchone()
    if row is None:
        ids = [r[0] for r in con.execute("SELECT tag_id FROM tag_dictionary").fetchall()]
        close = difflib.get_close_matches(tag_id, ids, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else "; `portrait tags list` shows every tag"
        raise ExplainError(f"there is no tag `{tag_id}` in this snapshot{hint}")
    return dict(zip(names, row))


def _sentence(entry: dict[str, Any], facts: dict[str, Any], params: dict[str, Any], value: str | None,
              status: str) -> str:
    shown = _value_text(entry["value_type"], value, status, entry.get("unit"))
    if status == "missing":
        need = entry.get("requires") or "规则所需特征"
        return f"数据不足，不满足数据要求 {_one_line(need)} → {entry['name_zh']}：{shown}"
    template = entry.get("explain")
    if not template:
        template = "；".join(f"{f} = {{{f}}}" for f in facts) or "档案数据"
    truth = value == "true"

    def fill(m: re.Match) -> str:
        if m.group(3) is not None:  # {?if true|if false}
            return m.group(3) if truth else m.group(4)
        name, spec = m.group(1), m.group(2)
        if name == "value":
            return shown
        if name == "name_zh":
            return entry["name_zh"]
        source = params if name.startswith("$") else facts
        return _formatted(source.get(name.lstrip("$")), spec)

    return f"{_PLACEHOLDER.sub(fill, template)} → {entry['name_zh']}：{shown}"


def _formatted(value: Any, spec: str | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "无数据"
    if isinstance(value, bool):
        return "是" if value else "否"
    if spec:
        try:
            return format(value, spec)
        except (TypeError, ValueError):
            pass
    return _shown(value)


def _shown(value: Any) -> str:
    if value is None:
        return "无数据"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() else f"{value:.4g}" if abs(value) < 1000 else f"{value:,.1f}"
    return str(value)


def _value_text(value_type: str, value: str | None, status: str, unit: str | None) -> str:
    if status == "missing" or value is None:
        return "数据不足（缺失）"
    if value_type == "flag":
        return "是" if value == "true" else "否"
    if value_type == "score" and unit:
        return f"{value} {unit}"
    return value


def _with_values(sql: str, facts: dict[str, Any]) -> str:
    """Return `sql` with each feature column replaced by this customer's value."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return sql

    def literal(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and node.name in facts:
            v = facts[node.name]
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return exp.null()
            if isinstance(v, bool):
                return exp.true() if v else exp.false()
            if isinstance(v, (int, float)):
                return exp.Literal.number(_shown(float(v)).replace(",", "") if isinstance(v, float) else v)
            return exp.Literal.string(str(v))
        return node

    return tree.transform(literal).sql(dialect="duckdb")


def _one_line(sql: str) -> str:
    return re.sub(r"\s+", " ", sql or "").strip()


# --- history ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class TagDiff:
    """Customers who gained, lost or changed a tag between two snapshots, with counts per tag."""

    from_as_of: date
    to_as_of: date
    changes: pd.DataFrame  # tag_id, name_zh, customer_id, district_id, from_value, to_value, change
    counts: pd.DataFrame  # tag_id, name_zh, gained, lost, changed


def tag_diff(con: duckdb.DuckDBPyConnection, from_as_of: date, to_as_of: date, tag_id: str | None = None,
             district: str | None = None) -> TagDiff:
    """Return who gained or lost each flag (and whose level or label changed) from one as-of to another."""
    available = [r[0] for r in con.execute("SELECT DISTINCT as_of FROM tags_history ORDER BY 1").fetchall()]
    for d in (from_as_of, to_as_of):
        if d not in available:
            raise ExplainError(f"the store has no tags for as-of {d}; available: "
                               + (", ".join(str(a) for a in available) or "none"))
    history = _has(con, "tag_dictionary_history")
    dictionary = ("(SELECT * FROM tag_dictionary_history WHERE as_of = $to)" if history else "tag_dictionary")
    if tag_id is not None:
        source = "tag_dictionary_history WHERE as_of = ? AND" if history else "tag_dictionary WHERE"
        args = [to_as_of, tag_id] if history else [tag_id]
        if not con.execute(f"SELECT count(*) FROM {source} tag_id = ?", args).fetchone()[0]:
            _dictionary_entry(con, tag_id)  # raises, with a suggestion
    params: dict[str, Any] = {"from": from_as_of, "to": to_as_of}
    tag_filter = ""
    if tag_id is not None:
        tag_filter = "AND tag_id = $tag"
        params["tag"] = tag_id
    district_filter = ""
    if district is not None:
        district_filter = "WHERE district_id = $district"
        params["district"] = district
    where = "d.value_type <> 'score'" if tag_id is None else "TRUE"
    wide = "tags_wide_history" if _has(con, "tags_wide_history") else None
    district_sql = (f"(SELECT customer_id, arg_max(district_id, as_of) AS district_id FROM {wide} "
                    f"WHERE as_of IN ($from, $to) GROUP BY customer_id)") if wide else \
        "(SELECT customer_id, district_id FROM features)"
    changes = con.execute(f"""
        WITH d AS (SELECT tag_id, name_zh, value_type, position FROM {dictionary}),
        a AS (SELECT customer_id, tag_id, value FROM tags_history WHERE as_of = $from AND status = 'ok' {tag_filter}),
        b AS (SELECT customer_id, tag_id, value FROM tags_history WHERE as_of = $to AND status = 'ok' {tag_filter}),
        j AS (
            SELECT COALESCE(a.customer_id, b.customer_id) AS customer_id, COALESCE(a.tag_id, b.tag_id) AS tag_id,
                   a.value AS from_value, b.value AS to_value
            FROM a FULL JOIN b ON a.customer_id = b.customer_id AND a.tag_id = b.tag_id
        ),
        c AS (
            SELECT j.tag_id, d.name_zh, d.position, j.customer_id, w.district_id, j.from_value, j.to_value,
                   CASE WHEN d.value_type = 'flag' THEN
                            CASE WHEN j.to_value = 'true' AND j.from_value IS DISTINCT FROM 'true' THEN 'gained'
                                 WHEN j.from_value = 'true' AND j.to_value IS DISTINCT FROM 'true' THEN 'lost' END
                        WHEN j.from_value IS DISTINCT FROM j.to_value THEN 'changed' END AS change
            FROM j JOIN d USING (tag_id) LEFT JOIN {district_sql} w USING (customer_id)
            WHERE {where}
        )
        SELECT tag_id, name_zh, customer_id, district_id, from_value, to_value, change
        FROM (SELECT * FROM c WHERE change IS NOT NULL) {district_filter}
        ORDER BY position, change, district_id, customer_id
    """, params).df()
    counts = (changes.assign(n=1).pivot_table(index=["tag_id", "name_zh"], columns="change", values="n",
                                               aggfunc="sum", fill_value=0, sort=False)
              .reindex(columns=["gained", "lost", "changed"], fill_value=0).reset_index())
    counts.columns.name = None
    return TagDiff(from_as_of, to_as_of, changes, counts)


def _has(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ?", [name]).fetchone()[0]
                or con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchone()[0])
