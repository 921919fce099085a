"""Indexing a corpus into the SQLite store: incremental updates, rebuilds, crash safety, search."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from docqa.documents import SourceFile
from docqa.documents.worker import WorkerPool
from docqa.embedding import Embedder
from docqa.indexing import FileReading, Indexer
from docqa.retrieval import Retriever
from docqa.schema import Document, IndexReport
from docqa.store import IndexSettings, SQLiteStore
from docqa.store.base import FORMAT_VERSION
from docqa.store.sqlite_schema import fts_query

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
LEXICAL = IndexSettings(embedding_model="none", chunk_tokens=200, chunk_overlap=1)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(CORPUS, folder)
    return folder


def update(
    index: SQLiteStore,
    corpus: Path,
    settings: IndexSettings = LEXICAL,
    embedder: Embedder | None = None,
    **options: object,
) -> IndexReport:
    return Indexer(index, embedder, settings).update(corpus, **options)  # type: ignore[arg-type]


def test_first_update_indexes_every_file_and_writes_the_manifest(tmp_path: Path, corpus: Path) -> None:
    index = SQLiteStore(tmp_path / "index")
    report = update(index, corpus)
    assert report.rebuilt
    assert sorted(report.added) == sorted(p.name for p in corpus.iterdir())
    assert report.chunks == index.count_passages() > 3
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["embedding_model"] == "none"
    assert manifest["chunking"] == {"chunk_tokens": 200, "chunk_overlap": 1}
    assert set(manifest["files"]) == set(report.added)
    assert all(len(digest) == 64 for digest in manifest["files"].values())


def test_update_is_incremental(tmp_path: Path, corpus: Path) -> None:
    index = SQLiteStore(tmp_path / "index")
    update(index, corpus)
    unchanged = update(index, corpus)
    assert not unchanged.changed and len(unchanged.unchanged) == 3

    (corpus / "new.md").write_text("# Rivers\n\nThe Danube flows through ten countries.\n")
    changed_file = sorted(corpus.glob("000_*.txt"))[0]
    changed_file.write_text(changed_file.read_text() + "\nA sentence added at the end about pelicans.\n")
    removed_file = sorted(corpus.glob("002_*.txt"))[0]
    removed_file.unlink()

    report = update(index, corpus)
    assert (report.added, report.updated, report.removed) == (["new.md"], [changed_file.name], [removed_file.name])
    assert report.unchanged == [sorted(corpus.glob("001_*.txt"))[0].name]
    assert not report.rebuilt
    sources = {passage.chunk.source for passage in Retriever(index).retrieve("Danube pelicans", top_k=5)}
    assert {"new.md", changed_file.name} <= sources
    assert all(info.source != removed_file.name for info in index.documents())


def test_changing_the_chunking_settings_rebuilds(tmp_path: Path, corpus: Path) -> None:
    index = SQLiteStore(tmp_path / "index")
    update(index, corpus)
    before = index.count_passages()
    report = update(index, corpus, IndexSettings(embedding_model="none", chunk_tokens=60, chunk_overlap=0))
    assert report.rebuilt and len(report.added) == 3
    assert index.count_passages() > before


def test_dense_index_embeds_only_changed_files_and_rebuilds_for_another_model(
    tmp_path: Path, corpus: Path, tiny_embedder_path: Path
) -> None:
    embedder = CountingEmbedder(str(tiny_embedder_path))
    settings = IndexSettings(embedding_model=str(tiny_embedder_path), chunk_tokens=200, chunk_overlap=1)
    index = SQLiteStore(tmp_path / "index")
    update(index, corpus, settings, embedder)
    first = embedder.encoded
    assert first == index.count_passages()
    assert index.has_vectors()

    (corpus / "new.txt").write_text("Pelicans nest on the islands of the lake every spring.\n")
    update(index, corpus, settings, embedder)
    assert embedder.encoded - first == 1  # only the new file's single passage
    hits = index.search_dense(embedder.encode_query("Pelicans nest on the islands"), 3)
    assert len(hits) == 3 and all(-1.0001 <= score <= 1.0001 for _, score in hits)

    other = IndexSettings(embedding_model="another-model", chunk_tokens=200, chunk_overlap=1)
    report = update(index, corpus, other, embedder)
    assert report.rebuilt and len(report.added) == 4


class CountingEmbedder(Embedder):
    encoded = 0

    def encode(self, texts, *, show_progress=False):  # type: ignore[no-untyped-def]
        self.encoded += len(texts)
        return super().encode(texts, show_progress=show_progress)


def test_an_interrupted_update_leaves_the_previous_index(
    tmp_path: Path, corpus: Path, tiny_embedder_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedder = Embedder(str(tiny_embedder_path))
    settings = IndexSettings(embedding_model=str(tiny_embedder_path), chunk_tokens=200, chunk_overlap=1)
    index = SQLiteStore(tmp_path / "index")
    update(index, corpus, settings, embedder)
    before = (index.manifest(), index.count_passages(), Retriever(index, embedder).retrieve("Cannon building"))

    (corpus / "new.txt").write_text("The lighthouse keeper counted forty ships.\n")
    sorted(corpus.glob("000_*.txt"))[0].unlink()

    def crash(*args: object) -> None:  # the process dies after the rows are written, before the commit
        raise KeyboardInterrupt

    monkeypatch.setattr("docqa.store.sqlite_writer.build_manifest", crash)
    with pytest.raises(KeyboardInterrupt):
        update(index, corpus, settings, embedder)
    monkeypatch.undo()

    reopened = SQLiteStore(tmp_path / "index")
    assert reopened.manifest() == before[0]
    assert reopened.count_passages() == before[1]
    assert Retriever(reopened, embedder).retrieve("Cannon building") == before[2]
    assert len(list((tmp_path / "index").glob("vectors-*.faiss"))) >= 1

    report = update(reopened, corpus, settings, embedder)
    assert report.added == ["new.txt"] and len(report.removed) == 1
    assert sorted(p.name for p in (tmp_path / "index").glob("vectors-*.faiss")) == [reopened.manifest()["vectors"]]


def test_a_missing_vector_file_is_rebuilt_from_the_database(
    tmp_path: Path, corpus: Path, tiny_embedder_path: Path
) -> None:
    embedder = Embedder(str(tiny_embedder_path))
    settings = IndexSettings(embedding_model=str(tiny_embedder_path), chunk_tokens=200, chunk_overlap=1)
    update(SQLiteStore(tmp_path / "index"), corpus, settings, embedder)
    query = embedder.encode_query("Capitol Police")
    expected = SQLiteStore(tmp_path / "index").search_dense(query, 5)
    vectors = next((tmp_path / "index").glob("vectors-*.faiss"))
    vectors.write_bytes(b"not a faiss file")
    assert SQLiteStore(tmp_path / "index").search_dense(query, 5) == expected
    vectors.unlink()
    assert SQLiteStore(tmp_path / "index").search_dense(query, 5) == expected
    assert vectors.exists()


def test_bm25_ranks_the_passage_with_the_rare_words_first(tmp_path: Path, corpus: Path) -> None:
    index = SQLiteStore(tmp_path / "index")
    update(index, corpus)
    hits = index.search_bm25("Elton John song before the rally", 3)
    passages = index.passages([(chunk_id, score, rank, None) for rank, (chunk_id, score) in enumerate(hits, 1)])
    assert passages[0].chunk.source.startswith("001_")
    assert "Elton John" in passages[0].chunk.text
    assert hits[0][1] >= hits[-1][1] > 0


def test_fts_query_quotes_words_and_drops_stop_words() -> None:
    assert fts_query('Who said "NOT" OR (x)*?') == '"said" OR "not" OR "x"'
    assert fts_query("who is it") == '"who" OR "is" OR "it"'
    assert fts_query("?!") == ""


def test_copies_of_a_file_fill_one_retrieval_slot(tmp_path: Path, corpus: Path) -> None:
    original = sorted(corpus.glob("001_*.txt"))[0]
    (corpus / "copy-of-001.txt").write_bytes(original.read_bytes())
    index = SQLiteStore(tmp_path / "index")
    update(index, corpus)
    passages = Retriever(index).retrieve("Elton John song before the rally", top_k=3)
    texts = [passage.chunk.text for passage in passages]
    assert len(texts) == 3 and len(set(texts)) == 3


def test_only_new_and_changed_files_are_parsed_and_each_stage_is_timed(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = SQLiteStore(tmp_path / "index")
    first = update(index, corpus)
    assert set(first.timings) == {"scan", "parse", "chunk", "embed", "write"}
    assert first.timings["parse"] > 0

    parsed: list[str] = []
    parse_file = WorkerPool.parse_file

    def counted_parse(pool: WorkerPool, source_file: SourceFile) -> Document:
        parsed.append(source_file.source)
        return parse_file(pool, source_file)

    monkeypatch.setattr(WorkerPool, "parse_file", counted_parse)
    assert not update(index, corpus).changed and parsed == []

    (corpus / "new.md").write_text("# Rivers\n\nThe Danube flows through ten countries.\n")
    changed_file = sorted(corpus.glob("000_*.txt"))[0]
    changed_file.write_text(changed_file.read_text() + "\nPelicans.\n")
    report = update(index, corpus)
    assert sorted(parsed) == sorted(["new.md", changed_file.name])
    assert (report.added, report.updated) == (["new.md"], [changed_file.name])


def test_a_changed_file_that_can_no_longer_be_read_is_removed_and_listed(tmp_path: Path, corpus: Path) -> None:
    index = SQLiteStore(tmp_path / "index")
    update(index, corpus)
    emptied = sorted(corpus.glob("001_*.txt"))[0]
    emptied.write_text("")
    (corpus / "blank.txt").write_text("  \n")
    report = update(index, corpus)
    assert (report.added, report.updated, report.removed) == ([], [], [emptied.name])
    assert report.skipped == {"blank.txt": "empty", emptied.name: "empty"}
    assert emptied.name not in index.stored_hashes() and len(index.documents()) == 2


def test_progress_counts_one_document_in_the_singular(tmp_path: Path) -> None:
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "harbour.txt").write_text("The harbour master of Port Wren is Quentin Abernathy.\n")
    said: list[str] = []
    update(SQLiteStore(tmp_path / "index"), folder, progress=lambda fraction, text: said.append(text))
    assert {"indexing 1 document", "indexed 1/1 document"} <= set(said)
    assert any(text.startswith("indexed 1 document, ") for text in said)
    assert not any("1 documents" in text for text in said)


def test_an_indexer_stops_the_workers_it_made_and_leaves_a_shared_reading_s_running(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    working: list[int] = []
    parse_file = WorkerPool.parse_file

    def noting_workers(pool: WorkerPool, source_file: SourceFile) -> Document:
        document = parse_file(pool, source_file)
        working.extend(pool.pids())
        return document

    monkeypatch.setattr(WorkerPool, "parse_file", noting_workers)
    own = Indexer(SQLiteStore(tmp_path / "index"), None, LEXICAL)
    assert own.update(corpus).added and working
    assert own.reading.pool.pids() == []
    shared = FileReading(1)
    try:
        (corpus / "new.txt").write_text("The Danube flows through ten countries.\n")
        assert Indexer(SQLiteStore(tmp_path / "index"), None, LEXICAL, reading=shared).update(corpus).added == [
            "new.txt"
        ]
        assert len(shared.pool.pids()) == 1  # kept for the next update
    finally:
        shared.close()
    assert shared.pool.pids() == []
