"""How soon a saved file is answerable in the served app: ``python benchmarks/bench_saved_to_answerable.py``.

A corpus folder of ``--passages`` synthetic passages (100,000), ten a file, written as
``bench_scale.py`` generates them, and an index of them bulk-loaded through the store's public writer
(``store.writer``), each document with the hash of its file's bytes, so that the app finds every file
unchanged; both are kept under ``--work`` and reused by the next run with the same settings. With an
embedding model (``--embedding-model benchmark``: the benchmark copy of all-MiniLM-L6-v2, the real
architecture with random weights), the stored vectors are random unit vectors, as in ``bench_scale.py``,
and the files saved are embedded by the model; with ``none`` (the default) the app searches by BM25.

Then ``docqa serve`` (``app.py``) serves the folder, watching it, in a child process on 127.0.0.1. A
first fact file is saved and waited for (the warm-up: the app's first update hashes every file). Then,
``--saves`` times: a small text file stating a made-up fact is written into the corpus folder, and the
question about it is sent to the app's ``/ask`` API (``gradio_client``) again and again, ``POLL_PAUSE_S``
apart, until an answer cites the new file. Recorded per save: the seconds from the save to the first
answer citing it, to the app's "Corpus changed" line (the watcher's wait and the update), and the
round trip of the last question.

Last, in a fresh process with the same settings, ``Assistant.index`` takes the same kind of save
``--saves`` times without the app, and its ``IndexReport.timings`` say what the update spent on
scanning, parsing, chunking, embedding and writing. Results: ``benchmarks/results/saved_to_answerable.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from bench_scale import PASSAGES_PER_DOCUMENT, _records, passage_batches
from common import RESULTS_DIR, ROOT, WORK_DIR, log, run_child, write_record
from environment import describe_environment
from load_test import HOST, NO_MODEL, connect, free_port, quiet_environment

TARGET_SECONDS = 3.0
POLL_TIMEOUT_S = 60.0  # a save not answerable by then counts as missed
POLL_PAUSE_S = 0.1  # between a reply and the next question: the app's update is not starved by the asking
START_TIMEOUT_S = 600.0
FACTS = "facts"  # the corpus subfolder of the saved files, emptied before each run
BUILD_VERSION = 1  # bump when the corpus or index built here changes
_SYLLABLES = ["ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "vu", "ze", "bri", "dal", "fen", "gor", "hux"]


def fact(number: int, seed: int) -> tuple[str, str, str]:
    """(file text, question, the name that answers it): made-up words found nowhere else in the corpus."""
    digits = hashlib.sha256(f"{seed}-{number}".encode()).digest()
    word = lambda start: "".join(_SYLLABLES[b % len(_SYLLABLES)] for b in digits[start : start + 3]).capitalize()  # noqa: E731
    place, keeper, surname = word(0), word(3), word(6)
    text = (
        f"Notes on {place} harbour.\n\nThe lighthouse keeper of {place} harbour is {keeper} {surname}. "
        f"{keeper} {surname} took the post after the storm of the previous winter.\n"
    )
    return text, f"Who is the lighthouse keeper of {place} harbour?", f"{keeper} {surname}"


# ----- building (in a child process) -------------------------------------------------------


def index_settings(embedding_model: str) -> Any:
    """The settings the app writes its index with for ``embedding_model`` (a model folder or 'none')."""
    from docqa.config import Settings
    from docqa.store import IndexSettings

    settings = Settings.from_env(embedding_model=embedding_model)
    return IndexSettings(settings.embedding_model, settings.chunk_tokens, settings.chunk_overlap)


def build(corpus: str, index: str, passages: int, embedding_model: str) -> dict[str, Any]:
    """Write the corpus files and bulk-load their passages (with random vectors for a model) in one session."""
    from docqa.store import open_store

    corpus_dir, index_dir = Path(corpus), Path(index)
    shutil.rmtree(corpus_dir, ignore_errors=True)
    shutil.rmtree(index_dir, ignore_errors=True)
    settings = index_settings(embedding_model)
    store = open_store(index_dir)
    started, first = time.perf_counter(), 0
    with store.writer(settings, rebuild=True) as writer:
        for texts, vectors in passage_batches(passages):
            documents, chunks = _records(texts, first)
            hashed = []
            for document in documents:
                path = corpus_dir / document.source
                path.parent.mkdir(parents=True, exist_ok=True)
                data = document.text.encode("utf-8")
                path.write_bytes(data)
                hashed.append(replace(document, content_hash=hashlib.sha256(data).hexdigest()))
            writer.add(hashed, chunks, None if settings.embedding_model == NO_MODEL else vectors)
            first += len(texts)
    count = store.count_passages()
    store.close()
    if count != passages:
        raise RuntimeError(f"the store holds {count} passages, not {passages}")
    return {
        "passages": count,
        "files": passages // PASSAGES_PER_DOCUMENT,
        "seconds": round(time.perf_counter() - started, 1),
    }


def index_timings(corpus: str, index: str, embedding_model: str, saves: int, seed: int) -> dict[str, Any]:
    """What ``Assistant.index`` spends on each of ``saves`` saved fact files, stage by stage, without the app."""
    from docqa import Assistant

    assistant = Assistant(corpus, index, embedding_model, NO_MODEL)
    try:
        started = time.perf_counter()
        first = assistant.index()  # hashes every file once, as the app's first update does
        warm = {"seconds": round(time.perf_counter() - started, 3), "changed": first.changed}
        updates = []
        for number in range(saves):
            text, _, _ = fact(number, seed)
            (Path(corpus) / FACTS / f"timed-{number}.txt").write_text(text, encoding="utf-8")
            started = time.perf_counter()
            report = assistant.index()
            total = time.perf_counter() - started
            if report.added != [f"{FACTS}/timed-{number}.txt"]:
                raise RuntimeError(f"the update added {report.added}")
            updates.append({"total": round(total, 3), **{k: round(v, 3) for k, v in report.timings.items()}})
    finally:
        assistant.close()
    stages = list(updates[0])
    return {
        "first_update": warm,
        "updates": updates,
        "median_seconds": {stage: round(statistics.median(u[stage] for u in updates), 3) for stage in stages},
    }


# ----- serving -----------------------------------------------------------------------------


class ServerLog:
    """The app's output, each line kept with the moment it arrived."""

    def __init__(self, stream: IO[str], copy: Path) -> None:
        self.lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(stream, copy), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str], copy: Path) -> None:
        with copy.open("w", encoding="utf-8") as out:
            for line in stream:
                with self._lock:
                    self.lines.append((time.perf_counter(), line.rstrip("\n")))
                out.write(line)
                out.flush()

    def first_after(self, moment: float, text: str) -> float | None:
        with self._lock:
            return next((when for when, line in self.lines if when >= moment and text in line), None)

    def tail(self, count: int = 40) -> str:
        with self._lock:
            return "\n".join(line for _, line in self.lines[-count:])


def serve(
    corpus: Path, index: Path, embedding_model: str, log_path: Path
) -> tuple[subprocess.Popen[str], ServerLog, str]:
    port = free_port()
    command = [sys.executable, str(ROOT / "app.py"), "--corpus", str(corpus), "--index", str(index),
               "--host", HOST, "--port", str(port), "--embedding-model", embedding_model,
               "--reader-model", NO_MODEL]  # fmt: skip  # watching is the default
    environment = {**quiet_environment(), "PYTHONUNBUFFERED": "1"}  # each line as it is printed
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)  # fmt: skip
    assert process.stdout is not None
    output, url = ServerLog(process.stdout, log_path), f"http://{HOST}:{port}/"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with {process.returncode}:\n{output.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return process, output, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"the app did not answer within {START_TIMEOUT_S:.0f} s:\n{output.tail()}")


def cites(reply: dict[str, Any], source: str, name: str) -> bool:
    return name in reply.get("answer", "") and any(c.get("source") == source for c in reply.get("citations", []))


def save_and_poll(client: Any, output: ServerLog, corpus: Path, number: int, seed: int) -> dict[str, Any]:
    """Save fact file ``number`` and ask about it until an answer cites it."""
    text, question, name = fact(number, seed)
    source = f"{FACTS}/fact-{number}.txt"
    saved = time.perf_counter()
    (corpus / source).write_text(text, encoding="utf-8")
    asked, round_trip = 0, 0.0
    while time.perf_counter() - saved < POLL_TIMEOUT_S:
        sent = time.perf_counter()
        reply = client.submit(question=question, api_name="/ask").result(timeout=POLL_TIMEOUT_S)
        answered = time.perf_counter()
        asked, round_trip = asked + 1, answered - sent
        if not cites(reply, source, name):
            time.sleep(POLL_PAUSE_S)
            continue
        return {"file": source, "saved_at": saved, "answerable_seconds": round(answered - saved, 3),
                "questions_sent": asked, "last_round_trip_seconds": round(round_trip, 3),
                "assistant_total_seconds": round(reply["timings"]["total"], 3)}  # fmt: skip
    return {"file": source, "saved_at": saved, "answerable_seconds": None, "questions_sent": asked, "missed": True}


def wait_for_line(output: ServerLog, text: str, since: float, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.perf_counter() + timeout
    while output.first_after(since, text) is None:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the app did not print {text!r} within {timeout:.0f} s:\n{output.tail()}")
        time.sleep(0.2)


def measure_served(
    corpus: Path, index: Path, embedding_model: str, saves: int, seed: int, work: Path
) -> dict[str, Any]:
    launched = time.perf_counter()
    process, output, url = serve(corpus, index, embedding_model, work / "app.log")
    try:
        wait_for_line(output, "Updated ", launched)  # the start-up update is done: every file hashed
        started = time.perf_counter()
        client = connect(url)
        warm_up = save_and_poll(client, output, corpus, 0, seed)
        log(f"saved->answerable: warm-up answerable after {time.perf_counter() - started:.1f} s")
        timed = []
        for number in range(1, saves + 1):
            time.sleep(3.0)  # the watcher settles; the saves do not run into each other
            timed.append(save_and_poll(client, output, corpus, number, seed))
            log(f"saved->answerable: save {number}: {timed[-1]['answerable_seconds']} s")
        wait_for_line(output, f"added {timed[-1]['file']}", timed[-1]["saved_at"], POLL_TIMEOUT_S)
        for save in [warm_up, *timed]:  # the app prints its update after the update, and answers meanwhile
            saved = save.pop("saved_at")
            reported = output.first_after(saved, f"added {save['file']}")
            save["update_reported_seconds"] = None if reported is None else round(reported - saved, 3)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    return {"warm_up": warm_up, "saves": timed}


def summary(values: list[float | None]) -> dict[str, Any]:
    found = [v for v in values if v is not None]
    if not found:
        return {"n": 0, "missed": len(values)}
    return {"n": len(found), "median": round(statistics.median(found), 3), "max": round(max(found), 3),
            "min": round(min(found), 3), "missed": len(values) - len(found)}  # fmt: skip


def measure(passages: int, embedding: str, saves: int, work: Path) -> dict[str, Any]:
    """Build (or reuse) the corpus and index under ``work``, then measure; the record's results."""
    model = NO_MODEL if embedding == NO_MODEL else str(_model_folder(embedding))
    label = "lexical" if model == NO_MODEL else Path(model).name
    corpus, index = work / f"corpus-{passages}", work / f"index-{passages}-{label}"
    stamp = index / "built-for-benchmark.json"
    wanted = {"passages": passages, "embedding_model": model, "version": BUILD_VERSION}
    built: dict[str, Any] = {"reused": True}
    if not stamp.exists() or json.loads(stamp.read_text()) != wanted:
        log(f"saved->answerable: building {passages:,} passages in {corpus} and {index}")
        built = run_child("bench_saved_to_answerable", "build", corpus=str(corpus), index=str(index),
                          passages=passages, embedding_model=model)  # fmt: skip
        stamp.write_text(json.dumps(wanted))
        log(f"saved->answerable: built in {built['wall_seconds']:.0f} s")
    shutil.rmtree(corpus / FACTS, ignore_errors=True)  # the app's first update removes them from the index
    (corpus / FACTS).mkdir()
    seed = time.time_ns()  # new facts each run: nothing answered before can answer them
    served = measure_served(corpus, index, model, saves, seed, work)
    log("saved->answerable: the same saves through Assistant.index, stage by stage")
    shutil.rmtree(corpus / FACTS, ignore_errors=True)
    (corpus / FACTS).mkdir()
    stages = run_child("bench_saved_to_answerable", "index_timings", corpus=str(corpus), index=str(index),
                       embedding_model=model, saves=saves, seed=seed + 1)  # fmt: skip
    answerable = [save.get("answerable_seconds") for save in served["saves"]]
    return {
        "passages": passages,
        "files": passages // PASSAGES_PER_DOCUMENT,
        "embedding_model": label if model == NO_MODEL else f"{label} (real architecture, random weights)",
        "stored_vectors": None if model == NO_MODEL else "random unit vectors (bench_scale.py)",
        "reader_model": NO_MODEL,
        "pause_between_questions_seconds": POLL_PAUSE_S,
        "build": built,
        "saved_to_answerable_seconds": summary(answerable),
        "saved_to_update_reported_seconds": summary([s.get("update_reported_seconds") for s in served["saves"]]),
        "target_met": all(a is not None and a <= TARGET_SECONDS for a in answerable),
        **served,
        "index_update_without_app": stages,
    }


def _model_folder(embedding: str) -> Path:
    if embedding == "benchmark":
        from models import embedder_folder

        return embedder_folder().resolve()
    return Path(embedding).resolve()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--saves", type=int, default=5)
    parser.add_argument(
        "--embedding-model",
        default=NO_MODEL,
        help="'none' (default), 'benchmark' (all-MiniLM-L6-v2, random weights) or a model folder",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=WORK_DIR / "saved-to-answerable",
        help="where the corpus and index are built and kept for the next run",
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "saved_to_answerable.json")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    before = describe_environment()
    results = measure(args.passages, args.embedding_model, args.saves, args.work.resolve())
    write_record(args.out, {
        "benchmark": "saved_to_answerable",
        "command": "python benchmarks/bench_saved_to_answerable.py " + " ".join(argv),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "target": f"a saved file answerable in the served app within {TARGET_SECONDS:.0f} s at 100k passages",
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
        "environment_before": before,
        "environment_after": describe_environment(),
        "results": results,
    })  # fmt: skip
    log(f"saved->answerable: {results['saved_to_answerable_seconds']}; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
