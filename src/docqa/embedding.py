"""The dense embedder: a sentence-transformers model behind a small, lazily loaded component."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from docqa.config import DEFAULT_EMBEDDING_MODEL
from docqa.models import load_model


class Embedder:
    """Encodes passages and questions into normalised vectors (inner product = cosine)."""

    def __init__(self, model: str = DEFAULT_EMBEDDING_MODEL, *, batch_size: int = 64) -> None:
        self.model_name = model
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()  # the fast tokenizer must not be used by two threads at once
        self.encode_query = lru_cache(maxsize=1024)(self._encode_query)

    def warm_up(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is None:
                self._model = load_model("embedding", self.model_name, _load_sentence_transformer)

    @property
    def dimension(self) -> int:
        self.warm_up()
        return int(self._model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Float32 array of shape (len(texts), dimension), rows of unit length."""
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _encode_query(self, text: str) -> np.ndarray:
        vector = self.encode([text])[0]
        vector.setflags(write=False)  # cached and shared between callers
        return vector


def _load_sentence_transformer(name: str, local_files_only: bool) -> Any:
    from sentence_transformers import SentenceTransformer  # slow to import: only when a model is there

    return SentenceTransformer(name, device="cpu", local_files_only=local_files_only)
