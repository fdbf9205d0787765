"""`cnncompile predict` and `cnncompile bench` on exported models."""

from __future__ import annotations

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from cnncompile.cli import app
from cnncompile.runtime import OnnxModel

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_predict_images_in_a_folder_and_by_name(models, tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)).save(folder / "a.png")
    Image.fromarray(rng.integers(0, 256, (9, 9), dtype=np.uint8)).save(folder / "sub" / "b.jpg")
    (folder / "notes.txt").write_text("not an image")
    r = run("predict", models["images"].path, folder, "--top", "2")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].endswith("a.png") and lines[2].endswith("b.jpg") and len(lines) == 4
    label_probs = [x.split(" ") for x in lines[1].split(": ", 1)[1].split(", ")]
    assert len(label_probs) == 2 and label_probs[0][0] in ("cat", "dog", "owl", "emu")
    # the printed probabilities are the model's on the squashed, scaled image
    m = OnnxModel(models["images"].path)
    pixels = np.asarray(Image.open(folder / "a.png").convert("RGB").resize((10, 12),
                                                                        Image.BILINEAR))
    p = m.predict(pixels[None])["output"][0]
    assert label_probs[0] == [m.heads[0][2][int(np.argmax(p))], f"{p.max():.3f}"]
    r = run("predict", models["images"].path, folder / "a.png", "--top", "9")
    assert r.exit_code == 0 and len(r.stdout.splitlines()[1].split(", ")) == 4


def test_predict_multi_head_and_errors(models, tmp_path):
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(img)
    r = run("predict", models["heads"].path, img)
    assert r.exit_code == 0 and "  domain: " in r.stdout and "  object: " in r.stdout
    r = run("predict", models["heads"].path, tmp_path / "nope.png")
    assert r.exit_code == 2 and "no such image file or folder" in r.stderr
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")
    r = run("predict", models["heads"].path, bad)
    assert r.exit_code == 2 and "bad.png" in r.stderr and len(r.stderr.splitlines()) == 1


def test_bench_prints_percentiles_throughput_and_the_engine(models):
    r = run("bench", models["images"].path, "--batch", "1,4", "--seconds", "0.05",
            "--provider", "cpu")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert "CPUExecutionProvider" in lines[0]
    assert lines[1].split() == ["batch", "p50", "ms", "p90", "ms", "p99", "ms", "samples/s",
                                "engine/s", "onnx/engine"]
    rows = [line.split() for line in lines[2:]]
    assert [row[0] for row in rows] == ["1", "4"]
    for row in rows:
        p50, p90, p99, rate, engine = map(float, row[1:6])
        assert 0 < p50 <= p90 <= p99 and rate > 0 and engine > 0
        assert row[6] == f"{rate / engine:.1f}x"


def test_bench_says_how_it_timed(models):
    for threads, clock in (("1", "median CPU time per call, 1 onnxruntime thread)"),
                           (None, "median wall time per call)")):
        extra = ["--threads", threads] if threads else []
        r = run("bench", models["images"].path, "--batch", "2", "--seconds", "0.02",
                "--provider", "cpu", "--no-engine", *extra)
        assert r.exit_code == 0, r.output
        assert r.stdout.splitlines()[0].endswith(clock), r.stdout


def test_bench_cuda_request_notes_the_cpu_fallback(models):
    r = run("bench", models["heads"].path, "--batch", "2", "--seconds", "0.02",
            "--provider", "cuda", "--no-engine")
    assert r.exit_code == 0, r.output
    assert "note: CUDA requested" in r.stderr and "running on the CPU" in r.stderr
    assert "engine/s" not in r.stdout
    r = run("bench", models["heads"].path, "--batch", "0,x")
    assert r.exit_code == 2 and "`--batch`" in r.stderr


def test_decode_progress_shows_only_on_a_terminal_and_ends_itself():
    import io

    from rich.console import Console

    from cnncompile.cli.runtime import DecodeProgress

    shown = DecodeProgress()
    shown.console = Console(file=io.StringIO(), force_terminal=True, width=100)
    shown(0, 40)
    assert shown.bar is not None and shown.bar.live.is_started
    shown(16, 40)
    shown(40, 40)  # the loader's final call
    assert shown.bar is None and "decoding images" in shown.console.file.getvalue()
    quiet = DecodeProgress()
    quiet.console = Console(file=io.StringIO(), force_terminal=False)
    quiet(0, 40)
    assert quiet.bar is None and quiet.console.file.getvalue() == ""
