"""Files built to take the machine's memory, each indexed by ``docqa index`` beside the shipped articles.

For each case, a corpus of the shipped articles and one hostile file (all under the 20 MB size limit)
is indexed with ``docqa index --embedding-model none --json``, and recorded: the exit status, what
was added and the hostile file's skip reason, the wall time, the peak resident size of the whole
process tree (``docqa index`` and every process under it, sampled every 20 ms from /proc), and the
processes of the tree still alive 2 s after they left it (a killed worker's programs) or after the
run exited. The cases:

- ``.epub``, ``.pptx``, ``.docx``, ``.odt`` whose main part unpacks to just under 512 MB of tiny
  elements (the unpacked-size limit) — parsed, they take gigabytes;
- ``.html`` of 19 MB of tiny tags;
- scanned ``.pdf`` whose one page is 20,000 pixels square at 300 dpi (4,800 points), and one of
  14,400 points square (the largest page PDF allows);
- ``.docx`` whose main part is packed with bzip2 (and one with LZMA) and declares 1,000 bytes where
  it unpacks to 2 GB.

Targets (issue "Hostile files get bounded memory too"): every case skipped with a clear reason, the
articles indexed, exit status 0, peak RSS of the tree at most 1.5 GB, no process left 2 s after.

``--serve`` drops the same files, one at a time, into the folder that a running ``app.py`` (lexical
mode) watches, while 16 clients ask the seed questions without pause; each bomb is followed by a
plain file, whose appearance in the index says that the update that read the bomb is over. Recorded:
the peak resident size of the app's process tree while each file is read, processes that outlive
it, whether the bomb stayed out of the index, and every question's error (results/memory_bombs_serve).

    python benchmarks/memory_bombs.py            # a few minutes; results/memory_bombs.json and .md
    python benchmarks/memory_bombs.py --serve    # the same through the served app
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from format_files import docx_bytes, epub_bytes, odt_bytes, pptx_bytes  # noqa: E402  (not a package)
from hostile_files import lying_archive, swollen_archive, tiny_tags_html  # noqa: E402
from pdfs import pdf_file  # noqa: E402

from docqa.documents.resident import Process  # noqa: E402
from docqa.documents.resident import processes as running  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SAMPLE_S = 0.02
GONE_S = 2.0
MAX_TREE_RSS = int(1.5 * 2**30)
UNPACKED = 500 * 2**20  # just under the 512 MB that an archive's parts may unpack to
RUN_LIMIT_S = 600


def scanned_pdf(points: float, pixels: int) -> bytes:
    """A PDF of one ``points``-square page covered by a white ``pixels``-square grey image (deflated)."""
    compressor = zlib.compressobj(9)
    row = b"\xff" * pixels
    packed = b"".join(compressor.compress(row) for _ in range(pixels)) + compressor.flush()
    image = (
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 "
        b"/Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream" % (pixels, pixels, len(packed), packed)
    )
    content = b"q %g 0 0 %g 0 0 cm /Im1 Do Q" % (points, points)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %g %g] /Resources << /XObject << /Im1 4 0 R >> >> "
        b"/Contents 5 0 R >>" % (points, points),
        image,
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
    ]
    return pdf_file(objects)


def cases(quick: bool) -> dict[str, Any]:
    """Name -> a function that builds the file; ``quick`` builds smaller files (for a trial run)."""
    size = UNPACKED // 8 if quick else UNPACKED
    lie = 2**27 if quick else 2047 * 2**20  # under 2 GB: no ZIP64 fields to declare the lie in
    text = "A plain paragraph of words."
    return {
        "swollen.epub": lambda: swollen_archive(epub_bytes([("Chapter", text)]), "chapter1.xhtml", size),
        "swollen.pptx": lambda: swollen_archive(pptx_bytes([("Title", text)]), "slide1.xml", size),
        "swollen.docx": lambda: swollen_archive(docx_bytes([("Normal", text)]), "word/document.xml", size),
        "swollen.odt": lambda: swollen_archive(
            odt_bytes([(0, text)]), "content.xml", size, b"<text:p>x</text:p>", b"</office:text>"
        ),
        "tiny-tags.html": lambda: tiny_tags_html(19 * 2**20),
        "scan-20000px.pdf": lambda: scanned_pdf(4800, 20_000 if not quick else 5000),
        "scan-14400pt.pdf": lambda: scanned_pdf(14_400, 2000),
        "bzip2-liar.docx": lambda: lying_archive(
            docx_bytes([("Normal", text)]), "word/document.xml", lie, zipfile.ZIP_BZIP2
        ),
        "lzma-liar.docx": lambda: lying_archive(
            docx_bytes([("Normal", text)]), "word/document.xml", lie // 4, zipfile.ZIP_LZMA
        ),
        "control.txt": lambda: b"Nothing hostile: the ferry leaves at noon.\n",
    }


# ----- the process tree ----------------------------------------------------------------------


def _tree(root: int, processes: dict[int, Process]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, process in processes.items():
        children.setdefault(process.parent, []).append(pid)
    tree, pending = set(), [root]
    while pending:
        pid = pending.pop()
        if pid in processes and pid not in tree:
            tree.add(pid)
            pending += children.get(pid, [])
    return tree


def run_case(corpus: Path, index: Path) -> dict[str, Any]:
    """Index ``corpus`` with ``docqa index`` while measuring its process tree."""
    command = [sys.executable, "-m", "docqa.cli", "index", "--corpus", str(corpus), "--index", str(index)]
    command += ["--embedding-model", "none", "--json"]
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: set[int] = set()
    outside: dict[int, float] = {}  # pid -> when it was first seen alive outside the tree
    lingered: set[int] = set()
    peak = 0
    while process.poll() is None:
        processes = running()
        tree = _tree(process.pid, processes)
        seen |= tree
        peak = max(peak, sum(processes[pid].resident for pid in tree))
        now = time.monotonic()
        for pid in seen - tree:
            if pid in processes and processes[pid].state != "Z":
                outside.setdefault(pid, now)
                if now - outside[pid] > GONE_S:
                    lingered.add(pid)
        if now - started > RUN_LIMIT_S:
            process.kill()
        time.sleep(SAMPLE_S)
    out, err = process.communicate()
    wall = time.monotonic() - started
    time.sleep(GONE_S)
    processes = running()
    left = sorted(pid for pid in seen if pid in processes and processes[pid].state != "Z" and pid != process.pid)
    try:
        report = json.loads(out)
    except json.JSONDecodeError:
        report = {}
    return {
        "exit_status": process.returncode,
        "wall_s": round(wall, 1),
        "peak_tree_rss_mib": round(peak / 2**20),
        "processes_in_tree": len(seen),
        "lingered_2s_after_leaving_tree": sorted(lingered),
        "alive_2s_after_exit": left,
        "added": report.get("added", []),
        "skipped": report.get("skipped", {}),
        "stderr_tail": err[-300:] if process.returncode else "",
    }


def serve_run(folder: Path, quick: bool, only: list[str] | None, clients: int = 16) -> dict[str, Any]:
    """The bombs dropped, one at a time, into the folder that the served app watches, while ``clients`` ask."""
    import threading

    from adversarial import SEED, App
    from load_test import ask, connect

    corpus = folder / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    app = App(folder)
    app.start()
    assert app.process is not None
    stop = threading.Event()
    answers: list[tuple[float, str | None]] = []  # (seconds, error)

    def asker(number: int) -> None:
        client = connect(app.url)
        turn = number
        while not stop.is_set():
            question = SEED["questions"][turn % len(SEED["questions"])]["q"]
            turn += 1
            started = time.monotonic()
            try:
                ask(client, question, 60.0)
                answers.append((time.monotonic() - started, None))
            except Exception as error:  # every failure is a result here
                answers.append((time.monotonic() - started, repr(error)[:200]))
        client.close()

    threads = [threading.Thread(target=asker, args=(number,), daemon=True) for number in range(clients)]
    for thread in threads:
        thread.start()
    results: dict[str, Any] = {}
    try:
        for name, build in cases(quick).items():
            if (only and name not in only) or name == "control.txt":
                continue
            data = build()
            (corpus / name).write_bytes(data)
            results[name] = _watch_app(app.process.pid, folder / "index" / "index.sqlite", corpus, name)
            results[name]["file_bytes"] = len(data)
            print(f"{name}: {json.dumps(results[name])}", file=sys.stderr, flush=True)
    finally:
        stop.set()
        for thread in threads:
            thread.join(70)
        app.stop()
    errors = [error for _, error in answers if error]
    seconds = sorted(duration for duration, _ in answers)
    return {
        "clients": clients,
        "questions": len(answers),
        "errors": len(errors),
        "first_errors": errors[:5],
        "p50_s": round(seconds[len(seconds) // 2], 2) if seconds else None,
        "max_s": round(seconds[-1], 2) if seconds else None,
        "cases": results,
    }


def _indexed(database: Path) -> set[str]:
    """The sources committed to the embedded store's database, read without writing to it."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1)) as db:
            return {source for (source,) in db.execute("SELECT source FROM documents")}
    except sqlite3.Error:  # not made yet, or being written: read it at the next sample
        return set()


def _watch_app(app: int, database: Path, corpus: Path, bomb: str) -> dict[str, Any]:
    """Sample the app's process tree from when ``bomb`` was put in ``corpus``, put a plain file after it a
    second later, until that file is in the index; then wait for what left the tree."""
    marker = f"after-{bomb}.txt"
    started = time.monotonic()
    seen: set[int] = set()
    peak = 0
    stored: set[str] = set()
    while time.monotonic() - started < RUN_LIMIT_S:
        processes = running()
        tree = _tree(app, processes)
        seen |= tree
        peak = max(peak, sum(processes[pid].resident for pid in tree))
        if not (corpus / marker).exists() and time.monotonic() - started > 1.0:
            (corpus / marker).write_text(f"The {bomb} file was followed by this one.\n")
        stored = _indexed(database)
        if marker in stored:
            break
        time.sleep(0.05)
    time.sleep(GONE_S)
    processes = running()
    tree = _tree(app, processes)
    left = sorted(pid for pid in seen - tree if pid in processes and processes[pid].state != "Z")
    return {
        "seconds": round(time.monotonic() - started - GONE_S, 1),
        "marker_indexed": marker in stored,
        "bomb_indexed": bomb in stored,
        "peak_tree_rss_mib": round(peak / 2**20),
        "outside_the_tree_2s_after": left,
    }


def verdict(name: str, result: dict[str, Any], articles: list[str]) -> list[str]:
    problems = []
    if result["exit_status"] != 0:
        problems.append(f"exit status {result['exit_status']}")
    if sorted(result["added"]) != sorted(articles + (["control.txt"] if name == "control.txt" else [])):
        problems.append(f"added {result['added']}")
    if name != "control.txt" and not result["skipped"].get(name):
        problems.append("not skipped")
    if result["peak_tree_rss_mib"] * 2**20 > MAX_TREE_RSS:
        problems.append(f"peak RSS {result['peak_tree_rss_mib']} MiB")
    if result["lingered_2s_after_leaving_tree"] or result["alive_2s_after_exit"]:
        problems.append("processes left behind")
    return problems


def markdown(record: dict[str, Any]) -> str:
    lines = [
        "# Memory bombs through `docqa index`",
        "",
        f"{record['when']}, {record['machine']}; each run: the {len(record['articles'])} shipped articles and one "
        "hostile file, `docqa index --embedding-model none --json`, default budgets "
        f"(memory {record['memory_budget']}, time 60 s a file, {record['workers']} workers).",
        "",
        "| file | size | exit | wall s | peak RSS of the tree | left 2 s after | skip reason | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, result in record["cases"].items():
        left = len(result["lingered_2s_after_leaving_tree"]) + len(result["alive_2s_after_exit"])
        reason = result["skipped"].get(name, "(indexed)")
        verdict_text = "; ".join(result["problems"]) or "ok"
        lines.append(
            f"| `{name}` | {result['file_bytes'] / 2**20:.2f} MB | {result['exit_status']} | {result['wall_s']} | "
            f"{result['peak_tree_rss_mib']} MiB | {left} | {reason} | {verdict_text} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller files, for a trial run")
    parser.add_argument("--only", nargs="*", help="the cases to run (default: all)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for memory_bombs.json and .md")
    parser.add_argument("--serve", action="store_true", help="through the served app's watched folder")
    options = parser.parse_args(argv)
    if options.serve:
        with tempfile.TemporaryDirectory(prefix="docqa-bombs-serve-") as folder:
            served = serve_run(Path(folder), options.quick, options.only)
        served["when"] = time.strftime("%Y-%m-%d %H:%M")
        served["machine"] = f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end"
        problems = [
            f"{name}: {result}"
            for name, result in served["cases"].items()
            if result["bomb_indexed"]
            or not result["marker_indexed"]
            or result["outside_the_tree_2s_after"]
            or result["peak_tree_rss_mib"] * 2**20 > MAX_TREE_RSS
        ]
        served["failures"] = problems + ([f"{served['errors']} questions failed"] if served["errors"] else [])
        options.out.mkdir(parents=True, exist_ok=True)
        suffix = "_quick" if options.quick else ""
        (options.out / f"memory_bombs_serve{suffix}.json").write_text(json.dumps(served, indent=2) + "\n")
        print(json.dumps(served, indent=2))
        return 1 if served["failures"] else 0
    articles = sorted(path.name for path in (ROOT / "corpus").iterdir() if path.is_file())
    record: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start",
        "memory_budget": "1 GB",
        "workers": int(os.environ.get("DOCQA_PARSE_WORKERS") or 0) or os.cpu_count(),
        "articles": articles,
        "quick": options.quick,
        "cases": {},
    }
    with tempfile.TemporaryDirectory(prefix="docqa-bombs-") as folder:
        for name, build in cases(options.quick).items():
            if options.only and name not in options.only:
                continue
            corpus = Path(folder) / "corpus"
            shutil.rmtree(corpus, ignore_errors=True)
            shutil.copytree(ROOT / "corpus", corpus)
            data = build()
            (corpus / name).write_bytes(data)
            result = run_case(corpus, Path(folder) / f"index-{name}")
            result["file_bytes"] = len(data)
            result["problems"] = verdict(name, result, articles)
            record["cases"][name] = result
            print(f"{name}: {json.dumps(result)}", file=sys.stderr, flush=True)
    failures = {name: result["problems"] for name, result in record["cases"].items() if result["problems"]}
    record["failures"] = failures
    options.out.mkdir(parents=True, exist_ok=True)
    suffix = "_quick" if options.quick else ""
    (options.out / f"memory_bombs{suffix}.json").write_text(json.dumps(record, indent=2) + "\n")
    (options.out / f"memory_bombs{suffix}.md").write_text(markdown(record))
    print(markdown(record))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
