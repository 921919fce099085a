"""Serving the chat app: where it listens, who may log in, and bringing the index up to date meanwhile.

The app listens at once; the index is brought up to date on a thread of its own, and questions
asked meanwhile are answered from the index as it stands (the status line says it is re-indexing).
While the app runs, the corpus folder is watched and its changes are indexed in the same way.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from docqa.errors import DocqaError
from docqa.terminal import format_report
from docqa.ui.logins import throttled_logins
from docqa.watching import update_index, watch_in_background

if TYPE_CHECKING:
    import gradio as gr

    from docqa.assistant import Assistant

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
# Gradio refuses a whole batch of uploads, in the browser, when one file is over its limit: so its limit
# is far over a document's (MAX_FILE_BYTES), and a file between the two is sent and refused on its own,
# with the reason, while the other files of its batch are added.
MAX_UPLOAD_BYTES = 2**30


def server_address(host: str | None, port: int | None, environ: Mapping[str, str] | None = None) -> tuple[str, int]:
    """The address from the flags, else the GRADIO_SERVER_* variables, else 127.0.0.1:7860."""
    env = os.environ if environ is None else environ
    host = host or env.get("GRADIO_SERVER_NAME") or DEFAULT_HOST
    raw_port = str(port) if port is not None else env.get("GRADIO_SERVER_PORT") or str(DEFAULT_PORT)
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise DocqaError(f"the port must be a number from 1 to 65535, not {raw_port!r}")
    return host, int(raw_port)


def check_port(host: str, port: int) -> None:
    """Refuse an address the app could not listen on (a port in use, a host not of this machine) before
    anything is loaded or indexed: binding a socket to it is the test, as the server itself binds."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server sets it
            probe.bind(address)
    except OSError as error:
        raise DocqaError(listen_problem(host, port, error)) from error


def listen_problem(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return f"port {port} is in use (another docqa serve?): choose another with --port, e.g. --port {port + 1}"
    if error.errno == errno.EACCES:
        return f"port {port} needs administrator rights: choose one above 1023 with --port"
    if isinstance(error, socket.gaierror) or error.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine: give one with --host (0.0.0.0: every interface)"
    return f"cannot listen on {host}:{port} ({error.strerror or error}): choose another address with --host or --port"


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
    assistant: Assistant, *, host: str, port: int, auth: tuple[str, str] | None, watch: bool = True
) -> tuple[gr.Blocks, threading.Thread]:
    """Serve the chat app on ``host:port`` and bring the index up to date meanwhile; returns once listening.

    Returns the app (``close()`` stops it) and the thread that updates the index. The update starts
    first, so that it holds the index before the first question can come; questions never wait for it.
    The corpus folder is watched from then until the app is closed (see :mod:`docqa.watching`), unless
    ``watch`` is false (another process indexes it, or the file system sends no change notifications).
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
    try:
        app.launch(
            server_name=host,
            server_port=port,
            auth=auth,
            max_file_size=MAX_UPLOAD_BYTES,
            app_kwargs=throttled_logins(auth),
            theme=theme(),
            css=CSS,
            prevent_thread_lock=True,
            quiet=True,  # Gradio's own lines advise its API (share=True), which docqa users cannot act on
        )
    except OSError as error:  # the port was taken after check_port found it free; Gradio's advice names its own API
        raise DocqaError(f"port {port} on {host} is in use: choose another with --port") from error
    url = getattr(app, "local_url", None) or f"http://{host}:{port}/"
    print(f"docqa: serving on {url} (Ctrl+C stops it)", flush=True)
    if watch:
        watch_in_background(assistant, stop_event=_Closed(app))
    return app, indexing


class _Closed:
    """Set once the app is closed, which ends the watching of the corpus folder."""

    def __init__(self, app: gr.Blocks) -> None:
        self.app = app

    def is_set(self) -> bool:
        return not self.app.is_running


def serve(assistant: Assistant, *, host: str, port: int, auth: tuple[str, str] | None, watch: bool = True) -> None:
    """Serve the chat app on ``host:port`` until interrupted, bringing the index up to date meanwhile.

    ``host``, ``port`` and ``auth`` are resolved beforehand (see :func:`server_address` and
    :func:`auth_from_env`), so that a wrong setting is reported before anything is loaded.
    """
    app, _ = start(assistant, host=host, port=port, auth=auth, watch=watch)
    app.block_thread()
