"""Where a pipeline run spends its time: wall and CPU per stage, and the slowest SQL statements.

    python benchmarks/profile_run.py --customers 1000000 --workdir /tmp/pbench [--top 40]
    python benchmarks/profile_run.py --source data/sample/exports --as-of 2025-12-31

Runs the DuckDB pipeline once, on the benchmark's generated exports (the same data as
`pipeline_bench.py`, generated into --workdir when missing) or on any export folder, and prints:

- per stage: wall time, CPU time (this process and its finished children, such as the text
  workers) and the cores in use (CPU / wall; near the machine's core count means CPU-bound);
- the statements that took longest, summed over their calls (a reading model runs once per
  `usage_daily` part), with the stage each ran in.

Every statement the run executes, on the connection or a cursor of it (publish writes through
cursors), is timed. Relations built with `.sql()` (the text stage's reader, the k-means samples) run
when they are fetched and are not timed. Statements are named by what they write (the table, the view or the
Parquet file), otherwise by their start with literals blanked. Publish writes two tables at once, so
its statements overlap and can add up to more than its wall time. The text stage runs in the
background beside usage_daily and the reading models (pipeline/background.py): its row is the time
the run waited for it, its statements are listed as its own, and its CPU counts in the stages it ran
beside. The figures in
benchmarks/RESULTS.md that break a run down by statement come from this script.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pipeline.run as pipeline_run  # noqa: E402
from pipeline.background import THREAD_PREFIX  # noqa: E402
from bench_data import write_bench_exports  # noqa: E402
from pipeline.settings import settings_from_dict  # noqa: E402

_TARGET = [
    (re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?(TABLE|VIEW)\s+\"?([\w.]+)", re.I), "{0} {1}"),
    (re.compile(r"^\s*INSERT\s+INTO\s+\"?([\w.]+)", re.I), "INSERT {0}"),
    (re.compile(r"^\s*COPY\b.*\bTO\s+'([^']*)'", re.I | re.S), "COPY → {0}"),
]


def statement_name(sql: str) -> str:
    """Name a statement by what it writes; otherwise by its first words, string literals blanked."""
    for pattern, fmt in _TARGET:
        m = pattern.search(sql)
        if m:
            groups = [g.upper() if g.upper() in ("TABLE", "VIEW") else g for g in m.groups()]
            if fmt.startswith("COPY"):
                groups = [Path(groups[0]).name or groups[0]]
            return fmt.format(*groups)
    flat = re.sub(r"'(?:[^']|'')*'", "'?'", " ".join(sql.split()))
    return flat[:90]


@dataclass
class Profile:
    """Statement timings and stage boundaries of one run."""

    stage: str = "start"
    statements: list[tuple[str, str, float]] = field(default_factory=list)  # (stage, name, seconds)
    marks: list[tuple[str, float, float]] = field(default_factory=list)  # (stage, wall, cpu) at its start
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, sql: object, seconds: float) -> None:
        # A background stage (pipeline/background.py: text) runs in a thread named after it,
        # beside the run's own: its statements count as its own, whatever stage the run is in.
        thread = threading.current_thread().name
        stage = thread[len(THREAD_PREFIX):] if thread.startswith(THREAD_PREFIX) else self.stage
        with self._lock:
            self.statements.append((stage, statement_name(str(sql)), seconds))

    def enter(self, stage: str) -> None:
        self.marks.append((stage, time.perf_counter(), _cpu_seconds()))
        self.stage = stage

    def stage_rows(self) -> list[tuple[str, float, float]]:
        """(stage, wall s, cpu s) per stage, in the order the stages first started; a stage the run
        enters twice (features, before and after it waits for text) is summed."""
        rows: dict[str, list[float]] = {}
        for (s0, w0, c0), (_, w1, c1) in zip(self.marks, self.marks[1:]):
            row = rows.setdefault(s0, [0.0, 0.0])
            row[0] += w1 - w0
            row[1] += c1 - c0
        return [(s, w, c) for s, (w, c) in rows.items()]

    def top(self, n: int) -> list[tuple[float, int, str, str]]:
        """The n slowest statements by total time: (seconds, calls, stage, name)."""
        total: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
        for stage, name, seconds in self.statements:
            total[(stage, name)][0] += seconds
            total[(stage, name)][1] += 1
        rows = [(s, int(c), stage, name) for (stage, name), (s, c) in total.items()]
        return sorted(rows, key=lambda r: -r[0])[:n]


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class _Timed:
    """A DuckDB connection or cursor whose execute calls are timed into a Profile; anything else passes
    straight through."""

    def __init__(self, inner, profile: Profile) -> None:
        self._inner = inner
        self._profile = profile

    def execute(self, query, *args, **kwargs):
        start = time.perf_counter()
        try:
            result = self._inner.execute(query, *args, **kwargs)
        finally:
            self._profile.record(query, time.perf_counter() - start)
        return self if result is self._inner else result

    def cursor(self):
        return _Timed(self._inner.cursor(), self._profile)

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._inner.__exit__(*exc)


def profile_run(settings) -> tuple[Profile, float, dict[str, float]]:
    """Run the pipeline once with every statement timed; return the profile, total wall s and stage timings."""
    profile = Profile()
    connect = pipeline_run.connect

    def timed_connect(*args, **kwargs):
        return _Timed(connect(*args, **kwargs), profile)

    pipeline_run.connect = timed_connect
    try:
        start = time.perf_counter()
        profile.enter("start")
        result = pipeline_run.run_pipeline(settings, progress=profile.enter)
        profile.enter("end")
        total = time.perf_counter() - start
    finally:
        pipeline_run.connect = connect
    return profile, total, result.timings


def report(profile: Profile, total: float, top: int) -> str:
    lines = [f"total {total:.1f}s", f"{'stage':12s} {'wall s':>8s} {'cpu s':>8s} {'cores':>6s}"]
    for stage, wall, cpu in profile.stage_rows():
        if stage == "start" and wall < 0.05:
            continue
        lines.append(f"{stage:12s} {wall:8.1f} {cpu:8.1f} {cpu / wall if wall else 0:6.2f}")
    timed = sum(s for _, _, s in profile.statements)
    lines.append(f"\n{len(profile.statements)} statements, {timed:.1f}s in all (publish's run two at a time) "
                 f"in the run's {total:.1f}s; the slowest:")
    lines.append(f"{'s':>8s} {'calls':>6s}  {'stage':12s} statement")
    for seconds, calls, stage, name in profile.top(top):
        lines.append(f"{seconds:8.2f} {calls:6d}  {stage:12s} {name}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=100_000, help="generate (or reuse) the benchmark's exports")
    ap.add_argument("--workdir", type=Path, default=None, help="where the benchmark's exports are kept")
    ap.add_argument("--source", type=Path, default=None, help="profile these exports instead")
    ap.add_argument("--as-of", default="2025-12-31")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="portrait-profile-"))
    source = args.source
    if source is None:
        source = work / f"exports-{args.customers}-parquet"
        if not source.exists():
            start = time.perf_counter()
            write_bench_exports(source, args.customers, "parquet")
            print(f"generated {args.customers:,} customers in {time.perf_counter() - start:.1f}s → {source}")
    store = Path(tempfile.mkdtemp(prefix="store-", dir=work))
    settings = settings_from_dict({"as_of": args.as_of, "store": str(store), "source": str(source)})
    try:
        profile, total, _ = profile_run(settings)
    finally:
        shutil.rmtree(store, ignore_errors=True)
        if args.workdir is None and args.source is not None:
            shutil.rmtree(work, ignore_errors=True)
    print(report(profile, total, args.top))


if __name__ == "__main__":
    main()
