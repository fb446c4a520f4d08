# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 00 · Timing: measuring one call correctly
#
# Every number in this course stands on one skill: timing a single call of a function and
# being right about it. It sounds trivial (`t0 = time.time(); f(); time.time() - t0`) and it is
# where most benchmarks go wrong. In this notebook we take the naive recipe apart, one pitfall
# at a time, each with a small experiment, and assemble the pieces into `tinybench.measure`:
#
# 1. clocks and their resolution, and what reading a clock costs;
# 2. loop calibration for work shorter than the clock can see (**exercise 1**);
# 3. warm-up, detected from the data rather than guessed;
# 4. garbage collection;
# 5. summarising samples: median and spread instead of one mean (**exercise 2**);
# 6. asynchronous devices: why CUDA needs `synchronize` and events (**exercise 3**);
# 7. cache effects: hot versus flushed caches;
# 8. noise on shared machines, and a harness that warns about itself;
# 9. the harness assembled: `Measurement`, `Timer`, `measure`;
# 10. inference versus a training step;
# 11. reproducibility;
# 12. why the median and the spread, not one mean.
#
# Exercises are marked **Exercise**. Implement the body between the markers, run the test
# cell below it, and read its message if it fails. Hidden tests check a few more cases.

# %%
#| default_exp timing

# %%
#| export
from __future__ import annotations

import contextlib
import gc
import itertools
import math
import os
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Sequence

import numpy as np

from tinybench.checks import (NUMPY_DTYPES, all_finite, check_fraction, check_level, check_number, check_quantile,
                              finite_rows)
from tinybench.display import ecdf_png, format_seconds
from tinybench.env import environment

# %% [markdown]
# The notebook itself uses a few more imports for its experiments (they are not part of the library).

# %% nbgrader={"grade": false, "grade_id": "notebook-setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import torch
from threadpoolctl import threadpool_limits

from tinybench.nbutils import reference_fallback

# Thread pools, set explicitly: numpy's BLAS and torch each start one thread per core, and on a small or shared
# machine the two pools compete for the same cores, so a measurement times the contention instead of the code.
# One thread each keeps the experiments below comparable; the cells where threads are the lesson set their own.
torch.set_num_threads(1)
threadpool_limits(1)
use_reference_if_open = reference_fallback("tinybench.timing")

# %% [markdown]
# If you read the student version with an exercise still open, the cell after each exercise's
# test swaps in tinybench's reference implementation (`use_reference_if_open`), so the rest of
# the notebook still runs. The graded tests always check *your* functions.

# %% [markdown]
# ## 1. Clocks and their resolution
#
# Python offers several clocks. `time.time()` is wall-clock time: it can jump when NTP
# adjusts the system clock, so it is wrong for intervals. `time.perf_counter()` is monotonic
# and has the finest resolution; `time.process_time()` counts only this process's CPU time
# (it ignores sleeping and waiting, which is sometimes what you want and usually not).
# `time.get_clock_info` says what each one is built on and what resolution the OS *claims*:

# %%
for name in ("time", "monotonic", "perf_counter", "process_time"):
    info = time.get_clock_info(name)
    print(f"{name:13s} {info.implementation:40s} resolution={info.resolution:.0e} s  monotonic={info.monotonic}")

# %% [markdown]
# The claimed resolution (often 1 ns) is not what you get: reading the clock is itself a
# function call that takes tens of nanoseconds. The *effective* resolution is the smallest
# non-zero difference between two consecutive reads, and that is what a measurement must be
# large compared with.

# %%
#| export
def clock_resolution(clock: Callable[[], float] = time.perf_counter, reads: int = 20_000) -> float:
    "Effective resolution of `clock` in seconds: the smallest non-zero step seen between consecutive reads."
    steps = []
    for _ in range(reads):
        a = clock()
        b = clock()
        while b == a:
            b = clock()
        steps.append(b - a)
    declared = time.get_clock_info("perf_counter").resolution if clock is time.perf_counter else 0.0
    return max(min(steps), declared)


def timer_overhead(clock: Callable[[], float] = time.perf_counter, reads: int = 20_000) -> float:
    "Median cost in seconds of one `t0 = clock(); t1 = clock()` pair: the floor under any single-call timing."
    diffs = np.empty(reads)
    for i in range(reads):
        a = clock()
        b = clock()
        diffs[i] = b - a
    return float(np.median(diffs))

# %%
res, ovh = clock_resolution(), timer_overhead()
print(f"effective perf_counter resolution: {res * 1e9:.0f} ns; one read pair costs {ovh * 1e9:.0f} ns")
assert 0 < res < 1e-3 and 0 <= ovh < 1e-3

# %% [markdown]
# So timing a call that takes 50 ns with one pair of reads measures mostly the clock. Try it:
# the "measurement" below is dominated by the timer, and it jumps between a few discrete values.

# %%
def tiny():
    return 1 + 1

single = []
for _ in range(1000):
    t0 = time.perf_counter()
    tiny()
    single.append(time.perf_counter() - t0)
print(f"one call, timed alone: median {np.median(single) * 1e9:.0f} ns; "
      f"distinct values seen: {len(set(np.round(np.array(single) * 1e9)))}")

# %% [markdown]
# One piece of plumbing before the first exercise: every number a caller passes is checked.
# `check_number` (from the support notebook `checks`) is the one validation helper of tinybench.
# Every public function (the ones below included) checks its arguments with it at the boundary, so a
# wrong input gives one kind of error everywhere: a `TypeError` for something that is not a number (a
# string, `None`), a `ValueError` for a number outside its range (NaN, infinity, a negative rate, 3.7
# servers). The message names the argument, the value and how to fix it. The check after the quantile
# convention below shows a few of these errors.

# %% [markdown]
# ## 2. Loop calibration
#
# The cure is to time many calls back to back and divide: one *sample* is `loops` calls. How
# many? Enough that the sample lasts at least ~1000× the clock's effective resolution, so the
# rounding error of the clock and the cost of reading it are each under 0.1% of the sample.
# `timeit` and `torch.utils.benchmark` both calibrate this way: start with one call, double until
# the batch is long enough.
#
# ### Exercise 1: `calibrate_loops` (3 points)
#
# Return the **smallest power of two** `loops` (1, 2, 4, …) such that one timed run of `loops`
# back-to-back calls of `fn()` takes **at least `target` seconds**, as measured by `clock`
# (read once before and once after the run). Try 1, then 2, then 4, … and stop at the first run
# that is long enough. Never return more than `max_loops` (return `max_loops` if even that run is
# too short; it is a power of two). The test uses a fake clock that advances a known amount per
# call, so the expected answer is exact.

# %% nbgrader={"grade": false, "grade_id": "calibrate-loops", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def calibrate_loops(fn: Callable[[], Any], target: float, clock: Callable[[], float] = time.perf_counter,
                    max_loops: int = 2**24) -> int:
    "Smallest power-of-two number of back-to-back calls of `fn` whose run lasts at least `target` seconds."
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__} {fn!r:.60}")
    target = check_number(target, "target", positive=True, hint="seconds")
    max_loops = check_number(max_loops, "max_loops", integer=True, lo=1, hint="a power of two")
    ### BEGIN SOLUTION
    loops = 1
    while True:
        t0 = clock()
        for _ in itertools.repeat(None, loops):
            fn()
        if clock() - t0 >= target or loops >= max_loops:
            return loops
        loops *= 2
    ### END SOLUTION

# %% [markdown]
# The test cell builds a fake clock: each call of `work()` advances it by a fixed step, so
# `loops` calls take exactly `loops * step` fake seconds.

# %% nbgrader={"grade": true, "grade_id": "test-calibrate-loops", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
class FakeClock:
    "A clock that only moves when `work()` is called: `step` seconds per call."
    def __init__(self, step):
        self.t, self.step, self.calls = 0.0, step, 0
    def __call__(self):
        return self.t
    def work(self):
        self.t += self.step
        self.calls += 1

clk = FakeClock(3e-6)
loops = calibrate_loops(clk.work, 1e-3, clock=clk)
assert loops == 512, f"334 calls of 3 us are needed to reach 1 ms; the next power of two is 512, got {loops}"
clk = FakeClock(2e-3)
loops = calibrate_loops(clk.work, 1e-3, clock=clk)
assert loops == 1, f"one 2 ms call already lasts 1 ms: expected 1 loop, got {loops}"
### BEGIN HIDDEN TESTS
from tinybench.nbutils import assert_own as _assert_own
_assert_own(calibrate_loops, "tinybench.timing")
clk = FakeClock(1e-9)
loops = calibrate_loops(clk.work, 1.0, clock=clk, max_loops=1024)
assert loops == 1024, f"1 ns calls never reach 1 s: expected to stop at max_loops=1024, got {loops}"
clk = FakeClock(1e-6)
n = calibrate_loops(clk.work, 1e-4, clock=clk)
assert n == 128, f"100 calls of 1 us reach 0.1 ms: expected 128 loops, got {n}"
assert clk.calls <= 2 * n, f"doubling should cost at most 2 × {n} = {2 * n} calls in all, made {clk.calls}"
clk = FakeClock(1e-3)
loops = calibrate_loops(clk.work, 1e-3, clock=clk)
assert loops == 1, f"one 1 ms call exactly reaches a 1 ms target (enough): expected 1 loop, got {loops}"
### END HIDDEN TESTS

# %%
calibrate_loops = use_reference_if_open(calibrate_loops, lambda: None, 1e-6, compare=False)  # timed: no fixed answer

# %% [markdown]
# With the real clock, a 50 ns function now needs thousands of calls per sample:

# %%
target = 1000 * res
loops = calibrate_loops(tiny, target)
print(f"target sample length {target * 1e6:.0f} us -> {loops} loops per sample")

# %% [markdown]
# ## 3. Warm-up
#
# The first calls of almost anything are slower: code paths are compiled or looked up (lazy
# initialisation, PyTorch's dispatcher caches, cuDNN autotuning), memory is allocated for the
# first time (page faults, the CUDA caching allocator), data is not yet in the CPU caches.
# A fixed "10 warm-up iterations" is a guess. Look at a small PyTorch model's first calls:

# %%
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
x = torch.randn(32, 256)
first = []
with torch.inference_mode():
    for _ in range(30):
        t0 = time.perf_counter()
        net(x)
        first.append(time.perf_counter() - t0)
print("first 5 calls (us):", [round(t * 1e6) for t in first[:5]], " median of the rest:", round(np.median(first[5:]) * 1e6))

# %% [markdown]
# Rather than guess, detect the end of the transient from the data. tinybench uses **MSER-5**
# (the Marginal Standard Error Rule, White 1997; a standard truncation rule in simulation
# output analysis): group the series into batches of 5, and for each candidate truncation
# point `d` compute the squared standard error of the mean of what remains,
# $\mathrm{MSER}(d) = \frac{1}{(m-d)^2}\sum_{j>d}(Z_j-\bar Z_d)^2$. Cutting a slow transient
# shrinks the numerator a lot; cutting steady data only shrinks the denominator. The `d` that
# minimises it, searched over the first half of the series, is the warm-up.

# %%
#| export
def detect_warmup(samples: Sequence[float], batch: int = 5) -> int:
    "Number of leading samples to discard as warm-up, by the MSER-5 rule (searched over the first half)."
    batch = check_number(batch, "batch", integer=True, lo=1, hint="samples averaged per batch, 5 for MSER-5")
    try:
        x = np.asarray(samples, dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"samples must be a sequence of numbers (seconds), got {samples!r:.60} ({e})") from e
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"samples must be a non-empty 1-D sequence of times, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"samples contains NaN or infinite values (the first at index "
                         f"{int(np.flatnonzero(~np.isfinite(x))[0])}): drop failed samples first")
    m = len(x) // batch
    if m < 4:
        return 0
    z = x[: m * batch].reshape(m, batch).mean(axis=1)
    # suffix sums give mean and sum of squared deviations of z[d:] for every d in O(m)
    s1 = np.cumsum(z[::-1])[::-1]
    s2 = np.cumsum((z * z)[::-1])[::-1]
    k = np.arange(m, 0, -1, dtype=float)
    sse = s2 - s1 * s1 / k
    mser = sse / (k * k)
    d = int(np.argmin(mser[: m // 2 + 1]))
    return d * batch

# %%
rng = np.random.default_rng(0)
series = np.r_[np.full(20, 2e-3), np.full(80, 1e-4)] * rng.lognormal(0, 0.05, 100)
print("synthetic: 20 slow samples, then steady ->", detect_warmup(series))
assert 20 <= detect_warmup(series) <= 25
assert detect_warmup(rng.lognormal(0, 0.05, 100)) <= 20, "steady data should lose little"
print("the PyTorch model above ->", detect_warmup(first), "of", len(first))

# %% [markdown]
# ## 4. Garbage collection
#
# CPython frees most objects by reference counting, but a cyclic collector also runs every
# so many allocations. A collection lands inside whichever call happened to trigger it, so a
# function that allocates gets rare, large outliers that belong to the *collector*, not to the
# function. `timeit` disables the collector while timing; so do we, and we restore it after
# (even if the function raises).

# %%
#| export
class gc_disabled:
    "Context manager: switch off the cyclic garbage collector, restore its previous state on exit."
    def __enter__(self):
        self.was_enabled = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *exc):
        if self.was_enabled:
            gc.enable()
        return False

# %% [markdown]
# The experiment: keep 200,000 small objects alive (a realistic heap), then time a function that
# allocates 2,000 short-lived lists. `gc.callbacks` tells us when the collector runs.

# %%
live_heap = [[i] for i in range(200_000)]
collections = []
gc.callbacks.append(lambda phase, info: collections.append(info["generation"]) if phase == "start" else None)

def allocate(n=2000):
    return [[i] for i in range(n)]

def sample_times(fn, reps=300):
    out = []
    for _ in range(reps):
        t0 = time.perf_counter(); fn(); out.append(time.perf_counter() - t0)
    return np.array(out)

with_gc = sample_times(allocate)
n_on = len(collections); collections.clear()
with gc_disabled():
    without_gc = sample_times(allocate)
n_off = len(collections)
gc.callbacks.pop()
del live_heap
for name, s, n in (("gc on ", with_gc, n_on), ("gc off", without_gc, n_off)):
    print(f"{name}: {n:4d} collections  median {np.median(s) * 1e6:6.1f} us   max {s.max() * 1e6:8.1f} us")
assert gc.isenabled() and n_off == 0

# %% [markdown]
# ## 5. Summarising samples: median and IQR
#
# Latency samples are skewed with a heavy right tail: the OS schedules something else, an
# interrupt lands, a page faults. One bad sample moves the mean as far as it likes; it moves the
# median by at most one rank. So tinybench reports the **median** as the typical time and the
# **interquartile range** (IQR = p75 − p25) as the spread, plus min, max and percentiles, and
# keeps the raw samples so anything else can be computed later.
#
# Percentiles need a definition: with `n` samples, "the 75th percentile" falls between two
# order statistics. tinybench uses linear interpolation between order statistics (Hyndman &
# Fan's type 7, numpy's default `method="linear"`): sort the samples, the `q`-quantile sits at
# position `h = (n − 1)·q` (counting from 0) and is interpolated between the samples at `⌊h⌋`
# and `⌈h⌉`. (Module 01 explains the other definitions and the confidence intervals.)
#
# **One convention in all of tinybench: quantiles are fractions.** Every function, field and flag
# that takes a quantile takes `q` in [0, 1] and is named `quantile` (`m.quantile(0.99)`,
# `TestSettings(latency_quantile=0.99)`, `tinybench plan --quantile 0.99`); "p99" appears only as a
# label. A value that only makes sense on the 0–100 scale, such as `m.quantile(99)`, is an error,
# never silently something else: mixing the two scales is how a "p50" ends up being the 0.5th
# percentile.

# %%
assert check_number(3, "c", integer=True, positive=True) == 3 and check_number(0.5, "x", lo=0, hi=1) == 0.5
assert check_level(0.9) == 0.9
for bad, kw, err in [("1", {}, TypeError), (None, {}, TypeError), (float("nan"), {}, ValueError),
                     (float("inf"), {}, ValueError), (-1, {"positive": True}, ValueError),
                     (3.7, {"integer": True}, ValueError)]:
    try:
        check_number(bad, "x", **kw)
        raise AssertionError(f"{bad!r} must be refused")
    except err as e:
        print(f"{type(e).__name__}: {e}")
try:
    check_level(95)
except ValueError as e:
    print(e)

# %%
assert check_quantile(0.99) == 0.99 and check_quantile(1) == 1.0
for bad in (99, 1.5, -0.1, float("nan")):
    try:
        check_quantile(bad)
        raise AssertionError(f"{bad} must be refused")
    except ValueError as e:
        print(e)

# %%
rng = np.random.default_rng(1)
lat = rng.lognormal(np.log(1e-3), 0.1, 200)
lat_spike = lat.copy(); lat_spike[7] = 0.5           # one 500 ms hiccup among 1 ms calls
print(f"mean   {lat.mean() * 1e3:.3f} ms -> {lat_spike.mean() * 1e3:.3f} ms with one spike")
print(f"median {np.median(lat) * 1e3:.3f} ms -> {np.median(lat_spike) * 1e3:.3f} ms with one spike")

# %% [markdown]
# ### Exercise 2: `median_iqr` (2 points)
#
# Return `(median, iqr)` of `samples` (seconds in, seconds out) as two Python floats, where
# `iqr = p75 − p25` and every quantile uses the linear-interpolation definition above. You may
# use numpy. Empty input already raises `ValueError` for you. The test compares with
# `numpy.percentile` on seeded data and with a hand-computed case.

# %% nbgrader={"grade": false, "grade_id": "median-iqr", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def median_iqr(samples: Sequence[float]) -> tuple[float, float]:
    "Median and interquartile range (p75 - p25) of `samples`, linear interpolation between order statistics."
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        raise ValueError("median_iqr() needs at least one sample, got none")
    ### BEGIN SOLUTION
    p25, p50, p75 = np.percentile(x, [25, 50, 75])
    return float(p50), float(p75 - p25)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test-median-iqr", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
med, iqr = median_iqr([4.0, 1.0, 3.0, 2.0])
assert (med, iqr) == (2.5, 1.5), f"sorted 1,2,3,4: median 2.5, p25 1.75, p75 3.25 -> IQR 1.5; got {(med, iqr)}"
assert isinstance(med, float) and isinstance(iqr, float), \
    f"expected Python floats, got ({type(med).__name__}, {type(iqr).__name__})"
x = np.random.default_rng(42).lognormal(-7, 0.5, 101)
want, got = (np.median(x), np.subtract(*np.percentile(x, [75, 25]))), median_iqr(x)
assert np.allclose(got, want), f"101 lognormal samples: numpy gives (median, IQR) = {want}, got {got}"
one = median_iqr([3e-3])
assert one == (3e-3, 0.0), f"a single sample 3e-3: expected (median, IQR) = (0.003, 0.0), got {one}"
### BEGIN HIDDEN TESTS
from tinybench.nbutils import assert_own as _assert_own
_assert_own(median_iqr, "tinybench.timing")
y = np.random.default_rng(7).exponential(1e-3, 1000)
p25, p50, p75 = np.percentile(y, [25, 50, 75])
got = median_iqr(list(y))
assert np.allclose(got, (p50, p75 - p25), rtol=1e-12, atol=0), \
    f"a list of 1000 samples: expected (median, IQR) = {(p50, p75 - p25)}, got {got}"
got = median_iqr(np.array([1.0, 10.0]))
assert np.allclose(got, (5.5, 4.5)), f"samples [1, 10]: expected (5.5, 4.5), got {got}"
### END HIDDEN TESTS

# %%
median_iqr = use_reference_if_open(median_iqr, [1.0])

# %% [markdown]
# ## 6. Asynchronous devices: synchronize, then time
#
# A CUDA kernel launch returns to Python as soon as the work is *queued*; the GPU runs it
# later. Stop the clock at that moment and you have timed the launch, not the kernel. Worse,
# work queued *before* you started the clock (the previous iteration) runs during your
# measurement. The correct recipe is: synchronize (drain earlier work), start the clock, call,
# synchronize (wait for this work), stop the clock.
#
# To see this on any machine, here is a CPU stand-in for a CUDA stream: `launch(seconds)`
# queues work on a background worker and returns at once, like a kernel launch; `synchronize()`
# waits until the queue is empty, like `torch.cuda.synchronize()`. (The work is a sleep of known
# length: the point is to know the true answer, not to model a GPU.)

# %% nbgrader={"grade": false, "grade_id": "fake-stream", "locked": true, "schema_version": 3, "solution": false, "task": false}
class FakeStream:
    "Work queued on one background worker; `launch` returns at once, `synchronize` waits for all of it."
    def __init__(self):
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.pending = []
    def launch(self, seconds):
        self.pending.append(self.pool.submit(time.sleep, seconds))
    def synchronize(self):
        for f in self.pending:
            f.result()
        self.pending.clear()

stream = FakeStream()
t0 = time.perf_counter(); stream.launch(0.05); naive = time.perf_counter() - t0
stream.synchronize()
print(f"naive timing of 50 ms of queued work: {naive * 1e3:.3f} ms")

# %% [markdown]
# ### Exercise 3: `time_call` (3 points)
#
# Return the time in seconds of one call `fn(*args)`, read with `clock`. If `sync` is given
# (a function such as `torch.cuda.synchronize`), call it **before** starting the clock (so
# earlier queued work is not counted) and **after** the call, before stopping the clock (so this
# call's queued work is counted). Read the clock exactly twice. The test uses `FakeStream`.

# %% nbgrader={"grade": false, "grade_id": "time-call", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def time_call(fn: Callable[..., Any], *args: Any, sync: Callable[[], Any] | None = None,
              clock: Callable[[], float] = time.perf_counter) -> float:
    "Seconds taken by one call `fn(*args)`; with `sync`, queued device work before and during the call is drained."
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__} {fn!r:.60}: pass the function and its "
                        "arguments, time_call(f, x), not the result of calling it, time_call(f(x))")
    if sync is not None and not callable(sync):
        raise TypeError(f"sync must be callable or None (torch.cuda.synchronize), got {type(sync).__name__} "
                        f"{sync!r:.60}")
    ### BEGIN SOLUTION
    if sync is not None:
        sync()
    t0 = clock()
    fn(*args)
    if sync is not None:
        sync()
    return clock() - t0
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test-time-call", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
s = FakeStream()
s.launch(0.2)                                   # earlier work, still queued: must not be counted
t = time_call(s.launch, 0.1, sync=s.synchronize)
assert 0.09 <= t < 0.25, f"expected ~0.1 s (only this call's work), got {t:.3f} s"
s2 = FakeStream()
t_nosync = time_call(s2.launch, 0.1)
assert t_nosync < 0.05, f"without sync only the launch is timed; got {t_nosync:.3f} s"
s2.synchronize()
### BEGIN HIDDEN TESTS
reads = []
def counting_clock():
    reads.append(1)
    return float(len(reads))
from tinybench.nbutils import assert_own as _assert_own
_assert_own(time_call, "tinybench.timing")
t = time_call(lambda: None, clock=counting_clock)
assert t == 1.0 and len(reads) == 2, \
    f"read the clock exactly twice: expected 1.0 s from 2 reads, got {t} s from {len(reads)} reads"
order = []
time_call(lambda: order.append("call"), sync=lambda: order.append("sync"))
assert order == ["sync", "call", "sync"], f"expected the order ['sync', 'call', 'sync'], got {order}"
t = time_call(sum, [1, 2, 3])
assert isinstance(t, float), f"expected a float number of seconds, got {type(t).__name__}"
### END HIDDEN TESTS

# %%
time_call = use_reference_if_open(time_call, lambda: None, compare=False)  # timed: no fixed answer

# %% [markdown]
# On a real GPU the same mistake looks like this (the cell runs only where CUDA is available).
# CUDA *events* are timestamps recorded on the GPU's own queue, so they time the kernels
# themselves without the host's launch overhead; `tinybench.measure` uses events per sample
# and also keeps the host time, and warns when the two disagree.

# %%
if torch.cuda.is_available():
    a = torch.randn(4096, 4096, device="cuda")
    torch.cuda.synchronize()
    t_launch = time_call(torch.mm, a, a)
    t_sync = time_call(torch.mm, a, a, sync=torch.cuda.synchronize)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record(); torch.mm(a, a); end.record(); end.synchronize()
    print(f"no sync {t_launch * 1e3:.3f} ms | sync {t_sync * 1e3:.3f} ms | events {start.elapsed_time(end):.3f} ms")
else:
    print("no CUDA device here: the experiment above runs on a GPU machine")

# %% [markdown]
# GPU profilers (Nsight Systems, Nsight Compute) show kernels on a timeline; **NVTX ranges** put
# your own names on it. `nvtx_range(name)` marks a block when CUDA is available and does nothing
# otherwise, so benchmark code can be annotated once and run anywhere. Module 02 marks each
# scenario run, `TorchSUT(nvtx=True)` each query, and module 03 each layer.

# %%
#| export
@contextlib.contextmanager
def nvtx_range(name: str):
    "An NVTX range named `name` around the block when CUDA is available (seen in Nsight); a no-op otherwise."
    torch = sys.modules.get("torch")  # no torch imported means no CUDA work to annotate
    if torch is None or not torch.cuda.is_available():
        yield
        return
    torch.cuda.nvtx.range_push(name)
    try:
        yield
    finally:
        torch.cuda.nvtx.range_pop()

# %%
with nvtx_range("a no-op without CUDA"):
    pass

# %% [markdown]
# ## 7. Cache effects: hot versus flushed
#
# Run a kernel a thousand times in a row and its data sits in the CPU's last-level cache (or
# the GPU's L2); in production the data often arrives cold. Neither number is wrong, but they
# answer different questions, so say which one you report. To measure cold, evict the cache
# between samples by streaming a buffer larger than it. tinybench sizes that buffer from the
# device: twice the last-level cache read from `/sys` on Linux (or the GPU's L2 size).

# %%
#| export
def last_level_cache_bytes(default: int = 32 * 2**20) -> int:
    "Size in bytes of the CPU's largest cache, read from Linux sysfs; `default` when it cannot be read."
    best_level, best_size = -1, 0
    root = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in sorted(os.listdir(root)):
            if not entry.startswith("index"):
                continue
            with open(f"{root}/{entry}/level") as f:
                level = int(f.read())
            with open(f"{root}/{entry}/size") as f:
                text = f.read().strip()
            mult = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:].upper(), 1)
            size = int(text.rstrip("KMGkmg")) * mult
            if level > best_level or (level == best_level and size > best_size):
                best_level, best_size = level, size
    except (OSError, ValueError):
        return default
    return best_size or default


class CacheFlusher:
    "Evicts the device's last-level cache by writing a buffer twice its size; call it between samples."
    def __init__(self, device: str = "cpu"):
        device = self.device = resolve_device(device, ())  # 'cpu' or 'cuda[:i]', else a ValueError naming device
        if device.startswith("cuda"):
            import torch
            l2 = torch.cuda.get_device_properties(torch.device(device)).L2_cache_size
            self.nbytes = 2 * int(l2)
            self._buf = torch.empty(self.nbytes, dtype=torch.uint8, device=device)
        else:
            self.nbytes = 2 * last_level_cache_bytes()
            self._buf = np.zeros(self.nbytes // 8, dtype=np.int64)

    def __call__(self) -> None:
        if self.device.startswith("cuda"):
            self._buf.zero_()
        else:
            self._buf += 1

# %% [markdown]
# An 8 MiB array fits in this machine's last-level cache; summing it hot reads from cache,
# summing it after a flush reads from DRAM. We time it both ways with `measure` (assembled in
# section 9 below; here we only use its `flush_cache` switch).

# %% [markdown]
# ## 8. Noise, and a harness that warns about itself
#
# Shared machines are noisy: other processes, frequency scaling, interrupts, thermal limits.
# You cannot remove that noise from inside a notebook, but you can *detect* it and say so.
# Following `torch.utils.benchmark` (which flags IQR/median above 10%), a tinybench
# `Measurement` carries a list of pitfalls found in its own data, each with an explanation:
#
# | kind | detected when |
# |---|---|
# | `high-dispersion` | IQR / median > 10% |
# | `drift` | samples trend with time (Spearman ρ, p < 0.001) and the last quarter's median differs from the first's by > 5% |
# | `warm-up` | the run ended while MSER-5 still cut a large part of it, or before enough steady samples |
# | `resolution` | one sample lasts less than 1000 × the clock's effective resolution |
# | `missing-sync` | on CUDA, host time below half the event time: the clock stopped before the GPU finished |
# | `interrupted` | the run was stopped with Ctrl-C; the samples so far are kept |

# %%
#| export
@dataclass(frozen=True)
class Pitfall:
    "A measurement problem detected from the data: a short `kind` and an `explanation` a person can act on."
    kind: str
    explanation: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.explanation}"


def check_dispersion(samples: np.ndarray, limit: float = 0.10) -> Pitfall | None:
    "High dispersion: IQR/median above `limit`."
    med, iqr = median_iqr(samples)
    if med > 0 and iqr / med > limit:
        return Pitfall("high-dispersion", f"IQR is {iqr / med:.0%} of the median (limit {limit:.0%}): the machine "
                       "is noisy or the work varies; compare medians with care and prefer more samples or a quieter machine.")
    return None


def check_drift(samples: np.ndarray, min_change: float = 0.05) -> Pitfall | None:
    "Drift: a monotone trend over the run (Spearman, p < 0.001) that moves the median by more than `min_change`."
    n = len(samples)
    if n < 20 or np.ptp(samples) == 0:
        return None
    from scipy.stats import spearmanr
    rho, p = spearmanr(np.arange(n), samples)
    q = n // 4
    first, last = np.median(samples[:q]), np.median(samples[-q:])
    change = (last - first) / first if first > 0 else 0.0
    if p < 1e-3 and abs(change) > min_change:
        return Pitfall("drift", f"samples trend over the run (Spearman rho={rho:+.2f}, p={p:.1g}); the last quarter's "
                       f"median is {change:+.0%} vs the first's: thermal throttling, frequency scaling or background load.")
    return None


def check_resolution(sample_seconds: float, resolution: float, factor: float = 1000.0) -> Pitfall | None:
    "Coarse timer: one sample shorter than `factor` times the clock's effective resolution."
    if sample_seconds < factor * resolution:
        return Pitfall("resolution", f"one sample lasts {sample_seconds:.2e} s, under {factor:g}x the clock's "
                       f"resolution ({resolution:.1e} s): clock rounding is a visible part of each sample; allow more loops.")
    return None


def check_sync(host_median: float, event_median: float, ratio: float = 0.5) -> Pitfall | None:
    "Missing CUDA synchronize: host-clock median below `ratio` times the CUDA-event median."
    if event_median > 0 and host_median < ratio * event_median:
        return Pitfall("missing-sync", f"host clock says {host_median:.3g} s per call but CUDA events say "
                       f"{event_median:.3g} s: the clock stopped before the GPU finished; synchronize before reading it.")
    return None

# %%
rng = np.random.default_rng(3)
drifting = np.linspace(1.0, 1.3, 200) * 1e-3 * rng.lognormal(0, 0.02, 200)
print(check_drift(drifting))
print(check_dispersion(rng.lognormal(np.log(1e-3), 0.5, 200)))
assert check_drift(rng.lognormal(0, 0.02, 200)) is None
assert check_sync(1e-5, 1e-2).kind == "missing-sync" and check_sync(1e-2, 1e-2) is None

# %% [markdown]
# ## 9. Assembling the harness: `Measurement`, `Timer`, `measure`
#
# Following `torch.utils.benchmark`, we separate the raw result (`Measurement`) from how it
# was obtained (`Timer`) and from display (`__repr__` and `_repr_html_`). Results record where
# they came from: a few facts about the environment go in every `Measurement` (`environment()`,
# from the support notebook `env`; units and figures are shown with the helpers of `display`).

# %% [markdown]
# A `Measurement` holds the per-call samples in seconds (each sample is the mean of `loops`
# back-to-back calls), how they were taken, and what went wrong. Statistics are computed from
# the samples on demand; `quantile(q)` takes a fraction and uses the linear-interpolation definition of section 5.

# %%
#| export
@dataclass(repr=False)
class Measurement:
    "Per-call timing samples (seconds) of one function, how they were taken, and the pitfalls found in them."
    samples: np.ndarray
    loops: int = 1
    label: str = ""
    device: str = "cpu"
    warmup_calls: int = 0
    first_call: float = math.nan
    resolution: float = math.nan
    host_samples: np.ndarray | None = None
    event_samples: np.ndarray | None = None
    cache: str = "hot"
    interrupted: bool = False
    pitfalls: list[Pitfall] = field(default_factory=list)
    env: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.samples = np.asarray(self.samples, dtype=float)
        if self.samples.ndim != 1 or self.samples.size == 0:
            raise ValueError("a Measurement needs a non-empty 1-D array of samples (seconds per call)")

    n = property(lambda self: int(self.samples.size), doc="Number of samples.")
    median = property(lambda self: float(np.median(self.samples)), doc="Median seconds per call.")
    mean = property(lambda self: float(self.samples.mean()), doc="Mean seconds per call.")
    stdev = property(lambda self: float(self.samples.std(ddof=1)) if self.n > 1 else 0.0,
                     doc="Sample standard deviation (ddof=1), seconds.")
    min = property(lambda self: float(self.samples.min()), doc="Fastest sample, seconds per call.")
    max = property(lambda self: float(self.samples.max()), doc="Slowest sample, seconds per call.")
    iqr = property(lambda self: median_iqr(self.samples)[1], doc="p75 - p25, seconds.")
    warnings = property(lambda self: [str(p) for p in self.pitfalls], doc="Pitfalls as sentences.")

    def quantile(self, q: float | Sequence[float]) -> float | np.ndarray:
        "Quantile(s) `q` in [0, 1] of seconds per call (0.99 for p99), linear interpolation (Hyndman-Fan type 7)."
        if np.ndim(q) == 0:
            return float(np.quantile(self.samples, check_quantile(q)))
        return np.quantile(self.samples, [check_quantile(v) for v in q])

    def to_dict(self, samples: bool = True) -> dict[str, Any]:
        "JSON-ready summary (seconds); with `samples`, the raw per-call samples too."
        d = {"label": self.label, "device": self.device, "n": self.n, "loops": self.loops,
             "median": self.median, "mean": self.mean, "stdev": self.stdev, "iqr": self.iqr,
             "min": self.min, "max": self.max,
             "p5": self.quantile(0.05), "p25": self.quantile(0.25), "p75": self.quantile(0.75),
             "p90": self.quantile(0.9), "p95": self.quantile(0.95), "p99": self.quantile(0.99),
             "quantile_method": "linear (Hyndman-Fan type 7)", "unit": "seconds per call",
             "warmup_calls": self.warmup_calls, "first_call": self.first_call, "resolution": self.resolution,
             "cache": self.cache, "interrupted": self.interrupted,
             "pitfalls": [{"kind": p.kind, "explanation": p.explanation} for p in self.pitfalls],
             "env": dict(self.env)}
        if samples:
            d["samples"] = self.samples.tolist()
            if self.host_samples is not None:
                d["host_samples"] = self.host_samples.tolist()
            if self.event_samples is not None:
                d["event_samples"] = self.event_samples.tolist()
        return d

    def __repr__(self) -> str:
        med, iqr = median_iqr(self.samples)
        head = (f"Measurement({self.label!r}, {self.device}): median {format_seconds(med)}, "
                f"IQR {format_seconds(iqr)} ({iqr / med if med > 0 else math.nan:.1%} of median), n={self.n} x {self.loops} loop"
                f"{'s' if self.loops != 1 else ''}, warm-up {self.warmup_calls} calls")
        return "\n".join([head, *(f"  ! {p}" for p in self.pitfalls)])

    def _repr_html_(self) -> str:
        rows = [("median", self.median), ("IQR", self.iqr), ("mean", self.mean), ("stdev", self.stdev),
                ("min", self.min), ("p90", self.quantile(0.9)), ("p99", self.quantile(0.99)), ("max", self.max)]
        cells = "".join(f"<tr><td>{k}</td><td style='text-align:right'>{format_seconds(v)}</td></tr>" for k, v in rows)
        facts = (f"n={self.n} samples x {self.loops} loops, warm-up {self.warmup_calls} calls, "
                 f"first call {format_seconds(self.first_call)}, cache {self.cache}, device {self.device}")
        warn = "".join(f"<li><b>{p.kind}</b>: {p.explanation}</li>" for p in self.pitfalls)
        plot = ecdf_png(self.samples)
        img = f"<img src='data:image/png;base64,{plot}' style='max-width:360px'/>" if plot else ""
        return (f"<div><b>{self.label or 'Measurement'}</b><br><small>{facts}</small>"
                f"<div style='display:flex;gap:1em;align-items:flex-start'><table>{cells}</table>{img}</div>"
                + (f"<ul style='color:#a33'>{warn}</ul>" if warn else "") + "</div>")


# %% [markdown]
# Errors are part of the interface. A function that raises during a benchmark must not turn
# into a wrong number or a traceback from deep inside the harness: tinybench stops and says
# which call failed, in which phase, and chains the original exception.

# %%
#| export
class BenchmarkError(RuntimeError):
    "The benchmarked function raised; the message says which call and phase, the cause is chained."


def resolve_device(device: Any, args: tuple) -> str:
    "Normalise `device` ('cpu', 'cuda', 'cuda:1', torch.device or None = infer from tensor/module arguments)."
    torch = sys.modules.get("torch")
    if device is None:
        device = "cpu"
        if torch is not None:
            for a in args:
                if isinstance(a, torch.Tensor) and a.is_cuda:
                    device = str(a.device)
                    break
                if isinstance(a, torch.nn.Module):
                    p = next(a.parameters(), None)
                    if p is not None and p.is_cuda:
                        device = str(p.device)
                        break
    device = str(device)
    if device == "cpu":
        return device
    if device.startswith("cuda"):
        if torch is None:
            import torch  # noqa: F811
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was requested but torch.cuda.is_available() is False on this machine "
                             "(no GPU, or a CPU-only torch build); use device='cpu'")
        return device
    raise ValueError(f"device must be 'cpu' or 'cuda[:index]', got {device!r}")

# %% [markdown]
# `Timer` holds *what* to run and *how*; `Timer.measure()` does the work:
#
# 1. time the very first call on its own (`first_call`, the cold-start latency) with `time_call`;
# 2. calibrate `loops` so one sample lasts ≥ 1000× the clock's effective resolution (`calibrate_loops`);
# 3. with the garbage collector off, take samples in rounds; after each round MSER-5 finds where
#    warm-up ends; stop once the steady part has `min_samples` samples and `min_time` seconds
#    (or at `max_samples`, or once `max_time` seconds have passed since step 1 began: checked before
#    every sample, so a slow function stops on time); keep only the steady part;
# 4. on CUDA, time each sample with CUDA events *and* the host clock around `synchronize`;
# 5. optionally flush the cache before every sample (then `loops` is 1: a cold cache is per call);
# 6. diagnose the samples and attach the pitfalls.
#
# Ctrl-C during step 3 keeps what was measured: the result comes back marked `interrupted`.

# %%
#| export
class Timer:
    "What to time (`fn(*args)`) and how; `measure()` returns a `Measurement`. Options as in `measure`."
    def __init__(self, fn: Callable[..., Any], *args: Any, label: str | None = None, device: Any = None,
                 min_samples: int = 20, max_samples: int = 100_000, min_time: float = 0.2, max_time: float = 10.0,
                 loops: int | None = None, flush_cache: bool = False, sync: bool = True, disable_gc: bool = True):
        if not callable(fn):
            raise TypeError(f"measure() needs a callable fn, got {type(fn).__name__} {fn!r:.60}: pass the function "
                            "and its arguments, measure(f, x), not the result of calling it, measure(f(x))")
        min_samples = check_number(min_samples, "min_samples", integer=True, lo=1)
        max_samples = check_number(max_samples, "max_samples", integer=True, lo=min_samples,
                                   hint="at least min_samples")
        min_time = check_number(min_time, "min_time", nonnegative=True, hint="seconds")
        max_time = check_number(max_time, "max_time", positive=True, hint="seconds")
        if loops is not None:
            loops = check_number(loops, "loops", integer=True, lo=1, hint="or None to calibrate")
        self.fn, self.args = fn, args
        self.call = partial(fn, *args) if args else fn
        self.label = label if label is not None else getattr(fn, "__name__", type(fn).__name__)
        self.device = resolve_device(device, args)
        self.min_samples, self.max_samples = min_samples, max_samples
        self.min_time, self.max_time = min_time, max_time
        self.loops, self.flush_cache, self.sync, self.disable_gc = loops, flush_cache, sync, disable_gc

    def __repr__(self) -> str:
        return f"Timer({self.label!r}, device={self.device!r}, min_time={self.min_time}, flush_cache={self.flush_cache})"

    def _fail(self, phase: str, k: int, e: BaseException) -> BenchmarkError:
        return BenchmarkError(f"{self.label} raised {type(e).__name__} during {phase} (call {k}): {e}")

    def measure(self) -> Measurement:
        "Warm up, calibrate and sample `fn`; returns the steady-state `Measurement` (seconds per call)."
        cuda = self.device.startswith("cuda")
        sync_fn = self._cuda_sync() if cuda else None
        deadline = time.perf_counter() + self.max_time  # max_time bounds the whole measurement
        with (gc_disabled() if self.disable_gc else contextlib.nullcontext()):
            try:
                first = time_call(self.call, sync=sync_fn)
            except Exception as e:
                raise self._fail("the first call", 1, e) from e
            resolution = clock_resolution(reads=2000)
            if time.perf_counter() >= deadline:
                return self._first_call_only(first, resolution)
            loops, calls = self._choose_loops(1000 * resolution, sync_fn)
            sampler = self._cuda_sampler(loops) if cuda else self._cpu_sampler(loops)
            host, event, interrupted, timed_out = self._sample(sampler, calls, loops, deadline)
        if not host:  # max_time ran out during calibration: the first call is all there is
            return self._first_call_only(first, resolution)
        series = event if (cuda and self.sync) else host
        d = detect_warmup(series)
        m = Measurement(
            samples=np.array(series[d:]) / loops, loops=loops, label=self.label, device=self.device,
            warmup_calls=calls + d * loops, first_call=first, resolution=resolution,
            host_samples=np.array(host[d:]) / loops if cuda else None,
            event_samples=np.array(event[d:]) / loops if cuda else None,
            cache="flushed" if self.flush_cache else "hot", interrupted=interrupted, env=environment())
        m.pitfalls = diagnose(m, warmup_cut=d, total=len(series), timed_out=timed_out, min_samples=self.min_samples)
        return m

    def _first_call_only(self, first: float, resolution: float) -> Measurement:
        "The result when max_time ran out before sampling: the first call (seconds) as the one sample."
        m = Measurement(samples=np.array([first]), loops=1, label=self.label, device=self.device, warmup_calls=0,
                        first_call=first, resolution=resolution, cache="flushed" if self.flush_cache else "hot",
                        env=environment())
        m.pitfalls = [Pitfall("max-time", f"max_time ({self.max_time:g} s) ran out before sampling began (the first "
                              f"call took {format_seconds(first)}); this one cold call is the only sample. "
                              "Raise max_time to measure the steady state.")]
        return m

    def _cuda_sync(self) -> Callable[[], None]:
        import torch
        return partial(torch.cuda.synchronize, torch.device(self.device))

    def _choose_loops(self, target: float, sync_fn: Callable[[], Any] | None) -> tuple[int, int]:
        "Calls per sample (fixed, 1 with cache flushing, else calibrated to `target` s) and the calls spent so far."
        if self.flush_cache:
            return 1, 1
        if self.loops is not None:
            return self.loops, 1
        clock = time.perf_counter if sync_fn is None else (lambda: (sync_fn(), time.perf_counter())[1])
        try:
            loops = calibrate_loops(self.call, target, clock=clock)
        except Exception as e:
            raise self._fail("loop calibration", 2, e) from e
        return loops, 1 + 2 * loops - 1

    def _sample(self, sampler: Callable[[], tuple[float, float | None]], calls: int, loops: int,
                deadline: float = math.inf):
        """Samples in growing rounds until the steady part (after MSER-5) is long enough, or a limit or Ctrl-C.

        `deadline` (a `time.perf_counter()` value) is checked before every sample: a hard bound on the time spent."""
        flusher = CacheFlusher(self.device) if self.flush_cache else None
        host, event, interrupted, timed_out = [], [], False, False
        try:
            while not timed_out:
                for _ in range(max(10, len(host) // 4)):
                    if time.perf_counter() >= deadline:
                        timed_out = True
                        break
                    if flusher is not None:
                        flusher()
                    try:
                        h, ev = sampler()
                    except Exception as e:
                        raise self._fail("sampling", calls + len(host) * loops + 1, e) from e
                    host.append(h)
                    if ev is not None:
                        event.append(ev)
                if timed_out:
                    break
                series = event if event and self.sync else host
                d = detect_warmup(series)
                if len(series) - d >= self.min_samples and sum(series[d:]) >= self.min_time:
                    break
                if len(series) >= self.max_samples + d:
                    break
        except KeyboardInterrupt:
            if len(host) < 2:
                raise
            interrupted = True
            if event:  # Ctrl-C may land between the two appends: keep whole samples only
                n = min(len(host), len(event))
                del host[n:], event[n:]
        return host, event, interrupted, timed_out

    def _cpu_sampler(self, loops: int) -> Callable[[], tuple[float, None]]:
        call, clock, rep = self.call, time.perf_counter, itertools.repeat

        def sample() -> tuple[float, None]:
            it = rep(None, loops)  # built before the clock starts, as timeit does: only the calls are timed
            t0 = clock()
            for _ in it:
                call()
            t1 = clock()
            return t1 - t0, None
        return sample

    def _cuda_sampler(self, loops: int) -> Callable[[], tuple[float, float]]:
        import torch
        dev = torch.device(self.device)
        call, clock, rep, sync = self.call, time.perf_counter, itertools.repeat, self.sync
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        stream = torch.cuda.current_stream(dev)

        def sample() -> tuple[float, float]:
            torch.cuda.synchronize(dev)
            it = rep(None, loops)
            t0 = clock()
            start.record(stream)
            for _ in it:
                call()
            end.record(stream)
            if sync:
                torch.cuda.synchronize(dev)
            t1 = clock()
            end.synchronize()
            return t1 - t0, start.elapsed_time(end) / 1e3
        return sample

# %% [markdown]
# `diagnose` turns the checks of section 8 into the `pitfalls` list.

# %%
#| export
def diagnose(measurement: Measurement, warmup_cut: int = 0, total: int | None = None, timed_out: bool = False,
             min_samples: int = 1) -> list[Pitfall]:
    "All pitfalls detected in a measurement's own data (see the table in section 8 of the timing notebook)."
    found = [check_dispersion(measurement.samples), check_drift(measurement.samples),
             check_resolution(measurement.median * measurement.loops, measurement.resolution) if math.isfinite(measurement.resolution) else None]
    total = measurement.n + warmup_cut if total is None else total
    if timed_out and measurement.n < min_samples:
        found.append(Pitfall("warm-up", f"max_time ran out with {measurement.n} steady samples of {min_samples} wanted "
                             f"({warmup_cut} cut as warm-up): the function may still be warming up, or is slow; "
                             "raise max_time or lower min_samples."))
    elif total >= 20 and warmup_cut >= 0.45 * total:
        found.append(Pitfall("warm-up", f"{warmup_cut} of {total} samples were cut as warm-up: the run may have ended "
                             "before the steady state; raise min_time."))
    if measurement.host_samples is not None and measurement.event_samples is not None:
        found.append(check_sync(float(np.median(measurement.host_samples)), float(np.median(measurement.event_samples))))
    if measurement.interrupted:
        found.append(Pitfall("interrupted", f"stopped by Ctrl-C after {measurement.n} steady samples; the statistics "
                             "describe only what was measured."))
    return [p for p in found if p is not None]

# %% [markdown]
# `measure` is the one-line entry point.

# %%
#| export
def measure(fn: Callable[..., Any], *args: Any, label: str | None = None, device: Any = None,
            min_samples: int = 20, max_samples: int = 100_000, min_time: float = 0.2, max_time: float = 10.0,
            loops: int | None = None, flush_cache: bool = False, sync: bool = True,
            disable_gc: bool = True) -> Measurement:
    """Time `fn(*args)` (seconds per call) with calibration, data-driven warm-up and pitfall detection.

    `device`: 'cpu', 'cuda[:i]' or None (infer from tensor/module arguments). On CUDA each sample is timed
    with CUDA events and the host clock around `synchronize`; `sync=False` skips the final synchronize to
    demonstrate the classic mistake (the result then reports host times and flags `missing-sync`).
    Stops once the steady part has `min_samples` samples lasting `min_time` seconds in total, or at
    `max_samples`, or when `max_time` seconds have passed since the first call began: a hard bound, checked
    before every sample after the first call (a sample is one call of a slow function). A first call longer
    than `max_time` comes back as the one sample, with a `max-time` pitfall. `loops` fixes the calls per sample (default: calibrated).
    `flush_cache` evicts the last-level cache before every sample (and sets loops to 1).
    Keyword arguments of `fn` go through `functools.partial`.
    """
    return Timer(fn, *args, label=label, device=device, min_samples=min_samples, max_samples=max_samples,
                 min_time=min_time, max_time=max_time, loops=loops, flush_cache=flush_cache, sync=sync,
                 disable_gc=disable_gc).measure()

# %% [markdown]
# Let's use it. A 50 ns function, a numpy call and a PyTorch kernel:

# %%
m_tiny = measure(tiny, min_time=0.05)
m_tiny

# %%
a = np.random.default_rng(0).standard_normal((256, 256))
m_np = measure(np.dot, a, a, label="numpy 256x256 matmul", min_time=0.1)
print(m_np)
t = torch.randn(256, 256)
m_torch = measure(torch.mm, t, t, label="torch 256x256 matmul", min_time=0.1)
print(m_torch)
assert m_tiny.loops > 1 and m_np.n >= 20 and m_torch.median > 0

# %% [markdown]
# Back to the cache experiment of section 7: the same sum, hot and flushed.

# %%
arr = np.ones(2**20)                                 # 8 MiB of float64
hot = measure(arr.sum, label="sum 8 MiB, hot", min_time=0.1)
cold = measure(arr.sum, label="sum 8 MiB, flushed", flush_cache=True, min_time=0.1, max_time=3)
print(f"hot {format_seconds(hot.median)}  flushed {format_seconds(cold.median)}  ratio {cold.median / hot.median:.2f}")

# %% [markdown]
# A function that raises gives a clear error, with the original exception chained:

# %%
def broken(x):
    return 1 / x

try:
    measure(broken, 0)
except BenchmarkError as e:
    print("BenchmarkError:", e, "| cause:", repr(e.__cause__))

# %% [markdown]
# ### Noise, measured
#
# Section 8's detectors on real noise: the same two-thread matmul, first alone, then while one
# busy-looping process per core competes for the CPUs (what a CI runner or a shared notebook
# server looks like). Expect a slower median, a wider IQR, and the harness saying so.

# %%
alone = measure(torch.mm, t, t, label="matmul, machine quiet", min_time=0.2)
hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
try:
    time.sleep(0.2)
    loaded = measure(torch.mm, t, t, label="matmul, CPUs busy", min_time=0.2, max_time=5)
finally:
    for h in hogs:
        h.kill()
        h.wait()
print(alone, loaded, sep="\n")
print(f"median x{loaded.median / alone.median:.2f}, IQR/median {alone.iqr / alone.median:.0%} -> {loaded.iqr / loaded.median:.0%}")

# %% [markdown]
# ## 10. Inference versus a training step
#
# Inference and training time different things. Inference: forward only, and autograd
# bookkeeping is wasted work, so run under `torch.inference_mode()` (or at least `no_grad`).
# A training step is forward + backward + optimizer step, and `zero_grad` belongs in it too.
# Measure exactly the work you mean, and say which.

# %%
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
xb, yb = torch.randn(64, 256), torch.randint(0, 10, (64,))
opt = torch.optim.SGD(model.parameters(), lr=0.01)

def forward_grad():
    return model(xb)

def forward_no_grad():
    with torch.no_grad():
        return model(xb)

def forward_inference():
    with torch.inference_mode():
        return model(xb)

def train_step():
    opt.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(xb), yb)
    loss.backward()
    opt.step()

# %% [markdown]
# The differences here are tens of percent, and a shared machine has slow spells that are as
# large. So the four are measured in five interleaved rounds (each function once per round): a
# slow spell then hits every function, and the verdict below counts in how many rounds the
# lesson held, instead of trusting one pair of numbers. For a model this size expect a small
# difference in time (autograd's bookkeeping is per operation, and the matmuls dominate); the
# larger saving of `no_grad` is memory, since no activations are kept for a backward pass.

# %%
fns = (forward_grad, forward_no_grad, forward_inference, train_step)
rounds = {fn.__name__: [] for fn in fns}
for _ in range(5):
    for fn in fns:
        rounds[fn.__name__].append(measure(fn, min_time=0.05).median)
for name, times in rounds.items():
    print(f"{name:18s} median {format_seconds(float(np.median(times)))}  "
          f"(rounds from {format_seconds(min(times))} to {format_seconds(max(times))})")
held = sum(g > n for g, n in zip(rounds["forward_grad"], rounds["forward_no_grad"]))
ratio = float(np.median(rounds["forward_grad"])) / float(np.median(rounds["forward_no_grad"]))
print(f"no_grad was faster than grad in {held} of 5 rounds; median ratio {ratio:.2f}x" +
      ("" if held >= 4 else ": too noisy a run to show the effect, run the cell again"))

# %% [markdown]
# ## 11. Reproducibility
#
# A timing is only meaningful with its context: library versions, thread counts, the device,
# the clock. Every `Measurement` carries `environment()`; for numerics, fix seeds
# (`torch.manual_seed`, `np.random.default_rng(seed)`) and, when bitwise-equal results matter
# more than speed, `torch.use_deterministic_algorithms(True)`. Thread count changes timings
# a lot on CPU: record it, and set it (`torch.set_num_threads`) when you compare.

# %%
m_torch.env

# %% [markdown]
# Seeds make the *numbers a model computes* reproducible; they do nothing for its speed. The
# experiment: build the same model twice with the same seed and once with another, and compare
# outputs bit for bit.

# %%
def seeded_output(seed):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Tanh(), torch.nn.Linear(64, 4))
    with torch.inference_mode():
        return net(torch.ones(8, 64))

same = torch.equal(seeded_output(0), seeded_output(0))
other = torch.equal(seeded_output(0), seeded_output(1))
print(f"seed 0 twice: identical={same};  seed 0 vs seed 1: identical={other}")
assert same and not other

# %% [markdown]
# ## 12. Why the median and the spread, not one mean
#
# Put it together on real data: the same matmul measured twice, one run after the other. The
# medians agree closely; the means are pulled by the tail, and the max is noise. Report
# `median [IQR]` with `n`, and keep the samples for the statistics of module 01.

# %%
m1 = measure(torch.mm, t, t, min_time=0.1)
m2 = measure(torch.mm, t, t, min_time=0.1)
for name, f in (("median", lambda m: m.median), ("mean", lambda m: m.mean), ("max", lambda m: m.max)):
    print(f"{name:6s} {format_seconds(f(m1)):>10s} {format_seconds(f(m2)):>10s}  ratio {f(m2) / f(m1):.3f}")

# %% [markdown]
# ## Summary
#
# - Use `time.perf_counter`; its effective resolution is tens of nanoseconds, and reading it costs as much.
# - Time many calls per sample when one call is short: calibrate `loops` to ~1000× the resolution.
# - Detect warm-up from the data (MSER-5); keep the first call's time separately, it is the cold start.
# - Turn the garbage collector off while timing, and restore it.
# - On a GPU, synchronize before and after, or time with CUDA events; never stop the clock on a launch.
# - Say whether caches were hot or flushed.
# - Report the median and IQR with `n`, keep the raw samples, and read the warnings the harness gives you.
