"""The passage store in Milvus: a Milvus Lite file (``passages.db``) or a Milvus server or cluster.

The same ``PassageStore`` as the SQLite one, for corpora and traffic that outgrow one machine: app
replicas on several machines read one Milvus, and indexing shards (``docqa index --shard I/N``) write
disjoint slices of the corpus into it. ``milvus_schema`` describes the collections and how readers
see only committed generations; ``milvus_writer`` how a write session commits without transactions.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from docqa.config import NO_MODEL
from docqa.errors import DocqaError, IndexLoadError
from docqa.schema import Chunk, RetrievedPassage
from docqa.shards import Shard
from docqa.store.base import DocumentInfo, IndexSettings, ScoredRow
from docqa.store.milvus_connection import MilvusConnection
from docqa.store.milvus_schema import (
    PASSAGE_FIELDS,
    TEXT_PART_CHARS,
    key_list,
    query_all,
    settings_of,
    source_key,
)
from docqa.store.milvus_writer import MilvusWriter
from docqa.text import query_words


def bm25_text(query: str) -> str:
    """The words searched by BM25, as the SQLite store picks them: stop words dropped (unless the
    query holds nothing else), each word once; Milvus's analyzer then stems them as it stemmed the text."""
    return " ".join(query_words(query))


class MilvusStore:
    """Search, list and write the passages of one index kept in Milvus.

    ``uri`` is a Milvus Lite file path or an ``http(s)://`` server address; ``collection`` the base
    name of the index's collections (default ``$DOCQA_MILVUS_COLLECTION`` or ``docqa``), so one server
    can hold several indexes; ``shard`` the slice this handle writes (reads always see every slice).
    Reads may come from any number of threads while one write session per shard runs.
    """

    def __init__(
        self, uri: str | Path, *, collection: str | None = None, shard: Shard | None = None, lock_timeout: float = 600.0
    ) -> None:
        # Shared with the write sessions: the client, the collections' names, the committed view.
        self.connection = MilvusConnection(uri, collection=collection, shard=shard, lock_timeout=lock_timeout)
        self.uri, self.names, self.shard = self.connection.uri, self.connection.names, self.connection.shard
        self.lock_timeout = lock_timeout

    @property
    def local(self) -> bool:
        """Whether this is a Milvus Lite file rather than a server."""
        return self.connection.local

    @property
    def client(self) -> Any:
        return self.connection.client

    # ----- state -------------------------------------------------------------------------

    def manifest(self) -> dict[str, Any] | None:
        view = self.connection.view()
        return None if view is None else view.manifest

    def settings(self) -> IndexSettings | None:
        view = self.connection.view()
        return None if view is None else settings_of(view.manifest)

    def has_vectors(self) -> bool:
        view = self.connection.view()
        return bool(view and view.manifest["embedding_model"] != NO_MODEL)

    def count_passages(self) -> int:
        view = self.connection.view()
        if view is None or not self.connection.exists(self.names.passages(view.epoch)):
            return 0
        rows = self.connection.call(
            "count",
            self.client.query,
            self.names.passages(view.epoch),
            filter=view.visible(),
            output_fields=["count(*)"],
        )
        return int(rows[0]["count(*)"])

    def count_documents(self) -> int:
        view = self.connection.view()
        if view is None or not self.connection.exists(self.names.documents(view.epoch)):
            return 0
        rows = self.connection.call(
            "count",
            self.client.query,
            self.names.documents(view.epoch),
            filter=f"part == 0 and ({view.visible()})",  # a long document's text is kept in parts
            output_fields=["count(*)"],
        )
        return int(rows[0]["count(*)"])

    def stored_hashes(self) -> dict[str, str]:
        return {row["source"]: row["content_hash"] for row in self._document_rows(["source", "content_hash"])}

    def documents(self) -> list[DocumentInfo]:
        rows = self._document_rows(["source", "title", "date", "passages"])
        return [DocumentInfo(row["source"], row["title"], row["date"] or None, int(row["passages"])) for row in rows]

    def document_text(self, source: str, limit: int | None = None) -> str:
        view = self.connection.view()
        rows: list[dict[str, Any]] = []
        first_part = limit is not None and limit <= TEXT_PART_CHARS  # it holds the text's opening
        parts = " and part == 0" if first_part else ""
        if view is not None and self.connection.exists(self.names.documents(view.epoch)):
            rows = self.connection.call(
                "read",
                self.client.query,
                self.names.documents(view.epoch),
                filter=f"source_key == {source_key(source)}{parts} and ({view.visible()})",
                output_fields=["source", "part", "parts", "text"],
            )
        rows = sorted((row for row in rows if row["source"] == source), key=lambda row: row["part"])
        if not rows:
            raise DocqaError(f"no document {source!r} in the index")
        if [row["part"] for row in rows] != list(range(1 if first_part else rows[0]["parts"])):
            raise IndexLoadError(f"the text of {source!r} in {self.uri} is incomplete; re-index it with 'docqa index'")
        text = "".join(row["text"] for row in rows)
        return text if limit is None else text[:limit]

    # ----- search ------------------------------------------------------------------------

    def search_bm25(self, query: str, k: int, sources: Collection[str] | None = None) -> list[tuple[int, float]]:
        """Chunk ids and BM25 scores (higher is better), best first; only of ``sources`` when given."""
        text = bm25_text(query)
        view = self.connection.view()
        if sources is not None and not sources:
            return []
        if not text or view is None or not self.connection.exists(self.names.passages(view.epoch)):
            return []
        hits = self.connection.call(
            "search",
            self.client.search,
            self.names.passages(view.epoch),
            data=[text],
            anns_field="sparse",
            limit=k,
            filter=_of_sources(view.visible(), sources),
            output_fields=[],
        )
        # Milvus Lite reports BM25 scores negated (lowest first); a server reports them as they are.
        # Either way the hits come best first, and the magnitude is the BM25 score.
        return [(int(hit["id"]), abs(float(hit["distance"]))) for hit in hits[0]]

    def search_dense(
        self, vector: np.ndarray, k: int, sources: Collection[str] | None = None
    ) -> list[tuple[int, float]]:
        """Chunk ids and cosine similarities (inner products of unit vectors), best first; only of
        ``sources`` when given."""
        view = self.connection.view()
        if view is None or view.manifest["embedding_model"] == NO_MODEL or (sources is not None and not sources):
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        dimension = int(view.manifest["embedding_dimension"])
        if not dimension or not self.connection.exists(self.names.passages(view.epoch)):
            return []
        if query.shape[0] != dimension:
            raise IndexLoadError(
                f"the index in {self.uri} holds {dimension}-dimensional vectors, but the query vector has "
                f"{query.shape[0]} dimensions: search it with the embedding model it was built with, or "
                "re-index with 'docqa index --rebuild'"
            )
        hits = self.connection.call(
            "search",
            self.client.search,
            self.names.passages(view.epoch),
            data=[query.tolist()],
            anns_field="dense",
            limit=k,
            filter=_of_sources(view.visible(), sources),
            output_fields=[],
            search_params={"metric_type": "IP"},
        )
        return [(int(hit["id"]), float(hit["distance"])) for hit in hits[0]]

    def passages(self, rows: Sequence[ScoredRow]) -> list[RetrievedPassage]:
        """Build passages for (chunk id, score, bm25 rank, dense rank) rows, keeping their order and
        leaving out ids no longer stored."""
        view = self.connection.view()
        if not rows or view is None or not self.connection.exists(self.names.passages(view.epoch)):
            return []
        found = {
            int(row["id"]): row
            for row in self.connection.call(
                "read",
                self.client.query,
                self.names.passages(view.epoch),
                filter=f"id in [{key_list(row[0] for row in rows)}] and ({view.visible()})",
                output_fields=PASSAGE_FIELDS,
            )
        }
        passages = []
        for chunk_id, score, bm25_rank, dense_rank in rows:
            row = found.get(chunk_id)
            if row is None:
                continue
            locations = tuple((int(offset), str(label)) for offset, label in json.loads(row.get("locations") or "[]"))
            start, end = int(row["start_char"]), int(row["end_char"])
            chunk = Chunk(row["source"], int(row["position"]), row["text"], start, end, chunk_id, locations)
            passages.append(RetrievedPassage(chunk, score, row["title"], row["date"] or None, bm25_rank, dense_rank))
        return passages

    # ----- writing -----------------------------------------------------------------------

    def writer(self, settings: IndexSettings, *, rebuild: bool = False) -> MilvusWriter:
        """A write session for this handle's shard (see ``MilvusWriter``)."""
        return MilvusWriter(self.connection, settings, rebuild=rebuild)

    def close(self) -> None:
        self.connection.close()

    # ----- plumbing ----------------------------------------------------------------------

    def _document_rows(self, fields: list[str]) -> list[dict[str, Any]]:
        """The first part's row of every visible document, by source."""
        view = self.connection.view()
        if view is None or not self.connection.exists(self.names.documents(view.epoch)):
            return []
        rows = self.connection.call(
            "read",
            query_all,
            self.client,
            self.names.documents(view.epoch),
            f"part == 0 and ({view.visible()})",
            fields,
        )
        return sorted(rows, key=lambda row: row["source"])


def _of_sources(visible: str, sources: Collection[str] | None) -> str:
    """The filter of what is visible, limited to the passages of ``sources`` when given."""
    if sources is None:
        return visible
    return f"source_key in [{key_list(source_key(source) for source in sources)}] and ({visible})"
