"""The NumPy engine: float32, vectorised forward and backward kernels for every IR op.

``init_params`` / ``validate_params`` handle the parameter dict keyed by IR
names; :class:`Executor` runs a graph forward and backward; ``losses`` and ``optim`` hold the
output-layer losses and the optimisers the trainer uses.
"""

# the modules holding the kernels, imported here so that KERNELS is complete for every caller
from . import activations, bias_map, conv, dense, elementwise, norm, pooling  # noqa: F401
from .executor import Executor
from .inference import inference_model
from .kernel import KERNELS
from .params import init_params, validate_params

__all__ = ["Executor", "KERNELS", "inference_model", "init_params", "validate_params"]
