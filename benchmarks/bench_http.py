"""Latency through the running app's HTTP ``/ask``: single questions, and a conversation of 30 turns.

``python benchmarks/bench_http.py`` (a few minutes) starts ``app.py`` on 127.0.0.1 over a copy of the
shipped corpus with the benchmark models (real default architectures, random weights; ``--lexical``
for none), with no readings kept (``DOCQA_READER_CACHE=0``), and asks through ``gradio_client``:

- every question of a fixed list once, alone: the client's round trip against the assistant's own
  total (``timings.total`` of the reply), so the difference is what HTTP and Gradio's queue add;
- one conversation of ``--turns`` turns (30), each sent with the whole history so far, as an API
  client keeps it: the round trip of each turn, so that turn 30 can be set against turn 1.

Writes ``results/http.json`` with the machine, thread settings and load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import RESULTS_DIR, latency_stats, log, seed_questions, write_record
from environment import describe_environment
from load_test import NO_MODEL, Folders, Models, connect, running_app
from models import embedder_folder, reader_folder

PREFIXES = ("", "Tell me: ", "Quick question: ", "Please say: ")  # distinct wordings of the same questions
REQUEST_TIMEOUT_S = 120.0


def questions(count: int) -> list[str]:
    seeds = seed_questions()
    return [prefix + question for prefix in PREFIXES for question in seeds][:count]


def ask(client: Any, question: str, history: list[list[str]] | None = None) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    job = client.submit(question=question, history=history or [], api_name="/ask")
    reply = job.result(timeout=REQUEST_TIMEOUT_S)
    return time.perf_counter() - started, reply


def measure(models: Models, turns: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="docqa-http-") as folder:
        folders = Folders.create(Path(folder))
        with running_app(folders, models) as server:
            client = connect(server.url)
            asked = questions(len(PREFIXES) * len(seed_questions()))
            ask(client, "What is this text about?")  # the first question loads what is left to load
            single: dict[str, list[float]] = {"round_trip": [], "assistant": [], "overhead": []}
            for question in asked[turns:]:  # the conversation's questions are not asked alone first
                seconds, reply = ask(client, question)
                single["round_trip"].append(seconds)
                single["assistant"].append(reply["timings"]["total"])
                single["overhead"].append(seconds - reply["timings"]["total"])
            history: list[list[str]] = []
            conversation = []
            for turn, question in enumerate(asked[:turns], start=1):
                seconds, reply = ask(client, question, history)
                conversation.append({"turn": turn, "round_trip_ms": round(1000 * seconds, 1),
                                     "assistant_ms": round(1000 * reply["timings"]["total"], 1),
                                     "history_turns": len(history)})
                history.append([question, reply["answer"] if "answer" in reply else reply.get("text", "")])
            rss_mib = round(server.rss() / 1024 / 1024, 1)
    first, last = conversation[:5], conversation[-5:]
    return {
        "single_questions": {name: latency_stats(values) for name, values in single.items()},
        "conversation": conversation,
        "turns_1_to_5_median_ms": statistics.median(t["round_trip_ms"] for t in first),
        "last_5_turns_median_ms": statistics.median(t["round_trip_ms"] for t in last),
        "last_over_first": round(statistics.median(t["round_trip_ms"] for t in last)
                                 / statistics.median(t["round_trip_ms"] for t in first), 3),
        "turn_30_over_turn_1": round(conversation[-1]["round_trip_ms"] / conversation[0]["round_trip_ms"], 3),
        "server_rss_mib_after": rss_mib,
    }


def run(plan: Any, models: dict[str, str]) -> dict[str, Any]:
    """For ``run.py``: the benchmark models, 30 turns (6 with ``--quick``)."""
    from models import DEFAULT_READER, EMBEDDER

    served = Models(str(Path(models[EMBEDDER]).resolve()), str(Path(models[DEFAULT_READER]).resolve()))
    return measure(served, 6 if plan.quick else 30)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--lexical", action="store_true", help="no models: BM25 and the sentence reader")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "http.json")
    args = parser.parse_args(argv)
    if args.lexical:
        models = Models(NO_MODEL, NO_MODEL)
    else:
        models = Models(str(embedder_folder().resolve()), str(reader_folder().resolve()))
    before = describe_environment()
    log(f"http: app with {models.label()}, {args.turns} turns")
    measured = measure(models, args.turns)
    command = "python benchmarks/bench_http.py" + (" --lexical" if args.lexical else "")
    record = {"benchmark": "http", "command": command,
              "models": models.label() + ("" if args.lexical else " (real default architectures, random weights)"),
              "environment_before": before, "environment_after": describe_environment(), "results": measured}
    write_record(args.out, record)
    log(f"http: turns 1-5 {measured['turns_1_to_5_median_ms']} ms, last 5 {measured['last_5_turns_median_ms']} ms "
        f"(x{measured['last_over_first']}); written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
