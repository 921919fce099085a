"""Indexing: documents and passages per second and peak memory, against plain sentence-transformers.

docqa indexes every SQuAD paragraph as a Document through ``Assistant.index`` (chunking,
embedding, SQLite and FTS5 writes, the FAISS file), with its default settings and the model
already loaded, then again with ``--precision int8``. The baseline encodes the
same passages with ``SentenceTransformer.encode`` as shipped: fp32 at its default batch size.
Each side runs in its own process, so each peak RSS is its own. The embedder's share of docqa's
time is the ``embed`` stage of the run's ``IndexReport.timings``; the baseline's passages are those
docqa's chunker makes of the same documents with the default settings.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import (
    MIB,
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
