"""The ``docqa`` command never surprises: user errors exit 2 with one line, and the default models,
missing offline, fall back quickly to the lexical mode instead."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from docqa import models
from docqa.cli import build_parser, main
from docqa.schema import IndexReport
from docqa.terminal import format_report, quiet_libraries_off_terminal

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
TINY_SQUAD = Path(__file__).parent / "data" / "tiny_squad_v2.json"
LEXICAL = ["--embedding-model", "none", "--reader-model", "none"]
QUESTION = "Who sang the song that played before the rally speeches?"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return Path(shutil.copytree(CORPUS, tmp_path / "corpus"))


@pytest.fixture
def offline(tmp_path: Path) -> dict[str, str]:
    """The environment of a machine without the hub and with an empty Hugging Face cache."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("DOCQA_", "HF_"))}
    (tmp_path / "hf").mkdir()
    return {**environment, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("docqa") and ": error: " in err and len(err.splitlines()) == 1, err
    return err


def docqa(*argv: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "docqa.cli", *argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def free_port(monkeypatch: pytest.MonkeyPatch) -> int:
    """A port nothing listens on; a test that gets as far as serving on it fails instead of serving for ever."""

    def serve(*args: object, **kwargs: object) -> None:
        raise AssertionError("the app was served")

    monkeypatch.setattr("docqa.ui.serve.serve", serve)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


# --- folders --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["ask", QUESTION], ["index"], ["serve"]])
@pytest.mark.parametrize("missing", ["no-such-folder", "a-file"])
def test_a_missing_corpus_folder_exits_2_even_with_an_index_built_before(
    command: list[str], missing: str, corpus: Path, tmp_path: Path, free_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    index = ["--index", str(tmp_path / "index")]
    assert main(["index", "--corpus", str(corpus), *index, *LEXICAL]) == 0
    capsys.readouterr()
    gone = tmp_path / missing
    if missing == "a-file":
        gone.write_text("not a folder")
    port = ["--port", str(free_port)] if command == ["serve"] else []
    assert main([*command, "--corpus", str(gone), *index, *LEXICAL, *port]) == 2
    err = one_line_error(capsys)
    assert str(gone) in err and "--corpus" in err
    assert capsys.readouterr().out == ""  # no answer from the old index


def test_a_shared_store_answers_where_there_is_no_corpus_folder_unless_one_is_named(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    store = ["--store", str(tmp_path / "passages.db")]
    assert main(["index", "--corpus", str(corpus), *store, *LEXICAL]) == 0
    replica = tmp_path / "replica"  # a machine that serves the store, with no ./corpus of its own
    replica.mkdir()
    monkeypatch.chdir(replica)
    monkeypatch.delenv("DOCQA_CORPUS_DIR", raising=False)
    capsys.readouterr()
    assert main(["ask", QUESTION, *store, *LEXICAL]) == 0
    assert "Source: " in capsys.readouterr().out
    assert main(["ask", QUESTION, *store, *LEXICAL, "--corpus", str(tmp_path / "gone")]) == 2
    assert "--corpus" in one_line_error(capsys)


def test_an_option_a_command_does_not_take_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_status:
        main(["eval", str(TINY_SQUAD), "--watch", *LEXICAL])  # docqa index's, not eval's
    assert exit_status.value.code == 2
    assert "unrecognized arguments: --watch" in one_line_error(capsys)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc, where nothing can be created")
@pytest.mark.parametrize("command", [["ask", QUESTION], ["index"]])
def test_an_index_folder_that_cannot_be_created_exits_2_with_one_line(
    command: list[str], corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = "/proc/docqa-index"  # not even root may create a folder here
    assert main([*command, "--corpus", str(corpus), "--index", index, *LEXICAL]) == 2
    assert index in one_line_error(capsys)


def test_an_index_path_that_is_a_file_stops_serve_before_it_listens(
    corpus: Path, tmp_path: Path, free_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "index"
    a_file.write_text("not a folder")
    argv = ["serve", "--corpus", str(corpus), "--index", str(a_file), "--port", str(free_port), *LEXICAL]
    assert main(argv) == 2
    assert f"{a_file} is not a folder" in one_line_error(capsys)
    assert a_file.read_text() == "not a folder"


# --- serve's address ------------------------------------------------------------------------


def test_serve_on_a_port_in_use_says_to_use_port_before_indexing(
    corpus: Path, tmp_path: Path, busy_port: int, free_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    index = tmp_path / "index"
    assert main(["serve", "--corpus", str(corpus), "--index", str(index), "--port", str(busy_port), *LEXICAL]) == 2
    err = one_line_error(capsys)
    assert f"port {busy_port} is in use" in err and "--port" in err and "server_port" not in err
    assert not index.exists()  # refused before anything was opened or indexed


def test_serve_on_an_address_of_no_interface_here_says_to_use_host(
    corpus: Path, tmp_path: Path, free_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["serve", "--corpus", str(corpus), "--index", str(tmp_path / "index"), "--host", "192.0.2.1"]
    assert main([*argv, "--port", str(free_port), *LEXICAL]) == 2  # 192.0.2.0/24 is kept for documentation
    assert "--host" in one_line_error(capsys)


# --- models ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "environment", "named"),
    [
        (["--reader-model", "./missing-reader"], {}, "reader model './missing-reader'"),
        (["--embedding-model", "./missing-embedder"], {}, "embedding model './missing-embedder'"),
        ([], {"DOCQA_READER_MODEL": "./missing-reader"}, "reader model './missing-reader'"),
        (["--reader-model", "someone/not-cached"], {}, "reader model 'someone/not-cached'"),
    ],
    ids=["--reader-model", "--embedding-model", "DOCQA_READER_MODEL", "a hub id offline"],
)
@pytest.mark.parametrize("command", [["ask", QUESTION], ["serve"], ["eval", str(TINY_SQUAD)]])
def test_a_model_named_by_the_user_that_cannot_load_exits_2_with_one_line(
    flags: list[str],
    environment: dict[str, str],
    named: str,
    command: list[str],
    corpus: Path,
    tmp_path: Path,
    offline: dict[str, str],
    free_port: int,
) -> None:
    """The other model is the default, missing too: it would fall back, but the named one stops first."""
    folders = [] if command[0] == "eval" else ["--corpus", str(corpus), "--index", str(tmp_path / "index")]
    port = ["--port", str(free_port)] if command == ["serve"] else []
    finished = docqa(*command, *folders, *flags, *port, env={**offline, **environment}, cwd=tmp_path)
    assert finished.returncode == 2 and finished.stdout == ""
    err = finished.stderr.strip()
    assert err.startswith("docqa: error: could not load the " + named) and len(err.splitlines()) == 1, err
    assert not (tmp_path / "index" / "index.sqlite").exists()


def test_a_named_model_folder_that_does_not_load_exits_2(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "reader"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    argv = ["ask", QUESTION, "--corpus", str(corpus), "--index", str(tmp_path / "index")]
    assert main([*argv, "--embedding-model", "none", "--reader-model", str(broken)]) == 2
    assert f"could not load the reader model '{broken}'" in one_line_error(capsys)


def test_a_reader_model_without_a_question_answering_head_is_refused(
    corpus: Path, tmp_path: Path, tiny_embedder_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An embedder named as the reader would load with a random span head, and answer at random."""
    argv = ["ask", QUESTION, "--corpus", str(corpus), "--index", str(tmp_path / "index")]
    assert main([*argv, "--embedding-model", "none", "--reader-model", str(tiny_embedder_path)]) == 2
    err = one_line_error(capsys)
    assert "is a BertModel, not a question-answering model" in err and "extractive question-answering" in err
    assert "\x1b" not in err and not (tmp_path / "index" / "index.sqlite").exists()


def test_dense_search_without_the_embedding_model_exits_2_with_one_line(
    corpus: Path, tmp_path: Path, offline: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Never BM25 reported as dense: 'none', or a default model missing offline, refuses --retrieval dense."""
    folders = ["--corpus", str(corpus), "--index", str(tmp_path / "index")]
    assert main(["ask", QUESTION, *folders, *LEXICAL, "--retrieval", "dense"]) == 2
    assert "dense search (--retrieval dense) needs the embedding model" in one_line_error(capsys)
    assert not (tmp_path / "index" / "index.sqlite").exists()
    dense = ["--reader-model", "none", "--retrieval", "dense"]
    finished = docqa("ask", QUESTION, *folders, *dense, env=offline, cwd=tmp_path)
    assert finished.returncode == 2 and finished.stdout == "" and len(finished.stderr.splitlines()) == 1
    assert finished.stderr.startswith("docqa: error: could not load the embedding model"), finished.stderr
    assert not (tmp_path / "index" / "index.sqlite").exists()


def indexed_then_model_gone(corpus: Path, tmp_path: Path, embedder: Path) -> tuple[Path, list[str]]:
    """The corpus indexed with a copy of ``embedder``, then the copy moved away and a file added;
    returns where the copy was and the folder flags."""
    model = Path(shutil.copytree(embedder, tmp_path / "embedder"))
    folders = ["--corpus", str(corpus), "--index", str(tmp_path / "index")]
    assert main(["index", *folders, "--embedding-model", str(model)]) == 0
    model.rename(tmp_path / "away")
    (corpus / "harbour.txt").write_text("The harbour master of Port Wren is Quentin Abernathy.\n")
    return model, folders


def test_the_index_report_says_the_vectors_are_kept_while_the_model_cannot_load(
    corpus: Path, tmp_path: Path, tiny_embedder_path: Path, offline: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    model, folders = indexed_then_model_gone(corpus, tmp_path, tiny_embedder_path)
    finished = docqa("index", *folders, env=offline, cwd=tmp_path)  # no model named: the index's own
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.startswith("Updated ") and "1 added, 0 updated, 0 removed, 3 unchanged" in finished.stdout
    assert f"embedding model: {model} (not loaded: its vectors are kept" in finished.stdout
    assert "1 document is searched by BM25 only until the embedding model loads" in finished.stdout
    assert "the next update with the model embeds it." in finished.stdout
    assert "the index keeps its vectors" in finished.stderr and len(finished.stderr.splitlines()) == 1


def test_serve_keeps_the_vectors_while_the_model_cannot_load(
    corpus: Path, tmp_path: Path, tiny_embedder_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """docqa serve and python app.py bring the index up to date at start (ui.serve.prepare) the same way."""
    from docqa.assistant import Assistant
    from docqa.ui.serve import prepare

    model, _ = indexed_then_model_gone(corpus, tmp_path, tiny_embedder_path)
    capsys.readouterr()
    with Assistant(corpus, tmp_path / "index", reader_model="none") as assistant:
        prepare(assistant)
        assert assistant.status().retrieval == "bm25" and assistant.store.has_vectors()
        assert assistant.store.settings().embedding_model == str(model)  # type: ignore[union-attr]
    err = capsys.readouterr().err
    assert "1 added, 0 updated, 0 removed, 3 unchanged" in err and "its vectors are kept" in err


@pytest.mark.parametrize("command", [["ask", QUESTION], ["index"]])
def test_the_default_models_missing_offline_fall_back_without_loading_torch(
    command: list[str], corpus: Path, tmp_path: Path, offline: dict[str, str]
) -> None:
    """Finding the models missing takes milliseconds: neither torch nor transformers is imported (they
    take seconds), so the lexical mode answers as fast as with 'none'."""
    argv = [*command, "--corpus", str(corpus), "--index", str(tmp_path / "index"), "--json"]
    probe = f"import sys; from docqa.cli import main; code = main({argv!r}); print(code, *sorted(sys.modules))"
    finished = subprocess.run(
        [sys.executable, "-c", probe], env=offline, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    *output, modules = finished.stdout.rstrip().splitlines()
    code, *loaded = modules.split()
    assert code == "0", finished.stderr
    assert {"torch", "transformers", "sentence_transformers"}.isdisjoint(loaded)
    assert "could not load the embedding model" in finished.stderr
    payload = json.loads("\n".join(output))
    if command[0] == "ask":
        assert payload["mode"] == "sentence" and "Elton John" in payload["answer"]
        # One line says what is missing, what that changes and the fix, once; the answer says why, without it.
        assert len(finished.stderr.splitlines()) == 1 and finished.stderr.count("Fix:") == 1
        assert "and the reader model 'deepset/tinyroberta-squad2'" in finished.stderr
        assert "BM25 only" in finished.stderr and "lexical mode" in finished.stderr
        assert "could not load the reader model 'deepset" in payload["message"] and "Fix" not in payload["message"]
        assert {"loading", "retrieval", "total"} <= set(payload["timings"])
    else:
        assert len(payload["added"]) == 3
        assert "reader model" not in finished.stderr  # indexing reads no answers: no reader, no warning


def test_eval_with_the_default_models_missing_offline_falls_back_and_says_so(
    tmp_path: Path, offline: dict[str, str]
) -> None:
    finished = docqa("eval", str(TINY_SQUAD), env=offline, cwd=tmp_path)
    assert finished.returncode == 0, finished.stderr
    assert "and the reader model 'deepset/tinyroberta-squad2'" in finished.stderr
    assert "mode sentence" in finished.stdout and "retrieval bm25" in finished.stdout
    assert "%|" not in finished.stderr  # stderr is a pipe: no progress bars


def test_the_hub_is_checked_once_for_both_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where connections hang rather than fail, each check costs its whole timeout."""
    attempts = []

    def refuse(address: tuple[str, int], timeout: float) -> socket.socket:
        attempts.append(address)
        raise TimeoutError("timed out")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert not models.hub_reachable() and not models.hub_reachable()
    assert attempts == [("hub.invalid", 443)]
    monkeypatch.setattr(models, "HUB_CHECK_SECONDS", 0.0)
    assert not models.hub_reachable()
    assert len(attempts) == 2


# --- output ---------------------------------------------------------------------------------


def test_no_progress_bar_where_stderr_is_not_a_terminal(
    corpus: Path, tmp_path: Path, tiny_embedder_path: Path, offline: dict[str, str]
) -> None:
    """Neither docqa's bar nor the model library's "Loading weights" writes into a pipe or a log."""
    folders = ["--corpus", str(corpus), "--index", str(tmp_path / "index")]
    environment = {**offline, "DOCQA_BACKEND": "torch"}  # no ONNX export: the bar is the model's loading
    finished = docqa("index", *folders, "--embedding-model", str(tiny_embedder_path), env=environment, cwd=tmp_path)
    assert finished.returncode == 0, finished.stderr
    assert "%|" not in finished.stderr and "\r" not in finished.stderr, finished.stderr


def test_no_loading_bars_from_the_python_api_where_stderr_is_not_a_terminal(
    corpus: Path, tmp_path: Path, tiny_embedder_path: Path, tiny_reader_path: Path, offline: dict[str, str]
) -> None:
    program = (
        "from docqa import Assistant; "
        f"Assistant({str(corpus)!r}, {str(tmp_path / 'index')!r}, embedding_model={str(tiny_embedder_path)!r}, "
        f"reader_model={str(tiny_reader_path)!r}, backend='torch').ask({QUESTION!r})"
    )
    finished = subprocess.run(
        [sys.executable, "-c", program], env=offline, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert finished.returncode == 0, finished.stderr
    assert "Loading weights" not in finished.stderr and "%|" not in finished.stderr, finished.stderr


def test_library_bars_stay_on_for_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    monkeypatch.setattr(sys, "stderr", SimpleNamespace(isatty=lambda: True))
    quiet_libraries_off_terminal()
    assert "HF_HUB_DISABLE_PROGRESS_BARS" not in os.environ
    monkeypatch.setattr(sys, "stderr", SimpleNamespace(isatty=lambda: False))
    quiet_libraries_off_terminal()
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"


@pytest.mark.parametrize(
    "command", [[], ["index"], ["ask"], ["eval"], ["serve"], ["train"], ["annotations"], ["annotations", "export"]]
)
def test_help_has_examples_and_no_markup(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_status:
        main([*command, "--help"])
    assert exit_status.value.code == 0
    out = capsys.readouterr().out
    assert "examples:\n  docqa " in out and "`" not in out
    if command == ["index"]:
        assert "--reader-model" not in out  # accepted, for scripts that pass it, but it reads no answers


def test_every_subcommand_has_a_description_and_examples() -> None:
    parser = build_parser()
    commands = next(action for action in parser._actions if action.dest == "command")
    assert {"index", "ask", "eval", "serve", "train", "annotations"} <= set(commands.choices)
    for name, command in commands.choices.items():
        assert command.description, name
        assert "examples:" in (command.epilog or ""), name
        assert f"docqa {name}" in (command.epilog or ""), name


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("embeddings", "embeddings"),
        ("passages.db", "passages.db"),
        ("http://milvus.internal:19530", "http://milvus.internal:19530"),
        ("https://user:secret@milvus.internal:19530", "https://milvus.internal:19530"),
    ],
)
def test_the_index_report_names_where_the_passages_live(location: str, shown: str) -> None:
    status = SimpleNamespace(
        documents=3, retrieval="bm25", embedding_model="none", embedder_loaded=False, vectors_kept=False
    )
    assistant = SimpleNamespace(settings=SimpleNamespace(index_dir="embeddings", store_location=location))
    assistant.status = lambda: status
    report = format_report(IndexReport(added=["a.txt"], chunks=4), assistant)  # type: ignore[arg-type]
    assert report.startswith(f"Updated {shown}: 1 added,") and "secret" not in report


def test_serving_prints_its_address_without_gradio_advice(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from docqa.assistant import Assistant
    from docqa.ui.serve import start

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assistant = Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model="none")
    app, indexing = start(assistant, host="127.0.0.1", port=port, auth=None, watch=False)
    try:
        indexing.join(60)
    finally:
        app.close()
    out = capsys.readouterr().out
    assert f"docqa: serving on http://127.0.0.1:{port}/ (Ctrl+C stops it)" in out
    assert "share=True" not in out and "public link" not in out and "Running on" not in out
