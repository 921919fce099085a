"""Serving memory: resident set size of an assistant with both models and the SQuAD index loaded.

Measured in a fresh process: after the imports, after ``warm_up`` (models loaded, index opened),
and after answering questions at the default top-k (activations, FAISS and SQLite caches). The
peak is the process's highest RSS, reported by the kernel. A first start before it makes whatever
the assistant keeps between runs (such as exported copies of the models), so the measured process
is a restart; the first start's peak is reported too.
"""

from __future__ import annotations

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
    seed_questions,
    squad_available,
    squad_questions,
)
from models import DEFAULT_READER, EMBEDDER

TARGET_MIB = 1536
QUESTIONS = 5


def run(plan: Plan, models: dict[str, str]) -> dict[str, Any]:
    results: dict[str, Any] = {"corpus": benchmark_corpus_name(), "target_mib": TARGET_MIB}
    for precision in ("fp32", "int8"):
        arguments = dict(
            embedder=models[EMBEDDER],
            reader=models[DEFAULT_READER],
            precision=precision,
            paragraphs=plan.squad_paragraphs,
        )
        log(f"memory: a first start with the {precision} reader, which makes any one-time model copies")
        first_start = run_child("bench_memory", "serving_memory", **arguments)
        log(f"memory: serving with the {precision} reader")
        results[precision] = run_child("bench_memory", "serving_memory", **arguments)
        results[precision]["meets_target"] = results[precision]["peak_rss_mib"] <= TARGET_MIB
        results[precision]["first_start_peak_rss_mib"] = first_start["peak_rss_mib"]
    return results


def serving_memory(embedder: str, reader: str, precision: str, paragraphs: int | None) -> dict[str, Any]:
    from docqa.assistant import Assistant

    after_imports = current_rss_bytes()
    assistant = Assistant(WORK_DIR / "squad-corpus", SQUAD_INDEX_DIR, embedder, reader, precision=precision)
    report = assistant.index(documents=benchmark_documents(paragraphs))  # up to date unless run alone
    assistant.warm_up()
    after_warm_up = current_rss_bytes()
    questions = squad_questions(QUESTIONS, paragraphs) if squad_available() else seed_questions()[:QUESTIONS]
    for question in questions:
        assistant.ask(question)
    after_questions = current_rss_bytes()
    return {
        "precision": precision,
        **model_backends(assistant),
        "passages": assistant.status().passages,
        "questions": len(questions),
        "index_built_in_this_process": report.changed,
        "rss_after_imports_mib": round(after_imports / MIB, 1),
        "rss_after_warm_up_mib": round(after_warm_up / MIB, 1),
        "rss_after_questions_mib": round(after_questions / MIB, 1),
        # The kernel's high-water mark can trail the current RSS by a few pages; the peak is the larger.
        "peak_rss_mib": round(max(peak_rss_bytes(), after_questions) / MIB, 1),
    }
