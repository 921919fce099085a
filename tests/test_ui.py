"""The chat app's page furniture (header, sources panel, documents), serving options, actions and
the /ask API, without a browser. The chat's turns are tested in test_ui_chat.py."""

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
from ui_fakes import ALLOWED_TAGS, HOSTILE, RecordingAssistant, cited_answer, passage, status, tags_in

from docqa.assistant import Assistant
from docqa.errors import DocqaError
from docqa.schema import IndexReport, confidence_label
from docqa.ui.actions import Actions
from docqa.ui.app import build_app
from docqa.ui.chat import Chat, ChatSession
from docqa.ui.render import (
    TARGET_ID,
    answer_targets,
    describe_report,
    document_window,
    escape_text,
    excerpt,
    format_document_html,
    format_header,
    format_passages_html,
    highlight,
    target_labels,
)
from docqa.ui.serve import auth_from_env, server_address

CORPUS_DIR = Path(__file__).resolve().parent.parent / "corpus"
HEADER_TAGS = ALLOWED_TAGS | {"details", "summary"}


# ----- escaping and highlighting -------------------------------------------------------------


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


def test_excerpt_cuts_at_a_word() -> None:
    assert excerpt("one  two\nthree", limit=100) == "one two three"
    assert excerpt("alpha beta gamma", limit=12) == "alpha beta\u2026"


# ----- the sources panel ---------------------------------------------------------------------


def test_sources_panel_offers_the_citations_then_the_passages() -> None:
    answer = cited_answer("Staff had to leave the Cannon building.", "the Cannon building")
    answer.passages.append(passage("001_b.txt", "Another passage.", start=7, title="B title", date=None))
    targets = answer_targets(answer)
    assert [t["kind"] for t in targets] == ["answer", "passage", "passage"]
    assert targets[2] == {"source": "001_b.txt", "start": 7, "end": 23, "kind": "passage", "title": "B title",
                          "date": None}  # fmt: skip
    assert (targets[0]["title"], targets[0]["date"]) == ("A title", "2021-01-06")
    labels = target_labels(answer)
    assert len(set(labels)) == len(labels) == 3
    assert labels[0] == "[1] A title" and labels[2] == "Passage 2: B title"


def test_passages_show_how_they_were_found_not_raw_scores_and_escape() -> None:
    answer = cited_answer("Staff had to leave the Cannon building.", "the Cannon building")
    answer.passages.append(passage("evil.txt", HOSTILE, start=500, score=12.3456))
    shown = format_passages_html(answer)
    assert "<mark>the Cannon building</mark>" in shown
    assert "found by BM25 #1" in shown and "A title" in shown and "2021-01-06" in html.unescape(shown)
    assert "12.3" not in shown and "0.5000" not in shown
    assert "<script" not in shown and "<img" not in shown


def test_document_view_marks_the_target_for_scrolling() -> None:
    text = f"{HOSTILE}\n\nThe answer is 42 here."
    start = text.index("42")
    target = {"source": "x.txt", "start": start, "end": start + 2, "kind": "answer"}
    shown = format_document_html(target, text, title="A <b>title</b>", date="2021-01-06", location="p. 3")
    assert f'<mark id="{TARGET_ID}" class="docqa-answer">42</mark>' in shown
    assert "A &lt;b&gt;title" in shown and "x.txt \u00b7 2021-01-06 \u00b7 p. 3" in html.unescape(shown)
    assert "<script" not in shown and "<img" not in shown


def test_a_long_document_is_shown_around_its_target() -> None:
    assert document_window("x" * 100, 10, 20, limit=1000) == (0, 100)
    first, last = document_window("x" * 10_000, 9_000, 9_010, limit=1000)
    assert last - first == 1000 and first <= 9_000 and last >= 9_010
    assert document_window("x" * 10_000, 5, 10, limit=1000) == (0, 1000)


# ----- the header ----------------------------------------------------------------------------


def test_the_header_is_one_compact_badge_with_the_how_to_on_demand() -> None:
    problem = "could not load the reader model 'r' (not in the cache). Fix: pass a local folder " + "x" * 300
    lexical = format_header(status(reader_loaded=False, embedder_loaded=False, problems=[problem], indexing=True))
    visible, _, hidden = (html.unescape(part) for part in lexical.partition("<details"))
    assert "Lexical mode: no models loaded" in visible and "3 documents" in visible and "re-indexing" in visible
    assert "could not load" not in visible and len(visible) < 600
    assert "How to load the models" in hidden and problem in hidden
    assert 'data-action="documents"' in visible
    assert tags_in(lexical) <= HEADER_TAGS
    exact = html.unescape(format_header(status()))
    assert "Exact answers \u00b7 hybrid search" in exact and "<b>reader</b> loaded" in exact
    assert "Exact answers \u00b7 BM25 search" in html.unescape(
        format_header(status(embedder_loaded=False, retrieval="bm25"))
    )
    assert "uncalibrated" not in exact
    uncalibrated = html.unescape(format_header(status(scores_calibrated=False)))
    assert "Exact answers \u00b7 hybrid search \u00b7 uncalibrated scores" in uncalibrated
    assert "docqa eval --calibrate" in uncalibrated
    chosen = html.unescape(format_header(status(reader_loaded=False, reader_model="none", documents=1)))
    assert "Lexical mode: no reader model" in chosen and "1 document<" in chosen
    assert "set to 'none'" in chosen


def test_confidence_has_the_same_words_everywhere() -> None:
    assert [confidence_label(score) for score in (0.0, 0.44, 0.45, 0.74, 0.75, 1.0)] == [
        "low", "low", "medium", "medium", "high", "high",
    ]  # fmt: skip
    answer = cited_answer("Staff had to leave the Cannon building.", "the Cannon building")
    assert answer.to_dict()["confidence"] == "high" == confidence_label(answer.score)


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


# ----- the /ask API --------------------------------------------------------------------------


def test_api_ask_returns_the_answer_as_data() -> None:
    assistant = RecordingAssistant()
    actions = Actions(assistant)  # type: ignore[arg-type]
    data = actions.api_ask("Which building?", [["Earlier?", "Yes"]], 2, "dense", 0.1, ["000_a.txt"])
    assert data["answer"] == "the Cannon building" and data["citations"][0]["source"] == "000_a.txt"
    assert data["confidence"] == "high"
    assert assistant.calls[0]["history"] == [("Earlier?", "Yes")]
    assert assistant.calls[0]["retrieval"] == "dense" and assistant.calls[0]["sources"] == ["000_a.txt"]
    actions.api_ask("Which building?", sources=[])
    assert assistant.calls[1]["sources"] is None  # none chosen: every document
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
    ({"sources": "000_a.txt"}, "sources must be a list of document paths"),
    ({"sources": [1]}, "sources must be a list of document paths"),
    ({"sources": ["x.txt"] * 1001}, "name at most 1000"),
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
    assert time.perf_counter() - started < 30  # a margin that holds on a loaded 2-core machine
    assert len(data["question"]) == 1000 and "cut to its first 1000 characters" in data["message"]


@pytest.fixture
def lexical_assistant(tmp_path: Path) -> Assistant:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS_DIR, corpus)
    assistant = Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model="none")
    assistant.index()
    return assistant


def test_a_question_can_be_limited_to_some_documents(lexical_assistant: Assistant) -> None:
    actions = Actions(lexical_assistant)
    question = "Which building did Capitol Police order Congressional staff to leave?"
    everywhere = actions.api_ask(question)
    own = everywhere["citations"][0]["source"]
    others = [d.source for d in lexical_assistant.documents() if d.source != own]
    limited = actions.api_ask(question, sources=others)
    assert {p["source"] for p in limited["passages"]} <= set(others) and limited["passages"]
    assert all(c["source"] in others for c in limited["citations"])
    answer = lexical_assistant.ask(question, sources=[own])
    assert {p.chunk.source for p in answer.passages} == {own}
    nothing = lexical_assistant.ask(question, sources=["not-indexed.txt"])
    assert nothing.abstained and not nothing.passages and "chosen documents" in nothing.message


def test_dense_search_cannot_be_chosen_without_an_embedder(lexical_assistant: Assistant) -> None:
    app = build_app(lexical_assistant)
    [radio] = [block for block in app.blocks.values() if getattr(block, "elem_id", None) == "docqa-retrieval"]
    assert radio.value == "bm25" and radio.interactive is False and "embedding model" in radio.info


def test_upload_makes_a_document_answerable_and_delete_removes_it(lexical_assistant: Assistant, tmp_path: Path) -> None:
    actions = Actions(lexical_assistant)
    upload = tmp_path / "zebra facts.txt"
    upload.write_text("The zebra crossing on Quokka Lane was painted in 1951. <img src=x onerror=alert(1)>")
    steps: list[tuple[float, str]] = []
    message = html.unescape(actions.upload([str(upload)], lambda done, text: steps.append((done, text))))
    assert "Added zebra facts.txt" in message and "1 added" in message
    assert steps and steps[-1][0] == 1.0
    assert [actions.document_rows()[-1][i] for i in (3, 2)] == ["zebra facts.txt", 1]
    chat, session = Chat(lexical_assistant), ChatSession()
    _, turn = chat.take(session, "When was the zebra crossing on Quokka Lane painted?")
    reply = chat.answer(session, turn)
    assert reply.answer is not None and reply.answer.citations[0].source == "zebra facts.txt"
    assert tags_in(reply.log["html"]) <= ALLOWED_TAGS
    assert "<img" not in reply.sources.document_html and "zebra crossing" in reply.sources.document_html
    message = html.unescape(actions.delete("zebra facts.txt", lambda done, text: None))
    assert "1 removed" in message and "zebra facts.txt" not in actions.document_sources()
    assert not (lexical_assistant.settings.corpus_dir / "zebra facts.txt").exists()
    assert actions.delete("", lambda done, text: None) == "Nothing was deleted."
    assert "not an indexed document" in actions.delete("../corpus", lambda done, text: None)
    assert actions.delete(None, lambda done, text: None) == "Choose a document to delete."


def test_an_upload_the_folder_watcher_indexed_first_is_still_reported_as_added(
    lexical_assistant: Assistant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    actions = Actions(lexical_assistant)
    lexical_assistant.index()
    real_index = lexical_assistant.index

    def watcher_first(**options: Any) -> Any:
        real_index()  # the watcher's update, on the file just saved
        return real_index(**options)  # then the upload's own, which finds it unchanged

    monkeypatch.setattr(lexical_assistant, "index", watcher_first)
    upload = tmp_path / "heron count.txt"
    upload.write_text("Ottoline Brisk counted the herons on the Varnholm ferry.")
    message = html.unescape(actions.upload([str(upload)], lambda done, text: None))
    assert "Index updated: 1 added." in message and "already up to date" not in message


def test_build_app_exposes_the_ask_and_upload_endpoints(lexical_assistant: Assistant) -> None:
    app = build_app(lexical_assistant)
    public = [fn.api_name for fn in app.fns.values() if fn.api_visibility == "public"]
    assert public == ["ask", "upload"]


def test_the_upload_endpoint_is_told_whether_to_replace_and_says_what_it_did(
    lexical_assistant: Assistant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gradio_client import Client, handle_file

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    corpus = lexical_assistant.settings.corpus_dir
    (corpus / "ferry.txt").write_text("The ferry to Varnholm leaves at noon.")
    lexical_assistant.index()
    upload = tmp_path / "ferry.txt"
    upload.write_text("The ferry to Varnholm leaves at four in the afternoon.")
    app = build_app(lexical_assistant).queue()
    _, url, _ = app.launch(prevent_thread_lock=True, server_name="127.0.0.1")
    try:
        client = Client(url, verbose=False)
        kept = client.predict(files=[handle_file(str(upload))], api_name="/upload")
        assert kept["saved"] == ["ferry-2.txt"] and kept["renamed"] == [["ferry.txt", "ferry-2.txt"]]
        assert kept["replaced"] == [] and kept["index"]["added"] == ["ferry-2.txt"]
        replaced = client.predict(files=[handle_file(str(upload))], replace=True, api_name="/upload")
        assert replaced["saved"] == replaced["replaced"] == ["ferry.txt"] and replaced["rejected"] == []
        assert replaced["index"]["updated"] == ["ferry.txt"] and replaced["index"]["added"] == []
        sources = [d.source for d in lexical_assistant.documents()]
        assert sources.count("ferry.txt") == 1 and "ferry-3.txt" not in sources
        answer = client.predict(question="When does the ferry to Varnholm leave?", api_name="/ask")
        assert "four in the afternoon" in answer["answer"]
        assert not any((tmp_path / "gradio").rglob("ferry.txt"))  # Gradio's copies are gone once stored
        client.close()
    finally:
        app.close()


def test_the_upload_endpoint_takes_only_files_sent_with_the_request(lexical_assistant: Assistant) -> None:
    actions = Actions(lexical_assistant)
    server_file = lexical_assistant.settings.corpus_dir.parent / "secret.txt"
    server_file.write_text("Not to be added.")
    for files in ([str(server_file)], [], [{"path": str(server_file)}], [{"url": "x"}], [3]):
        with pytest.raises(gr.Error, match="send the files with the request"):
            actions.api_upload(files)
    with pytest.raises(gr.Error, match="replace is true or false"):
        actions.api_upload([str(server_file)], replace="yes")  # type: ignore[arg-type]
    assert server_file.exists() and "secret.txt" not in actions.document_sources()


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
        chat, session = Chat(assistant), ChatSession()
        for question in (first["question"], "Where is Varnak0042?"):
            _, turn = chat.take(session, question)
            reply = chat.answer(session, turn)
        # The chat leans a follow-up on an answer only when it was given with confidence.
        assert session.history(turn) == [(first["question"], first["answer"] if first["confident"] else "")]
        assert reply.answer is not None and reply.answer.passages[0].chunk.source == "doc0042.txt"
        assert [citation.source for citation in reply.answer.citations] in (["doc0042.txt"], [])  # or it abstains


def test_the_served_app_keeps_few_gradio_events_and_summarises_them_rarely(
    lexical_assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GRADIO_ANALYTICS_MAX_EVENTS", "GRADIO_ANALYTICS_CACHE_FREQUENCY"):
        monkeypatch.delenv(name, raising=False)  # the test's end restores the environment
    queue = build_app(lexical_assistant).queue()._queue
    assert queue.ANALYTICS_MAX_EVENTS == 100  # Gradio's own default keeps 10,000
    assert queue.ANAYLTICS_CACHE_FREQUENCY >= 1_000_000  # Gradio's own default summarises after every event
    monkeypatch.setenv("GRADIO_ANALYTICS_MAX_EVENTS", "7")
    assert build_app(lexical_assistant).queue()._queue.ANALYTICS_MAX_EVENTS == 7  # the environment decides
