"""Passage stores: where documents, chunks and vectors are kept and searched.

``open_store`` picks the store for a location; every store follows the Protocols of ``base``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docqa.errors import DocqaError
from docqa.store.base import (
    FORMAT_VERSION,
    DocumentInfo,
    IndexSettings,
    PassageStore,
    ScoredRow,
    SearchStore,
    StoreWriter,
)
from docqa.store.sqlite import SQLiteStore

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


def open_store(location: str | Path, **options: Any) -> PassageStore:
    """The store at ``location``: a folder path opens a ``SQLiteStore`` there (created on first write).

    ``options`` go to the store's constructor (``lock_timeout=`` for SQLite). A location written as
    ``scheme://...`` names another kind of store; none is available yet, so it is refused.
    """
    text = str(location)
    scheme, separator, _ = text.partition("://")
    if separator and scheme.isalpha():
        raise DocqaError(f"unknown kind of store {scheme!r} in {text!r}: give the path of an index folder instead")
    return SQLiteStore(Path(location), **options)
