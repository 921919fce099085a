"""Each file's budgets: characters per PDF page and per file, and the time to read it, in a worker process."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pdfs import pdf_bytes

from docqa import indexing
from docqa.documents import limits, pdf_format, worker
from docqa.documents.common import UnreadableFile
from docqa.documents.loading import parse_file, scan_corpus
from docqa.documents.slow_files import RETRY_HINT
from docqa.indexing import FileReading, Indexer
from docqa.store import IndexSettings
from docqa.store.sqlite import SQLiteStore

LEXICAL = IndexSettings(embedding_model="none", chunk_tokens=200, chunk_overlap=1)


def pdf_bomb() -> bytes:
    """Four pages, each a compressed stream of 200,000 text operators: about 9 KB, 800,000 characters."""
    return pdf_bytes([["x"] * 100_000] * 4, compress=True)


def plain_pdf(pages: int, lines: int) -> bytes:
    return pdf_bytes(
        [[f"Line {line} of page {page} says something plain." for line in range(lines)] for page in range(pages)],
        compress=True,
    )


@pytest.fixture
def reading() -> Iterator[FileReading]:
    """Worker processes and caches shared by the updates of a test, stopped at its end."""
    shared = FileReading()
    yield shared
    shared.close()


def scanned(folder: Path) -> dict[str, object]:
    files, skipped = scan_corpus(folder)
    assert skipped == {}
    return {file.source: file for file in files}


def test_a_pdf_bomb_is_refused_at_its_first_page_within_seconds(tmp_path: Path) -> None:
    bomb = pdf_bomb()
    assert len(bomb) < 12_000
    (tmp_path / "bomb.pdf").write_bytes(bomb)
    (source_file,) = scan_corpus(tmp_path)[0]
    started = time.perf_counter()
    with pytest.raises(UnreadableFile) as raised:
        parse_file(source_file)
    assert time.perf_counter() - started < 20
    assert raised.value.reason == f"page 1 has more than {limits.MAX_PAGE_CHARS:,} characters of text"


def test_a_pdf_stops_at_the_characters_of_one_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "long.pdf").write_bytes(plain_pdf(pages=3, lines=100))  # about 4,700 characters a page
    (source_file,) = scan_corpus(tmp_path)[0]
    assert len(parse_file(source_file).text) > 11_000
    monkeypatch.setattr(pdf_format, "MAX_TEXT_CHARS", 10_000)
    with pytest.raises(UnreadableFile, match="its text is longer than 10,000 characters"):
        parse_file(source_file)


def test_the_indexer_skips_a_pdf_bomb_with_the_reason_and_indexes_the_rest(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "bomb.pdf").write_bytes(pdf_bomb())
    (corpus / "notes.txt").write_text("The ferry leaves at noon.\n")
    store = SQLiteStore(tmp_path / "index")
    started = time.perf_counter()
    report = Indexer(store, None, LEXICAL).update(corpus)
    assert time.perf_counter() - started < 60
    assert report.added == ["notes.txt"]
    assert report.skipped == {"bomb.pdf": f"page 1 has more than {limits.MAX_PAGE_CHARS:,} characters of text"}
    assert store.count_passages() == 1


def test_a_file_that_takes_too_long_is_stopped_and_the_next_one_is_read(tmp_path: Path, reading: FileReading) -> None:
    (tmp_path / "slow.pdf").write_bytes(plain_pdf(pages=20, lines=2000))  # seconds of pypdf
    (tmp_path / "quick.txt").write_text("Quick words.\n")
    files = scanned(tmp_path)
    started = time.perf_counter()
    with pytest.raises(UnreadableFile, match=r"reading it took longer than 0.3 s, the limit for one file"):
        reading.pool.parse_file(files["slow.pdf"], timeout=0.3)
    assert time.perf_counter() - started < 10  # not the whole parse
    assert reading.pool.parse_file(files["quick.txt"]).text == "Quick words."  # in a worker started afresh


def test_the_indexer_reports_a_file_over_the_time_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reading: FileReading
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "slow.pdf").write_bytes(plain_pdf(pages=20, lines=2000))
    (corpus / "quick.txt").write_text("Quick words.\n")
    reading.pool.parse_file(scanned(corpus)["quick.txt"])  # the worker is started before the clock runs
    monkeypatch.setattr(worker, "PARSE_SECONDS", 1.0)
    report = Indexer(SQLiteStore(tmp_path / "index"), None, LEXICAL, reading=reading).update(corpus)
    assert report.added == ["quick.txt"]
    assert report.skipped == {"slow.pdf": "reading it took longer than 1 s, the limit for one file" + RETRY_HINT}


def test_parsing_runs_in_another_process(tmp_path: Path, reading: FileReading) -> None:
    (tmp_path / "a.txt").write_text("Words.\n")
    reading.pool.parse_file(scanned(tmp_path)["a.txt"])
    pids = reading.pool.pids()
    assert pids and os.getpid() not in pids
    for pid in pids:
        os.kill(pid, 0)  # alive


def test_a_worker_that_dies_while_reading_is_reported_for_that_file_and_replaced(
    tmp_path: Path, reading: FileReading
) -> None:
    (tmp_path / "slow.pdf").write_bytes(plain_pdf(pages=20, lines=2000))
    (tmp_path / "quick.txt").write_text("Quick words.\n")
    files = scanned(tmp_path)
    reading.pool.parse_file(files["quick.txt"])
    pids = reading.pool.pids()
    assert pids
    killer = threading.Timer(0.5, lambda: [os.kill(pid, 9) for pid in pids])  # as the kernel's OOM killer does
    killer.start()
    with pytest.raises(UnreadableFile, match=r"the worker stopped while reading it \(exit code -9\)"):
        reading.pool.parse_file(files["slow.pdf"])
    killer.join()
    assert reading.pool.parse_file(files["quick.txt"]).text == "Quick words."


def test_a_file_found_unusable_is_not_read_again_while_it_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reading: FileReading
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "bomb.pdf").write_bytes(pdf_bomb())
    (corpus / "notes.txt").write_text("The ferry leaves at noon.\n")
    store = SQLiteStore(tmp_path / "index")
    reason = f"page 1 has more than {limits.MAX_PAGE_CHARS:,} characters of text"
    assert Indexer(store, None, LEXICAL, reading=reading).update(corpus).skipped == {"bomb.pdf": reason}
    parsed: list[str] = []
    real_parse = worker.WorkerPool.parse_file
    monkeypatch.setattr(
        worker.WorkerPool, "parse_file", lambda pool, file: parsed.append(file.source) or real_parse(pool, file)
    )
    (corpus / "more.txt").write_text("The bus leaves at one.\n")
    report = Indexer(store, None, LEXICAL, reading=reading).update(corpus)
    assert parsed == ["more.txt"] and report.added == ["more.txt"] and report.skipped == {"bomb.pdf": reason}
    # What one reading learnt is its own: an indexer with another reads the file again.
    parsed.clear()
    assert Indexer(store, None, LEXICAL).update(corpus).skipped == {"bomb.pdf": reason} and parsed == ["bomb.pdf"]


def test_files_are_split_into_passages_in_the_worker_within_their_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, corpus_texts: list[str], reading: FileReading
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    line = " ".join(" ".join(corpus_texts).split())
    (corpus / "big.txt").write_text((line + " ") * (2**20 // len(line)))  # seconds of sentence splitting
    (corpus / "small.txt").write_text("The ferry leaves at noon.\n")
    reading.pool.parse_file(scanned(corpus)["small.txt"])  # the worker is started before the clock runs
    monkeypatch.setattr(indexing, "SPLIT_SECONDS", 0.5)
    report = Indexer(SQLiteStore(tmp_path / "index"), None, LEXICAL, reading=reading).update(corpus)
    assert report.added == ["small.txt"]
    assert report.skipped == {
        "big.txt": "splitting it into passages took longer than 0.5 s, the limit for one file" + RETRY_HINT
    }
