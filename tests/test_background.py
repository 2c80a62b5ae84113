"""Stages run beside each other (pipeline/background.py): results, errors and stopping."""
from __future__ import annotations

import threading
import time

import duckdb
import pytest

from pipeline.background import BackgroundStage
from pipeline.engine import connect


def _alive(stage: str) -> bool:
    return any(t.name == f"portrait-{stage}" and t.is_alive() for t in threading.enumerate())


def test_a_background_stage_works_on_its_own_cursor_while_the_run_goes_on() -> None:
    con = connect()
    con.execute("CREATE TABLE base AS SELECT range AS x FROM range(1000)")

    def work(cur, stop):
        cur.execute("CREATE TEMP TABLE mine AS SELECT x * 2 AS y FROM base")  # temp: its own connection's
        cur.execute("CREATE TABLE shared AS SELECT sum(y) AS s FROM mine")
        return cur.execute("SELECT s FROM shared").fetchone()[0]

    job = BackgroundStage("demo", con, work)
    assert con.execute("SELECT count(*) FROM range(3000000)").fetchone()[0] == 3000000  # the run's own cursor
    assert job.result() == 999 * 1000
    assert job.seconds is not None and job.seconds >= 0 and job.waited >= 0
    assert con.execute("SELECT s FROM shared").fetchone()[0] == 999 * 1000  # its tables are the run's
    assert not _alive("demo")
    con.close()


def test_its_error_is_raised_where_the_run_waits_for_it() -> None:
    con = connect()
    job = BackgroundStage("demo", con, lambda cur, stop: cur.execute("SELECT * FROM no_such_table"))
    with pytest.raises(duckdb.CatalogException, match="no_such_table"):
        job.result()
    con.close()


def test_stop_interrupts_a_long_statement_and_waits_for_the_stage() -> None:
    con = connect()
    started = threading.Event()

    def work(cur, stop):
        started.set()
        # minutes of work on two threads, unless interrupted
        return cur.execute("SELECT count(*) FROM range(100000000000) a WHERE hash(a.range) % 7 = 3").fetchone()

    job = BackgroundStage("demo", con, work)
    assert started.wait(10)
    time.sleep(0.3)
    begin = time.perf_counter()
    job.stop()
    assert time.perf_counter() - begin < 10
    assert not _alive("demo")
    with pytest.raises(duckdb.InterruptException):
        job.result()
    con.close()


def test_stop_sets_the_event_that_looping_work_checks() -> None:
    con = connect()
    rounds = []

    def work(cur, stop):
        while not stop.is_set():
            rounds.append(cur.execute("SELECT 1").fetchone()[0])
            time.sleep(0.01)
        return len(rounds)

    job = BackgroundStage("demo", con, work)
    time.sleep(0.2)
    job.stop()
    assert job.result() == len(rounds) > 0
    con.close()
