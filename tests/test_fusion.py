"""Hybrid fusion: min-max normalised scores of BM25 and dense search, weighted and summed."""

from __future__ import annotations

import pytest

from docqa.retrieval import DENSE_WEIGHT, fuse
from docqa.retrieval.fusion import normalised


def test_scores_are_rescaled_to_the_unit_interval_per_list() -> None:
    assert normalised([(7, 12.0), (3, 8.0), (5, 2.0)]) == {7: 1.0, 3: 0.6, 5: 0.0}
    assert normalised([(4, 0.3)]) == {4: 1.0}
    assert normalised([(1, 2.0), (2, 2.0)]) == {1: 1.0, 2: 1.0}
    assert normalised([]) == {}


def test_a_passage_both_methods_found_beats_one_found_by_a_single_method() -> None:
    # 2 is second for both methods; 1 tops BM25 alone, 3 tops dense alone.
    bm25 = [(1, 10.0), (2, 9.0), (4, 1.0)]
    dense = [(3, 0.9), (2, 0.85), (5, 0.5)]
    ranking = [chunk_id for chunk_id, _ in fuse(bm25, dense)]
    assert ranking[0] == 2


def test_a_clear_bm25_winner_stays_first() -> None:
    """Rank fusion would put 2 (second in both) ahead; the scores say 1 is far ahead in BM25."""
    bm25 = [(1, 30.0), (2, 5.0), (3, 4.0)]
    dense = [(4, 0.62), (2, 0.61), (3, 0.60), (1, 0.2)]
    assert fuse(bm25, dense)[0][0] == 1


def test_fused_scores_lie_in_the_unit_interval_and_follow_the_weight() -> None:
    bm25 = [(1, 3.0), (2, 1.0)]
    dense = [(2, 0.9), (1, 0.1)]
    fused = dict(fuse(bm25, dense))
    assert fused[1] == pytest.approx(1.0 - DENSE_WEIGHT)
    assert fused[2] == pytest.approx(DENSE_WEIGHT)
    assert all(0.0 <= score <= 1.0 for score in fused.values())


def test_weight_zero_keeps_the_bm25_order_and_one_the_dense_order() -> None:
    bm25 = [(1, 3.0), (2, 2.0), (3, 1.0)]
    dense = [(3, 0.9), (2, 0.5), (1, 0.1)]
    assert [c for c, _ in fuse(bm25, dense, dense_weight=0.0)] == [1, 2, 3]
    assert [c for c, _ in fuse(bm25, dense, dense_weight=1.0)] == [3, 2, 1]


def test_ties_go_to_the_lower_chunk_id_and_one_empty_list_leaves_the_other() -> None:
    bm25_only = 1 - DENSE_WEIGHT
    assert fuse([(9, 1.0), (4, 1.0)], []) == [(4, pytest.approx(bm25_only)), (9, pytest.approx(bm25_only))]
    assert [c for c, _ in fuse([], [(5, 0.8), (6, 0.2)])] == [5, 6]
