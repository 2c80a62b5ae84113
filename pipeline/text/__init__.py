"""Text understanding for contact texts: sentiment, complaint motives, service signals, special needs."""
from pipeline.text.classifier import (
    MOTIVE_NAMES,
    MOTIVES,
    TEXT_SCHEMA,
    Lexicon,
    LexiconError,
    classify_csv,
    classify_texts,
    default_lexicon,
    load_lexicon,
)

__all__ = [
    "MOTIVE_NAMES",
    "MOTIVES",
    "TEXT_SCHEMA",
    "Lexicon",
    "LexiconError",
    "classify_csv",
    "classify_texts",
    "default_lexicon",
    "load_lexicon",
]
