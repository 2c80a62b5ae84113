"""A small pool of classifier processes, for the text stage of large runs.

Classifying is Python-bound, so one process uses one core. The workers are plain child processes
(`python -m pipeline.text.workers`) that read batches of texts on stdin and write the classified
Arrow tables on stdout. Unlike multiprocessing's spawn or forkserver start methods, they never
import the caller's `__main__`: a script without an `if __name__ == "__main__":` guard, a notebook
or the dashboard can run a pipeline safely. Unlike fork, they do not inherit DuckDB's threads.
"""
from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa

_HEADER = struct.Struct("<Q")
_BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
NICE_ENV = "PORTRAIT_TEXT_WORKER_NICE"


def _send(stream, obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream) -> object:
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError
    (size,) = _HEADER.unpack(head)
    return pickle.loads(stream.read(size))


class ClassifierPool:
    """`workers` classifier processes; `map` classifies batches in order, one batch in flight per worker.

    `nice` > 0 lowers the workers' CPU priority by that much (os.nice), for classifying in the
    background while other work runs (pipeline/background.py).
    """

    def __init__(self, workers: int, nice: int = 0) -> None:
        root = str(Path(__file__).resolve().parents[2])
        # One core per worker: numpy's BLAS must not start threads of its own. With two workers on two
        # cores, its spinning threads took a third of the workers' CPU (1M customers, 800k contacts:
        # 16.2 CPU-s and 10.3 s with them, 10.4 CPU-s and 7.4 s without).
        single = {name: "1" for name in _BLAS_THREADS if name not in os.environ}
        env = {**os.environ, **single,
               "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        if nice:  # the worker lowers its own priority (a preexec_fn is unsafe beside DuckDB's threads)
            env[NICE_ENV] = str(nice)
        # stderr goes to a file, not a pipe: a chatty worker must never block on a full pipe.
        self._errors = [tempfile.TemporaryFile() for _ in range(max(1, workers))]
        self._procs = [subprocess.Popen([sys.executable, "-m", "pipeline.text.workers"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=err, env=env)
                       for err in self._errors]

    def map(self, batches: Iterable[Sequence[str | None]]) -> Iterator[pa.Table]:
        """Yield the classified table of each batch, in the order the batches came."""
        busy: list[int] = []  # workers holding a batch, oldest first
        free = list(range(len(self._procs)))
        for batch in batches:
            if not free:
                oldest = busy.pop(0)
                yield self._result(oldest)
                free.append(oldest)
            worker = free.pop(0)
            try:
                _send(self._procs[worker].stdin, list(batch))
            except OSError:  # the process is gone
                raise self._died(worker) from None
            busy.append(worker)
        for worker in busy:
            yield self._result(worker)

    def _result(self, worker: int) -> pa.Table:
        proc = self._procs[worker]
        try:
            got = _receive(proc.stdout)
        except (EOFError, pickle.UnpicklingError):
            raise self._died(worker) from None
        if isinstance(got, BaseException):
            raise got
        return got

    def _died(self, worker: int) -> RuntimeError:
        proc = self._procs[worker]
        proc.kill()
        code = proc.wait()
        self._errors[worker].seek(0)
        err = self._errors[worker].read().decode("utf-8", "replace").strip().splitlines()
        return RuntimeError(f"a text classifier process stopped (exit code {code}): {err[-1] if err else 'no message'}")

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            proc.stdout.close()
        for err in self._errors:
            err.close()

    def __enter__(self) -> "ClassifierPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _serve() -> None:
    if os.environ.get(NICE_ENV):
        os.nice(int(os.environ[NICE_ENV]))
    from pipeline.text.classifier import classify_texts

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            texts = _receive(stdin)
        except EOFError:
            return
        try:
            result: object = classify_texts(texts)
        except Exception as err:  # reported to the parent, which raises it
            result = RuntimeError(f"text classification failed: {type(err).__name__}: {err}")
        _send(stdout, result)


if __name__ == "__main__":
    _serve()
