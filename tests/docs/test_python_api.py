"""docs/python-api.md's examples run, in order, and print what the page shows.

Every ```python block of the page must be a ```python api block; they run one after another in
one namespace, in an empty folder holding a link to the repository's `specs/` (as a user's
checkout would). A ```text output block right after an example shows lines of what it prints:
each must appear, in that order ("..." stands for lines left out; a line ending in "..." stands
for any line that starts with the text before it).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "python-api.md"


def _docs_examples_module():
    """tests/docs/test_examples.py, whose fenced-block reader this page shares."""
    spec = importlib.util.spec_from_file_location("_docs_test_examples",
                                                  Path(__file__).with_name("test_examples.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


blocks = _docs_examples_module().blocks


def examples() -> list[tuple[str, str | None]]:
    """(code, the output shown after it or None) of every ```python api block, in order."""
    found = blocks(PAGE)
    out = []
    for i, (info, body) in enumerate(found):
        if info == "python api":
            nxt = found[i + 1] if i + 1 < len(found) else None
            out.append((body, nxt[1] if nxt and nxt[0] == "text output" else None))
    return out


def shown_in(shown: str, printed: str) -> None:
    """Each shown line in ``printed``, in order."""
    real = printed.splitlines()
    at = 0
    for want in shown.splitlines():
        if want == "...":
            continue
        if want.endswith("..."):
            hits = [i for i in range(at, len(real)) if real[i].startswith(want[:-3])]
        else:
            hits = [i for i in range(at, len(real)) if real[i] == want]
        assert hits, f"{want!r} is not printed (from line {at}):\n{printed}"
        at = hits[0] + 1


def test_every_python_example_is_run():
    infos = [info for info, _ in blocks(PAGE) if info.startswith("python")]
    assert infos and set(infos) == {"python api"}
    code = "\n".join(c for c, _ in examples())
    for call in ("cnncompile.load(", ".analysis()", ".summary()", "_repr_html_()", ".train(",
                 ".evaluate(", ".export(", "cnncompile.quantize(", "cnncompile.predict(",
                 "except CnnCompileError"):
        assert call in code, f"no example calls {call}"


def test_the_examples_run_and_print_what_the_page_shows(tmp_path, monkeypatch):
    (tmp_path / "specs").symlink_to(ROOT / "specs")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__python_api_doc__"}
    for k, (code, shown) in enumerate(examples()):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, f"docs/python-api.md example {k + 1}", "exec"), namespace)
        if shown is not None:
            shown_in(shown, printed.getvalue())
    # the page promises a run folder, an export and its INT8 variant where it says
    assert (tmp_path / "runs" / "stripes" / "checkpoint.npz").is_file()
    assert "<svg" in (tmp_path / "lenet.svg").read_text()
    assert (tmp_path / "stripes.int8.onnx").is_file()
