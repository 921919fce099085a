"""The ``docqa`` command: index, ask, eval, serve."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from docqa.config import PRECISIONS
from docqa.errors import DocqaError
from docqa.evaluation.cli import add_arguments as evaluation_arguments
from docqa.evaluation.cli import run_cli as run_eval
from docqa.schema import RETRIEVAL_MODES, Answer
from docqa.terminal import format_report, progress_bar
from docqa.training.cli import add_parser as training_parsers
from docqa.version import __version__

if TYPE_CHECKING:
    from docqa.assistant import Assistant

Handler = Callable[[argparse.Namespace], int]
BROKEN_PIPE_STATUS = 128 + 13  # 128 + SIGPIPE


def folder_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", dest="corpus_dir", help="folder of documents (default: ./corpus)")
    parser.add_argument("--index", dest="index_dir", help="index folder (default: ./embeddings)")
    parser.add_argument(
        "--store",
        help="where the passages live instead of the index folder: a Milvus Lite file (passages.db) or a Milvus "
        "server (http://host:19530; credentials from DOCQA_MILVUS_TOKEN, or DOCQA_MILVUS_USER and _PASSWORD)",
    )


def model_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that choose the models, shared by every subcommand."""
    parser.add_argument("--embedding-model", help="hub id, local folder, or 'none' for BM25 only")
    parser.add_argument("--reader-model", help="hub id, local folder, or 'none' for the lexical mode")
    parser.add_argument(
        "--precision", choices=PRECISIONS, help="fp32 (default), or int8: faster, scores a little different"
    )


def assistant_from(args: argparse.Namespace, **overrides: Any) -> Assistant:
    from docqa.assistant import Assistant  # the pipeline loads for the commands that use it, not for --help

    return Assistant(
        corpus_dir=args.corpus_dir,
        index_dir=args.index_dir,
        embedding_model=args.embedding_model,
        reader_model=args.reader_model,
        precision=args.precision,
        store=args.store,
        **overrides,
    )


def run_index(args: argparse.Namespace) -> int:
    assistant = assistant_from(args, shard=args.shard)
    with progress_bar("indexing") as progress:
        report = assistant.index(rebuild=args.rebuild, progress=progress)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_report(report, assistant))
    if args.watch:
        from docqa.watching import watch_until_stopped

        return watch_until_stopped(assistant, as_json=args.json)
    return 0


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
        dated = "".join(f", {part}" for part in (citation.date, citation.location) if part)  # date, page
        lines.append(f"Source: {citation.source} ({citation.title}{dated}), characters {citation.start}-{citation.end}")
        lines.append(f"  \u201c{citation.snippet}\u201d")
    if answer.message:
        lines.append(answer.message)
    if answer.abstained:
        for number, passage in enumerate(answer.passages[:3], start=1):
            text = " ".join(passage.chunk.text.split())
            lines.append(f"  [{number}] {passage.chunk.source}: {text[:200]}{'...' if len(text) > 200 else ''}")
    return "\n".join(lines)


def serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``docqa serve`` and ``python app.py``: folders, models, address."""
    folder_arguments(parser)
    model_arguments(parser)
    parser.add_argument(
        "--host",
        help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1; 0.0.0.0 serves every network interface)",
    )
    parser.add_argument("--port", type=int, help="port (default: $GRADIO_SERVER_PORT or 7860)")


def run_serve(args: argparse.Namespace) -> int:
    """Index the corpus if needed, then serve the chat app until interrupted."""
    from docqa.ui.serve import auth_from_env, serve, server_address  # Gradio loads for this command only

    host, port = server_address(args.host, args.port)
    auth = auth_from_env()
    serve(assistant_from(args), host=host, port=port, auth=auth)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="docqa", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"docqa {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True)

    index = commands.add_parser("index", help="build or update the index of the corpus folder")
    folder_arguments(index)
    model_arguments(index)
    index.add_argument("--rebuild", action="store_true", help="re-index every file from scratch")
    index.add_argument(
        "--shard",
        metavar="I/N",
        help="index only slice I of N of the corpus (0-based), so N machines fill one Milvus store together",
    )
    index.add_argument("--json", action="store_true", help="print what changed as JSON")
    index.add_argument(
        "--watch", action="store_true", help="then keep indexing the files added, changed or deleted until Ctrl+C"
    )
    index.set_defaults(handler=run_index)

    ask = commands.add_parser("ask", help="answer a question from the documents")
    ask.add_argument("question")
    folder_arguments(ask)
    model_arguments(ask)
    ask.add_argument("--top-k", type=int, help="passages to read (default: 3)")
    ask.add_argument("--retrieval", choices=RETRIEVAL_MODES, help="search method (default: hybrid)")
    ask.add_argument(
        "--threshold", type=float, help="confidence below which it abstains (default: 0.4, lexical mode 0.2)"
    )
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    ask.set_defaults(handler=run_ask)

    evaluate = commands.add_parser("eval", help="measure retrieval and answers on a SQuAD-format file")
    evaluation_arguments(evaluate)
    model_arguments(evaluate)
    evaluate.set_defaults(handler=run_eval)

    serve = commands.add_parser("serve", help="chat with the documents in the browser")
    serve_arguments(serve)
    serve.set_defaults(handler=run_serve)

    training_parsers(commands, folder_arguments)  # train, annotations export
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="docqa: %(levelname)s: %(message)s"
    )
    try:
        code = args.handler(args)
        sys.stdout.flush()  # a reader gone away shows here rather than at exit
        return code
    except BrokenPipeError:
        return quiet_broken_pipe()
    except DocqaError as error:
        print(f"docqa: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a file or folder the system refused, named in the message
        print(f"docqa: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("docqa: interrupted", file=sys.stderr)
        return 130


def quiet_broken_pipe() -> int:
    """The reader of the output stopped reading (``docqa ask ... | head -1``): end quietly, as the
    standard tools do, with the status of a process ended by SIGPIPE."""
    with contextlib.suppress(OSError, ValueError):  # the rest of the output, flushed at exit, goes nowhere
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return BROKEN_PIPE_STATUS


if __name__ == "__main__":
    sys.exit(main())
