"""PDF text as paragraphs: lines joined within sentences, hyphenation undone where the document says
so, running headers, footers and page numbers left out, tables as records, and a paragraph over a
page break kept whole with its crossing sentence on both pages. The PDFs are written here, their
text placed where a typesetter would put it, and read back through pypdf."""

from __future__ import annotations

from pathlib import Path

from pdfs import pdf_file

from docqa.documents import load_document
from docqa.documents.pdf_text import pdf_sections
from docqa.schema import Document

WIDE = 86  # characters of a full line of the test pages


def placed_pdf(pages: list[list[tuple[float, float, str]]]) -> bytes:
    """A PDF whose pages show each (x, y, text) in 10 pt Courier: monospaced, so that columns stand
    where the characters say."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>"]
    kids = []
    for items in pages:
        shown = " ".join(f"BT /F1 10 Tf {x:.1f} {y:.1f} Td ({_escaped(text)}) Tj ET" for x, y, text in items)
        content = shown.encode("latin-1")
        page_id = len(objects) + 1
        kids.append(f"{page_id} 0 R")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {page_id + 1} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>".encode()
    return pdf_file(objects)


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def page_of(lines: list[str], *, top: float = 740) -> list[tuple[float, float, str]]:
    """Lines set one under another from the top of a page, 14 pt apart, at the left margin."""
    return [(50.0, top - 14 * number, line) for number, line in enumerate(lines)]


def load(tmp_path: Path, content: bytes) -> Document:
    path = tmp_path / "report.pdf"
    path.write_bytes(content)
    return load_document(path, tmp_path)


def label_at(document: Document, phrase: str) -> str:
    start = document.text.index(phrase)
    return [label for offset, label in document.locations if offset <= start][-1]


def test_lines_are_joined_within_sentences_and_hyphenation_undone_where_the_document_says(tmp_path: Path) -> None:
    lines = [
        "Repairs",
        "The board met in March to review the year. The estimated cost of the repairs is",
        "£2.3 million, most of it for the roof and the loading bay, and the work is possi-",
        "ble within the summer. It favours the contracts of the firms it knows best, and higher-",
        "value contracts, as it did last year, the year before and the year before that too,",
        "when higher prices held for the whole of the autumn season.",
        "Work starts in May.",
    ]
    document = load(tmp_path, placed_pdf([page_of(lines)]))
    paragraphs = document.text.split("\n\n")
    assert paragraphs[0] == "Repairs"  # a heading is a paragraph of its own
    assert "\n" not in paragraphs[1]
    assert "The estimated cost of the repairs is £2.3 million, most of it" in paragraphs[1]
    assert "the work is possible within the summer" in paragraphs[1]  # "possi" is no word of the document
    assert "and higher-value contracts" in paragraphs[1]  # "higher" is one: the hyphen stays
    assert paragraphs[1].endswith("the autumn season.")
    assert paragraphs[2] == "Work starts in May."


def test_a_broken_word_the_document_holds_whole_is_joined() -> None:
    text = "\n".join(
        [
            "The well-being of staff comes first, and the wellbeing survey runs each spring. The well-",
            "being of visitors matters just as much to the company as that of its own staff, always.",
        ]
    )
    sections, _ = pdf_sections([text], ["1"])
    assert "The wellbeing of visitors" in sections[0][1]


def test_running_headers_footers_and_page_numbers_are_left_out(tmp_path: Path) -> None:
    pages = []
    for number, name in enumerate(("North", "South", "East"), start=1):
        body = [f"{name} quay", f"The {name} quay tells of the harbour and its boats in the winter months of the year."]
        items = [(50.0, 770.0, "Nimbus Harbour Ltd"), (400.0, 770.0, "Annual Review")]
        items += [*page_of(body, top=700), (50.0, 40.0, "Annual Review 2023"), (450.0, 40.0, f"Page {number} of 3")]
        pages.append(items)
    document = load(tmp_path, placed_pdf(pages))
    assert "Nimbus" not in document.text and "Page 1 of 3" not in document.text and "Review" not in document.text
    assert document.text.split("\n\n")[:2] == [
        "North quay",
        "The North quay tells of the harbour and its boats in the winter months of the year.",
    ]
    assert label_at(document, "The East quay") == "page 3"


def test_a_paragraph_over_a_page_break_is_whole_and_its_crossing_sentence_on_both_pages(tmp_path: Path) -> None:
    first = page_of(
        [
            "Capital expenditure rose in the year. Most of it went on the new paint line, and it was",
            "funded from operating cash flow together with a loan of £1.5 million arranged with Northshire Building",
        ]
    )
    second = page_of(
        ["Society at a fixed rate of 6.2 per cent. The board considers this level of borrowing prudent.", "Outlook"]
    )
    document = load(tmp_path, placed_pdf([first, second]))
    crossing = (
        "Most of it went on the new paint line, and it was funded from operating cash flow together with a loan"
        " of £1.5 million arranged with Northshire Building Society at a fixed rate of 6.2 per cent."
    )
    paragraphs = document.text.split("\n\n")
    assert (
        paragraphs[0]
        == f"Capital expenditure rose in the year. {crossing} The board considers this level of borrowing prudent."
    )
    assert label_at(document, "Capital expenditure") == "page 1"
    assert label_at(document, crossing) == "pages 1-2"
    assert label_at(document, "The board considers") == "page 2"
    assert paragraphs[1] == "Outlook"


def test_columns_of_cells_are_a_table_of_records(tmp_path: Path) -> None:
    rows = [
        ("Component", "Warranty period", "Conditions"),
        ("Aluminium frame", "10 years", "Original owner only"),
        ("Suspension forks", "2 years", "Must be serviced to the maker"),
        ("", "", "schedule"),
        ("Paint and decals", "2 years", "Excludes stone chips"),
    ]
    items = page_of(["2. Warranty periods", "Table 1: Warranty periods by component"])
    for number, cells in enumerate(rows):
        items += [(x, 690.0 - 14 * number, cell) for x, cell in zip((50.0, 230.0, 380.0), cells, strict=True) if cell]
    items += page_of(["3. What is not covered"], top=600)
    document = load(tmp_path, placed_pdf([items]))
    assert document.text.split("\n\n") == [
        "2. Warranty periods",
        "Table 1: Warranty periods by component",
        "Component \u00b7 Warranty period \u00b7 Conditions",
        "Component: Aluminium frame \u00b7 Warranty period: 10 years \u00b7 Conditions: Original owner only",
        "Component: Suspension forks \u00b7 Warranty period: 2 years"
        " \u00b7 Conditions: Must be serviced to the maker schedule",
        "Component: Paint and decals \u00b7 Warranty period: 2 years \u00b7 Conditions: Excludes stone chips",
        "3. What is not covered",
    ]


def test_a_page_in_two_columns_of_text_is_read_column_by_column(tmp_path: Path) -> None:
    left = [
        "The harbour board met on Monday to agree",
        "the budget for the new breakwater, which",
        "will cost four million pounds over three",
        "years and is paid for by the port dues.",
    ]
    right = [
        "The ferry company said that it would run",
        "an extra sailing on Saturdays from June",
        "until the end of September, weather and",
        "tides permitting, as it did last summer.",
    ]
    items = [(50.0, 700 - 14 * n, line) for n, line in enumerate(left)]
    items += [(320.0, 700 - 14 * n, line) for n, line in enumerate(right)]
    document = load(tmp_path, placed_pdf([items]))
    assert "The harbour board met on Monday to agree the budget for the new breakwater" in document.text
    assert "\u00b7" not in document.text  # no table made of the two columns


def test_amounts_aligned_right_stand_in_their_heading_s_column_and_totals_after_a_gap_apart() -> None:
    def line(*cells: tuple[int, str, bool]) -> str:  # (column, text, aligned right to end there)
        text = ""
        for column, cell, right in cells:
            start = column - len(cell) if right else column
            text += " " * max(1, start - len(text)) + cell
        return text

    page = [
        line(
            (0, "Item", False),
            (10, "Description", False),
            (36, "Qty", False),
            (42, "Unit price", False),
            (60, "Amount", False),
        ),
        line(
            (0, "A-1", False),
            (10, "Seat clamp, black", False),
            (36, "400", False),
            (52, "£2.45", True),
            (66, "£980.00", True),
        ),
        line(
            (0, "A-2", False),
            (10, "Dropout, replaceable", False),
            (36, "250", False),
            (52, "£6.80", True),
            (66, "£1,700.00", True),
        ),
        "",
        line((42, "Subtotal", False), (66, "£2,680.00", True)),
        line((42, "Total due", False), (66, "£3,216.00", True)),
        "",
        line(
            (0, "Invoice number:", False), (18, "INV-1", False), (32, "Invoice date:", False), (48, "14/05/2024", False)
        ),
        line((0, "Customer:", False), (18, "KMC-42", False), (32, "Order:", False), (48, "PO-7718", False)),
    ]
    sections, _ = pdf_sections(["\n".join(page)], ["1"])
    assert [text for _, text in sections] == [
        "Item \u00b7 Description \u00b7 Qty \u00b7 Unit price \u00b7 Amount",
        "Item: A-1 \u00b7 Description: Seat clamp, black \u00b7 Qty: 400 \u00b7 Unit price: £2.45"
        " \u00b7 Amount: £980.00",
        "Item: A-2 \u00b7 Description: Dropout, replaceable \u00b7 Qty: 250 \u00b7 Unit price: £6.80"
        " \u00b7 Amount: £1,700.00",
        "Subtotal £2,680.00",  # neither a continuation of the last row nor a table headed by a sum
        "Total due £3,216.00",
        "Invoice number: INV-1 Invoice date: 14/05/2024",  # labels beside their values are no table
        "Customer: KMC-42 Order: PO-7718",
    ]


def test_ocr_words_are_laid_out_where_they_stand_so_a_scanned_table_keeps_its_columns() -> None:
    from docqa.documents.ocr import laid_out

    # Tesseract's words as image_to_data gives them: 20 pixels a character, lines 40 pixels apart.
    placed = [
        (1, 1, 1, 0, 0, "Item"),
        (1, 1, 1, 200, 0, "Unit"),
        (1, 1, 1, 300, 0, "price"),
        (1, 1, 1, 500, 0, "Amount"),
        (2, 1, 1, 0, 40, "A-1"),
        (2, 1, 1, 300, 40, "£2.45"),  # aligned right, under the end of "Unit price"
        (2, 1, 1, 500, 40, "£980.00"),
        (2, 1, 2, 0, 80, "A-2"),
        (2, 1, 2, 300, 80, "£6.80"),
        (2, 1, 2, 460, 80, "£1,700.00"),
        (3, 1, 1, 0, 200, "Thank"),  # after a gap of more than a line: a blank line
        (3, 1, 1, 120, 200, "you."),
    ]
    words: dict[str, list[object]] = {
        name: [] for name in ("block_num", "par_num", "line_num", "left", "top", "width", "height", "text")
    }
    for block, paragraph, line, left, top, text in placed:
        for name, value in zip(words, (block, paragraph, line, left, top, 20 * len(text), 30, text), strict=True):
            words[name].append(value)
    words["text"].append("  ")  # Tesseract's empty words are no text
    for name in ("block_num", "par_num", "line_num", "left", "top", "width", "height"):
        words[name].append(0)
    page = laid_out(words)
    assert page.split("\n") == [
        "Item      Unit price     Amount",
        "A-1            £2.45     £980.00",
        "A-2            £6.80   £1,700.00",
        "",
        "Thank you.",
    ]
    sections, _ = pdf_sections([page], ["1"])
    assert sections[2] == ("page 1", "Item: A-2 \u00b7 Unit price: £6.80 \u00b7 Amount: £1,700.00")
