"""``OnnxModel``: an exported model in onnxruntime, trusted only as far as its graph.

This is the API ``cnncompile evaluate`` uses for ``MODEL.onnx``; keep it stable:
``OnnxModel(path, provider="auto")``, ``.predict(x) -> {head: probabilities [N, K]}``,
``.metadata``, ``.heads`` (name, size, labels), ``.input_shape`` (H, W, C), ``.output``.

The input shape and layout are the graph's. The cnncompile metadata (input shape, heads, labels,
preprocessing) is checked against the graph when the model is opened: a file whose metadata
claims another input, another output width or another number of labels is refused with both
figures named, before anything is allocated from it. Models without cnncompile metadata are
refused: their labels and preprocessing are unknown.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..artifacts.heads import check_finite, probabilities, top_k
from ..artifacts.preprocess import Preprocessing
from ..artifacts.text import printable
from ..choices import HEAD_OUTPUTS
from ..errors import DataError
from .iobinding import runner_for
from .session import open_session, run_interruptibly

JSON_KEYS = ("input_shape", "preprocessing", "heads", "accuracy")
# the head kinds a model may have, with the `outputs` its metadata may record for each
KINDS = {"classes": HEAD_OUTPUTS, "binary": HEAD_OUTPUTS, "regression": ("values", *HEAD_OUTPUTS)}


def read_metadata(session, source: str) -> dict:
    """The cnncompile metadata_props of a session's model, JSON values decoded.

    Raises:
        DataError: the model was not exported by cnncompile (no metadata) or it is damaged.
    """
    raw = dict(session.get_modelmeta().custom_metadata_map)
    if "cnncompile_version" not in raw or "heads" not in raw:
        raise DataError(f"{source}: not a cnncompile export (its metadata_props lack "
                        "`cnncompile_version` and `heads`, so its labels and preprocessing are "
                        "unknown); run it with onnxruntime directly")
    meta = dict(raw)
    for key in JSON_KEYS:
        if key in raw:
            try:
                meta[key] = json.loads(raw[key])
            except (json.JSONDecodeError, RecursionError):
                raise DataError(f"{source}: damaged metadata `{key}` (not JSON)") from None
    return meta


def _dims(value) -> str:
    return "[" + ", ".join(str(d) if isinstance(d, int) else "N" for d in value) + "]"


def graph_input(session, source: str) -> tuple[str, tuple[int, ...]]:
    """The graph's one float input: its name and its fixed per-sample shape.

    Raises:
        DataError: several inputs, not float32, or a sample dimension that is not fixed.
    """
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise DataError(f"{source}: the graph has {len(inputs)} inputs; cnncompile models "
                        "take one")
    inp = inputs[0]
    if inp.type != "tensor(float)":
        raise DataError(f"{source}: the graph's input `{printable(inp.name)}` is {inp.type}; "
                        "cnncompile models take float32")
    sample = inp.shape[1:] if inp.shape else []
    if not sample or not all(isinstance(d, int) and d > 0 for d in sample):
        raise DataError(f"{source}: the graph's input `{printable(inp.name)}` is "
                        f"{_dims(inp.shape or [])}; cnncompile models have a fixed sample shape")
    return inp.name, tuple(sample)


def _sample_shape(meta: dict, layout: str, graph_sample: tuple[int, ...], source: str
                  ) -> tuple[int, ...]:
    """The sample shape (H, W, C) or (N,) from the graph, checked against the metadata's."""
    graph_hwc = graph_sample
    if layout == "NCHW" and len(graph_sample) == 3:
        c, h, w = graph_sample
        graph_hwc = (h, w, c)
    claimed = meta.get("input_shape")
    valid = isinstance(claimed, list) and all(
        isinstance(d, int) and not isinstance(d, bool) for d in claimed)
    if not valid or tuple(claimed) != graph_hwc:
        shown = _dims(claimed) if valid else repr(claimed)[:60]
        raise DataError(f"{source}: its metadata says the input is {shown} ({layout}) but the "
                        f"graph takes [N, {', '.join(map(str, graph_sample))}]; the file is "
                        "damaged or was edited")
    return graph_hwc


def _heads(meta: dict, kind: str, outputs: dict, source: str):
    """OutputSpec of the metadata's heads, each checked against the graph's output of its name."""
    from ..frontend.spec import Head, OutputSpec

    heads = meta["heads"]
    if not isinstance(heads, list) or not heads:
        raise DataError(f"{source}: metadata `heads` must be a non-empty list")
    out = []
    for h in heads:
        if not (isinstance(h, dict) and isinstance(h.get("name"), str)
                and isinstance(h.get("size"), int) and h["size"] > 0):
            raise DataError(f"{source}: metadata `heads` entries need a name and a positive "
                            f"size. Received: {printable(repr(h)[:80])}")
        name, size, labels = h["name"], h["size"], h.get("labels")
        if name not in outputs:
            raise DataError(f"{source}: metadata head `{printable(name)}` is not an output of "
                            f"the graph ({', '.join(map(printable, outputs))})")
        width = outputs[name]
        if isinstance(width, int) and width != size:
            raise DataError(f"{source}: metadata head `{printable(name)}` has {size} outputs but "
                            f"the graph's output `{printable(name)}` is [N, {width}]")
        if labels is not None:
            if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
                raise DataError(f"{source}: labels of head `{printable(name)}` must be strings")
            if len(labels) != (2 if kind == "binary" and len(labels) == 2 else size):
                raise DataError(f"{source}: head `{printable(name)}` has {len(labels)} labels "
                                f"for {size} outputs")
            labels = tuple(printable(x) for x in labels)  # escaped as read: they get printed
        out.append(Head(name, size, labels))
    if kind == "binary" and (len(out) != 1 or out[0].size != 1):
        raise DataError(f"{source}: a binary model has one head of size 1; the metadata says "
                        f"{[(h.name, h.size) for h in out]}")
    return OutputSpec(kind, tuple(out))


def _output_widths(session) -> dict[str, int | None]:
    widths = {}
    for o in session.get_outputs():
        shape = o.shape or []
        widths[o.name] = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None
    return widths


class OnnxModel:
    """An exported cnncompile model running in onnxruntime.

    Args:
        path: the .onnx file.
        provider: 'auto' (CUDA when onnxruntime-gpu and a GPU are there, else CPU), 'cpu' or
            'cuda' (falls back to the CPU; ``note`` says so).
        threads: onnxruntime intra-op threads (None: its default).
    Raises:
        DataError: missing file, not loadable, not a cnncompile export, or metadata that the
            graph contradicts.
    """

    def __init__(self, path: str | Path, provider: str = "auto", threads: int | None = None):
        self.path = Path(path)
        source = printable(self.path)
        s = open_session(self.path, provider, threads)
        self.session, self.provider, self.note = s.session, s.provider, s.note
        self.metadata = read_metadata(self.session, source)
        self.layout: str = self.metadata.get("input_layout", "NHWC")
        if self.layout not in ("NHWC", "NCHW"):
            raise DataError(f"{source}: metadata `input_layout` must be NHWC or NCHW. "
                            f"Received: {printable(self.layout)[:40]}")
        self.input_name, graph_sample = graph_input(self.session, source)
        self.input_shape: tuple[int, ...] = _sample_shape(self.metadata, self.layout,
                                                          graph_sample, source)
        self.kind: str = self.metadata.get("output_kind", "classes")
        self.outputs: str = self.metadata.get("outputs", "probs")
        if self.kind not in KINDS or self.outputs not in KINDS[self.kind]:
            raise DataError(f"{source}: metadata `output_kind`/`outputs` must be one of "
                            f"{', '.join(KINDS)} / probs, logits or values. Received: "
                            f"{printable(self.kind)[:30]}/{printable(self.outputs)[:30]}")
        self.output = _heads(self.metadata, self.kind, _output_widths(self.session), source)
        self.heads: list[tuple[str, int, list | None]] = [
            (h.name, h.size, list(h.labels) if h.labels else None) for h in self.output.heads]
        self.preprocessing = Preprocessing.from_dict(
            self.metadata.get("preprocessing", {}), self.input_shape, source)
        self.scale: float = self.preprocessing.scale
        self.runner = runner_for(self.session, self.provider)  # I/O binding on a GPU

    @property
    def name(self) -> str:
        """The spec's name, from the metadata."""
        return printable(self.metadata.get("spec_name", self.path.stem))

    def preprocess(self, pixels: np.ndarray) -> np.ndarray:
        """Stored pixels (uint8 0-255, NHWC) -> float32 model inputs, as the metadata says."""
        return self.preprocessing.apply(pixels)

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
            raise DataError(f"{printable(self.path.name)}: inputs have shape {list(x.shape)}; "
                            f"the model takes [N, {', '.join(map(str, self.input_shape))}] "
                            "(H, W, C)")
        return np.ascontiguousarray(x, np.float32)

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The model's raw outputs by name for one batch."""
        if self.runner is not None:
            return self.runner.run(self.prepare(x))
        names = [o.name for o in self.session.get_outputs()]
        try:
            outs = run_interruptibly(self.session, names, {self.input_name: self.prepare(x)})
        except DataError:
            raise
        except Exception as e:  # onnxruntime's own exception types
            detail = printable(str(e).strip().splitlines()[0] if str(e).strip() else "")
            raise DataError(f"{printable(self.path.name)}: onnxruntime cannot run it "
                            f"({detail[:200]})") from None
        return dict(zip(names, outs, strict=True))

    def predict(self, x: np.ndarray, batch_size: int = 256) -> dict[str, np.ndarray]:
        """Probabilities per head, [N, K] (binary: [N, 2]; regression: the values).

        ``x`` is a batch as the data loaders give it: float32 [N, H, W, C] model inputs; uint8
        pixels are scaled first as the metadata records.

        Raises:
            DataError: the inputs or the model's outputs hold NaN or infinity (naming which),
                or an output of another width than its head.
        """
        if len(x) == 0:
            raise DataError(f"{printable(self.path.name)}: predict got an empty batch")
        parts: dict[str, list[np.ndarray]] = {h.name: [] for h in self.output.heads}
        for start in range(0, len(x), batch_size):
            batch = np.asarray(x[start:start + batch_size])
            if batch.dtype != np.uint8 and not np.isfinite(batch).all():
                bad = int(np.argmin(np.isfinite(batch).reshape(len(batch), -1).all(axis=1)))
                raise DataError(f"the input data holds NaN or infinite values (sample "
                                f"{start + bad}); {printable(self.path.name)} was not run on it")
            out = self.run(batch)
            for h in self.output.heads:
                y = out[h.name].reshape(len(batch), -1)
                if y.shape[1] != h.size:
                    raise DataError(f"{printable(self.path.name)}: output `{printable(h.name)}` "
                                    f"is {list(out[h.name].shape)}; its head has {h.size}")
                parts[h.name].append(y)
        raw = {name: np.concatenate(p) for name, p in parts.items()}
        try:
            check_finite(raw, f"{printable(self.path.name)}")
        except DataError as e:
            raise DataError(f"{e}{self._nonfinite_weights()}") from None
        return probabilities(self.kind, raw, self.outputs)

    def _nonfinite_weights(self) -> str:
        """'; its weights (initializer `w`) hold NaN' when they do, else ''."""
        import onnx
        from onnx import numpy_helper

        try:
            model = onnx.load(str(self.path), load_external_data=False)
        except Exception:  # already loaded by onnxruntime; no better diagnosis then
            return ""
        for t in model.graph.initializer:
            a = numpy_helper.to_array(t)
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                return f"; its weights hold NaN or infinity (initializer `{printable(t.name)}`)"
        return " (its weights are finite: the values overflow inside the model)"

    def predict_images(self, files: list[Path], batch_size: int = 64) -> dict[str, np.ndarray]:
        """Decode, convert, resize and scale image files as recorded, then predict."""
        from .images import load_images

        if not self.preprocessing.is_image:
            raise DataError(f"{printable(self.path.name)} takes {list(self.input_shape)}, "
                            "not images")
        out: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(files), batch_size):
            pixels = load_images(files[start:start + batch_size], self.input_shape)
            for k, v in self.predict(pixels, batch_size).items():
                out.setdefault(k, []).append(v)
        return {k: np.concatenate(v) for k, v in out.items()}

    def top(self, probs: np.ndarray, head: str, k: int) -> list[list[tuple[str, float]]]:
        """The ``k`` most likely (label, probability) pairs per sample for ``head``."""
        from ..artifacts.heads import labels_for

        h = next(h for h in self.output.heads if h.name == head)
        return top_k(probs, labels_for(h, self.kind, probs.shape[1]), k)
