"""The per-question records of an evaluation run."""

from __future__ import annotations

from dataclasses import dataclass

from docqa.evaluation.squad import SquadQuestion


@dataclass(frozen=True)
class Reading:
    """The reader's answer to one question from some passages, scored at the run's threshold."""

    prediction: str  # "" when abstained
    abstained: bool
    exact_match: float
    f1: float
    seconds: float
    guess: str = ""  # the best answer's text, also when abstained ("" when the reader found none)
    score: float = 0.0  # the best answer's score
    reader_abstained: bool = True  # the reader's own no-answer decision, whatever the threshold
    no_answer_score: float = 1.0
    logit: float | None = None  # the best answer's start + end logit, from a model reader


@dataclass(frozen=True)
class QuestionResult:
    question: SquadQuestion
    rank: int | None  # of the first passage from the question's paragraph, within RANK_DEPTH
    retrieval_seconds: float
    end_to_end: Reading
    oracle: Reading

    @property
    def total_seconds(self) -> float:
        return self.retrieval_seconds + self.end_to_end.seconds
