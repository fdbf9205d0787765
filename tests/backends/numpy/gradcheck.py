"""Numerical gradient checks: central differences on the float64 engine.

The scalar under test is ``sum(logits * R)`` for a fixed random ``R``, so d loss / d logits is
``R`` and every parameter gradient the executor returns can be compared with a finite
difference. Dropout and noise draw from a generator re-seeded for every forward pass, so each
pass sees the same mask.
"""

from __future__ import annotations

import numpy as np

from cnncompile.backends.numpy import Executor, init_params

ZERO_GRAD = 1e-7


def random_params(graph, seed: int) -> dict[str, np.ndarray]:
    """float64 parameters with non-trivial biases, scales and running statistics."""
    rng = np.random.default_rng(seed + 100)
    params = {k: v.astype(np.float64) for k, v in init_params(graph, seed, init="he").items()}
    for p in graph.params():
        if p.role in ("bias", "shift", "mean"):
            params[p.name] = rng.normal(0.0, 0.2, p.shape)
        elif p.role in ("scale", "var"):
            params[p.name] = rng.uniform(0.5, 1.5, p.shape)
    return params


def grad_errors(graph, seed: int = 0, batch: int = 3, eps: float = 1e-6,
                max_entries: int = 10, after_forward=None) -> dict[str, float]:
    """Relative error ||analytic - numeric|| / max(||analytic||, ||numeric||) per parameter.

    Where both norms are below ZERO_GRAD the absolute difference is returned instead.

    At most ``max_entries`` entries of each parameter (chosen at random) are differenced.
    ``after_forward(executor)`` runs between the analytic forward and backward (tests use it
    to plant a known bug and show that the check catches it).
    """
    rng = np.random.default_rng(seed)
    ex = Executor(graph, dtype=np.float64)
    params = random_params(graph, seed)
    x = rng.normal(0.0, 1.0, (batch,) + tuple(graph.input_shape))
    r = rng.normal(0.0, 1.0, (batch,) + tuple(graph.output_shape))

    def loss() -> float:
        y = ex.forward(params, x, training=True, rng=np.random.default_rng(seed + 7))
        return float(np.sum(y * r))

    loss()
    if after_forward is not None:
        after_forward(ex)
    grads = ex.backward(r)
    errors = {}
    for name, g in grads.items():
        a = params[name]
        idx = rng.choice(a.size, size=min(a.size, max_entries), replace=False)
        numeric = []
        for i in idx:
            orig = a.flat[i]
            a.flat[i] = orig + eps
            up = loss()
            a.flat[i] = orig - eps
            down = loss()
            a.flat[i] = orig
            numeric.append((up - down) / (2 * eps))
        analytic = g.reshape(-1)[idx]
        numeric = np.array(numeric)
        scale = max(np.linalg.norm(analytic), np.linalg.norm(numeric))
        diff = float(np.linalg.norm(analytic - numeric))
        # a gradient that is truly 0 (a conv bias right before batch norm) leaves only
        # rounding noise (~1e-10) in the difference quotient: compare it absolutely
        errors[name] = diff / scale if scale > ZERO_GRAD else diff
    return errors


def worst(errors: dict[str, float]) -> tuple[str, float]:
    name = max(errors, key=errors.get)
    return name, errors[name]
