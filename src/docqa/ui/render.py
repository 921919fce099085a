"""What the chat app shows, as Markdown or HTML: answers, passages, documents, status and reports.

Everything that comes from a document or a user is escaped here, so that it shows verbatim and
cannot add markup to the page. Plain functions of plain values: no Gradio.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from docqa.models import is_disabled
from docqa.schema import Answer, Citation, IndexReport, RetrievedPassage

if TYPE_CHECKING:
    from docqa.assistant import AssistantStatus
    from docqa.corpus import UploadOutcome

Target = dict[str, Any]  # what the document view shows: source, start, end, kind ("answer" or "passage")

EXCERPT_CHARS = 280
DOCUMENT_WINDOW_CHARS = 60_000  # a longer document is shown around its highlighted part
TARGET_ID = "docqa-target"

DOCUMENT_PLACEHOLDER = (
    '<p class="docqa-empty">Ask a question, then pick its answer or a passage to read it in its document.</p>'
)

# HTML's special characters, and those that Markdown (or a template) could read as syntax: as entities
# they show as themselves. One pass, so that no entity is escaped twice.
_ENTITIES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
    | {ch: f"&#{ord(ch)};" for ch in "\\`*_[]{}()#|~$!:+-=."}
)


# ----- escaping and highlighting -------------------------------------------------------------


def escape_text(text: str) -> str:
    """Untrusted text made safe to place in HTML or Markdown: it shows verbatim and cannot add markup."""
    return text.translate(_ENTITIES)


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def highlight(text: str, start: int, end: int, *, mark_attributes: str = "", one_line: bool = False) -> str:
    """``text`` escaped, with ``text[start:end]`` in a ``<mark>``; offsets outside the text are clipped."""
    start, end = (max(0, min(offset, len(text))) for offset in (start, end))
    parts = [text[:start], text[start:end], text[end:]] if start < end else [text, "", ""]
    before, marked, after = (escape_text(_one_line(part) if one_line else part) for part in parts)
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


def source_label(source: str, date: str | None) -> str:
    """``source · date`` in bold, escaped."""
    dated = f" \u00b7 {escape_text(date)}" if date else ""
    return f"<b>{escape_text(source)}</b>{dated}"


def percent(score: float) -> str:
    return f"{round(100 * score)}%"


# ----- chat replies --------------------------------------------------------------------------


def format_answer_markdown(answer: Answer) -> str:
    """The chat reply for ``answer``: the answer, its confidence, its citations and the assistant's
    note (which, in the lexical mode, says why there is no reader); or, when the assistant
    abstained, a plain statement and the closest passages."""
    if answer.abstained:
        return _abstention_markdown(answer)
    if answer.mode == "sentence":
        lead = "**Best-matching sentence**"
        score = f"Match score: **{percent(answer.score)}**"
    else:
        lead = f"**{escape_text(_one_line(answer.text))}**"
        score = f"Confidence: **{percent(answer.score)}**"
    blocks = [lead, score, *(_citation_markdown(citation) for citation in answer.citations)]
    if answer.message:
        blocks.append(f"<small>{escape_text(answer.message)}</small>")
    return "\n\n".join(blocks)


def _citation_markdown(citation: Citation) -> str:
    # The snippet is shown stripped, so the span's offsets move by the whitespace taken off its start.
    shift = citation.snippet_start + _leading_space(citation.snippet)
    quote = highlight(citation.snippet.strip(), citation.start - shift, citation.end - shift, one_line=True)
    return f"> {quote}\n>\n> \u2014 {source_label(citation.source, citation.date)}"


def _leading_space(text: str) -> int:
    return len(text) - len(text.lstrip())


def _abstention_markdown(answer: Answer) -> str:
    blocks = ["**The documents do not seem to contain the answer.**"]
    if answer.message:
        blocks.append(f"<small>{escape_text(answer.message)}</small>")
    if answer.passages:
        closest = [
            f"{number}. {source_label(p.chunk.source, p.date)} \u2014 \u201c{escape_text(excerpt(p.chunk.text))}\u201d"
            for number, p in enumerate(answer.passages[:3], start=1)
        ]
        blocks.append("Closest passages:\n\n" + "\n".join(closest))
    return "\n\n".join(blocks)


def format_error_markdown(error: Exception) -> str:
    return f"**Sorry, that did not work:** {escape_text(str(error))}"


# ----- the sources panel ---------------------------------------------------------------------


def answer_targets(answer: Answer) -> list[Target]:
    """What the sources panel offers to open: the cited answer spans, then the retrieved passages."""
    targets: list[Target] = [
        {"source": c.source, "start": c.start, "end": c.end, "kind": "answer"} for c in answer.citations
    ]
    targets += [
        {"source": p.chunk.source, "start": p.chunk.start, "end": p.chunk.end, "kind": "passage"}
        for p in answer.passages
    ]
    return targets


def target_labels(answer: Answer) -> list[str]:
    """Radio labels matching :func:`answer_targets`, one each and all different."""
    answer_word = "Answer" if answer.mode == "extractive" else "Sentence"
    labels = [f"{answer_word} \u2014 {c.source}" for c in answer.citations]
    labels += [
        f"Passage {rank} \u2014 {p.chunk.source} (score {p.score:.3f})"
        for rank, p in enumerate(answer.passages, start=1)
    ]
    return labels


def format_passages_html(answer: Answer) -> str:
    """The retrieved passages with their scores, the answer highlighted where a passage holds it."""
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
    ranks = [
        f"BM25 #{passage.bm25_rank}" if passage.bm25_rank else "",
        f"dense #{passage.dense_rank}" if passage.dense_rank else "",
    ]
    detail = " \u00b7 ".join([f"score {passage.score:.4f}", *filter(None, ranks)])
    return (
        '<div class="docqa-passage">'
        f'<div class="docqa-passage-head"><span class="docqa-rank">{rank}</span> '
        f'{source_label(chunk.source, passage.date)} <span class="docqa-score">{detail}</span></div>'
        f'<div class="docqa-passage-text">{text}</div></div>'
    )


def document_window(text: str, start: int, end: int, limit: int = DOCUMENT_WINDOW_CHARS) -> tuple[int, int]:
    """The part of ``text`` to show: all of it, or ``limit`` characters centred on ``[start, end)``."""
    if len(text) <= limit:
        return 0, len(text)
    first = max(0, min((start + end) // 2 - limit // 2, len(text) - limit))
    return first, first + limit


def format_document_html(target: Target, text: str, *, title: str = "", date: str | None = None) -> str:
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
    about = escape_text(target["source"] + (f" \u00b7 {date}" if date else ""))
    heading = f'{escape_text(title)} <span class="docqa-doc-source">{about}</span>'
    body = f'<div class="docqa-doc">{cut_before}{body}{cut_after}</div>'
    return f'<div class="docqa-doc-head">{heading}</div>{body}'


def format_document_problem(error: Exception) -> str:
    """The document view when the document cannot be shown."""
    return f'<p class="docqa-empty">{escape_text(str(error))}</p>'


# ----- status, index updates, uploads --------------------------------------------------------


def format_status(status: AssistantStatus) -> str:
    """One status line (models, answer mode, what the index holds), then any problem on its own line."""
    if status.reader_loaded:
        reader = f"Reader **{escape_text(status.reader_model)}** (exact answers)"
    elif is_disabled(status.reader_model):
        reader = "No reader model (set to 'none'): answers are best-matching sentences"
    else:
        reader = f"Reader **{escape_text(status.reader_model)}** did not load: answers are sentences"
    if status.embedder_loaded:
        search = f"embeddings **{escape_text(status.embedding_model)}**, {status.retrieval} search"
    elif is_disabled(status.embedding_model):
        search = "no embedding model (set to 'none'), BM25 search"
    else:
        search = f"embeddings **{escape_text(status.embedding_model)}** did not load, BM25 search"
    index = f"**{status.documents}** documents, **{status.passages}** passages"
    line = " \u00b7 ".join([reader, search, index] + (["re-indexing\u2026"] if status.indexing else []))
    return line + "".join(f"\n\n{_problem_html(problem)}" for problem in status.problems)


def _problem_html(problem: str) -> str:
    """A problem as its first clause, which opens to the whole message (the fix is often long)."""
    summary = excerpt(problem.partition(" (")[0], 100)
    return f"<details><summary>\u26a0 {escape_text(summary)}</summary>{escape_text(problem)}</details>"


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
