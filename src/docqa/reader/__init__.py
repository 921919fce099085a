"""Readers: find the answer inside retrieved passages.

``ExtractiveReader`` runs an extractive question-answering model over every passage and returns
spans of the text; ``SentenceReader`` needs no model and returns the sentences of the best
passage that share most words with the question. Both follow the ``Reader`` protocol and return
a ``ReaderResult`` whose answers carry character offsets in the source document and a score;
``build_reader`` picks one from the settings. Importing this package loads no model library:
torch and transformers are imported when a model is first loaded.
"""

from docqa.reader.base import Reader, ReaderResult
from docqa.reader.extractive import ExtractiveReader, WindowLogits
from docqa.reader.factory import build_reader, effective_threshold
from docqa.reader.sentence import SentenceReader

__all__ = [
    "ExtractiveReader", "Reader", "ReaderResult", "SentenceReader", "WindowLogits",
    "build_reader", "effective_threshold",
]  # fmt: skip
