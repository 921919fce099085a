"""How long a scan of the corpus folder takes when nothing changed: the part of every update (and
of every saved file's way to an answer) that grows with the number of files, not with what changed.

Writes ``--files`` small text files in 100 folders of a temporary folder, scans it once to learn
the hashes (``KnownHashes``, as the assistant keeps them between updates), then times ``--runs``
scans that find every file unchanged.

    python benchmarks/bench_scan.py                # 10,000 files
    python benchmarks/bench_scan.py --files 50000

Results: benchmarks/results/scan.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, log, write_record

from docqa.documents.loading import KnownHashes, scan_corpus


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "scan.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        corpus = Path(work) / "corpus"
        for number in range(args.files):
            folder = corpus / f"folder-{number % 100:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"note-{number:06d}.txt").write_text(f"Note {number}: nothing changed here.\n", "utf-8")
        known = KnownHashes()
        began = time.perf_counter()
        files, _ = scan_corpus(corpus, known=known)
        first = time.perf_counter() - began
        seconds = []
        for _ in range(args.runs):
            began = time.perf_counter()
            scan_corpus(corpus, known=known)
            seconds.append(time.perf_counter() - began)
    record = {
        "files": len(files),
        "first_scan_s": first,
        "unchanged_scan_s": {"median": statistics.median(seconds), "best": min(seconds)},
    }
    log(f"{len(files)} files: first scan {first:.2f} s, unchanged {record['unchanged_scan_s']}")
    write_record(args.out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
