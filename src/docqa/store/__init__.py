"""Passage stores: where documents, chunks and vectors are kept and searched.

``open_store`` picks the store for a location (an index folder, a Milvus Lite file or a Milvus
server); every store follows the Protocols of ``base``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docqa.errors import DocqaError
from docqa.shards import Shard
from docqa.store.base import (
    FORMAT_VERSION,
    DocumentInfo,
    IndexSettings,
    PassageStore,
    ScoredRow,
    SearchStore,
    StoreWriter,
)
from docqa.store.sqlite import DB_FILE, SQLiteStore

__all__ = [
    "FORMAT_VERSION",
    "DocumentInfo",
    "IndexSettings",
    "PassageStore",
    "SQLiteStore",
    "ScoredRow",
    "SearchStore",
    "StoreWriter",
    "open_store",
]


MILVUS_SCHEMES = ("http", "https")


def open_store(location: str | Path, *, shard: Shard | None = None, **options: Any) -> PassageStore:
    """The store at ``location``, chosen by its form:

    - a folder path: the embedded ``SQLiteStore`` there (created on first write);
    - a path ending in ``.db``: a ``MilvusStore`` in that Milvus Lite database (unless it is an index
      folder holding ``index.sqlite``);
    - ``http://host:port`` or ``https://...``: a ``MilvusStore`` on that Milvus server or cluster, with
      credentials from ``DOCQA_MILVUS_TOKEN`` (or ``DOCQA_MILVUS_USER`` and ``DOCQA_MILVUS_PASSWORD``).

    ``shard`` is the slice of the corpus a handle writes (Milvus only: one folder has one writer).
    ``options`` go to the store's constructor (``lock_timeout=`` for both; ``collection=`` for Milvus).
    Any other ``scheme://...`` is refused.
    """
    text = str(location)
    scheme, separator, _ = text.partition("://")
    # Milvus Lite keeps a "*.db" path as a folder of its own; an index folder so named holds index.sqlite.
    milvus = (separator and scheme.lower() in MILVUS_SCHEMES) or (
        not separator and text.lower().endswith(".db") and not (Path(text) / DB_FILE).exists()
    )
    if separator and scheme.isalpha() and not milvus:
        raise DocqaError(
            f"unknown kind of store {scheme!r} in {text!r}: give the path of an index folder, a Milvus Lite "
            "file (*.db) or a Milvus server address (http://host:19530)"
        )
    if milvus:
        from docqa.store.milvus import MilvusStore  # its client loads only for a Milvus location

        return MilvusStore(text, shard=shard, **options)
    if shard is not None and shard.count > 1:
        raise DocqaError("indexing shards need a Milvus store (--store URI): an index folder has one writer")
    return SQLiteStore(Path(location), **options)
