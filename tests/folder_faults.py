"""Faults of an index folder for tests to cause: SQLite errors by name, and a folder that acts
read-only even for root, whom file modes do not stop."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest


def sqlite_error(name: str, message: str) -> sqlite3.OperationalError:
    """An error as SQLite raises it, with its error name."""
    error = sqlite3.OperationalError(message)
    error.sqlite_errorname = name  # type: ignore[attr-defined]
    return error


@contextlib.contextmanager
def read_only(folder: Path, monkeypatch: pytest.MonkeyPatch, *, lock_file: bool = False) -> Iterator[None]:
    """Make ``folder`` act as a read-only folder would for a user without rights to it (tests may run as
    root, whom file modes do not stop): its database opens read-only and no file in it can be created,
    written, renamed or removed (``lock_file`` leaves an existing index.lock usable)."""
    real_connect, real_open = sqlite3.connect, os.open

    def inside(path: object) -> bool:
        resolved = Path(os.fsdecode(path)).absolute()  # type: ignore[arg-type]
        return folder in resolved.parents and not (lock_file and resolved.name == "index.lock")

    def refuse(path: object) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))  # type: ignore[arg-type]

    def connect(database: object, *args: object, **kwargs: object) -> sqlite3.Connection:
        if isinstance(database, str | Path) and inside(database):
            return real_connect(f"{Path(database).as_uri()}?mode=ro", *args, uri=True, **kwargs)  # type: ignore[arg-type]
        return real_connect(database, *args, **kwargs)  # type: ignore[arg-type]

    def guarded_open(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and inside(path):
            refuse(path)
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    def guarded(real: object) -> object:
        def call(path: object, *args: object, **kwargs: object) -> object:
            if inside(path):
                refuse(path)
            return real(path, *args, **kwargs)  # type: ignore[operator]

        return call

    if lock_file:
        (folder / "index.lock").touch()
    with monkeypatch.context() as patch:
        patch.setattr(sqlite3, "connect", connect)
        patch.setattr(os, "open", guarded_open)
        for name in ("replace", "rename", "unlink", "remove", "mkdir"):
            patch.setattr(os, name, guarded(getattr(os, name)))
        yield
