"""Tests of tinybench.scenarios: LoadGen semantics, queueing truth, faults. SUTs sleep a known service time."""
import _thread
import json
import math
import signal
import threading
import time

import numpy as np
import pytest
import torch

from tinybench.capacity import simulate_queue
from tinybench.scenarios import (ArrayDataset, ProcessSUT, TestSettings, TorchSUT, burst_schedule, fifo_latencies,
                                 find_peak_qps, poisson_schedule, ramp_schedule, run, single_stream, soak)


class SleepSUT:
    """Sleeps a known service time per call (fixed, or drawn from `draw`); records batch sizes and how long each
    call took (`took`, seconds): a sleep overshoots by what the OS takes to wake the thread, which on a busy machine
    is milliseconds (sleep(2 ms) overshot by 69 us at the median but 2.0 ms at p90 and 5.3 ms at p99 with two
    CPU-bound processes alongside, load average 6 on 2 cores). Tests compare the harness with `took`, not the
    nominal sleep."""

    def __init__(self, service=1e-3, draw=None, fail_every=None, stall_at=None, stall=0.0, interrupt_at=None):
        self.service, self.draw, self.fail_every = service, draw, fail_every
        self.stall_at, self.stall, self.interrupt_at = stall_at, stall, interrupt_at
        self.calls, self.batches, self.took = 0, [], []
        self.lock = threading.Lock()

    def __call__(self, batch):
        with self.lock:
            self.calls += 1
            k = self.calls
            self.batches.append(len(batch))
        if k == self.interrupt_at:
            raise KeyboardInterrupt
        t = time.perf_counter()
        time.sleep(self.stall if k == self.stall_at else self.draw() if self.draw else self.service)
        self.took.append(time.perf_counter() - t)
        if self.fail_every and k % self.fail_every == 0:
            raise RuntimeError(f"injected failure on call {k}")
        return [0] * len(batch)


DS = ArrayDataset(np.arange(64))


# ------------------------------------------------------------------ building blocks
def test_poisson_schedule_is_seeded_and_has_the_rate():
    s = poisson_schedule(200.0, 20000, seed=4)
    assert np.array_equal(s, poisson_schedule(200.0, 20000, seed=4))
    assert abs(20000 / s[-1] - 200) < 6
    with pytest.raises(ValueError):
        poisson_schedule(0, 10)


def test_fifo_latencies_lindley():
    assert np.allclose(fifo_latencies([0, 0.5, 1.0, 1.1], [1.0, 0.2, 0.2, 0.2]), [1.0, 0.7, 0.4, 0.5])
    with pytest.raises(ValueError):
        fifo_latencies([0.0], [1.0, 2.0])


def test_single_stream_loop_semantics():
    t = np.array(single_stream(SleepSUT(1e-3), [0], min_queries=30, min_duration=0.0))
    assert len(t) == 30 and np.all(t[1:, 0] >= t[:-1, 1])


# ------------------------------------------------------------------ scenario semantics
def test_single_stream_p90_matches_known_service_time():
    "The harness's p90 is the SUT's own p90 (what its calls took, overshoot included: see SleepSUT) within 10%."
    sut = SleepSUT(5e-3)
    r = run(sut, DS, scenario="SingleStream", min_duration=0.6)
    assert r.valid, r.reasons
    assert np.all(r.latencies >= 5e-3) and len(sut.took) == r.n_queries
    assert abs(r.quantile(0.9) - np.quantile(sut.took, 0.9)) / np.quantile(sut.took, 0.9) < 0.10, r
    assert np.all(r.issued[1:] >= r.completed[:-1]), "closed loop: next query after the previous completes"
    assert r.metric[0].startswith("p90")


def arrival_rate(r):
    "The Poisson schedule's realised rate (queries/s): what the queue actually saw."
    return (len(r.scheduled) - 1) / (r.scheduled[-1] - r.scheduled[0])


def harness_queue(r):
    """Like with like: the queue the SUT's single worker really saw, from the run's own records (workers=1, FIFO).

    Latency runs from the schedule, so it holds the issuer's lateness (time.sleep overshoot: ~100 us at the median
    quiet, milliseconds at p99 on a busy machine) and, per query, the hand-off to the worker thread (issue, or the
    previous completion, to the start of service). The worker is busy for service + hand-off per query."""
    service = r.completed - r.started
    handoff = r.started - np.maximum(r.issued, np.concatenate([[-np.inf], r.completed[:-1]]))
    return r.issued - r.scheduled, service + handoff


def replayed_mean_latency(r, seeds=10):
    """Mean latency predicted like with like: the FIFO queue (`simulate_queue`) replaying the arrivals as the issuer
    really made them, with service drawn i.i.d. from the measured busy times, plus the measured issue lateness.

    Why not Pollaczek–Khinchine on the Poisson schedule: with two CPU-bound processes alongside (load average ~4
    on 2 cores) the issuer is late in bursts (mean 1.1-1.4 ms, p99 5.2 ms): one stall delays several queries,
    which then arrive together, and bursty arrivals wait longer than Poisson ones. Measured mean over P–K (with the
    lateness added) was 1.18-1.25 in 8 of 8 such runs; over this replay, 0.99-1.01 (replaying the issued times
    with the busy times shuffled gave the same mean as in their own order: service is independent of the load)."""
    late, busy = harness_queue(r)
    queue = [simulate_queue(None, busy, arrivals=r.issued, warmup=0, seed=k).response.mean() for k in range(seeds)]
    return late.mean() + float(np.mean(queue)), arrival_rate(r) * busy.mean()


def test_server_mean_latency_matches_md1():
    """Server latency against a single FIFO server with deterministic service (a 2 ms sleep) on the arrivals the
    issuer made (see replayed_mean_latency): M/D/1 when the issuer keeps to its Poisson schedule, as on a quiet
    machine. A harness that timed latency from the issue, not the schedule, or served the queue with more than one
    worker, would miss."""
    r = run(SleepSUT(2e-3), DS, scenario="Server", target_qps=250, min_duration=3.0, target_latency=0.05)
    pred, rho = replayed_mean_latency(r)
    assert 0.35 < rho < 0.8, rho  # nominal 0.5 (measured 0.52-0.55); the sleep's overshoot under load raises it
    assert abs(r.latencies.mean() - pred) / pred < 0.10, (r.latencies.mean(), pred, rho)
    assert np.all(r.latencies >= r.completed - r.started - 1e-9), "latency runs from the scheduled arrival"


def test_server_mean_latency_matches_mm1():
    """As test_server_mean_latency_matches_md1, with exponential service (mean 2 ms): M/M/1 on a Poisson schedule.

    The prediction is the expectation over service orders; one 6 s run is one sample path of a random queue, so it
    scatters: measured/predicted 0.90-1.05 over 16 quiet runs (sd 0.04), hence 15% here against 10% for the
    deterministic service of the M/D/1 test (0.985-1.002 over the same 16 runs)."""
    rng = np.random.default_rng(0)
    r = run(SleepSUT(draw=lambda: rng.exponential(2e-3)), DS, scenario="Server", target_qps=200, min_duration=6.0,
            target_latency=0.1)
    pred, rho = replayed_mean_latency(r)
    assert abs(r.latencies.mean() - pred) / pred < 0.15, (r.latencies.mean(), pred, rho)


def test_coordinated_omission_is_visible_from_the_schedule():
    r = run(SleepSUT(1e-3, stall_at=100, stall=0.2), DS, scenario="Server", target_qps=200, min_duration=1.5,
            target_latency=0.05)
    service = r.completed - r.started
    assert int((r.latencies >= 0.1).sum()) >= 5, "queries that arrived during the stall waited behind it"
    assert int((service >= 0.1).sum()) <= 1, "a closed-loop view (service only) sees one slow query at most"
    assert not r.valid and any("exceeds target_latency" in x for x in r.reasons)


def test_offline_hands_out_real_batches():
    sut = SleepSUT(1e-3)
    r = run(sut, DS, scenario="Offline", offline_batch_size=16, min_query_count=200, min_duration=0.0)
    assert sut.batches[:-1] == [16] * (len(sut.batches) - 1) and sum(sut.batches) == 200
    assert r.n_samples == 200 and r.valid and r.samples_per_second > 0


def test_offline_expected_qps_makes_min_duration():
    r = run(SleepSUT(1e-3), DS, scenario="Offline", offline_batch_size=8, min_duration=0.3, expected_qps=8000)
    assert r.duration >= 0.3 and r.valid, r.reasons
    short = run(SleepSUT(1e-3), DS, scenario="Offline", offline_batch_size=8, min_duration=0.3)
    assert any("expected_qps" in x for x in short.reasons)


def test_multistream_query_latency_is_its_slowest_sample():
    """A query's four samples sleep 1, 2, 3 and 4 units (5 ms). Checked per query against what the SUT's calls
    recorded themselves: the samples overlapped (their span is shorter than their sum: run one after another it
    would not be), and the query completed with its last sample (the harness's span covers the SUT's).

    These replace a fixed bound, latency < slowest + 4 ms (1 ms units), that held quiet but not with two CPU-bound
    processes alongside: waking the pool's threads and the sleeps' overshoot added up to 29 ms to one query (sleep
    p99 overshoot 5-11 ms, load average 6-9 on 2 cores). That bound still holds for the median query."""
    unit = 5e-3
    calls = []

    class PerSample(SleepSUT):
        def __call__(self, batch):
            t = time.perf_counter()
            time.sleep(unit * (1 + batch[0] % 4))
            calls.append((t, time.perf_counter()))
            return [0] * len(batch)

    r = run(PerSample(), ArrayDataset(np.arange(16)), scenario="MultiStream", samples_per_query=4, workers=4,
            min_duration=0.2, min_query_count=40)
    # closed loop: a query is issued after the previous one completes, so its four calls are the next four to start
    spans = np.array(sorted(calls)).reshape(-1, 4, 2)
    assert len(spans) == len(r.sample_index)
    lat, slowest = r.completed - r.issued, [unit * (1 + max(i % 4 for i in idx)) for idx in r.sample_index]
    for idx, q, s, harness_span, low in zip(r.sample_index, lat, spans, r.completed - r.started, slowest):
        sut_span = s[:, 1].max() - s[:, 0].min()
        assert q >= low, (idx, q)
        assert sut_span < (s[:, 1] - s[:, 0]).sum(), ("the samples ran one after another", idx, s)
        assert harness_span >= sut_span, ("the query completed before its slowest sample", idx, harness_span, sut_span)
    assert np.median(lat - slowest) < 4 * unit, np.median(lat - slowest)
    assert all(len(ix) == 4 and all((b - a) % 16 in (1,) for a, b in zip(ix, ix[1:])) for ix in r.sample_index), \
        "contiguous samples per query"


def test_server_dynamic_batching_groups_queued_queries():
    sut = SleepSUT(4e-3)
    run(sut, DS, scenario="Server", target_qps=800, min_duration=0.5, max_batch=8, max_wait=2e-3,
        target_latency=0.5, min_query_count=1)
    assert max(sut.batches) > 1 and max(sut.batches) <= 8


def test_overload_is_invalid_with_a_reason():
    r = run(SleepSUT(5e-3), DS, scenario="Server", target_qps=400, min_duration=1.0, target_latency=0.05,
            max_duration=10)
    assert not r.valid
    assert any("overloaded" in x or "exceeds target_latency" in x for x in r.reasons)


def test_find_peak_qps_brackets_the_capacity():
    """Latency bound 0.2 s: past 1.25x capacity the backlog passes it within the 1 s run. With a 50 ms bound, the
    harness rule (p99 issue lateness under 10% of the bound, 5 ms) failed every rate on a 2-core machine at load
    average 6-9, where the OS left the issuing thread unscheduled for 16-59 ms at p99, and the search halved down."""
    peak = find_peak_qps(SleepSUT(2e-3), DS, target_qps=100, min_duration=1.0, target_latency=0.2, tolerance=0.1)
    capacity = 1 / 2e-3
    # a 1 s run can pass slightly above capacity: the queue has not built up yet (why min_duration exists)
    assert peak.peak_qps is not None and 0.4 * capacity < peak.peak_qps < 1.25 * capacity, peak.tried
    valid = {t["target_qps"] for t in peak.tried if t["valid"]}
    invalid = {t["target_qps"] for t in peak.tried if not t["valid"]} - valid  # failed every run at that rate
    assert max(valid) == peak.peak_qps and min(invalid) > peak.peak_qps
    assert min(invalid) / peak.peak_qps - 1 <= 0.1 and "PeakSearch(peak" in repr(peak)
    assert "<table>" in peak._repr_html_()


def test_find_peak_qps_survives_one_noisy_failure():
    calls = []

    def runner(sut, dataset, s):  # capacity 1000 queries/s; the very first run fails (a noise spike)
        calls.append(s.target_qps)
        valid = s.target_qps <= 1000 and len(calls) > 1
        return type("R", (), {"valid": valid, "reasons": [] if valid else ["noise"], "qps": s.target_qps,
                              "quantile": lambda self, q: 0.0})()

    peak = find_peak_qps(None, DS, target_qps=500, target_latency=0.05, tolerance=0.05, runner=runner)
    assert calls[:2] == [500, 500] and 950 <= peak.peak_qps <= 1000, peak.tried
    calls.clear()
    naive = find_peak_qps(None, DS, target_qps=500, target_latency=0.05, tolerance=0.05, runner=runner, retries=0)
    assert naive.peak_qps < 500, "without the re-run, one spike halves the search"
    with pytest.raises(ValueError, match="retries"):
        find_peak_qps(None, DS, target_qps=500, runner=runner, retries=-1)


def test_burst_and_ramp_schedules():
    b = burst_schedule(100.0, 10_000, 10, seed=2)
    assert np.all(b[0:10] == b[0]) and b[10] > b[9], "bursts arrive together"
    assert abs(10_000 / b[-1] - 100) < 8, "same mean rate as Poisson"
    t = ramp_schedule(100.0, 700.0, 2.0, seed=1)
    first, second = (t < 1.0).sum(), (t >= 1.0).sum()
    assert abs(len(t) - 800) < 100 and 200 < first < 300 and 500 < second < 600, (len(t), first, second)
    with pytest.raises(ValueError):
        ramp_schedule(0, 10, 1)
    s = TestSettings(scenario="Server", target_qps=50, ramp_to_qps=100, min_duration=1)
    assert s.load_pattern == "ramp"
    with pytest.raises(ValueError, match="load_pattern"):
        TestSettings(scenario="Server", load_pattern="sine")


def test_ramp_run_latency_rises_with_the_rate():
    r = run(SleepSUT(2e-3), DS, scenario="Server", target_qps=100, ramp_to_qps=700, min_duration=2.0,
            target_latency=0.05, min_query_count=1)
    third = len(r.latencies) // 3
    assert np.median(r.latencies[-third:]) > 3 * np.median(r.latencies[:third])
    # its last arrival is always just before min_duration (the ramp's length): that is not a run too short
    assert not any("under min_duration" in x for x in r.reasons), r.reasons


def test_soak_finds_a_leak_and_not_a_false_one():
    class Leaky(SleepSUT):
        kept = []

        def __call__(self, batch):
            self.kept.append(bytearray(200 * 1024))
            return super().__call__(batch)

    clean = soak(SleepSUT(1e-3), DS, target_qps=200, min_duration=1.5, target_latency=0.05)
    leaky = soak(Leaky(1e-3), DS, target_qps=200, min_duration=1.5, target_latency=0.05)
    assert leaky.leak and not clean.leak, (leaky, clean)
    assert leaky.mem_slope > 20 * 2**20, "200 KiB x 200/s is ~40 MiB/s"
    assert json.loads(json.dumps(leaky.to_dict()))["leak"] is True and "LEAK" in repr(leaky)
    # the rule's per-query bar: 2 MiB over the run is the harness's own ~10 B/query at 200,000 queries, a leak at 300
    import dataclasses
    t = np.linspace(0, 10, 50)
    grow = dict(mem_time=t, mem_rss=1e8 + 2**21 * t / 10, mem_slope=2**21 / 10, mem_p=1e-9)
    n = clean.result.n_queries
    assert dataclasses.replace(clean, **grow).leak == (2**21 / n > 256), n
    assert 2**21 / n > 256, "a 1.5 s soak at 200/s has ~300 queries: 2 MiB is ~7 KiB per query, a leak"
    from types import SimpleNamespace
    assert not dataclasses.replace(clean, result=SimpleNamespace(n_queries=200_000), **grow).leak, "~10 B per query"


def test_recording_timestamps_allocates_nothing_per_query():
    """The Recorder's timestamps are stored in place: filling in 20,000 queries' times allocates no objects. With
    list columns each stored time was a new float (~100 bytes a query over four columns): memory that grew with the
    query count, which a soak at 3,000 queries/s read as a leak of ~18 MiB/min."""
    import tracemalloc

    from tinybench.runner import Recorder
    rec = Recorder(None)
    for q in range(20_000):
        rec.add([0], q * 1e-3)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for q in range(20_000):
        t = time.perf_counter()
        rec.issued[q], rec.started[q], rec.completed[q] = t, t + 1e-4, t + 2e-4
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown < 20_000, f"{grown} bytes for 20,000 queries' timestamps"
    assert np.array(rec.completed).dtype == np.float64 and np.isfinite(np.array(rec.completed)).all()


def test_progress_goes_to_stderr(capsys):
    run(SleepSUT(1e-3), DS, scenario="SingleStream", min_duration=0.7, progress=True)
    err = capsys.readouterr().err
    assert "[SingleStream]" in err and "queries" in err


# ------------------------------------------------------------------ faults and bad input
def test_sut_that_raises_on_some_queries():
    r = run(SleepSUT(1e-3, fail_every=100), DS, scenario="Server", target_qps=300, min_duration=1.5,
            target_latency=0.05, min_query_count=1)
    assert r.n_errors == len(r.errors) // 100 > 0
    assert not r.valid and any("failed in the SUT" in x and "injected failure" in x for x in r.reasons)
    assert r.n_queries == len(r.errors) - r.n_errors


def test_wrong_number_of_outputs_is_an_error_of_each_query():
    r = run(lambda batch: [0] * (len(batch) + 1), DS, scenario="SingleStream", min_duration=0.0)
    assert not r.valid and r.n_errors == len(r.errors) > 0 and "one output per sample" in r.reasons[0]


def _labelled(n: int = 40) -> ArrayDataset:
    X = np.random.default_rng(0).standard_normal((n, 4)).astype(np.float32)
    return ArrayDataset(X, np.zeros(n, dtype=int))


BROKEN_OUTPUTS = {  # each must fail its queries, not pass as VALID (NaN: accuracy 1.0) nor kill the Server workers
    "nan": (lambda b: np.full((len(b), 3), np.nan), "NaN or infinity"),
    "inf": (lambda b: [np.array([np.inf, 0.0, 0.0])] * len(b), "NaN or infinity"),
    "none": (lambda b: None, "returned None"),
    "float": (lambda b: 1.0, "returned a float, not a sequence"),
    "too-many": (lambda b: [0] * (len(b) + 1), "one output per sample"),
}


@pytest.mark.parametrize("scenario", ["SingleStream", "MultiStream", "Server", "Offline"])
@pytest.mark.parametrize("kind", sorted(BROKEN_OUTPUTS))
def test_broken_outputs_are_errors_of_their_queries(scenario, kind):
    sut, reason = BROKEN_OUTPUTS[kind]
    r = run(sut, _labelled(), scenario=scenario, min_duration=0.0, min_query_count=10, max_duration=5,
            target_qps=500, target_latency=0.5)
    assert r.n_errors == len(r.errors) > 0, r.reasons
    assert not r.valid and reason in r.reasons[0]
    assert r.correct is None or r.correct.size == 0  # no output of these counts as a prediction


def test_some_nan_rows_fail_only_their_queries_on_the_offline_array_path():
    def half_nan(batch):
        out = np.zeros((len(batch), 3))
        out[::2] = np.nan
        return out
    half_nan.accepts_arrays = True
    r = run(half_nan, _labelled(40), scenario="Offline", offline_batch_size=8, min_duration=0.0)
    assert r.n_errors == 20 and not r.valid and "NaN or infinity" in r.reasons[0]
    assert r.correct.size == 20 and r.correct.all()  # the finite rows, argmax 0 = label 0


@pytest.mark.parametrize("kwargs", [dict(target_qps=0), dict(target_qps=-5), dict(max_duration=0),
                                    dict(scenario="Batch"), dict(min_duration=5, max_duration=1),
                                    dict(latency_quantile=99)])
def test_bad_settings(kwargs):
    with pytest.raises(ValueError):
        TestSettings(**{"scenario": "Server", **kwargs})


def test_empty_dataset_and_non_callable_sut():
    with pytest.raises(ValueError, match="empty"):
        ArrayDataset([])
    with pytest.raises(ValueError, match="empty"):
        run(lambda b: b, [], scenario="SingleStream")
    with pytest.raises(TypeError):
        run(42, DS)


def test_ctrl_c_in_single_stream_keeps_what_was_measured():
    r = run(SleepSUT(1e-3, interrupt_at=50), DS, scenario="SingleStream", min_duration=5)
    assert r.interrupted and not r.valid and r.n_queries == 49
    assert any("interrupted" in x for x in r.reasons)


def test_ctrl_c_in_server_keeps_what_was_measured():
    """`interrupt_main` raises KeyboardInterrupt only where Python handles SIGINT: a command started in the
    background by a non-interactive shell (`make test &` in a script) inherits SIGINT ignored, and then nothing
    happened and the run went its full 5 s. So the test installs Python's handler for its duration."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    try:
        r = run(SleepSUT(1e-3), DS, scenario="Server", target_qps=200, min_duration=5, target_latency=0.05)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, old)
    assert r.interrupted and 50 < r.n_queries < 200, r


# ------------------------------------------------------------------ a real model, rendering
def test_torch_sut_offline_accuracy_and_rendering():
    from tinybench.workloads import default_workload
    wl = default_workload()
    ds = ArrayDataset(wl.data.X_test, wl.data.y_test.tolist())
    r = run(TorchSUT(wl.trained.model), ds, scenario="Offline", offline_batch_size=64, min_duration=0.0)
    assert r.valid and r.accuracy >= 0.95 and r.n_samples == len(ds)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["scenario"] == "Offline" and d["accuracy"] >= 0.95 and len(d["queries"]["completed"]) == r.n_queries
    assert "Result is : VALID" in r.summary() and "<pre>" in r._repr_html_()
    assert "ScenarioResult(Offline: VALID" in repr(r)


@pytest.mark.gpu
def test_torch_sut_on_cuda_synchronizes():
    from tinybench.workloads import default_workload
    wl = default_workload(device="cuda")
    ds = ArrayDataset(wl.data.X_test, wl.data.y_test.tolist())
    r = run(TorchSUT(wl.variants["fp32"].model, device="cuda"), ds, scenario="SingleStream", min_duration=0.3)
    assert r.valid and r.accuracy >= 0.95


# ---- ProcessSUT: SUTs served from worker processes (factories must be importable: module level)

class _PythonWork:
    "A GIL-bound SUT: a pure-Python loop of known length per sample; returns one number per sample."
    def __init__(self, loops: int = 20_000):
        self.loops = loops

    def __call__(self, batch):
        out = []
        for x in batch:
            acc = 0
            for i in range(self.loops):
                acc += i % 7
            out.append(float(x) + acc * 0)
        return out


def _raising_factory():
    raise OSError("model file missing")


def _dying_factory():
    import os
    os._exit(3)


class _Double:
    def __call__(self, batch):
        return [x * 2 for x in batch]


class _FailsOnNegative:
    def __call__(self, batch):
        if any(x < 0 for x in batch):
            raise ValueError("negative input")
        return [x * 2 for x in batch]


def test_process_sut_returns_what_the_sut_returns_and_reports_its_errors():
    with ProcessSUT(_FailsOnNegative, processes=2) as p:
        assert p([1, 2, 3]) == [2, 4, 6] and "2 processes, 2 alive" in repr(p)
        with pytest.raises(RuntimeError, match="ValueError: negative input"):
            p([1, -1])
        assert p([5]) == [10], "a failed query does not break the worker"
    with ProcessSUT(_Double, processes=1) as p:
        t = torch.arange(6.0).reshape(3, 2)
        out = p(list(t))
        assert torch.equal(torch.stack(out), t * 2), "tensors travel (as numpy) and come back as tensors"
    assert "0 alive" in repr(p)
    with pytest.raises(ValueError, match="the SUT factory failed in a worker process: OSError: model file missing"):
        ProcessSUT(_raising_factory, processes=1)
    with pytest.raises(RuntimeError, match=r"exited while starting \(exit code 3\)"):
        ProcessSUT(_dying_factory, processes=1)
    with pytest.raises(ValueError, match="processes must be an integer >= 1"):
        ProcessSUT(_FailsOnNegative, processes=0)


def test_a_dead_process_sut_worker_leaves_the_pool():
    "One of two workers killed mid-run: only the queries sent to it fail; the other serves the rest."
    import os
    import signal
    data = ArrayDataset([1.0, 2.0, 3.0, 4.0] * 50)
    with ProcessSUT(_Double, processes=2) as p:
        calls = []

        def sut(batch):
            calls.append(1)
            if len(calls) == 20:  # deterministic: the kill lands after the 20th call started, not at a time
                os.kill(p.processes[0].pid, signal.SIGKILL)
            return p(batch)
        r = run(sut, data, scenario="Offline", offline_batch_size=1, min_duration=0.0, workers=2)
        assert r.n_errors <= 2 and r.n_queries >= 198, r.reasons
        assert all("worker process died" in e for e in r.errors if e)
        p.processes[0].join(5)  # SIGKILL is asynchronous: on a busy machine the process can outlive the run briefly
        assert p([4.0]) == [8.0] and "1 alive" in repr(p)
        os.kill(p.processes[1].pid, signal.SIGKILL)
        p.processes[1].join(5)
        with pytest.raises(RuntimeError, match="every ProcessSUT worker process has died"):
            p([1.0])


def test_process_sut_failing_queries_make_the_run_invalid_not_crash():
    data = ArrayDataset([1.0, -1.0, 2.0, 3.0] * 10)
    with ProcessSUT(_FailsOnNegative, processes=1) as p:
        r = run(p, data, scenario="Offline", offline_batch_size=1, min_duration=0.0)
    assert r.n_errors == 10 and not r.valid and "negative input" in r.reasons[0]


def _python_loop(n: int) -> int:
    "Pure-Python work for the machine's parallelism probe."
    acc = 0
    for i in range(n):
        acc += i % 7
    return acc


def test_processes_scale_a_gil_bound_sut_where_threads_do_not():
    """Same SUT, same run: two threads of a GIL-bound SUT never use more than one core; two worker processes serve
    more than one wherever the machine has a free core.

    The thread half is read from CPU time, which holds at any load (throughput is no measure: under
    `make test-busy` two threads served 1.26x one, as two runnable threads get a larger share of a contended CPU).
    The process half is judged against a probe of the machine taken in the same round (two plain worker processes
    of pure-Python work against one): where the probe found a free core (>= 1.6x), ProcessSUT must scale too
    (>= 1.25x). Under `make test-busy`, ProcessSUT against threads ranged 0.97-2.09x from moment to moment, and
    once no pair beat threads: comparing different moments is what made the earlier form of this test flaky."""
    from concurrent.futures import ProcessPoolExecutor
    data = ArrayDataset(list(range(64)))
    one, two = ({"scenario": "Offline", "offline_batch_size": 4, "min_duration": 0.0, "workers": w} for w in (1, 2))
    sut = _PythonWork()
    cores, rounds = [], []
    with ProcessSUT(_PythonWork, processes=2) as p, ProcessPoolExecutor(2) as probe:
        list(probe.map(_python_loop, [1000, 1000]))  # start both probe processes
        for _ in range(5):
            cpu, wall = time.process_time(), time.perf_counter()
            run(sut, data, **two)
            cores.append((time.process_time() - cpu) / (time.perf_counter() - wall))
            t0 = time.perf_counter()
            list(probe.map(_python_loop, [300_000]))
            t_one = time.perf_counter() - t0
            t0 = time.perf_counter()
            list(probe.map(_python_loop, [300_000, 300_000]))
            free = 2 * t_one / (time.perf_counter() - t0)
            p1 = run(p, data, **one).samples_per_second
            p2 = run(p, data, **two).samples_per_second
            rounds.append((free, p2 / p1))
    assert max(cores) < 1.2, f"two threads of a GIL-bound SUT used {max(cores):.2f} cores at once: {cores}"
    informative = [gain for free, gain in rounds if free >= 1.6]
    if not informative:
        pytest.skip(f"no free core in five probes (two processes against one: {[round(f, 2) for f, _ in rounds]})")
    assert max(informative) >= 1.25, f"a free core, yet two ProcessSUT workers served {informative} x one: {rounds}"


# ------------------------------------------------------------------ Offline over one array: views, not copies
class _ViewRecorder:
    "A SUT that keeps each batch it was handed and returns each sample's value as its output."
    accepts_arrays = True

    def __init__(self):
        self.batches = []

    def __call__(self, batch):
        self.batches.append(batch)
        return batch


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_offline_hands_an_array_sut_views_of_one_gathered_array(kind):
    X = np.arange(100, dtype=np.float32)
    if kind == "torch":
        X = torch.from_numpy(X)
    sut = _ViewRecorder()
    r = run(sut, ArrayDataset(X, list(range(100))), scenario="Offline", offline_batch_size=16, min_duration=0.0)
    assert r.valid and r.n_samples == 100 and len(sut.batches) == 7  # 6 x 16 + 4
    if kind == "numpy":
        bases = {id(b.base) for b in sut.batches}
        assert len(bases) == 1 and all(b.base is not None and b.flags.c_contiguous for b in sut.batches)
        owner = sut.batches[0].base
        lo, hi = owner.ctypes.data, owner.ctypes.data + owner.nbytes
        assert all(lo <= b.ctypes.data < hi for b in sut.batches)
    else:
        storages = {b.untyped_storage().data_ptr() for b in sut.batches}
        assert len(storages) == 1 and all(b.is_contiguous() for b in sut.batches)
    # each output is its sample's value and the label is the sample index: all correct iff outputs map to samples
    assert r.accuracy == 1.0
    seen = np.concatenate([np.asarray(b) for b in sut.batches])
    assert sorted(seen.astype(int).tolist()) == list(range(100))
    assert [int(i) for ix in r.sample_index for i in ix] == seen.astype(int).tolist()


def test_offline_array_path_maps_outputs_back_when_the_order_repeats():
    X = np.arange(10, dtype=np.float64)
    sut = _ViewRecorder()
    r = run(sut, ArrayDataset(X, list(range(10))), scenario="Offline", offline_batch_size=4, min_duration=0.0,
            min_query_count=25)
    assert r.n_samples == 25 and r.accuracy == 1.0
    assert all(len(b) <= 4 for b in sut.batches) and sum(len(b) for b in sut.batches) == 25


class _ReusedOutput:
    """A SUT that writes every batch's outputs into one output array it returns each time (as a CUDA-graph or
    preallocated-buffer SUT does): one-hot rows of each sample's label, so every answer is right when it is read
    before the next call overwrites it."""
    accepts_arrays = True

    def __init__(self, n_classes=5, batch=4, kind="numpy"):
        self.out = np.zeros((batch, n_classes), dtype=np.float32)
        self.kind = kind

    def __call__(self, batch):
        self.out[:] = 0.0
        self.out[np.arange(len(batch)), np.asarray(batch, dtype=int) % self.out.shape[1]] = 1.0
        view = self.out[:len(batch)]
        return torch.from_numpy(view) if self.kind == "torch" else view


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_offline_checks_outputs_after_the_run_from_a_copy(kind):
    "Outputs are checked after the timed run; a SUT that overwrites one output buffer still gets each batch judged."
    X = np.arange(30, dtype=np.float32)
    r = run(_ReusedOutput(kind=kind), ArrayDataset(X, [i % 5 for i in range(30)]), scenario="Offline",
            offline_batch_size=4, min_duration=0.0, min_query_count=60)
    assert r.n_samples == 60 and r.n_errors == 0 and r.accuracy == 1.0


@pytest.mark.parametrize("max_bytes", [64 << 20, 0])  # the deferred buffer, and the check at once (buffer too big)
def test_offline_nan_rows_are_errors_of_their_samples_on_both_check_paths(monkeypatch, max_bytes):
    import tinybench.runner as rn
    monkeypatch.setattr(rn.DeferredChecks, "max_bytes", max_bytes)

    def nan_for_odd(batch):
        out = torch.nn.functional.one_hot(torch.as_tensor(batch).long() % 3, 3).float()
        out[torch.as_tensor(batch).long() % 2 == 1] = float("nan")
        return out
    nan_for_odd.accepts_arrays = True
    X = torch.arange(20, dtype=torch.float32)
    r = run(nan_for_odd, ArrayDataset(X, [i % 3 for i in range(20)]), scenario="Offline", offline_batch_size=8,
            min_duration=0.0)
    assert r.n_errors == 10 and not r.valid and "NaN" in " ".join(r.reasons)
    assert r.accuracy == 1.0  # the 10 finite rows are right; NaN rows are errors, never class-0 answers
    bad = {int(ix[0]) for ix, e in zip(r.sample_index, r.errors) if e is not None}
    assert bad == set(range(1, 20, 2))


def test_offline_outputs_of_changing_shape_or_bfloat16_are_still_checked():
    def varying(batch):
        k = 3 if int(batch[0]) % 2 == 0 else 4  # the row shape changes between calls: checked at once
        return torch.nn.functional.one_hot(torch.as_tensor(batch).long() % 3, k).to(torch.bfloat16)
    varying.accepts_arrays = True
    X = np.arange(16, dtype=np.float32)
    r = run(varying, ArrayDataset(X, [i % 3 for i in range(16)]), scenario="Offline", offline_batch_size=1,
            min_duration=0.0)
    assert r.n_samples == 16 and r.n_errors == 0 and r.accuracy == 1.0


def test_offline_array_path_counts_a_failing_batch_and_refuses_wrong_output_counts():
    def broken(batch):
        raise RuntimeError("boom")
    broken.accepts_arrays = True
    r = run(broken, ArrayDataset(np.zeros((20, 3))), scenario="Offline", offline_batch_size=8, min_duration=0.0)
    assert not r.valid and r.n_errors == 20 and "RuntimeError: boom" in r.reasons[0]

    def short(batch):
        return batch[:-1]
    short.accepts_arrays = True
    r = run(short, ArrayDataset(np.zeros((20, 3))), scenario="Offline", offline_batch_size=8, min_duration=0.0)
    assert not r.valid and r.n_errors == 20 and "one output per sample" in r.reasons[0]


def test_torch_sut_takes_list_and_array_batches_alike():
    lin = torch.nn.Linear(3, 2)
    sut = TorchSUT(lin)
    x = torch.randn(5, 3)
    assert torch.equal(sut(list(x)), sut(x)) and torch.equal(sut(x.numpy()), sut(x))


# ------------------------------------------------------------------ overloaded Server runs stop early
def test_max_over_allowed_is_the_early_stopping_boundary():
    from tinybench.scenarios import max_over_allowed
    from tinybench.stats import early_stopping_min_passing
    for n in (459, 1000, 5000):
        t = max_over_allowed(n, 0.99)
        assert early_stopping_min_passing(t, 0.99) + t <= n < early_stopping_min_passing(t + 1, 0.99) + t + 1
    assert max_over_allowed(458, 0.99) == -1  # too few queries to pass at all (459 with none over)


def test_an_overloaded_server_run_stops_early_as_invalid():
    """A sleep SUT of 5 ms at 1,000 queries/s is 5x overloaded: the backlog makes VALID impossible within a few
    hundred queries. Without the early stop the run would drain ~5 s of backlog (and up to max_duration)."""
    t0 = time.perf_counter()
    r = run(SleepSUT(5e-3), DS, scenario="Server", target_qps=1000, target_latency=0.02, min_duration=1.0,
            max_duration=60)
    wall = time.perf_counter() - t0
    assert not r.valid and r.stopped_early and r.stopped_early.startswith("overloaded:"), r.reasons
    assert not r.timed_out and not any("max_duration" in x for x in r.reasons)
    assert wall < 4.0, f"the run took {wall:.1f} s"  # the stop, then at most 1 s of grace for the queued queries


def test_a_server_run_within_capacity_is_not_stopped_early():
    """Only the early stop is asserted, with a 5 s bound that no stall of a busy machine reaches (a 0.5 s bound was
    once passed by 22 queries at 20% utilisation on a 2-core machine at load average ~6: a real, if rare, INVALID)."""
    r = run(SleepSUT(2e-4), DS, scenario="Server", target_qps=500, target_latency=5.0, min_duration=1.0,
            min_query_count=1000)
    assert r.stopped_early is None and not any(x.startswith("overloaded") for x in r.reasons), r.reasons
    assert r.n_queries == r.scheduled.size


def test_overload_is_declared_exactly_when_early_stopping_cannot_pass():
    """Deterministic: the recorder's counts and the clock are set by hand."""
    from tinybench.runner import Overload, Recorder, max_over_allowed
    s = TestSettings(scenario="Server", target_qps=1000, target_latency=0.01, min_query_count=1000)
    rec = Recorder(None)
    for k in range(1000):
        rec.add([0], k * 1e-3)  # one query per ms
    ov = Overload(rec, s)
    assert ov.allowed == max_over_allowed(1000, 0.99) >= 1
    # at t = 0.5 s with 500 issued, none completed: the 490 scheduled before t - 10 ms are certainly late
    rec.n_completed, rec.n_over = 0, 0
    assert ov.hopeless(0.5, 500) and "490 queries were already over" in rec.stopped_early
    rec.stopped_early = None
    rec.n_completed, rec.n_over = 490, ov.allowed  # all done in time but `allowed` of them: still possible
    assert not ov.hopeless(0.5, 500)
    rec.n_over = ov.allowed + 1
    assert ov.hopeless(0.5, 500)


# ------------------------------------------------------------------ the issuer: never early, and what it costs
@pytest.mark.parametrize("mode", ["sleep", "hybrid", "precise"])
def test_pacer_never_returns_before_its_deadline(mode):
    from tinybench.scenarios import Pacer
    pacer = Pacer(mode)
    t = time.perf_counter()
    early = []
    for k in range(200):
        t += 5e-4
        pacer.wait_until(t)
        early.append(time.perf_counter() - t)
    assert min(early) >= 0


@pytest.mark.parametrize("busy, loaded, spins, straight", [
    (False, False, True, False),   # idle SUT: sleep to the margin, spin the rest
    (True, False, False, False),   # a query outstanding at the margin: sleep on (no spin)
    (False, True, False, True),    # SUT busy most of the time: one sleep straight to the deadline
])
def test_hybrid_pacer_spins_only_for_an_idle_lightly_loaded_sut(monkeypatch, busy, loaded, spins, straight):
    """Which path the hybrid issuer takes, read from what it asks the OS for (not from timing): the first sleep is
    for the whole 200 ms (straight to the deadline) or for 200 ms less the 100 ms margin (a margin no OS stall on a
    loaded machine has reached: p99 issue lateness was 16-59 ms at load 6-9)."""
    import tinybench.runner as rn
    asked, yields = [], []
    real_sleep = time.sleep

    def sleep(d):
        asked.append(d)
        real_sleep(d)
    monkeypatch.setattr(rn.time, "sleep", sleep)
    monkeypatch.setattr(rn.os, "sched_yield", lambda: yields.append(1))
    pacer = rn.Pacer("hybrid")
    pacer.margin = 0.1
    target = time.perf_counter() + 0.2
    pacer.wait_until(target, busy=lambda: busy, loaded=lambda: loaded)
    assert time.perf_counter() >= target
    assert bool(yields) == spins, (asked, len(yields))
    assert (asked[0] > 0.15) == straight and (len(asked) == 1 if straight else asked[0] <= 0.1), asked


def test_server_records_issue_mode_lateness_and_issuer_cpu():
    r = run(SleepSUT(1e-4), DS, scenario="Server", target_qps=500, target_latency=0.5, min_duration=0.5,
            issue_mode="precise")
    assert (r.issued >= r.scheduled).all() and r.issuer_cpu is not None and 0 < r.issuer_cpu
    text = r.summary()
    assert "(precise issuer)" in text and "Issuer CPU" in text
    with pytest.raises(ValueError, match="issue_mode must be one of"):
        TestSettings(scenario="Server", issue_mode="fast")


# ------------------------------------------------------------------ documented combinations, bad settings
def test_torch_sut_runs_an_array_dataset_of_numpy_samples_on_the_list_path():
    "ArrayDataset(numpy) + TorchSUT: the queries succeed (torch.stack on numpy samples would fail: 'expected Tensor')."
    lin = torch.nn.Linear(4, 3)
    ds = ArrayDataset(np.random.default_rng(0).standard_normal((30, 4)).astype(np.float32), np.zeros(30, dtype=int))
    for scenario in ("SingleStream", "MultiStream"):
        r = run(TorchSUT(lin), ds, scenario=scenario, min_duration=0.0, min_query_count=5)
        assert r.n_errors == 0, r.reasons


def test_soak_refuses_a_negative_interval():
    "soak(interval=-1) busy-looped and reported a false LEAK."
    from tinybench.scenarios import soak
    with pytest.raises(ValueError, match="interval must be a positive finite number"):
        soak(SleepSUT(1e-3), DS, interval=-1, min_duration=0.2)


@pytest.mark.parametrize("kwargs, exc, pattern", [
    (dict(target_qps="100"), TypeError, "target_qps must be .* got '100'"),
    (dict(min_duration=None), TypeError, "min_duration"),
    (dict(max_duration=math.nan), ValueError, "max_duration .* got nan"),
    (dict(target_latency=math.inf), ValueError, "target_latency .* got inf"),
    (dict(workers=2.5), ValueError, "workers must be an integer"),
    (dict(min_query_count="10"), TypeError, "min_query_count")])
def test_test_settings_name_the_bad_field(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        TestSettings(**kwargs)
