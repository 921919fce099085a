"""A write session on a ``MilvusStore``, made atomic for readers without transactions.

Milvus writes rows one call at a time and has no multi-row transaction, so a session never changes
what readers see until one single-row write, its commit point:

1. At the start, the session takes a new generation number for its lane (its shard), above the
   lane's committed one and, being a time in microseconds, above those of sessions started before it.
2. ``add`` inserts documents and passages tagged with (lane, generation): readers skip them, since
   the lane's committed generation is lower. ``remove`` only notes the sources to retire.
3. The commit writes the lane's row in the meta collection: the new generation and the sources it
   retires. From that one write on, readers see the new rows and no longer see older rows of the
   retired sources. The session then deletes those older rows and clears the retired list.

A rebuild, or a change of settings, fills the collections of the next epoch and commits by
switching the manifest to it, then drops the previous epoch's collections. An exception rolls the
session's rows back; an interrupted session leaves rows nobody sees, deleted by the lane's next
session, and a retired list that readers still honour and the next session completes.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from docqa.config import NO_MODEL
from docqa.errors import DocqaError, IndexLoadError
from docqa.schema import Chunk, Document
from docqa.shards import WHOLE
from docqa.store.base import IndexSettings
from docqa.store.milvus_connection import MilvusConnection
from docqa.store.milvus_schema import (
    MANIFEST_KEY,
    PAD,
    Lane,
    View,
    batched,
    create_documents,
    create_meta,
    create_passages,
    dense_dimension,
    fits,
    key_list,
    lane_key,
    query_all,
    record_id,
    settings_of,
    source_key,
    text_parts,
)
from docqa.version import __version__

_session_locks: dict[tuple[str, str, str], threading.Lock] = {}  # (uri, base, lane): one session at a time
_locks_guard = threading.Lock()


class MilvusWriter:
    """One write session of one lane (the store handle's shard); see the module notes."""

    def __init__(self, connection: MilvusConnection, settings: IndexSettings, *, rebuild: bool = False) -> None:
        self.connection = connection  # the store's, shared with its reads
        self.settings = settings
        self.rebuilding = rebuild
        self.lane = connection.shard.name
        self.generation = 0
        self.epoch = 0
        self._new_epoch = False  # the session fills a new epoch, committed by switching the manifest
        self._previous: View | None = None
        self._retired: set[int] = set()
        self._added = 0
        self._titles: dict[str, tuple[str, str]] = {}  # source -> (title, date) of the documents added
        self._open = False
        self._held: list[Any] = []

    # ----- the session -------------------------------------------------------------------

    def __enter__(self) -> MilvusWriter:
        self._acquire()
        try:
            self._begin()
        except BaseException:
            self._release()
            raise
        self._open = True
        return self

    def add(self, documents: Sequence[Document], chunks: Sequence[Chunk], vectors: np.ndarray | None = None) -> None:
        """Insert ``documents`` and their ``chunks`` (with one vector row each when the settings name
        an embedding model), unseen by readers until the commit."""
        self._check_open()
        with_vectors = self.settings.embedding_model != NO_MODEL
        if chunks and with_vectors != (vectors is not None):
            raise ValueError("vectors must be given exactly when the settings name an embedding model")
        rows = None
        if vectors is not None and chunks:
            rows = np.ascontiguousarray(vectors, dtype=np.float32)
            if rows.ndim != 2 or len(rows) != len(chunks):
                raise ValueError(f"expected {len(chunks)} vector rows, got an array of shape {rows.shape}")
        for chunk in chunks:
            if not fits(chunk.text):
                raise DocqaError(f"a passage of {chunk.source} is over Milvus's 64 KiB string limit; split the file")
        if not documents and not chunks:
            return
        self._ensure_collections(0 if rows is None else rows.shape[1])
        self._titles.update((d.source, (d.title, d.date or "")) for d in documents)
        counts: dict[str, int] = {}
        for chunk in chunks:
            counts[chunk.source] = counts.get(chunk.source, 0) + 1
        client, names = self.connection.client, self.connection.names
        document_rows = [row for document in documents for row in self._document_rows(document, counts)]
        passage_rows = [self._passage_row(chunk, None if rows is None else rows[n]) for n, chunk in enumerate(chunks)]
        for batch in batched(document_rows, 256):
            self.connection.call("write", client.insert, names.documents(self.epoch), list(batch))
        for batch in batched(passage_rows, 1024):
            self.connection.call("write", client.insert, names.passages(self.epoch), list(batch))
        self._added += len(documents) + len(chunks)

    def remove(self, sources: Iterable[str]) -> None:
        """Retire these documents at the commit; unknown sources are ignored."""
        self._check_open()
        keys = sorted({source_key(source) for source in sources})
        view = self._previous
        if not keys or view is None or self._new_epoch:
            return
        for batch in batched(keys):
            for row in self._query_documents(f"part == 0 and source_key in [{key_list(batch)}] and ({view.visible()})"):
                self._retired.add(int(row["source_key"]))

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            if kind is None:
                self._commit()
            else:
                self._roll_back()
        finally:
            self._open = False
            self._release()

    # ----- start, commit, roll back ------------------------------------------------------

    def _begin(self) -> None:
        store, names = self.connection, self.connection.names
        try:
            view = store.view()
        except IndexLoadError:
            if not self.rebuilding:
                raise
            view = None  # a damaged or newer manifest: the rebuild starts a new epoch over it
        self._previous = view
        sharded = store.shard != WHOLE
        same = view is not None and settings_of(view.manifest) == self.settings
        if sharded and view is not None and not same:
            raise DocqaError(
                f"the Milvus store {store.uri} holds an index built with other settings; rebuild it without "
                "--shard first, or index into another collection (DOCQA_MILVUS_COLLECTION) and switch to it"
            )
        if not store.exists(names.meta, fresh=True):
            store.call("write", create_meta, store.client, names.meta)
        # A shard's rebuild rebuilds its slice in place; a whole rebuild fills the next epoch.
        in_place = view is not None and same and (sharded or not self.rebuilding)
        self.rebuilding = self.rebuilding or not same
        if in_place:
            assert view is not None
            self.epoch = view.epoch
            lane = view.lanes.get(self.lane, Lane())
            self._finish_retiring(lane)
            self._delete(f'lane == "{self.lane}" and generation > {lane.generation}')  # an interrupted session's
        else:
            self._new_epoch = True
            self.epoch = self._next_epoch(view)
            lane = Lane()
            if not sharded:
                self._drop_epoch(self.epoch)  # left by a rebuild that was interrupted
        self.generation = max(time.time_ns() // 1000, lane.generation + 1)

    def _commit(self) -> None:
        previous = self._previous
        if self.rebuilding and not self._new_epoch and previous is not None:
            self._retire_own_slice(previous)
        if not (self._added or self._retired or self.rebuilding):
            return  # nothing changed: the generation stays as it was
        if self._new_epoch:
            if self.settings.embedding_model == NO_MODEL:
                self._ensure_collections(0)  # a vector store's collections wait for the first vectors
            self._put(lane_key(self.epoch, self.lane), Lane(self.generation).dump())
            self._put(MANIFEST_KEY, json.dumps(self._manifest()))  # the commit point of a new epoch
            for epoch in self._stored_epochs():
                if epoch < self.epoch:
                    self._drop_epoch(epoch)
            return
        assert previous is not None
        keys = sorted(self._retired)
        lane = Lane(self.generation, [(self.generation, keys)] if keys else [])
        self._put(lane_key(self.epoch, self.lane), lane.dump())  # the commit point
        self._finish_retiring(lane)
        if self.settings.embedding_model != NO_MODEL and not previous.manifest["embedding_dimension"]:
            self._put(MANIFEST_KEY, json.dumps(self._manifest()))  # the first vectors fix the dimension

    def _roll_back(self) -> None:
        """Delete what the session wrote (best effort: what is left is unseen, and cleared later)."""
        with contextlib.suppress(Exception):
            if self._new_epoch and self.connection.shard == WHOLE:
                self._drop_epoch(self.epoch)
            elif self.generation:
                self._delete(f'lane == "{self.lane}" and generation == {self.generation}')

    # ----- plumbing ----------------------------------------------------------------------

    def _finish_retiring(self, lane: Lane) -> None:
        """Delete the rows a committed retired list hides, then clear the list."""
        if not lane.retired:
            return
        for generation, keys in lane.retired:
            for batch in batched(keys):
                self._delete(f"source_key in [{key_list(batch)}] and generation < {generation}")
        lane.retired = []
        self._put(lane_key(self.epoch, self.lane), lane.dump())

    def _retire_own_slice(self, view: View) -> None:
        """A shard's rebuild replaces its whole slice: retire each stored source it owns."""
        expression = f"part == 0 and ({view.visible()})"
        for row in self._query_documents(expression, ["source_key", "source"]):
            if self.connection.shard.owns(row["source"]):
                self._retired.add(int(row["source_key"]))

    def _query_documents(self, expression: str, fields: Sequence[str] = ("source_key",)) -> list[dict[str, Any]]:
        name = self.connection.names.documents(self.epoch)
        if not self.connection.exists(name, fresh=True):
            return []
        return self.connection.call("read", query_all, self.connection.client, name, expression, list(fields))

    def _ensure_collections(self, dimension: int) -> None:
        store, client, names = self.connection, self.connection.client, self.connection.names
        if not store.exists(names.documents(self.epoch), fresh=True):
            store.call("write", create_documents, client, names.documents(self.epoch))
        passages = names.passages(self.epoch)
        if not store.exists(passages, fresh=True):
            store.call("write", create_passages, client, passages, dimension)
        elif (stored := store.call("read", dense_dimension, client, passages)) != dimension:
            raise DocqaError(
                f"the Milvus store {store.uri} holds {stored}-dimensional vectors, not {dimension}: "
                "rebuild it with 'docqa index --rebuild'"
            )

    def _document_rows(self, document: Document, counts: dict[str, int]) -> list[dict[str, Any]]:
        parts = text_parts(document.text)
        shared = self._row_fields(document.source)
        return [
            {
                **shared,
                "id": record_id("document", self.lane, self.generation, document.source, number),
                "part": number,
                "parts": len(parts),
                "passages": counts.get(document.source, 0),
                "title": document.title,
                "date": document.date or "",
                "content_hash": document.content_hash,
                "text": text,
                "pad": PAD,
            }
            for number, text in enumerate(parts)
        ]

    def _passage_row(self, chunk: Chunk, vector: np.ndarray | None) -> dict[str, Any]:
        row = {
            **self._row_fields(chunk.source),
            "id": record_id("passage", self.lane, self.generation, chunk.source, chunk.index),
            "position": chunk.index,
            "start_char": chunk.start,
            "end_char": chunk.end,
            "title": self._titles.get(chunk.source, ("", ""))[0],
            "date": self._titles.get(chunk.source, ("", ""))[1],
            "locations": _locations_json(chunk.locations),
            "text": chunk.text,
        }
        if vector is not None:
            row["dense"] = vector.tolist()
        return row

    def _row_fields(self, source: str) -> dict[str, Any]:
        return {"source_key": source_key(source), "source": source, "lane": self.lane, "generation": self.generation}

    def _delete(self, expression: str) -> None:
        store, client, names = self.connection, self.connection.client, self.connection.names
        for collection in (names.passages(self.epoch), names.documents(self.epoch)):
            if store.exists(collection, fresh=True):
                store.call("write", client.delete, collection, filter=expression)

    def _drop_epoch(self, epoch: int) -> None:
        """Drop an epoch's collections and its lanes' rows."""
        store, client, names = self.connection, self.connection.client, self.connection.names
        for collection in (names.passages(epoch), names.documents(epoch)):
            if store.exists(collection, fresh=True):
                store.call("write", client.drop_collection, collection)
                store.forget(collection)
        store.call("write", client.delete, names.meta, filter=f'key like "lane/{epoch}/%"')

    def _stored_epochs(self) -> list[int]:
        names = self.connection.call("read", self.connection.client.list_collections)
        return sorted({epoch for name in names if (epoch := self.connection.names.epoch_of(name)) is not None})

    def _next_epoch(self, view: View | None) -> int:
        if view is not None:
            return view.epoch + 1
        known = self._stored_epochs()
        # A shard on a store nobody has committed to yet joins the epoch the other shards are filling.
        if self.connection.shard != WHOLE and known:
            return known[-1]
        return (known[-1] if known else 0) + 1

    def _put(self, key: str, value: str) -> None:
        self.connection.call(
            "write",
            self.connection.client.upsert,
            self.connection.names.meta,
            [{"key": key, "value": value, "pad": PAD}],
        )

    def _manifest(self) -> dict[str, Any]:
        values = asdict(self.settings)
        passages = self.connection.names.passages(self.epoch)
        dimension = (
            dense_dimension(self.connection.client, passages) if self.connection.exists(passages, fresh=True) else 0
        )
        return {
            "format_version": self.settings.format_version,
            "docqa_version": __version__,
            "embedding_model": self.settings.embedding_model,
            "embedding_dimension": dimension,
            "chunking": {key: values[key] for key in ("chunk_tokens", "chunk_overlap")},
            "epoch": self.epoch,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    def _check_open(self) -> None:
        if not self._open:
            raise DocqaError("the write session is not open: use it in a 'with' block")

    def _acquire(self) -> None:
        """Hold this lane's session lock: a thread lock, and a file lock beside a Milvus Lite file."""
        key = (self.connection.uri, self.connection.names.base, self.lane)
        with _locks_guard:
            lock = _session_locks.setdefault(key, threading.Lock())
        if not lock.acquire(timeout=self.connection.lock_timeout):
            raise DocqaError(
                f"another indexing session has held {self.connection.uri} for over {self.connection.lock_timeout:g} s"
            )
        self._held.append(lock)
        if self.connection.local:
            path = Path(f"{self.connection.uri}.lock")
            path.parent.mkdir(parents=True, exist_ok=True)
            file_lock = FileLock(path, timeout=self.connection.lock_timeout)
            try:
                file_lock.acquire()
            except Timeout as error:
                self._release()
                raise DocqaError(
                    f"another indexing run has held {path} for over {self.connection.lock_timeout:g} s"
                ) from error
            self._held.append(file_lock)

    def _release(self) -> None:
        while self._held:
            self._held.pop().release()


def _locations_json(locations: tuple[tuple[int, str], ...]) -> str:
    """A passage's locations as stored: JSON pairs ("" for none), the last ones left out where a
    passage of very many short sections would pass Milvus's string limit."""
    kept = list(locations)
    while kept and not fits(json.dumps(kept)):
        kept = kept[: len(kept) // 2]
    return json.dumps(kept) if kept else ""
