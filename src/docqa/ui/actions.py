"""What the chat app's buttons and its ``/ask`` API do with the assistant, in plain values.

Nothing here lays out the page, so every action can be tested without a browser. Gradio is only
imported to raise its error type from the API, and to find where it keeps uploads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docqa.config import (
    MAX_QUESTION_INPUT_CHARS,
    checked_history,
    checked_retrieval,
    checked_threshold,
    checked_top_k,
)
from docqa.corpus import add_uploads, delete_corpus_file, remove_uploaded_copies
from docqa.errors import DocqaError
from docqa.schema import RETRIEVAL_MODES, Answer, RetrievalMode
from docqa.terminal import Progress, progress_bar
from docqa.ui.render import (
    DOCUMENT_PLACEHOLDER,
    Target,
    answer_targets,
    describe_report,
    describe_upload,
    escape_text,
    format_answer_markdown,
    format_document_html,
    format_document_problem,
    format_error_markdown,
    format_failure,
    format_passages_html,
    format_status,
    target_labels,
)

if TYPE_CHECKING:
    from docqa.assistant import Assistant

Chat = list[dict[str, Any]]  # the chat's messages: {"role": "user" or "assistant", "content": markup}
Turns = list[tuple[str, str]]  # (question, answer text) of the conversation so far


def retrieval_mode(name: str | None) -> RetrievalMode | None:
    """A known retrieval mode, or None for the configured default."""
    return next((mode for mode in RETRIEVAL_MODES if mode == name), None)


def fan_out(*callbacks: Progress) -> Progress:
    """One progress callback that reports to each of ``callbacks``."""

    def report(fraction: float, description: str) -> None:
        for callback in callbacks:
            callback(fraction, description)

    return report


@dataclass
class Reply:
    """Everything one question updates in the interface."""

    chat: Chat
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
        chat: Chat,
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
        targets = answer_targets(answer)
        return Reply(
            chat=[*chat, {"role": "assistant", "content": format_answer_markdown(answer)}],
            turns=[*turns, (answer.question, answer.text)],
            labels=target_labels(answer),
            targets=targets,
            document_html=self.document_html(targets[0]) if targets else DOCUMENT_PLACEHOLDER,
            passages_html=format_passages_html(answer),
            answer=answer,
        )

    def document_html(self, target: Target) -> str:
        try:
            text = self.assistant.document_text(target["source"])
        except DocqaError as error:
            return format_document_problem(error)
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
            return format_failure("The index was not updated", error)
        return describe_report(report, self.assistant.status())

    def upload(self, paths: Sequence[str | Path], progress: Progress) -> str:
        if not paths:
            return "Choose one or more files first."
        from gradio.utils import get_upload_folder

        uploads = [Path(p) for p in paths]
        try:
            outcome = add_uploads(uploads, self.assistant.settings.corpus_dir)
        finally:  # Gradio's copies could otherwise still be fetched from the app once stored
            remove_uploaded_copies(uploads, Path(get_upload_folder()))
        if not outcome.saved:
            return describe_upload(outcome)
        return describe_upload(outcome) + "\n\n" + self.reindex(progress)

    def delete(self, source: str | None, progress: Progress) -> str:
        if source is None:
            return "Choose a document to delete."
        if not source:  # the deletion was cancelled
            return "Nothing was deleted."
        try:
            delete_corpus_file(self.assistant.settings.corpus_dir, source, self.document_sources())
        except DocqaError as error:
            return format_failure("Nothing was deleted", error)
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
        Every option is checked as the command line checks it (bounds in ``docqa.config``).
        """
        import gradio as gr

        try:
            answer = self.assistant.ask(
                question[:MAX_QUESTION_INPUT_CHARS] if isinstance(question, str) else question,
                history=checked_history(history),
                top_k=None if top_k is None else checked_top_k(top_k),
                retrieval=checked_retrieval(retrieval),
                confidence_threshold=None if confidence_threshold is None else checked_threshold(confidence_threshold),
            )
        except DocqaError as error:  # a message for the caller, not a server error
            raise gr.Error(str(error)) from error
        return answer.to_dict()
