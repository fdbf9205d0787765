"""Safe YAML loading that remembers where every list and mapping came from.

Lists and dicts come back as :class:`LList` / :class:`LDict`, plain ``list``/``dict`` subclasses
that carry a :class:`~cnncompile.errors.Location` for themselves and for each item or value, so
that every later error can point at a file and line. Plain scalars are read by the YAML 1.2
core schema (``cnncompile.values``: `1e-5` is a number, `010` is ten, `yes` is a string), the same
rule the training flags use. Loading is bounded: a file larger than
``MAX_FILE_BYTES`` or a document that expands (anchors and aliases included) into more than
``MAX_YAML_NODES`` values is refused before it can exhaust memory.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ..artifacts.inputs import note_input
from ..errors import DslSyntaxError, Location
from ..filekinds import special_kind
from ..values import CCoreSchemaLoader, CoreSchemaLoader, NumberTooLong

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_YAML_NODES = 100_000


class LList(list):
    """A list with the location of itself and of each item."""

    loc: Location = Location()
    item_locs: list

    def item_loc(self, i: int) -> Location:
        locs = getattr(self, "item_locs", None)
        return locs[i] if locs and i < len(locs) else self.loc


class LDict(dict):
    """A dict with the location of itself and of each value."""

    loc: Location = Location()
    value_locs: dict

    def value_loc(self, key) -> Location:
        locs = getattr(self, "value_locs", None)
        return locs.get(key, self.loc) if locs else self.loc


def make_list(items, loc: Location, item_locs=None) -> LList:
    out = LList(items)
    out.loc = loc
    out.item_locs = list(item_locs) if item_locs is not None else [loc] * len(out)
    return out


def make_dict(items: dict, loc: Location, value_locs=None) -> LDict:
    out = LDict(items)
    out.loc = loc
    out.value_locs = dict(value_locs) if value_locs is not None else {k: loc for k in out}
    return out


_UNQUOTED_PLACEHOLDER = re.compile(r"(?:^|[\s,\[{:])(#[A-Za-z_]\w*)")


def unquoted_placeholder(line_text: str) -> str | None:
    """The first ``#name`` on a line that YAML would read as a comment, if any."""
    in_quote = None
    for i, ch in enumerate(line_text):
        if in_quote:
            if ch == in_quote:
                in_quote = None
        elif ch in "'\"":
            in_quote = ch
        elif ch == "#":
            m = _UNQUOTED_PLACEHOLDER.match(line_text, max(i - 1, 0))
            if m and (i == 0 or line_text[i - 1] in " \t,[{:"):
                return m.group(1)
            return None
    return None


def placeholder_hint(lines: list[str], line_no: int) -> str | None:
    """Plain-words explanation when line ``line_no`` (1-based) has an unquoted ``#name``."""
    if 1 <= line_no <= len(lines):
        name = unquoted_placeholder(lines[line_no - 1])
        if name:
            return (
                f"the placeholder {name} is not quoted, so YAML reads it as a comment; "
                f"write '{name}' (in quotes)"
            )
    return None


def read_bounded(path: Path, what: str) -> bytes:
    """The bytes of ``path`` once its stat shows a regular file of at most ``MAX_FILE_BYTES``.

    A FIFO or a device is refused before it is opened (it would block or never end), and at
    most ``MAX_FILE_BYTES + 1`` bytes are read even if the file grows meanwhile.

    Raises:
        DslSyntaxError: ``FILE: ...`` for a missing, unreadable, special or oversized file.
    """
    where = Location(str(path))
    try:
        st = path.stat()
        kind = special_kind(st.st_mode)
        if kind is not None:
            raise DslSyntaxError(f"is {kind}, not a {what}", where)
        if st.st_size > MAX_FILE_BYTES:
            raise DslSyntaxError(f"the file is {st.st_size:,} bytes; a {what} may be at most "
                                 f"{MAX_FILE_BYTES:,}", where)
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
        note_input(path, what, st)
    except OSError as e:
        raise DslSyntaxError(f"cannot read the {what}: {e.strerror}", where) from None
    if len(data) > MAX_FILE_BYTES:
        raise DslSyntaxError(f"the file grew past {MAX_FILE_BYTES:,} bytes; a {what} may be at "
                             f"most {MAX_FILE_BYTES:,}", where)
    return data


def read_text(path: Path) -> str:
    """The spec file's text, refusing missing, special, huge, binary and non-UTF-8 files."""
    shown = str(path)
    data = read_bounded(path, "spec file")
    if b"\x00" in data:
        raise DslSyntaxError("this is a binary file, not a YAML spec", Location(shown))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DslSyntaxError("the file is not UTF-8 text", Location(shown, line)) from None


class _Builder:
    """Turns a composed YAML node tree into LList/LDict values, counting every value built."""

    def __init__(self, file: str, loader: CoreSchemaLoader):
        self.file = file
        self.loader = loader
        self.count = 0

    def loc(self, node) -> Location:
        return Location(self.file, node.start_mark.line + 1)

    def build(self, node):
        self.count += 1
        if self.count > MAX_YAML_NODES:
            raise DslSyntaxError(
                f"the document expands to more than {MAX_YAML_NODES:,} values "
                "(anchors and aliases included); this limit keeps hostile files harmless",
                self.loc(node),
            )
        if isinstance(node, yaml.SequenceNode):
            items = [self.build(n) for n in node.value]
            return make_list(items, self.loc(node), [self.loc(n) for n in node.value])
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)
            out, locs = {}, {}
            for key_node, value_node in node.value:
                key = self.build(key_node)
                if isinstance(key, (list, dict)):
                    raise DslSyntaxError("a mapping key must be a plain value", self.loc(key_node))
                if key in out:
                    raise DslSyntaxError(f"the key {key!r} appears twice", self.loc(key_node))
                out[key] = self.build(value_node)
                locs[key] = self.loc(value_node)
            return make_dict(out, self.loc(node), locs)
        return self.loader.construct_object(node, deep=True)


# file name -> its lines, so that later checks can explain an unquoted placeholder
SOURCE_LINES: dict[str, list[str]] = {}


def hint_at(loc: Location) -> str | None:
    """The unquoted-placeholder explanation for the line at ``loc``, if it has one."""
    return placeholder_hint(SOURCE_LINES.get(loc.file or "", []), loc.line or 0)


# libyaml's composer recurses on the C stack, unchecked: a few tens of thousands of nested
# brackets crash the process, so only texts too short to nest that deep are given to it
C_LOADER_MAX_CHARS = 16_384
_CSafeLoader = CCoreSchemaLoader  # libyaml's safe loader with YAML 1.2 scalars; None without it


def _compose(text: str):
    """A loader and the single document node of ``text``, composed by libyaml when it is there
    and the text is short (a spec parses ten times faster), else by PyYAML's Python loader. The
    Python loader also reads any text libyaml refuses, so errors and their wording are its own."""
    if _CSafeLoader is not None and len(text) <= C_LOADER_MAX_CHARS:
        fast = _CSafeLoader(text)
        try:
            return fast, fast.get_single_node()
        except BaseException as e:
            fast.dispose()
            if not isinstance(e, yaml.YAMLError):
                raise  # a YAML error falls through: the Python loader words it
    loader = CoreSchemaLoader(text)
    try:
        return loader, loader.get_single_node()
    except BaseException:
        loader.dispose()
        raise


def load_yaml(text: str, file: str):
    """Parse one YAML document from ``text`` into located values. ``file`` names it in errors."""
    lines = text.splitlines()
    SOURCE_LINES[file] = lines
    loader = None
    try:
        loader, node = _compose(text)
        if node is None:
            raise DslSyntaxError("the file is empty", Location(file))
        return _Builder(file, loader).build(node)
    except NumberTooLong as e:  # valid YAML, but not a number anything here could use
        raise DslSyntaxError(e.problem, Location(file, e.problem_mark.line + 1)) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        for ln in (line, line - 1) if line else ():
            hint = placeholder_hint(lines, ln)
            if hint:
                raise DslSyntaxError(hint, Location(file, ln)) from None
        problem = (e.problem or str(e)).strip()
        raise DslSyntaxError(f"invalid YAML: {problem}", Location(file, line)) from None
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        raise DslSyntaxError(f"invalid YAML: character {e.character!r} is not allowed",
                             Location(file, line)) from None
    except yaml.YAMLError as e:
        raise DslSyntaxError(f"invalid YAML: {e}", Location(file)) from None
    except RecursionError:
        raise DslSyntaxError("the YAML nests too deeply", Location(file)) from None
    finally:
        if loader is not None:
            loader.dispose()
