"""Question latency through the public API, against the naive reader and the machine's limit.

Every question is asked once through ``Assistant.ask`` (distinct questions, no readings kept:
``reader_cache=0``), on the shipped corpus and on a SQuAD corpus (the paragraphs of
``../shared/eval/reader-split/dev-v1.1.json``, a document each), at the default precision and at
int8, at each top-k of the plan. Two assistants over the same index answer each question in turn:
docqa as it is (reading the first passage first, ``read_first=1``) and docqa reading every passage
at once (``read_first=0``), which is what the naive reader (``naive_reader.py``: padded 384-token
windows, stride 128, fp32 PyTorch, one forward pass per passage) is compared with, on the same
passages right after, for every ``naive_every``-th question. The stages are ``Answer.timings``.

Outside the timed calls, the benchmark counts what was read: the reader's tokens of each passage
(its tokenizer, windows as the reader cuts them) and whether the first passage alone held a
confident span (``Assistant.read`` of it at threshold 0), which is when docqa reads it alone.
With the reader's arithmetic per token (``bench_gemm.reader_flops_per_token``) that gives the
GFLOP per question and the rate docqa's reading achieved, to set against ``bench_gemm``'s.

The models have random weights: their spans are meaningless and nearly always beat the no-answer
score, so here docqa nearly always reads one passage. ``bench_quality.py`` measures how often the
trained reader does.
"""

from __future__ import annotations

import functools
import json
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_gemm import reader_flops_per_token
from common import (
    CORPUS_DIR,
    SHARED_DIR,
    SHIPPED_INDEX_DIR,
    WORK_DIR,
    Plan,
    latency_stats,
    log,
    model_backends,
    run_child,
    seed_questions,
)
from environment import describe_environment
from models import DEFAULT_READER, EMBEDDER

STAGES = ("retrieval", "reading", "total")
WARM_UP_QUESTION = "What is this text about?"  # not among the measured ones
DEV_PATH = SHARED_DIR / "eval" / "reader-split" / "dev-v1.1.json"
DEV_INDEX_DIR = WORK_DIR / "squad-dev-index"
NAIVE_EVERY = 3  # the naive reader reads the passages of every third question (it is slow)


def run(plan: Plan, models: dict[str, str]) -> dict[str, Any]:
    corpora = {"shipped": seed_questions()[: plan.seed_questions]}
    if DEV_PATH.exists():
        corpora["squad"] = dev_questions(plan.squad_questions)
    results: dict[str, Any] = {"corpora": {}, "naive_every": NAIVE_EVERY}
    for corpus, questions in corpora.items():
        runs = {}
        for precision in ("fp32", "int8"):
            log(f"latency: {corpus} corpus, {DEFAULT_READER} {precision}, {len(questions)} questions")
            runs[precision] = run_child(
                "bench_latency",
                "measure_questions",
                corpus=corpus,
                paragraphs=plan.squad_paragraphs,
                embedder=models[EMBEDDER],
                reader=models[DEFAULT_READER],
                precision=precision,
                questions=questions,
                top_ks=list(plan.top_ks),
                naive=precision == "fp32",
            )
        results["corpora"][corpus] = {"questions": len(questions), "runs": runs}
    return results


@functools.cache
def _dev() -> Any:
    from docqa.evaluation.squad import load_squad

    return load_squad(DEV_PATH)


def dev_questions(count: int) -> list[str]:
    """A fixed sample of distinct questions of the dev file."""
    questions = sorted({question.question for question in _dev().questions})
    return random.Random(0).sample(questions, min(count, len(questions)))


def _assistants(corpus: str, paragraphs: int | None, embedder: str, reader: str, precision: str) -> tuple[Any, Any]:
    """docqa as it is, and docqa reading every passage at once, over one up-to-date index."""
    from docqa.assistant import Assistant

    if corpus == "shipped":
        folders: tuple[Path, Path] = (CORPUS_DIR, SHIPPED_INDEX_DIR)
        documents = None
    else:  # the corpus folder is never read: the documents are given to index()
        folders = (WORK_DIR / "squad-dev-corpus", DEV_INDEX_DIR)
        documents = _dev().documents[:paragraphs] if paragraphs else _dev().documents
    made = [Assistant(*folders, embedder, reader, precision=precision, reader_cache=0, read_first=first)
            for first in (1, 0)]
    made[0].index(documents=documents)
    for assistant in made:
        assistant.warm_up()
    return made[0], made[1]


def measure_questions(
    corpus: str,
    paragraphs: int | None,
    embedder: str,
    reader: str,
    precision: str,
    questions: list[str],
    top_ks: list[int],
    naive: bool,
) -> dict[str, Any]:
    from naive_reader import NaiveReader
    from transformers import AutoConfig, AutoTokenizer

    environment = describe_environment()
    docqa, whole = _assistants(corpus, paragraphs, embedder, reader, precision)
    tokenizer = AutoTokenizer.from_pretrained(reader)
    config = AutoConfig.from_pretrained(reader).to_dict()
    for assistant in (docqa, whole):
        assistant.ask(WARM_UP_QUESTION, top_k=max(top_ks))
    baseline = NaiveReader(reader) if naive else None
    if baseline:
        baseline.read(WARM_UP_QUESTION, whole.retrieve(WARM_UP_QUESTION, top_k=max(top_ks)))
    by_top_k = {}
    for top_k in top_ks:
        samples: dict[str, list[float]] = defaultdict(list)
        for number, question in enumerate(questions):
            # Alternate which goes first, so that neither always meets a warmer cache.
            order = [("docqa", docqa), ("whole", whole)][:: 1 if number % 2 else -1]
            answers = {name: assistant.ask(question, top_k=top_k) for name, assistant in order}
            for name, answer in answers.items():
                prefix = "" if name == "docqa" else "all_passages_"
                for stage in STAGES:
                    if stage in answer.timings:
                        samples[prefix + stage].append(answer.timings[stage])
            passages = answers["whole"].passages
            if not passages:
                continue
            windows = [_window_tokens(tokenizer, question, passage.chunk.text) for passage in passages]
            first_confident = not whole.read(question, passages[:1], confidence_threshold=0.0).abstained
            read = windows[:1] if first_confident else windows
            samples["passages"].append(len(passages))
            samples["passages_read"].append(len(read))
            samples["tokens_all"].append(sum(sum(w) for w in windows))
            samples["tokens_read"].append(sum(sum(w) for w in read))
            samples["gflop_all"].append(_gflop(config, windows))
            samples["gflop_read"].append(_gflop(config, read))
            if baseline and number % NAIVE_EVERY == 0:
                started = time.perf_counter()
                baseline.read(question, passages)
                samples["naive_reading"].append(time.perf_counter() - started)
                samples["naive_total"].append(answers["whole"].timings["retrieval"] + samples["naive_reading"][-1])
                samples["all_passages_reading_naive_questions"].append(answers["whole"].timings["reading"])
        by_top_k[str(top_k)] = _summary(samples)
    return {
        "precision": precision,
        **model_backends(docqa),
        "passages_in_index": docqa.status().passages,
        "environment_before": environment,
        "environment_after": describe_environment(),
        "top_k": by_top_k,
    }


@functools.cache
def _flops_per_token(config_json: str, tokens: int) -> float:
    return reader_flops_per_token(json.loads(config_json), tokens)["total"]


def _gflop(config: dict[str, Any], windows: Sequence[Sequence[int]]) -> float:
    """The reader's arithmetic over these windows (each a list of its token count), in GFLOP."""
    serial = json.dumps({k: config[k] for k in ("hidden_size", "num_hidden_layers", "intermediate_size")})
    return sum(length * _flops_per_token(serial, length) for passage in windows for length in passage) / 1e9


def _window_tokens(tokenizer: Any, question: str, text: str, max_length: int = 384, stride: int = 128) -> list[int]:
    """The token count of each window the reader cuts the passage into (unpadded, as it reads them)."""
    encoded = tokenizer(question, text, truncation="only_second", max_length=max_length, stride=stride,
                        return_overflowing_tokens=True)
    return [len(ids) for ids in encoded["input_ids"]]


def _summary(samples: dict[str, list[float]]) -> dict[str, Any]:
    timed = {name for name in samples if name.endswith(STAGES) or name.startswith("naive")
             or name == "all_passages_reading_naive_questions"}
    summary: dict[str, Any] = {name: latency_stats(values) for name, values in samples.items() if name in timed}
    counted = {name: values for name, values in samples.items() if name not in timed}
    summary["per_question"] = {name: round(sum(values) / len(values), 3) for name, values in counted.items() if values}
    naive, docqa_same = summary.get("naive_reading"), summary.get("all_passages_reading_naive_questions")
    if naive and docqa_same and naive.get("n"):
        summary["naive_over_docqa_reading_p50"] = round(naive["p50_ms"] / docqa_same["p50_ms"], 3)
        summary["naive_over_docqa_reading_mean"] = round(naive["mean_ms"] / docqa_same["mean_ms"], 3)
    # The rate the reading achieved: mean arithmetic over mean time, for all passages and as docqa reads.
    for prefix, work in (("all_passages_", "gflop_all"), ("", "gflop_read")):
        reading = summary.get(f"{prefix}reading")
        if reading and reading.get("n") and work in summary["per_question"]:
            summary[f"{prefix}reading_gflops"] = round(summary["per_question"][work] / (reading["mean_ms"] / 1000), 1)
    return summary
