"""The ``docqa`` command: output, JSON, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from docqa.cli import main

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
        (["ask", "Who?", "--top-k", "0"], "top_k must be at least 1"),
    ],
)
def test_user_errors_exit_2_with_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "--index", str(tmp_path / "index"), *LEXICAL]) == 2
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
