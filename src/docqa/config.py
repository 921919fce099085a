"""Settings as plain data: defaults, overridden by environment variables, then by arguments."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docqa.errors import DocqaError
from docqa.schema import RETRIEVAL_MODES, RetrievalMode

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/multi-qa-MiniLM-L6-cos-v1"
DEFAULT_READER_MODEL = "deepset/tinyroberta-squad2"
NO_MODEL = "none"  # selects the lexical modes on purpose
PRECISIONS = ("fp32", "int8")
BACKENDS = ("torch", "onnx")  # what runs the models: PyTorch, or ONNX Runtime from an exported copy


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("embeddings")
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    reader_model: str = DEFAULT_READER_MODEL
    top_k: int = 5  # passages the reader reads
    retrieval: RetrievalMode = "hybrid"
    confidence_threshold: float = 0.2
    chunk_tokens: int = 200  # passage budget in word-level tokens; fits one reader window
    chunk_overlap: int = 1  # sentences repeated at the start of the next passage
    precision: str = "fp32"
    backend: str = "onnx"
    max_answer_tokens: int = 30
    reader_cache: int = 256  # readings kept for questions asked again of the same passages; 0: none

    def __post_init__(self) -> None:
        if self.retrieval not in RETRIEVAL_MODES:
            raise DocqaError(f"retrieval must be one of {', '.join(RETRIEVAL_MODES)}, not {self.retrieval!r}")
        check_runtime(self.precision, self.backend, self.index_dir)
        if self.reader_cache < 0:
            raise DocqaError(f"reader_cache must not be negative, not {self.reader_cache}")
        if self.top_k < 1:
            raise DocqaError(f"top_k must be at least 1, not {self.top_k}")
        if not 0.0 <= self.confidence_threshold <= 1.0:
            raise DocqaError(f"the confidence threshold must be between 0 and 1, not {self.confidence_threshold}")

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Defaults, then ``DOCQA_*`` environment variables, then the non-None ``overrides``."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = os.environ.get(f"DOCQA_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, raw, type(getattr(cls(), f.name)))
        values.update({key: value for key, value in overrides.items() if value is not None})
        for key in ("corpus_dir", "index_dir"):
            if key in values:
                values[key] = Path(values[key])
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def check_runtime(precision: str, backend: str, cache_dir: str | Path | None) -> None:
    """The one check of how a model runs, shared by Settings and the model classes (which can be built
    without Settings); ``cache_dir`` is where the ONNX backend keeps its exported copy."""
    if precision not in PRECISIONS:
        raise DocqaError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if backend not in BACKENDS:
        raise DocqaError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "onnx" and cache_dir is None:
        raise DocqaError("the onnx backend needs a cache folder (cache_dir) for the exported model")


def _convert(name: str, raw: str, kind: type) -> Any:
    try:
        return kind(raw)
    except ValueError as error:
        raise DocqaError(f"DOCQA_{name.upper()}={raw!r} is not a valid {kind.__name__}") from error
