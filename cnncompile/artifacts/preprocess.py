"""The one preprocessing record: how stored samples become a model's input.

One typed object from the loader to the runtime. The data loaders produce it
(:func:`for_loader`, kept as ``Dataset.preprocessing``) and training writes its JSON form into
every checkpoint's ``meta["preprocessing"]``; ``export`` reads it back once with the weights
(:meth:`Preprocessing.from_dict`), chooses the record the model carries in one place
(:func:`for_export`: the scale from ``--scale``, the checkpoint, the data set or the default;
``--mean``/``--std`` for weights trained elsewhere on normalised inputs) and writes it into the
ONNX metadata; the runtime reads it back, checked against the graph, to feed images as training
did. Model input = ``(float32(stored) * scale - mean) / std`` per channel, NHWC, batch first;
images are decoded by :func:`cnncompile.artifacts.images.decode_image`.

The JSON form keeps the keys of the records written before this module (``scale``, ``color``,
``resize`` [H, W], ``resize_mode``, ``dtype``, ``source``), so older readers keep working, and
:meth:`Preprocessing.from_dict` reads both those and the checkpoints' old per-loader records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import DataError

FORMAT = 2
RESIZE_MODE = "squash, bilinear"
# What each data loader hands the model: IDX pixels become 0-1, image folders stay 0-255 (the
# textbook's convention, spec-format section 8), .npz arrays are taken as they are.
LOADER_SCALE = {"idx": 1 / 255, "images": 1.0, "npz": 1.0}
_STORED = {"idx": "uint8 0-255", "images": "uint8 0-255", "npz": "as in the file"}
IMAGE_SCALE_DEFAULT = 1.0  # without a record: the textbook's image data, float pixels 0-255
ASSUMED = "assumed"  # the source of a record whose scale nothing told


@dataclass(frozen=True)
class Preprocessing:
    """How stored samples (uint8 pixels or .npz values) become float32 model inputs.

    Attributes:
        input_shape: one sample as the model takes it: (H, W, C) or (N,).
        kind: the loader that wrote it: idx, images, npz, or export (a record made at export
            time without one).
        color: RGB or L for image inputs (C = 3 or 1), else None.
        scale: model input = stored * scale (before mean and std).
        mean, std: per channel, or None (no normalisation).
        resize: the resize policy of image files (``squash, bilinear``), None for arrays.
        source: where the record came from (the loader, a checkpoint, ``assumed``).
    """

    input_shape: tuple[int, ...]
    kind: str = "images"
    color: str | None = None
    scale: float = 1.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    resize: str | None = RESIZE_MODE
    layout: str = "NHWC"
    source: str = "data"

    def apply(self, stored: np.ndarray) -> np.ndarray:
        """float32 model inputs from stored samples [N, *input_shape].

        >>> Preprocessing((1, 1, 1), scale=0.5).apply(np.full((1, 1, 1, 1), 8, np.uint8)).item()
        4.0
        """
        x = np.asarray(stored).astype(np.float32)
        if self.scale != 1.0:
            x *= np.float32(self.scale)
        if self.mean is not None:
            x -= np.asarray(self.mean, np.float32)
        if self.std is not None:
            x /= np.asarray(self.std, np.float32)
        return x

    @property
    def is_image(self) -> bool:
        """The model takes images (H, W, C with C 1 or 3)."""
        return len(self.input_shape) == 3 and self.input_shape[2] in (1, 3)

    def to_dict(self) -> dict:
        """The JSON record (checkpoint meta, ONNX metadata), old keys included."""
        shape = list(self.input_shape)
        return {
            "format": FORMAT, "kind": self.kind, "input_shape": shape, "layout": self.layout,
            "dtype": "float32", "stored": _STORED.get(self.kind, "uint8 0-255"),
            "color": self.color, "scale": self.scale,
            "mean": list(self.mean) if self.mean is not None else None,
            "std": list(self.std) if self.std is not None else None,
            "resize": shape[:2] if self.resize and len(shape) == 3 else None,
            "resize_mode": self.resize if len(shape) == 3 else None,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, record: object, input_shape: tuple[int, ...], where: str
                  ) -> Preprocessing:
        """Read a record of this format or an older one, for a model of ``input_shape``.

        The one check of a record read from a file (a checkpoint, a model's metadata):
        ``input_shape`` is what the model (its graph) takes; a record that says otherwise is
        refused rather than believed.

        Raises:
            DataError: naming ``where``: not a JSON object, a scale that is not a positive
                finite number, mean/std of the wrong length, or a shape other than the model's.
        """
        if not isinstance(record, dict):
            raise DataError(f"{where}: the preprocessing record must be a JSON object. "
                            f"Received: {type(record).__name__}")
        shape = tuple(input_shape)
        recorded = record.get("input_shape")
        if recorded is not None and (not isinstance(recorded, list) or tuple(recorded) != shape):
            raise DataError(f"{where}: the preprocessing record says the input is "
                            f"{_short(recorded)} but the model takes {list(shape)}")
        label = f"{where}: preprocessing"
        scale = check_scale(record.get("scale", 1.0), f"{label} `scale`")
        mean, std = _mean_std(shape, record.get("mean"), record.get("std"),
                              f"{label} `mean`", f"{label} `std`")
        mode = record.get("resize_mode")
        resize = RESIZE_MODE if len(shape) == 3 and mode in (None, RESIZE_MODE) else None
        kind = record.get("kind") if record.get("kind") in LOADER_SCALE else "export"
        return cls(shape, kind, _color(shape), scale, mean, std, resize,
                   str(record.get("layout", "NHWC")), str(record.get("source", "recorded")))


def for_loader(kind: str, input_shape: tuple[int, ...]) -> Preprocessing:
    """The record of what the ``kind`` loader (idx, images, npz) hands a model of ``input_shape``.

    The producer of every record: :func:`cnncompile.data.datasets.load_dataset` keeps it as
    ``Dataset.preprocessing`` and training writes it into each checkpoint.

    >>> for_loader("idx", (28, 28, 1)).scale == 1 / 255
    True
    """
    shape = tuple(input_shape)
    image = len(shape) == 3 and shape[2] in (1, 3)
    return Preprocessing(shape, kind, _color(shape) if image else None, LOADER_SCALE[kind],
                         resize=RESIZE_MODE if kind == "images" else None, source=kind)


def for_export(input_shape: tuple[int, ...], *, scale: float | None = None,
               mean: object = None, std: object = None, recorded: Preprocessing | None = None,
               data: Preprocessing | None = None) -> Preprocessing:
    """The record an export writes: the one place a model's input scaling is chosen.

    The scale is, first found: ``scale`` (``--scale``), the checkpoint's record ``recorded``,
    the data set's record ``data`` (``--data``), else 1.0 (float pixels 0-255, source
    :data:`ASSUMED`). ``mean`` and ``std`` (``--mean``/``--std``: one number or one per channel)
    normalise after scaling, for weights trained on normalised inputs elsewhere; without them
    the checkpoint's are kept.

    >>> for_export((4, 4, 3), scale=0.5, mean=0.5, std=[1, 2, 4]).std
    (1.0, 2.0, 4.0)
    >>> for_export((4, 4, 1)).source
    'assumed'

    Raises:
        DataError: an option that is not a positive finite scale, or mean/std that are not one
            finite number per channel (std positive), naming the option.
    """
    shape = tuple(input_shape)
    if scale is not None:
        chosen, source = check_scale(scale, "`--scale`"), "--scale"
    elif recorded is not None:
        chosen, source = recorded.scale, "checkpoint"
    elif data is not None:
        chosen, source = data.scale, "data set"
    else:
        chosen, source = IMAGE_SCALE_DEFAULT, ASSUMED
    mean, std = _mean_std(shape, mean, std, "`--mean`", "`--std`")
    if recorded is not None:
        mean = recorded.mean if mean is None else mean
        std = recorded.std if std is None else std
    return Preprocessing(shape, recorded.kind if recorded is not None else "export",
                         _color(shape), chosen, mean, std,
                         RESIZE_MODE if len(shape) == 3 else None, source=source)


# Scales a float32 model can apply to pixels 0-255: the smallest normal float32 and the largest
# value whose product with 255 stays finite.
FLOAT32_SCALES = (1.2e-38, 1.3e36)


def check_scale(value: object, label: str) -> float:
    """``value`` as a scale (a positive finite number); refused with a line naming ``label``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value <= 0:
        raise DataError(f"{label} must be a positive number. Received: {_short(value)}")
    if not FLOAT32_SCALES[0] <= value <= FLOAT32_SCALES[1]:  # the model multiplies in float32
        raise DataError(f"{label} must be within {FLOAT32_SCALES[0]:g}-{FLOAT32_SCALES[1]:g}, "
                        "where pixels times it stay normal float32 numbers. Received: "
                        f"{_short(value)}")
    return float(value)


def _mean_std(shape: tuple[int, ...], mean: object, std: object, mean_label: str,
              std_label: str) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    channels = shape[-1] if len(shape) == 3 else 1
    mean = _per_channel(mean, channels, mean_label)
    std = _per_channel(std, channels, std_label)
    if std is not None and min(std) <= 0:
        raise DataError(f"{std_label} must be positive. Received: {list(std)}")
    return mean, std


def _per_channel(value: object, channels: int, label: str) -> tuple[float, ...] | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value] * channels
    if (not isinstance(value, (list, tuple)) or len(value) != channels
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       and math.isfinite(v) for v in value)):
        raise DataError(f"{label} must be {channels} finite number(s). "
                        f"Received: {_short(value)}")
    return tuple(float(v) for v in value)


def _color(shape: tuple[int, ...]) -> str | None:
    return {1: "L", 3: "RGB"}.get(shape[2]) if len(shape) == 3 else None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
