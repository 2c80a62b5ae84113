"""Print 5-fold cross-validated figures of the blend model on the development set, for choosing its settings.

Each fold fits on train.csv plus four fifths of dev.csv and scores the remaining fifth of dev.csv
(train.csv is partly spliced from repeated fragments, so it is never scored). The eval sets are
not read. Usage: python benchmarks/text_blend_cv.py [--grid]
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from a checkout without installing the package

from pipeline.text import MOTIVES, classify_texts  # noqa: E402
from pipeline.text import fit_blend_model as fit  # noqa: E402

FOLDS = 5


def _folds(n: int, seed: int = 0) -> list[list[int]]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [sorted(order[k::FOLDS]) for k in range(FOLDS)]


def _truth(rows: list[dict[str, str]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    sentiment = [r["sentiment"] for r in rows]
    motives = np.array([[int(m in r["motives"].split("|")) for m in MOTIVES] for r in rows])
    flags = np.array([[int(r["escalation"]), int(r["abuse"])] for r in rows])
    return sentiment, motives, flags


def cross_validated(settings: dict[str, float]) -> dict[str, float]:
    """Return sentiment macro-F1, motive micro-F1, per-motive F1 and flag F1s over the dev folds."""
    train = fit.labelled_rows(["train.csv"])
    dev = fit.labelled_rows(["dev.csv"])
    sentiment = [""] * len(dev)
    motives = np.zeros((len(dev), len(MOTIVES)), dtype=int)
    flags = np.zeros((len(dev), 2), dtype=int)
    for held in _folds(len(dev)):
        held_set = set(held)
        fit_rows = train + [r for i, r in enumerate(dev) if i not in held_set]
        model = fit.fit_blend_model(fit_rows, **settings)
        table = classify_texts([dev[i]["text"] for i in held], model=model).to_pydict()
        for k, i in enumerate(held):
            sentiment[i] = table["sentiment"][k]
            motives[i] = [table[f"motive_{m}"][k] for m in MOTIVES]
            flags[i] = [table["escalation"][k], table["abuse"][k]]
    want_s, want_m, want_f = _truth(dev)
    figures = {
        "sentiment_macro_f1": f1_score(want_s, sentiment, average="macro"),
        "motive_micro_f1": f1_score(want_m, motives, average="micro"),
        "escalation_f1": f1_score(want_f[:, 0], flags[:, 0]),
        "abuse_f1": f1_score(want_f[:, 1], flags[:, 1]),
    }
    for j, m in enumerate(MOTIVES):
        figures[f"f1_{m}"] = f1_score(want_m[:, j], motives[:, j])
    return figures


def main() -> None:
    """Print the cross-validated figures of the shipped settings, or of a small grid around them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", action="store_true", help="also try neighbouring settings")
    args = parser.parse_args()
    base = {"c_sentiment": fit.C_SENTIMENT, "c_flags": fit.C_FLAGS, "lexicon_scale": fit.LEXICON_SCALE, "min_df": fit.MIN_DF}
    grid = [base]
    if args.grid:
        for key, values in (("c_sentiment", (1.0, 10.0)), ("c_flags", (1.0, 10.0, 30.0)),
                            ("lexicon_scale", (0.25, 1.0)), ("min_df", (1, 3))):
            grid += [{**base, key: v} for v in values]
    for settings in grid:
        f = cross_validated(settings)
        per = " ".join(f"{m[:4]} {f[f'f1_{m}']:.2f}" for m in MOTIVES)
        print(f"{settings}: sentiment macro-F1 {f['sentiment_macro_f1']:.3f}  motive micro-F1 "
              f"{f['motive_micro_f1']:.3f}  escalation {f['escalation_f1']:.3f}  abuse {f['abuse_f1']:.3f}  | {per}",
              flush=True)


if __name__ == "__main__":
    main()
