"""Parameters: one dict keyed by IR parameter names (``conv_0.kernel``), float32 arrays.

Reading them from files is :mod:`cnncompile.artifacts.weights`' job; keys starting with ``__``
(checkpoint metadata and optimiser state) are ignored here.
"""

from __future__ import annotations

import math

import numpy as np

from ...errors import DataError
from ...ir.graph import Graph, Param
from ...training_options import OPTIONS_BY_NAME

TEXTBOOK_STD = 0.030
INITS = OPTIONS_BY_NAME["init"].choices  # the option table holds the list


def _fan_in(p: Param) -> int:
    """Inputs feeding one output unit: kh*kw*cin/groups for a kernel, ``in`` for a weight."""
    return math.prod(p.shape[:-1])


def init_params(graph: Graph, seed: int = 0, init: str = "normal") -> dict[str, np.ndarray]:
    """Fresh parameters for ``graph``.

    Kernels and weights are drawn from N(0, 0.030) (the textbook's rule) or, with
    ``init="he"``, from N(0, sqrt(2 / fan_in)); every other parameter starts at the value its
    op gives it (biases, shifts and running means 0, scales and running variances 1).

    >>> from cnncompile.frontend import parse_spec
    >>> from cnncompile.ir import lower
    >>> g = lower(parse_spec("name: t\\ninput: [4]\\noutput: {classes: 2}\\nlayers: [3]"))
    >>> {k: v.shape for k, v in init_params(g).items()}
    {'full.weight': (4, 3), 'full.bias': (3,), 'output.weight': (3, 2), 'output.bias': (2,)}
    """
    if init not in INITS:
        raise DataError(f"unknown initialisation `init`. Received: init={init!r}, expected one "
                        f"of {', '.join(INITS)}")
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for p in graph.params():
        if p.start is None:  # kernels and weights
            std = TEXTBOOK_STD if init == "normal" else math.sqrt(2.0 / _fan_in(p))
            out[p.name] = rng.normal(0.0, std, p.shape).astype(np.float32)
        else:
            out[p.name] = np.full(p.shape, p.start, np.float32)
    return out


def _check_values(p: Param, a: np.ndarray, source: str) -> None:
    """Finite as float32 (the dtype the engine and ONNX use), and running variances >= 0."""
    with np.errstate(over="ignore"):
        as_used = a.astype(np.float32, copy=False)
    bad = ~np.isfinite(as_used)
    if bad.any():
        what = "NaN" if np.isnan(as_used).any() else "infinite"
        cast = " once cast to float32" if np.isfinite(a).all() else ""
        raise DataError(f"{source}: parameter `{p.name}` contains {what} values{cast} "
                        f"({int(bad.sum())} of {a.size})")
    if p.role == "var" and (as_used < 0).any():
        raise DataError(f"{source}: batch-norm running variance `{p.name}` has negative values "
                        f"(min {float(as_used.min()):g})")


def validate_params(graph: Graph, params: dict[str, np.ndarray], source: str = "parameters",
                    check_values: bool = True) -> None:
    """Raise DataError naming the first key that is missing, unknown, misshapen or has bad values.

    Bad values: NaN or infinite as float32, or a negative batch-norm running variance.

    Keys starting with ``__`` (checkpoint metadata) are allowed and ignored.
    """
    expected = {p.name: p for p in graph.params()}
    for name, p in expected.items():
        if name not in params:
            raise DataError(f"{source}: parameter `{name}` is missing (model {graph.name!r} "
                            f"needs {len(expected)} parameters)")
        a = params[name]
        shape = tuple(np.shape(a))
        if shape != p.shape:
            raise DataError(f"{source}: parameter `{name}` has the wrong shape. "
                            f"Received: shape={list(shape)}, expected {list(p.shape)}")
        if not np.issubdtype(np.asarray(a).dtype, np.floating):
            raise DataError(f"{source}: parameter `{name}` is not a float array. "
                            f"Received: dtype={np.asarray(a).dtype}")
        if check_values:
            _check_values(p, np.asarray(a), source)
    for name in params:
        if name not in expected and not name.startswith("__"):
            raise DataError(f"{source}: `{name}` is not a parameter of model {graph.name!r} "
                            f"(a checkpoint of another model?)")
