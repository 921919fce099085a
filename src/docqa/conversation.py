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

A follow-up leans on the previous turn's answer only when it was given with confidence
(``follow_up_turn``): after an abstention, a closest sentence or a low-confidence answer, only the
previous question is searched with it, so a wrong answer cannot pull the search its way. A confident
answer's name resolves "he", "she", "him", "his" and "her" in the question the reader reads ("How
many troopers did he send?" after "Ralph Northam" reads "How many troopers did Ralph Northam send?"):
the first run of capitalised words in the answer, less the words the previous question had, of two
words or more unless the answer is a short span.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from docqa.errors import DocqaError
from docqa.schema import Answer, Note

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
_NOT_REFERENTS = (
    _QUESTION_STARTS
    | _PERSON_PRONOUNS
    | _THING_PRONOUNS
    | _POINTING
    | frozenset(
        """a an the of in on at to for from by with about as and or but not no so if been be being it's
    i you we us me my our your much many long far often old""".split()
    )
)
# A thing pronoun right after one of these is the question's subject ("How many people will it reach?").
_AUXILIARIES = frozenset(
    "is are was were am do does did can could will would shall should may might must has have had".split()
)
_TITLES = frozenset("mr mrs ms miss dr sir cllr prof".split())  # alone, not a name
_QUOTATION = re.compile(r'["\u201c][^"\u201d]*["\u201d]')  # someone's words: not who said them
_SHORT_SPAN_WORDS = 4
# Words a question asking for a person has near its start: "Which governor...?", "Which councillor...?"
_PERSON_NOUNS = frozenset(
    """person people man woman governor mayor councillor minister president senator director manager chair
    employee member officer representative official spokesman spokeswoman author owner engineer founder
    leader judge chief head secretary""".split()
)  # an answer of at most this many words is a span, taken whole as a name

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
            position == len(words) - 1
            or not any(w.lower() not in _NOT_REFERENTS for w in before)
            or (word in {"it", "they"} and position > 0 and lowered[position - 1] in _AUXILIARIES)
        ):
            return True
    return _ends_pointing(lowered)


def follow_up_turn(answer: Answer) -> tuple[str, str]:
    """The (question, answer) pair a later follow-up may lean on: the answer's text only when it was
    given with confidence (``Answer.confident``), else "" (the previous question alone is searched)."""
    return answer.question, answer.text if answer.confident else ""


def rewrite_follow_up(question: str, history: History | None) -> str:
    """The search query for ``question``: the question alone, or, when it leans on the previous
    turn, the question (its pronouns resolved, see ``resolve_follow_up``) followed by that turn's
    question and answer ("" for an answer not to lean on)."""
    if not history or not leans_on_previous(question):
        return question
    previous_question, previous_answer = history[-1]
    resolved = resolve_follow_up(question, history)
    return " ".join(part for part in (resolved, previous_question, previous_answer) if part)


def resolve_follow_up(question: str, history: History | None) -> str:
    """``question`` with "he", "she", "him", "his" and "her" replaced by the name the previous answer
    gives, and "it" and "its" by what the previous question named (``_resolve_it``), when it leans
    on the previous turn; else ``question``."""
    if not history or not leans_on_previous(question):
        return question
    previous_question, previous_answer = history[-1]
    question = _resolve_it(question, previous_question)
    name = _answer_name(previous_answer, previous_question)
    if name is None:
        return question

    def replace(match: re.Match[str]) -> str:
        if any(_is_name(word, position) for position, word in enumerate(_WORD.findall(question[: match.start()]))):
            return match.group(0)  # a name before the pronoun may be the one it means
        pronoun = match.group(1).lower()
        following = match.group(2)
        possessive = pronoun in {"his", "hers"} or (
            pronoun == "her" and following and following.lower() not in _NOT_REFERENTS
        )
        return (f"{name}'s" if possessive else name) + (f" {following}" if following else "")

    return re.sub(r"\b(he|she|him|his|her|hers)\b(?:\s+([^\W_]+))?", replace, question, flags=re.IGNORECASE)


def words_to_match(question: str, resolved: str, history: History | None) -> str:
    """What the sentence reader matches a follow-up by: the question as ``resolve_follow_up``
    resolved it and, when "he" or "she" is still left in it, the previous question, whose words say
    what the pronoun stands for ("In which year did he join?" after "Who was Walter Brannigan's
    first employee?"). A model reads the resolved question alone: its answer is a span, not a
    sentence that shares the most words."""
    if not history or not leans_on_previous(question) or not _PERSON_PRONOUN.search(resolved):
        return resolved
    if _asks_for_a_person([word.lower() for word in _WORD.findall(question)]):
        return resolved  # "Who said she had left her office?": she is whom it asks for, not the previous turn's
    return f"{resolved} {history[-1][0]}"


_PERSON_PRONOUN = re.compile(r"\b(?:he|she|him|his|her|hers)\b", re.IGNORECASE)


def _resolve_it(question: str, previous_question: str) -> str:
    """``question`` with "it" and "its" read as what the previous question was about: its last run
    of capitalised words after the first word, of two words or a word and a number ("How much will
    it cost?" after "How many jobs will the Kestrel Moor expansion create?" reads "How much will
    Kestrel Moor cost?"); unchanged when the previous question names nothing so, or this one names
    something before the pronoun."""
    runs = [run for run in _capitalised_runs(_first_word_lowered(previous_question)) if run]
    if not runs:
        return question
    topic = " ".join(runs[-1])
    numbered = re.search(rf"{re.escape(topic)}\s+(\d+\b)", previous_question)  # "Unit 4", "Phase 2"
    if numbered is None and len(runs[-1]) < 2:
        return question  # a lone capitalised word is as often a person ("Where did Trump speak?") as a thing
    topic = f"{topic} {numbered.group(1)}" if numbered else topic

    def replace(match: re.Match[str]) -> str:
        if any(_is_name(word, position) for position, word in enumerate(_WORD.findall(question[: match.start()]))):
            return match.group(0)
        return f"{topic}'s" if match.group(0).lower() == "its" else topic

    return re.sub(r"\b(?:it|its)\b", replace, question, flags=re.IGNORECASE)


def _first_word_lowered(question: str) -> str:
    """The question with its first word lowered: a question word is no name."""
    return re.sub(r"^\W*\w+", lambda match: match.group(0).lower(), question, count=1)


def _answer_name(answer: str, previous_question: str) -> str | None:
    """The first run of capitalised words in ``answer`` without the words of ``previous_question``:
    two words or more ("Ralph Northam"), or one where the whole answer is a short span."""
    asked_words = [word.lower() for word in _WORD.findall(previous_question)]
    asked = {_bare(word) for word in asked_words}
    short = len(answer.split()) <= _SHORT_SPAN_WORDS
    if not short and not _asks_for_a_person(asked_words):
        return None  # a sentence answering "Which building...?" names people who are not the answer
    for run in _capitalised_runs(answer):
        if any(_bare(word) != word.lower() for word in run):
            continue  # "Joe Biden's victory": an owner, not the one the answer is about
        kept = [word for word in run if _bare(word) not in asked and _bare(word) not in _NOT_REFERENTS]
        named = [word for word in kept if _bare(word) not in _TITLES]
        if len(named) >= 2 or (named and short):
            return " ".join(kept)
    return None


def _asks_for_a_person(words: list[str]) -> bool:
    """ "Who ...?", "Whose ...?", "Which governor ...?", "What is the name of the councillor ...?" """
    if words and words[0] in {"who", "whom", "whose"}:
        return True
    return any(word.rstrip("s") in _PERSON_NOUNS for word in words[:6])


def _capitalised_runs(text: str) -> list[list[str]]:
    """Runs of capitalised words outside quotations, broken by any other word and by punctuation."""
    runs: list[list[str]] = [[]]
    for token in _QUOTATION.sub(" , ", text).split():
        word = token.strip("\"'\u201c\u201d\u2018(),;:.!?")
        if word and word[0].isupper() and _WORD.fullmatch(word):
            runs[-1].append(word)
            if word != token.rstrip(".") or (token.endswith(".") and len(word) > 3):
                runs.append([])  # "Northam," or "Northam." ends the run; "Mr." does not
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]


def _bare(word: str) -> str:
    """A word lowered and without a possessive: "Trump\u2019s" -> "trump"."""
    return re.sub(r"['\u2019]s$", "", word.lower())


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
    return position > 0 or word.lower() not in _NOT_REFERENTS  # "In which year did he join?"


def clean_question(question: str) -> tuple[str, list[Note]]:
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
        notes.append(Note("question-cut", f"The question was cut to its first {MAX_QUESTION_CHARS} characters."))
    return cleaned, notes
