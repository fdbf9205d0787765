"""Any IR graph as a PyTorch ``nn.Module`` (NCHW inside) with the textbook's exact semantics.

Every op reads its geometry from the IR (``ir/window.py``'s :class:`AxisWindow`), never from
SAME/VALID strings: a window whose pads PyTorch's own ``padding`` argument can express runs
with it (extra trailing output cells cropped), any other gets an explicit ``F.pad`` (a negative
pad crops the cells a window never reads). ``avg`` divides by the real cells unless the IR says
``count_pad``; ``max`` pads with -inf. Batch norm normalises with the biased batch variance and
moves its running statistics, registered buffers, by ``exp_ratio`` towards the batch mean and
the *biased* variance, as the engine does; with a process group (``sync``) the statistics are
those of the global batch (sums all-reduced with autograd, as SyncBatchNorm does).

Dropout and noise draw from a :class:`RandomSource` when one is set: the trainer's NumPy
generator, in the engine's order and channel-major shape over the whole (global) batch, so the
module reproduces the engine's masks, and each worker of a multi-process run its rows of them.
Without one they draw from torch's generator.

Parameters are registered under their IR names with ``.`` written as ``:`` (PyTorch refuses
dots); :meth:`GraphModule.load_ir_params` and :meth:`GraphModule.ir_params` convert the layouts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...ir.graph import Graph, Node
from ..numpy.activations import LEAKY_SLOPE
from ..numpy.params import validate_params

ACTIVATIONS = {
    "relu": F.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "leaky_relu": lambda x: F.leaky_relu(x, LEAKY_SLOPE),
    "elu": F.elu,
    "swish": F.silu,
}


def to_torch_layout(name: str, a: np.ndarray) -> np.ndarray:
    """An IR parameter as PyTorch lays it out: kernels OIHW, dense weights [out, in]."""
    if name.endswith(".kernel"):
        return a.transpose(3, 2, 0, 1)
    if name.endswith(".weight"):
        return a.T
    return a


def to_ir_layout(name: str, a: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_torch_layout`: kernels [kh, kw, cin/g, cout], weights [in, out]."""
    if name.endswith(".kernel"):
        return a.transpose(2, 3, 1, 0)
    if name.endswith(".weight"):
        return a.T
    return a


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


@dataclass(frozen=True)
class _WindowPlan:
    """How one conv or pool reads its windows: an explicit pad or the op's own padding."""

    pad: tuple[int, int, int, int] | None  # F.pad order: W lo, W hi, H lo, H hi
    padding: tuple[int, int]
    out: tuple[int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]


def _plan(windows, pool: bool) -> _WindowPlan:
    """PyTorch's symmetric ``padding`` where it gives the same windows, else an explicit pad.

    ``padding=p`` starts window j at s*j - p and may fit extra trailing cells (cropped), so it
    serves whenever pad_hi <= pad_lo; pools also need p <= k/2 (PyTorch refuses more).
    """
    kernel = tuple(w.kernel for w in windows)
    stride = tuple(w.stride for w in windows)
    out = tuple(w.out for w in windows)
    if all(0 <= w.pad_lo and w.pad_hi <= w.pad_lo and (not pool or 2 * w.pad_lo <= w.kernel)
           for w in windows):
        return _WindowPlan(None, tuple(w.pad_lo for w in windows), out, kernel, stride)
    wh, ww = windows
    return _WindowPlan((ww.pad_lo, ww.pad_hi, wh.pad_lo, wh.pad_hi), (0, 0), out, kernel, stride)


def _crop(y: torch.Tensor, out: tuple[int, int]) -> torch.Tensor:
    return y if tuple(y.shape[2:]) == out else y[:, :, :out[0], :out[1]]


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
            shape = to_torch_layout(p.name, np.empty(p.shape, np.bool_)).shape
            t = torch.zeros(shape, dtype=dtype)
            if p.trainable:
                self.register_parameter(torch_name(p.name), nn.Parameter(t))
            else:
                self.register_buffer(torch_name(p.name), t)
        self._nodes = [n for n in graph if n.op != "input"]
        order = {n.name: i for i, n in enumerate(self._nodes)}
        self._last_use = {name: max((order[u] for u in us), default=-1)
                          for name, us in graph.users().items()}
        self._plans = {n.name: _plan(n.attrs.windows, n.op != "conv")
                       for n in self._nodes if n.op in ("conv", "max_pool", "avg_pool")}
        self._ops = {"conv": self._conv, "max_pool": self._max_pool, "avg_pool": self._avg_pool,
                     "dense": self._dense, "flatten": self._flatten,
                     "batch_norm": self._batch_norm, "act": self._act,
                     "dropout": self._dropout, "noise": self._noise,
                     "concat": lambda n, xs: torch.cat(xs, 1), "add": self._add,
                     "tile": self._tile}
        missing = {n.op for n in self._nodes} - set(self._ops)
        if missing:
            raise NotImplementedError(f"the torch backend has no op {sorted(missing)}")
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
                a = np.ascontiguousarray(to_torch_layout(p.name, np.asarray(params[p.name])))
                t.copy_(torch.from_numpy(a).to(t.dtype))

    def ir_params(self) -> dict[str, np.ndarray]:
        """Every parameter and running statistic as a NumPy array in the IR's layout."""
        return {p.name: np.ascontiguousarray(
            to_ir_layout(p.name, self.tensor(p.name).detach().cpu().numpy()))
            for p in self.graph.params()}

    def ir_grads(self) -> dict[str, np.ndarray]:
        """The gradients of the last backward, keyed and laid out as the engine's."""
        out = {}
        for p in self.graph.params():
            if p.trainable:
                t = self.tensor(p.name)
                g = torch.zeros_like(t) if t.grad is None else t.grad
                out[p.name] = np.ascontiguousarray(to_ir_layout(p.name, g.detach().cpu().numpy()))
        return out

    def named_ir_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """(IR name, trainable parameter) in graph order."""
        return [(p.name, self.tensor(p.name)) for p in self.graph.params() if p.trainable]

    # -- forward ------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = x.permute(0, 3, 1, 2).contiguous()
        values = {self.graph.input: x}
        for i, n in enumerate(self._nodes):
            values[n.name] = self._ops[n.op](n, [values[k] for k in n.inputs])
            for k in n.inputs:
                if self._last_use[k] == i:
                    del values[k]
        return values[self.graph.output]

    def _p(self, n: Node, short: str) -> torch.Tensor:
        return self.tensor(f"{n.name}.{short}")

    def _conv(self, n: Node, xs):
        a, plan = n.attrs, self._plans[n.name]
        x = xs[0] if plan.pad is None else F.pad(xs[0], plan.pad)
        y = F.conv2d(x, self._p(n, "kernel"), self._p(n, "bias") if a.bias else None,
                     plan.stride, plan.padding, 1, a.groups)
        return _crop(y, plan.out)

    def _max_pool(self, n: Node, xs):
        plan = self._plans[n.name]
        x = xs[0] if plan.pad is None else F.pad(xs[0], plan.pad, value=float("-inf"))
        return _crop(F.max_pool2d(x, plan.kernel, plan.stride, plan.padding), plan.out)

    def _avg_pool(self, n: Node, xs):
        plan, count_pad = self._plans[n.name], n.attrs.count_pad
        if plan.pad is None:
            return _crop(F.avg_pool2d(xs[0], plan.kernel, plan.stride, plan.padding,
                                      count_include_pad=count_pad), plan.out)
        y = F.avg_pool2d(F.pad(xs[0], plan.pad), plan.kernel, plan.stride)
        if count_pad:
            return y
        ones = torch.ones((1, 1) + tuple(xs[0].shape[2:]), dtype=y.dtype, device=y.device)
        return y / F.avg_pool2d(F.pad(ones, plan.pad), plan.kernel, plan.stride)

    def _dense(self, n: Node, xs):
        return F.linear(xs[0], self._p(n, "weight"), self._p(n, "bias") if n.attrs.bias else None)

    def _flatten(self, n: Node, xs):
        x = xs[0]
        if x.dim() == 4:  # the IR flattens in H, W, C order
            x = x.permute(0, 2, 3, 1)
        return x.reshape(x.shape[0], -1)

    def _act(self, n: Node, xs):
        return ACTIVATIONS[n.attrs.func](xs[0])

    def _add(self, n: Node, xs):
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y

    def _tile(self, n: Node, xs):
        x = xs[0]
        return x.repeat((1, n.attrs.reps) + (1,) * (x.dim() - 2))

    # -- batch norm ---------------------------------------------------------------------------
    def _batch_norm(self, n: Node, xs):
        x, a = xs[0], n.attrs
        mean, var = self._p(n, "mean"), self._p(n, "var")
        scale = self._p(n, "scale") if a.rescale else None
        shift = self._p(n, "shift") if a.rescale else None
        if not self.training:
            return F.batch_norm(x, mean, var, scale, shift, False, 0.0, a.epsilon)
        count = x.numel() // max(1, x.shape[1])
        if self.sync is None and count > 1:
            # PyTorch's kernel with momentum 1 leaves the batch mean and the *unbiased*
            # variance in the buffers it is given; the textbook moves towards the biased one
            batch_mean, batch_var = torch.zeros_like(mean), torch.zeros_like(var)
            y = F.batch_norm(x, batch_mean, batch_var, scale, shift, True, 1.0, a.epsilon)
            batch_var = batch_var * ((count - 1) / count)
        else:
            batch_mean, batch_var = self._global_moments(x)
            shape = (1, -1) + (1,) * (x.dim() - 2)
            y = (x - batch_mean.view(shape)) * torch.rsqrt(batch_var.view(shape) + a.epsilon)
            if a.rescale:
                y = y * scale.view(shape) + shift.view(shape)
        with torch.no_grad():
            mean.add_(a.exp_ratio * (batch_mean.detach() - mean))
            var.add_(a.exp_ratio * (batch_var.detach() - var))
        return y

    def _global_moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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
    def _draw(self, x: torch.Tensor, draw) -> torch.Tensor | None:
        """``draw(rng, shape)`` over the engine's channel-major global shape, as x's rows."""
        src = self.random
        shape = (x.shape[1], src.batch) + tuple(x.shape[2:])
        a = np.moveaxis(draw(src.rng, shape), 0, 1)[src.rows]
        return torch.from_numpy(np.ascontiguousarray(a)).to(device=x.device)

    def _np_dtype(self, x: torch.Tensor):
        return np.float64 if x.dtype == torch.float64 else np.float32

    def _dropout(self, n: Node, xs):
        x, keep = xs[0], n.attrs.keep_prob
        if not self.training or keep >= 1.0:
            return x
        if self.random is None:
            return F.dropout(x, 1.0 - keep, True)
        dt = self._np_dtype(x)
        mask = self._draw(x, lambda rng, shape: (rng.random(shape, dtype=np.float32) < keep)
                          .astype(dt) * dt(1.0 / keep))
        return x * mask

    def _noise(self, n: Node, xs):
        x, a = xs[0], n.attrs
        if not self.training:
            return x
        if self.random is None:
            if float(torch.rand(())) >= a.ratio:
                return x
            return x + (torch.randn_like(x) * a.std + a.mean)
        if self.random.rng.random() >= a.ratio:
            return x
        dt = self._np_dtype(x)

        def gauss(rng, shape):
            g = rng.standard_normal(shape, dtype=np.float32).astype(dt, copy=False)
            g *= a.std
            g += a.mean
            return g

        return x + self._draw(x, gauss)


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
