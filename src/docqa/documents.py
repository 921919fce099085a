"""Read the corpus folder: text, Markdown, HTML and PDF files become ``Document`` records.

``Document.text`` is the exact text that chunk offsets and citations index into.

A file larger than ``DEFAULT_MAX_FILE_BYTES`` (20 MB), or whose text is longer than that many
characters, is skipped with a message: splitting text into sentences takes about 4 µs a character,
so 20 MB of text already takes a minute and a half to index. Files with the same content under
different names are each indexed under their own name; a note is logged.
"""

from __future__ import annotations

import codecs
import datetime
import hashlib
import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import charset_normalizer
import pypdf
from bs4 import BeautifulSoup
from bs4.dammit import EncodingDetector
from bs4.element import NavigableString, PreformattedString, Tag

from docqa.errors import DocqaError
from docqa.schema import Document

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf")
DEFAULT_MAX_FILE_BYTES = 20 * 2**20
TITLE_CHARS = 120


class UnreadableFile(DocqaError):
    """A file in the corpus that cannot be turned into a document; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def load_documents(
    corpus_dir: Path, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> tuple[list[Document], dict[str, str]]:
    """Every supported file under ``corpus_dir``, sorted by source, and the files skipped with why.

    Hidden files and folders are ignored, and so are links that lead out of the folder. A file that
    cannot be read is logged and skipped; the others are still loaded.
    """
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.exists():
        raise DocqaError(f"the corpus folder {corpus_dir} does not exist")
    if not corpus_dir.is_dir():
        raise DocqaError(f"the corpus path {corpus_dir} is not a folder")
    documents: list[Document] = []
    skipped: dict[str, str] = {}
    for path in _corpus_files(corpus_dir, skipped):
        try:
            documents.append(load_document(path, corpus_dir, max_file_bytes=max_file_bytes))
        except UnreadableFile as error:
            _skip(skipped, _source(path, corpus_dir), error.reason)
        except Exception as error:  # a parser failing in a way nobody foresaw must not stop the other files
            logger.debug("failed to read %s", path, exc_info=True)
            _skip(skipped, _source(path, corpus_dir), f"cannot be read ({type(error).__name__}: {error})")
    documents.sort(key=lambda document: document.source)
    _note_duplicates(documents)
    return documents, dict(sorted(skipped.items()))


def load_document(path: Path, corpus_dir: Path, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> Document:
    """The document in the file at ``path``; raises ``UnreadableFile`` for a file it cannot use."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnreadableFile(f"unsupported file type {path.suffix or '(none)'}")
    source = _source(path, corpus_dir)
    if _readable(source) != source:
        raise UnreadableFile("the file name is not valid UTF-8; rename the file")
    problem = _location_problem(path, corpus_dir.resolve())
    if problem:
        raise UnreadableFile(problem)
    data = _read_bytes(path, max_file_bytes)
    if suffix == ".pdf":
        text, title, date = _pdf_content(data)
    elif suffix in (".html", ".htm"):
        text, title, date = _html_content(data)
    else:
        text, title, date = _plain_content(data, markdown=suffix == ".md")
    if len(text) > max_file_bytes:
        raise UnreadableFile(f"its text is longer than {max_file_bytes:,} characters")
    return Document(
        source=source,
        text=text,
        title=title or path.stem,
        content_hash=hashlib.sha256(data).hexdigest(),
        date=date,
    )


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _skip(skipped: dict[str, str], source: str, reason: str) -> None:
    source = _readable(source)
    logger.warning("skipped %s: %s", source, reason)
    skipped[source] = reason


def _readable(source: str) -> str:
    """``source`` with the bytes of a file name that are not UTF-8 shown as U+FFFD."""
    # Python keeps such bytes as lone surrogates, which cannot be stored, printed or sent as JSON text.
    return _LONE_SURROGATE.sub("\ufffd", source)


def _note_duplicates(documents: list[Document]) -> None:
    by_hash: dict[str, list[str]] = {}
    for document in documents:
        by_hash.setdefault(document.content_hash, []).append(document.source)
    for sources in by_hash.values():
        if len(sources) > 1:
            logger.info("same content in %s; each is indexed under its own name", ", ".join(sources))


def _source(path: Path, corpus_dir: Path) -> str:
    return path.absolute().relative_to(corpus_dir.absolute()).as_posix()


def _corpus_files(corpus_dir: Path, skipped: dict[str, str]) -> Iterator[Path]:
    """Supported files under ``corpus_dir``; links to files inside it are read, other links are not."""
    root = corpus_dir.resolve()
    pending = [corpus_dir]
    while pending:
        folder = pending.pop()
        for entry in _folder_entries(folder, corpus_dir, skipped):
            if entry.name.startswith("."):
                continue
            wanted = entry.suffix.lower() in SUPPORTED_SUFFIXES
            if entry.is_symlink():
                problem = _location_problem(entry, root)
                if problem and (wanted or entry.is_dir()):
                    _skip(skipped, _source(entry, corpus_dir), problem)
                # A link to a folder inside the corpus would only repeat files read under their own path.
                if problem or entry.is_dir():
                    continue
            if entry.is_dir():
                pending.append(entry)
            elif wanted:
                yield entry


def _folder_entries(folder: Path, corpus_dir: Path, skipped: dict[str, str]) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as error:
        _skip(skipped, _source(folder, corpus_dir), f"cannot list the folder ({error.strerror})")
        return []


def _location_problem(path: Path, root: Path) -> str | None:
    """Why ``path``, once links are followed, must not be read from the folder ``root``, or None."""
    try:
        target = path.resolve(strict=True)
    except FileNotFoundError:
        return "broken link" if path.is_symlink() else "file not found"
    except (OSError, RuntimeError):
        return "link that loops or cannot be followed"
    if not target.is_relative_to(root):
        return "link to a place outside the corpus folder"
    return None


def _read_bytes(path: Path, max_file_bytes: int) -> bytes:
    try:
        if not path.is_file():
            raise UnreadableFile("not a regular file")
        size = path.stat().st_size
        if size > max_file_bytes:
            raise UnreadableFile(f"larger than {_size_label(max_file_bytes)}")
        return path.read_bytes()
    except OSError as error:
        raise UnreadableFile(f"cannot read the file ({error.strerror or error})") from error


def _size_label(size: int) -> str:
    if size >= 2**20:
        return f"{size / 2**20:g} MB"
    return f"{size} bytes"


_DATE_MARKER = re.compile(r"\A\s*date (\d{4}-\d{2}-\d{2})\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_MAX_CONTROL_SHARE = 0.2


def _split_date_marker(text: str) -> tuple[str, str | None]:
    """``text`` without a leading ``date YYYY-MM-DD`` marker, and the marker's date."""
    match = _DATE_MARKER.match(text)
    if match is None or not _is_date(match.group(1)):
        return text, None
    return text[match.end() :], match.group(1)


def _is_date(value: str) -> bool:
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _normalised(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _checked_text(text: str) -> str:
    if not text:
        raise UnreadableFile("empty")
    if len(_CONTROL.findall(text)) > _MAX_CONTROL_SHARE * len(text):
        raise UnreadableFile("binary file")
    return text


def _first_line(text: str, *, markdown: bool = False) -> str:
    for line in text.split("\n"):
        line = line.strip()
        if markdown:
            line = line.lstrip("#").strip()
        if line:
            return line
    return ""


def _short_title(title: str) -> str:
    title = " ".join(title.split())
    if len(title) <= TITLE_CHARS:
        return title
    cut = title.rfind(" ", 0, TITLE_CHARS)
    return title[: cut if cut > 0 else TITLE_CHARS] + "…"


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Below this size a guess at a legacy encoding is unreliable.
_MIN_DETECTION_BYTES = 32
_MAX_CHAOS = 0.1
_REPLACEMENT = "\ufffd"


def _plain_content(data: bytes, *, markdown: bool) -> tuple[str, str, str | None]:
    text, date = _split_date_marker(_normalised(_decoded(data)))
    text = _checked_text(text)
    return text, _short_title(_first_line(text, markdown=markdown)), date


def _has_bom(data: bytes) -> bool:
    return data.startswith(tuple(bom for bom, _ in _BOMS))


def _decoded(data: bytes) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _decode_or_skip(data, encoding)
    if b"\x00" in data:
        raise UnreadableFile("binary file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    damaged_utf8 = _damaged_utf8(data)
    if damaged_utf8 is not None:
        return damaged_utf8
    encoding = _detected_encoding(data)
    if encoding is None:
        raise UnreadableFile("not valid text (not UTF-8, and no confident guess of its encoding)")
    return _decode_or_skip(data, encoding)


def _decode_or_skip(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise UnreadableFile(f"not valid text ({error.reason} for {encoding})") from error


def _damaged_utf8(data: bytes) -> str | None:
    """UTF-8 text with a few bad bytes, each shown as U+FFFD; None when it does not look like UTF-8.

    Legacy 8-bit encodings almost never form valid multi-byte UTF-8 sequences, so finding more of
    those than bad bytes says the file is UTF-8 that was damaged, not text in another encoding.
    """
    text = data.decode("utf-8", errors="replace")
    bad = text.count(_REPLACEMENT)
    valid_non_ascii = len(text) - len(text.encode("ascii", errors="ignore")) - bad
    return text if valid_non_ascii > bad else None


def _detected_encoding(data: bytes) -> str | None:
    if len(data) < _MIN_DETECTION_BYTES:
        return None
    matches = list(charset_normalizer.from_bytes(data, enable_fallback=False))
    if not matches:
        return None
    least_chaos = min(match.chaos for match in matches)
    if least_chaos > _MAX_CHAOS:
        return None
    best = [match.encoding for match in matches if match.chaos == least_chaos]
    # Many code pages decode Western text equally cleanly; the most common one is the best bet.
    return "cp1252" if "cp1252" in best else best[0]


_DROPPED_TAGS = frozenset({"script", "style", "noscript", "template", "head"})
_BLOCK_TAGS = (
    frozenset({"html", "body", "main", "article", "section", "header", "footer", "nav", "aside", "div", "p"})
    | {"h1", "h2", "h3", "h4", "h5", "h6", "hr", "pre", "blockquote", "address", "figure", "figcaption"}
    | {"ul", "ol", "li", "dl", "dt", "dd", "table", "caption", "tr", "th", "td"}
    | {"form", "fieldset", "details", "summary", "dialog"}
)
_BLOCK_END = object()
_SPACES = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")


def _html_content(data: bytes) -> tuple[str, str, str | None]:
    soup = BeautifulSoup(_html_markup(data), "lxml")
    title = _html_title(soup)
    text, date = _split_date_marker(_html_text(soup))
    text = _checked_text(text)
    return text, _short_title(title or _first_line(text)), date


def _html_markup(data: bytes) -> bytes | str:
    """The bytes where the page names its encoding (BeautifulSoup honours that), else decoded text."""
    declared = EncodingDetector.find_declared_encoding(data, is_html=True) or ""
    # A page that could declare its encoding in ASCII is not UTF-16 or UTF-32; browsers ignore that claim.
    if _has_bom(data) or (declared and not declared.lower().replace("-", "").startswith(("utf16", "utf32"))):
        return data
    return _decoded(data)


def _html_title(soup: BeautifulSoup) -> str:
    for name in ("title", "h1"):
        tag = soup.find(name)
        if isinstance(tag, Tag):
            title = " ".join(tag.get_text(" ").split())
            if title:
                return title
    return ""


def _html_text(soup: BeautifulSoup) -> str:
    """The visible text; each block element is a paragraph of its own, after a blank line."""
    parts: list[str] = []
    stack: list[object] = [soup]
    while stack:
        node = stack.pop()
        if node is _BLOCK_END:
            parts.append("\n")
        elif isinstance(node, NavigableString):
            if not isinstance(node, PreformattedString):
                parts.append(_SPACES.sub(" ", str(node)))
        elif isinstance(node, Tag):
            _visit_tag(node, parts, stack)
    lines = (line.strip() for line in _normalised("".join(parts)).split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _visit_tag(tag: Tag, parts: list[str], stack: list[object]) -> None:
    if tag.name in _DROPPED_TAGS:
        return
    if tag.name == "br":
        parts.append("\n")
    elif tag.name == "pre":
        parts.append("\n" + tag.get_text() + "\n")
    elif tag.name in _BLOCK_TAGS:
        parts.append("\n")
        stack.append(_BLOCK_END)
        stack.extend(reversed(tag.contents))
    else:
        stack.extend(reversed(tag.contents))


def _pdf_content(data: bytes) -> tuple[str, str, str | None]:
    try:
        reader = _open_pdf(data)
        pages = [page.extract_text() for page in reader.pages]
        metadata_title, metadata_date = _pdf_metadata(reader.metadata)
    except UnreadableFile:
        raise
    except Exception as error:  # pypdf raises many kinds of errors on damaged files
        raise UnreadableFile(f"damaged PDF ({type(error).__name__}: {error})") from error
    text = _normalised("\n\n".join(page.strip() for page in pages if page.strip()))
    if not text:
        raise UnreadableFile("PDF has no text layer")
    text, date = _split_date_marker(text)
    text = _checked_text(text)
    return text, _short_title(metadata_title or _first_line(text)), date or metadata_date


def _open_pdf(data: bytes) -> pypdf.PdfReader:
    reader = pypdf.PdfReader(io.BytesIO(data))
    if reader.is_encrypted and reader.decrypt("") == pypdf.PasswordType.NOT_DECRYPTED:
        raise UnreadableFile("PDF is encrypted with a password")
    return reader


def _pdf_metadata(metadata: pypdf.DocumentInformation | None) -> tuple[str, str | None]:
    """The title and the creation date (YYYY-MM-DD) from the PDF's document information."""
    if metadata is None:
        return "", None
    title = " ".join(str(metadata.title or "").split())
    try:
        created = metadata.creation_date
    except ValueError:  # a malformed date string
        created = None
    return title, created.date().isoformat() if created else None
