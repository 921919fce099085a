"""Span decoding: from a model's start and end logits to scored answer spans.

Pure functions of arrays and text, so they are tested without a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPANS_PER_WINDOW = 5  # distinct spans kept per window, a margin over top_answers for merging


@dataclass(frozen=True)
class SpanCandidate:
    """A span of one window, in token positions, with its logits."""

    window: int
    start_token: int
    end_token: int
    logit: float  # start logit + end logit
    null_logit: float  # the window's no-answer logit: start + end logit at the first position


def decode_spans(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    context_mask: np.ndarray,
    max_answer_tokens: int,
    per_window: int = SPANS_PER_WINDOW,
) -> list[SpanCandidate]:
    """Up to ``per_window`` best spans of every window that do not overlap, best logit first.

    Arrays are (windows, tokens); ``context_mask`` marks the tokens of the passage. A span lies in
    the passage and is 1 to ``max_answer_tokens`` tokens long. Every such span is scored, so the
    best one is found even where the best start and end tokens are too far apart to pair; each
    window's spans are then taken greedily, skipping those that overlap one already taken, so the
    alternatives are other answers rather than the best one with a word more or less.
    """
    windows, tokens = start_logits.shape
    span_starts = np.arange(tokens)[:, None]
    span_ends = span_starts + np.arange(min(max_answer_tokens, tokens))[None, :]
    masked_start = np.where(context_mask, start_logits, -np.inf)
    masked_end = np.where(context_mask, end_logits, -np.inf)
    sums = masked_start[:, :, None] + masked_end[:, np.minimum(span_ends, tokens - 1)]
    sums[:, span_ends >= tokens] = -np.inf
    flat = sums.reshape(windows, -1)  # (window, start token x length)
    flat_starts = np.broadcast_to(span_starts, span_ends.shape).ravel()
    flat_ends = span_ends.ravel()
    null_logits = (start_logits[:, 0] + end_logits[:, 0]).tolist()
    rows = np.arange(windows)
    candidates = []
    for _ in range(per_window):
        best = flat.argmax(axis=1)
        logits = flat[rows, best]
        if not np.isfinite(logits).any():
            break
        for window in np.flatnonzero(np.isfinite(logits)).tolist():
            start, end = int(flat_starts[best[window]]), int(flat_ends[best[window]])
            candidates.append(SpanCandidate(window, start, end, float(logits[window]), null_logits[window]))
        taken_starts, taken_ends = flat_starts[best][:, None], flat_ends[best][:, None]
        flat[(flat_starts <= taken_ends) & (flat_ends >= taken_starts)] = -np.inf
    candidates.sort(key=lambda c: (-c.logit, c.window, c.start_token))
    return candidates


def widen_to_words(text: str, start: int, end: int) -> tuple[int, int]:
    """Grow ``text[start:end]`` to whole words where a subword token cut one, leaving out the
    whitespace at its edges (a span of whitespace alone is kept as it is)."""
    if text[start:end].strip():
        while text[start].isspace():
            start += 1
        while text[end - 1].isspace():
            end -= 1
    while 0 < start < len(text) and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while 0 < end < len(text) and text[end - 1].isalnum() and text[end].isalnum():
        end += 1
    return start, end
