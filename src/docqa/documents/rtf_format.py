"""Rich Text Format (.rtf), read with striprtf: the text without its control words."""

from __future__ import annotations

from docqa.documents.common import Parsed, UnreadableFile, needs, parsed
from docqa.documents.text_format import decoded


def parse_rtf(data: bytes) -> Parsed:
    """The text, title (its first line) and date (a marker) of an RTF file."""
    striprtf = needs("striprtf.striprtf", "striprtf", ".rtf")
    # RTF is 7-bit text that spells other characters as escapes; the decoder only has to accept it.
    markup = decoded(data)
    if not markup.lstrip("\ufeff \t\r\n").startswith("{\\rtf"):
        raise UnreadableFile("damaged RTF (it does not start with {\\rtf)")
    try:
        text = striprtf.rtf_to_text(markup, errors="replace")
    except Exception as error:  # striprtf raises on malformed escapes
        raise UnreadableFile(f"damaged RTF ({type(error).__name__}: {error})") from error
    return parsed([("", text)])
