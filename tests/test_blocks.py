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
        ("three.xhtml", "Chapter 3", "The company was sold in 2005."),
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
        "chapter 1: The shed",  # the title's own "Chapter 1" is not repeated
        "chapter 2: The fire",
        "chapter 3",
    ]
    assert document.text.index("By the archivist") < document.locations[0][0]


RTF_HEAD = r"{\rtf1\ansi\ansicpg1252{\fonttbl{\f0\froman Times;}}"


def rtf_text(tmp_path: Path, markup: str) -> tuple[str, tuple[tuple[int, str], ...]]:
    path = tmp_path / "terms.rtf"
    path.write_bytes(markup.encode("ascii"))
    document = load_document(path, tmp_path)
    return document.text, document.locations


def test_rtf_headings_by_style_sheet_outline_level_or_bold_size_give_heading_paths(tmp_path: Path) -> None:
    styles = r"{\stylesheet{\s0 Normal;}{\s1\b\fs32 heading 1;}{\s2\b\fs28 heading 2;}}"
    body = (
        r"\pard\s1 Supply terms\par\pard\s2 Payment\par\pard\s0 Invoices are paid within 30 days.\par"
        r"\pard\s0\b Bold but no heading style.\b0\par"
    )
    text, locations = rtf_text(tmp_path, RTF_HEAD + styles + body + "}")
    assert text.split("\n\n") == [
        "Supply terms",
        "Payment",
        "Invoices are paid within 30 days.",
        "Bold but no heading style.",
    ]
    assert locations[-1] == (text.index("Payment"), "Supply terms \u203a Payment")
    outlined = RTF_HEAD + r"\pard\outlinelevel0 Terms\par\pard Prices are fixed for a year.\par}"
    assert rtf_text(tmp_path, outlined)[1] == ((0, "Terms"),)
    bold = (
        RTF_HEAD + r"\pard\qc\fs34\b Supply Agreement \u8211? Summary\b0\par"
        r"\pard\fs28\b 2. Prices\b0\par\pard\fs22 Prices are fixed for the first {\b twelve} months.\par}"
    )
    text, locations = rtf_text(tmp_path, bold)
    assert locations[-1] == (text.index("2. Prices"), "2. Prices")  # the title heads no heading path
    ranked = RTF_HEAD + r"\pard\fs28\b Prices\b0\par\pard\fs24\b Surcharges\b0\par\pard\fs22 Costs rise.\par}"
    assert rtf_text(tmp_path, ranked)[1][-1] == (len("Prices\n\n"), "Prices \u203a Surcharges")
    assert "\ue000" not in text and "\ue001" not in text


def test_rtf_table_rows_are_records(tmp_path: Path) -> None:
    row = r"\trowd\cellx3000\cellx6000\pard\intbl {0}\cell {1}\cell\row"
    rows = "".join(row.replace("{0}", a).replace("{1}", b) for a, b in [("Role", "Contact"), ("Orders", "Orders desk")])
    text, _ = rtf_text(tmp_path, RTF_HEAD + r"\pard Contacts:\par" + rows + r"\pard After the table.\par}")
    assert text.split("\n\n") == [
        "Contacts:",
        "Role \u00b7 Contact",
        "Role: Orders \u00b7 Contact: Orders desk",
        "After the table.",
    ]
