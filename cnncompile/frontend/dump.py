"""The typed layer tree written back as the DSL: `cnncompile expand` and `convert` use it."""

from __future__ import annotations

import textwrap

import yaml

from ..values import use_core_schema
from . import layers as L
from .kinds import to_dsl
from .spec import OutputSpec, Spec


def layer_to_dsl(layer: L.Layer):
    """One layer expression as plain lists and dicts (macros already expanded)."""
    return to_dsl(layer)


@use_core_schema  # so that strings YAML 1.2 reads as numbers (`1e5`) are quoted
class _FlowDumper(yaml.SafeDumper):
    pass


@use_core_schema
class _BlockDumper(yaml.SafeDumper):
    pass


def _represent_list(dumper, data):
    # layer expressions print one per line, their contents in flow style
    flow = not any(isinstance(x, list) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_FlowDumper.add_representer(list, _represent_list)
_FlowDumper.add_representer(
    dict, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True))


def output_to_dsl(output: OutputSpec) -> dict:
    """The `output:` mapping that reads back as ``output``."""
    out = _output_kind(output)
    if not output.bias:
        out["bias"] = False
    return out


def _output_kind(output: OutputSpec) -> dict:
    if output.kind == "binary":
        return {"binary": True}
    if output.kind == "regression":
        return {"regression": output.width}
    if len(output.heads) > 1:
        return {"heads": {h.name: h.size for h in output.heads}}
    head = output.heads[0]
    return {"labels": list(head.labels)} if head.labels else {"classes": head.size}


def expanded_yaml(spec: Spec) -> str:
    """A standalone spec: the same model with every macro expanded (no macros, no includes)."""
    items = [layer_to_dsl(c) for c in spec.layers.items]
    def flow(value) -> str:
        text = yaml.dump(value, Dumper=_FlowDumper, width=100, default_flow_style=True)
        return text.removesuffix("...\n").strip()  # a bare scalar gets a document-end marker

    text = f"name: {flow(spec.name)}\n"
    if spec.description:
        text += yaml.dump({"description": spec.description}, Dumper=_BlockDumper, width=100,
                          sort_keys=False, allow_unicode=True)
    text += f"input: {flow(list(spec.input_shape))}\n"
    text += f"output: {flow(output_to_dsl(spec.output))}\n"
    text += "layers:\n" + textwrap.indent(yaml.dump(items, Dumper=_FlowDumper, width=100), "  ")
    if spec.train:
        text += f"train: {flow(spec.train)}\n"
    return text
