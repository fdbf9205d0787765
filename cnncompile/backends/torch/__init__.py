"""The PyTorch backend: any IR graph as an ``nn.Module`` with the NumPy engine's semantics.

Importing this package imports torch; a missing torch is one :class:`CnnCompileError` naming the
extra to install. Parameters go both ways unchanged: :meth:`GraphModule.load_ir_params` /
:meth:`GraphModule.ir_params` convert between the IR's layouts (kernels ``[kh, kw, cin/g, cout]``,
weights ``[in, out]``) and PyTorch's (OIHW, ``[out, in]``) by each parameter's layout
(:mod:`cnncompile.ir.layout`). Each op's lowering is in :mod:`.ops`.
"""

from __future__ import annotations

from ...errors import CnnCompileError

try:
    import torch  # noqa: F401
except ImportError:  # pragma: no cover - the test environment has torch
    raise CnnCompileError(
        "the torch backend needs the extra: pip install 'cnncompile[torch]'") from None

from .module import GraphModule, RandomSource  # noqa: E402
from .optim import TorchOptimizer  # noqa: E402

__all__ = ["GraphModule", "RandomSource", "TorchOptimizer"]
