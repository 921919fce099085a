"""Disagreeing documents: confident answers of different files that give different values."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from tiny_models import peaked_logits
from tokenizers import Tokenizer

from docqa.assistant import Assistant
from docqa.conflicts import disagree, document_date, find_conflicts, written_date
from docqa.reader.extractive import ExtractiveReader
from docqa.schema import Chunk, ExtractedAnswer, RetrievedPassage
from docqa.terminal import format_answer
from docqa.ui.render import escape_text
from docqa.ui.turns import reply_html, turn_markdown


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("48p per mile", "45p", True),
        ("£185", "£150 per night", True),
        ("within 30 days", "60 days", True),
        ("within 30 days", "30 days", False),
        ("Ralph Northam", "Mike Pence", True),
        ("Ralph Northam", "Governor Ralph Northam", False),
        ("£185", "18 weeks", False),  # numbers of different things
        ("The building was evacuated at noon.", "Police arrived after the first reports came in.", False),
        ("The library closes at 8 pm on weekdays.", "The library closes at 10 pm on weekdays.", True),
    ],
)
def test_which_answers_disagree(first: str, second: str, expected: bool) -> None:
    assert disagree(first, second) is expected


def text_of(texts: dict[str, str]) -> Callable[[str, int], str]:
    """Document texts read as a store reads them: the first ``limit`` characters of one."""
    return lambda source, limit: texts[source][:limit]


def test_a_documents_date_comes_from_metadata_then_its_opening_then_the_file_time(tmp_path: Path) -> None:
    assert (
        written_date("Version 3.0 · Effective 1 September 2024 · Supersedes version 2.1 (April 2022)") == "2024-09-01"
    )
    assert written_date("Dear Ms Okonjo, July 2, 2024") == "2024-07-02" and written_date("no date here") is None
    texts = {"a.txt": "Policy, effective 1 April 2022.", "b.txt": "No date."}
    (tmp_path / "b.txt").write_text("No date.", encoding="utf-8")
    os.utime(tmp_path / "b.txt", (1_700_000_000, 1_700_000_000))
    assert document_date("a.txt", "2023-05-05", text_of(texts), tmp_path) == ("2023-05-05", "metadata")
    assert document_date("a.txt", None, text_of(texts), tmp_path) == ("2022-04-01", "text")
    assert document_date("b.txt", None, text_of(texts), tmp_path) == ("2023-11-14T22:13:20", "file time")


def library_versions(folder: Path) -> Path:
    """A corpus folder with two versions of one notice that disagree: 8 pm (2023) and 10 pm (2024)."""
    corpus = folder / "corpus"
    corpus.mkdir()
    for name, date, hour in (("library-hours.txt", "2023-01-10", 8), ("library-hours-2.txt", "2024-03-01", 10)):
        text = f"date {date} Library hours\n\nThe library closes at {hour} pm on weekdays.\n"
        (corpus / name).write_text(text, encoding="utf-8")
    return corpus


def test_two_versions_that_disagree_are_both_shown_newest_first(tmp_path: Path) -> None:
    corpus = library_versions(tmp_path)
    (corpus / "canteen.txt").write_text("The canteen serves soup on Fridays.\n", encoding="utf-8")
    with Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model="none") as assistant:
        answer = assistant.ask("When does the library close on weekdays?")
        single = assistant.ask("What does the canteen serve on Fridays?")
    assert not answer.abstained and "10 pm" in answer.text  # the newest document's value leads
    assert answer.citations[0].source == "library-hours-2.txt"
    assert [conflict.citation.source for conflict in answer.conflicts] == ["library-hours-2.txt", "library-hours.txt"]
    assert [conflict.date for conflict in answer.conflicts] == ["2024-03-01", "2023-01-10"]
    assert "10 pm" in answer.conflicts[0].text and "8 pm" in answer.conflicts[1].text
    shown = answer.to_dict()["conflicts"]
    assert [item["citation"]["source"] for item in shown] == ["library-hours-2.txt", "library-hours.txt"]
    text = format_answer(answer)
    assert "The documents disagree" in text and text.index("library-hours-2.txt, dated") < text.index(
        "library-hours.txt, dated"
    )
    html = reply_html(0, answer)
    assert "docqa-conflicts" in html
    assert html.index(escape_text("library-hours-2.txt")) < html.index(escape_text("library-hours.txt, dated"))
    markdown = turn_markdown(answer).split("The documents disagree (newest first):")[1]
    assert markdown.index("library-hours-2.txt, dated 2024-03-01") < markdown.index(
        "library-hours.txt, dated 2023-01-10"
    )
    assert single.conflicts == [] and "disagree" not in format_answer(single)


def test_a_model_answer_is_compared_with_the_other_documents_sentences() -> None:
    def passage(source: str, text: str, date: str) -> RetrievedPassage:
        return RetrievedPassage(Chunk(source, 0, text, 0, len(text)), 1.0, source, date)

    old = passage(
        "policy-2022.txt", "Employees may claim a mileage allowance of 45p per mile for their own car.", "2022-04-01"
    )
    new = passage("policy-2024.txt", "The mileage allowance for your own car is now 48p per mile.", "2024-09-01")
    other = passage("canteen.txt", "The canteen serves soup on Fridays.", "2024-01-01")
    start = old.chunk.text.index("45p")
    span = ExtractedAnswer("45p per mile", 0.6, old, start, start + len("45p per mile"))
    question = "What mileage allowance can employees claim for their own car?"
    texts = {p.chunk.source: p.chunk.text for p in (old, new, other)}
    conflicts = find_conflicts([span], document_text=text_of(texts), question=question, passages=[old, new, other])
    assert [(c.citation.source, c.date, c.dated_by) for c in conflicts] == [
        ("policy-2024.txt", "2024-09-01", "metadata"),
        ("policy-2022.txt", "2022-04-01", "metadata"),
    ]
    assert "48p per mile" in conflicts[0].text and conflicts[1].text == "45p per mile"
    # Without the passages (the lexical mode, whose answers are sentences already), one document: no conflict.
    assert find_conflicts([span], document_text=text_of(texts)) == []


def hotel_tables(folder: Path) -> Path:
    """A 2022 policy and its 2024 revision, whose rate tables name the cities differently."""
    corpus = folder / "corpus"
    corpus.mkdir()
    header = "| Location | Maximum room rate | Evening meal allowance |\n|---|---|---|\n"
    (corpus / "policy-2022.md").write_text(
        "# Travel policy\n\nVersion 2.1, effective 1 April 2022.\n\n## Hotels\n\n"
        + "Stays are booked through the portal.\n\n"
        + header
        + "| London | £150 | £30 |\n| Other UK cities | £110 | £25 |\n",
        encoding="utf-8",
    )
    (corpus / "policy-2024.md").write_text(
        "# Travel policy\n\nVersion 3.0, effective 1 September 2024.\n\n## Hotels\n\n"
        + header
        + "| London | £185 | £35 |\n| Other UK cities (Leeds, Manchester) | £130 | £28 |\n| Elsewhere | £100 | £25 |\n",
        encoding="utf-8",
    )
    return corpus


def test_a_table_row_is_compared_with_the_same_row_of_the_other_version(tmp_path: Path) -> None:
    with Assistant(hotel_tables(tmp_path), tmp_path / "index", embedding_model="none", reader_model="none") as docqa:
        answer = docqa.ask("What evening meal allowance can be claimed in Manchester?")
        london = docqa.ask("What is the maximum room rate in London?")
    # The 2022 row names no Manchester: it is the same table's "Other UK cities" row all the same.
    assert "£28" in answer.text and answer.citations[0].source == "policy-2024.md"
    assert [(c.citation.source, c.date) for c in answer.conflicts] == [
        ("policy-2024.md", "2024-09-01"),
        ("policy-2022.md", "2022-04-01"),
    ]
    assert "£25" in answer.conflicts[1].text and "Other UK cities" in answer.conflicts[1].text
    assert "£185" in london.text
    assert [c.citation.source for c in london.conflicts] == ["policy-2024.md", "policy-2022.md"]
    assert "£150" in london.conflicts[1].text


def test_only_the_cells_a_model_answer_covers_are_compared_with_the_other_row() -> None:
    def row_passage(source: str, text: str) -> RetrievedPassage:
        return RetrievedPassage(Chunk(source, 0, text, 0, len(text)), 1.0, source, None)

    new = row_passage("rates-2024.txt", "Location: London · Room rate: £185 · Meal allowance: £30")
    same_room = row_passage("rates-2022.txt", "Location: London · Room rate: £185 · Meal allowance: £25")
    texts = {p.chunk.source: p.chunk.text for p in (new, same_room)}
    start = new.chunk.text.index("£185")
    room = ExtractedAnswer("£185", 0.7, new, start, start + 4)
    assert find_conflicts([room], document_text=text_of(texts), passages=[new, same_room]) == []
    start = new.chunk.text.index("£30")
    meal = ExtractedAnswer("£30", 0.7, new, start, start + 3)
    [_, older] = find_conflicts([meal], document_text=text_of(texts), passages=[new, same_room])
    assert older.text == "Meal allowance: £25" and older.citation.source == "rates-2022.txt"
    other_table = row_passage("stock.txt", "Location: London · Bikes: 40 · Meal allowance: £25")  # other columns
    assert find_conflicts([meal], document_text=text_of(texts), passages=[new, other_table]) == []


def test_a_model_answer_from_the_older_document_gives_way_to_the_newer_one(
    tmp_path: Path, tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = library_versions(tmp_path)
    tokenizer = Tokenizer.from_file(str(tiny_reader_path / "tokenizer.json"))
    forward = peaked_logits([tokenizer.encode("8 pm", add_special_tokens=False).ids])  # the model finds the old value
    monkeypatch.setattr(ExtractiveReader, "_forward", lambda self, encodings: forward(encodings))
    with Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model=str(tiny_reader_path)) as assistant:
        answer = assistant.ask("When does the library close on weekdays?")
    assert [conflict.citation.source for conflict in answer.conflicts] == ["library-hours-2.txt", "library-hours.txt"]
    # The newer document's sentence leads, shown as a sentence; the model's span stays an alternative.
    assert answer.mode == "sentence" and "10 pm" in answer.text and answer.citations[0].source == "library-hours-2.txt"
    assert [alternative.text for alternative in answer.alternatives] == ["8 pm"]


def test_behind_a_closest_sentence_disagreeing_documents_are_shown_too(
    tmp_path: Path, tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = library_versions(tmp_path)
    monkeypatch.setattr(ExtractiveReader, "_forward", lambda self, encodings: peaked_logits([])(encodings))
    with Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model=str(tiny_reader_path)) as assistant:
        answer = assistant.ask("When does the library close on weekdays?")
    assert answer.closest and answer.mode == "sentence"  # the model found nothing
    assert "10 pm" in answer.text and answer.citations[0].source == "library-hours-2.txt"
    assert [conflict.citation.source for conflict in answer.conflicts] == ["library-hours-2.txt", "library-hours.txt"]
