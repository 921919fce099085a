"""Excel workbooks (.xlsx), read with openpyxl: each sheet as rows of text, one sheet a location.

Cells are read as their stored values (a formula as the value it last computed). When a sheet's
first row names every column, each later row reads ``name: value; name: value``. The workbook is
streamed (read-only mode), and its text held to the budget as it comes; every row stored is
read, also past the size a sheet records of itself.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from typing import Any

from docqa.documents.common import Parsed, Section, UnreadableFile, checked_zip, needs, parsed, table_text
from docqa.documents.reasons import plain_reason


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
                (f"sheet {sheet.title}", table_text(_all_rows(sheet))) for sheet in workbook.worksheets
            ]
            title = workbook.properties.title or ""
        finally:
            workbook.close()
    except UnreadableFile:
        raise
    except Exception as error:  # openpyxl raises many kinds of errors on damaged files
        raise UnreadableFile(f"damaged Excel workbook: {plain_reason(error, archive)}") from error
    return parsed(sections, title=title)


def _all_rows(sheet: Any) -> Iterator[tuple[object, ...]]:
    """Every row of ``sheet`` that is there, whatever its recorded size says.

    A sheet's ``<dimension ref="A1:B2"/>`` is written by the program that saved it, and some leave
    it smaller than the sheet; read-only openpyxl would stop there, so it is forgotten first.
    """
    if hasattr(sheet, "reset_dimensions"):
        sheet.reset_dimensions()
    return sheet.iter_rows(values_only=True)
