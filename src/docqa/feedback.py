"""Thumbs up and down on answers, kept as JSON lines in the index folder for later training.

Each vote is one line: the time, the vote, the conversation and turn it belongs to, and the answer
as ``Answer.to_dict`` gives it (question, query, answer, score, citations, passages). A person may
change their mind: the last line for a (conversation, turn) pair is the one that counts. Lines are
appended whole and synced to disk before a vote is reported as saved, so a crash loses none.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from docqa.errors import DocqaError
from docqa.schema import Answer

FEEDBACK_FILE = "feedback.jsonl"
Vote = Literal["up", "down"]
VOTES: tuple[Vote, ...] = ("up", "down")


class FeedbackStore:
    """Appends votes to ``feedback.jsonl`` in ``folder``; safe to call from several threads."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / FEEDBACK_FILE
        self._lock = threading.Lock()

    def record(self, vote: str, answer: Answer, *, conversation: str, turn: int) -> dict[str, Any]:
        """Store ``vote`` on ``answer`` and return the stored record; raises ``DocqaError`` when it
        cannot be written (the folder is read-only or the disk is full)."""
        if vote not in VOTES:
            raise DocqaError(f"a vote is 'up' or 'down', not {vote!r}")
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "vote": vote,
            "conversation": conversation,
            "turn": turn,
            **{key: value for key, value in answer.to_dict().items() if key != "timings"},
        }
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # Append mode, so that each line lands whole at the end even with another writer.
                descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    written = 0
                    while written < len(line):
                        written += os.write(descriptor, line[written:])
                    os.fsync(descriptor)
                finally:
                    os.close(descriptor)
        except OSError as error:
            raise DocqaError(f"the vote could not be saved in {self.path}: {error.strerror or error}") from error
        return entry

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every stored vote, oldest first; a line cut short by a crash is skipped."""
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue
