"""Why a file could not be read, in words its owner can act on, from the error a library raised.

A parsing library reports a bad file in its own terms: ``TypeError: 'NoneType' object is not
iterable`` when lxml refused a part it could not parse, ``XPathEvalError: unknown error`` when a
query met a tree it could not walk. ``plain_reason`` says instead what is wrong with the file, and
keeps the library's message in brackets for whoever looks deeper.
"""

from __future__ import annotations

import csv
import re
import zipfile

_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)
_HEAD_BYTES = 65_536  # an internal DTD comes before the first element
_XML_PARTS = (".xml", ".xhtml", ".html", ".htm", ".opf", ".ncx", ".rels")


def plain_reason(error: BaseException, archive: zipfile.ZipFile | None = None) -> str:
    """What ``error``, raised while reading a file, says is wrong with it; ``archive`` is the file
    opened as a ZIP archive, for an Office file or e-book, whose XML parts are then looked at."""
    detail = _shortened(f"{type(error).__name__}: {error}")
    if archive is not None and _declares_entities(archive):
        return f"its XML defines entities that would expand into far more text than can be read ({detail})"
    name = type(error).__name__
    text = str(error)
    if isinstance(error, csv.Error) and "field limit" in text:
        return (
            f"a field runs on past {csv.field_size_limit():,} characters, most likely from a quotation mark"
            f" that is never closed ({detail})"
        )
    if "amplification" in text or ("entity" in text.lower() and name == "XMLSyntaxError"):
        return f"its XML defines entities that would expand into far more text than can be read ({detail})"
    if "Excessive depth" in text or name == "RecursionError":
        return f"its content is nested too deeply to be read ({detail})"
    if name == "XMLSyntaxError":
        return f"its XML is malformed ({detail})"
    if name.startswith("XPath") or (name in {"TypeError", "AttributeError"} and "NoneType" in text):
        return f"a part of it is missing or its XML is malformed ({detail})"
    return detail


def _shortened(detail: str, limit: int = 300) -> str:
    """``detail`` on one line, cut past ``limit`` characters."""
    detail = " ".join(detail.split())
    return detail if len(detail) <= limit else detail[: limit - 1] + "…"


def _declares_entities(archive: zipfile.ZipFile) -> bool:
    """Whether an XML part of ``archive`` declares entities (a DTD of its own, which no Office file needs)."""
    for member in archive.infolist():
        if not member.filename.lower().endswith(_XML_PARTS):
            continue
        try:
            with archive.open(member) as part:
                head = part.read(_HEAD_BYTES)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
            continue
        if _ENTITY.search(head):
            return True
    return False
