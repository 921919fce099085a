"""The Milvus side of the Milvus store: connection, collection layout, record ids and read filters.

One index is three collections named from a base name (``docqa`` unless told otherwise):

- ``<base>_meta``: the manifest (format, models, dimension, chunking, current epoch) and one row per
  writer lane (``lane/<epoch>/<shard>``) with that lane's committed generation and the sources it
  retired. Each lane writes only its own row, so shards never overwrite each other's state.
- ``<base>_e<epoch>_documents``: each document's metadata and content hash (the per-file half of
  the manifest), its text in parts (Milvus strings are bounded), and the generation that wrote it.
- ``<base>_e<epoch>_passages``: each passage's text, offsets, position, document title and date,
  dense vector, and the BM25 sparse vector that Milvus derives from the text (a BM25 Function).

An epoch is one set of settings: a rebuild fills the next epoch while readers keep the current one,
then the manifest switches to it. Every row carries (lane, generation); readers see a row only when
its lane has committed that generation and no later commit retired its source (``visible``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from docqa.errors import DocqaError, IndexLoadError
from docqa.store.base import FORMAT_VERSION
from docqa.store.manifest import settings_of

BASE_ENV = "DOCQA_MILVUS_COLLECTION"
TOKEN_ENV, USER_ENV, PASSWORD_ENV, DATABASE_ENV = (
    "DOCQA_MILVUS_TOKEN",
    "DOCQA_MILVUS_USER",
    "DOCQA_MILVUS_PASSWORD",
    "DOCQA_MILVUS_DATABASE",
)
DEFAULT_BASE = "docqa"
MANIFEST_KEY = "manifest"
STRING_LIMIT = 65_535  # the longest VARCHAR Milvus keeps (bytes)
TEXT_PART_CHARS = 16_000  # characters of document text a row, so four UTF-8 bytes each still fit
QUERY_PAGE = 4_096  # rows fetched at a time when listing
KEYS_AT_ONCE = 1_000  # sources named in one filter
PAD_FIELD = "pad"  # collections without an embedding still need a vector field: a constant one
PAD = [0.0, 0.0]
# The same words as the SQLite store's "porter unicode61": split at spaces and punctuation, lower
# case, English (Porter) stems. Milvus Lite refuses the ready-made "english" analyzer.
ANALYZER = {"tokenizer": "standard", "filter": ["lowercase", {"type": "stemmer", "language": "english"}]}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,180}")
PASSAGE_FIELDS = ["id", "source", "position", "start_char", "end_char", "text", "title", "date", "locations"]

log = logging.getLogger(__name__)


def base_name(name: str | None) -> str:
    base = name or os.environ.get(BASE_ENV) or DEFAULT_BASE
    if not _NAME.fullmatch(base):
        raise DocqaError(f"a Milvus collection name is letters, digits and '_', starting with a letter, not {base!r}")
    return base


def connect(uri: str) -> Any:
    """A client for ``uri``: a Milvus Lite file (``*.db``) or a server; credentials come from the
    environment only (``DOCQA_MILVUS_TOKEN``, or ``DOCQA_MILVUS_USER`` and ``DOCQA_MILVUS_PASSWORD``)."""
    try:
        from pymilvus import MilvusClient
    except ImportError as error:
        raise DocqaError(f"the Milvus store needs pymilvus: pip install 'docqa[milvus]' ({error})") from error
    quiet_client_logs()
    credentials = {
        key: os.environ[variable]
        for key, variable in (
            ("token", TOKEN_ENV),
            ("user", USER_ENV),
            ("password", PASSWORD_ENV),
            ("db_name", DATABASE_ENV),
        )
        if os.environ.get(variable)
    }
    options: dict[str, Any] = {}
    if not uri.startswith(("http://", "https://")):
        # Milvus Lite serves this process over a local socket: keep-alive pings only make its server
        # send GOAWAY ("too_many_pings") and the channel reconnect.
        options["grpc_options"] = {"grpc.keepalive_time_ms": 2**31 - 1, "grpc.keepalive_permit_without_calls": 0}
    try:
        return MilvusClient(uri=uri, **credentials, **options)
    except Exception as error:
        local = not uri.startswith(("http://", "https://"))
        hint = (
            "Milvus Lite opens a file from one process at a time: close the other docqa using it, or serve "
            "several processes from a Milvus server (http://host:19530)"
            if local
            else f"check that the server is up and that {TOKEN_ENV} (or {USER_ENV} and {PASSWORD_ENV}) is right"
        )
        raise IndexLoadError(f"cannot open the Milvus store {uri} ({first_line(error)}); {hint}") from error


def quiet_client_logs() -> None:
    """pymilvus logs every failed call with its traceback, and the Milvus Lite server in this process
    logs the calls it lacks (pymilvus asks for one while creating an index, and copes without it);
    the store turns failures into messages of its own."""
    for name in ("pymilvus", "grpc._server"):
        client_log = logging.getLogger(name)
        if client_log.level == logging.NOTSET:
            client_log.setLevel(logging.CRITICAL)


def first_line(error: BaseException) -> str:
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    return str(message).strip().splitlines()[0][:300]


@dataclass(frozen=True)
class Names:
    base: str

    @property
    def meta(self) -> str:
        return f"{self.base}_meta"

    def documents(self, epoch: int) -> str:
        return f"{self.base}_e{epoch}_documents"

    def passages(self, epoch: int) -> str:
        return f"{self.base}_e{epoch}_passages"

    def epoch_of(self, collection: str) -> int | None:
        match = re.fullmatch(re.escape(self.base) + r"_e(\d+)_(documents|passages)", collection)
        return int(match.group(1)) if match else None


def lane_key(epoch: int, lane: str) -> str:
    return f"lane/{epoch}/{lane}"


# ----- ids -------------------------------------------------------------------------------

_ID_BITS = 53  # ids go out in JSON, and JavaScript reads integers exactly up to 2**53


def record_id(*parts: object) -> int:
    """A 53-bit id from the parts naming a row; writers on several machines need no shared counter."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> (64 - _ID_BITS) or 1


def source_key(source: str) -> int:
    """A source as a number, so filters never quote file names (Milvus expressions cannot escape
    every character a name may hold); the source itself is stored beside it and checked on reads."""
    return record_id("source", source)


def text_parts(text: str) -> list[str]:
    return [text[start : start + TEXT_PART_CHARS] for start in range(0, len(text), TEXT_PART_CHARS)] or [""]


def fits(text: str) -> bool:
    return len(text.encode("utf-8", "surrogatepass")) <= STRING_LIMIT


# ----- collections -----------------------------------------------------------------------


def create_meta(client: Any, name: str) -> None:
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=512)
    schema.add_field("value", DataType.VARCHAR, max_length=STRING_LIMIT)
    schema.add_field(PAD_FIELD, DataType.FLOAT_VECTOR, dim=len(PAD))
    _create(client, name, schema, {PAD_FIELD: ("FLAT", "IP")})


def create_documents(client: Any, name: str) -> None:
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    _row_fields(schema)
    for name_, kind in (("part", DataType.INT64), ("parts", DataType.INT64), ("passages", DataType.INT64)):
        schema.add_field(name_, kind)
    for name_ in ("title", "date", "content_hash", "text"):
        schema.add_field(name_, DataType.VARCHAR, max_length=STRING_LIMIT)
    schema.add_field(PAD_FIELD, DataType.FLOAT_VECTOR, dim=len(PAD))
    _create(client, name, schema, {PAD_FIELD: ("FLAT", "IP")})


def create_passages(client: Any, name: str, dimension: int) -> None:
    """The passages collection; ``dimension`` 0 leaves out the dense vector (a store without one)."""
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    _row_fields(schema)
    for name_ in ("position", "start_char", "end_char"):
        schema.add_field(name_, DataType.INT64)
    for name_ in ("title", "date", "locations"):  # locations: JSON (offset, label) pairs, "" for none
        schema.add_field(name_, DataType.VARCHAR, max_length=STRING_LIMIT)
    schema.add_field("text", DataType.VARCHAR, max_length=STRING_LIMIT, enable_analyzer=True, analyzer_params=ANALYZER)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]
        )
    )
    indexes = {"sparse": ("SPARSE_INVERTED_INDEX", "BM25")}
    if dimension:
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dimension)
        indexes["dense"] = ("AUTOINDEX", "IP")  # the server picks a graph index; Milvus Lite what it has
    _create(client, name, schema, indexes)


def _row_fields(schema: Any) -> None:
    from pymilvus import DataType

    schema.add_field("source_key", DataType.INT64)
    schema.add_field("source", DataType.VARCHAR, max_length=STRING_LIMIT)
    schema.add_field("lane", DataType.VARCHAR, max_length=64)
    schema.add_field("generation", DataType.INT64)


def _create(client: Any, name: str, schema: Any, indexes: Mapping[str, tuple[str, str]]) -> None:
    parameters = client.prepare_index_params()
    for field_name, (kind, metric) in indexes.items():
        parameters.add_index(field_name, index_type=kind, metric_type=metric)
    try:
        # Strong consistency: a read right after a commit, from any replica, sees that commit.
        client.create_collection(name, schema=schema, index_params=parameters, consistency_level="Strong")
    except Exception:
        if not client.has_collection(name):  # another shard may have made it at the same moment
            raise
    client.load_collection(name)


def dense_dimension(client: Any, name: str) -> int:
    """The dimension of the dense field of a passages collection; 0 when it has none."""
    for column in client.describe_collection(name)["fields"]:
        if column["name"] == "dense":
            return int(column["params"]["dim"])
    return 0


# ----- what readers see ------------------------------------------------------------------


@dataclass
class Lane:
    """A writer lane's committed state: its last generation and the sources it retired since."""

    generation: int = 0
    retired: list[tuple[int, list[int]]] = field(default_factory=list)  # (generation, source keys)

    @classmethod
    def parse(cls, value: str) -> Lane:
        data = json.loads(value)
        return cls(int(data["generation"]), [(int(g), [int(k) for k in keys]) for g, keys in data["retired"]])

    def dump(self) -> str:
        return json.dumps({"generation": self.generation, "retired": self.retired})


@dataclass(frozen=True)
class View:
    """The committed state of an index as a reader sees it at one moment."""

    manifest: dict[str, Any]
    lanes: dict[str, Lane]

    @property
    def epoch(self) -> int:
        return int(self.manifest["epoch"])

    def visible(self) -> str:
        """A filter keeping the rows of committed generations whose sources no later commit retired."""
        committed = " or ".join(
            f'(lane == "{name}" and generation <= {lane.generation})' for name, lane in sorted(self.lanes.items())
        )
        if not committed:
            return "generation < 0"
        retired = [
            f"not (source_key in [{','.join(map(str, keys))}] and generation < {generation})"
            for lane in self.lanes.values()
            for generation, keys in lane.retired
        ]
        return " and ".join([f"({committed})", *retired])


def lanes_of(rows: Iterable[Mapping[str, Any]], epoch: int) -> dict[str, Lane]:
    prefix = f"lane/{epoch}/"
    return {row["key"][len(prefix) :]: Lane.parse(row["value"]) for row in rows if row["key"].startswith(prefix)}


def key_list(keys: Iterable[int]) -> str:
    return ",".join(str(int(key)) for key in keys)


def batched(items: Sequence[Any], size: int = KEYS_AT_ONCE) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def query_all(client: Any, collection: str, expression: str, fields: list[str]) -> list[dict[str, Any]]:
    """Every row matching ``expression``, a range of ids at a time.

    Ids are uniform hashes, so equal ranges hold about equal numbers of rows; a range that fills a
    page is split again. (pymilvus's query iterator needs a call Milvus Lite lacks.)
    """
    count = int(client.query(collection, filter=expression, output_fields=["count(*)"])[0]["count(*)"])
    ranges = max(1, -(-count * 2 // QUERY_PAGE))
    step = -(-(1 << _ID_BITS) // ranges)
    pending = [(start, min(start + step, 1 << _ID_BITS)) for start in range(0, 1 << _ID_BITS, step)]
    rows: list[dict[str, Any]] = []
    while pending:
        low, high = pending.pop()
        page = client.query(
            collection, filter=f"id >= {low} and id < {high} and ({expression})", output_fields=fields, limit=QUERY_PAGE
        )
        if len(page) >= QUERY_PAGE and high - low > 1:
            middle = (low + high) // 2
            pending += [(low, middle), (middle, high)]
        else:
            rows.extend(page)
    return rows


# ----- the manifest ----------------------------------------------------------------------


def checked_manifest(uri: str, value: str) -> dict[str, Any]:
    """The parsed manifest; raises ``IndexLoadError`` when it is damaged or of a newer format."""
    try:
        manifest = json.loads(value)
        version = manifest["format_version"]
        settings_of(manifest)
        int(manifest["epoch"]), int(manifest["embedding_dimension"])
    except (ValueError, KeyError, TypeError) as error:
        raise IndexLoadError(
            f"the manifest of the Milvus store {uri} is damaged ({error}); rebuild it with 'docqa index --rebuild'"
        ) from error
    if version > FORMAT_VERSION:
        raise IndexLoadError(
            f"the Milvus store {uri} was written by a newer version of docqa (index format {version}; this "
            f"version reads format {FORMAT_VERSION}): upgrade docqa, or rebuild it with 'docqa index --rebuild'"
        )
    return manifest
