"""Fit the blend model on the labelled development data and write `model/blend_model.json`.

Usage: python -m pipeline.text.fit_blend_model

Deterministic: the same lexicons and development files give the same weights. The settings below
were chosen by 5-fold cross-validation on data/dev.csv (benchmarks/text_blend_cv.py); the eval sets
are never read here.
"""
from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from pipeline.text.blend_model import (
    DATA_DIR,
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
    lexicon_features,
)

C_SENTIMENT = 4.0
C_FLAGS = 30.0
LEXICON_SCALE = 0.5  # lexicon weights enter the regressions as clip(w, ±LEXICON_CLIP) × LEXICON_SCALE
LEXICON_CLIP = 3.0
MIN_DF = 2  # an n-gram seen in one text only teaches nothing general and bloats the shipped file
FLAGS: tuple[str, ...] = (*MOTIVES, "escalation", "abuse")


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
) -> BlendModel:
    """Return a blend model fitted (deterministically) on labelled rows (`text, sentiment, motives, escalation, abuse`)."""
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
    )


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
    model = fit_blend_model(rows)
    save_blend_model(model, args.output, n_texts=len(rows))
    print(f"fitted on {len(rows)} texts from {', '.join(TRAINING_FILES)}: "
          f"{len(model.vocabulary)} n-grams, fingerprint {model.fingerprint} -> {args.output}")


if __name__ == "__main__":
    main()
