"""How the rankings of BM25 and dense search become one: reciprocal rank fusion."""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60  # the constant of Cormack et al. (2009); damps the weight of the very first ranks


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Fuse ranked id lists: each id scores the sum of 1 / (k + rank) over the lists it is in."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


def fuse(bm25: Sequence[tuple[int, float]], dense: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """One ranking of (chunk id, score), best first, from the BM25 and dense hits, each best first.

    The retriever fuses through this function only, so the fusion method can change here alone.
    """
    return reciprocal_rank_fusion([[chunk_id for chunk_id, _ in bm25], [chunk_id for chunk_id, _ in dense]])
