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
