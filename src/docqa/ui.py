"""The chat app: a Gradio interface over an :class:`~docqa.assistant.Assistant`.

The formatting and upload checks are plain functions; ``Actions`` holds what the buttons do;
``build_app`` lays the interface out; ``serve`` runs it. Gradio is imported where it is used, so that
importing this module (for ``add_serve_arguments``) keeps the other commands quick to start.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docqa.assistant import MAX_QUESTION_CHARS, Assistant, AssistantStatus
from docqa.cli import assistant_from, folder_arguments, format_report, model_arguments, progress_bar
from docqa.config import Settings
from docqa.documents import SUPPORTED_SUFFIXES
from docqa.errors import DocqaError
from docqa.models import is_disabled
from docqa.schema import RETRIEVAL_MODES, Answer, Citation, IndexReport, RetrievalMode, RetrievedPassage

if TYPE_CHECKING:
    import gradio as gr

Progress = Callable[[float, str], None]
Target = dict[str, Any]  # what the document view shows: source, start, end, kind ("answer" or "passage")
Turns = list[tuple[str, str]]  # (question, answer text) of the conversation so far

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_FILES_PER_UPLOAD = 20
MAX_NAME_CHARS = 100
EXCERPT_CHARS = 280
DOCUMENT_WINDOW_CHARS = 60_000  # a longer document is shown around its highlighted part
SNIFF_BYTES = 8192
TARGET_ID = "docqa-target"

# HTML's special characters, and those that Markdown (or a template) could read as syntax: as entities
# they show as themselves. One pass, so that no entity is escaped twice.
_ENTITIES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
    | {ch: f"&#{ord(ch)};" for ch in "\\`*_[]{}()#|~$!:+-=."}
)
_TEXT_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


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
    note = answer.message
    if answer.mode == "sentence":
        lead = "**Best-matching sentence**"
        score = f"Match score: **{percent(answer.score)}**"
    else:
        lead = f"**{escape_text(_one_line(answer.text))}**"
        score = f"Confidence: **{percent(answer.score)}**"
    blocks = [lead, score, *(_citation_markdown(citation) for citation in answer.citations)]
    if note:
        blocks.append(f"<small>{escape_text(note)}</small>")
    return "\n\n".join(blocks)


def _citation_markdown(citation: Citation) -> str:
    offset = citation.snippet_start
    quote = highlight(
        citation.snippet.strip(),
        citation.start - offset - _leading_space(citation.snippet),
        citation.end - offset - _leading_space(citation.snippet),
        one_line=True,
    )
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


DOCUMENT_PLACEHOLDER = (
    '<p class="docqa-empty">Ask a question, then pick its answer or a passage to read it in its document.</p>'
)


# ----- status and documents ------------------------------------------------------------------


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


# ----- uploads -------------------------------------------------------------------------------


@dataclass
class UploadOutcome:
    saved: list[str] = field(default_factory=list)  # file names in the corpus folder
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (uploaded name, name saved under)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (uploaded name, reason)

    def describe(self) -> str:
        lines = [f"Added {', '.join(escape_text(name) for name in self.saved)}."] if self.saved else []
        lines += [
            f"- {escape_text(old)} was saved as {escape_text(new)} (that name was taken)." for old, new in self.renamed
        ]
        lines += [f"- Rejected {escape_text(name)}: {escape_text(reason)}" for name, reason in self.rejected]
        return "\n".join(lines)


def safe_upload_name(client_name: str) -> str:
    """A name to store an upload under: the base name only, in a limited alphabet, no leading dots."""
    base = unicodedata.normalize("NFKC", re.split(r"[\\/]", client_name)[-1])
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = re.sub(r"\s+", " ", stem)
    stem = re.sub(r"[^\w\- ]", "_", stem)
    stem = re.sub(r"_{2,}", "_", stem).strip(" ._-")[:MAX_NAME_CHARS] or "document"
    suffix = re.sub(r"[^0-9a-z]", "", suffix.lower())
    return f"{stem}.{suffix}" if suffix else stem


def check_upload(name: str, size: int, head: bytes) -> str | None:
    """Why a file cannot be added (or None): its type by suffix and first bytes, and its size."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        return f"only {', '.join(SUPPORTED_SUFFIXES)} files can be added"
    if size == 0:
        return "the file is empty"
    if size > MAX_UPLOAD_BYTES:
        return f"the file is {size / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB"
    if suffix == ".pdf" and not head.startswith(b"%PDF-"):
        return "the file is not a PDF (it does not start with %PDF-)"
    if suffix != ".pdf" and b"\x00" in head and not head.startswith(_TEXT_BOMS):
        return "the file is binary, not text"
    return None


def check_upload_count(count: int) -> str | None:
    if count > MAX_FILES_PER_UPLOAD:
        return f"at most {MAX_FILES_PER_UPLOAD} files can be added at once; {count} were given"
    return None


def save_upload(path: Path, folder: Path) -> Path:
    """Copy an uploaded file into ``folder`` under a safe name, adding ``-2``, ``-3``... rather than
    replacing a file of the same name."""
    name = safe_upload_name(path.name)
    stem, suffix = Path(name).stem, Path(name).suffix
    folder.mkdir(parents=True, exist_ok=True)
    destination, number = folder / name, 1
    while True:
        try:  # exclusive creation: a file that appears meanwhile is not replaced either
            with destination.open("xb") as target, path.open("rb") as source:
                shutil.copyfileobj(source, target)
            return destination
        except FileExistsError:
            number += 1
            destination = folder / f"{stem}-{number}{suffix}"


def add_uploads(paths: Sequence[Path], folder: Path) -> UploadOutcome:
    """Check each uploaded file and copy the acceptable ones into the corpus ``folder``."""
    outcome = UploadOutcome()
    too_many = check_upload_count(len(paths))
    if too_many:
        outcome.rejected.append(("this upload", too_many))
        return outcome
    for path in paths:
        shown = safe_upload_name(path.name)
        with path.open("rb") as stream:
            head = stream.read(SNIFF_BYTES)
        reason = check_upload(shown, path.stat().st_size, head)
        if reason:
            outcome.rejected.append((shown, reason))
            continue
        saved = save_upload(path, folder).name
        outcome.saved.append(saved)
        if saved != shown:
            outcome.renamed.append((shown, saved))
    return outcome


def corpus_file(folder: Path, source: str, known_sources: Sequence[str]) -> Path:
    """The file of an indexed document; refuses names not indexed or that lead outside ``folder``."""
    if source not in known_sources:
        raise DocqaError(f"{source!r} is not an indexed document")
    root = folder.resolve()
    path = (root / source).resolve()
    if not path.is_relative_to(root) or path == root:
        raise DocqaError(f"{source!r} is not inside the corpus folder")
    return path


def retrieval_mode(name: str | None) -> RetrievalMode | None:
    """A known retrieval mode, or None for the configured default."""
    return next((mode for mode in RETRIEVAL_MODES if mode == name), None)


def fan_out(*callbacks: Progress) -> Progress:
    def report(fraction: float, description: str) -> None:
        for callback in callbacks:
            callback(fraction, description)

    return report


# ----- what the app does ---------------------------------------------------------------------


@dataclass
class Reply:
    """Everything one question updates in the interface."""

    chat: list[dict[str, Any]]
    turns: Turns
    labels: list[str]
    targets: list[Target]
    document_html: str
    passages_html: str
    answer: Answer | None = None


class Actions:
    """What the interface does with the assistant, in plain values, so that it can be tested directly."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant

    def status_markdown(self) -> str:
        return format_status(self.assistant.status())

    def document_rows(self) -> list[list[Any]]:
        return [[d.source, d.title, d.date or "", d.passages] for d in self.assistant.documents()]

    def document_sources(self) -> list[str]:
        return [d.source for d in self.assistant.documents()]

    def ask(
        self,
        question: str,
        chat: list[dict[str, Any]],
        turns: Turns,
        *,
        top_k: int | None = None,
        retrieval: str | None = None,
        confidence_threshold: float | None = None,
    ) -> Reply:
        """Answer ``question`` as a follow-up of ``turns``; the chat already shows the question."""
        try:
            answer = self.assistant.ask(
                question,
                history=list(turns),
                top_k=top_k,
                retrieval=retrieval_mode(retrieval),
                confidence_threshold=confidence_threshold,
            )
        except DocqaError as error:
            reply = {"role": "assistant", "content": format_error_markdown(error)}
            return Reply([*chat, reply], turns, [], [], DOCUMENT_PLACEHOLDER, "")
        content = format_answer_markdown(answer)
        targets = answer_targets(answer)
        document = self.document_html(targets[0]) if targets else DOCUMENT_PLACEHOLDER
        return Reply(
            chat=[*chat, {"role": "assistant", "content": content}],
            turns=[*turns, (answer.question, answer.text)],
            labels=target_labels(answer),
            targets=targets,
            document_html=document,
            passages_html=format_passages_html(answer),
            answer=answer,
        )

    def document_html(self, target: Target) -> str:
        try:
            text = self.assistant.document_text(target["source"])
        except DocqaError as error:
            return f'<p class="docqa-empty">{escape_text(str(error))}</p>'
        info = next((d for d in self.assistant.documents() if d.source == target["source"]), None)
        if info is None:
            return format_document_html(target, text)
        return format_document_html(target, text, title=info.title, date=info.date)

    def reindex(self, progress: Progress, *, rebuild: bool = False) -> str:
        """Bring the index up to date with the corpus folder, reporting progress on the terminal too."""
        try:
            with progress_bar("indexing") as terminal:
                report = self.assistant.index(rebuild=rebuild, progress=fan_out(terminal, progress))
        except DocqaError as error:
            return f"**The index was not updated:** {escape_text(str(error))}"
        return describe_report(report, self.assistant.status())

    def upload(self, paths: Sequence[str | Path], progress: Progress) -> str:
        if not paths:
            return "Choose one or more files first."
        outcome = add_uploads([Path(p) for p in paths], self.assistant.settings.corpus_dir)
        if not outcome.saved:
            return outcome.describe()
        return outcome.describe() + "\n\n" + self.reindex(progress)

    def delete(self, source: str | None, progress: Progress) -> str:
        if source is None:
            return "Choose a document to delete."
        if not source:
            return "Nothing was deleted."
        try:
            path = corpus_file(self.assistant.settings.corpus_dir, source, self.document_sources())
        except DocqaError as error:
            return f"**Nothing was deleted:** {escape_text(str(error))}"
        path.unlink(missing_ok=True)
        return f"Deleted {escape_text(source)}.\n\n" + self.reindex(progress)

    def api_ask(
        self,
        question: str,
        history: list[list[str]] | None = None,
        top_k: int | None = None,
        retrieval: str | None = None,
        confidence_threshold: float | None = None,
    ) -> dict[str, Any]:
        """Answer a question about the documents; returns the answer with its citations and passages.

        ``history`` lists the earlier [question, answer] pairs of the conversation, oldest first.
        """
        import gradio as gr

        turns = [(str(pair[0]), str(pair[1])) for pair in history or [] if len(pair) == 2]
        try:
            answer = self.assistant.ask(
                question,
                history=turns,
                top_k=top_k,
                retrieval=retrieval_mode(retrieval),
                confidence_threshold=confidence_threshold,
            )
        except DocqaError as error:  # a message for the caller, not a server error
            raise gr.Error(str(error)) from error
        return answer.to_dict()


# ----- layout --------------------------------------------------------------------------------

CSS = """
.docqa-title h1 { margin-bottom: 0; }
.docqa-status { font-size: 0.9em; opacity: 0.85; }
.docqa-doc { position: relative; max-height: 460px; overflow-y: auto; white-space: pre-wrap;
  line-height: 1.55; padding: 0.75em 1em; border: 1px solid var(--border-color-primary);
  border-radius: var(--radius-lg); background: var(--background-fill-secondary); }
.docqa-doc-head { font-weight: 600; margin-bottom: 0.4em; }
.docqa-doc-source, .docqa-score { font-weight: 400; opacity: 0.7; font-size: 0.9em; margin-left: 0.5em; }
.docqa-passage { border: 1px solid var(--border-color-primary); border-radius: var(--radius-lg);
  padding: 0.5em 0.75em; margin-bottom: 0.6em; }
.docqa-passage-text { white-space: pre-wrap; font-size: 0.92em; line-height: 1.45; }
.docqa-rank { display: inline-block; min-width: 1.5em; text-align: center; border-radius: 999px;
  background: var(--color-accent-soft); font-weight: 600; }
.docqa-empty, .docqa-cut { opacity: 0.7; font-style: italic; }
mark { background: #fde68a; color: inherit; padding: 0 0.1em; border-radius: 3px; }
mark.docqa-passage-span { background: #dbeafe; }
"""

# Keeps the highlighted span of the document view in sight whenever the view changes.
SCROLL_TO_TARGET_JS = f"""
const reveal = () => {{
  const box = element.querySelector('.docqa-doc');
  const target = element.querySelector('#{TARGET_ID}');
  if (box && target) {{ box.scrollTop = Math.max(0, target.offsetTop - box.clientHeight / 3); }}
}};
reveal();
watch('value', reveal);
"""

# Asks before deleting; a cancelled deletion sends "" (nothing chosen sends null).
CONFIRM_DELETE_JS = "(source) => !source ? null : confirm(`Delete ${source} from the corpus?`) ? source : ''"

WELCOME = (
    "Ask about the documents in the index. Answers are quoted from the text, with the file they come "
    "from; follow-up questions may refer to earlier answers."
)

PRIVATE: dict[str, Any] = {"api_visibility": "private"}
Chat = list[dict[str, Any]]


@dataclass
class ChatView:
    chatbot: gr.Chatbot
    question: gr.Textbox
    ask_button: gr.Button
    new_chat: gr.Button
    top_k: gr.Slider
    threshold: gr.Slider
    retrieval: gr.Radio
    choice: gr.Radio
    document: gr.HTML
    passages: gr.HTML


@dataclass
class DocumentsView:
    tab: gr.Tab
    table: gr.Dataframe
    uploads: gr.File
    add_button: gr.Button
    to_delete: gr.Dropdown
    delete_button: gr.Button
    rebuild_button: gr.Button
    message: gr.Markdown


def build_app(assistant: Assistant) -> gr.Blocks:
    """The interface: Chat (with sources and settings) and Documents tabs, plus the ``/ask`` API."""
    import gradio as gr

    actions = Actions(assistant)
    with gr.Blocks(title="docqa \u2014 ask your documents", analytics_enabled=False) as app:
        gr.Markdown("# docqa \u2014 ask your documents", elem_classes="docqa-title")
        status = gr.Markdown(actions.status_markdown(), elem_classes="docqa-status", elem_id="docqa-status")
        with gr.Tabs():
            chat = _chat_tab(assistant.settings)
            documents = _documents_tab(actions)
        _wire_chat(actions, chat, status)
        _wire_documents(actions, documents, status)
        app.load(lambda: _refresh_documents(actions), None, _listing(documents, status), queue=False, **PRIVATE)
        gr.Timer(5).tick(actions.status_markdown, None, status, queue=False, show_progress="hidden", **PRIVATE)
        gr.api(actions.api_ask, api_name="ask")
    return app


def _chat_tab(settings: Settings) -> ChatView:
    import gradio as gr

    with gr.Tab("Chat", id="chat"), gr.Row(equal_height=False):
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(
                label="Conversation",
                show_label=False,
                elem_id="docqa-chat",
                height=520,
                sanitize_html=True,
                latex_delimiters=[],
                allow_tags=False,
                feedback_options=None,
                buttons=[],
                placeholder=WELCOME,
            )
            with gr.Row():
                question = gr.Textbox(
                    placeholder="Ask a question about the documents\u2026",
                    show_label=False,
                    scale=5,
                    elem_id="docqa-question",
                    autofocus=True,
                    max_length=MAX_QUESTION_CHARS,
                )
                ask_button = gr.Button("Ask", variant="primary", scale=1, elem_id="docqa-ask")
            new_chat = gr.Button("New conversation", size="sm", elem_id="docqa-new-chat")
            top_k, threshold, retrieval = _settings_panel(settings)
        with gr.Column(scale=2):
            gr.Markdown("### Sources")
            choice = gr.Radio([], label="Show in its document", elem_id="docqa-source-choice")
            document = gr.HTML(DOCUMENT_PLACEHOLDER, elem_id="docqa-document", js_on_load=SCROLL_TO_TARGET_JS)
            with gr.Accordion("Retrieved passages", open=False, elem_id="docqa-passages-box"):
                passages = gr.HTML("", elem_id="docqa-passages", js_on_load=None)
    return ChatView(chatbot, question, ask_button, new_chat, top_k, threshold, retrieval, choice, document, passages)


def _settings_panel(settings: Settings) -> tuple[gr.Slider, gr.Slider, gr.Radio]:
    import gradio as gr

    with gr.Accordion("Settings", open=False, elem_id="docqa-settings"):
        top_k = gr.Slider(1, 20, value=settings.top_k, step=1, label="Passages to read (top-k)")
        threshold = gr.Slider(
            0.0,
            1.0,
            value=settings.confidence_threshold,
            step=0.05,
            label="Confidence threshold",
            info="Below it, the assistant says that it did not find the answer.",
        )
        retrieval = gr.Radio(
            list(RETRIEVAL_MODES),
            value=settings.retrieval,
            label="Retrieval",
            info="Hybrid and dense need the embedding model; without it, BM25 is used.",
        )
    return top_k, threshold, retrieval


def _documents_tab(actions: Actions) -> DocumentsView:
    import gradio as gr

    with gr.Tab("Documents", id="documents") as tab:
        table = gr.Dataframe(
            actions.document_rows(),
            headers=["File", "Title", "Date", "Passages"],
            datatype=["str", "str", "str", "number"],
            interactive=False,
            label="Indexed documents",
            elem_id="docqa-documents",
            wrap=True,
            column_widths=["24%", "56%", "12%", "8%"],
        )
        with gr.Row(equal_height=False):
            with gr.Column():
                uploads = gr.File(
                    file_count="multiple",
                    file_types=list(SUPPORTED_SUFFIXES),
                    elem_id="docqa-upload",
                    label=f"Add documents ({', '.join(SUPPORTED_SUFFIXES)}; up to {MAX_FILES_PER_UPLOAD} "
                    f"files of at most {MAX_UPLOAD_BYTES // 2**20} MB)",
                )
                add_button = gr.Button("Add to the index", variant="primary", elem_id="docqa-add")
            with gr.Column():
                to_delete = gr.Dropdown(
                    actions.document_sources(), value=None, label="Document", elem_id="docqa-delete-choice"
                )
                delete_button = gr.Button("Delete document", variant="stop", elem_id="docqa-delete")
                rebuild_button = gr.Button("Rebuild the index", elem_id="docqa-rebuild")
        message = gr.Markdown(elem_id="docqa-documents-message")
    return DocumentsView(tab, table, uploads, add_button, to_delete, delete_button, rebuild_button, message)


def _wire_chat(actions: Actions, view: ChatView, status: gr.Markdown) -> None:
    import gradio as gr

    turns, targets, pending = gr.State([]), gr.State([]), gr.State("")

    def take_question(text: str, chat: Chat) -> tuple[str, Chat, str]:
        if not text.strip():
            return "", chat, ""
        return "", [*chat, {"role": "user", "content": escape_text(text)}], text

    def answer_pending(text: str, chat: Chat, history: Turns, k: float, mode: str, minimum: float) -> tuple:
        if not text:
            return chat, history, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        reply = actions.ask(text, chat, history, top_k=int(k), retrieval=mode, confidence_threshold=minimum)
        choices = [(label, number) for number, label in enumerate(reply.labels)]
        return (
            reply.chat,
            reply.turns,
            gr.Radio(choices=choices, value=0 if choices else None),
            reply.targets,
            reply.document_html,
            reply.passages_html,
            actions.status_markdown(),
        )

    def show_choice(number: int | None, shown: list[Target]) -> str:
        if number is None or not 0 <= number < len(shown):
            return DOCUMENT_PLACEHOLDER
        return actions.document_html(shown[number])

    def clear() -> tuple:
        return [], [], "", gr.Radio(choices=[], value=None), [], DOCUMENT_PLACEHOLDER, ""

    inputs = [pending, view.chatbot, turns, view.top_k, view.retrieval, view.threshold]
    outputs = [view.chatbot, turns, view.choice, targets, view.document, view.passages, status]
    for trigger in (view.question.submit, view.ask_button.click):
        trigger(
            take_question, [view.question, view.chatbot], [view.question, view.chatbot, pending], queue=False, **PRIVATE
        ).then(answer_pending, inputs, outputs, **PRIVATE)
    view.choice.input(show_choice, [view.choice, targets], view.document, **PRIVATE)
    cleared = [view.chatbot, turns, pending, view.choice, targets, view.document, view.passages]
    view.new_chat.click(clear, None, cleared, queue=False, **PRIVATE)
    view.chatbot.clear(clear, None, cleared, queue=False, **PRIVATE)


def _listing(view: DocumentsView, status: gr.Markdown) -> list[gr.components.Component]:
    return [view.table, view.to_delete, status]


def _refresh_documents(actions: Actions) -> tuple:
    import gradio as gr

    sources = gr.Dropdown(choices=actions.document_sources(), value=None)
    return actions.document_rows(), sources, actions.status_markdown()


def _wire_documents(actions: Actions, view: DocumentsView, status: gr.Markdown) -> None:
    import gradio as gr

    ui_progress = gr.Progress()  # marks the parameter; Gradio gives each call its own tracker

    def add_files(files: list[str] | None, progress: gr.Progress = ui_progress) -> tuple:
        message = actions.upload(files or [], lambda done, text: progress(done, desc=text))
        return message, None, *_refresh_documents(actions)

    def delete_file(source: str | None, progress: gr.Progress = ui_progress) -> tuple:
        message = actions.delete(source, lambda done, text: progress(done, desc=text))
        return message, *_refresh_documents(actions)

    def rebuild(progress: gr.Progress = ui_progress) -> tuple:
        message = actions.reindex(lambda done, text: progress(done, desc=text), rebuild=True)
        return message, *_refresh_documents(actions)

    listing = _listing(view, status)
    # One index change at a time; questions are a different queue and go on meanwhile.
    writes: dict[str, Any] = {"concurrency_id": "index", "concurrency_limit": 1, **PRIVATE}
    view.add_button.click(add_files, view.uploads, [view.message, view.uploads, *listing], **writes)
    view.delete_button.click(delete_file, view.to_delete, [view.message, *listing], js=CONFIRM_DELETE_JS, **writes)
    view.rebuild_button.click(rebuild, None, [view.message, *listing], **writes)
    view.tab.select(lambda: _refresh_documents(actions), None, listing, queue=False, **PRIVATE)


# ----- serving -------------------------------------------------------------------------------

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``docqa serve`` and ``python app.py``: folders, models, address."""
    folder_arguments(parser)
    model_arguments(parser)
    parser.add_argument(
        "--host",
        help="address to listen on (default: $GRADIO_SERVER_NAME or "
        f"{DEFAULT_HOST}; 0.0.0.0 serves every network interface)",
    )
    parser.add_argument("--port", type=int, help=f"port (default: $GRADIO_SERVER_PORT or {DEFAULT_PORT})")


def server_address(host: str | None, port: int | None, environ: Mapping[str, str] | None = None) -> tuple[str, int]:
    """The address from the flags, else the GRADIO_SERVER_* variables, else 127.0.0.1:7860."""
    env = os.environ if environ is None else environ
    host = host or env.get("GRADIO_SERVER_NAME") or DEFAULT_HOST
    raw_port = str(port) if port is not None else env.get("GRADIO_SERVER_PORT") or str(DEFAULT_PORT)
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise DocqaError(f"the port must be a number from 1 to 65535, not {raw_port!r}")
    return host, int(raw_port)


def auth_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """A login from DOCQA_AUTH_USERNAME and DOCQA_AUTH_PASSWORD, or None when neither is set."""
    env = os.environ if environ is None else environ
    username, password = env.get("DOCQA_AUTH_USERNAME", ""), env.get("DOCQA_AUTH_PASSWORD", "")
    if bool(username) != bool(password):
        raise DocqaError("set both DOCQA_AUTH_USERNAME and DOCQA_AUTH_PASSWORD (to require a login), or neither")
    return (username, password) if username else None


def prepare(assistant: Assistant) -> None:
    """Load the models and bring the index up to date with the corpus folder, with a progress bar."""
    try:
        with progress_bar("indexing") as progress:
            report = assistant.index(progress=progress)
    except DocqaError as error:  # the stored index may still serve, e.g. by BM25 when the embedder failed
        print(f"docqa: warning: the index was not updated: {error}", file=sys.stderr)
    else:
        print(format_report(report, assistant), file=sys.stderr)
    assistant.warm_up()


def theme() -> gr.themes.Base:
    import gradio as gr

    # The system's fonts rather than web fonts, so that the page looks the same offline.
    system_fonts = ["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"]
    return gr.themes.Soft(primary_hue="indigo", font=system_fonts, font_mono=["ui-monospace", "monospace"])


def serve(args: argparse.Namespace) -> int:
    """Index the corpus if needed, then serve the chat app until interrupted."""
    host, port = server_address(args.host, args.port)
    auth = auth_from_env()
    assistant = assistant_from(args)
    prepare(assistant)
    if host not in LOCAL_HOSTS and auth is None:
        print(
            f"docqa: warning: serving on {host} without a login; set DOCQA_AUTH_USERNAME and "
            "DOCQA_AUTH_PASSWORD to require one",
            file=sys.stderr,
        )
    build_app(assistant).queue().launch(
        server_name=host,
        server_port=port,
        auth=auth,
        max_file_size=MAX_UPLOAD_BYTES,
        theme=theme(),
        css=CSS,
    )
    return 0
