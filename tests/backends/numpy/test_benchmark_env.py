"""Benchmarks run on the machine's native BLAS kernel and say which kernel that is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"
SCRIPT = f"""
import sys
sys.path.insert(0, {str(BENCHMARKS)!r})
import _env
_env.use_native_kernel()
import os, numpy
print(os.environ.get("OPENBLAS_CORETYPE"), os.environ.get("OPENBLAS_L2_SIZE"))
print(_env.describe())
"""


def _run(tmp_path: Path, **forced: str) -> list[str]:
    script = tmp_path / "bench.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    out = subprocess.run([sys.executable, str(script), "--some-flag"], env={**env, **forced},
                         capture_output=True, text=True, check=True, timeout=60)
    return out.stdout.splitlines()


def test_forced_kernel_variables_are_dropped_by_re_executing(tmp_path):
    native = _run(tmp_path)
    assert native[0] == "None None"
    assert "BLAS: " in native[1] and "load average" in native[1] and "ran without" not in native[1]
    forced = _run(tmp_path, OPENBLAS_CORETYPE="Prescott", OPENBLAS_L2_SIZE="262144")
    assert forced[0] == "None None", "the benchmark still runs with the forced kernel"
    assert "ran without OPENBLAS_CORETYPE=Prescott OPENBLAS_L2_SIZE=262144" in forced[1]
    # the same kernel as a process that never had the variables
    kernel = native[1].split(";")[0]
    assert forced[1].startswith(kernel + " (native kernel"), (native[1], forced[1])
