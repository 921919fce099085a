"""Corrections kept as SQuAD 2.0 records: offsets, durability, stale documents, the export."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from docqa.annotations import ANNOTATIONS_FILE, AnnotationStore, JsonLines, context_around, write_squad
from docqa.cli import main
from docqa.errors import DocqaError
from docqa.evaluation.squad import load_squad

MANUAL = (
    "Installing the pump.\n\nThe pump is fixed to the wall with four M8 bolts. Tighten them to 25 Nm.\n\n"
    "Servicing.\n\nReplace the filter every six months, or sooner in hard water."
)
LEAFLET = "The leaflet is printed on recycled paper."


def add_both(store: AnnotationStore) -> None:
    start = MANUAL.index("25 Nm")
    store.add_answer("How tight are the bolts?", "manual.txt", MANUAL, start - 1, start + 5, conversation="c", turn=0)
    store.add_no_answer("Who printed it?", "leaflet.txt", LEAFLET, LEAFLET, conversation="c", turn=1)


def test_an_answer_is_kept_with_its_paragraph_and_offset_across_restarts(tmp_path: Path) -> None:
    add_both(AnnotationStore(tmp_path))
    answered, unanswerable = AnnotationStore(tmp_path).records()  # read back by a fresh store
    [answer] = answered["answers"]
    assert answer["text"] == "25 Nm"  # the selection's white space is trimmed
    assert answered["context"] == "The pump is fixed to the wall with four M8 bolts. Tighten them to 25 Nm."
    assert answered["context"][answer["answer_start"]:].startswith("25 Nm")
    assert answered["is_impossible"] is False and answered["source"] == "manual.txt"
    assert unanswerable["is_impossible"] is True and unanswerable["answers"] == []
    assert {"time", "content_hash", "id"} <= set(answered)


def test_the_last_correction_of_a_turn_counts(tmp_path: Path) -> None:
    store = AnnotationStore(tmp_path)
    add_both(store)
    store.add_no_answer("How tight are the bolts?", "manual.txt", MANUAL, MANUAL, conversation="c", turn=0)
    records = store.records()
    assert [r["question"] for r in records] == ["Who printed it?", "How tight are the bolts?"]
    assert records[1]["is_impossible"] is True


def test_a_changed_document_makes_only_its_own_corrections_stale(tmp_path: Path, caplog) -> None:
    store = AnnotationStore(tmp_path)
    add_both(store)
    texts = {"manual.txt": MANUAL.replace("25 Nm", "30 Nm"), "leaflet.txt": LEAFLET}
    with caplog.at_level(logging.WARNING):
        valid, stale = store.current(texts.get)
    assert [r["source"] for r in valid] == ["leaflet.txt"] and [r["source"] for r in stale] == ["manual.txt"]
    assert "manual.txt" in caplog.text
    valid, stale = store.current({"manual.txt": MANUAL}.get)  # the leaflet is gone
    assert [r["source"] for r in valid] == ["manual.txt"] and [r["source"] for r in stale] == ["leaflet.txt"]


def test_a_selection_of_white_space_or_an_empty_question_is_refused(tmp_path: Path) -> None:
    store = AnnotationStore(tmp_path)
    with pytest.raises(DocqaError, match="select"):
        store.add_answer("q?", "manual.txt", MANUAL, 20, 22)
    with pytest.raises(DocqaError, match="question"):
        store.add_answer("  ", "manual.txt", MANUAL, 0, 5)
    assert not (tmp_path / ANNOTATIONS_FILE).exists()


def test_the_context_of_a_long_paragraph_is_cut_around_the_answer() -> None:
    text = " ".join(f"word{n}" for n in range(1000))
    start = text.index("word500")
    first, last = context_around(text, start, start + 7, limit=200)
    assert 150 <= last - first <= 200 and first < start and last > start + 7
    assert text[first:last].split()[0].startswith("word") and text[first - 1] == " "


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path: Path) -> None:
    lines = JsonLines(tmp_path / "x.jsonl")
    lines.append({"a": 1})
    with lines.path.open("a") as file:
        file.write('{"a": ')
    assert list(lines.entries()) == [{"a": 1}]


def test_the_export_is_squad_2_that_docqa_reads(tmp_path: Path) -> None:
    store = AnnotationStore(tmp_path)
    add_both(store)
    path = write_squad(store.records(), tmp_path / "out.json")
    raw = json.loads(path.read_text())
    assert raw["version"] == "v2.0"
    for article in raw["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                for answer in qa["answers"]:
                    start = answer["answer_start"]
                    assert paragraph["context"][start:start + len(answer["text"])] == answer["text"]
    squad = load_squad(path)
    assert [q.is_impossible for q in squad.questions] == [False, True]
    assert squad.questions[0].answers == ("25 Nm",)


def test_docqa_annotations_export_writes_the_file(tmp_path: Path, capsys) -> None:
    add_both(AnnotationStore(tmp_path / "index"))
    out = tmp_path / "corrections.json"
    # No document of the index holds them, so they are stale and left out, with a note.
    code = main(["annotations", "export", str(out), "--index", str(tmp_path / "index"), "--all"])
    assert code == 0 and len(load_squad(out).questions) == 2
    assert "2 corrections" in capsys.readouterr().out


def test_one_correction_is_counted_in_the_singular(tmp_path: Path, capsys) -> None:
    AnnotationStore(tmp_path / "index").add_no_answer(
        "Who printed it?", "leaflet.txt", LEAFLET, LEAFLET, conversation="c", turn=1
    )
    index = str(tmp_path / "index")
    assert main(["annotations", "export", str(tmp_path / "all.json"), "--index", index, "--all"]) == 0
    assert "Wrote 1 correction to " in capsys.readouterr().out
    assert main(["annotations", "export", str(tmp_path / "current.json"), "--index", index]) == 0
    assert "Wrote 0 corrections to " in (out := capsys.readouterr().out) and "1 left out, its document" in out


# ----- from the chat -------------------------------------------------------------------------


def test_a_selection_in_the_document_viewer_is_stored_as_the_answer(tmp_path: Path) -> None:
    from ui_fakes import RecordingAssistant

    from docqa.ui.chat import Chat, ChatSession
    from docqa.ui.corrections import NO_TURN, NOT_SHOWN, Corrections

    assistant = RecordingAssistant(tmp_path / "index")
    chat, corrections, session = Chat(assistant), Corrections(assistant), ChatSession()  # type: ignore[arg-type]
    assert corrections.mark_answer(session, 0, 0, '{"text": "x", "offset": 0}') == NO_TURN
    _, number = chat.take(session, "Which building?")
    chat.answer(session, number)
    document = assistant.document_text("000_a.txt")
    offset = document.index("Cannon building")
    assert corrections.mark_answer(session, number, 0, "{}") == NOT_SHOWN
    assert corrections.mark_answer(session, number, 0, json.dumps({"text": "Zanzibar", "offset": 3})) == NOT_SHOWN
    # An offset the browser counted a little differently still finds the selected words nearby.
    message = corrections.mark_answer(session, number, 0, json.dumps({"text": "Cannon building", "offset": offset + 2}))
    assert message.startswith("Thank you") and "Cannon building" in message
    [record] = AnnotationStore(tmp_path / "index").records()
    assert record["question"] == "Which building?" and record["conversation"] == session.conversation
    start = record["answers"][0]["answer_start"]
    assert record["context"][start:start + 15] == "Cannon building" and record["source"] == "000_a.txt"
    assert corrections.mark_unanswerable(session, number).startswith("Thank you")
    [record] = AnnotationStore(tmp_path / "index").records()  # the turn's later correction counts
    assert record["is_impossible"] is True and record["context"]


# ----- a hostile or damaged file ------------------------------------------------------------


def hostile_annotations(folder: Path) -> bytes:
    """annotations.jsonl with the two corrections of ``add_both`` (the first behind a byte order
    mark) among lines that are not corrections; returns the file's bytes."""
    add_both(AnnotationStore(folder))
    path = folder / ANNOTATIONS_FILE
    good = path.read_bytes().splitlines(keepends=True)
    base = json.loads(good[0])
    bad = [
        json.dumps({**base, "question": "Cut short \u00e9t\u00e9"}, ensure_ascii=False).encode()[:-3] + b"\n",
        "{\"question\": \"\u00e9".encode()[:-1] + b"\n",  # cut inside a two-byte character
        json.dumps({**base, "turn": [1, 2]}).encode() + b"\n",
        json.dumps({**base, "source": ["a"], "turn": 7}).encode() + b"\n",
        json.dumps({**base, "id": {"x": 1}, "turn": 8}).encode() + b"\n",
        b"[" * 200_000 + b"]" * 200_000 + b"\n",
        b'{"turn": ' + b"7" * 5000 + b"}\n",
        json.dumps({**base, "answers": "25 Nm", "turn": 9}).encode() + b"\n",
        json.dumps({**base, "answers": [{"text": "25 Nm", "answer_start": "3"}], "turn": 10}).encode() + b"\n",
        json.dumps({**base, "answers": [{"text": "bolts", "answer_start": 0}], "turn": 11}).encode() + b"\n",
        json.dumps({**base, "is_impossible": "no", "turn": 12}).encode() + b"\n",
        b'"just a string"\n',
    ]
    data = b"\xef\xbb\xbf" + good[0] + b"".join(bad) + good[1]
    path.write_bytes(data)
    return data


def test_a_damaged_file_of_corrections_keeps_its_good_ones_and_says_why_it_skipped_others(tmp_path: Path) -> None:
    data = hostile_annotations(tmp_path)
    store = AnnotationStore(tmp_path)
    records = store.records()
    assert [record["question"] for record in records] == ["How tight are the bolts?", "Who printed it?"]
    assert len(store.skipped) == 12, store.skipped
    reasons = "\n".join(store.skipped)
    for reason in ("not UTF-8 text", "nested too deeply", "not JSON", "its turn is not a number",
                   "its source is not text", "its id is not text", "its answers are not a list",
                   "an answer's offset is not a number", "an answer is not in its context at its offset",
                   "is_impossible is not true or false", "not a JSON object"):  # fmt: skip
        assert reason in reasons, reason
    assert (tmp_path / ANNOTATIONS_FILE).read_bytes() == data  # read, never changed


def test_docqa_annotations_export_and_training_data_skip_damaged_lines(tmp_path: Path, capsys) -> None:
    from docqa.training.data import correction_examples

    index = tmp_path / "index"
    data = hostile_annotations(index)
    out = tmp_path / "corrections.json"
    assert main(["annotations", "export", str(out), "--index", str(index), "--all"]) == 0
    printed = capsys.readouterr()
    assert "Wrote 2 corrections" in printed.out and "12 line(s) of annotations.jsonl skipped" in printed.out
    assert "Traceback" not in printed.err
    assert [q.question for q in load_squad(out).questions] == ["How tight are the bolts?", "Who printed it?"]
    texts = {"manual.txt": MANUAL, "leaflet.txt": LEAFLET}
    examples = correction_examples(index, texts.get)
    assert [(e.question.question, e.answer is None) for e in examples] == [
        ("How tight are the bolts?", False),
        ("Who printed it?", True),
    ]
    assert (index / ANNOTATIONS_FILE).read_bytes() == data


def test_a_line_too_long_to_be_a_correction_is_passed_over_unread(tmp_path: Path, monkeypatch) -> None:
    from docqa import annotations

    monkeypatch.setattr(annotations, "MAX_LINE_BYTES", 1000)
    add_both(AnnotationStore(tmp_path))
    path = tmp_path / ANNOTATIONS_FILE
    first, second = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(first + b'{"question": "' + b"x" * 5000 + b'"}\n' + second)
    store = AnnotationStore(tmp_path)
    assert [record["question"] for record in store.records()] == ["How tight are the bolts?", "Who printed it?"]
    assert store.skipped == ["line 2: longer than 1,000 bytes"]
