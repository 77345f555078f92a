"""The workers of ``compat-init migrate``: one process per job, one pipe each.

``multiprocessing.Pool`` cannot lose a worker: a worker killed while it holds
the shared task queue's lock leaves every other worker blocked (bpo-22393), and
``imap`` waits forever for a result a dead worker will never send.  Here each
worker has its own pipe, so the parent can end one that died or stalled, give
its file a reason, and start another:

* a worker that dies (a crash in the parser, a signal): its file is
  ``skipped: the parser's worker died (SIGSEGV); left alone``;
* a worker that takes longer than its file's time limit is killed: its file is
  ``skipped: took longer than ...; left alone``.

Workers come from a fork server (a fresh interpreter that imported only this
package), not from the caller, whose threads (TensorFlow's, in a test run)
would make a plain ``fork`` unsafe.  They end when the parent dies (Linux:
``PR_SET_PDEATHSIG``), and never write files: the parent does.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import time
from multiprocessing.connection import wait
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

#: The time limit of a file when none is given: 60 s, plus 120 s per MiB.
#: The parse runs at about 30 s per MiB of dense legacy code on a 2-core CI
#: machine (a 2.26 MiB file of 50,000 lines and 8,334 calls: 73 s), so the
#: limit is about 4 times the slowest measured rate and ends only a stall.
BASE_SECONDS = 60.0
SECONDS_PER_MIB = 120.0


def default_limit(size: int) -> float:
    """The default time limit, in seconds, of a file of ``size`` bytes."""
    return BASE_SECONDS + SECONDS_PER_MIB * size / 2 ** 20


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:
        context.set_forkserver_preload(["compat_init.migrate"])
    return context


def _die_with_parent() -> None:
    """A worker ends when the parent dies (Linux: PR_SET_PDEATHSIG), so a
    killed run leaves no orphans; workers never write files."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the parent's shutdown applies
        pass


def _serve(connection, work: Callable) -> None:  # pragma: no cover - runs in the worker
    _die_with_parent()
    if os.getppid() == 1:  # the fork server, and so the parent, died before the call
        return
    while True:
        try:
            job = connection.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if job is None:
            return
        index, item = job
        try:
            connection.send((index, True, work(item)))
        except Exception as error:  # reported for this file; the worker goes on
            connection.send((index, False, "{}: {}".format(type(error).__name__, error)))


def _signal_name(code: Optional[int]) -> str:
    if code is None or code >= 0:
        return "exit code {}".format(code)
    try:
        return signal.Signals(-code).name
    except ValueError:
        return "signal {}".format(-code)


class _Worker:
    def __init__(self, context, work: Callable) -> None:
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, work), daemon=True)
        self.process.start()
        child.close()
        self.job: Optional[Tuple[int, float]] = None  # (index, deadline)
        self.stopped = False

    def stop(self, kill: bool) -> None:
        self.stopped = True
        if kill:
            try:
                self.process.kill()
            except OSError:
                pass
        else:
            try:
                self.connection.send(None)
            except OSError:
                pass
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()


def run(work: Callable[[Item], Result], items: Sequence[Item], jobs: int,
        limits: Sequence[float], failed: Callable[[Item, str], Result]) -> Iterator[Result]:
    """``work(item)`` for every item in worker processes, yielded in item
    order.  ``limits[i]`` is item i's time limit in seconds; an item whose
    worker dies, stalls past its limit or raises gets ``failed(item, why)``."""
    context = _context()
    workers: List[_Worker] = []
    done: Dict[int, Result] = {}
    queued = 0
    yielded = 0
    wanted = max(1, min(jobs, len(items)))
    try:
        while yielded < len(items):
            workers = [w for w in workers if not w.stopped]
            busy = sum(w.job is not None for w in workers)
            while len(workers) < min(wanted, busy + len(items) - queued):
                workers.append(_Worker(context, work))
            for worker in workers:
                if worker.job is None and queued < len(items):
                    try:
                        worker.connection.send((queued, items[queued]))
                    except OSError:  # it died idle: another takes the file
                        worker.stop(kill=True)
                        continue
                    worker.job = (queued, time.monotonic() + limits[queued])
                    queued += 1
            jobs_now = [(w, w.job) for w in workers if w.job is not None]
            ready: Sequence[object] = []
            if jobs_now:
                soonest = min(job[1] for _, job in jobs_now)
                ready = wait([w.connection for w, _ in jobs_now] + [w.process.sentinel for w, _ in jobs_now],
                             timeout=max(0.0, soonest - time.monotonic()))
            for worker, (index, deadline) in jobs_now:
                why = None
                if worker.connection in ready or worker.process.sentinel in ready:
                    try:
                        if worker.connection.poll():
                            answer, ok, value = worker.connection.recv()
                            done[answer] = value if ok else failed(items[answer], "compat_init error, please "
                                                                  "report it ({})".format(value))
                            worker.job = None
                            continue
                    except (EOFError, OSError):
                        pass
                    worker.process.join(5)
                    why = "the parser's worker died ({}); left alone".format(_signal_name(worker.process.exitcode))
                elif time.monotonic() >= deadline:
                    why = "took longer than its time limit ({:g} s, --timeout-per-file); left alone".format(
                        limits[index])
                if why is not None:
                    worker.stop(kill=True)
                    done[index] = failed(items[index], why)
            while yielded in done:
                yield done.pop(yielded)
                yielded += 1
    finally:
        for worker in workers:
            if not worker.stopped:
                worker.stop(kill=worker.job is not None)
