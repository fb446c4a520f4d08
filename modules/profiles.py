# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Profile results: what the profiling functions return
#
# A support notebook (`tinybench.profiles`), taught in module 03: the result types of
# `tinybench.profiling`. Each is a dataclass that keeps the raw measurements, derives its summary
# figures from them (properties, so the figures can always be recomputed from the data), and
# renders itself: `to_dict()`, a short `repr`, `_repr_html_` for notebooks, and a plot where one
# helps. Measuring lives in `tinybench.profiling`; nothing here reads a clock or runs a model, so
# each type is checked below on made-up numbers whose figures are known.

# %%
#| default_exp profiles

# %%
#| export
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from tinybench.display import figure_img, format_bytes, format_seconds
from tinybench.env import environment
from tinybench.checks import check_quantile

# %% [markdown]
# `ModelStats` (module 03, section 1): a model's size. MACs are half the FLOPs, by the convention
# that one multiply-add counts as 2 FLOPs.

# %%
#| export
@dataclass(repr=False)
class ModelStats:
    "Size of a model: parameters, bytes (parameters, buffers, serialized state dict) and FLOPs of one forward."
    n_params: int
    n_trainable: int
    param_bytes: int
    buffer_bytes: int
    serialized_bytes: int
    flops: int
    flops_by_module: dict[str, int]
    input_shapes: list

    @property
    def macs(self) -> float:
        "Multiply-accumulates (FLOPs / 2)."
        return self.flops / 2

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("n_params", "n_trainable", "param_bytes", "buffer_bytes",
                                              "serialized_bytes", "flops", "flops_by_module", "input_shapes")}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelStats":
        "The statistics of `to_dict()`."
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})

    def __repr__(self) -> str:
        return (f"ModelStats({self.n_params:,} params ({format_bytes(self.param_bytes)}), serialized "
                f"{format_bytes(self.serialized_bytes)}, {self.flops / 1e6:,.2f} MFLOP per forward on {self.input_shapes})")

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{k}</td><td>{v / 1e6:,.3f}</td></tr>" for k, v in self.flops_by_module.items())
        return f"<div><b>{self!r}</b><table><tr><th>module</th><th>MFLOP</th></tr>{rows}</table></div>"

# %%
ms = ModelStats(n_params=10, n_trainable=8, param_bytes=40, buffer_bytes=0, serialized_bytes=1_000, flops=600,
                flops_by_module={"Net": 600, "Net.fc": 600}, input_shapes=[[3, 4]])
assert ms.macs == 300 and ms.to_dict()["flops"] == 600 and "10 params" in repr(ms)
ms

# %% [markdown]
# `LayerProfile` (section 2): per-module self times over repeated passes. A stall (the OS
# running another process) inflates the pass it hits, so the summary keeps the faster half of the
# passes by whole-pass time, and every figure is a mean over those same passes: the layers plus
# the unattributed time then add up to the total exactly.

# %%
#| export
@dataclass(repr=False)
class LayerProfile:
    """Per-module forward *self* times (seconds per pass: the module's forward minus its submodules') over
    repeated passes, checked against the whole pass; what no module accounts for is `unattributed`."""
    names: list[str]
    kinds: list[str]
    layer_times: np.ndarray
    totals: np.ndarray
    bare_totals: np.ndarray
    device: str
    timer: str
    tolerance: float

    @property
    def kept(self) -> np.ndarray:
        """Mask of the passes the summary uses: the faster half by whole-pass time (at least one). A stall (the OS
        running another process) inflates the pass it hits; the figures are means over the same passes, so the
        parts add up to the whole exactly (per-column medians do not once most passes are hit)."""
        return self.totals <= np.median(self.totals)

    @property
    def per_layer(self) -> np.ndarray:
        "Self seconds per pass of each module (mean over the kept passes)."
        return self.layer_times[self.kept].mean(axis=0)

    @property
    def total(self) -> float:
        "Seconds of a whole hooked pass (mean over the kept passes)."
        return float(self.totals[self.kept].mean())

    @property
    def unattributed(self) -> float:
        "Whole pass minus the sum of its layers, seconds (mean over the kept passes)."
        return float((self.totals - self.layer_times.sum(axis=1))[self.kept].mean())

    @property
    def unattributed_fraction(self) -> float:
        return self.unattributed / self.total if self.total > 0 else math.nan

    @property
    def within_tolerance(self) -> bool:
        "Do the layers add up to the whole within `tolerance` (a fraction of the total)?"
        return abs(self.unattributed_fraction) <= self.tolerance

    @property
    def hook_overhead(self) -> float:
        "Hooked pass minus bare pass (each the mean of its faster half), seconds: what the measurement itself costs."
        bare = self.bare_totals
        return self.total - float(bare[bare <= np.median(bare)].mean())

    def share(self) -> np.ndarray:
        return self.per_layer / self.total

    def top(self, k: int = 5) -> list[tuple[str, float, float]]:
        "The k slowest layers: (name, seconds per pass, share of the pass)."
        order = np.argsort(self.per_layer)[::-1][:k]
        return [(self.names[i], float(self.per_layer[i]), float(self.share()[i])) for i in order]

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "timer": self.timer, "total": self.total, "unattributed": self.unattributed,
                "hook_overhead": self.hook_overhead, "tolerance": self.tolerance,
                "within_tolerance": self.within_tolerance, "repeats": int(self.totals.size),
                "layers": [{"name": n, "kind": k, "seconds": float(t), "share": float(s)}
                           for n, k, t, s in zip(self.names, self.kinds, self.per_layer, self.share())]}

    def __repr__(self) -> str:
        top = ", ".join(f"{n} {s:.0%}" for n, _, s in self.top(3))
        flag = "" if self.within_tolerance else f" (outside ±{self.tolerance:.0%}!)"
        return (f"LayerProfile({len(self.names)} layers on {self.device} via {self.timer}: pass "
                f"{format_seconds(self.total)}, top {top}; unattributed {self.unattributed_fraction:.1%}{flag})")

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{n}</td><td>{k}</td><td>{format_seconds(t)}</td><td>{s:.1%}</td>"
            f"<td><div style='background:#4c78a8;height:0.8em;width:{max(0.0, s) * 200:.0f}px'></div></td></tr>"
            for n, k, t, s in zip(self.names, self.kinds, self.per_layer, self.share()))
        rows += (f"<tr><td><i>unattributed</i></td><td></td><td>{format_seconds(self.unattributed)}</td>"
                 f"<td>{self.unattributed_fraction:.1%}</td><td></td></tr>")
        return (f"<div><b>{self!r}</b><table><tr><th>layer</th><th>type</th><th>time/pass</th><th>share</th>"
                f"<th></th></tr>{rows}</table></div>")

# %%
lp = LayerProfile(names=["0", "1"], kinds=["Linear", "ReLU"],
                  layer_times=np.array([[3.0, 1.0], [3.2, 1.0], [9.0, 5.0], [3.0, 1.2]]) * 1e-3,
                  totals=np.array([4.5, 4.6, 15.0, 4.5]) * 1e-3, bare_totals=np.array([4.0, 4.1, 4.0, 9.0]) * 1e-3,
                  device="cpu", timer="perf_counter", tolerance=0.10)
assert lp.kept.tolist() == [True, False, False, True]  # at or below the median pass (4.55 ms)
assert np.allclose(lp.per_layer, [3.0e-3, 1.1e-3]) and np.isclose(lp.total, 4.5e-3)
assert np.isclose(lp.per_layer.sum() + lp.unattributed, lp.total) and lp.within_tolerance
assert np.isclose(lp.hook_overhead, 4.5e-3 - 4.0e-3) and lp.top(1)[0][0] == "0"
lp

# %% [markdown]
# `OpProfile` (section 3): one row per operator from `torch.profiler`, times per call of the
# profiled function.

# %%
#| export
@dataclass(repr=False)
class OpProfile:
    "Operator-level profile: per operator, calls and self/total CPU and device time per profiled call (seconds)."
    rows: list[dict[str, Any]]
    repeat: int
    device: str
    trace_path: str | None

    def top(self, k: int = 10, by: str = "self_cpu") -> list[dict[str, Any]]:
        return sorted(self.rows, key=lambda r: r[by], reverse=True)[:k]

    def table(self, k: int = 15) -> str:
        "Plain-text table of the k operators with the most self CPU time."
        cuda = self.device.startswith("cuda")
        lines = [f"{'operator':40s} {'calls':>6s} {'self CPU':>10s} {'CPU total':>10s}" + (" self device" if cuda else "")]
        for r in self.top(k):
            lines.append(f"{r['name'][:40]:40s} {r['calls']:6g} {format_seconds(r['self_cpu']):>10s} "
                         f"{format_seconds(r['cpu_total']):>10s}" + (f" {format_seconds(r['self_device']):>11s}" if cuda else ""))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"repeat": self.repeat, "device": self.device, "trace_path": self.trace_path, "rows": self.rows}

    def __repr__(self) -> str:
        top = ", ".join(f"{r['name']} {format_seconds(r['self_cpu'])}" for r in self.top(3))
        return f"OpProfile({len(self.rows)} operators on {self.device}, per call; top self CPU: {top})"

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{r['name']}</td><td>{r['calls']}</td><td>{format_seconds(r['self_cpu'])}</td>"
                       f"<td>{format_seconds(r['cpu_total'])}</td><td>{format_seconds(r['self_device'])}</td>"
                       f"<td>{r.get('shapes') or ''}</td></tr>" for r in self.top(15))
        return (f"<div><b>{self!r}</b><table><tr><th>operator</th><th>calls</th><th>self CPU</th><th>CPU total</th>"
                f"<th>self device</th><th>input shapes</th></tr>{rows}</table>"
                + (f"<p>Chrome trace: <code>{self.trace_path}</code></p>" if self.trace_path else "") + "</div>")

# %%
op = OpProfile([{"name": "aten::addmm", "calls": 2.0, "self_cpu": 3e-5, "cpu_total": 4e-5, "self_device": 0.0,
                 "device_total": 0.0, "shapes": None},
                {"name": "aten::relu", "calls": 1.0, "self_cpu": 1e-6, "cpu_total": 5e-6, "self_device": 0.0,
                 "device_total": 0.0, "shapes": None}], repeat=5, device="cpu", trace_path=None)
assert [r["name"] for r in op.top(2)] == ["aten::addmm", "aten::relu"] and "self device" not in op.table()
print(op.table())

# %% [markdown]
# `PythonProfile` (section 4): cProfile's rows, per call of the profiled function, and the
# path of the speedscope flame graph when one was written.

# %%
#| export
@dataclass(repr=False)
class PythonProfile:
    "cProfile of a call: per function, calls and self/cumulative seconds per call of `fn`; a speedscope file."
    rows: list[dict[str, Any]]
    total: float
    repeat: int
    speedscope_path: str | None

    def top(self, k: int = 10, by: str = "self") -> list[dict[str, Any]]:
        return sorted(self.rows, key=lambda r: r[by], reverse=True)[:k]

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "repeat": self.repeat, "speedscope_path": self.speedscope_path, "rows": self.rows}

    def __repr__(self) -> str:
        top = ", ".join(f"{r['function']} {r['self'] / self.total:.0%}" for r in self.top(3)) if self.total else ""
        return f"PythonProfile({format_seconds(self.total)} per call profiled; top self time: {top})"

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td><code>{r['function']}</code></td><td>{r['calls']:g}</td>"
                       f"<td>{format_seconds(r['self'])}</td><td>{format_seconds(r['cumulative'])}</td></tr>"
                       for r in self.top(15))
        return (f"<div><b>{self!r}</b><table><tr><th>function</th><th>calls</th><th>self</th><th>cumulative</th>"
                f"</tr>{rows}</table>" + (f"<p>flame graph (speedscope): <code>{self.speedscope_path}</code></p>"
                                          if self.speedscope_path else "") + "</div>")

# %%
pyp = PythonProfile([{"function": "f", "calls": 1.0, "self": 2e-3, "cumulative": 3e-3},
                     {"function": "g", "calls": 10.0, "self": 1e-3, "cumulative": 1e-3}], total=3e-3, repeat=10,
                    speedscope_path=None)
assert pyp.top(1)[0]["function"] == "f" and "f 67%" in repr(pyp)
pyp

# %% [markdown]
# `MemoryProfile` (section 5): what one call did to memory. The increase is the peak during the
# call minus the level before it; what stays after the call is `rss_after - rss_before`.

# %%
#| export
@dataclass(repr=False)
class MemoryProfile:
    "Memory of one call, bytes: process RSS (before, after, peak), Python allocations, CUDA allocator when used."
    rss_before: int
    rss_after: int
    rss_peak: int
    rss_peak_method: str
    python_peak: int | None
    python_retained: int | None
    cuda_before: int | None = None
    cuda_after: int | None = None
    cuda_peak: int | None = None
    cuda_reserved: int | None = None

    @property
    def rss_increase(self) -> int:
        "Peak RSS during the call minus RSS before it, bytes."
        return self.rss_peak - self.rss_before

    @property
    def cuda_increase(self) -> int | None:
        "Peak CUDA allocation during the call minus the allocation before it, bytes."
        return None if self.cuda_peak is None else self.cuda_peak - self.cuda_before

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return {**d, "rss_increase": self.rss_increase, "cuda_increase": self.cuda_increase}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "MemoryProfile":
        "The profile of `to_dict()` (derived keys are recomputed, not read)."
        return cls(**{k: d.get(k) for k in cls.__dataclass_fields__})

    def __repr__(self) -> str:
        s = (f"MemoryProfile(RSS peak +{format_bytes(self.rss_increase)} over {format_bytes(self.rss_before)} "
             f"({self.rss_peak_method}), retained {format_bytes(self.rss_after - self.rss_before)}")
        if self.python_peak is not None:
            s += f"; Python allocations peak {format_bytes(self.python_peak)}"
        if self.cuda_peak is not None:
            s += (f"; CUDA peak +{format_bytes(self.cuda_increase)}, reserved {format_bytes(self.cuda_reserved)}")
        return s + ")"

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{k}</td><td>{format_bytes(v) if isinstance(v, int) else v}</td></tr>"
                       for k, v in self.to_dict().items() if v is not None)
        return f"<div><b>{self!r}</b><table>{rows}</table></div>"

# %%
mem = MemoryProfile(rss_before=100 * 2**20, rss_after=101 * 2**20, rss_peak=164 * 2**20, rss_peak_method="VmHWM",
                    python_peak=None, python_retained=None)
assert mem.rss_increase == 64 * 2**20 and mem.cuda_increase is None and mem.to_dict()["rss_increase"] == mem.rss_increase
mem

# %% [markdown]
# `PipelineProfile` (section 7): a `(samples, stages)` array of seconds. Run one after another,
# the stages give `1 / mean end-to-end time` samples/s; with one concurrent worker per stage the
# slowest stage bounds the throughput.

# %%
#| export
@dataclass(repr=False)
class PipelineProfile:
    "Per-stage latency (seconds) of each sample through a pipeline of stages, and the stage that bounds it."
    stages: list[str]
    times: np.ndarray  # (samples, stages), seconds

    @property
    def mean(self) -> np.ndarray:
        return self.times.mean(axis=0)

    def quantile(self, q: float) -> np.ndarray:
        "Per-stage quantile `q` in [0, 1] of the stage times, seconds."
        return np.quantile(self.times, check_quantile(q), axis=0)

    @property
    def bottleneck(self) -> str:
        return self.stages[int(np.argmax(self.mean))]

    @property
    def end_to_end(self) -> np.ndarray:
        return self.times.sum(axis=1)

    @property
    def sequential_throughput(self) -> float:
        "Samples/s with the stages run one after another: 1 / mean end-to-end time."
        return 1.0 / float(self.end_to_end.mean())

    @property
    def pipelined_throughput(self) -> float:
        "Samples/s bound with one concurrent worker per stage: 1 / mean time of the slowest stage."
        return 1.0 / float(self.mean.max())

    def to_dict(self) -> dict[str, Any]:
        return {"stages": [{"name": s, "mean": float(m), "p50": float(a), "p99": float(b), "share": float(m / self.mean.sum())}
                           for s, m, a, b in zip(self.stages, self.mean, self.quantile(0.5), self.quantile(0.99))],
                "n_samples": int(self.times.shape[0]), "bottleneck": self.bottleneck,
                "sequential_throughput": self.sequential_throughput, "pipelined_throughput": self.pipelined_throughput}

    def __repr__(self) -> str:
        parts = ", ".join(f"{s} {format_seconds(m)}" for s, m in zip(self.stages, self.mean))
        return (f"PipelineProfile({self.times.shape[0]} samples; mean {parts}; bottleneck {self.bottleneck}; "
                f"{self.sequential_throughput:,.0f} samples/s sequential, ≤{self.pipelined_throughput:,.0f} pipelined)")

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{r['name']}</td><td>{format_seconds(r['mean'])}</td><td>{format_seconds(r['p50'])}</td>"
                       f"<td>{format_seconds(r['p99'])}</td><td>{r['share']:.0%}</td></tr>" for r in self.to_dict()["stages"])
        return (f"<div><b>{self!r}</b><table><tr><th>stage</th><th>mean</th><th>p50</th><th>p99</th><th>share</th></tr>"
                f"{rows}</table></div>")

# %%
pipe = PipelineProfile(["decode", "model"], np.array([[2.0, 1.0], [4.0, 1.0], [3.0, 2.0]]) * 1e-3)
assert pipe.bottleneck == "decode" and np.isclose(pipe.sequential_throughput, 1 / pipe.end_to_end.mean())
assert np.isclose(pipe.pipelined_throughput, 1 / 3e-3) and np.allclose(pipe.quantile(0.5), np.median(pipe.times, axis=0))
pipe

# %% [markdown]
# `BatchSweep` (section 8): one row per batch size (latency quantiles and raw samples, seconds
# per batch; samples/s), and the batch size that ran out of memory, if one did.

# %%
#| export
@dataclass(repr=False)
class BatchSweep:
    "Latency (seconds per batch) and throughput (samples/s) per batch size; where it ran out of memory."
    rows: list[dict[str, Any]]
    device: str
    oom_batch: int | None = None
    oom_error: str | None = None
    interrupted: bool = False
    env: dict[str, Any] = field(default_factory=environment)

    @property
    def best(self) -> dict[str, Any] | None:
        "The row with the highest samples/s."
        return max(self.rows, key=lambda r: r["samples_per_s"], default=None)

    def plot(self):
        "A matplotlib Figure: median latency and samples/s against batch size (log2 axis)."
        from matplotlib.figure import Figure
        b = [r["batch"] for r in self.rows]
        fig = Figure(figsize=(6, 2.4), dpi=100)
        ax1, ax2 = fig.subplots(1, 2)
        ax1.plot(b, [r["p50"] * 1e3 for r in self.rows], "o-", label="p50")
        ax1.plot(b, [r["p99"] * 1e3 for r in self.rows], "o--", label="p99")
        ax1.set_ylabel("ms per batch")
        ax1.legend(fontsize=7)
        ax2.plot(b, [r["samples_per_s"] for r in self.rows], "o-")
        ax2.set_ylabel("samples/s")
        for ax in (ax1, ax2):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("batch size")
            if self.oom_batch:
                ax.axvline(self.oom_batch, color="red", linestyle=":")
        fig.tight_layout()
        return fig

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "rows": self.rows, "oom_batch": self.oom_batch, "oom_error": self.oom_error,
                "interrupted": self.interrupted, "env": self.env}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "BatchSweep":
        "The sweep of `to_dict()` (a saved suite result keeps no `env`: it has its own)."
        return cls([dict(r) for r in d["rows"]], d["device"], d.get("oom_batch"), d.get("oom_error"),
                   bool(d.get("interrupted", False)), dict(d.get("env") or {}))

    def __repr__(self) -> str:
        best = self.best
        s = f"BatchSweep({len(self.rows)} batch sizes on {self.device}"
        if best:
            s += f"; best {best['samples_per_s']:,.0f} samples/s at batch {best['batch']}"
        if self.oom_batch:
            s += f"; out of memory at batch {self.oom_batch}"
        if self.interrupted:
            s += "; INTERRUPTED (partial)"
        return s + ")"

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{r['batch']}</td><td>{format_seconds(r['p50'])}</td><td>{format_seconds(r['p90'])}</td>"
                       f"<td>{format_seconds(r['p99'])}</td><td>{r['samples_per_s']:,.0f}</td>"
                       f"<td>{format_bytes(r.get('cuda_peak_bytes'))}</td></tr>" for r in self.rows)
        if self.oom_batch:
            rows += f"<tr><td>{self.oom_batch}</td><td colspan=5>out of memory: {self.oom_error}</td></tr>"
        img = ""
        if len(self.rows) > 1:
            img = figure_img(self.plot())
        return (f"<div><b>{self!r}</b><table><tr><th>batch</th><th>p50</th><th>p90</th><th>p99</th><th>samples/s</th>"
                f"<th>CUDA peak</th></tr>{rows}</table>{img}</div>")

# %%
sweep_rows = [{"batch": b, "median": s, "p50": s, "p90": 1.1 * s, "p99": 1.2 * s, "n_samples": 10, "samples": [s] * 10,
               "samples_per_s": b / s} for b, s in [(1, 1e-3), (8, 2e-3), (64, 10e-3)]]
sw = BatchSweep(sweep_rows, "cpu", oom_batch=512, oom_error="OutOfMemoryError: CUDA out of memory")
assert sw.best["batch"] == 64 and "out of memory at batch 512" in repr(sw) and sw.to_dict()["oom_batch"] == 512
assert len(sw.plot().axes) == 2
sw

# %% [markdown]
# `BatchLimit` (section 8): the largest batch within a latency budget, with every batch size
# measured on the way (an out-of-memory batch as an infinite latency).

# %%
#| export
@dataclass(repr=False)
class BatchLimit:
    "Largest batch with latency (at `quantile`, seconds) within `budget`, and every batch size measured."
    batch: int
    latency: float
    budget: float
    quantile: float
    tried: dict[int, float]

    @property
    def samples_per_s(self) -> float | None:
        """Throughput at the chosen batch, samples/s: batch / its latency at `quantile` (a rate the model sustains
        while meeting the budget; the median rate is higher). None when no batch meets the budget."""
        return self.batch / self.latency if self.batch and self.latency > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "latency": self.latency, "budget": self.budget, "quantile": self.quantile,
                "samples_per_s": self.samples_per_s, "tried": {str(k): v for k, v in self.tried.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "BatchLimit":
        "The limit of `to_dict()` (samples_per_s is recomputed)."
        return cls(d["batch"], d["latency"], d["budget"], d["quantile"], {int(k): v for k, v in d["tried"].items()})

    def __repr__(self) -> str:
        if not self.batch:
            return f"BatchLimit(no batch meets p{self.quantile * 100:g} ≤ {format_seconds(self.budget)})"
        return (f"BatchLimit(batch {self.batch}: p{self.quantile * 100:g} {format_seconds(self.latency)} ≤ "
                f"{format_seconds(self.budget)}, {self.samples_per_s:,.0f} samples/s; {len(self.tried)} sizes measured)")

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{b}</td><td>{'out of memory' if math.isinf(v) else format_seconds(v)}</td>"
                       f"<td>{'✓' if v <= self.budget else '✗'}</td></tr>" for b, v in sorted(self.tried.items()))
        return f"<div><b>{self!r}</b><table><tr><th>batch</th><th>latency</th><th>within</th></tr>{rows}</table></div>"

# %%
bl = BatchLimit(batch=40, latency=4.9e-3, budget=5e-3, quantile=0.9,
                tried={1: 1.1e-3, 64: 7.4e-3, 40: 4.9e-3, 128: math.inf})
assert "batch 40: p90" in repr(bl) and bl.to_dict()["tried"]["128"] == math.inf and "out of memory" in bl._repr_html_()
assert bl.samples_per_s == 40 / 4.9e-3 and "8,163 samples/s" in repr(bl)
assert BatchLimit.from_dict(bl.to_dict()) == bl
bl

# %% [markdown]
# `DevicePeaks` and `Roofline` (section 9): the measured peaks of a device, their ridge point
# (FLOPs per byte where a layer turns from memory- to compute-bound), and each layer placed under
# the roof.

# %%
#| export
@dataclass(repr=False)
class DevicePeaks:
    "Measured peaks of a device: FLOP/s of a large matmul, bytes/s of a large copy."
    device: str
    flops_per_s: float
    bytes_per_s: float
    matmul_n: int
    copy_bytes: int

    @property
    def ridge(self) -> float:
        "FLOPs per byte where the roofline turns from memory- to compute-bound."
        return self.flops_per_s / self.bytes_per_s

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "flops_per_s": self.flops_per_s, "bytes_per_s": self.bytes_per_s,
                "ridge": self.ridge, "matmul_n": self.matmul_n, "copy_bytes": self.copy_bytes}

    def __repr__(self) -> str:
        return (f"DevicePeaks({self.device}: {self.flops_per_s / 1e9:,.1f} GFLOP/s ({self.matmul_n}² float32 matmul), "
                f"{self.bytes_per_s / 1e9:,.1f} GB/s ({format_bytes(self.copy_bytes)} copy), ridge {self.ridge:.1f} FLOP/B)")

    def _repr_html_(self) -> str:
        return f"<pre>{self!r}</pre>"

# %%
dp = DevicePeaks("cpu", flops_per_s=100e9, bytes_per_s=20e9, matmul_n=1024, copy_bytes=2**27)
assert dp.ridge == 5.0
dp

# %%
#| export
@dataclass(repr=False)
class Roofline:
    "Per layer: FLOPs, bytes moved, time, achieved FLOP/s and bytes/s, intensity, and compute/memory bound."
    rows: list[dict[str, Any]]
    peaks: DevicePeaks

    def to_dict(self) -> dict[str, Any]:
        return {"peaks": self.peaks.to_dict(), "rows": self.rows}

    def plot(self):
        "A log-log roofline: the attainable-FLOP/s roof and each layer's achieved FLOP/s at its intensity."
        from matplotlib.figure import Figure
        fig = Figure(figsize=(5.5, 3.4), dpi=100)
        ax = fig.add_subplot()
        pts = [r for r in self.rows if r["flops"] > 0]
        lo = min([r["intensity"] for r in pts] + [self.peaks.ridge / 100])
        hi = max([r["intensity"] for r in pts] + [self.peaks.ridge * 100])
        xs = np.geomspace(lo / 2, hi * 2, 200)
        ax.plot(xs, np.minimum(self.peaks.flops_per_s, xs * self.peaks.bytes_per_s) / 1e9, "k-", label="roof")
        for r in pts:
            ax.plot(r["intensity"], r["flops_per_s"] / 1e9, "o")
            ax.annotate(r["layer"], (r["intensity"], r["flops_per_s"] / 1e9), fontsize=7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("arithmetic intensity (FLOP/byte)")
        ax.set_ylabel("GFLOP/s")
        ax.set_title(f"roofline, {self.peaks.device}", fontsize=9)
        fig.tight_layout()
        return fig

    def __repr__(self) -> str:
        comp = [f"{r['layer']} ({r['kind']})" for r in self.rows if r["bound"] == "compute"]
        return (f"Roofline({len(self.rows)} layers vs {self.peaks.flops_per_s / 1e9:,.0f} GFLOP/s, "
                f"{self.peaks.bytes_per_s / 1e9:,.1f} GB/s; compute-bound: {', '.join(comp) or 'none'})")

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{r['layer']}</td><td>{r['flops'] / 1e6:,.2f}</td><td>{format_bytes(r['bytes'])}</td>"
                       f"<td>{r['intensity']:.2f}</td><td>{r['flops_per_s'] / 1e9:,.2f}</td>"
                       f"<td>{r['bytes_per_s'] / 1e9:,.2f}</td><td>{r['efficiency']:.0%}</td><td>{r['bound']}</td></tr>"
                       for r in self.rows)
        img = figure_img(self.plot())
        return (f"<div><b>{self!r}</b><table><tr><th>layer</th><th>MFLOP</th><th>bytes</th><th>FLOP/B</th>"
                f"<th>GFLOP/s</th><th>GB/s</th><th>of roof</th><th>bound</th></tr>{rows}</table>{img}</div>")

# %%
roof = Roofline([{"layer": "0", "kind": "Linear", "flops": 2 * 512 * 1024 * 1024, "bytes": 8_392_704, "seconds": 0.02,
                  "flops_per_s": 5.4e10, "bytes_per_s": 4.2e8, "intensity": 127.9, "attainable_flops_per_s": 1e11,
                  "efficiency": 0.54, "bound": "compute"},
                 {"layer": "1", "kind": "ReLU", "flops": 0, "bytes": 4_194_304, "seconds": 1e-3, "flops_per_s": 0.0,
                  "bytes_per_s": 4.2e9, "intensity": 0.0, "attainable_flops_per_s": 0.0, "efficiency": 0.0,
                  "bound": "memory"}], dp)
assert "compute-bound: 0 (Linear)" in repr(roof) and len(roof.plot().axes) == 1
roof
