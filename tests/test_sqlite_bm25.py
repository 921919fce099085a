"""BM25 on large SQLite indexes: only passages holding a rare query word are ranked, with exact scores."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_conformance import record, write

from docqa.store import SQLiteStore, sqlite_bm25

# 40 passages: "harbour" in every one, "granite" in 30, "pelican" in 4, "lighthouse" in 2.
TEXTS = [
    " ".join(
        ["harbour", "note", str(n)]
        + (["granite"] if n % 4 else [])
        + (["pelican"] if n % 10 == 3 else [])
        + (["lighthouse"] if n in (7, 21) else [])
        + ["filler"] * (n % 5)
    )
    for n in range(40)
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "index")
    write(opened, [record(f"note-{n:02d}.txt", [text], f"Note {n}") for n, text in enumerate(TEXTS)])
    yield opened
    opened.close()


def exhaustive(store: SQLiteStore, match: str) -> list[tuple[int, float]]:
    with sqlite3.connect(store.db_path) as db:
        rows = db.execute(
            "SELECT rowid, bm25(chunks_fts) AS rank FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank, rowid",
            (match,),
        ).fetchall()
    return [(row_id, -rank) for row_id, rank in rows]


QUERY = "lighthouse pelican granite harbour"
MATCH = '"lighthouse" OR "pelican" OR "granite" OR "harbour"'


def test_queries_within_the_limit_are_ranked_exhaustively(store: SQLiteStore) -> None:
    expected = exhaustive(store, MATCH)
    hits = store.search_bm25(QUERY, 12)
    assert [score for _, score in hits] == pytest.approx([score for _, score in expected[:12]])
    full = dict(expected)
    assert all(score == pytest.approx(full[row]) for row, score in hits)


def test_over_the_limit_only_passages_with_a_rare_word_are_ranked_with_their_full_scores(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_bm25, "SCORED_ROWS", 6)  # lighthouse (2) and pelican (4) are the rare words
    full = dict(exhaustive(store, MATCH))
    rare = {row for row, _ in exhaustive(store, '"lighthouse" OR "pelican"')}
    hits = store.search_bm25(QUERY, 10)
    assert {row for row, _ in hits} == rare and len(hits) == 6
    for row, score in hits:
        assert score == pytest.approx(full[row])  # the common words count in the score
    scores = [score for _, score in hits]
    assert scores == sorted(scores, reverse=True)
    assert [score for _, score in store.search_bm25(QUERY, 3)] == pytest.approx(scores[:3])


def test_the_rarest_word_is_always_searched(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_bm25, "SCORED_ROWS", 1)
    hits = store.search_bm25("granite harbour lighthouse", 5)
    full = dict(exhaustive(store, '"granite" OR "harbour" OR "lighthouse"'))
    assert len(hits) == 2 and all(score == pytest.approx(full[row]) for row, score in hits)
    assert len(store.search_bm25("harbour", 50)) == 40  # one word: ranked exhaustively
