"""The one registry of the file formats docqa reads: suffix -> ``Format``.

Everything that needs to know which files are documents asks here: the corpus loader, the upload
checks, the file picker. Each format has a quick ``sniff`` of a file's first bytes (for uploads:
is this plausibly that format?) and a full ``parse``. Each parser module is imported when a file of
its type is first read, and imports its library then, so that importing this registry stays cheap
and a format whose library is not installed costs nothing until such a file is read (it is then
skipped with what to install).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from docqa.documents.common import ZIP_MAGIC, Parsed
from docqa.documents.limits import MAX_FILE_BYTES
from docqa.documents.text_format import is_binary, parse_plain

__all__ = [
    "FORMATS",
    "FORMAT_BY_SUFFIX",
    "MAX_FILE_BYTES",
    "OCR_LIBRARIES",
    "SUFFIXES",
    "Format",
    "format_for",
    "library_problems",
    "sniff_problem",
]

Parse = Callable[[bytes], Parsed | tuple[str, str, str | None]]
Sniff = Callable[[bytes], str | None]


@dataclass(frozen=True)
class Format:
    """A file format: its name, its suffixes (lower case, with the dot) and how to check and read it.

    ``sniff(head)`` says why a file's first bytes are not this format, or None when they may be;
    ``parse(data)`` turns a whole file into a ``Parsed`` ``(text, title, date, locations)`` (title
    "" when it has none, date ``YYYY-MM-DD`` or None, locations as (offset, label) pairs; a plain
    3-tuple has none) or raises ``UnreadableFile`` with the reason.
    """

    name: str
    suffixes: tuple[str, ...]
    sniff: Sniff
    parse: Parse
    libraries: tuple[str, ...] = ()  # the modules its parser imports, for checking an install


def _sniff_text(head: bytes) -> str | None:
    return "the file is binary, not text" if is_binary(head) else None


def _sniff_pdf(head: bytes) -> str | None:
    if head.startswith(PDF_MAGIC):
        return None
    return f"the file is not a PDF (it does not start with {PDF_MAGIC.decode()})"


def _sniff_zip(name: str) -> Sniff:
    def sniff(head: bytes) -> str | None:
        return None if head.startswith(ZIP_MAGIC) else f"the file is not {name} (it is not a ZIP archive)"

    return sniff


def _sniff_rtf(head: bytes) -> str | None:
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{\\rtf"):
        return None
    return "the file is not RTF (it does not start with {\\rtf)"


def _lazy(module: str, function: str) -> Parse:
    """The parser ``function`` of ``docqa.documents.<module>``, imported on its first call."""

    def parse(data: bytes) -> Parsed | tuple[str, str, str | None]:
        return getattr(importlib.import_module(f"docqa.documents.{module}"), function)(data)

    parse.__name__ = function
    return parse


PDF_MAGIC = b"%PDF-"
_HTML_LIBRARIES = ("bs4", "lxml.etree", "trafilatura", "htmldate")
FORMATS = (
    Format("text", (".txt",), _sniff_text, parse_plain, ("charset_normalizer",)),
    Format(
        "Markdown",
        (".md",),
        _sniff_text,
        _lazy("markdown_format", "parse_markdown"),
        ("markdown_it", "frontmatter", "bs4"),
    ),
    Format("HTML", (".html", ".htm"), _sniff_text, _lazy("html_format", "parse_html"), _HTML_LIBRARIES),
    Format("PDF", (".pdf",), _sniff_pdf, _lazy("pdf_format", "parse_pdf"), ("pypdf",)),
    Format("Word", (".docx",), _sniff_zip("a Word document"), _lazy("docx_format", "parse_docx"), ("docx",)),
    Format("PowerPoint", (".pptx",), _sniff_zip("a PowerPoint deck"), _lazy("pptx_format", "parse_pptx"), ("pptx",)),
    Format("Excel", (".xlsx",), _sniff_zip("an Excel workbook"), _lazy("xlsx_format", "parse_xlsx"), ("openpyxl",)),
    Format(
        "OpenDocument text",
        (".odt",),
        _sniff_zip("an OpenDocument text"),
        _lazy("odt_format", "parse_odt"),
        ("odf.opendocument",),
    ),
    Format(
        "EPUB",
        (".epub",),
        _sniff_zip("an EPUB e-book"),
        _lazy("epub_format", "parse_epub"),
        ("ebooklib.epub", *_HTML_LIBRARIES),
    ),
    Format("RTF", (".rtf",), _sniff_rtf, _lazy("rtf_format", "parse_rtf"), ("striprtf.striprtf",)),
    Format("CSV", (".csv",), _sniff_text, _lazy("csv_format", "parse_csv"), ("csv",)),
)
# Scanned PDF pages need these too (and the tesseract program); without them such pages are skipped.
OCR_LIBRARIES = ("pypdfium2", "pytesseract")
# A plain dict, so that a test can put a different parser in place with monkeypatch.setitem.
FORMAT_BY_SUFFIX: dict[str, Format] = {suffix: form for form in FORMATS for suffix in form.suffixes}
SUFFIXES: tuple[str, ...] = tuple(FORMAT_BY_SUFFIX)


def format_for(suffix: str) -> Format | None:
    """The format of files ending in ``suffix`` (any case, with the dot), or None for an unsupported one."""
    return FORMAT_BY_SUFFIX.get(suffix.lower())


def library_problems() -> dict[str, str]:
    """Each library of a format (or of OCR) that cannot be imported here, with the error it raised.

    Importing is the whole check: a library can be installed and still fail to import (one of its
    own dependencies moved a module elsewhere), and then every file of its type would be skipped.
    """
    problems: dict[str, str] = {}
    for module in dict.fromkeys([name for form in FORMATS for name in form.libraries] + list(OCR_LIBRARIES)):
        try:
            importlib.import_module(module)
        except Exception as error:  # an import can fail in any way, not only with ImportError
            problems[module] = f"{type(error).__name__}: {error}"
    return problems


def sniff_problem(suffix: str, data: bytes) -> str | None:
    """Why ``data`` (a file's first bytes, or all of them) is not a file of type ``suffix``, or None.

    A PDF must start with ``%PDF-``, an Office file or e-book is a ZIP archive, an RTF file starts
    with ``{\\rtf``; a text, Markdown, HTML or CSV file must not be binary (a NUL byte without a byte
    order mark). The full check is parsing: this one is for refusing an upload at once.
    """
    form = format_for(suffix)
    if form is None:
        return f"unsupported file type {suffix or '(none)'}"
    return form.sniff(data)
