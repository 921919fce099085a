"""One evaluation run: index the paragraphs of a SQuAD file, ask every question, summarise.

Every paragraph of the file becomes one document of a temporary index, and every question is
asked against the whole index, as a user would ask it. Each question is retrieved once and read
from its retrieved passages (end to end, once per top-k asked for) and from its gold paragraph
alone ("oracle", once). Readings take no confidence threshold; the run's threshold is applied
afterwards, so the same readings also give the risk-coverage curve. Scores are fractions in [0, 1].
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from docqa.assistant import Assistant
from docqa.errors import DocqaError
from docqa.evaluation.confidence import answered_at
from docqa.evaluation.metrics import RANK_DEPTH, answer_scores
from docqa.evaluation.results import QuestionResult, Reading
from docqa.evaluation.squad import (
    DEFAULT_SEED,
    SquadQuestion,
    SquadSet,
    load_squad,
    oracle_passage,
    sample_questions,
)
from docqa.evaluation.summary import summarize
from docqa.models import find_named_models
from docqa.schema import Document, RetrievalMode, RetrievedPassage
from docqa.version import __version__

# --- asking ----------------------------------------------------------------------------------


def gold_rank(passages: Sequence[RetrievedPassage], source: str, depth: int = RANK_DEPTH) -> int | None:
    for position, passage in enumerate(passages[:depth], start=1):
        if passage.chunk.source == source:
            return position
    return None


def read_and_score(
    assistant: Assistant, question: SquadQuestion, passages: Sequence[RetrievedPassage], threshold: float
) -> Reading:
    started = time.perf_counter()
    result = assistant.read(question.question, passages, confidence_threshold=0.0)  # judged below
    seconds = time.perf_counter() - started
    best = result.answers[0] if result.answers else None
    reading = Reading(
        prediction="",
        abstained=True,
        exact_match=0.0,
        f1=0.0,
        seconds=seconds,
        guess=best.text if best else "",
        score=best.score if best else 0.0,
        reader_abstained=result.abstained or best is None,
        no_answer_score=result.no_answer_score,
        logit=best.logit if best else None,
    )
    answered = answered_at(reading, threshold)
    prediction = reading.guess if answered else ""
    em, f1 = answer_scores(prediction, question.answers)
    return replace(reading, prediction=prediction, abstained=not answered, exact_match=em, f1=f1)


def evaluate_question(
    assistant: Assistant, question: SquadQuestion, gold: RetrievedPassage, top_ks: Sequence[int]
) -> dict[int, QuestionResult]:
    """The question retrieved once and read from its gold paragraph once, then from the best
    ``k`` retrieved passages for each ``k`` of ``top_ks``."""
    threshold = assistant.confidence_threshold
    started = time.perf_counter()
    passages = assistant.retrieve(question.question, top_k=max(*top_ks, RANK_DEPTH))
    retrieval_seconds = time.perf_counter() - started
    rank = gold_rank(passages, question.source)
    oracle = read_and_score(assistant, question, [gold], threshold)
    return {
        k: QuestionResult(
            question=question,
            rank=rank,
            retrieval_seconds=retrieval_seconds,
            end_to_end=read_and_score(assistant, question, passages[:k], threshold),
            oracle=oracle,
        )
        for k in top_ks
    }


# --- the whole run ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalOptions:
    embedding_model: str | None = None
    reader_model: str | None = None
    precision: str | None = None
    top_k: int | tuple[int, ...] | None = None  # several: one index, the questions read once per k
    retrieval: RetrievalMode | None = None
    confidence_threshold: float | None = None
    limit: int | None = None
    seed: int = DEFAULT_SEED
    show_progress: bool = True


@dataclass(frozen=True)
class EvalRun:
    """A whole run: the report and the per-question results for each top-k, in the order asked."""

    reports: dict[int, dict[str, Any]]
    results: dict[int, list[QuestionResult]]
    has_unanswerable: bool


def evaluate(path: str | Path, options: EvalOptions | None = None) -> dict[str, Any]:
    """Index the paragraphs of a SQuAD file in a temporary folder, ask its questions, and report
    (the report of the first top-k when ``options.top_k`` lists several)."""
    return next(iter(run_evaluation(path, options).reports.values()))


def run_evaluation(path: str | Path, options: EvalOptions | None = None) -> EvalRun:
    """Like ``evaluate``, with every top-k's report and the per-question results."""
    options = options or EvalOptions()
    squad = load_squad(path)
    if not squad.questions:
        raise DocqaError(f"{path} has no questions")
    questions = sample_questions(squad.questions, options.limit, options.seed)
    asked = (options.top_k,) if not isinstance(options.top_k, tuple) else options.top_k
    if not asked:
        raise DocqaError("no top-k to evaluate")
    with (
        tempfile.TemporaryDirectory(prefix="docqa-eval-") as folder,
        Assistant(
            corpus_dir=Path(folder, "corpus"),
            index_dir=Path(folder, "index"),
            embedding_model=options.embedding_model,
            reader_model=options.reader_model,
            precision=options.precision,
            top_k=asked[0],
            retrieval=options.retrieval,
            confidence_threshold=options.confidence_threshold,
            # A model named but not loaded would silently measure the lexical mode; a default one
            # falls back as it does for questions, and the report says which mode it measured.
            require=find_named_models(options.embedding_model, options.reader_model),
        ) as assistant,
    ):
        top_ks = list(dict.fromkeys(k or assistant.settings.top_k for k in asked))  # None: the default
        index_seconds = build_index(assistant, squad.documents, options.show_progress)
        settings = run_settings(assistant, squad, path, options, len(questions))
        started = time.perf_counter()
        results = ask_all(assistant, squad, questions, top_ks, options.show_progress)
        wall_seconds = time.perf_counter() - started
    reports = {
        k: {
            "settings": {**settings, "top_k": k},
            **summarize(results[k], squad.has_unanswerable),
            "index_seconds": index_seconds,
            "wall_seconds": wall_seconds,  # of the whole run, every top-k together
        }
        for k in top_ks
    }
    return EvalRun(reports=reports, results=results, has_unanswerable=squad.has_unanswerable)


def build_index(assistant: Assistant, documents: Sequence[Document], show_progress: bool) -> float:
    """Load the models, failing before the long part if a named one is missing, then index ``documents``."""
    started = time.perf_counter()
    Path(assistant.settings.corpus_dir).mkdir()
    assistant.warm_up()  # over the empty corpus folder: cheap, and it loads the models
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
        "confidence_threshold": assistant.confidence_threshold,
        "rank_depth": RANK_DEPTH,
        "limit": options.limit,
        "seed": options.seed,
        "questions": questions,
        "questions_in_file": len(squad.questions),
        "paragraphs": len(squad.documents),
        "passages": status.passages,
    }


def ask_all(
    assistant: Assistant,
    squad: SquadSet,
    questions: Sequence[SquadQuestion],
    top_ks: Sequence[int],
    show_progress: bool,
) -> dict[int, list[QuestionResult]]:
    gold = {document.source: oracle_passage(document) for document in squad.documents}
    progress: Iterable[SquadQuestion] = tqdm(
        questions, desc="questions", unit="q", file=sys.stderr, disable=not show_progress
    )
    results: dict[int, list[QuestionResult]] = {k: [] for k in top_ks}
    for question in progress:
        for k, result in evaluate_question(assistant, question, gold[question.source], top_ks).items():
            results[k].append(result)
    return results
