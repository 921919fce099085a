"""One conversation of the chat app, kept on the server: its turns, what each question updates on
the page, the sources panel, and votes on answers. Plain values in and out, so that every step can
be tested without a browser.

The page is sent only what changes: one turn's HTML to append to the conversation (a
:data:`LogUpdate`), and the sources of the turn in view. Nothing grows with the conversation's
length, so a question late in a long conversation is answered as fast as the first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from docqa.conversation import follow_up_turn
from docqa.errors import DocqaError
from docqa.feedback import FeedbackStore
from docqa.options import AskOptions
from docqa.schema import Answer
from docqa.ui.examples import example_questions
from docqa.ui.render import (
    DOCUMENT_PLACEHOLDER,
    Target,
    answer_targets,
    format_document_html,
    format_document_problem,
    format_passages_html,
    target_labels,
)
from docqa.ui.turns import error_html, question_html, reply_html, welcome_html

if TYPE_CHECKING:
    from docqa.assistant import Assistant

LogUpdate = dict[str, Any]  # {"n": number of the update, "html": markup to append, "reset": start afresh}
EMPTY_QUESTION = "Type a question first: the box is empty."


@dataclass
class Turn:
    """A question and, once answered, its answer and what the sources panel offers for it."""

    question: str
    answer: Answer | None = None
    targets: list[Target] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # the sources panel's name for each target


@dataclass
class ChatSession:
    """The conversation of one page: its turns, by number, and how many updates the page was sent."""

    conversation: str = ""  # an id for the votes of this conversation, made when first needed
    turns: list[Turn] = field(default_factory=list)
    updates: int = 0

    def update(self, html: str, *, reset: bool = False) -> LogUpdate:
        # The page appends an update once; the number tells a new update from one it has shown.
        self.updates += 1
        return {"n": self.updates, "html": html, "reset": reset}

    def history(self, before: int) -> list[tuple[str, str]]:
        """(question, answer) of the answered turns before turn ``before``, oldest first; the answer is
        "" where it was not given with confidence (``docqa.conversation.follow_up_turn``)."""
        return [follow_up_turn(t.answer) for t in self.turns[:before] if t.answer is not None]

    def turn(self, number: Any) -> Turn | None:
        if isinstance(number, int) and not isinstance(number, bool) and 0 <= number < len(self.turns):
            return self.turns[number]
        return None


@dataclass
class Sources:
    """What the sources panel shows for one turn."""

    labels: list[str]
    selected: int | None
    document_html: str
    passages_html: str

    @classmethod
    def empty(cls) -> Sources:
        return cls([], None, DOCUMENT_PLACEHOLDER, "")


@dataclass
class Reply:
    """What answering one question updates: the conversation, and the sources panel."""

    log: LogUpdate
    sources: Sources
    answer: Answer | None = None


class Chat:
    """The chat's steps over an assistant; votes go to ``feedback.jsonl`` in the index folder."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.feedback = FeedbackStore(assistant.settings.index_dir)

    def examples(self) -> list[str]:
        return example_questions(self.assistant.documents(), self.assistant.store.stored_hashes())

    def welcome(self, session: ChatSession) -> LogUpdate:
        """The empty chat (the page starts afresh from it)."""
        return session.update(welcome_html(len(self.assistant.documents()), self.examples()), reset=True)

    def clear(self, session: ChatSession) -> LogUpdate:
        """A new conversation: the turns and their votes' id go."""
        session.turns.clear()
        session.conversation = ""
        return self.welcome(session)

    def take(self, session: ChatSession, text: str) -> tuple[LogUpdate | None, int | None]:
        """Show the question at once; returns the update and the number of the turn to answer (None and
        None for an empty question: the page says :data:`EMPTY_QUESTION` instead)."""
        if not isinstance(text, str) or not text.strip():
            return None, None
        session.turns.append(Turn(text))
        number = len(session.turns) - 1
        return session.update(question_html(number, text)), number

    def answer(self, session: ChatSession, number: int, **choices: Any) -> Reply:
        """Answer turn ``number`` as a follow-up of the turns before it, with the options ``choices``
        (fields of :class:`~docqa.options.AskOptions`, as the page sends them)."""
        turn = session.turn(number)
        if turn is None:
            return Reply(session.update(""), Sources.empty())
        try:
            options = AskOptions.parse(**choices, history=session.history(number))
            answer = self.assistant.ask(turn.question, options=options)
        except DocqaError as error:
            return Reply(session.update(error_html(number, turn.question, error)), Sources.empty())
        turn.answer = answer
        turn.targets = answer_targets(answer)
        turn.labels = target_labels(answer)
        return Reply(session.update(reply_html(number, answer)), self.sources(turn, 0), answer)

    def open(self, session: ChatSession, number: Any, index: Any) -> Sources | None:
        """The sources panel of turn ``number`` showing its source ``index``; None when there is no such source."""
        turn = session.turn(number)
        if turn is None or not isinstance(index, int) or not 0 <= index < len(turn.targets):
            return None
        return self.sources(turn, index)

    def sources(self, turn: Turn, index: int) -> Sources:
        if turn.answer is None or not turn.targets:
            return Sources.empty()
        return Sources(turn.labels, index, self.document_html(turn.targets[index]), format_passages_html(turn.answer))

    def document_html(self, target: Target) -> str:
        try:
            text = self.assistant.document_text(target["source"])
        except DocqaError as error:
            return format_document_problem(error)
        return format_document_html(
            target, text, title=target.get("title", ""), date=target.get("date"), location=target.get("location")
        )

    def vote(self, session: ChatSession, number: Any, value: Any) -> str:
        """Keep a vote on turn ``number``'s answer; returns what to tell the person."""
        turn = session.turn(number)
        if turn is None or turn.answer is None:
            return "That answer is no longer in this conversation."
        session.conversation = session.conversation or uuid.uuid4().hex
        try:
            self.feedback.record(str(value), turn.answer, conversation=session.conversation, turn=number)
        except DocqaError as error:
            return f"Your vote was not saved: {error}"
        return "Thank you: your vote was saved."
