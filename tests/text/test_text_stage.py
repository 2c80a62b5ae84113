"""The text stage's worker pool classifies exactly what the in-process path does, in the same order."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pipeline.engine import connect
from pipeline.stages import text as text_stage
from pipeline.stages.features import create_empty_canonical_tables

DATA = Path(__file__).resolve().parents[2] / "pipeline" / "text" / "data"
with open(DATA / "train.csv", encoding="utf-8") as _f:
    TEXTS = [row["text"] for row in csv.DictReader(_f)][:900] + [None, ""]


@pytest.fixture
def contacts_con():
    con = connect()
    create_empty_canonical_tables(con)
    texts = TEXTS
    con.execute("CREATE TEMP TABLE t AS SELECT generate_subscripts(?, 1) AS ordinality, unnest(?) AS content",
                [texts, texts])
    con.execute("INSERT INTO contacts (ticket_id, customer_id, contacted_at, business_type, channel, content) "
                "SELECT 'T' || lpad(CAST(ordinality AS VARCHAR), 5, '0'), '3100000001', TIMESTAMP '2025-06-01 09:00:00', "
                "'咨询', '95598电话', content FROM t")
    yield con
    con.close()


def test_worker_pool_gives_the_in_process_result(contacts_con, monkeypatch) -> None:
    con = contacts_con
    assert text_stage.contact_text(con, workers=1) == len(TEXTS)
    serial = con.execute("SELECT * FROM contact_text ORDER BY ticket_id").fetchall()
    monkeypatch.setattr(text_stage, "PARALLEL_MIN_ROWS", 100)
    monkeypatch.setattr(text_stage, "BATCH_ROWS", 128)  # several batches over two workers, several in flight
    assert text_stage.contact_text(con, workers=2) == len(TEXTS)
    pooled = con.execute("SELECT * FROM contact_text ORDER BY ticket_id").fetchall()
    assert pooled == serial
    assert len({row[5] for row in pooled}) == 3  # negative, neutral and positive all occur: real outputs
