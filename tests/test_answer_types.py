"""The kind of value a question asks for, and whether a sentence gives one."""

from __future__ import annotations

import pytest

from docqa.answer_types import asked_kind, gives_kind, series


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many bikes were produced in May 2024?", "number"),
        ("Within how many days must a claim be submitted?", "number"),
        ("How much did the first bike sell for?", "number"),
        ("What was the paint rework rate after the new line?", "number"),
        ("What is the minimum password length?", "number"),
        ("What did warranty claim WC-24-004 cost?", "number"),
        ("When is the fire alarm tested?", "date"),
        ("In what year did the company move?", "date"),
        ("At what time does the depot close?", "date"),
        ("Who chaired the meeting?", None),
        ("Where is the assembly point?", None),
        ("Why did the margin dip?", None),
        ("Which guidance did the policy replace?", None),
        ("Which parts should be lubricated after cleaning?", "several"),
        ("Which years did the reviews cover?", "date"),  # a date before several
    ],
)
def test_the_kind_a_question_asks_for(question: str, kind: str | None) -> None:
    assert asked_kind(question) == kind


def test_a_number_is_given_in_digits_or_words_but_not_by_a_date_or_a_time() -> None:
    assert gives_kind("Production reached 1,010 bikes.", "number")
    assert gives_kind("The course lasts six weeks.", "number")
    assert not gives_kind("Deliveries run between 7am and 7pm.", "number")
    assert not gives_kind("The party is on Friday 19 July at 10:30.", "number")
    assert not gives_kind("Crash replacement is a goodwill gesture.", "number")
    assert not gives_kind("In 2011 the company began exporting to Ireland.", "number")  # a year dates
    assert gives_kind("The company sold 2,000 bikes.", "number")


def test_a_date_is_a_year_a_month_a_weekday_or_a_time() -> None:
    assert gives_kind("The alarm is tested every Wednesday.", "date")
    assert gives_kind("The run is due on 9 August.", "date")
    assert gives_kind("It moved in 1998.", "date")
    assert not gives_kind("The alarm is tested by the fire wardens.", "date")


def test_a_value_the_question_already_gives_does_not_count() -> None:
    question = "How many bikes were produced in May 2024?"
    assert not gives_kind("Production in 2024 went well.", "number", question)
    assert gives_kind("In 2024 we produced 1,010 bikes.", "number", question)
    assert not gives_kind("The meeting was on 12 June 2024.", "date", "What was decided on 12 June 2024?")


@pytest.mark.parametrize(
    ("text", "question", "items"),
    [
        ("Mandatory training: fire safety, manual handling and data protection", "",
         ["fire safety", "manual handling", "data protection"]),
        ("After cleaning, lubricate the chain, derailleur pivots and brake lever pivots.",
         "Which parts should be lubricated?", ["the chain", "derailleur pivots", "brake lever pivots"]),
        ("Reince Priebus, Mitt Romney and Joe Biden condemned the attack.", "Who condemned it?",
         ["Reince Priebus", "Mitt Romney", "Joe Biden"]),
        ("We sell red, green, and blue frames.", "Which colours are sold?", ["red", "green", "blue frames"]),
        ("People were told to leave behind backpacks, chairs and flagpoles so people could get through.",
         "What were people told to leave behind?", ["backpacks", "chairs", "flagpoles"]),
        ("Courses are online and must be finished in a month.", "Which courses are mandatory?", []),
        ("Tea and cake are served.", "", []),  # two things joined in passing are no series
    ],
)  # fmt: skip
def test_the_items_of_a_series(text: str, question: str, items: list[str]) -> None:
    assert [text[start:end] for start, end in series(text, question)] == items
    assert gives_kind(text, "several", question) is bool(items)


def test_a_number_word_s_value() -> None:
    from docqa.answer_types import number_value, range_holds

    assert number_value("12") == 12.0 and number_value("six") == 6.0
    assert number_value("²") is None  # a digit character that is no decimal number
    assert range_holds("Band: 5 to 9 years", 6.0) and not range_holds("Band: 5 to 9 years", 10.0)
