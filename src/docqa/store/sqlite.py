"""The passage store in one folder: SQLite with FTS5 for BM25, and FAISS for the vectors.

Layout of the folder:

- ``index.sqlite``: documents, chunks, the FTS5 table, chunk embeddings and the manifest. Every
  write session is one SQLite transaction, so an interrupted run leaves the previous index intact.
- ``vectors-<generation>.faiss``: the FAISS index of a base generation, written before the commit
  that names it; the commits since are applied from the database (``sqlite_vectors``). It is a
  cache: when it is missing or unreadable it is rebuilt from the embeddings.
- ``manifest.json``: a copy of the manifest for people and tools; the database holds the truth, and
  the copy is rewritten by the next write session when it is missing or stale.
- ``index.lock``: held by a write session (``sqlite_writer``), so two sessions never interleave.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from docqa.config import NO_MODEL
from docqa.errors import DocqaError, IndexLoadError
from docqa.schema import Chunk, RetrievedPassage
from docqa.store import faiss_vectors, sqlite_bm25, sqlite_vectors
from docqa.store.base import DocumentInfo, IndexSettings, ScoredRow
from docqa.store.manifest import (
    MANIFEST_FILE,
    NewerIndexFormat,
    checked_manifest,
    mirror,
    mirrors,
    settings_of,
)
from docqa.store.sqlite_schema import (
    connect,
    database_problem,
    file_problem,
    fts_query,
    is_damage,
    quick_check,
    storable,
    stored_locations,
)
from docqa.store.sqlite_writer import SQLiteWriter

DB_FILE = "index.sqlite"
LOCK_FILE = "index.lock"
_SOURCE_IN = "source IN (SELECT value FROM json_each(?))"  # one parameter, however many sources


def _source_list(sources: Collection[str]) -> str:
    return json.dumps(sorted(sources))


log = logging.getLogger(__name__)


class SQLiteStore:
    """Search, list and write the passages kept in one folder; see the module notes for its layout.

    Reads may come from any number of threads (each gets its own connection) while one write
    session runs: they see the previous generation until it commits. A connection that was opened on
    a database file since replaced (the folder deleted and rebuilt, or the file set aside by a rebuild
    in another process) is opened anew on the current file before its next read.
    """

    def __init__(self, folder: str | Path, *, lock_timeout: float = 600.0) -> None:
        self.folder = Path(folder)
        self.lock_timeout = lock_timeout  # how long a write session waits for another one
        self._local = threading.local()  # one read connection per thread, and the file it opened
        self._vectors: sqlite_vectors.LiveVectors | None = None
        self._vectors_key: tuple[Any, ...] = (None, None)  # (file, database id, generation) of the vectors held
        self._vectors_lock = threading.Lock()

    # ----- state -------------------------------------------------------------------------

    @property
    def db_path(self) -> Path:
        return self.folder / DB_FILE

    def exists(self) -> bool:
        return self.manifest() is not None

    def manifest(self) -> dict[str, Any] | None:
        """The stored manifest, or None for a folder without an index.

        Raises ``IndexLoadError`` for a damaged database or manifest, and for an index written in a
        newer format than this version reads.
        """
        if self._database_file() is None:
            return None
        try:
            row = self._reader().execute("SELECT value FROM meta WHERE key = 'manifest'").fetchone()
        except sqlite3.DatabaseError as error:
            if "no such table" in str(error):  # created but never committed to
                return None
            raise database_problem(self.folder, error) from error
        return checked_manifest(self.folder, row[0]) if row else None

    def settings(self) -> IndexSettings | None:
        manifest = self.manifest()
        return None if manifest is None else settings_of(manifest)

    def has_vectors(self) -> bool:
        manifest = self.manifest()
        return bool(manifest and manifest["embedding_model"] != NO_MODEL and manifest["vectors"])

    def count_passages(self) -> int:
        """The committed passages, as the manifest keeps them: no table is scanned."""
        manifest = self.manifest()
        return manifest["passages"] if manifest else 0

    def count_documents(self) -> int:
        manifest = self.manifest()
        if manifest is None:
            return 0
        return manifest.get("documents", None) or self._rows("SELECT count(*) FROM documents")[0][0]

    def stored_hashes(self) -> dict[str, str]:
        if not self.exists():
            return {}
        return dict(self._rows("SELECT source, content_hash FROM documents ORDER BY source"))

    def documents(self) -> list[DocumentInfo]:
        if not self.exists():
            return []
        rows = self._rows(
            "SELECT d.source, d.title, d.date, count(c.id) FROM documents d "
            "LEFT JOIN chunks c ON c.source = d.source GROUP BY d.source ORDER BY d.source"
        )
        return [DocumentInfo(*row) for row in rows]

    def document_text(self, source: str) -> str:
        rows = []
        if self.exists() and storable(source):
            rows = self._rows("SELECT text FROM documents WHERE source = ?", (source,))
        if not rows:
            raise DocqaError(f"no document {source!r} in the index")
        return rows[0][0]

    # ----- search ------------------------------------------------------------------------

    def search_bm25(self, query: str, k: int, sources: Collection[str] | None = None) -> list[tuple[int, float]]:
        """Chunk ids and BM25 scores (higher is better), best first; only of ``sources`` when given."""
        match = fts_query(query)
        if not match or not self.exists() or (sources is not None and not sources):
            return []
        if sources is not None:  # the chosen documents' passages are few enough to rank them all
            rows = self._rows(
                "SELECT rowid, bm25(chunks_fts) AS rank FROM chunks_fts WHERE chunks_fts MATCH ? AND rowid IN "
                f"(SELECT id FROM chunks WHERE {_SOURCE_IN}) ORDER BY rank LIMIT ?",
                (match, _source_list(sources), k),
            )
        else:  # on large indexes only the passages that can rank are scored (see sqlite_bm25)
            rows = sqlite_bm25.top(self._rows, match.split(" OR "), k)
        return [(row_id, -rank) for row_id, rank in rows]

    def search_dense(
        self, vector: np.ndarray, k: int, sources: Collection[str] | None = None
    ) -> list[tuple[int, float]]:
        """Chunk ids and cosine similarities, best first; only of ``sources`` when given."""
        vectors = self._current_vectors()
        if vectors is None or vectors.count == 0 or (sources is not None and not sources):
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        if query.shape[1] != vectors.dimension:
            raise IndexLoadError(
                f"the index in {self.folder} holds {vectors.dimension}-dimensional vectors, but the query vector has "
                f"{query.shape[1]} dimensions: search it with the embedding model it was built with, or "
                "re-index with 'docqa index --rebuild'"
            )
        if sources is not None:
            return self._search_stored_vectors(query[0], k, sources)
        return vectors.search(query, k)

    def _search_stored_vectors(self, query: np.ndarray, k: int, sources: Collection[str]) -> list[tuple[int, float]]:
        """Exact search over the stored vectors of ``sources`` only (FAISS cannot be asked for the best of a subset)."""
        rows = self._rows(
            f"SELECT id, embedding FROM chunks WHERE embedding IS NOT NULL AND {_SOURCE_IN}", (_source_list(sources),)
        )
        if not rows:
            return []
        ids = [row[0] for row in rows]
        matrix = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32).reshape(len(rows), -1)
        scores = matrix @ query
        best = np.argsort(-scores, kind="stable")[:k]
        return [(int(ids[i]), float(scores[i])) for i in best]

    def passages(self, rows: Sequence[ScoredRow]) -> list[RetrievedPassage]:
        """Build passages for (chunk id, score, bm25 rank, dense rank) rows, keeping their order.

        Ids no longer in the index (removed by an update since the search) are left out.
        """
        if not rows or not self.exists():
            return []
        ids = [row[0] for row in rows]
        found = {
            row[0]: row
            for row in self._rows(
                f"SELECT c.id, c.source, c.position, c.start, c.end, c.text, d.title, d.date, {self._locations()} "
                f"FROM chunks c JOIN documents d ON d.source = c.source WHERE c.id IN ({','.join('?' * len(ids))})",
                ids,
            )
        }
        passages = []
        for chunk_id, score, bm25_rank, dense_rank in rows:
            if chunk_id not in found:
                continue
            _, source, position, start, end, text, title, date, locations = found[chunk_id]
            chunk = Chunk(source, position, text, start, end, chunk_id, stored_locations(locations))
            passages.append(RetrievedPassage(chunk, score, title, date, bm25_rank, dense_rank))
        return passages

    def _locations(self) -> str:
        """The column of passage locations; NULL in a database of format 1 (answered from until rebuilt)."""
        columns = self._rows("SELECT name FROM pragma_table_info('chunks')")
        return "c.locations" if ("locations",) in columns else "NULL"

    # ----- writing -----------------------------------------------------------------------

    def writer(self, settings: IndexSettings, *, rebuild: bool = False) -> SQLiteWriter:
        """A write session (see ``SQLiteWriter``). A rebuild first sets a damaged database, or one in
        a newer format, aside. A session waits up to ``lock_timeout`` seconds for another one."""
        return SQLiteWriter(self, settings, rebuild=rebuild)

    def close(self) -> None:
        """Close this thread's database connection (other threads' close when they end)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # ----- plumbing ----------------------------------------------------------------------

    def _lock(self) -> FileLock:
        """The folder's write lock, held; raises ``DocqaError`` after ``lock_timeout`` seconds."""
        lock = FileLock(self.folder / LOCK_FILE, timeout=self.lock_timeout)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log.warning("another indexing run is updating %s; waiting for it to finish", self.folder)
            try:
                lock.acquire()
            except Timeout as error:
                raise DocqaError(
                    f"another indexing run has held {self.folder / LOCK_FILE} for over "
                    f"{self.lock_timeout:g} s; try again when it has finished"
                ) from error
        return lock

    def _database_file(self) -> tuple[int, int] | None:
        """The (device, inode) of the database file, None when there is none: a file replaced since a
        connection opened it has another inode (the open file keeps its own, so none is reused)."""
        try:
            status = os.stat(self.db_path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as error:
            raise file_problem(self.folder, error) from error
        return status.st_dev, status.st_ino

    def _reader(self) -> sqlite3.Connection:
        current = self._database_file()  # looked up before connecting: a file replaced meanwhile is seen next time
        db = getattr(self._local, "db", None)
        if db is not None and self._local.file != current:
            db.close()  # it still reads a database file that was deleted, replaced or set aside
            db = None
        if db is None:
            db = self._local.db = connect(self.db_path)
            self._local.file = current
        return db

    def _rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """The rows of a read query; a database error becomes an ``IndexLoadError`` that says what to do."""
        try:
            return self._reader().execute(sql, parameters).fetchall()
        except sqlite3.DatabaseError as error:
            raise database_problem(self.folder, error) from error

    def _tidy(self) -> None:
        """Mirror the manifest to JSON, with each file's content hash, when the copy is missing or
        stale; remove vector files of other generations and files left by an interrupted run."""
        manifest = self.manifest()
        if manifest is None:
            return
        try:
            if not mirrors(self.folder / MANIFEST_FILE, manifest):
                mirror(self.folder, manifest, self.stored_hashes())
            for path in self.folder.iterdir():
                if faiss_vectors.VECTOR_FILES.fullmatch(path.name) and path.name != manifest["vectors"]:
                    path.unlink(missing_ok=True)
        except OSError as error:  # the update is committed; only its tidying is left for the next one
            log.warning("%s", file_problem(self.folder, error, "tidied"))

    def _set_aside_if_unusable(self) -> None:
        """Before a rebuild, move a damaged database, or one in a newer format, out of the way."""
        if self._database_file() is None:
            return
        problem = self._problem_to_set_aside()
        if problem is not None:
            self._set_aside(*problem)

    def _set_aside(self, label: str, reason: str) -> None:
        """Move the database file to ``index.sqlite.<label>-<time>``, for a rebuild to start anew."""
        aside = self.db_path.with_name(f"{DB_FILE}.{label}-{int(time.time())}")
        log.warning("%s; moved it to %s and rebuilding", reason, aside)
        self.close()  # every other thread reconnects on seeing another file
        try:
            for suffix in ("-wal", "-shm"):
                Path(f"{self.db_path}{suffix}").unlink(missing_ok=True)
            os.replace(self.db_path, aside)
        except OSError as error:
            raise file_problem(self.folder, error, "rebuilt") from error

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
            raise database_problem(self.folder, error, "checked") from error
        if found != "ok":
            return "damaged", f"the index database is damaged ({found})"
        if manifest_row:
            with contextlib.suppress(IndexLoadError):  # any other fault of the manifest is rebuilt in place
                try:
                    checked_manifest(self.folder, manifest_row[0])
                except NewerIndexFormat as error:
                    return f"format-{error.version}", str(error)
        return None

    def _current_vectors(self) -> sqlite_vectors.LiveVectors | None:
        """The vectors of the committed generation: those held, brought up to date with the commits
        since (see ``sqlite_vectors``), all read in one transaction."""
        file = self._database_file()
        if file is None:
            return None
        try:
            meta = dict(
                self._reader().execute("SELECT key, value FROM meta WHERE key IN ('generation', 'database_id')")
            )
        except sqlite3.DatabaseError as error:
            if "no such table" in str(error):  # created but never committed to
                return None
            raise database_problem(self.folder, error) from error
        # The database id tells apart two databases at one generation, in one file or not.
        key = (file, meta.get("database_id"), meta.get("generation"))
        with self._vectors_lock:
            if key != self._vectors_key:
                held = self._vectors if key[:2] == self._vectors_key[:2] else None
                self._vectors = self._updated_vectors(held)
                self._vectors_key = key
            return self._vectors

    def _updated_vectors(self, held: sqlite_vectors.LiveVectors | None) -> sqlite_vectors.LiveVectors | None:
        db = self._reader()
        try:
            db.execute("BEGIN")  # the manifest and the rows applied from one snapshot
            try:
                row = db.execute("SELECT value FROM meta WHERE key = 'manifest'").fetchone()
                manifest = checked_manifest(self.folder, row[0]) if row else None
                return None if manifest is None else sqlite_vectors.current(db, self.folder, manifest, held)
            finally:
                db.execute("COMMIT")
        except sqlite3.DatabaseError as error:
            raise database_problem(self.folder, error) from error
