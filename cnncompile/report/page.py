"""The report page: one self-contained HTML file (styles, script, pictures inline).

Nothing is fetched: a Content-Security-Policy of ``default-src 'none'`` (inline styles,
``data:`` images only) makes the browser refuse any network request. Scripts run only when
their text hashes to one the policy names: the page's own two. Every value read from a file
is escaped where it lands, and the policy stops a script that slipped through anyway. The diagram is
drawn once per collapse depth (macro and loop boxes expanded down to that many levels); the
page shows one drawing and the script swaps them, so expanding never lays anything out in the
browser. The layer table is likewise drawn once per grouping depth, as ``analyze --depth``.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape

from .. import __version__
from ..analysis.render import group_by_prefix, human, human_bytes, shape_str, totals_lines
from ..analysis.report import Analysis
from .data import Item, diagram_items, max_level
from .layout import layout, visible_boxes
from .sections import model_html, run_html, warnings_for, warnings_html
from .sources import ModelInfo, RunInfo
from .svg import DIAGRAM_CSS, diagram_svg

DEFAULT_BOXES = 60  # the default drawing expands groups while it shows at most this many boxes
DEFAULT_ROWS = 60  # the table starts grouped when the model has more IR nodes than this

PAGE_CSS = """
:root{--fg:#1d2433;--mute:#5d6678;--line:#d6dbe4;--acc:#3b6fd1;--mac:#e08a2c}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,
sans-serif;color:var(--fg);background:#fff}
main{max-width:1200px;margin:0 auto;padding:16px 20px 40px}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;margin:1.6em 0 .5em;border-bottom:1px solid
var(--line);padding-bottom:.2em}h3{font-size:1.05em;margin:1.1em 0 .4em}
.sub{color:var(--mute);margin:0 0 .8em;overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:8px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 10px;background:#fafbfd}
.card b{display:block;font-size:1.15em;overflow-wrap:anywhere}.card span{color:var(--mute);font-size:.85em}
.ctl{display:flex;flex-wrap:wrap;gap:6px;align-items:center;margin:.4em 0}
button,select{font:inherit;padding:2px 10px;border:1px solid #aab3c5;border-radius:4px;
background:#f3f5f9;cursor:pointer}
.legend{color:var(--mute);font-size:.85em}
.sw{display:inline-block;width:26px;height:10px;vertical-align:middle;border:1px solid #8a6d3b;
background:linear-gradient(90deg,hsl(32,85%,97%),hsl(32,85%,57%))}
.swb{display:inline-block;width:26px;height:4px;vertical-align:middle;background:var(--acc)}
.dgwrap{overflow:auto;border:1px solid var(--line);border-radius:6px;max-height:80vh;
background:#fff}
.dgv[hidden]{display:none}.dg .tog{cursor:pointer}.dg .tog:hover rect{stroke-width:2}
.tblwrap{overflow-x:auto}
table{border-collapse:collapse;font-size:.88em}
table.layers{width:100%}
th,td{padding:3px 8px;border-bottom:1px solid #edf0f5;text-align:left;white-space:nowrap}
th{background:#f3f5f9;position:sticky;top:0;user-select:none}
table.layers th{cursor:pointer}
th.asc::after{content:" \\25b2"}th.desc::after{content:" \\25bc"}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.sh{min-width:90px}
.bar{display:inline-block;height:8px;border-radius:2px;background:var(--mac);vertical-align:middle}
.bar.p{background:var(--acc)}
tfoot td{font-weight:600;border-top:2px solid var(--line)}
.kv td{white-space:normal;overflow-wrap:anywhere;vertical-align:top}
.kv td:first-child{color:var(--mute);max-width:18em}
.charts{display:flex;flex-wrap:wrap;gap:12px}
.chart .ct{font-weight:600;font-size:12px}.chart .tk{font-size:10px;fill:#5d6678}
.chart .pa{fill:#fbfcfe;stroke:#d6dbe4}.chart .gl{stroke:#edf0f5}
.cm td{text-align:center;min-width:2.4em;border:1px solid #fff}
img{max-width:100%;height:auto;border:1px solid var(--line);border-radius:4px}
pre{background:#f6f8fa;padding:8px;overflow:auto;font-size:.85em;white-space:pre-wrap;
overflow-wrap:anywhere}
footer{color:var(--mute);font-size:.8em;margin-top:3em}
.warn{background:#fff4e0;border-left:4px solid #d0461c;padding:6px 10px;font-weight:600;
overflow-wrap:anywhere}
.chart .nt{fill:#b0413e}
@media (max-width:700px){main{padding:10px}h1{font-size:1.3em}
.cards{grid-template-columns:repeat(2,1fr)}.dgwrap{max-height:70vh}
th,td{padding:2px 5px}td.sh{min-width:50px}}
@media print{.ctl,.noprint{display:none!important}main{max-width:none;padding:0}
.dgwrap{max-height:none;overflow:visible;border:none}.dg{max-width:100%;height:auto}
th{position:static}h2{break-after:avoid}tr,.card,svg.chart{break-inside:avoid}
body{font-size:11px}.tblwrap{overflow:visible}table{font-size:8.5px}th,td{padding:1px 4px}
td.sh{min-width:0}}
"""

# Records script errors and refused fetches (the policy blocks every one) on the root element,
# where a headless browser's --dump-dom shows them; the tests read them.
ERROR_HOOK = ("function cnnNote(t){var d=document.documentElement;"
              "d.setAttribute('data-errors',(d.getAttribute('data-errors')||'')+t+';');}"
              "window.onerror=function(m,s,l){cnnNote(m+' @'+l);};"
              "document.addEventListener('securitypolicyviolation',function(e){"
              "cnnNote('blocked '+e.blockedURI+' ('+e.violatedDirective+')');});")

PAGE_JS = r"""
(function(){
var dv=[].slice.call(document.querySelectorAll('.dgv'));
var depths=dv.map(function(d){return +d.dataset.depth;});
var cur=+document.getElementById('diagram').dataset.start;
var label=document.getElementById('dlabel');
function show(d,focus){
  d=Math.max(depths[0],Math.min(depths[depths.length-1],d));cur=d;
  dv.forEach(function(v){v.hidden=(+v.dataset.depth!==d);});
  label.textContent=d>=depths[depths.length-1]?'all expanded':'groups open to level '+d;
  if(focus){var v=dv[depths.indexOf(d)],el=v.querySelector('[data-id="'+focus+'"]');
    if(el&&el.scrollIntoView)el.scrollIntoView({block:'nearest',inline:'nearest'});}
}
document.getElementById('dminus').onclick=function(){show(cur-1);};
document.getElementById('dplus').onclick=function(){show(cur+1);};
document.getElementById('dall').onclick=function(){show(depths[depths.length-1]);};
document.getElementById('dnone').onclick=function(){show(depths[0]);};
document.getElementById('diagram').addEventListener('click',function(ev){
  var t=ev.target.closest?ev.target.closest('.tog'):null;if(!t)return;
  var lv=+t.dataset.level;show(t.classList.contains('cl')?lv+1:lv,t.dataset.id);
});
show(cur);
var tb=[].slice.call(document.querySelectorAll('table.layers tbody'));
var sel=document.getElementById('tdepth');
function group(k){tb.forEach(function(b){b.hidden=(b.dataset.k!==k);});}
sel.onchange=function(){group(sel.value);};group(sel.value);
[].slice.call(document.querySelectorAll('table.layers th')).forEach(function(th,col){
  th.onclick=function(){
    var asc=!th.classList.contains('asc');
    th.parentNode.querySelectorAll('th').forEach(function(h){h.classList.remove('asc','desc');});
    th.classList.add(asc?'asc':'desc');
    var num=th.classList.contains('n');
    tb.forEach(function(b){
      var rows=[].slice.call(b.rows);
      rows.sort(function(r,s){
        var a=r.cells[col].dataset.v,c=s.cells[col].dataset.v;
        if(a===undefined){a=r.cells[col].textContent;c=s.cells[col].textContent;}
        var x=num?(+a)-(+c):(a<c?-1:a>c?1:0);
        if(th.dataset.key==='order')x=(+r.dataset.i)-(+s.dataset.i);
        return (asc?x:-x)||((+r.dataset.i)-(+s.dataset.i));});
      rows.forEach(function(r){b.appendChild(r);});
    });
  };
});
// #depth=N opens the diagram at depth N; with 'click', its first closed box is opened too
var m=/depth=(\d+)/.exec(location.hash);if(m)show(+m[1]);
if(/click/.test(location.hash)){var c=document.querySelector('.dgv:not([hidden]) .cl.tog');
  if(c)c.dispatchEvent(new MouseEvent('click',{bubbles:true}));}
var res=window.performance&&performance.getEntriesByType?performance.getEntriesByType('resource'):[];
document.documentElement.setAttribute('data-resources',String(res.length));
document.documentElement.setAttribute('data-ready','1');
})();
"""


def script_hash(text: str) -> str:
    """A CSP source allowing exactly the inline script ``text``: 'sha256-BASE64'."""
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode("ascii")
    return f"'sha256-{digest}'"


CSP = ("default-src 'none'; style-src 'unsafe-inline'; "
       f"script-src {script_hash(ERROR_HOOK)} {script_hash(PAGE_JS)}; "
       "img-src data:; base-uri 'none'; form-action 'none'")


def _card(value: str, what: str) -> str:
    return f'<div class="card"><b>{escape(value)}</b><span>{escape(what)}</span></div>'


def _output_rf(a: Analysis):
    spatial = [r.receptive_field for r in a.nodes if r.receptive_field is not None]
    return spatial[-1] if spatial else None


def _rf_text(rf) -> str:
    """A receptive field in a card: '259x259 px, jump 64x64' (breaks between its parts)."""
    if rf is None:
        return "-"
    return f"{rf.size[0]}x{rf.size[1]} px, jump {rf.jump[0]}x{rf.jump[1]}"


def summary_html(a: Analysis) -> str:
    """The totals as cards, with the same figures ``analyze`` prints under its table."""
    t = a.totals
    rf = _output_rf(a)
    cards = [
        _card(f"{t.trainable_params:,}", "trainable parameters"),
        _card(f"{t.non_trainable_params:,}", "non-trainable parameters"),
        _card(human(t.macs), f"MACs per sample ({t.macs:,})"),
        _card(human_bytes(t.param_bytes), "parameter memory (float32)"),
        _card(human_bytes(t.inference_peak_bytes), f"inference activations, peak (batch {a.batch})"),
        _card(human_bytes(t.activation_bytes), f"training activations (batch {a.batch})"),
        _card(_rf_text(rf), "receptive field of the last spatial layer (size, jump)"),
        _card(f"{len(a.nodes):,}", "IR nodes"),
    ]
    return '<div class="cards" id="totals">' + "".join(cards) + "</div>"


def _depth_choices(root: Item) -> tuple[list[int], int]:
    top = max_level(root) + 1
    depths = list(range(0, top + 1))
    start = 0
    for d in depths:
        if visible_boxes(root, d) <= DEFAULT_BOXES:
            start = d
    return depths, start


def diagram_html(root: Item, name: str) -> str:
    """Every collapse depth's drawing, one shown; controls and a legend."""
    depths, start = _depth_choices(root)
    parts = []
    for d in depths:
        svg = diagram_svg(layout(root, d), interactive=True,
                          title=f"{name}: block diagram")
        hidden = "" if d == start else " hidden"
        parts.append(f'<div class="dgv" data-depth="{d}"{hidden}>{svg}</div>')
    controls = ('<div class="ctl noprint"><button id="dnone">collapse all</button>'
                '<button id="dminus">\u2212</button><button id="dplus">+</button>'
                '<button id="dall">expand all</button><span id="dlabel" class="legend"></span>'
                '</div>')
    legend = ('<p class="legend">Click a dashed macro or loop box to open it, a frame\'s title '
              'to close it. <span class="sw"></span> fill: MACs (the costliest box darkest); '
              '<span class="swb"></span> bar: trainable parameters (relative to the largest '
              'box); dashed red line: the skip path of an add.</p>')
    return (controls + legend + f'<div class="dgwrap" id="diagram" data-start="{start}">'
            + "".join(parts) + "</div>")


_COLUMNS = [("Layer", "", "order"), ("Op", "", ""), ("Output shape", "", ""),
            ("Params", "n", ""), ("Non-train", "n", ""), ("MACs", "n", ""),
            ("MAC share", "n sh", ""), ("Param share", "n sh", ""), ("Activations", "n", ""),
            ("RF", "", "")]


def _share(v: int, total: int, cls: str) -> str:
    frac = v / total if total else 0.0
    return (f'<td class="n sh" data-v="{v}"><span class="bar{cls}" '
            f'style="width:{frac * 60:.1f}px"></span> {frac:.1%}</td>')


def _row(i: int, name: str, op: str, shape, tr: int, nt: int, macs: int, act: int, rf,
         a: Analysis) -> str:
    t = a.totals
    params = t.trainable_params + t.non_trainable_params
    return (f'<tr data-i="{i}"><td>{escape(name)}</td><td>{escape(op)}</td>'
            f"<td>{shape_str(shape)}</td>"
            f'<td class="n" data-v="{tr}">{tr:,}</td><td class="n" data-v="{nt}">{nt:,}</td>'
            f'<td class="n" data-v="{macs}">{macs:,}</td>'
            + _share(macs, t.macs, "") + _share(tr + nt, params, " p")
            + f'<td class="n" data-v="{act}">{human_bytes(act)}</td><td>{rf or "-"}</td></tr>')


def table_html(a: Analysis) -> str:
    """The per-layer table, once per grouping depth (as ``analyze --depth K``) and ungrouped."""
    bodies, options = [], []
    rows = [_row(i, r.node.name, r.node.op, r.node.shape, r.node.cost.trainable,
                 r.node.cost.non_trainable, r.node.cost.macs, r.activation_bytes,
                 r.receptive_field, a) for i, r in enumerate(a.nodes)]
    bodies.append(("all", rows))
    deepest = max(len(r.node.name.split("/")) for r in a.nodes)
    seen = {len(a.nodes)}
    for k in range(1, deepest):
        groups = group_by_prefix(a, k)
        if len(groups) in seen:
            continue
        seen.add(len(groups))
        grows = []
        for i, (key, rs) in enumerate(groups):
            ops = sorted({r.node.op for r in rs})
            grows.append(_row(i, key, ops[0] if len(ops) == 1 else f"{len(rs)} nodes",
                              rs[-1].node.shape, sum(r.node.cost.trainable for r in rs),
                              sum(r.node.cost.non_trainable for r in rs),
                              sum(r.node.cost.macs for r in rs),
                              sum(r.activation_bytes for r in rs), rs[-1].receptive_field, a))
        bodies.append((str(k), grows))
    start = "all"
    if len(a.nodes) > DEFAULT_ROWS:
        fitting = [k for k, rs in bodies[1:] if len(rs) <= DEFAULT_ROWS]
        start = fitting[-1] if fitting else "all"
    for k, rs in bodies:
        text = "every IR node" if k == "all" else f"grouped by {k} name segment" + "s" * (k != "1")
        sel = " selected" if k == start else ""
        options.append(f'<option value="{k}"{sel}>{text} ({len(rs)} rows)</option>')
    head = "".join(f'<th class="{c}" data-key="{key}">{h}</th>' for h, c, key in _COLUMNS)
    t = a.totals
    foot = (f'<tfoot><tr><td colspan="3">Total</td><td class="n">{t.trainable_params:,}</td>'
            f'<td class="n">{t.non_trainable_params:,}</td><td class="n">{t.macs:,}</td>'
            f'<td></td><td></td><td class="n">{human_bytes(t.activation_bytes)}</td>'
            f"<td>{_output_rf(a) or '-'}</td></tr></tfoot>")
    tbodies = "".join(f'<tbody data-k="{k}"{"" if k == start else " hidden"}>{"".join(rs)}'
                      f"</tbody>" for k, rs in bodies)
    lines = "".join(f"<li>{escape(line)}</li>" for line in totals_lines(a))
    return (f'<div class="ctl noprint"><label>Rows: <select id="tdepth">{"".join(options)}'
            f'</select></label><span class="legend">click a column title to sort</span></div>'
            f'<div class="tblwrap"><table class="layers"><thead><tr>{head}</tr></thead>'
            f"{tbodies}{foot}</table></div><ul class=\"legend\" id=\"totals-lines\">{lines}</ul>")


def build_page(a: Analysis, description: str = "", run: RunInfo | None = None,
               model: ModelInfo | None = None) -> str:
    """The whole report page as HTML text."""
    g = a.graph
    root = diagram_items(g)
    heads = ", ".join(f"{h.name} ({h.size})" for h in g.heads.heads)
    sub = (f"input {shape_str(g.input_shape)} \u2192 {escape(g.heads.kind)}: {escape(heads)}"
           + (f" \u00b7 {escape(description)}" if description else ""))
    body = [f"<h1>{escape(g.name)}</h1><p class=\"sub\">{sub}</p>",
            warnings_html(warnings_for(g, run, model)),
            '<section id="summary"><h2>Totals</h2>', summary_html(a), "</section>",
            '<section id="blocks"><h2>Block diagram</h2>', diagram_html(root, g.name),
            "</section>", '<section id="layers"><h2>Layers</h2>', table_html(a), "</section>"]
    if run is not None:
        body.append(run_html(run))
    if model is not None:
        body.append(model_html(model))
    body.append(f"<footer>Written by cnncompile {escape(__version__)}; this page works offline "
                "and loads nothing.</footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{escape(g.name)}: cnncompile report</title>"
            f"<script>{ERROR_HOOK}</script>"
            f"<style>{PAGE_CSS}{DIAGRAM_CSS}</style></head><body><main>"
            + "".join(body) + f"</main><script>{PAGE_JS}</script></body></html>\n")
