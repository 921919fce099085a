"""Headings, slide titles, bullets and notes as paragraphs of their own, located where they stand,
each file built here by its own library."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from docqa.chunking import chunk_document
from docqa.documents import load_document

pytest.importorskip("pptx", reason="the formats extra is not installed: pip install -e '.[formats]'")


def test_a_slide_reads_title_bullets_and_notes_as_paragraphs_on_that_slide(tmp_path: Path) -> None:
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    deck.slides.add_slide(deck.slide_layouts[5]).shapes.title.text = "Welcome"
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    box = slide.shapes.add_textbox(Inches(1), Inches(2), Inches(6), Inches(2)).text_frame
    box.text = "Pilot budget £48,000"
    box.add_paragraph().text = "three sites from June"
    slide.shapes.title.text = "Pilot budget"  # set last: the title still comes first
    slide.notes_slide.notes_text_frame.text = "The budget covers the cargo bikes and their insurance."
    buffer = io.BytesIO()
    deck.save(buffer)
    path = tmp_path / "pilot.pptx"
    path.write_bytes(buffer.getvalue())
    document = load_document(path, tmp_path)
    assert document.text.split("\n\n") == [
        "Welcome",
        "Pilot budget",
        "Pilot budget £48,000",
        "three sites from June",
        "The budget covers the cargo bikes and their insurance.",
    ]
    assert document.locations == ((0, "slide 1"), (document.text.index("Pilot budget\n"), "slide 2"))
    chunks = chunk_document(document, max_tokens=5, overlap_sentences=1)
    assert "three sites from June" in [chunk.text for chunk in chunks]  # a bullet never runs into the title


def test_e_book_chapters_are_numbered_by_the_table_of_contents(tmp_path: Path) -> None:
    pytest.importorskip("ebooklib", reason="the formats extra is not installed: pip install -e '.[formats]'")
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("history")
    book.set_title("A history")
    book.set_language("en")
    pages = []
    for name, heading, words in [
        ("title.xhtml", "A history", "By the archivist of the town."),
        ("one.xhtml", "Chapter 1: The shed", "The first bike was built in a shed in 1984."),
        ("two.xhtml", "Chapter 2: The fire", "The paint shop burned down in 1996."),
    ]:
        page = epub.EpubHtml(title=heading, file_name=name, lang="en")
        page.content = f"<html><body><h1>{heading}</h1><p>{words}</p></body></html>"
        book.add_item(page)
        pages.append(page)
    book.toc = pages[1:]  # the title page is no chapter
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *pages]
    buffer = io.BytesIO()
    epub.write_epub(buffer, book)
    path = tmp_path / "history.epub"
    path.write_bytes(buffer.getvalue())
    document = load_document(path, tmp_path)
    assert [label for _, label in document.locations] == [
        "chapter 1: Chapter 1: The shed",
        "chapter 2: Chapter 2: The fire",
    ]
    assert document.text.index("By the archivist") < document.locations[0][0]
