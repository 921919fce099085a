"""List answers: a question that asks for several things, answered by several of the reader's spans.

"Which courses must new starters complete?" has an answer of several items, often in different
sentences or documents, where one span names one of them. When the question asks for several (a
plural after "which" or "what", "who are", "list", "name all") and the reader found more than one
distinct, confident span of the same kind (names, dates, numbers with the same unit, or phrases),
the answer is the list of them, each with its own citation. The items are the reader's spans as
they stand: nothing is written that the documents do not say. Any other question keeps its one span.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from docqa.answer_types import MIN_SERIES, MONTHS, asks_for_several, series
from docqa.schema import ExtractedAnswer
from docqa.text import WORD, holds_words

RELATIVE_SCORE = 0.5  # an item scores at least this share of the best one, besides the threshold
MAX_ITEMS = 8

_DATE = re.compile(
    rf"\b(?:{'|'.join(MONTHS)}|(?:1[6-9]|20)\d\d)\b|\b\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}\b", re.IGNORECASE
)
_QUANTITY = re.compile(r"([£$€¥]?)\s*\d[\d,.]*\s*(%|[^\W\d_]+)?")
_SMALL_WORDS = frozenset("of the and for de van von la le du da y".split())


def answer_kind(text: str) -> str:
    """What an answer names: "date", "number <unit>", "name" (every word capitalised) or "phrase"."""
    if _DATE.search(text):
        return "date"
    quantity = _QUANTITY.search(text)
    if quantity is not None:
        return f"number {quantity.group(1) or (quantity.group(2) or '').lower()}".rstrip()
    words = WORD.findall(text)
    if words and all(word[0].isupper() or word.lower() in _SMALL_WORDS for word in words):
        return "name"
    return "phrase"


def list_items(question: str, answers: Sequence[ExtractedAnswer], threshold: float) -> list[ExtractedAnswer]:
    """The items of a list answer to ``question`` among the reader's confident ``answers`` (best
    first): the best, then each distinct answer of its kind that scores at least ``threshold`` and
    ``RELATIVE_SCORE`` of the best. Empty unless the question asks for several and two or more are found."""
    if len(answers) < 2 or not asks_for_several(question):
        return []
    best = answers[0]
    kind, floor = answer_kind(best.text), max(threshold, best.score * RELATIVE_SCORE)
    items = [best]
    for answer in answers[1:]:
        if len(items) >= MAX_ITEMS:
            break
        if answer.score >= floor and answer_kind(answer.text) == kind and not any(_same(answer, i) for i in items):
            items.append(answer)
    return items if len(items) > 1 else []


def series_items(question: str, sentence: ExtractedAnswer) -> list[ExtractedAnswer]:
    """The things a sentence lists ("fire safety, manual handling and data protection"), each a span
    of it with its score, when ``question`` asks for several; [] otherwise."""
    if not asks_for_several(question):
        return []
    spans = series(sentence.text, question)
    if len(spans) < MIN_SERIES:
        return []
    at = sentence.start
    return [replace(sentence, text=sentence.text[a:b], start=at + a, end=at + b) for a, b in spans]


def joined(texts: Sequence[str]) -> str:
    """The items as one line: "A, B and C"."""
    cleaned = [" ".join(text.split()).strip(" ,;.") for text in texts]
    return cleaned[0] if len(cleaned) == 1 else ", ".join(cleaned[:-1]) + " and " + cleaned[-1]


def _same(first: ExtractedAnswer, second: ExtractedAnswer) -> bool:
    """Two spans name one item: they overlap in one document, or one holds the other's words."""
    same_source = first.passage.chunk.source == second.passage.chunk.source
    overlap = same_source and first.start < second.end and second.start < first.end
    return overlap or holds_words(first.text, second.text)
