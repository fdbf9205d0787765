"""Raw located YAML values -> the typed layer tree, expanding macros on the way.

Macro rules follow the textbook exactly (spec-format section 5): the body is deep-copied and
every list item and dict value that is a string equal to an ``args`` key is replaced (keys never
are, substituted values are not scanned again), and ``'##x'`` loses one ``#`` per expansion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import DslSyntaxError, Location
from .kinds import KINDS, Layer, LayerCall, LayerKind
from .kinds.composite import Serial
from .kinds.custom import Custom
from .layers import count_layers
from .options import Unfilled, closest, parse_options
from .source import LDict, LList, make_dict, make_list

MAX_LAYERS = 10_000  # expanded layers (loop copies included); ResNet-152 needs ~700
MAX_DEPTH = 200  # nesting of layer expressions and macro calls

_DOLLAR = re.compile(r"^\$([A-Za-z_]\w*)$")


def normalise_placeholder(value):
    """``$n`` is accepted as a synonym of ``#n`` (ext)."""
    if isinstance(value, str):
        m = _DOLLAR.match(value)
        if m:
            return "#" + m.group(1)
    return value


@dataclass
class Macro:
    name: str
    body: object  # raw located value
    loc: Location


def substitute(value, args: dict):
    """A deep copy of ``value`` with placeholders replaced by ``args`` (textbook rules)."""
    if isinstance(value, LList):
        items = [_replace(v, args) for v in value]
        return make_list(items, value.loc, getattr(value, "item_locs", None))
    if isinstance(value, LDict):
        items = {k: _replace(v, args) for k, v in value.items()}
        return make_dict(items, value.loc, getattr(value, "value_locs", None))
    return value


def _replace(value, args: dict):
    value = normalise_placeholder(value)
    if isinstance(value, str):
        if value in args:
            return args[value]  # not scanned again
        if value.startswith("##"):
            return value[1:]
        return value
    return substitute(value, args)


@dataclass
class LayerBuilder:
    """Builds typed layers from raw expressions; ``macros`` maps names to definitions."""

    macros: dict[str, Macro]
    built: int = 0
    macro_stack: list[str] = field(default_factory=list)

    # -- entry points -------------------------------------------------------------------
    def build_list(self, raw, loc: Location, path: str) -> Serial:
        """A hidden-layer list (``layers:``), applying the textbook's wrapping rule."""
        if not isinstance(raw, list):
            raise DslSyntaxError(
                f"`layers` must be a list of layer expressions. Received: {describe_value(raw)}", loc.at(path)
            )
        if raw and (isinstance(raw[0], bool) or not isinstance(raw[0], (list, int))):
            item = self.build(raw, loc, path, 0)
            return Serial(loc.at(path), [item])
        items = [
            self.build(v, _item_loc(raw, i, loc), f"{path}[{i}]", 0) for i, v in enumerate(raw)
        ]
        root = Serial(loc.at(path), items)
        self.check_size(root, loc.at(path))
        return root

    def build(self, raw, loc: Location, path: str, depth: int) -> Layer:
        if depth > MAX_DEPTH:
            raise DslSyntaxError(f"layers nest more than {MAX_DEPTH} levels deep", loc.at(path))
        self.built += 1
        if self.built > MAX_LAYERS:
            raise DslSyntaxError(
                f"the model expands to more than {MAX_LAYERS:,} layers (macros and loops "
                "included); this limit keeps runaway specs harmless",
                loc.at(path),
            )
        if isinstance(raw, bool) or raw is None or isinstance(raw, (float, dict)):
            raise DslSyntaxError(
                f"a layer must be a list like [conv, {{...}}], an integer width or a kind name. "
                f"Received: {describe_value(raw)}",
                loc.at(path),
            )
        if isinstance(raw, int):
            full = KINDS["full"]
            return full.build(self._layer_call(full, {"width": raw}, loc.at(path), lambda k: loc))
        if isinstance(raw, str):
            return self._bare_kind(raw, loc, path)
        if not raw:
            raise DslSyntaxError("an empty list is not a layer", loc.at(path))
        name = raw[0]
        if not isinstance(name, str) or name not in KINDS:
            if isinstance(name, str) and name.startswith("#"):
                raise self._unfilled(Unfilled(name), loc.at(path), "the layer kind")
            raise DslSyntaxError(
                f"unknown layer kind {name!r}{closest(name, KINDS)}", _item_loc(raw, 0, loc).at(path)
            )
        kind = KINDS[name]
        where = (loc if not isinstance(raw, LList) else raw.loc).at(f"{path} > {name}" if path else name)
        rest = list(raw[1:])
        options, opt_locs = {}, (lambda k: where)
        if rest and isinstance(rest[0], dict):
            options = rest.pop(0)
            opt_locs = _value_loc_fn(options, where)
        child_locs = [_item_loc(raw, i, where) for i in range(len(raw) - len(rest), len(raw))]
        if rest and not kind.composite:
            raise DslSyntaxError(kind.children_error.format(kind=name, count=len(rest)), where)
        # the call is made here, not in a helper: every frame counts towards MAX_DEPTH nesting
        return kind.build(self._layer_call(kind, options, where, opt_locs, rest, child_locs, depth))

    def _bare_kind(self, raw: str, loc: Location, path: str) -> Layer:
        if raw not in KINDS:
            if raw.startswith("#"):
                raise self._unfilled(Unfilled(raw), loc.at(path), "a layer")
            raise DslSyntaxError(f"unknown layer kind {raw!r}{closest(raw, KINDS)}", loc.at(path))
        kind = KINDS[raw]
        if kind.required or kind.composite:
            raise DslSyntaxError(
                f"{raw} needs options or child layers; write it as a list: [{raw}, {{...}}]",
                loc.at(path),
            )
        where = loc.at(f"{path} > {raw}" if path else raw)
        return kind.build(self._layer_call(kind, {}, where, lambda k: where))

    def _layer_call(self, kind: LayerKind, options: dict, where: Location, opt_locs,
                    children=(), child_locs=(), depth: int = 0) -> LayerCall:
        """The call of ``kind`` with its ``options`` checked; the kind builds its children."""
        try:
            parsed = parse_options(kind, options, where, opt_locs)
        except Unfilled as e:
            raise self._unfilled(e, where, None) from None
        return LayerCall(where, parsed, tuple(options), opt_locs, list(children),
                         list(child_locs), depth, self)

    # -- macros -------------------------------------------------------------------------
    def expand_macro(self, call: LayerCall) -> Custom:
        """The `custom` layer of a macro call: the macro's body with the call's arguments."""
        where, opt_locs = call.where, call.option_loc
        name, args = call.options["name"], call.options["args"]
        args = args if args is not None else {}
        if not isinstance(name, str):
            raise DslSyntaxError(f"`name` must be a macro name. Received: {name!r}", opt_locs("name").at(where.path))
        if not isinstance(args, dict):
            raise DslSyntaxError(
                f"`args` must be a mapping of placeholders to values. Received: {describe_value(args)}",
                opt_locs("args").at(where.path),
            )
        macro = self.macros.get(name)
        if macro is None:
            known = sorted(self.macros)
            raise DslSyntaxError(
                f"unknown macro {name!r}{closest(name, known)}"
                + ("" if known else "; this spec defines no macros"),
                opt_locs("name").at(where.path),
            )
        if name in self.macro_stack:
            cycle = " > ".join(self.macro_stack[self.macro_stack.index(name):] + [name])
            raise DslSyntaxError(f"macro {name!r} expands itself: {cycle}", where)
        args = {normalise_placeholder(k): v for k, v in args.items()}
        body_raw = substitute(macro.body, args) if isinstance(macro.body, list) else _replace(macro.body, args)
        path = f"{where.path} {name}"
        depth = call.depth
        self.macro_stack.append(name)
        try:
            if isinstance(body_raw, list) and body_raw and isinstance(body_raw[0], (list, int)):
                items = [self.build(v, _item_loc(body_raw, i, macro.loc), f"{path} > serial[{i}]", depth + 1)
                         for i, v in enumerate(body_raw)]
                body: Layer = Serial(macro.loc.at(f"{path} > serial"), items)
            else:
                body = self.build(body_raw, macro.loc, path, depth + 1)
        finally:
            self.macro_stack.pop()
        return Custom(where.at(path), name, body, args)

    # -- helpers ------------------------------------------------------------------------
    def _unfilled(self, e: Unfilled, where: Location, what: str | None) -> DslSyntaxError:
        if self.macro_stack:
            chain = " > ".join(self.macro_stack)
            return DslSyntaxError(
                f"the placeholder {e.placeholder!r} was never given a value (macro {chain}); "
                f"pass it in the calling custom's `args`",
                where,
            )
        return DslSyntaxError(
            f"{e.placeholder!r} is a macro placeholder, but it is not inside a macro body", where
        )

    def check_size(self, layer: Layer, where: Location) -> None:
        n = count_layers(layer)
        if n > MAX_LAYERS:
            raise DslSyntaxError(
                f"the model expands to {n:,} layers, more than the limit of {MAX_LAYERS:,} "
                "(loop repeats multiply)",
                where,
            )


def _item_loc(raw, i: int, default: Location) -> Location:
    return raw.item_loc(i) if isinstance(raw, LList) else default


def _value_loc_fn(options, where: Location):
    if isinstance(options, LDict):
        return lambda key: options.value_loc(key)
    return lambda key: where


def describe_value(value) -> str:
    """``repr(value)``, cut to 60 characters for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
