"""The FAISS file of a generation: built from the embeddings stored in SQLite, written, read, searched.

The file is a cache of the ``chunks.embedding`` column, keyed by chunk id, so whatever happens to it
the database can make it again.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
from pathlib import Path

import faiss
import numpy as np

HNSW_MIN_VECTORS = 50_000  # below this, exact search is fast enough and needs no tuning
READ_BATCH = 2048  # stored embeddings read at a time to build the FAISS index
VECTOR_FILES = re.compile(r"\.?vectors-\d+\.faiss(\.tmp)?")  # a generation's file, or one being written


def vector_file_name(generation: int) -> str:
    return f"vectors-{generation}.faiss"


def build_from_database(db: sqlite3.Connection) -> faiss.Index:
    """A FAISS index of every stored embedding, keyed by chunk id, read a batch at a time."""
    count, dimension = db.execute(
        "SELECT count(*), max(length(embedding)) / 4 FROM chunks WHERE embedding IS NOT NULL"
    ).fetchone()
    index = _empty_index(dimension or 1, count)
    rows = db.execute("SELECT id, embedding FROM chunks WHERE embedding IS NOT NULL ORDER BY id")
    while batch := rows.fetchmany(READ_BATCH):
        ids = np.fromiter((row[0] for row in batch), dtype=np.int64, count=len(batch))
        vectors = np.frombuffer(b"".join(row[1] for row in batch), dtype=np.float32).reshape(len(batch), -1)
        index.add_with_ids(vectors, ids)
    return _tuned(index)


def read(path: Path, count: int, dimension: int) -> tuple[faiss.Index | None, str]:
    """The index in ``path`` when it holds ``count`` vectors of ``dimension``; else None and why not."""
    try:
        vectors = faiss.read_index(str(path))
    except RuntimeError as error:
        return None, str(error).splitlines()[0] if path.exists() else "it is missing"
    if vectors.ntotal == count and vectors.d == dimension:
        return _tuned(vectors), ""
    return None, "it does not match the database"


def write(index: faiss.Index, path: Path) -> None:
    """Write ``index`` to ``path`` through a synced temporary file, so ``path`` is never half written."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        faiss.write_index(index, str(temporary))
    except RuntimeError as error:  # FAISS names the system's reason in its message only
        raise OSError(_errno_named_in(str(error)), f"could not write {temporary.name}", str(temporary)) from error
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def search(index: faiss.Index, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Ids and inner products of the ``k`` nearest vectors to one query row, best first."""
    # One query gains nothing from FAISS's thread pool, and waiting for its threads, which
    # share the cores with the models' threads, took up to 20 times as long as the search.
    # The setting belongs to the calling thread, and is put back for whatever it does next.
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        scores, ids = index.search(query, k)
    finally:
        faiss.omp_set_num_threads(threads)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]


def _empty_index(dimension: int, size: int) -> faiss.Index:
    """Exact inner-product search for small collections, HNSW graphs for large ones."""
    if size >= HNSW_MIN_VECTORS:
        inner = faiss.IndexHNSWFlat(dimension, 32, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = 80
    else:
        inner = faiss.IndexFlatIP(dimension)
    return faiss.IndexIDMap2(inner)


def _tuned(index: faiss.Index) -> faiss.Index:
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    if isinstance(inner, faiss.IndexHNSWFlat):
        inner.hnsw.efSearch = 128  # recall close to exact search at a fraction of its cost
    return index


def _errno_named_in(message: str) -> int:
    """The error number whose text ``message`` holds ("No space left on device"), else EIO."""
    known = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT)
    return next((number for number in known if os.strerror(number) in message), errno.EIO)
