"""The figures of a run's report, summarised from its per-question results."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from docqa.evaluation.confidence import confidence_summary
from docqa.evaluation.metrics import retrieval_metrics
from docqa.evaluation.results import QuestionResult, Reading
from docqa.stats import percentile


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
        "confidence": confidence_summary(results, has_unanswerable),
    }
