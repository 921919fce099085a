"""Markdown files rendered to plain text: headings, list items and table rows as readable lines.

markdown-it-py parses the Markdown (CommonMark with tables), so no emphasis marks, link syntax or
table pipes reach the text; YAML front matter (python-frontmatter) gives the title and the date and
is never part of the text. Each heading starts a section whose location is its heading path.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from docqa.documents.common import Outline, Parsed, Section, iso_date, normalised, parsed
from docqa.documents.tables import table_text
from docqa.documents.text_format import decoded

if TYPE_CHECKING:
    from markdown_it.token import Token

log = logging.getLogger(__name__)

def parse_markdown(data: bytes) -> Parsed:
    """The text, title (front matter, else the first heading or line), date (front matter, else the
    marker) and heading-path locations of a Markdown file."""
    metadata, body = _front_matter(normalised(decoded(data)))
    title = " ".join(str(metadata.get("title") or "").split())
    return parsed(_MarkdownText().sections(body), title=title, date=iso_date(metadata.get("date")))


def _front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The metadata of a leading YAML block, and the text after it."""
    import frontmatter

    if not text.startswith("---"):
        return {}, text
    try:
        post = frontmatter.loads(text)
    except Exception as error:  # malformed YAML: the block is still front matter, not text
        log.info("front matter that cannot be read (%s) is left out", error)
        _, body = frontmatter.YAMLHandler().split(text) if frontmatter.YAMLHandler().detect(text) else ("", text)
        return {}, body
    metadata = post.metadata if isinstance(post.metadata, dict) else {}
    return metadata, post.content


class _MarkdownText:
    """Walks markdown-it's tokens, keeping the heading path and the open lists and table."""

    def __init__(self) -> None:
        self.outline = Outline()
        self.lists: list[list[int]] = []  # per open list: [next number, or -1 for bullets]
        self.item_lines: list[str] = []
        self.fresh_item = False
        self.rows: list[list[str]] | None = None
        self.heading_level = 0

    def sections(self, body: str) -> list[Section]:
        from markdown_it import MarkdownIt

        for token in MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(body):
            self._visit(token)
        self._end_list()
        return self.outline.sections()

    def _visit(self, token: Token) -> None:
        kind = token.type
        if kind == "heading_open":
            self.heading_level = int(token.tag[1:])
        elif kind in ("bullet_list_open", "ordered_list_open"):
            start = int(token.attrGet("start") or 1) if kind == "ordered_list_open" else -1
            self.lists.append([start])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
            if not self.lists:
                self._end_list()
        elif kind == "list_item_open":
            self.fresh_item = True
        elif kind == "table_open":
            self.rows = []
        elif kind == "tr_open" and self.rows is not None:
            self.rows.append([])
        elif kind == "table_close" and self.rows is not None:
            self.outline.add(table_text(self.rows))
            self.rows = None
        elif kind == "inline":
            self._text(_inline_text(token))
        elif kind in ("fence", "code_block"):
            self._text(token.content.strip("\n"))
        elif kind == "html_block":
            self._text(_html_text(token.content))

    def _text(self, text: str) -> None:
        if self.heading_level:
            self._end_list()
            self.outline.heading(self.heading_level, text)
            self.heading_level = 0
        elif self.rows is not None:
            self.rows[-1].append(text)
        elif self.lists:
            self._item_line(text)
        else:
            self.outline.add(text)

    def _item_line(self, text: str) -> None:
        indent = "  " * (len(self.lists) - 1)
        if not self.fresh_item:
            self.item_lines.append(indent + "  " + text)
            return
        current = self.lists[-1]
        marker = "-" if current[0] < 0 else f"{current[0]}."
        if current[0] >= 0:
            current[0] += 1
        self.item_lines.append(f"{indent}{marker} {text}")
        self.fresh_item = False

    def _end_list(self) -> None:
        if self.item_lines:
            self.outline.add("\n".join(self.item_lines))
            self.item_lines = []


def _inline_text(token: Token) -> str:
    """The words of an inline token: text and code as they are, line breaks kept, markup left out."""
    parts: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)  # its alt text
        elif child.type == "html_inline" and child.content.lower().startswith("<br"):
            parts.append("\n")
    return "".join(parts).strip()


def _html_text(markup: str) -> str:
    from bs4 import BeautifulSoup

    return BeautifulSoup(markup, "lxml").get_text(" ").strip()
