"""`include:`: the macros a spec imports from other files, read once each and bounded.

The files a spec includes form a graph. Each file is read and parsed once per spec, however
many paths reach it (a diamond, or a fan-out where every file includes the next two, costs one
read per file instead of one per path). A macro reached through two paths is one macro when it
is the same definition in the same file; two different definitions of one name are an error.
A cycle is an error, and so is a graph deeper than ``MAX_INCLUDE_DEPTH``, with more than
``MAX_INCLUDED_FILES`` files or more than ``MAX_INCLUDED_CHARS`` characters in all: the limits
make a hostile spec fail fast instead of reading for ever.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import DslSyntaxError, Location
from .build import Macro
from .source import MAX_FILE_BYTES, LDict, load_yaml, read_text

MAX_INCLUDE_DEPTH = 64  # files in one chain of includes below the spec
MAX_INCLUDED_FILES = 128  # distinct files a spec includes, directly or not
MAX_INCLUDED_CHARS = MAX_FILE_BYTES  # their text in all: as much as one spec file may hold


class IncludeGraph:
    """The files one spec includes: each file's exported macros, computed once."""

    def __init__(self, macro_defs: Callable[[object, Location], dict[str, Macro]]) -> None:
        self.macro_defs = macro_defs  # the macros one file's document defines itself
        self.exported: dict[Path, dict[str, Macro]] = {}  # a file's own macros over its includes'
        self.chain: list[Path] = []  # the files being read, outermost first
        self.chars = 0

    def macros(self, raw, path: Path | None, shown: str) -> dict[str, Macro]:
        """The macros of the spec ``raw`` (read from ``path``): its own over its includes'."""
        if path is not None:
            self.chain.append(path.resolve())
        macros = self._included(raw, path, shown)
        macros.update(self.macro_defs(raw, Location(shown)))
        return macros

    def _included(self, raw, path: Path | None, shown: str) -> dict[str, Macro]:
        """Every macro the files ``raw`` includes export; a name from two files is an error."""
        out: dict[str, Macro] = {}
        if not isinstance(raw, LDict) or raw.get("include") is None:
            return out
        inc, where = raw["include"], raw.value_loc("include")
        if isinstance(inc, str):
            inc = [inc]
        if not isinstance(inc, list) or not all(isinstance(p, str) for p in inc):
            raise DslSyntaxError("`include` must be a list of file paths", where)
        if len(inc) > MAX_INCLUDED_FILES:
            raise DslSyntaxError(f"`include` names {len(inc):,} files; a spec may include at "
                                 f"most {MAX_INCLUDED_FILES} in all", where)
        base = path.parent if path else Path.cwd()
        for rel in dict.fromkeys(inc):
            target = (base / rel).resolve()
            sub_shown = str(Path(shown).parent / rel) if shown else str(target)
            for name, macro in self._exported(target, rel, sub_shown, where).items():
                other = out.get(name)
                if other is not None and other is not macro:
                    raise DslSyntaxError(f"macro {name!r} is defined in two included files: "
                                         f"{other.loc.file} and {macro.loc.file}", where)
                out[name] = macro
        return out

    def _exported(self, target: Path, rel: str, shown: str, where: Location) -> dict[str, Macro]:
        """The macros ``target`` exports, read on the first visit only."""
        if target in self.chain:
            cycle = self.chain[self.chain.index(target):] + [target]
            raise DslSyntaxError("include cycle: " + " > ".join(p.name for p in cycle), where)
        if target in self.exported:
            return self.exported[target]
        if len(self.chain) > MAX_INCLUDE_DEPTH:
            raise DslSyntaxError(f"includes nest more than {MAX_INCLUDE_DEPTH} files deep "
                                 f"(at {rel!r}); flatten the chain", where)
        if len(self.exported) >= MAX_INCLUDED_FILES:
            raise DslSyntaxError(f"a spec may include at most {MAX_INCLUDED_FILES} files in all "
                                 f"(at {rel!r})", where)
        if not target.exists():
            raise DslSyntaxError(f"included file {rel!r} does not exist (looked at {target})", where)
        text = read_text(target)
        self.chars += len(text)
        if self.chars > MAX_INCLUDED_CHARS:
            raise DslSyntaxError(f"the included files hold more than {MAX_INCLUDED_CHARS:,} "
                                 f"characters in all (at {rel!r})", where)
        raw = load_yaml(text, shown)
        self.chain.append(target)
        macros = self._included(raw, target, shown)
        macros.update(self.macro_defs(raw, Location(shown)))
        self.chain.pop()
        self.exported[target] = macros
        return macros

