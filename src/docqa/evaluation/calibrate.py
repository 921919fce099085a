"""``docqa eval --calibrate``: fit the reader's calibration on the readings of one run.

Every question the reader answered (did not abstain on by itself) is a point: its best answer's
score against whether that answer is exactly right (an answer to an unanswerable question never is).
A logistic regression on the answer's start + end logit (or, without logits, on the log-odds of
the score the reader gave) fits the calibration, so the new score is roughly the chance of being
right; the threshold is then docqa eval's rule (the lowest one
whose answered-F1 is 10 points above answering everything) on the refitted scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from docqa.errors import DocqaError
from docqa.evaluation.confidence import picked_threshold, risk_coverage
from docqa.evaluation.metrics import answer_scores
from docqa.evaluation.results import QuestionResult, Reading
from docqa.reader.calibration import (
    Calibration,
    fit_logit,
    fit_platt,
    load_calibration,
    log_odds,
    save_calibration,
    sigmoid,
)

FALLBACK_THRESHOLD = 0.5  # where no threshold meets the rule: the score of an even chance


def refit(results: Sequence[QuestionResult], current: Calibration, fitted_on: str) -> Calibration:
    """The calibration that makes ``results``' scores chances of being right: fitted on the model's raw
    start + end logits where the readings carry them (Platt scaling, whatever ``current`` was), else on
    the log-odds of the scores ``current`` gave."""
    answered = [r for r in results if not r.end_to_end.reader_abstained]
    correct = [answer_scores(r.end_to_end.guess, r.question.answers)[0] for r in answered]
    logits = [r.end_to_end.logit for r in answered]
    if all(logit is not None for logit in logits):
        fitted = fit_logit([float(logit) for logit in logits if logit is not None], correct, 0.0, fitted_on)

        def score(reading: Reading) -> float:
            return fitted.score(reading.logit, 0.0) if reading.logit is not None else 0.0

    else:
        scale, shift = fit_platt([r.end_to_end.score for r in answered], correct)
        fitted = current.rescaled(scale, shift, 0.0, fitted_on)

        def score(reading: Reading) -> float:
            return sigmoid(scale * log_odds(reading.score) + shift)

    rescored = [replace(r, end_to_end=replace(r.end_to_end, score=score(r.end_to_end))) for r in results]
    rows = risk_coverage(rescored, any(r.question.is_impossible for r in results))
    threshold = picked_threshold(rows)["threshold"]
    return replace(fitted, threshold=FALLBACK_THRESHOLD if threshold is None else threshold)


def calibrate_reader(report: dict[str, Any], results: Sequence[QuestionResult]) -> str:
    """Refit the calibration of the run's reader on its readings, record it where the reader finds it
    (``save_calibration``) and say what was written where."""
    settings = report["settings"]
    if settings["mode"] != "extractive":
        raise DocqaError("--calibrate needs a reader model: the lexical mode has no model to calibrate")
    model = settings["reader_model"]
    fitted_on = f"{settings['file']} ({settings['questions']} questions, top-k {settings['top_k']})"
    calibration = refit(results, load_calibration(model), fitted_on)
    path = save_calibration(model, calibration)
    return (
        f"calibration of {model}: slope {calibration.slope:.3f}, midpoint {calibration.midpoint:.3f}"
        f"{' (relative to no answer)' if calibration.relative else ''}, threshold {calibration.threshold:.2f}; "
        f"written to {path}"
    )
