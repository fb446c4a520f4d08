# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Runner: issuing queries, serving them, recording every timestamp
#
# A support notebook (`tinybench.runner`), taught in module 02 (section 4, the runner): the machinery
# behind `tinybench.scenarios.run`. Module 02 says what each scenario does and shows it on SUTs of
# known service time; this notebook holds how it is done:
#
# - the `Recorder`, with one record per query (sample indices, scheduled, issue, start and
#   completion times, error), filled in by the threads that serve the queries, and the output
#   checks (one output per sample, no NaN);
# - the closed loop of SingleStream and MultiStream;
# - Server, with the `Pacer` that releases each query at its scheduled time, the worker threads
#   behind a queue, and the early stop of a run that can no longer be VALID;
# - Offline, with real batches, slices of one array instead of lists, outputs checked after the run;
# - `execute`, one scenario run, with the thread switch interval and progress report around it.
#
# Every function takes the run's settings `s` (a `tinybench.scenarios.TestSettings`: the runner reads
# its fields and never imports that module, which sits above it) and the start time `t0` on
# `time.perf_counter()`; the recorder's times are seconds from `t0`.

# %%
#| default_exp runner

# %%
#| export
from __future__ import annotations

import math
import os
from array import array
import queue
import sys
import threading
import time
from typing import Any, Callable, Sequence

import numpy as np

from tinybench.display import format_seconds
from tinybench.stats import early_stopping_min_passing
from tinybench.checks import NUMPY_DTYPES, finite_rows
from tinybench.timing import nvtx_range

# %%
import torch

from tinybench.scenarios import TestSettings  # the settings of module 02: the demos below build runs with them

torch.set_num_threads(1)

# %% [markdown]
# ## 1. Outputs: one per sample, and finite
#
# A SUT answers a batch with one output per sample. A batch answered with the wrong number of
# outputs, or with something that is not a sequence, is an error of every sample in it; an output
# holding a NaN or an infinity is an error of its own sample, never a prediction (the argmax of
# NaNs is 0, a "correct" answer for class 0).

# %%
#| export
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

# %%
assert batch_error([1, 2], 2) is None and "returned 1 outputs" in batch_error([1], 2)
assert "returned None" in batch_error(None, 3) and "not a sequence" in batch_error(7, 1)
assert output_errors(np.array([[1.0, 0.0], [np.nan, 1.0]]), 2) == [None, NONFINITE_OUTPUT]
output_errors(torch.ones(3, 2), 2)

# %% [markdown]
# Accuracy compares each output's argmax (or the output itself, for a scalar) with the sample's
# label. Outputs arrive as tensors on any device, arrays or lists; bfloat16, which numpy lacks,
# is read as float32.

# %%
#| export
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


def _correct_batch(out: Any, labels: np.ndarray) -> np.ndarray:
    "Per-sample correctness of a batch of outputs: argmax of each row (or the value itself) equals the label."
    arr = _as_numpy(out)
    if arr.ndim >= 2 and arr.shape[1] > 1:
        pred = arr.reshape(arr.shape[0], -1).argmax(axis=1)
    else:
        pred = arr.reshape(arr.shape[0])
    return pred == labels

# %%
logits = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]], dtype=torch.bfloat16)
assert _correct_batch(logits, np.array([1, 0, 0])).tolist() == [True, True, False]
assert [_is_correct(row, label) for row, label in zip(logits, [1, 0, 0])] == [True, True, False]
assert _is_correct(np.float32(3.0), 3)

# %% [markdown]
# ## 2. The recorder
#
# One record per query. The issuing code registers a query (`add`: its samples and scheduled time)
# and stamps its issue time; the thread that serves it (`serve`) stamps the start and completion of
# the SUT call, and the outcome: the error of each query of the batch, correctness per sample when
# the dataset has labels, and for Server the count of queries already over the latency bound (the
# early stop of section 4 reads it). A SUT that raises fails only its queries; the run goes on.

# %%
#| export
class Recorder:
    """Per-query timestamps (seconds from t0), appended by the issuer and filled in by the worker threads.

    The timestamps are `array('d')` columns: a timestamp stored there is 8 bytes in place, where a list would hold a
    new float object for each one (about 100 bytes a query over the four columns), memory that grew with every
    query and that a soak's leak test read as the SUT's leak (at 3,000 queries/s: about 18 MiB/min)."""
    def __init__(self, labels: Sequence | None):
        self.queries: list[list[int]] = []
        self.scheduled: array = array("d")
        self.issued: array = array("d")
        self.started: array = array("d")
        self.completed: array = array("d")
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

# %%
rec = Recorder(labels=[0, 1, 2, 0])
t0 = time.perf_counter()
a, b = rec.add([0], 0.0), rec.add([1, 2], 0.0)
rec.serve(lambda batch: [np.eye(3)[x] for x in batch], [0, 1, 2, 0], [a, b], t0)  # one call for both queries
c = rec.add([3], 0.0)
rec.serve(lambda batch: 1 / 0, [0, 1, 2, 0], [c], t0)                             # a SUT that raises
assert rec.errors == [None, None, "ZeroDivisionError: division by zero"] and rec.correct == [True, True, True]
assert rec.started[a] == rec.started[b] and rec.completed[b] >= rec.started[b] and rec.n_completed == 3
print(f"served in {format_seconds(rec.completed[b] - rec.started[b])}; errors {rec.errors}")

# %% [markdown]
# ## 3. The closed loop: SingleStream and MultiStream
#
# Issue a query, wait for it, issue the next, until the run's last completion reaches
# `min_duration` with at least `min_query_count` queries (or `max_duration` runs out). Queries
# draw their first sample from a seeded permutation; a MultiStream query takes `samples_per_query`
# contiguous samples, as LoadGen does. With several workers, a MultiStream query's samples run as
# separate SUT calls on a thread pool and the query completes with the slowest of them.

# %%
#| export
def run_closed_loop(sut: Callable, samples: Sequence, rec: Recorder, s: Any, t0: float) -> None:
    """SingleStream and MultiStream (`s.scenario`): one query at a time, the next when the previous completes, until
    min_duration and min_query_count are reached (or max_duration runs out)."""
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


def _serve_split(sut, samples, rec: Recorder, q: int, t0: float, pool: "_ThreadPool") -> None:
    "Serve each sample of query q as its own SUT call on the pool; the query completes with the slowest."
    parts = []
    for i in rec.queries[q]:
        part = Recorder(rec.labels)
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
# A MultiStream run of 4-sample queries on a SUT that sleeps 2 ms per call, with one worker and
# with four: one SUT call per query, or four concurrent calls per query.

# %%
def sleeper(service):
    "A SUT that sleeps `service` seconds per call."
    def sut(batch):
        time.sleep(service)
        return [0] * len(batch)
    return sut


for workers in (1, 4):
    rec = Recorder(None)
    s = TestSettings("MultiStream", samples_per_query=4, workers=workers, min_duration=0.1, min_query_count=10)
    run_closed_loop(sleeper(2e-3), list(range(10)), rec, s, time.perf_counter())
    assert all(np.diff(q).tolist() in ([1, 1, 1], [1, 1, -9], [1, -9, 1], [-9, 1, 1]) for q in rec.queries)
    assert all(nxt >= done for nxt, done in zip(rec.issued[1:], rec.completed))  # closed loop: never overlapping
    print(f"{workers} worker(s): {len(rec.queries)} queries in {rec.completed[-1]:.2f} s, "
          f"median query {format_seconds(float(np.median(np.subtract(rec.completed, rec.started))))}")

# %% [markdown]
# ## 4. Server: the issuer, the workers, the early stop
#
# The issuer must release each query at its scheduled time. `time.sleep` alone is not precise: the
# OS wakes the thread late, by tens of microseconds on bare metal and often more than 100 µs at the
# median on a virtual machine, with a tail past a millisecond. The `Pacer` sleeps until a margin
# before the deadline and spins for the rest; the margin is learned from the overshoots it sees.
# `issue_mode="hybrid"` (the default) spins for the p99 of them, only while the SUT is idle and busy
# less than half the time; `"precise"` for 1.5 × the p99.9 and at least 300 µs, always, at the cost
# of a busy core; `"sleep"` never spins.

# %%
#| export
ISSUE_MODES = ("sleep", "hybrid", "precise")


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

# %%
late = {}
for mode in ISSUE_MODES:
    pacer, t, late[mode] = Pacer(mode), time.perf_counter(), []
    for _ in range(200):
        t += 1e-3
        pacer.wait_until(t)
        late[mode].append(time.perf_counter() - t)
    assert min(late[mode]) >= 0, "a Pacer never returns before its deadline"
print("  ".join(f"{m}: p99 {format_seconds(float(np.quantile(v, 0.99)))} late" for m, v in late.items()))

# %% [markdown]
# Behind the issuer, `workers` threads take queries from a queue. With dynamic batching a worker
# that takes a query waits up to `max_wait` for more, until it has `max_batch` of them, and serves
# them in one SUT call. `None` in the queue tells a worker to stop.

# %%
#| export
def _worker(sut, samples, rec: Recorder, q: queue.SimpleQueue, t0: float, max_batch: int, max_wait: float) -> None:
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

# %%
rec, jobs = Recorder(None), queue.SimpleQueue()
for k in range(10):
    jobs.put(rec.add([k], 0.0))
jobs.put(None)
_worker(lambda batch: [0] * len(batch), list(range(10)), rec, jobs, time.perf_counter(), max_batch=4, max_wait=0.0)
calls = sorted(set(rec.started))
assert len(calls) == 3, "10 queued queries in batches of at most 4: three SUT calls (4, 4, 2)"
[rec.started.count(c) for c in calls]

# %% [markdown]
# **The early stop.** A Server run past the SUT's capacity builds a backlog that only grows. A query
# scheduled more than `target_latency` ago that has not completed will complete over the bound;
# once the queries over it (counted or certain) exceed what early stopping allows for the whole
# schedule, VALID is impossible and the run stops (`stop_when_invalid`, on by default).

# %%
#| export
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


class Overload:
    """Decides when a Server run can no longer be VALID: more queries are (or will certainly be) over the latency
    bound than early stopping allows for the whole schedule. Queries scheduled more than `target_latency` ago that
    have not completed will complete over the bound; at least `k - n_completed` of the first `k` are such."""
    def __init__(self, rec: Recorder, s: Any):
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

# %%
assert max_over_allowed(458, 0.99) == -1 and early_stopping_min_passing(0, 0.99) == 459
rec = Recorder(None)
for k in range(1000):
    rec.add([0], k * 1e-3)  # one query per ms, for 1 s
overload = Overload(rec, TestSettings("Server", target_qps=1000, target_latency=0.01, min_query_count=1000))
print(f"{overload.allowed} of 1,000 queries may be over the bound")
assert not overload.hopeless(0.01, 10)  # nothing is late yet
assert overload.hopeless(0.5, 500)      # at 0.5 s, none completed: 490 queries are certainly late
print(rec.stopped_early)

# %% [markdown]
# The Server runner: the workers start, the issuer releases each query at its scheduled time (checking
# every 64 queries whether the run is hopeless), then waits for the workers. Once VALID is impossible
# the queries already queued get a grace period to complete (their latencies are kept: they show the
# overload), then the rest of the backlog is dropped.

# %%
#| export
def run_server(sut: Callable, samples: Sequence, rec: Recorder, s: Any, t0: float) -> None:
    """Server: release each registered query at its scheduled time (`Pacer`) into a queue served by `s.workers`
    threads; stop early once the run cannot be VALID, or at max_duration."""
    q: queue.SimpleQueue = queue.SimpleQueue()  # C-implemented: a few µs less per query than queue.Queue
    rec.target = s.target_latency
    overload = Overload(rec, s)
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


def _join(threads: list[threading.Thread], t0: float, limit: float, rec: Recorder,
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
# A schedule of 600 queries 2 ms apart (500 queries/s) on a SUT that sleeps 1 ms (half the
# capacity of one worker), then on one that sleeps 10 ms (5× overloaded): that run stops long
# before its backlog would drain.

# %%
for service in (1e-3, 1e-2):
    rec = Recorder(None)
    for k in range(600):
        rec.add([k % 10], k * 2e-3)
    t0 = time.perf_counter()
    run_server(sleeper(service), list(range(10)), rec, TestSettings("Server", target_latency=0.02), t0)
    issued, done = np.array(rec.issued), np.isfinite(rec.completed)
    assert (issued[np.isfinite(issued)] >= np.array(rec.scheduled)[np.isfinite(issued)]).all()  # never early
    latency = np.subtract(rec.completed, rec.scheduled)[done]
    print(f"{format_seconds(service)} SUT: {done.sum()} of 600 completed in {time.perf_counter() - t0:.2f} s, "
          f"p99 latency {format_seconds(float(np.quantile(latency, 0.99)))}, stopped early: {rec.stopped_early is not None}")

# %% [markdown]
# ## 5. Offline: real batches
#
# Every sample is issued at time 0; the queries go to a queue in batches of `offline_batch_size`,
# and `workers` threads take batches until the queue is empty. One worker runs in the calling
# thread instead of a new one (torch's intra-op threads run slower when called from another
# thread); there `max_duration` stops the handing out of batches.

# %%
#| export
def _run_pool(work: Callable[[], None], q: queue.SimpleQueue, rec: Recorder, s: Any, t0: float) -> None:
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


def run_offline(sut: Callable, samples: Sequence, rec: Recorder, s: Any, t0: float) -> None:
    "Offline over a list of samples: every registered query issued at 0, served in batches of offline_batch_size."
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

# %%
batches = []
rec = Recorder(None)
for k in range(100):
    rec.add([k], 0.0)
run_offline(lambda batch: batches.append(len(batch)) or [0] * len(batch), list(range(100)), rec,
            TestSettings("Offline", offline_batch_size=32), time.perf_counter())
assert batches == [32, 32, 32, 4] and rec.n_completed == 100 and set(rec.issued) == {0.0}
batches

# %% [markdown]
# When the dataset is one array (or tensor) and the SUT takes arrays (`accepts_arrays`), Offline
# does not build a list of samples and stack it again for every batch: before timing,
# `offline_views` gathers the samples in the run's seeded order into one contiguous array and cuts
# it into the batches, each a view, not a copy. The seeded order repeats every `cycle` queries, so
# one cycle is gathered followed by its first batch again: every batch is one contiguous view, also
# where it crosses into the next cycle.

# %%
#| export
def offline_views(array: Any, rec: Recorder, s: Any) -> list[tuple[int, int, Any]]:
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

# %%
X = np.arange(10) * 10
rec = Recorder(None)
for i in np.resize(np.random.default_rng(0).permutation(10), 25):  # 25 queries over 10 samples
    rec.add([int(i)], 0.0)
views = offline_views(X, rec, TestSettings("Offline", offline_batch_size=8))
assert all(v.base is views[0][2].base for _, _, v in views), "every batch is a view of one gathered array"
assert np.array_equal(np.concatenate([v for _, _, v in views]), X[[ix[0] for ix in rec.queries]])
[(a, b, v.tolist()) for a, b, v in views]

# %% [markdown]
# The outputs of the array path are checked after the run, as LoadGen checks its accuracy log after
# the run: checking them between calls cost ~9% of the digits CNN's throughput on a 2-core machine,
# because torch's intra-op threads still spin for a while after each call and slow whatever runs
# next. `DeferredChecks` copies each batch's outputs into one buffer (so a SUT that reuses its
# output memory is still judged right) and checks them for NaN and against the labels in one pass.

# %%
#| export
class DeferredChecks:
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

# %%
errors = [None] * 6
checks = DeferredChecks(6, np.array([0, 1, 0, 1, 0, 1]), errors)
shared = np.zeros((3, 2))                         # a SUT that writes every batch into the same output array
for a, labels in ((0, [0, 1, 0]), (3, [1, 0, 1])):
    shared[:] = np.eye(2)[labels]
    if a == 3:
        shared[2] = np.nan
    checks.add(a, a + 3, shared, None)
correct = checks.finish(np.ones(6, dtype=bool))
assert errors == [None] * 5 + [NONFINITE_OUTPUT] and correct == [True] * 5
errors

# %% [markdown]
# The array path's runner: each call gets a view, the timestamps of its queries are one slice
# assignment each, and the outputs go to `DeferredChecks`.

# %%
#| export
def run_offline_arrays(sut: Callable, views: list, rec: Recorder, s: Any, t0: float) -> None:
    "Offline over `offline_views`: each call gets a view, outputs are checked after the run (`DeferredChecks`)."
    checks = DeferredChecks(len(rec.started), rec.query_labels, rec.errors)
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

# %%
rec = Recorder(labels=[x % 3 for x in range(10)])
for i in np.resize(np.random.default_rng(0).permutation(10), 40):
    rec.add([int(i)], 0.0)
s = TestSettings("Offline", offline_batch_size=16)
views = offline_views(np.arange(10), rec, s)
run_offline_arrays(lambda batch: torch.nn.functional.one_hot(torch.as_tensor(batch) % 3, 3).float(), views, rec, s,
                   time.perf_counter())
assert rec.correct == [True] * 40 and np.isfinite(rec.completed).all()
print(f"40 queries in {len(views)} calls; accuracy {np.mean(rec.correct):.0%}")

# %% [markdown]
# ## 6. One run
#
# `execute` runs one scenario on a recorder whose queries are planned (Server, Offline) or empty
# (the closed loop adds its own). For the length of the run it shortens Python's thread switch
# interval, so the issuing thread is not starved by a SUT that holds the GIL; `progress=True` prints
# a one-line report to stderr twice a second. Ctrl-C stops the run: `execute` returns True and the
# recorder holds what was measured.

# %%
#| export
class _Progress:
    "A background thread printing `[scenario] done/total queries, elapsed s` to stderr every 0.5 s."
    def __init__(self, rec: Recorder, s: Any, t0: float):
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


def execute(sut: Callable, samples: Sequence, rec: Recorder, s: Any, batched: bool = False,
            progress: bool = False) -> bool:
    """Run scenario `s.scenario` of `sut` on `samples` (Offline with `batched`: the views of `offline_views`),
    recording into `rec`; returns True when Ctrl-C interrupted the run."""
    old_switch = sys.getswitchinterval()
    sys.setswitchinterval(min(old_switch, 2e-4))
    interrupted = False
    t0 = time.perf_counter()
    reporter = _Progress(rec, s, t0) if progress else None
    try:
        with nvtx_range(f"tinybench {s.scenario}"):
            {"SingleStream": run_closed_loop, "MultiStream": run_closed_loop, "Server": run_server,
             "Offline": run_offline_arrays if batched else run_offline}[s.scenario](sut, samples, rec, s, t0)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        sys.setswitchinterval(old_switch)
        if reporter is not None:
            reporter.stop()
    return interrupted

# %%
rec = Recorder(None)
switch = sys.getswitchinterval()
interrupted = execute(sleeper(2e-3), list(range(10)), rec, TestSettings("SingleStream", min_duration=0.6), progress=True)
assert not interrupted and sys.getswitchinterval() == switch and rec.completed[-1] >= 0.6
print(f"{len(rec.queries)} queries, p90 {format_seconds(float(np.quantile(np.subtract(rec.completed, rec.issued), 0.9)))}")
