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


def _single_stream(n: int = 200):
    """SingleStream as the closed loop records it: each query is issued when the previous completes (plus 20 µs),
    scheduled = issued = started, 1 sample per query; every 9th answer is wrong."""
    from tinybench.scenarios import ScenarioResult, TestSettings
    service = _service_times(n, 1, 1.5e-3, 0.15)
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


def _server(error_at: int | None = None, target_latency: float = 0.01, qps: float = 400.0, n: int = 700):
    """Server as recorded: Poisson arrivals (seeded), one FIFO worker, issued 30 µs after the schedule; latency runs
    from the scheduled arrival. `error_at`: that query raised in the SUT."""
    from tinybench.scenarios import ScenarioResult, TestSettings
    arrivals = np.round(np.cumsum(np.random.default_rng(7).exponential(1 / qps, n)), 7)
    service = _service_times(n, 2, 1.0e-3, 0.3)
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


def _offline(n: int = 512, batch: int = 32):
    "Offline as recorded: every query (1 sample) issued at 0, served in batches of 32 that complete together."
    from tinybench.scenarios import ScenarioResult, TestSettings
    per_batch = _service_times(n // batch, 3, 8e-3, 0.1)
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
                      "queries"}
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
    check_seconds_text(f["p99 issue lateness"], np.percentile(sv.issued - sv.scheduled, 99))
    off = _with_reasons(_offline())
    check_fixed(_summary_fields(off.summary())["samples per second"], 512 / off.duration, 2)


def test_scenario_result_frozen_from_recorded_timestamps():
    """`_result` (what `run` returns) from a recorder: queries never issued are dropped, duration = the last
    completion, correctness is kept per sample; the figures equal the recomputation."""
    from tinybench.scenarios import TestSettings, _Recorder, _result
    s = TestSettings("Offline", min_duration=0.005)
    rec = _Recorder([0, 1, 2, 3])
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
        assert set(row) == {"batch", "median", "p50", "p90", "p99", "n_samples", "samples", "samples_per_s"}
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
