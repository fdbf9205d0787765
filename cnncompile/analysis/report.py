"""Per-node and total figures of an IR graph: parameters, MACs, memory, receptive fields.

Everything is computed from shapes; no weights exist. Memory is float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..ir.graph import Block, Graph, Node
from ..ir.limits import check_representable
from ..ir.ops import OPS

BYTES = 4  # float32


@dataclass(frozen=True)
class ReceptiveField:
    """Input cells one output cell sees (size) and input cells between neighbours (jump)."""

    size: tuple[int, int]
    jump: tuple[int, int]

    def __str__(self) -> str:
        return f"{self.size[0]}x{self.size[1]}/{self.jump[0]}x{self.jump[1]}"


@dataclass(frozen=True)
class NodeReport:
    node: Node
    activation_elements: int  # per sample
    activation_bytes: int  # for the batch
    receptive_field: ReceptiveField | None


@dataclass(frozen=True)
class Totals:
    trainable_params: int
    non_trainable_params: int
    macs: int  # per sample
    param_bytes: int
    activation_bytes: int  # training: every activation kept for backward, for the batch
    inference_peak_bytes: int  # most activation bytes alive at once in a forward pass
    textbook_param_count: int  # conv and dense weights and biases, batch norm left out


@dataclass(frozen=True)
class Analysis:
    graph: Graph
    batch: int
    nodes: list[NodeReport]
    totals: Totals

    def report(self, name: str) -> NodeReport:
        return next(r for r in self.nodes if r.node.name == name)


def receptive_fields(graph: Graph) -> dict[str, ReceptiveField | None]:
    """Receptive field of every spatial node; flat nodes have none.

    Per axis: size' = size + (k - 1) * jump, jump' = jump * stride (windowed ops); several
    inputs take the largest.
    """
    out: dict[str, ReceptiveField | None] = {}
    for n in graph:
        if len(n.shape) != 3:
            out[n.name] = None
            continue
        if n.op == "input":
            out[n.name] = ReceptiveField((1, 1), (1, 1))
            continue
        ins = [out[i] for i in n.inputs if out[i] is not None]
        size = tuple(max(r.size[a] for r in ins) for a in range(2))
        jump = tuple(max(r.jump[a] for r in ins) for a in range(2))
        if OPS[n.op].windowed:
            ws = n.attrs.windows
            size = tuple(size[a] + (ws[a].kernel - 1) * jump[a] for a in range(2))
            jump = tuple(jump[a] * ws[a].stride for a in range(2))
        out[n.name] = ReceptiveField(size, jump)
    return out


def inference_peak(graph: Graph, batch: int) -> int:
    """Peak bytes of activations alive at once, freeing each tensor after its last use."""
    last_use = {}
    order = list(graph.nodes)
    for idx, n in enumerate(graph):
        for i in n.inputs:
            last_use[i] = idx
    last_use[graph.output] = len(order)
    live = peak = 0
    for idx, n in enumerate(graph):
        live += math.prod(n.shape) * batch * BYTES
        peak = max(peak, live)
        for i in set(n.inputs):
            if last_use[i] == idx:
                live -= math.prod(graph[i].shape) * batch * BYTES
    return peak


def analyze_graph(graph: Graph, batch: int = 1) -> Analysis:
    """Figures for every node and in total.

    Raises:
        ShapeError: a tensor with more elements than any backend can index
            (:func:`~cnncompile.ir.limits.check_representable`).
    """
    check_representable(graph, batch)
    rfs = receptive_fields(graph)
    nodes = []
    for n in graph:
        elems = math.prod(n.shape)
        nodes.append(NodeReport(n, elems, elems * batch * BYTES, rfs[n.name]))
    params = graph.params()
    trainable = sum(p.size for p in params if p.trainable)
    textbook = sum(p.size for n in graph if n.op in ("conv", "dense") for p in n.params)
    totals = Totals(
        trainable_params=trainable,
        non_trainable_params=sum(p.size for p in params if not p.trainable),
        macs=sum(n.cost.macs for n in graph),
        param_bytes=sum(p.size for p in params) * BYTES,
        activation_bytes=sum(r.activation_bytes for r in nodes),
        inference_peak_bytes=inference_peak(graph, batch),
        textbook_param_count=textbook,
    )
    return Analysis(graph, batch, nodes, totals)


def block_totals(block: Block, graph: Graph) -> tuple[int, int, int]:
    """(trainable, non-trainable, MACs) of every IR node under ``block``."""
    tr = nt = macs = 0
    for name in block.all_nodes():
        c = graph[name].cost
        tr, nt, macs = tr + c.trainable, nt + c.non_trainable, macs + c.macs
    return tr, nt, macs
