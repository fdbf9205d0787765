#!/usr/bin/env bash
# The GPU check of the torch backend (issue 15), one prepared run on a machine with NVIDIA GPUs:
#   1. installs what is missing from wheels carried in .whl/ (no network needed);
#   2. trains residual_flower for one epoch on a synthetic 64x64x3 set with --device cuda and
#      --workers = the GPUs present, then the same run on the CPU, and compares the checkpoints
#      (max relative weight difference, test accuracy of each);
#   3. prints the torch backend's training images/s on the GPU for residual_flower at batch 64
#      and ResNet-50 at 224x224 batch 128, against the NumPy engine on this machine's CPU.
# Usage: bash benchmarks/gpu_check.sh [work folder, default /tmp/gpu_check]
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/gpu_check}
mkdir -p "$WORK"
PY=${PYTHON:-python3}

if ! $PY -c "import torch, cnncompile" 2>/dev/null; then
    [ -d .whl ] || { echo "gpu_check: torch or cnncompile missing and no .whl/ folder to install from" >&2; exit 2; }
    $PY -m pip install -q --no-index --find-links .whl -e '.[torch]'
fi
GPUS=$($PY -c "import torch; print(torch.cuda.device_count())")
[ "$GPUS" -ge 1 ] || { echo "gpu_check: torch sees no CUDA GPU" >&2; exit 2; }
$PY -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, '|', \
', '.join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())))"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg), CPUs: $(nproc), GPUs: $GPUS"

# a synthetic five-class set: the class is the brightest horizontal band of the image
$PY - "$WORK" <<'EOF'
import sys, numpy as np
rng = np.random.default_rng(0)
n = 2000
y = np.arange(n) % 5
x = rng.integers(0, 120, (n, 64, 64, 3)).astype(np.uint8)
for k in range(5):
    x[y == k, 12 * k:12 * k + 12] += 100
np.savez(f"{sys.argv[1]}/bands.npz", x=x, y=y)
EOF

SPEC=specs/ch9/residual_flower.yaml
COMMON=(train "$SPEC" --data "$WORK/bands.npz" --epochs 1 --batch-size 64 --lr 0.001
        --backend torch --log-format textbook --overwrite)
time $PY -m cnncompile "${COMMON[@]}" --device cuda --workers "$GPUS" --out "$WORK/gpu"
time $PY -m cnncompile "${COMMON[@]}" --device cpu --workers 1 --out "$WORK/cpu"

$PY - "$WORK" <<'EOF'
import json, sys
import numpy as np
from cnncompile.train import read_checkpoint
gpu, cpu = (read_checkpoint(f"{sys.argv[1]}/{d}/checkpoint.npz") for d in ("gpu", "cpu"))
worst = max((float(np.abs(gpu.params[k] - cpu.params[k]).max())
             / max(float(np.abs(cpu.params[k]).max()), 1e-3), k) for k in cpu.params)
print(f"checkpoints: max relative weight difference GPU vs CPU {worst[0]:.2e} ({worst[1]}); "
      f"test accuracy GPU {gpu.meta.get('test_accuracy')} CPU {cpu.meta.get('test_accuracy')}")
EOF

$PY - <<'EOF'
import os, time
import numpy as np
import torch
from cnncompile.backends.numpy import init_params
from cnncompile.backends.numpy.optim import make_optimizer
from cnncompile.frontend import load_spec
from cnncompile.ir import lower
from cnncompile.train.step_engine import NumpyEngine
from cnncompile.train.torch_loop import TorchEngine

def rate(step, batch, n, sync=lambda: None):
    step(); sync()
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    sync()
    return batch * n / (time.perf_counter() - t0)

print(f"{'model':16}{'batch':>6}{'torch cuda img/s':>18}{'numpy cpu img/s':>17}{'ratio':>8}")
for path, shape, batch, cpu_batch in (("specs/ch9/residual_flower.yaml", None, 64, 64),
                                      ("specs/torchvision/resnet50.yaml", None, 128, 4)):
    g = lower(load_spec(path))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (batch,) + g.input_shape).astype(np.float32)
    y = rng.integers(0, g.output_shape[0], batch)
    params = init_params(g, init="he")
    gpu = TorchEngine(g, params, make_optimizer("adam", 1e-4), device="cuda")
    step = lambda e, xx, yy: e.update(e.forward_loss(xx, yy, 0.0, rng), 1e-4)
    r_gpu = rate(lambda: step(gpu, x, y), batch, 10, torch.cuda.synchronize)
    cpu = NumpyEngine(g, {k: v.copy() for k, v in params.items()}, make_optimizer("adam", 1e-4))
    r_cpu = rate(lambda: step(cpu, x[:cpu_batch], y[:cpu_batch]), cpu_batch, 2)
    print(f"{g.name:16}{batch:>6}{r_gpu:>18.1f}{r_cpu:>17.1f}{r_gpu / r_cpu:>7.1f}x  "
          f"(NumPy at batch {cpu_batch}; load {os.getloadavg()[0]:.2f})", flush=True)
EOF
