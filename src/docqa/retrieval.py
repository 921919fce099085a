"""Retrieval: BM25 and dense search over the index, fused by reciprocal rank fusion."""

from __future__ import annotations

from collections.abc import Sequence

from docqa.embedding import Embedder
from docqa.index import Index
from docqa.schema import RetrievalMode, RetrievedPassage

RRF_K = 60  # the constant of Cormack et al. (2009); damps the weight of the very first ranks


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Fuse ranked id lists: each id scores the sum of 1 / (k + rank) over the lists it is in."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


class Retriever:
    """Finds the passages of an index that are relevant to a query."""

    def __init__(self, index: Index, embedder: Embedder | None = None, *, candidates: int = 30) -> None:
        self.index = index
        self.embedder = embedder
        self.candidates = candidates  # per method, before fusion

    def effective_mode(self, mode: RetrievalMode) -> RetrievalMode:
        """The mode that can actually run: BM25 alone when there are no vectors to search."""
        if mode != "bm25" and (self.embedder is None or not self.index.has_vectors()):
            return "bm25"
        return mode

    def retrieve(self, query: str, *, top_k: int = 5, mode: RetrievalMode = "hybrid") -> list[RetrievedPassage]:
        mode = self.effective_mode(mode)
        depth = max(self.candidates, top_k)
        bm25 = self.index.search_bm25(query, depth) if mode != "dense" else []
        dense = []
        if mode != "bm25":
            assert self.embedder is not None
            dense = self.index.search_dense(self.embedder.encode_query(query), depth)
        bm25_rank = {chunk_id: rank for rank, (chunk_id, _) in enumerate(bm25, start=1)}
        dense_rank = {chunk_id: rank for rank, (chunk_id, _) in enumerate(dense, start=1)}
        if mode == "hybrid":
            scored = reciprocal_rank_fusion([[i for i, _ in bm25], [i for i, _ in dense]])
        else:
            scored = bm25 or dense
        rows = [(chunk_id, score, bm25_rank.get(chunk_id), dense_rank.get(chunk_id)) for chunk_id, score in scored]
        return distinct(self.index.passages(rows[: 2 * top_k]))[:top_k]


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
