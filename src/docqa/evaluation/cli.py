"""The ``docqa eval`` subcommand: its flags, the run, and the JSON file it can write."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from docqa.errors import DocqaError
from docqa.evaluation.report import format_report
from docqa.evaluation.squad import DEFAULT_SEED
from docqa.schema import RETRIEVAL_MODES


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from error
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``eval`` flags; the model, precision and folder flags come from the shared parser."""
    parser.add_argument("file", metavar="FILE", type=Path, help="a SQuAD 1.1 or 2.0 JSON file")
    parser.add_argument(
        "--limit", type=_positive_int, metavar="N", help="evaluate a fixed random sample of N questions"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the --limit sample (default 0)")
    parser.add_argument("--json", dest="json_path", type=Path, metavar="OUT", help="also write every figure to OUT")
    parser.add_argument("--top-k", type=_positive_int, metavar="K", help="passages the reader reads")
    parser.add_argument("--retrieval", choices=RETRIEVAL_MODES, help="hybrid (default), bm25 or dense")


def run_cli(args: argparse.Namespace) -> int:
    # The run needs the assistant and its libraries: loaded here, so building the parser stays light.
    from docqa.evaluation.run import EvalOptions, evaluate

    options = EvalOptions(
        embedding_model=args.embedding_model,
        reader_model=args.reader_model,
        precision=args.precision,
        top_k=args.top_k,
        retrieval=args.retrieval,
        limit=args.limit,
        seed=args.seed,
    )
    report = evaluate(args.file, options)
    if args.json_path is not None:
        write_json(report, args.json_path)
    print(format_report(report))
    return 0


def write_json(report: dict[str, Any], path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise DocqaError(f"could not write {path}: {error}") from error
