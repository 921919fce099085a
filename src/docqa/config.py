"""Settings as plain data: defaults, overridden by environment variables, then by arguments."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docqa.errors import DocqaError
from docqa.options import DEFAULT_TOP_K, checked_threshold, checked_top_k
from docqa.schema import RETRIEVAL_MODES, RetrievalMode
from docqa.shards import Shard

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/multi-qa-MiniLM-L6-cos-v1"
DEFAULT_READER_MODEL = "deepset/tinyroberta-squad2"
NO_MODEL = "none"  # selects the lexical modes on purpose
PRECISIONS = ("fp32", "int8")
BACKENDS = ("torch", "onnx")  # what runs the models: PyTorch, or ONNX Runtime from an exported copy

MIN_PARSE_MEMORY_MB = 256  # a worker process holds about 150 MB of parsers' libraries before it reads a file


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("embeddings")
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    reader_model: str = DEFAULT_READER_MODEL
    top_k: int = DEFAULT_TOP_K
    retrieval: RetrievalMode = "hybrid"
    # None: the reader's own default (its ``default_threshold``), since the scores of the extractive
    # and the sentence reader mean different things (README, "Confidence and abstaining").
    confidence_threshold: float | None = None
    chunk_tokens: int = 200  # passage budget in word-level tokens; fits one reader window
    chunk_overlap: int = 1  # sentences repeated at the start of the next passage
    precision: str = "int8"  # within a point of fp32 in F1 on the SQuAD dev files (README, "Speed")
    backend: str = "onnx"
    max_answer_tokens: int = 30
    reader_cache: int = 256  # readings kept for questions asked again of the same passages; 0: none
    # Passages read first; the rest only when none of them holds a confident span (0: all at once).
    # The answer's text is the same either way (README, "Speed and memory").
    read_first: int = 1
    # Where the passages live: "" keeps the embedded store in index_dir; a *.db file is Milvus Lite,
    # http(s)://host:port a Milvus server (credentials from DOCQA_MILVUS_TOKEN or _USER/_PASSWORD).
    store: str = ""
    shard: str = ""  # "I/N": index only slice I of N of the corpus (Milvus); "" the whole corpus
    parse_workers: int = 0  # worker processes reading files at once; 0: as many as the machine has cores
    # Memory one file may take to be read, in MB: the worker process and any program it starts
    # (README, "Reliability"); a file that needs more is skipped with the reason.
    parse_memory_mb: int = 1024

    def __post_init__(self) -> None:
        if self.retrieval not in RETRIEVAL_MODES:
            raise DocqaError(f"retrieval must be one of {', '.join(RETRIEVAL_MODES)}, not {self.retrieval!r}")
        check_runtime(self.precision, self.backend, self.index_dir)
        Shard.parse(self.shard)  # refuses a malformed shard
        if self.reader_cache < 0:
            raise DocqaError(f"reader_cache must not be negative, not {self.reader_cache}")
        if self.read_first < 0:
            raise DocqaError(f"read_first must not be negative, not {self.read_first}")
        if self.parse_workers < 0:
            raise DocqaError(f"parse_workers must not be negative, not {self.parse_workers}")
        if self.parse_memory_mb < MIN_PARSE_MEMORY_MB:
            raise DocqaError(f"parse_memory_mb must be at least {MIN_PARSE_MEMORY_MB}, not {self.parse_memory_mb}")
        checked_top_k(self.top_k)
        if self.confidence_threshold is not None:
            checked_threshold(self.confidence_threshold)

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Defaults, then ``DOCQA_*`` environment variables, then the non-None ``overrides``."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = os.environ.get(f"DOCQA_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, raw, _FIELD_TYPES.get(f.name) or type(getattr(cls(), f.name)))
        values.update({key: value for key, value in overrides.items() if value is not None})
        for key in ("corpus_dir", "index_dir"):
            if key in values:
                values[key] = Path(values[key])
        return cls(**values)

    @property
    def store_location(self) -> str | Path:
        """Where the passages live: the Milvus location named by ``store``, else the index folder."""
        return self.store or self.index_dir

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


_FIELD_TYPES: dict[str, type] = {"confidence_threshold": float}  # fields whose default (None) has no type to go by


def _convert(name: str, raw: str, kind: type) -> Any:
    try:
        return kind(raw)
    except ValueError as error:
        raise DocqaError(f"DOCQA_{name.upper()}={raw!r} is not a valid {kind.__name__}") from error
