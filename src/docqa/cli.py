"""The ``docqa`` command: index, ask, eval, serve."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm

from docqa import __version__, evaluation
from docqa.assistant import Assistant
from docqa.config import PRECISIONS
from docqa.errors import DocqaError
from docqa.schema import RETRIEVAL_MODES, Answer, IndexReport

Handler = Callable[[argparse.Namespace], int]


def folder_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", dest="corpus_dir", help="folder of documents (default: ./corpus)")
    parser.add_argument("--index", dest="index_dir", help="index folder (default: ./embeddings)")


def model_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that choose the models, shared by every subcommand."""
    parser.add_argument("--embedding-model", help="hub id, local folder, or 'none' for BM25 only")
    parser.add_argument("--reader-model", help="hub id, local folder, or 'none' for the lexical mode")
    parser.add_argument(
        "--precision", choices=PRECISIONS, help="fp32 (default), or int8: faster, scores a little different"
    )


def assistant_from(args: argparse.Namespace, **overrides: Any) -> Assistant:
    return Assistant(
        corpus_dir=args.corpus_dir,
        index_dir=args.index_dir,
        embedding_model=args.embedding_model,
        reader_model=args.reader_model,
        precision=args.precision,
        **overrides,
    )


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[float, str], None]]:
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


def run_index(args: argparse.Namespace) -> int:
    assistant = assistant_from(args)
    with progress_bar("indexing") as progress:
        report = assistant.index(rebuild=args.rebuild, progress=progress)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_report(report, assistant))
    return 0


def format_report(report: IndexReport, assistant: Assistant) -> str:
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


def run_ask(args: argparse.Namespace) -> int:
    assistant = assistant_from(args, top_k=args.top_k, retrieval=args.retrieval, confidence_threshold=args.threshold)
    result = assistant.ask(args.question)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(format_answer(result))
    return 0


def format_answer(answer: Answer) -> str:
    """The answer for a terminal: text, confidence, citation with the snippet, notes."""
    lines = []
    if answer.abstained:
        lines.append("No answer found in the documents.")
    else:
        label = "Answer" if answer.mode == "extractive" else "Best-matching sentence"
        lines.append(f"{label}: {answer.text}")
        lines.append(f"Confidence: {answer.score:.2f} ({answer.mode} mode)")
    for citation in answer.citations:
        dated = f", {citation.date}" if citation.date else ""
        lines.append(f"Source: {citation.source} ({citation.title}{dated}), characters {citation.start}-{citation.end}")
        lines.append(f"  \u201c{citation.snippet}\u201d")
    if answer.message:
        lines.append(answer.message)
    if answer.abstained:
        for number, passage in enumerate(answer.passages[:3], start=1):
            text = " ".join(passage.chunk.text.split())
            lines.append(f"  [{number}] {passage.chunk.source}: {text[:200]}{'...' if len(text) > 200 else ''}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="docqa", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"docqa {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True)

    index = commands.add_parser("index", help="build or update the index of the corpus folder")
    folder_arguments(index)
    model_arguments(index)
    index.add_argument("--rebuild", action="store_true", help="re-index every file from scratch")
    index.add_argument("--json", action="store_true", help="print what changed as JSON")
    index.set_defaults(handler=run_index)

    ask = commands.add_parser("ask", help="answer a question from the documents")
    ask.add_argument("question")
    folder_arguments(ask)
    model_arguments(ask)
    ask.add_argument("--top-k", type=int, help="passages to read (default: 5)")
    ask.add_argument("--retrieval", choices=RETRIEVAL_MODES, help="search method (default: hybrid)")
    ask.add_argument("--threshold", type=float, help="confidence below which it abstains (default: 0.2)")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    ask.set_defaults(handler=run_ask)

    evaluate = commands.add_parser("eval", help="measure retrieval and answers on a SQuAD-format file")
    evaluation.add_arguments(evaluate)
    model_arguments(evaluate)
    evaluate.set_defaults(handler=evaluation.run_cli)

    from docqa import ui  # here, not at the top: ui builds on this module's argument helpers

    serve = commands.add_parser("serve", help="chat with the documents in the browser")
    ui.add_serve_arguments(serve)
    serve.set_defaults(handler=ui.serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="docqa: %(levelname)s: %(message)s"
    )
    try:
        return args.handler(args)
    except DocqaError as error:
        print(f"docqa: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("docqa: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
