"""The citation of an extracted answer: where it is, and the sentences around it to show."""

from __future__ import annotations

from docqa.chunking import sentence_spans
from docqa.schema import Citation, ExtractedAnswer


def cite(answer: ExtractedAnswer) -> Citation:
    """The citation of an answer, with the sentences of its passage that hold it as the snippet."""
    chunk = answer.passage.chunk
    local_start, local_end = answer.start - chunk.start, answer.end - chunk.start
    spans = [(s, e) for s, e in sentence_spans(chunk.text) if s < local_end and e > local_start]
    snippet_start = min([local_start, *(s for s, _ in spans)])
    snippet_end = max([local_end, *(e for _, e in spans)])
    return Citation(
        source=chunk.source,
        title=answer.passage.title,
        date=answer.passage.date,
        start=answer.start, end=answer.end,
        snippet=chunk.text[snippet_start:snippet_end],
        snippet_start=chunk.start + snippet_start,
        location=chunk.location_at(answer.start),
    )
