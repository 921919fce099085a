"""Runs one measurement in its own process: ``python child.py MODULE FUNCTION REQUEST.json RESULT.json``.

The function is called with the request's keyword arguments; its result, plus this process's
peak resident set size, is written as JSON.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from common import peak_rss_bytes, seed_everything


def main(module: str, function: str, request: str, result: str) -> int:
    seed_everything()
    arguments = json.loads(Path(request).read_text())
    measured = getattr(importlib.import_module(module), function)(**arguments)
    measured["peak_rss_bytes"] = peak_rss_bytes()
    Path(result).write_text(json.dumps(measured, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
