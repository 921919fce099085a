"""Corrections from the chat: the right answer selected in the document viewer, or "not answered".

The page keeps the last selection made inside the Sources panel's document (``TRACK_SELECTION_JS``:
its text, and its offset in the text shown), since clicking a button may clear the selection; the
"Use selection as the answer" button sends it (``READ_SELECTION_JS``). The server finds the
selection in the document from the part of it the viewer shows, checks that the text there is the
text selected, and stores the correction (``docqa.annotations``) in the index folder.
"""

from __future__ import annotations

import html
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from docqa.annotations import AnnotationStore
from docqa.errors import DocqaError
from docqa.ui.render import document_window

if TYPE_CHECKING:
    from docqa.assistant import Assistant
    from docqa.ui.chat import ChatSession

NO_TURN = "Ask a question first: a correction belongs to an answer in this conversation."
NOT_SHOWN = "Select the words of the right answer in the document shown in the Sources panel first."

# The selection is read where it is made: a click elsewhere may collapse it before a button's handler runs.
TRACK_SELECTION_JS = r"""
() => {
  if (window.docqaTracksSelection) return;
  window.docqaTracksSelection = true;
  document.addEventListener('selectionchange', () => {
    const box = document.querySelector('#docqa-document .docqa-doc');
    const selection = window.getSelection();
    if (!box || !selection || !selection.rangeCount || selection.isCollapsed) return;
    const range = selection.getRangeAt(0);
    if (!box.contains(range.startContainer) || !box.contains(range.endContainer)) return;
    const before = document.createRange();
    before.setStart(box, 0);
    before.setEnd(range.startContainer, range.startOffset);
    // The note "earlier text not shown" is not part of the document's text.
    const cut = box.firstElementChild && box.firstElementChild.matches('p.docqa-cut') ? box.firstElementChild : null;
    const skipped = cut ? cut.textContent.length : 0;
    window.docqaSelection = {text: range.toString(), offset: before.toString().length - skipped};
  });
}
"""
READ_SELECTION_JS = "() => JSON.stringify(window.docqaSelection || {})"


def parse_selection(raw: Any) -> tuple[str, int] | None:
    """(text, offset in the text shown) of what the page sent, or None when nothing was selected."""
    try:
        selection = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return None
    if not isinstance(selection, dict):
        return None
    text, offset = selection.get("text"), selection.get("offset")
    if not isinstance(text, str) or not text.strip() or not isinstance(offset, int) or isinstance(offset, bool):
        return None
    return text, offset


def locate(document: str, text: str, near: int) -> int | None:
    """Where ``text`` starts in ``document``: at ``near`` if it is there, else its nearest occurrence
    (the page's count can be off where the browser changed white space), None when it is nowhere."""
    if document[near:near + len(text)] == text:
        return near
    found, start = None, document.find(text)
    while start >= 0:
        if found is None or abs(start - near) < abs(found - near):
            found = start
        start = document.find(text, start + 1)
    return found


class Corrections:
    """Stores the corrections of a chat's answers in the assistant's index folder."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.store = AnnotationStore(assistant.settings.index_dir)

    def _where(self, session: ChatSession, number: int) -> dict[str, Any]:
        session.conversation = session.conversation or uuid.uuid4().hex
        return {"conversation": session.conversation, "turn": number}

    def mark_answer(self, session: ChatSession, number: Any, shown: Any, raw: Any) -> str:
        """The selection sent as ``raw`` answers turn ``number``, whose source ``shown`` is in view."""
        turn = session.turn(number)
        if turn is None or turn.answer is None or not turn.targets:
            return NO_TURN
        selection = parse_selection(raw)
        if selection is None:
            return NOT_SHOWN
        target = turn.targets[shown if isinstance(shown, int) and 0 <= shown < len(turn.targets) else 0]
        try:
            document = self.assistant.document_text(target["source"])
            first, _ = document_window(document, target["start"], target["end"])
            start = locate(document, selection[0], first + selection[1])
            if start is None:
                return NOT_SHOWN
            record = self.store.add_answer(
                turn.answer.question, target["source"], document, start, start + len(selection[0]),
                **self._where(session, number),
            )
        except DocqaError as error:
            return f"The correction was not saved: {error}"
        answer = record["answers"][0]["text"]
        return f"Thank you: \u201c{answer}\u201d was saved as the answer, for training the reader."

    def mark_unanswerable(self, session: ChatSession, number: Any) -> str:
        """The documents do not answer turn ``number``: kept with the passage read first as its context."""
        turn = session.turn(number)
        if turn is None or turn.answer is None:
            return NO_TURN
        if not turn.answer.passages:
            return "The correction was not saved: no passage was read for this question."
        passage = turn.answer.passages[0]
        try:
            document = self.assistant.document_text(passage.chunk.source)
            self.store.add_no_answer(
                turn.answer.question, passage.chunk.source, document, passage.chunk.text,
                **self._where(session, number),
            )
        except DocqaError as error:
            return f"The correction was not saved: {error}"
        return "Thank you: saved that the documents do not answer this question, for training the reader."


def tell(message: str, *, good: bool | None = None, duration: float = 4) -> None:
    """Show ``message`` in a notification: a thank-you (or ``good``) as news, anything else as a warning.

    Gradio shows a notification's message as HTML, and a message can quote what came from a
    document or a request (the selected words, a vote's value): it is escaped, so that it reads as
    the text it is and never becomes a link or markup.
    """
    good = message.startswith("Thank") if good is None else good
    (gr.Info if good else gr.Warning)(html.escape(message), duration=duration)


@dataclass
class CorrectionControls:
    use_selection: gr.Button
    unanswerable: gr.Button
    selection: gr.Textbox  # hidden: what READ_SELECTION_JS read from the page


def correction_controls() -> CorrectionControls:
    """The buttons under the document viewer (made inside the Sources panel)."""
    with gr.Row(elem_id="docqa-correct"):
        use_selection = gr.Button(
            "Use selection as the answer", size="sm", elem_id="docqa-use-selection", min_width=120
        )
        unanswerable = gr.Button(
            "The documents do not answer this", size="sm", elem_id="docqa-unanswerable", min_width=120
        )
    selection = gr.Textbox(visible=False, elem_id="docqa-selection")
    return CorrectionControls(use_selection, unanswerable, selection)


def wire_corrections(
    corrections: Corrections, controls: CorrectionControls, session: gr.State, in_view: gr.State, shown: gr.Radio
) -> None:
    """Each button stores a correction of the turn whose sources are in view, and says so."""

    def answer(raw: str, state: ChatSession, number: Any, index: Any) -> None:
        tell(corrections.mark_answer(state, number, index, raw))

    def unanswerable(state: ChatSession, number: Any) -> None:
        tell(corrections.mark_unanswerable(state, number))

    private: dict[str, Any] = {"api_visibility": "private"}
    controls.use_selection.click(None, None, controls.selection, js=READ_SELECTION_JS, queue=False, **private).then(
        answer, [controls.selection, session, in_view, shown], None, **private
    )
    controls.unanswerable.click(unanswerable, [session, in_view], None, **private)
