from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings
from tiny_models import build_tiny_embedder, build_tiny_reader

CORPUS_DIR = Path(__file__).resolve().parent.parent / "corpus"

# No per-example time limit: speed is measured by the benchmarks, and a loaded machine must not fail a test.
settings.register_profile("docqa", deadline=None)
settings.load_profile("docqa")


@pytest.fixture(scope="session")
def corpus_texts() -> list[str]:
    """The texts of the shipped corpus, in file-name order."""
    return [path.read_text(encoding="utf-8") for path in sorted(CORPUS_DIR.glob("*.txt"))]


@pytest.fixture(scope="session")
def tiny_reader_path(tmp_path_factory: pytest.TempPathFactory, corpus_texts: list[str]) -> Path:
    """A tiny random extractive QA model with a tokenizer trained on the corpus."""
    return build_tiny_reader(tmp_path_factory.mktemp("tiny-reader"), corpus_texts)


@pytest.fixture(scope="session")
def tiny_embedder_path(tmp_path_factory: pytest.TempPathFactory, corpus_texts: list[str]) -> Path:
    """A tiny random sentence-transformers model with a tokenizer trained on the corpus."""
    return build_tiny_embedder(tmp_path_factory.mktemp("tiny-embedder"), corpus_texts)
