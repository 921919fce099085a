"""CSV files, read with the standard library's csv: rows as lines of text.

The delimiter is sniffed from the first lines (comma, semicolon, tab or bar). When the first row
names every column, each later row reads ``name: value; name: value``, so a passage of rows still
says what each value is.
"""

from __future__ import annotations

import csv
import io

from docqa.documents.common import Parsed, UnreadableFile, parsed, table_text
from docqa.documents.reasons import plain_reason
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
        rows = table_text(csv.reader(io.StringIO(text, newline=""), dialect))
    except csv.Error as error:
        raise UnreadableFile(f"damaged CSV: {plain_reason(error)}") from error
    return parsed([("", rows)])
