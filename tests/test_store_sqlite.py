"""The SQLite store (SQLite, FTS5 and FAISS in one folder): the store conformance suite, and what is its own."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import faiss
import numpy as np
import pytest
from store_conformance import (
    BRIDGE,
    DENSE,
    DIMENSION,
    HARBOUR,
    MARKET,
    NEW_HARBOUR,
    Record,
    StoreConformance,
    record,
    vectors_of,
    write,
)

from docqa.errors import DocqaError
from docqa.schema import Chunk
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


def test_a_commit_keeps_the_vector_file_until_its_changes_have_grown(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(store, [HARBOUR], DENSE)
    write(store, [MARKET], DENSE)
    manifest = store.manifest()
    assert manifest is not None
    assert manifest["generation"] == 2 and manifest["vectors"] == "vectors-1.faiss"
    assert manifest["vectors_base"] == {"generation": 1, "count": 2, "last_id": 2}
    assert (manifest["vectors_count"], manifest["passages"], manifest["documents"]) == (4, 4, 2)
    assert manifest["embedding_dimension"] == DIMENSION
    assert [path.name for path in store.folder.glob("vectors-*.faiss")] == ["vectors-1.faiss"]
    mirrored = json.loads((store.folder / "manifest.json").read_text())
    assert mirrored == {**manifest, "files": store.stored_hashes()}

    monkeypatch.setattr(faiss_vectors, "MERGE_MIN_CHANGES", 3)
    write(store, [BRIDGE], DENSE, remove=["harbour.txt"])  # 2 added and 2 removed since the base: due
    manifest = store.manifest()
    assert manifest is not None and manifest["vectors"] == "vectors-3.faiss"
    assert manifest["vectors_base"] == {"generation": 3, "count": 4, "last_id": 6}
    assert faiss.read_index(str(store.folder / "vectors-3.faiss")).ntotal == 4
    assert [path.name for path in store.folder.glob("vectors-*.faiss")] == ["vectors-3.faiss"]
    with sqlite3.connect(store.db_path) as db:
        assert db.execute("SELECT count(*) FROM removed_vectors").fetchone()[0] == 0


def test_a_reader_applies_a_commit_without_reading_the_vector_file_again(
    store: SQLiteStore, reopen: Callable[[], SQLiteStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    write(store, [HARBOUR, BRIDGE], DENSE)
    serving = reopen()
    assert top_source(serving, HARBOUR[1][0]) == "harbour.txt"
    read = faiss_vectors.read
    monkeypatch.setattr(faiss_vectors, "read", lambda *args: pytest.fail("the vector file was read again"))
    write(store, [MARKET, NEW_HARBOUR], DENSE, remove=["harbour.txt"])
    assert top_source(serving, MARKET[1][1]) == "market.txt"
    assert top_source(serving, NEW_HARBOUR[1][0]) == "harbour.txt"
    assert harbour_hits(serving) == []  # the old harbour log's passages are gone
    monkeypatch.setattr(faiss_vectors, "read", read)
    assert top_source(reopen(), NEW_HARBOUR[1][0]) == "harbour.txt" and harbour_hits(reopen()) == []
    serving.close()


def test_a_missing_vector_file_is_rebuilt_from_the_database_after_later_removals(store: SQLiteStore) -> None:
    write(store, [HARBOUR, BRIDGE], DENSE)
    write(store, [MARKET], DENSE, remove=["harbour.txt"])
    (store.folder / "vectors-1.faiss").unlink()
    fresh = SQLiteStore(store.folder)
    assert top_source(fresh, MARKET[1][0]) == "market.txt" and top_source(fresh, BRIDGE[1][1]) == "notes/bridge.md"
    assert harbour_hits(fresh) == []
    fresh.close()


@pytest.mark.parametrize("merge_at", [2, 1_000_000], ids=["often-merged", "never-merged"])
def test_dense_search_after_any_updates_is_exact_search_over_what_is_stored(
    store: SQLiteStore, reopen: Callable[[], SQLiteStore], monkeypatch: pytest.MonkeyPatch, merge_at: int
) -> None:
    monkeypatch.setattr(faiss_vectors, "MERGE_MIN_CHANGES", merge_at)
    rng = np.random.default_rng(7)
    serving = reopen()
    stored: dict[str, Record] = {}
    for step in range(12):
        gone = [s for s in stored if rng.random() < 0.3]
        new = [
            record(f"doc-{step}-{n}.txt", [f"Note {step}.{n}.{line} about ships." for line in range(3)], "Note")
            for n in range(int(rng.integers(0, 4)))
        ]
        write(store, new, DENSE, remove=gone)
        for source in gone:
            del stored[source]
        stored.update((r[0].source, r) for r in new)
        for reader in (serving, reopen()):
            for query in rng.normal(size=(3, DIMENSION)).astype(np.float32):
                assert [i for i, _ in reader.search_dense(query, 5)] == exact_top(reader, query, 5)
    serving.close()


def top_source(store: SQLiteStore, chunk: Chunk) -> str:
    chunk_id, score = store.search_dense(vectors_of([chunk])[0], 1)[0]
    return store.passages([(chunk_id, score, None, 1)])[0].chunk.source


def harbour_hits(store: SQLiteStore) -> list[int]:
    """Dense hits that are the old harbour log's passages, by their own vectors."""
    texts = {chunk.text for chunk in HARBOUR[1]}
    found = []
    for chunk in HARBOUR[1]:
        hits = store.search_dense(vectors_of([chunk])[0], 10)
        found += [p.chunk.id for p in store.passages([(i, s, None, 1) for i, s in hits]) if p.chunk.text in texts]
    return found


def exact_top(store: SQLiteStore, query: np.ndarray, k: int) -> list[int]:
    """The ids of the ``k`` stored vectors with the largest inner product with ``query``."""
    with sqlite3.connect(store.db_path) as db:
        rows = db.execute("SELECT id, embedding FROM chunks").fetchall()
    if not rows:
        return []
    matrix = np.array([np.frombuffer(blob, dtype=np.float32) for _, blob in rows])
    order = np.argsort(-(matrix @ query), kind="stable")[:k]
    return [rows[i][0] for i in order]


def test_vectors_are_scanned_as_half_width_floats_in_the_order_of_exact_search(store: SQLiteStore) -> None:
    write(store, [HARBOUR, MARKET], DENSE)
    vectors = faiss.read_index(str(store.folder / store.manifest()["vectors"]))  # type: ignore[index]
    scan = faiss.downcast_index(vectors.index)
    assert isinstance(scan, faiss.IndexScalarQuantizer) and scan.sq.qtype == faiss.ScalarQuantizer.QT_fp16
    assert vectors.ntotal == 4 and np.isclose(store.search_dense(vectors_of(MARKET[1])[0], 1)[0][1], 1.0, atol=1e-3)
    query = vectors_of(HARBOUR[1])[0]
    assert [i for i, _ in store.search_dense(query, 4)] == exact_top(store, query, 4)


def test_an_index_file_of_an_earlier_kind_is_rebuilt_from_the_database(
    store: SQLiteStore, reopen: Callable[[], SQLiteStore], caplog: pytest.LogCaptureFixture
) -> None:
    write(store, [HARBOUR, MARKET], DENSE)
    path = store.folder / store.manifest()["vectors"]  # type: ignore[index]
    earlier = faiss.IndexIDMap2(faiss.IndexFlatIP(DIMENSION))
    with sqlite3.connect(store.db_path) as db:
        ids, vectors = faiss_vectors.rows_to_arrays(db.execute("SELECT id, embedding FROM chunks").fetchall())
    earlier.add_with_ids(vectors, ids)
    faiss.write_index(earlier, str(path))
    with caplog.at_level(logging.WARNING):
        assert top_source(reopen(), MARKET[1][1]) == "market.txt"
    assert "another kind of index" in caplog.text
    assert isinstance(faiss.downcast_index(faiss.read_index(str(path)).index), faiss.IndexScalarQuantizer)


def test_a_writer_used_outside_its_block_says_so(store: SQLiteStore) -> None:
    writer = store.writer(DENSE)
    with pytest.raises(DocqaError, match="'with' block"):
        writer.add([HARBOUR[0]], HARBOUR[1], vectors_of(HARBOUR[1]))


def test_the_counts_are_read_from_the_manifest_without_scanning_a_table(store: SQLiteStore) -> None:
    write(store, [HARBOUR, BRIDGE], DENSE)
    write(store, [MARKET], DENSE, remove=["harbour.txt"])
    statements: list[str] = []
    store.files.reader().set_trace_callback(statements.append)
    assert (store.count_documents(), store.count_passages()) == (2, 4)
    assert statements and not any("chunks" in sql or "documents" in sql for sql in statements)


def test_an_index_written_before_vector_bases_is_searched_and_then_updated(store: SQLiteStore) -> None:
    write(store, [HARBOUR, BRIDGE], DENSE)
    manifest = store.manifest()
    assert manifest is not None
    older = {key: value for key, value in manifest.items() if key != "vectors_base"}  # its file held everything
    with sqlite3.connect(store.db_path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'manifest'", (json.dumps(older),))
    reopened = SQLiteStore(store.folder)
    assert top_source(reopened, BRIDGE[1][0]) == "notes/bridge.md"
    write(reopened, [MARKET], DENSE)
    updated = reopened.manifest()
    assert updated is not None and updated["vectors_base"]["generation"] == 2  # a new file with a base
    assert top_source(reopened, MARKET[1][1]) == "market.txt" and top_source(store, MARKET[1][1]) == "market.txt"
    reopened.close()


def test_a_fold_applies_the_changes_to_the_previous_file_and_every_reader_sees_them(
    store: SQLiteStore, reopen: Callable[[], SQLiteStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(faiss_vectors, "MERGE_MIN_CHANGES", 5)
    notes = [
        record(f"note-{n:03d}.txt", [f"Note {n} about the harbour and its ships."], f"Note {n}") for n in range(70)
    ]
    write(store, notes[:60], DENSE)
    serving = reopen()
    assert top_source(serving, notes[0][1][0]) == "note-000.txt"
    write(store, notes[60:62], DENSE, remove=["note-059.txt"])  # 3 changes: kept beside the file
    assert store.manifest()["vectors"] == "vectors-1.faiss"  # type: ignore[index]

    def every_vector_read_again(*_: object) -> None:
        raise AssertionError("a fold read every stored vector rather than the previous file")

    monkeypatch.setattr(faiss_vectors, "build_from_database", every_vector_read_again)
    gone = ["note-059.txt", *(f"note-{n:03d}.txt" for n in range(3))]
    write(store, notes[62:66], DENSE, remove=gone[1:])  # 10 changes in all since the file: a new one
    manifest = store.manifest()
    assert manifest is not None and manifest["vectors"] == "vectors-3.faiss"
    assert faiss.read_index(str(store.folder / manifest["vectors"])).ntotal == manifest["vectors_count"] == 66 - 4
    with sqlite3.connect(store.db_path) as db:
        assert db.execute("SELECT count(*) FROM removed_vectors").fetchone()[0] == 0
    for reader in (serving, reopen()):
        for document, chunks in notes[:6] + notes[58:66]:
            found = [
                p.chunk.source
                for p in reader.passages([(i, s, None, 1) for i, s in reader.search_dense(vectors_of(chunks)[0], 5)])
            ]
            assert not set(gone) & set(found) and (found[0] == document.source) == (document.source not in gone)
    serving.close()


def _question(store: SQLiteStore, text: str, chunk: Chunk) -> list[str]:
    """What a question asks of a store: both searches, then the passages of the hits."""
    hits = store.search_bm25(text, 5) + store.search_dense(vectors_of([chunk])[0], 5)
    return [passage.chunk.source for passage in store.passages([(i, s, 1, None) for i, s in hits])]


def test_a_question_reads_the_manifest_once_per_commit_and_sees_another_process_commit(
    store: SQLiteStore, reopen: Callable[[], SQLiteStore]
) -> None:
    write(store, [HARBOUR, BRIDGE], DENSE)
    serving = reopen()
    statements: list[str] = []
    serving.files.reader().set_trace_callback(statements.append)
    assert "harbour.txt" in _question(serving, "lighthouse keeper", HARBOUR[1][0])
    assert len([sql for sql in statements if "manifest" in sql]) == 1, statements
    assert len([sql for sql in statements if "table_info" in sql]) == 1, statements
    statements.clear()
    assert "harbour.txt" in _question(serving, "lighthouse keeper", HARBOUR[1][0])
    assert not [sql for sql in statements if "manifest" in sql or "table_info" in sql], statements
    # Another process commits: the next question sees it, reading the manifest once more.
    program = (
        "import sys; sys.path.insert(0, sys.argv[2]); from store_conformance import DENSE, MARKET, write; "
        "from docqa.store import SQLiteStore; write(SQLiteStore(sys.argv[1]), [MARKET], DENSE)"
    )
    subprocess.run([sys.executable, "-c", program, str(store.folder), str(Path(__file__).parent)], check=True)
    statements.clear()
    assert _question(serving, "market dawn", MARKET[1][0])[0] == "market.txt"
    assert len([sql for sql in statements if "'manifest'" in sql and "database_id" in sql]) == 1, statements
    assert serving.count_documents() == 3
    serving.close()
