"""Retrieval: BM25 and dense search over a passage store, fused into one ranking."""

from docqa.retrieval.fusion import DENSE_WEIGHT, fuse
from docqa.retrieval.retriever import Retriever, distinct

__all__ = ["DENSE_WEIGHT", "Retriever", "distinct", "fuse"]
