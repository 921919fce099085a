"""HTML pages: the main content, its heading paths, and the page's title and publication date.

trafilatura finds the main content (leaving out navigation, footers and other boilerplate) and the
date the page's metadata gives (``article:published_time``, JSON-LD, Dublin Core, not a guess from
its text). A page too small for it to judge is read whole: the visible text, one paragraph per
block element. BeautifulSoup and trafilatura are imported on first use, so that importing the
package stays cheap.
"""

from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING, Any

from docqa.documents.common import Outline, Parsed, Section, iso_date, normalised, parsed
from docqa.documents.tables import table_text
from docqa.documents.text_format import decoded, has_bom

if TYPE_CHECKING:
    from bs4 import BeautifulSoup
    from bs4.element import Tag
    from lxml.etree import _Element

_DROPPED_TAGS = frozenset({"script", "style", "noscript", "template", "head"})
_BLOCK_TAGS = (
    frozenset({"html", "body", "main", "article", "section", "header", "footer", "nav", "aside", "div", "p"})
    | {"h1", "h2", "h3", "h4", "h5", "h6", "hr", "pre", "blockquote", "address", "figure", "figcaption"}
    | {"ul", "ol", "li", "dl", "dt", "dd", "table", "caption", "tr", "th", "td"}
    | {"form", "fieldset", "details", "summary", "dialog"}
)
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCK_END = object()
# trafilatura may give a small page whole as one paragraph; when that paragraph holds this share of
# the page's words, the page is read whole instead, keeping its own blocks.
_WHOLE_PAGE_SHARE = 0.9
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\w+")
_BLANK_LINES = re.compile(r"\n{3,}")
_BYLINE_CHARS = 200  # a byline is a line; a longer block around a date is the article's text


# Only the page's own metadata: htmldate's extensive search would guess a date from the text or URL.
_DATE_OPTIONS: dict[str, Any] = {"extensive_search": False, "original_date": True}


def parse_html(data: bytes) -> Parsed:
    """The main content, title (``<title>``, else the first ``<h1>``, else the first line), date
    (metadata, else the marker) and heading-path locations of a page."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_html_markup(data), "lxml")
    page = str(soup)
    whole = _html_sections(soup)
    main = _main_content(page)
    if main is None or _flattened(main[0], whole):
        return parsed(whole, title=_html_title(soup), date=main[1] if main else _page_date(page))
    return parsed(_with_byline(main[0], soup), title=_html_title(soup), date=main[1])


def _with_byline(sections: list[Section], soup: BeautifulSoup) -> list[Section]:
    """``sections`` of the main content with the article's byline, the line that shows when it was
    published ("By Ann Lee · Tuesday 23 April 2024"), under the title's heading, where trafilatura
    left it out as boilerplate: the date a reader of the page sees is an answer too."""
    time = soup.select_one("article time, main time")
    block = time.find_parent(["p", "div", "span", "address", "header"]) if time is not None else None
    if time is None or not sections:
        return sections
    line = " ".join((block if block is not None else time).get_text(" ").split())
    shown = " ".join(time.get_text(" ").split())
    if not shown or len(line) > _BYLINE_CHARS or any(shown in text for _, text in sections):
        return sections
    label, first = sections[0]
    head, _, rest = first.strip().partition("\n")
    if head.strip() == label.rsplit("\u203a", 1)[-1].strip():  # right under the title's heading
        return [(label, head), (label, line), (label, rest), *sections[1:]]
    return [sections[0], (label, line), *sections[1:]]


def html_sections(markup: bytes | str) -> list[Section]:
    """All the visible text of a page or fragment (an e-book's chapter), one paragraph per block,
    in sections labelled with their heading paths."""
    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)  # XHTML read as HTML loses nothing we keep
        return _html_sections(BeautifulSoup(markup, "lxml"))


def _flattened(main: list[Section], whole: list[Section]) -> bool:
    """Whether trafilatura gave all of a small page as one paragraph: nothing was judged boilerplate,
    and the page's own blocks read better."""
    text = "\n".join(section for _, section in main)
    if "\n" in text.strip():
        return False
    # Words, not characters: the page's own blocks name each table cell by its column.
    words = set(_WORD.findall(text.lower()))
    page_words = {word for _, section in whole for word in _WORD.findall(section.lower())}
    return len(words & page_words) >= _WHOLE_PAGE_SHARE * len(page_words)


def _main_content(page: str) -> tuple[list[Section], str | None] | None:
    """The sections of the page's main content and its date, or None when trafilatura finds none."""
    import trafilatura
    from lxml import etree

    found = trafilatura.extract(
        page,
        output_format="xml",
        include_formatting=True,
        include_tables=True,
        include_comments=False,
        with_metadata=True,
        date_extraction_params=_DATE_OPTIONS,
    )
    if not found:
        return None
    root = etree.fromstring(found.encode("utf-8"))
    main = root.find("main")
    sections = _Sections().walk(main if main is not None else root)
    return sections, iso_date(root.get("date"))


def _page_date(page: str) -> str | None:
    import htmldate

    try:
        return iso_date(htmldate.find_date(page, **_DATE_OPTIONS))
    except Exception:  # a date is a nicety; a page without a readable one is still read
        return None


class _Sections:
    """trafilatura's XML as sections of text, one per heading, labelled with the heading path."""

    def __init__(self) -> None:
        self.outline = Outline()

    def walk(self, root: _Element) -> list[Section]:
        for element in root:
            self._block(element)
        return self.outline.sections()

    def _block(self, element: _Element) -> None:
        tag = element.tag
        if tag == "head":
            rend = element.get("rend") or "h2"
            self.outline.heading(int(rend[1:]) if rend[1:].isdigit() else 2, _element_text(element))
        elif tag == "list":
            self.outline.add("\n".join(_list_lines(element, 0)))
        elif tag == "table":
            rows = [[_element_text(cell) for cell in row.iter("cell")] for row in element.iter("row")]
            self.outline.add(table_text(rows))
        elif tag in ("p", "quote", "code"):
            self.outline.add(_element_text(element))
        elif tag not in ("graphic", "comments"):
            for child in element:
                self._block(child)


def _list_lines(element: _Element, depth: int) -> list[str]:
    lines: list[str] = []
    for item in element.iter("item"):
        if item.getparent() is not element:
            continue
        nested = [child for child in item if child.tag == "list"]
        for child in nested:
            item.remove(child)
        lines.append("  " * depth + "- " + " ".join(_element_text(item).split()))
        for child in nested:
            lines.extend(_list_lines(child, depth + 1))
    return lines


def _element_text(element: _Element) -> str:
    """The text of an element, its ``<lb/>`` line breaks kept as line breaks."""
    parts = [element.text or ""]
    for child in element:
        parts.append("\n" if child.tag == "lb" else _element_text(child))
        parts.append(child.tail or "")
    return normalised("".join(parts))


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


def _html_sections(soup: BeautifulSoup) -> list[Section]:
    """The visible text, one section per heading (labelled with its heading path); each block element
    is a paragraph of its own, after a blank line."""
    from bs4.element import NavigableString, PreformattedString, Tag

    outline = Outline()
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
            if node.name in _HEADINGS:
                outline.add(_paragraphs("".join(parts)))
                outline.heading(int(node.name[1]), node.get_text(" "))
                parts = []
                continue  # its text is the heading's
            if node.name == "table":
                outline.add(_paragraphs("".join(parts)))
                outline.add(table_text(_table_cells(node)))
                parts = []
                continue
            _visit_tag(node, parts, stack)
    outline.add(_paragraphs("".join(parts)))
    return outline.sections()


def _table_cells(table: Tag) -> list[list[str]]:
    """The text of each cell of each row of ``table``, without those of tables nested in it."""
    rows: list[list[str]] = []
    for row in table.find_all("tr"):
        if row.find_parent("table") is table:
            rows.append([cell.get_text(" ") for cell in row.find_all(("td", "th"), recursive=False)])
    return rows


def _paragraphs(text: str) -> str:
    lines = (line.strip() for line in normalised(text).split("\n"))
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
