"""The citations of an answer: where it is, the sentences around it to show, and the other places
that hold it."""

from __future__ import annotations

import re
from collections.abc import Sequence

from docqa.chunking import sentence_spans
from docqa.schema import Citation, ExtractedAnswer, RetrievedPassage
from docqa.text import folded_words, holds_words


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


MAX_CITATIONS = 3  # the answer's own citation and up to two more places that hold it
MAX_MATCHED_WORDS = 8  # longer answers (sentences) are not looked for word for word in other passages


def backing_citations(
    best: ExtractedAnswer,
    alternatives: Sequence[ExtractedAnswer] = (),
    passages: Sequence[RetrievedPassage] = (),
    *,
    limit: int = MAX_CITATIONS,
) -> list[Citation]:
    """The citation of ``best``, then of up to ``limit`` in all of other places that hold it.

    An answer is more convincing when it can be checked in several places: answers the reader also
    found elsewhere that agree with it (one holds the other's words, as "Elaine Luria" and "Rep.
    Elaine Luria"), then, for a short answer, ``passages`` of other documents that hold its words as
    they stand (pass none for a whole sentence). Nothing is cited that does not hold the answer's words.
    """
    cited = [cite(best)]
    words = folded_words(best.text)
    for alternative in alternatives:
        where = (alternative.passage.chunk.source, alternative.start, alternative.end)
        if len(cited) < limit and holds_words(best.text, alternative.text) and not _overlaps(cited, *where):
            cited.append(cite(alternative))
    if 0 < len(words) <= MAX_MATCHED_WORDS:
        for passage in passages:
            if len(cited) >= limit:
                break
            if any(citation.source == passage.chunk.source for citation in cited):
                continue
            found = _find(best.text, passage)
            if found is not None:
                cited.append(cite(ExtractedAnswer(best.text, best.score, passage, *found)))
    return cited[:limit]


def _overlaps(cited: Sequence[Citation], source: str, start: int, end: int) -> bool:
    return any(c.source == source and c.start < end and start < c.end for c in cited)


def _find(text: str, passage: RetrievedPassage) -> tuple[int, int] | None:
    """The document offsets of ``text`` in the passage, ignoring case and runs of white space."""
    words = [re.escape(word) for word in text.split()]
    if not words:
        return None
    match = re.search(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", passage.chunk.text, re.IGNORECASE)
    if match is None:
        return None
    return passage.chunk.start + match.start(), passage.chunk.start + match.end()
