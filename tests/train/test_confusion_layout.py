"""Confusion plots keep every shown class label clear of its neighbours."""

from __future__ import annotations

import numpy as np
import pytest

from cnncompile.train.plots import confusion_figure

OBJECTS = ("back_pack bike bike_helmet bookcase bottle calculator desk_chair desk_lamp "
           "desktop_computer file_cabinet headphones keyboard laptop_computer letter_tray "
           "mobile_phone monitor mouse mug paper_notebook pen phone printer projector punchers "
           "ring_binder ruler scissors speaker stapler tape_dispenser trash_can").split()


def touching_labels(fig) -> int:
    """Pairs of neighbouring visible tick labels whose drawn boxes overlap."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    count = 0
    for ax in fig.axes:
        for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
            boxes = [t.get_window_extent(renderer) for t in labels if t.get_visible()]
            count += sum(a.overlaps(b) for a, b in zip(boxes, boxes[1:], strict=False))
    return count


@pytest.mark.parametrize("objects", [5, 6, 31], ids=lambda k: f"{k}objects")
def test_office31_labels_do_not_collide(objects):
    import matplotlib.pyplot as plt

    names = {"domain": ("amazon", "dslr", "webcam"), "object": tuple(OBJECTS[8:8 + objects]
                                                                      if objects < 31 else OBJECTS)}
    rng = np.random.default_rng(0)
    conf = {h: rng.integers(0, 30, (len(n), len(n))) for h, n in names.items()}
    fig = confusion_figure(conf, names, "office31")
    try:
        assert touching_labels(fig) == 0
        ax_domain, ax_object = fig.axes
        # the 31-class head gets more room than the 3-class one
        assert ax_object.get_position().width >= ax_domain.get_position().width
        shown = [t.get_text() for t in ax_object.get_yticklabels() if t.get_visible()]
        assert shown == list(names["object"])  # every class named
    finally:
        plt.close(fig)


def test_many_classes_thin_their_labels_instead_of_overlapping():
    import matplotlib.pyplot as plt

    names = {"output": tuple(f"a_rather_long_class_name_{i:03d}" for i in range(150))}
    conf = {"output": np.eye(150, dtype=np.int64)}
    fig = confusion_figure(conf, names, "many")
    try:
        assert touching_labels(fig) == 0
        assert any(t.get_visible() for t in fig.axes[0].get_xticklabels())
    finally:
        plt.close(fig)
