"""Word documents (.docx), read with python-docx: paragraphs and tables in the order of the body.

A paragraph in a heading style ("Heading 2", "Title") starts a section whose location is its
heading path. A table's rows are records under its header: the rows it marks as header rows, else
its first row. The title is the document's own (core properties), else its first line; the file's
creation and modification times are the editor's, not the document's date, so only a date marker
gives one.
"""

from __future__ import annotations

import io
import re
from typing import Any

from docqa.documents.common import Outline, Parsed, UnreadableFile, checked_zip, needs, parsed
from docqa.documents.reasons import plain_reason
from docqa.documents.tables import table_text

_HEADING_STYLE = re.compile(r"heading (\d)", re.IGNORECASE)


def parse_docx(data: bytes) -> Parsed:
    """The text, title and heading-path locations of a Word document."""
    docx = needs("docx", "python-docx", ".docx")
    archive = checked_zip(data, "Word document")
    try:
        document = docx.Document(io.BytesIO(data))
        outline = Outline()
        levels = _heading_levels(document)
        for block in document.iter_inner_content():
            _add_block(outline, block, levels)
        title = document.core_properties.title or ""
    except UnreadableFile:
        raise
    except Exception as error:  # python-docx raises many kinds of errors on damaged files
        raise UnreadableFile(f"damaged Word document: {plain_reason(error, archive)}") from error
    return parsed(outline.sections(), title=title)


def _add_block(outline: Outline, block: Any, levels: dict[str | None, int]) -> None:
    from docx.table import Table

    if isinstance(block, Table):
        rows = list(block.rows)
        outline.add(table_text((_distinct_cells(row.cells) for row in rows), header_rows=_header_rows(rows)))
        return
    style_id = block._p.style
    level = levels.get(style_id, levels[None])
    if level:
        outline.heading(level, block.text)
    else:
        outline.add(block.text)


def _heading_levels(document: Any) -> dict[str | None, int]:
    """The heading level of each paragraph style id, and under None that of the default style.

    Read once per document: python-docx's ``paragraph.style`` searches the styles part anew for
    each paragraph, about a millisecond each, a minute for 70,000 paragraphs.
    """
    from docx.enum.style import WD_STYLE_TYPE

    levels = {
        style.style_id: _heading_level(style.name) for style in document.styles if style.type == WD_STYLE_TYPE.PARAGRAPH
    }
    default = document.styles.default(WD_STYLE_TYPE.PARAGRAPH)
    levels[None] = _heading_level(default.name) if default is not None else 0
    return levels


def _heading_level(name: str | None) -> int:
    """1 to 9 for a heading style's name (the title style counts as 1), else 0."""
    name = name or ""
    if name.lower() == "title":
        return 1
    match = _HEADING_STYLE.fullmatch(name)
    return int(match.group(1)) if match else 0


def _header_rows(rows: list[Any]) -> int | None:
    """How many leading rows the table marks as its header (repeated on each page), None for none."""
    from docx.oxml.ns import qn

    count = 0
    for row in rows:
        properties = row._tr.trPr
        marker = properties.find(qn("w:tblHeader")) if properties is not None else None
        if marker is None or marker.get(qn("w:val"), "true").lower() in ("0", "false", "off"):
            break
        count += 1
    return count or None


def _distinct_cells(cells: Any) -> list[str]:
    """The row's cell texts, a merged cell (which python-docx repeats) once."""
    texts: list[str] = []
    previous = None
    for cell in cells:
        if cell._tc is not previous:
            texts.append(cell.text)
        previous = cell._tc
    return texts
