"""One question's options, checked once where they come in (the command line, the chat, ``/ask``,
Python) into a record that everything after trusts; each default and each limit is here once.

A new per-question option is a field of :class:`AskOptions` (with its check in ``__post_init__``)
and the code that uses it: ``Assistant.ask(question, my_option=...)`` passes it on unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from docqa.errors import DocqaError
from docqa.schema import RETRIEVAL_MODES, RetrievalMode

DEFAULT_TOP_K = 3  # passages the reader reads; chosen on the SQuAD dev articles (README, "Quality")
MAX_TOP_K = 50  # reading time grows with each passage
MAX_HISTORY_TURNS = 50  # earlier [question, answer] pairs sent with a question; only the last is searched
MAX_HISTORY_TEXT_CHARS = 10_000  # characters of each question or answer of an earlier turn
MAX_SOURCES = 1000  # documents a question can be limited to
MAX_SOURCE_CHARS = 1000  # characters of a source path
# Characters of a question looked at at all: cleaning takes time in proportion, and the assistant
# keeps only the first 1,000 of what is left.
MAX_QUESTION_INPUT_CHARS = 100_000

History = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class AskOptions:
    """How to answer one question; None means the assistant's setting (the reader's own threshold)."""

    top_k: int | None = None  # passages to read, 1 to MAX_TOP_K
    retrieval: RetrievalMode | None = None  # hybrid, bm25 or dense
    confidence_threshold: float | None = None  # from 0 to 1
    sources: tuple[str, ...] | None = None  # answer only from these documents (paths as the index lists them)
    history: History = ()  # earlier (question, answer) pairs of the conversation, oldest first
    closest: bool = True  # where a model reader has no confident span, show the closest sentence; else abstain

    def __post_init__(self) -> None:
        # Values from a request or a flag arrive as JSON or text types: each is checked and normalised
        # here, once, so that a record that exists is a valid one.
        checked = {
            "top_k": None if self.top_k is None else checked_top_k(self.top_k),
            "retrieval": checked_retrieval(self.retrieval),
            "confidence_threshold": None
            if self.confidence_threshold is None
            else checked_threshold(self.confidence_threshold),
            "sources": checked_sources(self.sources),
            "history": checked_history(self.history),
            "closest": checked_flag("closest", self.closest),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @classmethod
    def parse(cls, **values: Any) -> AskOptions:
        """The options of raw ``values``, as a request or the command line sends them (lists for
        tuples, 5.0 for 5), checked; an unknown name is a ``DocqaError``."""
        return cls().with_values(**values)

    def with_values(self, **values: Any) -> AskOptions:
        """These options with ``values`` (names of fields) changed, checked as the record checks them."""
        unknown = sorted(set(values) - set(self.__dataclass_fields__))
        if unknown:
            raise DocqaError(f"unknown option{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
        return replace(self, **values) if values else self


def checked_top_k(value: object) -> int:
    """``value`` as a number of passages to read: a whole number from 1 to ``MAX_TOP_K``."""
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole:
        raise DocqaError(f"top_k must be a whole number from 1 to {MAX_TOP_K}, not {_shown(value)}")
    number = int(value)  # type: ignore[call-overload]
    if number < 1:
        raise DocqaError(f"top_k must be at least 1, not {number}")
    if number > MAX_TOP_K:
        raise DocqaError(f"top_k must be at most {MAX_TOP_K}, not {_shown(number)}")
    return number


def checked_threshold(value: object) -> float:
    """``value`` as a confidence threshold: a number from 0 to 1 (NaN is none)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DocqaError(f"the confidence threshold must be a number between 0 and 1, not {_shown(value)}")
    if not 0.0 <= value <= 1.0:  # false for NaN too
        raise DocqaError(f"the confidence threshold must be between 0 and 1, not {_shown(value)}")
    return float(value)


def checked_retrieval(value: object) -> RetrievalMode | None:
    """``value`` as a retrieval mode; None or "" for the configured one."""
    if value is None or value == "":
        return None
    mode = next((mode for mode in RETRIEVAL_MODES if mode == value), None)
    if mode is None:
        raise DocqaError(f"retrieval must be one of {', '.join(RETRIEVAL_MODES)}, not {_shown(value)}")
    return mode


def checked_history(value: object) -> History:
    """``value`` as the earlier turns of a conversation: at most ``MAX_HISTORY_TURNS`` [question, answer]
    pairs of text, each text at most ``MAX_HISTORY_TEXT_CHARS`` characters; None for none."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise DocqaError(f"history must be a list of [question, answer] pairs, not {_shown(value)}")
    if len(value) > MAX_HISTORY_TURNS:
        raise DocqaError(
            f"history holds {len(value)} turns; send at most the last {MAX_HISTORY_TURNS} (only the last is searched)"
        )
    turns = []
    for number, pair in enumerate(value):
        if not isinstance(pair, list | tuple) or len(pair) != 2 or not all(isinstance(text, str) for text in pair):
            raise DocqaError(f"history[{number}] must be a [question, answer] pair of texts, not {_shown(pair)}")
        longest = max(len(text) for text in pair)
        if longest > MAX_HISTORY_TEXT_CHARS:
            raise DocqaError(
                f"history[{number}] holds a text of {longest} characters; each question and answer of the "
                f"history may have at most {MAX_HISTORY_TEXT_CHARS}"
            )
        turns.append((pair[0], pair[1]))
    return tuple(turns)


def checked_sources(value: object) -> tuple[str, ...] | None:
    """``value`` as the documents to limit a question to: at most ``MAX_SOURCES`` source paths (as the
    index lists them); None, or none at all, for every document."""
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not all(isinstance(source, str) for source in value):
        raise DocqaError(f"sources must be a list of document paths, not {_shown(value)}")
    if len(value) > MAX_SOURCES:
        raise DocqaError(f"sources names {len(value)} documents; name at most {MAX_SOURCES}, or none for all")
    if any(len(source) > MAX_SOURCE_CHARS for source in value):
        raise DocqaError(f"a source path in sources is longer than {MAX_SOURCE_CHARS} characters")
    return tuple(value) or None


def checked_flag(name: str, value: object) -> bool:
    """``value`` as a yes or no: true or false only."""
    if not isinstance(value, bool):
        raise DocqaError(f"{name} must be true or false, not {_shown(value)}")
    return value


def _shown(value: object, limit: int = 40) -> str:
    """``value`` for an error message, cut short: a request may send megabytes."""
    if isinstance(value, list | tuple | dict):
        return f"a {type(value).__name__} of {len(value)} item{'' if len(value) == 1 else 's'}"
    text = repr(value[: limit + 1] if isinstance(value, str) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
