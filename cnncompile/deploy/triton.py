"""A Triton Inference Server model repository for an exported model.

``write_repository`` lays out ``REPO/NAME/config.pbtxt``, ``REPO/NAME/1/model.onnx`` and a
labels file per classification head (``labels.txt``; Triton's classification extension reads
it through ``label_filename``). The configuration is built from the graph (names, data types,
dims without the batch axis), parsed into Triton's own ``ModelConfig`` message (the
``tritonclient`` package: unknown fields, enum values and wrong types fail there) and checked
back against the graph before the folder appears: it is assembled in a temporary folder inside
REPO (:func:`cnncompile.artifacts.files.atomic_dir`, removed on any error or signal) and
renamed into place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..artifacts.files import atomic_dir, prepare_dir, write_bytes, write_text
from ..artifacts.text import printable
from ..choices import ACCELERATORS
from ..errors import ExportError

PLATFORM = "onnxruntime_onnx"
# ONNX TensorProto element types -> Triton data types (model_config.proto DataType)
TRITON_TYPES = {1: "TYPE_FP32", 2: "TYPE_UINT8", 3: "TYPE_INT8", 5: "TYPE_INT16",
                6: "TYPE_INT32", 7: "TYPE_INT64", 9: "TYPE_BOOL", 10: "TYPE_FP16",
                11: "TYPE_FP64"}
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.\-]+")


@dataclass(frozen=True)
class TritonOptions:
    """What ``export --triton`` takes besides the repository folder."""

    max_batch_size: int = 64
    instances: int = 1
    gpu: bool = False
    accelerator: str | None = None

    def validate(self) -> None:
        """Raises ExportError for options Triton would refuse or that contradict each other."""
        if self.max_batch_size < 1 or self.instances < 1:
            raise ExportError(f"`--max-batch-size` and `--instances` must be >= 1. Received: "
                              f"max_batch_size={self.max_batch_size}, instances={self.instances}")
        if self.accelerator is not None and self.accelerator not in ACCELERATORS:
            raise ExportError(f"`--accelerator` must be one of {', '.join(ACCELERATORS)}. "
                              f"Received: {self.accelerator!r}")
        if self.accelerator is not None and not self.gpu:
            raise ExportError(f"`--accelerator {self.accelerator}` is a GPU execution "
                              "accelerator; add --gpu")


@dataclass(frozen=True)
class Tensor:
    """One graph input or output as Triton sees it: dims without the batch axis."""

    name: str
    data_type: str
    dims: tuple[int, ...]
    batch_dynamic: bool


def graph_tensors(model) -> tuple[list[Tensor], list[Tensor]]:
    """The inputs and outputs of ``model`` (a ModelProto), batch axis split off.

    Raises:
        ExportError: a tensor of a type Triton lacks, or of unknown rank.
    """

    def tensor(v) -> Tensor:
        t = v.type.tensor_type
        if t.elem_type not in TRITON_TYPES:
            raise ExportError(f"tensor {v.name!r}: ONNX element type {t.elem_type} has no "
                              "Triton data type")
        dims = list(t.shape.dim)
        if not dims:
            raise ExportError(f"tensor {v.name!r}: no shape recorded")
        rest = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in dims[1:])
        return Tensor(v.name, TRITON_TYPES[t.elem_type], rest, not dims[0].HasField("dim_value"))

    initialisers = {i.name for i in model.graph.initializer}
    inputs = [tensor(v) for v in model.graph.input if v.name not in initialisers]
    return inputs, [tensor(v) for v in model.graph.output]


def label_files(heads: list[dict], outputs: list[Tensor]) -> dict[str, tuple[str, list[str]]]:
    """{output name: (file name, labels)} for each classification head with labels."""
    names = {t.name for t in outputs}
    labelled = [h for h in heads if h.get("labels") and h["name"] in names]
    single = len(labelled) == 1
    return {h["name"]: ("labels.txt" if single else f"labels_{h['name']}.txt",
                        [str(x) for x in h["labels"]]) for h in labelled}


def _tensor_text(t: Tensor, label_file: str | None = None, fmt: str | None = None) -> str:
    lines = [f'    name: "{t.name}"', f"    data_type: {t.data_type}"]
    if fmt:
        lines.append(f"    format: {fmt}")
    lines.append(f"    dims: [ {', '.join(map(str, t.dims))} ]")
    if label_file:
        lines.append(f'    label_filename: "{label_file}"')
    return "  {\n" + "\n".join(lines) + "\n  }"


def config_text(name: str, model, options: TritonOptions, labels: dict, layout: str) -> str:
    """The ``config.pbtxt`` text of model ``name`` (protobuf text format)."""
    inputs, outputs = graph_tensors(model)
    image_format = {"NHWC": "FORMAT_NHWC", "NCHW": "FORMAT_NCHW"}.get(layout.upper())
    ins = [_tensor_text(t, fmt=image_format if len(t.dims) == 3 else None) for t in inputs]
    outs = [_tensor_text(t, labels.get(t.name, (None,))[0]) for t in outputs]
    kind = "KIND_GPU" if options.gpu else "KIND_CPU"
    sep = ",\n"
    text = (f'name: "{name}"\nplatform: "{PLATFORM}"\nmax_batch_size: {options.max_batch_size}\n'
            f"input [\n{sep.join(ins)}\n]\noutput [\n{sep.join(outs)}\n]\n"
            "dynamic_batching { }\n"
            f"instance_group [\n  {{\n    count: {options.instances}\n    kind: {kind}\n  }}\n]\n")
    if options.accelerator:
        params = ('\n        parameters { key: "precision_mode" value: "FP32" }'
                  if options.accelerator == "tensorrt" else "")
        text += ("optimization {\n  execution_accelerators {\n    gpu_execution_accelerator: [\n"
                 f'      {{\n        name: "{options.accelerator}"{params}\n      }}\n'
                 "    ]\n  }\n}\n")
    return text


def parse_config(text: str):
    """``text`` parsed into tritonclient's ``ModelConfig`` message.

    Raises:
        ExportError: tritonclient is missing (the ``triton`` extra), or Triton's schema
            rejects the text.
    """
    try:
        from google.protobuf import text_format
        from tritonclient.grpc import model_config_pb2
    except (ImportError, RuntimeError):  # tritonclient without grpc raises RuntimeError
        raise ExportError("--triton checks config.pbtxt with Triton's ModelConfig: pip install "
                          "'cnncompile[triton]'") from None
    try:
        return text_format.Parse(text, model_config_pb2.ModelConfig())
    except text_format.ParseError as e:
        raise ExportError(f"config.pbtxt does not parse as Triton's ModelConfig ({e})") from None


def check_config(config, model) -> None:
    """``config`` (a ModelConfig) agrees with ``model``'s graph: names, types, dims, batch axis.

    Raises:
        ExportError: naming the first disagreement.
    """
    from tritonclient.grpc import model_config_pb2

    inputs, outputs = graph_tensors(model)
    for role, declared, actual in (("input", config.input, inputs),
                                   ("output", config.output, outputs)):
        got = [(t.name, model_config_pb2.DataType.Name(t.data_type), tuple(t.dims))
               for t in declared]
        want = [(t.name, t.data_type, t.dims) for t in actual]
        if got != want:
            raise ExportError(f"config.pbtxt {role}s {got} disagree with the graph's {want}")
        fixed = [t.name for t in actual if not t.batch_dynamic]
        if config.max_batch_size > 0 and fixed:
            raise ExportError(f"max_batch_size {config.max_batch_size} needs a dynamic batch "
                              f"axis, but {role} {fixed[0]!r} has a fixed first dimension")
    if config.platform != PLATFORM:
        raise ExportError(f"config.pbtxt platform {config.platform!r} is not {PLATFORM!r}")


@dataclass(frozen=True)
class Repository:
    """What was written: the model folder and its files."""

    folder: Path
    config: Path
    model: Path
    labels: tuple[Path, ...]


def write_repository(model, repo: str | Path, name: str, options: TritonOptions,
                     heads: list[dict] | None = None, layout: str = "NHWC",
                     companion: Path | None = None) -> Repository:
    """Write ``REPO/NAME`` (config.pbtxt, 1/model.onnx, labels) for ``model`` atomically.

    ``companion`` is a file to write the model to as well (``export -o M --triton REPO``): it
    is written once the repository is complete and before it takes its place, so an error in
    either leaves neither.

    Args:
        model: the exported onnx.ModelProto.
        repo: the repository folder (created when missing; other models in it are kept).
        name: the model's name in the repository (the spec's name).
        heads: the metadata's heads ({name, size, labels}), for the label files.
        layout: the input layout (NHWC or NCHW), recorded as the image input's format.
    Raises:
        ExportError: bad options or name, a config Triton's schema rejects, or one that
            disagrees with the graph; nothing is written then.
        DataError: the repository folder cannot be made or written (naming the path).
    """
    options.validate()
    if not NAME_PATTERN.fullmatch(name):
        raise ExportError(f"{name!r} is not a usable Triton model name (letters, digits, _ . -)")
    _, outputs = graph_tensors(model)
    labels = label_files(heads or [], outputs)
    text = config_text(name, model, options, labels, layout)
    check_config(parse_config(text), model)
    final = prepare_dir(repo, "Triton model repository") / name
    data = model.SerializeToString()
    with atomic_dir(final) as tmp:
        write_bytes(tmp / "1" / "model.onnx", data)
        write_text(tmp / "config.pbtxt", text)
        for file_name, names in labels.values():
            # one label a line: a name holding a newline would shift every later class
            write_text(tmp / file_name, "".join(f"{printable(x)}\n" for x in names))
        if companion is not None:
            write_bytes(companion, data)
    return Repository(final, final / "config.pbtxt", final / "1" / "model.onnx",
                      tuple(final / f for f, _ in labels.values()))
