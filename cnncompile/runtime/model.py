"""``OnnxModel``: an exported model in onnxruntime, fed and read as its metadata says.

This is the API ``cnncompile evaluate`` uses for ``MODEL.onnx``; keep it stable:
``OnnxModel(path, provider="auto")``, ``.predict(x) -> {head: probabilities [N, K]}``,
``.metadata``, ``.heads`` (name, size, labels), ``.input_shape`` (H, W, C).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import DataError
from .iobinding import runner_for
from .session import open_session

JSON_KEYS = ("input_shape", "preprocessing", "heads", "accuracy")


def read_metadata(session, source: str) -> dict:
    """The cnncompile metadata_props of a session's model, JSON values decoded.

    Raises:
        DataError: the model was not exported by cnncompile (no metadata) or it is damaged.
    """
    raw = dict(session.get_modelmeta().custom_metadata_map)
    if "cnncompile_version" not in raw or "heads" not in raw:
        raise DataError(f"{source}: not a cnncompile export (its metadata_props lack "
                        "`cnncompile_version` and `heads`)")
    meta = dict(raw)
    for key in JSON_KEYS:
        if key in raw:
            try:
                meta[key] = json.loads(raw[key])
            except json.JSONDecodeError:
                raise DataError(f"{source}: damaged metadata `{key}`") from None
    return meta


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class OnnxModel:
    """An exported cnncompile model running in onnxruntime.

    Args:
        path: the .onnx file.
        provider: 'auto' (CUDA when onnxruntime-gpu and a GPU are there, else CPU), 'cpu' or
            'cuda' (falls back to the CPU; ``note`` says so).
        threads: onnxruntime intra-op threads (None: its default).
    Raises:
        DataError: missing file, not loadable, or not a cnncompile export.
    """

    def __init__(self, path: str | Path, provider: str = "auto", threads: int | None = None):
        self.path = Path(path)
        s = open_session(self.path, provider, threads)
        self.session, self.provider, self.note = s.session, s.provider, s.note
        self.metadata = read_metadata(self.session, str(self.path))
        self.heads: list[tuple[str, int, list | None]] = [
            (h["name"], h["size"], h.get("labels")) for h in self.metadata["heads"]]
        self.input_shape: tuple[int, ...] = tuple(self.metadata["input_shape"])
        self.layout: str = self.metadata.get("input_layout", "NHWC")
        self.kind: str = self.metadata.get("output_kind", "classes")
        self.outputs: str = self.metadata.get("outputs", "probs")
        self.scale: float = float(self.metadata.get("preprocessing", {}).get("scale", 1.0))
        self.input_name = self.session.get_inputs()[0].name
        self.runner = runner_for(self.session, self.provider)  # I/O binding on a GPU

    @property
    def name(self) -> str:
        """The spec's name, from the metadata."""
        return self.metadata.get("spec_name", self.path.stem)

    def preprocess(self, pixels: np.ndarray) -> np.ndarray:
        """Stored pixels (uint8 0-255, NHWC) -> float32 model inputs, as the metadata says."""
        return np.asarray(pixels, np.float32) * np.float32(self.scale)

    def prepare(self, x: np.ndarray) -> np.ndarray:
        """``x`` as the session takes it: NHWC (or already the model's layout), float32."""
        x = np.asarray(x)
        if x.dtype == np.uint8:
            x = self.preprocess(x)
        shape = tuple(x.shape[1:])
        nchw = (self.input_shape[2], *self.input_shape[:2]) if len(self.input_shape) == 3 else None
        if self.layout == "NCHW" and shape == self.input_shape and shape != nchw:
            x = x.transpose(0, 3, 1, 2)
        elif shape != (nchw if self.layout == "NCHW" else self.input_shape):
            raise DataError(f"{self.path.name}: inputs have shape {list(x.shape)}; the model takes "
                            f"[N, {', '.join(map(str, self.input_shape))}] (H, W, C)")
        return np.ascontiguousarray(x, np.float32)

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The model's raw outputs by name for one batch."""
        if self.runner is not None:
            return self.runner.run(self.prepare(x))
        names = [o.name for o in self.session.get_outputs()]
        outs = self.session.run(names, {self.input_name: self.prepare(x)})
        return dict(zip(names, outs, strict=True))

    def predict(self, x: np.ndarray, batch_size: int = 256) -> dict[str, np.ndarray]:
        """Probabilities per head, [N, K] (binary: [N, 2]; regression: the values).

        ``x`` is a batch as the data loaders give it: float32 [N, H, W, C] model inputs; uint8
        pixels are scaled first as the metadata records.
        """
        parts: dict[str, list[np.ndarray]] = {name: [] for name, _, _ in self.heads}
        if len(x) == 0:
            raise DataError(f"{self.path.name}: predict got an empty batch")
        for start in range(0, len(x), batch_size):
            out = self.run(x[start:start + batch_size])
            for name in parts:
                parts[name].append(out[name])
        return {name: self._probabilities(np.concatenate(p)) for name, p in parts.items()}

    def _probabilities(self, y: np.ndarray) -> np.ndarray:
        y = y.astype(np.float64)
        if self.kind == "binary":
            p = y if self.outputs == "probs" else 0.5 * (1.0 + np.tanh(0.5 * y))
            return np.concatenate([1.0 - p, p], axis=1)
        if self.kind == "classes" and self.outputs == "logits":
            return _softmax(y)
        return y

    def predict_images(self, files: list[Path], batch_size: int = 64) -> dict[str, np.ndarray]:
        """Decode, convert, resize and scale image files as recorded, then predict."""
        from .images import load_images

        if len(self.input_shape) != 3:
            raise DataError(f"{self.path.name} takes vectors {list(self.input_shape)}, not images")
        out: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(files), batch_size):
            pixels = load_images(files[start:start + batch_size], self.input_shape)
            for k, v in self.predict(pixels, batch_size).items():
                out.setdefault(k, []).append(v)
        return {k: np.concatenate(v) for k, v in out.items()}

    def top(self, probs: np.ndarray, head: str, k: int) -> list[list[tuple[str, float]]]:
        """The ``k`` most likely (label, probability) pairs per sample for ``head``."""
        labels = next(lab for name, _, lab in self.heads if name == head)
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        if self.kind == "binary":
            labels = ["0", "1"]
        names = labels or [str(i) for i in range(probs.shape[1])]
        return [[(names[j], float(p[j])) for j in row] for row, p in zip(order, probs, strict=True)]
