"""BM25 top-k over FTS5 that stays fast on large indexes, by scoring only the passages that can rank.

FTS5 ranks a query by computing ``bm25()`` for every passage that matches any of its words, so an
OR of a few common words at a million passages scores hundreds of thousands of rows (147 ms). When
a query matches more than ``SCORED_ROWS`` passages, the words are split by how many passages hold
them: the rarest, holding at most ``SCORED_ROWS`` passages together (always at least one word), and
the common rest. Only passages holding a rare word are ranked, in two exact parts:

- those that also hold a common word: ``(rare) AND (common)`` gives their full BM25 score, since
  every query word appears once in the expression;
- those that hold rare words only: ``rare`` gives their score, which is then also their full one.

What is left out are passages holding common words only. They rarely rank in the top k, since one
rare word outweighs several common ones (IDF), but they can: at a million synthetic passages the
top 5 agreed with the exhaustive ranking on about 94% of passages. Queries below the limit, which
covers every index of fewer passages than ``SCORED_ROWS``, are ranked exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

SCORED_ROWS = 5_000  # the most matching passages ranked exhaustively
RECOUNT_FACTOR = 20  # when every word is over the limit, they are counted this much further
Rows = Callable[[str, Sequence[Any]], list[Any]]  # runs a read query, returns its rows

_RANKED = "SELECT rowid, bm25(chunks_fts) AS rank FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?"
_SCORED = "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?"
_COUNTED = "SELECT count(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?)"


def top(rows: Rows, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
    """(rowid, FTS5 rank) of the ``k`` best passages for an OR of the quoted FTS5 ``terms``, best
    (lowest rank) first; see the module notes for which passages are ranked."""
    match = " OR ".join(terms)
    if len(terms) == 1 or _matches(rows, match) <= SCORED_ROWS:
        return [(row_id, rank) for row_id, rank in rows(_RANKED, (match, k))]
    counts = [_matches(rows, term) for term in terms]
    if min(counts) > SCORED_ROWS:  # every word is common: count further to find the rarest
        counts = [_matches(rows, term, RECOUNT_FACTOR * SCORED_ROWS) for term in terms]
    counted = sorted(zip(counts, range(len(terms)), terms, strict=True))
    rare: list[str] = []
    total = 0
    for count, _, term in counted:
        if rare and total + count > SCORED_ROWS:
            break
        rare.append(term)
        total += count
    common = [term for _, _, term in counted[len(rare) :]]
    either = " OR ".join(rare)
    scores = {row_id: rank for row_id, rank in rows(_SCORED, (f"({either}) AND ({' OR '.join(common)})",))}
    # Of the passages holding rare words only, the best k are among the best k + len(scores) of all.
    for row_id, rank in rows(_RANKED, (either, k + len(scores))):
        scores.setdefault(row_id, rank)
    return sorted(scores.items(), key=lambda item: (item[1], item[0]))[:k]


def _matches(rows: Rows, match: str, limit: int | None = None) -> int:
    """How many passages ``match`` finds, counted up to one over ``limit`` (``SCORED_ROWS``)."""
    return int(rows(_COUNTED, (match, (limit or SCORED_ROWS) + 1))[0][0])
