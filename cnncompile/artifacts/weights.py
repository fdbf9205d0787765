"""Weights, checkpoints and ``.npz`` data: the one reader and writer of every ``.npz`` file.

Reading is safe before it is convenient: a special file (FIFO, device, folder) is refused
before it is opened; the file must be a zip; every member must be a plain ``.npy`` array (no
pickled objects); each member's size is read from the zip directory and its ``.npy`` header and
bounded *before* anything is inflated. Weights are then checked against the model's graph:
names, shapes, float dtype, values finite as float32 (what the engine and ONNX use) and batch-norm
running variances not negative.

Checkpoint layout (format ``cnncompile.checkpoint/1``):

- ``<node>.<param>``: float32 arrays under the IR names ``analyze --format json`` lists;
- ``__meta__``: JSON text: spec, shapes, IR hash, epochs and steps done, training options, RNG
  state, history, preprocessing, data fingerprint, the optimiser state's scalars;
- ``__opt__/<i>``: the optimiser state's arrays, referenced from ``meta["optimizer_state"]``;
- ``__perm__``: the sample order of the epoch in progress (a checkpoint taken inside an epoch);
- ``__weights__/<role>/<node>.<param>``: another set of weights the trainer keeps beside the
  run's (``best``: the best epoch's during training; ``last``: the weights training continues
  from, once the run presents its best epoch's).

A plain parameters file is the same without the ``__`` keys. Wherever weights are read, a run
folder (one holding ``checkpoint.npz``) stands for its checkpoint.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..machine import available_memory, size_text
from .files import require_regular_file, write_npz

FORMAT = "cnncompile.checkpoint/1"
CHECKPOINT = "checkpoint.npz"
META_KEY = "__meta__"
OPT_PREFIX = "__opt__/"
PERM_KEY = "__perm__"
WEIGHTS_PREFIX = "__weights__/"
# Bounds on what one .npz may inflate to: far above any model or data set this tool trains in
# memory, far below what would exhaust a machine. Both are lowered further to the memory this
# process can still allocate (MemAvailable, cgroups, `ulimit -v`) when the file is read.
MAX_MEMBER_BYTES = 8 << 30
MAX_TOTAL_BYTES = 16 << 30
_CHUNK = 1 << 20
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}


def read_npz(path: Path | str, what: str = ".npz file", expected: str = "a numpy.savez archive",
             *, max_member_bytes: int = MAX_MEMBER_BYTES,
             max_total_bytes: int = MAX_TOTAL_BYTES) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``, by name, read with every size bounded first.

    ``what`` names the file in messages (``no such weights file``); ``expected`` says what it
    should have been when it is not a zip. Neither a member nor the whole may inflate to more
    than the memory available (:func:`cnncompile.machine.available_memory`) either.

    Raises:
        DataError: one line naming ``path``: missing, a special file, not a zip, a member that
            is not a plain array (pickled objects), too large, damaged or truncated.
    """
    path = Path(path)
    require_regular_file(path, what)
    try:
        with open(path, "rb") as f:
            if not zipfile.is_zipfile(f):
                raise DataError(f"{path}: not an .npz file ({expected})")
            f.seek(0)
            with zipfile.ZipFile(f) as zf:
                infos = _bounded_members(path, zf, max_member_bytes, max_total_bytes,
                                         available_memory())
                return {name: _read_member(path, zf, info) for name, info in infos}
    except DataError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error,
            NotImplementedError, RuntimeError) as e:
        raise DataError(f"{path}: damaged or truncated .npz ({type(e).__name__}: "
                        f"{str(e)[:160]})") from None


def _bounded_members(path: Path, zf: zipfile.ZipFile, max_member: int, max_total: int,
                     available: int | None):
    """The members of ``zf`` once their inflated sizes, read from the zip's directory, are
    within the limits and within ``available`` bytes (None: unknown)."""
    infos, total, seen = [], 0, set()
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            raise DataError(f"{path}: member `{info.filename}` is not a .npy array (not a "
                            "numpy .npz file)")
        name = info.filename[:-4]
        if name in seen:
            raise DataError(f"{path}: member `{name}` occurs twice")
        seen.add(name)
        if info.file_size > max_member:
            raise DataError(f"{path}: member `{name}` would inflate to "
                            f"{size_text(info.file_size)}, over the limit of "
                            f"{size_text(max_member)} per array")
        total += info.file_size
        if total > max_total:
            raise DataError(f"{path}: the arrays would inflate to over {size_text(total)}, over "
                            f"the limit of {size_text(max_total)} per file")
        if available is not None and total > available:
            raise DataError(f"{path}: the arrays would inflate to over {size_text(total)}, more "
                            f"than the {size_text(available)} of memory available")
        infos.append((name, info))
    return infos


def _read_member(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    name = info.filename[:-4]
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        reader = _HEADER_READERS.get(version)
        if reader is None:
            raise DataError(f"{path}: member `{name}` uses .npy format {version}, not 1.0/2.0")
        shape, fortran, dtype = reader(f)
        if dtype.hasobject:
            raise DataError(f"{path}: member `{name}` holds Python objects (pickles are never "
                            "loaded); save plain numeric arrays")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes != info.file_size - f.tell():
            raise DataError(f"{path}: member `{name}` is damaged: its header promises "
                            f"{shape} {dtype} ({nbytes} bytes) but it holds "
                            f"{info.file_size - f.tell()}")
        out = np.empty(nbytes, np.uint8)  # filled in chunks: one copy in memory, writable
        got = 0
        while got < nbytes:
            chunk = f.read(min(_CHUNK, nbytes - got))
            if not chunk:
                raise DataError(f"{path}: member `{name}` is truncated")
            out[got:got + len(chunk)] = np.frombuffer(chunk, np.uint8)
            got += len(chunk)
    return out.view(dtype).reshape(shape, order="F" if fortran else "C")


# -- checkpoints -----------------------------------------------------------------------------
@dataclass
class Checkpoint:
    """What a checkpoint file holds, split back into its parts."""

    params: dict[str, np.ndarray]
    meta: dict = field(default_factory=dict)
    opt_state: dict | None = None
    perm: np.ndarray | None = None
    path: Path | None = None
    other_weights: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # by role


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


def _unpack(packed, arrays, source: str):
    if isinstance(packed, dict) and "__array__" in packed:
        if packed["__array__"] not in arrays:
            raise DataError(f"{source}: damaged optimiser state (no `{packed['__array__']}`)")
        return arrays[packed["__array__"]]
    if isinstance(packed, dict) and "__dict__" in packed:
        return {k: _unpack(v, arrays, source) for k, v in packed["__dict__"]}
    if isinstance(packed, list):
        return [_unpack(v, arrays, source) for v in packed]
    return packed


def save_checkpoint(path: Path | str, params: dict[str, np.ndarray], meta: dict,
                    opt_state: dict | None = None, perm: np.ndarray | None = None,
                    other_weights: dict[str, dict[str, np.ndarray]] | None = None) -> Path:
    """Write a checkpoint atomically (temporary file, fsync, rename); returns its path.

    ``other_weights`` are further weight sets by role (see the module's layout).

    Raises:
        DataError: the folder cannot be written (read-only, full disk), naming the path.
    """
    arrays: dict[str, np.ndarray] = dict(params)
    meta = dict(meta, format=FORMAT)
    if opt_state is not None:
        opt_arrays: dict[str, np.ndarray] = {}
        meta["optimizer_state"] = _pack(opt_state, opt_arrays)
        arrays.update(opt_arrays)
    if perm is not None:
        arrays[PERM_KEY] = perm
    for role, weights in (other_weights or {}).items():
        arrays.update({f"{WEIGHTS_PREFIX}{role}/{k}": v for k, v in weights.items()})
    arrays[META_KEY] = np.array(json.dumps(meta))
    return write_npz(path, arrays)


def weights_path(path: Path | str) -> Path:
    """``path`` itself, or for a run folder its ``checkpoint.npz``.

    Raises:
        DataError: a folder that holds no checkpoint.
    """
    path = Path(path)
    if path.is_dir():
        if not (path / CHECKPOINT).exists():
            raise DataError(f"{path}: a folder without {CHECKPOINT}; give a checkpoint, a "
                            "parameters .npz or a run folder")
        return path / CHECKPOINT
    return path


def weights_limits(graph) -> dict[str, int]:
    """Bounds for a weights file of ``graph``: no member over its largest parameter in float64
    (or 256 MiB: metadata, a sample order), no file over three float64 copies plus 512 MiB."""
    sizes = [math.prod(p.shape) * 8 for p in graph.params()] or [0]
    return {"max_member_bytes": max(max(sizes) + 4096, 256 << 20),
            "max_total_bytes": 3 * sum(sizes) + (512 << 20)}


def read_checkpoint(path: Path | str, **limits) -> Checkpoint:
    """Read a checkpoint, a plain parameters ``.npz`` (``meta`` empty) or a run folder's.

    ``limits`` are :func:`read_npz`'s size bounds (:func:`weights_limits` of a graph).

    Raises:
        DataError: the file is missing, special, not a plain .npz, too large or damaged.
    """
    path = weights_path(path)
    arrays = read_npz(path, "weights file", "a checkpoint or numpy.savez parameters", **limits)
    meta: dict = {}
    if META_KEY in arrays:
        try:
            meta = json.loads(str(arrays[META_KEY]))
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: damaged `{META_KEY}` ({e})") from None
        if not isinstance(meta, dict):
            raise DataError(f"{path}: damaged `{META_KEY}` (not a JSON object)")
    opt_state = None
    if "optimizer_state" in meta:
        opt_state = _unpack(meta.pop("optimizer_state"), arrays, str(path))
    params = {k: v for k, v in arrays.items() if not k.startswith("__")}
    other: dict[str, dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        if key.startswith(WEIGHTS_PREFIX):
            role, _, name = key[len(WEIGHTS_PREFIX):].partition("/")
            if not name:
                raise DataError(f"{path}: damaged weights `{key}` (no role/name)")
            other.setdefault(role, {})[name] = value
    return Checkpoint(params, meta, opt_state, arrays.get(PERM_KEY), path, other)


def check_fits(graph, ckpt: Checkpoint, source: str) -> None:
    """Refuse a checkpoint that does not fit ``graph``, naming the first mismatching parameter.

    Names, shapes, float dtype, finite values as float32, batch-norm variances >= 0. And where
    the checkpoint records the IR hash of the model it was trained on, that hash must be
    ``graph``'s: weights trained on another version of the spec whose parameters still fit
    (relu changed to sigmoid, max pooling to average, another dropout rate) are refused, naming
    the first node that differs, for export and evaluation as for ``--resume``. A plain
    parameters file records nothing and is checked by names and shapes alone.
    """
    from ..backends.numpy import validate_params

    validate_params(graph, ckpt.params, source=source)
    difference = version_difference(graph, ckpt.meta)
    if difference:
        raise DataError(f"{source}: trained on {difference}; train it again, or use the spec it "
                        "was trained on (the checkpoint holds its text)")


def version_difference(graph, meta: dict) -> str | None:
    """None when ``meta`` (a checkpoint's or an export's record) holds ``graph``'s IR hash or
    none at all; else ``another version of model 'm' (at node ...: ...)``.

    The one test of "made from this spec as it is now": resume, export and evaluate refuse on
    it, the report warns on it.
    """
    recorded = meta.get("ir_hash")
    if not recorded or recorded == graph.structure_hash():
        return None
    detail = _first_difference(graph, meta) or (
        f" (IR hash {recorded}; this spec gives {graph.structure_hash()})")
    return f"another version of model {graph.name!r}{detail}"


def _first_difference(graph, meta: dict) -> str:
    """`` (node 'conv_1': func 'relu' in the checkpoint's spec, 'sigmoid' here)``, or ``""``
    when the checkpoint's own spec text cannot be compiled again to compare."""
    from dataclasses import fields, is_dataclass

    from ..errors import CnnCompileError
    from ..frontend.spec import parse_spec
    from ..ir import lower

    try:
        shape = tuple(meta["input_shape"]) if meta.get("input_shape") else None
        path = Path(meta["spec_path"]) if meta.get("spec_path") else None
        old = lower(parse_spec(str(meta["spec_text"]), "<checkpoint spec>", path, shape))
    except (CnnCompileError, KeyError, TypeError, ValueError, OSError):
        return ""
    if old.input_shape != graph.input_shape:
        return (f" (input {list(old.input_shape)} in the checkpoint's spec, "
                f"{list(graph.input_shape)} here)")
    was_nodes, nodes = list(old), list(graph)
    for was, node in zip(was_nodes, nodes):  # noqa: B905 -- the lengths may differ
        where = f" (at node {node.name!r}: the checkpoint's spec has"
        if was.op != node.op:
            return f"{where} {was.op}, this one {node.op})"
        if is_dataclass(node.attrs) and type(was.attrs) is type(node.attrs):
            for f in fields(node.attrs):
                a, b = getattr(was.attrs, f.name), getattr(node.attrs, f.name)
                if a != b:
                    return f"{where} {node.op} {f.name} {a!r}, this one {b!r})"
        if was.shape != node.shape:
            return f"{where} shape {list(was.shape)}, this one {list(node.shape)})"
    if len(was_nodes) != len(nodes):
        return f" ({len(was_nodes)} nodes in the checkpoint's spec, {len(nodes)} here)"
    return ""


def read_weights(path: Path | str, graph) -> Checkpoint:
    """A checkpoint, parameters file or run folder checked against ``graph``, params float32.

    Raises:
        DataError: one line naming the file and the first missing, unknown, misshapen,
            non-finite or negative-variance parameter, or why the file cannot be read.
    """
    ckpt = read_checkpoint(path, **weights_limits(graph))
    check_fits(graph, ckpt, str(ckpt.path))
    ckpt.params = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in ckpt.params.items()}
    return ckpt


def load_params(path: Path | str, graph) -> dict[str, np.ndarray]:
    """The parameters of ``graph`` from a weights file or run folder, float32, validated."""
    return read_weights(path, graph).params
