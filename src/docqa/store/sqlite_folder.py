"""The folder of a ``SQLiteStore``, as its reads and its write sessions share it.

``SQLiteFolder`` holds what both sides use: the database file and each thread's read connection,
the committed state (the manifest, read once per commit), the write lock, and the folder's upkeep
(setting an unusable database aside before a rebuild, tidying files after a commit). The store
(``sqlite``) and its writer (``sqlite_writer``) each import this module, and neither imports the other.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from docqa.errors import DocqaError, IndexLoadError
from docqa.store import faiss_vectors
from docqa.store.manifest import MANIFEST_FILE, NewerIndexFormat, checked_manifest, mirror, mirrors
from docqa.store.sqlite_schema import connect, database_problem, file_problem, has_locations, is_damage, quick_check

DB_FILE = "index.sqlite"
LOCK_FILE = "index.lock"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Committed:
    """What the last commit left, read in one transaction: its manifest (None before any commit),
    the database's id and generation (the keys of a reader's vectors), and whether the chunks table
    has its locations column (an index of format 1 lacks it until rebuilt)."""

    manifest: dict[str, Any] | None
    database_id: str | None = None
    generation: str | None = None
    locations: bool = True


_NOTHING = Committed(None)


class SQLiteFolder:
    """An index folder's database, lock and files; see the module notes.

    Each thread reads through a connection of its own. A connection opened on a database file since
    replaced (the folder deleted and rebuilt, or the file set aside by a rebuild in another process)
    is opened anew on the current file before its next read. The committed state a thread read is
    kept until SQLite's ``PRAGMA data_version`` says another connection (of this process or another)
    has committed since, so a question reads the manifest at most once, and after a commit at once.
    """

    def __init__(self, folder: str | Path, *, lock_timeout: float = 600.0) -> None:
        self.path = Path(folder)
        self.lock_timeout = lock_timeout  # how long a write session waits for another one
        self._local = threading.local()  # per thread: db, the file it opened, and (data version, Committed)

    @property
    def db_path(self) -> Path:
        return self.path / DB_FILE

    # ----- reading -------------------------------------------------------------------------

    def database_file(self) -> tuple[int, int] | None:
        """The (device, inode) of the database file, None when there is none: a file replaced since a
        connection opened it has another inode (the open file keeps its own, so none is reused)."""
        try:
            status = os.stat(self.db_path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as error:
            raise file_problem(self.path, error) from error
        return status.st_dev, status.st_ino

    def reader(self) -> sqlite3.Connection:
        """This thread's read connection, on the current database file."""
        current = self.database_file()  # looked up before connecting: a file replaced meanwhile is seen next time
        db = getattr(self._local, "db", None)
        if db is not None and self._local.file != current:
            db.close()  # it still reads a database file that was deleted, replaced or set aside
            db = None
        if db is None:
            db = self._local.db = connect(self.db_path)
            self._local.file = current
            self._local.committed = None
        return db

    def rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """The rows of a read query; a database error becomes an ``IndexLoadError`` that says what to do."""
        try:
            return self.reader().execute(sql, parameters).fetchall()
        except sqlite3.DatabaseError as error:
            raise database_problem(self.path, error) from error

    def committed(self) -> Committed:
        """The state of the last commit, read anew only when there has been a commit since.

        Raises ``IndexLoadError`` for a damaged database or manifest, and for an index written in a
        newer format than this version reads (each time it is asked: a fault is never kept).
        """
        if self.database_file() is None:
            return _NOTHING
        try:
            db = self.reader()
            version = db.execute("PRAGMA data_version").fetchone()[0]
            kept = self._local.committed
            if kept is not None and kept[0] == version:
                return kept[1]
            db.execute("BEGIN")  # the manifest and the schema from one snapshot
            try:
                meta = dict(
                    db.execute("SELECT key, value FROM meta WHERE key IN ('manifest', 'database_id', 'generation')")
                )
                locations = has_locations(db)
            finally:
                db.execute("COMMIT")
        except sqlite3.DatabaseError as error:
            if "no such table" in str(error):  # created but never committed to
                return _NOTHING
            raise database_problem(self.path, error) from error
        manifest = checked_manifest(self.path, meta["manifest"]) if "manifest" in meta else None
        state = Committed(manifest, meta.get("database_id"), meta.get("generation"), locations)
        self._local.committed = (version, state)
        return state

    def manifest(self) -> dict[str, Any] | None:
        """The committed manifest, or None for a folder without an index (see ``committed``)."""
        return self.committed().manifest

    def close(self) -> None:
        """Close this thread's connection (other threads' close when they end)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
            self._local.committed = None

    # ----- writing -------------------------------------------------------------------------

    def lock(self) -> FileLock:
        """The folder's write lock, held; raises ``DocqaError`` after ``lock_timeout`` seconds."""
        lock = FileLock(self.path / LOCK_FILE, timeout=self.lock_timeout)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log.warning("another indexing run is updating %s; waiting for it to finish", self.path)
            try:
                lock.acquire()
            except Timeout as error:
                raise DocqaError(
                    f"another indexing run has held {self.path / LOCK_FILE} for over "
                    f"{self.lock_timeout:g} s; try again when it has finished"
                ) from error
        return lock

    def tidy(self) -> None:
        """Mirror the manifest to JSON, with each file's content hash, when the copy is missing or
        stale; remove vector files of other generations and files left by an interrupted run."""
        manifest = self.manifest()
        if manifest is None:
            return
        try:
            if not mirrors(self.path / MANIFEST_FILE, manifest):
                hashes = dict(self.rows("SELECT source, content_hash FROM documents ORDER BY source"))
                mirror(self.path, manifest, hashes)
            for path in self.path.iterdir():
                if faiss_vectors.VECTOR_FILES.fullmatch(path.name) and path.name != manifest["vectors"]:
                    path.unlink(missing_ok=True)
        except OSError as error:  # the update is committed; only its tidying is left for the next one
            log.warning("%s", file_problem(self.path, error, "tidied"))

    def set_aside_if_unusable(self) -> None:
        """Before a rebuild, move a damaged database, or one in a newer format, out of the way."""
        if self.database_file() is None:
            return
        problem = self._problem_to_set_aside()
        if problem is not None:
            self.set_aside(*problem)

    def set_aside(self, label: str, reason: str) -> None:
        """Move the database file to ``index.sqlite.<label>-<time>``, for a rebuild to start anew."""
        aside = self.db_path.with_name(f"{DB_FILE}.{label}-{int(time.time())}")
        log.warning("%s; moved it to %s and rebuilding", reason, aside)
        self.close()  # every other thread reconnects on seeing another file
        try:
            for suffix in ("-wal", "-shm"):
                Path(f"{self.db_path}{suffix}").unlink(missing_ok=True)
            os.replace(self.db_path, aside)
        except OSError as error:
            raise file_problem(self.path, error, "rebuilt") from error

    def _problem_to_set_aside(self) -> tuple[str, str] | None:
        """(file label, reason) when the database cannot be rebuilt in place, else None.

        Only a file whose pages fail ``PRAGMA quick_check``, or one that is not a database, is damaged;
        a rebuild in place repairs the rest (its FTS5 index and manifest are written anew). A check
        that fails for another reason (a full disk, a permission, a disk error) moves nothing and
        says what to fix.
        """
        try:
            with contextlib.closing(sqlite3.connect(self.db_path, timeout=60)) as db:
                found = quick_check(db)
                manifest_row = db.execute("SELECT value FROM meta WHERE key = 'manifest'").fetchone()
        except sqlite3.DatabaseError as error:
            if "no such table" in str(error):
                return None
            if is_damage(error):
                return "damaged", f"the index database is damaged ({error})"
            raise database_problem(self.path, error, "checked") from error
        if found != "ok":
            return "damaged", f"the index database is damaged ({found})"
        if manifest_row:
            with contextlib.suppress(IndexLoadError):  # any other fault of the manifest is rebuilt in place
                try:
                    checked_manifest(self.path, manifest_row[0])
                except NewerIndexFormat as error:
                    return f"format-{error.version}", str(error)
        return None
