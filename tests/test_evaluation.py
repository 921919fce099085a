"""Tests of the SQuAD evaluation: the metric functions, the data loading, and whole runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docqa.cli import main
from docqa.errors import DocqaError
from docqa.evaluation import (
    answer_scores,
    exact_match,
    f1_score,
    load_squad,
    normalize_answer,
    oracle_passage,
    retrieval_metrics,
    sample_questions,
)
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
