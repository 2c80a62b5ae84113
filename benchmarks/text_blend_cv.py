"""Print 5-fold cross-validated figures of the blend model on the development set, for choosing its settings.

Each fold fits on train.csv plus four fifths of dev.csv and scores the remaining fifth of dev.csv
(train.csv is partly spliced from repeated fragments, so it is never scored). The eval sets are
not read. Usage: python benchmarks/text_blend_cv.py [--grid] [--strict-nested]

Besides the figures of the shipped settings (seed 0, default cut-off), it reports the per-flag
decision thresholds (fit_blend_model.choose_thresholds) for seeds 0/1/2: motive micro-F1 with the
default cut-off, with the thresholds chosen on the same out-of-fold predictions they are scored on
(in-sample, optimistic), and nested: for each outer fold, thresholds chosen on the out-of-fold
predictions of the other four folds' rows only, then applied to the fold. The out-of-fold
probabilities of those four folds come from models that were fitted with the scored fold among their
rows; --strict-nested removes that too (seed 0: inner 4-fold CV inside each outer fold, 20 more fits).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from a checkout without installing the package

from pipeline.text import MOTIVES  # noqa: E402
from pipeline.text import fit_blend_model as fit  # noqa: E402

FOLDS = fit.FOLDS
ORIGINAL_DEV_ROWS = 1051  # dev.csv's first rows, the set before the hand-written additions of Nov 2026
N_MOTIVES = len(MOTIVES)


def _figures(want_s: list[str], sentiment: list[str], want: np.ndarray, raised: np.ndarray) -> dict[str, float]:
    figures = {
        "sentiment_macro_f1": f1_score(want_s, sentiment, average="macro") if sentiment else float("nan"),
        "motive_micro_f1": f1_score(want[:, :N_MOTIVES], raised[:, :N_MOTIVES], average="micro", zero_division=0),
        "escalation_f1": f1_score(want[:, N_MOTIVES], raised[:, N_MOTIVES], zero_division=0),
        "abuse_f1": f1_score(want[:, N_MOTIVES + 1], raised[:, N_MOTIVES + 1], zero_division=0),
    }
    for j, m in enumerate(MOTIVES):
        tp = int((want[:, j] & raised[:, j]).sum())
        figures[f"f1_{m}"] = f1_score(want[:, j], raised[:, j], zero_division=0)
        figures[f"precision_{m}"] = tp / max(int(raised[:, j].sum()), 1)
        figures[f"recall_{m}"] = tp / max(int(want[:, j].sum()), 1)
    return figures


def cross_validated(settings: dict[str, float], seed: int = 0) -> dict[str, float]:
    """Return sentiment macro-F1, motive micro-F1, per-motive F1 and flag F1s over the dev folds (default cut-off)."""
    train, dev = fit.labelled_rows(["train.csv"]), fit.labelled_rows(["dev.csv"])
    sentiment_p, flag_p, classes = fit.out_of_fold_probabilities(train, dev, seed, **settings)
    sentiment = [classes[int(k)] for k in sentiment_p.argmax(axis=1)]
    raised = (flag_p >= fit.DEFAULT_FLAG_THRESHOLD).astype(int)
    return _figures([r["sentiment"] for r in dev], sentiment, fit.flag_truth(dev), raised)


def _vector(thresholds: dict[str, float]) -> np.ndarray:
    return np.array([thresholds[f] for f in fit.FLAGS])


def _strict_nested(train: list[dict[str, str]], dev: list[dict[str, str]], seed: int, outer_p: np.ndarray) -> np.ndarray:
    """Return seed's raised flags with thresholds chosen without any use of the scored fold (inner CV).

    `outer_p` are seed's out-of-fold flag probabilities (each fold's model fitted on train plus the other folds).
    """
    truth = fit.flag_truth(dev)
    outer = fit.dev_folds(len(dev), seed)
    raised = np.zeros_like(truth)
    for k, held in enumerate(outer):
        rest = [i for f, fold in enumerate(outer) if f != k for i in fold]
        inner_p = np.zeros((len(rest), len(fit.FLAGS)))
        position = {i: p for p, i in enumerate(rest)}
        texts = [dev[i]["text"] for i in rest]
        features = fit.lexicon_features(texts)
        for f, fold in enumerate(outer):
            if f == k:
                continue
            fold_set = set(fold)
            model = fit.fit_blend_model(train + [dev[i] for i in rest if i not in fold_set])
            at = [position[i] for i in fold]
            inner_p[at] = model.predict([texts[p] for p in at], features[at])[1]
        thresholds = fit.choose_thresholds([inner_p], truth[rest])
        raised[held] = outer_p[held] >= _vector(thresholds)
        print(f"  strict nested seed {seed} fold {k}: " + " ".join(f"{m[:4]} {thresholds[m]:.3f}" for m in fit.FLAGS),
              flush=True)
    return raised


def threshold_report(strict_nested: bool = False) -> None:
    """Print the chosen thresholds and the motive figures with the default cut-off, in-sample tuned and nested."""
    train, dev = fit.labelled_rows(["train.csv"]), fit.labelled_rows(["dev.csv"])
    truth = fit.flag_truth(dev)
    seeds = fit.THRESHOLD_SEEDS
    chosen, oof = fit.cross_validated_thresholds(train, dev, seeds)
    print("thresholds (all dev rows, seeds " + "/".join(map(str, seeds)) + "): "
          + "  ".join(f"{f} {chosen[f]:.3f}" for f in fit.FLAGS))
    for s in seeds:
        alone = fit.choose_thresholds([oof[s]], truth)
        print(f"  seed {s} alone: " + "  ".join(f"{f[:4]} {alone[f]:.3f}" for f in fit.FLAGS))
    default = np.full(len(fit.FLAGS), fit.DEFAULT_FLAG_THRESHOLD)
    results: dict[str, dict[int, np.ndarray]] = {"default": {}, "tuned in-sample": {}, "nested": {}}
    for s in seeds:
        results["default"][s] = (oof[s] >= default).astype(int)
        results["tuned in-sample"][s] = (oof[s] >= _vector(chosen)).astype(int)
        nested = np.zeros_like(truth)
        folds = fit.dev_folds(len(dev), s)
        for k, held in enumerate(folds):
            rest = [i for f, fold in enumerate(folds) if f != k for i in fold]
            picked = fit.choose_thresholds([oof[t][rest] for t in seeds], truth[rest])
            nested[held] = oof[s][held] >= _vector(picked)
        results["nested"][s] = nested
    if strict_nested:
        results["strict nested (seed 0)"] = {0: _strict_nested(train, dev, 0, oof[0])}
    for label, rows in (("all dev rows", slice(None)), (f"original {ORIGINAL_DEV_ROWS} dev rows",
                                                        slice(0, ORIGINAL_DEV_ROWS))):
        print(f"-- {label}: motive micro-F1 per seed (mean); escalation/abuse F1 (mean)")
        for name, per_seed in results.items():
            figs = {s: _figures([], [], truth[rows], raised[rows]) for s, raised in per_seed.items()}
            micro = [f["motive_micro_f1"] for f in figs.values()]
            print(f"  {name:24s} micro-F1 " + "/".join(f"{v:.3f}" for v in micro) + f" ({np.mean(micro):.3f})"
                  f"  escalation {np.mean([f['escalation_f1'] for f in figs.values()]):.3f}"
                  f"  abuse {np.mean([f['abuse_f1'] for f in figs.values()]):.3f}")
            print("    " + "  ".join(
                f"{m[:4]} P {np.mean([f[f'precision_{m}'] for f in figs.values()]):.2f}"
                f" R {np.mean([f[f'recall_{m}'] for f in figs.values()]):.2f}" for m in MOTIVES), flush=True)


def main() -> None:
    """Print the cross-validated figures of the shipped settings (or a small grid around them) and the threshold report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", action="store_true", help="also try neighbouring settings")
    parser.add_argument("--strict-nested", action="store_true", help="also the fully nested threshold estimate (seed 0)")
    parser.add_argument("--no-thresholds", action="store_true", help="skip the threshold report")
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
    if not args.no_thresholds:
        threshold_report(strict_nested=args.strict_nested)


if __name__ == "__main__":
    main()
