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
# 4. The runner: Server with worker threads, MultiStream, Offline with real batches; validity: min
#    duration, min queries, early stopping, the latency bound, errors.
# 5. Reading a result, on SUTs of known service time; a soak run that tests latency and memory for trends.
# 6. Finding the peak rate.
# 7. Checking ourselves against MLPerf LoadGen.
# 8. Batching: throughput against latency.
# 9. Threads or processes: a SUT that holds the GIL.

# %%
#| default_exp scenarios

# %%
#| export
from __future__ import annotations

import contextlib
import math
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from tinybench.stats import early_stopping, early_stopping_min_passing
from tinybench.display import format_seconds
from tinybench.env import environment
from tinybench.timing import NUMPY_DTYPES, check_number, check_quantile, finite_rows, nvtx_range

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
ISSUE_MODES = ("sleep", "hybrid", "precise")
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


def schedule_for(s: TestSettings) -> np.ndarray:
    "The Server arrival schedule (seconds) that `s` asks for: long enough for min_duration and min_query_count."
    if s.load_pattern == "ramp":
        t = ramp_schedule(s.target_qps, s.ramp_to_qps or s.target_qps, max(s.min_duration, 1e-3), s.schedule_seed)
        if t.size < s.min_query_count:
            raise ValueError(f"the ramp yields {t.size} queries, under min_query_count {s.min_query_count}: "
                             "raise the rates or min_duration")
        return t
    make = (lambda n: poisson_schedule(s.target_qps, n, s.schedule_seed)) if s.load_pattern == "poisson" else \
        (lambda n: burst_schedule(s.target_qps, n, s.burst_size, s.schedule_seed))
    times = make(max(math.ceil(s.target_qps * s.min_duration * 1.5) + 16 + s.burst_size, s.min_query_count))
    n = max(s.min_query_count, int(np.searchsorted(times, s.min_duration, side="right")) + 1)
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
# A SUT that raises fails only its query (counted, and the run is INVALID with the reason);
# a SUT that returns the wrong number of outputs is a bug in the SUT: the run stops with a
# `ValueError`. Ctrl-C stops the run and returns what was measured, marked incomplete.

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


def headline_metric(r: Any) -> tuple[str, float]:
    "(name, value) of a run's headline metric; `r` has `settings`, `samples_per_second`, `qps` and `quantile(q)`."
    s = r.settings
    if s.scenario == "Offline":
        return "samples per second", r.samples_per_second
    if s.scenario == "Server":
        return "completed queries per second", r.qps
    return f"p{s.latency_quantile * 100:g} latency", r.quantile(s.latency_quantile)

# %% [markdown]
# Validity follows LoadGen's rules: the run must last `min_duration` and complete
# `min_query_count` queries; the early-stopping test of module 01 must pass; a Server run's
# percentile latency must be within `target_latency`; plus tinybench's own: no query may fail, the
# run must not be interrupted, and the load generator must have kept to its schedule.

# %%
#| export
def early_stopping_result(r: ScenarioResult):
    """LoadGen's early-stopping verdict for this run (module 01's `early_stopping`). Server counts the queries over
    target_latency; SingleStream/MultiStream start from one, as LoadGen does, and get the conservative estimate."""
    s = r.settings
    if s.scenario == "Server":
        return early_stopping(r.n_queries, int((r.latencies > s.target_latency).sum()), s.latency_quantile)
    return early_stopping(r.n_queries, min(1, r.n_queries), s.latency_quantile, latencies=r.latencies)


def validity_reasons(r: ScenarioResult) -> list[str]:
    "Every reason a run is INVALID (empty when VALID)."
    s, reasons = r.settings, []
    if r.interrupted:
        reasons.append("interrupted (Ctrl-C): the result is partial")
    if r.n_errors:
        reasons.append(f"{r.n_errors} of {len(r.errors)} queries failed in the SUT (first: {next(e for e in r.errors if e)})")
    if r.stopped_early:
        reasons.append(r.stopped_early)
    if r.timed_out:
        reasons.append(f"max_duration ({s.max_duration} s) ran out before every query completed: the SUT is too slow "
                       "for these settings")
    span = float(r.scheduled.max()) if s.scenario == "Server" and r.scheduled.size else r.duration
    if span < s.min_duration:
        hint = "; set expected_qps so enough samples are issued" if s.scenario == "Offline" else ""
        reasons.append(f"ran {span:.2f} s, under min_duration {s.min_duration} s{hint}")
    if r.n_queries < s.min_query_count and s.scenario != "Offline":
        reasons.append(f"{r.n_queries} queries completed, under min_query_count {s.min_query_count}")
    if s.scenario in ("SingleStream", "MultiStream", "Server") and r.n_queries:
        es = early_stopping_result(r)
        if not es.passed:
            reasons.append(f"early stopping not met: {r.n_queries} queries with {es.n_over} over the bound, "
                           f"{es.min_queries} needed")
    if s.scenario == "Server" and r.n_queries:
        p = r.quantile(s.latency_quantile)
        if p > s.target_latency:
            reasons.append(f"p{s.latency_quantile * 100:g} latency {format_seconds(p)} exceeds target_latency "
                           f"{format_seconds(s.target_latency)}: reduce target_qps")
        lat, k = r.latencies, max(1, r.n_queries // 10)
        first, last = float(np.median(lat[:k])), float(np.median(lat[-k:]))
        if last > 10 * first and last > s.target_latency:
            reasons.append(f"overloaded: latency grew from {format_seconds(first)} (first 10% of queries) to "
                           f"{format_seconds(last)} (last 10%): the backlog grows without bound at this rate")
        late = r.issue_lateness
        if late.size and np.quantile(late, 0.99) > 0.1 * s.target_latency:
            reasons.append(f"the load generator fell behind its schedule (p99 issue lateness "
                           f"{format_seconds(float(np.quantile(late, 0.99)))})")
    return reasons

# %% [markdown]
# The runner itself: a few small functions, one per scenario, sharing the bookkeeping.

# %%
#| export
class _Recorder:
    "Per-query timestamps (seconds from t0), appended by the issuer and filled in by the worker threads."
    def __init__(self, labels: Sequence | None):
        self.queries: list[list[int]] = []
        self.scheduled: list[float] = []
        self.issued: list[float] = []
        self.started: list[float] = []
        self.completed: list[float] = []
        self.errors: list[str | None] = []
        self.labels = labels
        self.query_labels: np.ndarray | None = None  # Offline over one array: the label of each query, in order
        self.correct: list[bool] = []
        self.fatal: BaseException | None = None
        self.timed_out = False
        self.stopped_early: str | None = None
        self.target: float | None = None  # Server: the latency bound, to count queries over it as they complete
        self.n_completed = 0
        self.n_over = 0
        self.busy_s = 0.0  # seconds spent in SUT calls, summed over the calls (the SUT's utilisation, Server)
        self.issuer_cpu: float | None = None  # CPU seconds the issuing thread used (Server)
        self.lock = threading.Lock()

    def add(self, idx: list[int], scheduled: float) -> int:
        "Register a query (its sample indices and scheduled time); returns its id."
        self.queries.append(idx)
        self.scheduled.append(scheduled)
        for col in (self.issued, self.started, self.completed):
            col.append(math.nan)
        self.errors.append(None)
        return len(self.queries) - 1

    def serve(self, sut: Callable, samples: Sequence, qids: list[int], t0: float) -> None:
        "Run one SUT call for the queries `qids` (their samples batched together) and record the outcome."
        idx = [i for q in qids for i in self.queries[q]]
        start = time.perf_counter() - t0
        try:
            out = sut([samples[i] for i in idx])
            error = None
        except Exception as e:  # a failing query is recorded with its error; the run goes on
            out, error = None, f"{type(e).__name__}: {e}"
        done = time.perf_counter() - t0
        bad = [error] * len(idx) if error is not None else output_errors(out, len(idx))
        with self.lock:
            k = 0
            for q in qids:
                n = len(self.queries[q])
                self.started[q], self.completed[q] = start, done
                self.errors[q] = next((e for e in bad[k:k + n] if e is not None), None)
                if self.target is not None and done - self.scheduled[q] > self.target:
                    self.n_over += 1
                if self.errors[q] is None and self.labels is not None:
                    self.correct.extend(_is_correct(out[j], self.labels[idx[j]]) for j in range(k, k + n))
                k += n
            self.n_completed += len(qids)
            self.busy_s += done - start


NONFINITE_OUTPUT = "the SUT's output for this sample holds NaN or infinity"


def batch_error(out: Any, n: int) -> str | None:
    "Why `out` is not a sequence (list, array, tensor) of `n` outputs, one per sample of the batch; None when it is."
    if out is None:
        return f"the SUT returned None for a batch of {n} samples; it must return one output per sample"
    try:
        k = len(out)
    except TypeError:
        return f"the SUT returned a {type(out).__name__}, not a sequence of {n} outputs (one per sample)"
    if isinstance(out, (str, bytes)) or k != n:
        return f"the SUT returned {k} outputs for a batch of {n} samples; it must return one output per sample"
    return None


def output_errors(out: Any, n: int) -> list[str | None]:
    """Per sample of a batch of `n`, why the SUT's output for it is not a usable output (None where it is).

    A malformed batch (`batch_error`) is an error of every sample in it; an output with a NaN or an infinity is an
    error of its sample, never a prediction (the argmax of NaNs is 0, a "correct" class-0 answer)."""
    whole = batch_error(out, n)
    if whole is not None:
        return [whole] * n
    finite = finite_rows(out)
    if finite is None or finite.all():
        return [None] * n
    return [None if ok else NONFINITE_OUTPUT for ok in finite]


def _as_numpy(out: Any) -> np.ndarray:
    "`out` (a tensor on any device, an array, a list) as a numpy array; bfloat16 and other dtypes numpy lacks as float32."
    if hasattr(out, "detach"):
        t = out.detach().cpu()
        return (t if str(t.dtype) in NUMPY_DTYPES or not t.is_floating_point() else t.float()).numpy()
    return np.asarray(out)


def _is_correct(output: Any, label: Any) -> bool:
    arr = _as_numpy(output)
    pred = arr.argmax() if arr.ndim >= 1 and arr.size > 1 else arr.item()
    return bool(pred == label)


# %% [markdown]
# Closed-loop scenarios (SingleStream, MultiStream):

# %%
#| export
def _run_closed_loop(sut, samples, rec: _Recorder, s: TestSettings, t0: float) -> None:
    per = s.samples_per_query if s.scenario == "MultiStream" else 1
    n_avail = len(samples)
    order = np.random.default_rng(s.sample_seed).permutation(n_avail)
    pool = _ThreadPool(s.workers) if s.workers > 1 and per > 1 else None
    try:
        while True:
            now = time.perf_counter() - t0
            n = len(rec.queries)
            # the run's duration is its last completion: stop once that (not the clock now) reaches min_duration
            if n >= s.min_query_count and rec.completed and rec.completed[-1] >= s.min_duration:
                return
            if now >= s.max_duration:
                rec.timed_out = True
                return
            first = int(order[n % n_avail])
            q = rec.add([(first + k) % n_avail for k in range(per)], now)  # contiguous samples, as LoadGen
            rec.issued[q] = now
            if pool is None:
                rec.serve(sut, samples, [q], t0)
            else:  # the query's samples run concurrently; it completes with the slowest
                _serve_split(sut, samples, rec, q, t0, pool)
            if rec.fatal:
                return
    finally:
        if pool is not None:
            pool.close()


def _serve_split(sut, samples, rec: _Recorder, q: int, t0: float, pool: "_ThreadPool") -> None:
    "Serve each sample of query q as its own SUT call on the pool; the query completes with the slowest."
    parts = []
    for i in rec.queries[q]:
        part = _Recorder(rec.labels)
        part.add([i], rec.scheduled[q])
        parts.append(part)
    pool.map(lambda p: p.serve(sut, samples, [0], t0), parts)
    rec.fatal = next((p.fatal for p in parts if p.fatal), None)
    rec.started[q] = min(p.started[0] for p in parts)
    rec.completed[q] = max(p.completed[0] for p in parts)
    rec.errors[q] = next((p.errors[0] for p in parts if p.errors[0]), None)
    rec.correct.extend(c for p in parts for c in p.correct)


class _ThreadPool:
    "A minimal fixed pool: `map` runs fn over items on the workers and waits for all of them."
    def __init__(self, n: int):
        from concurrent.futures import ThreadPoolExecutor
        self._ex = ThreadPoolExecutor(max_workers=n)

    def map(self, fn, items) -> None:
        for f in [self._ex.submit(fn, it) for it in items]:
            f.result()

    def close(self) -> None:
        self._ex.shutdown(wait=True)

# %% [markdown]
# Open-loop scenarios (Server, Offline): an issuing loop on the calling thread, workers behind a queue.
#
# The issuer must release each query at its scheduled time. `time.sleep` alone is not precise: the
# OS wakes the thread late, by tens of microseconds on bare metal and often more than 100 µs at the
# median on a virtual machine, with a tail past a millisecond. tinybench audits itself: a Server run
# whose p99 issue lateness exceeds 10% of `target_latency` is INVALID, because then the harness, not
# the SUT, sets the latency. So the `Pacer` sleeps until a margin before the deadline and spins for
# the rest; the margin is learned from the overshoots it sees (`issue_mode="hybrid"`, the default:
# the p99 of them, and only while the SUT is idle and busy less than half the time; `"precise"`:
# 1.5 × the p99.9 and at least 300 µs, always, which costs a busy core; `"sleep"`: no spinning).
# Every result records the lateness and the CPU seconds the issuer used, and the experiment after
# the runner shows both on this machine.

# %%
#| export
class Pacer:
    """Waits until a `perf_counter()` deadline: sleeps to within a learned margin of it, then spins.

    The OS wakes a sleeping thread late (on a virtual machine 60-150 µs at the median, and past a millisecond in
    the tail); that lateness delays the query's issue. Modes: `sleep` (no spinning, the least CPU), `hybrid`
    (spin for the last p99 of the recent wake-up overshoots, only while no query is outstanding and the SUT is busy
    less than half the time: `loaded()`), `precise` (spin
    for the last 1.5 × p99.9 of them, at least 300 µs, always: at low rates nearly every deadline is met, at the
    cost of CPU; at high rates the spinning issuer competes with the workers for the GIL, and `hybrid` does better:
    with a ~90 µs numpy SUT at 3,625 queries/s, precise's p99 lateness measures 0.2-0.5 ms (once 22 ms), against
    hybrid's 0.14-0.19 ms. Use `precise` for light SUTs at low rates).

    A spinning Python thread holds the GIL, and a worker that needs it waits for the switch interval: with a pure
    spin at 20,000 queries/s a no-op SUT's p99 latency is ~4 ms, against ~0.15 ms without it. So the spin yields
    the CPU and the GIL on every turn (`os.sched_yield`), and `hybrid` spins only while the workers are idle
    (`busy()` is false): when queries are outstanding a new one waits in the queue anyway, so a late issue costs it
    little."""
    def __init__(self, mode: str = "hybrid", window: int = 256):
        if mode not in ISSUE_MODES:
            raise ValueError(f"mode must be one of {ISSUE_MODES}, got {mode!r}")
        self.mode, self.quantile = mode, {"sleep": None, "hybrid": 0.99, "precise": 0.999}[mode]
        # precise: 1.5x the quantile and at least 300 µs. Quiet 2-core Xeon VM, no-op SUT at 1,000 queries/s, three
        # 5 s runs each: the bare p99.9 quantile woke past the deadline 19-42 times per ~3,000 sleeps (p99 lateness
        # 45-70 µs), this margin 2-9 times (p99 23-36 µs), for about the same issuer CPU (1.5-2.0 s per 5 s)
        self.safety, self.floor = (1.5, 3e-4) if mode == "precise" else (1.0, 0.0)
        self.overshoot = np.full(window, 2e-4)  # seconds; a ring buffer of recent wake-up overshoots
        self.k, self.margin = 0, max(2e-4, self.floor)

    def wait_until(self, target: float, busy: Callable[[], bool] | None = None,
                   loaded: Callable[[], bool] | None = None) -> None:
        """Return at `target` (seconds on perf_counter) or as soon after as the OS allows; never before it.
        `busy()`: whether queries are outstanding, asked once the margin is reached (then `hybrid` sleeps on).
        `loaded()`: whether the SUT is busy most of the time; then `hybrid` sleeps once, straight to the target (two
        sleeps would add two wake-up overshoots)."""
        if self.mode == "sleep" or (self.mode == "hybrid" and loaded is not None and loaded()):
            delay = target - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            return
        wake = target - self.margin
        delay = wake - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
            self.overshoot[self.k % self.overshoot.size] = time.perf_counter() - wake
            self.k += 1
            if self.k % 32 == 0:  # re-learn the margin now and then: a quantile per call would cost more than it saves
                learned = self.safety * float(np.quantile(self.overshoot, self.quantile))
                self.margin = min(2e-3, max(self.floor, learned))
        if self.mode == "hybrid" and busy is not None and busy():  # a busy worker needs the GIL more than the issuer
            delay = target - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            return
        while time.perf_counter() < target:
            os.sched_yield()  # releases the GIL: the workers keep running while the issuer waits


def _worker(sut, samples, rec: _Recorder, q: queue.SimpleQueue, t0: float, max_batch: int, max_wait: float) -> None:
    while True:
        first = q.get()
        if first is None:
            return
        batch = [first]
        deadline = time.perf_counter() + max_wait
        while len(batch) < max_batch:
            timeout = deadline - time.perf_counter()
            try:
                nxt = q.get(timeout=timeout) if timeout > 0 else q.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                q.put(None)
                break
            batch.append(nxt)
        rec.serve(sut, samples, batch, t0)


def max_over_allowed(n_queries: int, quantile: float, confidence: float = 0.99) -> int:
    "Most queries over the latency bound with which `n_queries` can still pass early stopping (-1: none can)."
    lo, hi = -1, n_queries
    while lo < hi:  # early_stopping_min_passing(t) + t grows with t: bisect for the largest t that fits
        mid = (lo + hi + 1) // 2
        if early_stopping_min_passing(mid, quantile, confidence) + mid <= n_queries:
            lo = mid
        else:
            hi = mid - 1
    return lo


class _Overload:
    """Decides when a Server run can no longer be VALID: more queries are (or will certainly be) over the latency
    bound than early stopping allows for the whole schedule. Queries scheduled more than `target_latency` ago that
    have not completed will complete over the bound; at least `k - n_completed` of the first `k` are such."""
    def __init__(self, rec: _Recorder, s: TestSettings):
        self.rec, self.target = rec, s.target_latency
        self.scheduled = np.asarray(rec.scheduled, dtype=float)
        self.allowed = max_over_allowed(self.scheduled.size, s.latency_quantile)
        self.enabled = s.stop_when_invalid

    def hopeless(self, now: float, issued: int) -> bool:
        "True (and the reason recorded) once VALID is impossible; `now` in seconds from t0, `issued` queries so far."
        if self.allowed < 0 or not self.enabled:  # a schedule too short to pass early stopping at all: that is not overload
            return False
        k = min(int(np.searchsorted(self.scheduled, now - self.target)), issued)
        over = self.rec.n_over + max(0, k - self.rec.n_completed)
        if over <= self.allowed:
            return False
        self.rec.stopped_early = (f"overloaded: {over} queries were already over target_latency "
                                  f"{format_seconds(self.target)} at {now:.2f} s, more than the {max(self.allowed, 0)} "
                                  f"that early stopping allows for {self.scheduled.size} queries; VALID was impossible, "
                                  "so the run stopped early: reduce target_qps")
        return True


def _run_server(sut, samples, rec: _Recorder, s: TestSettings, t0: float) -> None:
    q: queue.SimpleQueue = queue.SimpleQueue()  # C-implemented: a few µs less per query than queue.Queue
    rec.target = s.target_latency
    overload = _Overload(rec, s)
    pacer = Pacer(s.issue_mode)
    cpu0 = time.thread_time()
    threads = [threading.Thread(target=_worker, args=(sut, samples, rec, q, t0, s.max_batch, s.max_wait), daemon=True)
               for _ in range(s.workers)]
    for th in threads:
        th.start()
    check_every = 64
    # hybrid spins only while the SUT is busy less than half the time; past that it sleeps once, straight to the
    # deadline, as `sleep` does: a late issue then costs the query little (it would queue anyway), and sleeping to
    # the margin and then again to the deadline adds two overshoots (a numpy matmul on 2 BLAS threads at 7,000
    # queries/s, 2-core Xeon VM: p99 lateness 1.3-1.4 ms, INVALID, against `sleep`'s 0.34 ms, VALID)
    busy_share = 0.5 * s.workers
    try:
        for qid, when in enumerate(rec.scheduled):
            if when > s.max_duration:
                rec.timed_out = True
                break
            if rec.fatal:
                break
            if qid % check_every == 0 and overload.hopeless(time.perf_counter() - t0, qid):
                break
            pacer.wait_until(t0 + when, busy=lambda: qid > rec.n_completed,
                             loaded=lambda: rec.busy_s > busy_share * (time.perf_counter() - t0))
            rec.issued[qid] = time.perf_counter() - t0
            q.put(qid)
        rec.issuer_cpu = time.thread_time() - cpu0
        for _ in threads:
            q.put(None)
        issued = int(np.isfinite(np.asarray(rec.issued, dtype=float)).sum())
        # once VALID is impossible, the queries already queued get a grace period to complete (their latencies are
        # kept: they show the overload), then the rest of the backlog is dropped
        _join(threads, t0, s.max_duration + 1.0, rec,
              stop=lambda: rec.stopped_early is not None or overload.hopeless(time.perf_counter() - t0, issued),
              grace=max(1.0, 10 * s.target_latency), on_give_up=lambda: _drain(q, len(threads)))
    except KeyboardInterrupt:
        _drain(q, len(threads))
        raise


def _join(threads: list[threading.Thread], t0: float, limit: float, rec: _Recorder,
          stop: Callable[[], bool] | None = None, grace: float = 0.0,
          on_give_up: Callable[[], None] | None = None) -> None:
    """Wait for the workers; give up (and mark the run timed out) once `limit` seconds from t0 have passed.
    `stop()` is polled too: once it is true the wait lasts at most `grace` seconds more, then `on_give_up()` runs
    (drop the queued work) and the run is not marked timed out: it was stopped on purpose."""
    deadline = None
    for th in threads:
        while th.is_alive():
            th.join(timeout=0.05)
            now = time.perf_counter() - t0
            if deadline is None and stop is not None and stop():
                deadline = now + grace
            if deadline is not None and now > deadline:
                if on_give_up is not None:
                    on_give_up()
                for other in threads:
                    other.join(timeout=max(0.0, limit - (time.perf_counter() - t0)))
                return
            if now > limit:
                rec.timed_out = True
                return


def _drain(q: queue.SimpleQueue, n_workers: int) -> None:
    "Drop queued work and tell every worker to stop."
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass
    for _ in range(n_workers):
        q.put(None)

# %% [markdown]
# `run` puts it together: load the performance samples, build the queries and their schedule,
# run, and judge validity.

# %%
#| export
def _plan_open_loop(rec: _Recorder, s: TestSettings, n_avail: int) -> None:
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
    rec = _Recorder(None if labels is None else [labels[i] for i in range(n_avail)])
    if s.scenario in ("Server", "Offline"):
        _plan_open_loop(rec, s, n_avail)
    # the samples are loaded before timing starts (Offline over one array: as the views each call gets)
    samples = _offline_views(array[:n_avail], rec, s) if batched else [dataset[i] for i in range(n_avail)]
    old_switch = sys.getswitchinterval()
    sys.setswitchinterval(min(old_switch, 2e-4))
    interrupted = False
    t0 = time.perf_counter()
    reporter = _Progress(rec, s, t0) if progress else None
    try:
        with nvtx_range(f"tinybench {s.scenario}"):
            {"SingleStream": _run_closed_loop, "MultiStream": _run_closed_loop, "Server": _run_server,
             "Offline": _run_offline_arrays if batched else _run_offline}[s.scenario](sut, samples, rec, s, t0)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        sys.setswitchinterval(old_switch)
        if reporter is not None:
            reporter.stop()
    if rec.fatal is not None:
        raise rec.fatal
    return _result(rec, s, interrupted, labels is not None)


class _Progress:
    "A background thread printing `[scenario] done/total queries, elapsed s` to stderr every 0.5 s."
    def __init__(self, rec: _Recorder, s: TestSettings, t0: float):
        self.rec, self.s, self.t0, self.done = rec, s, t0, threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _line(self) -> str:
        done = int(np.isfinite(np.array(self.rec.completed, dtype=float)).sum())
        total = len(self.rec.queries) if self.s.scenario in ("Server", "Offline") else max(self.s.min_query_count, done)
        return (f"\r[{self.s.scenario}] {done}/{total} queries, {time.perf_counter() - self.t0:.1f} s "
                f"(min {self.s.min_duration:g} s)")

    def _loop(self) -> None:
        while not self.done.wait(0.5):
            sys.stderr.write(self._line())
            sys.stderr.flush()

    def stop(self) -> None:
        self.done.set()
        self.thread.join()
        sys.stderr.write(self._line() + "\n")


def _result(rec: _Recorder, s: TestSettings, interrupted: bool, has_labels: bool) -> ScenarioResult:
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
# Offline hands out real batches: each worker call gets `offline_batch_size` samples.

# %%
#| export
def _run_pool(work: Callable[[], None], q: queue.SimpleQueue, rec: _Recorder, s: TestSettings, t0: float) -> None:
    """Run `work` on `s.workers` threads until they finish or max_duration runs out; Ctrl-C drops the queued work.

    One worker runs in the calling thread instead: torch's intra-op threads ran the digits CNN ~45% slower when
    called from a thread other than the main one (2 torch threads on a 2-core Xeon VM: 90-97k against 170-179k
    samples/s at batch 128). There max_duration stops the handing out of batches; a call in progress is waited for."""
    if s.workers == 1:
        def time_out() -> None:
            rec.timed_out = True
            _drain(q, 1)
        timer = threading.Timer(max(0.0, s.max_duration - (time.perf_counter() - t0)), time_out)
        timer.daemon = True
        timer.start()
        try:
            work()
        except KeyboardInterrupt:
            _drain(q, 1)
            raise
        finally:
            timer.cancel()
        return
    threads = [threading.Thread(target=work, daemon=True) for _ in range(s.workers)]
    for th in threads:
        th.start()
    try:
        _join(threads, t0, s.max_duration, rec)
    except KeyboardInterrupt:
        _drain(q, s.workers)
        raise


def _run_offline(sut, samples, rec: _Recorder, s: TestSettings, t0: float) -> None:
    b = s.offline_batch_size
    n = len(rec.queries)
    q: queue.SimpleQueue = queue.SimpleQueue()  # C-implemented: a few µs less per query than queue.Queue
    for i in range(0, n, b):
        q.put(list(range(i, min(i + b, n))))
    for _ in range(s.workers):
        q.put(None)
    for i in range(n):
        rec.issued[i] = 0.0

    def work():
        while True:
            g = q.get()
            if g is None or rec.fatal:
                return
            rec.serve(sut, samples, g, t0)

    _run_pool(work, q, rec, s, t0)

# %% [markdown]
# When the dataset is one array (or tensor) and the SUT takes arrays (`TorchSUT` does), Offline does not
# build a list of samples and stack it again for every batch: before timing it gathers the samples in
# the run's seeded order into one contiguous array (LoadGen loads its samples before timing too), and
# then hands each call a slice of it, a view, not a copy. The per-sample bookkeeping is vectorised:
# one slice assignment per batch for the timestamps. The outputs are copied into one buffer and checked
# (NaN, accuracy) after the run, as LoadGen checks its accuracy log after the run: checking them between
# calls cost ~9% of the digits CNN's throughput on a 2-core machine, because torch's intra-op threads
# still spin for a while after each call and slow whatever runs next. Queries still map to samples one
# to one, so accuracy and the per-query records mean what they mean on the list path.

# %%
#| export
def _offline_views(array, rec: _Recorder, s: TestSettings) -> list[tuple[int, int, Any]]:
    """Before timing: the samples gathered in query order into one contiguous array (a copy), cut into the batches
    as (first query, end query, view); the records become numpy arrays.

    The seeded order repeats every `cycle` queries, so one cycle is gathered, followed by its first `batch` samples
    again: every batch is then one contiguous view, also where it crosses into the next cycle (cutting batches at
    the cycle instead cost 5% of Offline's throughput: 1,350 samples at batch 128 made every 11th call 70 samples)."""
    order = np.array([ix[0] for ix in rec.queries])
    n, batch = order.size, s.offline_batch_size
    cycle = min(len(array), n)
    gathered = array[order[np.arange(cycle + min(batch, n)) % cycle]]
    rec.issued = np.zeros(n)
    rec.started, rec.completed = np.full(n, math.nan), np.full(n, math.nan)
    rec.query_labels = None if rec.labels is None else np.asarray(rec.labels)[order]
    return [(a, min(a + batch, n), gathered[a % cycle:a % cycle + min(batch, n - a)]) for a in range(0, n, batch)]


def _run_offline_arrays(sut, views: list, rec: _Recorder, s: TestSettings, t0: float) -> None:
    "Offline over `_offline_views`: each call gets a view, outputs are checked after the run (`_DeferredChecks`)."
    checks = _DeferredChecks(len(rec.started), rec.query_labels, rec.errors)
    q: queue.SimpleQueue = queue.SimpleQueue()
    for v in views:
        q.put(v)
    for _ in range(s.workers):
        q.put(None)

    def work():
        while True:
            v = q.get()
            if v is None or rec.fatal:
                return
            a, b, view = v
            start = time.perf_counter() - t0
            try:
                out = sut(view)
                error = None
            except Exception as e:  # a failing query is recorded with its error; the run goes on
                out, error = None, f"{type(e).__name__}: {e}"
            rec.completed[a:b] = time.perf_counter() - t0
            rec.started[a:b] = start
            checks.add(a, b, out, error)

    try:
        _run_pool(work, q, rec, s, t0)
    finally:
        rec.correct = checks.finish(np.isfinite(rec.completed))


class _DeferredChecks:
    """Offline's output checks, off the timed path. Each batch's outputs are copied (one copy call) into one buffer
    of their own kind (a CPU tensor for tensors, an array for arrays); after the run they are checked for NaN and
    infinity and against the labels in one vectorised pass. Checking after the run is what LoadGen does with its
    accuracy log; the copy keeps the check right for a SUT that reuses its output memory. Outputs that are not
    arrays or tensors, rows of another shape or dtype, or a buffer over `max_bytes` are checked at once, as on
    the list path.

    Measured (digits CNN, batch 128, 2 torch threads, 2-core Xeon VM): checking right after each call took 60-65 us
    of a ~710 us batch (the intra-op threads still spin then and slow the caller); converting each output to numpy
    ~12 us; the copy into a tensor buffer is one call."""
    max_bytes = 64 << 20  # the largest buffer (bytes); outputs that need more are checked at once

    def __init__(self, n: int, labels: np.ndarray | None, errors: list):
        self.n, self.labels, self.errors = n, labels, errors
        self.buf: Any = None  # np.ndarray or torch.Tensor of n rows, made at the first batch
        self.filled = np.zeros(n, dtype=bool)
        self.correct = np.zeros(n, dtype=bool)
        self.lock = threading.Lock()
        self.no_buffer = False

    def add(self, a: int, b: int, out: Any, error: str | None) -> None:
        "Record the outputs `out` of queries [a, b) (or the batch's `error`: the SUT raised)."
        error = error or batch_error(out, b - a)
        if error is not None:
            self.errors[a:b] = [error] * (b - a)
            return
        buf = self.buf if self.buf is not None else self._make_buffer(out)
        if buf is not None and type(out) is type(buf) and out.shape[1:] == buf.shape[1:] and out.dtype == buf.dtype:
            buf[a:b] = out
            self.filled[a:b] = True
            return
        bad = output_errors(out, b - a)  # checked at once
        if any(e is not None for e in bad):
            self.errors[a:b] = bad
        if self.labels is not None:
            self.correct[a:b] = _correct_batch(out, self.labels[a:b])

    def _make_buffer(self, out: Any) -> Any:
        "The buffer, made at the first batch (None when outputs like `out` are checked at once)."
        with self.lock:
            if self.buf is None and not self.no_buffer:
                self.buf = self._new_buffer(out)
                self.no_buffer = self.buf is None
            return self.buf

    def _new_buffer(self, out: Any) -> Any:
        "An empty CPU tensor or array for n rows like `out`'s; None when `out` is neither, or the buffer too big."
        if getattr(out, "ndim", 0) < 1:
            return None
        shape = (self.n, *out.shape[1:])
        if hasattr(out, "detach") and hasattr(out, "new_empty"):  # a torch tensor
            if out.element_size() * math.prod(shape) <= self.max_bytes:
                return out.new_empty(shape, device="cpu")
        elif isinstance(out, np.ndarray) and out.dtype.kind in "biufc":
            if out.dtype.itemsize * math.prod(shape) <= self.max_bytes:
                return np.empty(shape, dtype=out.dtype)
        return None

    def finish(self, completed: np.ndarray) -> list[bool]:
        """Check the buffered outputs; return the correctness of each query that completed without an error (in
        query order; empty without labels)."""
        if self.buf is not None and self.filled.any():
            idx = np.flatnonzero(self.filled)
            rows = self.buf if idx.size == self.n else self.buf[idx]
            finite = finite_rows(rows)
            for i in idx[~finite]:
                self.errors[i] = NONFINITE_OUTPUT
            if self.labels is not None:
                self.correct[idx] = _correct_batch(rows, self.labels[idx])
        if self.labels is None:
            return []
        ok = completed & np.array([e is None for e in self.errors], dtype=bool)
        return self.correct[ok].tolist()


def _correct_batch(out: Any, labels: np.ndarray) -> np.ndarray:
    "Per-sample correctness of a batch of outputs: argmax of each row (or the value itself) equals the label."
    arr = _as_numpy(out)
    if arr.ndim >= 2 and arr.shape[1] > 1:
        pred = arr.reshape(arr.shape[0], -1).argmax(axis=1)
    else:
        pred = arr.reshape(arr.shape[0])
    return pred == labels

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
# ## 5. Reading a result
#
# `summary()` is modelled on LoadGen's `mlperf_log_summary.txt`: the scenario, the metric, VALID
# or INVALID with every reason, then latency statistics.

# %%
#| export
def summary(r: ScenarioResult) -> str:
    "A text summary of a run in the style of LoadGen's mlperf_log_summary.txt."
    s = r.settings
    name, value = r.metric
    lines = ["=" * 48, "tinybench Results Summary", "=" * 48, f"Scenario : {s.scenario}",
             f"{name} : {format_seconds(value) if name.endswith('latency') else f'{value:,.2f}'}",
             f"Result is : {'VALID' if r.valid else 'INVALID'}"]
    lines += [f"  * {reason}" for reason in r.reasons]
    lat = r.latencies
    lines += ["", "=" * 48, "Additional Stats", "=" * 48,
              f"Queries completed : {r.n_queries} ({r.n_errors} failed)", f"Samples completed : {r.n_samples}",
              f"Duration : {r.duration:.3f} s", f"QPS : {r.qps:,.2f}", f"Samples per second : {r.samples_per_second:,.2f}"]
    if lat.size:
        lines += [f"Min latency : {format_seconds(lat.min())}", f"Max latency : {format_seconds(lat.max())}",
                  f"Mean latency : {format_seconds(lat.mean())}"]
        lines += [f"{q * 100:g} quantile latency : {format_seconds(r.quantile(q))}" for q in (0.5, 0.9, 0.95, 0.99)]
    if s.scenario == "Server" and r.issue_lateness.size:
        late = r.issue_lateness
        lines.append(f"Issue lateness p50 / p99 : {format_seconds(float(np.quantile(late, 0.5)))} / "
                     f"{format_seconds(float(np.quantile(late, 0.99)))} ({s.issue_mode} issuer)")
        if r.issuer_cpu is not None and r.duration > 0:
            lines.append(f"Issuer CPU : {r.issuer_cpu:.3f} s ({r.issuer_cpu / r.duration:.0%} of a core)")
    if s.scenario in ("SingleStream", "MultiStream") and r.n_queries:
        es = early_stopping_result(r)
        if es.estimate is not None:
            lines.append(f"Early stopping p{s.latency_quantile * 100:g} estimate : {format_seconds(es.estimate)} "
                         f"(discarding the {es.estimate_rank - 1} highest latencies)")
    if r.accuracy is not None:
        lines.append(f"Accuracy : {r.accuracy:.4f}")
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
ds = ArrayDataset(np.arange(64))
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
# scenario while a background thread samples the process's resident memory (psutil) every
# `interval` seconds, then tests both series for a trend with module 01's tools: Spearman's test
# on per-window median latency, and a least-squares slope of memory with its p-value.

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

    @property
    def leak(self) -> bool:
        "Memory grows: positive slope, p < 0.001, and more than 1 MiB over the run."
        grown = self.mem_slope * (self.mem_time[-1] - self.mem_time[0]) if self.mem_time.size > 1 else 0.0
        return bool(self.mem_p < 1e-3 and self.mem_slope > 0 and grown > 2**20)

    def to_dict(self) -> dict[str, Any]:
        return {"result": self.result.to_dict(), "window_start": self.window_start.tolist(),
                "window_p50": self.window_p50.tolist(), "mem_time": self.mem_time.tolist(),
                "mem_rss": self.mem_rss.tolist(), "mem_slope_bytes_per_s": self.mem_slope, "mem_p": self.mem_p,
                "leak": self.leak, "latency_drift": self.latency_drift}

    def __repr__(self) -> str:
        return (f"SoakResult({self.result.settings.min_duration:g} s at {self.result.settings.target_qps:g}/s: "
                f"memory {self.mem_slope / 2**20 * 60:+.2f} MiB/min (p={self.mem_p:.2g}){', LEAK' if self.leak else ''}; "
                f"latency {'drifts: ' + self.latency_drift if self.latency_drift else 'steady'})")

    def _repr_html_(self) -> str:
        return f"<pre>{self!r}</pre>"


def soak(sut: Callable[[list], Any], dataset: Any, settings: TestSettings | None = None, interval: float = 0.1,
         windows: int = 20, **overrides) -> SoakResult:
    "Run Server for settings.min_duration while sampling process RSS every `interval` s; test latency and memory trends."
    interval = check_number(interval, "interval", positive=True, hint="seconds between memory samples, e.g. 0.1")
    windows = check_number(windows, "windows", integer=True, lo=1, hint="time windows for the latency trend")
    import psutil
    from scipy.stats import linregress

    from tinybench.timing import check_drift
    s = settings if settings is not None else TestSettings(**{"scenario": "Server", **overrides})
    if settings is not None and overrides:
        s = TestSettings(**{**settings.to_dict(), **overrides})
    s = TestSettings(**{**s.to_dict(), "stop_when_invalid": False})  # a soak runs its whole duration: that is its point
    proc, stop, samples = psutil.Process(), threading.Event(), []
    t0 = time.perf_counter()

    def sample_memory():
        while not stop.is_set():
            samples.append((time.perf_counter() - t0, proc.memory_info().rss))
            stop.wait(interval)

    th = threading.Thread(target=sample_memory, daemon=True)
    th.start()
    try:
        r = run(sut, dataset, s)
    finally:
        stop.set()
        th.join()
    mem = np.array(samples, dtype=float).reshape(-1, 2)
    fit = linregress(mem[:, 0], mem[:, 1]) if len(mem) > 2 and np.ptp(mem[:, 1]) > 0 else None
    edges = np.linspace(0, max(float(r.scheduled.max()), 1e-9), windows + 1)
    ok_sched = r.scheduled[r.ok]
    p50 = np.array([np.median(r.latencies[(ok_sched >= lo) & (ok_sched < hi)]) if ((ok_sched >= lo) & (ok_sched < hi)).any()
                    else np.nan for lo, hi in zip(edges[:-1], edges[1:])])
    good = np.isfinite(p50)
    drift = check_drift(p50[good]) if good.sum() >= 20 else None
    return SoakResult(r, edges[:-1], p50, mem[:, 0], mem[:, 1], float(fit.slope) if fit else 0.0,
                      float(fit.pvalue) if fit else 1.0, drift.explanation if drift else None)

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
# `ProcessSUT(factory, processes=n)` runs `n` copies of the SUT in worker processes, each built
# there by calling `factory()` (a class or a module-level function: it must be importable, as
# `multiprocessing`'s spawn start method requires; for the same reason the demo below uses the
# installed package's `ProcessSUT`, not the one this notebook just defined in `__main__`). Each call sends the batch through a pipe to a
# free process and waits for the outputs, so the runner's threads only dispatch, and the latency
# it records includes the real cost of moving the batch and the outputs between processes. A SUT
# that raises in its process fails its query, as in a thread; a process that dies fails the
# queries sent to it; Ctrl-C is left to the parent (the workers ignore SIGINT).

# %% [markdown]
# Moving the batch costs more than it should if torch tensors go through `pickle` as they are
# (each one is serialised like `torch.save`, tens of microseconds apiece): CPU tensors travel as
# numpy arrays instead (pickle protocol 5, one copy) and are turned back into tensors on the other
# side.

# %%
#| export
class _WireTensor:
    "A CPU torch tensor in transit between processes, as a numpy array (cheap to pickle)."
    __slots__ = ("array",)

    def __init__(self, array: np.ndarray):
        self.array = array

    def __getstate__(self) -> np.ndarray:
        return self.array

    def __setstate__(self, array: np.ndarray) -> None:
        self.array = array


def _pack(obj: Any) -> Any:
    "Replace CPU torch tensors (also inside lists and tuples) by _WireTensor; everything else as is."
    if type(obj).__module__.startswith("torch") and getattr(getattr(obj, "device", None), "type", None) == "cpu":
        try:
            return _WireTensor(obj.detach().numpy())
        except (TypeError, RuntimeError):  # a dtype numpy lacks (bfloat16): pickle the tensor itself
            return obj
    if isinstance(obj, list):
        return [_pack(o) for o in obj]
    if isinstance(obj, tuple):
        return tuple(_pack(o) for o in obj)
    return obj


def _unpack(obj: Any) -> Any:
    "Inverse of _pack."
    if isinstance(obj, _WireTensor):
        import torch
        return torch.from_numpy(obj.array)
    if isinstance(obj, list):
        return [_unpack(o) for o in obj]
    if isinstance(obj, tuple):
        return tuple(_unpack(o) for o in obj)
    return obj

# %%
#| export
def _process_worker(factory: Callable[[], Callable[[list], Any]], conn: Any, threads: int | None) -> None:
    "Body of one ProcessSUT worker: build the SUT, then answer (ok, outputs or error) per batch until None."
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if threads is not None:
        try:
            import torch
            torch.set_num_threads(threads)
        except ImportError:
            pass
    try:
        sut = factory()
    except Exception as e:  # report why the SUT could not be built, then stop
        conn.send((False, f"{type(e).__name__}: {e}"))
        return
    conn.send((True, None))
    while True:
        batch = conn.recv()
        if batch is None:
            return
        try:
            conn.send((True, _pack(sut(_unpack(batch)))))
        except Exception as e:  # the query fails; the worker serves the next one
            conn.send((False, f"{type(e).__name__}: {e}"))


class ProcessSUT:
    """A SUT served by `processes` worker processes, each holding its own `factory()`; calls from several threads
    run in parallel (one process each), without sharing a GIL. Close it (or use `with`) to stop the workers.

    `threads_per_process`: torch intra-op threads in each worker (default: cores // processes, at least 1), so
    that the processes' thread pools do not oversubscribe the cores; None leaves torch's default."""
    def __init__(self, factory: Callable[[], Callable[[list], Any]], processes: int = 2, start_method: str = "spawn",
                 start_timeout: float = 120.0, threads_per_process: int | None | str = "auto"):
        import multiprocessing as mp
        import os
        import weakref
        processes = check_number(processes, "processes", integer=True, lo=1, hint="worker processes")
        start_timeout = check_number(start_timeout, "start_timeout", positive=True, hint="seconds")
        if threads_per_process == "auto":
            threads_per_process = max(1, (os.cpu_count() or 1) // processes)
        self.threads_per_process = threads_per_process
        ctx = mp.get_context(start_method)
        self.processes: list = []
        self._conns: list = []
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        self._worker_of: dict[int, Any] = {}  # id(pipe end) -> its process
        self._alive = processes  # workers still in the pool; a dead one is dropped from it
        self._lock = threading.Lock()
        # stops the workers on close(), on garbage collection or at exit; the lists fill in place below
        self._finalizer = weakref.finalize(self, ProcessSUT._stop, self.processes, self._conns)
        for _ in range(processes):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_process_worker, args=(factory, child, threads_per_process), daemon=True)
            proc.start()
            child.close()
            self.processes.append(proc)
            self._conns.append(parent)
            self._worker_of[id(parent)] = proc
        for conn, proc in zip(self._conns, self.processes):
            try:
                if not conn.poll(start_timeout):
                    raise RuntimeError(f"a ProcessSUT worker did not start within {start_timeout:g} s")
                ok, why = conn.recv()
            except EOFError:
                proc.join(timeout=5)
                self.close()
                raise RuntimeError(f"a ProcessSUT worker exited while starting (exit code {proc.exitcode}): the "
                                   "factory and this class must be importable by a new process (defined in a module, "
                                   "not in a notebook or __main__)") from None
            except RuntimeError:
                self.close()
                raise
            if not ok:
                self.close()
                raise ValueError(f"the SUT factory failed in a worker process: {why}")
            self._free.put(conn)

    def __call__(self, batch: list) -> Any:
        conn = self._take()
        try:
            conn.send(_pack(batch))
            ok, payload = conn.recv()
        except (EOFError, OSError) as e:  # the worker died with this query in flight: only this query fails
            self._retire(conn)
            raise RuntimeError(f"a ProcessSUT worker process died ({type(e).__name__}, exit code "
                               f"{self._worker_of[id(conn)].exitcode}); {self._alive} worker(s) remain") from e
        self._free.put(conn)
        if not ok:
            raise RuntimeError(payload)
        return _unpack(payload)

    def _take(self) -> Any:
        "A free pipe to a live worker; workers found dead are dropped from the pool. RuntimeError when none is left."
        while True:
            if self._alive == 0:
                raise RuntimeError(f"every ProcessSUT worker process has died (exit codes "
                                   f"{[p.exitcode for p in self.processes]}): no worker left to serve the query")
            try:
                conn = self._free.get(timeout=0.2)
            except queue.Empty:  # all busy (or all dead): look again
                continue
            if self._worker_of[id(conn)].is_alive():
                return conn
            self._retire(conn)

    def _retire(self, conn: Any) -> None:
        "Drop a dead worker's pipe from the pool (it is never handed out again)."
        with self._lock:
            self._alive -= 1
        try:
            conn.close()
        except OSError:
            pass

    @staticmethod
    def _stop(processes: list, conns: list) -> None:
        for conn in conns:
            try:
                conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        for proc in processes:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()

    def close(self) -> None:
        "Stop the worker processes (idempotent)."
        self._finalizer()

    def __enter__(self) -> "ProcessSUT":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        alive = sum(p.is_alive() for p in self.processes)
        return (f"ProcessSUT({len(self.processes)} processes, {alive} alive, "
                f"{self.threads_per_process or 'default'} torch threads each)")

# %% [markdown]
# Each process also brings its own torch thread pool. Two processes with torch's default of one
# intra-op thread per core ask for twice as many threads as there are cores, and the spinning
# OpenMP threads starve each other: two processes can then serve fewer samples per second than
# one. `ProcessSUT` therefore gives each worker `cores // processes` torch threads unless told
# otherwise. What to look for below: with 2 workers, processes should beat threads by up to the
# number of free cores, because threads share one GIL for the Python resize; the last line says
# what this run measured. On a machine whose cores are busy with other work, the gain shrinks or
# vanishes: that is the machine, not the method.
#
# The digits CNN behind a per-sample Python resize (`tinybench.workloads.DigitsPythonPipeline`,
# ~0.9 ms of Python per image) as threads and as processes, Offline, batches of 8:

# %%
from tinybench.scenarios import ProcessSUT  # a spawned process imports its code: the package's, not this notebook's
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
