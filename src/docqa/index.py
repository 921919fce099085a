"""The persisted index: chunks with BM25 search (SQLite FTS5) and their vectors (FAISS).

Layout of the index folder:

- ``index.sqlite``: documents, chunks, the FTS5 table, chunk embeddings and the manifest. Every
  update is one SQLite transaction, so an interrupted run leaves the previous index intact.
- ``vectors-<generation>.faiss``: the FAISS index of the committed generation, written before
  the commit. It is a cache: when it is missing or unreadable it is rebuilt from the embeddings.
- ``manifest.json``: a copy of the manifest for people and tools; the database holds the truth.
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
EMBED_BATCH = 256

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
_QUERY_WORD = re.compile(r"\w+")


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
    """An FTS5 query matching any of the words of ``text`` (each quoted, so no syntax leaks in)."""
    words = [w.lower() for w in _QUERY_WORD.findall(text)]
    kept = [w for w in words if w not in _STOP_WORDS] or words
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(kept))


class Index:
    """Index, search, save and load the passages of a corpus, in one folder."""

    def __init__(self, folder: str | Path, *, lock_timeout: float = 600.0) -> None:
        self.folder = Path(folder)
        self.lock_timeout = lock_timeout
        self._local = threading.local()  # one read connection per thread
        self._vectors: faiss.Index | None = None
        self._vectors_generation = -1
        self._vectors_lock = threading.Lock()

    # ----- state -------------------------------------------------------------------------

    @property
    def db_path(self) -> Path:
        return self.folder / DB_FILE

    def exists(self) -> bool:
        return self.manifest() is not None

    def manifest(self) -> dict[str, Any] | None:
        """The stored manifest, or None for a folder without an index."""
        if not self.db_path.exists():
            return None
        try:
            row = self._reader().execute("SELECT value FROM meta WHERE key = 'manifest'").fetchone()
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):  # created but never committed to
                return None
            raise IndexLoadError(f"the index in {self.folder} cannot be read ({error})") from error
        except sqlite3.DatabaseError as error:
            raise IndexLoadError(
                f"the index in {self.folder} cannot be read ({error}); rebuild it with 'docqa index --rebuild'"
            ) from error
        return json.loads(row[0]) if row else None

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
        return self._reader().execute("SELECT count(*) FROM chunks").fetchone()[0]

    def documents(self) -> list[DocumentInfo]:
        if not self.exists():
            return []
        rows = self._reader().execute(
            "SELECT d.source, d.title, d.date, count(c.id) FROM documents d "
            "LEFT JOIN chunks c ON c.source = d.source GROUP BY d.source ORDER BY d.source"
        )
        return [DocumentInfo(*row) for row in rows]

    def document_text(self, source: str) -> str:
        row = None
        if self.exists():
            row = self._reader().execute("SELECT text FROM documents WHERE source = ?", (source,)).fetchone()
        if row is None:
            raise DocqaError(f"no document {source!r} in the index")
        return row[0]

    # ----- search ------------------------------------------------------------------------

    def search_bm25(self, query: str, k: int) -> list[tuple[int, float]]:
        """Chunk ids and BM25 scores (higher is better), best first."""
        match = fts_query(query)
        if not match or not self.exists():
            return []
        rows = self._reader().execute(
            "SELECT rowid, bm25(chunks_fts) AS rank FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?",
            (match, k),
        )
        return [(row_id, -rank) for row_id, rank in rows]

    def search_dense(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Chunk ids and cosine similarities, best first."""
        vectors = self._current_vectors()
        if vectors is None or vectors.ntotal == 0:
            return []
        scores, ids = vectors.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def passages(self, scored: Sequence[tuple[int, float, int | None, int | None]]) -> list[RetrievedPassage]:
        """Build passages for (chunk id, score, bm25 rank, dense rank) rows, keeping their order.

        Ids no longer in the index (removed by an update since the search) are left out.
        """
        if not scored:
            return []
        ids = [row[0] for row in scored]
        rows = self._reader().execute(
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
        """Make the index hold exactly ``documents``, embedding only what is new or changed."""
        if (settings.embedding_model == "none") != (embedder is None):
            raise ValueError("settings.embedding_model must name the embedder, or be 'none' without one")
        report = _progress_reporter(progress)
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._write_lock():
            if rebuild:
                self._set_aside_if_unreadable()
            with contextlib.closing(self._connect()) as db:
                db.executescript(_SCHEMA)
                stored = self._stored_hashes(db)
                old_settings = self.settings()
                rebuild = rebuild or old_settings != settings
                if rebuild:
                    stored = {}
                current = {doc.source: doc for doc in documents}
                added = sorted(s for s in current if s not in stored)
                updated = sorted(s for s in current if s in stored and stored[s] != current[s].content_hash)
                removed = sorted(s for s in stored if s not in current)
                unchanged = sorted(s for s in current if stored.get(s) == current[s].content_hash)
                if not (rebuild or added or updated or removed):
                    count = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
                    report(1.0, "index is up to date")
                    return IndexReport(unchanged=unchanged, skipped=dict(skipped or {}), chunks=count)

                changed = [current[s] for s in sorted(added + updated)]
                report(0.0, f"chunking {len(changed)} documents")
                chunks = [
                    chunk
                    for doc in changed
                    for chunk in chunk_document(
                        doc, max_tokens=settings.chunk_tokens, overlap_sentences=settings.chunk_overlap
                    )
                ]
                embeddings = _embed(embedder, [c.text for c in chunks], report) if embedder else None
                report(0.95, "writing the index")
                count = self._write(
                    db, settings, changed, chunks, embeddings, drop_all=rebuild, drop=sorted(updated + removed)
                )
            self._after_commit()
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
        chunks: Sequence[Chunk],
        embeddings: np.ndarray | None,
        *,
        drop_all: bool,
        drop: Sequence[str],
    ) -> int:
        """One transaction: drop old rows, insert new ones, write the vectors and manifest."""
        db.execute("BEGIN IMMEDIATE")
        try:
            if drop_all:
                db.execute("DELETE FROM chunks")
                db.execute("DELETE FROM documents")
            else:
                db.executemany("DELETE FROM documents WHERE source = ?", [(s,) for s in drop])
            db.executemany(
                "INSERT INTO documents (source, title, date, content_hash, text) VALUES (?, ?, ?, ?, ?)",
                [(d.source, d.title, d.date, d.content_hash, d.text) for d in documents],
            )
            blobs = [None] * len(chunks) if embeddings is None else [row.tobytes() for row in embeddings]
            db.executemany(
                "INSERT INTO chunks (source, position, start, end, text, embedding) VALUES (?, ?, ?, ?, ?, ?)",
                [(c.source, c.index, c.start, c.end, c.text, blob) for c, blob in zip(chunks, blobs, strict=True)],
            )
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
            db.execute("ROLLBACK")
            raise
        return manifest["passages"]

    def _after_commit(self) -> None:
        """Mirror the manifest, with each file's content hash, to JSON; drop older vector files."""
        manifest = self.manifest()
        assert manifest is not None
        files = dict(self._reader().execute("SELECT source, content_hash FROM documents ORDER BY source"))
        temporary = self.folder / f".{MANIFEST_FILE}.tmp"
        temporary.write_text(json.dumps({**manifest, "files": files}, indent=2) + "\n")
        os.replace(temporary, self.folder / MANIFEST_FILE)
        for path in self.folder.glob("vectors-*.faiss"):
            if path.name != manifest["vectors"]:
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
                    f"{self.lock_timeout:.0f} s; try again when it has finished"
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
        if db is None:
            db = self._local.db = self._connect()
        return db

    def _stored_hashes(self, db: sqlite3.Connection) -> dict[str, str]:
        return dict(db.execute("SELECT source, content_hash FROM documents"))

    def _set_aside_if_unreadable(self) -> None:
        """Before a rebuild, move a damaged database out of the way instead of failing on it."""
        if not self.db_path.exists():
            return
        try:
            with contextlib.closing(sqlite3.connect(self.db_path)) as db:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
                if db.execute("PRAGMA quick_check").fetchone()[0] == "ok":
                    return
        except sqlite3.DatabaseError:
            pass
        aside = self.db_path.with_name(f"{DB_FILE}.damaged-{int(time.time())}")
        log.warning("the index database is damaged; moved it to %s and rebuilding", aside)
        self._local = threading.local()
        for suffix in ("-wal", "-shm"):
            Path(f"{self.db_path}{suffix}").unlink(missing_ok=True)
        os.replace(self.db_path, aside)

    def _current_vectors(self) -> faiss.Index | None:
        generation_row = self._reader().execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        generation = int(generation_row[0]) if generation_row else 0
        with self._vectors_lock:
            if generation != self._vectors_generation:
                self._vectors = self._load_vectors()
                self._vectors_generation = generation
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
        vectors = _build_faiss(self._reader())
        with contextlib.suppress(OSError):
            _write_faiss(vectors, path)
        return _tune(vectors)


def _progress_reporter(progress: Progress | None) -> Progress:
    return progress or (lambda fraction, description: None)


def _embed(embedder: Embedder, texts: Sequence[str], report: Progress) -> np.ndarray:
    parts = []
    for start in range(0, len(texts), EMBED_BATCH):
        report(0.05 + 0.9 * start / max(len(texts), 1), f"embedding passages {start}/{len(texts)}")
        parts.append(embedder.encode(texts[start : start + EMBED_BATCH]))
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dimension), dtype=np.float32)


def _meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _build_faiss(db: sqlite3.Connection) -> faiss.Index:
    """A FAISS index of every stored embedding, keyed by chunk id."""
    rows = db.execute("SELECT id, embedding FROM chunks WHERE embedding IS NOT NULL ORDER BY id").fetchall()
    if not rows:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(1))
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    vectors = np.vstack([np.frombuffer(row[1], dtype=np.float32) for row in rows])
    return build_vector_index(vectors, ids)


def build_vector_index(vectors: np.ndarray, ids: np.ndarray) -> faiss.Index:
    """Exact inner-product search for small collections, HNSW graphs for large ones."""
    dimension = vectors.shape[1]
    if len(vectors) >= HNSW_MIN_VECTORS:
        inner = faiss.IndexHNSWFlat(dimension, 32, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = 80
    else:
        inner = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIDMap2(inner)
    index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
    return _tune(index)


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
