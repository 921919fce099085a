"""docqa: exact, cited answers from a folder of documents."""

__version__ = "0.1.0"

from docqa.assistant import Assistant, AssistantStatus, answer
from docqa.config import Settings
from docqa.errors import DocqaError, ModelLoadError
from docqa.schema import Answer, Chunk, Citation, Document, ExtractedAnswer, IndexReport, RetrievedPassage

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
