"""Retrieval latency and index memory as the corpus grows, on synthetic passages and vectors.

Text: words drawn with Zipf frequencies (exponent 1) from a fixed vocabulary whose most frequent
words are English function words, 80 to 160 words a passage, ten passages a document. Vectors:
random unit vectors of 384 dimensions. Queries: a question word, "the", and four content words
drawn with the same frequencies from outside the 100 most frequent words (English questions rarely
lean on those), each with its own random unit vector, so query embedding is left out of the
search latency (it is measured apart, with the real-architecture embedder).

The index is docqa's own, loaded through the store's public bulk-load entry: one write session
(``store.writer``) takes the documents, passages and precomputed vectors ``BATCH`` passages at a
time, and its commit builds the FAISS file as a rebuild does (a scan of every vector, kept as 16-bit
floats). What a small update then costs is measured by
``bench_updates.py``. The recall of dense search against exact search is reported at every size.
"""

from __future__ import annotations

import shutil
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
BATCH = 20_000  # passages generated and handed to the store at a time
QUERY_CONTENT_WORDS = 4
QUERY_SKIPS_TOP = 100
TOP_K = 5  # docqa's default
RECALL_AT = 10
MODES = ("bm25", "dense", "hybrid")
LARGE_SIZE = 100_000  # above this, fewer queries are timed
LARGE_QUERIES = 50  # a BM25 query takes a few hundred milliseconds at 1M passages
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
        queries = plan.scale_queries if passages <= LARGE_SIZE else min(plan.scale_queries, LARGE_QUERIES)
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


class QueryVectors:
    """Answers ``encode_query`` with each query's own random vector, so no model runs."""

    def __init__(self, queries: list[str], vectors: np.ndarray) -> None:
        self._vectors = dict(zip(queries, vectors, strict=True))

    def encode_query(self, text: str) -> np.ndarray:
        return self._vectors[text]


# ----- building ---------------------------------------------------------------------------


def build_index(folder: str, passages: int) -> dict[str, Any]:
    """Bulk-load ``passages`` synthetic passages with their vectors through one write session."""
    from docqa.config import Settings
    from docqa.store import IndexSettings, open_store

    path = Path(folder)
    shutil.rmtree(path, ignore_errors=True)
    defaults = Settings()
    settings = IndexSettings(SYNTHETIC_MODEL, defaults.chunk_tokens, defaults.chunk_overlap)
    store = open_store(path)
    generate_seconds = 0.0
    started = time.perf_counter()
    with store.writer(settings, rebuild=True) as writer:
        first = 0
        generating = time.perf_counter()
        for texts, vectors in passage_batches(passages):
            generate_seconds += time.perf_counter() - generating
            documents, chunks = _records(texts, first)
            writer.add(documents, chunks, vectors)
            first += len(texts)
            generating = time.perf_counter()
        added = time.perf_counter()
    committed = time.perf_counter()  # the commit builds and writes the FAISS file, then commits
    _check_ids(store, passages)
    closing = time.perf_counter()
    store.close()  # the last connection: SQLite folds the write-ahead log into the database file
    closed = time.perf_counter()
    insert_seconds = (added - started - generate_seconds) + (closed - closing)
    return {
        "generate_seconds": round(generate_seconds, 2),
        "insert_seconds": round(insert_seconds, 2),
        "insert_passages_per_second": round(passages / insert_seconds, 1),
        "vectors_seconds": round(committed - added, 2),
        "vectors_built_by": "docqa",
    }


def _records(texts: list[str], first: int) -> tuple[list[Any], list[Any]]:
    """Documents of ``PASSAGES_PER_DOCUMENT`` passages each, the ``first`` passage overall opening the batch."""
    from docqa.schema import Chunk, Document

    documents, chunks = [], []
    for offset in range(0, len(texts), PASSAGES_PER_DOCUMENT):
        number = (first + offset) // PASSAGES_PER_DOCUMENT
        source = f"synthetic/{number:07d}.txt"
        parts = texts[offset : offset + PASSAGES_PER_DOCUMENT]
        position = 0
        for index, text in enumerate(parts):
            chunks.append(Chunk(source=source, index=index, text=text, start=position, end=position + len(text)))
            position += len(text) + 2
        whole = "\n\n".join(parts)
        documents.append(
            Document(source=source, text=whole, title=f"Synthetic document {number}", content_hash=f"{number:064x}")
        )
    return documents, chunks


def _check_ids(store: Any, passages: int) -> None:
    """The recall below takes chunk id ``n`` for the ``n``-th passage loaded, as a fresh store numbers them."""
    last = passages - 1
    expected = [
        (1, "synthetic/0000000.txt", 0),
        (passages, f"synthetic/{last // PASSAGES_PER_DOCUMENT:07d}.txt", last % PASSAGES_PER_DOCUMENT),
    ]
    found = [
        (p.chunk.id, p.chunk.source, p.chunk.index)
        for p in store.passages([(i, 0.0, None, None) for i, _, _ in expected])
    ]
    if store.count_passages() != passages or found != expected:
        raise RuntimeError(f"the store numbered the passages otherwise than expected: {found}")


# ----- searching --------------------------------------------------------------------------


def measure_search(folder: str, queries: int) -> dict[str, Any]:
    from docqa.retrieval import Retriever
    from docqa.store import open_store

    path = Path(folder)
    texts, vectors = synthetic_queries(queries)
    rss_before = current_rss_bytes()
    store = open_store(path)
    retriever = Retriever(store, QueryVectors(texts, vectors))
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
    manifest = store.manifest()
    return {
        "latency": {mode: latency_stats(values) for mode, values in samples.items()},
        "first_query_ms": first,
        **_faiss_structure(path / manifest["vectors"]),
        "dense_recall_at_10": _dense_recall(store, vectors, store.count_passages()),
        "rss_before_mib": round(rss_before / MIB, 1),
        "rss_delta_loaded_mib": round((rss_loaded - rss_before) / MIB, 1),
        "rss_delta_after_queries_mib": round((rss_after - rss_before) / MIB, 1),
        "files_mib": {p.name: round(p.stat().st_size / MIB, 1) for p in sorted(path.iterdir()) if p.is_file()},
        "total_files_mib": round(folder_size(path) / MIB, 1),
    }


def _faiss_structure(vectors_file: Path) -> dict[str, Any]:
    """The type of the stored FAISS index (read after the measurements, so it adds nothing to them)."""
    import faiss

    stored = faiss.read_index(str(vectors_file))
    inner = faiss.downcast_index(stored.index) if isinstance(stored, faiss.IndexIDMap2) else stored
    return {"faiss_index": type(inner).__name__}


def _dense_recall(store: Any, queries: np.ndarray, passages: int) -> float:
    """The share of the exact top ``RECALL_AT`` neighbours that docqa's dense search returns."""
    import faiss

    exact = faiss.IndexFlatIP(DIMENSION)
    exact.add(all_vectors(passages))
    _, truth = exact.search(queries, RECALL_AT)
    found = 0
    for query, expected in zip(queries, truth, strict=True):
        returned = {chunk_id - 1 for chunk_id, _ in store.search_dense(query, RECALL_AT)}
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
