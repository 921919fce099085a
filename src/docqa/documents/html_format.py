"""HTML pages: the visible text, one paragraph per block element, and the page's title.

BeautifulSoup is imported on first use, so that importing the package stays cheap.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from docqa.documents.common import checked_text, first_line, normalised, short_title, split_date_marker
from docqa.documents.text_format import decoded, has_bom

if TYPE_CHECKING:
    from bs4 import BeautifulSoup
    from bs4.element import Tag

_DROPPED_TAGS = frozenset({"script", "style", "noscript", "template", "head"})
_BLOCK_TAGS = (
    frozenset({"html", "body", "main", "article", "section", "header", "footer", "nav", "aside", "div", "p"})
    | {"h1", "h2", "h3", "h4", "h5", "h6", "hr", "pre", "blockquote", "address", "figure", "figcaption"}
    | {"ul", "ol", "li", "dl", "dt", "dd", "table", "caption", "tr", "th", "td"}
    | {"form", "fieldset", "details", "summary", "dialog"}
)
_BLOCK_END = object()
_SPACES = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")


def parse_html(data: bytes) -> tuple[str, str, str | None]:
    """The text, title (``<title>``, else the first ``<h1>``, else the first line) and date of a page."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_html_markup(data), "lxml")
    title = _html_title(soup)
    text, date = split_date_marker(_html_text(soup))
    text = checked_text(text)
    return text, short_title(title or first_line(text)), date


def _html_markup(data: bytes) -> bytes | str:
    """The bytes where the page names its encoding (BeautifulSoup honours that), else decoded text."""
    from bs4.dammit import EncodingDetector

    declared = EncodingDetector.find_declared_encoding(data, is_html=True) or ""
    # A page that could declare its encoding in ASCII is not UTF-16 or UTF-32; browsers ignore that claim.
    if has_bom(data) or (declared and not declared.lower().replace("-", "").startswith(("utf16", "utf32"))):
        return data
    return decoded(data)


def _html_title(soup: BeautifulSoup) -> str:
    from bs4.element import Tag

    for name in ("title", "h1"):
        tag = soup.find(name)
        if isinstance(tag, Tag):
            title = " ".join(tag.get_text(" ").split())
            if title:
                return title
    return ""


def _html_text(soup: BeautifulSoup) -> str:
    """The visible text; each block element is a paragraph of its own, after a blank line."""
    from bs4.element import NavigableString, PreformattedString, Tag

    parts: list[str] = []
    stack: list[object] = [soup]
    while stack:
        node = stack.pop()
        if node is _BLOCK_END:
            parts.append("\n")
        elif isinstance(node, NavigableString):
            if not isinstance(node, PreformattedString):
                parts.append(_SPACES.sub(" ", str(node)))
        elif isinstance(node, Tag):
            _visit_tag(node, parts, stack)
    lines = (line.strip() for line in normalised("".join(parts)).split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _visit_tag(tag: Tag, parts: list[str], stack: list[object]) -> None:
    if tag.name in _DROPPED_TAGS:
        return
    if tag.name == "br":
        parts.append("\n")
    elif tag.name == "pre":
        parts.append("\n" + tag.get_text() + "\n")
    elif tag.name in _BLOCK_TAGS:
        parts.append("\n")
        stack.append(_BLOCK_END)
        stack.extend(reversed(tag.contents))
    else:
        stack.extend(reversed(tag.contents))
