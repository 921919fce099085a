from __future__ import annotations

import json
import math
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_models import TINY_CALIBRATION
from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

import docqa.reader.extractive as extractive_module
from docqa.config import Settings
from docqa.errors import DocqaError, ModelLoadError
from docqa.reader import ExtractiveReader, Reader, ReaderResult, SentenceReader, build_reader
from docqa.reader.base import merge_duplicates
from docqa.reader.calibration import Calibration, sigmoid
from docqa.reader.spans import decode_spans, widen_to_words
from docqa.schema import Chunk, ExtractedAnswer, RetrievedPassage
from docqa.text import question_terms

DOCUMENT = (
    "The harbour museum opened in the spring of 1998 after a long campaign by local historians. "
    "Its first director was Margaret Olsen, who had worked for twenty years at the national archive. "
    "The building stands on the old fish market, next to the lighthouse and the ferry terminal.\n\n"
    "In 2004 a storm flooded the lower gallery and destroyed part of the collection of maps. "
    "Volunteers dried the surviving charts in a bakery oven borrowed from the town council. "
    "The restored maps went back on display two years later in a new climate controlled room.\n\n"
    "Today the museum receives about forty thousand visitors a year. Most of them come in July "
    "and August, when the ferry runs every hour. School classes visit in the winter, when the "
    "galleries are quiet and the guides have time to answer questions.\n\n"
    "The museum shop sells copies of the old maps, books about the harbour and a small model of "
    "the lighthouse. The money pays for the conservation of the collection. A second building for "
    "the boats of the fishing fleet is planned, and the council approved the design in March."
)
SOURCE = "harbour.txt"
BASE_LOGIT = -2.0  # every token that is not planted
LOW_NULL = -10.0  # per position, so the null logit sum is -20


def passage_of(start: int, end: int) -> RetrievedPassage:
    return RetrievedPassage(Chunk(SOURCE, start, DOCUMENT[start:end], start, end), 1.0, title="Harbour")


def phrase_in(passage: RetrievedPassage, phrase: str) -> tuple[int, int]:
    """Character span of ``phrase`` in the passage text."""
    start = passage.chunk.text.index(phrase)
    return start, start + len(phrase)


@dataclass(frozen=True)
class Plant:
    """Logits for a span: ``logit`` at its start token and at its end token."""

    passage: int
    start: int  # character offsets in the passage text
    end: int
    logit: float


@dataclass
class PlantedForward:
    """Stands in for the model: logits that peak at planted spans, recording where it planted them."""

    plants: list[Plant]
    null_logit: float = LOW_NULL
    passage_nulls: dict[int, float] = field(default_factory=dict)  # overrides null_logit per passage
    calls: int = 0
    windows: int = 0
    planted_windows: dict[int, list[int]] = field(default_factory=dict)  # plant index -> windows

    def __call__(self, encodings: Any) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        shape = tuple(encodings["input_ids"].shape)
        self.windows = shape[0]
        starts = np.full(shape, BASE_LOGIT, dtype=np.float32)
        ends = np.full(shape, BASE_LOGIT, dtype=np.float32)
        owners = encodings["overflow_to_sample_mapping"].tolist()
        for window in range(shape[0]):
            starts[window, 0] = ends[window, 0] = self.passage_nulls.get(owners[window], self.null_logit)
            context = [sequence == 1 for sequence in encodings.sequence_ids(window)]
            offsets = encodings["offset_mapping"][window].tolist()
            for number, plant in enumerate(self.plants):
                if plant.passage != owners[window]:
                    continue
                first = _token_where(context, offsets, lambda o, p=plant: o[0] == p.start)
                last = _token_where(context, offsets, lambda o, p=plant: o[1] == p.end)
                if first is not None and last is not None:
                    starts[window, first] = ends[window, last] = plant.logit
                    self.planted_windows.setdefault(number, []).append(window)
        return starts, ends


def _token_where(
    context: list[bool], offsets: list[list[int]], test: Callable[[list[int]], bool]
) -> int | None:
    matches = (i for i, (inside, o) in enumerate(zip(context, offsets, strict=True)) if inside and test(o))
    return next(matches, None)


def planted_reader(
    path: Path, monkeypatch: pytest.MonkeyPatch, plants: list[Plant], **settings: Any
) -> tuple[ExtractiveReader, PlantedForward]:
    reader = ExtractiveReader(str(path), **settings)
    forward = PlantedForward(plants)
    monkeypatch.setattr(reader, "_forward", forward)
    return reader, forward


def calibrated(logit_sum: float) -> float:
    """The score the tiny reader's calibration gives a start + end logit of ``logit_sum``."""
    return TINY_CALIBRATION.score(logit_sum, 0.0)


def assert_exact(answer: ExtractedAnswer) -> None:
    assert answer.text == DOCUMENT[answer.start:answer.end]
    chunk = answer.passage.chunk
    assert answer.text == chunk.text[answer.start - chunk.start:answer.end - chunk.start]
    assert 0.0 <= answer.score <= 1.0


# ----- decoding with planted logits -------------------------------------------------------------


def test_planted_span_is_cited_at_its_document_offsets(
    tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passage = passage_of(300, 700)
    start, end = phrase_in(passage, "a bakery oven")
    reader, forward = planted_reader(tiny_reader_path, monkeypatch, [Plant(0, start, end, 8.0)])

    result = reader.read("Where were the charts dried?", [passage])

    assert not result.abstained
    best = result.answers[0]
    assert best.text == "a bakery oven"
    assert (best.start, best.end) == (300 + start, 300 + end)
    assert best.score == pytest.approx(calibrated(16.0))
    assert best.passage is passage
    assert all(answer.text for answer in result.answers)
    for answer in result.answers:
        assert_exact(answer)
    assert forward.calls == 1


def test_span_in_a_later_window_of_a_long_passage(
    tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passage = passage_of(0, len(DOCUMENT))
    start, end = phrase_in(passage, "approved the design in March")
    reader, forward = planted_reader(
        tiny_reader_path, monkeypatch, [Plant(0, start, end, 8.0)], max_seq_length=64, stride=16
    )

    result = reader.read("When was the design approved?", [passage])

    assert forward.windows > 3
    assert min(forward.planted_windows[0]) > 0
    assert result.answers[0].text == "approved the design in March"
    assert_exact(result.answers[0])


def test_span_in_the_second_passage(tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    passages = [passage_of(0, 280), passage_of(560, 900)]
    start, end = phrase_in(passages[1], "forty thousand visitors")
    reader, forward = planted_reader(tiny_reader_path, monkeypatch, [Plant(1, start, end, 7.0)])
    forward.passage_nulls = {0: 6.0}  # the first passage holds no answer

    result = reader.read("How many visitors come?", passages)

    best = result.answers[0]
    assert best.passage is passages[1]
    assert best.text == "forty thousand visitors"
    assert best.start == 560 + start
    assert_exact(best)


def test_the_best_ranked_passage_with_an_answer_answers_first(
    tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lower passage's span with a higher logit stays an alternative: retrieval ranked it lower."""
    passages = [passage_of(300, 700), passage_of(560, 900)]
    plants = [Plant(0, *phrase_in(passages[0], "a bakery oven"), 4.0),
              Plant(1, *phrase_in(passages[1], "forty thousand visitors"), 7.0)]
    reader, _ = planted_reader(tiny_reader_path, monkeypatch, plants)

    result = reader.read("What is it?", passages)

    assert [answer.text for answer in result.answers[:2]] == ["a bakery oven", "forty thousand visitors"]
    assert result.answers[0].passage is passages[0]
    assert result.answers[1].score > result.answers[0].score


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_scores_compare_across_passages(
    tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch, order: tuple[int, int]
) -> None:
    candidates = [passage_of(0, 280), passage_of(560, 900)]
    phrases = ["Margaret Olsen", "forty thousand visitors"]
    logits = [6.0, 9.0]
    passages = [candidates[i] for i in order]
    plants = [Plant(position, *phrase_in(passages[position], phrases[i]), logits[i])
              for position, i in enumerate(order)]
    reader, _ = planted_reader(tiny_reader_path, monkeypatch, plants)

    result = reader.read("Who or how many?", passages)

    # The same logits score the same wherever their passage stands; the first passage answers first.
    scores = {answer.text: answer.score for answer in result.answers}
    assert scores["forty thousand visitors"] == pytest.approx(calibrated(18.0))
    assert scores["Margaret Olsen"] == pytest.approx(calibrated(12.0))
    assert result.answers[0].text == phrases[order[0]]


def test_null_score_above_every_span_abstains_but_keeps_the_guesses(
    tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passage = passage_of(300, 700)
    start, end = phrase_in(passage, "a bakery oven")
    reader, forward = planted_reader(tiny_reader_path, monkeypatch, [Plant(0, start, end, 5.0)])
    forward.null_logit = 6.0

    result = reader.read("Where were the charts dried?", [passage])

    assert result.abstained
    assert result.answers[0].text == "a bakery oven"
    assert result.no_answer_score == pytest.approx(calibrated(12.0))
    assert result.no_answer_score > result.answers[0].score


def test_span_above_the_null_score_answers(tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    passage = passage_of(300, 700)
    start, end = phrase_in(passage, "a bakery oven")
    reader, forward = planted_reader(tiny_reader_path, monkeypatch, [Plant(0, start, end, 7.0)])
    forward.null_logit = 6.0

    result = reader.read("Where were the charts dried?", [passage])

    assert not result.abstained
    assert result.answers[0].text == "a bakery oven"
    assert len(result.answers) == 1  # the other spans score below their window's null score


def test_each_span_is_judged_against_its_own_window(
    tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passages = [passage_of(300, 700), passage_of(560, 900)]
    plants = [Plant(0, *phrase_in(passages[0], "a bakery oven"), 5.0),
              Plant(1, *phrase_in(passages[1], "forty thousand visitors"), 4.0)]
    reader, forward = planted_reader(tiny_reader_path, monkeypatch, plants)
    forward.passage_nulls = {0: 6.0}  # the first passage says "no answer" more strongly than its span

    result = reader.read("How many visitors come?", passages)

    assert not result.abstained
    assert result.answers[0].text == "forty thousand visitors"
    assert all(answer.passage is passages[1] for answer in result.answers)  # "a bakery oven" is dropped
    assert result.no_answer_score == pytest.approx(calibrated(2 * LOW_NULL))


@pytest.mark.parametrize(("logit", "score"), [(8.0, calibrated(16.0)), (2.0, calibrated(4.0))])  # 0.99, 0.015
def test_a_span_above_the_null_score_is_an_answer_whatever_its_score(
    tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch, logit: float, score: float
) -> None:
    passage = passage_of(300, 700)
    start, end = phrase_in(passage, "a bakery oven")
    reader, _ = planted_reader(tiny_reader_path, monkeypatch, [Plant(0, start, end, logit)])

    result = reader.read("Where were the charts dried?", [passage])

    assert result.answers[0].text == "a bakery oven"
    assert result.answers[0].score == pytest.approx(score)
    assert not result.abstained  # the confidence threshold is the assistant's to apply


def test_max_answer_tokens_is_respected(tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    passage = passage_of(300, 700)
    long_phrase = "Volunteers dried the surviving charts in a bakery oven"
    start, end = phrase_in(passage, long_phrase)
    reader, _ = planted_reader(
        tiny_reader_path, monkeypatch, [Plant(0, start, end, 9.0)], max_answer_tokens=3
    )

    result = reader.read("What did the volunteers do?", [passage])

    best = result.answers[0]
    assert best.start == 300 + start or best.end == 300 + end
    assert len(best.text.split()) <= 3
    assert all(answer.text != long_phrase for answer in result.answers)


def phrase_seen_by_two_windows(path: Path, monkeypatch: pytest.MonkeyPatch, passage: RetrievedPassage,
                               **settings: Any) -> str:
    """A phrase of ``passage`` that lies in the overlap of two windows."""
    phrases = ["a storm flooded", "the lower gallery", "the ferry terminal", "surviving charts",
               "forty thousand visitors", "the guides have time", "the fishing fleet"]
    plants = [Plant(0, *phrase_in(passage, phrase), 5.0) for phrase in phrases]
    reader, forward = planted_reader(path, monkeypatch, plants, **settings)
    reader.read("What happened?", [passage])
    return next(phrases[i] for i, windows in sorted(forward.planted_windows.items()) if len(windows) >= 2)


def test_duplicates_from_overlapping_windows_are_merged(
    tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passage = passage_of(0, len(DOCUMENT))
    settings = {"max_seq_length": 64, "stride": 24}
    phrase = phrase_seen_by_two_windows(tiny_reader_path, monkeypatch, passage, **settings)
    plants = [Plant(0, *phrase_in(passage, phrase), 9.0),
              Plant(0, *phrase_in(passage, "Margaret Olsen"), 7.0)]
    reader, forward = planted_reader(tiny_reader_path, monkeypatch, plants, **settings)

    result = reader.read("What happened?", [passage])

    assert len(forward.planted_windows[0]) >= 2
    assert [answer.text for answer in result.answers[:2]] == [phrase, "Margaret Olsen"]
    ranges = [(answer.start, answer.end) for answer in result.answers]
    for i, (start, end) in enumerate(ranges):
        assert all(end <= other_start or other_end <= start for other_start, other_end in ranges[i + 1:])


def test_duplicates_from_overlapping_passages_are_merged(
    tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passages = [passage_of(0, 400), passage_of(200, 700)]
    phrase = "next to the lighthouse"
    plants = [Plant(0, *phrase_in(passages[0], phrase), 8.0), Plant(1, *phrase_in(passages[1], phrase), 8.0)]
    reader, _ = planted_reader(tiny_reader_path, monkeypatch, plants)

    result = reader.read("Where is the building?", passages)

    assert [answer.text for answer in result.answers].count(phrase) == 1
    assert len(result.answers) == 3


def test_an_empty_passage_is_read_without_error(
    tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passages = [RetrievedPassage(Chunk(SOURCE, 9, "", 40, 40), 1.0), passage_of(300, 700)]
    reader, _ = planted_reader(
        tiny_reader_path, monkeypatch, [Plant(1, *phrase_in(passages[1], "a bakery oven"), 8.0)]
    )
    result = reader.read("Where were the charts dried?", passages)
    assert result.answers[0].text == "a bakery oven"
    assert all(answer.passage is passages[1] for answer in result.answers)


def test_no_passages_abstains(tiny_reader_path: Path) -> None:
    result = ExtractiveReader(str(tiny_reader_path)).read("Anything?", [])
    assert result == ReaderResult(answers=[], abstained=True, no_answer_score=1.0)


def test_long_question_is_cut(tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    passage = passage_of(300, 700)
    start, end = phrase_in(passage, "a bakery oven")
    reader, _ = planted_reader(tiny_reader_path, monkeypatch, [Plant(0, start, end, 8.0)])

    result = reader.read("where were the charts dried " * 40, [passage])

    assert result.truncated_question
    assert result.answers[0].text == "a bakery oven"
    assert not reader.read("Where were the charts dried?", [passage]).truncated_question


# ----- the pure decoding functions --------------------------------------------------------------


def test_decode_spans_keeps_to_the_context_and_the_length_limit() -> None:
    start_logits = np.zeros((2, 8), dtype=np.float32)
    end_logits = np.zeros((2, 8), dtype=np.float32)
    context = np.zeros((2, 8), dtype=bool)
    context[:, 3:7] = True
    start_logits[0, 1] = end_logits[0, 2] = 50.0  # outside the context
    start_logits[0, 4], end_logits[0, 5] = 3.0, 4.0
    start_logits[1, 3], end_logits[1, 6] = 5.0, 5.0  # four tokens long
    start_logits[:, 0] = end_logits[:, 0] = -1.0

    candidates = decode_spans(start_logits, end_logits, context, max_answer_tokens=3)

    assert all(context[c.window, c.start_token] and context[c.window, c.end_token] for c in candidates)
    assert all(0 <= c.end_token - c.start_token < 3 for c in candidates)
    assert [c.logit for c in candidates] == sorted((c.logit for c in candidates), reverse=True)
    for window in (0, 1):
        spans = sorted((c.start_token, c.end_token) for c in candidates if c.window == window)
        assert all(end < next_start for (_, end), (next_start, _) in pairwise(spans))
    best = candidates[0]
    assert (best.window, best.start_token, best.end_token) == (0, 4, 5)
    assert (best.logit, best.null_logit) == (7.0, -2.0)
    assert (1, 3, 6) not in {(c.window, c.start_token, c.end_token) for c in candidates}
    assert decode_spans(start_logits, end_logits, context, max_answer_tokens=4)[0].logit == 10.0


def test_decode_spans_finds_the_best_span_when_top_starts_and_ends_are_far_apart() -> None:
    start_logits = np.zeros((1, 60), dtype=np.float32)
    end_logits = np.zeros((1, 60), dtype=np.float32)
    end_logits[0, 5:30] = 1.0  # many good ends before the best start
    start_logits[0, 40], end_logits[0, 41] = 9.0, 0.5
    candidates = decode_spans(start_logits, end_logits, np.ones((1, 60), dtype=bool), max_answer_tokens=5)
    assert (candidates[0].start_token, candidates[0].end_token) == (40, 41)


def test_decode_spans_of_a_window_without_context() -> None:
    logits = np.ones((1, 5), dtype=np.float32)
    assert decode_spans(logits, logits, np.zeros((1, 5), dtype=bool), max_answer_tokens=5) == []


def _answer(text: str, start: int, source: str = SOURCE, score: float = 0.5) -> ExtractedAnswer:
    passage = RetrievedPassage(Chunk(source, 0, "", 0, 0), 1.0)
    return ExtractedAnswer(text=text, score=score, passage=passage, start=start, end=start + len(text))


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [(2, 5, (0, 7)), (0, 7, (0, 7)), (8, 10, (8, 14)), (7, 9, (8, 14)), (0, 13, (0, 14)), (17, 19, (16, 20)),
     (15, 17, (16, 20)), (5, 8, (0, 7)), (7, 8, (7, 8))],
)  # fmt: skip
def test_widen_to_words(start: int, end: int, expected: tuple[int, int]) -> None:
    assert widen_to_words("harbour museum, 1998", start, end) == expected


def test_merge_duplicates() -> None:
    answers = [
        _answer("lighthouse", 100, score=0.6),
        _answer("the lighthouse", 96, score=0.7),  # overlaps the first
        _answer("The Lighthouse!", 500, source="other.txt", score=0.5),  # same words, other document
        _answer("ferry", 130, score=0.4),
        _answer("ferry", 900, source="other.txt", score=0.3),
        _answer("bakery", 200, score=0.2),
    ]
    merged = merge_duplicates(answers, limit=3)
    assert [(a.text, a.start) for a in merged] == [("the lighthouse", 96), ("ferry", 130), ("bakery", 200)]


def test_span_score_is_a_calibrated_sigmoid_of_the_logit_sum() -> None:
    fitted = Calibration(slope=0.9, midpoint=9.1, threshold=0.4, fitted_on="test")
    assert fitted.score(9.1, -50.0) == 0.5  # the logit sum of a span that is right half the time
    assert fitted.score(9.1 + 1 / 0.9, 3.0) == pytest.approx(sigmoid(1.0))  # the null logit plays no part
    assert Calibration(2.0, 3.0, 0.4).score(4.0, 0.0) == pytest.approx(sigmoid(2.0))
    sums = [-20.0, 0.0, 8.0, 9.8, 12.0, 30.0]
    scores = [fitted.score(total, 0.0) for total in sums]
    assert scores == sorted(scores) and all(0.0 <= score <= 1.0 for score in scores)  # keeps the model's order


def test_custom_calibration_applies_to_spans_and_no_answer(
    tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passage = passage_of(300, 700)
    start, end = phrase_in(passage, "a bakery oven")
    reader, forward = planted_reader(
        tiny_reader_path, monkeypatch, [Plant(0, start, end, 8.0)], calibration=Calibration(0.5, 16.0, 0.3)
    )
    forward.null_logit = 1.0

    result = reader.read("Where were the charts dried?", [passage])

    assert result.answers[0].score == pytest.approx(0.5)  # its logit sum is the midpoint
    assert result.no_answer_score == pytest.approx(sigmoid(0.5 * (2.0 - 16.0)))
    assert reader.default_threshold == 0.3


def test_sigmoid_is_stable() -> None:
    assert sigmoid(0.0) == 0.5
    assert sigmoid(1e6) == 1.0
    assert sigmoid(-1e6) == 0.0
    assert sigmoid(2.0) == pytest.approx(1 / (1 + math.exp(-2.0)))


# ----- real forward passes of a tiny random model -----------------------------------------------


def test_windows_of_equal_length_run_together_and_none_is_padded(tiny_reader_path: Path) -> None:
    passages = [passage_of(0, 280), passage_of(300, 700), passage_of(0, len(DOCUMENT))]
    reader = ExtractiveReader(str(tiny_reader_path), max_seq_length=128, stride=32, top_answers=4)
    reader.warm_up()
    batches: list[Any] = []
    model_forward = reader._model.forward

    def recording_forward(**inputs: Any) -> Any:
        batches.append(inputs["attention_mask"])
        return model_forward(**inputs)

    reader._model.forward = recording_forward
    result = reader.read("How many visitors does the museum receive?", passages)

    assert all(bool(mask.all()) for mask in batches)  # no padding reaches the model
    lengths = [int(mask.shape[1]) for mask in batches]
    assert len(set(lengths)) == len(lengths)  # one pass per window length
    full_windows = batches[lengths.index(128)]
    assert full_windows.shape[0] >= 2  # the long passage's full windows went through together
    assert sum(int(mask.shape[0]) for mask in batches) > len(passages)
    assert 1 <= len(result.answers) <= 4
    for answer in result.answers:
        assert_exact(answer)
        assert answer.text
    assert 0.0 <= result.no_answer_score <= 1.0


def test_windows_are_padded_to_the_longest_after_their_null_token(
    tiny_reader_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    left_padding = shutil.copytree(tiny_reader_path, tmp_path / "left-padding")
    config_file = left_padding / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**config, "padding_side": "left"}))
    reader = ExtractiveReader(str(left_padding))
    seen: list[Any] = []
    forward = reader._forward

    def recording_forward(encodings: Any) -> tuple[np.ndarray, np.ndarray]:
        seen.append(encodings["input_ids"])
        return forward(encodings)

    monkeypatch.setattr(reader, "_forward", recording_forward)
    reader.read("Who was the first director?", [passage_of(0, 180), passage_of(180, 280)])

    (input_ids,) = seen
    assert input_ids.shape[0] == 2
    assert input_ids.shape[1] < 384
    assert (input_ids[:, 0] == reader._tokenizer.cls_token_id).all()


def test_windows_read_in_batches_give_the_same_answers(
    tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = ExtractiveReader(str(tiny_reader_path), max_seq_length=64, stride=16, cached_results=0)
    passages = [passage_of(0, len(DOCUMENT)), passage_of(300, 700)]
    whole = reader.read("When did the museum open?", passages)
    calls = 0
    model_forward = reader._model.forward

    def counting_forward(**inputs: Any) -> Any:
        nonlocal calls
        calls += 1
        return model_forward(**inputs)

    monkeypatch.setattr(reader._model, "forward", counting_forward)
    monkeypatch.setattr(extractive_module, "WINDOWS_PER_BATCH", 3)
    batched = reader.read("When did the museum open?", passages)

    assert calls > 2
    assert [(a.start, a.end) for a in batched.answers] == [(a.start, a.end) for a in whole.answers]
    assert [a.score for a in batched.answers] == pytest.approx([a.score for a in whole.answers], abs=1e-5)


def test_int8_precision_quantizes_and_reads(tiny_reader_path: Path) -> None:
    reader = ExtractiveReader(str(tiny_reader_path), precision="int8")
    result = reader.read("Who was the first director?", [passage_of(0, 400)])

    assert any(isinstance(module, DynamicQuantizedLinear) for module in reader._model.modules())
    assert result.answers
    for answer in result.answers:
        assert_exact(answer)


def test_reads_from_several_threads(tiny_reader_path: Path) -> None:
    reader = ExtractiveReader(str(tiny_reader_path), max_seq_length=64, stride=16, cached_results=0)
    passages = [passage_of(0, len(DOCUMENT))]
    expected = reader.read("When did the museum open?", passages)
    results: list[ReaderResult] = []

    def read() -> None:
        results.append(reader.read("When did the museum open?", passages))

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    assert all([a.text for a in r.answers] == [a.text for a in expected.answers] for r in results)


def test_a_question_asked_again_of_the_same_passages_is_not_read_again(
    tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader, forward = planted_reader(tiny_reader_path, monkeypatch, [])
    first = reader.read("Who was the first director?", [passage_of(0, 400)])
    again = reader.read("Who was the first director?", [passage_of(0, 400)])
    reader.read("Who was the first director?", [passage_of(0, 300)])
    reader.read("Who was the second director?", [passage_of(0, 400)])

    assert again == first
    assert forward.calls == 3
    reader.clear_cache()
    assert reader.read("Who was the first director?", [passage_of(0, 400)]) == first
    assert forward.calls == 4


def test_results_are_not_kept_when_the_cache_is_off(tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reader, forward = planted_reader(tiny_reader_path, monkeypatch, [], cached_results=0)
    for _ in range(2):
        reader.read("Who was the first director?", [passage_of(0, 400)])
    assert forward.calls == 2


def test_onnx_runtime_gives_the_spans_of_pytorch(tiny_reader_path: Path, tmp_path: Path) -> None:
    passages = [passage_of(0, 180), passage_of(180, 560), passage_of(0, len(DOCUMENT)), passage_of(560, 900)]
    settings: dict[str, Any] = {"max_seq_length": 96, "stride": 24, "top_answers": 5, "cached_results": 0}
    pytorch = ExtractiveReader(str(tiny_reader_path), **settings)
    onnx = ExtractiveReader(str(tiny_reader_path), backend="onnx", cache_dir=tmp_path, **settings)

    for question in ["When did the museum open?", "Who dried the charts in the oven?", "How many visitors?"]:
        expected, result = pytorch.read(question, passages), onnx.read(question, passages)
        spans = [(a.text, a.start, a.end, a.passage.chunk.start) for a in result.answers]
        assert spans == [(a.text, a.start, a.end, a.passage.chunk.start) for a in expected.answers]
        assert [a.score for a in result.answers] == pytest.approx([a.score for a in expected.answers], abs=1e-5)
        assert result.no_answer_score == pytest.approx(expected.no_answer_score, abs=1e-5)
        assert result.abstained == expected.abstained
    assert (pytorch.active_backend, onnx.active_backend) == ("torch", "onnx")


def test_onnx_runtime_logits_match_pytorch_on_padded_windows(tiny_reader_path: Path, tmp_path: Path) -> None:
    pytorch = ExtractiveReader(str(tiny_reader_path))
    onnx = ExtractiveReader(str(tiny_reader_path), backend="onnx", cache_dir=tmp_path)
    pytorch.warm_up()
    onnx.warm_up()
    batch = dict(pytorch._tokenizer(["Who was the first director?"] * 2, [DOCUMENT[:90], DOCUMENT[90:400]],
                                    padding="longest", return_tensors="np"))
    assert not batch["attention_mask"].all()  # one window is padded

    expected, result = pytorch._run_model(batch), onnx._run_model(batch)

    real = batch["attention_mask"].astype(bool)
    for mine, theirs in zip(result, expected, strict=True):
        np.testing.assert_allclose(mine[real], theirs[real], atol=1e-4)


def test_int8_onnx_copy_is_quantized_and_reads(tiny_reader_path: Path, tmp_path: Path) -> None:
    import onnx

    reader = ExtractiveReader(str(tiny_reader_path), backend="onnx", cache_dir=tmp_path, precision="int8")
    result = reader.read("Who was the first director?", [passage_of(0, 400), passage_of(400, 900)])

    (copy,) = tmp_path.glob("reader-*/model.onnx")
    operators = [node.op_type for node in onnx.load(str(copy)).graph.node]
    assert "MatMulInteger" in operators
    assert operators.count("Softmax") == 2  # one per attention layer: the model runs once
    assert reader.active_backend == "onnx"
    assert result.answers
    for answer in result.answers:
        assert_exact(answer)


def test_public_logits_are_the_ones_read_decodes(tiny_reader_path: Path) -> None:
    passages = [passage_of(0, len(DOCUMENT)), passage_of(300, 700)]
    reader = ExtractiveReader(str(tiny_reader_path), max_seq_length=64, stride=16, cached_results=0)

    logits = reader.logits("When did the museum open?", passages)

    windows = logits.start.shape[0]
    assert windows > len(passages) and logits.end.shape == logits.context_mask.shape == logits.start.shape
    assert logits.offsets.shape == (*logits.start.shape, 2)
    assert sorted(set(logits.passage_of_window)) == [0, 1] and len(logits.passage_of_window) == windows
    assert np.isfinite(logits.start[logits.context_mask]).all() and not logits.truncated_question
    spans = set()
    for span in decode_spans(logits.start, logits.end, logits.context_mask, reader.max_answer_tokens):
        chunk = passages[logits.passage_of_window[span.window]].chunk
        first, last = logits.offsets[span.window, span.start_token, 0], logits.offsets[span.window, span.end_token, 1]
        start, end = widen_to_words(chunk.text, int(first), int(last))
        spans.add((chunk.start + start, chunk.start + end))
    answers = reader.read("When did the museum open?", passages).answers
    assert answers and {(answer.start, answer.end) for answer in answers} <= spans


def test_the_factory_builds_the_reader_the_settings_name(tmp_path: Path) -> None:
    lexical = build_reader(Settings(reader_model="none"), tmp_path)
    assert isinstance(lexical, SentenceReader) and lexical.mode == "sentence"

    settings = Settings(reader_model="./some-reader", max_answer_tokens=12, reader_cache=0, precision="int8")
    extractive = build_reader(settings, tmp_path / "models")
    assert isinstance(extractive, ExtractiveReader) and extractive.mode == "extractive"
    assert (extractive.model_name, extractive.max_answer_tokens, extractive.precision) == ("./some-reader", 12, "int8")
    assert (extractive.backend, extractive.cache_dir) == ("onnx", tmp_path / "models")
    assert extractive._model is None  # nothing is loaded before warm_up
    readers: list[Reader] = [lexical, extractive]
    assert [reader.mode for reader in readers] == ["sentence", "extractive"]


def test_warm_up_loads_once(tiny_reader_path: Path) -> None:
    reader = ExtractiveReader(str(tiny_reader_path))
    reader.warm_up()
    model = reader._model
    reader.warm_up()
    assert reader._model is model


def test_missing_model_raises_model_load_error() -> None:
    reader = ExtractiveReader("./no-such-model")  # loading is lazy
    with pytest.raises(ModelLoadError, match="no-such-model"):
        reader.read("Anything?", [passage_of(0, 100)])


@pytest.mark.parametrize(
    "settings",
    [{"precision": "fp16"}, {"max_answer_tokens": 0}, {"top_answers": 0}, {"max_seq_length": 8}, {"stride": -1}],
)
def test_invalid_settings_are_rejected(settings: dict[str, Any]) -> None:
    with pytest.raises(DocqaError):
        ExtractiveReader("./no-such-model", **settings)


# ----- the lexical sentence reader --------------------------------------------------------------


def test_sentence_reader_picks_the_sentence_with_the_question_words() -> None:
    passage = passage_of(280, 900)

    result = SentenceReader().read("Which oven dried the surviving charts?", [passage])

    assert not result.abstained
    best = result.answers[0]
    assert best.text == (
        "Volunteers dried the surviving charts in a bakery oven borrowed from the town council."
    )
    assert best.text == DOCUMENT[best.start:best.end]
    assert result.no_answer_score == pytest.approx(1.0 - best.score)
    assert len(result.answers) <= 3
    found = SentenceReader().candidates("Which oven dried the surviving charts?", [passage])
    shares = [features.coverage for _, features in found]
    assert shares[0] == pytest.approx(1.0)  # every word of the question
    assert shares == sorted(shares, reverse=True)
    for answer in result.answers:
        assert_exact(answer)
        assert 0.0 < answer.score <= 1.0


def test_sentence_reader_prefers_covering_more_of_the_question_over_repeating_a_word() -> None:
    text = (
        "Tickets, tickets, tickets! The ferry carries tickets for the people who travel across the bay to "
        "the island in the long summer months. The ferry is red. The ferry is old. The ferry is slow. "
        "The ferry is loud. The ferry is full. Gulls follow the boat. The bay is calm. Fish swim below."
    )
    passage = RetrievedPassage(Chunk("ferry.txt", 0, text, 0, len(text)), 1.0)

    result = SentenceReader().read("Which ferry tickets?", [passage])
    shares = [features.coverage for _, features in SentenceReader().candidates("Which ferry tickets?", [passage])]

    assert result.answers[0].text.startswith("The ferry carries tickets")
    assert shares[0] == pytest.approx(1.0)
    assert result.answers[1].text == "Tickets, tickets, tickets!"
    assert 0.0 < shares[2] < shares[1] < 1.0


def test_sentence_reader_breaks_ties_by_bm25() -> None:
    text = "The ferry that crosses the bay every morning is painted a bright red. The ferry is red."
    passage = RetrievedPassage(Chunk("ferry.txt", 0, text, 0, len(text)), 1.0)
    result = SentenceReader().read("Is the ferry red?", [passage])
    assert [a.text for a in result.answers] == ["The ferry is red.", text.split(". ")[0] + "."]
    shares = [features.coverage for _, features in SentenceReader().candidates("Is the ferry red?", [passage])]
    assert shares[0] == shares[1] == 1.0


def test_sentence_reader_matches_word_forms() -> None:
    passage = passage_of(0, 280)
    result = SentenceReader().read("What did the buildings stand on?", [passage])
    assert result.answers[0].text.startswith("The building stands on the old fish market")


def test_sentence_reader_reads_every_passage() -> None:
    passages = [passage_of(0, 280), passage_of(560, 900)]
    result = SentenceReader().read("How many visitors in July and August?", passages)
    assert not result.abstained
    assert result.answers[0].passage is passages[1]
    assert result.answers[0].text.startswith("Most of them come in July and August")


@pytest.mark.parametrize("question", ["zebra xylophone?", "What is it that was there?", ""])
def test_sentence_reader_abstains_when_nothing_matches(question: str) -> None:
    result = SentenceReader().read(question, [passage_of(0, 280)])
    assert result == ReaderResult(answers=[], abstained=True, no_answer_score=1.0)


def test_sentence_reader_shows_a_repeated_sentence_once() -> None:
    text = "The ferry leaves at noon. Tickets are sold on board. The ferry leaves at noon."
    passage = RetrievedPassage(Chunk("ferry.txt", 0, text, 0, len(text)), 1.0)
    result = SentenceReader().read("When does the ferry leave?", [passage])
    assert [a.text for a in result.answers] == ["The ferry leaves at noon."]


def test_question_terms() -> None:
    assert question_terms("What is the HARBOUR museum's name, and the museum_shop?") == [
        "harbour", "museum", "name", "shop"
    ]
