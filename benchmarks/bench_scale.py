"""Retrieval latency and index memory as the corpus grows, on synthetic passages and vectors.

Text: words drawn with Zipf frequencies (exponent 1) from a fixed vocabulary whose most frequent
words are English function words, 80 to 160 words a passage, ten passages a document. Vectors:
random unit vectors of 384 dimensions. Queries: a question word, "the", and four content words
drawn with the same frequencies from outside the 100 most frequent words (English questions rarely
lean on those), each with its own random unit vector, so query embedding is left out of the
search latency (it is measured apart, with the real-architecture embedder).

The index is docqa's own: ``Index.update`` creates it; the passages are then inserted in batches
into its tables (the FTS5 triggers index them as in any update) and the manifest is brought up to
date. Up to ``ENGINE_BUILD_MAX`` vectors the FAISS file is built by docqa itself, which rebuilds it
from the stored embeddings on first search. Beyond that, docqa's HNSW build (M 32, efConstruction
80) takes far longer than this benchmark's budget on two cores, so the benchmark builds the graph
with the same type and M but ``LARGE_EF_CONSTRUCTION``; docqa then loads and tunes it (efSearch)
as its own. Such a graph is also quicker to search (and finds less), so dense latency at that size
is a lower bound. The recall of dense search against exact search is reported at every size.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    MIB,
    SEED,
    WORK_DIR,
    Plan,
    current_rss_bytes,
    folder_size,
    latency_stats,
    log,
    model_backends,
    run_child,
    squad_available,
    squad_questions,
)
from models import EMBEDDER

DIMENSION = 384
VOCABULARY = 100_000
ZIPF_EXPONENT = 1.0
PASSAGE_WORDS = (80, 160)
PASSAGES_PER_DOCUMENT = 10
BATCH = 20_000  # passages generated and inserted per transaction
QUERY_CONTENT_WORDS = 4
QUERY_SKIPS_TOP = 100
TOP_K = 5  # docqa's default
RECALL_AT = 10
MODES = ("bm25", "dense", "hybrid")
ENGINE_BUILD_MAX = 100_000
LARGE_EF_CONSTRUCTION = 16
LARGE_QUERIES = 50  # a BM25 query takes a few hundred milliseconds at 1M passages
HNSW_NEIGHBOURS = 32
SYNTHETIC_MODEL = "synthetic-random-unit-vectors"

FUNCTION_WORDS = """the of and to a in is that for it as was with be by on not he i this are or his from at
which but have an they you were her she there one all we their has been if more when will would who so no""".split()
QUESTION_WORDS = ("what", "which", "who", "when", "where", "how")
_SYLLABLES = [consonant + vowel for consonant in "bdfghklmnprstvz" for vowel in "aeiou"]


def run(plan: Plan, models: dict[str, str]) -> dict[str, Any]:
    sizes = []
    for passages in plan.scale_sizes:
        folder = WORK_DIR / f"scale-{passages}"
        log(f"scale: building a {passages:,}-passage index")
        built = run_child("bench_scale", "build_index", folder=str(folder), passages=passages)
        queries = plan.scale_queries if passages <= ENGINE_BUILD_MAX else min(plan.scale_queries, LARGE_QUERIES)
        log(f"scale: built in {built['wall_seconds']:.0f} s; searching with {queries} queries a mode")
        searched = run_child("bench_scale", "measure_search", folder=str(folder), queries=queries)
        log(f"scale: {passages:,} passages: p50 ms {_p50s(searched)}")
        sizes.append({"passages": passages, "build": built, "search": searched})
        shutil.rmtree(folder, ignore_errors=True)
    log("scale: query embedding time with the real-architecture embedder")
    embedding = run_child("bench_scale", "measure_query_embedding", embedder=models[EMBEDDER], queries=50)
    return {
        "corpus": {
            "vocabulary": VOCABULARY,
            "zipf_exponent": ZIPF_EXPONENT,
            "words_per_passage": list(PASSAGE_WORDS),
            "passages_per_document": PASSAGES_PER_DOCUMENT,
            "dimension": DIMENSION,
            "top_k": TOP_K,
        },
        "target": "dense and hybrid p50 <= 5 ms at 100k passages",
        "sizes": sizes,
        "query_embedding": embedding,
    }


def _p50s(searched: dict[str, Any]) -> dict[str, float]:
    return {mode: searched["latency"][mode]["p50_ms"] for mode in MODES}


# ----- synthetic data ---------------------------------------------------------------------


def _pseudo_word(rank: int) -> str:
    """A made-up word, distinct for every rank: two or more syllables spelling the rank's digits."""
    syllables = []
    while True:
        rank, digit = divmod(rank, len(_SYLLABLES))
        syllables.append(_SYLLABLES[digit])
        if rank == 0:
            break
    return "".join(syllables if len(syllables) > 1 else [*syllables, "ra"])


def vocabulary() -> np.ndarray:
    words = FUNCTION_WORDS + [_pseudo_word(rank) for rank in range(VOCABULARY - len(FUNCTION_WORDS))]
    return np.array(words, dtype=object)


def zipf_probabilities(size: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, size + 1) ** ZIPF_EXPONENT
    return weights / weights.sum()


def unit_vectors(rng: np.random.Generator, count: int) -> np.ndarray:
    vectors = rng.standard_normal((count, DIMENSION), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def passage_batches(passages: int) -> Iterator[tuple[list[str], np.ndarray]]:
    """(texts, vectors) ``BATCH`` passages at a time; the same every run."""
    words = vocabulary()
    probabilities = zipf_probabilities(VOCABULARY)
    text_rng = np.random.default_rng([SEED, 1])
    vector_rng = np.random.default_rng([SEED, 2])
    for start in range(0, passages, BATCH):
        count = min(BATCH, passages - start)
        lengths = text_rng.integers(PASSAGE_WORDS[0], PASSAGE_WORDS[1] + 1, count)
        drawn = text_rng.choice(VOCABULARY, size=int(lengths.sum()), p=probabilities)
        texts = [" ".join(words[part].tolist()) for part in np.split(drawn, np.cumsum(lengths)[:-1])]
        yield texts, unit_vectors(vector_rng, count)


def all_vectors(passages: int) -> np.ndarray:
    vector_rng = np.random.default_rng([SEED, 2])
    return np.concatenate(
        [unit_vectors(vector_rng, min(BATCH, passages - start)) for start in range(0, passages, BATCH)]
    )


def synthetic_queries(count: int) -> tuple[list[str], np.ndarray]:
    words = vocabulary()
    rng = np.random.default_rng([SEED, 3])
    probabilities = zipf_probabilities(VOCABULARY - QUERY_SKIPS_TOP)
    queries = []
    for _ in range(count):
        content = words[QUERY_SKIPS_TOP + rng.choice(len(probabilities), QUERY_CONTENT_WORDS, p=probabilities)]
        queries.append(" ".join([str(rng.choice(QUESTION_WORDS)), "the", *content.tolist()]))
    return queries, unit_vectors(rng, count)


class SyntheticEmbedder:
    """Stands in for the embedder: the index asks it for nothing but its dimension."""

    dimension = DIMENSION

    def encode(self, texts: list[str]) -> np.ndarray:
        return unit_vectors(np.random.default_rng([SEED, 4]), len(texts))


class QueryVectors:
    """Answers ``encode_query`` with each query's own random vector, so no model runs."""

    def __init__(self, queries: list[str], vectors: np.ndarray) -> None:
        self._vectors = dict(zip(queries, vectors, strict=True))

    def encode_query(self, text: str) -> np.ndarray:
        return self._vectors[text]


# ----- building ---------------------------------------------------------------------------


def build_index(folder: str, passages: int) -> dict[str, Any]:
    from docqa.config import Settings
    from docqa.index import Index, IndexSettings

    path = Path(folder)
    shutil.rmtree(path, ignore_errors=True)
    index = Index(path)
    defaults = Settings()
    settings = IndexSettings(SYNTHETIC_MODEL, defaults.chunk_tokens, defaults.chunk_overlap)
    index.update([], settings, embedder=SyntheticEmbedder())
    started = time.perf_counter()
    generate_seconds, manifest = _insert_passages(index.db_path, passages)
    insert_seconds = time.perf_counter() - started - generate_seconds

    started = time.perf_counter()
    if passages > ENGINE_BUILD_MAX:
        vectors_builder = "benchmark (docqa's type and M, smaller efConstruction)"
        _write_large_hnsw(path / manifest["vectors"], passages)
    else:
        vectors_builder = "docqa"
        logging.getLogger("docqa.index").setLevel(logging.ERROR)  # it says it is rebuilding the vectors
        Index(path).search_dense(np.zeros(DIMENSION, dtype=np.float32), 1)
    vectors_seconds = time.perf_counter() - started
    return {
        "generate_seconds": round(generate_seconds, 2),
        "insert_seconds": round(insert_seconds, 2),
        "insert_passages_per_second": round(passages / insert_seconds, 1),
        "vectors_seconds": round(vectors_seconds, 2),
        "vectors_built_by": vectors_builder,
    }


def _insert_passages(database: Path, passages: int) -> tuple[float, dict[str, Any]]:
    """Insert the synthetic documents and passages, a batch a transaction.

    Returns the time spent generating them and the updated manifest."""
    generating = 0.0
    db = sqlite3.connect(database, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")  # a bulk load; the file is the same either way
    try:
        next_id = 1
        started = time.perf_counter()
        for texts, vectors in passage_batches(passages):
            generating += time.perf_counter() - started
            documents, chunks = _rows(texts, vectors, next_id)
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO documents (source, title, date, content_hash, text) VALUES (?, ?, ?, ?, ?)", documents
            )
            db.executemany(
                "INSERT INTO chunks (id, source, position, start, end, text, embedding) VALUES (?, ?, ?, ?, ?, ?, ?)",
                chunks,
            )
            db.execute("COMMIT")
            next_id += len(texts)
            started = time.perf_counter()
        manifest = _complete_manifest(db, passages)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return generating, manifest


def _rows(texts: list[str], vectors: np.ndarray, first_id: int) -> tuple[list[tuple], list[tuple]]:
    documents, chunks = [], []
    for offset in range(0, len(texts), PASSAGES_PER_DOCUMENT):
        number = (first_id + offset - 1) // PASSAGES_PER_DOCUMENT
        source = f"synthetic/{number:07d}.txt"
        parts = texts[offset : offset + PASSAGES_PER_DOCUMENT]
        position = 0
        for index, text in enumerate(parts):
            row_id = first_id + offset + index
            chunks.append(
                (row_id, source, index, position, position + len(text), text, vectors[offset + index].tobytes())
            )
            position += len(text) + 2
        documents.append((source, f"Synthetic document {number}", None, f"{number:064x}", "\n\n".join(parts)))
    return documents, chunks


def _complete_manifest(db: sqlite3.Connection, passages: int) -> dict[str, Any]:
    """Bring the counts of the manifest written by ``Index.update`` up to date with the new rows."""
    manifest = json.loads(db.execute("SELECT value FROM meta WHERE key = 'manifest'").fetchone()[0])
    manifest.update(
        embedding_dimension=DIMENSION,
        vectors_count=passages,
        passages=passages,
        documents=db.execute("SELECT count(*) FROM documents").fetchone()[0],
    )
    db.execute("UPDATE meta SET value = ? WHERE key = 'manifest'", (json.dumps(manifest),))
    return manifest


def _write_large_hnsw(vectors_file: Path, passages: int) -> None:
    import faiss

    inner = faiss.IndexHNSWFlat(DIMENSION, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
    inner.hnsw.efConstruction = LARGE_EF_CONSTRUCTION
    index = faiss.IndexIDMap2(inner)
    index.add_with_ids(all_vectors(passages), np.arange(1, passages + 1, dtype=np.int64))
    faiss.write_index(index, str(vectors_file))


# ----- searching --------------------------------------------------------------------------


def measure_search(folder: str, queries: int) -> dict[str, Any]:
    from docqa.index import Index
    from docqa.retrieval import Retriever

    path = Path(folder)
    texts, vectors = synthetic_queries(queries)
    rss_before = current_rss_bytes()
    index = Index(path)
    retriever = Retriever(index, QueryVectors(texts, vectors))
    first: dict[str, float] = {}
    for mode in MODES:
        started = time.perf_counter()
        retriever.retrieve(texts[0], top_k=TOP_K, mode=mode)
        first[mode] = round((time.perf_counter() - started) * 1000, 2)
    rss_loaded = current_rss_bytes()
    samples: dict[str, list[float]] = {mode: [] for mode in MODES}
    for text in texts:
        for mode in MODES:
            started = time.perf_counter()
            retriever.retrieve(text, top_k=TOP_K, mode=mode)
            samples[mode].append(time.perf_counter() - started)
    rss_after = current_rss_bytes()
    manifest = index.manifest()
    return {
        "latency": {mode: latency_stats(values) for mode, values in samples.items()},
        "first_query_ms": first,
        **_faiss_structure(path / manifest["vectors"]),
        "dense_recall_at_10": _dense_recall(index, vectors, manifest["vectors_count"]),
        "rss_before_mib": round(rss_before / MIB, 1),
        "rss_delta_loaded_mib": round((rss_loaded - rss_before) / MIB, 1),
        "rss_delta_after_queries_mib": round((rss_after - rss_before) / MIB, 1),
        "files_mib": {p.name: round(p.stat().st_size / MIB, 1) for p in sorted(path.iterdir()) if p.is_file()},
        "total_files_mib": round(folder_size(path) / MIB, 1),
    }


def _faiss_structure(vectors_file: Path) -> dict[str, Any]:
    """The type of the stored FAISS index and, for HNSW, its efConstruction (read after the
    measurements, so it adds nothing to them)."""
    import faiss

    stored = faiss.read_index(str(vectors_file))
    inner = faiss.downcast_index(stored.index) if isinstance(stored, faiss.IndexIDMap2) else stored
    hnsw = getattr(inner, "hnsw", None)
    return {"faiss_index": type(inner).__name__, "ef_construction": hnsw.efConstruction if hnsw else None}


def _dense_recall(index: Any, queries: np.ndarray, passages: int) -> float:
    """The share of the exact top ``RECALL_AT`` neighbours that docqa's dense search returns."""
    import faiss

    exact = faiss.IndexFlatIP(DIMENSION)
    exact.add(all_vectors(passages))
    _, truth = exact.search(queries, RECALL_AT)
    found = 0
    for query, expected in zip(queries, truth, strict=True):
        returned = {chunk_id - 1 for chunk_id, _ in index.search_dense(query, RECALL_AT)}
        found += len(returned & set(expected.tolist()))
    return round(found / truth.size, 4)


def measure_query_embedding(embedder: str, queries: int) -> dict[str, Any]:
    """Time the embedder an assistant loads (its default backend) on fresh questions, none cached:
    what dense and hybrid search add per question."""
    from docqa.assistant import Assistant
    from docqa.config import NO_MODEL

    empty_corpus = WORK_DIR / "empty-corpus"
    empty_corpus.mkdir(parents=True, exist_ok=True)
    assistant = Assistant(empty_corpus, WORK_DIR / "query-embedding-index", embedder, NO_MODEL)
    assistant.warm_up()
    texts = squad_questions(queries + 1, None) if squad_available() else synthetic_queries(queries + 1)[0]
    assistant.embedder.encode_query(texts[0])
    samples = []
    for text in texts[1:]:
        started = time.perf_counter()
        assistant.embedder.encode_query(text)
        samples.append(time.perf_counter() - started)
    return {**latency_stats(samples), "embedder_backend": model_backends(assistant)["embedder_backend"]}
