"""SQuAD data (versions 1.1 and 2.0): reading the file, its questions, and its paragraphs as documents.

Every paragraph becomes one ``Document`` whose source is ``<article title>/<paragraph number>``,
and every question records the source of the paragraph it was written about.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docqa.errors import DocqaError
from docqa.schema import Chunk, Document, RetrievedPassage

DEFAULT_SEED = 0  # of the sample that a question limit draws


@dataclass(frozen=True)
class SquadQuestion:
    id: str
    question: str
    answers: tuple[str, ...]
    is_impossible: bool
    source: str  # the source of the paragraph the question was written about


@dataclass(frozen=True)
class SquadSet:
    version: str
    documents: list[Document]
    questions: list[SquadQuestion]

    @property
    def has_unanswerable(self) -> bool:
        return self.version.lstrip("v").startswith("2") or any(q.is_impossible for q in self.questions)


def paragraph_source(article_title: str, number: int) -> str:
    return f"{article_title}/{number:03d}"


def paragraph_document(article_title: str, number: int, context: str) -> Document:
    return Document(
        source=paragraph_source(article_title, number),
        text=context,
        title=article_title.replace("_", " "),
        content_hash=hashlib.sha256(context.encode("utf-8")).hexdigest(),
    )


class SquadFormatError(ValueError):
    """Decoded JSON that is not in the SQuAD format; the message says where and why."""


def load_squad(path: str | Path) -> SquadSet:
    """Read a SQuAD 1.1 or 2.0 JSON file; raises DocqaError when it is missing or not in that format."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise DocqaError(f"no such file: {path}") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DocqaError(f"{path} could not be read as JSON: {error}") from error
    except RecursionError as error:
        raise DocqaError(f"{path} could not be read as JSON: it is nested too deeply") from error
    try:
        return parse_squad(raw)
    except SquadFormatError as error:
        raise DocqaError(f"{path} is not in the SQuAD format: {error}") from error
    except (KeyError, TypeError, AttributeError) as error:
        raise DocqaError(f"{path} is not in the SQuAD format (data[].paragraphs[].qas[]): {error!r}") from error


def parse_squad(raw: dict[str, Any]) -> SquadSet:
    """The paragraphs and questions of decoded SQuAD JSON, in file order.

    Raises ``SquadFormatError`` (or KeyError for a missing field) when ``raw`` is not in the SQuAD
    format: every title, context, question and answer must be text, ``is_impossible`` a JSON boolean.
    Paragraphs of articles that share a title are numbered on from the earlier ones, so none merge.
    """
    documents: list[Document] = []
    questions: list[SquadQuestion] = []
    paragraphs_of_title: dict[str, int] = {}
    for a, article in enumerate(_items(_field(_object(raw, "the file"), "data", "the file"), "data")):
        where = f"data[{a}]"
        title = _text(_field(article, "title", where), f"{where}.title")
        for p, paragraph in enumerate(_items(_field(article, "paragraphs", where), f"{where}.paragraphs")):
            at = f"{where}.paragraphs[{p}]"
            context = _text(_field(paragraph, "context", at), f"{at}.context")
            number = paragraphs_of_title.get(title, 0)
            paragraphs_of_title[title] = number + 1
            document = paragraph_document(title, number, context)
            documents.append(document)
            for q, qa in enumerate(_items(_field(paragraph, "qas", at), f"{at}.qas")):
                questions.append(_question(qa, f"{at}.qas[{q}]", document.source))
    return SquadSet(version=str(raw.get("version", "")), documents=documents, questions=questions)


def _question(qa: Any, where: str, source: str) -> SquadQuestion:
    identifier = _field(qa, "id", where)
    if isinstance(identifier, bool) or not isinstance(identifier, str | int):
        raise SquadFormatError(f"{where}.id must be text or a whole number, not {_kind(identifier)}")
    impossible = qa.get("is_impossible", False)
    if not isinstance(impossible, bool):
        raise SquadFormatError(f"{where}.is_impossible must be true or false, not {_kind(impossible)}")
    answers = _items(_field(qa, "answers", where), f"{where}.answers")
    return SquadQuestion(
        id=_text(str(identifier), f"{where}.id"),
        question=_text(_field(qa, "question", where), f"{where}.question"),
        answers=tuple(
            _text(_field(answer, "text", f"{where}.answers[{n}]"), f"{where}.answers[{n}].text")
            for n, answer in enumerate(answers)
        ),
        is_impossible=impossible,
        source=source,
    )


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SquadFormatError(f"{where} must be a JSON object, not {_kind(value)}")
    return value


def _field(value: Any, name: str, where: str) -> Any:
    return _object(value, where)[name]


def _items(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise SquadFormatError(f"{where} must be a list, not {_kind(value)}")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise SquadFormatError(f"{where} must be text, not {_kind(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:  # JSON can escape half a surrogate pair, which is no character
        raise SquadFormatError(
            f"{where} holds a lone surrogate ({value[error.start]!a} at character {error.start}), which is not text"
        ) from error
    return value


def _kind(value: Any) -> str:
    """What ``value`` is, for a message: a short repr of a plain value, the type of a container."""
    if isinstance(value, dict | list):
        return f"a JSON {'object' if isinstance(value, dict) else 'list'}"
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def sample_questions(questions: Sequence[SquadQuestion], limit: int | None, seed: int) -> list[SquadQuestion]:
    """All questions, or ``limit`` of them drawn with ``seed``, kept in file order."""
    if limit is None or limit >= len(questions):
        return list(questions)
    chosen = sorted(random.Random(seed).sample(range(len(questions)), limit))
    return [questions[i] for i in chosen]


def oracle_passage(document: Document) -> RetrievedPassage:
    """The whole gold paragraph as the one passage the reader gets."""
    chunk = Chunk(source=document.source, index=0, text=document.text, start=0, end=len(document.text))
    return RetrievedPassage(chunk=chunk, score=1.0, title=document.title, date=document.date)
