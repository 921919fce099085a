"""The one place that decides which reader the settings ask for."""

from __future__ import annotations

from pathlib import Path

from docqa.config import Settings
from docqa.models import is_disabled
from docqa.reader.base import Reader
from docqa.reader.calibration import load_calibration
from docqa.reader.extractive import ExtractiveReader
from docqa.reader.sentence import SentenceReader


def build_reader(settings: Settings, cache_dir: Path) -> Reader:
    """The extractive reader of ``settings.reader_model``, or the sentence reader when it is ``none``.

    Nothing is loaded yet: ``warm_up`` loads the model, and raises ``ModelLoadError`` when it
    cannot, so the caller decides what to fall back to. ``cache_dir`` holds the ONNX copy.
    """
    if is_disabled(settings.reader_model):
        return SentenceReader()
    return ExtractiveReader(
        settings.reader_model,
        max_answer_tokens=settings.max_answer_tokens,
        cached_results=settings.reader_cache,
        read_first=settings.read_first,
        precision=settings.precision,
        backend=settings.backend,
        cache_dir=cache_dir,
    )


def effective_threshold(settings: Settings, reader: Reader | None) -> float:
    """The confidence threshold of ``settings``, else ``reader``'s default; before the reader is
    loaded (``None``), the default of the one the settings ask for."""
    if settings.confidence_threshold is not None:
        return settings.confidence_threshold
    if reader is not None:
        return reader.default_threshold
    if is_disabled(settings.reader_model):
        return SentenceReader.default_threshold
    return load_calibration(settings.reader_model).threshold
