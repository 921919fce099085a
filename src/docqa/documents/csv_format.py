"""CSV files, read with the standard library's csv: each row a paragraph, cited as ``row N``.

The delimiter is sniffed from the first lines (comma, semicolon, tab or bar). When the first row
names the columns, each later row reads ``name: value · name: value``, so that a row still says
what each value is, and is cited by its number among the data rows (the header not counted).
"""

from __future__ import annotations

import csv
import io

from docqa.documents.common import Parsed, Section, UnreadableFile, parsed
from docqa.documents.reasons import plain_reason
from docqa.documents.tables import table_rows
from docqa.documents.text_format import decoded

_SAMPLE_CHARS = 16_384
_DELIMITERS = ",;\t|"


def parse_csv(data: bytes) -> Parsed:
    """The text, title (the first line) and date (a marker) of a CSV file."""
    text = decoded(data)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:_SAMPLE_CHARS], _DELIMITERS)
    except csv.Error:  # one column, or no clear delimiter: read as commas
        dialect = csv.excel
    try:
        rows = table_rows(csv.reader(io.StringIO(text, newline=""), dialect), sheet=True)
    except csv.Error as error:
        raise UnreadableFile(f"damaged CSV: {plain_reason(error)}") from error
    header = next((row.number for row in rows if row.kind == "header"), 0)
    sections: list[Section] = [(f"row {row.number - header}" if row.number > header else "", row.text) for row in rows]
    return parsed(sections)
