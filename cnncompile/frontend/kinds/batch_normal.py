"""`batch_normal`, and the batch-norm options of the `B` action of `conv` and `add` (`bn:`).

The textbook's running statistics move by ``exp_ratio``; `momentum` (ext) is Keras's spelling of
the same rate, mapped by :func:`~cnncompile.ir.ops.exp_ratio_from_momentum` for both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import DslSyntaxError, Location
from ...ir.ops import BN_EPSILON, BN_EXP_RATIO, exp_ratio_from_momentum
from ...values import ValueRefused
from ..options import boolean, check_filled, closest, number
from .base import Layer, LayerCall, LayerKind, dump_options, register

_RATE = number(0, 1)
_EPSILON = number(0, 1, low_open=True)


@dataclass
class BatchNormal(Layer):
    rescale: bool = True
    epsilon: float = BN_EPSILON
    exp_ratio: float = BN_EXP_RATIO
    # the rate as written when it was given as a momentum, so that `expand` writes it back so
    momentum: float | None = field(default=None, compare=False)
    kind = "batch_normal"


def bn_options(value) -> dict:
    """The batch-norm options of a `B` action (ext): ``{exp_ratio, epsilon}`` or ``momentum``.

    Returns both keys filled (the textbook's defaults for the ones left out).
    """
    if not isinstance(value, dict):
        raise ValueRefused("a mapping such as {exp_ratio: 0.1, epsilon: 1e-5}", value)
    fields = {"exp_ratio": _RATE, "epsilon": _EPSILON, "momentum": _RATE}
    out = {"exp_ratio": BN_EXP_RATIO, "epsilon": BN_EPSILON}
    for key, v in value.items():
        if key not in fields:
            raise ValueError(f"has an unknown key {key!r}{closest(key, fields)}; it takes: "
                             f"{', '.join(fields)}")
        try:
            out[key] = fields[key](check_filled(v))
        except ValueError as e:
            raise ValueError(f"key `{key}` {e}") from None
    if "momentum" in out:
        if "exp_ratio" in value:
            raise ValueError("takes `momentum` or `exp_ratio`, not both")
        out["exp_ratio"] = exp_ratio_from_momentum(out.pop("momentum"))
    return out


def bn_of_actions(options: dict, where: Location) -> dict | None:
    """A layer's `bn` options, refused when its actions have no `B` to apply them to."""
    if options["bn"] is not None and "B" not in options["actions"]:
        raise DslSyntaxError(f"`bn` sets the options of the `B` action, but the actions "
                             f"{options['actions']!r} have no B", where)
    return options["bn"]


def _build(call: LayerCall) -> BatchNormal:
    o = call.options
    exp_ratio = o["exp_ratio"]
    if o["momentum"] is not None:
        if "exp_ratio" in call.written:
            raise DslSyntaxError("give `momentum` or `exp_ratio`, not both", call.where)
        exp_ratio = exp_ratio_from_momentum(o["momentum"])
    return BatchNormal(call.where, o["rescale"], o["epsilon"], exp_ratio, o["momentum"])


def _dump(layer: BatchNormal) -> list:
    rate = {"exp_ratio": layer.exp_ratio} if layer.momentum is None else {
        "momentum": layer.momentum}
    o = dump_options("batch_normal", {"rescale": layer.rescale, "epsilon": layer.epsilon, **rate})
    return ["batch_normal", o] if o else ["batch_normal"]


BATCH_NORMAL = register(LayerKind(
    name="batch_normal",
    layer=BatchNormal,
    schema={
        "rescale": (boolean, True),
        "epsilon": (_EPSILON, BN_EPSILON),
        "exp_ratio": (_RATE, BN_EXP_RATIO),
        "momentum": (_RATE, None),
    },
    build=_build,
    dump=_dump,
    title=lambda layer: "batch norm",
))
