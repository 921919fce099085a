"""The two passage stores side by side: the embedded store (SQLite, FTS5, FAISS) and Milvus Lite.

``python benchmarks/bench_stores.py`` (``--help`` for the options) writes ``results/stores.json``
and ``results/stores.md``. Everything goes through docqa's public calls: ``open_store`` and a
store's ``writer`` to load, ``Retriever`` and the store's searches to query, ``Assistant.index``
for the documents of the agreement part.

- scale: index time, BM25 / dense / hybrid p50 and p95 (top 5), memory and disk at 10k and 100k
  synthetic passages for both stores (the text and vectors of ``bench_scale``), and the embedded
  store's BM25 at 1M passages, ranked as docqa ranks it and exhaustively (the query before the
  pruning of ``docqa.store.sqlite_bm25``; set by raising its ``SCORED_ROWS``), in the same run.
- agreement: on the seed examples (shipped corpus) and the SQuAD reader-split dev paragraphs, with
  the trained embedder of ``../shared/weights``: recall@5 of each store and method, and how far the
  two stores' top 5 agree (passages named by file and position, since the stores number them apart).
- BM25 recall@5 of the embedded store on SQuAD, exhaustive and pruned, with the pruning forced on
  every query (a limit of 50 passages) to show what it costs where it applies.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from common import (
    MIB,
    RESULTS_DIR,
    ROOT,
    SHARED_DIR,
    SQUAD_PATH,
    WORK_DIR,
    current_rss_bytes,
    latency_stats,
    log,
    run_child,
    write_record,
)
from common import folder_size as _folder_size

READER_SPLIT_DEV = SHARED_DIR / "eval" / "reader-split" / "dev-v1.1.json"
EMBEDDER = SHARED_DIR / "weights" / "all-MiniLM-L6-v2"
SYNTHETIC_MODEL = "synthetic-random-unit-vectors"
KINDS = {"sqlite": "{folder}", "milvus-lite": "{folder}.db"}
MODES = ("bm25", "dense", "hybrid")
TOP_K = 5
FORCED_LIMIT = 50  # SCORED_ROWS for the forced-pruning recall


def location(kind: str, folder: Path) -> str:
    return KINDS[kind].format(folder=folder)


def folder_size(path: Path) -> int:
    return _folder_size(path) if path.is_dir() else (path.stat().st_size if path.exists() else 0)


# ----- scale ------------------------------------------------------------------------------


def build(kind: str, folder: str, passages: int, vectors: bool) -> dict[str, Any]:
    """Bulk-load ``passages`` synthetic passages through one write session of a fresh store."""
    import bench_scale

    from docqa.store import IndexSettings, open_store

    where = location(kind, Path(folder))
    shutil.rmtree(where, ignore_errors=True)
    Path(f"{where}.lock").unlink(missing_ok=True)
    store = open_store(where)
    settings = IndexSettings(SYNTHETIC_MODEL if vectors else "none", 200, 1)
    generate = 0.0
    started = time.perf_counter()
    with store.writer(settings, rebuild=True) as writer:
        first = 0
        generating = time.perf_counter()
        for texts, batch_vectors in bench_scale.passage_batches(passages):
            generate += time.perf_counter() - generating
            documents, chunks = bench_scale._records(texts, first)
            writer.add(documents, chunks, batch_vectors if vectors else None)
            first += len(texts)
            generating = time.perf_counter()
    committed = time.perf_counter()
    count = store.count_passages()
    store.close()
    if count != passages:
        raise RuntimeError(f"{kind} holds {count} passages, not {passages}")
    return {
        "index_seconds": round(committed - started - generate, 1),
        "disk_mib": round(folder_size(Path(where)) / MIB, 1),
    }


def measure(kind: str, folder: str, queries: int, exhaustive_too: bool) -> dict[str, Any]:
    """Open the store as a fresh process would and time its searches through the retriever."""
    import bench_scale

    from docqa.retrieval import Retriever
    from docqa.store import open_store, sqlite_bm25

    texts, vectors = bench_scale.synthetic_queries(queries)
    rss_before = current_rss_bytes()
    started = time.perf_counter()
    store = open_store(location(kind, Path(folder)))
    modes = MODES if store.has_vectors() else ("bm25",)
    retriever = Retriever(store, bench_scale.QueryVectors(texts, vectors))
    retriever.retrieve(texts[0], top_k=TOP_K, mode=modes[-1])  # Milvus Lite loads its collections here
    opened = time.perf_counter() - started
    samples: dict[str, list[float]] = {mode: [] for mode in modes}
    found: dict[str, list[list[int]]] = {"bm25": []}
    for text in texts:
        for mode in modes:
            began = time.perf_counter()
            passages = retriever.retrieve(text, top_k=TOP_K, mode=mode)
            samples[mode].append(time.perf_counter() - began)
            if mode == "bm25":
                found["bm25"].append([p.chunk.id for p in passages])
    result: dict[str, Any] = {
        "open_and_first_query_seconds": round(opened, 2),
        "latency": {mode: latency_stats(values) for mode, values in samples.items()},
        "rss_mib": round(current_rss_bytes() / MIB, 1),
        "rss_delta_mib": round((current_rss_bytes() - rss_before) / MIB, 1),
    }
    if exhaustive_too:
        sqlite_bm25.SCORED_ROWS = 10**12  # every matching passage ranked: the query as it was before
        exhaustive, agree = [], []
        for text, pruned in zip(texts, found["bm25"], strict=True):
            began = time.perf_counter()
            passages = retriever.retrieve(text, top_k=TOP_K, mode="bm25")
            exhaustive.append(time.perf_counter() - began)
            agree.append(len(set(pruned) & {p.chunk.id for p in passages}) / TOP_K)
        result["bm25_exhaustive"] = latency_stats(exhaustive)
        result["bm25_top5_agreement_with_exhaustive"] = round(sum(agree) / len(agree), 4)
    store.close()
    return result


def scale(sizes: list[int], bm25_size: int | None, queries: int, kinds: list[str]) -> list[dict[str, Any]]:
    rows = []
    plan = [(kind, size, True) for size in sizes for kind in kinds]
    if bm25_size:
        plan.append(("sqlite", bm25_size, False))
    for kind, size, vectors in plan:
        folder = WORK_DIR / f"stores-{kind}-{size}"
        log(f"stores: loading {size:,} passages into {kind}{'' if vectors else ' (text only)'}")
        built = run_child("bench_stores", "build", kind=kind, folder=str(folder), passages=size, vectors=vectors)
        log(f"stores: {kind} {size:,}: indexed in {built['index_seconds']} s; searching")
        searched = run_child(
            "bench_stores", "measure", kind=kind, folder=str(folder), queries=queries, exhaustive_too=not vectors
        )
        log(
            f"stores: {kind} {size:,}: p50 ms "
            + ", ".join(f"{m} {v['p50_ms']}" for m, v in searched["latency"].items())
        )
        load = [round(value, 1) for value in os.getloadavg()]
        rows.append(
            {"kind": kind, "passages": size, "vectors": vectors, "build": built, "search": searched, "load": load}
        )
        shutil.rmtree(location(kind, folder), ignore_errors=True)
    return rows


# ----- agreement --------------------------------------------------------------------------


def agreement(squad_path: str, seed_path: str) -> dict[str, Any]:
    """Both stores built by ``Assistant.index`` with the trained embedder; their top 5 compared."""
    from docqa.assistant import Assistant
    from docqa.evaluation.squad import load_squad

    squad = load_squad(squad_path)
    seed = json.loads(Path(seed_path).read_text(encoding="utf-8"))["questions"]
    from docqa.documents import load_documents

    corpus = load_documents(ROOT / "corpus")[0]
    sets = {
        "seed examples": (corpus, [(q["q"], lambda s, p=q["src"]: s.startswith(p)) for q in seed]),
        "SQuAD reader-split dev": (
            squad.documents,
            [(q.question, lambda s, g=q.source: s == g) for q in squad.questions],
        ),
    }
    report: dict[str, Any] = {}
    for name, (documents, questions) in sets.items():
        stores = {}
        for kind in KINDS:
            folder = WORK_DIR / f"agreement-{kind}-{len(documents)}"
            shutil.rmtree(location(kind, folder), ignore_errors=True)
            assistant = Assistant(
                ROOT / "corpus", WORK_DIR / "agreement-models", str(EMBEDDER), "none", store=location(kind, folder)
            )
            began = time.perf_counter()
            assistant.index(documents=documents, rebuild=True)
            log(f"stores: {name}: {kind} indexed in {time.perf_counter() - began:.1f} s")
            stores[kind] = assistant
        embedder = stores["sqlite"].embedder
        assert embedder is not None
        report[name] = _compare(stores, embedder, questions)
        for assistant in stores.values():
            assistant.close()
    return report


def _compare(stores: dict[str, Any], embedder: Any, questions: list[tuple[str, Any]]) -> dict[str, Any]:
    hits: dict[tuple[str, str], list[list[tuple[str, int]]]] = {}
    for question, _ in questions:
        vector = embedder.encode_query(question)
        for kind, assistant in stores.items():
            store = assistant.store
            for mode, found in (
                ("bm25", store.search_bm25(question, TOP_K)),
                ("dense", store.search_dense(vector, TOP_K)),
            ):
                passages = store.passages([(i, s, None, None) for i, s in found])
                hits.setdefault((kind, mode), []).append([(p.chunk.source, p.chunk.index) for p in passages])
    result: dict[str, Any] = {"questions": len(questions), "passages": stores["sqlite"].store.count_passages()}
    for mode in ("bm25", "dense"):
        sqlite_hits, milvus_hits = hits[("sqlite", mode)], hits[("milvus-lite", mode)]
        overlap = [len(set(a) & set(b)) / TOP_K for a, b in zip(sqlite_hits, milvus_hits, strict=True)]
        result[mode] = {
            "recall_at_5": {
                kind: round(
                    sum(
                        any(is_gold(s) for s, _ in top)
                        for top, (_, is_gold) in zip(hits[(kind, mode)], questions, strict=True)
                    )
                    / len(questions),
                    4,
                )
                for kind in KINDS
            },
            "same_first_passage": round(
                sum(bool(a and b and a[0] == b[0]) for a, b in zip(sqlite_hits, milvus_hits, strict=True))
                / len(questions),
                4,
            ),
            "top5_overlap": round(sum(overlap) / len(overlap), 4),
            "identical_top5": round(
                sum(a == b for a, b in zip(sqlite_hits, milvus_hits, strict=True)) / len(questions), 4
            ),
        }
    return result


def bm25_recall(paths: list[str]) -> dict[str, Any]:
    """BM25 recall@5 of the embedded store on SQuAD files: exhaustive, as docqa runs, pruning forced."""
    from docqa.assistant import Assistant
    from docqa.evaluation.squad import load_squad
    from docqa.store import sqlite_bm25

    results = {}
    for path in paths:
        squad = load_squad(path)
        folder = WORK_DIR / f"recall-{Path(path).stem}"
        shutil.rmtree(folder, ignore_errors=True)
        assistant = Assistant(ROOT / "corpus", folder, "none", "none")
        assistant.index(documents=squad.documents, rebuild=True)
        store, row = assistant.store, {}
        for label, limit in (
            ("exhaustive", 10**12),
            ("as run", sqlite_bm25.SCORED_ROWS),
            ("pruning forced", FORCED_LIMIT),
        ):
            saved, sqlite_bm25.SCORED_ROWS = sqlite_bm25.SCORED_ROWS, limit
            found = 0
            for question in squad.questions:
                hits = store.search_bm25(question.question, TOP_K)
                found += any(
                    p.chunk.source == question.source for p in store.passages([(i, s, 1, None) for i, s in hits])
                )
            row[label] = round(100 * found / len(squad.questions), 2)
            sqlite_bm25.SCORED_ROWS = saved
        results[Path(path).name] = {"questions": len(squad.questions), "passages": store.count_passages(), **row}
        assistant.close()
    return results


# ----- the run ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compare the embedded store with Milvus Lite.")
    parser.add_argument("--sizes", default="10000,100000", help="passage counts for both stores")
    parser.add_argument(
        "--bm25-size", type=int, default=1_000_000, help="the embedded store's text-only size (0: none)"
    )
    parser.add_argument("--queries", type=int, default=100, help="queries a mode and size")
    parser.add_argument("--kinds", default=",".join(KINDS), help="stores of the scale part")
    parser.add_argument("--skip", action="append", default=[], choices=["scale", "agreement", "recall"])
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    from run import machine, source_state

    started, load = time.perf_counter(), os.getloadavg()
    # A run of some parts keeps the other parts' results of an earlier run.
    saved = RESULTS_DIR / "stores.json"
    record: dict[str, Any] = json.loads(saved.read_text()) if saved.exists() else {}
    record.update(machine=machine(), source=source_state(), load_average_before=load)
    if "recall" not in args.skip:
        record["bm25_recall"] = run_child("bench_stores", "bm25_recall", paths=[str(SQUAD_PATH), str(READER_SPLIT_DEV)])
    if "agreement" not in args.skip:
        record["agreement"] = run_child(
            "bench_stores",
            "agreement",
            squad_path=str(READER_SPLIT_DEV),
            seed_path=str(ROOT / "tests" / "seed_examples.json"),
        )
    if "scale" not in args.skip:
        sizes = [int(size) for size in args.sizes.split(",") if size]
        fresh = scale(sizes, args.bm25_size or None, args.queries, args.kinds.split(","))
        # New rows replace the earlier run's rows of the same store and size; the others stay.
        measured = {(row["kind"], row["passages"], row["vectors"]) for row in fresh}
        earlier = [
            row for row in record.get("scale", []) if (row["kind"], row["passages"], row["vectors"]) not in measured
        ]
        record["scale"] = sorted(earlier + fresh, key=lambda row: (not row["vectors"], row["passages"], row["kind"]))
    record.update(seconds=round(time.perf_counter() - started), load_average_after=os.getloadavg())
    write_record(RESULTS_DIR / "stores.json", record)
    (RESULTS_DIR / "stores.md").write_text(markdown(record))
    log(f"stores: done in {record['seconds']} s; results/stores.json and results/stores.md")
    return 0


def markdown(record: dict[str, Any]) -> str:
    host = record["machine"]
    lines = [
        "# Passage stores: embedded (SQLite, FTS5, FAISS) and Milvus Lite",
        "",
        f"{host['cpu']}, {host['logical_cores']} cores, {host['ram_gib']} GiB; load average "
        f"{record['load_average_before'][0]:.1f} before, {record['load_average_after'][0]:.1f} after; "
        f"{record['seconds']} s; docqa {record['source']['commit']}.",
        "",
    ]
    if "scale" in record:
        lines += [
            "| store | passages | index s | open + first query s | BM25 p50 / p95 ms | dense p50 / p95 ms "
            "| hybrid p50 / p95 ms | RSS MiB | disk MiB | load average |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in record["scale"]:
            latency, search = row["search"]["latency"], row["search"]
            cells = [f"{latency[m]['p50_ms']:.1f} / {latency[m]['p95_ms']:.1f}" if m in latency else "-" for m in MODES]
            lines.append(
                f"| {row['kind']}{'' if row['vectors'] else ' (text only)'} | {row['passages']:,} | "
                f"{row['build']['index_seconds']} | {search['open_and_first_query_seconds']} | {' | '.join(cells)} | "
                f"{search['rss_mib']} | {row['build']['disk_mib']} | {row.get('load', ['?'])[0]} |"
            )
            if "bm25_exhaustive" in search:
                ex = search["bm25_exhaustive"]
                lines.append(
                    f"| same, BM25 ranked exhaustively | | | | {ex['p50_ms']:.1f} / {ex['p95_ms']:.1f} | | | | "
                    f"(top-5 agreement {100 * search['bm25_top5_agreement_with_exhaustive']:.1f}%) |"
                )
        lines.append("")
    for rerun in record.get("reruns", []):
        search = rerun["search"]
        lines.append(
            f"{rerun['note']}: BM25 p50 / p95 {search['latency']['bm25']['p50_ms']:.1f} / "
            f"{search['latency']['bm25']['p95_ms']:.1f} ms, exhaustively {search['bm25_exhaustive']['p50_ms']:.1f} / "
            f"{search['bm25_exhaustive']['p95_ms']:.1f} ms (top-5 agreement "
            f"{100 * search['bm25_top5_agreement_with_exhaustive']:.1f}%)"
        )
    if record.get("reruns"):
        lines.append("")
    for name, part in record.get("agreement", {}).items():
        if not isinstance(part, dict):  # the child's own figures (its peak RSS, its time)
            continue
        lines.append(f"**{name}** ({part['questions']} questions, {part['passages']} passages):")
        for mode in ("bm25", "dense"):
            m = part[mode]
            recall = ", ".join(f"{kind} {100 * value:.1f}%" for kind, value in m["recall_at_5"].items())
            lines.append(
                f"- {mode}: recall@5 {recall}; top-5 overlap {100 * m['top5_overlap']:.1f}%, identical top 5 "
                f"{100 * m['identical_top5']:.1f}%, same first passage {100 * m['same_first_passage']:.1f}%"
            )
        lines.append("")
    for name, row in record.get("bm25_recall", {}).items():
        if not isinstance(row, dict):
            continue
        lines.append(
            f"BM25 recall@5, embedded store, {name} ({row['questions']} questions, {row['passages']} passages): "
            f"exhaustive {row['exhaustive']}%, as run {row['as run']}%, pruning forced ({FORCED_LIMIT}) "
            f"{row['pruning forced']}%"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
