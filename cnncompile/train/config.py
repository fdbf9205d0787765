"""Training options: command-line flags over the spec's `train:` section over the textbook's.

:class:`TrainConfig` is made from the option table (``cnncompile/training_options.py``): one
field per option, with the option's default, and every value checked by the option's own rule
when the configuration is built, so a NaN, an infinity, a rate of 0 or an unknown schedule
never reaches the loop. The textbook's defaults (spec-format section 7): 10 epochs, batch size
10, Adam with learning rate 0.001, no decay, N(0, 0.030) initialisation, a report every epoch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, field, make_dataclass

from ..errors import OptionError
from ..training_options import OPTIONS, OPTIONS_BY_NAME, BadValue
from ..wording import closest


class _TrainConfigRules:
    """TrainConfig's behaviour; its fields come from the option table."""

    def __post_init__(self) -> None:
        for option in OPTIONS:
            try:
                value = option.parse(getattr(self, option.name))
            except BadValue as e:
                raise OptionError(f"training option `{option.name}` {e}") from None
            object.__setattr__(self, option.name, value)  # canonical: 1 -> 1.0 for a float

    @classmethod
    def from_dict(cls, values: dict):
        """A configuration from a mapping (a checkpoint's record); unknown names are refused."""
        unknown = [k for k in values if k not in OPTIONS_BY_NAME]
        if unknown:
            raise OptionError(f"unknown training option {unknown[0]!r}"
                              f"{closest(unknown[0], OPTIONS_BY_NAME)}; valid: "
                              + ", ".join(OPTIONS_BY_NAME))
        return cls(**values)

    @classmethod
    def from_sources(cls, spec_train: dict, flags: dict):
        """Flags (None = not given) override the spec's `train:` keys, which override defaults."""
        values = dict(spec_train)
        values.update({k: v for k, v in flags.items() if v is not None})
        return cls.from_dict(values)

    def replace(self, flags: dict):
        """This configuration with the given (non-None) flags changed, for a resumed run."""
        return self.from_dict({**asdict(self), **{k: v for k, v in flags.items()
                                                  if v is not None}})

    def to_dict(self) -> dict:
        return asdict(self)

    def lr_at(self, epoch: int, step: int, steps_per_epoch: int) -> float:
        """The learning rate of step ``step`` (0-based) of epoch ``epoch`` (0-based).

        ``cosine`` decays per step from the rate to 0 over the whole run; ``step`` divides it
        by 10 after half of the epochs and again after three quarters.

        >>> c = TrainConfig(epochs=4, learning_rate=0.1, lr_schedule="step")
        >>> [c.lr_at(e, 0, 5) for e in range(4)]
        [0.1, 0.1, 0.01, 0.001]
        >>> TrainConfig(epochs=2, learning_rate=1.0, lr_schedule="cosine").lr_at(1, 0, 10)
        0.5
        """
        lr = self.learning_rate
        if self.lr_schedule == "cosine":
            t = (epoch * steps_per_epoch + step) / max(1, self.epochs * steps_per_epoch)
            return lr * 0.5 * (1.0 + math.cos(math.pi * t))
        if self.lr_schedule == "step":
            drops = (epoch >= self.epochs * 0.5) + (epoch >= self.epochs * 0.75)
            return lr / 10 ** drops
        return lr


TrainConfig = make_dataclass(
    "TrainConfig",
    [(o.name, o.kind | None if o.optional else o.kind, field(default=o.default))
     for o in OPTIONS],
    bases=(_TrainConfigRules,),
    frozen=True,
)
TrainConfig.__module__ = __name__
TrainConfig.__doc__ = """Every option the training loop reads, one field per option-table entry.

Built from keywords (``TrainConfig(epochs=3)``), a mapping (:meth:`from_dict`) or the spec
and the flags in priority order (:meth:`from_sources`); every value is checked on construction
and an out-of-range one raises :class:`~cnncompile.errors.OptionError`.
"""

__all__ = ["TrainConfig"]
