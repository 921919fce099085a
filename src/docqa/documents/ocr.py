"""Text for PDF pages that have none: the page rendered as an image (pypdfium2), read by Tesseract.

Tesseract is a program of its own, from the system's packages (``apt-get install tesseract-ocr``);
pytesseract runs it and pypdfium2 renders the pages (both in the ``formats`` extra). Each page read
moves a progress bar on the terminal, since a page takes a second or more.

A page is sized before it is rendered: one over ``MAX_OCR_PIXELS`` at ``DPI`` is rendered at a lower
resolution, and one that would still be over it at ``MIN_OCR_DPI`` is not read, with the reason, so
that a page of 200 by 200 inches cannot take gigabytes of memory in the renderer and in Tesseract.
"""

from __future__ import annotations

import math
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from docqa.documents.common import FORMATS_EXTRA, UnreadableFile
from docqa.documents.limits import MAX_OCR_PIXELS, MIN_OCR_DPI, PARSE_SECONDS

DPI = 300  # Tesseract reads print best at 300 dots an inch
LANGUAGE = "eng"
INSTALL = f"install Tesseract (apt-get install tesseract-ocr) and {FORMATS_EXTRA}"
# OCR stops short of the file's reading budget, so that a long scan is skipped for what it is (and
# not read again while unchanged), rather than stopped with the worker as if it had hung.
OCR_SECONDS = 0.8 * PARSE_SECONDS


def ocr_problem() -> str | None:
    """Why pages cannot be read by OCR here, with what to install; None when they can."""
    try:
        import pypdfium2  # noqa: F401
        import pytesseract  # noqa: F401
    except ImportError:
        return f"no OCR engine: {INSTALL}"
    if shutil.which("tesseract") is None:
        return f"no OCR engine (the tesseract program is not installed): {INSTALL}"
    return None


def render_scale(width: float, height: float) -> float | None:
    """Pixels a point at which to render a page of ``width`` by ``height`` points for OCR: ``DPI``, or
    less for a page that would have more than ``MAX_OCR_PIXELS`` pixels; None when even ``MIN_OCR_DPI``
    would give more."""
    scale = min(DPI / 72, math.sqrt(MAX_OCR_PIXELS / max(width * height, 1e-9)))
    return scale if scale >= MIN_OCR_DPI / 72 else None


def too_large(number: int, width: float, height: float) -> str:
    """Why page ``number`` (from 1), of ``width`` by ``height`` points, is not read by OCR."""
    return (
        f"page {number} is too large to read by OCR ({width:,.0f} \u00d7 {height:,.0f} points: more than "
        f"{MAX_OCR_PIXELS / 1e6:g} million pixels even at {MIN_OCR_DPI} dpi)"
    )


def laid_out(words: dict[str, list[Any]]) -> str:
    """The text of Tesseract's words (``image_to_data`` as a dict) with each line where it stands on
    the page, as a PDF's text layer is read: a word at the column of its left edge (in characters of
    the page's typical width), a blank line for a gap of a line or more; so the cells of a table
    keep their columns (amounts aligned right under their heading too) for the PDF reader to read
    as rows. A page set in columns of running text is read column by column instead, in
    Tesseract's own order of blocks, paragraphs and lines."""
    from docqa.documents.pdf_text import in_columns_of_prose

    lines: dict[tuple[int, int, int], list[tuple[int, int, int, int, str]]] = {}
    for index, text in enumerate(words["text"]):
        if str(text).strip():
            key = (words["block_num"][index], words["par_num"][index], words["line_num"][index])
            box = (words["left"][index], words["top"][index], words["width"][index], words["height"][index])
            lines.setdefault(key, []).append((*box, str(text).strip()))
    if not lines:
        return ""
    found = [word for line in lines.values() for word in line]
    char = max(statistics.median(word[2] / len(word[4]) for word in found), 1.0)
    height = statistics.median(word[3] for word in found)
    paragraphs: dict[tuple[int, int], list[str]] = {}
    for key, line in lines.items():
        paragraphs.setdefault(key[:2], []).append(" ".join(word[4] for word in sorted(line)))
    in_order = "\n\n".join("\n".join(paragraph) for paragraph in paragraphs.values())
    rows: list[str] = []
    bottom: int | None = None
    for line in sorted(lines.values(), key=lambda line: min(word[1] for word in line)):
        top = min(word[1] for word in line)
        if bottom is not None and top - bottom > height:
            rows.append("")
        row = ""
        for left, _, _, _, text in sorted(line):
            row += " " * max(1 if row else 0, round(left / char) - len(row)) + text
        rows.append(row)
        bottom = max(word[1] + word[3] for word in line)
    page = "\n".join(rows)
    return in_order if in_columns_of_prose(page) else page


def ocr_pages(
    data: bytes,
    indexes: Sequence[int],
    check: Callable[[int, str], None] | None = None,
    refused: dict[int, str] | None = None,
) -> dict[int, str]:
    """The text that OCR reads on the pages at ``indexes`` (0-based) of the PDF in ``data``; ``check``
    sees each page's index and text as they come (to hold them to a budget, by raising). A page too
    large to render is left out, and why is put in ``refused`` under its index. Raises
    ``UnreadableFile`` as soon as the pages read so far say that all of them would take longer than
    ``OCR_SECONDS``."""
    import pypdfium2
    import pytesseract
    from tqdm import tqdm

    texts: dict[int, str] = {}
    started = time.monotonic()
    document = pypdfium2.PdfDocument(data)
    try:
        with tqdm(indexes, desc="OCR", unit="page", file=sys.stderr, leave=False, disable=None) as pages:
            for index in pages:
                if texts and time.monotonic() - started > OCR_SECONDS * len(texts) / len(indexes):
                    raise UnreadableFile(
                        f"OCR of its {len(indexes)} scanned pages would take longer than {PARSE_SECONDS:g} s, the "
                        f"limit for one file ({len(texts)} read in {time.monotonic() - started:.0f} s)"
                    )
                page = document[index]
                width, height = page.get_size()
                scale = render_scale(width, height)
                if scale is None:
                    if refused is not None:
                        refused[index] = too_large(index + 1, width, height)
                    continue
                image = page.render(scale=scale).to_pil()
                words = pytesseract.image_to_data(image, lang=LANGUAGE, output_type=pytesseract.Output.DICT)
                texts[index] = laid_out(words)
                if check is not None:
                    check(index, texts[index])
    finally:
        document.close()
    return texts
