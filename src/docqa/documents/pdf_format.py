"""PDF files: the text layer of every page, and the title and date of the document information.

pypdf is imported on first use, so that importing the package stays cheap.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from docqa.documents.common import UnreadableFile, checked_text, first_line, normalised, short_title, split_date_marker

if TYPE_CHECKING:
    import pypdf

PDF_MAGIC = b"%PDF-"


def parse_pdf(data: bytes) -> tuple[str, str, str | None]:
    """The text, title (metadata, else the first line) and date (marker, else creation date) of a PDF."""
    try:
        reader = _open_pdf(data)
        pages = [page.extract_text() for page in reader.pages]
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
