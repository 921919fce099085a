"""The extractive reader: answer spans found by a question-answering model.

The model runs in PyTorch or, with ``backend="onnx"``, in ONNX Runtime from a copy exported once
into a cache folder (see ``docqa.acceleration``); both give the same answers.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from docqa.acceleration import (
    export_module,
    open_copy,
    quantize_torch_int8,
    session_or_none,
    use_physical_cores_in_torch,
)
from docqa.caching import OBJECT_BYTES, SizedCache, text_bytes
from docqa.config import DEFAULT_READER_MODEL, check_runtime
from docqa.errors import DocqaError
from docqa.models import load_model
from docqa.reader.base import ReaderResult, merge_duplicates, no_answer
from docqa.reader.calibration import Calibration, load_calibration
from docqa.reader.spans import SPANS_PER_WINDOW, SpanCandidate, decode_spans, widen_to_words
from docqa.reader.windows import context_mask, encode_windows, shorten_question
from docqa.schema import AnswerMode, ExtractedAnswer, RetrievedPassage
from docqa.tokenizing import TOKENIZER_FOLDER, Tokenizer, save

if TYPE_CHECKING:  # torch is imported on first use, so the lexical mode starts without it
    import torch

WINDOWS_PER_BATCH = 32  # bounds the memory of one forward pass
LOGITS = ("start_logits", "end_logits")
READINGS_CACHE_BYTES = 16 * 1024 * 1024  # the readings kept hold their passages: bounded in bytes too


_ReadingKey = tuple[str, tuple[RetrievedPassage, ...], bool]  # question, passages, every passage read


@dataclass(frozen=True)
class WindowLogits:
    """The model's logits for every window of some passages, as the reader decodes them.

    Arrays are (windows, tokens). Windows are padded to the longest, but each ran through the
    model cut to its own length: ``start`` and ``end`` are -inf past a window's end.
    """

    start: np.ndarray
    end: np.ndarray
    context_mask: np.ndarray  # bool: the tokens of the passage (not the question, nor special tokens)
    offsets: np.ndarray  # (windows, tokens, 2): each token's character span in its passage's text
    passage_of_window: list[int]  # the index, in the passages read, of each window's passage
    truncated_question: bool


class ExtractiveReader:
    """Extracts answer spans with a question-answering model (``AutoModelForQuestionAnswering``).

    Every passage is split into overlapping windows that fit the model (a passage that fits
    needs one window). Windows of the same length go through the model together, none padded,
    so no time is spent on padding. A span's score comes from its start + end logit through the
    model's calibration (``docqa.reader.calibration``): fitted for the model, it is roughly the chance
    that the span is exactly right, and it compares across windows and passages; uncalibrated, it is
    how far the span beats the window's no-answer logit. The no-answer score is the same function
    of the no-answer logit. The reader abstains only when the model's no-answer score beats every
    span; the confidence threshold is the caller's to apply. The model is loaded on first use (or by
    ``warm_up``); ``read`` is thread-safe and remembers its last ``cached_results`` results (as many
    as fit in ``READINGS_CACHE_BYTES``), so a question asked again of the same passages is not read
    again (0 turns that off).

    ``backend="onnx"`` runs the model in ONNX Runtime, from a copy exported (and, for int8,
    quantized) once into ``cache_dir``; if the copy cannot be made, the reader logs why and runs
    in PyTorch. ``precision="int8"`` quantizes the weights of the linear layers dynamically:
    faster, with slightly different scores. ``read_first=n`` reads the first ``n`` passages alone
    and the others only when none of those holds a confident span (0: all at once).
    """

    mode: AnswerMode = "extractive"

    def __init__(
        self,
        model: str = DEFAULT_READER_MODEL,
        *,
        max_answer_tokens: int = 30,
        max_seq_length: int = 384,
        stride: int = 128,
        top_answers: int = 3,
        precision: str = "fp32",
        calibration: Calibration | None = None,
        backend: str = "torch",
        cache_dir: str | Path | None = None,
        cached_results: int = 256,
        read_first: int = 0,
    ) -> None:
        _check_settings(max_answer_tokens, max_seq_length, stride, top_answers)
        if read_first < 0:
            raise DocqaError(f"read_first must not be negative, not {read_first}")
        check_runtime(precision, backend, cache_dir)
        self.model_name = model
        self.max_answer_tokens = max_answer_tokens
        self.max_seq_length = max_seq_length
        self.stride = stride
        self.top_answers = top_answers
        self.precision = precision
        # The model's own calibration (reader/calibration.py), read from its folder or docqa's cache.
        self.calibration = calibration if calibration is not None else load_calibration(model)
        self.backend = backend
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.read_first = read_first
        self.active_backend: str | None = None  # the backend in use once loaded
        self._tokenizer: Any = None
        self._model: Any = None  # a torch module, or an ONNX Runtime session
        self._load_lock = threading.Lock()
        # Fast tokenizers raise "Already borrowed" when one instance is used by two threads at once.
        self._inference_lock = threading.Lock()
        self._readings: SizedCache[_ReadingKey, ReaderResult] = SizedCache(
            READINGS_CACHE_BYTES, _reading_bytes, max_entries=max(0, cached_results)
        )

    @property
    def default_threshold(self) -> float:
        """The threshold of the model's calibration (0.5 for an uncalibrated model)."""
        return self.calibration.threshold

    def warm_up(self) -> None:
        """Load the tokenizer and model (once); raises ``ModelLoadError`` when they cannot be loaded."""
        with self._load_lock:
            if self._model is not None:
                return
            copy = None
            if self.backend == "onnx" and self.cache_dir is not None:
                copy = open_copy(self.cache_dir, "reader", self.model_name, self.precision)
            if copy is not None:  # the copy and its tokenizer: neither torch nor transformers loads
                self._model, folder = copy
                self._tokenizer = Tokenizer(folder)
                self.active_backend = "onnx"
                return
            from transformers import AutoConfig, AutoTokenizer

            self._check_architecture(load_model("reader", self.model_name, AutoConfig.from_pretrained))
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

    def _check_architecture(self, config: Any) -> None:
        """Refuse a model without a question-answering head (an embedder, say): loaded, it would get a
        randomly initialised head, and answer with random spans."""
        architectures = list(getattr(config, "architectures", None) or [])
        if architectures and not any(name.endswith("ForQuestionAnswering") for name in architectures):
            raise DocqaError(
                f"the reader model {self.model_name!r} is a {architectures[0]}, not a question-answering model: "
                "the reader needs an extractive question-answering model (...ForQuestionAnswering, trained on "
                f"SQuAD or the like, such as {DEFAULT_READER_MODEL}), or 'none' for the lexical mode"
            )

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
        save(self._tokenizer, path.parent / TOKENIZER_FOLDER)  # a later start then loads no transformers

    def clear_cache(self) -> None:
        """Forget the results kept for questions asked again."""
        self._readings.clear()

    def read(
        self, question: str, passages: Sequence[RetrievedPassage], *, every_passage: bool = False
    ) -> ReaderResult:
        """Find answer spans to ``question`` in ``passages``, best first, each with its score.

        ``abstained`` is true when no span beats its window's no-answer score; ``answers`` then
        holds the best guesses anyway, which callers must present as not being answers. The
        passages after the first ``read_first`` are read only when those hold no confident span,
        unless ``every_passage``.
        """
        if not passages or not question.strip():
            return no_answer()
        key = (question, tuple(passages), every_passage)
        result = self._readings.get(key)
        if result is None:
            result = self._read(*key)
            self._readings.put(key, result)
        return result

    def _read(self, question: str, passages: tuple[RetrievedPassage, ...], every_passage: bool) -> ReaderResult:
        first = 0 if every_passage else self.read_first
        if not 0 < first < len(passages):
            return self._decode(self.logits(question, passages), passages)
        # The answer comes from the best-ranked passage with a confident span, so once the first
        # passages hold one, reading the others cannot change it: they are read only if none does.
        leading = self.logits(question, passages[:first])
        result = self._decode(leading, passages[:first])
        if not result.abstained:
            return result
        return self._decode(_joined(leading, self.logits(question, passages[first:]), first), passages)

    def logits(self, question: str, passages: Sequence[RetrievedPassage]) -> WindowLogits:
        """The model's start and end logits for ``question`` over the windows of ``passages``,
        cut, windowed and batched exactly as ``read`` does (whatever the backend), never cached."""
        self.warm_up()
        with self._inference_lock:
            question, question_tokens, truncated = shorten_question(self._tokenizer, question, self.max_seq_length)
            encodings = encode_windows(
                self._tokenizer, question, question_tokens, [passage.chunk.text for passage in passages],
                self.max_seq_length, self.stride,
            )
            start_logits, end_logits = self._forward(encodings)
        return WindowLogits(
            start=start_logits,
            end=end_logits,
            context_mask=context_mask(encodings),
            offsets=encodings["offset_mapping"],
            passage_of_window=encodings["overflow_to_sample_mapping"].tolist(),
            truncated_question=truncated,
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
                starts[batch_rows, :length], ends[batch_rows, :length] = self._run_model(batch)
        return starts, ends

    def _run_model(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """One forward pass of the loaded model, in whichever backend, over a tokenized batch."""
        if self.active_backend == "onnx":
            start_logits, end_logits = self._model.run(list(LOGITS), batch)
            return start_logits, end_logits
        import torch

        with torch.inference_mode():
            outputs = self._model(**{name: torch.from_numpy(array) for name, array in batch.items()})
        return outputs.start_logits.float().numpy(), outputs.end_logits.float().numpy()

    def _decode(self, logits: WindowLogits, passages: Sequence[RetrievedPassage]) -> ReaderResult:
        candidates = decode_spans(logits.start, logits.end, logits.context_mask, self.max_answer_tokens,
                                  per_window=max(SPANS_PER_WINDOW, self.top_answers))
        owners = logits.passage_of_window
        offsets = logits.offsets.tolist()
        # The passages hold no answer only if no window finds one: the least confident window speaks.
        null_logit = float(np.min(logits.start[:, 0] + logits.end[:, 0]))
        confident = [c for c in candidates if c.logit >= c.null_logit]
        chosen = confident or candidates
        answers = merge_duplicates(
            (self._to_answer(c, passages[owners[c.window]], offsets[c.window]) for c in chosen), len(chosen)
        )
        if confident:
            # The answer comes from the best-ranked passage in which the model finds one; a lower
            # passage's span does not outrank it on its logit alone. On the SQuAD dev articles the
            # shipped reader never saw, this beat taking the highest logit of all passages at every
            # top-k (see the README's quality section). The other answers keep their order, by score.
            lead = passages[min(owners[c.window] for c in confident)]
            first = next((answer for answer in answers if answer.passage is lead), None)
            if first is not None:  # None: its span was kept from an overlapping passage instead
                answers = [first, *(answer for answer in answers if answer is not first)]
        answers = answers[: self.top_answers]
        return ReaderResult(
            answers=answers,
            abstained=not confident or not answers,
            no_answer_score=self._no_answer_score(null_logit, candidates),
            truncated_question=logits.truncated_question,
        )

    def _no_answer_score(self, null_logit: float, candidates: Sequence[SpanCandidate]) -> float:
        """The score of "no answer", against the best span when the calibration is relative to it."""
        return self.calibration.score(null_logit, max((c.logit for c in candidates), default=null_logit))

    def _to_answer(
        self, candidate: SpanCandidate, passage: RetrievedPassage, offsets: list[list[int]]
    ) -> ExtractedAnswer:
        char_start, char_end = widen_to_words(
            passage.chunk.text, offsets[candidate.start_token][0], offsets[candidate.end_token][1]
        )
        return ExtractedAnswer(
            text=passage.chunk.text[char_start:char_end],
            score=self.calibration.score(candidate.logit, candidate.null_logit),
            logit=candidate.logit,
            passage=passage,
            start=passage.chunk.start + char_start,
            end=passage.chunk.start + char_end,
        )


def _joined(leading: WindowLogits, rest: WindowLogits, offset: int) -> WindowLogits:
    """The windows of two readings as one, as if read together; ``rest``'s passages follow the
    ``offset`` passages of ``leading``."""
    width = max(leading.start.shape[1], rest.start.shape[1])

    def padded(array: np.ndarray, fill: Any) -> np.ndarray:
        extra = [(0, 0), (0, width - array.shape[1])] + [(0, 0)] * (array.ndim - 2)
        return np.pad(array, extra, constant_values=fill)

    def both(name: str, fill: Any) -> np.ndarray:
        return np.concatenate([padded(getattr(leading, name), fill), padded(getattr(rest, name), fill)])

    return WindowLogits(
        start=both("start", -np.inf),
        end=both("end", -np.inf),
        context_mask=both("context_mask", False),
        offsets=both("offsets", 0),
        passage_of_window=[*leading.passage_of_window, *(offset + p for p in rest.passage_of_window)],
        truncated_question=leading.truncated_question or rest.truncated_question,
    )


def _reading_bytes(key: _ReadingKey, result: ReaderResult) -> int:
    """The bytes of one kept reading: its question, the passages it read and its answers (which
    point into those passages)."""
    question, passages, _ = key
    passage_bytes = sum(
        text_bytes([p.chunk.text, p.chunk.source, p.title, p.date]) + 3 * OBJECT_BYTES for p in passages
    )
    answer_bytes = sum(text_bytes([answer.text]) + OBJECT_BYTES for answer in result.answers)
    return text_bytes([question]) + passage_bytes + answer_bytes + 3 * OBJECT_BYTES


def _check_settings(max_answer_tokens: int, max_seq_length: int, stride: int, top_answers: int) -> None:
    problems = [
        (max_answer_tokens < 1, f"max_answer_tokens must be at least 1, not {max_answer_tokens}"),
        (max_seq_length < 32, f"max_seq_length must be at least 32, not {max_seq_length}"),
        (stride < 0, f"stride must not be negative, not {stride}"),
        (top_answers < 1, f"top_answers must be at least 1, not {top_answers}"),
    ]
    for failed, message in problems:
        if failed:
            raise DocqaError(message)


