"""A command never writes over a file it read, nor through a link in a run folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnncompile.artifacts.files import lock_run_dir, release_run_locks, write_text
from cnncompile.artifacts.inputs import command_inputs, note_input
from cnncompile.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "exported" / "fmnist_small.yaml"


def cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnncompile", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def spec(tmp_path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(SPEC.read_text())
    return path


@pytest.mark.parametrize("command", [["analyze"], ["report"], ["analyze", "--format", "json"]])
def test_an_output_onto_the_spec_is_refused_and_the_spec_kept(spec, command):
    before = spec.read_bytes()
    r = cli(*command, spec, "-o", spec, cwd=spec.parent)
    assert r.returncode == 2, r.stderr
    assert r.stderr == (f"error: {spec}: is this command's spec file ({spec}); write the output "
                        "to another path\n")
    assert spec.read_bytes() == before


def test_a_link_or_another_spelling_of_an_input_is_the_same_file(spec):
    (spec.parent / "link.yaml").symlink_to(spec)
    (spec.parent / "sub").mkdir()
    before = spec.read_bytes()
    for out in ("link.yaml", "sub/../s.yaml"):
        r = cli("analyze", "s.yaml", "-o", out, cwd=spec.parent)
        assert r.returncode == 2 and "is this command's spec file (s.yaml)" in r.stderr, r.stderr
    assert spec.read_bytes() == before and (spec.parent / "link.yaml").is_symlink()


def test_export_never_replaces_the_checkpoint_it_exports(spec, tmp_path):
    from cnncompile.backends.numpy import init_params
    from cnncompile.frontend.spec import load_spec
    from cnncompile.ir import lower

    ckpt = tmp_path / "run" / "checkpoint.npz"
    ckpt.parent.mkdir()
    np.savez(ckpt, **init_params(lower(load_spec(spec))))
    before = ckpt.read_bytes()
    r = cli("export", spec, "-w", ckpt, "-o", ckpt, cwd=tmp_path)
    assert r.returncode == 2 and f"error: {ckpt}: is this command's " in r.stderr, r.stderr
    assert ckpt.read_bytes() == before
    assert sorted(p.name for p in ckpt.parent.iterdir()) == ["checkpoint.npz"]  # no temp left


def test_a_lock_file_that_is_a_link_is_refused_and_its_target_untouched(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").symlink_to(precious)
    with pytest.raises(DataError, match=r"\.lock: is a symbolic link; cnncompile never writes "
                                        r"through links in a run folder"):
        lock_run_dir(run)
    assert precious.read_text() == "keep me\n"


def test_the_record_lasts_one_scope_and_a_held_run_folder_is_the_commands_own(tmp_path):
    f = tmp_path / "m.txt"
    f.write_text("a")
    with command_inputs():
        note_input(f, "model file")
        with pytest.raises(DataError, match="is this command's model file"):
            write_text(f, "b")
    write_text(f, "b")  # a later command (a later API call) may write what an earlier one read
    assert f.read_text() == "b"
    note_input(f, "model file")  # outside a scope nothing is recorded
    write_text(f, "c")
    run = tmp_path / "run"
    run.mkdir()
    ckpt = run / "checkpoint.npz"
    ckpt.write_bytes(b"old")
    with command_inputs():
        note_input(ckpt, "checkpoint")  # --resume reads the run's checkpoint ...
        lock_run_dir(run)
        try:
            write_text(ckpt, "new")  # ... and replaces it: the run folder is its own
        finally:
            release_run_locks()
    assert ckpt.read_text() == "new"
    assert not any(name.startswith(".checkpoint") for name in os.listdir(run))


def test_a_folder_holding_an_input_is_never_replaced_whole(tmp_path):
    from cnncompile.artifacts.files import atomic_dir

    repo = tmp_path / "repo"
    (repo / "m" / "1").mkdir(parents=True)
    model = repo / "m" / "1" / "model.onnx"
    model.write_bytes(b"onnx")
    with command_inputs():
        note_input(model, "ONNX model file")
        with pytest.raises(DataError, match=r"repo: is this command's ONNX model file"):
            with atomic_dir(repo) as tmp:
                (tmp / "x").write_text("new")
    assert model.read_bytes() == b"onnx" and sorted(os.listdir(tmp_path)) == ["repo"]


def test_convert_never_writes_its_spec_over_the_script(tmp_path):
    script = tmp_path / "x.py"
    script.write_text("fm = CnnBasicModel('fm', ad, [['conv', {'ksize': 3, 'chn': 6}], "
                      "['max', {'stride': 2}]])\n")
    before = script.read_bytes()
    r = cli("convert", script, "-o", script, "--input", "8,8,1", "--classes", "3", cwd=tmp_path)
    assert r.returncode == 2 and "is this command's Python file" in r.stderr, r.stderr
    assert script.read_bytes() == before


def test_the_python_api_keeps_the_rule_per_call(spec, tmp_path):
    import cnncompile

    model = cnncompile.load(spec)
    before = spec.read_bytes()
    with pytest.raises(DataError, match="is this command's spec file"):
        model.report(spec)
    assert spec.read_bytes() == before
    out = model.export(tmp_path / "m.onnx").path
    model.export(out)  # a later call may replace what an earlier one wrote
    with pytest.raises(DataError, match="is this command's ONNX model file"):
        cnncompile.quantize(out, "fashion-mnist", out, calibration=10, eval_samples=20)


def test_a_default_output_never_replaces_a_file(tmp_path):
    """`export SPEC` alone used to replace the shipped, trained exported/NAME.onnx."""
    (tmp_path / "exported").mkdir()
    shipped = tmp_path / "exported" / "fmnist_small.onnx"
    shipped.write_bytes((ROOT / "exported" / "fmnist_small.onnx").read_bytes())
    before = shipped.read_bytes()
    r = cli("export", SPEC, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.endswith("exported/fmnist_small.onnx: exists, and a default output never "
                             "replaces a file; give --out PATH to choose where to write (the same "
                             "path replaces it)\n")
    assert shipped.read_bytes() == before
    (tmp_path / "fmnist_small.html").write_text("mine")
    r = cli("report", SPEC, cwd=tmp_path)
    assert r.returncode == 2 and "fmnist_small.html: exists" in r.stderr
    assert (tmp_path / "fmnist_small.html").read_text() == "mine"
    r = cli("export", SPEC, "-o", shipped, cwd=tmp_path)  # named: replaced, as asked
    assert r.returncode == 0 and shipped.read_bytes() != before


def test_quantize_never_writes_over_its_data_file(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "d.npz"
    np.savez(data, x=rng.integers(0, 255, (40, 28, 28, 1)).astype(np.uint8), y=np.arange(40) % 10)
    before = data.read_bytes()
    r = cli("quantize", ROOT / "exported" / "fmnist_small.onnx", "--data", data, "-o", data,
            "--calibration", "4", cwd=tmp_path)
    assert r.returncode == 2 and "is this command's data file" in r.stderr, r.stderr
    assert data.read_bytes() == before
