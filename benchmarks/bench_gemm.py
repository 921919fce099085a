"""The physical limit of reading: the reader's arithmetic per question against this machine's
measured matrix-multiply rate, fp32 and int8.

``python benchmarks/bench_gemm.py`` (under a minute) writes ``results/gemm.json``. The rate is the
best of a few timed runs of a matrix product of the reader's own shapes (the tokens of a window
times a 768 x 3072 feed-forward weight, and the square 768 one), in:

- PyTorch: ``torch.matmul`` fp32, and ``torch._int_mm`` int8 x int8 -> int32;
- ONNX Runtime, which runs docqa's models: a one-node fp32 ``MatMul`` graph, and the same graph
  after the dynamic int8 quantization docqa applies to its models (activations quantized as they
  come, int8 weights per output channel), so its int8 figure includes quantizing the activations.

The reader's arithmetic per token is counted from its configuration: 2 x the parameters of the
matrix products of every layer (the embeddings are looked up, not multiplied) plus attention's
2 x 2 x tokens x width per layer (scores and the weighted sum); ``bench_latency.py`` multiplies it
by the tokens docqa actually reads per question.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common import RESULTS_DIR, SHARED_DIR, log, run_child, write_record
from environment import describe_environment

SHAPES = ((256, 768, 3072), (256, 3072, 768), (256, 768, 768))  # (tokens, inputs, outputs)
REPEATS = 5
MIN_SECONDS = 0.3  # each timed run lasts at least this long


def reader_flops_per_token(config: dict[str, Any], tokens_in_window: int) -> dict[str, float]:
    """Floating-point operations per token of one window: the matrix products and attention."""
    width, layers = config["hidden_size"], config["num_hidden_layers"]
    ffn = config["intermediate_size"]
    linear = layers * 2 * (4 * width * width + 2 * width * ffn) + 2 * width * 2  # + the answer head
    attention = layers * 2 * 2 * tokens_in_window * width
    return {"linear": float(linear), "attention": float(attention), "total": float(linear + attention),
            "matrix_parameters": float(layers * (4 * width * width + 2 * width * ffn))}


def _rate(run: Callable[[], Any], flops: float) -> float:
    """The best of ``REPEATS`` timed runs, each of as many calls as fill ``MIN_SECONDS``, in GFLOP/s."""
    run()
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < MIN_SECONDS / 3:
        run()
        calls += 1
    calls = max(calls * 3, 1)
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        for _ in range(calls):
            run()
        best = min(best, (time.perf_counter() - started) / calls)
    return flops / best / 1e9


def torch_rates(tokens: int, inputs: int, outputs: int) -> dict[str, float]:
    import torch

    from docqa.acceleration import use_physical_cores_in_torch

    use_physical_cores_in_torch()
    flops = 2.0 * tokens * inputs * outputs
    a, b = torch.randn(tokens, inputs), torch.randn(inputs, outputs)
    rates = {"torch_fp32": _rate(lambda: torch.matmul(a, b), flops)}
    a8 = torch.randint(-128, 127, (tokens, inputs), dtype=torch.int8)
    b8 = torch.randint(-128, 127, (inputs, outputs), dtype=torch.int8)
    try:
        rates["torch_int8_int_mm"] = _rate(lambda: torch._int_mm(a8, b8), flops)
    except RuntimeError as error:  # not every build has an int8 CPU kernel
        log(f"gemm: torch._int_mm unavailable: {error}")
    return rates


def onnxruntime_rates(tokens: int, inputs: int, outputs: int, folder: Path) -> dict[str, float]:
    import numpy as np
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from docqa.acceleration import physical_cores

    weight = numpy_helper.from_array(np.random.default_rng(0).standard_normal((inputs, outputs), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="product")],
        "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [tokens, inputs])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [tokens, outputs])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    fp32, int8 = folder / "fp32.onnx", folder / "int8.onnx"
    onnx.save(model, str(fp32))
    quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8, per_channel=True)
    options = onnxruntime.SessionOptions()  # as docqa opens its sessions
    options.intra_op_num_threads = physical_cores()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    x = {"x": np.random.default_rng(1).standard_normal((tokens, inputs), np.float32)}
    flops = 2.0 * tokens * inputs * outputs
    rates = {}
    for name, path in (("onnxruntime_fp32", fp32), ("onnxruntime_int8_dynamic", int8)):
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        rates[name] = _rate(lambda s=session: s.run(None, x), flops)
    return rates


def measure() -> dict[str, Any]:
    shapes = []
    with tempfile.TemporaryDirectory() as folder:
        for tokens, inputs, outputs in SHAPES:
            log(f"gemm: {tokens} x {inputs} x {outputs}")
            rates = torch_rates(tokens, inputs, outputs) | onnxruntime_rates(tokens, inputs, outputs, Path(folder))
            shapes.append({"shape": [tokens, inputs, outputs], "gflops": {k: round(v, 1) for k, v in rates.items()}})
    # The reader's products, weighted by their share of its arithmetic (two 768x3072 and four 768x768 a layer).
    weights = {0: 768 * 3072, 1: 768 * 3072, 2: 4 * 768 * 768}
    total = sum(weights.values())
    mixed = {
        name: round(total / sum(weights[i] / shape["gflops"][name] for i, shape in enumerate(shapes)), 1)
        for name in shapes[0]["gflops"]
        if all(name in shape["gflops"] for shape in shapes)
    }
    return {"shapes": shapes, "reader_mix_gflops": mixed}


def run(plan: Any, models: dict[str, str]) -> dict[str, Any]:
    """For ``run.py``: the rates, in a process of their own."""
    return run_child("bench_gemm", "measure")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "gemm.json")
    args = parser.parse_args(argv)
    before = describe_environment()
    measured = measure()
    config_path = SHARED_DIR / "models" / "tinyroberta-squad2" / "config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {
        "hidden_size": 768, "num_hidden_layers": 6, "intermediate_size": 3072}
    record = {
        "benchmark": "gemm",
        "command": "python benchmarks/bench_gemm.py",
        "environment_before": before,
        "environment_after": describe_environment(),
        "results": measured,
        "reader": {"config": "tinyroberta-squad2 (../shared/models)" if config_path.exists() else "same sizes",
                   "flops_per_token_at_256": reader_flops_per_token(config, 256)},
    }
    write_record(args.out, record)
    log(f"gemm: {json.dumps(measured['reader_mix_gflops'])} GFLOP/s; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
