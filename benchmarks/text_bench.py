"""Print contact-text classification throughput (texts/s, median of 3 runs) and peak RSS on 100,000 texts.

Usage: python benchmarks/text_bench.py [--rows 100000] [--runs 3]
"""
from __future__ import annotations

import argparse
import csv
import random
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from a checkout without installing the package

from pipeline.text import classify_texts, default_lexicon  # noqa: E402
from pipeline.text.blend_model import default_blend_model  # noqa: E402

DATA = REPO / "pipeline" / "text" / "data"


def benchmark_texts(rows: int, seed: int = 7) -> list[str]:
    """Return `rows` texts: labelled texts, and new ones spliced from clauses of two of them."""
    texts = []
    for name in ("eval.csv", "eval_v2.csv", "train.csv", "dev.csv"):
        if not (DATA / name).is_file():
            continue
        with (DATA / name).open(encoding="utf-8") as handle:
            texts += [row["text"] for row in csv.DictReader(handle)]
    clauses = [c for t in texts for c in t.replace("。", "，").split("，") if c]
    rng = random.Random(seed)
    out = []
    for _ in range(rows):
        if rng.random() < 0.5:
            out.append(rng.choice(texts))
        else:
            # Fresh combinations, so the run is not a replay of a few hundred strings.
            out.append("，".join(rng.sample(clauses, rng.randint(2, 5))) + "。")
    return out


def main() -> None:
    """Print texts/s for each run, the median, the mean text length and the peak RSS."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    texts = benchmark_texts(args.rows)
    started = time.perf_counter()
    default_lexicon()
    print(f"lexicon compiled in {time.perf_counter() - started:.3f} s")
    started = time.perf_counter()
    default_blend_model()
    print(f"blend model loaded in {time.perf_counter() - started:.3f} s")
    rates, cpu_rates = [], []
    for run in range(args.runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        table = classify_texts(texts)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        assert table.num_rows == len(texts)
        rates.append(len(texts) / elapsed)
        cpu_rates.append(len(texts) / cpu)
        print(f"run {run + 1}: {len(texts):,} texts in {elapsed:.2f} s = {rates[-1]:,.0f} texts/s "
              f"({cpu:.2f} s CPU = {cpu_rates[-1]:,.0f} texts per CPU-second)")
    mean_chars = sum(map(len, texts)) / len(texts)
    print(f"median {statistics.median(rates):,.0f} texts/s (one process, one core; mean text {mean_chars:.0f} chars)")
    # On a shared machine wall time includes waiting for a core; CPU time does not.
    print(f"median {statistics.median(cpu_rates):,.0f} texts per CPU-second")
    # ru_maxrss is in KiB on Linux.
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
