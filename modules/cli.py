# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The `tinybench` command
#
# `tinybench run` is the main job: it benchmarks the default workload and writes what it found.
# For now it times every variant of the digits CNN at batch 1 (latency) and batch 64
# (throughput) with `tinybench.measure`, measures each variant's accuracy on the test split, and
# writes `results.json` (everything, raw samples and environment included) and `summary.md`
# (a table a person reads) under `runs/<timestamp>/`. Later modules grow it into the full report.
#
# Library functions return data; this module is the one place that renders and prints.

# %%
#| default_exp cli

# %%
#| export
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from tinybench.timing import Measurement, environment, format_seconds, measure, resolve_device

# %% [markdown]
# ## Timing one variant
#
# Inference runs under `torch.inference_mode()`, with the input already on the variant's device
# (data loading is not what we measure here). Throughput is `batch / median seconds per call`.

# %%
#| export
def time_variant(model: Callable, x, min_time: float = 0.5) -> Measurement:
    "Seconds per forward pass of `model(x)` under `torch.inference_mode()`."
    import torch

    def infer():
        with torch.inference_mode():
            return model(x)
    return measure(infer, label=f"batch {len(x)}", device=str(x.device), min_time=min_time)


def benchmark_variant(variant, data, batches=(1, 64), min_time: float = 0.5) -> dict[str, Any]:
    "Accuracy and per-batch-size timings of one `Variant` as a JSON-ready dict."
    from tinybench.workloads import accuracy
    X = data.X_test.to(variant.device)
    row: dict[str, Any] = {"name": variant.name, "device": variant.device, "description": variant.description,
                           "accuracy": accuracy(variant.model, X, data.y_test.to(variant.device)), "timings": {}}
    for b in batches:
        if b > len(X):
            raise ValueError(f"batch size {b} is larger than the test split ({len(X)} samples)")
        m = time_variant(variant.model, X[:b], min_time=min_time)
        row["timings"][str(b)] = {**m.to_dict(), "batch": b, "throughput": b / m.median}
    return row

# %% [markdown]
# ## The summary
#
# The Markdown summary states the environment and the method first, then one row per variant
# and batch size, and lists every pitfall the measurements flagged.

# %%
#| export
def summary_markdown(results: dict[str, Any]) -> str:
    "A Markdown summary of a `tinybench run` results dict."
    env = results["environment"]
    lines = [f"# tinybench run {results['started']}", "",
             f"- machine: {env.get('platform')}, {env.get('cpu_count')} CPUs, torch {env.get('torch')}, "
             f"{env.get('torch_threads')} threads" + (f", GPU {env['gpu']}" if env.get("gpu") else ""),
             f"- method: `tinybench.measure` (calibrated loops, MSER-5 warm-up cut, GC off), "
             f"min_time {results['settings']['min_time']} s per measurement; inference under "
             "`torch.inference_mode()`; accuracy on the digits test split", ""]
    if results.get("interrupted"):
        lines += ["**Interrupted with Ctrl-C: the results below are partial.**", ""]
    lines += ["| variant | accuracy | batch | median | IQR | p99 | throughput (samples/s) | n |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    notes = []
    for v in results["variants"]:
        if "error" in v:
            lines.append(f"| {v['name']} | failed: {v['error']} | | | | | | |")
            continue
        for b, t in v["timings"].items():
            lines.append(f"| {v['name']} | {v['accuracy']:.3f} | {b} | {format_seconds(t['median'])} | "
                         f"{format_seconds(t['iqr'])} | {format_seconds(t['p99'])} | {t['throughput']:,.0f} | {t['n']} |")
            notes += [f"- {v['name']}, batch {b}: **{p['kind']}**: {p['explanation']}" for p in t["pitfalls"]]
    if notes:
        lines += ["", "## Pitfalls flagged by the measurements", "", *notes]
    regressions = results.get("regressions") or {}
    if any(r is not None for r in regressions.values()):
        lines += ["", "## Against the stored baseline", "",
                  "Per variant and batch size: the time ratio current/baseline with its 90% CI and the verdict at the "
                  "tolerance. A run's iterations are not independent replications: confirm a flagged change with a "
                  "rerun before acting on it.", "", "| benchmark | metric | verdict | evidence |", "|---|---|---|---|"]
        for name, rep in regressions.items():
            for row in (rep or {}).get("rows", []):
                lines.append(f"| {name} | {row['metric']} | {row['verdict']} | {row['evidence']} |")
    elif regressions:
        lines += ["", "No stored baseline yet: this run is now the baseline."]
    return "\n".join(lines) + "\n"

# %% [markdown]
# ## `run`: the main job
#
# Progress goes to stderr. A variant that fails is recorded with its error and the run goes on;
# Ctrl-C stops the run but still writes what was measured, marked as interrupted.

# %%
#| export
def run(out: str | Path = "runs", device: str = "cpu", min_time: float = 0.5, seed: int = 0,
        progress: Callable[[str], None] | None = None, store: str | Path | None = None, baseline: bool = False,
        tolerance: float = 0.10) -> Path:
    """Benchmark the default workload's variants; writes results.json and summary.md, returns the run folder.

    With `store` (a ResultStore path) every variant and batch size is recorded there; with `baseline`, each is
    first compared with its stored baseline (`detect_regression` at `tolerance`) and the verdicts are reported."""
    from tinybench.workloads import default_workload
    say = progress or (lambda msg: None)
    device = resolve_device(device, ())
    if store is not None:  # fail before measuring, not after, if the store path is unusable
        from tinybench.store import ResultStore
        ResultStore(store).close()
    started = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(out) / started
    folder.mkdir(parents=True, exist_ok=True)
    say("loading the default workload (digits + CNN; trains and caches it on first use)")
    wl = default_workload(device=device, seed=seed)
    results: dict[str, Any] = {"schema": "tinybench.run/1", "started": started, "environment": environment(),
                               "settings": {"device": device, "min_time": min_time, "seed": seed, "batches": [1, 64]},
                               "model": {"train_seconds": wl.trained.train_seconds, "from_cache": wl.trained.from_cache,
                                         "path": str(wl.trained.path)},
                               "variants": [], "interrupted": False}
    try:
        for i, variant in enumerate(wl.variants.values(), 1):
            say(f"[{i}/{len(wl.variants)}] {variant.name}")
            try:
                results["variants"].append(benchmark_variant(variant, wl.data, min_time=min_time))
            except (RuntimeError, ValueError) as e:
                results["variants"].append({"name": variant.name, "error": f"{type(e).__name__}: {e}"})
    except KeyboardInterrupt:
        results["interrupted"] = True
        say("interrupted: writing the partial results")
    if store is not None:
        results["regressions"] = record_in_store(results, store, baseline, tolerance)
    (folder / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (folder / "summary.md").write_text(summary_markdown(results))
    return folder


def record_in_store(results: dict[str, Any], store: str | Path, baseline: bool, tolerance: float) -> dict[str, Any]:
    """Save each variant × batch size of a run in the ResultStore at `store` (name 'digits-cnn/<variant>/batch<b>');
    with `baseline`, first compare it with the stored baseline. Returns {name: RegressionReport dict or None}."""
    from tinybench.abtest import detect_regression
    from tinybench.store import ResultStore
    reports: dict[str, Any] = {}
    with ResultStore(store) as db:
        for v in results["variants"]:
            for b, t in v.get("timings", {}).items():
                name = f"digits-cnn/{v['name']}/batch{b}"
                metrics = {"median_s": t["median"], "p99_s": t["p99"], "throughput_samples_per_s": t["throughput"],
                           "accuracy": v["accuracy"]}
                current = {"latency_s": t["samples"], "accuracy": v["accuracy"]}
                if baseline:
                    base = db.baseline(name)
                    reports[name] = None if base is None else detect_regression(current, base, tolerance).to_dict()
                db.save(name, metrics, {"latency_s": t["samples"]}, settings=results["settings"],
                        env=results["environment"])
    return reports

# %% [markdown]
# ## `plan`: capacity from measured service times
#
# `tinybench plan` measures the default workload's model at batch 1 (a SingleStream run: one query
# at a time, so each latency is a service time), or reads the batch-1 samples of a saved
# `results.json`, and prints a `tinybench.capacity.plan_capacity` plan.

# %%
#| export
def service_times_for_plan(results: str | Path | None = None, variant: str = "fp32", device: str = "cpu",
                           min_duration: float = 2.0, seed: int = 0) -> tuple[Any, str]:
    "Service times (s) and where they came from: a saved run's batch-1 samples, or a SingleStream run now."
    import numpy as np
    if results is not None:
        path = Path(results)
        if not path.is_file():
            raise ValueError(f"no such results file: {path}")
        try:
            data = json.loads(path.read_text())
            row = next(v for v in data["variants"] if v["name"] == variant)
            samples = row["timings"]["1"]["samples"]
        except (json.JSONDecodeError, KeyError, StopIteration, TypeError) as e:
            raise ValueError(f"{path} has no batch-1 timing samples for variant {variant!r} "
                             f"(a results.json written by `tinybench run`?): {e}") from e
        return np.asarray(samples, dtype=float), (f"{len(samples)} batch-1 samples of {variant} in {path} (each a "
                                                  "mean over a calibrated loop, so their spread is understated)")
    from tinybench.scenarios import ArrayDataset, TorchSUT, run as run_scenario
    from tinybench.workloads import default_workload
    wl = default_workload(device=resolve_device(device, ()), seed=seed)
    if variant not in wl.variants:
        raise ValueError(f"unknown variant {variant!r}: choose one of {sorted(wl.variants)}")
    v = wl.variants[variant]
    r = run_scenario(TorchSUT(v.model, v.device), ArrayDataset(wl.data.X_test), scenario="SingleStream",
                     min_duration=min_duration)
    return r.latencies, f"SingleStream run of {variant} on {v.device}: {r.n_queries} queries of one image"

# %% [markdown]
# ## `compare`: two saved runs side by side
#
# `tinybench compare OLD/results.json NEW/results.json` compares every variant and batch size the two
# runs share: module 01's `compare` on the timing samples (time ratio new/old with its 95% interval
# and verdict), one generated sentence each (`tinybench.report.latency_finding`), and the accuracy
# of each side.

# %%
#| export
def _load_results(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"no such results file: {p}")
    try:
        data = json.loads(p.read_text())
        data["variants"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{p} is not a results.json written by `tinybench run`: {e}") from e
    return data


def compare_runs(old: str | Path, new: str | Path, margin: float | None = None) -> str:
    "Markdown comparison of two `tinybench run` results files (per shared variant and batch size)."
    from tinybench.report import latency_finding
    from tinybench.stats import compare
    a, b = _load_results(old), _load_results(new)
    rows_a = {v["name"]: v for v in a["variants"] if "timings" in v}
    lines = [f"# tinybench compare: {a['started']} → {b['started']}", "",
             "| variant | batch | old median | new median | time ratio new/old (95% CI) | verdict | accuracy old → new |",
             "|---|---:|---:|---:|---|---|---|"]
    findings = []
    for v in b["variants"]:
        if "timings" not in v or v["name"] not in rows_a:
            continue
        for batch, t_new in v["timings"].items():
            t_old = rows_a[v["name"]]["timings"].get(batch)
            if t_old is None:
                continue
            c = compare(t_old["samples"], t_new["samples"], margin=margin, label_a=f"{v['name']} (old)",
                        label_b=f"{v['name']} (new)")
            lines.append(f"| {v['name']} | {batch} | {format_seconds(c.median_a)} | {format_seconds(c.median_b)} | "
                         f"{c.ratio:.3f} ({c.ratio_ci[0]:.3f}–{c.ratio_ci[1]:.3f}) | {c.verdict} | "
                         f"{rows_a[v['name']]['accuracy']:.3f} → {v['accuracy']:.3f} |")
            findings.append(f"- batch {batch}: {latency_finding(c)}")
    if not findings:
        raise ValueError("the two runs share no variant and batch size to compare")
    env_a, env_b = a.get("environment", {}), b.get("environment", {})
    diff = [k for k in sorted(set(env_a) | set(env_b)) if env_a.get(k) != env_b.get(k) and k != "git_commit"]
    note = (f"The environments differ in: {', '.join(diff)}: differences may come from the machine, not the code."
            if diff else "Same environment for both runs.")
    return "\n".join(lines + ["", "## Findings", "", *findings, "", note,
                              "Each run's samples are iterations of one run, not independent replications: "
                              "confirm a change with a rerun."]) + "\n"

# %% [markdown]
# ## The command line

# %%
#| export
def plan_command(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    "`tinybench plan`: print a capacity plan; exit 0, or 2 with the reason on bad input."
    from tinybench.capacity import plan_capacity
    try:
        if args.results is None:
            say(f"measuring {args.variant}'s service time (SingleStream, about 2 s)")
        service, source = service_times_for_plan(args.results, args.variant, args.device)
        plan = plan_capacity(service, args.target_qps, args.slo_ms / 1e3, args.percentile, growth=args.growth,
                             headroom=args.headroom, cost_per_replica_hour=args.cost_per_hour)
    except ValueError as e:
        print(f"tinybench: error: {e}", file=sys.stderr)
        return 2
    print(repr(plan))
    print(f"service times: {source}")
    print("assumptions:")
    for a in plan.assumptions:
        print(f"  - {a}")
    return 0


def main(argv: list[str] | None = None) -> int:
    "Entry point of the `tinybench` command."
    parser = argparse.ArgumentParser(prog="tinybench", description="Systematic ML benchmarking you can trust.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="benchmark the default workload's variants and write a summary")
    p.add_argument("--out", default="runs", help="parent folder of the run folder (default: runs)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:i] (default: cpu)")
    p.add_argument("--min-time", type=float, default=0.5, help="seconds of steady samples per measurement")
    p.add_argument("--quick", action="store_true", help="shorter measurements (min-time 0.1 s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--store", default=None, help="record the run in this SQLite result store (created if missing)")
    p.add_argument("--baseline", action="store_true",
                   help="with --store: compare with the stored baseline first; exit status 1 if anything regressed")
    p.add_argument("--tolerance", type=float, default=0.10, help="practical tolerance for --baseline (default 0.10)")
    q = sub.add_parser("plan", help="replicas needed for a target rate under a latency SLO, from measured service times")
    q.add_argument("--target-qps", type=float, required=True, help="requests per second to serve")
    q.add_argument("--slo-ms", type=float, required=True, help="latency SLO in milliseconds")
    q.add_argument("--percentile", type=float, default=0.99, help="SLO percentile (default 0.99)")
    q.add_argument("--growth", type=float, default=0.0, help="expected traffic growth, e.g. 0.3 for +30%%")
    q.add_argument("--headroom", type=float, default=0.2, help="utilisation kept free per replica (default 0.2)")
    q.add_argument("--cost-per-hour", type=float, default=None, help="price of one replica-hour, for cost per million")
    q.add_argument("--results", default=None, help="a results.json from `tinybench run` (else measure now)")
    q.add_argument("--variant", default="fp32", help="which variant's service times (default fp32)")
    q.add_argument("--device", default="cpu")
    q.add_argument("--quiet", action="store_true", help="no progress on stderr")
    c = sub.add_parser("compare", help="compare two saved runs (results.json files) with intervals")
    c.add_argument("old", help="results.json of the baseline run")
    c.add_argument("new", help="results.json of the new run")
    c.add_argument("--margin", type=float, default=None, help="equivalence margin, e.g. 0.05 for ±5%%")
    args = parser.parse_args(argv)
    if args.command == "compare":
        try:
            print(compare_runs(args.old, args.new, args.margin), end="")
        except ValueError as e:
            print(f"tinybench: error: {e}", file=sys.stderr)
            return 2
        return 0
    say = (lambda msg: None) if args.quiet else (lambda msg: print(f"tinybench: {msg}", file=sys.stderr, flush=True))
    if args.command == "plan":
        return plan_command(args, say)
    if args.baseline and not args.store:
        parser.error("--baseline needs --store PATH (where the baseline lives)")
    try:
        t0 = time.perf_counter()
        folder = run(args.out, device=args.device, min_time=0.1 if args.quick else args.min_time, seed=args.seed,
                     progress=say, store=args.store, baseline=args.baseline, tolerance=args.tolerance)
    except ValueError as e:
        print(f"tinybench: error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:  # e.g. ResultStoreError: the store path is not a tinybench store
        print(f"tinybench: error: {e}", file=sys.stderr)
        return 2
    print((folder / "summary.md").read_text())
    say(f"done in {time.perf_counter() - t0:.0f} s: {folder / 'results.json'} and {folder / 'summary.md'}")
    regressed = [name for name, rep in json.loads((folder / "results.json").read_text()).get("regressions", {}).items()
                 if rep is not None and not rep["ok"]]
    if regressed:
        say(f"regressed against the stored baseline: {', '.join(regressed)}")
        return 1
    return 0

# %% [markdown]
# A quick run into a temporary folder shows the summary:

# %%
import tempfile
from IPython.display import Markdown

with tempfile.TemporaryDirectory() as tmp:
    folder = run(tmp, min_time=0.05)
    summary = (folder / "summary.md").read_text()
    assert json.loads((folder / "results.json").read_text())["variants"][0]["name"] == "fp32"
Markdown(summary)
