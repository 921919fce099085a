"""The ``docqa eval`` subcommand: its flags, the run, and the JSON file it can write."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from docqa.errors import DocqaError
from docqa.evaluation.outputs import PLOT_SUFFIX, plot_path, write_json, write_plot, write_predictions
from docqa.evaluation.report import format_comparison, format_report
from docqa.evaluation.squad import DEFAULT_SEED
from docqa.options import MAX_TOP_K
from docqa.schema import RETRIEVAL_MODES


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from error
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _top_ks(text: str) -> tuple[int, ...]:
    """One top-k, or a comma list of them ("1,3,5,10"), each from 1 to MAX_TOP_K, repeats dropped."""
    values = [_positive_int(part.strip()) for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"no top-k in {text!r}")
    if max(values) > MAX_TOP_K:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_TOP_K}, not {max(values)}")
    return tuple(dict.fromkeys(values))


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from error
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``eval`` flags; the model, precision and folder flags come from the shared parser."""
    parser.add_argument(
        "file",
        metavar="FILE",
        type=Path,
        help="a SQuAD 1.1 or 2.0 JSON file; with --corpus, questions about that folder (the realdocs format)",
    )
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="fit the reader's calibration on FILE (a SQuAD file; docqa annotations export makes one of the "
        "corrections) and record it where the reader finds it: the model's folder, else docqa's calibration cache",
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        metavar="DIR",
        help="measure on a folder of files: index DIR as a user's folder and ask FILE's questions about it, "
        "scoring the cited file, location, answer and abstention per format and kind",
    )
    parser.add_argument(
        "--limit", type=_positive_int, metavar="N", help="evaluate a fixed random sample of N questions"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the --limit sample (default 0)")
    parser.add_argument(
        "--json",
        dest="json_path",
        type=Path,
        metavar="OUT",
        help=f"also write every figure to OUT, and the risk-coverage plot to OUT's stem + {PLOT_SUFFIX} "
        '(needs matplotlib: pip install -e ".[bench]")',
    )
    parser.add_argument(
        "--predictions",
        type=Path,
        metavar="PRED",
        help='write the answers as the official SQuAD scripts read them: {question id: answer}, "" when '
        "abstained; for SQuAD 2.0 also PRED's stem + -na-prob.json, {question id: probability of no answer}: "
        "the reader's no-answer score where it abstained on its own, else 1 - the best answer's score",
    )
    parser.add_argument(
        "--top-k",
        type=_top_ks,
        metavar="K[,K...]",
        help="passages the reader reads; a comma list (1,3,5,10) builds the index once and reads each k",
    )
    parser.add_argument("--retrieval", choices=RETRIEVAL_MODES, help="hybrid (default), bm25 or dense")
    parser.add_argument(
        "--threshold",
        type=_fraction,
        help="confidence below which the assistant abstains (default: the reader model's own, from its "
        "calibration, 0.5 uncalibrated; 0.2 without a reader model)",
    )


def _suffixed(path: Path, k: int, several: bool) -> Path:
    """``path``, or with ``-top<k>`` before its suffix when several top-k share one run."""
    return path.with_name(f"{path.stem}-top{k}{path.suffix}") if several else path


def run_folder_cli(args: argparse.Namespace) -> int:
    from docqa.evaluation.folder import evaluate_folder, format_folder_report

    if args.calibrate:
        raise DocqaError("--calibrate takes a SQuAD file, not --corpus questions")
    top_ks: tuple[int, ...] | None = args.top_k
    if top_ks and len(top_ks) > 1:
        raise DocqaError("--corpus takes one --top-k")
    report = evaluate_folder(
        args.corpus,
        args.file,
        embedding_model=args.embedding_model,
        reader_model=args.reader_model,
        precision=args.precision,
        top_k=top_ks[0] if top_ks else None,
        confidence_threshold=args.threshold,
        show_progress=sys.stderr.isatty(),
    )
    print(format_folder_report(report))
    if args.json_path is not None:
        write_json(report, args.json_path)
        print(f"every figure and answer: {args.json_path}")
    return 0


def run_cli(args: argparse.Namespace) -> int:
    if args.corpus is not None:
        return run_folder_cli(args)
    # The run needs the assistant and its libraries: loaded here, so building the parser stays light.
    from docqa.evaluation.run import EvalOptions, run_evaluation

    top_ks: tuple[int, ...] | None = args.top_k
    options = EvalOptions(
        embedding_model=args.embedding_model,
        reader_model=args.reader_model,
        precision=args.precision,
        top_k=top_ks[0] if top_ks and len(top_ks) == 1 else top_ks,
        retrieval=args.retrieval,
        confidence_threshold=args.threshold,
        limit=args.limit,
        seed=args.seed,
        show_progress=sys.stderr.isatty(),  # in a log or a pipe each redraw of a bar is another line
    )
    run = run_evaluation(args.file, options)
    reports = list(run.reports.values())
    several = len(reports) > 1
    notes: list[str] = []
    if args.json_path is not None:
        write_json({"top_k": list(run.reports), "reports": reports} if several else reports[0], args.json_path)
        for k, report in run.reports.items():
            title = f"{args.file.name}, top-k {k}, {report['settings']['questions']} questions"
            rows = report["confidence"]["risk_coverage"]
            notes.append(write_plot(rows, plot_path(_suffixed(args.json_path, k, several)), title))
    if args.calibrate:
        from docqa.evaluation.calibrate import calibrate_reader

        first = next(iter(run.reports))
        notes.append(calibrate_reader(run.reports[first], run.results[first]))
    if args.predictions is not None:
        for k, results in run.results.items():
            written = write_predictions(results, _suffixed(args.predictions, k, several), run.has_unanswerable)
            notes.append(f"predictions (top-k {k}): {', '.join(str(path) for path in written)}")
    print(format_comparison(reports) if several else format_report(reports[0]))
    for note in notes:
        print(note)
    return 0
