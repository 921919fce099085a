"""Readers: find the answer inside retrieved passages.

``ExtractiveReader`` runs an extractive question-answering model over every passage and returns
spans of the text; ``SentenceReader`` needs no model and returns the sentence of the best passage
that shares most words with the question. Both return a ``ReaderResult`` whose answers carry
character offsets in the source document.

The extractive model runs in PyTorch or, with ``backend="onnx"``, in ONNX Runtime from a copy
exported once into a cache folder (see ``docqa.acceleration``); both give the same answers.
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from docqa.acceleration import export_module, quantize_torch_int8, session_or_none, use_physical_cores_in_torch
from docqa.chunking import sentence_spans
from docqa.config import BACKENDS, DEFAULT_READER_MODEL, PRECISIONS
from docqa.errors import DocqaError
from docqa.models import load_model
from docqa.schema import ExtractedAnswer, RetrievedPassage

if TYPE_CHECKING:  # torch is imported on first use, so the lexical mode starts without it
    import torch

MAX_QUESTION_TOKENS = 64  # longer questions are cut so the passage keeps most of the window
SPANS_PER_WINDOW = 5  # distinct spans kept per window, a margin over top_answers for merging
WINDOWS_PER_BATCH = 32  # bounds the memory of one forward pass
SENTENCE_ANSWERS = 3
LOGITS = ("start_logits", "end_logits")


_WORD = re.compile(r"[^\W_]+")  # letters and digits; FTS5 splits words at "_"
_STOP_WORDS = frozenset({
    "a", "about", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do",
    "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "me",
    "my", "of", "on", "or", "our", "so", "than", "that", "the", "their", "them", "then", "there", "these",
    "they", "this", "those", "to", "us", "was", "we", "were", "what", "when", "where", "which", "who",
    "whom", "whose", "why", "will", "with", "would", "you", "your",
    "s", "t",  # the pieces FTS5 splits off "it's" and "don't"
})


@dataclass(frozen=True)
class ReaderResult:
    """What a reader found.

    ``answers`` are best first. When ``abstained`` is true they are not answers but the closest
    guesses, kept so that callers can show where the reader looked; ``no_answer_score`` is the
    reader's confidence, in [0, 1], that the passages do not answer the question.
    """

    answers: list[ExtractedAnswer]
    abstained: bool
    no_answer_score: float
    truncated_question: bool = False


@dataclass(frozen=True)
class SpanCandidate:
    """A span of one window, in token positions, with its logits."""

    window: int
    start_token: int
    end_token: int
    logit: float  # start logit + end logit
    null_logit: float  # the window's no-answer logit: start + end logit at the first position


def sigmoid(value: float) -> float:
    return 0.5 * (1.0 + math.tanh(0.5 * value))  # no overflow for large |value|


def decode_spans(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    context_mask: np.ndarray,
    max_answer_tokens: int,
    per_window: int = SPANS_PER_WINDOW,
) -> list[SpanCandidate]:
    """Up to ``per_window`` best spans of every window that do not overlap, best logit first.

    Arrays are (windows, tokens); ``context_mask`` marks the tokens of the passage. A span lies in
    the passage and is 1 to ``max_answer_tokens`` tokens long. Every such span is scored, so the
    best one is found even where the best start and end tokens are too far apart to pair; each
    window's spans are then taken greedily, skipping those that overlap one already taken, so the
    alternatives are other answers rather than the best one with a word more or less.
    """
    windows, tokens = start_logits.shape
    span_starts = np.arange(tokens)[:, None]
    span_ends = span_starts + np.arange(min(max_answer_tokens, tokens))[None, :]
    masked_start = np.where(context_mask, start_logits, -np.inf)
    masked_end = np.where(context_mask, end_logits, -np.inf)
    sums = masked_start[:, :, None] + masked_end[:, np.minimum(span_ends, tokens - 1)]
    sums[:, span_ends >= tokens] = -np.inf
    flat = sums.reshape(windows, -1)  # (window, start token x length)
    flat_starts = np.broadcast_to(span_starts, span_ends.shape).ravel()
    flat_ends = span_ends.ravel()
    null_logits = (start_logits[:, 0] + end_logits[:, 0]).tolist()
    rows = np.arange(windows)
    candidates = []
    for _ in range(per_window):
        best = flat.argmax(axis=1)
        logits = flat[rows, best]
        if not np.isfinite(logits).any():
            break
        for window in np.flatnonzero(np.isfinite(logits)).tolist():
            start, end = int(flat_starts[best[window]]), int(flat_ends[best[window]])
            candidates.append(SpanCandidate(window, start, end, float(logits[window]), null_logits[window]))
        taken_starts, taken_ends = flat_starts[best][:, None], flat_ends[best][:, None]
        flat[(flat_starts <= taken_ends) & (flat_ends >= taken_starts)] = -np.inf
    candidates.sort(key=lambda c: (-c.logit, c.window, c.start_token))
    return candidates


def widen_to_words(text: str, start: int, end: int) -> tuple[int, int]:
    """Grow ``text[start:end]`` to whole words where a subword token cut one, leaving out the
    whitespace at its edges (a span of whitespace alone is kept as it is)."""
    if text[start:end].strip():
        while text[start].isspace():
            start += 1
        while text[end - 1].isspace():
            end -= 1
    while 0 < start < len(text) and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while 0 < end < len(text) and text[end - 1].isalnum() and text[end].isalnum():
        end += 1
    return start, end


def _normalised(text: str) -> str:
    words = _WORD.findall(text.lower())
    return " ".join(words) if words else text


def merge_duplicates(answers: Iterable[ExtractedAnswer], limit: int) -> list[ExtractedAnswer]:
    """The best ``limit`` answers, dropping any that overlaps a better one in the same document
    or has the same normalised text."""
    kept: list[ExtractedAnswer] = []
    for answer in sorted(answers, key=lambda a: -a.score):
        if len(kept) == limit:
            break
        if not any(_same_answer(answer, other) for other in kept):
            kept.append(answer)
    return kept


def _same_answer(first: ExtractedAnswer, second: ExtractedAnswer) -> bool:
    overlaps = (first.passage.chunk.source == second.passage.chunk.source
                and first.start < second.end and second.start < first.end)
    return overlaps or _normalised(first.text) == _normalised(second.text)


def _abstention() -> ReaderResult:
    return ReaderResult(answers=[], abstained=True, no_answer_score=1.0)


class ExtractiveReader:
    """Extracts answer spans with a question-answering model (``AutoModelForQuestionAnswering``).

    Every passage is split into overlapping windows that fit the model (a passage that fits
    needs one window). Windows of the same length go through the model together, none padded,
    so no time is spent on padding. A span's score is
    ``sigmoid(calibration * (start_logit + end_logit))``, so scores compare across windows and
    passages. The model is loaded on first use (or by ``warm_up``); ``read`` is thread-safe and
    remembers its last ``cached_results`` results, so a question asked again of the same passages
    is not read again (0 turns that off).

    ``backend="onnx"`` runs the model in ONNX Runtime, from a copy exported (and, for int8,
    quantized) once into ``cache_dir``; if the copy cannot be made, the reader logs why and runs
    in PyTorch. ``precision="int8"`` quantizes the weights of the linear layers dynamically:
    faster, with slightly different scores.
    """

    def __init__(
        self,
        model: str = DEFAULT_READER_MODEL,
        *,
        max_answer_tokens: int = 30,
        confidence_threshold: float = 0.2,
        max_seq_length: int = 384,
        stride: int = 128,
        top_answers: int = 3,
        precision: str = "fp32",
        calibration: float = 0.1,
        backend: str = "torch",
        cache_dir: str | Path | None = None,
        cached_results: int = 256,
    ) -> None:
        _check_settings(max_answer_tokens, confidence_threshold, max_seq_length, stride, top_answers,
                        precision, calibration)
        _check_backend(backend, cache_dir)
        self.model_name = model
        self.max_answer_tokens = max_answer_tokens
        self.confidence_threshold = confidence_threshold
        self.max_seq_length = max_seq_length
        self.stride = stride
        self.top_answers = top_answers
        self.precision = precision
        self.calibration = calibration
        self.backend = backend
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.active_backend: str | None = None  # the backend in use once loaded
        self._tokenizer: Any = None
        self._model: Any = None  # a torch module, or an ONNX Runtime session
        self._load_lock = threading.Lock()
        # Fast tokenizers raise "Already borrowed" when one instance is used by two threads at once.
        self._inference_lock = threading.Lock()
        self._cached_read = lru_cache(maxsize=max(0, cached_results))(self._read)

    def warm_up(self) -> None:
        """Load the tokenizer and model (once); raises ``ModelLoadError`` when they cannot be loaded."""
        with self._load_lock:
            if self._model is not None:
                return
            from transformers import AutoTokenizer

            tokenizer = load_model("reader", self.model_name, AutoTokenizer.from_pretrained)
            if not tokenizer.is_fast:
                raise DocqaError(
                    f"the reader model {self.model_name!r} has no fast tokenizer, which is needed to map "
                    "answers back to the text; choose a model that ships a tokenizer.json"
                )
            # Padding on the right keeps the null token first and a window's tokens at its start.
            tokenizer.padding_side = "right"
            self._tokenizer = tokenizer
            session = self._onnx_session() if self.backend == "onnx" else None
            self._model = session if session is not None else self._torch_model()
            self.active_backend = "onnx" if session is not None else "torch"

    def _torch_model(self) -> torch.nn.Module:
        from transformers import AutoModelForQuestionAnswering

        use_physical_cores_in_torch()
        model = load_model("reader", self.model_name, AutoModelForQuestionAnswering.from_pretrained)
        model.eval()
        return quantize_torch_int8(model) if self.precision == "int8" else model

    def _onnx_session(self) -> Any:
        assert self.cache_dir is not None
        return session_or_none(self.cache_dir, "reader", self.model_name, self.precision, self._export)

    def _export(self, path: Path) -> None:
        from transformers import AutoModelForQuestionAnswering

        model = load_model("reader", self.model_name, AutoModelForQuestionAnswering.from_pretrained)
        example = self._tokenizer(["Who?", "Where was it?"], ["Someone.", "In a town by the sea."],
                                  padding="longest", return_tensors="pt")
        inputs = {name: example[name] for name in self._tokenizer.model_input_names if name in example}

        def logits(batch: dict[str, Any]) -> tuple[Any, Any]:
            outputs = model(**batch)
            return outputs.start_logits, outputs.end_logits

        export_module(model, logits, inputs, dict.fromkeys(LOGITS, ("batch", "tokens")), path)

    def clear_cache(self) -> None:
        """Forget the results kept for questions asked again."""
        self._cached_read.cache_clear()

    def read(self, question: str, passages: Sequence[RetrievedPassage]) -> ReaderResult:
        """Find answer spans to ``question`` in ``passages``.

        ``abstained`` is true when no span beats its window's no-answer score, or when the best
        score is below the confidence threshold; ``answers`` then holds the best guesses anyway,
        which callers must present as not being answers.
        """
        if not passages or not question.strip():
            return _abstention()
        return self._cached_read(question, tuple(passages))

    def _read(self, question: str, passages: tuple[RetrievedPassage, ...]) -> ReaderResult:
        self.warm_up()
        with self._inference_lock:
            question, question_tokens, truncated = self._shorten_question(question)
            encodings = self._encode(question, question_tokens, passages)
            start_logits, end_logits = self._forward(encodings)
        return self._decode(encodings, start_logits, end_logits, passages, truncated)

    def _question_budget(self) -> int:
        return min(MAX_QUESTION_TOKENS, self.max_seq_length // 3)

    def _shorten_question(self, question: str) -> tuple[str, int, bool]:
        """The question cut to the token budget, its length in tokens, and whether it was cut."""
        tokens = self._tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
        budget = self._question_budget()
        if len(tokens["input_ids"]) <= budget:
            return question, len(tokens["input_ids"]), False
        return question[: tokens["offset_mapping"][budget - 1][1]], budget, True

    def _encode(self, question: str, question_tokens: int, passages: Sequence[RetrievedPassage]) -> Any:
        max_length = min(self.max_seq_length, self._tokenizer.model_max_length)
        room = max_length - question_tokens - self._tokenizer.num_special_tokens_to_add(pair=True)
        return self._tokenizer(
            [question] * len(passages),
            [passage.chunk.text for passage in passages],
            truncation="only_second",
            max_length=max_length,
            stride=min(self.stride, room // 2),  # the tokenizer needs the stride shorter than the room
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_attention_mask=True,
            padding="longest",
            return_tensors="np",
        )

    def _forward(self, encodings: Any) -> tuple[np.ndarray, np.ndarray]:
        """Start and end logits, (windows, tokens), -inf past the end of a window.

        Windows of the same length run together, in batches of at most ``WINDOWS_PER_BATCH``,
        each cut to its length: none is padded.
        """
        inputs = {name: encodings[name] for name in self._tokenizer.model_input_names if name in encodings}
        lengths = encodings["attention_mask"].sum(axis=1)
        starts = np.full(encodings["input_ids"].shape, -np.inf, dtype=np.float32)
        ends = starts.copy()
        for length in np.unique(lengths).tolist():
            rows = np.flatnonzero(lengths == length)
            for first in range(0, len(rows), WINDOWS_PER_BATCH):
                batch_rows = rows[first:first + WINDOWS_PER_BATCH]
                batch = {name: array[batch_rows, :length] for name, array in inputs.items()}
                starts[batch_rows, :length], ends[batch_rows, :length] = self._logits(batch)
        return starts, ends

    def _logits(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        if self.active_backend == "onnx":
            start_logits, end_logits = self._model.run(list(LOGITS), batch)
            return start_logits, end_logits
        import torch

        with torch.inference_mode():
            outputs = self._model(**{name: torch.from_numpy(array) for name, array in batch.items()})
        return outputs.start_logits.float().numpy(), outputs.end_logits.float().numpy()

    def _decode(
        self,
        encodings: Any,
        start_logits: np.ndarray,
        end_logits: np.ndarray,
        passages: Sequence[RetrievedPassage],
        truncated_question: bool,
    ) -> ReaderResult:
        windows = start_logits.shape[0]
        context_mask = np.array(
            [[sequence == 1 for sequence in encodings.sequence_ids(w)] for w in range(windows)], dtype=bool
        )
        candidates = decode_spans(start_logits, end_logits, context_mask, self.max_answer_tokens,
                                  per_window=max(SPANS_PER_WINDOW, self.top_answers))
        owners = encodings["overflow_to_sample_mapping"].tolist()
        offsets = encodings["offset_mapping"].tolist()
        # The passages hold no answer only if no window finds one: the least confident window speaks.
        null_logit = float(np.min(start_logits[:, 0] + end_logits[:, 0]))
        confident = [c for c in candidates if c.logit >= c.null_logit]
        chosen = confident or candidates
        answers = merge_duplicates(
            (self._to_answer(c, passages[owners[c.window]], offsets[c.window]) for c in chosen),
            self.top_answers,
        )
        abstained = not confident or not answers or answers[0].score < self.confidence_threshold
        return ReaderResult(
            answers=answers,
            abstained=abstained,
            no_answer_score=sigmoid(self.calibration * null_logit),
            truncated_question=truncated_question,
        )

    def _to_answer(
        self, candidate: SpanCandidate, passage: RetrievedPassage, offsets: list[list[int]]
    ) -> ExtractedAnswer:
        char_start, char_end = widen_to_words(
            passage.chunk.text, offsets[candidate.start_token][0], offsets[candidate.end_token][1]
        )
        return ExtractedAnswer(
            text=passage.chunk.text[char_start:char_end],
            score=sigmoid(self.calibration * candidate.logit),
            passage=passage,
            start=passage.chunk.start + char_start,
            end=passage.chunk.start + char_end,
        )


def _check_settings(
    max_answer_tokens: int,
    confidence_threshold: float,
    max_seq_length: int,
    stride: int,
    top_answers: int,
    precision: str,
    calibration: float,
) -> None:
    problems = [
        (max_answer_tokens < 1, f"max_answer_tokens must be at least 1, not {max_answer_tokens}"),
        (not 0.0 <= confidence_threshold <= 1.0,
         f"the confidence threshold must be between 0 and 1, not {confidence_threshold}"),
        (max_seq_length < 32, f"max_seq_length must be at least 32, not {max_seq_length}"),
        (stride < 0, f"stride must not be negative, not {stride}"),
        (top_answers < 1, f"top_answers must be at least 1, not {top_answers}"),
        (precision not in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}"),
        (calibration <= 0, f"calibration must be positive, not {calibration}"),
    ]
    for failed, message in problems:
        if failed:
            raise DocqaError(message)


def _check_backend(backend: str, cache_dir: str | Path | None) -> None:
    if backend not in BACKENDS:
        raise DocqaError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "onnx" and cache_dir is None:
        raise DocqaError("the onnx backend needs a cache folder (cache_dir) for the exported model")


class SentenceReader:
    """Picks the sentences of the best passage that share most words with the question.

    Words are matched with SQLite FTS5 (``porter unicode61``, the index's own tokenizer), so
    "buildings" matches "building". A sentence's score is the fraction of the question's words it
    contains, each word weighted by how rare it is among the passage's sentences; sentences are
    ordered by that score, then by BM25.
    """

    def read(self, question: str, passages: Sequence[RetrievedPassage]) -> ReaderResult:
        if not passages:
            return _abstention()
        passage = passages[0]
        spans = sentence_spans(passage.chunk.text)
        terms = question_terms(question)
        ranked = _rank_sentences([passage.chunk.text[start:end] for start, end in spans], terms)
        if not ranked:
            return _abstention()
        sentences = (_sentence_answer(passage, spans[row], score) for row, score in ranked)
        answers = merge_duplicates(sentences, SENTENCE_ANSWERS)  # a repeated sentence is shown once
        return ReaderResult(answers=answers, abstained=False, no_answer_score=1.0 - answers[0].score)


def _sentence_answer(passage: RetrievedPassage, span: tuple[int, int], score: float) -> ExtractedAnswer:
    start, end = span
    return ExtractedAnswer(
        text=passage.chunk.text[start:end],
        score=score,
        passage=passage,
        start=passage.chunk.start + start,
        end=passage.chunk.start + end,
    )


def question_terms(question: str) -> list[str]:
    """The question's distinct lower-case words, without stop words, in order."""
    words = (word for word in _WORD.findall(question.lower()) if word not in _STOP_WORDS)
    return list(dict.fromkeys(words))


def _rank_sentences(sentences: list[str], terms: list[str]) -> list[tuple[int, float]]:
    """(sentence index, score) of the sentences that contain a term, best first."""
    if not sentences or not terms:
        return []
    with closing(sqlite3.connect(":memory:")) as db:
        db.execute("CREATE VIRTUAL TABLE sentences USING fts5(text, tokenize='porter unicode61')")
        db.executemany("INSERT INTO sentences(rowid, text) VALUES (?, ?)", enumerate(sentences))
        matches = {term: _matching_rows(db, f'"{term}"') for term in terms}
        bm25 = dict(_matching_scores(db, " OR ".join(f'"{term}"' for term in terms)))
    weights = {term: _idf(len(rows), len(sentences)) for term, rows in matches.items()}
    total = sum(weights.values())
    coverage = {
        row: sum(weights[term] for term, rows in matches.items() if row in rows) / total for row in bm25
    }
    return sorted(coverage.items(), key=lambda item: (-item[1], bm25[item[0]]))


def _matching_rows(db: sqlite3.Connection, match: str) -> set[int]:
    return {row for row, _ in _matching_scores(db, match)}


def _matching_scores(db: sqlite3.Connection, match: str) -> list[tuple[int, float]]:
    """(row, bm25) of the sentences matching an FTS5 query; lower bm25 is better."""
    query = "SELECT rowid, bm25(sentences) FROM sentences WHERE sentences MATCH ?"
    return db.execute(query, (match,)).fetchall()


def _idf(matching: int, total: int) -> float:
    return math.log(1.0 + (total - matching + 0.5) / (matching + 0.5))
