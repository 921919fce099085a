"""ONNX Runtime options for the reader, measured on this CPU: threads, spinning, fused attention.

``python benchmarks/bench_onnx_options.py`` (a few minutes) writes ``results/onnx_options.json``.
It opens the reader's ONNX copies that docqa exported for the latency benchmark (fp32 and int8, in
``benchmarks/.work/corpus-index/models``; run ``python benchmarks/run.py --only latency`` first)
with each variant of the session options, and times one passage's window (and three together)
of real tokens. The variants run in turn, one call each, round after round, so a change of the
machine's load meets them all alike; the figures are medians.

- docqa: what ``docqa.acceleration`` opens: all graph optimizations, one thread per physical
  core, no spinning;
- spinning: the same with the intra-op threads spinning while they wait;
- 1 thread: one intra-op thread;
- int8 every product: every matrix product int8, as docqa quantized the reader before it kept the
  feed-forward outputs in fp32;
- fused: the graph rewritten first by ``onnxruntime.transformers.optimizer`` (attention, skip
  layer normalisation, bias and GELU fused into single operators), then quantized for int8 as
  docqa quantizes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import MODELS_DIR, RESULTS_DIR, SHIPPED_INDEX_DIR, log, write_record
from environment import describe_environment

ROUNDS = 25
QUESTION = "When did the museum open and who was its first director?"


def copies(models: Path) -> dict[str, Path]:
    """The reader's exported copies by precision, from their export records."""
    found = {}
    for record in models.glob("reader-*/export.json"):
        found[json.loads(record.read_text())["precision"]] = record.parent / "model.onnx"
    return found


def session(path: Path, threads: int, spinning: bool) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def fused(source: Path, target: Path, config: dict[str, Any]) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    # The full-precision graph is fused, then quantized as docqa quantizes.
    optimized = optimize_model(str(source), model_type="bert", num_heads=config["num_attention_heads"],
                               hidden_size=config["hidden_size"], opt_level=1)
    fused_fp32 = target.with_name(target.stem + "-fp32.onnx")
    optimized.save_model_to_file(str(fused_fp32))
    import onnx

    # Shape inference does not know the fused operators' outputs: say that they are float.
    quantize_dynamic(fused_fp32, target, weight_type=QuantType.QInt8, per_channel=True,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    log(f"onnx options: fused operators {json.dumps(optimized.get_fused_operator_statistics())}")
    return fused_fp32


def inputs(reader: Path, passages: int) -> dict[str, Any]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(reader)
    text = (Path(__file__).resolve().parent.parent / "corpus").glob("*.txt")
    passage = " ".join(next(iter(sorted(text))).read_text(encoding="utf-8").split()[:130])  # about a passage
    encoded = tokenizer([QUESTION] * passages, [passage] * passages, truncation="only_second", max_length=384,
                        return_tensors="np")
    return {name: encoded[name] for name in tokenizer.model_input_names if name in encoded}


def measure(reader: Path, models: Path) -> dict[str, Any]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from docqa.acceleration import physical_cores

    found = copies(models)
    if "fp32" not in found:
        raise SystemExit(f"no exported reader in {models}: run python benchmarks/run.py --only latency first")
    config = json.loads((reader / "config.json").read_text())
    cores = physical_cores()
    with tempfile.TemporaryDirectory() as folder:
        fused_int8 = Path(folder) / "fused-int8.onnx"
        fused_fp32 = fused(found["fp32"], fused_int8, config)
        every_product = Path(folder) / "every-product-int8.onnx"
        quantize_dynamic(found["fp32"], every_product, weight_type=QuantType.QInt8, per_channel=True)
        variants = {}
        for precision, path, fusion in (("fp32", found["fp32"], fused_fp32), ("int8", found.get("int8"), fused_int8)):
            if path is None:
                continue
            variants[f"{precision} docqa"] = session(path, cores, spinning=False)
            variants[f"{precision} spinning"] = session(path, cores, spinning=True)
            variants[f"{precision} 1 thread"] = session(path, 1, spinning=False)
            variants[f"{precision} fused"] = session(fusion, cores, spinning=False)
        variants["int8 every product"] = session(every_product, cores, spinning=False)
        results: dict[str, Any] = {}
        for passages in (1, 3):
            batch = inputs(reader, passages)
            times: dict[str, list[float]] = {name: [] for name in variants}
            outputs = {}
            for name, loaded in variants.items():  # warm up, and keep each variant's logits to compare
                outputs[name] = loaded.run(None, batch)[0]
            for _ in range(ROUNDS):
                for name, loaded in variants.items():
                    started = time.perf_counter()
                    loaded.run(None, batch)
                    times[name].append(time.perf_counter() - started)
            tokens = int(batch["input_ids"].size)
            results[f"{passages} passage{'s' if passages > 1 else ''}"] = {
                "tokens": tokens,
                "median_ms": {name: round(1000 * statistics.median(values), 1) for name, values in times.items()},
                "max_logit_difference_from_docqa": {
                    name: round(float(abs(out - outputs[name.split()[0] + " docqa"]).max()), 4)
                    for name, out in outputs.items()
                },
            }
            medians = results[next(reversed(results))]["median_ms"]
            log(f"onnx options: {passages} passage(s): {json.dumps(medians)}")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reader", type=Path, default=MODELS_DIR / "tinyroberta-squad2")
    parser.add_argument("--models", type=Path, default=SHIPPED_INDEX_DIR / "models")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "onnx_options.json")
    args = parser.parse_args(argv)
    before = describe_environment()
    measured = measure(args.reader, args.models)
    record = {"benchmark": "onnx_options", "command": "python benchmarks/bench_onnx_options.py",
              "models": "tinyroberta-squad2 architecture, random weights (../shared/models config and tokenizer)",
              "rounds": ROUNDS, "environment_before": before, "environment_after": describe_environment(),
              "results": measured}
    write_record(args.out, record)
    log(f"onnx options: written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
