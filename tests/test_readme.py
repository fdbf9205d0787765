"""The README's two set-up commands are the ones the project runs."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    return re.findall(r"^    \$ (.+)$", (ROOT / "README.md").read_text(), flags=re.M)


def test_readme_has_exactly_two_setup_commands():
    assert len(readme_commands()) == 2


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = readme_commands()[1]
    ci_lines = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    assert test_command in ci_lines
    assert "pytest" in test_command


def test_main_command_uses_files_that_exist():
    main = readme_commands()[0]
    for path in re.findall(r"(?:specs|exported)/[\w./-]+", main):
        assert (ROOT / path).exists(), path
