"""Bad inputs at every public entry point of stats, scenarios, profiling, abtest, capacity, monitor and store (issue 15).

Table-driven: each case is (id, call, exception type, regex). The call must raise that type with a message matching
the regex, which names the argument (and usually the bad value). Kinds of bad input: empty, NaN, inf, wrong type
(a string, None), negative, zero, huge, non-integer counts, mismatched lengths, out-of-range fractions.
`classify` (used by tools or by hand: `python tests/test_bad_inputs.py`) sorts outcomes into clear / unclear /
silently wrong / hang, which is how the before/after table of the issue was counted."""
from __future__ import annotations

import math
import signal
import sys
from typing import Any, Callable

import numpy as np
import pytest
import torch
from torch import nn

NAN, INF = math.nan, math.inf
X = [0.010, 0.012, 0.011, 0.013, 0.012, 0.011, 0.014, 0.010, 0.012, 0.011] * 3  # 30 latencies, seconds
Y = [v * 1.1 for v in X]


def _stats():
    import tinybench.stats as m
    return m


def _ab():
    import tinybench.abtest as m
    return m


def _cap():
    import tinybench.capacity as m
    return m


def _sc():
    import tinybench.scenarios as m
    return m


def _prof():
    import tinybench.profiling as m
    return m


def _ok_sut(batch):
    return [np.array([1.0, 0.0])] * len(batch)


def _dataset():
    return _sc().ArrayDataset(np.zeros((8, 2), dtype=np.float32), np.zeros(8, dtype=int))


def _store(tmp="/tmp"):
    import tempfile

    from tinybench.store import ResultStore
    return ResultStore(tempfile.mkdtemp(prefix="tb-bad-inputs-") + "/r.sqlite")


def numeric_variants(prefix: str, call: Callable[[Any], Any], arg: str, *, negative: bool = True,
                     zero: bool = False, fraction: bool = False, integer: bool = False,
                     huge: Any = None, optional: bool = False) -> list[tuple]:
    """Cases for one numeric argument: call(value) with a string, None (unless `optional`: None means 'not given'),
    NaN, inf (and -1, 0, 1.5, 2.5 or a huge value as asked); each must raise TypeError/ValueError naming `arg`."""
    name = rf"\b{arg}\b"
    cases = [(f"{prefix}-{arg}-str", lambda: call("1"), TypeError, name)]
    if not optional:
        cases.append((f"{prefix}-{arg}-none", lambda: call(None), TypeError, name))
    cases += [(f"{prefix}-{arg}-nan", lambda: call(NAN), ValueError, name),
             (f"{prefix}-{arg}-inf", lambda: call(INF), ValueError, name)]
    if negative:
        cases.append((f"{prefix}-{arg}-negative", lambda: call(-1), ValueError, name))
    if zero:
        cases.append((f"{prefix}-{arg}-zero", lambda: call(0), ValueError, name))
    if fraction:
        cases.append((f"{prefix}-{arg}-above-1", lambda: call(1.5), ValueError, name))
    if integer:
        cases.append((f"{prefix}-{arg}-non-integer", lambda: call(2.5), ValueError, name))
    if huge is not None:
        cases.append((f"{prefix}-{arg}-huge", lambda: call(huge), ValueError, name))
    return cases


def sample_variants(prefix: str, call: Callable[[Any], Any], arg: str) -> list[tuple]:
    "Cases for one sample argument: empty, NaN inside, inf inside, strings, None, 2-D."
    name = rf"\b{arg}\b"
    return [(f"{prefix}-{arg}-empty", lambda: call([]), ValueError, name),
            (f"{prefix}-{arg}-nan-inside", lambda: call([*X[:-1], NAN]), ValueError, name),
            (f"{prefix}-{arg}-inf-inside", lambda: call([*X[:-1], INF]), ValueError, name),
            (f"{prefix}-{arg}-strings", lambda: call(["a"] * 10), ValueError, name),
            (f"{prefix}-{arg}-none", lambda: call(None), ValueError, name),
            (f"{prefix}-{arg}-2d", lambda: call([X, X]), ValueError, name)]


CASES: list[tuple] = []
S = _stats
# ---------------------------------------------------------------------------------------------------- stats
CASES += sample_variants("quantile", lambda v: S().quantile(v, 0.5), "x")
CASES += numeric_variants("quantile", lambda v: S().quantile(X, v), "q", fraction=True)
CASES += numeric_variants("quantile_ci", lambda v: S().quantile_ci(X, 0.5, level=v), "level", fraction=True)
CASES += numeric_variants("order_stat_indices", lambda v: S().order_stat_indices(v, 0.5), "n", integer=True)
CASES += numeric_variants("bootstrap_ci", lambda v: S().bootstrap_ci(X, level=v), "level", fraction=True)
CASES += numeric_variants("bootstrap_ratio_ci", lambda v: S().bootstrap_ratio_ci(X, Y, level=v), "level",
                          fraction=True)
CASES += numeric_variants("bootstrap_ratio_ci", lambda v: S().bootstrap_ratio_ci(X, Y, n_resamples=v),
                          "n_resamples", integer=True)
CASES += sample_variants("welch_ttest", lambda v: S().welch_ttest(v, Y), "a")
CASES += sample_variants("ratio_ci", lambda v: S().ratio_ci(X, v), "b")
CASES += numeric_variants("ratio_ci", lambda v: S().ratio_ci(X, Y, level=v), "level", fraction=True)
CASES += numeric_variants("hodges_lehmann", lambda v: S().hodges_lehmann(X, Y, level=v), "level", fraction=True)
CASES += numeric_variants("mean_ratio_ci", lambda v: S().mean_ratio_ci(X, Y, level=v), "level", fraction=True)
CASES += numeric_variants("compare", lambda v: S().compare(X, Y, level=v), "level", fraction=True)
CASES += numeric_variants("compare", lambda v: S().compare(X, Y, margin=v), "margin", zero=True, optional=True)
CASES += [("holm-empty", lambda: S().holm([]), ValueError, "p-values"),
          ("holm-nan", lambda: S().holm([0.01, NAN]), ValueError, "p-values"),
          ("benjamini_hochberg-above-1", lambda: S().benjamini_hochberg([0.01, 2.0]), ValueError, "p-values")]
CASES += numeric_variants("sample_size", lambda v: S().sample_size(v, 0.1), "relative_effect", negative=False,
                          zero=True)
CASES += numeric_variants("sample_size", lambda v: S().sample_size(0.05, v), "cv", zero=True)
CASES += numeric_variants("sample_size", lambda v: S().sample_size(0.05, 0.1, alpha=v), "alpha", fraction=True)
CASES += numeric_variants("sample_size", lambda v: S().sample_size(0.05, 0.1, power=v), "power", fraction=True)
CASES += numeric_variants("detectable_effect", lambda v: S().detectable_effect(v, 0.1), "n", integer=True)
CASES += numeric_variants("mlperf_sample_size", lambda v: S().mlperf_sample_size(v), "quantile", fraction=True)
CASES += numeric_variants("mlperf_sample_size", lambda v: S().mlperf_sample_size(margin=v), "margin",
                          fraction=True)
CASES += numeric_variants("early_stopping_min_passing", lambda v: S().early_stopping_min_passing(v, 0.9),
                          "n_over", integer=True)
CASES += numeric_variants("early_stopping_min_passing", lambda v: S().early_stopping_min_passing(0, 0.9, v),
                          "confidence", fraction=True)
CASES += numeric_variants("early_stopping", lambda v: S().early_stopping(v, 0, 0.9), "n_queries", integer=True)
CASES += [("early_stopping-mismatched", lambda: S().early_stopping(10, 11, 0.9), ValueError, "n_over_latency"),
          ("early_stopping-latencies-count", lambda: S().early_stopping(5, 0, 0.9, latencies=X), ValueError,
           "latencies")]
CASES += numeric_variants("check_outliers", lambda v: S().check_outliers(X, k=v), "k", zero=True)
CASES += numeric_variants("check_sample_count", lambda v: S().check_sample_count(X, v), "quantile", fraction=True)
CASES += sample_variants("detect_pitfalls", lambda v: S().detect_pitfalls(v), "x")

# ---------------------------------------------------------------------------------------------------- abtest
A = _ab
CASES += numeric_variants("assign_arm", lambda v: A().assign_arm(1, split=v), "split", fraction=True)
CASES += numeric_variants("srm_test", lambda v: A().srm_test(v, 100), "n_a", integer=True)
CASES += numeric_variants("srm_test", lambda v: A().srm_test(100, 100, split=v), "split", fraction=True)
CASES += [("srm_test-both-zero", lambda: A().srm_test(0, 0), ValueError, "n_a and n_b")]
CASES += numeric_variants("plan_experiment", lambda v: A().plan_experiment(v, 0.3), "relative_effect",
                          negative=False, zero=True)
CASES += numeric_variants("plan_experiment", lambda v: A().plan_experiment(0.05, v), "cv", zero=True)
CASES += numeric_variants("plan_experiment", lambda v: A().plan_experiment(0.05, 0.3, requests_per_s=v),
                          "requests_per_s", zero=True, optional=True)
CASES += numeric_variants("plan_experiment", lambda v: A().plan_experiment(0.05, 0.3, split=v), "split",
                          fraction=True)
CASES += numeric_variants("peeking_false_positive_rate", lambda v: A().peeking_false_positive_rate(v, 10),
                          "looks", integer=True)
CASES += numeric_variants("group_sequential_bounds", lambda v: A().group_sequential_bounds(3, alpha=v), "alpha",
                          fraction=True)
CASES += numeric_variants("SequentialTest", lambda v: A().SequentialTest(alpha=v), "alpha", fraction=True)
CASES += numeric_variants("SequentialTest", lambda v: A().SequentialTest(tau=v), "tau", zero=True, optional=True)
CASES += numeric_variants("wilson_ci", lambda v: A().wilson_ci(v, 10), "x", integer=True, huge=11)
CASES += numeric_variants("wilson_ci", lambda v: A().wilson_ci(3, 10, level=v), "level", fraction=True)
CASES += numeric_variants("proportion_diff_ci", lambda v: A().proportion_diff_ci(3, v, 2, 10), "n_b",
                          integer=True)
CASES += numeric_variants("latency_guardrail", lambda v: A().latency_guardrail(X, Y, margin=v), "margin")
CASES += numeric_variants("rate_guardrail", lambda v: A().rate_guardrail("e", 1, 100, 2, 100, v, False), "margin",
                          huge=2.0)
CASES += numeric_variants("ABTest", lambda v: A().ABTest(_ok_sut, _ok_sut, split=v), "split", fraction=True)
CASES += [("ABTest-model-not-callable", lambda: A().ABTest(1.0, _ok_sut), TypeError, "model_a")]
CASES += numeric_variants("paired_ratio", lambda v: A().paired_ratio(X, Y, level=v), "level", fraction=True)
CASES += [("paired_ratio-mismatched", lambda: A().paired_ratio(X, Y[:-1]), ValueError, "equal lengths")]
CASES += sample_variants("paired_ratio", lambda v: A().paired_ratio(v, Y), "block_a")
CASES += numeric_variants("interleaved_compare", lambda v: A().interleaved_compare(abs, abs, 1, level=v), "level",
                          fraction=True)
CASES += numeric_variants("interleaved_compare", lambda v: A().interleaved_compare(abs, abs, 1, blocks=v),
                          "blocks", integer=True)
CASES += numeric_variants("ratio_sequence", lambda v: A().ratio_sequence(X, Y, level=v), "level", fraction=True)
CASES += numeric_variants("ratio_sequence", lambda v: A().ratio_sequence(X, Y, rho=v), "rho", zero=True)
CASES += numeric_variants("rounds_to_decide", lambda v: A().rounds_to_decide(X, Y, 0.05, level=v), "level",
                          fraction=True)
CASES += [("rounds_to_decide-mismatched", lambda: A().rounds_to_decide(X, Y[:-1], 0.05), ValueError,
           "equal lengths")]

# ---------------------------------------------------------------------------------------------------- capacity
C = _cap
CASES += numeric_variants("MM1", lambda v: C().MM1(v, 2.0), "lam", zero=True)
CASES += numeric_variants("MM1", lambda v: C().MM1(1.0, v), "mu", zero=True)
CASES += numeric_variants("MM1.response_quantile", lambda v: C().MM1(1.0, 2.0).response_quantile(v), "q",
                          fraction=True)
CASES += [("MM1.response_quantile-one", lambda: C().MM1(1.0, 2.0).response_quantile(1.0), ValueError, r"\bq\b"),
          ("MMc.response_quantile-one", lambda: C().MMc(1.0, 1.0, 3).response_quantile(1.0), ValueError, r"\bq\b")]
CASES += numeric_variants("MD1", lambda v: C().MD1(v, 2.0), "lam", zero=True)
CASES += numeric_variants("MMc", lambda v: C().MMc(1.0, 1.0, v), "c", integer=True, zero=True)
CASES += numeric_variants("erlang_c", lambda v: C().erlang_c(v, 0.5), "c", integer=True, zero=True)
CASES += numeric_variants("littles_law", lambda v: C().littles_law(lam=v, W=0.1), "lam", optional=True)
CASES += numeric_variants("kingman", lambda v: C().kingman(1.0, v), "mean_service", zero=True)
CASES += numeric_variants("kingman", lambda v: C().kingman(1.0, 0.1, ca2=v), "ca2")
CASES += numeric_variants("allen_cunneen", lambda v: C().allen_cunneen(1.0, 0.1, v), "c", integer=True, zero=True)
CASES += numeric_variants("mean_in_system", lambda v: C().mean_in_system([0.0], [1.0], v), "t_end", zero=True)
CASES += numeric_variants("simulate_queue", lambda v: C().simulate_queue(v, X, n=1000), "arrival_rate", zero=True)
CASES += numeric_variants("simulate_queue", lambda v: C().simulate_queue(10.0, X, servers=v, n=1000), "servers",
                          integer=True, zero=True)
CASES += numeric_variants("fit_usl", lambda v: C().fit_usl([1, 2, 4, 8], [10, 19, 35, 60], level=v), "level",
                          fraction=True)
CASES += sample_variants("fit_usl", lambda v: C().fit_usl(v, [10, 19, 35, 60]), "concurrency")
CASES += [("fit_usl-mismatched", lambda: C().fit_usl([1, 2, 4, 8, 16], [10, 19, 35, 60]), ValueError,
           "equal length")]
CASES += numeric_variants("replicas_needed", lambda v: C().replicas_needed(v, 100.0, 0.1), "target_qps", zero=True)
CASES += numeric_variants("replicas_needed", lambda v: C().replicas_needed(10.0, 100.0, v), "slo", zero=True)
CASES += numeric_variants("plan_capacity", lambda v: C().plan_capacity(X, v, 0.1, n_sim=1000), "target_qps",
                          zero=True)
CASES += numeric_variants("plan_capacity", lambda v: C().plan_capacity(X, 10.0, v, n_sim=1000), "slo_latency",
                          zero=True)
CASES += numeric_variants("plan_capacity",
                          lambda v: C().plan_capacity(X, 10.0, 0.1, cost_per_replica_hour=v, n_sim=1000),
                          "cost_per_replica_hour", optional=True)
CASES += numeric_variants("plan_capacity", lambda v: C().plan_capacity(X, 10.0, 0.1, headroom=v, n_sim=1000),
                          "headroom", huge=1.0)
CASES += numeric_variants("plan_capacity", lambda v: C().plan_capacity(X, 10.0, 0.1, growth=v, n_sim=1000),
                          "growth")
CASES += sample_variants("plan_capacity", lambda v: C().plan_capacity(v, 10.0, 0.1, n_sim=1000), "service_times")

# ---------------------------------------------------------------------------------------------------- scenarios
SC = _sc
for _field, _kw in [("target_qps", dict(zero=True)), ("min_duration", {}), ("max_duration", dict(zero=True)),
                    ("target_latency", dict(zero=True)), ("workers", dict(integer=True, zero=True)),
                    ("offline_batch_size", dict(integer=True, zero=True)),
                    ("samples_per_query", dict(integer=True, zero=True))]:
    CASES += numeric_variants("TestSettings", lambda v, f=_field: SC().TestSettings(**{f: v}), _field, **_kw)
CASES += numeric_variants("TestSettings", lambda v: SC().TestSettings(latency_quantile=v), "latency_quantile",
                          fraction=True, optional=True)
CASES += [("TestSettings-scenario", lambda: SC().TestSettings(scenario="Batch"), ValueError, "scenario"),
          ("TestSettings-min-above-max", lambda: SC().TestSettings(min_duration=5, max_duration=1), ValueError,
           "max_duration"),
          ("run-sut-not-callable", lambda: SC().run(1.0, _dataset()), TypeError, "SUT"),
          ("run-empty-dataset", lambda: SC().run(_ok_sut, []), ValueError, "empty"),
          ("run-bad-setting", lambda: SC().run(_ok_sut, _dataset(), target_qps="fast"), TypeError, "target_qps"),
          ("ArrayDataset-empty", lambda: SC().ArrayDataset(np.zeros((0, 2))), ValueError, "empty"),
          ("ArrayDataset-mismatched", lambda: SC().ArrayDataset(np.zeros((4, 2)), [0, 1]), ValueError, "labels"),
          ("ArrayDataset-not-a-sequence", lambda: SC().ArrayDataset(3.0), TypeError, r"\bX\b"),
          ("ProcessSUT-processes", lambda: SC().ProcessSUT(_ok_sut, processes=0), ValueError, "processes")]
CASES += numeric_variants("soak", lambda v: SC().soak(_ok_sut, _dataset(), interval=v, min_duration=0.1),
                          "interval", zero=True)
CASES += numeric_variants("find_peak_qps", lambda v: SC().find_peak_qps(_ok_sut, _dataset(), tolerance=v),
                          "tolerance", zero=True)

# ---------------------------------------------------------------------------------------------------- profiling
P = _prof
_lin = nn.Linear(4, 2)
CASES += numeric_variants("profile_ops", lambda v: P().profile_ops(_lin, torch.zeros(2, 4), repeat=v), "repeat",
                          integer=True, zero=True)
CASES += numeric_variants("profile_python", lambda v: P().profile_python(abs, 1, repeat=v), "repeat",
                          integer=True, zero=True)
CASES += [("batch_sweep-empty", lambda: P().batch_sweep(_lin, lambda b: torch.zeros(b, 4), []), ValueError,
           "batch_sizes"),
          ("batch_sweep-zero", lambda: P().batch_sweep(_lin, lambda b: torch.zeros(b, 4), [0, 4]), ValueError,
           "batch_sizes"),
          ("batch_sweep-string", lambda: P().batch_sweep(_lin, lambda b: torch.zeros(b, 4), ["8", 4]), TypeError,
           "batch_sizes"),
          ("batch_sweep-not-a-sequence", lambda: P().batch_sweep(_lin, lambda b: torch.zeros(b, 4), 8), TypeError,
           "batch_sizes")]

CASES += numeric_variants("profile_layers", lambda v: P().profile_layers(_lin, torch.zeros(2, 4), repeat=v),
                          "repeat", integer=True, zero=True)
CASES += numeric_variants("profile_layers", lambda v: P().profile_layers(_lin, torch.zeros(2, 4), tolerance=v),
                          "tolerance", zero=True)
CASES += numeric_variants("pipeline_profile", lambda v: P().pipeline_profile({"f": abs}, [1.0, 2.0], n=v), "n",
                          integer=True, zero=True, optional=True)
CASES += [("pipeline_profile-dataset", lambda: P().pipeline_profile({"f": abs}, 3.0), TypeError, "dataset"),
          ("pipeline_profile-empty", lambda: P().pipeline_profile({}, [1.0]), ValueError, "stages")]
CASES += numeric_variants("largest_batch_within", lambda v: P().largest_batch_within(lambda b: 0.0, v, 8), "budget",
                          zero=True)
CASES += numeric_variants("largest_batch_within", lambda v: P().largest_batch_within(lambda b: 0.0, 1.0, v),
                          "max_batch", integer=True, zero=True)
CASES += numeric_variants("max_batch_under_latency",
                          lambda v: P().max_batch_under_latency(_lin, lambda b: torch.zeros(b, 4), v), "latency_budget",
                          zero=True)
CASES += [("run-dataset-not-a-sequence", lambda: SC().run(_ok_sut, 3.0), TypeError, "dataset"),
          ("run-settings-dict", lambda: SC().run(_ok_sut, _dataset(), {"scenario": "Offline"}), TypeError, "settings"),
          ("latency_curve-negative-rate", lambda: C().latency_curve(_ok_sut, _dataset(), [10.0, -1.0]), ValueError,
           "rates"),
          ("latency_curve-nan-rate", lambda: C().latency_curve(_ok_sut, _dataset(), [NAN]), ValueError, "rates"),
          ("latency_curve-string-rate", lambda: C().latency_curve(_ok_sut, _dataset(), ["10"]), TypeError, "rates"),
          ("latency_curve-empty", lambda: C().latency_curve(_ok_sut, _dataset(), []), ValueError, "rates")]

# ---------------------------------------------------------------------------------------------------- timing (measure)
CASES += numeric_variants("measure", lambda v: __import__("tinybench.timing").timing.measure(abs, 1, max_time=v),
                          "max_time", zero=True)
CASES += numeric_variants("measure", lambda v: __import__("tinybench.timing").timing.measure(abs, 1, min_samples=v),
                          "min_samples", integer=True, zero=True)

# ---------------------------------------------------------------------------------------------------- monitor
CASES += numeric_variants("ResourceMonitor", lambda v: __import__("tinybench.monitor").monitor.ResourceMonitor(v),
                          "interval", zero=True)

# ---------------------------------------------------------------------------------------------------- store
CASES += [("store-nan-metric", lambda: _store().save("k", {"median": NAN}), ValueError, "metric 'median'"),
          ("store-inf-metric", lambda: _store().save("k", {"median": INF}), ValueError, "metric 'median'"),
          ("store-string-metric", lambda: _store().save("k", {"median": "1"}), ValueError, "metrics"),
          ("store-none-name", lambda: _store().save(None, {"m": 1.0}), ValueError, "name"),
          ("store-metrics-list", lambda: _store().save("k", [1.0]), TypeError, "metrics"),
          ("store-bad-samples", lambda: _store().save("k", samples={"t": ["a"]}), ValueError, "samples")]

IDS = [c[0] for c in CASES]
assert len(set(IDS)) == len(IDS), [i for i in IDS if IDS.count(i) > 1]


@pytest.mark.parametrize("call, exc, pattern", [c[1:] for c in CASES], ids=IDS)
def test_bad_input_gives_a_clear_error(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def classify(call: Callable[[], Any], exc: type, pattern: str, timeout: int = 20) -> str:
    """'clear' (the expected exception, message matching), 'unclear' (another exception or message), 'silently
    wrong' (no exception), or 'hang' (still running after `timeout` s)."""
    import re

    class Hang(BaseException):
        pass

    def alarm(*_):
        raise Hang

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(timeout)
    try:
        call()
        return "silently wrong"
    except Hang:
        return "hang"
    except Exception as e:  # classification only: every outcome is counted
        return "clear" if isinstance(e, exc) and re.search(pattern, str(e)) else "unclear"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


if __name__ == "__main__":  # the before/after table: python tests/test_bad_inputs.py [-v]
    from collections import Counter
    counts: Counter = Counter()
    for case_id, call, exc, pattern in CASES:
        kind = classify(call, exc, pattern)
        counts[kind] += 1
        if "-v" in sys.argv and kind != "clear":
            print(f"{kind:15s} {case_id}")
    print(f"{len(CASES)} cases: " + ", ".join(f"{counts[k]} {k}" for k in ("clear", "unclear", "silently wrong",
                                                                           "hang")))
