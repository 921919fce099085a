"""Wrong passwords slow down: each client that keeps failing to log in must wait longer between tries.

The first ``FREE_FAILURES`` wrong logins of a client (its IP address) are answered at once; after
that each try must come at least ``FIRST_WAIT_S`` after the last, a wait that doubles with each
further failure up to ``MAX_WAIT_S``; a try before then is refused with 429 and ``Retry-After``,
the password unchecked. A right password ends the wait. A try counts as a failure from the moment it
arrives, so that tries sent at once cannot slip in before the first of them is answered.

It is ASGI middleware around the app (``launch(app_kwargs=throttled_logins(auth))``), since Gradio
checks a password without knowing who sent it. Behind a reverse proxy every client has the proxy's
address, and all share one wait.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

FREE_FAILURES = 5
FIRST_WAIT_S = 1.0
MAX_WAIT_S = 300.0
MAX_CLIENTS = 10_000  # the clients remembered; the longest quiet is forgotten first
clock: Callable[[], float] = time.monotonic  # a test may put its own clock in place

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Failures:
    """Per client: wrong logins in a row, and when the last try came."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def wait(self, client: str) -> float:
        """Seconds ``client`` must still wait before its next try is checked; 0 when it may try now."""
        with self._lock:
            failures, last = self._clients.get(client, (0, 0.0))
        if failures < FREE_FAILURES:
            return 0.0
        return max(0.0, last + min(FIRST_WAIT_S * 2 ** (failures - FREE_FAILURES), MAX_WAIT_S) - clock())

    def attempt(self, client: str) -> None:
        """Count a try as a failure until it is known to have succeeded."""
        with self._lock:
            failures, _ = self._clients.pop(client, (0, 0.0))
            self._clients[client] = (failures + 1, clock())
            while len(self._clients) > MAX_CLIENTS:
                self._clients.popitem(last=False)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._clients.pop(client, None)


class LoginThrottle:
    """ASGI middleware that slows down the wrong logins of each client (see the module's text)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.failures = _Failures()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_login(scope):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown",))[0]
        wait = self.failures.wait(client)
        if wait > 0:
            await _too_many(send, math.ceil(wait))
            return
        self.failures.attempt(client)
        status: dict[str, int] = {}

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self.app(scope, receive, watched)
        if status.get("code", 500) < 400:
            self.failures.succeeded(client)


def throttled_logins(auth: object) -> dict[str, Any]:
    """The ``app_kwargs`` of Gradio's ``launch`` that put ``LoginThrottle`` in place, when there is a login."""
    if auth is None:
        return {}
    from starlette.middleware import Middleware

    return {"middleware": [Middleware(LoginThrottle)]}


def _is_login(scope: Scope) -> bool:
    return (
        scope.get("type") == "http"
        and scope.get("method") == "POST"
        and scope.get("path", "").rstrip("/").endswith("/login")
    )


async def _too_many(send: Send, seconds: int) -> None:
    body = json.dumps({"detail": f"Too many wrong logins: try again in {seconds} s."}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(seconds).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
