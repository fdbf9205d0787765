# STAND-IN for the api branch; the lead replaces it with the workflow helper's module
"""Export as a library function (stand-in: today's exporter, without Triton)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..frontend.spec import Head, OutputSpec, Spec, load_spec


@dataclass(frozen=True)
class ExportOutcome:
    """What ``export_model`` made: the checked model's figures and its warnings."""

    result: object
    name: str
    warnings: tuple[str, ...]
    parity_source: str
    triton_folder: Path | None = None

    @property
    def path(self) -> Path | None:
        return self.result.path


def export_model(spec, weights=None, out=None, *, opset=None, layout="nhwc", outputs="probs",
                 seed=0, init="normal", data=None, parity_batch=4, scale=None, input_shape=None,
                 classes=None, triton=None, triton_options=None) -> ExportOutcome:
    """Build, check and write the ONNX model of ``spec`` (default exported/NAME.onnx)."""
    from ..backends.onnx import DEFAULT_OPSET, ExportOptions, export_model, load_weights
    from ..ir import lower

    if data is not None or triton is not None:
        raise NotImplementedError("the stand-in export takes no `data` or `triton`")
    if not isinstance(spec, Spec):
        output = OutputSpec("classes", (Head("output", classes),)) if classes else None
        spec = load_spec(spec, input_shape, output)
    graph = lower(spec)
    w = load_weights(graph, weights, seed=seed, init=init)
    target = Path(out) if out is not None else Path("exported") / f"{spec.name}.onnx"
    options = ExportOptions(opset=opset if opset is not None else DEFAULT_OPSET,
                            layout=layout, outputs=outputs)
    result = export_model(spec, graph, w, target, options, parity_batch=parity_batch,
                          scale=scale, seed=seed)
    return ExportOutcome(result, spec.name, result.warnings, "random inputs")
