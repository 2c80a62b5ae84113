"""A stage that runs in a thread of its own, on its own cursor, while the run goes on with the next one.

Every SQL stage keeps the two cores busy most of the time but not all of it: the ends of pipelines,
the steps between passes and the Python between statements leave about 8 % of a 1M run's
core-seconds idle. A stage that needs none of the other stages' tables can use those gaps: text
(contacts only) runs beside usage_daily and the reading models, its classifier processes at the
lowest priority. (Segments beside tags did not gain: both keep the cores busy, and side by side
they took as long as one after the other, at more memory.)

The run waits for a background stage (`result()`) before the first step that needs it. A failure
there is raised in the run's own thread; a failure elsewhere stops the background stage first
(`stop()`), so a failed run never leaves one behind.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Generic, TypeVar

import duckdb

T = TypeVar("T")
THREAD_PREFIX = "portrait-"  # threads are named portrait-<stage>; the profiler counts their statements so


class BackgroundStage(Generic[T]):
    """`work(cursor, stop)` in a thread named portrait-<stage>, on a cursor of `con`.

    `stop` is an Event that `stop()` sets; work that loops (text's batches) checks it. `stop()` also
    interrupts the statement the cursor is running. `seconds` is the stage's own wall time once it has
    finished, `waited` how long `result()` waited for it.
    """

    def __init__(self, stage: str, con: duckdb.DuckDBPyConnection,
                 work: Callable[[duckdb.DuckDBPyConnection, threading.Event], T]) -> None:
        self.stage = stage
        self._cursor = con.cursor()
        self._stop = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None
        self.seconds: float | None = None
        self.waited: float | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), name=THREAD_PREFIX + stage, daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[duckdb.DuckDBPyConnection, threading.Event], T]) -> None:
        start = time.perf_counter()
        try:
            self._value = work(self._cursor, self._stop)
        except BaseException as err:  # handed to result(), in the run's own thread
            self._error = err
        finally:
            self.seconds = round(time.perf_counter() - start, 3)
            self._cursor.close()

    def result(self) -> T:
        """Wait for the stage; return what it returned, or raise what it raised."""
        start = time.perf_counter()
        self._thread.join()
        self.waited = round(time.perf_counter() - start, 3)
        if self._error is not None:
            raise self._error
        return self._value

    def stop(self) -> None:
        """Ask the stage to stop, interrupt its statement, and wait for it (at once if it finished)."""
        if self._thread.is_alive():
            self._stop.set()
            try:
                self._cursor.interrupt()
            except duckdb.Error:  # (closed: it just finished)
                pass
        self._thread.join()
