"""Values in questions and texts: what kind of value a question asks for, whether a text gives one,
whether a range a text states holds a number ("six years" is in "5 to 9 years"), and the items of a
series a text lists.

"How many bikes were produced in May?" wants a number, "When is the alarm tested?" a date or time,
"Which parts should be lubricated?" several things: a sentence without any number cannot answer the
first, however many of its words it shares. The kinds are few and coarse on purpose (a number, a
date or time, several things), since a wrong guess costs an answer; questions of any other kind ask
for nothing this module checks.
"""

from __future__ import annotations

import re
from typing import Literal

from docqa.text import WORD, question_terms

ValueKind = Literal["number", "date", "several"]

MONTHS = "january february march april may june july august september october november december".split()
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_NUMBER_WORDS = """one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
    sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred
    thousand million billion trillion dozen dozens hundreds thousands millions billions half quarter
    third twice double triple""".split()

# "When", "what year", "on which date", "at what time": a date, a year or a time of day.
_ASKS_DATE = re.compile(
    r"^\s*(?:(?:in|on|at|by|since|until|during)\s+)?(?:when\b|(?:what|which)\s+"
    r"(?:year|years|date|dates|day|month|century|decade|time|season)\b)",
    re.IGNORECASE,
)
# "How many", "how much", "how long", "what percentage", "what is the minimum length", "what
# discount": a count, an amount, a measure.
_ASKS_NUMBER = re.compile(
    r"^\s*(?:(?:in|on|at|by|for|to|within)\s+)?how\s+(?:many|much|long|old|far|big|large|tall|high|heavy|fast|wide|deep)\b"
    r"|^\s*(?:what|which)\s+(?:\w+\s+){0,4}?(?:percentage|percent|proportion|rate|amount|price|cost|costs|fee|fees"
    r"|total|length|population|discount|charge|allowance|salary|budget|rent|minimum|maximum"
    r"|temperature|speed|distance|weight|height|number)\b"
    r"|\bcost\W*$",
    re.IGNORECASE,
)
_DATE = re.compile(
    rf"\b(?:{'|'.join(MONTHS + _WEEKDAYS)}|today|yesterday|tomorrow|daily|weekly|monthly|annually)\b|\d+",
    re.IGNORECASE,
)
_NUMBER = re.compile(rf"\d(?:[\d,.]*\d)?|\b(?:{'|'.join(_NUMBER_WORDS)})\b", re.IGNORECASE)
# Numbers that date or time something rather than count it: "7am", "10:30", "19 July", "June 12",
# "in 2011" (a year: "2,000" is written with its comma when it counts).
_MONTH = "|".join(MONTHS)
_NOT_A_COUNT = re.compile(
    rf"\b\d{{1,2}}(?::\d\d)?\s*(?:am|pm)\b|\b\d{{1,2}}[:.]\d\d\b|(?<![\d,.])(?:1[5-9]|20)\d\d(?![\d,.]\d)"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTH})\b|\b(?:{_MONTH})\s+\d{{1,2}}(?:st|nd|rd|th)?\b",
    re.IGNORECASE,
)


def asked_kind(question: str) -> ValueKind | None:
    """The kind of value ``question`` asks for, or None when it asks for something else (a name, a
    reason, a phrase) or its wording does not say; "several" for a question that asks for several
    things of no kind above."""
    if _ASKS_DATE.search(question):
        return "date"
    if _ASKS_NUMBER.search(question):
        return "number"
    if asks_for_several(question):
        return "several"
    return None


def gives_kind(text: str, kind: ValueKind, question: str = "") -> bool:
    """Whether ``text`` holds a value of ``kind`` other than those ``question`` already gives: a
    number in digits or words that no date or time of day holds; a date, year, weekday or time; a
    series of three things or more ("A, B and C")."""
    if kind == "several":
        return len(series(text, question)) >= MIN_SERIES
    pattern = _DATE if kind == "date" else _NUMBER
    if kind == "number":
        text = _NOT_A_COUNT.sub(" ", text)
    given = {match.group().lower() for match in pattern.finditer(question)}
    return any(match.group().lower() not in given for match in pattern.finditer(text))


_SMALL_NUMBERS = {word: value for value, word in enumerate(["zero", *_NUMBER_WORDS[:20]])}
_BOUND = r"(\d+(?:[.,]\d+)*)"
_RANGES = (  # a range of values as a table or a rule states it, and which values are in it
    (
        re.compile(rf"(?<![\w/.,-]){_BOUND}\s*(?:to|-|\u2013|\u2014)\s*{_BOUND}(?![\w/-])"),
        lambda low, high, value: low <= value <= high,
    ),
    (re.compile(rf"{_BOUND}(?:\s+[a-z]+)?\s+or\s+(?:more|over|above)"), lambda low, _, value: value >= low),
    (re.compile(rf"(?:more than|over|above)\s+{_BOUND}"), lambda low, _, value: value > low),
    (re.compile(rf"(?:less than|fewer than|under|below)\s+{_BOUND}"), lambda high, _, value: value < high),
)


def number_value(word: str) -> float | None:
    """The value of a word that is a whole number, in digits or in words up to twenty; else None."""
    return float(word) if word.isdecimal() else _SMALL_NUMBERS.get(word.lower())


def range_holds(text: str, value: float) -> bool:
    """Whether ``text`` states a range holding ``value``: "5 to 9 years", "10 years or more", "less than 2"."""
    lowered = text.lower()
    for pattern, holds in _RANGES:
        for match in pattern.finditer(lowered):
            bounds = [float(group.replace(",", "")) for group in match.groups()]
            if holds(bounds[0], bounds[-1], value):
                return True
    return False


# The words that end the noun after "which" or "what" ("which parts | should ...").
_VERBS = frozenset(
    """is are was were do does did has have had can could must should shall will would may might need
    needs""".split()
)
_IRREGULAR_PLURALS = frozenset("people men women children".split())
_WHICH = re.compile(r"^\s*(?:which|what)\s+(.*)", re.IGNORECASE)
_SEVERAL = re.compile(
    r"^\s*(?:who|what|which)\s+(?:are|were)\b"  # "Who were the speakers?", "What are the options?"
    r"|\b(?:list|name)\s+(?:all|each|every|the)\b"  # "List the ...", "Name all ..."
    r"|\b(?:all|both)\s+the\b|\bwhich\s+(?:ones|of\s+the\s+\w+s)\b",
    re.IGNORECASE,
)


def asks_for_several(question: str) -> bool:
    """Whether ``question`` asks for several things: a plural after "which"/"what" ("Which parts
    ..."), "who are", "what were the", "list the", "name all", "both the"."""
    if _SEVERAL.search(question):
        return True
    match = _WHICH.match(question)
    if match is None:
        return False
    noun = []
    for word in WORD.findall(match.group(1))[:4]:
        if word.lower() in _VERBS:
            break
        noun.append(word.lower())
    head = noun[-1] if noun and len(noun) < 4 else ""
    return head in _IRREGULAR_PLURALS or (head.endswith("s") and not head.endswith(("ss", "us", "is", "'s")))


MIN_SERIES = 3  # items: "A and B" joins two things in passing far more often than it lists them
MAX_ITEM_WORDS = 6
_JOINER = re.compile(r"(?:^|\s)(?:and|or)\s+", re.IGNORECASE)
_STEM = 5  # letters two words share to count as one ("lubricated", "lubricate")
# Words that open a clause or a phrase after a series' last item: "flagpoles | so people could".
_AFTER_LAST = frozenset(
    """so that which who whom whose because when while where to in on at for from with by as if after
    before during until since but""".split()
)


def series(text: str, question: str = "") -> list[tuple[int, int]]:
    """The (start, end) offsets in ``text`` of the items of the series that ends it or its label's
    value ("fire safety, manual handling and data protection"); [] when there is none. Words of
    ``question`` frame the items rather than belong to them: "lubricate the chain, derailleur pivots
    and brake lever pivots" lists "the chain" for "which parts should be lubricated"."""
    asked = {_stem(word) for word in question_terms(question)}
    start = text.rfind(": ") + 2 if ": " in text else 0
    end = len(text.rstrip().rstrip(".;!?"))
    commas = [start - 2] + [i for i in range(start, end) if text.startswith(", ", i)]
    if len(commas) < 2:
        return []
    last_start = commas[-1] + 2
    joiner = _JOINER.search(text, last_start - 1, end)
    if joiner is None:
        return []
    items = [_framed(text, joiner.end(), end, asked, keep="first")]
    if joiner.start() > last_start:
        items.append((last_start, joiner.start()))
    for left, right in zip(reversed(commas[:-1]), reversed(commas[1:]), strict=True):
        item = _framed(text, left + 2 if left >= start else start, right, asked, keep="last")
        if item[0] >= item[1] or len(text[item[0] : item[1]].split()) > MAX_ITEM_WORDS:
            break
        items.append(item)
        if item[0] > left + 2 and left >= start:  # cut after a word of the question: the series began there
            break
    items.reverse()
    if len(items) >= MIN_SERIES and items[0][0] == start:  # the series opens the text: "We sell red, ..."
        longest = max(len(text[a:b].split()) for a, b in items[1:-1])
        words = [m.start() for m in WORD.finditer(text, *items[0])]
        if len(words) > longest + 1:
            items[0] = (words[-longest], items[0][1])
    return items


def _framed(text: str, start: int, end: int, asked: set[str], *, keep: Literal["first", "last"]) -> tuple[int, int]:
    """The part of ``text[start:end]`` that is an item: with ``keep="last"``, the words after the last
    word of the question in it; with ``keep="first"``, those before the first, or before a word that
    opens what follows the item ("so", "to", "which")."""
    words = [(m.start() + start, m.end() + start) for m in WORD.finditer(text[start:end])]
    framing = [i for i, (a, b) in enumerate(words) if _stem(text[a:b].lower()) in asked]
    if keep == "last" and framing:
        return (words[framing[-1] + 1][0], end) if framing[-1] + 1 < len(words) else (end, end)
    if keep == "first":
        ending = [i for i, (a, b) in enumerate(words) if i and text[a:b].lower() in _AFTER_LAST]
        cut = min(framing[:1] + ending[:1], default=None)
        if cut is not None:
            return (start, words[cut - 1][1]) if cut > 0 else (start, start)
    return start, end


def _stem(word: str) -> str:
    return word[:_STEM]
