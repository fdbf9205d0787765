"""Raw located YAML values -> the typed layer tree, expanding macros on the way.

Macro rules follow the textbook exactly (spec-format section 5): the body is deep-copied and
every list item and dict value that is a string equal to an ``args`` key is replaced (keys never
are, substituted values are not scanned again), and ``'##x'`` loses one ``#`` per expansion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import DslSyntaxError, Location
from ..ir.ops import exp_ratio_from_momentum
from . import layers as L
from .options import KINDS, REQUIRED, SCHEMAS, Unfilled, closest, parse_options
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
    def build_list(self, raw, loc: Location, path: str) -> L.Serial:
        """A hidden-layer list (``layers:``), applying the textbook's wrapping rule."""
        if not isinstance(raw, list):
            raise DslSyntaxError(
                f"`layers` must be a list of layer expressions. Received: {_describe(raw)}", loc.at(path)
            )
        if raw and (isinstance(raw[0], bool) or not isinstance(raw[0], (list, int))):
            item = self.build(raw, loc, path, 0)
            return L.Serial(loc.at(path), [item])
        items = [
            self.build(v, _item_loc(raw, i, loc), f"{path}[{i}]", 0) for i, v in enumerate(raw)
        ]
        root = L.Serial(loc.at(path), items)
        self._check_size(root, loc.at(path))
        return root

    def build(self, raw, loc: Location, path: str, depth: int) -> L.Layer:
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
                f"Received: {_describe(raw)}",
                loc.at(path),
            )
        if isinstance(raw, int):
            return self._leaf("full", {"width": raw}, loc.at(path), lambda k: loc)
        if isinstance(raw, str):
            return self._bare_kind(raw, loc, path)
        if not raw:
            raise DslSyntaxError("an empty list is not a layer", loc.at(path))
        kind = raw[0]
        if not isinstance(kind, str) or kind not in KINDS:
            if isinstance(kind, str) and kind.startswith("#"):
                raise self._unfilled(Unfilled(kind), loc.at(path), "the layer kind")
            raise DslSyntaxError(
                f"unknown layer kind {kind!r}{closest(kind, KINDS)}", _item_loc(raw, 0, loc).at(path)
            )
        where = (loc if not isinstance(raw, LList) else raw.loc).at(f"{path} > {kind}" if path else kind)
        rest = list(raw[1:])
        options, opt_locs = {}, (lambda k: where)
        if rest and isinstance(rest[0], dict):
            options = rest.pop(0)
            opt_locs = _value_loc_fn(options, where)
        child_locs = [_item_loc(raw, i, where) for i in range(len(raw) - len(rest), len(raw))]
        if kind in ("serial", "parallel", "loop", "add"):
            return self._composite(kind, options, rest, child_locs, where, opt_locs, depth)
        if kind == "custom":
            if rest:
                raise DslSyntaxError("custom takes no child layers", where)
            return self._custom(options, where, opt_locs, depth)
        if rest:
            raise DslSyntaxError(
                f"{kind} takes no child layers; found {len(rest)} after its options", where
            )
        return self._leaf(kind, options, where, opt_locs)

    # -- kinds --------------------------------------------------------------------------
    def _bare_kind(self, raw: str, loc: Location, path: str) -> L.Layer:
        if raw not in KINDS:
            if raw.startswith("#"):
                raise self._unfilled(Unfilled(raw), loc.at(path), "a layer")
            raise DslSyntaxError(f"unknown layer kind {raw!r}{closest(raw, KINDS)}", loc.at(path))
        required = [k for k, (_, d) in SCHEMAS[raw].items() if d is REQUIRED]
        if required or raw in ("serial", "parallel", "loop", "add", "custom"):
            raise DslSyntaxError(
                f"{raw} needs options or child layers; write it as a list: [{raw}, {{...}}]",
                loc.at(path),
            )
        where = loc.at(f"{path} > {raw}" if path else raw)
        return self._leaf(raw, {}, where, lambda k: where)

    def _opts(self, kind, options, where, opt_locs, what=None) -> dict:
        try:
            return parse_options(kind, options, where, opt_locs)
        except Unfilled as e:
            raise self._unfilled(e, where, what) from None

    def _leaf(self, kind: str, options: dict, where: Location, opt_locs) -> L.Layer:
        o = self._opts(kind, options, where, opt_locs)
        if kind == "full":
            return L.Full(where, o["width"], o["actfunc"], o["bias"])
        if kind == "conv":
            return L.Conv(where, o["ksize"], o["chn"], o["stride"], o["padding"], o["actfunc"],
                          o["actions"], o["bias"], o["groups"], self._bn(o, where))
        if kind in ("max", "avg"):
            ksize = o["ksize"] or o["stride"]
            return L.Pool(where, kind, ksize, o["stride"], o["padding"], o.get("count_pad", True))
        if kind == "dropout":
            return L.Dropout(where, o["keep_prob"])
        if kind == "noise":
            return L.Noise(where, o["type"], o["mean"], o["std"], o["ratio"])
        if kind == "batch_normal":
            exp_ratio = o["exp_ratio"]
            if o["momentum"] is not None:
                if "exp_ratio" in options:
                    raise DslSyntaxError("give `momentum` or `exp_ratio`, not both", where)
                exp_ratio = exp_ratio_from_momentum(o["momentum"])
            return L.BatchNormal(where, o["rescale"], o["epsilon"], exp_ratio, o["momentum"])
        if kind == "act":
            return L.Act(where, o["actfunc"])
        raise AssertionError(kind)  # every kind in SCHEMAS is handled above

    def _composite(self, kind, options, children, child_locs, where, opt_locs, depth):
        o = self._opts(kind, options, where, opt_locs)
        if kind == "loop":
            if len(children) != 1:
                raise DslSyntaxError(
                    f"loop takes exactly one child layer (wrap several in [serial, ...]); "
                    f"found {len(children)}",
                    where,
                )
            body = self.build(children[0], child_locs[0], where.path, depth + 1)
            loop = L.Loop(where, o["repeat"], body)
            self._check_size(loop, where)
            return loop
        if kind in ("parallel", "add") and not children:
            raise DslSyntaxError(f"{kind} needs at least one child layer", where)
        indexed = kind in ("serial", "parallel") or len(children) > 1
        built = [
            self.build(c, child_locs[i], f"{where.path}[{i}]" if indexed else where.path, depth + 1)
            for i, c in enumerate(children)
        ]
        if kind == "serial":
            return L.Serial(where, built)
        if kind == "parallel":
            return L.Parallel(where, built)
        return L.Add(where, built, o["x"], o["actions"], o["actfunc"], self._bn(o, where))

    @staticmethod
    def _bn(o: dict, where) -> dict | None:
        """The `bn` options, refused when the layer's actions have no `B` to apply them to."""
        if o["bn"] is not None and "B" not in o["actions"]:
            raise DslSyntaxError(f"`bn` sets the options of the `B` action, but the actions "
                                 f"{o['actions']!r} have no B", where)
        return o["bn"]

    def _custom(self, options, where, opt_locs, depth) -> L.Custom:
        o = self._opts("custom", options, where, opt_locs)
        name, args = o["name"], o["args"] if o["args"] is not None else {}
        if not isinstance(name, str):
            raise DslSyntaxError(f"`name` must be a macro name. Received: {name!r}", opt_locs("name").at(where.path))
        if not isinstance(args, dict):
            raise DslSyntaxError(
                f"`args` must be a mapping of placeholders to values. Received: {_describe(args)}",
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
        self.macro_stack.append(name)
        try:
            if isinstance(body_raw, list) and body_raw and isinstance(body_raw[0], (list, int)):
                items = [self.build(v, _item_loc(body_raw, i, macro.loc), f"{path} > serial[{i}]", depth + 1)
                         for i, v in enumerate(body_raw)]
                body: L.Layer = L.Serial(macro.loc.at(f"{path} > serial"), items)
            else:
                body = self.build(body_raw, macro.loc, path, depth + 1)
        finally:
            self.macro_stack.pop()
        return L.Custom(where.at(path), name, body, args)

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

    def _check_size(self, layer: L.Layer, where: Location) -> None:
        n = L.count_layers(layer)
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


def _describe(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
