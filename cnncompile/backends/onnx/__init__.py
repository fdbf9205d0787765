"""The ONNX backend: one emitter per IR op, graph assembly, metadata, checks, atomic export.

>>> from cnncompile.backends.onnx import EMITTERS
>>> from cnncompile.ir import OPS
>>> sorted(set(OPS) - set(EMITTERS))
[]
"""

from .assemble import (
           DEFAULT_OPSET,
           MAX_IR_VERSION,
           MAX_OPSET,
           MIN_OPSET,
           ExportOptions,
           build_model,
)
from .checks import PARITY_TOLERANCE, Parity, check_parity, check_shapes, check_validity
from .emitters import EMITTERS
from .export import ExportResult, Weights, export_graph, random_batch

__all__ = ["DEFAULT_OPSET", "EMITTERS", "ExportOptions", "ExportResult", "MAX_IR_VERSION",
           "MAX_OPSET", "MIN_OPSET", "PARITY_TOLERANCE", "Parity", "Weights", "build_model",
           "check_parity", "check_shapes", "check_validity", "export_graph", "random_batch"]
