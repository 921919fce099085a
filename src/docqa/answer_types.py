"""What kind of value a question asks for, and whether a text gives one.

"How many bikes were produced in May?" wants a number, "When is the alarm tested?" a date or time:
a sentence without any number cannot answer the first, however many of its words it shares. The
kinds are few and coarse on purpose (a number, a date or time), since a wrong guess costs an answer;
questions of any other kind ask for nothing this module checks.
"""

from __future__ import annotations

import re
from typing import Literal

ValueKind = Literal["number", "date"]

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
    reason, a phrase) or its wording does not say."""
    if _ASKS_DATE.search(question):
        return "date"
    if _ASKS_NUMBER.search(question):
        return "number"
    return None


def gives_kind(text: str, kind: ValueKind, question: str = "") -> bool:
    """Whether ``text`` holds a value of ``kind`` other than those ``question`` already gives: a
    number in digits or words that no date or time of day holds; a date, year, weekday or time."""
    pattern = _DATE if kind == "date" else _NUMBER
    if kind == "number":
        text = _NOT_A_COUNT.sub(" ", text)
    given = {match.group().lower() for match in pattern.finditer(question)}
    return any(match.group().lower() not in given for match in pattern.finditer(text))
