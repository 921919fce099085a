"""The assistant: a thin pipeline over documents, index, retriever and reader."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from docqa.citation import cite
from docqa.components import dense_problem, index_settings, keeps_vectors, lexical_reason, load_models, needs_build
from docqa.config import DEFAULT_EMBEDDING_MODEL, Settings, checked_threshold, checked_top_k
from docqa.conflicts import find_conflicts
from docqa.conversation import History, clean_question, resolve_follow_up, rewrite_follow_up
from docqa.documents.worker import configure as configure_parsing
from docqa.embedding import Embedder
from docqa.errors import DocqaError, IndexLoadError
from docqa.indexing import Indexer, Progress
from docqa.reader import Reader, ReaderResult, SentenceReader, effective_threshold
from docqa.reader.closest import CLOSEST_NOTE, closest_sentence
from docqa.retrieval import Retriever
from docqa.schema import (
    Answer,
    AnswerMode,
    AssistantStatus,
    Document,
    ExtractedAnswer,
    IndexReport,
    RetrievalMode,
    RetrievedPassage,
)
from docqa.shards import Shard
from docqa.store import DocumentInfo, PassageStore, open_store

# Two notes of Answer.message that the chat app says in its own way (once, not in every answer).
ABSTENTION_NOTE = "The documents do not seem to contain the answer; these are the closest passages."
LEXICAL_NOTE_START = "This is the best-matching sentence, not an extracted answer"
log = logging.getLogger(__name__)


class Assistant:
    """Index a folder of documents and answer questions about it with cited, extracted spans.

    Nothing is loaded until the first call that needs it (or ``warm_up``). ``ask`` may be called
    from several threads, also while ``index`` runs, and never waits for it: answers come from the
    previous index until the update is committed. Models of the kinds in ``require`` must load.
    """

    def __init__(
        self,
        corpus_dir: str | Path | None = None,
        index_dir: str | Path | None = None,
        embedding_model: str | None = None,
        reader_model: str | None = None,
        *,
        settings: Settings | None = None,
        require: Collection[str] = (),
        **overrides: Any,
    ) -> None:
        # store= is a location (an index folder, a Milvus Lite file, a Milvus server), or a store itself.
        given = overrides.pop("store", None)
        if given is not None and not isinstance(given, str | Path):
            store: PassageStore | None = given
        else:
            store = None
            overrides["store"] = None if given is None else str(given)
        arguments = dict(
            corpus_dir=corpus_dir,
            index_dir=index_dir,
            embedding_model=embedding_model,
            reader_model=reader_model,
            **overrides,
        )
        self.settings = settings.replace(**arguments) if settings else Settings.from_env(**arguments)
        # Named: by argument or environment. Else the index's own model is loaded (see docqa.components).
        named = embedding_model if settings else embedding_model or os.environ.get("DOCQA_EMBEDDING_MODEL")
        self._embedder_named = bool(named) or self.settings.embedding_model != DEFAULT_EMBEDDING_MODEL
        self.store: PassageStore = store or open_store(
            self.settings.store_location, shard=Shard.parse(self.settings.shard)
        )
        self.embedder: Embedder | None = None
        self.reader: Reader | None = None
        self.problems: list[str] = []
        # Dense search as the setting needs the embedding model: refused when it cannot load, not run as BM25.
        self.require = frozenset(require) | ({"embedding"} if self.settings.retrieval == "dense" else set())
        self._models_loaded = False
        self._loading_seconds = 0.0  # the models' loading, told by the next answer (it may have waited for it)
        self._warm = False
        self._warming = False  # warm_up is building the index for a question
        self._warm_lock = threading.RLock()
        self._models_lock = threading.RLock()
        self._index_lock = threading.Lock()
        self._indexing = False

    # ----- set-up ------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the models and open the index, building it when missing or built otherwise."""
        if self._warm:
            return
        with self._warm_lock:  # a second caller waits until the first build is done
            if self._warm:
                return
            self._warming = True
            try:
                self.load_models()
                if self._needs_build():
                    self.index()
                self._warm = True
            finally:
                self._warming = False

    def _warm_for_questions(self) -> None:
        """``warm_up``, except while an update started by ``index()`` runs (a server's, say): then the
        index as it stands answers, without waiting. A build that ``warm_up`` started for another
        question is waited for, as that question waits."""
        if not self._warm and (self._warming or not self._index_lock.locked()):
            self.warm_up()
        self.load_models()

    def load_models(self) -> None:  # else the first question or update loads them
        with self._models_lock:
            if self._models_loaded:
                return
            began = time.perf_counter()
            # A model that fails to load leaves the lexical mode (or BM25 search), the problem recorded.
            self.settings, self.embedder, reader, errors = load_models(
                self.settings, self.store, named_embedder=self._embedder_named, require=self.require
            )
            self.reader = reader or SentenceReader()
            self.problems += [str(error) for error in errors]
            self._models_loaded = True
            self._loading_seconds = time.perf_counter() - began

    def _needs_build(self) -> bool:
        return needs_build(self.settings, self.store, embedded=self.embedder is not None)

    # ----- indexing ----------------------------------------------------------------------

    def index(
        self,
        *,
        rebuild: bool = False,
        documents: Iterable[Document] | None = None,
        progress: Progress | None = None,
        retry_skipped: bool = False,
    ) -> IndexReport:
        """Bring the index up to date with the corpus folder (or with ``documents``); ``retry_skipped``
        reads again the files that ran out of time before (see ``Indexer.update``)."""
        with self._index_lock:  # held from the start, so that questions meanwhile never wait for it
            self._indexing = True
            try:
                self.load_models()
                configure_parsing(self.settings.parse_workers, self.settings.parse_memory_mb * 2**20)
                written = index_settings(self.settings, self.store, embedded=self.embedder is not None, rebuild=rebuild)
                indexer = Indexer(self.store, self.embedder, written, shard=Shard.parse(self.settings.shard))
                corpus_dir = self.settings.corpus_dir if documents is None else None
                return indexer.update(
                    corpus_dir, documents=documents, rebuild=rebuild, retry_skipped=retry_skipped, progress=progress
                )
            finally:
                self._indexing = False

    def up_to_date(self) -> bool:
        """Whether the index holds the corpus folder's files as they are (hashing them, reading none)."""
        self.load_models()
        written = index_settings(self.settings, self.store, embedded=self.embedder is not None, rebuild=False)
        indexer = Indexer(self.store, self.embedder, written, shard=Shard.parse(self.settings.shard))
        return indexer.up_to_date(self.settings.corpus_dir)

    # ----- questions ---------------------------------------------------------------------

    def retrieve(
        self,
        query: str,
        *,
        top_k: int | None = None,
        retrieval: RetrievalMode | None = None,
        sources: Collection[str] | None = None,
    ) -> list[RetrievedPassage]:
        """The best passages for ``query``; only of the documents ``sources`` when given."""
        top_k = self.settings.top_k if top_k is None else checked_top_k(top_k)
        mode = self.check_retrieval(retrieval)
        self._warm_for_questions()
        retriever = Retriever(self.store, self.embedder)
        if retriever.effective_mode(mode) != mode and mode == "dense":  # an index without vectors
            raise DocqaError("dense search needs an index with vectors: run 'docqa index --rebuild' with the model")
        return retriever.retrieve(query, top_k=top_k, mode=mode, sources=sources)

    def check_retrieval(self, retrieval: RetrievalMode | None = None) -> RetrievalMode:
        """The search method asked for (else the settings'), refused when it cannot run: dense search
        without the embedding model is an error, never BM25 under another name."""
        mode = retrieval or self.settings.retrieval
        if mode == "dense":
            self.load_models()
            if self.embedder is None:
                raise DocqaError(dense_problem(self.settings.embedding_model, self.problems))
        return mode

    def read(
        self, question: str, passages: Sequence[RetrievedPassage], *, confidence_threshold: float | None = None
    ) -> ReaderResult:
        """The reader's answers to ``question`` in ``passages``, judged against the confidence threshold.

        This is the one place the threshold applies (the argument, else the property of that name):
        readers only report scores, so a per-call threshold can lower the default as well as raise
        it. Below it the result is ``abstained``, its answers kept as guesses; otherwise only the
        answers at or above it are kept.
        """
        given = None if confidence_threshold is None else checked_threshold(confidence_threshold)
        self._warm_for_questions()
        assert self.reader is not None
        result = self.reader.read(question, passages)
        threshold = self.confidence_threshold if given is None else given
        if result.abstained or not result.answers or result.answers[0].score < threshold:
            return replace(result, abstained=True)
        return replace(result, answers=[answer for answer in result.answers if answer.score >= threshold])

    @property
    def confidence_threshold(self) -> float:
        """The threshold questions are judged by: the settings', else the reader's own default."""
        return effective_threshold(self.settings, self.reader)

    def ask(
        self,
        question: str,
        history: History | None = None,
        *,
        top_k: int | None = None,
        retrieval: RetrievalMode | None = None,
        confidence_threshold: float | None = None,
        sources: Collection[str] | None = None,
    ) -> Answer:
        """Answer ``question`` from the documents (only from ``sources`` when given), with citations, or abstain."""
        started = time.perf_counter()
        question, notes = clean_question(question)
        top_k = None if top_k is None else checked_top_k(top_k)  # refused before any searching or reading
        if confidence_threshold is not None:
            checked_threshold(confidence_threshold)
        self.check_retrieval(retrieval)  # before a first build of the index
        self._warm_for_questions()
        assert self.reader is not None
        mode = self.reader.mode
        loaded = time.perf_counter()  # loading the models (and a first build of the index) is not retrieval
        query = rewrite_follow_up(question, history)
        passages = self.retrieve(query, top_k=top_k, retrieval=retrieval, sources=sources)
        retrieved = time.perf_counter()
        # Loading: what this question waited for, or the models' loading before it (docqa ask loads them first).
        loading, self._loading_seconds = max(loaded - started, self._loading_seconds), 0.0
        timings = {"loading": loading, "retrieval": retrieved - loaded}
        if not passages:
            empty = self.store.count_passages() == 0
            notes.append(
                "The index is being built: ask again in a moment."
                if empty and self._indexing
                else f"The index has no documents: add files to {self.settings.corpus_dir} and run 'docqa index'."
                if empty
                else "No passage of the chosen documents matches the question."
                if sources is not None
                else "No passage of the documents matches the question."
            )
            return self._answer(question, query, mode, notes, timings, started)

        reading = resolve_follow_up(question, history)  # "he" read as the name the previous answer gave
        result = self.read(reading, passages, confidence_threshold=confidence_threshold)
        timings["reading"] = time.perf_counter() - retrieved
        closest = None
        if result.abstained and mode == "extractive":  # the model only adds: its miss falls back to a sentence
            closest = closest_sentence(reading, passages, result, SentenceReader.default_threshold)
        if closest is not None:
            notes.append(CLOSEST_NOTE)
            best = closest.sentence
            return self._answer(
                question, query, "sentence", notes, timings, started, passages=passages, best=best,
                highlight=closest.highlight,
            )
        if result.abstained:
            notes.append(ABSTENTION_NOTE)
            return self._answer(question, query, mode, notes, timings, started, passages=passages)
        if mode == "sentence":
            notes.append(self._lexical_note())
        if result.truncated_question:
            notes.append("The question was cut to fit the reader model.")
        answer = self._answer(
            question,
            query,
            mode,
            notes,
            timings,
            started,
            passages=passages,
            best=result.answers[0],
            alternatives=result.answers[1:],
        )
        answer.conflicts = find_conflicts(  # confident answers of different documents that disagree
            result.answers, document_text=self.store.document_text, corpus_dir=self.settings.corpus_dir,
            question=reading, passages=passages if mode == "extractive" else (),
        )
        return answer

    def _lexical_note(self) -> str:
        reason = lexical_reason(self.settings.reader_model, self.problems)
        return f"{LEXICAL_NOTE_START}: no reader model is loaded ({reason})."

    def _answer(
        self,
        question: str,
        query: str,
        mode: AnswerMode,
        notes: list[str],
        timings: dict[str, float],
        started: float,
        *,
        passages: Sequence[RetrievedPassage] = (),
        best: ExtractedAnswer | None = None,
        alternatives: Sequence[ExtractedAnswer] = (),
        highlight: ExtractedAnswer | None = None,
    ) -> Answer:
        timings["total"] = time.perf_counter() - started
        return Answer(
            question=question,
            text=best.text if best else "",
            score=best.score if best else 0.0,
            abstained=best is None,
            mode=mode,
            citations=[cite(highlight or best)] if best else [],
            passages=list(passages),
            timings=timings,
            message=" ".join(notes),
            alternatives=list(alternatives),
            query=query if query != question else "",
            closest=highlight is not None,
        )

    # ----- what is indexed ---------------------------------------------------------------

    def status(self) -> AssistantStatus:
        mode: AnswerMode = self.reader.mode if self.reader is not None else "sentence"
        problems = list(self.problems)
        try:
            retrieval = Retriever(self.store, self.embedder).effective_mode(self.settings.retrieval)
            documents, passages = self.store.count_documents(), self.store.count_passages()
        except IndexLoadError as error:  # a status report shows the problem rather than fail
            retrieval, documents, passages = "bm25", 0, 0
            problems.append(str(error))
        return AssistantStatus(
            embedding_model=self.settings.embedding_model,
            reader_model=self.settings.reader_model,
            embedder_loaded=self.embedder is not None,
            reader_loaded=mode == "extractive",
            mode=mode,
            retrieval=retrieval,
            documents=documents,
            passages=passages,
            problems=problems,
            indexing=self._indexing,
            vectors_kept=self.embedder is None and keeps_vectors(self.settings, self.store),
            scores_calibrated=getattr(getattr(self.reader, "calibration", None), "calibrated", True),
        )

    def documents(self) -> list[DocumentInfo]:
        return self.store.documents()

    def document_text(self, source: str) -> str:
        return self.store.document_text(source)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Assistant:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@cache
def _default_assistant(settings: Settings) -> Assistant:
    return Assistant(settings=settings)


def answer(question: str, history: History | None = None, **settings: Any) -> Answer:
    """Answer ``question`` over ``./corpus`` (index in ``./embeddings``), building the index on first use.

    Keyword arguments override the settings (``reader_model="none"``, ``top_k=3``, ...); one
    assistant is kept per distinct settings.
    """
    return _default_assistant(Settings.from_env(**settings)).ask(question, history)
