"""The lexical reader: the sentence of the retrieved passages that holds most of the question's words.

A sentence is ranked by the share of the question's informative words (stop words left out) that it
holds, each word weighted by how rare it is among the sentences read, so a rare name counts for more
than a common verb. A word also counts as held when it is in the title of the sentence's document
("Warsaw" in an article called Warsaw), in the heading path or sheet the sentence stands under, or
in a heading line above it in its passage; the share is 1 when every informative word is there.
A heading, title or label (a short line without a sentence's end) is never an answer itself:
its words count for the sentences under it. A "sentence" longer than ``MAX_SENTENCE_CHARS`` (a table
or list that no full stop ends) is read line by line, so no answer is longer than a sentence.
Sentences of every retrieved passage compete; a passage further down the search ranking costs
``RANK_PENALTY`` per place, so a near tie goes to the passage that search preferred.

A sentence's score is roughly the chance that it holds the answer: a logistic model of what the
score is made of (``SentenceFeatures``: the weighted share of the question's words it holds, the
plain share in its own text, the question's names and numbers it lacks, its passage's search rank,
its lead over the next sentence, the question's length, whether it lacks the kind of value asked
for), fitted on SQuAD 2.0 questions by
``benchmarks/fit_sentence_chance.py``. The reader abstains on its own when the best sentence lacks
a name or a number of the question (a capitalised word other than the first, or a word with a
digit): a sentence about Warsaw in 1313 does not answer a question about Berlin, nor one about 1314.
A name also counts as held when a label or record line of the sentence's document among the
passages read holds it (a letterhead, a "Re:" line, "Version 2.1 | Effective 1 April 2022"; not a
table's rows): such lines say whom and what the whole document is about, though a passage of its
body rarely repeats them. So does the opening of the document of a passage further in (its
``opening``): a whole name of the question it holds ("Unit 4", never a lone number) counts as the
title's words do.
A question that asks for a number ("how many", "what discount") or a date ("when") is not answered
by a sentence without one besides the question's own (``docqa.answer_types``): such a sentence
ranks as if it held ``KIND_PENALTY`` less, and its score is lower. Where the best sentence lacks a
name of the question, the first one holding every name stands before it if it gives the kind of
value asked for.
Below the confidence threshold the assistant abstains as for any reader.
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, replace

from docqa.answer_types import asked_kind, gives_kind, number_value, range_holds
from docqa.chunking import sentence_spans
from docqa.reader.base import ReaderResult, merge_duplicates, no_answer
from docqa.schema import AnswerMode, ExtractedAnswer, RetrievedPassage
from docqa.text import CELL_SEPARATOR, WORD, folded_words, holds_words, question_terms

SENTENCE_ANSWERS = 3
RANK_PENALTY = 0.1  # of score, per place of the sentence's passage in the search ranking
KIND_PENALTY = 0.2  # of score, for a sentence without the kind of value the question asks for
MAX_SENTENCE_CHARS = 400
LABEL_WORDS = 10  # a line of at most this many words that no punctuation ends is a heading or label

# The logistic model of SentenceFeatures.vector() behind a sentence's score, fitted by
# benchmarks/fit_sentence_chance.py (its output: benchmarks/results/sentence_chance-*.json).
CHANCE_WEIGHTS = (-0.295, 2.197, 0.323, -0.941, -0.675, 0.687, -3.429, -0.75)
CHANCE_BIAS = -1.139

_SENTENCE_END = re.compile(r"[.!?:;\"\u201d\u2019)\]]\s*\Z")


@dataclass(frozen=True)
class _Sentence:
    passage: RetrievedPassage
    rank: int  # of its passage in the search ranking, 0 for the best
    start: int  # offsets in the passage's text
    end: int
    heading: str = ""  # the location and the heading line above it: words it stands under

    @property
    def text(self) -> str:
        return self.passage.chunk.text[self.start : self.end]


class SentenceReader:
    """Picks, among the sentences of all the retrieved passages, those holding most of the question's
    informative words. Words are matched with SQLite FTS5 (``porter unicode61``, the index's own
    tokenizer), so "buildings" matches "building". It needs no model."""

    mode: AnswerMode = "sentence"
    # Its score is a logistic model of how much of the question a sentence holds (SentenceFeatures),
    # fitted to the chance that the sentence holds the answer. At 0.2 it abstains on 44% of the
    # unanswerable questions of the SQuAD 2.0 dev file (35% by the names rule alone) and answers 83%
    # of the answerable ones (88%); lexical features separate the two no better than that.
    default_threshold: float = 0.2

    def warm_up(self) -> None:
        """Nothing to load."""

    def read(
        self, question: str, passages: Sequence[RetrievedPassage], *, every_passage: bool = False
    ) -> ReaderResult:  # every passage is read in any case
        candidates = self.candidates(question, passages)
        if not candidates:
            return no_answer()
        answers = [replace(answer, score=features.chance()) for answer, features in candidates]
        ranked = {id(answer): position for position, answer in enumerate(answers)}
        # merge_duplicates keeps the better of two equal sentences; the order stays the ranking's.
        kept = sorted(merge_duplicates(answers, len(answers)), key=lambda answer: ranked[id(answer)])
        missing = candidates[0][1].missing_names > 0  # a name or number of the question is not there
        return ReaderResult(answers=kept[:SENTENCE_ANSWERS], abstained=missing, no_answer_score=1.0 - kept[0].score)

    def candidates(
        self, question: str, passages: Sequence[RetrievedPassage]
    ) -> list[tuple[ExtractedAnswer, SentenceFeatures]]:
        """Every sentence holding a word of the question, best first, with what its score is made of
        (its answer's ``score`` is the share of the question it holds)."""
        terms = question_terms(question)
        sentences = _sentences(passages)
        if not terms or not sentences:
            return []
        text_rows, title_rows, context_rows, bm25 = _matches(sentences, terms)
        for term, rows in _in_ranges(sentences, terms).items():  # "six years" is in "5 to 9 years"
            text_rows[term] |= rows
            bm25.update({row: bm25.get(row, 0.0) for row in rows})
        names = _names(question, terms)
        for row, opened in enumerate(_opened_names(question, names, sentences)):
            for name in opened:  # as a title's words count: the document is about them
                title_rows[name].add(row)
        kind = asked_kind(question)
        lacking = {row for row, s in enumerate(sentences) if kind and not gives_kind(s.text, kind, question)}
        scored = _score_sentences(sentences, terms, text_rows, title_rows, bm25, lacking)
        found = []
        for position, (row, coverage) in enumerate(scored):
            held = {term for term in terms if row in text_rows[term] or row in title_rows[term]}
            held |= {name for name in names if row in context_rows[name]}
            following = scored[position + 1][1] if position + 1 < len(scored) else 0.0
            features = SentenceFeatures(
                coverage=coverage,
                text_share=sum(row in text_rows[term] for term in terms) / len(terms),
                missing_names=len(names - held) / len(names) if names else 0.0,
                rank=sentences[row].rank,
                margin=coverage - following,
                terms=len(terms),
                lacks_kind=row in lacking,
            )
            found.append((_sentence_answer(sentences[row], coverage), features))
        if kind and found and found[0][1].missing_names:
            # The best sentence lacks a name of the question, so it cannot answer; one further down
            # that holds them all and gives the kind of value asked for can ("Manchester" in a
            # table's row of cities, below a sentence on overnight stays in general).
            whole = next((candidate for candidate in found if not candidate[1].missing_names), None)
            if whole is not None and not whole[1].lacks_kind:
                found.remove(whole)
                found.insert(0, whole)
        return found


@dataclass(frozen=True)
class SentenceFeatures:
    """What says whether a sentence answers the question: the weighted share of the question's words
    it holds (``coverage``), the plain share in its own text, the share of the question's names and
    numbers it lacks, its passage's place in the search, its lead over the next sentence, and how
    many words the question has, and whether it lacks the kind of value the question asks for (a
    number for "how many", a date for "when")."""

    coverage: float
    text_share: float
    missing_names: float
    rank: int
    margin: float
    terms: int
    lacks_kind: bool = False

    def vector(self) -> tuple[float, ...]:
        return (
            self.coverage,
            self.text_share,
            self.missing_names,
            float(self.missing_names > 0),
            float(min(self.rank, 2)),
            self.margin,
            1.0 / self.terms,
            float(self.lacks_kind),
        )

    def chance(self) -> float:
        """Roughly the chance that the sentence holds the answer: a logistic model of ``vector``."""
        logit = CHANCE_BIAS + sum(w * x for w, x in zip(CHANCE_WEIGHTS, self.vector(), strict=True))
        return 0.5 * (1.0 + math.tanh(0.5 * logit))


def _sentences(passages: Sequence[RetrievedPassage]) -> list[_Sentence]:
    """Every sentence of the passages that can be an answer, best passage first, each with the words
    it stands under; a sentence that two overlapping passages of one document share is kept once,
    with the better passage. Headings and labels are not answers: they are the next ones' context."""
    seen: set[tuple[str, int]] = set()
    sentences = []
    for position, passage in enumerate(passages):
        # Words are this reader's evidence: a passage that BM25 ranks higher than the fused search
        # does (a table, which embeds poorly) is read at BM25's place.
        rank = min(position, passage.bm25_rank - 1) if passage.bm25_rank else position
        chunk = passage.chunk
        heading = ""
        for start, end in _readable_spans(chunk.text):
            text = chunk.text[start:end]
            location = chunk.location_at(chunk.start + start) or ""
            if is_label(text) or _same_words(text, passage.title) or _names_its_place(text, location):
                heading = text
                continue
            if (chunk.source, chunk.start + start) not in seen:
                seen.add((chunk.source, chunk.start + start))
                sentences.append(_Sentence(passage, rank, start, end, f"{location} {heading}".strip()))
    return sentences


def _readable_spans(text: str) -> list[tuple[int, int]]:
    """The sentences of ``text``; one longer than ``MAX_SENTENCE_CHARS`` as its lines."""
    spans: list[tuple[int, int]] = []
    for start, end in sentence_spans(text):
        if end - start <= MAX_SENTENCE_CHARS or "\n" not in text[start:end]:
            spans.append((start, end))
            continue
        position = start
        for line in text[start:end].split("\n"):
            if line.strip():
                offset = position + len(line) - len(line.lstrip())
                spans.append((offset, offset + len(line.strip())))
            position += len(line) + 1
    return spans


def is_label(text: str) -> bool:
    """Whether ``text`` reads as a heading, title or label rather than a sentence: one short line
    that no sentence punctuation ends ("Passwords", "E-bike motor and battery") and gives no sum of
    money ("Total due £8,130.00" is a value)."""
    text = text.strip()
    record = ";" in text or ": " in text  # "Band: 5 to 9 years; Days: 28" is a table row, not a label
    record = record or bool(_SUM.search(text))  # "Total due £8,130.00" gives a value
    return "\n" not in text and len(text.split()) <= LABEL_WORDS and not record and not _SENTENCE_END.search(text)


_SUM = re.compile(r"[$\u00a3\u20ac\u00a5]\s?\d[\d,]*(?:\.\d+)?(?![\d.,]*\s*(?:m|bn|k)\b)")


def _names_its_place(text: str, location: str) -> bool:
    """Whether ``text`` is the heading its location is named after (the innermost of its heading
    path, which a long heading's label cuts short with an ellipsis): a heading of any length."""
    innermost = location.rsplit("\u203a", 1)[-1].strip()
    text = " ".join(text.split())
    if innermost.endswith("\u2026"):
        return len(innermost) > 1 and text.startswith(innermost[:-1].rstrip())
    return bool(innermost) and text == innermost


def _same_words(text: str, title: str) -> bool:
    """Whether ``text`` is the title standing as a line (a first sentence taken as the title is not)."""
    same = bool(title) and WORD.findall(text.lower()) == WORD.findall(title.lower())
    return same and not _SENTENCE_END.search(text.strip())


def _document_lines(sentences: list[_Sentence]) -> list[str]:
    """For each sentence, the label and record lines (no sentence's end) of the passages read of its
    document, a table's rows left out: the names a body sentence stands under though it does not
    repeat them (one row of a table does not stand under the names of another)."""
    lines: dict[str, dict[str, None]] = {}
    for passage in dict.fromkeys(sentence.passage for sentence in sentences):
        found = lines.setdefault(passage.chunk.source, {})
        for start, end in _readable_spans(passage.chunk.text):
            line = passage.chunk.text[start:end].strip()
            if not _SENTENCE_END.search(line) and CELL_SEPARATOR not in line:
                found[line] = None
    return ["\n".join(lines[sentence.passage.chunk.source]) for sentence in sentences]


def _score_sentences(
    sentences: list[_Sentence],
    terms: list[str],
    text_rows: dict[str, set[int]],
    title_rows: dict[str, set[int]],
    bm25: dict[int, float],
    lacking: set[int],
) -> list[tuple[int, float]]:
    """(sentence index, score) of the sentences holding a term, best first: a sentence of a passage
    further down the search, or without the kind of value asked for, is ranked as if it held less."""
    weights = {term: _idf(len(text_rows[term]), len(sentences)) for term in terms}
    total = sum(weights.values())

    def coverage(row: int) -> float:
        return sum(weights[term] for term in terms if row in text_rows[term] or row in title_rows[term]) / total

    scores = {row: coverage(row) for row in bm25}
    def ranked(row: int) -> float:
        return scores[row] - RANK_PENALTY * sentences[row].rank - KIND_PENALTY * (row in lacking)

    order = sorted(scores, key=lambda row: (-ranked(row), bm25[row]))
    return [(row, scores[row]) for row in order]


def _matches(
    sentences: list[_Sentence], terms: list[str]
) -> tuple[dict[str, set[int]], dict[str, set[int]], dict[str, set[int]], dict[int, float]]:
    """For each term, the sentences whose text holds it, those whose heading or title does, and those
    whose document's label and record lines do; and the BM25 (lower is better) of each sentence
    whose text or heading holds any term."""
    with closing(sqlite3.connect(":memory:")) as db:
        db.execute("CREATE VIRTUAL TABLE sentences USING fts5(text, heading, title, tokenize='porter unicode61')")
        db.executemany(
            "INSERT INTO sentences(rowid, text, heading, title) VALUES (?, ?, ?, ?)",
            ((row, s.text, s.heading, s.passage.title) for row, s in enumerate(sentences)),
        )
        # Apart, so that they weigh nothing in the sentences' BM25.
        db.execute("CREATE VIRTUAL TABLE lines USING fts5(text, tokenize='porter unicode61')")
        db.executemany("INSERT INTO lines(rowid, text) VALUES (?, ?)", enumerate(_document_lines(sentences)))
        text_rows = {term: set(_scores(db, f'text : "{term}"')) for term in terms}
        title_rows = {term: set(_scores(db, f'{{heading title}} : "{term}"')) for term in terms}
        line_rows = {term: set(_scores(db, f'"{term}"', "lines")) for term in terms}
        # A candidate holds a term itself or under its heading; the document's title alone is not enough.
        bm25 = _scores(db, "{text heading} : (" + " OR ".join(f'"{term}"' for term in terms) + ")")
    return text_rows, title_rows, line_rows, bm25


def _scores(db: sqlite3.Connection, match: str, table: str = "sentences") -> dict[int, float]:
    """row -> bm25 of the rows of ``table`` matching an FTS5 query; lower bm25 is better."""
    query = f"SELECT rowid, bm25({table}) FROM {table} WHERE {table} MATCH ?"
    return dict(db.execute(query, (match,)).fetchall())


def _in_ranges(sentences: list[_Sentence], terms: list[str]) -> dict[str, set[int]]:
    """For each number of the question (in digits or words up to twenty), the sentences that state a
    range holding it without naming it: "5 to 9 years", "10 years or more", "less than 2 years"."""
    found: dict[str, set[int]] = {}
    for term in terms:
        value = number_value(term)
        if value is None:
            continue
        rows = {row for row, sentence in enumerate(sentences) if range_holds(sentence.text, value)}
        if rows:
            found[term] = rows
    return found


def _names(question: str, terms: list[str]) -> set[str]:
    """The question's names and numbers, as terms: capitalised words other than the first, and words
    with a digit."""
    words = WORD.findall(question)
    names = {
        word.lower()
        for position, word in enumerate(words)
        if any(char.isdigit() for char in word) or (position > 0 and word[0].isupper())
    }
    return names & set(terms)


def _opened_names(question: str, names: set[str], sentences: list[_Sentence]) -> list[set[str]]:
    """For each sentence, the names of the question that the opening of its document holds (when its
    passage lies further in): whole names only, "Unit 4" or "Brennan Alloy", never a lone number or
    year, which an opening holds by chance more often than a document is about it."""
    phrases = _name_phrases(question)
    held: dict[str, set[str]] = {}
    for sentence in sentences:
        opening = sentence.passage.opening
        if opening and opening not in held:
            held[opening] = {
                word for phrase in phrases if holds_words(phrase, opening) for word in folded_words(phrase)
            } & names
    return [held.get(sentence.passage.opening, set()) for sentence in sentences]


def _name_phrases(question: str) -> list[str]:
    """The question's names as phrases: runs of capitalised words other than the first word, with a
    number that ends the run ("Unit 4", "Kestrel Moor", "Pip 24")."""
    words = WORD.findall(question)
    phrases: list[str] = []
    run: list[str] = []
    for position, word in enumerate([*words, ""]):
        capitalised = position > 0 and word[:1].isupper() and word.isalpha()
        if capitalised or (run and word.isdigit()):
            run.append(word)
            if not capitalised:
                phrases.append(" ".join(run))
                run = []
            continue
        if run:
            phrases.append(" ".join(run))
        run = []
    return phrases


def _sentence_answer(sentence: _Sentence, score: float) -> ExtractedAnswer:
    chunk = sentence.passage.chunk
    return ExtractedAnswer(
        text=sentence.text,
        score=score,
        passage=sentence.passage,
        start=chunk.start + sentence.start,
        end=chunk.start + sentence.end,
    )


def _idf(matching: int, total: int) -> float:
    return math.log(1.0 + (total - matching + 0.5) / (matching + 0.5))
