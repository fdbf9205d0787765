"""Report pages in a real browser (headless Chromium): they render, run their script without
errors, fetch nothing, and show every block and the totals. A screenshot stays in tmp_path."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnncompile.analysis import analyze_graph
from cnncompile.cli import app
from cnncompile.frontend import load_spec
from cnncompile.ir import lower
from cnncompile.report.data import diagram_items, max_level, walk
from cnncompile.report.page import script_hash

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install "
                                 "chromium; .ci/run installs it)")


def render(page: Path, shot: Path, width: int = 1280, height: int = 1800,
           fragment: str = "") -> str:
    """The DOM after the page's script ran, and a screenshot, from one Chromium start."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-extensions", "--disable-background-networking", f"--user-data-dir="
           f"{shot.parent / 'chromium-profile'}", f"--window-size={width},{height}",
           f"--screenshot={shot}", "--dump-dom", page.resolve().as_uri() + fragment]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG"), "no screenshot"
    return done.stdout


def report(spec: Path, out: Path, *extra) -> None:
    r = CliRunner().invoke(app, ["report", str(spec), "-o", str(out), *map(str, extra)])
    assert r.exit_code == 0, r.output


def check_page(dom: str, spec: Path) -> None:
    """Script ran clean, nothing fetched, every block and the totals in the rendered DOM."""
    html_tag = re.search(r"<html[^>]*>", dom).group(0)
    assert 'data-ready="1"' in html_tag, "the page's script did not finish"
    assert "data-errors" not in html_tag, html_tag  # script errors and refused fetches
    assert 'data-resources="0"' in html_tag, html_tag
    a = analyze_graph(lower(load_spec(spec)))
    root = diagram_items(a.graph)
    deepest = dom.split(f'<div class="dgv" data-depth="{max_level(root) + 1}"')[1]
    deepest = deepest.split("</svg>")[0]
    for item in walk(root):
        if item.kind in ("leaf", "group"):
            assert f'data-id="{item.id}"' in deepest, item.title
    totals = dom.split('id="totals"')[1].split("</div></div>")[0]
    assert f"{a.totals.trainable_params:,}" in totals
    assert f"{a.totals.non_trainable_params:,}" in totals
    assert len(re.findall(r'<div class="dgv" data-depth="\d+">', dom)) == 1, "one drawing shown"


def with_script(html: str, js: str) -> str:
    """The page with a test's script run after its own, the policy allowing it by its hash."""
    html = html.replace("script-src ", f"script-src {script_hash(js)} ", 1)
    return html.replace("</body>", f"<script>{js}</script></body>")


# Run after the page's own script: sort by MACs (twice: descending), then group by 1 segment.
SORT_AND_GROUP = """
var th = document.querySelectorAll('table.layers th')[5]; th.click(); th.click();
var rows = document.querySelector('tbody[data-k="all"]').rows;
document.documentElement.setAttribute('data-sorted',
  [rows[0].cells[0].textContent, rows[rows.length - 1].cells[0].textContent].join(','));
var sel = document.getElementById('tdepth'); sel.value = '1';
sel.dispatchEvent(new Event('change'));
document.documentElement.setAttribute('data-grouped',
  document.querySelector('table.layers tbody:not([hidden])').dataset.k);
"""


def test_chain_page_sorts_and_groups_its_table(tmp_path):
    spec = ROOT / "specs/ch8/flowers_cnn_1.yaml"
    page = tmp_path / "chain.html"
    report(spec, page)
    page.write_text(with_script(page.read_text(), SORT_AND_GROUP))
    dom = render(page, tmp_path / "chain.png")
    check_page(dom, spec)
    shown = re.search(r'<div class="dgv" data-depth="\d+">(.*?)</svg>', dom, re.S).group(1)
    assert shown.count('class="lf"') == 1 + 6 + 1  # input, three conv and three pool, output
    g = lower(load_spec(spec))
    by_macs = sorted(g, key=lambda n: -n.cost.macs)  # stable: ties keep graph order
    html_tag = re.search(r"<html[^>]*>", dom).group(0)
    assert f'data-sorted="{by_macs[0].name},{by_macs[-1].name}"' in html_tag
    assert 'data-grouped="1"' in html_tag
    assert '<th class="n desc" data-key="">MACs</th>' in dom


def test_residual_page_with_its_run_in_a_narrow_window(tmp_path, run_folder):
    spec = ROOT / "specs/ch9/residual_flower.yaml"
    page = tmp_path / "residual.html"
    report(spec, page, "--run", run_folder)
    dom = render(page, tmp_path / "residual.png", width=420, height=2400)
    check_page(dom, spec)
    deepest = dom.split('<div class="dgv" data-depth="4"')[1].split("</svg>")[0]
    assert deepest.count('class="e skip"') == 4  # rfull's two rf blocks, one per rhalf
    run_part = dom.split('<section id="run">')[1]
    assert 'data-series="val_loss"' in run_part
    assert '<table class="cm" data-head="output">' in run_part
    assert 'id="samples"' in run_part


def test_inception_page_opens_a_macro_on_click(tmp_path):
    spec = ROOT / "specs/ch9/inception_flower.yaml"
    page = tmp_path / "inception.html"
    report(spec, page)
    # start with every macro closed, then click the first closed box: level 1 opens
    dom = render(page, tmp_path / "inception.png", fragment="#depth=0&click")
    check_page(dom, spec)
    assert re.findall(r'<div class="dgv" data-depth="(\d+)">', dom) == ["1"]
    assert "groups open to level 1" in dom
    shown = dom.split('<div class="dgv" data-depth="1">')[1].split("</svg>")[0]
    assert shown.count('class="jn"') == 0 and shown.count('class="cl tog"') == 9


PWN_SCRIPT = "<script>document.documentElement.setAttribute('data-pwned','script')</script>"
PWN_IMG = "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','img')\">"


def _hostile_run(folder: Path) -> Path:
    """A run folder whose every free-text field holds markup that would run if it landed raw."""
    import json

    from cnncompile.train.checkpoint import read_checkpoint, save_checkpoint

    test = json.loads((folder / "test.json").read_text())
    rows = test["per_class"]["output"]
    rows[0]["class"], rows[1]["class"] = PWN_SCRIPT, PWN_IMG
    test["confusion"]["output"]["labels"][:2] = [PWN_IMG, PWN_SCRIPT]
    test["per_class"][PWN_IMG] = test["per_class"]["output"]
    test["accuracy"][PWN_SCRIPT] = 0.5
    test["data"] = PWN_IMG
    (folder / "test.json").write_text(json.dumps(test))
    csv_text = (folder / "metrics.csv").read_text()
    (folder / "metrics.csv").write_text(csv_text.replace("val_acc", f"val_acc_{PWN_IMG}".replace(
        ",", ";").replace('"', "'"), 1))
    ckpt = read_checkpoint(folder / "checkpoint.npz")
    save_checkpoint(folder / "checkpoint.npz", ckpt.params, {
        **ckpt.meta, "data": PWN_SCRIPT, "elapsed": PWN_IMG,
        "config": {**ckpt.meta["config"], "optimizer": PWN_IMG, PWN_SCRIPT: True}})
    return folder


def test_a_hostile_run_runs_nothing(tmp_path, run_folder):
    """Markup in test.json, metrics.csv and the checkpoint shows as text; a script that slipped
    into the page anyway (appended raw below) is refused by the policy and runs nothing."""
    spec = ROOT / "specs/ch9/residual_flower.yaml"
    page = tmp_path / "hostile.html"
    report(spec, page, "--run", _hostile_run(run_folder))
    html = page.read_text()
    assert PWN_SCRIPT not in html and PWN_IMG not in html
    page.write_text(html.replace("</main>", f"{PWN_SCRIPT}{PWN_IMG}</main>"))
    dom = render(page, tmp_path / "hostile.png")
    html_tag = re.search(r"<html[^>]*>", dom).group(0)
    assert "data-pwned" not in html_tag, html_tag
    assert 'data-ready="1"' in html_tag  # the page's own script still ran
    assert "blocked inline (script-src-elem)" in html_tag, html_tag
    run_part = dom.split('<section id="run">')[1]
    assert "&lt;script&gt;document.documentElement" in run_part  # shown, as text


# Lists every card, key-value table, <pre> and warning that sticks out of the page's column.
OVERFLOW = """
var main = document.querySelector('main').getBoundingClientRect();
var out = [].slice.call(document.querySelectorAll('.card, .card b, table.kv, pre, .warn, .sub'))
  .filter(function(el){ var r = el.getBoundingClientRect();
    return r.right > main.right + 1 || el.scrollWidth > el.clientWidth + 1; })
  .map(function(el){ return el.tagName + '.' + el.className; });
document.documentElement.setAttribute('data-overflow', out.join(' ') || 'none');
"""


def test_long_values_wrap_in_a_narrow_window(tmp_path):
    """ResNet-152's receptive field, an export's long JSON and a long warning stay inside the
    page at 420 pixels."""
    import json

    from cnncompile.report import build_page
    from cnncompile.report.sources import ModelInfo

    spec = ROOT / "specs/torchvision/resnet152.yaml"
    a = analyze_graph(lower(load_spec(spec)))
    labels = [f"class_number_{i}_with_a_long_name" for i in range(200)]
    meta = {"spec_name": "some_other_model_with_a_rather_long_name_" + "x" * 60,
            "heads": json.dumps([{"name": "output", "size": 200, "labels": labels}]),
            "preprocessing": json.dumps({"mean": [0.485] * 40, "std": [0.229] * 40}),
            "weights": "/" + "/".join(["a_deep_folder"] * 20) + "/checkpoint.npz",
            "spec": "layers: [" + ", ".join(["[conv, {ksize: 3, chn: 64}]"] * 60) + "]"}
    model = ModelInfo(Path("/" + "very_long_folder_name/" * 12 + "model.onnx"), meta, "cpu")
    page = tmp_path / "resnet152.html"
    page.write_text(with_script(build_page(a, run=None, model=model), OVERFLOW))
    dom = render(page, tmp_path / "resnet152.png", width=420, height=3000)
    html_tag = re.search(r"<html[^>]*>", dom).group(0)
    assert 'data-overflow="none"' in html_tag, html_tag
    assert 'data-ready="1"' in html_tag and "data-errors" not in html_tag, html_tag
