"""The typed layer tree written back as the DSL: `cnncompile expand` and `convert` use it."""

from __future__ import annotations

import textwrap

import yaml

from . import layers as L
from .options import REQUIRED, SCHEMAS
from .spec import OutputSpec, Spec


def _pair(v: tuple):
    return v[0] if v[0] == v[1] else list(v)


def _options(kind: str, values: dict) -> dict:
    """Only the options that differ from the kind's defaults, in schema order."""
    out = {}
    for key, (parse, default) in SCHEMAS[kind].items():
        if key not in values:
            continue
        v = values[key]
        if default is not REQUIRED and default is not None and parse(default) == v:
            continue
        out[key] = _pair(v) if isinstance(v, tuple) else v
    return out


def _batch_norm_rate(options: dict, momentum: float | None) -> dict:
    """``momentum: m`` in place of ``exp_ratio`` where the spec gave the rate as a momentum."""
    if momentum is None:
        return options
    return {**{k: v for k, v in options.items() if k != "exp_ratio"}, "momentum": momentum}


def layer_to_dsl(layer: L.Layer):
    """One layer expression as plain lists and dicts (macros already expanded)."""
    if isinstance(layer, L.Full):
        o = _options("full", {"width": layer.width, "actfunc": layer.actfunc, "bias": layer.bias})
        return ["full", o]
    if isinstance(layer, L.Conv):
        o = _options("conv", {"ksize": layer.ksize, "chn": layer.chn, "stride": layer.stride,
                              "padding": layer.padding, "actfunc": layer.actfunc,
                              "actions": layer.actions, "bias": layer.bias, "groups": layer.groups,
                              **({"bn": layer.bn} if layer.bn else {})})
        return ["conv", o]
    if isinstance(layer, L.Pool):
        values = {"stride": layer.stride, "ksize": layer.ksize, "padding": layer.padding}
        if layer.op == "avg":
            values["count_pad"] = layer.count_pad
        if layer.ksize == layer.stride:
            del values["ksize"]  # the default: ksize = stride
        o = _options(layer.op, values)
        return [layer.op, o] if o else [layer.op]
    if isinstance(layer, L.Dropout):
        return ["dropout", {"keep_prob": layer.keep_prob}]
    if isinstance(layer, L.Noise):
        return ["noise", _options("noise", {"type": layer.type, "mean": layer.mean,
                                            "std": layer.std, "ratio": layer.ratio})]
    if isinstance(layer, L.BatchNormal):
        o = _batch_norm_rate(_options("batch_normal", {"rescale": layer.rescale,
                                                       "epsilon": layer.epsilon,
                                                       "exp_ratio": layer.exp_ratio}),
                             layer.momentum)
        return ["batch_normal", o] if o else ["batch_normal"]
    if isinstance(layer, L.Act):
        return ["act", {"actfunc": layer.actfunc}]
    if isinstance(layer, L.Serial):
        return ["serial"] + [layer_to_dsl(c) for c in layer.items]
    if isinstance(layer, L.Parallel):
        return ["parallel"] + [layer_to_dsl(c) for c in layer.branches]
    if isinstance(layer, L.Loop):
        return ["loop", {"repeat": layer.repeat}, layer_to_dsl(layer.body)]
    if isinstance(layer, L.Add):
        o = _options("add", {"x": layer.x, "actions": layer.actions, "actfunc": layer.actfunc,
                             **({"bn": layer.bn} if layer.bn else {})})
        return ["add", o] + [layer_to_dsl(c) for c in layer.branches]
    if isinstance(layer, L.Custom):
        return layer_to_dsl(layer.body)
    raise AssertionError(type(layer).__name__)


class _FlowDumper(yaml.SafeDumper):
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
        text += yaml.safe_dump({"description": spec.description}, width=100, sort_keys=False,
                               allow_unicode=True)
    text += f"input: {flow(list(spec.input_shape))}\n"
    text += f"output: {flow(output_to_dsl(spec.output))}\n"
    text += "layers:\n" + textwrap.indent(yaml.dump(items, Dumper=_FlowDumper, width=100), "  ")
    if spec.train:
        text += f"train: {flow(spec.train)}\n"
    return text
