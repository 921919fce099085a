"""One seam between the interfaces and the engine: a question's options are checked once into one
record, and an answer carries all its evidence, so the chat, ``/ask``, ``docqa ask --json`` and the
Python API show the same citations for the same question."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tiny_models import peaked_logits
from tokenizers import Tokenizer

from docqa.assistant import Assistant
from docqa.cli import main
from docqa.errors import DocqaError
from docqa.options import MAX_TOP_K, AskOptions
from docqa.reader.extractive import ExtractiveReader
from docqa.ui.actions import Actions
from docqa.ui.chat import Chat, ChatSession

QUESTION = "Where was the session held on Monday?"
SHARED = "The session was held at the Capitol on Monday. The members then went home for the evening."
ANSWER = "Capitol"


@pytest.fixture
def assistant(tmp_path: Path, tiny_embedder_path: Path, tiny_reader_path: Path) -> Any:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("minutes-a.txt", "minutes-b.txt", "minutes-c.txt"):  # one fact, told in three files
        (corpus / name).write_text(f"Minutes of meeting {name[-5]}.\n\n{SHARED}\n", encoding="utf-8")
    with Assistant(
        corpus, tmp_path / "index", embedding_model=str(tiny_embedder_path), reader_model=str(tiny_reader_path)
    ) as made:
        made.warm_up()
        yield made


def test_the_chat_the_api_the_command_line_and_python_show_the_same_citations(
    assistant: Assistant, tmp_path: Path, tiny_embedder_path: Path, tiny_reader_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    tokenizer = Tokenizer.from_file(str(tiny_reader_path / "tokenizer.json"))
    forward = peaked_logits([tokenizer.encode(ANSWER, add_special_tokens=False).ids])
    monkeypatch.setattr(ExtractiveReader, "_forward", lambda self, encodings: forward(encodings))

    python = assistant.ask(QUESTION, top_k=3)
    cited = [citation.to_dict() for citation in python.citations]
    assert python.text == ANSWER and len(cited) == 3  # the answer, then the two other files that hold it
    assert sorted(c["source"] for c in cited) == ["minutes-a.txt", "minutes-b.txt", "minutes-c.txt"]

    session = ChatSession()
    _, number = Chat(assistant).take(session, QUESTION)
    reply = Chat(assistant).answer(session, number or 0, top_k=3)
    assert reply.answer is not None and [c.to_dict() for c in reply.answer.citations] == cited
    assert reply.sources.labels[:3] == [f"[{n}] {c['title']}" for n, c in enumerate(cited, start=1)]

    assert Actions(assistant).api_ask(QUESTION, top_k=3)["citations"] == cited

    folders = ["--corpus", str(assistant.settings.corpus_dir), "--index", str(assistant.settings.index_dir)]
    models = ["--embedding-model", str(tiny_embedder_path), "--reader-model", str(tiny_reader_path)]
    capsys.readouterr()
    assert main(["ask", QUESTION, *folders, *models, "--top-k", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["citations"] == cited


def test_options_are_checked_once_into_a_record_that_is_always_valid() -> None:
    options = AskOptions.parse(top_k=5.0, sources=["a.txt"], history=[["Who?", "Ann"]], retrieval="")
    assert options == AskOptions(top_k=5, sources=("a.txt",), history=(("Who?", "Ann"),))
    assert AskOptions.parse(sources=[]).sources is None  # none chosen: every document
    with pytest.raises(DocqaError, match=f"top_k must be at most {MAX_TOP_K}"):
        AskOptions(top_k=MAX_TOP_K + 1)
    with pytest.raises(DocqaError, match="unknown option: colour"):
        AskOptions.parse(colour="red")
    with pytest.raises(DocqaError, match="between 0 and 1"):
        options.with_values(confidence_threshold=2)


def test_a_question_s_options_never_change_the_assistant(assistant: Assistant) -> None:
    engine = assistant.engine
    assistant.ask(QUESTION, top_k=1, retrieval="bm25", confidence_threshold=0.9)
    assert assistant.engine is engine and assistant.settings.top_k == 3


def test_a_reader_that_fails_to_load_changes_nothing(assistant: Assistant, tmp_path: Path) -> None:
    engine = assistant.engine
    with pytest.raises(DocqaError):
        assistant.use_reader(str(tmp_path / "no-such-reader"))
    assert assistant.engine is engine
    assistant.use_reader("none")
    assert assistant.engine is not engine and assistant.reader is not None and assistant.reader.mode == "sentence"
    assert assistant.settings.reader_model == "none" and engine.reader.mode == "extractive"  # the old one is whole


def test_a_new_option_is_a_field_of_the_record_and_the_code_that_uses_it(
    assistant: Assistant, tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``closest`` was added so: a field of AskOptions, one condition in the engine, and the flag and
    the /ask parameter of the two interfaces that offer it; Python and the chat pass it on as it is."""
    monkeypatch.setattr(ExtractiveReader, "_forward", lambda self, encodings: peaked_logits([])(encodings))
    fallback = assistant.ask(QUESTION, confidence_threshold=0.99)
    assert fallback.closest and not fallback.abstained and fallback.notes[-1].code == "closest"
    strict = assistant.ask(QUESTION, confidence_threshold=0.99, closest=False)
    assert strict.abstained and not strict.closest and [note.code for note in strict.notes] == ["abstained"]
    assert Actions(assistant).api_ask(QUESTION, confidence_threshold=0.99, closest=False)["abstained"]
    with pytest.raises(DocqaError, match="closest must be true or false"):
        AskOptions.parse(closest="no")
    folders = ["--corpus", str(assistant.settings.corpus_dir), "--index", str(assistant.settings.index_dir)]
    models = ["--embedding-model", "none", "--reader-model", str(tiny_reader_path), "--threshold", "0.99"]
    capsys.readouterr()
    assert main(["ask", QUESTION, *folders, *models, "--no-closest", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["abstained"] is True


def test_answer_keeps_one_assistant_per_settings_not_per_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from docqa import assistant as module

    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "minutes.txt").write_text(SHARED + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(module, "_assistants", type(module._assistants)())
    lexical = {"embedding_model": "none", "reader_model": "none"}
    first = module.answer(QUESTION, top_k=3, **lexical)
    second = module.answer(QUESTION, top_k=5, retrieval="bm25", sources=["minutes.txt"], **lexical)
    assert first.citations[0].source == second.citations[0].source == "minutes.txt"
    assert len(module._assistants) == 1  # the options of a question made no second assistant
    oldest = next(iter(module._assistants.values()))
    for tokens in (150, 120):  # two other settings: the oldest assistant is closed and let go
        module.answer(QUESTION, chunk_tokens=tokens, **lexical)
    assert len(module._assistants) == 2 and oldest not in module._assistants.values()
