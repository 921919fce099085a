"""The SQLite store (SQLite, FTS5 and FAISS in one folder): the store conformance suite, and what is its own."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import faiss
import numpy as np
import pytest
from store_conformance import DENSE, DIMENSION, HARBOUR, MARKET, StoreConformance, record, vectors_of, write

from docqa.errors import DocqaError
from docqa.store import SQLiteStore, faiss_vectors, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "index")
    yield opened
    opened.close()


@pytest.fixture
def reopen(tmp_path: Path) -> Callable[[], SQLiteStore]:
    return lambda: SQLiteStore(tmp_path / "index")


class TestSQLiteStore(StoreConformance):
    """Every passage store's duties, met by the SQLite store."""


def test_open_store_opens_a_folder_and_refuses_unknown_kinds(tmp_path: Path) -> None:
    opened = open_store(tmp_path / "index", lock_timeout=5)
    assert isinstance(opened, SQLiteStore) and opened.folder == tmp_path / "index" and opened.lock_timeout == 5
    assert isinstance(open_store(str(tmp_path / "other")), SQLiteStore)
    with pytest.raises(DocqaError, match="unknown kind of store 'milvus'"):
        open_store("milvus://localhost:19530/docqa")


def test_a_session_that_changes_nothing_keeps_the_generation(store: SQLiteStore) -> None:
    write(store, [HARBOUR], DENSE)
    manifest = store.manifest()
    assert manifest is not None
    write(store, [], DENSE, remove=["not-stored.txt"])
    assert store.manifest() == manifest
    assert [path.name for path in store.folder.glob("vectors-*.faiss")] == [manifest["vectors"]]


def test_each_commit_writes_the_vectors_of_its_generation_and_the_manifest_copy(store: SQLiteStore) -> None:
    write(store, [HARBOUR], DENSE)
    write(store, [MARKET], DENSE)
    manifest = store.manifest()
    assert manifest is not None
    assert manifest["generation"] == 2 and manifest["vectors"] == "vectors-2.faiss"
    assert (manifest["vectors_count"], manifest["passages"], manifest["documents"]) == (4, 4, 2)
    assert manifest["embedding_dimension"] == DIMENSION
    assert [path.name for path in store.folder.glob("vectors-*.faiss")] == ["vectors-2.faiss"]
    mirrored = json.loads((store.folder / "manifest.json").read_text())
    assert mirrored == {**manifest, "files": store.stored_hashes()}


def test_large_collections_use_an_hnsw_graph(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faiss_vectors, "HNSW_MIN_VECTORS", 1000)
    documents = [record(f"doc-{n:04d}.txt", [f"Note number {n} about the harbour."], f"Note {n}") for n in range(1200)]
    write(store, documents, DENSE)
    vectors = faiss.read_index(str(store.folder / store.manifest()["vectors"]))  # type: ignore[index]
    assert isinstance(faiss.downcast_index(vectors.index), faiss.IndexHNSWFlat)
    for document, chunks in documents[:5]:
        [(chunk_id, score)] = store.search_dense(vectors_of(chunks)[0], 1)
        assert store.passages([(chunk_id, score, None, 1)])[0].chunk.source == document.source


def test_small_collections_use_exact_search(store: SQLiteStore) -> None:
    write(store, [HARBOUR, MARKET], DENSE)
    vectors = faiss.read_index(str(store.folder / store.manifest()["vectors"]))  # type: ignore[index]
    assert isinstance(faiss.downcast_index(vectors.index), faiss.IndexFlatIP)
    assert vectors.ntotal == 4 and np.isclose(store.search_dense(vectors_of(MARKET[1])[0], 1)[0][1], 1.0)


def test_a_writer_used_outside_its_block_says_so(store: SQLiteStore) -> None:
    writer = store.writer(DENSE)
    with pytest.raises(DocqaError, match="'with' block"):
        writer.add([HARBOUR[0]], HARBOUR[1], vectors_of(HARBOUR[1]))
