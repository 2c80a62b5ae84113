"""Tests for the blend model: shipped weights, scoring arithmetic, fitting and its data boundary."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from pipeline.text import classifier
from pipeline.text.blend_model import (
    MODEL_PATH,
    TRAINING_FILES,
    BlendModelError,
    char_ngrams,
    default_blend_model,
    load_blend_model,
    training_fingerprint,
)
from pipeline.text.classifier import (
    LEXICON_FEATURES,
    MOTIVES,
    classify_texts,
    lexicon_features,
)
from pipeline.text.fit_blend_model import (
    fit_blend_model,
    labelled_rows,
    save_blend_model,
)


def test_shipped_weights_match_the_lexicons_and_development_data() -> None:
    model = default_blend_model()
    assert model.fingerprint == training_fingerprint(), (
        "model/blend_model.json is stale: the built-in lexicons or the development data changed since it was "
        "fitted; refit with `python -m pipeline.text.fit_blend_model`"
    )
    assert model.lexicon_features == LEXICON_FEATURES
    assert model.flags == (*MOTIVES, "escalation", "abuse")
    assert set(model.sentiment_classes) == {"negative", "neutral", "positive"}


def test_eval_sets_are_never_fitted_on() -> None:
    assert not any(name.startswith("eval") for name in TRAINING_FILES)
    assert TRAINING_FILES == ("train.csv", "dev.csv")


def test_char_ngrams_lowercase_and_fold_whitespace() -> None:
    assert char_ngrams("Ab  c") == ["a", "b", " ", "c", "ab", "b ", " c", "ab ", "b c"]
    assert char_ngrams("") == []


def test_ngram_matrix_matches_scikit_learn() -> None:
    model = default_blend_model()
    texts = [r["text"] for r in labelled_rows()]
    reference = TfidfVectorizer(analyzer=char_ngrams, sublinear_tf=True, min_df=2).fit(texts)
    probe = ["客户来电反映停电三天了，要求尽快处理", "Power  OUTAGE 停电", "凭什么", "￥￥￥"]
    ours = model._ngram_matrix(probe).toarray()
    grams = sorted(model.vocabulary, key=model.vocabulary.get)
    theirs = reference.transform(probe).toarray()[:, [reference.vocabulary_[g] for g in grams]]
    np.testing.assert_allclose(ours, theirs, atol=1e-5)  # idf is stored to 5 decimals
    assert ours[3].sum() == 0  # no known n-gram: an all-zero row, not a division by zero


def test_fit_save_load_round_trip(tmp_path: Path) -> None:
    rows = labelled_rows()[::6]  # every label, positives of each flag included
    model = fit_blend_model(rows, min_df=1)
    path = tmp_path / "model.json"
    save_blend_model(model, path, n_texts=len(rows))
    loaded = load_blend_model(path)
    texts = [r["text"] for r in rows[:20]]
    features = lexicon_features(texts)
    for a, b in zip(model.predict(texts, features), loaded.predict(texts, features), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-3)  # weights are stored to 4 decimals
    again = fit_blend_model(rows, min_df=1)
    np.testing.assert_array_equal(again.weights, model.weights)  # deterministic


def test_missing_weights_say_how_to_refit(tmp_path: Path) -> None:
    with pytest.raises(BlendModelError, match="python -m pipeline.text.fit_blend_model"):
        load_blend_model(tmp_path / "absent.json")
    assert MODEL_PATH.is_file()


def test_chunked_classification_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [r["text"] for r in labelled_rows(["dev.csv"])[:25]] + [None, ""]
    whole = classify_texts(texts)
    monkeypatch.setattr(classifier, "CHUNK_ROWS", 4)
    assert classify_texts(texts).equals(whole)


def test_probabilities_are_consistent_with_flags_and_sentiment() -> None:
    table = classify_texts([r["text"] for r in labelled_rows(["dev.csv"])[:200]]).to_pydict()
    for m in MOTIVES:
        for flag, score in zip(table[f"motive_{m}"], table[f"score_{m}"], strict=True):
            assert flag == int(score >= classifier.FLAG_PROBABILITY)
    for label, score in zip(table["sentiment"], table["sentiment_score"], strict=True):
        assert -1.0 <= score <= 1.0
        if label == "negative":
            assert score <= 0
        elif label == "positive":
            assert score >= 0
