"""Which epoch's weights a run keeps (``keep``) and when it stops early (``patience``).

The best epoch is the one with the lowest validation loss (several heads: the sum of their
losses, which ranks epochs as their mean does); a tie keeps the earlier epoch, as Keras's
``EarlyStopping`` does, since a later epoch that is no better has only trained longer. A run
without validation samples has no best epoch: it keeps the last one and refuses ``patience``.

With ``keep: best`` the trainer holds a copy of the best epoch's weights while it trains on.
The checkpoint carries that copy (``best``) and the count of epochs since it, so ``--resume``
and Ctrl-C continue the same count; once the run is finished, the checkpoint's weights are the
kept ones (what ``evaluate``, ``export`` and the report read) and the weights training would
continue from are stored beside them (``last``), for a resume that adds epochs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import DataError

Weights = dict[str, np.ndarray]


def _copy(weights: Weights) -> Weights:
    return {k: np.array(v, np.float32, copy=True) for k, v in weights.items()}


def training_weights(resume) -> Weights:
    """The weights a resumed run trains on from a checkpoint (:class:`Checkpoint`)."""
    return resume.other_weights.get("last", resume.params)


@dataclass
class EpochSelection:
    """The best epoch so far, the epochs since it, and (``keep: best``) its weights."""

    keep: str
    patience: int | None
    best_epoch: int = 0  # 0: no epoch has a finite validation loss yet
    best_loss: float = math.inf
    since_best: int = 0
    stopped_early: bool = False
    weights: Weights | None = None  # the best epoch's, with keep best
    last: Weights | None = None  # the training weights, once the kept ones are loaded

    @classmethod
    def start(cls, config, resume=None, where: str = "--resume") -> EpochSelection:
        """A fresh selection, or the one recorded in the checkpoint ``resume``.

        Raises:
            DataError: ``keep`` differs from the run's (its weights were not kept).
        """
        selection = cls(config.keep, config.patience)
        if resume is None:
            return selection
        recorded = (resume.meta.get("config") or {}).get("keep", config.keep)
        if recorded != config.keep:
            raise DataError(f"{where}: the run was trained with --keep {recorded}, so the "
                            f"weights --keep {config.keep} needs were not kept; resume without "
                            "--keep, or start a new run with another --out")
        kept = resume.meta.get("kept") or {}
        if kept.get("best_epoch"):
            selection.best_epoch = int(kept["best_epoch"])
            selection.best_loss = float(kept["best_val_loss"])
            selection.since_best = int(kept["epochs_since_best"])
        selection.stopped_early = selection.patience_spent()  # a new --patience counts too
        if config.keep == "best" and selection.best_epoch:
            # stored apart unless they are the checkpoint's own weights (the epoch just ended,
            # or a finished run's kept weights)
            selection.weights = _copy(resume.other_weights.get("best", resume.params))
        return selection

    def check_validation(self, samples: int) -> None:
        """Refuse ``patience`` without validation samples: nothing would ever improve."""
        if self.patience is not None and samples == 0:
            raise DataError(f"--patience {self.patience} watches the validation loss, and this "
                            "run has no validation samples: raise --validation or drop "
                            "--patience")

    def patience_spent(self) -> bool:
        return self.patience is not None and self.best_epoch > 0 \
            and self.since_best >= self.patience

    def observe(self, epoch: int, val_loss: float, params: Weights) -> None:
        """Epoch ``epoch`` (from 1) ended with ``val_loss`` and weights ``params``."""
        if math.isfinite(val_loss) and val_loss < self.best_loss:
            self.best_epoch, self.best_loss, self.since_best = epoch, val_loss, 0
            if self.keep == "best":
                self.weights = _copy(params)
        elif self.best_epoch:
            self.since_best += 1
        self.stopped_early = self.patience_spent()

    def kept_epoch(self, last_epoch: int) -> int:
        """The epoch whose weights the run keeps: the best one, or ``last_epoch``."""
        if self.keep == "best" and self.best_epoch:
            return self.best_epoch
        return last_epoch

    def presented_epoch(self, last_epoch: int) -> int:
        """The epoch of the engine's weights now: the kept one once :meth:`load_kept` ran."""
        return self.kept_epoch(last_epoch) if self.last is not None else last_epoch

    def load_kept(self, engine, last_epoch: int) -> None:
        """Put the kept weights in ``engine`` for the final test (keeps the training ones)."""
        if self.kept_epoch(last_epoch) == last_epoch or self.weights is None:
            return
        if self.last is None:
            self.last = _copy(engine.params)
        engine.load_params(self.weights)

    def other_weights(self, epoch: int, inside_epoch: bool) -> dict[str, Weights]:
        """The weight sets a checkpoint taken now stores beside the engine's weights."""
        if self.last is not None:
            return {"last": self.last}
        if self.weights is not None and (inside_epoch or self.best_epoch != epoch):
            return {"best": self.weights}
        return {}

    def record(self, last_epoch: int) -> dict:
        """The checkpoint's ``kept`` record (also what the report page shows)."""
        return {"keep": self.keep, "epoch": self.kept_epoch(last_epoch),
                "best_epoch": self.best_epoch,
                "best_val_loss": self.best_loss if self.best_epoch else None,
                "epochs_since_best": self.since_best, "patience": self.patience,
                "stopped_early": self.stopped_early}

    def describe(self, last_epoch: int, epochs: int) -> str:
        """One line for the output: which epoch's weights were tested, and why the run ended."""
        kept = self.kept_epoch(last_epoch)
        if self.keep == "best" and self.best_epoch:
            why = f"the lowest validation loss, {self.best_loss:.4f}"
        elif self.keep == "best":
            why = "no validation samples to choose by"
        else:
            why = "--keep last"
        line = f"kept the weights of epoch {kept} of {last_epoch} ({why})"
        if self.stopped_early and last_epoch < epochs:
            line += (f"; stopped early: {self.since_best} epochs without a lower validation "
                     f"loss (--patience {self.patience})")
        return line
