"""The shipped Fashion-MNIST model: plain onnxruntime reaches its stated test accuracy, and
`predict`, `evaluate` and `bench` work on it as a new user runs them."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from cnncompile.cli import app

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "exported" / "fmnist_small.onnx"
README = ROOT / "exported" / "README.md"
DATA = Path("/usr/share/datasets/fashion-mnist")

# Runs after the README's snippet, in a fresh interpreter: test-set accuracy, and proof that
# nothing of cnncompile was imported.
CHECK = """
import json, sys
labels = np.frombuffer(gzip.open("{labels}").read(), np.uint8, offset=8)
meta = session.get_modelmeta().custom_metadata_map
print(json.dumps({{"accuracy": float((probs.argmax(1) == labels).mean()),
                  "n": len(labels), "meta": meta["accuracy"],
                  "cnncompile": sorted(m for m in sys.modules if m.startswith("cnncompile"))}}))
"""


def readme_snippet() -> str:
    """The README's plain-onnxruntime example: its first python code block."""
    return re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)


def test_plain_onnxruntime_reaches_the_stated_accuracy():
    snippet = readme_snippet()
    assert len(snippet.strip().splitlines()) <= 5
    code = snippet + CHECK.format(labels=DATA / "t10k-labels-idx1-ubyte.gz")
    out = subprocess.run([sys.executable, "-I", "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["n"] == 10_000 and result["cnncompile"] == []
    recorded = json.loads(result["meta"])
    assert recorded["split"] == "test"
    assert abs(result["accuracy"] - recorded["per_head"]["output"]) <= 5e-4
    assert result["accuracy"] >= 0.89
    stated = re.search(r"test accuracy \*\*(0\.\d+)\*\*", README.read_text()).group(1)
    assert abs(result["accuracy"] - float(stated)) <= 5e-4
    assert MODEL.stat().st_size < 400_000


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_predict_evaluate_and_bench_on_the_shipped_model(tmp_path):
    with gzip.open(DATA / "t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(DATA / "t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    names = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
             "bag", "ankle-boot"]
    for i in (0, 1, 2):  # an ankle boot, a pullover, a trouser
        Image.fromarray(images[i]).save(tmp_path / f"{i}.png")
    r = run("predict", MODEL, tmp_path, "--top", "1")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert [line.split(": ")[1].split(" ")[0] for line in lines[1::2]] == [
        names[labels[i]] for i in (0, 1, 2)]

    r = run("evaluate", MODEL, "--data", "fashion-mnist")
    assert r.exit_code == 0, r.output
    stated = re.search(r"test accuracy \*\*(0\.\d+)\*\*", README.read_text()).group(1)
    assert stated in r.stdout

    r = run("bench", MODEL, "--batch", "1,8", "--seconds", "0.05")
    assert r.exit_code == 0, r.output
    assert len(r.stdout.splitlines()) == 4 and "engine/s" in r.stdout
