"""The one registry of the file formats docqa reads: suffix -> ``Format``.

Everything that needs to know which files are documents asks here: the corpus loader, the upload
checks, the file picker. Each format has a quick ``sniff`` of a file's first bytes (for uploads:
is this plausibly that format?) and a full ``parse``. The parsers import their heavy libraries
(BeautifulSoup, pypdf) on first use, so that importing this registry stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from docqa.documents.html_format import parse_html
from docqa.documents.limits import MAX_FILE_BYTES
from docqa.documents.pdf_format import PDF_MAGIC, parse_pdf
from docqa.documents.text_format import is_binary, parse_markdown, parse_plain

__all__ = ["FORMATS", "FORMAT_BY_SUFFIX", "MAX_FILE_BYTES", "SUFFIXES", "Format", "format_for", "sniff_problem"]

Parse = Callable[[bytes], tuple[str, str, str | None]]
Sniff = Callable[[bytes], str | None]


@dataclass(frozen=True)
class Format:
    """A file format: its name, its suffixes (lower case, with the dot) and how to check and read it.

    ``sniff(head)`` says why a file's first bytes are not this format, or None when they may be;
    ``parse(data)`` turns a whole file into ``(text, title, date)`` (title "" when it has none,
    date ``YYYY-MM-DD`` or None) or raises ``UnreadableFile`` with the reason.
    """

    name: str
    suffixes: tuple[str, ...]
    sniff: Sniff
    parse: Parse


def _sniff_text(head: bytes) -> str | None:
    return "the file is binary, not text" if is_binary(head) else None


def _sniff_pdf(head: bytes) -> str | None:
    if head.startswith(PDF_MAGIC):
        return None
    return f"the file is not a PDF (it does not start with {PDF_MAGIC.decode()})"


FORMATS = (
    Format("text", (".txt",), _sniff_text, parse_plain),
    Format("Markdown", (".md",), _sniff_text, parse_markdown),
    Format("HTML", (".html", ".htm"), _sniff_text, parse_html),
    Format("PDF", (".pdf",), _sniff_pdf, parse_pdf),
)
# A plain dict, so that a test can put a different parser in place with monkeypatch.setitem.
FORMAT_BY_SUFFIX: dict[str, Format] = {suffix: form for form in FORMATS for suffix in form.suffixes}
SUFFIXES: tuple[str, ...] = tuple(FORMAT_BY_SUFFIX)


def format_for(suffix: str) -> Format | None:
    """The format of files ending in ``suffix`` (any case, with the dot), or None for an unsupported one."""
    return FORMAT_BY_SUFFIX.get(suffix.lower())


def sniff_problem(suffix: str, data: bytes) -> str | None:
    """Why ``data`` (a file's first bytes, or all of them) is not a file of type ``suffix``, or None.

    A PDF must start with ``%PDF-``; a text, Markdown or HTML file must not be binary (a NUL byte
    without a byte order mark). The full check is parsing: this one is for refusing an upload at once.
    """
    form = format_for(suffix)
    if form is None:
        return f"unsupported file type {suffix or '(none)'}"
    return form.sniff(data)
