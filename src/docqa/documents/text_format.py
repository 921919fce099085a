"""Plain text files, and decoding bytes of an unknown encoding into text (for every text format)."""

from __future__ import annotations

import codecs
import re

from docqa.documents.common import Parsed, Section, UnreadableFile, normalised, parsed

BOMS = (
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


# A numbered item's first line: "2. Production update", "3) Paint line".
_ITEM = re.compile(r"^[ \t]*(\d{1,3})[.)][ \t]+\S", re.MULTILINE)


def parse_plain(data: bytes) -> Parsed:
    """The text, title (its first line), date and item locations of a plain text file."""
    return parsed(numbered_items(normalised(decoded(data))))


def numbered_items(text: str) -> list[Section]:
    """``text`` cut where each item of a numbered sequence (1., 2., 3. at the start of a line, as in
    minutes or a numbered list) begins, each part located as "item N"; what comes before item 1 has
    no location. A number out of sequence ("4. " in a sentence's wrapped line) is no item."""
    starts: list[tuple[int, int]] = []
    for match in _ITEM.finditer(text):
        number = int(match.group(1))
        if number == (starts[-1][1] + 1 if starts else 1):
            starts.append((match.start(), number))
    if len(starts) < 2:
        return [("", text)]
    sections: list[Section] = [("", text[: starts[0][0]])]
    for (start, number), (end, _) in zip(starts, [*starts[1:], (len(text), 0)], strict=True):
        sections.append((f"item {number}", text[start:end]))
    return sections


def has_bom(data: bytes) -> bool:
    return data.startswith(tuple(bom for bom, _ in BOMS))


def is_binary(data: bytes) -> bool:
    """Whether ``data`` (a whole file or its first bytes) is binary rather than text.

    A NUL byte never occurs in text of an 8-bit or UTF-8 encoding; in UTF-16 and UTF-32 it does,
    and such text starts with a byte order mark.
    """
    return b"\x00" in data and not has_bom(data)


def decoded(data: bytes) -> str:
    """``data`` as text: by its byte order mark, as UTF-8, or in a confidently detected encoding."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            return _decode_or_skip(data, encoding)
    if is_binary(data):
        raise UnreadableFile("binary file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    damaged_utf8 = _damaged_utf8(data)
    if damaged_utf8 is not None:
        return damaged_utf8
    detected = _detected_encoding(data)
    if detected is None:
        raise UnreadableFile("not valid text (not UTF-8, and no confident guess of its encoding)")
    return _decode_or_skip(data, detected)


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
    import charset_normalizer  # only files that are not UTF-8 need it

    matches = list(charset_normalizer.from_bytes(data, enable_fallback=False))
    if not matches:
        return None
    least_chaos = min(match.chaos for match in matches)
    if least_chaos > _MAX_CHAOS:
        return None
    best = [match.encoding for match in matches if match.chaos == least_chaos]
    # Many code pages decode Western text equally cleanly; the most common one is the best bet.
    return "cp1252" if "cp1252" in best else best[0]
