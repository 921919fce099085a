"""Tokenizing for the ONNX copies of the models with the ``tokenizers`` library alone.

transformers imports torch along with its tokenizer classes, and torch takes seconds to import;
the Rust tokenizer behind transformers' fast tokenizers does the same work without it. A copy's
export saves the model's tokenizer beside it (``save``), and ``Tokenizer`` answers, from those
files, the calls that the embedder and the reader's windows (``docqa.reader.windows``) make of a
transformers fast tokenizer, with the same ids, offsets and windows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

TOKENIZER_FOLDER = "tokenizer"  # in a copy's folder
SETTINGS_FILE = "docqa-tokenizer.json"
NO_LIMIT = 1_000_000_000  # transformers' "no maximum length" is a huge float


def save(tokenizer: Any, folder: Path, **settings: Any) -> None:
    """Save a transformers fast ``tokenizer`` and what ``Tokenizer`` needs besides (and ``settings``)."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"))
    described = {
        "model_max_length": int(min(tokenizer.model_max_length, NO_LIMIT)),
        "model_input_names": list(tokenizer.model_input_names),
        "pad_token_id": tokenizer.pad_token_id or 0,
        "pad_token_type_id": tokenizer.pad_token_type_id or 0,
        **settings,
    }
    (folder / SETTINGS_FILE).write_text(json.dumps(described, indent=2) + "\n", encoding="utf-8")


def saved(folder: Path) -> bool:
    return (folder / "tokenizer.json").is_file() and (folder / SETTINGS_FILE).is_file()


class Encoded(dict):
    """Arrays by name, as transformers' ``BatchEncoding``; ``sequence_ids`` as it answers them."""

    def __init__(self, arrays: dict[str, Any], sequence_ids: list[list[int | None]]) -> None:
        super().__init__(arrays)
        self._sequence_ids = sequence_ids

    def sequence_ids(self, row: int = 0) -> list[int | None]:
        return self._sequence_ids[row]


class Tokenizer:
    """A transformers fast tokenizer's calls, from the files ``save`` wrote in ``folder``."""

    is_fast = True
    padding_side = "right"

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer as Backend

        self._backend = Backend.from_file(str(folder / "tokenizer.json"))
        self._backend.no_truncation()
        self._backend.no_padding()
        self.settings = json.loads((folder / SETTINGS_FILE).read_text(encoding="utf-8"))
        self.model_max_length = int(self.settings["model_max_length"])
        self.model_input_names = list(self.settings["model_input_names"])

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return self._backend.num_special_tokens_to_add(pair)

    def __call__(
        self,
        text: str | Sequence[str],
        text_pair: Sequence[str] | None = None,
        *,
        add_special_tokens: bool = True,
        truncation: bool | str = False,
        max_length: int | None = None,
        stride: int = 0,
        return_overflowing_tokens: bool = False,
        **ignored: Any,  # offsets and attention masks always come; padding to the longest, as numpy arrays
    ) -> dict[str, Any]:
        if isinstance(text, str):  # one text, unpadded lists
            encoding = self._backend.encode(text, add_special_tokens=add_special_tokens)
            return {"input_ids": list(encoding.ids), "offset_mapping": [tuple(o) for o in encoding.offsets]}
        inputs: list[Any] = list(text) if text_pair is None else list(zip(text, text_pair, strict=True))
        if truncation:
            strategy = truncation if isinstance(truncation, str) else "longest_first"
            limit = max_length if max_length is not None else self.model_max_length
            self._backend.enable_truncation(limit, stride=stride, strategy=strategy)
        try:
            encodings = self._backend.encode_batch(inputs, add_special_tokens=add_special_tokens)
        finally:
            self._backend.no_truncation()
        rows, owners = [], []
        for number, encoding in enumerate(encodings):
            for row in [encoding, *encoding.overflowing] if return_overflowing_tokens else [encoding]:
                rows.append(row)
                owners.append(number)
        return self._padded(rows, owners)

    def _padded(self, rows: list[Any], owners: list[int]) -> Encoded:
        length = max((len(row.ids) for row in rows), default=0)
        shape = (len(rows), length)
        arrays = {
            "input_ids": np.full(shape, self.settings["pad_token_id"], dtype=np.int64),
            "token_type_ids": np.full(shape, self.settings["pad_token_type_id"], dtype=np.int64),
            "attention_mask": np.zeros(shape, dtype=np.int64),
            "offset_mapping": np.zeros((*shape, 2), dtype=np.int64),
            "overflow_to_sample_mapping": np.array(owners, dtype=np.int64),
        }
        sequence_ids = []
        for number, row in enumerate(rows):
            size = len(row.ids)
            arrays["input_ids"][number, :size] = row.ids
            arrays["token_type_ids"][number, :size] = row.type_ids
            arrays["attention_mask"][number, :size] = row.attention_mask
            if size:
                arrays["offset_mapping"][number, :size] = row.offsets
            sequence_ids.append(list(row.sequence_ids) + [None] * (length - size))
        return Encoded(arrays, sequence_ids)
