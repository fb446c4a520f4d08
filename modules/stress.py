# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Stress tests: sustained and variable load
#
# A support notebook (`tinybench.stress`), behind `tinybench stress`. Module 02 taught the pieces:
# the Server scenario with Poisson, burst and ramp arrivals, `soak` (a long run that tests memory,
# latency and the clock for trends) and `find_peak_qps`. A stress test is those pieces in one
# order, on one model, with one record of what each found:
#
# 1. **Peak**: the highest Server rate that meets the latency bound (`find_peak_qps`, short runs).
#    Every later run is placed relative to it.
# 2. **Soak** (sustained load) at a *fraction* of the peak (70% by default) for `duration` seconds.
#    It catches what short runs cannot: a **leak** (resident memory that keeps growing: a cache
#    without a bound, tensors kept by a list), **drift** (median latency that rises window after
#    window: a growing queue, fragmentation, a background job) and **thermal throttling** (the
#    clock falls and the latency follows it). Why a fraction: at the peak itself the queue is on
#    the edge of growing without bound, so any trend would be the queue's, not the system's; and
#    a service runs below its peak to keep headroom. At 70% the queue is stable, and a latency
#    that still rises is the system getting slower. The memory is the whole process's, load
#    generator included: its per-query records take a few bytes a query, so at thousands of
#    queries/s over a long soak read the bytes per query too (a leak per call is usually KiBs).
# 3. **Bursts** (variable load): the same mean rate, but queries arrive `burst_size` at a time (a
#    retry storm, a batch upload). A queue absorbs a burst only by making its last queries wait, so
#    the tail grows even though the mean rate is unchanged: the burst run's p99 against the steady
#    (Poisson) soak's p99 at the same mean rate says how much.
# 4. **Ramp** (gradual ramp-up): the rate grows linearly from half to 1.5× the soak rate (the same
#    mean rate again; at the default fraction it ends just past the peak). The median latency by
#    thirds of the run shows where the knee appears as the load rises.
#
# Nothing here is new statistics: every verdict is module 02's (validity, `soak`'s trend tests and
# throttling rule), and every number in the result comes from a run it made.

# %%
#| default_exp stress

# %%
#| export
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from html import escape as html_escape
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from tinybench.checks import check_fraction, check_number, check_quantile
from tinybench.display import Table, format_seconds, markdown_text
from tinybench.documents import Chart, png_data_uri, render_document, save_figure
from tinybench.env import environment
from tinybench.files import atomic_write_text
from tinybench.scenarios import PeakSearch, ScenarioResult, SoakResult, TestSettings, find_peak_qps, run, soak

# %% [markdown]
# ## The result
#
# `StressResult` keeps the runs themselves (`ScenarioResult`, `SoakResult`, `PeakSearch`), so
# that every figure can be recomputed from the per-query records; `to_dict` writes each run's
# summary (its settings, verdict and reasons, latency quantiles, rates), the soak's per-window
# medians and memory samples, and the search's tried rates. A phase that did not run (no VALID
# rate was found, or Ctrl-C) is `None`, and `notes` says why.

# %%
#| export
def _run_dict(r: ScenarioResult | None, q: float) -> dict[str, Any] | None:
    "A run's summary (ScenarioResult.to_dict without per-query records and environment) plus its `q` quantile, s."
    if r is None:
        return None
    d = {k: v for k, v in r.to_dict().items() if k not in ("queries", "env")}
    return {**d, "load_pattern": r.settings.load_pattern, "target_qps": r.settings.target_qps,
            "quantile": q, "latency_at_quantile": r.quantile(q)}


def ramp_thirds(r: ScenarioResult) -> list[float]:
    "Median latency (s) of the queries scheduled in each third of a run (NaN for a third without any): the knee."
    lat, sched = r.latencies, r.scheduled[r.ok]
    span = float(r.scheduled.max()) if r.scheduled.size else 0.0
    edges = np.linspace(0.0, span, 4)
    edges[-1] = np.inf
    return [float(np.median(lat[m])) if (m := (sched >= a) & (sched < b)).any() else math.nan
            for a, b in zip(edges[:-1], edges[1:])]


@dataclass(repr=False)
class StressResult:
    """A stress test of one model: the peak search, the soak at `fraction` x peak, a burst and a ramp run at the soak's
    mean rate, the environment. Rates in queries/s, times in seconds. A phase that did not run is None (`notes`)."""
    name: str
    settings: dict[str, Any]
    peak: PeakSearch
    soak: SoakResult | None = None
    burst: ScenarioResult | None = None
    ramp: ScenarioResult | None = None
    env: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def quantile(self) -> float:
        return self.settings["quantile"]

    @property
    def peak_qps(self) -> float | None:
        return self.peak.peak_qps

    @property
    def soak_qps(self) -> float | None:
        "The soak's (and the burst and ramp runs' mean) rate: fraction x peak."
        return None if self.soak is None else self.soak.result.settings.target_qps

    @property
    def complete(self) -> bool:
        "Every phase ran to its end (not whether each was VALID)."
        return not self.interrupted and None not in (self.peak_qps, self.soak, self.burst, self.ramp)

    def tail_ratio(self, r: ScenarioResult | None) -> float | None:
        "p<quantile> latency of run `r` over the steady soak's at the same mean rate (None without both)."
        if r is None or self.soak is None:
            return None
        steady = self.soak.result.quantile(self.quantile)
        return r.quantile(self.quantile) / steady if steady > 0 else None

    def to_dict(self) -> dict[str, Any]:
        q = self.quantile
        soak = None if self.soak is None else {**self.soak.to_dict(), "result": _run_dict(self.soak.result, q)}
        return {"name": self.name, "settings": dict(self.settings), "peak": self.peak.to_dict(),
                "peak_qps": self.peak_qps, "soak_qps": self.soak_qps, "soak": soak,
                "burst": _run_dict(self.burst, q), "burst_tail_ratio": self.tail_ratio(self.burst),
                "ramp": _run_dict(self.ramp, q), "ramp_tail_ratio": self.tail_ratio(self.ramp),
                "ramp_p50_by_third": None if self.ramp is None else ramp_thirds(self.ramp),
                "complete": self.complete, "interrupted": self.interrupted, "notes": list(self.notes),
                "env": dict(self.env)}

    def __repr__(self) -> str:
        peak = "no VALID rate" if self.peak_qps is None else f"peak {self.peak_qps:,.1f}/s"
        parts = [f"StressResult({self.name!r}: {peak}"]
        if self.soak is not None:
            s = self.soak
            parts.append(f"soak {s.result.settings.min_duration:g} s at {self.soak_qps:,.1f}/s: "
                         f"{'LEAK' if s.leak else 'no leak'}, latency {s.latency_trend.split(' (')[0]}, "
                         f"throttling {s.thermal.verdict.status if s.thermal else 'not assessed'}")
        for label, r in (("burst", self.burst), ("ramp", self.ramp)):
            if r is not None:
                ratio = self.tail_ratio(r)
                parts.append(f"{label} {'VALID' if r.valid else 'INVALID'} p{self.quantile * 100:g} "
                             f"{format_seconds(r.quantile(self.quantile))}"
                             + ("" if ratio is None else f" ({ratio:.2f}x steady)"))
        return "; ".join(parts) + (", interrupted" if self.interrupted else "") + ")" + \
            "".join(f"\n  ! {n}" for n in self.notes)

    def table(self) -> Table:
        "One row per run: load, verdict, p50 and p<quantile> latency, and the tail against the steady soak."
        q, rows = self.quantile, []
        runs = [("soak (steady Poisson)", self.soak.result if self.soak else None), ("bursts", self.burst),
                ("ramp", self.ramp)]
        for label, r in runs:
            if r is None:
                rows.append([label, "not run", "–", "–", "–", "–", "–"])
                continue
            s = r.settings
            load = (f"{s.target_qps:,.1f} → {s.ramp_to_qps:,.1f}/s" if s.load_pattern == "ramp" else
                    f"{s.target_qps:,.1f}/s" + (f" in bursts of {s.burst_size}" if s.load_pattern == "burst" else ""))
            ratio = self.tail_ratio(r)
            rows.append([label, load, f"{r.duration:.1f} s", "VALID" if r.valid else "INVALID",
                         format_seconds(r.quantile(0.5)), format_seconds(r.quantile(q)),
                         "1 (reference)" if r is runs[0][1] else ("–" if ratio is None else f"{ratio:.2f}x")])
        return Table(["run", "offered load", "duration", "verdict", "p50", f"p{q * 100:g}",
                      f"p{q * 100:g} / steady"], rows)

    def _repr_html_(self) -> str:
        head = html_escape(repr(self).split("\n")[0])
        return f"<div><b>{head}</b>{self.table().html()}</div>"

# %% [markdown]
# ## Running it
#
# `stress_test` puts the phases together. The search starts from an estimate of the capacity (a
# short SingleStream run: one query at a time, so each latency is a service time; half of
# 1/median is a rate that should be VALID), so it brackets the peak in a few runs whatever the
# model's speed. Each phase reports to `progress` (a callable taking one line, e.g. the CLI's
# `Progress`). Ctrl-C during a run stops it (the run keeps what it measured, marked interrupted)
# and ends the stress test with the phases done so far.

# %%
#| export
def _search_runner(seen: list[ScenarioResult]) -> Callable[..., ScenarioResult]:
    "find_peak_qps's runner: module 02's `run`, keeping each result; Ctrl-C (an interrupted run) ends the search."
    def runner(sut: Any, dataset: Any, s: TestSettings) -> ScenarioResult:
        r = run(sut, dataset, s)
        seen.append(r)
        if r.interrupted:
            raise KeyboardInterrupt
        return r
    return runner


def check_stress_options(duration: float, target_latency: float, quantile: float, fraction: float,
                  burst_size: int) -> tuple[float, float, float, float, int]:
    "The stress test's options checked (ValueError/TypeError naming the option and a fix), before anything runs."
    return (check_number(duration, "duration", positive=True, hint="seconds of soak, e.g. 30"),
            check_number(target_latency, "target_latency", positive=True, hint="seconds, e.g. 0.1"),
            check_quantile(quantile, "quantile", open_interval=True),
            check_fraction(fraction, "fraction", hint="of the peak rate for the soak, e.g. 0.7"),
            check_number(burst_size, "burst_size", integer=True, lo=1, hint="queries arriving together, e.g. 10"))


def stress_test(sut: Callable[[list], Any], dataset: Any, duration: float = 30.0, target_latency: float = 0.1,
                quantile: float = 0.99, fraction: float = 0.7, burst_size: int = 10, name: str = "model",
                search_duration: float = 1.0, variable_duration: float | None = None, tolerance: float = 0.1,
                max_runs: int = 12, workers: int = 1, max_batch: int = 1,
                progress: Callable[[str], None] | None = None) -> StressResult:
    """Stress-test `sut` on `dataset` (module 02's SUT and dataset): find the peak Server rate whose p`quantile`
    latency stays within `target_latency` s (runs of `search_duration` s, bisection to `tolerance`, at most `max_runs`),
    soak at `fraction` x peak for `duration` s, then a burst run (`burst_size` arrivals at once) and a ramp run
    (0.5 to 1.5x the soak rate) at the soak's mean rate for `variable_duration` s (default min(duration, 10)).
    `workers` and `max_batch` are the Server's worker threads and dynamic batch (TestSettings)."""
    duration, target_latency, quantile, fraction, burst_size = check_stress_options(
        duration, target_latency, quantile, fraction, burst_size)
    search_duration = check_number(search_duration, "search_duration", positive=True, hint="seconds per tried rate")
    variable_duration = min(duration, 10.0) if variable_duration is None else \
        check_number(variable_duration, "variable_duration", positive=True, hint="seconds of the burst and ramp runs")
    say = progress or (lambda msg: None)
    base = dict(scenario="Server", target_latency=target_latency, latency_quantile=quantile, workers=workers,
                max_batch=max_batch)
    settings = {"duration": duration, "target_latency": target_latency, "quantile": quantile, "fraction": fraction,
                "burst_size": burst_size, "search_duration": search_duration, "variable_duration": variable_duration,
                "tolerance": tolerance, "max_runs": max_runs, "workers": workers, "max_batch": max_batch}
    env = environment()

    say("estimating the service time (SingleStream)")
    single = run(sut, dataset, scenario="SingleStream", min_duration=min(search_duration, 1.0))
    if single.interrupted or single.n_queries == 0:
        reason = "interrupted" if single.interrupted else "no query completed: " + "; ".join(single.reasons)
        return StressResult(name, settings, PeakSearch(None, [], quantile), env=env, interrupted=single.interrupted,
                            notes=[f"service-time estimate {reason}"])
    start = max(1.0, 0.5 * workers / single.quantile(0.5))
    settings["service_p50"], settings["start_qps"] = single.quantile(0.5), start
    say(f"finding the peak rate: p{quantile * 100:g} within {format_seconds(target_latency)}, from {start:,.0f}/s")
    seen: list[ScenarioResult] = []
    try:
        peak = find_peak_qps(sut, dataset, TestSettings(**base, target_qps=start, min_duration=search_duration,
                                                        max_duration=max(60.0, 10 * search_duration)),
                             tolerance=tolerance, max_runs=max_runs, runner=_search_runner(seen))
    except KeyboardInterrupt:
        tried = [{"target_qps": r.settings.target_qps, "valid": r.valid, "latency": r.quantile(quantile), "qps": r.qps,
                  "reasons": r.reasons} for r in seen]
        return StressResult(name, settings, PeakSearch(None, tried, quantile), env=env, interrupted=True,
                            notes=["interrupted during the peak search"])
    out = StressResult(name, settings, peak, env=env)
    if peak.peak_qps is None:
        out.notes.append(f"no rate met p{quantile * 100:g} <= {format_seconds(target_latency)} (lowest tried "
                         f"{min(t['target_qps'] for t in peak.tried):,.1f}/s): raise target_latency; soak, burst and "
                         "ramp not run")
        return out
    rate = fraction * peak.peak_qps
    long = dict(base, target_qps=rate, max_duration=max(60.0, 2 * duration + 10))
    # runs below the queries that early stopping needs are extended (Poisson and bursts: schedule_for does it; a
    # ramp's length is its duration, so it gets 1.2x those queries on average, plus 10)
    need = TestSettings(**base).min_query_count
    ramp_time = max(variable_duration, (1.2 * need + 10) / rate)
    short = dict(long, min_duration=variable_duration, max_duration=max(60.0, 2 * ramp_time + 10),
                 stop_when_invalid=False)
    phases = [("soak", f"peak {peak.peak_qps:,.1f}/s; soak at {fraction:.0%} of it ({rate:,.1f}/s) for {duration:g} s",
               lambda: soak(sut, dataset, TestSettings(**long, min_duration=duration),
                            interval=min(1.0, max(0.02, duration / 100)), windows=20)),
              ("burst", f"bursts of {burst_size} at a mean {rate:,.1f}/s",
               lambda: run(sut, dataset, TestSettings(**short, load_pattern="burst", burst_size=burst_size))),
              ("ramp", f"ramp {0.5 * rate:,.1f} -> {1.5 * rate:,.1f}/s",
               lambda: run(sut, dataset, TestSettings(**{**short, "target_qps": 0.5 * rate, "min_duration": ramp_time},
                                                      load_pattern="ramp", ramp_to_qps=1.5 * rate)))]
    for i, (label, message, go) in enumerate(phases):
        say(message)
        try:
            setattr(out, label, go())
        except KeyboardInterrupt:  # outside a run's own Ctrl-C handling: this phase is lost, the earlier ones kept
            out.interrupted = True
        got = getattr(out, label)
        if out.interrupted or (got.result if label == "soak" else got).interrupted:
            out.interrupted = True
            lost = [name for name, _, _ in phases[i:] if getattr(out, name) is None]
            out.notes.append(f"interrupted (Ctrl-C) during the {label}" + (f": {', '.join(lost)} not run" if lost
                                                                              else ": its result is partial"))
            break
    return out

# %% [markdown]
# ## The document
#
# `sections()` is the stress test as a document (module 06's blocks: paragraphs, lists, `Table`s,
# `Chart`s), rendered to HTML by `tinybench.documents.render_document` (every string escaped) and
# to Markdown here. Two charts: the soak's median latency per window (drift shows as a slope), and
# the search's latency against offered load (flat, a knee, a wall: where the peak sits).

# %%
#| export
def _figure_soak(r: StressResult) -> Any:
    from matplotlib.figure import Figure
    s = r.soak
    fig = Figure(figsize=(5.5, 3.2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(s.window_start, s.window_p50 * 1e3, "o-", ms=3)
    ax.set(xlabel="time since the soak started (s)", ylabel="median latency per window (ms)",
           title=f"soak at {r.soak_qps:,.1f}/s: {s.latency_trend.split(' (')[0]}")
    ax.set_ylim(bottom=0)
    return fig


def _figure_search(r: StressResult) -> Any:
    from matplotlib.figure import Figure
    fig = Figure(figsize=(5.5, 3.2), layout="constrained")
    ax = fig.add_subplot()
    for valid, marker, label in ((True, "o", "VALID"), (False, "x", "INVALID")):
        pts = [(t["target_qps"], t["latency"] * 1e3) for t in r.peak.tried if t["valid"] == valid
               and np.isfinite(t["latency"])]
        if pts:
            ax.plot(*zip(*pts), marker, label=label)
    ax.axhline(r.settings["target_latency"] * 1e3, color="grey", ls="--", lw=1, label="target latency")
    ax.set(xlabel="offered load (queries/s)", ylabel=f"p{r.quantile * 100:g} latency (ms)", yscale="log",
           title="peak search: latency against offered load")
    ax.legend(fontsize=8)
    return fig


def stress_figures(r: StressResult) -> dict[str, Any]:
    "The charts' matplotlib Figures by name (those with data)."
    out = {}
    if r.peak.tried:
        out["search_latency"] = _figure_search(r)
    if r.soak is not None and np.isfinite(r.soak.window_p50).any():
        out["soak_latency"] = _figure_soak(r)
    return out


def _sections(r: StressResult) -> list[tuple[str, list]]:
    q, st = f"p{r.quantile * 100:g}", r.settings
    intro = (f"Stress test of {r.name}: latency bound {q} ≤ {format_seconds(st['target_latency'])}; soak at "
             f"{st['fraction']:.0%} of the peak for {st['duration']:g} s; bursts of {st['burst_size']} and a ramp "
             f"at the soak's mean rate for {st['variable_duration']:g} s each (each run is extended when early "
             "stopping needs more queries).")
    verdict = "every phase ran" if r.complete else "INCOMPLETE: " + "; ".join(r.notes or ["interrupted"])
    secs: list[tuple[str, list]] = [("", [intro, f"Status: {verdict}."])]
    tried = sorted(r.peak.tried, key=lambda t: t["target_qps"])
    peak_text = ("No tried rate was VALID." if r.peak_qps is None else
                 f"Peak sustainable Server rate: {r.peak_qps:,.1f} queries/s (the highest VALID rate of "
                 f"{len(tried)} runs of {st['search_duration']:g} s; a short run can pass slightly above the "
                 "true capacity, which is one reason the soak runs below it).")
    secs.append(("Peak rate", [peak_text, Table(
        ["offered load (/s)", "verdict", f"{q} latency", "completed (/s)", "first reason"],
        [[f"{t['target_qps']:,.1f}", "VALID" if t["valid"] else "INVALID", format_seconds(t["latency"]),
          f"{t['qps']:,.1f}", (t["reasons"] or ["–"])[0]] for t in tried]),
        Chart("search_latency", f"{q} latency of each tried rate; the dashed line is the bound.")]))
    if r.soak is not None:
        s = r.soak
        th = "throttling not assessed"
        secs.append((f"Sustained load: soak at {r.soak_qps:,.1f} queries/s", [[
            f"Memory: {'LEAK' if s.leak else 'no leak'}: resident memory {s.mem_slope / 2**20 * 60:+.2f} MiB/min, "
            f"{s.mem_slope / r.soak_qps:+,.0f} bytes per query (p = {s.mem_p:.2g}, {s.mem_rss.size} samples; a leak "
            "is a positive slope with p < 0.001 and > 1 MiB over the run; a leak per call is typically KiBs per "
            "query, the load generator's own bookkeeping about 10 bytes).",
            f"Latency over time: {s.latency_trend} (Spearman's test on the median of each of "
            f"{s.window_p50.size} windows).",
            f"Thermal: {th}." if s.thermal is None else f"Thermal: {s.thermal.verdict.status}: {s.thermal.verdict.reason}",
            f"Run: {'VALID' if s.result.valid else 'INVALID: ' + '; '.join(s.result.reasons)}; "
            f"{s.result.n_queries} queries."],
            Chart("soak_latency", "Median latency per window of the soak: a rising line is drift.")]))
    lines = []
    if r.burst is not None:
        ratio = r.tail_ratio(r.burst)
        lines.append(f"Bursts of {st['burst_size']}: {q} {format_seconds(r.burst.quantile(r.quantile))}"
                     + ("" if ratio is None else f", {ratio:.2f}x the steady soak's at the same mean rate")
                     + f"; {'VALID' if r.burst.valid else 'INVALID: ' + '; '.join(r.burst.reasons)}.")
    if r.ramp is not None:
        thirds = ", ".join(format_seconds(v) for v in ramp_thirds(r.ramp))
        lines.append(f"Ramp {r.ramp.settings.target_qps:,.1f} → {r.ramp.settings.ramp_to_qps:,.1f}/s: median latency "
                     f"by thirds {thirds}; {'VALID' if r.ramp.valid else 'INVALID: ' + '; '.join(r.ramp.reasons)}.")
    secs.append(("Variable load: bursts and ramp", [r.table(), lines] if lines else [r.table()]))
    env = r.env
    secs.append(("Environment", [[f"{k}: {env[k]}" for k in ("cpu_model", "cpu_count", "platform", "python", "torch",
                                                              "tinybench", "git_commit") if env.get(k) is not None]]))
    return secs


def _markdown(title: str, sections: Sequence[tuple[str, list]], figure_files: dict[str, str]) -> str:
    "The document as Markdown; charts link `figure_files` (name → relative path), user text escaped."
    out = [f"# {markdown_text(title)}", ""]
    for heading, blocks in sections:
        if heading:
            out += [f"## {markdown_text(heading)}", ""]
        for b in blocks:
            if isinstance(b, Table):
                out.append(b.markdown())
            elif isinstance(b, Chart):
                if b.name in figure_files:
                    out.append(f"![{markdown_text(b.caption)}]({figure_files[b.name]})")
            elif isinstance(b, str):
                out.append(markdown_text(b))
            else:
                out += [f"- {markdown_text(s)}" for s in b]
            out.append("")
    return "\n".join(out)


def _save(r: StressResult, folder: str | Path, markdown: bool = True) -> dict[str, Path]:
    """Write stress.json (to_dict), stress.html (one self-contained page) and, with `markdown`, stress.md with its
    figures/ into `folder` (created), every file atomically; stress.json first. Returns {format: path}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": atomic_write_text(folder / "stress.json", json.dumps(r.to_dict(), indent=1) + "\n")}
    figs, title = stress_figures(r), f"tinybench stress: {r.name}"
    secs = r.sections()
    paths["html"] = atomic_write_text(folder / "stress.html", render_document(
        title, secs, {k: png_data_uri(f) for k, f in figs.items()}))
    if markdown:
        files = {k: f"figures/stress_{k}.png" for k in figs}
        for k, f in figs.items():
            save_figure(f, folder / files[k])
        paths["markdown"] = atomic_write_text(folder / "stress.md", _markdown(title, secs, files))
    return paths


StressResult.sections = _sections
StressResult.save = _save

# %% [markdown]
# ## On a real model
#
# The default workload's CNN on this machine, briefly (a 3 s soak: enough to see the phases, far
# too short for a leak or drift verdict you would act on; `tinybench stress --duration 600` is a
# real one).

# %%
import tempfile

from tinybench.scenarios import ArrayDataset, TorchSUT
from tinybench.workloads import default_workload

wl = default_workload()
v = wl.variants["fp32"]
demo = stress_test(TorchSUT(v.model, v.device), ArrayDataset(wl.data.X_test), duration=3.0, target_latency=0.05,
                   variable_duration=1.0, tolerance=0.25, max_runs=8, name="fp32")
print(repr(demo))
assert demo.peak_qps is None or demo.soak_qps == demo.settings["fraction"] * demo.peak_qps
_d = tempfile.mkdtemp()
_paths = demo.save(_d)
assert json.loads(_paths["json"].read_text())["name"] == "fp32" and "<h2>Peak rate</h2>" in _paths["html"].read_text()
demo
