"""The watched corpus folder: files added, changed and deleted are indexed within seconds, unchanged
ones are not parsed again, and the watching stops when asked (``docqa index --watch`` by Ctrl+C)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from docqa import watching
from docqa.assistant import Assistant
from docqa.cli import main
from docqa.documents.loading import SourceFile
from docqa.documents.worker import WorkerPool
from docqa.schema import Document, IndexReport
from docqa.watching import affects_corpus, describe_changes, watch_in_background, watch_until_stopped

# A short debounce keeps the tests quick; the deadline leaves room for a busy machine.
FAST = {"debounce_ms": 500, "step_ms": 150}
DEADLINE_S = 15.0
FERRY = "The ferry to Varnholm leaves at noon from the north pier.\n"
FERRY_LATER = "The ferry to Varnholm leaves at four in the afternoon from the south pier.\n"
QUESTION = "When does the ferry to Varnholm leave?"


def lexical_assistant(folder: Path) -> Assistant:
    corpus = folder / "corpus"
    corpus.mkdir(exist_ok=True)
    (corpus / "keeper.txt").write_text("The lighthouse keeper of Varnholm island was Edda Quist.\n")
    return Assistant(corpus_dir=corpus, index_dir=folder / "index", embedding_model="none", reader_model="none")


def wait_for(condition: Callable[[], bool], what: str) -> float:
    """Seconds until ``condition`` holds; fails after ``DEADLINE_S``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < DEADLINE_S, f"not within {DEADLINE_S} s: {what}"
        time.sleep(0.05)
    return time.monotonic() - started


def sources(assistant: Assistant) -> list[str]:
    return sorted(document.source for document in assistant.documents())


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sources parsed, in order, from the time the fixture is set up."""
    seen: list[str] = []
    parse_file: Callable[[WorkerPool, SourceFile], Document] = WorkerPool.parse_file

    def counting(pool: WorkerPool, source_file: SourceFile) -> Document:
        seen.append(source_file.source)
        return parse_file(pool, source_file)

    monkeypatch.setattr(WorkerPool, "parse_file", counting)
    return seen


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Assistant, list[IndexReport]]]:
    """An indexed lexical assistant whose corpus folder is being watched, with the reports of its updates."""
    assistant = lexical_assistant(tmp_path)
    assistant.index()
    reports: list[IndexReport] = []
    stop = threading.Event()
    ready = threading.Event()
    thread = watch_in_background(assistant, stop_event=stop, on_report=reports.append, ready=ready, **FAST)
    assert ready.wait(DEADLINE_S)  # the folder is watched before the first change
    yield assistant, reports
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assistant.close()


def test_added_changed_and_deleted_files_are_indexed_within_seconds(
    watched: tuple[Assistant, list[IndexReport]], parsed: list[str]
) -> None:
    assistant, reports = watched
    corpus = assistant.settings.corpus_dir
    (corpus / "ferry.txt").write_text(FERRY)
    wait_for(lambda: "ferry.txt" in sources(assistant), "the added file is indexed")
    assert "noon" in assistant.ask(QUESTION).text
    assert parsed == ["ferry.txt"]  # the file already indexed was hashed, not parsed again

    (corpus / "ferry.txt").write_text(FERRY_LATER)
    wait_for(lambda: "four" in assistant.ask(QUESTION).text, "the changed file answers")
    assert sources(assistant) == ["ferry.txt", "keeper.txt"] and parsed == ["ferry.txt", "ferry.txt"]

    (corpus / "ferry.txt").unlink()
    wait_for(lambda: sources(assistant) == ["keeper.txt"], "the deleted file leaves the index")
    assert "ferry.txt" not in json.dumps(assistant.ask(QUESTION).to_dict())
    wait_for(lambda: len(reports) == 3, "the last update is reported")  # reported once it is committed
    changes = [(r.added, r.updated, r.removed) for r in reports]
    assert changes == [(["ferry.txt"], [], []), ([], ["ferry.txt"], []), ([], [], ["ferry.txt"])]
    assert describe_changes(reports[0]) == "Corpus changed: added ferry.txt."


def test_hidden_and_other_files_start_no_update(
    watched: tuple[Assistant, list[IndexReport]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assistant, reports = watched
    updates: list[float] = []
    index = assistant.index

    def counted(**options: object) -> IndexReport:
        updates.append(time.monotonic())
        return index(**options)  # type: ignore[arg-type]

    monkeypatch.setattr(assistant, "index", counted)
    corpus = assistant.settings.corpus_dir
    (corpus / ".ferry.txt.swp").write_text("an editor's swap file")
    (corpus / "notes.txt~").write_text("a backup")
    (corpus / "run.sh").write_text("echo")
    time.sleep(1.0)
    assert updates == []
    (corpus / "sub").mkdir()
    (corpus / "sub" / "ferry.txt").write_text(FERRY)
    wait_for(lambda: "sub/ferry.txt" in sources(assistant), "a file in a new folder is indexed")
    wait_for(lambda: bool(reports), "the update is reported")
    assert [r.added for r in reports] == [["sub/ferry.txt"]] and updates


def test_which_changes_concern_the_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    assert affects_corpus(corpus / "a.txt", corpus) and affects_corpus(corpus / "sub" / "b.PDF", corpus)
    assert affects_corpus(corpus / "a folder", corpus)  # a folder deleted takes its files with it
    assert not affects_corpus(corpus / ".a.txt.x1y2.upload", corpus)
    assert not affects_corpus(corpus / ".git" / "a.txt", corpus)
    assert not affects_corpus(corpus / "run.sh", corpus)
    assert not affects_corpus(tmp_path / "elsewhere.txt", corpus)
    assert not affects_corpus(corpus / "index" / "notes.txt", corpus, corpus / "index")
    # an index folder holding the corpus does not hide it
    assert affects_corpus(corpus / "a.txt", corpus, tmp_path)


def test_a_folder_made_after_the_watching_began_or_made_anew_is_indexed(tmp_path: Path) -> None:
    corpus = tmp_path / "later"
    assistant = Assistant(corpus_dir=corpus, index_dir=tmp_path / "index", embedding_model="none", reader_model="none")
    stop = threading.Event()
    thread = watch_in_background(assistant, stop_event=stop, on_report=lambda report: None, **FAST)
    try:
        corpus.mkdir()
        (corpus / "ferry.txt").write_text(FERRY)
        wait_for(lambda: sources(assistant) == ["ferry.txt"], "the new folder's file is indexed")
        shutil.rmtree(corpus)  # the index is kept while the folder is missing (a drive unmounted, say)
        time.sleep(0.5)
        corpus.mkdir()
        (corpus / "keeper.txt").write_text("The lighthouse keeper of Varnholm island was Edda Quist.\n")
        wait_for(lambda: sources(assistant) == ["keeper.txt"], "the folder made anew is watched")
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_index_watch_prints_each_update_and_stops_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assistant = lexical_assistant(tmp_path)
    assistant.index()
    stop = threading.Event()
    statuses: list[int] = []
    thread = threading.Thread(
        target=lambda: statuses.append(watch_until_stopped(assistant, as_json=True, stop_event=stop)), daemon=True
    )
    thread.start()
    time.sleep(0.5)
    (assistant.settings.corpus_dir / "ferry.txt").write_text(FERRY)
    wait_for(lambda: "ferry.txt" in sources(assistant), "the added file is indexed")
    stop.set()
    thread.join(10)
    assert not thread.is_alive() and statuses == [0]
    out, err = capsys.readouterr()
    assert json.loads(out.strip().splitlines()[-1])["added"] == ["ferry.txt"]
    assert "Ctrl+C stops" in err and err.rstrip().endswith("Stopped watching.")


def test_docqa_index_watch_ends_cleanly_on_ctrl_c(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(assistant: Assistant, **_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(watching, "watch_corpus", interrupted)
    lexical_assistant(tmp_path)
    folders = ["--corpus", str(tmp_path / "corpus"), "--index", str(tmp_path / "index")]
    status = main(["index", "--watch", *folders, "--embedding-model", "none", "--reader-model", "none"])
    out, err = capsys.readouterr()
    assert status == 0 and "1 added" in out and "Stopped watching." in err


def test_the_served_app_answers_from_a_file_edited_while_it_runs_and_stops_watching_when_closed(
    tmp_path: Path,
) -> None:
    import socket

    from gradio_client import Client

    from docqa.ui.serve import start

    assistant = lexical_assistant(tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app, indexing = start(assistant, host="127.0.0.1", port=port, auth=None)
    try:
        indexing.join(60)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        (assistant.settings.corpus_dir / "ferry.txt").write_text(FERRY)

        def answer() -> str:
            return client.predict(question=QUESTION, api_name="/ask")["answer"]

        wait_for(lambda: "noon" in answer(), "the served app answers from the added file")
        (assistant.settings.corpus_dir / "ferry.txt").write_text(FERRY_LATER)
        wait_for(lambda: "four" in answer(), "the served app answers from the edited file")
        client.close()
    finally:
        app.close()
    wait_for(lambda: not any(t.name == "docqa-watching" for t in threading.enumerate()), "the watching stops")


@pytest.mark.parametrize(("flags", "watched"), [([], True), (["--no-watch"], False)])
def test_docqa_serve_watches_the_folder_unless_told_not_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: list[str], watched: bool
) -> None:
    import socket

    from docqa.ui import serve

    calls: list[dict] = []
    monkeypatch.setattr(serve, "serve", lambda assistant, **options: calls.append(options))
    lexical_assistant(tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folders = ["--corpus", str(tmp_path / "corpus"), "--index", str(tmp_path / "index"), "--port", str(port)]
    assert main(["serve", *folders, "--embedding-model", "none", "--reader-model", "none", *flags]) == 0
    assert [call["watch"] for call in calls] == [watched]
