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


def load_squad(path: str | Path) -> SquadSet:
    """Read a SQuAD 1.1 or 2.0 JSON file; raises DocqaError when it is missing or not in that format."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise DocqaError(f"no such file: {path}") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DocqaError(f"{path} could not be read as JSON: {error}") from error
    try:
        return parse_squad(raw)
    except (KeyError, TypeError, AttributeError) as error:
        raise DocqaError(f"{path} is not in the SQuAD format (data[].paragraphs[].qas[]): {error!r}") from error


def parse_squad(raw: dict[str, Any]) -> SquadSet:
    """The paragraphs and questions of decoded SQuAD JSON, in file order.

    Raises KeyError, TypeError or AttributeError when ``raw`` is not in the SQuAD format.
    """
    documents: list[Document] = []
    questions: list[SquadQuestion] = []
    for article in raw["data"]:
        for number, paragraph in enumerate(article["paragraphs"]):
            document = paragraph_document(article["title"], number, paragraph["context"])
            documents.append(document)
            questions.extend(
                SquadQuestion(
                    id=str(qa["id"]),
                    question=qa["question"],
                    answers=tuple(answer["text"] for answer in qa["answers"]),
                    is_impossible=bool(qa.get("is_impossible", False)),
                    source=document.source,
                )
                for qa in paragraph["qas"]
            )
    return SquadSet(version=str(raw.get("version", "")), documents=documents, questions=questions)


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
