"""Records and a stand-in assistant for the chat app's tests (test_ui.py, test_ui_chat.py)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from docqa.assistant import AssistantStatus
from docqa.errors import DocqaError
from docqa.options import AskOptions
from docqa.schema import Answer, Chunk, Citation, Note, RetrievedPassage
from docqa.store.base import DocumentInfo

HOSTILE = 'Hello <script>alert("x")</script> <img src=x onerror="alert(1)"> [link](javascript:alert(2)) $x$'
# Markup the app writes itself; anything else in a reply could only come from a document or a user.
ALLOWED_TAGS = {"mark", "b", "small", "div", "span", "p", "a", "sup", "ol", "ul", "li", "button", "svg", "path"}


def tags_in(markup: str) -> set[str]:
    return {name.lower() for name in re.findall(r"<\s*/?\s*([A-Za-z][\w-]*)", markup)}


def passage(
    source: str, text: str, start: int = 0, score: float = 0.5, date: str | None = "2021-01-06", title: str = "A title"
) -> RetrievedPassage:
    chunk = Chunk(source=source, index=0, text=text, start=start, end=start + len(text), id=1)
    return RetrievedPassage(chunk, score, title, date, bm25_rank=1, dense_rank=None)


def cited_answer(
    snippet: str, answer: str, *, source: str = "000_a.txt", mode: str = "extractive", notes: Sequence[Note] = ()
) -> Answer:
    """An answer whose span ``answer`` sits inside ``snippet``, at document offset 100 + its position."""
    offset = 100
    start = offset + snippet.index(answer)
    citation = Citation(source, "A title", "2021-01-06", start, start + len(answer), snippet, offset)
    return Answer(
        question="q?",
        text=answer,
        score=0.83,
        abstained=False,
        mode=mode,  # type: ignore[arg-type]
        citations=[citation],
        passages=[passage(source, snippet, start=offset)],
        notes=list(notes),
    )


def status(**changes: Any) -> AssistantStatus:
    values: dict[str, Any] = dict(
        embedding_model="emb",
        reader_model="reader",
        embedder_loaded=True,
        reader_loaded=True,
        mode="extractive",
        retrieval="hybrid",
        documents=3,
        passages=22,
        problems=[],
        indexing=False,
    )
    return AssistantStatus(**(values | changes))


class _Settings:
    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir


class _Store:
    def stored_hashes(self) -> dict[str, str]:
        return {"000_a.txt": "0" * 64}

    def has_vectors(self) -> bool:
        return True


class RecordingAssistant:
    """Answers every question with the same span and remembers what it was asked."""

    def __init__(self, index_dir: Path | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.settings = _Settings(index_dir or Path("unused-index"))
        self.store = _Store()

    def ask(self, question: str, history: Any = None, options: AskOptions | None = None, **choices: Any) -> Answer:
        if history is not None:
            choices["history"] = history
        options = (options or AskOptions()).with_values(**choices)
        if not question.strip():
            raise DocqaError("the question is empty")
        call = {name: getattr(options, name) for name in ("top_k", "retrieval", "confidence_threshold")}
        sources = None if options.sources is None else list(options.sources)
        self.calls.append({"question": question, "history": list(options.history), **call, "sources": sources})
        answer = cited_answer("Staff had to leave the Cannon building.", "the Cannon building")
        answer.question = question
        return answer

    def status(self) -> AssistantStatus:
        return status()

    def documents(self) -> list[DocumentInfo]:
        return [DocumentInfo("000_a.txt", "A title", "2021-01-06", 1)]

    def document_text(self, source: str) -> str:
        return " " * 100 + "Staff had to leave the Cannon building."
