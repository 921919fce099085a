"""What the speed levers cost in answers, with the trained weights, on the SQuAD dev articles the
trained reader never saw (``../shared/eval/reader-split/dev-*.json``).

``python benchmarks/bench_quality.py`` (about 10 minutes on 2 cores; ``--limit N`` for a sample)
writes ``results/quality_levers.json``. For every question it retrieves the top 3 passages once
(hybrid, the trained embedder, fp32) and reads them, through ``Assistant.read``, as each lever
would:

- all at once (``read_first=0``) and the first passage alone, at fp32; reading the first passage
  first (the default, ``read_first=1``) gives the first passage's answer when it holds a confident
  span and the answer of all three otherwise, so its F1 and the passages it reads follow from those
  two readings; a sample is also read by an assistant with ``read_first=1`` to check that it
  answers the same;
- int8 variants of the reader's ONNX copy (``--int8``: docqa's own, every matrix product int8 as
  docqa quantized before, only the matrix products, those without the answer head, and those
  without the feed-forward outputs), on the same passages.

F1 and EM are ``docqa eval``'s (official SQuAD normalisation; an abstention is an empty answer,
right for an unanswerable question), at the default confidence threshold and at 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from common import RESULTS_DIR, SHARED_DIR, WORK_DIR, log, write_record
from environment import describe_environment

WEIGHTS = SHARED_DIR / "weights"
EMBEDDER = WEIGHTS / "all-MiniLM-L6-v2"
READER = WEIGHTS / "docqa-minilm-squad-reader"
DEV_FILES = {"dev-v1.1": SHARED_DIR / "eval" / "reader-split" / "dev-v1.1.json",
             "dev-v2.0": SHARED_DIR / "eval" / "reader-split" / "dev-v2.0.json"}
TOP_K = 3
CHECK_SAMPLE = 150  # questions also read by a read_first=1 assistant
# How each int8 variant calls onnxruntime's quantize_dynamic; "docqa" is docqa's own int8 copy (each
# layer's feed-forward output kept in fp32), "every-product" what docqa did before.
INT8_VARIANTS: dict[str, dict[str, Any] | None] = {
    "docqa": None,
    "every-product": {},
    "matmul-only": {"op_types_to_quantize": ["MatMul"]},
    "matmul-no-head": {"op_types_to_quantize": ["MatMul"], "exclude": ("qa_outputs",)},
    "matmul-no-head-no-ffn-out": {"op_types_to_quantize": ["MatMul"],
                                  "exclude": ("qa_outputs", "/output/dense/MatMul")},
    # Each layer's feed-forward output in fp32 in the last two (of six) layers only, or the first two.
    "ffn-out-fp32-last-2": {"exclude": ("layer.4/output/dense/MatMul", "layer.5/output/dense/MatMul")},
    "ffn-out-fp32-first-2": {"exclude": ("layer.0/output/dense/MatMul", "layer.1/output/dense/MatMul")},
}


@contextlib.contextmanager
def quantized_as(variant: str) -> Iterator[None]:
    """docqa's int8 export, made with the variant's quantization options while the block runs."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    import docqa.acceleration as acceleration

    spec = INT8_VARIANTS[variant]
    options = dict(spec or {})
    exclude = options.pop("exclude", ())
    original = acceleration._quantize_int8

    def quantize(source: Path, target: Path, *_: Any) -> None:
        names = [node.name for node in onnx.load(str(source)).graph.node]
        # "/output/dense/" matches the attention output too: keep only the feed-forward one.
        skipped = [n for n in names if any(part in n for part in exclude) and "/attention/" not in n]
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True,
                         nodes_to_exclude=skipped, **options)

    if spec is not None:
        acceleration._quantize_int8 = quantize
    try:
        yield
    finally:
        acceleration._quantize_int8 = original


def reader_assistant(folder: Path, precision: str, read_first: int) -> Any:
    """An assistant that only reads (no embedder, an empty corpus): passages are given to ``read``."""
    from docqa.assistant import Assistant

    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    assistant = Assistant(corpus, folder / "index", "none", str(READER), precision=precision,
                          read_first=read_first, reader_cache=0)
    assistant.warm_up()
    return assistant


def score(assistant: Any, question: Any, passages: Sequence[Any], threshold: float) -> dict[str, Any]:
    from docqa.evaluation.confidence import answered_at
    from docqa.evaluation.metrics import answer_scores
    from docqa.evaluation.run import read_and_score

    reading = read_and_score(assistant, question, passages, threshold)
    unthresholded = answer_scores(reading.guess if answered_at(reading, 0.0) else "", question.answers)
    return {"f1": reading.f1, "em": reading.exact_match, "f1_threshold_0": unthresholded[1],
            "confident": not reading.reader_abstained, "guess": reading.guess, "seconds": reading.seconds}


def measure_file(name: str, path: Path, limit: int | None, variants: Sequence[str]) -> dict[str, Any]:
    from docqa.assistant import Assistant
    from docqa.evaluation.squad import load_squad

    squad = load_squad(path)
    questions = list(squad.questions)
    if limit:
        questions = random.Random(0).sample(questions, min(limit, len(questions)))
    work = WORK_DIR / "quality" / name
    corpus = work / "search-corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    searcher = Assistant(corpus, work / "search-index", str(EMBEDDER), "none", reader_cache=0)
    searcher.index(documents=squad.documents)
    whole = reader_assistant(work / "fp32", "fp32", read_first=0)
    threshold = whole.confidence_threshold  # the reader's default
    cascade = reader_assistant(work / "fp32", "fp32", read_first=1)  # same folder: the same ONNX copy
    int8 = {}
    for variant in variants:
        with quantized_as(variant):
            int8[variant] = reader_assistant(work / f"int8-{variant}", "int8", read_first=0)
    rows = []
    started = time.perf_counter()
    for number, question in enumerate(questions):
        passages = searcher.retrieve(question.question, top_k=TOP_K)
        row: dict[str, Any] = {"id": question.id, "passages": len(passages)}
        row["all"] = score(whole, question, passages, threshold)
        row["first"] = score(whole, question, passages[:1], threshold)
        row["cascade"] = row["first"] if row["first"]["confident"] else row["all"]
        row["passages_read"] = 1 if row["first"]["confident"] or len(passages) <= 1 else len(passages)
        if number < CHECK_SAMPLE:
            row["cascade_checked"] = score(cascade, question, passages, threshold)
        for variant, assistant in int8.items():
            row[f"int8 {variant}"] = score(assistant, question, passages, threshold)
        rows.append(row)
        if number % 200 == 199:
            log(f"quality: {name} {number + 1}/{len(questions)} in {time.perf_counter() - started:.0f} s")
    return summarise(rows, threshold, variants) | {"questions": len(rows), "paragraphs": len(squad.documents)}


def summarise(rows: list[dict[str, Any]], threshold: float, variants: Sequence[str]) -> dict[str, Any]:
    def mean(values: Sequence[float]) -> float:
        return round(100 * sum(values) / max(len(values), 1), 2)

    readings = ["all", "first", "cascade", *(f"int8 {v}" for v in variants)]
    table = {
        reading: {
            "f1": mean([row[reading]["f1"] for row in rows]),
            "em": mean([row[reading]["em"] for row in rows]),
            "f1_threshold_0": mean([row[reading]["f1_threshold_0"] for row in rows]),
            "mean_reading_ms": round(1000 * sum(row[reading]["seconds"] for row in rows) / len(rows), 1),
        }
        for reading in readings
    }
    table["all"]["mean_passages_read"] = round(sum(row["passages"] for row in rows) / len(rows), 3)
    table["first"]["mean_passages_read"] = 1.0
    table["cascade"]["mean_passages_read"] = round(sum(row["passages_read"] for row in rows) / len(rows), 3)
    checked = [row for row in rows if "cascade_checked" in row]
    same = sum(row["cascade_checked"]["guess"] == row["cascade"]["guess"] for row in checked)
    return {
        "threshold": threshold,
        "top_k": TOP_K,
        "readings": table,
        "first_passage_confident": mean([row["first"]["confident"] for row in rows]),
        "cascade_check": {"questions": len(checked), "same_answer": same},
        "f1_delta_vs_all": {reading: round(table[reading]["f1"] - table["all"]["f1"], 2) for reading in readings},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, help="a fixed random sample of N questions per file")
    parser.add_argument("--files", default=",".join(DEV_FILES), help="dev-v1.1,dev-v2.0")
    parser.add_argument("--int8", default=",".join(INT8_VARIANTS), help="int8 variants to read with ('' for none)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "quality_levers.json")
    args = parser.parse_args(argv)
    if not READER.is_dir() or not all(DEV_FILES[name].exists() for name in args.files.split(",")):
        print(f"needs the trained weights in {WEIGHTS} and the dev files in {SHARED_DIR / 'eval'}", file=sys.stderr)
        return 2
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    variants = [v for v in args.int8.split(",") if v]
    environment = describe_environment()
    results = {}
    for name in args.files.split(","):
        log(f"quality: {name}, int8 variants {', '.join(variants) or 'none'}")
        results[name] = measure_file(name, DEV_FILES[name], args.limit, variants)
        log(f"quality: {name}: {json.dumps(results[name]['f1_delta_vs_all'])}")
    record = {
        "benchmark": "quality_levers",
        "weights": {"embedder": str(EMBEDDER.relative_to(SHARED_DIR.parent)),
                    "reader": str(READER.relative_to(SHARED_DIR.parent)),
                    "note": "trained weights (../shared/weights); dev articles the reader never saw"},
        "command": "python benchmarks/bench_quality.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "environment_before": environment,
        "environment_after": describe_environment(),
        "results": results,
    }
    write_record(args.out, record)
    log(f"quality: written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
