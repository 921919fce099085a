"""The load test at a small size: ``benchmarks/load_test.py`` runs the app in the lexical mode on
127.0.0.1, sends 8 x 40 questions through ``/ask`` in a steady phase and again while ``docqa index``
updates the index, two rounds of both, and must lose nothing, pick up the new file and keep its memory."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from docqa.stats import percentile

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "load_test.py"
CLIENTS, QUESTIONS = 8, 40
RUN_TIMEOUT_S = 240


def load_test_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("load_test", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


load_test = load_test_module()


@pytest.fixture(scope="module")
def lexical_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    results = tmp_path_factory.mktemp("load-results")
    command = [sys.executable, str(SCRIPT), "--clients", str(CLIENTS), "--questions", str(QUESTIONS),
               "--reindex-documents", "20", "--warm-up-rounds", "1", "--idle", "1", "--request-timeout", "30",
               "--phase-timeout", "90", "--results-dir", str(results)]
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert (results / "load_test.md").read_text(encoding="utf-8").startswith("# Load test")
    return json.loads((results / "load_test.json").read_text(encoding="utf-8"))["runs"]["lexical"]


@pytest.mark.parametrize("phase", ["steady", "reindex"])
def test_every_question_is_answered_with_a_citation_from_its_file(lexical_run: dict[str, Any], phase: str) -> None:
    summary = lexical_run["result"][phase]
    requests = summary["requests"]
    assert len(requests["latency_ms"]) == summary["answered"] == QUESTIONS
    assert requests["error"] == [None] * QUESTIONS
    assert set(requests["client"]) == set(range(CLIENTS))
    assert summary["modes"] == {"sentence": QUESTIONS}
    answerable = [n for n, expected in enumerate(requests["expected_source"]) if expected is not None]
    assert answerable and all(requests["expected_source"][n] and requests["cited"][n] for n in answerable)
    latency = summary["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["max"] == max(requests["latency_ms"])


def test_questions_are_answered_while_docqa_index_runs(lexical_run: dict[str, Any]) -> None:
    reindex = lexical_run["result"]["reindex"]
    assert reindex["passes"] and all(p["returncode"] == 0 for p in reindex["passes"])
    assert reindex["passes"][0]["report"]["added"] == 21  # 20 generated documents and the new file
    assert reindex["in_flight_during_a_pass"] > 0.5


def test_the_new_file_is_answered_from_once_the_reindex_is_done(lexical_run: dict[str, Any]) -> None:
    new = lexical_run["result"]["new_document"]
    assert new["before_reindex"]["error"] is None and new["source"] not in new["before_reindex"]["cited"]
    assert new["after_reindex"]["cited"] == [new["source"]]
    assert "Marigold Okafor" in new["after_reindex"]["answer"]


def test_memory_after_the_run_stays_within_ten_percent(lexical_run: dict[str, Any]) -> None:
    memory = lexical_run["result"]["memory"]
    assert memory["rss_before_mib"] > 0
    assert memory["ratio_after_to_before"] <= 1.10
    assert len(memory["rss_after_each_round_mib"]) == 2 and memory["ratio_over_later_rounds"] <= 1.10
    later = lexical_run["result"]["later_rounds"]
    assert [(r["steady"]["answered"], r["reindex"]["answered"]) for r in later] == [(QUESTIONS, QUESTIONS)]
    assert lexical_run["problems"] == []


def test_the_load_test_takes_the_one_percentile_definition() -> None:
    assert load_test.percentile is percentile
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 50) == 10.5
    assert percentile(values, 95) == pytest.approx(19.05)
    assert percentile([3.0], 95) == 3.0


def test_failed_and_unsent_questions_count_as_lost() -> None:
    answered = load_test.Outcome("q", 0, 0.0, 0.2)
    failed = load_test.Outcome("q", 1, 0.0, 0.1, error="TimeoutError: ")
    summary = load_test.summarise([answered, failed], planned=3, wall_s=1.0)
    assert (summary["answered"], summary["errors"], summary["lost"]) == (1, 1, 2)
    assert summary["error_kinds"] == {"TimeoutError: ": 1}


def test_overlap_counts_requests_in_flight_during_a_pass() -> None:
    during = load_test.Outcome("q", 0, 1.0, 2.0)
    after = load_test.Outcome("q", 0, 3.0, 4.0)
    index_pass = load_test.ReindexPass(1, 0.5, 2.5, 0, None, "")
    assert load_test.overlap_share([during, after], [index_pass]) == 0.5


def test_results_json_keeps_plain_lists_on_one_line() -> None:
    results = {"runs": {"lexical": {"latency_ms": [1.5, 2.0], "passes": [{"report": None}], "empty": {}}}}
    written = load_test.compact_json(results)
    assert json.loads(written) == results
    assert '"latency_ms": [1.5, 2.0]' in written
