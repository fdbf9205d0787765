"""A hostile user's sweep through the real CLI (a subprocess each): every case is exit 2 with
one `error:` line naming the file and the reason, never an internal error or a traceback."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

from cnncompile.workflows.quantize import QuantizeResult, _drop_message, sample_size_note

from .conftest import TOY_SPEC, _toy_data

ROOT = Path(__file__).resolve().parents[2]


def cnncompile(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnncompile", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def refused(out: subprocess.CompletedProcess, *parts: str) -> str:
    """The one error line of a refused command, checked against the contract."""
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert "internal error" not in out.stderr and "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    for part in parts:
        assert part in lines[0], (part, lines[0])
    return lines[0]


def _without_metadata(src: Path, dst: Path, drop: str) -> Path:
    """``src`` with the metadata keys containing ``drop`` removed."""
    model = onnx.load(src)
    kept = [(p.key, p.value) for p in model.metadata_props if drop not in p.key]
    del model.metadata_props[:]
    for key, value in kept:
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, dst)
    return dst


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A folder with toy.yaml, toy.npz, a trained run, its export and both variants."""
    d = tmp_path_factory.mktemp("sweep")
    (d / "toy.yaml").write_text(TOY_SPEC)
    _toy_data(d / "toy.npz")
    for args in (("train", "toy.yaml", "--data", "toy.npz", "--epochs", "1", "-o", "run"),
                 ("export", "toy.yaml", "-w", "run", "-o", "toy.onnx"),
                 ("quantize", "toy.onnx", "--data", "toy.npz", "-o", "int8.onnx",
                  "--max-drop", "1", "--min-speedup", "0"),
                 ("quantize", "toy.onnx", "--data", "toy.npz", "-o", "fp16.onnx",
                  "--mode", "fp16", "--max-drop", "1", "--min-speedup", "0")):
        out = cnncompile(*args, cwd=d)
        assert out.returncode == 0, out.stderr
    for mode in ("int8", "fp16"):  # a variant whose metadata forgot it was quantized
        _without_metadata(d / f"{mode}.onnx", d / f"bare_{mode}.onnx", "quantization")
    return d


# --- hints --------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [("predict", "toy.yaml", "x.png"), ("bench", "toy.yaml"),
                                     ("quantize", "toy.yaml", "--data", "toy.npz")])
def test_a_spec_given_as_a_model_is_told_to_export_first(work, command):
    line = refused(cnncompile(*command, cwd=work), "toy.yaml: this is a spec, not an exported "
                   "model: export it first (cnncompile export toy.yaml")
    assert "Protobuf" not in line


def test_a_spec_renamed_to_onnx_is_recognised_as_a_spec(work, tmp_path):
    renamed = tmp_path / "spec.onnx"
    renamed.write_text(TOY_SPEC)
    refused(cnncompile("predict", renamed, "x.png", cwd=work), "spec.onnx: this is a spec")


def test_quantize_never_suggests_an_option_it_lacks(work, tmp_path):
    np.savez(tmp_path / "six.npz", x=np.zeros((40, 6, 6, 1), np.float32), y=np.arange(40) % 3)
    line = refused(cnncompile("quantize", "toy.onnx", "--data", tmp_path / "six.npz", "-o",
                              tmp_path / "q.onnx", cwd=work),
                   "samples are [6, 6, 1] but toy.onnx takes [8, 8, 1]",
                   "an exported model's input is fixed")
    assert "--input" not in line


def test_the_quantize_gate_says_what_one_image_weighs():
    # 45 test samples: one changed image is 2.22 points, above --max-drop 0.01
    one = sample_size_note(45, 0.01)
    assert one.startswith("1 image of 45 = 2.22 points; --max-drop below that can refuse a "
                          "single image")
    assert sample_size_note(10_000, 0.01) == "1 image of 10,000 = 0.01 points"
    measured = {"output": 1.0}
    from cnncompile.deploy.quantize import Measured

    r = QuantizeResult("int8", Path("m.onnx"), None, Measured(measured, 1.0, 1),
                       Measured({"output": 44 / 45}, 1.0, 1), 45, 45, "toy.npz", max_drop=0.01)
    assert r.coarse
    assert _drop_message(r, 0.01).endswith(f"nothing written ({one})")
    assert not QuantizeResult("int8", Path("m.onnx"), None, r.float32, r.quantized, 10_000, 1,
                              "d", max_drop=0.01).coarse


def test_a_scale_beyond_float32_names_the_option_not_the_weights(work, tmp_path):
    for scale in ("1e40", "1e-46"):
        line = refused(cnncompile("export", "toy.yaml", "-w", "run", "--scale", scale, "-o",
                                  tmp_path / "s.onnx", cwd=work), "`--scale` must be within")
        assert "weights" not in line
    assert not (tmp_path / "s.onnx").exists()


# --- internal errors ----------------------------------------------------------------------

def _idx(path: Path, array: np.ndarray) -> None:
    a = np.asarray(array, np.uint8)
    path.write_bytes(struct.pack(">BBBB", 0, 0, 8, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
                     + a.tobytes())


def _idx_folder(folder: Path, n_train: int, n_test: int) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for stem, n in (("train", n_train), ("t10k", n_test)):
        _idx(folder / f"{stem}-images-idx3-ubyte", rng.integers(0, 255, (n, 8, 8)))
        _idx(folder / f"{stem}-labels-idx1-ubyte", np.arange(n) % 3)
    return folder


def _data_cases(tmp: Path) -> dict[str, tuple[Path, str]]:
    """Data sets with an empty or missing part -> (path, what the error line says)."""
    x = np.zeros((5, 8, 8, 1), np.float32)
    y = np.array([0, 1, 2, 0, 1])
    np.savez(tmp / "one.npz", x=x[:1], y=y[:1])
    np.savez(tmp / "empty_test.npz", x=x, y=y, x_test=x[:0], y_test=y[:0])
    (tmp / "zero.npz").write_bytes(b"")
    np.savez(tmp / "hollow.npz", x=np.zeros((30, 0, 8, 1), np.float32), y=np.arange(30) % 3)
    hollow_idx = tmp / "idx_0x0"
    hollow_idx.mkdir()
    _idx(hollow_idx / "train-images-idx3-ubyte", np.zeros((30, 0, 0)))
    _idx(hollow_idx / "train-labels-idx1-ubyte", np.arange(30) % 3)
    return {"samples of no values": (tmp / "hollow.npz", "samples are [0, 8, 1], which holds "
                                                         "no values"),
            "idx images of 0x0": (hollow_idx, "samples are [0, 0], which holds no values"),
            "idx empty test": (_idx_folder(tmp / "idx_t", 50, 0), "holds no samples"),
            "idx empty train": (_idx_folder(tmp / "idx_r", 0, 10), "holds no samples"),
            "one sample": (tmp / "one.npz", "too few for the textbook split"),
            "empty x_test": (tmp / "empty_test.npz", "empty_test.npz"),
            "empty file": (tmp / "zero.npz", "zero.npz")}


@pytest.mark.parametrize("command", ["quantize", "evaluate", "export"])
def test_empty_or_missing_splits_are_one_line_errors(work, tmp_path, command):
    for data, says in _data_cases(tmp_path).values():
        args = {"quantize": ("quantize", "toy.onnx", "--data", data, "-o", tmp_path / "q.onnx"),
                "evaluate": ("evaluate", "toy.onnx", "--data", data),
                "export": ("export", "toy.yaml", "-w", "run", "--data", data, "-o",
                           tmp_path / "e.onnx")}[command]
        refused(cnncompile(*args, cwd=work), says)


def test_an_empty_validation_split_is_named_in_evaluate(work, tmp_path):
    x = np.zeros((5, 8, 8, 1), np.float32)  # 5 training samples: floor(0.05 * 5) = 0 validate
    np.savez(tmp_path / "small.npz", x=x, y=np.array([0, 1, 2, 0, 1]), x_test=x[:3],
             y_test=np.array([0, 1, 2]))
    for model in (("toy.onnx",), ("toy.yaml", "-w", "run")):
        refused(cnncompile("evaluate", *model, "--data", tmp_path / "small.npz", "--split",
                           "validation", cwd=work), "its validation split is empty",
                "5 train / 0 validation / 3 test")


@pytest.mark.parametrize("mode,says", [("int8", "already quantized (int8: its graph holds"),
                                       ("fp16", "already quantized (fp16: its weights are "
                                                "float16)")])
def test_a_variant_without_its_metadata_is_not_quantized_again(work, tmp_path, mode, says):
    refused(cnncompile("quantize", f"bare_{mode}.onnx", "--data", "toy.npz", "-o",
                       tmp_path / "again.onnx", cwd=work), f"bare_{mode}.onnx: {says}")
    assert not (tmp_path / "again.onnx").exists()


@pytest.mark.parametrize("size", [4096, 8192])
def test_quantize_onto_a_full_disk_is_one_line_and_leaves_nothing(work, tmpfs, size):
    disk = tmpfs(size)
    refused(cnncompile("quantize", "toy.onnx", "--data", "toy.npz", "-o", disk / "q.onnx",
                       cwd=work), "no space left on the device")
    assert list(disk.iterdir()) == []


@pytest.mark.parametrize("name,says", [
    ("half.onnx", "does not parse as a model"), ("text.onnx", "a text file"),
    ("empty.onnx", "empty.onnx"), ("dir.onnx", "is a folder")])
def test_damaged_models_are_one_line_errors(work, tmp_path, name, says):
    data = (work / "toy.onnx").read_bytes()
    content = {"half.onnx": data[: len(data) // 2], "text.onnx": b"hello\n", "empty.onnx": b""}
    if name == "dir.onnx":
        (tmp_path / name).mkdir()
    else:
        (tmp_path / name).write_bytes(content[name])
    for command in (("predict", tmp_path / name, "x.png"), ("bench", tmp_path / name),
                    ("evaluate", tmp_path / name, "--data", "toy.npz"),
                    ("quantize", tmp_path / name, "--data", "toy.npz")):
        refused(cnncompile(*command, cwd=work), name, says)


def test_a_class_folder_not_named_in_utf8_is_escaped_everywhere(work, tmp_path):
    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for cls in (b"cat", b"dog", b"b\xe9te"):
        folder = root / os.fsdecode(cls)
        folder.mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(folder / f"{i}.png")
    steps = [("train", "toy.yaml", "--data", root, "--epochs", "1", "-o", tmp_path / "run"),
             ("export", "toy.yaml", "-w", tmp_path / "run", "-o", tmp_path / "m.onnx",
              "--triton", tmp_path / "repo"),
             ("report", "toy.yaml", "--run", tmp_path / "run", "-o", tmp_path / "r.html"),
             ("evaluate", "toy.yaml", "-w", tmp_path / "run", "--data", root),
             ("predict", tmp_path / "m.onnx", root / os.fsdecode(b"b\xe9te") / "0.png",
              "--top", "3")]
    for args in steps:
        out = cnncompile(*args, cwd=work)
        assert out.returncode == 0, out.stderr
        assert "internal error" not in out.stderr and "Traceback" not in out.stderr
    assert "b\\xe9te" in out.stdout
    assert {"confusion.png", "samples.png"} <= {p.name for p in (tmp_path / "run").iterdir()}
    labels = (tmp_path / "repo" / "toy" / "labels.txt").read_text().splitlines()
    assert labels == ["b\\xe9te", "cat", "dog"]
    assert "b\\xe9te" in (tmp_path / "r.html").read_text()


def test_class_names_that_look_like_tex_or_run_long_are_drawn_as_text(work, tmp_path):
    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for cls in ("a$b", "$\\frac{$", "x" * 250):  # TeX to matplotlib; a name as long as allowed
        (root / cls).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(root / cls / f"{i}.png")
    out = cnncompile("train", "toy.yaml", "--data", root, "--epochs", "1", "-o", tmp_path / "run",
                     cwd=work)
    assert out.returncode == 0, out.stderr
    assert {"curves.png", "confusion.png", "samples.png"} <= {
        p.name for p in (tmp_path / "run").iterdir()}


def test_a_name_longer_than_the_system_allows_is_one_line_everywhere(work, tmp_path):
    long = "y" * 300  # over NAME_MAX (255 bytes): every lookup of it fails with ENAMETOOLONG
    for args in (("train", "toy.yaml", "--data", f"{long}.npz"),
                 ("train", "toy.yaml", "--data", "toy.npz", "--epochs", "1", "-o",
                  tmp_path / long),
                 ("evaluate", "toy.onnx", "--data", long),
                 ("export", "toy.yaml", "-w", "run", "-o", tmp_path / f"{long}.onnx"),
                 ("export", "toy.yaml", "-w", "run", "-o", tmp_path / "ok.onnx", "--triton",
                  tmp_path / long),
                 ("quantize", "toy.onnx", "--data", "toy.npz", "-o", tmp_path / long / "q.onnx"),
                 ("predict", "toy.onnx", f"{long}.png"),
                 ("sample-data", tmp_path / long),
                 ("sample-data", tmp_path / "s", "--classes", f"a,{long}")):
        refused(cnncompile(*args, cwd=work), long[:20])
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_sample_data_refuses_a_negative_seed(work, tmp_path):
    refused(cnncompile("sample-data", tmp_path / "s", "--seed", "-1", cwd=work),
            "`--seed` must be 0 or more")
