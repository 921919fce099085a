"""List answers: a question asking for several things gets the reader's distinct confident spans of
one kind, each cited; any other question keeps its one span."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_models import peaked_logits
from tokenizers import Tokenizer
from ui_fakes import passage

from docqa.answer_types import asks_for_several
from docqa.assistant import Assistant
from docqa.lists import answer_kind, joined, list_items, series_items
from docqa.reader.extractive import ExtractiveReader
from docqa.schema import ExtractedAnswer
from docqa.terminal import format_answer
from docqa.ui.turns import reply_html, turn_markdown


@pytest.mark.parametrize(
    ("question", "several"),
    [
        ("Which parts should be lubricated after cleaning a bike?", True),
        ("Which mandatory training courses must new starters complete?", True),
        ("Who were the speakers at the rally?", True),
        ("What are the opening hours on Saturdays?", True),
        ("List the members of the committee.", True),
        ("Which building did police order staff to leave?", False),
        ("What is the address of the office?", False),
        ("Which process was used?", False),
        ("What status does the project have?", False),
        ("Who condemned the attack?", False),  # nothing in the question asks for more than one
        ("How many troopers did he send?", False),
        ("Which people were at the meeting?", True),
    ],
)
def test_a_question_asks_for_several_things_by_its_words(question: str, several: bool) -> None:
    assert asks_for_several(question) is several


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Mitt Romney", "name"),
        ("Bank of England", "name"),
        ("12 August 2024", "date"),
        ("in 2021", "date"),
        ("£185", "number £"),
        ("30 days", "number days"),
        ("45%", "number %"),
        ("the chain", "phrase"),
    ],
)
def test_an_answer_s_kind(text: str, kind: str) -> None:
    assert answer_kind(text) == kind


def spans(*found: tuple[str, float, str]) -> list[ExtractedAnswer]:
    """Answers of the texts at their scores, each in a passage of the file named."""
    answers = []
    for text, score, source in found:
        sentence = f"Then {text} spoke."
        answers.append(ExtractedAnswer(text, score, passage(source, sentence), 5, 5 + len(text)))
    return answers


def test_distinct_confident_spans_of_one_kind_make_the_list() -> None:
    answers = spans(
        ("Mitt Romney", 0.9, "a.txt"), ("Joe Biden", 0.7, "b.txt"), ("Romney", 0.6, "c.txt"),
        ("in 2021", 0.8, "d.txt"), ("Reince Priebus", 0.3, "e.txt"), ("Nancy Pelosi", 0.55, "f.txt"),
    )  # fmt: skip
    items = list_items("Who were the speakers?", answers, threshold=0.5)
    # "Romney" is Mitt Romney again, "in 2021" another kind, Reince Priebus below the threshold.
    assert [item.text for item in items] == ["Mitt Romney", "Joe Biden", "Nancy Pelosi"]
    assert joined([item.text for item in items]) == "Mitt Romney, Joe Biden and Nancy Pelosi"
    assert list_items("Who was the speaker?", answers, threshold=0.5) == []  # one is asked for
    assert list_items("Who were the speakers?", answers[:1], threshold=0.5) == []  # one is found


def test_an_item_far_below_the_best_one_is_left_out() -> None:
    answers = spans(("Mitt Romney", 0.95, "a.txt"), ("Joe Biden", 0.45, "b.txt"))
    assert list_items("Who were the speakers?", answers, threshold=0.3) == []  # under half the best score


NAMES = ("Capitol", "Trump", "Pence")
QUESTION = "Which names were mentioned at the meeting on Monday?"


def test_a_list_answer_cites_each_item_where_it_stands(
    tmp_path: Path, tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for number, name in enumerate(NAMES):
        text = f"At the meeting on Monday, {name} was mentioned.\n"
        (corpus / f"note-{number}.txt").write_text(text, encoding="utf-8")
    tokenizer = Tokenizer.from_file(str(tiny_reader_path / "tokenizer.json"))
    wanted = [tokenizer.encode(name, add_special_tokens=False).ids for name in NAMES]
    monkeypatch.setattr(ExtractiveReader, "_forward", lambda self, encodings: peaked_logits(wanted)(encodings))
    with Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model=str(tiny_reader_path)) as assistant:
        answer = assistant.ask(QUESTION, top_k=3)
        single = assistant.ask("Which name was mentioned at the meeting on Monday?", top_k=3)
    assert sorted(item.text for item in answer.items) == sorted(NAMES)
    assert [c.source for c in answer.citations] == [item.citation.source for item in answer.items]
    assert all(c.source.startswith("note-") and NAMES[int(c.source[5])] == item.text
               for c, item in zip(answer.citations, answer.items, strict=True))  # fmt: skip
    assert answer.text == joined([item.text for item in answer.items]) and answer.to_dict()["items"][0]["citation"]
    reply = reply_html(0, answer)
    assert '<ul class="docqa-items">' in reply and reply.count('data-action="cite"') == 6  # 3 items, 3 sources
    assert turn_markdown(answer).count("\n- ") == 3
    assert single.items == [] and single.text in NAMES  # one thing asked for: one span


def test_a_sentence_that_lists_what_a_question_asks_for_gives_the_items() -> None:
    text = "After cleaning, lubricate the chain, derailleur pivots and brake lever pivots."
    sentence = ExtractedAnswer(text, 0.4, passage("care.md", f"Winter care. {text}"), 13, 13 + len(text))
    items = series_items("Which parts should be lubricated after cleaning a bike?", sentence)
    assert [item.text for item in items] == ["the chain", "derailleur pivots", "brake lever pivots"]
    assert all(item.passage.chunk.text[item.start : item.end] == item.text for item in items)  # spans, not new text
    assert all(item.score == 0.4 for item in items)
    assert series_items("Which part should be lubricated after cleaning a bike?", sentence) == []  # one is asked for


def test_a_list_question_in_the_lexical_mode_is_answered_with_the_items_of_the_sentence_that_lists_them(
    tmp_path: Path,
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "induction.txt").write_text(
        "New starter induction\n\nMandatory courses are on the learning portal and must be finished in a month.\n\n"
        "Mandatory training: fire safety, manual handling and data protection\n",
        encoding="utf-8",
    )
    with Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model="none") as assistant:
        answer = assistant.ask("Which mandatory training courses must new starters complete?")
    assert [item.text for item in answer.items] == ["fire safety", "manual handling", "data protection"]
    assert answer.text == "fire safety, manual handling and data protection"
    assert [citation.source for citation in answer.citations] == ["induction.txt"] * 3
    # The chat quotes the sentence once, each item marked in it, each marker opening its own item.
    reply = reply_html(0, answer)
    assert reply.count('class="docqa-quote"') == 1 and reply.count('data-action="cite"') == 6
    quote = reply.split('class="docqa-quote">')[1].split("</div>")[0]
    assert [part.split("</mark>")[0] for part in quote.split("<mark>")[1:]] == [
        "fire safety", "manual handling", "data protection"
    ]  # fmt: skip
    printed = format_answer(answer)
    assert printed.count("\u201c") == 1 and printed.count("Source: [") == 3  # one quote, three places
