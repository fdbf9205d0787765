"""Deployment artifacts made from an exported model: INT8/FP16 variants and Triton repositories.

Each module reads a cnncompile export and writes another artifact, checked before it appears:
:mod:`.quantize` (``quantized_model``: static INT8 or FP16; the accuracy gate is
:func:`cnncompile.workflows.quantize.quantize_model`'s) and :mod:`.triton`
(``write_repository``: a Triton model repository checked against Triton's ModelConfig and the
graph). Optional libraries (onnxconverter-common, tritonclient) are imported only where used.
"""

from .quantize import QUANTIZATION_KEY, quantization_label

__all__ = ["QUANTIZATION_KEY", "quantization_label"]
