"""Error lines carry values from the user's files and names: shown escaped, one line each."""

from __future__ import annotations

import subprocess
import sys


def _stderr(*args: str) -> tuple[int, str]:
    r = subprocess.run([sys.executable, "-m", "cnncompile", *args], capture_output=True,
                       text=True, errors="surrogateescape", timeout=120)
    return r.returncode, r.stderr


def test_a_file_name_with_a_newline_and_escape_codes_is_one_escaped_line(tmp_path):
    name = tmp_path / "bad\nerror: forged\x1b[2J\x07.yaml"
    name.write_text("name: t\ninput: [4, 4, 1]\noutput: {classes: 2}\nlayers: [[conv]]\n")
    code, err = _stderr("analyze", str(name))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert "\x1b" not in err and "\x07" not in err
    assert "\\x0aerror: forged\\x1b[2J\\x07.yaml" in err


def test_a_bad_option_value_with_control_characters_is_escaped():
    code, err = _stderr("analyze", "x.yaml", "--format", "t\x1b]0;owned\x07")
    assert code == 2
    assert err.count("\n") == 1 and "\x1b" not in err and "\\x1b]0;owned\\x07" in err
