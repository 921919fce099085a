"""The ``docqa train`` and ``docqa annotations export`` subcommands."""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from docqa.annotations import READERS_FOLDER, AnnotationStore, write_squad
from docqa.config import Settings
from docqa.errors import DocqaError
from docqa.training.loop import TrainOptions

DEFAULTS = TrainOptions()


def add_parser(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``train`` and ``annotations`` to the subcommands ``commands``; ``common`` adds the
    shared folder flags (--corpus, --index, --store)."""
    train = commands.add_parser(
        "train",
        help="fine-tune the reader on SQuAD files and the app's corrections",
        description="Fine-tune the reader; keep the result only if it does better on held-out data.",
        epilog="""examples:
  docqa train                                  the app's corrections, into embeddings/readers/reader-<time>
  docqa train notes.json --corrections --name field-v1
  docqa train train.json --eval held-out.json --reader-model ./models/reader
  docqa ask "Who?" --reader-model embeddings/readers/field-v1""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(train)
    train.add_argument("files", metavar="FILE", type=Path, nargs="*", help="SQuAD 1.1 or 2.0 JSON files")
    train.add_argument("--reader-model", help="the model to start from: hub id or folder (default: the current reader)")
    train.add_argument("--corrections", action="store_true",
                       help="also train on the corrections stored in the index folder (the default with no FILE)")
    train.add_argument("--eval", dest="eval_file", type=Path, metavar="FILE",
                       help="measure on this SQuAD file instead of holding out part of the data")
    train.add_argument("--held-out", type=float, default=0.2,
                       help="share of the data (whole articles where there are 3 or more) held out (default 0.2)")
    train.add_argument("--output", type=Path, help="folder to save the reader in (default: <index>/readers/NAME)")
    train.add_argument("--name", help="NAME of the saved reader (default: reader-<date>-<time>)")
    train.add_argument("--keep-anyway", action="store_true", help="save the reader even if it is not better")
    train.add_argument("--epochs", type=float, default=DEFAULTS.epochs, help=f"default {DEFAULTS.epochs:g}")
    train.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help=f"default {DEFAULTS.batch_size}")
    train.add_argument("--learning-rate", type=float, default=DEFAULTS.learning_rate,
                       help=f"default {DEFAULTS.learning_rate:g}")
    train.add_argument("--max-length", type=int, default=DEFAULTS.max_seq_length,
                       help=f"tokens per window (default {DEFAULTS.max_seq_length}, as the reader reads)")
    train.add_argument("--stride", type=int, default=DEFAULTS.stride, help=f"default {DEFAULTS.stride}")
    train.add_argument("--seed", type=int, default=DEFAULTS.seed, help=f"default {DEFAULTS.seed}")
    train.set_defaults(handler=run_train)

    annotations = commands.add_parser(
        "annotations",
        help="the corrections made in the app",
        description="The corrections made in the chat app, kept in the index folder's annotations.jsonl:\n"
        "export them as training data for docqa train.",
        epilog="""examples:
  docqa annotations export corrections.json        those whose document is unchanged, as SQuAD 2.0
  docqa annotations export all.json --all          also those whose document changed since
  docqa annotations export corrections.json --index ~/papers-index""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = annotations.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export",
        help="write the corrections as a SQuAD 2.0 file",
        description="Write the corrections made in the chat app as a SQuAD 2.0 file.",
        epilog="examples:\n  docqa annotations export corrections.json\n  docqa annotations export all.json --all",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("file", metavar="FILE", type=Path)
    common(export)
    export.add_argument("--all", action="store_true", help="also those whose document has changed since")
    export.set_defaults(handler=run_export)


@contextlib.contextmanager
def document_texts(settings: Settings) -> Iterator[Callable[[str], str | None]]:
    """``text_of(source)``: the text of a document in the index now, None when it is not there."""
    from docqa.store import open_store

    store = open_store(settings.store_location)

    def text_of(source: str) -> str | None:
        try:
            return store.document_text(source)
        except DocqaError:
            return None

    try:
        yield text_of
    finally:
        store.close()


def settings_of(args: argparse.Namespace) -> Settings:
    given = {key: getattr(args, key) for key in ("corpus_dir", "index_dir", "store") if getattr(args, key, None)}
    return Settings.from_env(**given)


def run_export(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    store = AnnotationStore(settings.index_dir)
    with document_texts(settings) as text_of:
        valid, stale = store.current(text_of)
    records = valid + stale if args.all else valid
    path = write_squad(records, args.file)
    left_out = ""
    if stale and not args.all:
        whose = "its" if len(stale) == 1 else "their"
        left_out = f"; {len(stale)} left out, {whose} document changed since (--all keeps them)"
    if store.skipped:
        left_out += f"; {len(store.skipped)} line(s) of {store.path.name} skipped, not usable corrections"
    print(f"Wrote {len(records)} correction{'' if len(records) == 1 else 's'} to {path}{left_out}.")
    return 0


def run_train(args: argparse.Namespace) -> int:
    from docqa.training.run import TrainRequest, run_training  # torch and transformers load here

    settings = settings_of(args)
    base = args.reader_model or settings.reader_model
    name = args.name or f"reader-{time.strftime('%Y%m%d-%H%M%S')}"
    output = args.output or Path(settings.index_dir) / READERS_FOLDER / name
    options = TrainOptions(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                           max_seq_length=args.max_length, stride=args.stride, seed=args.seed)
    with document_texts(settings) as text_of:
        request = TrainRequest(
            base_model=base,
            output=output,
            files=args.files,
            corrections_from=Path(settings.index_dir) if args.corrections or not args.files else None,
            text_of=text_of,
            eval_file=args.eval_file,
            held_out=args.held_out,
            threshold=settings.confidence_threshold,
            keep_anyway=args.keep_anyway,
            options=options,
        )
        result = run_training(request)
    figures = result.figures
    data, before, after = figures["data"], figures["before"], figures["after"]
    print(
        f"Trained on {data['train_examples']} questions ({data['train_windows']} windows) in "
        f"{figures['train_seconds']:.0f} s on {figures['device']}: {figures['examples_per_second']:.2f} examples/s."
    )
    print(
        f"Held out ({data['held_out_examples']} questions): EM {100 * before['exact_match']:.1f} -> "
        f"{100 * after['exact_match']:.1f}, F1 {100 * before['f1']:.1f} -> {100 * after['f1']:.1f}."
    )
    if result.kept:
        print(f"Saved the reader to {result.output}; use it with --reader-model {result.output}")
        return 0
    print("The new reader is not better on the held-out data, so it was not saved (--keep-anyway saves it).")
    return 1
