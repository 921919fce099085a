"""What the parsers of every format share: the error for unusable files, and text clean-up.

A leading ``date YYYY-MM-DD`` marker is the corpus convention for a document's date; every format
honours it, and it is removed from the text.
"""

from __future__ import annotations

import datetime
import re

from docqa.errors import DocqaError
from docqa.text import has_words

TITLE_CHARS = 120

_DATE_MARKER = re.compile(r"\A\s*date (\d{4}-\d{2}-\d{2})\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_MAX_CONTROL_SHARE = 0.2


class UnreadableFile(DocqaError):
    """A file in the corpus that cannot be turned into a document; ``reason`` says why.

    ``transient`` when the same bytes may be read another time: the file could not be opened, it
    changed while read, memory ran out, or reading it was stopped for taking too long.
    """

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        self.reason = reason
        self.transient = transient
        super().__init__(reason)


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


def short_title(title: str) -> str:
    """``title`` on one line, cut at a word with an ellipsis past ``TITLE_CHARS`` characters."""
    title = " ".join(title.split())
    if len(title) <= TITLE_CHARS:
        return title
    cut = title.rfind(" ", 0, TITLE_CHARS)
    return title[: cut if cut > 0 else TITLE_CHARS] + "…"
