"""What the training loop asks of an engine: one interface over NumPy batches.

The loop (``train/loop.py``) draws batches, augments them and keeps every count, checkpoint and
report; an engine only computes. Two engines implement the interface: :class:`NumpyEngine`
(the textbook's engine, the default) and ``train.torch_loop.TorchEngine`` (the PyTorch backend,
on a GPU or across processes). An engine is built by a factory
``make(graph, params, optimizer) -> engine`` from the loop's fresh or resumed parameters and
its engine optimiser (whose options and loaded state the engine adopts).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..backends.numpy.losses import LossResult, loss_and_grad
from ..machine import usable_cpus


class StepEngine(Protocol):
    """Forward, loss, backward and update over NumPy batches; parameters in IR layouts."""

    optimizer: object  # has ``lr`` and ``state_dict()`` in the engine's format
    writes: bool  # this process writes checkpoints and reports (rank 0 of a multi-process run)

    def forward_loss(self, x: np.ndarray, y: np.ndarray, label_smoothing: float,
                     rng: np.random.Generator) -> LossResult:
        """Training forward of the whole batch and its loss (nothing updated yet)."""

    def update(self, result: LossResult, lr: float) -> None:
        """Backward from ``result.grad`` and one optimiser step at rate ``lr``."""

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Inference logits of a batch."""

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Every parameter and running statistic, float32, under its IR name."""

    def load_params(self, params: dict[str, np.ndarray]) -> None:
        """Replace the weights: the hook through which batch-norm statistics recalibrated
        after training (``train/recalibrate.py``) reach the engine before the test report."""

    def max_over_ranks(self, value: int) -> int:
        """The largest of every process's ``value`` (one process: ``value``); a collective
        that fails because a process ended raises :class:`~cnncompile.errors.WorkerFailed`."""

    def describe(self) -> dict:
        """Where it trains: ``backend``, ``device``, ``workers`` and ``threads`` (per worker)."""

    def close(self) -> None:
        """Release processes and devices."""


class NumpyEngine:
    """The NumPy engine: the loop's ``params`` dict is updated in place."""

    writes = True

    def __init__(self, graph, params: dict[str, np.ndarray], optimizer):
        from ..backends.numpy import Executor

        self.graph, self._params, self.optimizer = graph, params, optimizer
        self.executor = Executor(graph)

    @property
    def params(self) -> dict[str, np.ndarray]:
        return self._params

    def forward_loss(self, x, y, label_smoothing, rng) -> LossResult:
        logits = self.executor.forward(self._params, x, training=True, rng=rng)
        return loss_and_grad(self.graph.heads, logits, y, label_smoothing)

    def update(self, result: LossResult, lr: float) -> None:
        grads = self.executor.backward(result.grad)
        self.optimizer.lr = lr
        self.optimizer.step(self._params, grads)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self.executor.forward(self._params, x)

    def load_params(self, params: dict[str, np.ndarray]) -> None:
        for k, v in params.items():
            self._params[k][...] = v

    def max_over_ranks(self, value: int) -> int:
        return value

    def describe(self) -> dict:
        return {"backend": "numpy", "device": "cpu", "workers": 1, "threads": _blas_threads()}

    def close(self) -> None:
        pass


def _blas_threads() -> int:
    """The threads NumPy's BLAS runs on (threadpoolctl reads them; without it, the cores)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return usable_cpus()
    return max((i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"),
               default=1)
