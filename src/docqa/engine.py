"""The engine: one question in, one answer with all its evidence out.

An engine is immutable: its settings, store, models and retriever never change, so any number of
threads ask it at once without a lock. The assistant (``docqa.assistant``) makes engines: it loads
the models, builds the index, and swaps in a new engine when a reader is switched.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from docqa.answer_types import asks_for_several
from docqa.citation import backing_citations, cite
from docqa.components import dense_problem, lexical_reason
from docqa.config import Settings
from docqa.conflicts import document_opening, find_conflicts
from docqa.conversation import clean_question, resolve_follow_up, rewrite_follow_up, words_to_match
from docqa.embedding import Embedder
from docqa.errors import DocqaError, ModelLoadError
from docqa.lists import joined, list_items, series_items
from docqa.options import AskOptions
from docqa.reader import Reader, ReaderResult, SentenceReader, effective_threshold
from docqa.reader.closest import CLOSEST_NOTE, closest_sentence
from docqa.retrieval import Retriever
from docqa.schema import (
    Answer,
    AnswerItem,
    AnswerMode,
    Conflict,
    ExtractedAnswer,
    Note,
    RetrievalMode,
    RetrievedPassage,
)
from docqa.store import PassageStore

ABSTENTION_NOTE = "The documents do not seem to contain the answer; these are the closest passages."
LEXICAL_NOTE_START = "This is the best-matching sentence, not an extracted answer"


@dataclass(frozen=True)
class Engine:
    """Settings, store, embedder (None: BM25 only) and reader, with the models' loading errors."""

    settings: Settings
    store: PassageStore
    embedder: Embedder | None
    reader: Reader
    errors: tuple[ModelLoadError, ...] = ()
    retriever: Retriever = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "retriever", Retriever(self.store, self.embedder))

    def with_reader(self, settings: Settings, reader: Reader) -> Engine:
        """This engine answering with ``reader`` (of ``settings``), the old reader's error forgotten."""
        errors = tuple(error for error in self.errors if error.kind != "reader")
        return replace(self, settings=settings, reader=reader, errors=errors)

    @property
    def problems(self) -> list[str]:
        return [str(error) for error in self.errors]

    def threshold(self, options: AskOptions) -> float:
        """The threshold a question is judged by: its own, else the settings', else the reader's default."""
        if options.confidence_threshold is not None:
            return options.confidence_threshold
        return effective_threshold(self.settings, self.reader)

    def retrieval(self, options: AskOptions) -> RetrievalMode:
        """The search method asked for, refused when it cannot run: dense search without the embedding
        model, or over an index without vectors, is an error, never BM25 under another name."""
        mode = options.retrieval or self.settings.retrieval
        if mode == "dense" and self.embedder is None:
            raise DocqaError(dense_problem(self.settings.embedding_model, self.errors))
        if mode == "dense" and self.retriever.effective_mode(mode) != mode:
            raise DocqaError("dense search needs an index with vectors: run 'docqa index --rebuild' with the model")
        return mode

    def retrieve(self, query: str, options: AskOptions) -> list[RetrievedPassage]:
        """The best passages for ``query``; only of the documents ``options.sources`` when given."""
        top_k = options.top_k or self.settings.top_k
        passages = self.retriever.retrieve(query, top_k=top_k, mode=self.retrieval(options), sources=options.sources)
        return self._with_openings(passages)

    def _with_openings(self, passages: list[RetrievedPassage]) -> list[RetrievedPassage]:
        """``passages``, each one past its document's first given that document's opening lines."""
        further = {p.chunk.source for p in passages if p.chunk.index > 0}
        openings = {source: document_opening(source, self.store.document_text) for source in further}
        return [replace(p, opening=openings[p.chunk.source]) if p.chunk.index > 0 else p for p in passages]

    def read(self, question: str, passages: Sequence[RetrievedPassage], threshold: float) -> ReaderResult:
        """The reader's answers judged against ``threshold``, the one place a threshold applies (readers
        only report scores): below it the result is ``abstained``, its answers kept as guesses;
        otherwise only the answers at or above it are kept. A question that asks for several things
        has every passage read (``docqa.lists``)."""
        result = self.reader.read(question, passages, every_passage=asks_for_several(question))
        if result.abstained or not result.answers or result.answers[0].score < threshold:
            return replace(result, abstained=True)
        return replace(result, answers=[answer for answer in result.answers if answer.score >= threshold])

    def ask(self, question: str, options: AskOptions, *, indexing: bool = False, waited: float = 0.0) -> Answer:
        """Answer ``question`` with citations, or abstain. ``indexing``: an index build is under way (an
        empty index says so); ``waited``: seconds the question waited for the models, told in timings."""
        began = time.perf_counter()
        question, notes = clean_question(question)
        query = rewrite_follow_up(question, options.history)
        passages = self.retrieve(query, options)
        retrieved = time.perf_counter()
        draft = _Draft(question, query if query != question else "", self.reader.mode, notes, began - waited)
        draft.timings = {"loading": waited, "retrieval": retrieved - began}
        if not passages:
            draft.notes.append(self._nothing_found(options, indexing=indexing))
            return draft.answer()
        draft.passages = passages
        reading = resolve_follow_up(question, options.history)  # "he" read as the name the previous answer gave
        matching = words_to_match(question, reading, options.history)  # what the sentence reader matches
        result = self.read(matching if draft.mode == "sentence" else reading, passages, self.threshold(options))
        draft.timings["reading"] = time.perf_counter() - retrieved
        if result.abstained and draft.mode == "extractive" and options.closest:  # the model's miss: a sentence
            closest = closest_sentence(matching, passages, result, SentenceReader.default_threshold)
            if closest is not None:
                draft.notes.append(Note("closest", CLOSEST_NOTE))
                draft.mode = "sentence"
                items = series_items(reading, closest.sentence)
                if items:  # a question that asks for several, answered by a sentence that lists them
                    return draft.answer(items[0], items=items)
                # Sentences of different documents are compared as the lexical mode compares them.
                conflicts = self._conflicts(closest.sentences, reading, passages, read_sentences=False)
                return self._newest_first(draft, conflicts, closest.sentences, highlight=closest.highlight)
        if result.abstained:
            draft.notes.append(Note("abstained", ABSTENTION_NOTE))
            return draft.answer()
        if draft.mode == "sentence":
            reason = lexical_reason(self.settings.reader_model, self.errors)
            draft.notes.append(Note("lexical", f"{LEXICAL_NOTE_START}: no reader model is loaded ({reason})."))
        if result.truncated_question:
            draft.notes.append(Note("question-truncated", "The question was cut to fit the reader model."))
        if draft.mode == "extractive":
            items = list_items(reading, result.answers, self.threshold(options))
        else:
            items = series_items(reading, result.answers[0])
        if items:  # a question that asks for several, answered by several spans or a sentence listing them
            rest = [answer for answer in result.answers if answer not in items]
            return draft.answer(items[0], alternatives=rest, items=items)
        conflicts = self._conflicts(result.answers, reading, passages, read_sentences=draft.mode == "extractive")
        return self._newest_first(draft, conflicts, result.answers)

    def _conflicts(
        self,
        answers: Sequence[ExtractedAnswer],
        question: str,
        passages: Sequence[RetrievedPassage],
        *,
        read_sentences: bool,
    ) -> list[Conflict]:
        """Confident ``answers`` of different documents that disagree, newest first (``docqa.conflicts``)."""
        return find_conflicts(
            answers, document_text=self.store.document_text, corpus_dir=self.settings.corpus_dir,
            question=question, passages=passages, read_sentences=read_sentences,
        )  # fmt: skip

    @staticmethod
    def _newest_first(
        draft: _Draft,
        conflicts: list[Conflict],
        answers: Sequence[ExtractedAnswer],
        *,
        highlight: ExtractedAnswer | None = None,
    ) -> Answer:
        """The answer ``answers[0]``, or where documents disagree, the newest one's: folders keep old
        versions beside new ones, so the newest value leads, the disagreement shown with it. A
        sentence the sentence reader found beside a model's spans is shown as a sentence. With a
        ``highlight``, the answers are closest sentences and ``answers[0]`` is cited at it."""
        best = answers[0]
        newest = conflicts[0].answer if conflicts else None
        if newest is not None and newest.passage.chunk.source != best.passage.chunk.source:
            best = newest
            if newest not in answers:  # a sentence the sentence reader found, beside a model's spans
                draft.mode = "sentence"
            if highlight is not None:  # a closest sentence of another document: cited as it stands
                highlight = newest
        alternatives = [other for other in answers if other is not best] if highlight is None else []
        answer = draft.answer(best, alternatives=alternatives, cited=highlight)
        answer.conflicts = conflicts
        return answer

    def _nothing_found(self, options: AskOptions, *, indexing: bool) -> Note:
        if self.store.count_passages() == 0:
            if indexing:
                return Note("indexing", "The index is being built: ask again in a moment.")
            where = self.settings.corpus_dir
            return Note("empty-index", f"The index has no documents: add files to {where} and run 'docqa index'.")
        chosen = " of the chosen documents" if options.sources is not None else " of the documents"
        return Note("no-match", f"No passage{chosen} matches the question.")


@dataclass
class _Draft:
    """An answer being put together: what every outcome of ``Engine.ask`` has in common."""

    question: str
    query: str
    mode: AnswerMode
    notes: list[Note]
    started: float
    passages: Sequence[RetrievedPassage] = ()
    timings: dict[str, float] = field(default_factory=dict)

    def answer(
        self,
        best: ExtractedAnswer | None = None,
        *,
        alternatives: Sequence[ExtractedAnswer] = (),
        cited: ExtractedAnswer | None = None,
        items: Sequence[ExtractedAnswer] = (),
    ) -> Answer:
        """The answer ``best`` (None: abstained), cited where ``cited`` is (the reader's span inside a
        closest sentence), else where it stands, with every other place that holds it; or the list
        of ``items`` (``best`` the first), each cited where it stands."""
        self.timings["total"] = time.perf_counter() - self.started
        citations = []
        listed = [AnswerItem(item.text, item.score, cite(item)) for item in items]
        if listed:
            citations = [item.citation for item in listed]
        elif best is not None:
            # A word-for-word search of other passages is for short answers, not whole sentences.
            others = self.passages if self.mode == "extractive" else ()
            citations = backing_citations(cited or best, alternatives, others)
        text = joined([item.text for item in items]) if items else best.text if best else ""
        return Answer(
            question=self.question,
            text=text,
            score=best.score if best else 0.0,
            abstained=best is None,
            mode=self.mode,
            citations=citations,
            passages=list(self.passages),
            timings=self.timings,
            notes=self.notes,
            alternatives=list(alternatives),
            query=self.query,
            closest=cited is not None,
            items=listed,
        )
