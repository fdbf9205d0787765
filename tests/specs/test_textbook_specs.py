"""The textbook's chapter 7-9 models: totals pinned from hand counts, not from the analyser.

Every expected figure is built here from the spec-format section 6 formulas (conv
kh*kw*cin*cout + cout parameters and oh*ow*cout*kh*kw*cin MACs; full in*out + out and in*out),
with the shapes worked out by hand from the section 3 rules, layer by layer as the book lists
them. Nothing is read back from cnncompile.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cnncompile.frontend import load_spec

SPECS = Path(__file__).resolve().parents[2] / "specs"
FLOWERS = ("daisy", "dandelion", "rose", "sunflower", "tulip")


class Tally:
    """A hand count of one network: trainable parameters, batch-norm statistics and MACs."""

    def __init__(self) -> None:
        self.params = 0
        self.stats = 0
        self.macs = 0

    def conv(self, k, cin: int, cout: int, out: int, bn: bool = False) -> int:
        """A conv with bias whose output is out x out; ``bn``: an LAB/LBA batch norm after it."""
        kh, kw = (k, k) if isinstance(k, int) else k
        self.params += kh * kw * cin * cout + cout
        self.macs += out * out * cout * kh * kw * cin
        self.stats += 2 * cout if bn else 0
        return cout

    def full(self, n_in: int, n_out: int) -> int:
        self.params += n_in * n_out + n_out
        self.macs += n_in * n_out
        return n_out

    def totals(self) -> tuple[int, int, int]:
        return self.params, self.stats, self.macs


def check(a, expected: tuple[int, int, int], out_width: int) -> None:
    t = a.totals
    assert (t.trainable_params, t.non_trainable_params, t.macs) == expected
    assert a.graph.output_shape == (out_width,)


# -- chapter 7 ---------------------------------------------------------------------------------


def mlp_30_10(n_out: int) -> Tally:
    t = Tally()
    t.full(t.full(t.full(96 * 96 * 3, 30), 10), n_out)
    return t


def small_cnn(n_out: int, bn_inputs: bool = False) -> Tally:
    """The book's cnn1: 3x3 convs 6, 12, 24 at 96, 48, 24; pools 2, 2 and an avg 3 (-> 8x8x24)."""
    t = Tally()
    t.conv(3, 3, 6, 96)
    t.conv(3, 6, 12, 48)
    t.conv(3, 12, 24, 24)
    t.full(8 * 8 * 24, n_out)
    if bn_inputs:  # cnn4: batch_normal (with rescale) on 3, 6 and 12 channels
        t.params += 2 * (3 + 6 + 12)
        t.stats += 2 * (3 + 6 + 12)
    return t


@pytest.mark.parametrize("rel", ["ch7/flowers_model_1.yaml", "ch7/flowers_model_2.yaml",
                                 "ch8/ch8_flowers_model_1.yaml", "ch8/ch8_flowers_model_2.yaml",
                                 "ch8/ch8_flowers_model_3.yaml"])
def test_flowers_mlp(analysed, rel):
    a = analysed(rel)
    check(a, mlp_30_10(5).totals(), 5)
    assert a.totals.trainable_params == 829_835
    assert a.graph.heads.heads[0].labels == FLOWERS


def test_training_options_follow_the_book():
    assert load_spec(SPECS / "ch7/flowers_model_2.yaml").train["optimizer"] == "sgd"
    assert "optimizer" not in load_spec(SPECS / "ch7/flowers_model_1.yaml").train  # adam
    assert load_spec(SPECS / "ch8/ch8_flowers_model_2.yaml").train["l2_decay"] == 0.1
    assert load_spec(SPECS / "ch8/ch8_flowers_model_3.yaml").train["l1_decay"] == 0.01


def test_flowers_model_3(analysed):
    # 5x5 conv at 96 -> max 4 -> 24x24x6 -> 3x3 conv -> avg 2 -> 12x12x12 = 1728
    t = Tally()
    t.conv(5, 3, 6, 96)
    t.conv(3, 6, 12, 24)
    t.full(12 * 12 * 12, 5)
    check(analysed("ch7/flowers_model_3.yaml"), t.totals(), 5)
    assert t.totals() == (9_761, 0, 4_529_088)


@pytest.mark.parametrize("rel", ["ch7/flowers_model_4.yaml", "ch8/flowers_cnn_1.yaml",
                                 "ch8/flowers_cnn_2.yaml", "ch8/flowers_cnn_3.yaml"])
def test_flowers_small_cnn(analysed, rel):
    check(analysed(rel), small_cnn(5).totals(), 5)
    assert small_cnn(5).totals() == (11_129, 0, 4_486_656)


@pytest.mark.parametrize("rel", ["ch7/office31_model_1.yaml", "ch7/office31_model_2.yaml",
                                 "ch7/office31_model_3.yaml", "ch8/office31_cnn_1.yaml",
                                 "ch8/office31_cnn_2.yaml", "ch8/office31_cnn_3.yaml"])
def test_office31_small_cnn(analysed, rel):
    a = analysed(rel)
    check(a, small_cnn(3 + 31).totals(), 34)
    assert [(h.name, h.size) for h in a.graph.heads.heads] == [("domain", 3), ("object", 31)]


@pytest.mark.parametrize("rel, func", [("ch7/office31_model_1.yaml", "relu"),
                                       ("ch7/office31_model_2.yaml", "sigmoid"),
                                       ("ch7/office31_model_3.yaml", "tanh")])
def test_office31_activations(analysed, rel, func):
    acts = [r.node.attrs.func for r in analysed(rel).nodes if r.node.op == "act"]
    assert acts == [func] * 3


def test_chapter8_regularisers(analysed):
    ops = {rel: [r.node.op for r in analysed(rel).nodes]
           for rel in ("ch8/flowers_cnn_2.yaml", "ch8/flowers_cnn_3.yaml",
                       "ch8/flowers_cnn_4.yaml")}
    assert ops["ch8/flowers_cnn_2.yaml"].count("dropout") == 3
    assert ops["ch8/flowers_cnn_3.yaml"].count("noise") == 3
    assert ops["ch8/flowers_cnn_4.yaml"].count("batch_norm") == 3
    keep = {r.node.attrs.keep_prob for r in analysed("ch8/flowers_cnn_2.yaml").nodes
            if r.node.op == "dropout"}
    assert keep == {0.6}


@pytest.mark.parametrize("rel, width", [("ch8/flowers_cnn_4.yaml", 5),
                                        ("ch8/office31_cnn_4.yaml", 34)])
def test_chapter8_batch_normal(analysed, rel, width):
    check(analysed(rel), small_cnn(width, bn_inputs=True).totals(), width)


# -- chapter 9, flowers -----------------------------------------------------------------------


def residual_or_plain_flower() -> Tally:
    """plain_flower and residual_flower (64x64x3, LAB) have the same 13 convs: shortcuts are free."""
    t = Tally()
    t.conv(7, 3, 16, 32, bn=True)  # then max 2 -> 16x16
    for _ in range(4):
        t.conv(3, 16, 16, 16, bn=True)
    t.conv(3, 16, 32, 8, bn=True)
    for _ in range(3):
        t.conv(3, 32, 32, 8, bn=True)
    t.conv(3, 32, 64, 4, bn=True)
    for _ in range(3):
        t.conv(3, 64, 64, 4, bn=True)
    t.full(64, 5)  # avg 4 -> 1x1x64
    return t


def bottleneck_flower() -> Tally:
    t = Tally()
    t.conv(7, 3, 16, 32, bn=True)  # max 3/2 -> 16

    def block(cin, n1, n4, out, first_stride_out=None):
        t.conv(1, cin, n1, first_stride_out or out, bn=True)
        t.conv(3, n1, n1, out, bn=True)
        t.conv(1, n1, n4, out, bn=True)

    block(16, 16, 64, 16)
    block(64, 32, 128, 8)  # bh: 1x1 stride 2
    for _ in range(2):
        block(128, 32, 128, 8)
    block(128, 64, 256, 4)
    block(256, 64, 256, 4)
    t.full(256, 5)
    return t


def inception_flower(bn: bool) -> Tally:
    t = Tally()

    def inception1(cin, hw):
        t.conv(1, cin, 4, hw, bn)
        t.conv(3, cin, 6, hw, bn)
        t.conv(3, cin, 6, hw, bn)
        t.conv(3, 6, 6, hw, bn)
        t.conv(1, cin, 4, hw, bn)  # after the 3x3 stride-1 avg
        return 4 + 6 + 6 + 4

    def resize(cin, hw):
        t.conv(3, cin, 12, hw // 2, bn)
        t.conv(3, cin, 12, hw, bn)
        t.conv(3, 12, 12, hw // 2, bn)
        return 12 + 12 + cin  # the 3x3/2 avg keeps cin channels

    def inception2(cin, hw):
        t.conv(1, cin, 8, hw, bn)
        t.conv(3, cin, 8, hw, bn)
        t.conv((1, 3), 8, 8, hw, bn)
        t.conv((3, 1), 8, 8, hw, bn)
        t.conv(1, cin, 8, hw, bn)
        t.conv(3, 8, 8, hw, bn)
        t.conv((1, 3), 8, 8, hw, bn)
        t.conv((3, 1), 8, 8, hw, bn)
        t.conv(1, cin, 8, hw, bn)
        return 8 + 16 + 16 + 8

    c = t.conv(3, 3, 6, 48, bn)
    c = resize(inception1(c, 48), 48)
    c = resize(inception1(c, 24), 24)
    c = resize(inception2(c, 12), 12)
    c = inception2(c, 6)  # then avg 6 -> 1x1x48, dropout
    t.full(c, 5)
    return t


@pytest.mark.parametrize("rel", ["ch9/residual_flower.yaml", "ch9/plain_flower.yaml"])
def test_residual_and_plain_flower(analysed, rel):
    check(analysed(rel), residual_or_plain_flower().totals(), 5)
    assert residual_or_plain_flower().params == 173_637


def test_bottleneck_flower(analysed):
    check(analysed("ch9/bottleneck_flower.yaml"), bottleneck_flower().totals(), 5)


@pytest.mark.parametrize("rel, bn", [("ch9/inception_flower.yaml", False),
                                     ("ch9/inception_flower_lab.yaml", True)])
def test_inception_flower(analysed, rel, bn):
    a = analysed(rel)
    check(a, inception_flower(bn).totals(), 5)
    shapes = {r.node.name: r.node.shape for r in a.nodes}
    assert shapes["inception_flower/flower_postproc/avg"] == (1, 1, 48)


# -- chapter 9, ImageNet size -----------------------------------------------------------------


def resnet34_like() -> Tally:
    """plain_34 and residual_34: 33 convs with bias (LA), 512 -> 1000 output."""
    t = Tally()
    t.conv(7, 3, 64, 112)  # max 2 -> 56
    for _ in range(6):
        t.conv(3, 64, 64, 56)
    for cin, n, hw, rest in ((64, 128, 28, 7), (128, 256, 14, 11), (256, 512, 7, 5)):
        t.conv(3, cin, n, hw)
        for _ in range(rest):
            t.conv(3, n, n, hw)
    t.full(512, 1000)
    return t


def bottleneck_152() -> Tally:
    t = Tally()
    t.conv(7, 3, 64, 112, bn=True)  # max 3/2 -> 56
    cin = 64
    for n1, n4, hw, blocks in ((64, 256, 56, 3), (128, 512, 28, 8), (256, 1024, 14, 36),
                               (512, 2048, 7, 3)):
        for _ in range(blocks):
            t.conv(1, cin, n1, hw, bn=True)  # the first 1x1 of a bh has stride 2: output hw
            t.conv(3, n1, n1, hw, bn=True)
            t.conv(1, n1, n4, hw, bn=True)
            cin = n4
    t.full(2048, 1000)
    return t


def vgg_19() -> Tally:
    t = Tally()
    cin, hw = 3, 224
    for n, reps in ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4)):
        for _ in range(reps):
            cin = t.conv(3, cin, n, hw)
        hw //= 2
    t.full(t.full(t.full(7 * 7 * 512, 4096), 4096), 1000)
    return t


@pytest.mark.parametrize("rel", ["ch9/plain_34.yaml", "ch9/residual_34.yaml"])
def test_34_layer_nets(analysed, rel):
    check(analysed(rel), resnet34_like().totals(), 1000)
    assert resnet34_like().params == 21_616_232


def test_bottleneck_152(analysed):
    a = analysed("ch9/bottleneck_152.yaml")
    check(a, bottleneck_152().totals(), 1000)
    assert sum(1 for r in a.nodes if r.node.op == "conv") == 1 + 3 * (3 + 8 + 36 + 3)


def test_vgg_19(analysed):
    check(analysed("ch9/vgg_19.yaml"), vgg_19().totals(), 1000)
    assert vgg_19().params == 143_667_240  # torchvision's vgg19 count


def inception_v3() -> Tally:
    """The book's Inception-v3 at 299x299x3: stem 299 -> 148 -> 146 -> 146 -> 72 -> 72 -> 70 -> 34."""
    t = Tally()
    t.conv(3, 3, 32, 148)  # VALID, stride 2: (299 - 3 + 1) // 2
    t.conv(3, 32, 32, 146)
    t.conv(3, 32, 64, 146)  # max 3/2 VALID: (146 - 2) // 2 = 72
    t.conv(1, 64, 80, 72)
    t.conv(3, 80, 192, 70)  # max 3/2 VALID: (70 - 2) // 2 = 34

    def inception1(cin, chn, hw=34):
        t.conv(1, cin, 64, hw)
        t.conv(1, cin, 48, hw)
        t.conv(5, 48, 64, hw)
        t.conv(1, cin, 64, hw)
        t.conv(3, 64, 96, hw)
        t.conv(3, 96, 96, hw)
        t.conv(1, cin, chn, hw)
        return 64 + 64 + 96 + chn

    def inception2(cin, c, hw=17):
        t.conv(1, cin, 192, hw)
        t.conv(1, cin, c, hw)
        t.conv((1, 7), c, c, hw)
        t.conv((7, 1), c, 192, hw)
        t.conv(1, cin, c, hw)
        t.conv((7, 1), c, c, hw)
        t.conv((1, 7), c, c, hw)
        t.conv((7, 1), c, c, hw)
        t.conv((1, 7), c, 192, hw)
        t.conv(1, cin, 192, hw)
        return 4 * 192

    def inception3(cin, hw=8):
        t.conv(1, cin, 320, hw)
        t.conv(3, cin, 384, hw)
        t.conv((1, 3), 384, 384, hw)
        t.conv((3, 1), 384, 384, hw)
        t.conv(1, cin, 448, hw)
        t.conv(3, 448, 384, hw)
        t.conv((1, 3), 384, 384, hw)
        t.conv((3, 1), 384, 384, hw)
        t.conv(1, cin, 192, hw)
        return 320 + 768 + 768 + 192

    c = inception1(inception1(inception1(192, 32), 64), 64)
    assert c == 288
    t.conv(3, c, 384, 17)  # v3_resize1: SAME stride 2 on 34 -> 17
    t.conv(1, c, 64, 34)
    t.conv(3, 64, 96, 34)
    t.conv(3, 96, 96, 17)
    c = 384 + 96 + c  # + the max pool's 288
    for width in (128, 160, 160, 192):
        c = inception2(c, width)
    t.conv(1, c, 192, 17)  # v3_resize2: 17 -> 8
    t.conv(3, 192, 320, 8)
    t.conv(1, c, 192, 17)
    t.conv((1, 7), 192, 192, 17)
    t.conv((7, 1), 192, 192, 17)
    t.conv(3, 192, 192, 8)
    c = 320 + 192 + c
    assert c == 1280
    c = inception3(inception3(c))
    t.full(c, 200)  # avg 8 -> 1x1x2048, dropout 0.7, the dummy set's 200 classes
    return t


def test_inception_v3(analysed):
    a = analysed("ch9/inception_v3.yaml")
    check(a, inception_v3().totals(), 200)
    shapes = {r.node.name: r.node.shape for r in a.nodes}
    assert shapes["inception_v3/v3_preproc/max_1"] == (34, 34, 192)
    assert shapes["inception_v3/v3_resize2/parallel"] == (8, 8, 1280)
    assert shapes["inception_v3/v3_postproc/avg"] == (1, 1, 2048)
