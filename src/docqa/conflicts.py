"""Disagreeing documents: confident answers from different files that give a different value.

Folders keep old and new versions side by side (a 2022 policy beside its 2024 revision, two price
lists), so the best answer alone can quote the stale one. Of the confident answers to a question,
each document's best is compared with the others': they disagree when

- both hold a number with the same unit ("48p per mile" and "45p per mile", "£185" and "£150",
  "within 30 days" and "60 days") and the numbers of that unit differ; or
- both are short spans (names, dates in words) without numbers, and neither holds the other.

A sentence with no number is never taken to disagree: two sentences differ without contradicting.
A model reader often finds its span in one document only (the other's window reads as "no answer"),
so with a model the other documents' passages are also read by the sentence reader (the lexical
mode's), and a sentence it would answer with, above its threshold, stands for its document.
An answer that stands in a table's row is also compared with the same row of the same table in the
other documents' passages, whatever a reader makes of it: a row whose columns have the same names
and whose first cell names the same thing ("London (within the M25)"; "Other UK cities (Leeds,
Manchester)" is "Other UK cities"), the cells the answer covers compared. A revised policy's table
rarely repeats the question's words in the row an older version has.
The disagreeing answers are listed newest document first, each with its citation and date: the
document's own (metadata or front matter), else the first date written in its opening lines (a
policy's "Effective 1 September 2024", a letter's date), else the file's modification time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from docqa.citation import cite
from docqa.errors import DocqaError
from docqa.reader import SentenceReader
from docqa.schema import Conflict, ExtractedAnswer, RetrievedPassage
from docqa.text import CELL_SEPARATOR, WORD

OPENING_CHARS = 600  # a document's title block and first paragraph: its own date, whom and what it is about
_SHORT_SPAN_WORDS = 6
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_WRITTEN_DATE = re.compile(
    rf"\b(?:(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH})\.?,?\s+(\d{{4}})|({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,\s*(\d{{4}})"
    rf"|(\d{{4}})-(\d{{2}})-(\d{{2}}))\b",
    re.IGNORECASE,
)
# A number with what makes it a quantity of something: a currency sign before, letters or % after, a next word.
_QUANTITY = re.compile(r"([£$€¥]?)(\d+(?:[.,]\d+)*)\s*(%|[a-z]+\b)?(?:\s+([a-z]+))?", re.IGNORECASE)
_FILLER = frozenset("the a an of per and or to in on at for within up is are was".split())


def find_conflicts(
    answers: Sequence[ExtractedAnswer],
    *,
    document_text: Callable[[str, int], str],
    corpus_dir: Path | None = None,
    question: str = "",
    passages: Sequence[RetrievedPassage] = (),
    read_sentences: bool = True,
) -> list[Conflict]:
    """The answers of different documents that disagree, newest document first; [] when they agree or
    only one document answers. ``answers`` are the confident answers, best first; ``document_text``
    gives a document's text by its source, for the date in its opening lines. ``passages`` (with the
    ``question``) are read by the sentence reader for the documents ``answers`` do not come from
    when ``read_sentences``, and searched for the table row the best answer stands in."""
    best: dict[str, ExtractedAnswer] = {}
    rows = _same_rows(answers[0], passages) if answers else []  # before other answers of their documents
    read = _sentence_answers(question, passages, answers) if read_sentences else []
    for answer in [*answers[:1], *rows, *answers[1:], *read]:
        best.setdefault(answer.passage.chunk.source, answer)
    if len(best) < 2:
        return []
    top, *others = best.values()
    disagreeing = [answer for answer in others if disagree(top.text, answer.text)]
    if not disagreeing:
        return []
    conflicts = [_conflict(answer, document_text, corpus_dir) for answer in (top, *disagreeing)]
    return sorted(conflicts, key=lambda conflict: conflict.date or "", reverse=True)


def disagree(first: str, second: str) -> bool:
    """Whether two answers give a different value for the same thing (see the module's rules)."""
    one, other = _quantities(first), _quantities(second)
    if one and other:
        shared = set(one) & set(other)
        return any(one[unit] != other[unit] for unit in shared)
    if one or other:
        return False
    if max(len(first.split()), len(second.split())) > _SHORT_SPAN_WORDS:
        return False
    a, b = _normalised(first), _normalised(second)
    return bool(a and b) and a not in b and b not in a


def document_opening(source: str, document_text: Callable[[str, int], str]) -> str:
    """The first ``OPENING_CHARS`` of a document's text (``document_text(source, limit)`` reads no
    more); "" for a document gone since the search."""
    try:
        return document_text(source, OPENING_CHARS)[:OPENING_CHARS]
    except DocqaError:
        return ""


def document_date(
    source: str, metadata_date: str | None, document_text: Callable[[str, int], str], corpus_dir: Path | None
) -> tuple[str | None, str]:
    """The date of a document (ISO) and where it came from: metadata, text, file time, or "" for none."""
    if metadata_date:
        return metadata_date, "metadata"
    written = written_date(document_opening(source, document_text))
    if written:
        return written, "text"
    if corpus_dir is not None:
        try:
            modified = (Path(corpus_dir) / source).stat().st_mtime
        except OSError:
            return None, ""
        return datetime.fromtimestamp(modified, UTC).strftime("%Y-%m-%dT%H:%M:%S"), "file time"
    return None, ""


def written_date(text: str) -> str | None:
    """The first full date written in ``text`` ("1 September 2024", "July 2, 2024", "2024-07-02"), as ISO."""
    for match in _WRITTEN_DATE.finditer(text):
        day, month, year, month2, day2, year2, iso_year, iso_month, iso_day = match.groups()
        try:
            if iso_year:
                found = datetime(int(iso_year), int(iso_month), int(iso_day))
            elif day:
                found = datetime(int(year), _MONTHS[month.lower()], int(day))
            else:
                found = datetime(int(year2), _MONTHS[month2.lower()], int(day2))
        except ValueError:
            continue
        return found.strftime("%Y-%m-%d")
    return None


def _sentence_answers(
    question: str, passages: Sequence[RetrievedPassage], answers: Sequence[ExtractedAnswer]
) -> list[ExtractedAnswer]:
    answered = {answer.passage.chunk.source for answer in answers}
    others = [passage for passage in passages if passage.chunk.source not in answered]
    if not question or not answers or not others:
        return []
    found = SentenceReader().read(question, others)
    return [answer for answer in found.answers if answer.score >= SentenceReader.default_threshold]


def _same_rows(answer: ExtractedAnswer, passages: Sequence[RetrievedPassage]) -> list[ExtractedAnswer]:
    """The rows of other documents' ``passages`` that are ``answer``'s table row in another version of
    the table, each cut to the cells ``answer`` covers, as answers as sure as ``answer``."""
    chunk = answer.passage.chunk
    text, start = chunk.text, answer.start - chunk.start
    line_start = text.rfind("\n", 0, max(start, 0)) + 1
    line_end = text.find("\n", line_start)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    cells = _cells(line)
    if len(cells) < 2:  # no row of a table
        return []
    offset, covered = line_start, []
    for name, cell in zip(cells, line.split(CELL_SEPARATOR), strict=True):  # the cells the answer's span meets
        if offset < answer.end - chunk.start and start < offset + len(cell):
            covered.append(name)
        offset += len(cell) + len(CELL_SEPARATOR)
    found = []
    for passage in passages:
        if passage.chunk.source == chunk.source:
            continue
        at = 0
        for other in passage.chunk.text.split("\n"):
            their = _cells(other)
            if their.keys() == cells.keys() and _key(their) == _key(cells):
                shown = CELL_SEPARATOR.join(their[name] for name in covered)
                begin = passage.chunk.start + at
                found.append(ExtractedAnswer(shown or other, answer.score, passage, begin, begin + len(other)))
                break
            at += len(other) + 1
    return found


def _cells(line: str) -> dict[str, str]:
    """A table row's cells by their column's name ("Location: London" is {"location": "Location:
    London"}); {} for a line that is no row of named cells."""
    cells: dict[str, str] = {}
    for cell in line.split(CELL_SEPARATOR) if CELL_SEPARATOR in line else ():
        name, colon, _ = cell.partition(": ")
        if not colon or not name.strip() or name.strip().casefold() in cells:
            return {}
        cells[name.strip().casefold()] = cell.strip()
    return cells


def _key(cells: dict[str, str]) -> str:
    """What a row is about: its first cell's value, without a parenthesis ("Other UK cities (Leeds)" is
    "other uk cities")."""
    first = next(iter(cells.values()), "").partition(": ")[2]
    return _normalised(re.sub(r"\([^)]*\)", " ", first))


def _conflict(answer: ExtractedAnswer, document_text: Callable[[str, int], str], corpus_dir: Path | None) -> Conflict:
    date, dated_by = document_date(answer.passage.chunk.source, answer.passage.date, document_text, corpus_dir)
    return Conflict(answer.text, answer.score, cite(answer), date, dated_by, answer)


def _quantities(text: str) -> dict[str, set[str]]:
    """The numbers of ``text`` by unit, the currency sign else the first word after it:
    "£185 per night" {"£": {"185"}}, "48p per mile" {"p": {"48"}}, "within 30 days" {"days": {"30"}}."""
    found: dict[str, set[str]] = {}
    for sign, number, suffix, following in _QUANTITY.findall(text):
        if re.fullmatch(r"(19|20)\d\d", number) and not sign and not suffix:
            continue  # a year: when, not how much
        words = [word.lower() for word in (suffix, following) if word and word.lower() not in _FILLER]
        unit = sign or (words[0] if words else "")
        found.setdefault(unit, set()).add(number.replace(",", ""))
    return found


def _normalised(text: str) -> str:
    words = WORD.findall(text.lower())
    return " ".join(word for word in words if word not in _FILLER)
