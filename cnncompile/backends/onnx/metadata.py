"""``metadata_props``: what a deployer needs to feed the model and read its outputs.

Every value is a string; structured ones are JSON. ``cnncompile.runtime`` reads them back, and a
plain onnxruntime user finds them in ``session.get_modelmeta().custom_metadata_map``.

- ``cnncompile_version``, ``spec_name``, ``spec_hash`` (of the spec file's text), ``ir_hash``,
  ``spec`` (the spec with every macro expanded: a standalone file that rebuilds the model)
- ``input_layout`` (NHWC or NCHW), ``input_shape`` (JSON [H, W, C] or [N], batch left out)
- ``preprocessing`` (JSON): the one preprocessing record
  (:class:`cnncompile.artifacts.preprocess.Preprocessing`): how stored pixels become the model
  input: decode, convert to ``color`` (RGB or L), resize (squash, bilinear) to ``resize``
  [H, W], then ``(float32(pixels) * scale - mean) / std``
- ``output_kind`` (classes, binary, regression), ``outputs`` (probs or logits), ``heads`` (JSON
  list of {name, size, labels})
- ``weights`` (where they came from) and ``accuracy`` (JSON, what the checkpoint recorded) when
  known
"""

from __future__ import annotations

import json

from ... import __version__
from ...artifacts.preprocess import Preprocessing
from ...frontend.dump import expanded_yaml


def recorded_accuracy(meta: dict) -> dict | None:
    """The accuracy per head a checkpoint recorded: the test set's, else the validation set's.

    ``cnncompile train`` writes ``test_accuracy`` after its final test and ``accuracy`` (on the
    validation set) at every checkpoint.
    """
    for key, split in (("test_accuracy", "test"), ("accuracy", "validation")):
        value = meta.get(key)
        if isinstance(value, dict) and value and all(v is not None for v in value.values()):
            out = {"split": split, "per_head": value}
            if "epoch" in meta:
                out["epoch"] = meta["epoch"]
            return out
    return None


def head_labels(graph, names: list | None = None) -> list[dict]:
    """Heads with their labels: the spec's, else the checkpoint's data set names, else numbers."""
    out = []
    for i, h in enumerate(graph.heads.heads):
        labels = list(h.labels) if h.labels else None
        if labels is None and names and i < len(names) and len(names[i]) == h.size:
            labels = [str(x) for x in names[i]]
        if labels is None and graph.heads.kind == "classes":
            labels = [str(k) for k in range(h.size)]
        out.append({"name": h.name, "size": h.size, "labels": labels})
    return out


def model_metadata(spec, graph, *, layout: str, outputs: str, preprocessing: Preprocessing,
                   weights: str, accuracy=None, class_names: list | None = None) -> dict[str, str]:
    """The ``metadata_props`` of an exported model (sorted keys, JSON with sorted keys).

    ``preprocessing`` is the record :func:`cnncompile.artifacts.preprocess.for_export` chose;
    it is written here in its JSON form and read back, checked, by the runtime.
    """

    def js(v) -> str:
        return json.dumps(v, sort_keys=True)

    props = {
        "cnncompile_version": __version__,
        "spec_name": spec.name,
        "spec_hash": spec.text_hash,
        "ir_hash": graph.structure_hash(),
        "spec": expanded_yaml(spec),
        "input_layout": layout.upper(),
        "input_shape": js(list(graph.input_shape)),
        "preprocessing": js(preprocessing.to_dict()),
        "output_kind": graph.heads.kind,
        "outputs": outputs if graph.heads.kind != "regression" else "values",
        "heads": js(head_labels(graph, class_names)),
        "weights": weights,
    }
    if accuracy is not None:
        props["accuracy"] = js(accuracy)
    return dict(sorted(props.items()))
