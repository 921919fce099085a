"""Typed records that flow through the pipeline, in the order they are made.

documents -> Document -> chunking -> Chunk -> store/retrieval -> RetrievedPassage
-> reader -> ExtractedAnswer -> assistant -> Answer (with Citation)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

AnswerMode = Literal["extractive", "sentence"]
RetrievalMode = Literal["hybrid", "bm25", "dense"]
RETRIEVAL_MODES: tuple[RetrievalMode, ...] = ("hybrid", "bm25", "dense")


# A score's words: the reader's score is roughly the chance that the answer is right, so these read
# as that chance. The chat app, the command line and the API all say these words.
CONFIDENCE_WORDS: tuple[tuple[float, str], ...] = ((0.75, "high"), (0.45, "medium"), (0.0, "low"))


def confidence_label(score: float) -> str:
    """``"high"``, ``"medium"`` or ``"low"``: the words for an answer's ``score`` everywhere it is shown."""
    return next((word for floor, word in CONFIDENCE_WORDS if score >= floor), "low")


Location = tuple[int, str]


def location_at(locations: tuple[Location, ...], offset: int) -> str | None:
    """The label of ``locations`` in force at the character ``offset``, or None where there is none."""
    label = ""
    for start, name in locations:
        if start > offset:
            break
        label = name
    return label or None


@dataclass(frozen=True)
class Document:
    """One source file as text, with the metadata shown in citations."""

    source: str  # path relative to the corpus folder, with '/' separators; the document's id
    text: str
    title: str
    content_hash: str  # sha256 of the file's bytes
    date: str | None = None  # ISO date (YYYY-MM-DD) where the file gives one
    # Where each part of the text is in the file: (offset, label) pairs in order, the label ("page 3",
    # "slide 2", "sheet Budget", "chapter 4", "Setup \u203a Ports") holding up to the next pair; "" for none.
    locations: tuple[Location, ...] = ()


@dataclass(frozen=True)
class Chunk:
    """A passage of a document; ``text == document.text[start:end]``."""

    source: str
    index: int  # position of the chunk within its document
    text: str
    start: int
    end: int
    id: int | None = None  # assigned by the store
    locations: tuple[Location, ...] = ()  # the document's locations in force within the passage

    @property
    def location(self) -> str | None:
        """Where the passage starts in its file (page, slide, sheet, chapter, heading path), if known."""
        return location_at(self.locations, self.start)

    def location_at(self, offset: int) -> str | None:
        """Where the character at document ``offset`` (inside this passage) is in its file, if known."""
        return location_at(self.locations, offset)


@dataclass(frozen=True)
class RetrievedPassage:
    """A chunk returned by the retriever, with its fused score and per-method ranks."""

    chunk: Chunk
    score: float
    title: str = ""
    date: str | None = None
    bm25_rank: int | None = None  # 1-based; None when that method did not return it
    dense_rank: int | None = None
    # The start of its document when the passage lies further in: whom and what the document is
    # about ("These procedures apply to ... Unit 4"), which a passage of its body rarely repeats.
    opening: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.chunk.source,
            "title": self.title,
            "date": self.date,
            "chunk_id": self.chunk.id,
            "start": self.chunk.start,
            "end": self.chunk.end,
            "location": self.chunk.location,
            "text": self.chunk.text,
            "score": self.score,
            "bm25_rank": self.bm25_rank,
            "dense_rank": self.dense_rank,
        }


@dataclass(frozen=True)
class ExtractedAnswer:
    """A span found by a reader; ``start``/``end`` are character offsets in the document."""

    text: str
    score: float  # in [0, 1], comparable across passages and questions
    passage: RetrievedPassage
    start: int
    end: int
    logit: float | None = None  # a model's start + end logit behind the score, which calibrations are fitted on


@dataclass(frozen=True)
class Citation:
    source: str
    title: str
    date: str | None
    start: int  # character offsets of the answer in the document
    end: int
    snippet: str  # the sentence around the answer
    snippet_start: int  # offset of the snippet in the document, to highlight the answer in it
    location: str | None = None  # where the answer is in its file: page, slide, sheet, chapter or headings

    @property
    def sentence_at(self) -> tuple[str, int]:
        """Where its sentence stands: the citations of a list's items from one sentence share it."""
        return self.source, self.snippet_start

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Conflict:
    """One document's confident answer where documents disagree (``docqa.conflicts``)."""

    text: str
    score: float
    citation: Citation
    date: str | None  # the document's date (ISO), by which the conflicts are ordered, newest first
    dated_by: (
        str  # "metadata" (the file's own or its front matter), "text" (a date in its first lines), "file time", ""
    )
    answer: ExtractedAnswer | None = field(default=None, compare=False, repr=False)  # the span, where known

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "score": self.score,
            "date": self.date,
            "dated_by": self.dated_by,
            "citation": self.citation.to_dict(),
        }


@dataclass(frozen=True)
class AnswerItem:
    """One item of a list answer (``docqa.lists``): a span of the reader's, with its citation."""

    text: str
    score: float
    citation: Citation

    def to_dict(self) -> dict[str, Any]:
        return {"answer": self.text, "score": self.score, "citation": self.citation.to_dict()}


# What an answer's notes are about; a code lets each interface say a note its own way, or not at all.
NoteCode = Literal[
    "question-cut",  # the question was cut to a sane length
    "question-truncated",  # the question was cut to fit the reader model
    "indexing",  # no passage yet: the index is being built
    "empty-index",  # the index holds no documents
    "no-match",  # no passage matches the question
    "abstained",  # the documents do not seem to hold the answer
    "closest",  # the closest sentence, where the reader found no confident span
    "lexical",  # no reader model is loaded: the best-matching sentence
]


@dataclass(frozen=True)
class Note:
    """A note for the person who asked: what it is about (``code``), and what it says."""

    code: NoteCode
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "text": self.text}


@dataclass
class Answer:
    """What ``Assistant.ask`` returns."""

    question: str
    text: str  # the extracted span, the best sentence (mode "sentence"), or "" when abstained
    score: float
    abstained: bool
    mode: AnswerMode
    # Every citation that backs the answer: its own span first, then other places that hold it.
    citations: list[Citation] = field(default_factory=list)
    passages: list[RetrievedPassage] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    notes: list[Note] = field(default_factory=list)  # why it abstained, which mode, what was cut
    alternatives: list[ExtractedAnswer] = field(default_factory=list)
    query: str = ""  # the retrieval query, when a follow-up was rewritten
    closest: bool = False  # the closest sentence, shown where the reader found no confident span
    conflicts: list[Conflict] = field(default_factory=list)  # documents' differing answers, newest first
    # A list answer's items, each cited (then ``text`` joins them); empty for a one-span answer.
    items: list[AnswerItem] = field(default_factory=list)

    @property
    def message(self) -> str:
        """The notes' texts, in one line."""
        return " ".join(note.text for note in self.notes)

    @property
    def confidence(self) -> str:
        """``"high"``, ``"medium"`` or ``"low"``: ``score`` in the words the app and ``docqa ask`` use."""
        return confidence_label(self.score)

    @property
    def confident(self) -> bool:
        """An answer given with confidence: not abstained, not the closest sentence, not of low confidence.
        Only such an answer is searched with a follow-up that leans on it (``docqa.conversation``)."""
        return not self.abstained and not self.closest and self.confidence != "low"

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "score": self.score,
            "confidence": self.confidence,
            "abstained": self.abstained,
            "confident": self.confident,
            "mode": self.mode,
            "message": self.message,
            "notes": [note.to_dict() for note in self.notes],
            "query": self.query or self.question,
            "citations": [citation.to_dict() for citation in self.citations],
            "passages": [passage.to_dict() for passage in self.passages],
            "alternatives": [
                {
                    "answer": alt.text,
                    "score": alt.score,
                    "source": alt.passage.chunk.source,
                    "start": alt.start,
                    "end": alt.end,
                    "location": alt.passage.chunk.location_at(alt.start),
                }
                for alt in self.alternatives
            ],
            "conflicts": [conflict.to_dict() for conflict in self.conflicts],
            "items": [item.to_dict() for item in self.items],
            "timings": dict(self.timings),
        }


@dataclass(frozen=True)
class AssistantStatus:
    """What an assistant runs with: its models, how it answers and searches, and what its index holds."""

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
    vectors_kept: bool = False  # the index holds vectors of an embedding model that is not loaded
    # The reader model's scores are fitted to be chances (its docqa_calibration.json); an uncalibrated
    # model's are not, and the app says so.
    scores_calibrated: bool = True


@dataclass(frozen=True)
class IndexReport:
    """What an indexing run (``Indexer.update``) changed, by source path, and how long it took."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # source -> reason it was not indexed
    chunks: int = 0  # chunks in the index after the update
    rebuilt: bool = False  # everything was re-indexed (new index, model or chunking settings)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage: scan, parse, chunk, embed, write
    # Documents stored with their text only, their embedding model not loaded: embedded once it loads.
    unembedded: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.rebuilt)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
