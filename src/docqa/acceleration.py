"""Making the models fast on a CPU: thread settings, int8 quantization, and ONNX copies of the
models, exported once, cached next to the index and run with ONNX Runtime.

A copy lives in ``<cache>/<kind>-<key>/model.onnx``, with its model's tokenizer in ``tokenizer/``.
The key is a hash of the model's name, its files (or its hub revision), the precision, the export
format and the versions of docqa and of the libraries that write and read the copy, so a changed
model, exporter or upgrade exports again, and nothing else does. A copy that is incomplete or
cannot be opened is exported again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from docqa.errors import DocqaError, ModelLoadError
from docqa.tokenizing import TOKENIZER_FOLDER, saved

if TYPE_CHECKING:
    import onnxruntime
    import torch

ONNX_FILE = "model.onnx"
RECORD_FILE = "export.json"
OPSET = 17
# Part of the cache key: raise it whenever the exported graph changes, so older copies are made again.
# 5: a copy keeps its model's tokenizer (docqa.tokenizing), so that it runs without torch.
EXPORT_FORMAT = 5
# Matrix products a reader keeps in fp32 at int8: the feed-forward output of its first layers, whose inputs
# (after GELU) have outliers that one scale per tensor cannot hold. With the trained reader on the SQuAD 2.0
# dev articles at threshold 0, F1 fell 1.3 points with every product int8, 0.3 with every layer's kept and
# 0.65 with the first two layers' kept, which costs a third as much fp32 time (benchmarks/bench_quality.py).
READER_FP32_PRODUCTS = ("/output/dense/MatMul", "/ffn/lin2/MatMul")  # BERT and RoBERTa, DistilBERT
READER_FP32_LAYERS = 2
_LAYER = re.compile(r"layer\.(\d+)/")

Export = Callable[[Path], None]  # writes the full-precision ONNX model to the given file
log = logging.getLogger(__name__)


def physical_cores() -> int:
    """CPU cores this process may use, counting each physical core once (hyper-threads share one)."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, available // _threads_per_core())


def _threads_per_core() -> int:
    """Hardware threads per core, from Linux's CPU description; 1 where there is none."""
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return 1
    fields = {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in lines)}
    try:
        return max(1, int(fields["siblings"]) // int(fields["cpu cores"]))
    except (KeyError, ValueError, ZeroDivisionError):
        return 1


def use_physical_cores_in_torch() -> None:
    """One torch thread per physical core: more threads only contend for the same cores."""
    import torch

    cores = physical_cores()
    if torch.get_num_threads() != cores:
        torch.set_num_threads(cores)


def cached_session(
    cache_dir: Path, kind: str, model_name: str, precision: str, export: Export
) -> onnxruntime.InferenceSession:
    """An ONNX Runtime session of the cached copy of ``model_name``, exporting it first if needed."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    folder = _copy_folder(cache_dir, kind, model_name, precision)
    local = Path(model_name).expanduser()
    model_name = str(local.resolve()) if local.is_dir() else model_name
    with FileLock(str(folder) + ".lock"):  # another process exporting the same model is waited for
        session = _open_if_complete(folder)
        if session is None:
            _export_to(folder, model_name, precision, export, kind)
            _remove_older_copies(folder, model_name, precision)
            session = _open_session(folder / ONNX_FILE)
    return session


def session_or_none(
    cache_dir: Path, kind: str, model_name: str, precision: str, export: Export
) -> onnxruntime.InferenceSession | None:
    """``cached_session``, or None, with a warning, where the copy cannot be made: the model then
    runs in PyTorch. A model that cannot be loaded at all still raises ``ModelLoadError``."""
    try:
        return cached_session(cache_dir, kind, model_name, precision, export)
    except ModelLoadError:
        raise
    except Exception as error:  # an architecture the exporter cannot handle still runs in PyTorch
        log.warning("running %r (%s) in PyTorch: its ONNX copy could not be made (%s)", model_name, kind, error)
        return None


def open_copy(
    cache_dir: Path, kind: str, model_name: str, precision: str
) -> tuple[onnxruntime.InferenceSession, Path] | None:
    """The session of a complete copy of ``model_name`` saved with its tokenizer, and the tokenizer's
    folder; None when there is none (then the model loads, and exports its copy). Neither torch nor
    transformers is imported: a start from the copies waits for neither."""
    if not cache_dir.is_dir():
        return None
    folder = _copy_folder(cache_dir, kind, model_name, precision)
    if not saved(folder / TOKENIZER_FOLDER):
        return None
    with FileLock(str(folder) + ".lock"):  # a copy being exported is waited for
        session = _open_if_complete(folder)
    return None if session is None else (session, folder / TOKENIZER_FOLDER)


def _copy_folder(cache_dir: Path, kind: str, model_name: str, precision: str) -> Path:
    local = Path(model_name).expanduser()
    if local.is_dir():  # one copy for a folder, however its path is written
        model_name = str(local.resolve())
    return cache_dir / f"{kind}-{_cache_key(kind, model_name, precision)}"


def _cache_key(kind: str, model_name: str, precision: str) -> str:
    from docqa.version import __version__

    # The installed versions, read from the packages' metadata: importing torch to ask it takes seconds.
    versions = [__version__, *(version(package) for package in ("torch", "transformers", "onnxruntime"))]
    described = {
        "kind": kind,
        "model": model_name,
        "files": _model_fingerprint(model_name),
        "precision": precision,
        "format": EXPORT_FORMAT,
        "versions": versions,
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]


def _model_fingerprint(model_name: str) -> list[Any]:
    """What identifies the model's files: size and modification time of each file of a local
    folder, or the revision folder of a model in the Hugging Face cache."""
    folder = Path(model_name).expanduser()
    if folder.is_dir():
        files = sorted(path for path in folder.rglob("*") if path.is_file())
        return [[str(path.relative_to(folder)), path.stat().st_size, path.stat().st_mtime_ns] for path in files]
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(model_name, "config.json")
    return [str(Path(cached).parent)] if isinstance(cached, str) else []


def _open_session(path: Path) -> onnxruntime.InferenceSession:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = physical_cores()
    options.inter_op_num_threads = 1
    # Idle threads sleep rather than spin, so the reader's and the embedder's sessions, and the
    # other threads of the app, do not take the cores from each other.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _open_if_complete(folder: Path) -> onnxruntime.InferenceSession | None:
    model = folder / ONNX_FILE
    try:
        record = json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
        if record["bytes"] != model.stat().st_size:
            return None
        return _open_session(model)
    except Exception:  # missing, truncated or unreadable: any of them means export again
        return None


def _export_to(folder: Path, model_name: str, precision: str, export: Export, kind: str = "") -> None:
    scratch = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        full = scratch / "full-precision.onnx"
        export(full)
        if precision == "int8":
            _quantize_int8(full, scratch / ONNX_FILE, READER_FP32_PRODUCTS if kind == "reader" else ())
            full.unlink()
        else:
            full.rename(scratch / ONNX_FILE)
        record = {"model": model_name, "precision": precision, "bytes": (scratch / ONNX_FILE).stat().st_size}
        (scratch / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        scratch.rename(folder)
    except OSError as error:
        raise DocqaError(f"could not write the ONNX copy of {model_name!r} to {folder.parent}: {error}") from error
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _remove_older_copies(folder: Path, model_name: str, precision: str) -> None:
    """Remove the copies of the same model and precision made for other versions or model files."""
    kind = folder.name.rsplit("-", 1)[0]
    for other in folder.parent.glob(f"{kind}-*"):
        if other == folder or not other.is_dir():
            continue
        try:
            record = json.loads((other / RECORD_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if (record.get("model"), record.get("precision")) == (model_name, precision):
            shutil.rmtree(other, ignore_errors=True)


def _quantize_int8(source: Path, target: Path, fp32_products: Sequence[str] = ()) -> None:
    """Dynamic int8 quantization of an ONNX model: int8 weights of the matrix products, one scale
    per output channel; activations are quantized as they come. Products of the first
    ``READER_FP32_LAYERS`` layers whose node name ends with one of ``fp32_products`` (attention's own
    output excepted) stay in fp32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    kept = []
    for node in onnx.load(str(source), load_external_data=False).graph.node if fp32_products else ():
        layer = _LAYER.search(node.name)
        early = layer is not None and int(layer.group(1)) < READER_FP32_LAYERS
        if early and node.name.endswith(tuple(fp32_products)) and "/attention/" not in node.name:
            kept.append(node.name)
    with _root_logger_silenced():
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True, nodes_to_exclude=kept)


@contextlib.contextmanager
def _root_logger_silenced() -> Iterator[None]:
    """Drop what is logged on the root logger meanwhile. The quantizer logs advice there, which
    would also set up logging for the whole program where nothing has yet."""
    root = logging.getLogger()
    handler = logging.NullHandler()  # with a handler in place, logging is not set up for us
    only_named = logging.Filter("docqa")  # records of the root logger do not pass
    root.addHandler(handler)
    root.addFilter(only_named)
    try:
        yield
    finally:
        root.removeFilter(only_named)
        root.removeHandler(handler)


def quantize_torch_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantization of the linear layers of a PyTorch model."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        # The eager-mode API is deprecated in favour of torchao, but still works and needs no extra package.
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def export_module(
    model: torch.nn.Module,
    forward: Callable[[dict[str, torch.Tensor]], Any],
    inputs: Mapping[str, torch.Tensor],
    outputs: Mapping[str, Sequence[str]],
    path: Path,
) -> None:
    """Export ``forward(inputs)``, which runs ``model``, to an ONNX file.

    Inputs are dynamic in their first two axes (batch and tokens); ``outputs`` names each
    output's dynamic axes, in order. Trace with a padded batch, so that the graph keeps the
    attention mask.
    """
    import torch

    class NamedInputs(torch.nn.Module):  # the exporter passes inputs by position
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> Any:
            return forward(dict(zip(inputs, tensors, strict=True)))

    dynamic = {name: {0: "batch", 1: "tokens"} for name in inputs}
    dynamic.update({name: dict(enumerate(axes)) for name, axes in outputs.items()})
    with warnings.catch_warnings():
        # The tracing exporter warns about Python branches on shapes; the traced graph is checked
        # against the PyTorch model in the tests, at other shapes than the ones traced.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            NamedInputs().eval(),
            tuple(inputs.values()),
            str(path),
            input_names=list(inputs),
            output_names=list(outputs),
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,  # the graph exporter needs onnxscript; tracing needs only onnx
        )
