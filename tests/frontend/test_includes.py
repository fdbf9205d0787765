"""The include graph: each file read once, diamonds allowed, conflicts, cycles and size refused."""

import pytest

from cnncompile.errors import DslSyntaxError
from cnncompile.frontend import includes, load_spec
from cnncompile.frontend.includes import MAX_INCLUDE_DEPTH, MAX_INCLUDED_FILES

HEAD = "name: t\ninput: [8, 8, 3]\noutput: {classes: 2}\n"


@pytest.fixture
def reads(monkeypatch):
    """The resolved paths of every included file read, in order."""
    seen = []
    real = includes.read_text

    def counting(path):
        seen.append(path)
        return real(path)

    monkeypatch.setattr(includes, "read_text", counting)
    return seen


def _fan_out(write, n: int) -> None:
    """f0 ... f{n-1}, each including the next two: 2**n paths through n files."""
    for i in range(n):
        nxt = [f"f{j}.yaml" for j in (i + 1, i + 2) if j < n]
        write(f"f{i}.yaml", f"include: [{', '.join(nxt)}]\nmacros: {{m{i}: [max]}}\n")


def test_a_fan_out_of_64_files_reads_each_file_once(write, reads):
    _fan_out(write, 64)
    p = write("s.yaml", HEAD + "include: [f0.yaml]\nlayers: [[custom, {name: m63}], 10]\n")
    spec = load_spec(p)
    assert spec.layers.items[0].body.op == "max"
    assert len(reads) == 64 and len(set(reads)) == 64


def test_a_diamond_defines_its_macros_once(write, reads):
    write("base.yaml", "macros: {blk: [conv, {ksize: 3, chn: 4}]}\n")
    write("left.yaml", "include: [base.yaml]\nmacros: {l: [max]}\n")
    write("right.yaml", "include: [./base.yaml]\nmacros: {r: [avg]}\n")
    p = write("s.yaml", HEAD + "include: [left.yaml, right.yaml, base.yaml]\n"
              "layers: [[custom, {name: blk}], [custom, {name: l}], [custom, {name: r}]]\n")
    blk, left, right = (c.body for c in load_spec(p).layers.items)
    assert blk.chn == 4 and left.op == "max" and right.op == "avg"
    assert sorted(r.name for r in reads) == ["base.yaml", "left.yaml", "right.yaml"]


def test_two_files_defining_one_macro_still_conflict_through_a_diamond(write):
    write("base.yaml", "macros: {x: [max]}\n")
    write("left.yaml", "include: [base.yaml]\n")
    write("right.yaml", "include: [base.yaml]\nmacros: {x: [avg]}\n")  # overrides base's x
    p = write("s.yaml", HEAD + "include: [left.yaml, right.yaml]\nlayers: [10]\n")
    with pytest.raises(DslSyntaxError, match=r"s.yaml:4: macro 'x' is defined in two included "
                       r"files: \S*/base.yaml and \S*/right.yaml$"):
        load_spec(p)


def test_a_cycle_names_its_files(write):
    write("a.yaml", "include: [b.yaml]\n")
    write("b.yaml", "include: [c.yaml]\n")
    write("c.yaml", "include: [a.yaml]\n")
    p = write("s.yaml", HEAD + "include: [a.yaml]\nlayers: [10]\n")
    with pytest.raises(DslSyntaxError, match=r"c.yaml:1: include cycle: a.yaml > b.yaml > "
                       r"c.yaml > a.yaml$"):
        load_spec(p)
    selfish = write("self.yaml", HEAD + "include: [self.yaml]\nlayers: [10]\n")
    with pytest.raises(DslSyntaxError, match=r"include cycle: self.yaml > self.yaml$"):
        load_spec(selfish)


def test_a_chain_deeper_than_the_limit_is_refused_where_it_crosses_it(write, reads):
    n = MAX_INCLUDE_DEPTH + 1
    for i in range(n):
        write(f"c{i}.yaml", f"include: [c{i + 1}.yaml]\n" if i + 1 < n else "macros: {m: [max]}\n")
    p = write("s.yaml", HEAD + "include: [c0.yaml]\nlayers: [10]\n")
    with pytest.raises(DslSyntaxError, match=rf"c{n - 2}.yaml:1: includes nest more than "
                       rf"{MAX_INCLUDE_DEPTH} files deep \(at 'c{n - 1}.yaml'\)"):
        load_spec(p)
    assert len(reads) == MAX_INCLUDE_DEPTH


def test_more_files_than_the_limit_are_refused_before_reading_them(write, reads):
    n = MAX_INCLUDED_FILES + 1
    for i in range(n):
        write(f"w{i}.yaml", f"macros: {{m{i}: [max]}}\n")
    names = ", ".join(f"w{i}.yaml" for i in range(n))
    p = write("s.yaml", HEAD + f"include: [{names[: names.rindex(',')]}]\nlayers: [10]\n")
    load_spec(p)  # exactly the limit
    reads.clear()
    p = write("s.yaml", HEAD + f"include: [{names}]\nlayers: [10]\n")
    with pytest.raises(DslSyntaxError, match=rf"s.yaml:4: `include` names {n} files; a spec may "
                       rf"include at most {MAX_INCLUDED_FILES} in all"):
        load_spec(p)
    assert reads == []
    # the same count reached through nesting
    write("half.yaml", f"include: [{names[: names.rindex(',')]}]\n")
    p = write("s.yaml", HEAD + f"include: [half.yaml, w{n - 1}.yaml]\nlayers: [10]\n")
    with pytest.raises(DslSyntaxError, match=rf"a spec may include at most {MAX_INCLUDED_FILES} "
                       rf"files in all \(at 'w{n - 1}.yaml'\)"):
        load_spec(p)


def test_the_included_text_is_bounded_in_all(write, monkeypatch):
    monkeypatch.setattr(includes, "MAX_INCLUDED_CHARS", 1000)
    filler = "# " + "x" * 500 + "\n"
    write("a.yaml", filler + "macros: {a: [max]}\n")
    write("b.yaml", filler + "macros: {b: [max]}\n")
    p = write("s.yaml", HEAD + "include: [a.yaml, b.yaml]\nlayers: [10]\n")
    with pytest.raises(DslSyntaxError, match=r"the included files hold more than 1,000 "
                       r"characters in all \(at 'b.yaml'\)"):
        load_spec(p)
