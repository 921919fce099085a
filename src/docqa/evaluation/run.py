"""One evaluation run: index the paragraphs of a SQuAD file, ask every question, summarise.

Every paragraph of the file becomes one document of a temporary index, and every question is
asked against the whole index, as a user would ask it. Each question is read twice: from the
retrieved passages (end to end) and from its gold paragraph alone ("oracle"). Scores are
fractions in [0, 1].
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from docqa.assistant import Assistant
from docqa.errors import DocqaError
from docqa.evaluation.metrics import RANK_DEPTH, answer_scores, retrieval_metrics
from docqa.evaluation.squad import (
    DEFAULT_SEED,
    SquadQuestion,
    SquadSet,
    load_squad,
    oracle_passage,
    sample_questions,
)
from docqa.models import is_disabled
from docqa.schema import Document, RetrievalMode, RetrievedPassage
from docqa.stats import percentile
from docqa.version import __version__

# --- asking ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """The reader's answer to one question from some passages, scored."""

    prediction: str
    abstained: bool
    exact_match: float
    f1: float
    seconds: float


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


def gold_rank(passages: Sequence[RetrievedPassage], source: str, depth: int = RANK_DEPTH) -> int | None:
    for position, passage in enumerate(passages[:depth], start=1):
        if passage.chunk.source == source:
            return position
    return None


def read_and_score(assistant: Assistant, question: SquadQuestion, passages: Sequence[RetrievedPassage]) -> Reading:
    started = time.perf_counter()
    result = assistant.read(question.question, passages)
    seconds = time.perf_counter() - started
    abstained = result.abstained or not result.answers
    prediction = "" if abstained else result.answers[0].text
    em, f1 = answer_scores(prediction, question.answers)
    return Reading(prediction=prediction, abstained=abstained, exact_match=em, f1=f1, seconds=seconds)


def evaluate_question(
    assistant: Assistant, question: SquadQuestion, gold: RetrievedPassage, top_k: int
) -> QuestionResult:
    started = time.perf_counter()
    passages = assistant.retrieve(question.question, top_k=max(top_k, RANK_DEPTH))
    retrieval_seconds = time.perf_counter() - started
    return QuestionResult(
        question=question,
        rank=gold_rank(passages, question.source),
        retrieval_seconds=retrieval_seconds,
        end_to_end=read_and_score(assistant, question, passages[:top_k]),
        oracle=read_and_score(assistant, question, [gold]),
    )


# --- summarising -----------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def score_summary(readings: Sequence[Reading]) -> dict[str, Any]:
    return {
        "questions": len(readings),
        "exact_match": _mean([reading.exact_match for reading in readings]),
        "f1": _mean([reading.f1 for reading in readings]),
    }


def abstention_counts(results: Sequence[QuestionResult], pick: Callable[[QuestionResult], Reading]) -> dict[str, int]:
    counts = Counter((result.question.is_impossible, pick(result).abstained) for result in results)
    return {
        "abstained_unanswerable": counts[True, True],  # right
        "abstained_answerable": counts[False, True],  # wrong
        "answered_unanswerable": counts[True, False],  # wrong
        "answered_answerable": counts[False, False],
    }


def answer_summary(
    results: Sequence[QuestionResult], pick: Callable[[QuestionResult], Reading], has_unanswerable: bool
) -> dict[str, Any]:
    summary = score_summary([pick(result) for result in results])
    if has_unanswerable:
        summary["has_answer"] = score_summary([pick(r) for r in results if not r.question.is_impossible])
        summary["no_answer"] = score_summary([pick(r) for r in results if r.question.is_impossible])
    summary["abstentions"] = abstention_counts(results, pick)
    return summary


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    return {
        "p50": percentile(seconds, 50),
        "p95": percentile(seconds, 95),
        "mean": sum(seconds) / len(seconds),
    }


def retrieval_summary(results: Sequence[QuestionResult], has_unanswerable: bool) -> dict[str, Any]:
    summary: dict[str, Any] = {"questions": len(results), **retrieval_metrics([r.rank for r in results])}
    answerable = [r.rank for r in results if not r.question.is_impossible]
    if has_unanswerable and answerable:
        summary["has_answer"] = {"questions": len(answerable), **retrieval_metrics(answerable)}
    return summary


def summarize(results: Sequence[QuestionResult], has_unanswerable: bool) -> dict[str, Any]:
    total_seconds = [result.total_seconds for result in results]
    return {
        "retrieval": retrieval_summary(results, has_unanswerable),
        "end_to_end": answer_summary(results, lambda r: r.end_to_end, has_unanswerable),
        "oracle": answer_summary(results, lambda r: r.oracle, has_unanswerable),
        "latency_seconds": {
            "retrieval": latency_summary([r.retrieval_seconds for r in results]),
            "reading": latency_summary([r.end_to_end.seconds for r in results]),
            "total": latency_summary(total_seconds),
            "oracle_reading": latency_summary([r.oracle.seconds for r in results]),
        },
        "questions_per_second": len(results) / sum(total_seconds) if sum(total_seconds) > 0 else None,
    }


# --- the whole run ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalOptions:
    embedding_model: str | None = None
    reader_model: str | None = None
    precision: str | None = None
    top_k: int | None = None
    retrieval: RetrievalMode | None = None
    limit: int | None = None
    seed: int = DEFAULT_SEED
    show_progress: bool = True


def evaluate(path: str | Path, options: EvalOptions | None = None) -> dict[str, Any]:
    """Index the paragraphs of a SQuAD file in a temporary folder, ask its questions, and report."""
    options = options or EvalOptions()
    squad = load_squad(path)
    if not squad.questions:
        raise DocqaError(f"{path} has no questions")
    questions = sample_questions(squad.questions, options.limit, options.seed)
    with (
        tempfile.TemporaryDirectory(prefix="docqa-eval-") as folder,
        Assistant(
            corpus_dir=Path(folder, "corpus"),
            index_dir=Path(folder, "index"),
            embedding_model=options.embedding_model,
            reader_model=options.reader_model,
            precision=options.precision,
            top_k=options.top_k,
            retrieval=options.retrieval,
        ) as assistant,
    ):
        index_seconds = build_index(assistant, squad.documents, options.show_progress)
        settings = run_settings(assistant, squad, path, options, len(questions))
        started = time.perf_counter()
        results = ask_all(assistant, squad, questions, options.show_progress)
        wall_seconds = time.perf_counter() - started
    return {
        "settings": settings,
        **summarize(results, squad.has_unanswerable),
        "index_seconds": index_seconds,
        "wall_seconds": wall_seconds,
    }


def build_index(assistant: Assistant, documents: Sequence[Document], show_progress: bool) -> float:
    """Load the models, failing before the long part if one is missing, then index ``documents``."""
    started = time.perf_counter()
    Path(assistant.settings.corpus_dir).mkdir()
    assistant.warm_up()  # over the empty corpus folder: cheap, and it loads the models
    require_models(assistant)
    with tqdm(
        total=100,
        desc="indexing",
        file=sys.stderr,
        disable=not show_progress,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}",
    ) as bar:

        def progress(fraction: float, description: str) -> None:
            bar.n = round(100 * fraction)
            bar.set_postfix_str(description)

        assistant.index(documents=documents, progress=progress)
    return time.perf_counter() - started


def require_models(assistant: Assistant) -> None:
    """A model that was asked for but did not load would silently measure the lexical mode instead."""
    status = assistant.status()
    missing = (not is_disabled(status.embedding_model) and not status.embedder_loaded) or (
        not is_disabled(status.reader_model) and not status.reader_loaded
    )
    if missing:
        raise DocqaError("; ".join(status.problems) or "a model could not be loaded")


def run_settings(
    assistant: Assistant, squad: SquadSet, path: str | Path, options: EvalOptions, questions: int
) -> dict[str, Any]:
    status = assistant.status()
    settings = assistant.settings
    return {
        "file": str(path),
        "squad_version": squad.version,
        "docqa_version": __version__,
        "embedding_model": status.embedding_model,
        "reader_model": status.reader_model,
        "precision": settings.precision,
        "mode": status.mode,
        "retrieval": status.retrieval,
        "requested_retrieval": settings.retrieval,
        "top_k": settings.top_k,
        "rank_depth": RANK_DEPTH,
        "limit": options.limit,
        "seed": options.seed,
        "questions": questions,
        "questions_in_file": len(squad.questions),
        "paragraphs": len(squad.documents),
        "passages": status.passages,
    }


def ask_all(
    assistant: Assistant, squad: SquadSet, questions: Sequence[SquadQuestion], show_progress: bool
) -> list[QuestionResult]:
    gold = {document.source: oracle_passage(document) for document in squad.documents}
    top_k = assistant.settings.top_k
    progress: Iterable[SquadQuestion] = tqdm(
        questions, desc="questions", unit="q", file=sys.stderr, disable=not show_progress
    )
    return [evaluate_question(assistant, question, gold[question.source], top_k) for question in progress]
