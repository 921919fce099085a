"""Example questions for an empty chat, drawn from the documents in the index.

A document of the corpus shipped with docqa (known by its content hash) offers questions that the
documents are known to answer, from the project's seed examples. Any other document offers one
question built from its title. Questions take turns between documents, so the examples show the
breadth of the corpus rather than one file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain, zip_longest

from docqa.store import DocumentInfo

MAX_EXAMPLES = 4
TITLE_WORDS = 8

# Content hashes (sha256 of the bytes) of the shipped corpus/ files, with questions each answers.
SHIPPED_QUESTIONS: dict[str, tuple[str, ...]] = {
    "cfe5f52e745f7131c84cbebdeac6376dcdfc1f37ac1231c035d8514d528c1e01": (
        "Which building did Capitol Police order Congressional staff to leave?",
    ),
    "9e2317ced5f6f4660c2aea89c9f13f951ea8c2c68590f0a44fbbce3f7713cfa2": (
        "What did police signs around the district warn of?",
        "What were people at the rally told to leave behind?",
    ),
    "6f5231c75872a8ba7bd477d17064730086942e67522bc306e7880e02a8e1c776": (
        "Who was thought to be a major target of the protestors?",
        "When will Joe Biden be sworn in as president?",
    ),
}


def example_questions(
    documents: Sequence[DocumentInfo], hashes: Mapping[str, str], limit: int = MAX_EXAMPLES
) -> list[str]:
    """Up to ``limit`` questions about ``documents`` (``hashes``: content hash by source)."""
    per_document = [SHIPPED_QUESTIONS.get(hashes.get(d.source, ""), (title_question(d),)) for d in documents]
    taking_turns = chain.from_iterable(zip_longest(*per_document))
    questions: list[str] = []
    for question in taking_turns:
        if question and question not in questions:
            questions.append(question)
    return questions[:limit]


def title_question(document: DocumentInfo) -> str:
    """A question from the title: What is “<its first words>” about?"""
    words = (document.title or document.source).split()
    shown = " ".join(words[:TITLE_WORDS]).rstrip(".,;:") + ("\u2026" if len(words) > TITLE_WORDS else "")
    return f"What is \u201c{shown}\u201d about?"
