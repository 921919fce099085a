"""The chat app's page: its layout, and the wiring of its events to :class:`Chat` and :class:`Actions`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from docqa.conversation import MAX_QUESTION_CHARS
from docqa.corpus import MAX_FILES_PER_UPLOAD
from docqa.documents.formats import MAX_FILE_BYTES, SUFFIXES
from docqa.options import MAX_TOP_K
from docqa.schema import RETRIEVAL_MODES
from docqa.ui.actions import Actions
from docqa.ui.assets import (
    CHAT_JS,
    CONFIRM_DELETE_JS,
    CSS,
    DOCUMENT_JS,
    EXPORT_JS,
    HEADER_JS,
    LOG_TEMPLATE,
    PHONE_JS,
)
from docqa.ui.chat import EMPTY_QUESTION, Chat, ChatSession, Sources
from docqa.ui.corrections import (
    TRACK_SELECTION_JS,
    CorrectionControls,
    Corrections,
    correction_controls,
    tell,
    wire_corrections,
)
from docqa.ui.readers import ReaderChoice, reader_setting
from docqa.ui.render import DOCUMENT_PLACEHOLDER, format_documents_html, format_header, short_title
from docqa.ui.turns import welcome_html

if TYPE_CHECKING:
    from docqa.assistant import Assistant
    from docqa.store import DocumentInfo

__all__ = ["CSS", "build_app", "theme"]

# Event handlers the page uses, kept out of the public API (which has only /ask and /upload).
PRIVATE: dict[str, Any] = {"api_visibility": "private"}
# Gradio keeps every event (up to 10,000) for its monitoring page and summarises them all with pandas
# after each one: memory that grows over the first 10,000 questions, and time on every question.
# docqa has no use for that page, so few are kept and they are summarised rarely (the environment
# still decides when it sets these).
GRADIO_EVENT_BOOKKEEPING = {"GRADIO_ANALYTICS_MAX_EVENTS": "100", "GRADIO_ANALYTICS_CACHE_FREQUENCY": "1000000"}
DENSE_NEEDS = "Hybrid and dense search need the embedding model and the vectors it made for the index"


@dataclass
class ChatView:
    log: gr.HTML
    question: gr.Textbox
    ask_button: gr.Button
    within: gr.Dropdown
    new_chat: gr.Button
    export: gr.Button
    top_k: gr.Slider
    threshold: gr.Slider
    retrieval: gr.Radio
    sources_box: gr.Accordion
    choice: gr.Radio
    document: gr.HTML
    passages: gr.HTML
    session: gr.State  # the conversation, kept on the server (ChatSession)
    corrections: CorrectionControls
    correcting: gr.Column  # holds the correction buttons, shown once there is an answer to correct


@dataclass
class ReplacePrompt:
    """Shown when an upload has the name of a file in the corpus: replace it, keep both, or cancel."""

    box: gr.Group
    question: gr.Markdown
    replace: gr.Button
    keep_both: gr.Button
    cancel: gr.Button


@dataclass
class DocumentsView:
    tab: gr.Tab
    table: gr.HTML
    uploads: gr.File
    add_button: gr.Button
    to_delete: gr.Dropdown
    delete_button: gr.Button
    rebuild_button: gr.Button
    message: gr.Markdown
    prompt: ReplacePrompt


def build_app(assistant: Assistant) -> gr.Blocks:
    """The interface: Chat (with sources and settings) and Documents tabs, plus the ``/ask`` and ``/upload`` API."""
    actions, chat = Actions(assistant), Chat(assistant)
    for name, value in GRADIO_EVENT_BOOKKEEPING.items():
        os.environ.setdefault(name, value)  # read by the queue that the caller makes next
    with gr.Blocks(title="docqa \u2014 ask your documents", analytics_enabled=False) as app:
        header = gr.HTML(actions.header_html(), elem_id="docqa-header", js_on_load=HEADER_JS)
        with gr.Tabs():
            view = _chat_tab(assistant, chat)
            documents = _documents_tab(actions)
        _wire_chat(chat, view)
        _wire_documents(actions, documents, view, header)
        app.load(lambda: _refresh_documents(actions), None, _listing(documents, view, header), **PRIVATE)
        app.load(chat.welcome, view.session, view.log, **PRIVATE)  # examples of the index as it is now
        app.load(None, js=PHONE_JS, **PRIVATE)
        app.load(None, js=TRACK_SELECTION_JS, **PRIVATE)
        # The reader's own default, once it is known to have loaded or fallen back to the lexical mode.
        app.load(lambda: assistant.confidence_threshold, None, view.threshold, **PRIVATE)
        _keep_current(app, actions, header, view.retrieval)
        gr.api(actions.api_ask, api_name="ask")
        # An upload is an index change: one at a time, with the Documents tab's, as questions go on.
        gr.api(actions.api_upload, api_name="upload", concurrency_id="index", concurrency_limit=1)
    return app


def _keep_current(app: gr.Blocks, actions: Actions, header: gr.HTML, retrieval: gr.Radio) -> None:
    """Every few seconds, the header and the search methods follow the assistant (models load and the
    index updates in the background); each is sent only when it changed, so an open how-to stays open
    and a chosen search method stays chosen."""
    shown = gr.State(None)

    def current() -> tuple[str, bool]:
        status = actions.assistant.status()  # once a poll: the header and the search methods read the same
        return format_header(status), status.embedder_loaded and actions.assistant.store.has_vectors()

    def first() -> tuple[str, Any, tuple[str, bool]]:
        now = current()
        return now[0], gr.Radio(**_retrieval_choices(actions.assistant)), now

    def refresh(last: tuple[str, bool] | None) -> tuple[Any, Any, tuple[str, bool]]:
        now = current()
        if last is None:
            return first()
        header_html = gr.skip() if now[0] == last[0] else now[0]
        methods = gr.skip() if now[1] == last[1] else gr.Radio(**_retrieval_choices(actions.assistant))
        return header_html, methods, now

    outputs = [header, retrieval, shown]
    app.load(first, None, outputs, queue=False, **PRIVATE)
    gr.Timer(5).tick(refresh, shown, outputs, queue=False, show_progress="hidden", **PRIVATE)


def dense_available(assistant: Assistant) -> bool:
    """Whether hybrid and dense search can run: the embedder is loaded and the index holds its vectors."""
    return assistant.status().embedder_loaded and assistant.store.has_vectors()


def _chat_tab(assistant: Assistant, chat: Chat) -> ChatView:
    first = {"n": 0, "html": welcome_html(len(assistant.documents()), chat.examples()), "reset": True}
    with gr.Tab("Chat", id="chat", elem_id="docqa-chat-tab"), gr.Row(equal_height=False):
        session = gr.State(ChatSession())  # inside the tab: any other child of the tabs shows as a tab
        with gr.Column(scale=3, min_width=320):
            log = gr.HTML(first, html_template=LOG_TEMPLATE, js_on_load=CHAT_JS, elem_id="docqa-chat")
            with gr.Row(elem_id="docqa-ask-row"):
                question = gr.Textbox(
                    placeholder="Ask a question\u2026",  # short: it fits one line on a phone too
                    show_label=False,
                    scale=5,
                    min_width=200,
                    elem_id="docqa-question",
                    autofocus=True,
                    max_length=MAX_QUESTION_CHARS,
                )
                ask_button = gr.Button("Ask", variant="primary", scale=1, min_width=70, elem_id="docqa-ask")
            within = gr.Dropdown(
                _document_choices(assistant),
                value=[],
                multiselect=True,
                label="Search only in",
                info="Leave empty to search every document.",
                elem_id="docqa-within",
            )
            with gr.Row():
                new_chat = gr.Button("New conversation", size="sm", elem_id="docqa-new-chat")
                export = gr.Button("Export as Markdown", size="sm", elem_id="docqa-export")
            top_k, threshold, retrieval = _settings_panel(assistant)
        sources_column = gr.Column(scale=2, min_width=320)
        with sources_column, gr.Accordion("Sources", open=True, elem_id="docqa-sources") as sources_box:
            choice = gr.Radio([], label="Show in its document", visible=False, elem_id="docqa-source-choice")
            document = gr.HTML(DOCUMENT_PLACEHOLDER, elem_id="docqa-document", js_on_load=DOCUMENT_JS)
            with gr.Column(visible=False, elem_id="docqa-correcting") as correcting:
                corrections = correction_controls()
            with gr.Accordion("Retrieved passages", open=False, elem_id="docqa-passages-box"):
                passages = gr.HTML("", elem_id="docqa-passages", js_on_load=None)
    return ChatView(
        log, question, ask_button, within, new_chat, export, top_k, threshold, retrieval, sources_box, choice,
        document, passages, session, corrections, correcting,
    )  # fmt: skip


def _settings_panel(assistant: Assistant) -> tuple[gr.Slider, gr.Slider, gr.Radio]:
    settings = assistant.settings
    with gr.Accordion("Settings", open=False, elem_id="docqa-settings"):
        top_k = gr.Slider(1, MAX_TOP_K, value=settings.top_k, step=1, label="Passages to read (top-k)")
        threshold = gr.Slider(
            0.0,
            1.0,
            value=assistant.confidence_threshold,
            step=0.05,
            label="Confidence threshold",
            info="Below it, the assistant says that it did not find the answer. Until you move it, the "
            "reader's own threshold applies.",
            elem_id="docqa-threshold",
        )
        retrieval = gr.Radio(
            list(RETRIEVAL_MODES), **_retrieval_choices(assistant), label="Search", elem_id="docqa-retrieval"
        )
        reader_setting(ReaderChoice(assistant))
    return top_k, threshold, retrieval


def _retrieval_choices(assistant: Assistant) -> dict[str, Any]:
    """The search methods, fixed to BM25, saying why, when there are no vectors to search."""
    if dense_available(assistant):
        return {"value": assistant.settings.retrieval, "interactive": True, "info": DENSE_NEEDS + "."}
    info = f"BM25 only for now: {DENSE_NEEDS[0].lower()}{DENSE_NEEDS[1:]}, which are not loaded."
    return {"value": "bm25", "interactive": False, "info": info}


def _document_choices(assistant: Assistant, documents: list[DocumentInfo] | None = None) -> list[tuple[str, str]]:
    listed = assistant.documents() if documents is None else documents
    return [(f"{short_title(d.title, d.source)} \u00b7 {d.source}", d.source) for d in listed]


def _documents_tab(actions: Actions) -> DocumentsView:
    with gr.Tab("Documents", id="documents", elem_id="docqa-documents-tab") as tab:
        table = gr.HTML(format_documents_html(actions.document_rows()), elem_id="docqa-documents", js_on_load=None)
        with gr.Row(equal_height=False):
            with gr.Column(min_width=280):
                # A short label: the File's upload and clear buttons share its line once a file is chosen.
                uploads = gr.File(
                    file_count="multiple", file_types=list(SUFFIXES), elem_id="docqa-upload", label="Add documents"
                )
                gr.Markdown(
                    f"{', '.join(SUFFIXES)}: up to {MAX_FILES_PER_UPLOAD} files at a time, "
                    f"{MAX_FILE_BYTES // 2**20} MB each.",
                    elem_id="docqa-upload-rules",
                )
                add_button = gr.Button("Add to the index", variant="primary", elem_id="docqa-add")
                with gr.Group(visible=False) as box:  # no elem_id: Gradio gives a Group's to two elements
                    question = gr.Markdown(elem_id="docqa-replace-question")
                    with gr.Row():
                        replace = gr.Button("Replace", variant="primary", size="sm", elem_id="docqa-replace-yes")
                        keep_both = gr.Button("Keep both", size="sm", elem_id="docqa-keep-both")
                        cancel = gr.Button("Cancel", size="sm", elem_id="docqa-upload-cancel")
            with gr.Column(min_width=280):
                to_delete = gr.Dropdown(
                    actions.document_sources(), value=None, label="Document", elem_id="docqa-delete-choice"
                )
                delete_button = gr.Button("Delete document", variant="stop", elem_id="docqa-delete")
                rebuild_button = gr.Button("Rebuild the index", elem_id="docqa-rebuild")
        message = gr.Markdown(elem_id="docqa-documents-message")
    prompt = ReplacePrompt(box, question, replace, keep_both, cancel)
    return DocumentsView(tab, table, uploads, add_button, to_delete, delete_button, rebuild_button, message, prompt)


def _sources_outputs(sources: Sources) -> tuple[Any, str, str, Any]:
    """The sources panel's radio, document, passages and correction buttons (the radio and the
    buttons shown only when there is something to show and to correct)."""
    choices = [(label, number) for number, label in enumerate(sources.labels)]
    radio = gr.Radio(choices=choices, value=sources.selected, visible=bool(choices))
    return radio, sources.document_html, sources.passages_html, gr.Column(visible=bool(choices))


def _wire_chat(chat: Chat, view: ChatView) -> None:
    session, pending, in_view = view.session, gr.State(None), gr.State(None)  # in_view: the turn the panel shows
    skip = gr.skip
    wire_corrections(Corrections(chat.assistant), view.corrections, session, in_view, view.choice)

    def take_question(text: str, state: ChatSession) -> tuple:
        update, number = chat.take(state, text)
        return "", update or skip(), number, state

    def take_example(state: ChatSession, event: gr.EventData) -> tuple:
        update, number = chat.take(state, str(getattr(event, "question", "")))
        return update or skip(), number, state

    def answer_pending(
        number: int | None, state: ChatSession, k: float, mode: str, minimum: float, only: Any, chosen: bool
    ) -> tuple:
        if number is None:  # an empty question (said here: a toast needs the queue, which taking skips)
            gr.Warning(EMPTY_QUESTION, duration=3)
            return (skip(),) * 9
        # The slider's threshold only once the person moved it: until then the reader's own applies,
        # which changes when the reader does (a fallback to the lexical mode, a switch in Settings).
        minimum_or_default = minimum if chosen else None
        reply = chat.answer(
            state, number, top_k=k, retrieval=mode or None, confidence_threshold=minimum_or_default, sources=only
        )
        shown_threshold = skip() if chosen else chat.assistant.confidence_threshold
        return reply.log, None, state, number, *_sources_outputs(reply.sources), shown_threshold

    def act(state: ChatSession, event: gr.EventData) -> tuple:
        action, turn = getattr(event, "action", ""), getattr(event, "turn", None)
        if action == "vote":
            message = chat.vote(state, turn, getattr(event, "value", ""))
            tell(message, duration=3)
        opened = chat.open(state, turn, getattr(event, "index", None)) if action == "cite" else None
        if opened is None:
            return (skip(),) * 6
        return turn, *_sources_outputs(opened), gr.Accordion(open=True)

    def show_choice(index: int | None, state: ChatSession, turn: int | None) -> str:
        opened = chat.open(state, turn, index)
        return opened.document_html if opened else DOCUMENT_PLACEHOLDER

    def clear(state: ChatSession) -> tuple:
        return chat.clear(state), None, state, None, *_sources_outputs(Sources.empty())

    chosen = gr.State(False)  # the person moved the threshold slider
    view.threshold.input(lambda: True, None, chosen, queue=False, **PRIVATE)
    asking = [view.top_k, view.retrieval, view.threshold, view.within, chosen]
    shown = [view.log, pending, session, in_view, view.choice, view.document, view.passages, view.correcting]
    answered = [*shown, view.threshold]  # a reply also shows the threshold it was judged by
    for trigger in (view.question.submit, view.ask_button.click):
        trigger(
            take_question, [view.question, session], [view.question, view.log, pending, session], queue=False, **PRIVATE
        ).then(answer_pending, [pending, session, *asking], answered, **PRIVATE)
    view.log.submit(take_example, session, [view.log, pending, session], queue=False, **PRIVATE).then(
        answer_pending, [pending, session, *asking], answered, **PRIVATE
    )
    panel = [in_view, view.choice, view.document, view.passages, view.correcting, view.sources_box]
    view.log.select(act, session, panel, **PRIVATE)
    view.choice.input(show_choice, [view.choice, session, in_view], view.document, **PRIVATE)
    view.new_chat.click(clear, session, shown, queue=False, **PRIVATE)
    view.export.click(None, js=EXPORT_JS, **PRIVATE)


def _listing(view: DocumentsView, chat: ChatView, header: gr.HTML) -> list[gr.components.Component]:
    """What shows the indexed documents: the table, the deletion choice, the chat's filter, the header."""
    return [view.table, view.to_delete, chat.within, header]


def _refresh_documents(actions: Actions) -> tuple:
    documents = actions.assistant.documents()  # listed once for the table and both choices
    sources = gr.Dropdown(choices=[d.source for d in documents], value=None)
    within = gr.Dropdown(choices=_document_choices(actions.assistant, documents))
    return format_documents_html(actions.document_rows(documents)), sources, within, actions.header_html()


def _wire_documents(actions: Actions, view: DocumentsView, chat: ChatView, header: gr.HTML) -> None:
    ui_progress = gr.Progress()  # marks the parameter; Gradio gives each call its own tracker

    listing = _listing(view, chat, header)
    unchanged = (gr.skip(),) * len(listing)

    def add_files(files: list[str] | None, progress: gr.Progress = ui_progress) -> tuple:
        """Add the files, unless one has the name of a file in the corpus: then ask first."""
        clashes = actions.upload_clashes(files or [])
        if clashes:
            return gr.skip(), gr.skip(), gr.Group(visible=True), actions.replace_question(clashes), *unchanged
        return add_deciding(files, replace=False, progress=progress)

    def add_deciding(files: list[str] | None, *, replace: bool, progress: gr.Progress) -> tuple:
        message = actions.upload(files or [], lambda done, text: progress(done, desc=text), replace=replace)
        return message, None, gr.Group(visible=False), "", *_refresh_documents(actions)

    def replace_files(files: list[str] | None, progress: gr.Progress = ui_progress) -> tuple:
        return add_deciding(files, replace=True, progress=progress)

    def keep_both(files: list[str] | None, progress: gr.Progress = ui_progress) -> tuple:
        return add_deciding(files, replace=False, progress=progress)

    def cancel(files: list[str] | None) -> tuple:
        return actions.cancel_upload(files or []), None, gr.Group(visible=False), "", *unchanged

    def delete_file(source: str | None, progress: gr.Progress = ui_progress) -> tuple:
        message = actions.delete(source, lambda done, text: progress(done, desc=text))
        return message, *_refresh_documents(actions)

    def rebuild(progress: gr.Progress = ui_progress) -> tuple:
        message = actions.reindex(lambda done, text: progress(done, desc=text), rebuild=True)
        return message, *_refresh_documents(actions)

    # One index change at a time; questions are a different queue and go on meanwhile.
    writes: dict[str, Any] = {"concurrency_id": "index", "concurrency_limit": 1, **PRIVATE}
    adding = [view.message, view.uploads, view.prompt.box, view.prompt.question, *listing]
    view.add_button.click(add_files, view.uploads, adding, **writes)
    view.prompt.replace.click(replace_files, view.uploads, adding, **writes)
    view.prompt.keep_both.click(keep_both, view.uploads, adding, **writes)
    view.prompt.cancel.click(cancel, view.uploads, adding, queue=False, **PRIVATE)
    # Other files chosen meanwhile: the question was about the earlier ones.
    view.uploads.change(lambda: gr.Group(visible=False), None, view.prompt.box, queue=False, **PRIVATE)
    view.delete_button.click(delete_file, view.to_delete, [view.message, *listing], js=CONFIRM_DELETE_JS, **writes)
    view.rebuild_button.click(rebuild, None, [view.message, *listing], **writes)
    view.tab.select(lambda: _refresh_documents(actions), None, listing, queue=False, **PRIVATE)


def theme() -> gr.themes.Base:
    # The system's fonts rather than web fonts, so that the page looks the same offline.
    system_fonts = ["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"]
    return gr.themes.Soft(primary_hue="indigo", font=system_fonts, font_mono=["ui-monospace", "monospace"])
