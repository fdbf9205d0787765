"""The kernel protocol and the engine's lowerings: one class per IR op, with a forward and a backward.

An :class:`~cnncompile.backends.numpy.executor.Executor` builds one kernel object per graph node, so a
kernel may cache index arrays and buffers for its node (:meth:`Kernel.kept`). A kernel keeps what its backward needs
from the latest training forward on ``self``; ``backward`` is only valid after such a forward.

Inside the engine every tensor is channel-major: ``[C, N, H, W]`` for the IR's ``(H, W, C)``
and ``[F, N]`` for ``(F,)``. Then a convolution is one ``[cout, k] @ [k, N*H*W]`` product
whose result needs no transpose, im2col and pooling taps copy long contiguous rows, and batch
statistics reduce contiguous rows. The executor converts at the boundary (NHWC in, [N, F] out).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...ir.graph import Node
from ...ir.ops import Shape
from ..registry import Lowerings
from .parallel import WorkPool, pool

Params = dict[str, np.ndarray]  # this node's parameters by short name ('kernel', 'bias', ...)


@dataclass
class RunContext:
    """What a forward pass knows besides its inputs."""

    training: bool
    rng: np.random.Generator = field(default_factory=np.random.default_rng)


class Kernel:
    """Base of every op kernel.

    ``forward(xs, p, ctx) -> y`` computes the node's output from its (channel-major) input
    arrays and its parameters, which keep their IR layouts. ``backward(dy, p, need_dx) ->
    (dxs, grads)`` returns the gradient for each input (None where ``need_dx`` is False) and a
    dict of parameter gradients by short name. Kernels never modify their inputs or ``dy`` in
    place (a conv's fused ``epilogue`` works on the conv's own fresh output). Big operations
    are shared out to ``self.pool``.
    """

    def __init__(self, node: Node, in_shapes: list[Shape], dtype: np.dtype):
        self.node = node
        self.in_shapes = in_shapes
        self.dtype = np.dtype(dtype)
        self.pool: WorkPool = pool(1)  # the executor sets its own
        self._buffers: dict[str, np.ndarray] = {}

    def kept(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A buffer of ``shape`` that this kernel keeps from call to call: zeros when made,
        then what the last call left in it (cells a kernel never writes stay zero).

        For the big arrays of a training step: allocated afresh, each would come back from
        the OS page by page every step (glibc hands big freed blocks back), costing more
        than the work done in it. Only for arrays nothing outside the step keeps: what a
        kernel returns into a training step is read within that step (the executor copies
        what it hands out), and backward follows the latest training forward.
        """
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape:
            buf = self._buffers[name] = np.zeros(shape, self.dtype)
        return buf

    def forward(self, xs: list[np.ndarray], p: Params, ctx: RunContext) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray, p: Params,
                 need_dx: list[bool]) -> tuple[list[np.ndarray | None], Params]:
        raise NotImplementedError


KERNELS: Lowerings[type[Kernel]] = Lowerings("numpy")
register = KERNELS.register  # class decorator: the kernel of one IR op
