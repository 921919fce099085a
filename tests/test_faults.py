"""Killing ``docqa index`` at any moment leaves an index that loads; the next run completes the work.

Each test starts real ``python -m docqa.cli index`` processes on a generated corpus of 300 files and
sends SIGKILL at several moments: while the interpreter starts, at delays after the run opened the
database (the documents are then parsed, chunked and written inside the update's transaction), and right
after the commit. The moment a run opens the database is read from /proc, so these tests need Linux.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from docqa.chunking import chunk_document
from docqa.documents import load_documents
from docqa.store import SQLiteStore

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux signals and /proc")

FILES = 300
WORDS = "river mountain city council report harbour lighthouse keeper ship storm winter market school road".split()
RUN_LIMIT_S = 120


def write_file(corpus: Path, number: int, version: int) -> None:
    rng = random.Random(number * 1000 + version)
    sentences = (
        " ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + f" entry {number}-{version}-{line}."
        for line in range(12)
    )
    (corpus / f"doc{number:03d}.txt").write_text(" ".join(sentences) + "\n")


def start_index_run(corpus: Path, index: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "docqa.cli", "index", "--corpus", str(corpus), "--index", str(index)]
    command += ["--embedding-model", "none", "--reader-model", "none", "--json"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + RUN_LIMIT_S
    while not condition() and process.poll() is None:
        assert time.monotonic() < deadline, "the indexing run neither got there nor ended"
        time.sleep(0.002)


def has_open(process: subprocess.Popen[str], path: Path) -> bool:
    with contextlib.suppress(OSError):  # the process may end while its descriptors are listed
        return any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{process.pid}/fd").iterdir())
    return False


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=RUN_LIMIT_S)


def finish(corpus: Path, index: Path) -> dict:
    """Run ``docqa index`` to the end and return its JSON report."""
    process = start_index_run(corpus, index)
    out, err = process.communicate(timeout=RUN_LIMIT_S)
    assert process.returncode == 0, err
    return json.loads(out)


def committed_files(index_folder: Path) -> dict[str, str] | None:
    """The committed sources and content hashes, after checking the index is whole; None if none."""
    with contextlib.closing(SQLiteStore(index_folder)) as index:
        return _checked_files(index)


def _checked_files(index: SQLiteStore) -> dict[str, str] | None:
    manifest = index.manifest()
    if manifest is None:
        return None
    documents = index.documents()
    assert manifest["documents"] == len(documents)
    assert manifest["passages"] == index.count_passages() == sum(info.passages for info in documents)
    assert all(info.passages > 0 for info in documents)
    assert index.search_bm25("harbour lighthouse keeper", 5)
    with contextlib.closing(sqlite3.connect(index.db_path)) as db:
        db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
        positions = db.execute("SELECT count(*), min(position), max(position) FROM chunks GROUP BY source")
        assert all(low == 0 and high == count - 1 for count, low, high in positions)
        rows = db.execute("SELECT c.start, c.end, c.text, d.text FROM chunks c JOIN documents d USING (source)")
        assert all(text == document[start:end] for start, end, text, document in rows)
    return index.stored_hashes()


def corpus_files(corpus: Path) -> dict[str, str]:
    """The sources and content hashes that a complete index of ``corpus`` holds."""
    documents, skipped = load_documents(corpus)
    assert not skipped
    return {document.source: document.content_hash for document in documents}


def corpus_passages(corpus: Path) -> int:
    """The number of passages in a complete index of ``corpus``."""
    documents, _ = load_documents(corpus)
    return sum(len(chunk_document(document, max_tokens=200, overlap_sentences=1)) for document in documents)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for number in range(FILES):
        write_file(folder, number, 0)
    return folder


def test_killed_runs_leave_a_loadable_index_and_the_next_run_completes(tmp_path: Path, corpus: Path) -> None:
    index = tmp_path / "index"
    database = (index / "index.sqlite").resolve()
    first = corpus_files(corpus)

    # The first build: killed while starting, then at moments after its transaction began.
    started = start_index_run(corpus, index)
    time.sleep(0.2)
    kill(started)
    assert committed_files(index) is None
    for delay in (0.0, 0.3, 0.6):  # a full build writes for about a second
        run = start_index_run(corpus, index)
        wait_for(lambda run=run: has_open(run, database), run)
        time.sleep(delay)
        kill(run)
        assert committed_files(index) in (None, first)

    run = start_index_run(corpus, index)
    wait_for(lambda: has_open(run, database), run)
    began = time.monotonic()
    out, err = run.communicate(timeout=RUN_LIMIT_S)
    writing_s = time.monotonic() - began
    assert run.returncode == 0, err
    report = json.loads(out)
    assert report["chunks"] == corpus_passages(corpus)
    assert sorted(report["added"] or report["unchanged"]) == sorted(first)
    assert committed_files(index) == first

    # An update of a third of the files: killed at moments during it, and right after its commit.
    for number in range(0, FILES, 3):
        write_file(corpus, number, 1)
    (corpus / "doc001.txt").unlink()
    write_file(corpus, FILES, 0)
    second = corpus_files(corpus)
    for fraction in (0.05, 0.2, 0.35):  # of a full build's writing: the update has a third of the work
        run = start_index_run(corpus, index)
        wait_for(lambda run=run: has_open(run, database), run)
        time.sleep(fraction * writing_s)
        kill(run)
        assert committed_files(index) in (first, second)
    if committed_files(index) == first:
        report = finish(corpus, index)
        assert (len(report["added"]), len(report["updated"]), len(report["removed"])) == (1, FILES // 3, 1)
    else:
        report = finish(corpus, index)
        assert not (report["added"] or report["updated"] or report["removed"])
    assert report["chunks"] == corpus_passages(corpus)
    assert committed_files(index) == second

    for number in range(1, FILES, 3):
        write_file(corpus, number, 2)
    third = corpus_files(corpus)
    mirror = index / "manifest.json"
    generation = json.loads(mirror.read_text())["generation"]
    run = start_index_run(corpus, index)
    wait_for(lambda: mirror.exists() and json.loads(mirror.read_text() or "{}").get("generation") != generation, run)
    kill(run)
    assert committed_files(index) == third
    report = finish(corpus, index)
    assert sorted(report["unchanged"]) == sorted(third) and not report["added"]


def holds_lock(process: subprocess.Popen[str], path: Path) -> bool:
    """Whether ``process`` holds a lock on the file at ``path``, as /proc/locks tells."""
    with contextlib.suppress(FileNotFoundError):
        inode = path.stat().st_ino
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()  # "1: FLOCK ADVISORY WRITE <pid> <device>:<inode> 0 EOF"; waiters have "->"
            if fields[1] != "->" and fields[4] == str(process.pid) and fields[5].endswith(f":{inode}"):
                return True
    return False


def test_a_second_run_waits_for_the_first_and_both_complete(tmp_path: Path, corpus: Path) -> None:
    index = tmp_path / "index"
    finish(corpus, index)
    for number in range(0, FILES, 2):
        write_file(corpus, number, 1)
    first = start_index_run(corpus, index)
    wait_for(lambda: holds_lock(first, index / "index.lock"), first)
    first.send_signal(signal.SIGSTOP)  # paused in the middle of its update, holding the lock
    try:
        second = start_index_run(corpus, index)
        assert second.stderr is not None
        waiting = next((line for line in second.stderr if "waiting for it to finish" in line), "")
    finally:
        first.send_signal(signal.SIGCONT)
    assert "another indexing run is updating" in waiting
    first_out, first_err = first.communicate(timeout=RUN_LIMIT_S)
    second_out, second_err = second.communicate(timeout=RUN_LIMIT_S)
    assert (first.returncode, second.returncode) == (0, 0), (first_err, second_err)
    updated, unchanged = json.loads(first_out), json.loads(second_out)
    expected = corpus_files(corpus)
    assert len(updated["updated"]) == FILES // 2 and not (updated["added"] or updated["removed"])
    assert sorted(unchanged["unchanged"]) == sorted(expected) and not unchanged["updated"]
    assert updated["chunks"] == unchanged["chunks"] == corpus_passages(corpus)
    assert committed_files(index) == expected
