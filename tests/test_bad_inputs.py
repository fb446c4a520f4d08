"""Bad inputs at every public entry point of stats, scenarios, profiling, abtest, capacity, monitor and store.

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
CASES += numeric_variants("simulate_queue", lambda v: C().simulate_queue(v, X, n=1000), "arrival_rate", zero=True,
                          optional=True)
# None is a valid arrival_rate when a trace is replayed (arrivals=...); None without a trace is the wrong type
CASES += [("simulate_queue-arrival_rate-none-without-arrivals", lambda: C().simulate_queue(None, X, n=1000),
           TypeError, r"\barrival_rate\b.*\barrivals\b")]
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

# ---------------------------------------------------------------------------------------------------- stats (more)
CASES += sample_variants("median_ci", lambda v: S().median_ci(v), "x")
CASES += numeric_variants("median_ci", lambda v: S().median_ci(X, level=v), "level", fraction=True)
CASES += numeric_variants("min_samples_for_quantile_ci", lambda v: S().min_samples_for_quantile_ci(v), "q",
                          fraction=True)
CASES += [("min_samples_for_quantile_ci-q-one", lambda: S().min_samples_for_quantile_ci(1.0), ValueError, r"\bq\b")]
CASES += numeric_variants("min_samples_for_quantile_ci", lambda v: S().min_samples_for_quantile_ci(0.5, level=v),
                          "level", fraction=True)
CASES += sample_variants("count_modes", lambda v: S().count_modes(v), "x")
CASES += numeric_variants("count_modes", lambda v: S().count_modes(X, min_height=v), "min_height", fraction=True)
CASES += numeric_variants("count_modes", lambda v: S().count_modes(X, max_dip=v), "max_dip", fraction=True)
CASES += sample_variants("check_bimodal", lambda v: S().check_bimodal(v), "x")
CASES += [("smallest_passing-ok-not-callable", lambda: S().smallest_passing(True), TypeError, r"\bok\b")]
CASES += numeric_variants("smallest_passing", lambda v: S().smallest_passing(lambda n: n >= 5, v), "start",
                          integer=True, zero=True)


# ---------------------------------------------------------------------------------------------------- report
def _rep():
    import tinybench.report as m
    return m


def Q():
    import tinybench.quality as m
    return m


def _suite():
    import tinybench.suite as m
    return m


def _fig():
    from matplotlib.figure import Figure
    return Figure()


def _result():
    su = _suite()
    return su.SuiteResult({}, "fp32", su.SuiteSettings(), "classification", 1)


def _a_file():
    import tempfile
    fd, path = tempfile.mkstemp(prefix="tb-bad-inputs-")
    return path


R = _rep
_OUT = np.eye(3)
CASES += [("agreement_metrics-base-none", lambda: Q().agreement_metrics(None, _OUT), ValueError, r"\bbase\b"),
          ("agreement_metrics-base-strings", lambda: Q().agreement_metrics([["a", "b"]], [[1.0, 2.0]]), ValueError,
           r"\bbase\b"),
          ("agreement_metrics-base-1d", lambda: Q().agreement_metrics([1.0, 2.0], [1.0, 2.0]), ValueError,
           r"\bbase\b"),
          ("agreement_metrics-base-empty", lambda: Q().agreement_metrics(np.zeros((0, 3)), np.zeros((0, 3))),
           ValueError, r"\bbase\b"),
          ("agreement_metrics-base-nan-inside", lambda: Q().agreement_metrics([[1.0, NAN]], [[1.0, 2.0]]),
           ValueError, r"\bbase\b"),
          ("agreement_metrics-cand-inf-inside", lambda: Q().agreement_metrics([[1.0, 2.0]], [[1.0, INF]]),
           ValueError, r"\bcand\b"),
          ("agreement_metrics-cand-mismatched", lambda: Q().agreement_metrics(_OUT, np.eye(2)), ValueError,
           r"\bcand\b")]
_X4 = torch.zeros(4, 4)
CASES += [("compare_outputs-baseline-not-callable", lambda: Q().compare_outputs(1.0, _lin, _X4), TypeError,
           r"\bbaseline\b"),
          ("compare_outputs-candidate-not-callable", lambda: Q().compare_outputs(_lin, _lin(_X4), _X4), TypeError,
           r"\bcandidate\b"),
          ("compare_outputs-X-empty", lambda: Q().compare_outputs(_lin, _lin, torch.zeros(0, 4)), ValueError,
           r"\bX\b"),
          ("compare_outputs-X-not-a-sequence", lambda: Q().compare_outputs(_lin, _lin, 3.0), TypeError, r"\bX\b"),
          ("compare_outputs-labels-mismatched", lambda: Q().compare_outputs(_lin, _lin, _X4, labels=[0, 1]),
           ValueError, r"\blabels\b")]
CASES += numeric_variants("compare_outputs", lambda v: Q().compare_outputs(_lin, _lin, _X4, batch_size=v),
                          "batch_size", integer=True, zero=True)
CASES += [("classification_quality-y_true-empty", lambda: Q().classification_quality([], []), ValueError,
           r"\by_true\b"),
          ("classification_quality-y_true-none", lambda: Q().classification_quality(None, [0, 1]), ValueError,
           r"\by_true\b"),
          ("classification_quality-y_true-2d", lambda: Q().classification_quality([[0, 1]], [[0, 1]]), ValueError,
           r"\by_true\b"),
          ("classification_quality-y_true-strings", lambda: Q().classification_quality(["a", "b"], [0, 1]),
           ValueError, r"\by_true\b"),
          ("classification_quality-y_pred-nan", lambda: Q().classification_quality([0, 1], [0, NAN]), ValueError,
           r"\by_pred\b"),
          ("classification_quality-y_pred-non-integer", lambda: Q().classification_quality([0, 1], [0, 0.5]),
           ValueError, r"\by_pred\b"),
          ("classification_quality-y_pred-mismatched", lambda: Q().classification_quality([0, 1, 1], [0, 1]),
           ValueError, r"\by_pred\b")]
CASES += sample_variants("regression_quality", lambda v: Q().regression_quality(v, v), "y_true")
CASES += [("regression_quality-y_pred-nan-inside", lambda: Q().regression_quality(X, [*X[:-1], NAN]), ValueError,
           r"\by_pred\b"),
          ("regression_quality-y_pred-mismatched", lambda: Q().regression_quality(X, X[:-1]), ValueError,
           r"\by_pred\b")]
CASES += sample_variants("plot_latency_cdf", lambda v: R().plot_latency_cdf({"m": v}), "samples")
CASES += [("plot_latency_cdf-empty-dict", lambda: R().plot_latency_cdf({}), ValueError, r"\bsamples\b"),
          ("plot_latency_cdf-not-a-dict", lambda: R().plot_latency_cdf(X), TypeError, r"\bsamples\b"),
          ("plot_latency_cdf-negative", lambda: R().plot_latency_cdf({"m": [-1.0, 1.0]}), ValueError,
           r"\bsamples\b")]
CASES += [("Report-result-not-a-result", lambda: R().Report({"models": {}}), TypeError, r"\bresult\b"),
          ("Report-result-none", lambda: R().Report(None), TypeError, r"\bresult\b"),
          ("Report.save-folder-none", lambda: R().Report(_result()).save(None), TypeError, r"\bfolder\b"),
          ("Report.save-folder-is-a-file", lambda: R().Report(_result()).save(_a_file()), OSError, r"cannot write"),
          ("Report.save-formats-string", lambda: R().Report(_result()).save("/tmp", formats="html"), TypeError,
           r"\bformats\b"),
          ("Report.save-formats-unknown", lambda: R().Report(_result()).save("/tmp", formats=["docx"]), ValueError,
           r"\bformats?\b"),
          ("Report-cost_per_hour-negative", lambda: R().Report(_result(), cost_per_hour=-2.0), ValueError,
           r"\bcost_per_hour\b"),
          ("Report-cost_per_hour-nan", lambda: R().Report(_result(), cost_per_hour=float("nan")), ValueError,
           r"\bcost_per_hour\b"),
          ("Report-cost_per_hour-string", lambda: R().Report(_result(), cost_per_hour="3$"), TypeError,
           r"\bcost_per_hour\b"),
          ("Chart-name-a-path", lambda: __import__("tinybench.documents").documents.Chart("../x", "c"), ValueError,
           r"\bname\b"),
          ("render_document-block-a-dict", lambda: __import__("tinybench.documents").documents.render_document(
              "t", [("h", [{"a": 1}])]), TypeError, r"\bblock\b"),
          ("html_to_pdf-no-such-html", lambda: __import__("tinybench.documents").documents.html_to_pdf(
              "/no/such.html", "/tmp/x.pdf"), FileNotFoundError, r"\bhtml_path\b"),
          ("save_figure-path-none", lambda: R().save_figure(_fig(), None), TypeError, r"\bpath\b"),
          ("save_figure-path-under-a-file", lambda: R().save_figure(_fig(), _a_file() + "/f.png"), OSError,
           r"cannot write"),
          ("save_figure-fig-not-a-figure", lambda: R().save_figure(3.0, "/tmp/tb-bad-inputs-f.png"), TypeError,
           r"\bfig\b")]


# ---------------------------------------------------------------------------------------------------- workloads
def _wl():
    import tinybench.workloads as m
    return m


def _digits():
    z = torch.zeros(4, 1, 8, 8)
    return _wl().Digits(z, torch.zeros(4, dtype=torch.long), z, torch.zeros(4, dtype=torch.long))


W = _wl
CASES += [("make_variants-model-not-a-module", lambda: W().make_variants(abs), TypeError, r"\bmodel\b"),
          ("make_variants-device-unknown", lambda: W().make_variants(_lin, device="gpu"), ValueError, r"\bdevice\b"),
          ("make_variants-device-number", lambda: W().make_variants(_lin, device=0), ValueError, r"\bdevice\b"),
          ("quantize_int8-model-not-a-module", lambda: W().quantize_int8(None), TypeError, r"\bmodel\b"),
          ("prune_magnitude-model-not-a-module", lambda: W().prune_magnitude(abs), TypeError, r"\bmodel\b"),
          ("prune_magnitude-amount-one", lambda: W().prune_magnitude(_lin, 1.0), ValueError, r"\bamount\b"),
          ("default_workload-device-unknown", lambda: W().default_workload(device="gpu"), ValueError, r"\bdevice\b"),
          ("default_workload-seed-str", lambda: W().default_workload(seed="0"), TypeError, r"\bseed\b"),
          ("load_model-data-not-digits", lambda: W().load_model(data=(1, 2)), TypeError, r"\bdata\b"),
          ("train_digits_cnn-data-not-digits", lambda: W().train_digits_cnn((1, 2), epochs=1), TypeError,
           r"\bdata\b")]
CASES += numeric_variants("prune_magnitude", lambda v: W().prune_magnitude(_lin, v), "amount", fraction=True)
CASES += numeric_variants("load_model", lambda v: W().load_model(v), "seed", integer=True)
CASES += numeric_variants("train_digits_cnn", lambda v: W().train_digits_cnn(_digits(), epochs=v), "epochs",
                          integer=True, zero=True)
CASES += numeric_variants("train_digits_cnn", lambda v: W().train_digits_cnn(_digits(), epochs=1, batch_size=v),
                          "batch_size", integer=True, zero=True)
CASES += numeric_variants("train_digits_cnn", lambda v: W().train_digits_cnn(_digits(), epochs=1, lr=v), "lr",
                          zero=True)


# ---------------------------------------------------------------------------------------------------- loadgen
def _lg():
    import tinybench.loadgen as m
    return m


def _mutated_settings(**fields):
    s = SC().TestSettings(scenario="Server")
    for k, v in fields.items():
        setattr(s, k, v)
    return s


LG = _lg
CASES += [("loadgen_settings-not-settings", lambda: LG().loadgen_settings({"scenario": "Server"}, 8), TypeError,
           r"\bs\b"),
          ("loadgen_settings-scenario", lambda: LG().loadgen_settings(_mutated_settings(scenario="Batch"), 8),
           ValueError, r"\bscenario\b"),
          ("loadgen_settings-target_qps", lambda: LG().loadgen_settings(_mutated_settings(target_qps=-5.0), 8),
           ValueError, r"\btarget_qps\b"),
          ("run_loadgen-sut-not-callable", lambda: LG().run_loadgen(1.0, _dataset()), TypeError, "SUT"),
          ("run_loadgen-empty-dataset", lambda: LG().run_loadgen(_ok_sut, []), ValueError, "empty"),
          ("run_loadgen-dataset-not-a-sequence", lambda: LG().run_loadgen(_ok_sut, 3.0), TypeError, r"\bdataset\b"),
          ("run_loadgen-settings-dict", lambda: LG().run_loadgen(_ok_sut, _dataset(), {"scenario": "Offline"}),
           TypeError, r"\bsettings\b"),
          ("run_loadgen-bad-setting", lambda: LG().run_loadgen(_ok_sut, _dataset(), target_qps="fast"), TypeError,
           r"\btarget_qps\b")]
CASES += numeric_variants("loadgen_settings", lambda v: LG().loadgen_settings(SC().TestSettings(), v), "n_samples",
                          integer=True, zero=True)

# ---------------------------------------------------------------------------------------------------- profiling (more)


def _peaks():
    return P().DevicePeaks("cpu", 1e10, 1e10, 8, 1024)


CASES += [("count_flops-model-not-callable", lambda: P().count_flops(1.0, torch.zeros(2, 4)), TypeError,
           r"\bmodel\b"),
          ("model_stats-model-not-a-module", lambda: P().model_stats(abs, torch.zeros(2, 4)), TypeError,
           r"\bmodel\b"),
          ("time_layers-model-not-a-module", lambda: P().time_layers(abs, torch.zeros(2, 4)), TypeError,
           r"\bmodel\b"),
          ("measure_memory-fn-not-callable", lambda: P().measure_memory(1.0), TypeError, r"\bfn\b"),
          ("measure_memory-device-unknown", lambda: P().measure_memory(abs, 1, device="gpu"), ValueError,
           r"\bdevice\b"),
          ("roofline-model-not-a-module", lambda: P().roofline(abs, torch.zeros(2, 4), peaks=_peaks()), TypeError,
           r"\bmodel\b"),
          ("roofline-peaks-wrong-type", lambda: P().roofline(_lin, torch.zeros(2, 4), peaks={"flops": 1e9}),
           TypeError, r"\bpeaks\b"),
          ("roofline-repeat-zero", lambda: P().roofline(_lin, torch.zeros(2, 4), peaks=_peaks(), repeat=0),
           ValueError, r"\brepeat\b"),
          ("roofline-device-unknown", lambda: P().roofline(_lin, torch.zeros(2, 4), device="gpu", peaks=_peaks()),
           ValueError, r"\bdevice\b"),
          ("measure_peaks-device-unknown", lambda: P().measure_peaks("gpu", 8, 1024, 0.01), ValueError,
           r"\bdevice\b")]
CASES += numeric_variants("measure_peaks", lambda v: P().measure_peaks(matmul_n=v, copy_bytes=1024, min_time=0.01),
                          "matmul_n", integer=True, zero=True, optional=True)
CASES += numeric_variants("measure_peaks", lambda v: P().measure_peaks(matmul_n=8, copy_bytes=v, min_time=0.01),
                          "copy_bytes", integer=True, zero=True, optional=True)
CASES += numeric_variants("measure_peaks", lambda v: P().measure_peaks(matmul_n=8, copy_bytes=1024, min_time=v),
                          "min_time")
for _i, _arg in enumerate(["batch", "in_features", "out_features"]):
    CASES += numeric_variants("linear_flops", lambda v, i=_i: P().linear_flops(*[v if j == i else 4 for j in range(3)]),
                              _arg, integer=True)
for _i, _arg in enumerate(["batch", "in_channels", "out_channels", "kernel_size", "out_size"]):
    CASES += numeric_variants("conv2d_flops", lambda v, i=_i: P().conv2d_flops(*[v if j == i else 4 for j in range(5)]),
                              _arg, integer=True)
CASES += numeric_variants("conv2d_flops", lambda v: P().conv2d_flops(1, 4, 4, 3, 8, groups=v), "groups",
                          integer=True, zero=True)
CASES += [("conv2d_flops-kernel_size-pair-negative", lambda: P().conv2d_flops(1, 4, 4, (3, -3), 8), ValueError,
           r"\bkernel_size\b"),
          ("conv2d_flops-out_size-triple", lambda: P().conv2d_flops(1, 4, 4, 3, (8, 8, 8)), ValueError,
           r"\bout_size\b")]


# ---------------------------------------------------------------------------------------------------- suite
class _Const:
    "A fitted model that predicts class 0."
    def predict(self, X):
        return np.zeros(len(X), dtype=int)


_CV_X, _CV_Y = np.zeros((10, 2)), np.array([0, 1] * 5)
SU = _suite
CASES += [("mcnemar_exact-correct_a-empty", lambda: SU().mcnemar_exact([], []), ValueError, r"\bcorrect_a\b"),
          ("mcnemar_exact-correct_a-none", lambda: SU().mcnemar_exact(None, [True]), ValueError, r"\bcorrect_a\b"),
          ("mcnemar_exact-correct_a-strings", lambda: SU().mcnemar_exact(["a", "b"], [True, False]), ValueError,
           r"\bcorrect_a\b"),
          ("mcnemar_exact-correct_a-nan", lambda: SU().mcnemar_exact([True, NAN], [True, False]), ValueError,
           r"\bcorrect_a\b"),
          ("mcnemar_exact-correct_a-counts", lambda: SU().mcnemar_exact([0, 2], [1, 1]), ValueError,
           r"\bcorrect_a\b"),
          ("mcnemar_exact-correct_a-2d", lambda: SU().mcnemar_exact([[True, False]], [[True, False]]), ValueError,
           r"\bcorrect_a\b"),
          ("mcnemar_exact-correct_b-mismatched", lambda: SU().mcnemar_exact([True, False], [True]), ValueError,
           r"\bcorrect_b\b"),
          ("cross_validate-fit-not-callable", lambda: SU().cross_validate(_Const(), _CV_X, _CV_Y), TypeError,
           r"\bfit\b"),
          ("cross_validate-X-mismatched", lambda: SU().cross_validate(lambda X, y: _Const(), _CV_X[:5], _CV_Y),
           ValueError, r"\bX\b"),
          ("cross_validate-task", lambda: SU().cross_validate(lambda X, y: _Const(), _CV_X, _CV_Y, task="ranking"),
           ValueError, r"\btask\b")]
CASES += numeric_variants("cross_validate", lambda v: SU().cross_validate(lambda X, y: _Const(), _CV_X, _CV_Y, k=v),
                          "k", integer=True, zero=True, huge=11)
CASES += numeric_variants("cross_validate",
                          lambda v: SU().cross_validate(lambda X, y: _Const(), _CV_X, _CV_Y, level=v), "level",
                          fraction=True)
_TI = dict(fns={"f": lambda: None}, batch=1, rounds=1, min_time=0.001)
CASES += [("time_interleaved-fns-list", lambda: SU().time_interleaved(**{**_TI, "fns": [abs]}), TypeError,
           r"\bfns\b"),
          ("time_interleaved-fn-not-callable", lambda: SU().time_interleaved(**{**_TI, "fns": {"f": 1.0}}),
           TypeError, r"\bfns\b")]
for _arg, _kw in [("batch", dict(integer=True, zero=True)), ("rounds", dict(integer=True, zero=True)),
                  ("min_time", dict(zero=True)), ("max_rounds", dict(integer=True, zero=True, optional=True)),
                  ("time_budget", dict(optional=True))]:
    CASES += numeric_variants("time_interleaved", lambda v, a=_arg: SU().time_interleaved(**{**_TI, a: v}), _arg,
                              **_kw)

# ---------------------------------------------------------------------------------------------------- timing (more)
def _t():
    import tinybench.timing as m
    return m


T = _t
CASES += [("time_call-fn-not-callable", lambda: T().time_call(abs(-1)), TypeError, r"\bfn\b"),
          ("time_call-sync-not-callable", lambda: T().time_call(abs, 1, sync=True), TypeError, r"\bsync\b"),
          ("calibrate_loops-fn-not-callable", lambda: T().calibrate_loops(1.0, 0.001), TypeError, r"\bfn\b"),
          ("Timer-fn-not-callable", lambda: T().Timer(abs(-1)), TypeError, r"needs a callable\b.*\bfn\b"),
          ("Timer-device-unknown", lambda: T().Timer(abs, 1, device="gpu"), ValueError, r"\bdevice\b"),
          ("CacheFlusher-device-unknown", lambda: T().CacheFlusher("gpu"), ValueError, r"\bdevice\b"),
          ("CacheFlusher-device-number", lambda: T().CacheFlusher(3), ValueError, r"\bdevice\b")]
CASES += numeric_variants("calibrate_loops", lambda v: T().calibrate_loops(abs, v), "target", zero=True)
CASES += numeric_variants("calibrate_loops", lambda v: T().calibrate_loops(abs, 0.001, max_loops=v), "max_loops",
                          integer=True, zero=True)
CASES += sample_variants("detect_warmup", lambda v: T().detect_warmup(v), "samples")
CASES += numeric_variants("detect_warmup", lambda v: T().detect_warmup(X, batch=v), "batch", integer=True,
                          zero=True)
CASES += numeric_variants("Timer", lambda v: T().Timer(abs, 1, max_samples=v), "max_samples", integer=True,
                          zero=True)
CASES += numeric_variants("Timer", lambda v: T().Timer(abs, 1, min_time=v), "min_time")
CASES += numeric_variants("Timer", lambda v: T().Timer(abs, 1, loops=v), "loops", integer=True, zero=True,
                          optional=True)

# ---------------------------------------------------------------------------------------------------- abtest (more)
_CUR, _BASE = {"median": X}, {"median": Y}
CASES += numeric_variants("detect_regression", lambda v: A().detect_regression(_CUR, _BASE, tolerance=v),
                          "tolerance", zero=True)
CASES += numeric_variants("detect_regression", lambda v: A().detect_regression(_CUR, _BASE, level=v), "level",
                          fraction=True)
CASES += [("detect_regression-current-list", lambda: A().detect_regression(X, _BASE), TypeError, r"\bcurrent\b"),
          ("detect_regression-baseline-none", lambda: A().detect_regression(_CUR, None), TypeError,
           r"\bbaseline\b"),
          ("detect_regression-current-strings", lambda: A().detect_regression({"median": ["a"]}, _BASE), ValueError,
           r"\bcurrent\b"),
          ("detect_regression-baseline-nan", lambda: A().detect_regression(_CUR, {"median": [*Y[:-1], NAN]}),
           ValueError, r"\bbaseline\b"),
          ("detect_regression-current-empty", lambda: A().detect_regression({"median": []}, _BASE), ValueError,
           r"\bcurrent\b")]
CASES += numeric_variants("regression_verdict", lambda v: A().regression_verdict(1.0, (0.9, 1.1), v), "tolerance",
                          zero=True)
CASES += numeric_variants("regression_verdict", lambda v: A().regression_verdict(v, (0.9, 1.1), 0.05), "ratio")
CASES += [("regression_verdict-ci-not-a-pair", lambda: A().regression_verdict(1.0, 1.0, 0.05), TypeError, r"\bci\b"),
          ("regression_verdict-ci-nan", lambda: A().regression_verdict(1.0, (NAN, 1.1), 0.05), ValueError,
           r"\bci\b"),
          ("regression_verdict-ci-strings", lambda: A().regression_verdict(1.0, ("0.9", "1.1"), 0.05), TypeError,
           r"\bci\b"),
          ("regression_verdict-ratio-outside-ci", lambda: A().regression_verdict(2.0, (0.9, 1.1), 0.05), ValueError,
           r"\bratio\b")]
CASES += numeric_variants("check_tolerance", lambda v: A().check_tolerance(v), "tolerance", zero=True)
CASES += numeric_variants("check_tolerance", lambda v: A().check_tolerance(v, "margin"), "margin", zero=True)

# ---------------------------------------------------------------------------------------------------- capacity (more)
CASES += numeric_variants("usl", lambda v: C().usl([1, 2, 4], v, 0.1, 0.01), "lam", zero=True)
CASES += numeric_variants("usl", lambda v: C().usl([1, 2, 4], 100.0, v, 0.01), "sigma")
CASES += numeric_variants("usl", lambda v: C().usl([1, 2, 4], 100.0, 0.1, v), "kappa")
CASES += [("usl-n-strings", lambda: C().usl(["a"], 100.0, 0.1, 0.01), ValueError, r"\bn\b"),
          ("usl-n-nan", lambda: C().usl([1, NAN], 100.0, 0.1, 0.01), ValueError, r"\bn\b"),
          ("usl-n-negative", lambda: C().usl([1, -2], 100.0, 0.1, 0.01), ValueError, r"\bn\b")]
CASES += [c for c in sample_variants("simulate_queue", lambda v: C().simulate_queue(None, X, arrivals=v), "arrivals")
          if not c[0].endswith("-none")]  # arrivals=None means "not given": then arrival_rate=None is the error
CASES += [("simulate_queue-arrivals-decreasing", lambda: C().simulate_queue(None, X, arrivals=[0.0, 2.0, 1.0]),
           ValueError, r"\barrivals\b"),
          ("simulate_queue-arrivals-one-instant", lambda: C().simulate_queue(None, X, arrivals=[1.0, 1.0, 1.0]),
           ValueError, r"\barrivals\b"),
          ("simulate_queue-arrivals-and-rate", lambda: C().simulate_queue(10.0, X, arrivals=[0.0, 1.0]),
           ValueError, r"\barrivals\b")]

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
