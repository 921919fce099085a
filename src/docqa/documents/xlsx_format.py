"""Excel workbooks (.xlsx), read with openpyxl: each row a paragraph, cited as ``sheet NAME, row N``.

Cells read as the sheet shows them, by their number formats (``£629.40``, ``4%``, ``12 Aug 2024``;
a formula as the value it last computed). Under a sheet's header (its first row of names, below
any title rows), each row reads ``name: value · name: value``; N is the sheet's own row number.
The workbook is streamed (read-only mode), and its text held to the budget as it comes; every row stored is
read, also past the size a sheet records of itself.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from typing import Any

from docqa.documents.cell_format import cell_text
from docqa.documents.common import Parsed, Section, UnreadableFile, checked_zip, needs, parsed
from docqa.documents.reasons import plain_reason
from docqa.documents.tables import table_rows


def parse_xlsx(data: bytes) -> Parsed:
    """The text, title (the workbook's own, else its first line) and sheet locations of a workbook."""
    openpyxl = needs("openpyxl", "openpyxl", ".xlsx")
    archive = checked_zip(data, "Excel workbook")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns of styles and extensions it does not read
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sections: list[Section] = [
                (f"sheet {sheet.title}, row {row.number}", row.text)
                for sheet in workbook.worksheets
                for row in table_rows(_all_rows(sheet), sheet=True)
            ]
            title = workbook.properties.title or ""
        finally:
            workbook.close()
    except UnreadableFile:
        raise
    except Exception as error:  # openpyxl raises many kinds of errors on damaged files
        raise UnreadableFile(f"damaged Excel workbook: {plain_reason(error, archive)}") from error
    return parsed(sections, title=title)


def _all_rows(sheet: Any) -> Iterator[list[str]]:
    """Every row of ``sheet`` that is there, whatever its recorded size says, from row 1, its cells
    as shown.

    A sheet's ``<dimension ref="A1:B2"/>`` is written by the program that saved it, and some leave
    it smaller than the sheet; read-only openpyxl would stop there, so it is forgotten first.
    """
    if hasattr(sheet, "reset_dimensions"):
        sheet.reset_dimensions()
    for row in sheet.iter_rows():
        yield [cell_text(cell.value, cell.number_format) for cell in row]
