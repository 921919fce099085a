"""The ``docqa`` command: output, JSON, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from folder_faults import read_only

from docqa.cli import BROKEN_PIPE_STATUS, main

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


@pytest.fixture
def folders(tmp_path: Path) -> list[str]:
    shutil.copytree(CORPUS, tmp_path / "corpus")
    return ["--corpus", str(tmp_path / "corpus"), "--index", str(tmp_path / "index")]


LEXICAL = ["--embedding-model", "none", "--reader-model", "none"]


def test_index_then_ask_in_lexical_mode(folders: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index", *folders, *LEXICAL, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["added"]) == 3 and report["chunks"] > 3 and report["rebuilt"]

    assert main(["index", *folders, *LEXICAL]) == 0
    assert "0 added, 0 updated, 0 removed, 3 unchanged" in capsys.readouterr().out

    assert main(["ask", "Who sang the song that played before the rally speeches?", *folders, *LEXICAL]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Best-matching sentence:") and "Elton John" in out
    assert re.search(r"\nConfidence: (high|medium|low) \(\d\.\d\d, sentence mode\)\n", out)
    assert "Source: 001_2552add6c2b4445d.txt" in out


def test_ask_builds_a_missing_index_and_prints_json(
    folders: list[str], tiny_reader_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "ask",
            "Who was thought to be a major target of the protestors?",
            *folders,
            "--embedding-model",
            "none",
            "--reader-model",
            str(tiny_reader_path),
            "--threshold",
            "0",
            "--top-k",
            "2",
            "--json",
        ]
    )
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["mode"] == "extractive" and not payload["abstained"]
    assert len(payload["passages"]) == 2
    citation = payload["citations"][0]
    text = (Path(folders[1]) / citation["source"]).read_text()
    assert payload["answer"] in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ask", "   "], "the question is empty"),
        (["index", "--corpus", "/no/such/folder"], "/no/such/folder"),
        (["ask", "Who?", "--top-k", "0"], "--top-k must be at least 1"),
    ],
)
def test_user_errors_exit_2_with_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = [] if "--corpus" in argv else ["--corpus", str(CORPUS)]  # whatever the working folder
    assert main([*argv, *corpus, "--index", str(tmp_path / "index"), *LEXICAL]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("docqa: error:") and message in err and len(err.splitlines()) == 1


def test_an_unreadable_index_is_a_user_error(folders: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    index = Path(folders[3])
    index.mkdir()
    (index / "index.sqlite").write_bytes(b"this is not a database" * 100)
    assert main(["ask", "Who?", *folders, *LEXICAL]) == 2
    err = capsys.readouterr().err
    assert "cannot be read" in err and "--rebuild" in err
    assert main(["index", "--rebuild", *folders, *LEXICAL]) == 0
    assert list(index.glob("index.sqlite.damaged-*"))


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--top-k", "99999999999999999999"], "error: --top-k must be at most 50, not 99999999999999999999"),
        (["--top-k", "51"], "error: --top-k must be at most 50, not 51"),
        (["--top-k", "0"], "error: --top-k must be at least 1, not 0"),
        (["--threshold", "nan"], "error: --threshold must be between 0 and 1, not nan"),
    ],
)
def test_out_of_bounds_options_exit_2_with_one_line(
    option: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "Who?", *option, "--corpus", str(CORPUS), "--index", str(tmp_path / "index"), *LEXICAL]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("docqa: error:") and message in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("command", [["index"], ["index", "--rebuild"], ["ask", "Who?"]])
@pytest.mark.parametrize("below", ["", "sub"], ids=["the file", "a folder inside it"])
def test_an_index_path_that_is_a_file_exits_2_with_one_line(
    folders: list[str], command: list[str], below: str, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = Path(folders[3])
    a_file.write_text("not a folder")
    index = a_file / below if below else a_file
    assert main([*command, "--corpus", folders[1], "--index", str(index), *LEXICAL]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("docqa: error:") and len(err.splitlines()) == 1
    assert f"{index} is not a folder" in err
    assert a_file.read_text() == "not a folder"


def test_a_rebuild_in_a_read_only_index_folder_exits_2_with_one_line(
    folders: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["index", *folders, *LEXICAL]) == 0
    capsys.readouterr()
    with read_only(Path(folders[3]), monkeypatch):
        assert main(["index", "--rebuild", *folders, *LEXICAL]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("docqa: error:") and len(err.splitlines()) == 1
    assert "Permission denied" in err and "can be read and written" in err
    assert not list(Path(folders[3]).glob("index.sqlite.*-*"))


@pytest.mark.skipif(os.geteuid() == 0, reason="file modes do not stop root")
def test_a_rebuild_in_a_folder_without_write_permission_exits_2_with_one_line(
    folders: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["index", *folders, *LEXICAL]) == 0
    index = Path(folders[3])
    index.chmod(0o555)
    try:
        assert main(["index", "--rebuild", *folders, *LEXICAL]) == 2
    finally:
        index.chmod(0o755)
    err = capsys.readouterr().err.strip()
    assert err.startswith("docqa: error:") and len(err.splitlines()) == 1
    assert not list(index.glob("index.sqlite.*-*"))


def test_output_to_a_closed_pipe_ends_quietly(folders: list[str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` that has read what it wanted: every write fails with EPIPE
    try:
        finished = subprocess.run(
            [sys.executable, "-m", "docqa.cli", "index", "--json", *folders, *LEXICAL],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert finished.returncode == BROKEN_PIPE_STATUS == 141
    assert "Traceback" not in finished.stderr and "BrokenPipeError" not in finished.stderr


def test_ask_brings_the_index_up_to_date_first(folders: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """A file deleted since indexing is never cited, and one added is answered from."""
    assert main(["index", *folders, *LEXICAL]) == 0
    corpus = Path(folders[1])
    (corpus / "001_2552add6c2b4445d.txt").unlink()
    (corpus / "harbour.txt").write_text("The harbour master of Port Wren is Quentin Abernathy.\n")
    capsys.readouterr()
    assert main(["ask", "Who sang the song that played before the rally speeches?", *folders, *LEXICAL, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    cited = {citation["source"] for citation in answer["citations"]} | {p["source"] for p in answer["passages"]}
    assert "001_2552add6c2b4445d.txt" not in cited
    assert main(["ask", "Who is the harbour master of Port Wren?", *folders, *LEXICAL, "--json"]) == 0
    assert "Quentin Abernathy" in json.loads(capsys.readouterr().out)["answer"]
    assert main(["index", *folders, *LEXICAL]) == 0
    assert "0 added, 0 updated, 0 removed, 3 unchanged" in capsys.readouterr().out


def test_ask_answers_from_a_read_only_index_as_it_stands_and_says_why(
    folders: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert main(["index", *folders, *LEXICAL]) == 0
    question = ["ask", "Who sang the song that played before the rally speeches?", *folders, *LEXICAL]
    with read_only(Path(folders[3]), monkeypatch):
        assert main(question) == 0  # unchanged: nothing to write, nothing said
        assert "Elton John" in capsys.readouterr().out and not caplog.records
        (Path(folders[1]) / "harbour.txt").write_text("The harbour master of Port Wren is Quentin Abernathy.\n")
        assert main(question) == 0
    assert "Elton John" in capsys.readouterr().out
    [warning] = [record.getMessage() for record in caplog.records]
    assert "corpus folder changed since it was indexed" in warning and "Permission denied" in warning


def test_a_skipped_file_is_reported_once(folders: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    (Path(folders[1]) / "empty.txt").write_text("")
    assert main(["index", *folders, *LEXICAL]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("empty.txt") == 1 and "Skipped empty.txt: " in captured.out
    assert "empty.txt" not in captured.err


def test_index_and_report_counts_read_in_the_singular(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "one.txt").write_text("The harbour master of Port Wren is Quentin Abernathy.\n")
    assert main(["index", "--corpus", str(tmp_path / "corpus"), "--index", str(tmp_path / "index"), *LEXICAL]) == 0
    assert "passages from 1 document." in capsys.readouterr().out
