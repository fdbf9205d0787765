"""The one window rule, against hand-computed tables (spec-format section 3)."""

import pytest

from cnncompile.ir.window import axis_window, explicit_pads, symmetric_pads


# (n, k, s, padding) -> (out, start of window 0, start of window 1, pad_lo, pad_hi), by hand
@pytest.mark.parametrize(
    "n,k,s,padding,expected",
    [
        (224, 7, 2, "SAME", (112, -3, -1, 3, 2)),  # as PyTorch padding 3
        (96, 2, 2, "SAME", (48, 0, 2, 0, 0)),  # [max, {stride: 2}]: 2x2 windows at 2j
        (6, 4, 4, "SAME", (1, 0, None, 0, -2)),  # [avg, {stride: 4}] on 6: one window 0..3
        (299, 3, 2, "VALID", (148, 0, 2, 0, -2)),  # TensorFlow gives 149
        (5, 3, 1, "SAME", (5, -1, 0, 1, 1)),
        (4, 3, 1, "SAME", (4, -1, 0, 1, 1)),
        (7, 1, 3, "VALID", (2, 1, 4, -1, -2)),  # offset (3-1)//2 = 1
        (9, 1, 3, "SAME", (3, 1, 4, -1, -1)),  # k < s: the window starts inside
        (8, 3, 2, "SAME", (4, -1, 1, 1, 0)),
        (7, 3, 2, "SAME", (3, -1, 1, 1, -1)),
        (8, 2, 3, "SAME", (2, 1, 4, -1, -2)),  # c = 0, o = 1
        (10, 4, 1, "VALID", (7, 0, 1, 0, 0)),
        (32, 3, 2, 1, (16, -1, 1, 1, 0)),  # PyTorch: (32 + 2 - 3)//2 + 1 = 16
        (7, 3, 2, 1, (4, -1, 1, 1, 1)),
        (5, 2, 2, 0, (2, 0, 2, 0, -1)),
        (6, 3, 3, 2, (3, -2, 1, 2, 1)),
    ],
)
def test_window_table(n, k, s, padding, expected):
    out, s0, s1, lo, hi = expected
    w = axis_window(n, k, s, padding)
    assert w.out == out
    assert w.start(0) == s0
    if s1 is not None:
        assert w.start(1) == s1
    assert (w.pad_lo, w.pad_hi) == (lo, hi)
    assert w.padded_size == (w.out - 1) * s + k


@pytest.mark.parametrize("n,k,s,padding", [(2, 3, 1, "VALID"), (1, 1, 2, "SAME"), (2, 7, 1, 2)])
def test_no_output_cells(n, k, s, padding):
    assert axis_window(n, k, s, padding) is None


def test_same_windows_always_touch_the_input():
    # every SAME window holds at least one real cell, so max/avg never see an empty window
    for n in range(1, 20):
        for k in range(1, 8):
            for s in range(1, 6):
                w = axis_window(n, k, s, "SAME")
                if w is None:
                    continue
                for j in range(w.out):
                    first, last = w.start(j), w.start(j) + k - 1
                    assert last >= 0 and first <= n - 1


def test_valid_windows_stay_inside():
    for n in range(1, 20):
        for k in range(1, 8):
            for s in range(1, 6):
                w = axis_window(n, k, s, "VALID")
                if w is not None:
                    assert w.start(0) >= 0 and w.start(w.out - 1) + k <= n


# (size, kernel, stride, padding) -> (start, end, pad_lo, pad_hi), worked out by hand from
# spec-format section 3 (window j starts at o + s*j - c for SAME, o + s*j for VALID, s*j - p).
WINDOW_TABLE = [
    ((224, 7, 2, "SAME"), (0, 224, 3, 3)),   # starts at 2j-3; a pad of 2 after, 3 reads alike
    ((10, 3, 2, "VALID"), (0, 10, 0, 0)),    # 4 windows at 0, 2, 4, 6; cell 9 unread
    ((11, 2, 3, "VALID"), (1, 11, 0, 0)),    # offset 1: windows at 1, 4, 7
    ((10, 1, 3, "SAME"), (1, 10, 0, 0)),     # k < s: cells 1, 4, 7
    ((7, 1, 2, "SAME"), (0, 5, 0, 0)),       # cells 0, 2, 4; the last two cells would make a 4th
    ((10, 3, 2, 1), (0, 10, 1, 1)),          # PyTorch: 5 windows at 2j-1
    ((9, 4, 2, "SAME"), (0, 9, 1, 1)),       # c = 1: windows at 2j-1, the last ends at cell 8
    ((11, 5, 3, "SAME"), (0, 11, 1, 1)),     # o = 1, c = 2: windows at 3j-1
]


@pytest.mark.parametrize("axis,want", WINDOW_TABLE, ids=[str(a) for a, _ in WINDOW_TABLE])
def test_explicit_pads_table(axis, want):
    other = axis_window(6, 3, 1, "SAME")  # W axis: pads (1, 1), no crop
    g = explicit_pads((axis_window(*axis), other))
    assert (g.starts[0], g.ends[0], g.pads[0], g.pads[2]) == want
    assert (g.starts[1], g.ends[1], g.pads[1], g.pads[3]) == (0, 6, 1, 1)
    assert g.needs_slice == (want[:2] != (0, axis[0]))


# (size, kernel, stride, padding) -> the pad on both sides, or None, worked out by hand
@pytest.mark.parametrize("axis,want", [
    ((224, 7, 2, "SAME"), 3),    # pads (3, 2): a third cell after reads the same 112 windows
    ((7, 3, 2, "SAME"), 1),      # pads (1, -1): padding 1 fits a 4th window, cropped after
    ((6, 3, 3, 2), 2),           # pads (2, 1)
    ((5, 2, 1, "SAME"), None),   # pads (0, 1): the high pad exceeds the low one
    ((7, 1, 3, "VALID"), None),  # pads (-1, -2): the first window starts inside the input
])
def test_symmetric_pads_table(axis, want):
    w = axis_window(*axis)
    assert symmetric_pads((w,)) == (None if want is None else (want,))
