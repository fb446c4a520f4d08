# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Dashboard: the history of a result store as one interactive page
#
# A support notebook (`tinybench.dashboard`), used by `tinybench dashboard` and `tinybench run
# --store ... --dashboard` (lab task 6.2). A `ResultStore` keeps every recorded run: when, on which
# commit and machine, its metrics, its round medians, and the regression gate's verdict. This
# notebook turns that history into **one self-contained HTML file** (plotly's JavaScript inlined,
# no server, no network) with:
#
# - per benchmark and metric, the **trend over runs**, each point with its **interval**;
# - the runs the **regression gate flagged**, marked as the gate judged them;
# - the git commit and environment of each run on hover;
# - a **drill-down**: click a run to see the ECDF of its batch times and its round medians;
# - filters (metric, benchmark) and an **export** of the shown data as CSV or JSON.
#
# Nothing here measures: the page shows what the store holds, and the tests check that the numbers
# embedded in the page are the store's numbers.

# %%
#| default_exp dashboard

# %%
#| export
from __future__ import annotations

import html
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tinybench.files import atomic_write_text, write_error_message
from tinybench.stats import median_ci, min_samples_for_quantile_ci
from tinybench.store import ResultStore

# %% [markdown]
# ## A trend needs intervals
#
# A line through run medians invites reading every wiggle as a change. On a shared machine two runs
# of the same code differ by a few percent; what separates a change from noise is the **interval**
# around each point. If two runs' intervals overlap widely, the trend has not shown a change; if a
# point jumps far outside its neighbours' intervals, something moved.
#
# The unit of replication is the **round**: the suite times every model in interleaved rounds and
# keeps one median per round (module 06). A run's interval is the distribution-free 90% CI of the
# median of its round medians (`median_ci`, order statistics, module 01); the point drawn is the
# run's pooled median (`median_s`), which lies inside that interval except when the rounds disagree
# badly, itself a warning. With fewer than 5 rounds no 90% interval exists, and none is drawn (the
# hover says so) rather than inventing one. `interval_metrics` computes the interval when a run is
# recorded, so the store keeps it next to the metric (`median_s:ci_low`, `median_s:ci_high`,
# `median_s:ci_level`), and throughput's interval follows from it (batch / time).

# %%
#| export
CI_LEVEL = 0.90


def interval_metrics(round_medians: Sequence[float], batch: int, level: float = CI_LEVEL) -> dict[str, float]:
    """The `level` CI of a run's median time per batch (seconds) from its round medians, and the matching
    throughput interval (samples/s = batch / time), as store metrics named `<metric>:ci_low`, `<metric>:ci_high`,
    `<metric>:ci_level`. Empty when there are too few rounds for that level or a round median is not finite and
    positive: no interval, rather than a made-up one."""
    x = np.asarray(list(round_medians), dtype=float)
    if x.size < min_samples_for_quantile_ci(0.5, level) or not np.all(np.isfinite(x)) or np.any(x <= 0):
        return {}
    lo, hi = median_ci(x, level)
    return {"median_s:ci_low": lo, "median_s:ci_high": hi, "median_s:ci_level": level,
            "throughput_samples_per_s:ci_low": batch / hi, "throughput_samples_per_s:ci_high": batch / lo,
            "throughput_samples_per_s:ci_level": level}

# %%
_iv = interval_metrics([1.0, 1.2, 0.9, 1.1, 1.05, 0.95, 1.3], batch=32)
assert _iv["median_s:ci_low"] <= float(np.median([1.0, 1.2, 0.9, 1.1, 1.05, 0.95, 1.3])) <= _iv["median_s:ci_high"]
assert math.isclose(_iv["throughput_samples_per_s:ci_high"], 32 / _iv["median_s:ci_low"])
assert interval_metrics([1.0, 1.1, 0.9], batch=32) == {}, "3 rounds: no 90% interval"
print(_iv)

# %% [markdown]
# ## A regression mark must come from the gate
#
# `tinybench run --store --baseline` judges each run against its stored baseline
# (`detect_regression`: the ratio of round medians, its CI, the tolerance) and acts on the verdict:
# exit status 1 fails the CI job. The store keeps that verdict with the run. The dashboard **reads**
# it; it does not decide again. A second rule on the page (say, "10% above the previous point")
# would mark runs the gate passed and miss runs it failed, and a reader would be right to trust
# neither. So a run is marked exactly when its stored verdict has a row `regressed`; the gate's
# timing metric (`round_median_s`) is shown on the time and throughput charts, any other judged
# metric (accuracy) on its own chart. A verdict the gate **could not judge** (NaN metrics, an
# unusable baseline) failed the gate too, and is marked apart. A run without a verdict was not
# judged (no `--baseline`, or it became the baseline): no mark.

# %%
#| export
GATE_METRIC_CHARTS = {"round_median_s": ("median_s", "throughput_samples_per_s")}


def gate_mark(verdict: dict[str, Any] | None, metric: str) -> str | None:
    """How the regression gate judged a run on the chart of `metric`: "regressed" when a verdict row that this chart
    shows says so, "cannot judge" when the gate could not judge the run (it failed the gate), else None."""
    if not verdict:
        return None
    for row in verdict.get("rows") or []:
        if row.get("verdict") == "regressed" and metric in GATE_METRIC_CHARTS.get(row.get("metric"), (row.get("metric"),)):
            return "regressed"
    if verdict.get("error") or (verdict.get("ok") is False and not verdict.get("rows")):
        return "cannot judge"
    return None

# %%
_rep = {"ok": False, "rows": [{"metric": "round_median_s", "verdict": "regressed"},
                              {"metric": "accuracy", "verdict": "unchanged"}]}
assert gate_mark(_rep, "median_s") == "regressed" and gate_mark(_rep, "throughput_samples_per_s") == "regressed"
assert gate_mark(_rep, "accuracy") is None and gate_mark(None, "median_s") is None
assert gate_mark({"ok": False, "error": "NaN", "rows": []}, "accuracy") == "cannot judge"

# %% [markdown]
# ## Drill-down: one run's distribution
#
# A trend point is one number; the run behind it is a distribution. Clicking a point shows two
# views of that run: the **ECDF of its batch times** (pooled over rounds: the shape, the tail, a
# second mode from a frequency change) and its **round medians** in order (drift within the run,
# a slow first round). `tinybench run --store` records both (`batch_s`, `round_median_s`); a run
# recorded before batch times were stored shows the ECDF of its round medians and says so. The
# page embeds at most 200 points per ECDF (the quantiles at evenly spaced probabilities, which draw
# the same curve) so that a long history stays a small file.

# %%
#| export
ECDF_POINTS = 200


def ecdf_points(samples: Sequence[float], max_points: int = ECDF_POINTS) -> tuple[list[float], list[float]]:
    "(x, F(x)) of the ECDF of the finite `samples`: every point, or the quantiles at `max_points` probabilities 0..1."
    x = np.sort(np.asarray(list(samples), dtype=float))
    x = x[np.isfinite(x)]
    if x.size == 0:
        return [], []
    if x.size <= max_points:
        return x.tolist(), (np.arange(1, x.size + 1) / x.size).tolist()
    p = np.linspace(0.0, 1.0, max_points)  # from the minimum (F = 0 before its step) to the maximum
    return np.quantile(x, p).tolist(), p.tolist()

# %%
_x, _F = ecdf_points(np.random.default_rng(0).lognormal(0, 0.3, 5000))
assert len(_x) == ECDF_POINTS and _F[-1] == 1.0 and all(np.diff(_x) >= 0)
assert ecdf_points([3.0, 1.0, float("nan")]) == ([1.0, 3.0], [0.5, 1.0])

# %% [markdown]
# ## `Dashboard`: the data, then the page
#
# `Dashboard.from_store` reads every run of every benchmark (oldest first) into plain records,
# exactly what the store holds minus the bulky arrays (`to_dict()` and the page's JSON export are
# these records). `figure()` builds the plotly figure from them; `to_html()` writes the page;
# `save(folder)` writes `dashboard.html` atomically. A missing store file is a ValueError (opening
# it would create an empty one); an empty store gives a page that says "no runs yet", so a CI job can
# publish the dashboard from its first build on.

# %%
#| export
METRIC_ORDER = ("median_s", "p99_s", "throughput_samples_per_s", "accuracy")
METRIC_LABELS = {"median_s": "median time per batch (s)", "p99_s": "p99 time per batch (s)",
                 "throughput_samples_per_s": "throughput (samples/s)", "accuracy": "accuracy (fraction)"}
LOG_Y_RATIO = 10.0  # a time chart opens on a log y axis when its shown values span more than this factor
DRILL_HINT = "Click a point to see that run's latency ECDF (its batch times) and its round medians."
ENV_KEYS = ("cpu_model", "cpu_count", "platform", "python", "torch", "gpu", "device")


def environment_line(env: dict[str, Any]) -> str:
    "A one-line summary of a stored run's environment (CPU, platform, Python, torch, GPU) for the hover."
    return ", ".join(f"{k} {env[k]}" for k in ENV_KEYS if env.get(k) not in (None, "")) or "not recorded"


def run_record(run: Any) -> dict[str, Any]:
    "A StoredRun as the dashboard's record: the store's fields, its round medians, no pooled batch times."
    rounds = run.samples.get("round_median_s")
    return {"id": run.id, "name": run.name, "created": run.created, "git_commit": run.git_commit,
            "environment": run.environment, "settings": run.settings, "metrics": dict(run.metrics),
            "round_median_s": [] if rounds is None else rounds.tolist(), "verdict": run.verdict}

# %% [markdown]
# ### The figure
#
# One plotly figure holds every trace; the page shows one metric at a time. Per metric and
# benchmark, one trend trace (markers and lines, asymmetric error bars from the stored interval);
# per metric and benchmark with flagged runs, one marker trace `regression (gate)` (red crosses) and
# one `gate could not judge`. Every trace carries `meta = {"metric", "model", "kind"}`, which the
# page's filters read. Each point's `customdata` holds the run id, the commit, the environment line,
# the benchmark name, the interval and the verdict text; names are HTML-escaped there because plotly
# renders hover text as (a subset of) HTML.

# %%
#| export
def _hover_fields(r: dict[str, Any], metric: str) -> list[Any]:
    m = r["metrics"]
    if f"{metric}:ci_low" in m and f"{metric}:ci_high" in m:
        level = m.get(f"{metric}:ci_level", CI_LEVEL)
        ci = f"{level:.0%} CI {m[f'{metric}:ci_low']:.4g} – {m[f'{metric}:ci_high']:.4g}"
    else:
        ci = "no interval stored"
    v = r["verdict"]
    mark = gate_mark(v, metric)
    if v is None:
        gate = "not judged by the gate"
    else:
        rows = "; ".join(f"{row.get('metric')}: {row.get('verdict')}" for row in v.get("rows") or [])
        gate = (mark or "passed") + (f" ({rows})" if rows else "") + (f" ({v['error']})" if v.get("error") else "")
    return [r["id"], html.escape(r["git_commit"] or "no commit"), html.escape(environment_line(r["environment"])),
            html.escape(r["name"]), ci, html.escape(gate)]


def _utc(t: float) -> str:
    "UTC time with milliseconds (runs recorded within one second stay apart on the axis)."
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}"


_HOVER = ("<b>%{customdata[3]}</b><br>run #%{customdata[0]}, %{x} UTC<br>value %{y:.4g} (%{customdata[4]})"
         "<br>commit %{customdata[1]}<br>%{customdata[2]}<br>gate: %{customdata[5]}<extra></extra>")




# %% [markdown]
# ### The page
#
# A jinja2 template with autoescaping writes the HTML (benchmark names in the selects and the
# flagged-runs table are escaped). The data goes into a `<script type="application/json">` block
# with `<`, `>` and `&` written as `\u` escapes, so that no stored string can close the script.
# Plotly's JavaScript is inlined (`plotly.offline.get_plotlyjs()`, about 4.7 MB): the page works
# offline, from a CI artifact or an e-mail attachment. A few lines of JavaScript do the rest:
# the filters set each trace's visibility from its `meta`, a click draws the drill-down, and the
# export buttons download the shown records through a `Blob` (no server): JSON, the full records of
# the shown benchmarks; CSV, one row per shown run for the shown metric, with the gate's judgement
# (`regressed`, `cannot judge`, `passed`, `not judged`). The view lives in the address
# (`dashboard.html#metric=accuracy&model=...&run=12&log=1`), so a link opens the same view.
#
# A few rules keep the page honest about what it shows, found by a first-time user:
#
# - The header counts **records**: `tinybench run --store` adds one per benchmark it timed, so two
#   invocations of a 4-model suite are 8 records; the store keeps no invocation id to count more.
# - `model=` takes the full benchmark name (`digits-cnn/fp32/batch32`) or a part of it: the model
#   part (`fp32`), another `/`-part, a suffix, a substring; an ambiguous or unknown one shows all
#   benchmarks and says so above the chart.
# - The drill-down respects the benchmark filter: `model=...fp32...&run=6`, with run 6 an int8
#   record, draws no drill-down and says which benchmark run 6 belongs to; changing the filter
#   away from the drilled run clears it.
# - A time chart whose shown values span more than `LOG_Y_RATIO` (one noisy 36 ms run among
#   1 ms ones) opens on a **log y axis**; the `log y` box switches it (and goes into the address).
# - A note under the chart names the shown runs without an error bar and why (fewer than 5 rounds
#   have no 90% interval), instead of leaving the hover to say it.
# - Until a point is clicked, the drill-down is one line of hint, not two empty plots.
#
# These rules and the export (`_EXPORT_JS`) are pure functions that touch no page element, so the
# tests run them in Node on the embedded data, and check the page itself in headless Chromium.

# %%
#| export
_PAGE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1200px}label{margin-right:1em}
.note{color:#555}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}
#tb-drill{display:flex;gap:1em}#tb-drill>div{flex:1;min-height:300px}#tb-drill[hidden]{display:none}
#tb-address-note{color:#a00}</style></head><body>
<h1>{{ title }}</h1>
<p class="note" id="tb-summary">{{ store }}: {{ n_runs }} records of {{ names|length }} benchmarks (each
<code>tinybench run --store</code> adds one record per benchmark it timed), built {{ built }} UTC.</p>
{% if not n_runs %}<p id="tb-empty"><b>No runs yet.</b> Record one with <code>tinybench run --store {{ store }}</code>,
then run <code>tinybench dashboard --store {{ store }}</code> again.</p>{% else %}
<p class="note">Each point is one run, with the {{ level }} CI of its median from the round medians where the store
has one. Red crosses: runs the regression gate (<code>tinybench run --baseline</code>) flagged, read from its stored
verdict. Hover for the commit and environment; click a point for that run's distribution.</p>
<p id="tb-address-note" hidden></p>
<div><label>metric <select id="tb-metric">{% for m in metrics %}<option value="{{ m }}">{{ labels.get(m, m) }}</option>
{% endfor %}</select></label><label>benchmark <select id="tb-model"><option value="">all</option>
{% for n in names %}<option value="{{ n }}">{{ n }}</option>{% endfor %}</select></label>
<label><input type="checkbox" id="tb-log"> log y</label>
<button id="tb-csv">export CSV</button> <button id="tb-json">export JSON</button></div>
<div id="tb-trend"></div>
<p id="tb-interval-note" class="note"></p>
<h2>Drill-down</h2><p id="tb-drill-title" class="note">{{ drill_hint }}</p>
<div id="tb-drill" hidden><div id="tb-ecdf"></div><div id="tb-rounds"></div></div>
<h2>Runs the gate flagged</h2>
{% if flagged %}<table id="tb-flagged"><tr><th>run</th><th>benchmark</th><th>commit</th><th>verdict</th></tr>
{% for f in flagged %}<tr><td>{{ f.id }}</td><td>{{ f.name }}</td><td>{{ f.commit }}</td><td>{{ f.verdict }}</td></tr>
{% endfor %}</table>{% else %}<p>None.</p>{% endif %}
<script>{{ plotly_js|safe }}</script>
<script type="application/json" id="tb-data">{{ data|safe }}</script>
<script id="tb-export-js">{{ export_js|safe }}</script>
<script>{{ app_js|safe }}</script>{% endif %}
</body></html>
"""

_EXPORT_JS = r"""const tinybenchExport = (function () {  // pure functions: export and view rules, testable without a DOM
function shown(runs, metric, model) {
  return runs.filter(r => (model === '' || r.name === model) && (metric in r.metrics));
}
function cell(v) { return '"' + String(v === null || v === undefined ? '' : v).replace(/"/g, '""') + '"'; }
function csv(runs, metric, gate) {
  const head = ['run_id', 'name', 'created_unix_s', 'git_commit', 'metric', 'value', 'ci_low', 'ci_high', 'gate'];
  const rows = runs.map(r => [r.id, r.name, r.created, r.git_commit, metric, r.metrics[metric],
                              r.metrics[metric + ':ci_low'], r.metrics[metric + ':ci_high'],
                              (gate[String(r.id)] || {})[metric]].map(cell).join(','));
  return [head.join(',')].concat(rows).join('\n') + '\n';
}
function json(runs) { return JSON.stringify(runs, null, 1); }
// model=... in the address: the full benchmark name, or its model part (digits-cnn/fp32/batch32 -> fp32), or one
// '/'-part, or a suffix, or a substring (any case); the first rule that matches decides. {name, note}: name '' = all.
function resolveModel(names, q) {
  if (!q || names.includes(q)) return {name: q || '', note: ''};
  const parts = n => n.split('/'), low = q.toLowerCase();
  const rules = [n => parts(n).length >= 3 && parts(n).slice(1, -1).join('/') === q, n => parts(n).includes(q),
                 n => n.endsWith('/' + q), n => n.toLowerCase().includes(low)];
  for (const rule of rules) {
    const hit = names.filter(rule);
    if (hit.length === 1) return {name: hit[0], note: ''};
    if (hit.length > 1) return {name: '', note: 'model=' + q + ' matches ' + hit.length + ' benchmarks (' +
      hit.join(', ') + '): showing all; put one full name in the address.'};
  }
  return {name: '', note: 'model=' + q + ' matches no benchmark: showing all.'};
}
// Which run the drill-down may show under the benchmark filter `model`: {ok, note}. A run of another benchmark is
// not drawn under a filter that hides it (the page and the address would disagree); the note says why.
function drillable(runs, id, model) {
  const run = runs.find(r => String(r.id) === String(id));
  if (!run) return {ok: false, note: 'run #' + id + ' is not in this store.'};
  if (model !== '' && run.name !== model) return {ok: false, note: 'run #' + id + ' is a record of ' + run.name +
    ', not of the shown benchmark ' + model + ': its drill-down is not shown (choose that benchmark or "all", or ' +
    'click a point of the chart).'};
  return {ok: true, note: ''};
}
// Log y by default for a time metric (name ending in _s) whose shown values span more than `ratio` (one slow run
// would otherwise flatten every other line); never when a shown value is not positive.
function logByDefault(runs, metric, model, ratio) {
  if (!/_s$/.test(metric)) return false;
  const v = shown(runs, metric, model).map(r => r.metrics[metric]);
  if (v.length < 2 || v.some(x => !(x > 0))) return false;
  return Math.max.apply(null, v) / Math.min.apply(null, v) > ratio;
}
function logPossible(runs, metric, model) {
  const v = shown(runs, metric, model).map(r => r.metrics[metric]);
  return v.length > 0 && v.every(x => x > 0);
}
// Why shown points have no error bar: '' when every shown run has its interval.
function intervalNote(runs, metric, model, withIntervals, minRounds, level) {
  const rs = shown(runs, metric, model), lack = rs.filter(r => !((metric + ':ci_low') in r.metrics));
  if (!lack.length) return '';
  if (!withIntervals.includes(metric)) return 'No error bars on this chart: the store keeps no interval for it.';
  const few = lack.filter(r => r.round_median_s.length < minRounds), other = lack.filter(r => !few.includes(r));
  let note = 'No error bar on ' + lack.length + ' of ' + rs.length + ' shown runs.';
  if (few.length) note += ' Runs with fewer than ' + minRounds + ' rounds have no ' + level + ' interval: ' +
    few.map(r => '#' + r.id + ' (' + r.round_median_s.length + ' rounds)').join(', ') + '.';
  if (other.length) note += ' No interval stored for ' + other.map(r => '#' + r.id).join(', ') + '.';
  return note;
}
return {shown: shown, csv: csv, json: json, resolveModel: resolveModel, drillable: drillable,
        logByDefault: logByDefault, logPossible: logPossible, intervalNote: intervalNote};
})();
"""

_APP_JS = r"""(function () {
const D = JSON.parse(document.getElementById('tb-data').textContent), X = tinybenchExport;
const div = document.getElementById('tb-trend'), selM = document.getElementById('tb-metric'),
      selN = document.getElementById('tb-model'), logBox = document.getElementById('tb-log'),
      addressNote = document.getElementById('tb-address-note'), drillBox = document.getElementById('tb-drill'),
      drillTitle = document.getElementById('tb-drill-title');
const state = new URLSearchParams(location.hash.slice(1));  // page.html#metric=accuracy&model=...&run=12&log=1
const notes = {};  // what the address asked for and the page could not show: {model: ..., run: ...}
function remember(key, value) {
  if (value) state.set(key, value); else state.delete(key);
  history.replaceState(null, '', '#' + state.toString());
}
function say(key, text) {
  notes[key] = text;
  addressNote.textContent = Object.values(notes).filter(Boolean).join(' ');
  addressNote.hidden = !addressNote.textContent;
}
if (state.has('metric') && D.metrics.includes(state.get('metric'))) selM.value = state.get('metric');
if (state.has('model')) {
  const r = X.resolveModel(D.names, state.get('model'));
  selN.value = r.name;
  say('model', r.note);
  remember('model', r.name);
}
Plotly.newPlot(div, D.figure.data, D.figure.layout, {responsive: true, displaylogo: false});
function update() {
  const m = selM.value, n = selN.value;
  const visible = D.figure.data.map(t => t.meta.metric === m && (n === '' || t.meta.model === n)), seen = {};
  const legend = D.figure.data.map((t, i) => t.meta.kind === 'trend' || (visible[i] && !seen[t.meta.kind] &&
                                                                           (seen[t.meta.kind] = true)));
  const possible = X.logPossible(D.runs, m, n);
  const log = possible && (state.has('log') ? state.get('log') === '1' : X.logByDefault(D.runs, m, n, D.log_ratio));
  logBox.disabled = !possible;
  logBox.checked = log;
  Plotly.restyle(div, {visible: visible, showlegend: legend});
  Plotly.relayout(div, {'yaxis.title.text': (D.labels[m] || m) + (log ? ', log scale' : ''),
                        'yaxis.type': log ? 'log' : 'linear', 'yaxis.autorange': true});
  document.getElementById('tb-interval-note').textContent =
    X.intervalNote(D.runs, m, n, D.interval_metrics, D.min_rounds, D.level);
}
selM.addEventListener('change', () => { remember('log', ''); remember('metric', selM.value); update(); });
selN.addEventListener('change', () => {
  remember('log', ''); remember('model', selN.value); say('model', ''); update();
  if (state.has('run') && !X.drillable(D.runs, state.get('run'), selN.value).ok) clearDrill();
});
logBox.addEventListener('change', () => { remember('log', logBox.checked ? '1' : '0'); update(); });
update();
function download(name, text, type) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], {type: type})); a.download = name;
  document.body.appendChild(a); a.click(); a.remove();
}
const shown = () => X.shown(D.runs, selM.value, selN.value);
document.getElementById('tb-json').addEventListener('click', () =>
  download('tinybench-dashboard.json', X.json(shown()), 'application/json'));
document.getElementById('tb-csv').addEventListener('click', () =>
  download('tinybench-dashboard-' + selM.value + '.csv', X.csv(shown(), selM.value, D.gate), 'text/csv'));
function clearDrill() {
  remember('run', '');
  drillBox.hidden = true;
  drillTitle.textContent = D.drill_hint;
}
function drill(id) {
  const run = D.runs.find(r => String(r.id) === id), d = D.drill[id], ok = X.drillable(D.runs, id, selN.value);
  if (!ok.ok || !d) { say('run', ok.note || ('run #' + id + ' has no drill-down data.')); clearDrill(); return; }
  say('run', '');
  drillBox.hidden = false;
  drillTitle.textContent = 'run #' + id + ' ' + run.name + ', commit ' +
    (run.git_commit || 'none') + ': ECDF of its ' + d.ecdf_of + ' and its round medians (seconds per batch)';
  Plotly.react('tb-ecdf', [{x: d.ecdf_x, y: d.ecdf_y, mode: 'lines', line: {shape: 'hv'}, name: 'ECDF'}],
    {title: {text: 'ECDF of ' + d.ecdf_of}, xaxis: {title: {text: 'seconds per batch'}},
     yaxis: {title: {text: 'fraction'}, range: [0, 1]}, margin: {t: 40}}, {displayModeBar: false});
  Plotly.react('tb-rounds', [{x: d.round_medians.map((_, i) => i + 1), y: d.round_medians, mode: 'lines+markers',
    name: 'round medians'}], {title: {text: 'round medians'}, xaxis: {title: {text: 'round'}},
    yaxis: {title: {text: 'seconds per batch'}}, margin: {t: 40}}, {displayModeBar: false});
}
div.on('plotly_click', ev => { const id = String(ev.points[0].customdata[0]); remember('run', id); drill(id); });
if (state.has('run')) drill(state.get('run'));
})();
"""


def script_json(obj: Any) -> str:
    "JSON of `obj` that is safe inside a <script> element: <, > and & as \\u escapes (JSON.parse reads them back)."
    return json.dumps(obj, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")




# %%
#| export
@dataclass(repr=False)
class Dashboard:
    """The history of a ResultStore for the dashboard page. `runs`: one record per stored run, oldest first
    (`run_record`); `drill`: run id (as a string) → {"ecdf_x", "ecdf_y" (seconds per batch, fraction),
    "ecdf_of" (which samples), "round_medians" (seconds)}; `store`: the store's path."""
    store: str
    runs: list[dict[str, Any]]
    drill: dict[str, dict[str, Any]] = field(default_factory=dict)
    title: str = "tinybench dashboard"
    built: float = field(default_factory=time.time)

    @classmethod
    def from_store(cls, store: str | Path, title: str | None = None) -> "Dashboard":
        """Every run of the ResultStore file `store`; a ValueError when there is no such file (opening it would create an
        empty store), a ResultStoreError when the file is not a tinybench store."""
        path = Path(store)
        if not path.is_file():
            raise ValueError(f"no such result store: {path} (record runs into one first with "
                             f"`tinybench run --store {path}`)")
        runs, drill = [], {}
        with ResultStore(path) as db:
            for name in db.names():
                for run in db.history(name, samples=True):
                    runs.append(run_record(run))
                    batch = run.samples.get("batch_s")
                    source = batch if batch is not None and batch.size else run.samples.get("round_median_s")
                    x, F = ecdf_points([] if source is None else source)
                    drill[str(run.id)] = {"ecdf_x": x, "ecdf_y": F, "round_medians": runs[-1]["round_median_s"],
                                          "ecdf_of": "batch times" if source is batch else "round medians"}
        runs.sort(key=lambda r: (r["created"], r["id"]))
        return cls(str(path), runs, drill, title or f"tinybench dashboard: {path.name}")

    @property
    def names(self) -> list[str]:
        "The benchmarks (store names), sorted."
        return sorted({r["name"] for r in self.runs})

    @property
    def metrics(self) -> list[str]:
        "The metrics with a trend (no interval bounds), the usual ones first."
        found = {k for r in self.runs for k in r["metrics"] if ":" not in k}
        return [m for m in METRIC_ORDER if m in found] + sorted(found - set(METRIC_ORDER))

    def flagged(self, metric: str, mark: str = "regressed") -> list[int]:
        "Ids of the runs the gate marked `mark` ('regressed' or 'cannot judge') on the chart of `metric`."
        return [r["id"] for r in self.runs if metric in r["metrics"] and gate_mark(r["verdict"], metric) == mark]

    def to_dict(self) -> dict[str, Any]:
        return {"store": self.store, "title": self.title, "built": self.built, "runs": self.runs}

    def __repr__(self) -> str:
        flagged = sorted({i for m in self.metrics for i in self.flagged(m)})
        return (f"Dashboard({self.store!r}: {len(self.runs)} records of {len(self.names)} benchmarks, "
                f"{len(self.metrics)} metrics, {len(flagged)} runs flagged by the gate)")

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(repr(self))}</pre>"

    def figure(self):
        "The plotly Figure of all trends (only the first metric's traces visible)."
        import plotly.graph_objects as go
        fig = go.Figure()
        first = self.metrics[0] if self.metrics else None
        for metric in self.metrics:
            in_legend = set()  # one legend entry per kind of mark (the page keeps it on a shown trace)
            for name in self.names:
                rs = [r for r in self.runs if r["name"] == name and metric in r["metrics"]]
                if not rs:
                    continue
                y = [r["metrics"][metric] for r in rs]
                lo = [r["metrics"].get(f"{metric}:ci_low") for r in rs]
                hi = [r["metrics"].get(f"{metric}:ci_high") for r in rs]
                has_ci = any(v is not None for v in lo)
                fig.add_trace(go.Scatter(
                    x=[_utc(r["created"]) for r in rs], y=y, mode="lines+markers", name=html.escape(name),
                    legendgroup=name, visible=metric == first, customdata=[_hover_fields(r, metric) for r in rs],
                    hovertemplate=_HOVER, meta={"metric": metric, "model": name, "kind": "trend"},
                    error_y=dict(type="data", symmetric=False,
                                 array=[0 if h is None else max(h - v, 0) for h, v in zip(hi, y)],
                                 arrayminus=[0 if l is None else max(v - l, 0) for l, v in zip(lo, y)]) if has_ci else None))
                for mark, symbol, color in (("regressed", "x", "#d62728"), ("cannot judge", "diamond-open", "#ff7f0e")):
                    ids = set(self.flagged(metric, mark))
                    hit = [r for r in rs if r["id"] in ids]
                    if hit:
                        label = "regression (gate)" if mark == "regressed" else "gate could not judge"
                        fig.add_trace(go.Scatter(
                            x=[_utc(r["created"]) for r in hit], y=[r["metrics"][metric] for r in hit], mode="markers",
                            name=label, legendgroup=label, visible=metric == first, showlegend=mark not in in_legend,
                            marker=dict(symbol=symbol, size=16, color=color, line=dict(width=3, color=color)),
                            customdata=[_hover_fields(r, metric) for r in hit], hovertemplate=_HOVER,
                            meta={"metric": metric, "model": name, "kind": mark}))
                        in_legend.add(mark)
        fig.update_layout(template="plotly_white", height=480, margin=dict(l=70, r=20, t=30, b=50),
                          xaxis_title="run time (UTC)", yaxis_title=METRIC_LABELS.get(first, first or ""),
                          hovermode="closest", showlegend=True, legend=dict(orientation="h", y=-0.2))
        return fig

    def to_html(self) -> str:
        "The self-contained page (plotly inlined; no network needed)."
        import jinja2
        import plotly.io as pio
        from plotly.offline import get_plotlyjs
        env = jinja2.Environment(autoescape=True)
        flagged = [{"id": r["id"], "name": r["name"], "commit": r["git_commit"] or "no commit",
                    "verdict": "; ".join(f"{row.get('metric')}: {row.get('verdict')}" for row in r["verdict"].get("rows") or [])
                               or r["verdict"].get("error", "cannot judge")}
                   for r in self.runs if any(gate_mark(r["verdict"], m) for m in self.metrics)]
        gate = {str(r["id"]): {m: gate_mark(r["verdict"], m) or ("not judged" if r["verdict"] is None else "passed")
                                for m in r["metrics"] if ":" not in m} for r in self.runs}
        with_intervals = {k.split(":")[0] for k in interval_metrics([1.0] * 8, 1)}  # what `tinybench run` stores
        with_intervals |= {k.split(":")[0] for r in self.runs for k in r["metrics"] if k.endswith(":ci_low")}
        data = {"runs": self.runs, "drill": self.drill, "labels": {m: METRIC_LABELS.get(m, m) for m in self.metrics},
                "metrics": self.metrics, "names": self.names, "gate": gate, "log_ratio": LOG_Y_RATIO,
                "interval_metrics": sorted(with_intervals), "min_rounds": min_samples_for_quantile_ci(0.5, CI_LEVEL),
                "level": f"{CI_LEVEL:.0%}", "drill_hint": DRILL_HINT}
        if self.runs:
            data["figure"] = json.loads(pio.to_json(self.figure(), validate=False))
        return env.from_string(_PAGE).render(
            title=self.title, store=self.store, n_runs=len(self.runs), names=self.names, metrics=self.metrics,
            labels=METRIC_LABELS, built=_utc(self.built), level=f"{CI_LEVEL:.0%}", flagged=flagged,
            plotly_js=get_plotlyjs() if self.runs else "", data=script_json(data), export_js=_EXPORT_JS,
            app_js=_APP_JS, drill_hint=DRILL_HINT)

    def save(self, folder: str | Path, filename: str = "dashboard.html") -> Path:
        "Write the page atomically into `folder` (created if missing); returns its path. OSError naming the path if not."
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"{folder} is a file, not a folder: give a folder for {filename}")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OSError(e.errno, write_error_message(folder, e)) from e
        return atomic_write_text(folder / filename, self.to_html())

# %%
#| export
def build_dashboard(store: str | Path, out: str | Path | None = None, title: str | None = None) -> Path:
    "Read the ResultStore `store` and write `dashboard.html` into `out` (default: the store's folder); its path."
    board = Dashboard.from_store(store, title)
    return board.save(Path(store).parent if out is None else out)

# %% [markdown]
# ## A real history
#
# Five "builds" of two kernels (matrix products of two sizes), each timed in 6 interleaved rounds
# with `tinybench.timing.measure`; in the last build the larger kernel does a third more arithmetic
# (a real extra computation, as in module 04). Every build is judged against the first by
# `detect_regression` and stored with its verdict, as `tinybench run --store --baseline` does. The
# dashboard then marks exactly the runs whose stored verdict says `regressed`: whether the planted
# slowdown was caught is what this machine measured, and the check below only asks that page and
# store agree.

# %%
import shutil
import tempfile

import torch

from tinybench.abtest import detect_regression
from tinybench.timing import measure

a, b = torch.randn(96, 96), torch.randn(160, 160)
kernels = {"matmul-96": lambda: a @ a, "matmul-160": lambda: b @ b}
slower = {"matmul-160": lambda: (b @ b, b[:, :54] @ b[:54])}
tmp = Path(tempfile.mkdtemp())
with ResultStore(tmp / "runs.sqlite") as store:
    for build in range(5):
        rounds = {k: [] for k in kernels}
        batches = {k: [] for k in kernels}
        for _ in range(6):
            for k, f in kernels.items():
                m = measure(slower.get(k, f) if build == 4 else f, min_time=0.01)
                rounds[k].append(m.median)
                batches[k] += m.samples.tolist()
        for k in kernels:
            verdict = None
            if build:
                base = store.baseline(k)
                verdict = detect_regression({"round_median_s": rounds[k]}, base, 0.10).to_dict()
            store.save(k, {"median_s": float(np.median(batches[k])), "p99_s": float(np.percentile(batches[k], 99)),
                           "throughput_samples_per_s": 1 / float(np.median(batches[k])),
                           **interval_metrics(rounds[k], 1)},
                       {"round_median_s": rounds[k], "batch_s": batches[k]}, verdict=verdict, commit=f"build{build}")
            if not build:
                store.set_baseline(store.history(k)[-1].id)
board = Dashboard.from_store(tmp / "runs.sqlite")
print(board)
path = board.save(tmp)
print(path, f"{path.stat().st_size / 1e6:.1f} MB")
with ResultStore(tmp / "runs.sqlite") as store:
    stored_flags = {r.id for k in kernels for r in store.history(k)
                    if r.verdict and "round_median_s" in [row["metric"] for row in r.verdict["rows"]
                                                          if row["verdict"] == "regressed"]}
assert set(board.flagged("median_s")) == stored_flags
assert '<script src="http' not in path.read_text() and len(board.runs) == 10
shutil.rmtree(tmp)
