"""Hostile and unusual files, each built here: rows past a sheet's recorded size, long Word files,
and skip reasons a user can act on."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from format_files import docx_bytes, xlsx_bytes

from docqa.documents.docx_format import parse_docx
from docqa.documents.xlsx_format import parse_xlsx


def _rezipped(data: bytes, change: dict[str, object]) -> bytes:
    """The ZIP archive ``data`` with each part named in ``change`` replaced (bytes) or rewritten (a function)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            part = source.read(item.filename)
            new = change.get(item.filename, part)
            target.writestr(item, new(part) if callable(new) else new)  # type: ignore[operator]
    return out.getvalue()


def test_an_xlsx_whose_dimension_understates_its_rows_is_read_whole() -> None:
    rows: list[list[object]] = [["Row", "Fact"]] + [[n, f"fact number {n}"] for n in range(1, 100)]
    rows[50][1] = "the heron count was 417"
    data = _rezipped(
        xlsx_bytes({"Facts": rows}),
        {"xl/worksheets/sheet1.xml": lambda part: re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:B2"', part)},
    )
    assert b'<dimension ref="A1:B2"' in zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    text = parse_xlsx(data).text
    assert "the heron count was 417" in text
    assert all(f"fact number {n}" in text for n in (1, 2, 3, 49, 51, 99))


def _many_paragraphs(count: int) -> bytes:
    """A Word document of ``count`` plain paragraphs, a heading in a custom-named style, and a closing heading."""
    base = docx_bytes([("Heading 2", "Closing part"), ("", "The last words.")])

    def body(part: bytes) -> bytes:
        paragraphs = "".join(f"<w:p><w:r><w:t>Paragraph {n} of the file.</w:t></w:r></w:p>" for n in range(count))
        heading = '<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Middle part</w:t></w:r></w:p>'
        after = "<w:p><w:r><w:t>After the middle.</w:t></w:r></w:p>"
        return part.replace(b"<w:body>", f"<w:body>{paragraphs}{heading}{after}".encode(), 1)

    return _rezipped(base, {"word/document.xml": body})


def test_a_long_word_file_reads_its_styles_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from docx.text.paragraph import Paragraph

    data = _many_paragraphs(3000)

    def per_paragraph_lookup(self: Paragraph) -> None:
        raise AssertionError("a paragraph's style was looked up on its own")

    monkeypatch.setattr(Paragraph, "style", property(per_paragraph_lookup))
    document = parse_docx(data)
    assert document.text.startswith("Paragraph 0 of the file.")
    assert "Paragraph 2999 of the file." in document.text
    labels = [label for _, label in document.locations]
    assert labels == ["Middle part", "Middle part \u203a Closing part"]


# ----- skip reasons in words a user can act on ----------------------------------------------

_BOMB_DTD = (
    '<!DOCTYPE lolz [<!ENTITY lol0 "lol">'
    + "".join(f'<!ENTITY lol{level} "' + f"&lol{level - 1};" * 10 + '">' for level in range(1, 10))
    + "]>"
)


def test_an_entity_bomb_e_book_is_skipped_as_one() -> None:
    from format_files import epub_bytes

    from docqa.documents.common import UnreadableFile
    from docqa.documents.epub_format import parse_epub

    def bomb(part: bytes) -> bytes:
        declaration, rest = part.split(b"?>", 1)
        rest = re.sub(rb"(<dc:title[^>]*>)", rb"\1&lol9;", rest, count=1)
        return declaration + b"?>" + _BOMB_DTD.encode() + rest

    data = _rezipped(epub_bytes([("One", "The first chapter.")]), {"EPUB/content.opf": bomb})
    with pytest.raises(UnreadableFile) as raised:
        parse_epub(data)
    reason = raised.value.reason
    assert reason.startswith("damaged EPUB e-book: its XML defines entities that would expand"), reason


def test_a_csv_field_past_the_limit_is_explained() -> None:
    from docqa.documents.common import UnreadableFile
    from docqa.documents.csv_format import parse_csv

    data = b'name,notes\nOne,"an opening quote that never closes ' + b"word " * 30_000 + b"\nTwo,short\n"
    with pytest.raises(UnreadableFile) as raised:
        parse_csv(data)
    assert raised.value.reason.startswith(
        "damaged CSV: a field runs on past 131,072 characters, most likely from a quotation mark that is never closed"
    ), raised.value.reason


def test_a_parser_failing_inside_lxml_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lxml import etree

    from docqa.documents import load_documents
    from docqa.documents.formats import FORMAT_BY_SUFFIX, Format

    def failing(data: bytes) -> tuple[str, str, str | None]:
        raise etree.XPathEvalError("unknown error")

    monkeypatch.setitem(FORMAT_BY_SUFFIX, ".html", Format("HTML", (".html",), lambda head: None, failing))
    (tmp_path / "page.html").write_text("<p>Page.</p>")
    (tmp_path / "good.txt").write_text("Good text.")
    documents, skipped = load_documents(tmp_path)
    assert [document.source for document in documents] == ["good.txt"]
    assert skipped == {
        "page.html": "cannot be read: a part of it is missing or its XML is malformed (XPathEvalError: unknown error)"
    }


# ----- a file over its time budget is read once, not at every update -------------------------


def test_a_file_over_its_time_budget_is_not_read_again_until_it_changes_or_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pdfs import pdf_bytes

    from docqa.documents import worker
    from docqa.documents.slow_files import FILE_NAME, RETRY_HINT
    from docqa.indexing import Indexer
    from docqa.store import IndexSettings
    from docqa.store.sqlite import SQLiteStore

    settings = IndexSettings(embedding_model="none", chunk_tokens=200, chunk_overlap=1)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = [[f"Line {line} says something plain." for line in range(300)]]
    (corpus / "slow.pdf").write_bytes(pdf_bytes(lines, compress=True))  # a few tenths of a second of pypdf
    (corpus / "notes.txt").write_text("The ferry leaves at noon.\n")
    parsed: list[str] = []
    parse_file = worker.WorkerPool.parse_file
    monkeypatch.setattr(
        worker.WorkerPool, "parse_file", lambda pool, file: parsed.append(file.source) or parse_file(pool, file)
    )
    monkeypatch.setattr(worker, "PARSE_SECONDS", 0.05)

    def update(**options: bool) -> dict[str, object]:
        parsed.clear()  # a fresh store object, as a new process would open
        return Indexer(SQLiteStore(tmp_path / "index"), None, settings).update(corpus, **options).to_dict()

    first = update()
    reason = "reading it took longer than 0.05 s, the limit for one file" + RETRY_HINT
    assert first["added"] == ["notes.txt"] and first["skipped"] == {"slow.pdf": reason}
    assert sorted(parsed) == ["notes.txt", "slow.pdf"]
    assert (tmp_path / "index" / FILE_NAME).is_file()

    (corpus / "more.txt").write_text("The bus leaves at one.\n")
    second = update()  # the upload of a small file: the slow one is not read again
    assert parsed == ["more.txt"] and second["added"] == ["more.txt"] and second["skipped"] == {"slow.pdf": reason}

    monkeypatch.setattr(worker, "PARSE_SECONDS", 60.0)
    assert update()["skipped"] == {"slow.pdf": reason} and parsed == []  # remembered, whatever the budget now
    retried = update(retry_skipped=True)
    assert parsed == ["slow.pdf"] and retried["added"] == ["slow.pdf"] and retried["skipped"] == {}, retried



def slow_on_first_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str], Any]:
    """A corpus of one file whose first read runs out of time; returns the folder, the sources read
    so far (as reads happen), and the parser in place before."""
    from docqa.documents import worker
    from docqa.documents.common import UnreadableFile

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "report.txt").write_text("A report that reads slowly.\n")
    parsed: list[str] = []
    parse_file = worker.WorkerPool.parse_file

    def slow_once(pool: worker.WorkerPool, file: object) -> object:
        parsed.append(file.source)  # type: ignore[attr-defined]
        if len(parsed) == 1:
            raise UnreadableFile("reading it took longer than 60 s, the limit for one file", transient=True)
        return parse_file(pool, file)  # type: ignore[arg-type]

    monkeypatch.setattr(worker.WorkerPool, "parse_file", slow_once)
    return corpus, parsed, parse_file


def test_a_file_over_its_time_budget_is_read_again_once_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from docqa.documents import worker
    from docqa.documents.common import UnreadableFile
    from docqa.documents.slow_files import RETRY_HINT
    from docqa.indexing import Indexer
    from docqa.store import IndexSettings
    from docqa.store.sqlite import SQLiteStore

    settings = IndexSettings(embedding_model="none", chunk_tokens=200, chunk_overlap=1)
    corpus, parsed, parse_file = slow_on_first_read(tmp_path, monkeypatch)
    store = SQLiteStore(tmp_path / "index")
    assert Indexer(store, None, settings).update(corpus).skipped["report.txt"].endswith(RETRY_HINT)
    assert Indexer(store, None, settings).update(corpus).skipped["report.txt"].endswith(RETRY_HINT)
    assert parsed == ["report.txt"]
    (corpus / "report.txt").write_text("A report that reads slowly, edited.\n")
    assert Indexer(store, None, settings).update(corpus).added == ["report.txt"]
    assert parsed == ["report.txt", "report.txt"]
    # Another transient failure (here the worker stopping) is not remembered: the next update reads it.
    (corpus / "other.txt").write_text("Another report.\n")
    failures = iter([UnreadableFile("the worker stopped while reading it (exit code -9)", transient=True)])

    def stops_once(pool: worker.WorkerPool, file: object) -> object:
        parsed.append(file.source)  # type: ignore[attr-defined]
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return parse_file(pool, file)  # type: ignore[arg-type]

    monkeypatch.setattr(worker.WorkerPool, "parse_file", stops_once)
    assert Indexer(store, None, settings).update(corpus).skipped == {
        "other.txt": "the worker stopped while reading it (exit code -9)"
    }
    assert Indexer(store, None, settings).update(corpus).added == ["other.txt"]


def test_docqa_index_retry_skipped_reads_a_slow_file_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from docqa.cli import main

    corpus, parsed, _ = slow_on_first_read(tmp_path, monkeypatch)
    command = ["index", "--corpus", str(corpus), "--index", str(tmp_path / "index"), "--embedding-model", "none"]
    assert main([*command, "--json"]) == 0
    assert "not read again until the file changes" in json.loads(capsys.readouterr().out)["skipped"]["report.txt"]
    assert main([*command, "--json"]) == 0 and parsed == ["report.txt"]
    assert json.loads(capsys.readouterr().out)["added"] == []
    assert main([*command, "--json", "--retry-skipped"]) == 0 and parsed == ["report.txt", "report.txt"]
    assert json.loads(capsys.readouterr().out)["added"] == ["report.txt"]
