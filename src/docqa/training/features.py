"""Examples as the windows the reader reads, each with its start and end target.

Questions are cut and contexts windowed by ``docqa.reader.windows``, the reader's own code, so the
model learns from the very windows it is later asked to read; a window without the whole answer,
and every window of an unanswerable question, targets the null token, as the reader reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from docqa.reader.windows import answer_targets, encode_windows, shorten_question
from docqa.training.data import Example

TARGETS = ("start_positions", "end_positions")


@dataclass
class Features:
    """One row per window: the model's inputs (unpadded) and its two targets."""

    inputs: dict[str, list[np.ndarray]]
    start_positions: list[int]
    end_positions: list[int]

    def __len__(self) -> int:
        return len(self.start_positions)

    @property
    def answered(self) -> int:
        """Windows whose target is a span rather than the null token."""
        return sum(start > 0 for start in self.start_positions)

    def batch(self, rows: Sequence[int], pad_id: int) -> dict[str, np.ndarray]:
        """Rows ``rows`` padded on the right to the longest of them (padding on the right keeps
        the null token first, as the reader pads)."""
        length = max(len(self.inputs["input_ids"][row]) for row in rows)
        batch = {}
        for name, arrays in self.inputs.items():
            fill = pad_id if name == "input_ids" else 0
            padded = [np.pad(arrays[r], (0, length - len(arrays[r])), constant_values=fill) for r in rows]
            batch[name] = np.stack(padded)
        batch["start_positions"] = np.array([self.start_positions[r] for r in rows])
        batch["end_positions"] = np.array([self.end_positions[r] for r in rows])
        return batch


def build_features(tokenizer: Any, examples: Sequence[Example], max_seq_length: int, stride: int) -> Features:
    names = [name for name in tokenizer.model_input_names if name in ("input_ids", "token_type_ids", "attention_mask")]
    features = Features({name: [] for name in names}, [], [])
    for example in examples:
        question, tokens, _ = shorten_question(tokenizer, example.question.question, max_seq_length)
        encodings = encode_windows(tokenizer, question, tokens, [example.context], max_seq_length, stride)
        starts, ends = answer_targets(encodings, [example.answer])
        lengths = encodings["attention_mask"].sum(axis=1)
        for window, length in enumerate(lengths.tolist()):
            for name in names:
                features.inputs[name].append(encodings[name][window, :length].astype(np.int64))
        features.start_positions.extend(starts)
        features.end_positions.extend(ends)
    return features
