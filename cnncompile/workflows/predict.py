# STAND-IN for the api branch; the lead replaces it with the workflow helper's module
"""Prediction as a library function (stand-in: today's runtime)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class ImagePrediction:
    """One image's top classes per head (``heads``), or why it could not be read (``error``)."""

    file: str
    heads: dict | None = None
    error: str | None = None


def predict_images(model, images, *, top=1, provider="auto") -> list[ImagePrediction]:
    """Classify image files (and the images under folders) with an exported model."""
    from ..artifacts.heads import sample_record
    from ..runtime import OnnxModel
    from ..runtime.images import decode_files, find_images

    m = OnnxModel(model, provider=provider)
    files = find_images([images] if isinstance(images, (str, Path)) else list(images))
    decoded = decode_files(files, m.input_shape)
    probs = m.predict(decoded.pixels) if decoded.good else {}
    out = [ImagePrediction(str(f), None, decoded.errors.get(i)) for i, f in enumerate(files)]
    for row, i in enumerate(decoded.good):
        out[i].heads = sample_record(m.output, probs, row, top)
    return out
