"""OpenDocument text (.odt), read with odfpy: headings and paragraphs in order, list items among
them, and each table row as one record under the table's header rows (else its first row).

A heading (``text:h``) starts a section whose location is its heading path, by its outline level.
The title is the document's own (``dc:title``), else its first line.
"""

from __future__ import annotations

import io
from typing import Any

from docqa.documents.common import Outline, Parsed, UnreadableFile, checked_zip, needs, parsed
from docqa.documents.tables import table_text


def parse_odt(data: bytes) -> Parsed:
    """The text, title and heading-path locations of an OpenDocument text."""
    opendocument = needs("odf.opendocument", "odfpy", ".odt")
    checked_zip(data, "OpenDocument text")
    try:
        document = opendocument.load(io.BytesIO(data))
        outline = Outline()
        _walk(document.text, outline)
        title = _title(document)
    except UnreadableFile:
        raise
    except Exception as error:  # odfpy raises many kinds of errors on damaged files
        raise UnreadableFile(f"damaged OpenDocument text ({type(error).__name__}: {error})") from error
    return parsed(outline.sections(), title=title)


def _walk(element: Any, outline: Outline) -> None:
    from odf import teletype

    for child in element.childNodes:
        name = getattr(child, "qname", (None, None))[1]
        if name == "h":
            level = child.getAttribute("outlinelevel") or "1"
            outline.heading(int(level) if str(level).isdigit() else 1, teletype.extractText(child))
        elif name == "p":
            outline.add(teletype.extractText(child))
        elif name == "table":
            header, rows = _table_rows(child)
            outline.add(table_text(header + rows, header_rows=len(header) or None))
        elif child.nodeType == child.ELEMENT_NODE:
            _walk(child, outline)


def _table_rows(table: Any) -> tuple[list[list[str]], list[list[str]]]:
    """The texts of a table's header rows (``table:table-header-rows``) and of its other rows; a
    cell repeated over several columns is repeated, a covered (merged) one left empty."""
    from odf import teletype

    header: list[list[str]] = []
    rows: list[list[str]] = []
    for row in table.getElementsByType(_odf_table().TableRow):
        if _enclosing_table(row) is not table:  # a row of a table nested in a cell
            continue
        cells: list[str] = []
        for cell in row.childNodes:
            kind = getattr(cell, "qname", (None, None))[1]
            if kind not in ("table-cell", "covered-table-cell"):
                continue
            text = " ".join(teletype.extractText(part) for part in cell.childNodes) if kind == "table-cell" else ""
            repeat = str(cell.getAttribute("numbercolumnsrepeated") or "1")
            cells.extend([text] * min(int(repeat) if repeat.isdigit() else 1, 1024))
        is_header = getattr(row.parentNode, "qname", (None, None))[1] == "table-header-rows"
        (header if is_header and not rows else rows).append(cells)
    return header, rows


def _enclosing_table(element: Any) -> Any:
    node = element.parentNode
    while node is not None and getattr(node, "qname", (None, None))[1] != "table":
        node = node.parentNode
    return node


def _odf_table() -> Any:
    from odf import table

    return table


def _title(document: Any) -> str:
    from odf import dc, teletype

    titles = document.meta.getElementsByType(dc.Title)
    return teletype.extractText(titles[0]) if titles else ""
