"""The indexer: brings a passage store up to date with a corpus folder, or with given documents.

Files are compared with the store by the hash of their bytes before anything is parsed, so an
update reads only new and changed files. Those are parsed and chunked in a pool of worker
processes, several files at once, each within the time, memory and output budgets of
:mod:`docqa.documents.limits` (a file over one is skipped with the reason), then embedded a
batch at a time (memory stays bounded by ``WRITE_BATCH``) and written through one store writer,
so the update is committed whole or not at all.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from docqa.chunking import chunk_document
from docqa.config import NO_MODEL
from docqa.documents.common import UnreadableFile
from docqa.documents.limits import SPLIT_SECONDS
from docqa.documents.loading import KnownHashes, SourceFile, scan_corpus
from docqa.documents.slow_files import SlowFiles, over_time
from docqa.documents.worker import WorkerPool
from docqa.embedding import Embedder
from docqa.schema import Chunk, Document, IndexReport
from docqa.shards import WHOLE, Shard
from docqa.store.base import IndexSettings, PassageStore, StoreWriter

WRITE_BATCH = 512  # passages chunked, embedded and written at a time
# Marks the stored content hash of a document written without vectors (its embedding model did not
# load): the next update that has the model finds the hash changed, and embeds the document.
UNEMBEDDED = "unembedded:"
STAGES = ("scan", "parse", "chunk", "embed", "write")  # the keys of IndexReport.timings

Progress = Callable[[float, str], None]  # (fraction done, what is happening)
log = logging.getLogger(__name__)

_UNUSABLE_ENTRIES = 4096


class FileReading:
    """What the updates of an index share in one process: the worker processes that parse files (at
    most ``workers``, 0 for one per core, each within ``memory_bytes``), the hashes of files unchanged
    since they were hashed, and the files found unusable for good, by (suffix, content hash), with why:
    an unchanged one is skipped again without being read, so a file made to cost time costs it once,
    not at every update. Whoever updates an index again and again (the assistant) keeps one and hands
    it to each ``Indexer``, and closes it at the end."""

    def __init__(self, workers: int | None = None, memory_bytes: int | None = None) -> None:
        self.pool = WorkerPool(workers, memory_bytes)  # None: the defaults (0, one per core; MEMORY_BYTES)
        self.hashes = KnownHashes()
        self._unusable: dict[tuple[str, str], str] = {}

    def unusable(self, key: tuple[str, str]) -> str | None:
        """Why the file of ``key`` was found unusable, or None."""
        return self._unusable.get(key)

    def remember_unusable(self, key: tuple[str, str], reason: str) -> None:
        if len(self._unusable) >= _UNUSABLE_ENTRIES:
            self._unusable.clear()
        self._unusable[key] = reason

    def close(self) -> None:
        """Stop the worker processes (the next use starts them again)."""
        self.pool.stop()


@dataclass(frozen=True)
class _Item:
    """A document to be indexed: a file still to parse, or a document given whole."""

    source: str
    content_hash: str
    weight: int  # its share of the work, in bytes or characters
    file: SourceFile | None = None
    document: Document | None = None


class Indexer:
    """Makes a store hold exactly the documents of a corpus, embedding only what is new or changed.

    ``settings.embedding_model`` names the embedder, or is ``"none"`` (no vectors). Without the
    embedder of a model, in a store that holds its vectors already, new and changed documents are
    written with their text only (searched by BM25), each marked to be embedded by the next update
    that has the embedder; the vectors stored are kept.

    ``reading`` is shared by successive updates (see ``FileReading``); without it the indexer makes
    its own, whose workers stop at the end of each update.
    """

    def __init__(
        self,
        store: PassageStore,
        embedder: Embedder | None,
        settings: IndexSettings,
        *,
        shard: Shard | None = None,
        reading: FileReading | None = None,
    ) -> None:
        if settings.embedding_model == NO_MODEL and embedder is not None:
            raise ValueError("settings.embedding_model must name the embedder, or be 'none' without one")
        # Text only: vectors of zeros stand for the vectors to come (they score 0 against any query).
        self.pending_dimension = 0
        if embedder is None and settings.embedding_model != NO_MODEL:
            self.pending_dimension = stored_dimension(store)
            if not self.pending_dimension or store.settings() != settings:
                raise ValueError("without its embedder, a model's documents are only added to a store of its vectors")
        self.store = store
        self.embedder = embedder
        self.settings = settings
        # Indexing shard I/N adds, updates and removes only the files of its slice, so N machines can
        # fill one store (opened with the same shard) without touching each other's files.
        self.shard = shard or WHOLE
        self._owns_reading = reading is None
        self.reading = reading or FileReading()

    def update(
        self,
        corpus_dir: str | Path | None,
        *,
        documents: Iterable[Document] | None = None,
        rebuild: bool = False,
        retry_skipped: bool = False,
        progress: Progress | None = None,
    ) -> IndexReport:
        """Index the files of ``corpus_dir``, or ``documents`` when given instead (then nothing is read).

        ``rebuild`` re-indexes everything, as does a change of settings; the store sets a damaged
        index aside first. A file that ran out of time before is skipped unread while it is unchanged
        (:mod:`docqa.documents.slow_files`); ``retry_skipped`` reads it again, as ``rebuild`` does.
        Another update of the same store waits for this one to finish.
        """
        if (corpus_dir is None) == (documents is None):
            raise ValueError("give either a corpus folder or documents")
        try:
            return self._update(corpus_dir, documents, rebuild or retry_skipped, rebuild, progress or _no_progress)
        finally:
            if self._owns_reading:
                self.reading.close()

    def _update(
        self,
        corpus_dir: str | Path | None,
        documents: Iterable[Document] | None,
        retry: bool,
        rebuild: bool,
        report: Progress,
    ) -> IndexReport:
        timings = dict.fromkeys(STAGES, 0.0)
        started = time.perf_counter()
        items, skipped = _items(corpus_dir, documents, self.reading.hashes)
        self._slow = SlowFiles(_folder_of(self.store))
        if retry:
            self._slow.forget()
        if self.shard != WHOLE:
            items = {source: item for source, item in items.items() if self.shard.owns(source)}
            skipped = {source: why for source, why in skipped.items() if self.shard.owns(source)}
        timings["scan"] = time.perf_counter() - started

        with self.store.writer(self.settings, rebuild=rebuild) as writer:
            stored = {} if writer.rebuilding else self._stored_hashes()
            added = sorted(s for s in items if s not in stored)
            updated = sorted(s for s in items if s in stored and stored[s] != items[s].content_hash)
            removed = sorted(s for s in stored if s not in items)
            unchanged = sorted(s for s in items if stored.get(s) == items[s].content_hash)
            if writer.rebuilding or added or updated or removed:
                started = time.perf_counter()
                writer.remove(updated + removed)
                timings["write"] += time.perf_counter() - started
                unreadable = self._write(writer, [items[s] for s in sorted(added + updated)], skipped, timings, report)
                added = [s for s in added if s not in unreadable]
                removed = sorted(removed + [s for s in updated if s in unreadable])
                updated = [s for s in updated if s not in unreadable]
                report(0.9, "writing the index")
            started = time.perf_counter()
        timings["write"] += time.perf_counter() - started  # the commit: vectors, manifest, tidying
        whole = documents is None and self.shard == WHOLE  # then files gone or changed are forgotten
        self._slow.save(keep={_key(item) for item in items.values()} if whole else None)
        count = self.store.count_passages()
        skipped = dict(sorted(skipped.items()))
        unembedded = self._unembedded()
        if writer.rebuilding or added or updated or removed:
            report(1.0, f"indexed {_documents(len(added) + len(updated))}, {count} passages in all")
        else:
            report(1.0, "index is up to date")
        return IndexReport(
            added=added,
            updated=updated,
            removed=removed,
            unchanged=unchanged,
            skipped=skipped,
            chunks=count,
            rebuilt=writer.rebuilding,
            timings=timings,
            unembedded=unembedded,
        )

    def up_to_date(self, corpus_dir: str | Path) -> bool:
        """Whether the store holds exactly the files of ``corpus_dir``, as they are, with these settings:
        the files are hashed (unchanged ones are not read again), none parsed, and nothing is written."""
        if self.store.settings() != self.settings:
            return False
        items, _ = _items(corpus_dir, None, self.reading.hashes)
        owned = {source: item.content_hash for source, item in items.items() if self.shard.owns(source)}
        return self._stored_hashes() == owned

    def _stored_hashes(self) -> dict[str, str]:
        """The stored content hash of each document of this shard; without the embedder, a document
        written without vectors compares by its own hash (it is not read again until the model loads)."""
        stored = self.store.stored_hashes()
        if self.pending_dimension:
            stored = {source: hashed.removeprefix(UNEMBEDDED) for source, hashed in stored.items()}
        return {source: hashed for source, hashed in stored.items() if self.shard.owns(source)}

    def _unembedded(self) -> list[str]:
        """The documents of this shard stored without vectors, waiting for their embedding model."""
        if self.settings.embedding_model == NO_MODEL:
            return []
        stored = self.store.stored_hashes()
        return [s for s, hashed in stored.items() if hashed.startswith(UNEMBEDDED) and self.shard.owns(s)]

    def _write(
        self,
        writer: StoreWriter,
        items: Sequence[_Item],
        skipped: dict[str, str],
        timings: dict[str, float],
        report: Progress,
    ) -> set[str]:
        """Parse, chunk, embed and add ``items`` a batch at a time; the sources that could not be parsed."""
        total = max(sum(item.weight for item in items), 1)
        done_weight = done = 0
        unreadable: set[str] = set()
        report(0.0, f"indexing {_documents(len(items))}")
        for batch, chunks, weight in self._batches(items, skipped, unreadable, timings):
            vectors = self._embed(chunks, timings)
            if self.pending_dimension:
                batch = [replace(document, content_hash=UNEMBEDDED + document.content_hash) for document in batch]
            started = time.perf_counter()
            writer.add(batch, chunks, vectors)
            timings["write"] += time.perf_counter() - started
            done += weight[0]
            done_weight += weight[1]
            report(0.9 * done_weight / total, f"indexed {done}/{_documents(len(items))}")
        return unreadable

    def _batches(
        self, items: Sequence[_Item], skipped: dict[str, str], unreadable: set[str], timings: dict[str, float]
    ) -> Iterator[tuple[list[Document], list[Chunk], tuple[int, int]]]:
        """Consecutive documents with their chunks, about ``WRITE_BATCH`` chunks at a time, and
        (items, weight) that the batch completes, unreadable ones included. The worker processes
        read and split the next files meanwhile; the time waited for them is the ``parse`` stage."""
        batch: list[Document] = []
        chunks: list[Chunk] = []
        count = weight = 0
        with contextlib.closing(self.reading.pool.in_parallel(self._prepare, items)) as prepared:
            for item in items:
                count, weight = count + 1, weight + item.weight
                started = time.perf_counter()
                document, found, reason, remember = next(prepared)
                timings["parse" if item.file is not None else "chunk"] += time.perf_counter() - started
                if document is None or found is None:
                    _skip(item, reason, skipped, unreadable)
                    if remember:  # that cannot change while the file does not
                        self.reading.remember_unusable(_key(item), reason)
                    continue
                batch.append(document)
                chunks += found
                if len(chunks) >= WRITE_BATCH:
                    yield batch, chunks, (count, weight)
                    batch, chunks, count, weight = [], [], 0, 0
        if batch or count:
            yield batch, chunks, (count, weight)

    def _prepare(self, item: _Item) -> tuple[Document | None, list[Chunk] | None, str, bool]:
        """The document of ``item`` and its passages, or why it cannot be used and whether that is for
        good (a file found unusable before is not read again); run in threads, several files at once."""
        arguments = {"max_tokens": self.settings.chunk_tokens, "overlap_sentences": self.settings.chunk_overlap}
        if item.document is not None:  # documents given whole (evaluation, programs) are split here
            return item.document, chunk_document(item.document, **arguments), "", False
        assert item.file is not None
        known = self.reading.unusable(_key(item)) or self._slow.reason(*_key(item))
        if known is not None:
            return None, None, known, False
        try:
            document = self.reading.pool.parse_file(item.file)
            # In the worker process: splitting a long text holds the interpreter lock in long stretches.
            found = self.reading.pool.run(
                chunk_document, document, timeout=SPLIT_SECONDS, doing="splitting it into passages", **arguments
            )
        except UnreadableFile as error:
            if over_time(error):  # it would take as long again: not read while unchanged
                return None, None, self._slow.remember(*_key(item), error.reason), False
            return None, None, error.reason, not error.transient
        return document, found, "", False

    def _embed(self, chunks: Sequence[Chunk], timings: dict[str, float]) -> np.ndarray | None:
        """One vector row per chunk, encoded ``WRITE_BATCH`` at a time; None without an embedder or chunks
        (zeros, written with the text only, when the embedding model is not loaded)."""
        if self.pending_dimension and chunks:
            return np.zeros((len(chunks), self.pending_dimension), dtype=np.float32)
        if self.embedder is None or not chunks:
            return None
        started = time.perf_counter()
        vectors = np.concatenate(
            [
                self.embedder.encode([chunk.text for chunk in chunks[start : start + WRITE_BATCH]])
                for start in range(0, len(chunks), WRITE_BATCH)
            ]
        )
        timings["embed"] += time.perf_counter() - started
        return vectors


def _items(
    corpus_dir: str | Path | None, documents: Iterable[Document] | None, known: KnownHashes
) -> tuple[dict[str, _Item], dict[str, str]]:
    """The documents to index by source, and the files skipped while scanning, with why."""
    if documents is not None:
        given = {d.source: _Item(d.source, d.content_hash, len(d.text), document=d) for d in documents}
        return given, {}
    assert corpus_dir is not None
    files, skipped = scan_corpus(Path(corpus_dir), known=known)
    return {f.source: _Item(f.source, f.content_hash, f.size, file=f) for f in files}, dict(skipped)


def _folder_of(store: PassageStore) -> Path | None:
    """The folder of ``store``, where it has one of its own on this machine."""
    folder = getattr(store, "folder", None)
    return folder if isinstance(folder, Path) else None


def _key(item: _Item) -> tuple[str, str]:
    return (Path(item.source).suffix.lower(), item.content_hash)


def _skip(item: _Item, reason: str, skipped: dict[str, str], unreadable: set[str]) -> None:
    """Report ``item`` as skipped for ``reason`` (in the report, which every caller shows: logged only
    for -v)."""
    log.info("skipped %s: %s", item.source, reason)
    skipped[item.source] = reason
    unreadable.add(item.source)


def _no_progress(fraction: float, description: str) -> None:
    return None


def _documents(count: int) -> str:
    return f"{count} document{'' if count == 1 else 's'}"


def stored_dimension(store: PassageStore) -> int:
    """The dimension of the vectors ``store`` holds, from its manifest; 0 when it holds none or cannot say."""
    manifest = getattr(store, "manifest", None)
    stated = manifest() if callable(manifest) else None
    return int((stated or {}).get("embedding_dimension") or 0)
