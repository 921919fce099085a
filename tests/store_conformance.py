"""What every passage store must do: a class of tests to run over each ``PassageStore``.

A store's test module subclasses ``StoreConformance`` as ``Test<Store>`` and provides two fixtures:

- ``store``: an empty store of that kind;
- ``reopen``: a function that opens the data of ``store`` anew, as another process would.

The tests use only the Protocols of ``docqa.store.base``, so they hold for any store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pytest

from docqa.errors import DocqaError, IndexLoadError
from docqa.schema import Chunk, Document
from docqa.store.base import DocumentInfo, IndexSettings, PassageStore, StoreWriter

LEXICAL = IndexSettings(embedding_model="none", chunk_tokens=200, chunk_overlap=1)
DENSE = IndexSettings(embedding_model="conformance-vectors", chunk_tokens=200, chunk_overlap=1)
DIMENSION = 8

Record = tuple[Document, list[Chunk]]


def record(source: str, sentences: Sequence[str], title: str, date: str | None = None) -> Record:
    """A document of ``sentences`` with one chunk per sentence, at its exact offsets."""
    text = " ".join(sentences)
    chunks, start = [], 0
    for position, sentence in enumerate(sentences):
        chunks.append(Chunk(source, position, sentence, start, start + len(sentence)))
        start += len(sentence) + 1
    document = Document(source, text, title, hashlib.sha256(text.encode()).hexdigest(), date)
    return document, chunks


HARBOUR = record(
    "harbour.txt",
    ["The lighthouse keeper counted forty ships in the harbour.", "Storms closed the harbour for a week."],
    "Harbour log",
    "2021-01-06",
)
BRIDGE = record("notes/bridge.md", ["The old stone bridge was rebuilt in 1902.", "Its arches are granite."], "Bridges")
MARKET = record(
    "market.txt", ["The market opens at dawn on Saturdays.", "Fishermen sell their catch by the quay."], "Market"
)
NEW_HARBOUR = record("harbour.txt", ["Pelicans nest on the harbour wall every spring."], "Harbour log", "2022-03-01")


def vectors_of(chunks: Sequence[Chunk]) -> np.ndarray:
    """A unit vector per chunk, fixed by its text, so a chunk's own vector finds it first."""
    rows = [
        np.random.default_rng(list(hashlib.sha256(c.text.encode()).digest())).normal(size=DIMENSION) for c in chunks
    ]
    vectors = np.array(rows, dtype=np.float32).reshape(len(chunks), DIMENSION)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def write(
    store: PassageStore,
    records: Iterable[Record],
    settings: IndexSettings = LEXICAL,
    *,
    remove: Sequence[str] = (),
    rebuild: bool = False,
) -> StoreWriter:
    """One write session: remove ``remove``, then add each record (with vectors for vector settings)."""
    with store.writer(settings, rebuild=rebuild) as writer:
        writer.remove(remove)
        for document, chunks in records:
            vectors = vectors_of(chunks) if settings.embedding_model != "none" else None
            writer.add([document], chunks, vectors)
    return writer


def contents(store: PassageStore) -> tuple[object, ...]:
    """What a reader can see of ``store``, to compare two moments."""
    hits = store.search_bm25("harbour bridge market ships", 10)
    return (
        store.settings(),
        store.documents(),
        store.stored_hashes(),
        store.count_passages(),
        hits,
        store.passages([(chunk_id, score, rank, None) for rank, (chunk_id, score) in enumerate(hits, 1)]),
    )


def sources_found(store: PassageStore, query: str) -> list[str]:
    hits = store.search_bm25(query, 10)
    return [passage.chunk.source for passage in store.passages([(i, s, 1, None) for i, s in hits])]


class StoreConformance:
    """Tests any ``PassageStore`` must pass; see the module notes for the fixtures they need."""

    # ----- empty and committed ---------------------------------------------------------

    def test_an_empty_store_holds_nothing(self, store: PassageStore) -> None:
        assert store.settings() is None and store.count_passages() == 0 == store.count_documents()
        assert store.documents() == [] and store.stored_hashes() == {}
        assert store.search_bm25("harbour", 5) == [] and store.search_dense(np.ones(DIMENSION), 5) == []
        assert not store.has_vectors()
        assert store.passages([(1, 1.0, 1, None)]) == []
        with pytest.raises(DocqaError, match="no document"):
            store.document_text("harbour.txt")

    def test_a_committed_session_is_read_back(self, store: PassageStore) -> None:
        write(store, [HARBOUR, BRIDGE, MARKET])
        assert store.settings() == LEXICAL
        assert store.count_passages() == 6 and store.count_documents() == 3
        assert store.documents() == [
            DocumentInfo("harbour.txt", "Harbour log", "2021-01-06", 2),
            DocumentInfo("market.txt", "Market", None, 2),
            DocumentInfo("notes/bridge.md", "Bridges", None, 2),
        ]
        assert store.stored_hashes() == {d.source: d.content_hash for d, _ in (HARBOUR, BRIDGE, MARKET)}
        assert store.document_text("notes/bridge.md") == BRIDGE[0].text
        assert store.document_text("notes/bridge.md", 12) == BRIDGE[0].text[:12]
        assert store.document_text("notes/bridge.md", 10_000) == BRIDGE[0].text
        with pytest.raises(DocqaError, match="no document"):
            store.document_text("missing.txt")
        with pytest.raises(DocqaError, match="no document"):
            store.document_text("missing.txt", 12)

    def test_the_opening_of_a_long_document_is_read_alone(self, store: PassageStore) -> None:
        # Over 40,000 characters: more than a Milvus row holds, so the text is stored in parts.
        long = record("long.txt", [f"Entry {n} of the harbour register. " * 500 for n in range(3)], "Register")
        write(store, [long])
        text = long[0].text
        assert len(text) > 40_000 and store.document_text("long.txt") == text
        assert store.document_text("long.txt", 600) == text[:600]
        assert store.document_text("long.txt", 20_000) == text[:20_000]

    def test_a_store_of_no_documents_still_keeps_its_settings(self, store: PassageStore) -> None:
        write(store, [])
        assert store.settings() == LEXICAL and store.count_passages() == 0 and store.documents() == []

    def test_settings_round_trip(self, store: PassageStore) -> None:
        settings = IndexSettings(embedding_model="some/model", chunk_tokens=77, chunk_overlap=0)
        write(store, [HARBOUR], settings)
        assert store.settings() == settings and store.has_vectors()

    # ----- atomic sessions -------------------------------------------------------------

    def test_readers_see_the_previous_state_until_the_commit(self, store: PassageStore) -> None:
        write(store, [HARBOUR, BRIDGE])
        before = contents(store)
        with store.writer(LEXICAL) as writer:
            writer.remove(["harbour.txt"])
            writer.add([MARKET[0]], MARKET[1])
            assert contents(store) == before
        assert [info.source for info in store.documents()] == ["market.txt", "notes/bridge.md"]

    def test_an_error_in_a_session_rolls_all_of_it_back(self, store: PassageStore) -> None:
        write(store, [HARBOUR, BRIDGE])
        before = contents(store)
        with pytest.raises(RuntimeError, match="stopped"), store.writer(LEXICAL) as writer:
            writer.remove(["harbour.txt"])
            writer.add([MARKET[0]], MARKET[1])
            raise RuntimeError("stopped")
        assert contents(store) == before
        write(store, [MARKET])  # the failed session let go of the store
        assert store.count_passages() == 6

    def test_a_rolled_back_rebuild_keeps_everything(self, store: PassageStore) -> None:
        write(store, [HARBOUR, BRIDGE])
        before = contents(store)
        with pytest.raises(RuntimeError), store.writer(LEXICAL, rebuild=True) as writer:
            writer.add([MARKET[0]], MARKET[1])
            raise RuntimeError("stopped")
        assert contents(store) == before

    # ----- incremental updates and rebuilds --------------------------------------------

    def test_documents_are_added_replaced_and_removed_incrementally(self, store: PassageStore) -> None:
        write(store, [HARBOUR, BRIDGE])
        writer = write(store, [MARKET], remove=["notes/bridge.md", "never-stored.txt"])
        assert not writer.rebuilding
        assert [info.source for info in store.documents()] == ["harbour.txt", "market.txt"]
        assert sources_found(store, "granite arches") == []
        assert sources_found(store, "fishermen") == ["market.txt"]

        write(store, [NEW_HARBOUR], remove=["harbour.txt"])
        assert store.document_text("harbour.txt") == NEW_HARBOUR[0].text
        assert store.stored_hashes()["harbour.txt"] == NEW_HARBOUR[0].content_hash
        assert sources_found(store, "lighthouse keeper") == [] and sources_found(store, "pelicans") == ["harbour.txt"]
        assert store.count_passages() == 3 and store.count_documents() == 2
        write(store, [BRIDGE], DENSE, rebuild=True)  # the counts start afresh with a rebuild
        assert (store.count_passages(), store.count_documents()) == (2, 1)

    def test_a_rebuild_starts_from_an_empty_store(self, store: PassageStore) -> None:
        write(store, [HARBOUR, BRIDGE])
        writer = write(store, [MARKET], rebuild=True)
        assert writer.rebuilding
        assert [info.source for info in store.documents()] == ["market.txt"]
        assert store.search_bm25("lighthouse", 5) == []

    def test_other_settings_start_from_an_empty_store(self, store: PassageStore) -> None:
        write(store, [HARBOUR, BRIDGE])
        other = IndexSettings(embedding_model="none", chunk_tokens=60, chunk_overlap=0)
        writer = write(store, [MARKET], other)
        assert writer.rebuilding and store.settings() == other
        assert [info.source for info in store.documents()] == ["market.txt"]

    # ----- search ----------------------------------------------------------------------

    def test_bm25_ranks_the_passage_with_the_rare_words_first(self, store: PassageStore) -> None:
        write(store, [HARBOUR, BRIDGE, MARKET])
        hits = store.search_bm25("granite arches of the bridge", 5)
        [best] = store.passages([(hits[0][0], hits[0][1], 1, None)])
        assert best.chunk.source == "notes/bridge.md" and "granite" in best.chunk.text
        scores = [score for _, score in hits]
        assert scores == sorted(scores, reverse=True) and scores[-1] > 0
        assert len(store.search_bm25("the harbour", 1)) == 1

    @pytest.mark.parametrize("query", ["?!", "", 'NEAR("x" AND NOT * OR', "\ud800 harbour\x00"])
    def test_bm25_takes_any_query_text(self, store: PassageStore, query: str) -> None:
        write(store, [HARBOUR])
        hits = store.search_bm25(query, 5)
        assert all(score > 0 for _, score in hits)
        assert ("harbour" in query) == bool(hits)

    def test_dense_search_finds_the_nearest_vector_first(self, store: PassageStore) -> None:
        write(store, [HARBOUR, BRIDGE, MARKET], DENSE)
        assert store.has_vectors()
        target = MARKET[1][1]
        hits = store.search_dense(vectors_of([target])[0], 4)
        assert len(hits) == 4
        [nearest] = store.passages([(hits[0][0], hits[0][1], None, 1)])
        # A store may keep vectors as half-width floats: a product off by a thousandth keeps the order.
        assert nearest.chunk.text == target.text and hits[0][1] == pytest.approx(1.0, abs=2e-3)
        scores = [score for _, score in hits]
        assert scores == sorted(scores, reverse=True) and all(-1.0001 <= s <= 1.0001 for s in scores)

    def test_dense_search_refuses_a_vector_of_another_dimension(self, store: PassageStore) -> None:
        write(store, [HARBOUR], DENSE)
        with pytest.raises(IndexLoadError, match="embedding model it was built with"):
            store.search_dense(np.ones(DIMENSION - 1, dtype=np.float32), 3)

    def test_a_store_without_vectors_has_no_dense_hits(self, store: PassageStore) -> None:
        write(store, [HARBOUR, BRIDGE])
        assert not store.has_vectors() and store.search_dense(np.ones(DIMENSION, dtype=np.float32), 3) == []

    def test_removed_documents_leave_dense_search(self, store: PassageStore) -> None:
        write(store, [HARBOUR, BRIDGE], DENSE)
        write(store, [], DENSE, remove=["harbour.txt"])
        hits = store.search_dense(vectors_of([HARBOUR[1][0]])[0], 5)
        passages = store.passages([(chunk_id, score, None, rank) for rank, (chunk_id, score) in enumerate(hits, 1)])
        assert [p.chunk.source for p in passages] == ["notes/bridge.md"] * 2

    def test_a_search_can_be_limited_to_some_documents(self, store: PassageStore) -> None:
        write(store, [HARBOUR, BRIDGE, MARKET], DENSE)

        def found(hits: list[tuple[int, float]]) -> list[str]:
            return [p.chunk.source for p in store.passages([(i, s, 1, None) for i, s in hits])]

        words = "harbour bridge market ships granite quay"
        assert set(found(store.search_bm25(words, 10))) == {"harbour.txt", "notes/bridge.md", "market.txt"}
        assert set(found(store.search_bm25(words, 10, sources=["market.txt"]))) == {"market.txt"}
        both = found(store.search_bm25(words, 10, sources={"market.txt", "notes/bridge.md"}))
        assert set(both) == {"market.txt", "notes/bridge.md"}
        assert len(store.search_bm25(words, 1, sources=["market.txt"])) == 1
        assert store.search_bm25(words, 10, sources=[]) == [] and store.search_bm25(words, 10, sources=["no.txt"]) == []

        bridge_vector = vectors_of([BRIDGE[1][1]])[0]
        limited = store.search_dense(bridge_vector, 10, sources=["harbour.txt"])
        assert found(limited) == ["harbour.txt"] * 2 and limited[0][1] >= limited[1][1]
        [nearest] = store.search_dense(bridge_vector, 1, sources=["notes/bridge.md", "market.txt"])
        [unlimited] = store.search_dense(bridge_vector, 1)
        assert nearest[0] == unlimited[0] and nearest[1] == pytest.approx(unlimited[1], abs=2e-3)
        assert store.passages([(*nearest, None, 1)])[0].chunk.text == BRIDGE[1][1].text
        assert store.search_dense(bridge_vector, 5, sources=[]) == []

    def test_a_writer_refuses_vectors_that_do_not_fit(self, store: PassageStore) -> None:
        document, chunks = HARBOUR
        with pytest.raises(ValueError), store.writer(DENSE) as writer:
            writer.add([document], chunks, None)
        with pytest.raises(ValueError), store.writer(DENSE) as writer:
            writer.add([document], chunks, vectors_of(chunks)[:1])
        with pytest.raises(ValueError), store.writer(LEXICAL) as writer:
            writer.add([document], chunks, vectors_of(chunks))
        assert store.settings() is None

    # ----- passages --------------------------------------------------------------------

    def test_passages_keep_the_given_order_and_drop_vanished_ids(self, store: PassageStore) -> None:
        write(store, [HARBOUR, BRIDGE, MARKET])
        hits = store.search_bm25("harbour bridge market", 10)
        rows = [(chunk_id, 10.0 - rank, rank, None) for rank, (chunk_id, _) in enumerate(reversed(hits), 1)]
        passages = store.passages(rows)
        assert [(p.chunk.id, p.score, p.bm25_rank, p.dense_rank) for p in passages] == rows
        for passage in passages:
            chunk = passage.chunk
            assert store.document_text(chunk.source)[chunk.start : chunk.end] == chunk.text
            info = next(info for info in store.documents() if info.source == chunk.source)
            assert (passage.title, passage.date) == (info.title, info.date)
        harbour = next(p for p in passages if p.chunk.source == "harbour.txt")
        assert (harbour.title, harbour.date) == ("Harbour log", "2021-01-06")

        write(store, [], remove=["harbour.txt"])
        kept = store.passages(rows)
        assert [p.chunk.id for p in kept] == [p.chunk.id for p in passages if p.chunk.source != "harbour.txt"]
        assert store.passages([]) == []

    def test_chunk_positions_and_offsets_are_kept(self, store: PassageStore) -> None:
        write(store, [BRIDGE])
        hits = store.search_bm25("bridge granite", 5)
        passages = store.passages([(chunk_id, score, 1, None) for chunk_id, score in hits])
        by_position = sorted((p.chunk.index, p.chunk.start, p.chunk.end, p.chunk.text) for p in passages)
        assert by_position == [(c.index, c.start, c.end, c.text) for c in BRIDGE[1]]

    # ----- persistence -----------------------------------------------------------------

    def test_reopening_reads_the_same_store(self, store: PassageStore, reopen: Callable[[], PassageStore]) -> None:
        write(store, [HARBOUR, BRIDGE, MARKET], DENSE)
        query = vectors_of([BRIDGE[1][0]])[0]
        again = reopen()
        try:
            assert contents(again) == contents(store)
            assert again.search_dense(query, 3) == store.search_dense(query, 3)
            assert again.has_vectors() and again.document_text("market.txt") == MARKET[0].text
        finally:
            again.close()

    def test_a_session_through_one_handle_is_seen_through_another(
        self, store: PassageStore, reopen: Callable[[], PassageStore]
    ) -> None:
        write(store, [HARBOUR], DENSE)
        other = reopen()
        try:
            assert other.count_passages() == 2
            write(other, [BRIDGE], DENSE)
            assert store.count_passages() == 4 and sources_found(store, "granite") == ["notes/bridge.md"]
            [nearest] = store.search_dense(vectors_of([BRIDGE[1][1]])[0], 1)
            assert store.passages([(*nearest, None, 1)])[0].chunk.text == BRIDGE[1][1].text
        finally:
            other.close()
