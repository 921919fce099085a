"""Each file's memory budget, and the worker processes' lifetime: a file that needs more memory than its
budget is skipped with the reason, an archive is measured by what it unpacks, a page too large for OCR
is not rendered, every process a worker started dies with it, and files are read by several workers.

Each hostile file is built in the test, small, against a budget lowered for the test.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from format_files import docx_bytes, epub_bytes, odt_bytes, pptx_bytes
from hostile_files import FILLER, large_page_pdf, lying_archive, noise_page_pdf, swollen_archive, tiny_tags_html

from docqa.config import Settings
from docqa.documents import limits, loading, ocr, worker
from docqa.documents.common import UnreadableFile
from docqa.documents.loading import SourceFile, scan_corpus
from docqa.errors import DocqaError
from docqa.indexing import FileReading, Indexer
from docqa.store import IndexSettings
from docqa.store.sqlite import SQLiteStore

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")

LEXICAL = IndexSettings(embedding_model="none", chunk_tokens=200, chunk_overlap=1)
BUDGET = 320 * 2**20  # the parsers' libraries take about 150 MB of it
SWELL = 64 * 2**20  # bytes of tiny tags a swollen part unpacks to: far more than BUDGET once parsed


@pytest.fixture
def pool() -> Iterator[worker.WorkerPool]:
    """Workers with this machine's default budget."""
    with worker.WorkerPool() as started:
        yield started


@pytest.fixture
def budget() -> Iterator[worker.WorkerPool]:
    """Two workers with the test's lowered budget."""
    with worker.WorkerPool(2, BUDGET) as started:
        yield started


def files_in(folder: Path) -> dict[str, SourceFile]:
    files, skipped = scan_corpus(folder)
    assert skipped == {}
    return {file.source: file for file in files}


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, which has ended, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize(
    ("name", "build", "part", "filler", "before"),
    [
        ("bomb.docx", lambda: docx_bytes([("Normal", "Plain words.")]), "word/document.xml", FILLER, b"</"),
        ("bomb.pptx", lambda: pptx_bytes([("Title", "Plain words.")]), "slide1.xml", FILLER, b"</"),
        ("bomb.odt", lambda: odt_bytes([(0, "Plain words.")]), "content.xml", b"<text:p>x</text:p>", b"</office:text>"),
        ("bomb.epub", lambda: epub_bytes([("Chapter", "Plain words.")]), "chapter1.xhtml", FILLER, b"</"),
    ],
)
def test_an_archive_whose_parts_swell_in_memory_is_skipped_for_its_memory(
    tmp_path: Path, budget: worker.WorkerPool, name: str, build: object, part: str, filler: bytes, before: bytes
) -> None:
    data = swollen_archive(build(), part, SWELL, filler, before)  # type: ignore[operator]
    assert len(data) < 200_000
    (tmp_path / name).write_bytes(data)
    (tmp_path / "quick.txt").write_text("Quick words.\n")
    files = files_in(tmp_path)
    with pytest.raises(UnreadableFile) as raised:
        budget.parse_file(files[name])
    assert raised.value.reason == f"reading it needed more than {limits.size_label(BUDGET)}"
    assert not raised.value.transient  # the same bytes would need as much again
    assert budget.parse_file(files["quick.txt"]).text == "Quick words."


def test_a_page_of_tiny_tags_is_skipped_for_its_memory_and_the_rest_is_indexed(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "tags.html").write_bytes(tiny_tags_html(6 * 2**20))
    for number in range(3):
        (corpus / f"notes{number}.txt").write_text(f"The ferry number {number} leaves at noon.\n")
    reading = FileReading(2, BUDGET)
    try:
        report = Indexer(SQLiteStore(tmp_path / "index"), None, LEXICAL, reading=reading).update(corpus)
    finally:
        reading.close()
    assert report.added == ["notes0.txt", "notes1.txt", "notes2.txt"]
    assert report.skipped == {"tags.html": "reading it needed more than 320 MB"}


@pytest.mark.parametrize("compression", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_an_archive_part_that_unpacks_to_more_than_it_declares_is_refused(
    tmp_path: Path, compression: int, pool: worker.WorkerPool
) -> None:
    data = lying_archive(docx_bytes([("Normal", "Plain words.")]), "word/document.xml", 32 * 2**20, compression)
    assert zipfile.ZipFile(io.BytesIO(data)).getinfo("word/document.xml").file_size == 1000
    (tmp_path / "liar.docx").write_bytes(data)
    with pytest.raises(UnreadableFile) as raised:
        pool.parse_file(files_in(tmp_path)["liar.docx"])
    assert raised.value.reason == "its part word/document.xml unpacks to more than the 1,000 bytes it declares"


def test_an_archive_is_measured_by_what_its_parts_unpack_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from docqa.documents import common

    data = swollen_archive(docx_bytes([("Normal", "Plain words.")]), "word/document.xml", 4 * 2**20)
    common.checked_zip(data, "Word document")  # within the limit
    monkeypatch.setattr(common, "MAX_UNPACKED_BYTES", 2 * 2**20)
    with pytest.raises(UnreadableFile, match="its parts unpack to more than 2 MB"):
        common.checked_zip(data, "Word document")


def test_a_page_too_large_for_ocr_is_not_rendered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert ocr.render_scale(612, 792) == ocr.DPI / 72  # a letter page: at full resolution
    scale = ocr.render_scale(3000, 3000)  # lowered to stay within the pixels allowed
    assert scale is not None and int(3000 * scale) ** 2 <= limits.MAX_OCR_PIXELS < (3000 * ocr.DPI / 72) ** 2
    assert ocr.render_scale(14_400, 14_400) is None  # not even at MIN_OCR_DPI
    assert ocr.render_scale(4800, 4800) is None  # 20,000 pixels square at 300 dpi: 95 dpi would be needed
    if ocr.ocr_problem() is not None:
        pytest.skip(ocr.ocr_problem())
    import pypdfium2

    rendered: list[float] = []
    render = pypdfium2.PdfPage.render
    monkeypatch.setattr(
        pypdfium2.PdfPage, "render", lambda page, **kw: rendered.append(kw["scale"]) or render(page, **kw)
    )
    (tmp_path / "huge.pdf").write_bytes(large_page_pdf(14_400))
    with pytest.raises(UnreadableFile) as raised:
        loading.parse_file(files_in(tmp_path)["huge.pdf"])  # in this process, to see what is rendered
    assert rendered == []
    assert raised.value.reason == (
        "PDF has no text layer, and page 1 is too large to read by OCR (14,400 \u00d7 14,400 points: more than "
        f"{limits.MAX_OCR_PIXELS / 1e6:g} million pixels even at {limits.MIN_OCR_DPI} dpi)"
    )


def test_programs_a_worker_started_die_with_it_when_its_time_is_spent(tmp_path: Path, pool: worker.WorkerPool) -> None:
    pid_file = tmp_path / "pid"
    script = f"sleep 60 & echo $! > {pid_file}; wait"
    with pytest.raises(UnreadableFile, match=r"reading it took longer than 1 s"):
        pool.run(subprocess.run, ["sh", "-c", script], timeout=1.0)
    assert gone_within([int(pid_file.read_text())], 2.0)


def test_tesseract_dies_with_the_worker_that_started_it(tmp_path: Path, pool: worker.WorkerPool) -> None:
    if ocr.ocr_problem() is not None:
        pytest.skip(ocr.ocr_problem())
    (tmp_path / "scan.pdf").write_bytes(noise_page_pdf(2000))  # 40 million pixels of noise: seconds of OCR
    scan = files_in(tmp_path)["scan.pdf"]
    seen: list[int] = []

    def stop_once_tesseract_runs() -> None:
        deadline = time.monotonic() + 60
        while not seen and time.monotonic() < deadline:
            groups = set(pool.pids())
            seen.extend(pid for pid, group in _processes_named("tesseract") if group in groups)
            time.sleep(0.05)
        pool.stop()  # as when the file's time or memory runs out

    stopper = threading.Thread(target=stop_once_tesseract_runs)
    stopper.start()
    with pytest.raises(UnreadableFile, match=r"the worker stopped while reading it"):
        pool.parse_file(scan, timeout=120.0)
    stopper.join()
    assert seen, "tesseract never ran"
    assert gone_within(seen, 2.0)


def _processes_named(name: str) -> list[tuple[int, int]]:
    """(pid, process group) of each process whose command is ``name``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command, rest = (entry / "stat").read_text().rsplit(")", 1)
        except (OSError, ValueError):
            continue
        if command.split("(", 1)[-1] == name:
            found.append((int(entry.name), int(rest.split()[2])))
    return found


def test_a_worker_whose_programs_together_pass_the_budget_is_stopped(tmp_path: Path, budget: worker.WorkerPool) -> None:
    # Each program stays within the data size the system allows it; together they pass the budget.
    hold = "import time; block = b'x' * (200 * 2**20); time.sleep(60)"
    script = f'{sys.executable} -c "{hold}" & {sys.executable} -c "{hold}" & wait'
    started = time.monotonic()
    with pytest.raises(UnreadableFile, match=r"^reading it needed more than 320 MB$"):
        budget.run(subprocess.run, ["sh", "-c", script], timeout=60.0)
    assert time.monotonic() - started < 50  # stopped for its memory, long before its time


def test_a_worker_cannot_take_more_memory_than_its_budget(budget: worker.WorkerPool) -> None:
    with pytest.raises(UnreadableFile, match=r"^reading it needed more than 320 MB$"):
        budget.run(bytes, 400 * 2**20, timeout=60.0)  # one allocation over the budget
    assert budget.run(len, b"still here", timeout=60.0) == 10


def test_the_workers_and_their_programs_die_with_the_process_that_started_them(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    code = (
        "import os, subprocess, sys\n"
        f"sys.path.insert(0, {str(Path(worker.__file__).parents[2])!r})\n"
        "from docqa.documents import worker\n"
        f"script = 'echo $PPID $! > {pid_file}; wait'\n"
        f"worker.WorkerPool().run(subprocess.run, ['sh', '-c', 'sleep 60 & ' + script], timeout=120.0)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 60
    while not pid_file.exists() or len(pid_file.read_text().split()) < 2:
        assert time.monotonic() < deadline and parent.poll() is None
        time.sleep(0.05)
    worker_pid, sleeper = (int(pid) for pid in pid_file.read_text().split())
    assert alive(worker_pid) and alive(sleeper)
    parent.send_signal(signal.SIGKILL)  # no chance to clean up: the workers see it for themselves
    parent.wait()
    assert gone_within([worker_pid, sleeper], 2.0)


def test_files_are_read_by_several_workers_at_once() -> None:
    with worker.WorkerPool(2) as pool:
        ask = ["sh", "-c", "echo $PPID; sleep 2"]  # the shell's parent is the worker that runs it
        pids = list(pool.in_parallel(lambda _: pool.run(subprocess.check_output, ask, timeout=60.0), range(2)))
    assert len(set(pids)) == 2 and os.getpid() not in {int(pid) for pid in pids}


def test_a_bomb_costs_only_its_own_worker(tmp_path: Path, budget: worker.WorkerPool) -> None:
    (tmp_path / "tags.html").write_bytes(tiny_tags_html(6 * 2**20))
    for number in range(4):
        (tmp_path / f"n{number}.txt").write_text(f"Note {number} says hello.\n")
    files = files_in(tmp_path)

    def read(name: str) -> str:
        try:
            return budget.parse_file(files[name]).text
        except UnreadableFile as error:
            return error.reason

    names = ["n0.txt", "tags.html", "n1.txt", "n2.txt", "n3.txt"]
    assert list(budget.in_parallel(read, names)) == [
        "Note 0 says hello.",
        "reading it needed more than 320 MB",
        "Note 1 says hello.",
        "Note 2 says hello.",
        "Note 3 says hello.",
    ]


def test_the_parsing_settings_are_checked() -> None:
    assert Settings().parse_workers == 0 and Settings().parse_memory_mb == 1024
    with pytest.raises(DocqaError, match="parse_workers must not be negative"):
        Settings(parse_workers=-1)
    with pytest.raises(DocqaError, match="parse_memory_mb must be at least 256"):
        Settings(parse_memory_mb=100)
    assert Settings.from_env().parse_memory_mb == int(os.environ.get("DOCQA_PARSE_MEMORY_MB") or 1024)
