"""The page's sections about files beside the spec: a training run and an exported model.

Everything here comes from files someone else may have written, so every value goes through
:mod:`.text` (words, units, rounding) and is escaped where it lands; long histories and
tables are cut to a bounded size with a note saying so.
"""

from __future__ import annotations

from html import escape
from numbers import Real

from .sources import ModelInfo, RunInfo, spec_mismatch
from .svg import line_chart
from .text import metadata_value_text, number_text, percent_text, value_text

MAX_CLASS_ROWS = 200  # per-class table rows shown
MAX_CONFUSION = 40  # confusion matrix classes shown (its first ones)
RUN_FACTS = ("epoch", "elapsed", "data", "accuracy", "cnncompile")


def warnings_for(graph, run: RunInfo | None = None, model: ModelInfo | None = None) -> list[str]:
    """One-line warnings about the run and the model: made from another version of the spec."""
    found = [spec_mismatch(run.meta, graph, "run") if run is not None else None,
             spec_mismatch(model.metadata, graph, "exported model") if model is not None
             else None]
    return [w for w in found if w]


def warnings_html(warnings: list[str]) -> str:
    """The warnings as a banner under the page's title."""
    return "".join(f'<p class="warn" role="alert">Warning: {escape(w)}</p>' for w in warnings)


def _note(text: str) -> str:
    return f'<p class="legend note">{escape(text)}</p>'


def _kv(pairs, value=value_text) -> str:
    # keys stay as recorded: they are the option names a spec's `train:` section uses
    rows = "".join(f"<tr><td>{escape(str(k))}</td><td>{escape(value(v, k))}</td></tr>"
                   for k, v in pairs)
    return f'<table class="kv">{rows}</table>'


def _cell(v, fraction: bool = False) -> str:
    text = percent_text(v) if fraction and isinstance(v, Real) else value_text(v)
    return f'<td class="n">{escape(text)}</td>'


def _curves(run: RunInfo) -> str:
    history = run.history
    loss = {k: [(r["epoch"], r[k]) for r in history] for k in ("train_loss", "val_loss")
            if k in history[0]}
    acc = {k: [(r["epoch"], r[k]) for r in history] for k in history[0]
           if k.startswith(("train_acc", "val_acc"))}
    acc = dict(sorted(acc.items(), key=lambda kv: (kv[0].split("_", 2)[2:], kv[0])))
    charts = [line_chart(loss, "loss", "loss"),
              line_chart(acc, "accuracy", "accuracy", percent=True)]
    out = '<div class="charts" id="curves">' + "".join(c for c in charts if c) + "</div>"
    if run.history_rows > len(history):
        out += _note(f"metrics.csv holds {run.history_rows:,} rows; the curves show "
                     f"{len(history):,} of them, evenly spread (first and last included).")
    return out


def _confusion(head: str, labels: list, matrix: list[list[int]]) -> str:
    n = max(len(labels), len(matrix))
    labels, matrix = labels[:MAX_CONFUSION], [row[:MAX_CONFUSION] for row in matrix[:MAX_CONFUSION]]
    top = max((max(row) for row in matrix if row), default=0) or 1
    head_row = "".join(f"<th>{escape(str(lab))}</th>" for lab in labels)
    body = []
    for lab, row in zip(labels, matrix, strict=False):
        cells = []
        for v in row:
            light = 98 - 55 * v / top
            colour = "#fff" if light < 60 else "#1d2433"
            cells.append(f'<td style="background:hsl(218,60%,{light:.0f}%);color:{colour}">'
                         f"{number_text(v)}</td>")
        body.append(f"<tr><th>{escape(str(lab))}</th>{''.join(cells)}</tr>")
    cut = (_note(f"{n:,} classes: the first {MAX_CONFUSION} are shown.")
           if n > MAX_CONFUSION else "")
    return (f'<h3>Confusion matrix: {escape(head)}</h3>{cut}<div class="tblwrap">'
            f'<table class="cm" data-head="{escape(head)}"><thead><tr><th>true \\ predicted'
            f"</th>{head_row}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def _per_class(head: str, rows: list[dict]) -> str:
    body = "".join(
        f"<tr><td>{escape(str(r.get('class')))}</td>{_cell(r.get('precision'), True)}"
        f"{_cell(r.get('recall'), True)}{_cell(r.get('f1'), True)}{_cell(r.get('support'))}"
        "</tr>" for r in rows[:MAX_CLASS_ROWS])
    cut = (_note(f"{len(rows):,} classes: the first {MAX_CLASS_ROWS} are shown.")
           if len(rows) > MAX_CLASS_ROWS else "")
    return (f"<h3>Per class: {escape(head)}</h3>{cut}<div class=\"tblwrap\"><table>"
            "<thead><tr><th>class</th><th class=\"n\">precision</th><th class=\"n\">"
            "recall</th><th class=\"n\">F1</th><th class=\"n\">support</th></tr></thead>"
            f"<tbody>{body}</tbody></table></div>")


def _test_report(test: dict) -> str:
    parts = ["<h3>Test report</h3>"]
    acc = test.get("accuracy") or {}
    pairs = [("samples", test.get("samples"))]
    pairs += [(f"accuracy {h}", a) for h, a in acc.items()]
    if "data" in test:
        pairs.append(("data", test["data"]))
    parts.append(_kv(pairs))
    for head, rows in (test.get("per_class") or {}).items():
        parts.append(_per_class(head, rows))
    for head, c in (test.get("confusion") or {}).items():
        parts.append(_confusion(head, c.get("labels", []), c.get("matrix", [])))
    return "".join(parts)


def _int(v) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def kept_text(meta: dict) -> str | None:
    """Which epoch's weights the run kept and whether it stopped early, from the checkpoint's
    ``kept`` record (train/selection.py); None for a run that recorded none.

    >>> kept_text({"epoch": 8, "kept": {"keep": "best", "epoch": 4, "best_epoch": 4,
    ...            "best_val_loss": 0.6361, "epochs_since_best": 2, "patience": 2,
    ...            "stopped_early": True}})
    'epoch 4 of 8 (the lowest validation loss, 0.6361); stopped early: 2 epochs without a lower validation loss (patience 2)'
    """
    kept = meta.get("kept")
    if not isinstance(kept, dict) or _int(kept.get("epoch")) is None:
        return None
    trained = _int(meta.get("epoch"))
    text = f"epoch {kept['epoch']}" + (f" of {trained}" if trained is not None else "")
    loss = kept.get("best_val_loss")
    if kept.get("keep") == "best" and isinstance(loss, Real):
        text += f" (the lowest validation loss, {loss:.4f})"
    elif kept.get("keep") == "best":
        text += " (no validation samples to choose by: the last epoch)"
    elif kept.get("keep") == "last":
        text += " (the last epoch, keep: last)"
    since, patience = _int(kept.get("epochs_since_best")), _int(kept.get("patience"))
    if kept.get("stopped_early") is True and since is not None and patience is not None:
        text += (f"; stopped early: {since} epochs without a lower validation loss "
                 f"(patience {patience})")
    return text


def run_html(run: RunInfo) -> str:
    """Which epoch's weights were kept, learning curves, test report, confusion matrices,
    samples and the training options."""
    parts = [f'<p class="sub">Run folder <code>{escape(str(run.folder))}</code></p>']
    kept = kept_text(run.meta)
    if kept:  # the test report below measures these weights
        parts.append(f'<p class="sub" id="kept">Weights kept: {escape(kept)}</p>')
    parts += ["<h3>Learning curves</h3>", _curves(run)]
    if run.test:
        parts.append(_test_report(run.test))
    if (not run.test or not run.test.get("confusion")) and "confusion.png" in run.pictures:
        parts.append('<h3>Confusion matrix</h3><img alt="confusion matrix" '
                     f'src="{escape(run.pictures["confusion.png"])}">')
    if "samples.png" in run.pictures:
        parts.append('<h3>Sample predictions</h3><img id="samples" alt="test samples with '
                     f'their predictions" src="{escape(run.pictures["samples.png"])}">')
    meta = run.meta
    facts = [(k, meta[k]) for k in RUN_FACTS if k in meta]

    config = meta.get("config")
    parts.append("<h3>Training configuration</h3>"
                 + _kv(facts + list(config.items() if isinstance(config, dict) else [])))
    return '<section id="run"><h2>Training run</h2>' + "".join(parts) + "</section>"


def model_html(model: ModelInfo) -> str:
    """The ONNX model's metadata (the spec text folded) and its bench figures."""
    meta = dict(model.metadata)
    spec = meta.pop("spec", None)
    parts = [f'<p class="sub">Model <code>{escape(str(model.path))}</code> '
             f"(onnxruntime, {escape(model.provider)})</p>",
             _kv(sorted(meta.items()), metadata_value_text)]
    if spec:
        parts.append(f"<details><summary>Spec recorded in the model</summary><pre>"
                     f"{escape(str(spec))}</pre></details>")
    if model.bench:
        rows = "".join(
            f'<tr><td class="n">{t.batch}</td><td class="n">{t.percentile_ms(50):.3f}</td>'
            f'<td class="n">{t.percentile_ms(90):.3f}</td><td class="n">{t.percentile_ms(99):.3f}'
            f'</td><td class="n">{t.throughput:,.1f}</td></tr>' for t in model.bench)
        parts.append('<h3>Bench (onnxruntime)</h3><table id="bench"><thead><tr><th class="n">'
                     'batch</th><th class="n">p50 ms</th><th class="n">p90 ms</th>'
                     '<th class="n">p99 ms</th><th class="n">samples/s</th></tr></thead>'
                     f"<tbody>{rows}</tbody></table>")
    return '<section id="model"><h2>Exported model</h2>' + "".join(parts) + "</section>"
