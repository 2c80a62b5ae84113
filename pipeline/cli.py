"""`portrait`: thin verbs over the library. A failure prints one `Error:` line and exits non-zero."""
from __future__ import annotations

import logging
import sys
import time
from datetime import date
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table as RichTable

from pipeline.cli_segments import keyusers, segments_app
from pipeline.cli_tags import tags_app
from pipeline.cli_dashboard import print_demo_access, serve, users_app
from pipeline.errors import PortraitError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="grid-portrait: customer portraits for power utilities (用户画像)")
app.add_typer(tags_app, name="tags")
app.add_typer(segments_app, name="segments")
app.command("keyusers")(keyusers)
console = Console()
err_console = Console(stderr=True)
_state = {"debug": False}
app.command("serve")(serve)
app.add_typer(users_app, name="users")

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO_ROOT / "data" / "sample"
DEFAULT_AS_OF = date(2025, 12, 31)


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="show tracebacks and debug logs")) -> None:
    _state["debug"] = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _progress(stage: str) -> None:
    err_console.print(f"[dim]… {stage}[/dim]")


def _print_counts(result) -> None:
    t = RichTable(title=f"rows per table (as-of {result.settings.as_of})", show_lines=False)
    for col in ("table", "read", "accepted", "rejected", "top reject reasons", "balanced"):
        t.add_column(col, justify="right" if col in ("read", "accepted", "rejected") else "left")
    for name, c in result.counts.items():
        reasons = ", ".join(f"{k} {v}" for k, v in list(c.reasons.items())[:3])
        t.add_row(name, f"{c.read:,}", f"{c.accepted:,}", f"{c.rejected:,}", reasons, "✓" if c.balanced else "✗")
    console.print(t)


def _print_timings(timings: dict[str, float], background: dict[str, float] | None = None) -> None:
    parts = "  ".join(f"{k} {v:.2f}s" for k, v in timings.items())
    console.print(f"time per stage: {parts}  (total {sum(timings.values()):.2f}s)")
    if background:
        own = ", ".join(f"{k} {v:.2f}s" for k, v in background.items())
        console.print(f"  ran in the background, beside other stages: {own} (the time per stage above is "
                      f"what the run waited for {'it' if len(background) == 1 else 'them'})")


def _print_problems(result) -> None:
    for w in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")
    for s in result.staged:
        m = s.resolution
        if m.unknown or m.ignored:
            console.print(f"[yellow]mapping:[/yellow] {s.label} → {s.table}: unknown columns not loaded: "
                          f"{', '.join(m.unknown + m.ignored)}")


def _settings_for(source: Optional[Path], config: Optional[Path], as_of: Optional[str], store: Optional[Path],
                  mapping: Optional[Path]):
    from pipeline.settings import load_settings, settings_from_dict

    overrides = {"as_of": as_of, "store": str(store) if store else None, "mapping": str(mapping) if mapping else None}
    if config:
        settings = load_settings(config, {k: v for k, v in overrides.items() if v is not None})
        if source:
            from pipeline.settings import SourceSpec
            settings = settings.with_(sources=(SourceSpec(path=source),))
        return settings
    if source is None:
        raise PortraitError("say what to read", hint="pass --source DIR (a folder of exports) or --config run.toml")
    raw = {"as_of": as_of or DEFAULT_AS_OF.isoformat(), "store": str(store or Path("store")), "source": str(source)}
    if mapping:
        raw["mapping"] = str(mapping)
    return settings_from_dict(raw, base_dir=Path.cwd())


def _run_and_report(settings, title: str) -> None:
    from pipeline.run import run_pipeline

    start = time.perf_counter()
    result = run_pipeline(settings, progress=_progress)
    console.print(f"[bold green]{title}[/bold green] run {result.run_id} published as-of {settings.as_of} "
                  f"in {time.perf_counter() - start:.1f}s")
    _print_counts(result)
    _print_problems(result)
    _print_timings(result.timings, result.background)
    console.print(f"store: {Path(settings.store).resolve()}")
    console.print(f"snapshot: {result.snapshot}")
    console.print(f"manifest: {result.manifest_path}")


@app.command()
def run(
    source: Optional[Path] = typer.Option(None, "--source", help="folder (or file) of exports"),
    config: Optional[Path] = typer.Option(None, "--config", help="run.toml with sources, params and store"),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="snapshot date, YYYY-MM-DD (usually a month end)"),
    store: Optional[Path] = typer.Option(None, "--store", help="portrait store folder"),
    mapping: Optional[Path] = typer.Option(None, "--mapping", help="extra header mapping YAML"),
    engine: Optional[str] = typer.Option(None, "--engine", help="duckdb (default) or spark; overrides run.toml"),
    spark_master: Optional[str] = typer.Option(None, "--spark-master",
                                               help="Spark master URL, e.g. spark://host:7077 (default local[<cpus>])"),
    incremental: bool = typer.Option(False, "--incremental",
                                     help="add these exports (the new month) to the store's latest earlier snapshot"),
) -> None:
    """Run the pipeline on exports and publish a snapshot to the store."""
    settings = _settings_for(source, config, as_of, store, mapping)
    if incremental:
        settings = settings.with_(incremental=True)
    if engine is not None:
        if engine not in ("duckdb", "spark"):
            raise PortraitError(f"--engine {engine} is not supported", hint="use --engine duckdb or --engine spark")
        settings = settings.with_(engine=engine)
    if spark_master:
        settings = settings.with_(spark_master=spark_master, engine="spark" if engine is None else settings.engine)
    _run_and_report(settings, "ok")


@app.command()
def validate(
    source: Optional[Path] = typer.Option(None, "--source", help="folder (or file) of exports"),
    config: Optional[Path] = typer.Option(None, "--config", help="run.toml"),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="as-of date used for date sanity checks"),
    mapping: Optional[Path] = typer.Option(None, "--mapping", help="extra header mapping YAML"),
    rejects: int = typer.Option(10, "--show-rejects", help="how many reject examples to print per table"),
) -> None:
    """Dry run: read, map and check the exports; report per table; write nothing to the store."""
    from pipeline.run import validate_only

    settings = _settings_for(source, config, as_of, None, mapping)
    result = validate_only(settings, progress=_progress)
    for s in result.staged:
        m = s.resolution
        enc = f", {s.encoding}" if s.encoding else ""
        console.print(f"[bold]{s.label}[/bold] → {s.table} ({s.format}{enc}); "
                      f"{len(m.bindings)} columns mapped" + (f", {len(m.wide_dates)} day columns (wide)" if m.wide_dates else "")
                      + (f"; unknown: {', '.join(m.unknown)}" if m.unknown else ""))
    _print_counts(result)
    _print_problems(result)
    console.print("validate is a dry run: nothing was written to a store.")
    if not result.balanced:
        raise PortraitError("row accounting does not balance", hint="this is a bug; rerun with --debug")


@app.command()
def demo(
    customers: int = typer.Option(2000, "--customers", help="customers in the generated sample"),
    seed: int = typer.Option(42, "--seed", help="random seed of the generator"),
    store: Path = typer.Option(Path("store"), "--store", help="where to publish the demo store"),
    data: Optional[Path] = typer.Option(None, "--data", help="where to write generated exports"),
) -> None:
    """Generate the sample exports (if absent), run the pipeline on them, and print a summary."""
    from pipeline.sample_exports import write_sample_exports
    from pipeline.settings import settings_from_dict

    if data is None:
        committed = SAMPLE_DIR / "exports"
        if customers == 2000 and seed == 42 and committed.exists():
            data = SAMPLE_DIR
        else:
            data = Path(".portrait") / f"sample-{customers}-{seed}"
    if not (data / "exports").exists():
        console.print(f"generating {customers:,} customers (seed {seed}) into {data} …")
        write_sample_exports(data, customers=customers, seed=seed, as_of=DEFAULT_AS_OF)
    settings = settings_from_dict({"as_of": DEFAULT_AS_OF.isoformat(), "store": str(store.resolve()),
                                   "source": str((data / "exports").resolve())})
    _run_and_report(settings, "demo")
    print_demo_access(store.resolve())


@app.command("split-exports")
def split_exports_cmd(
    source: Path = typer.Option(..., "--source", help="folder of exports covering several months"),
    at: str = typer.Option(..., "--at", help="last day of the earlier part, YYYY-MM-DD (e.g. 2025-11-30)"),
    base: Path = typer.Option(..., "--base", help="where to write the rows dated on or before --at"),
    new: Path = typer.Option(..., "--new", help="where to write the later rows (the new month)"),
) -> None:
    """Split exports by date, to try an incremental run: full run on --base, then --incremental on --new."""
    from pipeline.sample_exports import split_exports
    from pipeline.settings import parse_date

    for name, (n_base, n_new) in split_exports(source, parse_date(at, "--at"), base, new).items():
        shown = lambda n: "whole file" if n < 0 else f"{n:,} rows"  # noqa: E731
        console.print(f"{name}: {shown(n_base)} → {base}, {shown(n_new)} → {new}")


text_app = typer.Typer(no_args_is_help=True, help="Chinese contact texts (客服工单内容): sentiment, motives, escalation")
app.add_typer(text_app, name="text")


@text_app.command("classify")
def text_classify(
    input: Path = typer.Option(..., "--input", help="CSV of texts (UTF-8 or GBK)"),
    text_column: str = typer.Option(..., "--text-column", help="the column holding the text"),
    output: Path = typer.Option(..., "--output", help="CSV to write: the input columns plus the classifier's"),
    encoding: Optional[str] = typer.Option(None, "--encoding", help="input encoding; detected when omitted"),
) -> None:
    """Classify every text of a CSV: sentiment, the six complaint motives, escalation, abuse, special needs."""
    from pipeline.text import classify_csv

    start = time.perf_counter()
    try:
        rows = classify_csv(input, text_column, output, encoding=encoding)
    except (ValueError, FileNotFoundError) as err:
        raise PortraitError(str(err), hint="check --input and --text-column") from None
    console.print(f"classified {rows:,} texts in {time.perf_counter() - start:.1f}s → {output}")


def main() -> None:
    """Entry point of the `portrait` console script."""
    try:
        app(standalone_mode=False)
    except PortraitError as err:
        if _state["debug"]:
            raise
        print(f"Error: {err}", file=sys.stderr)
        sys.exit(1)
    except (typer.Abort, KeyboardInterrupt):
        print("Error: interrupted", file=sys.stderr)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as err:  # click usage errors and unexpected failures: one line unless --debug
        if hasattr(err, "show") and hasattr(err, "exit_code"):  # a usage error from the CLI parser
            err.show()
            sys.exit(err.exit_code)
        if _state["debug"]:
            raise
        print(f"Error: {type(err).__name__}: {err} (rerun with --debug for the traceback)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
