"""E-books (.epub), read with EbookLib: the chapters of the reading order, one chapter a location.

Each chapter is XHTML, reduced to its visible text by the HTML reader; its location is "chapter N:
TITLE", N and TITLE its place and title in the table of contents (a title's own "Chapter N" is not
repeated). A part of the reading order that
the table of contents leaves out (a title page, a chapter's second file) belongs to the chapter
before it, or to none before the first. A book without a table of contents numbers the parts of
its reading order. The title and the date are the
book's own metadata (``dc:title``, ``dc:date``).
"""

from __future__ import annotations

import io
import re
import warnings
from typing import Any

from docqa.documents.common import Parsed, Section, UnreadableFile, checked_zip, iso_date, needs, parsed
from docqa.documents.html_format import html_sections
from docqa.documents.reasons import plain_reason


def parse_epub(data: bytes) -> Parsed:
    """The text, title, date and chapter locations of an e-book."""
    ebooklib = needs("ebooklib", "EbookLib", ".epub")
    from ebooklib import epub

    archive = checked_zip(data, "EPUB e-book")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EbookLib warns of options that change in its next version
            book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": False})
        titles = _toc_titles(book.toc)
        numbers = {name: number for number, name in enumerate(titles, start=1)}
        sections: list[Section] = []
        number = 0
        label = ""
        for item_id, _ in book.spine:
            item = book.get_item_with_id(item_id)
            # The navigation document is the table of contents, not a chapter.
            if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT or isinstance(item, epub.EpubNav):
                continue
            texts = "\n\n".join(text for _, text in html_sections(item.get_content()) if text)
            if not texts.strip():
                continue
            name = item.get_name().split("#")[0]
            if name in numbers or not numbers:
                number = numbers.get(name, number + 1)
                label = _chapter_label(number, titles.get(name, ""))
            sections.append((label, texts))
        title = _metadata(book, "title")
        date = iso_date(_metadata(book, "date"))
    except UnreadableFile:
        raise
    except Exception as error:  # EbookLib raises many kinds of errors on damaged files
        raise UnreadableFile(f"damaged EPUB e-book: {plain_reason(error, archive)}") from error
    return parsed(sections, title=title, date=date)


def _chapter_label(number: int, title: str) -> str:
    """The label "chapter N: TITLE", without the title's own "Chapter N" ("Chapter 2: The fire" is chapter 2:
    The fire); "chapter N" when the title is nothing more."""
    title = re.sub(rf"^chapter\s+{number}\b[\s:.\u2013\u2014-]*", "", title, flags=re.IGNORECASE).strip()
    return f"chapter {number}" + (f": {title}" if title else "")


def _toc_titles(toc: Any) -> dict[str, str]:
    """The table of contents as file name -> title (the first entry for a file)."""
    titles: dict[str, str] = {}
    pending = list(toc)
    while pending:
        entry = pending.pop(0)
        if isinstance(entry, tuple | list):
            section, children = entry[0], entry[1] if len(entry) > 1 else []
            pending[:0] = [section, *children]
            continue
        href = str(getattr(entry, "href", "") or getattr(entry, "file_name", "")).split("#")[0]
        title = " ".join(str(getattr(entry, "title", "") or "").split())
        if href and title:
            titles.setdefault(href, title)
    return titles


def _metadata(book: Any, name: str) -> str:
    values = book.get_metadata("DC", name)
    return " ".join(str(values[0][0]).split()) if values else ""
