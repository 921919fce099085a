"""Reliability: odd questions, bad files and damaged indexes get a clear message, never a traceback."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import faiss
import numpy as np
import pypdf
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from pdfs import pdf_bytes

import docqa.indexing as indexing_module
from docqa import Answer, Assistant, DocqaError
from docqa.chunking import chunk_document
from docqa.cli import main
from docqa.documents import Format, load_documents
from docqa.documents.formats import FORMAT_BY_SUFFIX
from docqa.embedding import Embedder
from docqa.errors import IndexLoadError
from docqa.indexing import Indexer
from docqa.schema import Document, IndexReport
from docqa.store import FORMAT_VERSION, IndexSettings, SQLiteStore
from docqa.store.sqlite_schema import fts_query
from docqa.text import MAX_QUERY_WORDS

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
LEXICAL = IndexSettings(embedding_model="none", chunk_tokens=200, chunk_overlap=1)
NO_MODELS = ["--embedding-model", "none", "--reader-model", "none"]
SONG_QUESTION = "Who sang the song that played before the rally speeches?"


def index_documents(
    index: SQLiteStore,
    documents: list[Document],
    settings: IndexSettings = LEXICAL,
    embedder: Embedder | None = None,
    **options: object,
) -> IndexReport:
    """Make ``index`` hold exactly ``documents``, as ``docqa index`` would for a corpus of them."""
    return Indexer(index, embedder, settings).update(None, documents=documents, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def shared_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("shared") / "corpus"
    shutil.copytree(CORPUS, folder)
    return folder


@pytest.fixture(scope="module")
def lexical(shared_corpus: Path) -> Assistant:
    return Assistant(shared_corpus, shared_corpus.parent / "lexical-index", embedding_model="none", reader_model="none")


@pytest.fixture(scope="module")
def extractive(shared_corpus: Path, tiny_embedder_path: Path, tiny_reader_path: Path) -> Assistant:
    return Assistant(
        shared_corpus,
        shared_corpus.parent / "dense-index",
        embedding_model=str(tiny_embedder_path),
        reader_model=str(tiny_reader_path),
        confidence_threshold=0.0,
    )


# ----- questions -------------------------------------------------------------------------

ODD_QUESTIONS = {
    "only-punctuation": "?!?... ;;; --- (((\"' ** ^^",
    "fts5-syntax": 'NEAR("song" rally) AND NOT * OR "unbalanced -col:umn',
    "chinese": "谁在集会演讲之前唱了这首歌\uff1f",
    "arabic": "من غنى الأغنية قبل خطابات التجمع؟",
    "hindi": "रैली के भाषणों से पहले गाना किसने गाया?",
    "cyrillic": "Кто пел песню перед митингом?",
    "emoji": "🎤🎶❓ 👩‍👧 🇺🇸",
    "combining-marks": "Who sang the son\u0301g that played befo\u0308re the rally speeches?",
    "control-characters": "Who\x00 sang\x1b the song\x07 that played before\r\n the rally speeches?",
    "lone-surrogates": "Who sang \ud800the song that played before the rally speeches?\udfff",
    "bidi-and-zero-width": "\u202eWho sang\u200b the song\u2066 that played before the rally speeches?",
    "very-long": SONG_QUESTION + " blorp" * 3000,
}
SAME_AS_CLEAN = {"control-characters", "lone-surrogates", "bidi-and-zero-width"}  # cleaned to SONG_QUESTION
FOUND = {*SAME_AS_CLEAN, "combining-marks", "very-long"}
UNMATCHED = {"only-punctuation", "chinese", "arabic", "hindi", "cyrillic", "emoji"}


def assert_clear_reply(assistant: Assistant, answer: Answer) -> None:
    """A reply with a clean question, exact citations, and nothing that cannot be sent as UTF-8."""
    assert isinstance(answer, Answer)
    assert answer.question and len(answer.question) <= 1000
    assert not any(unicodedata.category(char) in {"Cc", "Cf", "Cs"} for char in answer.question)
    json.dumps(answer.to_dict(), ensure_ascii=False).encode("utf-8")
    if answer.abstained:
        assert answer.message and not answer.citations
        return
    citation = answer.citations[0]
    assert answer.text == assistant.document_text(citation.source)[citation.start : citation.end]


@pytest.mark.parametrize("name", ODD_QUESTIONS)
def test_odd_questions_get_a_clear_reply_in_the_lexical_mode(lexical: Assistant, name: str) -> None:
    answer = lexical.ask(ODD_QUESTIONS[name])
    assert_clear_reply(lexical, answer)
    if name in FOUND:
        assert answer.passages[0].chunk.source.startswith("001_")
        assert "Elton John" in answer.passages[0].chunk.text
    if name in SAME_AS_CLEAN:
        assert not answer.abstained and answer.text == lexical.ask(SONG_QUESTION).text
    if name in UNMATCHED:
        assert answer.abstained and answer.message == "No passage of the documents matches the question."
    if name == "very-long":
        assert "cut to its first 1000 characters" in answer.message


@pytest.mark.parametrize("name", ODD_QUESTIONS)
def test_odd_questions_get_a_clear_reply_from_the_models(extractive: Assistant, name: str) -> None:
    answer = extractive.ask(ODD_QUESTIONS[name])
    assert extractive.status().mode == "extractive" and extractive.status().retrieval == "hybrid"
    assert_clear_reply(extractive, answer)
    assert answer.passages  # dense search finds neighbours for any text
    if name == "very-long":
        assert "cut to its first 1000 characters" in answer.message
        assert "cut to fit the reader model" in answer.message


@pytest.mark.parametrize("question", ["", " \t\n ", "\x00\x01\x1b", "\u200b\u200d\ufeff", "\ud800\udfff"])
def test_questions_with_nothing_to_ask_are_refused_with_a_message(lexical: Assistant, question: str) -> None:
    with pytest.raises(DocqaError, match="the question is empty"):
        lexical.ask(question)


@pytest.mark.parametrize("name", ["fts5-syntax", "lone-surrogates", "emoji", "very-long"])
def test_odd_questions_on_the_command_line_print_json(
    shared_corpus: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folders = ["--corpus", str(shared_corpus), "--index", str(shared_corpus.parent / "cli-index")]
    assert main(["ask", ODD_QUESTIONS[name], *folders, *NO_MODELS, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["question"] and isinstance(payload["abstained"], bool)


# ----- the FTS5 query --------------------------------------------------------------------

ANY_CHARACTER = st.characters(codec=None, exclude_categories=())  # surrogates included
STORABLE_CHARACTER = st.characters(codec="utf-8")
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def unicode_index(tmp_path_factory: pytest.TempPathFactory) -> SQLiteStore:
    texts = [
        "Ελληνικά κείμενα και λέξεις.",
        "日本語のテキスト。東京。",
        "नमस्ते दुनिया",
        "مرحبا بالعالم",
        "naïve café ①② x²",
    ]
    documents = [Document(f"{n}.txt", text, f"t{n}", f"{n:064d}") for n, text in enumerate(texts)]
    index = SQLiteStore(tmp_path_factory.mktemp("unicode-index"))
    index_documents(index, documents)
    return index


@FAST
@given(st.text(ANY_CHARACTER, max_size=300))
def test_no_query_text_causes_an_fts5_error(unicode_index: SQLiteStore, text: str) -> None:
    hits = unicode_index.search_bm25(text, 5)
    assert all(isinstance(chunk_id, int) and score > 0 for chunk_id, score in hits)


def test_long_queries_keep_their_first_terms() -> None:
    words = [f"w{number}" for number in range(5000)]
    query = fts_query(" ".join(words))
    assert query.split(" OR ") == [f'"{word}"' for word in words[:MAX_QUERY_WORDS]]


@pytest.mark.parametrize(
    ("word", "stored"),
    [
        ("nai\u0308ve", "naïve"),  # decomposed in the question, composed in the text
        ("naïve", "nai\u0308ve"),
        ("हिन्दी", "हिन्दी"),  # vowel signs and virama are combining marks
        ("\U000f0000abc", "\U000f0000abc"),  # a private-use character is part of a word for FTS5
    ],
)
def test_words_with_combining_marks_stay_whole(tmp_path: Path, word: str, stored: str) -> None:
    index = SQLiteStore(tmp_path)
    index_documents(index, [document_of("word.txt", f"zz {stored} zz"), document_of("other.txt", "zz zz")])
    assert found_sources(index, word) == ["word.txt"]


@pytest.fixture(scope="module")
def scratch_index(tmp_path_factory: pytest.TempPathFactory) -> SQLiteStore:
    """One index that each example of a property test fills with its own document."""
    return SQLiteStore(tmp_path_factory.mktemp("scratch-index"))


def document_of(source: str, text: str) -> Document:
    return Document(source, text, source, hashlib.sha256(text.encode("utf-8")).hexdigest())


def found_sources(index: SQLiteStore, query: str) -> list[str]:
    hits = index.search_bm25(query, 5)
    return [passage.chunk.source for passage in index.passages([(i, score, 1, None) for i, score in hits])]


@FAST
@given(st.text(STORABLE_CHARACTER, min_size=1, max_size=12))
@example("\U000118a0")  # Python lower-cases this letter; FTS5, which knows Unicode 6.1, does not
@example("0\U0002ebe1")  # unknown to Python 3.11; FTS5 keeps it inside the token "0\U0002ebe1"
def test_a_document_fts5_finds_by_a_whole_word_is_found_by_its_query(scratch_index: SQLiteStore, word: str) -> None:
    assume("\x00" not in word)
    index_documents(scratch_index, [document_of("word.txt", f"zz {word} zz"), document_of("other.txt", "zz zz")])
    whole_word = '"' + word.replace('"', '""') + '"'  # FTS5 splits a quoted phrase into its own tokens
    with contextlib.closing(sqlite3.connect(scratch_index.db_path)) as db:
        assume(db.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (whole_word,)).fetchone()[0])
    assert found_sources(scratch_index, word) == ["word.txt"]


# ----- files -----------------------------------------------------------------------------


def blank_pdf() -> bytes:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


BRIDGE_NOTES = "sub dir/bridge notes \u00e9t\u00e9 \u65e5\u672c.md"
GOOD_FILES: dict[str, bytes] = {
    "lighthouse.txt": b"The lighthouse keeper counted forty ships in the harbour.\n",
    "copy of lighthouse.txt": b"The lighthouse keeper counted forty ships in the harbour.\n",
    BRIDGE_NOTES: b"# Bridges\n\nThe old stone bridge was rebuilt in 1902.\n",
    "quay.txt": "The caf\u00e9 on the quay serves cr\u00e8me br\u00fbl\u00e9e until midnight.".encode("cp1252"),
    "observatory.txt": "The observatory telescope weighs nine tonnes.".encode("utf-16"),
    "museum.html": b"<p>The museum <b>garden <div>holds twelve marble statues &amp; a fountain<p>closing words",
    "bakery.txt": "The na\u00efve baker\u2019s oven \u201cburned\u201d twelve loaves ".encode() + b"\xff at dawn.",
}
BAD_FILES: dict[str, tuple[bytes, str]] = {
    "empty.txt": (b"", "empty"),
    "blank.md": (b" \n\t\r\n ", "empty"),
    "image.txt": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 8, "binary file"),
    "invalid.txt": (bytes(range(0x80, 0x100)) * 2, "not valid text"),
    "scan.pdf": (blank_pdf(), "PDF has no text layer"),
    "damaged.pdf": (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage", "damaged PDF"),
}
QUESTIONS = {
    "How many ships did the lighthouse keeper count?": ({"lighthouse.txt", "copy of lighthouse.txt"}, "forty"),
    "What does the café on the quay serve?": ({"quay.txt"}, "crème brûlée"),
    "How much does the observatory telescope weigh?": ({"observatory.txt"}, "nine tonnes"),
    "How many marble statues does the museum garden hold?": ({"museum.html"}, "twelve marble statues"),
    "When was the old stone bridge rebuilt?": ({BRIDGE_NOTES}, "1902"),
    "How many loaves did the baker's oven burn?": ({"bakery.txt"}, "twelve loaves"),
}


def symlink(link: Path, target: Path) -> None:
    try:
        os.symlink(target, link)
    except (OSError, NotImplementedError):
        pytest.skip("symbolic links are not available here")


def mixed_folder(root: Path) -> tuple[Path, dict[str, str]]:
    """A corpus of good and bad files, and the reasons the bad ones are expected to be skipped for."""
    corpus = root / "corpus"
    for name, content in GOOD_FILES.items():
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_bytes(content)
    expected = {name: reason for name, (_, reason) in BAD_FILES.items()}
    for name, (content, _) in BAD_FILES.items():
        (corpus / name).write_bytes(content)
    with open(corpus / "huge.txt", "wb") as huge:  # sparse: refused by its size before it is read
        huge.truncate(21 * 2**20)
    expected["huge.txt"] = "larger than 20 MB"
    (root / "secret.txt").write_text("Outside the corpus.")
    symlink(corpus / "leak.txt", root / "secret.txt")
    expected["leak.txt"] = "link to a place outside the corpus folder"
    symlink(corpus / "dangling.txt", root / "missing.txt")
    expected["dangling.txt"] = "broken link"
    os.mkfifo(corpus / "pipe.txt")
    expected["pipe.txt"] = "not a regular file"
    (corpus / "slides.key").write_bytes(b"PK\x03\x04 not indexed")  # a type docqa does not read
    try:
        with open(os.fsencode(corpus) + b"/caf\xe9.txt", "wb") as latin1_name:
            latin1_name.write(b"A file whose name is not UTF-8.")
        expected["caf\ufffd.txt"] = "the file name is not valid UTF-8; rename the file"
    except OSError:  # file systems that only store UTF-8 names refuse it
        pass
    return corpus, expected


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX only")
def test_a_mixed_folder_indexes_the_good_files_and_lists_the_bad_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    corpus, expected = mixed_folder(tmp_path)
    folders = ["--corpus", str(corpus), "--index", str(tmp_path / "index")]
    with caplog.at_level(logging.INFO, logger="docqa.documents"):
        assert main(["index", *folders, *NO_MODELS, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["added"] == sorted(GOOD_FILES)
    assert set(report["skipped"]) == set(expected)
    for source, reason in expected.items():
        assert report["skipped"][source].startswith(reason), source
    assert any("copy of lighthouse.txt, lighthouse.txt" in record.getMessage() for record in caplog.records)

    assert main(["index", *folders, *NO_MODELS]) == 0
    out = capsys.readouterr().out
    assert f"0 added, 0 updated, 0 removed, {len(GOOD_FILES)} unchanged" in out
    assert all(f"Skipped {source}: " in out for source in expected)

    assistant = Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model="none")
    for question, (sources, answer_text) in QUESTIONS.items():
        answer = assistant.ask(question)
        assert answer.citations[0].source in sources, question
        assert answer_text in answer.text
        assert_clear_reply(assistant, answer)


def test_a_file_whose_text_outgrows_the_limit_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "small.txt").write_text("Tiny.")
    pdf = pdf_bytes([["word " * 2000]], compress=True)
    (tmp_path / "packed.pdf").write_bytes(pdf)
    assert len(pdf) < 1000
    documents, skipped = load_documents(tmp_path, max_file_bytes=1000)
    assert [document.source for document in documents] == ["small.txt"]
    assert skipped == {"packed.pdf": "its text is longer than 1,000 characters"}
    documents, skipped = load_documents(tmp_path, max_file_bytes=20_000)
    assert len(documents[0].text) > 9000 and skipped == {}


def test_a_loader_failing_unexpectedly_skips_only_that_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "good.txt").write_text("Good text.")
    (tmp_path / "page.html").write_text("<p>Page.</p>")

    def broken_parser(data: bytes) -> tuple[str, str, str | None]:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setitem(FORMAT_BY_SUFFIX, ".html", Format("HTML", (".html",), lambda head: None, broken_parser))
    documents, skipped = load_documents(tmp_path)
    assert [document.source for document in documents] == ["good.txt"]
    assert skipped == {
        "page.html": "cannot be read: its content is nested too deeply to be read"
        " (RecursionError: maximum recursion depth exceeded)"
    }


def test_a_page_claiming_utf16_in_ascii_is_read_as_what_it_is(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_bytes(b'<meta charset="utf-16"><p>Plain words here.</p>')
    documents, _ = load_documents(tmp_path)
    assert documents[0].text == "Plain words here."


TEXT_PIECES = st.sampled_from(
    ["\n", "\r\n", "\r", "\n\n", ". ", "? ", "\u3002", "date 2021-01-06 ", " date 2020-02-30 ", "\ufeff", "\t", "Mr. "]
)
ODD_PIECES = st.sampled_from(
    ["e\u0301", "\U0001f600", "\u65e5\u672c", "\u0645\u0631\u062d\u0628\u0627", "\u2028", "\x0c"]
)
TEXT_WORDS = st.sampled_from(["The", "police", "said", "a", "I", "x1", "naïve", "U.S.", "3.5"])
FILE_TEXTS = st.lists(
    st.one_of(st.text(STORABLE_CHARACTER, max_size=8), TEXT_PIECES, ODD_PIECES, TEXT_WORDS), max_size=60
).map("".join)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FILE_TEXTS)
def test_any_text_file_loads_chunks_and_round_trips_through_the_index(scratch_index: SQLiteStore, text: str) -> None:
    with tempfile.TemporaryDirectory() as name:
        (Path(name) / "doc.txt").write_bytes(text.encode("utf-8"))
        documents, skipped = load_documents(Path(name))
    if skipped:
        assert skipped["doc.txt"] in {"empty", "binary file", "it holds no words, only punctuation or symbols"}
        return
    [document] = documents
    normalised = text.replace("\r\n", "\n").replace("\r", "\n").removeprefix("\ufeff")
    assert document.text and document.text in normalised
    chunks = chunk_document(document, max_tokens=12, overlap_sentences=1)
    assert chunks and all(document.text[c.start : c.end] == c.text for c in chunks)

    index_documents(scratch_index, documents, IndexSettings(embedding_model="none", chunk_tokens=12, chunk_overlap=1))
    stored_text = scratch_index.document_text("doc.txt")
    assert stored_text == document.text
    with contextlib.closing(sqlite3.connect(scratch_index.db_path)) as db:
        rows = db.execute("SELECT start, end, text FROM chunks ORDER BY position").fetchall()
    assert rows == [(c.start, c.end, c.text) for c in chunks]
    assert all(stored_text[start:end] == chunk_text for start, end, chunk_text in rows)


# ----- damaged indexes -------------------------------------------------------------------


def extra_documents(folder: Path, count: int) -> None:
    for number in range(count):
        sentences = " ".join(
            f"Harbour note {number}.{line}: the keeper logged ship {line} at dawn." for line in range(40)
        )
        (folder / f"extra-{number:02d}.txt").write_text(sentences)


def checkpoint(database: Path) -> None:
    with contextlib.closing(sqlite3.connect(database)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@pytest.fixture
def built(tmp_path: Path) -> list[str]:
    """CLI folder arguments of a lexical index of the shipped corpus and 30 more files, fully checkpointed."""
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    extra_documents(corpus, 30)
    folders = ["--corpus", str(corpus), "--index", str(tmp_path / "index")]
    assert main(["index", *folders, *NO_MODELS]) == 0
    checkpoint(tmp_path / "index" / "index.sqlite")
    return folders


def read_outcomes(folder: Path) -> dict[str, str]:
    """Each read of the index: 'ok', or the class of the error it raised."""
    with contextlib.closing(SQLiteStore(folder)) as index:
        return _read_outcomes(index)


def _read_outcomes(index: SQLiteStore) -> dict[str, str]:
    outcomes = {}
    reads = {
        "manifest": index.manifest,
        "settings": index.settings,
        "has_vectors": index.has_vectors,
        "count_passages": index.count_passages,
        "documents": index.documents,
        "document_text": lambda: [index.document_text(f"extra-{number:02d}.txt") for number in range(30)],
        "search_bm25": lambda: index.search_bm25("keeper logged ship harbour", 10),
        "passages": lambda: index.passages([(chunk_id, 1.0, 1, None) for chunk_id in range(1, 400, 7)]),
        "search_dense": lambda: index.search_dense(np.ones(8, dtype=np.float32), 5),
    }
    for name, read in reads.items():
        try:
            read()
            outcomes[name] = "ok"
        except IndexLoadError as error:
            assert "docqa index --rebuild" in str(error)
            outcomes[name] = "IndexLoadError"
    return outcomes


def expect_user_error(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("docqa: error:") and message in err and len(err.splitlines()) == 1


def assert_answers(folders: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", SONG_QUESTION, *folders, *NO_MODELS]) == 0
    assert "Elton John" in capsys.readouterr().out


@pytest.mark.parametrize("fraction", [0.02, 0.25, 0.5, 0.9])
def test_a_truncated_database_is_reported_with_the_fix_and_rebuilt(
    built: list[str], fraction: float, capsys: pytest.CaptureFixture[str]
) -> None:
    database = Path(built[3]) / "index.sqlite"
    with open(database, "r+b") as handle:
        handle.truncate(int(database.stat().st_size * fraction))
    outcomes = read_outcomes(Path(built[3]))
    assert outcomes["manifest"] == "IndexLoadError"
    expect_user_error(["ask", SONG_QUESTION, *built, *NO_MODELS], "--rebuild", capsys)
    expect_user_error(["index", *built, *NO_MODELS], "--rebuild", capsys)
    assert main(["index", "--rebuild", *built, *NO_MODELS]) == 0
    assert list(Path(built[3]).glob("index.sqlite.damaged-*"))
    assert_answers(built, capsys)


def test_once_a_database_is_set_aside_every_thread_reads_the_rebuilt_one(built: list[str]) -> None:
    folder = Path(built[3])
    manifest = SQLiteStore(folder).manifest()
    assert manifest is not None
    set_manifest_value(folder, json.dumps({**manifest, "format_version": FORMAT_VERSION + 1}))
    index = SQLiteStore(folder)

    def count_in_another_thread() -> int | str:
        try:
            return index.count_passages()
        except IndexLoadError:
            return "IndexLoadError"

    with ThreadPoolExecutor(max_workers=1) as other_thread:  # the same thread keeps its connection
        assert other_thread.submit(count_in_another_thread).result() == "IndexLoadError"
        documents, _ = load_documents(Path(built[1]))
        report = index_documents(index, documents, rebuild=True)
        checkpoint(folder / "index.sqlite")  # the new pages leave the write-ahead log, which any connection reads
        assert other_thread.submit(count_in_another_thread).result() == report.chunks > 0
    index.close()


@pytest.mark.parametrize("seed", range(6))
def test_random_damage_is_an_index_error_or_harmless_and_a_rebuild_repairs_it(
    built: list[str], seed: int, capsys: pytest.CaptureFixture[str]
) -> None:
    database = Path(built[3]) / "index.sqlite"
    data = bytearray(database.read_bytes())
    rng = random.Random(seed)
    for _ in range(200):
        data[rng.randrange(100, len(data))] = rng.randrange(256)
    database.write_bytes(bytes(data))
    read_outcomes(Path(built[3]))  # every read either works or says what to do
    assert main(["index", "--rebuild", *built, *NO_MODELS]) == 0
    capsys.readouterr()
    assert set(read_outcomes(Path(built[3])).values()) == {"ok"}
    assert_answers(built, capsys)


def set_manifest_value(index_folder: Path, value: str) -> None:
    with contextlib.closing(sqlite3.connect(index_folder / "index.sqlite")) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'manifest'", (value,))
        db.commit()


def test_an_index_of_a_newer_format_says_what_to_do(built: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    folder = Path(built[3])
    manifest = SQLiteStore(folder).manifest()
    assert manifest is not None
    set_manifest_value(folder, json.dumps({**manifest, "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(IndexLoadError, match="newer version of docqa") as raised:
        SQLiteStore(folder).manifest()
    assert "upgrade docqa" in str(raised.value) and "--rebuild" in str(raised.value)
    expect_user_error(["ask", SONG_QUESTION, *built, *NO_MODELS], "newer version of docqa", capsys)
    expect_user_error(["index", *built, *NO_MODELS], "newer version of docqa", capsys)
    assert main(["index", "--rebuild", *built, *NO_MODELS]) == 0
    assert list(folder.glob(f"index.sqlite.format-{FORMAT_VERSION + 1}-*"))
    assert_answers(built, capsys)


@pytest.mark.parametrize(
    ("value", "reason"),
    [("{not json", "Expecting property name"), ('{"format_version": 1}', "lacks"), ("[]", "no format version")],
)
def test_a_damaged_manifest_says_what_to_do(
    built: list[str], value: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    set_manifest_value(Path(built[3]), value)
    with pytest.raises(IndexLoadError, match=r"manifest .* is damaged") as raised:
        SQLiteStore(Path(built[3])).manifest()
    assert reason in str(raised.value) and "--rebuild" in str(raised.value)
    assert main(["index", "--rebuild", *built, *NO_MODELS]) == 0
    assert not list(Path(built[3]).glob("index.sqlite.*-*"))  # its pages are sound: rebuilt in place
    assert_answers(built, capsys)


def test_an_index_of_an_older_format_is_rebuilt(built: list[str]) -> None:
    folder = Path(built[3])
    manifest = SQLiteStore(folder).manifest()
    assert manifest is not None
    set_manifest_value(folder, json.dumps({**manifest, "format_version": FORMAT_VERSION - 1}))
    documents, _ = load_documents(Path(built[1]))
    report = index_documents(SQLiteStore(folder), documents)
    assert report.rebuilt and len(report.added) == len(documents)
    assert SQLiteStore(folder).settings() == LEXICAL


def test_a_missing_or_stale_manifest_copy_and_leftover_files_are_repaired(built: list[str]) -> None:
    folder = Path(built[3])
    mirror = folder / "manifest.json"
    stale = json.loads(mirror.read_text())
    mirror.unlink()
    assert SQLiteStore(folder).manifest() is not None  # the database holds the manifest
    leftovers = [folder / "vectors-7.faiss", folder / ".vectors-8.faiss.tmp", folder / ".manifest.json.tmp"]
    for path in leftovers:
        path.write_bytes(b"left by an interrupted run")
    assert main(["index", *built, *NO_MODELS]) == 0
    assert json.loads(mirror.read_text()) == {**SQLiteStore(folder).manifest(), "files": stale["files"]}
    assert not any(path.exists() for path in leftovers)

    mirror.write_text(json.dumps({**stale, "generation": 0}))
    assert main(["index", *built, *NO_MODELS]) == 0
    assert json.loads(mirror.read_text())["generation"] == stale["generation"]


# ----- vectors ---------------------------------------------------------------------------


@pytest.fixture
def dense(tmp_path: Path, tiny_embedder_path: Path) -> tuple[SQLiteStore, Embedder, list[tuple[int, float]]]:
    """An index with vectors of the tiny embedder, the embedder, and the dense hits for a query."""
    embedder = Embedder(str(tiny_embedder_path))
    documents, _ = load_documents(CORPUS)
    settings = IndexSettings(embedding_model=str(tiny_embedder_path), chunk_tokens=200, chunk_overlap=1)
    index_documents(SQLiteStore(tmp_path / "index"), documents, settings, embedder)
    return (
        SQLiteStore(tmp_path / "index"),
        embedder,
        SQLiteStore(tmp_path / "index").search_dense(query_vector(embedder), 5),
    )


def query_vector(embedder: Embedder) -> np.ndarray:
    return embedder.encode_query("Capitol Police ordered staff to leave")


@pytest.mark.parametrize("keep", [0, 16, 200, -1], ids=["empty", "header-only", "partial", "last-byte-lost"])
def test_a_truncated_vector_file_is_rebuilt_from_the_database(
    dense: tuple[SQLiteStore, Embedder, list[tuple[int, float]]], keep: int, caplog: pytest.LogCaptureFixture
) -> None:
    index, embedder, expected = dense
    vectors = index.folder / index.manifest()["vectors"]
    data = vectors.read_bytes()
    vectors.write_bytes(data[:keep])
    with caplog.at_level(logging.WARNING, logger="docqa.store"):
        assert SQLiteStore(index.folder).search_dense(query_vector(embedder), 5) == expected
    assert any("rebuilding" in record.getMessage() for record in caplog.records)
    assert faiss.read_index(str(vectors)).ntotal == index.manifest()["vectors_count"]


def test_a_vector_file_of_another_index_is_rebuilt(
    dense: tuple[SQLiteStore, Embedder, list[tuple[int, float]]],
) -> None:
    index, embedder, expected = dense
    other = faiss.IndexIDMap2(faiss.IndexFlatIP(index.manifest()["embedding_dimension"]))
    other.add_with_ids(np.eye(3, index.manifest()["embedding_dimension"], dtype=np.float32), np.arange(3))
    faiss.write_index(other, str(index.folder / index.manifest()["vectors"]))
    assert SQLiteStore(index.folder).search_dense(query_vector(embedder), 5) == expected


def test_a_query_vector_of_another_model_is_refused_with_the_fix(
    dense: tuple[SQLiteStore, Embedder, list[tuple[int, float]]],
) -> None:
    index, _, _ = dense
    with pytest.raises(IndexLoadError, match="embedding model it was built with"):
        index.search_dense(np.ones(7, dtype=np.float32), 5)


def test_an_index_built_with_another_embedding_model_is_rebuilt_for_the_one_in_use(
    tmp_path: Path, tiny_embedder_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    with_vectors = Assistant(corpus, tmp_path / "index", embedding_model=str(tiny_embedder_path), reader_model="none")
    with_vectors.index()
    assert SQLiteStore(tmp_path / "index").has_vectors()
    lexical = Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model="none")
    assert "Elton John" in lexical.ask(SONG_QUESTION).text
    assert SQLiteStore(tmp_path / "index").settings() == LEXICAL
    again = Assistant(corpus, tmp_path / "index", embedding_model=str(tiny_embedder_path), reader_model="none")
    assert again.ask(SONG_QUESTION).passages
    assert SQLiteStore(tmp_path / "index").has_vectors() and again.status().retrieval == "hybrid"


# ----- one update at a time, all or nothing ----------------------------------------------


@contextlib.contextmanager
def lock_held(path: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the index lock for ``seconds``."""
    code = (
        "import sys, time\nfrom filelock import FileLock\n"
        "lock = FileLock(sys.argv[1])\nlock.acquire()\nprint('held', flush=True)\ntime.sleep(float(sys.argv[2]))\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([sys.executable, "-c", code, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "held"
        yield process
    finally:
        process.kill()
        process.wait()


def test_a_second_run_gives_up_after_the_lock_timeout_with_a_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    documents, _ = load_documents(CORPUS)
    with (
        lock_held(tmp_path / "index" / "index.lock", 60),
        caplog.at_level(logging.WARNING, logger="docqa.store"),
        pytest.raises(DocqaError, match=r"another indexing run has held .*index\.lock"),
    ):
        index_documents(SQLiteStore(tmp_path / "index", lock_timeout=0.5), documents)
    assert any("waiting for it to finish" in record.getMessage() for record in caplog.records)
    assert SQLiteStore(tmp_path / "index").manifest() is None


def test_a_second_run_waits_for_the_first_to_finish(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    documents, _ = load_documents(CORPUS)
    with lock_held(tmp_path / "index" / "index.lock", 1.0), caplog.at_level(logging.WARNING, logger="docqa.store"):
        started = time.monotonic()
        report = index_documents(SQLiteStore(tmp_path / "index", lock_timeout=60), documents)
        waited = time.monotonic() - started
    assert len(report.added) == 3 and waited > 0.3
    assert any("waiting for it to finish" in record.getMessage() for record in caplog.records)


class FakeEmbedder(Embedder):
    """Unit vectors from a hash of each text; fails on the ``fail_on``-th call to ``encode``."""

    def __init__(self, fail_on: int | None = None) -> None:
        super().__init__("fake")
        self.fail_on = fail_on
        self.calls = 0

    @property
    def dimension(self) -> int:
        return 8

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("the embedder failed")
        rows = [np.random.default_rng(abs(hash(text))).normal(size=8) for text in texts]
        vectors = np.array(rows, dtype=np.float32).reshape(len(texts), 8)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def new_text(number: int) -> str:
    return " ".join(f"New sentence {number}.{line} about ships." for line in range(12))


def test_a_failure_in_a_later_batch_leaves_the_previous_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(indexing_module, "WRITE_BATCH", 4)
    settings = IndexSettings(embedding_model="fake", chunk_tokens=20, chunk_overlap=0)
    old = [Document(f"old-{n}.txt", f"Old note {n} about the harbour.", "old", f"{n:064d}") for n in range(5)]
    new = [Document(f"new-{n}.txt", new_text(n), "new", f"{n + 9:064x}") for n in range(8)]
    index = SQLiteStore(tmp_path / "index")
    index_documents(index, old, settings, FakeEmbedder())
    before = (index.manifest(), index.documents(), index.count_passages())

    with pytest.raises(RuntimeError, match="the embedder failed"):
        index_documents(index, new, settings, FakeEmbedder(fail_on=3))
    reopened = SQLiteStore(tmp_path / "index")
    assert (reopened.manifest(), reopened.documents(), reopened.count_passages()) == before
    assert reopened.search_dense(FakeEmbedder().encode(["Old note 1 about the harbour."])[0], 1)

    progress: list[tuple[float, str]] = []
    report = index_documents(reopened, new, settings, FakeEmbedder(), progress=lambda f, t: progress.append((f, t)))
    assert report.added == sorted(d.source for d in new) and report.removed == sorted(d.source for d in old)
    batches = [fraction for fraction, text in progress if text.startswith("indexed ") and "/" in text]
    assert len(batches) > 3 and batches == sorted(batches)
    assert [path.name for path in (tmp_path / "index").glob("*vectors-*")] == [reopened.manifest()["vectors"]]
