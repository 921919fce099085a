"""A PDF's lines of text, page by page (as pypdf's layout mode places them), made into paragraphs.

- Running headers and footers, the lines among the first or last three of at least half the pages
  (two or more) that read the same there (the very top and bottom lines also where only their
  numbers differ), are left out, and so are bare page numbers ("Page 2 of 3", "- 4 -") at the top
  or bottom of a page.
- A line that ends short of the text's right margin ends its paragraph (headings, the last line of
  a paragraph), unless it stops mid-sentence and the next line goes on in lower case; a full line
  runs on into the next, joined by a space, so that no sentence holds a line break.
- A word broken by a hyphen at the end of a line is joined again unless the document itself says
  the hyphen belongs to it. Hyphenation leaves a fragment before the hyphen ("possi-", "produc-"),
  where a compound's first part is a word ("higher-value"): so the hyphen stays where the document
  holds the hyphenated word, or the part before the hyphen as a word of its own, and does not hold
  the joined word.
- Lines whose cells stand apart in columns (three spaces or more between them) are a table: each
  row becomes a record under the first row (its header), a cell wrapped over several lines joined.
  Cells of five words or more on average are running text set in columns instead, not a table; a
  page set so is read in the order of its text (``in_columns_of_prose``), not across.
- A sentence left unfinished at the foot of a page (its last line reaching the margin) goes on with
  the text at the top of the next, in one paragraph; that sentence is located on both pages
  ("pages 2-3"), the rest of the paragraph on its own page.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

from docqa.documents.common import Section
from docqa.documents.tables import table_text

# Lines within this many of a page's first or last lines may be running headers or footers.
_EDGE_LINES = 3
_CELL_GAP = re.compile(r" {3,}")
_CELL = re.compile(r"\S+(?: {1,2}\S+)*")  # a cell's text: words fewer than three spaces apart
_SPACES = re.compile(r"\s+")
_PAGE_NUMBER = re.compile(r"(?:page\s*)?[-\u2013\u2014]?\s*\d+\s*[-\u2013\u2014]?(?:\s*(?:of|/)\s*\d+)?", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")
_AMOUNT = re.compile(r"[$\u00a3\u20ac\u00a5]\s?\d|\d[.,]\d")  # a sum of money or a decimal: a value, no heading
_WORD = re.compile(r"[^\W\d_]+")
_BROKEN_WORD = re.compile(r"([^\W\d_]+)-$")
_FIRST_WORD = re.compile(r"([^\W\d_]+)")
_SENTENCE_END = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*(?=\s|$)")
_LIST_ITEM = re.compile(r"(?:[-\u2022\u2023\u25e6\u2043\u2219*]|\(?[0-9]{1,2}[.)]|\(?[a-z][.)])\s")
# A page most of whose lines are in columns, of this many words a cell on average, is running text.
_COLUMN_SHARE = 0.6
_PROSE_WORDS = 5
# A line this much shorter than the text's usual full line ends short of the right margin.
_SHORT_LINE = 0.8


class _Block(NamedTuple):
    """A paragraph of a page; ``open_end`` when its last line runs on to the margin."""

    text: str
    prose: bool
    open_end: bool


def pdf_sections(pages: Sequence[str], labels: Sequence[str]) -> tuple[list[Section], set[int]]:
    """The sections of a PDF whose pages hold ``pages`` (text in layout), labelled ``page LABEL`` or
    ``pages A-B``, and the indices of the sections that go on the paragraph before them."""
    lines = _without_running_lines([page.split("\n") for page in pages])
    words = _vocabulary(lines)
    prose = [line.strip() for page in lines for line in page if line.strip() and not _is_columnar(line)]
    width = _full_width([len(_SPACES.sub(" ", line)) for line in prose])
    blocks = [_page_blocks(page, width, words) for page in lines]
    sections: list[Section] = []
    joined: set[int] = set()
    carried = ""  # the unfinished sentence that ends the page before, and its paragraph
    for index, page in enumerate(blocks):
        label = f"page {labels[index]}"
        if carried and page and page[0].prose:
            first, rest = _first_sentence(page[0].text)
            sections.append((f"pages {labels[index - 1]}-{labels[index]}", _joined_words(carried, first, words)))
            if rest:
                joined.add(len(sections))
                sections.append((label, rest))
            page = page[1:]
        elif carried:
            sections.append((f"page {labels[index - 1]}", carried))
        carried = ""
        for number, block in enumerate(page):
            if number == len(page) - 1 and block.prose and block.open_end and index + 1 < len(blocks):
                kept, carried = _last_sentence(block.text)
                if kept:
                    sections.append((label, kept))
                if kept and carried:
                    joined.add(len(sections))  # the sentence that crosses the page goes on this paragraph
                break
            sections.append((label, block.text))
    if carried:
        sections.append((f"page {labels[-1]}", carried))
    return sections, joined


def _without_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """``pages`` without their running headers and footers, and without bare page numbers at the top or
    bottom. A running line stands among the first or last lines of at least half the pages (two at
    least); the top and bottom lines count as the same where only their numbers differ ("Page 2")."""

    def edges(page: list[str], count: int) -> set[int]:
        filled = [index for index, line in enumerate(page) if line.strip()]
        return set(filled[:count] + filled[-count:])

    def key(line: str) -> str:
        return " ".join(line.split()).lower()

    exact = Counter(found for page in pages for found in {key(page[index]) for index in edges(page, _EDGE_LINES)})
    numbered = Counter(
        found for page in pages for found in {_DIGITS.sub("#", key(page[index])) for index in edges(page, 1)}
    )
    needed = max(2, (len(pages) + 1) // 2)
    kept: list[list[str]] = []
    for page in pages:
        outer = edges(page, 1)
        dropped = {
            index
            for index in edges(page, _EDGE_LINES)
            if exact[key(page[index])] >= needed
            or (index in outer and numbered[_DIGITS.sub("#", key(page[index]))] >= needed)
            or _PAGE_NUMBER.fullmatch(page[index].strip())
        }
        kept.append([line for index, line in enumerate(page) if index not in dropped])
    return kept


def _vocabulary(pages: list[list[str]]) -> Counter[str]:
    """How often each word occurs in the document, in lower case, not counting the halves of words
    broken at the end of a line; hyphenated words count whole too ("higher-value")."""
    words: Counter[str] = Counter()
    lines = [line for page in pages for line in page if line.strip()]
    for index, line in enumerate(lines):
        text = line.strip()
        broken = _broken_word(text)
        if broken:
            text = text[: broken.start()]
        if index > 0 and _broken_word(lines[index - 1].strip()):
            text = _FIRST_WORD.sub("", text, count=1)
        lowered = text.lower()
        words.update(_WORD.findall(lowered))
        words.update(re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)+", lowered))
    return words


def _full_width(lengths: list[int]) -> int:
    """The length of a full line of prose: the longest but for a few stray ones."""
    if not lengths:
        return 0
    ordered = sorted(lengths)
    return ordered[round(0.9 * (len(ordered) - 1))]


def in_columns_of_prose(laid_out: str) -> bool:
    """Whether a page laid out as ``laid_out`` is set in columns of running text (most lines hold
    two cells or more, of several words each on average), which layout mode reads across."""
    lines = [line for line in laid_out.split("\n") if line.strip()]
    cells = [cell for line in lines if _is_columnar(line) for cell in _CELL_GAP.split(line.strip()) if cell]
    columnar = sum(1 for line in lines if _is_columnar(line))
    return columnar >= _COLUMN_SHARE * len(lines) > 0 and sum(
        len(cell.split()) for cell in cells
    ) >= _PROSE_WORDS * len(cells)


def _is_columnar(line: str) -> bool:
    return len([cell for cell in _CELL_GAP.split(line.strip()) if cell]) > 1


def _page_blocks(lines: list[str], width: int, words: Counter[str]) -> list[_Block]:
    """The paragraphs and table rows of one page."""
    blocks: list[_Block] = []
    current: list[str] = []
    position = 0

    def end_paragraph() -> None:
        if current:
            parts = []
            for before, line in itertools.pairwise(current):
                joined = _joined_words(before, line, words)  # ends with ``line``, whatever came before it
                parts.append(joined[: len(joined) - len(line)])
            parts.append(current[-1])
            blocks.append(_Block("".join(parts), True, len(current[-1]) >= _SHORT_LINE * width))
            current.clear()

    while position < len(lines):
        table, after = _table_at(lines, position)
        if table:
            end_paragraph()
            blocks.extend(_Block(row, False, False) for row in table_text(table).split("\n\n"))
            position = after
            continue
        line = _SPACES.sub(" ", lines[position]).strip()
        position += 1
        if not line:
            end_paragraph()
            continue
        if current and (
            _LIST_ITEM.match(line) or (_is_label(line, width) and _SENTENCE_END.search(current[-1][-3:] + " "))
        ):
            end_paragraph()
        current.append(line)
        following = _next_line(lines, position)
        if _ends_paragraph(line, following, width):
            end_paragraph()
    end_paragraph()
    return blocks


def _is_label(line: str, width: int) -> bool:
    """Whether ``line`` reads as a heading or label: short, starting with a capital or a number, and
    ending in no punctuation."""
    return len(line) < _SHORT_LINE * width and (line[:1].isupper() or line[:1].isdigit()) and line[-1:].isalnum()


def _next_line(lines: list[str], position: int) -> str:
    return _SPACES.sub(" ", lines[position]).strip() if position < len(lines) else ""


def _ends_paragraph(line: str, following: str, width: int) -> bool:
    """Whether ``line`` ends its paragraph: it stops short of the margin, or ends in a number before a
    line that starts with a capital or a number (a row of a table that no columns show, as OCR
    gives it); but never where it stops mid-sentence before a line that goes on in lower case."""
    if following[:1].islower() and not _SENTENCE_END.search(line[-3:] + " "):
        return False
    return len(line) < _SHORT_LINE * width or (line[-1:].isdigit() and not following[:1].islower())


def _table_at(lines: list[str], start: int) -> tuple[list[list[str]], int]:
    """The rows of the table that starts at ``lines[start]`` (none where no table does), and the
    index of the line after it. A table is two rows or more of cells standing in columns; a line
    whose first column is empty continues the row above it (right under it, not after a gap). A
    first line of labels with their values ("Invoice date:   14/05/2024", "Total   £8,130.00") is no
    table's header."""
    if not _is_columnar(lines[start]):
        return [], start
    columns = [(match.start(), match.end()) for match in _CELL.finditer(lines[start])]
    if any(text.endswith(":") or _AMOUNT.search(text) for text in _CELL.findall(lines[start])):
        return [], start  # labels beside their values ("Invoice date:   14/05/2024", "Total   £8,130.00")
    rows: list[list[str]] = []
    position = start
    gap = False
    while position < len(lines):
        line = lines[position]
        if not line.strip():
            position, gap = position + 1, True
            continue
        cells = _cells(line, columns)
        if cells is None:
            break
        if cells[0] or not rows:
            if not _is_columnar(line):
                break
            rows.append(cells)
        elif gap:
            break  # a wrapped cell runs on in the next line; after a gap, lines are totals or notes
        else:
            rows[-1] = [" ".join(part for part in pair if part) for pair in zip(rows[-1], cells, strict=True)]
        position, gap = position + 1, False
    cells = [cell for row in rows for cell in row if cell]
    if len(rows) < 2 or sum(len(cell.split()) for cell in cells) >= _PROSE_WORDS * len(cells):
        return [], start  # not a table: too few rows, or running text in columns
    while position > start and not lines[position - 1].strip():
        position -= 1
    return rows, position


def _cells(line: str, columns: list[tuple[int, int]]) -> list[str] | None:
    """``line``'s cells put under ``columns`` (the start and end of each heading), or None when a
    cell stands under no column (the line is not part of the table)."""
    cells = [""] * len(columns)
    for match in _CELL.finditer(line):
        column = _column_of(match.start(), match.end(), columns)
        if column is None:
            return None
        cells[column] = f"{cells[column]} {match.group()}".strip()
    return cells


def _column_of(start: int, end: int, columns: list[tuple[int, int]]) -> int | None:
    """The column whose text starts at ``start``, within two characters either side, else the one
    whose heading ends where it ends (an amount aligned right under its heading)."""
    for index, (first, _) in enumerate(columns):
        if abs(start - first) <= 2:
            return index
    for index, (_, last) in enumerate(columns):
        if abs(end - last) <= 2:
            return index
    return None


def _joined_words(text: str, line: str, words: Counter[str]) -> str:
    """``text`` and the ``line`` after it as one run of text, a word broken over the two joined
    where the document says it is one word."""
    broken = _broken_word(text)
    following = _FIRST_WORD.match(line)
    if broken is None or following is None or not following.group(1)[:1].islower():
        return f"{text} {line}"
    head, tail = broken.group(1).lower(), following.group(1).lower()
    if words[head + tail] or not (words[f"{head}-{tail}"] or words[head]):
        return text[:-1] + line
    return text + line


def _broken_word(text: str) -> re.Match[str] | None:
    """The word broken by a hyphen at the end of ``text``, if any."""
    return _BROKEN_WORD.search(text, max(0, len(text) - 100)) if text.endswith("-") else None


def _last_sentence(text: str) -> tuple[str, str]:
    """``text`` before its last sentence, and that sentence where it is unfinished ("" where the text
    ends with a whole sentence)."""
    ends = [match.end() for match in _SENTENCE_END.finditer(text)]
    if ends and ends[-1] >= len(text.rstrip()):
        return text.strip(), ""
    cut = ends[-1] if ends else 0
    return text[:cut].strip(), text[cut:].strip()


def _first_sentence(text: str) -> tuple[str, str]:
    """``text``'s first sentence, and the rest."""
    end = _SENTENCE_END.search(text)
    if end is None:
        return text, ""
    return text[: end.end()].strip(), text[end.end() :].strip()
