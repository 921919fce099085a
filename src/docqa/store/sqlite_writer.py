"""A write session on a ``SQLiteStore``: one SQLite transaction, under the folder's lock.

The session works on the store's ``SQLiteFolder`` (its database, lock and upkeep), not on the store.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

import numpy as np
from filelock import FileLock

from docqa.config import NO_MODEL
from docqa.errors import DocqaError
from docqa.schema import Chunk, Document
from docqa.store import faiss_vectors, sqlite_vectors
from docqa.store.base import IndexSettings
from docqa.store.manifest import build_manifest, settings_of
from docqa.store.sqlite_folder import SQLiteFolder
from docqa.store.sqlite_schema import (
    DROP_FTS,
    FTS_SCHEMA,
    connect,
    create_schema,
    database_problem,
    file_problem,
    is_damage,
    locations_json,
    meta_value,
)


class SQLiteWriter:
    """One write session on a ``SQLiteStore``: one SQLite transaction, under the folder's lock.

    On a clean exit of its ``with`` block it writes the manifest of the new generation (and first a
    new vector file, when the changes since the last one have grown), then commits; an exception
    rolls everything back. A session that changed nothing commits nothing, and leaves the generation
    as it was. A rebuild empties the tables and makes the FTS5 index anew in the same transaction, so
    it also repairs a damaged FTS5 index or manifest.
    """

    def __init__(self, files: SQLiteFolder, settings: IndexSettings, *, rebuild: bool = False) -> None:
        self.files = files
        self.settings = settings
        self.rebuilding = rebuild
        self._lock: FileLock | None = None
        self._db: sqlite3.Connection | None = None
        self._begun = False
        self._changed = False
        self._counts = {"documents": 0, "passages": 0}  # added less removed in this session

    def __enter__(self) -> SQLiteWriter:
        files = self.files
        try:
            files.path.mkdir(parents=True, exist_ok=True)
            self._lock = files.lock()
            if self.rebuilding:
                files.set_aside_if_unusable()
            manifest = None if self.rebuilding else files.manifest()
            self.rebuilding = self.rebuilding or manifest is None or settings_of(manifest) != self.settings
            try:
                self._open()
            except sqlite3.DatabaseError as error:
                if not (self.rebuilding and is_damage(error)):
                    raise
                # Damage that PRAGMA quick_check does not see (an index out of step with its table, say)
                # shows when the rebuild empties the tables: then the file is set aside after all.
                self._close_connection()
                files.set_aside("damaged", f"the index database is damaged ({error})")
                self._open()
        except BaseException as error:
            self._finish()
            if isinstance(error, sqlite3.DatabaseError):
                raise database_problem(files.path, error, "updated") from error
            if isinstance(error, OSError):
                raise file_problem(files.path, error, "updated") from error
            raise
        return self

    def add(self, documents: Sequence[Document], chunks: Sequence[Chunk], vectors: np.ndarray | None = None) -> None:
        """Insert ``documents`` and their ``chunks`` (with one vector row each when the settings name
        an embedding model). Chunk ids are assigned by the store; the chunks' own ids are ignored."""
        with_vectors = self.settings.embedding_model != NO_MODEL
        if chunks and with_vectors != (vectors is not None):
            raise ValueError("vectors must be given exactly when the settings name an embedding model")
        blobs: list[bytes | None] = [None] * len(chunks)
        if vectors is not None:
            rows = np.ascontiguousarray(vectors, dtype=np.float32)
            if rows.ndim != 2 or len(rows) != len(chunks):
                raise ValueError(f"expected {len(chunks)} vector rows, got an array of shape {rows.shape}")
            blobs = [row.tobytes() for row in rows]
        self._counts["documents"] += len(documents)
        self._counts["passages"] += len(chunks)
        self._execute(
            "INSERT INTO documents (source, title, date, content_hash, text) VALUES (?, ?, ?, ?, ?)",
            [(d.source, d.title, d.date, d.content_hash, d.text) for d in documents],
        )
        self._execute(
            "INSERT INTO chunks (source, position, start, end, text, embedding, locations) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (c.source, c.index, c.start, c.end, c.text, blob, locations_json(c.locations))
                for c, blob in zip(chunks, blobs, strict=True)
            ],
        )

    def remove(self, sources: Iterable[str]) -> None:
        """Delete these documents; their chunks and FTS5 rows go with them, and the ids of their
        vectors are logged for the readers that hold the vectors of an earlier generation."""
        sources = list(sources)
        if not sources:
            return
        db = self._begin()
        log_vectors = self.settings.embedding_model != NO_MODEL and not self.rebuilding
        generation = _stored_generation(db) + 1
        try:
            for source in sources:
                passages = db.execute("SELECT count(*) FROM chunks WHERE source = ?", (source,)).fetchone()[0]
                if log_vectors:
                    db.execute(
                        "INSERT OR REPLACE INTO removed_vectors (id, generation) "
                        "SELECT id, ? FROM chunks WHERE source = ? AND embedding IS NOT NULL",
                        (generation, source),
                    )
                if db.execute("DELETE FROM documents WHERE source = ?", (source,)).rowcount:
                    self._changed = True
                    self._counts["documents"] -= 1
                    self._counts["passages"] -= passages
        except sqlite3.DatabaseError as error:
            raise database_problem(self.files.path, error, "updated") from error

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            if kind is None:
                self._commit()
                self._close_connection()  # before tidying, which reads through the folder's own connection
                self.files.tidy()
        finally:
            self._finish()

    # ----- plumbing ----------------------------------------------------------------------

    def _execute(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        db = self._begin()
        try:
            before = db.total_changes
            db.executemany(sql, rows)
        except sqlite3.DatabaseError as error:
            raise database_problem(self.files.path, error, "updated") from error
        self._changed = self._changed or db.total_changes != before

    def _begin(self) -> sqlite3.Connection:
        """The session's connection, inside its transaction (begun on the first write)."""
        db = self._db
        if db is None:
            raise DocqaError("the write session is not open: use it in a 'with' block")
        if self._begun and not db.in_transaction:  # SQLite rolled it back after an error
            raise DocqaError("the write session failed and was rolled back; start a new one")
        if not self._begun:
            try:
                self._start(db)
            except sqlite3.DatabaseError as error:
                raise database_problem(self.files.path, error, "updated") from error
        return db

    def _open(self) -> None:
        """Connect and make the tables; a rebuild also begins its transaction, emptying them."""
        self._begun = False
        self._db = connect(self.files.db_path)
        create_schema(self._db)
        if self.rebuilding:
            self._start(self._db)

    def _start(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        if self.rebuilding:  # the FTS5 index goes first: deleting through a damaged one could fail
            emptied = ("DELETE FROM chunks", "DELETE FROM documents", "DELETE FROM removed_vectors")
            for statement in (*DROP_FTS, *emptied, *FTS_SCHEMA):
                db.execute(statement)
        self._begun = True

    def _commit(self) -> None:
        """Write the manifest of the next generation (and a new vector file when one is due), then commit."""
        if not (self._changed or self.rebuilding):
            return
        db = self._begin()
        try:
            generation = _stored_generation(db) + 1
            previous = None if self.rebuilding else _stored_manifest(db)
            vectors_file, base, dimension = "", None, 0
            if self.settings.embedding_model != NO_MODEL:
                vectors_file, base = self._vectors(db, previous, generation)
                dimension = (previous or {}).get("embedding_dimension") or _stored_dimension(db)
            manifest = build_manifest(
                self.settings, generation, vectors_file, self._counted(db, previous), dimension, base
            )
            db.execute("INSERT OR REPLACE INTO meta VALUES ('manifest', ?)", (json.dumps(manifest),))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", (str(generation),))
            if self.rebuilding or meta_value(db, "database_id") is None:
                # Readers key their cached vectors by it: a rebuilt database is another one.
                db.execute("INSERT OR REPLACE INTO meta VALUES ('database_id', ?)", (uuid.uuid4().hex,))
            db.execute("COMMIT")
        except sqlite3.DatabaseError as error:
            raise database_problem(self.files.path, error, "updated") from error
        except OSError as error:
            raise file_problem(self.files.path, error, "updated") from error

    def _vectors(
        self, db: sqlite3.Connection, previous: dict[str, Any] | None, generation: int
    ) -> tuple[str, dict[str, int]]:
        """The vector file and base of the new generation: the previous ones while the changes since
        that base are few (readers apply them from the database), else a new file: the previous one
        with the changes applied (``sqlite_vectors.folded_base``), or every stored vector."""
        folded = None
        if previous and previous.get("vectors") and previous.get("vectors_base"):
            base = previous["vectors_base"]
            changes = sqlite_vectors.changes_since_base(db, base)
            if changes is not None and not faiss_vectors.merge_due(base["count"], changes):
                return previous["vectors"], base
            folded = None if changes is None else sqlite_vectors.folded_base(db, self.files.path, previous)
        index = folded if folded is not None else faiss_vectors.build_from_database(db)
        vectors_file = faiss_vectors.vector_file_name(generation)
        faiss_vectors.write(index, self.files.path / vectors_file)
        db.execute("DELETE FROM removed_vectors")  # the new file holds none of them
        last_id = db.execute("SELECT coalesce(max(id), 0) FROM chunks").fetchone()[0]
        return vectors_file, {"generation": generation, "count": index.ntotal, "last_id": last_id}

    def _counted(self, db: sqlite3.Connection, previous: dict[str, Any] | None) -> dict[str, int]:
        """The documents and passages of the new generation: the previous counts and this session's
        changes, counted afresh only without previous ones (a first commit, a rebuild)."""
        if previous is None or not {"documents", "passages"} <= previous.keys():
            return {
                "documents": db.execute("SELECT count(*) FROM documents").fetchone()[0],
                "passages": db.execute("SELECT count(*) FROM chunks").fetchone()[0],
            }
        return {key: previous[key] + self._counts[key] for key in ("documents", "passages")}

    def _close_connection(self) -> None:
        """Roll back whatever was not committed, and close the session's connection."""
        db, self._db = self._db, None
        if db is not None:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # closing the connection rolls back too
                    db.execute("ROLLBACK")
            db.close()

    def _finish(self) -> None:
        """Close the connection, rolling back what was not committed, and release the lock."""
        try:
            self._close_connection()
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None


def _stored_manifest(db: sqlite3.Connection) -> dict[str, Any] | None:
    """The committed manifest, or None for none, or for one damaged past reading (rebuilt in place)."""
    try:
        manifest = json.loads(meta_value(db, "manifest") or "null")
    except ValueError:
        return None
    return manifest if isinstance(manifest, dict) else None


def _stored_dimension(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT length(embedding) / 4 FROM chunks WHERE embedding IS NOT NULL LIMIT 1").fetchone()
    return row[0] if row else 0


def _stored_generation(db: sqlite3.Connection) -> int:
    """The committed generation; 0 for none, or for a value damaged past reading (a rebuild repairs it)."""
    try:
        return max(0, int(meta_value(db, "generation") or 0))
    except ValueError:
        return 0
