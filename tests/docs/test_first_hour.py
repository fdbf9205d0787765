"""The README's first hour runs as printed: the spec, then every `$ cnncompile` line in order.

The commands run in a fresh folder with nothing but what the README makes (the spec block is
saved as first.yaml; `sample-data` makes the images). Every output line shown must appear, in
order, in the real output, with numbers free to differ (timings, and figures that move with the
machine's BLAS); "..." stands for lines left out.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NUMBER = re.compile(r"\d+(\.\d+)?")


def first_hour() -> tuple[str, list[tuple[list[str], list[str]]]]:
    """The spec text and (command, shown output lines) for every console command, in order."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## The first hour"):text.index("## Set up")]
    spec = re.search(r"```yaml spec\n(.*?)```", section, re.S).group(1)
    steps: list[tuple[list[str], list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", section, re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((shlex.split(line[2:]), []))
            elif steps:
                steps[-1][1].append(line)
    return spec, steps


def shape(line: str) -> str:
    return NUMBER.sub("#", " ".join(line.split()))


def test_the_first_hour_runs_as_printed(tmp_path):
    spec, steps = first_hour()
    assert [s[0][:2] for s in steps] == [["cnncompile", "analyze"], ["cnncompile", "sample-data"],
                                         ["cnncompile", "train"], ["cnncompile", "export"],
                                         ["cnncompile", "predict"]]
    (tmp_path / "first.yaml").write_text(spec)
    for argv, shown in steps:
        r = subprocess.run([sys.executable, "-m", "cnncompile", *argv[1:]], cwd=tmp_path,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, (argv, r.stderr)
        got = [shape(line) for line in (r.stdout + r.stderr).splitlines()]
        at = 0
        for want in (shape(s) for s in shown if s.strip() and s.strip() != "..."):
            assert want in got[at:], (argv, want, got)
            at = got.index(want, at) + 1
