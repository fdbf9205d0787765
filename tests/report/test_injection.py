"""Nothing a file holds becomes markup: every value read from a run folder, a test report, a
checkpoint or an exported model is escaped where it lands, and the page's policy lets only the
page's own two scripts run (by hash), so a script that slipped through anyway would not."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnncompile.analysis import analyze_graph
from cnncompile.cli import app
from cnncompile.frontend import load_spec
from cnncompile.ir import lower
from cnncompile.report import build_page
from cnncompile.report.sources import ModelInfo, RunInfo, read_run

ROOT = Path(__file__).resolve().parents[2]
RESIDUAL = ROOT / "specs/ch9/residual_flower.yaml"

# markup that would show as an element or run a handler if it landed unescaped
HOSTILE = ['<b class="pwned" onmouseover="x()">', "<script>pwned()</script>",
           '"><img src=x onerror="pwned()">', "'/><svg onload=pwned()>"]


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text of each <script>."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def parse(html: str) -> _Tags:
    p = _Tags()
    p.feed(html)
    return p


def assert_inert(html: str) -> None:
    """No handler attribute, no extra script, no element a hostile value would have made."""
    p = parse(html)
    handlers = [(t, a) for t, a in p.tags for k in a if k.startswith("on")]
    assert not handlers, handlers[:3]
    assert len(p.scripts) == 2  # the page's error hook and its own script
    assert not [t for t, a in p.tags if a.get("class") == "pwned" or t == "img" and
                not (a.get("src") or "").startswith("data:image/png;base64,")]


def hostile_run(folder: Path, mark: str) -> RunInfo:
    """A run whose every file-borne string is ``mark`` (figures too: RunInfo is public API)."""
    head = f"out{mark}"
    history = [{"epoch": e, "train_loss": 1.0 / e, f"val_acc_{mark}": 0.5, "val_loss": 1.1 / e}
               for e in (1, 2, 3)]
    meta = {"name": "residual_flower", "epoch": mark, "elapsed": mark, "data": mark,
            "accuracy": {head: mark}, "cnncompile": mark,
            "config": {mark: mark, "optimizer": mark, "augment": [mark, {mark: mark}]}}
    test = {"samples": mark, "accuracy": {head: mark}, "data": mark,
            "per_class": {head: [{"class": mark, "precision": mark, "recall": mark, "f1": mark,
                                  "support": mark}]},
            "confusion": {head: {"labels": [mark, mark], "matrix": [[1, 0], [0, 1]]}}}
    return RunInfo(folder / mark, history, meta, test, {})


def hostile_model(mark: str) -> ModelInfo:
    meta = {mark: mark, "spec_name": "residual_flower", "heads": json.dumps([{"name": mark}]),
            "accuracy": json.dumps({mark: mark}), "spec": mark, "weights": mark}
    return ModelInfo(Path(mark), meta, mark)


@pytest.mark.parametrize("mark", HOSTILE)
def test_every_value_from_a_file_lands_escaped(tmp_path, mark):
    spec = load_spec(RESIDUAL)
    a = analyze_graph(lower(spec))
    html = build_page(a, description=mark, run=hostile_run(tmp_path, mark),
                      model=hostile_model(mark))
    assert_inert(html)
    assert mark not in html


def test_a_foreign_spec_name_in_a_record_lands_escaped(tmp_path):
    a = analyze_graph(lower(load_spec(RESIDUAL)))
    run = hostile_run(tmp_path, "ok")
    run.meta["name"] = HOSTILE[2]
    html = build_page(a, run=run)
    assert_inert(html)
    assert "Warning: this run is of model" in html


def test_the_policy_runs_only_the_pages_own_scripts():
    html = build_page(analyze_graph(lower(load_spec(RESIDUAL))))
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html).group(1)
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    script_src = directives["script-src"].split()
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert "'unsafe-hashes'" not in script_src
    hashes = {"'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
              for s in parse(html).scripts}
    assert set(script_src) == hashes and len(hashes) == 2
    assert directives["default-src"] == "'none'" and directives["img-src"] == "data:"


@pytest.mark.parametrize("field, value, words", [
    ("precision", '<img src=x onerror="pwned()">', "`per_class.output[0].precision` should be a number"),
    ("support", 2.5, "`per_class.output[0].support` should be a whole number"),
    ("class", {"a": 1}, "`per_class.output[0].class` should be text or a whole number"),
])
def test_a_test_report_of_the_wrong_types_is_a_one_line_error(run_folder, field, value, words):
    test = json.loads((run_folder / "test.json").read_text())
    test["per_class"]["output"][0][field] = value
    (run_folder / "test.json").write_text(json.dumps(test))
    r = CliRunner().invoke(app, ["report", str(RESIDUAL), "--run", str(run_folder), "-o",
                                 str(run_folder / "p.html")])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], r.output
    assert "internal error" not in r.output
    assert not (run_folder / "p.html").exists()


@pytest.mark.parametrize("test", [
    [1, 2], {"confusion": {"output": {"labels": ["a"], "matrix": [["x"]]}}},
    {"accuracy": {"output": "high"}}, {"samples": True}, {"per_class": {"output": [3]}},
])
def test_malformed_test_reports_are_refused_by_place(run_folder, test):
    from cnncompile.errors import DataError

    (run_folder / "test.json").write_text(json.dumps(test))
    with pytest.raises(DataError, match=r"test\.json: .* should be "):
        read_run(run_folder)
