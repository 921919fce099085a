from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
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


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Milvus server for the session: ``milvus-lite server`` (Milvus's gRPC protocol, as a deployment's
    server speaks it) on a free port of this machine, with its data in a temporary folder; its URI."""
    executable = shutil.which("milvus-lite", path=str(Path(sys.executable).parent)) or shutil.which("milvus-lite")
    if executable is None:
        pytest.skip("milvus-lite is not installed: pip install -e '.[milvus]'")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path_factory.mktemp("milvus-server")
    command = [executable, "server", "--data-dir", str(folder / "data"), "--host", "127.0.0.1", "--port", str(port)]
    with (folder / "server.log").open("w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not _listening(port):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"milvus-lite server did not start: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True
