"""The chat app's page: its layout, styles and scripts, and the wiring of its events to :class:`Actions`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from docqa.assistant import MAX_QUESTION_CHARS
from docqa.config import Settings
from docqa.corpus import MAX_FILES_PER_UPLOAD
from docqa.documents.formats import MAX_FILE_BYTES, SUFFIXES
from docqa.schema import RETRIEVAL_MODES
from docqa.ui.actions import Actions, Chat, Turns
from docqa.ui.render import DOCUMENT_PLACEHOLDER, TARGET_ID, Target, escape_text

if TYPE_CHECKING:
    from docqa.assistant import Assistant

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

# Event handlers the page uses, kept out of the public API (which has only /ask).
PRIVATE: dict[str, Any] = {"api_visibility": "private"}


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
                    file_types=list(SUFFIXES),
                    elem_id="docqa-upload",
                    label=f"Add documents ({', '.join(SUFFIXES)}; up to {MAX_FILES_PER_UPLOAD} "
                    f"files of at most {MAX_FILE_BYTES // 2**20} MB)",
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
    sources = gr.Dropdown(choices=actions.document_sources(), value=None)
    return actions.document_rows(), sources, actions.status_markdown()


def _wire_documents(actions: Actions, view: DocumentsView, status: gr.Markdown) -> None:
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


def theme() -> gr.themes.Base:
    # The system's fonts rather than web fonts, so that the page looks the same offline.
    system_fonts = ["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"]
    return gr.themes.Soft(primary_hue="indigo", font=system_fonts, font_mono=["ui-monospace", "monospace"])
