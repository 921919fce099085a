"""Changing the corpus folder: checking and saving uploaded files, and finding a document's file to delete.

The file types, the size limit and the check of a file's bytes come from the format registry
(:mod:`docqa.documents.formats`), so that an upload is refused for the same reasons as the indexer
would skip it. Each file of a batch has its own fate (saved, saved under another name, saved over
the file of its name when asked to replace it, or rejected with the reason), and a file that cannot
be written leaves nothing behind. Names and reasons here are plain text; showing them is the
interface's job.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from docqa.documents.formats import MAX_FILE_BYTES, SUFFIXES, sniff_problem
from docqa.errors import DocqaError

MAX_FILES_PER_UPLOAD = 20
MAX_NAME_CHARS = 100
# File systems allow 255 bytes a name. NFKC can make a name several times longer in UTF-8 than it
# was sent ("\u337f" becomes "\u682a\u5f0f\u4f1a\u793e"), so the stem is cut in bytes too,
# leaving room for a "-2" and the suffix.
MAX_NAME_BYTES = 200
MAX_SUFFIX_CHARS = 10


@dataclass
class UploadOutcome:
    """What became of a batch of uploaded files."""

    saved: list[str] = field(default_factory=list)  # file names in the corpus folder
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (uploaded name, name saved under)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (uploaded name, reason)
    replaced: list[str] = field(default_factory=list)  # saved over the file of that name (also in saved)


def safe_upload_name(client_name: str) -> str:
    """A name to store an upload under: the base name only, in a limited alphabet, no leading dots."""
    base = unicodedata.normalize("NFKC", re.split(r"[\\/]", client_name)[-1])
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = re.sub(r"\s+", " ", stem)
    stem = re.sub(r"[^\w\- ]", "_", stem)
    stem = re.sub(r"_{2,}", "_", stem).strip(" ._-")[:MAX_NAME_CHARS]
    stem = stem.encode()[:MAX_NAME_BYTES].decode(errors="ignore").strip(" ._-") or "document"
    suffix = re.sub(r"[^0-9a-z]", "", suffix.lower())[:MAX_SUFFIX_CHARS]
    return f"{stem}.{suffix}" if suffix else stem


def check_upload(name: str, size: int, data: bytes) -> str | None:
    """Why a file cannot be added (or None): its type by suffix and by its bytes ``data`` (all of
    them, so that text with binary past its start is refused too), and its size."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        return f"only {', '.join(SUFFIXES)} files can be added"
    if size == 0:
        return "the file is empty"
    if size > MAX_FILE_BYTES:
        return f"the file is {size / 2**20:.1f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB"
    return sniff_problem(suffix, data)


def check_upload_count(count: int) -> str | None:
    if count > MAX_FILES_PER_UPLOAD:
        return f"at most {MAX_FILES_PER_UPLOAD} files can be added at once; {count} were given"
    return None


def existing_names(paths: Sequence[Path], folder: Path) -> list[str]:
    """The safe names of the uploads at ``paths`` that a file in ``folder`` has already, each once."""
    names = dict.fromkeys(safe_upload_name(path.name) for path in paths)
    return [name for name in names if (folder / name).is_file()]


def save_upload(path: Path, folder: Path, data: bytes | None = None, *, replace: bool = False) -> Path:
    """Save an uploaded file (its bytes ``data`` when at hand) into ``folder`` under a safe name.

    A file of the same name is replaced when ``replace`` is set (readers of the folder see the old
    bytes or the new, never a mix); otherwise the upload is saved as ``-2``, ``-3``... beside it.
    Raises ``OSError`` when it cannot be written; then no file of it is left in ``folder``.
    """
    name = safe_upload_name(path.name)
    data = path.read_bytes() if data is None else data
    folder.mkdir(parents=True, exist_ok=True)
    destination, number = folder / name, 1
    if replace and destination.is_file():
        _replace(destination, data)
        return destination
    while True:
        try:  # exclusive creation: a file that appears meanwhile is not replaced either
            _create(destination, data)
            return destination
        except FileExistsError:
            number += 1
            destination = folder / _numbered(name, number)


def name_beside(folder: Path, name: str) -> str:
    """The name that an upload called ``name`` would be saved under beside a file of that name, as ``folder`` is now."""
    number = 2
    while (folder / _numbered(name, number)).exists():
        number += 1
    return _numbered(name, number)


def _numbered(name: str, number: int) -> str:
    return f"{Path(name).stem}-{number}{Path(name).suffix}"


def _create(destination: Path, data: bytes) -> None:
    """A new file ``destination`` holding ``data``; raises ``FileExistsError`` if there is one already."""
    file = destination.open("xb")
    try:
        with file:
            _write(file, data)
    except BaseException:
        destination.unlink(missing_ok=True)  # never a partial or empty file in the corpus
        raise


def _replace(destination: Path, data: bytes) -> None:
    """Put ``data`` in place of the file ``destination``: written beside it under a hidden name (which
    neither the indexer nor the watcher reads), then renamed over it in one step."""
    mode = stat.S_IMODE(destination.stat().st_mode)
    descriptor, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".upload")
    os.close(descriptor)
    try:
        with open(temporary, "wb") as file:
            _write(file, data)
        os.chmod(temporary, mode)  # the replaced file's permissions, not mkstemp's private ones
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _write(file: BinaryIO, data: bytes) -> None:
    file.write(data)


def add_uploads(paths: Sequence[Path], folder: Path, *, replace: bool = False) -> UploadOutcome:
    """Check each uploaded file and save the acceptable ones into the corpus ``folder``.

    Too many files at once are all refused, so that a batch is never half added; otherwise each
    file is saved, or rejected with the reason (also when it cannot be read or written), and the
    others go on. With ``replace``, an upload takes the place of the folder's file of its name,
    though never of a file saved earlier in the same batch: two uploads of one name are both kept.
    """
    outcome = UploadOutcome()
    too_many = check_upload_count(len(paths))
    if too_many:
        outcome.rejected.append(("this upload", too_many))
        return outcome
    for path in paths:
        shown = safe_upload_name(path.name)
        try:
            data, reason = _checked_bytes(path, shown)
        except OSError as error:
            outcome.rejected.append((shown, f"the upload cannot be read ({error.strerror or error})"))
            continue
        if reason:
            outcome.rejected.append((shown, reason))
            continue
        replacing = replace and shown not in outcome.saved and (folder / shown).is_file()
        try:
            saved = save_upload(path, folder, data, replace=replacing).name
        except OSError as error:
            outcome.rejected.append((shown, f"it could not be saved ({error.strerror or error})"))
            continue
        outcome.saved.append(saved)
        if replacing:
            outcome.replaced.append(saved)
        elif saved != shown:
            outcome.renamed.append((shown, saved))
    return outcome


def _checked_bytes(path: Path, name: str) -> tuple[bytes, str | None]:
    """The bytes of the upload at ``path`` and why it cannot be added under ``name``; not read past the limit."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        return b"", check_upload(name, size, b"")
    with path.open("rb") as file:
        data = file.read(MAX_FILE_BYTES + 1)  # a file still growing is caught by the size check
    return data, check_upload(name, len(data), data)


def remove_uploaded_copies(paths: Sequence[Path], upload_folder: Path) -> None:
    """Delete the temporary copies of uploads kept under ``upload_folder`` (and their folders, once
    empty), so that they cannot be fetched once stored; paths elsewhere are left alone."""
    root = upload_folder.resolve()
    for path in paths:
        resolved = path.resolve()
        if not resolved.is_relative_to(root) or resolved == root:
            continue
        resolved.unlink(missing_ok=True)
        parent = resolved.parent
        while parent != root and parent.is_relative_to(root):
            try:
                parent.rmdir()
            except OSError:  # not empty, or already gone
                break
            parent = parent.parent


def corpus_file(folder: Path, source: str, known_sources: Sequence[str]) -> Path:
    """The file of an indexed document; refuses names not indexed or that lead outside ``folder``."""
    if source not in known_sources:
        raise DocqaError(f"{source!r} is not an indexed document")
    root = folder.resolve()
    path = (root / source).resolve()
    if not path.is_relative_to(root) or path == root:
        raise DocqaError(f"{source!r} is not inside the corpus folder")
    return path


def delete_corpus_file(folder: Path, source: str, known_sources: Sequence[str]) -> Path:
    """Delete the file of an indexed document (see :func:`corpus_file`); returns where it was."""
    path = corpus_file(folder, source, known_sources)
    path.unlink(missing_ok=True)
    return path
