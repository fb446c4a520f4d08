# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # LoadGen adapter: the same SUT under MLPerf LoadGen
#
# A support notebook for module 02 (`tinybench.loadgen`, optional: it needs `pip install
# mlcommons-loadgen`). It runs a tinybench SUT and dataset under the real MLPerf LoadGen with
# settings equivalent to a `tinybench.scenarios.TestSettings`, and parses LoadGen's detail log into
# a `LoadGenResult` whose accessors match `ScenarioResult`'s, so that the two can be compared.

# %%
#| default_exp loadgen

# %%
#| export
from __future__ import annotations

import dataclasses
import json
import math
import queue
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from tinybench.scenarios import TestSettings, headline_metric
from tinybench.display import format_seconds
from tinybench.checks import check_number, check_quantile

# %%
#| export
@dataclass(repr=False)
class LoadGenResult:
    "What MLPerf LoadGen reported for a run (parsed from mlperf_log_detail.txt); times in seconds."
    settings: TestSettings
    values: dict[str, Any]
    log_dir: str
    n_errors: int = 0
    issue_lateness: Any = None  # numpy array of seconds, from the trace, when `run_loadgen(trace=True)`

    @property
    def valid(self) -> bool:
        return self.values.get("result_validity") == "VALID" and not self.n_errors

    @property
    def reasons(self) -> list[str]:
        "The LoadGen checks that failed (empty when VALID)."
        checks = {"result_min_duration_met": "min duration not met", "result_min_queries_met": "min queries not met",
                  "early_stopping_met": "early stopping not met",
                  "result_perf_constraints_met": "latency bound not met"}
        out = [msg for key, msg in checks.items() if self.values.get(key) is False]
        if self.n_errors:
            out.append(f"{self.n_errors} queries raised in the SUT")
        return out

    def quantile(self, q: float) -> float:
        "Latency quantile q, a fraction (LoadGen reports 0.5, 0.9, 0.95, 0.97, 0.99, 0.999), seconds; NaN if not reported."
        q = check_quantile(q)
        per_query = f"result_{q * 100:.2f}_percentile_per_query_latency_ns"  # MultiStream's query latency
        v = self.values.get(per_query, self.values.get(f"result_{q * 100:.2f}_percentile_latency_ns"))
        return math.nan if v is None else v / 1e9

    @property
    def qps(self) -> float:
        for key in ("result_completed_samples_per_sec", "result_scheduled_samples_per_sec",
                    "result_qps_with_loadgen_overhead", "result_samples_per_second"):
            if key in self.values:
                return float(self.values[key])
        return math.nan

    @property
    def samples_per_second(self) -> float:
        return float(self.values.get("result_samples_per_second", self.qps))

    @property
    def early_stopping_estimate(self) -> float | None:
        "LoadGen's conservative percentile estimate (SingleStream/MultiStream), seconds."
        key = "early_stopping_latency_ss" if self.settings.scenario == "SingleStream" else "early_stopping_latency_ms"
        v = self.values.get(key)
        return v / 1e9 if v else None

    @property
    def metric(self) -> tuple[str, float]:
        "The scenario's headline metric (name, value), as `ScenarioResult.metric`."
        return headline_metric(self)

    def to_dict(self) -> dict[str, Any]:
        name, value = self.metric
        return {"source": "mlperf_loadgen", "scenario": self.settings.scenario, "valid": self.valid,
                "reasons": self.reasons, "metric": name, "value": value, "log_dir": self.log_dir,
                "values": dict(self.values)}

    def __repr__(self) -> str:
        name, value = self.metric
        v = format_seconds(value) if name.endswith("latency") else f"{value:,.1f}"
        return (f"LoadGenResult({self.settings.scenario}: {'VALID' if self.valid else 'INVALID'}, {name} {v})"
                + "".join(f"\n  ! {x}" for x in self.reasons))

    def _repr_html_(self) -> str:
        return f"<pre>{self!r}</pre>"

# %%
#| export
def parse_detail_log(path: str | Path) -> dict[str, Any]:
    "The `:::MLLOG` key/value records of a LoadGen mlperf_log_detail.txt (later values win)."
    values: dict[str, Any] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith(":::MLLOG "):
                rec = json.loads(line[len(":::MLLOG "):])
                values[rec["key"]] = rec.get("value")
    return values


_ISSUE_DELAY = re.compile(r'"name":"Latency".*?"issue_delay":(\d+)')


def parse_issue_delays(path: str | Path):
    """Issue lateness per sample (actual minus scheduled issue time), seconds, from LoadGen's
    mlperf_log_trace.json. The file is not strict JSON (LoadGen writes it as a stream), so its
    `Latency` counter events are read line by line."""
    import numpy as np
    with open(path, encoding="utf-8") as f:
        return np.array([int(m.group(1)) for line in f if (m := _ISSUE_DELAY.search(line))], dtype=float) / 1e9


def loadgen_settings(settings: TestSettings, n_samples: int):
    "The mlperf_loadgen.TestSettings equivalent to a tinybench `TestSettings`."
    if not isinstance(settings, TestSettings):
        raise TypeError(f"s must be a tinybench TestSettings, got {type(settings).__name__} {settings!r:.60}")
    settings = dataclasses.replace(settings)  # checks the fields again: one may have been set to a bad value after construction
    n_samples = check_number(n_samples, "n_samples", integer=True, lo=1, hint="samples LoadGen may load")
    import mlperf_loadgen as lg
    t = lg.TestSettings()
    t.scenario = getattr(lg.TestScenario, settings.scenario)
    t.mode = lg.TestMode.PerformanceOnly
    t.min_duration_ms = int(settings.min_duration * 1000)
    t.max_duration_ms = int(settings.max_duration * 1000)
    t.min_query_count = int(settings.min_query_count)
    t.performance_sample_count_override = n_samples
    t.qsl_rng_seed = t.sample_index_rng_seed = settings.sample_seed
    t.schedule_rng_seed = settings.schedule_seed
    if settings.scenario == "Server":
        t.server_target_qps = settings.target_qps
        t.server_target_latency_ns = int(settings.target_latency * 1e9)
        t.server_target_latency_percentile = settings.latency_quantile
    elif settings.scenario == "SingleStream":
        t.single_stream_expected_latency_ns = 100_000  # small: LoadGen pre-generates enough queries
        t.single_stream_target_latency_percentile = settings.latency_quantile
    elif settings.scenario == "MultiStream":
        t.multi_stream_expected_latency_ns = 100_000
        t.multi_stream_samples_per_query = settings.samples_per_query
        t.multi_stream_target_latency_percentile = settings.latency_quantile
    else:
        t.offline_expected_qps = settings.expected_qps or 1000.0
    return t

# %% [markdown]
# The adapter: the QSL loads the performance samples before timing (as in `run`), `issue_queries`
# only enqueues, and `workers` threads call the SUT (Offline in batches of `offline_batch_size`).

# %%
#| export
def run_loadgen(sut: Callable[[list], Any], dataset: Any, settings: TestSettings | None = None,
                log_dir: str | Path | None = None, trace: bool = False, **overrides) -> LoadGenResult:
    """Run `sut` on `dataset` under MLPerf LoadGen with settings equivalent to `settings`; returns its
    parsed result. `trace=True` turns on LoadGen's trace and fills `issue_lateness` from it."""
    if settings is not None and not isinstance(settings, TestSettings):
        raise TypeError(f"settings must be a TestSettings or None, got {type(settings).__name__}")
    s = settings if settings is not None else TestSettings(**overrides)
    if settings is not None and overrides:
        s = TestSettings(**{**settings.to_dict(), **overrides})
    if not callable(sut):
        raise TypeError(f"the SUT must be callable on a list of samples, got {type(sut).__name__}")
    if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__") or isinstance(dataset, (str, bytes)):
        raise TypeError(f"dataset must support len() and indexing (an ArrayDataset, a list), got "
                        f"{type(dataset).__name__}")
    import mlperf_loadgen as lg
    n = len(dataset)
    if n == 0:
        raise ValueError("the dataset is empty: a benchmark needs at least one sample")
    n = min(n, s.performance_sample_count or n)
    samples: dict[int, Any] = {}
    work: queue.SimpleQueue = queue.SimpleQueue()
    errors = [0]
    batch = s.offline_batch_size if s.scenario == "Offline" else max(1, s.samples_per_query)

    def issue_queries(query_samples):  # must return at once: only enqueue
        qs = list(query_samples)
        for i in range(0, len(qs), batch):
            work.put(qs[i:i + batch])

    def worker():
        while True:
            group = work.get()
            if group is None:
                return
            try:
                sut([samples[q.index] for q in group])
            except Exception:  # counted and reported, as in `run`; LoadGen still needs the completion
                errors[0] += 1
            lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in group])

    def load(indices):
        for i in indices:
            samples[i] = dataset[i]

    def unload(indices):
        for i in indices:
            samples.pop(i, None)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(s.workers)]
    for th in threads:
        th.start()
    out = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="tinybench-loadgen-"))
    out.mkdir(parents=True, exist_ok=True)
    log = lg.LogSettings()
    log.log_output.outdir = str(out)
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = trace
    lg_sut = lg.ConstructSUT(issue_queries, lambda: None)
    lg_qsl = lg.ConstructQSL(len(dataset), n, load, unload)
    try:
        lg.StartTestWithLogSettings(lg_sut, lg_qsl, loadgen_settings(s, n), log)
    finally:
        for _ in threads:
            work.put(None)
        lg.DestroyQSL(lg_qsl)
        lg.DestroySUT(lg_sut)
    lateness = parse_issue_delays(out / "mlperf_log_trace.json") if trace else None
    return LoadGenResult(s, parse_detail_log(out / "mlperf_log_detail.txt"), str(out), errors[0], lateness)

# %% [markdown]
# A quick check against a SUT of known service time (runs only where LoadGen is installed):

# %%
import time

import numpy as np

from tinybench.scenarios import ArrayDataset


def sleep_sut(batch):
    time.sleep(2e-3)  # a known service time: the point of this check
    return [0] * len(batch)


try:
    import mlperf_loadgen  # noqa: F401
    res = run_loadgen(sleep_sut, ArrayDataset(np.arange(16)), scenario="SingleStream", min_duration=0.5)
    print(res)
    assert res.valid and abs(res.quantile(0.9) - 2e-3) < 5e-4
except ImportError:
    print("mlcommons-loadgen is not installed")
