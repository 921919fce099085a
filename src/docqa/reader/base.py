"""What every reader is and returns: the ``Reader`` protocol and its ``ReaderResult``.

A reader reports the answers it found with their scores. Whether an answer is confident enough to
be shown is not its decision: the assistant applies the confidence threshold, in one place, so a
per-question threshold can be lower or higher than the default.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from docqa.schema import AnswerMode, ExtractedAnswer, RetrievedPassage
from docqa.text import WORD


@dataclass(frozen=True)
class ReaderResult:
    """What a reader found.

    ``answers`` are best first, each with its score. ``abstained`` is the reader's own judgement
    that the passages hold no answer (an extractive model's no-answer score beats every span, or
    nothing matched); its ``answers`` are then not answers but the closest guesses, kept so that
    callers can show where the reader looked. ``no_answer_score`` is the reader's confidence, in
    [0, 1], that the passages do not answer the question.
    """

    answers: list[ExtractedAnswer]
    abstained: bool
    no_answer_score: float
    truncated_question: bool = False


class Reader(Protocol):
    """Finds answers to a question in retrieved passages."""

    @property
    def mode(self) -> AnswerMode:
        """``"extractive"`` for spans found by a model, ``"sentence"`` for whole sentences."""
        ...

    @property
    def default_threshold(self) -> float:
        """The confidence threshold its scores call for when none is set (chosen on the SQuAD dev files)."""
        ...

    def warm_up(self) -> None:
        """Load what reading needs (once); raises ``ModelLoadError`` when a model cannot be loaded."""
        ...

    def read(
        self, question: str, passages: Sequence[RetrievedPassage], *, every_passage: bool = False
    ) -> ReaderResult:
        """Answers to ``question`` in ``passages``, best first. A reader may stop once the leading
        passages hold a confident answer; ``every_passage`` has it read them all (for every answer
        they hold, as a list answer needs)."""
        ...


def no_answer() -> ReaderResult:
    """The result of a reader that found nothing at all to offer."""
    return ReaderResult(answers=[], abstained=True, no_answer_score=1.0)


def merge_duplicates(answers: Iterable[ExtractedAnswer], limit: int) -> list[ExtractedAnswer]:
    """The best ``limit`` answers, dropping any that overlaps a better one in the same document
    or has the same normalised text."""
    kept: list[ExtractedAnswer] = []
    for answer in sorted(answers, key=lambda a: -a.score):
        if len(kept) == limit:
            break
        if not any(_same_answer(answer, other) for other in kept):
            kept.append(answer)
    return kept


def _same_answer(first: ExtractedAnswer, second: ExtractedAnswer) -> bool:
    overlaps = (first.passage.chunk.source == second.passage.chunk.source
                and first.start < second.end and second.start < first.end)
    return overlaps or _normalised(first.text) == _normalised(second.text)


def _normalised(text: str) -> str:
    words = WORD.findall(text.lower())
    return " ".join(words) if words else text
