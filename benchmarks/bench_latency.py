"""Question latency per stage at several top-k, against the naive reader; int8 speed and agreement.

Latencies are those of ``Assistant.ask`` (``Answer.timings``). Every question is asked
``latency_rounds`` times, with the query vectors and readings kept for repeated questions
forgotten before each, so every sample pays for embedding and reading. The naive reader reads the same
passages right after docqa's reader, so both meet the same machine load.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from common import (
    CORPUS_DIR,
    SHIPPED_INDEX_DIR,
    SQUAD_INDEX_DIR,
    WORK_DIR,
    Plan,
    benchmark_documents,
    latency_stats,
    log,
    model_backends,
    run_child,
    seed_questions,
    squad_available,
    squad_question_contexts,
    squad_questions,
)
from models import DEFAULT_READER, EMBEDDER

STAGES = ("retrieval", "reading", "total")
WARM_UP_QUESTION = "What is this text about?"  # not among the measured ones, so no cache answers them
BASE_READER = "roberta-base-squad2"


def run(plan: Plan, models: dict[str, str]) -> dict[str, Any]:
    corpora = {"shipped": seed_questions()[: plan.seed_questions]}
    if squad_available():
        corpora["squad"] = squad_questions(plan.squad_questions, plan.squad_paragraphs)
    results: dict[str, Any] = {"corpora": {}}
    for corpus, questions in corpora.items():
        runs = {}
        for precision in ("fp32", "int8"):
            log(f"latency: {corpus} corpus, {DEFAULT_READER} {precision}, {len(questions)} questions")
            runs[precision] = _measure(plan, models, corpus, questions, DEFAULT_READER, precision, plan.top_ks)
        if plan.compare_base_reader and corpus == "squad":
            log(f"latency: {corpus} corpus, {BASE_READER} fp32 for comparison")
            runs[f"{BASE_READER} fp32"] = _measure(plan, models, corpus, questions, BASE_READER, "fp32", (5,))
        results["corpora"][corpus] = {"questions": len(questions), "runs": runs}
    if squad_available():
        log(f"latency: int8 against fp32 logits on {plan.agreement_pairs} SQuAD questions")
        results["int8_agreement"] = run_child(
            "bench_latency",
            "int8_agreement",
            embedder=models[EMBEDDER],
            reader=models[DEFAULT_READER],
            pairs=plan.agreement_pairs,
            paragraphs=plan.squad_paragraphs,
        )
    return results


def _measure(
    plan: Plan,
    models: dict[str, str],
    corpus: str,
    questions: list[str],
    reader: str,
    precision: str,
    top_ks: Sequence[int],
) -> dict[str, Any]:
    return run_child(
        "bench_latency",
        "measure_questions",
        corpus=corpus,
        paragraphs=plan.squad_paragraphs,
        embedder=models[EMBEDDER],
        reader=models[reader],
        reader_name=reader,
        precision=precision,
        questions=questions,
        rounds=plan.latency_rounds,
        top_ks=list(top_ks),
        naive=precision == "fp32" and reader == DEFAULT_READER,
    )


def _assistant(corpus: str, paragraphs: int | None, embedder: str, reader: str, precision: str) -> Any:
    """An assistant over an up-to-date index of ``corpus`` ("shipped" or "squad")."""
    from docqa.assistant import Assistant

    if corpus == "shipped":
        assistant = Assistant(CORPUS_DIR, SHIPPED_INDEX_DIR, embedder, reader, precision=precision)
        assistant.index()
    else:
        # The corpus folder is never read: the documents are given to index() directly.
        assistant = Assistant(WORK_DIR / "squad-corpus", SQUAD_INDEX_DIR, embedder, reader, precision=precision)
        assistant.index(documents=benchmark_documents(paragraphs))
    return assistant


def _forget_cached_results(assistant: Any) -> None:
    """Forget the query vectors and readings kept for repeated questions."""
    assistant.embedder.encode_query.cache_clear()
    assistant.reader.clear_cache()


def measure_questions(
    corpus: str,
    paragraphs: int | None,
    embedder: str,
    reader: str,
    reader_name: str,
    precision: str,
    questions: list[str],
    rounds: int,
    top_ks: list[int],
    naive: bool,
) -> dict[str, Any]:
    from naive_reader import NaiveReader

    assistant = _assistant(corpus, paragraphs, embedder, reader, precision)
    warm_up = assistant.ask(WARM_UP_QUESTION, top_k=1)
    baseline = NaiveReader(reader) if naive else None
    if baseline:
        baseline.read(WARM_UP_QUESTION, warm_up.passages)
    by_top_k = {}
    for top_k in top_ks:
        samples: dict[str, list[float]] = defaultdict(list)
        for question in questions * rounds:
            _forget_cached_results(assistant)
            answer = assistant.ask(question, top_k=top_k)
            for stage in STAGES:
                if stage in answer.timings:
                    samples[stage].append(answer.timings[stage])
            if baseline and answer.passages:
                started = time.perf_counter()
                baseline.read(question, answer.passages)
                naive_reading = time.perf_counter() - started
                samples["naive_reading"].append(naive_reading)
                samples["naive_total"].append(answer.timings["retrieval"] + naive_reading)
        by_top_k[str(top_k)] = _summary(samples)
    return {
        "reader": reader_name,
        "precision": precision,
        **model_backends(assistant),
        "passages_in_index": assistant.status().passages,
        "top_k": by_top_k,
    }


def _summary(samples: dict[str, list[float]]) -> dict[str, Any]:
    summary: dict[str, Any] = {stage: latency_stats(values) for stage, values in samples.items()}
    for stage in ("reading", "total"):
        naive, docqa = summary.get(f"naive_{stage}"), summary.get(stage)
        if naive and docqa and naive.get("n") and docqa.get("n"):
            summary[f"naive_over_docqa_{stage}_p50"] = round(naive["p50_ms"] / docqa["p50_ms"], 3)
            summary[f"naive_over_docqa_{stage}_mean"] = round(naive["mean_ms"] / docqa["mean_ms"], 3)
    return summary


def int8_agreement(embedder: str, reader: str, pairs: int, paragraphs: int | None) -> dict[str, Any]:
    """How closely the int8 reader's start and end logits follow fp32's on the context tokens.

    The readers are those an assistant serves at each precision (its default backend), and the
    logits those of ``ExtractiveReader.logits``: the paragraph that answers a SQuAD question, in
    the windows the reader cuts it into, run as the reader runs them.
    """
    import numpy as np

    from docqa.schema import Chunk, RetrievedPassage

    readers, backends = {}, {}
    for precision in ("fp32", "int8"):
        assistant = _assistant("squad", paragraphs, embedder, reader, precision)
        assistant.warm_up()
        readers[precision], backends[precision] = assistant.reader, model_backends(assistant)["reader_backend"]
    correlations: dict[str, list[float]] = {"start": [], "end": []}
    spreads: list[float] = []
    same_span = 0
    for question, context in squad_question_contexts(pairs):
        chunk = Chunk(source="agreement", index=0, text=context, start=0, end=len(context))
        passage = RetrievedPassage(chunk=chunk, score=1.0, title="", date=None)
        logits = {precision: loaded.logits(question, [passage]) for precision, loaded in readers.items()}
        fp32, int8 = logits["fp32"], logits["int8"]
        in_context = fp32.context_mask  # the same tokenizer cuts the same windows at both precisions
        for name in ("start", "end"):
            fp32_values, int8_values = getattr(fp32, name)[in_context], getattr(int8, name)[in_context]
            correlations[name].append(float(np.corrcoef(fp32_values, int8_values)[0, 1]))
            spreads.append(float(fp32_values.std()))
        same_span += _best_span(fp32) == _best_span(int8)
    count = len(correlations["start"])
    return {
        "pairs": count,
        "reader_backends": backends,
        **{
            f"pearson_{name}": {
                "mean": round(float(np.mean(values)), 4),
                "min": round(float(np.min(values)), 4),
            }
            for name, values in correlations.items()
        },
        "same_best_span_fraction": round(same_span / count, 3),
        "fp32_logit_std": round(float(np.mean(spreads)), 4),
        "note": "random weights: a trained model's logits are spread differently, so its agreement may differ",
    }


def _best_span(logits: Any) -> tuple[int, int, int]:
    """(window, first token, last token) of the best span over every window of ``WindowLogits``."""
    from naive_reader import MAX_ANSWER_TOKENS, best_span

    scored = [
        (best_span(logits.start[w], logits.end[w], logits.context_mask[w], MAX_ANSWER_TOKENS), w)
        for w in range(len(logits.start))
    ]
    (first, last, _), window = max(scored, key=lambda item: item[0][2])
    return window, first, last
