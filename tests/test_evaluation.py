"""Tests of the SQuAD evaluation: the metric functions, the data loading, and whole runs."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docqa.cli import main
from docqa.errors import DocqaError
from docqa.evaluation import (
    Reading,
    answer_scores,
    exact_match,
    f1_score,
    load_squad,
    normalize_answer,
    oracle_passage,
    parse_squad,
    retrieval_metrics,
    sample_questions,
    write_plot,
)
from docqa.evaluation.outputs import no_answer_probability
from docqa.stats import percentile

TINY_SQUAD = Path(__file__).parent / "data" / "tiny_squad_v2.json"
TINY_QUESTIONS = 12
TINY_UNANSWERABLE = 4
TINY_PARAGRAPHS = 5

# --- metrics ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The  Cat, sat on a mat!", "cat sat on mat"),
        ("An apple", "apple"),
        ("Theory of the Anthem", "theory of anthem"),  # articles only as whole words
        ("U.S.A.", "usa"),
        ("  tabs\tand\nnewlines  ", "tabs and newlines"),
        ("a an the", ""),
    ],
)
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_exact_match_ignores_case_punctuation_and_articles() -> None:
    assert exact_match("The Eiffel Tower", "eiffel tower.") == 1.0
    assert exact_match("Eiffel Tower", "the Eiffel tower in Paris") == 0.0


def test_f1_partial_overlap() -> None:
    # [big, red, dog] vs [red, dog, barked]: 2 shared, precision = recall = 2/3
    assert f1_score("the big red dog", "red dog barked") == pytest.approx(2 / 3)
    # [in, 1874, exactly] vs [1874]: precision 1/3, recall 1, F1 = 2 * (1/3) / (4/3)
    assert f1_score("in 1874 exactly", "1874") == pytest.approx(0.5)
    # repeated tokens count once per occurrence in both: [cat, cat] vs [cat] shares 1
    assert f1_score("the cat cat", "cat") == pytest.approx(2 / 3)
    assert f1_score("blue whale", "red dog") == 0.0


def test_f1_of_empty_answers() -> None:
    assert f1_score("", "") == 1.0
    assert f1_score("the", "") == 1.0  # normalises to empty
    assert f1_score("", "cat") == 0.0
    assert f1_score("cat", "") == 0.0


def test_answer_scores_take_the_best_gold_answer() -> None:
    golds = ["Margaret Oyelaran", "The keeper, Margaret Oyelaran"]
    em, f1 = answer_scores("Margaret", golds)
    assert em == 0.0
    assert f1 == pytest.approx(2 / 3)  # 1 of 2 tokens of the first answer, better than 1 of 3
    assert answer_scores("the keeper: Margaret Oyelaran", golds) == (1.0, 1.0)


def test_answer_scores_of_unanswerable_questions() -> None:
    assert answer_scores("", []) == (1.0, 1.0)
    assert answer_scores("Paris", []) == (0.0, 0.0)
    assert answer_scores("", ["Paris"]) == (0.0, 0.0)


@given(st.text(max_size=40), st.text(max_size=40))
def test_f1_is_symmetric_and_bounded(first: str, second: str) -> None:
    score = f1_score(first, second)
    assert 0.0 <= score <= 1.0
    assert score == pytest.approx(f1_score(second, first))
    assert f1_score(first, first) == 1.0
    assert exact_match(first, second) <= score


def test_retrieval_metrics() -> None:
    metrics = retrieval_metrics([1, 3, None, 7, 2])
    assert metrics["recall@1"] == pytest.approx(1 / 5)
    assert metrics["recall@5"] == pytest.approx(3 / 5)
    assert metrics["recall@10"] == pytest.approx(4 / 5)
    assert metrics["mrr"] == pytest.approx((1 + 1 / 3 + 0 + 1 / 7 + 1 / 2) / 5)
    assert set(retrieval_metrics([2], ks=(1, 3))) == {"recall@1", "recall@3", "mrr"}
    with pytest.raises(ValueError):
        retrieval_metrics([])


def test_percentile() -> None:
    assert percentile([4, 1, 3, 2], 50) == pytest.approx(2.5)
    assert percentile([0, 10, 20, 30, 40], 95) == pytest.approx(38.0)  # 30 + 0.8 * 10
    assert percentile([0, 10, 20, 30, 40], 0) == 0
    assert percentile([0, 10, 20, 30, 40], 100) == 40
    assert percentile([7.5], 95) == 7.5
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


# --- data ------------------------------------------------------------------------------------


def test_load_squad_v2() -> None:
    squad = load_squad(TINY_SQUAD)
    assert squad.has_unanswerable
    assert len(squad.documents) == TINY_PARAGRAPHS
    assert len(squad.questions) == TINY_QUESTIONS
    assert sum(q.is_impossible for q in squad.questions) == TINY_UNANSWERABLE
    first = squad.documents[0]
    assert first.source == "Harbour_Lighthouses/000"
    assert first.title == "Harbour Lighthouses"
    assert squad.documents[1].source == "Harbour_Lighthouses/001"
    assert squad.questions[0].source == first.source
    assert squad.questions[0].answers == ("1874",)
    assert all(not q.answers for q in squad.questions if q.is_impossible)


def test_load_squad_v1(tmp_path: Path) -> None:
    raw = {
        "version": "1.1",
        "data": [
            {
                "title": "Tea",
                "paragraphs": [
                    {
                        "context": "Tea is brewed.",
                        "qas": [
                            {
                                "id": "q1",
                                "question": "What is brewed?",
                                "answers": [{"text": "Tea", "answer_start": 0}],
                            }
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(raw))
    squad = load_squad(path)
    assert not squad.has_unanswerable
    assert squad.questions[0].source == "Tea/000"
    assert not squad.questions[0].is_impossible


@pytest.mark.parametrize("content", ["{not json", '{"data": [{"title": "x"}]}', "[1, 2]"])
def test_load_squad_rejects_other_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DocqaError):
        load_squad(path)


def test_load_squad_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DocqaError, match="no such file"):
        load_squad(tmp_path / "absent.json")


def test_sample_questions_is_seeded_and_keeps_file_order() -> None:
    questions = load_squad(TINY_SQUAD).questions
    sample = sample_questions(questions, 4, seed=3)
    assert len(sample) == 4
    assert sample == sample_questions(questions, 4, seed=3)
    positions = [questions.index(q) for q in sample]
    assert positions == sorted(positions)
    assert sample_questions(questions, None, seed=3) == questions
    assert sample_questions(questions, 100, seed=3) == questions


def test_oracle_passage_spans_the_whole_paragraph() -> None:
    document = load_squad(TINY_SQUAD).documents[2]
    passage = oracle_passage(document)
    assert passage.chunk.text == document.text
    assert (passage.chunk.start, passage.chunk.end) == (0, len(document.text))
    assert passage.chunk.source == document.source
    assert passage.title == document.title


# --- whole runs ------------------------------------------------------------------------------


def run_eval(tmp_path: Path, *flags: str, squad_file: Path = TINY_SQUAD) -> dict[str, Any]:
    out = tmp_path / "report.json"
    assert main(["eval", str(squad_file), "--json", str(out), *flags]) == 0
    return json.loads(out.read_text())


def check_answer_summary(summary: dict[str, Any], questions: int) -> None:
    assert summary["questions"] == questions
    assert 0.0 <= summary["exact_match"] <= summary["f1"] <= 1.0
    counts = summary["abstentions"]
    assert sum(counts.values()) == questions
    if "no_answer" not in summary:
        assert counts["abstained_unanswerable"] == counts["answered_unanswerable"] == 0
        return
    unanswerable = summary["no_answer"]["questions"]
    assert counts["abstained_unanswerable"] + counts["answered_unanswerable"] == unanswerable
    assert summary["has_answer"]["questions"] + unanswerable == questions
    if unanswerable:  # abstaining is the one right answer to an unanswerable question
        no_answer_em = counts["abstained_unanswerable"] / unanswerable
        assert summary["no_answer"]["exact_match"] == pytest.approx(no_answer_em)
        assert summary["no_answer"]["f1"] == pytest.approx(no_answer_em)


def check_consistent(report: dict[str, Any], questions: int) -> None:
    """Figures that must hold whatever the models answer."""
    assert report["settings"]["questions"] == questions
    retrieval = report["retrieval"]
    assert retrieval["questions"] == questions
    assert 0.0 <= retrieval["recall@1"] <= retrieval["recall@5"] <= retrieval["recall@10"] <= 1.0
    assert 0.0 <= retrieval["mrr"] <= retrieval["recall@10"]
    check_answer_summary(report["end_to_end"], questions)
    check_answer_summary(report["oracle"], questions)
    for stage in ("retrieval", "reading", "total", "oracle_reading"):
        figures = report["latency_seconds"][stage]
        assert 0.0 <= figures["p50"] <= figures["p95"]
    assert report["questions_per_second"] > 0


LEXICAL = ("--embedding-model", "none", "--reader-model", "none")


def test_eval_lexical_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = run_eval(tmp_path, *LEXICAL)
    settings = report["settings"]
    assert settings["mode"] == "sentence"
    assert settings["retrieval"] == "bm25"
    assert settings["embedding_model"] == settings["reader_model"] == "none"
    assert settings["paragraphs"] == TINY_PARAGRAPHS
    assert settings["passages"] == TINY_PARAGRAPHS  # each paragraph is far below the passage budget
    assert settings["file"] == str(TINY_SQUAD)
    check_consistent(report, TINY_QUESTIONS)
    assert report["end_to_end"]["no_answer"]["questions"] == TINY_UNANSWERABLE
    assert report["retrieval"]["has_answer"]["questions"] == TINY_QUESTIONS - TINY_UNANSWERABLE
    # Every question shares a content word with its paragraph, and there are fewer passages than 10.
    assert report["retrieval"]["recall@10"] == 1.0
    printed = capsys.readouterr().out
    assert "recall@10" in printed
    assert "mode sentence" in printed
    assert "answered, unanswerable (wrong)" in printed


def test_eval_squad_v1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = json.loads(TINY_SQUAD.read_text())
    raw["version"] = "1.1"
    for article in raw["data"]:
        for paragraph in article["paragraphs"]:
            paragraph["qas"] = [
                {key: value for key, value in qa.items() if key != "is_impossible"}
                for qa in paragraph["qas"]
                if not qa["is_impossible"]
            ]
    squad_file = tmp_path / "tiny_v1.json"
    squad_file.write_text(json.dumps(raw))
    report = run_eval(tmp_path, *LEXICAL, squad_file=squad_file)
    answerable = TINY_QUESTIONS - TINY_UNANSWERABLE
    check_consistent(report, answerable)
    assert "has_answer" not in report["retrieval"]
    assert "no_answer" not in report["end_to_end"]
    assert report["retrieval"]["recall@10"] == 1.0
    printed = capsys.readouterr().out
    assert "SQuAD 1.1" in printed
    assert "unanswerable" not in printed


def test_eval_limit_draws_a_sample(tmp_path: Path) -> None:
    report = run_eval(tmp_path, *LEXICAL, "--limit", "4", "--seed", "7")
    assert report["settings"]["limit"] == 4
    assert report["settings"]["seed"] == 7
    assert report["settings"]["questions_in_file"] == TINY_QUESTIONS
    check_consistent(report, 4)


def test_eval_with_models(tmp_path: Path, tiny_reader_path: Path, tiny_embedder_path: Path) -> None:
    report = run_eval(
        tmp_path,
        "--embedding-model", str(tiny_embedder_path),
        "--reader-model", str(tiny_reader_path),
        "--retrieval", "hybrid",
        "--top-k", "2",
    )  # fmt: skip
    settings = report["settings"]
    assert settings["mode"] == "extractive"
    assert settings["retrieval"] == "hybrid"
    assert settings["top_k"] == 2
    check_consistent(report, TINY_QUESTIONS)
    # Dense search ranks every passage, so the fused list holds all five.
    assert report["retrieval"]["recall@10"] == 1.0


def test_eval_reports_a_missing_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "no-such-model")
    assert main(["eval", str(TINY_SQUAD), "--embedding-model", "none", "--reader-model", missing]) == 2
    assert "could not load the reader model" in capsys.readouterr().err


# --- confidence, predictions, several top-k --------------------------------------------------


def model_flags(reader: Path, embedder: Path) -> tuple[str, ...]:
    return ("--embedding-model", str(embedder), "--reader-model", str(reader))


def check_risk_coverage(report: dict[str, Any]) -> None:
    rows = report["confidence"]["risk_coverage"]
    assert [row["threshold"] for row in rows] == [round(0.05 * step, 2) for step in range(21)]
    coverages = [row["coverage"] for row in rows]
    assert coverages == sorted(coverages, reverse=True)  # a higher threshold never answers more
    questions = report["settings"]["questions"]
    for row in rows:
        assert row["answered"] == round(row["coverage"] * questions)
        assert 0.0 <= row["exact_match"] <= row["f1"] <= 1.0
        if row["answered"]:
            assert 0.0 <= row["answered_exact_match"] <= row["answered_f1"] <= 1.0
        else:
            assert row["answered_f1"] is None
    # The row of the run's own threshold is the end-to-end result: the same rule on the same readings.
    threshold = report["settings"]["confidence_threshold"]
    (own,) = [row for row in rows if row["threshold"] == threshold]
    end_to_end = report["end_to_end"]
    assert own["exact_match"] == pytest.approx(end_to_end["exact_match"])
    assert own["f1"] == pytest.approx(end_to_end["f1"])
    abstentions = end_to_end["abstentions"]
    assert own["answered"] == abstentions["answered_answerable"] + abstentions["answered_unanswerable"]
    if "no_answer" in end_to_end:
        assert own["no_answer_abstained"] == pytest.approx(end_to_end["no_answer"]["exact_match"])


def check_calibration(report: dict[str, Any]) -> None:
    calibration = report["confidence"]["calibration"]
    bins = calibration["bins"]
    assert [(part["low"], part["high"]) for part in bins] == [(i / 10, (i + 1) / 10) for i in range(10)]
    assert sum(part["count"] for part in bins) == calibration["questions"]
    for part in bins:
        if part["count"]:
            assert part["low"] <= part["mean_score"] <= part["high"]
            assert 0.0 <= part["exact_match"] <= part["f1"] <= 1.0
    if calibration["questions"]:
        assert 0.0 <= calibration["ece"] <= 1.0


def test_eval_threshold_zero_row_is_the_end_to_end_result(
    tmp_path: Path, tiny_reader_path: Path, tiny_embedder_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = model_flags(tiny_reader_path, tiny_embedder_path)
    report = run_eval(tmp_path, *flags, "--threshold", "0", "--predictions", str(tmp_path / "pred.json"))
    assert report["settings"]["confidence_threshold"] == 0.0
    check_consistent(report, TINY_QUESTIONS)
    check_risk_coverage(report)
    check_calibration(report)
    first = report["confidence"]["risk_coverage"][0]
    assert first["f1"] == pytest.approx(report["end_to_end"]["f1"])
    assert first["exact_match"] == pytest.approx(report["end_to_end"]["exact_match"])
    picked = report["confidence"]["picked_threshold"]
    if picked["threshold"] is not None:
        assert picked["answered_f1"] >= picked["base_answered_f1"] + 0.1 - 1e-9
    printed = capsys.readouterr().out
    assert "Risk-coverage (%)" in printed
    assert "Calibration (score bin)" in printed
    assert "Picked threshold" in printed
    assert "risk-coverage plot: " in printed
    assert (tmp_path / "report-risk-coverage.png").read_bytes().startswith(b"\x89PNG")


def scores_from_predictions(predictions: dict[str, str], squad_file: Path = TINY_SQUAD) -> tuple[float, float]:
    questions = load_squad(squad_file).questions
    assert set(predictions) == {question.id for question in questions}
    scores = [answer_scores(predictions[question.id], question.answers) for question in questions]
    return sum(em for em, _ in scores) / len(scores), sum(f1 for _, f1 in scores) / len(scores)


def test_eval_predictions_reproduce_the_report(
    tmp_path: Path, tiny_reader_path: Path, tiny_embedder_path: Path
) -> None:
    pred = tmp_path / "out" / "pred.json"
    report = run_eval(tmp_path, *model_flags(tiny_reader_path, tiny_embedder_path), "--predictions", str(pred))
    predictions = json.loads(pred.read_text())
    em, f1 = scores_from_predictions(predictions)
    assert em == pytest.approx(report["end_to_end"]["exact_match"])
    assert f1 == pytest.approx(report["end_to_end"]["f1"])
    na_prob = json.loads((tmp_path / "out" / "pred-na-prob.json").read_text())
    assert set(na_prob) == set(predictions)
    assert all(0.0 <= value <= 1.0 for value in na_prob.values())
    abstained = sum(answer == "" for answer in predictions.values())
    counts = report["end_to_end"]["abstentions"]
    assert abstained == counts["abstained_unanswerable"] + counts["abstained_answerable"]


def test_eval_lexical_predictions_and_squad_v1(tmp_path: Path) -> None:
    pred = tmp_path / "pred.json"
    report = run_eval(tmp_path, *LEXICAL, "--predictions", str(pred))
    em, f1 = scores_from_predictions(json.loads(pred.read_text()))
    assert (em, f1) == (pytest.approx(report["end_to_end"]["exact_match"]), pytest.approx(report["end_to_end"]["f1"]))
    check_risk_coverage(report)
    check_calibration(report)
    raw = json.loads(TINY_SQUAD.read_text())
    raw["version"] = "1.1"
    for article in raw["data"]:
        for paragraph in article["paragraphs"]:
            paragraph["qas"] = [qa for qa in paragraph["qas"] if not qa["is_impossible"]]
    squad_file = tmp_path / "tiny_v1.json"
    squad_file.write_text(json.dumps(raw))
    v1_pred = tmp_path / "v1" / "pred.json"
    report = run_eval(tmp_path, *LEXICAL, "--predictions", str(v1_pred), squad_file=squad_file)
    assert not (tmp_path / "v1" / "pred-na-prob.json").exists()  # no-answer probabilities are for SQuAD 2.0
    assert "no_answer_abstained" not in report["confidence"]["risk_coverage"][0]
    check_risk_coverage(report)
    _, f1 = scores_from_predictions(json.loads(v1_pred.read_text()), squad_file)
    assert f1 == pytest.approx(report["end_to_end"]["f1"])


def test_eval_several_top_k(
    tmp_path: Path, tiny_reader_path: Path, tiny_embedder_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = model_flags(tiny_reader_path, tiny_embedder_path)
    pred = tmp_path / "pred.json"
    combined = run_eval(tmp_path, *flags, "--top-k", "1,3,1", "--predictions", str(pred))
    assert combined["top_k"] == [1, 3]  # a repeated k is read once
    reports = combined["reports"]
    assert [report["settings"]["top_k"] for report in reports] == [1, 3]
    for report in reports:
        check_consistent(report, TINY_QUESTIONS)
        check_risk_coverage(report)
        check_calibration(report)
    # Retrieval and the gold paragraph's reading do not depend on k: done once, shared.
    assert reports[0]["retrieval"] == reports[1]["retrieval"]
    assert reports[0]["oracle"] == reports[1]["oracle"]
    for k, report in zip((1, 3), reports, strict=True):
        _, f1 = scores_from_predictions(json.loads((tmp_path / f"pred-top{k}.json").read_text()))
        assert f1 == pytest.approx(report["end_to_end"]["f1"])
        assert (tmp_path / f"report-top{k}-risk-coverage.png").exists()
    printed = capsys.readouterr().out
    assert "End to end (%) by top-k" in printed
    assert "gold paragraph (any top-k)" in printed
    # A single k in the list gives the same figures as the plain flag.
    single = run_eval(tmp_path, *flags, "--top-k", "3")
    assert single["settings"]["top_k"] == 3
    assert single["end_to_end"] == reports[1]["end_to_end"]
    assert single["confidence"] == reports[1]["confidence"]


def test_eval_plot_skipped_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # the import then fails
    rows = [{"threshold": 0.0, "coverage": 1.0, "answered_f1": 0.5, "f1": 0.5}]
    note = write_plot(rows, tmp_path / "plot.png", "title")
    assert "skipped" in note
    assert 'pip install -e ".[bench]"' in note
    assert not (tmp_path / "plot.png").exists()


def test_no_answer_probability() -> None:
    answered = Reading("x", False, 0.0, 0.0, 0.0, guess="x", score=0.8, reader_abstained=False, no_answer_score=0.3)
    assert no_answer_probability(answered) == pytest.approx(0.2)
    below_threshold = replace(answered, prediction="", abstained=True, score=0.1)
    assert no_answer_probability(below_threshold) == pytest.approx(0.9)
    declined = replace(answered, prediction="", abstained=True, reader_abstained=True)
    assert no_answer_probability(declined) == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--top-k", "0"), ("--top-k", "1,x"), ("--top-k", "5,99999999999999999999"), ("--threshold", "1.5")],
)
def test_eval_rejects_bad_flags(flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["eval", str(TINY_SQUAD), flag, value])
    assert raised.value.code == 2
    assert flag in capsys.readouterr().err


# --- malformed files -------------------------------------------------------------------------


def tiny_squad_with(change: Any) -> dict[str, Any]:
    """The tiny SQuAD 2.0 file, decoded, after ``change`` edited it."""
    raw = json.loads(TINY_SQUAD.read_text())
    change(raw)
    return raw


def first_qa(raw: dict[str, Any]) -> dict[str, Any]:
    return raw["data"][0]["paragraphs"][0]["qas"][0]


QA = "data[0].paragraphs[0].qas[0]"
MALFORMED = {
    "question a number": (lambda raw: first_qa(raw).update(question=42), f"{QA}.question must be text, not 42"),
    "question a list": (lambda raw: first_qa(raw).update(question=["Who?"]), "must be text, not a JSON list"),
    "answer a number": (lambda raw: first_qa(raw)["answers"][0].update(text=1874), f"{QA}.answers[0].text must be"),
    "answers an object": (lambda raw: first_qa(raw).update(answers={"text": "1874"}), f"{QA}.answers must be a list"),
    "title a number": (lambda raw: raw["data"][1].update(title=7), "data[1].title must be text, not 7"),
    "context null": (
        lambda raw: raw["data"][2]["paragraphs"][0].update(context=None),
        "data[2].paragraphs[0].context must be text, not None",
    ),
    "id a list": (lambda raw: first_qa(raw).update(id=[1]), f"{QA}.id must be text or a whole number"),
    "is_impossible a string": (
        lambda raw: first_qa(raw).update(is_impossible="no"),
        f"{QA}.is_impossible must be true or false, not 'no'",
    ),
    "is_impossible a number": (lambda raw: first_qa(raw).update(is_impossible=0), "must be true or false, not 0"),
    "data an object": (lambda raw: raw.update(data={}), "data must be a list, not a JSON object"),
    "lone surrogate in a question": (
        lambda raw: first_qa(raw).update(question="When was it \ud800 lit?"),
        f"{QA}.question holds a lone surrogate ('\\ud800' at character 12)",
    ),
    "lone surrogate in a context": (
        lambda raw: raw["data"][0]["paragraphs"][1].update(context="Half a pair: \udc00."),
        "data[0].paragraphs[1].context holds a lone surrogate",
    ),
    "lone surrogate in a title": (lambda raw: raw["data"][0].update(title="\ud83d"), "data[0].title holds a lone"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_eval_of_a_malformed_file_is_one_line_with_status_2(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change, message = MALFORMED[case]
    squad_file = tmp_path / "malformed.json"
    squad_file.write_text(json.dumps(tiny_squad_with(change)))  # lone surrogates are written as \u escapes
    assert main(["eval", str(squad_file), *LEXICAL]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith(f"docqa: error: {squad_file} is not in the SQuAD format: ") and len(err.splitlines()) == 1
    assert message in err and "Traceback" not in captured.err


def test_eval_of_deeply_nested_json_is_one_line_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    squad_file = tmp_path / "nested.json"
    squad_file.write_text('{"data": ' + "[" * 200_000 + "]" * 200_000 + "}")
    assert main(["eval", str(squad_file), *LEXICAL]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"docqa: error: {squad_file} could not be read as JSON: it is nested too deeply"


def test_an_absent_is_impossible_is_false_and_a_json_true_is_true() -> None:
    squad = parse_squad(tiny_squad_with(lambda raw: first_qa(raw).pop("is_impossible")))
    assert squad.questions[0].is_impossible is False
    assert sum(q.is_impossible for q in squad.questions) == TINY_UNANSWERABLE


def test_articles_sharing_a_title_keep_their_paragraphs_apart(tmp_path: Path) -> None:
    def share_titles(raw: dict[str, Any]) -> None:
        for article in raw["data"]:
            article["title"] = "Shared"

    raw = tiny_squad_with(share_titles)
    squad = parse_squad(raw)
    sources = [document.source for document in squad.documents]
    assert sources == [f"Shared/{number:03d}" for number in range(TINY_PARAGRAPHS)]
    contexts = [p["context"] for article in raw["data"] for p in article["paragraphs"]]
    assert [document.text for document in squad.documents] == contexts
    by_source = {document.source: document.text for document in squad.documents}
    paragraph_of_question = {
        qa["id"]: p["context"] for article in raw["data"] for p in article["paragraphs"] for qa in p["qas"]
    }
    assert all(by_source[q.source] == paragraph_of_question[q.id] for q in squad.questions)
    squad_file = tmp_path / "shared.json"
    squad_file.write_text(json.dumps(raw))
    report = run_eval(tmp_path, *LEXICAL, squad_file=squad_file)
    assert report["settings"]["paragraphs"] == report["settings"]["passages"] == TINY_PARAGRAPHS
    assert report["retrieval"]["recall@10"] == 1.0
