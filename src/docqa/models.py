"""Resolving a model name (hub id, local folder or ``none``) before a stage loads it.

Loading from the hub retries for a minute when the hub cannot be reached, so a name that is
not a local folder is first looked up in the local Hugging Face cache, and the hub is only
contacted when a quick connection check succeeds.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from docqa.config import NO_MODEL
from docqa.errors import ModelLoadError

T = TypeVar("T")


def is_disabled(name: str | None) -> bool:
    return name is None or name.strip().lower() == NO_MODEL


def hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def load_model(kind: str, name: str, load: Callable[..., T]) -> T:
    """Call ``load(name, local_files_only=...)`` for a local folder, a cached copy, or the hub.

    Whether the model is available is settled before ``load`` runs, so a missing model fails in
    milliseconds, without importing the (slow to import) library that would load it. Raises
    ``ModelLoadError`` naming the model, the reason and the fix.
    """
    source, local_only = _locate(kind, name)
    try:
        return load(source, local_files_only=local_only)
    except Exception as error:  # any failure to build the model is reported the same way
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelLoadError(kind, name, reason) from error


def _locate(kind: str, name: str) -> tuple[str, bool]:
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path), True
    if path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelLoadError(kind, name, "no such model folder")
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return name, True
    if not hub_reachable():
        raise ModelLoadError(kind, name, "it is not in the local cache and the Hugging Face hub cannot be reached")
    return name, False
