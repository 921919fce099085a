"""Hostile files against the running app, with questions through ``/ask`` all the while.

Starts ``app.py`` in the lexical mode on a free port of 127.0.0.1 over a copy of the corpus, with
two client threads asking the seed questions without pause and a third fetching ``GET /`` every
second, in three phases:

1. steady: 20 s of that traffic alone, the control for what the machine allows;
2. uploads: headless Chromium adds each hostile file through the Documents tab, one at a time,
   as a person would (the upload button is a browser event, not an API endpoint): 200,000 dots on
   one line, a 3 KB PDF whose one deflated stream of 200,000 text operators is shown by 4 pages,
   a name that NFKC makes 304 bytes long, a 1 MB line of words without a sentence stop, text
   with binary past its first 8 KB, a workbook whose recorded dimension (A1:B2) hides 98 of its
   rows, a Word file of 70,000 paragraphs, an e-book whose package is an entity bomb, a CSV file
   with a quotation mark never closed, and then a batch of two files, one over the size limit
   (``--no-browser`` copies the single files into the corpus instead);
3. restart: copies of the hostile files are put in the corpus folder and the app is started again
   on the same index, which it brings up to date while it serves.

Then, beside the app: one-line uploads while three files over their (lowered) time budget are in
the folder, which must not be read again; 300 wrong passwords against the app served with a login,
which must be slowed down; and ``docqa annotations export`` over a hostile ``annotations.jsonl``,
which must skip its bad lines without a traceback and leave the file as it was.

Recorded: every request's latency (a freeze is a reply, question or page, over 2 s; each client's
first request after a start is shown apart), errors, whether each answer cites the file that
holds it, the app's exits, each upload's message, and the files: every added file in the corpus
folder with the bytes uploaded, nothing empty, nothing left in Gradio's upload folder, and the
hostile files' own questions answered from them, and why files were skipped. Results go to
``results/adversarial.json`` and ``results/adversarial.md``; the exit status is 1 on a freeze, a
crash, an error of the app, a wrong citation, a lost or misplaced file, or a failed check beside it.

``--memory-bombs`` then runs ``memory_bombs.py``: files built to take gigabytes of memory (archives
that swell or lie about their size, tiny tags, pages too large to render), each indexed by ``docqa
index`` beside the shipped articles, with the peak resident size of its process tree and the
processes left behind (``results/memory_bombs.json`` and ``.md``).

    python benchmarks/adversarial.py            # about 3 minutes on 2 cores
    python benchmarks/adversarial.py --memory-bombs   # and 2 minutes more
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from load_test import ask, connect, free_port

from docqa.documents.limits import MAX_FILE_BYTES
from docqa.stats import percentile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the PDF writer the tests use

from pdfs import pdf_file  # noqa: E402  (not a package)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SEED = json.loads((ROOT / "tests" / "seed_examples.json").read_text(encoding="utf-8"))
HOST = "127.0.0.1"
FREEZE_S = 2.0
REQUEST_TIMEOUT_S = 60.0
START_TIMEOUT_S = 180.0
UPLOAD_TIMEOUT_MS = 120_000
STEADY_S = 20.0
# gradio_client cancels a request whose event stream the server closed: a transport failure,
# counted apart from the app's own errors.
DROPPED = "CancelledError"
CHROMIUM = Path("/usr/bin/chromium")
NFKC_NAME = "\u337f" * 25 + ".txt"  # 79 bytes; NFKC turns each character into four, 304 bytes in all
NFKC_SAVED_PREFIX = "\u682a\u5f0f\u4f1a\u793e"


# ----- the hostile files ---------------------------------------------------------------------


def pdf_bomb(pages: int = 4, operators: int = 200_000, text: str = "x") -> bytes:
    """A PDF whose every page shows one deflated content stream of ``operators`` text operators,
    each pair a line of ``text``."""
    shown = " ".join([f"({text}) Tj T*"] * (operators // 2))
    stream = zlib.compress(f"BT /F1 12 Tf 14 TL 72 720 Td {shown} ET".encode(), 9)
    first_page = 5
    kids = " ".join(f"{first_page + number} 0 R" for number in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
    objects += [page + b"/Contents 4 0 R >>"] * pages
    return pdf_file(objects)


def one_line_of_words(marker: str, size: int = 2**20) -> bytes:
    """``size`` bytes of made-up words on one line, without a sentence stop, with ``marker`` halfway.

    The words share nothing with the corpus, so that they cannot outrank its passages.
    """
    generator = random.Random(15)
    syllables = ["ka", "lo", "mi", "ren", "tu", "vash", "ol", "prin", "sed", "quo", "zha", "bel"]
    words = ["".join(generator.choice(syllables) for _ in range(generator.randint(2, 4))) for _ in range(size // 6)]
    line = " ".join(words)
    return (line[: size // 2] + f" {marker} " + line[size // 2 :])[:size].encode()


def rezipped(data: bytes, change: dict[str, Any]) -> bytes:
    """The ZIP archive ``data`` with each part named in ``change`` rewritten by its function."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            part = source.read(name)
            target.writestr(name, change[name](part) if name in change else part)
    return out.getvalue()


def saved(document: Any) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def understated_xlsx(fact: str) -> bytes:
    """100 rows, ``fact`` in row 50, under a sheet dimension that says A1:B2 (as some writers leave it)."""
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Row", "Note"])
    for number in range(1, 100):
        sheet.append([number, fact if number == 50 else f"routine entry {number}"])
    return rezipped(
        saved(workbook),
        {"xl/worksheets/sheet1.xml": lambda part: re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:B2"', part)},
    )


def long_docx(fact: str, paragraphs: int = 70_000) -> bytes:
    """A Word document of ``paragraphs`` short paragraphs (about 225 KB), ``fact`` among the last."""
    import docx

    document = docx.Document()
    document.add_heading("Long register", level=1)

    def body(part: bytes) -> bytes:
        many = "".join(f"<w:p><w:r><w:t>Entry {n} of the register.</w:t></w:r></w:p>" for n in range(paragraphs))
        many += f"<w:p><w:r><w:t>{fact}.</w:t></w:r></w:p>"
        return part.replace(b"</w:p>", b"</w:p>" + many.encode(), 1)

    return rezipped(saved(document), {"word/document.xml": body})


def entity_bomb_epub() -> bytes:
    """An e-book whose package document defines nine levels of entities, each ten of the one below."""
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("bomb")
    book.set_title("A book")
    book.set_language("en")
    chapter = epub.EpubHtml(title="One", file_name="one.xhtml", lang="en")
    chapter.content = "<h1>One</h1><p>The only chapter.</p>"
    book.add_item(chapter)
    book.toc = [chapter]
    book.spine = ["nav", chapter]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    buffer = io.BytesIO()
    epub.write_epub(buffer, book)
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{level} "' + f"&lol{level - 1};" * 10 + '">' for level in range(1, 10)
    )

    def bomb(part: bytes) -> bytes:
        declaration, rest = part.split(b"?>", 1)
        rest = re.sub(rb"(<dc:title[^>]*>)", rb"\1&lol9;", rest, count=1)
        return declaration + b"?>" + f"<!DOCTYPE package [{entities}]>".encode() + rest

    return rezipped(buffer.getvalue(), {"EPUB/content.opf": bomb})


def unclosed_quote_csv() -> bytes:
    """A CSV file whose second row opens a quotation mark that never closes, 150,000 characters long."""
    return b'name,notes\nOne,"an opening quote that never closes ' + b"word " * 30_000 + b"\nTwo,short\n"


@dataclass(frozen=True)
class Hostile:
    name: str
    data: bytes
    added: bool  # the upload is saved (False: it is rejected)
    question: str | None = None  # a question only this file answers, once indexed
    saved_prefix: str = ""  # what the saved name starts with, when it differs from ``name``


def hostile_files(suffix: str = "") -> list[Hostile]:
    """The hostile files; those with a ``suffix`` are copies that hold other facts of their own."""
    marker = "Ottoline Brisk counted the herons" if not suffix else "Tamsin Vole weighed the lanterns"
    question = "Who counted the herons?" if not suffix else "Who weighed the lanterns?"
    founded = "ferry company" if not suffix else "lantern guild"
    return [
        Hostile(f"dots{suffix}.txt", b"." * 200_000, True),
        Hostile(f"bomb{suffix}.pdf", pdf_bomb(), True),
        Hostile(f"one-line{suffix}.txt", one_line_of_words(marker), True, question),
        Hostile(
            NFKC_NAME if not suffix else "\u337f" * 24 + f"{suffix}.txt",
            f"The Varnholm {founded} was founded by Ines Tarrow.\n".encode(),
            True,
            f"Who founded the Varnholm {founded}?",
            NFKC_SAVED_PREFIX,
        ),
        Hostile(f"late-binary{suffix}.txt", b"Plain words for a while. " * 400 + b"\x00\x01binary", False),
        Hostile(
            f"understated{suffix}.xlsx",
            understated_xlsx("Wendel Parr mended the sluice gate" if not suffix else "Ilse Marrow tuned the bells"),
            True,
            "Who mended the sluice gate?" if not suffix else "Who tuned the bells?",
        ),
        Hostile(
            f"long{suffix}.docx",
            long_docx("Corvin Ashby painted the lighthouse" if not suffix else "Petra Quill drew the harbour map"),
            True,
            "Who painted the lighthouse?" if not suffix else "Who drew the harbour map?",
        ),
        Hostile(f"entity-bomb{suffix}.epub", entity_bomb_epub(), True),
        Hostile(f"unclosed-quote{suffix}.csv", unclosed_quote_csv(), True),
    ]


def upload_batch() -> list[Hostile]:
    """Two files uploaded as one batch, the first over the size limit: the second is added all the same."""
    return [
        Hostile("oversized.txt", b"x " * (MAX_FILE_BYTES // 2 + 1), False),
        Hostile(
            "beside-oversized.txt", b"Maren Holt rowed the mail boat to Skerry.\n", True, "Who rowed the mail boat?"
        ),
    ]


def hostile_annotations() -> bytes:
    """annotations.jsonl with one good correction (behind a byte order mark) among lines no reader
    should choke on: cut inside a character, lists where text belongs, 200,000-deep JSON, a 5,000-digit
    number, answers of the wrong type."""
    context = "The pump is fixed to the wall with four M8 bolts. Tighten them to 25 Nm."
    good = {
        "id": "good", "question": "How tight are the bolts?", "context": context, "is_impossible": False,
        "answers": [{"text": "25 Nm", "answer_start": context.index("25 Nm")}], "source": "manual.txt",
        "content_hash": "0" * 64, "conversation": "c", "turn": 0,
    }  # fmt: skip
    bad = [
        '{"question": "\u00e9'.encode()[:-1],
        json.dumps({**good, "turn": [1, 2]}).encode(),
        json.dumps({**good, "source": ["a"], "turn": 3}).encode(),
        json.dumps({**good, "id": {"x": 1}, "turn": 4}).encode(),
        b"[" * 200_000 + b"]" * 200_000,
        b'{"turn": ' + b"7" * 5000 + b"}",
        json.dumps({**good, "answers": "25 Nm", "turn": 5}).encode(),
    ]
    return b"\xef\xbb\xbf" + b"\n".join([json.dumps(good).encode(), *bad]) + b"\n"


# ----- the app and its clients ---------------------------------------------------------------


class App:
    """``app.py`` in a child process, lexical mode, on a free port of 127.0.0.1."""

    def __init__(self, work: Path, auth: tuple[str, str] | None = None) -> None:
        self.work, self.port = work, free_port()
        self.url = f"http://{HOST}:{self.port}/"
        self.env = {
            **os.environ,
            "GRADIO_ANALYTICS_ENABLED": "False",
            "HF_HUB_OFFLINE": "1",
            "GRADIO_TEMP_DIR": str(work / "gradio-uploads"),
        }
        for inherited in ("DOCQA_AUTH_USERNAME", "DOCQA_AUTH_PASSWORD", "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT"):
            self.env.pop(inherited, None)
        if auth is not None:
            self.env["DOCQA_AUTH_USERNAME"], self.env["DOCQA_AUTH_PASSWORD"] = auth
        self.process: subprocess.Popen[bytes] | None = None
        self.exits: list[int] = []  # exit codes of the app's processes that ended on their own

    def start(self) -> float:
        """Start the app; seconds until ``GET /`` answers."""
        command = [
            sys.executable,
            str(ROOT / "app.py"),
            "--corpus",
            str(self.work / "corpus"),
            "--index",
            str(self.work / "index"),
            "--embedding-model",
            "none",
            "--reader-model",
            "none",
            "--host",
            HOST,
            "--port",
            str(self.port),
        ]
        started = time.monotonic()
        with (self.work / "app.log").open("ab") as log:
            self.process = subprocess.Popen(command, cwd=self.work, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        while time.monotonic() - started < START_TIMEOUT_S:
            if self.process.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"app.py did not answer within {START_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is not None:
            self.exits.append(self.process.returncode)
        else:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def log_tail(self, characters: int = 3000) -> str:
        return (self.work / "app.log").read_text(encoding="utf-8", errors="replace")[-characters:]


@dataclass
class Request:
    phase: str
    kind: str  # "ask" or "page"
    seconds: float
    error: str | None = None
    cited_expected: bool | None = None  # the answer cites its file; None for a page, or while built
    question: str = ""
    cited: list[str] = field(default_factory=list)
    first: bool = False  # the first request of its client in the phase: the app's own warm-up


@dataclass
class Traffic:
    """Questions from two clients and a page fetch a second, recorded per phase, until stopped."""

    url: str
    phase: str = ""
    requests: list[Request] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self._stop.clear()
        self._threads = [threading.Thread(target=self._asker, args=(n,), daemon=True) for n in range(2)]
        self._threads.append(threading.Thread(target=self._pages, daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(REQUEST_TIMEOUT_S + 10)

    def _asker(self, number: int) -> None:
        client = connect(self.url)
        questions = SEED["questions"]
        turn = number
        first = True
        while not self._stop.is_set():
            item = questions[turn % len(questions)]
            turn += 1
            started = time.monotonic()
            try:
                reply = ask(client, item["q"], REQUEST_TIMEOUT_S)
            except Exception as error:  # every failure is a result here
                self.requests.append(
                    Request(self.phase, "ask", time.monotonic() - started, repr(error)[:300], first=first)
                )
                first = False
                time.sleep(0.5)
                continue
            cited = [citation["source"] for citation in reply["citations"]]
            building = "being built" in reply["message"]
            expected = None if building else any(source.startswith(item["src"]) for source in cited)
            seconds = time.monotonic() - started
            self.requests.append(Request(self.phase, "ask", seconds, None, expected, item["q"], cited, first))
            first = False
        client.close()

    def _pages(self) -> None:
        first = True
        while not self._stop.wait(1.0):
            started = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=REQUEST_TIMEOUT_S) as response:
                    response.read()
                error = None
            except OSError as problem:
                error = repr(problem)[:300]
            self.requests.append(Request(self.phase, "page", time.monotonic() - started, error, first=first))
            first = False


# ----- the browser ---------------------------------------------------------------------------


@contextmanager
def documents_tab(url: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_role("tab", name="Documents").click()
        yield page
        browser.close()


def upload(page: Any, *paths: Path) -> tuple[str, float]:
    """Add the files at ``paths`` through the Documents tab, as one batch; the message shown, and the
    seconds it took."""
    message = page.locator("#docqa-documents-message")
    before = message.inner_text()
    page.set_input_files("#docqa-upload input[type=file]", [str(path) for path in paths])
    stem = paths[-1].stem[:8]
    page.wait_for_function(  # the files are listed once they are uploaded
        "stem => document.querySelector('#docqa-upload').innerText.includes(stem)",
        arg=stem,
        timeout=UPLOAD_TIMEOUT_MS,
    )
    started = time.monotonic()
    page.click("#docqa-add")
    # Done when the file list is emptied, which the add action does with its final message.
    page.wait_for_function(
        "([stem, before]) => !document.querySelector('#docqa-upload').innerText.includes(stem)"
        " && document.querySelector('#docqa-documents-message').innerText !== before",
        arg=[stem, before],
        timeout=UPLOAD_TIMEOUT_MS,
    )
    return message.inner_text(), time.monotonic() - started


# ----- the run -------------------------------------------------------------------------------


def saved_file(corpus: Path, hostile: Hostile, before: set[str]) -> Path | None:
    """The file in ``corpus`` that holds ``hostile``'s bytes and was not there before."""
    digest = hashlib.sha256(hostile.data).hexdigest()
    for path in sorted(corpus.iterdir()):
        if path.name not in before and hashlib.sha256(path.read_bytes()).hexdigest() == digest:
            return path
    return None


def check_files(work: Path, files: list[Hostile], found: dict[str, Path | None]) -> list[str]:
    """What went wrong with the files: lost, misplaced, left behind or empty."""
    problems = []
    for hostile in files:
        path = found[hostile.name]
        if hostile.added and path is None:
            problems.append(f"{hostile.name!r} was not saved in the corpus folder")
        if not hostile.added and path is not None:
            problems.append(f"{hostile.name!r} was saved, though it should be rejected")
        if path is not None and hostile.saved_prefix and not path.name.startswith(hostile.saved_prefix):
            problems.append(f"{hostile.name!r} was saved as {path.name!r}")
    corpus = work / "corpus"
    problems += [f"empty file {path.name!r} in the corpus" for path in corpus.iterdir() if path.stat().st_size == 0]
    uploads = work / "gradio-uploads"
    left = [p for p in uploads.rglob("*") if p.is_file() and p.suffix in (".txt", ".pdf")] if uploads.exists() else []
    problems += [f"Gradio's copy {path.relative_to(work)} was left behind" for path in left]
    known = {"corpus", "index", "gradio-uploads", "app.log", "hostile"}
    problems += [f"unexpected {path.name!r} in the work folder" for path in work.iterdir() if path.name not in known]
    return problems


def own_questions(url: str, files: list[Hostile], found: dict[str, Path | None]) -> list[dict[str, Any]]:
    """Each hostile file's own question, and whether the answer cites that file."""
    client = connect(url)
    checks = []
    for hostile in files:
        path = found.get(hostile.name)
        if hostile.question is None or path is None:
            continue
        try:
            cited = [citation["source"] for citation in ask(client, hostile.question, REQUEST_TIMEOUT_S)["citations"]]
        except Exception as error:  # asked once more: the traffic threads count failures
            print(f"asking about {path.name}: {error!r}", file=sys.stderr)
            cited = [citation["source"] for citation in ask(client, hostile.question, REQUEST_TIMEOUT_S)["citations"]]
        checks.append({"file": path.name, "question": hostile.question, "cited": cited, "ok": cited[:1] == [path.name]})
    client.close()
    return checks


def skipped_reasons(log: str) -> dict[str, str]:
    """The files skipped by the index updates in the app's log ("Skipped NAME: reason"), the last reason of each."""
    return dict(re.findall(r"^Skipped (.+?): (.+)$", log, flags=re.MULTILINE))


def wait_until_indexed(url: str, question: str, source: str, timeout: float) -> float | None:
    """Seconds until ``question`` is answered from ``source``; None when it is not within ``timeout``."""
    client = connect(url)
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            try:
                cited = [citation["source"] for citation in ask(client, question, REQUEST_TIMEOUT_S)["citations"]]
            except Exception as error:  # the traffic threads count failures; this only waits
                print(f"waiting for {source}: {error!r}", file=sys.stderr)
                cited = []
            if cited[:1] == [source]:
                return time.monotonic() - started
            time.sleep(1.0)
        return None
    finally:
        client.close()


def summary(requests: list[Request], phase: str) -> dict[str, Any]:
    """Counts and latencies of ``phase``; each client's first request is the app's warm-up, apart."""
    phase_requests = [r for r in requests if r.phase == phase]
    out: dict[str, Any] = {}
    for kind in ("ask", "page"):
        done = [r for r in phase_requests if r.kind == kind and not r.first]
        seconds = sorted(r.seconds for r in done if r.error is None)
        out[kind] = {
            "count": len(done),
            "errors": sum(r.error is not None and not r.error.startswith(DROPPED) for r in done),
            "dropped": sum(r.error is not None and r.error.startswith(DROPPED) for r in done),
            "freezes": sum(r.seconds > FREEZE_S for r in done),
            "p50_s": round(percentile(seconds, 50), 3) if seconds else None,
            "p95_s": round(percentile(seconds, 95), 3) if seconds else None,
            "max_s": round(seconds[-1], 3) if seconds else None,
            "first_s": [round(r.seconds, 2) for r in phase_requests if r.kind == kind and r.first],
            "error_examples": sorted({r.error for r in phase_requests if r.kind == kind and r.error})[:3],
        }
    answers = [r for r in phase_requests if r.kind == "ask" and r.error is None and not r.first]
    from_index = [r for r in answers if r.cited_expected is not None]
    wrong = [r for r in from_index if r.cited and not r.cited_expected]
    out["ask"]["cited_own_file"] = sum(bool(r.cited_expected) for r in from_index)
    out["ask"]["abstained"] = sum(not r.cited for r in from_index)
    out["ask"]["wrong_citations"] = len(wrong)
    out["ask"]["while_built"] = len(answers) - len(from_index)
    misses = {(r.question, tuple(r.cited)) for r in from_index if not r.cited_expected}
    out["ask"]["miss_examples"] = [{"question": q, "cited": list(c)} for q, c in sorted(misses)[:5]]
    slow = sorted((r for r in phase_requests if r.seconds > FREEZE_S), key=lambda r: -r.seconds)
    out["slow_examples"] = [
        {"kind": r.kind, "seconds": round(r.seconds, 2), "question": r.question, "first": r.first} for r in slow[:5]
    ]
    return out


def run(work: Path, use_browser: bool) -> dict[str, Any]:
    shutil.copytree(ROOT / "corpus", work / "corpus")
    hostile_dir = work / "hostile"
    hostile_dir.mkdir()
    app = App(work)
    result: dict[str, Any] = {"load_before": os.getloadavg()}
    result["start_s"] = round(app.start(), 2)
    result["first_build_s"] = wait_until_indexed(app.url, SEED["questions"][0]["q"], "000_2d648d3e95dec044.txt", 120)
    traffic = Traffic(app.url)
    try:
        uploads, files = [], hostile_files()
        batch = upload_batch() if use_browser else []
        before = {path.name for path in (work / "corpus").iterdir()}
        traffic.phase = "steady"  # the same traffic with nothing else going on: what the machine allows
        traffic.start()
        loads = {"steady": [os.getloadavg()[0]]}
        time.sleep(STEADY_S)
        traffic.phase = "uploads"
        loads["uploads"] = [os.getloadavg()[0]]
        loads["steady"].append(loads["uploads"][0])
        if use_browser:
            with documents_tab(app.url) as page:
                for hostile in files:
                    path = hostile_dir / hostile.name
                    path.write_bytes(hostile.data)
                    message, seconds = upload(page, path)
                    uploads.append(
                        {
                            "file": hostile.name,
                            "bytes": len(hostile.data),
                            "seconds": round(seconds, 2),
                            "message": message,
                        }
                    )
                for hostile in batch:
                    (hostile_dir / hostile.name).write_bytes(hostile.data)
                message, seconds = upload(page, *(hostile_dir / hostile.name for hostile in batch))
                uploads.append(
                    {
                        "file": " + ".join(hostile.name for hostile in batch),
                        "bytes": sum(len(hostile.data) for hostile in batch),
                        "seconds": round(seconds, 2),
                        "message": message,
                    }
                )
        else:  # without a browser the files are only copied, and indexed by the restart below
            for hostile in files:
                (work / "corpus" / hostile.name).write_bytes(hostile.data)
        time.sleep(3)
        traffic.stop()
        loads["uploads"].append(os.getloadavg()[0])
        found = {hostile.name: saved_file(work / "corpus", hostile, before) for hostile in files + batch}
        result["uploads"] = uploads
        result["upload_files"] = {name: path.name if path else None for name, path in found.items()}
        result["upload_problems"] = check_files(work, files + batch, found) if use_browser else []
        result["upload_own_questions"] = own_questions(app.url, files + batch, found) if use_browser else []

        copies = hostile_files("-copy")
        for hostile in copies:
            (work / "corpus" / hostile.name).write_bytes(hostile.data)
        app.stop()
        traffic.phase = "restart"
        loads["restart"] = [os.getloadavg()[0]]
        result["restart_listening_s"] = round(app.start(), 2)
        traffic.start()
        marker = next(h for h in copies if h.question and h.name.startswith("one-line"))
        result["restart_indexed_s"] = wait_until_indexed(app.url, str(marker.question), marker.name, 120)
        time.sleep(3)
        traffic.stop()
        loads["restart"].append(os.getloadavg()[0])
        result["load_by_phase"] = loads
        result["skipped"] = skipped_reasons(app.log_tail(200_000))
        result["restart_own_questions"] = own_questions(
            app.url, copies, {h.name: work / "corpus" / h.name for h in copies if h.added}
        )
    finally:
        traffic.stop()
        if app.process is not None and app.process.poll() is not None:
            app.exits.append(app.process.returncode)
        app.stop()
    result["phases"] = {phase: summary(traffic.requests, phase) for phase in ("steady", "uploads", "restart")}
    result["crashes"] = app.exits
    extra = work.parent / f"{work.name}-beside"  # outside the work folder, whose contents are checked
    try:
        result["remembered_timeouts"] = remembered_timeouts(extra / "slow")
        result["wrong_logins"] = wrong_logins(extra / "login")
        result["annotations_export"] = annotations_export(extra / "annotations")
    finally:
        shutil.rmtree(extra, ignore_errors=True)
    result["load_after"] = os.getloadavg()
    result["app_log_tail"] = app.log_tail(1500)
    return result


# ----- the checks beside the running app ----------------------------------------------------


def remembered_timeouts(folder: Path, budget_s: float = 2.0) -> dict[str, Any]:
    """Uploads of a one-line file while three files over their time budget are in the folder.

    The budget (``PARSE_SECONDS``) is lowered to ``budget_s`` here, so that the slow files run out of
    it in seconds rather than a minute each; each upload is one index update, as the Documents tab runs.
    """
    from docqa import indexing
    from docqa.documents import worker
    from docqa.store import IndexSettings
    from docqa.store.sqlite import SQLiteStore

    corpus = folder / "corpus"
    corpus.mkdir(parents=True)
    for number in range(3):
        (corpus / f"slow-{number}.pdf").write_bytes(pdf_bomb(4, 2000, f"Line {number} of a long plain report"))
    (corpus / "notes.txt").write_text("The ferry leaves at noon.\n")
    settings = IndexSettings(embedding_model="none", chunk_tokens=200, chunk_overlap=1)
    real_budget, worker.PARSE_SECONDS = worker.PARSE_SECONDS, budget_s
    read: list[str] = []
    real_parse = worker.WorkerPool.parse_file
    worker.WorkerPool.parse_file = lambda pool, file: read.append(file.source) or real_parse(pool, file)  # type: ignore[method-assign]
    try:
        started = time.monotonic()
        first = indexing.Indexer(SQLiteStore(folder / "index"), None, settings).update(corpus)
        out: dict[str, Any] = {"budget_s": budget_s, "first_update_s": round(time.monotonic() - started, 2)}
        out["skipped"] = first.skipped
        out["uploads"] = []
        for number in range(3):
            (corpus / f"upload-{number}.txt").write_text(f"Upload {number}: the bus leaves at one.\n")
            read.clear()
            started = time.monotonic()
            report = indexing.Indexer(SQLiteStore(folder / "index"), None, settings).update(corpus)
            seconds = round(time.monotonic() - started, 2)
            out["uploads"].append({"seconds": seconds, "added": report.added, "read": sorted(read)})
    finally:
        worker.PARSE_SECONDS = real_budget
        worker.WorkerPool.parse_file = real_parse  # type: ignore[method-assign]
    return out


def wrong_logins(folder: Path, tries: int = 300) -> dict[str, Any]:
    """``tries`` wrong passwords in a row against the app served with a login, then the right one."""
    corpus = folder / "corpus"
    corpus.mkdir(parents=True)
    (corpus / "a.txt").write_text("The ferry leaves at noon.\n")
    app = App(folder, auth=("reader", "correct horse"))
    app.start()

    def login(password: str) -> tuple[int, str]:
        form = urllib.parse.urlencode({"username": "reader", "password": password}).encode()
        try:
            with urllib.request.urlopen(urllib.request.Request(app.url + "login", data=form), timeout=30) as reply:
                return reply.status, ""
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Retry-After") or ""

    try:
        started = time.monotonic()
        answers = [login(f"guess {number}") for number in range(tries)]
        seconds = time.monotonic() - started
        status, wait = login("correct horse")
        time.sleep(float(wait or 0))
        after_wait, _ = login("correct horse")
    finally:
        app.stop()
    codes = [code for code, _ in answers]
    return {
        "tries": tries,
        "seconds": round(seconds, 2),
        "checked": codes.count(400),
        "refused_unchecked": codes.count(429),
        "other": len(codes) - codes.count(400) - codes.count(429),
        "right_password_at_once": status,
        "right_password_after_wait": after_wait,
        "wait_s": wait,
        "exits": app.exits,
    }


def annotations_export(folder: Path) -> dict[str, Any]:
    """``docqa annotations export`` over a hostile annotations.jsonl: its exit, what it said, the file kept."""
    index = folder / "index"
    index.mkdir(parents=True)
    data = hostile_annotations()
    (index / "annotations.jsonl").write_bytes(data)
    command = [sys.executable, "-m", "docqa.cli", "annotations", "export", str(folder / "out.json")]
    command += ["--index", str(index), "--corpus", str(folder), "--all"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=folder)
    return {
        "exit": done.returncode,
        "said": done.stdout.strip()[-300:],
        "traceback": "Traceback" in done.stderr,
        "unchanged": (index / "annotations.jsonl").read_bytes() == data,
    }


def verdict(result: dict[str, Any]) -> list[str]:
    failures = []
    for phase, numbers in result["phases"].items():
        for kind in ("ask", "page"):
            if numbers[kind]["freezes"] or numbers[kind]["errors"]:
                failures.append(f"{phase}: {numbers[kind]['freezes']} {kind} freezes, {numbers[kind]['errors']} errors")
        if numbers["ask"]["wrong_citations"]:
            failures.append(
                f"{phase}: {numbers['ask']['wrong_citations']} answers cited a file that does not hold them"
            )
    failures += [f"the app exited with {code}" for code in result["crashes"]]
    dropped = sum(numbers[kind]["dropped"] for numbers in result["phases"].values() for kind in ("ask", "page"))
    if dropped:
        result["notes"] = [f"{dropped} requests were dropped by the client (its event stream was closed)"]
    failures += result["upload_problems"]
    checks = result["upload_own_questions"] + result["restart_own_questions"]
    failures += [f"{check['file']!r} was not found by its question" for check in checks if not check["ok"]]
    if result["restart_indexed_s"] is None:
        failures.append("the restarted app did not index the hostile copies within 120 s")
    slow = result["remembered_timeouts"]
    failures += [
        f"an upload read the slow files again ({', '.join(upload['read'])})"
        for upload in slow["uploads"]
        if any(name.startswith("slow-") for name in upload["read"])
    ]
    logins = result["wrong_logins"]
    if logins["checked"] > 10 or logins["right_password_after_wait"] != 200 or logins["other"]:
        failures.append(
            f"logins: {logins['checked']} of {logins['tries']} wrong passwords checked, "
            f"the right one after the wait answered {logins['right_password_after_wait']}"
        )
    export = result["annotations_export"]
    if export["exit"] != 0 or export["traceback"] or not export["unchanged"]:
        failures.append(f"docqa annotations export over a hostile file: exit {export['exit']}, {export['said']!r}")
    return failures


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Adversarial benchmark",
        "",
        f"Run {result['when']} on {result['machine']}; load average "
        f"{result['load_before'][0]:.1f} before, {result['load_after'][0]:.1f} after. Lexical mode, two "
        f"clients asking without pause and a page fetch a second. A freeze is a reply over {FREEZE_S:g} s.",
        "",
        "| phase | load average | questions | freezes | errors | dropped | p50 s | p95 s | max s | first replies s "
        "| cited own file | abstained | wrong citation | while built | pages | page freezes | page max s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for phase, numbers in result["phases"].items():
        a, p = numbers["ask"], numbers["page"]
        load = " to ".join(f"{value:.1f}" for value in result["load_by_phase"].get(phase, []))
        lines.append(
            f"| {phase} | {load} | {a['count']} | {a['freezes']} | {a['errors']} | {a['dropped']} | {a['p50_s']} | "
            f"{a['p95_s']} | "
            f"{a['max_s']} | {', '.join(map(str, a['first_s']))} | {a['cited_own_file']} | {a['abstained']} | "
            f"{a['wrong_citations']} | {a['while_built']} | {p['count']} | {p['freezes']} | {p['max_s']} |"
        )
    lines += [
        "",
        "Each client's first request after the app starts is shown apart (first replies): it sets up",
        "Gradio's queue and the reader, and is not counted as a freeze. The steady phase is the control:",
        "the same traffic with nothing else going on, so its slowest replies are what the machine allows.",
    ]
    lines += [
        "",
        f"Start to listening: {result['start_s']} s; restart with the hostile copies to listening: "
        f"{result['restart_listening_s']} s, to their being indexed: {result['restart_indexed_s']:.1f} s."
        if result["restart_indexed_s"] is not None
        else f"{result['restart_listening_s']} s; the copies were not indexed within 120 s.",
        "",
        "| uploaded file | bytes | seconds | saved as | message |",
        "|---|---|---|---|---|",
    ]
    for item in result["uploads"]:
        message = " ".join(item["message"].split()).replace("|", "/")
        lines.append(
            f"| {item['file']} | {item['bytes']:,} | {item['seconds']} | "
            f"{result['upload_files'].get(item['file'])} | {message} |"
        )
    checks = result["upload_own_questions"] + result["restart_own_questions"]
    lines += [
        "",
        "Each hostile file's own question: "
        + ", ".join(f"{check['file']} {'found' if check['ok'] else 'NOT found'}" for check in checks)
        + ".",
    ]
    lines += ["", "| skipped file | reason |", "|---|---|"]
    lines += [f"| {name} | {reason.replace('|', '/')} |" for name, reason in result.get("skipped", {}).items()]
    slow, logins, export = result["remembered_timeouts"], result["wrong_logins"], result["annotations_export"]
    lines += [
        "",
        f"Files over their time budget (lowered to {slow['budget_s']:g} s; three slow PDFs in the folder): first "
        f"update {slow['first_update_s']} s; each upload of a one-line file after it: "
        + ", ".join(
            f"{upload['seconds']} s (read {', '.join(upload['read']) or 'nothing'})" for upload in slow["uploads"]
        )
        + ".",
        "",
        f"Wrong logins: {logins['tries']} in {logins['seconds']} s, {logins['checked']} checked, "
        f"{logins['refused_unchecked']} refused unchecked (429); the right password at once: "
        f"{logins['right_password_at_once']}, after the {logins['wait_s'] or 0} s asked: "
        f"{logins['right_password_after_wait']}.",
        "",
        f"docqa annotations export over a hostile annotations.jsonl: exit {export['exit']}, "
        f"{'a traceback' if export['traceback'] else 'no traceback'}, the file "
        f"{'unchanged' if export['unchanged'] else 'CHANGED'}: {export['said']}",
    ]
    failures = result["failures"]
    lines += [
        "",
        "Verdict: "
        + ("no freeze, crash, error, lost or misplaced file." if not failures else "FAILED: " + "; ".join(failures)),
        *(f"Note: {note}." for note in result.get("notes", [])),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-browser", action="store_true", help="copy the hostile files instead of uploading")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for adversarial.json and .md")
    parser.add_argument("--memory-bombs", action="store_true", help="then run memory_bombs.py (docqa index)")
    options = parser.parse_args(argv)
    use_browser = not options.no_browser and CHROMIUM.exists()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="docqa-adversarial-") as folder:
        result = run(Path(folder), use_browser)
    result["when"] = time.strftime("%Y-%m-%d %H:%M")
    result["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    result["wall_s"] = round(time.monotonic() - started, 1)
    result["browser_uploads"] = use_browser
    result["failures"] = verdict(result)
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "adversarial.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    (options.out / "adversarial.md").write_text(markdown(result))
    print(markdown(result))
    bombs_failed = 0
    if options.memory_bombs:
        import memory_bombs

        bombs_failed = memory_bombs.main(["--out", str(options.out)])
    return 1 if result["failures"] or bombs_failed else 0


if __name__ == "__main__":
    sys.exit(main())
