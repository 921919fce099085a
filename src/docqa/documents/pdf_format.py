"""PDF files: the text layer of every page (OCR for pages without one), page by page, with the title
and date of the document's metadata, made into paragraphs and table rows
(:mod:`docqa.documents.pdf_text`: lines joined within sentences, running headers and footers left
out, a paragraph over a page break kept whole).

A small compressed file can expand to far more text than it has bytes, so extraction counts the
characters as they come and stops at ``MAX_PAGE_CHARS`` on a page or ``MAX_TEXT_CHARS`` in all.
Each page is a location ("page 3", by the page labels the PDF defines, else its number). A page
without text, or with a line or so beside an image (a scan), is read by OCR where an engine is
installed (:mod:`docqa.documents.ocr`).
The date is the one the author's metadata gives (XMP ``dc:date``), never the time at which a PDF
writer made the file (``CreationDate``). pypdf is imported on first use, so that importing the
package stays cheap.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING

from docqa.documents.common import Parsed, UnreadableFile, iso_date, parsed, placeholder_title
from docqa.documents.limits import MAX_PAGE_CHARS, MAX_TEXT_CHARS
from docqa.documents.pdf_text import in_columns_of_prose, pdf_sections

if TYPE_CHECKING:
    import pypdf

log = logging.getLogger(__name__)

# A page with at most this many words of text and an image is a scan: OCR reads the whole page.
_SCANNED_PAGE_WORDS = 12


def parse_pdf(data: bytes) -> Parsed:
    """The text, title (metadata, else the first line), date (marker, else XMP ``dc:date``) and page
    locations of a PDF."""
    try:
        reader = _open_pdf(data)
        budget = _TextBudget()
        pages = _page_texts(reader, budget)
        labels = _page_labels(reader)
        title, date = _pdf_metadata(reader)
        scanned = [index for index, text in enumerate(pages) if _is_scanned(reader.pages[index], text)]
    except UnreadableFile:
        raise
    except Exception as error:  # pypdf raises many kinds of errors on damaged files
        raise UnreadableFile(f"damaged PDF ({type(error).__name__}: {error})") from error
    if scanned:
        _read_scanned(data, pages, scanned, budget)
    sections, joined = pdf_sections(pages, labels)
    return parsed(sections, title=title, date=date, joined=joined)


def _is_scanned(page: pypdf.PageObject, text: str) -> bool:
    """Whether a page's words are in an image: it has no text layer, or only a line or so of text
    (a scanner's stamp, a page number) beside an image."""
    words = len(text.split())
    if words == 0:
        return True
    if words > _SCANNED_PAGE_WORDS:
        return False
    try:
        return len(page.images) > 0
    except Exception:  # an image that cannot be listed is not worth failing the page for
        return False


def _read_scanned(data: bytes, pages: list[str], scanned: list[int], budget: _TextBudget) -> None:
    """Read the pages at ``scanned`` by OCR, in place of their text layer; without an engine, keep what
    text they have and say how to get one."""
    from docqa.documents.ocr import ocr_pages, ocr_problem

    problem = ocr_problem()
    if problem is not None:
        if not any(page.strip() for page in pages):
            raise UnreadableFile(f"PDF has no text layer, and there is {problem}")
        log.warning("%d scanned PDF pages are read without OCR: %s", len(scanned), problem)
        return

    def check(index: int, text: str) -> None:
        budget.start_page(index + 1)
        budget.visit(text)

    refused: dict[int, str] = {}  # pages too large to render for OCR, with why
    try:
        for index, text in ocr_pages(data, scanned, check, refused).items():
            pages[index] = text if text.strip() else pages[index]
    except UnreadableFile:
        raise
    except Exception as error:  # the renderer or Tesseract failing on one file must not stop the others
        raise UnreadableFile(f"OCR of its scanned pages failed ({type(error).__name__}: {error})") from error
    for reason in refused.values():
        log.warning("%s", reason)
    if not any(page.strip() for page in pages):
        if refused:
            raise UnreadableFile(f"PDF has no text layer, and {next(iter(refused.values()))}")
        raise UnreadableFile("PDF has no text layer, and OCR found no text on its pages")


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


def _page_texts(reader: pypdf.PdfReader, budget: _TextBudget) -> list[str]:
    """The text of each page as laid out on it; raises ``UnreadableFile`` as soon as a page or the
    whole passes its budget."""
    texts: list[str] = []
    for number, page in enumerate(reader.pages, start=1):
        budget.start_page(number)
        text = page.extract_text(visitor_text=budget.visit)  # raises from the visitor, mid-page
        budget.page = max(budget.page, len(text))
        budget.check()
        texts.append(_laid_out(page, text))
    return texts


def _laid_out(page: pypdf.PageObject, text: str) -> str:
    """The page's text with its lines and columns where they stand on the page (pypdf's layout mode:
    one line of text a line, cells of a table apart), else ``text``, read within the budget already:
    also for a page set in columns of running text, which layout mode would read across."""
    if not text.strip():
        return text
    try:
        laid_out = page.extract_text(extraction_mode="layout")
    except Exception:  # layout mode fails on some fonts that plain extraction reads
        return text
    if len(laid_out.split()) < len(text.split()) or in_columns_of_prose(laid_out):
        return text
    return laid_out


def _open_pdf(data: bytes) -> pypdf.PdfReader:
    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(data))
    if reader.is_encrypted and reader.decrypt("") == pypdf.PasswordType.NOT_DECRYPTED:
        raise UnreadableFile("PDF is encrypted with a password")
    return reader


def _page_labels(reader: pypdf.PdfReader) -> list[str]:
    """Each page's label as the PDF defines it ("iv", "12"), else its number from 1."""
    numbers = [str(number) for number in range(1, len(reader.pages) + 1)]
    try:
        labels = list(reader.page_labels)
    except Exception:  # a damaged label tree: the numbers still hold
        return numbers
    return labels if len(labels) == len(numbers) and all(labels) else numbers


def _pdf_metadata(reader: pypdf.PdfReader) -> tuple[str, str | None]:
    """The title (document information, else XMP ``dc:title``; none where a program wrote one that
    names nothing, as a scanner's "Scan 16 May 2024 08:42") and the date of XMP ``dc:date``."""
    title = " ".join(str(reader.metadata.get("/Title") or "" if reader.metadata else "").split())
    date = None
    try:
        xmp = reader.xmp_metadata
    except Exception:  # malformed XMP is only missing metadata
        xmp = None
    if xmp is not None:
        dates = [iso_date(value) for value in (xmp.dc_date or ())]
        date = next((value for value in dates if value), None)
        if not title and xmp.dc_title:
            title = " ".join(str(next(iter(xmp.dc_title.values()), "")).split())
    return ("" if placeholder_title(title) else title), date
