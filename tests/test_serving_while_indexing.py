"""Questions are answered from the index as it stands while files are parsed, and the app listens at once."""

from __future__ import annotations

import shutil
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from docqa.assistant import Assistant
from docqa.documents.loading import SourceFile
from docqa.documents.worker import WorkerPool
from docqa.schema import Document, IndexReport

CORPUS_DIR = Path(__file__).resolve().parent.parent / "corpus"
SLOW_SOURCE = "slow.txt"
SLOW_TEXT = "The lighthouse keeper of Varnholm island was Edda Quist.\n"
QUESTION = "Which building did Capitol Police order Congressional staff to leave?"
SLOW_QUESTION = "Who was the lighthouse keeper of Varnholm island?"
# The held file waits a minute: an answer within a few seconds did not wait for it, even on a busy machine.
PROMPT_S = 20.0  # the index is held until the test lets it go: waiting for it would never end


@pytest.fixture
def held_parser(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Parsing ``slow.txt`` waits until the event returned is set (a minute at most), like a slow file."""
    release = threading.Event()
    parse_file: Callable[[WorkerPool, SourceFile], Document] = WorkerPool.parse_file

    def held(pool: WorkerPool, source_file: SourceFile) -> Document:
        if source_file.source == SLOW_SOURCE:
            release.wait(60)
        return parse_file(pool, source_file)

    monkeypatch.setattr(WorkerPool, "parse_file", held)
    yield release
    release.set()


def lexical_assistant(folder: Path, *, with_corpus: bool = True) -> Assistant:
    corpus = folder / "corpus"
    if with_corpus:
        shutil.copytree(CORPUS_DIR, corpus)
    else:
        corpus.mkdir()
    return Assistant(corpus_dir=corpus, index_dir=folder / "index", embedding_model="none", reader_model="none")


def index_in_background(assistant: Assistant) -> tuple[threading.Thread, list[IndexReport]]:
    reports: list[IndexReport] = []
    thread = threading.Thread(target=lambda: reports.append(assistant.index()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not assistant.status().indexing:  # the update has begun, and holds the index
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.01)
    return thread, reports


def timed_answer(ask: Callable[[], dict]) -> tuple[dict, float]:
    """The answer of ``ask()`` run on a thread, and its seconds; fails when it takes over a minute."""
    result: list[dict] = []
    started = time.perf_counter()
    thread = threading.Thread(target=lambda: result.append(ask()), daemon=True)
    thread.start()
    thread.join(60)
    assert result, "the question was not answered within a minute"
    return result[0], time.perf_counter() - started


def test_questions_are_answered_from_the_current_index_while_a_slow_file_is_parsed(
    tmp_path: Path, held_parser: threading.Event
) -> None:
    assistant = lexical_assistant(tmp_path)
    assistant.index()
    (tmp_path / "corpus" / SLOW_SOURCE).write_text(SLOW_TEXT)
    thread, reports = index_in_background(assistant)
    for _ in range(3):
        answer, seconds = timed_answer(lambda: assistant.ask(QUESTION).to_dict())
        assert seconds < PROMPT_S and "Cannon building" in answer["answer"]
    meanwhile = assistant.ask(SLOW_QUESTION)  # not indexed yet
    assert SLOW_SOURCE not in [citation.source for citation in meanwhile.citations]
    assert assistant.status().indexing
    held_parser.set()
    thread.join(60)
    assert reports[0].added == [SLOW_SOURCE] and not assistant.status().indexing
    assert assistant.ask(SLOW_QUESTION).citations[0].source == SLOW_SOURCE


def test_a_question_during_the_first_build_is_answered_at_once_and_says_so(
    tmp_path: Path, held_parser: threading.Event
) -> None:
    assistant = lexical_assistant(tmp_path)
    (tmp_path / "corpus" / SLOW_SOURCE).write_text(SLOW_TEXT)
    thread, _ = index_in_background(assistant)
    answer, seconds = timed_answer(lambda: assistant.ask(QUESTION).to_dict())
    assert seconds < PROMPT_S
    assert answer["abstained"] and answer["message"] == "The index is being built: ask again in a moment."
    held_parser.set()
    thread.join(60)
    assert "Cannon building" in assistant.ask(QUESTION).text


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_listens_first_and_answers_while_it_brings_the_index_up_to_date(
    tmp_path: Path, held_parser: threading.Event
) -> None:
    from gradio_client import Client

    from docqa.ui.serve import start

    assistant = lexical_assistant(tmp_path)
    assistant.index()
    (tmp_path / "corpus" / SLOW_SOURCE).write_text(SLOW_TEXT)
    port = free_port()
    app, indexing_thread = start(assistant, host="127.0.0.1", port=port, auth=None)
    try:
        url = f"http://127.0.0.1:{port}/"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
        assert indexing_thread.is_alive() and assistant.status().indexing  # which the status line shows
        client = Client(url, verbose=False)
        client.predict(question="Who?", api_name="/ask")  # the app's first request sets up its queue
        for _ in range(3):
            answer, seconds = timed_answer(lambda: client.predict(question=QUESTION, api_name="/ask"))
            assert seconds < PROMPT_S and "Cannon building" in answer["answer"]
        assert indexing_thread.is_alive()
        held_parser.set()
        indexing_thread.join(60)
        answer = client.predict(question=SLOW_QUESTION, api_name="/ask")
        assert answer["citations"][0]["source"] == SLOW_SOURCE
        assert not assistant.status().indexing
        client.close()
    finally:
        app.close()
