"""What the parsers of every format share: the error for unusable files, what a parser returns, text clean-up.

A leading ``date YYYY-MM-DD`` marker is the corpus convention for a document's date; every format
honours it, and it is removed from the text. A parser gives its text as sections, each with the
location it comes from (page, slide, sheet, chapter, heading path); ``parsed`` joins them into the
document's text and the offsets where each location starts.
"""

from __future__ import annotations

import datetime
import importlib
import io
import re
import zipfile
from collections.abc import Collection, Iterable, Sequence
from types import ModuleType
from typing import NamedTuple

from docqa.documents.archives import unpacking_problem
from docqa.documents.limits import MAX_TEXT_CHARS
from docqa.errors import DocqaError
from docqa.schema import Location
from docqa.text import has_words

TITLE_CHARS = 120

_DATE_MARKER = re.compile(r"\A\s*date (\d{4}-\d{2}-\d{2})\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_MAX_CONTROL_SHARE = 0.2
# An Office file or e-book is a ZIP archive; its parts may hold at most this much once unpacked, so
# that a small file cannot expand into gigabytes in memory (a dense 20 MB workbook unpacks to ~200 MB).
MAX_UNPACKED_BYTES = 512 * 2**20
ZIP_MAGIC = b"PK\x03\x04"
FORMATS_EXTRA = "pip install 'docqa[formats]'"


class UnreadableFile(DocqaError):
    """A file in the corpus that cannot be turned into a document; ``reason`` says why.

    ``transient`` when the same bytes may be read another time: the file could not be opened, it
    changed while read, memory ran out, or reading it was stopped for taking too long.
    """

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        self.reason = reason
        self.transient = transient
        super().__init__(reason)


class Parsed(NamedTuple):
    """What a parser makes of a file: its text, title ("" for none), date (YYYY-MM-DD or None) and the
    locations of its text, as (offset, label) pairs in order."""

    text: str
    title: str
    date: str | None
    locations: tuple[Location, ...] = ()


Section = tuple[str, str]  # (location label, "" for none; text)


def parsed(
    sections: Iterable[Section],
    *,
    title: str = "",
    date: str | None = None,
    markdown: bool = False,
    joined: Collection[int] = (),
) -> Parsed:
    """The document made of ``sections``: their texts, stripped, one paragraph each, with the offset at
    which each location starts; a leading date marker is the date when ``date`` is None. The sections
    whose indices are in ``joined`` go on the paragraph before them, after a space (a paragraph that
    runs over a page break, its sentence across the break located on both pages).

    Raises ``UnreadableFile`` when there is no text, or more than ``MAX_TEXT_CHARS`` of it.
    """
    parts: list[str] = []
    locations: list[Location] = []
    length = 0
    for index, (label, section) in enumerate(sections):
        section = normalised(section)
        if not section:
            continue
        label = short_title(label)  # a heading can be a whole paragraph; every passage under it stores it
        if parts:
            parts.append(" " if index in joined else "\n\n")  # a blank line between paragraphs
            length += len(parts[-1])
        if (locations[-1][1] if locations else "") != label:
            locations.append((length, label))
        parts.append(section)
        length += len(section)
        if length > MAX_TEXT_CHARS:
            raise UnreadableFile(f"its text is longer than {MAX_TEXT_CHARS:,} characters")
    text, marked = split_date_marker("".join(parts))
    text = checked_text(text)
    title = short_title(title or first_line(text, markdown=markdown))
    return Parsed(text, title, date or marked, _shifted(locations, length - len(text)))


def _shifted(locations: Sequence[Location], cut: int) -> tuple[Location, ...]:
    """``locations`` in a text whose first ``cut`` characters were removed."""
    kept: list[Location] = []
    for offset, label in locations:
        offset = max(0, offset - cut)
        if kept and kept[-1][0] == offset:
            kept.pop()
        kept.append((offset, label))
    return tuple(pair for index, pair in enumerate(kept) if pair[1] or index)


HEADING_SEPARATOR = " \u203a "  # "Setup \u203a Ports": a heading path as shown in citations


class Outline:
    """Blocks of text gathered into sections: a new one at each heading, labelled with the path of
    headings above it ("Setup \u203a Ports"); the heading's own text opens its section."""

    def __init__(self) -> None:
        self._headings: list[tuple[int, str]] = []
        self._label = ""
        self._blocks: list[str] = []
        self._sections: list[Section] = []

    def heading(self, level: int, text: str) -> None:
        text = " ".join(text.split())
        if not text:
            return
        self._flush()
        self._headings = [(lvl, name) for lvl, name in self._headings if lvl < level] + [(level, text)]
        self._label = HEADING_SEPARATOR.join(name for _, name in self._headings)
        self._blocks.append(text)

    def add(self, text: str) -> None:
        if text.strip():
            self._blocks.append(text)

    def sections(self) -> list[Section]:
        self._flush()
        return self._sections

    def _flush(self) -> None:
        if self._blocks:
            self._sections.append((self._label, "\n\n".join(self._blocks)))
            self._blocks = []


def needs(module: str, package: str, suffix: str) -> ModuleType:
    """The library ``module``; raises ``UnreadableFile`` saying what to install when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise UnreadableFile(f"reading {suffix} files needs {package}: {FORMATS_EXTRA}") from error


def checked_zip(data: bytes, kind: str) -> zipfile.ZipFile:
    """``data`` opened as a ZIP archive; raises ``UnreadableFile`` for a damaged one or one that
    unpacks to more than ``MAX_UNPACKED_BYTES``, or a part to more than it declares, as measured by
    unpacking it (:mod:`docqa.documents.archives`)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        unpacked = sum(member.file_size for member in archive.infolist())
        problem = None if unpacked > MAX_UNPACKED_BYTES else unpacking_problem(data, archive, MAX_UNPACKED_BYTES)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise UnreadableFile(f"damaged {kind} (not a readable ZIP archive: {error})") from error
    if unpacked > MAX_UNPACKED_BYTES:
        raise UnreadableFile(f"its parts unpack to more than {MAX_UNPACKED_BYTES // 2**20} MB")
    if problem is not None:
        raise UnreadableFile(problem)
    return archive


def iso_date(value: object) -> str | None:
    """``value`` (a date, a datetime, or text starting with YYYY-MM-DD) as YYYY-MM-DD, else None."""
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()[:10]
    text = str(value or "").strip()[:10]
    return text if len(text) == 10 and _is_date(text) else None


def split_date_marker(text: str) -> tuple[str, str | None]:
    """``text`` without a leading ``date YYYY-MM-DD`` marker, and the marker's date."""
    match = _DATE_MARKER.match(text)
    if match is None or not _is_date(match.group(1)):
        return text, None
    return text[match.end() :], match.group(1)


def _is_date(value: str) -> bool:
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def normalised(text: str) -> str:
    """``text`` with every line ending as ``\\n`` and no white space around it."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def checked_text(text: str) -> str:
    """``text`` itself; raises ``UnreadableFile`` when it is empty or mostly control characters."""
    if not text:
        raise UnreadableFile("empty")
    if len(_CONTROL.findall(text)) > _MAX_CONTROL_SHARE * len(text):
        raise UnreadableFile("binary file")
    if not has_words(text):
        raise UnreadableFile("it holds no words, only punctuation or symbols")
    return text


def first_line(text: str, *, markdown: bool = False) -> str:
    """The first line with any text, without a Markdown heading's ``#`` marks when ``markdown``."""
    for line in text.split("\n"):
        line = line.strip()
        if markdown:
            line = line.lstrip("#").strip()
        if line:
            return line
    return ""


# Words of the titles that programs write rather than authors: "Scan 16 May 2024 08:42", "Scanned
# Document", "Microsoft Word - report.docx", "Untitled", "IMG_0042".
_PLACEHOLDER_WORDS = frozenset(
    "scan scanned scans image img document doc untitled page file new copy of microsoft word powerpoint "
    "presentation excel workbook pdf docx xlsx pptx odt rtf jpg jpeg png tif tiff am pm".split()
)
_DATE_WORDS = frozenset(
    "jan january feb february mar march apr april may jun june jul july aug august sep sept september oct "
    "october nov november dec december mon monday tue tuesday wed wednesday thu thursday fri friday sat "
    "saturday sun sunday".split()
)


def placeholder_title(title: str) -> bool:
    """Whether ``title`` is one a program gave the file (a scanner's "Scan 16 May 2024 08:42"), which
    names nothing: all its words are such words, numbers, dates and times."""
    words = re.findall(r"[^\W\d_]+", title.lower())
    return bool(title.strip()) and all(word in _PLACEHOLDER_WORDS or word in _DATE_WORDS for word in words)


def short_title(title: str) -> str:
    """``title`` on one line, cut at a word with an ellipsis past ``TITLE_CHARS`` characters."""
    title = " ".join(title.split())
    if len(title) <= TITLE_CHARS:
        return title
    cut = title.rfind(" ", 0, TITLE_CHARS)
    return title[: cut if cut > 0 else TITLE_CHARS] + "…"
