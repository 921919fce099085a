"""Files a run can write besides its printed report: the JSON report, predictions in the official
SQuAD form, and the risk-coverage plot."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from docqa.errors import DocqaError
from docqa.evaluation.results import QuestionResult, Reading

PLOT_SUFFIX = "-risk-coverage.png"
_PLOT_LABEL_STEP = 0.1  # thresholds labelled on the plot


def write_json(report: dict[str, Any], path: Path) -> None:
    _write_text(path, json.dumps(report, indent=2) + "\n")


def _write_text(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise DocqaError(f"could not write {path}: {error}") from error


def no_answer_probability(reading: Reading) -> float:
    """How likely the reader thinks it is that there is no answer: its no-answer score when it
    abstained on its own, else one minus its best answer's score."""
    return reading.no_answer_score if reading.reader_abstained else 1.0 - reading.score


def na_prob_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}-na-prob.json")


def write_predictions(results: Sequence[QuestionResult], path: Path, has_unanswerable: bool) -> list[Path]:
    """``path``: {question id: answer} ("" for an abstention), the official evaluation scripts'
    prediction file; for SQuAD 2.0 data also ``<stem>-na-prob.json``: {question id: probability
    of no answer}, their ``--na-prob-file``. Returns the paths written."""
    predictions = {result.question.id: result.end_to_end.prediction for result in results}
    _write_text(path, json.dumps(predictions, indent=2, ensure_ascii=False) + "\n")
    if not has_unanswerable:
        return [path]
    probabilities = {result.question.id: no_answer_probability(result.end_to_end) for result in results}
    _write_text(na_prob_path(path), json.dumps(probabilities, indent=2) + "\n")
    return [path, na_prob_path(path)]


def plot_path(json_path: Path) -> Path:
    return json_path.with_name(json_path.stem + PLOT_SUFFIX)


def _threshold_labels(rows: Sequence[dict[str, Any]]) -> dict[tuple[float, float], str]:
    """A label per plotted point of the answered-F1 curve: the labelled thresholds that land on it,
    as one range when several do (they answer the same questions)."""
    landing: dict[tuple[float, float], list[float]] = {}
    for row in rows:
        steps = row["threshold"] / _PLOT_LABEL_STEP
        if abs(steps - round(steps)) < 1e-9:
            point = (100 * row["coverage"], 100 * row["answered_f1"])
            landing.setdefault(point, []).append(row["threshold"])
    return {
        point: f"{low:.1f}" if low == high else f"{low:.1f}-{high:.1f}"
        for point, (low, high) in ((point, (min(ts), max(ts))) for point, ts in landing.items())
    }


def write_plot(rows: Sequence[dict[str, Any]], path: Path, title: str) -> str:
    """Plot answered-F1 and overall F1 against coverage, thresholds labelled; returns a one-line note
    of what was done. matplotlib is optional (the ``bench`` extra): without it, or when the plot
    cannot be written, it is skipped, never failing the run."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display
        import matplotlib.pyplot as plt
    except ImportError:
        return 'risk-coverage plot skipped: matplotlib is not installed (pip install -e ".[bench]")'
    points = [row for row in rows if row["coverage"]]
    figure, axes = plt.subplots(figsize=(7, 5))
    try:
        coverage = [100 * row["coverage"] for row in points]
        axes.plot(coverage, [100 * row["answered_f1"] for row in points], marker="o", label="F1 of the answered")
        axes.plot(coverage, [100 * row["f1"] for row in points], marker="s", label="F1 overall (abstentions as empty)")
        for (x, y), label in _threshold_labels(points).items():
            axes.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        axes.set_xlabel("coverage: questions answered (%)")
        axes.set_ylabel("F1 (%)")
        axes.set_title(title, fontsize=9)
        axes.grid(alpha=0.3)
        axes.legend()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=120, bbox_inches="tight")
    except (OSError, ValueError, RuntimeError) as error:  # the figures are written already: report, go on
        return f"risk-coverage plot skipped: could not write {path}: {error}"
    finally:
        plt.close(figure)
    return f"risk-coverage plot: {path} (labels: confidence thresholds)"
