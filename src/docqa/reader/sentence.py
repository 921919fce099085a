"""The lexical reader: the sentences of the best passage that share most words with the question."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from contextlib import closing

from docqa.chunking import sentence_spans
from docqa.reader.base import ReaderResult, merge_duplicates, no_answer
from docqa.schema import AnswerMode, ExtractedAnswer, RetrievedPassage
from docqa.text import question_terms

SENTENCE_ANSWERS = 3

class SentenceReader:
    """Picks the sentences of the best passage that share most words with the question.

    Words are matched with SQLite FTS5 (``porter unicode61``, the index's own tokenizer), so
    "buildings" matches "building". A sentence's score is the fraction of the question's words it
    contains, each word weighted by how rare it is among the passage's sentences; sentences are
    ordered by that score, then by BM25. It needs no model.
    """

    mode: AnswerMode = "sentence"

    def warm_up(self) -> None:
        """Nothing to load."""

    def read(self, question: str, passages: Sequence[RetrievedPassage]) -> ReaderResult:
        if not passages:
            return no_answer()
        passage = passages[0]
        spans = sentence_spans(passage.chunk.text)
        terms = question_terms(question)
        ranked = _rank_sentences([passage.chunk.text[start:end] for start, end in spans], terms)
        if not ranked:
            return no_answer()
        sentences = (_sentence_answer(passage, spans[row], score) for row, score in ranked)
        answers = merge_duplicates(sentences, SENTENCE_ANSWERS)  # a repeated sentence is shown once
        return ReaderResult(answers=answers, abstained=False, no_answer_score=1.0 - answers[0].score)


def _sentence_answer(passage: RetrievedPassage, span: tuple[int, int], score: float) -> ExtractedAnswer:
    start, end = span
    return ExtractedAnswer(
        text=passage.chunk.text[start:end],
        score=score,
        passage=passage,
        start=passage.chunk.start + start,
        end=passage.chunk.start + end,
    )


def _rank_sentences(sentences: list[str], terms: list[str]) -> list[tuple[int, float]]:
    """(sentence index, score) of the sentences that contain a term, best first."""
    if not sentences or not terms:
        return []
    with closing(sqlite3.connect(":memory:")) as db:
        db.execute("CREATE VIRTUAL TABLE sentences USING fts5(text, tokenize='porter unicode61')")
        db.executemany("INSERT INTO sentences(rowid, text) VALUES (?, ?)", enumerate(sentences))
        matches = {term: _matching_rows(db, f'"{term}"') for term in terms}
        bm25 = dict(_matching_scores(db, " OR ".join(f'"{term}"' for term in terms)))
    weights = {term: _idf(len(rows), len(sentences)) for term, rows in matches.items()}
    total = sum(weights.values())
    coverage = {
        row: sum(weights[term] for term, rows in matches.items() if row in rows) / total for row in bm25
    }
    return sorted(coverage.items(), key=lambda item: (-item[1], bm25[item[0]]))


def _matching_rows(db: sqlite3.Connection, match: str) -> set[int]:
    return {row for row, _ in _matching_scores(db, match)}


def _matching_scores(db: sqlite3.Connection, match: str) -> list[tuple[int, float]]:
    """(row, bm25) of the sentences matching an FTS5 query; lower bm25 is better."""
    query = "SELECT rowid, bm25(sentences) FROM sentences WHERE sentences MATCH ?"
    return db.execute(query, (match,)).fetchall()


def _idf(matching: int, total: int) -> float:
    return math.log(1.0 + (total - matching + 0.5) / (matching + 0.5))
