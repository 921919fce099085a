"""The chat app's formatting, escaping, serving options and actions, without a browser."""

from __future__ import annotations

import html
import re
import shutil
import time
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from hypothesis import given
from hypothesis import strategies as st

from docqa.assistant import Assistant, AssistantStatus
from docqa.errors import DocqaError
from docqa.schema import Answer, Chunk, Citation, IndexReport, RetrievedPassage
from docqa.store.base import DocumentInfo
from docqa.ui.actions import Actions
from docqa.ui.app import build_app
from docqa.ui.render import (
    TARGET_ID,
    answer_targets,
    describe_report,
    document_window,
    escape_text,
    excerpt,
    format_answer_markdown,
    format_document_html,
    format_passages_html,
    format_status,
    highlight,
    target_labels,
)
from docqa.ui.serve import auth_from_env, server_address

CORPUS_DIR = Path(__file__).resolve().parent.parent / "corpus"
HOSTILE = 'Hello <script>alert("x")</script> <img src=x onerror="alert(1)"> [link](javascript:alert(2)) $x$'
ALLOWED_TAGS = {"mark", "b", "small", "div", "span", "p"}


def tags_in(markup: str) -> set[str]:
    return {name.lower() for name in re.findall(r"<\s*/?\s*([A-Za-z][\w-]*)", markup)}


def passage(
    source: str, text: str, start: int = 0, score: float = 0.5, date: str | None = "2021-01-06", title: str = "A title"
) -> RetrievedPassage:
    chunk = Chunk(source=source, index=0, text=text, start=start, end=start + len(text), id=1)
    return RetrievedPassage(chunk, score, title, date, bm25_rank=1, dense_rank=None)


def cited_answer(
    snippet: str, answer: str, *, source: str = "000_a.txt", mode: str = "extractive", message: str = ""
) -> Answer:
    """An answer whose span ``answer`` sits inside ``snippet``, at document offset 100 + its position."""
    offset = 100
    start = offset + snippet.index(answer)
    citation = Citation(source, "A title", "2021-01-06", start, start + len(answer), snippet, offset)
    return Answer(
        question="q?",
        text=answer,
        score=0.83,
        abstained=False,
        mode=mode,  # type: ignore[arg-type]
        citations=[citation],
        passages=[passage(source, snippet, start=offset)],
        message=message,
    )


def status(**changes: Any) -> AssistantStatus:
    values: dict[str, Any] = dict(
        embedding_model="emb",
        reader_model="reader",
        embedder_loaded=True,
        reader_loaded=True,
        mode="extractive",
        retrieval="hybrid",
        documents=3,
        passages=22,
        problems=[],
        indexing=False,
    )
    return AssistantStatus(**(values | changes))


# ----- escaping and formatting ---------------------------------------------------------------


def test_escape_text_leaves_no_markup_and_round_trips() -> None:
    escaped = escape_text(HOSTILE)
    assert "<" not in escaped and ">" not in escaped and '"' not in escaped
    assert "](" not in escaped and "$" not in escaped  # no Markdown link, no TeX
    assert html.unescape(escaped) == HOSTILE


@given(st.text())
def test_escape_text_shows_any_text_verbatim(text: str) -> None:
    escaped = escape_text(text)
    assert html.unescape(escaped) == text
    assert not set(escaped) & set("<>\"'`*_[]()$")


def test_highlight_marks_the_span_and_clips_offsets() -> None:
    assert highlight("a <b> c", 2, 5) == "a <mark>&lt;b&gt;</mark> c"
    assert highlight("abc", -5, 99) == "<mark>abc</mark>"
    assert highlight("abc", 2, 1) == "abc"
    assert highlight("x  \n y", 0, 1, one_line=True) == "<mark>x</mark> y"


def test_extractive_answer_shows_answer_confidence_source_and_highlighted_snippet() -> None:
    answer = cited_answer("Staff had to leave the Cannon building at once.", "the Cannon building")
    reply = format_answer_markdown(answer)
    assert reply.startswith("**the Cannon building**")
    assert "83%" in reply
    assert "leave <mark>the Cannon building</mark> at once" in reply
    assert "000_a.txt" in html.unescape(reply) and "2021-01-06" in html.unescape(reply)


def test_hostile_document_text_cannot_inject_markup_into_a_reply() -> None:
    snippet = f"{HOSTILE} The answer is 42."
    for answer in (cited_answer(snippet, "42"), cited_answer(snippet, HOSTILE, message=HOSTILE)):
        reply = format_answer_markdown(answer)
        assert tags_in(reply) <= ALLOWED_TAGS, reply
        assert "onerror=" not in reply and "javascript:" not in reply
    abstained = Answer("q?", "", 0.0, True, "extractive", passages=[passage("evil.txt", HOSTILE)])
    assert tags_in(format_answer_markdown(abstained)) <= ALLOWED_TAGS


def test_abstention_says_so_and_lists_the_closest_passages() -> None:
    passages = [passage(f"{n}.txt", f"Passage number {n}. " * 40) for n in range(5)]
    answer = Answer("q?", "", 0.0, True, "extractive", passages=passages, message="Not found, closest shown.")
    reply = html.unescape(format_answer_markdown(answer))
    assert "do not seem to contain the answer" in reply
    assert "Not found, closest shown." in reply
    assert [f"{n}.txt" in reply for n in range(5)] == [True, True, True, False, False]
    assert "\u2026" in reply  # long passages are cut


def test_sentence_mode_says_it_shows_the_best_sentence_and_why() -> None:
    explained = cited_answer(
        "The whole sentence.",
        "The whole sentence.",
        mode="sentence",
        message="No reader model is loaded (the reader model is set to 'none').",
    )
    reply = format_answer_markdown(explained)
    assert "Best-matching sentence" in reply and "set to &#39;none&#39;" in reply


def test_sources_panel_offers_answer_then_passages() -> None:
    answer = cited_answer("Staff had to leave the Cannon building.", "the Cannon building")
    answer.passages.append(passage("001_b.txt", "Another passage.", start=7))
    targets = answer_targets(answer)
    assert [t["kind"] for t in targets] == ["answer", "passage", "passage"]
    assert targets[2] == {"source": "001_b.txt", "start": 7, "end": 23, "kind": "passage"}
    labels = target_labels(answer)
    assert len(set(labels)) == len(labels) == 3 and labels[0].startswith("Answer")


def test_passages_html_shows_scores_highlights_the_answer_and_escapes() -> None:
    answer = cited_answer("Staff had to leave the Cannon building.", "the Cannon building")
    answer.passages.append(passage("evil.txt", HOSTILE, start=500))
    shown = format_passages_html(answer)
    assert "<mark>the Cannon building</mark>" in shown
    assert "score 0.5000" in shown and "BM25 #1" in shown
    assert "<script" not in shown and "<img" not in shown


def test_document_view_marks_the_target_for_scrolling() -> None:
    text = f"{HOSTILE}\n\nThe answer is 42 here."
    start = text.index("42")
    target = {"source": "x.txt", "start": start, "end": start + 2, "kind": "answer"}
    shown = format_document_html(target, text, title="A <b>title</b>", date="2021-01-06")
    assert f'<mark id="{TARGET_ID}" class="docqa-answer">42</mark>' in shown
    assert "A &lt;b&gt;title" in shown and "x.txt \u00b7 2021-01-06" in html.unescape(shown)
    assert "<script" not in shown and "<img" not in shown


def test_a_long_document_is_shown_around_its_target() -> None:
    assert document_window("x" * 100, 10, 20, limit=1000) == (0, 100)
    first, last = document_window("x" * 10_000, 9_000, 9_010, limit=1000)
    assert last - first == 1000 and first <= 9_000 and last >= 9_010
    assert document_window("x" * 10_000, 5, 10, limit=1000) == (0, 1000)


def test_excerpt_cuts_at_a_word() -> None:
    assert excerpt("one  two\nthree", limit=100) == "one two three"
    assert excerpt("alpha beta gamma", limit=12) == "alpha beta\u2026"


def test_status_line_names_models_mode_and_index_size() -> None:
    line = format_status(status())
    assert "**reader**" in line and "hybrid search" in line and "**3** documents" in line
    lexical = format_status(
        status(
            reader_loaded=False,
            reader_model="none",
            embedder_loaded=False,
            embedding_model="none",
            retrieval="bm25",
            indexing=True,
        )
    )
    assert "best-matching sentences" in lexical and "BM25" in lexical and "re-indexing" in lexical
    failed = format_status(status(reader_loaded=False, problems=["could not load the reader model 'r'"]))
    assert "did not load" in failed and "\u26a0 could not load the reader model &#39;r&#39;</summary>" in failed


def test_index_report_is_described() -> None:
    report = IndexReport(added=["a.txt", "b.txt"], removed=["c.txt"], skipped={"d.pdf": "no text"}, chunks=9)
    text = html.unescape(describe_report(report, status()))
    assert "2 added, 1 removed" in text and "3 documents, 22 passages" in text and "d.pdf (no text)" in text
    assert "already up to date" in describe_report(IndexReport(unchanged=["a.txt"]), status())


# ----- serving options -----------------------------------------------------------------------


def test_server_address_from_flags_then_environment_then_defaults() -> None:
    assert server_address(None, None, {}) == ("127.0.0.1", 7860)
    env = {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "8080"}
    assert server_address(None, None, env) == ("0.0.0.0", 8080)
    assert server_address("localhost", 9000, env) == ("localhost", 9000)
    with pytest.raises(DocqaError, match="port"):
        server_address(None, None, {"GRADIO_SERVER_PORT": "http"})


def test_login_comes_from_both_variables_or_neither() -> None:
    assert auth_from_env({}) is None
    assert auth_from_env({"DOCQA_AUTH_USERNAME": "ann", "DOCQA_AUTH_PASSWORD": "pw"}) == ("ann", "pw")
    with pytest.raises(DocqaError, match="both"):
        auth_from_env({"DOCQA_AUTH_USERNAME": "ann"})


# ----- actions -------------------------------------------------------------------------------


class RecordingAssistant:
    """Answers every question with the same span and remembers what it was asked."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def ask(self, question: str, history: Any = None, **options: Any) -> Answer:
        if not question.strip():
            raise DocqaError("the question is empty")
        self.calls.append({"question": question, "history": list(history or []), **options})
        answer = cited_answer("Staff had to leave the Cannon building.", "the Cannon building")
        answer.question = question
        return answer

    def status(self) -> AssistantStatus:
        return status()

    def documents(self) -> list[DocumentInfo]:
        return [DocumentInfo("000_a.txt", "A title", "2021-01-06", 1)]

    def document_text(self, source: str) -> str:
        return " " * 100 + "Staff had to leave the Cannon building."


def test_follow_up_questions_carry_the_conversation() -> None:
    assistant = RecordingAssistant()
    actions = Actions(assistant)  # type: ignore[arg-type]
    first = actions.ask("Which building?", [{"role": "user", "content": "Which building?"}], [])
    assert first.turns == [("Which building?", "the Cannon building")]
    assert first.chat[-1]["role"] == "assistant"
    assert "<mark>the Cannon building</mark>" in first.chat[-1]["content"]
    assert 'id="docqa-target"' in first.document_html and first.targets[0]["kind"] == "answer"
    second = actions.ask(
        "Who ordered it?", first.chat, first.turns, top_k=3, retrieval="bm25", confidence_threshold=0.5
    )
    assert assistant.calls[1] == {
        "question": "Who ordered it?",
        "history": [("Which building?", "the Cannon building")],
        "top_k": 3,
        "retrieval": "bm25",
        "confidence_threshold": 0.5,
    }
    assert len(second.turns) == 2 and len(second.chat) == 3
    actions.ask("And then?", second.chat, second.turns, retrieval="no such mode")
    assert assistant.calls[2]["retrieval"] is None  # the configured default


def test_a_refused_question_becomes_a_chat_message() -> None:
    actions = Actions(RecordingAssistant())  # type: ignore[arg-type]
    reply = actions.ask("  ", [], [("q", "a")])
    assert "the question is empty" in reply.chat[-1]["content"] and reply.turns == [("q", "a")]


def test_api_ask_returns_the_answer_as_data() -> None:
    assistant = RecordingAssistant()
    actions = Actions(assistant)  # type: ignore[arg-type]
    data = actions.api_ask("Which building?", [["Earlier?", "Yes"]], 2, "dense", 0.1)
    assert data["answer"] == "the Cannon building" and data["citations"][0]["source"] == "000_a.txt"
    assert assistant.calls[0]["history"] == [("Earlier?", "Yes")]
    assert assistant.calls[0]["retrieval"] == "dense"
    with pytest.raises(gr.Error, match="the question is empty"):
        actions.api_ask(" ")


BAD_OPTIONS = [
    ({"top_k": float("inf")}, "top_k must be a whole number from 1 to 50, not inf"),
    ({"top_k": 10**30}, "top_k must be at most 50"),
    ({"top_k": "5"}, "top_k must be a whole number from 1 to 50, not '5'"),
    ({"top_k": -1}, "top_k must be at least 1, not -1"),
    ({"top_k": 2.5}, "top_k must be a whole number"),
    ({"top_k": True}, "top_k must be a whole number"),
    ({"confidence_threshold": float("nan")}, "must be between 0 and 1, not nan"),
    ({"confidence_threshold": -5}, "must be between 0 and 1, not -5"),
    ({"confidence_threshold": float("inf")}, "must be between 0 and 1, not inf"),
    ({"confidence_threshold": "0.5"}, "must be a number between 0 and 1"),
    ({"history": "Earlier? Yes"}, "history must be a list of [question, answer] pairs"),
    ({"history": [["bad"]]}, "history[0] must be a [question, answer] pair of texts"),
    ({"history": [["Earlier?", "Yes"], ["Then?", 3]]}, "history[1] must be a [question, answer] pair"),
    ({"history": [["Earlier?", "Yes"]] * 51}, "history holds 51 turns; send at most the last 50"),
    ({"history": [["Earlier?", "x" * 10_001]]}, "a text of 10001 characters"),
    ({"retrieval": "fuzzy"}, "retrieval must be one of hybrid, bm25, dense, not 'fuzzy'"),
    ({"retrieval": 7}, "retrieval must be one of"),
]


@pytest.mark.parametrize(("options", "message"), BAD_OPTIONS, ids=[str(i) for i in range(len(BAD_OPTIONS))])
def test_api_ask_refuses_bad_options_with_a_message_before_asking(options: dict[str, Any], message: str) -> None:
    assistant = RecordingAssistant()
    with pytest.raises(gr.Error, match=re.escape(message)) as raised:
        Actions(assistant).api_ask("Which building?", **options)  # type: ignore[arg-type]
    assert len(str(raised.value).splitlines()) == 1 and len(str(raised.value)) < 200
    assert assistant.calls == []


def test_api_ask_takes_options_at_their_bounds(lexical_assistant: Assistant) -> None:
    actions = Actions(lexical_assistant)
    question = "Who sang the song that played before the rally speeches?"
    assert len(actions.api_ask(question, top_k=1)["passages"]) == 1
    widest = actions.api_ask(question, top_k=50, confidence_threshold=0)
    assert 3 < len(widest["passages"]) <= 50 and not widest["abstained"]
    assert len(actions.api_ask(question, top_k=2.0)["passages"]) == 2
    assert actions.api_ask(question, confidence_threshold=1)["abstained"]
    history = [["Which building?", "The Cannon building."]] * 50
    assert not actions.api_ask(question, history=history, retrieval="")["abstained"]


def test_api_ask_refuses_a_huge_history_quickly_and_cuts_a_huge_question(lexical_assistant: Assistant) -> None:
    actions = Actions(lexical_assistant)
    started = time.perf_counter()
    with pytest.raises(gr.Error, match="characters"):
        actions.api_ask("Who sang?", history=[["Who?", "word " * 10_000_000]])
    question = "Who sang the song that played before the rally speeches? " + "x" * 5_000_000
    data = actions.api_ask(question)
    assert time.perf_counter() - started < 5
    assert len(data["question"]) == 1000 and "cut to its first 1000 characters" in data["message"]


@pytest.fixture
def lexical_assistant(tmp_path: Path) -> Assistant:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS_DIR, corpus)
    assistant = Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model="none")
    assistant.index()
    return assistant


def test_upload_makes_a_document_answerable_and_delete_removes_it(lexical_assistant: Assistant, tmp_path: Path) -> None:
    actions = Actions(lexical_assistant)
    upload = tmp_path / "zebra facts.txt"
    upload.write_text("The zebra crossing on Quokka Lane was painted in 1951. <img src=x onerror=alert(1)>")
    steps: list[tuple[float, str]] = []
    message = html.unescape(actions.upload([str(upload)], lambda done, text: steps.append((done, text))))
    assert "Added zebra facts.txt" in message and "1 added" in message
    assert steps and steps[-1][0] == 1.0
    assert [actions.document_rows()[-1][i] for i in (0, 3)] == ["zebra facts.txt", 1]
    reply = actions.ask("When was the zebra crossing on Quokka Lane painted?", [], [])
    assert reply.answer is not None and reply.answer.citations[0].source == "zebra facts.txt"
    assert tags_in(reply.chat[-1]["content"]) <= ALLOWED_TAGS
    assert "<img" not in reply.document_html
    message = html.unescape(actions.delete("zebra facts.txt", lambda done, text: None))
    assert "1 removed" in message and "zebra facts.txt" not in actions.document_sources()
    assert not (lexical_assistant.settings.corpus_dir / "zebra facts.txt").exists()
    assert actions.delete("", lambda done, text: None) == "Nothing was deleted."
    assert "not an indexed document" in actions.delete("../corpus", lambda done, text: None)
    assert actions.delete(None, lambda done, text: None) == "Choose a document to delete."


def test_build_app_exposes_the_ask_endpoint(lexical_assistant: Assistant) -> None:
    app = build_app(lexical_assistant)
    public = [fn.api_name for fn in app.fns.values() if fn.api_visibility == "public"]
    assert public == ["ask"]


VARNAK_CITIES = ["Lisbon", "Oslo", "Quito", "Hanoi", "Lagos", "Perth", "Turin", "Dakar", "Cusco", "Riga"]
STANDALONE_FORMS = ["Where does {name} live?", "Where is {name}?", "Which city is {name} in?"]


def test_a_short_standalone_question_is_never_answered_from_the_previous_turns_document(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for number in range(1, 301):
        city = VARNAK_CITIES[number % len(VARNAK_CITIES)]
        (corpus / f"doc{number:04d}.txt").write_text(f"Varnak{number:04d} lives in {city}.\n", encoding="utf-8")
    with Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model="none") as assistant:
        actions = Actions(assistant)
        first = actions.api_ask("Where does Varnak0010 live?")
        assert first["citations"][0]["source"] == "doc0010.txt"
        history = [[first["question"], first["answer"]]]
        second = actions.api_ask("Where does Varnak0200 live?", history=history)
        assert second["citations"][0]["source"] == "doc0200.txt" and second["query"] == second["question"]
        assert second["answer"] == "Varnak0200 lives in Lisbon."
        previous = first
        for number in (11, 13, 99, 150, 202, 299):
            form = STANDALONE_FORMS[number % len(STANDALONE_FORMS)]
            reply = actions.api_ask(
                form.format(name=f"Varnak{number:04d}"), history=[[previous["question"], previous["answer"]]]
            )
            own = f"doc{number:04d}.txt"
            assert reply["passages"][0]["source"] == own, reply["question"]
            assert [citation["source"] for citation in reply["citations"]] in ([own], []), reply["question"]
            previous = reply
        chat = actions.ask("Where is Varnak0042?", [], [(first["question"], first["answer"])])
        assert chat.answer is not None and chat.answer.citations[0].source == "doc0042.txt"
