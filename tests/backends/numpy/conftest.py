"""Engine test fixtures: small graphs from inline specs, the naive reference, gradient checks.

The helper modules beside this file are loaded by path under private names (the suite runs
with ``--import-mode=importlib``, and other test folders may have modules of the same name).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from cnncompile.frontend import parse_spec
from cnncompile.ir import lower

HERE = Path(__file__).parent


def load_helper(name: str):
    """Import ``tests/backends/numpy/<name>.py`` once, as ``_engine_tests_<name>``."""
    key = f"_engine_tests_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, HERE / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


def build_graph(layers: str, input: str = "[7, 6, 3]", output: str = "{classes: 3}"):
    """The linted IR graph of an inline spec."""
    text = f"name: t\ninput: {input}\noutput: {output}\nlayers: {layers}\n"
    g = lower(parse_spec(text, "t.yaml"))
    g.lint()
    return g


@pytest.fixture(scope="session")
def ref():
    return load_helper("reference")


@pytest.fixture(scope="session")
def gradcheck():
    return load_helper("gradcheck")


@pytest.fixture(scope="session")
def torch_graph():
    """The torch backend's GraphModule (any IR graph as a PyTorch module)."""
    import torch

    from cnncompile.backends.torch import GraphModule

    torch.set_num_threads(1)  # its thread team stalls badly on a shared, busy machine
    return GraphModule


@pytest.fixture
def graph():
    """graph('[[conv, {ksize: 3, chn: 4}]]', input='[7, 6, 3]') -> linted Graph."""
    return build_graph


_CONV = "[conv, {ksize: 3, chn: 4, actfunc: none}]"  # a trainable layer in front of the op
ACTFUNCS = ("relu", "sigmoid", "tanh", "leaky_relu", "elu", "swish")

# One small model per op and option combination: (layers, input). Shared by the exactness
# tests (engine vs the naive reference) and the gradient checks.
OP_CASES: dict[str, tuple[str, str]] = {
    "conv_same_k3s1": ("[[conv, {ksize: 3, chn: 4}]]", "[7, 6, 3]"),
    "conv_same_k3s2_crop": ("[[conv, {ksize: 3, chn: 4, stride: 2}]]", "[7, 6, 3]"),
    "conv_same_k4s3_offset": ("[[conv, {ksize: 4, chn: 3, stride: 3}]]", "[8, 7, 2]"),
    "conv_same_k2s2": ("[[conv, {ksize: 2, chn: 3, stride: 2}]]", "[7, 6, 2]"),
    "conv_valid_k3s2": ("[[conv, {ksize: 3, chn: 4, stride: 2, padding: VALID}]]", "[8, 7, 3]"),
    "conv_valid_k1s3_inside": ("[[conv, {ksize: 1, chn: 4, stride: 3, padding: VALID}]]",
                               "[8, 7, 3]"),
    "conv_int_pad": ("[[conv, {ksize: 3, chn: 4, stride: 2, padding: 1}]]", "[7, 6, 3]"),
    "conv_asymmetric": ("[[conv, {ksize: [3, 1], chn: 4, stride: [1, 2], padding: [2, 0]}]]",
                        "[6, 7, 2]"),
    "conv_k1x3_same": ("[[conv, {ksize: [1, 3], chn: 3}], [conv, {ksize: [3, 1], chn: 2}]]",
                       "[6, 5, 2]"),
    "conv_k7s2": ("[[conv, {ksize: 7, chn: 3, stride: 2}]]", "[9, 8, 2]"),
    "conv_groups": ("[[conv, {ksize: 1, chn: 6}], [conv, {ksize: 3, chn: 4, groups: 2, stride: 2}]]",
                    "[7, 6, 3]"),
    "conv_groups_same": ("[[conv, {ksize: 1, chn: 4}], [conv, {ksize: 3, chn: 6, groups: 2}]]",
                         "[9, 8, 2]"),
    "conv_k4_even_same": ("[[conv, {ksize: 4, chn: 3}]]", "[7, 6, 2]"),
    "conv_depthwise": ("[[conv, {ksize: 1, chn: 4}], [conv, {ksize: 3, chn: 8, groups: 4}]]",
                       "[6, 5, 2]"),
    "conv_no_bias": ("[[conv, {ksize: 3, chn: 4, bias: false, actfunc: none}]]", "[6, 5, 3]"),
    "conv_LAB": ("[[conv, {ksize: 3, chn: 4, actions: LAB}]]", "[6, 5, 3]"),
    "conv_LBA_strided": ("[[conv, {ksize: 3, chn: 4, stride: 2, actions: LBA}]]", "[7, 6, 3]"),
    "max_k2s2": (f"[{_CONV}, [max, {{stride: 2}}]]", "[7, 6, 3]"),
    "max_k3s2_overlap": (f"[{_CONV}, [max, {{ksize: 3, stride: 2}}]]", "[8, 7, 3]"),
    "max_k3s1": (f"[{_CONV}, [max, {{ksize: 3}}]]", "[5, 6, 3]"),
    "max_valid": (f"[{_CONV}, [max, {{ksize: 3, stride: 2, padding: VALID}}]]", "[8, 7, 3]"),
    "max_int_pad": (f"[{_CONV}, [max, {{ksize: 3, stride: 2, padding: 1}}]]", "[7, 6, 3]"),
    "avg_k3s1_overlap": (f"[{_CONV}, [avg, {{ksize: 3}}]]", "[5, 6, 3]"),
    "avg_k3s2_overlap": (f"[{_CONV}, [avg, {{ksize: 3, stride: 2}}]]", "[8, 7, 3]"),
    "avg_k2s2": (f"[{_CONV}, [avg, {{stride: 2}}]]", "[7, 6, 3]"),
    "avg_int_pad_count": (f"[{_CONV}, [avg, {{ksize: 3, stride: 2, padding: 1}}]]", "[7, 6, 3]"),
    "avg_int_pad_real": (
        f"[{_CONV}, [avg, {{ksize: 3, stride: 2, padding: 1, count_pad: false}}]]", "[7, 6, 3]"),
    "avg_global": (f"[{_CONV}, [avg, {{stride: 6}}]]", "[7, 6, 3]"),
    "dense": ("[[conv, {ksize: 3, chn: 2}], 5, [full, {width: 4, actfunc: tanh, bias: false}]]",
              "[5, 4, 3]"),
    "dense_vector_input": ("[6, [full, {width: 4, actfunc: sigmoid}]]", "[5]"),
    "bn_rescale": (f"[{_CONV}, batch_normal]", "[6, 5, 3]"),
    "bn_plain_eps": (f"[{_CONV}, [batch_normal, {{rescale: false, epsilon: 0.001}}]]",
                     "[6, 5, 3]"),
    "bn_after_dense": ("[8, batch_normal, 4]", "[5, 4, 2]"),
    **{f"act_{f}": (f"[{_CONV}, [act, {{actfunc: {f}}}]]", "[5, 4, 3]") for f in ACTFUNCS},
    "dropout": (f"[{_CONV}, [dropout, {{keep_prob: 0.6}}]]", "[5, 4, 3]"),
    "noise": (f"[{_CONV}, [noise, {{mean: 0.1, std: 0.5}}]]", "[5, 4, 3]"),
    "add_x_tiled": ("[[conv, {ksize: 1, chn: 3}], [add, {x: true}, [serial, "
                    "[conv, {ksize: 3, chn: 6}], [conv, {ksize: 3, chn: 6, actfunc: none}]]]]",
                    "[6, 5, 3]"),
    "add_AB": ("[[conv, {ksize: 1, chn: 4}], [add, {x: false, actions: AB}, "
               "[conv, {ksize: 3, chn: 4}], [serial, [avg, {ksize: 3}], [conv, {ksize: 1, chn: 2}]]]]",
               "[6, 5, 3]"),
    "add_BA_x": ("[[conv, {ksize: 1, chn: 4}], [add, {x: true, actions: BA, actfunc: tanh}, "
                 "[conv, {ksize: 3, chn: 4, actions: LAB}]]]", "[6, 5, 3]"),
    "parallel": ("[[conv, {ksize: 1, chn: 4}], [parallel, [conv, {ksize: 1, chn: 2}], "
                 "[conv, {ksize: 3, chn: 3}], [serial, [max, {ksize: 3}], [conv, {ksize: 1, chn: 5}]]]]",
                 "[6, 5, 3]"),
    "residual_half": ("[[conv, {ksize: 3, chn: 2, actions: LAB}], [add, {x: false}, [serial, "
                      "[conv, {ksize: 3, chn: 4, stride: 2, actions: LAB}], "
                      "[conv, {ksize: 3, chn: 4, actions: LAB}]], [avg, {stride: 2}]]]",
                      "[8, 6, 3]"),
}


def pytest_generate_tests(metafunc):
    if "op_case" in metafunc.fixturenames:
        metafunc.parametrize("op_case", list(OP_CASES.values()), ids=list(OP_CASES))


@pytest.fixture(scope="session")
def op_cases():
    return OP_CASES
