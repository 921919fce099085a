"""The chat's turns as HTML, as plain text to copy, and as Markdown to export.

Each turn is rendered once, when it happens, and the page appends it to the conversation: the
page never receives the whole conversation again, so the thirtieth turn costs what the first did.
The controls in a reply carry ``data-action`` attributes that the page's script acts on:
``cite`` (open source ``data-index`` of turn ``data-turn``), ``copy`` (``data-copy``), ``vote``
(``data-value`` up or down) and ``ask`` (an example question, ``data-question``).

Everything from a document or a user is escaped (see :func:`docqa.ui.render.escape_text`).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from docqa.schema import Answer, Citation, RetrievedPassage, confidence_label
from docqa.ui.render import (
    citation_place,
    escape_text,
    excerpt,
    own_location,
    percent,
    place,
    short_title,
    single_line,
    snippet_html,
)

CLOSEST_PASSAGES = 3  # shown after an abstention
NOT_FOUND = "The documents do not seem to contain the answer."
SEPARATOR = " \u00b7 "
SEARCHED_AS_CHARS = 120
# Thumbs drawn in SVG: an emoji needs a font that not every system has.
_THUMB = (
    '<svg viewBox="0 0 24 24" width="15" height="15" aria-hidden="true"{turn}><path fill="currentColor" '
    'd="M2 21h4V9H2v12zm20-11a2 2 0 0 0-2-2h-6.3l1-4.6v-.3c0-.4-.2-.8-.4-1.1L13.2 1 6.6 7.6C6.2 8 6 8.5 6 9v10a2 '
    '2 0 0 0 2 2h9c.8 0 1.5-.5 1.8-1.2l3-7.1c.1-.2.2-.5.2-.7v-2z"/></svg>'
)
THUMB_UP = _THUMB.format(turn="")
THUMB_DOWN = _THUMB.format(turn=' style="transform: rotate(180deg)"')


# ----- what a reply says -----------------------------------------------------------------------


def confidence_words(answer: Answer) -> str:
    """How sure the answer is, in the words the API uses too. A reader's score is roughly a chance and
    is also given as a percentage; a best-matching sentence's score is not, so it is given in words only."""
    level = confidence_label(answer.score)
    return f"Match: {level}" if answer.mode == "sentence" else f"Confidence: {level} ({percent(answer.score)})"


SAID_OTHERWISE = frozenset({"abstained", "lexical"})  # the reply's lead, and the header's badge, say these


def own_notes(answer: Answer) -> str:
    """The assistant's notes on this answer, less what the app says in its own way."""
    return " ".join(note.text for note in answer.notes if note.code not in SAID_OTHERWISE)


def searched_as(answer: Answer) -> str:
    return f"Searched as: \u201c{excerpt(answer.query, SEARCHED_AS_CHARS)}\u201d" if answer.query else ""


# ----- HTML ----------------------------------------------------------------------------------------


def question_html(turn: int, question: str) -> str:
    bubble = f'<div class="docqa-bubble">{escape_text(question)}</div>'
    return f'<div class="docqa-turn docqa-question" data-turn="{turn}">{bubble}</div>'


def reply_html(turn: int, answer: Answer) -> str:
    """The reply to one question: its answer with numbered markers, confidence, sources and controls;
    or, when the assistant abstained, that statement once and the closest passages."""
    citations = answer.citations
    if answer.abstained:
        body = [f'<div class="docqa-lead docqa-lead-none">{NOT_FOUND}</div>', _meta(answer, confident=False)]
        body.append(_closest_html(turn, answer.passages))
    else:
        markers = "".join(_marker(turn, index) for index in range(len(citations)))
        lead = "Best-matching sentence" if answer.mode == "sentence" else escape_text(single_line(answer.text))
        kind = "docqa-lead-sentence" if answer.mode == "sentence" else "docqa-lead-answer"
        if answer.items:  # a list: each item with the marker of its own source
            lead = "".join(
                f"<li>{escape_text(single_line(item.text))}{_marker(turn, index)}</li>"
                for index, item in enumerate(answer.items)
            )
            lead, markers, kind = f'<ul class="docqa-items">{lead}</ul>', "", "docqa-lead-answer docqa-lead-list"
        body = [f'<div class="docqa-lead {kind}">{lead}{markers}</div>', _meta(answer, confident=True)]
        body.append(f'<ol class="docqa-citations">{_citations_html(turn, citations)}</ol>')
    if answer.conflicts:
        items = "".join(f"<li>{escape_text(line)}</li>" for line in conflict_lines(answer))
        body.append(f'<div class="docqa-notes docqa-conflicts">{CONFLICTS_LEAD}<ul>{items}</ul></div>')
    notes = own_notes(answer)
    if notes:
        body.append(f'<div class="docqa-notes">{escape_text(notes)}</div>')
    body.append(_controls(turn, answer))
    markdown = escape_text(turn_markdown(answer))
    return f'<div class="docqa-turn docqa-reply" data-turn="{turn}" data-markdown="{markdown}">{"".join(body)}</div>'


def error_html(turn: int, question: str, error: Exception) -> str:
    markdown = escape_text(f"## {single_line(question)}\n\nNot answered: {error}")
    return (
        f'<div class="docqa-turn docqa-reply docqa-error" data-turn="{turn}" data-markdown="{markdown}">'
        f"<b>Sorry, that did not work:</b> {escape_text(str(error))}</div>"
    )


def welcome_html(documents: int, examples: Sequence[str]) -> str:
    """The empty chat: what to do, and example questions to start with."""
    if documents == 0:
        text = (
            'The index holds no documents yet: add some in the <a href="#" data-action="documents">Documents</a> tab.'
        )
    else:
        text = (
            f"Ask about the {documents} document{'' if documents == 1 else 's'} in the index. Answers are quoted "
            "from the text, with numbered sources to check them; follow-up questions may refer to earlier answers."
        )
    buttons = "".join(
        f'<button type="button" class="docqa-example" data-action="ask" data-question="{escape_text(q)}">'
        f"{escape_text(q)}</button>"
        for q in examples
    )
    tries = f'<div class="docqa-examples"><span>Try:</span>{buttons}</div>' if buttons else ""
    return f'<div class="docqa-welcome"><p>{text}</p>{tries}</div>'


def _marker(turn: int, index: int) -> str:
    number = index + 1
    return (
        f'<sup><a href="#" class="docqa-cite" data-action="cite" data-turn="{turn}" data-index="{index}" '
        f'title="Open source {number} in its document">{number}</a></sup>'
    )


def _meta(answer: Answer, *, confident: bool) -> str:
    parts = []
    if confident:
        level = confidence_label(answer.score)
        parts.append(f'<span class="docqa-confidence docqa-confidence-{level}">{confidence_words(answer)}</span>')
    if answer.query:
        parts.append(f'<span class="docqa-searched">{escape_text(searched_as(answer))}</span>')
    return f'<div class="docqa-meta">{SEPARATOR.join(parts)}</div>' if parts else ""


def _citations_html(turn: int, citations: Sequence[Citation]) -> str:
    """The sources, one entry for citations in one sentence (the items of a list it gives), its
    quote marking each of them."""
    groups = groupby(range(len(citations)), key=lambda index: citations[index].sentence_at)
    return "".join(_citation_html(turn, list(group), citations) for _, group in groups)


def _citation_html(turn: int, group: list[int], citations: Sequence[Citation]) -> str:
    first = citations[group[0]]
    title = escape_text(short_title(first.title, first.source))
    links = " ".join(
        f'<a href="#" class="docqa-cite" data-action="cite" data-turn="{turn}" data-index="{index}">'
        f"[{index + 1}]{f' {title}' if index == group[-1] else ''}</a>"
        for index in group
    )
    quote = snippet_html(first, *(citations[index] for index in group[1:]))
    return (
        f'<li>{links}<div class="docqa-place">{citation_place(first)}</div>'
        f'<div class="docqa-quote">{quote}</div></li>'
    )


def _closest_html(turn: int, passages: Sequence[RetrievedPassage]) -> str:
    if not passages:
        return ""
    items = "".join(
        f'<li><a href="#" class="docqa-cite" data-action="cite" data-turn="{turn}" data-index="{index}">'
        f"{escape_text(short_title(p.title, p.chunk.source))}</a>"
        f'<div class="docqa-place">{place(p.chunk.source, p.date)}</div>'
        f'<div class="docqa-quote">\u201c{escape_text(excerpt(p.chunk.text))}\u201d</div></li>'
        for index, p in enumerate(passages[:CLOSEST_PASSAGES])
    )
    return f'<div class="docqa-closest">Closest passages:<ol>{items}</ol></div>'


def _controls(turn: int, answer: Answer) -> str:
    copy = escape_text(plain_text(answer))
    votes = "".join(
        f'<button type="button" class="docqa-vote" data-action="vote" data-turn="{turn}" data-value="{value}" '
        f'aria-pressed="false" title="{title}" aria-label="{title}">{icon}</button>'
        for value, icon, title in (("up", THUMB_UP, "Good answer"), ("down", THUMB_DOWN, "Bad answer"))
    )
    return (
        f'<div class="docqa-controls"><button type="button" class="docqa-copy" data-action="copy" '
        f'data-copy="{copy}" title="Copy the answer and its source">Copy</button>{votes}</div>'
    )


# ----- plain text and Markdown ---------------------------------------------------------------------


def plain_text(answer: Answer) -> str:
    """The answer and its sources as plain text, for the clipboard."""
    lines = [NOT_FOUND] if answer.abstained else [single_line(answer.text).strip()]
    lines += [f"[{n}] {_source_words(answer, c)}" for n, c in enumerate(answer.citations, start=1)]
    return "\n".join(lines)


def turn_markdown(answer: Answer) -> str:
    """One question and its reply as Markdown, for exporting the conversation."""
    lines = [f"## {single_line(answer.question)}", ""]
    if answer.abstained:
        lines.append(NOT_FOUND)
        lines += [f"- {_passage_words(p)}" for p in answer.passages[:CLOSEST_PASSAGES]]
    elif answer.items:
        lines += [f"- {single_line(item.text).strip()} [{n}]" for n, item in enumerate(answer.items, start=1)]
        lines += ["", f"*{confidence_words(answer)}*"]
        lines += [""] + [f"[{n}] {_source_words(answer, c)}" for n, c in enumerate(answer.citations, start=1)]
    else:
        markers = "".join(f"[{n}]" for n in range(1, len(answer.citations) + 1))
        lines += [f"{single_line(answer.text).strip()} {markers}".rstrip(), "", f"*{confidence_words(answer)}*"]
        lines += [""] + [f"[{n}] {_source_words(answer, c)}" for n, c in enumerate(answer.citations, start=1)]
    if answer.conflicts:
        lines += ["", CONFLICTS_LEAD] + [f"- {line}" for line in conflict_lines(answer)]
    if answer.query:
        lines += ["", f"*{searched_as(answer)}*"]
    return "\n".join(lines)


CONFLICTS_LEAD = "The documents disagree (newest first):"


def conflict_lines(answer: Answer) -> list[str]:
    """Each disagreeing document's answer, with its file, location and date, newest first."""
    lines = []
    for conflict in answer.conflicts:
        citation = conflict.citation
        dated = ""
        if conflict.date:
            dated = f"dated {conflict.date[:10]}" + (" (file time)" if conflict.dated_by == "file time" else "")
        where = ", ".join(part for part in (citation.source, citation.location, dated) if part)
        lines.append(f"\u201c{single_line(conflict.text).strip()}\u201d \u2014 {where}")
    return lines


def _source_words(answer: Answer, citation: Citation) -> str:
    """Title (file, date, location) and the cited sentence, unless that is the answer itself."""
    location = own_location(citation.title, citation.location)
    where = ", ".join(part for part in (citation.source, citation.date, location) if part)
    named = f"{short_title(citation.title, citation.source)} ({where})"
    quote = single_line(citation.snippet).strip()
    return named if quote == single_line(answer.text).strip() else f"{named}: \u201c{quote}\u201d"


def _passage_words(passage: RetrievedPassage) -> str:
    where = ", ".join(part for part in (passage.chunk.source, passage.date) if part)
    return f"{short_title(passage.title, passage.chunk.source)} ({where}): \u201c{excerpt(passage.chunk.text)}\u201d"
