"""The text stage's worker pool classifies exactly what the in-process path does, in the same order."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from pipeline.background import BackgroundStage
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
    monkeypatch.setattr(text_stage, "POOL_BATCH_ROWS", 128)  # several batches over two workers
    assert text_stage.contact_text(con, workers=2) == len(TEXTS)
    pooled = con.execute("SELECT * FROM contact_text ORDER BY ticket_id").fetchall()
    assert pooled == serial
    assert len({row[5] for row in pooled}) == 3  # negative, neutral and positive all occur: real outputs


def test_pool_works_from_a_script_without_a_main_guard(tmp_path) -> None:
    # multiprocessing's spawn would re-run this script in every worker; the pool's workers never import it.
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from pipeline.text.workers import ClassifierPool\n"
        "print('script body ran')\n"
        "with ClassifierPool(2) as pool:\n"
        "    out = list(pool.map([['停电三天了还没人来修，太慢了'], ['谢谢师傅，服务很好'], ['咨询电费']]))\n"
        "print([t.column('sentiment').to_pylist()[0] for t in out])\n", encoding="utf-8")
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("script body ran") == 1
    assert done.stdout.strip().splitlines()[-1] == "['negative', 'positive', 'neutral']"


def test_a_failing_worker_is_an_error_not_a_hang() -> None:
    from pipeline.text.workers import ClassifierPool

    with ClassifierPool(1) as pool:
        assert next(pool.map([["咨询电费"]])).num_rows == 1
        pool._procs[0].kill()  # the process dies (out of memory, killed by an operator …)
        with pytest.raises(RuntimeError, match="a text classifier process stopped"):
            list(pool.map([["咨询电费"]]))


@pytest.mark.skipif(not os.path.exists("/proc/self/environ"), reason="reads a worker's environment from Linux /proc")
def test_workers_run_numpy_on_one_thread_unless_told_otherwise(monkeypatch) -> None:
    """Each worker is one core's worth of classifying: BLAS threads of its own would spin on the other cores."""
    from pipeline.text.workers import ClassifierPool

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")  # an operator's explicit choice is kept
    with ClassifierPool(1) as pool:
        assert next(pool.map([["咨询电费"]])).num_rows == 1
        environ = dict(item.split("=", 1) for item in
                       open(f"/proc/{pool._procs[0].pid}/environ", encoding="utf-8", errors="replace").read().split("\0")
                       if "=" in item)
    assert environ["OPENBLAS_NUM_THREADS"] == "1" and environ["OMP_NUM_THREADS"] == "1"
    assert environ["MKL_NUM_THREADS"] == "3"


def test_the_background_job_gives_the_stage_result_while_the_run_goes_on(contacts_con, monkeypatch) -> None:
    """The run starts text in a thread of its own (pipeline/background.py) and keeps using its connection."""
    import threading

    con = contacts_con
    assert text_stage.contact_text(con, workers=1) == len(TEXTS)
    serial = con.execute("SELECT * FROM contact_text ORDER BY ticket_id").fetchall()
    con.execute("DROP TABLE contact_text")
    monkeypatch.setattr(text_stage, "PARALLEL_MIN_ROWS", 100)
    monkeypatch.setattr(text_stage, "POOL_BATCH_ROWS", 128)  # several batches over two low-priority workers
    job = BackgroundStage("text", con, lambda cur, stop: text_stage.contact_text(cur, 2, nice=19, stop=stop))
    assert any(t.name == "portrait-text" for t in threading.enumerate())
    con.execute("CREATE TABLE other_stage AS SELECT range AS x FROM range(2000000)")  # the run's own cursor
    assert con.execute("SELECT sum(x) FROM other_stage").fetchone()[0] == 1999999 * 2000000 // 2
    assert job.result() == len(TEXTS)
    assert job.seconds > 0 and job.waited >= 0
    assert con.execute("SELECT * FROM contact_text ORDER BY ticket_id").fetchall() == serial
    job.stop()  # after it finished: nothing left to stop
    assert not any(t.name == "portrait-text" for t in threading.enumerate())


def test_a_stopped_background_job_stops_at_the_next_batch_and_creates_no_table(contacts_con, monkeypatch) -> None:
    """A run that fails elsewhere stops its text job instead of leaving it classifying."""
    import threading

    monkeypatch.setattr(text_stage, "BATCH_ROWS", 100)  # ten batches, in-process
    real = text_stage.classify_texts
    started, gate, calls = threading.Event(), threading.Event(), []

    def held(texts):
        calls.append(len(texts))
        started.set()
        assert gate.wait(30)
        return real(texts)

    monkeypatch.setattr(text_stage, "classify_texts", held)
    job = BackgroundStage("text", contacts_con, lambda cur, stop: text_stage.contact_text(cur, 1, stop=stop))
    assert started.wait(30)
    threading.Timer(0.2, gate.set).start()  # the batch in hand finishes after the stop is asked for
    job.stop()
    with pytest.raises(text_stage.TextStageStopped):
        job.result()
    assert calls == [100]  # the first batch only: the job stopped at the next one
    tables = {r[0] for r in contacts_con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "contact_text" not in tables
    assert not any(t.name == "portrait-text" for t in threading.enumerate())


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="reads a worker's CPU priority (POSIX)")
def test_background_workers_run_at_a_lower_priority() -> None:
    from pipeline.text.workers import ClassifierPool

    own = os.getpriority(os.PRIO_PROCESS, 0)
    with ClassifierPool(1, nice=5) as low, ClassifierPool(1) as normal:
        assert next(low.map([["咨询电费"]])).num_rows == 1 and next(normal.map([["咨询电费"]])).num_rows == 1
        assert os.getpriority(os.PRIO_PROCESS, low._procs[0].pid) == min(19, own + 5)
        assert os.getpriority(os.PRIO_PROCESS, normal._procs[0].pid) == own
