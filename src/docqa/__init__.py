"""docqa: exact, cited answers from a folder of documents.

The public names load on first use (PEP 562), so ``import docqa.reader`` or ``import docqa.chunking``
costs only what that module needs, and ``import docqa`` itself loads nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from docqa.lazy import lazy_exports
from docqa.version import __version__

if TYPE_CHECKING:
    from docqa.assistant import Assistant, AssistantStatus, answer
    from docqa.config import Settings
    from docqa.errors import DocqaError, ModelLoadError
    from docqa.schema import Answer, Chunk, Citation, Document, ExtractedAnswer, IndexReport, RetrievedPassage

_EXPORTS = {
    "Answer": "docqa.schema",
    "Assistant": "docqa.assistant",
    "AssistantStatus": "docqa.assistant",
    "Chunk": "docqa.schema",
    "Citation": "docqa.schema",
    "DocqaError": "docqa.errors",
    "Document": "docqa.schema",
    "ExtractedAnswer": "docqa.schema",
    "IndexReport": "docqa.schema",
    "ModelLoadError": "docqa.errors",
    "RetrievedPassage": "docqa.schema",
    "Settings": "docqa.config",
    "answer": "docqa.assistant",
}

__all__ = [
    "Answer",
    "Assistant",
    "AssistantStatus",
    "Chunk",
    "Citation",
    "DocqaError",
    "Document",
    "ExtractedAnswer",
    "IndexReport",
    "ModelLoadError",
    "RetrievedPassage",
    "Settings",
    "__version__",
    "answer",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
