"""Every format docqa reads, each file built here by its own library: text, metadata, locations,
answers cited to their page, slide, sheet, chapter or heading, and damaged files skipped."""

from __future__ import annotations

import datetime
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pypdf
import pytest
from format_files import docx_bytes, epub_bytes, odt_bytes, pptx_bytes, scanned_pdf_bytes, xlsx_bytes
from pdfs import pdf_bytes
from pypdf.xmp import XmpInformation

from docqa import Assistant
from docqa.documents import SourceFile, load_document, load_documents, ocr, scan_corpus, worker
from docqa.documents import common as documents_common
from docqa.schema import Document

# The Office and e-book libraries are the formats extra: without it these tests cannot build their files.
for _library in ("docx", "pptx", "openpyxl", "odf", "ebooklib", "striprtf"):
    pytest.importorskip(_library, reason="the formats extra is not installed: pip install -e '.[formats]'")

HAS_TESSERACT = ocr.ocr_problem() is None
needs_tesseract = pytest.mark.skipif(not HAS_TESSERACT, reason=f"OCR is not set up here ({ocr.ocr_problem()})")

MARKDOWN = """---
title: Visitor guide
date: 2024-05-01
---
# Guide

The museum opens **10:00 to 15:00** on weekdays, see [the map](https://example.org/map).

## Parking

- The parking garage closes at *23:00* sharp.
- Bicycles go in the courtyard.

| Ticket | Price |
|--------|-------|
| Adult  | 12 euros |
| Child  | free |
"""

HTML = """<!doctype html><html><head><title>Lighthouse visits</title>
<meta property="article:published_time" content="2024-03-05T10:00:00Z"></head>
<body><nav><a href="/">Home</a> <a href="/shop">Shop</a> <a href="/about">About us</a></nav>
<main><article><h1>Visiting the lighthouse</h1>
<p>The lighthouse on the northern cape has guided ships past the reef since the old harbour was built.</p>
<h2>Getting there</h2>
<p>The coastal bus number seven stops at the foot of the lighthouse hill every forty minutes in summer.</p>
<p>Walkers can follow the cliff path from the village, which takes about an hour each way.</p>
</article></main>
<footer><p>Copyright 2024 Nimbus Inc. All rights reserved.</p></footer></body></html>"""

RTF = rb"{\rtf1\ansi{\fonttbl\f0\fswiss Helvetica;}\f0\pard The vault combination changes every {\b Thursday}.\par}"


def xmp_pdf(pages: list[list[str]], info: str = "") -> bytes:
    """A text PDF with XMP metadata: title "Glacier survey", dc:date 2018-05-17."""
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf_bytes(pages, info))))
    xmp = XmpInformation.create()
    xmp.dc_date = [datetime.datetime(2018, 5, 17)]
    xmp.dc_title = {"x-default": "Glacier survey"}
    writer.xmp_metadata = xmp
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


# file -> (its bytes, a question only it answers, words of the answer, the location cited)
FILES: dict[str, tuple[bytes, str, str, str | None]] = {
    "manual.docx": (
        docx_bytes(
            [
                ("Heading 1", "Boiler"),
                ("", "Read this before lighting the boiler."),
                ("Heading 2", "Pressure"),
                ("", "The boiler pressure gauge must read one and a half bar when cold."),
            ],
            title="Boiler manual",
        ),
        "What must the boiler pressure gauge read when cold?",
        "one and a half bar",
        "Boiler \u203a Pressure",
    ),
    "deck.pptx": (
        pptx_bytes([("Airships", "A short history."), ("Hangars", "The zeppelin hangar holds eleven airships.")]),
        "How many airships does the zeppelin hangar hold?",
        "eleven airships",
        "slide 2",
    ),
    "budget.xlsx": (
        xlsx_bytes({"Notes": [["Prepared by the treasurer."]], "Costs": [["Item", "Cost"], ["Scaffolding", 4200]]}),
        "What is the cost of the scaffolding?",
        "Scaffolding",
        "sheet Costs, row 2",
    ),
    "orchard.odt": (
        odt_bytes([(1, "Orchard"), (0, "The quince trees were grafted in 1931 by the gardener.")], title="Orchard"),
        "When were the quince trees grafted?",
        "1931",
        "Orchard",
    ),
    "tales.epub": (
        epub_bytes(
            [
                ("The Storm", "The storm broke at midnight."),
                ("The Reef", "The lantern keeper rowed to the reef at dawn."),
            ],
            title="Sea tales",
            date="2019-07-04",
        ),
        "When did the lantern keeper row to the reef?",
        "at dawn",
        "chapter 2: The Reef",
    ),
    "memo.rtf": (RTF, "When does the vault combination change?", "Thursday", None),
    "mayors.csv": (
        b"City,Mayor\nOslo,Ingrid Holm\nBergen,Per Lunde\n",
        "Who is the mayor of Bergen?",
        "Per Lunde",
        "row 2",
    ),
    "guide.md": (MARKDOWN.encode(), "When does the parking garage close?", "23:00", "Guide \u203a Parking"),
    "lighthouse.html": (
        HTML.encode(),
        "How often does the coastal bus stop at the lighthouse hill?",
        "every forty minutes",
        "Visiting the lighthouse \u203a Getting there",
    ),
    "glacier.pdf": (
        xmp_pdf([["Field notes from the survey."], ["The glacier retreated forty metres in 2019."]]),
        "How far did the glacier retreat in 2019?",
        "forty metres",
        "page 2",
    ),
}
if HAS_TESSERACT:
    FILES["scan.pdf"] = (
        scanned_pdf_bytes([["Minutes of the harbour board."], ["The harbour master retires in April."]]),
        "When does the harbour master retire?",
        "April",
        "page 2",
    )


def write(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def load(tmp_path: Path, name: str, content: bytes) -> Document:
    return load_document(write(tmp_path, name, content), tmp_path)


def text_at(document: Document, label: str) -> str:
    """The text of ``document`` under the location ``label``, up to the next location."""
    starts = [offset for offset, _ in document.locations] + [len(document.text)]
    index = [name for _, name in document.locations].index(label)
    return document.text[starts[index] : starts[index + 1]]


# ----- each format's text and metadata ---------------------------------------------------


def test_markdown_is_rendered_to_plain_text_with_front_matter_as_metadata(tmp_path: Path) -> None:
    document = load(tmp_path, "guide.md", MARKDOWN.encode())
    assert (document.title, document.date) == ("Visitor guide", "2024-05-01")
    assert "The museum opens 10:00 to 15:00 on weekdays, see the map." in document.text
    assert "- The parking garage closes at 23:00 sharp." in document.text
    assert "\n\nTicket: Adult \u00b7 Price: 12 euros\n\n" in document.text
    for leaked in ("**", "*23", "|", "---", "title:", "](", "#"):
        assert leaked not in document.text
    assert [label for _, label in document.locations] == ["Guide", "Guide \u203a Parking"]
    assert text_at(document, "Guide \u203a Parking").startswith("Parking\n\n- The parking garage")


def test_markdown_front_matter_is_never_the_title(tmp_path: Path) -> None:
    document = load(tmp_path, "bare.md", b"---\nauthor: Ann\n---\nJust a line of text.\n")
    assert (document.title, document.text) == ("Just a line of text.", "Just a line of text.")
    broken = load(tmp_path, "broken.md", b"---\ntitle: [unclosed\n---\nBody text here.\n")
    assert (broken.title, broken.text) == ("Body text here.", "Body text here.")


def test_html_keeps_the_main_content_and_the_published_date(tmp_path: Path) -> None:
    document = load(tmp_path, "page.html", HTML.encode())
    assert (document.title, document.date) == ("Lighthouse visits", "2024-03-05")
    assert "coastal bus number seven" in document.text
    for boilerplate in ("Copyright", "Nimbus", "About us", "Shop"):
        assert boilerplate not in document.text
    assert [label for _, label in document.locations] == [
        "Visiting the lighthouse",
        "Visiting the lighthouse \u203a Getting there",
    ]


def test_html_boilerplate_is_left_out_even_when_it_is_a_small_share_of_the_page(tmp_path: Path) -> None:
    article = "".join(
        f"<p>Paragraph {n} of the article tells of the harbour, its boats and the winter.</p>" for n in range(15)
    )
    page = f"<body><nav><a href='/'>Home</a></nav><article><h1>Harbour</h1>{article}</article>"
    document = load(tmp_path, "long.html", (page + "<footer>Copyright 2024 Nimbus Inc.</footer></body>").encode())
    assert "Paragraph 14 of the article" in document.text
    assert "Home" not in document.text and "Copyright" not in document.text


def test_pdf_pages_are_locations_and_only_xmp_dates_are_dates(tmp_path: Path) -> None:
    info = "/CreationDate (D:20210106120000Z)"
    document = load(tmp_path, "survey.pdf", xmp_pdf([["First page."], ["Second page."]], info))
    assert (document.title, document.date) == ("Glacier survey", "2018-05-17")
    assert document.locations == ((0, "page 1"), (document.text.index("Second"), "page 2"))


def test_office_documents_and_e_books_give_their_text_and_locations(tmp_path: Path) -> None:
    docx = load(tmp_path, "a.docx", FILES["manual.docx"][0])
    assert docx.title == "Boiler manual"
    assert text_at(docx, "Boiler \u203a Pressure") == (
        "Pressure\n\nThe boiler pressure gauge must read one and a half bar when cold."
    )
    deck = load(tmp_path, "b.pptx", pptx_bytes([("One", "First slide."), ("Two", "Second slide.")], notes="Thanks."))
    assert deck.title == "One"
    assert text_at(deck, "slide 2") == "Two\n\nSecond slide.\n\nThanks."
    workbook = load(tmp_path, "c.xlsx", FILES["budget.xlsx"][0])
    assert text_at(workbook, "sheet Costs, row 1") == "Item \u00b7 Cost\n\n"
    assert text_at(workbook, "sheet Costs, row 2") == "Item: Scaffolding \u00b7 Cost: 4200"
    odt = load(tmp_path, "d.odt", FILES["orchard.odt"][0])
    assert odt.text == "Orchard\n\nThe quince trees were grafted in 1931 by the gardener."
    book = load(tmp_path, "e.epub", FILES["tales.epub"][0])
    assert (book.title, book.date) == ("Sea tales", "2019-07-04")
    assert [label for _, label in book.locations] == ["chapter 1: The Storm", "chapter 2: The Reef"]
    assert text_at(book, "chapter 1: The Storm") == "The Storm\n\nThe storm broke at midnight.\n\n"


def test_rtf_and_csv_give_plain_rows_of_text(tmp_path: Path) -> None:
    assert load(tmp_path, "a.rtf", RTF).text == "The vault combination changes every Thursday."
    rows = load(tmp_path, "b.csv", b"City;Mayor\nOslo;Ingrid Holm\n\n").text
    assert rows == "City \u00b7 Mayor\n\nCity: Oslo \u00b7 Mayor: Ingrid Holm"


@needs_tesseract
def test_a_scanned_pdf_is_read_by_ocr(tmp_path: Path) -> None:
    document = load(tmp_path, "scan.pdf", scanned_pdf_bytes([["The harbour master retires in April."]]))
    assert "harbour master retires in April" in document.text
    assert document.locations == ((0, "page 1"),)


@needs_tesseract
def test_a_scanned_page_with_a_stamp_of_text_is_read_by_ocr_whole(tmp_path: Path) -> None:
    scan = pypdf.PdfReader(io.BytesIO(scanned_pdf_bytes([["The ferry to the island leaves at noon."]])))
    stamp = pypdf.PdfReader(io.BytesIO(pdf_bytes([["Scanned 2021"]])))
    writer = pypdf.PdfWriter()
    page = writer.add_page(scan.pages[0])
    page.merge_page(stamp.pages[0])
    buffer = io.BytesIO()
    writer.write(buffer)
    document = load(tmp_path, "stamped.pdf", buffer.getvalue())
    assert "ferry to the island leaves at noon" in document.text


@needs_tesseract
def test_a_scan_that_would_take_too_long_to_read_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ocr, "OCR_SECONDS", 0.001)
    write(tmp_path, "book.pdf", scanned_pdf_bytes([["First scanned page."], ["Second."], ["Third."]]))
    _, skipped = load_documents(tmp_path)
    assert skipped["book.pdf"].startswith("OCR of its 3 scanned pages would take longer than 60 s")


def test_without_an_ocr_engine_a_scan_is_skipped_saying_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ocr.shutil, "which", lambda name: None)
    write(tmp_path, "scan.pdf", scanned_pdf_bytes([["Words on a scanned page."]]))
    _, skipped = load_documents(tmp_path)
    assert "PDF has no text layer" in skipped["scan.pdf"]
    assert "apt-get install tesseract-ocr" in skipped["scan.pdf"]


# ----- answers cite their location -------------------------------------------------------


@pytest.fixture(scope="module")
def every_format(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    folder = tmp_path_factory.mktemp("formats")
    for name, (content, *_) in FILES.items():
        write(folder / "corpus", name, content)
    assistant = Assistant(folder / "corpus", folder / "index", embedding_model="none", reader_model="none")
    report = assistant.index()
    assert report.skipped == {}
    return assistant


@pytest.mark.parametrize("name", list(FILES))
def test_each_format_answers_its_own_question_with_its_location(every_format: Assistant, name: str) -> None:
    _, question, words, location = FILES[name]
    answer = every_format.ask(question)
    assert not answer.abstained
    citation = answer.citations[0]
    assert citation.source == name
    assert words in answer.text
    text = every_format.store.document_text(name)
    assert text[citation.start : citation.end] == answer.text  # the offsets slice the extracted text
    assert citation.location == location
    assert answer.to_dict()["citations"][0]["location"] == location
    assert answer.passages[0].to_dict()["location"] == answer.passages[0].chunk.location


def test_the_chat_and_the_command_line_show_the_location(every_format: Assistant) -> None:
    from docqa.terminal import format_answer
    from docqa.ui.render import answer_targets, citation_place

    answer = every_format.ask(FILES["deck.pptx"][1])
    assert citation_place(answer.citations[0]).endswith(" \u00b7 slide 2")  # the file name escaped, then the slide
    assert answer_targets(answer)[0]["location"] == "slide 2"
    assert "Source: deck.pptx (Airships, slide 2)" in format_answer(answer)


# ----- damaged files, missing libraries, budgets ------------------------------------------


def _zip_of(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize("suffix", [".docx", ".pptx", ".xlsx", ".odt", ".epub"])
def test_damaged_archives_are_skipped_with_a_reason(tmp_path: Path, suffix: str) -> None:
    write(tmp_path, f"cut{suffix}", FILES["manual.docx"][0][:300])
    write(tmp_path, f"other{suffix}", _zip_of("hello.txt", b"not a document"))
    write(tmp_path, f"garbage{suffix}", b"PK\x03\x04" + bytes(range(256)))
    documents, skipped = load_documents(tmp_path)
    assert documents == []
    assert set(skipped) == {f"cut{suffix}", f"other{suffix}", f"garbage{suffix}"}
    assert all(reason.startswith("damaged") for reason in skipped.values()), skipped


@pytest.mark.parametrize(
    ("name", "content"),
    [("bad.rtf", b"\x00\x01\x02 binary"), ("bad.rtf", b"no rtf header"), ("bad.csv", b"\x00\x01\x02\x03 binary")],
)
def test_damaged_rtf_and_csv_files_are_skipped_with_a_reason(tmp_path: Path, name: str, content: bytes) -> None:
    write(tmp_path, name, content)
    documents, skipped = load_documents(tmp_path)
    assert documents == [] and skipped[name]


def test_a_missing_library_skips_the_file_saying_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "docx", None)  # import docx raises ImportError
    write(tmp_path, "a.docx", FILES["manual.docx"][0])
    _, skipped = load_documents(tmp_path)
    assert skipped == {"a.docx": "reading .docx files needs python-docx: pip install 'docqa[formats]'"}


def test_an_archive_that_unpacks_past_the_budget_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents_common, "MAX_UNPACKED_BYTES", 1000)
    write(tmp_path, "big.xlsx", xlsx_bytes({"Rows": [[f"row {n}", n] for n in range(200)]}))
    _, skipped = load_documents(tmp_path)
    assert "unpack to more than" in skipped["big.xlsx"]


def test_the_worker_process_reads_new_formats_with_their_locations(tmp_path: Path) -> None:
    path = write(tmp_path, "deck.pptx", FILES["deck.pptx"][0])
    [source_file], _ = scan_corpus(tmp_path)
    assert source_file == SourceFile("deck.pptx", path, source_file.content_hash, path.stat().st_size)
    with worker.WorkerPool(1) as pool:
        document = pool.parse_file(source_file)
    assert [label for _, label in document.locations] == ["slide 1", "slide 2"]


def test_scanning_new_formats_imports_none_of_their_libraries(tmp_path: Path) -> None:
    for name in ("manual.docx", "deck.pptx", "budget.xlsx", "orchard.odt", "tales.epub", "memo.rtf"):
        write(tmp_path, name, FILES[name][0])
    libraries = ("docx", "pptx", "openpyxl", "odf", "ebooklib", "striprtf", "trafilatura", "markdown_it")
    script = (
        "import sys; from docqa.documents import scan_corpus; "
        f"files, _ = scan_corpus({str(tmp_path)!r}); "
        f"print(len(files), sorted(name for name in {libraries!r} if name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split("\n")[0] == "6 []"


def test_ocr_set_up_is_reported_by_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ocr.shutil, "which", lambda name: None)
    assert "tesseract program is not installed" in (ocr.ocr_problem() or "")
    monkeypatch.setitem(sys.modules, "pytesseract", None)
    assert ocr.ocr_problem() == f"no OCR engine: {ocr.INSTALL}"
