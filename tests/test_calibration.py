"""A reader's calibration belongs to its model: read from its folder or docqa's cache, fitted by
docqa eval --calibrate and docqa train, and a documented default where there is none."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from docqa.config import Settings
from docqa.errors import DocqaError
from docqa.evaluation.calibrate import calibrate_reader, refit
from docqa.evaluation.results import QuestionResult, Reading
from docqa.evaluation.squad import SquadQuestion
from docqa.reader import ExtractiveReader
from docqa.reader.calibration import (
    CALIBRATION_FILE,
    UNCALIBRATED,
    Calibration,
    fit_platt,
    load_calibration,
    log_odds,
    save_calibration,
    sigmoid,
)
from docqa.reader.factory import effective_threshold


@pytest.fixture(autouse=True)
def calibration_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "calibration-cache"
    monkeypatch.setenv("DOCQA_CALIBRATION_DIR", str(folder))
    return folder


def test_a_model_without_a_calibration_gets_the_documented_default(tmp_path: Path) -> None:
    calibration = load_calibration(str(tmp_path))
    assert calibration is UNCALIBRATED and not calibration.calibrated and calibration.threshold == 0.5
    # The span against its window's no-answer logit, whatever the logits' scale.
    assert calibration.score(12.0, 12.0) == 0.5
    assert calibration.score(30.0, 28.0) == pytest.approx(sigmoid(2.0))
    assert calibration.score(2.0, 4.0) == pytest.approx(sigmoid(-2.0))


def test_the_model_folder_then_the_cache_is_read(tmp_path: Path, calibration_cache: Path) -> None:
    model = tmp_path / "reader"
    model.mkdir()
    written = save_calibration(str(model), Calibration(0.8, 7.0, 0.35, fitted_on="dev"))
    assert written == model / CALIBRATION_FILE
    assert load_calibration(str(model)) == Calibration(0.8, 7.0, 0.35, fitted_on="dev")
    hub = save_calibration("some-org/some-reader", Calibration(1.2, 5.0, 0.45, fitted_on="dev"))
    assert hub.parent == calibration_cache  # a hub id has no folder to write to
    assert load_calibration("some-org/some-reader").threshold == 0.45
    assert load_calibration("some-org/other-reader") is UNCALIBRATED


@pytest.mark.parametrize(
    "content",
    ["{not json", json.dumps({"slope": 1.0}), json.dumps({"slope": -1, "midpoint": 0, "threshold": 0.4}),
     json.dumps({"slope": 1, "midpoint": 0, "threshold": 3})],
)
def test_a_damaged_calibration_is_an_error_not_a_silent_default(tmp_path: Path, content: str) -> None:
    (tmp_path / CALIBRATION_FILE).write_text(content)
    with pytest.raises(DocqaError, match="calibration"):
        load_calibration(str(tmp_path))


def test_the_reader_takes_its_models_calibration_and_threshold(tiny_reader_path: Path, tmp_path: Path) -> None:
    calibrated = ExtractiveReader(str(tiny_reader_path))
    assert calibrated.calibration.calibrated and calibrated.default_threshold == 0.4
    bare = tmp_path / "bare-reader"
    shutil.copytree(tiny_reader_path, bare)
    (bare / CALIBRATION_FILE).unlink()
    uncalibrated = ExtractiveReader(str(bare))
    assert uncalibrated.calibration is UNCALIBRATED and uncalibrated.default_threshold == 0.5
    # The assistant's threshold before any model loads is the model's own too.
    assert effective_threshold(Settings(reader_model=str(bare)), None) == 0.5
    assert effective_threshold(Settings(reader_model=str(tiny_reader_path)), None) == 0.4


def test_platt_scaling_recovers_a_known_map() -> None:
    chance = random.Random(0)
    scores = [chance.uniform(0.01, 0.99) for _ in range(4000)]
    correct = [float(chance.random() < sigmoid(2.0 * log_odds(s) - 1.0)) for s in scores]
    scale, shift = fit_platt(scores, correct)
    assert scale == pytest.approx(2.0, abs=0.2) and shift == pytest.approx(-1.0, abs=0.2)
    with pytest.raises(DocqaError, match="both right and wrong"):
        fit_platt([0.2, 0.9], [1.0, 1.0])


def test_a_refit_composes_with_the_calibration_it_refits() -> None:
    base = Calibration(0.9, 9.1, 0.4, fitted_on="a")
    again = base.rescaled(2.0, -1.0, 0.3, "b")
    for logit in (-3.0, 5.0, 9.1, 14.0):
        assert again.score(logit, 0.0) == pytest.approx(sigmoid(2.0 * log_odds(base.score(logit, 0.0)) - 1.0))
    assert (again.threshold, again.fitted_on, again.relative) == (0.3, "b", False)


def _results(count: int) -> list[QuestionResult]:
    """Readings whose scores are too modest: an answer scored s is right with chance sigmoid(3 logit(s) + 1)."""
    chance = random.Random(1)
    results = []
    for number in range(count):
        score = chance.uniform(0.05, 0.95)
        right = chance.random() < sigmoid(3.0 * log_odds(score) + 1.0)
        question = SquadQuestion(str(number), "Where?", ("the pier",), False, "doc.txt")
        reading = Reading("", True, 0.0, 0.0, 0.0, guess="the pier" if right else "the town", score=score,
                          reader_abstained=False, no_answer_score=0.1)
        results.append(QuestionResult(question, 1, 0.0, reading, reading))
    return results


def test_readings_with_logits_are_fitted_on_the_logits_whatever_the_calibration_was() -> None:
    chance = random.Random(2)
    results = []
    for number in range(3000):
        logit = chance.uniform(0.0, 18.0)
        right = chance.random() < sigmoid(0.9 * (logit - 9.1))
        question = SquadQuestion(str(number), "Where?", ("the pier",), False, "doc.txt")
        reading = Reading("", True, 0.0, 0.0, 0.0, guess="the pier" if right else "the town", score=0.5,
                          reader_abstained=False, logit=logit)
        results.append(QuestionResult(question, 1, 0.0, reading, reading))
    fitted = refit(results, UNCALIBRATED, "test")
    assert not fitted.relative and fitted.calibrated
    assert fitted.slope == pytest.approx(0.9, rel=0.15) and fitted.midpoint == pytest.approx(9.1, abs=0.5)
    assert 0.0 <= fitted.threshold <= 1.0


def test_eval_calibrate_refits_and_records_where_the_reader_finds_it(tiny_reader_path: Path, tmp_path: Path) -> None:
    model = tmp_path / "reader"
    shutil.copytree(tiny_reader_path, model)
    results = _results(3000)
    refitted = refit(results, load_calibration(str(model)), "test")
    assert refitted.slope == pytest.approx(0.9 * 3.0, rel=0.15)  # the scores' log-odds were three times too small
    report = {"settings": {"mode": "extractive", "reader_model": str(model), "file": "dev.json", "questions": 3000,
                           "top_k": 3}}
    said = calibrate_reader(report, results)
    assert str(model / CALIBRATION_FILE) in said
    assert ExtractiveReader(str(model)).calibration.fitted_on == "dev.json (3000 questions, top-k 3)"
    with pytest.raises(DocqaError, match="lexical mode"):
        calibrate_reader({"settings": {**report["settings"], "mode": "sentence"}}, results)
