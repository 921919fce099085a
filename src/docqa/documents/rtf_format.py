"""Rich Text Format (.rtf), read with striprtf: the text without its control words, each paragraph
a paragraph, headings starting sections located by their heading path, table rows as records.

striprtf gives the text but not the formatting, so the markup is first read for which paragraphs
are headings: those with an outline level (``\\outlinelevel``), those in a heading or title style of
the style sheet, or, in a file with neither, those wholly bold and short with no final stop, ranked
by font size (the largest is level 1; so is a centred title alone in a larger size at the top). A
marker put before each heading's text travels through striprtf and says where the heading is in
the text. A row of a table (striprtf ends each cell with ``|``) becomes a record under the table's
first row.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from docqa.documents.common import Outline, Parsed, UnreadableFile, needs, parsed
from docqa.documents.tables import table_text
from docqa.documents.text_format import decoded

_TOKEN = re.compile(r"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?|\\'[0-9a-fA-F]{2}|\\([^a-zA-Z])|([{}])|[\r\n]+|([^\\{}\r\n]+)")
_STYLE = re.compile(r"\\s(\d+)\b[^;{}]*?(?:\s|})([^\\;{}]+);")
_HEADING_STYLE = re.compile(r"(?:heading|overskrift|titre|berschrift)\s*(\d)", re.IGNORECASE)
_MARK, _END = "\ue000", "\ue001"  # before a heading's text: _MARK, its level, _END
_HEADING_CHARS = 120
_PARAGRAPH_ENDS = frozenset({"par", "sect", "page", "cell", "row", "nestcell"})
_TEXT_WORDS = frozenset({"emdash", "endash", "bullet", "lquote", "rquote", "ldblquote", "rdblquote", "u"})


class _Paragraph(NamedTuple):
    start: int  # where its first character of text is in the markup
    text_chars: int
    bold_chars: int
    size: int
    outline: int | None
    style: int | None
    in_table: bool
    last: str  # its last character of text
    centred: bool


def parse_rtf(data: bytes) -> Parsed:
    """The text, title (its first line), date (a marker) and heading-path locations of an RTF file."""
    striprtf = needs("striprtf.striprtf", "striprtf", ".rtf")
    # RTF is 7-bit text that spells other characters as escapes; the decoder only has to accept it.
    markup = decoded(data)
    if not markup.lstrip("\ufeff \t\r\n").startswith("{\\rtf"):
        raise UnreadableFile("damaged RTF (it does not start with {\\rtf)")
    try:
        text = striprtf.rtf_to_text(_marked(markup, striprtf.destinations), errors="replace")
    except Exception as error:  # striprtf raises on malformed escapes
        raise UnreadableFile(f"damaged RTF ({type(error).__name__}: {error})") from error
    return parsed(_sections(text))


def _sections(text: str) -> list[tuple[str, str]]:
    outline = Outline()
    rows: list[list[str]] = []
    for line in text.replace("\r", "").split("\n"):
        if line.endswith("|"):
            rows.append(line[:-1].split("|"))
            continue
        if rows:
            outline.add(table_text(rows))
            rows = []
        if line.startswith(_MARK) and _END in line:
            level, _, heading = line[1:].partition(_END)
            outline.heading(int(level), heading)
        else:
            outline.add(line.replace(_MARK, "").replace(_END, ""))
    if rows:
        outline.add(table_text(rows))
    return outline.sections()


def _marked(markup: str, destinations: frozenset[str]) -> str:
    """``markup`` with a marker of its level before the text of each heading paragraph."""
    paragraphs, styles = _paragraphs(markup, destinations)
    levels = _heading_levels(paragraphs, styles)
    pieces: list[str] = []
    done = 0
    for paragraph, level in sorted(levels.items(), key=lambda pair: pair[0].start):
        pieces += [markup[done : paragraph.start], f"{{\\uc0\\u{ord(_MARK)} {level}\\u{ord(_END)} }}"]
        done = paragraph.start
    return "".join([*pieces, markup[done:]])


def _heading_levels(paragraphs: list[_Paragraph], styles: dict[int, int]) -> dict[_Paragraph, int]:
    levels: dict[_Paragraph, int] = {}
    for paragraph in paragraphs:
        if paragraph.in_table:
            continue
        if paragraph.outline is not None and 0 <= paragraph.outline < 9:
            levels[paragraph] = paragraph.outline + 1
        elif paragraph.style in styles:
            levels[paragraph] = styles[paragraph.style]
    if levels:
        return levels
    bold = [
        paragraph
        for paragraph in paragraphs
        if not paragraph.in_table
        and paragraph.bold_chars == paragraph.text_chars
        and 0 < paragraph.text_chars <= _HEADING_CHARS
        and paragraph.last not in ".,;:!?"
    ]
    sizes = sorted({paragraph.size for paragraph in bold}, reverse=True)
    # A title, alone in the largest size at the top, is of level 1 beside the largest headings under
    # it, as Word's Title style is: a heading path does not start with the document's title.
    titled = len(sizes) > 1 and bold[0].centred and [one.size for one in bold].count(bold[0].size) == 1
    titled = titled and bold[0].size == sizes[0] and bold[0] is paragraphs[0]
    ranks = sizes[1:] if titled else sizes
    return {paragraph: ranks.index(paragraph.size) + 1 if paragraph.size in ranks else 1 for paragraph in bold}


def _paragraphs(markup: str, destinations: frozenset[str]) -> tuple[list[_Paragraph], dict[int, int]]:
    """Each paragraph's place and formatting, and the heading level of each heading or title style."""
    paragraphs: list[_Paragraph] = []
    styles: dict[int, int] = {}
    stack: list[tuple[bool, bool, int]] = []
    skip, bold, size = False, False, 24
    outline: int | None = None
    style: int | None = None
    in_table = centred = False
    start, chars, bold_chars, largest, last = -1, 0, 0, 0, ""
    group_start = 0
    unicode_skip = 0  # the stand-in character after a \u escape
    for match in _TOKEN.finditer(markup):
        word, parameter, symbol, brace, text = match.groups()
        if brace == "{":
            stack.append((skip, bold, size))
            group_start = match.end()
            continue
        if brace == "}":
            skip, bold, size = stack.pop() if stack else (skip, bold, size)
            continue
        if skip:
            continue
        if word is not None:
            if word in destinations or (word == "stylesheet"):
                if word == "stylesheet":
                    styles = _style_levels(markup, match.start())
                skip = match.start() == group_start or word in destinations
                continue
            value = int(parameter) if parameter else None
            if word == "pard":
                outline, style, in_table, centred = None, None, False, False
            elif word in ("qc", "ql", "qr", "qj"):
                centred = word == "qc"
            elif word == "plain":
                bold, size = False, 24
            elif word == "b":
                bold = value != 0
            elif word == "fs" and value:
                size = value
            elif word == "outlinelevel":
                outline = value
            elif word == "s" and value is not None:
                style = value
            elif word == "intbl":
                in_table = True
            elif word in _PARAGRAPH_ENDS:
                if chars:
                    paragraphs.append(
                        _Paragraph(start, chars, bold_chars, largest, outline, style, in_table, last, centred)
                    )
                start, chars, bold_chars, largest, last = -1, 0, 0, 0, ""
            elif word in _TEXT_WORDS:
                text = "x"
                unicode_skip = 1 if word == "u" else 0
        elif symbol == "*":
            skip = match.start() == group_start or skip
            continue
        elif match.group().startswith("\\'"):
            text = "x"
        elif text and unicode_skip:
            text, unicode_skip = text[1:], 0
        if text and text.strip():
            if start < 0:
                start = match.start()
            visible = len(text.strip())
            chars += visible
            bold_chars += visible if bold else 0
            largest = max(largest, size)
            last = text.strip()[-1]
    return paragraphs, styles


def _style_levels(markup: str, start: int) -> dict[int, int]:
    """The heading level of each paragraph style whose name is a heading's or the title's."""
    depth, end = 1, len(markup)
    for brace in re.finditer(r"(?<!\\)[{}]", markup[start:]):
        depth += 1 if brace.group() == "{" else -1
        if depth == 0:
            end = start + brace.end()
            break
    levels: dict[int, int] = {}
    for number, name in _STYLE.findall(markup[start:end]):
        name = name.strip()
        heading = _HEADING_STYLE.fullmatch(name)
        if heading:
            levels[int(number)] = int(heading.group(1))
        elif name.lower() == "title":
            levels[int(number)] = 1
    return levels
