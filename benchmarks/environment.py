"""What a measurement ran on, recorded with every result: the CPU and the instruction sets that
decide its matrix-multiply speed, the thread settings of PyTorch and ONNX Runtime, and the load."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

# The instruction sets that matter for fp32 and int8 matrix products on x86 (and their Arm kin).
FLAG_PREFIXES = ("avx", "fma", "f16c", "amx", "vnni", "sse4", "asimd", "sve", "i8mm", "bf16")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "DOCQA_BACKEND",
                    "DOCQA_PRECISION", "TOKENIZERS_PARALLELISM")
ROOT = Path(__file__).resolve().parent.parent


def cpu() -> dict[str, Any]:
    """The CPU's model name and the instruction-set flags of ``FLAG_PREFIXES`` it reports."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())  # the first processor speaks for all
    except OSError:
        pass
    flags = sorted(flag for flag in fields.get("flags", fields.get("Features", "")).split()
                   if any(flag.startswith(prefix) or prefix in flag for prefix in FLAG_PREFIXES))
    return {
        "model": fields.get("model name", platform.processor() or platform.machine()),
        "family": fields.get("cpu family"),
        "model_number": fields.get("model"),
        "logical_cores": os.cpu_count(),
        "flags": flags,
        "avx512": any(flag.startswith("avx512") for flag in flags),
        "vnni": any("vnni" in flag for flag in flags),
        "amx": any(flag.startswith("amx") for flag in flags),
    }


def threads() -> dict[str, Any]:
    """The threads each runtime uses as docqa sets them up (``docqa.acceleration``)."""
    from docqa.acceleration import physical_cores

    described: dict[str, Any] = {
        "physical_cores": physical_cores(),
        "onnxruntime": {"intra_op_threads": physical_cores(), "inter_op_threads": 1, "spinning": False},
        "environment": {name: os.environ[name] for name in THREAD_VARIABLES if name in os.environ},
    }
    try:
        import torch

        described["torch"] = {"threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
                              "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    except ImportError:
        pass
    return described


def describe_environment() -> dict[str, Any]:
    """The machine, the thread settings, the load average and the docqa commit, now."""
    import importlib.metadata as metadata

    versions = {}
    for package in ("torch", "onnxruntime", "transformers", "sentence-transformers", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip()
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu": cpu(),
        "threads": threads(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "packages": versions,
        "docqa_commit": commit,
    }
