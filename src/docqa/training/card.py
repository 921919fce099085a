"""The card saved with a trained reader: ``README.md`` for people, ``training.json`` for programs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CARD_FILE = "README.md"
FIGURES_FILE = "training.json"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def figure_rows(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    rows = ["| held-out questions | EM before | F1 before | EM after | F1 after |", "|---|---|---|---|---|"]
    for label, key in (("all", None), ("answerable", "has_answer"), ("unanswerable", "no_answer")):
        first, second = (before, after) if key is None else (before.get(key), after.get(key))
        if first is None or second is None:
            continue
        rows.append(
            f"| {label} ({first['questions']}) | {_percent(first['exact_match'])} | {_percent(first['f1'])} "
            f"| {_percent(second['exact_match'])} | {_percent(second['f1'])} |"
        )
    first, second = before.get("best_span"), after.get("best_span")
    if first and second and first["questions"]:
        rows.append(
            f"| best span, shown or not ({first['questions']} answerable) | {_percent(first['exact_match'])} "
            f"| {_percent(first['f1'])} | {_percent(second['exact_match'])} | {_percent(second['f1'])} |"
        )
    return rows


def _calibration_line(calibration: dict[str, Any] | None) -> str:
    if not calibration:
        return "- Calibration: none could be fitted (too few answers both right and wrong): its scores are uncalibrated"
    return (
        f"- Calibration (`docqa_calibration.json`): score = sigmoid({calibration['slope']:.3f} x (logit - "
        f"{calibration['midpoint']:.3f})), threshold {calibration['threshold']:.2f}, "
        f"fitted on {calibration['fitted_on']}"
    )


def write_card(folder: Path, figures: dict[str, Any], final: Path) -> None:
    """Write the card of the reader in ``folder``, to be moved to ``final``, from the figures of
    its training run."""
    settings = figures["settings"]
    data = figures["data"]
    lines = [
        f"# {final.name}",
        "",
        "An extractive question-answering reader fine-tuned with `docqa train`; load it with",
        f"`docqa ask --reader-model {final}` or choose it in the app's Settings.",
        "",
        f"- Base model: `{figures['base_model']}`",
        f"- Training data: {', '.join(data['sources']) or '-'}; {data['train_examples']} questions "
        f"({data['train_unanswerable']} unanswerable), {data['train_windows']} windows",
        f"- Held-out data: {data['held_out']}; {data['held_out_examples']} questions",
        f"- Settings: {settings['epochs']} epoch(s), batch {settings['batch_size']}, AdamW lr "
        f"{settings['learning_rate']}, weight decay {settings['weight_decay']}, {int(100 * settings['warmup'])}% "
        f"warm-up then linear decay, gradient clipping at {settings['max_grad_norm']}, max length "
        f"{settings['max_seq_length']}, stride {settings['stride']}, seed {settings['seed']}",
        f"- Training: {figures['steps']} steps in {figures['train_seconds']:.0f} s on {figures['device']}, "
        f"{figures['examples_per_second']:.2f} examples/s ({figures['windows_per_second']:.2f} windows/s); "
        f"loss {figures['first_loss']:.3f} at the first step, {figures['last_loss']:.3f} at the last",
        _calibration_line(figures.get("calibration")),
        "",
        "Held-out figures (%), read from each question's own context at the confidence threshold "
        f"{figures['threshold']}, as `docqa eval` scores its oracle reading:",
        "",
        *figure_rows(figures["before"], figures["after"]),
        "",
    ]
    (folder / CARD_FILE).write_text("\n".join(lines), encoding="utf-8")
    (folder / FIGURES_FILE).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
