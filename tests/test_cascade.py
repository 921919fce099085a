"""Reading the first passage first: the other passages are read only when it holds no confident span,
and the answer is the one reading them all at once gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from docqa.config import Settings
from docqa.errors import DocqaError
from docqa.reader import ExtractiveReader, ReaderResult, build_reader
from docqa.schema import Chunk, RetrievedPassage

TEXTS = (
    "Volunteers dried the surviving charts in a bakery oven borrowed from the town council.",
    "Today the museum receives about forty thousand visitors a year, most of them in July.",
    "The museum shop sells copies of the old maps and a small model of the lighthouse.",
)
NULL = 3.0  # at the first token's start and end: a span needs a logit sum above 6 to be confident
BASE = -2.0


def passages() -> list[RetrievedPassage]:
    found, start = [], 0
    for number, text in enumerate(TEXTS):
        found.append(RetrievedPassage(Chunk(f"doc{number}.txt", 0, text, start, start + len(text)), 1.0 - number / 10))
        start += len(text) + 1
    return found


class PhraseForward:
    """Stands in for the model: logit ``value`` at the first and last token of each planted phrase."""

    def __init__(self, reader: ExtractiveReader, plants: dict[str, float]) -> None:
        tokenize = reader._tokenizer
        self.plants = {tuple(tokenize(text, add_special_tokens=False)["input_ids"]): v for text, v in plants.items()}
        self.windows_read: list[int] = []

    def __call__(self, encodings: Any) -> tuple[np.ndarray, np.ndarray]:
        ids = encodings["input_ids"]
        starts = np.full(ids.shape, BASE, dtype=np.float32)
        ends = starts.copy()
        starts[:, 0] = ends[:, 0] = NULL
        self.windows_read.append(ids.shape[0])
        for window, row in enumerate(ids.tolist()):
            for tokens, value in self.plants.items():
                for first in range(len(row) - len(tokens) + 1):
                    if tuple(row[first:first + len(tokens)]) == tokens:
                        starts[window, first] = ends[window, first + len(tokens) - 1] = value
        return starts, ends


def read(path: Path, monkeypatch: pytest.MonkeyPatch, plants: dict[str, float], read_first: int) -> tuple[
    ReaderResult, PhraseForward
]:
    reader = ExtractiveReader(str(path), read_first=read_first, cached_results=0)
    reader.warm_up()
    forward = PhraseForward(reader, plants)
    monkeypatch.setattr(reader, "_forward", forward)
    return reader.read("What is it?", passages()), forward


def summary(result: ReaderResult) -> tuple[Any, ...]:
    best = result.answers[0]
    return result.abstained, best.text, round(best.score, 6), best.passage.chunk.source, best.start, best.end


def test_a_confident_first_passage_is_the_only_one_read(
    tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plants = {"a bakery oven": 4.0, "forty thousand visitors": 5.0}
    cascade, forward = read(tiny_reader_path, monkeypatch, plants, read_first=1)
    whole, whole_forward = read(tiny_reader_path, monkeypatch, plants, read_first=0)

    assert forward.windows_read == [1]
    assert whole_forward.windows_read == [3]
    assert summary(cascade) == summary(whole)
    assert cascade.answers[0].text == "a bakery oven"
    assert not cascade.abstained


def test_the_others_are_read_when_the_first_holds_no_confident_span(
    tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plants = {"a bakery oven": 2.0, "forty thousand visitors": 4.0, "the old maps": 3.5}
    cascade, forward = read(tiny_reader_path, monkeypatch, plants, read_first=1)
    whole, _ = read(tiny_reader_path, monkeypatch, plants, read_first=0)

    assert forward.windows_read == [1, 2]  # the first passage is not read again
    assert summary(cascade) == summary(whole)
    assert cascade.answers[0].text == "forty thousand visitors"
    assert [a.text for a in cascade.answers] == [a.text for a in whole.answers]
    assert cascade.no_answer_score == pytest.approx(whole.no_answer_score)


def test_nothing_confident_anywhere_abstains_as_reading_all_does(
    tiny_reader_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plants = {"a bakery oven": 2.0, "forty thousand visitors": 1.0}
    cascade, forward = read(tiny_reader_path, monkeypatch, plants, read_first=1)
    whole, _ = read(tiny_reader_path, monkeypatch, plants, read_first=0)

    assert cascade.abstained and whole.abstained
    assert forward.windows_read == [1, 2]
    assert summary(cascade) == summary(whole)


def test_the_settings_read_the_first_passage_first(tmp_path: Path, tiny_reader_path: Path) -> None:
    reader = build_reader(Settings(reader_model=str(tiny_reader_path)), tmp_path)
    assert isinstance(reader, ExtractiveReader)
    assert reader.read_first == 1
    with pytest.raises(DocqaError, match="read_first"):
        Settings(read_first=-1)
    with pytest.raises(DocqaError, match="read_first"):
        ExtractiveReader(str(tiny_reader_path), read_first=-1)
