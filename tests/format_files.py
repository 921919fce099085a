"""Files of each format, written in the test by the format's own library (no binary fixtures)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont


def docx_bytes(blocks: Sequence[tuple[str, str]], title: str = "") -> bytes:
    """A Word document of (style, text) paragraphs; style "table" makes a table of "a|b;c|d" text."""
    import docx

    document = docx.Document()
    document.core_properties.title = title
    for style, text in blocks:
        if style == "table":
            rows = [row.split("|") for row in text.split(";")]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for cells, row in zip(table.rows, rows, strict=True):
                for cell, value in zip(cells.cells, row, strict=True):
                    cell.text = value
        elif style.startswith("Heading"):
            document.add_heading(text, level=int(style.split()[-1]))
        else:
            document.add_paragraph(text)
    return _saved(document)


def pptx_bytes(slides: Sequence[tuple[str, str]], notes: str = "") -> bytes:
    """A deck of (title, body) slides; ``notes`` are the last slide's speaker notes."""
    import pptx

    deck = pptx.Presentation()
    for title, body in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    if notes:
        deck.slides[-1].notes_slide.notes_text_frame.text = notes
    return _saved(deck)


def xlsx_bytes(sheets: dict[str, list[list[object]]]) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    return _saved(workbook)


def odt_bytes(blocks: Sequence[tuple[int, str]], title: str = "") -> bytes:
    """An OpenDocument text of (outline level, text) blocks; level 0 is a paragraph."""
    from odf import dc, text
    from odf.opendocument import OpenDocumentText

    document = OpenDocumentText()
    if title:
        document.meta.addElement(dc.Title(text=title))
    for level, words in blocks:
        document.text.addElement(text.H(outlinelevel=level, text=words) if level else text.P(text=words))
    buffer = io.BytesIO()
    document.write(buffer)
    return buffer.getvalue()


def epub_bytes(chapters: Sequence[tuple[str, str]], title: str = "A book", date: str = "") -> bytes:
    """An e-book of (chapter title, paragraph) chapters."""
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("test-book")
    book.set_title(title)
    book.set_language("en")
    if date:
        book.add_metadata("DC", "date", date)
    items = []
    for number, (name, paragraph) in enumerate(chapters, start=1):
        item = epub.EpubHtml(title=name, file_name=f"chapter{number}.xhtml", lang="en")
        item.content = f"<html><body><h1>{name}</h1><p>{paragraph}</p></body></html>"
        book.add_item(item)
        items.append(item)
    book.toc = items
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    buffer = io.BytesIO()
    epub.write_epub(buffer, book)
    return buffer.getvalue()


def scanned_pdf_bytes(pages: Sequence[Sequence[str]]) -> bytes:
    """A PDF of page images with each page's lines drawn on them, and no text layer: a scan."""
    font = ImageFont.load_default(size=36)
    images = []
    for lines in pages:
        image = Image.new("L", (1400, 120 + 60 * len(lines)), color=255)
        draw = ImageDraw.Draw(image)
        for number, line in enumerate(lines):
            draw.text((60, 60 + 60 * number), line, fill=0, font=font)
        images.append(image.convert("RGB"))
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", resolution=200.0, save_all=True, append_images=images[1:])
    return buffer.getvalue()


def _saved(document: object) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)  # type: ignore[attr-defined]
    return buffer.getvalue()
