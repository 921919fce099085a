"""Held-out figures before and after training, measured as ``docqa eval`` measures its oracle
reading: each question read from its own context by the extractive reader loaded from the model
folder, answered only when the reader does not abstain and its best answer reaches the threshold,
and scored with the official SQuAD 2.0 metrics (``docqa.evaluation``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from docqa.evaluation.metrics import answer_scores
from docqa.evaluation.results import QuestionResult
from docqa.evaluation.run import read_and_score
from docqa.evaluation.summary import answer_summary
from docqa.reader import ExtractiveReader, ReaderResult
from docqa.schema import Chunk, RetrievedPassage
from docqa.training.data import Example


class _ReaderOnly:
    """What ``read_and_score`` asks of an assistant: ``read`` with no threshold of its own."""

    def __init__(self, reader: ExtractiveReader) -> None:
        self.reader = reader

    def read(self, question: str, passages: Sequence[RetrievedPassage], **_: Any) -> ReaderResult:
        return self.reader.read(question, passages)


def context_passage(example: Example) -> RetrievedPassage:
    chunk = Chunk(source=example.question.source, index=0, text=example.context, start=0, end=len(example.context))
    return RetrievedPassage(chunk=chunk, score=1.0, title=example.title)


def measure(model: str | Path, examples: Sequence[Example], threshold: float | None, **options: Any) -> dict[str, Any]:
    """The figures of ``measure_readings`` (which takes the same arguments), without the readings."""
    return measure_readings(model, examples, threshold, **options)[0]


def measure_readings(
    model: str | Path,
    examples: Sequence[Example],
    threshold: float | None,
    *,
    max_seq_length: int = 384,
    stride: int = 128,
    label: str = "measuring",
    show_progress: bool | None = None,
) -> tuple[dict[str, Any], list[QuestionResult]]:
    """EM and F1 (fractions) of the reader in ``model`` on ``examples``, overall and, where some
    have no answer, for the answerable and unanswerable ones, with the abstention counts and the
    threshold used (None: the reader's own default, as the assistant takes it); ``best_span`` scores
    the reader's best span on the answerable questions whether or not it would be shown."""
    reader = ExtractiveReader(str(model), max_seq_length=max_seq_length, stride=stride, cached_results=0)
    reader.warm_up()
    if threshold is None:
        threshold = reader.default_threshold
    asker = _ReaderOnly(reader)
    results = []
    for example in tqdm(examples, desc=label, unit="q", file=sys.stderr, leave=False,
                        disable=None if show_progress is None else not show_progress):
        reading = read_and_score(asker, example.question, [context_passage(example)], threshold)  # type: ignore[arg-type]
        results.append(QuestionResult(example.question, None, 0.0, reading, reading))
    has_unanswerable = any(example.answer is None for example in examples)
    # The best span whether or not the reader would show it: what training changes besides abstaining.
    spans = [answer_scores(r.oracle.guess, r.question.answers) for r in results if not r.question.is_impossible]
    best_span = {
        "questions": len(spans),
        "exact_match": sum(em for em, _ in spans) / len(spans) if spans else None,
        "f1": sum(f1 for _, f1 in spans) / len(spans) if spans else None,
    }
    summary = answer_summary(results, lambda result: result.oracle, has_unanswerable)
    return {**summary, "best_span": best_span, "threshold": threshold}, results
