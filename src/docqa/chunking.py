"""Sentence-aware passages sized for the reader, with exact character offsets."""

from __future__ import annotations

import re
from functools import lru_cache

import pysbd


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text``, without surrounding white space."""
    spans = []
    for span in _segmenter().segment(text):
        start, end = span.start, span.end
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            spans.append((start, end))
    return spans


_WORD = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """Word-level token count; subword tokenizers give somewhat more, so budgets leave room."""
    return len(_WORD.findall(text))
