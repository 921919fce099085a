"""A reader model's calibration: how its span logits become scores, and the threshold they call for.

Logits have each model's own scale, so the map from a span's start + end logit to a score (roughly
the chance that the span is right) belongs to the model, not to docqa. It is a small JSON file,
``docqa_calibration.json``, kept in the model's folder: ``docqa train`` writes one into the folder
it saves, and ``docqa eval --calibrate`` fits one for the reader in use on a SQuAD file (the
corrections of ``docqa annotations export`` are one) and writes it into the model's folder, or, for
a hub model or a folder it may not write, into docqa's calibration cache (``$DOCQA_CALIBRATION_DIR``,
else ``~/.cache/docqa/calibration``), where the reader looks next.

A model without one gets ``UNCALIBRATED``: the score is ``sigmoid(span logit - no-answer logit)``,
how far the span beats the model's own "no answer" in its window, with threshold 0.5 (the span is
more likely than no answer). That holds for any model trained to point at its first token for "no
answer" (SQuAD 2.0 style), whatever its logits' scale; it is not a chance until fitted.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from docqa.errors import DocqaError

CALIBRATION_FILE = "docqa_calibration.json"


def sigmoid(value: float) -> float:
    return 0.5 * (1.0 + math.tanh(0.5 * value))  # no overflow for large |value|


@dataclass(frozen=True)
class Calibration:
    """``score = sigmoid(slope * (x - midpoint))``, where ``x`` is a span's start + end logit, less its
    window's no-answer logit when ``relative``; answers below ``threshold`` are not shown."""

    slope: float
    midpoint: float
    threshold: float
    relative: bool = False
    fitted_on: str = ""  # what it was fitted on; "" for the uncalibrated default

    @property
    def calibrated(self) -> bool:
        return bool(self.fitted_on)

    def score(self, logit: float, null_logit: float) -> float:
        """The score of a span whose logit is ``logit`` in a window whose no-answer logit is ``null_logit``;
        with the two swapped, the score of "no answer" against that span."""
        x = logit - null_logit if self.relative else logit
        return sigmoid(self.slope * (x - self.midpoint))

    def rescaled(self, scale: float, shift: float, threshold: float, fitted_on: str) -> Calibration:
        """This calibration followed by ``sigmoid(scale * z + shift)`` of its own log-odds ``z``: a refit."""
        slope = self.slope * scale
        return Calibration(slope, self.midpoint - shift / slope, threshold, self.relative, fitted_on)


UNCALIBRATED = Calibration(slope=1.0, midpoint=0.0, threshold=0.5, relative=True)


def cache_dir() -> Path:
    configured = os.environ.get("DOCQA_CALIBRATION_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "docqa" / "calibration"


def _cache_file(model: str) -> Path:
    local = Path(model)
    key = str(local.resolve()) if local.is_dir() else model
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir() / f"{digest}.json"


def load_calibration(model: str) -> Calibration:
    """The calibration of ``model`` (a folder or hub id): its folder's file, else the cache's, else
    ``UNCALIBRATED``. A damaged file is an error, not a silent default."""
    for path in (Path(model) / CALIBRATION_FILE, _cache_file(model)):
        if path.is_file():
            return read_calibration(path)
    return UNCALIBRATED


def read_calibration(path: Path) -> Calibration:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        calibration = Calibration(
            slope=float(data["slope"]),
            midpoint=float(data["midpoint"]),
            threshold=float(data["threshold"]),
            relative=bool(data.get("relative", False)),
            fitted_on=str(data.get("fitted_on") or path),
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DocqaError(f"the reader calibration {path} cannot be read ({type(error).__name__}: {error})") from error
    if not (math.isfinite(calibration.slope) and calibration.slope > 0 and math.isfinite(calibration.midpoint)):
        raise DocqaError(f"the reader calibration {path} needs a positive slope and a finite midpoint")
    if not 0.0 <= calibration.threshold <= 1.0:
        raise DocqaError(f"the reader calibration {path} has a threshold outside [0, 1]")
    return calibration


def write_calibration(calibration: Calibration, folder: Path) -> Path:
    """``calibration`` written as ``folder``'s calibration file; returns the path."""
    path = folder / CALIBRATION_FILE
    path.write_text(json.dumps(asdict(calibration), indent=2) + "\n", encoding="utf-8")
    return path


def save_calibration(model: str, calibration: Calibration) -> Path:
    """Record ``calibration`` where the reader of ``model`` finds it: the model's folder when it is one
    that may be written, else the calibration cache. Returns the file written."""
    folder = Path(model)
    if folder.is_dir() and os.access(folder, os.W_OK):
        try:
            return write_calibration(calibration, folder)
        except OSError:
            pass  # a folder that says it is writable and is not (read-only mount): the cache instead
    path = _cache_file(model)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(calibration), indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise DocqaError(f"could not write the reader calibration to {path}: {error}") from error
    return path


def fit_logit(logits: list[float], correct: list[float], threshold: float, fitted_on: str) -> Calibration:
    """The calibration of a model's raw start + end logits: ``sigmoid(slope * (logit - midpoint))``."""
    scale, shift = fit_logistic(logits, correct)
    return Calibration(slope=scale, midpoint=-shift / scale, threshold=threshold, fitted_on=fitted_on)


def fit_platt(scores: list[float], correct: list[float], iterations: int = 50) -> tuple[float, float]:
    """(scale, shift) of the logistic regression of ``correct`` (0 or 1) on the log-odds of ``scores``:
    ``sigmoid(scale * logit(score) + shift)`` is the refitted score."""
    return fit_logistic([log_odds(score) for score in scores], correct, iterations)


def fit_logistic(values: list[float], correct: list[float], iterations: int = 50) -> tuple[float, float]:
    """(scale, shift) of the logistic regression of ``correct`` (0 or 1) on ``values``: Newton's method,
    a little L2. Raises ``DocqaError`` when the answers are all right or all wrong, or the fit falls."""
    if len(values) < 2 or len(set(correct)) < 2:
        raise DocqaError("fitting a calibration needs answers both right and wrong")
    rows = [(value, 1.0) for value in values]
    theta = [0.0, 0.0]
    for _ in range(iterations):
        gradient, hessian = [0.0, 0.0], [[1e-3, 0.0], [0.0, 1e-3]]
        for (z, one), label in zip(rows, correct, strict=True):
            chance = sigmoid(theta[0] * z + theta[1] * one)
            weight = chance * (1.0 - chance)
            for i, xi in enumerate((z, one)):
                gradient[i] += (chance - label) * xi
                for j, xj in enumerate((z, one)):
                    hessian[i][j] += weight * xi * xj
        gradient = [g + 1e-3 * t for g, t in zip(gradient, theta, strict=True)]
        det = hessian[0][0] * hessian[1][1] - hessian[0][1] * hessian[1][0]
        step = [
            (hessian[1][1] * gradient[0] - hessian[0][1] * gradient[1]) / det,
            (hessian[0][0] * gradient[1] - hessian[1][0] * gradient[0]) / det,
        ]
        theta = [theta[0] - step[0], theta[1] - step[1]]
        if max(abs(s) for s in step) < 1e-9:
            break
    if theta[0] <= 0:
        raise DocqaError("the reader's scores do not rise with its answers being right; no calibration was fitted")
    return theta[0], theta[1]


def log_odds(score: float) -> float:
    """``log(score / (1 - score))``, the score kept a hair inside (0, 1)."""
    score = min(max(score, 1e-6), 1.0 - 1e-6)
    return math.log(score / (1.0 - score))
