"""Hostile requests to the app, each built here: markup in what a notification quotes, a batch of
uploads with one file too large, and a password guessed again and again."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pytest
from ui_fakes import RecordingAssistant

from docqa.assistant import Assistant
from docqa.ui.chat import Chat, ChatSession
from docqa.ui.corrections import Corrections, tell

LINK = '<a href="http://evil.example/">the <b>Cannon</b> building</a>'


class _MarkupAssistant(RecordingAssistant):
    def document_text(self, source: str) -> str:
        return " " * 100 + f"Staff had to leave {LINK}."


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The notifications shown, as (kind, message)."""
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(gr, "Info", lambda message, **_: seen.append(("info", message)))
    monkeypatch.setattr(gr, "Warning", lambda message, **_: seen.append(("warning", message)))
    return seen


def test_a_selection_full_of_markup_is_shown_as_text(tmp_path: Path, shown: list[tuple[str, str]]) -> None:
    assistant = _MarkupAssistant(tmp_path / "index")
    chat, corrections, session = Chat(assistant), Corrections(assistant), ChatSession()  # type: ignore[arg-type]
    _, number = chat.take(session, "Which building?")
    chat.answer(session, number)
    offset = assistant.document_text("000_a.txt").index(LINK)
    tell(corrections.mark_answer(session, number, 0, json.dumps({"text": LINK, "offset": offset})))
    [(kind, message)] = shown
    assert kind == "info" and "<a" not in message and "<b>" not in message
    assert "&lt;a href=&quot;http://evil.example/&quot;&gt;the &lt;b&gt;Cannon&lt;/b&gt; building&lt;/a&gt;" in message


def test_a_vote_value_full_of_markup_is_shown_as_text(tmp_path: Path, shown: list[tuple[str, str]]) -> None:
    assistant = RecordingAssistant(tmp_path / "index")
    chat, session = Chat(assistant), ChatSession()  # type: ignore[arg-type]
    _, number = chat.take(session, "Which building?")
    chat.answer(session, number)
    message = chat.vote(session, number, '<img src=x onerror="alert(1)">')
    assert "<img" in message  # the reply quotes the value it refused
    tell(message, duration=3)
    [(kind, text)] = shown
    assert kind == "warning" and "<img" not in text and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in text


# ----- the served app: uploads and logins ---------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Assistant]]:
    """The app as docqa serve starts it, with a login (ann / secret), over a folder of one file."""
    from docqa.ui.serve import start

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ferry.txt").write_text("The ferry to Varnholm leaves at noon.\n")
    assistant = Assistant(corpus_dir=corpus, index_dir=tmp_path / "index", embedding_model="none", reader_model="none")
    assistant.index()
    port = _free_port()
    app, indexing = start(assistant, host="127.0.0.1", port=port, auth=("ann", "secret"), watch=False)
    try:
        indexing.join(60)
        yield f"http://127.0.0.1:{port}/", assistant
    finally:
        app.close()


def _login(url: str, password: str) -> int:
    form = urllib.parse.urlencode({"username": "ann", "password": password}).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url + "login", data=form), timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_repeated_wrong_passwords_from_one_client_are_slowed_down(
    served: tuple[str, Assistant], monkeypatch: pytest.MonkeyPatch
) -> None:
    from docqa.ui import logins

    now = [1000.0]
    monkeypatch.setattr(logins, "clock", lambda: now[0])
    url, _ = served
    assert [_login(url, "wrong") for _ in range(logins.FREE_FAILURES)] == [400] * logins.FREE_FAILURES
    answers = [_login(url, "wrong") for _ in range(30)]
    assert answers == [429] * 30  # refused unchecked: no more guesses while the client waits
    assert _login(url, "secret") == 429  # not even the right one
    now[0] += logins.FIRST_WAIT_S
    assert _login(url, "wrong") == 400  # one more guess after the wait, which then doubles
    now[0] += logins.FIRST_WAIT_S
    assert _login(url, "secret") == 429
    now[0] += logins.FIRST_WAIT_S
    assert _login(url, "secret") == 200
    assert _login(url, "wrong") == 400  # a right password ends the wait


def test_a_file_over_the_size_limit_does_not_drop_the_others_of_its_upload(
    served: tuple[str, Assistant], tmp_path: Path
) -> None:
    from gradio_client import Client, handle_file

    from docqa.documents.limits import MAX_FILE_BYTES

    url, assistant = served
    big = tmp_path / "big.txt"
    with big.open("wb") as file:
        file.truncate(MAX_FILE_BYTES + 1)  # one byte over a document's limit
    small = tmp_path / "bus.txt"
    small.write_text("The bus to Varnholm leaves at one.\n")
    client = Client(url, auth=("ann", "secret"), verbose=False)
    try:
        reply = client.predict(files=[handle_file(str(big)), handle_file(str(small))], api_name="/upload")
    finally:
        client.close()
    assert reply["saved"] == ["bus.txt"] and reply["index"]["added"] == ["bus.txt"]
    [(name, reason)] = reply["rejected"]
    assert name == "big.txt" and "the limit is 20 MB" in reason
    assert sorted(d.source for d in assistant.documents()) == ["bus.txt", "ferry.txt"]
