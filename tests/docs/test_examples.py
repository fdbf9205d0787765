"""The docs' worked examples run: every ```yaml spec block analyses to the figures shown beside it.

A block opened with ```yaml spec is a whole spec file. The ```console block that follows it (if
any, before the next spec) shows `$ cnncompile analyze FILE ...` and lines of its output; every
shown line must appear, in that order, in the real output ("..." stands for lines left out).
Each spec is written to a `docs/` folder next to a link to the repository's `specs/`, so an
`include: [../specs/lib/...]` resolves as it would for a file saved in the repository's docs/.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cnncompile.analysis.warnings import find_warnings
from cnncompile.cli import app
from cnncompile.frontend import load_spec
from cnncompile.ir import lower

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", *DOCS]
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```\s*$", re.M | re.S)


def blocks(path: Path) -> list[tuple[str, str]]:
    """(info string, body) of every fenced block of a Markdown file, in order."""
    return [(m.group(1).strip(), m.group(2)) for m in FENCE.finditer(path.read_text())]


def examples() -> list[tuple[str, str, str | None]]:
    """(id, spec text, the console block shown after it or None) for every spec block."""
    out = []
    for path in PAGES:
        found = blocks(path)
        for i, (info, body) in enumerate(found):
            if info != "yaml spec":
                continue
            console = None
            for info2, body2 in found[i + 1:]:
                if info2 == "yaml spec":
                    break
                if info2 == "console":
                    console = body2
                    break
            name = re.search(r"^name: (\S+)", body, re.M).group(1)
            out.append((f"{path.name}:{name}", body, console))
    return out


EXAMPLES = examples()


def write_example(tmp_path: Path, text: str) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    if not (tmp_path / "specs").exists():
        (tmp_path / "specs").symlink_to(ROOT / "specs")
    name = re.search(r"^name: (\S+)", text, re.M).group(1)
    path = docs / f"{name}.yaml"
    path.write_text(text)
    return path


def test_the_docs_hold_the_promised_examples():
    ids = [e[0] for e in EXAMPLES]
    assert {"README.md:first", "dsl.md:tiny_flowers", "dsl.md:mlp", "dsl.md:residual_flower",
            "dsl.md:two_heads"} <= set(ids)
    assert all(e[2] is not None for e in EXAMPLES), "every spec example shows its figures"


@pytest.mark.parametrize("example", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_example_analyses_to_the_figures_shown(example, tmp_path):
    _, text, console = example
    path = write_example(tmp_path, text)
    graph = lower(load_spec(path))
    assert find_warnings(graph) == []  # examples teach; none of them trips a warning
    lines = console.splitlines()
    command = shlex.split(lines[0].removeprefix("$ "))
    assert command[:2] == ["cnncompile", "analyze"] and command[2] == path.name
    r = CliRunner().invoke(app, ["analyze", str(path), *command[3:]])
    assert r.exit_code == 0, r.output
    real = r.stdout.splitlines()
    at = 0
    for want in lines[1:]:
        if want == "...":
            continue
        assert want in real[at:], f"{want!r} is not in the output (from line {at}):\n{r.stdout}"
        at = real.index(want, at) + 1


def test_the_first_spec_trains_on_an_image_folder_laid_out_as_data_md_shows(tmp_path,
                                                                            monkeypatch):
    from PIL import Image

    monkeypatch.setenv("CNNCOMPILE_CACHE", str(tmp_path / "cache"))
    tree = next(b for info, b in blocks(ROOT / "docs" / "data.md") if info == "text flowers")
    assert tree.splitlines()[0] == "flowers/"
    text = next(e[1] for e in EXAMPLES if e[0] == "dsl.md:tiny_flowers")
    labels = re.search(r"labels: \[(.*)\]", text).group(1).split(", ")
    for label in labels:  # the documented layout: flowers/<class>/<image>.jpg
        assert f"{label}/" in tree
    rng = np.random.default_rng(0)
    for k, label in enumerate(labels):
        (tmp_path / "flowers" / label).mkdir(parents=True)
        for i in range(12):
            img = rng.integers(0, 60, (40, 48, 3)).astype(np.uint8)
            img[..., k % 3] += 150
            Image.fromarray(img).save(tmp_path / "flowers" / label / f"{i:04d}.jpg")
    spec = write_example(tmp_path, text)
    r = CliRunner().invoke(app, ["train", str(spec), "--data", str(tmp_path / "flowers"),
                                 "--epochs", "1", "--out", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    assert "40 train / 3 validation / 17 test, 32x32x3, 5 classes" in r.output
    assert (tmp_path / "run" / "test.json").is_file()


def test_no_page_points_outside_the_repository():
    for page in PAGES:
        text = page.read_text()
        assert "shared docs" not in text and "spec-format" not in text, page
        for target in re.findall(r"\]\(([^)]+)\)", text):
            if target.startswith("#") or re.match(r"https?://", target):
                continue
            file = target.split("#")[0]
            assert (page.parent / file).exists(), f"{page.name} links to missing {target}"
