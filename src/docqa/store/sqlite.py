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

import json
import sqlite3
import threading
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from docqa.config import NO_MODEL
from docqa.errors import DocqaError, IndexLoadError
from docqa.schema import Chunk, RetrievedPassage
from docqa.store import sqlite_bm25, sqlite_vectors
from docqa.store.base import DocumentInfo, IndexSettings, ScoredRow
from docqa.store.manifest import checked_manifest, settings_of
from docqa.store.sqlite_folder import DB_FILE, LOCK_FILE, SQLiteFolder
from docqa.store.sqlite_schema import database_problem, fts_query, meta_value, storable, stored_locations
from docqa.store.sqlite_writer import SQLiteWriter

__all__ = ["DB_FILE", "LOCK_FILE", "SQLiteStore"]
_SOURCE_IN = "source IN (SELECT value FROM json_each(?))"  # one parameter, however many sources


def _source_list(sources: Collection[str]) -> str:
    return json.dumps(sorted(sources))


class SQLiteStore:
    """Search, list and write the passages kept in one folder; see the module notes for its layout.

    Reads may come from any number of threads (each gets its own connection) while one write
    session runs: they see the previous generation until it commits. A connection that was opened on
    a database file since replaced (the folder deleted and rebuilt, or the file set aside by a rebuild
    in another process) is opened anew on the current file before its next read.
    """

    def __init__(self, folder: str | Path, *, lock_timeout: float = 600.0) -> None:
        self.files = SQLiteFolder(folder, lock_timeout=lock_timeout)  # shared with the write sessions
        self.folder = self.files.path
        self._vectors: sqlite_vectors.LiveVectors | None = None
        self._vectors_key: tuple[Any, ...] = (None, None)  # (file, database id, generation) of the vectors held
        self._vectors_lock = threading.Lock()

    # ----- state -------------------------------------------------------------------------

    @property
    def db_path(self) -> Path:
        return self.files.db_path

    @property
    def lock_timeout(self) -> float:
        """How long a write session waits for another one, in seconds."""
        return self.files.lock_timeout

    def exists(self) -> bool:
        return self.manifest() is not None

    def manifest(self) -> dict[str, Any] | None:
        """The stored manifest, or None for a folder without an index; read once per commit.

        Raises ``IndexLoadError`` for a damaged database or manifest, and for an index written in a
        newer format than this version reads.
        """
        return self.files.manifest()

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
        return manifest.get("documents", None) or self.files.rows("SELECT count(*) FROM documents")[0][0]

    def stored_hashes(self) -> dict[str, str]:
        if not self.exists():
            return {}
        return dict(self.files.rows("SELECT source, content_hash FROM documents ORDER BY source"))

    def documents(self) -> list[DocumentInfo]:
        if not self.exists():
            return []
        rows = self.files.rows(
            "SELECT d.source, d.title, d.date, count(c.id) FROM documents d "
            "LEFT JOIN chunks c ON c.source = d.source GROUP BY d.source ORDER BY d.source"
        )
        return [DocumentInfo(*row) for row in rows]

    def document_text(self, source: str, limit: int | None = None) -> str:
        rows = []
        if self.exists() and storable(source):
            text = "text" if limit is None else f"substr(text, 1, {int(limit)})"
            rows = self.files.rows(f"SELECT {text} FROM documents WHERE source = ?", (source,))
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
            rows = self.files.rows(
                "SELECT rowid, bm25(chunks_fts) AS rank FROM chunks_fts WHERE chunks_fts MATCH ? AND rowid IN "
                f"(SELECT id FROM chunks WHERE {_SOURCE_IN}) ORDER BY rank LIMIT ?",
                (match, _source_list(sources), k),
            )
        else:  # on large indexes only the passages that can rank are scored (see sqlite_bm25)
            rows = sqlite_bm25.top(self.files.rows, match.split(" OR "), k)
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
        rows = self.files.rows(
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
        committed = self.files.committed()
        if not rows or committed.manifest is None:
            return []
        # NULL locations in a database of format 1 (answered from until rebuilt).
        locations = "c.locations" if committed.locations else "NULL"
        ids = [row[0] for row in rows]
        found = {
            row[0]: row
            for row in self.files.rows(
                f"SELECT c.id, c.source, c.position, c.start, c.end, c.text, d.title, d.date, {locations} "
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

    # ----- writing -----------------------------------------------------------------------

    def writer(self, settings: IndexSettings, *, rebuild: bool = False) -> SQLiteWriter:
        """A write session (see ``SQLiteWriter``). A rebuild first sets a damaged database, or one in
        a newer format, aside. A session waits up to ``lock_timeout`` seconds for another one."""
        return SQLiteWriter(self.files, settings, rebuild=rebuild)

    def close(self) -> None:
        """Close this thread's database connection (other threads' close when they end)."""
        self.files.close()

    # ----- plumbing ----------------------------------------------------------------------

    def _current_vectors(self) -> sqlite_vectors.LiveVectors | None:
        """The vectors of the committed generation: those held, brought up to date with the commits
        since (see ``sqlite_vectors``), all read in one transaction."""
        file = self.files.database_file()
        committed = self.files.committed()
        if file is None or committed.manifest is None:
            return None
        # The database id tells apart two databases at one generation, in one file or not.
        key = (file, committed.database_id, committed.generation)
        with self._vectors_lock:
            if key != self._vectors_key:
                held = self._vectors if key[:2] == self._vectors_key[:2] else None
                self._vectors = self._updated_vectors(held, key, committed.manifest)
                self._vectors_key = key
            return self._vectors

    def _updated_vectors(
        self, held: sqlite_vectors.LiveVectors | None, key: tuple[Any, ...], manifest: dict[str, Any]
    ) -> sqlite_vectors.LiveVectors | None:
        """``held`` brought to the generation of ``key``, whose ``manifest`` is read again only when a
        commit came in between: the manifest and the rows applied must come from one snapshot."""
        db = self.files.reader()
        try:
            db.execute("BEGIN")
            try:
                current: dict[str, Any] | None = manifest
                if (meta_value(db, "database_id"), meta_value(db, "generation")) != key[1:]:
                    value = meta_value(db, "manifest")
                    current = checked_manifest(self.folder, value) if value else None
                return None if current is None else sqlite_vectors.current(db, self.folder, current, held)
            finally:
                db.execute("COMMIT")
        except sqlite3.DatabaseError as error:
            raise database_problem(self.folder, error) from error
