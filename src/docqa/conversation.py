"""Questions in a conversation: cleaning what was typed, which follow-ups lean on the previous
turn, and the search query for them.

A question that stands on its own is searched alone, however short ("Where does Varnak0200 live?"),
so the previous turn cannot pull the search towards its own document. A question is searched
together with the previous turn's question and answer only when it leans on it:

- a pronoun whose referent is not in the question: "he", "her" with no name before it ("How many
  troopers did he send?"), "it", "they" with no word before it that could be meant, or as the
  question's last word ("What did Mitt Romney call it?");
- a pointing word at the end: "What happened there?", "Who said that?", "that day?";
- an elliptical fragment: "And in 2020?", "What about Pence?", a question word alone ("When?",
  "Why not?"), or a few words without a question word or verb to start them ("The Senate?").

A name is a capitalised word other than the question's first, or a first word that is not a
question word. The rules read the question's words only; they need no model.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from docqa.errors import DocqaError

History = Sequence[tuple[str, str]]

MAX_QUESTION_CHARS = 1000  # a longer question is cut, with a note
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")  # letters and digits, keeping "Biden's" whole
_PERSON_PRONOUNS = frozenset("he she him her his hers himself herself".split())
_THING_PRONOUNS = frozenset("it its itself they them their theirs themselves".split())
_POINTING = frozenset("there then that this these those".split())
_FRAGMENT_OPENINGS = (("and",), ("but",), ("or",), ("also",), ("what", "about"), ("how", "about"), ("what", "of"))
# Words a full question or request starts with: question words, auxiliaries, imperatives.
_QUESTION_STARTS = frozenset(
    """what which who whom whose when where why how is are was were am do does did can could will would
    shall should may might must has have had name list tell give describe explain show find define
    summarise summarize compare""".split()
)
# Words that cannot be the referent of "it" or "they": the pronouns' company in a question.
_NOT_REFERENTS = _QUESTION_STARTS | _PERSON_PRONOUNS | _THING_PRONOUNS | _POINTING | frozenset(
    """a an the of in on at to for from by with about as and or but not no so if been be being it's
    i you we us me my our your""".split()
)
_FRAGMENT_WORDS = 5
_BARE_QUESTION_FILLERS = frozenset("not so exactly else come then".split())  # "Why not?", "How so?"


def leans_on_previous(question: str) -> bool:
    """Whether ``question`` needs the previous turn to be understood (see the module's rules)."""
    words = _WORD.findall(question)
    lowered = [word.lower() for word in words]
    if not words:
        return False
    if _is_fragment(lowered):
        return True
    for position, word in enumerate(lowered):
        before = words[:position]
        if word in _PERSON_PRONOUNS and not any(_is_name(w, p) for p, w in enumerate(before)):
            return True
        if word in _THING_PRONOUNS and (
            position == len(words) - 1 or not any(w.lower() not in _NOT_REFERENTS for w in before)
        ):
            return True
    return _ends_pointing(lowered)


def rewrite_follow_up(question: str, history: History | None) -> str:
    """The search query for ``question``: the question alone, or, when it leans on the previous
    turn, the question followed by that turn's question and answer."""
    if not history or not leans_on_previous(question):
        return question
    previous_question, previous_answer = history[-1]
    return " ".join(part for part in (question, previous_question, previous_answer) if part)


def _is_fragment(words: list[str]) -> bool:
    if all(word in _QUESTION_STARTS or word in _BARE_QUESTION_FILLERS for word in words):
        return True
    if any(tuple(words[: len(opening)]) == opening for opening in _FRAGMENT_OPENINGS):
        return True
    return len(words) <= _FRAGMENT_WORDS and words[0] not in _QUESTION_STARTS and not _has_verb_start(words)


def _has_verb_start(words: list[str]) -> bool:
    """A short request like "Define sedition" or a yes/no question like "Was Pence evacuated": a
    fragment has neither. Only the auxiliaries and imperatives of _QUESTION_STARTS are known."""
    return any(word in _QUESTION_STARTS for word in words[:2])


def _ends_pointing(words: list[str]) -> bool:
    """ "What happened there?", "Who said that?", "What happened that day?" """
    if words[-1] in _POINTING:
        return True
    return len(words) >= 2 and words[-2] in {"that", "this", "these", "those"}


def _is_name(word: str, position: int) -> bool:
    if not word[0].isupper():
        return False
    return position > 0 or word.lower() not in _QUESTION_STARTS


def clean_question(question: str) -> tuple[str, list[str]]:
    """The question without control characters, cut to a sane length, and notes on what changed."""
    if not isinstance(question, str):
        raise DocqaError("the question must be text")
    # NFC first, so that a decomposed accent stays part of its word for search and reading.
    composed = unicodedata.normalize("NFC", question)
    cleaned = "".join(" " if unicodedata.category(ch) in {"Cc", "Cf", "Cs"} else ch for ch in composed)
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise DocqaError("the question is empty: type a question about the documents")
    notes = []
    if len(cleaned) > MAX_QUESTION_CHARS:
        cleaned = cleaned[:MAX_QUESTION_CHARS]
        notes.append(f"The question was cut to its first {MAX_QUESTION_CHARS} characters.")
    return cleaned, notes
