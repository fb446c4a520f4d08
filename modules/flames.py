# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Flames: one model, three profilers, one folder
#
# A support notebook (`tinybench.flames`), used by `tinybench profile`. Module 03 teaches each
# profiler on its own; this puts them side by side for one model and one batch, writes the files
# each one is read with, and an `index.html` that links them, with the per-layer self times
# (`profile_layers`), the settings and the environment. Every profiler runs its own passes after
# the same warm-up, so one profiler's overhead never lands in another's numbers.

# %% [markdown]
# The three profilers and their files:
#
# - **torch** (`torch.profiler`, through `profile_ops`) writes a Chrome trace for
#   <https://ui.perfetto.dev>, the same trace where TensorBoard's profiler plugin reads it
#   (`tensorboard/<run>/*.pt.trace.json`), and the operator table in Markdown.
# - **pyinstrument** (a sampling profiler, through `sample_python`) writes its own interactive HTML
#   and a speedscope file.
# - **cprofile** (the standard library's deterministic profiler) writes `profile.pstats` for
#   `pstats.Stats`, and a flame graph drawn from it here, as one HTML file with no script and no
#   network.

# %%
#| default_exp flames

# %%
#| export
from __future__ import annotations

import cProfile
import html
import json
import marshal
import math
import time
import pstats
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from tinybench.display import Table, format_seconds
from tinybench.env import environment
from tinybench.files import atomic_write_bytes, atomic_write_text
from tinybench.instrument import forward_error, sample_python
from tinybench.profiles import LayerProfile, OpProfile
from tinybench.profiling import profile_layers, profile_ops
from tinybench.checks import check_number
from tinybench.timing import BenchmarkError, resolve_device

PROFILERS = ("torch", "pyinstrument", "cprofile")

# %% [markdown]
# ## Which profilers
#
# `--profiler torch,cprofile` or a list: any subset of the three, in the order given; a name that
# is not one of them is an error that lists the choices.

# %%
#| export
def check_profilers(profilers: str | Iterable[str]) -> list[str]:
    "The profiler names in `profilers` (comma-separated text or a list), checked against PROFILERS, duplicates dropped."
    names = [p.strip().lower() for p in (profilers.split(",") if isinstance(profilers, str) else profilers)]
    names = list(dict.fromkeys(n for n in names if n))
    if not names:
        raise ValueError(f"no profiler given: choose one or more of {', '.join(PROFILERS)}")
    unknown = [n for n in names if n not in PROFILERS]
    if unknown:
        raise ValueError(f"unknown profiler {', '.join(map(repr, unknown))}: choose from {', '.join(PROFILERS)} "
                         "(comma-separated, e.g. --profiler torch,cprofile)")
    return names

# %%
import pytest

assert check_profilers("torch, cprofile,torch") == ["torch", "cprofile"]
with pytest.raises(ValueError, match="unknown profiler 'perf'.*torch, pyinstrument, cprofile"):
    check_profilers(["perf"])

# %% [markdown]
# ## A flame graph from cProfile's statistics
#
# cProfile keeps, for every function, its calls, self time and cumulative time, and for every
# caller → callee edge the time spent in the callee when called from that caller. That is not a
# full call tree (it does not know *which path* led to the caller), so the tree below is the usual
# reconstruction (gprof2dot, flameprof): start at the functions nobody called, and give each
# callee the caller's time in proportion to the edge's share of the caller's cumulative time.
# A function may appear again lower down (every `nn.Module` call goes through the same
# `_call_impl`), so revisits are allowed, but never more time below a box than in it (the children
# are scaled down if cProfile's recursive edges add up to more), a function calling itself directly
# is not expanded again, and boxes under `min_fraction` of the total are dropped. Times are seconds
# over the whole profiled run.

# %%
#| export
def pstats_tree(stats: pstats.Stats, min_fraction: float = 0.002, max_depth: int = 60) -> dict[str, Any]:
    """A call tree `{"name", "file", "line", "seconds", "children"}` rebuilt from `stats` (cumulative seconds, the
    edges' shares); the root is synthetic ("all") and holds the functions that no profiled function called."""
    raw = stats.stats  # {(file, line, name): (primitive calls, calls, self s, cumulative s, {caller: edge})}
    callees: dict[tuple, dict[tuple, float]] = {}
    for func, (_, _, _, _, callers) in raw.items():
        for caller, edge in callers.items():
            callees.setdefault(caller, {})[func] = edge[3]  # edge: (primitive calls, calls, self s, cumulative s)
    roots = [f for f, v in raw.items() if not v[4] and "_lsprof.Profiler" not in f[2]]
    total = sum(raw[f][3] for f in roots)
    floor = total * min_fraction

    def node(func: tuple, seconds: float, depth: int) -> dict[str, Any]:
        file, line, name = func
        out = {"name": name, "file": file, "line": line, "seconds": seconds, "children": []}
        cumulative = raw[func][3]
        if depth >= max_depth or cumulative <= 0:
            return out
        edges = {c: t for c, t in callees.get(func, {}).items() if c != func and t > 0}
        scale = seconds / max(cumulative, sum(edges.values()))  # the children never hold more than the parent
        for child, edge_seconds in sorted(edges.items(), key=lambda kv: -kv[1]):
            if edge_seconds * scale >= floor:
                out["children"].append(node(child, edge_seconds * scale, depth + 1))
        return out

    children = [node(f, raw[f][3], 1) for f in sorted(roots, key=lambda f: -raw[f][3])]
    return {"name": "all", "file": "", "line": 0, "seconds": total, "children": [c for c in children if c["seconds"] >= floor]}

# %% [markdown]
# A check on a program whose shape is known: `a` calls `b` twice and `c` once, and both call
# `work`. The tree must have `a` over `b` and `c`, each with all the time cProfile measured in it
# (each has one caller), and under `b` the `work` time of the `b` → `work` edge only.

# %%
def work(n):
    return sum(i * i for i in range(n))


def b():
    return work(60_000)


def c():
    return work(30_000)


def a():
    return b() + b() + c()


_prof = cProfile.Profile()
_prof.runcall(a)
_st = pstats.Stats(_prof)
tree = pstats_tree(_st)
(top,) = [ch for ch in tree["children"] if ch["name"] == "a"]
kids = {ch["name"]: ch for ch in top["children"]}
cumulative = {f[2]: v[3] for f, v in _st.stats.items()}
b_to_work = next(e[3] for f, v in _st.stats.items() if f[2] == "work" for caller, e in v[4].items() if caller[2] == "b")
assert set(kids) == {"b", "c"} and math.isclose(kids["b"]["seconds"], cumulative["b"])
assert math.isclose(kids["b"]["children"][0]["seconds"], b_to_work)
{name: format_seconds(k["seconds"]) for name, k in kids.items()}

# %% [markdown]
# The drawing is an icicle (root on top, callees below it): one absolutely positioned box per
# node, its width the node's share of the root. Every name is escaped; the file has no script, so
# it opens anywhere, offline. Hovering a box shows its function, file, time and share.

# %%
#| export
def flame_html(tree: Mapping[str, Any], title: str = "cProfile flame graph", row_px: int = 18) -> str:
    "A self-contained HTML icicle flame graph of `tree` (from `pstats_tree`): no script, no external resource."
    total = tree["seconds"] or 1.0
    boxes: list[str] = []
    depth_max = 0

    def place(n: Mapping[str, Any], left: float, depth: int) -> None:
        nonlocal depth_max
        depth_max = max(depth_max, depth)
        width = n["seconds"] / total * 100
        where = f"{n['file']}:{n['line']}" if n["file"] and n["line"] else (n["file"] or "")
        tip = f"{n['name']} ({where}): {format_seconds(n['seconds'])}, {n['seconds'] / total:.1%}"
        hue = 10 + (sum(map(ord, n["name"])) % 40)
        label = n["name"] + (f" · {Path(n['file']).name}" if n["line"] else "")  # forward · conv.py
        boxes.append(f'<div class="f" style="left:{left:.4f}%;width:{width:.4f}%;top:{depth * row_px}px;'
                     f'background:hsl({hue},85%,{62 + depth % 3 * 5}%)" title="{html.escape(tip)}">'
                     f"{html.escape(label)}</div>")
        x = left
        for ch in n["children"]:
            place(ch, x, depth + 1)
            x += ch["seconds"] / total * 100

    place(tree, 0.0, 0)
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>" + html.escape(title) + "</title><style>"
            "body{font-family:sans-serif;margin:1em}#g{position:relative;width:100%;"
            f"height:{(depth_max + 1) * row_px + 4}px}}.f{{position:absolute;height:{row_px - 2}px;overflow:hidden;"
            "white-space:nowrap;font:11px monospace;line-height:16px;padding-left:2px;box-sizing:border-box;"
            "border:1px solid #fff;cursor:default}.f:hover{filter:brightness(0.85)}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{format_seconds(tree['seconds'])} profiled in all (cProfile: "
            "deterministic, every call counted). cProfile keeps caller → callee pairs, not whole stacks, so a "
            "function reached along many paths (every nn.Module call goes through _call_impl) has its callees spread "
            "over all of them in proportion; the pyinstrument flame graph has the true stacks. Hover a box for its "
            "function, file and time.</p>"
            f"<div id='g'>{''.join(boxes)}</div></body></html>")

# %%
page = flame_html(tree, "a <test>")
assert "a &lt;test&gt;" in page and "<script" not in page and 'title="b (' in page and ">b · " in page
def count(n):
    return 1 + sum(count(ch) for ch in n["children"])


assert page.count('class="f"') == count(tree), "one box per node of the tree"

# %% [markdown]
# ## The result: where everything was written
#
# `ProfileArtifacts` records the settings, the paths (relative to `save_dir`, as `index.html`
# links them), and the two tables read back from the profilers: the per-layer `LayerProfile` and
# the per-operator `OpProfile`.

# %%
#| export
ARTIFACTS = {  # key: (relative path, what it is, how to open it)
    "torch_trace": ("torch/trace.json", "torch.profiler Chrome trace", "open in https://ui.perfetto.dev or chrome://tracing"),
    "tensorboard": ("torch/tensorboard", "the same trace for TensorBoard's profiler plugin",
                    "tensorboard --logdir torch/tensorboard (needs the torch-tb-profiler plugin)"),
    "torch_ops": ("torch/ops.md", "operators by self CPU time (Markdown)", "any text viewer"),
    "pyinstrument_html": ("pyinstrument/profile.html", "pyinstrument's interactive flame graph", "a browser"),
    "speedscope": ("pyinstrument/profile.speedscope.json", "pyinstrument's samples in speedscope's format",
                   "open in https://www.speedscope.app"),
    "pstats": ("cprofile/profile.pstats", "cProfile statistics", "python -m pstats cprofile/profile.pstats"),
    "cprofile_flame": ("cprofile/flamegraph.html", "flame graph drawn from the cProfile statistics", "a browser"),
    "json": ("profile.json", "the settings, the paths and both tables as JSON", "any JSON reader"),
}


@dataclass(repr=False)
class ProfileArtifacts:
    "What `profile_model` wrote into `save_dir` (paths relative to it) and the tables it read back."
    save_dir: str
    model: str
    device: str
    input_shape: list[int]
    repeat: int
    warmup: int
    profilers: list[str]
    files: dict[str, str] = field(default_factory=dict)
    layers: LayerProfile | None = None
    layers_error: str | None = None
    ops: OpProfile | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)

    def path(self, key: str) -> Path:
        "Absolute path of the artefact `key` (a key of `files`, or 'index')."
        return Path(self.save_dir) / self.files[key]

    def to_dict(self) -> dict[str, Any]:
        return {"save_dir": self.save_dir, "model": self.model, "device": self.device, "input_shape": self.input_shape,
                "repeat": self.repeat, "warmup": self.warmup, "profilers": self.profilers, "files": self.files,
                "layers": self.layers.to_dict() if self.layers is not None else None, "layers_error": self.layers_error,
                "ops": self.ops.to_dict() if self.ops is not None else None, "settings": self.settings,
                "environment": self.environment}

    def __repr__(self) -> str:
        return (f"ProfileArtifacts({self.model!r} on {self.device}, input {self.input_shape}, {self.repeat} passes, "
                f"{', '.join(self.profilers)}: {len(self.files)} files in {self.save_dir})")

    def _repr_html_(self) -> str:
        rows = "".join(f"<li><code>{html.escape(k)}</code>: <code>{html.escape(v)}</code></li>"
                       for k, v in self.files.items())
        return f"<div><b>{html.escape(repr(self))}</b><ul>{rows}</ul></div>"

# %% [markdown]
# ## The operator table in Markdown
#
# One row per operator, per pass (the mean over the faster half of the profiled passes): calls, self CPU
# time, CPU total and, on CUDA, the device times; sorted by self CPU time, or by self device time
# on a GPU, where that is the time that matters.

# %%
#| export
def ops_markdown(ops: OpProfile, k: int = 30) -> str:
    "The `k` busiest operators of `ops` as a Markdown table (times per pass)."
    cuda = ops.device.startswith("cuda")
    header = ["operator", "calls", "self CPU", "CPU total"] + (["self CUDA", "CUDA total"] if cuda else [])
    rows = [[r["name"], f"{r['calls']:g}", format_seconds(r["self_cpu"]), format_seconds(r["cpu_total"])]
            + ([format_seconds(r["self_device"]), format_seconds(r["device_total"])] if cuda else [])
            for r in ops.top(k, by="self_device" if cuda else "self_cpu")]
    return (f"# Operators ({ops.device}, per pass: the faster half of {ops.repeat} profiled passes, by self "
            f"{'CUDA' if cuda else 'CPU'} time)\n\n" + Table(header, rows).markdown() + "\n")

# %%
_ops = OpProfile([{"name": "aten::addmm", "calls": 2.0, "self_cpu": 3e-5, "cpu_total": 4e-5, "self_device": 0.0,
                   "device_total": 0.0, "shapes": None},
                  {"name": "a|b", "calls": 1.0, "self_cpu": 1e-6, "cpu_total": 5e-6, "self_device": 0.0,
                   "device_total": 0.0, "shapes": None}], repeat=3, device="cpu", trace_path=None)
md = ops_markdown(_ops)
assert md.index("aten::addmm") < md.index("a\\|b") and "CUDA" not in md
print(md)

# %% [markdown]
# ## The index page
#
# Relative links to every file, the per-pass time by each method side by side, the per-layer
# table, the operators that cost most, the settings and the environment, all as plain text (no
# Python reprs; a missing value is "–"). Every string that comes from the user or the model (the
# model's name, layer names, operator names) is escaped.
#
# The methods measure different things, so the page puts them next to each other: the hooks time
# a whole pass, the profiler adds up its operators' self CPU time (both over the faster half of
# their passes, so a pass the OS stalled is left out), and its own `ProfilerStep` marks give the
# wall time of each profiled pass (median, profiler overhead included). The operators leave out
# the Python between them, the hooked pass includes the hooks' cost; otherwise they agree, once
# the profiler's start-up costs are left out (`profile_ops` warms up under the profiler).
# On a busy machine, or with more intra-op threads than free cores, a pass can stall for tens of
# milliseconds (a thread waits for one the OS paused); if more than half of a method's passes
# stall, its faster half holds one, and the methods differ by far more than the profiler's
# overhead. Then the page says so (`disagreement`, beyond a factor of 3) and how to rerun.

# %%
#| export
def _text(value: Any) -> str:
    "A settings or environment value as plain text: '–' for None, lists joined, numbers as written."
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value) if value else "–"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items()) or "–"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def step_seconds(trace_path: str | Path) -> list[float]:
    "Wall seconds of each profiled pass: the `ProfilerStep#N` spans of a torch.profiler Chrome trace (µs there)."
    events = json.loads(Path(trace_path).read_text()).get("traceEvents", [])
    return [e["dur"] / 1e6 for e in events if str(e.get("name", "")).startswith("ProfilerStep#") and "dur" in e]


def pass_times(art: ProfileArtifacts) -> list[list[str]]:
    "Rows (method, seconds per pass as text, what it is) of the per-pass time by each method that ran."
    rows = []
    if art.layers is not None:
        lp = art.layers
        bare = lp.bare_totals[lp.bare_totals <= float(np.median(lp.bare_totals))].mean()
        rows += [["forward hooks: hooked pass", format_seconds(lp.total), "mean of the faster half of the passes"],
                 ["no hooks: bare pass", format_seconds(float(bare)), "mean of the faster half of the passes"]]
    if art.ops is not None:
        rows.append(["torch.profiler: operators' self CPU", format_seconds(sum(r["self_cpu"] for r in art.ops.rows)),
                     f"sum over the operators, mean of the faster half of the {art.ops.repeat} profiled passes"])
        if art.ops.device.startswith("cuda"):
            rows.append(["torch.profiler: operators' self CUDA",
                         format_seconds(sum(r["self_device"] for r in art.ops.rows)), "sum over the operators"])
        steps = step_seconds(art.path("torch_trace")) if "torch_trace" in art.files else []
        if steps:
            rows.append(["torch.profiler: profiled pass (wall)", format_seconds(float(np.median(steps))),
                         f"median of the {len(steps)} ProfilerStep spans, profiler overhead included"])
    return rows


def disagreement(art: ProfileArtifacts, factor: float = 3.0) -> str | None:
    """A sentence if the operators' self CPU per pass and the bare pass differ by more than `factor` (either way):
    then stalled passes made it into one summary (a busy machine, more intra-op threads than free cores)."""
    if art.layers is None or art.ops is None or art.ops.device.startswith("cuda"):
        return None
    bare = art.layers.bare_totals
    bare_s = float(bare[bare <= np.median(bare)].mean())
    ops_s = sum(r["self_cpu"] for r in art.ops.rows)
    if bare_s <= 0 or ops_s <= 0 or 1 / factor <= ops_s / bare_s <= factor:
        return None
    threads, cores = art.environment.get("torch_threads"), art.environment.get("cpu_count")
    return (f"The methods disagree by ×{max(ops_s / bare_s, bare_s / ops_s):.0f}: passes stalled, and with {art.repeat} "
            f"passes the faster half can still hold a stalled one. Stalls come from a busy machine, or from torch's "
            f"{threads or '?'} intra-op threads on {cores or '?'} cores (a thread waits for one the OS paused): rerun "
            "with a larger --repeat, on an idle machine, or with OMP_NUM_THREADS=1.")


def index_html(art: ProfileArtifacts) -> str:
    "The `index.html` of a profile folder: links, per-pass times, the per-layer and operator tables, settings, environment."
    e = html.escape
    links = []
    for key, rel in art.files.items():
        if key == "index":
            continue
        _, what, how = ARTIFACTS.get(key, (rel, key, ""))
        links.append(f"<li><a href='{e(rel)}'>{e(rel)}</a>: {e(what)} <small>({e(how)})</small></li>")
    summary = (f"{art.model} on {art.device}, input {' × '.join(map(str, art.input_shape)) or '–'}: {art.warmup} "
               f"warm-up and {art.repeat} profiled passes per profiler ({', '.join(art.profilers)}).")
    times = pass_times(art)
    warn = disagreement(art)
    passes = (Table(["method", "time per pass", "how"], times).html() if times else "") + (
        f"<p><b>{e(warn)}</b></p>" if warn else "")
    if art.layers is not None:
        lp = art.layers
        rows = [[n, k, format_seconds(t), f"{s:.1%}"] for n, k, t, s in zip(lp.names, lp.kinds, lp.per_layer, lp.share())]
        rows.append(["(unattributed)", "", format_seconds(lp.unattributed), f"{lp.unattributed_fraction:.1%}"])
        check = ("the layers add up to the pass" if lp.within_tolerance else
                 f"the layers do not add up to the pass within ±{lp.tolerance:.0%}")
        layers = (f"<p>{len(lp.names)} layers on {e(lp.device)}, timed by {e(lp.timer)}: a pass takes "
                  f"{e(format_seconds(lp.total))}; {e(check)} ({lp.unattributed_fraction:.1%} unattributed).</p>"
                  + Table(["layer", "type", "self time per pass", "share"], rows).html()
                  + f"<p>Forward hooks cost {e(format_seconds(lp.hook_overhead))} per pass (measured, not subtracted).</p>")
    else:
        layers = f"<p>No per-layer table: {e(art.layers_error or 'not measured')}</p>"
    ops = ""
    if art.ops is not None:
        by = "self_device" if art.ops.device.startswith("cuda") else "self_cpu"
        cuda = by == "self_device"
        ops = ("<h2>Operators (torch.profiler, per pass)</h2>" + Table(
            ["operator", "calls", "self CPU", "CPU total"] + (["self CUDA"] if cuda else []),
            [[r["name"], f"{r['calls']:g}", format_seconds(r["self_cpu"]), format_seconds(r["cpu_total"])]
             + ([format_seconds(r["self_device"])] if cuda else []) for r in art.ops.top(12, by=by)]).html())
    settings = Table(["setting", "value"], [[k, _text(v)] for k, v in art.settings.items()]).html()
    env = Table(["item", "value"], [[k, _text(v)] for k, v in art.environment.items()]).html()
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>tinybench profile: " + e(art.model) +
            "</title><style>body{font-family:sans-serif;margin:1.5em;max-width:70em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}</style></head><body>"
            f"<h1>tinybench profile: {e(art.model)}</h1><p>{e(summary)}</p>"
            f"<h2>Files</h2><ul>{''.join(links)}</ul>"
            + (f"<h2>Time per pass, by method</h2>{passes}" if passes else "")
            + f"<h2>Per-layer self time (forward hooks)</h2>{layers}{ops}"
            f"<h2>Settings</h2>{settings}<h2>Environment</h2>{env}</body></html>")

# %%
assert _text(None) == "–" and _text([1, 28, 28]) == "1, 28, 28" and _text(0.001) == "0.001" and _text(True) == "yes"

# %% [markdown]
# ## One folder per run, and a quiet profiler
#
# `tinybench profile` writes each run into a new `<save-dir>/<timestamp>/` folder, as
# `tinybench run` does, so a second run with other profilers never sits next to the first one's
# files. The timestamp is UTC, to the second; a second run in the same second gets `-1`, `-2`, ...
#
# Kineto (the library under `torch.profiler`) prints `USDT: ... profiler_start` / `profiler_stop`
# lines on stderr every time a profiler starts. Its `KINETO_LOG_LEVEL` is read once, when the
# first profiler of the process starts; USDT is its highest level, so the only value that hides it
# is 6 (above every level, kineto's errors included). `quiet_kineto` sets it for the length of a
# `with` block unless the user set it (`KINETO_LOG_LEVEL=0 tinybench profile ...` shows everything).

# %%
#| export
def new_profile_folder(parent: str | Path) -> Path:
    "A new, empty `parent/<UTC timestamp>/` folder (suffix -1, -2, ... if it exists already), created."
    from datetime import datetime, timezone
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder, k = Path(parent) / stamp, 1
    while True:
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            folder, k = Path(parent) / f"{stamp}-{k}", k + 1


class quiet_kineto:
    "Context manager: KINETO_LOG_LEVEL=6 (no kineto lines on stderr) inside the block, unless already set."

    def __enter__(self) -> "quiet_kineto":
        import os
        self.was_set = "KINETO_LOG_LEVEL" in os.environ
        os.environ.setdefault("KINETO_LOG_LEVEL", "6")
        return self

    def __exit__(self, *exc: Any) -> None:
        import os
        if not self.was_set:
            os.environ.pop("KINETO_LOG_LEVEL", None)

# %%
import os
import tempfile

with tempfile.TemporaryDirectory() as tmp:
    a, b = new_profile_folder(tmp), new_profile_folder(tmp)
    assert a != b and a.is_dir() and b.is_dir() and b.name.startswith(a.name[:15])
_before = os.environ.get("KINETO_LOG_LEVEL")
with quiet_kineto():
    assert os.environ["KINETO_LOG_LEVEL"] == (_before or "6")
assert os.environ.get("KINETO_LOG_LEVEL") == _before

# %% [markdown]
# ## `profile_model`: every profiler, one folder
#
# The batch is moved to the device, the model is called once (an error there names the model),
# then each profiler does `warmup` unprofiled passes and `repeat` profiled ones. The pyinstrument
# sampling `interval` defaults to a twentieth of the fastest warm-up pass (between 10 µs and 1 ms),
# so even a model that takes well under a millisecond gets samples in every pass; if the passes
# then run faster than that and yield fewer than 10 samples each, they are sampled again at 10 µs.
# The interval and the number of samples are in `settings`.

# %%
#| export
def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "model"


def profile_model(model: Any, batch: Any, save_dir: str | Path, profilers: str | Iterable[str] = PROFILERS,
                  device: str = "cpu", repeat: int = 3, warmup: int = 2, name: str = "model",
                  interval: float | None = None, settings: Mapping[str, Any] | None = None) -> ProfileArtifacts:
    """Profile `model(batch)` with each of `profilers` (torch, pyinstrument, cprofile) for `repeat` passes after
    `warmup`, write their files and an index.html into `save_dir`, and return what was written."""
    import torch
    chosen = check_profilers(profilers)
    repeat = check_number(repeat, "repeat", integer=True, lo=1, hint="profiled forward passes")
    warmup = check_number(warmup, "warmup", integer=True, nonnegative=True, hint="unprofiled passes first")
    dev = resolve_device(device, ())
    folder = Path(save_dir)
    try:  # before measuring: a folder that cannot be written fails in a second, not after the profiles
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / ".tinybench-write-test", "").unlink()
    except OSError as e:
        raise ValueError(f"cannot write to {folder}: {e.strerror or e}") from e
    if isinstance(model, torch.nn.Module):
        model = model.to(dev)
        try:
            model = model.eval()
        except NotImplementedError:  # a torch.export program: its mode was fixed when it was exported
            pass
    batch = tuple(b.to(dev) if isinstance(b, torch.Tensor) else b for b in (batch if isinstance(batch, tuple) else (batch,)))
    cuda = dev.startswith("cuda")

    def one_pass() -> Any:
        with torch.inference_mode():
            out = model(*batch)
        if cuda:
            torch.cuda.synchronize()
        return out

    t0 = time.perf_counter()
    try:
        one_pass()
    except Exception as e:
        raise forward_error(model, batch, e, f"model {name!r} failed on the profiling batch") from e
    first = time.perf_counter() - t0
    art = ProfileArtifacts(str(folder), name, dev, list(getattr(batch[0], "shape", [])), repeat, warmup, chosen,
                           settings={**(settings or {}), "model": name, "device": dev, "repeat": repeat,
                                     "input_shape": list(getattr(batch[0], "shape", [])), "warmup": warmup,
                                     "profilers": chosen},  # what was run wins over what the caller passed
                           environment=environment())
    args = batch if len(batch) > 1 else batch[0]
    if isinstance(model, torch.jit.ScriptModule):
        art.layers_error = "a TorchScript module runs no Python forward hooks, so it has no per-layer times"
    elif isinstance(model, torch.nn.Module):
        try:
            art.layers = profile_layers(model, args, device=dev, repeat=repeat, warmup=warmup)
        except (ValueError, BenchmarkError) as e:  # a module without submodules, say
            art.layers_error = str(e)
        if art.layers is not None and all(n.startswith("_") for n in art.layers.names):  # none, or export's guards
            art.layers, art.layers_error = None, ("no layer ran as a submodule (a torch.export program runs its layers "
                                                  "inline, as one graph): the operator and Python profiles still see them")
    else:
        art.layers_error = f"{type(model).__name__} is not an nn.Module"
    for _ in range(warmup):  # the fastest warm pass sets pyinstrument's interval (the first one pays one-off costs)
        t0 = time.perf_counter()
        one_pass()
        first = min(first, time.perf_counter() - t0)
    if "torch" in chosen:
        (folder / "torch").mkdir(exist_ok=True)
        tb_run = folder / "torch" / "tensorboard" / _safe_name(name)
        old = set(tb_run.glob("*.pt.trace.json"))
        art.ops = profile_ops(lambda: model(*batch), device=dev, repeat=repeat, warmup=max(1, warmup),
                              trace_path=folder / "torch" / "trace.json", tensorboard_dir=tb_run)
        (written,) = set(tb_run.glob("*.pt.trace.json")) - old
        atomic_write_text(folder / "torch" / "ops.md", ops_markdown(art.ops))
        art.files.update({"torch_trace": "torch/trace.json", "tensorboard": written.relative_to(folder).as_posix(),
                          "torch_ops": "torch/ops.md"})
    if "pyinstrument" in chosen:
        from pyinstrument.renderers import SpeedscopeRenderer
        step = interval if interval is not None else min(1e-3, max(1e-5, first / 20))
        sampled = sample_python(one_pass, (), {}, repeat, step)
        if interval is None and step > 1e-5 and sampled.last_session.sample_count < 10 * repeat:
            step = 1e-5  # the passes ran faster than the estimate: sample them again, as finely as pyinstrument goes
            sampled = sample_python(one_pass, (), {}, repeat, step)
        art.settings["pyinstrument_interval_s"] = step
        art.settings["pyinstrument_samples"] = sampled.last_session.sample_count
        (folder / "pyinstrument").mkdir(exist_ok=True)
        # offline: the page's script loads web fonts from Google; an empty inline stylesheet instead (system fonts)
        page = re.sub(r"https://fonts\.googleapis\.com/css[^\"']*", "data:text/css,", sampled.output_html())
        atomic_write_text(folder / "pyinstrument" / "profile.html", page)
        atomic_write_text(folder / "pyinstrument" / "profile.speedscope.json", sampled.output(SpeedscopeRenderer()))
        art.files.update({"pyinstrument_html": "pyinstrument/profile.html",
                          "speedscope": "pyinstrument/profile.speedscope.json"})
    if "cprofile" in chosen:
        prof = cProfile.Profile()

        def profiled_passes() -> None:
            for _ in range(repeat):
                one_pass()

        prof.runcall(profiled_passes)
        stats = pstats.Stats(prof)
        (folder / "cprofile").mkdir(exist_ok=True)
        atomic_write_bytes(folder / "cprofile" / "profile.pstats", marshal.dumps(stats.stats))
        atomic_write_text(folder / "cprofile" / "flamegraph.html",
                          flame_html(pstats_tree(stats), f"cProfile flame graph: {name}, {repeat} passes"))
        art.files.update({"pstats": "cprofile/profile.pstats", "cprofile_flame": "cprofile/flamegraph.html"})
    art.files.update({"json": "profile.json", "index": "index.html"})
    atomic_write_text(folder / "profile.json", json.dumps(art.to_dict(), indent=1, default=str))
    atomic_write_text(folder / "index.html", index_html(art))
    return art

# %% [markdown]
# The digits CNN at batch 32, all three profilers, into a temporary folder:

# %%
import tempfile

import torch

from tinybench.workloads import load_digits, load_model

torch.manual_seed(0)
digits = load_digits()
cnn = load_model(data=digits).model
with tempfile.TemporaryDirectory() as tmp:
    art = profile_model(cnn, digits.X_test[:32], tmp, repeat=3, name="digits-cnn")
    assert all(art.path(k).exists() for k in art.files)
    assert pstats.Stats(str(art.path("pstats"))).total_calls > 0
    doc = json.loads(art.path("speedscope").read_text())
    assert any(f["name"] == "forward" for f in doc["shared"]["frames"])
    print(art.ops.table(5))
art
