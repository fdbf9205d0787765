"""Options and loading steps that several commands share."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

import typer

from ..choices import PROVIDERS
from ..training_options import OPTIONS, OPTIONS_BY_NAME, BadValue, TrainOption


def choice_enum(name: str, choices: tuple[str, ...], doc: str) -> type[Enum]:
    """A str Enum of ``choices`` (Typer shows and checks them as a choice)."""
    enum = Enum(name, {c: c for c in choices}, type=str, module=__name__)
    enum.__doc__ = doc
    return enum


Init = choice_enum("Init", OPTIONS_BY_NAME["init"].choices,
                   "--init choices: the textbook's N(0, 0.030), or He-normal.")
Provider = choice_enum("Provider", PROVIDERS,
                       "--provider choices: onnxruntime's execution provider.")
# every --threads option: the one bound is cnncompile.machine.check_threads
THREADS_HELP = ("onnxruntime intra-op threads, 1 to the CPUs this process may use "
                "[default: onnxruntime's].")


def _flag_parser(option: TrainOption) -> Callable[[str], Any]:
    """A flag's text read as the spec would read it, then checked by the same rule (so `--lr
    1e-3` and `train: {learning_rate: 1e-3}` agree); a refusal is Typer's BadParameter."""

    def parse(text: Any) -> Any:
        if not isinstance(text, str):  # a default, already a value
            return text
        try:
            return option.parse_text(text)
        except BadValue as e:
            raise typer.BadParameter(e.cli(text)) from None

    return parse


def _metavar(o: TrainOption) -> str:
    if o.kind is bool:
        return "[on|off]"
    if o.choices:
        return "[" + "|".join(o.choices) + "]"
    return {int: "INTEGER", float: "FLOAT"}.get(o.kind, "TEXT")


def _flag_help(o: TrainOption) -> str:
    where = "spec's train." + o.name + ", else " if o.in_spec else ""
    return f"{o.help} [{where}{o.default_text()}]"


def train_option_parameters() -> list[inspect.Parameter]:
    """One keyword parameter (a Typer option, None when not given) per table flag."""
    return [inspect.Parameter(
        o.name, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str],
        default=typer.Option(None, o.cli_flag, help=_flag_help(o), parser=_flag_parser(o),
                             metavar=_metavar(o), show_default=False,
                             rich_help_panel="Training options"))
        for o in OPTIONS if o.cli_flag]


def with_train_options(fn: Callable) -> Callable:
    """Give ``fn(..., **options)`` one CLI flag per training option of the table.

    The command sees ``options``: the name of every option that has a flag, mapped to its
    parsed value, or to None when the flag was not given.
    """
    own = inspect.signature(fn, eval_str=True)
    params = [p for p in own.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]

    fn.__signature__ = own.replace(parameters=params + train_option_parameters())
    return fn


spec_options = SimpleNamespace(
    input=typer.Option(
        None, "--input", help="Override the input shape: H,W,C (or N for a vector input)."),
    classes=typer.Option(
        None, "--classes", min=1, help="Override the output: one softmax head of K classes."),
)


def input_shape_flag(input: Optional[str]) -> tuple[int, ...] | None:
    """The shape ``--input H,W,C`` gives (None without the flag); errors name the flag."""
    from ..errors import Location
    from ..frontend import parse_input_shape

    return parse_input_shape(input, Location(path="--input")) if input else None


def load_spec_cli(spec: Path, input: Optional[str], classes: Optional[int]):
    """Load a spec, applying --input/--classes overrides."""
    from ..frontend import OutputSpec, load_spec
    from ..frontend.spec import Head

    output = OutputSpec("classes", (Head("output", classes),)) if classes else None
    return load_spec(spec, input_shape_flag(input), output)


def load_graph(spec: Path, input: Optional[str] = None, classes: Optional[int] = None):
    """Load a spec and lower it to the IR."""
    from ..ir import lower

    return lower(load_spec_cli(spec, input, classes))
