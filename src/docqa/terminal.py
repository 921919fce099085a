"""What docqa writes on a terminal while it works: a progress bar and the summary of an index update.

Both the command line and the chat app's server use these, so they live below either of them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from tqdm import tqdm

from docqa.models import quiet_progress_bars_off_terminal
from docqa.schema import IndexReport

if TYPE_CHECKING:
    from docqa.assistant import Assistant

Progress = Callable[[float, str], None]  # progress(fraction done, what is happening)


def quiet_libraries_off_terminal() -> None:
    """Turn off the Hugging Face libraries' own progress bars unless stderr is a terminal; called before
    any model is looked for (and again by each model's loading: see ``docqa.models``)."""
    quiet_progress_bars_off_terminal()


@contextmanager
def progress_bar(description: str) -> Iterator[Progress]:
    """A ``progress(fraction, text)`` callback drawing a bar on stderr, on a terminal only.

    The bar appears at the first report, so an early error is not preceded by an empty bar.
    """
    bars: list[tqdm] = []

    def update(fraction: float, text: str) -> None:
        if not bars:
            bars.append(
                tqdm(
                    total=100,
                    desc=description,
                    file=sys.stderr,
                    leave=False,
                    disable=None,
                    bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}",
                )
            )
        bars[0].n = round(100 * fraction)
        bars[0].set_postfix_str(text, refresh=True)

    try:
        yield update
    finally:
        for bar in bars:
            bar.close()


def format_report(report: IndexReport, assistant: Assistant) -> str:
    """What an index update changed and what the index now holds, in plain text."""
    status = assistant.status()
    model = status.embedding_model
    if not status.embedder_loaded:
        kept = report.unembedded or status.vectors_kept
        model = f"{model} (not loaded: its vectors are kept, for when it loads)" if kept else "none (BM25 only)"
    lines = [
        f"{'Rebuilt' if report.rebuilt else 'Updated'} {shown_location(assistant.settings.store_location)}: "
        f"{len(report.added)} added, {len(report.updated)} updated, {len(report.removed)} removed, "
        f"{len(report.unchanged)} unchanged; {report.chunks} passages from {status.documents} "
        f"document{'' if status.documents == 1 else 's'}.",
        f"Search: {status.retrieval}; embedding model: {model}.",
    ]
    if report.unembedded:
        count = len(report.unembedded)
        one = count == 1
        lines.append(
            f"{count} document{' is' if one else 's are'} searched by BM25 only until the embedding model "
            f"loads: the next update with the model embeds {'it' if one else 'them'}."
        )
    lines += [f"Skipped {source}: {reason}" for source, reason in report.skipped.items()]
    return "\n".join(lines)


def shown_location(location: str | Path) -> str:
    """Where the passages live, for a person to read: the index folder, the Milvus Lite file, or the
    Milvus server's address without any user name or password written into it."""
    text = str(location)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https", "tcp", "grpc") or "@" not in parts.netloc:
        return text
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
