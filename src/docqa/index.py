"""The persisted index: chunks with BM25 search (SQLite FTS5) and their vectors (FAISS).

Layout of the index folder:

- ``index.sqlite``: documents, chunks, the FTS5 table, chunk embeddings and the manifest. Every
  update is one SQLite transaction, so an interrupted run leaves the previous index intact; the
  documents are chunked, embedded and written in batches inside it, so memory stays bounded.
- ``vectors-<generation>.faiss``: the FAISS index of the committed generation, written before
  the commit. It is a cache: when it is missing or unreadable it is rebuilt from the embeddings.
- ``manifest.json``: a copy of the manifest for people and tools; the database holds the truth, and
  the copy is rewritten by the next indexing run when it is missing or stale.
- ``index.lock``: taken while updating, so two indexing runs never interleave.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from filelock import FileLock, Timeout

from docqa.chunking import chunk_document
from docqa.embedding import Embedder
from docqa.errors import DocqaError, IndexLoadError
from docqa.schema import Chunk, Document, IndexReport, RetrievedPassage

FORMAT_VERSION = 1
DB_FILE = "index.sqlite"
MANIFEST_FILE = "manifest.json"
LOCK_FILE = "index.lock"
HNSW_MIN_VECTORS = 50_000  # below this, exact search is fast enough and needs no tuning
WRITE_BATCH = 512  # passages chunked, embedded and written at a time
READ_BATCH = 2048  # stored embeddings read at a time to build the FAISS index
MAX_QUERY_TERMS = 200  # BM25 time grows with the terms; a longer query keeps its first ones

Progress = Callable[[float, str], None]
log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    source TEXT PRIMARY KEY, title TEXT NOT NULL, date TEXT, content_hash TEXT NOT NULL, text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL REFERENCES documents(source) ON DELETE CASCADE,
    position INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
    text TEXT NOT NULL, embedding BLOB
);
CREATE INDEX IF NOT EXISTS chunks_by_source ON chunks(source);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, content='chunks', content_rowid='id', tokenize='porter unicode61'
);
CREATE TRIGGER IF NOT EXISTS chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_fts_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
"""

# Words too common to help BM25; dropping them keeps queries fast on large indexes.
_STOP_WORDS = frozenset(
    """a an and are as at be by did do does for from had has have how in is it its of on or that the
    their there this to was were what when where which who whom whose why will with""".split()
)
_SEPARATOR_CATEGORIES = ("P", "Z", "S", "Cc", "Cf", "Cs")
_VECTOR_FILES = re.compile(r"\.?vectors-\d+\.faiss(\.tmp)?")


@dataclass(frozen=True)
class IndexSettings:
    """What the stored chunks and vectors depend on; a change means a full rebuild."""

    embedding_model: str  # "none" when the index holds no vectors
    chunk_tokens: int
    chunk_overlap: int
    format_version: int = FORMAT_VERSION


@dataclass(frozen=True)
class DocumentInfo:
    source: str
    title: str
    date: str | None
    passages: int


def fts_query(text: str) -> str:
    """An FTS5 query matching any of the words of ``text`` (each quoted, so no syntax leaks in).

    Words are cut at punctuation, symbols, spaces and control characters, so quotes, operators and
    lone surrogates never reach FTS5; FTS5 splits each quoted word the way it split the indexed text.
    """
    # FTS5 folds case by Unicode 6.1, which lacks the newer case pairs Python knows: only ASCII words
    # are lowered, to be compared with the stop words.
    words = [word.lower() if word.isascii() else word for word in _query_words(text)]
    kept = [word for word in words if word not in _STOP_WORDS] or words
    return " OR ".join(f'"{word}"' for word in list(dict.fromkeys(kept))[:MAX_QUERY_TERMS])


def _query_words(text: str) -> list[str]:
    words: list[str] = []
    current: list[str] = []
    for char in [*text, " "]:
        if not _separates_words(char):
            current.append(char)
        elif current:
            words.append("".join(current))
            current = []
    return words


def _separates_words(char: str) -> bool:
    """Whether FTS5's ``unicode61`` tokenizer surely ends a token at ``char``.

    It classifies characters by Unicode 6.1 and keeps characters it does not know inside tokens. A
    character that Unicode 3.2 (shipped with Python) already called punctuation, a symbol, a space or
    a control, and that is not a letter, digit or mark today, is a separator for it too. Keeping any
    other character inside a quoted word is harmless: FTS5 splits the word there as it split the text.
    """
    if not unicodedata.ucd_3_2_0.category(char).startswith(_SEPARATOR_CATEGORIES):
        return False
    return not unicodedata.category(char).startswith(("L", "N", "M"))


class Index:
    """Index, search, save and load the passages of a corpus, in one folder."""

    def __init__(self, folder: str | Path, *, lock_timeout: float = 600.0) -> None:
        self.folder = Path(folder)
        self.lock_timeout = lock_timeout
        self._local = threading.local()  # one read connection per thread
        self._database_number = 0  # counts database files set aside, so that every thread reconnects
        self._vectors: faiss.Index | None = None
        self._vectors_key = (-1, -1)  # (database number, generation) of the loaded vectors
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
        if not self.db_path.exists():
            return None
        try:
            row = self._reader().execute("SELECT value FROM meta WHERE key = 'manifest'").fetchone()
        except sqlite3.DatabaseError as error:
            if "no such table" in str(error):  # created but never committed to
                return None
            raise _database_problem(self.folder, error) from error
        return _checked_manifest(self.folder, row[0]) if row else None

    def settings(self) -> IndexSettings | None:
        manifest = self.manifest()
        if manifest is None:
            return None
        return IndexSettings(
            embedding_model=manifest["embedding_model"],
            chunk_tokens=manifest["chunking"]["chunk_tokens"],
            chunk_overlap=manifest["chunking"]["chunk_overlap"],
            format_version=manifest["format_version"],
        )

    def has_vectors(self) -> bool:
        manifest = self.manifest()
        return bool(manifest and manifest["embedding_model"] != "none" and manifest["vectors"])

    def count_passages(self) -> int:
        if not self.exists():
            return 0
        return self._rows("SELECT count(*) FROM chunks")[0][0]

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
        if self.exists() and _storable(source):
            rows = self._rows("SELECT text FROM documents WHERE source = ?", (source,))
        if not rows:
            raise DocqaError(f"no document {source!r} in the index")
        return rows[0][0]

    # ----- search ------------------------------------------------------------------------

    def search_bm25(self, query: str, k: int) -> list[tuple[int, float]]:
        """Chunk ids and BM25 scores (higher is better), best first."""
        match = fts_query(query)
        if not match or not self.exists():
            return []
        rows = self._rows(
            "SELECT rowid, bm25(chunks_fts) AS rank FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?",
            (match, k),
        )
        return [(row_id, -rank) for row_id, rank in rows]

    def search_dense(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Chunk ids and cosine similarities, best first."""
        vectors = self._current_vectors()
        if vectors is None or vectors.ntotal == 0:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        if query.shape[1] != vectors.d:
            raise IndexLoadError(
                f"the index in {self.folder} holds {vectors.d}-dimensional vectors, but the query vector has "
                f"{query.shape[1]} dimensions: search it with the embedding model it was built with, or "
                "re-index with 'docqa index --rebuild'"
            )
        # One query gains nothing from FAISS's thread pool, and waiting for its threads, which
        # share the cores with the models' threads, took up to 20 times as long as the search.
        # The setting belongs to the calling thread, and is put back for whatever it does next.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, ids = vectors.search(query, k)
        finally:
            faiss.omp_set_num_threads(threads)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def passages(self, scored: Sequence[tuple[int, float, int | None, int | None]]) -> list[RetrievedPassage]:
        """Build passages for (chunk id, score, bm25 rank, dense rank) rows, keeping their order.

        Ids no longer in the index (removed by an update since the search) are left out.
        """
        if not scored or not self.exists():
            return []
        ids = [row[0] for row in scored]
        rows = self._rows(
            "SELECT c.id, c.source, c.position, c.start, c.end, c.text, d.title, d.date "
            f"FROM chunks c JOIN documents d ON d.source = c.source WHERE c.id IN ({','.join('?' * len(ids))})",
            ids,
        )
        found = {row[0]: row for row in rows}
        passages = []
        for chunk_id, score, bm25_rank, dense_rank in scored:
            if chunk_id not in found:
                continue
            _, source, position, start, end, text, title, date = found[chunk_id]
            chunk = Chunk(source=source, index=position, text=text, start=start, end=end, id=chunk_id)
            passages.append(RetrievedPassage(chunk, score, title, date, bm25_rank, dense_rank))
        return passages

    # ----- update ------------------------------------------------------------------------

    def update(
        self,
        documents: Sequence[Document],
        settings: IndexSettings,
        *,
        embedder: Embedder | None = None,
        skipped: dict[str, str] | None = None,
        rebuild: bool = False,
        progress: Progress | None = None,
    ) -> IndexReport:
        """Make the index hold exactly ``documents``, embedding only what is new or changed.

        A rebuild first sets a damaged database (or one in a newer format) aside. Other runs on the
        same folder wait for this one; this one waits up to ``lock_timeout`` seconds for them.
        """
        if (settings.embedding_model == "none") != (embedder is None):
            raise ValueError("settings.embedding_model must name the embedder, or be 'none' without one")
        report = _progress_reporter(progress)
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._write_lock():
            if rebuild:
                self._set_aside_if_unusable()
            rebuild = rebuild or self.settings() != settings
            try:
                with contextlib.closing(self._connect()) as db:
                    db.executescript(_SCHEMA)
                    stored = {} if rebuild else self._stored_hashes(db)
                    current = {doc.source: doc for doc in documents}
                    added = sorted(s for s in current if s not in stored)
                    updated = sorted(s for s in current if s in stored and stored[s] != current[s].content_hash)
                    removed = sorted(s for s in stored if s not in current)
                    unchanged = sorted(s for s in current if stored.get(s) == current[s].content_hash)
                    changed = [current[s] for s in sorted(added + updated)]
                    if rebuild or changed or removed:
                        count = self._write(
                            db, settings, changed, embedder, report, drop_all=rebuild, drop=sorted(updated + removed)
                        )
                    else:
                        count = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
            except sqlite3.DatabaseError as error:
                raise _database_problem(self.folder, error, "updated") from error
            self._tidy()
        if not (rebuild or changed or removed):
            report(1.0, "index is up to date")
            return IndexReport(unchanged=unchanged, skipped=dict(skipped or {}), chunks=count)
        report(1.0, f"indexed {len(changed)} documents, {count} passages in all")
        return IndexReport(
            added=added,
            updated=updated,
            removed=removed,
            unchanged=unchanged,
            skipped=dict(skipped or {}),
            chunks=count,
            rebuilt=rebuild,
        )

    def _write(
        self,
        db: sqlite3.Connection,
        settings: IndexSettings,
        documents: Sequence[Document],
        embedder: Embedder | None,
        report: Progress,
        *,
        drop_all: bool,
        drop: Sequence[str],
    ) -> int:
        """One transaction: drop old rows; chunk, embed and insert ``documents`` a batch at a time;
        write the vectors and the manifest."""
        db.execute("BEGIN IMMEDIATE")
        try:
            if drop_all:
                db.execute("DELETE FROM chunks")
                db.execute("DELETE FROM documents")
            else:
                db.executemany("DELETE FROM documents WHERE source = ?", [(s,) for s in drop])
            total_chars = max(sum(len(d.text) for d in documents), 1)
            done_chars = done = 0
            report(0.0, f"indexing {len(documents)} documents")
            for batch, chunks in _batches(documents, settings):
                _insert(db, batch, chunks, embedder)
                done += len(batch)
                done_chars += sum(len(d.text) for d in batch)
                report(0.9 * done_chars / total_chars, f"indexed {done}/{len(documents)} documents")
            report(0.9, "writing the index")
            generation = int(_meta(db, "generation") or 0) + 1
            vectors_file = ""
            if settings.embedding_model != "none":
                vectors_file = f"vectors-{generation}.faiss"
                _write_faiss(_build_faiss(db), self.folder / vectors_file)
            manifest = _manifest(db, settings, generation, vectors_file)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('manifest', ?)", (json.dumps(manifest),))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", (str(generation),))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLite has already rolled back after some errors
                db.execute("ROLLBACK")
            raise
        return manifest["passages"]

    def _tidy(self) -> None:
        """Mirror the manifest to JSON, with each file's content hash, when the copy is missing or
        stale; remove vector files of other generations and files left by an interrupted run."""
        manifest = self.manifest()
        if manifest is None:
            return
        mirror = self.folder / MANIFEST_FILE
        if not _mirrors(mirror, manifest):
            files = dict(self._rows("SELECT source, content_hash FROM documents ORDER BY source"))
            temporary = self.folder / f".{MANIFEST_FILE}.tmp"
            temporary.write_text(json.dumps({**manifest, "files": files}, indent=2) + "\n", encoding="utf-8")
            os.replace(temporary, mirror)
        for path in self.folder.iterdir():
            if _VECTOR_FILES.fullmatch(path.name) and path.name != manifest["vectors"]:
                path.unlink(missing_ok=True)

    def close(self) -> None:
        """Close this thread's database connection (other threads' close when they end)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # ----- plumbing ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
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
        try:
            yield
        finally:
            lock.release()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.db_path, timeout=60, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode = WAL")  # readers keep reading while an update is written
        db.execute("PRAGMA foreign_keys = ON")
        return db

    def _reader(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is not None and self._local.database_number != self._database_number:
            db.close()  # it still reads a database file that was set aside
            db = None
        if db is None:
            db = self._local.db = self._connect()
            self._local.database_number = self._database_number
        return db

    def _rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """The rows of a read query; a database error becomes an ``IndexLoadError`` that says what to do."""
        try:
            return self._reader().execute(sql, parameters).fetchall()
        except sqlite3.DatabaseError as error:
            raise _database_problem(self.folder, error) from error

    def _stored_hashes(self, db: sqlite3.Connection) -> dict[str, str]:
        return dict(db.execute("SELECT source, content_hash FROM documents"))

    def _set_aside_if_unusable(self) -> None:
        """Before a rebuild, move a damaged database, or one in a newer format, out of the way."""
        if not self.db_path.exists():
            return
        problem = self._problem_to_set_aside()
        if problem is None:
            return
        label, reason = problem
        aside = self.db_path.with_name(f"{DB_FILE}.{label}-{int(time.time())}")
        log.warning("%s; moved it to %s and rebuilding", reason, aside)
        self.close()
        self._database_number += 1
        for suffix in ("-wal", "-shm"):
            Path(f"{self.db_path}{suffix}").unlink(missing_ok=True)
        os.replace(self.db_path, aside)

    def _problem_to_set_aside(self) -> tuple[str, str] | None:
        """(file label, reason) when the database cannot be rebuilt in place, else None."""
        try:
            with contextlib.closing(sqlite3.connect(self.db_path)) as db:
                _check_integrity(db)
                manifest_row = db.execute("SELECT value FROM meta WHERE key = 'manifest'").fetchone()
        except sqlite3.DatabaseError as error:
            if "no such table" in str(error):
                return None
            return "damaged", f"the index database is damaged ({error})"
        try:
            if manifest_row:
                _checked_manifest(self.folder, manifest_row[0])
        except NewerIndexFormat as error:
            return f"format-{error.version}", str(error)
        except IndexLoadError as error:
            return "damaged", str(error)
        return None

    def _current_vectors(self) -> faiss.Index | None:
        generation_rows = self._rows("SELECT value FROM meta WHERE key = 'generation'")
        key = (self._database_number, int(generation_rows[0][0]) if generation_rows else 0)
        with self._vectors_lock:
            if key != self._vectors_key:
                self._vectors = self._load_vectors()
                self._vectors_key = key
            return self._vectors

    def _load_vectors(self) -> faiss.Index | None:
        manifest = self.manifest()
        if not manifest or not manifest["vectors"]:
            return None
        path = self.folder / manifest["vectors"]
        try:
            vectors = faiss.read_index(str(path))
            if vectors.ntotal == manifest["vectors_count"] and vectors.d == manifest["embedding_dimension"]:
                return _tune(vectors)
            reason = "it does not match the database"
        except RuntimeError as error:
            reason = str(error).splitlines()[0] if path.exists() else "it is missing"
        log.warning("rebuilding %s from the stored embeddings: %s", path.name, reason)
        try:
            vectors = _build_faiss(self._reader())
        except sqlite3.DatabaseError as error:
            raise _database_problem(self.folder, error) from error
        with contextlib.suppress(OSError):
            _write_faiss(vectors, path)
        return vectors


class NewerIndexFormat(IndexLoadError):
    """The index was written by a newer version, in a format this one cannot read."""

    def __init__(self, folder: Path, version: int) -> None:
        self.version = version
        super().__init__(
            f"the index in {folder} was written by a newer version of docqa (index format {version}; this "
            f"version reads format {FORMAT_VERSION}): upgrade docqa, or rebuild the index with "
            "'docqa index --rebuild', which sets the newer one aside"
        )


_MANIFEST_KEYS = ("embedding_model", "embedding_dimension", "generation", "vectors", "vectors_count", "passages")


def _checked_manifest(folder: Path, value: str) -> dict[str, Any]:
    """The parsed manifest; raises ``IndexLoadError`` when it is damaged or of a newer format."""
    try:
        manifest = json.loads(value)
    except ValueError as error:
        raise _damaged_manifest(folder, str(error)) from error
    if not isinstance(manifest, dict) or not isinstance(manifest.get("format_version"), int):
        raise _damaged_manifest(folder, "it has no format version")
    if manifest["format_version"] > FORMAT_VERSION:
        raise NewerIndexFormat(folder, manifest["format_version"])
    chunking = manifest.get("chunking")
    missing = [key for key in _MANIFEST_KEYS if key not in manifest]
    if not isinstance(chunking, dict) or not {"chunk_tokens", "chunk_overlap"} <= chunking.keys():
        missing.append("chunking")
    if missing:
        raise _damaged_manifest(folder, f"it lacks {', '.join(missing)}")
    return manifest


def _damaged_manifest(folder: Path, reason: str) -> IndexLoadError:
    return IndexLoadError(
        f"the manifest of the index in {folder} is damaged ({reason}); rebuild it with 'docqa index --rebuild'"
    )


def _database_problem(folder: Path, error: sqlite3.Error, action: str = "read") -> IndexLoadError:
    """An error for a failed database call that says what to do about it."""
    code = getattr(error, "sqlite_errorname", None) or ""
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        fix = "another program is using it; try again in a moment"
    elif code.startswith("SQLITE_FULL"):
        fix = "free some disk space and try again"
    elif code.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
        fix = f"check that {folder} can be read and written"
    else:
        fix = "rebuild it with 'docqa index --rebuild'"
    return IndexLoadError(f"the index in {folder} cannot be {action} ({error}); {fix}")


def _check_integrity(db: sqlite3.Connection) -> None:
    """Raise ``sqlite3.DatabaseError`` when the pages or the FTS5 index of ``db`` are damaged."""
    result = db.execute("PRAGMA quick_check").fetchone()[0]
    if result != "ok":
        raise sqlite3.DatabaseError(result)
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'chunks_fts'").fetchone():
        db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")


def _storable(text: str) -> bool:
    """Whether SQLite can take ``text``: lone surrogates have no UTF-8 form."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _mirrors(path: Path, manifest: dict[str, Any]) -> bool:
    """Whether the JSON file at ``path`` is a complete copy of ``manifest``."""
    try:
        mirrored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(mirrored, dict) or mirrored.pop("files", None) is None:
        return False
    return mirrored == manifest


def _progress_reporter(progress: Progress | None) -> Progress:
    return progress or (lambda fraction, description: None)


def _batches(documents: Sequence[Document], settings: IndexSettings) -> Iterator[tuple[list[Document], list[Chunk]]]:
    """Consecutive documents with their chunks, about ``WRITE_BATCH`` chunks at a time."""
    batch: list[Document] = []
    chunks: list[Chunk] = []
    for document in documents:
        batch.append(document)
        chunks += chunk_document(document, max_tokens=settings.chunk_tokens, overlap_sentences=settings.chunk_overlap)
        if len(chunks) >= WRITE_BATCH:
            yield batch, chunks
            batch, chunks = [], []
    if batch:
        yield batch, chunks


def _insert(
    db: sqlite3.Connection, documents: Sequence[Document], chunks: Sequence[Chunk], embedder: Embedder | None
) -> None:
    db.executemany(
        "INSERT INTO documents (source, title, date, content_hash, text) VALUES (?, ?, ?, ?, ?)",
        [(d.source, d.title, d.date, d.content_hash, d.text) for d in documents],
    )
    blobs: list[bytes | None] = [None] * len(chunks)
    if embedder is not None:
        blobs = []
        for start in range(0, len(chunks), WRITE_BATCH):
            vectors = embedder.encode([c.text for c in chunks[start : start + WRITE_BATCH]])
            blobs += [row.tobytes() for row in vectors]
    db.executemany(
        "INSERT INTO chunks (source, position, start, end, text, embedding) VALUES (?, ?, ?, ?, ?, ?)",
        [(c.source, c.index, c.start, c.end, c.text, blob) for c, blob in zip(chunks, blobs, strict=True)],
    )


def _meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _build_faiss(db: sqlite3.Connection) -> faiss.Index:
    """A FAISS index of every stored embedding, keyed by chunk id, read a batch at a time."""
    count, dimension = db.execute(
        "SELECT count(*), max(length(embedding)) / 4 FROM chunks WHERE embedding IS NOT NULL"
    ).fetchone()
    index = _empty_vector_index(dimension or 1, count)
    rows = db.execute("SELECT id, embedding FROM chunks WHERE embedding IS NOT NULL ORDER BY id")
    while batch := rows.fetchmany(READ_BATCH):
        ids = np.fromiter((row[0] for row in batch), dtype=np.int64, count=len(batch))
        vectors = np.frombuffer(b"".join(row[1] for row in batch), dtype=np.float32).reshape(len(batch), -1)
        index.add_with_ids(vectors, ids)
    return _tune(index)


def build_vector_index(vectors: np.ndarray, ids: np.ndarray) -> faiss.Index:
    """Exact inner-product search for small collections, HNSW graphs for large ones."""
    index = _empty_vector_index(vectors.shape[1], len(vectors))
    index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
    return _tune(index)


def _empty_vector_index(dimension: int, size: int) -> faiss.Index:
    if size >= HNSW_MIN_VECTORS:
        inner = faiss.IndexHNSWFlat(dimension, 32, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = 80
    else:
        inner = faiss.IndexFlatIP(dimension)
    return faiss.IndexIDMap2(inner)


def _tune(index: faiss.Index) -> faiss.Index:
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    if isinstance(inner, faiss.IndexHNSWFlat):
        inner.hnsw.efSearch = 128  # recall close to exact search at a fraction of its cost
    return index


def _write_faiss(index: faiss.Index, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    faiss.write_index(index, str(temporary))
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _manifest(db: sqlite3.Connection, settings: IndexSettings, generation: int, vectors: str) -> dict[str, Any]:
    from docqa import __version__

    dimension_row = db.execute("SELECT length(embedding) / 4 FROM chunks WHERE embedding IS NOT NULL LIMIT 1")
    dimension = (dimension_row.fetchone() or (0,))[0]
    setting_values = asdict(settings)
    return {
        "format_version": settings.format_version,
        "docqa_version": __version__,
        "embedding_model": settings.embedding_model,
        "embedding_dimension": dimension,
        "chunking": {k: setting_values[k] for k in ("chunk_tokens", "chunk_overlap")},
        "generation": generation,
        "vectors": vectors,
        "vectors_count": db.execute("SELECT count(*) FROM chunks WHERE embedding IS NOT NULL").fetchone()[0],
        "passages": db.execute("SELECT count(*) FROM chunks").fetchone()[0],
        "documents": db.execute("SELECT count(*) FROM documents").fetchone()[0],
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
