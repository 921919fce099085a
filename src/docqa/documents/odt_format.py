"""OpenDocument text (.odt), read with odfpy: headings and paragraphs in order, list items and
table cells among them.

A heading (``text:h``) starts a section whose location is its heading path, by its outline level.
The title is the document's own (``dc:title``), else its first line.
"""

from __future__ import annotations

import io
from typing import Any

from docqa.documents.common import Outline, Parsed, UnreadableFile, checked_zip, needs, parsed


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
        elif child.nodeType == child.ELEMENT_NODE:
            _walk(child, outline)


def _title(document: Any) -> str:
    from odf import dc, teletype

    titles = document.meta.getElementsByType(dc.Title)
    return teletype.extractText(titles[0]) if titles else ""
