"""The SQLite side of the store: its tables, its FTS5 queries, its checks and what its errors mean."""

from __future__ import annotations

import errno
import json
import sqlite3
from pathlib import Path

from docqa.errors import IndexLoadError
from docqa.text import query_words

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    source TEXT PRIMARY KEY, title TEXT NOT NULL, date TEXT, content_hash TEXT NOT NULL, text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL REFERENCES documents(source) ON DELETE CASCADE,
    position INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
    text TEXT NOT NULL, embedding BLOB, locations TEXT
);
CREATE INDEX IF NOT EXISTS chunks_by_source ON chunks(source);
CREATE TABLE IF NOT EXISTS removed_vectors (id INTEGER PRIMARY KEY, generation INTEGER NOT NULL);
"""
# The FTS5 index of the chunks, one statement each, so that a rebuild can make it anew inside its
# transaction: a damaged FTS5 index leaves the pages sound (PRAGMA quick_check passes).
FTS_SCHEMA = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5("
    "text, content='chunks', content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER IF NOT EXISTS chunks_fts_insert AFTER INSERT ON chunks BEGIN "
    "INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER IF NOT EXISTS chunks_fts_delete AFTER DELETE ON chunks BEGIN "
    "INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
)
DROP_FTS = (
    "DROP TRIGGER IF EXISTS chunks_fts_insert",
    "DROP TRIGGER IF EXISTS chunks_fts_delete",
    "DROP TABLE IF EXISTS chunks_fts",
)
# Error codes that mean the file itself is damaged; any other failure (a full disk, a permission, a
# disk error, a lock) leaves a sound database that must not be set aside.
DAMAGE_CODES = ("SQLITE_CORRUPT", "SQLITE_NOTADB")


def fts_query(text: str) -> str:
    """An FTS5 query matching any of the words of ``text`` (each quoted, so no syntax leaks in).

    Words are cut at punctuation, symbols, spaces and control characters, so quotes, operators and
    lone surrogates never reach FTS5; FTS5 splits each quoted word the way it split the indexed text.
    """
    return " OR ".join(f'"{word}"' for word in query_words(text, _ascii_lower))


def _ascii_lower(word: str) -> str:
    # FTS5 folds case by Unicode 6.1, which lacks the newer case pairs Python knows: only ASCII words
    # are lowered, to be compared with the stop words.
    return word.lower() if word.isascii() else word


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode = WAL")  # readers keep reading while an update is written
    db.execute("PRAGMA foreign_keys = ON")
    return db


def meta_value(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def create_schema(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)
    if not has_locations(db):  # a database of format 1, which the rebuild it is due for fills anew
        db.execute("ALTER TABLE chunks ADD COLUMN locations TEXT")
    for statement in FTS_SCHEMA:
        db.execute(statement)


def has_locations(db: sqlite3.Connection) -> bool:
    """Whether the chunks table has its locations column (format 2 on)."""
    return any(row[1] == "locations" for row in db.execute("PRAGMA table_info(chunks)"))


def locations_json(locations: tuple[tuple[int, str], ...]) -> str | None:
    """A passage's locations as stored: JSON pairs, or NULL for none."""
    return json.dumps(locations) if locations else None


def stored_locations(value: str | None) -> tuple[tuple[int, str], ...]:
    return tuple((int(offset), str(label)) for offset, label in json.loads(value)) if value else ()


def quick_check(db: sqlite3.Connection) -> str:
    """'ok', or what ``PRAGMA quick_check`` found wrong with the pages of ``db``."""
    return "; ".join(str(row[0]) for row in db.execute("PRAGMA quick_check(5)").fetchall())


def is_damage(error: sqlite3.Error) -> bool:
    """Whether ``error`` says that the database file is damaged, rather than unreachable."""
    return (getattr(error, "sqlite_errorname", None) or "").startswith(DAMAGE_CODES)


def database_problem(folder: Path, error: sqlite3.Error, action: str = "read") -> IndexLoadError:
    """An error for a failed database call that says what to do about it.

    Only damage is worth a rebuild: a full disk, a permission or a failing disk is fixed where it is,
    and rebuilding would not help (it needs the disk too).
    """
    code = getattr(error, "sqlite_errorname", None) or ""
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        fix = "another program is using it; try again in a moment"
    elif code.startswith("SQLITE_FULL"):
        fix = f"the disk holding {folder} is full: free some space and try again"
    elif code.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
        fix = f"check that {folder} and the files in it can be read and written"
    elif code.startswith("SQLITE_IOERR"):
        fix = f"the disk holding {folder} failed to read or write: check its free space and health, then try again"
    else:
        fix = "rebuild it with 'docqa index --rebuild'"
    return IndexLoadError(f"the index in {folder} cannot be {action} ({error}); {fix}")


def file_problem(folder: Path, error: OSError, action: str = "read") -> IndexLoadError:
    """An error for a failed file operation in the index folder that says what to fix."""
    reason = error.strerror or str(error)
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = f"the disk holding {folder} is full: free some space and try again"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = f"check that {folder} and the files in it can be read and written"
    elif error.errno in (errno.EEXIST, errno.ENOTDIR) and not folder.is_dir():
        fix = f"{folder} is not a folder, or a file stands in its path: give the index a folder (--index DIR)"
    else:
        fix = f"check the disk holding {folder}, then try again"
    where = f": {error.filename}" if error.filename else ""
    return IndexLoadError(f"the index in {folder} cannot be {action} ({reason}{where}); {fix}")


def storable(text: str) -> bool:
    """Whether SQLite can take ``text``: lone surrogates have no UTF-8 form."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
