"""A model reader only adds: where it has no confident span, the closest sentence is shown instead,
with the reader's best guess highlighted inside it; nothing is shown where neither finds support."""

from __future__ import annotations

from docqa.reader import ReaderResult
from docqa.reader.closest import closest_sentence
from docqa.schema import Chunk, ExtractedAnswer, RetrievedPassage

TEXT = "The depot opened in 1998. Its main hall holds 340 bikes on two floors. The cafe closes at six."
PASSAGE = RetrievedPassage(Chunk("depot.txt", 0, TEXT, 0, len(TEXT)), 1.0, title="Depot")


def guess(text: str) -> ExtractedAnswer:
    start = TEXT.index(text)
    return ExtractedAnswer(text, 0.1, PASSAGE, start, start + len(text))


def abstained(*guesses: ExtractedAnswer) -> ReaderResult:
    return ReaderResult(answers=list(guesses), abstained=True, no_answer_score=0.9)


def test_the_closest_sentence_highlights_the_readers_guess_inside_it() -> None:
    found = closest_sentence("How many bikes does the main hall hold?", [PASSAGE], abstained(guess("340")), 0.2)
    assert found is not None
    assert found.sentence.text == "Its main hall holds 340 bikes on two floors."
    assert found.highlight.text == "340"


def test_a_guess_outside_the_sentence_is_not_highlighted() -> None:
    found = closest_sentence("How many bikes does the main hall hold?", [PASSAGE], abstained(guess("1998")), 0.2)
    assert found is not None
    assert found.highlight is found.sentence


def test_without_support_there_is_no_closest_sentence() -> None:
    assert closest_sentence("Who designed the Paris opera house?", [PASSAGE], abstained(), 0.2) is None
    # The sentence reader's own abstention holds too: a name of the question that no sentence holds.
    assert closest_sentence("How many bikes does the Leeds hall hold?", [PASSAGE], abstained(), 0.2) is None

