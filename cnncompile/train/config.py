"""Training options: command-line flags over the spec's `train:` section over the textbook's.

The textbook's defaults (spec-format section 7): 10 epochs, batch size 10, Adam with learning
rate 0.001, no decay, N(0, 0.030) initialisation, a report every epoch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class TrainConfig:
    """Every option the training loop reads; ``from_sources`` fills it in priority order."""

    epochs: int = 10
    batch_size: int = 10
    optimizer: str = "adam"
    learning_rate: float = 0.001
    momentum: float = 0.9
    l1_decay: float = 0.0
    l2_decay: float = 0.0
    seed: int = 0
    init: str = "normal"
    report: int = 1
    lr_schedule: str = "constant"  # constant | cosine | step
    augment: str = "none"  # none | flip | flip_shift | flip_cutout
    label_smoothing: float = 0.0
    validation: float = 0.05
    limit: int | None = None
    # where training runs (the torch backend: train/torch_loop.py)
    backend: str = "numpy"  # numpy | torch
    device: str = "auto"  # auto | cpu | cuda (torch only)
    workers: int = 1  # processes on this machine (torch only)

    @classmethod
    def from_sources(cls, spec_train: dict, flags: dict) -> TrainConfig:
        """Flags (None = not given) override the spec's `train:` keys, which override defaults."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in spec_train.items() if k in names}
        values.update({k: v for k, v in flags.items() if v is not None})
        unknown = set(values) - names
        if unknown:
            raise TypeError(f"unknown training options {sorted(unknown)}")
        return cls(**values)

    def replace(self, flags: dict) -> TrainConfig:
        """This configuration with the given (non-None) flags changed, for a resumed run."""
        return TrainConfig(**{**asdict(self), **{k: v for k, v in flags.items() if v is not None}})

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
