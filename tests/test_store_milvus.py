"""The Milvus store on Milvus Lite: the store conformance suite, interrupted writes, shards, the factory."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from store_conformance import (
    BRIDGE,
    DENSE,
    HARBOUR,
    LEXICAL,
    MARKET,
    NEW_HARBOUR,
    StoreConformance,
    contents,
    record,
    sources_found,
    vectors_of,
    write,
)

from docqa.assistant import Assistant
from docqa.cli import main
from docqa.errors import DocqaError
from docqa.shards import Shard
from docqa.store import SQLiteStore, open_store
from docqa.store.milvus import MilvusStore
from docqa.store.milvus_schema import Lane
from docqa.store.milvus_writer import MilvusWriter


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MilvusStore]:
    opened = MilvusStore(tmp_path / "passages.db")
    yield opened
    opened.close()


@pytest.fixture
def reopen(tmp_path: Path) -> Callable[[], MilvusStore]:
    return lambda: MilvusStore(tmp_path / "passages.db")


class TestMilvusStore(StoreConformance):
    """Every passage store's duties, met by the Milvus store."""


class Interrupted(Exception):
    """Stands for a process killed in the middle of a write session."""


def test_an_interrupted_session_leaves_every_previous_document_answerable(
    store: MilvusStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(store, [HARBOUR, BRIDGE], DENSE)
    before = contents(store)
    # The process dies right after the new passages are written: no rollback runs.
    monkeypatch.setattr("docqa.store.milvus_writer.MilvusWriter._roll_back", lambda self: None)
    with pytest.raises(Interrupted), store.writer(DENSE) as writer:
        writer.remove(["harbour.txt"])
        writer.add([NEW_HARBOUR[0]], NEW_HARBOUR[1], vectors_of(NEW_HARBOUR[1]))
        raise Interrupted
    assert contents(store) == before
    assert sources_found(store, "lighthouse keeper") == ["harbour.txt"] and sources_found(store, "pelicans") == []
    monkeypatch.undo()
    write(store, [NEW_HARBOUR], DENSE, remove=["harbour.txt"])  # the next run completes the work
    assert sources_found(store, "pelicans") == ["harbour.txt"] and sources_found(store, "lighthouse") == []
    assert store.count_passages() == 3


def test_a_commit_interrupted_before_its_cleanup_still_hides_the_old_passages(
    store: MilvusStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(store, [HARBOUR, BRIDGE])
    original = MilvusWriter._finish_retiring

    def dies_before_deleting(self: MilvusWriter, lane: Lane) -> None:
        if lane.retired:  # the commit point is written: the process dies before the old rows are deleted
            raise Interrupted
        original(self, lane)

    monkeypatch.setattr(MilvusWriter, "_finish_retiring", dies_before_deleting)
    with pytest.raises(Interrupted):
        write(store, [NEW_HARBOUR], remove=["harbour.txt"])
    monkeypatch.undo()
    # The commit point was written: the new harbour log is seen, the old one's rows are hidden.
    assert store.document_text("harbour.txt") == NEW_HARBOUR[0].text
    assert sources_found(store, "lighthouse") == [] and sources_found(store, "pelicans") == ["harbour.txt"]
    assert store.count_passages() == 3
    write(store, [MARKET])  # the next session deletes the hidden rows and clears the retired list
    lanes = store.connection.view().lanes  # type: ignore[union-attr]
    assert all(not lane.retired for lane in lanes.values()) and store.count_passages() == 5


def test_shards_write_disjoint_slices_into_one_store(tmp_path: Path) -> None:
    location = tmp_path / "shared.db"
    records = [record(f"notes/{n:02d}.txt", [f"Entry {n} of the harbour log."], f"Entry {n}") for n in range(12)]
    shards = [Shard(index, 3) for index in range(3)]
    handles = [MilvusStore(location, shard=shard) for shard in shards]
    try:
        for shard, handle in zip(shards, handles, strict=True):
            write(handle, [r for r in records if shard.owns(r[0].source)], DENSE)
        reader = handles[0]
        assert reader.stored_hashes() == {d.source: d.content_hash for d, _ in records}
        assert reader.count_passages() == 12 and set(reader.connection.view().lanes) == {"0/3", "1/3", "2/3"}  # type: ignore[union-attr]
        # A shard removes the files of its own slice only; the others keep theirs.
        gone = next(r[0].source for r in records if shards[1].owns(r[0].source))
        write(handles[1], [], DENSE, remove=[gone])
        assert gone not in reader.stored_hashes() and len(reader.stored_hashes()) == 11
        # A shard's rebuild replaces its slice in place.
        own = [r for r in records if shards[2].owns(r[0].source)]
        write(handles[2], own[:1], DENSE, rebuild=True)
        kept = {s for s in reader.stored_hashes() if shards[2].owns(s)}
        assert kept == {own[0][0].source} and len(reader.stored_hashes()) == 11 - len(own) + 1
        with pytest.raises(DocqaError, match="other settings"):
            write(handles[0], [], LEXICAL)
    finally:
        for handle in handles:
            handle.close()


def test_shards_own_disjoint_slices_that_cover_the_corpus() -> None:
    sources = [f"folder/file-{n}.txt" for n in range(200)]
    owners = [[shard for shard in range(4) if Shard(shard, 4).owns(source)] for source in sources]
    assert all(len(found) == 1 for found in owners)
    assert len({found[0] for found in owners}) == 4
    assert Shard.parse("2/4") == Shard(2, 4) and Shard.parse("") is None
    for bad in ("4/4", "1/0", "one/two", "-1/3"):
        with pytest.raises(DocqaError):
            Shard.parse(bad)


def test_open_store_chooses_the_store_by_location(tmp_path: Path) -> None:
    assert isinstance(open_store(tmp_path / "index"), SQLiteStore)
    lite = open_store(tmp_path / "passages.db", collection="other_index")
    assert isinstance(lite, MilvusStore) and lite.local and lite.names.base == "other_index"
    server = open_store("http://milvus.example:19530")
    assert isinstance(server, MilvusStore) and not server.local
    (tmp_path / "folder.db").mkdir()
    (tmp_path / "folder.db" / "index.sqlite").touch()
    assert isinstance(open_store(tmp_path / "folder.db"), SQLiteStore)
    with pytest.raises(DocqaError, match="need a Milvus store"):
        open_store(tmp_path / "index", shard=Shard(0, 2))
    with pytest.raises(DocqaError, match="unknown kind of store 'ftp'"):
        open_store("ftp://host/index")
    with pytest.raises(DocqaError, match="collection name"):
        MilvusStore(tmp_path / "x.db", collection="no spaces")


def test_another_collection_is_another_index(tmp_path: Path) -> None:
    first, second = (MilvusStore(tmp_path / "both.db", collection=name) for name in ("first", "second"))
    try:
        write(first, [HARBOUR])
        write(second, [MARKET], DENSE)
        assert [d.source for d in first.documents()] == ["harbour.txt"]
        assert [d.source for d in second.documents()] == ["market.txt"] and second.has_vectors()
    finally:
        first.close()
        second.close()


SEED_EXAMPLES = json.loads((Path(__file__).parent / "seed_examples.json").read_text(encoding="utf-8"))["questions"]
CORPUS = Path(__file__).resolve().parent.parent / "corpus"
LEXICAL_MODELS = ["--embedding-model", "none", "--reader-model", "none"]


def test_docqa_index_then_ask_with_a_milvus_lite_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(CORPUS, tmp_path / "corpus")
    where = ["--corpus", str(tmp_path / "corpus"), "--store", str(tmp_path / "passages.db")]
    assert main(["index", *where, *LEXICAL_MODELS, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["added"]) == 3 and report["rebuilt"] and report["chunks"] > 3
    assert not (tmp_path / "embeddings" / "index.sqlite").exists()
    assert main(["index", *where, *LEXICAL_MODELS]) == 0
    assert "0 added, 0 updated, 0 removed, 3 unchanged" in capsys.readouterr().out
    for example in SEED_EXAMPLES:
        assert main(["ask", example["q"], *where, *LEXICAL_MODELS, "--json"]) == 0
        answer = json.loads(capsys.readouterr().out)
        assert not answer["abstained"] and answer["citations"][0]["source"].startswith(example["src"])
    assert main(["ask", SEED_EXAMPLES[-1]["q"], *where, *LEXICAL_MODELS]) == 0
    out = capsys.readouterr().out
    assert "Elton John" in out and "Source: 001_2552add6c2b4445d.txt" in out


def test_the_assistant_indexes_and_answers_through_a_given_store(tmp_path: Path, tiny_embedder_path: Path) -> None:
    shutil.copytree(CORPUS, tmp_path / "corpus")
    store = MilvusStore(tmp_path / "passages.db", collection="assistant_test")
    assistant = Assistant(tmp_path / "corpus", tmp_path / "index", str(tiny_embedder_path), "none", store=store)
    try:
        report = assistant.index()
        assert len(report.added) == 3 and store.has_vectors() and store.count_passages() == report.chunks
        (tmp_path / "corpus" / "002_b76bc81feaaeabd7.txt").unlink()
        assert assistant.index().removed == ["002_b76bc81feaaeabd7.txt"]
        reply = assistant.ask(SEED_EXAMPLES[0]["q"], retrieval="hybrid")
        assert reply.passages and reply.citations[0].source.startswith(SEED_EXAMPLES[0]["src"])
        assert [d.source for d in assistant.documents()] == sorted(p.name for p in (tmp_path / "corpus").iterdir())
    finally:
        assistant.close()


def test_indexing_shards_each_index_their_slice_of_the_corpus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(CORPUS, tmp_path / "corpus")
    where = ["--corpus", str(tmp_path / "corpus"), "--store", str(tmp_path / "passages.db"), *LEXICAL_MODELS]
    files = sorted(path.name for path in (tmp_path / "corpus").iterdir())
    reports = []
    for shard in ("0/2", "1/2"):
        assert main(["index", *where, "--shard", shard, "--json"]) == 0
        reports.append(json.loads(capsys.readouterr().out))
    assert sorted(reports[0]["added"] + reports[1]["added"]) == files
    assert all(
        Shard.parse(s).owns(source) for s, r in zip(("0/2", "1/2"), reports, strict=True) for source in r["added"]
    )
    gone = reports[1]["added"][0] if reports[1]["added"] else reports[0]["added"][0]
    owner = "1/2" if gone in reports[1]["added"] else "0/2"
    (tmp_path / "corpus" / gone).unlink()
    other = "0/2" if owner == "1/2" else "1/2"
    assert main(["index", *where, "--shard", other, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"] == []  # not its file to remove
    assert main(["index", *where, "--shard", owner, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"] == [gone]
    assert main(["ask", SEED_EXAMPLES[-1]["q"], *where, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["citations"]
    assert main(["index", "--corpus", str(tmp_path / "corpus"), "--index", str(tmp_path / "i"), "--shard", "0/2"]) == 2
    assert "need a Milvus store" in capsys.readouterr().err
