"""The choice lists and defaults of the options outside training, each written once.

Training's choices live in its option table (:mod:`cnncompile.training_options`). These are
export's, quantize's, Triton's and onnxruntime's: the library checks a value against them, and
the CLI builds its ``--help`` choices from them. This module imports nothing, so the CLI can
read it at start without loading the machinery behind the choices.
"""

LAYOUTS = ("nhwc", "nchw")  # export --layout: the model input as the data comes, or NCHW
HEAD_OUTPUTS = ("probs", "logits")  # export --outputs: softmax/sigmoid per head, or raw
ACCELERATORS = ("tensorrt", "cuda")  # export --triton --gpu --accelerator
QUANTIZE_MODES = ("int8", "fp16")
# INT8 forms: QDQ with uint8 activations ran fastest on the CPUs measured (docs/deploy.md),
# QOperator (QLinearConv, ...) a few percent behind; qdq (symmetric int8) is what TensorRT takes
QUANTIZE_FORMATS = ("qdq-u8", "qoperator", "qdq")
QUANTIZE_FORMAT = "qdq-u8"
QUANTIZE_MAX_DROP = 0.01  # the largest accuracy loss quantize accepts (one point)
QUANTIZE_CALIBRATION = 256  # training samples INT8 calibrates on
QUANTIZE_BATCH = 1  # the batch quantize compares the speed at: one request at a time
QUANTIZE_MIN_SPEEDUP = 1.0  # quantize writes no model slower than its float32 source
PROVIDERS = ("auto", "cpu", "cuda")  # onnxruntime execution providers (auto: CUDA when there)
