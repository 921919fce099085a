"""Run the docqa benchmarks: ``python benchmarks/run.py`` (``--help`` for the options).

Each benchmark writes ``<name>.json`` to the results folder; ``RESULTS.md`` and
``latency_vs_corpus_size.png`` are then written from every result file there.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

import bench_cold_start
import bench_gemm
import bench_http
import bench_indexing
import bench_latency
import bench_memory
import bench_scale
import bench_updates
import report
from common import MIB, RESULTS_DIR, ROOT, WORK_DIR, Plan, log, run_child, write_record
from environment import describe_environment
from models import DEFAULT_READER, describe_models

Benchmark = Callable[[Plan, dict[str, str]], dict[str, Any]]
BENCHMARKS: dict[str, Benchmark] = {
    "indexing": bench_indexing.run,
    "latency": bench_latency.run,
    "scale": bench_scale.run,
    "cold_start": bench_cold_start.run,
    "memory": bench_memory.run,
    "gemm": bench_gemm.run,
    "http": bench_http.run,
    "updates": bench_updates.run,
}
PACKAGES = ("torch", "transformers", "sentence-transformers", "faiss-cpu", "numpy", "tokenizers")
QUICK_RESULTS_DIR = WORK_DIR / "quick-results"


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the docqa benchmarks and write their results.")
    parser.add_argument("--quick", action="store_true", help=f"a smoke run of a minute or two, to {QUICK_RESULTS_DIR}")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BENCHMARKS),
        help="run this benchmark only (repeat the flag for several)",
    )
    parser.add_argument("--scale-sizes", help="comma-separated corpus sizes for the scale benchmark, e.g. 1000,10000")
    parser.add_argument("--update-sizes", help="comma-separated index sizes for the updates benchmark, e.g. 300000")
    parser.add_argument("--out", type=Path, help=f"results folder (default: {RESULTS_DIR.relative_to(ROOT)})")
    return parser.parse_args(argv)


def machine() -> dict[str, Any]:
    import psutil

    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / MIB / 1024, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
    }


def source_state() -> dict[str, Any]:
    """Which docqa source was measured: the commit, and a digest of any uncommitted change to src/."""
    changed = [line[3:] for line in _git("status", "--porcelain", "src").splitlines()]  # "XY path" lines
    digest = hashlib.sha256(_git("diff", "HEAD", "--", "src").encode())
    for name in changed:
        path = ROOT / name
        if path.is_file():  # untracked files are not in the diff
            digest.update(path.read_bytes())
    return {
        "commit": _git("rev-parse", "--short", "HEAD").strip(),
        "changed_files": changed,
        "changes_digest": digest.hexdigest()[:12] if changed else None,
    }


def _children_cpu_seconds() -> float:
    """CPU time (user and system) of the finished child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git(*arguments: str) -> str:
    completed = subprocess.run(["git", *arguments], cwd=ROOT, capture_output=True, text=True, check=False)
    return completed.stdout


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    if importlib.util.find_spec("psutil") is None:  # every benchmark reads memory through it
        print("the benchmarks need psutil: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    plan = Plan.create(args.quick)
    if args.scale_sizes:
        plan = replace(plan, scale_sizes=tuple(int(size) for size in args.scale_sizes.split(",")))
    if args.update_sizes:
        plan = replace(plan, update_sizes=tuple(int(size) for size in args.update_sizes.split(",")))
    out = args.out or (QUICK_RESULTS_DIR if args.quick else RESULTS_DIR)
    out.mkdir(parents=True, exist_ok=True)
    selected = args.only or list(BENCHMARKS)
    host = machine()
    log(f"benchmarks {', '.join(selected)} on {host['cpu']} ({host['logical_cores']} cores); results in {out}")
    started = time.perf_counter()
    models = run_child("models", "build_all", readers=[DEFAULT_READER])["folders"]
    for name in selected:
        log(f"=== {name}")
        load_before, began, cpu_before = os.getloadavg(), time.perf_counter(), _children_cpu_seconds()
        source, environment = source_state(), describe_environment()
        result = BENCHMARKS[name](plan, models)
        record = {
            "benchmark": name,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seconds": round(time.perf_counter() - began, 1),
            "cpu_seconds": round(_children_cpu_seconds() - cpu_before, 1),
            "load_average_before": [round(value, 2) for value in load_before],
            "load_average_after": [round(value, 2) for value in os.getloadavg()],
            "docqa_source": source,
            "machine": host,
            "environment_before": environment,  # CPU flags, thread settings, load
            "environment_after": describe_environment(),
            "models": describe_models(),
            "plan": plan.to_dict(),
            "results": result,
        }
        write_record(out / f"{name}.json", record)
        log(f"=== {name} done in {record['seconds']:.0f} s")
    written = report.write(out)
    log(f"all done in {time.perf_counter() - started:.0f} s: {', '.join(map(str, written))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
