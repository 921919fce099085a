"""Read files in worker processes, so that no file can hang, slow or exhaust the process that answers questions.

A parser is library code run on untrusted bytes: a crafted PDF can keep pypdf busy for minutes, a
small archive can unpack into gigabytes, and splitting a long text into sentences holds the
interpreter lock in long stretches. Run in the serving process, any of them would stall every
request or take the machine's memory. Here a pool of long-lived worker processes does that work,
each one file at a time. A ``WorkerPool`` holds them (as many as cores, unless told otherwise): its
``parse_file`` reads a file, ``run`` calls any module-level function in a worker (the indexer
splits documents into passages with it), and ``in_parallel`` keeps the pool busy with a sequence of
such calls. Each pool is an object of its own (the indexer's, or the assistant's for all its
updates), so two users in one process can give theirs different budgets.

Each call has a time budget, and each worker a memory budget (``MEMORY_BYTES``): the worker's
data size is limited by the operating system (``RLIMIT_DATA``, inherited by the programs it starts,
such as ``tesseract``), and the resident size of its whole process group is watched while it works.
A call over either budget is stopped with every process of the worker's group, which starts afresh
for the next call, and the file is skipped with the reason ("reading it needed more than 1 GB").
A worker also kills its group when the process that started it is gone, so that nothing started
by docqa outlives it. Idle workers are stopped after ``IDLE_SECONDS``, and every worker when its
pool is stopped (``stop``, the end of a ``with`` block, or the end of the process).

The worker is a fresh interpreter running this module (not multiprocessing's spawn, which would
import the caller's main script again). Where it cannot be started, the work is done in this
process, with a warning.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

from docqa.documents import loading, resident
from docqa.documents.common import UnreadableFile
from docqa.documents.limits import MEMORY_BYTES, PARSE_SECONDS, size_label
from docqa.documents.loading import SourceFile
from docqa.schema import Document

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")
START_SECONDS = 120.0  # a fresh interpreter importing the parsers, on a busy machine
IDLE_SECONDS = 30.0  # a worker unused this long is stopped: each holds its parsers' libraries in memory
WATCH_SECONDS = 0.2  # how often the resident size of a working worker's processes is measured
# A call that failed after the worker's resident size reached this share of its budget ran out of
# memory, whatever error the library made of it; after one that reached half, the worker is replaced
# (the memory it freed is rarely given back to the system). So a worker's highest resident size
# since it started is that of its last call, whenever it is over half the budget.
_SPENT_SHARE = 0.75
_READY = ("ready", None, 0)
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder that holds the docqa package


# The budgets of a pool made without its own. Only ``configure`` changes them, for a caller that does
# not yet hand its indexers a pool (``docqa.indexing.FileReading``) of its own: it goes with the last one.
def memory_reason(doing: str, memory_bytes: int) -> str:
    return f"{doing} needed more than {size_label(memory_bytes)}"


# ----- in the worker -----------------------------------------------------------------------


def serve(requests: Connection, replies: Connection, memory_bytes: int = MEMORY_BYTES) -> None:
    """The worker's loop: call each (function, args, kwargs) received, and send back (kind, value,
    peak resident bytes): ("result", value), ("unreadable", (reason, transient)), ("memory", None)
    or ("failed", (description, transient))."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server, which then stops the worker
    replies.send(_READY)
    while True:
        try:
            function, args, kwargs = requests.recv()
        except EOFError:  # the server closed its end, or exited
            return
        reply: tuple[str, object]
        try:
            reply = ("result", function(*args, **kwargs))
        except Exception as error:  # reported to the caller, who skips the file; the worker goes on
            reply = _failure(error, resident.peak_bytes() >= _SPENT_SHARE * memory_bytes)
        replies.send((*reply, resident.peak_bytes()))


def _failure(error: Exception, spent: bool) -> tuple[str, object]:
    """The reply for a call that raised ``error``; ``spent`` when it used most of the memory budget."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, MemoryError):
            spent = True
        cause = cause.__cause__ or cause.__context__
    if spent:
        return ("memory", None)
    if isinstance(error, UnreadableFile):
        return ("unreadable", (error.reason, error.transient))
    return ("failed", (f"{type(error).__name__}: {error}", False))


def _worker_main(memory_bytes: int) -> None:
    """Entry point of the worker process: requests on standard input, replies on what was standard output."""
    replies = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # anything a library prints goes to standard error, never into the replies
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource  # not on Windows

        resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))
    parent = os.getppid()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    serve(Connection(0, writable=False), replies, memory_bytes)


def _watch_parent(parent: int) -> None:
    """Kill this worker's process group (itself and any program it started) once ``parent`` is gone."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os.killpg(0, signal.SIGKILL)


# ----- in the process that uses the workers ------------------------------------------------


class _Worker:
    """One worker process in a process group of its own, started on first use and again after it was stopped."""

    def __init__(self, memory_bytes: int) -> None:
        self.memory_bytes = memory_bytes
        self.idle_since = time.monotonic()
        self._process: subprocess.Popen[bytes] | None = None
        self._requests: Connection | None = None
        self._replies: Connection | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def call(
        self, function: Callable[..., Any], args: tuple, kwargs: dict[str, Any], timeout: float, doing: str
    ) -> Any:
        process, requests = self._process, self._requests
        try:
            if process is None or requests is None:
                raise OSError("the worker was stopped")
            requests.send((function, args, kwargs))
            kind, value, peak = self._reply(process.pid, timeout, doing)
        except (EOFError, OSError) as error:
            code = self.stop()
            reason = f"the worker stopped while {doing} (exit code {code})"
            raise UnreadableFile(reason, transient=True) from error
        if peak > self.memory_bytes / 2 or kind == "memory":
            self.stop()
        if kind == "memory":
            raise UnreadableFile(memory_reason(doing, self.memory_bytes))
        if kind == "unreadable":
            reason, transient = value
            raise UnreadableFile(reason, transient=transient)
        if kind == "failed":
            description, transient = value
            raise UnreadableFile(f"{doing} failed ({description})", transient=transient)
        return value

    def _reply(self, group: int, timeout: float, doing: str) -> tuple[str, Any, int]:
        """The worker's reply, waited for within ``timeout`` while its group stays within its memory budget."""
        replies = self._replies  # read once: stopping the pool at exit may close it from another thread
        if replies is None:
            raise OSError("the worker was stopped")
        deadline = time.monotonic() + timeout
        while not replies.poll(max(0.0, min(WATCH_SECONDS, deadline - time.monotonic()))):
            if resident.group_bytes(group) > self.memory_bytes:
                self.stop()
                raise UnreadableFile(memory_reason(doing, self.memory_bytes))
            if time.monotonic() >= deadline:
                self.stop()
                raise UnreadableFile(f"{doing} took longer than {timeout:g} s, the limit for one file", transient=True)
        return replies.recv()

    def start(self) -> None:
        """Start the worker unless it runs; raises ``OSError`` when it cannot be started."""
        if self._process is not None and self._process.poll() is None:
            return
        self.stop()
        code = (
            f"import sys; sys.path.insert(0, {_PACKAGE_ROOT!r}); from docqa.documents import worker; "
            f"worker._worker_main({self.memory_bytes})"
        )
        # One thread of OpenMP for Tesseract: the pool already keeps every core busy.
        environment = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", code],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                close_fds=True,
                start_new_session=True,  # a process group of its own, killed whole
                env=environment,
            )
            assert self._process.stdin is not None and self._process.stdout is not None
            self._requests = Connection(os.dup(self._process.stdin.fileno()), readable=False)
            self._replies = Connection(os.dup(self._process.stdout.fileno()), writable=False)
            self._process.stdin.close()
            self._process.stdout.close()
            if not self._replies.poll(START_SECONDS) or self._replies.recv() != _READY:
                raise OSError(f"no answer within {START_SECONDS:g} s")
        except (OSError, EOFError) as error:
            self.stop()
            raise OSError(str(error)) from error

    def stop(self) -> int | None:
        """Stop the worker and every process of its group, if any; its exit code."""
        process, connections = self._process, (self._requests, self._replies)
        self._process = self._requests = self._replies = None
        for connection in connections:
            if connection is not None:
                connection.close()
        if process is None:
            return None
        # The group outlives its leader while a program it started runs; the leader, not yet waited
        # for, keeps the group's id from being reused.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        return process.wait()


class WorkerPool:
    """Worker processes handed out one per call, at most ``size`` at a time (0: as many as this machine
    has cores), each with a memory budget of ``memory_bytes``; see the module notes. Used as a context
    manager, it stops its workers at the end of the block."""

    def __init__(self, workers: int | None = None, memory_bytes: int | None = None) -> None:
        self._available = threading.Condition()
        self._idle: list[_Worker] = []
        self._working: set[_Worker] = set()
        self.size = os.cpu_count() or 1
        self.memory_bytes = MEMORY_BYTES
        self._unavailable = False  # a worker failed to start: work here from then on
        self._reaper: threading.Thread | None = None
        self.configure(workers or 0, MEMORY_BYTES if memory_bytes is None else memory_bytes)
        _POOLS.add(self)

    def configure(self, workers: int = 0, memory_bytes: int = MEMORY_BYTES) -> None:
        """At most ``workers`` worker processes (0: as many as this machine has cores), each with a memory
        budget of ``memory_bytes``; idle workers started with another budget are stopped."""
        if workers < 0 or memory_bytes <= 0:
            raise ValueError("workers must not be negative, and the memory budget must be positive")
        with self._available:
            self.size, self.memory_bytes = workers or os.cpu_count() or 1, memory_bytes
            stale = [worker for worker in self._idle if worker.memory_bytes != memory_bytes]
            self._idle = [worker for worker in self._idle if worker.memory_bytes == memory_bytes]
            self._available.notify_all()
        for worker in stale:
            worker.stop()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exception: object) -> None:
        self.stop()

    def parse_file(self, source_file: SourceFile, *, timeout: float | None = None) -> Document:
        """The document in ``source_file``, parsed in a worker process within ``timeout`` seconds.

        The same as :func:`docqa.documents.loading.parse_file`, and raises ``UnreadableFile`` for the
        same reasons, and also for a file that needs more memory than the worker's budget, and,
        ``transient``, for a file that takes longer than ``timeout`` (``PARSE_SECONDS`` when None) or
        while which the worker stops.
        """
        return self.run(loading.parse_file, source_file, timeout=PARSE_SECONDS if timeout is None else timeout)

    def run(
        self, function: Callable[..., Result], *args: Any, timeout: float, doing: str = "reading it", **kwargs: Any
    ) -> Result:
        """``function(*args, **kwargs)`` called in a worker process, within ``timeout`` seconds.

        ``function`` is a module-level function and its arguments and result can be pickled. Its
        ``UnreadableFile`` is raised here; so is any other exception it raises, as an ``UnreadableFile``
        that names it; a call that needs more than the memory budget as one that says so, and a call
        over ``timeout`` or during which the worker stops as a ``transient`` one; ``doing`` says what
        the call does, for those reasons ("reading it").
        """
        return self.call(function, args, kwargs, timeout, doing)

    def in_parallel(self, function: Callable[[Item], Result], items: Iterable[Item]) -> Generator[Result, None, None]:
        """``function(item)`` for each of ``items``, in their order, computed by as many threads at a
        time as the pool has workers (``function`` hands its work to them with ``run``), a few ahead of
        the caller. The threads are daemons: at exit, the workers they wait for are stopped, not waited for."""
        size = self.size
        tasks: queue.SimpleQueue[tuple[Future[Result], Item] | None] = queue.SimpleQueue()

        def work() -> None:
            while (task := tasks.get()) is not None:
                future, item = task
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(function(item))
                    except BaseException as error:  # handed to the caller, who raises it
                        future.set_exception(error)

        threads = [threading.Thread(target=work, name="docqa-parse", daemon=True) for _ in range(size)]
        for thread in threads:
            thread.start()
        pending: deque[Future[Result]] = deque()
        try:
            for item in items:
                pending.append(Future())
                tasks.put((pending[-1], item))
                if len(pending) >= 2 * size:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
            for _ in threads:
                tasks.put(None)

    def call(
        self, function: Callable[..., Any], args: tuple, kwargs: dict[str, Any], timeout: float, doing: str
    ) -> Any:
        worker = self._take()
        if worker is None:
            return function(*args, **kwargs)
        try:
            return worker.call(function, args, kwargs, timeout, doing)
        finally:
            self._give_back(worker)

    def pids(self) -> list[int]:
        """The process ids of the running workers."""
        with self._available:
            workers = [*self._idle, *self._working]
        return [pid for pid in (worker.pid for worker in workers) if pid is not None]

    def _take(self) -> _Worker | None:
        """An idle worker, started if need be, once fewer than ``size`` work; None when workers cannot start."""
        with self._available:
            while not self._unavailable and len(self._working) >= self.size:
                self._available.wait()
            if self._unavailable:
                return None
            worker = self._idle.pop() if self._idle else _Worker(self.memory_bytes)
            self._working.add(worker)
            if self._reaper is None:  # it ends once no worker is left, so an unused pool can be collected
                self._reaper = threading.Thread(target=self._stop_idle, name="docqa-workers", daemon=True)
                self._reaper.start()
        try:
            worker.start()
        except OSError as error:
            log.warning("files are read in the serving process: a worker process did not start (%s)", error)
            with self._available:
                self._working.discard(worker)
                self._unavailable = True
                self._available.notify_all()
            return None
        return worker

    def _give_back(self, worker: _Worker) -> None:
        with self._available:
            self._working.discard(worker)
            worker.idle_since = time.monotonic()
            if worker.memory_bytes == self.memory_bytes:
                self._idle.append(worker)
            self._available.notify()
        if worker.memory_bytes != self.memory_bytes:
            worker.stop()

    def _stop_idle(self) -> None:
        while True:
            time.sleep(IDLE_SECONDS / 3)
            now = time.monotonic()
            with self._available:
                idle = [worker for worker in self._idle if now - worker.idle_since > IDLE_SECONDS]
                self._idle = [worker for worker in self._idle if worker not in idle]
                done = not self._idle and not self._working
                if done:
                    self._reaper = None
            for worker in idle:
                worker.stop()
            if done:
                return

    def stop(self) -> None:
        """Stop every worker: those at work fail their call, as if they had stopped."""
        with self._available:
            workers, self._idle = [*self._idle, *self._working], []
        for worker in workers:
            worker.stop()


# The pools of this process, held weakly, only so that their workers are stopped at its end.
_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


@atexit.register
def _stop_pools() -> None:
    for pool in list(_POOLS):
        pool.stop()
