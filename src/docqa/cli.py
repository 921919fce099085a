"""The ``docqa`` command: index, ask, eval, serve, and the subcommands added from other packages.

Each subcommand is one function that adds its parser to the subparsers (``add_index(commands)``),
called from :func:`build_parser`; a new subcommand is one such function and one line there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from docqa.config import NO_MODEL, PRECISIONS, Settings
from docqa.errors import DocqaError
from docqa.evaluation.cli import add_arguments as evaluation_arguments
from docqa.evaluation.cli import run_cli as run_eval
from docqa.models import find_named_models
from docqa.options import DEFAULT_TOP_K, MAX_TOP_K, AskOptions
from docqa.reader.calibration import UNCALIBRATED
from docqa.reader.sentence import SentenceReader
from docqa.schema import RETRIEVAL_MODES
from docqa.terminal import format_answer, format_report, progress_bar, quiet_libraries_off_terminal
from docqa.training.cli import add_parser as training_parsers
from docqa.version import __version__

if TYPE_CHECKING:
    from docqa.assistant import Assistant

Handler = Callable[[argparse.Namespace], int]
BROKEN_PIPE_STATUS = 128 + 13  # 128 + SIGPIPE
OFFLINE_NOTE = """\
Without network, and with no model in the Hugging Face cache, docqa answers in the lexical mode
(BM25 search, the best-matching sentence). To use models offline, pass their local folders with
--embedding-model and --reader-model."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, as docqa's other user errors are."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def command_parser(commands: Any, name: str, summary: str, examples: str) -> argparse.ArgumentParser:
    """The parser of subcommand ``name``: ``summary`` in the list of commands, ``examples`` below its options."""
    return commands.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def folder_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", dest="corpus_dir", help="folder of documents (default: ./corpus)")
    parser.add_argument("--index", dest="index_dir", help="index folder (default: ./embeddings)")
    parser.add_argument(
        "--store",
        help="where the passages live instead of the index folder: a Milvus Lite file (passages.db) or a Milvus "
        "server (http://host:19530; credentials from DOCQA_MILVUS_TOKEN, or DOCQA_MILVUS_USER and _PASSWORD)",
    )


def model_arguments(parser: argparse.ArgumentParser, *, reader: bool = True) -> None:
    """The flags that choose the models, shared by the subcommands; ``reader=False`` for one that
    reads no answers, which accepts --reader-model (for scripts that pass it) without showing it."""
    parser.add_argument("--embedding-model", help="hub id, local folder, or 'none' for BM25 only")
    parser.add_argument(
        "--reader-model",
        help="hub id, local folder, or 'none' for the lexical mode" if reader else argparse.SUPPRESS,
    )
    parser.add_argument(
        "--precision", choices=PRECISIONS, help="int8 (default): about twice as fast; or fp32"
    )


def assistant_from(args: argparse.Namespace, *, require: Collection[str] = (), **overrides: Any) -> Assistant:
    """The assistant of the flags, once its corpus folder is found and the models named by the user
    have loaded: a model named (by flag or DOCQA_*_MODEL) that cannot load is an error, and only the
    default models fall back to the lexical mode; so is a model of a kind in ``require``."""
    from docqa.assistant import Assistant  # the pipeline loads for the commands that use it, not for --help

    models = {"embedding_model": args.embedding_model, "reader_model": args.reader_model, **overrides}
    settings = Settings.from_env(
        corpus_dir=args.corpus_dir, index_dir=args.index_dir, store=args.store, precision=args.precision,
        **{**overrides, **models},
    )  # fmt: skip
    if reads_corpus(args, settings):
        check_corpus(settings.corpus_dir)  # a shared store answers without a corpus folder here, unless one is named
    required = set(find_named_models(models["embedding_model"], models["reader_model"])) | set(require)
    if not settings.store:  # the passages live in the index folder
        check_index_folder(settings.index_dir)
    assistant = Assistant(settings=settings, embedding_model=models["embedding_model"], require=required)
    if required:
        try:
            assistant.load_models()  # before any indexing, or the server listening
        except BaseException:
            assistant.close()
            raise
    return assistant


def reads_corpus(args: argparse.Namespace, settings: Settings) -> bool:
    """Whether the command works from a corpus folder: always with the index folder; with a shared store
    (--store), only where one is named (a replica answers from the store without one)."""
    return not settings.store or args.corpus_dir is not None or bool(os.environ.get("DOCQA_CORPUS_DIR"))


def update_before_asking(assistant: Assistant) -> None:
    """Bring the index up to date with the corpus folder, as ``docqa serve`` does at start, so that an
    answer never cites a file deleted since: only new and changed files are read, and when nothing
    changed (hashing the files says so) nothing is written. An index that cannot be written (a
    read-only folder) answers as it stands, with a warning."""
    from docqa.errors import IndexLoadError

    try:
        if assistant.up_to_date():  # nothing to write: a read-only index answers as it is
            return
        existed = assistant.store.settings() is not None
    except IndexLoadError:
        existed = False  # a damaged index: the update says what to do
    try:
        with progress_bar("updating the index") as progress:
            assistant.index(progress=progress)
    except (IndexLoadError, OSError) as error:
        if not existed:
            raise
        logging.getLogger("docqa").warning(
            "the corpus folder changed since it was indexed, and the index could not be updated (%s): "
            "answering from the index as it stands",
            error,
        )


def check_corpus(corpus: Path) -> None:
    """A missing corpus folder is a mistake (a typo, a disk not mounted), not an empty corpus: an index
    built from it earlier would answer as if nothing were wrong."""
    if not corpus.is_dir():
        problem = "is not a folder" if corpus.exists() else "does not exist"
        raise DocqaError(f"the corpus folder {corpus} {problem}: give the folder of documents with --corpus DIR")


def check_index_folder(index: Path) -> None:
    """The index folder, made if missing, so that a path it cannot have is reported now rather than by
    the first update (which ``serve`` runs on a thread of its own, once the app listens)."""
    if index.is_dir():
        return  # a read-only one still answers questions
    try:
        index.mkdir(parents=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise DocqaError(
            f"{index} is not a folder, or a file stands in its path: give the index a folder (--index DIR)"
        ) from error
    except OSError as error:
        raise DocqaError(
            f"the index folder {index} cannot be created ({error.strerror or error}): give another with --index DIR"
        ) from error


def run_index(args: argparse.Namespace) -> int:
    assistant = assistant_from(args, shard=args.shard, reader_model=NO_MODEL)  # indexing reads no answers
    with progress_bar("indexing") as progress:
        report = assistant.index(rebuild=args.rebuild, retry_skipped=args.retry_skipped, progress=progress)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_report(report, assistant))
    if args.watch:
        from docqa.watching import watch_until_stopped

        return watch_until_stopped(assistant, as_json=args.json)
    return 0


def run_ask(args: argparse.Namespace) -> int:
    options = ask_options(args)
    # Dense search needs the embedding model: refused when it cannot load, before any indexing.
    assistant = assistant_from(args, require=("embedding",) if options.retrieval == "dense" else ())
    assistant.check_retrieval(options.retrieval)
    if reads_corpus(args, assistant.settings):
        update_before_asking(assistant)
    result = assistant.ask(args.question, options=options)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(format_answer(result))
    return 0


# The options' own checks name them as the API does (top_k); the command line says the flag typed.
FLAG_OF_OPTION = {"top_k": "--top-k", "the confidence threshold": "--threshold", "retrieval": "--retrieval"}


def ask_options(args: argparse.Namespace) -> AskOptions:
    """The question's options of the flags, checked once; an error names the flag."""
    try:
        return AskOptions.parse(
            top_k=args.top_k, retrieval=args.retrieval, confidence_threshold=args.threshold, closest=args.closest
        )
    except DocqaError as error:
        message = str(error)
        name = next((name for name in FLAG_OF_OPTION if message.startswith(name)), None)
        raise DocqaError(message.replace(name, FLAG_OF_OPTION[name], 1) if name else message) from None


def serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``docqa serve`` and ``python app.py``: folders, models, address."""
    folder_arguments(parser)
    model_arguments(parser)
    parser.add_argument(
        "--host",
        help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1; 0.0.0.0 serves every network interface)",
    )
    parser.add_argument("--port", type=int, help="port (default: $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument(
        "--no-watch", dest="watch", action="store_false", help="index the corpus at start only, not as it changes"
    )


def run_serve(args: argparse.Namespace) -> int:
    """Index the corpus if needed, then serve the chat app until interrupted."""
    from docqa.ui.serve import auth_from_env, check_port, serve, server_address  # Gradio loads only to serve

    host, port = server_address(args.host, args.port)
    check_port(host, port)  # before anything is loaded or indexed
    auth = auth_from_env()
    serve(assistant_from(args), host=host, port=port, auth=auth, watch=args.watch)
    return 0


def add_index(commands: Any) -> None:
    index = command_parser(
        commands,
        "index",
        "build or update the index of the corpus folder",
        """\
  docqa index                                      index what changed in ./corpus, into ./embeddings
  docqa index --corpus ~/papers --index ~/papers-index
  docqa index --rebuild --embedding-model none     from scratch, for BM25 search only
  docqa index --retry-skipped                      read again the files that ran out of time before
  docqa index --json                               which files were added, updated, removed, skipped""",
    )
    folder_arguments(index)
    model_arguments(index, reader=False)
    index.add_argument("--rebuild", action="store_true", help="re-index every file from scratch")
    index.add_argument(
        "--retry-skipped",
        action="store_true",
        help="read again the files skipped for taking longer than their time budget (otherwise skipped unread "
        "until they change)",
    )
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


def add_ask(commands: Any) -> None:
    ask = command_parser(
        commands,
        "ask",
        "answer a question from the documents (building the index first if there is none)",
        """\
  docqa ask "Which building did Capitol Police order Congressional staff to leave?"
  docqa ask "Who was thought to be a major target of the protestors?" --json
  docqa ask "Who spoke at the rally?" --top-k 5 --retrieval bm25
  docqa ask "Who spoke at the rally?" --reader-model ./my-reader   a reader in a local folder

"""
        + OFFLINE_NOTE,
    )
    ask.add_argument("question")
    folder_arguments(ask)
    model_arguments(ask)
    ask.add_argument("--top-k", type=int, help=f"passages to read, 1 to {MAX_TOP_K} (default: {DEFAULT_TOP_K})")
    ask.add_argument(
        "--retrieval", choices=RETRIEVAL_MODES, help=f"search method (default: {Settings.retrieval})"
    )
    ask.add_argument(
        "--threshold",
        type=float,
        help="confidence below which it abstains (default: the reader model's own, "
        f"{UNCALIBRATED.threshold} uncalibrated; lexical mode {SentenceReader.default_threshold})",
    )
    ask.add_argument(
        "--no-closest", dest="closest", action="store_false",
        help="abstain where the reader model finds no confident span, instead of showing the closest sentence",
    )  # fmt: skip
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    ask.set_defaults(handler=run_ask)


def add_eval(commands: Any) -> None:
    evaluate = command_parser(
        commands,
        "eval",
        "measure retrieval and answers on a SQuAD-format file",
        """\
  docqa eval dev-v2.0.json --limit 200             200 questions, picked at random (--seed)
  docqa eval dev-v1.1.json --top-k 1,3,5 --json report.json
  docqa eval dev-v2.0.json --reader-model ./my-reader --predictions predictions.json""",
    )
    evaluation_arguments(evaluate)
    model_arguments(evaluate)
    evaluate.set_defaults(handler=run_eval)


def add_serve(commands: Any) -> None:
    serve = command_parser(
        commands,
        "serve",
        "chat with the documents in the browser",
        """\
  docqa serve                                      http://127.0.0.1:7860; Ctrl+C stops it
  docqa serve --port 8080 --corpus ~/papers        uploads are saved in the corpus folder, and indexed
  DOCQA_AUTH_USERNAME=me DOCQA_AUTH_PASSWORD=secret docqa serve --host 0.0.0.0""",
    )
    serve_arguments(serve)
    serve.set_defaults(handler=run_serve)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="docqa",
        description="Ask questions of a folder of documents; get exact answers, cited to the file they come from.",
        epilog="""\
examples:
  docqa index                                      index ./corpus into ./embeddings
  docqa ask "Who was thought to be a major target of the protestors?"
  docqa serve                                      the chat app at http://127.0.0.1:7860 (Ctrl+C stops it)
  docqa eval dev-v2.0.json --limit 200             exact match, F1 and retrieval on SQuAD questions

"""
        + OFFLINE_NOTE
        + "\n'docqa COMMAND --help' lists the options of a command, with examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"docqa {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_index, add_ask, add_eval, add_serve):
        add(commands)
    training_parsers(commands, folder_arguments)  # train, annotations export
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_libraries_off_terminal()
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
