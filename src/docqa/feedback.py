"""Thumbs up and down on answers, kept as JSON lines in the index folder for later training.

Each vote is one line: the time, the vote, the conversation and turn it belongs to, and the answer
as ``Answer.to_dict`` gives it (question, query, answer, score, citations, passages). A person may
change their mind: the last line for a (conversation, turn) pair is the one that counts. Lines are
appended whole and synced to disk (``docqa.annotations.JsonLines``, which also keeps the corrections)
before a vote is reported as saved, so a crash loses none.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from docqa.annotations import JsonLines, now
from docqa.errors import DocqaError
from docqa.schema import Answer

FEEDBACK_FILE = "feedback.jsonl"
Vote = Literal["up", "down"]
VOTES: tuple[Vote, ...] = ("up", "down")


class FeedbackStore:
    """Appends votes to ``feedback.jsonl`` in ``folder``; safe to call from several threads."""

    def __init__(self, folder: str | Path) -> None:
        self.file = JsonLines(Path(folder) / FEEDBACK_FILE)
        self.path = self.file.path

    def record(self, vote: str, answer: Answer, *, conversation: str, turn: int) -> dict[str, Any]:
        """Store ``vote`` on ``answer`` and return the stored record; raises ``DocqaError`` when it
        cannot be written (the folder is read-only or the disk is full)."""
        if vote not in VOTES:
            raise DocqaError(f"a vote is 'up' or 'down', not {vote!r}")
        entry = {
            "time": now(),
            "vote": vote,
            "conversation": conversation,
            "turn": turn,
            **{key: value for key, value in answer.to_dict().items() if key != "timings"},
        }
        try:
            self.file.append(entry)
        except OSError as error:
            raise DocqaError(f"the vote could not be saved in {self.path}: {error.strerror or error}") from error
        return entry

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every stored vote, oldest first; a line cut short by a crash is skipped."""
        return self.file.entries()
