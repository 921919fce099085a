"""Measuring the assistant on SQuAD-format data (versions 1.1 and 2.0).

Every paragraph of the file becomes one document of a temporary index, and every question is
asked against the whole index, as a user would ask it. Reported: retrieval recall@k and MRR of
the question's own paragraph, exact match and F1 of the answers end to end and with the gold
paragraph given to the reader ("oracle"), abstentions, and latency per stage.

Scores are fractions in [0, 1] in the JSON report and percentages in the printed table.
Answers are compared as in the official SQuAD 2.0 evaluation: normalised (lower case, no
punctuation, no articles, single spaces), best over the gold answers, and the empty string is
the right answer to an unanswerable question.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import string
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from docqa import __version__
from docqa.assistant import Assistant
from docqa.errors import DocqaError
from docqa.models import is_disabled
from docqa.schema import RETRIEVAL_MODES, Chunk, Document, RetrievalMode, RetrievedPassage

RANK_DEPTH = 10  # passages retrieved per question for the retrieval metrics
RECALL_CUTOFFS = (1, 5, 10)
DEFAULT_SEED = 0

# --- answer metrics -------------------------------------------------------------------------

_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower case, punctuation and the articles a/an/the removed, white space collapsed."""
    without_punctuation = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", without_punctuation).split())


def exact_match(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def f1_score(prediction: str, truth: str) -> float:
    """Harmonic mean of token precision and recall; 1.0 when both are empty, 0.0 when one is."""
    predicted = normalize_answer(prediction).split()
    expected = normalize_answer(truth).split()
    if not predicted or not expected:
        return float(predicted == expected)
    shared = sum((Counter(predicted) & Counter(expected)).values())
    if shared == 0:
        return 0.0
    precision = shared / len(predicted)
    recall = shared / len(expected)
    return 2 * precision * recall / (precision + recall)


def answer_scores(prediction: str, gold_answers: Sequence[str]) -> tuple[float, float]:
    """(exact match, F1), each the best over the gold answers; no gold answer means "" is right."""
    truths = [truth for truth in gold_answers if normalize_answer(truth)] or [""]
    return (
        max(exact_match(prediction, truth) for truth in truths),
        max(f1_score(prediction, truth) for truth in truths),
    )


def retrieval_metrics(ranks: Sequence[int | None], ks: Sequence[int] = RECALL_CUTOFFS) -> dict[str, float]:
    """Recall@k for each k and the mean reciprocal rank; a rank is 1-based, None when not retrieved."""
    if not ranks:
        raise ValueError("retrieval metrics need at least one rank")
    metrics = {f"recall@{k}": sum(rank is not None and rank <= k for rank in ranks) / len(ranks) for k in ks}
    metrics["mrr"] = sum(1.0 / rank for rank in ranks if rank is not None) / len(ranks)
    return metrics


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), interpolating linearly between the closest ranks."""
    if not values:
        raise ValueError("a percentile needs at least one value")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be between 0 and 100, not {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


# --- the data --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SquadQuestion:
    id: str
    question: str
    answers: tuple[str, ...]
    is_impossible: bool
    source: str  # the source of the paragraph the question was written about


@dataclass(frozen=True)
class SquadSet:
    version: str
    documents: list[Document]
    questions: list[SquadQuestion]

    @property
    def has_unanswerable(self) -> bool:
        return self.version.lstrip("v").startswith("2") or any(q.is_impossible for q in self.questions)


def paragraph_source(article_title: str, number: int) -> str:
    return f"{article_title}/{number:03d}"


def paragraph_document(article_title: str, number: int, context: str) -> Document:
    return Document(
        source=paragraph_source(article_title, number),
        text=context,
        title=article_title.replace("_", " "),
        content_hash=hashlib.sha256(context.encode("utf-8")).hexdigest(),
    )


def load_squad(path: str | Path) -> SquadSet:
    """Read a SQuAD 1.1 or 2.0 JSON file; raises DocqaError when it is missing or not in that format."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise DocqaError(f"no such file: {path}") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DocqaError(f"{path} could not be read as JSON: {error}") from error
    try:
        return _parse_squad(raw)
    except (KeyError, TypeError, AttributeError) as error:
        raise DocqaError(f"{path} is not in the SQuAD format (data[].paragraphs[].qas[]): {error!r}") from error


def _parse_squad(raw: dict[str, Any]) -> SquadSet:
    documents: list[Document] = []
    questions: list[SquadQuestion] = []
    for article in raw["data"]:
        for number, paragraph in enumerate(article["paragraphs"]):
            document = paragraph_document(article["title"], number, paragraph["context"])
            documents.append(document)
            questions.extend(
                SquadQuestion(
                    id=str(qa["id"]),
                    question=qa["question"],
                    answers=tuple(answer["text"] for answer in qa["answers"]),
                    is_impossible=bool(qa.get("is_impossible", False)),
                    source=document.source,
                )
                for qa in paragraph["qas"]
            )
    return SquadSet(version=str(raw.get("version", "")), documents=documents, questions=questions)


def sample_questions(questions: Sequence[SquadQuestion], limit: int | None, seed: int) -> list[SquadQuestion]:
    """All questions, or ``limit`` of them drawn with ``seed``, kept in file order."""
    if limit is None or limit >= len(questions):
        return list(questions)
    chosen = sorted(random.Random(seed).sample(range(len(questions)), limit))
    return [questions[i] for i in chosen]


def oracle_passage(document: Document) -> RetrievedPassage:
    """The whole gold paragraph as the one passage the reader gets."""
    chunk = Chunk(source=document.source, index=0, text=document.text, start=0, end=len(document.text))
    return RetrievedPassage(chunk=chunk, score=1.0, title=document.title, date=document.date)


# --- asking ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """The reader's answer to one question from some passages, scored."""

    prediction: str
    abstained: bool
    exact_match: float
    f1: float
    seconds: float


@dataclass(frozen=True)
class QuestionResult:
    question: SquadQuestion
    rank: int | None  # of the first passage from the question's paragraph, within RANK_DEPTH
    retrieval_seconds: float
    end_to_end: Reading
    oracle: Reading

    @property
    def total_seconds(self) -> float:
        return self.retrieval_seconds + self.end_to_end.seconds


def gold_rank(passages: Sequence[RetrievedPassage], source: str, depth: int = RANK_DEPTH) -> int | None:
    for position, passage in enumerate(passages[:depth], start=1):
        if passage.chunk.source == source:
            return position
    return None


def read_and_score(assistant: Assistant, question: SquadQuestion, passages: Sequence[RetrievedPassage]) -> Reading:
    started = time.perf_counter()
    result = assistant.read(question.question, passages)
    seconds = time.perf_counter() - started
    abstained = result.abstained or not result.answers
    prediction = "" if abstained else result.answers[0].text
    em, f1 = answer_scores(prediction, question.answers)
    return Reading(prediction=prediction, abstained=abstained, exact_match=em, f1=f1, seconds=seconds)


def evaluate_question(
    assistant: Assistant, question: SquadQuestion, gold: RetrievedPassage, top_k: int
) -> QuestionResult:
    started = time.perf_counter()
    passages = assistant.retrieve(question.question, top_k=max(top_k, RANK_DEPTH))
    retrieval_seconds = time.perf_counter() - started
    return QuestionResult(
        question=question,
        rank=gold_rank(passages, question.source),
        retrieval_seconds=retrieval_seconds,
        end_to_end=read_and_score(assistant, question, passages[:top_k]),
        oracle=read_and_score(assistant, question, [gold]),
    )


# --- summarising -----------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def score_summary(readings: Sequence[Reading]) -> dict[str, Any]:
    return {
        "questions": len(readings),
        "exact_match": _mean([reading.exact_match for reading in readings]),
        "f1": _mean([reading.f1 for reading in readings]),
    }


def abstention_counts(results: Sequence[QuestionResult], pick: Callable[[QuestionResult], Reading]) -> dict[str, int]:
    counts = Counter((result.question.is_impossible, pick(result).abstained) for result in results)
    return {
        "abstained_unanswerable": counts[True, True],  # right
        "abstained_answerable": counts[False, True],  # wrong
        "answered_unanswerable": counts[True, False],  # wrong
        "answered_answerable": counts[False, False],
    }


def answer_summary(
    results: Sequence[QuestionResult], pick: Callable[[QuestionResult], Reading], has_unanswerable: bool
) -> dict[str, Any]:
    summary = score_summary([pick(result) for result in results])
    if has_unanswerable:
        summary["has_answer"] = score_summary([pick(r) for r in results if not r.question.is_impossible])
        summary["no_answer"] = score_summary([pick(r) for r in results if r.question.is_impossible])
    summary["abstentions"] = abstention_counts(results, pick)
    return summary


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    return {
        "p50": percentile(seconds, 50),
        "p95": percentile(seconds, 95),
        "mean": sum(seconds) / len(seconds),
    }


def retrieval_summary(results: Sequence[QuestionResult], has_unanswerable: bool) -> dict[str, Any]:
    summary: dict[str, Any] = {"questions": len(results), **retrieval_metrics([r.rank for r in results])}
    answerable = [r.rank for r in results if not r.question.is_impossible]
    if has_unanswerable and answerable:
        summary["has_answer"] = {"questions": len(answerable), **retrieval_metrics(answerable)}
    return summary


def summarize(results: Sequence[QuestionResult], has_unanswerable: bool) -> dict[str, Any]:
    total_seconds = [result.total_seconds for result in results]
    return {
        "retrieval": retrieval_summary(results, has_unanswerable),
        "end_to_end": answer_summary(results, lambda r: r.end_to_end, has_unanswerable),
        "oracle": answer_summary(results, lambda r: r.oracle, has_unanswerable),
        "latency_seconds": {
            "retrieval": latency_summary([r.retrieval_seconds for r in results]),
            "reading": latency_summary([r.end_to_end.seconds for r in results]),
            "total": latency_summary(total_seconds),
            "oracle_reading": latency_summary([r.oracle.seconds for r in results]),
        },
        "questions_per_second": len(results) / sum(total_seconds) if sum(total_seconds) > 0 else None,
    }


# --- the whole run ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalOptions:
    embedding_model: str | None = None
    reader_model: str | None = None
    precision: str | None = None
    top_k: int | None = None
    retrieval: RetrievalMode | None = None
    limit: int | None = None
    seed: int = DEFAULT_SEED
    show_progress: bool = True


def evaluate(path: str | Path, options: EvalOptions | None = None) -> dict[str, Any]:
    """Index the paragraphs of a SQuAD file in a temporary folder, ask its questions, and report."""
    options = options or EvalOptions()
    squad = load_squad(path)
    if not squad.questions:
        raise DocqaError(f"{path} has no questions")
    questions = sample_questions(squad.questions, options.limit, options.seed)
    with (
        tempfile.TemporaryDirectory(prefix="docqa-eval-") as folder,
        Assistant(
            corpus_dir=Path(folder, "corpus"),
            index_dir=Path(folder, "index"),
            embedding_model=options.embedding_model,
            reader_model=options.reader_model,
            precision=options.precision,
            top_k=options.top_k,
            retrieval=options.retrieval,
        ) as assistant,
    ):
        index_seconds = build_index(assistant, squad.documents, options.show_progress)
        settings = run_settings(assistant, squad, path, options, len(questions))
        started = time.perf_counter()
        results = ask_all(assistant, squad, questions, options.show_progress)
        wall_seconds = time.perf_counter() - started
    return {
        "settings": settings,
        **summarize(results, squad.has_unanswerable),
        "index_seconds": index_seconds,
        "wall_seconds": wall_seconds,
    }


def build_index(assistant: Assistant, documents: Sequence[Document], show_progress: bool) -> float:
    """Load the models, failing before the long part if one is missing, then index ``documents``."""
    started = time.perf_counter()
    Path(assistant.settings.corpus_dir).mkdir()
    assistant.warm_up()  # over the empty corpus folder: cheap, and it loads the models
    require_models(assistant)
    with tqdm(
        total=100,
        desc="indexing",
        file=sys.stderr,
        disable=not show_progress,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}",
    ) as bar:

        def progress(fraction: float, description: str) -> None:
            bar.n = round(100 * fraction)
            bar.set_postfix_str(description)

        assistant.index(documents=documents, progress=progress)
    return time.perf_counter() - started


def require_models(assistant: Assistant) -> None:
    """A model that was asked for but did not load would silently measure the lexical mode instead."""
    status = assistant.status()
    missing = (not is_disabled(status.embedding_model) and not status.embedder_loaded) or (
        not is_disabled(status.reader_model) and not status.reader_loaded
    )
    if missing:
        raise DocqaError("; ".join(status.problems) or "a model could not be loaded")


def run_settings(
    assistant: Assistant, squad: SquadSet, path: str | Path, options: EvalOptions, questions: int
) -> dict[str, Any]:
    status = assistant.status()
    settings = assistant.settings
    return {
        "file": str(path),
        "squad_version": squad.version,
        "docqa_version": __version__,
        "embedding_model": status.embedding_model,
        "reader_model": status.reader_model,
        "precision": settings.precision,
        "mode": status.mode,
        "retrieval": status.retrieval,
        "requested_retrieval": settings.retrieval,
        "top_k": settings.top_k,
        "rank_depth": RANK_DEPTH,
        "limit": options.limit,
        "seed": options.seed,
        "questions": questions,
        "questions_in_file": len(squad.questions),
        "paragraphs": len(squad.documents),
        "passages": status.passages,
    }


def ask_all(
    assistant: Assistant, squad: SquadSet, questions: Sequence[SquadQuestion], show_progress: bool
) -> list[QuestionResult]:
    gold = {document.source: oracle_passage(document) for document in squad.documents}
    top_k = assistant.settings.top_k
    progress: Iterable[SquadQuestion] = tqdm(
        questions, desc="questions", unit="q", file=sys.stderr, disable=not show_progress
    )
    return [evaluate_question(assistant, question, gold[question.source], top_k) for question in progress]


# --- the printed table -----------------------------------------------------------------------


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _milliseconds(value: float) -> str:
    return f"{1000 * value:.1f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return lines


def _score_rows(label: str, summary: dict[str, Any]) -> list[list[str]]:
    rows = [[label, summary]]
    rows += [[f"  {key.replace('_', ' ')}", summary[key]] for key in ("has_answer", "no_answer") if key in summary]
    return [[name, str(part["questions"]), _percent(part["exact_match"]), _percent(part["f1"])] for name, part in rows]


def _header_lines(settings: dict[str, Any]) -> list[str]:
    lines = [
        f"{settings['file']} (SQuAD {settings['squad_version'] or '?'}), docqa {settings['docqa_version']}",
        f"questions {settings['questions']} of {settings['questions_in_file']} (seed {settings['seed']}), "
        f"paragraphs {settings['paragraphs']}, passages {settings['passages']}",
        f"mode {settings['mode']}, retrieval {settings['retrieval']}, top_k {settings['top_k']}, "
        f"embedding model {settings['embedding_model']}, reader model {settings['reader_model']}, "
        f"precision {settings['precision']}",
    ]
    if settings["mode"] == "sentence":
        lines.append("no reader model: each answer is a whole sentence, so exact match and F1 are low")
    return lines


def _retrieval_lines(retrieval: dict[str, Any]) -> list[str]:
    recall_keys = [f"recall@{k}" for k in RECALL_CUTOFFS]
    parts = [("all", retrieval)]
    if "has_answer" in retrieval:
        parts.append(("has answer", retrieval["has_answer"]))
    rows = [
        [label, str(part["questions"]), *(_percent(part[key]) for key in recall_keys), _percent(part["mrr"])]
        for label, part in parts
    ]
    return _table([f"Retrieval (%, top {RANK_DEPTH})", "questions", *recall_keys, "MRR"], rows)


def _answer_lines(report: dict[str, Any]) -> list[str]:
    rows = _score_rows("end to end", report["end_to_end"]) + _score_rows("gold paragraph", report["oracle"])
    return _table(["Answers (%)", "questions", "EM", "F1"], rows)


_ABSTENTION_LABELS = {
    "abstained_unanswerable": "abstained, unanswerable (right)",
    "abstained_answerable": "abstained, answerable (wrong)",
    "answered_unanswerable": "answered, unanswerable (wrong)",
    "answered_answerable": "answered, answerable",
}


def _abstention_lines(report: dict[str, Any]) -> list[str]:
    end_to_end, oracle = report["end_to_end"]["abstentions"], report["oracle"]["abstentions"]
    keys = _ABSTENTION_LABELS if "no_answer" in report["end_to_end"] else ("abstained_answerable",)
    rows = [[_ABSTENTION_LABELS[key], str(end_to_end[key]), str(oracle[key])] for key in keys]
    return _table(["Abstentions", "end to end", "gold paragraph"], rows)


def _latency_lines(latency: dict[str, dict[str, float]]) -> list[str]:
    rows = [
        [stage.replace("_", " "), *(_milliseconds(figures[key]) for key in ("p50", "p95", "mean"))]
        for stage, figures in latency.items()
    ]
    return _table(["Latency (ms)", "p50", "p95", "mean"], rows)


def format_report(report: dict[str, Any]) -> str:
    """The report as plain-text tables."""
    sections = [
        _header_lines(report["settings"]),
        _retrieval_lines(report["retrieval"]),
        _answer_lines(report),
        _abstention_lines(report),
        _latency_lines(report["latency_seconds"]),
        [
            f"{_throughput(report['questions_per_second'])} questions per second end to end; "
            f"indexing {report['index_seconds']:.1f} s, questions {report['wall_seconds']:.1f} s"
        ],
    ]
    return "\n\n".join("\n".join(lines) for lines in sections)


def _throughput(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


# --- command line ----------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from error
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``eval`` flags; the model, precision and folder flags come from the shared parser."""
    parser.add_argument("file", metavar="FILE", type=Path, help="a SQuAD 1.1 or 2.0 JSON file")
    parser.add_argument(
        "--limit", type=_positive_int, metavar="N", help="evaluate a fixed random sample of N questions"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the --limit sample (default 0)")
    parser.add_argument("--json", dest="json_path", type=Path, metavar="OUT", help="also write every figure to OUT")
    parser.add_argument("--top-k", type=_positive_int, metavar="K", help="passages the reader reads")
    parser.add_argument("--retrieval", choices=RETRIEVAL_MODES, help="hybrid (default), bm25 or dense")


def run_cli(args: argparse.Namespace) -> int:
    options = EvalOptions(
        embedding_model=args.embedding_model,
        reader_model=args.reader_model,
        precision=args.precision,
        top_k=args.top_k,
        retrieval=args.retrieval,
        limit=args.limit,
        seed=args.seed,
    )
    report = evaluate(args.file, options)
    if args.json_path is not None:
        write_json(report, args.json_path)
    print(format_report(report))
    return 0


def write_json(report: dict[str, Any], path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise DocqaError(f"could not write {path}: {error}") from error
