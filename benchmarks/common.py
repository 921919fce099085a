"""Shared plumbing of the benchmarks: paths, progress output, statistics, child processes, data."""

from __future__ import annotations

import functools
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
SHARED_DIR = ROOT.parent / "shared"
RESULTS_DIR = BENCH_DIR / "results"
MODELS_DIR = BENCH_DIR / ".models"  # built models, reused between runs
WORK_DIR = BENCH_DIR / ".work"  # indexes and scratch files
CORPUS_DIR = ROOT / "corpus"
SQUAD_PATH = SHARED_DIR / "eval" / "squad-v1.1-dev-part-a.json"
SEED_EXAMPLES_PATH = ROOT / "tests" / "seed_examples.json"
SQUAD_INDEX_DIR = WORK_DIR / "squad-index"  # built by the indexing benchmark, read by the others
SHIPPED_INDEX_DIR = WORK_DIR / "corpus-index"
SEED = 0
MIB = 1024 * 1024


@dataclass(frozen=True)
class Plan:
    """How much each benchmark measures; ``quick`` is a smoke run of a minute or two."""

    quick: bool
    squad_paragraphs: int | None  # None: every paragraph of the SQuAD part
    seed_questions: int
    squad_questions: int
    latency_rounds: int  # each question is asked this many times (the latency benchmark asks each once)
    top_ks: tuple[int, ...]
    compare_base_reader: bool
    agreement_pairs: int
    scale_sizes: tuple[int, ...]
    scale_queries: int
    cold_start_repeats: int
    update_sizes: tuple[int, ...]  # bench_updates.py

    @classmethod
    def create(cls, quick: bool) -> Plan:
        if quick:
            return cls(
                quick=True,
                squad_paragraphs=30,
                seed_questions=2,
                squad_questions=2,
                latency_rounds=1,
                top_ks=(1, 3),
                compare_base_reader=False,
                agreement_pairs=3,
                scale_sizes=(1_000, 10_000),
                scale_queries=30,
                cold_start_repeats=1,
                update_sizes=(1_000, 10_000),
            )
        return cls(
            quick=False,
            squad_paragraphs=None,
            seed_questions=9,
            squad_questions=100,
            latency_rounds=1,
            top_ks=(3, 5),
            compare_base_reader=True,
            agreement_pairs=30,
            scale_sizes=(1_000, 10_000, 100_000, 1_000_000),
            scale_queries=200,
            cold_start_repeats=2,
            update_sizes=(1_000, 10_000, 100_000, 1_000_000),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Write a benchmark's ``record`` as indented JSON to ``path``, making its folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def seed_everything(seed: int = SEED) -> None:
    random.seed(seed)
    import numpy as np

    np.random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def latency_stats(seconds: Sequence[float]) -> dict[str, float | int]:
    """Median, 95th percentile (``docqa.stats.percentile``, as ``docqa eval``) and mean in milliseconds."""
    from docqa.stats import percentile

    if not seconds:
        return {"n": 0}
    values = [1000.0 * value for value in seconds]
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50), 3),
        "p95_ms": round(percentile(values, 95), 3),
        "mean_ms": round(sum(values) / len(values), 3),
    }


def peak_rss_bytes() -> int:
    """The highest resident set size this process has had (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss_bytes() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def model_backends(assistant: Any) -> dict[str, str | None]:
    """What runs each of the assistant's models (``torch``, ``onnx``), as the models report it."""
    return {
        "embedder_backend": getattr(assistant.embedder, "active_backend", None),
        "reader_backend": getattr(assistant.reader, "active_backend", None),
    }


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def run_child(module: str, function: str, **arguments: Any) -> dict[str, Any]:
    """Run ``module.function(**arguments)`` in a fresh Python process and return its result.

    A fresh process gives each measurement its own peak RSS and no state left by the others.
    The result carries ``peak_rss_bytes`` and ``wall_seconds`` of the child.
    """
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    request = WORK_DIR / f"request-{module}-{function}.json"
    response = WORK_DIR / f"response-{module}-{function}.json"
    request.write_text(json.dumps(arguments, default=str))
    response.unlink(missing_ok=True)
    started = time.perf_counter()
    command = [sys.executable, str(BENCH_DIR / "child.py"), module, function, str(request), str(response)]
    completed = subprocess.run(command, cwd=ROOT, env=child_environment(), check=False)
    if completed.returncode != 0 or not response.exists():
        raise RuntimeError(f"{module}.{function} failed with exit status {completed.returncode}")
    result = json.loads(response.read_text())
    result["wall_seconds"] = round(time.perf_counter() - started, 3)
    return result


def child_environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment.update(
        HF_HUB_OFFLINE="1",  # every model is a local folder; never wait on the network
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        TRANSFORMERS_VERBOSITY="error",
        PYTHONHASHSEED=str(SEED),
    )
    return environment


# ----- data -------------------------------------------------------------------------------


def squad_available() -> bool:
    return SQUAD_PATH.exists()


@functools.cache
def _squad() -> Any:
    """The SQuAD part, read once a process by ``docqa eval``'s own reader."""
    from docqa.evaluation.squad import load_squad

    return load_squad(SQUAD_PATH)


def benchmark_corpus_name() -> str:
    return "SQuAD 1.1 dev part a" if squad_available() else "shipped corpus (no ../shared/eval)"


def benchmark_documents(limit: int | None) -> list[Any]:
    """The documents of the indexing, serving and latency benchmarks: SQuAD paragraphs when the
    data is there, else the shipped corpus."""
    if squad_available():
        return squad_documents(limit)
    from docqa.documents import load_documents

    return load_documents(CORPUS_DIR)[0]


def squad_documents(limit: int | None) -> list[Any]:
    """The SQuAD paragraphs (the first ``limit``) as documents, named as ``docqa eval`` names them."""
    documents = _squad().documents
    return list(documents[:limit] if limit else documents)


def squad_questions(count: int, paragraph_limit: int | None) -> list[str]:
    """A fixed random sample of questions about the indexed paragraphs."""
    sources = {document.source for document in squad_documents(paragraph_limit)}
    questions = [question.question for question in _squad().questions if question.source in sources]
    return random.Random(SEED).sample(questions, min(count, len(questions)))


def squad_question_contexts(count: int) -> list[tuple[str, str]]:
    """A fixed random sample of (question, the paragraph that answers it)."""
    squad = _squad()
    contexts = {document.source: document.text for document in squad.documents}
    pairs = [(question.question, contexts[question.source]) for question in squad.questions]
    return random.Random(SEED + 1).sample(pairs, min(count, len(pairs)))


def seed_questions() -> list[str]:
    """The example questions about the shipped corpus, answerable ones and not."""
    examples = json.loads(SEED_EXAMPLES_PATH.read_text(encoding="utf-8"))
    return [item["q"] for item in examples["questions"]] + list(examples.get("unanswerable", []))


def corpus_texts() -> list[str]:
    """Text to train fallback tokenizers on: the shipped corpus and, where present, SQuAD."""
    texts = [path.read_text(encoding="utf-8") for path in sorted(CORPUS_DIR.glob("*.txt"))]
    if squad_available():
        texts += [document.text for document in _squad().documents]
    return texts
