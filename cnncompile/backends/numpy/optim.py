"""Optimisers: SGD, momentum and Adam with the textbook's decoupled L1/L2 decay.

Every trainable parameter (batch-norm scale and shift included, spec-format section 7) gets the
chosen optimiser's step direction ``d``. For conv kernels and dense weights only (names ending
in ``.kernel`` / ``.weight``), ``l2 * w + l1 * sign(w)`` is then added to ``d``; the update is
``w -= lr * d``. Adam (beta1 0.9, beta2 0.999, eps 1e-8 added after the square root) keeps its
bias-correction step count per parameter, as the textbook does.

The update rules below (:func:`apply_step`, :func:`momentum_direction`,
:func:`adam_direction`) work on NumPy arrays and torch tensors alike, so the torch backend
(``backends/torch/optim.py``) runs the same ones; what each optimiser keeps per parameter is
its entry in the option table's :data:`~cnncompile.training_options.OPTIMIZER_RULES`.
"""

from __future__ import annotations

import numpy as np

from ...errors import DataError
from ...training_options import OPTIMIZER_RULES


def decays(name: str) -> bool:
    """Whether L1/L2 decay applies to the parameter called ``name``."""
    return name.endswith(".kernel") or name.endswith(".weight")


def apply_step(name: str, w, d, lr: float, l1: float, l2: float, sign) -> None:
    """``w -= lr * d``, with the textbook's decoupled decay ``l2 * w + l1 * sign(w)`` added to
    the direction of kernels and weights; ``d`` is scratch. Works on NumPy arrays and torch
    tensors alike (``sign`` is the library's), so both backends share the one rule."""
    if decays(name):
        if l2:
            d += l2 * w
        if l1:
            d += l1 * sign(w)
    d *= lr
    w -= d


def momentum_direction(v, g, momentum: float) -> None:
    """Heavy-ball momentum as PyTorch defines it, in place: ``v = mu * v + g`` (the direction)."""
    v *= momentum
    v += g


def adam_direction(m, v, g, d, c1, c2, beta1: float, beta2: float, eps: float, xp) -> None:
    """Adam's direction into ``d``, moments updated in place; ``xp`` is numpy or torch.

    ``m += (1 - b1)(g - m)``, ``v += (1 - b2)(g^2 - v)``, ``d = m c1 / (sqrt(v) c2 + eps)``
    with the bias corrections ``c1 = 1 / (1 - b1^t)`` and ``c2 = 1 / sqrt(1 - b2^t)``.
    """
    xp.subtract(g, m, out=d)
    d *= 1 - beta1
    m += d
    xp.multiply(g, g, out=d)
    d -= v
    d *= 1 - beta2
    v += d
    xp.sqrt(v, out=d)
    d *= c2
    d += eps
    xp.divide(m, d, out=d)
    d *= c1


class Optimizer:
    """Base: ``step(params, grads)`` updates ``params`` in place (float32 arrays)."""

    kind = "sgd"

    def __init__(self, lr: float, l1: float = 0.0, l2: float = 0.0):
        self.lr = float(lr)
        self.l1 = float(l1)
        self.l2 = float(l2)
        self.state: dict[str, dict[str, np.ndarray]] = {}

    def direction(self, name: str, g: np.ndarray) -> np.ndarray:
        """The step direction for ``g``, as a fresh array that ``step`` may scale in place."""
        return g.copy()

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """One update of every parameter that has a gradient."""
        for name, g in grads.items():
            w = params[name]
            apply_step(name, w, self.direction(name, g), self.lr, self.l1, self.l2, np.sign)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Optimiser state as flat ``slot/param_name`` numpy arrays (for a checkpoint .npz)."""
        out = {"kind": np.array(self.kind)}
        for name, slots in self.state.items():
            for slot, a in slots.items():
                out[f"{slot}/{name}"] = a.copy()
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state_dict` returned; DataError if it is another optimiser's."""
        self.state = {}
        for slot, name, a in state_entries(state, self.kind):
            self.state.setdefault(name, {})[slot] = np.array(a)


def state_entries(state: dict[str, np.ndarray], kind: str):
    """(slot, parameter name, array) of a saved optimiser state, once it is ``kind``'s (the
    format both backends write: ``kind`` and ``slot/param`` arrays).

    Raises:
        DataError: the state is another optimiser's.
    """
    found = str(state.get("kind", ""))
    if found != kind:
        raise DataError(f"optimiser state is for {found or 'an unknown optimiser'!r}, "
                        f"not {kind!r}")
    for key, a in state.items():
        if key != "kind":
            slot, _, name = key.partition("/")
            yield slot, name, a


class SGD(Optimizer):
    """Plain gradient descent: d = g."""


class Momentum(Optimizer):
    """Heavy-ball momentum as PyTorch defines it: v = mu * v + g, d = v."""

    kind = "momentum"

    def __init__(self, lr: float, l1: float = 0.0, l2: float = 0.0, momentum: float = 0.9):
        super().__init__(lr, l1, l2)
        self.momentum = float(momentum)

    def direction(self, name, g):
        s = self.state.setdefault(name, {})
        if "v" not in s:
            s["v"] = np.zeros_like(g)
        momentum_direction(s["v"], g, self.momentum)
        return s["v"].copy()


class Adam(Optimizer):
    """Adam with per-parameter bias correction; eps is added after the square root.

    The moments of all parameters live in two flat buffers (``state[name]["m"]`` and ``"v"``
    are views into them), so one step is a dozen whole-buffer operations rather than a dozen
    per parameter.
    """

    kind = "adam"

    def __init__(self, lr: float, l1: float = 0.0, l2: float = 0.0, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8):
        super().__init__(lr, l1, l2)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self._layout: list[tuple[str, tuple[int, ...]]] = []
        self._flat: dict[str, np.ndarray] = {}

    def _gather(self, grads: dict[str, np.ndarray]) -> np.ndarray:
        """The gradients as one flat buffer; (re)builds the flat moments for a new layout."""
        layout = [(name, g.shape) for name, g in grads.items()]
        dtype = np.result_type(*grads.values())
        if layout != self._layout or self._flat["g"].dtype != dtype:
            total = sum(g.size for g in grads.values())
            slots = OPTIMIZER_RULES[self.kind].slots  # and the two work buffers g and d
            flat = {k: np.zeros(total, dtype) for k in (*slots, "g", "d")}
            off = 0
            for name, shape in layout:
                size = int(np.prod(shape))
                s = self.state.setdefault(name, {})
                for k in slots:
                    if k in s:
                        flat[k][off:off + size] = s[k].reshape(-1)
                    s[k] = flat[k][off:off + size].reshape(shape)
                s.setdefault("t", np.zeros((), np.int64))
                off += size
            self._layout, self._flat = layout, flat
        return np.concatenate([g.reshape(-1) for g in grads.values()], out=self._flat["g"])

    def _corrections(self, grads) -> tuple:
        """Bias corrections 1/(1 - b1^t) and 1/sqrt(1 - b2^t), per parameter if t differs."""
        steps = []
        for name in grads:
            s = self.state[name]
            s["t"] = np.array(int(s["t"]) + 1, np.int64)
            steps.append(int(s["t"]))
        t = np.array(steps, np.float64)
        c1, c2 = 1 / (1 - self.beta1 ** t), 1 / np.sqrt(1 - self.beta2 ** t)
        if np.all(t == t[0]):
            return c1[0], c2[0]
        sizes = [g.size for g in grads.values()]
        dtype = self._flat["d"].dtype
        return np.repeat(c1, sizes).astype(dtype), np.repeat(c2, sizes).astype(dtype)

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        if not grads:
            return
        g = self._gather(grads)
        c1, c2 = self._corrections(grads)
        d = self._flat["d"]
        adam_direction(self._flat["m"], self._flat["v"], g, d, c1, c2, self.beta1, self.beta2,
                       self.eps, np)
        off = 0
        for name, gi in grads.items():
            di = d[off:off + gi.size].reshape(gi.shape)
            off += gi.size
            apply_step(name, params[name], di, self.lr, self.l1, self.l2, np.sign)

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        super().load_state_dict(state)
        self._layout = []  # rebuild the flat moments from the loaded ones at the next step


# the implementation of each optimiser the option table names (a test checks the two agree)
OPTIMIZER_CLASSES: dict[str, type[Optimizer]] = {c.kind: c for c in (SGD, Momentum, Adam)}


def make_optimizer(name: str, lr: float = 0.001, l1: float = 0.0, l2: float = 0.0,
                   **options) -> Optimizer:
    """The optimiser called ``name`` (adam, sgd, momentum), with decoupled L1/L2 decay.

    >>> opt = make_optimizer("sgd", lr=0.5)
    >>> w = {"d.weight": np.ones(2, np.float32)}
    >>> opt.step(w, {"d.weight": np.array([1.0, -1.0], np.float32)}); w["d.weight"].tolist()
    [0.5, 1.5]
    """
    if name not in OPTIMIZER_RULES:
        raise DataError(f"unknown optimizer. Received: optimizer={name!r}, expected one of "
                        f"{', '.join(OPTIMIZER_RULES)}")
    return OPTIMIZER_CLASSES[name](lr, l1, l2, **options)
