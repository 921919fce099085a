"""Tables as records: each row one line of text that carries its column names.

A row under a header reads ``Band: 5 to 9 years · Days: 28``, so that the row says what each value
is wherever it ends up (a passage, a citation); the header itself reads ``Band · Days``. Every row
is a paragraph of its own, so that no passage ever holds half a row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal, NamedTuple

from docqa.documents.common import UnreadableFile
from docqa.documents.limits import MAX_TEXT_CHARS
from docqa.text import CELL_SEPARATOR

ROW_SEPARATOR = "\n\n"
# A row with a single filled cell of at least this many words is a note or a title, not a record.
_NOTE_WORDS = 4
_NUMBER = re.compile(r"[-+\u2212]?[$£€¥]?\d[\d,. ]*%?")

RowKind = Literal["header", "record", "text"]


class TableRow(NamedTuple):
    """A row's place in its table (from 1, empty rows counted), its kind and its text."""

    number: int
    kind: RowKind
    text: str


def table_text(rows: Iterable[Sequence[object]], *, header_rows: int | None = None) -> str:
    """The rows of a table (Word, slides, Markdown, HTML, PDF) as records, one paragraph each.

    ``header_rows`` leading rows are the header where the file marks them; otherwise the header is
    the first row of at least two filled cells (a row of one cell above it is the table's title).
    """
    return ROW_SEPARATOR.join(row.text for row in table_rows(rows, header_rows=header_rows))


def table_rows(
    rows: Iterable[Sequence[object]], *, header_rows: int | None = None, sheet: bool = False
) -> list[TableRow]:
    """The non-empty rows of a table as records under its header.

    With ``sheet`` (a spreadsheet, a CSV file) the header is the first row of at least two filled
    cells, all of them names rather than numbers; rows above it are text (a sheet's title). A row
    whose only filled cell holds a sentence is text too (a note).
    """
    cells = [[_cell_text(cell) for cell in row] for row in rows]
    for row in cells:
        while row and not row[-1]:
            row.pop()
    if header_rows is not None:
        first, last = (0, header_rows) if header_rows > 0 else (-1, -1)
    else:
        first = _header_index(cells, sheet=sheet)
        last = first + 1 if first >= 0 else -1
    names = _column_names(cells[first:last]) if first >= 0 else []
    lines: list[TableRow] = []
    length = 0
    for index, row in enumerate(cells):
        filled = [cell for cell in row if cell]
        if not filled:
            continue
        if first <= index < last:
            if index == first:
                lines.append(TableRow(index + 1, "header", CELL_SEPARATOR.join(name for name in names if name)))
            continue
        if index < first or not names or (len(filled) == 1 and len(filled[0].split()) >= _NOTE_WORDS):
            lines.append(TableRow(index + 1, "text", CELL_SEPARATOR.join(filled)))
        else:
            lines.append(TableRow(index + 1, "record", _record(names, row)))
        length += len(lines[-1].text) + len(ROW_SEPARATOR)
        if length > MAX_TEXT_CHARS:
            raise UnreadableFile(f"its text is longer than {MAX_TEXT_CHARS:,} characters")
    return lines


def _cell_text(cell: object) -> str:
    return " ".join(str(cell).split()) if cell is not None else ""


def _header_index(rows: list[list[str]], *, sheet: bool) -> int:
    """The index of the header row, or -1 where the table has none."""
    for index, row in enumerate(rows):
        filled = [cell for cell in row if cell]
        if len(filled) < 2:  # empty, or a title above the table
            continue
        if not sheet:
            return index
        # A sheet's first row of values before any row of names: it has no header.
        return -1 if any(_NUMBER.fullmatch(cell) for cell in filled) else index
    return -1


def _column_names(header: list[list[str]]) -> list[str]:
    """Each column's name: the texts of the header rows above it, a repeated (merged) one once."""
    width = max((len(row) for row in header), default=0)
    names: list[str] = []
    for column in range(width):
        parts: list[str] = []
        for row in header:
            cell = row[column] if column < len(row) else ""
            if cell and cell not in parts:
                parts.append(cell)
        names.append(" ".join(parts))
    return names


def _record(names: list[str], row: list[str]) -> str:
    """``row``'s filled cells, each after its column's name where the column has one."""
    cells = []
    for column, cell in enumerate(row):
        if not cell:
            continue
        name = names[column] if column < len(names) else ""
        cells.append(f"{name}: {cell}" if name and name != cell else cell)
    return CELL_SEPARATOR.join(cells)
