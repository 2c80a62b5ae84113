"""End-to-end pipeline benchmark: generate N customers, run every stage, print measured figures.

    python benchmarks/pipeline_bench.py --customers 100000 [--repeat 3] [--pandas-peer]

Prints, per run: time and peak RSS per stage, total wall time, input rows per second, the scan
floor (reading every input row once and aggregating it trivially per customer, in the same
process) and the ratio of total to floor; then medians over the repeats. With --pandas-peer it
also times a straightforward pandas implementation of the core usage/billing/payment features,
the way an analyst would write it, and prints our time / its time; and, like for like, the same
features in DuckDB SQL over the same exports.

    python benchmarks/pipeline_bench.py --customers 100000 --engine spark [--repeat 1]

runs the same on Spark local[<cpus>] (pip install -e ".[spark]", Java 17+). Peak RSS counts the
child processes: the JVM for Spark, the text classifier's workers for DuckDB.

    python benchmarks/pipeline_bench.py --customers 100000 --incremental [--repeat 3]

times adding one month instead: the exports are split at 2025-11-30 (pipeline.sample_exports.
split_exports), a full run publishes 2025-11-30 from the first part, and then, alternately, an
incremental run adds December (`--incremental`) and a full run over every export publishes
2025-12-31 (each into its own copy of the store). Prints both medians and incremental / full.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402

from bench_data import write_bench_exports  # noqa: E402
from pipeline.run import run_pipeline  # noqa: E402
from pipeline.sample_exports import split_exports  # noqa: E402
from pipeline.settings import settings_from_dict  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss_bytes(pid: int | str = "self") -> int:
    """RSS of `pid` and of all its descendants (Spark's JVM and Python workers, the text workers)."""
    total = 0
    stack = [str(pid)]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * PAGE
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack += fh.read().split()
        except (FileNotFoundError, ProcessLookupError):  # the process ended meanwhile
            continue
    return total


class RssSampler:
    """Sample the RSS of this process and its children every 50 ms and keep the peak per named stage."""

    def __init__(self) -> None:
        self.stage = "start"
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            rss = _rss_bytes()
            self.peaks[self.stage] = max(self.peaks.get(self.stage, 0), rss)
            time.sleep(0.05)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def scan_floor(exports: Path) -> float:
    """Return seconds to read every input row once (all columns) and aggregate it trivially per customer."""
    con = duckdb.connect()
    start = time.perf_counter()
    for path in sorted(exports.iterdir()):
        rel = f"{'read_parquet' if path.suffix == '.parquet' else 'read_csv'}('{path}')"
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()]
        key = "户号" if "户号" in cols else cols[0]
        touch = ", ".join(f'max("{c}")' for c in cols if c != key)  # decode every column, keep the work trivial
        con.execute(f'SELECT count(*) FROM (SELECT "{key}", count(*), {touch} FROM {rel} GROUP BY 1)').fetchall()
    elapsed = time.perf_counter() - start
    con.close()
    return elapsed


def input_rows(exports: Path) -> int:
    """Return the number of data rows across the exports."""
    con = duckdb.connect()
    total = 0
    for path in sorted(exports.iterdir()):
        reader = "read_parquet" if path.suffix == ".parquet" else "read_csv"
        total += con.execute(f"SELECT count(*) FROM {reader}('{path}')").fetchone()[0]
    return total


def pandas_peer(exports: Path) -> float:
    """Return seconds for a plain pandas version of the core usage, billing and payment features."""
    import pandas as pd

    start = time.perf_counter()
    readings = pd.read_parquet(exports / "日电量.parquet")
    readings["数据日期"] = pd.to_datetime(readings["数据日期"])
    readings["month"] = readings["数据日期"].dt.month
    readings["weekend"] = readings["数据日期"].dt.day_of_week >= 5
    g = readings.groupby("户号")
    usage = pd.DataFrame({
        "kwh_12m": g["日电量"].sum(), "kwh_mean": g["日电量"].mean(), "kwh_std": g["日电量"].std(),
        "kwh_max": g["日电量"].max(), "kwh_p10": g["日电量"].quantile(0.1),
        "valley_share": g["谷电量"].sum() / g["日电量"].sum(),
    })
    usage["summer"] = readings[readings["month"].isin([6, 7, 8])].groupby("户号")["日电量"].mean()
    usage["winter"] = readings[readings["month"].isin([12, 1, 2])].groupby("户号")["日电量"].mean()
    usage["weekend"] = readings[readings["weekend"]].groupby("户号")["日电量"].mean()
    bills = pd.read_csv(exports / "电费账单.csv", dtype={"户号": str})
    billing = bills.groupby("户号").agg(amount_12m=("电费金额", "sum"), arrears=("欠费金额", "sum"))
    pays = pd.read_csv(exports / "缴费记录.csv", dtype={"户号": str}, parse_dates=["缴费时间"])
    pays["online"] = pays["缴费渠道"].isin(["网上国网", "微信", "支付宝", "银行代扣"])
    payment = pays.groupby("户号").agg(payments=("缴费金额", "size"), online_share=("online", "mean"),
                                       top_channel=("缴费渠道", lambda s: s.mode().iat[0]))
    usage.join(billing).join(payment)
    return time.perf_counter() - start


def duckdb_peer(exports: Path) -> float:
    """Return seconds for the pandas peer's features, the same ones from the same exports, in DuckDB SQL.

    Like for like: this is what the engine choice buys on the peer's work. The full run (above) does much
    more: validation with per-row reasons, text, 100+ tags, segments and publishing.
    """
    con = duckdb.connect()
    start = time.perf_counter()
    readings, bills, pays = (f"'{exports / name}'" for name in ("日电量.parquet", "电费账单.csv", "缴费记录.csv"))
    con.execute(f"""CREATE TABLE peer AS
        WITH usage AS (
            SELECT 户号, sum(日电量) AS kwh_12m, avg(日电量) AS kwh_mean, stddev_samp(日电量) AS kwh_std,
                   max(日电量) AS kwh_max, quantile_cont(日电量, 0.1) AS kwh_p10, sum(谷电量) / sum(日电量) AS valley_share,
                   avg(CASE WHEN month(数据日期) IN (6, 7, 8) THEN 日电量 END) AS summer,
                   avg(CASE WHEN month(数据日期) IN (12, 1, 2) THEN 日电量 END) AS winter,
                   avg(CASE WHEN isodow(数据日期) >= 6 THEN 日电量 END) AS weekend
            FROM read_parquet({readings}) GROUP BY 户号),
        billing AS (SELECT 户号, sum(电费金额) AS amount_12m, sum(欠费金额) AS arrears
                    FROM read_csv({bills}, types={{'户号': 'VARCHAR'}}) GROUP BY 户号),
        payment AS (SELECT 户号, count(*) AS payments,
                           avg(CASE WHEN 缴费渠道 IN ('网上国网', '微信', '支付宝', '银行代扣') THEN 1.0 ELSE 0.0 END) AS online_share,
                           mode(缴费渠道) AS top_channel
                    FROM read_csv({pays}, types={{'户号': 'VARCHAR'}}) GROUP BY 户号)
        SELECT * FROM usage LEFT JOIN billing USING (户号) LEFT JOIN payment USING (户号)""")
    elapsed = time.perf_counter() - start
    con.close()
    return elapsed


def one_run(exports: Path, work: Path, engine: str = "duckdb") -> dict:
    """Run the pipeline once and return its figures."""
    store = work / "store"
    shutil.rmtree(store, ignore_errors=True)
    settings = settings_from_dict({"as_of": "2025-12-31", "store": str(store), "source": str(exports), "engine": engine})
    with RssSampler() as sampler:
        def progress(stage: str) -> None:
            sampler.stage = stage

        start = time.perf_counter()
        result = run_pipeline(settings, progress=progress)
        total = time.perf_counter() - start
    floor = scan_floor(exports)
    return {"total": total, "timings": result.timings, "peaks": dict(sampler.peaks), "floor": floor}


def incremental_bench(exports: Path, work: Path, repeat: int) -> None:
    """Time adding December to a 2025-11-30 store against a full 2025-12-31 run; print medians and the ratio."""
    from datetime import date

    # Named after the exports they come from: the same workdir holds several scales, and reusing
    # another scale's split or base store would time the wrong data.
    base, delta = work / f"split-base-{exports.name}", work / f"split-delta-{exports.name}"
    if not delta.exists():
        start = time.perf_counter()
        split_exports(exports, date(2025, 11, 30), base, delta)
        print(f"split the exports at 2025-11-30 in {time.perf_counter() - start:.1f}s")
    seed = work / f"store-2025-11-30-{exports.name}"
    if not seed.exists():
        start = time.perf_counter()
        run_pipeline(settings_from_dict({"as_of": "2025-11-30", "store": str(seed), "source": str(base)}))
        print(f"full run to 2025-11-30 (the base snapshot): {time.perf_counter() - start:.1f}s")
    times: dict[str, list[float]] = {"incremental": [], "full": []}
    for i in range(repeat):
        for kind in ("incremental", "full"):
            store = work / f"store-{kind}"
            shutil.rmtree(store, ignore_errors=True)
            shutil.copytree(seed, store)
            extra = {"incremental": True} if kind == "incremental" else {}
            source = delta if kind == "incremental" else exports
            start = time.perf_counter()
            result = run_pipeline(settings_from_dict({"as_of": "2025-12-31", "store": str(store),
                                                      "source": str(source), **extra}))
            times[kind].append(time.perf_counter() - start)
            stages = "  ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
            print(f"run {i + 1} {kind:11s} {times[kind][-1]:6.1f}s   {stages}")
    inc, full = statistics.median(times["incremental"]), statistics.median(times["full"])
    print(f"median of {repeat}: incremental {inc:.1f}s  full {full:.1f}s  incremental / full = {inc / full:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None, help="keep data here (reused when present)")
    ap.add_argument("--readings-format", choices=["parquet", "csv"], default="parquet")
    ap.add_argument("--pandas-peer", action="store_true", help="also time the pandas peer (use at 100k)")
    ap.add_argument("--incremental", action="store_true", help="time adding one month against a full run")
    ap.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb",
                    help="spark: Spark local[<cpus>] (pip install -e '.[spark]', Java 17+); RSS includes the JVM")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="portrait-bench-"))
    exports = work / f"exports-{args.customers}-{args.readings_format}"
    if not exports.exists():
        start = time.perf_counter()
        write_bench_exports(exports, args.customers, args.readings_format)
        print(f"generated {args.customers:,} customers in {time.perf_counter() - start:.1f}s → {exports}")
    rows = input_rows(exports)
    print(f"input rows: {rows:,}  cpus: {os.cpu_count()}")
    if args.incremental:
        incremental_bench(exports, work, args.repeat)
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
        return
    runs = []
    for i in range(args.repeat):
        r = one_run(exports, work, args.engine)
        runs.append(r)
        stages = "  ".join(f"{k} {v:.1f}s/{r['peaks'].get(k, 0) / 2**30:.1f}GB" for k, v in r["timings"].items())
        print(f"run {i + 1}: total {r['total']:.1f}s  floor {r['floor']:.1f}s  ratio {r['total'] / r['floor']:.1f}x  "
              f"peak {max(r['peaks'].values()) / 2**30:.2f} GB  {rows / r['total']:,.0f} rows/s")
        print(f"        per stage (time/peak RSS): {stages}")
    med = statistics.median(r["total"] for r in runs)
    floor = statistics.median(r["floor"] for r in runs)
    print(f"median of {len(runs)}: total {med:.1f}s  scan floor {floor:.1f}s  ratio {med / floor:.1f}x  "
          f"{rows / med:,.0f} input rows/s  peak RSS {max(max(r['peaks'].values()) for r in runs) / 2**30:.2f} GB")
    for stage in runs[0]["timings"]:
        print(f"  {stage:9s} median {statistics.median(r['timings'][stage] for r in runs):6.1f}s")
    if args.pandas_peer:
        peer = statistics.median(pandas_peer(exports) for _ in range(max(1, min(args.repeat, 3))))
        ours = med
        print(f"pandas peer (core features only): {peer:.1f}s; full grid-portrait run {ours:.1f}s; "
              f"our time / its time = {ours / peer:.2f}")
        same = statistics.median(duckdb_peer(exports) for _ in range(max(1, min(args.repeat, 3))))
        print(f"like for like, the peer's features in DuckDB SQL: {same:.1f}s; pandas peer / DuckDB = {peer / same:.1f}x")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
