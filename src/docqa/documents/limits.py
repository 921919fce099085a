"""How much work one file may cost: its size, the text it may yield, the time and memory it may take to read.

A file over any of these is skipped with the reason, and the other files are indexed as usual.
Reading and splitting a file run in a worker process (:mod:`docqa.documents.worker`), which is
stopped with every process it started when a file takes longer than ``PARSE_SECONDS`` to read or
``SPLIT_SECONDS`` to split into passages, or more memory than ``MEMORY_BYTES``, so no file can hold
up the process that answers questions or take the machine's memory.
"""

from __future__ import annotations

# Splitting text into sentences takes about 4 µs a character, so 20 MB of text already takes a
# minute and a half to index: larger files are skipped, and so are files with more text than this.
MAX_FILE_BYTES = 20 * 2**20
# The text of one file, in characters. Text, Markdown and HTML never hold more characters than
# bytes; a compressed PDF can, so its extraction stops as soon as it passes this.
MAX_TEXT_CHARS = MAX_FILE_BYTES
# The text of one PDF page, in characters. A dense page of small print holds about 10,000; a page
# far over that is a content stream built to cost time (one stream of text operators can be shown
# by many pages), and extraction stops there.
MAX_PAGE_CHARS = 100_000
# Wall-clock seconds to read one file in the worker process before it is stopped.
PARSE_SECONDS = 60.0
# Wall-clock seconds to split the text of one file into passages there: MAX_TEXT_CHARS of text
# take about a minute and a half on a busy machine.
SPLIT_SECONDS = 300.0
# Memory of one worker process while it reads or splits a file (its data size, limited by the
# system, and the resident size of every process it started), parsers' libraries included (about
# 150 MB once all are loaded). Settings.parse_memory_mb changes it.
MEMORY_BYTES = 2**30
# The pixels of one page rendered for OCR: 40 million is an A2 page at 300 dots an inch, and such a
# page of noise took the worker and Tesseract to 720 MB together, within MEMORY_BYTES. A larger page
# is rendered at a lower resolution, down to MIN_OCR_DPI; one that would need less is not read.
MAX_OCR_PIXELS = 40_000_000
MIN_OCR_DPI = 100


def size_label(size: int) -> str:
    """``size`` bytes as people say it: "1 GB", "20 MB", "512 bytes"."""
    if size >= 2**30 and size % 2**28 == 0:
        return f"{size / 2**30:g} GB"
    if size >= 2**20:
        return f"{size / 2**20:g} MB"
    return f"{size} bytes"
