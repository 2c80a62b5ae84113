"""`portrait segments describe` and `portrait keyusers`: segment profiles and a district's key-user list.

Both read a published snapshot only. Personal data is masked in everything they print or export
(户名 张*, 电话 138****1234; no address or ID number), and exports are safe to open in Excel.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table as RichTable

from pipeline.errors import PortraitError

segments_app = typer.Typer(add_completion=False, no_args_is_help=True,
                           help="Segments: communication types, load shapes and value tiers (客户分群)")
console = Console()

# Excel (and LibreOffice) start a formula with these; a leading apostrophe makes the cell plain text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
KEYUSER_COLUMNS = {  # column -> header in the export
    "key_user_rank": "排名", "customer_id": "户号", "name": "户名", "phone": "联系电话",
    "district_id": "台区编号", "district_name": "台区名称", "key_user_score": "重点用户分",
    "key_user_reasons": "原因", "suggested_action": "建议动作", "disc_type": "沟通风格",
    "disc_opening": "开场白", "disc_advice_do": "沟通要点", "disc_advice_avoid": "沟通禁忌",
    "value_tier": "价值分层", "load_shape": "负荷形态",
}
_MODEL_TITLES = {"disc": "沟通风格 (DISC)", "load_shape": "负荷形态", "value_tier": "价值分层"}


def masked_name(name: str | None) -> str:
    """Return a name with all but its first character hidden: 张三丰 → 张*."""
    name = (name or "").strip()
    return f"{name[0]}*" if name else ""


def masked_phone(phone: str | None) -> str:
    """Return a phone number with its middle digits hidden: 13812341234 → 138****1234."""
    digits = (phone or "").strip()
    if len(digits) >= 8:
        return f"{digits[:3]}****{digits[-4:]}"
    return "****" if digits else ""


def excel_safe_cell(value: object) -> object:
    """Return `value` unchanged unless it is text Excel would run as a formula; then prefix an apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _snapshot(store: Path, as_of: Optional[str]):
    from pipeline.settings import parse_date
    from pipeline.store import open_snapshot

    return open_snapshot(store, parse_date(as_of, "--as-of") if as_of else None)


def _require(con, table: str) -> None:
    have = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    if table not in have:
        raise PortraitError(f"this snapshot has no `{table}` table",
                            hint="rerun `portrait run` with a version that has the segments stage")


@segments_app.command("describe")
def describe(
    store: Annotated[Path, typer.Option("--store", help="portrait store folder")] = Path("store"),
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="snapshot date, YYYY-MM-DD (default: latest)")] = None,
) -> None:
    """Print each segment's size, profile and name: communication types, load shapes and value tiers."""
    con = _snapshot(store, as_of)
    try:
        _require(con, "segment_profiles")
        profiles = con.execute("SELECT model, cluster, name, size, share, profile FROM segment_profiles "
                               "ORDER BY model = 'disc' DESC, model, cluster NULLS LAST, size DESC").fetchall()
        models = {m: (n, json.loads(p or "{}").get("naming"), json.loads(s or "{}"))
                  for m, n, p, s in con.execute("SELECT model, fitted_rows, params_json, spec_json FROM segment_models").fetchall()}
    finally:
        con.close()
    for model in dict.fromkeys(p[0] for p in profiles):
        fitted, naming, spec = models.get(model, (0, None, {}))
        title = _MODEL_TITLES.get(model, model)
        if fitted:
            title += f" — k-means fitted on {fitted:,} customers" + (f", names {naming}" if naming else "")
        t = RichTable(title=title, show_lines=False)
        for col, justify in (("cluster", "right"), ("name", "left"), ("size", "right"), ("share", "right"), ("profile", "left")):
            t.add_column(col, justify=justify, overflow="fold")
        for _, cluster, name, size, share, profile in (p for p in profiles if p[0] == model):
            t.add_row("" if cluster is None else str(cluster), name, f"{size:,}", f"{share:.1%}", profile)
        console.print(t)
        coverage = spec.get("coverage")
        if coverage:
            console.print(f"coverage: {coverage['typed']:,} of {coverage['customers']:,} customers have a type "
                          f"({coverage['share']:.1%}); the rest are 数据不足")


def keyusers(
    district: Annotated[str, typer.Option("--district", help="台区编号 or 台区名称")],
    top: Annotated[int, typer.Option("--top", min=1, help="how many customers to list")] = 20,
    store: Annotated[Path, typer.Option("--store", help="portrait store folder")] = Path("store"),
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="snapshot date, YYYY-MM-DD (default: latest)")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", help="export to a .csv or .xlsx file instead of printing")] = None,
) -> None:
    """Print or export a district's key users (重点用户), ranked, with reasons, advice and masked contact details."""
    if output is not None and output.suffix.lower() not in (".csv", ".xlsx"):
        raise PortraitError(f"cannot export to {output.name}", hint="name the output file .csv or .xlsx")
    rows = key_user_rows(store, district, top, as_of)
    if output is None:
        _print_key_users(district, rows)
        return
    write_key_users(rows, output)
    _audit_export(store, district, top, as_of, len(rows), output)
    console.print(f"wrote {len(rows)} key users of {district} to {output} (personal data masked)")


def _audit_export(store: Path, district: str, top: int, as_of: Optional[str], rows: int, output: Path) -> None:
    """Log a CLI export to the same audit log as the dashboard's: who, when, what filter, how many rows."""
    import getpass

    from dashboards.export import record_export
    from dashboards.queries import Viewer

    viewer = Viewer(f"cli:{getpass.getuser()}", "analyst")
    record_export(store, viewer, "keyusers (CLI)", {"district": district, "top": top, "file": str(output)},
                  rows, output.suffix.lstrip(".").lower(), as_of)


def key_user_rows(store: Path, district: str, top: int, as_of: Optional[str] = None) -> list[dict]:
    """Return a district's top key users as dicts keyed like KEYUSER_COLUMNS, with name and phone masked."""
    con = _snapshot(store, as_of)
    try:
        _require(con, "segments")
        found = con.execute("SELECT DISTINCT district_id FROM segments WHERE district_id = ? OR district_name = ?",
                            [district, district]).fetchall()
        if not found:
            known = [r[0] for r in con.execute("SELECT DISTINCT district_id FROM segments ORDER BY 1 LIMIT 5").fetchall()]
            raise PortraitError(f"no district {district!r} in this snapshot",
                                hint=f"pass a 台区编号 or 台区名称, e.g. {', '.join(known)}")
        cols = ", ".join(f"s.{c}" if c not in ("name", "phone") else f"c.{c}" for c in KEYUSER_COLUMNS)
        cur = con.execute(
            f"SELECT {cols} FROM segments s LEFT JOIN customers c USING (customer_id) "
            f"WHERE s.district_id IN (SELECT unnest(?)) ORDER BY s.district_id, s.key_user_rank LIMIT ?",
            [[r[0] for r in found], int(top)])
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        con.close()
    for r in rows:
        r["name"], r["phone"] = masked_name(r["name"]), masked_phone(r["phone"])
    return rows


def write_key_users(rows: list[dict], output: Path) -> None:
    """Write the rows to a CSV (UTF-8 with BOM, for Excel) or xlsx file, every text cell formula-safe."""
    output.parent.mkdir(parents=True, exist_ok=True)
    header = list(KEYUSER_COLUMNS.values())
    table = [[excel_safe_cell(r[c]) for c in KEYUSER_COLUMNS] for r in rows]
    if output.suffix.lower() == ".csv":
        with open(output, "w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(table)
        return
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "重点用户"
    ws.append(header)
    id_col = list(KEYUSER_COLUMNS).index("customer_id") + 1
    for values in table:
        ws.append(values)
        cell = ws.cell(row=ws.max_row, column=id_col)
        cell.value, cell.data_type, cell.number_format = str(cell.value), "s", "@"  # 户号 keeps its leading zeros
    wb.save(output)


def _print_key_users(district: str, rows: list[dict]) -> None:
    t = RichTable(title=f"重点用户 {district}（电话和户名已脱敏）", show_lines=True)
    for col in ("排名", "户号", "户名", "电话", "分", "沟通风格", "原因", "建议动作"):
        t.add_column(col, overflow="fold", justify="right" if col in ("排名", "分") else "left")
    for r in rows:
        t.add_row(str(r["key_user_rank"]), r["customer_id"], r["name"], r["phone"], f"{r['key_user_score']:.1f}",
                  r["disc_type"] or "", r["key_user_reasons"] or "", r["suggested_action"] or "")
    console.print(t)
