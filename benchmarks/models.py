"""Models of the real default architectures with random weights, saved where docqa loads them.

Random weights cost exactly what trained ones do, so latency, throughput and memory measured
with them are those of the real models; only the answers are meaningless. The configuration and
tokenizer come from ``../shared/models/<name>`` when that folder exists; otherwise configurations
of the same sizes are written here and the tokenizers are trained on the corpus.

Each model is saved once to ``benchmarks/.models/<name>`` and reused while its recipe is unchanged.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import MODELS_DIR, SEED, SHARED_DIR, corpus_texts, log

READERS = {"tinyroberta-squad2": 6, "roberta-base-squad2": 12}  # name: transformer layers
DEFAULT_READER = "tinyroberta-squad2"
EMBEDDER = "all-MiniLM-L6-v2"  # the architecture of the default multi-qa-MiniLM-L6-cos-v1
# multi-qa-MiniLM-L6-cos-v1 reads up to 512 word pieces (all-MiniLM-L6-v2 stops at 256).
EMBEDDER_MAX_SEQ_LENGTH = 512
RECIPE_FILE = "benchmark-recipe.json"
RECIPE_VERSION = 1


def reader_folder(name: str = DEFAULT_READER) -> Path:
    """A saved extractive QA model of the architecture of ``deepset/<name>``, built when missing."""
    recipe = {"kind": "reader", "name": name, "source": _source(name), "version": RECIPE_VERSION}
    return _cached(name, recipe, lambda folder: _build_reader(name, folder))


def embedder_folder() -> Path:
    """A saved sentence-transformers model of the architecture of the default embedder."""
    recipe = {
        "kind": "embedder",
        "name": EMBEDDER,
        "source": _source(EMBEDDER),
        "max_seq_length": EMBEDDER_MAX_SEQ_LENGTH,
        "version": RECIPE_VERSION,
    }
    return _cached(EMBEDDER, recipe, _build_embedder)


def describe_models() -> dict[str, Any]:
    """Where each model's configuration and tokenizer came from, for the results."""
    return {name: _source(name) for name in [*READERS, EMBEDDER]}


def _source(name: str) -> str:
    shared = SHARED_DIR / "models" / name
    if shared.is_dir():
        return f"config and tokenizer of ../shared/models/{name}"
    return "configuration of the same size written in the benchmark, tokenizer trained on the corpus"


def _cached(name: str, recipe: dict[str, Any], build: Any) -> Path:
    folder = MODELS_DIR / name
    marker = folder / RECIPE_FILE
    if marker.exists() and json.loads(marker.read_text()) == recipe:
        return folder
    log(f"building the {recipe['kind']} model {name} ({recipe['source']})")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    build(folder)
    marker.write_text(json.dumps(recipe, indent=2))
    return folder


def _build_reader(name: str, folder: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForQuestionAnswering, AutoTokenizer

    shared = SHARED_DIR / "models" / name
    if shared.is_dir():
        config = AutoConfig.from_pretrained(shared)
        tokenizer = AutoTokenizer.from_pretrained(shared)
    else:
        config = _roberta_config(READERS[name])
        tokenizer = _train_byte_level_tokenizer(corpus_texts())
    torch.manual_seed(SEED)
    AutoModelForQuestionAnswering.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _build_embedder(folder: Path) -> None:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    shared = SHARED_DIR / "models" / EMBEDDER
    if shared.is_dir():
        config = AutoConfig.from_pretrained(shared)
        tokenizer = AutoTokenizer.from_pretrained(shared)
    else:
        config = _minilm_config()
        tokenizer = _train_wordpiece_tokenizer(corpus_texts())
    torch.manual_seed(SEED)
    weights = folder / "transformer"
    AutoModel.from_config(config).save_pretrained(weights)
    tokenizer.save_pretrained(weights)
    transformer = Transformer(str(weights), max_seq_length=EMBEDDER_MAX_SEQ_LENGTH)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling, Normalize()], device="cpu").save(str(folder))
    shutil.rmtree(weights)  # the saved sentence-transformers folder holds its own copy


def _roberta_config(layers: int) -> Any:
    from transformers import RobertaConfig

    return RobertaConfig(
        vocab_size=50265,
        hidden_size=768,
        num_hidden_layers=layers,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=514,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )


def _minilm_config() -> Any:
    from transformers import BertConfig

    return BertConfig(
        vocab_size=30522,
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=1536,
        max_position_embeddings=512,
    )


def _train_byte_level_tokenizer(texts: Sequence[str]) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=50265, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.post_processor = processors.RobertaProcessing(
        ("</s>", tokenizer.token_to_id("</s>")), ("<s>", tokenizer.token_to_id("<s>")), trim_offsets=True
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=512,
        model_input_names=["input_ids", "attention_mask"],
    )


def _train_wordpiece_tokenizer(texts: Sequence[str]) -> Any:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    tokenizer.train_from_iterator(texts, trainer=trainers.WordPieceTrainer(vocab_size=30522, special_tokens=special))
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        model_max_length=512,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


def build_all(readers: Sequence[str]) -> dict[str, Any]:
    """Build (or find) the embedder and the named readers; ``folders`` maps their names to folders."""
    folders = {EMBEDDER: str(embedder_folder())}
    folders.update({name: str(reader_folder(name)) for name in readers})
    return {"folders": folders}
