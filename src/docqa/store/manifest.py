"""The manifest: what an index was built with and holds, checked on every read.

The database keeps the manifest in its ``meta`` table; ``manifest.json`` is a copy for people and
tools, with each file's content hash, rewritten whenever it is missing or stale.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from docqa.errors import IndexLoadError
from docqa.store.base import FORMAT_VERSION, IndexSettings
from docqa.version import __version__

MANIFEST_FILE = "manifest.json"
_REQUIRED_KEYS = ("embedding_model", "embedding_dimension", "generation", "vectors", "vectors_count", "passages")


class NewerIndexFormat(IndexLoadError):
    """The index was written by a newer version, in a format this one cannot read."""

    def __init__(self, folder: Path, version: int) -> None:
        self.version = version
        super().__init__(
            f"the index in {folder} was written by a newer version of docqa (index format {version}; this "
            f"version reads format {FORMAT_VERSION}): upgrade docqa, or rebuild the index with "
            "'docqa index --rebuild', which sets the newer one aside"
        )


def build_manifest(
    settings: IndexSettings,
    generation: int,
    vectors: str,
    counts: dict[str, int],
    dimension: int,
    vectors_base: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The manifest of a generation: ``counts`` holds its documents and passages, ``vectors`` names
    the FAISS file of its base generation, which ``vectors_base`` describes (its generation, vector
    count and largest chunk id)."""
    setting_values = asdict(settings)
    manifest = {
        "format_version": settings.format_version,
        "docqa_version": __version__,
        "embedding_model": settings.embedding_model,
        "embedding_dimension": dimension,
        "chunking": {k: setting_values[k] for k in ("chunk_tokens", "chunk_overlap")},
        "generation": generation,
        "vectors": vectors,
        "vectors_count": counts["passages"] if vectors else 0,  # every passage has a vector, or none has
        "passages": counts["passages"],
        "documents": counts["documents"],
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return {**manifest, "vectors_base": vectors_base} if vectors_base else manifest


def checked_manifest(folder: Path, value: str) -> dict[str, Any]:
    """The parsed manifest; raises ``IndexLoadError`` when it is damaged or of a newer format."""
    try:
        manifest = json.loads(value)
    except ValueError as error:
        raise damaged_manifest(folder, str(error)) from error
    if not isinstance(manifest, dict) or not isinstance(manifest.get("format_version"), int):
        raise damaged_manifest(folder, "it has no format version")
    if manifest["format_version"] > FORMAT_VERSION:
        raise NewerIndexFormat(folder, manifest["format_version"])
    chunking = manifest.get("chunking")
    missing = [key for key in _REQUIRED_KEYS if key not in manifest]
    if not isinstance(chunking, dict) or not {"chunk_tokens", "chunk_overlap"} <= chunking.keys():
        missing.append("chunking")
    if missing:
        raise damaged_manifest(folder, f"it lacks {', '.join(missing)}")
    return manifest


def damaged_manifest(folder: Path, reason: str) -> IndexLoadError:
    return IndexLoadError(
        f"the manifest of the index in {folder} is damaged ({reason}); rebuild it with 'docqa index --rebuild'"
    )


def settings_of(manifest: dict[str, Any]) -> IndexSettings:
    return IndexSettings(
        embedding_model=manifest["embedding_model"],
        chunk_tokens=manifest["chunking"]["chunk_tokens"],
        chunk_overlap=manifest["chunking"]["chunk_overlap"],
        format_version=manifest["format_version"],
    )


def mirror(folder: Path, manifest: dict[str, Any], files: dict[str, str]) -> None:
    """Write the JSON copy of ``manifest`` with ``files`` (source -> content hash), atomically."""
    temporary = folder / f".{MANIFEST_FILE}.tmp"
    temporary.write_text(json.dumps({**manifest, "files": files}, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, folder / MANIFEST_FILE)


def mirrors(path: Path, manifest: dict[str, Any]) -> bool:
    """Whether the JSON file at ``path`` is a complete copy of ``manifest``."""
    try:
        mirrored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(mirrored, dict) or mirrored.pop("files", None) is None:
        return False
    return mirrored == manifest
