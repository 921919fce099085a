"""What the chat app shows around the chat, as HTML or Markdown: the header, passages, documents,
index updates and uploads. The chat's own turns are in :mod:`docqa.ui.turns`.

Everything that comes from a document or a user is escaped here, so that it shows verbatim and
cannot add markup to the page. Plain functions of plain values: no Gradio.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from docqa.documents.common import HEADING_SEPARATOR
from docqa.models import is_disabled
from docqa.schema import Answer, Citation, IndexReport, RetrievedPassage

if TYPE_CHECKING:
    from docqa.assistant import AssistantStatus
    from docqa.corpus import UploadOutcome

Target = dict[str, Any]  # what the document view shows: source, start, end, kind ("answer" or "passage")

EXCERPT_CHARS = 280
TITLE_CHARS = 70  # a title in a list is cut here
LABEL_TITLE_CHARS = 40  # and in a label of the sources panel
DOCUMENT_WINDOW_CHARS = 60_000  # a longer document is shown around its highlighted part
TARGET_ID = "docqa-target"

# What a passage's underline means (an answer's span is highlighted; a selection is the person's own).
PASSAGE_KEY = "Underlined: a passage read for the question, not an answer."
DOCUMENT_PLACEHOLDER = (
    '<p class="docqa-empty">Ask a question, then pick a numbered source to read it in its document.</p>'
)

# HTML's special characters, and those that Markdown (or a template) could read as syntax: as entities
# they show as themselves. One pass, so that no entity is escaped twice.
_ENTITIES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
    | {ch: f"&#{ord(ch)};" for ch in "\\`*_[]{}()#|~$!:+-=."}
)


# ----- escaping and highlighting -------------------------------------------------------------


def escape_text(text: str) -> str:
    """Untrusted text made safe to place in HTML (also in a quoted attribute) or Markdown: it shows
    verbatim and cannot add markup."""
    return text.translate(_ENTITIES)


def single_line(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def highlight(text: str, start: int, end: int, *, mark_attributes: str = "", one_line: bool = False) -> str:
    """``text`` escaped, with ``text[start:end]`` in a ``<mark>``; offsets outside the text are clipped."""
    start, end = (max(0, min(offset, len(text))) for offset in (start, end))
    parts = [text[:start], text[start:end], text[end:]] if start < end else [text, "", ""]
    before, marked, after = (escape_text(single_line(part) if one_line else part) for part in parts)
    if not marked:
        return before + after
    attributes = f" {mark_attributes}" if mark_attributes else ""
    return f"{before}<mark{attributes}>{marked}</mark>{after}"


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The start of ``text`` on one line, cut at a word boundary (with an ellipsis) past ``limit``."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + "\u2026"


def percent(score: float) -> str:
    return f"{round(100 * score)}%"


def short_title(title: str, source: str, limit: int = TITLE_CHARS) -> str:
    """The document's title cut for a label, or its file name when it has none."""
    return excerpt(title or source, limit)


def place(source: str, date: str | None, location: str | None = None) -> str:
    """``source · date · location``, escaped, leaving out what is not known."""
    return " \u00b7 ".join(escape_text(part) for part in (source, date, location) if part)


def own_location(title: str, location: str | None) -> str | None:
    """``location`` less the document's title where the heading path starts with it (a Word file's
    Title heading is often its title too), so that a source never says its title twice."""
    if not location or not title:
        return location
    head, _, rest = location.partition(HEADING_SEPARATOR.strip())
    head, title = head.strip(), single_line(title).strip()
    if head == title or (title.endswith("\u2026") and head.startswith(title[:-1].rstrip())):
        return rest.strip() or None
    return location


def citation_place(citation: Citation) -> str:
    # A location (page, slide, sheet, chapter, heading path) shows where the file has one.
    return place(citation.source, citation.date, own_location(citation.title, citation.location))


def snippet_html(citation: Citation, *others: Citation) -> str:
    """The citation's sentence on one line, escaped, with the answer's span marked, and the spans of
    ``others`` that lie in the same sentence (the items of a list one sentence gives)."""
    # The snippet is shown stripped, so the span's offsets move by the whitespace taken off its start.
    shift = citation.snippet_start + len(citation.snippet) - len(citation.snippet.lstrip())
    text = citation.snippet.strip()
    spans = sorted((c.start - shift, c.end - shift) for c in (citation, *others))
    parts, position = [], 0
    for start, end in spans:
        start, end = max(start, position), min(end, len(text))
        if start >= end:
            continue
        parts.append(highlight(text[position:end], start - position, end - position, one_line=True))
        position = end
    return "".join(parts) + escape_text(single_line(text[position:]))


# ----- the sources panel ---------------------------------------------------------------------


def answer_targets(answer: Answer) -> list[Target]:
    """What the sources panel offers to open: the answer's cited spans, then the retrieved passages."""
    targets: list[Target] = [
        {"source": c.source, "start": c.start, "end": c.end, "kind": "answer", "title": c.title, "date": c.date}
        | ({"location": where} if (where := own_location(c.title, c.location)) else {})
        for c in answer.citations
    ]
    targets += [
        {"source": p.chunk.source, "start": p.chunk.start, "end": p.chunk.end, "kind": "passage"}
        | {"title": p.title, "date": p.date}
        | ({"location": where} if (where := own_location(p.title, p.chunk.location)) else {})
        for p in answer.passages
    ]
    return targets


def target_labels(answer: Answer) -> list[str]:
    """Radio labels matching :func:`answer_targets`, one each and all different."""
    cited = answer.citations
    labels = [f"[{n}] {short_title(c.title, c.source, LABEL_TITLE_CHARS)}" for n, c in enumerate(cited, start=1)]
    labels += [
        f"Passage {rank}: {short_title(p.title, p.chunk.source, LABEL_TITLE_CHARS)}"
        for rank, p in enumerate(answer.passages, start=1)
    ]
    return labels


def format_passages_html(answer: Answer) -> str:
    """The retrieved passages in their order, with how each search ranked them, the answer
    highlighted where a passage holds it."""
    if not answer.passages:
        return '<p class="docqa-empty">No passage matched the question.</p>'
    cards = [_passage_card(rank, p, answer.citations) for rank, p in enumerate(answer.passages, start=1)]
    return '<div class="docqa-passages">' + "".join(cards) + "</div>"


def _passage_card(rank: int, passage: RetrievedPassage, citations: Sequence[Citation]) -> str:
    chunk = passage.chunk
    inside = [c for c in citations if c.source == chunk.source and chunk.start <= c.start < c.end <= chunk.end]
    if inside:
        text = highlight(chunk.text, inside[0].start - chunk.start, inside[0].end - chunk.start)
    else:
        text = escape_text(chunk.text)
    found = [
        f"BM25 #{passage.bm25_rank}" if passage.bm25_rank else "",
        f"dense #{passage.dense_rank}" if passage.dense_rank else "",
    ]
    ranks = " and ".join(filter(None, found))
    how = f' \u00b7 <span class="docqa-found">found by {ranks}</span>' if ranks else ""
    return (
        '<div class="docqa-passage">'
        f'<div class="docqa-passage-head"><span class="docqa-rank">{rank}</span> '
        f"<b>{escape_text(short_title(passage.title, chunk.source))}</b>"
        f'<div class="docqa-place">{place(chunk.source, passage.date)}{how}</div></div>'
        f'<div class="docqa-passage-text">{text}</div></div>'
    )


def document_window(text: str, start: int, end: int, limit: int = DOCUMENT_WINDOW_CHARS) -> tuple[int, int]:
    """The part of ``text`` to show: all of it, or ``limit`` characters centred on ``[start, end)``."""
    if len(text) <= limit:
        return 0, len(text)
    first = max(0, min((start + end) // 2 - limit // 2, len(text) - limit))
    return first, first + limit


def format_document_html(
    target: Target, text: str, *, title: str = "", date: str | None = None, location: str | None = None
) -> str:
    """A whole document, escaped, with the target span marked (id ``docqa-target``) for scrolling to."""
    first, last = document_window(text, target["start"], target["end"])
    css_class = "docqa-answer" if target["kind"] == "answer" else "docqa-passage-span"
    body = highlight(
        text[first:last],
        target["start"] - first,
        target["end"] - first,
        mark_attributes=f'id="{TARGET_ID}" class="{css_class}"',
    )
    cut_before = '<p class="docqa-cut">\u2026 (earlier text not shown)</p>' if first > 0 else ""
    cut_after = '<p class="docqa-cut">\u2026 (later text not shown)</p>' if last < len(text) else ""
    heading = f'{escape_text(title)}<div class="docqa-doc-source">{place(target["source"], date, location)}</div>'
    key = f'<div class="docqa-doc-key">{PASSAGE_KEY}</div>' if target["kind"] == "passage" else ""
    body = f'<div class="docqa-doc">{cut_before}{body}{cut_after}</div>'
    return f'<div class="docqa-doc-head">{heading}{key}</div>{body}'


def format_document_problem(error: Exception) -> str:
    """The document view when the document cannot be shown."""
    return f'<p class="docqa-empty">{escape_text(str(error))}</p>'


# ----- the header ----------------------------------------------------------------------------


def mode_badge(status: AssistantStatus) -> tuple[str, str]:
    """(words, kind) of the badge: what kind of answers the app gives and how it searches."""
    if not status.reader_loaded:
        words = "Lexical mode: no models loaded" if not status.embedder_loaded else "Lexical mode: no reader model"
        return words, "lexical"
    search = f"Exact answers \u00b7 {'BM25' if status.retrieval == 'bm25' else status.retrieval} search"
    return (search if status.scores_calibrated else f"{search} \u00b7 uncalibrated scores"), "exact"


def format_header(status: AssistantStatus) -> str:
    """The page's header line: the name, the mode badge, the documents (a link to their tab), and the
    model set-up with any problem and its fix, which opens on demand."""
    words, kind = mode_badge(status)
    documents = f"{status.documents} document{'' if status.documents == 1 else 's'}"
    indexing = ' <span class="docqa-indexing">re-indexing\u2026</span>' if status.indexing else ""
    how_to = "How to load the models" if kind == "lexical" or status.problems else "Models"
    return (
        '<div class="docqa-header"><span class="docqa-brand">docqa</span> '
        f'<span class="docqa-badge docqa-badge-{kind}" id="docqa-mode">{escape_text(words)}</span> '
        f'<a href="#" class="docqa-documents-link" data-action="documents">{documents}</a>{indexing}'
        f'<details class="docqa-howto"><summary>{how_to}</summary>{_models_html(status)}</details></div>'
    )


def _models_html(status: AssistantStatus) -> str:
    lines = [
        _model_line("Reader", status.reader_model, status.reader_loaded, "answers are best-matching sentences"),
        _model_line("Embeddings", status.embedding_model, status.embedder_loaded, "search is BM25 only"),
    ]
    if status.reader_loaded and not status.scores_calibrated:
        lines.append(
            "<li>The reader&#39;s scores are not calibrated for this model: they rank its answers, but are not "
            "chances. docqa eval --calibrate FILE fits them on a SQuAD file (docqa annotations export makes one "
            "of your corrections).</li>"
        )
    lines += [f"<li>\u26a0 {escape_text(problem)}</li>" for problem in status.problems]
    if not status.reader_loaded or not status.embedder_loaded:
        lines.append(
            "<li>To load a model, start docqa with --reader-model or --embedding-model set to a local model "
            "folder or a Hugging Face hub id (downloaded once with network access, then found in the cache); "
            "&#39;none&#39; chooses the lexical mode on purpose.</li>"
        )
    return f"<ul>{''.join(lines)}</ul><p>{status.passages} passages indexed.</p>"


def _model_line(kind: str, name: str, loaded: bool, without: str) -> str:
    if loaded:
        state = "loaded"
    elif is_disabled(name):
        state = f"set to &#39;none&#39;: {without}"
    else:
        state = f"did not load: {without}"
    return f"<li>{kind} <b>{escape_text(name)}</b> {state}</li>"


# ----- the documents -------------------------------------------------------------------------


def format_documents_html(rows: Sequence[Sequence[Any]]) -> str:
    """The Documents table from rows of (title, date, passages, file): a table on a wide screen, one
    card a document on a phone (the stylesheet folds it), so that no column is squeezed."""
    if not rows:
        return '<p class="docqa-empty">No documents are indexed yet: add some below.</p>'
    cells = "".join(_document_row(*row) for row in rows)
    head = "<thead><tr><th>Title</th><th>Date</th><th>Passages</th><th>File</th></tr></thead>"
    return f'<table class="docqa-table"><caption>Indexed documents</caption>{head}<tbody>{cells}</tbody></table>'


def _document_row(title: str, date: str | None, passages: int, source: str) -> str:
    unit = "passage" if passages == 1 else "passages"  # shown where the column heads are not (a phone)
    return (
        f'<tr><td class="docqa-title-cell">{escape_text(title)}</td>'
        f'<td class="docqa-date-cell">{escape_text(date or "")}</td>'
        f'<td class="docqa-count-cell">{passages}<span class="docqa-unit"> {unit}</span></td>'
        f'<td class="docqa-file-cell">{escape_text(source)}</td></tr>'
    )


# ----- index updates, uploads ----------------------------------------------------------------


def describe_report(report: IndexReport, status: AssistantStatus) -> str:
    """What an index update changed, for people."""
    changes = [
        f"{len(names)} {verb}"
        for verb, names in (("added", report.added), ("updated", report.updated), ("removed", report.removed))
        if names
    ]
    if report.rebuilt:
        summary = "Rebuilt the index."
    else:
        summary = f"Index updated: {', '.join(changes)}." if changes else "The index was already up to date."
    lines = [f"{summary} It holds {status.documents} documents, {status.passages} passages."]
    lines += [
        f"- Not indexed: {escape_text(source)} ({escape_text(reason)})" for source, reason in report.skipped.items()
    ]
    return "\n".join(lines)


def describe_upload(outcome: UploadOutcome) -> str:
    """What became of each uploaded file: saved, saved under another name, or rejected and why."""
    lines = [f"Added {', '.join(escape_text(name) for name in outcome.saved)}."] if outcome.saved else []
    lines += [
        f"- {escape_text(old)} was saved as {escape_text(new)} (that name was taken)." for old, new in outcome.renamed
    ]
    lines += [f"- Rejected {escape_text(name)}: {escape_text(reason)}" for name, reason in outcome.rejected]
    return "\n".join(lines)


def format_failure(what: str, error: Exception) -> str:
    """A failed change to the corpus or the index: ``what`` in bold, then the reason."""
    return f"**{what}:** {escape_text(str(error))}"
