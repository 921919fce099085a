"""Text for PDF pages that have none: the page rendered as an image (pypdfium2), read by Tesseract.

Tesseract is a program of its own, from the system's packages (``apt-get install tesseract-ocr``);
pytesseract runs it and pypdfium2 renders the pages (both in the ``formats`` extra). Each page read
moves a progress bar on the terminal, since a page takes a second or more.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Sequence

from docqa.documents.common import FORMATS_EXTRA, UnreadableFile
from docqa.documents.limits import PARSE_SECONDS

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


def ocr_pages(data: bytes, indexes: Sequence[int], check: Callable[[int, str], None] | None = None) -> dict[int, str]:
    """The text that OCR reads on the pages at ``indexes`` (0-based) of the PDF in ``data``; ``check``
    sees each page's index and text as they come (to hold them to a budget, by raising). Raises
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
                image = document[index].render(scale=DPI / 72).to_pil()
                texts[index] = pytesseract.image_to_string(image, lang=LANGUAGE)
                if check is not None:
                    check(index, texts[index])
    finally:
        document.close()
    return texts
