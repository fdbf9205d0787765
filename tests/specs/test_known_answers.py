"""Known answers (spec-format sections 3 and 9) and the classic example specs.

The figures are the published or hand-derived ones, written out here as literals or as the
short formula they come from; the window examples are checked on the IR's AxisWindow both
directly and in lowered graphs.
"""

from __future__ import annotations

import pytest

from cnncompile.frontend import parse_spec
from cnncompile.ir import axis_window, lower


def lowered(layers: str, input: str):
    g = lower(parse_spec(f"name: t\ninput: {input}\noutput: {{classes: 2}}\nlayers: {layers}\n"))
    g.lint()
    return g


def spatial_shapes(a) -> list[tuple[int, ...]]:
    return [r.node.shape for r in a.nodes if r.node.op in ("conv", "max_pool", "avg_pool")]


# -- section 3: windows -------------------------------------------------------------------------


def test_same_k7_s2_on_224_starts_windows_at_2j_minus_3():
    w = axis_window(224, 7, 2, "SAME")
    assert w.out == 112
    assert [w.start(j) for j in range(112)] == [2 * j - 3 for j in range(112)]
    # PyTorch's padding 3 gives the same windows
    assert axis_window(224, 7, 2, 3) == w
    conv = next(n for n in lowered("[[conv, {ksize: 7, chn: 4, stride: 2}]]", "[224, 224, 3]")
                if n.op == "conv")
    assert conv.shape == (112, 112, 4)
    assert conv.attrs.windows == (w, w)


def test_max_stride_2_on_96_uses_2x2_windows_at_2j():
    w = axis_window(96, 2, 2, "SAME")
    assert (w.out, w.kernel, w.pad_lo, w.pad_hi) == (48, 2, 0, 0)
    assert [w.start(j) for j in range(48)] == [2 * j for j in range(48)]
    pool = next(n for n in lowered("[[max, {stride: 2}]]", "[96, 96, 3]") if n.op == "max_pool")
    assert pool.shape == (48, 48, 3)
    assert pool.attrs.windows == (w, w)


def test_avg_stride_4_on_6_gives_one_cell():
    pool = next(n for n in lowered("[[avg, {stride: 4}]]", "[6, 6, 2]") if n.op == "avg_pool")
    assert pool.shape == (1, 1, 2)
    h = pool.attrs.windows[0]
    assert (h.out, h.kernel, h.start(0)) == (1, 4, 0)  # reads cells 0..3 of 6


def test_valid_k3_s2_on_299_gives_148_not_149():
    w = axis_window(299, 3, 2, "VALID")
    assert w.out == 148  # floor((299 - 3 + 1) / 2); TensorFlow's VALID gives 149
    assert [w.start(j) for j in range(148)] == [2 * j for j in range(148)]
    conv = next(n for n in lowered("[[conv, {ksize: 3, chn: 2, stride: 2, padding: VALID}]]",
                                   "[299, 299, 3]") if n.op == "conv")
    assert conv.shape == (148, 148, 2)


def test_window_invariant_holds_for_the_examples():
    for args in ((224, 7, 2, "SAME"), (96, 2, 2, "SAME"), (6, 4, 4, "SAME"), (299, 3, 2, "VALID")):
        w = axis_window(*args)
        assert w.size + w.pad_lo + w.pad_hi == (w.out - 1) * w.stride + w.kernel


# -- section 9: the worked example --------------------------------------------------------------

WORKED_SHAPES = [(36, 28, 20), (18, 14, 20), (16, 12, 40), (8, 6, 40), (6, 4, 60), (3, 2, 60),
                 (2, 1, 80)]


def test_worked_example_with_biases(analysed):
    a = analysed("classic/worked_example.yaml")
    assert spatial_shapes(a) == WORKED_SHAPES
    assert a.graph["output/flatten"].shape == (160,)
    weights = 4 * 4 * 1 * 20 + 3 * 3 * 20 * 40 + 3 * 3 * 40 * 60 + 2 * 2 * 60 * 80 + 160 * 100
    assert weights == 64_320
    assert a.totals.trainable_params == weights + 20 + 40 + 60 + 80 + 100 == 64_620
    assert a.totals.textbook_param_count == 64_620


def test_worked_example_without_biases(analysed):
    a = analysed("classic/worked_example_nobias.yaml")
    assert spatial_shapes(a) == WORKED_SHAPES
    assert not any(p.name.endswith(".bias") for p in a.graph.params())
    assert a.totals.trainable_params == 64_320 == a.totals.textbook_param_count


# -- section 9: Inception modules ---------------------------------------------------------------


def test_naive_inception_module(analysed, conv_only_macs):
    a = analysed("classic/inception_naive.yaml")
    concat = next(r.node for r in a.nodes if r.node.op == "concat")
    assert concat.shape == (28, 28, 128 + 192 + 96 + 256) == (28, 28, 672)
    expected = 28 * 28 * (256 * 128 + 9 * 256 * 192 + 25 * 256 * 96)
    assert conv_only_macs(a) == expected == 854_196_224


def test_inception_module_with_reductions(analysed, conv_only_macs):
    a = analysed("classic/inception_reduced.yaml")
    concat = next(r.node for r in a.nodes if r.node.op == "concat")
    assert concat.shape == (28, 28, 480)
    expected = 28 * 28 * (256 * 128 + 256 * 64 + 9 * 64 * 192 + 256 * 64 + 25 * 64 * 96
                          + 256 * 64)
    assert conv_only_macs(a) == expected == 271_351_808


# -- section 9: published networks --------------------------------------------------------------


def test_resnet50_known_answers(analysed):
    t = analysed("torchvision/resnet50.yaml").totals
    assert t.trainable_params == 25_557_032
    assert t.non_trainable_params == 53_120
    assert t.macs == 4_089_184_256


def test_vgg16_known_answer(analysed):
    assert analysed("torchvision/vgg16.yaml").totals.trainable_params == 138_357_544


def test_alexnet(analysed):
    a = analysed("classic/alexnet.yaml")
    assert [s[:2] for s in spatial_shapes(a)] == [(55, 55), (27, 27), (27, 27), (13, 13),
                                                  (13, 13), (13, 13), (13, 13), (6, 6)]
    convs = [(11, 3, 96, 55), (5, 96, 256, 27), (3, 256, 384, 13), (3, 384, 384, 13),
             (3, 384, 256, 13)]
    fulls = [(6 * 6 * 256, 4096), (4096, 4096), (4096, 1000)]
    params = sum(k * k * ci * co + co for k, ci, co, _ in convs) + sum(i * o + o for i, o in fulls)
    macs = sum(hw * hw * co * k * k * ci for k, ci, co, hw in convs) + sum(i * o for i, o in fulls)
    assert params == 62_378_344  # the usual "62.3 million"
    assert (a.totals.trainable_params, a.totals.macs) == (params, macs)


def test_mnist_challenge_cnn(analysed):
    a = analysed("classic/mnist_challenge_cnn.yaml")
    assert [s for s in spatial_shapes(a)] == [(28, 28, 32), (14, 14, 32), (14, 14, 64),
                                              (7, 7, 64), (7, 7, 128), (3, 3, 128)]
    params = (9 * 1 * 32 + 32) + (9 * 32 * 64 + 64) + (9 * 64 * 128 + 128) \
        + (3 * 3 * 128 * 625 + 625) + (625 * 10 + 10)
    assert a.totals.trainable_params == params == 819_557
    assert sum(1 for r in a.nodes if r.node.op == "dropout") == 4


@pytest.mark.parametrize("rel", ["classic/inception_naive.yaml", "classic/inception_reduced.yaml"])
def test_inception_modules_end_in_a_small_head(analysed, rel):
    a = analysed(rel)
    assert a.graph["output/flatten"].shape[0] in (672, 480)
