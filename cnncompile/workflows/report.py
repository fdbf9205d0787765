# STAND-IN for the api branch; the lead replaces it with the workflow helper's module
"""The HTML report as a library function (stand-in: today's report page)."""

from __future__ import annotations

from pathlib import Path

from ..frontend.spec import Head, OutputSpec, Spec, load_spec


def write_report(spec, out=None, *, run=None, input_shape=None, classes=None, model=None,
                 bench=False, batch=1) -> Path:
    """Write the report page of ``spec`` (and a run folder, an export) to ``out``."""
    from ..analysis import analyze_graph
    from ..artifacts.files import write_text
    from ..ir import lower
    from ..report import build_page
    from ..report.sources import read_model, read_run

    if not isinstance(spec, Spec):
        output = OutputSpec("classes", (Head("output", classes),)) if classes else None
        spec = load_spec(spec, input_shape, output)
    a = analyze_graph(lower(spec), batch)
    run_info = read_run(Path(run)) if run is not None else None
    model_info = read_model(Path(model), bench) if model is not None else None
    path = Path(out) if out is not None else Path(f"{spec.name}.html")
    write_text(path, build_page(a, spec.description, run_info, model_info))
    return path
