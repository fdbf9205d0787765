"""Write the one-page HTML report of a spec, with its training run and its export if given."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..artifacts.files import default_output
from ..artifacts.inputs import one_command
from ..errors import DataError
from ..frontend.spec import Spec
from .resolve import resolve_spec


@one_command
def write_report(spec: Spec | str | Path, out: str | Path | None = None, *,
                 run: str | Path | None = None, input_shape: tuple[int, ...] | str | None = None,
                 classes: int | None = None, model: str | Path | None = None,
                 bench: bool = False, batch: int = 1,
                 warn: Callable[[str], None] | None = None) -> Path:
    """Write a self-contained HTML page: block diagram, layer table, totals, run and export.

    Args:
        spec: a loaded spec or a spec file.
        out: the page [default: NAME.html in the current folder].
        run: a run folder of ``cnncompile train``: curves, test report, confusion matrices.
        model: an ``.onnx`` export whose metadata the page shows; ``bench`` also times it
            (batch 1 and 8, CPU).
        batch: the batch size of the activation-memory figures.
        warn: called with each one-line warning the page shows (a run or export made from
            another version of the spec), for the caller to pass on.
    Returns:
        The path written.
    Raises:
        DataError: ``bench`` without ``model``, or ``out`` in a folder that does not exist.

    Example::

        write_report("specs/ch9/residual_flower.yaml", run="runs/residual_flower")
    """
    from ..analysis import analyze_graph
    from ..artifacts.files import write_text
    from ..ir import lower
    from ..report import build_page, warnings_for
    from ..report.sources import read_model, read_run

    if bench and model is None:
        raise DataError("`--bench` times an exported model; give it with `--model MODEL.onnx`")
    if batch < 1:
        raise DataError(f"`--batch` must be at least 1. Received: {batch}")
    parsed = resolve_spec(spec, input_shape, classes)
    analysis = analyze_graph(lower(parsed), batch)
    run_info = read_run(Path(run)) if run is not None else None
    model_info = read_model(Path(model), bench) if model is not None else None
    for warning in warnings_for(analysis.graph, run_info, model_info) if warn else ():
        warn(warning)
    path = Path(out) if out is not None else default_output(f"{parsed.name}.html")
    if not path.parent.is_dir():
        raise DataError(f"-o {path}: the folder {path.parent} does not exist")
    write_text(path, build_page(analysis, parsed.description, run_info, model_info))
    return path
