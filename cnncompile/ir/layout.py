"""Parameter layouts: the IR's and the output-first one PyTorch and ONNX use.

The IR stores a conv kernel HWIO ``[kh, kw, cin/groups, cout]`` and a dense weight IO
``[in, out]`` (a parameter's ``layout``, set by its op). PyTorch's ``conv2d`` and ONNX's
``Conv`` take kernels OIHW, ``linear`` and ``Gemm(transB=1)`` take weights ``[out, in]``,
and a per-position map (HWC) is ``[C, H, W]`` there; per-channel vectors are the same
everywhere. This is the one place that transposes.
"""

from __future__ import annotations

import numpy as np

_TO_OUT_FIRST = {"HWIO": (3, 2, 0, 1), "IO": (1, 0), "HWC": (2, 0, 1)}
_FROM_OUT_FIRST = {"HWIO": (2, 3, 1, 0), "IO": (1, 0), "HWC": (1, 2, 0)}


def to_out_first(layout: str, a: np.ndarray) -> np.ndarray:
    """An IR-layout array as PyTorch and ONNX lay it out (a view): OIHW, [out, in] or as is.

    >>> to_out_first("HWIO", np.zeros((3, 5, 2, 8))).shape
    (8, 2, 3, 5)
    """
    axes = _TO_OUT_FIRST.get(layout)
    return a if axes is None else a.transpose(axes)


def from_out_first(layout: str, a: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_out_first` (a view).

    >>> from_out_first("HWIO", np.zeros((8, 2, 3, 5))).shape
    (3, 5, 2, 8)
    """
    axes = _FROM_OUT_FIRST.get(layout)
    return a if axes is None else a.transpose(axes)
