"""The engine's optimisers (``engine/optim.py``) on torch tensors, with the same state format.

``torch.optim.Adam`` is not used: its weight decay is coupled (added to the gradient), while the
textbook adds ``l2 * w + l1 * sign(w)`` to the *step direction* of kernels and weights only.
The update rules are the engine's own functions, run on tensors (per-parameter Adam step
counts, eps added after the square root), the state each optimiser keeps is the option table's
``OPTIMIZER_RULES`` entry, and :meth:`TorchOptimizer.state_dict` returns exactly the
engine's ``slot/param`` arrays in IR layouts, so a checkpoint's optimiser state resumes on
either backend.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ...ir.layout import from_out_first, to_out_first
from ...training_options import OPTIMIZER_RULES
from ..numpy.optim import adam_direction, apply_step, momentum_direction, state_entries


class TorchOptimizer:
    """SGD, momentum or Adam over ``params`` (IR name -> parameter), updated in place.

    ``lr`` may be changed between steps (schedules). ``step()`` reads each parameter's
    ``.grad`` (a parameter without one steps with a zero gradient, as in the engine).
    """

    def __init__(self, kind: str, params: list[tuple[str, torch.nn.Parameter]], lr: float,
                 l1: float = 0.0, l2: float = 0.0, momentum: float = 0.9, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8):
        self.kind, self.rule, self.params = kind, OPTIMIZER_RULES[kind], list(params)
        self.params_by_name = dict(self.params)  # GraphModule's: each knows its ``ir_layout``
        self.lr, self.l1, self.l2 = float(lr), float(l1), float(l2)
        self.momentum, self.beta1, self.beta2, self.eps = momentum, beta1, beta2, eps
        self.state: dict[str, dict] = {}

    @classmethod
    def like(cls, engine_optimizer, params) -> TorchOptimizer:
        """The torch twin of an engine optimiser: same kind, options and (loaded) state."""
        o = engine_optimizer
        extra = {k: getattr(o, k) for k in ("momentum", "beta1", "beta2", "eps") if hasattr(o, k)}
        opt = cls(o.kind, params, o.lr, o.l1, o.l2, **extra)
        if o.state:
            opt.load_state_dict(o.state_dict())
        return opt

    def zero_grad(self) -> None:
        for _, p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter."""
        for name, w in self.params:
            g = torch.zeros_like(w) if w.grad is None else w.grad
            apply_step(name, w, self._direction(name, g), self.lr, self.l1, self.l2, torch.sign)

    def _direction(self, name: str, g: torch.Tensor) -> torch.Tensor:
        if not self.rule.slots:  # sgd
            return g.clone()
        s = self.state.setdefault(name, {})
        for slot in self.rule.slots:
            if slot not in s:  # (setdefault would build the zeros on every step)
                s[slot] = torch.zeros_like(g)
        if not self.rule.step_count:  # momentum
            momentum_direction(s["v"], g, self.momentum)
            return s["v"].clone()
        s["t"] = s.get("t", 0) + 1
        c1 = 1 / (1 - self.beta1 ** s["t"])
        c2 = 1 / math.sqrt(1 - self.beta2 ** s["t"])
        d = torch.empty_like(g)
        adam_direction(s["m"], s["v"], g, d, c1, c2, self.beta1, self.beta2, self.eps, torch)
        return d

    def state_dict(self) -> dict[str, np.ndarray]:
        """The engine's format: ``kind`` and ``slot/param`` arrays in IR layouts."""
        out = {"kind": np.array(self.kind)}
        for name, slots in self.state.items():
            for slot, a in slots.items():
                if slot == "t":
                    out[f"t/{name}"] = np.array(a, np.int64)
                else:
                    out[f"{slot}/{name}"] = np.ascontiguousarray(from_out_first(
                        self.params_by_name[name].ir_layout, a.detach().cpu().numpy()))
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore a state from :meth:`state_dict` or from the engine's optimiser."""
        where = self.params_by_name
        self.state = {}
        for slot, name, a in state_entries(state, self.kind):
            s = self.state.setdefault(name, {})
            if slot == "t":
                s["t"] = int(a)
            else:
                w = where[name]
                arr = np.ascontiguousarray(to_out_first(w.ir_layout, np.asarray(a)))
                s[slot] = torch.from_numpy(arr).to(device=w.device, dtype=w.dtype)
