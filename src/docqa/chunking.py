"""Sentence-aware passages sized for the reader, with exact character offsets."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import pysbd

from docqa.errors import DocqaError
from docqa.schema import Chunk, Document, Location
from docqa.text import CELL_SEPARATOR, has_words

Span = tuple[int, int]


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False)


# A line break inside a sentence (hard-wrapped text, PDF lines): the next line goes on in lower case.
_SOFT_LINE_BREAK = re.compile(r"(?<=\S)\n(?=[^\W\d_])")


def _join_wrapped_lines(text: str) -> str:
    """``text`` with soft line breaks turned into spaces; same length, so offsets still hold."""
    return _SOFT_LINE_BREAK.sub(lambda match: " " if text[match.end()].islower() else "\n", text)


def _skip_space(text: str, position: int, end: int) -> int:
    while position < end and text[position].isspace():
        position += 1
    return position


def _stripped(text: str, start: int, end: int) -> Span:
    start = _skip_space(text, start, end)
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _aligned_spans(text: str, sentences: list[str]) -> list[Span] | None:
    """Place ``sentences`` in ``text`` in order, or None where they are not its exact pieces."""
    spans = []
    cursor = 0
    for sentence in sentences:
        sentence = sentence.strip()
        if not sentence:
            continue
        start = _skip_space(text, cursor, len(text))
        if not text.startswith(sentence, start):
            return None
        cursor = start + len(sentence)
        spans.append((start, cursor))
    if text[cursor:].strip():
        return None
    return spans


# A sentence runs to a final stop followed by white space, to a CJK stop, or to the end of its line.
# Each stop run is tried once, from its first character (possessive runs, and the look-behind skips
# the rest of a run), so finding sentence ends stays linear even in a line of nothing but dots.
_STOPS = ".!?\u2026"
_CLOSERS = "\"'\u201d\u2019)\\]"
_CJK_STOPS = "\u3002\uff01\uff1f"
_END_HERE = re.compile(rf"[{_STOPS}]++[{_CLOSERS}]*+(?=\s)|[{_CJK_STOPS}]++|(?=\n)")
_END_AFTER = re.compile(rf"(?<![{_STOPS}])[{_STOPS}]++[{_CLOSERS}]*+(?=\s)|[{_CJK_STOPS}]++|(?=\n)")
_LINE = re.compile(r"[^\n]+")
# pysbd's time grows with the square of a line's length, so it reads the text in pieces this long.
_BLOCK_CHARS = 2000


def _simple_end(text: str, start: int, end: int) -> int:
    """Where the simple sentence that starts at ``text[start]`` (not white space) ends, ``end`` at most."""
    # A stop run right after the first character may continue one that character begins.
    match = _END_HERE.match(text, start + 1, end) or _END_AFTER.search(text, start + 1, end)
    return end if match is None else match.end()


def _simple_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    end = len(text) if end is None else end
    spans: list[Span] = []
    position = _skip_space(text, start, end)
    while position < end:
        stop = _simple_end(text, position, end)
        spans.append(_stripped(text, position, stop))
        position = _skip_space(text, stop, end)
    return spans


def _cut_long(text: str, span: Span, limit: int) -> Iterator[Span]:
    """``span`` in pieces of at most ``limit`` characters, cut at the last white space that allows it."""
    start, end = span
    while end - start > limit:
        cut = max(text.rfind(" ", start + 1, start + limit), text.rfind("\t", start + 1, start + limit))
        cut = cut if cut > start else start + limit
        yield _stripped(text, start, cut)
        start = _skip_space(text, cut, end)
    if start < end:
        yield start, end


def _packed_spans(spans: list[Span], limit: int) -> Iterator[Span]:
    """Runs of consecutive ``spans``, each run no longer than ``limit`` unless one span is."""
    current: Span | None = None
    for start, end in spans:
        if current is not None and end - current[0] <= limit:
            current = (current[0], end)
            continue
        if current is not None:
            yield current
        current = (start, end)
    if current is not None:
        yield current


def _blocks(text: str) -> Iterator[Span]:
    """Pieces of ``text`` cut at line breaks, or at simple sentence ends inside a very long line."""
    pieces: list[Span] = []
    for line in _LINE.finditer(text):
        if line.end() - line.start() <= _BLOCK_CHARS:
            pieces.append(line.span())
        else:
            for sentence in _simple_spans(text, line.start(), line.end()):
                pieces.extend(_cut_long(text, sentence, _BLOCK_CHARS))
    return _packed_spans(pieces, _BLOCK_CHARS)


def _pysbd_block_spans(block: str) -> list[Span] | None:
    if not block.strip():
        return []
    try:
        # Only the processor is used: the segmenter's own span search keeps state on a shared object.
        sentences = _segmenter().processor(block).process()
    except Exception:  # pysbd is a large set of regex rules; any failure sends us to the simple splitter
        return None
    return _aligned_spans(block, sentences)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text``, without surrounding white space.

    Spans are ordered, do not overlap, and together hold every non-space character of ``text``.
    pysbd finds the sentences; where its output does not match the text, a simple splitter does. A
    line that holds a table row's record (cells set apart by ``CELL_SEPARATOR``) is one sentence.
    """
    prepared = _join_wrapped_lines(text)
    spans: list[Span] = []
    for start, end in _blocks(prepared):
        block = prepared[start:end]
        block_spans = _pysbd_block_spans(block)
        if block_spans is None:
            block_spans = _simple_spans(block)
        spans.extend((start + first, start + last) for first, last in block_spans)
    return _whole_records(text, spans) if CELL_SEPARATOR in text else spans


_RECORD_LINE = re.compile(rf"[^\n]*{re.escape(CELL_SEPARATOR)}[^\n]*")


def _whole_records(text: str, spans: list[Span]) -> list[Span]:
    """``spans`` with those inside one line that holds a table row's record (cells set apart by
    ``CELL_SEPARATOR``) made one: a row is read and shown whole, never half of it."""
    merged: list[Span] = []
    lines = iter(_RECORD_LINE.finditer(text))
    line = next(lines, None)
    for start, end in spans:
        while line is not None and line.end() <= start:
            line = next(lines, None)
        if line is not None and merged and line.start() <= merged[-1][0] and end <= line.end():
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


_WORD = re.compile(r"\w+|[^\w\s]")
_NON_SPACE = re.compile(r"\S+")
_WORD_CHARS = re.compile(r"\w+")
_TWO_WORD_CHARS = re.compile(r"\w\w")
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
# Prose averages about five characters a token; twenty leaves room for long names and numbers.
CHARS_PER_TOKEN = 20


def count_tokens(text: str) -> int:
    """Word-level token count; subword tokenizers give somewhat more, so budgets leave room."""
    return len(_WORD.findall(text))


class _Unit(NamedTuple):
    """A sentence, or a piece of one that is longer than the budget."""

    start: int
    end: int
    tokens: int


@dataclass(frozen=True)
class _Budget:
    """The most tokens, and characters, of one passage."""

    tokens: int
    chars: int


@lru_cache(maxsize=8)
def _token_run(tokens: int) -> re.Pattern[str]:
    """Up to ``tokens`` tokens of a word, taken in one match; no token can end sooner, so nothing backtracks."""
    return re.compile(rf"(?:\w++|[^\w\s]){{1,{tokens}}}+")


def _token_runs(text: str, start: int, end: int, budget: _Budget) -> Iterator[_Unit]:
    """``text[start:end]``, one word, in runs of whole tokens within ``budget``; a token longer than
    a passage is cut into pieces that fit."""
    pattern = _token_run(budget.tokens)
    position = start
    while position < end:
        match = pattern.match(text, position, min(end, position + budget.chars))
        assert match is not None  # a word has no white space, so every character starts a token
        cut = match.end()
        first = _WORD_CHARS.match(text, position, cut + 1)
        if cut < end and (first is None or first.end() < cut) and _TWO_WORD_CHARS.match(text, cut - 1):
            # The character budget ended the run inside a token after the first: leave it to the next run.
            while _WORD_CHARS.match(text, cut - 1, cut):
                cut -= 1
        yield _Unit(position, cut, count_tokens(text[position:cut]))
        position = cut


def _pack_pieces(pieces: Iterator[_Unit], budget: _Budget) -> Iterator[_Unit]:
    """Join consecutive pieces while their tokens and characters stay within ``budget``."""
    current: _Unit | None = None
    for piece in pieces:
        if (
            current is not None
            and current.tokens + piece.tokens <= budget.tokens
            and piece.end - current.start <= budget.chars
        ):
            current = _Unit(current.start, piece.end, current.tokens + piece.tokens)
            continue
        if current is not None:
            yield current
        current = piece
    if current is not None:
        yield current


def _split_long(text: str, unit: _Unit, budget: _Budget) -> Iterator[_Unit]:
    """Pieces of ``unit`` within ``budget``, cut between words, or between tokens in a long word."""
    words: list[_Unit] = []
    for match in _NON_SPACE.finditer(text, unit.start, unit.end):
        word = _Unit(match.start(), match.end(), count_tokens(match.group()))
        if word.tokens <= budget.tokens and word.end - word.start <= budget.chars:
            words.append(word)
        else:
            words.extend(_pack_pieces(_token_runs(text, word.start, word.end, budget), budget))
    return _pack_pieces(iter(words), budget)


def _units(text: str, budget: _Budget) -> list[_Unit]:
    units = []
    for start, end in sentence_spans(text):
        sentence = _Unit(start, end, count_tokens(text[start:end]))
        if sentence.tokens <= budget.tokens and end - start <= budget.chars:
            units.append(sentence)
        else:
            units.extend(_split_long(text, sentence, budget))
    return units


def _passage_end(text: str, units: list[_Unit], first: int, budget: _Budget, ends: list[int]) -> int:
    """Index after the last unit of the passage that starts at ``first``; ``ends[i]`` is the index
    after the last unit of the paragraph that holds unit ``i``."""
    tokens = units[first].tokens
    last = first + 1
    while last < len(units):
        # Joining units never adds tokens (white space between them), so the sum bounds the count.
        if tokens + units[last].tokens > budget.tokens or units[last].end - units[first].start > budget.chars:
            break
        if _paragraph_break_before(text, units, last):
            if tokens > budget.tokens / 2:
                break
            # A paragraph (a table row, a heading, a list item) that fits a passage of its own is never
            # split: it starts the next passage rather than end this one half-way.
            end = ends[last]
            paragraph = sum(unit.tokens for unit in units[last:end])
            whole = _Unit(units[last].start, units[end - 1].end, paragraph)
            fits_alone = paragraph <= budget.tokens and whole.end - whole.start <= budget.chars
            if fits_alone and (tokens + paragraph > budget.tokens or whole.end - units[first].start > budget.chars):
                break
        tokens += units[last].tokens
        last += 1
    if last < len(units) and last - 1 > first and _is_heading(text, units, last - 1, ends):
        return last - 1  # a heading goes with the text under it, into the next passage
    return last


# A paragraph of one line of at most this many tokens, with no final stop, reads as a heading.
_HEADING_TOKENS = 12


def _is_heading(text: str, units: list[_Unit], index: int, ends: list[int]) -> bool:
    unit = units[index]
    return (
        ends[index] == index + 1
        and _paragraph_break_before(text, units, index)
        and unit.tokens <= _HEADING_TOKENS
        and "\n" not in text[unit.start : unit.end]
        and text[unit.end - 1].isalnum()
    )


def _paragraph_ends(text: str, units: list[_Unit]) -> list[int]:
    """For each unit, the index after the last unit of its paragraph (paragraphs end at blank lines)."""
    ends = [len(units)] * len(units)
    for index in range(len(units) - 1, 0, -1):
        ends[index - 1] = index if _paragraph_break_before(text, units, index) else ends[index]
    return ends


def _paragraph_break_before(text: str, units: list[_Unit], index: int) -> bool:
    return _BLANK_LINE.search(text, units[index - 1].end, units[index].start) is not None


def _next_start(text: str, units: list[_Unit], first: int, end: int, overlap: int, budget: _Budget) -> int:
    """Where the passage after ``units[first:end]`` starts: a few units back, if they fit with the next."""
    if _paragraph_break_before(text, units, end):
        return end
    start, tokens = end, units[end].tokens
    while start - 1 > first and end - start < overlap:
        previous = units[start - 1]
        if tokens + previous.tokens > budget.tokens or units[end].end - previous.start > budget.chars:
            break
        start -= 1
        tokens += previous.tokens
    return start


def _passage_locations(locations: tuple[Location, ...], start: int, end: int) -> tuple[Location, ...]:
    """The (offset, label) pairs of ``locations`` in force within ``[start, end)``: the one that holds at
    ``start`` and those that begin inside; () where none names a place."""
    first = max(bisect.bisect_right(locations, start, key=lambda pair: pair[0]) - 1, 0)
    last = bisect.bisect_left(locations, end, key=lambda pair: pair[0])
    kept = tuple(locations[first:last])
    return kept if any(label for _, label in kept) else ()


def chunk_document(document: Document, *, max_tokens: int = 200, overlap_sentences: int = 1) -> list[Chunk]:
    """Split ``document`` into passages of whole sentences of at most ``max_tokens`` tokens each.

    A passage repeats the last ``overlap_sentences`` sentences of the one before, except across a
    paragraph break. A paragraph that fits in a passage is never split between two: a passage ends
    before it rather than take part of it (a table row, a heading, a list item stays whole), and a
    passage never ends with a heading (a short one-line paragraph with no final stop). A
    sentence longer than the budget is cut between words. A passage also holds at most
    ``CHARS_PER_TOKEN`` characters a token of its budget, so that text of few, very long
    tokens (a line of letters without spaces) still makes passages of a readable size. The time
    taken grows in proportion to the length of the text.
    """
    if max_tokens < 1:
        raise DocqaError(f"the passage budget must be at least 1 token, not {max_tokens}")
    if overlap_sentences < 0:
        raise DocqaError(f"the sentence overlap cannot be negative ({overlap_sentences})")
    text = document.text
    budget = _Budget(max_tokens, max_tokens * CHARS_PER_TOKEN)
    units = _units(text, budget)
    ends = _paragraph_ends(text, units)
    chunks: list[Chunk] = []
    first = 0
    while first < len(units):
        end = _passage_end(text, units, first, budget, ends)
        start, stop = units[first].start, units[end - 1].end
        if has_words(text[start:stop]):  # a run of dots or symbols only skews the BM25 statistics
            locations = _passage_locations(document.locations, start, stop)
            chunks.append(Chunk(document.source, len(chunks), text[start:stop], start, stop, locations=locations))
        if end == len(units):
            break
        first = _next_start(text, units, first, end, overlap_sentences, budget)
    return chunks
