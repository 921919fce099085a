"""The chat app served by ``app.py`` and driven in headless Chromium, and its API through gradio_client.

The app runs in the lexical mode (no models) over a copy of the corpus, so that answers are
deterministic. The chat's checks run at a desktop's size and a phone's. Screenshots go to
$DOCQA_TEST_ARTIFACTS, or to a temporary folder: never into the checkout (the README's are made by
benchmarks/screenshots.py, which a test here runs into a temporary folder).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from playwright.sync_api import Browser, Dialog, Locator, Page, sync_playwright

from docqa.schema import confidence_label

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SEED = json.loads((ROOT / "tests" / "seed_examples.json").read_text(encoding="utf-8"))
BUILDING_QUESTION = "Which building did Capitol Police order Congressional staff to leave?"
DEEP_QUESTION = "When will Joe Biden be sworn in as president?"  # answered far into its document
UPLOADED_TEXT = (
    "Quokka Lane notes\n\nThe zebra crossing on Quokka Lane was repainted by Marigold Okafor in 1951.\n"
    "<script>window.injected = true</script> <img src=x onerror=\"window.injected = true\">\n"
)
START_TIMEOUT_S = 90
ANSWER_TIMEOUT_MS = 60_000
INDEXING_TIMEOUT_S = 240  # an upload's indexing waits its turn behind any other index change
SCREENSHOTS = ROOT / "benchmarks" / "screenshots.py"
DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 390, "height": 844}
REPLIES = "#docqa-chat .docqa-reply"


class Served(NamedTuple):
    url: str
    folder: Path  # holds corpus/ and index/


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"app.py exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"app.py did not answer on {url} within {START_TIMEOUT_S} s:\n{log.read_text()}")


def wait_until_indexed(url: str, log: Path) -> None:
    """The app listens before its first index is built, and says so in its answers until it is."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    deadline = time.monotonic() + START_TIMEOUT_S
    while "being built" in client.predict(question=BUILDING_QUESTION, api_name="/ask")["message"]:
        if time.monotonic() > deadline:
            pytest.fail(f"app.py did not build its index within {START_TIMEOUT_S} s:\n{log.read_text()}")
        time.sleep(0.5)
    client.close()


@contextmanager
def running_app(folder: Path, models: list[str], environment: dict[str, str]) -> Iterator[Served]:
    """``app.py`` over a copy of the corpus in ``folder``, with ``models`` (its model flags), until the block ends."""
    shutil.copytree(ROOT / "corpus", folder / "corpus")
    port = free_port()
    log = folder / "app.log"
    command = [sys.executable, str(ROOT / "app.py"), "--corpus", str(folder / "corpus"),
               "--index", str(folder / "index"), *models, "--port", str(port)]  # fmt: skip
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", **environment}
    for inherited in ("DOCQA_AUTH_USERNAME", "DOCQA_AUTH_PASSWORD", "GRADIO_SERVER_NAME", "DOCQA_READER_MODEL"):
        env.pop(inherited, None)
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, process, log)
        wait_until_indexed(url, log)
        yield Served(url, folder)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    # Five passages a question, so that the passage test finds one that starts far into its document.
    no_models = ["--embedding-model", "none", "--reader-model", "none"]
    with running_app(tmp_path_factory.mktemp("app"), no_models, {"DOCQA_TOP_K": "5"}) as app:
        yield app


@pytest.fixture(scope="module")
def app_url(served: Served) -> str:
    return served.url


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("DOCQA_TEST_ARTIFACTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def alerts() -> list[str]:
    """Dialogs other than the app's own confirmation: they could only come from injected code."""
    return []


def open_page(browser: Browser, url: str, alerts: list[str], viewport: dict[str, int]) -> Page:
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url.rstrip("/"))
    opened = context.new_page()

    def answer_dialog(dialog: Dialog) -> None:
        if dialog.type == "confirm":
            dialog.accept()
        else:
            alerts.append(dialog.message)
            dialog.dismiss()

    opened.on("dialog", answer_dialog)
    opened.goto(url)
    opened.wait_for_selector("#docqa-question textarea")
    opened.wait_for_selector("#docqa-chat .docqa-welcome")
    return opened


@pytest.fixture
def page(browser: Browser, app_url: str, alerts: list[str]) -> Iterator[Page]:
    opened = open_page(browser, app_url, alerts, DESKTOP)
    yield opened
    opened.context.close()


@pytest.fixture
def phone(browser: Browser, app_url: str, alerts: list[str]) -> Iterator[Page]:
    opened = open_page(browser, app_url, alerts, PHONE)
    yield opened
    opened.context.close()


def ask(page: Page, question: str) -> str:
    """Type ``question``, press Enter, and return the text of the reply when it arrives."""
    replies = page.locator(REPLIES)
    before = replies.count()
    page.fill("#docqa-question textarea", question)
    page.press("#docqa-question textarea", "Enter")
    replies.nth(before).wait_for(timeout=ANSWER_TIMEOUT_MS)
    return replies.nth(before).inner_text()


def set_number(box: Locator, value: str) -> None:
    """Type ``value`` into a number box and wait until it holds: the page's load event sets the
    settings from the server once, and on a busy machine that can land after the typing."""
    deadline = time.monotonic() + 30
    while True:
        box.fill(value)
        box.press("Enter")
        box.page.wait_for_timeout(1000)
        if box.input_value() == value:
            box.page.wait_for_timeout(1000)
            if box.input_value() == value:
                return
        assert time.monotonic() < deadline, f"the box never kept {value!r}"


def seed_source(question: str) -> str:
    [example] = [q for q in SEED["questions"] if q["q"] == question]
    [path] = [p for p in (ROOT / "corpus").iterdir() if p.name.startswith(example["src"])]
    return path.name


def votes(served: Served) -> list[dict[str, object]]:
    path = served.folder / "index" / "feedback.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def test_an_answer_cites_numbered_sources_that_open_at_the_highlighted_span(
    page: Page, served: Served, artifacts: Path
) -> None:
    assert page.locator("#docqa-source-choice").is_hidden()  # nothing to show in a document yet
    reply = ask(page, BUILDING_QUESTION)
    source = seed_source(BUILDING_QUESTION)
    assert source in reply and "Best-matching sentence" in reply and "Cannon building" in reply
    assert "reader model" not in reply  # the mode is said once, in the header
    assert re.search(r"^Match: (high|medium|low)$", reply, re.MULTILINE) and "%" not in reply  # words: no chance
    assert "Lexical mode: no models loaded" in page.locator("#docqa-mode").inner_text()
    assert page.locator(f"{REPLIES} mark").first.inner_text().count("Cannon") == 1
    follow_up = ask(page, "Who said she had just evacuated her office in Cannon?")
    assert "Nancy Mace" in follow_up and "Searched as:" in follow_up
    assert page.locator(REPLIES).count() == 2
    assert "Nancy Mace" in page.locator("#docqa-document #docqa-target").inner_text()

    page.locator(f"{REPLIES} sup .docqa-cite").first.click()  # the first answer's marker [1]
    page.wait_for_function(
        "() => (document.querySelector('#docqa-document #docqa-target') || {}).innerText?.includes('Cannon building')"
    )
    assert source in page.locator("#docqa-document").inner_text()
    assert page.locator("#docqa-source-choice").is_visible()
    page.locator(f"{REPLIES} sup .docqa-cite").last.click()
    page.wait_for_function("() => document.querySelector('#docqa-document #docqa-target')?.innerText.includes('Mace')")
    page.screenshot(path=str(artifacts / "chat-desktop.png"))
    page.locator(f"{REPLIES} .docqa-copy").first.click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("Capitol Police sent orders") and "[1] " in copied and source in copied
    page.locator(f"{REPLIES} .docqa-vote[data-value='down']").last.click()
    page.wait_for_selector("text=your vote was saved")
    [vote] = [v for v in votes(served) if v["vote"] == "down"]
    assert vote["question"] == "Who said she had just evacuated her office in Cannon?" and vote["passages"]
    with page.expect_download() as download:
        page.click("#docqa-export")
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert exported.startswith("# Conversation with docqa") and f"## {BUILDING_QUESTION}" in exported
    assert "Nancy Mace" in exported and "[1] " in exported
    assert page.get_by_text("Settings", exact=True).filter(visible=True).count() == 1  # the chat's, not Gradio's


def test_an_empty_chat_offers_questions_the_documents_answer(page: Page) -> None:
    examples = page.locator("#docqa-chat .docqa-example")
    examples.nth(2).wait_for(timeout=ANSWER_TIMEOUT_MS)  # the page's load event fills the empty chat
    assert examples.count() >= 3
    shown = examples.all_inner_texts()
    assert BUILDING_QUESTION in shown and set(shown) <= {example["q"] for example in SEED["questions"]}
    question = shown[1]
    examples.nth(1).click()
    page.locator(REPLIES).first.wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert page.locator("#docqa-chat .docqa-welcome").count() == 0
    assert question in page.locator("#docqa-chat .docqa-question").first.inner_text()
    assert seed_source(question) in page.locator(REPLIES).first.inner_text()
    page.click("#docqa-new-chat")
    page.wait_for_selector("#docqa-chat .docqa-welcome")
    assert page.locator(REPLIES).count() == 0


def test_choosing_a_passage_opens_its_document_at_the_passage(page: Page, artifacts: Path) -> None:
    page.get_by_text("Settings", exact=True).filter(visible=True).click()
    dense = page.locator("#docqa-retrieval input[value='dense']")
    assert dense.is_disabled() and page.locator("#docqa-retrieval input[value='bm25']").is_checked()  # no embedder
    assert "not loaded" in page.locator("#docqa-retrieval").inner_text()
    ask(page, BUILDING_QUESTION)
    page.locator("#docqa-source-choice label").last.click()
    page.wait_for_selector("#docqa-document mark.docqa-passage-span")
    box = page.locator("#docqa-document .docqa-doc").bounding_box()
    mark = page.locator("#docqa-document #docqa-target").bounding_box()
    assert box and mark and box["y"] <= mark["y"] < box["y"] + box["height"]  # scrolled into view
    assert page.locator("#docqa-document .docqa-doc").evaluate("box => box.scrollTop") > 0
    page.get_by_text("Retrieved passages").click()
    page.locator("#docqa-passages .docqa-passage").nth(1).wait_for()
    assert "found by BM25" in page.locator("#docqa-passages").inner_text()
    page.screenshot(path=str(artifacts / "sources.png"), full_page=True)


def test_a_question_can_be_limited_to_some_documents(page: Page) -> None:
    others = sorted(p.name for p in (ROOT / "corpus").iterdir() if p.name != seed_source(BUILDING_QUESTION))
    page.click("#docqa-within input")
    page.get_by_role("option", name=others[0], exact=False).click()
    page.keyboard.press("Escape")
    reply = ask(page, BUILDING_QUESTION)
    assert seed_source(BUILDING_QUESTION) not in reply
    places = page.locator(f"{REPLIES} .docqa-place").all_inner_texts()
    assert places and all(place.startswith(others[0]) for place in places)


def test_the_phone_layout_puts_the_chat_first_and_the_sources_below_on_demand(phone: Page, artifacts: Path) -> None:
    header = phone.locator("#docqa-header").bounding_box()
    assert header and header["height"] < 80  # a line or two
    assert placeholder_fits(phone)
    reply = ask(phone, BUILDING_QUESTION)
    assert "Cannon building" in reply
    question = phone.locator("#docqa-chat .docqa-question").first.bounding_box()
    assert question and 0 <= question["y"] < PHONE["height"]  # the question stays in view above its answer
    chat, sources = (phone.locator(s).bounding_box() for s in ("#docqa-chat", "#docqa-sources"))
    assert chat and sources and chat["y"] < sources["y"] and chat["width"] <= PHONE["width"]
    assert phone.locator("#docqa-document").is_hidden()  # folded until asked for
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing wider than the screen
    phone.screenshot(path=str(artifacts / "chat-phone.png"))

    # One natural scroll: the conversation grows with the page, never scrolls inside it.
    ask(phone, DEEP_QUESTION)  # its answer is far into its document
    phone.wait_for_timeout(300)
    log = phone.locator("#docqa-chat .docqa-log")
    assert log.evaluate("l => l.scrollHeight <= l.clientHeight + 1 && getComputedStyle(l).overflowY === 'visible'")
    assert phone.evaluate("document.documentElement.scrollHeight") > PHONE["height"]
    last = phone.locator("#docqa-chat .docqa-question").last.bounding_box()
    assert last and 0 <= last["y"] < PHONE["height"] / 2  # the page scrolled to the new question
    phone.screenshot(path=str(artifacts / "chat-phone-two-answers.png"))

    # A citation opens the folded sources, brings the document into sight, and scrolls the document
    # box to the highlighted span, as on a desktop.
    phone.locator(f"{REPLIES} sup .docqa-cite").last.click()
    phone.locator("#docqa-document #docqa-target").wait_for()
    in_sight = "() => { const top = document.getElementById('docqa-document').getBoundingClientRect().top;"
    phone.wait_for_function(f"{in_sight} return top >= 0 && top < window.innerHeight; }}", timeout=5_000)
    phone.wait_for_function(TARGET_IN_BOX_JS, timeout=5_000)
    phone.screenshot(path=str(artifacts / "chat-phone-source.png"))
    phone.get_by_role("tab", name="Documents").click()
    phone.locator("#docqa-documents table").wait_for()
    # A document a card: its title across the screen, then date, passages and file, none cut a character a line.
    titles = phone.locator("#docqa-documents .docqa-title-cell").evaluate_all("cells => cells.map(c => c.offsetWidth)")
    table = phone.locator("#docqa-documents table").bounding_box()
    assert table and len(titles) >= 3 and min(titles) > 0.8 * table["width"]
    dates = phone.locator("#docqa-documents .docqa-date-cell").evaluate_all(
        "cells => cells.filter(c => c.innerText).map(c => c.getClientRects().length)"
    )
    assert dates and set(dates) == {1}  # each date on one line
    phone.screenshot(path=str(artifacts / "documents-phone.png"))


def placeholder_fits(page: Page) -> bool:
    """The question box's placeholder fits its one line (measured in the box's own font)."""
    return page.locator("#docqa-question textarea").evaluate(
        """(box) => {
          const style = getComputedStyle(box);
          const pen = document.createElement('canvas').getContext('2d');
          pen.font = style.font;
          const room = box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
          return pen.measureText(box.placeholder).width <= room && box.scrollHeight <= box.clientHeight + 1;
        }"""
    )


# The document box is scrolled (its span is not at the top) and the highlighted span is inside its view.
TARGET_IN_BOX_JS = """() => {
  const box = document.querySelector('#docqa-document .docqa-doc');
  const target = document.querySelector('#docqa-document #docqa-target');
  if (!box || !target || !box.clientHeight) return false;
  const outer = box.getBoundingClientRect(), inner = target.getBoundingClientRect();
  return box.scrollTop > 0 && inner.top >= outer.top && inner.top < outer.bottom;
}"""


def repeated_ids(page: Page) -> dict[str, int]:
    return page.evaluate(
        """() => {
          const counts = {};
          for (const node of document.querySelectorAll('[id]')) counts[node.id] = (counts[node.id] || 0) + 1;
          delete counts[''];
          return Object.fromEntries(Object.entries(counts).filter(([, count]) => count > 1));
        }"""
    )


@pytest.fixture(params=["desktop", "phone"])
def sized(request: pytest.FixtureRequest, browser: Browser, app_url: str, alerts: list[str]) -> Iterator[Page]:
    """The page at a desktop's size, then at a phone's."""
    opened = open_page(browser, app_url, alerts, DESKTOP if request.param == "desktop" else PHONE)
    yield opened
    opened.context.close()


def open_sources(page: Page, turn_marker: str = f"{REPLIES} sup .docqa-cite") -> None:
    """Open the last reply's first source (on a phone this unfolds the Sources panel)."""
    page.locator(turn_marker).last.click()
    page.locator("#docqa-document #docqa-target").wait_for()


def test_before_a_question_nothing_can_be_corrected_and_an_empty_question_is_told_so(
    sized: Page, artifacts: Path
) -> None:
    page, size = sized, sized.viewport_size
    corrections = ("#docqa-use-selection", "#docqa-unanswerable")
    assert all(page.locator(button).is_hidden() for button in corrections)
    assert placeholder_fits(page) and repeated_ids(page) == {}
    page.press("#docqa-question textarea", "Enter")  # nothing typed
    page.get_by_text("Type a question first").first.wait_for(timeout=10_000)
    page.wait_for_timeout(300)  # the toast slides in
    assert page.locator("#docqa-chat .docqa-question").count() == 0 and page.locator(REPLIES).count() == 0
    page.screenshot(path=str(artifacts / f"empty-question-{size and size['width']}.png"))
    ask(page, BUILDING_QUESTION)
    open_sources(page)
    page.locator(corrections[0]).wait_for()
    assert all(page.locator(button).is_visible() for button in corrections)
    assert repeated_ids(page) == {}
    page.click("#docqa-new-chat")
    page.wait_for_selector("#docqa-chat .docqa-welcome")
    page.locator(corrections[0]).wait_for(state="hidden")


def test_the_lexical_mode_shows_no_chances_and_names_the_reader_it_lacks(sized: Page) -> None:
    reply = ask(sized, DEEP_QUESTION)
    assert "Match:" in reply and "%" not in reply
    sized.get_by_text("Settings", exact=True).filter(visible=True).click()
    reader = sized.locator("#docqa-reader input").first
    reader.wait_for()
    assert "lexical mode" in reader.input_value() and "started with" not in reader.input_value()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_default_reader_that_did_not_load_is_named_so_in_the_settings(
    browser: Browser, alerts: list[str], tmp_path: Path, viewport: dict[str, int]
) -> None:
    """The default reader is not in an empty Hugging Face cache, offline: the app falls back to the lexical mode."""
    (tmp_path / "cache").mkdir()
    no_embedder = ["--embedding-model", "none"]  # and the default reader
    with running_app(tmp_path, no_embedder, {"HF_HOME": str(tmp_path / "cache")}) as app:
        page = open_page(browser, app.url, alerts, viewport)
        assert "Lexical mode" in page.locator("#docqa-mode").inner_text()
        page.get_by_text("Settings", exact=True).filter(visible=True).click()
        reader = page.locator("#docqa-reader input").first
        reader.wait_for()
        assert "(not loaded: lexical mode" in reader.input_value() and "started with" not in reader.input_value()
        page.context.close()


def test_a_source_reads_title_first_then_file_and_date_on_a_line_of_their_own(sized: Page) -> None:
    ask(sized, BUILDING_QUESTION)
    item = sized.locator(f"{REPLIES} ol.docqa-citations li").first
    title, where = item.locator("a.docqa-cite").bounding_box(), item.locator(".docqa-place").bounding_box()
    assert title and where and where["y"] >= title["y"] + title["height"] - 1  # below the title, not beside it
    place = item.locator(".docqa-place")
    assert place.evaluate("p => p.clientHeight < 1.6 * parseFloat(getComputedStyle(p).lineHeight)")  # one line
    assert place.inner_text().startswith(seed_source(BUILDING_QUESTION))


def test_a_passage_read_after_an_abstention_does_not_look_like_a_selection(sized: Page, artifacts: Path) -> None:
    page, size = sized, sized.viewport_size
    page.get_by_text("Settings", exact=True).filter(visible=True).click()
    set_number(page.locator("#docqa-threshold input[type=number]"), "1")
    reply = ask(page, "When will Joe Biden be sworn in as president?")
    assert "do not seem to contain the answer" in reply and "Closest passages" in reply
    open_sources(page, f"{REPLIES} .docqa-closest .docqa-cite")
    passage = page.locator("#docqa-document mark.docqa-passage-span")
    passage.wait_for()
    assert "not an answer" in page.locator("#docqa-document .docqa-doc-key").inner_text()
    looks = passage.evaluate(
        """(mark) => {
          const own = getComputedStyle(mark), chosen = getComputedStyle(mark, '::selection');
          return {own: own.backgroundColor, line: own.textDecorationStyle, selection: chosen.backgroundColor};
        }"""
    )
    assert looks["line"] == "dashed" and looks["own"] != looks["selection"], looks
    page.evaluate(SELECT_IN_TARGET_JS, passage.inner_text()[:30])  # a selection beside the passage, to look at
    page.screenshot(path=str(artifacts / f"abstention-passage-{size and size['width']}.png"))


def test_a_chosen_file_leaves_the_upload_label_whole(sized: Page, tmp_path: Path, artifacts: Path) -> None:
    page, size = sized, sized.viewport_size
    chosen = tmp_path / "a file chosen to upload with a long name.txt"
    chosen.write_text("Notes\n\nNothing to see.\n", encoding="utf-8")
    page.get_by_role("tab", name="Documents").click()
    page.set_input_files("#docqa-upload input[type=file]", str(chosen))
    page.wait_for_selector(f"#docqa-upload :text('{chosen.stem}')")
    label = page.locator("#docqa-upload label[data-testid='block-label']")
    icons = page.locator("#docqa-upload .icon-button-wrapper").bounding_box()
    box = label.bounding_box()
    assert box and icons and box["x"] + box["width"] <= icons["x"]  # beside the buttons, not under them
    assert label.evaluate("label => label.scrollWidth <= label.clientWidth") and "Add documents" in label.inner_text()
    page.screenshot(path=str(artifacts / f"upload-chosen-{size and size['width']}.png"))
    page.locator("#docqa-upload button[aria-label='Clear']").click()  # nothing is added


def test_the_readme_screenshots_come_from_their_script_into_the_folder_it_is_given(tmp_path: Path) -> None:
    before = {path.name: path.stat().st_mtime_ns for path in (ROOT / "docs").glob("*.png")}
    command = [sys.executable, str(SCREENSHOTS), "--out", str(tmp_path)]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert finished.returncode == 0, finished.stderr[-3000:]
    for name, size in {"chat-desktop.png": DESKTOP, "chat-phone.png": PHONE, "documents.png": DESKTOP}.items():
        header = (tmp_path / name).read_bytes()[:24]  # the signature, then the IHDR chunk: width, height
        assert header[:8] == b"\x89PNG\r\n\x1a\n"
        assert (int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")) == (
            size["width"], size["height"],
        )
    assert {path.name: path.stat().st_mtime_ns for path in (ROOT / "docs").glob("*.png")} == before


def wait_for_outcome(page: Page, expected: str) -> str:
    """The Documents tab's message once the change it reports has finished, however long that takes
    under load: an upload still on its way to the server is sent again."""
    deadline = time.monotonic() + INDEXING_TIMEOUT_S
    message = page.locator("#docqa-documents-message")
    while time.monotonic() < deadline:
        text = message.inner_text()
        if expected in text or "not updated" in text or "Rejected" in text:
            return text
        if "Choose one or more files first" in text:  # the click came before the upload had finished
            page.click("#docqa-add")
        page.wait_for_timeout(250)
    pytest.fail(f"no {expected!r} within {INDEXING_TIMEOUT_S} s; the message says {message.inner_text()!r}")


def test_an_uploaded_document_is_answerable_at_once_and_cannot_inject(
    page: Page, alerts: list[str], tmp_path: Path, artifacts: Path
) -> None:
    upload = tmp_path / "quokka lane.txt"
    upload.write_text(UPLOADED_TEXT, encoding="utf-8")
    page.locator(".docqa-documents-link").click()  # the documents are one click away
    page.set_input_files("#docqa-upload input[type=file]", str(upload))
    page.wait_for_selector("#docqa-upload :text('quokka lane.txt')")
    page.click("#docqa-add")
    assert "1 added" in wait_for_outcome(page, "1 added")
    page.wait_for_selector("#docqa-documents :text('quokka lane.txt')")
    page.screenshot(path=str(artifacts / "documents.png"))

    page.get_by_role("tab", name="Chat").click()
    reply = ask(page, "Who repainted the zebra crossing on Quokka Lane?")
    assert "quokka lane.txt" in reply and "Marigold Okafor" in reply
    page.wait_for_selector("#docqa-document #docqa-target")
    for region in ("#docqa-chat", "#docqa-document", "#docqa-passages"):
        assert page.locator(f"{region} script, {region} img").count() == 0
    assert page.evaluate("window.injected === undefined") and not alerts
    assert "<script>" in page.locator("#docqa-document").inner_text()  # shown as text

    page.get_by_role("tab", name="Documents").click()
    page.click("#docqa-delete-choice input")
    page.get_by_role("option", name="quokka lane.txt").click()
    page.click("#docqa-delete")
    assert "1 removed" in wait_for_outcome(page, "1 removed")
    page.wait_for_function("() => !document.querySelector('#docqa-documents').innerText.includes('quokka lane.txt')")


HARBOUR_QUESTION = "Who is the harbour master of Varnholm?"
WATCH_TIMEOUT_S = 30  # seconds, on a machine shared with other work; the watcher itself takes about one


def answer_until(url: str, question: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The answer to ``question`` through /ask, once ``done`` holds for it (the index follows the folder)."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    deadline = time.monotonic() + WATCH_TIMEOUT_S
    try:
        while not done(answer := client.predict(question=question, api_name="/ask")):
            if time.monotonic() > deadline:
                pytest.fail(f"no such answer to {question!r} within {WATCH_TIMEOUT_S} s: {answer['answer']!r}")
            time.sleep(0.5)
    finally:
        client.close()
    return answer


def choose_upload(page: Page, path: Path) -> None:
    page.set_input_files("#docqa-upload input[type=file]", str(path))
    page.wait_for_selector(f"#docqa-upload :text('{path.name}')")
    page.click("#docqa-add")


def test_the_folder_is_watched_and_an_upload_of_a_name_in_it_asks_whether_to_replace_it(
    page: Page, served: Served, tmp_path: Path, artifacts: Path
) -> None:
    corpus, name = served.folder / "corpus", "harbour notes.txt"
    (corpus / name).write_text("Harbour notes\n\nThe harbour master of Varnholm is Ivo Brandt.\n", encoding="utf-8")
    answer_until(served.url, HARBOUR_QUESTION, lambda answer: "Ivo Brandt" in answer["answer"])
    (corpus / name).write_text("Harbour notes\n\nThe harbour master of Varnholm is Runa Falk.\n", encoding="utf-8")
    answer_until(served.url, HARBOUR_QUESTION, lambda answer: "Runa Falk" in answer["answer"])  # edited in place

    upload = tmp_path / name
    upload.write_text("Harbour notes\n\nThe harbour master of Varnholm is Sten Vik.\n", encoding="utf-8")
    page.locator(".docqa-documents-link").click()
    prompt = page.locator("#docqa-replace-question")
    choose_upload(page, upload)
    prompt.wait_for(state="visible")
    assert "harbour notes.txt is in the corpus already" in prompt.inner_text()
    assert repeated_ids(page) == {}
    page.screenshot(path=str(artifacts / "replace-prompt.png"))
    page.click("#docqa-replace-yes")
    message = wait_for_outcome(page, "1 updated")
    assert message.startswith("Replaced harbour notes.txt") and "1 updated" in message
    assert prompt.is_hidden() and not (corpus / "harbour notes-2.txt").exists()
    answer = answer_until(served.url, HARBOUR_QUESTION, lambda answer: "Sten Vik" in answer["answer"])
    assert [citation["source"] for citation in answer["citations"]] == [name]

    choose_upload(page, upload)
    prompt.wait_for(state="visible")
    page.click("#docqa-keep-both")
    assert "harbour notes-2.txt" in wait_for_outcome(page, "1 added")
    page.wait_for_selector("#docqa-documents :text('harbour notes-2.txt')")

    choose_upload(page, upload)
    prompt.wait_for(state="visible")
    page.click("#docqa-upload-cancel")
    page.wait_for_selector("#docqa-documents-message :text('Nothing was added.')")
    assert prompt.is_hidden() and sorted(p.name for p in corpus.glob("harbour*")) == ["harbour notes-2.txt", name]

    for path in corpus.glob("harbour*"):  # deleted in the folder: the watcher takes them out of the index
        path.unlink()
    answer_until(served.url, HARBOUR_QUESTION, lambda answer: "harbour" not in json.dumps(answer["citations"]))


def test_turn_thirty_is_as_fast_as_turn_one(page: Page, artifacts: Path) -> None:
    """The page sends and receives one turn at a time, so a long conversation does not slow it down."""
    sent: list[int] = []
    page.on("request", lambda request: sent.append(len(request.post_data or "")) if request.method == "POST" else None)
    questions = [example["q"] for example in SEED["questions"]]
    seconds, posted = [], []
    for turn in range(30):
        before = len(sent)
        started = time.perf_counter()
        ask(page, questions[turn % len(questions)])
        seconds.append(time.perf_counter() - started)
        posted.append(sum(sent[before:]))
    (artifacts / "turn-latency.json").write_text(json.dumps({"seconds": seconds, "posted_bytes": posted}))
    first, last = statistics.median(seconds[:10]), statistics.median(seconds[-10:])
    print(f"turn latency, median of turns 1-10: {first:.2f} s, of turns 21-30: {last:.2f} s")
    assert max(posted[-5:]) <= max(posted[:5]) + 200  # nothing of the earlier turns is sent again
    assert page.locator(REPLIES).count() == 30
    assert last <= 2 * first + 1.0, seconds  # loose: the machine's load varies more than the page's cost


def test_a_correction_selected_in_the_document_is_stored_and_exported(page: Page, served: Served) -> None:
    ask(page, BUILDING_QUESTION)
    page.wait_for_function("() => document.querySelector('#docqa-document #docqa-target')"
                           "?.innerText.includes('Cannon')")
    page.evaluate(SELECT_IN_TARGET_JS, "Cannon building")  # as a person selects words with the mouse
    page.click("#docqa-use-selection")
    page.wait_for_selector("text=was saved as the answer")
    path = served.folder / "index" / "annotations.jsonl"
    [record] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    start = record["answers"][0]["answer_start"]
    assert record["question"] == BUILDING_QUESTION and record["source"] == seed_source(BUILDING_QUESTION)
    assert record["context"][start:start + len("Cannon building")] == "Cannon building"
    exported = served.folder / "corrections.json"
    command = [sys.executable, "-m", "docqa.cli", "annotations", "export", str(exported),
               "--corpus", str(served.folder / "corpus"), "--index", str(served.folder / "index")]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert finished.returncode == 0 and "Wrote 1 correction " in finished.stdout, finished.stderr
    [qa] = json.loads(exported.read_text())["data"][0]["paragraphs"][0]["qas"]
    assert qa["answers"][0]["text"] == "Cannon building" and qa["is_impossible"] is False


SELECT_IN_TARGET_JS = """(words) => {
  const node = document.querySelector('#docqa-document #docqa-target').firstChild;
  const range = document.createRange();
  range.setStart(node, node.textContent.indexOf(words));
  range.setEnd(node, node.textContent.indexOf(words) + words.length);
  window.getSelection().removeAllRanges();
  window.getSelection().addRange(range);
}"""


def test_the_ask_endpoint_returns_the_answer_as_data(app_url: str) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(app_url, verbose=False)
    result = client.predict(question=BUILDING_QUESTION, api_name="/ask")
    assert result["mode"] == "sentence" and not result["abstained"]
    assert result["confidence"] == confidence_label(result["score"])  # the level depends on the sentence scoring
    assert "Cannon building" in result["answer"]
    assert result["citations"][0]["source"] == seed_source(BUILDING_QUESTION)
    follow_up = client.predict(question="When?", history=[[BUILDING_QUESTION, result["answer"]]], top_k=2,
                               retrieval="bm25", api_name="/ask")
    assert follow_up["query"] != "When?" and len(follow_up["passages"]) <= 2
    elsewhere = [p.name for p in (ROOT / "corpus").iterdir() if p.name != seed_source(BUILDING_QUESTION)]
    limited = client.predict(question=BUILDING_QUESTION, sources=elsewhere, api_name="/ask")
    assert {p["source"] for p in limited["passages"]} <= set(elsewhere)
    with pytest.raises(AppError, match="the question is empty"):
        client.predict(question="  ", api_name="/ask")
