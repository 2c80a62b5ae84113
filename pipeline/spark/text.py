"""Text on Spark: the repo's classifier runs on the executors over Arrow batches (mapInArrow, no pandas)."""
from __future__ import annotations

from typing import Iterator

import pyarrow as pa

from pipeline.spark.tables import WorkTables
from pipeline.stages.text import CONTACT_KEYS

_SPARK_TYPES = {pa.string(): "STRING", pa.float64(): "DOUBLE", pa.int8(): "TINYINT"}


def _classify_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Return each batch of contacts with its text signals (runs in the executors' Python workers)."""
    from pipeline.text.classifier import classify_texts

    for batch in batches:
        signals = classify_texts(batch.column("content").to_pylist())
        keys = [batch.column(k) for k in CONTACT_KEYS]
        yield pa.RecordBatch.from_arrays([*keys, *[c.combine_chunks() for c in signals.columns]],
                                         names=[*CONTACT_KEYS, *signals.column_names])


def contact_text_spark(work: WorkTables) -> int:
    """Return the number of rows written to `contact_text`: one per contact, with its text signals."""
    from pipeline.text.classifier import TEXT_SCHEMA

    contacts = work.spark.table("contacts")
    missing = [c for c in (*CONTACT_KEYS, "content") if c not in contacts.columns]
    if missing:
        raise ValueError(f"table `contacts` lacks columns {missing}; run the ingest stage first")
    key_types = {f.name: f.dataType.simpleString() for f in contacts.schema.fields}
    schema = ", ".join([f"`{k}` {key_types[k]}" for k in CONTACT_KEYS] +
                       [f"`{f.name}` {_SPARK_TYPES[f.type]}" for f in TEXT_SCHEMA])
    source = contacts.select(*CONTACT_KEYS, "content")
    return work.save("contact_text", source.mapInArrow(_classify_batches, schema))
