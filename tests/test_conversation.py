"""Follow-up detection: only a question that leans on the previous turn is searched with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from docqa.assistant import Assistant
from docqa.conversation import leans_on_previous, rewrite_follow_up

PAIRS: list[dict[str, Any]] = json.loads(Path(__file__).with_name("data").joinpath("follow_ups.json").read_text())[
    "pairs"
]
CITIES = ["Lisbon", "Oslo", "Quito", "Hanoi", "Lagos", "Perth", "Turin", "Dakar", "Cusco", "Riga"]


def test_the_pairs_cover_both_kinds() -> None:
    assert sum(pair["leans"] for pair in PAIRS) >= 15
    assert sum(not pair["leans"] for pair in PAIRS) >= 15


@pytest.mark.parametrize("pair", [p for p in PAIRS if not p["leans"]], ids=lambda p: p["question"])
def test_a_standalone_question_is_searched_alone(pair: dict[str, Any]) -> None:
    assert not leans_on_previous(pair["question"])
    assert rewrite_follow_up(pair["question"], [tuple(pair["previous"])]) == pair["question"]


@pytest.mark.parametrize("pair", [p for p in PAIRS if p["leans"]], ids=lambda p: p["question"])
def test_a_follow_up_is_searched_with_the_previous_turn(pair: dict[str, Any]) -> None:
    previous_question, previous_answer = pair["previous"]
    query = rewrite_follow_up(pair["question"], [("An older question?", "An older answer."), tuple(pair["previous"])])
    assert query == f"{pair['question']} {previous_question} {previous_answer}"


def test_without_history_the_question_is_the_query() -> None:
    assert rewrite_follow_up("How many troopers did he send?", None) == "How many troopers did he send?"
    assert rewrite_follow_up("And in 2020?", []) == "And in 2020?"


@pytest.mark.parametrize(
    ("question", "leans"),
    [
        ("When?", True),
        ("Why not?", True),
        ("What did they say?", True),
        ("Who said that?", True),
        ("Is there a curfew?", False),
        ("Was Pence evacuated?", False),
        ("Define sedition", False),
        ("", False),
    ],
)
def test_short_questions(question: str, leans: bool) -> None:
    assert leans_on_previous(question) is leans


def test_the_varnak_question_is_answered_from_its_own_document(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for number in range(1, 301):
        city = CITIES[number % len(CITIES)]
        (corpus / f"doc{number:04d}.txt").write_text(f"Varnak{number:04d} lives in {city}.\n", encoding="utf-8")
    pair = next(p for p in PAIRS if p.get("corpus") == "varnak")
    with Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model="none") as assistant:
        first = assistant.ask(pair["previous"][0])
        assert first.citations[0].source == "doc0010.txt"
        answer = assistant.ask(pair["question"], history=[(first.question, first.text)])
    assert answer.query == ""  # searched as asked
    assert not answer.abstained
    assert answer.citations[0].source == pair["source"] == "doc0200.txt"
    assert answer.text == f"Varnak0200 lives in {CITIES[200 % len(CITIES)]}."
