"""Files that ran out of their time budget, remembered by content so that an unchanged one is not read again.

A file stopped for taking longer than its time budget (:mod:`docqa.documents.limits`) would take
as long at the next update, and every update (an upload of a one-line file, a change the watcher
sees) would wait for it again. So it is remembered by its suffix and the SHA-256 of its bytes, in
``slow_files.json`` beside the index where the store has a folder (else for the life of the
process), and skipped unread, with the reason, until its bytes change. ``docqa index
--retry-skipped`` and a rebuild (the Documents tab's "Rebuild the index") forget them and read
them again.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path

from docqa.documents.common import UnreadableFile

FILE_NAME = "slow_files.json"
MAX_ENTRIES = 4096
RETRY_HINT = (
    "; not read again until the file changes (docqa index --retry-skipped, or Rebuild the index in the "
    "Documents tab, tries again)"
)
_OVER_TIME = "took longer than"  # how the worker process says that a call ran out of its time budget
log = logging.getLogger(__name__)
_IN_MEMORY: dict[str, str] = {}  # for stores without a folder of their own


def over_time(error: UnreadableFile) -> bool:
    """Whether ``error`` stopped a file for taking longer than its time budget."""
    return error.transient and _OVER_TIME in error.reason


class SlowFiles:
    """The files remembered for running out of time, by ``suffix`` and content hash; thread-safe.

    ``folder`` is the index folder, where they are kept across processes; None keeps them in this
    process only.
    """

    def __init__(self, folder: Path | None) -> None:
        self.path = Path(folder) / FILE_NAME if folder is not None else None
        self._lock = threading.Lock()
        self._changed = False
        self._entries = self._read() if self.path is not None else _IN_MEMORY

    def reason(self, suffix: str, content_hash: str) -> str | None:
        """Why the file of this suffix and content was skipped, if it ran out of time before."""
        with self._lock:
            return self._entries.get(_key(suffix, content_hash))

    def remember(self, suffix: str, content_hash: str, reason: str) -> str:
        """Remember the file as over its time budget for ``reason``; returns the reason to report."""
        reason = reason if reason.endswith(RETRY_HINT) else reason + RETRY_HINT
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[_key(suffix, content_hash)] = reason
            self._changed = True
        return reason

    def forget(self) -> None:
        """Forget every file remembered, so that each is read again."""
        with self._lock:
            self._changed = self._changed or bool(self._entries)
            self._entries.clear()

    def save(self, keep: set[tuple[str, str]] | None = None) -> None:
        """Write the files remembered to the index folder, only those of ``keep`` ((suffix, content
        hash) pairs, the files of the corpus now) when given; a failure to write is logged."""
        with self._lock:
            if keep is not None:
                wanted = {_key(suffix, content_hash) for suffix, content_hash in keep}
                for key in [key for key in self._entries if key not in wanted]:
                    del self._entries[key]
                    self._changed = True
            if self.path is None or not self._changed:
                return
            entries = dict(self._entries)
        try:
            _write_atomically(self.path, json.dumps(entries, indent=1, sort_keys=True) + "\n")
        except OSError as error:
            log.warning("the files over their time budget could not be kept in %s: %s", self.path, error)

    def _read(self) -> dict[str, str]:
        assert self.path is not None
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, RecursionError) as error:  # read again, then: nothing is lost but time
            log.warning("ignoring %s, which cannot be read: %s", self.path, error)
            return {}
        if not isinstance(raw, dict):
            return {}
        return {key: value for key, value in raw.items() if isinstance(key, str) and isinstance(value, str)}


def _key(suffix: str, content_hash: str) -> str:
    return f"{suffix.lower()} {content_hash}"


def _write_atomically(path: Path, text: str) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
