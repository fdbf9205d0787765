"""Parameters: initialisation, validation and .npz loading."""

from __future__ import annotations

import numpy as np
import pytest

from cnncompile.artifacts.weights import load_params
from cnncompile.backends.numpy import init_params, validate_params
from cnncompile.errors import DataError

LAYERS = "[[conv, {ksize: 5, chn: 64, actions: LAB}], [add, {actions: B}, [conv, {ksize: 3, chn: 64}]], 200]"


@pytest.fixture
def g(graph):
    return graph(LAYERS, "[8, 8, 16]")


def test_init_matches_the_graph_and_the_textbook_rule(g):
    params = init_params(g)
    assert [(k, v.shape) for k, v in params.items()] == [(p.name, p.shape) for p in g.params()]
    assert all(v.dtype == np.float32 for v in params.values())
    assert abs(params["conv.kernel"].std() - 0.030) < 0.001
    assert abs(params["full.weight"].std() - 0.030) < 0.001
    assert not params["conv.bias"].any() and not params["output.bias"].any()
    assert np.all(params["add/bn.scale"] == 1) and not params["add/bn.shift"].any()
    assert np.all(params["conv/bn.var"] == 1) and not params["conv/bn.mean"].any()


def test_he_init_scales_by_fan_in(g):
    params = init_params(g, init="he")
    assert abs(params["conv.kernel"].std() - np.sqrt(2 / (5 * 5 * 16))) < 0.003
    assert abs(params["full.weight"].std() - np.sqrt(2 / (8 * 8 * 64))) < 0.0005


def test_init_is_deterministic_per_seed(g):
    a, b, c = init_params(g, seed=1), init_params(g, seed=1), init_params(g, seed=2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv.kernel"], c["conv.kernel"])


def test_unknown_init_is_an_error(g):
    with pytest.raises(DataError, match="init='xavier'"):
        init_params(g, init="xavier")


@pytest.mark.parametrize("mutate, message", [
    (lambda p: p.pop("add/conv.bias"), "parameter `add/conv.bias` is missing"),
    (lambda p: p.update({"extra.kernel": np.zeros(1)}), "`extra.kernel` is not a parameter"),
    (lambda p: p.update({"output.bias": np.zeros(5)}),
     r"parameter `output.bias` has the wrong shape. Received: shape=\[5\], expected \[3\]"),
    (lambda p: p["full.weight"].__setitem__((0, 0), np.nan), "parameter `full.weight` contains NaN"),
    (lambda p: p.update({"conv.bias": np.zeros(64, np.int32)}), "parameter `conv.bias` is not a float"),
])
def test_validate_names_the_first_bad_key(g, mutate, message):
    params = init_params(g)
    mutate(params)
    with pytest.raises(DataError, match=f"w.npz: {message}"):
        validate_params(g, params, source="w.npz")


def test_validate_ignores_reserved_keys(g):
    params = init_params(g)
    params["__meta__"] = np.array("{}")
    validate_params(g, params)


def test_load_round_trip(g, tmp_path):
    params = init_params(g, seed=4)
    path = tmp_path / "w.npz"
    np.savez(path, __meta__=np.array('{"epoch": 3}'), **{k: v.astype(np.float64)
                                                         for k, v in params.items()})
    loaded = load_params(path, g)
    assert list(loaded) == list(params)
    assert all(loaded[k].dtype == np.float32 and np.array_equal(loaded[k], params[k])
               for k in params)


def test_load_rejects_another_models_file(g, graph, tmp_path):
    other = graph("[[conv, {ksize: 3, chn: 4}]]", "[8, 8, 16]")
    path = tmp_path / "w.npz"
    np.savez(path, **init_params(other))
    with pytest.raises(DataError, match="w.npz: parameter `conv/bn.mean` is missing|has the wrong"):
        load_params(path, g)


def test_load_unreadable_files(g, tmp_path):
    with pytest.raises(DataError, match="no such weights file"):
        load_params(tmp_path / "nope.npz", g)
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    with pytest.raises(DataError, match="not an .npz file"):
        load_params(bad, g)
