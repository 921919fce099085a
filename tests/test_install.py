"""The install that the README describes can read every format.

A library can be installed and still fail to import, as when lxml moved ``lxml.html.clean`` into a
project of its own and trafilatura with it stopped importing: every HTML file was then skipped.
This test imports each format's libraries and fails (never skips) when one cannot be imported, so
that a fresh install made as the README says shows such a break at once.
"""

from __future__ import annotations

import pytest

from docqa.documents import formats


def test_every_format_library_imports_in_the_readme_install() -> None:
    problems = formats.library_problems()
    assert problems == {}, "libraries that do not import: " + "; ".join(f"{k} ({v})" for k, v in problems.items())


def test_a_library_that_fails_to_import_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = formats.importlib.import_module

    def import_module(name: str):  # type: ignore[no-untyped-def]
        if name == "trafilatura":
            raise ImportError("lxml.html.clean module is now a separate project lxml_html_clean")
        return real_import(name)

    monkeypatch.setattr(formats.importlib, "import_module", import_module)
    problems = formats.library_problems()
    assert list(problems) == ["trafilatura"]
    assert "lxml_html_clean" in problems["trafilatura"]


def test_every_format_names_its_libraries() -> None:
    assert all(form.libraries for form in formats.FORMATS)
