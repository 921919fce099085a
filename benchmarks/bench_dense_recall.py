"""Dense recall@10 and search time of approximate FAISS indexes against exact search:
``python benchmarks/bench_dense_recall.py [--size 300000]``.

The vectors are those of ``bench_scale.py`` (random unit vectors of 384 dimensions, the same every run;
the worst case for a graph or for clusters, since nothing in them is near anything else) and the
queries are random unit vectors too. Exact search (``IndexFlatIP``) gives the true top 10 and the
time to beat. Then, each built once and searched one query at a time on one thread as docqa searches:

- the scan of 16-bit floats docqa keeps (``IndexScalarQuantizer``, ``QT_fp16``, as
  ``docqa/store/faiss_vectors.py`` makes it);
- HNSW graphs (``--hnsw M:efConstruction``; docqa built 32:80 above 200k vectors before), with
  ``--ef-search`` values;
- IVF-Flat with ``--ivf-lists`` lists (trained on a sample of the vectors), with ``--nprobe`` values.

``--vectors squad`` takes real-model vectors instead: every sentence of the SQuAD paragraphs and every
question of ``../shared/eval`` (about 13,700 texts, so ``--size`` is ignored) embedded by the trained
all-MiniLM-L6-v2 of ``../shared/weights``, ``--queries`` of the questions held out as the queries; with
``--vectors random-like-squad``, as many random vectors as that, to compare at the same size.

Results: ``benchmarks/results/dense_recall.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from bench_scale import DIMENSION, SEED, all_vectors, unit_vectors
from common import RESULTS_DIR, SHARED_DIR, latency_stats, log, write_record
from environment import describe_environment

RECALL_AT = 10
IVF_TRAINING_PER_LIST = 64  # vectors per list the k-means is trained on


def squad_texts() -> tuple[list[str], list[str]]:
    """(sentences, questions) of the SQuAD files of ``../shared/eval``, each once, in a fixed order."""
    sentences, questions = set(), set()
    for path in sorted((SHARED_DIR / "eval").rglob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for article in data.get("data", []) if isinstance(data, dict) else []:
            for paragraph in article["paragraphs"]:
                sentences.update(s for s in re.split(r"(?<=[.!?])\s+", paragraph["context"]) if len(s) > 20)
                questions.update(qa["question"] for qa in paragraph["qas"])
    return sorted(sentences), sorted(questions)


def squad_vectors(queries: int) -> tuple[np.ndarray, np.ndarray]:
    """(corpus vectors, query vectors) from the trained embedder: sentences and questions, ``queries``
    questions held out."""
    from sentence_transformers import SentenceTransformer

    sentences, questions = squad_texts()
    held = set(np.random.default_rng([SEED, 13]).choice(len(questions), queries, replace=False).tolist())
    corpus = sentences + [q for i, q in enumerate(questions) if i not in held]
    model = SentenceTransformer(str(SHARED_DIR / "weights" / "all-MiniLM-L6-v2"), device="cpu")
    encode = lambda texts: model.encode(texts, batch_size=64, normalize_embeddings=True).astype(np.float32)  # noqa: E731
    return encode(corpus), encode([questions[i] for i in sorted(held)])


def timed_searches(search: Callable[[np.ndarray], np.ndarray], queries: np.ndarray) -> tuple[np.ndarray, list[float]]:
    found, seconds = [], []
    for query in queries:
        started = time.perf_counter()
        found.append(search(query[None, :]))
        seconds.append(time.perf_counter() - started)
    return np.stack(found), seconds


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(row.tolist()) & set(expected.tolist())) for row, expected in zip(found, truth, strict=True))
    return round(hits / truth.size, 4)


def measure(vectors_kind: str, size: int, queries: int, hnsw: list[tuple[int, int]], ef_search: list[int],
            ivf_lists: list[int], nprobe: list[int]) -> dict[str, Any]:  # fmt: skip
    import faiss

    if vectors_kind == "squad":
        vectors, query_vectors = squad_vectors(queries)
        size = len(vectors)
    else:
        if vectors_kind == "random-like-squad":
            sentences, questions = squad_texts()
            size = len(sentences) + len(questions) - queries
        vectors = all_vectors(size)
        query_vectors = unit_vectors(np.random.default_rng([SEED, 11]), queries)
    faiss.omp_set_num_threads(1)
    exact = faiss.IndexFlatIP(DIMENSION)
    exact.add(vectors)
    truth, exact_seconds = timed_searches(lambda q: exact.search(q, RECALL_AT)[1][0], query_vectors)
    log(f"dense recall: exact search {latency_stats(exact_seconds)['p50_ms']} ms p50")
    rows: list[dict[str, Any]] = [{"index": "exact (IndexFlatIP)", "build_seconds": 0.0, "recall_at_10": 1.0,
                                   "search": latency_stats(exact_seconds)}]  # fmt: skip
    threads = os.cpu_count() or 1
    scan = faiss.IndexScalarQuantizer(DIMENSION, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    started = time.perf_counter()
    scan.add(vectors)
    built = time.perf_counter() - started
    found, seconds = timed_searches(lambda q: scan.search(q, RECALL_AT)[1][0], query_vectors)
    rows.append(_row("scan of 16-bit floats (IndexScalarQuantizer QT_fp16)", built, found, truth, seconds))
    for m, ef_construction in hnsw:
        graph = faiss.IndexHNSWFlat(DIMENSION, m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = ef_construction
        faiss.omp_set_num_threads(threads)  # building uses every core, searching one
        started = time.perf_counter()
        graph.add(vectors)
        built = time.perf_counter() - started
        faiss.omp_set_num_threads(1)
        log(f"dense recall: HNSW M {m} efConstruction {ef_construction} built in {built:.0f} s")
        for ef in ef_search:
            graph.hnsw.efSearch = ef
            found, seconds = timed_searches(lambda q, g=graph: g.search(q, RECALL_AT)[1][0], query_vectors)
            rows.append(
                _row(f"HNSW M {m} efConstruction {ef_construction} efSearch {ef}", built, found, truth, seconds)
            )
    for lists in ivf_lists:
        quantizer = faiss.IndexFlatIP(DIMENSION)
        ivf = faiss.IndexIVFFlat(quantizer, DIMENSION, lists, faiss.METRIC_INNER_PRODUCT)
        sample = vectors[
            np.random.default_rng([SEED, 12]).choice(size, min(size, IVF_TRAINING_PER_LIST * lists), replace=False)
        ]
        faiss.omp_set_num_threads(threads)
        started = time.perf_counter()
        ivf.train(sample)
        ivf.add(vectors)
        built = time.perf_counter() - started
        faiss.omp_set_num_threads(1)
        log(f"dense recall: IVF-Flat {lists} lists built in {built:.0f} s")
        for probes in nprobe:
            ivf.nprobe = probes
            found, seconds = timed_searches(lambda q, i=ivf: i.search(q, RECALL_AT)[1][0], query_vectors)
            rows.append(_row(f"IVF-Flat {lists} lists nprobe {probes}", built, found, truth, seconds))
    real = "real-model vectors (trained all-MiniLM-L6-v2, SQuAD sentences and questions)"
    kind = real if vectors_kind == "squad" else "random unit vectors (bench_scale.py)"
    return {"vectors": kind, "size": size, "queries": queries, "dimension": DIMENSION, "rows": rows}


def _row(name: str, built: float, found: np.ndarray, truth: np.ndarray, seconds: list[float]) -> dict[str, Any]:
    row = {"index": name, "build_seconds": round(built, 1), "recall_at_10": recall(found, truth),
           "search": latency_stats(seconds)}  # fmt: skip
    log(f"dense recall: {name}: recall {row['recall_at_10']}, {row['search']['p50_ms']} ms p50")
    return row


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", choices=["random", "squad", "random-like-squad"], default="random")
    parser.add_argument("--size", type=int, default=300_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--hnsw", default="32:80", help="comma-separated M:efConstruction pairs ('' for none)")
    parser.add_argument("--ef-search", default="128,512,2048")
    parser.add_argument("--ivf-lists", default="1024", help="comma-separated list counts ('' for none)")
    parser.add_argument("--nprobe", default="16,64,256")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "dense_recall.json")
    args = parser.parse_args(argv)
    hnsw = [(int(m), int(ef)) for m, ef in (pair.split(":") for pair in args.hnsw.split(",") if pair)]
    before = describe_environment()
    results = measure(
        args.vectors, args.size, args.queries, hnsw, _ints(args.ef_search), _ints(args.ivf_lists), _ints(args.nprobe)
    )
    write_record(args.out, {
        "benchmark": "dense_recall",
        "command": " ".join(["python benchmarks/bench_dense_recall.py", *argv]),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
        "environment_before": before,
        "environment_after": describe_environment(),
        "results": results,
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
