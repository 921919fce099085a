"""Tables of every format as records: each row one paragraph that carries its header, cited to its
row where the format numbers rows (CSV, sheets), each file built here by its own library."""

from __future__ import annotations

import datetime
import io
from pathlib import Path

import pytest

from docqa.chunking import chunk_document, sentence_spans
from docqa.documents import load_document
from docqa.documents.cell_format import cell_text
from docqa.documents.tables import table_rows, table_text
from docqa.schema import Document

for _library in ("docx", "pptx", "openpyxl", "odf"):
    pytest.importorskip(_library, reason="the formats extra is not installed: pip install -e '.[formats]'")

RECORD = "Band: 5 to 9 years \u00b7 Days: 28"


def load(tmp_path: Path, name: str, content: bytes) -> Document:
    path = tmp_path / name
    path.write_bytes(content)
    return load_document(path, tmp_path)


def label_at(document: Document, phrase: str) -> str:
    """The location in force where ``phrase`` starts."""
    start = document.text.index(phrase)
    return [label for offset, label in document.locations if offset <= start][-1]


def saved(document: object) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)  # type: ignore[attr-defined]
    return buffer.getvalue()


# ----- the records themselves ----------------------------------------------------------------


def test_a_row_under_a_header_names_each_value_and_is_a_paragraph_of_its_own() -> None:
    text = table_text([["Band", "Days"], ["Under 5 years", 25], ["5 to 9 years", "28"], ["", ""]])
    assert text.split("\n\n") == ["Band \u00b7 Days", "Band: Under 5 years \u00b7 Days: 25", RECORD]


def test_header_rows_the_file_marks_are_joined_per_column() -> None:
    rows = [["", "Q2", "Q2"], ["Region", "2024", "2023"], ["North", "£1.48m", "£1.41m"]]
    assert (
        table_text(rows, header_rows=2).split("\n\n")[1]
        == "Region: North \u00b7 Q2 2024: £1.48m \u00b7 Q2 2023: £1.41m"
    )


def test_a_sheet_finds_its_header_below_its_title_and_keeps_notes_as_text() -> None:
    rows = [
        ["Price list 2024"],
        [],
        ["Tier", "Discount"],
        ["Gold", "6%"],
        ["Tiers are reviewed each January."],
    ]
    found = [(row.number, row.kind, row.text) for row in table_rows(rows, sheet=True)]
    assert found == [
        (1, "text", "Price list 2024"),
        (3, "header", "Tier \u00b7 Discount"),
        (4, "record", "Tier: Gold \u00b7 Discount: 6%"),
        (5, "text", "Tiers are reviewed each January."),
    ]


def test_a_sheet_header_with_an_empty_cell_still_names_the_other_columns() -> None:
    rows = table_rows([["Region", "Q2 2024", "", "Q2 2023"], ["North", "£1.48m", "+5%", "£1.41m"]], sheet=True)
    assert rows[1].text == "Region: North \u00b7 Q2 2024: £1.48m \u00b7 +5% \u00b7 Q2 2023: £1.41m"


def test_a_sheet_whose_first_row_holds_numbers_has_no_header() -> None:
    rows = table_rows([["Width", "12"], ["Height", "30"]], sheet=True)
    assert [(row.kind, row.text) for row in rows] == [("text", "Width \u00b7 12"), ("text", "Height \u00b7 30")]


def test_cells_read_as_the_sheet_shows_them() -> None:
    assert cell_text(629.4, '"£"#,##0.00') == "£629.40"
    assert cell_text(1249, '"£"#,##0.00') == "£1,249.00"
    assert cell_text(0.04, "0%") == "4%"
    assert cell_text(0.125, "0.0%") == "12.5%"
    assert cell_text(datetime.datetime(2024, 8, 12), "d mmm yyyy") == "12 Aug 2024"
    assert cell_text(datetime.datetime(2024, 6, 28), "dd/mm/yyyy") == "28/06/2024"
    assert cell_text(datetime.datetime(2024, 6, 28, 14, 5), "yyyy-mm-dd h:mm AM/PM") == "2024-06-28 2:05 PM"
    assert cell_text(-1234.5, "#,##0.00;(#,##0.00)") == "(1,234.50)"
    assert cell_text(0, '#,##0;-#,##0;"-"') == "-"
    assert cell_text(1234.5, "[$€-407]#,##0.00") == "€1,234.50"
    assert cell_text(3.14159, "0.0#") == "3.14"
    assert cell_text(12345.678, "0.00E+00") == "1.23E+04"
    assert cell_text(0.1 + 0.2, "General") == "0.3"
    assert cell_text(7, "000") == "007"
    assert cell_text(None, "0%") == ""


# ----- each format ---------------------------------------------------------------------------


def test_csv_rows_are_cited_by_their_number_below_the_header(tmp_path: Path) -> None:
    document = load(tmp_path, "leave.csv", b"Band,Days\nUnder 5 years,25\n5 to 9 years,28\n")
    assert document.text.split("\n\n") == ["Band \u00b7 Days", "Band: Under 5 years \u00b7 Days: 25", RECORD]
    assert label_at(document, RECORD) == "row 2"
    assert label_at(document, "Band: Under") == "row 1"


def test_sheet_rows_are_cited_by_sheet_and_row_with_values_as_shown(tmp_path: Path) -> None:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Prices"
    sheet.append(["Price list 2024"])
    sheet.append([])
    sheet.append(["Model", "Dealer price", "Discount", "Launch"])
    sheet.append(["Fell Tourer", 629.4, 0.04, datetime.datetime(2024, 8, 12)])
    sheet["B4"].number_format = '"£"#,##0.00'
    sheet["C4"].number_format = "0%"
    sheet["D4"].number_format = "d mmm yyyy"
    document = load(tmp_path, "prices.xlsx", saved(workbook))
    record = "Model: Fell Tourer \u00b7 Dealer price: £629.40 \u00b7 Discount: 4% \u00b7 Launch: 12 Aug 2024"
    assert document.text.split("\n\n") == [
        "Price list 2024",
        "Model \u00b7 Dealer price \u00b7 Discount \u00b7 Launch",
        record,
    ]
    assert label_at(document, record) == "sheet Prices, row 4"
    assert label_at(document, "Price list") == "sheet Prices, row 1"


def test_word_table_rows_carry_the_header_rows_it_marks(tmp_path: Path) -> None:
    import docx
    from docx.oxml import OxmlElement

    document = docx.Document()
    document.add_heading("Annual leave", level=1)
    table = document.add_table(rows=3, cols=2)
    for row, cells in zip(table.rows, [["Band", "Days"], ["Service", "Leave"], ["5 to 9 years", "28"]], strict=True):
        for cell, text in zip(row.cells, cells, strict=True):
            cell.text = text
    for row in table.rows[:2]:
        row._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))
    parsed = load(tmp_path, "leave.docx", saved(document))
    assert parsed.text.split("\n\n")[1:] == [
        "Band Service \u00b7 Days Leave",
        "Band Service: 5 to 9 years \u00b7 Days Leave: 28",
    ]
    assert label_at(parsed, "Band Service: 5") == "Annual leave"
    unmarked = docx.Document()
    table = unmarked.add_table(rows=2, cols=2)
    for row, cells in zip(table.rows, [["Band", "Days"], ["5 to 9 years", "28"]], strict=True):
        for cell, text in zip(row.cells, cells, strict=True):
            cell.text = text
    assert load(tmp_path, "plain.docx", saved(unmarked)).text.split("\n\n")[-1] == RECORD


def test_slide_table_rows_are_records_on_their_slide(tmp_path: Path) -> None:
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    deck.slides.add_slide(deck.slide_layouts[5]).shapes.title.text = "Welcome"
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Leave"
    table = slide.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for row, cells in zip(table.rows, [["Band", "Days"], ["Under 5 years", "25"], ["5 to 9 years", "28"]], strict=True):
        for cell, text in zip(row.cells, cells, strict=True):
            cell.text = text
    document = load(tmp_path, "leave.pptx", saved(deck))
    assert f"\n\n{RECORD}" in document.text
    assert label_at(document, RECORD) == "slide 2"


def test_odt_table_rows_are_records_under_the_header_rows(tmp_path: Path) -> None:
    from odf import table, text
    from odf.opendocument import OpenDocumentText

    document = OpenDocumentText()
    document.text.addElement(text.H(outlinelevel=1, text="Leave"))
    grid = table.Table(name="Bands")
    header = table.TableHeaderRows()
    grid.addElement(header)
    for rows, target in (([["Band", "Days"]], header), ([["Under 5 years", "25"], ["5 to 9 years", "28"]], grid)):
        for cells in rows:
            row = table.TableRow()
            for value in cells:
                cell = table.TableCell()
                cell.addElement(text.P(text=value))
                row.addElement(cell)
            target.addElement(row)
    document.text.addElement(grid)
    buffer = io.BytesIO()
    document.write(buffer)
    parsed = load(tmp_path, "leave.odt", buffer.getvalue())
    assert parsed.text.split("\n\n") == ["Leave", "Band \u00b7 Days", "Band: Under 5 years \u00b7 Days: 25", RECORD]
    assert label_at(parsed, RECORD) == "Leave"


def test_markdown_and_html_table_rows_are_records(tmp_path: Path) -> None:
    markdown = "# Leave\n\n| Band | Days |\n|---|---|\n| Under 5 years | 25 |\n| 5 to 9 years | 28 |\n"
    parsed = load(tmp_path, "leave.md", markdown.encode())
    assert parsed.text.endswith(f"\n\nBand: Under 5 years \u00b7 Days: 25\n\n{RECORD}")
    rows = "".join(
        f"<tr><td>{band}</td><td>{days}</td></tr>" for band, days in [("Under 5 years", 25), ("5 to 9 years", 28)]
    )
    page = f"<html><body><h1>Leave</h1><table><tr><th>Band</th><th>Days</th></tr>{rows}</table></body></html>"
    parsed = load(tmp_path, "leave.html", page.encode())
    assert f"\n\n{RECORD}" in parsed.text
    assert label_at(parsed, RECORD) == "Leave"


def test_a_passage_never_holds_part_of_a_row(tmp_path: Path) -> None:
    lines = ["Dealer,Town,Notes"] + [
        f"Thames Cycle Co. {n},Kingston upon Thames,Opened in 2018. Sells e-bikes. Shut on day {n}." for n in range(40)
    ]
    document = load(tmp_path, "dealers.csv", "\n".join(lines).encode())
    rows = document.text.split("\n\n")[1:]
    for chunk in chunk_document(document, max_tokens=60, overlap_sentences=1):
        for row in rows:
            if row in chunk.text:
                continue
            assert not any(part and part in chunk.text for part in (row[:30], row[-30:])), (row, chunk.text)


def test_a_paragraph_that_fits_a_passage_is_never_split_between_two() -> None:
    row = "Dealer: Thames Cycle Co. · Notes: Opened in 2018. Sells e-bikes and hires them out by the day."
    text = f"Dealers\n\n{row}\n\nDealer: Downs Cycles · Notes: Opened in 2014."
    doc = Document(source="dealers.csv", text=text, title="", content_hash="x", date=None)
    chunks = chunk_document(doc, max_tokens=25, overlap_sentences=1)  # the row is 25 tokens
    assert [chunk.text for chunk in chunks] == ["Dealers", row, "Dealer: Downs Cycles · Notes: Opened in 2014."]


def test_a_row_is_one_sentence_for_the_reader_and_the_citation() -> None:
    row = "Dealer: Thames Cycle Co. \u00b7 Notes: Opened in 2018. Sells e-bikes."
    text = f"Dealers. They are listed here.\n\n{row}\n\nThe end."
    assert [text[start:end] for start, end in sentence_spans(text)] == [
        "Dealers.",
        "They are listed here.",
        row,
        "The end.",
    ]


def test_a_passage_never_ends_with_a_heading() -> None:
    body = "Employees who work on a bank holiday are paid at time and a half and get a day off in lieu."
    text = f"Overtime on weekdays is paid at time and a quarter.\n\nWorking on a bank holiday\n\n{body}"
    doc = Document(source="guide.docx", text=text, title="", content_hash="x", date=None)
    chunks = chunk_document(doc, max_tokens=30, overlap_sentences=1)
    assert [chunk.text for chunk in chunks] == [
        "Overtime on weekdays is paid at time and a quarter.",
        f"Working on a bank holiday\n\n{body}",
    ]
