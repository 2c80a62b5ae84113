"""Text stage: classify every contact's content, then roll the signals up per customer."""
from __future__ import annotations

import os
import threading
from contextlib import nullcontext
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from pipeline.text.classifier import TEXT_SCHEMA, classify_texts
from pipeline.text.workers import ClassifierPool

BATCH_ROWS = 50_000
# Classifying is Python-bound (one core per process). Above this many contacts the batches go to a
# pool of worker processes, one per core; below it, starting the workers costs more than it saves
# (80k contacts: 4.7 s in-process, 3.5 s with two workers).
PARALLEL_MIN_ROWS = 40_000
POOL_BATCH_ROWS = 8_000
# Run beside other stages (pipeline/background.py), the workers take this much lower a priority: they
# use the cores the SQL stages leave idle, not the SQL stages' own.
BACKGROUND_NICE = 19
CONTACT_KEYS = ("ticket_id", "customer_id", "contacted_at", "business_type", "channel")
FEATURES_SQL = Path(__file__).resolve().parents[1] / "sql" / "customer_text_features.sql"

_DUCKDB_TYPES = {pa.string(): "VARCHAR", pa.float64(): "DOUBLE", pa.int8(): "TINYINT"}


class TextStageStopped(Exception):
    """The text stage was asked to stop (the run failed elsewhere) before it finished."""


def contact_text(con: duckdb.DuckDBPyConnection, workers: int | None = None, reuse: Path | None = None,
                 nice: int = 0, stop: threading.Event | None = None) -> int:
    """Return the number of rows written to table `contact_text`: one per contact, with its text signals.

    `workers` processes classify in parallel on large runs (default: one per CPU); 1 keeps it in-process.
    `reuse` is a `contact_text` Parquet file classified by the same text model (an incremental run's
    base snapshot): contacts found there by 工单编号 keep those signals and are not classified again.
    `nice` lowers the worker processes' priority; once `stop` is set, the stage raises
    TextStageStopped at the next batch (the table is then not created).
    """
    key_types = dict(con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'contacts'"
    ).fetchall())
    missing = [c for c in (*CONTACT_KEYS, "content") if c not in key_types]
    if missing:
        raise ValueError(f"table `contacts` lacks columns {missing}; run the ingest stage first")
    columns = [f'"{c}" {key_types[c]}' for c in CONTACT_KEYS]
    columns += [f'"{f.name}" {_DUCKDB_TYPES[f.type]}' for f in TEXT_SCHEMA]
    # Build under a staging name and swap at the end, so a failure never leaves half a table behind.
    con.execute("DROP TABLE IF EXISTS contact_text__staging")
    con.execute(f"CREATE TABLE contact_text__staging ({', '.join(columns)})")
    todo = "contacts"
    if reuse is not None:
        signals = ", ".join(f'r."{f.name}"' for f in TEXT_SCHEMA)
        path = str(reuse).replace("'", "''")
        reused = f"read_parquet('{path}')"  # inline: the reading cursor below does not see temp views
        con.execute(f"INSERT INTO contact_text__staging SELECT {', '.join('c.' + k for k in CONTACT_KEYS)}, {signals} "
                    f"FROM contacts c JOIN {reused} r USING (ticket_id)")
        todo = f"(SELECT * FROM contacts ANTI JOIN {reused} USING (ticket_id))"
    workers = workers if workers is not None else (os.cpu_count() or 1)
    total = con.execute(f"SELECT count(*) FROM {todo}").fetchall()[0][0]
    pooled = workers > 1 and total >= PARALLEL_MIN_ROWS
    # A second cursor streams the contacts while the first one inserts the classified batches.
    # Smaller batches for the pool keep every worker busy to the end.
    reader = con.cursor().sql(
        f"SELECT {', '.join(CONTACT_KEYS)}, content FROM {todo} ORDER BY ticket_id"
    ).to_arrow_reader(POOL_BATCH_ROWS if pooled else BATCH_ROWS)
    keys: list[pa.Table] = []  # the key columns of the batches handed out, oldest first

    def texts():
        for batch in reader:
            if stop is not None and stop.is_set():
                raise TextStageStopped("the text stage was stopped before it finished")
            keys.append(pa.Table.from_batches([batch]).drop_columns(["content"]))
            yield batch.column("content").to_pylist()

    with ClassifierPool(workers, nice=nice) if pooled else nullcontext() as pool:
        for signals in (pool.map(texts()) if pooled else map(classify_texts, texts())):
            batch_keys = keys.pop(0)
            classified = pa.Table.from_arrays([*batch_keys.columns, *signals.columns],
                                              names=[*batch_keys.column_names, *signals.column_names])
            con.register("_contact_text_batch", classified)
            con.execute("INSERT INTO contact_text__staging SELECT * FROM _contact_text_batch")
            con.unregister("_contact_text_batch")
    written = con.execute("SELECT count(*) FROM contact_text__staging").fetchall()[0][0]
    con.execute("DROP TABLE IF EXISTS contact_text")
    con.execute("ALTER TABLE contact_text__staging RENAME TO contact_text")
    return written


def customer_text_features(con: duckdb.DuckDBPyConnection, as_of: date) -> int:
    """Return the number of customers written to `customer_text_features` for the 12 months up to `as_of`."""
    query = FEATURES_SQL.read_text(encoding="utf-8")
    con.execute(f"CREATE OR REPLACE TABLE customer_text_features AS {query}", {"as_of": as_of})
    return con.execute("SELECT count(*) FROM customer_text_features").fetchall()[0][0]

