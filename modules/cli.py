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
# `tinybench run` is the main job: it runs module 06's `BenchmarkSuite` on the default workload
# (the digits CNN and its optimised variants) or on the models given with `--models`, and writes
# the report under `<save-dir>/<timestamp>/`: `results.json` (everything, raw samples and
# environment included; `SuiteResult.load` reads it back), `report.md` with its `figures/`, and the
# self-contained `report.html`. `report`, `compare` and `plan` work from saved results.
#
# Library functions return data; this module is the one place that renders and prints. Exit
# status: 0 success; 1 a model failed, a regression was found, or a file could not be written
# (disk full, read-only folder: one line naming the file, and what was already written is kept);
# 2 bad usage (a one-line message that says what to fix, before anything is measured);
# 130 interrupted by Ctrl-C (what was measured is kept: see `InterruptGuard`).

# %%
#| default_exp cli

# %%
#| export
from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from tinybench.checks import check_number
from tinybench.display import Progress, format_seconds
from tinybench.files import write_error_message
from tinybench.timing import resolve_device

# %% [markdown]
# ## Models and data from the command line
#
# `--models "fp32:base.pt,int8:int8.pt"`: each entry is `name:path`; the file is a `torch.export`
# program (`.pt2`, `torch.export.save`) or a TorchScript archive (`torch.jit.save`; deprecated in
# torch 2.13 but still everywhere). A whole pickled module (`torch.save(model)`) is refused:
# unpickling runs whatever code the file names, before tinybench can look at it. `--trust-pickles`
# loads it (`weights_only=False`), for files you made yourself. Every way this can go wrong is a
# `ValueError` whose message names the entry and what to do.

# %%
#| export
def parse_model_specs(spec: str) -> dict[str, Path]:
    "{name: path} from 'name:path,name:path'; ValueError with the bad entry on a malformed or empty spec."
    entries = [e.strip() for e in spec.split(",") if e.strip()]
    if not entries:
        raise ValueError("--models is empty: give name:path entries, e.g. --models fp32:model.pt,int8:int8.pt")
    out: dict[str, Path] = {}
    for e in entries:
        name, sep, path = e.partition(":")
        if not sep or not name.strip() or not path.strip():
            raise ValueError(f"bad --models entry {e!r}: expected name:path, e.g. fp32:model.pt")
        if name.strip() in out:
            raise ValueError(f"--models names {name.strip()!r} twice: names must be unique")
        out[name.strip()] = Path(path.strip())
    return out


def load_model_file(path: str | Path, device: str = "cpu", trust_pickles: bool = False) -> Any:
    """A model from `path` in eval mode on `device`: a `torch.export` program (.pt2), a TorchScript archive, or, with
    `trust_pickles`, a pickled nn.Module (`weights_only=False`: unpickling runs code named in the file). Without
    `trust_pickles` only `torch.load(weights_only=True)` is tried, which runs nothing. ValueError naming what was tried."""
    import pickle

    import torch
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no such model file: {path}")
    if path.suffix == ".pt2":
        try:
            return torch.export.load(path).module().to(device)
        except Exception as e:  # a corrupt or foreign archive raises many types
            raise ValueError(f"{path} is not a torch.export program: {type(e).__name__}: "
                             f"{(str(e).splitlines() or [''])[0][:160]}") from e
    try:
        model = torch.jit.load(str(path), map_location=device)
    except (RuntimeError, ValueError) as e_jit:
        try:
            model = torch.load(path, map_location=device, weights_only=not trust_pickles)
        except pickle.UnpicklingError as e_pickle:
            if trust_pickles:
                raise ValueError(f"{path} is not a TorchScript archive or a saved model: {type(e_pickle).__name__}: "
                                 f"{(str(e_pickle).splitlines() or [''])[0][:120]}") from e_pickle
            reason = next((ln.strip() for ln in str(e_pickle).split("WeightsUnpickler error:")[-1].splitlines()
                           if ln.strip()), "")[:120]
            raise ValueError(f"{path} is not a TorchScript archive or a saved model that loads without running code "
                             f"(torch.load(weights_only=True): {reason}). A pickled model (torch.save(model)) runs "
                             "code named in the file when loaded: save it with torch.export (.pt2) or TorchScript, "
                             "or pass --trust-pickles if you made the file yourself") from None
        except Exception as e_pickle:  # torch.load raises many types (EOFError, RuntimeError, ...) on non-models
            raise ValueError(f"{path} is not a TorchScript archive or a saved model (torch.jit.load: "
                             f"{(str(e_jit).splitlines() or [''])[0][:120]}; torch.load: {type(e_pickle).__name__}: "
                             f"{(str(e_pickle).splitlines() or [''])[0][:120]})") from e_pickle
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"{path} holds a {type(model).__name__}, not a model: save the whole module with "
                         "torch.save(model, path), torch.jit.save(torch.jit.script(model), path) or "
                         "torch.export.save(torch.export.export(model, (x,)), 'model.pt2')")
    return model.eval()


def load_data_file(path: str | Path) -> tuple[Any, Any]:
    "(X, y or None) from an .npz file with arrays 'X' and optionally 'y'; ValueError otherwise."
    import numpy as np
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no such data file: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "X" not in z:
                raise ValueError(f"{path} has no array named 'X' (it has {sorted(z.files)})")
            return z["X"], (z["y"] if "y" in z else None)
    except (OSError, EOFError) as e:
        raise ValueError(f"{path} is not an .npz file with arrays X and y: {e}") from e


def load_data(path: str | Path, image_size: int | tuple[int, int] | None = None,
              normalize: str = "imagenet", channels: int | str = "auto") -> tuple[Any, Any]:
    """(X, y) from an .npz file (`load_data_file`) or from an image folder with one subfolder per class
    (`tinybench.datasets.load_image_folder`: `image_size` resizes, `normalize` and `channels` as there)."""
    if Path(path).is_dir():
        from tinybench.datasets import load_image_folder
        folder = load_image_folder(path, image_size, normalize, channels)
        return folder.X, folder.y
    if not Path(path).exists():
        raise ValueError(f"no such data file or folder: {path}")
    if image_size is not None:
        raise ValueError(f"--image-size applies to an image folder (--dataset DIR), not to the file {path}")
    return load_data_file(path)


def check_writable(folder: str | Path) -> Path:
    "Create `folder` if needed and check a file can be written there; ValueError saying why not."
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".tinybench-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise ValueError(f"cannot write to {folder}: {e.strerror or e}") from e
    return folder

# %% [markdown]
# ## `run`: the suite and its report
#
# Everything that can be checked before measuring is checked first (the models load, the data
# reads, the folder is writable, the store opens), so that a typo costs a second, not a run.
# Progress goes to stderr; a model that fails is recorded in the report and the run goes on.
#
# Ctrl-C: the first one stops measuring at the next safe point (the suite keeps everything measured,
# marked interrupted); then the comparisons are computed and `results.json` is written **first**,
# atomically, with further Ctrl-Cs held back until it is on disk; a second Ctrl-C skips the figures
# and the report (`tinybench report` writes them later), and one during the report stops it, with
# results.json already safe. `InterruptGuard` is that policy, installed by `main` for `run`.

# %%
#| export
def ignore_ctrl_c() -> None:
    """Ignore SIGINT from now on (main thread only). Used once a Ctrl-C has stopped the command: while Python exits
    it puts back the OS default for SIGINT, so a second Ctrl-C landing then would kill the process without its exit
    status (130) or its last lines. Ignored signals stay ignored through interpreter shutdown."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


# %%
#| export
def check_report_formats(formats: Sequence[str]) -> list[str]:
    """`formats` (report format names) checked before anything is measured: a ValueError for an unknown name, and for
    pdf where no Chromium is found (PDF is the HTML printed by headless Chromium)."""
    from tinybench.documents import find_chromium
    from tinybench.report import REPORT_FORMATS
    unknown = set(formats) - set(REPORT_FORMATS)
    if unknown:
        raise ValueError(f"unknown --report-format {', '.join(sorted(unknown))}: choose from {', '.join(REPORT_FORMATS)}")
    if "pdf" in formats and find_chromium() is None:
        raise ValueError("--report-format pdf needs Chromium (headless print-to-PDF) and none was found: install it "
                         "(e.g. apt-get install chromium), set TINYBENCH_CHROMIUM=/path/to/chrome, or leave pdf out")
    return list(formats)

# %%
#| export
class InterruptGuard:
    """The SIGINT policy of `tinybench run` (a context manager; main thread only).

    While `measuring`: the first Ctrl-C raises KeyboardInterrupt (the suite stops at its next safe point); later ones
    are counted, not raised. After `hold()` (computing and writing results.json) every Ctrl-C is counted, not raised.
    After `release()` (figures and report) a Ctrl-C raises KeyboardInterrupt again. `count`: Ctrl-Cs received.
    On exit, if any Ctrl-C came, SIGINT stays ignored (`ignore_ctrl_c`): the command is ending anyway."""
    def __init__(self) -> None:
        self.count, self.raising, self._old = 0, True, None

    def __enter__(self) -> "InterruptGuard":
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:  # after a Ctrl-C the command is ending: ignore later ones (see `ignore_ctrl_c`)
            if self.count:
                ignore_ctrl_c()
            else:
                signal.signal(signal.SIGINT, self._old)
            self._old = None

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.raising:
            self.raising = False
            raise KeyboardInterrupt
        os.write(2, b"tinybench: Ctrl-C again: saving results.json first, then stopping\n")

    def hold(self) -> None:
        "From now on, count Ctrl-C without raising (results.json is being computed and written)."
        self.raising = False

    def release(self) -> None:
        "From now on, Ctrl-C raises KeyboardInterrupt (results.json is safe; figures and report may stop half-way)."
        self.raising = True


def save_results(result: Any, folder: Path, say: Callable[[str], None]) -> Path:
    """Write `result` as `folder`/results.json (atomically). If that folder cannot be written (disk full, read-only),
    write it into a new temporary folder instead, say where, and raise OSError naming both: measured data is never
    dropped because its folder failed."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return result.save(folder / "results.json")
    except OSError as e:
        reason = e.strerror if str(e.strerror).startswith("cannot write") else write_error_message(folder, e)
        fallback = Path(tempfile.mkdtemp(prefix=f"tinybench-{result.started}-")) / "results.json"
        result.save(fallback)
        say(f"{reason}; saved results.json in {fallback} instead")
        raise OSError(e.errno, f"{reason}; the results are saved in {fallback}") from e


def run(save_dir: str | Path = "runs", models: Mapping[str, str | Path] | None = None, data: str | Path | None = None,
        settings: Any = None, formats: Sequence[str] = ("markdown", "html", "json"), seed: int = 0,
        progress: Callable[[str], None] | None = None, store: str | Path | None = None, baseline: bool = False,
        tolerance: float = 0.10, title: str | None = None, trust_pickles: bool = False,
        guard: InterruptGuard | None = None, image_size: int | tuple[int, int] | None = None,
        normalize: str = "imagenet", cost_per_hour: float | None = None,
        channels: int | str = "auto") -> tuple[Path, Any]:
    """Run `BenchmarkSuite` on the default workload's variants (or `models`: name → model file) and write the report
    into a new `<save_dir>/<timestamp>/` folder; returns (that folder, the SuiteResult).

    With `store` (a ResultStore path) every model's timing is recorded there; with `baseline`, each is first compared
    with its stored baseline (`detect_regression` at `tolerance`); the verdicts go into results.json and the report.
    results.json is written before the figures and the report; with a `guard` (`InterruptGuard`), Ctrl-C is held back
    while it is written, and after a second Ctrl-C the figures and the report are skipped. An OSError (disk full,
    read-only folder) says which file failed and where results.json is."""
    from tinybench.abtest import check_tolerance
    from tinybench.report import Report
    from tinybench.suite import BenchmarkSuite, SuiteSettings
    from tinybench.workloads import default_workload
    say = progress or (lambda msg: None)
    say("starting: checking the options, loading the models and the data")
    settings = settings or SuiteSettings()
    device = resolve_device(settings.device, ())
    check_report_formats(formats)
    if cost_per_hour is not None:
        check_number(cost_per_hour, "--cost-per-hour", nonnegative=True, hint="the price of one machine-hour, e.g. 3.06")
    if baseline:
        check_tolerance(tolerance, "--tolerance")
    parent = check_writable(save_dir)
    if store is not None:  # fail before measuring, not after, if the store path is unusable
        from tinybench.store import ResultStore
        ResultStore(store).close()
    loaded = {name: load_model_file(path, device, trust_pickles) for name, path in (models or {}).items()}
    dataset = load_data(data, image_size, normalize, channels) if data is not None else None
    if not loaded or dataset is None:
        say("loading the default workload (digits + CNN; trains and caches it on first use)")
        wl = default_workload(device=device, seed=seed)
        dataset = dataset if dataset is not None else wl.data
    candidates = loaded or wl.variants
    suite = BenchmarkSuite(candidates, dataset, settings)
    result = suite.measure_all(progress=say)
    if guard is not None:
        guard.hold()
    say("comparing with the baseline and writing results.json" + (" (interrupted: partial results)"
                                                                   if result.interrupted else ""))
    result = suite.finish(result)
    if store is not None:
        regressions = record_in_store(result, store, baseline, tolerance, "digits-cnn" if not loaded else "models")
        result.regressions = regressions if baseline else None  # without --baseline nothing was compared
    folder = parent / result.started
    k = 1
    while folder.exists():  # two runs in the same second
        folder, k = parent / f"{result.started}-{k}", k + 1
    json_path = save_results(result, folder, say)
    if guard is not None:
        if guard.count >= 2:
            say(f"second Ctrl-C: report skipped (results.json is saved; `tinybench report {json_path}` writes it)")
            return folder, result
        guard.release()
    say("writing the figures and the report")
    try:
        Report(result, title or ("tinybench: " + ", ".join(result.models)), cost_per_hour).save(folder, formats,
                                                                                               results=False)
    except OSError as e:
        raise OSError(e.errno, f"{e.strerror or e}; {json_path} is saved (`tinybench report {json_path} --out DIR` "
                      "writes the report elsewhere)") from e
    except KeyboardInterrupt:
        say(f"interrupted while writing the report: {json_path} is saved (`tinybench report {json_path}` writes it)")
        raise
    return folder, result


def _replications(round_medians: Sequence[float], min_n: int = 4) -> list[float]:
    """The round medians, or their median alone when there are fewer than `min_n`: with 3 against 3 no 90% interval
    is finite, and the gate then judges the medians on the tolerance only (and its evidence says so)."""
    import numpy as np
    return list(round_medians) if len(round_medians) >= min_n else [float(np.median(round_medians))]


def record_in_store(result: Any, store: str | Path, baseline: bool, tolerance: float,
                    prefix: str) -> dict[str, Any]:
    """Save each model's timing in the ResultStore at `store` (as '<prefix>/<model>/batch<b>'); with `baseline`, first
    compare it with the stored baseline. Returns {name: RegressionReport dict, or None without a usable baseline}.

    The gate compares the runs' **round medians** (series `round_median_s`, seconds per batch), the replications of a
    run, not its pooled iterations, which are not independent (module 06). A stored baseline without round medians
    (written by tinybench before 0.1.0's suite, or empty) is not usable, and this run becomes the baseline. A baseline
    or a run that cannot be judged (NaN or inf metrics) gives {"ok": False, "error": why, "rows": []}: never a pass.
    Each run is stored with its pooled batch times (`batch_s`, for the dashboard's drill-down), the 90% CI of its
    median (`tinybench.dashboard.interval_metrics`) and the gate's verdict, so that the dashboard shows what the gate
    decided."""
    from tinybench.abtest import detect_regression
    from tinybench.dashboard import interval_metrics
    from tinybench.store import ResultStore
    reports: dict[str, Any] = {}
    with ResultStore(store) as db:
        for model, m in result.models.items():
            t = m.timing
            if not t:
                continue
            name = f"{prefix}/{model}/batch{t.batch}"
            metrics = {"median_s": t.median, "p99_s": t.p99, "throughput_samples_per_s": t.throughput,
                       **interval_metrics(t.round_medians, t.batch)}
            current: dict[str, Any] = {"round_median_s": _replications(t.round_medians)}
            if m.accuracy is not None:
                metrics["accuracy"] = current["accuracy"] = m.accuracy
            if baseline:
                base = db.baseline(name)
                if base is None or len(base.samples.get("round_median_s", ())) == 0:
                    reports[name] = None
                else:
                    stored = {**base.metrics, "round_median_s": _replications(base.samples["round_median_s"])}
                    try:
                        reports[name] = detect_regression(current, stored, tolerance).to_dict()
                    except ValueError as e:  # NaN/inf in a metric: this gate cannot judge it, so it does not pass
                        reports[name] = {"ok": False, "error": str(e), "rows": []}
            db.save(name, metrics, {"round_median_s": t.round_medians, "batch_s": t.samples},
                    settings=result.settings.to_dict(), env=result.environment, verdict=reports.get(name))
    return reports

# %% [markdown]
# ## `plan`: capacity from measured service times
#
# `tinybench plan` measures the default workload's model at batch 1 (a SingleStream run: one query
# at a time, so each latency is a service time), or reads the SingleStream latencies of a saved
# `results.json`, and prints a `tinybench.capacity.plan_capacity` plan.

# %%
#| export
def service_times_for_plan(results: str | Path | None = None, variant: str = "fp32", device: str = "cpu",
                           min_duration: float = 2.0, seed: int = 0) -> tuple[Any, str]:
    "Service times (s) and where they came from: a saved run's SingleStream latencies, or a SingleStream run now."
    import numpy as np
    if results is not None:
        from tinybench.suite import SuiteResult
        r = SuiteResult.load(results)
        if variant not in r.models:
            raise ValueError(f"{results} has no model {variant!r}: choose one of {sorted(r.models)} (--variant)")
        m = r.models[variant]
        single = m.scenarios.get("SingleStream", {}).get("latencies")
        if single:
            return np.asarray(single, dtype=float), (f"{len(single)} SingleStream latencies of {variant} in {results} "
                                                     "(one query at a time: each is a service time)")
        if m.timing and m.timing.batch == 1:
            return np.asarray(m.timing.samples, dtype=float), (
                f"{m.timing.n} batch-1 timing samples of {variant} in {results} (each a mean over a calibrated loop, "
                "so their spread is understated)")
        raise ValueError(f"{results} has no SingleStream latencies or batch-1 timings of {variant}: run it with "
                         "--scenarios SingleStream")
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
# `tinybench compare OLD/results.json NEW/results.json` compares every model the two runs share
# (at the same batch size): the time ratio new/old of the round medians (Welch's t-interval on
# their logs: the two runs are independent, and their rounds are the replications), module 01's
# `compare` on the pooled iterations for description, one generated sentence each
# (`tinybench.report.latency_finding`), and the accuracy of each side.

# %%
#| export
def compare_runs(old: str | Path, new: str | Path, margin: float | None = None, level: float = 0.95) -> str:
    "Markdown comparison of two saved suite results (per shared model at the same batch size)."
    from tinybench.report import latency_finding
    from tinybench.stats import compare, ratio_of_runs
    from tinybench.suite import SuiteResult
    a, b = SuiteResult.load(old), SuiteResult.load(new)
    lines = [f"# tinybench compare: {a.started} → {b.started}", "",
             f"| model | batch | old median | new median | time ratio new/old ({level:.0%} CI, rounds) | verdict | "
             "pooled iterations (descriptive) | accuracy old → new |", "|---|---:|---:|---:|---|---|---|---|"]
    findings = []
    for name, m_new in b.models.items():
        m_old = a.models.get(name)
        if not (m_old and m_old.timing and m_new.timing and m_old.timing.batch == m_new.timing.batch):
            continue
        c = ratio_of_runs(m_old.timing.round_medians, m_new.timing.round_medians, level, margin,
                          (f"{name} (old)", f"{name} (new)"))
        ratio, ci = c.ratio, c.ratio_ci
        pooled = compare(m_old.timing.samples, m_new.timing.samples, level=level)
        acc = lambda m: "–" if m.accuracy is None else f"{m.accuracy:.3f}"
        lines.append(f"| {name} | {m_new.timing.batch} | {format_seconds(m_old.timing.median)} | "
                     f"{format_seconds(m_new.timing.median)} | {ratio:.3f} ({ci[0]:.3f}–{ci[1]:.3f}) | {c.verdict} | "
                     f"{pooled.ratio:.3f} ({pooled.ratio_ci[0]:.3f}–{pooled.ratio_ci[1]:.3f}) | "
                     f"{acc(m_old)} → {acc(m_new)} |")
        findings.append(f"- {latency_finding(c)}")
    if not findings:
        raise ValueError("the two runs share no model timed at the same batch size")
    env_a, env_b = a.environment, b.environment
    diff = [k for k in sorted(set(env_a) | set(env_b)) if env_a.get(k) != env_b.get(k) and k != "git_commit"]
    note = (f"The environments differ in: {', '.join(diff)}: differences may come from the machine, not the code."
            if diff else "Same environment for both runs.")
    return "\n".join(lines + ["", "## Findings", "", *findings, "", note,
                              "Each run's rounds are its replications; a run on another day is the stronger check."]) + "\n"

# %% [markdown]
# ## `report`: the report again, from saved data
#
# A saved `results.json` holds everything the report is made from, so `tinybench report` rewrites
# the report (another format, another title, after a change to the report code) without measuring
# again.

# %%
#| export
def report_files(results: str | Path, out: str | Path | None = None,
                 formats: Sequence[str] = ("markdown", "html"), title: str | None = None,
                 cost_per_hour: float | None = None) -> dict[str, Path]:
    """Write the report of a saved `results.json` into `out` (default: its folder); returns format → path.

    A results.json already in `out` is never overwritten: it is either the file read (kept as it is) or another run's
    data (kept; asking for the json format then is a ValueError)."""
    from tinybench.report import Report
    from tinybench.suite import SuiteResult
    r = SuiteResult.load(results)
    folder = check_writable(out if out is not None else Path(results).parent)
    check_report_formats(formats)
    if cost_per_hour is not None:
        check_number(cost_per_hour, "--cost-per-hour", nonnegative=True, hint="the price of one machine-hour, e.g. 3.06")
    rep = Report(r, title or ("tinybench: " + ", ".join(r.models)), cost_per_hour)
    target = folder / "results.json"
    if target.exists() and target.resolve() != Path(results).resolve():
        if "json" in formats:
            raise ValueError(f"{target} holds another run's results and is not overwritten: choose another --out, "
                             "or leave json out of --report-format")
        return rep.save(folder, formats, results=False)
    if target.exists():  # the file it was read from: do not rewrite the data
        return {**rep.save(folder, [f for f in formats if f != "json"], results=False), "json": target}
    return rep.save(folder, formats)

# %% [markdown]
# ## The command line

# %%
#| export
def plan_command(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    "`tinybench plan`: print a capacity plan; exit 0, or 2 with the reason on bad input."
    from tinybench.capacity import plan_capacity
    if args.results is None:
        say(f"measuring {args.variant}'s service time (SingleStream, about 2 s)")
    service, source = service_times_for_plan(args.results, args.variant, args.device)
    plan = plan_capacity(service, args.target_qps, args.slo_ms / 1e3, args.quantile, growth=args.growth,
                         headroom=args.headroom, cost_per_replica_hour=args.cost_per_hour)
    print(repr(plan))
    print(f"service times: {source}")
    print("assumptions:")
    for a in plan.assumptions:
        print(f"  - {a}")
    return 0


def _image_size(text: str) -> int | tuple[int, int]:
    "--image-size: 'N' (square) or 'HxW'."
    try:
        parts = [int(v) for v in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) <= 0:
        raise argparse.ArgumentTypeError(f"--image-size must be N or HxW in pixels (e.g. 224 or 224x160), got {text!r}")
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])


def _csv(kind: Callable[[str], Any]) -> Callable[[str], tuple]:
    def parse(text: str) -> tuple:
        try:
            return tuple(kind(x.strip()) for x in text.split(",") if x.strip())
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list: {e}") from e
    return parse


class OneLineParser(argparse.ArgumentParser):
    "argparse with a usage error as one line and exit status 2, like every other bad-usage error of tinybench."

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    "The `tinybench` argument parser (run, report, compare, plan, stress, dashboard, profile)."
    parser = OneLineParser(prog="tinybench", description="Systematic ML benchmarking you can trust.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="benchmark models (default: the digits CNN and its variants) and write a report")
    p.add_argument("--models", default=None,
                   help="name:path,... of torch.export (.pt2) or TorchScript files; the first is the baseline")
    p.add_argument("--trust-pickles", action="store_true",
                   help="also load torch.save(model) pickles. WARNING: unpickling runs any code the file names: use "
                        "only with files you made yourself")
    p.add_argument("--data", default=None, help=".npz with arrays X (inputs) and y (labels); default: digits test split")
    p.add_argument("--dataset", default=None, metavar="DIR",
                   help="an image folder, one subfolder of PNG/JPEG images per class (labels: the sorted folder names)")
    p.add_argument("--image-size", type=_image_size, default=None, metavar="N|HxW",
                   help="resize every --dataset image to N x N or H x W pixels (needed when their sizes differ)")
    p.add_argument("--normalize", choices=("imagenet", "unit", "none"), default="imagenet",
                   help="--dataset pixels: imagenet mean/std (default), unit ([0, 1]) or none (0-255)")
    p.add_argument("--channels", type=lambda v: v if v == "auto" else int(v), choices=("auto", 1, 3), default="auto",
                   help="--dataset images as 1 (grayscale) or 3 (RGB) channels; auto (default): 1 if all are grayscale")
    p.add_argument("--save-dir", "--out", dest="save_dir", default="runs", help="parent of the run folder (default runs)")
    p.add_argument("--report-format", type=_csv(str), default=("markdown", "html", "json"),
                   help="comma-separated: markdown, html, json, pdf (pdf: the HTML printed by headless Chromium; "
                        "results.json is always written)")
    p.add_argument("--cost-per-hour", type=float, default=None, metavar="PRICE",
                   help="price of one machine-hour: the report adds cost per million inferences per model")
    p.add_argument("--batch-size", type=int, default=32, help="batch of the timed comparison (default 32)")
    p.add_argument("--rounds", "--num-runs", dest="rounds", type=int, default=None,
                   help="interleaved timing rounds to run at least (--num-runs: the same); the rounds are the "
                        "replications that the comparisons use (default 20; 3 with --quick)")
    p.add_argument("--min-time", type=float, default=2.0,
                   help="seconds of steady timing per model over the first --rounds rounds (default 2)")
    p.add_argument("--max-rounds", type=int, default=None,
                   help="add rounds until every comparison is decided, up to this many (default 200, or --rounds)")
    p.add_argument("--time-budget", type=float, default=60.0,
                   help="seconds of timing after which no further round starts (default 60)")
    p.add_argument("--fixed-rounds", action="store_true",
                   help="run exactly --rounds rounds and judge by fixed-n t-intervals (no sequential stopping)")
    p.add_argument("--scenarios", type=_csv(str), default=("SingleStream", "Offline"),
                   help="comma-separated LoadGen scenarios (SingleStream, MultiStream, Server, Offline); '' for none")
    p.add_argument("--scenario-duration", type=float, default=1.0, help="seconds per scenario run (default 1)")
    p.add_argument("--batch-sizes", type=_csv(int), default=(1, 8, 32, 128), help="batch sweep sizes (default 1,8,32,128)")
    p.add_argument("--tokens-per-sample", type=int, default=None, metavar="N",
                   help="fixed-length sequence models: report tokens/s (samples/s × N) in the batch sweep")
    p.add_argument("--latency-budget-ms", type=float, default=None, metavar="MS",
                   help="per model, the largest batch whose p90 fits MS milliseconds, and its samples/s")
    p.add_argument("--margin", type=float, default=0.05, help="equivalence margin, e.g. 0.05 for ±5%% (default)")
    p.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    p.add_argument("--quick", action="store_true", help="short everything (a smoke test, not a benchmark)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:i] (default: cpu)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--title", default=None, help="title of the report")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--store", default=None, help="record the run in this SQLite result store (created if missing)")
    p.add_argument("--baseline", action="store_true",
                   help="with --store: compare with the stored baseline first; exit status 1 if anything regressed")
    p.add_argument("--tolerance", type=float, default=0.10,
                   help="practical tolerance for --baseline, a positive fraction (default 0.10 = 10%%)")
    p.add_argument("--dashboard", action="store_true",
                   help="with --store: write the store's dashboard.html (next to the store) after recording")
    r = sub.add_parser("report", help="write the report of a saved results.json again")
    r.add_argument("results", help="results.json written by `tinybench run`")
    r.add_argument("--out", default=None, help="folder for the report files (default: next to results.json)")
    r.add_argument("--report-format", type=_csv(str), default=("markdown", "html"), help="markdown, html, json, pdf")
    r.add_argument("--cost-per-hour", type=float, default=None, metavar="PRICE",
                   help="price of one machine-hour: adds cost per million inferences per model")
    r.add_argument("--title", default=None)
    q = sub.add_parser("plan", help="replicas needed for a target rate under a latency SLO, from measured service times")
    q.add_argument("--target-qps", type=float, required=True, help="requests per second to serve")
    q.add_argument("--slo-ms", type=float, required=True, help="latency SLO in milliseconds")
    q.add_argument("--quantile", type=float, default=0.99, help="SLO quantile, a fraction (default 0.99 = p99)")
    q.add_argument("--growth", type=float, default=0.0, help="expected traffic growth, e.g. 0.3 for +30%%")
    q.add_argument("--headroom", type=float, default=0.2, help="utilisation kept free per replica (default 0.2)")
    q.add_argument("--cost-per-hour", type=float, default=None, help="price of one replica-hour, for cost per million")
    q.add_argument("--results", default=None, help="a results.json from `tinybench run` (else measure now)")
    q.add_argument("--variant", default="fp32", help="which model's service times (default fp32)")
    q.add_argument("--device", default="cpu")
    q.add_argument("--quiet", action="store_true", help="no progress on stderr")
    c = sub.add_parser("compare", help="compare two saved runs (results.json files) with intervals")
    c.add_argument("old", help="results.json of the baseline run")
    c.add_argument("new", help="results.json of the new run")
    c.add_argument("--margin", type=float, default=None, help="equivalence margin, e.g. 0.05 for ±5%%")
    st = sub.add_parser("stress", help="stress test one model: peak rate, soak (leak, drift, throttling), bursts, ramp")
    st.add_argument("--model", default=None, metavar="NAME:PATH",
                    help="a torch.export (.pt2) or TorchScript file (default: the default workload's fp32 CNN)")
    st.add_argument("--trust-pickles", action="store_true",
                    help="also load a torch.save(model) pickle. WARNING: unpickling runs any code the file names")
    st.add_argument("--data", default=None, help=".npz with arrays X (inputs) and optionally y")
    st.add_argument("--dataset", default=None, metavar="DIR", help="an image folder, one subfolder per class")
    st.add_argument("--batch-size", type=int, default=1,
                    help="Server dynamic batching: a worker serves up to this many queued queries at once (default 1)")
    st.add_argument("--duration", type=float, default=30.0, help="seconds of soak at --fraction of the peak (default 30)")
    st.add_argument("--slo-ms", type=float, default=100.0, help="latency bound in milliseconds (default 100)")
    st.add_argument("--quantile", type=float, default=0.99, help="quantile of the bound, a fraction (default 0.99)")
    st.add_argument("--fraction", type=float, default=0.7, help="soak rate as a fraction of the peak (default 0.7)")
    st.add_argument("--burst-size", type=int, default=10, help="queries arriving together in the burst run (default 10)")
    st.add_argument("--save-dir", "--out", dest="save_dir", default="runs",
                    help="parent of the stress-<time> folder with stress.json, stress.html, stress.md (default runs)")
    st.add_argument("--device", default="cpu", help="cpu or cuda[:i] (default: cpu)")
    st.add_argument("--quiet", action="store_true", help="no progress on stderr")
    d = sub.add_parser("dashboard", help="one interactive HTML page of a result store's history (trends, regressions)")
    d.add_argument("--store", required=True, help="the SQLite result store that `tinybench run --store` recorded into")
    d.add_argument("--out", default=None, help="folder for dashboard.html (default: the store's folder)")
    d.add_argument("--title", default=None)
    f = sub.add_parser("profile", help="profile one model with torch.profiler, pyinstrument and cProfile; "
                                       "write traces, flame graphs and an index.html")
    f.add_argument("--model", default=None, metavar="NAME:PATH",
                   help="the model file, as for run --models (default: the digits CNN)")
    f.add_argument("--data", default=None, help=".npz with an array X (default: digits test split)")
    f.add_argument("--dataset", default=None, metavar="DIR", help="an image folder, one subfolder per class")
    f.add_argument("--image-size", type=_image_size, default=None, metavar="N|HxW", help="--dataset: resize to this")
    f.add_argument("--normalize", choices=("imagenet", "unit", "none"), default="imagenet",
                   help="--dataset pixels: imagenet mean/std (default), unit ([0, 1]) or none (0-255)")
    f.add_argument("--batch-size", type=int, default=32, help="samples per forward pass (default 32)")
    f.add_argument("--save-dir", "--out", dest="save_dir", default="profile",
                   help="each run writes into a new <save-dir>/<timestamp>/ folder (default ./profile)")
    f.add_argument("--profiler", default="torch,pyinstrument,cprofile",
                   help="comma-separated: torch, pyinstrument, cprofile (default: all three)")
    f.add_argument("--device", default="cpu", help="cpu or cuda[:i] (default: cpu)")
    f.add_argument("--use-cuda", dest="device", action="store_const", const="cuda", help="same as --device cuda")
    f.add_argument("--repeat", type=int, default=5, help="profiled forward passes per profiler (default 5)")
    f.add_argument("--warmup", type=int, default=2, help="unprofiled passes before them (default 2)")
    f.add_argument("--interval", type=float, default=None,
                   help="pyinstrument's sampling interval in seconds (default: a twentieth of a pass, 10 us to 1 ms)")
    f.add_argument("--trust-pickles", action="store_true",
                   help="also load a torch.save(model) pickle. WARNING: unpickling runs any code the file names: use "
                        "only with files you made yourself")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser


def profile_command(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    "`tinybench profile`: profile one model on one batch (`tinybench.flames.profile_model`); exit 0, or 2 on bad usage."
    import torch

    from tinybench.flames import check_profilers, new_profile_folder, profile_model, quiet_kineto
    profilers = check_profilers(args.profiler)
    if args.data is not None and args.dataset is not None:
        raise ValueError("--data FILE and --dataset DIR are two ways to give the data: pass one")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be a positive number of samples, got {args.batch_size}")
    check_number(args.repeat, "--repeat", integer=True, lo=1, hint="profiled forward passes, e.g. 5")
    check_number(args.warmup, "--warmup", integer=True, nonnegative=True, hint="unprofiled passes first, e.g. 2")
    if args.interval is not None:
        check_number(args.interval, "--interval", positive=True, hint="seconds between samples, e.g. 0.0001")
    device = resolve_device(args.device, ())
    parent = check_writable(args.save_dir)
    model = None
    if args.model is not None:
        specs = parse_model_specs(args.model) if ":" in args.model else {Path(args.model).stem: Path(args.model)}
        if len(specs) != 1:
            raise ValueError(f"--model takes one NAME:PATH (profile one model at a time), got {len(specs)}")
        ((name, path),) = specs.items()
        if args.trust_pickles:
            print("tinybench: warning: --trust-pickles: unpickling the model file runs any code it names; use only "
                  "files you made yourself", file=sys.stderr)
        model = load_model_file(path, device, args.trust_pickles)
    data = args.dataset if args.dataset is not None else args.data
    if data is not None:
        X = load_data(data, args.image_size, args.normalize)[0]
    else:
        from tinybench.workloads import load_digits
        X = load_digits(args.seed).X_test
    if len(X) < args.batch_size:
        raise ValueError(f"--batch-size {args.batch_size} is more than the {len(X)} samples in the data: "
                         "pass a smaller --batch-size")
    if model is None:
        from tinybench.workloads import load_digits, load_model
        say("loading the default model (the digits CNN; trained and cached on first use)")
        name, model = "digits-cnn", load_model(args.seed, data=load_digits(args.seed)).model
    batch = X[:args.batch_size] if torch.is_tensor(X) else torch.as_tensor(X[:args.batch_size])
    batch = batch.float() if batch.dtype == torch.float64 else batch
    folder = new_profile_folder(parent)  # one folder per run: no file of an earlier run sits beside this one's
    say(f"profiling {name} on a batch of {tuple(batch.shape)} on {device} with {', '.join(profilers)} into {folder}")
    with quiet_kineto():
        art = profile_model(model, batch, folder, profilers, device, args.repeat, args.warmup, name, args.interval,
                            settings={"command": "tinybench profile", "model_file": None if args.model is None else
                                      str(path), **{k: v for k, v in vars(args).items() if k not in ("command", "model")}})
    print(repr(art))
    for rel in art.files.values():
        print(folder / rel)
    return 0


def settings_from_args(args: argparse.Namespace) -> Any:
    "SuiteSettings from `tinybench run` options (`--quick` shortens every duration)."
    from tinybench.suite import SuiteSettings
    rounds = args.rounds if args.rounds is not None else (3 if args.quick else 20)  # an explicit --rounds wins
    quick = dict(min_time=0.1, scenario_duration=0.2, sweep_min_time=0.02, max_rounds=max(20, rounds),
                 time_budget=3.0) if args.quick else {}
    return SuiteSettings(**{"batch_size": args.batch_size, "min_time": args.min_time, "rounds": rounds,
                            "max_rounds": args.max_rounds if args.max_rounds is not None else max(200, rounds),
                            "time_budget": args.time_budget,
                            "sequential": not args.fixed_rounds,
                            "scenarios": args.scenarios, "scenario_duration": args.scenario_duration,
                            "batch_sizes": args.batch_sizes, "sweep_min_time": 0.1, "memory": not args.no_memory,
                            "margin": args.margin, "device": args.device, **quick,
                            "latency_budget": None if args.latency_budget_ms is None else args.latency_budget_ms / 1e3,
                            "tokens_per_sample": args.tokens_per_sample})


def run_command(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    """`tinybench run`: exit 0; 1 if a model failed or regressed (or the gate could not judge it); 2 on bad usage;
    130 after Ctrl-C (results.json holds what was measured)."""
    if args.baseline and not args.store:
        raise ValueError("--baseline needs --store PATH (where the baseline lives)")
    if args.dashboard and not args.store:
        raise ValueError("--dashboard needs --store PATH (the dashboard shows the store's history)")
    models = parse_model_specs(args.models) if args.models is not None else None
    if args.trust_pickles:
        print("tinybench: warning: --trust-pickles: unpickling the model files runs any code they name; use only "
              "files you made yourself", file=sys.stderr)
    if args.data is not None and args.dataset is not None:
        raise ValueError("--data FILE and --dataset DIR are two ways to give the data: pass one")
    t0 = time.perf_counter()
    with InterruptGuard() as guard:
        folder, result = run(args.save_dir, models, args.dataset if args.dataset is not None else args.data,
                             settings_from_args(args), args.report_format, args.seed, say, args.store, args.baseline,
                             args.tolerance, args.title, args.trust_pickles, guard, args.image_size, args.normalize,
                             args.cost_per_hour, args.channels)
    from tinybench.report import Report
    print(repr(result))
    for line in Report(result).recommendations():
        print(f"- {line}")
    say(f"done in {time.perf_counter() - t0:.0f} s: " + ", ".join(p.name for p in sorted(folder.iterdir())) +
        f" in {folder}")
    failed = [n for n, m in result.models.items() if not m.ok]
    regressed = [n for n, rep in (result.regressions or {}).items() if rep is not None and not rep["ok"]]
    if failed:
        say(f"failed: {', '.join(failed)} (see the report's limitations)")
    if regressed:
        say(f"regressed against the stored baseline, or could not be judged: {', '.join(regressed)}")
    if args.dashboard:
        from tinybench.dashboard import build_dashboard
        say(f"dashboard: {build_dashboard(args.store)}")
    if result.interrupted or guard.count:
        say("interrupted: the results hold what was measured" if result.interrupted else "interrupted")
        return 130
    return 1 if failed or regressed else 0


def stress_command(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    """`tinybench stress` (`tinybench.stress.stress_test` on one model): exit 0 when every phase ran, 1 when no rate
    met the bound, 2 on bad input, 130 after Ctrl-C (what was measured is saved)."""
    import numpy as np

    from tinybench.scenarios import ArrayDataset, TorchSUT
    from tinybench.stress import check_stress_options, stress_test
    check_number(args.duration, "--duration", positive=True, hint="seconds of soak, e.g. 30")
    check_number(args.slo_ms, "--slo-ms", positive=True, hint="milliseconds, e.g. 100")
    check_number(args.burst_size, "--burst-size", integer=True, lo=1, hint="queries arriving together, e.g. 10")
    check_number(args.fraction, "--fraction", positive=True, hi=1, hint="of the peak rate for the soak, e.g. 0.7")
    check_stress_options(args.duration, args.slo_ms / 1e3, args.quantile, args.fraction, args.burst_size)
    check_number(args.batch_size, "--batch-size", integer=True, lo=1)
    if args.data is not None and args.dataset is not None:
        raise ValueError("--data FILE and --dataset DIR are two ways to give the data: pass one")
    spec = parse_model_specs(args.model) if args.model is not None else {}
    if len(spec) > 1:
        raise ValueError(f"--model takes one name:path, got {len(spec)}: stress-test one model at a time")
    device = resolve_device(args.device, ())
    parent = check_writable(args.save_dir)
    name, model = next(((n, load_model_file(p, device, args.trust_pickles)) for n, p in spec.items()), ("fp32", None))
    data = args.dataset if args.dataset is not None else args.data
    X, y = load_data(data) if data is not None else (None, None)
    if model is None or X is None:
        from tinybench.workloads import default_workload
        say("loading the default workload (digits + CNN; trains and caches it on first use)")
        wl = default_workload(device=device)
        model = model if model is not None else wl.variants["fp32"].model
        X, y = (X, y) if X is not None else (wl.data.X_test, wl.data.y_test)
    dataset = ArrayDataset(np.asarray(X), None if y is None else np.asarray(y).tolist())
    with InterruptGuard() as guard:
        result = stress_test(TorchSUT(model, device), dataset, args.duration, args.slo_ms / 1e3, args.quantile,
                             args.fraction, args.burst_size, name=name, max_batch=args.batch_size, progress=say)
        guard.hold()  # the files are written whole, Ctrl-C or not
        folder = parent / time.strftime("stress-%Y%m%d-%H%M%S")
        k = 1
        while folder.exists():
            folder, k = parent / f"{folder.name.split('.')[0]}.{k}", k + 1
        paths = result.save(folder)
    print(repr(result))
    say("wrote " + ", ".join(p.name for p in paths.values()) + f" in {folder}")
    if result.interrupted or guard.count:
        say("interrupted: the files hold what was measured")
        return 130
    return 0 if result.complete else 1


def error_line(e: BaseException) -> str:
    "One line for the user: the first non-blank line of the exception's message, else its type; never empty."
    text = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), type(e).__name__)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `tinybench` command: exit 0 success; 1 failed run, regression, or a file that could not be
    written; 2 bad usage; 130 Ctrl-C (one line, no traceback)."""
    try:
        return _main(argv)
    except KeyboardInterrupt:  # before measuring (loading, startup) or while writing the report
        ignore_ctrl_c()
        print("tinybench: interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    say = Progress(enabled=not getattr(args, "quiet", False))
    try:
        if args.command == "compare":
            print(compare_runs(args.old, args.new, args.margin), end="")
            return 0
        if args.command == "report":
            paths = report_files(args.results, args.out, args.report_format, args.title, args.cost_per_hour)
            print("\n".join(str(p) for p in paths.values()))
            return 0
        if args.command == "plan":
            return plan_command(args, say)
        if args.command == "stress":
            return stress_command(args, say)
        if args.command == "dashboard":
            from tinybench.dashboard import build_dashboard
            print(build_dashboard(args.store, args.out, args.title))
            return 0
        if args.command == "profile":
            return profile_command(args, say)
        return run_command(args, say)
    except OSError as e:  # disk full, read-only folder: what was written is kept, and the line says where
        print(f"tinybench: error: {error_line(e)}", file=sys.stderr)
        return 1
    except (ValueError, RuntimeError) as e:  # bad input (and ResultStoreError): one line, no traceback
        print(f"tinybench: error: {error_line(e)}", file=sys.stderr)
        return 2

# %% [markdown]
# A quick run into a temporary folder:

# %%
import tempfile

from tinybench.suite import SuiteResult

with tempfile.TemporaryDirectory() as tmp:
    assert main(["run", "--save-dir", tmp, "--quick", "--quiet", "--scenarios", "SingleStream"]) == 0
    (folder,) = Path(tmp).iterdir()
    assert {p.name for p in folder.iterdir()} >= {"results.json", "report.md", "report.html", "figures"}
    quick = SuiteResult.load(folder / "results.json")
    assert list(quick.models)[0] == "fp32" and quick.models["fp32"].accuracy > 0.9
