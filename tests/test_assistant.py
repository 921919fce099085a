"""The assistant end to end: lexical mode, extractive mode with tiny models, follow-ups, errors."""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from docqa import Answer, Assistant, DocqaError, Settings
from docqa.conversation import clean_question, rewrite_follow_up

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
SEED = json.loads((Path(__file__).parent / "seed_examples.json").read_text())


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(CORPUS, folder)
    return folder


@pytest.fixture
def lexical(tmp_path: Path, corpus: Path) -> Assistant:
    return Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model="none")


@pytest.mark.parametrize("example", SEED["questions"], ids=lambda example: example["q"][:40])
def test_lexical_mode_cites_the_file_that_holds_the_answer(lexical: Assistant, example: dict) -> None:
    answer = lexical.ask(example["q"])
    assert answer.mode == "sentence" and not answer.abstained
    assert answer.citations[0].source.startswith(example["src"])
    assert "best-matching sentence" in answer.message and "'none'" in answer.message
    document = lexical.document_text(answer.citations[0].source)
    # A sentence, or for a question asking for several, the items of the sentence that lists them.
    shown = [item.text for item in answer.items] or [answer.text]
    cited = [document[citation.start : citation.end] for citation in answer.citations[: len(shown)]]
    assert cited == shown


def test_the_shipped_date_marker_becomes_metadata(lexical: Assistant) -> None:
    answer = lexical.ask("Which representative said she could hear what sounded like multiple gunshots?")
    assert answer.citations[0].date == "2021-01-06"
    assert not lexical.document_text(answer.citations[0].source).lstrip().startswith("date")


def test_extractive_answers_are_exact_spans_of_the_cited_document(
    tmp_path: Path, corpus: Path, tiny_embedder_path: Path, tiny_reader_path: Path
) -> None:
    assistant = Assistant(
        corpus,
        tmp_path / "index",
        embedding_model=str(tiny_embedder_path),
        reader_model=str(tiny_reader_path),
        confidence_threshold=0.0,
    )
    answer = assistant.ask("Which building did Capitol Police order Congressional staff to leave?")
    status = assistant.status()
    assert status.mode == "extractive" and status.embedder_loaded and status.retrieval == "hybrid"
    assert answer.mode == "extractive" and not answer.abstained and answer.text
    citation = answer.citations[0]
    assert assistant.document_text(citation.source)[citation.start : citation.end] == answer.text
    snippet_offset = citation.start - citation.snippet_start
    assert citation.snippet[snippet_offset : snippet_offset + len(answer.text)] == answer.text
    assert 0.0 <= answer.score <= 1.0
    assert set(answer.timings) == {"loading", "retrieval", "reading", "total"}
    assert {p.bm25_rank is not None or p.dense_rank is not None for p in answer.passages} == {True}
    payload = json.loads(json.dumps(answer.to_dict()))
    assert payload["citations"][0]["source"] == citation.source and payload["mode"] == "extractive"


@pytest.mark.parametrize(("setting", "readings"), [(None, 1), ("0", 2)])
def test_the_reader_cache_setting_decides_whether_a_repeated_question_is_read_again(
    tmp_path: Path,
    corpus: Path,
    tiny_reader_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    setting: str | None,
    readings: int,
) -> None:
    if setting is not None:
        monkeypatch.setenv("DOCQA_READER_CACHE", setting)
    assistant = Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model=str(tiny_reader_path))
    assistant.warm_up()
    forward = assistant.reader._forward
    calls = []
    monkeypatch.setattr(assistant.reader, "_forward", lambda encodings: calls.append(1) or forward(encodings))

    answers = [assistant.ask("Who was thought to be a major target of the protestors?") for _ in range(2)]

    assert len(calls) == readings
    assert answers[0].text == answers[1].text


def test_a_negative_reader_cache_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCQA_READER_CACHE", "-1")
    with pytest.raises(DocqaError, match="reader_cache must not be negative"):
        Assistant()


def flat_logits(encodings: Any) -> tuple[np.ndarray, np.ndarray]:
    """Stands in for the reader's model: every span scores sigmoid(0.9 * (2 * 4.08 - 9.1)), about 0.3,
    and the no-answer logit is far below, so the model itself always answers."""
    starts = np.full(encodings["input_ids"].shape, 4.08, dtype=np.float32)
    starts[:, 0] = -50.0
    return starts, starts.copy()


@pytest.mark.parametrize(
    ("default", "per_call", "abstained"),
    [(0.5, None, True), (0.5, 0.1, False), (0.2, None, False), (0.2, 0.9, True)],
)
def test_the_confidence_threshold_of_a_question_replaces_the_default_either_way(
    tmp_path: Path,
    corpus: Path,
    tiny_reader_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    default: float,
    per_call: float | None,
    abstained: bool,
) -> None:
    assistant = Assistant(
        corpus, tmp_path / "index", embedding_model="none", reader_model=str(tiny_reader_path),
        confidence_threshold=default,
    )
    assistant.warm_up()
    monkeypatch.setattr(assistant.reader, "_forward", flat_logits)

    answer = assistant.ask("Who was thought to be a major target of the protestors?", confidence_threshold=per_call)

    reading = assistant.read(answer.question, answer.passages, confidence_threshold=per_call)  # what eval uses
    assert reading.abstained is abstained and reading.answers
    if abstained:  # the reader's miss falls back to the closest sentence, which the corpus has
        assert answer.mode == "sentence" and not answer.abstained and "closest sentence" in answer.message
        assert any(answer.text in passage.chunk.text for passage in answer.passages)
    else:
        assert answer.mode == "extractive" and not answer.abstained
        assert answer.text and answer.score == pytest.approx(0.3, abs=0.001)
        assert all(alternative.score >= (per_call or default) for alternative in answer.alternatives)


def test_without_a_threshold_set_each_reader_takes_its_own_default(
    tmp_path: Path, corpus: Path, tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extractive = Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model=str(tiny_reader_path))
    assert extractive.confidence_threshold == 0.4  # known before the model loads
    extractive.warm_up()
    assert extractive.reader is not None and extractive.confidence_threshold == 0.4
    monkeypatch.setattr(extractive.reader, "_forward", flat_logits)  # every span scores about 0.3
    question = "Who was thought to be a major target of the protestors?"
    assert extractive.read(question, extractive.retrieve(question)).abstained

    lexical = Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model="none")
    assert lexical.confidence_threshold == 0.2
    fallen_back = Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model=str(tmp_path / "no"))
    fallen_back.warm_up()
    assert fallen_back.reader is not None and fallen_back.reader.mode == "sentence"
    assert fallen_back.confidence_threshold == 0.2

    monkeypatch.setenv("DOCQA_CONFIDENCE_THRESHOLD", "0.65")
    assert Assistant(settings=Settings.from_env(reader_model="none")).confidence_threshold == 0.65


def test_below_the_threshold_it_abstains_and_shows_the_closest_passages(
    tmp_path: Path, corpus: Path, tiny_reader_path: Path
) -> None:
    assistant = Assistant(
        corpus, tmp_path / "index", embedding_model="none", reader_model=str(tiny_reader_path), confidence_threshold=1.0
    )
    answer = assistant.ask("Who designed the Sydney Opera House?")  # no sentence holds its names either
    assert answer.abstained and answer.text == "" and not answer.citations
    assert answer.passages and "do not seem to contain the answer" in answer.message


def test_an_unloadable_model_is_named_and_the_lexical_mode_takes_over(tmp_path: Path, corpus: Path) -> None:
    assistant = Assistant(
        corpus, tmp_path / "index", embedding_model="./missing-embedder", reader_model="./missing-reader"
    )
    answer = assistant.ask("Who sang the song that played before the rally speeches?")
    assert answer.mode == "sentence" and answer.citations[0].source.startswith("001")
    status = assistant.status()
    assert not status.embedder_loaded and not status.reader_loaded and status.retrieval == "bm25"
    assert any("./missing-reader" in problem and "none" in problem for problem in status.problems)
    assert "./missing-reader" in answer.message


def test_follow_up_questions_are_searched_with_the_previous_turn(lexical: Assistant) -> None:
    first = lexical.ask("Which governor sent the Virginia National Guard?")
    assert "Northam" in first.text
    follow_up = lexical.ask("How many troopers did he send?", history=[(first.question, first.text)])
    assert "Which governor" in follow_up.query
    assert follow_up.citations[0].source.startswith("002")
    assert any("200 Virginia State Troopers" in p.chunk.text for p in follow_up.passages)


def test_rewrite_leaves_self_contained_questions_alone() -> None:
    history = [("Which governor sent the Virginia National Guard?", "Ralph Northam")]
    assert rewrite_follow_up("What did police signs around the district warn of?", history) == (
        "What did police signs around the district warn of?"
    )
    assert rewrite_follow_up("And the date?", history).startswith("And the date? Which governor")
    assert rewrite_follow_up("How many troopers did he send?", None) == "How many troopers did he send?"


@pytest.mark.parametrize("question", ["", "   ", "\x00\x07\n\t"])
def test_an_empty_question_is_refused(lexical: Assistant, question: str) -> None:
    with pytest.raises(DocqaError, match="empty"):
        lexical.ask(question)


@pytest.mark.parametrize(
    "options",
    [{"top_k": -1}, {"top_k": 10**30}, {"top_k": "5"}, {"top_k": float("inf")}, {"top_k": 0},
     {"confidence_threshold": float("nan")}, {"confidence_threshold": -5}, {"confidence_threshold": "0.5"}],
    ids=["top-k-negative", "top-k-huge", "top-k-text", "top-k-infinite", "top-k-zero",
         "threshold-nan", "threshold-negative", "threshold-text"],
)
def test_per_question_settings_out_of_range_are_refused_with_a_clear_message(
    lexical: Assistant, options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    lexical.warm_up()
    searched: list[str] = []
    monkeypatch.setattr(lexical, "retrieve", lambda query, **_: searched.append(query) or [])
    with pytest.raises(DocqaError, match=r"top_k|threshold"):
        lexical.ask("Who said she heard gunshots?", **options)
    assert searched == []  # refused before any search


def test_questions_are_cleaned_and_cut() -> None:
    assert clean_question("Who\x00 sang\u200b?") == ("Who sang ?", [])
    cleaned, notes = clean_question("why " * 600)
    assert len(cleaned) == 1000 and notes[0].code == "question-cut" and "cut" in notes[0].text


def test_a_question_over_an_empty_corpus_gets_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assistant = Assistant(tmp_path / "empty", tmp_path / "index", embedding_model="none", reader_model="none")
    answer = assistant.ask("Who sang the song?")
    assert answer.abstained and "no documents" in answer.message and "docqa index" in answer.message


def test_documents_added_later_are_answered_after_index(lexical: Assistant, corpus: Path) -> None:
    lexical.ask("Who sang the song that played before the rally speeches?")
    (corpus / "lighthouse.md").write_text("# Lighthouse\n\nThe keeper of the lighthouse counted forty ships.\n")
    report = lexical.index()
    assert report.added == ["lighthouse.md"]
    answer = lexical.ask("How many ships did the lighthouse keeper count?")
    assert answer.citations[0].source == "lighthouse.md" and "forty ships" in answer.text
    assert [d.source for d in lexical.documents()][-1] == "lighthouse.md"


def test_questions_are_answered_from_several_threads(lexical: Assistant) -> None:
    questions = [example["q"] for example in SEED["questions"]] * 3
    answers: list[Answer] = []
    errors: list[BaseException] = []

    def ask(question: str) -> None:
        try:
            answers.append(lexical.ask(question))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=ask, args=(q,)) for q in questions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(answers) == len(questions)
    assert all(answer.citations for answer in answers)


def test_a_decomposed_accent_is_read_as_its_composed_letter() -> None:
    assert clean_question("Who sang the so\u0301ng?")[0] == "Who sang the s\u00f3ng?"


def test_status_reports_a_damaged_index_instead_of_failing(lexical: Assistant, tmp_path: Path) -> None:
    lexical.index()
    lexical.close()
    (tmp_path / "index" / "index.sqlite").write_bytes(b"damaged" * 1000)
    damaged = Assistant(tmp_path / "corpus", tmp_path / "index", embedding_model="none", reader_model="none")
    status = damaged.status()
    assert status.documents == 0 and any("rebuild" in problem for problem in status.problems)


def test_an_answer_has_the_confidence_words_of_its_dict(lexical: Assistant) -> None:
    answer = lexical.ask(SEED["questions"][0]["q"])
    assert answer.confidence == answer.to_dict()["confidence"]
    assert [dataclasses.replace(answer, score=score).confidence for score in (0.9, 0.75, 0.5, 0.44, 0.0)] == [
        "high", "high", "medium", "low", "low",
    ]  # fmt: skip


HARBOUR = "The harbour master of Port Wren is Quentin Abernathy.\n"


def test_an_index_keeps_its_vectors_while_its_embedding_model_cannot_load(
    tmp_path: Path, corpus: Path, tiny_embedder_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCQA_EMBEDDING_MODEL", raising=False)
    model = Path(shutil.copytree(tiny_embedder_path, tmp_path / "embedder"))
    index = tmp_path / "index"
    with Assistant(corpus, index, embedding_model=str(model), reader_model="none") as first:
        first.index()
        vectors = first.store.manifest()["vectors_count"]  # type: ignore[attr-defined]
    with Assistant(corpus, index, reader_model="none") as unnamed:  # no model named: the index's own
        assert not unnamed.index().changed
        assert unnamed.status().embedding_model == str(model) and unnamed.status().retrieval == "hybrid"

    model.rename(tmp_path / "away")
    (corpus / "harbour.txt").write_text(HARBOUR)
    with Assistant(corpus, index, reader_model="none") as without:
        report = without.index()
        assert report.added == ["harbour.txt"] and report.unembedded == ["harbour.txt"] and not report.rebuilt
        status = without.status()
        assert status.retrieval == "bm25" and status.vectors_kept and str(model) in status.problems[0]
        assert without.store.settings().embedding_model == str(model)  # type: ignore[union-attr]
        assert without.store.manifest()["vectors_count"] > vectors  # type: ignore[attr-defined]
        assert without.ask("Who is the harbour master of Port Wren?").citations[0].source == "harbour.txt"
        again = without.index()  # not read again while the model is missing
        assert not again.changed and again.unembedded == ["harbour.txt"]

    (tmp_path / "away").rename(model)
    with Assistant(corpus, index, reader_model="none") as back:
        report = back.index()  # the model is back: what waited for it is embedded, nothing else
        assert report.updated == ["harbour.txt"] and len(report.unchanged) == 3 and report.unembedded == []
        assert not back.store.stored_hashes()["harbour.txt"].startswith("unembedded:")
        assert back.store.manifest()["vectors_count"] == back.store.count_passages()  # type: ignore[attr-defined]


def test_only_a_rebuild_or_another_model_drops_the_vectors(
    tmp_path: Path, corpus: Path, tiny_embedder_path: Path
) -> None:
    model = Path(shutil.copytree(tiny_embedder_path, tmp_path / "embedder"))
    index = tmp_path / "index"
    with Assistant(corpus, index, embedding_model=str(model), reader_model="none") as first:
        first.index()
    model.rename(tmp_path / "away")
    with Assistant(corpus, index, reader_model="none") as rebuilding:
        assert rebuilding.index(rebuild=True).rebuilt and not rebuilding.store.has_vectors()


def test_dense_search_without_the_embedding_model_is_refused(lexical: Assistant) -> None:
    with pytest.raises(DocqaError, match=r"dense search \(--retrieval dense\) needs the embedding model.*'none'"):
        lexical.ask("Who sang the song?", retrieval="dense")
    assert lexical.ask("Who sang the song that played before the rally speeches?", retrieval="bm25").citations


def test_a_passage_further_in_is_read_with_its_document_opening(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    filler = " ".join(f"Rule {n} of the workshop is kept by every team member on every shift." for n in range(60))
    (corpus / "safety.txt").write_text(
        "Safety procedures\n\nThese procedures apply to everyone who works at Unit 4, Tannery Lane.\n\n"
        f"{filler}\n\nThe assembly point is at the far end of the visitor car park.\n",
        encoding="utf-8",
    )
    with Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model="none") as assistant:
        assistant.index()
        passages = assistant.retrieve("Where is the fire assembly point for Unit 4?")
        further = [passage for passage in passages if passage.chunk.index > 0]
        assert further and all(passage.opening.startswith("Safety procedures") for passage in further)
        assert all(not passage.opening for passage in passages if passage.chunk.index == 0)
        answer = assistant.ask("Where is the fire assembly point for Unit 4?")
    assert not answer.abstained
    assert "far end of the visitor car park" in answer.text
