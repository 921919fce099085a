"""Loading the corpus folder: formats, metadata, and the files that are skipped."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pypdf
import pytest
from pdfs import pdf_bytes

from docqa.documents import (
    MAX_FILE_BYTES,
    SUFFIXES,
    SourceFile,
    UnreadableFile,
    format_for,
    load_document,
    load_documents,
    parse_file,
    scan_corpus,
    sniff_problem,
)
from docqa.documents.formats import FORMAT_BY_SUFFIX
from docqa.errors import DocqaError
from docqa.schema import Document, location_at

SHIPPED_CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def write(folder: Path, name: str, content: bytes | str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def load_one(folder: Path, name: str, content: bytes | str) -> Document:
    return load_document(write(folder, name, content), folder)


def skip_reason(folder: Path, name: str, content: bytes | str) -> str:
    write(folder, name, content)
    documents, skipped = load_documents(folder)
    assert documents == []
    return skipped[name]


def written_pdf(build: Callable[[pypdf.PdfWriter], None]) -> bytes:
    writer = pypdf.PdfWriter()
    build(writer)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_txt_numbered_items_are_located_as_items(tmp_path: Path) -> None:
    raw = (
        "HARBOUR BOARD - MINUTES\nPresent: A. Lund (Chair)\n\n"
        "1. Dredging\nThe dredger arrives in March.\n\n"
        "2. Moorings\nFees rise by 3% from\n4. April, as agreed last year.\n\n"
        "3. Any other business\nNone.\n"
    )
    document = load_one(tmp_path, "minutes.txt", raw)
    assert document.text == raw.strip()  # the text as it is
    assert [label for _, label in document.locations] == ["item 1", "item 2", "item 3"]  # "4." breaks the count
    assert location_at(document.locations, document.text.index("Present")) is None
    assert location_at(document.locations, document.text.index("Fees rise")) == "item 2"
    assert location_at(document.locations, document.text.index("April, as")) == "item 2"
    plain = load_one(tmp_path, "note.txt", "1. The only numbered line.\nNothing else.")
    assert plain.locations == ()


def test_txt_date_marker_is_metadata_and_removed_from_the_text(tmp_path: Path) -> None:
    raw = " date 2021-01-06 SUPPORTERS OF PRESIDENT Donald Trump have broken in.\r\n\r\nPolice said so.\r\n"
    document = load_one(tmp_path, "article.txt", raw)
    assert document.date == "2021-01-06"
    assert document.text == "SUPPORTERS OF PRESIDENT Donald Trump have broken in.\n\nPolice said so."
    assert document.title == "SUPPORTERS OF PRESIDENT Donald Trump have broken in."
    assert document.source == "article.txt"
    assert document.content_hash == hashlib.sha256(raw.encode()).hexdigest()


def test_text_without_a_marker_has_no_date_and_keeps_a_date_like_word(tmp_path: Path) -> None:
    document = load_one(tmp_path, "a.txt", "The date 2021-01-06 was a Wednesday.")
    assert document.date is None
    assert document.text == "The date 2021-01-06 was a Wednesday."


def test_invalid_marker_date_is_left_in_the_text(tmp_path: Path) -> None:
    document = load_one(tmp_path, "a.txt", "date 2021-13-45 Something happened.")
    assert document.date is None
    assert document.text.startswith("date 2021-13-45")


def test_shipped_corpus_loads_with_dates_stripped() -> None:
    documents, skipped = load_documents(SHIPPED_CORPUS)
    assert skipped == {}
    names = sorted(path.name for path in SHIPPED_CORPUS.glob("*.txt"))
    assert [document.source for document in documents] == names
    dated = [document for document in documents if document.date]
    assert len(dated) == 2
    assert {document.date for document in dated} == {"2021-01-06"}
    assert documents[0].text.startswith("SUPPORTERS OF PRESIDENT")
    assert all(not document.text.startswith(("date", " ")) for document in documents)


def test_markdown_title_drops_the_heading_marks(tmp_path: Path) -> None:
    document = load_one(tmp_path, "notes.md", "\n\n##  Release notes \n\nThe *first* release.\n")
    assert document.title == "Release notes"
    assert document.text == "Release notes\n\nThe first release."  # rendered: no heading or emphasis marks
    assert document.locations == ((0, "Release notes"),)


def test_long_first_line_title_is_cut_at_a_word(tmp_path: Path) -> None:
    document = load_one(tmp_path, "long.txt", "word " * 100)
    assert len(document.title) <= 121
    assert document.title.endswith("word…")


def test_html_drops_scripts_styles_and_head_and_takes_the_title(tmp_path: Path) -> None:
    html = """<!doctype html><html><head><title> The   Capitol </title>
    <style>p { color: red }</style><script>var hidden = "script text";</script></head>
    <body><noscript>enable scripts</noscript><template><p>template text</p></template>
    <h1>Heading</h1><p>First <b>bold</b> words
    go on.</p><p>Second&nbsp;paragraph.<br>Next line.</p><!-- a comment --></body></html>"""
    document = load_one(tmp_path, "page.html", html)
    assert document.title == "The Capitol"
    assert document.text == "Heading\n\nFirst bold words go on.\n\nSecond paragraph.\nNext line."


def test_an_article_keeps_its_byline_with_the_date_it_shows(tmp_path: Path) -> None:
    paragraphs = "".join(
        f"<p>The harbour board met on a wet evening to settle the future of berth {number}, which the ferry "
        f"company wants for its new vessel; fishermen who have moored there for decades objected.</p>"
        for number in range(1, 7)
    )
    html = f"""<html><head><title>Berths | The Island Post</title></head><body>
    <nav><a href="/">Home</a> <a href="/news">News</a></nav>
    <main><article><h1>Harbour board gives berths to the ferry</h1>
    <p class="byline">By Ann Lee &middot; <time datetime="2024-04-23">Tuesday 23 April 2024</time></p>
    {paragraphs}<h2>What comes next</h2>{paragraphs}</article></main>
    <footer>Copyright The Island Post. All rights reserved.</footer></body></html>"""
    document = load_one(tmp_path, "berths.html", html)
    assert document.text.startswith(
        "Harbour board gives berths to the ferry\n\nBy Ann Lee \u00b7 Tuesday 23 April 2024\n\nThe harbour board met"
    )
    assert location_at(document.locations, document.text.index("By Ann")) == "Harbour board gives berths to the ferry"
    assert "Copyright" not in document.text  # still the main content only


def test_html_title_falls_back_to_the_first_h1(tmp_path: Path) -> None:
    document = load_one(tmp_path, "page.htm", "<body><p>Intro.</p><h1>Main heading</h1><p>Body.</p></body>")
    assert document.title == "Main heading"


def test_broken_html_still_gives_its_text(tmp_path: Path) -> None:
    html = b"<p>Unclosed <b>bold <div>inner &amp; more<p>last words <span>tail"
    document = load_one(tmp_path, "broken.html", html)
    assert "Unclosed bold" in document.text
    assert "inner & more" in document.text
    assert document.text.endswith("last words tail")
    assert document.title == "Unclosed bold"


@pytest.mark.parametrize(
    "content",
    [
        '<meta charset="windows-1252"><p>Caf\u00e9 cr\u00e8me.</p>'.encode("cp1252"),
        "<p>Caf\u00e9 cr\u00e8me.</p>".encode(),
        "<p>Caf\u00e9 cr\u00e8me.</p>".encode("utf-16"),
    ],
    ids=["declared-cp1252", "undeclared-utf8", "utf16-bom"],
)
def test_html_encodings_are_honoured(tmp_path: Path, content: bytes) -> None:
    assert load_one(tmp_path, "page.html", content).text == "Caf\u00e9 cr\u00e8me."


def test_binary_data_named_html_is_skipped(tmp_path: Path) -> None:
    assert skip_reason(tmp_path, "page.html", bytes(range(256)) + b"<p>text</p>") == "binary file"


def test_html_date_marker_is_applied(tmp_path: Path) -> None:
    document = load_one(tmp_path, "a.html", "<p> date 2020-02-03 Rain fell.</p>")
    assert (document.date, document.text) == ("2020-02-03", "Rain fell.")


def test_pdf_text_title_and_date(tmp_path: Path) -> None:
    info = "/Title (Capitol report) /CreationDate (D:20210106120000Z)"
    pdf = pdf_bytes([["Protesters entered the building.", "Police cleared it."], ["Second page."]], info)
    document = load_one(tmp_path, "report.pdf", pdf)
    assert document.title == "Capitol report"
    assert document.date is None  # the time a PDF writer made the file is not the document's date
    assert document.text == "Protesters entered the building. Police cleared it.\n\nSecond page."  # lines joined
    assert document.locations == ((0, "page 1"), (document.text.index("Second"), "page 2"))
    assert document.content_hash == hashlib.sha256(pdf).hexdigest()


def test_pdf_without_metadata_takes_its_first_line_as_title(tmp_path: Path) -> None:
    lines = ["Opening line here", "The second line of the page is a longer one than the first."]
    document = load_one(tmp_path, "plain.pdf", pdf_bytes([lines]))
    assert (document.title, document.date) == ("Opening line here", None)


@pytest.mark.parametrize("placeholder", ["Scan 16 May 2024 08:42", "Scanned Document", "IMG_0042"])
def test_a_pdf_title_a_program_wrote_gives_way_to_the_first_line(tmp_path: Path, placeholder: str) -> None:
    lines = ["HARBOUR LOFTS LTD", "Invoice for the berth fees of the second quarter of the year."]
    document = load_one(tmp_path, "scan.pdf", pdf_bytes([lines], f"/Title ({placeholder})"))
    assert document.title == "HARBOUR LOFTS LTD"
    named = load_one(tmp_path, "named.pdf", pdf_bytes([lines], "/Title (May Report 2024)"))
    assert named.title == "May Report 2024"  # a title that names something is kept


def test_pdf_with_an_empty_user_password_is_read(tmp_path: Path) -> None:
    source = pypdf.PdfReader(io.BytesIO(pdf_bytes([["Readable despite encryption."]])))

    def build(writer: pypdf.PdfWriter) -> None:
        writer.append(source)
        writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")

    document = load_one(tmp_path, "open.pdf", written_pdf(build))
    assert document.text == "Readable despite encryption."


@pytest.mark.parametrize(
    ("name", "reason"),
    [("blank.pdf", "PDF has no text layer"), ("locked.pdf", "encrypted"), ("damaged.pdf", "damaged PDF")],
)
def test_unusable_pdfs_are_skipped(tmp_path: Path, name: str, reason: str) -> None:
    def blank(writer: pypdf.PdfWriter) -> None:
        writer.add_blank_page(width=200, height=200)

    def locked(writer: pypdf.PdfWriter) -> None:
        writer.append(pypdf.PdfReader(io.BytesIO(pdf_bytes([["Secret text."]]))))
        writer.encrypt(user_password="secret", algorithm="RC4-128")

    content = {
        "blank.pdf": written_pdf(blank),
        "locked.pdf": written_pdf(locked),
        "damaged.pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage",
    }[name]
    assert reason in skip_reason(tmp_path, name, content)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b" \n\t\r\n ", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00" * 8, "binary file"),
        (bytes(range(1, 9)) * 20 + b"a few letters", "binary file"),
        (bytes(range(0x80, 0x100)) * 2, "not valid text"),
        (b"." * 200_000, "it holds no words"),
    ],
    ids=["zero-bytes", "white-space", "nul-bytes", "control-characters", "invalid-bytes", "dots"],
)
def test_unusable_text_files_are_skipped(tmp_path: Path, content: bytes, reason: str) -> None:
    assert skip_reason(tmp_path, "file.txt", content).startswith(reason)


def test_latin1_text_is_decoded(tmp_path: Path) -> None:
    text = "Café crème brûlée à la française. Ça coûte très cher, n'est-ce pas? Voilà."
    assert load_one(tmp_path, "old.txt", text.encode("latin-1")).text == text


def test_utf8_with_a_few_bad_bytes_keeps_its_good_characters(tmp_path: Path) -> None:
    content = "Naïve café owners said “hello” to everyone. ".encode() + b"\xff tail."
    document = load_one(tmp_path, "damaged.txt", content)
    assert document.text == "Naïve café owners said “hello” to everyone. \ufffd tail."


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_byte_order_marks_are_honoured_and_removed(tmp_path: Path, encoding: str) -> None:
    text = "Zo\u00eb\u2019s notes."
    assert load_one(tmp_path, "bom.txt", text.encode(encoding)).text == text


def test_sources_are_relative_posix_paths_sorted_recursively(tmp_path: Path) -> None:
    write(tmp_path, "b.txt", "Bee.")
    write(tmp_path, "a/z.md", "Zed.")
    write(tmp_path, "a/deeper/c.html", "<p>Sea.</p>")
    write(tmp_path, "sub dir/résumé notes 日本.txt", "Unicode name.")
    documents, skipped = load_documents(tmp_path)
    assert [document.source for document in documents] == [
        "a/deeper/c.html",
        "a/z.md",
        "b.txt",
        "sub dir/résumé notes 日本.txt",
    ]
    assert skipped == {}


def test_unsupported_and_hidden_files_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "keep.txt", "Kept.")
    write(tmp_path, "image.png", b"\x89PNG\x00")
    write(tmp_path, "data.json", "{}")
    write(tmp_path, ".hidden.txt", "Hidden.")
    write(tmp_path, ".git/notes.txt", "Hidden folder.")
    documents, skipped = load_documents(tmp_path)
    assert [document.source for document in documents] == ["keep.txt"]
    assert skipped == {}


def test_suffixes_are_matched_without_regard_to_case(tmp_path: Path) -> None:
    write(tmp_path, "LOUD.TXT", "Loud.")
    assert [document.source for document in load_documents(tmp_path)[0]] == ["LOUD.TXT"]


def test_bad_files_are_logged_and_skipped_without_stopping_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "good.txt", "Good text.")
    write(tmp_path, "nested/empty file.md", b"")
    write(tmp_path, "zz.pdf", b"not a pdf at all")
    with caplog.at_level(logging.WARNING, logger="docqa.documents"):
        documents, skipped = load_documents(tmp_path)
    assert [document.source for document in documents] == ["good.txt"]
    assert skipped == {"nested/empty file.md": "empty", "zz.pdf": skipped["zz.pdf"]}
    assert skipped["zz.pdf"].startswith("damaged PDF")
    messages = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert any("nested/empty file.md" in message and "empty" in message for message in messages)
    assert any("zz.pdf" in message for message in messages)


def test_files_over_the_size_limit_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "small.txt", "Tiny.")
    write(tmp_path, "big.txt", "A sentence that is too long for the limit.")
    documents, skipped = load_documents(tmp_path, max_file_bytes=10)
    assert [document.source for document in documents] == ["small.txt"]
    assert skipped == {"big.txt": "larger than 10 bytes"}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX only")
def test_special_files_are_skipped_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")
    assert load_documents(tmp_path) == ([], {"pipe.txt": "not a regular file"})


def symlink(link: Path, target: Path) -> None:
    try:
        os.symlink(target, link, target_is_directory=target.is_dir())
    except (OSError, NotImplementedError):
        pytest.skip("symbolic links are not available here")


def test_links_out_of_the_corpus_are_skipped_and_inner_links_do_not_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corpus = tmp_path / "corpus"
    outside = tmp_path / "outside"
    write(outside, "secret.txt", "Outside text.")
    write(corpus, "inside.txt", "Inside text.")
    symlink(corpus / "leak.txt", outside / "secret.txt")
    symlink(corpus / "leak dir", outside)
    symlink(corpus / "alias.txt", corpus / "inside.txt")
    (corpus / "sub").mkdir()
    symlink(corpus / "sub" / "loop", corpus)
    symlink(corpus / "dangling.txt", tmp_path / "missing.txt")
    with caplog.at_level(logging.WARNING, logger="docqa.documents"):
        documents, skipped = load_documents(corpus)
    assert [document.source for document in documents] == ["alias.txt", "inside.txt"]
    assert set(skipped) == {"leak.txt", "leak dir", "dangling.txt"}
    assert "outside the corpus" in skipped["leak.txt"]
    assert "outside the corpus" in skipped["leak dir"]
    assert skipped["dangling.txt"] == "broken link"
    assert any("leak.txt" in record.getMessage() for record in caplog.records)


def test_missing_or_non_folder_corpus_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(DocqaError, match="does not exist"):
        load_documents(tmp_path / "nowhere")
    with pytest.raises(DocqaError, match="not a folder"):
        load_documents(write(tmp_path, "file.txt", "Text."))


def test_load_document_raises_unreadable_file_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile) as raised:
        load_document(write(tmp_path, "blank.txt", "   "), tmp_path)
    assert raised.value.reason == "empty"
    assert isinstance(raised.value, DocqaError)
    with pytest.raises(UnreadableFile, match="unsupported"):
        load_document(write(tmp_path, "table.json", "{}"), tmp_path)


def test_the_registry_lists_the_supported_formats_in_order() -> None:
    newer = (".docx", ".pptx", ".xlsx", ".odt", ".epub", ".rtf", ".csv")
    assert (".txt", ".md", ".html", ".htm", ".pdf", *newer) == SUFFIXES
    assert MAX_FILE_BYTES == 20 * 2**20
    assert format_for(".HTM") is format_for(".html")
    assert [format_for(suffix).name for suffix in (".txt", ".md", ".pdf")] == ["text", "Markdown", "PDF"]
    assert format_for(".json") is None
    assert format_for("") is None


@pytest.mark.parametrize(
    ("suffix", "head", "problem"),
    [
        (".pdf", b"%PDF-1.7\n%\xe2\xe3", None),
        (".PDF", b"%PDF-1.4", None),
        (".pdf", b"<html><body>", "the file is not a PDF (it does not start with %PDF-)"),
        (".pdf", b"", "the file is not a PDF (it does not start with %PDF-)"),
        (".txt", b"plain words", None),
        (".txt", b"\x7fELF\x02\x01\x00\x00", "the file is binary, not text"),
        (".md", "Zo\u00eb".encode("utf-16"), None),
        (".txt", b"\x00\x00\xfe\xff" + "Zo\u00eb".encode("utf-32-be"), None),
        (".html", b"<p>a</p>\x00\x00", "the file is binary, not text"),
        (".htm", bytes(range(0x80, 0x100)), None),  # not valid text either, but only parsing can tell
        (".json", b"{}", "unsupported file type .json"),
        (".docx", b"PK\x03\x04", None),
        (".xlsx", b"%PDF-1.4", "the file is not an Excel workbook (it is not a ZIP archive)"),
        (".rtf", b"{\\rtf1\\ansi", None),
        (".rtf", b"plain", "the file is not RTF (it does not start with {\\rtf)"),
        ("", b"text", "unsupported file type (none)"),
    ],
)
def test_sniff_problem_checks_the_first_bytes_against_the_suffix(suffix: str, head: bytes, problem: str | None) -> None:
    assert sniff_problem(suffix, head) == problem


def test_the_text_sniff_and_the_text_loader_agree_on_binary_files(tmp_path: Path) -> None:
    binary, utf16 = b"text\x00more text", "text and more".encode("utf-16")
    assert sniff_problem(".txt", binary) is not None
    assert skip_reason(tmp_path, "binary.txt", binary) == "binary file"
    assert sniff_problem(".txt", utf16) is None
    assert load_one(tmp_path, "utf16.txt", utf16).text == "text and more"


def test_scan_corpus_hashes_without_parsing_and_parse_file_reports_the_damage(tmp_path: Path) -> None:
    damaged = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage"
    write(tmp_path, "damaged.pdf", damaged)
    write(tmp_path, "notes.txt", "Some notes.")
    write(tmp_path, "table.json", "{}")
    files, skipped = scan_corpus(tmp_path)
    assert skipped == {}
    assert files == [
        SourceFile("damaged.pdf", tmp_path / "damaged.pdf", hashlib.sha256(damaged).hexdigest(), len(damaged)),
        SourceFile("notes.txt", tmp_path / "notes.txt", hashlib.sha256(b"Some notes.").hexdigest(), 11),
    ]
    with pytest.raises(UnreadableFile, match=r"^damaged PDF"):
        parse_file(files[0])
    document = parse_file(files[1])
    assert (document.source, document.text) == ("notes.txt", "Some notes.")
    assert document.content_hash == files[1].content_hash


def test_scan_corpus_calls_no_parser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[bytes] = []

    def recording_parser(data: bytes) -> tuple[str, str, str | None]:
        parsed.append(data)
        return "Recorded text.", "", None

    for suffix, form in FORMAT_BY_SUFFIX.items():
        monkeypatch.setitem(FORMAT_BY_SUFFIX, suffix, dataclasses.replace(form, parse=recording_parser))
    write(tmp_path, "a.txt", "Text.")
    write(tmp_path, "b.html", "<p>Page.</p>")
    files, _ = scan_corpus(tmp_path)
    assert [file.source for file in files] == ["a.txt", "b.html"]
    assert parsed == []
    assert parse_file(files[1]).text == "Recorded text."
    assert parsed == [b"<p>Page.</p>"]


def test_scan_corpus_skips_what_load_documents_skips_before_parsing(tmp_path: Path) -> None:
    write(tmp_path, "small.txt", "Tiny.")
    write(tmp_path, "big.txt", "A sentence that is too long for the limit.")
    write(tmp_path, ".hidden.txt", "Hidden.")
    write(tmp_path, "empty.md", b"")
    files, skipped = scan_corpus(tmp_path, max_file_bytes=10)
    assert [(file.source, file.size) for file in files] == [("empty.md", 0), ("small.txt", 5)]
    assert skipped == {"big.txt": "larger than 10 bytes"}
    with pytest.raises(DocqaError, match="does not exist"):
        scan_corpus(tmp_path / "nowhere")


def test_scan_corpus_notes_files_with_the_same_content(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(tmp_path, "a.txt", "Same words.")
    write(tmp_path, "b/copy.txt", "Same words.")
    with caplog.at_level(logging.INFO, logger="docqa.documents"):
        files, _ = scan_corpus(tmp_path)
    assert files[0].content_hash == files[1].content_hash
    assert any("same content in a.txt, b/copy.txt" in record.getMessage() for record in caplog.records)


def test_parse_file_uses_the_bytes_given_and_hashes_what_it_parses(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", "First version.")
    [scanned], _ = scan_corpus(tmp_path)
    assert parse_file(scanned, b"Bytes at hand.").text == "Bytes at hand."
    path.write_text("Second version.")
    document = parse_file(scanned)
    assert document.text == "Second version."
    assert document.content_hash == hashlib.sha256(b"Second version.").hexdigest() != scanned.content_hash
    path.unlink()
    with pytest.raises(UnreadableFile, match="not a regular file"):
        parse_file(scanned)


def test_parse_file_turns_an_unforeseen_parser_failure_into_unreadable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_parser(data: bytes) -> tuple[str, str, str | None]:
        raise KeyError("missing")

    monkeypatch.setitem(FORMAT_BY_SUFFIX, ".md", dataclasses.replace(FORMAT_BY_SUFFIX[".md"], parse=broken_parser))
    write(tmp_path, "a.md", "Words.")
    [scanned], _ = scan_corpus(tmp_path)
    with pytest.raises(UnreadableFile) as raised:
        parse_file(scanned)
    assert raised.value.reason == "cannot be read (KeyError: 'missing')"


def test_importing_and_scanning_load_no_pdf_or_html_library(tmp_path: Path) -> None:
    write(tmp_path, "a.pdf", pdf_bytes([["Text."]]))
    write(tmp_path, "b.html", "<p>Page.</p>")
    script = (
        "import sys; from docqa.documents import scan_corpus; "
        f"files, _ = scan_corpus({str(tmp_path)!r}); "
        "print(len(files), sorted(name for name in ('pypdf', 'bs4', 'lxml') if name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split("\n")[0] == "2 []"


def test_an_unchanged_file_is_not_read_again_to_be_hashed_but_a_changed_or_recent_one_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from docqa.documents import loading

    (tmp_path / "a.txt").write_text("The ferry left at noon.")
    opened: list[str] = []
    real_open = Path.open

    def counting_open(self: Path, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        opened.append(self.name)
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", counting_open)
    known = loading.KnownHashes()
    scan_corpus(tmp_path, known=known)
    scan_corpus(tmp_path, known=known)
    assert opened == ["a.txt", "a.txt"]  # written just now: its times could hide a second write

    monkeypatch.setattr(loading, "RACY_SECONDS", -1.0)
    opened.clear()
    [first], _ = scan_corpus(tmp_path, known=known)
    [again], _ = scan_corpus(tmp_path, known=known)
    assert opened == ["a.txt"] and again.content_hash == first.content_hash
    scan_corpus(tmp_path)  # a scan without known hashes reads every file, and keeps nothing
    scan_corpus(tmp_path, known=loading.KnownHashes())
    assert opened == ["a.txt"] * 3 and len(known) == 1
    (tmp_path / "a.txt").write_text("The ferry left at four.")
    opened.clear()
    [changed], _ = scan_corpus(tmp_path, known=known)
    assert opened == ["a.txt"]
    assert changed.content_hash == hashlib.sha256(b"The ferry left at four.").hexdigest()
