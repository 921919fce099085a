"""Measuring the assistant on a folder of real files: ``docqa eval --corpus DIR QUESTIONS.json``.

The questions file is in the ``realdocs`` format: ``{"questions": [{"id", "question", "answers",
"file", "location", "format", "unanswerable", "kind"}, ...]}``. The folder is indexed as a user's
folder would be (every format, through the same parsers), each question is asked through
``Assistant.ask``, and what a user is shown is scored: the file and location of the first citation,
the answer's exact match and F1, whether the shown answer holds a gold answer, and abstention on
the unanswerable questions; ``list`` questions also by the precision and recall of their items, and
``conflict`` questions (with ``stale_answers``) by whether both values are shown, the newer first
(``docqa.evaluation.kinds``). Figures are given overall, per format and per kind of question.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from docqa.assistant import Assistant
from docqa.errors import DocqaError
from docqa.evaluation.kinds import conflict_shown, list_scores
from docqa.evaluation.metrics import answer_scores, normalize_answer
from docqa.models import find_named_models
from docqa.schema import Answer
from docqa.version import __version__

_HEADING_SEPARATOR = re.compile(r"\s*[\u203a>]\s*")
_PAGES = re.compile(r"pages? (\d+)(?:\s*[\u2013-]\s*(\d+))?")


@dataclass(frozen=True)
class FolderQuestion:
    id: str
    question: str
    answers: tuple[str, ...]
    file: str
    location: str
    format: str
    unanswerable: bool
    kind: str
    stale_answers: tuple[str, ...] = ()  # a conflict question's value in the older document


@dataclass(frozen=True)
class FolderResult:
    """What one question was shown, scored."""

    id: str
    format: str
    kind: str
    unanswerable: bool
    shown: str  # the answer's text, "" when it abstained
    mode: str
    score: float
    abstained: bool
    cited_file: str | None
    cited_location: str | None
    top_passage_file: str | None
    right_file_retrieved: bool  # the top passage is from the gold file
    right_file: bool  # the first citation is the gold file
    right_location: bool  # ... at the gold location
    exact_match: float
    f1: float
    holds_gold: bool  # a gold answer stands in the shown answer
    list_precision: float | None = None  # kind "list": the shown items that are right
    list_recall: float | None = None  # ... and the gold items shown
    conflict_shown: bool | None = None  # kind "conflict": both values shown, the newer first
    conflicts: int = 0  # documents shown as disagreeing (Answer.conflicts)


def load_questions(path: str | Path) -> list[FolderQuestion]:
    """The questions of a ``realdocs``-format file; raises ``DocqaError`` for another shape."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return [
            FolderQuestion(
                id=str(item["id"]),
                question=str(item["question"]),
                answers=tuple(str(answer) for answer in item.get("answers") or ()),
                file=str(item.get("file") or ""),
                location=str(item.get("location") or ""),
                format=str(item.get("format") or Path(str(item.get("file") or "")).suffix.lstrip(".") or "-"),
                unanswerable=bool(item.get("unanswerable")),
                kind=str(item.get("kind") or ("unanswerable" if item.get("unanswerable") else "fact")),
                stale_answers=tuple(str(answer) for answer in item.get("stale_answers") or ()),
            )
            for item in data["questions"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DocqaError(f"{path} is not a folder questions file ({type(error).__name__}: {error})") from error


def location_matches(shown: str | None, gold: str) -> bool:
    """Whether a citation's location ``shown`` names the place ``gold`` gives.

    Page ranges overlap ("page 3" is in "pages 2-3"); a heading path, sheet or row label matches when
    one is the other or lies under it ("Leave \u203a Parental" under "Leave", "sheet Prices, row 4" under
    "sheet Prices", "chapter 2: The fire" under "chapter 2"), also where the gold path leaves out the
    outer headings the shown one starts with ("Title \u203a Prices" is "Prices"); no gold location (a
    whole-file answer) matches anything.
    """
    if not gold:
        return True
    if not shown:
        return False
    shown_pages, gold_pages = _page_range(shown), _page_range(gold)
    if shown_pages and gold_pages:
        return shown_pages[0] <= gold_pages[1] and gold_pages[0] <= shown_pages[1]
    first, second = _path(shown), _path(gold)
    if second[: len(first)] == first:
        return True
    # The shown path runs through the gold one: the same section, or one under it, where the gold
    # path leaves out the outer headings (a page's title) that the shown one starts with.
    return any(first[start : start + len(second)] == second for start in range(len(first)))


def _page_range(label: str) -> tuple[int, int] | None:
    match = _PAGES.fullmatch(label.strip().lower())
    if not match:
        return None
    first = int(match.group(1))
    return first, int(match.group(2) or first)


def _path(label: str) -> list[str]:
    label = re.sub(r"^(chapter \d+):", r"\1,", label.strip(), flags=re.IGNORECASE)  # chapter 2: TITLE
    parts = [part.strip().lower() for part in re.split(r",|\u203a|>", label)]
    return [" ".join(part.split()) for part in parts if part]


def score_answer(question: FolderQuestion, answer: Answer) -> FolderResult:
    citation = answer.citations[0] if answer.citations and not answer.abstained else None
    shown = "" if answer.abstained else answer.text
    top = answer.passages[0].chunk.source if answer.passages else None
    if question.unanswerable:
        em = f1 = float(answer.abstained)
        holds = right_file = right_location = answer.abstained
    else:
        em, f1 = answer_scores(shown, list(question.answers))
        held = normalize_answer(shown)
        golds = [normalize_answer(gold) for gold in question.answers]
        holds = bool(held) and any(gold and gold in held for gold in golds)
        right_file = citation is not None and citation.source == question.file
        right_location = right_file and location_matches(citation.location if citation else None, question.location)
    precision, recall = list_scores(shown, question.answers) if question.kind == "list" else (None, None)
    conflict = conflict_shown(answer, question.answers, question.stale_answers) if question.kind == "conflict" else None
    return FolderResult(
        id=question.id,
        format=question.format,
        kind=question.kind,
        unanswerable=question.unanswerable,
        shown=shown,
        mode=answer.mode,
        score=answer.score,
        abstained=answer.abstained,
        cited_file=citation.source if citation else None,
        cited_location=citation.location if citation else None,
        top_passage_file=top,
        right_file_retrieved=top == question.file,
        right_file=right_file,
        right_location=right_location,
        exact_match=em,
        f1=f1,
        holds_gold=holds,
        list_precision=precision,
        list_recall=recall,
        conflict_shown=conflict,
        conflicts=len(answer.conflicts),
    )


def summarize_folder(results: Sequence[FolderResult]) -> dict[str, Any]:
    """Overall figures, and the same per format and per kind; fractions in [0, 1]."""
    return {
        "overall": _figures(results),
        "by_format": {name: _figures(group) for name, group in _grouped(results, "format").items()},
        "by_kind": {name: _figures(group) for name, group in _grouped(results, "kind").items()},
    }


def _grouped(results: Iterable[FolderResult], key: str) -> dict[str, list[FolderResult]]:
    groups: dict[str, list[FolderResult]] = defaultdict(list)
    for result in results:
        groups[getattr(result, key)].append(result)
    return dict(sorted(groups.items()))


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _figures(results: Sequence[FolderResult]) -> dict[str, Any]:
    answerable = [r for r in results if not r.unanswerable]
    unanswerable = [r for r in results if r.unanswerable]
    return {
        "questions": len(results),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "top_passage_right_file": _mean([float(r.right_file_retrieved) for r in answerable]),
        "first_citation_right_file": _mean([float(r.right_file) for r in answerable]),
        "right_location": _mean([float(r.right_location) for r in answerable]),
        "exact_match": _mean([r.exact_match for r in answerable]),
        "f1": _mean([r.f1 for r in answerable]),
        "holds_gold": _mean([float(r.holds_gold) for r in answerable]),
        "answered": _mean([float(not r.abstained) for r in answerable]),
        "abstained_unanswerable": _mean([float(r.abstained) for r in unanswerable]),
        "list_precision": _mean([r.list_precision for r in results if r.list_precision is not None]),
        "list_recall": _mean([r.list_recall for r in results if r.list_recall is not None]),
        "conflicts_shown": _mean([float(r.conflict_shown) for r in results if r.conflict_shown is not None]),
        # A disagreement shown for a question of another kind: a false alarm, or versions the set does not mark.
        "conflicts_elsewhere": _mean([float(r.conflicts > 0) for r in results if r.kind != "conflict"]),
    }


def evaluate_folder(
    corpus_dir: str | Path,
    questions_path: str | Path,
    *,
    embedding_model: str | None = None,
    reader_model: str | None = None,
    precision: str | None = None,
    top_k: int | None = None,
    confidence_threshold: float | None = None,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Index ``corpus_dir`` in a temporary index, ask every question of ``questions_path``, report."""
    corpus = Path(corpus_dir)
    if not corpus.is_dir():
        raise DocqaError(f"the corpus folder {corpus} does not exist")
    questions = load_questions(questions_path)
    if not questions:
        raise DocqaError(f"{questions_path} has no questions")
    with (
        tempfile.TemporaryDirectory(prefix="docqa-eval-") as folder,
        Assistant(
            corpus_dir=corpus,
            index_dir=Path(folder, "index"),
            embedding_model=embedding_model,
            reader_model=reader_model,
            precision=precision,
            top_k=top_k,
            confidence_threshold=confidence_threshold,
            require=find_named_models(embedding_model, reader_model),
        ) as assistant,
    ):
        started = time.perf_counter()
        assistant.warm_up()
        report = assistant.index()
        index_seconds = time.perf_counter() - started
        asked: Iterable[FolderQuestion] = tqdm(
            questions, desc="questions", unit="q", file=sys.stderr, disable=not show_progress
        )
        started = time.perf_counter()
        results = [score_answer(question, assistant.ask(question.question)) for question in asked]
        seconds = time.perf_counter() - started
        status = assistant.status()
        settings = {
            "corpus": str(corpus),
            "questions_file": str(questions_path),
            "docqa_version": __version__,
            "embedding_model": status.embedding_model if status.embedder_loaded else "none",
            "reader_model": status.reader_model if status.reader_loaded else "none",
            "mode": status.mode,
            "retrieval": status.retrieval,
            "precision": assistant.settings.precision,
            "top_k": assistant.settings.top_k,
            "confidence_threshold": assistant.confidence_threshold,
            "documents": status.documents,
            "passages": status.passages,
            "skipped": dict(report.skipped),
        }
    return {
        "settings": settings,
        **summarize_folder(results),
        "index_seconds": index_seconds,
        "seconds_per_question": seconds / len(results),
        "results": [asdict(result) for result in results],
    }


_COLUMNS = (
    ("questions", "n"),
    ("top_passage_right_file", "top file"),
    ("first_citation_right_file", "cited file"),
    ("right_location", "location"),
    ("holds_gold", "holds gold"),
    ("exact_match", "EM"),
    ("f1", "F1"),
    ("answered", "answered"),
    ("abstained_unanswerable", "abst. unans."),
)


def format_folder_report(report: dict[str, Any]) -> str:
    """The report as plain-text tables: overall, per format, per kind."""
    settings = report["settings"]
    lines = [
        f"{settings['questions_file']} over {settings['corpus']}: {settings['documents']} documents, "
        f"{settings['passages']} passages; mode {settings['mode']}, retrieval {settings['retrieval']}, "
        f"reader {settings['reader_model']}, embedder {settings['embedding_model']}, "
        f"threshold {settings['confidence_threshold']:.2f}, top-k {settings['top_k']}",
    ]
    for name, reason in settings["skipped"].items():
        lines.append(f"skipped {name}: {reason}")
    header = f"{'':<16}" + "".join(f"{title:>13}" for _, title in _COLUMNS)
    for heading, rows in (
        ("", {"all": report["overall"]}),
        ("by format", report["by_format"]),
        ("by kind", report["by_kind"]),
    ):
        lines += ["", heading or "overall", header]
        for name, figures in rows.items():
            cells = [
                f"{figures[key]:>13}" if key == "questions" else f"{_percent(figures[key]):>13}" for key, _ in _COLUMNS
            ]
            lines.append(f"{name:<16}" + "".join(cells))
    overall = report["overall"]
    lines.append("")
    lines.append(
        f"list questions: item precision {_percent(overall.get('list_precision'))}, recall "
        f"{_percent(overall.get('list_recall'))}; conflict questions: both values shown, the newer first, "
        f"{_percent(overall.get('conflicts_shown'))}; a disagreement shown for another question: "
        f"{_percent(overall.get('conflicts_elsewhere'))}"
    )
    lines.append("Fractions of the answerable questions; 'abst. unans.' of the unanswerable ones; '-' where none.")
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"
