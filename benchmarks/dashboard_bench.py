"""Time the dashboard's own queries on a 1M-customer store: the portrait page and a segment count.

    python benchmarks/dashboard_bench.py                      # builds .portrait/bench-dashboard-1m once, then times
    python benchmarks/dashboard_bench.py --scale 50           # 100,000 customers
    python benchmarks/dashboard_bench.py --rebuild --runs 7

The store is the committed sample's published snapshot (2,000 customers, every table the pipeline
publishes) replicated `--scale` times in DuckDB SQL, one block of 2,000 customers per replica with
fresh 户号, 台区 and ticket ids, written to Parquet in the store layout (store.json, snapshots/,
runs/). No Python loop touches a row. With the default scale of 500 that is 1,000,000 customers,
13,500 台区 and about 396M daily readings.

Timed through dashboards.queries exactly as the pages call it (median of --runs after one warm-up):
- portrait page: `portrait_bundle` (archive, tags, daily usage, bills, payments, contacts with text
  signals, features, segments, care alerts, service gaps) plus the page's pick list of key users;
- segment count: `segment_count` for a three-condition AND / OR / NOT tree, and its breakdown by 台区;
- for reference: the overview's headline figures and the key-user list.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BLOCK = 2000  # customers in the sample
ROW_GROUP = 122_880  # rows per Parquet row group, as pipeline.store.publish_snapshot writes them
RENAMED_IDS = ("ticket_id", "payment_id", "application_id", "outage_id")


def _q(p: Path) -> str:
    return "'" + str(p).replace("'", "''") + "'"


def sample_snapshot(work: Path) -> Path:
    """Return the sample store's current snapshot folder, publishing it from data/sample first if needed."""
    store = work / "sample-store"
    if not (store / "store.json").exists():
        from pipeline.run import run_pipeline
        from pipeline.settings import settings_from_dict

        print(f"publishing the sample store into {store} …", flush=True)
        run_pipeline(settings_from_dict({"as_of": "2025-12-31", "store": str(store),
                                         "source": str(REPO / "data" / "sample" / "exports")}))
    pointer = json.loads((store / "store.json").read_text(encoding="utf-8"))
    as_of = max(pointer["snapshots"])
    return store / pointer["snapshots"][as_of]["path"]


def _select(table: str, cols: list[str]) -> tuple[str, str, str]:
    """Return (select list, join, where) that turn one sample table into replica $k."""
    out = []
    for c in cols:
        qc = f't."{c}"'
        if c == "customer_id":
            out.append("CASE WHEN m.idx IS NULL THEN NULL ELSE printf('%04d%06d', $k, m.idx) END AS customer_id")
        elif c == "district_id":
            out.append(f"{qc} || '-' || printf('%03d', $k) AS district_id")
        elif c == "district_name":
            out.append(f"{qc} || '-' || CAST($k AS VARCHAR) AS district_name")
        elif c in RENAMED_IDS:
            out.append(f"{qc} || '-' || CAST($k AS VARCHAR) AS \"{c}\"")
        elif table == "experience_map" and c == "scope_id":
            out.append(f"CASE WHEN t.scope = '台区' THEN {qc} || '-' || printf('%03d', $k) ELSE {qc} END AS scope_id")
        else:
            out.append(qc)
    join = "LEFT JOIN idmap m ON m.old = t.customer_id" if "customer_id" in cols else ""
    where = "TRUE"
    if "customer_id" not in cols and "district_id" in cols:
        where = "t.district_id IS NOT NULL OR $k = 0"  # area-wide rows once
    if table == "experience_map":
        where = "t.scope = '台区' OR $k = 0"
    return ", ".join(out), join, where


def build_store(out: Path, snap: Path, scale: int) -> dict[str, float]:
    """Write the replicated store into `out`; return seconds per table."""
    run_id = f"bench-{scale}x"
    as_of = json.loads((snap / "manifest.json").read_text(encoding="utf-8"))["as_of"]
    target = out / "snapshots" / as_of / run_id
    target.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"preserve_insertion_order": True})
    con.execute(f"CREATE TABLE idmap AS SELECT customer_id AS old, CAST(row_number() OVER (ORDER BY customer_id) - 1 "
                f"AS INTEGER) AS idx FROM read_parquet({_q(snap / 'customers.parquet')})")
    timings: dict[str, float] = {}
    counts: dict[str, int] = {}
    for src in sorted(snap.glob("*.parquet")):
        table = src.stem
        start = time.perf_counter()
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({_q(src)})").fetchall()]
        if "customer_id" not in cols and "district_id" not in cols and table != "experience_map":
            (target / src.name).write_bytes(src.read_bytes())
            counts[table] = pq.ParquetFile(src).metadata.num_rows
            timings[table] = time.perf_counter() - start
            continue
        select, join, where = _select(table, cols)
        order = ["customer_id"] if "customer_id" in cols else (["district_id"] if "district_id" in cols else [])
        order += [c for c in ("reading_date", "period", "contacted_at", "tag_id", "paid_at") if c in cols]
        sql = (f"SELECT {select} FROM read_parquet({_q(src)}) t {join} WHERE {where}"
               + (f" ORDER BY {', '.join(order)}" if order else ""))
        writer = None
        n = 0
        pending: list[pa.Table] = []
        held = 0
        for k in range(scale):
            block = con.sql(sql.replace("$k", str(int(k)))).to_arrow_table()
            if writer is None:
                writer = pq.ParquetWriter(target / src.name, block.schema, compression="zstd")
            pending.append(block)
            held += block.num_rows
            n += block.num_rows
            if held >= ROW_GROUP:  # full row groups, as the pipeline's COPY writes them
                whole = pa.concat_tables(pending)
                cut = (held // ROW_GROUP) * ROW_GROUP
                writer.write_table(whole.slice(0, cut), row_group_size=ROW_GROUP)
                pending, held = [whole.slice(cut)], held - cut
        if held:
            writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP)
        writer.close()
        counts[table] = n
        timings[table] = time.perf_counter() - start
        print(f"  {table:<18} {n:>12,} rows  {timings[table]:6.1f}s", flush=True)
    manifest = {"run_id": run_id, "status": "published", "as_of": as_of, "engine": "bench",
                "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "counts": {t: {"read": n, "accepted": n, "rejected": 0, "reasons": {}} for t, n in counts.items()},
                "rows": counts, "timings": {k: round(v, 2) for k, v in timings.items()},
                "total_seconds": round(sum(timings.values()), 1), "warnings": [], "error": None,
                "tables": sorted(counts), "note": f"sample snapshot replicated {scale}x by benchmarks/dashboard_bench.py"}
    (target / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "runs").mkdir(exist_ok=True)
    (out / "runs" / f"{run_id}.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    pointer = {"format": 1, "snapshots": {as_of: {"path": str(target.relative_to(out)), "run_id": run_id,
                                                  "published_at": manifest["finished_at"]}}}
    (out / "store.json").write_text(json.dumps(pointer, indent=2), encoding="utf-8")
    return timings


def _median(fn, runs: int) -> tuple[float, object]:
    result = fn()  # warm-up: Parquet footers into the metadata cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def time_queries(store_path: Path, runs: int, customers: int) -> list[tuple[str, float, str]]:
    """Return (what, median seconds, detail) for the portrait page and the segment count."""
    from dashboards import queries as q

    store = q.open_store(store_path)
    rng = random.Random(7)
    # half of them with contacts (the heavier portraits), half drawn from everyone
    talkers = store.query("SELECT customer_id, district_id FROM customers WHERE customer_id IN "
                          "(SELECT customer_id FROM contacts) USING SAMPLE reservoir(100 ROWS) REPEATABLE (7)")
    anyone = store.query("SELECT customer_id, district_id FROM customers USING SAMPLE reservoir(100 ROWS) REPEATABLE (7)")
    half = (customers + 1) // 2
    picks = pd.concat([talkers.sample(n=min(half, len(talkers)), random_state=rng.randint(0, 10_000)),
                       anyone.sample(n=min(customers - half, len(anyone)), random_state=rng.randint(0, 10_000))],
                      ignore_index=True)
    manager = q.Viewer("bench-manager", "manager")
    rows: list[tuple[str, float, str]] = []
    bundle_times, page_times = [], []
    for r in picks.itertuples():
        staff = q.Viewer("bench-staff", "staff", (r.district_id,))
        t, bundle = _median(lambda: q.portrait_bundle(store, staff, r.customer_id), runs)
        bundle_times.append(t)
        sizes = {k: len(v) for k, v in bundle.items()}
        t2, _ = _median(lambda: (q.portrait_bundle(store, staff, r.customer_id),
                                 q.key_users(store, staff, limit=50)), runs)
        page_times.append(t2)
        print(f"  portrait {r.customer_id} ({r.district_id}): bundle {t:.3f}s, page {t2:.3f}s  rows {sizes}", flush=True)
    rows.append(("portrait page: portrait_bundle (staff)", statistics.median(bundle_times),
                 f"median over {len(bundle_times)} customers × {runs} runs; worst {max(bundle_times):.3f}s"))
    rows.append(("portrait page: bundle + key-user pick list (staff)", statistics.median(page_times),
                 f"worst {max(page_times):.3f}s"))
    cid = picks.iloc[0]["customer_id"]
    t, _ = _median(lambda: q.portrait_bundle(store, manager, cid), runs)
    rows.append(("portrait page: portrait_bundle (manager, masked)", t, cid))

    fields = q.segment_fields(store)
    tree = {"all": [{"tag": "in_arrears", "op": "is_true"},
                    {"any": [{"tag": "value_tier", "op": "in", "values": ["高价值", "中价值"]},
                             {"tag": "contact_count_12m", "op": ">=", "value": 2}]},
                    {"not": {"tag": "sensitive_customer", "op": "in", "values": ["高"]}}]}
    if not all(c in fields for c in ("in_arrears", "value_tier", "contact_count_12m", "sensitive_customer")):
        flags = [f.id for f in fields.values() if f.value_type == "flag" and f.alias == "w"][:3]
        tree = {"all": [{"tag": flags[0], "op": "is_true"},
                        {"any": [{"tag": flags[1], "op": "is_true"}, {"not": {"tag": flags[2], "op": "is_true"}}]}]}
    t, n = _median(lambda: q.segment_count(store, manager, tree), runs)
    rows.append(("segment count (manager, all districts)", t, f"{n:,} customers match"))
    district = picks.iloc[0]["district_id"]
    staff = q.Viewer("bench-staff", "staff", (district,))
    t, n = _median(lambda: q.segment_count(store, staff, tree), runs)
    rows.append(("segment count (staff, one 台区)", t, f"{n:,} customers match"))
    t, by = _median(lambda: q.segment_by_district(store, manager, tree), runs)
    rows.append(("segment breakdown by 台区 (manager)", t, f"{len(by):,} districts"))
    t, _ = _median(lambda: q.segment_members(store, manager, tree, limit=20), runs)
    rows.append(("segment sample of 20 (manager)", t, ""))
    t, _ = _median(lambda: q.overview_history(store, manager), runs)
    rows.append(("overview headline figures (manager, all)", t, "for reference"))
    t, _ = _median(lambda: q.key_users(store, manager, limit=500), runs)
    rows.append(("key-user list, top 500 (manager, all)", t, "for reference"))
    store.close()
    return rows


def main() -> None:
    """Build (or reuse) the scaled store, time the queries and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, default=REPO / ".portrait" / "bench-dashboard-1m")
    ap.add_argument("--scale", type=int, default=500, help="replicas of the 2,000-customer sample (500 → 1M)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per query (median reported)")
    ap.add_argument("--customers", type=int, default=5, help="customers whose portrait is timed")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the store even if it exists")
    args = ap.parse_args()

    marker = args.store / "bench.json"
    if args.rebuild or not marker.exists() or json.loads(marker.read_text())["scale"] != args.scale:
        if args.store.exists():
            import shutil

            shutil.rmtree(args.store)
        args.store.mkdir(parents=True)
        snap = sample_snapshot(args.store.parent)
        print(f"building {args.scale * BLOCK:,} customers into {args.store} …", flush=True)
        start = time.perf_counter()
        build_store(args.store, snap, args.scale)
        built = time.perf_counter() - start
        marker.write_text(json.dumps({"scale": args.scale, "customers": args.scale * BLOCK, "build_seconds": round(built, 1)}))
        print(f"built in {built:.0f}s", flush=True)
    info = json.loads(marker.read_text())
    size = sum(p.stat().st_size for p in args.store.rglob("*.parquet") if p.is_file()) / 1e9
    print(f"store: {args.store} · {info['customers']:,} customers · {size:.1f} GB of Parquet "
          f"(built in {info['build_seconds']:.0f}s)")
    rows = time_queries(args.store, args.runs, args.customers)
    print()
    print(f"{'query':<52} {'median':>9}  detail")
    for what, seconds, detail in rows:
        flag = "" if seconds < 1.0 else "  ← over 1 s"
        print(f"{what:<52} {seconds:>8.3f}s  {detail}{flag}")


if __name__ == "__main__":
    main()
