"""Every number bounded before work starts: threads, workers, option values, memory (issue 21).

Nothing here times a command against a tight clock: the refusals are checked by what did not
happen (no data read, nothing written), and the one signal test allows seconds for what must
take well under one.
"""

from __future__ import annotations

import os
import resource
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cnncompile.artifacts import weights
from cnncompile.errors import DataError, OptionError
from cnncompile.machine import available_memory, check_threads, usable_cpus
from cnncompile.training_options import OPTIONS

ROOT = Path(__file__).resolve().parents[2]
TOO_MANY = usable_cpus() + 1


# -- threads and workers ----------------------------------------------------------------------

@pytest.fixture
def exported(toy, tmp_path, cli):
    spec, _ = toy
    assert cli("export", spec, "-o", tmp_path / "m.onnx").exit_code == 0
    return tmp_path / "m.onnx"


@pytest.mark.parametrize("threads", [10_000, TOO_MANY, 0, -1])
def test_bench_refuses_threads_beyond_the_cpus(exported, cli, one_line_error, threads):
    r = cli("bench", exported, "--threads", threads, "--seconds", 0.01)
    one_line_error(r, "`--threads` must be in [1, ", "(the CPUs this process may use)",
                   f"Received: {threads}")
    assert r.stdout == ""  # refused before the first measurement


def test_quantize_refuses_threads_before_reading_the_data(exported, toy, cli, one_line_error,
                                                         monkeypatch):
    import cnncompile.workflows.quantize as wq

    def never(*args):
        raise AssertionError("the data set was read")

    monkeypatch.setattr(wq, "_load_data", never)
    r = cli("quantize", exported, "--data", toy[1], "--threads", 10_000)
    one_line_error(r, "`--threads` must be in [1, ", "Received: 10000")
    assert not exported.with_name("m.int8.onnx").exists()


def test_every_threads_path_shares_one_bound():
    from cnncompile.runtime import OnnxModel

    assert check_threads(None) is None and check_threads(usable_cpus()) == usable_cpus()
    with pytest.raises(OptionError, match=r"`threads` must be in \[1, \d+\]"):
        check_threads(TOO_MANY, "threads")
    with pytest.raises(OptionError, match=r"`--threads` must be in"):
        OnnxModel(ROOT / "exported/fmnist_small.onnx", provider="cpu", threads=10_000)


def test_workers_beyond_the_cpus_are_refused_by_the_option_table(toy, tmp_path, cli,
                                                                  one_line_error):
    spec, data = toy
    r = cli("train", spec, "--data", data, "--backend", "torch", "--workers", 64,
            "--out", tmp_path / "run")
    one_line_error(r, "--workers: 64 is not a positive integer up to ",
                   "(the CPUs this process may use)")
    assert not (tmp_path / "run").exists()


HEAVY_SPEC = """\
name: heavy
input: [128, 128, 8]
output: {classes: 2}
layers:
  - [loop, {repeat: 48}, [conv, {ksize: 3, chn: 32}]]
  - [avg, {stride: 128}]
"""


def test_bench_answers_ctrl_c_during_a_long_onnxruntime_call(tmp_path, cli):
    """A batch-128 call of this model takes over ten seconds on two cores; SIGINT inside it
    ends bench with `interrupted` (130) within moments instead of when the call ends."""
    spec = tmp_path / "heavy.yaml"
    spec.write_text(HEAVY_SPEC)
    assert cli("export", spec, "--parity-batch", 1, "-o", tmp_path / "h.onnx").exit_code == 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-m", "cnncompile", "bench", str(tmp_path / "h.onnx"),
                          "--provider", "cpu", "--no-engine", "--batch", "1,128", "--seconds",
                          "0.01"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        p.stdout.readline(), p.stdout.readline()  # the header, printed with the batch-1 row
        first = p.stdout.readline()
        assert first.split()[0] == b"1", first
        time.sleep(1.0)  # inside the first batch-128 call
        p.send_signal(signal.SIGINT)
        sent = time.monotonic()
        _, err = p.communicate(timeout=120)
        waited = time.monotonic() - sent
    finally:
        p.kill()
    assert p.returncode == 130 and err.decode().strip() == "error: interrupted", err
    assert waited < 3, waited  # the rest of the call alone takes many seconds more


def test_an_interrupted_run_tells_onnxruntime_to_stop():
    """run_interruptibly: the caller's KeyboardInterrupt sets RunOptions.terminate, which is
    what makes onnxruntime abandon the call (here a stand-in that runs until told to stop)."""
    import threading

    from cnncompile.runtime.session import run_interruptibly

    seen = []

    class EndlessSession:
        def run(self, names, feed, options):
            while not options.terminate:
                time.sleep(0.01)
            seen.append("terminated")
            raise RuntimeError("Exiting due to terminate flag being set to true.")

    main = threading.get_ident()
    timer = threading.Timer(0.2, lambda: signal.pthread_kill(main, signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        run_interruptibly(EndlessSession(), None, {})
    assert seen == ["terminated"]

    class Quick:
        def run(self, names, feed, options):
            return [names, feed]

    assert run_interruptibly(Quick(), ["y"], {"x": 1}) == [["y"], {"x": 1}]


# -- option values ----------------------------------------------------------------------------

def test_every_integer_training_option_has_an_upper_bound():
    for o in OPTIONS:
        if o.kind is int:
            assert o.upper() is not None, o.name


def test_a_5000_digit_layer_option_is_a_located_error(tmp_path, cli, one_line_error):
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\ninput: [8, 8, 3]\noutput: {classes: 2}\nlayers:\n"
                    f"  - [conv, {{ksize: 3, chn: {'9' * 5000}}}]\n")
    line = one_line_error(cli("analyze", spec), f"{spec}:5: the integer '999",
                          "(5,000 characters) is too long; numbers may have at most 30 digits")
    assert len(line) < 200 + len(str(spec))


@pytest.mark.parametrize("flag", ["--epochs", "--batch-size", "--seed", "--report", "--limit"])
def test_huge_training_flags_are_refused_in_one_short_line(toy, tmp_path, cli, one_line_error,
                                                           flag):
    spec, data = toy
    for value in ("9" * 5000, str(10**25)):
        r = cli("train", spec, "--data", data, flag, value, "--out", tmp_path / "run")
        line = one_line_error(r, flag)
        assert len(line) < 200 and not (tmp_path / "run").exists()


def test_huge_train_section_values_are_refused(tmp_path):
    from cnncompile.errors import DslSyntaxError
    from cnncompile.frontend import parse_spec

    head = "name: s\ninput: [8, 8, 3]\noutput: {classes: 2}\nlayers: [4]\n"
    with pytest.raises(DslSyntaxError, match=r"s.yaml:5: `train.epochs` must be a positive "
                       r"integer up to 100,000. Received: 10000000000$"):
        parse_spec(head + "train: {epochs: 10000000000}\n", "s.yaml")


# -- memory -----------------------------------------------------------------------------------

def _limited(code: str, limit: int) -> subprocess.CompletedProcess:
    """``python -c code`` with its address space limited to ``limit`` bytes (``ulimit -v``)."""

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, preexec_fn=cap, timeout=120)


def _claims(path: Path, size: int) -> Path:
    """A small, valid .npz whose zip directory says its member inflates to ``size`` bytes."""
    np.savez(path, x=np.zeros(16, np.float32))
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central + 24:central + 28] = struct.pack("<I", size)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads Linux's /proc")
def test_available_memory_counts_the_address_space_limit():
    r = _limited("from cnncompile.machine import available_memory; print(available_memory())",
                 1 << 30)
    assert r.returncode == 0, r.stderr
    assert 0 < int(r.stdout) < 1 << 30
    unlimited = available_memory()
    assert unlimited is None or unlimited > int(r.stdout)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads Linux's /proc")
def test_an_npz_is_refused_when_it_would_inflate_past_the_memory_there_is(tmp_path):
    path = _claims(tmp_path / "big.npz", 3 << 30)  # under the fixed 8 GiB per member
    code = ("from cnncompile.artifacts.weights import read_npz\n"
            "from cnncompile.errors import DataError\n"
            f"try:\n    read_npz({str(path)!r})\n"
            "except DataError as e:\n    print(e)\n")
    r = _limited(code, 1 << 30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{path}: the arrays would inflate to over 3.0 GiB, more than "
                               "the "), r.stdout
    assert r.stdout.rstrip().endswith(" of memory available")


def test_the_npz_refusal_names_the_memory_figure(tmp_path, monkeypatch):
    path = _claims(tmp_path / "big.npz", 3 << 30)
    monkeypatch.setattr(weights, "available_memory", lambda: 2 << 30)
    with pytest.raises(DataError, match=r"would inflate to over 3.0 GiB, more than the 2.0 GiB "
                       r"of memory available$"):
        weights.read_npz(path)


@pytest.mark.parametrize("layers, where, what", [
    (f"[[conv, {{ksize: 3, chn: {10**29}}}]]", "s.yaml:4: layers[0] > conv: ",
     "the output [8, 8, 1.0e+29] holds 6.4e+30 elements for batch 1"),
    (f"[{10**10}, {10**10}]", "s.yaml:4: layers[1]: ",
     "the parameter `full_1.weight` [1.0e+10, 1.0e+10] holds 1.0e+20 elements"),
])
def test_analyze_refuses_tensors_no_backend_can_index(tmp_path, cli, one_line_error, layers,
                                                      where, what):
    spec = tmp_path / "s.yaml"
    spec.write_text(f"name: s\ninput: [8, 8, 3]\noutput: {{classes: 2}}\nlayers: {layers}\n")
    one_line_error(cli("analyze", spec), where, what, "no backend can index more than 2**63 - 1")


def test_analyze_keeps_exact_figures_below_the_bound(tmp_path, cli):
    """Huge but countable models are still analysed (nothing is allocated), and a batch too
    large to count is refused like a layer."""
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\ninput: [8, 8, 3]\noutput: {classes: 2}\n"
                    "layers: [[conv, {ksize: 3, chn: 100000000000}]]\n")
    r = cli("analyze", spec)
    assert r.exit_code == 0 and "Trainable params:     15,600,000,000,002" in r.stdout, r.output
    r = cli("analyze", spec, "--batch", 10**9)
    assert r.exit_code == 2 and "elements for batch 1000000000" in r.stderr
