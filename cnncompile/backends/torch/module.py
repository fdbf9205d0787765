"""Any IR graph as a PyTorch ``nn.Module`` (NCHW inside) with the textbook's exact semantics.

Each node runs its op's lowering from :mod:`.ops` (geometry, padding, batch norm, dropout and
noise are there). With a process group (``sync``) batch norm's statistics are those of the
global batch (sums all-reduced with autograd, as SyncBatchNorm does).

Dropout and noise draw from a :class:`RandomSource` when one is set: the trainer's NumPy
generator, in the engine's order and channel-major shape over the whole (global) batch, so the
module reproduces the engine's masks, and each worker of a multi-process run its rows of them.
Without one they draw from torch's generator.

Parameters are registered under their IR names with ``.`` written as ``:`` (PyTorch refuses
dots), in PyTorch's layout (:mod:`cnncompile.ir.layout`, by each parameter's ``layout``);
:meth:`GraphModule.load_ir_params` and :meth:`GraphModule.ir_params` convert.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ...ir.graph import Graph, Node
from ...ir.layout import from_out_first, to_out_first
from ...ir.ops import OPS
from ..numpy.params import validate_params
from .ops import LOWERINGS, WindowPlan, window_plan


def torch_name(ir_name: str) -> str:
    """The attribute name of an IR parameter inside the module (``.`` is not allowed)."""
    return ir_name.replace(".", ":")


@dataclass
class RandomSource:
    """Dropout and noise draws: ``rng`` over a batch of ``batch`` samples, of which the module
    holds rows ``rows`` (a worker's share; all of them in one process)."""

    rng: np.random.Generator
    batch: int
    rows: slice = field(default_factory=lambda: slice(None))


class GraphModule(nn.Module):
    """``forward(x)`` maps an NHWC (or [N, F]) batch to the logits [N, width] of ``graph``.

    Args:
        graph: the IR graph.
        params: IR parameters (``init_params`` or a checkpoint's); zeros when omitted.
        dtype: the parameters' dtype (float32; float64 for parity checks).
        sync: a ``torch.distributed`` process group whose ranks hold shares of one global
            batch; batch norm then normalises by the global statistics.

    >>> from cnncompile.frontend import parse_spec
    >>> from cnncompile.ir import lower
    >>> from cnncompile.backends.numpy import init_params
    >>> g = lower(parse_spec("name: t\\ninput: [6, 6, 1]\\noutput: {classes: 3}\\n"
    ...                      "layers: [[conv, {ksize: 3, chn: 2}], [max, {stride: 2}]]"))
    >>> m = GraphModule(g, init_params(g)).eval()
    >>> tuple(m(torch.ones(4, 6, 6, 1)).shape), sorted(m.ir_params()) == sorted(init_params(g))
    ((4, 3), True)
    """

    def __init__(self, graph: Graph, params: dict[str, np.ndarray] | None = None,
                 dtype: torch.dtype = torch.float32, sync=None):
        super().__init__()
        self.graph = graph
        self.sync = sync
        self.random: RandomSource | None = None
        for p in graph.params():
            shape = to_out_first(p.layout, np.empty(p.shape, np.bool_)).shape
            t = torch.zeros(shape, dtype=dtype)
            if p.trainable:
                t = nn.Parameter(t)
                t.ir_layout = p.layout  # the optimiser stores its state in the IR's layout
                self.register_parameter(torch_name(p.name), t)
            else:
                self.register_buffer(torch_name(p.name), t)
        self._nodes = list(graph)
        self._lowerings = [LOWERINGS.lookup(n.op) for n in self._nodes]
        order = {n.name: i for i, n in enumerate(self._nodes)}
        self._last_use = {name: max((order[u] for u in us), default=-1)
                          for name, us in graph.users().items()}
        self._plans = {n.name: window_plan(n) for n in self._nodes if OPS[n.op].windowed}
        if params is not None:
            self.load_ir_params(params)

    # -- parameters ---------------------------------------------------------------------------
    def tensor(self, ir_name: str) -> torch.Tensor:
        """The parameter or running statistic called ``ir_name``, in PyTorch's layout."""
        key = torch_name(ir_name)
        return self._parameters[key] if key in self._parameters else self._buffers[key]

    def load_ir_params(self, params: dict[str, np.ndarray]) -> None:
        """Copy IR-layout arrays (every parameter of the graph) into the module."""
        validate_params(self.graph, params, check_values=False)
        with torch.no_grad():
            for p in self.graph.params():
                t = self.tensor(p.name)
                a = np.ascontiguousarray(to_out_first(p.layout, np.asarray(params[p.name])))
                t.copy_(torch.from_numpy(a).to(t.dtype))

    def ir_params(self) -> dict[str, np.ndarray]:
        """Every parameter and running statistic as a NumPy array in the IR's layout."""
        return {p.name: np.ascontiguousarray(
            from_out_first(p.layout, self.tensor(p.name).detach().cpu().numpy()))
            for p in self.graph.params()}

    def ir_grads(self) -> dict[str, np.ndarray]:
        """The gradients of the last backward, keyed and laid out as the engine's."""
        out = {}
        for p in self.graph.params():
            if p.trainable:
                t = self.tensor(p.name)
                g = torch.zeros_like(t) if t.grad is None else t.grad
                out[p.name] = np.ascontiguousarray(from_out_first(p.layout,
                                                                  g.detach().cpu().numpy()))
        return out

    def named_ir_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """(IR name, trainable parameter) in graph order."""
        return [(p.name, self.tensor(p.name)) for p in self.graph.params() if p.trainable]

    # -- forward ------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {}
        for i, (n, lower) in enumerate(zip(self._nodes, self._lowerings, strict=True)):
            values[n.name] = lower(self, n, [x] if n.op == "input" else [values[k] for k in n.inputs])
            for k in n.inputs:
                if self._last_use[k] == i:
                    del values[k]
        return values[self.graph.output]

    # -- what the lowerings read --------------------------------------------------------------
    def node_param(self, n: Node, short: str) -> torch.Tensor:
        """Parameter ``short`` ('kernel', 'mean', ...) of node ``n``, in PyTorch's layout."""
        return self.tensor(f"{n.name}.{short}")

    def plan(self, n: Node) -> WindowPlan:
        """How windowed node ``n`` reads its windows (planned once, at construction)."""
        return self._plans[n.name]

    def global_moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and biased variance per channel over the global batch (two passes)."""
        dims = [0] + list(range(2, x.dim()))
        batch = self.random.batch if self.sync is not None else x.shape[0]
        total = batch * int(np.prod(x.shape[2:]))  # a worker's share may be empty
        mean = self._all_sum(x.sum(dims)) / total
        d = x - mean.view((1, -1) + (1,) * (x.dim() - 2))
        return mean, self._all_sum((d * d).sum(dims)) / total

    def _all_sum(self, t: torch.Tensor) -> torch.Tensor:
        return t if self.sync is None else _AllSum.apply(t, self.sync)

    # -- dropout and noise --------------------------------------------------------------------
    def draw(self, x: torch.Tensor, draw) -> torch.Tensor:
        """``draw(rng, shape)`` over the engine's channel-major global shape, as x's rows."""
        src = self.random
        shape = (x.shape[1], src.batch) + tuple(x.shape[2:])
        a = np.moveaxis(draw(src.rng, shape), 0, 1)[src.rows]
        return torch.from_numpy(np.ascontiguousarray(a)).to(device=x.device)


class _AllSum(torch.autograd.Function):
    """The sum over ranks; its gradient is the sum over ranks of the incoming gradients (each
    rank's loss is its share of the global loss)."""

    @staticmethod
    def forward(ctx, t, group):
        import torch.distributed as dist

        ctx.group = group
        out = t.clone()
        dist.all_reduce(out, group=group)
        return out

    @staticmethod
    def backward(ctx, grad):
        import torch.distributed as dist

        out = grad.clone()
        dist.all_reduce(out, group=ctx.group)
        return out, None
