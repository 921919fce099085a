"""Choosing the reader in the app's Settings: the one it started with, or one ``docqa train`` saved
under the index folder's ``readers/``, switched to without a restart.

The new reader is loaded completely before it replaces the old one, so questions asked meanwhile
are answered by the old reader, and a reader that fails to load changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gradio as gr

from docqa.annotations import trained_readers
from docqa.errors import DocqaError
from docqa.models import is_disabled
from docqa.ui.corrections import tell

if TYPE_CHECKING:
    from docqa.assistant import Assistant


class ReaderChoice:
    """The readers the Settings offer, and the switch between them, for one assistant."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.started_with = assistant.settings.reader_model

    def choices(self) -> list[tuple[str, str]]:
        """(label, model) of the reader started with, then of each trained reader, by name. The reader
        started with is named for what it is: none, not loaded (answers are best-matching sentences), or
        the reader started with."""
        started = (self._started_label(), self.started_with)
        trained = [(f"{path.name} (trained)", str(path)) for path in trained_readers(self.assistant.settings.index_dir)]
        return [started, *(choice for choice in trained if choice[1] != self.started_with)]

    def _started_label(self) -> str:
        if is_disabled(self.started_with):
            return "None: lexical mode (best-matching sentences)"
        if self.current() == self.started_with and not self.assistant.status().reader_loaded:
            return f"{self.started_with} (not loaded: lexical mode, best-matching sentences)"
        return f"{self.started_with} (started with)"

    def current(self) -> str:
        return self.assistant.settings.reader_model

    def switch(self, model: str) -> str:
        """Answer with ``model`` from now on; returns what to tell the person."""
        assistant = self.assistant
        if model == assistant.settings.reader_model and (is_disabled(model) or assistant.status().reader_loaded):
            return f"The reader is {model}."  # a reader that did not load is tried again
        if model not in {value for _, value in self.choices()}:
            return "That reader is not offered: choose one of the list."
        try:
            assistant.use_reader(model)
        except DocqaError as error:
            return f"The reader was not changed: {error}"
        return f"Answers now come from the reader {model}."


def reader_setting(readers: ReaderChoice) -> gr.Dropdown:
    """The Settings' choice of reader, listed afresh each time it is opened (a reader trained since
    shows up), switching on a change."""
    dropdown = gr.Dropdown(
        readers.choices(),
        value=readers.current(),
        label="Reader",
        info="The model that finds the answers; docqa train saves its readers under the index folder.",
        elem_id="docqa-reader",
        interactive=True,
    )

    def refresh() -> Any:
        return gr.Dropdown(choices=readers.choices(), value=readers.current())

    def switch(model: str) -> Any:
        message = readers.switch(model)
        tell(message, good=message.startswith("Answers now"))
        return gr.Dropdown(value=readers.current())

    private: dict[str, Any] = {"api_visibility": "private"}
    dropdown.focus(refresh, None, dropdown, queue=False, **private)
    dropdown.input(switch, dropdown, dropdown, concurrency_id="reader", concurrency_limit=1, **private)
    return dropdown
