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
    rows: list[tuple[str, dict[str, Any]]] = [(label, summary)]
    rows += [(f"  {key.replace('_', ' ')}", summary[key]) for key in ("has_answer", "no_answer") if key in summary]
    return [[name, str(part["questions"]), _percent(part["exact_match"]), _percent(part["f1"])] for name, part in rows]


def _header_lines(settings: dict[str, Any]) -> list[str]:
    lines = [
        f"{settings['file']} (SQuAD {settings['squad_version'] or '?'}), docqa {settings['docqa_version']}",
        f"questions {settings['questions']} of {settings['questions_in_file']} (seed {settings['seed']}), "
        f"paragraphs {settings['paragraphs']}, passages {settings['passages']}",
        f"mode {settings['mode']}, retrieval {settings['retrieval']}, top_k {settings['top_k']}, "
        f"embedding model {settings['embedding_model']}, reader model {settings['reader_model']}, "
        f"precision {settings['precision']}, confidence threshold {settings['confidence_threshold']}",
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
        *_confidence_sections(report),
        _latency_lines(report["latency_seconds"]),
        [
            f"{_throughput(report['questions_per_second'])} questions per second end to end; "
            f"indexing {report['index_seconds']:.1f} s, questions {report['wall_seconds']:.1f} s"
        ],
    ]
    return "\n\n".join("\n".join(lines) for lines in sections)


def _throughput(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


# --- confidence ------------------------------------------------------------------------------

_PRINTED_STEP = 0.1  # the text shows every other row of the risk-coverage table; the JSON has all


def _on_printed_step(threshold: float) -> bool:
    steps = threshold / _PRINTED_STEP
    return abs(steps - round(steps)) < 1e-9


def _risk_coverage_lines(rows: Sequence[dict[str, Any]], has_unanswerable: bool) -> list[str]:
    header = ["Risk-coverage (%)", "coverage", "answered EM", "answered F1", "EM", "F1"]
    if has_unanswerable:
        header.append("NoAns abstained")
    table = []
    for row in rows:
        if not _on_printed_step(row["threshold"]):
            continue
        cells = [
            f"threshold {row['threshold']:.2f}",
            _percent(row["coverage"]),
            _percent(row["answered_exact_match"]),
            _percent(row["answered_f1"]),
            _percent(row["exact_match"]),
            _percent(row["f1"]),
        ]
        if has_unanswerable:
            cells.append(_percent(row["no_answer_abstained"]))
        table.append(cells)
    if not has_unanswerable:
        return _table(header, table)
    note = "EM and F1 count an abstention as the empty answer: right for an unanswerable question"
    return [*_table(header, table), note]


def _picked_line(picked: dict[str, Any]) -> str:
    if picked["threshold"] is None:
        return f"Picked threshold ({picked['rule']}): none reaches it"
    return (
        f"Picked threshold ({picked['rule']}): {picked['threshold']:.2f}: coverage {_percent(picked['coverage'])}%, "
        f"answered F1 {_percent(picked['answered_f1'])}% (threshold 0: {_percent(picked['base_answered_f1'])}%), "
        f"F1 overall {_percent(picked['f1'])}%"
    )


def _calibration_lines(calibration: dict[str, Any]) -> list[str]:
    rows = [
        [
            f"{part['low']:.1f}-{part['high']:.1f}",
            str(part["count"]),
            "-" if part["mean_score"] is None else f"{part['mean_score']:.3f}",
            _percent(part["exact_match"]),
            _percent(part["f1"]),
        ]
        for part in calibration["bins"]
    ]
    header = ["Calibration (score bin)", "answers", "mean score", "EM %", "F1 %"]
    ece = "-" if calibration["ece"] is None else f"{calibration['ece']:.3f}"
    ece_f1 = "-" if calibration["ece_f1"] is None else f"{calibration['ece_f1']:.3f}"
    summary = (
        f"answerable questions the reader answered: {calibration['questions']}; expected calibration error "
        f"{ece} against EM, {ece_f1} against F1"
    )
    return [*_table(header, rows), summary]


def _confidence_sections(report: dict[str, Any]) -> list[list[str]]:
    confidence = report["confidence"]
    has_unanswerable = "no_answer" in report["end_to_end"]
    risk_coverage = _risk_coverage_lines(confidence["risk_coverage"], has_unanswerable)
    return [
        [*risk_coverage, _picked_line(confidence["picked_threshold"])],
        _calibration_lines(confidence["calibration"]),
    ]


# --- several top-k ---------------------------------------------------------------------------


def format_comparison(reports: Sequence[dict[str, Any]]) -> str:
    """One table for the reports of several top-k over the same index and questions."""
    first = reports[0]
    has_unanswerable = "no_answer" in first["end_to_end"]
    header = ["top-k", "EM", "F1"]
    if has_unanswerable:
        header += ["HasAns F1", "NoAns F1"]
    header += [
        "picked threshold",
        "coverage there",
        "retrieval p50 ms",
        "reading p50 ms",
        "total p50 ms",
        "total p95 ms",
    ]
    rows = []
    for report in reports:
        end_to_end, latency = report["end_to_end"], report["latency_seconds"]
        picked = report["confidence"]["picked_threshold"]
        cells = [str(report["settings"]["top_k"]), _percent(end_to_end["exact_match"]), _percent(end_to_end["f1"])]
        if has_unanswerable:
            cells += [_percent(end_to_end["has_answer"]["f1"]), _percent(end_to_end["no_answer"]["f1"])]
        cells += [
            "-" if picked["threshold"] is None else f"{picked['threshold']:.2f}",
            _percent(picked.get("coverage")),
            _milliseconds(latency["retrieval"]["p50"]),
            _milliseconds(latency["reading"]["p50"]),
            _milliseconds(latency["total"]["p50"]),
            _milliseconds(latency["total"]["p95"]),
        ]
        rows.append(cells)
    oracle = first["oracle"]
    oracle_line = (
        f"gold paragraph (any top-k): EM {_percent(oracle['exact_match'])}, F1 {_percent(oracle['f1'])}, "
        f"reading p50 {_milliseconds(first['latency_seconds']['oracle_reading']['p50'])} ms"
    )
    settings = {**first["settings"], "top_k": ", ".join(str(report["settings"]["top_k"]) for report in reports)}
    sections = [
        _header_lines(settings),
        _retrieval_lines(first["retrieval"]),
        [*_table(["End to end (%) by top-k", *header[1:]], rows), oracle_line],
        [
            f"indexing {first['index_seconds']:.1f} s, questions {first['wall_seconds']:.1f} s (every top-k); "
            "risk-coverage and calibration of each top-k are in the JSON report"
        ],
    ]
    return "\n\n".join("\n".join(lines) for lines in sections)
