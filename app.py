"""Serve the docqa chat app: ``python app.py`` is ``docqa serve`` (see ``python app.py --help``)."""

import sys

from docqa.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
