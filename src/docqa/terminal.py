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
from docqa.schema import Answer, IndexReport

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


def format_answer(answer: Answer) -> str:
    """The answer for a terminal: text, confidence, citation with the snippet, notes."""
    lines = []
    if answer.abstained:
        lines.append("No answer found in the documents.")
    elif answer.items:  # a list: each item with the number of its source
        lines.append("Answers:")
        lines += [f"  - {item.text} [{number}]" for number, item in enumerate(answer.items, start=1)]
    else:
        label = "Answer" if answer.mode == "extractive" else "Best-matching sentence"
        lines.append(f"{label}: {answer.text}")
    if not answer.abstained:
        lines.append(f"Confidence: {answer.confidence} ({answer.score:.2f}, {answer.mode} mode)")  # the app's words
    quoted = None
    for number, citation in enumerate(answer.citations, start=1):
        dated = "".join(f", {part}" for part in (citation.date, citation.location) if part)  # date, page
        numbered = f"[{number}] " if len(answer.citations) > 1 else ""
        lines.append(
            f"Source: {numbered}{citation.source} ({citation.title}{dated}), characters {citation.start}-{citation.end}"
        )
        if citation.sentence_at != quoted:  # items of one sentence: quoted once
            lines.append(f"  \u201c{citation.snippet}\u201d")
        quoted = citation.sentence_at
    if answer.conflicts:
        lines.append("The documents disagree (newest first):")
        for conflict in answer.conflicts:
            where = ", ".join(
                part for part in (conflict.citation.location, conflict.date and f"dated {conflict.date}") if part
            )
            lines.append(f"  - {conflict.text} ({conflict.citation.source}{', ' if where else ''}{where})")
    if answer.message:
        lines.append(answer.message)
    if answer.abstained:
        for number, passage in enumerate(answer.passages[:3], start=1):
            text = " ".join(passage.chunk.text.split())
            lines.append(f"  [{number}] {passage.chunk.source}: {text[:200]}{'...' if len(text) > 200 else ''}")
    return "\n".join(lines)
