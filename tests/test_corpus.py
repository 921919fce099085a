"""Changing the corpus folder: safe names for uploads, their checks, saving beside or in place of a file of
the same name, deleting."""

from __future__ import annotations

import errno
import html
from pathlib import Path
from typing import BinaryIO

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docqa import corpus as corpus_module
from docqa.assistant import Assistant
from docqa.corpus import (
    MAX_FILES_PER_UPLOAD,
    MAX_NAME_BYTES,
    add_uploads,
    check_upload,
    corpus_file,
    existing_names,
    name_beside,
    remove_uploaded_copies,
    safe_upload_name,
    save_upload,
)
from docqa.documents.formats import MAX_FILE_BYTES
from docqa.errors import DocqaError
from docqa.ui.actions import Actions
from docqa.ui.render import describe_upload


@pytest.mark.parametrize(
    ("client_name", "stored"),
    [
        ("report.txt", "report.txt"),
        ("../../x.txt", "x.txt"),
        ("/etc/passwd", "passwd"),
        ("C:\\Users\\me\\Report.PDF", "Report.pdf"),
        ("..", "document"),
        (".hidden.md", "hidden.md"),
        ("a<script>b.html", "a_script_b.html"),
        ("My   notes (v1.2).md", "My notes _v1_2.md"),
        ("x" * 300 + ".txt", "x" * 100 + ".txt"),
    ],
)
def test_safe_upload_name(client_name: str, stored: str) -> None:
    assert safe_upload_name(client_name) == stored


@given(st.text())
def test_safe_upload_names_stay_in_the_folder(client_name: str) -> None:
    name = safe_upload_name(client_name)
    assert name and "/" not in name and "\\" not in name and "\x00" not in name
    assert not name.startswith(".") and len(name) <= 120


@pytest.mark.parametrize(
    ("name", "size", "head", "problem"),
    [
        ("notes.txt", 10, b"plain text", None),
        ("page.html", 10, b"<html></html>", None),
        ("utf16.txt", 10, b"\xff\xfeh\x00i\x00", None),
        ("paper.pdf", 10, b"%PDF-1.7 ...", None),
        ("tool.exe", 10, b"MZ", "only"),
        ("noext", 10, b"text", "only"),
        ("empty.md", 0, b"", "empty"),
        ("big.txt", MAX_FILE_BYTES + 1, b"text", "limit"),
        ("fake.pdf", 10, b"<html>", "not a PDF"),
        ("binary.txt", 10, b"\x7fELF\x00\x00", "binary"),
    ],
)
def test_check_upload(name: str, size: int, head: bytes, problem: str | None) -> None:
    reason = check_upload(name, size, head)
    assert (reason is None) if problem is None else (problem in (reason or ""))


def test_uploads_are_saved_under_new_names_and_never_overwrite(tmp_path: Path) -> None:
    incoming, corpus = tmp_path / "incoming", tmp_path / "corpus"
    incoming.mkdir()
    corpus.mkdir()
    (corpus / "notes.txt").write_text("the original")
    upload = incoming / "notes.txt"
    upload.write_text("a new file with the same name")
    assert save_upload(upload, corpus).name == "notes-2.txt"
    assert save_upload(upload, corpus).name == "notes-3.txt"
    assert (corpus / "notes.txt").read_text() == "the original"
    bad = incoming / "run.sh"
    bad.write_text("echo hi")
    outcome = add_uploads([upload, bad], corpus)
    assert outcome.saved == ["notes-4.txt"] and outcome.renamed == [("notes.txt", "notes-4.txt")]
    assert [name for name, _ in outcome.rejected] == ["run.sh"] and not (corpus / "run.sh").exists()
    described = html.unescape(describe_upload(outcome))
    assert "notes-4.txt" in described and "Rejected run.sh" in described


def test_too_many_files_at_once_are_all_refused(tmp_path: Path) -> None:
    files = []
    for number in range(MAX_FILES_PER_UPLOAD + 1):
        files.append(tmp_path / f"f{number}.txt")
        files[-1].write_text("text")
    corpus = tmp_path / "corpus"
    outcome = add_uploads(files, corpus)
    assert not outcome.saved and f"at most {MAX_FILES_PER_UPLOAD}" in html.unescape(describe_upload(outcome))
    assert not corpus.exists() or not any(corpus.iterdir())


def test_only_indexed_files_inside_the_corpus_can_be_deleted(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    assert corpus_file(tmp_path, "a.txt", ["a.txt"]) == (tmp_path / "a.txt").resolve()
    with pytest.raises(DocqaError, match="not an indexed document"):
        corpus_file(tmp_path, "b.txt", ["a.txt"])
    with pytest.raises(DocqaError, match="not inside"):
        corpus_file(tmp_path, "../a.txt", ["../a.txt"])


def test_a_name_that_grows_under_nfkc_is_cut_in_bytes_and_saved(tmp_path: Path) -> None:
    client_name = "\u337f" * 25 + ".txt"  # 79 bytes; NFKC makes each character four, 304 bytes in all
    assert len(client_name.encode()) == 79
    name = safe_upload_name(client_name)
    assert name.startswith("\u682a\u5f0f\u4f1a\u793e") and name.endswith(".txt")
    assert len(name.encode()) <= MAX_NAME_BYTES + len(".txt")
    upload = tmp_path / "incoming" / client_name
    upload.parent.mkdir()
    upload.write_text("Shares of the company.")
    outcome = add_uploads([upload, upload], tmp_path / "corpus")
    assert outcome.rejected == [] and outcome.saved == [name, name.replace(".txt", "-2.txt")]
    assert (tmp_path / "corpus" / name).read_text() == "Shares of the company."


@given(st.text(max_size=400))
def test_safe_upload_names_fit_a_file_system_with_a_number_added(client_name: str) -> None:
    assert len(safe_upload_name(client_name).encode()) + len("-999") <= 255


def test_each_file_of_a_batch_has_its_fate_and_a_failed_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    incoming, corpus = tmp_path / "incoming", tmp_path / "corpus"
    incoming.mkdir()
    names = ["first.txt", "full.txt", "third.txt", "fake.pdf"]
    for name in names:
        (incoming / name).write_text(f"The text of {name}.")
    write = corpus_module._write

    def disk_fills_up(file: BinaryIO, data: bytes) -> None:
        if Path(file.name).name == "full.txt":
            write(file, data[:5])
            raise OSError(errno.ENOSPC, "No space left on device")
        write(file, data)

    monkeypatch.setattr(corpus_module, "_write", disk_fills_up)
    outcome = add_uploads([incoming / name for name in names], corpus)
    assert outcome.saved == ["first.txt", "third.txt"] and outcome.renamed == []
    assert outcome.rejected == [
        ("full.txt", "it could not be saved (No space left on device)"),
        ("fake.pdf", "the file is not a PDF (it does not start with %PDF-)"),
    ]
    assert sorted(path.name for path in corpus.iterdir()) == ["first.txt", "third.txt"]


def test_the_whole_file_is_checked_not_only_its_start(tmp_path: Path) -> None:
    upload = tmp_path / "notes.txt"
    upload.write_bytes(b"Plain text for a while. " * 1000 + b"\x00\x01\x02 binary from here")
    outcome = add_uploads([upload], tmp_path / "corpus")
    assert outcome.saved == [] and outcome.rejected == [("notes.txt", "the file is binary, not text")]
    assert check_upload("notes.txt", 10, b"text" * 3000 + b"\x00") == "the file is binary, not text"


def test_uploaded_copies_are_removed_from_the_upload_folder_only(tmp_path: Path) -> None:
    uploads = tmp_path / "gradio"
    copies = [uploads / "3f2a" / "a.txt", uploads / "9c1d" / "b.txt", uploads / "9c1d" / "c.txt"]
    elsewhere = tmp_path / "mine.txt"
    for path in [*copies, elsewhere]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("text")
    remove_uploaded_copies([*copies[:2], elsewhere, uploads], uploads)
    assert not (uploads / "3f2a").exists() and not copies[1].exists()
    assert copies[2].exists() and elsewhere.exists() and uploads.is_dir()


def test_the_app_removes_its_copies_of_uploads_once_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    copy = tmp_path / "gradio" / "5e8b" / "ferry times.txt"
    copy.parent.mkdir(parents=True)
    copy.write_text("The ferry to Varnholm leaves at noon.")
    (tmp_path / "corpus").mkdir()
    assistant = Assistant(
        corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", embedding_model="none", reader_model="none"
    )
    message = html.unescape(Actions(assistant).upload([str(copy)], lambda done, text: None))
    assert "Added ferry times.txt" in message and "1 documents" in message
    assert not copy.exists() and not copy.parent.exists()
    assert (tmp_path / "corpus" / "ferry times.txt").read_text() == "The ferry to Varnholm leaves at noon."


def test_an_upload_told_to_replace_takes_the_place_of_the_file_of_its_name(tmp_path: Path) -> None:
    incoming, corpus = tmp_path / "incoming", tmp_path / "corpus"
    incoming.mkdir()
    corpus.mkdir()
    (corpus / "notes.txt").write_text("the original")
    (corpus / "notes.txt").chmod(0o640)
    (incoming / "notes.txt").write_text("the new text")
    (incoming / "other.txt").write_text("another file")
    assert existing_names([incoming / "notes.txt", incoming / "other.txt", incoming / "notes.txt"], corpus) == [
        "notes.txt"
    ]
    outcome = add_uploads(
        [incoming / "notes.txt", incoming / "other.txt", incoming / "notes.txt"], corpus, replace=True
    )
    assert outcome.saved == ["notes.txt", "other.txt", "notes-2.txt"] and outcome.replaced == ["notes.txt"]
    assert outcome.renamed == [("notes.txt", "notes-2.txt")]  # a second upload of one name never replaces the first
    assert (corpus / "notes.txt").read_text() == "the new text"
    assert (corpus / "notes.txt").stat().st_mode & 0o777 == 0o640
    assert sorted(path.name for path in corpus.iterdir()) == ["notes-2.txt", "notes.txt", "other.txt"]


def test_a_replacement_that_fails_to_be_written_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    incoming, corpus = tmp_path / "incoming", tmp_path / "corpus"
    incoming.mkdir()
    corpus.mkdir()
    (corpus / "notes.txt").write_text("the original")
    (incoming / "notes.txt").write_text("the new text, which does not fit")
    write = corpus_module._write

    def disk_fills_up(file: BinaryIO, data: bytes) -> None:
        write(file, data[:5])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(corpus_module, "_write", disk_fills_up)
    outcome = add_uploads([incoming / "notes.txt"], corpus, replace=True)
    assert outcome.saved == [] and outcome.rejected == [
        ("notes.txt", "it could not be saved (No space left on device)")
    ]
    assert [path.name for path in corpus.iterdir()] == ["notes.txt"]  # no temporary file left behind
    assert (corpus / "notes.txt").read_text() == "the original"


def _actions_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Actions:
    """The app's actions over a lexical index of one file, ferry.txt."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "ferry.txt").write_text("The ferry to Varnholm leaves at noon.")
    assistant = Assistant(
        corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", embedding_model="none", reader_model="none"
    )
    assistant.index()
    return Actions(assistant)


def _gradio_copy(tmp_path: Path, folder: str, text: str) -> Path:
    copy = tmp_path / "gradio" / folder / "ferry.txt"
    copy.parent.mkdir(parents=True)
    copy.write_text(text)
    return copy


def test_a_replaced_upload_is_reindexed_in_place_and_answers_from_its_new_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    actions = _actions_in(tmp_path, monkeypatch)
    copy = _gradio_copy(tmp_path, "1a2b", "The ferry to Varnholm leaves at four in the afternoon.")
    assert actions.upload_clashes([str(copy)]) == ["ferry.txt"]
    message = html.unescape(actions.upload([str(copy)], lambda done, text: None, replace=True))
    assert message.startswith("Replaced ferry.txt: its old passages are removed.") and "1 updated" in message
    assert "Added" not in message
    assert actions.document_sources() == ["ferry.txt"] and not copy.exists()
    assistant = actions.assistant
    assert assistant.store.count_passages() == 1  # the old passage is gone, not kept beside the new one
    assert "four in the afternoon" in assistant.ask("When does the ferry to Varnholm leave?").text


def test_keeping_both_saves_the_upload_beside_the_file_of_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    actions = _actions_in(tmp_path, monkeypatch)
    copy = _gradio_copy(tmp_path, "3c4d", "The ferry to Varnholm leaves at four in the afternoon.")
    message = html.unescape(actions.upload([str(copy)], lambda done, text: None))
    assert "ferry.txt was saved as ferry-2.txt" in message and "1 added" in message
    assert actions.document_sources() == ["ferry-2.txt", "ferry.txt"]
    assert (tmp_path / "corpus" / "ferry.txt").read_text() == "The ferry to Varnholm leaves at noon."


def test_a_cancelled_upload_adds_nothing_and_leaves_no_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    actions = _actions_in(tmp_path, monkeypatch)
    copy = _gradio_copy(tmp_path, "5e6f", "The ferry to Varnholm leaves at four in the afternoon.")
    assert actions.cancel_upload([str(copy)]) == "Nothing was added."
    assert not copy.exists() and actions.document_sources() == ["ferry.txt"]
    assert (tmp_path / "corpus" / "ferry.txt").read_text() == "The ferry to Varnholm leaves at noon."


def test_the_replace_question_names_the_files_and_what_each_choice_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    actions = _actions_in(tmp_path, monkeypatch)
    one = html.unescape(actions.replace_question(["ferry.txt"]))
    assert one.startswith("**ferry.txt** is in the corpus already.") and "(ferry-2.txt)" in one
    assert "**Replace**" in one and "**Keep both**" in one and "**Cancel**" in one
    two = actions.replace_question(["a<b>.txt", "notes.md", "README"])
    assert "<" not in two  # names are shown as text, never as markup
    assert html.unescape(two).startswith("**a<b>.txt**, **notes.md** and **README** are in the corpus already.")
    (tmp_path / "corpus" / "ferry-2.txt").write_text("taken")
    assert "(ferry-3.txt)" in html.unescape(actions.replace_question(["ferry.txt"]))  # the name it would get
    assert name_beside(tmp_path / "corpus", "README") == "README-2"
