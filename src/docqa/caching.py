"""Caches bounded by the memory their entries take, not only by how many there are.

A count alone does not bound memory: a cached reading holds its question and every passage read
(50 at the most top-k), and a cached query vector its query, which a follow-up makes up to two turns
long. Sizes are estimates (``sys.getsizeof`` of the texts plus a fixed cost per object), close
enough to keep a cache within its budget.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

OBJECT_BYTES = 200  # a small object (a dataclass instance, a tuple, a dict entry) with its bookkeeping


class SizedCache(Generic[K, V]):
    """The most recently used entries that fit in ``max_bytes`` (and, if given, ``max_entries``).

    ``size_of(key, value)`` estimates an entry's bytes. An entry larger than the whole budget is not
    kept. Safe to use from several threads.
    """

    def __init__(self, max_bytes: int, size_of: Callable[[K, V], int], *, max_entries: int | None = None) -> None:
        if max_bytes < 0 or (max_entries is not None and max_entries < 0):
            raise ValueError("a cache's budget must not be negative")
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._size_of = size_of
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """The estimated bytes of the entries kept."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V) -> None:
        size = self._size_of(key, value)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size > self.max_bytes or self.max_entries == 0:
                return
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes or (self.max_entries is not None and len(self) > self.max_entries):
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


def memoized(function: Callable[[K], V], cache: SizedCache[K, V]) -> Callable[[K], V]:
    """``function`` with its results kept in ``cache``; like ``functools.lru_cache``, the wrapper has
    ``cache_clear()``. Two threads asking for one missing key may both compute it."""

    def wrapper(key: K) -> V:
        found = cache.get(key)
        if found is None:
            found = function(key)
            cache.put(key, found)
        return found

    wrapper.cache_clear = cache.clear  # type: ignore[attr-defined]
    wrapper.cache = cache  # type: ignore[attr-defined]
    return wrapper


def text_bytes(texts: Iterable[str | None]) -> int:
    """The bytes of some texts as Python keeps them."""
    return sum(sys.getsizeof(text) for text in texts if text is not None)
