"""The straightforward extractive reader that docqa's reader is measured against.

Every window is padded to 384 tokens, windows overlap by 128 tokens, the model runs in fp32, and
each passage gets its own forward pass: what a first implementation with ``transformers`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

MAX_LENGTH = 384
STRIDE = 128
MAX_ANSWER_TOKENS = 30


def best_span(start: np.ndarray, end: np.ndarray, context: np.ndarray, max_tokens: int) -> tuple[int, int, float]:
    """(start token, end token, start + end logit) of the best span of the context tokens."""
    scores = np.where(context, start, -np.inf)[:, None] + np.where(context, end, -np.inf)[None, :]
    length = np.arange(len(start))[None, :] - np.arange(len(start))[:, None]
    scores[(length < 0) | (length >= max_tokens)] = -np.inf
    first, last = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return int(first), int(last), float(scores[first, last])


class NaiveReader:
    def __init__(self, folder: str) -> None:
        from transformers import AutoModelForQuestionAnswering, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForQuestionAnswering.from_pretrained(folder).eval()

    def read(self, question: str, passages: Sequence[Any]) -> tuple[str, float]:
        """The best answer over ``passages`` (``RetrievedPassage``) and its logit."""
        import torch

        best_text, best_logit = "", -np.inf
        for passage in passages:
            text = passage.chunk.text
            encoded = self.tokenizer(
                question,
                text,
                truncation="only_second",
                max_length=MAX_LENGTH,
                stride=STRIDE,
                return_overflowing_tokens=True,
                return_offsets_mapping=True,
                padding="max_length",
                return_tensors="pt",
            )
            offsets = encoded.pop("offset_mapping").tolist()
            encoded.pop("overflow_to_sample_mapping")
            with torch.no_grad():
                output = self.model(**encoded)
            for window in range(len(offsets)):
                context = np.array([sequence == 1 for sequence in encoded.sequence_ids(window)])
                first, last, logit = best_span(
                    output.start_logits[window].numpy(), output.end_logits[window].numpy(), context, MAX_ANSWER_TOKENS
                )
                if logit > best_logit:
                    best_text, best_logit = text[offsets[window][first][0] : offsets[window][last][1]], logit
        return best_text, best_logit
