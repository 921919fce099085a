"""Cold start: from launching ``docqa ask`` in a fresh process to its printed answer.

Two cases: the index of the shipped corpus already exists (a restart), and it does not (a first
run, which builds it, and makes whatever the assistant keeps in the index folder, such as exported
copies of the models). Restarts alternate with restarts of the lexical mode (no models) on an index
of its own, so that the two compare under the same load. For scale, the run of a bare interpreter
and of importing the command's module are timed too. The operating system's file cache is warm in
every case: the models were just built or used, and this benchmark does not drop caches on a shared
machine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from typing import Any

from common import CORPUS_DIR, ROOT, WORK_DIR, Plan, child_environment, log, seed_questions
from models import DEFAULT_READER, EMBEDDER

from docqa.stats import percentile

INDEX_DIR = WORK_DIR / "cold-start-index"
LEXICAL_INDEX_DIR = WORK_DIR / "cold-start-lexical-index"


def run(plan: Plan, models: dict[str, str]) -> dict[str, Any]:
    question = seed_questions()[0]
    command = [
        sys.executable, "-m", "docqa.cli", "ask", question, "--json",
        "--corpus", str(CORPUS_DIR), "--index", str(INDEX_DIR),
        "--embedding-model", models[EMBEDDER], "--reader-model", models[DEFAULT_READER],
    ]  # fmt: skip
    repeats = plan.cold_start_repeats
    log(f"cold start: bare interpreter and 'import docqa.cli', {repeats} times each")
    interpreter = _timed([sys.executable, "-c", "pass"], repeats)
    imports = _timed([sys.executable, "-c", "import docqa.cli"], repeats)
    log(f"cold start: 'docqa ask' without an index, {repeats} times")
    first_runs = [_ask(command, fresh_index=True) for _ in range(repeats)]
    log(f"cold start: 'docqa ask' with the index built, and in the lexical mode, {repeats} times each, in turn")
    lexical = [*command[:-4], "--index", str(LEXICAL_INDEX_DIR), "--embedding-model", "none", "--reader-model", "none"]
    _ask(lexical, fresh_index=False)  # builds the lexical index
    restarts, lexical_runs = [], []
    for _ in range(repeats):
        restarts.append(_ask(command, fresh_index=False))
        lexical_runs.append(_ask(lexical, fresh_index=False))
    shutil.rmtree(INDEX_DIR, ignore_errors=True)
    shutil.rmtree(LEXICAL_INDEX_DIR, ignore_errors=True)
    with_index, lexical_mode = _summary(restarts), _summary(lexical_runs)
    return {
        "question": question,
        "python_start_seconds": _median(interpreter),
        "import_docqa_cli_seconds": _median(imports),
        "with_index": with_index,
        "without_index": _summary(first_runs),
        "lexical_mode_with_index": lexical_mode,
        "with_models_over_lexical": round(
            with_index["median_seconds_to_answer"] / lexical_mode["median_seconds_to_answer"], 2
        ),
        "target": "a cold docqa ask with local models <= 3x the lexical mode's, same machine, same run",
    }


def _timed(command: list[str], repeats: int) -> list[float]:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=child_environment(), check=True, capture_output=True)
        seconds.append(time.perf_counter() - started)
    return seconds


def _ask(command: list[str], *, fresh_index: bool) -> dict[str, Any]:
    if fresh_index:
        shutil.rmtree(INDEX_DIR, ignore_errors=True)
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, env=child_environment(), check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    answer = json.loads(completed.stdout)
    timings = answer["timings"]
    return {"seconds": seconds, "answer_total_seconds": timings["total"], "loading_seconds": timings["loading"]}


def _median(values: list[float]) -> float:
    return round(percentile(values, 50), 3)


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "runs": len(runs),
        "median_seconds_to_answer": _median([run["seconds"] for run in runs]),
        "max_seconds_to_answer": round(max(run["seconds"] for run in runs), 3),
        "median_ask_total_seconds": _median([run["answer_total_seconds"] for run in runs]),
        "median_timings_loading_seconds": _median([run["loading_seconds"] for run in runs]),
    }
