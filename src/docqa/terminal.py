"""What docqa writes on a terminal while it works: a progress bar and the summary of an index update.

Both the command line and the chat app's server use these, so they live below either of them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tqdm import tqdm

from docqa.schema import IndexReport

if TYPE_CHECKING:
    from docqa.assistant import Assistant

Progress = Callable[[float, str], None]  # progress(fraction done, what is happening)


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
    lines = [
        f"{'Rebuilt' if report.rebuilt else 'Updated'} {assistant.settings.index_dir}: "
        f"{len(report.added)} added, {len(report.updated)} updated, {len(report.removed)} removed, "
        f"{len(report.unchanged)} unchanged; {report.chunks} passages from {status.documents} documents.",
        f"Search: {status.retrieval}; embedding model: "
        f"{status.embedding_model if status.embedder_loaded else 'none (BM25 only)'}.",
    ]
    lines += [f"Skipped {source}: {reason}" for source, reason in report.skipped.items()]
    return "\n".join(lines)
