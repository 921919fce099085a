"""Memory kept between questions is bounded in bytes: the readings and the query vectors kept for
repeated questions stay within their budgets however long the questions and passages are."""

from __future__ import annotations

import gc
import threading
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from docqa.caching import SizedCache, memoized
from docqa.embedding import QUERY_CACHE_BYTES, Embedder
from docqa.reader import ReaderResult
from docqa.reader.extractive import READINGS_CACHE_BYTES, ExtractiveReader
from docqa.schema import Chunk, RetrievedPassage

MIB = 1024 * 1024


def retained_bytes(work: Callable[[], Any]) -> tuple[int, Any]:
    """The bytes that ``work`` left allocated once it returned, and what it returned."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = work()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before, result
    finally:
        tracemalloc.stop()


def by_length(key: str, value: str) -> int:
    return len(key) + len(value)


def test_a_sized_cache_keeps_the_most_recent_entries_within_its_bytes() -> None:
    cache: SizedCache[str, str] = SizedCache(100, by_length)
    for name in "abcde":
        cache.put(name, name * 29)  # 30 bytes each: three fit
    assert [cache.get(name) is not None for name in "abcde"] == [False, False, True, True, True]
    assert cache.nbytes == 90 and len(cache) == 3
    cache.get("c")  # now the most recent
    cache.put("f", "f" * 29)
    assert cache.get("d") is None and cache.get("c") is not None
    cache.put("huge", "x" * 200)  # larger than the whole budget: not kept, nothing evicted for it
    assert cache.get("huge") is None and len(cache) == 3
    cache.put("c", "c")  # replacing an entry counts its new size only
    assert cache.nbytes == 62
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0


def test_a_sized_cache_also_keeps_a_count_and_zero_keeps_nothing() -> None:
    counted: SizedCache[str, str] = SizedCache(10_000, by_length, max_entries=2)
    for name in "abc":
        counted.put(name, name)
    assert len(counted) == 2 and counted.get("a") is None
    nothing: SizedCache[str, str] = SizedCache(10_000, by_length, max_entries=0)
    nothing.put("a", "a")
    assert len(nothing) == 0
    with pytest.raises(ValueError):
        SizedCache(-1, by_length)


def test_a_sized_cache_stays_within_its_bytes_under_threads() -> None:
    cache: SizedCache[int, str] = SizedCache(5_000, lambda key, value: len(value))
    calls = []
    square = memoized(lambda number: calls.append(number) or "x" * (number % 97), cache)

    def ask(offset: int) -> None:
        for number in range(offset, offset + 2_000):
            assert square(number) == "x" * (number % 97)

    threads = [threading.Thread(target=ask, args=(offset,)) for offset in (0, 500, 1_000, 1_500)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 0 < cache.nbytes <= 5_000 and cache.nbytes == sum(len(cache.get(k) or "") for k in range(4_000))
    square(3_999)
    calls.clear()
    square(3_999)
    assert calls == []  # the most recent is kept
    square.cache_clear()  # type: ignore[attr-defined]
    assert len(cache) == 0


def test_query_vectors_kept_for_long_follow_up_queries_stay_within_their_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def encode(self: Embedder, text: str) -> np.ndarray:
        return np.full(384, len(text), dtype=np.float32)

    monkeypatch.setattr(Embedder, "_encode_query", encode)
    embedder = Embedder("no-model-is-loaded")
    previous_turn = "The previous question and its long answer. " * 470  # over 20,000 characters

    def ask_many() -> None:
        for number in range(1_500):
            assert embedder.encode_query(f"Question {number}? {previous_turn}")[0] > 20_000

    retained, _ = retained_bytes(ask_many)
    assert retained <= QUERY_CACHE_BYTES + MIB
    assert embedder.encode_query(f"Question 1499? {previous_turn}")[0] > 20_000


def passages_of(number: int, count: int = 50) -> tuple[RetrievedPassage, ...]:
    """``count`` new passages of about 2,000 characters each, as a store returns them."""
    texts = [f"Passage {i} of question {number}, with words enough to fill a window. " * 28 for i in range(count)]
    return tuple(
        RetrievedPassage(Chunk(f"doc-{number}-{i}.txt", 0, text, 0, len(text), id=i), 0.5, "A title", "2021-01-06")
        for i, text in enumerate(texts)
    )


def test_readings_kept_for_repeated_questions_stay_within_their_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    readings = []

    def read(
        self: ExtractiveReader, question: str, passages: tuple[RetrievedPassage, ...], every_passage: bool
    ) -> ReaderResult:
        readings.append(question)
        return ReaderResult(answers=[], abstained=True, no_answer_score=0.9)

    monkeypatch.setattr(ExtractiveReader, "_read", read)
    reader = ExtractiveReader("no-model-is-loaded", cached_results=256)

    def ask_many() -> None:
        for number in range(300):  # top-k 50: each reading holds 50 passages
            reader.read(f"Question {number}?", passages_of(number))

    retained, _ = retained_bytes(ask_many)
    assert len(readings) == 300
    assert retained <= READINGS_CACHE_BYTES + MIB
    reader.read("Question 299?", passages_of(299))
    assert len(readings) == 300  # the latest reading is still kept
    reader.read("Question 0?", passages_of(0))
    assert len(readings) == 301  # the oldest are not
