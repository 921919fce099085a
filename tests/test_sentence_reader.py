"""The lexical reader: the best sentence of all retrieved passages, and abstaining on missing words."""

from __future__ import annotations

import pytest

from docqa.reader import SentenceReader
from docqa.reader.sentence import is_label
from docqa.schema import Chunk, RetrievedPassage


def passage(source: str, text: str, title: str = "", start: int = 0) -> RetrievedPassage:
    return RetrievedPassage(Chunk(source, 0, text, start, start + len(text)), 1.0, title=title)


NEWS = passage(
    "news.txt",
    "Virginia Governor Ralph Northam has responded by sending over the National Guard. "
    "A curfew has been imposed on the city.",
)
TWEET = passage("tweet.txt", "Per the request, I am sending 200 Virginia State Troopers to the Capitol tonight.")


def test_sentences_of_every_passage_compete() -> None:
    result = SentenceReader().read("How many Virginia State Troopers were sent?", [NEWS, TWEET])
    assert not result.abstained
    assert result.answers[0].passage is TWEET
    assert "200 Virginia State Troopers" in result.answers[0].text
    assert result.answers[0].text == TWEET.chunk.text[result.answers[0].start : result.answers[0].end]


def test_the_score_grows_with_the_weighted_share_of_the_question_words_held() -> None:
    whole = SentenceReader().read("Which curfew was imposed on the city?", [NEWS])
    assert whole.answers[0].text == "A curfew has been imposed on the city."
    partial = SentenceReader().read("Which curfew was lifted in the city?", [NEWS])
    assert 0.0 < partial.answers[0].score < whole.answers[0].score < 1.0
    found = SentenceReader().candidates("Which curfew was lifted in the city?", [NEWS])
    assert found[0][1].coverage == pytest.approx(found[0][0].score)  # a candidate's score is its share
    assert 0.0 < found[0][1].coverage < 1.0


def test_a_near_tie_goes_to_the_better_passage() -> None:
    first = passage("a.txt", "The ferry leaves at noon.")
    second = passage("b.txt", "The ferry leaves at noon from the pier.")
    result = SentenceReader().read("When does the ferry leave?", [first, second])
    assert [answer.passage for answer in result.answers] == [first, second]  # the same words, a worse rank
    found = SentenceReader().candidates("When does the ferry leave?", [first, second])
    assert [features.rank for _, features in found] == [0, 1]
    assert found[0][1].coverage == found[1][1].coverage


def test_a_sentence_shared_by_overlapping_passages_is_read_once() -> None:
    text = "The ferry leaves at noon. Tickets are sold on board."
    whole = passage("ferry.txt", text)
    tail = RetrievedPassage(Chunk("ferry.txt", 1, text[26:], 26, len(text)), 0.5)
    result = SentenceReader().read("Where are tickets sold?", [whole, tail])
    assert [answer.text for answer in result.answers] == ["Tickets are sold on board."]
    assert result.answers[0].passage is whole


def test_it_abstains_when_a_name_of_the_question_is_missing() -> None:
    capital = passage("us.txt", "Protesters flooded the nation's capital.")
    result = SentenceReader().read("What is the capital of France?", [capital])
    assert result.abstained
    assert result.answers[0].text == "Protesters flooded the nation's capital."  # kept as the closest guess


def test_it_abstains_when_a_number_of_the_question_is_missing() -> None:
    text = "The first historical reference to Warsaw dates back to the year 1313."
    assert SentenceReader().read("What happened in Warsaw in 1313?", [passage("w.txt", text)]).abstained is False
    assert SentenceReader().read("What happened in Warsaw in 1314?", [passage("w.txt", text)]).abstained


def test_a_name_in_the_document_title_counts_as_held() -> None:
    text = "The city is the seat of a Roman Catholic archdiocese."
    titled = passage("warsaw.txt", text, title="Warsaw")
    result = SentenceReader().read("What archdiocese has its seat in Warsaw?", [titled])
    assert not result.abstained
    assert SentenceReader().read("What archdiocese has its seat in Warsaw?", [passage("x.txt", text)]).abstained


def test_a_name_on_a_label_or_record_line_of_the_same_document_counts_as_held() -> None:
    head = passage("letter.txt", "Harbour Lofts Ltd\n\nRe: Quay 7 - rent review", start=0)
    body = passage("letter.txt", "The works are scheduled to start on 5 August and take three weeks.", start=200)
    question = "When do the works at Quay 7 start?"
    result = SentenceReader().read(question, [body, head])
    assert not result.abstained
    assert result.answers[0].passage is body
    # The line of another document, or a full sentence of the same one, does not lend its names.
    other = passage("other.txt", "Harbour Lofts Ltd\n\nRe: Quay 7 - rent review")
    assert SentenceReader().read(question, [body, other]).abstained
    told = passage("letter.txt", "We wrote to you about Quay 7 last year.", start=0)
    assert SentenceReader().read(question, [body, told]).abstained


def test_a_long_heading_that_names_its_place_is_no_answer() -> None:
    heading = "Harbour board approves twelve new berths and a bigger ferry terminal for the island"
    text = f"{heading}\n\nThe board approved the plans on Monday after a long debate."
    chunk = Chunk("news.html", 0, text, 0, len(text), locations=((0, heading),))
    result = SentenceReader().read("When did the harbour board approve the new berths?", [RetrievedPassage(chunk, 1.0)])
    assert [answer.text for answer in result.answers] == ["The board approved the plans on Monday after a long debate."]
    cut = Chunk("news.html", 0, text, 0, len(text), locations=((0, heading[:40].rstrip() + "\u2026"),))
    shown = SentenceReader().read("When did the harbour board approve the new berths?", [RetrievedPassage(cut, 1.0)])
    assert heading not in [answer.text for answer in shown.answers]  # a label cut short still names it


def test_a_number_of_the_question_is_held_by_a_range_that_holds_it() -> None:
    rows = [
        "Service: less than 2 years \u00b7 Days: 25",
        "Service: 2 to 4 years \u00b7 Days: 26",
        "Service: 5 to 9 years \u00b7 Days: 28",
        "Service: 10 years or more \u00b7 Days: 30",
    ]
    table = passage("leave.docx", "\n\n".join(rows))
    for question, row in [
        ("How many days does an employee with six years of service get?", 2),
        ("How many days does an employee with 12 years of service get?", 3),
        ("How many days does an employee with one year of service get?", 0),
    ]:
        assert SentenceReader().read(question, [table]).answers[0].text == rows[row]
    code = passage("bank.txt", "Pay to sort code 40-11-62 within thirty days.")
    assert SentenceReader().read("Who pays within 12 days?", [code]).abstained  # a sort code is no range


def test_a_table_row_does_not_lend_its_names_to_another() -> None:
    text = "Model: Pip 20 \u00b7 Price: \u00a3249\n\nModel: Ridgeline 24 \u00b7 Price: \u00a3899"
    rows = passage("prices.xlsx", text)
    result = SentenceReader().read("What is the price of the Pip 24?", [rows])
    assert result.abstained  # no row is about a Pip 24


def test_a_short_line_that_gives_a_sum_of_money_is_a_value_not_a_label() -> None:
    text = "Invoice 7\n\nSubtotal \u00a36,775.00\n\nTotal due \u00a38,130.00\n\nPayment terms: 30 days."
    result = SentenceReader().read("What is the total due?", [passage("invoice.pdf", text)])
    assert result.answers[0].text == "Total due \u00a38,130.00"
    assert is_label("Pilot budget") and not is_label("Pilot budget \u00a348,000")


@pytest.mark.parametrize("question", ["zebra xylophone?", "What is it that was there?", ""])
def test_nothing_to_offer(question: str) -> None:
    result = SentenceReader().read(question, [NEWS])
    assert result.abstained and result.answers == [] and result.no_answer_score == 1.0


def test_no_passages() -> None:
    assert SentenceReader().read("Who sent troopers?", []).abstained


def test_a_heading_is_never_the_answer_but_its_words_count_for_the_sentences_under_it() -> None:
    text = (
        "Passwords\n\nEvery account needs at least 14 characters, changed once a year.\n\n"
        "Laptops\n\nLaptops are locked."
    )
    result = SentenceReader().read("How long must passwords be?", [passage("guide.docx", text)])
    assert not result.abstained
    assert result.answers[0].text == "Every account needs at least 14 characters, changed once a year."
    assert all(answer.text not in ("Passwords", "Laptops") for answer in result.answers)


def test_the_heading_path_of_a_sentence_counts_as_context() -> None:
    text = "Staff with five years of service get 28 days."
    chunk = Chunk("leave.docx", 0, text, 0, len(text), locations=((0, "Annual leave \u203a Entitlement"),))
    found = SentenceReader().candidates("What is the annual leave entitlement?", [RetrievedPassage(chunk, 1.0)])
    assert found[0][0].text == text
    assert found[0][1].coverage == pytest.approx(1.0)  # every word held, three of them only by the heading


def test_the_score_is_a_logistic_model_of_the_features() -> None:
    from docqa.reader.sentence import SentenceFeatures

    strong = SentenceFeatures(coverage=1.0, text_share=1.0, missing_names=0.0, rank=0, margin=0.5, terms=4)
    weak = SentenceFeatures(coverage=0.3, text_share=0.25, missing_names=1.0, rank=2, margin=0.0, terms=4)
    assert 0.0 < weak.chance() < strong.chance() < 1.0


def test_a_document_title_standing_as_a_line_is_not_an_answer() -> None:
    title = "Kestrel Moor Cycles to create 45 jobs with new factory expansion in 2024 and beyond"
    text = f"{title}\n\nThe firm will create 45 jobs in Wrexley."
    news = passage("news.html", text, title)
    result = SentenceReader().read("How many jobs will Kestrel Moor Cycles create?", [news])
    assert [answer.text for answer in result.answers] == ["The firm will create 45 jobs in Wrexley."]


def test_no_answer_is_longer_than_a_sentence_a_table_without_full_stops_is_read_by_lines() -> None:
    rows = "\n".join(f"dealer D{n:03}; town Town{n}; units {100 + n}" for n in range(40))
    result = SentenceReader().read("How many units did dealer D017 order?", [passage("dealers.csv", rows)])
    assert result.answers[0].text == "dealer D017; town Town17; units 117"


def test_a_sentence_without_the_kind_of_value_asked_for_ranks_below_one_with_it() -> None:
    text = "Crash replacement is offered as a goodwill gesture. A replacement frame costs 40% less."
    question = "What discount is offered on a crash replacement frame?"
    found = SentenceReader().candidates(question, [passage("w.txt", text)])
    assert [answer.text for answer, _ in found] == [
        "A replacement frame costs 40% less.",
        "Crash replacement is offered as a goodwill gesture.",
    ]
    assert found[0][1].coverage < found[1][1].coverage  # fewer of the question's words, but a number
    assert [features.lacks_kind for _, features in found] == [False, True]


def test_a_sentence_lacking_a_name_gives_way_to_one_holding_every_name_and_the_value_asked_for() -> None:
    general = passage("policy.txt", "Overnight stays should be booked through the travel portal.")
    rows = passage(
        "rates.txt",
        "Location: London · Evening meal allowance: £35\nLocation: Leeds or Manchester · Evening meal allowance: £28",
    )
    question = "What evening meal allowance can be claimed when staying overnight in Manchester?"
    result = SentenceReader().read(question, [general, rows])
    assert not result.abstained and "£28" in result.answers[0].text
    # Where that sentence gives no value of the kind asked for, the best one still lacks the name: no answer.
    without_value = passage("rates.txt", "The Manchester office has its own agreement with local hotels.")
    found = SentenceReader().candidates(question, [general, without_value])
    assert found[0][0].text == general.chunk.text and found[1][1].missing_names == 0 and found[1][1].lacks_kind
    assert SentenceReader().read(question, [general, without_value]).abstained


def test_a_name_in_the_opening_of_its_document_counts_as_held_further_in() -> None:
    body = "The assembly point is at the far end of the visitor car park."
    opening = "Safety procedures\n\nThese procedures apply to everyone who works at Unit 4, Tannery Lane."
    further = RetrievedPassage(Chunk("safety.pdf", 3, body, 900, 900 + len(body)), 1.0, opening=opening)
    question = "Where is the fire assembly point for Unit 4?"
    result = SentenceReader().read(question, [further])
    assert not result.abstained
    assert result.answers[0].text == body
    # Without the opening, or with an opening that names another site, "Unit 4" is missing.
    assert SentenceReader().read(question, [passage("safety.pdf", body)]).abstained
    elsewhere = RetrievedPassage(further.chunk, 1.0, opening="These procedures apply to Unit 9.")
    assert SentenceReader().read(question, [elsewhere]).abstained
    # A lone number or year of the question is never lent by an opening.
    dated = RetrievedPassage(further.chunk, 1.0, opening="Minutes of the meeting of 2024.")
    assert SentenceReader().read("Where was the assembly point in 2024?", [dated]).abstained


def test_a_passage_is_read_at_its_bm25_place_when_that_is_better_than_its_fused_place() -> None:
    prose = RetrievedPassage(Chunk("review.pdf", 0, "We shipped more bikes than ever.", 0, 32), 0.9, bm25_rank=2)
    row = "Measure: Bikes shipped · 2022: 19,870"
    table = RetrievedPassage(Chunk("review.pdf", 2, row, 500, 500 + len(row)), 0.6, bm25_rank=1)
    found = SentenceReader().candidates("How many bikes were shipped in 2022?", [prose, table])
    assert {answer.text: features.rank for answer, features in found} == {
        "Measure: Bikes shipped · 2022: 19,870": 0,
        "We shipped more bikes than ever.": 0,
    }
    assert found[0][0].text == "Measure: Bikes shipped · 2022: 19,870"
