"""The closest sentence: what a question gets when the model reader has no confident span.

A model reader only adds to the lexical mode: where it abstains but the passages clearly match the
question (the sentence reader finds a sentence that holds the question's names and numbers and
enough of its words), the answer is that sentence, labelled as the closest sentence rather than an
extracted answer, with the reader's best span highlighted inside it when that span lies there.
Only where neither finds support does the assistant abstain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from docqa.reader.base import ReaderResult
from docqa.reader.sentence import SentenceReader
from docqa.schema import ExtractedAnswer, RetrievedPassage

CLOSEST_NOTE = (
    "No confident exact answer was found; this is the closest sentence of the documents, "
    "with the reader's best guess highlighted where it lies inside it."
)


@dataclass(frozen=True)
class ClosestSentence:
    sentence: ExtractedAnswer  # the sentence shown as the answer, with the sentence reader's score
    highlight: ExtractedAnswer  # what the citation highlights: the reader's guess inside it, else the sentence
    # The sentence, then the other sentences the sentence reader would answer with, best first.
    sentences: tuple[ExtractedAnswer, ...] = ()


def closest_sentence(
    question: str, passages: Sequence[RetrievedPassage], reading: ReaderResult, threshold: float
) -> ClosestSentence | None:
    """The sentence of ``passages`` that best matches ``question`` when the sentence reader would
    answer with it at ``threshold``, else None; ``reading`` is the model reader's (abstained) result."""
    found = SentenceReader().read(question, passages)
    if found.abstained or not found.answers or found.answers[0].score < threshold:
        return None
    sentence = found.answers[0]
    inside = [
        guess
        for guess in reading.answers
        if guess.passage.chunk.source == sentence.passage.chunk.source
        and sentence.start <= guess.start
        and guess.end <= sentence.end
    ]
    others = tuple(answer for answer in found.answers[1:] if answer.score >= threshold)
    return ClosestSentence(sentence, inside[0] if inside else sentence, (sentence, *others))
