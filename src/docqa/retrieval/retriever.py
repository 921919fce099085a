"""The retriever: BM25 and dense search over a store, fused into one ranking."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from docqa.embedding import Embedder
from docqa.retrieval.fusion import fuse
from docqa.schema import RetrievalMode, RetrievedPassage
from docqa.store.base import SearchStore


class Retriever:
    """Finds the passages of a store that are relevant to a query."""

    def __init__(self, store: SearchStore, embedder: Embedder | None = None, *, candidates: int = 30) -> None:
        self.store = store
        self.embedder = embedder
        self.candidates = candidates  # per method, before fusion

    def effective_mode(self, mode: RetrievalMode) -> RetrievalMode:
        """The mode that can actually run: BM25 alone when there are no vectors to search."""
        if mode != "bm25" and (self.embedder is None or not self.store.has_vectors()):
            return "bm25"
        return mode

    def retrieve(
        self,
        query: str,
        *,
        top_k: int = 5,
        mode: RetrievalMode = "hybrid",
        sources: Collection[str] | None = None,
    ) -> list[RetrievedPassage]:
        """The ``top_k`` best passages for ``query``; only of the documents ``sources`` when given."""
        mode = self.effective_mode(mode)
        depth = max(self.candidates, top_k)
        bm25 = self.store.search_bm25(query, depth, sources=sources) if mode != "dense" else []
        dense = []
        if mode != "bm25":
            assert self.embedder is not None
            dense = self.store.search_dense(self.embedder.encode_query(query), depth, sources=sources)
        bm25_rank = {chunk_id: rank for rank, (chunk_id, _) in enumerate(bm25, start=1)}
        dense_rank = {chunk_id: rank for rank, (chunk_id, _) in enumerate(dense, start=1)}
        scored = fuse(bm25, dense) if mode == "hybrid" else bm25 or dense
        rows = [(chunk_id, score, bm25_rank.get(chunk_id), dense_rank.get(chunk_id)) for chunk_id, score in scored]
        return distinct(self.store.passages(rows[: 2 * top_k]))[:top_k]


def distinct(passages: Sequence[RetrievedPassage]) -> list[RetrievedPassage]:
    """The passages without repeats of a higher-ranked passage's text (copies of one file, say)."""
    seen: set[str] = set()
    kept = []
    for passage in passages:
        key = " ".join(passage.chunk.text.split())
        if key not in seen:
            seen.add(key)
            kept.append(passage)
    return kept
