"""Windows of a question and a passage as an extractive model reads them, and their answer targets.

The reader and ``docqa train`` both cut questions, split passages into overlapping windows and map
tokens back to characters through these functions, so a model is trained on exactly the windows it
later reads. The first token of a window (``[CLS]``) stands for "no answer".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

MAX_QUESTION_TOKENS = 64  # longer questions are cut so the passage keeps most of the window
NULL_POSITION = 0  # the token a window's "no answer" is read from and trained towards


def question_budget(max_seq_length: int) -> int:
    """The most tokens a question may take of a window of ``max_seq_length`` tokens."""
    return min(MAX_QUESTION_TOKENS, max_seq_length // 3)


def shorten_question(tokenizer: Any, question: str, max_seq_length: int) -> tuple[str, int, bool]:
    """The question cut to its token budget, its length in tokens, and whether it was cut."""
    tokens = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
    budget = question_budget(max_seq_length)
    if len(tokens["input_ids"]) <= budget:
        return question, len(tokens["input_ids"]), False
    return question[: tokens["offset_mapping"][budget - 1][1]], budget, True


def encode_windows(
    tokenizer: Any, question: str, question_tokens: int, contexts: Sequence[str], max_seq_length: int, stride: int
) -> Any:
    """``question`` (already shortened) paired with every text of ``contexts``, each split into
    overlapping windows of at most ``max_seq_length`` tokens, padded to the longest, as numpy arrays
    with ``offset_mapping`` and ``overflow_to_sample_mapping``."""
    max_length = min(max_seq_length, tokenizer.model_max_length)
    room = max_length - question_tokens - tokenizer.num_special_tokens_to_add(pair=True)
    return tokenizer(
        [question] * len(contexts),
        list(contexts),
        truncation="only_second",
        max_length=max_length,
        stride=min(stride, room // 2),  # the tokenizer needs the stride shorter than the room
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        return_attention_mask=True,
        padding="longest",
        return_tensors="np",
    )


def context_mask(encodings: Any) -> np.ndarray:
    """(windows, tokens) bool: the tokens of the passage, not the question nor special tokens."""
    windows = len(encodings["input_ids"])
    return np.array([[sequence == 1 for sequence in encodings.sequence_ids(w)] for w in range(windows)], dtype=bool)


def answer_targets(encodings: Any, answers: Sequence[tuple[int, int] | None]) -> tuple[list[int], list[int]]:
    """The start and end token of each window's answer, or ``NULL_POSITION`` for both.

    ``answers`` holds, for each context encoded, the answer's character span in it (start, end),
    or None where the question has no answer. A window that does not hold the whole answer
    targets "no answer", as the reader reads such a window.
    """
    mask = context_mask(encodings)
    offsets = encodings["offset_mapping"]
    starts, ends = [], []
    for window, owner in enumerate(encodings["overflow_to_sample_mapping"].tolist()):
        span = answers[owner]
        tokens = np.flatnonzero(mask[window])
        start = end = NULL_POSITION
        if span is not None and len(tokens):
            first, last = int(tokens[0]), int(tokens[-1])
            if offsets[window][first][0] <= span[0] and offsets[window][last][1] >= span[1]:
                inside = tokens[offsets[window][tokens][:, 1] > span[0]]
                start = int(inside[0])
                ending = tokens[offsets[window][tokens][:, 0] < span[1]]
                end = max(int(ending[-1]), start)
        starts.append(start)
        ends.append(end)
    return starts, ends
