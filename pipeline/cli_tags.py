"""`portrait tags …`: list, describe, explain, diff, quality and docs over the tag catalogue and the store."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table as RichTable

from pipeline.errors import PortraitError

tags_app = typer.Typer(add_completion=False, no_args_is_help=True,
                       help="The tag library (用户标签库): catalogue, explanations, history, quality, docs.")
console = Console()

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS_PATH = REPO_ROOT / "docs" / "tags.md"


def _catalog():
    from tags.catalog import load_catalog

    return load_catalog()


def _as_of(value: Optional[str], what: str = "--as-of") -> Optional[date]:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PortraitError(f"{what} {value!r} is not a date", hint="write it as YYYY-MM-DD, e.g. 2025-12-31") from None


def _open(store: Path, as_of: Optional[date]):
    from pipeline.store import open_snapshot

    con = open_snapshot(store, as_of)
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    if "tags" not in views:
        con.close()
        raise PortraitError(f"the snapshot in {store} has no tags",
                            hint="it was published before the tag stage existed; rerun `portrait run` for that as-of date")
    return con


@tags_app.command("list")
def list_tags(category: Optional[str] = typer.Option(None, "--category", "-c",
                                                     help="基础信息 … 情感特征, or basic / usage / value / … ")) -> None:
    """List the tags of the catalogue, optionally of one category."""
    catalog = _catalog()
    tags = catalog.in_category(category) if category else tuple(catalog)
    t = RichTable(title=f"{len(tags)} tags" + (f" in {category}" if category else ""))
    t.add_column("id", no_wrap=True)
    for col in ("名称", "category", "type", "values", "v"):
        t.add_column(col)
    from tags.docs import _values

    for tag in tags:
        t.add_row(tag.id, tag.name_zh, tag.category, tag.value_type, _values(tag), str(tag.version))
    console.print(t)


@tags_app.command()
def describe(tag_id: str = typer.Argument(..., help="tag id, e.g. late_payment_risk")) -> None:
    """Show one tag's declaration: rule, features, parameters and their default values."""
    from dataclasses import fields

    from pipeline.settings import Params

    tag = _catalog().get(tag_id)
    defaults = {f.name: getattr(Params(), f.name) for f in fields(Params)}
    console.print(f"[bold]{tag.name_zh}[/bold] · {tag.name_en}  ([cyan]{tag.id}[/cyan], {tag.category}, "
                  f"{tag.value_type}, v{tag.version})")
    console.print(tag.description)
    if tag.allowed_values:
        console.print(f"values: {' / '.join(tag.allowed_values)}")
    console.print(f"features: {', '.join(tag.features)}")
    if tag.params:
        console.print("params: " + ", ".join(f"${p} = {defaults.get(p, 'as-of')}" for p in tag.params))
    if tag.requires:
        console.print(f"requires (else missing): {' '.join(tag.requires.split())}")
    console.print("rule:", markup=False)
    console.print(tag.rule, markup=False, highlight=False)
    if tag.explain:
        console.print(f"explain: {tag.explain}", markup=False)
    console.print(f"owner: {tag.owner}; declared at {tag.location}")


@tags_app.command()
def explain(
    customer: str = typer.Option(..., "--customer", help="户号 (10 digits, leading zeros kept)"),
    tag: str = typer.Option(..., "--tag", help="tag id"),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="snapshot date; the latest when omitted"),
    store: Path = typer.Option(Path("store"), "--store", help="portrait store folder"),
) -> None:
    """Print why a customer has a tag value: feature values, thresholds, data window and rule."""
    from tags.explain import ExplainError
    from tags.explain import explain as explain_tag

    con = _open(store, _as_of(as_of))
    try:
        console.print(explain_tag(con, customer, tag).text(), markup=False, highlight=False)
    except ExplainError as err:
        raise PortraitError(str(err)) from None
    finally:
        con.close()


@tags_app.command()
def diff(
    from_: str = typer.Option(..., "--from", help="earlier as-of date, YYYY-MM-DD"),
    to: str = typer.Option(..., "--to", help="later as-of date, YYYY-MM-DD"),
    tag: Optional[str] = typer.Option(None, "--tag", help="one tag id (scores are only compared when named)"),
    district: Optional[str] = typer.Option(None, "--district", help="one 台区编号"),
    store: Path = typer.Option(Path("store"), "--store", help="portrait store folder"),
    limit: int = typer.Option(50, "--limit", help="customers to list (counts always cover everyone)"),
) -> None:
    """List customers who gained or lost a tag between two as-of dates, with counts."""
    from tags.explain import ExplainError, tag_diff

    con = _open(store, None)
    try:
        result = tag_diff(con, _as_of(from_, "--from"), _as_of(to, "--to"), tag, district)
    except ExplainError as err:
        raise PortraitError(str(err)) from None
    finally:
        con.close()
    scope = f" in 台区 {district}" if district else ""
    if result.counts.empty:
        console.print(f"no customer gained or lost {'tag ' + tag if tag else 'a tag'}{scope} "
                      f"from {result.from_as_of} to {result.to_as_of}")
        return
    t = RichTable(title=f"tag changes {result.from_as_of} → {result.to_as_of}{scope}")
    for col in ("tag", "名称", "gained", "lost", "changed"):
        t.add_column(col, justify="right" if col in ("gained", "lost", "changed") else "left")
    for r in result.counts.itertuples(index=False):
        t.add_row(r.tag_id, r.name_zh, str(r.gained), str(r.lost), str(r.changed))
    console.print(t)
    rows = result.changes.head(limit)
    c = RichTable(title=f"customers ({min(limit, len(result.changes))} of {len(result.changes)})")
    for col in ("tag", "户号", "台区", "from", "to", "change"):
        c.add_column(col)
    for r in rows.itertuples(index=False):
        c.add_row(r.tag_id, r.customer_id, r.district_id or "", r.from_value or "缺失", r.to_value or "缺失", r.change)
    console.print(c)


@tags_app.command()
def quality(
    store: Path = typer.Option(Path("store"), "--store", help="portrait store folder"),
    tag: Optional[str] = typer.Option(None, "--tag", help="one tag id: show it per 台区"),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="snapshot date; the latest when omitted"),
) -> None:
    """Print coverage, missing counts and value distribution per tag (or per 台区 for one tag)."""
    con = _open(store, _as_of(as_of))
    try:
        if tag:
            found = con.execute("SELECT count(*) FROM tag_quality WHERE tag_id = ?", [tag]).fetchone()[0]
            if not found:
                from tags.explain import ExplainError, _dictionary_entry

                try:
                    _dictionary_entry(con, tag)
                except ExplainError as err:
                    raise PortraitError(str(err)) from None
            cur = con.execute("SELECT * FROM tag_quality WHERE tag_id = ? ORDER BY scope DESC, district_id", [tag])
        else:
            cur = con.execute("SELECT * FROM tag_quality WHERE scope = 'overall'")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        con.close()
    t = RichTable(title=f"tag quality{' of ' + tag + ' per 台区' if tag else ' (all customers)'}")
    t.add_column("台区" if tag else "tag", no_wrap=True)
    for col in ("customers", "with value", "missing", "coverage", "true"):
        t.add_column(col, justify="right", no_wrap=True)
    t.add_column("distribution / mean")
    for r in rows:
        t.add_row(r["district_id"] or "全部" if tag else r["tag_id"], f"{r['customers']:,}", f"{r['n_with_value']:,}",
                  f"{r['n_missing']:,}", f"{r['coverage'] or 0:.1%}",
                  "" if r["n_true"] is None else f"{int(r['n_true']):,}", _distribution_text(r["distribution"], r["mean"]))
    console.print(t)


def _distribution_text(distribution: Optional[str], mean: Optional[float]) -> str:
    if distribution:
        counts = json.loads(distribution)
        top = sorted(counts.items(), key=lambda kv: -kv[1])[:4]
        more = f" +{len(counts) - 4}" if len(counts) > 4 else ""
        return ", ".join(f"{k} {v:,}" for k, v in top) + more
    if mean is not None:
        return f"mean {mean:.2f}"
    return ""


@tags_app.command()
def docs(check: bool = typer.Option(False, "--check", help="exit non-zero when docs/tags.md is stale"),
         path: Path = typer.Option(DOCS_PATH, "--path", help="where the page is written")) -> None:
    """Render the catalogue to docs/tags.md (or check that the committed page is current)."""
    from pipeline.stages.features import feature_catalog
    from tags.catalog import load_catalog
    from tags.docs import catalog_markdown

    features = feature_catalog()
    text = catalog_markdown(load_catalog(features=features), features)
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if check:
        if current != text:
            raise PortraitError(f"{path} is stale: it does not match tags/*.yaml",
                                hint="run `portrait tags docs` and commit the page")
        console.print(f"{path} is up to date")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    console.print(f"wrote {path} ({text.count(chr(10))} lines)")
