"""PDF files: the text layer of every page, and the title and date of the document information.

A small compressed file can expand to far more text than it has bytes, so extraction counts the
characters as they come and stops at ``MAX_PAGE_CHARS`` on a page or ``MAX_TEXT_CHARS`` in all.
pypdf is imported on first use, so that importing the package stays cheap.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from docqa.documents.common import UnreadableFile, checked_text, first_line, normalised, short_title, split_date_marker
from docqa.documents.limits import MAX_PAGE_CHARS, MAX_TEXT_CHARS

if TYPE_CHECKING:
    import pypdf

PDF_MAGIC = b"%PDF-"


def parse_pdf(data: bytes) -> tuple[str, str, str | None]:
    """The text, title (metadata, else the first line) and date (marker, else creation date) of a PDF."""
    try:
        reader = _open_pdf(data)
        pages = _page_texts(reader)
        metadata_title, metadata_date = _pdf_metadata(reader.metadata)
    except UnreadableFile:
        raise
    except Exception as error:  # pypdf raises many kinds of errors on damaged files
        raise UnreadableFile(f"damaged PDF ({type(error).__name__}: {error})") from error
    text = normalised("\n\n".join(page.strip() for page in pages if page.strip()))
    if not text:
        raise UnreadableFile("PDF has no text layer")
    text, date = split_date_marker(text)
    text = checked_text(text)
    return text, short_title(metadata_title or first_line(text)), date or metadata_date


class _TextBudget:
    """Counts the characters extracted, as pypdf reports them, against the page's and the file's budget."""

    def __init__(self) -> None:
        self.before = 0  # characters of the pages already read
        self.page = 0
        self.number = 0

    def start_page(self, number: int) -> None:
        self.before, self.page, self.number = self.before + self.page, 0, number

    def visit(self, text: str, *_: object) -> None:
        self.page += len(text)
        self.check()

    def check(self) -> None:
        if self.page > MAX_PAGE_CHARS:
            raise UnreadableFile(f"page {self.number} has more than {MAX_PAGE_CHARS:,} characters of text")
        if self.before + self.page > MAX_TEXT_CHARS:
            raise UnreadableFile(f"its text is longer than {MAX_TEXT_CHARS:,} characters")


def _page_texts(reader: pypdf.PdfReader) -> list[str]:
    """The text of each page; raises ``UnreadableFile`` as soon as a page or the whole passes its budget."""
    budget = _TextBudget()
    texts: list[str] = []
    for number, page in enumerate(reader.pages, start=1):
        budget.start_page(number)
        text = page.extract_text(visitor_text=budget.visit)  # raises from the visitor, mid-page
        budget.page = max(budget.page, len(text))
        budget.check()
        texts.append(text)
    return texts


def _open_pdf(data: bytes) -> pypdf.PdfReader:
    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(data))
    if reader.is_encrypted and reader.decrypt("") == pypdf.PasswordType.NOT_DECRYPTED:
        raise UnreadableFile("PDF is encrypted with a password")
    return reader


def _pdf_metadata(metadata: pypdf.DocumentInformation | None) -> tuple[str, str | None]:
    """The title and the creation date (YYYY-MM-DD) from the PDF's document information."""
    if metadata is None:
        return "", None
    title = " ".join(str(metadata.title or "").split())
    try:
        created = metadata.creation_date
    except ValueError:  # a malformed date string
        created = None
    return title, created.date().isoformat() if created else None
