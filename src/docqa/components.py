"""The assistant's models: which ones to load, what to do when one cannot load, and what the index is
written with.

An index keeps the vectors of the embedding model it was built with. With no embedding model named
(by argument or ``DOCQA_EMBEDDING_MODEL``), that model is the index's own, so that an update never
trades the vectors for another model's behind the user's back. When it cannot be loaded, questions
are searched by BM25 for the session, and new or changed files are indexed with their text only,
to be embedded by the first update that has the model: the vectors made before are kept, unless the
user asks for a rebuild or names another model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from typing import TypeVar

from docqa.config import NO_MODEL, Settings
from docqa.embedding import Embedder
from docqa.errors import DocqaError, ModelLoadError
from docqa.indexing import stored_dimension
from docqa.models import find_model, is_disabled
from docqa.reader import Reader, build_reader
from docqa.store import IndexSettings, PassageStore

log = logging.getLogger(__name__)
T = TypeVar("T")
FIX = " Fix: "  # where a ModelLoadError's message turns from what went wrong to how to fix it
WHAT_IS_LOST = {"embedding": "search is by BM25 only", "reader": "answers are whole sentences (the lexical mode)"}


def index_model(settings: Settings, store: PassageStore, *, named: bool) -> str:
    """The embedding model to load: the one ``named`` in ``settings``, else the one the index was built
    with (when it holds vectors), else the default of ``settings``."""
    if named:
        return settings.embedding_model
    try:
        stored = store.settings()
    except DocqaError:  # a damaged index is reported by what reads it
        return settings.embedding_model
    if stored is None or is_disabled(stored.embedding_model) or not stored_dimension(store):
        return settings.embedding_model
    return stored.embedding_model


def load_models(
    settings: Settings, store: PassageStore, *, named_embedder: bool, require: Collection[str]
) -> tuple[Settings, Embedder | None, Reader | None, list[ModelLoadError]]:
    """The settings with the embedding model to use (see :func:`index_model`), the embedder and the
    reader loaded (None for 'none', or for a model that could not load), and the loading errors, of
    which one warning is logged. A model of a kind in ``require`` must load: its error is raised."""
    name = index_model(settings, store, named=named_embedder)
    settings = settings.replace(embedding_model=name)
    cache_dir = settings.index_dir / "models"  # ONNX copies of the models, made once

    def embedder(name: str) -> Embedder:
        return Embedder(name, precision=settings.precision, backend=settings.backend, cache_dir=cache_dir)

    def reader(_: str) -> Reader:
        return build_reader(settings, cache_dir)

    loaded_embedder = None if is_disabled(name) else load_component("embedding", name, embedder, require)
    loaded_reader = (
        None if is_disabled(settings.reader_model) else load_component("reader", settings.reader_model, reader, require)
    )
    errors = [error for error in (loaded_embedder, loaded_reader) if isinstance(error, ModelLoadError)]
    embedding = None if isinstance(loaded_embedder, ModelLoadError) else loaded_embedder
    warn_fallback(errors, kept_vectors=embedding is None and keeps_vectors(settings, store))
    return settings, embedding, None if isinstance(loaded_reader, ModelLoadError) else loaded_reader, errors


def keeps_vectors(settings: Settings, store: PassageStore) -> bool:
    """Whether the index keeps vectors that a session without its embedding model cannot search."""
    try:
        return index_settings(settings, store, embedded=False, rebuild=False).embedding_model != NO_MODEL
    except DocqaError:  # a damaged index: what reads it says so
        return False


def load_component(kind: str, name: str, make: Callable[[str], T], required: Collection[str]) -> T | ModelLoadError:
    """The component ``make(name)`` of a model, warmed up; the error when the model cannot be loaded
    (raised instead for a ``required`` kind: a model the user named must load)."""
    component = make(name)
    try:
        find_model(kind, name)  # a missing model is found before its (slow to import) library loads
        component.warm_up()  # type: ignore[attr-defined]
    except ModelLoadError as error:
        if kind in required:
            raise
        return error
    return component


def short_problem(problem: str) -> str:
    """A model's loading problem without its fix: what an answer's note says, the fix being said once."""
    return problem.partition(FIX)[0].rstrip(".")


def warn_fallback(errors: Sequence[ModelLoadError], kept_vectors: bool) -> None:
    """Say once, in one line, which models could not be loaded, what that changes and how to fix it."""
    if not errors:
        return
    reasons = list(dict.fromkeys(error.reason for error in errors))
    models = " and ".join(f"the {error.kind} model {error.name!r}" for error in errors)
    effects = [WHAT_IS_LOST[error.kind] for error in errors]
    if kept_vectors:
        effects[0] += " for now (the index keeps its vectors, and embeds new files once the model loads)"
    flags = " and ".join(f"--{error.kind}-model" for error in errors)
    log.warning(
        "could not load %s (%s), so %s. Fix: pass local model folders (%s), or download the models once "
        "with network access, or pass 'none' to choose this on purpose.",
        models, "; ".join(reasons), "; ".join(effects), flags,
    )  # fmt: skip


def index_settings(settings: Settings, store: PassageStore, *, embedded: bool, rebuild: bool) -> IndexSettings:
    """The settings the index is written with: those of ``settings`` and its embedding model when it
    is loaded (``embedded``); when it failed to load, the stored ones, vectors and all, so that new
    files are written with their text only (``Indexer`` does so for a model it has no embedder of).
    A ``rebuild`` without the model, or 'none', writes no vectors."""
    wanted = IndexSettings(
        embedding_model=settings.embedding_model if embedded else NO_MODEL,
        chunk_tokens=settings.chunk_tokens,
        chunk_overlap=settings.chunk_overlap,
    )
    if embedded or rebuild or is_disabled(settings.embedding_model):
        return wanted
    stored = store.settings()
    if stored is None or is_disabled(stored.embedding_model) or not stored_dimension(store):
        return wanted  # no vectors to keep
    return stored


def needs_build(settings: Settings, store: PassageStore, *, embedded: bool) -> bool:
    """Whether questions must wait for a build: there is no index, or one of other settings."""
    stored = store.settings()
    return stored is None or stored != index_settings(settings, store, embedded=embedded, rebuild=False)


def lexical_reason(reader_model: str, errors: Sequence[ModelLoadError]) -> str:
    """Why answers are whole sentences: the reader was switched off, or failed to load."""
    if is_disabled(reader_model):
        return "the reader model is set to 'none'"
    failed = next((error for error in errors if error.kind == "reader"), None)
    return short_problem(str(failed)) if failed else "the reader model is not loaded"


def dense_problem(embedding_model: str, errors: Sequence[ModelLoadError]) -> str:
    """Why dense search cannot run, for an error that refuses it rather than search otherwise."""
    if is_disabled(embedding_model):
        why = "the embedding model is set to 'none'"
    else:
        failed = next((error for error in errors if error.kind == "embedding"), None)
        why = short_problem(str(failed)) if failed else "it is not loaded"
    return (
        f"dense search (--retrieval dense) needs the embedding model, which is not loaded ({why}): "
        "choose bm25 or hybrid search, or load the model"
    )
