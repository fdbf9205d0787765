"""float32 vs INT8 vs FP16 in onnxruntime on this CPU, in one run.

Models:

- ``fmnist``: the shipped, trained ``exported/fmnist_small.onnx``; INT8 and FP16 are made by
  :func:`cnncompile.workflows.quantize.quantize_model` (INT8 calibrated on 256 training samples)
  and the accuracy of all three is measured on the whole Fashion-MNIST test set (the Debian
  package ``dataset-fashion-mnist``, read by the project's loader);
- ``residual_flower`` (64x64), ``resnet18`` and ``resnet50`` (224x224, specs/torchvision/):
  RANDOM weights (He initialisation; no trained weights exist), INT8 calibrated on random
  pixel batches, so only their speed means anything.

Each model's variants are timed at batch 1 and 8 by the one timing method that ``bench`` and
``quantize`` use (:mod:`cnncompile.runtime.timing`): warm sessions, one call of each per round
so load from other processes hits all alike, the median per call; CPU time with one
onnxruntime thread (the default here), wall time with more. Throughput is batch / median. The
header gives the CPU, the BLAS, onnxruntime's threads, the clock and the load average before
and after.

    python benchmarks/deploy_speed.py                        # everything, 1 thread
    python benchmarks/deploy_speed.py --models fmnist,resnet18 --seconds 2 --threads 2
    python benchmarks/deploy_speed.py --formats --models fmnist,resnet18    # INT8 forms

``--formats`` times, instead, float32 against the INT8 configurations of onnxruntime's
quantizer in :data:`FORMS` (QOperator or QDQ, unsigned or signed activations, per-channel or
per-tensor weights, batch norms left in float or turned into depthwise convolutions): the
measurement behind ``cnncompile quantize``'s default (docs/deploy.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnncompile.backends.numpy import init_params  # noqa: E402
from cnncompile.backends.onnx import ExportOptions, build_model  # noqa: E402
from cnncompile.deploy.quantize import (  # noqa: E402
    INT8_FORMS,
    Int8Form,
    convert_fp16,
    quantize_int8,
)
from cnncompile.frontend import load_spec  # noqa: E402
from cnncompile.ir import lower  # noqa: E402
from cnncompile.runtime.timing import speedup, time_sessions  # noqa: E402
from cnncompile.workflows.quantize import quantize_model  # noqa: E402

SHIPPED = ROOT / "exported" / "fmnist_small.onnx"
RANDOM = {"residual_flower": "specs/ch9/residual_flower.yaml",
          "bottleneck_flower": "specs/ch9/bottleneck_flower.yaml",
          "inception_flower": "specs/ch9/inception_flower.yaml",
          "resnet18": "specs/torchvision/resnet18.yaml",
          "resnet50": "specs/torchvision/resnet50.yaml"}
VARIANTS = ("float32", "int8", "fp16")
# The INT8 configurations --formats compares; 'qdq u8' is quantize's default (qdq-u8)
FORMS = {"qoperator": INT8_FORMS["qoperator"],
         "qoperator, bn float": Int8Form("QOperator", "uint8", depthwise_affine=False),
         "qoperator, per-tensor": Int8Form("QOperator", "uint8", per_channel=False),
         "qdq u8": INT8_FORMS["qdq-u8"],
         "qdq u8, bn float": Int8Form("QDQ", "uint8", depthwise_affine=False),
         "qdq s8 sym (TensorRT)": INT8_FORMS["qdq"],
         "qoperator s8": Int8Form("QOperator", "int8")}


def machine() -> str:
    """CPU model and vector extensions, BLAS, onnxruntime version."""
    from threadpoolctl import threadpool_info

    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines()
                  if ln.startswith("Model name")), "?")
    flags = Path("/proc/cpuinfo").read_text()
    simd = sorted({f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16",
                               "amx_int8") if f" {f}" in flags})
    blas = ", ".join(f"{i['internal_api']} {i.get('version')} ({i.get('architecture')}, "
                     f"{i['num_threads']} threads)" for i in threadpool_info()) or "none loaded"
    return (f"CPU: {model}, {os.cpu_count()} cores, {' '.join(simd)}; BLAS: {blas}; "
            f"onnxruntime {ort.__version__}")


def load() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def random_variants(name: str, work: Path) -> dict[str, Path]:
    """float32 export (random He weights), INT8 calibrated on random pixels, FP16."""
    graph = lower(load_spec(ROOT / RANDOM[name]))
    model, _ = build_model(graph, init_params(graph, seed=0, init="he"), ExportOptions())
    paths = {v: work / f"{name}.{v}.onnx" for v in VARIANTS}
    onnx.save(model, str(paths["float32"]))
    rng = np.random.default_rng(0)
    batches = ({"input": rng.random((4, *graph.input_shape), dtype=np.float32)}
               for _ in range(4))
    quantize_int8(paths["float32"], paths["int8"], batches, work)
    onnx.save(convert_fp16(model), str(paths["fp16"]))
    return paths


def shipped_variants(work: Path) -> tuple[dict[str, Path], dict[str, float]]:
    """The shipped model's three variants and their test-set accuracy."""
    paths, accuracy = {"float32": SHIPPED}, {}
    for mode in ("int8", "fp16"):
        r = quantize_model(SHIPPED, "fashion-mnist", work / f"fmnist.{mode}.onnx", mode=mode,
                           max_drop=1.0, seconds=0.2, min_speedup=0)
        paths[mode] = r.path
        accuracy["float32"] = r.float32.accuracy["output"]
        accuracy[mode] = r.quantized.accuracy["output"]
    return paths, accuracy


def format_variants(name: str, paths: dict[str, Path], work: Path) -> dict[str, Path]:
    """float32 and each INT8 form of :data:`FORMS`, calibrated on random pixel batches."""
    source = paths["float32"]
    session = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    given = session.get_inputs()[0]
    out = {"float32": source}
    for key, form in FORMS.items():
        rng = np.random.default_rng(0)
        batches = ({given.name: rng.random((4, *given.shape[1:]), np.float32)}
                   for _ in range(4))
        out[key] = work / f"{name}.{key.replace(' ', '_').replace(',', '')}.onnx"
        quantize_int8(source, out[key], batches, work, form)
    return out


def sessions(paths: dict[str, Path], threads: int) -> dict[str, ort.InferenceSession]:
    """One warm-able CPU session per variant with ``threads`` intra-op threads."""
    opened = {}
    for v, p in paths.items():
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        opened[v] = ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
    return opened


def report(name: str, paths: dict[str, Path], accuracy: dict[str, float] | None,
           batches: list[int], seconds: float, threads: int) -> None:
    sizes = {v: p.stat().st_size / 1e6 for v, p in paths.items()}
    opened = sessions(paths, threads)
    for b in batches:
        t = time_sessions(opened, b, seconds)
        for v in paths:
            acc = f"{accuracy[v]:.4f}" if accuracy and v in accuracy else "-"
            print(f"{name:<18}{b:>6}{v:>24}{t[v].median * 1e3:>10.2f}"
                  f"{speedup(t['float32'], t[v]):>7.2f}x"
                  f"{t[v].throughput:>11.1f}{sizes[v]:>8.2f}{acc:>9}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="fmnist," + ",".join(RANDOM))
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--seconds", type=float, default=3.0, help="minimum timing per batch size")
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    ap.add_argument("--formats", action="store_true",
                    help="compare the INT8 configurations of FORMS instead")
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    print(machine())
    clock = "CPU time" if args.threads == 1 else "wall time"
    print(f"{load()} (start); onnxruntime intra-op threads: {args.threads}; median {clock} "
          "per call, variants interleaved (cnncompile.runtime.timing)")
    print(f"{'model':<18}{'batch':>6}{'variant':>24}{'ms/call':>10}{'vs f32':>8}"
          f"{'samples/s':>11}{'MB':>8}{'accuracy':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in args.models.split(","):
            if name == "fmnist" and not args.formats:
                paths, accuracy = shipped_variants(work)
            elif name == "fmnist":
                paths, accuracy = {"float32": SHIPPED}, None
            else:
                paths, accuracy = random_variants(name, work), None
            if args.formats:
                paths = format_variants(name, paths, work)
            report(name, paths, accuracy, batches, args.seconds, args.threads)
    print(f"{load()} (end)")


if __name__ == "__main__":
    main()
