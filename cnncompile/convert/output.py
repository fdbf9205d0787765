"""Where converted specs go: printed, into one file, or one file per model into a folder."""

from __future__ import annotations

from pathlib import Path

from ..artifacts.files import write_text
from ..errors import CnnCompileError
from .specs import ConvertedModel, check_spec


def spec_targets(models: list[ConvertedModel], source: str | Path,
                 output: str | None) -> list[Path] | None:
    """Each model's spec file: ``output`` itself, or ``output/<name>.yaml`` for a folder (an
    existing one, or a name ending in ``/``); None without ``output`` (the spec is printed).

    Raises:
        CnnCompileError: several models but ``output`` is not a folder.
    """
    as_dir = output is not None and (output.endswith(("/", "\\")) or Path(output).is_dir())
    if len(models) > 1 and not as_dir:
        names = ", ".join(m.name for m in models)
        raise CnnCompileError(f"{source} constructs {len(models)} models ({names}); pick one "
                              "with --model NAME, or write them all with -o DIR/")
    if output is None:
        return None
    return [Path(output) / f"{m.name}.yaml" if as_dir else Path(output) for m in models]


def write_specs(models: list[ConvertedModel], targets: list[Path]) -> None:
    """Write each spec to its target, atomically, once every one of them loads there.

    Raises:
        DslSyntaxError: a spec does not load at its target path; then nothing is written.
    """
    for m, target in zip(models, targets, strict=True):
        check_spec(m.text, target)
    for m, target in zip(models, targets, strict=True):
        write_text(target, m.text)
