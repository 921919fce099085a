"""The dense embedder: a sentence-transformers model behind a small, lazily loaded component.

The model runs in PyTorch (``SentenceTransformer.encode``) or, with ``backend="onnx"``, in ONNX
Runtime from a copy of the whole model (transformer, pooling, normalisation) exported once into
a cache folder; the sentence-transformers model then only tokenises, and once the copy exists it is
not loaded at all: the copy's own tokenizer (``docqa.tokenizing``) does that, without torch.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from docqa.acceleration import (
    export_module,
    open_copy,
    quantize_torch_int8,
    session_or_none,
    use_physical_cores_in_torch,
)
from docqa.caching import OBJECT_BYTES, SizedCache, memoized, text_bytes
from docqa.config import DEFAULT_EMBEDDING_MODEL, check_runtime
from docqa.models import load_model
from docqa.tokenizing import TOKENIZER_FOLDER, Tokenizer, save

EMBEDDING = "embedding"  # the output of the ONNX copy
# Texts are encoded a few at a time: small batches stay in the CPU caches, and were measured
# faster than the batches of 32 or 64 that suit a GPU.
DEFAULT_BATCH_SIZE = 8
QUERY_CACHE_BYTES = 8 * 1024 * 1024  # question vectors kept for repeated queries: about 4,000 of 384 floats
QUERY_CACHE_ENTRIES = 1024


class Embedder:
    """Encodes passages and questions into normalised vectors (inner product = cosine).

    With ``backend="onnx"`` texts of the same length in tokens are encoded together, unpadded, at
    most ``batch_size`` at a time; if the ONNX copy cannot be made, the embedder logs why and runs
    in PyTorch. ``precision="int8"`` quantizes the weights of the linear layers dynamically:
    faster, with vectors slightly different from those of full precision.
    """

    def __init__(
        self,
        model: str = DEFAULT_EMBEDDING_MODEL,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        precision: str = "fp32",
        backend: str = "torch",
        cache_dir: str | Path | None = None,
    ) -> None:
        check_runtime(precision, backend, cache_dir)
        self.model_name = model
        self.batch_size = batch_size
        self.precision = precision
        self.backend = backend
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.active_backend: str | None = None  # the backend in use once loaded
        self._model: Any = None  # the sentence-transformers model, unless the ONNX copy loaded alone
        self._session: Any = None
        self._tokenizer: Tokenizer | None = None  # the copy's own tokenizer, when the model was not loaded
        self._lock = threading.Lock()  # the fast tokenizer must not be used by two threads at once
        cache: SizedCache[str, np.ndarray] = SizedCache(
            QUERY_CACHE_BYTES, _query_entry_bytes, max_entries=QUERY_CACHE_ENTRIES
        )
        self.encode_query = memoized(self._encode_query, cache)  # the vector of one query, kept for a repeat

    def warm_up(self) -> None:
        if self.active_backend is not None:
            return
        with self._lock:
            if self.active_backend is not None:
                return
            copy = None
            if self.backend == "onnx" and self.cache_dir is not None:
                copy = open_copy(self.cache_dir, "embedder", self.model_name, self.precision)
            if copy is not None:  # the copy and its tokenizer: neither torch nor sentence-transformers loads
                self._session, folder = copy
                self._tokenizer = Tokenizer(folder)
                self.active_backend = "onnx"
                return
            use_physical_cores_in_torch()
            model = load_model("embedding", self.model_name, _load_sentence_transformer)
            self._session = self._onnx_session(model) if self.backend == "onnx" else None
            if self._session is None and self.precision == "int8":
                model = quantize_torch_int8(model)
            self._model = model
            self.active_backend = "onnx" if self._session is not None else "torch"

    @property
    def dimension(self) -> int:
        self.warm_up()
        if self._model is None:
            return int(self._session.get_outputs()[0].shape[-1])
        return int(self._model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Float32 array of shape (len(texts), dimension), rows of unit length."""
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            if self._session is not None:
                vectors = self._encode_onnx(list(texts))
            else:
                vectors = self._model.encode(
                    list(texts),
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=show_progress,
                )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _encode_onnx(self, texts: list[str]) -> np.ndarray:
        if self._tokenizer is not None:
            limit = self._tokenizer.settings["max_seq_length"]
            encoded = self._tokenizer(texts, truncation="longest_first", max_length=limit)
        else:
            features = self._model.preprocess(texts).items()
            encoded = {name: value.numpy() for name, value in features if hasattr(value, "numpy")}
        features = {entry.name: encoded[entry.name] for entry in self._session.get_inputs()}
        lengths = encoded["attention_mask"].sum(axis=1)
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for length in np.unique(lengths).tolist():
            rows = np.flatnonzero(lengths == length)
            for first in range(0, len(rows), self.batch_size):
                batch_rows = rows[first:first + self.batch_size]
                batch = {name: array[batch_rows, :length] for name, array in features.items()}
                (vectors[batch_rows],) = self._session.run([EMBEDDING], batch)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)

    def _encode_query(self, text: str) -> np.ndarray:
        vector = self.encode([text])[0]
        vector.setflags(write=False)  # cached and shared between callers
        return vector

    def _onnx_session(self, model: Any) -> Any:
        assert self.cache_dir is not None
        return session_or_none(
            self.cache_dir, "embedder", self.model_name, self.precision, lambda path: _export(model, path)
        )


def _query_entry_bytes(query: str, vector: np.ndarray) -> int:
    return text_bytes([query]) + vector.nbytes + 2 * OBJECT_BYTES


def _load_sentence_transformer(name: str, local_files_only: bool) -> Any:
    from sentence_transformers import SentenceTransformer  # slow to import: only when a model is there

    return SentenceTransformer(name, device="cpu", local_files_only=local_files_only)


def _export(model: Any, path: Path) -> None:
    """Export the whole sentence-transformers model: token ids in, sentence embedding out."""
    import torch

    features = model.preprocess(["A question?", "A longer passage of text, with more words in it."])
    inputs = {name: value for name, value in features.items() if isinstance(value, torch.Tensor)}
    save(model.tokenizer, path.parent / TOKENIZER_FOLDER, max_seq_length=model.max_seq_length)
    export_module(
        model, lambda batch: model(batch)["sentence_embedding"], inputs, {EMBEDDING: ("batch",)}, path
    )
