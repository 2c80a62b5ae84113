"""Print how the contact-text classifier scores on the held-out eval sets and on public sentiment corpora.

Usage: python benchmarks/text_eval.py [--data FILE.csv ...] [--errors]

By default it scores the held-out sets pipeline/text/data/eval.csv, eval_v2.csv and eval_v3.csv, and the hard
set eval_v4.csv (implicit motives; held out until its first score, then phrases from its errors guided new
development rows, so it tracks progress but is not evidence). None is used to fit or tune anything; look at
--errors on the held-out sets only after a change is frozen.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from a checkout without installing the package

from pipeline.text import MOTIVES, classify_texts  # noqa: E402

EVAL_SETS = tuple(REPO / "pipeline" / "text" / "data" / f for f in ("eval.csv", "eval_v2.csv", "eval_v3.csv", "eval_v4.csv"))
PUBLIC_CORPORA = REPO.parent / "shared" / "data" / "chinese_sentiment"


def labelled_set(path: Path) -> pd.DataFrame:
    """Return the labelled texts with motives split into one 0/1 column per motive."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for motive in MOTIVES:
        frame[f"motive_{motive}"] = frame["motives"].map(lambda s, m=motive: int(m in s.split("|")))
    for column in ("escalation", "abuse"):
        frame[column] = frame[column].astype(int)
    return frame


def eval_metrics(frame: pd.DataFrame) -> dict[str, float]:
    """Return the headline figures (sentiment accuracy and macro-F1, motive micro-F1, flag F1s) for a labelled frame."""
    predicted = classify_texts(frame["text"].tolist()).to_pandas()
    truth = frame[[f"motive_{m}" for m in MOTIVES]].to_numpy()
    guess = predicted[[f"motive_{m}" for m in MOTIVES]].to_numpy()
    return {
        "sentiment_accuracy": accuracy_score(frame["sentiment"], predicted["sentiment"]),
        "sentiment_macro_f1": f1_score(frame["sentiment"], predicted["sentiment"], average="macro"),
        "motive_micro_f1": f1_score(truth, guess, average="micro", zero_division=0),
        "escalation_f1": f1_score(frame["escalation"], predicted["escalation"], zero_division=0),
        "abuse_f1": f1_score(frame["abuse"], predicted["abuse"], zero_division=0),
        "special_need_accuracy": accuracy_score(frame["special_need"], predicted["special_need"]),
    }


def _report_labelled(path: Path, show_errors: bool) -> None:
    frame = labelled_set(path)
    predicted = classify_texts(frame["text"].tolist()).to_pandas()
    figures = eval_metrics(frame)
    shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    print(f"== {shown}: {len(frame)} texts "
          f"({', '.join(f'{k} {v}' for k, v in frame['sentiment'].value_counts().items())})")
    print(f"sentiment  accuracy {figures['sentiment_accuracy']:.3f}  macro-F1 {figures['sentiment_macro_f1']:.3f}")
    labels = ["negative", "neutral", "positive"]
    p, r, f, n = precision_recall_fscore_support(frame["sentiment"], predicted["sentiment"], labels=labels, zero_division=0)
    for i, label in enumerate(labels):
        print(f"  {label:<9} P {p[i]:.3f}  R {r[i]:.3f}  F1 {f[i]:.3f}  n {n[i]}")
    print("motives (multi-label)")
    for motive in MOTIVES:
        col = f"motive_{motive}"
        p, r, f, _ = precision_recall_fscore_support(frame[col], predicted[col], average="binary", zero_division=0)
        print(f"  {motive:<13} P {p:.3f}  R {r:.3f}  F1 {f:.3f}  n {int(frame[col].sum())}")
    print(f"  micro-F1 {figures['motive_micro_f1']:.3f}")
    for flag in ("escalation", "abuse"):
        p, r, f, _ = precision_recall_fscore_support(frame[flag], predicted[flag], average="binary", zero_division=0)
        print(f"{flag:<10} P {p:.3f}  R {r:.3f}  F1 {f:.3f}  n {int(frame[flag].sum())}")
    print(f"special_need accuracy {figures['special_need_accuracy']:.3f}  n {int((frame['special_need'] != '').sum())}")
    if show_errors:
        _print_errors(frame, predicted)


def _print_errors(frame: pd.DataFrame, predicted: pd.DataFrame) -> None:
    for i in range(len(frame)):
        want = {m for m in MOTIVES if frame.at[i, f"motive_{m}"]}
        got = {m for m in MOTIVES if predicted.at[i, f"motive_{m}"]}
        diffs = []
        if frame.at[i, "sentiment"] != predicted.at[i, "sentiment"]:
            diffs.append(f"sentiment {frame.at[i, 'sentiment']}->{predicted.at[i, 'sentiment']} ({predicted.at[i, 'sentiment_score']:+.2f})")
        if want != got:
            diffs.append(f"motives -{sorted(want - got)} +{sorted(got - want)}")
        for flag in ("escalation", "abuse", "special_need"):
            if str(frame.at[i, flag]) != str(predicted.at[i, flag]):
                diffs.append(f"{flag} {frame.at[i, flag]}->{predicted.at[i, flag]}")
        if diffs:
            print(f"  [{i}] {frame.at[i, 'text']}\n      {'; '.join(diffs)} | {predicted.at[i, 'evidence']}")


def _report_public(directory: Path) -> None:
    for path in sorted(directory.glob("*.csv")):
        frame = pd.read_csv(path, dtype={"label": int, "review": str}, keep_default_na=False)
        predicted = classify_texts(frame["review"].tolist()).to_pandas()["sentiment"]
        truth = frame["label"].map({1: "positive", 0: "negative"})
        decided = predicted != "neutral"
        overall = (predicted == truth).mean()
        among = (predicted[decided] == truth[decided]).mean() if decided.any() else float("nan")
        print(f"== {path.name}: {len(frame)} reviews (binary labels; neutral predictions count as a third outcome)")
        print(f"  accuracy, neutral counted wrong {overall:.3f}")
        print(f"  accuracy among non-neutral predictions {among:.3f}  (coverage {decided.mean():.3f})")


def main() -> None:
    """Print the figures; the eval sets are never used to fit anything."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, nargs="+", default=list(EVAL_SETS))
    parser.add_argument("--errors", action="store_true", help="list every text the classifier gets wrong")
    args = parser.parse_args()
    for path in args.data:
        _report_labelled(path.resolve(), args.errors)
    if PUBLIC_CORPORA.is_dir():
        _report_public(PUBLIC_CORPORA)
    else:
        print(f"(no public corpora at {PUBLIC_CORPORA}; skipped)")


if __name__ == "__main__":
    main()
