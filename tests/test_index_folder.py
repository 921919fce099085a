"""The index folder under strain: deleted or replaced while served, a full disk, a read-only folder,
disk errors. A replaced database is noticed and read; only a damaged one is ever set aside, and any
other failure says what to fix."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from folder_faults import read_only, sqlite_error

import docqa.store.sqlite_folder as sqlite_folder
import docqa.store.sqlite_writer as sqlite_writer
from docqa.assistant import Assistant
from docqa.cli import main
from docqa.errors import IndexLoadError
from docqa.schema import Chunk, Document
from docqa.store import FORMAT_VERSION, IndexSettings, SQLiteStore
from docqa.store.sqlite_schema import database_problem, file_problem

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
NO_MODELS = ["--embedding-model", "none", "--reader-model", "none"]
SONG_QUESTION = "Who sang the song that played before the rally speeches?"
NEW_FILE = "quokka.txt"
NEW_TEXT = "The zebra crossing on Quokka Lane was repainted by Marigold Okafor in 1951.\n"
NEW_QUESTION = "Who repainted the zebra crossing on Quokka Lane?"


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the shipped corpus and its lexical index, built."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(CORPUS, corpus)
    assert main(["index", "--corpus", str(corpus), "--index", str(index), *NO_MODELS]) == 0
    return corpus, index


def cli(corpus: Path, index: Path, *argv: str) -> int:
    return main([argv[0], *argv[1:], "--corpus", str(corpus), "--index", str(index), *NO_MODELS])


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("docqa: error:") and len(err.splitlines()) == 1, err
    return err


def set_aside_files(index: Path) -> list[str]:
    return sorted(path.name for path in index.glob("index.sqlite.*-*"))


# ----- a deleted or replaced database is noticed -----------------------------------------------


def test_a_deleted_index_folder_is_noticed_by_every_thread(folders: tuple[Path, Path]) -> None:
    corpus, index = folders
    with Assistant(corpus, index, embedding_model="none", reader_model="none") as assistant, ThreadPoolExecutor(
        max_workers=1
    ) as other_thread:
        assert "Elton John" in assistant.ask(SONG_QUESTION).text
        assert "Elton John" in other_thread.submit(lambda: assistant.ask(SONG_QUESTION).text).result()
        shutil.rmtree(index)
        (corpus / NEW_FILE).write_text(NEW_TEXT)
        report = assistant.index()
        assert NEW_FILE in report.added and len(report.added) == 4
        for ask in (assistant.ask, lambda q: other_thread.submit(assistant.ask, q).result()):
            answer = ask(NEW_QUESTION)
            assert answer.citations[0].source == NEW_FILE and "Marigold Okafor" in answer.text
        assert len(other_thread.submit(assistant.documents).result()) == 4


def store_with(folder: Path, vectors: np.ndarray, names: list[str]) -> None:
    """Write one document per name, with one passage and the given vector each."""
    documents = [Document(source=name, text=f"{name} text.", title=name, content_hash=name) for name in names]
    chunks = [Chunk(source=name, index=0, text=f"{name} text.", start=0, end=len(name) + 6) for name in names]
    store = SQLiteStore(folder)
    with store.writer(IndexSettings(embedding_model="some-model", chunk_tokens=200, chunk_overlap=1)) as writer:
        writer.add(documents, chunks, vectors)
    store.close()


def test_a_database_replaced_by_another_is_read_with_its_own_vectors(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    store_with(first, np.eye(8, dtype=np.float32)[:2], ["a.txt", "b.txt"])
    store_with(second, np.eye(8, dtype=np.float32)[2:5], ["c.txt", "d.txt", "e.txt"])
    served = SQLiteStore(first)
    query = np.eye(8, dtype=np.float32)[3]
    before = served.search_dense(query, 3)
    assert served.count_passages() == 2 and [p.chunk.source for p in served.passages([(before[0][0], 1, 1, 1)])]
    for name in ("index.sqlite", "vectors-1.faiss"):  # the same generation, another database
        shutil.copy(second / name, tmp_path / name)
        os.replace(tmp_path / name, first / name)
    assert served.count_passages() == 3
    best, score = served.search_dense(query, 1)[0]
    assert served.passages([(best, score, None, 1)])[0].chunk.source == "d.txt" and score == pytest.approx(1.0)
    served.close()


def test_a_rebuild_by_another_process_that_sets_the_database_aside_is_noticed(folders: tuple[Path, Path]) -> None:
    corpus, index = folders
    with Assistant(corpus, index, embedding_model="none", reader_model="none") as assistant:
        assert "Elton John" in assistant.ask(SONG_QUESTION).text  # this thread's connection is open
        with contextlib.closing(sqlite3.connect(index / "index.sqlite")) as db:
            manifest = json.loads(db.execute("SELECT value FROM meta WHERE key = 'manifest'").fetchone()[0])
            manifest["format_version"] = FORMAT_VERSION + 1
            db.execute("UPDATE meta SET value = ? WHERE key = 'manifest'", (json.dumps(manifest),))
            db.commit()
        (corpus / NEW_FILE).write_text(NEW_TEXT)
        command = [sys.executable, "-m", "docqa.cli", "index", "--rebuild", "--corpus", str(corpus), "--index",
                   str(index), *NO_MODELS]
        finished = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert finished.returncode == 0, finished.stderr
        [aside] = set_aside_files(index)
        assert aside.startswith(f"index.sqlite.format-{FORMAT_VERSION + 1}-")
        assert assistant.ask(NEW_QUESTION).citations[0].source == NEW_FILE
        assert len(assistant.documents()) == 4


# ----- I/O and permission errors are not damage ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fix"),
    [
        ("SQLITE_FULL", "is full: free some space"),
        ("SQLITE_IOERR_READ", "failed to read or write: check its free space and health"),
        ("SQLITE_IOERR_SHMSIZE", "failed to read or write"),
        ("SQLITE_READONLY", "can be read and written"),
        ("SQLITE_CANTOPEN", "can be read and written"),
        ("SQLITE_PERM", "can be read and written"),
        ("SQLITE_BUSY", "another program is using it"),
        ("SQLITE_CORRUPT", "docqa index --rebuild"),
        ("SQLITE_NOTADB", "docqa index --rebuild"),
    ],
)
def test_each_database_error_says_its_own_fix(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, name: str, fix: str
) -> None:
    class FailingConnection:
        def execute(self, *args: object) -> None:
            raise sqlite_error(name, "it failed")

        def close(self) -> None:
            pass

    _, index = folders
    monkeypatch.setattr(sqlite_folder, "connect", lambda path: FailingConnection())
    store = SQLiteStore(index)
    for read in (store.manifest, store.documents, lambda: store.search_bm25("keeper", 5)):
        with pytest.raises(IndexLoadError) as raised:
            read()
        assert fix in str(raised.value)
        assert ("--rebuild" in str(raised.value)) == name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))


@pytest.mark.parametrize(
    ("number", "fix"),
    [
        (errno.ENOSPC, "is full: free some space"),
        (errno.EDQUOT, "is full: free some space"),
        (errno.EACCES, "can be read and written"),
        (errno.EROFS, "can be read and written"),
        (errno.EIO, "check the disk"),
    ],
)
def test_each_file_error_says_its_own_fix(tmp_path: Path, number: int, fix: str) -> None:
    message = str(file_problem(tmp_path, OSError(number, os.strerror(number), str(tmp_path / "x")), "updated"))
    assert fix in message and os.strerror(number) in message and "--rebuild" not in message
    assert "rebuild" in str(database_problem(tmp_path, sqlite_error("SQLITE_CORRUPT", "malformed")))


@pytest.mark.parametrize("lock_file", [False, True], ids=["no lock file", "lock file left writable"])
def test_a_rebuild_in_a_read_only_folder_says_so_and_sets_nothing_aside(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], lock_file: bool
) -> None:
    corpus, index = folders
    capsys.readouterr()
    with read_only(index, monkeypatch, lock_file=lock_file):
        assert cli(corpus, index, "index", "--rebuild") == 2
        err = one_line_error(capsys)
        assert "can be read and written" in err and "--rebuild" not in err
        assert cli(corpus, index, "ask", SONG_QUESTION) == 0  # reading needs no writing
        assert "Elton John" in capsys.readouterr().out
    assert set_aside_files(index) == []
    assert cli(corpus, index, "ask", SONG_QUESTION) == 0 and "Elton John" in capsys.readouterr().out


def test_a_full_disk_during_a_rebuild_keeps_the_index_and_says_to_free_space(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus, index = folders
    for number in range(20):
        (corpus / f"long-{number:02d}.txt").write_text(f"Long note {number}, line after line. " * 2000)
    real_connect = sqlite_writer.connect

    def connect_to_a_full_disk(path: Path) -> sqlite3.Connection:
        db = real_connect(path)
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages + 2}")  # what SQLite does when the disk is full
        return db

    monkeypatch.setattr(sqlite_writer, "connect", connect_to_a_full_disk)
    capsys.readouterr()
    assert cli(corpus, index, "index", "--rebuild") == 2
    err = one_line_error(capsys)
    assert "is full: free some space" in err and "--rebuild" not in err
    assert set_aside_files(index) == [] and (index / "index.sqlite").exists()
    assert cli(corpus, index, "ask", SONG_QUESTION) == 0 and "Elton John" in capsys.readouterr().out


def test_a_disk_error_while_checking_the_database_sets_nothing_aside(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus, index = folders

    def failing_check(db: sqlite3.Connection) -> str:
        raise sqlite_error("SQLITE_IOERR_READ", "disk I/O error")

    monkeypatch.setattr(sqlite_folder, "quick_check", failing_check)
    capsys.readouterr()
    assert cli(corpus, index, "index", "--rebuild") == 2
    err = one_line_error(capsys)
    assert "disk I/O error" in err and "failed to read or write" in err and "--rebuild" not in err
    assert set_aside_files(index) == []


def test_a_damaged_fts5_index_in_sound_pages_is_rebuilt_in_place(
    folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    corpus, index = folders
    with contextlib.closing(sqlite3.connect(index / "index.sqlite")) as db:
        db.execute("UPDATE chunks_fts_data SET block = zeroblob(length(block)) WHERE id > 10")
        db.commit()
        assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        with pytest.raises(sqlite3.DatabaseError):
            db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
    assert cli(corpus, index, "index", "--rebuild") == 0
    assert set_aside_files(index) == []
    with contextlib.closing(sqlite3.connect(index / "index.sqlite")) as db:
        db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
    capsys.readouterr()
    assert cli(corpus, index, "ask", SONG_QUESTION) == 0 and "Elton John" in capsys.readouterr().out


def test_a_vector_file_that_cannot_be_written_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(index: object, path: str) -> None:
        raise RuntimeError(f"Error: 'f' failed: could not open {path} for writing: {os.strerror(errno.ENOSPC)}")

    monkeypatch.setattr(sqlite_folder.faiss_vectors.faiss, "write_index", full_disk)
    with pytest.raises(IndexLoadError, match="is full: free some space"):
        store_with(tmp_path / "index", np.eye(8, dtype=np.float32)[:2], ["a.txt", "b.txt"])
    assert SQLiteStore(tmp_path / "index").manifest() is None  # nothing was committed
