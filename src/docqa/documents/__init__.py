"""The corpus folder's files as ``Document`` records: which formats are read, and how.

``formats`` is the registry of file formats; ``loading`` finds, hashes and parses the files.
"""

from docqa.documents.common import UnreadableFile
from docqa.documents.formats import MAX_FILE_BYTES, SUFFIXES, Format, format_for, sniff_problem
from docqa.documents.loading import SourceFile, load_document, load_documents, parse_file, scan_corpus

__all__ = [
    "MAX_FILE_BYTES",
    "SUFFIXES",
    "Format",
    "SourceFile",
    "UnreadableFile",
    "format_for",
    "load_document",
    "load_documents",
    "parse_file",
    "scan_corpus",
    "sniff_problem",
]
