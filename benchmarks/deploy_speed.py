"""float32 vs INT8 vs FP16 in onnxruntime on this CPU, in one run.

Models:

- ``fmnist``: the shipped, trained ``exported/fmnist_small.onnx``; INT8 and FP16 are made by
  :func:`cnncompile.workflows.quantize.quantize_model` (INT8 calibrated on 256 training samples)
  and the accuracy of all three is measured on the whole Fashion-MNIST test set (the Debian
  package ``dataset-fashion-mnist``, read by the project's loader);
- ``residual_flower`` (64x64), ``resnet18`` and ``resnet50`` (224x224, specs/torchvision/):
  RANDOM weights (He initialisation; no trained weights exist), INT8 calibrated on random
  pixel batches, so only their speed means anything.

Each model's three variants are timed interleaved (one call of each per round, so load from
other processes hits all alike) at batch 1 and 8: the median wall time per call, and the
median CPU time of the calling thread (onnxruntime runs in it with one intra-op thread), which
a busy machine disturbs far less; throughput is batch / median CPU time. The header gives the CPU, the BLAS, onnxruntime's threads and
the load average before and after.

    python benchmarks/deploy_speed.py                        # everything, 1 thread
    python benchmarks/deploy_speed.py --models fmnist,resnet18 --seconds 2 --threads 2
    python benchmarks/deploy_speed.py --formats --models fmnist,resnet18    # INT8 forms

``--formats`` times, instead, float32 against the four INT8 forms onnxruntime's quantizer
offers (QOperator or QDQ, unsigned or signed 8-bit activations; per-channel signed weights):
the measurement behind ``cnncompile quantize``'s choice (docs/deploy.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnncompile.backends.numpy import init_params  # noqa: E402
from cnncompile.backends.onnx import ExportOptions, build_model  # noqa: E402
from cnncompile.deploy.quantize import convert_fp16, quantize_int8  # noqa: E402
from cnncompile.frontend import load_spec  # noqa: E402
from cnncompile.ir import lower  # noqa: E402
from cnncompile.workflows.quantize import quantize_model  # noqa: E402

SHIPPED = ROOT / "exported" / "fmnist_small.onnx"
RANDOM = {"residual_flower": "specs/ch9/residual_flower.yaml",
          "resnet18": "specs/torchvision/resnet18.yaml",
          "resnet50": "specs/torchvision/resnet50.yaml"}
VARIANTS = ("float32", "int8", "fp16")


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
                           max_drop=1.0, seconds=0.2)
        paths[mode] = r.path
        accuracy["float32"] = r.float32.accuracy["output"]
        accuracy[mode] = r.quantized.accuracy["output"]
    return paths, accuracy


def format_variants(name: str, paths: dict[str, Path], work: Path) -> dict[str, Path]:
    """float32 and the four INT8 forms of one model, calibrated on random pixel batches."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from cnncompile.deploy.quantize import _reader

    source = paths["float32"]
    prepared = work / f"{name}.prepared.onnx"
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    session = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    shape = session.get_inputs()[0].shape[1:]
    out = {"float32": source}
    for fmt in (QuantFormat.QOperator, QuantFormat.QDQ):
        for act in (QuantType.QUInt8, QuantType.QInt8):
            key = f"{fmt.name}/{'u8' if act == QuantType.QUInt8 else 's8'}"
            rng = np.random.default_rng(0)
            batches = ({session.get_inputs()[0].name: rng.random((4, *shape), np.float32)}
                       for _ in range(4))
            out[key] = work / f"{name}.{key.replace('/', '.')}.onnx"
            quantize_static(str(prepared), str(out[key]), _reader(batches), quant_format=fmt,
                            activation_type=act, weight_type=QuantType.QInt8, per_channel=True)
    return out


def interleaved(paths: dict[str, Path], batch: int, seconds: float, threads: int,
                min_calls: int = 5) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds per call of each variant, one call of each per round.

    The CPU time is the calling thread's (``time.thread_time``): with one onnxruntime thread
    the model runs in that thread, so it counts the work done and not the time spent waiting
    for a core that other processes hold; on a shared machine it is the steadier figure.
    """
    calls = {}
    for v, p in paths.items():
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        s = ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
        shape = [batch, *s.get_inputs()[0].shape[1:]]
        feed = {s.get_inputs()[0].name: np.random.default_rng(1).random(shape, np.float32)}
        s.run(None, feed)  # warm-up
        calls[v] = (s, feed)
    laps: dict[str, list[tuple[float, float]]] = {v: [] for v in paths}
    start = time.perf_counter()
    while min(map(len, laps.values())) < min_calls or time.perf_counter() - start < seconds:
        for v, (s, feed) in calls.items():
            t, c = time.perf_counter(), time.thread_time()
            s.run(None, feed)
            laps[v].append((time.perf_counter() - t, time.thread_time() - c))
    return {v: tuple(np.median(np.array(t), axis=0).tolist()) for v, t in laps.items()}


def report(name: str, paths: dict[str, Path], accuracy: dict[str, float] | None,
           batches: list[int], seconds: float, threads: int) -> None:
    sizes = {v: p.stat().st_size / 1e6 for v, p in paths.items()}
    for b in batches:
        med = interleaved(paths, b, seconds, threads)
        wall0, cpu0 = med["float32"]
        for v in paths:
            wall, cpu = med[v]
            acc = f"{accuracy[v]:.4f}" if accuracy and v in accuracy else "-"
            print(f"{name:<16}{b:>6}{v:>14}{wall * 1e3:>10.2f}{wall0 / wall:>7.2f}x"
                  f"{cpu * 1e3:>10.2f}{cpu0 / cpu:>7.2f}x{b / cpu:>11.1f}{sizes[v]:>8.2f}"
                  f"{acc:>9}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="fmnist," + ",".join(RANDOM))
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--seconds", type=float, default=3.0, help="minimum timing per batch size")
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    ap.add_argument("--formats", action="store_true",
                    help="compare the INT8 forms (QOperator/QDQ, u8/s8 activations) instead")
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    print(machine())
    print(f"{load()} (start); onnxruntime intra-op threads: {args.threads}")
    print(f"{'model':<16}{'batch':>6}{'variant':>14}{'wall ms':>10}{'vs f32':>8}{'cpu ms':>10}"
          f"{'vs f32':>8}{'samples/s':>11}{'MB':>8}{'accuracy':>9}   (medians; samples/s "
          "of CPU time)")
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
