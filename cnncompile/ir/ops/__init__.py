"""IR operators, one module each: frozen attributes, a pure shape rule, the parameters with
their roles and layouts, a cost rule, and the op's constants and defaults.

Importing this package registers every op in :data:`OPS`: it imports each op module itself. Backends register one lowering per op in their own packages
(:mod:`cnncompile.backends.registry`); ``tests/backends/test_op_coverage.py`` fails when one is
missing or disagrees with the NumPy engine.
"""

from . import add, bias_map, concat, flatten  # noqa: F401  (ops without names to export)
from .act import ACTIVATIONS, LEAKY_SLOPE, ActAttrs
from .base import (
    LAYOUTS,
    OPS,
    ROLES,
    WEIGHT_ROLES,
    Cost,
    NoAttrs,
    OpDef,
    OpShapeError,
    ParamSpec,
    Shape,
    op_cost,
    register,
)
from .batch_norm import BN_EPSILON, BN_EXP_RATIO, BatchNormAttrs, exp_ratio_from_momentum
from .conv import ConvAttrs
from .dense import DenseAttrs
from .dropout import DropoutAttrs
from .input import InputAttrs
from .noise import NoiseAttrs
from .pool import PoolAttrs
from .tile import TileAttrs

__all__ = [
    "ACTIVATIONS", "BN_EPSILON", "BN_EXP_RATIO", "LAYOUTS", "LEAKY_SLOPE", "OPS",
    "ROLES", "WEIGHT_ROLES", "ActAttrs", "BatchNormAttrs", "ConvAttrs", "Cost", "DenseAttrs",
    "DropoutAttrs", "InputAttrs", "NoAttrs", "NoiseAttrs", "OpDef", "OpShapeError", "ParamSpec",
    "PoolAttrs", "Shape", "TileAttrs", "exp_ratio_from_momentum",
    "op_cost", "register",
]
