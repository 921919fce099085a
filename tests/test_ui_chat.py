"""The chat's turns without a browser: replies with numbered sources, abstentions, copy and export
text, example questions, votes, and a conversation whose updates do not grow with its length."""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from format_files import docx_bytes
from ui_fakes import ALLOWED_TAGS, HOSTILE, RecordingAssistant, cited_answer, passage, status, tags_in

from docqa.assistant import Assistant, AssistantStatus
from docqa.citation import backing_citations, cite
from docqa.engine import ABSTENTION_NOTE, LEXICAL_NOTE_START
from docqa.errors import DocqaError
from docqa.feedback import FEEDBACK_FILE, FeedbackStore
from docqa.schema import Answer, ExtractedAnswer, Note
from docqa.store.base import DocumentInfo
from docqa.ui.chat import EMPTY_QUESTION, Chat, ChatSession
from docqa.ui.examples import SHIPPED_QUESTIONS, example_questions
from docqa.ui.readers import ReaderChoice
from docqa.ui.render import PASSAGE_KEY, answer_targets, format_document_html, own_location
from docqa.ui.turns import plain_text, reply_html, turn_markdown, welcome_html

LEXICAL_NOTE = Note(
    "lexical", f"{LEXICAL_NOTE_START}: no reader model is loaded (could not load 'r' (offline). Fix: pass a folder)."
)


def text_of(markup: str) -> str:
    """What a reader of the page sees of ``markup`` (tags and their attributes left out)."""
    return html.unescape(re.sub(r"<[^>]*>", "", markup))


# ----- replies -------------------------------------------------------------------------------


def test_an_answer_has_numbered_markers_confidence_and_its_highlighted_source() -> None:
    answer = cited_answer("Staff had to leave the Cannon building at once.", "the Cannon building")
    reply = reply_html(4, answer)
    assert 'class="docqa-lead docqa-lead-answer">the Cannon building<sup><a href="#" class="docqa-cite"' in reply
    assert 'data-action="cite" data-turn="4" data-index="0"' in reply
    assert "Confidence: high (83%)" in text_of(reply)
    assert "leave <mark>the Cannon building</mark> at once" in reply
    assert "[1] A title" in text_of(reply) and "000_a.txt \u00b7 2021-01-06" in text_of(reply)
    assert 'data-action="copy"' in reply and reply.count('data-action="vote"') == 2


def test_hostile_document_text_cannot_inject_markup_into_a_reply() -> None:
    snippet = f"{HOSTILE} The answer is 42."
    for answer in (cited_answer(snippet, "42"), cited_answer(snippet, HOSTILE, notes=[Note("no-match", HOSTILE)])):
        reply = reply_html(0, answer)
        assert tags_in(reply) <= ALLOWED_TAGS, reply
        assert "onerror=" not in reply and "javascript:" not in reply
    abstained = Answer("q?", "", 0.0, True, "extractive", passages=[passage("evil.txt", HOSTILE)], query=HOSTILE)
    assert tags_in(reply_html(0, abstained)) <= ALLOWED_TAGS
    assert tags_in(welcome_html(1, [HOSTILE])) <= ALLOWED_TAGS


def test_an_abstention_says_so_once_then_shows_the_closest_passages() -> None:
    passages = [passage(f"{n}.txt", f"Passage number {n}. " * 40) for n in range(5)]
    cut = Note("question-cut", "The question was cut to its first 1000 characters.")
    notes = [Note("abstained", ABSTENTION_NOTE), cut]
    answer = Answer("q?", "", 0.0, True, "extractive", passages=passages, notes=notes)
    reply = text_of(reply_html(0, answer))
    assert reply.count("do not seem to contain the answer") == 1
    assert "cut to its first 1000 characters" in reply and "Confidence" not in reply
    assert [f"{n}.txt" in reply for n in range(5)] == [True, True, True, False, False]
    assert "\u2026" in reply  # long passages are cut
    assert 'data-action="cite" data-turn="0" data-index="2"' in reply_html(0, answer)


def test_the_lexical_mode_is_said_in_the_header_not_in_every_answer() -> None:
    answer = cited_answer("The whole sentence.", "The whole sentence.", mode="sentence", notes=[LEXICAL_NOTE])
    reply = text_of(reply_html(0, answer))
    # A sentence's match score is no chance: said in words only, never as a percentage.
    assert "Best-matching sentence" in reply and "Match: high" in reply and "%" not in reply
    assert "could not load" not in reply and "reader model" not in reply and len(reply) < 400


def test_a_rewritten_follow_up_says_what_was_searched() -> None:
    answer = cited_answer("Staff had to leave the Cannon building.", "the Cannon building")
    answer.query = "Who ordered it? Which building? " + "word " * 60
    reply = text_of(reply_html(1, answer))
    assert "Searched as: \u201cWho ordered it? Which building?" in reply and "\u2026\u201d" in reply
    assert "Searched as" in turn_markdown(answer)
    answer.query = ""
    assert "Searched as" not in text_of(reply_html(1, answer))


def test_copy_and_export_text_hold_the_answer_and_its_sources() -> None:
    answer = cited_answer("Staff had to leave the Cannon building.", "the Cannon building")
    answer.question = "Which building?"
    assert plain_text(answer) == (
        "the Cannon building\n[1] A title (000_a.txt, 2021-01-06): \u201cStaff had to leave the Cannon building.\u201d"
    )
    markdown = turn_markdown(answer)
    assert markdown.startswith("## Which building?\n\nthe Cannon building [1]\n\n*Confidence: high (83%)*")
    assert "[1] A title (000_a.txt, 2021-01-06)" in markdown
    sentence = cited_answer("The whole sentence.", "The whole sentence.", mode="sentence")
    assert plain_text(sentence) == "The whole sentence.\n[1] A title (000_a.txt, 2021-01-06)"
    reply = reply_html(2, answer)
    assert html.unescape(reply.split('data-markdown="')[1].split('"')[0]) == markdown
    assert html.unescape(reply.split('data-copy="')[1].split('"')[0]) == plain_text(answer)


def test_a_source_says_its_title_then_where_it_is_never_the_title_twice() -> None:
    answer = cited_answer("Ports are set in the file.", "in the file")
    answer.citations = [replace(answer.citations[0], title="Setup guide", location="Setup guide \u203a Ports")]
    reply = reply_html(0, answer)
    # The title on its own line (the link), then the file, date and location, muted, on the next.
    assert '[1] Setup guide</a><div class="docqa-place">000_a.txt \u00b7 2021-01-06 \u00b7 Ports</div>' in (
        html.unescape(reply)
    )
    assert "(000_a.txt, 2021-01-06, Ports)" in plain_text(answer)
    assert answer_targets(answer)[0]["location"] == "Ports"
    assert own_location("Setup guide", "Setup guide") is None  # a Word file's Title heading alone
    assert own_location("A very long title cut \u2026", "A very long title cut short \u203a Part 2") == "Part 2"
    assert own_location("Setup guide", "Page 3") == "Page 3" and own_location("", "Page 3") == "Page 3"


def test_a_word_files_source_names_its_title_once(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    blocks = [("Heading 1", "Harbour handbook"), ("Heading 2", "Moorings"),
              ("Normal", "The harbour master of Varnholm is Ivo Brandt.")]  # fmt: skip
    (corpus / "handbook.docx").write_bytes(docx_bytes(blocks, title="Harbour handbook"))
    with Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model="none") as assistant:
        chat, session = Chat(assistant), ChatSession()
        _, turn = chat.take(session, "Who is the harbour master of Varnholm?")
        reply = chat.answer(session, turn)
    shown = text_of(reply.log["html"])
    assert reply.answer is not None and reply.answer.citations[0].location == "Harbour handbook \u203a Moorings"
    assert "[1] Harbour handbookhandbook.docx \u00b7 Moorings" in shown and shown.count("Harbour handbook") == 1
    assert "handbook.docx \u00b7 Moorings" in text_of(reply.sources.document_html)


def test_a_passage_in_the_document_view_is_not_shown_as_an_answer() -> None:
    text = "Intro. The passage read for the question. More."
    passage_view = format_document_html({"source": "a.txt", "start": 7, "end": 40, "kind": "passage"}, text)
    answer_view = format_document_html({"source": "a.txt", "start": 7, "end": 40, "kind": "answer"}, text)
    assert 'class="docqa-passage-span"' in passage_view and PASSAGE_KEY in passage_view
    assert 'class="docqa-answer"' in answer_view and PASSAGE_KEY not in answer_view


def test_an_empty_question_is_not_a_turn_and_the_page_says_so() -> None:
    chat, session = Chat(RecordingAssistant()), ChatSession()  # type: ignore[arg-type]
    assert chat.take(session, "   \n ") == (None, None) and session.turns == []
    assert "question" in EMPTY_QUESTION and "empty" in EMPTY_QUESTION


class _ReaderAssistant(RecordingAssistant):
    def __init__(self, index_dir: Path, reader_model: str, loaded: bool) -> None:
        super().__init__(index_dir)
        self.settings.reader_model = reader_model  # type: ignore[attr-defined]
        self.loaded = loaded

    def status(self) -> AssistantStatus:
        return status(reader_model=self.settings.reader_model, reader_loaded=self.loaded)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("model", "loaded", "expected"),
    [
        ("deepset/tinyroberta-squad2", True, "deepset/tinyroberta-squad2 (started with)"),
        ("deepset/tinyroberta-squad2", False, "deepset/tinyroberta-squad2 (not loaded: lexical mode"),
        ("none", False, "None: lexical mode"),
    ],
)
def test_the_reader_setting_says_whether_the_reader_started_with_loaded(
    tmp_path: Path, model: str, loaded: bool, expected: str
) -> None:
    readers = ReaderChoice(_ReaderAssistant(tmp_path, model, loaded))  # type: ignore[arg-type]
    [(label, value)] = readers.choices()
    assert label.startswith(expected) and value == model == readers.current()
    assert ("started with" in label) == loaded


# ----- several citations ---------------------------------------------------------------------


def test_other_passages_that_hold_the_answer_are_cited_too() -> None:
    first = passage("000_a.txt", "Rep. Elaine Luria heard what sounded like gunshots.", start=0)
    second = passage("001_b.txt", "Later, Elaine Luria said she had heard shots.", start=50, title="B")
    third = passage("002_c.txt", "Nobody else heard anything.", start=90, title="C")
    fourth = passage("003_d.txt", "A tweet from ELAINE\nLURIA followed.", start=200, title="D")
    passages = [first, second, third, fourth]
    agreeing = ExtractedAnswer("Elaine Luria", 0.5, second, 57, 69)
    unrelated = ExtractedAnswer("anything", 0.4, third, 107, 115)
    cited = backing_citations(ExtractedAnswer("Rep. Elaine Luria", 0.9, first, 0, 17), [agreeing, unrelated], passages)
    assert [c.source for c in cited] == ["000_a.txt", "001_b.txt"]  # "Rep. Elaine Luria" is not in D
    best = ExtractedAnswer("Elaine Luria", 0.9, first, 5, 17)
    cited = backing_citations(best, [agreeing, unrelated], passages)
    assert [c.source for c in cited] == ["000_a.txt", "001_b.txt", "003_d.txt"]
    assert cited[2].start == 213 and cited[2].end == 225  # found across a line break, any case
    assert backing_citations(best, [agreeing], passages, limit=1) == [cite(best)]
    answer = Answer("Who?", best.text, 0.9, False, "extractive", cited, passages)
    assert reply_html(0, answer).count('class="docqa-cite" data-action="cite"') == 6  # three markers, three sources


def test_a_long_answer_is_not_looked_for_word_for_word_elsewhere() -> None:
    sentence = "The committee met on Tuesday and agreed the budget for the next year."
    first, second = passage("000_a.txt", sentence, start=0), passage("001_b.txt", sentence, start=0)
    best = ExtractedAnswer(sentence, 0.9, first, 0, len(sentence))
    assert [c.source for c in backing_citations(best, (), [first, second])] == ["000_a.txt"]


# ----- example questions ---------------------------------------------------------------------


def test_examples_come_from_the_shipped_corpus_or_from_titles() -> None:
    shipped = list(SHIPPED_QUESTIONS)
    documents = [DocumentInfo(f"{n}.txt", f"Title {n}", None, 3) for n in range(3)]
    hashes = {f"{n}.txt": digest for n, digest in enumerate(shipped)}
    questions = example_questions(documents, hashes)
    assert questions[:3] == [SHIPPED_QUESTIONS[digest][0] for digest in shipped] and len(questions) == 4
    long_title = DocumentInfo("x.txt", "One two three four five six seven eight nine ten.", None, 1)
    mixed = example_questions([long_title, documents[1]], {"1.txt": shipped[1]}, limit=3)
    assert mixed == [
        "What is \u201cOne two three four five six seven eight\u2026\u201d about?",
        SHIPPED_QUESTIONS[shipped[1]][0],
        SHIPPED_QUESTIONS[shipped[1]][1],
    ]
    assert example_questions([], {}) == []


def test_the_shipped_examples_match_the_shipped_corpus() -> None:
    import hashlib

    corpus = Path(__file__).resolve().parent.parent / "corpus"
    digests = {hashlib.sha256(path.read_bytes()).hexdigest() for path in corpus.iterdir() if path.is_file()}
    assert set(SHIPPED_QUESTIONS) <= digests
    seed = json.loads((Path(__file__).parent / "seed_examples.json").read_text(encoding="utf-8"))
    seeded = {example["q"] for example in seed["questions"]}
    assert {q for questions in SHIPPED_QUESTIONS.values() for q in questions} <= seeded


# ----- votes ---------------------------------------------------------------------------------


def test_votes_are_kept_with_the_question_answer_passages_and_time(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "index")
    answer = cited_answer("Staff had to leave the Cannon building.", "the Cannon building")
    store.record("up", answer, conversation="c1", turn=0)
    store.record("down", answer, conversation="c1", turn=0)  # a change of mind: the last line counts
    lines = (tmp_path / "index" / FEEDBACK_FILE).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    entry = json.loads(lines[1])
    assert (entry["vote"], entry["conversation"], entry["turn"]) == ("down", "c1", 0)
    assert entry["question"] == "q?" and entry["answer"] == "the Cannon building"
    assert entry["passages"][0]["source"] == "000_a.txt" and entry["time"].endswith("+00:00")
    assert "timings" not in entry
    with (tmp_path / "index" / FEEDBACK_FILE).open("a", encoding="utf-8") as cut:
        cut.write('{"vote": "up", "quest')  # a line cut short by a crash
    assert [e["vote"] for e in store.entries()] == ["up", "down"]
    with pytest.raises(DocqaError, match="'up' or 'down'"):
        store.record("sideways", answer, conversation="c1", turn=0)


def test_a_vote_that_cannot_be_saved_says_so(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "index"
    not_a_folder.write_text("a file where the index folder should be")
    chat, session = Chat(RecordingAssistant(not_a_folder)), ChatSession()  # type: ignore[arg-type]
    _, turn = chat.take(session, "Which building?")
    chat.answer(session, turn)
    assert chat.vote(session, turn, "up").startswith("Your vote was not saved")


# ----- a conversation ------------------------------------------------------------------------


def test_a_conversation_carries_its_turns_and_options(tmp_path: Path) -> None:
    assistant = RecordingAssistant(tmp_path / "index")
    chat, session = Chat(assistant), ChatSession()  # type: ignore[arg-type]
    welcome = chat.welcome(session)
    assert (
        welcome["reset"]
        and "Try:" in text_of(welcome["html"])
        and "What is \u201cA title\u201d about?" in text_of(welcome["html"])
    )
    shown, first = chat.take(session, "Which building?")
    assert shown is not None and 'class="docqa-turn docqa-question" data-turn="0"' in shown["html"]
    assert first == 0 and chat.take(session, "   ") == (None, None)
    reply = chat.answer(session, first)
    assert "<mark>the Cannon building</mark>" in reply.log["html"] and reply.log["n"] == 3
    assert reply.sources.labels[0] == "[1] A title" and reply.sources.selected == 0
    assert 'id="docqa-target"' in reply.sources.document_html and "docqa-passage" in reply.sources.passages_html
    _, second = chat.take(session, "Who ordered it?")
    chat.answer(session, second, top_k=3, retrieval="bm25", confidence_threshold=0.5, sources=["000_a.txt"])
    assert assistant.calls[1] == {
        "question": "Who ordered it?",
        "history": [("Which building?", "the Cannon building")],
        "top_k": 3,
        "retrieval": "bm25",
        "confidence_threshold": 0.5,
        "sources": ["000_a.txt"],
    }
    _, third = chat.take(session, "And then?")
    chat.answer(session, third, retrieval=None, sources=[])
    assert assistant.calls[2]["retrieval"] is None and assistant.calls[2]["sources"] is None  # the defaults
    refused = chat.answer(session, third, retrieval="no such mode")
    assert "retrieval must be one of" in text_of(refused.log["html"]) and len(assistant.calls) == 3
    opened = chat.open(session, first, 1)
    assert opened is not None and opened.selected == 1 and "docqa-passage-span" in opened.document_html
    assert chat.open(session, first, 9) is None and chat.open(session, 99, 0) is None
    assert chat.open(session, "0", 0) is None
    assert chat.vote(session, second, "up") == "Thank you: your vote was saved."
    [vote] = FeedbackStore(tmp_path / "index").entries()
    assert vote["turn"] == 1 and vote["question"] == "Who ordered it?" and vote["conversation"] == session.conversation
    cleared = chat.clear(session)
    assert cleared["reset"] and session.turns == [] and session.conversation == ""
    assert chat.vote(session, second, "up").startswith("That answer is no longer")


def test_a_refused_question_becomes_a_reply_and_leaves_the_history_alone() -> None:
    chat, session = Chat(RecordingAssistant()), ChatSession()  # type: ignore[arg-type]
    _, turn = chat.take(session, "  x")
    session.turns[turn].question = "  "  # as if the text had been only spaces
    reply = chat.answer(session, turn)
    assert "the question is empty" in reply.log["html"] and reply.answer is None
    assert session.history(turn + 1) == [] and reply.sources.labels == []


def test_the_page_is_sent_one_turn_at_a_time_however_long_the_conversation() -> None:
    chat, session = Chat(RecordingAssistant()), ChatSession()  # type: ignore[arg-type]
    sizes = []
    for number in range(30):
        asked, turn = chat.take(session, f"Which building, question {number:02d}?")
        reply = chat.answer(session, turn)
        assert asked is not None and not asked["reset"] and not reply.log["reset"]
        sizes.append(len(asked["html"]) + len(reply.log["html"]) + len(reply.sources.document_html))
    assert max(sizes) - min(sizes) <= 10  # the turn number's digits are all that differ
    assert len(session.history(30)) == 30
