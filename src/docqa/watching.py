"""Watching the corpus folder: files added, changed or deleted there are indexed as it happens.

``docqa serve`` watches while it serves, and ``docqa index --watch`` without the app. watchfiles
gathers the folder's file events (the system's notifications, or polling where there are none, as
``WATCHFILES_FORCE_POLLING`` asks) until the folder has been quiet for ``STEP_MS`` (at most
``DEBOUNCE_MS``); then the index is brought up to date through ``Assistant.index``, the same
incremental update as at start-up. The indexer hashes every file's bytes before parsing anything,
so only new and changed files are read again, and questions are answered from the index as it stands
while it updates. Which files changed is the indexer's finding; the events only say when to look.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO

from docqa.documents.formats import SUFFIXES
from docqa.errors import DocqaError
from docqa.schema import IndexReport
from docqa.terminal import format_report, progress_bar

if TYPE_CHECKING:
    from docqa.assistant import Assistant

DEBOUNCE_MS = 1600  # the longest that changes are gathered before the index is updated
STEP_MS = 250  # the quiet after the last change that starts an update (a save is often several writes)

OnReport = Callable[[IndexReport], None]
log = logging.getLogger(__name__)


class StopEvent(Protocol):
    """What ends the watching: a ``threading.Event`` or anything with ``is_set()``."""

    def is_set(self) -> bool: ...


def update_index(assistant: Assistant, on_report: OnReport) -> IndexReport | None:
    """Bring the index up to date with the corpus folder, a progress bar on the terminal; ``on_report``
    receives the report. A failure is printed as a warning (the index as it stands still serves)."""
    try:
        with progress_bar("indexing") as progress:
            report = assistant.index(progress=progress)
    except DocqaError as error:
        print(f"docqa: warning: the index was not updated: {error}", file=sys.stderr)
        return None
    on_report(report)
    return report


def describe_changes(report: IndexReport) -> str:
    """The files an update added, updated and removed, on one line."""
    parts = [
        f"{what} {', '.join(sources)}"
        for what, sources in (("added", report.added), ("updated", report.updated), ("removed", report.removed))
        if sources
    ]
    return "Corpus changed: " + ("; ".join(parts) if parts else "re-indexed every file") + "."


def print_changes(assistant: Assistant, *, file: TextIO | None = None) -> OnReport:
    """An ``on_report`` printing what an update changed and what the index now holds (to stderr by default)."""

    def show(report: IndexReport) -> None:
        print(describe_changes(report), format_report(report, assistant), sep="\n", file=file or sys.stderr, flush=True)

    return show


def affects_corpus(path: str | Path, corpus_dir: Path, index_dir: Path | None = None) -> bool:
    """Whether a change at ``path`` can change what the corpus folder indexes.

    Hidden files and folders are never indexed (nor are the temporary files an upload is written to,
    or an editor's swap files), nor are files of other types; the index folder is ignored when it
    lies inside the corpus. A path with no suffix may be a folder, whose files come and go with it.
    """
    path = Path(path)
    index_in_corpus = index_dir is not None and _inside(index_dir, corpus_dir) and index_dir != corpus_dir
    if index_in_corpus and index_dir is not None and _inside(path, index_dir):
        return False
    relative = _relative(path, corpus_dir)
    if relative is None or any(part.startswith(".") for part in relative.parts):
        return False
    suffix = relative.suffix.lower()
    return suffix in SUFFIXES or not suffix


def watch_corpus(
    assistant: Assistant,
    *,
    stop_event: StopEvent,
    on_report: OnReport | None = None,
    ready: threading.Event | None = None,
    debounce_ms: int = DEBOUNCE_MS,
    step_ms: int = STEP_MS,
) -> None:
    """Index the corpus folder's changes as they happen until ``stop_event`` is set.

    ``on_report`` receives each update that changed the index (by default, it is printed on stderr);
    ``ready`` is set once the folder is watched and what it held then is indexed. A folder that does
    not exist yet, or goes away, is waited for.
    """
    from watchfiles import watch  # loads its native module for the watching commands only

    settings, report = assistant.settings, on_report or print_changes(assistant)
    folder, index_dir = Path(settings.corpus_dir).absolute(), Path(settings.index_dir).absolute()

    def relevant(_change: object, path: str) -> bool:
        return affects_corpus(path, folder, index_dir)

    while not stop_event.is_set():
        if not folder.is_dir():
            time.sleep(step_ms / 1000)
            continue
        # The first pass comes once the folder is watched (after a timeout, when nothing changes):
        # that update catches what changed before, since the last one or while the folder was missing.
        first, identity = True, _identity(folder)
        changes = watch(
            folder,
            watch_filter=relevant,
            debounce=debounce_ms,
            step=step_ms,
            stop_event=stop_event,
            rust_timeout=debounce_ms,
            yield_on_timeout=True,
        )
        try:
            for batch in changes:
                if _identity(folder) != identity:  # deleted or replaced: its successor is watched afresh
                    break
                if batch or first:
                    log.info("corpus changes: %s", sorted(path for _, path in batch))
                    _update(assistant, report)
                if first and ready is not None:
                    ready.set()
                first = False
        except FileNotFoundError:  # the folder went away as the watching began
            continue
        finally:
            changes.close()


def watch_until_stopped(assistant: Assistant, *, as_json: bool = False, stop_event: StopEvent | None = None) -> int:
    """``docqa index --watch``: index the folder's changes until Ctrl+C (or ``stop_event``), printing
    each update on stdout (as one line of JSON with ``as_json``); returns the exit status."""

    def show(report: IndexReport) -> None:
        if as_json:
            print(json.dumps(report.to_dict()), flush=True)
        else:
            print(describe_changes(report), format_report(report, assistant), sep="\n", flush=True)

    print(f"Watching {assistant.settings.corpus_dir} for changes; Ctrl+C stops.", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # how the watching is meant to end
        watch_corpus(assistant, stop_event=stop_event or threading.Event(), on_report=show)
    print("Stopped watching.", file=sys.stderr)
    return 0


def watch_in_background(
    assistant: Assistant,
    *,
    stop_event: StopEvent,
    on_report: OnReport | None = None,
    ready: threading.Event | None = None,
    **timing: int,
) -> threading.Thread:
    """Run :func:`watch_corpus` on a thread of its own, started before this returns."""
    thread = threading.Thread(
        target=watch_corpus,
        args=(assistant,),
        kwargs={"stop_event": stop_event, "on_report": on_report, "ready": ready, **timing},
        name="docqa-watching",
        daemon=True,  # a server stopped by Ctrl+C does not wait for it
    )
    thread.start()
    return thread


def _update(assistant: Assistant, on_report: OnReport) -> None:
    """One update after changes; only one that changed the index is reported."""

    def changed_only(report: IndexReport) -> None:
        if report.changed:
            on_report(report)

    try:
        update_index(assistant, changed_only)
    except Exception as error:  # the watching goes on: the next change tries again
        print(f"docqa: warning: the index was not updated: {type(error).__name__}: {error}", file=sys.stderr)


def _identity(folder: Path) -> tuple[int, int] | None:
    try:
        found = folder.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _relative(path: Path, folder: Path) -> Path | None:
    for root in (folder, folder.resolve()):
        if path.is_relative_to(root):
            return path.relative_to(root)
    return None


def _inside(path: Path, folder: Path) -> bool:
    return _relative(path, folder) is not None
