"""What one small update costs as the index grows: ``python benchmarks/bench_updates.py [--sizes 1000,10000]``.

For each size, an index of synthetic passages and random unit vectors is built as
``bench_scale.py`` builds it (one bulk write session). Then, in a fresh process, a serving handle
(another ``open_store`` of the folder, as ``docqa serve`` holds) searches once, and ``UPDATES``
updates are written through the store's public writer (``store.writer(settings)``, ``add``,
``remove``): each adds one document of 10 passages, and every other one also removes the document
the previous one added (a file saved again). Timed: the write session from opening to its commit
(``update``), and the serving handle's first dense search after it (``pickup``: what it takes for
the commit to be searchable there). Then one commit large enough to fold the changes into a new
vector file (``fold``), one more small update and the pickup after the fold. Last, dense recall@10
of the serving handle against exact search over every vector then stored, for ``RECALL_QUERIES``
random queries, with the time each search took. Results: ``benchmarks/results/updates.json``.
``benchmarks/run.py`` runs it at ``Plan.update_sizes`` (``--update-sizes`` for 300k or 1M).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from bench_scale import DIMENSION, PASSAGES_PER_DOCUMENT, SYNTHETIC_MODEL, _records, all_vectors, unit_vectors
from common import RESULTS_DIR, WORK_DIR, Plan, latency_stats, log, run_child, write_record

UPDATES = 10
RECALL_QUERIES = 100
RECALL_AT = 10
FOLD_SHARE = 0.05  # an index keeps up to 2,000 changes, or this share of its vector file, beside the file


def fold_passages(passages: int) -> int:
    """Passages one commit adds to pass what an index of ``passages`` keeps beside its vector file."""
    return max(2_000, int(FOLD_SHARE * passages)) + 1_000


def measure_updates(folder: str, passages: int) -> dict[str, Any]:
    from docqa.config import Settings
    from docqa.store import IndexSettings, open_store

    defaults = Settings()
    settings = IndexSettings(SYNTHETIC_MODEL, defaults.chunk_tokens, defaults.chunk_overlap)
    rng = np.random.default_rng([0, 9, passages])
    writer_store, serving = open_store(Path(folder)), open_store(Path(folder))
    stored = dict(enumerate(all_vectors(passages), start=1))  # chunk ids number the passages from 1
    next_id, next_document = passages + 1, passages // PASSAGES_PER_DOCUMENT
    serving.search_dense(unit_vectors(rng, 1)[0], RECALL_AT)  # loaded, as a serving process has it
    manifest_before = writer_store.manifest()

    def update(count: int, replace: tuple[str, list[int]] | None) -> tuple[float, float, tuple[str, list[int]]]:
        nonlocal next_id, next_document
        texts = [f"update passage {next_id + n} about the harbour" for n in range(count)]
        vectors = unit_vectors(rng, count)
        documents, chunks = _records(texts, next_document * PASSAGES_PER_DOCUMENT)
        started = time.perf_counter()
        with writer_store.writer(settings) as writer:
            if replace is not None:
                writer.remove([replace[0]])
            writer.add(documents, chunks, vectors)
        committed = time.perf_counter()
        hits = serving.search_dense(vectors[0], 1)
        picked_up = time.perf_counter()
        if hits[0][0] != next_id:
            raise RuntimeError(f"the serving handle did not find the new passage {next_id}: {hits}")
        if replace is not None:
            for chunk_id in replace[1]:
                del stored[chunk_id]
        ids = list(range(next_id, next_id + count))
        stored.update(zip(ids, vectors, strict=True))
        next_id += count
        next_document += (count + PASSAGES_PER_DOCUMENT - 1) // PASSAGES_PER_DOCUMENT
        return committed - started, picked_up - committed, (documents[0].source, ids[:PASSAGES_PER_DOCUMENT])

    updates, pickups, previous = [], [], None
    for number in range(UPDATES):
        spent, pickup, added = update(PASSAGES_PER_DOCUMENT, previous if number % 2 else None)
        updates.append(spent)
        pickups.append(pickup)
        previous = added
    fold_update, fold_pickup, _ = update(fold_passages(passages), None)
    folded = writer_store.manifest()
    after_update, after_pickup, _ = update(PASSAGES_PER_DOCUMENT, None)
    return {
        "passages": passages,
        "update_10_passages": latency_stats(updates),
        "pickup_by_serving_handle": latency_stats(pickups),
        "fold": {
            "passages_added": fold_passages(passages),
            "commit_seconds": round(fold_update, 3),
            "pickup_seconds": round(fold_pickup, 3),
            "vector_file_before": manifest_before["vectors"],
            "vector_file_after": folded["vectors"],
            "next_update_seconds": round(after_update, 3),
            "next_pickup_seconds": round(after_pickup, 3),
        },
        **_recall(serving, stored, rng),
        "vector_files": sorted(p.name for p in Path(folder).glob("vectors-*.faiss")),
    }


def _recall(store: Any, stored: dict[int, np.ndarray], rng: np.random.Generator) -> dict[str, Any]:
    """Dense recall@10 of ``store`` against exact search over ``stored``, and the time of its searches."""
    import faiss

    ids = np.fromiter(stored, dtype=np.int64)
    exact = faiss.IndexIDMap2(faiss.IndexFlatIP(DIMENSION))
    exact.add_with_ids(np.stack(list(stored.values())).astype(np.float32), ids)
    queries = unit_vectors(rng, RECALL_QUERIES)
    _, truth = exact.search(queries, RECALL_AT)
    found, seconds = 0, []
    for query, expected in zip(queries, truth, strict=True):
        started = time.perf_counter()
        hits = store.search_dense(query, RECALL_AT)
        seconds.append(time.perf_counter() - started)
        found += len({i for i, _ in hits} & set(expected.tolist()))
    return {"dense_recall_at_10_after_updates": round(found / truth.size, 4), "dense_search": latency_stats(seconds)}


TARGETS = "a 10-passage update at 100k <= 2 s and <= 20x its cost at 1k; recall@10 >= 0.95"


def measure_sizes(sizes: Sequence[int]) -> dict[str, Any]:
    """Build an index of each size in turn, measure its updates in a fresh process, and delete it."""
    results = []
    for passages in sizes:
        folder = WORK_DIR / f"updates-{passages}"
        log(f"updates: building a {passages:,}-passage index")
        built = run_child("bench_scale", "build_index", folder=str(folder), passages=passages)
        log(f"updates: built in {built['wall_seconds']:.0f} s; updating")
        measured = run_child("bench_updates", "measure_updates", folder=str(folder), passages=passages)
        log(f"updates: {passages:,}: update p50 {measured['update_10_passages']['p50_ms']} ms")
        results.append({"build": built, **measured})
        shutil.rmtree(folder, ignore_errors=True)
    return {"targets": TARGETS, "sizes": results}


def run(plan: Plan, models: dict[str, str]) -> dict[str, Any]:
    """For ``run.py``: the sizes of ``plan.update_sizes`` (``--update-sizes``); no model is used."""
    return measure_sizes(plan.update_sizes)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "updates.json")
    args = parser.parse_args(argv)
    results = measure_sizes([int(size) for size in args.sizes.split(",")])
    write_record(
        args.out,
        {
            "benchmark": "updates",
            "command": " ".join(["python benchmarks/bench_updates.py", *argv]),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "load_average_after": [round(value, 2) for value in os.getloadavg()],
            "results": results,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
