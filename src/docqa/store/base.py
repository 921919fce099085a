"""What a passage store promises: the records it keeps, how it is searched, how it is written.

A store keeps documents (their text, title, date and content hash), their chunks, and optionally
one vector per chunk. It knows nothing of parsing, chunking or embedding: the indexer does those
and hands the store finished records through a writer, one atomic session at a time.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

import numpy as np

from docqa.schema import Chunk, Document, RetrievedPassage

# The layout of stored records; an older one is rebuilt, a newer one refused. 2: passages keep
# their locations (page, slide, sheet, chapter, heading path). 3: documents read anew (table rows
# as records cited by row, PDF text as paragraphs, RTF headings), since unchanged files are not.
# 4: read anew again (scanned tables as records, numbered items of text files, articles' bylines).
FORMAT_VERSION = 4

# (chunk id, score, bm25 rank, dense rank): a search result on its way to becoming a passage.
ScoredRow = tuple[int, float, int | None, int | None]


@dataclass(frozen=True)
class IndexSettings:
    """What the stored chunks and vectors depend on; a change means a full rebuild."""

    embedding_model: str  # "none" when the store holds no vectors
    chunk_tokens: int
    chunk_overlap: int
    format_version: int = FORMAT_VERSION


@dataclass(frozen=True)
class DocumentInfo:
    source: str
    title: str
    date: str | None
    passages: int


class SearchStore(Protocol):
    """What the retriever needs of a store."""

    def search_bm25(self, query: str, k: int, sources: Collection[str] | None = None) -> list[tuple[int, float]]:
        """Chunk ids and BM25 scores (higher is better), best first.

        ``sources`` limits the search to the chunks of those documents (none found for an empty
        collection); None searches them all. The same holds for ``search_dense``.
        """
        ...

    def search_dense(
        self, vector: np.ndarray, k: int, sources: Collection[str] | None = None
    ) -> list[tuple[int, float]]:
        """Chunk ids and cosine similarities, best first; empty when the store holds no vectors."""
        ...

    def passages(self, rows: Sequence[ScoredRow]) -> list[RetrievedPassage]:
        """The passages of ``rows``, in their order, leaving out ids no longer stored."""
        ...

    def has_vectors(self) -> bool: ...


class StoreWriter(Protocol):
    """One atomic write session: used as a context manager, it commits on a clean exit and leaves
    the store as it was when the block raises. Readers see the previous state until the commit.

    This is also the bulk-loading entry point: ``add`` takes finished records, however they were made.
    """

    rebuilding: bool  # the session started from an empty store (asked for, or the settings changed)

    def add(self, documents: Sequence[Document], chunks: Sequence[Chunk], vectors: np.ndarray | None = None) -> None:
        """Store ``documents`` and their ``chunks``, with one vector row per chunk when the settings
        name an embedding model. A document's source must not be stored already: remove it first."""
        ...

    def remove(self, sources: Iterable[str]) -> None:
        """Drop these documents and their chunks; unknown sources are ignored."""
        ...

    def __enter__(self) -> StoreWriter: ...

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None: ...


class PassageStore(SearchStore, Protocol):
    """A store the indexer can fill and the assistant can list."""

    def settings(self) -> IndexSettings | None:
        """The settings of the stored records, or None when nothing was ever committed."""
        ...

    def stored_hashes(self) -> dict[str, str]:
        """Content hash of each stored document, by source."""
        ...

    def documents(self) -> list[DocumentInfo]:
        """The stored documents, by source."""
        ...

    def document_text(self, source: str, limit: int | None = None) -> str:
        """The whole text of a stored document, or its first ``limit`` characters (read as such, not
        cut from the whole); raises ``DocqaError`` for an unknown source."""
        ...

    def count_passages(self) -> int: ...

    def count_documents(self) -> int:
        """How many documents are stored; like ``count_passages``, cheap enough for every status poll."""
        ...

    def writer(self, settings: IndexSettings, *, rebuild: bool = False) -> StoreWriter:
        """A write session for records made with ``settings``; it starts from an empty store when
        ``rebuild`` is set or the stored settings differ. Sessions on one store never interleave."""
        ...

    def close(self) -> None: ...
