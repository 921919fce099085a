"""Tiny, randomly initialised models saved to folders and loaded back through ``from_pretrained``.

They let tests exercise the real loading, tokenising and forward paths offline, in seconds; their
outputs are meaningless, so tests that need particular answers plant the logits themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors, trainers
from tokenizers.models import WordPiece
from transformers import BertConfig, BertForQuestionAnswering, BertModel, PreTrainedTokenizerFast

from docqa.reader.calibration import Calibration, write_calibration

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB_SIZE = 2000

# Everyday English so that words outside the corpus still split into known pieces, not [UNK].
GENERAL_ENGLISH = """
The quick brown fox jumps over the lazy dog. Who wrote the report, and when was it published?
What happened in the city on Monday morning? Where is the nearest station, and how far away is it?
People said that the meeting would start at nine o'clock and end before noon. Officials announced
new rules for schools, hospitals, markets and roads. The weather was cold, wet and windy in January,
but warm and sunny in July. Scientists measured the temperature, the pressure and the speed of the
wind. Abcdefghijklmnopqrstuvwxyz 0123456789 - , . ; : ! ? ' " ( ) [ ] % $ & / @ #
"""


def train_tokenizer(texts: Iterable[str], folder: Path) -> PreTrainedTokenizerFast:
    """Train a lower-casing WordPiece tokenizer on ``texts`` and save it to ``folder``."""
    tokenizer = Tokenizer(WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIAL_TOKENS)
    tokenizer.train_from_iterator([*texts, GENERAL_ENGLISH], trainer=trainer)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        model_max_length=512,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )
    wrapped.save_pretrained(folder)
    return wrapped


def _tiny_config(vocab_size: int) -> BertConfig:
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )


# The calibration the tiny reader is saved with, so that tests know what a planted logit scores: a
# span whose start + end logit is 9.1 scores 0.5, and answers below 0.4 are not shown.
TINY_CALIBRATION = Calibration(slope=0.9, midpoint=9.1, threshold=0.4, fitted_on="tests: the planted logits' scale")


def build_tiny_reader(folder: Path, texts: Iterable[str], calibration: Calibration | None = TINY_CALIBRATION) -> Path:
    """An extractive QA model (random weights, fixed seed) with its tokenizer, saved to ``folder``
    with ``calibration`` (None: uncalibrated)."""
    tokenizer = train_tokenizer(texts, folder)
    torch.manual_seed(0)
    BertForQuestionAnswering(_tiny_config(len(tokenizer))).save_pretrained(folder)
    if calibration is not None:
        write_calibration(calibration, folder)
    return folder


def build_tiny_embedder(folder: Path, texts: Iterable[str]) -> Path:
    """A sentence-transformers model (tiny random BERT, mean pooling, unit length) saved to ``folder``."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    tokenizer = train_tokenizer(texts, folder)
    torch.manual_seed(0)
    BertModel(_tiny_config(len(tokenizer))).save_pretrained(folder)
    transformer = Transformer(str(folder))
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling, Normalize()]).save(str(folder))
    return folder


def peaked_logits(wanted: list[list[int]]) -> Any:
    """A forward pass that stands in for a reader model's (``ExtractiveReader._forward``): each of
    the ``wanted`` token runs scores high where a window holds it, and "no answer" beats every other
    span, so that the answers are fixed; ``peaked_logits([])`` finds no answer anywhere."""

    def forward(encodings: Any) -> tuple[np.ndarray, np.ndarray]:
        ids = encodings["input_ids"]
        starts = np.full(ids.shape, -20.0, dtype=np.float32)
        starts[:, 0] = 0.0  # "no answer" beats every span but the wanted ones
        ends = starts.copy()
        for row, tokens in enumerate(ids.tolist()):
            for run in wanted:
                for position in range(len(tokens) - len(run) + 1):
                    if tokens[position : position + len(run)] == run:
                        starts[row, position] = ends[row, position + len(run) - 1] = 10.0
        return starts, ends

    return forward
