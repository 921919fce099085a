"""PowerPoint decks (.pptx), read with python-pptx: the text of each slide, one slide a location.

A slide's text is its title, then the text of its other shapes in order (text boxes, placeholders,
tables, grouped shapes), then its speaker notes, all located on the slide. The title, each
paragraph of a text box (a bullet) and each table row is a paragraph of its own, so that none runs
into the next. The deck's title is its own (core properties), else the first slide's title.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from docqa.documents.common import Parsed, Section, UnreadableFile, checked_zip, needs, parsed
from docqa.documents.tables import table_text


def parse_pptx(data: bytes) -> Parsed:
    """The text, title and slide locations of a deck."""
    pptx = needs("pptx", "python-pptx", ".pptx")
    checked_zip(data, "PowerPoint deck")
    try:
        deck = pptx.Presentation(io.BytesIO(data))
        sections: list[Section] = []
        for number, slide in enumerate(deck.slides, start=1):
            title = slide.shapes.title
            shapes = [shape for shape in slide.shapes if title is None or shape.shape_id != title.shape_id]
            texts = [text for shape in ([title] if title is not None else []) + shapes for text in _shape_texts(shape)]
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                texts.append(_frame_text(slide.notes_slide.notes_text_frame))
            sections.append((f"slide {number}", "\n\n".join(text for text in texts if text.strip())))
        title = deck.core_properties.title or _first_slide_title(deck)
    except UnreadableFile:
        raise
    except Exception as error:  # python-pptx raises many kinds of errors on damaged files
        raise UnreadableFile(f"damaged PowerPoint deck ({type(error).__name__}: {error})") from error
    return parsed(sections, title=title)


def _shape_texts(shape: Any) -> Iterator[str]:
    if getattr(shape, "shape_type", None) is not None and hasattr(shape, "shapes"):  # a group
        for inner in shape.shapes:
            yield from _shape_texts(inner)
    elif getattr(shape, "has_table", False):
        yield table_text([cell.text for cell in row.cells] for row in shape.table.rows)
    elif getattr(shape, "has_text_frame", False):
        yield _frame_text(shape.text_frame)


def _frame_text(frame: Any) -> str:
    """A text frame's paragraphs, each a paragraph of its own."""
    return "\n\n".join(paragraph.text for paragraph in frame.paragraphs if paragraph.text.strip())


def _first_slide_title(deck: Any) -> str:
    for slide in deck.slides:
        title = slide.shapes.title
        return title.text_frame.text if title is not None and title.has_text_frame else ""
    return ""
