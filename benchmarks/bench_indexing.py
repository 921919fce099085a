"""Indexing: documents and passages per second and peak memory, against plain sentence-transformers.

docqa indexes every SQuAD paragraph as a Document through ``Assistant.index`` (chunking,
embedding, SQLite and FTS5 writes, the FAISS file), with its default settings and the model
already loaded, then again with ``--precision int8``. The baseline encodes the
same passages with ``SentenceTransformer.encode`` as shipped: fp32 at its default batch size.
Each side runs in its own process, so each peak RSS is its own.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
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
    baseline = run_child("bench_indexing", "encode_baseline", embedder=models[EMBEDDER], index_dir=str(SQUAD_INDEX_DIR))
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


def passage_texts(index_dir: Path) -> list[str]:
    with sqlite3.connect(index_dir / "index.sqlite") as db:
        return [row[0] for row in db.execute("SELECT text FROM chunks ORDER BY id")]


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
    encoding: list[float] = []  # seconds in each call of the embedder, to tell its share
    encode = assistant.embedder.encode

    def timed_encode(texts: Any, **options: Any) -> Any:
        started = time.perf_counter()
        vectors = encode(texts, **options)
        encoding.append(time.perf_counter() - started)
        return vectors

    assistant.embedder.encode = timed_encode
    started = time.perf_counter()
    report = assistant.index(documents=documents)
    index_seconds = time.perf_counter() - started
    texts = passage_texts(folder)
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
        "embedding_seconds": round(sum(encoding), 3),
        "embedding_passages_per_second": round(report.chunks / sum(encoding), 2),
        "embedder_batch_size": assistant.embedder.batch_size,
        "rss_before_indexing_mib": round(rss_before / MIB, 1),
        "peak_rss_mib": round(peak_rss_bytes() / MIB, 1),
    }


def encode_baseline(embedder: str, index_dir: str) -> dict[str, Any]:
    """Plain ``SentenceTransformer.encode`` (default batch size, fp32) over the indexed passages."""
    import inspect

    from sentence_transformers import SentenceTransformer

    texts = passage_texts(Path(index_dir))
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
