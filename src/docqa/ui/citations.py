"""Which passages back an answer: its own citation, then others that say the same thing.

The assistant cites the one span it answered with. An answer is more convincing when it can be
checked in several places, so the chat app adds up to two more citations: answers the reader
also found elsewhere that agree with it (one holds the other's words, as "Elaine Luria" and
"Rep. Elaine Luria"), and, for a short extracted answer, retrieved passages of other documents
that hold its words as they stand. Nothing is cited that does not hold the answer's words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from docqa.citation import cite
from docqa.schema import Answer, Citation, ExtractedAnswer, RetrievedPassage
from docqa.text import WORD

MAX_CITATIONS = 3
MAX_MATCHED_WORDS = 8  # longer answers (sentences) are not looked for word for word in other passages



def answer_citations(answer: Answer, limit: int = MAX_CITATIONS) -> list[Citation]:
    """The answer's citations, then up to ``limit`` in all of other places that hold the answer."""
    cited = list(answer.citations)
    if answer.abstained or not cited or len(cited) >= limit:
        return cited[:limit]
    words = _words(answer.text)
    for alternative in answer.alternatives:
        where = (alternative.passage.chunk.source, alternative.start, alternative.end)
        if len(cited) < limit and _agree(words, _words(alternative.text)) and not _overlaps(cited, *where):
            cited.append(cite(alternative))
    if answer.mode == "extractive" and 0 < len(words) <= MAX_MATCHED_WORDS:
        for passage in answer.passages:
            if len(cited) >= limit:
                break
            if any(citation.source == passage.chunk.source for citation in cited):
                continue
            found = _find(answer.text, passage)
            if found is not None:
                cited.append(cite(ExtractedAnswer(answer.text, answer.score, passage, *found)))
    return cited


def _words(text: str) -> tuple[str, ...]:
    return tuple(word.casefold() for word in WORD.findall(text))


def _agree(first: Sequence[str], second: Sequence[str]) -> bool:
    """One word sequence holds the other, word for word and in order."""
    if not first or not second:
        return False
    shorter, longer = sorted((tuple(first), tuple(second)), key=len)
    return any(longer[i : i + len(shorter)] == shorter for i in range(len(longer) - len(shorter) + 1))


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
