"""Fit the blend model on the labelled development data and write `model/blend_model.json`.

Usage: python -m pipeline.text.fit_blend_model

Deterministic: the same lexicons and development files give the same weights. The settings below
were chosen by 5-fold cross-validation on data/dev.csv (benchmarks/text_blend_cv.py); the eval sets
are never read here.

The decision threshold of each flag is chosen at fit time, also by cross-validation on dev.csv only:
for each of THRESHOLD_SEEDS, 5 models (train.csv plus four fifths of dev.csv) give out-of-fold flag
probabilities for every dev row; on those the motive thresholds are set coordinate-wise to maximise
motive micro-F1 (escalation and abuse: their own F1) over THRESHOLD_GRID, preferring the grid point
nearest the default cut-off among those within THRESHOLD_TOLERANCE of the best. The per-seed choices
are averaged and snapped to the grid, and a flag whose averaged threshold gains less than
THRESHOLD_TOLERANCE over the default keeps the default. THRESHOLD_TOLERANCE itself was picked from
0/0.001/0.002/0.004 by the nested CV estimate of benchmarks/text_blend_cv.py (on dev.csv).
"""
from __future__ import annotations

import argparse
import csv
import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from pipeline.text.blend_model import (
    DATA_DIR,
    DEFAULT_FLAG_THRESHOLD,
    FORMAT_VERSION,
    MODEL_PATH,
    NGRAM_RANGE,
    TRAINING_FILES,
    BlendModel,
    char_ngrams,
    training_fingerprint,
)
from pipeline.text.classifier import (
    LEXICON_FEATURES,
    MOTIVES,
    Lexicon,
    _has_text,
    lexicon_features,
)

C_SENTIMENT = 4.0
C_FLAGS = 30.0
LEXICON_SCALE = 0.5  # lexicon weights enter the regressions as clip(w, ±LEXICON_CLIP) × LEXICON_SCALE
LEXICON_CLIP = 3.0
MIN_DF = 2  # an n-gram seen in one text only teaches nothing general and bloats the shipped file
FLAGS: tuple[str, ...] = (*MOTIVES, "escalation", "abuse")
FOLDS = 5
THRESHOLD_SEEDS: tuple[int, ...] = (0, 1, 2)
THRESHOLD_GRID: tuple[float, ...] = tuple(round(0.20 + 0.025 * i, 3) for i in range(17))  # 0.200 .. 0.600
THRESHOLD_TOLERANCE = 0.001  # an F1 gain below this counts as a tie: prefer the cut-off nearer the default
TUNED_FLAGS: tuple[str, ...] = FLAGS  # flags whose threshold is chosen; the others keep the default


def labelled_rows(names: Sequence[str] = TRAINING_FILES) -> list[dict[str, str]]:
    """Return the rows of the labelled files, in file order."""
    rows: list[dict[str, str]] = []
    for name in names:
        with (DATA_DIR / name).open(encoding="utf-8", newline="") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


def fit_blend_model(
    rows: Sequence[dict[str, str]],
    *,
    c_sentiment: float = C_SENTIMENT,
    c_flags: float = C_FLAGS,
    lexicon_scale: float = LEXICON_SCALE,
    min_df: int = MIN_DF,
    lexicon: Lexicon | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> BlendModel:
    """Return a blend model fitted (deterministically) on labelled rows (`text, sentiment, motives, escalation, abuse`).

    `thresholds` (flag -> decision threshold) are stored as given; choose them with
    `cross_validated_thresholds`. Without them every flag uses DEFAULT_FLAG_THRESHOLD.
    """
    texts = [r["text"] for r in rows]
    vectorizer = TfidfVectorizer(analyzer=char_ngrams, sublinear_tf=True, min_df=min_df, dtype=np.float64)
    grams = vectorizer.fit_transform(texts)
    lex = np.clip(lexicon_features(texts, lexicon), -LEXICON_CLIP, LEXICON_CLIP) * lexicon_scale
    design = sparse.hstack([grams, sparse.csr_matrix(lex)]).tocsr()
    columns, intercepts = [], []
    # newton-cg: deterministic, and ten times faster than lbfgs on these few thousand sparse rows.
    sentiment = LogisticRegression(C=c_sentiment, solver="newton-cg", max_iter=1000)
    sentiment.fit(design, [r["sentiment"] for r in rows])
    columns.append(sentiment.coef_.T)
    intercepts.append(sentiment.intercept_)
    for flag in FLAGS:
        if flag in MOTIVES:
            target = [int(flag in r["motives"].split("|")) for r in rows]
        else:
            target = [int(r[flag]) for r in rows]
        fitted = LogisticRegression(C=c_flags, solver="newton-cg", max_iter=1000).fit(design, target)
        columns.append(fitted.coef_.T)
        intercepts.append(fitted.intercept_)
    vocabulary = vectorizer.vocabulary_
    return BlendModel(
        vocabulary=dict(vocabulary),
        idf=vectorizer.idf_.astype(np.float64),
        weights=np.hstack(columns),
        intercepts=np.concatenate(intercepts),
        lexicon_features=LEXICON_FEATURES,
        sentiment_classes=tuple(str(c) for c in sentiment.classes_),
        flags=FLAGS,
        lexicon_scale=lexicon_scale,
        lexicon_clip=LEXICON_CLIP,
        fingerprint=training_fingerprint(),
        thresholds=dict(thresholds or {}),
    )


def flag_truth(rows: Sequence[dict[str, str]]) -> np.ndarray:
    """Return the 0/1 labels of FLAGS, one row per labelled row."""
    return np.array(
        [[int(f in r["motives"].split("|")) for f in MOTIVES] + [int(r["escalation"]), int(r["abuse"])] for r in rows],
        dtype=np.int64,
    ).reshape(len(rows), len(FLAGS))


def dev_folds(n: int, seed: int = 0) -> list[list[int]]:
    """Return the FOLDS disjoint, sorted index lists that split n dev rows for one shuffling seed."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [sorted(order[k::FOLDS]) for k in range(FOLDS)]


def out_of_fold_probabilities(
    train: Sequence[dict[str, str]], dev: Sequence[dict[str, str]], seed: int = 0, **settings: object
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Return out-of-fold sentiment and flag probabilities of the dev rows, and the sentiment classes.

    Each fold's model is fitted on all of `train` plus the other folds of `dev`; an empty text gets
    all-zero probabilities, as the classifier gives it.
    """
    texts = [r["text"] for r in dev]
    present = np.array([_has_text(t) for t in texts], dtype=bool)
    features = lexicon_features(texts, settings.get("lexicon"))  # type: ignore[arg-type]
    sentiment = flags = None
    classes: tuple[str, ...] = ()
    for held in dev_folds(len(dev), seed):
        held_set = set(held)
        model = fit_blend_model([*train, *(r for i, r in enumerate(dev) if i not in held_set)], **settings)  # type: ignore[arg-type]
        s_p, f_p = model.predict([texts[i] for i in held], features[held])
        if sentiment is None:
            classes = model.sentiment_classes
            sentiment = np.zeros((len(dev), s_p.shape[1]))
            flags = np.zeros((len(dev), f_p.shape[1]))
        sentiment[held], flags[held] = s_p, f_p
    assert sentiment is not None and flags is not None
    sentiment[~present] = 0.0
    flags[~present] = 0.0
    return sentiment, flags, classes


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.divide(2.0 * tp, denominator, out=np.zeros(np.shape(denominator)), where=denominator > 0)


def _grid_counts(probabilities: np.ndarray, truth: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Return (3, len(grid), n_flags) true positive, false positive and false negative counts per cut-off."""
    raised = probabilities[None, :, :] >= grid[:, None, None]
    positive = truth.astype(bool)[None, :, :]
    return np.stack([(raised & positive).sum(axis=1), (raised & ~positive).sum(axis=1), (~raised & positive).sum(axis=1)])


def _objective(counts: np.ndarray, picks: np.ndarray, columns: Sequence[int]) -> float:
    """Return the micro-F1 over `columns` with column j cut at grid index picks[j] (one column: its F1)."""
    tp, fp, fn = (sum(int(counts[c, picks[j], j]) for j in columns) for c in range(3))
    return float(_f1(np.array(tp), np.array(fp), np.array(fn)))


def _coordinate_picks(counts: np.ndarray, grid: np.ndarray, groups: Sequence[Sequence[int]], default: int) -> np.ndarray:
    """Return one grid index per flag: coordinate-wise maximisation of each group's objective."""
    picks = np.full(counts.shape[2], default)
    for columns in groups:
        for _ in range(10):  # coordinate passes until nothing moves (two suffice in practice)
            moved = False
            for j in columns:
                scores = []
                for g in range(len(grid)):
                    trial = picks.copy()
                    trial[j] = g
                    scores.append(_objective(counts, trial, columns))
                best = max(scores)
                # Among the near-best cut-offs, the one nearest the default: flat optima do not drift.
                pick = min((g for g in range(len(grid)) if scores[g] >= best - THRESHOLD_TOLERANCE),
                           key=lambda g: (abs(grid[g] - grid[default]), -scores[g], g))
                if pick != picks[j]:
                    picks[j], moved = pick, True
            if not moved:
                break
    return picks


def choose_thresholds(
    probability_sets: Sequence[np.ndarray],
    truth: np.ndarray,
    *,
    flags: Sequence[str] = FLAGS,
    tuned: Sequence[str] = TUNED_FLAGS,
    grid: Sequence[float] = THRESHOLD_GRID,
) -> dict[str, float]:
    """Return a decision threshold per flag, chosen on out-of-fold probabilities of the same rows.

    `probability_sets` holds one (rows × flags) array per CV seed. The motives among `tuned` are chosen
    together (coordinate-wise, for motive micro-F1), every other tuned flag for its own F1; see the
    module docstring for the averaging over seeds and the shrinkage toward the default.
    """
    grid_arr = np.asarray(grid, dtype=np.float64)
    default = int(np.argmin(np.abs(grid_arr - DEFAULT_FLAG_THRESHOLD)))
    if not np.isclose(grid_arr[default], DEFAULT_FLAG_THRESHOLD):
        raise ValueError(f"the threshold grid must contain the default cut-off {DEFAULT_FLAG_THRESHOLD}")
    motive_cols = [j for j, f in enumerate(flags) if f in tuned and f in MOTIVES]
    groups = [motive_cols] + [[j] for j, f in enumerate(flags) if f in tuned and f not in MOTIVES]
    per_seed = [_coordinate_picks(_grid_counts(p, truth, grid_arr), grid_arr, groups, default) for p in probability_sets]
    step = float(grid_arr[1] - grid_arr[0])
    mean = np.mean([grid_arr[p] for p in per_seed], axis=0)
    picks = np.clip(np.rint((mean - grid_arr[0]) / step).astype(int), 0, len(grid_arr) - 1)
    # Shrink: on the seeds' pooled counts, a flag whose averaged cut-off barely helps keeps the default.
    pooled = sum(_grid_counts(p, truth, grid_arr) for p in probability_sets)
    for columns in groups:
        for j in columns:
            if picks[j] == default:
                continue
            reverted = picks.copy()
            reverted[j] = default
            if _objective(pooled, picks, columns) - _objective(pooled, reverted, columns) < THRESHOLD_TOLERANCE:
                picks[j] = default
    return {f: (round(float(grid_arr[picks[j]]), 3) if any(j in c for c in groups) else DEFAULT_FLAG_THRESHOLD)
            for j, f in enumerate(flags)}


def cross_validated_thresholds(
    train: Sequence[dict[str, str]],
    dev: Sequence[dict[str, str]],
    seeds: Sequence[int] = THRESHOLD_SEEDS,
    **settings: object,
) -> tuple[dict[str, float], dict[int, np.ndarray]]:
    """Return the thresholds chosen on dev's out-of-fold flag probabilities, and those probabilities per seed."""
    flag_probabilities = {seed: out_of_fold_probabilities(train, dev, seed, **settings)[1] for seed in seeds}
    return choose_thresholds(list(flag_probabilities.values()), flag_truth(dev)), flag_probabilities


def save_blend_model(model: BlendModel, path: Path = MODEL_PATH, *, n_texts: int = 0) -> None:
    """Write the model as JSON: a header, then one line per n-gram (`[gram, idf, weight per output]`)."""
    header = {
        "format": FORMAT_VERSION,
        "fitted_by": "python -m pipeline.text.fit_blend_model",
        "trained_on": list(TRAINING_FILES),
        "n_texts": n_texts,
        "fingerprint": model.fingerprint,
        "ngram_range": list(NGRAM_RANGE),
        "lexicon_scale": model.lexicon_scale,
        "lexicon_clip": model.lexicon_clip,
        "sentiment_classes": list(model.sentiment_classes),
        "flags": list(model.flags),
        "outputs": [f"sentiment_{c}" for c in model.sentiment_classes] + [f"flag_{f}" for f in model.flags],
        "intercepts": [round(float(v), 5) for v in model.intercepts],
        "thresholds": {f: round(float(t), 4) for f, t in zip(model.flags, model.flag_thresholds(), strict=True)},
    }
    n_grams = len(model.idf)

    def numbers(values: np.ndarray) -> list[float]:
        return [round(float(v), 4) for v in values]

    grams = sorted(model.vocabulary, key=model.vocabulary.get)
    ngram_lines = [
        json.dumps([gram, round(float(model.idf[i]), 5), *numbers(model.weights[i])], ensure_ascii=False)
        for i, gram in enumerate(grams)
    ]
    lexicon_lines = [
        json.dumps([name, *numbers(model.weights[n_grams + k])], ensure_ascii=False)
        for k, name in enumerate(model.lexicon_features)
    ]
    # One n-gram per line keeps the diff of a refit readable.
    body = json.dumps(header, ensure_ascii=False, indent=1)[:-2]
    text = (body + ',\n "lexicon_weights": [\n' + ",\n".join(lexicon_lines)
            + '\n ],\n "ngrams": [\n' + ",\n".join(ngram_lines) + "\n ]\n}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def main() -> None:
    """Fit the blend model on the development data and write model/blend_model.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=MODEL_PATH)
    args = parser.parse_args()
    rows = labelled_rows()
    # Thresholds by CV on dev.csv: every fold model is fitted on train.csv plus the other dev folds.
    thresholds, _ = cross_validated_thresholds(labelled_rows(["train.csv"]), labelled_rows(["dev.csv"]))
    model = fit_blend_model(rows, thresholds=thresholds)
    save_blend_model(model, args.output, n_texts=len(rows))
    print(f"fitted on {len(rows)} texts from {', '.join(TRAINING_FILES)}: "
          f"{len(model.vocabulary)} n-grams, fingerprint {model.fingerprint} -> {args.output}")
    print("thresholds (CV on dev.csv, seeds " + "/".join(map(str, THRESHOLD_SEEDS)) + "): "
          + ", ".join(f"{f} {t:.3f}" for f, t in model.thresholds.items()))


if __name__ == "__main__":
    main()
