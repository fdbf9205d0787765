"""Reading a Python script without running it: its text, positions, tokens and literals.

The textbook's scripts are read with :mod:`ast` alone. This module knows Python, not the book:
it decodes the file, parses it (a syntax error becomes one located line, a missing comma found
by tokens), turns ast positions (UTF-8 byte offsets) into 1-based character columns, and
evaluates literals, following names bound earlier to literals. Every mistake is one line that
starts ``FILE.py:LINE:COL:``.

Work is linear in the file's size, whatever its shape: a long literal, many strings or one very
long line (the positions of a line are counted once, not once per node). Literals are bounded
(:data:`MAX_STRING_CHARS`, :data:`MAX_INT_DIGITS`); a spec never needs more.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

from ..errors import DslSyntaxError
from ..frontend.source import read_bounded
from ..values import MAX_INT_DIGITS  # the spec's bound: a longer literal is no spec value

Pos = tuple[int, int]  # (line, 1-based column)

MAX_STRING_CHARS = 1024 * 1024  # a string literal; names, labels and options are far shorter
_INT_BOUND = 10**MAX_INT_DIGITS

_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # the line breaks ast counts lines by
_BLOCK = 4096  # bytes between the character counts kept for a long non-ASCII line
_CONTINUATION_BYTES = bytes(range(0x80, 0xC0))  # UTF-8 bytes that do not start a character


def read_source(path: Path) -> str:
    """The text of a Python file (its coding declaration honoured), refusing huge or binary ones."""
    shown = str(path)
    data = read_bounded(path, "Python file")
    if b"\x00" in data:
        raise DslSyntaxError(f"{shown}: this is a binary file, not Python source")
    encoding = "utf-8"
    try:
        encoding = tokenize.detect_encoding(io.BytesIO(data).readline)[0]
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DslSyntaxError(f"{shown}:{line}:1: the file is not {encoding} text; save it as "
                             "UTF-8 or declare its coding (# -*- coding: cp949 -*-)") from None
    except (SyntaxError, LookupError) as e:
        raise DslSyntaxError(f"{shown}:1:1: bad coding declaration: {e}") from None


class SourceText:
    """A script's text as lines, with positions and errors located in it."""

    def __init__(self, text: str, shown: str):
        self.text = text
        self.shown = shown
        self.lines = _LINE_BREAK.split(text)
        self._encoded: dict[int, bytes] = {}
        self._char_counts: dict[int, list[int]] = {}

    def parse(self) -> ast.Module:
        """The module's syntax tree; a syntax error becomes one located line."""
        try:
            return ast.parse(self.text, filename=self.shown)
        except SyntaxError as e:
            raise self._syntax_error(e) from None
        except (RecursionError, MemoryError):
            raise DslSyntaxError(f"{self.shown}:1:1: the file nests too deeply to read") from None

    def error(self, where: ast.AST | Pos, message: str) -> DslSyntaxError:
        line, col = where if isinstance(where, tuple) else self.pos(where)
        return DslSyntaxError(f"{self.shown}:{line}:{col}: {message}")

    def pos(self, node: ast.AST) -> Pos:
        return node.lineno, self.column(node.lineno, node.col_offset)

    def column(self, line: int, byte_col: int) -> int:
        """The 1-based character column of ``byte_col``, a UTF-8 offset as ast gives them."""
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        if text.isascii():
            return byte_col + 1
        # characters = bytes that start one; counted per block once, so that many nodes on one
        # long line cost no more than the line
        data = self._line_bytes(line)
        counts = self._char_counts.get(line)
        if counts is None:
            counts = [0]
            for start in range(0, len(data), _BLOCK):
                counts.append(counts[-1] + _chars(data[start:start + _BLOCK]))
            self._char_counts[line] = counts
        block = min(byte_col // _BLOCK, len(counts) - 1)
        return counts[block] + _chars(data[block * _BLOCK:byte_col]) + 1

    def segment(self, node: ast.AST) -> str:
        """The source text of ``node`` (``ast.get_source_segment`` splits the whole file per call)."""
        first, last = node.lineno, node.end_lineno or node.lineno
        if first == last:
            return self._line_bytes(first)[node.col_offset:node.end_col_offset].decode()
        parts = [self._line_bytes(first)[node.col_offset:]]
        parts += [self._line_bytes(n) for n in range(first + 1, last)]
        parts.append(self._line_bytes(last)[:node.end_col_offset])
        return "\n".join(p.decode() for p in parts)

    def bracket_after(self, node: ast.AST) -> Pos:
        """Where the '[' after ``node`` is (skipping spaces, comments and line breaks)."""
        line = node.end_lineno or node.lineno
        col = self.column(line, node.end_col_offset or 0) - 1
        while line <= len(self.lines):
            rest = self.lines[line - 1][col:].split("#")[0]
            stripped = rest.lstrip()
            if stripped:
                return line, col + len(rest) - len(stripped) + 1
            line, col = line + 1, 0
        return self.pos(node)

    def _line_bytes(self, line: int) -> bytes:
        data = self._encoded.get(line)
        if data is None:
            data = self._encoded[line] = self.lines[line - 1].encode()
        return data

    def _syntax_error(self, e: SyntaxError) -> DslSyntaxError:
        line, col = e.lineno or 1, e.offset or 1
        message = e.msg
        if "forgot a comma" in message:
            line, col = _comma_gap(self.text, line, col) or (line, col)
            message = "missing comma here (Python: invalid syntax)"
        return DslSyntaxError(f"{self.shown}:{line}:{col}: {message}")


def _chars(data: bytes) -> int:
    """The characters in UTF-8 ``data`` that starts and ends on character boundaries."""
    return len(data.translate(None, delete=_CONTINUATION_BYTES))


def _comma_gap(text: str, line: int, col: int) -> Pos | None:
    """Where a comma belongs: after the first item that another item follows directly."""
    lines = text.splitlines(keepends=True)[line - 1:]
    if not lines:
        return None
    lines[0] = " " * (col - 1) + lines[0][col - 1:]
    depth, prev, atoms = 0, None, (tokenize.NAME, tokenize.NUMBER, tokenize.STRING)
    try:
        for tok in tokenize.generate_tokens(io.StringIO("".join(lines)).readline):
            op = tok.string if tok.type == tokenize.OP else ""
            if depth == 0 and prev is not None and (tok.type in atoms or op == "{") and not (
                    prev.type == tok.type == tokenize.STRING):  # 'a' 'b' is one string
                return line + prev.end[0] - 1, prev.end[1] + 1
            depth += (op in ("(", "[", "{")) - (op in (")", "]", "}"))
            ends = tok.type in atoms or op in (")", "]", "}")
            if tok.type not in (tokenize.NL, tokenize.COMMENT):
                prev = tok if ends and depth == 0 else None
    except (tokenize.TokenError, SyntaxError):
        return None
    return None


class Unusable:
    """A name bound to something that is not a literal; ``why`` is said when it is used."""

    def __init__(self, why: str | DslSyntaxError):
        self.why = why


class Literals:
    """Evaluates Python literals, following the names bound to literals so far.

    ``origins`` maps ``id()`` of every list and dict made to where it was written, so that the
    YAML writer can keep the script's line breaks and errors can point back into the script.
    """

    def __init__(self, source: SourceText):
        self.source = source
        self.bindings: dict[str, object] = {}
        self.origins: dict[int, Pos] = {}

    def value(self, node: ast.AST, what: str):
        """The value of a Python literal (or of a name bound to one); anything else is an error."""
        if isinstance(node, ast.Constant) and (node.value is None or isinstance(
                node.value, (bool, int, float, str))):
            self._check_size(node)
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)) \
                and isinstance(node.operand, ast.Constant) \
                and type(node.operand.value) in (int, float):
            self._check_size(node.operand)
            return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
        if isinstance(node, (ast.List, ast.Tuple)) and not any(
                isinstance(e, ast.Starred) for e in node.elts):
            out = [self.value(e, what) for e in node.elts]
            self.origins[id(out)] = self.source.pos(node)
            return out
        if isinstance(node, ast.Dict) and None not in node.keys:
            return self._dict(node, what)
        if isinstance(node, ast.Name):
            return self._name(node, what)
        if isinstance(node, ast.Subscript):
            raise self.source.error(
                self.source.bracket_after(node.value), "missing comma before this '[': "
                "without it Python reads the brackets as indexing the item before")
        raise self.source.error(
            node, f"{what} must be a Python literal (lists, dicts, strings, numbers, "
            f"True/False) or a name bound to one; found {describe(node)}")

    def try_value(self, node: ast.AST):
        """The literal, or an :class:`Unusable` that explains itself if the name is used."""
        try:
            return self.value(node, "the value")
        except DslSyntaxError as e:
            if isinstance(node, (ast.List, ast.Tuple, ast.Dict, ast.Constant)):
                return Unusable(e)  # a literal with a mistake inside: report that mistake
            return Unusable(f"is bound at line {node.lineno} to {describe(node)}, "
                            "not to a literal")

    def bind(self, name: str, value: ast.AST | None) -> None:
        """``name = value``; None for a binding that is not a plain assignment."""
        self.bindings[name] = Unusable("is not bound by a plain assignment of a literal") \
            if value is None else self.try_value(value)

    def _dict(self, node: ast.Dict, what: str) -> dict:
        out: dict = {}
        for k, v in zip(node.keys, node.values, strict=True):
            key = self.value(k, what)
            if isinstance(key, (list, dict)):
                raise self.source.error(k, f"{what}: a dict key must be a string or a number")
            if key in out:
                raise self.source.error(k, f"{what}: the key {key!r} appears twice in this dict")
            out[key] = self.value(v, what)
        self.origins[id(out)] = self.source.pos(node)
        return out

    def _name(self, node: ast.Name, what: str):
        if node.id not in self.bindings:
            raise self.source.error(node, f"{what}: `{node.id}` is not bound to a literal "
                                          "earlier in the file")
        value = self.bindings[node.id]
        if isinstance(value, Unusable):
            if isinstance(value.why, DslSyntaxError):
                raise value.why
            raise self.source.error(node, f"{what}: `{node.id}` {value.why}")
        return value

    def _check_size(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, str):
            if len(value) > MAX_STRING_CHARS:
                raise self.source.error(
                    node, f"a string literal may be at most {MAX_STRING_CHARS:,} characters; "
                    f"this one has {len(value):,}")
            self._check_joined_strings(node)
        elif isinstance(value, int) and not isinstance(value, bool) \
                and abs(value) >= _INT_BOUND:
            raise self.source.error(
                node, f"an integer literal may have at most {MAX_INT_DIGITS} digits")

    def _check_joined_strings(self, node: ast.Constant) -> None:
        try:
            tokens = [t for t in tokenize.generate_tokens(
                io.StringIO(self.source.segment(node)).readline) if t.type == tokenize.STRING]
        except (tokenize.TokenError, SyntaxError):
            return
        if len(tokens) > 1:
            row, col = tokens[0].end
            line, start = self.source.pos(node)
            where = (line + row - 1, (start - 1 if row == 1 else 0) + col + 1)
            raise self.source.error(
                where, f"missing comma between the strings {tokens[0].string} and "
                f"{tokens[1].string} (Python joins adjacent strings)")


def describe(node: ast.AST) -> str:
    """What kind of expression ``node`` is, with its (shortened) source, for error messages."""
    kinds = {ast.Call: "a function call", ast.ListComp: "a list comprehension",
             ast.DictComp: "a dict comprehension", ast.GeneratorExp: "a generator",
             ast.BinOp: "an arithmetic expression", ast.JoinedStr: "an f-string",
             ast.Attribute: "an attribute", ast.Lambda: "a lambda", ast.IfExp: "a conditional"}
    text = ast.unparse(node)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{kinds.get(type(node), 'an expression')} `{text}`"
