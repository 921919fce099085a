"""Word splitting and stop words, shared by the BM25 query and the sentence reader; the separator
of a table row's cells, shared by the documents and the sentence splitter."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

# Words too common to help BM25; dropping them keeps queries fast on large indexes.
STOP_WORDS = frozenset(
    """a an and are as at be by did do does for from had has have how in is it its of on or that the
    their there this to was were what when where which who whom whose why will with""".split()
)
# The sentence reader ranks the few sentences of one passage, where pronouns and auxiliaries only
# add noise, so it drops more words; BM25 keeps the shorter list its recall figures were measured with.
# "s" and "t" are the pieces FTS5 splits off "it's" and "don't".
SENTENCE_STOP_WORDS = STOP_WORDS | frozenset(
    """about been but can could i if into me my our so than them then these they those us we would you
    your s t""".split()
)

# Between the cells of a table row read as one record ("Band: 5 to 9 years · Days: 28"): a line
# holding it is one record, which sentence splitting keeps whole.
CELL_SEPARATOR = " \u00b7 "

_SEPARATOR_CATEGORIES = ("P", "Z", "S", "Cc", "Cf", "Cs")
WORD = re.compile(r"[^\W_]+")  # letters and digits: a word as FTS5 splits it (at "_" too); the one pattern


def folded_words(text: str) -> tuple[str, ...]:
    """The words of ``text`` (``WORD``), case-folded: what two answers are compared by."""
    return tuple(word.casefold() for word in WORD.findall(text))


def holds_words(first: str, second: str) -> bool:
    """One text holds the other's words, word for word and in order ("Rep. Elaine Luria" and "Elaine
    Luria"), ignoring case and punctuation; a text without words holds nothing."""
    one, other = folded_words(first), folded_words(second)
    shorter, longer = sorted((one, other), key=len)
    return bool(shorter) and any(longer[i : i + len(shorter)] == shorter for i in range(len(longer) - len(shorter) + 1))


def search_words(text: str) -> list[str]:
    """The words of ``text`` as FTS5's ``unicode61`` tokenizer would at least split them, in order."""
    words: list[str] = []
    current: list[str] = []
    for char in [*text, " "]:
        if not separates_words(char):
            current.append(char)
        elif current:
            words.append("".join(current))
            current = []
    return words


def separates_words(char: str) -> bool:
    """Whether FTS5's ``unicode61`` tokenizer surely ends a token at ``char``.

    It classifies characters by Unicode 6.1 and keeps characters it does not know inside tokens. A
    character that Unicode 3.2 (shipped with Python) already called punctuation, a symbol, a space or
    a control, and that is not a letter, digit or mark today, is a separator for it too. Keeping any
    other character inside a quoted word is harmless: FTS5 splits the word there as it split the text.
    """
    if not unicodedata.ucd_3_2_0.category(char).startswith(_SEPARATOR_CATEGORIES):
        return False
    return not unicodedata.category(char).startswith(("L", "N", "M"))


MAX_QUERY_WORDS = 200  # BM25 time grows with the words; a longer query keeps its first ones


def query_words(text: str, lower: Callable[[str], str] = str.lower) -> list[str]:
    """The words BM25 searches for ``text``, for every store: its words as FTS5 would split them, each
    through ``lower``, without stop words (unless nothing else is left), each once, at most
    ``MAX_QUERY_WORDS``."""
    words = [lower(word) for word in search_words(text)]
    kept = [word for word in words if word not in STOP_WORDS] or words
    return list(dict.fromkeys(kept))[:MAX_QUERY_WORDS]


def has_words(text: str) -> bool:
    """Whether ``text`` holds a letter or digit: text without one has nothing to search or answer with."""
    return WORD.search(text) is not None


def question_terms(question: str) -> list[str]:
    """The question's distinct lower-case words, without the sentence reader's stop words, in order."""
    words = (word for word in WORD.findall(question.lower()) if word not in SENTENCE_STOP_WORDS)
    return list(dict.fromkeys(words))
