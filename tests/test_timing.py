"""Tests of tinybench.timing on real clocks (CPU always, CUDA when present)."""
import gc
import json
import math
import time

import numpy as np
import pytest

from tinybench.display import format_seconds
from tinybench.timing import (BenchmarkError, Measurement, Pitfall, Timer, calibrate_loops, check_dispersion,
                              check_drift, check_resolution, check_sync, clock_resolution, detect_warmup,
                              last_level_cache_bytes, measure, median_iqr, resolve_device, time_call, timer_overhead)


def spin(seconds: float) -> None:
    """Busy-wait on perf_counter: a CPU kernel of known duration."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


# ------------------------------------------------------------------ accuracy on kernels of known duration
def test_busy_wait_200us_median_error_below_3_percent():
    m = measure(spin, 200e-6, min_time=0.2)
    assert m.loops == 1
    assert abs(m.median - 200e-6) / 200e-6 < 0.03, m


def test_sub_microsecond_function_gets_many_loops():
    m = measure(lambda: None, min_time=0.05)
    assert m.loops > 1
    assert m.loops * m.median >= 100 * m.resolution   # calibration reached its target (with slack for noise)
    assert m.median < 1e-6


def test_warming_up_function_is_detected():
    """MSER-5 cuts the 20 slow calls. `min_samples=100` makes sampling go past them whatever the machine: with the
    default 20, sampling stops once 20 kept samples add up to `min_time`, and with two CPU-bound processes
    alongside the 2 ms spins took up to ~10 ms of wall time each (preempted), so 20 warm-up samples alone passed
    min_time=0.05 and nothing after the warm-up was ever measured (median 2.0 ms, warm-up 2 calls)."""
    calls = {"n": 0}

    def warms_up():
        calls["n"] += 1
        spin(2e-3 if calls["n"] <= 20 else 100e-6)

    m = measure(warms_up, min_time=0.05, min_samples=100)
    assert m.warmup_calls >= 20, m
    assert abs(m.median - 100e-6) / 100e-6 < 0.15, m
    assert m.first_call > 1.5e-3


def test_matmul_time_ratio_tracks_flop_ratio():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a, b = torch.randn(128, 128), torch.randn(512, 512)
        small = measure(torch.mm, a, a, min_time=0.1)
        large = measure(torch.mm, b, b, min_time=0.1)
    finally:
        torch.set_num_threads(threads)
    ratio = large.median / small.median
    assert 64 / 4 < ratio < 64 * 4, f"FLOP ratio 64, time ratio {ratio:.1f}"


def test_numpy_call_and_plain_python_function():
    a = np.random.default_rng(0).standard_normal((64, 64))
    m = measure(np.dot, a, a, min_time=0.05)
    assert m.n >= 20 and m.median > 0
    m2 = measure(sum, range(100), min_time=0.05)
    assert m2.median > 0 and m2.label == "sum"


def test_flushed_cache_is_slower_than_hot():
    arr = np.ones(2**20)  # 8 MiB
    hot = measure(arr.sum, min_time=0.05)
    cold = measure(arr.sum, flush_cache=True, min_time=0.05, max_time=5)
    assert cold.loops == 1 and cold.cache == "flushed" and hot.cache == "hot"
    assert cold.median > 1.05 * hot.median, (hot, cold)


# ------------------------------------------------------------------ harness behaviour
def test_gc_is_off_while_timing_and_restored():
    seen = []
    m = measure(lambda: seen.append(gc.isenabled()), min_time=0.01)
    assert m.n > 0 and not any(seen), "GC must be off while timing"
    assert gc.isenabled()


def test_gc_state_restored_when_function_raises():
    calls = {"n": 0}

    def fails_later():
        calls["n"] += 1
        if calls["n"] > 50:
            raise KeyError("boom")

    with pytest.raises(BenchmarkError, match="fails_later raised KeyError") as info:
        measure(fails_later, loops=1)
    assert isinstance(info.value.__cause__, KeyError)
    assert gc.isenabled()


def test_ctrl_c_keeps_partial_results():
    calls = {"n": 0}

    def interrupted():
        calls["n"] += 1
        if calls["n"] == 200:
            raise KeyboardInterrupt
        spin(50e-6)

    m = measure(interrupted, loops=1, min_time=10)
    assert m.interrupted and 0 < m.n < 200
    assert "interrupted" in [p.kind for p in m.pitfalls]
    assert gc.isenabled()


def test_forced_single_loop_on_tiny_function_flags_resolution():
    m = measure(lambda: None, loops=1, min_time=0.01)
    assert "resolution" in [p.kind for p in m.pitfalls]


# ------------------------------------------------------------------ bad input
def test_non_callable_is_a_clear_type_error():
    with pytest.raises(TypeError, match="needs a callable"):
        measure(42)


def test_function_that_raises_on_first_call():
    def broken(x):
        return 1 / x

    with pytest.raises(BenchmarkError, match="broken raised ZeroDivisionError during the first call") as info:
        measure(broken, 0)
    assert isinstance(info.value.__cause__, ZeroDivisionError)


@pytest.mark.parametrize("kwargs", [dict(min_samples=0), dict(min_samples=10, max_samples=5), dict(max_time=0),
                                    dict(loops=0)])
def test_bad_options(kwargs):
    with pytest.raises(ValueError):
        measure(lambda: None, **kwargs)


def test_cuda_without_cuda_is_a_clear_error():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="torch.cuda.is_available"):
        measure(lambda: None, device="cuda")


def test_unknown_device():
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("tpu", ())


# ------------------------------------------------------------------ building blocks
class FakeClock:
    def __init__(self, step):
        self.t, self.step, self.calls = 0.0, step, 0

    def __call__(self):
        return self.t

    def work(self):
        self.t += self.step
        self.calls += 1


@pytest.mark.parametrize("step,target,expected", [(3e-6, 1e-3, 512), (2e-3, 1e-3, 1), (1e-6, 1e-4, 128)])
def test_calibrate_loops_smallest_power_of_two(step, target, expected):
    clk = FakeClock(step)
    assert calibrate_loops(clk.work, target, clock=clk) == expected
    assert clk.calls <= 2 * expected


def test_calibrate_loops_caps_and_validates():
    clk = FakeClock(1e-9)
    assert calibrate_loops(clk.work, 1.0, clock=clk, max_loops=64) == 64
    with pytest.raises(ValueError):
        calibrate_loops(clk.work, 0)


def test_median_iqr_matches_numpy():
    x = np.random.default_rng(1).lognormal(-7, 0.6, 333)
    p25, p50, p75 = np.percentile(x, [25, 50, 75])
    assert median_iqr(x) == pytest.approx((p50, p75 - p25), rel=1e-12)
    assert median_iqr([1.0, 2.0, 3.0, 4.0]) == (2.5, 1.5)
    with pytest.raises(ValueError):
        median_iqr([])


def test_time_call_synchronizes_before_and_after():
    order = []
    t = time_call(lambda: order.append("call"), sync=lambda: order.append("sync"))
    assert order == ["sync", "call", "sync"] and t >= 0
    assert 0.9 * 5e-3 < time_call(spin, 5e-3) < 0.1


def test_detect_warmup_on_known_transient():
    rng = np.random.default_rng(0)
    x = np.r_[np.full(30, 5.0), np.full(170, 1.0)] * rng.lognormal(0, 0.05, 200)
    assert 30 <= detect_warmup(x) <= 60, "all of the transient is cut, and not much more"
    steady = rng.lognormal(0, 0.05, 500)
    assert detect_warmup(steady) <= 50
    assert detect_warmup([1.0, 2.0]) == 0


def test_clock_resolution_and_overhead_are_small_positive():
    assert 0 < clock_resolution(reads=1000) < 1e-4
    assert 0 <= timer_overhead(reads=1000) < 1e-4


def test_last_level_cache_is_plausible():
    assert 2**18 <= last_level_cache_bytes() <= 2**31


# ------------------------------------------------------------------ pitfalls
def test_dispersion_and_drift_detectors():
    rng = np.random.default_rng(2)
    assert check_dispersion(rng.lognormal(0, 0.5, 300)).kind == "high-dispersion"
    assert check_dispersion(rng.lognormal(0, 0.01, 300)) is None
    drifting = np.linspace(1.0, 1.3, 300) * rng.lognormal(0, 0.02, 300)
    assert check_drift(drifting).kind == "drift"
    assert check_drift(rng.lognormal(0, 0.02, 300)) is None


def test_resolution_and_sync_detectors():
    assert check_resolution(1e-6, 1e-7).kind == "resolution"
    assert check_resolution(1e-3, 1e-7) is None
    assert check_sync(1e-5, 1e-3).kind == "missing-sync"
    assert check_sync(1e-3, 1e-3) is None


# ------------------------------------------------------------------ the result object
def test_measurement_statistics_and_rendering():
    x = np.random.default_rng(3).lognormal(np.log(1e-3), 0.2, 101)
    m = Measurement(x, loops=4, label="demo", resolution=5e-8, pitfalls=[Pitfall("drift", "explained")])
    assert m.n == 101 and m.median == pytest.approx(np.median(x)) and m.mean == pytest.approx(x.mean())
    assert m.stdev == pytest.approx(x.std(ddof=1)) and m.min == x.min() and m.max == x.max()
    assert m.quantile(0.99) == pytest.approx(np.percentile(x, 99))
    assert m.quantile([0.25, 0.75]) == pytest.approx(np.percentile(x, [25, 75]))
    assert m.quantile(0) == x.min() and m.quantile(1) == x.max()
    d = m.to_dict()
    assert json.loads(json.dumps(d))["samples"] == pytest.approx(list(x))
    assert d["quantile_method"].startswith("linear") and d["pitfalls"][0]["kind"] == "drift"
    r = repr(m)
    assert "demo" in r and "median" in r and "drift" in r
    html = m._repr_html_()
    assert "<table>" in html and "data:image/png;base64" in html
    with pytest.raises(ValueError):
        Measurement(np.array([]))


def test_measure_records_environment_and_first_call():
    m = measure(spin, 1e-4, min_time=0.02)
    assert m.env["python"] and m.env["cpu_count"] >= 1
    assert math.isfinite(m.first_call) and m.first_call > 0
    assert "Timer('spin'" in repr(Timer(spin, 1e-4))


def test_format_seconds():
    assert format_seconds(1.5) == "1.5 s"
    assert format_seconds(2.5e-3) == "2.5 ms"
    assert format_seconds(3e-6) == "3 us"
    assert format_seconds(4e-9) == "4 ns"


# ------------------------------------------------------------------ CUDA
@pytest.mark.gpu
def test_cuda_events_agree_with_synchronized_wall_time():
    import torch
    a = torch.randn(4096, 4096, device="cuda")
    m = measure(torch.mm, a, a, min_time=0.3)
    assert m.device.startswith("cuda") and m.event_samples is not None
    host, event = float(np.median(m.host_samples)), float(np.median(m.event_samples))
    assert abs(host - event) / event < 0.10, (host, event)
    assert "missing-sync" not in [p.kind for p in m.pitfalls]


@pytest.mark.gpu
def test_unsynchronized_cuda_measurement_is_flagged():
    import torch
    a = torch.randn(4096, 4096, device="cuda")
    m = measure(torch.mm, a, a, device="cuda", sync=False, loops=1, min_time=0.3)
    assert "missing-sync" in [p.kind for p in m.pitfalls], m
    assert float(np.median(m.host_samples)) < float(np.median(m.event_samples))


@pytest.mark.gpu
def test_cuda_cache_flush_uses_l2_size():
    import torch
    from tinybench.timing import CacheFlusher
    f = CacheFlusher("cuda")
    assert f.nbytes == 2 * torch.cuda.get_device_properties(0).L2_cache_size
    f()


def test_degenerate_samples_render_without_crashing():
    m = Measurement(np.zeros(30), resolution=1e-7)
    assert "median 0 ns" in repr(m) and "<table>" in m._repr_html_()
    assert check_drift(np.ones(50)) is None


@pytest.mark.parametrize("q", [99, 50, 1.5, -0.01, float("nan"), float("inf")])
def test_measurement_quantile_refuses_values_off_the_fraction_scale(q):
    m = Measurement(np.arange(1.0, 11.0))
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        m.quantile(q)


def test_measurement_quantile_names_the_fix_for_a_percent_value():
    with pytest.raises(ValueError, match="for p99 pass 0.99"):
        Measurement(np.arange(1.0, 11.0)).quantile(99)
    with pytest.raises(TypeError, match="must be a number"):
        Measurement(np.arange(1.0, 11.0)).quantile("0.5")


# ------------------------------------------------------------------ max_time is a hard bound
def test_max_time_bounds_a_slow_function():
    "0.3 s per call, max_time 0.5 s: the first call and calibration (one call each) use it up; no 10-sample round."
    t0 = time.perf_counter()
    m = measure(lambda: time.sleep(0.3), max_time=0.5)
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.5, f"measure took {elapsed:.2f} s with max_time=0.5 (a 0.3 s function)"
    assert m.n >= 1 and any(p.kind in ("max-time", "warm-up") for p in m.pitfalls)


def test_a_first_call_longer_than_max_time_is_the_one_sample():
    m = measure(lambda: time.sleep(0.4), max_time=0.2)
    assert m.n == 1 and m.loops == 1 and m.samples[0] >= 0.4 and m.first_call == m.samples[0]
    assert [p.kind for p in m.pitfalls] == ["max-time"] and "max_time (0.2 s)" in m.pitfalls[0].explanation
