"""Retrieval: BM25 and dense search over a passage store, fused into one ranking."""

from docqa.retrieval.fusion import RRF_K, fuse, reciprocal_rank_fusion
from docqa.retrieval.retriever import Retriever, distinct

__all__ = ["RRF_K", "Retriever", "distinct", "fuse", "reciprocal_rank_fusion"]
