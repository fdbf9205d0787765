"""Checkpoints: every parameter under its IR name plus reserved ``__`` keys, written atomically.

Layout of ``runs/NAME/checkpoint.npz`` (format ``cnncompile.checkpoint/1``):

- ``<node>.<param>``: float32 arrays, exactly the names and layouts ``analyze --format json``
  lists (kernels [kh, kw, cin/groups, cout], weights [in, out], ...), batch-norm running
  statistics included. A plain parameters file is this without the ``__`` keys.
- ``__meta__``: JSON text: the spec text and path, input shape, output heads, IR hash, epochs
  and steps done, the resolved training options, the RNG state, the metrics history, the
  preprocessing of the data, and the optimiser state's scalars.
- ``__opt__/<i>``: the optimiser state's arrays, referenced from ``meta["optimizer"]``.
- ``__perm__``: the shuffled sample order of the epoch in progress (only in a checkpoint taken
  inside an epoch, on Ctrl-C), so a resumed run sees the same batches.

The file is written to ``checkpoint.npz.tmp``, flushed to disk and renamed over the old one:
a crash at any moment leaves either the old or the new checkpoint, never half of one.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError

FORMAT = "cnncompile.checkpoint/1"
META_KEY = "__meta__"
OPT_PREFIX = "__opt__/"
PERM_KEY = "__perm__"


@dataclass
class Checkpoint:
    """What a checkpoint file holds, split back into its parts."""

    params: dict[str, np.ndarray]
    meta: dict = field(default_factory=dict)
    opt_state: dict | None = None
    perm: np.ndarray | None = None


def _pack(state, arrays: dict[str, np.ndarray]):
    """JSON-able copy of a nested optimiser state; arrays move to ``arrays``."""
    if isinstance(state, np.ndarray):
        key = f"{OPT_PREFIX}{len(arrays)}"  # ``arrays`` holds only the optimiser's
        arrays[key] = state
        return {"__array__": key}
    if isinstance(state, dict):
        return {"__dict__": [[k, _pack(v, arrays)] for k, v in state.items()]}
    if isinstance(state, (list, tuple)):
        return [_pack(v, arrays) for v in state]
    if isinstance(state, np.generic):
        return state.item()
    return state


def _unpack(packed, arrays):
    if isinstance(packed, dict) and "__array__" in packed:
        return arrays[packed["__array__"]]
    if isinstance(packed, dict) and "__dict__" in packed:
        return {k: _unpack(v, arrays) for k, v in packed["__dict__"]}
    if isinstance(packed, list):
        return [_unpack(v, arrays) for v in packed]
    return packed


def save_checkpoint(path: str | Path, params: dict[str, np.ndarray], meta: dict,
                    opt_state: dict | None = None, perm: np.ndarray | None = None) -> Path:
    """Write a checkpoint atomically (temporary file, fsync, rename); returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = dict(params)
    meta = dict(meta, format=FORMAT)
    if opt_state is not None:
        opt_arrays: dict[str, np.ndarray] = {}
        meta["optimizer_state"] = _pack(opt_state, opt_arrays)
        arrays.update(opt_arrays)
    if perm is not None:
        arrays[PERM_KEY] = perm
    arrays[META_KEY] = np.array(json.dumps(meta))
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint or a plain parameters .npz (then ``meta`` is empty).

    Raises:
        DataError: the file is missing, not an .npz, or its metadata is damaged.
    """
    path = Path(path)
    if path.is_file() and not zipfile.is_zipfile(path):  # np.load would blame pickling
        raise DataError(f"{path}: not an .npz file (a checkpoint or numpy.savez parameters)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DataError(f"{path}: no such checkpoint") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: not a readable checkpoint .npz ({e})") from None
    meta: dict = {}
    if META_KEY in arrays:
        try:
            meta = json.loads(str(arrays[META_KEY]))
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: damaged `{META_KEY}` ({e})") from None
    opt_state = None
    if "optimizer_state" in meta:
        opt_state = _unpack(meta.pop("optimizer_state"), arrays)
    params = {k: v for k, v in arrays.items() if not k.startswith("__")}
    return Checkpoint(params, meta, opt_state, arrays.get(PERM_KEY))


def check_fits(graph, ckpt: Checkpoint, source: str, *, same_structure: bool = False) -> None:
    """Refuse a checkpoint that does not fit ``graph``, naming the first mismatching parameter.

    With ``same_structure`` (resuming), the IR hash must match too: a spec whose parameters
    fit but whose computation changed (another dropout rate, a different padding) is refused.
    """
    from ..engine import validate_params

    validate_params(graph, ckpt.params, source=source)
    recorded = ckpt.meta.get("ir_hash")
    if same_structure and recorded and recorded != graph.structure_hash():
        raise DataError(f"{source}: the checkpoint was trained on another version of model "
                        f"{graph.name!r} (IR hash {recorded}, this spec gives "
                        f"{graph.structure_hash()}); start a new run with another --out")
