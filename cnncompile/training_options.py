"""The one table of training options, and the one rule that reads a value for each.

Every consumer is made from :data:`OPTIONS`, none repeats it: the spec's `train:` section
(``frontend/spec.py``), :class:`~cnncompile.train.config.TrainConfig` (its fields, defaults and
validation), the `cnncompile train` flags (``cli/common.py`` builds one Typer option per entry)
and ``docs/train-options.md`` (:func:`markdown`). So a spec and the command line accept exactly
the same values: the CLI reads a flag's text as a YAML 1.2 scalar, as the spec file is read, and
both then go through :meth:`TrainOption.parse`, whose rules are :mod:`cnncompile.values`' (the
ones layer options follow).

Adding an option is one :class:`TrainOption` entry in :data:`OPTIONS`, then regenerating the docs
table::

    python -m cnncompile.training_options > docs/train-options.md

This module sits below ``frontend/`` and ``train/`` and imports nothing from either.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import values
from .machine import usable_cpus


class BadValue(ValueError):
    """A value an option refuses; ``str()`` is the spec's wording, :meth:`cli` the flag's."""

    def __init__(self, option: TrainOption, value: Any, hint: str = ""):
        self.option, self.value, self.hint = option, value, hint
        super().__init__(f"must be {option.expected()}{hint}. Received: {value!r}")

    def cli(self, text: str) -> str:
        """One line about the flag's text: ``'x' is not a valid integer``."""
        number = isinstance(self.value, (int, float)) and not isinstance(self.value, bool)
        if self.option.kind in (int, float) and not number:
            noun = "integer" if self.option.kind is int else "number"
            return f"{values.shown(text)} is not a valid {noun}"
        shown = text if _is_number(text) and len(text) <= 40 else values.shown(text)
        return f"{shown} is not {self.option.expected()}{self.hint}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class TrainOption:
    """One training option: spec key and TrainConfig field ``name``, its values and its flag.

    ``kind`` is int, float, bool or str. Numbers lie in [low, high] (an end is open when
    ``low_open``/``high_open``; None: unbounded); ``high_of`` instead measures the upper bound
    where the option runs (the CPUs there), ``high_words`` saying what it is; strings are one of ``choices``, or match
    ``pattern`` when there are no choices (``values`` then says in words what matches, e.g.
    "cpu, cuda or cuda:N"). ``optional`` admits None (the spec's `null`: "not
    given"). ``flag`` is the `cnncompile train` flag (default ``--name-with-dashes``; "" for
    none); ``in_spec`` False keeps it out of the `train:` section. ``extension`` marks what the
    textbook does not have.
    """

    name: str
    kind: type
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    high_of: Callable[[], int] | None = None
    high_words: str = ""
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    values: str = ""
    optional: bool = False
    flag: str | None = None
    in_spec: bool = True
    extension: bool = False

    @property
    def cli_flag(self) -> str:
        """The `cnncompile train` flag, or "" when the option has none."""
        return ("--" + self.name.replace("_", "-")) if self.flag is None else self.flag

    # -- what the values are -----------------------------------------------------------------
    def expected(self) -> str:
        """The accepted values in words: 'a positive integer', 'in (0, 10]', 'one of a, b'."""
        if self.kind is bool:
            return "on or off (true or false)"
        if self.kind is str:
            if self.choices:
                return "one of " + ", ".join(self.choices)
            if self.values:
                return self.values
            return f"a string matching {self.pattern}" if self.pattern else "a string"
        high = self.upper()
        if self.kind is int and self.low in (0, 1) and high is not None:
            text = f"{values.range_text(int, self.low)} up to {high:,}"  # a positive integer ...
        else:
            text = values.range_text(self.kind, self.low, high, self.low_open, self.high_open)
        return f"{text} ({self.high_words})" if self.high_words else text

    def upper(self) -> float | None:
        """The upper bound here: ``high``, or what ``high_of`` measures on this machine."""
        return self.high_of() if self.high_of is not None else self.high

    def values_text(self) -> str:
        """The accepted values, for the docs table."""
        if self.kind is bool:
            return "on, off"
        if self.choices:
            return ", ".join(self.choices)
        if self.high_of is not None:  # the docs must not depend on the machine that made them
            return f"{values.range_text(int, self.low)} up to {self.high_words}"
        text = self.expected()
        return text + (", or none" if self.optional else "")

    def default_text(self) -> str:
        """The default as a user writes it."""
        if self.default is None:
            return "none"
        if self.kind is bool:
            return "on" if self.default else "off"
        return values.number_text(self.default) if self.kind in (int, float) else str(self.default)

    # -- reading a value ---------------------------------------------------------------------
    def parse(self, value: Any) -> Any:
        """The canonical value of ``value`` (a YAML scalar), or :class:`BadValue`.

        The rules are :mod:`cnncompile.values`', as for layer options; the wording is the
        table's (``expected``).

        >>> OPTIONS_BY_NAME["learning_rate"].parse(1e-3)
        0.001
        >>> OPTIONS_BY_NAME["epochs"].parse(0)
        Traceback (most recent call last):
        ...
        cnncompile.training_options.BadValue: must be a positive integer up to 100,000. Received: 0
        """
        if value is None or (self.optional and isinstance(value, str)
                             and value.lower() == "none"):
            if self.optional:
                return None
            raise BadValue(self, value)
        try:
            return self._parse_value(value)
        except values.ValueRefused as e:
            raise BadValue(self, value, e.hint) from None

    def parse_text(self, text: str) -> Any:
        """A flag's text read as the spec file would read it (a YAML 1.2 scalar), then parsed.

        >>> OPTIONS_BY_NAME["epochs"].parse_text("010"), OPTIONS_BY_NAME["learning_rate"].parse_text(".5")
        (10, 0.5)
        """
        return self.parse(values.scalar(text))

    def _parse_value(self, value: Any) -> Any:
        if self.kind is bool:
            return values.boolean(value)
        if self.kind is str:
            value = values.choice(value, self.choices) if self.choices else value
            if not isinstance(value, str) or (self.pattern and not re.fullmatch(self.pattern, value)):
                raise BadValue(self, value)
            return value
        if self.kind is int:
            return values.integer(value, self.low, self.upper())
        return values.number(value, self.low, self.high, self.low_open, self.high_open)


@dataclass(frozen=True)
class OptimizerRule:
    """What an optimiser keeps, per trainable parameter: the one record of its state size.

    ``slots`` are the parameter-shaped float32 tensors carried from step to step (and saved in
    a checkpoint as ``slot/param``) by both backends; ``step_count`` adds a scalar ``t`` per
    parameter (Adam's bias correction). ``work_copies`` counts the parameter-sized buffers the
    NumPy engine keeps beside them (Adam's flat gradient and step buffers), which the memory
    estimate adds. The update rules themselves are ``backends/numpy/optim.py``'s.
    """

    name: str
    slots: tuple[str, ...] = ()
    step_count: bool = False
    work_copies: int = 0


OPTIMIZER_RULES: dict[str, OptimizerRule] = {r.name: r for r in (
    OptimizerRule("adam", ("m", "v"), step_count=True, work_copies=2),
    OptimizerRule("sgd"),
    OptimizerRule("momentum", ("v",)),
)}

# Upper bounds far above any real run that still refuse a typo's run of digits up front
MAX_EPOCHS = 100_000
MAX_BATCH = 1 << 20

OPTIONS: tuple[TrainOption, ...] = (
    TrainOption("epochs", int, 10, "Passes over the training set.", low=1, high=MAX_EPOCHS),
    TrainOption("batch_size", int, 10, "Samples per minibatch step (the memory check then "
                "refuses a batch the machine cannot hold).", low=1, high=MAX_BATCH),
    TrainOption("optimizer", str, "adam", "adam (beta1 0.9, beta2 0.999, epsilon 1e-8), sgd, "
                "or momentum (ext): sgd with the `momentum` coefficient.",
                choices=tuple(OPTIMIZER_RULES)),
    TrainOption("learning_rate", float, 0.001, "The starting learning rate (lr_schedule may "
                "lower it as training goes).", low=0.0, high=10.0, low_open=True, flag="--lr"),
    TrainOption("momentum", float, 0.9, "The momentum optimizer's velocity decay.",
                low=0.0, high=1.0, high_open=True, extension=True),
    TrainOption("l1_decay", float, 0.0, "Decoupled L1 decay of kernels and weights "
                "(l1 * sign(w) added to each step).", low=0.0, high=1.0, flag="--l1"),
    TrainOption("l2_decay", float, 0.0, "Decoupled L2 decay of kernels and weights "
                "(l2 * w added to each step).", low=0.0, high=1.0, flag="--l2"),
    TrainOption("seed", int, 0, "The seed of every random draw: initialisation, shuffling, "
                "dropout, noise and augmentation.", low=0, high=2**32 - 1, extension=True),
    TrainOption("init", str, "normal", "normal: N(0, 0.030) as the textbook; he (ext): "
                "N(0, sqrt(2 / fan_in)).", choices=("normal", "he")),
    TrainOption("report", int, 1, "Print an epoch line every K epochs (and always the last).",
                low=1, high=MAX_EPOCHS),
    TrainOption("lr_schedule", str, "constant", "cosine: per step from the rate down to 0 over "
                "the run; step: /10 after half and after three quarters of the epochs.",
                choices=("constant", "cosine", "step"), extension=True),
    TrainOption("augment", str, "none", "flip: each training image mirrored left-right with "
                "probability 1/2; flip_shift: then moved by up to max(1, min(H, W) // 14) "
                "pixels each way, the uncovered border zero; flip_cutout: then a square of side "
                "max(1, min(H, W) // 4) around a uniformly drawn pixel is zeroed; flip_shift_cutout: "
                "both, the shift first.",
                choices=("none", "flip", "flip_shift", "flip_cutout", "flip_shift_cutout"),
                extension=True),
    TrainOption("label_smoothing", float, 0.0, "Softmax heads of K classes are trained towards "
                "1 - e + e/K on the true class and e/K on the others; the validation loss stays "
                "the plain cross-entropy.", low=0.0, high=1.0, high_open=True, extension=True),
    TrainOption("validation", float, 0.05, "The share of the training set held out for "
                "validation; a set without a test split gets the textbook's split, and this "
                "share only moves samples between train and validation.", low=0.0, high=0.5,
                extension=True),
    TrainOption("limit", int, None, "Train on the first N samples of the shuffled training set.",
                low=1, high=2**31 - 1, optional=True, extension=True),
    # which epoch's weights the run keeps, and when it stops (train/selection.py)
    TrainOption("keep", str, "best", "best: the weights of the epoch with the lowest validation "
                "loss (several heads: the sum of theirs, which ranks epochs as their mean does; a "
                "tie keeps the earlier epoch), which the final test "
                "measures and the checkpoint holds; last: the last epoch's. Without validation "
                "samples the last epoch's are kept.", choices=("best", "last"), extension=True),
    TrainOption("patience", int, None, "Stop after N epochs in a row without a lower validation "
                "loss; none trains every epoch.", low=1, high=100_000, optional=True,
                extension=True),
    TrainOption("bn_recalibrate", bool, True, "After training, recompute batch-norm running "
                "statistics from the training data with the final weights (precise BN); off "
                "keeps the textbook's running averages.", extension=True),
    # where training runs: the same model and loop on another engine (train/torch_loop.py)
    TrainOption("backend", str, "numpy", "numpy: the textbook's engine; torch: the same model "
                "on PyTorch (the extra cnncompile[torch]), for a GPU or several processes.",
                choices=("numpy", "torch"), in_spec=False, extension=True),
    TrainOption("device", str, "auto", "torch: auto (a GPU when present), cpu or cuda.",
                choices=("auto", "cpu", "cuda"), in_spec=False, extension=True),
    TrainOption("workers", int, 1, "torch: processes on this machine sharing each global batch "
                "(gloo on CPUs, NCCL on GPUs); --batch-size stays the global batch. Each process needs "
                "a CPU of its own.", low=1, high_of=usable_cpus,
                high_words="the CPUs this process may use", in_spec=False, extension=True),
)

OPTIONS_BY_NAME: dict[str, TrainOption] = {o.name: o for o in OPTIONS}
SPEC_OPTIONS: dict[str, TrainOption] = {o.name: o for o in OPTIONS if o.in_spec}
DEFAULTS: dict[str, Any] = {o.name: o.default for o in OPTIONS}


def markdown() -> str:
    """docs/train-options.md: every option with its flag, values, default and meaning."""
    lines = [
        "# Training options",
        "",
        "<!-- Generated from cnncompile/training_options.py; do not edit. Regenerate with:",
        "     python -m cnncompile.training_options > docs/train-options.md -->",
        "",
        "Each option can be set in the spec's `train:` section and on the `cnncompile train`",
        "command line; both accept exactly the same values (a flag's text is read as the spec",
        "file reads it). A flag overrides the spec, which overrides the default. *(ext)* marks",
        "what the textbook does not have.",
        "",
        "| `train:` key | flag | values | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for o in OPTIONS:
        key = f"`{o.name}`" if o.in_spec else f"(`{o.name}`: flag only)"
        flag = f"`{o.cli_flag}`" if o.cli_flag else "(spec only)"
        ext = " *(ext)*" if o.extension else ""
        cells = [key + ext, flag, o.values_text(), o.default_text(), o.help]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
