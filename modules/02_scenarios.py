# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Scenarios: load generation as MLPerf defines it
#
# A single timed call (module 00) tells you how fast a model *can* answer. Users ask different
# questions: *what latency will my users see at 200 requests per second?* and *how many samples
# per second can this box do?* MLPerf Inference answers them with four **scenarios**, run by its
# load generator (LoadGen) against a **system under test** (SUT) fed from a **query sample
# library** (QSL). This notebook builds the same machinery:
#
# | scenario | models | query | metric |
# |---|---|---|---|
# | SingleStream | one user, one request at a time (a phone app) | 1 sample; the next when it completes | p90 latency |
# | MultiStream | one stream of multi-sample requests (cameras of a car) | `samples_per_query` samples; next when done | p99 query latency |
# | Server | many independent users (a web service) | 1 sample, Poisson arrivals at `target_qps` | max QPS with p99 latency under a bound |
# | Offline | a batch job | all samples at once | samples per second |
#
# 1. The four components, and the protocols tinybench uses for them.
# 2. SingleStream (**exercise 1**).
# 3. Open-loop load: Poisson arrivals (**exercise 2**), and **coordinated omission** (**exercise 3**);
#    load patterns beyond Poisson (bursts, a ramp).
# 4. The runner: how each scenario issues queries (the plumbing is `tinybench.runner`); validity:
#    min duration, min queries, early stopping, the latency bound, errors; issuing on time.
# 5. Reading a result, on SUTs of known service time; a soak run that tests latency and memory for trends.
# 6. Finding the peak rate.
# 7. Checking ourselves against MLPerf LoadGen.
# 8. Batching: throughput against latency.
# 9. Threads or processes: a SUT that holds the GIL (`tinybench.procsut`).

# %%
#| default_exp scenarios

# %%
#| export
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from tinybench.display import format_seconds
from tinybench.env import environment
from tinybench.monitor import ResourceMonitor, ThermalReport, thermal_report
from tinybench.procsut import ProcessSUT
from tinybench.runner import (
    ISSUE_MODES, NONFINITE_OUTPUT, Pacer, Recorder, batch_error, execute, max_over_allowed, offline_views, output_errors)
from tinybench.stats import early_stopping, early_stopping_min_passing
from tinybench.checks import check_number, check_quantile
from tinybench.timing import nvtx_range

# the runner's and ProcessSUT's public names are importable from here too: `from tinybench.scenarios import Pacer`
_all_ = ["ISSUE_MODES", "NONFINITE_OUTPUT", "batch_error", "output_errors", "Pacer", "max_over_allowed", "ProcessSUT"]

# %% nbgrader={"grade": false, "grade_id": "notebook-setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import torch
from threadpoolctl import threadpool_limits

from tinybench.nbutils import reference_fallback

# Thread pools, set explicitly: numpy's BLAS and torch each start one thread per core, and on a small or shared
# machine the two pools compete for the same cores, so a measurement times the contention instead of the code.
# One thread each keeps the experiments below comparable; the cells where threads are the lesson set their own.
torch.set_num_threads(1)
threadpool_limits(1)
use_reference_if_open = reference_fallback("tinybench.scenarios")


class SleepSUT:
    "A SUT with a known service time per call: it sleeps (a sleep is the point: we know the true answer)."
    def __init__(self, service=1e-3, stall_at=None, stall=0.0):
        self.service, self.stall_at, self.stall, self.calls = service, stall_at, stall, 0
    def __call__(self, batch):
        self.calls += 1
        time.sleep(self.stall if self.calls == self.stall_at else self.service)
        return [0] * len(batch)

# %% [markdown]
# If you read the student version with an exercise still open, the cell after each exercise's
# test swaps in tinybench's reference implementation so the rest of the notebook still runs.
#
# `SleepSUT` above is a test instrument, not a model: it sleeps for a known service time so we
# can check the load generator against queueing theory. Real models come from `tinybench.workloads`.
#
# ## 1. The four components
#
# - **SUT**: anything callable on a *batch* (a list of samples) that returns one output per
#   sample. `TorchSUT` wraps a PyTorch model: it stacks the batch (a `collate` function), moves it
#   to the device, runs under `torch.inference_mode()`, and synchronizes CUDA before the query
#   counts as complete.
# - **QSL / dataset**: `len()` and indexing, optionally `labels` for accuracy. As in LoadGen, the
#   *performance samples* are loaded into memory before timing starts, so data loading is not
#   what we measure.
# - **Model**: inside the SUT.
# - **Load generator**: decides *when* each query is issued and timestamps everything.

# %%
#| export
class TorchSUT:
    """A PyTorch model as a SUT: collate the batch, move it to `device`, run under inference_mode, sync CUDA.

    A batch is a list of samples, or (Offline, when the dataset is one array) a contiguous array or tensor of
    samples, used as it is without a copy (`accepts_arrays`). `nvtx=True` marks each query with an NVTX range
    (for Nsight timelines; a no-op without CUDA)."""
    accepts_arrays = True

    def __init__(self, model: Callable, device: str = "cpu", collate: Callable | None = None, nvtx: bool = False):
        import torch
        self.model, self.device, self.nvtx = model, device, nvtx
        self.collate = collate or stack_samples
        self._torch, self._device = torch, torch.device(device)

    def __call__(self, batch: list) -> Any:
        torch = self._torch
        with nvtx_range(f"query ({len(batch)} samples)") if self.nvtx else contextlib.nullcontext():
            x = batch if isinstance(batch, torch.Tensor) else (
                torch.from_numpy(batch) if isinstance(batch, np.ndarray) else self.collate(batch))
            if x.device != self._device:  # a no-op .to() still costs ~5 us per call
                x = x.to(self.device, non_blocking=True)
            with torch.inference_mode():
                out = self.model(x)
            if self.device.startswith("cuda"):
                torch.cuda.synchronize(self.device)
        return out

    def __repr__(self) -> str:
        return f"TorchSUT({type(self.model).__name__}, device={self.device!r})"


def stack_samples(batch: Sequence) -> Any:
    "TorchSUT's default collate: a list of tensors, numpy arrays or numbers as one tensor (first axis: samples)."
    import torch
    if all(isinstance(x, torch.Tensor) for x in batch):
        return torch.stack(list(batch))
    return torch.from_numpy(np.stack([x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x) for x in batch]))


class ArrayDataset:
    "A QSL over arrays/tensors: `X[i]` is sample i, optional labels `y`."
    def __init__(self, X: Sequence, y: Sequence | None = None):
        if not hasattr(X, "__len__") or not hasattr(X, "__getitem__") or isinstance(X, (str, bytes)):
            raise TypeError(f"X must be a sequence of samples (an array, tensor or list), got {type(X).__name__}")
        if y is not None and (not hasattr(y, "__len__") or isinstance(y, (str, bytes))):
            raise TypeError(f"y must be a sequence of labels or None, got {type(y).__name__}")
        if len(X) == 0:
            raise ValueError("the dataset is empty: a benchmark needs at least one sample")
        if y is not None and len(y) != len(X):
            raise ValueError(f"X has {len(X)} samples but y has {len(y)} labels")
        self.X, self.labels = X, y

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i: int) -> Any:
        return self.X[i]

    @property
    def array(self) -> Any:
        "The samples as one array or tensor (first axis: samples), or None when X is a list."
        return self.X if hasattr(self.X, "shape") and hasattr(self.X, "__getitem__") and len(self.X.shape) >= 1 else None

# %% [markdown]
# ### Settings
#
# `TestSettings` mirrors LoadGen's, with defaults sized for a laptop (seconds, not ten
# minutes). Percentiles follow LoadGen: SingleStream reports p90, MultiStream and Server p99.
# The default minimum query count is what LoadGen's early stopping (module 01) needs when no
# query is over the bound: 64 for SingleStream at p90, 662 for MultiStream at p99, 459 for Server.
# Quantiles here are fractions too: `latency_quantile=0.99` is LoadGen's `target_latency_percentile`.
#
# One setting LoadGen does not have: `stop_when_invalid` (on by default). A Server run past the
# SUT's capacity builds a backlog that only grows; once more queries are certainly over the latency
# bound than early stopping allows for the whole schedule, VALID is impossible, and waiting for the
# backlog to drain (up to `max_duration`) only wastes time. The run then stops, lets the queries
# already queued finish for a short grace period, and is INVALID with that reason. A soak test turns
# it off: running the whole duration is its point.

# %%
#| export
SCENARIOS = ("SingleStream", "MultiStream", "Server", "Offline")
LOAD_PATTERNS = ("poisson", "burst", "ramp")
_DEFAULT_QUANTILE = {"SingleStream": 0.90, "MultiStream": 0.99, "Server": 0.99, "Offline": 0.90}


@dataclass
class TestSettings:
    "How to run a scenario. Times in seconds, rates in queries per second."
    scenario: str = "SingleStream"
    min_duration: float = 2.0
    max_duration: float = 60.0
    min_query_count: int | None = None
    target_qps: float = 100.0
    target_latency: float = 0.1
    latency_quantile: float | None = None
    samples_per_query: int = 8
    offline_batch_size: int = 32
    expected_qps: float | None = None
    workers: int = 1
    max_batch: int = 1
    max_wait: float = 0.0
    load_pattern: str = "poisson"
    burst_size: int = 10
    ramp_to_qps: float | None = None
    schedule_seed: int = 0
    sample_seed: int = 0
    performance_sample_count: int | None = None
    stop_when_invalid: bool = True
    issue_mode: str = "hybrid"

    __test__ = False  # not a pytest test class

    def __post_init__(self):
        self._check_numbers()
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {SCENARIOS}, got {self.scenario!r}")
        if self.latency_quantile is None:
            self.latency_quantile = _DEFAULT_QUANTILE[self.scenario]
        self.latency_quantile = check_quantile(self.latency_quantile, "latency_quantile", open_interval=True)
        if self.ramp_to_qps is not None and self.load_pattern == "poisson":
            self.load_pattern = "ramp"  # asking for a ramp target means a ramp
        if self.min_query_count is None:  # what early stopping needs when no query is over the bound
            p = self.latency_quantile
            self.min_query_count = {"Offline": 1, "Server": early_stopping_min_passing(0, p)}.get(
                self.scenario, early_stopping_min_passing(1, p) + 1) if 0 < p < 1 else 1
        checks = [(self.min_duration >= 0, "min_duration must be >= 0 seconds"),
                  (self.max_duration > 0, "max_duration must be > 0 seconds"),
                  (self.max_duration >= self.min_duration, "max_duration must be >= min_duration"),
                  (self.min_query_count >= 1, "min_query_count must be >= 1"),
                  (self.target_qps > 0, "target_qps must be > 0 queries per second"),
                  (self.target_latency > 0, "target_latency must be > 0 seconds"),
                  (self.samples_per_query >= 1, "samples_per_query must be >= 1"),
                  (self.offline_batch_size >= 1, "offline_batch_size must be >= 1"),
                  (self.expected_qps is None or self.expected_qps > 0, "expected_qps must be > 0 (Offline)"),
                  (self.workers >= 1, "workers must be >= 1"),
                  (self.max_batch >= 1 and self.max_wait >= 0, "max_batch must be >= 1 and max_wait >= 0"),
                  (self.load_pattern in LOAD_PATTERNS, f"load_pattern must be one of {LOAD_PATTERNS}"),
                  (self.issue_mode in ISSUE_MODES, f"issue_mode must be one of {ISSUE_MODES}, got {self.issue_mode!r}"),
                  (isinstance(self.stop_when_invalid, bool), f"stop_when_invalid must be True or False, got "
                                                             f"{self.stop_when_invalid!r}"),
                  (self.burst_size >= 1, "burst_size must be >= 1"),
                  (self.ramp_to_qps is None or self.ramp_to_qps > 0, "ramp_to_qps must be > 0 queries per second")]
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"{msg} (TestSettings for {self.scenario})")

    def _check_numbers(self) -> None:
        "Every numeric field is a finite number of the right kind (check_number); the ranges are checked after."
        units = {"min_duration": "seconds", "max_duration": "seconds", "target_qps": "queries per second",
                 "target_latency": "seconds", "max_wait": "seconds"}
        for name, unit in units.items():
            setattr(self, name, check_number(getattr(self, name), name, hint=unit))
        for name in ("samples_per_query", "offline_batch_size", "workers", "max_batch", "burst_size",
                     "schedule_seed", "sample_seed"):
            setattr(self, name, check_number(getattr(self, name), name, integer=True))
        for name in ("min_query_count", "performance_sample_count"):
            if getattr(self, name) is not None:
                setattr(self, name, check_number(getattr(self, name), name, integer=True, hint="or None"))
        for name in ("expected_qps", "ramp_to_qps"):
            if getattr(self, name) is not None:
                setattr(self, name, check_number(getattr(self, name), name, hint="queries per second, or None"))
        if not isinstance(self.scenario, str) or not isinstance(self.load_pattern, str):
            raise TypeError(f"scenario and load_pattern must be strings, got {self.scenario!r} and "
                            f"{self.load_pattern!r}")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

# %% [markdown]
# ## 2. SingleStream
#
# One query at a time: issue a sample, wait until the SUT answers, issue the next, and keep
# going until **both** the minimum duration and the minimum number of queries are reached (or
# `max_duration` runs out). Latency is completion minus issue. The minimum duration exists
# because a machine's behaviour changes over seconds (clocks boost then throttle, caches and
# allocators settle); the minimum count because a p90 needs enough samples to be estimated.
#
# ### Exercise 1: `single_stream` (3 points)
#
# Call `sut([samples[i % len(samples)]])` for i = 0, 1, 2, … one after another. Before each call
# read `clock()` (the issue time), after it read `clock()` (the completion time), and append the
# pair `(issue, completion)` to a list. Stop when at least `min_queries` queries have completed
# **and** at least `min_duration` seconds have passed since the first issue; also stop, whatever
# else, once `max_duration` seconds have passed since the first issue. Return the list.
# The test uses a fake clock that advances a known amount per call.

# %% nbgrader={"grade": false, "grade_id": "single-stream", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def single_stream(sut: Callable[[list], Any], samples: Sequence, min_queries: int, min_duration: float,
                  max_duration: float = math.inf,
                  clock: Callable[[], float] = time.perf_counter) -> list[tuple[float, float]]:
    "SingleStream loop: one query of one sample at a time; returns (issue, completion) times per query."
    ### BEGIN SOLUTION
    times: list[tuple[float, float]] = []
    start = None
    i = 0
    while True:
        issue = clock()
        if start is None:
            start = issue
        sut([samples[i % len(samples)]])
        done = clock()
        times.append((issue, done))
        i += 1
        elapsed = done - start
        if (len(times) >= min_queries and elapsed >= min_duration) or elapsed >= max_duration:
            return times
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test-single-stream", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
class StepClock:
    def __init__(self): self.t = 0.0
    def __call__(self): return self.t

clk = StepClock()
seen = []
def fake_sut(batch):
    seen.append(batch)
    clk.t += 0.25                                  # each query takes 0.25 s of fake time (exact in binary)
    return [None] * len(batch)

times = single_stream(fake_sut, ["a", "b", "c"], min_queries=5, min_duration=2.5, clock=clk)
assert len(times) == 10, f"2.5 s at 0.25 s per query needs 10 queries (more than min_queries=5), got {len(times)}"
assert seen[:4] == [["a"], ["b"], ["c"], ["a"]], \
    f"one sample per query, cycling through the samples: expected [['a'], ['b'], ['c'], ['a']], got {seen[:4]}"
assert all((d - i) == 0.25 for i, d in times), \
    f"each pair is (issue, completion), 0.25 s apart: got {times[:3]} ..."
### BEGIN HIDDEN TESTS
from tinybench.nbutils import assert_own as _assert_own
_assert_own(single_stream, "tinybench.scenarios")
clk.t, seen[:] = 0.0, []
n = len(single_stream(fake_sut, [1], min_queries=25, min_duration=1.0, clock=clk))
assert n == 25, f"min_queries=25 (25 × 0.25 s > min_duration 1 s): expected 25 queries, got {n}"
clk.t = 0.0
n = len(single_stream(fake_sut, [1], min_queries=1000, min_duration=0.0, max_duration=5.0, clock=clk))
assert n == 20, f"max_duration=5 s stops the run at 5 s / 0.25 s = 20 queries, got {n}"
assert all(t2[0] >= t1[1] for t1, t2 in zip(times, times[1:])), \
    "the next query starts after the previous completes: some issue time is before the previous completion"
### END HIDDEN TESTS

# %%
single_stream = use_reference_if_open(single_stream, lambda b: b, [0], 1, 0.0, compare=False)  # timed

# %% [markdown]
# With a real clock and a SUT of known service time, the SingleStream p90 is the service time
# plus the harness's overhead:

# %%
t = np.array(single_stream(SleepSUT(2e-3), [0], min_queries=200, min_duration=0.3))
lat = t[:, 1] - t[:, 0]
print(f"{len(lat)} queries, p90 {np.quantile(lat, 0.9) * 1e3:.3f} ms for a 2 ms service time")

# %% [markdown]
# ## 3. Open-loop load, Poisson arrivals and coordinated omission
#
# SingleStream is a **closed loop**: the load generator waits for each answer before sending the
# next request, so a slow SUT simply receives fewer requests. Real users do not wait for each
# other: requests arrive whether or not the server is busy (**open loop**). Independent users
# give **Poisson** arrivals: exponential gaps with mean 1/rate. LoadGen pre-generates the whole
# schedule from a seed, so a run is reproducible and the schedule does not depend on the SUT.
#
# ### Exercise 2: `poisson_schedule` (2 points)
#
# Return the arrival times (seconds from the start, a float numpy array of length `n`) of a
# Poisson process at `qps` queries per second: draw `n` gaps with
# `np.random.default_rng(seed).exponential(1 / qps, n)` and return their cumulative sum.
# `qps` must be positive and `n` non-negative (those checks are given).

# %% nbgrader={"grade": false, "grade_id": "poisson-schedule", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def poisson_schedule(qps: float, n: int, seed: int = 0) -> np.ndarray:
    "Arrival times (seconds from start) of `n` queries of a seeded Poisson process at `qps` per second."
    if not qps > 0:
        raise ValueError(f"qps must be a positive rate (queries per second), got {qps}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    ### BEGIN SOLUTION
    return np.cumsum(np.random.default_rng(seed).exponential(1 / qps, n))
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test-poisson-schedule", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
s = np.asarray(poisson_schedule(100.0, 5000, seed=3))
assert s.shape == (5000,), f"expected 5000 arrival times, got an array of shape {s.shape}"
assert abs(5000 / s[-1] - 100) < 5, f"qps=100: the rate should be ~100/s, got {5000 / s[-1]:.1f}/s"
assert np.all(np.diff(s) > 0), f"arrival times must increase, got {s[:5]} ..."
want = np.cumsum(np.random.default_rng(3).exponential(0.01, 5000))
assert np.array_equal(s, want), \
    f"seeded as specified (cumsum of default_rng(seed).exponential(1 / qps, n)): expected {want[:3]} ..., got {s[:3]} ..."
### BEGIN HIDDEN TESTS
from tinybench.nbutils import assert_own as _assert_own
_assert_own(poisson_schedule, "tinybench.scenarios")
import scipy.stats as _st
gaps = np.diff(np.r_[0.0, poisson_schedule(50.0, 4000, seed=9)])
_p = _st.kstest(gaps, "expon", args=(0, 1 / 50)).pvalue
assert _p > 0.001, f"gaps must be exponential with mean 1/50 s: KS test p = {_p:.2g} (expected > 0.001)"
assert np.array_equal(poisson_schedule(10, 10, seed=1), poisson_schedule(10, 10, seed=1)), \
    "the same seed must give the same schedule, got two different ones"
assert not np.array_equal(poisson_schedule(10, 10, seed=1), poisson_schedule(10, 10, seed=2)), \
    "seeds 1 and 2 must give different schedules, got the same"
_shape = np.shape(poisson_schedule(10, 0))
assert _shape == (0,), f"n=0: expected an empty array of shape (0,), got shape {_shape}"
### END HIDDEN TESTS

# %%
poisson_schedule = use_reference_if_open(poisson_schedule, 100.0, 10)  # a rate != 1 catches rate-for-scale

# %% [markdown]
# **Coordinated omission.** Suppose the server stalls for 200 ms once. Requests keep arriving
# during the stall and queue up; each of them waits. A load generator that times each request
# *from the moment it sends it*, and only sends when the server is ready (closed loop), never
# sees that waiting: it "coordinates" with the server and omits exactly the bad samples. The
# latency a user sees runs from the **scheduled arrival**.
#
# For one FIFO server the waiting is given by Lindley's recursion: a query starts when it has
# arrived *and* the previous one has finished, `start_i = max(arrival_i, finish_{i−1})`,
# `finish_i = start_i + service_i`, and its latency is `finish_i − arrival_i`.
#
# ### Exercise 3: `fifo_latencies` (3 points)
#
# Given arrival times and service times (seconds, equal lengths), return the numpy array of
# latencies measured **from arrival** for a single FIFO server, by the recursion above.

# %% nbgrader={"grade": false, "grade_id": "fifo-latencies", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def fifo_latencies(arrivals: Sequence[float], service: Sequence[float]) -> np.ndarray:
    "Latency from arrival (seconds) of each query at one FIFO server (Lindley's recursion)."
    arrivals, service = np.asarray(arrivals, dtype=float), np.asarray(service, dtype=float)
    if arrivals.shape != service.shape:
        raise ValueError(f"arrivals and service times differ in length: {arrivals.shape} vs {service.shape}")
    ### BEGIN SOLUTION
    out = np.empty_like(arrivals)
    finish = -math.inf
    for i, (a, s) in enumerate(zip(arrivals, service)):
        start = max(a, finish)
        finish = start + s
        out[i] = finish - a
    return out
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test-fifo-latencies", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
lat = fifo_latencies([0.0, 0.5, 1.0, 1.1], [1.0, 0.2, 0.2, 0.2])
assert np.allclose(lat, [1.0, 0.7, 0.4, 0.5]), f"queue behind the first 1 s query: expected [1.0, 0.7, 0.4, 0.5], got {lat}"
import tinybench.scenarios as _scenarios
arr = _scenarios.poisson_schedule(100, 2000, seed=1)          # the reference schedule: this test checks fifo_latencies only
svc = np.full(2000, 1e-3); svc[500] = 0.2                     # one 200 ms stall
lat = fifo_latencies(arr, svc)
assert np.all(lat >= svc - 1e-12), f"latency is at least the service time: query {int(np.argmin(lat - svc))} " \
    f"has latency {lat[np.argmin(lat - svc)]:.4g} s < service {svc[np.argmin(lat - svc)]:.4g} s"
_waited = int((lat >= 0.1).sum())
assert _waited >= 5, f"the ~20 queries that arrived during the 200 ms stall wait behind it: expected >= 5 with latency >= 0.1 s, got {_waited}"
### BEGIN HIDDEN TESTS
from tinybench.nbutils import assert_own as _assert_own
_assert_own(fifo_latencies, "tinybench.scenarios")
_got = fifo_latencies([0, 10, 20], [1, 1, 1])
assert np.allclose(_got, [1, 1, 1]), f"no queue when arrivals are spread: expected [1, 1, 1], got {_got}"
_got = fifo_latencies([0, 0, 0], [1, 1, 1])
assert np.allclose(_got, [1, 2, 3]), f"simultaneous arrivals queue: expected [1, 2, 3], got {_got}"
_shape = np.shape(fifo_latencies([], []))
assert _shape == (0,), f"no queries: expected shape (0,), got {_shape}"
r = np.random.default_rng(0)
a2, s2 = np.cumsum(r.exponential(1.0, 300)), r.exponential(0.5, 300)
ref, f = [], -np.inf
for ai, si in zip(a2, s2):
    f = max(ai, f) + si
    ref.append(f - ai)
_got = fifo_latencies(a2, s2)
assert np.allclose(_got, ref), f"300 M/M/1 queries: expected Lindley's recursion {np.round(ref[:3], 4)} ..., got {np.round(_got[:3], 4)} ..."
### END HIDDEN TESTS

# %%
fifo_latencies = use_reference_if_open(fifo_latencies, [0.0, 0.5], [1.0, 1.0])  # the second query waits

# %% [markdown]
# A classic example of coordinated omission: 100 requests/s for 100 s, 1 ms service, one 100 s stall at the
# start... scaled to something that computes instantly. Timing from the send sees only the
# service times; timing from the schedule sees the queue.

# %%
arr = poisson_schedule(100, 10_000, seed=0)
svc = np.full(10_000, 1e-3)
svc[0] = 50.0                                          # a 50 s stall at the start of a 100 s run
from_send = svc                                        # closed loop: each request timed from its send
from_schedule = fifo_latencies(arr, svc)
print(f"p99 from the send: {np.quantile(from_send, 0.99) * 1e3:.1f} ms;   "
      f"p99 from the schedule: {np.quantile(from_schedule, 0.99):.1f} s")

# %% [markdown]
# ### 3b. Load patterns beyond Poisson
#
# Poisson arrivals model many independent users. Stress tests need harsher shapes: **bursts**
# (`burst_size` queries arriving at the same instant, bursts themselves Poisson, same mean rate:
# a retry storm or a batch of uploads), and a **ramp** (the rate grows linearly from `target_qps`
# to `ramp_to_qps` over `min_duration`: where does the knee appear?). The ramp is a
# non-homogeneous Poisson process, generated by time rescaling: unit-rate arrivals $E_k$ mapped
# through the inverse of the cumulative rate $\Lambda(t) = a t + (b-a) t^2 / (2T)$.

# %%
#| export
def burst_schedule(qps: float, n: int, burst_size: int, seed: int = 0) -> np.ndarray:
    "Arrival times (s) of `n` queries in bursts of `burst_size` simultaneous arrivals; bursts are Poisson, mean rate `qps`."
    starts = poisson_schedule(qps / burst_size, -(-n // burst_size), seed)
    return np.repeat(starts, burst_size)[:n]


def ramp_schedule(qps_from: float, qps_to: float, duration: float, seed: int = 0) -> np.ndarray:
    "Arrival times (s) of a Poisson process whose rate ramps linearly from `qps_from` to `qps_to` over `duration`."
    if not (qps_from > 0 and qps_to > 0 and duration > 0):
        raise ValueError("ramp rates (queries/s) and duration (s) must be positive")
    a, b, T = qps_from, qps_to, duration
    total = (a + b) * T / 2
    rng = np.random.default_rng(seed)
    u = np.cumsum(rng.exponential(1.0, int(total * 1.5) + 32))
    u = u[u <= total]
    if b == a:
        return u / a
    k = (b - a) / (2 * T)  # Lambda(t) = a t + k t^2  ->  t = (-a + sqrt(a^2 + 4 k u)) / (2 k)
    return (-a + np.sqrt(a * a + 4 * k * u)) / (2 * k)


def schedule_for(settings: TestSettings) -> np.ndarray:
    "The Server arrival schedule (seconds) that `s` asks for: long enough for min_duration and min_query_count."
    if settings.load_pattern == "ramp":
        t = ramp_schedule(settings.target_qps, settings.ramp_to_qps or settings.target_qps, max(settings.min_duration, 1e-3), settings.schedule_seed)
        if t.size < settings.min_query_count:
            raise ValueError(f"the ramp yields {t.size} queries, under min_query_count {settings.min_query_count}: "
                             "raise the rates or min_duration")
        return t
    make = (lambda n: poisson_schedule(settings.target_qps, n, settings.schedule_seed)) if settings.load_pattern == "poisson" else \
        (lambda n: burst_schedule(settings.target_qps, n, settings.burst_size, settings.schedule_seed))
    times = make(max(math.ceil(settings.target_qps * settings.min_duration * 1.5) + 16 + settings.burst_size, settings.min_query_count))
    n = max(settings.min_query_count, int(np.searchsorted(times, settings.min_duration, side="right")) + 1)
    return times[:n] if n <= times.size else make(n)

# %% [markdown]
# ## 4. The runner
#
# `run(sut, dataset, settings)` executes a scenario for real and returns a `ScenarioResult`
# with one record per query: its sample indices, scheduled, issue, start and completion times,
# and the error if the SUT raised. How each scenario issues queries:
#
# - **SingleStream / MultiStream**: closed loop; the next query is issued when the previous one
#   completes. A MultiStream query has `samples_per_query` contiguous samples; with several
#   workers its samples run concurrently and the query completes with its slowest sample.
# - **Server**: the seeded Poisson schedule is generated up front; an issuing thread releases each
#   query at its scheduled time into a queue, and `workers` threads serve it (with optional
#   dynamic batching: up to `max_batch` queued queries, waiting at most `max_wait` for more).
#   Latency runs from the **scheduled** time. While the run lasts, Python's thread switch interval
#   is shortened so the issuing thread is not starved by a SUT that holds the GIL.
# - **Offline**: every sample is issued at time 0; workers take real batches of
#   `offline_batch_size` samples; the metric is samples per second until the last completes.
#
# A SUT that raises, returns the wrong number of outputs or an output holding NaN fails only
# its queries (counted, and the run is INVALID with the reason). Ctrl-C stops the run and returns
# what was measured, marked incomplete.

# %%
#| export
@dataclass(repr=False)
class ScenarioResult:
    "Per-query records of one scenario run (seconds from the run's start) and its summary metrics."
    settings: TestSettings
    sample_index: list[list[int]]
    scheduled: np.ndarray
    issued: np.ndarray
    started: np.ndarray
    completed: np.ndarray
    errors: list[str | None]
    correct: np.ndarray | None = None
    interrupted: bool = False
    duration: float = 0.0
    env: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    timed_out: bool = False
    stopped_early: str | None = None
    issuer_cpu: float | None = None

    @property
    def ok(self) -> np.ndarray:
        "Mask of queries that completed without error."
        return np.isfinite(self.completed) & np.array([e is None for e in self.errors], dtype=bool)

    @property
    def latencies(self) -> np.ndarray:
        "Latency of each successful query in seconds: completion minus scheduled arrival."
        return (self.completed - self.scheduled)[self.ok]

    @property
    def n_queries(self) -> int:
        return int(self.ok.sum())

    @property
    def n_samples(self) -> int:
        return int(sum(len(ix) for ix, good in zip(self.sample_index, self.ok) if good))

    @property
    def n_errors(self) -> int:
        return int(sum(e is not None for e in self.errors))

    def quantile(self, q: float) -> float:
        """Latency quantile `q` in [0, 1] (0.99 for p99) of `latencies`, seconds: linear interpolation between order
        statistics (Hyndman-Fan type 7, numpy's default); NaN without successful queries."""
        q, lat = check_quantile(q), self.latencies
        return float(np.quantile(lat, q)) if lat.size else math.nan

    @property
    def qps(self) -> float:
        "Completed queries per second over the run."
        return self.n_queries / self.duration if self.duration > 0 else math.nan

    @property
    def samples_per_second(self) -> float:
        "Completed samples per second over the run (Offline's metric)."
        return self.n_samples / self.duration if self.duration > 0 else math.nan

    @property
    def issue_lateness(self) -> np.ndarray:
        "How late each query was issued relative to its schedule, seconds."
        return (self.issued - self.scheduled)[np.isfinite(self.issued)]

    @property
    def accuracy(self) -> float | None:
        "Fraction of correct samples, when the dataset had labels."
        return None if self.correct is None or self.correct.size == 0 else float(self.correct.mean())

    @property
    def valid(self) -> bool:
        return not self.reasons

    @property
    def metric(self) -> tuple[str, float]:
        "The scenario's headline metric (name, value)."
        return headline_metric(self)


def headline_metric(result: Any) -> tuple[str, float]:
    "(name, value) of a run's headline metric; `r` has `settings`, `samples_per_second`, `qps` and `quantile(q)`."
    s = result.settings
    if s.scenario == "Offline":
        return "samples per second", result.samples_per_second
    if s.scenario == "Server":
        return "completed queries per second", result.qps
    return f"p{s.latency_quantile * 100:g} latency", result.quantile(s.latency_quantile)

# %% [markdown]
# Validity follows LoadGen's rules: the run must last `min_duration` and complete
# `min_query_count` queries; the early-stopping test of module 01 must pass; a Server run's
# percentile latency must be within `target_latency`; plus tinybench's own: no query may fail, the
# run must not be interrupted, and the load generator must have kept to its schedule.

# %%
#| export
def early_stopping_result(result: ScenarioResult):
    """LoadGen's early-stopping verdict for this run (module 01's `early_stopping`). Server counts the queries over
    target_latency; SingleStream/MultiStream start from one, as LoadGen does, and get the conservative estimate."""
    s = result.settings
    if s.scenario == "Server":
        return early_stopping(result.n_queries, int((result.latencies > s.target_latency).sum()), s.latency_quantile)
    return early_stopping(result.n_queries, min(1, result.n_queries), s.latency_quantile, latencies=result.latencies)


def validity_reasons(result: ScenarioResult) -> list[str]:
    "Every reason a run is INVALID (empty when VALID)."
    s, reasons = result.settings, []
    if result.interrupted:
        reasons.append("interrupted (Ctrl-C): the result is partial")
    if result.n_errors:
        reasons.append(f"{result.n_errors} of {len(result.errors)} queries failed in the SUT (first: {next(e for e in result.errors if e)})")
    if result.stopped_early:
        reasons.append(result.stopped_early)
    if result.timed_out:
        reasons.append(f"max_duration ({s.max_duration} s) ran out before every query completed: the SUT is too slow "
                       "for these settings")
    span = float(result.scheduled.max()) if s.scenario == "Server" and result.scheduled.size else result.duration
    if span < s.min_duration and s.load_pattern != "ramp":  # a ramp's schedule covers min_duration by construction
        hint = "; set expected_qps so enough samples are issued" if s.scenario == "Offline" else ""
        reasons.append(f"ran {span:.2f} s, under min_duration {s.min_duration} s{hint}")
    if result.n_queries < s.min_query_count and s.scenario != "Offline":
        reasons.append(f"{result.n_queries} queries completed, under min_query_count {s.min_query_count}")
    if s.scenario in ("SingleStream", "MultiStream", "Server") and result.n_queries:
        es = early_stopping_result(result)
        if not es.passed:
            reasons.append(f"early stopping not met: {result.n_queries} queries with {es.n_over} over the bound, "
                           f"{es.min_queries} needed")
    if s.scenario == "Server" and result.n_queries:
        p = result.quantile(s.latency_quantile)
        if p > s.target_latency:
            reasons.append(f"p{s.latency_quantile * 100:g} latency {format_seconds(p)} exceeds target_latency "
                           f"{format_seconds(s.target_latency)}: reduce target_qps")
        lat, k = result.latencies, max(1, result.n_queries // 10)
        first, last = float(np.median(lat[:k])), float(np.median(lat[-k:]))
        if last > 10 * first and last > s.target_latency:
            reasons.append(f"overloaded: latency grew from {format_seconds(first)} (first 10% of queries) to "
                           f"{format_seconds(last)} (last 10%): the backlog grows without bound at this rate")
        late = result.issue_lateness
        if late.size and np.quantile(late, 0.99) > 0.1 * s.target_latency:
            reasons.append(f"the load generator fell behind its schedule (p99 issue lateness "
                           f"{format_seconds(float(np.quantile(late, 0.99)))})")
    return reasons

# %% [markdown]
# The plumbing lives in the support notebook `tinybench.runner`: a `Recorder` with one record per
# query, filled in by the threads that serve them, one function per scenario, and `execute`, which
# runs one of them. `run` puts it together: check the arguments, load the performance samples,
# register the Server and Offline queries with their schedule, execute, and judge validity.

# %%
#| export
def _plan_open_loop(rec: Recorder, s: TestSettings, n_avail: int) -> None:
    "Register every Server/Offline query up front: sample indices (seeded order) and scheduled times."
    if s.scenario == "Server":
        times = schedule_for(s)
    else:  # Offline: everything at t = 0; enough samples for min_duration at the expected rate
        times = np.zeros(max(s.min_query_count, n_avail, math.ceil((s.expected_qps or 0) * s.min_duration * 1.1)))
    n = times.size
    order = np.resize(np.random.default_rng(s.sample_seed).permutation(n_avail), n)
    for i, t in zip(order, times):
        rec.add([int(i)], float(t))


def run(sut: Callable[[list], Any], dataset: Any, settings: TestSettings | None = None, progress: bool = False,
        **overrides) -> ScenarioResult:
    """Run one scenario of `settings` (or TestSettings(**overrides)) against `sut` on `dataset`; see the notebook.

    `progress=True` prints a one-line progress report to stderr twice a second (queries done, elapsed time)."""
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
    n_total = len(dataset)
    if n_total == 0:
        raise ValueError("the dataset is empty: a benchmark needs at least one sample")
    n_avail = min(n_total, s.performance_sample_count or n_total)
    array = getattr(dataset, "array", None)
    batched = s.scenario == "Offline" and array is not None and getattr(sut, "accepts_arrays", False)
    labels = getattr(dataset, "labels", None)
    rec = Recorder(None if labels is None else [labels[i] for i in range(n_avail)])
    if s.scenario in ("Server", "Offline"):
        _plan_open_loop(rec, s, n_avail)
    # the samples are loaded before timing starts (Offline over one array: as the views each call gets)
    samples = offline_views(array[:n_avail], rec, s) if batched else [dataset[i] for i in range(n_avail)]
    interrupted = execute(sut, samples, rec, s, batched=batched, progress=progress)
    if rec.fatal is not None:
        raise rec.fatal
    return _result(rec, s, interrupted, labels is not None)


def _result(rec: Recorder, s: TestSettings, interrupted: bool, has_labels: bool) -> ScenarioResult:
    "Freeze the recorder into a ScenarioResult (queries never issued are dropped) and judge validity."
    issued = np.array(rec.issued)
    keep = np.flatnonzero(np.isfinite(issued))
    completed = np.array(rec.completed)[keep]
    duration = float(np.nanmax(completed)) if np.isfinite(completed).any() else 0.0
    r = ScenarioResult(s, [rec.queries[i] for i in keep], np.array(rec.scheduled)[keep], issued[keep],
                       np.array(rec.started)[keep], completed, [rec.errors[i] for i in keep],
                       np.array(rec.correct, dtype=bool) if has_labels else None,
                       interrupted, duration, environment())
    r.stopped_early = rec.stopped_early
    r.issuer_cpu = rec.issuer_cpu
    r.timed_out = rec.timed_out or (bool(np.isnan(completed).any()) and rec.stopped_early is None)
    r.reasons = validity_reasons(r)
    return r

# %% [markdown]
# One record per query: a short Server run on a 0.2 ms SUT at 1,000 queries/s. Each query is
# issued a little after its schedule (the issuer's lateness), starts when a worker takes it, and
# its latency runs from the schedule to its completion.

# %%
ds = ArrayDataset(np.arange(64))
r_rec = run(SleepSUT(2e-4), ds, scenario="Server", target_qps=1000, target_latency=0.02, min_duration=0.5)
print("query  scheduled  issued +  started +  completed +  (ms, each after the schedule)")
for k in range(5):
    sched = r_rec.scheduled[k]
    print(f"{k:5d} {sched * 1e3:10.3f} {(r_rec.issued[k] - sched) * 1e3:9.3f} {(r_rec.started[k] - sched) * 1e3:9.3f} "
          f"{(r_rec.completed[k] - sched) * 1e3:12.3f}")
assert (r_rec.issued >= r_rec.scheduled).all() and (r_rec.completed >= r_rec.started).all()
print(f"{r_rec.n_queries} queries, issue lateness p99 {format_seconds(float(np.quantile(r_rec.issue_lateness, 0.99)))}, "
      f"{'VALID' if r_rec.valid else 'INVALID: ' + '; '.join(r_rec.reasons)}")

# %% [markdown]
# **Issuing on time.** `time.sleep` alone is not precise: the OS wakes the thread late, by tens of
# microseconds on bare metal and often more than 100 µs on a virtual machine, with a tail past a
# millisecond. A Server run whose p99 issue lateness exceeds 10% of `target_latency` is INVALID:
# then the harness, not the SUT, sets the latency. So the `Pacer` sleeps until a margin before the
# deadline and spins for the rest, with a margin learned from the overshoots it sees
# (`issue_mode="hybrid"`, the default, spins only while the SUT is idle and lightly loaded;
# `"precise"` always, at the cost of a busy core; `"sleep"` never). The Pacer alone, 300 deadlines
# 1 ms apart:

# %%
for mode in ISSUE_MODES:
    pacer, deadline, late = Pacer(mode), time.perf_counter(), []
    for _ in range(300):
        deadline += 1e-3
        pacer.wait_until(deadline)
        late.append(time.perf_counter() - deadline)
    assert min(late) >= 0, "the Pacer never returns before its deadline"
    print(f"{mode:8s} late by p50 {format_seconds(float(np.median(late))):>9s}, "
          f"p99 {format_seconds(float(np.quantile(late, 0.99))):>9s}")

# %% [markdown]
# **The issuer's precision, and what it costs.** The same Server run three times, one per
# `issue_mode`, on a SUT that multiplies two 128×128 matrices per query (about a tenth of a
# millisecond): the issue lateness at the median and p99, the CPU seconds the issuer used, and the
# SUT's own service time (a spinning issuer that competed with the SUT for a core would slow it).
# The sentences are computed from this run; run the cell on a busy machine to see the tail grow.

# %%
_M = np.random.default_rng(0).standard_normal((128, 128))


def matmul_sut(batch):
    for _ in batch:
        _M @ _M
    return [0] * len(batch)


pacing = {}
for mode in ISSUE_MODES:
    r_mode = run(matmul_sut, ArrayDataset(np.arange(64)), scenario="Server", target_qps=1000, target_latency=0.01,
                 min_duration=1.0, max_duration=10, issue_mode=mode)
    late, service = r_mode.issue_lateness, (r_mode.completed - r_mode.started)[r_mode.ok]
    pacing[mode] = (np.quantile(late, 0.5), np.quantile(late, 0.99), r_mode.issuer_cpu / r_mode.duration,
                    np.median(service))
    print(f"{mode:8s} lateness p50 {format_seconds(pacing[mode][0]):>9s}  p99 {format_seconds(pacing[mode][1]):>9s}  "
          f"issuer CPU {pacing[mode][2]:5.1%} of a core  SUT service median {format_seconds(pacing[mode][3])}  "
          f"{'VALID' if r_mode.valid else 'INVALID'}")
best = min(pacing, key=lambda m: pacing[m][1])
print(f"this run: the lowest p99 lateness came from '{best}' ({format_seconds(pacing[best][1])}), against "
      f"{format_seconds(pacing['sleep'][1])} for sleeping alone; the spinning cost "
      f"{pacing['precise'][2] - pacing['sleep'][2]:+.0%} of a core (precise vs sleep)")

# %% [markdown]
# **Offline over one array.** When the dataset is one array and the SUT takes arrays
# (`accepts_arrays`, as `TorchSUT` does), Offline gathers the samples in the run's seeded order into
# one contiguous array before timing and hands each call a slice of it, a view, instead of a list to
# stack again; the outputs are checked (NaN, accuracy) after the run, as LoadGen checks its accuracy
# log. Queries still map to samples one to one, so the records mean what they mean on the list path.

# %%
def parity_sut(batch):
    parity_sut.calls.append(f"{type(batch).__name__}{' (a view)' if getattr(batch, 'base', None) is not None else ''}")
    return np.eye(2)[np.asarray(batch, dtype=int) % 2]


for takes_arrays in (False, True):
    parity_sut.accepts_arrays, parity_sut.calls = takes_arrays, []
    r_a = run(parity_sut, ArrayDataset(np.arange(100), np.arange(100) % 2), scenario="Offline", offline_batch_size=32,
              min_duration=0.0)
    assert r_a.n_samples == 100 and r_a.accuracy == 1.0
    print(f"accepts_arrays={takes_arrays}: {len(parity_sut.calls)} calls, each called with: {parity_sut.calls[0]}")

# %% [markdown]
# **The early stop.** A Server run 5× past the SUT's capacity (a 5 ms SUT at 1,000 queries/s) would
# take seconds to drain its backlog; it stops as soon as VALID is impossible (`stop_when_invalid`):

# %%
t_over = time.perf_counter()
r_over = run(SleepSUT(5e-3), ds, scenario="Server", target_qps=1000, target_latency=0.02, min_duration=1.0,
             max_duration=60)
print(f"stopped after {time.perf_counter() - t_over:.1f} s with {r_over.n_queries} queries completed:\n"
      f"{r_over.stopped_early}")
assert not r_over.valid

# %% [markdown]
# ## 5. Reading a result
#
# `summary()` is modelled on LoadGen's `mlperf_log_summary.txt`: the scenario, the metric, VALID
# or INVALID with every reason, then latency statistics.

# %%
#| export
def summary(result: ScenarioResult) -> str:
    "A text summary of a run in the style of LoadGen's mlperf_log_summary.txt."
    s = result.settings
    name, value = result.metric
    lines = ["=" * 48, "tinybench Results Summary", "=" * 48, f"Scenario : {s.scenario}",
             f"{name} : {format_seconds(value) if name.endswith('latency') else f'{value:,.2f}'}",
             f"Result is : {'VALID' if result.valid else 'INVALID'}"]
    lines += [f"  * {reason}" for reason in result.reasons]
    lat = result.latencies
    lines += ["", "=" * 48, "Additional Stats", "=" * 48,
              f"Queries completed : {result.n_queries} ({result.n_errors} failed)", f"Samples completed : {result.n_samples}",
              f"Duration : {result.duration:.3f} s", f"QPS : {result.qps:,.2f}", f"Samples per second : {result.samples_per_second:,.2f}"]
    if lat.size:
        lines += [f"Min latency : {format_seconds(lat.min())}", f"Max latency : {format_seconds(lat.max())}",
                  f"Mean latency : {format_seconds(lat.mean())}"]
        lines += [f"{q * 100:g} quantile latency : {format_seconds(result.quantile(q))}" for q in (0.5, 0.9, 0.95, 0.99)]
    if s.scenario == "Server" and result.issue_lateness.size:
        late = result.issue_lateness
        lines.append(f"Issue lateness p50 / p99 : {format_seconds(float(np.quantile(late, 0.5)))} / "
                     f"{format_seconds(float(np.quantile(late, 0.99)))} ({s.issue_mode} issuer)")
        if result.issuer_cpu is not None and result.duration > 0:
            lines.append(f"Issuer CPU : {result.issuer_cpu:.3f} s ({result.issuer_cpu / result.duration:.0%} of a core)")
    if s.scenario in ("SingleStream", "MultiStream") and result.n_queries:
        es = early_stopping_result(result)
        if es.estimate is not None:
            lines.append(f"Early stopping p{s.latency_quantile * 100:g} estimate : {format_seconds(es.estimate)} "
                         f"(discarding the {es.estimate_rank - 1} highest latencies)")
    if result.accuracy is not None:
        lines.append(f"Accuracy : {result.accuracy:.4f}")
    return "\n".join(lines)


def _result_to_dict(r: ScenarioResult) -> dict[str, Any]:
    name, value = r.metric
    return {"scenario": r.settings.scenario, "settings": r.settings.to_dict(), "valid": r.valid, "reasons": r.reasons,
            "metric": name, "value": value, "n_queries": r.n_queries, "n_samples": r.n_samples, "n_errors": r.n_errors,
            "duration": r.duration, "qps": r.qps, "samples_per_second": r.samples_per_second,
            "latency": {f"p{q * 100:g}": r.quantile(q) for q in (0.5, 0.9, 0.95, 0.99)},
            "accuracy": r.accuracy, "interrupted": r.interrupted, "env": r.env,
            "stopped_early": r.stopped_early, "issuer_cpu": r.issuer_cpu,
            "queries": {"sample_index": r.sample_index, "scheduled": r.scheduled.tolist(), "issued": r.issued.tolist(),
                        "started": r.started.tolist(), "completed": r.completed.tolist(), "errors": r.errors}}


def _result_repr(r: ScenarioResult) -> str:
    name, value = r.metric
    v = format_seconds(value) if name.endswith("latency") else f"{value:,.1f}"
    return (f"ScenarioResult({r.settings.scenario}: {'VALID' if r.valid else 'INVALID'}, {name} {v}, "
            f"{r.n_queries} queries, {r.duration:.2f} s)" + "".join(f"\n  ! {x}" for x in r.reasons))


def _result_html(r: ScenarioResult) -> str:
    from tinybench.display import ecdf_png
    lat = r.latencies
    img = ecdf_png(lat) if lat.size and (lat > 0).all() else None
    pre = summary(r).replace("&", "&amp;").replace("<", "&lt;")
    pic = f"<img src='data:image/png;base64,{img}' style='max-width:360px'/>" if img else ""
    return f"<div style='display:flex;gap:1em'><pre>{pre}</pre>{pic}</div>"


ScenarioResult.summary = summary
ScenarioResult.to_dict = _result_to_dict
ScenarioResult.__repr__ = _result_repr
ScenarioResult._repr_html_ = _result_html

# %% [markdown]
# SingleStream on a SUT with a known 2 ms service time:

# %%
r_ss = run(SleepSUT(2e-3), ds, scenario="SingleStream", min_duration=0.5)
print(r_ss.summary())

# %% [markdown]
# Server at 50% utilisation of a 2 ms SUT (250 queries/s on one worker): compare the mean
# latency with queueing theory. For deterministic service S (M/D/1) the mean latency is
# $S + \rho S / (2(1-\rho))$; we use the measured mean service time for S.

# %%
r_srv = run(SleepSUT(2e-3), ds, scenario="Server", target_qps=250, min_duration=2.0, target_latency=0.05,
            max_duration=10)
S = float(np.mean(r_srv.completed - r_srv.started))
rate = (len(r_srv.scheduled) - 1) / (r_srv.scheduled[-1] - r_srv.scheduled[0])   # the schedule's realised rate
rho = rate * S
print(f"measured mean latency {r_srv.latencies.mean() * 1e3:.2f} ms; M/D/1 predicts {(S + rho * S / (2 * (1 - rho))) * 1e3:.2f} ms "
      f"(S = {S * 1e3:.2f} ms, rho = {rho:.2f})")
r_srv

# %% [markdown]
# Coordinated omission, for real: the same Server run with one 200 ms stall. Latency from the
# schedule shows the backlog; the SUT's own service times (what a closed-loop tool would report)
# do not.

# %%
r_stall = run(SleepSUT(1e-3, stall_at=100, stall=0.2), ds, scenario="Server", target_qps=200, min_duration=1.5,
              target_latency=0.05, max_duration=10)
service = r_stall.completed - r_stall.started
print(f"from the schedule: p99 {r_stall.quantile(0.99) * 1e3:.0f} ms, {int((r_stall.latencies >= 0.1).sum())} queries >= 100 ms; "
      f"service only: p99 {np.quantile(service, 0.99) * 1e3:.1f} ms")
print(r_stall.reasons)

# %% [markdown]
# Offline with real batches, and a real model: the digits CNN from `tinybench.workloads` as a
# `TorchSUT`, with accuracy from the dataset's labels.

# %%
from tinybench.workloads import default_workload

wl = default_workload()
digits = ArrayDataset(wl.data.X_test, wl.data.y_test.tolist())
sut = TorchSUT(wl.trained.model)
r_off = run(sut, digits, scenario="Offline", offline_batch_size=64, min_duration=0.0)
print(r_off.summary())

# %% [markdown]
# ### Load patterns in action
#
# The burst and ramp schedules of section 3b on the same 1–2 ms SUT:

# %%
bursty = run(SleepSUT(1e-3), ds, scenario="Server", target_qps=200, min_duration=1.5, target_latency=0.05,
             load_pattern="burst", burst_size=20, max_duration=10)
print("bursts of 20 at 200/s:", bursty)
ramp = run(SleepSUT(2e-3), ds, scenario="Server", load_pattern="ramp", target_qps=100, ramp_to_qps=700, min_duration=2.0,
           target_latency=0.05, min_query_count=1, max_duration=10)
third = len(ramp.latencies) // 3
print("ramp 100 -> 700/s, median latency by thirds:",
      [format_seconds(float(np.median(x))) for x in (ramp.latencies[:third], ramp.latencies[third:2 * third],
                                                     ramp.latencies[2 * third:])])

# %% [markdown]
# ### Soak: does it get worse over time?
#
# A long run at a steady rate catches what short runs cannot: latency that drifts up (a cache
# or queue growing, thermal throttling) and memory that grows (a leak). `soak` runs the Server
# scenario under a `ResourceMonitor` (resident memory, and the clock and temperature where they can
# be read, every `interval` seconds), then tests for trends with module 01's tools: Spearman's test
# on per-window median latency, a least-squares slope of memory with its p-value, and whether a
# clock drop explains the latency (`tinybench.monitor.detect_throttling`; no clock: not assessed).

# %%
#| export
@dataclass(repr=False)
class SoakResult:
    "A soak run: the Server result, per-window latency medians, process memory samples and trend verdicts."
    result: ScenarioResult
    window_start: np.ndarray
    window_p50: np.ndarray
    mem_time: np.ndarray
    mem_rss: np.ndarray
    mem_slope: float
    mem_p: float
    latency_drift: str | None
    thermal: ThermalReport | None = None
    MIN_WINDOWS = 20  # check_drift's minimum: fewer windows with data and the trend is not assessed

    @property
    def latency_trend(self) -> str:
        "'drifts: ...', 'steady', or 'not assessed' with the reason (fewer than MIN_WINDOWS windows had queries)."
        n = int(np.isfinite(self.window_p50).sum())
        if self.latency_drift:
            return "drifts: " + self.latency_drift
        return ("steady" if n >= self.MIN_WINDOWS else f"not assessed ({n} of {self.window_p50.size} windows had "
                f"queries; the trend test needs {self.MIN_WINDOWS}: use windows >= {self.MIN_WINDOWS} and a longer run)")

    @property
    def leak(self) -> bool:
        "Memory grows: slope > 0 at p < 0.001, > 1 MiB in all and > 256 B per query (the harness keeps ~10 B/query)."
        grown = self.mem_slope * (self.mem_time[-1] - self.mem_time[0]) if self.mem_time.size > 1 else 0.0
        per_query = grown / max(self.result.n_queries, 1)
        return bool(self.mem_p < 1e-3 and self.mem_slope > 0 and grown > 2**20 and per_query > 256)

    def to_dict(self) -> dict[str, Any]:
        return {"result": self.result.to_dict(), "window_start": self.window_start.tolist(),
                "window_p50": self.window_p50.tolist(), "mem_time": self.mem_time.tolist(),
                "mem_rss": self.mem_rss.tolist(), "mem_slope_bytes_per_s": self.mem_slope, "mem_p": self.mem_p,
                "leak": self.leak, "latency_drift": self.latency_drift, "latency_trend": self.latency_trend,
                "thermal": None if self.thermal is None else self.thermal.to_dict()}

    def __repr__(self) -> str:
        return (f"SoakResult({self.result.settings.min_duration:g} s at {self.result.settings.target_qps:g}/s: "
                f"memory {self.mem_slope / 2**20 * 60:+.2f} MiB/min (p={self.mem_p:.2g}){', LEAK' if self.leak else ''}; "
                f"latency {self.latency_trend}"
                + (f"; {self.thermal.headline})" if self.thermal else ")"))

    def _repr_html_(self) -> str:
        return f"<pre>{self!r}</pre>"


def soak(sut: Callable[[list], Any], dataset: Any, settings: TestSettings | None = None, interval: float = 0.1,
         windows: int = 20, **overrides) -> SoakResult:
    """Run Server for settings.min_duration under a ResourceMonitor (RSS, clock, temperature every `interval` s);
    test latency and memory for trends, and the latency against the clock for throttling (`thermal`)."""
    interval = check_number(interval, "interval", positive=True, hint="seconds between memory samples, e.g. 0.1")
    windows = check_number(windows, "windows", integer=True, lo=1, hint="time windows for the latency trend")
    from scipy.stats import linregress

    from tinybench.timing import check_drift
    s = settings if settings is not None else TestSettings(**{"scenario": "Server", **overrides})
    if settings is not None and overrides:
        s = TestSettings(**{**settings.to_dict(), **overrides})
    s = TestSettings(**{**s.to_dict(), "stop_when_invalid": False})  # a soak runs its whole duration: that is its point
    with ResourceMonitor(interval=interval, thermal=True) as mon:  # its thread stops even if the run raises
        r = run(sut, dataset, s)
    mem = np.stack([mon.result.t, mon.result.series["rss_bytes"]], axis=1)
    fit = linregress(mem[:, 0], mem[:, 1]) if len(mem) > 2 and np.ptp(mem[:, 1]) > 0 else None
    edges = np.linspace(0, max(float(r.scheduled.max()), 1e-9), windows + 1)
    ok_sched = r.scheduled[r.ok]
    p50 = np.array([np.median(r.latencies[(ok_sched >= lo) & (ok_sched < hi)]) if ((ok_sched >= lo) & (ok_sched < hi)).any()
                    else np.nan for lo, hi in zip(edges[:-1], edges[1:])])
    good = np.isfinite(p50)
    drift = check_drift(p50[good]) if good.sum() >= SoakResult.MIN_WINDOWS else None
    return SoakResult(r, edges[:-1], p50, mem[:, 0], mem[:, 1], float(fit.slope) if fit else 0.0,
                      float(fit.pvalue) if fit else 1.0, drift.explanation if drift else None,
                      thermal_report(mon.result, edges, p50))

# %%
class LeakySUT(SleepSUT):
    "Keeps 200 KiB per call forever: a leak, on purpose."
    def __init__(self):
        super().__init__(1e-3)
        self.kept = []
    def __call__(self, batch):
        self.kept.append(bytearray(200 * 1024))
        return super().__call__(batch)

print(soak(SleepSUT(1e-3), ds, target_qps=200, min_duration=1.5, target_latency=0.05, max_duration=10))
print(soak(LeakySUT(), ds, target_qps=200, min_duration=1.5, target_latency=0.05, max_duration=10))

# %% [markdown]
# ## 6. Finding the peak rate
#
# Server's metric is the highest arrival rate the system sustains while meeting its latency
# bound. LoadGen's peak-performance mode finds it by search; so does `find_peak_qps`: start at
# `target_qps`, double while the run is VALID (or halve while it is not) until the peak is
# bracketed, then bisect until the bracket is within `tolerance`. Every tried rate is kept, so
# the latency-versus-load curve comes for free: flat, then a knee, then a wall. Short runs can
# pass slightly *above* capacity, because the queue has not had time to build up: one more reason
# for a minimum duration, and for confirming the peak with a longer run. Short runs on a shared
# machine can also *fail* well below capacity (another process takes the core for a few
# milliseconds); one such failure early in the search would halve every later rate, so a rate is
# judged INVALID only when a re-run fails too (`retries=1`).

# %%
#| export
@dataclass(repr=False)
class PeakSearch:
    "Result of `find_peak_qps`: the highest VALID Server rate found and every rate tried (queries/s)."
    peak_qps: float | None
    tried: list[dict[str, Any]]
    quantile: float

    def to_dict(self) -> dict[str, Any]:
        return {"peak_qps": self.peak_qps, "quantile": self.quantile, "tried": list(self.tried)}

    def __repr__(self) -> str:
        peak = "none VALID" if self.peak_qps is None else f"{self.peak_qps:,.1f} queries/s"
        return f"PeakSearch(peak {peak}, {len(self.tried)} runs)"

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{t['target_qps']:,.1f}</td><td>{'VALID' if t['valid'] else 'INVALID'}</td>"
                       f"<td>{format_seconds(t['latency'])}</td><td>{t['qps']:,.1f}</td></tr>" for t in
                       sorted(self.tried, key=lambda t: t["target_qps"]))
        return (f"<div><b>{self!r}</b><table><tr><th>target qps</th><th>verdict</th>"
                f"<th>p{self.quantile * 100:g} latency</th><th>completed qps</th></tr>{rows}</table></div>")


def find_peak_qps(sut: Callable[[list], Any], dataset: Any, settings: TestSettings | None = None,
                  tolerance: float = 0.05, max_runs: int = 16, runner: Callable | None = None,
                  retries: int = 1, **overrides) -> PeakSearch:
    """Highest VALID Server target_qps (bracket by doubling/halving from target_qps, then bisect to `tolerance`).

    `runner(sut, dataset, settings)` runs one rate: `run` by default, or `tinybench.loadgen.run_loadgen`.
    A rate counts as INVALID only after `1 + retries` INVALID runs (noise rejection); `max_runs`
    bounds the number of runs, re-runs included."""
    runner = runner or run
    base = settings if settings is not None else TestSettings(**{"scenario": "Server", **overrides})
    if settings is not None and overrides:
        base = TestSettings(**{**settings.to_dict(), **overrides})
    if base.scenario != "Server":
        base = TestSettings(**{**base.to_dict(), "scenario": "Server", "latency_quantile": None,
                               "min_query_count": None})
    tolerance = check_number(tolerance, "tolerance", positive=True, hi=0.999,
                             hint="a fraction of the rate: 0.05 for 5%")
    max_runs = check_number(max_runs, "max_runs", integer=True, lo=1)
    retries = check_number(retries, "retries", integer=True, nonnegative=True)
    tried: list[dict[str, Any]] = []

    def attempt(qps: float) -> bool:
        for _ in range(1 + retries):
            r = runner(sut, dataset, TestSettings(**{**base.to_dict(), "target_qps": qps}))
            tried.append({"target_qps": qps, "valid": r.valid, "latency": r.quantile(base.latency_quantile),
                          "qps": r.qps, "reasons": r.reasons})
            if r.valid or len(tried) >= max_runs:
                return r.valid
        return False

    lo, hi = None, None
    rate = base.target_qps
    while len(tried) < max_runs and (lo is None or hi is None):
        if attempt(rate):
            lo, rate = rate, rate * 2
        else:
            hi, rate = rate, rate / 2
        if lo is not None and hi is not None:
            break
    while lo is not None and hi is not None and hi / lo - 1 > tolerance and len(tried) < max_runs:
        mid = (lo + hi) / 2
        if attempt(mid):
            lo = mid
        else:
            hi = mid
    return PeakSearch(lo, tried, base.latency_quantile)

# %%
peak = find_peak_qps(SleepSUT(2e-3), ds, target_qps=100, min_duration=1.0, target_latency=0.05, tolerance=0.1,
                     max_duration=15, max_runs=12)  # a bound on the cell: at most 12 runs of at most 15 s
peak

# %% [markdown]
# ## 7. Checking ourselves against MLPerf LoadGen
#
# tinybench's runner is a teaching implementation; LoadGen is the reference. `tinybench.loadgen`
# (optional: `pip install mlcommons-loadgen`) runs the *same* SUT and dataset under the real
# LoadGen with equivalent settings and parses its detail log into a `LoadGenResult` with the same
# accessors as a `ScenarioResult` (`valid`, `percentile`, `qps`, `samples_per_second`, `metric`),
# so the two can be compared side by side. LoadGen's `issue_queries` callback must return at
# once: it only queues the samples, and worker threads run the SUT and report completion.
#
# LoadGen reads `./audit.config` if one exists and writes logs into a folder: the adapter points
# it at a temporary folder (or `log_dir`).

# %% [markdown]
# Side by side, when LoadGen is installed:

# %%
try:
    from tinybench.loadgen import run_loadgen
    for scen, kw in (("SingleStream", dict(min_duration=1.0)), ("Server", dict(target_qps=200, min_duration=2.5,
                                                                               target_latency=0.05))):
        ours, theirs = run(SleepSUT(2e-3), ds, scenario=scen, **kw), run_loadgen(SleepSUT(2e-3), ds, scenario=scen, **kw)
        q = ours.settings.latency_quantile
        print(f"{scen:12s} tinybench p{q * 100:g} {format_seconds(ours.quantile(q))} {'VALID' if ours.valid else 'INVALID'}"
              f" | LoadGen p{q * 100:g} {format_seconds(theirs.quantile(q))} {'VALID' if theirs.valid else 'INVALID'}")
except ImportError:
    print("mlcommons-loadgen is not installed: pip install mlcommons-loadgen")

# %% [markdown]
# ## 8. Batching: throughput against latency
#
# Batching amortises per-call overhead (Python, the dispatcher, kernel launches) and uses wider
# kernels, so samples per second rise with batch size, until compute saturates. But every sample
# in a batch waits for the whole batch: latency rises too. Offline runs of the digits CNN at
# several batch sizes show both sides (per-batch latency is the time of one SUT call):

# %%
for b in (1, 8, 64, 256):
    r_b = run(sut, digits, scenario="Offline", offline_batch_size=b, min_duration=0.0)
    call = float(np.median(r_b.completed - r_b.started))
    print(f"batch {b:4d}: {r_b.samples_per_second:9,.0f} samples/s   one call {format_seconds(call):>10s}   "
          f"accuracy {r_b.accuracy:.3f}")

# %% [markdown]
# ## 9. Threads or processes: a SUT that holds the GIL
#
# The Server and Offline workers are threads. That is right for a SUT that spends its time in
# code that releases the GIL (torch kernels, numpy, I/O): the threads run in parallel. It is
# wrong for a SUT that spends its time in Python bytecode: only one thread runs Python at a time,
# so four workers serve no faster than one, and the benchmark understates what a multi-process
# server (gunicorn workers, Ray replicas) would do.
#
# `ProcessSUT(factory, processes=n)` (the support notebook `tinybench.procsut`) runs `n` copies of
# the SUT in worker processes, each built there by calling `factory()` (a class or a module-level
# function: a new process imports it). Each call sends the batch through a pipe to a free process,
# so the runner's threads only dispatch, and the latency includes the real cost of moving the batch
# and the outputs between processes. Each process gets `cores // processes` torch threads, so that
# their thread pools do not oversubscribe the cores.
#
# What to look for below: with 2 workers, processes should beat threads by up to the number of free
# cores, because threads share one GIL for the Python resize; the last line says what this run
# measured. On a machine whose cores are busy with other work, the gain shrinks or vanishes: that
# is the machine, not the method.
#
# The digits CNN behind a per-sample Python resize (`tinybench.workloads.DigitsPythonPipeline`,
# ~0.9 ms of Python per image) as threads and as processes, Offline, batches of 8:

# %%
from tinybench.workloads import DigitsPythonPipeline

offline = dict(scenario="Offline", offline_batch_size=8, min_duration=1.0, expected_qps=3000)
python_sut = DigitsPythonPipeline()
by_threads = {w: run(python_sut, digits, workers=w, **offline) for w in (1, 2)}
with ProcessSUT(DigitsPythonPipeline, processes=2) as process_sut:
    by_processes = {w: run(process_sut, digits, workers=w, **offline) for w in (1, 2)}
    print(process_sut)
for w in (1, 2):
    print(f"{w} worker{'s' if w > 1 else ' '}: threads {by_threads[w].samples_per_second:7,.0f} samples/s   "
          f"processes {by_processes[w].samples_per_second:7,.0f} samples/s")
gain = by_processes[2].samples_per_second / by_threads[2].samples_per_second
print(f"this run: 2 processes served {gain:.2f}× the samples/s of 2 threads"
      + ("" if gain > 1.1 else " — no clear gain here: fewer free cores than workers (a busy or small machine)"))
assert all(r.accuracy > 0.9 for r in [*by_threads.values(), *by_processes.values()])

# %% [markdown]
# ## Summary
#
# - Choose the scenario that matches the question: latency of one user (SingleStream), of a
#   multi-sample request (MultiStream), latency under load (Server), throughput (Offline).
# - Open-loop load with a seeded Poisson schedule; time Server queries from their **scheduled**
#   arrival, or coordinated omission hides the queue.
# - Runs need a minimum duration and query count, and a percentile needs early stopping's evidence.
# - A result is VALID or INVALID with reasons; read them before the headline number.
# - A SUT that runs Python holds the GIL: serve it from processes (`ProcessSUT`), one torch
#   thread pool per process sized so that they do not oversubscribe the cores.
