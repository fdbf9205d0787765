# STAND-IN for the api branch; the lead replaces it with the workflow helper's module
"""Evaluation as a library function (stand-in: a spec and its weights on the NumPy engine)."""

from __future__ import annotations

from dataclasses import dataclass

from ..frontend.spec import Head, OutputSpec, Spec, load_spec


@dataclass
class EvaluateResult:
    """What :func:`evaluate_model` measured (``evaluation``: accuracy, per_class, confusion)."""

    model: str
    title: str
    data: str
    split: str
    evaluation: object


def evaluate_model(spec, weights, data, *, split="test", input_shape=None, classes=None,
                   progress=None) -> EvaluateResult:
    """Accuracy, per-class figures and confusion matrices of ``spec`` with ``weights``."""
    import numpy as np

    from ..data.datasets import load_dataset
    from ..evaluation.evaluate import engine_predictor, evaluate
    from ..ir import lower
    from ..train import check_fits, read_checkpoint

    if not isinstance(spec, Spec):
        output = OutputSpec("classes", (Head("output", classes),)) if classes else None
        spec = load_spec(spec, input_shape, output)
    graph = lower(spec)
    ckpt = read_checkpoint(weights)
    check_fits(graph, ckpt, str(ckpt.path))
    params = {k: np.asarray(v, np.float32) for k, v in ckpt.params.items()}
    ds = load_dataset(data, graph.input_shape, graph.heads,
                      validation=(ckpt.meta.get("config") or {}).get("validation"),
                      progress=progress)
    part = {"test": ds.test, "validation": ds.val, "train": ds.train}[split]
    ev = evaluate(engine_predictor(graph, params), part, [h.name for h in graph.heads.heads],
                  ds.names)
    return EvaluateResult(str(spec.path or spec.name), graph.name, ds.source, split, ev)
