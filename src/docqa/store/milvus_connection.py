"""The connection of a ``MilvusStore``, as its reads and its write sessions share it.

``MilvusConnection`` holds what both sides use: the address, the collections' names, the handle's
shard, the client (made on first use), the calls whose failures say what to do, the collections
known to exist, and the committed state (``view``). The store (``milvus``) and its writer
(``milvus_writer``) each import this module, and neither imports the other.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from docqa.errors import DocqaError, IndexLoadError
from docqa.shards import WHOLE, Shard
from docqa.store.milvus_schema import (
    MANIFEST_KEY,
    Names,
    View,
    base_name,
    checked_manifest,
    connect,
    first_line,
    lanes_of,
)


class MilvusConnection:
    """One index in Milvus, reached through one client; see the module notes.

    ``uri`` is a Milvus Lite file path or an ``http(s)://`` server address; ``collection`` the base
    name of the index's collections; ``shard`` the slice its write sessions write.
    """

    def __init__(
        self, uri: str | Path, *, collection: str | None = None, shard: Shard | None = None, lock_timeout: float = 600.0
    ) -> None:
        self.uri = str(uri)
        self.names = Names(base_name(collection))
        self.shard = shard or WHOLE
        self.lock_timeout = lock_timeout  # how long a write session waits for another one of its lane
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._known: set[str] = set()  # collections seen to exist (only writers make and drop them)

    @property
    def local(self) -> bool:
        """Whether this is a Milvus Lite file rather than a server."""
        return not self.uri.startswith(("http://", "https://"))

    @property
    def client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                self._client = connect(self.uri)
            return self._client

    def close(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def call(self, action: str, method: Any, *arguments: Any, **options: Any) -> Any:
        """A Milvus call whose failure becomes an ``IndexLoadError`` that says what to do."""
        try:
            return method(*arguments, **options)
        except DocqaError:
            raise
        except Exception as error:
            raise IndexLoadError(
                f"the Milvus store {self.uri} could not {action} ({first_line(error)}); check that Milvus is "
                "reachable, or rebuild the index with 'docqa index --rebuild'"
            ) from error

    def exists(self, collection: str, *, fresh: bool = False) -> bool:
        """Whether ``collection`` exists; readers may trust an earlier yes, writers ask ``fresh``."""
        if fresh:
            self._known.discard(collection)
        if collection not in self._known and self.call("read", self.client.has_collection, collection):
            # A collection opened by another process, or after a restart, must be loaded before use.
            if "Loaded" not in str(self.call("read", self.client.get_load_state, collection).get("state")):
                self.call("read", self.client.load_collection, collection)
            self._known.add(collection)
        return collection in self._known

    def forget(self, collection: str) -> None:
        """Note that ``collection`` was dropped."""
        self._known.discard(collection)

    def view(self) -> View | None:
        """The committed state now: the manifest and the lanes of its epoch; None before any commit."""
        if self.local and not Path(self.uri).exists():
            return None
        if not self.exists(self.names.meta):
            return None
        rows = self.call("read", self.client.query, self.names.meta, filter='key != ""', output_fields=["key", "value"])
        values = {row["key"]: row["value"] for row in rows}
        if MANIFEST_KEY not in values:
            return None
        manifest = checked_manifest(self.uri, values[MANIFEST_KEY])
        return View(manifest, lanes_of(rows, int(manifest["epoch"])))
