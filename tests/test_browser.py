"""The chat app served by ``app.py`` and driven in headless Chromium, and its API through gradio_client.

The app runs in the lexical mode (no models) over a copy of the corpus, so that answers are
deterministic. Screenshots go to $DOCQA_TEST_ARTIFACTS, or to a temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, sync_playwright

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SEED = json.loads((ROOT / "tests" / "seed_examples.json").read_text(encoding="utf-8"))
BUILDING_QUESTION = "Which building did Capitol Police order Congressional staff to leave?"
UPLOADED_TEXT = (
    "Quokka Lane notes\n\nThe zebra crossing on Quokka Lane was repainted by Marigold Okafor in 1951.\n"
    "<script>window.injected = true</script> <img src=x onerror=\"window.injected = true\">\n"
)
START_TIMEOUT_S = 90
ANSWER_TIMEOUT_MS = 30_000


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


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("app")
    shutil.copytree(ROOT / "corpus", folder / "corpus")
    port = free_port()
    log = folder / "app.log"
    command = [sys.executable, str(ROOT / "app.py"), "--corpus", str(folder / "corpus"),
               "--index", str(folder / "index"), "--embedding-model", "none", "--reader-model", "none",
               "--port", str(port)]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    for inherited in ("DOCQA_AUTH_USERNAME", "DOCQA_AUTH_PASSWORD", "GRADIO_SERVER_NAME"):
        env.pop(inherited, None)
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, process, log)
        wait_until_indexed(url, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


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


@pytest.fixture
def page(browser: Browser, app_url: str, alerts: list[str]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()

    def answer_dialog(dialog: Dialog) -> None:
        if dialog.type == "confirm":
            dialog.accept()
        else:
            alerts.append(dialog.message)
            dialog.dismiss()

    opened.on("dialog", answer_dialog)
    opened.goto(app_url)
    opened.wait_for_selector("#docqa-question textarea")
    yield opened
    context.close()


def ask(page: Page, question: str) -> str:
    """Type ``question``, press Enter, and return the text of the reply when it arrives."""
    replies = page.locator("#docqa-chat [data-testid='bot']")
    before = replies.count()
    page.fill("#docqa-question textarea", question)
    page.press("#docqa-question textarea", "Enter")
    replies.nth(before).wait_for(timeout=ANSWER_TIMEOUT_MS)
    return replies.nth(before).inner_text()


def seed_source(question: str) -> str:
    [example] = [q for q in SEED["questions"] if q["q"] == question]
    [path] = [p for p in (ROOT / "corpus").iterdir() if p.name.startswith(example["src"])]
    return path.name


def test_a_question_is_answered_with_its_source_shown_highlighted(page: Page, artifacts: Path) -> None:
    reply = ask(page, BUILDING_QUESTION)
    source = seed_source(BUILDING_QUESTION)
    assert source in reply and "Best-matching sentence" in reply and "Cannon building" in reply
    assert page.locator("#docqa-chat [data-testid='bot'] mark").first.inner_text().count("Cannon") == 1
    target = page.locator("#docqa-document #docqa-target")
    target.wait_for()
    assert "Cannon building" in target.inner_text()
    assert source in page.locator("#docqa-document").inner_text()
    follow_up = ask(page, "Who said she had just evacuated her office in Cannon?")
    assert "Nancy Mace" in follow_up
    assert page.locator("#docqa-chat [data-testid='bot']").count() == 2
    page.screenshot(path=str(artifacts / "chat.png"), full_page=True)


def test_choosing_a_passage_opens_its_document_at_the_passage(page: Page, artifacts: Path) -> None:
    ask(page, BUILDING_QUESTION)
    page.locator("#docqa-source-choice label").last.click()
    page.wait_for_selector("#docqa-document mark.docqa-passage-span")
    box = page.locator("#docqa-document .docqa-doc").bounding_box()
    mark = page.locator("#docqa-document #docqa-target").bounding_box()
    assert box and mark and box["y"] <= mark["y"] < box["y"] + box["height"]  # scrolled into view
    assert page.locator("#docqa-document .docqa-doc").evaluate("box => box.scrollTop") > 0
    page.get_by_text("Retrieved passages").click()
    page.locator("#docqa-passages .docqa-passage").nth(1).wait_for()
    assert "score" in page.locator("#docqa-passages").inner_text()
    page.screenshot(path=str(artifacts / "sources.png"), full_page=True)


def test_an_uploaded_document_is_answerable_at_once_and_cannot_inject(
    page: Page, alerts: list[str], artifacts: Path, tmp_path: Path
) -> None:
    upload = tmp_path / "quokka lane.txt"
    upload.write_text(UPLOADED_TEXT, encoding="utf-8")
    page.get_by_role("tab", name="Documents").click()
    page.set_input_files("#docqa-upload input[type=file]", str(upload))
    page.wait_for_selector("#docqa-upload :text('quokka lane.txt')")
    page.click("#docqa-add")
    page.wait_for_selector("#docqa-documents-message :text('1 added')", timeout=ANSWER_TIMEOUT_MS)
    assert "quokka lane.txt" in page.locator("#docqa-documents").inner_text()
    page.screenshot(path=str(artifacts / "documents.png"), full_page=True)

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
    page.wait_for_selector("#docqa-documents-message :text('1 removed')", timeout=ANSWER_TIMEOUT_MS)
    assert "quokka lane.txt" not in page.locator("#docqa-documents").inner_text()


def test_the_ask_endpoint_returns_the_answer_as_data(app_url: str) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(app_url, verbose=False)
    result = client.predict(question=BUILDING_QUESTION, api_name="/ask")
    assert result["mode"] == "sentence" and not result["abstained"]
    assert "Cannon building" in result["answer"]
    assert result["citations"][0]["source"] == seed_source(BUILDING_QUESTION)
    follow_up = client.predict(question="When?", history=[[BUILDING_QUESTION, result["answer"]]], top_k=2,
                               retrieval="bm25", api_name="/ask")
    assert follow_up["query"] != "When?" and len(follow_up["passages"]) <= 2
    with pytest.raises(AppError, match="the question is empty"):
        client.predict(question="  ", api_name="/ask")
