"""DuckDB SQL → Spark SQL: sqlglot's transpiler plus the few rewrites it does not make.

Feature models, segment models and tag rules are written once, in DuckDB SQL. `spark_sql` parses a
statement with sqlglot's DuckDB dialect, applies the rules below to the syntax tree, and prints it
with the Spark dialect. Each rule maps one DuckDB construct onto a Spark expression with the same
result; anything else is left to sqlglot.

Rules (DuckDB → Spark):
  quantile_cont(x, q) / median(x)    percentile(x, q): exact, linear interpolation, like DuckDB
  arg_min / arg_max(x, (a, b))       min_by / max_by(x, struct(a, b)): a tuple key orders field by field
  arg_min / arg_max(x, key, n)       the n values of x with the smallest / largest keys, as an array
  string_agg(x, sep ORDER BY k)      array_join over collect_list of struct(k, x), sorted
  date_diff('day' | 'month' | 'year' | 'hour' | 'minute' | 'second', a, b)
                                     boundaries crossed, as DuckDB counts them (Spark's datediff
                                     with a unit counts whole elapsed units instead)
  date_sub('year' | 'month', a, b)   whole years / months elapsed (DuckDB's date_sub)
  isodow(d)                          weekday(d) + 1 (Monday = 1 … Sunday = 7)
  epoch(ts)                          seconds since 1970 as DOUBLE (unix_micros / 1e6)
  bit_count(x)                       bit_count on BIGINT, as TINYINT (DuckDB's result type)
  try_strptime(s, fmt | [fmts])      coalesce of try_to_timestamp per format, strftime → Java pattern
  regexp_full_match(s, re)           s RLIKE '^(?:re)$'
  chr(n), n > 255                    the character as a string literal (Spark's chr takes n mod 256)
  list[i] (1-based)                  element_at(list, i)
  list_position(l, x)                array_position(l, x), NULL when absent (as in DuckDB)
  list_slice(l, a, b)                slice(l, a, b - a + 1)
  list_grade_up(l[, 'DESC'])         the 1-based positions of l in sorted order
  list_filter / list_transform       filter / transform with the lambda
  array_to_string(l, sep)            array_join(l, sep)
  INTERVAL (n) DAY                   INTERVAL n DAY (a window frame needs a literal)
  a / b                              CAST(a AS DOUBLE) / CAST(b AS DOUBLE): DuckDB divides DECIMALs in
                                     DOUBLE, Spark in DECIMAL with a few places (1.0 * a / b)
  TRY_CAST(s AS DATE | TIMESTAMP)    only when s starts YYYY-MM-DD (Spark reads '202412' as a year)
  round(x, n)                        round(x * 10^n) / 10^n in DOUBLE, DuckDB's arithmetic (Spark rounds
                                     the shortest printed decimal, so 2.195 would give 2.2, not 2.19)
  avg(x)                             avg(CAST(x AS DOUBLE)): DuckDB averages DECIMALs in DOUBLE
  row_number() / rank() OVER …       CAST(… AS BIGINT), DuckDB's type
  WITH x AS [NOT] MATERIALIZED       WITH x AS (the planner decides)

FILTER (WHERE …) clauses, GROUP BY ALL, EXCLUDE, QUALIFY and most functions are mapped by sqlglot or
supported by Spark as they are. Run `python -m pipeline.spark.transpile FILE.sql` to see a translation.
"""
from __future__ import annotations

import re
import sys
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB


class _DuckDBRawIndex(DuckDB):
    """DuckDB as sqlglot reads it, minus index rebasing: list[i] keeps DuckDB's 1-based i for element_at.

    (sqlglot rebases only the indexes whose type it can infer, so rebased and raw ones would mix.)"""

    INDEX_OFFSET = 0


# strftime directives → Java DateTimeFormatter patterns (the ones the pipeline's formats use).
_STRFTIME = {"%Y": "yyyy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm", "%S": "ss", "%f": "SSSSSS",
             "%y": "yy", "%b": "MMM", "%j": "DDD"}
_UNIT_MICROS = {"second": 1_000_000, "minute": 60_000_000, "hour": 3_600_000_000}


def java_pattern(fmt: str) -> str:
    """Return the Java date-time pattern for a strftime format; literal text is quoted."""
    out, literal = [], ""
    i = 0
    while i < len(fmt):
        two = fmt[i:i + 2]
        if two in _STRFTIME:
            if literal:
                out.append("'" + literal.replace("'", "''") + "'" if re.search(r"[A-Za-z]", literal) else literal)
                literal = ""
            out.append(_STRFTIME[two])
            i += 2
        else:
            literal += fmt[i]
            i += 1
    if literal:
        out.append("'" + literal.replace("'", "''") + "'" if re.search(r"[A-Za-z]", literal) else literal)
    return "".join(out)


def _sql(node: exp.Expression) -> str:
    return node.sql(dialect="spark")


def _parse(text: str) -> exp.Expression:
    return sqlglot.parse_one(text, read="spark")


def _unit(node: exp.Expression | None) -> str:
    if node is None:
        return "day"
    name = node.name if isinstance(node, (exp.Var, exp.Literal, exp.Column)) else node.sql()
    return name.strip("'\"").lower().rstrip("s") or "day"


def _epoch_micros(e: str) -> str:
    return f"unix_micros(CAST({e} AS TIMESTAMP_LTZ))"


def _date_diff(unit: str, start: str, end: str) -> str:
    if unit == "day":
        return f"CAST(datediff(CAST({end} AS DATE), CAST({start} AS DATE)) AS BIGINT)"
    if unit == "week":
        return f"CAST(floor(datediff(CAST({end} AS DATE), CAST({start} AS DATE)) / 7) AS BIGINT)"
    if unit in ("month", "year", "quarter"):
        months = f"((year({end}) * 12 + month({end})) - (year({start}) * 12 + month({start})))"
        if unit == "month":
            return f"CAST({months} AS BIGINT)"
        if unit == "quarter":
            return f"((year({end}) * 4 + quarter({end})) - (year({start}) * 4 + quarter({start})))"
        return f"CAST(year({end}) - year({start}) AS BIGINT)"
    if unit in _UNIT_MICROS:
        u = _UNIT_MICROS[unit]
        return (f"CAST(floor({_epoch_micros(end)} / {u}) - floor({_epoch_micros(start)} / {u}) AS BIGINT)")
    raise ValueError(f"date_diff unit {unit!r} has no Spark rule")


def _date_sub(unit: str, start: str, end: str) -> str:
    # Whole units elapsed: the month difference, less one when the end's day (and time) is earlier.
    earlier = (f"(day({end}) < day({start}) OR (day({end}) = day({start}) AND "
               f"date_format({end}, 'HHmmssSSSSSS') < date_format({start}, 'HHmmssSSSSSS')))")
    months = f"(((year({end}) * 12 + month({end})) - (year({start}) * 12 + month({start}))) - CASE WHEN {earlier} THEN 1 ELSE 0 END)"
    if unit == "month":
        return months
    if unit == "year":
        return f"CAST(floor({months} / 12) AS BIGINT)"
    if unit == "day":
        return _date_diff("day", start, end)
    raise ValueError(f"date_sub unit {unit!r} has no Spark rule")


def _key(node: exp.Expression) -> str:
    if isinstance(node, exp.Tuple):
        return "struct(" + ", ".join(f"{_sql(e)} AS k{i}" for i, e in enumerate(node.expressions)) + ")"
    return _sql(node)


def _arg_n(kind: str, value: exp.Expression, key: exp.Expression, n: exp.Expression) -> str:
    k = _key(key)
    order = "" if kind == "min" else ", (a, b) -> CASE WHEN a.k < b.k THEN 1 WHEN a.k > b.k THEN -1 ELSE 0 END"
    return (f"transform(slice(array_sort(collect_list(CASE WHEN {k} IS NOT NULL THEN struct({k} AS k, {_sql(value)} AS v) END)"
            f"{order}), 1, {_sql(n)}), _gp_e -> _gp_e.v)")


def _list_grade_up(lst: str, desc: bool) -> str:
    # Positions sorted by value (ties by position), as DuckDB's list_grade_up.
    pairs = f"transform({lst}, (x, i) -> struct(x AS v, i + 1 AS p))"
    if desc:
        cmp = ("(a, b) -> CASE WHEN a.v > b.v THEN -1 WHEN a.v < b.v THEN 1 WHEN a.p < b.p THEN -1 "
               "WHEN a.p > b.p THEN 1 ELSE 0 END")
        return f"transform(array_sort({pairs}, {cmp}), _gp_e -> _gp_e.p)"
    return f"transform(array_sort({pairs}), _gp_e -> _gp_e.p)"


def _literal_str(node: exp.Expression) -> str | None:
    return node.this if isinstance(node, exp.Literal) and node.is_string else None


def _strptime(value: exp.Expression, fmts: list[str]) -> exp.Expression:
    # Built as nodes, not parsed: sqlglot would rewrite a parsed Java pattern as if it were strftime.
    parts = [exp.Anonymous(this="try_to_timestamp", expressions=[value.copy(), exp.Literal.string(java_pattern(f))])
             for f in fmts]
    return parts[0] if len(parts) == 1 else exp.Anonymous(this="coalesce", expressions=parts)


def _rewrite(node: exp.Expression) -> exp.Expression:
    name = node.name.lower() if isinstance(node, exp.Anonymous) else None
    if isinstance(node, exp.PercentileCont) or isinstance(node, exp.Quantile):
        return _parse(f"percentile({_sql(node.this)}, {_sql(node.expression)})")
    if isinstance(node, exp.Median):
        return _parse(f"percentile({_sql(node.this)}, 0.5)")
    if isinstance(node, (exp.ArgMin, exp.ArgMax)):
        kind = "min" if isinstance(node, exp.ArgMin) else "max"
        if node.args.get("count") is not None:
            return _parse(_arg_n(kind, node.this, node.expression, node.args["count"]))
        return _parse(f"{kind}_by({_sql(node.this)}, {_key(node.expression)})")
    if isinstance(node, exp.GroupConcat):
        this = node.this
        order = None
        if isinstance(this, exp.Order):
            order, this = this, this.this
        sep = _sql(node.args.get("separator") or exp.Literal.string(","))
        if order is None:
            return _parse(f"array_join(collect_list({_sql(this)}), {sep})")
        keys = ", ".join(f"{_sql(o.this)} AS k{i}" for i, o in enumerate(order.expressions))
        return _parse(f"array_join(transform(array_sort(collect_list(struct(struct({keys}) AS k, {_sql(this)} AS v))), "
                      f"_gp_e -> _gp_e.v), {sep})")
    if isinstance(node, exp.DateDiff):
        return _parse(_date_diff(_unit(node.args.get("unit")), _sql(node.expression), _sql(node.this)))
    if name == "date_sub" and len(node.expressions) == 3:
        unit, start, end = node.expressions
        return _parse(_date_sub(_unit(unit), _sql(start), _sql(end)))
    if isinstance(node, exp.DayOfWeekIso) or name == "isodow":
        arg = node.this if not name else node.expressions[0]
        return _parse(f"(weekday({_sql(arg)}) + 1)")
    if isinstance(node, exp.TimeToUnix) or name == "epoch":
        arg = node.this if not name else node.expressions[0]
        return _parse(f"({_epoch_micros(_sql(arg))} / 1000000.0)")
    if name == "bit_count":
        return _parse(f"CAST(bit_count(CAST({_sql(node.expressions[0])} AS BIGINT)) AS TINYINT)")
    if name == "try_strptime" or isinstance(node, exp.StrToTime) and node.args.get("safe"):
        value, fmt = (node.expressions if name else (node.this, node.args["format"]))
        fmts = [_literal_str(e) for e in fmt.expressions] if isinstance(fmt, exp.Array) else [_literal_str(fmt)]
        if any(f is None for f in fmts):
            raise ValueError("try_strptime needs literal formats to run on Spark")
        return _strptime(value, fmts)
    if isinstance(node, exp.RegexpFullMatch) or name == "regexp_full_match":
        value, pattern = (node.this, node.expression) if not name else node.expressions[:2]
        pat = _literal_str(pattern)
        if pat is not None:
            return exp.RegexpLike(this=value, expression=exp.Literal.string(f"^(?:{pat})$"))
        return _parse(f"{_sql(value)} RLIKE concat('^(?:', {_sql(pattern)}, ')$')")
    if isinstance(node, exp.Chr) and len(node.expressions) == 1 and node.expressions[0].is_int:
        code = int(node.expressions[0].name)
        if code > 255:
            return exp.Literal.string(chr(code))
    if isinstance(node, exp.Bracket) and len(node.expressions) == 1 and not isinstance(node.this, exp.Struct):
        return _parse(f"element_at({_sql(node.this)}, CAST({_sql(node.expressions[0])} AS INT))")
    if isinstance(node, exp.ArrayPosition) or name in ("list_position", "array_position", "list_indexof"):
        args = [node.this, node.expression] if not name else node.expressions
        return _parse(f"CAST(nullif(array_position({_sql(args[0])}, {_sql(args[1])}), 0) AS INT)")
    if name in ("list_slice", "array_slice") or isinstance(node, exp.ArraySlice):
        args = node.expressions if name else [node.this, node.args.get("start"), node.args.get("end")]
        lst, a, b = (_sql(x) for x in args[:3])
        return _parse(f"slice({lst}, {a}, ({b}) - ({a}) + 1)")
    if name in ("list_grade_up", "array_grade_up"):
        desc = len(node.expressions) > 1 and (_literal_str(node.expressions[1]) or "").upper() == "DESC"
        return _parse(_list_grade_up(_sql(node.expressions[0]), desc))
    if isinstance(node, exp.ArrayToString):
        return _parse(f"array_join({_sql(node.this)}, {_sql(node.expression)})")
    if isinstance(node, exp.Interval) and isinstance(node.this, exp.Paren) and node.this.this.is_number:
        return exp.Interval(this=exp.Literal.string(node.this.this.name), unit=node.args.get("unit"))
    if isinstance(node, exp.Div) and not node.args.get("typed"):
        return exp.Div(this=exp.Cast(this=node.this, to=exp.DataType.build("DOUBLE")),
                       expression=exp.Cast(this=node.expression, to=exp.DataType.build("DOUBLE")), typed=True)
    if isinstance(node, exp.TryCast) and node.to.this in (exp.DataType.Type.DATE, exp.DataType.Type.TIMESTAMP):
        # Spark casts '202412' to the year 202412 and '2025-12' to a date; DuckDB wants YYYY-MM-DD.
        arg = _sql(node.this)
        return _parse(f"CASE WHEN CAST({arg} AS STRING) RLIKE '^[ ]*[0-9]{{4}}-[0-9]{{1,2}}-[0-9]{{1,2}}([ T]|$)' "
                      f"THEN {_sql(node)} END")
    if isinstance(node, exp.Round) and node.args.get("decimals") is not None:
        # DuckDB rounds a DOUBLE as round(x * 10^n) / 10^n; Spark rounds its printed decimal, so x.xx5 ties differ.
        scale = f"power(10, {_sql(node.args['decimals'])})"
        return _parse(f"(round(CAST({_sql(node.this)} AS DOUBLE) * {scale}) / {scale})")
    if isinstance(node, exp.Avg) and not isinstance(node.this, exp.Cast):
        return exp.Avg(this=exp.Cast(this=node.this, to=exp.DataType.build("DOUBLE")))
    if isinstance(node, exp.Window) and isinstance(node.this, (exp.RowNumber, exp.Rank, exp.DenseRank)):
        return exp.Cast(this=node.copy(), to=exp.DataType.build("BIGINT"))
    if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
        node.set("materialized", None)
    return node


@lru_cache(maxsize=4096)
def spark_sql(sql: str) -> str:
    """Return one DuckDB statement (or expression, with `expression=True` callers wrapping it) as Spark SQL."""
    tree = sqlglot.parse_one(sql, read=_DuckDBRawIndex)
    # Children first, so a rule that prints its arguments prints them already rewritten.
    for node in reversed(list(tree.walk(bfs=False))):
        new = _rewrite(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE, comments=False)


def spark_expr(expr: str) -> str:
    """Return one DuckDB scalar expression as a Spark SQL expression."""
    select = spark_sql(f"SELECT {expr} AS _e")
    return select[len("SELECT "): select.rindex(" AS _e")]


if __name__ == "__main__":  # python -m pipeline.spark.transpile FILE.sql
    for path in sys.argv[1:]:
        print(spark_sql(open(path, encoding="utf-8").read()))
