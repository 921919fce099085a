"""Read the corpus folder: find and hash its files (``scan_corpus``), then parse them (``parse_file``).

Scanning only reads and hashes bytes, so an index can tell which files are new or changed before
any of them is parsed. ``Document.text`` is the exact text that chunk offsets and citations index
into. Files with the same content under different names are each indexed under their own name; a
note is logged.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from docqa.documents.common import Parsed, UnreadableFile
from docqa.documents.formats import MAX_FILE_BYTES, SUFFIXES, format_for
from docqa.documents.limits import size_label
from docqa.documents.reasons import plain_reason
from docqa.errors import DocqaError
from docqa.schema import Document

logger = logging.getLogger(__name__)

_HASH_BLOCK = 2**20
RACY_SECONDS = 2.0
_MAX_KNOWN_HASHES = 200_000
_FileKey = tuple[str, int, int, int, int, int]  # path, device, inode, size, modified and changed times (ns)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class KnownHashes:
    """Hashes kept for files whose size and times are unchanged since, so that watching a large folder
    does not read every file at each change; give one to each ``scan_corpus`` of a folder. As in git's
    index, a file hashed within ``RACY_SECONDS`` of its last change is hashed again next time: a second
    write in the same clock tick leaves its times. At most ``limit`` are kept (then they start anew)."""

    def __init__(self, limit: int = _MAX_KNOWN_HASHES) -> None:
        self.limit = limit
        self._hashes: dict[_FileKey, tuple[str, int]] = {}
        self._lock = threading.Lock()  # scans of one folder may run in several threads

    def __len__(self) -> int:
        return len(self._hashes)

    def get(self, key: _FileKey) -> tuple[str, int] | None:
        with self._lock:
            return self._hashes.get(key)

    def keep(self, key: _FileKey, found: tuple[str, int]) -> None:
        with self._lock:
            if len(self._hashes) >= self.limit:
                self._hashes.clear()
            self._hashes[key] = found


@dataclass(frozen=True)
class SourceFile:
    """A supported file of the corpus, found and hashed but not parsed.

    ``source`` is its path relative to the corpus folder, in POSIX form; ``content_hash`` is the
    SHA-256 of its bytes (hex) and ``size`` their number, both as read when the folder was scanned.
    """

    source: str
    path: Path
    content_hash: str
    size: int


def scan_corpus(
    corpus_dir: Path, *, max_file_bytes: int = MAX_FILE_BYTES, known: KnownHashes | None = None
) -> tuple[list[SourceFile], dict[str, str]]:
    """Every supported file under ``corpus_dir``, hashed and sorted by source, and the files skipped with why.

    Hidden files and folders are ignored, and so are links that lead out of the folder. Files over
    ``max_file_bytes`` and files that cannot be read are logged and skipped. Nothing is parsed. A file
    unchanged since ``known`` kept its hash is not read again.
    """
    files, skipped = _scan(Path(corpus_dir), max_file_bytes, known)
    _note_duplicates([(file.source, file.content_hash) for file in files])
    return files, skipped


def parse_file(source_file: SourceFile, data: bytes | None = None, *, max_file_bytes: int = MAX_FILE_BYTES) -> Document:
    """The document in ``source_file``, from ``data`` when its bytes are at hand, else read anew.

    Raises ``UnreadableFile`` with the reason for a file it cannot use, also when a parser fails in
    a way nobody foresaw. The document's hash is that of the bytes parsed, which differ from the
    scanned ones only if the file changed in between.
    """
    path = source_file.path
    form = format_for(path.suffix)
    if form is None:
        raise UnreadableFile(f"unsupported file type {path.suffix or '(none)'}")
    if data is None:
        data = _read_bytes(path, max_file_bytes)
    try:
        text, title, date, locations = Parsed(*form.parse(data))
    except UnreadableFile:
        raise
    except Exception as error:  # a parser failing in a way nobody foresaw must not stop the other files
        logger.debug("failed to read %s", path, exc_info=True)
        transient = isinstance(error, OSError | MemoryError)
        detail, reason = f"{type(error).__name__}: {error}", plain_reason(error)
        reason = f"cannot be read ({detail})" if reason == detail else f"cannot be read: {reason}"
        raise UnreadableFile(reason, transient=transient) from error
    if len(text) > max_file_bytes:
        raise UnreadableFile(f"its text is longer than {max_file_bytes:,} characters")
    return Document(
        source=source_file.source,
        text=text,
        title=title or path.stem,
        content_hash=hashlib.sha256(data).hexdigest(),
        date=date,
        locations=locations,
    )


def load_documents(corpus_dir: Path, *, max_file_bytes: int = MAX_FILE_BYTES) -> tuple[list[Document], dict[str, str]]:
    """Every supported file under ``corpus_dir`` parsed, sorted by source, and the files skipped with why.

    The same as ``scan_corpus`` and then ``parse_file`` for each file; a file that cannot be parsed
    is logged and skipped, and the others are still loaded.
    """
    files, skipped = _scan(Path(corpus_dir), max_file_bytes, None)
    documents: list[Document] = []
    for file in files:
        try:
            documents.append(parse_file(file, max_file_bytes=max_file_bytes))
        except UnreadableFile as error:
            _skip(skipped, file.source, error.reason)
    _note_duplicates([(document.source, document.content_hash) for document in documents])
    return documents, dict(sorted(skipped.items()))


def load_document(path: Path, corpus_dir: Path, *, max_file_bytes: int = MAX_FILE_BYTES) -> Document:
    """The document in the file at ``path``; raises ``UnreadableFile`` for a file it cannot use."""
    corpus_dir = Path(corpus_dir)
    source = _checked_source(path, corpus_dir, corpus_dir.resolve())
    data = _read_bytes(path, max_file_bytes)
    source_file = SourceFile(source, path, hashlib.sha256(data).hexdigest(), len(data))
    return parse_file(source_file, data, max_file_bytes=max_file_bytes)


def _scan(corpus_dir: Path, max_file_bytes: int, known: KnownHashes | None) -> tuple[list[SourceFile], dict[str, str]]:
    if not corpus_dir.exists():
        raise DocqaError(f"the corpus folder {corpus_dir} does not exist")
    if not corpus_dir.is_dir():
        raise DocqaError(f"the corpus path {corpus_dir} is not a folder")
    root = corpus_dir.resolve()
    files: list[SourceFile] = []
    skipped: dict[str, str] = {}
    for path, linked in _corpus_files(corpus_dir, skipped):
        try:
            source = _checked_source(path, corpus_dir, root if linked else None)
            content_hash, size = _hashed(path, max_file_bytes, known)
        except UnreadableFile as error:
            _skip(skipped, _source(path, corpus_dir), error.reason)
        except Exception as error:  # one file failing in a way nobody foresaw must not stop the others
            logger.debug("failed to read %s", path, exc_info=True)
            _skip(skipped, _source(path, corpus_dir), f"cannot be read ({type(error).__name__}: {error})")
        else:
            files.append(SourceFile(source, path, content_hash, size))
    files.sort(key=lambda file: file.source)
    return files, dict(sorted(skipped.items()))


def _checked_source(path: Path, corpus_dir: Path, root: Path | None) -> str:
    """The source name of ``path``; raises ``UnreadableFile`` for a file that must not be read. A
    link is followed to check that it stays in the folder ``root``; None for a file that is no link."""
    if format_for(path.suffix) is None:
        raise UnreadableFile(f"unsupported file type {path.suffix or '(none)'}")
    source = _source(path, corpus_dir)
    if _readable(source) != source:
        raise UnreadableFile("the file name is not valid UTF-8; rename the file")
    problem = _location_problem(path, root) if root is not None else None
    if problem:
        raise UnreadableFile(problem)
    return source


def _skip(skipped: dict[str, str], source: str, reason: str) -> None:
    source = _readable(source)
    logger.warning("skipped %s: %s", source, reason)
    skipped[source] = reason


def _readable(source: str) -> str:
    """``source`` with the bytes of a file name that are not UTF-8 shown as U+FFFD."""
    # Python keeps such bytes as lone surrogates, which cannot be stored, printed or sent as JSON text.
    return _LONE_SURROGATE.sub("\ufffd", source)


def _note_duplicates(files: list[tuple[str, str]]) -> None:
    """Log each set of ``(source, content_hash)`` pairs that share a hash."""
    by_hash: dict[str, list[str]] = {}
    for source, content_hash in files:
        by_hash.setdefault(content_hash, []).append(source)
    for sources in by_hash.values():
        if len(sources) > 1:
            logger.info("same content in %s; each is indexed under its own name", ", ".join(sources))


def _source(path: Path, corpus_dir: Path) -> str:
    return path.absolute().relative_to(corpus_dir.absolute()).as_posix()


def _corpus_files(corpus_dir: Path, skipped: dict[str, str]) -> Iterator[tuple[Path, bool]]:
    """Supported files under ``corpus_dir``, each with whether it is a link; links to files inside it
    are read, other links are not. No link to a folder is followed, so a file that is no link lies
    inside the folder without being resolved (resolving each was most of a scan's time)."""
    root = corpus_dir.resolve()
    pending = [corpus_dir]
    while pending:
        folder = pending.pop()
        for entry in _folder_entries(folder, corpus_dir, skipped):
            if entry.name.startswith("."):
                continue
            wanted = entry.suffix.lower() in SUFFIXES
            if entry.is_symlink():
                problem = _location_problem(entry, root)
                if problem and (wanted or entry.is_dir()):
                    _skip(skipped, _source(entry, corpus_dir), problem)
                # A link to a folder inside the corpus would only repeat files read under their own path.
                if problem or entry.is_dir():
                    continue
            if entry.is_dir():
                pending.append(entry)
            elif wanted:
                yield entry, entry.is_symlink()


def _folder_entries(folder: Path, corpus_dir: Path, skipped: dict[str, str]) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as error:
        _skip(skipped, _source(folder, corpus_dir), f"cannot list the folder ({error.strerror})")
        return []


def _location_problem(path: Path, root: Path) -> str | None:
    """Why ``path``, once links are followed, must not be read from the folder ``root``, or None."""
    try:
        target = path.resolve(strict=True)
    except FileNotFoundError:
        return "broken link" if path.is_symlink() else "file not found"
    except (OSError, RuntimeError):
        return "link that loops or cannot be followed"
    if not target.is_relative_to(root):
        return "link to a place outside the corpus folder"
    return None


def _checked_status(path: Path, max_file_bytes: int) -> os.stat_result:
    """The status (size, times) of the regular file at ``path``; raises ``UnreadableFile`` past the limit."""
    if not path.is_file():
        raise UnreadableFile("not a regular file")
    status = path.stat()
    if status.st_size > max_file_bytes:
        raise UnreadableFile(f"larger than {size_label(max_file_bytes)}")
    return status


def _read_bytes(path: Path, max_file_bytes: int) -> bytes:
    """The bytes of the file at ``path``; a failure is ``transient``: the file may be readable again."""
    try:
        _checked_status(path, max_file_bytes)
        return path.read_bytes()
    except UnreadableFile as error:  # it is no longer the file that was scanned
        raise UnreadableFile(error.reason, transient=True) from error
    except OSError as error:
        raise UnreadableFile(f"cannot read the file ({error.strerror or error})", transient=True) from error


def _hashed(path: Path, max_file_bytes: int, known: KnownHashes | None) -> tuple[str, int]:
    """The SHA-256 (hex) and size of the file's bytes, read a block at a time so none is kept, or as
    ``known`` kept it when the file's size and times are unchanged since."""
    try:
        status = _checked_status(path, max_file_bytes)
        key = (str(path), status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
        kept = None if known is None else known.get(key)
        if kept is not None:
            return kept
        digest, size = hashlib.sha256(), 0
        with path.open("rb") as file:
            while block := file.read(_HASH_BLOCK):
                digest.update(block)
                size += len(block)
    except OSError as error:
        raise UnreadableFile(f"cannot read the file ({error.strerror or error})") from error
    # The file may have grown since its size was checked; the limit holds for what was read.
    if size > max_file_bytes:
        raise UnreadableFile(f"larger than {size_label(max_file_bytes)}")
    found = digest.hexdigest(), size
    if known is not None and time.time() - max(status.st_mtime, status.st_ctime) > RACY_SECONDS:
        known.keep(key, found)
    return found
