"""The FAISS file of a generation: built from the embeddings stored in SQLite, written, read, searched.

The file is a cache of the ``chunks.embedding`` column, keyed by chunk id, so whatever happens to it
the database can make it again. It holds the vectors of a *base* generation; the commits after it are
applied in memory from the database (see ``sqlite_vectors``), and folded into a new file only when
they have grown (``merge_due``).
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

import faiss
import numpy as np

READ_BATCH = 2048  # stored embeddings read at a time to build the FAISS index
MERGE_MIN_CHANGES = 2_000  # changes since the base kept beside it before a new file is written...
MERGE_SHARE = 0.05  # ...or this share of the base, whichever is larger
VECTOR_FILES = re.compile(r"\.?vectors-\d+\.faiss(\.tmp)?")  # a generation's file, or one being written


def vector_file_name(generation: int) -> str:
    return f"vectors-{generation}.faiss"


def merge_due(base_count: int, changes: int) -> bool:
    """Whether ``changes`` (vectors added or removed since a base of ``base_count``) call for a new file."""
    return changes > max(MERGE_MIN_CHANGES, MERGE_SHARE * base_count)


def build_from_database(db: sqlite3.Connection, up_to: int | None = None) -> faiss.Index:
    """A FAISS index of every stored embedding (of chunk ids up to ``up_to`` when given), keyed by
    chunk id, read a batch at a time."""
    limit = "" if up_to is None else f" AND id <= {int(up_to)}"
    (dimension,) = db.execute(
        f"SELECT max(length(embedding)) / 4 FROM chunks WHERE embedding IS NOT NULL{limit}"
    ).fetchone()
    index = empty_index(dimension or 1)
    add_rows(index, db.execute(f"SELECT id, embedding FROM chunks WHERE embedding IS NOT NULL{limit} ORDER BY id"))
    return index


def add_rows(index: faiss.Index, rows: sqlite3.Cursor) -> None:
    """Add the (chunk id, embedding blob) rows of ``rows`` to ``index``, a batch at a time."""
    while batch := rows.fetchmany(READ_BATCH):
        ids, vectors = rows_to_arrays(batch)
        index.add_with_ids(vectors, ids)


def rows_to_arrays(rows: list[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of (chunk id, embedding blob) rows."""
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    vectors = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32).reshape(len(rows), -1)
    return ids, vectors


def read(path: Path, count: int, dimension: int) -> tuple[faiss.Index | None, str]:
    """The index in ``path`` when it holds ``count`` vectors of ``dimension``; else None and why not."""
    try:
        vectors = faiss.read_index(str(path))
    except RuntimeError as error:
        return None, str(error).splitlines()[0] if path.exists() else "it is missing"
    if not isinstance(vectors, faiss.IndexIDMap2) or not _is_scan(faiss.downcast_index(vectors.index)):
        return None, "an earlier docqa wrote it as another kind of index"
    if vectors.ntotal == count and (count == 0 or vectors.d == dimension):
        return vectors, ""
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


def excluding(index: faiss.Index, excluded: np.ndarray) -> tuple[faiss.SearchParameters | None, tuple[Any, ...]]:
    """Search parameters of ``index`` that leave out the ids in ``excluded`` (None for none), and the
    selectors they point to, which must be kept alive as long as the parameters are used."""
    if not len(excluded):
        return None, ()
    batch = faiss.IDSelectorBatch(excluded)
    selector = faiss.IDSelectorNot(batch)
    # faiss's type stubs lack the search parameters' arguments that its library has.
    return faiss.SearchParameters(sel=selector), (batch, selector)  # type: ignore[call-arg]


def search(
    index: faiss.Index, query: np.ndarray, k: int, params: faiss.SearchParameters | None = None
) -> list[tuple[int, float]]:
    """Ids and inner products of the ``k`` nearest vectors to one query row, best first (with
    ``params`` from ``excluding``, the ids it names are left out)."""
    # One query gains nothing from FAISS's thread pool, and waiting for its threads, which
    # share the cores with the models' threads, took up to 20 times as long as the search.
    # The setting belongs to the calling thread, and is put back for whatever it does next.
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        scores, ids = index.search(query, k, params=params)
    finally:
        faiss.omp_set_num_threads(threads)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]


def empty_index(dimension: int) -> faiss.Index:
    """A scan of every vector stored as 16-bit floats, keyed by chunk id.

    Every query is compared with every vector, so nothing is ever missed, additions and removals
    apply in place, and nothing needs building. Half-width floats halve the memory and the time of
    a full-width exact scan (whose speed the memory sets) and keep its order: at 1,000,000 random
    vectors, recall@10 against it was 0.999 in 32 ms a query where it took 61
    (``benchmarks/bench_dense_recall.py``); HNSW graphs found a sixth of the true top 10 at 300,000
    and took 18 minutes to build on two cores.
    """
    scan = faiss.IndexScalarQuantizer(dimension, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    return faiss.IndexIDMap2(scan)


def _is_scan(index: faiss.Index) -> bool:
    return isinstance(index, faiss.IndexScalarQuantizer) and index.sq.qtype == faiss.ScalarQuantizer.QT_fp16


def _errno_named_in(message: str) -> int:
    """The error number whose text ``message`` holds ("No space left on device"), else EIO."""
    known = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT)
    return next((number for number in known if os.strerror(number) in message), errno.EIO)
