"""Sentence spans and passages: exact offsets, budgets, overlap, and arbitrary text."""

from __future__ import annotations

import re
import time
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docqa import chunking
from docqa.chunking import chunk_document, count_tokens, sentence_spans
from docqa.errors import DocqaError
from docqa.schema import Chunk, Document
from docqa.text import has_words


def document(text: str) -> Document:
    return Document(source="doc.txt", text=text, title="Doc", content_hash="0" * 64)


def sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in sentence_spans(text)]


def numbered_sentences(count: int, words: int = 8) -> list[str]:
    return [f"Sentence {number} " + "word " * (words - 3) + "end." for number in range(count)]


def assert_valid_spans(text: str, spans: list[tuple[int, int]]) -> None:
    position = 0
    for start, end in spans:
        assert position <= start < end <= len(text)
        assert not text[start].isspace() and not text[end - 1].isspace()
        assert text[position:start].isspace() or position == start
        position = end
    assert text[position:].strip() == ""


def assert_valid_chunks(text: str, chunks: list[Chunk], max_tokens: int) -> None:
    covered = [False] * len(text)
    for index, chunk in enumerate(chunks):
        assert chunk.index == index
        assert chunk.id is None
        assert chunk.source == "doc.txt"
        assert chunk.text == text[chunk.start : chunk.end]
        assert count_tokens(chunk.text) <= max_tokens
        covered[chunk.start : chunk.end] = [True] * (chunk.end - chunk.start)
    assert [chunk.start for chunk in chunks] == sorted(chunk.start for chunk in chunks)
    # Only white space and stretches without a letter or digit (nothing to search) are left out.
    assert not has_words("".join(char for position, char in enumerate(text) if not covered[position]))


def test_sentences_follow_pysbd_rules_for_abbreviations() -> None:
    text = "Mr. Smith went to Washington D.C. on Monday. He arrived at 3 p.m. and left. Did he?  Yes!"
    assert sentences(text) == [
        "Mr. Smith went to Washington D.C. on Monday.",
        "He arrived at 3 p.m. and left.",
        "Did he?",
        "Yes!",
    ]


def test_wrapped_lines_join_but_line_breaks_before_capitals_and_blank_lines_split() -> None:
    text = "A sentence that is\nwrapped over lines. Next one.\nHeading\n\nNew paragraph here."
    assert sentences(text) == [
        "A sentence that is\nwrapped over lines.",
        "Next one.",
        "Heading",
        "New paragraph here.",
    ]


def test_text_pysbd_would_rewrite_falls_back_to_the_simple_splitter() -> None:
    text = "Placeholder ∯ marks here. And ☉ others &ᓰ& too.\nLast line"
    spans = sentence_spans(text)
    assert_valid_spans(text, spans)
    assert [text[start:end] for start, end in spans] == [
        "Placeholder ∯ marks here.",
        "And ☉ others &ᓰ& too.",
        "Last line",
    ]


def test_a_failing_segmenter_falls_back_to_the_simple_splitter(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def processor(self, text: str) -> object:
            raise RuntimeError("segmenter failure")

    monkeypatch.setattr(chunking, "_segmenter", Broken)
    text = "First one. Second \u201cquoted.\u201d Third?\n\u65e5\u672c\u3002\u6b21\uff01"
    assert sentences(text) == [
        "First one.",
        "Second \u201cquoted.\u201d",
        "Third?",
        "\u65e5\u672c\u3002",
        "\u6b21\uff01",
    ]


def test_a_very_long_line_is_read_in_pieces_with_valid_spans() -> None:
    text = " ".join(numbered_sentences(600))
    spans = sentence_spans(text)
    assert_valid_spans(text, spans)
    assert len(spans) == 600


def test_blank_text_has_no_sentences_and_no_chunks() -> None:
    assert sentence_spans("") == []
    assert sentence_spans(" \n\t ") == []
    assert chunk_document(document("  \n ")) == []


def test_passages_without_a_letter_or_digit_are_left_out() -> None:
    text = "." * 5_000 + "\n\nThe ferry left at noon.\n\n" + "-=*" * 2_000
    chunks = chunk_document(document(text), max_tokens=20)
    assert [chunk.text for chunk in chunks] == ["The ferry left at noon."]
    assert chunks[0].index == 0
    assert chunk_document(document("." * 200_000)) == []


def test_chunks_have_exact_offsets_and_stay_within_the_budget() -> None:
    text = " ".join(numbered_sentences(40))
    chunks = chunk_document(document(text), max_tokens=30)
    assert len(chunks) > 5
    assert_valid_chunks(text, chunks, max_tokens=30)
    assert all(chunk.text.startswith("Sentence") and chunk.text.endswith("end.") for chunk in chunks)


def test_consecutive_chunks_share_one_sentence() -> None:
    text = " ".join(numbered_sentences(12))
    chunks = chunk_document(document(text), max_tokens=30, overlap_sentences=1)
    for before, after in pairwise(chunks):
        shared = text[after.start : before.end]
        assert after.start < before.end
        assert sentences(shared) == [shared]


def test_no_overlap_when_asked_for_none() -> None:
    text = " ".join(numbered_sentences(12))
    chunks = chunk_document(document(text), max_tokens=30, overlap_sentences=0)
    assert all(after.start > before.end for before, after in pairwise(chunks))
    assert_valid_chunks(text, chunks, max_tokens=30)


def test_overlap_is_dropped_when_it_would_not_fit_with_the_next_sentence() -> None:
    long_sentence, short_sentence = numbered_sentences(1, words=25)[0], "Short one here."
    text = " ".join([short_sentence, long_sentence, long_sentence.replace("0", "1")])
    chunks = chunk_document(document(text), max_tokens=40, overlap_sentences=1)
    expected = [f"{short_sentence} {long_sentence}", long_sentence.replace("0", "1")]
    assert [chunk.text for chunk in chunks] == expected


def test_a_blank_line_ends_a_passage_that_is_past_half_the_budget() -> None:
    first, second = " ".join(numbered_sentences(3)), " ".join(numbered_sentences(2))
    text = f"{first}\n\n{second}"
    chunks = chunk_document(document(text), max_tokens=40)
    assert [chunk.text for chunk in chunks] == [first, second]


def test_short_paragraphs_are_packed_together() -> None:
    text = "Title\n\nOne short paragraph.\n\nAnother short one."
    assert [chunk.text for chunk in chunk_document(document(text), max_tokens=50)] == [text]


def test_a_sentence_over_the_budget_is_cut_between_words() -> None:
    text = "Intro. " + " ".join(f"w{number}" for number in range(95)) + " stop. Outro."
    chunks = chunk_document(document(text), max_tokens=20, overlap_sentences=0)
    assert_valid_chunks(text, chunks, max_tokens=20)
    for chunk in chunks:
        assert chunk.start == 0 or text[chunk.start - 1].isspace()
        assert chunk.end == len(text) or text[chunk.end].isspace()
    assert chunks[-1].text.endswith("Outro.")


def test_a_word_over_the_budget_is_cut_between_its_tokens() -> None:
    text = "-".join(["part"] * 40)
    chunks = chunk_document(document(text), max_tokens=10)
    assert_valid_chunks(text, chunks, max_tokens=10)
    assert "".join(chunk.text for chunk in chunks) == text


@pytest.mark.parametrize(("max_tokens", "overlap"), [(0, 1), (10, -1)])
def test_bad_settings_are_user_errors(max_tokens: int, overlap: int) -> None:
    with pytest.raises(DocqaError):
        chunk_document(document("Text."), max_tokens=max_tokens, overlap_sentences=overlap)


# Text from pieces that stress the splitters: words, stops, quotes, line and paragraph breaks, pysbd's
# own placeholder characters, control characters, combining marks, emoji, CJK, and any characters.
BREAKS = [" ", "  ", "\n", "\n\n", "\r\n", "\t", "\u2028", "\x0b", "\x1c"]
STOPS = [".", ". ", "!", "?", "...", "\u2026", "\u3002", "\uff01", "\uff1f", "Mr.", "U.S.", "e.g.", "3.5"]
QUOTES = ['"', "\u201c", "\u201d", "'", "\u2019", "(", ")", "[", "-"]
PYSBD_PLACEHOLDERS = ["\u222f", "\u2609", "&\u14f0&", "\u0238", "\u2668", "&\u238b&"]
ODD = [
    "\x00",
    "\u0301",
    "e\u0301",
    "\U0001f469\u200d\U0001f467",
    "\U0001f1fa\U0001f1f8",
    "\u65e5\u672c",
    "\ufeff",
]
TRICKY_PIECES = st.sampled_from(BREAKS + STOPS + QUOTES + PYSBD_PLACEHOLDERS + ODD)
WORDS = st.sampled_from(["The", "capitol", "police", "said", "a", "I", "Trump", "x1", "naïve", "éclair"])
TEXTS = st.lists(st.one_of(TRICKY_PIECES, WORDS, st.text(max_size=3)), max_size=80).map("".join)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(TEXTS)
def test_sentence_spans_are_valid_on_any_text(text: str) -> None:
    assert_valid_spans(text, sentence_spans(text))


@FAST
@given(st.text(max_size=300))
def test_sentence_spans_are_valid_on_random_unicode(text: str) -> None:
    assert_valid_spans(text, sentence_spans(text))


@FAST
@given(TEXTS, st.integers(min_value=1, max_value=25), st.integers(min_value=0, max_value=3))
def test_chunks_are_exact_slices_within_budget_on_any_text(text: str, max_tokens: int, overlap: int) -> None:
    chunks = chunk_document(document(text), max_tokens=max_tokens, overlap_sentences=overlap)
    assert_valid_chunks(text, chunks, max_tokens)


# Lines that made splitting quadratic: a stop run without white space, and long lines without stops.
HOSTILE_LINES = {"dots": ".", "one repeated word": "word ", "unbroken line": "unbroken"}


def chunking_seconds(text: str) -> float:
    """Processor time of chunking ``text``, which other processes on a busy machine do not inflate."""
    started = time.process_time()
    chunks = chunk_document(document(text))
    elapsed = time.process_time() - started
    if has_words(text):
        assert chunks and chunks[-1].end == len(text.rstrip())
    else:
        assert chunks == []  # nothing to search in a run of dots
    return elapsed


def assert_linear_chunking(piece: str) -> None:
    previous = None
    size = 2**14
    while size <= 2**20:
        text = (piece * (size // len(piece) + 1))[:size]
        elapsed = chunking_seconds(text)
        if previous is not None and elapsed >= 3.5 * previous + 0.5:
            elapsed = min(elapsed, chunking_seconds(text))  # once more, in case of a pause
        assert elapsed < 10.0, f"{size:,} characters took {elapsed:.1f} s"
        if previous is not None:  # loose enough for a busy machine; a quadratic step takes four times as long
            assert elapsed < 3.5 * previous + 0.5, f"{size:,} characters: {elapsed:.2f} s after {previous:.2f} s"
        previous, size = elapsed, size * 2


@pytest.mark.parametrize("piece", HOSTILE_LINES.values(), ids=list(HOSTILE_LINES))
def test_chunking_time_grows_in_proportion_to_a_hostile_line_up_to_1_mb(piece: str) -> None:
    assert_linear_chunking(piece)


def test_chunking_time_grows_in_proportion_to_one_line_of_prose_without_stops(corpus_texts: list[str]) -> None:
    assert_linear_chunking(re.sub(r"[.!?\s]+", " ", " ".join(corpus_texts)))


def test_a_long_run_of_stops_has_valid_spans_and_the_next_sentence_follows() -> None:
    text = "Start" + "." * 5000 + " Next one here.\n" + "!" * 3000 + "x"
    spans = sentence_spans(text)
    assert_valid_spans(text, spans)
    assert "Next one here." in sentences(text)
    assert all(end - start <= 2000 for start, end in spans)


def test_a_long_line_without_stops_is_read_in_blocks_cut_at_spaces() -> None:
    text = " ".join(f"w{number}" for number in range(3000))
    spans = sentence_spans(text)
    assert_valid_spans(text, spans)
    assert len(spans) > 1
    assert all(end - start <= 2000 for start, end in spans)
    assert all(end == len(text) or text[end] == " " for _, end in spans)


def test_passages_of_very_long_tokens_stay_within_the_character_budget() -> None:
    text = "Short words first. " + "x" * 50_000 + " a-b- " + "y" * 9_000 + " end."
    chunks = chunk_document(document(text), max_tokens=10)
    assert_valid_chunks(text, chunks, max_tokens=10)
    assert all(len(chunk.text) <= 10 * chunking.CHARS_PER_TOKEN for chunk in chunks)
    assert chunks[0].text.startswith("Short words first.")
    assert chunks[-1].text.endswith("end.")


def test_a_token_that_fits_is_not_cut_when_a_longer_one_follows_it() -> None:
    text = "a-b-" + "y" * 300
    chunks = chunk_document(document(text), max_tokens=10)
    assert [chunk.text for chunk in chunks] == ["a-b-", "y" * 200, "y" * 100]


def test_each_passage_keeps_the_locations_in_force_within_it() -> None:
    pages = ["Page one holds this sentence.", "Page two goes on here.", "Page three ends it."]
    text = "\n\n".join(pages)
    starts = [text.index(page) for page in pages]
    located = Document("a.pdf", text, "A", "hash", locations=tuple((s, f"page {n}") for n, s in enumerate(starts, 1)))
    chunks = chunk_document(located, max_tokens=8, overlap_sentences=0)
    assert [chunk.location for chunk in chunks] == ["page 1", "page 2", "page 3"]
    assert chunks[1].locations == ((starts[1], "page 2"),)
    whole = chunk_document(located, max_tokens=200)
    assert len(whole) == 1 and whole[0].locations == located.locations
    assert [whole[0].location_at(start + 1) for start in starts] == ["page 1", "page 2", "page 3"]
    untitled = Document("b.md", "Intro line.\n\nSetup text.", "B", "hash", locations=((13, "Setup"),))
    [chunk] = chunk_document(untitled)
    assert (chunk.location, chunk.location_at(13)) == (None, "Setup")  # text before the first heading has none
    assert chunk_document(document("No places here."))[0].locations == ()
