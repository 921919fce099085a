"""A list answer and disagreeing documents in the chat, at a desktop's size and a phone's.

The app is served in this process with the tiny reader, whose model is replaced by one that scores
the names and times of the little corpus here high wherever they stand, so the answers are fixed.
Screenshots go to $DOCQA_TEST_ARTIFACTS, or to a temporary folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from test_browser import DESKTOP, PHONE, REPLIES, alerts, artifacts, ask, browser, free_port, open_page
from tiny_models import peaked_logits
from tokenizers import Tokenizer

from docqa.assistant import Assistant
from docqa.reader.extractive import ExtractiveReader

pytestmark = pytest.mark.browser
__all__ = ["alerts", "artifacts", "browser"]  # fixtures of test_browser used here

NAMES = ("Capitol", "Trump", "Pence")
TIMES = ("8 pm", "10 pm")
LIST_QUESTION = "Which names were mentioned at the meeting on Monday?"
CONFLICT_QUESTION = "When does the library close on weekdays?"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory, tiny_reader_path: Path) -> Iterator[str]:
    from docqa.ui.serve import start

    folder = tmp_path_factory.mktemp("answers")
    corpus = folder / "corpus"
    corpus.mkdir()
    for number, name in enumerate(NAMES):
        (corpus / f"note-{number}.txt").write_text(f"At the meeting on Monday, {name} was mentioned.\n", "utf-8")
    for name, effective, time in (("library-hours.txt", "1 March 2023", TIMES[0]),
                                  ("library-hours-2.txt", "2 September 2024", TIMES[1])):  # fmt: skip
        text = f"Library hours\n\nEffective {effective}.\n\nThe library closes at {time} on weekdays.\n"
        (corpus / name).write_text(text, "utf-8")
    tokenizer = Tokenizer.from_file(str(tiny_reader_path / "tokenizer.json"))
    wanted = [tokenizer.encode(text, add_special_tokens=False).ids for text in (*NAMES, *TIMES)]
    forward = peaked_logits(wanted)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ExtractiveReader, "_forward", lambda self, encodings: forward(encodings))
        assistant = Assistant(corpus, folder / "index", embedding_model="none", reader_model=str(tiny_reader_path))
        assistant.warm_up()
        app, indexing = start(assistant, host="127.0.0.1", port=free_port(), auth=None, watch=False)
        indexing.join()
        try:
            yield app.local_url or ""
        finally:
            app.close()
            assistant.close()


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def sized(request: pytest.FixtureRequest, browser: Browser, app_url: str, alerts: list[str]) -> Iterator[Page]:
    opened = open_page(browser, app_url, alerts, request.param)
    yield opened
    opened.context.close()


def test_a_list_answer_shows_each_item_with_its_own_source(sized: Page, artifacts: Path) -> None:
    ask(sized, LIST_QUESTION)
    reply = sized.locator(REPLIES).last
    items = reply.locator("ul.docqa-items li")
    assert sorted(text.rstrip("0123456789") for text in items.all_inner_texts()) == sorted(NAMES)  # name, marker
    assert items.count() == 3 and reply.locator("ol.docqa-citations li").count() == 3
    second = items.nth(1)
    name = second.inner_text().rstrip("0123456789")
    second.locator(".docqa-cite").click()
    # The panel showed the first item's source before the click: wait for the second's, its own span in its file.
    expect(sized.locator("#docqa-document mark.docqa-answer")).to_have_text(name, timeout=30_000)
    width = sized.viewport_size["width"] if sized.viewport_size else 0
    assert reply.bounding_box() is not None and reply.bounding_box()["width"] <= width  # type: ignore[index]
    sized.screenshot(path=str(artifacts / f"list-answer-{width}.png"), full_page=True)


def test_disagreeing_documents_are_shown_newest_first_with_their_dates(sized: Page, artifacts: Path) -> None:
    text = ask(sized, CONFLICT_QUESTION)
    lines = sized.locator(REPLIES).last.locator(".docqa-conflicts li").all_inner_texts()
    assert "disagree" in text and len(lines) == 2
    assert TIMES[1] in lines[0] and "2024-09-02" in lines[0] and "library-hours-2.txt" in lines[0]
    assert TIMES[0] in lines[1] and "2023-03-01" in lines[1] and "library-hours.txt" in lines[1]
    width = sized.viewport_size["width"] if sized.viewport_size else 0
    sized.screenshot(path=str(artifacts / f"conflict-answer-{width}.png"), full_page=True)
