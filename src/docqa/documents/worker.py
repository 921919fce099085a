"""Read files in a worker process, so that no file can hang or slow the process that answers questions.

A parser is library code run on untrusted bytes: a crafted PDF can keep pypdf busy for minutes,
and splitting a long text into sentences holds the interpreter lock in long stretches. Run in
the serving process, either would stall every request. Here one long-lived worker process does
that work, one file at a time: ``parse_file`` reads a file, and ``run`` calls any module-level
function there (the indexer splits documents into passages with it). A call that takes longer
than its time budget is stopped, with the worker, which starts afresh for the next call, and the
file is skipped with the reason.

The worker is a fresh interpreter running this module (not multiprocessing's spawn, which would
import the caller's main script again). Where it cannot be started, the work is done in this
process, with a warning.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

from docqa.documents import loading
from docqa.documents.common import UnreadableFile
from docqa.documents.limits import PARSE_SECONDS
from docqa.documents.loading import SourceFile
from docqa.schema import Document

log = logging.getLogger(__name__)

Result = TypeVar("Result")
START_SECONDS = 120.0  # a fresh interpreter importing the parsers, on a busy machine
_READY = ("ready", None)
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder that holds the docqa package
_WORKER_CODE = (
    f"import sys; sys.path.insert(0, {_PACKAGE_ROOT!r}); from docqa.documents import worker; worker._worker_main()"
)


def parse_file(source_file: SourceFile, *, timeout: float | None = None) -> Document:
    """The document in ``source_file``, parsed in the worker process within ``timeout`` seconds.

    The same as :func:`docqa.documents.loading.parse_file`, and raises ``UnreadableFile`` for the
    same reasons, and also, ``transient``, for a file that takes longer than ``timeout``
    (``PARSE_SECONDS`` when None) or while which the worker stops.
    """
    return run(loading.parse_file, source_file, timeout=PARSE_SECONDS if timeout is None else timeout)


def run(
    function: Callable[..., Result], *args: Any, timeout: float, doing: str = "reading it", **kwargs: Any
) -> Result:
    """``function(*args, **kwargs)`` called in the worker process, within ``timeout`` seconds.

    ``function`` is a module-level function and its arguments and result can be pickled. Its
    ``UnreadableFile`` is raised here; so is any other exception it raises, as an ``UnreadableFile``
    that names it, and a call over ``timeout`` or during which the worker stops, as a ``transient``
    one; ``doing`` says what the call does, for those reasons ("reading it").
    """
    return _WORKER.call(function, args, kwargs, timeout, doing)


def serve(requests: Connection, replies: Connection) -> None:
    """The worker's loop: call each (function, args, kwargs) received, and send back ("result", value),
    ("unreadable", (reason, transient)) or ("failed", description)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server, which then stops the worker
    replies.send(_READY)
    while True:
        try:
            function, args, kwargs = requests.recv()
        except EOFError:  # the server closed its end, or exited
            return
        try:
            reply: tuple[str, object] = ("result", function(*args, **kwargs))
        except UnreadableFile as error:
            reply = ("unreadable", (error.reason, error.transient))
        except Exception as error:  # reported to the caller, who skips the file; the worker goes on
            reply = ("failed", (f"{type(error).__name__}: {error}", isinstance(error, MemoryError)))
        replies.send(reply)


def _worker_main() -> None:
    """Entry point of the worker process: requests on standard input, replies on what was standard output."""
    replies = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # anything a library prints goes to standard error, never into the replies
    serve(Connection(0, writable=False), replies)


class _Worker:
    """The worker process, started on first use and again after it was stopped; one call at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._requests: Connection | None = None
        self._replies: Connection | None = None
        self._unavailable = False  # a worker failed to start: work here from then on

    def call(
        self, function: Callable[..., Any], args: tuple, kwargs: dict[str, Any], timeout: float, doing: str
    ) -> Any:
        with self._lock:
            if not self._start():
                return function(*args, **kwargs)
            assert self._requests is not None and self._replies is not None
            try:
                self._requests.send((function, args, kwargs))
                if not self._replies.poll(timeout):
                    self.stop()
                    reason = f"{doing} took longer than {timeout:g} s, the limit for one file"
                    raise UnreadableFile(reason, transient=True)
                kind, value = self._replies.recv()
            except (EOFError, OSError) as error:
                code = self.stop()
                reason = f"the worker stopped while {doing} (exit code {code})"
                raise UnreadableFile(reason, transient=True) from error
        if kind == "unreadable":
            reason, transient = value
            raise UnreadableFile(reason, transient=transient)
        if kind == "failed":
            description, transient = value
            raise UnreadableFile(f"{doing} failed ({description})", transient=transient)
        return value

    def _start(self) -> bool:
        """Whether a worker is running, started now if need be."""
        if self._process is not None and self._process.poll() is None:
            return True
        self.stop()
        if self._unavailable:
            return False
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _WORKER_CODE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True
            )
            assert self._process.stdin is not None and self._process.stdout is not None
            self._requests = Connection(os.dup(self._process.stdin.fileno()), readable=False)
            self._replies = Connection(os.dup(self._process.stdout.fileno()), writable=False)
            self._process.stdin.close()
            self._process.stdout.close()
            if not self._replies.poll(START_SECONDS) or self._replies.recv() != _READY:
                raise OSError(f"no answer within {START_SECONDS:g} s")
        except (OSError, EOFError) as error:
            log.warning("files are read in the serving process: the worker process did not start (%s)", error)
            self.stop()
            self._unavailable = True
            return False
        return True

    def stop(self) -> int | None:
        """Stop the worker, if any; its exit code."""
        process, connections = self._process, (self._requests, self._replies)
        self._process = self._requests = self._replies = None
        for connection in connections:
            if connection is not None:
                connection.close()
        if process is None:
            return None
        if process.poll() is None:
            process.kill()
        return process.wait()


_WORKER = _Worker()
atexit.register(_WORKER.stop)
