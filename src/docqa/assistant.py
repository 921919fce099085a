"""The assistant: a thin pipeline over documents, index, retriever and reader."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from docqa.citation import cite
from docqa.config import NO_MODEL, Settings, checked_threshold, checked_top_k
from docqa.conversation import History, clean_question, rewrite_follow_up
from docqa.documents.worker import configure as configure_parsing
from docqa.embedding import Embedder
from docqa.errors import DocqaError, IndexLoadError, ModelLoadError
from docqa.indexing import Indexer, Progress
from docqa.models import find_model, is_disabled
from docqa.reader import Reader, ReaderResult, SentenceReader, build_reader, effective_threshold
from docqa.reader.closest import CLOSEST_NOTE, closest_sentence
from docqa.retrieval import Retriever
from docqa.schema import (
    Answer,
    AnswerMode,
    Document,
    ExtractedAnswer,
    IndexReport,
    RetrievalMode,
    RetrievedPassage,
)
from docqa.shards import Shard
from docqa.store import DocumentInfo, IndexSettings, PassageStore, open_store

# Two notes of Answer.message that the chat app says in its own way (once, not in every answer).
ABSTENTION_NOTE = "The documents do not seem to contain the answer; these are the closest passages."
LEXICAL_NOTE_START = "This is the best-matching sentence, not an extracted answer"
log = logging.getLogger(__name__)

@dataclass(frozen=True)
class AssistantStatus:
    embedding_model: str
    reader_model: str
    embedder_loaded: bool
    reader_loaded: bool
    mode: AnswerMode
    retrieval: RetrievalMode
    documents: int
    passages: int
    problems: list[str] = field(default_factory=list)
    indexing: bool = False


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
        self.store: PassageStore = store or open_store(
            self.settings.store_location, shard=Shard.parse(self.settings.shard)
        )
        self.embedder: Embedder | None = None
        self.reader: Reader | None = None
        self.problems: list[str] = []
        self.require = frozenset(require)
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
            cache_dir = self.settings.index_dir / "models"  # ONNX copies of the models, made once
            self.embedder = self._load(
                "embedding",
                self.settings.embedding_model,
                lambda name: Embedder(
                    name, precision=self.settings.precision, backend=self.settings.backend, cache_dir=cache_dir
                ),
            )
            # A reader model that fails to load leaves the lexical mode, with the problem recorded.
            self.reader = (
                self._load("reader", self.settings.reader_model, lambda _: build_reader(self.settings, cache_dir))
                or SentenceReader()
            )
            self._models_loaded = True
            self._loading_seconds = time.perf_counter() - began

    def _load(self, kind: str, name: str, make: Callable[[str], Any]) -> Any:
        if is_disabled(name):
            return None
        component = make(name)
        try:
            find_model(kind, name)  # a missing model is found before its (slow to import) library loads
            component.warm_up()
        except ModelLoadError as error:
            if kind in self.require:  # else the lexical mode takes over, the problem recorded
                raise
            log.warning("%s", error)
            self.problems.append(str(error))
            return None
        return component

    def _index_settings(self) -> IndexSettings:
        return IndexSettings(
            embedding_model=self.settings.embedding_model if self.embedder else NO_MODEL,
            chunk_tokens=self.settings.chunk_tokens,
            chunk_overlap=self.settings.chunk_overlap,
        )

    def _needs_build(self) -> bool:
        stored = self.store.settings()
        if stored is None:
            return True
        wanted = self._index_settings()
        if self.embedder is None and not is_disabled(self.settings.embedding_model):
            # The embedder failed to load: search the stored index by BM25 rather than drop its vectors.
            return (stored.chunk_tokens, stored.chunk_overlap) != (wanted.chunk_tokens, wanted.chunk_overlap)
        return stored != wanted

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
                self._refuse_to_drop_vectors(rebuild)
                configure_parsing(self.settings.parse_workers, self.settings.parse_memory_mb * 2**20)
                indexer = Indexer(
                    self.store, self.embedder, self._index_settings(), shard=Shard.parse(self.settings.shard)
                )
                corpus_dir = self.settings.corpus_dir if documents is None else None
                return indexer.update(
                    corpus_dir, documents=documents, rebuild=rebuild, retry_skipped=retry_skipped, progress=progress
                )
            finally:
                self._indexing = False

    def _refuse_to_drop_vectors(self, rebuild: bool) -> None:
        if rebuild:
            return
        stored = self.store.settings()
        failed = self.embedder is None and not is_disabled(self.settings.embedding_model)
        if failed and stored and stored.embedding_model == self.settings.embedding_model:
            raise DocqaError(
                f"the index holds vectors of {stored.embedding_model!r}, which could not be loaded, so new "
                "files cannot be embedded; fix the model, or re-index with --embedding-model none or --rebuild"
            )

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
        self._warm_for_questions()
        retriever = Retriever(self.store, self.embedder)
        return retriever.retrieve(query, top_k=top_k, mode=retrieval or self.settings.retrieval, sources=sources)

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

        result = self.read(question, passages, confidence_threshold=confidence_threshold)
        timings["reading"] = time.perf_counter() - retrieved
        closest = None
        if result.abstained and mode == "extractive":  # the model only adds: its miss falls back to a sentence
            closest = closest_sentence(question, passages, result, SentenceReader.default_threshold)
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
        return self._answer(
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


def lexical_reason(reader_model: str, problems: Sequence[str]) -> str:
    """Why answers are whole sentences: the reader was switched off, or failed to load."""
    if is_disabled(reader_model):
        return "the reader model is set to 'none'"
    return next((problem for problem in problems if "reader model" in problem), "the reader model is not loaded")


@cache
def _default_assistant(settings: Settings) -> Assistant:
    return Assistant(settings=settings)


def answer(question: str, history: History | None = None, **settings: Any) -> Answer:
    """Answer ``question`` over ``./corpus`` (index in ``./embeddings``), building the index on first use.

    Keyword arguments override the settings (``reader_model="none"``, ``top_k=3``, ...); one
    assistant is kept per distinct settings.
    """
    return _default_assistant(Settings.from_env(**settings)).ask(question, history)
