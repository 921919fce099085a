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
    """Call ``load(name, local_files_only=...)``: a local folder or cached copy first, then the hub.

    Raises ``ModelLoadError`` naming the model, the reason and the fix.
    """
    path = Path(name).expanduser()
    if path.exists():
        try:
            return load(str(path), local_files_only=True)
        except Exception as error:  # any failure to read the folder is reported the same way
            raise ModelLoadError(kind, name, f"the folder could not be loaded: {error}") from error
    if name.startswith((".", "/", "~")):
        raise ModelLoadError(kind, name, "no such folder")
    try:
        return load(name, local_files_only=True)
    except Exception:
        pass  # not in the cache: try the hub below
    if not hub_reachable():
        raise ModelLoadError(kind, name, "it is not in the local cache and the Hugging Face hub cannot be reached")
    try:
        return load(name, local_files_only=False)
    except Exception as error:
        raise ModelLoadError(kind, name, str(error).splitlines()[0]) from error
