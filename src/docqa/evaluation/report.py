"""The evaluation report as plain-text tables: scores in percent, latencies in milliseconds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from docqa.evaluation.metrics import RANK_DEPTH, RECALL_CUTOFFS


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _milliseconds(value: float) -> str:
    return f"{1000 * value:.1f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return lines


def _score_rows(label: str, summary: dict[str, Any]) -> list[list[str]]:
    rows = [[label, summary]]
    rows += [[f"  {key.replace('_', ' ')}", summary[key]] for key in ("has_answer", "no_answer") if key in summary]
    return [[name, str(part["questions"]), _percent(part["exact_match"]), _percent(part["f1"])] for name, part in rows]


def _header_lines(settings: dict[str, Any]) -> list[str]:
    lines = [
        f"{settings['file']} (SQuAD {settings['squad_version'] or '?'}), docqa {settings['docqa_version']}",
        f"questions {settings['questions']} of {settings['questions_in_file']} (seed {settings['seed']}), "
        f"paragraphs {settings['paragraphs']}, passages {settings['passages']}",
        f"mode {settings['mode']}, retrieval {settings['retrieval']}, top_k {settings['top_k']}, "
        f"embedding model {settings['embedding_model']}, reader model {settings['reader_model']}, "
        f"precision {settings['precision']}",
    ]
    if settings["mode"] == "sentence":
        lines.append("no reader model: each answer is a whole sentence, so exact match and F1 are low")
    return lines


def _retrieval_lines(retrieval: dict[str, Any]) -> list[str]:
    recall_keys = [f"recall@{k}" for k in RECALL_CUTOFFS]
    parts = [("all", retrieval)]
    if "has_answer" in retrieval:
        parts.append(("has answer", retrieval["has_answer"]))
    rows = [
        [label, str(part["questions"]), *(_percent(part[key]) for key in recall_keys), _percent(part["mrr"])]
        for label, part in parts
    ]
    return _table([f"Retrieval (%, top {RANK_DEPTH})", "questions", *recall_keys, "MRR"], rows)


def _answer_lines(report: dict[str, Any]) -> list[str]:
    rows = _score_rows("end to end", report["end_to_end"]) + _score_rows("gold paragraph", report["oracle"])
    return _table(["Answers (%)", "questions", "EM", "F1"], rows)


_ABSTENTION_LABELS = {
    "abstained_unanswerable": "abstained, unanswerable (right)",
    "abstained_answerable": "abstained, answerable (wrong)",
    "answered_unanswerable": "answered, unanswerable (wrong)",
    "answered_answerable": "answered, answerable",
}


def _abstention_lines(report: dict[str, Any]) -> list[str]:
    end_to_end, oracle = report["end_to_end"]["abstentions"], report["oracle"]["abstentions"]
    keys = _ABSTENTION_LABELS if "no_answer" in report["end_to_end"] else ("abstained_answerable",)
    rows = [[_ABSTENTION_LABELS[key], str(end_to_end[key]), str(oracle[key])] for key in keys]
    return _table(["Abstentions", "end to end", "gold paragraph"], rows)


def _latency_lines(latency: dict[str, dict[str, float]]) -> list[str]:
    rows = [
        [stage.replace("_", " "), *(_milliseconds(figures[key]) for key in ("p50", "p95", "mean"))]
        for stage, figures in latency.items()
    ]
    return _table(["Latency (ms)", "p50", "p95", "mean"], rows)


def format_report(report: dict[str, Any]) -> str:
    """The report as plain-text tables."""
    sections = [
        _header_lines(report["settings"]),
        _retrieval_lines(report["retrieval"]),
        _answer_lines(report),
        _abstention_lines(report),
        _latency_lines(report["latency_seconds"]),
        [
            f"{_throughput(report['questions_per_second'])} questions per second end to end; "
            f"indexing {report['index_seconds']:.1f} s, questions {report['wall_seconds']:.1f} s"
        ],
    ]
    return "\n\n".join("\n".join(lines) for lines in sections)


def _throughput(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
