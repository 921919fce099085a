"""How far the reader's confidence can be trusted, from the readings of one run.

Every question is read once with no confidence threshold; what a threshold would have done is then
worked out from the best answer's score, so the whole risk-coverage curve costs no extra reading.
A question counts as answered at a threshold when the reader did not abstain on its own (its
no-answer score beat every span) and its best answer scores at least the threshold: the rule the
assistant applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from docqa.evaluation.metrics import answer_scores
from docqa.evaluation.results import QuestionResult, Reading

THRESHOLDS = tuple(round(step * 0.05, 2) for step in range(21))  # 0.00, 0.05, ..., 1.00
CALIBRATION_BINS = 10
RULE_GAIN = 0.10  # the picked threshold must lift answered-F1 this far above answering everything


def answered_at(reading: Reading, threshold: float) -> bool:
    """Whether the assistant shows an answer for this reading at ``threshold``."""
    return not reading.reader_abstained and reading.score >= threshold


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def risk_coverage(results: Sequence[QuestionResult], has_unanswerable: bool) -> list[dict[str, Any]]:
    """One row per threshold of ``THRESHOLDS``: the share answered (coverage), EM and F1 of the
    answered questions, EM and F1 over all questions with abstentions scored as empty answers
    (so an abstention on an unanswerable question is right), and, for SQuAD 2.0 data, the share
    of unanswerable questions abstained on."""
    guessed = [answer_scores(r.end_to_end.guess, r.question.answers) for r in results]
    empty = [answer_scores("", r.question.answers) for r in results]
    unanswerable = [r for r in results if r.question.is_impossible]
    rows = []
    for threshold in THRESHOLDS:
        answered = [answered_at(r.end_to_end, threshold) for r in results]
        kept = [scores for scores, shown in zip(guessed, answered, strict=True) if shown]
        overall = [g if shown else e for g, e, shown in zip(guessed, empty, answered, strict=True)]
        row: dict[str, Any] = {
            "threshold": threshold,
            "coverage": sum(answered) / len(results) if results else None,
            "answered": sum(answered),
            "answered_exact_match": _mean([em for em, _ in kept]),
            "answered_f1": _mean([f1 for _, f1 in kept]),
            "exact_match": _mean([em for em, _ in overall]),
            "f1": _mean([f1 for _, f1 in overall]),
        }
        if has_unanswerable:
            abstained = [not answered_at(r.end_to_end, threshold) for r in unanswerable]
            row["no_answer_abstained"] = _mean([float(a) for a in abstained])
        rows.append(row)
    return rows


def picked_threshold(rows: Sequence[dict[str, Any]], gain: float = RULE_GAIN) -> dict[str, Any]:
    """The lowest threshold whose answered-F1 is at least ``gain`` above that of threshold 0
    (answering everything the reader does not abstain on), with its row; threshold None when none is."""
    base = rows[0]["answered_f1"] if rows else None
    rule = f"lowest threshold with answered-F1 at least {100 * gain:.0f} points above threshold 0"
    if base is not None:
        for row in rows:
            if row["answered_f1"] is not None and row["answered_f1"] >= base + gain - 1e-12:
                return {"rule": rule, "base_answered_f1": base, **row}
    return {"rule": rule, "base_answered_f1": base, "threshold": None}


def calibration(results: Sequence[QuestionResult], bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """The best answer's score against how often it is right, over the answerable questions the
    reader answered (at no threshold): per score bin the count, mean score, share exactly right
    and mean F1, and the expected calibration error (count-weighted mean gap between mean score
    and share exactly right; ``ece_f1`` the same against mean F1)."""
    rows: list[list[tuple[float, float, float]]] = [[] for _ in range(bins)]
    for result in results:
        reading = result.end_to_end
        if result.question.is_impossible or reading.reader_abstained:
            continue
        em, f1 = answer_scores(reading.guess, result.question.answers)
        index = min(int(reading.score * bins), bins - 1)  # a score of 1.0 falls in the top bin
        rows[index].append((reading.score, em, f1))
    total = sum(len(members) for members in rows)
    table = []
    ece = ece_f1 = 0.0
    for index, members in enumerate(rows):
        mean_score = _mean([score for score, _, _ in members])
        em_share = _mean([em for _, em, _ in members])
        mean_f1 = _mean([f1 for _, _, f1 in members])
        if members:
            assert mean_score is not None and em_share is not None and mean_f1 is not None
            ece += len(members) / total * abs(mean_score - em_share)
            ece_f1 += len(members) / total * abs(mean_score - mean_f1)
        table.append(
            {
                "low": round(index / bins, 2),
                "high": round((index + 1) / bins, 2),
                "count": len(members),
                "mean_score": mean_score,
                "exact_match": em_share,
                "f1": mean_f1,
            }
        )
    return {
        "questions": total,
        "bins": table,
        "ece": ece if total else None,
        "ece_f1": ece_f1 if total else None,
    }


def confidence_summary(results: Sequence[QuestionResult], has_unanswerable: bool) -> dict[str, Any]:
    rows = risk_coverage(results, has_unanswerable)
    return {
        "risk_coverage": rows,
        "picked_threshold": picked_threshold(rows),
        "calibration": calibration(results),
    }
