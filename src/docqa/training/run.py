"""One training run: gather the examples, measure, fine-tune, measure again, keep or discard.

The model is saved to a folder beside the output first and loaded back from it for the second
measurement, through ``from_pretrained`` like any reader; it becomes the output folder only when
it beats the base model's held-out F1 (or ``keep_anyway``).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from docqa.errors import DocqaError
from docqa.evaluation.calibrate import refit
from docqa.models import load_model
from docqa.reader.calibration import load_calibration, write_calibration
from docqa.training.card import write_card
from docqa.training.data import Example, correction_examples, load_examples, split_held_out
from docqa.training.features import build_features
from docqa.training.loop import TrainOptions, TrainStats, train_model
from docqa.training.measure import measure, measure_readings
from docqa.version import __version__

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainRequest:
    base_model: str
    output: Path
    files: Sequence[Path] = ()
    corrections_from: Path | None = None  # an index folder whose corrections to train on
    text_of: Callable[[str], str | None] | None = None  # a source's text now, to leave stale corrections out
    eval_file: Path | None = None
    held_out: float = 0.2
    threshold: float | None = None  # None: the reader's own default
    keep_anyway: bool = False
    options: TrainOptions = field(default_factory=TrainOptions)
    show_progress: bool | None = None


@dataclass
class TrainResult:
    kept: bool
    output: Path | None  # the saved reader, None when it was discarded
    figures: dict[str, Any]
    stats: TrainStats


def gather(request: TrainRequest) -> tuple[list[Example], list[Example], list[str], str]:
    """(training examples, held-out examples, names of the data, name of the held-out data)."""
    examples: list[Example] = []
    sources = []
    for path in request.files:
        examples += load_examples(path)
        sources.append(str(path))
    if request.corrections_from is not None:
        corrections = correction_examples(request.corrections_from, request.text_of or (lambda _: None))
        examples += corrections
        sources.append(f"{len(corrections)} corrections of {request.corrections_from}")
    if not examples:
        raise DocqaError("no training examples: give SQuAD files, or make corrections in the app first")
    if request.eval_file is not None:
        return examples, load_examples(request.eval_file), sources, str(request.eval_file)
    training, held_out = split_held_out(examples, request.held_out, request.options.seed)
    return training, held_out, sources, f"{request.held_out:.0%} of the data held out (seed {request.options.seed})"


def calibrate(
    folder: Path, held_out: list[Example], held_name: str, threshold: float | None, scoring: dict[str, Any]
) -> dict[str, Any] | None:
    """Fit the trained reader's calibration on its held-out readings and save it in ``folder``, so the
    reader's scores are chances and its threshold its own; None where too few answers fit one."""
    _, readings = measure_readings(folder, held_out, threshold, label="calibrating", **scoring)
    try:
        fitted = refit(readings, load_calibration(str(folder)), f"held-out {held_name} ({len(held_out)} questions)")
    except DocqaError:
        return None  # all right or all wrong: the reader stays uncalibrated, as its card says
    write_calibration(fitted, folder)
    return asdict(fitted)


def run_training(request: TrainRequest) -> TrainResult:
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    options = request.options
    if request.output.exists():
        raise DocqaError(f"{request.output} exists: choose another --output or --name")
    training, held_out, sources, held_name = gather(request)
    scoring = {"max_seq_length": options.max_seq_length, "stride": options.stride,
               "show_progress": request.show_progress}
    before = measure(request.base_model, held_out, request.threshold, label="before", **scoring)
    tokenizer = load_model("reader", request.base_model, AutoTokenizer.from_pretrained)
    model = load_model("reader", request.base_model, AutoModelForQuestionAnswering.from_pretrained)
    features = build_features(tokenizer, training, options.max_seq_length, options.stride)
    stats = train_model(model, features, options, tokenizer.pad_token_id or 0, show_progress=request.show_progress)
    partial = request.output.with_name(f".{request.output.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    calibration = calibrate(partial, held_out, held_name, request.threshold, scoring)
    after = measure(partial, held_out, request.threshold, label="after", **scoring)
    examples_per_second = len(training) * options.epochs / stats.seconds if stats.seconds > 0 else 0.0
    figures = {
        "docqa_version": __version__,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "base_model": request.base_model,
        "data": {
            "sources": sources,
            "train_examples": len(training),
            "train_unanswerable": sum(example.answer is None for example in training),
            "train_windows": len(features),
            "train_windows_with_answer": features.answered,
            "held_out": held_name,
            "held_out_examples": len(held_out),
        },
        "settings": asdict(options),
        "threshold": after["threshold"],
        "calibration": calibration,
        "device": stats.device,
        "steps": stats.steps,
        "train_seconds": stats.seconds,
        "examples_per_second": examples_per_second,
        "windows_per_second": stats.windows_per_second,
        "first_loss": stats.losses[0] if stats.losses else float("nan"),
        "last_loss": stats.losses[-1] if stats.losses else float("nan"),
        "losses": stats.losses,
        "before": before,
        "after": after,
    }
    better = after["f1"] > before["f1"]
    figures["kept"] = better or request.keep_anyway
    if not figures["kept"]:
        shutil.rmtree(partial, ignore_errors=True)
        return TrainResult(False, None, figures, stats)
    write_card(partial, figures, request.output)
    if request.output.exists():
        raise DocqaError(f"{request.output} appeared while training; the new reader is in {partial}")
    partial.rename(request.output)
    return TrainResult(True, request.output, figures, stats)
