"""Changing the corpus folder: checking and saving uploaded files, and finding a document's file to delete.

The file types, the size limit and the check of a file's first bytes come from the format registry
(:mod:`docqa.documents.formats`), so that an upload is refused for the same reasons as the indexer
would skip it. Names and reasons here are plain text; showing them is the interface's job.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from docqa.documents.formats import MAX_FILE_BYTES, SUFFIXES, sniff_problem
from docqa.errors import DocqaError

MAX_FILES_PER_UPLOAD = 20
MAX_NAME_CHARS = 100
SNIFF_BYTES = 8192  # enough of a file's start to tell its type


@dataclass
class UploadOutcome:
    """What became of a batch of uploaded files."""

    saved: list[str] = field(default_factory=list)  # file names in the corpus folder
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (uploaded name, name saved under)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (uploaded name, reason)


def safe_upload_name(client_name: str) -> str:
    """A name to store an upload under: the base name only, in a limited alphabet, no leading dots."""
    base = unicodedata.normalize("NFKC", re.split(r"[\\/]", client_name)[-1])
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = re.sub(r"\s+", " ", stem)
    stem = re.sub(r"[^\w\- ]", "_", stem)
    stem = re.sub(r"_{2,}", "_", stem).strip(" ._-")[:MAX_NAME_CHARS] or "document"
    suffix = re.sub(r"[^0-9a-z]", "", suffix.lower())
    return f"{stem}.{suffix}" if suffix else stem


def check_upload(name: str, size: int, head: bytes) -> str | None:
    """Why a file cannot be added (or None): its type by suffix and first bytes, and its size."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        return f"only {', '.join(SUFFIXES)} files can be added"
    if size == 0:
        return "the file is empty"
    if size > MAX_FILE_BYTES:
        return f"the file is {size / 2**20:.1f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB"
    return sniff_problem(suffix, head)


def check_upload_count(count: int) -> str | None:
    if count > MAX_FILES_PER_UPLOAD:
        return f"at most {MAX_FILES_PER_UPLOAD} files can be added at once; {count} were given"
    return None


def save_upload(path: Path, folder: Path) -> Path:
    """Copy an uploaded file into ``folder`` under a safe name, adding ``-2``, ``-3``... rather than
    replacing a file of the same name."""
    name = safe_upload_name(path.name)
    stem, suffix = Path(name).stem, Path(name).suffix
    folder.mkdir(parents=True, exist_ok=True)
    destination, number = folder / name, 1
    while True:
        try:  # exclusive creation: a file that appears meanwhile is not replaced either
            with destination.open("xb") as target, path.open("rb") as source:
                shutil.copyfileobj(source, target)
            return destination
        except FileExistsError:
            number += 1
            destination = folder / f"{stem}-{number}{suffix}"


def add_uploads(paths: Sequence[Path], folder: Path) -> UploadOutcome:
    """Check each uploaded file and copy the acceptable ones into the corpus ``folder``.

    Too many files at once are all refused, so that a batch is never half added.
    """
    outcome = UploadOutcome()
    too_many = check_upload_count(len(paths))
    if too_many:
        outcome.rejected.append(("this upload", too_many))
        return outcome
    for path in paths:
        shown = safe_upload_name(path.name)
        with path.open("rb") as stream:
            head = stream.read(SNIFF_BYTES)
        reason = check_upload(shown, path.stat().st_size, head)
        if reason:
            outcome.rejected.append((shown, reason))
            continue
        saved = save_upload(path, folder).name
        outcome.saved.append(saved)
        if saved != shown:
            outcome.renamed.append((shown, saved))
    return outcome


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
