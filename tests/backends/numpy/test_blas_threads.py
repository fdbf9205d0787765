"""The engine keeps BLAS on one thread while it runs and gives the setting back afterwards."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from cnncompile.backends.numpy.parallel import single_threaded_blas


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


@pytest.fixture
def two_blas_threads():
    if not _blas_threads():
        pytest.skip("numpy reports no BLAS library to threadpoolctl")
    with threadpool_limits(limits=2, user_api="blas"):
        yield


def test_blas_is_single_threaded_inside_and_restored_after(two_blas_threads):
    before = _blas_threads()
    with single_threaded_blas():
        assert set(_blas_threads()) == {1}
        with single_threaded_blas():  # nested: still one thread, outer block restores
            assert set(_blas_threads()) == {1}
        assert set(_blas_threads()) == {1}
    assert _blas_threads() == before


def test_a_block_in_another_thread_inside_ours_does_not_restore_early(two_blas_threads):
    before = _blas_threads()
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with single_threaded_blas():
            inside.set()
            leave.wait()

    with single_threaded_blas():
        t = threading.Thread(target=other)
        t.start()
        inside.wait()
        leave.set()
        t.join()
        assert set(_blas_threads()) == {1}, "restored while this block still runs"
    assert _blas_threads() == before


def test_executor_runs_with_one_blas_thread(two_blas_threads, graph, monkeypatch):
    """The executor's forward and backward run inside the block (seen from a dense matmul)."""
    from cnncompile.backends.numpy import Executor, dense, init_params

    seen = []
    matmul = np.matmul

    def spy(*a, **k):
        seen.append(tuple(_blas_threads()))
        return matmul(*a, **k)

    g = graph("[4]", "[5]")
    ex = Executor(g, np.float64)
    params = init_params(g)
    monkeypatch.setattr(dense.np, "matmul", spy)
    y = ex.forward(params, np.ones((2, 5)), training=True)
    ex.backward(np.ones_like(y))
    monkeypatch.undo()
    assert seen and all(set(s) == {1} for s in seen), seen
    assert _blas_threads() == [2] * len(_blas_threads())
