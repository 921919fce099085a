"""Word documents (.docx), read with python-docx: paragraphs and tables in the order of the body.

A paragraph in a heading style ("Heading 2", "Title") starts a section whose location is its
heading path. The title is the document's own (core properties), else its first line; the file's
creation and modification times are the editor's, not the document's date, so only a date marker
gives one.
"""

from __future__ import annotations

import io
import re
from typing import Any

from docqa.documents.common import Outline, Parsed, UnreadableFile, checked_zip, needs, parsed, table_text

_HEADING_STYLE = re.compile(r"heading (\d)", re.IGNORECASE)


def parse_docx(data: bytes) -> Parsed:
    """The text, title and heading-path locations of a Word document."""
    docx = needs("docx", "python-docx", ".docx")
    checked_zip(data, "Word document")
    try:
        document = docx.Document(io.BytesIO(data))
        outline = Outline()
        for block in document.iter_inner_content():
            _add_block(outline, block)
        title = document.core_properties.title or ""
    except UnreadableFile:
        raise
    except Exception as error:  # python-docx raises many kinds of errors on damaged files
        raise UnreadableFile(f"damaged Word document ({type(error).__name__}: {error})") from error
    return parsed(outline.sections(), title=title)


def _add_block(outline: Outline, block: Any) -> None:
    from docx.table import Table

    if isinstance(block, Table):
        outline.add(table_text(_distinct_cells(row.cells) for row in block.rows))
        return
    level = _heading_level(block)
    if level:
        outline.heading(level, block.text)
    else:
        outline.add(block.text)


def _heading_level(paragraph: Any) -> int:
    """1 to 9 for a paragraph in a heading style (the title style counts as 1), else 0."""
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    if name.lower() == "title":
        return 1
    match = _HEADING_STYLE.fullmatch(name)
    return int(match.group(1)) if match else 0


def _distinct_cells(cells: Any) -> list[str]:
    """The row's cell texts, a merged cell (which python-docx repeats) once."""
    texts: list[str] = []
    previous = None
    for cell in cells:
        if cell._tc is not previous:
            texts.append(cell.text)
        previous = cell._tc
    return texts
