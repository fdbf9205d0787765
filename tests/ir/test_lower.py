"""Lowering: node names, op sequences, shapes, and located shape errors."""

import pytest

from cnncompile.errors import ShapeError


def ops(g):
    return [(n.name, n.op, n.shape) for n in g]


def test_conv_actions_and_names(make_graph):
    g = make_graph("[[conv, {ksize: 3, chn: 4, actions: LAB}], [conv, {ksize: 3, chn: 4, actions: LBA, actfunc: tanh}], 5]")
    assert ops(g) == [
        ("input", "input", (8, 8, 3)),
        ("conv_0", "conv", (8, 8, 4)),
        ("conv_0/relu", "act", (8, 8, 4)),
        ("conv_0/bn", "batch_norm", (8, 8, 4)),
        ("conv_1", "conv", (8, 8, 4)),
        ("conv_1/bn", "batch_norm", (8, 8, 4)),
        ("conv_1/tanh", "act", (8, 8, 4)),
        ("full/flatten", "flatten", (256,)),
        ("full", "dense", (5,)),
        ("full/relu", "act", (5,)),
        ("output", "dense", (2,)),
    ]
    bn = g["conv_0/bn"]
    assert [p.name for p in bn.params] == ["conv_0/bn.mean", "conv_0/bn.var"]  # B: no rescale
    assert g.output == "output"


def test_actfunc_none_adds_no_node(make_graph):
    g = make_graph("[[conv, {ksize: 3, chn: 4, actfunc: none}]]")
    assert [n.op for n in g] == ["input", "conv", "flatten", "dense"]


def test_add_tiles_channels_as_blocks(make_graph):
    # input has 3 channels; the branch gives 6 -> the input is tiled twice
    g = make_graph("[[add, {x: true, actions: AB}, [conv, {ksize: 3, chn: 6}]]]")
    assert ops(g)[1:6] == [
        ("add/conv", "conv", (8, 8, 6)),
        ("add/conv/relu", "act", (8, 8, 6)),
        ("add/tile_1", "tile", (8, 8, 6)),
        ("add", "add", (8, 8, 6)),
        ("add/relu", "act", (8, 8, 6)),
    ]
    assert g["add/tile_1"].attrs.reps == 2
    assert g["add/bn"].op == "batch_norm" and len(g["add/bn"].params) == 4  # B with rescale


def test_parallel_concatenates_in_child_order(make_graph):
    g = make_graph("[[parallel, [conv, {ksize: 1, chn: 2}], [conv, {ksize: 3, chn: 5}], [max, {stride: 1, ksize: 3}]]]")
    cat = g["parallel"]
    assert cat.op == "concat" and cat.shape == (8, 8, 10)
    assert cat.inputs == ["parallel/conv_0/relu", "parallel/conv_1/relu", "parallel/max"]


def test_loop_copies_have_their_own_parameters(make_graph):
    g = make_graph("[[loop, {repeat: 3}, [conv, {ksize: 3, chn: 3}]]]")
    assert [n.name for n in g if n.op == "conv"] == ["loop/conv_0", "loop/conv_1", "loop/conv_2"]
    assert len({p.name for p in g.params()}) == len(g.params()) == 3 * 2 + 2


def test_textbook_hierarchical_names(make_spec):
    import pathlib

    from cnncompile.frontend import load_spec
    from cnncompile.ir import lower

    root = pathlib.Path(__file__).resolve().parents[2]
    g = lower(load_spec(root / "specs/ch9/residual_flower.yaml"))
    names = list(g.nodes)
    assert "residual_flower/rhalf_1/rh/add/serial/conv_0" in names
    assert "residual_flower/rfull/loop/rf_1/add/serial/conv_1/bn" in names
    assert g["residual_flower/rhalf_1/rh/add/avg"].shape == (4, 4, 32)
    assert g["residual_flower/rhalf_1/rh/add/tile_1"].shape == (4, 4, 64)


@pytest.mark.parametrize("layers,input,message", [
    ("[[parallel, [conv, {ksize: 3, chn: 2}], [conv, {ksize: 3, chn: 2, stride: 2}]]]", "[8, 8, 3]",
     r"t.yaml:4: layers\[0\] > parallel: parallel branches must keep the same H and W. Received: \[8, 8, 2\], \[4, 4, 2\]"),
    ("[[add, [conv, {ksize: 3, chn: 4}]]]", "[8, 8, 3]",
     r"layers\[0\] > add: the input of add has shape \[8, 8, 3\], which cannot be added to the first branch's \[8, 8, 4\]"),
    ("[[add, {x: false}, [conv, {ksize: 3, chn: 4}], [conv, {ksize: 3, chn: 4, stride: 2}]]]", "[8, 8, 3]",
     r"branch 1 of add has shape \[4, 4, 4\]"),
    ("[[conv, {ksize: 5, chn: 4, padding: VALID}]]", "[4, 4, 8]",
     r"layers\[0\] > conv: the H axis would have no output cells: window 5 with stride 1 and padding 'VALID' on 4 cells. Received: input=\[4, 4, 8\], ksize=\[5, 5\], stride=\[1, 1\]"),
    ("[[max, {stride: 2}], [max, {stride: 2}], [max, {stride: 2}]]", "[4, 4, 1]",
     r"layers\[2\] > max: the H axis would have no output cells"),
    ("[10, [conv, {ksize: 3, chn: 2}]]", "[8, 8, 3]",
     r"layers\[1\] > conv: needs an \[H, W, C\] input. Received: input=\[10\]"),
    ("[[conv, {ksize: 3, chn: 4, groups: 2}]]", "[8, 8, 3]",
     r"`groups` must divide the input and output channels. Received: groups=2, input channels=3, chn=4"),
    ("[[max, {ksize: 3, stride: 1, padding: 2}]]", "[8, 8, 3]",
     r"pooling padding must be at most half the window"),
])
def test_shape_errors_name_the_layer_and_shapes(make_graph, layers, input, message):
    with pytest.raises(ShapeError, match=message):
        make_graph(layers, input=input)


def test_printout(make_graph):
    g = make_graph("[[conv, {ksize: 3, chn: 4, stride: 2}], [avg, {stride: 2}]]", input="[8, 8, 1]")
    assert str(g) == (
        "graph(input: f32[N,8,8,1]):\n"
        "    %conv : f32[N,4,4,4] = conv[kernel=3x3, strides=2x2, pads=((1,0),(1,0)), cout=4, groups=1, bias=True](%input)  # macs=576\n"
        "    %conv/relu : f32[N,4,4,4] = act[func=relu](%conv)\n"
        "    %avg : f32[N,2,2,4] = avg_pool[kernel=2x2, strides=2x2, pads=((0,0),(0,0)), count_pad=False](%conv/relu)\n"
        "    %output/flatten : f32[N,16] = flatten[](%avg)\n"
        "    %output : f32[N,2] = dense[units=2, bias=True](%output/flatten)  # macs=32\n"
        "    return %output"
    )


def test_lint_catches_broken_graphs(make_graph):
    g = make_graph("[[conv, {ksize: 3, chn: 4}]]")
    g["conv"].shape = (8, 8, 5)
    with pytest.raises(ValueError, match="records a shape its op does not give"):
        g.lint()
    g = make_graph("[[conv, {ksize: 3, chn: 4}]]")
    g["conv"].inputs = ["output"]
    with pytest.raises(ValueError, match="uses 'output' before it is defined"):
        g.lint()


def test_analysis_allocates_no_weights(make_graph):
    # parameters are shapes only: a 10-billion-weight dense layer analyses instantly
    g = make_graph("[[full, {width: 100000}]]", input="[100000]")
    assert g["full"].params[0].size == 10**10
