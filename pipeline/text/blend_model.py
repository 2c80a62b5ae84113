"""The blend model: logistic regressions over lexicon weights and character n-grams of a contact text.

The lexicons (`lexicons/`) find the cues an analyst can name. Natural complaints also use phrasings no
list covers, so the final sentiment and flags come from logistic regressions that read both the
lexicon weights of a text and its character 1–3-grams (TF-IDF). The weights are fitted on the
labelled development data only (`data/train.csv`, `data/dev.csv`; never the eval sets) by

    python -m pipeline.text.fit_blend_model

and shipped as JSON (`model/blend_model.json`). Scoring needs numpy and scipy only; scikit-learn is
needed only to fit. Refit after changing the built-in lexicons or the development data: the file
records a fingerprint of both, and a test fails while it is stale.

Each flag is raised when its probability reaches the flag's decision threshold, stored in the file
(`"thresholds"`) and chosen by cross-validation on dev.csv at fit time; a file without thresholds
(fitted before they existed) uses DEFAULT_FLAG_THRESHOLD for every flag.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
from scipy import sparse

TEXT_DIR = Path(__file__).resolve().parent
MODEL_PATH = TEXT_DIR / "model" / "blend_model.json"
DATA_DIR = TEXT_DIR / "data"
# What the model is fitted on. The eval sets (eval.csv, eval_v2.csv) are held out and never listed here.
TRAINING_FILES: tuple[str, ...] = ("train.csv", "dev.csv")
NGRAM_RANGE = (1, 3)
FORMAT_VERSION = 1
DEFAULT_FLAG_THRESHOLD = 0.5  # the cut-off of a flag the model has no fitted threshold for


class BlendModelError(RuntimeError):
    """The shipped blend weights cannot be used; the message says how to refit them."""


def char_ngrams(text: str) -> list[str]:
    """Return the character 1–3-grams of the lower-cased text, with runs of whitespace read as one space."""
    low = " ".join(text.lower().split())
    grams = []
    for n in range(NGRAM_RANGE[0], NGRAM_RANGE[1] + 1):
        grams.extend(low[i:i + n] for i in range(len(low) - n + 1))
    return grams


@dataclass(frozen=True)
class BlendModel:
    """Fitted weights: n-gram vocabulary and idf, then one weight column per output."""

    vocabulary: dict[str, int]
    idf: np.ndarray  # (n_grams,)
    weights: np.ndarray  # (n_grams + n_lexicon_features, n_outputs)
    intercepts: np.ndarray  # (n_outputs,)
    lexicon_features: tuple[str, ...]
    sentiment_classes: tuple[str, ...]
    flags: tuple[str, ...]
    lexicon_scale: float
    lexicon_clip: float
    fingerprint: str
    thresholds: dict[str, float] = field(default_factory=dict)  # flag -> decision threshold

    def flag_thresholds(self) -> np.ndarray:
        """Return the decision threshold of each flag, in `flags` order (DEFAULT_FLAG_THRESHOLD where none is fitted)."""
        return np.array([self.thresholds.get(f, DEFAULT_FLAG_THRESHOLD) for f in self.flags], dtype=np.float64)

    def predict(self, texts: Sequence[str], lexicon_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the sentiment class probabilities (n × classes) and the flag probabilities (n × flags)."""
        n_grams = len(self.idf)
        grams = self._ngram_matrix(texts)
        lex = np.clip(lexicon_rows, -self.lexicon_clip, self.lexicon_clip) * self.lexicon_scale
        logits = grams @ self.weights[:n_grams] + lex @ self.weights[n_grams:] + self.intercepts
        k = len(self.sentiment_classes)
        sentiment = logits[:, :k]
        sentiment = np.exp(sentiment - sentiment.max(axis=1, keepdims=True))
        sentiment /= sentiment.sum(axis=1, keepdims=True)
        flags = 1.0 / (1.0 + np.exp(-logits[:, k:]))
        return sentiment, flags

    @cached_property
    def _gram_index(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The vocabulary's gram keys, sorted, and their columns; None unless every gram is 1–3 characters."""
        if not self.vocabulary or not all(1 <= len(g) <= 3 for g in self.vocabulary):
            return None
        keys = np.fromiter(map(_gram_key, self.vocabulary), dtype=np.int64, count=len(self.vocabulary))
        columns = np.fromiter(self.vocabulary.values(), dtype=np.int64, count=len(self.vocabulary))
        order = np.argsort(keys)
        return keys[order], columns[order]

    def _ngram_matrix(self, texts: Sequence[str]) -> sparse.csr_matrix:
        # Same arithmetic as scikit-learn's TfidfVectorizer(sublinear_tf=True, norm="l2") at fit time;
        # finding the n-grams, counting, idf and normalisation all run in numpy.
        n_rows, n_cols = len(texts), len(self.idf)
        lookup = self._gram_index
        if lookup is None:  # a vocabulary with grams outside 1–3 characters: look each gram up in Python
            get = self.vocabulary.get
            ids: list[int] = []
            indptr = [0]
            for text in texts:
                ids.extend(j for j in map(get, char_ngrams(text)) if j is not None)
                indptr.append(len(ids))
            counts = sparse.csr_matrix(
                (np.ones(len(ids)), np.asarray(ids, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
                shape=(n_rows, n_cols),
            )
        else:
            rows, ids = _known_grams(texts, *lookup)
            counts = sparse.csr_matrix((np.ones(len(ids)), (rows, ids)), shape=(n_rows, n_cols))
        counts.sum_duplicates()
        counts.data = (1.0 + np.log(counts.data)) * self.idf[counts.indices]
        squares = counts.copy()
        squares.data **= 2
        norms = np.sqrt(np.asarray(squares.sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        counts.data /= np.repeat(norms, np.diff(counts.indptr))
        return counts


# An n-gram of up to three characters as one integer: each code point (< 2**21) in 21 bits, and a
# value that is no code point in the places a shorter gram leaves empty.
_CP_BITS = 21
_EMPTY = (1 << _CP_BITS) - 1


def _gram_key(gram: str) -> int:
    cps = [ord(c) for c in gram] + [_EMPTY] * (3 - len(gram))
    return (cps[0] << 2 * _CP_BITS) | (cps[1] << _CP_BITS) | cps[2]


def _known_grams(texts: Sequence[str], keys: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (row, column) of every 1–3-gram of `texts` (as char_ngrams cuts them) found in the vocabulary."""
    lows = [" ".join(t.lower().split()) for t in texts]
    lengths = np.fromiter(map(len, lows), dtype=np.int64, count=len(lows))
    cps = np.frombuffer("".join(lows).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
    row = np.repeat(np.arange(len(lows), dtype=np.int64), lengths)
    end = np.repeat(np.cumsum(lengths), lengths)  # where each position's text ends
    pos = np.arange(len(cps), dtype=np.int64)
    second = np.append(cps[1:], _EMPTY)
    third = np.append(cps[2:], [_EMPTY, _EMPTY])[: len(cps)]
    head = cps << 2 * _CP_BITS
    two, three = pos + 1 < end, pos + 2 < end
    grams = np.concatenate([
        head | (_EMPTY << _CP_BITS) | _EMPTY,
        (head | (second << _CP_BITS) | _EMPTY)[two],
        (head | (second << _CP_BITS) | third)[three],
    ])
    rows = np.concatenate([row, row[two], row[three]])
    at = np.minimum(np.searchsorted(keys, grams), len(keys) - 1)
    hit = keys[at] == grams
    return rows[hit], columns[at[hit]]


def load_blend_model(path: Path = MODEL_PATH) -> BlendModel:
    """Return the blend model stored at `path`."""
    if not path.is_file():
        raise BlendModelError(f"{path} is missing; fit it with `python -m pipeline.text.fit_blend_model`")
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("format") != FORMAT_VERSION:
        raise BlendModelError(f"{path} has format {raw.get('format')}, expected {FORMAT_VERSION}; "
                              "refit with `python -m pipeline.text.fit_blend_model`")
    ngrams = raw["ngrams"]
    lexicon_rows = raw["lexicon_weights"]
    thresholds = {str(k): float(v) for k, v in raw.get("thresholds", {}).items()}
    unknown = sorted(set(thresholds) - set(raw["flags"]))
    if unknown or not all(0.0 < v < 1.0 for v in thresholds.values()):
        raise BlendModelError(f"{path}: thresholds must be probabilities strictly between 0 and 1 for known flags "
                              f"(unknown: {unknown}); refit with `python -m pipeline.text.fit_blend_model`")
    return BlendModel(
        vocabulary={row[0]: i for i, row in enumerate(ngrams)},
        idf=np.asarray([row[1] for row in ngrams], dtype=np.float64),
        weights=np.asarray([row[2:] for row in ngrams] + [row[1:] for row in lexicon_rows], dtype=np.float64),
        intercepts=np.asarray(raw["intercepts"], dtype=np.float64),
        lexicon_features=tuple(row[0] for row in lexicon_rows),
        sentiment_classes=tuple(raw["sentiment_classes"]),
        flags=tuple(raw["flags"]),
        lexicon_scale=float(raw["lexicon_scale"]),
        lexicon_clip=float(raw["lexicon_clip"]),
        fingerprint=raw["fingerprint"],
        thresholds=thresholds,
    )


@lru_cache(maxsize=1)
def default_blend_model() -> BlendModel:
    """Return the shipped blend model, loaded once per process."""
    return load_blend_model()


def training_fingerprint() -> str:
    """Return a hash of what the shipped weights depend on: the built-in lexicons and the training files."""
    digest = hashlib.sha256()
    paths = sorted((TEXT_DIR / "lexicons").glob("*.y*ml")) + [DATA_DIR / name for name in TRAINING_FILES]
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes().replace(b"\r\n", b"\n"))
    return digest.hexdigest()[:16]
