"""Load test of the chat app through its ``/ask`` API, on loopback only.

Starts ``app.py`` on a free port of 127.0.0.1 over a copy of the corpus, then sends questions from
several client threads (one ``gradio_client.Client`` each) in two phases: a steady load, and the
same load while the corpus changes and ``docqa index`` updates the app's index folder from another
process, pass after pass until the load is done (the app's own upload and rebuild buttons are
browser events, not API endpoints). Both phases run ``--rounds`` times (2 by default). Every
request has a timeout and each phase a deadline.

Recorded: per-question latency and errors, p50/p95 and throughput per phase, the server's RSS after
a warm-up, at the end of each round and after the run, and whether a question that only a new file
answers is answered from that file once the re-index is done. Results merge into
``results/load_test.json`` (one entry per model configuration) and ``results/load_test.md`` is
rewritten from it. The exit status is 1 when a question is lost or fails, the new file is not picked
up, or the RSS grows by more than 10% over the run or over the rounds after the first.

    python benchmarks/load_test.py                       # lexical mode: 8 clients, 200 questions
    python benchmarks/load_test.py --reader-model benchmarks/.models/tinyroberta-squad2 \\
        --embedding-model benchmarks/.models/all-MiniLM-L6-v2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import random
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from itertools import cycle, islice
from pathlib import Path
from typing import Any

import psutil
from gradio_client import Client

from docqa.stats import percentile

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
CORPUS_DIR = ROOT / "corpus"
SEED_PATH = ROOT / "tests" / "seed_examples.json"
RESULTS_DIR = BENCH_DIR / "results"
HOST = "127.0.0.1"  # the app and every request stay on this machine
NO_MODEL = "none"
MIB = 1024 * 1024
MEMORY_GROWTH_LIMIT = 1.10
START_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 15.0

NEW_SOURCE = "quokka-lane-notes.txt"
NEW_TEXT = (
    "Quokka Lane notes\n\n"
    "The zebra crossing on Quokka Lane was repainted by Marigold Okafor in 1951. "
    "The paint was a pale saffron that the council had bought from a ship's chandler.\n"
)
NEW_QUESTION = "Who repainted the zebra crossing on Quokka Lane?"
CHANGED_NOTE = "\n\nEditor's note: this article was re-checked against the original wire copy.\n"
GENERATED_PREFIX = "generated-"
GENERATED_PARAGRAPHS = 6
GENERATED_WORDS = 50


@dataclass(frozen=True)
class Question:
    text: str
    source_prefix: str | None  # the file that holds the answer (its first characters); None: unanswerable


@dataclass
class Outcome:
    """One request: when it was sent and came back (seconds since the phase began) and what came back."""

    question: str
    client: int
    sent: float
    returned: float
    error: str | None = None
    abstained: bool = False
    mode: str = ""
    cited: list[str] = field(default_factory=list)
    expected_source: bool | None = None  # cited the file that holds the answer; None: not answerable
    pipeline: float | None = None  # seconds inside the assistant; the rest is queueing and transport

    @property
    def latency(self) -> float:
        return self.returned - self.sent


@dataclass
class ReindexPass:
    number: int
    started: float  # seconds since the phase began
    finished: float
    returncode: int | None  # None: stopped at its timeout
    report: dict[str, Any] | None
    error_tail: str


# ----- questions -----------------------------------------------------------------------------


def load_questions(path: Path = SEED_PATH) -> list[Question]:
    """The seed questions with their source files, then the unanswerable ones."""
    seed = json.loads(path.read_text(encoding="utf-8"))
    answerable = [Question(item["q"], item["src"]) for item in seed["questions"]]
    return answerable + [Question(text, None) for text in seed["unanswerable"]]


def question_plan(questions: Sequence[Question], total: int) -> list[Question]:
    return list(islice(cycle(questions), total))


# ----- statistics ----------------------------------------------------------------------------


def summarise(outcomes: Sequence[Outcome], planned: int, wall_s: float) -> dict[str, Any]:
    answered = [o for o in outcomes if o.error is None]
    latencies = [o.latency for o in answered]
    answerable = [o for o in answered if o.expected_source is not None]
    return {
        "planned": planned,
        "sent": len(outcomes),
        "answered": len(answered),
        "errors": len(outcomes) - len(answered),
        "lost": planned - len(answered),
        "error_kinds": dict(Counter(o.error for o in outcomes if o.error is not None)),
        "abstained": sum(o.abstained for o in answered),
        "with_citation": sum(bool(o.cited) for o in answered),
        "answerable": len(answerable),
        "answerable_cited_from_their_file": sum(bool(o.expected_source) for o in answerable),
        "wall_s": round(wall_s, 3),
        "throughput_qps": round(len(answered) / wall_s, 3) if wall_s > 0 else 0.0,
        "latency_ms": _latency_summary(latencies),
        "pipeline_ms": _latency_summary([o.pipeline for o in answered if o.pipeline is not None]),
        "modes": dict(Counter(o.mode for o in answered)),
        "requests": request_columns(outcomes),
    }


def request_columns(outcomes: Sequence[Outcome]) -> dict[str, list[Any]]:
    """Every request, one list per field (a compact file): the question is its position in ``questions``,
    times are seconds since the phase began and milliseconds, ``cited`` the cited file or None."""
    numbers = {question.text: number for number, question in enumerate(load_questions())}
    return {
        "question": [numbers.get(o.question) for o in outcomes],
        "client": [o.client for o in outcomes],
        "sent_s": [round(o.sent, 3) for o in outcomes],
        "latency_ms": [round(1000 * o.latency, 1) for o in outcomes],
        "pipeline_ms": [None if o.pipeline is None else round(1000 * o.pipeline, 1) for o in outcomes],
        "error": [o.error for o in outcomes],
        "abstained": [o.abstained for o in outcomes],
        "cited": [o.cited[0] if o.cited else None for o in outcomes],
        "expected_source": [o.expected_source for o in outcomes],
    }


def _latency_summary(latencies: Sequence[float]) -> dict[str, float] | None:
    if not latencies:
        return None
    return {
        "p50": round(1000 * percentile(latencies, 50), 1),
        "p95": round(1000 * percentile(latencies, 95), 1),
        "max": round(1000 * max(latencies), 1),
        "mean": round(1000 * sum(latencies) / len(latencies), 1),
    }


def overlap_share(outcomes: Sequence[Outcome], passes: Sequence[ReindexPass]) -> float:
    """The share of answered requests that were in flight while a re-index pass ran."""
    answered = [o for o in outcomes if o.error is None]
    if not answered:
        return 0.0
    during = [o for o in answered if any(p.started < o.returned and o.sent < p.finished for p in passes)]
    return round(len(during) / len(answered), 3)


# ----- the app -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def quiet_environment() -> dict[str, str]:
    """The environment of the child processes: offline, no telemetry, no login, loopback only, and
    no readings kept for repeated questions, so that every question costs what a new one costs."""
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "DOCQA_READER_CACHE": "0"}
    for inherited in ("DOCQA_AUTH_USERNAME", "DOCQA_AUTH_PASSWORD", "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT"):
        env.pop(inherited, None)
    return env


@dataclass(frozen=True)
class Folders:
    work: Path
    corpus: Path
    index: Path
    log: Path

    @classmethod
    def create(cls, work: Path) -> Folders:
        corpus = work / "corpus"
        shutil.copytree(CORPUS_DIR, corpus)
        return cls(work, corpus, work / "index", work / "app.log")


@dataclass(frozen=True)
class Models:
    embedding: str
    reader: str

    def arguments(self) -> list[str]:
        return ["--embedding-model", self.embedding, "--reader-model", self.reader]

    def label(self) -> str:
        if self.embedding == NO_MODEL and self.reader == NO_MODEL:
            return "lexical"
        return f"embedder {Path(self.embedding).name}, reader {Path(self.reader).name}"


def model_argument(value: str) -> str:
    """A local model folder as an absolute path (the app runs in another folder); anything else as given."""
    return str(Path(value).resolve()) if Path(value).is_dir() else value


class Server:
    """``app.py`` running in a child process on 127.0.0.1."""

    def __init__(self, folders: Folders, models: Models) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}/"
        self.log = folders.log
        command = [sys.executable, str(ROOT / "app.py"), "--corpus", str(folders.corpus),
                   "--index", str(folders.index), "--host", HOST, "--port", str(self.port), "--no-watch",
                   *models.arguments()]  # docqa index, run beside it, is what updates the index here
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(command, cwd=folders.work, env=quiet_environment(), stdout=output,
                                            stderr=subprocess.STDOUT)
        self.memory = psutil.Process(self.process.pid)

    def wait_until_serving(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"app.py did not answer on {self.url} within {timeout:.0f} s:\n{self.log_tail()}")

    def rss(self) -> int:
        return self.memory.memory_info().rss

    def log_tail(self, characters: int = 4000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-characters:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)


@contextmanager
def running_app(folders: Folders, models: Models) -> Iterator[Server]:
    server = Server(folders, models)
    try:
        server.wait_until_serving()
        yield server
    finally:
        server.stop()


class MemorySampler:
    """Samples the server's RSS in the background: (seconds since the start, MiB) pairs, and the peak."""

    def __init__(self, server: Server, interval: float = 1.0) -> None:
        self.server, self.interval = server, interval
        self.started = time.monotonic()
        self.samples: list[tuple[float, float]] = []
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            rss = self.server.rss()
            self.peak = max(self.peak, rss)
            self.samples.append((round(time.monotonic() - self.started, 1), round(rss / MIB, 1)))
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


# ----- clients -------------------------------------------------------------------------------


def connect(url: str) -> Client:
    return Client(url, verbose=False, analytics_enabled=False, download_files=False)


def ask(client: Client, question: str, timeout: float) -> dict[str, Any]:
    """The ``/ask`` reply to ``question``; a reply that takes longer than ``timeout`` is cancelled."""
    job = client.submit(question=question, api_name="/ask")
    try:
        return job.result(timeout=timeout)
    except TimeoutError:
        job.cancel()
        raise


def outcome_of(question: Question, client: int, sent: float, reply: dict[str, Any], returned: float) -> Outcome:
    cited = [citation["source"] for citation in reply["citations"]]
    expected = None
    if question.source_prefix is not None:
        expected = any(source.startswith(question.source_prefix) for source in cited)
    return Outcome(question.text, client, sent, returned, abstained=bool(reply["abstained"]), mode=reply["mode"],
                   cited=cited, expected_source=expected, pipeline=reply["timings"].get("total"))


def _client_loop(number: int, client: Client, work: queue.SimpleQueue[Question], started: float,
                 deadline: float, timeout: float, outcomes: list[Outcome]) -> None:
    while time.monotonic() < deadline:
        try:
            question = work.get_nowait()
        except queue.Empty:
            return
        sent = time.monotonic() - started
        try:
            reply = ask(client, question.text, timeout)
            outcome = outcome_of(question, number, sent, reply, time.monotonic() - started)
        except Exception as error:  # every failure, a malformed reply included, is a result to count
            outcome = Outcome(question.text, number, sent, time.monotonic() - started,
                              error=f"{type(error).__name__}: {error}"[:300])
        outcomes.append(outcome)


def run_load(clients: Sequence[Client], questions: Sequence[Question], *, request_timeout: float,
             phase_timeout: float, started: float | None = None) -> tuple[list[Outcome], float]:
    """Send ``questions`` from one thread per client, each taking the next question when its last is
    answered, until all are sent or ``phase_timeout`` has passed. Returns the outcomes (times in
    seconds since ``started``) and the wall time of the phase."""
    started = time.monotonic() if started is None else started
    begun = time.monotonic()
    deadline = begun + phase_timeout
    work: queue.SimpleQueue[Question] = queue.SimpleQueue()
    for question in questions:
        work.put(question)
    outcomes: list[Outcome] = []  # list.append is atomic: the threads share it
    threads = [threading.Thread(target=_client_loop, daemon=True,
                                args=(number, client, work, started, deadline, request_timeout, outcomes))
               for number, client in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline + request_timeout + STOP_TIMEOUT_S - time.monotonic()))
    return list(outcomes), time.monotonic() - begun


# ----- re-indexing ---------------------------------------------------------------------------


def corpus_words(corpus: Path) -> list[str]:
    return " ".join(path.read_text(encoding="utf-8") for path in sorted(corpus.glob("*.txt"))).split()


def generated_document(words: Sequence[str], number: int, version: int) -> str:
    """A document of corpus words in a seeded random order: new text for each (number, version)."""
    rng = random.Random(f"{number}/{version}")
    paragraphs = [" ".join(rng.choices(words, k=GENERATED_WORDS)) + "." for _ in range(GENERATED_PARAGRAPHS)]
    return f"Generated document {number}, version {version}\n\n" + "\n\n".join(paragraphs) + "\n"


def change_corpus(corpus: Path, version: int, documents: int, words: Sequence[str]) -> None:
    """Write a new version of the generated documents; the first version also adds the new file and
    changes a shipped one."""
    for number in range(documents):
        path = corpus / f"{GENERATED_PREFIX}{number:04d}.txt"
        path.write_text(generated_document(words, number, version), encoding="utf-8")
    if version == 1:
        (corpus / NEW_SOURCE).write_text(NEW_TEXT, encoding="utf-8")
        shipped = sorted(corpus.glob("0*.txt"))[0]
        shipped.write_text(shipped.read_text(encoding="utf-8") + CHANGED_NOTE, encoding="utf-8")


class Reindexer:
    """Changes the corpus and runs ``docqa index`` on the app's folders in a child process, pass after
    pass, until told to stop (after the pass under way)."""

    def __init__(self, folders: Folders, models: Models, documents: int, pass_timeout: float,
                 started: float, first_version: int = 1) -> None:
        self.folders, self.models, self.documents = folders, models, documents
        self.pass_timeout, self.started = pass_timeout, started
        self.first_version = first_version
        self.words = corpus_words(folders.corpus)
        self.passes: list[ReindexPass] = []
        self.first_pass_running = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.pass_timeout + STOP_TIMEOUT_S)

    def _run(self) -> None:
        version = self.first_version
        while not self._stop.is_set():
            change_corpus(self.folders.corpus, version, self.documents, self.words)
            self.passes.append(self._index(version))
            version += 1

    def _index(self, number: int) -> ReindexPass:
        command = [sys.executable, "-m", "docqa.cli", "index", "--json", "--corpus", str(self.folders.corpus),
                   "--index", str(self.folders.index), *self.models.arguments()]
        began = time.monotonic() - self.started
        process = subprocess.Popen(command, cwd=self.folders.work, env=quiet_environment(),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.first_pass_running.set()
        try:
            stdout, stderr = process.communicate(timeout=self.pass_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            return ReindexPass(number, began, time.monotonic() - self.started, None, None, stderr[-2000:])
        report = json.loads(stdout) if process.returncode == 0 else None
        return ReindexPass(number, began, time.monotonic() - self.started, process.returncode,
                           _report_counts(report) if report else None, stderr[-2000:] if process.returncode else "")


def _report_counts(report: dict[str, Any]) -> dict[str, Any]:
    counts: dict[str, Any] = {key: len(report[key]) for key in ("added", "updated", "removed", "unchanged")}
    return counts | {"skipped": len(report["skipped"]), "chunks": report["chunks"], "rebuilt": report["rebuilt"]}


def new_document_check(client: Client, timeout: float) -> dict[str, Any]:
    """Where the answer to the new file's question came from: the file cited, and whether it was retrieved."""
    try:
        reply = ask(client, NEW_QUESTION, timeout)
    except Exception as error:  # recorded: the run goes on to report what it has
        return {"error": f"{type(error).__name__}: {error}"[:300], "cited": [], "retrieved": False, "answer": ""}
    cited = [citation["source"] for citation in reply["citations"]]
    retrieved = any(passage["source"] == NEW_SOURCE for passage in reply["passages"])
    return {"error": None, "cited": cited, "retrieved": retrieved, "answer": reply["answer"]}


# ----- the run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    clients: int
    questions: int
    models: Models
    request_timeout: float
    phase_timeout: float
    reindex_documents: int
    warm_up_rounds: int
    idle_s: float
    rounds: int = 2


def run(options: Options, work: Path) -> dict[str, Any]:
    """Warm up, then ``options.rounds`` rounds of a steady phase and a re-index phase; the first round
    is reported as ``steady`` and ``reindex``, the later ones under ``later_rounds``."""
    folders = Folders.create(work)
    plan = question_plan(load_questions(), options.questions)
    with running_app(folders, options.models) as server:
        clients = [connect(server.url) for _ in range(options.clients)]
        warm_up, _ = run_load(clients, plan[: options.clients * options.warm_up_rounds],
                              request_timeout=options.request_timeout, phase_timeout=options.phase_timeout)
        rss_before = server.rss()
        before = new_document_check(clients[0], options.request_timeout)
        rounds: list[dict[str, Any]] = []
        with MemorySampler(server) as sampler:
            for number in range(options.rounds):
                steady, steady_wall = run_load(clients, plan, request_timeout=options.request_timeout,
                                               phase_timeout=options.phase_timeout)
                rss_between, steady_ended = server.rss(), time.monotonic() - sampler.started
                during, during_wall, passes = reindex_phase(clients, plan, folders, options,
                                                            first_version=1 + 1000 * number)
                if number == 0:
                    after = new_document_check(clients[0], options.request_timeout)
                rounds.append({
                    "steady": summarise(steady, len(plan), steady_wall),
                    "reindex": summarise(during, len(plan), during_wall) | {
                        "in_flight_during_a_pass": overlap_share(during, passes),
                        "passes": [asdict(p) for p in passes],
                    },
                    "rss_after_steady": rss_between, "steady_ended_s": steady_ended, "rss_after": server.rss(),
                })
        time.sleep(options.idle_s)
        rss_after = server.rss()
        for client in clients:
            client.close()
    first = rounds[0]
    return {
        "questions": [question.text for question in load_questions()],
        "warm_up": {"sent": len(warm_up), "errors": sum(o.error is not None for o in warm_up)},
        "steady": first["steady"],
        "reindex": first["reindex"],
        "later_rounds": [{"steady": r["steady"], "reindex": r["reindex"]} for r in rounds[1:]],
        "new_document": {"source": NEW_SOURCE, "question": NEW_QUESTION, "before_reindex": before,
                         "after_reindex": after},
        "memory": memory_summary(rss_before, first["rss_after_steady"], rss_after, sampler.peak,
                                 [r["rss_after"] for r in rounds]) | {
            "rss_samples": {"s": [t for t, _ in sampler.samples], "mib": [m for _, m in sampler.samples]},
            "steady_phase_ended_s": round(first["steady_ended_s"], 1),
        },
    }


def reindex_phase(clients: Sequence[Client], plan: Sequence[Question], folders: Folders,
                  options: Options, first_version: int = 1) -> tuple[list[Outcome], float, list[ReindexPass]]:
    """The load sent while ``docqa index`` passes run, from the start of the first pass until the
    load is done; then the pass under way is let finish."""
    started = time.monotonic()
    reindexer = Reindexer(folders, options.models, options.reindex_documents, options.phase_timeout, started,
                          first_version)
    reindexer.start()
    reindexer.first_pass_running.wait(STOP_TIMEOUT_S)
    try:
        outcomes, wall = run_load(clients, plan, request_timeout=options.request_timeout,
                                  phase_timeout=options.phase_timeout, started=started)
    finally:
        reindexer.stop()
    return outcomes, wall, reindexer.passes


def memory_summary(before: int, between: int, after: int, peak: int,
                   round_ends: Sequence[int] = ()) -> dict[str, Any]:
    """RSS figures of the run. ``round_ends`` is the RSS at the end of each round; the growth over
    the later rounds (from the end of the first to ``after``) shows memory that keeps growing, which
    the first round's growth (caches filling, pools and arenas reaching their size) does not."""
    ratio = after / before
    later = after / round_ends[0] if len(round_ends) > 1 else None
    return {
        "rss_before_mib": round(before / MIB, 1),
        "rss_after_steady_mib": round(between / MIB, 1),
        "rss_after_mib": round(after / MIB, 1),
        "rss_peak_mib": round(peak / MIB, 1),
        "rss_after_each_round_mib": [round(end / MIB, 1) for end in round_ends],
        "ratio_after_to_before": round(ratio, 4),
        "ratio_after_to_after_steady": round(after / between, 4),
        "ratio_over_later_rounds": None if later is None else round(later, 4),
        "within_10_percent": ratio <= MEMORY_GROWTH_LIMIT and (later is None or later <= MEMORY_GROWTH_LIMIT),
    }


def verdict(result: dict[str, Any]) -> list[str]:
    """What fell short of the targets; empty when the run passed."""
    problems = []
    rounds = [{"steady": result["steady"], "reindex": result["reindex"]}, *result.get("later_rounds", [])]
    for number, one_round in enumerate(rounds, start=1):
        where = "" if number == 1 else f" (round {number})"
        for phase in ("steady", "reindex"):
            summary = one_round[phase]
            if summary["lost"] or summary["errors"]:
                problems.append(f"{phase}{where}: {summary['lost']} of {summary['planned']} questions not answered, "
                                f"{summary['errors']} errors")
        passes = one_round["reindex"]["passes"]
        if not passes or any(p["returncode"] != 0 for p in passes):
            problems.append(f"reindex{where}: a docqa index pass failed or none ran")
    new = result["new_document"]
    if NEW_SOURCE in new["before_reindex"]["cited"] or new["before_reindex"]["retrieved"]:
        problems.append(f"{NEW_SOURCE} was found before it was written")
    if not new["after_reindex"]["retrieved"]:
        problems.append(f"{NEW_SOURCE} was not retrieved after the re-index")
    memory = result["memory"]
    if memory["ratio_after_to_before"] > MEMORY_GROWTH_LIMIT:
        problems.append(f"RSS grew by a factor of {memory['ratio_after_to_before']}")
    if (memory.get("ratio_over_later_rounds") or 0) > MEMORY_GROWTH_LIMIT:
        problems.append(f"RSS grew by a factor of {memory['ratio_over_later_rounds']} over the later rounds")
    return problems


# ----- results -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "load_average": [round(load, 2) for load in os.getloadavg()]}


def merge_result(path: Path, label: str, entry: dict[str, Any]) -> dict[str, Any]:
    """The results file with ``entry`` under ``label``, the other configurations kept."""
    results = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"runs": {}}
    results["runs"][label] = entry
    return results


def compact_json(value: Any, depth: int = 0) -> str:
    """JSON indented by two spaces, except that a list of plain values stays on one line."""
    outer, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(key)}: {compact_json(item, depth + 1)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{outer}}}"
    if isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
        items = [f"{inner}{compact_json(item, depth + 1)}" for item in value]
        return "[\n" + ",\n".join(items) + f"\n{outer}]"
    return json.dumps(value)


def markdown(results: dict[str, Any]) -> str:
    lines = ["# Load test", "",
             "Questions sent to the running app's `/ask` API by concurrent `gradio_client` clients on "
             "127.0.0.1: a steady phase, then the same load while `docqa index` updates the index from "
             "another process, both phases in each of the rounds (memory may grow over the first round, "
             "while caches fill, but not over the later ones). The questions are those of "
             "`tests/seed_examples.json`, answerable and not, asked in turn; the server keeps no readings "
             "for repeated questions (`DOCQA_READER_CACHE=0`), so each one is read afresh. Written by "
             "`benchmarks/load_test.py`. The models of `benchmarks/.models/` have random weights: their "
             "answers mean nothing, so with them only the retrieval of the new file is checked. p50 and "
             "p95 are percentiles of the time from sending a question to its answer, interpolated linearly "
             "between the closest ranks (`docqa.stats.percentile`).", ""]
    for label, entry in results["runs"].items():
        lines += _markdown_run(label, entry)
    return "\n".join(lines)


def _markdown_run(label: str, entry: dict[str, Any]) -> list[str]:
    settings, result = entry["settings"], entry["result"]
    memory, new = result["memory"], result["new_document"]
    before, after = new["before_reindex"]["cited"], new["after_reindex"]["cited"]
    lines = [f"## {label}", "", f"`{entry['command']}`", "",
             f"{settings['clients']} clients, {settings['questions']} questions per phase, "
             f"request timeout {settings['request_timeout_s']:g} s; {entry['machine']['cpus']} CPUs, "
             f"load average {entry['machine']['load_average'][0]} at the start. "
             f"Verdict: **{'passed' if not entry['problems'] else 'failed'}**.", "",
             "| phase | answered | errors | p50 ms | p95 ms | max ms | questions/s | in the assistant p50/p95 ms |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    rounds = [{"steady": result["steady"], "reindex": result["reindex"]}, *result.get("later_rounds", [])]
    for number, one_round in enumerate(rounds, start=1):
        for phase in ("steady", "reindex"):
            summary = one_round[phase]
            latency = summary["latency_ms"] or {"p50": "-", "p95": "-", "max": "-"}
            pipeline = summary["pipeline_ms"] or {"p50": "-", "p95": "-"}
            name = phase if number == 1 else f"{phase}, round {number}"
            lines.append(f"| {name} | {summary['answered']}/{summary['planned']} | {summary['errors']} | "
                         f"{latency['p50']} | {latency['p95']} | {latency['max']} | {summary['throughput_qps']} | "
                         f"{pipeline['p50']} / {pipeline['p95']} |")
    passes = result["reindex"]["passes"]
    lines += ["",
              f"- Re-index: {len(passes)} `docqa index` passes over {settings['reindex_documents']} changed "
              f"documents; {100 * result['reindex']['in_flight_during_a_pass']:.0f}% of the questions of that "
              "phase were in flight while a pass ran.",
              f"- New file `{new['source']}`: cited before the re-index: {new['source'] in before}; "
              f"after: {new['source'] in after} (retrieved after: {new['after_reindex']['retrieved']}).",
              f"- Server RSS: {memory['rss_before_mib']} MiB after the warm-up, {memory['rss_after_mib']} MiB after "
              f"the run and {settings['idle_s']:g} s idle (ratio {memory['ratio_after_to_before']}; "
              f"{memory['rss_after_steady_mib']} MiB after the steady phase, so a ratio of "
              f"{memory['ratio_after_to_after_steady']} over the rest; peak {memory['rss_peak_mib']} MiB)."]
    if memory.get("ratio_over_later_rounds") is not None:
        ends = ", ".join(f"{mib} MiB" for mib in memory["rss_after_each_round_mib"])
        lines.append(f"- Over the later rounds: RSS at the end of each round {ends}; from the end of the first "
                     f"round to the end of the run, a ratio of {memory['ratio_over_later_rounds']}.")
    lines += [f"- Problem: {problem}" for problem in entry["problems"]]
    return [*lines, ""]


# ----- command line --------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default: 8)")
    parser.add_argument("--questions", type=int, default=200, help="questions per phase (default: 200)")
    parser.add_argument("--embedding-model", default=NO_MODEL, help="local folder, hub id or 'none' (default)")
    parser.add_argument("--reader-model", default=NO_MODEL, help="local folder, hub id or 'none' (default)")
    parser.add_argument("--request-timeout", type=float, default=60.0, help="seconds per question (default: 60)")
    parser.add_argument("--phase-timeout", type=float, default=900.0,
                        help="seconds per phase, and per re-index pass (default: 900)")
    parser.add_argument("--reindex-documents", type=int, default=120,
                        help="generated documents rewritten by each re-index pass (default: 120)")
    parser.add_argument("--warm-up-rounds", type=int, default=2, help="questions per client before measuring")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle before the last RSS reading")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of both phases (default: 2; memory may grow over the first, not the later ones)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR,
                        help="where load_test.json and load_test.md go (default: benchmarks/results)")
    arguments = parser.parse_args(argv)
    if min(arguments.clients, arguments.questions, arguments.reindex_documents, arguments.rounds) < 1:
        parser.error("--clients, --questions, --reindex-documents and --rounds must be at least 1")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    options = Options(
        clients=arguments.clients,
        questions=arguments.questions,
        models=Models(model_argument(arguments.embedding_model), model_argument(arguments.reader_model)),
        request_timeout=arguments.request_timeout,
        phase_timeout=arguments.phase_timeout,
        reindex_documents=arguments.reindex_documents,
        warm_up_rounds=arguments.warm_up_rounds,
        idle_s=arguments.idle,
        rounds=arguments.rounds,
    )
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # the client reads it whatever analytics_enabled says
    machine_before = machine()
    with tempfile.TemporaryDirectory(prefix="docqa-load-") as work:
        result = run(options, Path(work))
    problems = verdict(result)
    entry = {
        "command": shlex.join(["python", "benchmarks/load_test.py", *(sys.argv[1:] if argv is None else argv)]),
        "settings": {"clients": options.clients, "questions": options.questions,
                     "embedding_model": options.models.embedding, "reader_model": options.models.reader,
                     "request_timeout_s": options.request_timeout, "phase_timeout_s": options.phase_timeout,
                     "reindex_documents": options.reindex_documents, "idle_s": options.idle_s,
                     "rounds": options.rounds},
        "machine": machine_before | {"load_average_after": machine()["load_average"]},
        "problems": problems,
        "result": result,
    }
    arguments.results_dir.mkdir(parents=True, exist_ok=True)
    results = merge_result(arguments.results_dir / "load_test.json", options.models.label(), entry)
    (arguments.results_dir / "load_test.json").write_text(compact_json(results) + "\n", encoding="utf-8")
    (arguments.results_dir / "load_test.md").write_text(markdown(results), encoding="utf-8")
    print(markdown({"runs": {options.models.label(): entry}}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
