"""docqa eval --corpus: a folder of files and questions about it, scored as a user sees the answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docqa.errors import DocqaError
from docqa.evaluation.folder import evaluate_folder, format_folder_report, load_questions, location_matches


def test_locations_match_by_page_range_and_by_path() -> None:
    assert location_matches("page 3", "pages 2-3")
    assert location_matches("pages 2\u20133", "page 2")
    assert not location_matches("page 4", "pages 2-3")
    assert location_matches("Leave \u203a Parental leave", "Leave")
    assert location_matches("sheet Prices, row 4", "sheet Prices")
    assert not location_matches("sheet Stock", "sheet Prices")
    assert location_matches("chapter 2: The fire", "chapter 2")
    assert not location_matches("chapter 12: The sale", "chapter 1")
    assert location_matches("News \u203a Quotes \u203a Mayor", "Quotes")  # the gold path leaves out the page title
    assert not location_matches("News \u203a Quotes", "Prices")
    assert not location_matches(None, "page 1")
    assert location_matches(None, "")


def test_a_folder_is_indexed_and_each_question_scored(tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "ferry.txt").write_text("The ferry to Brindle Island leaves from Pier 4 at noon every Sunday.\n")
    (corpus / "museum.md").write_text("# Museum\n\n## Hours\n\nThe Tolland museum opens at 9:30 on weekdays.\n")
    questions = tmp_path / "questions.json"
    questions.write_text(
        json.dumps(
            {
                "questions": [
                    {"id": "q1", "question": "From which pier does the ferry to Brindle Island leave?",
                     "answers": ["Pier 4"], "file": "ferry.txt", "location": "", "format": "txt", "kind": "fact"},
                    {"id": "q2", "question": "When does the Tolland museum open on weekdays?", "answers": ["9:30"],
                     "file": "museum.md", "location": "Museum \u203a Hours", "format": "md", "kind": "date"},
                    {"id": "q3", "question": "How much does the Zanzibar aquarium charge?", "answers": [],
                     "file": "", "location": "", "unanswerable": True, "kind": "unanswerable"},
                ]
            }
        )
    )
    report = evaluate_folder(corpus, questions, embedding_model="none", reader_model="none")
    overall = report["overall"]
    assert (overall["answerable"], overall["unanswerable"]) == (2, 1)
    assert overall["first_citation_right_file"] == 1.0
    assert overall["right_location"] == 1.0
    assert overall["holds_gold"] == 1.0  # the lexical mode shows the sentence, which holds the answer
    assert overall["abstained_unanswerable"] == 1.0
    assert set(report["by_format"]) == {"txt", "md", "-"}
    assert [result["id"] for result in report["results"]] == ["q1", "q2", "q3"]
    assert "holds gold" in format_folder_report(report)


def test_a_questions_file_of_another_shape_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"data": []}))
    with pytest.raises(DocqaError, match="not a folder questions file"):
        load_questions(path)


def test_list_items_and_conflicts_are_scored(tmp_path: Path) -> None:
    from docqa.evaluation.kinds import list_scores

    gold = ["fire safety, manual handling and data protection"]
    assert list_scores("fire safety, manual handling and data protection", gold) == (1.0, 1.0)
    assert list_scores("fire safety", gold) == (1.0, 1 / 3)
    assert list_scores("fire safety, first aid", gold) == (0.5, 1 / 3)
    assert list_scores("", gold) == (0.0, 0.0)

    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "hours-2023.txt").write_text("date 2023-01-10 Hours\n\nThe library closes at 8 pm on weekdays.\n")
    (corpus / "hours-2024.txt").write_text("date 2024-03-01 Hours\n\nThe library closes at 10 pm on weekdays.\n")
    (corpus / "induction.txt").write_text(
        "Induction\n\nNew starters must complete fire safety, manual handling and data protection courses.\n"
    )
    questions = tmp_path / "questions.json"
    questions.write_text(
        json.dumps(
            {
                "questions": [
                    {"id": "c", "question": "When does the library close on weekdays?", "answers": ["10 pm"],
                     "stale_answers": ["8 pm"], "file": "hours-2024.txt", "location": "", "kind": "conflict"},
                    {"id": "s", "question": "When does the library close on weekdays?", "answers": ["8 pm"],
                     "stale_answers": ["10 pm"], "file": "hours-2023.txt", "location": "", "kind": "conflict"},
                    {"id": "l", "question": "Which courses must new starters complete?", "answers": gold,
                     "file": "induction.txt", "location": "", "kind": "list"},
                ]
            }
        )
    )
    report = evaluate_folder(corpus, questions, embedding_model="none", reader_model="none")
    results = {result["id"]: result for result in report["results"]}
    assert results["c"]["conflict_shown"] is True
    assert results["s"]["conflict_shown"] is False  # both shown, but the value called current is not first
    assert results["l"]["list_recall"] == 1.0 and results["l"]["conflict_shown"] is None
    assert report["by_kind"]["conflict"]["conflicts_shown"] == 0.5
    assert "conflict questions: both values shown, the newer first, 50%" in format_folder_report(report)
    assert report["overall"]["conflicts_elsewhere"] == 0.0  # the list question shows no disagreement
