"""Follow-up detection: only a question that leans on the previous turn is searched with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from docqa.assistant import Assistant
from docqa.conversation import (
    follow_up_turn,
    leans_on_previous,
    resolve_follow_up,
    rewrite_follow_up,
    words_to_match,
)
from docqa.schema import Answer

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
    history = [("An older question?", "An older answer."), (previous_question, previous_answer)]
    resolved = resolve_follow_up(pair["question"], history)
    assert rewrite_follow_up(pair["question"], history) == f"{resolved} {previous_question} {previous_answer}"
    # Without a confident answer to lean on, only the previous question is searched with it.
    assert rewrite_follow_up(pair["question"], [(previous_question, "")]) == f"{pair['question']} {previous_question}"


@pytest.mark.parametrize(
    ("question", "previous", "resolved"),
    [
        (
            "How many troopers did he send?",
            (
                "Which governor sent the Virginia National Guard?",
                "In the meantime, Virginia Governor Ralph Northam has responded by sending over the Virginia "
                "National Guard and state troopers.",
            ),
            "How many troopers did Ralph Northam send?",
        ),
        ("How many troopers did he send?", ("Which governor sent them?", "Ralph Northam"), None),
        (
            "What did she write next?",
            (
                "Who tweeted that she had evacuated her office?",
                "\u201cJust evacuated my office in Cannon. Now we\u2019re seeing protesters assaulting Capitol "
                "Police,\u201d said Representative Nancy Mace in a tweet.",
            ),
            "What did Representative Nancy Mace write next?",
        ),
        (
            "Who said she had to leave her office?",
            ("Who tweeted?", "Nancy Mace"),
            "Who said Nancy Mace had to leave Nancy Mace's office?",
        ),
        ("What annual rent has he proposed for Unit 4?", ("Who signed the letter?", "Jonathan Pike MRICS"), None),
        ("When did he join?", ("Who was the first employee?", "Colin"), "When did Colin join?"),
        # No name in the answer (a number, a lower-case sentence, a lone capitalised word of a sentence): kept.
        ("What did he say next?", ("How many people came?", "200"), "What did he say next?"),
        (
            "What did he say next?",
            ("Who spoke?", "The building has gone into lockdown, with politicians inside."),
            "What did he say next?",
        ),
        # A name before the pronoun may be its referent; "they" is not replaced.
        ("Did Pence say he would?", ("Who spoke?", "Mike Pence"), "Did Pence say he would?"),
        ("What did Mitt Romney call it?", ("Who spoke?", "Reince Preibus"), "What did Mitt Romney call it?"),
        ("How long are they expected to take?", ("When do the roof works start?", "May"), None),
        # "it" and "its" are what the previous question named: its last run of capitalised words.
        (
            "And how much will it cost?",
            ("How many jobs will the Kestrel Moor expansion create?", "120"),
            "And how much will Kestrel Moor cost?",
        ),
        (
            "When is its fire alarm tested?",
            ("Where is the assembly point for Unit 4?", "the car park"),
            "When is Unit 4's fire alarm tested?",
        ),
        ("How big is it?", ("What is the capital?", "Paris"), "How big is it?"),  # nothing was named
        # A question that stands alone is read as asked.
        ("Who is the governor of Virginia?", ("Who spoke?", "Reince Preibus"), "Who is the governor of Virginia?"),
    ],
)
def test_pronouns_resolve_to_the_previous_answers_name(
    question: str, previous: tuple[str, str], resolved: str | None
) -> None:
    expected = resolved or question.replace(" he ", f" {previous[1]} ")
    assert resolve_follow_up(question, [previous]) == expected
    assert rewrite_follow_up(question, [previous]).startswith(expected)


@pytest.mark.parametrize(
    "question",
    [
        "How many young people will it work with?",
        "How long are they expected to take?",
        "How much of its budget is left?",
    ],
)
def test_it_and_they_as_the_subject_lean_on_the_previous_turn(question: str) -> None:
    assert leans_on_previous(question)


def test_only_a_confident_answer_is_leaned_on() -> None:
    def answer(**fields: Any) -> Answer:
        return Answer(
            **{
                "question": "Who sent the Guard?",
                "text": "Ralph Northam",
                "score": 0.9,
                "abstained": False,
                "mode": "extractive",
                **fields,
            }
        )

    assert follow_up_turn(answer()) == ("Who sent the Guard?", "Ralph Northam")
    assert answer().to_dict()["confident"] is True
    assert follow_up_turn(answer(score=0.3)) == ("Who sent the Guard?", "")  # low confidence
    assert follow_up_turn(answer(closest=True, mode="sentence")) == ("Who sent the Guard?", "")
    assert follow_up_turn(answer(text="", score=0.0, abstained=True)) == ("Who sent the Guard?", "")
    assert answer(abstained=True).to_dict()["confident"] is False


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


def test_a_follow_up_reads_the_previous_answers_name_and_skips_an_abstention(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "guard.txt").write_text(
        "Virginia Governor Ralph Northam sent the Virginia National Guard to Washington.\n", encoding="utf-8"
    )
    (corpus / "troopers.txt").write_text(
        "Ralph Northam also sent 200 state troopers to the Capitol.\n\nThe mayor imposed a curfew.\n", encoding="utf-8"
    )
    with Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model="none") as assistant:
        first = assistant.ask("Which governor sent the Virginia National Guard?")
        assert first.confident and first.citations[0].source == "guard.txt"
        follow_up = assistant.ask("How many troopers did he send?", history=[follow_up_turn(first)])
        assert follow_up.query.startswith("How many troopers did Ralph Northam send? Which governor sent")
        assert follow_up.citations[0].source == "troopers.txt"
        assert "200" in follow_up.text
        unanswered = assistant.ask("Which xylophone brand did the quartet prefer?")
        assert unanswered.abstained and not unanswered.confident
        after = assistant.ask("How many troopers did he send?", history=[follow_up_turn(unanswered)])
        assert after.query == "How many troopers did he send? Which xylophone brand did the quartet prefer?"


@pytest.mark.parametrize(
    "previous",
    [
        (
            "Which building did Capitol Police order Congressional staff to leave?",
            "Capitol Police sent orders for Congressional staff to leave the Cannon building after Trump called "
            "on his followers to protest the certification of Joe Biden\u2019s election victory.",
        ),
        ("Who called it an insurrection?", "It was condemned after Joe Biden\u2019s victory was certified."),
    ],
)
def test_a_sentence_about_a_thing_gives_no_name(previous: tuple[str, str]) -> None:
    question = "Who said she had just evacuated her office in Cannon?"
    assert resolve_follow_up(question, [previous]) == question


def test_the_sentence_reader_matches_an_unresolved_he_with_the_previous_question() -> None:
    def matched(question: str, history: list[tuple[str, str]] | None) -> str:
        return words_to_match(question, resolve_follow_up(question, history), history)

    previous = ("Who was Walter Brannigan's first employee?", "")  # no confident answer to name him
    assert matched("In which year did he join?", [previous]) == (
        "In which year did he join? Who was Walter Brannigan's first employee?"
    )
    named = ("Which governor sent the Virginia National Guard?", "Ralph Northam")
    assert matched("How many troopers did he send?", [named]) == "How many troopers did Ralph Northam send?"
    assert matched("What did Mitt Romney call it?", [previous]) == "What did Mitt Romney call it?"  # no "he"
    building = ("Which building did Capitol Police order Congressional staff to leave?", "")
    asks_who = "Who said she had just evacuated her office in Cannon?"  # "she" is whom it asks for
    assert matched(asks_who, [building]) == asks_who
    assert matched("In which year did he join?", None) == "In which year did he join?"


def test_a_follow_up_whose_he_is_unknown_is_answered_in_the_lexical_mode(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "history.txt").write_text(
        "Walter Brannigan opened the workshop in 1982.\n\n"
        "His first employee was his nephew, Colin Brannigan, who joined in 1985.\n\n"
        "The workshop moved to a new site in 1998.\n",
        encoding="utf-8",
    )
    previous = ("Who was Walter Brannigan's first employee?", "")
    with Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model="none") as assistant:
        answer = assistant.ask("In which year did he join?", history=[previous])
        alone = assistant.ask("In which year did he join?")
    assert not answer.abstained and "joined in 1985" in answer.text
    assert alone.abstained or "joined in 1985" not in alone.text  # without the previous question, no match
