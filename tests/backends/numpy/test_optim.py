"""Optimisers: the update formulas of spec-format section 7, decay scope, state round trips."""

from __future__ import annotations

import io

import numpy as np
import pytest

from cnncompile.backends.numpy.optim import make_optimizer
from cnncompile.errors import DataError


def _params():
    return {"c.kernel": np.array([1.0, -2.0], np.float32), "c.bias": np.array([0.5], np.float32),
            "bn.scale": np.array([1.0], np.float32), "d.weight": np.array([[0.0]], np.float32)}


def _grads(step: int):
    return {"c.kernel": np.array([0.1, -0.3], np.float32) * step,
            "c.bias": np.array([0.2], np.float32), "bn.scale": np.array([-0.4], np.float32),
            "d.weight": np.array([[0.3]], np.float32)}


def test_adam_matches_the_formula_with_per_parameter_steps():
    opt = make_optimizer("adam", lr=0.01)
    params = _params()
    w = params["c.kernel"].astype(np.float64)
    m = v = np.zeros(2)
    for t in (1, 2, 3):
        g = _grads(t)["c.kernel"].astype(np.float64)
        grads = _grads(t) if t > 1 else {"c.kernel": _grads(t)["c.kernel"]}  # others start late
        opt.step(params, grads)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w -= 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    assert np.allclose(params["c.kernel"], w, rtol=1e-6)
    # c.bias got its first gradient at step 2: two bias-corrected steps of +-1 direction
    assert int(opt.state["c.bias"]["t"]) == 2
    assert params["c.bias"][0] == pytest.approx(0.5 - 0.02, abs=1e-6)


def test_adam_adds_eps_after_the_square_root():
    opt = make_optimizer("adam", lr=1.0)
    params = {"a.bias": np.zeros(1, np.float32)}
    opt.step(params, {"a.bias": np.array([1e-8], np.float32)})
    assert params["a.bias"][0] == pytest.approx(-0.5, rel=1e-3)  # 1e-8 / (1e-8 + 1e-8)


def test_sgd_and_momentum():
    sgd, mom = make_optimizer("sgd", lr=0.1), make_optimizer("momentum", lr=0.1, momentum=0.5)
    a, b = _params(), _params()
    for t in (1, 2):
        sgd.step(a, _grads(t))
        mom.step(b, _grads(t))
    assert np.allclose(a["c.kernel"], [1.0 - 0.1 * 0.3, -2.0 + 0.1 * 0.9])
    # v1 = g1, v2 = 0.5 g1 + g2
    assert np.allclose(b["c.kernel"], [1.0 - 0.1 * (0.1 + 0.25), -2.0 + 0.1 * (0.3 + 0.75)])


def test_decay_is_decoupled_and_only_for_kernels_and_weights():
    opt = make_optimizer("adam", lr=0.1, l1=0.01, l2=0.2)
    params = _params()
    zero = {k: np.zeros_like(v) for k, v in params.items()}
    opt.step(params, zero)  # Adam's own direction is 0: only the decay moves the weights
    assert np.allclose(params["c.kernel"], [1.0 - 0.1 * (0.2 + 0.01), -2.0 - 0.1 * (-0.4 - 0.01)])
    assert params["c.bias"][0] == 0.5 and params["bn.scale"][0] == 1.0
    assert params["d.weight"][0, 0] == 0.0  # sign(0) = 0


def test_batch_norm_scale_uses_the_chosen_optimiser():
    opt = make_optimizer("adam", lr=0.1)
    params = _params()
    opt.step(params, _grads(1))
    assert params["bn.scale"][0] == pytest.approx(1.0 + 0.1, rel=1e-5)  # Adam's first step: lr


@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam"])
def test_state_dict_round_trip_resumes_exactly(kind):
    a, b = make_optimizer(kind, lr=0.05), make_optimizer(kind, lr=0.05)
    pa = _params()
    for t in (1, 2):
        a.step(pa, _grads(t))
    pb = {k: v.copy() for k, v in pa.items()}
    state = a.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    buf = io.BytesIO()
    np.savez(buf, **{f"__opt__/{k}": v for k, v in state.items()})
    buf.seek(0)
    with np.load(buf) as f:
        b.load_state_dict({k[len("__opt__/"):]: f[k] for k in f.files})
    a.step(pa, _grads(3))
    b.step(pb, _grads(3))
    assert all(np.array_equal(pa[k], pb[k]) for k in pa)


def test_state_of_another_optimiser_is_refused():
    with pytest.raises(DataError, match="optimiser state is for 'sgd', not 'adam'"):
        make_optimizer("adam").load_state_dict(make_optimizer("sgd").state_dict())
    with pytest.raises(DataError, match="optimizer='rmsprop'"):
        make_optimizer("rmsprop")
