"""The vectors a ``SQLiteStore`` searches: the FAISS file of a base generation, and the commits since.

A commit does not rewrite the FAISS file. Its new chunks have larger ids than any before (the
chunks table numbers them with AUTOINCREMENT), and the ids of the chunks it removed are kept in the
``removed_vectors`` table with the generation that removed them. A reader holds the base file's
index unchanged, a small index of the vectors added since, and the ids removed since, which
searches of the base leave out; a commit costs it the rows that commit changed. The writer folds
the changes into a new base file when they have grown (``faiss_vectors.merge_due``): the previous
file with them applied (``folded_base``), and a reader then loads that file once.

Everything a reader applies comes from the database, read in one transaction, so it never sees a
commit in part; the base file is written before the commit that names it, and is rebuilt from the
database when it is missing or damaged.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from docqa.store import faiss_vectors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveVectors:
    """One generation's vectors, never changed once made (a commit makes another), so searches need no lock."""

    base_file: str
    main: faiss.Index  # the base file's index
    delta: faiss.Index | None  # the vectors added since the base
    removed: np.ndarray  # sorted ids removed since the base: left out of searches of ``main``
    last_id: int  # the largest chunk id applied
    generation: int
    count: int  # vectors in the generation
    dimension: int

    @cached_property
    def _main_params(self) -> tuple[Any, tuple[Any, ...]]:
        """The parameters of searches of ``main`` that leave ``removed`` out (made once for the generation)."""
        return faiss_vectors.excluding(self.main, self.removed)

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Ids and inner products of the ``k`` nearest vectors to one query row, best first."""
        hits = faiss_vectors.search(self.main, query, k, self._main_params[0]) if self.main.ntotal else []
        if self.delta is not None and self.delta.ntotal:
            hits = sorted(hits + faiss_vectors.search(self.delta, query, k), key=lambda hit: -hit[1])[:k]
        return hits


def base_of(manifest: dict[str, Any]) -> dict[str, int | None]:
    """The base generation of ``manifest``'s vector file, its vector count and largest chunk id (None:
    unknown, for an index written before bases, whose file holds every vector of its generation)."""
    return manifest.get("vectors_base") or {
        "generation": manifest["generation"],
        "count": manifest["vectors_count"],
        "last_id": None,
    }


def current(
    db: sqlite3.Connection, folder: Path, manifest: dict[str, Any], held: LiveVectors | None
) -> LiveVectors | None:
    """The vectors of ``manifest``'s generation, made from ``held`` when they share its base file.

    Call inside a read transaction, so that the manifest and the rows agree.
    """
    if not manifest["vectors"]:
        return None
    base = base_of(manifest)
    if held is None or held.base_file != manifest["vectors"] or held.generation < int(base["generation"] or 0):
        held = _load_base(db, folder, manifest, base)
    return catch_up(db, held, manifest)


def catch_up(db: sqlite3.Connection, held: LiveVectors, manifest: dict[str, Any]) -> LiveVectors:
    """``held`` with the chunks added and removed by the commits after its generation applied."""
    if manifest["generation"] == held.generation:
        return held
    dimension = manifest["embedding_dimension"] or held.dimension
    rows = db.execute(
        "SELECT id, embedding FROM chunks WHERE id > ? AND embedding IS NOT NULL ORDER BY id", (held.last_id,)
    ).fetchall()
    removed = removed_since(db, held.generation)
    delta = held.delta
    if rows or (len(removed) and delta is not None):
        delta = faiss.clone_index(delta) if delta is not None else faiss_vectors.empty_index(dimension)
        if len(removed):
            delta.remove_ids(removed)  # type: ignore[arg-type]  # faiss's wrapper takes an id array too
        if rows:
            ids, vectors = faiss_vectors.rows_to_arrays(rows)
            delta.add_with_ids(vectors, ids)
    return replace(
        held,
        delta=delta,
        removed=np.union1d(held.removed, removed) if len(removed) else held.removed,
        last_id=int(rows[-1][0]) if rows else held.last_id,
        generation=manifest["generation"],
        count=manifest["vectors_count"],
        dimension=dimension,
    )


def removed_since(db: sqlite3.Connection, generation: int) -> np.ndarray:
    """The ids of the vectors removed by the commits after ``generation``."""
    try:
        rows = db.execute("SELECT id FROM removed_vectors WHERE generation > ?", (generation,)).fetchall()
    except sqlite3.OperationalError as error:  # an index written before the table existed
        if "no such table" not in str(error):
            raise
        rows = []
    return np.array(sorted(row[0] for row in rows), dtype=np.int64)


def changes_since_base(db: sqlite3.Connection, base: dict[str, int | None]) -> int | None:
    """Vectors added or removed since ``base``; None when that cannot be told (no base recorded)."""
    if base["last_id"] is None:
        return None
    added = db.execute(
        "SELECT count(*) FROM chunks WHERE id > ? AND embedding IS NOT NULL", (base["last_id"],)
    ).fetchone()[0]
    removed = db.execute("SELECT count(*) FROM removed_vectors WHERE generation > ?", (base["generation"],))
    return added + removed.fetchone()[0]


def folded_base(db: sqlite3.Connection, folder: Path, previous: dict[str, Any]) -> faiss.Index | None:
    """The previous base file's index with the changes since applied: the vectors removed taken
    out, those added put in. Reading a file and the rows changed costs far less than reading every
    stored embedding. None when the previous file cannot be read as it should be."""
    base = previous["vectors_base"]
    index, _ = faiss_vectors.read(folder / previous["vectors"], base["count"], previous["embedding_dimension"])
    if index is None:
        return None
    removed = removed_since(db, base["generation"])
    if len(removed):
        index.remove_ids(removed)  # type: ignore[arg-type]  # faiss's wrapper takes an id array too
    faiss_vectors.add_rows(
        index,
        db.execute(
            "SELECT id, embedding FROM chunks WHERE id > ? AND embedding IS NOT NULL ORDER BY id", (base["last_id"],)
        ),
    )
    return index


def _load_base(
    db: sqlite3.Connection, folder: Path, manifest: dict[str, Any], base: dict[str, int | None]
) -> LiveVectors:
    """The base file's index, rebuilt from the database when the file is missing or does not match."""
    path = folder / manifest["vectors"]
    count = int(base["count"] or 0)
    main, reason = faiss_vectors.read(path, count, manifest["embedding_dimension"])
    if main is None:
        log.warning("rebuilding %s from the stored embeddings: %s", path.name, reason)
        main = faiss_vectors.build_from_database(db, base["last_id"])
        if main.ntotal == count:  # else rows it held were removed since: kept in memory only
            with contextlib.suppress(OSError):
                faiss_vectors.write(main, path)
    last_id = base["last_id"]
    if last_id is None:  # the file holds every vector of its generation, which is the manifest's
        last_id = db.execute("SELECT coalesce(max(id), 0) FROM chunks").fetchone()[0]
    return LiveVectors(
        base_file=manifest["vectors"],
        main=main,
        delta=None,
        removed=np.array([], dtype=np.int64),
        last_id=int(last_id),
        generation=int(base["generation"] or 0),
        count=count,
        dimension=manifest["embedding_dimension"],
    )
