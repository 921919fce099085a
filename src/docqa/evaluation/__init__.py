"""Measuring the assistant on SQuAD-format data (versions 1.1 and 2.0): ``docqa eval``.

``squad`` reads the data, ``metrics`` scores answers and rankings, ``run`` asks the questions,
``results`` holds what each question gave, ``summary`` and ``confidence`` (risk-coverage and
calibration) summarise it, ``report`` prints the tables, ``outputs`` writes the JSON,
predictions and plot files, and ``cli`` is the subcommand. The names below load their
module on first use, so reading SQuAD data (as the benchmarks do) does not import the assistant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from docqa.lazy import lazy_exports

if TYPE_CHECKING:
    from docqa.evaluation.cli import add_arguments, run_cli
    from docqa.evaluation.confidence import THRESHOLDS, calibration, picked_threshold, risk_coverage
    from docqa.evaluation.metrics import (
        RANK_DEPTH,
        RECALL_CUTOFFS,
        answer_scores,
        exact_match,
        f1_score,
        normalize_answer,
        retrieval_metrics,
    )
    from docqa.evaluation.outputs import write_json, write_plot, write_predictions
    from docqa.evaluation.report import format_comparison, format_report
    from docqa.evaluation.results import QuestionResult, Reading
    from docqa.evaluation.run import EvalOptions, EvalRun, evaluate, run_evaluation
    from docqa.evaluation.squad import (
        DEFAULT_SEED,
        SquadQuestion,
        SquadSet,
        load_squad,
        oracle_passage,
        paragraph_document,
        paragraph_source,
        parse_squad,
        sample_questions,
    )

_EXPORTS = {  # name: the module of this package that defines it
    "add_arguments": "cli",
    "run_cli": "cli",
    "THRESHOLDS": "confidence",
    "calibration": "confidence",
    "picked_threshold": "confidence",
    "risk_coverage": "confidence",
    "write_json": "outputs",
    "write_plot": "outputs",
    "write_predictions": "outputs",
    "RANK_DEPTH": "metrics",
    "RECALL_CUTOFFS": "metrics",
    "answer_scores": "metrics",
    "exact_match": "metrics",
    "f1_score": "metrics",
    "normalize_answer": "metrics",
    "retrieval_metrics": "metrics",
    "format_comparison": "report",
    "format_report": "report",
    "QuestionResult": "results",
    "Reading": "results",
    "EvalOptions": "run",
    "EvalRun": "run",
    "evaluate": "run",
    "run_evaluation": "run",
    "DEFAULT_SEED": "squad",
    "SquadQuestion": "squad",
    "SquadSet": "squad",
    "load_squad": "squad",
    "oracle_passage": "squad",
    "paragraph_document": "squad",
    "paragraph_source": "squad",
    "parse_squad": "squad",
    "sample_questions": "squad",
}

__all__ = [
    "DEFAULT_SEED",
    "RANK_DEPTH",
    "RECALL_CUTOFFS",
    "THRESHOLDS",
    "EvalOptions",
    "EvalRun",
    "QuestionResult",
    "Reading",
    "SquadQuestion",
    "SquadSet",
    "add_arguments",
    "answer_scores",
    "calibration",
    "evaluate",
    "exact_match",
    "f1_score",
    "format_comparison",
    "format_report",
    "load_squad",
    "normalize_answer",
    "oracle_passage",
    "paragraph_document",
    "paragraph_source",
    "parse_squad",
    "picked_threshold",
    "retrieval_metrics",
    "risk_coverage",
    "run_cli",
    "run_evaluation",
    "sample_questions",
    "write_json",
    "write_plot",
    "write_predictions",
]


__getattr__, __dir__ = lazy_exports(__name__, {name: f"{__name__}.{module}" for name, module in _EXPORTS.items()})
