"""Indexing: documents and passages per second and peak memory, against plain sentence-transformers.

docqa indexes every SQuAD paragraph as a Document through ``Assistant.index`` (chunking,
embedding, SQLite and FTS5 writes, the FAISS file), with its default settings and the model
already loaded, then again with ``--precision int8``. The baseline encodes the
same passages with ``SentenceTransformer.encode`` as shipped: fp32 at its default batch size.
Each side runs in its own process, so each peak RSS is its own. The embedder's share of docqa's
time is the ``embed`` stage of the run's ``IndexReport.timings``; the baseline's passages are those
docqa's chunker makes of the same documents with the default settings.

``python benchmarks/bench_indexing.py --mixed`` measures files read a second instead: ``docqa index
--embedding-model none`` from scratch over the 1,000 mixed files of ``make_mixed_corpus.py``, with one
worker process (``DOCQA_PARSE_WORKERS=1``, as before the pool) and with as many as cores, in turn,
``--repeats`` times each, and a checkout from before the pool with ``--before SRC``; results in
``results/indexing_mixed.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import (
    MIB,
    RESULTS_DIR,
    ROOT,
    SQUAD_INDEX_DIR,
    WORK_DIR,
    Plan,
    benchmark_corpus_name,
    benchmark_documents,
    current_rss_bytes,
    log,
    model_backends,
    peak_rss_bytes,
    run_child,
    write_record,
)
from models import EMBEDDER

WARM_UP_TEXTS = ["A short sentence to load the kernels before timing."] * 4


def run(plan: Plan, models: dict[str, str]) -> dict[str, Any]:
    log("indexing: docqa Assistant.index over the benchmark corpus")
    docqa = run_child(
        "bench_indexing",
        "index_documents",
        embedder=models[EMBEDDER],
        limit=plan.squad_paragraphs,
        index_dir=str(SQUAD_INDEX_DIR),
    )
    log(f"indexing: {docqa['passages_per_second']:.1f} passages/s; again with --precision int8")
    int8 = run_child(
        "bench_indexing",
        "index_documents",
        embedder=models[EMBEDDER],
        limit=plan.squad_paragraphs,
        index_dir=str(WORK_DIR / "squad-index-int8"),
        precision="int8",
    )
    log(f"indexing: int8 {int8['passages_per_second']:.1f} passages/s; now plain SentenceTransformer.encode")
    baseline = run_child("bench_indexing", "encode_baseline", embedder=models[EMBEDDER], limit=plan.squad_paragraphs)
    log(f"indexing: baseline {baseline['passages_per_second']:.1f} passages/s")
    return {
        "corpus": benchmark_corpus_name(),
        "docqa": docqa,
        "docqa_int8": int8,
        "baseline_sentence_transformers": baseline,
        "speedup_index_vs_baseline_encode": round(docqa["passages_per_second"] / baseline["passages_per_second"], 3),
        "speedup_int8_index_vs_baseline_encode": round(
            int8["passages_per_second"] / baseline["passages_per_second"], 3
        ),
    }


def passage_texts(documents: Sequence[Any], settings: Any) -> list[str]:
    """The passages docqa makes of ``documents`` with ``settings`` (a ``docqa.config.Settings``)."""
    from docqa.chunking import chunk_document

    return [
        chunk.text
        for document in documents
        for chunk in chunk_document(
            document, max_tokens=settings.chunk_tokens, overlap_sentences=settings.chunk_overlap
        )
    ]


def index_documents(embedder: str, limit: int | None, index_dir: str, precision: str = "fp32") -> dict[str, Any]:
    """Build the index from scratch through ``Assistant.index``, with the embedder already loaded."""
    from docqa.assistant import Assistant
    from docqa.config import NO_MODEL

    folder = Path(index_dir)
    shutil.rmtree(folder, ignore_errors=True)
    empty_corpus = WORK_DIR / "empty-corpus"
    empty_corpus.mkdir(parents=True, exist_ok=True)
    documents = benchmark_documents(limit)
    assistant = Assistant(empty_corpus, folder, embedder, NO_MODEL, precision=precision)
    started = time.perf_counter()
    assistant.warm_up()  # loads the embedder (and makes any copy of it the backend needs)
    assistant.embedder.encode(WARM_UP_TEXTS)
    load_seconds = time.perf_counter() - started
    rss_before = current_rss_bytes()
    started = time.perf_counter()
    report = assistant.index(documents=documents)
    index_seconds = time.perf_counter() - started
    texts = passage_texts(documents, assistant.settings)
    if len(texts) != report.chunks:
        raise RuntimeError(
            f"docqa's chunker makes {len(texts)} passages of the documents, the index holds {report.chunks}"
        )
    embedding_seconds = report.timings["embed"]
    return {
        "documents": len(documents),
        "passages": report.chunks,
        "mean_passage_chars": round(sum(map(len, texts)) / max(len(texts), 1), 1),
        "precision": precision,
        "embedder_backend": model_backends(assistant)["embedder_backend"],
        "model_load_seconds": round(load_seconds, 3),
        "index_seconds": round(index_seconds, 3),
        "documents_per_second": round(len(documents) / index_seconds, 2),
        "passages_per_second": round(report.chunks / index_seconds, 2),
        "embedding_seconds": round(embedding_seconds, 3),
        "embedding_passages_per_second": round(report.chunks / embedding_seconds, 2),
        "stage_seconds": {stage: round(seconds, 3) for stage, seconds in report.timings.items()},
        "embedder_batch_size": assistant.embedder.batch_size,
        "rss_before_indexing_mib": round(rss_before / MIB, 1),
        "peak_rss_mib": round(peak_rss_bytes() / MIB, 1),
    }


def encode_baseline(embedder: str, limit: int | None) -> dict[str, Any]:
    """Plain ``SentenceTransformer.encode`` (default batch size, fp32) over the passages docqa indexes."""
    import inspect

    from sentence_transformers import SentenceTransformer

    from docqa.config import Settings

    texts = passage_texts(benchmark_documents(limit), Settings())
    model = SentenceTransformer(embedder, device="cpu")
    model.encode(WARM_UP_TEXTS)
    started = time.perf_counter()
    model.encode(texts)
    seconds = time.perf_counter() - started
    return {
        "passages": len(texts),
        "seconds": round(seconds, 3),
        "passages_per_second": round(len(texts) / seconds, 2),
        "batch_size": inspect.signature(SentenceTransformer.encode).parameters["batch_size"].default,
        "max_seq_length": model.max_seq_length,
        "peak_rss_mib": round(peak_rss_bytes() / MIB, 1),
    }


def index_mixed_corpus(corpus: Path, workers: int, source: Path | None = None) -> dict[str, Any]:
    """``docqa index --embedding-model none`` from scratch over ``corpus`` with ``workers`` parsing workers
    (0: as many as cores), from the docqa package in ``source`` when given: wall time and files a second."""
    with tempfile.TemporaryDirectory(prefix="docqa-mixed-index-") as index:
        command = [sys.executable, "-m", "docqa.cli", "index", "--corpus", str(corpus), "--index", index]
        command += ["--embedding-model", "none", "--json"]
        environment = {**os.environ, "DOCQA_PARSE_WORKERS": str(workers)}
        if source is not None:
            environment["PYTHONPATH"] = str(source)
        cpu_before = _children_cpu_seconds()
        started = time.perf_counter()
        completed = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - started
        cpu = _children_cpu_seconds() - cpu_before  # docqa index and its workers, which it waited for
    report = json.loads(completed.stdout)
    return {
        "workers": workers or os.cpu_count(),
        "files": len(report["added"]),
        "skipped": len(report["skipped"]),
        "seconds": round(seconds, 2),
        "files_per_second": round(len(report["added"]) / seconds, 1),
        "cpu_seconds": round(cpu, 2),
        "stage_seconds": {stage: round(value, 2) for stage, value in report.get("timings", {}).items()},
    }


def _children_cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def mixed(repeats: int, before: Path | None = None) -> dict[str, Any]:
    """One worker against as many as cores, in turn, on the mixed corpus; and the docqa package in
    ``before`` (a checkout from before the pool), when given."""
    with tempfile.TemporaryDirectory(prefix="docqa-mixed-") as folder:
        corpus = Path(folder) / "corpus"
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_mixed_corpus.py"), str(corpus)], check=True)
        variants: list[tuple[str, int, Path | None]] = [("one_worker", 1, None), ("pool", 0, None)]
        if before is not None:
            variants.insert(0, ("before_the_pool", 0, before))
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in variants}
        for _ in range(repeats):
            for name, workers, source in variants:
                runs[name].append(index_mixed_corpus(corpus, workers, source))
                log(f"indexing, mixed corpus: {name} {runs[name][-1]['files_per_second']} files/s")
    best = {name: max(run["files_per_second"] for run in found) for name, found in runs.items()}
    return {
        "corpus": "make_mixed_corpus.py: 1,000 files, a quarter each PDF, HTML, Markdown and text",
        "cores": os.cpu_count(),
        "load_average_after": round(os.getloadavg()[0], 1),
        "runs": runs,
        "best_files_per_second": best,
        "speedup_best": round(best["pool"] / best["one_worker"], 2),
        "speedup_best_over_before": round(best["pool"] / best["before_the_pool"], 2) if before else None,
    }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="files a second of docqa index on the mixed corpus")
    parser.add_argument("--mixed", action="store_true", required=True)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--before", type=Path, help="the src folder of a docqa checkout from before the pool")
    options = parser.parse_args()
    result = mixed(options.repeats, options.before)
    write_record(RESULTS_DIR / "indexing_mixed.json", result)
    print(json.dumps(result, indent=2))
