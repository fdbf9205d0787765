"""Runs an IR graph forward (training or inference) and backward with the per-op kernels.

One kernel object per node keeps its index arrays and buffers across steps. What runs is the
graph after the engine's pipeline (:func:`~cnncompile.ir.passes.fuse_activation`: an activation
after a conv becomes the conv's epilogue), except that a conv whose own output is asked for
(``forward_all(keep=...)``) stays unfused for that call. Intermediate outputs are dropped as
soon as their last user has run; a training forward leaves in each kernel what its backward
needs, so ``backward`` follows the latest training ``forward``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ...errors import DataError
from ...ir.graph import Graph
from ...ir.passes import fuse_activation
from .kernel import KERNELS, Kernel, Params, RunContext
from .norm import Moments
from .parallel import default_threads, pool, single_threaded_blas


def to_batch_major(a: np.ndarray) -> np.ndarray:
    """A channel-major engine tensor as the IR's NHWC / [N, F] array (a contiguous copy)."""
    return np.ascontiguousarray(np.moveaxis(a, 0, -1))


@dataclass(frozen=True)
class Plan:
    """A graph the executor runs (the model after its passes) and when each value dies."""

    graph: Graph
    last_user: dict[str, int]  # node -> position of its last reader (-1: none)

    @classmethod
    def of(cls, graph: Graph) -> Plan:
        order = {name: i for i, name in enumerate(graph.nodes)}
        return cls(graph, {name: max((order[u] for u in us), default=-1)
                           for name, us in graph.users().items()})

    def source(self, name: str) -> str:
        """The node that computes the value of model node ``name`` here (itself, or the conv
        an activation was fused into)."""
        return self.graph.aliases.get(name, name)


class Executor:
    """Forward and backward passes of ``graph`` in ``dtype`` (float32; float64 for checks).

    ``threads`` (default: every CPU this process may use) is the size of the work pool that
    big operations are shared out to; BLAS runs single-threaded inside the engine's calls.
    ``fuse_activations=False`` runs the graph as given, every activation a kernel of its own
    (a reference for the fusion pass's tests; the numbers are the same either way).

    >>> import numpy as np
    >>> from cnncompile.frontend import parse_spec
    >>> from cnncompile.ir import lower
    >>> from cnncompile.backends.numpy import init_params
    >>> g = lower(parse_spec("name: t\\ninput: [6, 6, 1]\\noutput: {classes: 3}\\n"
    ...                      "layers: [[conv, {ksize: 3, chn: 2}], [max, {stride: 2}]]"))
    >>> ex = Executor(g)
    >>> ex.forward(init_params(g), np.ones((4, 6, 6, 1), np.float32)).shape
    (4, 3)
    """

    def __init__(self, graph: Graph, dtype=np.float32, threads: int | None = None,
                 fuse_activations: bool = True):
        self.graph = graph
        self.dtype = np.dtype(dtype)
        self.pool = pool(threads or default_threads())
        self.kernels: dict[str, Kernel] = {}
        for n in graph:
            in_shapes = [graph[i].shape for i in n.inputs]
            self.kernels[n.name] = KERNELS.lookup(n.op)(n, in_shapes, self.dtype)
            self.kernels[n.name].pool = self.pool
        self.requires_grad: dict[str, bool] = {}
        for n in graph:
            self.requires_grad[n.name] = any(p.trainable for p in n.params) or any(
                self.requires_grad[i] for i in n.inputs)
        fused = Plan.of(fuse_activation(graph).graph if fuse_activations else graph)
        # convs the pipeline gave an activation: asking for one's output unfuses it
        self._fused = frozenset(n.name for n in fused.graph if n.op == "conv"
                                and n.attrs.activation != graph[n.name].attrs.activation)
        self._plans: dict[frozenset[str], Plan] = {frozenset(): fused}
        self._ran: Plan = fused
        self._node_params: dict[str, Params] | None = None
        self._backward_ready = False

    def plan(self, keep: Iterable[str] = ()) -> Plan:
        """What runs when the values of the model nodes ``keep`` are asked for (cached)."""
        unfused = self._fused.intersection(keep)
        if unfused not in self._plans:
            self._plans[unfused] = Plan.of(fuse_activation(self.graph, keep=unfused).graph)
        return self._plans[unfused]

    # -- forward ------------------------------------------------------------------------------
    def _check_input(self, x: np.ndarray) -> np.ndarray:
        """The NHWC (or [N, F]) batch as a channel-major array of the executor's dtype."""
        x = np.asarray(x)
        want = tuple(self.graph.input_shape)
        if x.ndim != len(want) + 1 or tuple(x.shape[1:]) != want:
            raise DataError(f"input batch has shape {list(x.shape)}; model "
                            f"{self.graph.name!r} expects [N, {', '.join(map(str, want))}]")
        return np.ascontiguousarray(np.moveaxis(x, -1, 0), dtype=self.dtype)

    def _split_params(self, params: dict[str, np.ndarray]) -> dict[str, Params]:
        """Per-node dicts by short name; trainable ones cast to the executor's dtype.

        Running statistics are passed as the caller's own arrays so that training updates
        them in place.
        """
        out: dict[str, Params] = {}
        for n in self.graph:
            d: Params = {}
            for p in n.params:
                a = params.get(p.name)
                if a is None:
                    raise DataError(f"parameter `{p.name}` is missing")
                if np.shape(a) != p.shape:
                    raise DataError(f"parameter `{p.name}` has shape {list(np.shape(a))}, "
                                    f"expected {list(p.shape)}")
                short = p.name[len(n.name) + 1:]
                d[short] = a.astype(self.dtype, copy=False) if p.trainable else a
            out[n.name] = d
        return out

    def forward(self, params: dict[str, np.ndarray], x: np.ndarray, training: bool = False,
                rng: np.random.Generator | None = None) -> np.ndarray:
        """The output logits [N, width] for an NHWC batch ``x``.

        With ``training`` the batch-norm nodes use batch statistics (and move the running
        statistics in ``params`` in place), dropout and noise are active (drawn from ``rng``),
        and every kernel keeps what ``backward`` needs.
        """
        return to_batch_major(self._run(params, x, training, rng, keep=())[self.graph.output])

    def forward_all(self, params: dict[str, np.ndarray], x: np.ndarray, training: bool = False,
                    rng: np.random.Generator | None = None,
                    keep: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """Every node's output (or only those named in ``keep``), e.g. for parity checks."""
        names = list(self.graph.nodes) if keep is None else list(keep)
        outs = self._run(params, x, training, rng, keep=names)
        return {k: to_batch_major(outs[k]) for k in names}

    def batch_norm_statistics(self, params: dict[str, np.ndarray], x: np.ndarray
                              ) -> dict[str, Moments]:
        """Exact mean and biased variance of every batch-norm node's input over the batch ``x``.

        One inference pass in which every batch-norm node normalises by the statistics of its
        own input over the whole batch, i.e. by exactly what this function returns for it. So
        each node's input is what it receives at inference once the returned statistics are
        its running statistics: the result is that model's population statistics on ``x``.
        The pass stops after the last batch-norm node.
        """
        nodes = [n.name for n in self.graph if n.op == "batch_norm"]
        if not nodes:
            return {}
        order = {name: i for i, name in enumerate(self.plan().graph.nodes)}
        found = {n: Moments(self.graph[n].shape[-1]) for n in nodes}
        try:
            for n, m in found.items():
                self.kernels[n].moments = m
                self.kernels[n].own_statistics = True
            self._run(params, x, False, None, keep=(), until=max(order[n] for n in nodes))
        finally:
            for n in nodes:
                self.kernels[n].moments = None
                self.kernels[n].own_statistics = False
        return found

    def _run(self, params, x, training, rng, keep, until: int | None = None
             ) -> dict[str, np.ndarray]:
        """Run the plan for ``keep``; returns the values of ``keep`` and the output by model
        node name."""
        x = self._check_input(x)
        node_params = self._split_params(params)
        ctx = RunContext(training, rng if rng is not None else np.random.default_rng())
        keep = set(keep) | {self.graph.output}
        plan = self.plan(keep)
        kept = {plan.source(k) for k in keep}
        for n in plan.graph:
            if n.op == "conv":
                self.kernels[n.name].epilogue = n.attrs.activation
        self._backward_ready = False
        values: dict[str, np.ndarray] = {}
        with single_threaded_blas():
            for idx, n in enumerate(plan.graph):
                xs = [x] if n.op == "input" else [values[i] for i in n.inputs]
                values[n.name] = self.kernels[n.name].forward(xs, node_params[n.name], ctx)
                for i in n.inputs:
                    if plan.last_user[i] == idx and i not in kept:
                        values.pop(i, None)
                if idx == until:
                    break
        self._node_params = node_params
        self._ran = plan
        self._backward_ready = training
        return {k: values[plan.source(k)] for k in keep if plan.source(k) in values}

    # -- backward -----------------------------------------------------------------------------
    def backward(self, dlogits: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of every trainable parameter, by IR name, given d loss / d logits."""
        if not self._backward_ready:
            raise RuntimeError("backward needs a preceding forward(..., training=True)")
        width = self.graph.output_shape[0]
        if np.ndim(dlogits) != 2 or np.shape(dlogits)[1] != width:
            raise ValueError(f"dlogits must be [N, {width}], got {list(np.shape(dlogits))}")
        pending: dict[str, np.ndarray] = {self._ran.source(self.graph.output):
                                          np.ascontiguousarray(np.asarray(dlogits,
                                                                          dtype=self.dtype).T)}
        with single_threaded_blas():
            grads = self._backward(pending)
        for p in self.graph.params():
            if p.trainable and p.name not in grads:
                grads[p.name] = np.zeros(p.shape, self.dtype)
        return {p.name: grads[p.name] for p in self.graph.params() if p.trainable}

    def _backward(self, pending: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        owned: set[str] = set()
        grads: dict[str, np.ndarray] = {}
        for n in reversed(list(self._ran.graph)):
            dy = pending.pop(n.name, None)
            if dy is None or not self.requires_grad[n.name] or n.op == "input":
                continue
            need = [self.requires_grad[i] for i in n.inputs]
            dxs, pgrads = self.kernels[n.name].backward(dy, self._node_params[n.name], need)
            for short, g in pgrads.items():
                grads[f"{n.name}.{short}"] = g
            for i, dx in zip(n.inputs, dxs, strict=True):
                if dx is None:
                    continue
                if i not in pending:
                    pending[i] = dx
                elif i in owned:
                    pending[i] += dx
                else:
                    pending[i] = pending[i] + dx
                    owned.add(i)
        return grads
