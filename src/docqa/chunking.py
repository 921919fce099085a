"""Sentence-aware passages sized for the reader, with exact character offsets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import pysbd

from docqa.errors import DocqaError
from docqa.schema import Chunk, Document

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
_SIMPLE_SENTENCE = re.compile(
    r"\S.*?(?:[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s)|[\u3002\uff01\uff1f]+|(?=\n)|\Z)"
)
_LINE = re.compile(r"[^\n]+")
# pysbd's time grows with the square of a line's length, so it reads the text in pieces this long.
_BLOCK_CHARS = 2000


def _simple_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    matches = _SIMPLE_SENTENCE.finditer(text, start, len(text) if end is None else end)
    spans = (_stripped(text, *match.span()) for match in matches)
    return [(first, last) for first, last in spans if first < last]


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
            pieces.extend(_simple_spans(text, line.start(), line.end()))
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
    pysbd finds the sentences; where its output does not match the text, a simple splitter does.
    """
    prepared = _join_wrapped_lines(text)
    spans: list[Span] = []
    for start, end in _blocks(prepared):
        block = prepared[start:end]
        block_spans = _pysbd_block_spans(block)
        if block_spans is None:
            block_spans = _simple_spans(block)
        spans.extend((start + first, start + last) for first, last in block_spans)
    return spans


_WORD = re.compile(r"\w+|[^\w\s]")
_NON_SPACE = re.compile(r"\S+")
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")


def count_tokens(text: str) -> int:
    """Word-level token count; subword tokenizers give somewhat more, so budgets leave room."""
    return len(_WORD.findall(text))


@dataclass(frozen=True)
class _Unit:
    """A sentence, or a piece of one that is longer than the budget."""

    start: int
    end: int
    tokens: int


def _pieces(text: str, pattern: re.Pattern[str], start: int, end: int) -> Iterator[_Unit]:
    for match in pattern.finditer(text, start, end):
        yield _Unit(match.start(), match.end(), count_tokens(match.group()))


def _pack_pieces(pieces: Iterator[_Unit], max_tokens: int) -> Iterator[_Unit]:
    """Join consecutive pieces while the sum of their tokens stays within ``max_tokens``."""
    current: _Unit | None = None
    for piece in pieces:
        if current is not None and current.tokens + piece.tokens <= max_tokens:
            current = _Unit(current.start, piece.end, current.tokens + piece.tokens)
            continue
        if current is not None:
            yield current
        current = piece
    if current is not None:
        yield current


def _split_long(text: str, unit: _Unit, max_tokens: int) -> Iterator[_Unit]:
    """Pieces of ``unit`` within ``max_tokens``, cut between words, or between tokens in a long word."""
    words: list[_Unit] = []
    for word in _pieces(text, _NON_SPACE, unit.start, unit.end):
        if word.tokens <= max_tokens:
            words.append(word)
        else:
            words.extend(_pack_pieces(_pieces(text, _WORD, word.start, word.end), max_tokens))
    return _pack_pieces(iter(words), max_tokens)


def _units(text: str, max_tokens: int) -> list[_Unit]:
    units = []
    for start, end in sentence_spans(text):
        sentence = _Unit(start, end, count_tokens(text[start:end]))
        if sentence.tokens <= max_tokens:
            units.append(sentence)
        else:
            units.extend(_split_long(text, sentence, max_tokens))
    return units


def _passage_end(text: str, units: list[_Unit], first: int, max_tokens: int) -> int:
    """Index after the last unit of the passage that starts at ``first``."""
    tokens = units[first].tokens
    last = first + 1
    while last < len(units):
        # Joining units never adds tokens (white space between them), so the sum bounds the count.
        if tokens + units[last].tokens > max_tokens:
            break
        if tokens > max_tokens / 2 and _paragraph_break_before(text, units, last):
            break
        tokens += units[last].tokens
        last += 1
    return last


def _paragraph_break_before(text: str, units: list[_Unit], index: int) -> bool:
    return _BLANK_LINE.search(text, units[index - 1].end, units[index].start) is not None


def _next_start(text: str, units: list[_Unit], first: int, end: int, overlap: int, max_tokens: int) -> int:
    """Where the passage after ``units[first:end]`` starts: a few units back, if they fit with the next."""
    if _paragraph_break_before(text, units, end):
        return end
    start, tokens = end, units[end].tokens
    while start - 1 > first and end - start < overlap:
        previous = units[start - 1]
        if tokens + previous.tokens > max_tokens:
            break
        start -= 1
        tokens += previous.tokens
    return start


def chunk_document(document: Document, *, max_tokens: int = 200, overlap_sentences: int = 1) -> list[Chunk]:
    """Split ``document`` into passages of whole sentences of at most ``max_tokens`` tokens each.

    A passage repeats the last ``overlap_sentences`` sentences of the one before, except across a
    paragraph break. A sentence longer than the budget is cut between words.
    """
    if max_tokens < 1:
        raise DocqaError(f"the passage budget must be at least 1 token, not {max_tokens}")
    if overlap_sentences < 0:
        raise DocqaError(f"the sentence overlap cannot be negative ({overlap_sentences})")
    text = document.text
    units = _units(text, max_tokens)
    chunks: list[Chunk] = []
    first = 0
    while first < len(units):
        end = _passage_end(text, units, first, max_tokens)
        start, stop = units[first].start, units[end - 1].end
        chunks.append(Chunk(document.source, len(chunks), text[start:stop], start, stop))
        if end == len(units):
            break
        first = _next_start(text, units, first, end, overlap_sentences, max_tokens)
    return chunks
