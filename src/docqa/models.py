"""Resolving a model name (hub id, local folder or ``none``) before a stage loads it.

Loading from the hub retries for a minute when the hub cannot be reached, so a name that is
not a local folder is first looked up in the local Hugging Face cache, and the hub is only
contacted when a quick connection check succeeds.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from docqa.config import NO_MODEL
from docqa.errors import ModelLoadError

T = TypeVar("T")


MODEL_KINDS = ("embedding", "reader")
HUB_CHECK_SECONDS = 60.0
# (host, port) -> (when checked, answered). Kept for the process, not by an object: it is what this
# machine's network said at a time, the same for every model loaded here, and the loads that share it
# (the embedder, the reader, the command line's check of named models) share no object. An entry is
# never edited, only replaced by a newer check once HUB_CHECK_SECONDS have passed; there is one per
# hub address (HF_ENDPOINT), so it cannot grow.
_hub_checks: dict[tuple[str, int], tuple[float, bool]] = {}


def is_disabled(name: str | None) -> bool:
    return name is None or name.strip().lower() == NO_MODEL


def named_models(
    embedding_model: str | None, reader_model: str | None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The models the user chose by name, as an argument or in ``DOCQA_<KIND>_MODEL``: kind ("embedding",
    "reader") -> name, 'none' left out. Those must load; only a default model falls back to the lexical mode."""
    env = os.environ if environ is None else environ
    given = dict(zip(MODEL_KINDS, (embedding_model, reader_model), strict=True))
    names = {kind: env.get(f"DOCQA_{kind.upper()}_MODEL", "") if name is None else name for kind, name in given.items()}
    return {kind: name for kind, name in names.items() if name and not is_disabled(name)}


def find_named_models(embedding_model: str | None, reader_model: str | None) -> dict[str, str]:
    """``named_models``, each found where it loads from: one that is missing raises ``ModelLoadError``
    in milliseconds, before anything else is loaded (or a default model says it falls back)."""
    named = named_models(embedding_model, reader_model)
    for kind, name in named.items():
        find_model(kind, name)
    return named


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the hub answers a connection; the answer is kept for ``HUB_CHECK_SECONDS``, so that where
    connections hang the two models and the same model asked for again wait for one timeout only."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    address = (endpoint.hostname or "", endpoint.port or (443 if endpoint.scheme == "https" else 80))
    checked = _hub_checks.get(address)
    if checked is not None and time.monotonic() - checked[0] < HUB_CHECK_SECONDS:
        return checked[1]
    try:
        with socket.create_connection(address, timeout=timeout):
            reachable = True
    except OSError:
        reachable = False
    _hub_checks[address] = (time.monotonic(), reachable)
    return reachable


def quiet_progress_bars_off_terminal() -> None:
    """Turn off the Hugging Face libraries' own progress bars ("Loading weights") unless stderr is a
    terminal, where they can redraw in place; in a log or a pipe each redraw is another line.

    The libraries read the setting when first imported; one imported already is told directly. A
    value of HF_HUB_DISABLE_PROGRESS_BARS set by the user is left as it is.
    """
    if sys.stderr.isatty() or os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1") != "1":
        return
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()


def load_model(kind: str, name: str, load: Callable[..., T]) -> T:
    """Call ``load(name, local_files_only=...)`` for a local folder, a cached copy, or the hub.

    Whether the model is available is settled before ``load`` runs, so a missing model fails in
    milliseconds, without importing the (slow to import) library that would load it. Raises
    ``ModelLoadError`` naming the model, the reason and the fix.
    """
    source, local_only = find_model(kind, name)
    quiet_progress_bars_off_terminal()  # also where docqa is used from a program, not the command line
    try:
        return load(source, local_files_only=local_only)
    except Exception as error:  # any failure to build the model is reported the same way
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelLoadError(kind, name, reason) from error


def find_model(kind: str, name: str) -> tuple[str, bool]:
    """Where ``name`` loads from and whether only local files may be read: ``(folder, True)``,
    ``(hub id, True)`` for a cached copy, or ``(hub id, False)`` when the hub answers.

    Raises ``ModelLoadError`` when it is none of these. Only the Hugging Face hub's small client
    is imported, so a missing model is found missing in milliseconds.
    """
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
