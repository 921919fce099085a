"""Indexing shards: a disjoint slice of the corpus for each of N indexing machines.

A file belongs to shard ``hash(source) mod N``, so every machine that runs ``docqa index --shard I/N``
over the same corpus agrees on the slices without talking to the others, and each one alone adds,
updates and removes the files of its own slice.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from docqa.errors import DocqaError

_FORM = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based): the files whose source hashes to ``index``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise DocqaError(f"a shard is I/N with 0 <= I < N, not {self.index}/{self.count}")

    @classmethod
    def parse(cls, text: str) -> Shard | None:
        """``"I/N"`` as a shard; an empty text means the whole corpus (None)."""
        if not text.strip():
            return None
        match = _FORM.fullmatch(text)
        if match is None:
            raise DocqaError(f"a shard is written I/N, for example 0/4 for the first of four, not {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def name(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, source: str) -> bool:
        if self.count == 1:
            return True
        digest = hashlib.blake2b(source.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.count == self.index


WHOLE = Shard(0, 1)  # an unsharded run: every file
