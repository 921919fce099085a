"""The assistant: the lifecycle of a question-answering engine over a folder of documents.

It opens the store, loads the models, keeps the index up to date and switches readers; questions
go to its :class:`~docqa.engine.Engine`, which is immutable and swapped whole when anything changes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

from docqa.components import index_settings, keeps_vectors, load_component, load_models, needs_build
from docqa.config import DEFAULT_EMBEDDING_MODEL, Settings
from docqa.conversation import History
from docqa.embedding import Embedder
from docqa.engine import Engine
from docqa.errors import IndexLoadError
from docqa.indexing import FileReading, Indexer, Progress
from docqa.models import is_disabled
from docqa.options import AskOptions
from docqa.reader import Reader, ReaderResult, SentenceReader, build_reader, effective_threshold
from docqa.schema import (
    Answer,
    AnswerMode,
    AssistantStatus,
    Document,
    IndexReport,
    RetrievalMode,
    RetrievedPassage,
)
from docqa.shards import Shard
from docqa.store import DocumentInfo, PassageStore, open_store

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
        self._settings = settings.replace(**arguments) if settings else Settings.from_env(**arguments)
        # Named: by argument or environment. Else the index's own model is loaded (see docqa.components).
        named = embedding_model if settings else embedding_model or os.environ.get("DOCQA_EMBEDDING_MODEL")
        self._embedder_named = bool(named) or self._settings.embedding_model != DEFAULT_EMBEDDING_MODEL
        self._shard = Shard.parse(self._settings.shard)
        # The parsing workers, the files' known hashes and the files found unusable, kept between updates.
        self._reading = FileReading(self._settings.parse_workers, self._settings.parse_memory_mb * 2**20)
        self.store: PassageStore = store or open_store(self._settings.store_location, shard=self._shard)
        # Dense search as the setting needs the embedding model: refused when it cannot load, not run as BM25.
        self.require = frozenset(require) | ({"embedding"} if self._settings.retrieval == "dense" else set())
        self._engine: Engine | None = None  # made once the models are loaded, then only ever replaced whole
        self._loading_seconds = 0.0  # the models' loading, told by the next answer (it may have waited for it)
        self._warm = False
        self._warming = False  # warm_up is building the index for a question
        self._warm_lock = threading.RLock()
        self._models_lock = threading.RLock()
        self._index_lock = threading.Lock()
        self._indexing = False

    # ----- the engine and its parts ----------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The engine questions go to, its models loaded (loading them on first use)."""
        return self._engine or self.load_models()

    @property
    def settings(self) -> Settings:
        """The settings in force: the engine's once the models are loaded (the embedding model resolved)."""
        return self._engine.settings if self._engine else self._settings

    @property
    def embedder(self) -> Embedder | None:
        return self._engine.embedder if self._engine else None

    @property
    def reader(self) -> Reader | None:
        return self._engine.reader if self._engine else None

    @property
    def problems(self) -> list[str]:
        """Why a model did not load: what the status reports."""
        return self._engine.problems if self._engine else []

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
                engine = self.load_models()
                if needs_build(engine.settings, self.store, embedded=engine.embedder is not None):
                    self.index()
                self._warm = True
            finally:
                self._warming = False

    def _ready_engine(self, options: AskOptions | None = None) -> Engine:
        """The engine for a question: ``warm_up`` first, except while an update started by ``index()``
        runs (a server's, say): then the index as it stands answers, without waiting. A build that
        ``warm_up`` started for another question is waited for, as that question waits. Dense search
        that ``options`` ask for and that cannot run is refused before any of that."""
        if options is not None and (options.retrieval or self.settings.retrieval) == "dense":
            self.load_models().retrieval(options)
        if not self._warm and (self._warming or not self._index_lock.locked()):
            self.warm_up()
        return self.engine

    def load_models(self) -> Engine:  # else the first question or update loads them
        with self._models_lock:
            if self._engine is not None:
                return self._engine
            began = time.perf_counter()
            # A model that fails to load leaves the lexical mode (or BM25 search), the problem recorded.
            settings, embedder, reader, errors = load_models(
                self._settings, self.store, named_embedder=self._embedder_named, require=self.require
            )
            self._engine = Engine(settings, self.store, embedder, reader or SentenceReader(), tuple(errors))
            self._loading_seconds = time.perf_counter() - began
            return self._engine

    def use_reader(self, model: str) -> None:
        """Answer with the reader ``model`` from now on. It is loaded completely before it replaces the
        old one, so questions meanwhile are answered by the old reader; one that fails to load raises
        ``DocqaError`` and changes nothing."""
        engine = self.load_models()
        settings = engine.settings.replace(reader_model=model)
        reader = build_reader(settings, settings.index_dir / "models")
        if not is_disabled(model):
            load_component("reader", model, lambda _: reader, required={"reader"})  # raises when it cannot load
        with self._models_lock:  # the swap is one assignment; the lock orders it after a first loading
            self._engine = self.engine.with_reader(settings, reader)
        log.info("now answering with the reader %s", model)

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
                indexer = self._indexer(rebuild=rebuild)
                corpus_dir = self.settings.corpus_dir if documents is None else None
                return indexer.update(
                    corpus_dir, documents=documents, rebuild=rebuild, retry_skipped=retry_skipped, progress=progress
                )
            finally:
                self._indexing = False

    def up_to_date(self) -> bool:
        """Whether the index holds the corpus folder's files as they are (hashing them, reading none)."""
        return self._indexer(rebuild=False).up_to_date(self.settings.corpus_dir)

    def _indexer(self, *, rebuild: bool) -> Indexer:
        engine = self.load_models()
        embedded = engine.embedder is not None
        written = index_settings(engine.settings, self.store, embedded=embedded, rebuild=rebuild)
        return Indexer(self.store, engine.embedder, written, shard=self._shard, reading=self._reading)

    # ----- questions ---------------------------------------------------------------------

    def ask(
        self, question: str, history: History | None = None, options: AskOptions | None = None, **choices: Any
    ) -> Answer:
        """Answer ``question`` from the documents, with citations, or abstain.

        ``history``: the earlier (question, answer) pairs of the conversation, oldest first. The
        question's options are ``options`` and the :class:`~docqa.options.AskOptions` fields given as
        keywords (``top_k=5``, ``retrieval="bm25"``, ``confidence_threshold=0.3``, ``sources=[...]``),
        checked before any searching or reading.
        """
        started = time.perf_counter()
        if history is not None:
            choices["history"] = history
        options = (options or AskOptions()).with_values(**choices)
        engine = self._ready_engine(options)
        # Loading: what this question waited for, or the models' loading before it (docqa ask loads them first).
        waited, self._loading_seconds = max(time.perf_counter() - started, self._loading_seconds), 0.0
        return engine.ask(question, options, indexing=self._indexing, waited=waited)

    def retrieve(
        self,
        query: str,
        *,
        top_k: int | None = None,
        retrieval: RetrievalMode | None = None,
        sources: Collection[str] | None = None,
    ) -> list[RetrievedPassage]:
        """The best passages for ``query``; only of the documents ``sources`` when given."""
        options = AskOptions(top_k=top_k, retrieval=retrieval, sources=None if sources is None else tuple(sources))
        return self._ready_engine(options).retrieve(query, options)

    def check_retrieval(self, retrieval: RetrievalMode | None = None) -> RetrievalMode:
        """The search method asked for (else the settings'), refused when it cannot run (``Engine.retrieval``)."""
        return self.load_models().retrieval(AskOptions(retrieval=retrieval))

    def read(
        self, question: str, passages: Sequence[RetrievedPassage], *, confidence_threshold: float | None = None
    ) -> ReaderResult:
        """The reader's answers to ``question`` in ``passages``, judged against the confidence threshold
        (the argument, else the property of that name; see ``Engine.read``)."""
        engine = self._ready_engine()
        return engine.read(question, passages, engine.threshold(AskOptions(confidence_threshold=confidence_threshold)))

    @property
    def confidence_threshold(self) -> float:
        """The threshold questions are judged by: the settings', else the reader's own default."""
        return effective_threshold(self.settings, self.reader)

    # ----- what is indexed ---------------------------------------------------------------

    def status(self) -> AssistantStatus:
        engine = self._engine
        mode: AnswerMode = engine.reader.mode if engine else "sentence"
        problems = list(self.problems)
        try:
            retrieval = engine.retriever.effective_mode(self.settings.retrieval) if engine else "bm25"
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
        self._reading.close()
        self.store.close()

    def __enter__(self) -> Assistant:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_KEPT_ASSISTANTS = 2  # assistants of distinct settings that answer() keeps open (each holds its models)
_assistants: OrderedDict[Settings, Assistant] = OrderedDict()
_assistants_lock = threading.Lock()


def answer(question: str, history: History | None = None, **choices: Any) -> Answer:
    """Answer ``question`` over ``./corpus`` (index in ``./embeddings``), building the index on first use.

    Keywords are the question's options (``top_k=5``, ``sources=[...]``: the fields of
    :class:`~docqa.options.AskOptions`) and settings (``reader_model="none"``, ...). One assistant is
    kept per distinct settings, the last few used; a question's options never make another one.
    """
    asked = {name: choices.pop(name) for name in list(choices) if name in AskOptions.__dataclass_fields__}
    settings = Settings.from_env(**choices)
    with _assistants_lock:
        assistant = _assistants.pop(settings, None) or Assistant(settings=settings)
        _assistants[settings] = assistant  # the most recently used last
        while len(_assistants) > _KEPT_ASSISTANTS:
            _assistants.popitem(last=False)[1].close()
    return assistant.ask(question, history, **asked)
