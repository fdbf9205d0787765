# STAND-IN for the api branch; the lead replaces it with the workflow helper's module
"""Quantization as a library function (stand-in: today's deploy.quantize)."""

from __future__ import annotations


def quantize_model(model, data, out=None, *, mode="int8", max_drop=0.01, calibration=256,
                   eval_samples=None, seconds=0.5, threads=None, fmt="qoperator"):
    """An INT8 or FP16 variant of the export ``model``, kept only if it keeps its accuracy."""
    from ..deploy import quantize

    return quantize.quantize_model(model, data, mode, out, max_drop=max_drop,
                                   calibration=calibration, eval_samples=eval_samples,
                                   seconds=seconds, threads=threads, fmt=fmt)
