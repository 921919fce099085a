from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import docqa.acceleration as acceleration
from docqa.acceleration import ONNX_FILE, RECORD_FILE, physical_cores
from docqa.assistant import Assistant
from docqa.embedding import Embedder
from docqa.errors import DocqaError
from docqa.reader import ExtractiveReader
from docqa.schema import Chunk, RetrievedPassage

TEXT = (
    "The harbour museum opened in the spring of 1998. Its first director was Margaret Olsen. "
    "In 2004 a storm flooded the lower gallery and destroyed part of the collection of maps."
)
PASSAGE = RetrievedPassage(Chunk("harbour.txt", 0, TEXT, 0, len(TEXT)), 1.0)


@pytest.fixture
def export_calls(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files that exports were written to, in order."""
    calls: list[Path] = []
    export = acceleration._export_to

    def recording_export(folder: Path, *args: Any) -> None:
        calls.append(folder)
        export(folder, *args)

    monkeypatch.setattr(acceleration, "_export_to", recording_export)
    return calls


def onnx_reader(path: Path, cache: Path, **settings: Any) -> ExtractiveReader:
    reader = ExtractiveReader(str(path), backend="onnx", cache_dir=cache, **settings)
    reader.warm_up()
    return reader


def test_the_copy_is_exported_once_and_reused(tiny_reader_path: Path, tmp_path: Path, export_calls: list[Path]) -> None:
    first = onnx_reader(tiny_reader_path, tmp_path).read("Who was the first director?", [PASSAGE])
    (folder,) = export_calls
    written = (folder / ONNX_FILE).stat().st_mtime_ns

    again = onnx_reader(tiny_reader_path, tmp_path).read("Who was the first director?", [PASSAGE])

    assert export_calls == [folder]
    assert (folder / ONNX_FILE).stat().st_mtime_ns == written
    assert again == first
    assert json.loads((folder / RECORD_FILE).read_text())["bytes"] == (folder / ONNX_FILE).stat().st_size
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []  # no scratch left


def test_the_copy_runs_each_layer_once(tiny_reader_path: Path, tmp_path: Path, export_calls: list[Path]) -> None:
    """A traced graph can hold the network twice (once per output) and still give the same
    answers, at twice the cost: count the matrix products with a weight against the model's."""
    import onnx
    import torch
    from transformers import AutoModelForQuestionAnswering

    onnx_reader(tiny_reader_path, tmp_path)
    (folder,) = export_calls
    graph = onnx.load(str(folder / ONNX_FILE)).graph
    weights = {tensor.name for tensor in graph.initializer}
    for node in graph.node:  # the exporter may pass a shared weight on through Identity nodes
        if node.op_type == "Identity" and node.input[0] in weights:
            weights.add(node.output[0])
    products = [node for node in graph.node if node.op_type in {"MatMul", "Gemm"} and set(node.input) & weights]
    model = AutoModelForQuestionAnswering.from_pretrained(tiny_reader_path)

    assert len(products) == sum(isinstance(module, torch.nn.Linear) for module in model.modules())


@pytest.mark.parametrize("damage", ["truncate", "drop record"])
def test_a_damaged_copy_is_exported_again(
    tiny_reader_path: Path, tmp_path: Path, export_calls: list[Path], damage: str
) -> None:
    expected = onnx_reader(tiny_reader_path, tmp_path).read("Who was the first director?", [PASSAGE])
    (folder,) = export_calls
    model = folder / ONNX_FILE
    if damage == "truncate":
        model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    else:
        (folder / RECORD_FILE).unlink()

    reader = onnx_reader(tiny_reader_path, tmp_path)

    assert export_calls == [folder, folder]
    assert reader.active_backend == "onnx"
    assert reader.read("Who was the first director?", [PASSAGE]) == expected


def test_a_changed_model_gets_a_new_copy_in_place_of_the_old_one(
    tiny_reader_path: Path, tmp_path: Path, export_calls: list[Path]
) -> None:
    model = shutil.copytree(tiny_reader_path, tmp_path / "model")
    cache = tmp_path / "cache"
    onnx_reader(model, cache)
    onnx_reader(model, cache, precision="int8")
    config = model / "config.json"
    os.utime(config, ns=(config.stat().st_atime_ns, config.stat().st_mtime_ns + 1_000_000_000))
    onnx_reader(model, cache)

    old, int8, new = export_calls
    assert len({old, int8, new}) == 3
    assert {path for path in cache.iterdir() if path.is_dir()} == {int8, new}


def test_a_folder_named_by_another_path_uses_the_same_copy(
    tiny_reader_path: Path, tmp_path: Path, export_calls: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    onnx_reader(tiny_reader_path, tmp_path / "cache")
    monkeypatch.chdir(tiny_reader_path.parent)
    onnx_reader(Path(tiny_reader_path.name), tmp_path / "cache")
    onnx_reader(Path(".") / ".." / tiny_reader_path.parent.name / tiny_reader_path.name, tmp_path / "cache")

    assert len(export_calls) == 1


def test_a_model_that_cannot_be_exported_runs_in_pytorch(
    tiny_reader_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def failing_export(*args: Any) -> None:
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr("docqa.reader.extractive.export_module", failing_export)
    with caplog.at_level(logging.WARNING):
        reader = onnx_reader(tiny_reader_path, tmp_path)

    assert reader.active_backend == "torch"
    assert "unsupported operator" in caplog.text
    assert reader.read("Who was the first director?", [PASSAGE]).answers
    assert [path for path in tmp_path.iterdir() if path.is_dir()] == []  # nothing half-written is kept


def test_invalid_backend_settings_are_rejected() -> None:
    with pytest.raises(DocqaError, match="cache"):
        ExtractiveReader("./no-such-model", backend="onnx")
    with pytest.raises(DocqaError, match="cache"):
        Embedder("./no-such-model", backend="onnx")
    with pytest.raises(DocqaError, match="backend"):
        ExtractiveReader("./no-such-model", backend="tensorflow", cache_dir=".")
    with pytest.raises(DocqaError, match="precision"):
        Embedder("./no-such-model", precision="fp16")


def test_onnx_embeddings_match_pytorch(tiny_embedder_path: Path, tmp_path: Path) -> None:
    texts = [TEXT, "Who was the first director?", TEXT[:60], "Who was the first director?", TEXT[:60], "Maps."]
    pytorch = Embedder(str(tiny_embedder_path))
    onnx = Embedder(str(tiny_embedder_path), backend="onnx", cache_dir=tmp_path, batch_size=1)

    expected, vectors = pytorch.encode(texts), onnx.encode(texts)

    assert onnx.active_backend == "onnx"
    assert vectors.shape == expected.shape == (len(texts), onnx.dimension)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    np.testing.assert_allclose(onnx.encode_query(texts[1]), expected[1], atol=1e-5)


def test_int8_embeddings_stay_close_to_full_precision(tiny_embedder_path: Path, tmp_path: Path) -> None:
    import onnx
    from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

    texts = [TEXT, "Who was the first director?", "Maps."]
    expected = Embedder(str(tiny_embedder_path)).encode(texts)
    onnx_int8 = Embedder(str(tiny_embedder_path), backend="onnx", cache_dir=tmp_path, precision="int8")
    torch_int8 = Embedder(str(tiny_embedder_path), precision="int8")

    for embedder in (onnx_int8, torch_int8):
        vectors = embedder.encode(texts)
        assert (vectors * expected).sum(axis=1).min() > 0.99
        assert not np.allclose(vectors, expected, atol=1e-6)  # quantized, so not the same
    (copy,) = tmp_path.glob("embedder-*/model.onnx")
    assert "MatMulInteger" in {node.op_type for node in onnx.load(str(copy)).graph.node}
    assert any(isinstance(module, DynamicQuantizedLinear) for module in torch_int8._model.modules())


def test_the_int8_reader_keeps_its_first_feed_forward_outputs_in_fp32(
    tiny_reader_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnx

    monkeypatch.setattr(acceleration, "READER_FP32_LAYERS", 1)  # the tiny reader has two layers
    reader = ExtractiveReader(str(tiny_reader_path), backend="onnx", cache_dir=tmp_path, precision="int8")
    reader.warm_up()
    (copy,) = tmp_path.glob("reader-*/model.onnx")
    nodes = onnx.load(str(copy)).graph.node

    float_products = {node.name for node in nodes if node.op_type == "MatMul" and "/encoder/" in node.name}
    feed_forward_outputs = {name for name in float_products if name.endswith("/output/dense/MatMul")}
    assert [name.split("layer.")[1].split("/")[0] for name in feed_forward_outputs] == ["0"]
    assert tiny_layers(tiny_reader_path) == 2  # so layer 1's feed-forward output was quantized
    assert all("/attention/" not in name for name in feed_forward_outputs)
    assert "MatMulInteger" in {node.op_type for node in nodes}  # the other products are int8
    assert not any("/intermediate/" in name or "/query/" in name for name in float_products)


def tiny_layers(path: Path) -> int:
    return int(json.loads((path / "config.json").read_text())["num_hidden_layers"])


def test_the_assistant_keeps_the_copies_next_to_the_index(
    tiny_reader_path: Path, tiny_embedder_path: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "harbour.txt").write_text(TEXT, encoding="utf-8")
    assistant = Assistant(corpus, tmp_path / "index", str(tiny_embedder_path), str(tiny_reader_path), backend="onnx")

    answer = assistant.ask("Who was the first director?")

    assert answer.passages
    copies = sorted(path.name.split("-")[0] for path in (tmp_path / "index" / "models").iterdir() if path.is_dir())
    assert copies == ["embedder", "reader"]
    assert isinstance(assistant.reader, ExtractiveReader)
    assert assistant.reader.active_backend == "onnx"
    assert assistant.embedder is not None and assistant.embedder.active_backend == "onnx"


def test_physical_cores() -> None:
    assert 1 <= physical_cores() <= (os.cpu_count() or 1)


def test_the_copies_tokenize_as_the_models_own_tokenizers(
    tiny_reader_path: Path, tiny_embedder_path: Path, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    from docqa.reader.windows import context_mask, encode_windows, shorten_question
    from docqa.tokenizing import Tokenizer

    onnx_reader(tiny_reader_path, tmp_path)
    (folder,) = tmp_path.glob("reader-*/tokenizer")
    original, copied = AutoTokenizer.from_pretrained(str(tiny_reader_path)), Tokenizer(folder)
    question = "Who was the first director of the harbour museum, and when did it open? " * 6
    for tokenizer in (original, copied):
        tokenizer.padding_side = "right"
    shortened = [shorten_question(tokenizer, question, 96) for tokenizer in (original, copied)]
    assert shortened[0] == shortened[1] and shortened[0][2]  # cut to its budget by both
    contexts = [TEXT * 4, "Maps.", TEXT]
    windows = [encode_windows(t, shortened[0][0], shortened[0][1], contexts, 96, 32) for t in (original, copied)]
    assert len(windows[0]["input_ids"]) > len(contexts)  # long passages overflow into several windows
    for name in ("input_ids", "token_type_ids", "attention_mask", "offset_mapping", "overflow_to_sample_mapping"):
        np.testing.assert_array_equal(windows[0][name], windows[1][name])
    np.testing.assert_array_equal(context_mask(windows[0]), context_mask(windows[1]))

    embedder = Embedder(str(tiny_embedder_path), backend="onnx", cache_dir=tmp_path)
    embedder.warm_up()
    (folder,) = tmp_path.glob("embedder-*/tokenizer")
    texts = [TEXT * 20, "  Maps.  ", "Who was the first director?"]
    expected = embedder._model.preprocess(texts)
    found = Tokenizer(folder)(texts, truncation="longest_first", max_length=embedder._model.max_seq_length)
    for name in ("input_ids", "attention_mask"):
        np.testing.assert_array_equal(expected[name].numpy(), found[name])


def test_answers_from_the_copies_import_no_torch(
    tiny_reader_path: Path, tiny_embedder_path: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "harbour.txt").write_text(TEXT, encoding="utf-8")
    models = (str(tiny_embedder_path), str(tiny_reader_path))
    with Assistant(corpus, tmp_path / "index", *models, backend="onnx") as assistant:  # exports the copies
        expected = assistant.ask("Who was the first director?", retrieval="hybrid").to_dict()
    probe = (
        "import json, sys; from docqa.assistant import Assistant; "
        f"a = Assistant({str(corpus)!r}, {str(tmp_path / 'index')!r}, *{models!r}, backend='onnx'); "
        "answer = a.ask('Who was the first director?', retrieval='hybrid').to_dict(); "
        "print(json.dumps([answer, sorted({m.split('.')[0] for m in sys.modules})]))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=300)
    answer, loaded = json.loads(result.stdout)
    assert not {"torch", "transformers", "sentence_transformers"} & set(loaded)
    assert {"onnxruntime", "tokenizers"} <= set(loaded)
    assert answer["timings"]["loading"] > 0
    same = ("answer", "score", "citations", "abstained")
    assert [answer[key] for key in same] == [expected[key] for key in same]
    assert [p["chunk_id"] for p in answer["passages"]] == [p["chunk_id"] for p in expected["passages"]]
