"""Text renderings of an :class:`Analysis`: table, tree, JSON and the textbook's dump.

Each function returns a string; only the CLI prints. JSON_SCHEMA names the JSON layout, which is
documented in docs/analysis-json.md and only ever grows.
"""

from __future__ import annotations

import json

from ..ir.graph import Block
from .report import Analysis, NodeReport, block_totals

JSON_SCHEMA = "cnncompile.analysis/1"


def human(n: float) -> str:
    """3 significant figures with k/M/G suffixes: 2368 -> '2.37k'."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(int(n)) if float(n).is_integer() else f"{n:.3g}"


def human_bytes(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"


def shape_str(shape) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _grid(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    rule = "-" * len(line(["-" * w for w in widths]))
    return [line(headers), rule] + [line(r) for r in rows] + [rule]


def totals_lines(a: Analysis) -> list[str]:
    t = a.totals
    return [
        f"Trainable params:     {t.trainable_params:,}",
        f"Non-trainable params: {t.non_trainable_params:,}",
        f"MACs per sample:      {t.macs:,} ({human(t.macs)})",
        f"Parameter memory:     {human_bytes(t.param_bytes)}",
        f"Activations (batch {a.batch}): inference peak {human_bytes(t.inference_peak_bytes)}, "
        f"training {human_bytes(t.activation_bytes)}",
    ]


def group_by_prefix(a: Analysis, depth: int) -> list[tuple[str, list[NodeReport]]]:
    """Node reports grouped by their first ``depth`` name segments, in graph order."""
    groups: dict[str, list[NodeReport]] = {}
    for r in a.nodes:
        groups.setdefault("/".join(r.node.name.split("/")[:depth]), []).append(r)
    return list(groups.items())


def render_table(a: Analysis, depth: int | None = None) -> str:
    """One row per IR node, or per name prefix of ``depth`` segments."""
    headers = ["Layer", "Op", "Output shape", "Params", "Non-train", "MACs", "Activations", "RF"]
    rows = []
    if depth is None:
        for r in a.nodes:
            n = r.node
            rows.append([n.name, n.op, shape_str(n.shape), f"{n.cost.trainable:,}",
                         f"{n.cost.non_trainable:,}", f"{n.cost.macs:,}",
                         human_bytes(r.activation_bytes), str(r.receptive_field or "-")])
    else:
        for key, rs in group_by_prefix(a, depth):
            last = rs[-1]
            ops = sorted({r.node.op for r in rs})
            rows.append([key, ops[0] if len(ops) == 1 else f"{len(rs)} nodes",
                         shape_str(last.node.shape),
                         f"{sum(r.node.cost.trainable for r in rs):,}",
                         f"{sum(r.node.cost.non_trainable for r in rs):,}",
                         f"{sum(r.node.cost.macs for r in rs):,}",
                         human_bytes(sum(r.activation_bytes for r in rs)),
                         str(last.receptive_field or "-")])
    title = f"Model: {a.graph.name}   input {shape_str(a.graph.input_shape)}   batch {a.batch}"
    lines = [title] + _grid(headers, rows, right={3, 4, 5, 6}) + totals_lines(a)
    return "\n".join(lines) + "\n"


def render_tree(a: Analysis, depth: int | None = None) -> str:
    """The spec's own nesting with parameter and MAC subtotals per block."""
    rows: list[list[str]] = []

    def walk(block: Block, prefix: str, level: int):
        for i, child in enumerate(block.children):
            last = i == len(block.children) - 1
            branch = "└─ " if last else "├─ "
            tr, nt, macs = block_totals(child, a.graph)
            params = f"{tr:,}" + (f" (+{nt:,})" if nt else "")
            rows.append([prefix + branch + child.label, shape_str(child.out_shape), params, human(macs)])
            if not child.is_leaf and (depth is None or level + 1 < depth):
                walk(child, prefix + ("   " if last else "│  "), level + 1)

    walk(a.graph.block, "", 0)
    header = f"{a.graph.name} {shape_str(a.graph.input_shape)}"
    lines = [header] + _grid(["Block", "Output shape", "Params (+non-train)", "MACs"], rows, {2, 3})
    return "\n".join(lines + totals_lines(a)) + "\n"


def _textbook_shape(shape, as_input: bool) -> str:
    return repr(tuple(shape)) if as_input else repr(list(shape))


def render_textbook(a: Analysis) -> str:
    """The textbook's structure dump, line for line (spec-format section 6)."""
    lines: list[str] = []
    counter = [0]

    def pm(block: Block, node_names: list[str]) -> str:
        """The first node's weights as the textbook prints them: 'pm:3x3x1x4+4=40'."""
        for name in node_names:
            n = a.graph[name]
            weights = n.param_with_role("kernel") or n.param_with_role("weight")
            if weights is not None:
                bias = n.param_with_role("bias")
                extra = f"+{bias.shape[0]}" if bias is not None else ""
                return f" pm:{'x'.join(map(str, weights.shape))}{extra}={n.cost.trainable}"
        return ""

    def walk(block: Block, level: int):
        pad = "  " * level
        if block.is_leaf:
            counter[0] += 1
            kind = "full" if block.kind == "output" else block.kind
            lines.append(f"{pad}{counter[0]}: {kind}, "
                         f"{_textbook_shape(block.in_shape, block.from_input)}=>"
                         f"{_textbook_shape(block.out_shape, False)}{pm(block, block.nodes)}")
            return
        lines.append(pad + block.label)
        for c in block.children:
            walk(c, level + 1)

    for child in a.graph.block.children:
        walk(child, 0)
    lines.append(f"Total parameter count: {a.totals.textbook_param_count}")
    return "\n".join(lines) + "\n"


def analysis_dict(a: Analysis) -> dict:
    """The JSON document (schema ``cnncompile.analysis/1``)."""
    g, t = a.graph, a.totals
    return {
        "schema": JSON_SCHEMA,
        "name": g.name,
        "input_shape": list(g.input_shape),
        "batch": a.batch,
        "output": {
            "kind": g.heads.kind,
            "heads": [{"name": h.name, "size": h.size,
                       "labels": list(h.labels) if h.labels else None} for h in g.heads.heads],
        },
        "totals": {
            "trainable_params": t.trainable_params,
            "non_trainable_params": t.non_trainable_params,
            "macs": t.macs,
            "param_bytes": t.param_bytes,
            "activation_bytes": t.activation_bytes,
            "inference_peak_bytes": t.inference_peak_bytes,
            "textbook_param_count": t.textbook_param_count,
        },
        "layers": [
            {
                "name": r.node.name,
                "op": r.node.op,
                "inputs": list(r.node.inputs),
                "output_shape": list(r.node.shape),
                "macs": r.node.cost.macs,
                "trainable_params": r.node.cost.trainable,
                "non_trainable_params": r.node.cost.non_trainable,
                "activation_elements": r.activation_elements,
                "activation_bytes": r.activation_bytes,
                "receptive_field": None if r.receptive_field is None else {
                    "size": list(r.receptive_field.size), "jump": list(r.receptive_field.jump)},
                "params": [{"name": p.name, "shape": list(p.shape), "trainable": p.trainable}
                           for p in r.node.params],
            }
            for r in a.nodes
        ],
    }


def render_json(a: Analysis) -> str:
    return json.dumps(analysis_dict(a), indent=2) + "\n"


__all__ = ["render_table", "render_tree", "render_textbook", "render_json", "analysis_dict",
           "human", "human_bytes"]
