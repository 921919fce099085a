"""Serving the chat app: where it listens, who may log in, and bringing the index up to date meanwhile.

The app listens at once; the index is brought up to date on a thread of its own, and questions
asked meanwhile are answered from the index as it stands (the status line says it is re-indexing).
While the app runs, the corpus folder is watched and its changes are indexed in the same way.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from docqa.documents.formats import MAX_FILE_BYTES
from docqa.errors import DocqaError
from docqa.terminal import format_report
from docqa.watching import update_index, watch_in_background

if TYPE_CHECKING:
    import gradio as gr

    from docqa.assistant import Assistant

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def server_address(host: str | None, port: int | None, environ: Mapping[str, str] | None = None) -> tuple[str, int]:
    """The address from the flags, else the GRADIO_SERVER_* variables, else 127.0.0.1:7860."""
    env = os.environ if environ is None else environ
    host = host or env.get("GRADIO_SERVER_NAME") or DEFAULT_HOST
    raw_port = str(port) if port is not None else env.get("GRADIO_SERVER_PORT") or str(DEFAULT_PORT)
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise DocqaError(f"the port must be a number from 1 to 65535, not {raw_port!r}")
    return host, int(raw_port)


def auth_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """A login from DOCQA_AUTH_USERNAME and DOCQA_AUTH_PASSWORD, or None when neither is set."""
    env = os.environ if environ is None else environ
    username, password = env.get("DOCQA_AUTH_USERNAME", ""), env.get("DOCQA_AUTH_PASSWORD", "")
    if bool(username) != bool(password):
        raise DocqaError("set both DOCQA_AUTH_USERNAME and DOCQA_AUTH_PASSWORD (to require a login), or neither")
    return (username, password) if username else None


def prepare(assistant: Assistant) -> None:
    """Load the models and bring the index up to date with the corpus folder, with a progress bar."""
    # A failure is a warning: the stored index may still serve, e.g. by BM25 when the embedder failed.
    update_index(assistant, lambda report: print(format_report(report, assistant), file=sys.stderr))
    assistant.warm_up()


def prepare_in_background(assistant: Assistant) -> threading.Thread:
    """Run :func:`prepare` on a thread of its own, started before this returns."""

    def run() -> None:
        try:
            prepare(assistant)
        except Exception as error:  # the app keeps serving the index it has
            print(f"docqa: warning: the index was not updated: {type(error).__name__}: {error}", file=sys.stderr)

    thread = threading.Thread(target=run, name="docqa-indexing", daemon=True)
    thread.start()
    return thread


def start(
    assistant: Assistant, *, host: str, port: int, auth: tuple[str, str] | None
) -> tuple[gr.Blocks, threading.Thread]:
    """Serve the chat app on ``host:port`` and bring the index up to date meanwhile; returns once listening.

    Returns the app (``close()`` stops it) and the thread that updates the index. The update starts
    first, so that it holds the index before the first question can come; questions never wait for it.
    The corpus folder is watched from then until the app is closed (see :mod:`docqa.watching`).
    """
    from docqa.ui.app import CSS, build_app, theme  # gradio loads here, when the app is served

    if host not in LOCAL_HOSTS and auth is None:
        print(
            f"docqa: warning: serving on {host} without a login; set DOCQA_AUTH_USERNAME and "
            "DOCQA_AUTH_PASSWORD to require one",
            file=sys.stderr,
        )
    indexing = prepare_in_background(assistant)
    app = build_app(assistant).queue()
    app.launch(
        server_name=host,
        server_port=port,
        auth=auth,
        max_file_size=MAX_FILE_BYTES,
        theme=theme(),
        css=CSS,
        prevent_thread_lock=True,
    )
    watch_in_background(assistant, stop_event=_Closed(app))
    return app, indexing


class _Closed:
    """Set once the app is closed, which ends the watching of the corpus folder."""

    def __init__(self, app: gr.Blocks) -> None:
        self.app = app

    def is_set(self) -> bool:
        return not self.app.is_running


def serve(assistant: Assistant, *, host: str, port: int, auth: tuple[str, str] | None) -> None:
    """Serve the chat app on ``host:port`` until interrupted, bringing the index up to date meanwhile.

    ``host``, ``port`` and ``auth`` are resolved beforehand (see :func:`server_address` and
    :func:`auth_from_env`), so that a wrong setting is reported before anything is loaded.
    """
    app, _ = start(assistant, host=host, port=port, auth=auth)
    app.block_thread()
