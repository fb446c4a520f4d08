"""Every figure a result reports, recomputed independently from fixed, recorded samples.

Each test builds a result object from fixed arrays (no function is timed), recomputes each figure the result
reports with numpy/scipy directly (never tinybench's own helpers), and asserts equality: exactly or to 1e-12 for
numbers, at the printed precision for text. Units: seconds (per call, per batch, per query), samples/s, queries/s.

Definitions used throughout:
- quantile q in [0, 1] of samples x (sorted x_(0) <= ... <= x_(n-1)): linear interpolation between order statistics,
  Hyndman–Fan type 7 (numpy's default): h = (n - 1) q, Q(q) = x_(floor h) + (h - floor h) (x_(floor h + 1) - x_(floor h)).
- median = Q(0.5); IQR = Q(0.75) - Q(0.25); "pNN" is Q(NN / 100).
- A query's latency = completion time - scheduled arrival (seconds); qps = completed queries / duration;
  samples/s = completed samples / duration; duration = the last completion (seconds from the run's start).
"""
from __future__ import annotations

import functools
import json
import math
import re
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import optimize, stats

REL = 1e-12

# --------------------------------------------------------------------------------------------------------------
# recorded data and independent helpers
# --------------------------------------------------------------------------------------------------------------

# 23 per-call times (seconds) of one function, as recorded: a 1.2 ms body with two slow outliers.
MEASUREMENT_SAMPLES = [1.213e-3, 1.198e-3, 1.305e-3, 1.187e-3, 1.222e-3, 1.251e-3, 1.176e-3, 1.240e-3, 1.209e-3,
                       1.891e-3, 1.201e-3, 1.233e-3, 1.195e-3, 1.264e-3, 1.219e-3, 1.182e-3, 1.247e-3, 1.228e-3,
                       1.206e-3, 2.417e-3, 1.215e-3, 1.190e-3, 1.236e-3]

QUANTILES = (0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)


def type7(x, q: float) -> float:
    "Hyndman–Fan type 7 quantile written out from its definition (checks numpy's default against the docstring)."
    s = sorted(float(v) for v in x)
    h = (len(s) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (h - lo) * (s[hi] - s[lo])


def approx(v: float):
    return pytest.approx(v, rel=REL, abs=0.0)


_SCALE = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def check_seconds_text(text: str, true: float) -> None:
    """A duration printed as '<x> <unit>' (4 significant digits) must show `true` seconds: the unit puts x in
    [1, 1000) (seconds for anything >= 1 s), and x is `true / unit` rounded to 4 significant digits."""
    m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?) (ns|us|ms|s)\s*", text)
    assert m, f"not a duration: {text!r}"
    x, unit = float(m.group(1)), m.group(2)
    want_unit = "s" if abs(true) >= 1 else "ms" if abs(true) >= 1e-3 else "us" if abs(true) >= 1e-6 else "ns"
    assert unit == want_unit, f"{text!r} for {true!r} s: expected the unit {want_unit}"
    v = float(true) / _SCALE[unit]
    digits = 3 - math.floor(math.log10(abs(v))) if v else 3
    assert x == round(v, digits), f"{text!r} shows {x}, expected {round(v, digits)} {unit} ({true!r} s)"


def check_fixed(text: str, true: float, decimals: int, scale: float = 1.0) -> None:
    "A number printed with `decimals` decimals (thousands separators allowed) equals round(true * scale, decimals)."
    x = float(text.replace(",", ""))
    assert x == round(float(true) * scale, decimals), f"{text!r} != round({true!r} * {scale}, {decimals})"


def check_sig(text: str, true: float, sig: int = 2) -> None:
    "A number printed with `sig` significant digits ('%.2g') is `true` rounded to that many digits."
    x = float(text)
    digits = sig - 1 - math.floor(math.log10(abs(true))) if true else sig
    assert x == round(float(true), digits), f"{text!r} != {true!r} to {sig} significant digits"


def check_bytes_text(text: str, true: float) -> None:
    "A size printed as '<x> KiB/MiB/GiB' (one decimal) or '<n> B'."
    m = re.fullmatch(r"(-?\d+(?:\.\d)?) (B|KiB|MiB|GiB)", text)
    assert m, f"not a size: {text!r}"
    x, unit = float(m.group(1)), m.group(2)
    scale = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[unit]
    want = "GiB" if true >= 2**30 else "MiB" if true >= 2**20 else "KiB" if true >= 2**10 else "B"
    assert unit == want, f"{text!r} for {true} bytes: expected {want}"
    assert x == (round(true / scale, 1) if unit != "B" else int(true))


def binom_min_passing(n_over: int, p: float, confidence: float = 0.99) -> int:
    """LoadGen's early-stopping h: the smallest number of within-bound queries h such that, with n_over queries over
    the bound, P(Binomial(h + n_over, 1 - p) <= n_over) < 1 - confidence (scipy.stats.binom, by search)."""
    hi = 64
    while True:
        h = np.arange(1, hi + 1)
        passing = np.flatnonzero(stats.binom.cdf(n_over, h + n_over, 1 - p) < 1 - confidence)
        if passing.size:
            return int(h[passing[0]])
        hi *= 4


# --------------------------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------------------------

def _measurement():
    from tinybench.timing import Measurement
    return Measurement(samples=np.array(MEASUREMENT_SAMPLES), loops=4, label="mm")


def test_measurement_median_mean_stdev_min_max():
    """median = np.median; mean = np.mean; stdev = sample standard deviation (ddof = 1); min/max; n = sample count."""
    m, x = _measurement(), np.array(MEASUREMENT_SAMPLES)
    assert m.n == 23
    assert m.median == np.median(x) == type7(x, 0.5) == 1.219e-3  # the 12th of 23 sorted values
    assert m.mean == approx(np.mean(x)) and m.stdev == approx(np.std(x, ddof=1))
    assert m.stdev == approx(math.sqrt(sum((v - np.mean(x)) ** 2 for v in x) / 22))
    assert m.min == 1.176e-3 and m.max == 2.417e-3


def test_measurement_quantiles_are_type7_fractions():
    """quantile(q), q a fraction in [0, 1]: type 7 linear interpolation (np.quantile default, np.percentile(100 q));
    a list of fractions gives an array; 99 (a percent) is refused, so a wrong unit cannot pass silently."""
    m, x = _measurement(), np.array(MEASUREMENT_SAMPLES)
    for q in QUANTILES:
        assert m.quantile(q) == approx(np.percentile(x, 100 * q)) and m.quantile(q) == approx(type7(x, q)), q
    assert m.quantile(0.99) == approx(np.percentile(x, 99)) and m.quantile(0.99) > np.percentile(x, 95)
    assert np.allclose(m.quantile([0.25, 0.9]), [type7(x, 0.25), type7(x, 0.9)], rtol=REL, atol=0)
    with pytest.raises(ValueError, match="fractions"):
        m.quantile(99)


def test_measurement_iqr_is_p75_minus_p25():
    "IQR = Q(0.75) - Q(0.25), seconds (type 7)."
    m, x = _measurement(), np.array(MEASUREMENT_SAMPLES)
    q25, q75 = np.percentile(x, [25, 75])
    assert m.iqr == approx(q75 - q25) and m.iqr == approx(type7(x, 0.75) - type7(x, 0.25))
    # 23 samples: h = 5.5 and 16.5
    s = np.sort(x)
    assert m.iqr == approx((s[16] + s[17]) / 2 - (s[5] + s[6]) / 2)


def test_measurement_to_dict_keys_and_every_number():
    """to_dict: the exact key set; every number recomputed (seconds per call); pNN = Q(NN/100); samples round-trip."""
    m, x = _measurement(), np.array(MEASUREMENT_SAMPLES)
    d = json.loads(json.dumps(m.to_dict()))
    assert set(d) == {"label", "device", "n", "loops", "median", "mean", "stdev", "iqr", "min", "max", "p5", "p25",
                      "p75", "p90", "p95", "p99", "quantile_method", "unit", "warmup_calls", "first_call",
                      "resolution", "cache", "interrupted", "pitfalls", "env", "samples"}
    assert d["unit"] == "seconds per call" and d["quantile_method"] == "linear (Hyndman-Fan type 7)"
    assert d["n"] == 23 and d["loops"] == 4 and d["samples"] == MEASUREMENT_SAMPLES
    assert d["median"] == np.median(x) and d["mean"] == approx(x.mean()) and d["stdev"] == approx(x.std(ddof=1))
    assert d["min"] == x.min() and d["max"] == x.max()
    assert d["iqr"] == approx(np.subtract(*np.percentile(x, [75, 25])))
    for key in ("p5", "p25", "p75", "p90", "p95", "p99"):
        assert d[key] == approx(np.percentile(x, int(key[1:]))), key
    assert "samples" not in m.to_dict(samples=False)


def test_measurement_repr_and_html_print_the_same_numbers():
    """repr: 'median <s>, IQR <s> (<IQR/median as %.1f%%> of median), n=23 x 4 loops'; the HTML table: median, IQR,
    mean, stdev, min, p90, p99, max, each at 4 significant digits with its unit."""
    m, x = _measurement(), np.array(MEASUREMENT_SAMPLES)
    med, iqr = np.median(x), np.subtract(*np.percentile(x, [75, 25]))
    r = re.search(r"median (.+?), IQR (.+?) \(([\d.]+)% of median\), n=(\d+) x (\d+) loops", repr(m))
    assert r, repr(m)
    check_seconds_text(r.group(1), med)
    check_seconds_text(r.group(2), iqr)
    check_fixed(r.group(3), iqr / med, 1, 100)
    assert (int(r.group(4)), int(r.group(5))) == (23, 4)
    cells = dict(re.findall(r"<tr><td>(\w+)</td><td[^>]*>([^<]+)</td></tr>", m._repr_html_()))
    want = {"median": med, "IQR": iqr, "mean": x.mean(), "stdev": x.std(ddof=1), "min": x.min(),
            "p90": np.percentile(x, 90), "p99": np.percentile(x, 99), "max": x.max()}
    assert set(cells) == set(want)
    for k, v in want.items():
        check_seconds_text(cells[k], v)


# --------------------------------------------------------------------------------------------------------------
# ScenarioResult
# --------------------------------------------------------------------------------------------------------------

def _service_times(n: int, seed: int, median: float, sigma: float) -> np.ndarray:
    "Recorded service times (seconds), rounded to 0.1 µs: a fixed, seeded lognormal sample."
    return np.round(median * np.random.default_rng(seed).lognormal(0, sigma, n), 7)


def _single_stream(n: int = 200, scale: float = 1.0):
    """SingleStream as the closed loop records it: each query is issued when the previous completes (plus 20 µs),
    scheduled = issued = started, 1 sample per query; every 9th answer is wrong."""
    from tinybench.scenarios import ScenarioResult, TestSettings
    service = _service_times(n, 1, 1.5e-3 * scale, 0.15)
    sched = np.empty(n)
    done = np.empty(n)
    t = 0.0
    for i in range(n):
        sched[i] = t
        done[i] = t + service[i]
        t = done[i] + 2e-5
    correct = np.array([i % 9 != 0 for i in range(n)])
    s = TestSettings("SingleStream", min_duration=0.2)
    return ScenarioResult(s, [[i % 50] for i in range(n)], sched, sched.copy(), sched.copy(), done, [None] * n,
                          correct, duration=float(done.max()))


def _server(error_at: int | None = None, target_latency: float = 0.01, qps: float = 400.0, n: int = 700,
            scale: float = 1.0):
    """Server as recorded: Poisson arrivals (seeded), one FIFO worker, issued 30 µs after the schedule; latency runs
    from the scheduled arrival. `error_at`: that query raised in the SUT."""
    from tinybench.scenarios import ScenarioResult, TestSettings
    arrivals = np.round(np.cumsum(np.random.default_rng(7).exponential(1 / qps, n)), 7)
    service = _service_times(n, 2, 1.0e-3 * scale, 0.3)
    issued = arrivals + 3e-5
    started, done = np.empty(n), np.empty(n)
    free = 0.0
    for i in range(n):
        started[i] = max(issued[i], free)
        done[i] = free = started[i] + service[i]
    errors = [None] * n
    if error_at is not None:
        errors[error_at] = "RuntimeError: boom"
    s = TestSettings("Server", min_duration=1.0, target_qps=qps, target_latency=target_latency)
    return ScenarioResult(s, [[i % 50] for i in range(n)], arrivals, issued, started, done, errors,
                          duration=float(done.max()))


def _offline(n: int = 512, batch: int = 32, scale: float = 1.0):
    "Offline as recorded: every query (1 sample) issued at 0, served in batches of 32 that complete together."
    from tinybench.scenarios import ScenarioResult, TestSettings
    per_batch = _service_times(n // batch, 3, 8e-3 * scale, 0.1)
    done = np.repeat(np.cumsum(per_batch), batch)
    started = np.repeat(np.r_[0.0, np.cumsum(per_batch)[:-1]], batch)
    s = TestSettings("Offline", min_duration=0.1, offline_batch_size=batch)
    return ScenarioResult(s, [[i] for i in range(n)], np.zeros(n), np.zeros(n), started, done, [None] * n,
                          np.ones(n, bool), duration=float(done.max()))


def _multi_stream(n: int = 700):
    "MultiStream: 8 samples per query, closed loop."
    from tinybench.scenarios import ScenarioResult, TestSettings
    service = _service_times(n, 4, 4e-3, 0.1)
    done = np.cumsum(service)
    sched = np.r_[0.0, done[:-1]]
    s = TestSettings("MultiStream", min_duration=0.5, samples_per_query=8)
    return ScenarioResult(s, [list(range(8 * i, 8 * i + 8)) for i in range(n)], sched, sched.copy(), sched.copy(),
                          done, [None] * n, duration=float(done.max()))


def _with_reasons(r):
    "Judge validity as tinybench.scenarios._result does after a run."
    from tinybench.scenarios import validity_reasons
    r.reasons = validity_reasons(r)
    return r


def _recomputed(r, completed, scheduled, errors, sample_index, duration):
    "Figures of a run recomputed from its records with numpy: (latencies, n_queries, n_samples, qps, samples/s)."
    ok = np.isfinite(completed) & np.array([e is None for e in errors])
    lat = (np.asarray(completed) - np.asarray(scheduled))[ok]
    n_samples = sum(len(ix) for ix, good in zip(sample_index, ok) if good)
    return lat, int(ok.sum()), n_samples, ok.sum() / duration, n_samples / duration


@pytest.mark.parametrize("make", [_single_stream, _server, _offline, _multi_stream],
                         ids=["SingleStream", "Server", "Offline", "MultiStream"])
def test_scenario_latency_quantiles_qps_and_samples_per_second(make):
    """latencies = completed - scheduled over the queries without error; quantile(q) = type 7 over them (seconds);
    qps = queries completed / duration; samples/s = samples of those queries / duration; duration = last completion."""
    r = make()
    lat, n_q, n_s, qps, sps = _recomputed(r, r.completed, r.scheduled, r.errors, r.sample_index, r.duration)
    assert r.duration == np.nanmax(r.completed)
    assert np.array_equal(r.latencies, lat) and (lat > 0).all()
    for q in QUANTILES:
        assert r.quantile(q) == approx(np.quantile(lat, q)) and r.quantile(q) == approx(type7(lat, q)), q
    assert r.n_queries == n_q and r.n_samples == n_s and r.n_errors == 0
    assert r.qps == approx(qps) and r.samples_per_second == approx(sps)
    with pytest.raises(ValueError, match="fractions"):
        r.quantile(99)


def test_scenario_errors_are_excluded_from_latency_and_throughput():
    """A query that raised counts in n_errors and in neither the latencies, n_queries, n_samples, qps nor samples/s."""
    r = _server(error_at=5)
    lat, n_q, n_s, qps, sps = _recomputed(r, r.completed, r.scheduled, r.errors, r.sample_index, r.duration)
    assert r.n_errors == 1 and n_q == 699 and r.n_queries == n_q and r.n_samples == n_s
    assert np.array_equal(r.latencies, np.delete(r.completed - r.scheduled, 5))
    assert r.quantile(0.99) == approx(np.percentile(lat, 99)) and r.qps == approx(qps)
    assert r.samples_per_second == approx(sps)


def test_scenario_headline_metric_per_scenario():
    """Offline: samples/s; Server: completed queries/s; SingleStream: p90 latency; MultiStream: p99 latency (s)."""
    ss, sv, off, ms = _single_stream(), _server(), _offline(), _multi_stream()
    assert ss.metric == ("p90 latency", approx(np.percentile(ss.latencies, 90)))
    assert ms.metric == ("p99 latency", approx(np.percentile(ms.latencies, 99)))
    assert sv.metric == ("completed queries per second", approx(sv.n_queries / sv.duration))
    assert off.metric == ("samples per second", approx(512 / off.duration))
    assert off.samples_per_second == approx(512 / np.cumsum(_service_times(16, 3, 8e-3, 0.1))[-1])


def test_scenario_accuracy_and_issue_lateness():
    "accuracy = mean of the per-sample correctness; issue lateness = issued - scheduled (seconds)."
    ss, sv = _single_stream(), _server()
    assert ss.accuracy == approx(np.mean([i % 9 != 0 for i in range(200)]))
    assert np.allclose(sv.issue_lateness, 3e-5, rtol=1e-6) and _server().accuracy is None


def test_scenario_min_query_count_is_loadgen_early_stopping():
    """Default min_query_count: SingleStream/MultiStream need h(1) + 1 queries, Server h(0), Offline 1, where h(t)
    is the smallest h with P(Binomial(h + t, 1 - p) <= t) < 1 - 0.99 (scipy.stats.binom), p the latency quantile."""
    from tinybench.scenarios import TestSettings
    assert TestSettings("SingleStream").min_query_count == binom_min_passing(1, 0.90) + 1
    assert TestSettings("MultiStream").min_query_count == binom_min_passing(1, 0.99) + 1
    assert TestSettings("Server").min_query_count == binom_min_passing(0, 0.99) == 459  # 0.99**459 < 0.01 <= 0.99**458
    assert TestSettings("Offline").min_query_count == 1
    assert TestSettings("SingleStream").latency_quantile == 0.9 and TestSettings("Server").latency_quantile == 0.99


def _expected_failures(r) -> list[str]:
    """Validity recomputed from the records (LoadGen's rules as module 02 states them): the list of failed checks."""
    s, lat = r.settings, r.latencies
    n = lat.size
    fails = []
    if r.interrupted:
        fails.append("interrupted")
    if any(e is not None for e in r.errors):
        fails.append("errors")
    if r.timed_out:
        fails.append("timed out")
    span = r.scheduled.max() if s.scenario == "Server" else r.duration
    if span < s.min_duration:
        fails.append("min_duration")
    if s.scenario != "Offline" and n < s.min_query_count:
        fails.append("min_query_count")
    if s.scenario != "Offline" and n:
        over = int((lat > s.target_latency).sum()) if s.scenario == "Server" else 1
        if n < binom_min_passing(over, s.latency_quantile) + over:
            fails.append("early stopping")
    if s.scenario == "Server" and n:
        if np.percentile(lat, 100 * s.latency_quantile) > s.target_latency:
            fails.append("latency bound")
        k = max(1, n // 10)
        if np.median(lat[-k:]) > 10 * np.median(lat[:k]) and np.median(lat[-k:]) > s.target_latency:
            fails.append("overloaded")
        if np.percentile(r.issued - r.scheduled, 99) > 0.1 * s.target_latency:
            fails.append("issue lateness")
    return fails


@pytest.mark.parametrize("make, expected", [
    (_single_stream, []),
    (lambda: _single_stream(40), ["min_duration", "min_query_count", "early stopping"]),
    (_server, []),
    (lambda: _server(error_at=3), ["errors"]),
    (lambda: _server(target_latency=1.5e-3), ["early stopping", "latency bound"]),
    (lambda: _server(qps=1500.0), ["min_duration", "early stopping", "latency bound", "overloaded"]),
    (_offline, []),
    (lambda: _offline(64), ["min_duration"]),
    (_multi_stream, []),
], ids=["ss", "ss-short", "server", "server-error", "server-tight", "server-overload", "offline", "offline-short",
        "ms"])
def test_scenario_validity_follows_the_rules(make, expected):
    """VALID iff no reason: no interruption, error or timeout; duration (Server: the last scheduled arrival) >=
    min_duration; queries >= min_query_count; LoadGen early stopping met; Server only: p99 <= target_latency, no
    unbounded backlog (median of the last 10% of latencies > 10x the first 10% and > target), p99 issue lateness <=
    10% of target_latency. One reason per failed check."""
    r = _with_reasons(make())
    fails = _expected_failures(r)
    assert fails == expected, (fails, r.reasons)
    assert r.valid == (not fails) and len(r.reasons) == len(fails), r.reasons


def test_scenario_to_dict_keys_and_numbers():
    """to_dict: the exact key set; latency keys p50/p90/p95/p99 are type-7 quantiles in seconds; qps and samples/s
    as recomputed; the per-query records round-trip."""
    r = _with_reasons(_single_stream())
    d = json.loads(json.dumps(r.to_dict()))
    assert set(d) == {"scenario", "settings", "valid", "reasons", "metric", "value", "n_queries", "n_samples",
                      "n_errors", "duration", "qps", "samples_per_second", "latency", "accuracy", "interrupted", "env",
                      "stopped_early", "issuer_cpu", "queries"}
    assert d["stopped_early"] is None and d["issuer_cpu"] is None  # a SingleStream run has no issuer thread
    lat = r.completed - r.scheduled
    assert set(d["latency"]) == {"p50", "p90", "p95", "p99"}
    for k, v in d["latency"].items():
        assert v == approx(np.percentile(lat, int(k[1:]))), k
    assert d["metric"] == "p90 latency" and d["value"] == approx(np.percentile(lat, 90))
    assert d["qps"] == approx(200 / r.completed.max()) and d["samples_per_second"] == approx(200 / r.completed.max())
    assert d["duration"] == r.completed.max() and d["n_queries"] == d["n_samples"] == 200 and d["valid"] is True
    assert d["accuracy"] == approx(np.mean([i % 9 != 0 for i in range(200)]))
    assert d["settings"]["latency_quantile"] == 0.9
    assert np.array_equal(np.array(d["queries"]["completed"]) - np.array(d["queries"]["scheduled"]), lat)


def _summary_fields(text: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, v in (ln.split(" : ", 1) for ln in text.splitlines() if " : " in ln)}


def test_scenario_summary_prints_the_recomputed_figures():
    """summary(): the headline metric, queries, samples, duration (%.3f s), QPS and samples/s (%,.2f), min/max/mean
    latency and the 50/90/95/99% quantiles (4 significant digits), p99 issue lateness (Server), LoadGen's early
    stopping estimate (SingleStream: the t-th largest latency, t the largest with h(t) + t <= n), accuracy (%.4f)."""
    r = _with_reasons(_single_stream())
    f = _summary_fields(r.summary())
    lat = r.completed - r.scheduled
    check_seconds_text(f["p90 latency"], np.percentile(lat, 90))
    assert f["Result is"] == "VALID" and f["Queries completed"] == "200 (0 failed)" and f["Samples completed"] == "200"
    check_fixed(f["Duration"].removesuffix(" s"), r.completed.max(), 3)
    check_fixed(f["QPS"], 200 / r.completed.max(), 2)
    check_fixed(f["Samples per second"], 200 / r.completed.max(), 2)
    check_seconds_text(f["Min latency"], lat.min())
    check_seconds_text(f["Max latency"], lat.max())
    check_seconds_text(f["Mean latency"], lat.mean())
    for q in (50, 90, 95, 99):
        check_seconds_text(f[f"{q} quantile latency"], np.percentile(lat, q))
    t = max(t for t in range(1, 201) if binom_min_passing(t, 0.9) + t <= 200)
    m = re.fullmatch(r"(.+) \(discarding the (\d+) highest latencies\)", f["Early stopping p90 estimate"])
    check_seconds_text(m.group(1), np.sort(lat)[200 - t])
    assert int(m.group(2)) == t - 1
    check_fixed(f["Accuracy"], np.mean([i % 9 != 0 for i in range(200)]), 4)

    sv = _with_reasons(_server())
    f = _summary_fields(sv.summary())
    check_fixed(f["completed queries per second"], sv.n_queries / sv.duration, 2)
    p50_text, p99_text = re.fullmatch(r"(.+) / (.+) \((\w+) issuer\)", f["Issue lateness p50 / p99"]).group(1, 2)
    check_seconds_text(p50_text, np.percentile(sv.issued - sv.scheduled, 50))
    check_seconds_text(p99_text, np.percentile(sv.issued - sv.scheduled, 99))
    off = _with_reasons(_offline())
    check_fixed(_summary_fields(off.summary())["samples per second"], 512 / off.duration, 2)


def test_scenario_result_frozen_from_recorded_timestamps():
    """`_result` (what `run` returns) from a recorder: queries never issued are dropped, duration = the last
    completion, correctness is kept per sample; the figures equal the recomputation."""
    from tinybench.runner import Recorder
    from tinybench.scenarios import TestSettings, _result
    s = TestSettings("Offline", min_duration=0.005)
    rec = Recorder([0, 1, 2, 3])
    done = [0.004, 0.004, 0.009, math.nan]
    for i, c in enumerate(done):
        rec.add([i], 0.0)
        if i < 3:
            rec.issued[i], rec.started[i], rec.completed[i] = 0.0, (0.0 if i < 2 else 0.004), c
    rec.correct = [True, False, True]
    r = _result(rec, s, False, True)
    assert r.n_queries == 3 and r.duration == 0.009 and r.samples_per_second == approx(3 / 0.009)
    assert r.accuracy == approx(2 / 3) and r.valid, r.reasons


# --------------------------------------------------------------------------------------------------------------
# BatchSweep
# --------------------------------------------------------------------------------------------------------------

# recorded seconds per batch at each batch size (made up as a recording would be: noisy, with a slow tail)
SWEEP_SAMPLES = {
    1: [2.01e-4, 1.98e-4, 2.05e-4, 2.10e-4, 1.99e-4, 2.40e-4, 2.02e-4, 2.00e-4, 1.97e-4, 2.03e-4, 2.07e-4],
    8: [6.12e-4, 6.05e-4, 6.33e-4, 6.08e-4, 6.21e-4, 7.90e-4, 6.10e-4, 6.15e-4],
    32: [1.912e-3, 1.887e-3, 1.935e-3, 2.410e-3, 1.901e-3, 1.899e-3, 1.921e-3],
    128: [8.31e-3, 8.12e-3, 8.25e-3, 9.77e-3, 8.19e-3, 8.40e-3],
}


@pytest.fixture
def recorded_measure(monkeypatch):
    """`measure` replaced by the recorded samples of the batch size asked for: batch_sweep runs its own code on
    fixed data, no function is timed."""
    import tinybench.profiling as prof
    from tinybench.timing import Measurement

    def fake(model, batch, **kw):
        return Measurement(samples=np.array(SWEEP_SAMPLES[len(batch)]))
    monkeypatch.setattr(prof, "measure", fake)
    return fake


def _sweep(oom_at: int | None = None):
    import torch

    from tinybench.profiling import batch_sweep

    def make_batch(b):
        if b == oom_at:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return torch.zeros(b, 4)
    sizes = sorted(SWEEP_SAMPLES) + ([oom_at] if oom_at and oom_at not in SWEEP_SAMPLES else [])
    return batch_sweep(lambda x: x, make_batch, sizes, device="cpu")


def test_batch_sweep_rows_keep_samples_and_recompute(recorded_measure):
    """Per row: the raw samples (seconds per batch) kept; median, p50, p90, p99 = type-7 quantiles of them (seconds
    per batch); n_samples = their count; samples_per_s = batch / median (samples per second). Exact row keys."""
    sw = _sweep()
    assert [r["batch"] for r in sw.rows] == [1, 8, 32, 128]
    for row in sw.rows:
        x = np.array(SWEEP_SAMPLES[row["batch"]])
        assert set(row) - {"rss_peak_bytes"} == {"batch", "median", "p50", "p90", "p99", "n_samples", "samples",
                                                 "samples_per_s"}
        assert row.get("rss_peak_bytes", 1) > 0, "measured (VmHWM), where the system can reset the mark"
        assert row["samples"] == SWEEP_SAMPLES[row["batch"]] and row["n_samples"] == x.size
        assert row["median"] == np.median(x) and row["p50"] == approx(type7(x, 0.5))
        assert row["p90"] == approx(np.percentile(x, 90)) and row["p99"] == approx(np.percentile(x, 99))
        assert row["p90"] == approx(type7(x, 0.9)) and row["p99"] == approx(type7(x, 0.99))
        assert row["samples_per_s"] == approx(row["batch"] / np.median(x))


def test_batch_sweep_best_to_dict_and_display(recorded_measure):
    """best = the row with the most samples/s (batch / median); to_dict keeps the rows; repr and HTML print the
    same numbers (samples/s rounded to a whole number, latencies at 4 significant digits)."""
    sw = _sweep()
    rates = {b: b / np.median(x) for b, x in SWEEP_SAMPLES.items()}
    best = max(rates, key=rates.get)
    assert sw.best["batch"] == best and sw.best["samples_per_s"] == approx(rates[best])
    d = json.loads(json.dumps(sw.to_dict()))
    assert set(d) == {"device", "rows", "oom_batch", "oom_error", "interrupted", "env"} and d["rows"] == sw.rows
    m = re.search(r"best ([\d,]+) samples/s at batch (\d+)", repr(sw))
    check_fixed(m.group(1), rates[best], 0)
    assert int(m.group(2)) == best
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>",
                      sw._repr_html_())
    assert [int(r[0]) for r in rows] == sorted(SWEEP_SAMPLES)
    for b, p50, p90, p99, sps in rows:
        x = np.array(SWEEP_SAMPLES[int(b)])
        check_seconds_text(p50, np.median(x))
        check_seconds_text(p90, np.percentile(x, 90))
        check_seconds_text(p99, np.percentile(x, 99))
        check_fixed(sps, int(b) / np.median(x), 0)


def test_batch_sweep_stops_at_out_of_memory(recorded_measure):
    "The rows before the batch size that ran out of memory, and that batch size recorded."
    sw = _sweep(oom_at=256)
    assert [r["batch"] for r in sw.rows] == [1, 8, 32, 128] and sw.oom_batch == 256
    assert "out of memory" in repr(sw)


# --------------------------------------------------------------------------------------------------------------
# The suite: a BenchmarkSuite run on recorded data (timing, sweep and scenarios replaced by recordings)
# --------------------------------------------------------------------------------------------------------------

# recorded per-round medians (seconds per batch of 32) of four models timed round-robin in 10 rounds
ROUNDS = {
    "fp32": [2.103e-3, 2.087e-3, 2.151e-3, 2.096e-3, 2.120e-3, 2.078e-3, 2.134e-3, 2.109e-3, 2.092e-3, 2.117e-3],
    "int8": [1.301e-3, 1.297e-3, 1.342e-3, 1.288e-3, 1.316e-3, 1.290e-3, 1.327e-3, 1.305e-3, 1.299e-3, 1.311e-3],
    "pruned": [2.108e-3, 2.085e-3, 2.160e-3, 2.101e-3, 2.122e-3, 2.083e-3, 2.139e-3, 2.113e-3, 2.094e-3, 2.121e-3],
    "slow": [3.050e-3, 3.021e-3, 3.130e-3, 3.040e-3, 3.071e-3, 3.012e-3, 3.090e-3, 3.066e-3, 3.031e-3, 3.070e-3],
    "edge": [2.313e-3, 2.045e-3, 2.323e-3, 2.075e-3, 2.353e-3, 2.016e-3, 2.326e-3, 2.109e-3, 2.238e-3, 2.075e-3],
}
# within a round, each model's 15 samples are its round median times these factors (median exactly 1)
JITTER = [0.991, 1.004, 0.997, 1.012, 0.988, 1.0, 1.021, 0.995, 1.007, 0.993, 1.046, 1.002, 0.999, 1.015, 0.985]
SCALE = {"fp32": 1.0, "int8": 0.6, "pruned": 1.0, "slow": 1.45, "edge": 1.05}  # sweep and scenario recordings
N_DATA, N_CLASSES = 120, 3
Y = np.arange(N_DATA) % N_CLASSES


def _predictions() -> dict[str, np.ndarray]:
    "Recorded predictions: fp32 wrong on every 10th sample; the others differ from fp32 on known samples."
    i = np.arange(N_DATA)
    fp32 = np.where(i % 10 == 0, (Y + 1) % N_CLASSES, Y)
    int8 = np.where(i % 17 == 5, (Y + 2) % N_CLASSES, fp32)        # 7 more errors
    pruned = np.where(np.isin(i, [10, 20]), Y, fp32)                 # 2 fp32 errors fixed
    slow = fp32.copy()
    edge = np.where(np.isin(i, [3, 30, 40]), (Y + 1) % N_CLASSES, fp32)
    return {"fp32": fp32, "int8": int8, "pruned": pruned, "slow": slow, "edge": edge}


def _logits() -> dict[str, np.ndarray]:
    "Recorded outputs: 2 on the predicted class plus a fixed noise below 0.3 (so argmax = the prediction)."
    rng = np.random.default_rng(11)
    return {n: np.eye(N_CLASSES)[p] * 2 + np.round(rng.uniform(-0.3, 0.3, (N_DATA, N_CLASSES)), 3)
            for n, p in _predictions().items()}


STATS = {n: {"n_params": 12_345 + k, "param_bytes": 4 * (12_345 + k), "serialized_bytes": 51_234 + k,
             "flops": 45_678_912 - 1000 * k} for k, n in enumerate(ROUNDS)}
MEMORY = {n: {"batch": 128, "rss_increase": 3_456_789 * (k + 1), "largest_layer_bytes": 1_234_567 + k,
              "cuda_increase": None} for k, n in enumerate(ROUNDS)}


class RecordedModel:
    "Returns the recorded outputs of the samples it is given (X holds each sample's index)."

    def __init__(self, name: str, logits: np.ndarray):
        self.name, self.logits, self.description = name, logits, f"recorded {name}"

    def __call__(self, x):
        import torch
        return torch.tensor(self.logits[x[:, 0].long().numpy()], dtype=torch.float32)


def _round_samples(name: str, r: int) -> np.ndarray:
    return ROUNDS[name][r] * np.array(JITTER)


def _install_recordings(monkeypatch):
    """Replace every timer by its recording: `timing.measure` returns the model's next round, `profiling.measure`
    the sweep samples (x the model's scale), `scenarios.run` the recorded scenario run (x the model's scale)."""
    import tinybench.profiling as prof
    import tinybench.scenarios as scen
    import tinybench.timing as timing
    from tinybench.timing import Measurement
    calls: dict[str, int] = {}

    def fake_timing(fn, label=None, **kw):
        r = calls[label] = calls.get(label, -1) + 1
        return Measurement(samples=_round_samples(label, r), label=label)

    def fake_sweep(model, batch, **kw):
        return Measurement(samples=np.array(SWEEP_SAMPLES[len(batch)]) * SCALE[model.name])

    def fake_run(sut, data, settings=None, **kw):
        make = {"SingleStream": _single_stream, "Server": _server, "Offline": _offline}[settings.scenario]
        return _with_reasons(make(scale=SCALE[sut.model.name]))
    monkeypatch.setattr(timing, "measure", fake_timing)
    monkeypatch.setattr(prof, "measure", fake_sweep)
    monkeypatch.setattr(scen, "run", fake_run)
    return calls


@pytest.fixture
def recordings(monkeypatch):
    return _install_recordings(monkeypatch)


@pytest.fixture(scope="module")
def suites(tmp_path_factory):
    """Both suite runs (paired t / confidence sequence) on the recordings, once per module, with their
    results.json and report.md written by Report.save: {sequential: (result, results.json dict, report.md text)}."""
    from tinybench.report import Report
    out = {}
    for sequential in (False, True):
        with pytest.MonkeyPatch.context() as mp:
            _install_recordings(mp)  # each run starts from round 0
            result = _run_suite(sequential)
            paths = Report(result).save(tmp_path_factory.mktemp(f"report-{sequential}"), formats=("markdown",))
            out[sequential] = (result, json.loads(paths["json"].read_text()), paths["markdown"].read_text())
    return out


def _run_suite(sequential: bool, margin: float | None = 0.05):
    import torch

    from tinybench.profiles import MemoryProfile, ModelStats
    from tinybench.suite import BenchmarkSuite, MemorySummary, SuiteSettings
    settings = SuiteSettings(batch_size=32, min_time=1.0, rounds=10, max_rounds=10, sequential=sequential,
                             margin=margin, scenarios=("SingleStream", "Server", "Offline"), batch_sizes=(1, 8, 32, 128),
                             memory=False, level=0.95)
    logits = _logits()
    models = {n: RecordedModel(n, logits[n]) for n in ROUNDS}
    X = torch.arange(N_DATA, dtype=torch.float32).unsqueeze(1)
    result = BenchmarkSuite(models, (X, Y), settings).run()
    result.environment = {"cpu_model": "recorded CPU", "cpu_count": 2, "torch": "2.13.0", "torch_threads": 2}
    result.started, result.duration = "20250101T000000Z", 12.0
    for n, m in result.models.items():  # counted/measured elsewhere: recorded values, checked only as printed
        mem = MEMORY[n]
        m.stats = ModelStats(n_trainable=STATS[n]["n_params"], buffer_bytes=0, flops_by_module={}, input_shapes=[[32, 1]],
                             **STATS[n])
        m.memory = MemorySummary(mem["batch"], MemoryProfile(0, 0, mem["rss_increase"], "recorded", None, None),
                                 mem["largest_layer_bytes"])
    return result


# ---- independent recomputation -------------------------------------------------------------------------------

def holm_adjusted(p: list[float]) -> np.ndarray:
    "Holm's step-down adjusted p-values (statsmodels' implementation)."
    from statsmodels.stats.multitest import multipletests
    return multipletests(p, method="holm")[1]


def lai_log_lambda(x: np.ndarray, mu0: float, rho: float = 1.0) -> float:
    "log Λ_t(μ₀) = ½ log(ρ/(t+ρ)) − (t/2) log(1 − S²/((t+ρ)Q)), S = Σ(x−μ₀), Q = Σ(x−μ₀)² (module 04's formula)."
    t = x.size
    d = x - mu0
    S, Q = d.sum(), (d * d).sum()
    return 0.5 * math.log(rho / (t + rho)) - t / 2 * math.log(1 - S * S / ((t + rho) * Q))


def lai_interval(x: np.ndarray, alpha: float, rho: float = 1.0) -> tuple[float, float]:
    "{μ₀: Λ_t(μ₀) < 1/α} in closed form: x̄ ± √(K V/(t(t−K))), K = (t+ρ)(1 − c^(−2/t)), c = √((t+ρ)/ρ)/α."
    t = x.size
    V = float(((x - x.mean()) ** 2).sum())
    c = math.sqrt((t + rho) / rho) / alpha
    K = (t + rho) * (1 - c ** (-2 / t))
    if t <= K:
        return -math.inf, math.inf
    half = math.sqrt(K * V / (t * (t - K)))
    return x.mean() - half, x.mean() + half


def lai_p_value(x: np.ndarray, rho: float = 1.0) -> float:
    "Always-valid p-value of 'ratio 1' (μ₀ = 0): min(1, 1 / max over s <= t of Λ_s(0))."
    best = max(lai_log_lambda(x[:s], 0.0, rho) for s in range(1, x.size + 1))
    return min(1.0, math.exp(-best))


def lai_more_rounds(x: np.ndarray, margin: float | None, alpha: float, rho: float = 1.0,
                    limit: int = 100_000) -> int | None:
    """Rounds to add until the sequence would be decisive if the mean and SD stayed as now (V = SD² (t − 1)):
    brute force over every t up to `limit`."""
    n, mean, sd = x.size, x.mean(), x.std(ddof=1)
    t = np.arange(n, limit + 1, dtype=float)
    c = np.sqrt((t + rho) / rho) / alpha
    K = (t + rho) * (1 - c ** (-2 / t))
    with np.errstate(invalid="ignore", divide="ignore"):
        half = np.where(t > K, np.sqrt(K * sd * sd * (t - 1) / (t * (t - K))), np.inf)
    edge = math.log1p(margin) if margin is not None else 0.0
    lo, hi = mean - half, mean + half
    ok = (lo > edge) | (hi < -edge) | ((margin is not None) & (lo > -edge) & (hi < edge))
    first = np.flatnonzero(ok)
    return int(t[first[0]] - n) if first.size else None


def moses_ratio(a: np.ndarray, b: np.ndarray, level: float) -> tuple[float, float, float]:
    """Hodges–Lehmann time ratio b/a = exp(median of all log b_j − log a_i) and its Moses interval (normal
    approximation: c = floor(nm/2 − z √(nm(n+m+1)/12)) differences cut from each end); n·m > 10 000 here."""
    d = np.sort(np.subtract.outer(np.log(b), np.log(a)).ravel())
    n, m = a.size, b.size
    assert n * m > 10_000
    c = int(math.floor(n * m / 2 - stats.norm.ppf(1 - (1 - level) / 2) * math.sqrt(n * m * (n + m + 1) / 12)))
    return math.exp(np.median(d)), math.exp(d[c - 1]), math.exp(d[d.size - c])


@functools.lru_cache(maxsize=None)
def expected_suite(sequential: bool, margin: float | None = 0.05, level: float = 0.95) -> dict:
    "Every figure of the suite recomputed from ROUNDS, JITTER, the predictions and outputs (numpy/scipy/statsmodels)."
    from statsmodels.stats.contingency_tables import mcnemar
    alpha = 1 - level
    pooled = {n: np.concatenate([_round_samples(n, r) for r in range(10)]) for n in ROUNDS}
    preds, logits = _predictions(), _logits()
    correct = {n: p == Y for n, p in preds.items()}
    timing = {}
    for n, x in pooled.items():
        med = float(np.median(x))
        timing[n] = {"batch": 32, "unit": "seconds per batch", "n": 150, "samples": x, "median": med,
                     "mean": x.mean(), "p90": np.percentile(x, 90), "p95": np.percentile(x, 95), "p99": np.percentile(x, 99),
                     "iqr": np.percentile(x, 75) - np.percentile(x, 25), "throughput": 32 / med, "rounds": 10,
                     "round_medians": [float(np.median(_round_samples(n, r))) for r in range(10)]}
    cands = [n for n in ROUNDS if n != "fp32"]
    comps = {}
    each = 1 - alpha / len(cands)
    for n in cands:
        x = np.log(np.array(ROUNDS[n]) / np.array(ROUNDS["fp32"]))
        c = {"ratio": math.exp(x.mean()), "rounds": 10 if sequential else None}
        if sequential:
            lo, hi = lai_interval(x, 1 - each)
            c["ratio_ci"] = (math.exp(lo), math.exp(hi))
            c["p_value"] = lai_p_value(x)
            up, down = 1 + margin, 1 / (1 + margin)
            lo_r, hi_r = c["ratio_ci"]
            c["verdict"] = ("slower" if lo_r > up else "faster" if hi_r < down else
                            "equivalent" if down < lo_r and hi_r < up else "undecided")
            c["decided"] = c["verdict"] != "undecided"
            c["more_rounds"] = None if c["decided"] else lai_more_rounds(x, margin, 1 - each)
        else:
            se = x.std(ddof=1) / math.sqrt(x.size)
            half = stats.t.ppf(1 - alpha / 2, x.size - 1) * se
            c["ratio_ci"] = (math.exp(x.mean() - half), math.exp(x.mean() + half))
            c["p_value"] = 2 * stats.t.sf(abs(x.mean() / se), x.size - 1)
            eq_half = stats.t.ppf(1 - alpha, x.size - 1) * se
            c["eq_ci"] = (math.exp(x.mean() - eq_half), math.exp(x.mean() + eq_half))
            c["decided"], c["more_rounds"] = True, None
        a, b = correct["fp32"], correct[n]
        table = [[int(np.sum(a & b)), int(np.sum(a & ~b))], [int(np.sum(~a & b)), int(np.sum(~a & ~b))]]
        c["mcnemar_p"] = float(mcnemar(table, exact=True).pvalue)
        c["n_discordant"] = table[0][1] + table[1][0]
        c["accuracy_change"] = b.mean() - a.mean()
        c["top1_agreement"] = np.mean(logits[n].argmax(1) == logits["fp32"].argmax(1))
        c["output_mse"] = float(np.mean((np.asarray(logits[n], float) - np.asarray(logits["fp32"], float)) ** 2))
        c["pooled_ratio"] = moses_ratio(pooled["fp32"], pooled[n], level)
        c["pooled_eq"] = moses_ratio(pooled["fp32"], pooled[n], 1 - 2 * alpha)[1:]
        comps[n] = c
    adj = holm_adjusted([comps[n]["p_value"] for n in cands])
    for n, p in zip(cands, adj):
        c = comps[n]
        c["p_holm"] = p
        if not sequential:
            lo, hi = c["ratio_ci"]
            eq_lo, eq_hi = c["eq_ci"]
            c["verdict"] = ("equivalent" if margin is not None and 1 / (1 + margin) <= eq_lo and eq_hi <= 1 + margin
                            else "slower" if lo > 1 and p < alpha else "faster" if hi < 1 and p < alpha
                            else "no detectable difference")
    sweeps = {n: {b: np.array(x) * SCALE[n] for b, x in SWEEP_SAMPLES.items()} for n in ROUNDS}
    return {"timing": timing, "comparisons": comps, "sweeps": sweeps, "correct": correct, "preds": preds,
            "logits": logits, "each": each, "alpha": alpha, "level": level, "margin": margin}


def f1_per_class(y: np.ndarray, pred: np.ndarray, k: int) -> float:
    "F1 of class k = 2 TP / (2 TP + FP + FN)."
    tp = np.sum((pred == k) & (y == k))
    fp, fn = np.sum((pred == k) & (y != k)), np.sum((pred != k) & (y == k))
    return 2 * tp / (2 * tp + fp + fn)


def _scenario_fixtures(name: str) -> dict:
    s = SCALE[name]
    return {"SingleStream": _with_reasons(_single_stream(scale=s)), "Server": _with_reasons(_server(scale=s)),
            "Offline": _with_reasons(_offline(scale=s))}


TIMING_KEYS = {"batch", "unit", "n", "samples", "median", "mean", "p90", "p95", "p99", "iqr", "throughput", "rounds",
               "round_medians", "pitfalls"}
COMPARISON_KEYS = {"baseline", "candidate", "ratio", "ratio_ci", "p_value", "p_holm", "n_comparisons", "verdict",
                   "level", "margin", "method", "pooled", "accuracy_change", "mcnemar_p", "n_discordant",
                   "top1_agreement", "rounds", "decided", "more_rounds"}
SCENARIO_KEYS = {"metric", "value", "n_queries", "n_samples", "n_errors", "duration", "qps", "samples_per_second",
                 "p50", "p90", "p99", "accuracy", "valid", "reasons", "target_qps", "latencies"}


def check_timing(t: dict, e: dict) -> None:
    """Interleaved timing (seconds per batch): samples = the rounds' samples pooled in order; median, mean, p90, p95,
    p99 (type 7), IQR; throughput = batch / median (samples/s); round_medians = np.median of each round's samples."""
    assert set(t) == TIMING_KEYS and t["unit"] == "seconds per batch" and t["batch"] == 32
    assert t["n"] == 150 and t["rounds"] == 10 and np.array_equal(t["samples"], e["samples"])
    assert t["median"] == e["median"] and t["round_medians"] == e["round_medians"]
    for k in ("mean", "p90", "p95", "p99", "iqr", "throughput"):
        assert t[k] == approx(e[k]), k
    assert t["throughput"] == approx(32 / np.median(t["samples"]))


def check_comparison(c: dict, e: dict, sequential: bool) -> None:
    """A candidate vs fp32: ratio = exp(mean log(b/a)) over the round medians (geometric mean of the ratios); its
    interval (paired t, or Lai's confidence sequence at 1 − α/m); p; Holm p (statsmodels); the verdict by the
    stated rules; McNemar's exact p (statsmodels) on the discordant pairs; the accuracy change (fraction);
    top-1 agreement; the pooled iterations' Hodges–Lehmann ratio with its Moses interval."""
    assert set(c) == COMPARISON_KEYS and c["baseline"] == "fp32" and c["n_comparisons"] == 4
    assert c["ratio"] == approx(e["ratio"]) and c["verdict"] == e["verdict"], (c["candidate"], c["verdict"])
    assert c["ratio_ci"][0] == approx(e["ratio_ci"][0]) and c["ratio_ci"][1] == approx(e["ratio_ci"][1])
    assert c["p_value"] == approx(e["p_value"]) and c["p_holm"] == approx(e["p_holm"])
    assert c["decided"] == e["decided"] and c["more_rounds"] == e["more_rounds"] and c["rounds"] == e["rounds"]
    assert c["level"] == 0.95 and c["margin"] == 0.05
    assert c["mcnemar_p"] == approx(e["mcnemar_p"]) and c["n_discordant"] == e["n_discordant"]
    assert c["accuracy_change"] == approx(e["accuracy_change"]) and c["top1_agreement"] == approx(e["top1_agreement"])
    pr, plo, phi = e["pooled_ratio"]
    p = c["pooled"]
    assert p["ratio"] == approx(pr) and p["ratio_ci"][0] == approx(plo) and p["ratio_ci"][1] == approx(phi)
    assert p["equivalence_ci"][0] == approx(e["pooled_eq"][0]) and p["equivalence_ci"][1] == approx(e["pooled_eq"][1])
    if sequential:
        assert "always valid" in c["method"] and f"{1 - 0.05 / 4:.2%} per comparison (Bonferroni over 4)" in c["method"]
    else:
        assert c["method"] == "paired over 10 rounds (t-interval of log round-median ratios)"


def check_pooled_description(p: dict, a: np.ndarray, b: np.ndarray) -> None:
    """The pooled iterations' description (module 01's compare, seconds): sizes, medians, means, mean ratio with its
    Fieller interval (endpoints solve (m_b − ρ m_a)² = t² (v_b + ρ² v_a), Welch df), difference of means with
    Welch's interval, Welch and Mann–Whitney p (scipy), the Hodges–Lehmann shift of the raw times."""
    assert (p["n_a"], p["n_b"]) == (a.size, b.size) and p["level"] == 0.95
    assert p["median_a"] == np.median(a) and p["median_b"] == np.median(b)
    assert p["mean_a"] == approx(a.mean()) and p["mean_b"] == approx(b.mean())
    assert p["mean_ratio"] == approx(b.mean() / a.mean()) and p["diff_means"] == approx(b.mean() - a.mean())
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    t = stats.t.ppf(0.975, df)
    for rho in p["mean_ratio_ci"]:
        assert (b.mean() - rho * a.mean()) ** 2 == pytest.approx(t * t * (vb + rho * rho * va), rel=1e-9)
    welch = stats.ttest_ind(b, a, equal_var=False)
    assert p["welch_p"] == approx(welch.pvalue)
    lo, hi = welch.confidence_interval(0.95)
    assert p["diff_means_ci"][0] == approx(lo) and p["diff_means_ci"][1] == approx(hi)
    assert p["mannwhitney_p"] == approx(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    assert p["shift"] == approx(np.median(np.subtract.outer(b, a)))


def check_sweep(sw: dict, e: dict) -> None:
    "The model's batch sweep: rows as in test_batch_sweep_rows_keep_samples_and_recompute, from its recordings."
    assert [r["batch"] for r in sw["rows"]] == [1, 8, 32, 128] and "env" not in sw
    for row in sw["rows"]:
        x = e[row["batch"]]
        assert np.array_equal(row["samples"], x) and row["median"] == np.median(x) and row["n_samples"] == x.size
        assert row["p90"] == approx(np.percentile(x, 90)) and row["p99"] == approx(np.percentile(x, 99))
        assert row["samples_per_s"] == approx(row["batch"] / np.median(x))


def check_scenario(d: dict, r) -> None:
    """The suite's record of a scenario: metric and value, queries, samples, duration, qps, samples/s, p50/p90/p99
    (type 7, seconds), accuracy, validity, and the latencies (completion − scheduled arrival), from the records."""
    assert set(d) == SCENARIO_KEYS
    lat = r.completed - r.scheduled
    dur = np.max(r.completed)
    n_s = sum(len(ix) for ix in r.sample_index)
    assert d["duration"] == dur and d["n_queries"] == lat.size and d["n_samples"] == n_s and d["n_errors"] == 0
    assert d["qps"] == approx(lat.size / dur) and d["samples_per_second"] == approx(n_s / dur)
    for k in ("p50", "p90", "p99"):
        assert d[k] == approx(np.percentile(lat, int(k[1:]))), k
    sc = r.settings.scenario
    want = {"SingleStream": ("p90 latency", np.percentile(lat, 90)), "Offline": ("samples per second", n_s / dur),
            "Server": ("completed queries per second", lat.size / dur)}[sc]
    assert d["metric"] == want[0] and d["value"] == approx(want[1])
    assert d["valid"] == (not _expected_failures(r)) and len(d["reasons"]) == len(_expected_failures(r))
    assert d["target_qps"] == (r.settings.target_qps if sc == "Server" else None)
    assert d["latencies"] == ([] if sc == "Offline" else pytest.approx(lat.tolist(), rel=REL, abs=0))
    assert d["accuracy"] == (None if r.correct is None else approx(np.mean(r.correct)))


def check_suite_dict(d: dict, e: dict, sequential: bool) -> None:
    "Every number of a suite result in its JSON form (results.json) against the recomputation."
    assert d["schema"] == "tinybench.suite/1" and d["baseline"] == "fp32" and d["n_samples"] == N_DATA
    assert d["settings"]["sequential"] == sequential and d["settings"]["batch_size"] == 32
    assert list(d["models"]) == list(ROUNDS)
    for n, m in d["models"].items():
        check_timing(m["timing"], e["timing"][n])
        assert m["quality"]["accuracy"] == approx(np.mean(e["correct"][n]))
        for k in range(N_CLASSES):
            assert m["quality"]["per_class"][str(k)]["f1"] == approx(f1_per_class(Y, e["preds"][n], k))
            assert m["quality"]["per_class"][str(k)]["support"] == int(np.sum(Y == k))
        cm = np.zeros((N_CLASSES, N_CLASSES), int)
        np.add.at(cm, (Y, e["preds"][n]), 1)
        assert m["quality"]["confusion_matrix"] == cm.tolist()
        check_sweep(m["batch_sweep"], e["sweeps"][n])
        assert list(m["scenarios"]) == ["SingleStream", "Server", "Offline"]
        for sc, r in _scenario_fixtures(n).items():
            check_scenario(m["scenarios"][sc], r)
        if n != "fp32":
            # the models return float32 outputs: the agreement is computed on those, in float64
            base, cand = (e["logits"][k].astype(np.float32).astype(np.float64) for k in ("fp32", n))
            ag = m["agreement"]
            cos = (base * cand).sum(1) / (np.linalg.norm(base, axis=1) * np.linalg.norm(cand, axis=1))
            assert ag["top1_agreement"] == approx(np.mean(base.argmax(1) == cand.argmax(1)))
            assert ag["cosine_min"] == approx(cos.min()) and ag["cosine_mean"] == approx(cos.mean())
            assert ag["max_abs_error"] == approx(np.abs(base - cand).max())
            assert ag["max_rel_error"] == approx(np.abs(base - cand).max() / np.abs(base).max())
            for k in range(N_CLASSES):
                sel = Y == k
                assert ag["per_class_accuracy_change"][str(k)] == approx(
                    np.mean(e["correct"][n][sel]) - np.mean(e["correct"]["fp32"][sel]))
    assert [c["candidate"] for c in d["comparisons"]] == [n for n in ROUNDS if n != "fp32"]
    for c in d["comparisons"]:
        check_comparison(c, e["comparisons"][c["candidate"]], sequential)
        check_pooled_description(c["pooled"], e["timing"]["fp32"]["samples"], e["timing"][c["candidate"]]["samples"])


@pytest.mark.parametrize("sequential", [False, True], ids=["paired-t", "confidence-sequence"])
def test_suite_result_every_figure(suites, sequential):
    """A BenchmarkSuite run on recorded data: timings, quality, agreement, batch sweeps, scenarios and comparisons
    (paired t-interval + Holm, or always-valid confidence sequences at 1 − α/m) all equal their recomputation."""
    result = suites[sequential][0]
    e = expected_suite(sequential)
    assert {c["verdict"] for c in e["comparisons"].values()} == (
        {"faster", "slower", "equivalent", "undecided"} if sequential else
        {"faster", "slower", "equivalent", "no detectable difference"})  # the fixture exercises every verdict
    check_suite_dict(json.loads(json.dumps(result.to_dict())), e, sequential)


def test_confidence_sequence_closed_form_solves_lai_boundary():
    """The closed form used above is the set {μ₀: Λ_t(μ₀) < 1/α}: its endpoints are the roots of
    log Λ_t(μ₀) = log(1/α) (scipy.optimize.brentq on the martingale itself)."""
    for n in ("int8", "pruned", "slow", "edge"):
        x = np.log(np.array(ROUNDS[n]) / np.array(ROUNDS["fp32"]))
        alpha = 0.05 / 4
        lo, hi = lai_interval(x, alpha)
        g = lambda mu: lai_log_lambda(x, mu) - math.log(1 / alpha)  # noqa: E731
        assert g(x.mean()) < 0
        w = 10 * (hi - lo)
        assert optimize.brentq(g, x.mean() - w, x.mean(), xtol=1e-15) == pytest.approx(lo, rel=1e-9)
        assert optimize.brentq(g, x.mean(), x.mean() + w, xtol=1e-15) == pytest.approx(hi, rel=1e-9)


def test_suite_rows_every_figure(suites):
    """rows(): per model accuracy (fraction), median_s and p99_s (seconds per batch), speedup = 1 / ratio with its
    CI (1/hi, 1/lo), verdict (baseline: 'baseline', speedup 1), Holm p, accuracy change, McNemar p, top-1 agreement,
    best samples/s and its batch (max of batch / median over the sweep), params, FLOPs, bytes, memory."""
    result = suites[True][0]
    e = expected_suite(True)
    rows = {r["model"]: r for r in result.rows()}
    assert list(rows) == list(ROUNDS)
    for n, r in rows.items():
        t = e["timing"][n]
        assert set(r) == {"model", "accuracy", "median_s", "p99_s", "batch", "speedup", "speedup_ci_low",
                          "speedup_ci_high", "verdict", "p_holm", "accuracy_change", "mcnemar_p", "top1_agreement",
                          "best_samples_per_s", "best_batch", "params", "flops", "param_bytes", "memory_peak_bytes",
                          "errors", "cpu_percent_mean", "rss_bytes_peak", "gpu_util_percent_mean", "serialized_bytes"}
        assert r["serialized_bytes"] == STATS[n]["serialized_bytes"]
        res = result.models[n].resources  # sampled for real during the timing: recomputed from its kept samples
        w = np.asarray(res.sample_seconds)
        assert r["cpu_percent_mean"] == approx(np.sum(w * np.asarray(res.cpu_percent)) / w.sum())
        assert r["rss_bytes_peak"] == max(res.rss_bytes) and r["gpu_util_percent_mean"] is None
        assert r["accuracy"] == approx(np.mean(e["correct"][n])) and r["median_s"] == t["median"]
        assert r["p99_s"] == approx(t["p99"]) and r["batch"] == 32
        rates = {b: b / np.median(x) for b, x in e["sweeps"][n].items()}
        best = max(rates, key=rates.get)
        assert r["best_batch"] == best and r["best_samples_per_s"] == approx(rates[best])
        assert (r["params"], r["flops"], r["param_bytes"]) == (STATS[n]["n_params"], STATS[n]["flops"],
                                                               STATS[n]["param_bytes"])
        assert r["memory_peak_bytes"] == MEMORY[n]["rss_increase"] and r["errors"] is None
        if n == "fp32":
            assert r["speedup"] == 1.0 and r["verdict"] == "baseline" and r["speedup_ci_low"] is None
            continue
        c = e["comparisons"][n]
        assert r["speedup"] == approx(1 / c["ratio"]) and r["verdict"] == c["verdict"]
        assert r["speedup_ci_low"] == approx(1 / c["ratio_ci"][1]) and r["speedup_ci_high"] == approx(1 / c["ratio_ci"][0])
        assert r["p_holm"] == approx(c["p_holm"]) and r["mcnemar_p"] == approx(c["mcnemar_p"])
        assert r["accuracy_change"] == approx(c["accuracy_change"]) and r["top1_agreement"] == approx(c["top1_agreement"])


def test_time_interleaved_pools_rounds_in_order(recordings):
    """time_interleaved on recorded rounds: per model, samples = concatenation of its rounds, round_medians = the
    median of each round, in round order."""
    from tinybench.suite import time_interleaved
    out, errors = time_interleaved({n: (lambda: None) for n in ROUNDS}, 32, 10, 1.0)
    assert not errors
    for n, t in out.items():
        assert t.samples == np.concatenate([_round_samples(n, r) for r in range(10)]).tolist()
        assert t.round_medians == [float(np.median(_round_samples(n, r))) for r in range(10)] == ROUNDS[n]


# --------------------------------------------------------------------------------------------------------------
# results.json and report.md
# --------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sequential", [False, True], ids=["paired-t", "confidence-sequence"])
def test_results_json_every_number(suites, tmp_path, sequential):
    """results.json written by Report.save: every number equals the recomputation (seconds, samples/s, fractions),
    under the keys stated above; SuiteResult.load reads back the same comparisons and rows."""
    from tinybench.suite import SuiteResult
    result, d, _ = suites[sequential]
    check_suite_dict(d, expected_suite(sequential), sequential)
    (tmp_path / "results.json").write_text(json.dumps(d))
    loaded = SuiteResult.load(tmp_path / "results.json")
    assert loaded.rows() == json.loads(json.dumps(result.rows()))


def md_table(md: str, heading: str) -> list[dict[str, str]]:
    "The first table under '## heading' of a Markdown report, as rows keyed by the header."
    section = md.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0].lstrip("\n")
    first = section[section.index("|"):].split("\n\n", 1)[0]  # a section may hold more than one table
    lines = [ln for ln in first.splitlines() if ln.startswith("|")]
    cells = [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines]
    header, body = cells[0], cells[2:]
    return [dict(zip(header, r, strict=True)) for r in body]


def check_ratio_ci_text(text: str, ratio: float, ci: tuple[float, float], decimals: int = 3) -> None:
    "'r (lo–hi)' with `decimals` decimals."
    m = re.fullmatch(r"([\d.]+) \(([\d.]+)–([\d.]+)\)", text)
    assert m, text
    for got, want in zip(m.groups(), (ratio, *ci)):
        check_fixed(got, want, decimals)


@pytest.mark.parametrize("sequential", [False, True], ids=["paired-t", "confidence-sequence"])
def test_report_md_tables_print_the_recomputed_figures(suites, sequential):
    """The numbers in report.md's tables, parsed and checked at their printed precision: accuracy (%.2f%%), median
    and p99 per batch (4 significant digits with unit), speedup (%.2f, CI), best samples/s (whole number) @ batch,
    params, peak RSS; time ratios (%.3f with CI), p and Holm p (%.2g), accuracy change (points, %+.2f), McNemar p,
    top-1 agreement; per-class F1 (%.3f); scenario metric, p50, p99, queries, validity; samples/s per batch size."""
    e = expected_suite(sequential)
    md = suites[sequential][2]

    results = {r["model"]: r for r in md_table(md, "Results")}
    assert list(results) == list(ROUNDS)
    for n, r in results.items():
        t = e["timing"][n]
        check_fixed(r["accuracy"].removesuffix("%"), np.mean(e["correct"][n]), 2, 100)
        check_seconds_text(r["median / batch of 32"], t["median"])
        check_seconds_text(r["p99"], t["p99"])
        rates = {b: b / np.median(x) for b, x in e["sweeps"][n].items()}
        best = max(rates, key=rates.get)
        sps, at = r["best samples/s @ batch"].split(" @ ")
        check_fixed(sps, rates[best], 0)
        assert int(at) == best
        assert r["params"] == f"{STATS[n]['n_params']:,}"
        check_bytes_text(r["size (state dict)"], STATS[n]["serialized_bytes"])
        check_bytes_text(r["peak RSS +"], MEMORY[n]["rss_increase"])
        if n == "fp32":
            assert r["speedup (95% CI)"] == "1.000" and r["verdict"] == "baseline"
            continue
        c = e["comparisons"][n]
        check_ratio_ci_text(r["speedup (95% CI)"], 1 / c["ratio"], (1 / c["ratio_ci"][1], 1 / c["ratio_ci"][0]), 2)
        assert r["verdict"] == c["verdict"]

    comps = {r["candidate"]: r for r in md_table(md, "Comparisons with fp32")}
    assert list(comps) == [n for n in ROUNDS if n != "fp32"]
    for n, r in comps.items():
        c = e["comparisons"][n]
        check_ratio_ci_text(r["time ratio vs fp32 (95% CI)"], c["ratio"], c["ratio_ci"])
        check_sig(r["p"], c["p_value"])
        check_sig(r["Holm p"], c["p_holm"])
        assert r["verdict"] == c["verdict"]
        check_ratio_ci_text(r["pooled iterations: ratio (CI), descriptive only"], *c["pooled_ratio"][:1],
                            c["pooled_ratio"][1:])
        check_fixed(r["accuracy change"].removesuffix(" pts"), c["accuracy_change"], 2, 100)
        check_sig(r["McNemar p"], c["mcnemar_p"])
        check_fixed(r["top-1 agreement"].removesuffix("%"), c["top1_agreement"], 2, 100)
        check_sig(r["output MSE"], c["output_mse"], 3)

    for r in md_table(md, "Quality per class"):
        n = r["model (F1)"]
        for k in range(N_CLASSES):
            check_fixed(r[f"class {k}"], f1_per_class(Y, e["preds"][n], k), 3)

    scen = md_table(md, "Scenarios")
    assert [(r["model"], r["scenario"]) for r in scen] == [(n, s) for n in ROUNDS for s in ("SingleStream", "Server",
                                                                                            "Offline")]
    for r in scen:
        run = _scenario_fixtures(r["model"])[r["scenario"]]
        lat = run.completed - run.scheduled
        dur, n_s = run.completed.max(), sum(len(ix) for ix in run.sample_index)
        if r["scenario"] == "SingleStream":
            assert r["metric"] == "p90 latency"
            check_seconds_text(r["value"], np.percentile(lat, 90))
        else:
            assert r["metric"] == {"Server": "completed queries per second", "Offline": "samples per second"}[r["scenario"]]
            check_fixed(r["value"], (lat.size if r["scenario"] == "Server" else n_s) / dur, 0)
        check_seconds_text(r["p50"], np.percentile(lat, 50))
        check_seconds_text(r["p99"], np.percentile(lat, 99))
        assert int(r["queries"]) == lat.size
        assert r["result"] == ("INVALID" if _expected_failures(run) else "VALID")

    for r in md_table(md, "Throughput against batch size"):
        n = r["model (samples/s)"]
        for b, x in e["sweeps"][n].items():
            check_fixed(r[f"batch {b}"], b / np.median(x), 0)


@pytest.mark.parametrize("sequential", [False, True], ids=["paired-t", "confidence-sequence"])
def test_report_md_sentences_print_the_recomputed_figures(suites, sequential):
    """The numbers in report.md's findings and recommendations: speedup 1/ratio (%.2f×) or slowdown, time ratio and
    CI (%.3f), rounds and ~rounds to decide (undecided), Holm p; accuracies (%.2f%%), change in points, discordant
    samples, McNemar p, top-1 agreement, minimum cosine (%.4f); throughput over the sweep; the serving advice."""
    e = expected_suite(sequential)
    md = suites[sequential][2]
    acc = {n: np.mean(c) for n, c in e["correct"].items()}
    num = r"([\d.,]+)"
    for n, c in e["comparisons"].items():
        ci = r"time ratio ([\d.]+), 95% CI ([\d.]+)–([\d.]+)"
        if c["verdict"] == "faster":
            m = re.search(rf"{n} is {num}× faster than fp32 \({ci}\)\. Holm-adjusted p = ([\d.e-]+) over 4", md)
            check_fixed(m.group(1), 1 / c["ratio"], 2)
        elif c["verdict"] == "slower":
            m = re.search(rf"{n} is {num}× slower than fp32 \({ci}\)\. Holm-adjusted p = ([\d.e-]+) over 4", md)
            check_fixed(m.group(1), c["ratio"], 2)
        elif c["verdict"] == "equivalent":
            m = re.search(rf"{n} and fp32 are equivalent within ±5% \({ci}\)\. Holm-adjusted p = ([\d.e-]+) over 4", md)
        elif c["verdict"] == "undecided":
            m = re.search(rf"before {n} vs fp32 was decided \({ci} after (\d+) rounds;.*?roughly (\d+) more rounds "
                          r"would decide it.*? Holm-adjusted p = ([\d.e-]+) over 4", md)
            assert int(m.group(4)) == 10 and int(m.group(5)) == c["more_rounds"]
        else:
            m = re.search(rf"No significant difference between {n} and fp32 \({ci} includes 1\)\. Holm-adjusted p = "
                          r"([\d.e-]+) over 4", md)
        assert m, (n, c["verdict"])
        offset = 1 if c["verdict"] in ("faster", "slower") else 0
        for got, want in zip(m.groups()[offset:offset + 3], (c["ratio"], *c["ratio_ci"])):
            check_fixed(got, want, 3)
        check_sig(m.groups()[-1], c["p_holm"])

        m = re.search(rf"{n}'s accuracy is {num}% against fp32's {num}% \(([+-][\d.]+) points\); they differ on "
                      rf"(\d+) of 120 samples, and McNemar's exact test (?:does not find|finds) the change significant "
                      rf"\(p = ([\d.e-]+)\)\. Top-1 agreement with fp32 is {num}%, minimum cosine similarity (-?\d+\.\d+)",
                      md)
        assert m, n
        check_fixed(m.group(1), acc[n], 2, 100)
        check_fixed(m.group(2), acc["fp32"], 2, 100)
        check_fixed(m.group(3), c["accuracy_change"], 2, 100)
        assert int(m.group(4)) == c["n_discordant"]
        check_sig(m.group(5), c["mcnemar_p"])
        check_fixed(m.group(6), c["top1_agreement"], 2, 100)
        base, cand = (e["logits"][k].astype(np.float32).astype(np.float64) for k in ("fp32", n))
        cos = (base * cand).sum(1) / (np.linalg.norm(base, axis=1) * np.linalg.norm(cand, axis=1))
        check_fixed(m.group(7), cos.min(), 4)

    for n, sw in e["sweeps"].items():
        rates = {b: b / np.median(x) for b, x in sw.items()}
        best = max(rates, key=rates.get)
        m = re.search(rf"{n}'s throughput goes from {num} samples/s at batch 1 to {num} at batch (\d+)", md)
        check_fixed(m.group(1), rates[1], 0)
        check_fixed(m.group(2), rates[best], 0)
        assert int(m.group(3)) == best

    fast = e["comparisons"]["int8"]  # faster, but McNemar finds its accuracy loss significant
    m = re.search(rf"int8 is {num}× faster \(95% CI {num}–{num}\) at batch 32 but loses {num} accuracy points "
                  r"\(McNemar p = ([\d.e-]+)\)", md)
    assert m and fast["mcnemar_p"] < 0.05 and fast["accuracy_change"] < 0
    for got, want in zip(m.groups(), (1 / fast["ratio"], 1 / fast["ratio_ci"][1], 1 / fast["ratio_ci"][0])):
        check_fixed(got, want, 2)
    check_fixed(m.group(4), -fast["accuracy_change"], 2, 100)
    check_sig(m.group(5), fast["mcnemar_p"])
    slow = e["comparisons"]["slow"]
    m = re.search(rf"Do not use slow on this machine: it is {num}× slower than fp32 \(95% CI {num}–{num}\)", md)
    for got, want in zip(m.groups(), (slow["ratio"], *slow["ratio_ci"])):
        check_fixed(got, want, 2)
    rates = {b: b / np.median(x) for b, x in e["sweeps"]["fp32"].items()}  # no usable faster candidate: fp32
    best = max(rates, key=rates.get)
    m = re.search(rf"serve fp32 at batch (\d+): {num} samples/s", md)
    assert int(m.group(1)) == best
    check_fixed(m.group(2), rates[best], 0)
    assert re.search(r"\(10 ran\)" if sequential else r"in 10 rounds of 0\.1 s", md)
