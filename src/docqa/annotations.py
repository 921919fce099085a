"""Corrections of answers, kept in the index folder as SQuAD 2.0 records for ``docqa train``.

A person marks the right answer to a question by selecting it in a document, or says that the
documents do not answer it. Each correction is one JSON line of ``annotations.jsonl``: the question,
the passage around the answer (the SQuAD context), the answer's text and character offset in that
context (or ``is_impossible``), the document's source and the SHA-256 of its text at the time, and
when it was made. The file lives beside the index and no rebuild removes it; a document whose text
has changed since (or that is gone) makes only its own corrections stale, and they are left out of
exports and training with a warning. The last correction of a (conversation, turn) counts.

``JsonLines`` is the append-only file behind these and the thumbs of ``docqa.feedback``; the readers
trained on them are kept beside them (``trained_readers``).
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeGuard

from docqa.errors import DocqaError

ANNOTATIONS_FILE = "annotations.jsonl"
READERS_FOLDER = "readers"  # docqa train saves the readers it trains under <index folder>/readers/NAME
CONTEXT_CHARS = 1200  # the most characters of a document kept around a selected answer
MAX_LINE_BYTES = 16 * 2**20  # a record holds a question and a passage: far less than this
log = logging.getLogger(__name__)


class JsonLines:
    """An append-only file of JSON objects, one a line; safe to call from several threads.

    Each line is appended whole and synced to disk before ``append`` returns, so a crash loses
    none; a line cut short by one is skipped when reading.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, entry: dict[str, Any]) -> None:
        """Add ``entry`` as the file's last line; raises ``OSError`` when it cannot be written."""
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Append mode, so that each line lands whole at the end even with another writer.
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                written = 0
                while written < len(line):
                    written += os.write(descriptor, line[written:])
                os.fsync(descriptor)
            finally:
                os.close(descriptor)

    def entries(self, skipped: list[str] | None = None) -> Iterator[dict[str, Any]]:
        """Every stored object, oldest first; each line that is not one is skipped, and said why in
        ``skipped`` ("line 3: not UTF-8 text"). The file is only read, never changed."""
        if not self.path.exists():
            return
        with self.path.open("rb") as lines:
            for number, line in enumerate(iter(lambda: _line(lines), b""), start=1):
                entry, problem = _decoded(line[3:] if number == 1 and line.startswith(codecs.BOM_UTF8) else line)
                if problem and skipped is not None:
                    skipped.append(f"line {number}: {problem}")
                if entry is not None:
                    yield entry


def _line(lines: BinaryIO) -> bytes:
    """The next line of ``lines``, read to at most ``MAX_LINE_BYTES`` + 1 bytes (the rest of a longer
    one is passed over, so that no line is ever held whole); b"" at the end."""
    line = lines.readline(MAX_LINE_BYTES + 1)
    if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
        while (rest := lines.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
            pass
    return line


def _decoded(line: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """The JSON object on ``line``, or None and why it is not one (None for a blank line)."""
    if not line.strip():
        return None, None
    if len(line) > MAX_LINE_BYTES:
        return None, f"longer than {MAX_LINE_BYTES:,} bytes"
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not UTF-8 text (cut short?)"
    try:
        entry = json.loads(text)
    except RecursionError:
        return None, "nested too deeply"
    except ValueError as error:  # not JSON, cut short, or a number too long to read
        return None, f"not JSON ({error})"
    if not isinstance(entry, dict):
        return None, "not a JSON object"
    return entry, None


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def context_around(text: str, start: int, end: int, limit: int = CONTEXT_CHARS) -> tuple[int, int]:
    """The span of ``text`` to keep as the context of an answer at ``text[start:end]``: its
    paragraph (between blank lines), cut to about ``limit`` characters around the answer at
    white space, and never cutting the answer."""
    first = text.rfind("\n\n", 0, start)
    last = text.find("\n\n", end)
    first, last = (0 if first < 0 else first + 2), (len(text) if last < 0 else last)
    spare = max(0, limit - (end - start)) // 2
    if start - first > spare:
        cut = text.find(" ", start - spare, start)
        first = cut + 1 if cut >= 0 else start
    if last - end > spare:
        cut = text.rfind(" ", end, end + spare)
        last = cut if cut >= 0 else end
    return first, last


class AnnotationStore:
    """The corrections of one index folder, in ``annotations.jsonl``."""

    def __init__(self, folder: str | Path) -> None:
        self.file = JsonLines(Path(folder) / ANNOTATIONS_FILE)
        self.skipped: list[str] = []  # why each unusable line was left out, by the last ``records()``

    @property
    def path(self) -> Path:
        return self.file.path

    def add_answer(
        self, question: str, source: str, document: str, start: int, end: int, **where: Any
    ) -> dict[str, Any]:
        """Record that ``document[start:end]`` (the text of ``source``) answers ``question``."""
        answer = document[start:end]
        if not answer.strip() or not 0 <= start < end <= len(document):
            raise DocqaError("select the words of the answer in the document first")
        # The selection's edges may hold white space; SQuAD answers start and end on a character.
        start += len(answer) - len(answer.lstrip())
        answer = answer.strip()
        first, last = context_around(document, start, start + len(answer))
        record = self._record(question, source, document, document[first:last], False, **where)
        record["answers"] = [{"text": answer, "answer_start": start - first}]
        record["document_start"] = first
        return self._save(record)

    def add_no_answer(self, question: str, source: str, document: str, context: str, **where: Any) -> dict[str, Any]:
        """Record that the documents do not answer ``question``, with ``context`` (a passage of
        ``source`` that was read for it) as the SQuAD context."""
        if not context.strip():
            raise DocqaError("there is no passage to attach the correction to")
        return self._save({**self._record(question, source, document, context, True, **where), "answers": []})

    def _record(
        self, question: str, source: str, document: str, context: str, impossible: bool, **where: Any
    ) -> dict[str, Any]:
        if not question.strip():
            raise DocqaError("there is no question to correct")
        return {
            "id": uuid.uuid4().hex,
            "time": now(),
            "question": question,
            "context": context,
            "is_impossible": impossible,
            "source": source,
            "content_hash": content_hash(document),
            **where,  # conversation and turn, when the correction comes from a chat
        }

    def _save(self, record: dict[str, Any]) -> dict[str, Any]:
        try:
            self.file.append(record)
        except OSError as error:
            raise DocqaError(f"the correction could not be saved in {self.path}: {error.strerror or error}") from error
        return record

    def records(self) -> list[dict[str, Any]]:
        """Every correction that counts, oldest first: the last one for each chat turn.

        A line that is not a correction is left out (see ``record_problem``); ``skipped`` then says
        which and why, and a warning gives their number.
        """
        latest: dict[Any, dict[str, Any]] = {}
        self.skipped = []
        for record in self.file.entries(self.skipped):
            problem = record_problem(record)
            if problem:
                self.skipped.append(
                    f"record {record.get('id')!r}: {problem}" if _is_text(record.get("id")) else problem
                )
                continue
            turn = (record.get("conversation"), record.get("turn"))
            key = turn if None not in turn else record.get("id")
            latest.pop(key, None)  # a later correction of the same turn takes its place, at the end
            latest[key] = record
        if self.skipped:
            log.warning(
                "%d line(s) of %s skipped, not a usable correction: %s",
                len(self.skipped),
                self.path,
                "; ".join(self.skipped[:3]) + ("; …" if len(self.skipped) > 3 else ""),
            )
        return list(latest.values())

    def current(self, text_of: Callable[[str], str | None]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The corrections split into those whose document still has the text they were made on
        and the stale ones; ``text_of`` gives a source's text now, or None when it is gone. Logs a
        warning naming the documents with stale corrections."""
        hashes: dict[str, str | None] = {}
        valid: list[dict[str, Any]] = []
        stale: list[dict[str, Any]] = []
        for record in self.records():
            source = record.get("source", "")
            if source not in hashes:
                text = text_of(source)
                hashes[source] = content_hash(text) if text is not None else None
            (valid if hashes[source] == record.get("content_hash") else stale).append(record)
        if stale:
            changed = sorted({record.get("source", "") for record in stale})
            log.warning(
                "%d correction(s) left out: their document changed or is gone since (%s)",
                len(stale),
                ", ".join(changed),
            )
        return valid, stale


def record_problem(record: dict[str, Any]) -> str | None:
    """Why ``record`` is not a correction that can be exported and trained on, or None when it is.

    A correction has a question and a context (text), a source and a content hash (text), an id and
    a conversation (text, when given), a turn (a number, when given), ``is_impossible`` (true or
    false), and answers: none when impossible, otherwise a list of ``{"text", "answer_start"}``
    whose text is in the context at that offset.
    """
    for key in ("question", "context"):
        if not _is_text(record.get(key)) or not record[key].strip():
            return f"no {key}"
    for key in ("source", "content_hash"):
        if not _is_text(record.get(key)):
            return f"its {key} is not text"
    for key in ("id", "conversation"):
        if record.get(key) is not None and not _is_text(record[key]):
            return f"its {key} is not text"
    turn = record.get("turn")
    if turn is not None and (not isinstance(turn, int) or isinstance(turn, bool)):
        return "its turn is not a number"
    impossible = record.get("is_impossible", False)
    if not isinstance(impossible, bool):
        return "is_impossible is not true or false"
    answers = record.get("answers", [])
    if not isinstance(answers, list):
        return "its answers are not a list"
    if impossible:
        return "it has answers, and says there are none" if answers else None
    if not answers:
        return "no answer"
    for answer in answers:
        problem = _answer_problem(answer, record["context"])
        if problem:
            return problem
    return None


def _answer_problem(answer: Any, context: str) -> str | None:
    if not isinstance(answer, dict):
        return "an answer is not an object"
    text, start = answer.get("text"), answer.get("answer_start")
    if not _is_text(text) or not text.strip():
        return "an answer has no text"
    if not isinstance(start, int) or isinstance(start, bool):
        return "an answer's offset is not a number"
    if not 0 <= start <= len(context) or context[start : start + len(text)] != text:
        return "an answer is not in its context at its offset"
    return None


def _is_text(value: Any) -> TypeGuard[str]:
    return isinstance(value, str)


def to_squad(records: Iterable[dict[str, Any]], title: str = "docqa corrections") -> dict[str, Any]:
    """Corrections as a SQuAD 2.0 file: one article per document, one paragraph per context."""
    articles: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for record in records:
        paragraphs = articles.setdefault(record.get("source", ""), {})
        paragraphs.setdefault(record["context"], []).append(
            {
                "id": record.get("id") or uuid.uuid4().hex,
                "question": record["question"],
                "answers": record.get("answers", []),
                "is_impossible": bool(record.get("is_impossible")),
            }
        )
    return {
        "version": "v2.0",
        "title": title,
        "data": [
            {"title": source, "paragraphs": [{"context": context, "qas": qas} for context, qas in paragraphs.items()]}
            for source, paragraphs in articles.items()
        ],
    }


def write_squad(records: Sequence[dict[str, Any]], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_squad(records), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def trained_readers(index_dir: str | Path) -> list[Path]:
    """The model folders that ``docqa train`` saved under ``<index_dir>/readers``, by name."""
    folder = Path(index_dir) / READERS_FOLDER
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if (path / "config.json").is_file())
