"""Hostile weights and data files: special files, damaged zips, pickles, bombs, NaN, misfits.

Every input is made in the test's own folder; each must end in one located line (exit 2 from
the CLI, DataError from the library) in well under a second, never a hang or a traceback.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import struct
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cnncompile.artifacts.weights import read_checkpoint, read_npz, read_weights, save_checkpoint
from cnncompile.backends.numpy import init_params
from cnncompile.data.datasets import load_dataset
from cnncompile.data.idx import read_idx
from cnncompile.errors import DataError
from cnncompile.frontend import parse_spec
from cnncompile.ir import lower

SPEC = """\
name: tiny
input: [6, 6, 1]
output: {classes: 3}
layers:
  - [conv, {ksize: 3, chn: 4, actions: LBA}]
  - [max, {stride: 2}]
"""


def within(seconds: float, fn, unblock: Path | None = None):
    """``fn()`` run in a thread: its result or exception, or a failure after ``seconds``.

    For calls that must not open a FIFO: an open blocks until a writer comes, that is for ever,
    so ``seconds`` only bounds how long a failing test takes, not how fast the work must be. A
    call stuck opening the FIFO ``unblock`` is released by opening its other end, so a failing
    test does not hang the suite.
    """
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 -- handed to the test
            box["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if unblock is not None:
            fd = os.open(unblock, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        thread.join(5)
        pytest.fail(f"still running after {seconds} s (it hangs)")
    return box


@pytest.fixture
def model(tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    return spec, lower(parse_spec(SPEC, "tiny.yaml"))


def params_file(path: Path, graph, **changes) -> Path:
    params = {k: v.astype(np.float64) for k, v in init_params(graph, seed=3).items()}
    params.update(changes)
    np.savez(path, **params)
    return path


# -- special files -------------------------------------------------------------------------
def test_a_fifo_as_weights_is_refused_at_once(model, tmp_path, cli, one_line_error):
    spec, graph = model
    fifo = tmp_path / "weights.npz"
    os.mkfifo(fifo)
    box = within(30, lambda: read_checkpoint(fifo), unblock=fifo)
    assert isinstance(box.get("error"), DataError), box
    assert str(box["error"]) == f"{fifo}: is a FIFO (named pipe), not a weights file"
    box = within(60, lambda: cli("export", spec, "--weights", fifo, "-o", tmp_path / "m.onnx"),
                 unblock=fifo)
    one_line_error(box["value"], fifo, "FIFO")
    assert not (tmp_path / "m.onnx").exists()


def test_a_device_and_a_folder_without_checkpoint_are_refused(model, tmp_path, cli, one_line_error):
    spec, graph = model
    with pytest.raises(DataError, match="/dev/zero: is a character device, not a weights file"):
        read_weights("/dev/zero", graph)
    r = cli("evaluate", spec, "--weights", tmp_path, "--data", tmp_path / "none.npz")
    one_line_error(r, tmp_path, "without checkpoint.npz")


# -- damaged archives ----------------------------------------------------------------------
def test_a_truncated_member_is_one_line(model, tmp_path):
    _, graph = model
    good = params_file(tmp_path / "good.npz", graph)
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as zf:  # cut the first member's data short, keep the directory
        info = zf.infolist()[0]
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(data[:start + 80]) + bytes(data[start + info.compress_size:]))
    with pytest.raises(DataError, match=rf"^{bad}: (damaged|member)"):
        read_checkpoint(bad)


def test_pickled_objects_are_never_loaded(model, tmp_path):
    _, graph = model
    path = tmp_path / "pickled.npz"
    np.savez(path, **init_params(graph), evil=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="member `evil` holds Python objects"):
        read_checkpoint(path)


def test_a_zip_bomb_is_refused_from_the_directory_before_inflating(model, tmp_path, cli,
                                                                   one_line_error, monkeypatch):
    spec, graph = model
    path = params_file(tmp_path / "bomb.npz", graph)
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")  # first central-directory entry: claim 4 GiB
    data[central + 24:central + 28] = struct.pack("<I", 0xFFFFFFF0)
    path.write_bytes(bytes(data))
    opened = []  # "before inflating" is an event, not a duration: no member is ever opened
    open_member = zipfile.ZipFile.open

    def recorded(zf, name, *args, **kwargs):
        opened.append(name)
        return open_member(zf, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", recorded)
    r = cli("export", spec, "--weights", path, "-o", tmp_path / "m.onnx")
    one_line_error(r, path, "would inflate to 4.0 GiB")
    assert opened == []
    # a real deflate bomb: 64 MiB of zeros in a few KiB, refused under a small bound
    real = tmp_path / "real.npz"
    np.savez_compressed(real, x=np.zeros(1 << 24, np.float32))
    assert real.stat().st_size < 200_000
    with pytest.raises(DataError, match="member `x` would inflate to 64.0 MiB"):
        read_npz(real, max_member_bytes=1 << 20)


def test_a_header_that_lies_about_the_array_is_refused(tmp_path):
    import io

    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.zeros(4, np.float32))
    path = tmp_path / "lie.npz"  # a valid zip (CRC right) whose array header lies
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.npy", buf.getvalue().replace(b"'shape': (4,)", b"'shape': (9,)"))
    with pytest.raises(DataError, match=r"member `x` is damaged: its header promises \(9,\)"):
        read_npz(path)


# -- values and fit ------------------------------------------------------------------------
def test_misfits_and_weights_that_overflow_float32_name_the_parameter(model, tmp_path, cli,
                                                                      one_line_error):
    spec, graph = model
    params = init_params(graph)
    name = next(iter(params))
    path = params_file(tmp_path / "big.npz", graph, **{name: np.full(params[name].shape, 1e39)})
    r = cli("export", spec, "--weights", path, "-o", tmp_path / "m.onnx")
    one_line_error(r, path, f"`{name}`", "infinite values once cast to float32")
    kernel = next(k for k in params if k.endswith(".kernel"))
    shape = params_file(tmp_path / "shape.npz", graph, **{kernel: np.zeros((1, 2))})
    one_line_error(cli("export", spec, "--weights", shape, "-o", tmp_path / "m.onnx"),
                   f"`{kernel}`", "wrong shape")
    extra = params_file(tmp_path / "extra.npz", graph, **{"conv_7.kernel": np.zeros(2)})
    one_line_error(cli("export", spec, "--weights", extra, "-o", tmp_path / "m.onnx"),
                   "`conv_7.kernel`", "not a parameter of model 'tiny'")


def test_nan_weights_and_negative_running_variance(model, tmp_path, cli, one_line_error):
    spec, graph = model
    params = init_params(graph)
    var = next(k for k in params if k.endswith(".var"))
    nan = params_file(tmp_path / "nan.npz", graph, **{var: np.full(params[var].shape, np.nan)})
    one_line_error(cli("export", spec, "--weights", nan, "-o", tmp_path / "m.onnx"),
                   nan, f"`{var}`", "NaN")
    neg = params_file(tmp_path / "neg.npz", graph, **{var: -np.ones(params[var].shape)})
    one_line_error(cli("export", spec, "--weights", neg, "-o", tmp_path / "m.onnx"),
                   neg, f"`{var}`", "negative")
    assert not (tmp_path / "m.onnx").exists()


# -- run folders ---------------------------------------------------------------------------
def test_a_run_folder_is_accepted_wherever_weights_are(model, tmp_path, cli):
    spec, graph = model
    run = tmp_path / "run"
    params = init_params(graph, seed=5)
    save_checkpoint(run / "checkpoint.npz", params, {"epoch": 1, "name": "tiny"})
    out = tmp_path / "m.onnx"
    r = cli("export", spec, "--weights", run, "-o", out)
    assert r.exit_code == 0, r.output
    assert out.exists()
    rng = np.random.default_rng(0)
    data = tmp_path / "d.npz"
    np.savez(data, x=rng.normal(size=(40, 6, 6, 1)), y=np.arange(40) % 3)
    r = cli("evaluate", spec, "--weights", run, "--data", data, "--format", "json")
    assert r.exit_code == 0, r.output
    assert read_weights(run, graph).params.keys() == params.keys()


# -- data files ----------------------------------------------------------------------------
class Classes:
    kind = "classes"

    def __init__(self, n):
        from cnncompile.frontend.spec import Head

        self.heads = (Head("output", n),)


def test_data_npz_truncated_fifo_and_nan(tmp_path):
    good = tmp_path / "good.npz"
    x = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    np.savez(good, x=x, y=np.arange(30) % 2)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:-200])
    with pytest.raises(DataError, match=rf"^{cut}: not an .npz file"):
        load_dataset(cut, (4,), Classes(2))
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    box = within(30, lambda: load_dataset(fifo, (4,), Classes(2)), unblock=fifo)
    assert str(box.get("error")) == f"{fifo}: is a FIFO (named pipe), not a data file"
    x[7, 2] = np.nan
    nan = tmp_path / "nan.npz"
    np.savez(nan, x=x, y=np.arange(30) % 2)
    with pytest.raises(DataError, match=rf"^{nan}: `x` holds NaN or infinite values as "
                                        r"float32 \(1 of them; the first in sample 7\)"):
        load_dataset(nan, (4,), Classes(2))
    huge = tmp_path / "huge.npz"
    np.savez(huge, x=np.full((30, 4), 1e300), y=np.arange(30) % 2)
    with pytest.raises(DataError, match="`x` holds NaN or infinite values as float32"):
        load_dataset(huge, (4,), Classes(2))


def _idx_header(dims) -> bytes:
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)


@contextlib.contextmanager
def counting_inflation(monkeypatch):
    """Within: ``[n]``, the bytes every gzip reader returned so far."""
    inflated = [0]
    read = gzip.GzipFile.read

    def counted(f, *args):
        data = read(f, *args)
        inflated[0] += len(data)
        return data

    with monkeypatch.context() as m:
        m.setattr(gzip.GzipFile, "read", counted)
        yield inflated


def test_idx_gzip_bombs_and_absurd_headers_are_refused_at_once(tmp_path, monkeypatch):
    absurd = tmp_path / "absurd-idx3-ubyte.gz"
    absurd.write_bytes(gzip.compress(_idx_header((4_000_000_000, 4_000_000_000, 28))))
    bomb = tmp_path / "bomb-idx3-ubyte.gz"  # a plausible header over ~100 MB of zeros
    with gzip.open(bomb, "wb", compresslevel=1) as f:
        f.write(_idx_header((60000, 28, 28)))
        chunk = bytes(1 << 20)
        for _ in range(100):
            f.write(chunk)
    liar = tmp_path / "liar-idx3-ubyte.gz"  # claims 2.3 GB in a few bytes
    liar.write_bytes(gzip.compress(_idx_header((3000, 28, 28_000)) + bytes(100)))
    # "at once" is counted, not timed: no more is inflated than the header promises (bomb: its
    # 60000x28x28 bytes and one more), nothing past the header when the promise is absurd
    header, promised = 16, 60000 * 28 * 28
    for path, what, most in ((absurd, "over the limit", header), (bomb, "holds more",
                             header + promised + 1), (liar, "cannot hold them", header + 100)):
        with counting_inflation(monkeypatch) as inflated, \
                pytest.raises(DataError, match=rf"^{path}: .*{what}"):
            read_idx(path)
        assert 0 < inflated[0] <= most, path
