"""The Python API: load a spec, read its figures, train, evaluate, export, quantize, predict.

A thin shell over the same front end, analysis and workflows (:mod:`cnncompile.workflows`) the
command line uses, so a notebook and ``cnncompile train`` give the same figures and files::

    import cnncompile
    model = cnncompile.load("specs/fashion_mnist/fmnist_small.yaml")
    print(model.summary())                      # the table `cnncompile analyze` prints
    run = model.train("fashion-mnist", epochs=1)

Errors are raised, never printed: every mistake of the user's (a bad spec, a bad option, data
that does not fit) is a :class:`cnncompile.errors.CnnCompileError` subclass with the message
and location the command line shows. docs/python-api.md is the guide.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import replace
from html import escape
from pathlib import Path
from typing import Any

from .errors import DslSyntaxError, Location
from .frontend.spec import NAME_RE, Spec, load_spec, parse_input_shape, parse_output, parse_spec
from .ir import Graph, lower

# A spec file's path, YAML text, a layer list in the textbook's form, or a spec mapping.
SpecSource = str | Path | Sequence | dict
SPEC_SUFFIXES = (".yaml", ".yml")


def load(source: SpecSource, *, input_shape: Sequence[int] | str | None = None,
         classes: int | None = None, labels: Sequence[str] | None = None,
         name: str | None = None) -> Model:
    """Read, validate and lower a spec.

    Args:
        source: a spec file (a ``Path``, or a ``str`` naming an existing file or ending in
            .yaml/.yml), YAML text (a mapping there carries its own ``name``), a layer list
            in the textbook's own form
            (``[['conv', {'ksize': 3, 'chn': 6}], ['max', {'stride': 2}]]``) or a spec mapping
            (``{'name': ..., 'input': ..., 'output': ..., 'layers': [...]}``).
        input_shape: the input, (H, W, C) or (N,); overrides the spec's ``input`` (as
            ``--input`` does) and is required for a layer list.
        classes: one softmax head of this many classes; overrides the spec's ``output``.
        labels: class names for that head (their number gives ``classes`` when it is None).
        name: the model's name (runs/NAME, exported/NAME.onnx); a layer list's model is
            called ``model`` without it.
    Returns:
        The :class:`Model`.
    Raises:
        DslSyntaxError: a mistake in the spec or in these arguments, with its location
            (``<list>:3: layers[1] > max: ...`` for a layer list).
        ShapeError: layers whose shapes do not fit.

    >>> m = load([["conv", {"ksize": 3, "chn": 4}], ["full", {"width": 3}]],
    ...          input_shape=(8, 8, 1), classes=3, name="tiny")
    >>> m
    <Model 'tiny': input [8, 8, 1] -> classes 3, 823 params, 3.08k MACs>
    """
    shape = None if input_shape is None else parse_input_shape(
        list(input_shape) if isinstance(input_shape, (list, tuple)) else input_shape,
        Location(path="input_shape"))
    output = _output(classes, labels)
    if isinstance(source, (list, tuple)) and (shape is None or output is None):
        raise DslSyntaxError(
            "a layer list needs `input_shape` ((H, W, C) or (N,)) and `classes` or `labels`. "
            f"Received: input_shape={input_shape!r}, classes={classes!r}, labels={labels!r}",
            Location(path="input_shape" if shape is None else "classes"))
    spec = _read(source, name, shape, output)
    if name is not None and name != spec.name:
        spec = replace(spec, name=_checked_name(name))
    return Model(spec)


def _read(source: SpecSource, name: str | None, shape, output) -> Spec:
    """The spec of ``source``, each form through the front end; a list or mapping is first
    written as the YAML file it stands for (named ``model`` unless ``name`` says)."""
    if isinstance(source, (list, tuple)):
        doc = {"name": name or "model", "layers": source}
        return parse_spec(_spec_yaml(doc), "<list>", None, shape, output)
    if isinstance(source, dict):
        doc = {"name": "model", **source, **({"name": name} if name is not None else {})}
        return parse_spec(_spec_yaml(doc), "<dict>", None, shape, output)
    if _is_path(source):
        return load_spec(source, shape, output)
    if isinstance(source, str):
        return parse_spec(source, "<text>", None, shape, output)
    raise DslSyntaxError("a spec is a file path, YAML text, a layer list or a mapping. "
                         f"Received: {type(source).__name__}", Location(path="source"))


class Model:
    """A spec, read and lowered to the IR: its figures at once, and the workflows over it.

    Build one with :func:`load` (or ``Model(spec)`` from a
    :class:`~cnncompile.frontend.spec.Spec`). In a notebook it shows its analysis table and
    block diagram.
    """

    def __init__(self, spec: Spec):
        self.spec: Spec = spec
        self.graph: Graph = lower(spec)

    @property
    def name(self) -> str:
        return self.spec.name

    def analysis(self, batch: int = 1) -> dict[str, Any]:
        """Every figure of ``cnncompile analyze --format json`` as Python values.

        ``layers`` holds one row per IR node (name, op, output shape, parameters, MACs,
        activation memory, receptive field), ``totals`` the sums; docs/analysis-json.md
        describes every key. ``batch`` scales the activation memory.
        """
        from .analysis import analyze_graph
        from .analysis.render import analysis_dict

        return analysis_dict(analyze_graph(self.graph, batch))

    def summary(self, depth: int | None = None, batch: int = 1) -> str:
        """The table ``cnncompile analyze`` prints (``--depth``: rows grouped by name prefix)."""
        from .analysis import analyze_graph, render_table

        return render_table(analyze_graph(self.graph, batch), depth)

    def warnings(self) -> list[str]:
        """What ``analyze`` warns about: layers that do nothing, one layer holding most weights."""
        from .analysis.warnings import find_warnings

        return [str(w) for w in find_warnings(self.graph)]

    def diagram(self, depth: int | None = None) -> str:
        """The block diagram as SVG text (``analyze --format svg``); ``depth`` opens K levels."""
        from .report import standalone_svg

        return standalone_svg(self.graph, depth)

    def __repr__(self) -> str:
        from .analysis import analyze_graph
        from .analysis.render import human, shape_str

        t = analyze_graph(self.graph).totals
        heads = self.graph.heads
        return (f"<Model {self.name!r}: input {shape_str(self.graph.input_shape)} -> "
                f"{heads.kind} {'+'.join(str(h.size) for h in heads.heads)}, "
                f"{t.trainable_params + t.non_trainable_params:,} params, {human(t.macs)} MACs>")

    def _repr_html_(self) -> str:
        """A notebook's view: the analysis table, then the block diagram, every group open."""
        svg = self.diagram()
        return (f'<div class="cnncompile-model"><pre>{escape(self.summary())}</pre>'
                f"{svg[svg.index('<svg'):]}</div>")

    def train(self, data: str | Path, out: str | Path | None = None, *, resume: bool = False,
              overwrite: bool = False, hooks=None, **options):
        """Train on ``data``, test, and write the run folder, as ``cnncompile train`` does.

        Args:
            data: what ``--data`` takes: fashion-mnist, an IDX or image folder, an .npz of
                ``x``, ``y`` (and ``x_test``, ``y_test``).
            out: the run folder [runs/NAME, or runs/NAME-2, ... when taken].
            resume: continue the run in ``out`` from its checkpoint.
            overwrite: start afresh in an ``out`` that holds a run.
            hooks: a :class:`cnncompile.train.TrainHooks` to follow the epochs and steps.
            options: training options by their names in docs/train-options.md (``epochs=1``,
                ``batch_size=32``, ``learning_rate=1e-3``, ...); they override the spec's
                ``train:`` section.
        Returns:
            The workflow's run result: the run folder, the checkpoint and the test figures.
        Raises:
            OptionError: an unknown option or a value its rule refuses.
            DataError: data that does not fit the model, a run folder already in use.
        """
        from .workflows.train import train_model

        return train_model(self.spec, data, out, resume=resume, overwrite=overwrite,
                           options=options, hooks=hooks)

    def evaluate(self, weights: str | Path, data: str | Path, split: str = "test"):
        """Accuracy, per-class figures and confusion matrices, as ``cnncompile evaluate``.

        ``weights`` is a run folder, its checkpoint.npz or a parameters .npz; ``split`` is
        test, validation or train (the split training used).
        """
        from .workflows.evaluate import evaluate_model

        return evaluate_model(self.spec, weights, data, split=split)

    def export(self, out: str | Path, weights: str | Path | None = None, **options):
        """Write a checked ONNX model, as ``cnncompile export`` does.

        ``weights`` is a run folder or a weights file (None: the initialisation); ``options``
        are export's, by their Python names: ``opset``, ``layout``, ``outputs``, ``seed``,
        ``init``, ``data``, ``parity_batch``, ``scale``, ``triton``, ``triton_options``,
        ``fold_all``.

        Raises:
            ExportError: the model fails the checker, the shape check or the parity check;
                nothing is written then.
        """
        from .workflows.export import export_model

        return export_model(self.spec, weights, out, **options)

    def report(self, out: str | Path | None = None, *, run: str | Path | None = None,
               **options) -> Path:
        """Write the HTML report (``cnncompile report``); returns the page's path.

        A run or export made from another version of the spec is flagged on the page and
        with a :class:`UserWarning`.
        """
        import warnings

        from .workflows.report import write_report

        return write_report(self.spec, out, run=run, warn=lambda m: warnings.warn(m, stacklevel=3),
                            **options)


def quantize(model: str | Path, data: str | Path, out: str | Path | None = None, **options):
    """An INT8 (or ``mode="fp16"``) variant of an exported model, as ``cnncompile quantize``.

    ``options`` are quantize's: ``mode``, ``max_drop``, ``calibration``, ``eval_samples``,
    ``batch``, ``min_speedup``, ...

    Raises:
        ExportError: the variant loses more accuracy than ``max_drop``, or runs less than
            ``min_speedup`` (1.0) times as fast as ``model`` at ``batch``; nothing is written.
    """
    from .workflows.quantize import quantize_model

    return quantize_model(model, data, out, **options)


def predict(model: str | Path, images: str | Path | Sequence[str | Path], top: int = 1):
    """The ``top`` classes per head of image files (or every image under folders).

    ``model`` is an exported .onnx; the images are decoded, resized and scaled as its
    metadata records, as ``cnncompile predict`` does.
    """
    from .workflows.predict import predict_images

    return predict_images(model, images, top=top)


def _is_path(source: Any) -> bool:
    """A ``Path``, or a one-line str that names a file or ends like a spec file's name."""
    if isinstance(source, Path):
        return True
    return (isinstance(source, str) and "\n" not in source
            and (source.lower().endswith(SPEC_SUFFIXES) or Path(source).is_file()))


def _output(classes: int | None, labels: Sequence[str] | None):
    """``classes``/``labels`` as the front end reads ``output: {classes: K, labels: [...]}``."""
    if classes is None and labels is None:
        return None
    value: dict[str, Any] = {}
    if classes is not None:
        value["classes"] = classes
    if labels is not None:
        value["labels"] = list(labels) if not isinstance(labels, str) else labels
    return parse_output(value, Location(path="classes" if classes is not None else "labels"))


def _checked_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise DslSyntaxError(f"`name` must be letters, digits, _ . - only. Received: {name!r}",
                             Location(path="name"))
    return name


def _yaml_flow(value: Any, where: str) -> str:
    """``value`` as one line of flow-style YAML."""
    import yaml

    text = yaml.safe_dump([_plain(value, where)], default_flow_style=True, width=float("inf"),
                          sort_keys=False)
    return text.strip()[1:-1]  # the one item of the list


def _plain(value: Any, where: str) -> Any:
    """``value`` with tuples as lists and NumPy numbers as Python's; anything else refused."""
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    if isinstance(value, dict):
        return {_plain(k, where): _plain(v, where) for k, v in value.items()}
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise DslSyntaxError("a spec holds numbers, strings, booleans, None, lists and mappings. "
                         f"Received: {type(value).__name__} {value!r}", Location(path=where))


def _spec_yaml(doc: dict) -> str:
    """A spec mapping as the file a user would write: a key per line, a layer per line."""
    lines = []
    for key, value in doc.items():
        if key == "layers" and isinstance(value, (list, tuple)):
            lines.append("layers:")
            lines += [f"- {_yaml_flow(layer, f'layers[{i}]')}" for i, layer in enumerate(value)]
        else:
            lines.append(f"{_yaml_flow(key, 'a key')}: {_yaml_flow(value, str(key))}")
    return "\n".join(lines) + "\n"


__all__ = ["Model", "SpecSource", "load", "predict", "quantize"]
