"""The Milvus store against a Milvus server, spoken to over gRPC at http://127.0.0.1:PORT as a
deployment's replicas and shards speak to one: ``milvus-lite server`` on a free port (the
``milvus_server`` fixture of conftest.py). The store conformance suite, the interrupted-session
tests, two shards indexing at once from two processes, and runs killed with SIGKILL."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from store_conformance import StoreConformance
from test_store_milvus import (  # run here against the server, with this module's store fixture
    LEXICAL_MODELS,
    test_a_commit_interrupted_before_its_cleanup_still_hides_the_old_passages,  # noqa: F401
    test_an_interrupted_session_leaves_every_previous_document_answerable,  # noqa: F401
)

from docqa.documents import load_documents
from docqa.shards import Shard
from docqa.store.milvus import MilvusStore

RUN_LIMIT_S = 300
WORDS = "river mountain city council report harbour lighthouse keeper ship storm winter market school road".split()


@pytest.fixture
def collection() -> str:
    """A collection of its own for each test: the server lives for the whole session."""
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(milvus_server: str, collection: str) -> Iterator[MilvusStore]:
    opened = MilvusStore(milvus_server, collection=collection)
    yield opened
    opened.close()


@pytest.fixture
def reopen(milvus_server: str, collection: str) -> Callable[[], MilvusStore]:
    return lambda: MilvusStore(milvus_server, collection=collection)


class TestMilvusServerStore(StoreConformance):
    """Every passage store's duties, met by the Milvus store on a server."""


def write_corpus(folder: Path, files: int, version: int) -> None:
    folder.mkdir(exist_ok=True)
    for number in range(files):
        rng = random.Random(number * 1000 + version)
        sentences = [" ".join(rng.choice(WORDS) for _ in range(10)).capitalize() + f" entry {number}-{version}."]
        (folder / f"doc{number:03d}.txt").write_text(" ".join(sentences * 6) + "\n")


def index_run(corpus: Path, uri: str, collection: str, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "docqa.cli", "index", "--corpus", str(corpus), "--store", uri, *extra]
    environment = {**os.environ, "DOCQA_MILVUS_COLLECTION": collection}
    return subprocess.Popen(
        [*command, *LEXICAL_MODELS, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )


def finished(run: subprocess.Popen[str]) -> dict:
    out, err = run.communicate(timeout=RUN_LIMIT_S)
    assert run.returncode == 0, err
    return json.loads(out)


def stored(uri: str, collection: str) -> dict[str, str]:
    """The stored files and hashes, after checking that every listed document's passages are there."""
    reader = MilvusStore(uri, collection=collection)
    try:
        documents = reader.documents()
        assert reader.count_passages() == sum(info.passages for info in documents)
        assert reader.count_documents() == len(documents)
        return reader.stored_hashes()
    finally:
        reader.close()


def test_two_shards_index_into_the_server_at_once(tmp_path: Path, milvus_server: str, collection: str) -> None:
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 40, 0)
    runs = [index_run(corpus, milvus_server, collection, "--shard", shard) for shard in ("0/2", "1/2")]
    reports = [finished(run) for run in runs]
    files = sorted(path.name for path in corpus.iterdir())
    assert sorted(reports[0]["added"] + reports[1]["added"]) == files
    assert all(Shard(n, 2).owns(source) for n, report in enumerate(reports) for source in report["added"])
    assert sorted(stored(milvus_server, collection)) == files
    reader = MilvusStore(milvus_server, collection=collection)
    try:
        hits = reader.search_bm25("entry 7-0", 3)
        assert reader.passages([(i, s, 1, None) for i, s in hits])[0].chunk.source == "doc007.txt"
    finally:
        reader.close()


def test_runs_killed_at_any_moment_leave_the_server_whole_and_the_next_run_completes(
    tmp_path: Path, milvus_server: str, collection: str
) -> None:
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 60, 0)
    finished(index_run(corpus, milvus_server, collection, "--shard", "0/2"))
    first = stored(milvus_server, collection)
    write_corpus(corpus, 60, 1)  # every file changed
    documents, _ = load_documents(corpus)
    second = {d.source: d.content_hash for d in documents if Shard(0, 2).owns(d.source)}
    assert set(second) == set(first) and all(second[name] != first[name] for name in first)
    for delay in (1.0, 2.5, 4.0, 6.0):  # the interpreter starts, then the run writes for some seconds
        run = index_run(corpus, milvus_server, collection, "--shard", "0/2")
        time.sleep(delay)
        run.send_signal(signal.SIGKILL)
        run.communicate(timeout=RUN_LIMIT_S)
        now = stored(milvus_server, collection)
        assert now in (first, second)  # the old files or the new ones, never a mix
        if now == second:
            break
    finished(index_run(corpus, milvus_server, collection, "--shard", "0/2"))
    assert stored(milvus_server, collection) == second
