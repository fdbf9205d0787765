#!/usr/bin/env bash
# float32, FP16 and INT8 variants of a ResNet-50 layout and residual_flower on CUDA (TensorRT
# where onnxruntime-gpu has it) vs the CPU, at batch 1 and 64: latency and throughput.
#
# For a machine with an NVIDIA GPU (the `device` tool's H200); not run on the CPU-only
# development machine. Random weights (He initialisation): only the speed means anything.
# Everything lands in ${OUT:-/tmp/gpu_deploy}: the models, bench outputs and summary.txt.
#
#   bash benchmarks/gpu_deploy.sh            # a few minutes on an H200 (TensorRT engine builds)
#   ALLOW_CPU=1 MODELS=residual_flower bash benchmarks/gpu_deploy.sh     # dry run on a CPU
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_deploy}
mkdir -p "$OUT"
export PYTHONPATH=$PWD
log() { echo "== $*" | tee -a "$OUT/summary.txt"; }

log "$(date -u) $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
log "load: $(cat /proc/loadavg); CPU: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores)"
# needs onnxruntime-gpu (it replaces the CPU wheel: same module name), onnxconverter-common and
# cnncompile's own dependencies in this Python; the device machine may have no network, so
# installing is opt-in: INSTALL=1 bash benchmarks/gpu_deploy.sh
if [ "${INSTALL:-0}" = 1 ]; then
    pip uninstall -y -q onnxruntime >/dev/null 2>&1
    pip install -q "onnxruntime-gpu>=1.18" onnxconverter-common numpy pyyaml "typer<0.29" rich \
        onnx pillow matplotlib 2>&1 | tail -2
fi
python -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())" \
    | tee -a "$OUT/summary.txt"
# ALLOW_CPU=1 goes on without CUDA (`--provider cuda` then falls back with a note): a dry run
if [ "${ALLOW_CPU:-0}" != 1 ] && ! python -c "import onnxruntime as o, sys; sys.exit('CUDAExecutionProvider' not in o.get_available_providers())"; then
    log "no CUDAExecutionProvider in this onnxruntime: install onnxruntime-gpu (INSTALL=1); stopping"
    exit 1
fi

# data for INT8 calibration and the accuracy gate: random pixels with random labels (the
# weights are random too), so --max-drop 1 lets every variant through
python - "$OUT" <<'EOF'
import sys, numpy as np
rng = np.random.default_rng(0)
for name, hw, k in (("flower", 64, 5), ("imagenet", 224, 1000)):
    x = rng.integers(0, 256, (96, hw, hw, 3), dtype=np.uint8)
    np.savez(f"{sys.argv[1]}/{name}.npz", x=x, y=rng.integers(0, k, 96),
             x_test=x[:32], y_test=rng.integers(0, k, 32))
EOF

run() {  # run NAME SPEC DATA
    local name=$1 spec=$2 data=$3
    log "export $name"
    python -m cnncompile export "$spec" --init he --scale 0.00392156862745098 \
        --parity-batch 1 -o "$OUT/$name.onnx" >>"$OUT/$name.log" 2>&1 || { log "export failed"; return; }
    # fp16; int8 as QOperator (QLinearConv: CPU kernels) and as QDQ with symmetric int8
    # activations (the form TensorRT builds INT8 engines from)
    for variant in "fp16 --mode fp16" "int8 --mode int8" "int8qdq --mode int8 --format qdq"; do
        set -- $variant
        local tag=$1; shift
        python -m cnncompile quantize "$OUT/$name.onnx" --data "$data" "$@" --max-drop 1 \
            --calibration 64 -o "$OUT/$name.$tag.onnx" >>"$OUT/$name.log" 2>&1 \
            || log "quantize $tag failed (see $name.log)"
    done
    for variant in "" .fp16 .int8 .int8qdq; do
        for provider in cuda cpu; do
            [ -f "$OUT/$name$variant.onnx" ] || continue
            log "bench $name$variant on $provider"
            timeout 240 python -m cnncompile bench "$OUT/$name$variant.onnx" --batch 1,64 \
                --provider "$provider" --seconds 2 --no-engine 2>&1 | tee -a "$OUT/summary.txt"
        done
    done
}

for model in ${MODELS:-residual_flower resnet50}; do
    case $model in
        residual_flower) run residual_flower specs/ch9/residual_flower.yaml "$OUT/flower.npz" ;;
        resnet50) run resnet50 specs/torchvision/resnet50.yaml "$OUT/imagenet.npz" ;;
    esac
done
log "done $(date -u); load: $(cat /proc/loadavg)"
