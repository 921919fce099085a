"""What the chat app's buttons and its ``/ask`` and ``/upload`` API do with the assistant, in plain values.

Nothing here lays out the page, so every action can be tested without a browser. Gradio is only
imported to raise its error type from the API, and to find where it keeps uploads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docqa.corpus import add_uploads, delete_corpus_file, existing_names, name_beside, remove_uploaded_copies
from docqa.errors import DocqaError
from docqa.options import MAX_QUESTION_INPUT_CHARS, AskOptions
from docqa.terminal import Progress, progress_bar
from docqa.ui.render import describe_report, describe_upload, escape_text, format_failure, format_header

if TYPE_CHECKING:
    from docqa.assistant import Assistant
    from docqa.store import DocumentInfo


def fan_out(*callbacks: Progress) -> Progress:
    """One progress callback that reports to each of ``callbacks``."""

    def report(fraction: float, description: str) -> None:
        for callback in callbacks:
            callback(fraction, description)

    return report


class Actions:
    """What the interface does with the assistant, in plain values, so that it can be tested directly."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant

    def header_html(self) -> str:
        return format_header(self.assistant.status())

    def document_rows(self, documents: Sequence[DocumentInfo] | None = None) -> list[list[Any]]:
        """The Documents table: title, date, passages, file (the title first: file names are often codes)."""
        listed = self.assistant.documents() if documents is None else documents
        return [[d.title, d.date or "", d.passages, d.source] for d in listed]

    def document_sources(self) -> list[str]:
        return [d.source for d in self.assistant.documents()]

    def reindex(
        self, progress: Progress, *, rebuild: bool = False, added: Sequence[str] = (), updated: Sequence[str] = ()
    ) -> str:
        """Bring the index up to date with the corpus folder, reporting progress on the terminal too.

        ``added`` and ``updated`` name the files just saved: the folder's watcher may have indexed them
        before this update ran, which then finds them unchanged; they are reported as what they are.
        """
        try:
            with progress_bar("indexing") as terminal:
                report = self.assistant.index(rebuild=rebuild, progress=fan_out(terminal, progress))
        except DocqaError as error:
            return format_failure("The index was not updated", error)
        early = {name for name in (*added, *updated) if name in report.unchanged}
        if early:
            report = dataclasses.replace(
                report,
                added=sorted({*report.added, *(name for name in added if name in early)}),
                updated=sorted({*report.updated, *(name for name in updated if name in early)}),
                unchanged=[name for name in report.unchanged if name not in early],
            )
        return describe_report(report, self.assistant.status())

    def upload_clashes(self, paths: Sequence[str | Path]) -> list[str]:
        """The names of the uploads that the corpus folder has a file of already (to ask about first)."""
        return existing_names([Path(p) for p in paths], self.assistant.settings.corpus_dir)

    def upload(self, paths: Sequence[str | Path], progress: Progress, *, replace: bool = False) -> str:
        """Add the uploads to the corpus and index them; with ``replace``, each takes the place of the
        file of its name (re-indexed under that name), otherwise it is saved beside it as ``name-2``."""
        if not paths:
            return "Choose one or more files first."
        from gradio.utils import get_upload_folder

        uploads = [Path(p) for p in paths]
        try:
            outcome = add_uploads(uploads, self.assistant.settings.corpus_dir, replace=replace)
        finally:  # Gradio's copies could otherwise still be fetched from the app once stored
            remove_uploaded_copies(uploads, Path(get_upload_folder()))
        # A replaced file is named as replaced, not as added.
        added = dataclasses.replace(outcome, saved=[name for name in outcome.saved if name not in outcome.replaced])
        replaced = [f"Replaced {escape_text(name)}: its old passages are removed." for name in outcome.replaced]
        described = "\n".join(filter(None, [*replaced, describe_upload(added)]))
        if not outcome.saved:
            return described
        return described + "\n\n" + self.reindex(progress, added=added.saved, updated=outcome.replaced)

    def replace_question(self, names: Sequence[str]) -> str:
        """What to ask when uploads have the names of files in the corpus (Markdown)."""
        shown = [f"**{escape_text(name)}**" for name in names]
        listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
        example = escape_text(name_beside(self.assistant.settings.corpus_dir, names[0]))
        verb = "is" if len(names) == 1 else "are"
        return (
            f"{listed} {verb} in the corpus already. **Replace** re-indexes the file under its name with the "
            f"upload's text (its old passages are removed); **Keep both** saves the upload under a new name "
            f"({example}); **Cancel** adds nothing."
        )

    def cancel_upload(self, paths: Sequence[str | Path]) -> str:
        """Drop uploads that were not added (Gradio's copies of them included)."""
        from gradio.utils import get_upload_folder

        remove_uploaded_copies([Path(p) for p in paths], Path(get_upload_folder()))
        return "Nothing was added."

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
        sources: list[str] | None = None,
        closest: bool = True,
    ) -> dict[str, Any]:
        """Answer a question about the documents; returns the answer with its citations and passages.

        ``history`` lists the earlier [question, answer] pairs of the conversation, oldest first;
        ``sources`` the documents (their paths as the index lists them) to answer from, all when empty;
        ``closest`` false to abstain where a reader model finds no confident span (no closest sentence).
        Every option is checked as the command line checks it (bounds in ``docqa.options``).
        """
        import gradio as gr

        try:
            options = AskOptions.parse(
                top_k=top_k, retrieval=retrieval, confidence_threshold=confidence_threshold, sources=sources,
                history=history, closest=closest,
            )  # fmt: skip
            answer = self.assistant.ask(
                question[:MAX_QUESTION_INPUT_CHARS] if isinstance(question, str) else question, options=options
            )
        except DocqaError as error:  # a message for the caller, not a server error
            raise gr.Error(str(error)) from error
        return answer.to_dict()

    def api_upload(self, files: list[Any], replace: bool = False) -> dict[str, Any]:
        """Add files to the corpus folder and index them; returns what became of each file.

        ``files`` are sent with the request (``gradio_client.handle_file``). An upload with the name of
        a file in the corpus takes that file's place when ``replace`` is true (re-indexed under its
        name), and is otherwise saved beside it as ``name-2``. The reply lists the files ``saved`` (as
        named in the corpus), ``replaced``, ``renamed`` ([name sent, name saved]) and ``rejected``
        ([name, reason]), with ``index``, the update's report (null when nothing was saved).
        """
        import gradio as gr
        from gradio.utils import get_upload_folder

        if not isinstance(replace, bool):
            raise gr.Error("replace is true or false")
        upload_folder = Path(get_upload_folder()).resolve()
        given = [item.get("path") if isinstance(item, dict) else item for item in files or []]  # FileData or path
        paths = [Path(item) for item in given if isinstance(item, str) and item]
        # Only the copies Gradio made of files sent with the request: never a path on the server.
        sent = len(paths) == len(given) and all(path.resolve().parent.is_relative_to(upload_folder) for path in paths)
        try:
            if not paths or not sent:
                raise gr.Error("send the files with the request (gradio_client.handle_file)")
            outcome = add_uploads(paths, self.assistant.settings.corpus_dir, replace=replace)
        finally:
            remove_uploaded_copies(paths, upload_folder)
        report = None
        if outcome.saved:
            try:
                with progress_bar("indexing") as terminal:
                    report = self.assistant.index(progress=terminal).to_dict()
            except DocqaError as error:
                raise gr.Error(f"the files were saved, but the index was not updated: {error}") from error
        return {
            "saved": outcome.saved,
            "replaced": outcome.replaced,
            "renamed": [list(pair) for pair in outcome.renamed],
            "rejected": [list(pair) for pair in outcome.rejected],
            "index": report,
        }
