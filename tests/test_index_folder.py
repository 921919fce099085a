"""The index folder under strain: deleted or replaced while served. A replaced database is noticed
and read."""

from __future__ import annotations

import contextlib
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

from docqa.assistant import Assistant
from docqa.cli import main
from docqa.schema import Chunk, Document
from docqa.store import FORMAT_VERSION, IndexSettings, SQLiteStore

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


def sqlite_error(name: str, message: str) -> sqlite3.OperationalError:
    """An error as SQLite raises it, with its error name."""
    error = sqlite3.OperationalError(message)
    error.sqlite_errorname = name  # type: ignore[attr-defined]
    return error


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
