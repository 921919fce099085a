"""Hostile requests to the app, each built here: markup in what a notification quotes, a batch of
uploads with one file too large, and a password guessed again and again."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import pytest
from ui_fakes import RecordingAssistant

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
