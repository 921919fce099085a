"""Write a corpus of 1,000 small files, a quarter each PDF, HTML, Markdown and text, for timing
`docqa index` on a corpus that has not changed: `python benchmarks/make_mixed_corpus.py DIR`.

The words come from the shipped corpus; the PDFs are written by the tests' minimal PDF writer.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pdfs import pdf_bytes  # noqa: E402  (the tests' folder is not a package)

FILES = 1000
WORDS_PER_FILE = 250


def main(folder: Path) -> None:
    source = (ROOT / "corpus" / "000_2d648d3e95dec044.txt").read_text(encoding="utf-8")
    words = source.encode("latin-1", "ignore").decode("latin-1").split()  # Helvetica in the PDFs is Latin-1
    chooser = random.Random(1)
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(FILES):
        start = chooser.randrange(0, len(words) - WORDS_PER_FILE - 50)
        body = " ".join(words[start : start + WORDS_PER_FILE])
        name = folder / f"doc{number:04d}"
        if number % 4 == 0:
            lines = [" ".join(words[start + 12 * i : start + 12 * i + 12]) for i in range(20)]
            name.with_suffix(".pdf").write_bytes(pdf_bytes([lines[:10], lines[10:]]))
        elif number % 4 == 1:
            page = f"<html><head><title>Doc {number}</title></head><body><p>{body}</p></body></html>"
            name.with_suffix(".html").write_text(page, encoding="utf-8")
        elif number % 4 == 2:
            name.with_suffix(".md").write_text(f"# Doc {number}\n\n{body}\n", encoding="utf-8")
        else:
            name.with_suffix(".txt").write_text(f"Document {number}\n\n{body}\n", encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python benchmarks/make_mixed_corpus.py DIR")
    main(Path(sys.argv[1]))
