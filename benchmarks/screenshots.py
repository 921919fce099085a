"""The README's screenshots of the chat app, taken in headless Chromium.

Starts ``app.py`` in the lexical mode (no models, so the answers are the same on every machine)
over a copy of the corpus in a temporary folder, asks the questions the README shows, and writes
``chat-desktop.png``, ``chat-phone.png`` and ``documents.png`` into ``--out`` (``docs/`` by default,
the only files it writes outside its temporary folder). Needs Chromium (``apt-get install -y
chromium``) and the ``playwright`` package.

    python benchmarks/screenshots.py                 # rewrites docs/*.png
    python benchmarks/screenshots.py --out /tmp/shots
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from gradio_client import Client
from load_test import NO_MODEL, Folders, Models, running_app
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 390, "height": 844}
QUESTION = "Which building did Capitol Police order Congressional staff to leave?"
FOLLOW_UP = "Who said she had just evacuated her office in Cannon?"
INDEX_TIMEOUT_S = 120.0
ANSWER_TIMEOUT_MS = 60_000
REPLIES = "#docqa-chat .docqa-reply"


def wait_until_indexed(url: str) -> None:
    """The app listens before its first index is built, and says so in its answers until it is."""
    client = Client(url, verbose=False)
    deadline = time.monotonic() + INDEX_TIMEOUT_S
    try:
        while "being built" in client.predict(question=QUESTION, api_name="/ask")["message"]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app did not build its index within {INDEX_TIMEOUT_S:.0f} s")
            time.sleep(0.5)
    finally:
        client.close()


def settle(page: Page) -> None:
    """Wait until no component waits for the server (Gradio dims those that do), then for the page to scroll."""
    page.wait_for_function("() => !document.querySelector('.pending, .generating')", timeout=ANSWER_TIMEOUT_MS)
    page.wait_for_timeout(300)


def ask(page: Page, question: str) -> None:
    replies = page.locator(REPLIES)
    before = replies.count()
    page.fill("#docqa-question textarea", question)
    page.press("#docqa-question textarea", "Enter")
    replies.nth(before).wait_for(timeout=ANSWER_TIMEOUT_MS)
    settle(page)


def open_source(page: Page, which: int, words: str) -> None:
    """Click the numbered marker of reply ``which`` and wait until its document shows ``words`` highlighted."""
    page.locator(f"{REPLIES} sup .docqa-cite").nth(which).click()
    page.wait_for_function(
        "(words) => document.querySelector('#docqa-document #docqa-target')?.innerText.includes(words)", arg=words
    )
    settle(page)


def take(url: str, out: Path) -> list[Path]:
    written = [out / "chat-desktop.png", out / "chat-phone.png", out / "documents.png"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        desktop = browser.new_page(viewport=DESKTOP)
        desktop.goto(url)
        desktop.wait_for_selector("#docqa-chat .docqa-welcome")
        ask(desktop, QUESTION)
        ask(desktop, FOLLOW_UP)
        open_source(desktop, -1, "Mace")
        desktop.screenshot(path=str(written[0]))
        desktop.get_by_role("tab", name="Documents").click()
        desktop.locator("#docqa-documents table").wait_for()
        settle(desktop)
        desktop.screenshot(path=str(written[2]))

        phone = browser.new_page(viewport=PHONE)
        phone.goto(url)
        phone.wait_for_selector("#docqa-chat .docqa-welcome")
        ask(phone, QUESTION)
        phone.screenshot(path=str(written[1]))
        browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder to write the PNG files to")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="docqa-screenshots-") as work,
        running_app(Folders.create(Path(work)), Models(NO_MODEL, NO_MODEL)) as server,
    ):
        wait_until_indexed(server.url)
        for path in take(server.url, args.out):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
