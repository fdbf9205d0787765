"""Graph assembly state shared by the emitters: values, initializers, nodes and unique names.

Inside the exported graph every spatial tensor is NCHW (ONNX's Conv and pooling need it); flat
tensors are [N, F]. :class:`Value` records which, and for a flat tensor made by flattening NCHW
directly, the order its features come in, so that the dense layer after it reads the IR's
H, W, C-ordered weight rows in that order instead of paying for a Transpose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NCHW = "nchw"
FLAT = "flat"


@dataclass(frozen=True)
class Value:
    """An ONNX value standing for an IR node's output.

    ``order`` (flat values only): feature ``i`` of this value is IR feature ``order[i]``;
    None means the IR's own order.
    """

    name: str
    layout: str
    order: np.ndarray | None = None


class EmitContext:
    """What emitters read (the IR graph, parameters, values so far) and append to (nodes).

    ``graph`` and ``params`` are what is emitted: the model after the export's passes.
    ``model_graph`` and ``model_params`` are the model as given (by default the same), which
    the checks compare the exported model with.
    """

    def __init__(self, graph, params: dict[str, np.ndarray], layout: str, input_name: str,
                 model_graph=None, model_params: dict[str, np.ndarray] | None = None):
        self.graph = graph
        self.params = params
        self.model_graph = graph if model_graph is None else model_graph
        self.model_params = params if model_params is None else model_params
        self.layout = layout  # of the graph input: 'nhwc' or 'nchw'
        self.input_name = input_name
        self.nodes: list = []
        self.initializers: list = []
        self.values: dict[str, Value] = {}  # IR node name -> its ONNX value
        self._names: set[str] = set()
        self._value_names: dict[str, str] = {}  # IR node name -> reserved ONNX value name

    # -- names -------------------------------------------------------------------------------
    def reserve(self, name: str) -> str:
        """A value name not used yet: ``name``, else ``name_1``, ``name_2``, ..."""
        base, k = name, 1
        while name in self._names:
            name, k = f"{base}_{k}", k + 1
        self._names.add(name)
        return name

    def name_output(self, ir_name: str, value_name: str) -> None:
        """Give the value of IR node ``ir_name`` a fixed name (graph outputs)."""
        self._value_names[ir_name] = self.reserve(value_name)

    def value_name(self, ir_name: str) -> str:
        """The ONNX value name for an IR node's output (its IR name unless fixed earlier)."""
        if ir_name not in self._value_names:
            self._value_names[ir_name] = self.reserve(ir_name)
        return self._value_names[ir_name]

    # -- building ------------------------------------------------------------------------------
    def value(self, ir_name: str) -> Value:
        """The ONNX value an emitted IR node left."""
        return self.values[ir_name]

    def set_value(self, ir_name: str, value: Value) -> None:
        """Record the ONNX value that stands for IR node ``ir_name`` (an alias when it vanishes)."""
        self.values[ir_name] = value

    def param(self, name: str) -> np.ndarray:
        """A parameter by IR name, as float32."""
        return np.asarray(self.params[name], dtype=np.float32)

    def bn_params(self, node) -> tuple[np.ndarray, ...]:
        """scale, shift, mean, var of a batch norm (scale 1 and shift 0 without rescale)."""
        mean, var = self.param(f"{node.name}.mean"), self.param(f"{node.name}.var")
        if node.attrs.rescale:
            return self.param(f"{node.name}.scale"), self.param(f"{node.name}.shift"), mean, var
        return np.ones_like(mean), np.zeros_like(mean), mean, var

    def initializer(self, name: str, array: np.ndarray) -> str:
        """Add a constant tensor; returns its (unique) name."""
        from onnx import numpy_helper

        name = self.reserve(name)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def int64s(self, name: str, values) -> str:
        """An int64 vector constant (Slice bounds, Split sizes, Tile repeats)."""
        return self.initializer(name, np.asarray(list(values), dtype=np.int64))

    def add(self, op_type: str, inputs: list[str], output: str, name: str, **attrs) -> str:
        """Append one ONNX node with a single output; returns the output name."""
        from onnx import helper

        self.nodes.append(helper.make_node(op_type, inputs, [output], name=name, **attrs))
        return output
