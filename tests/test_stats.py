"""Tests of tinybench.stats against scipy/statsmodels, by seeded simulation, and on bad input."""
import json
import math

import numpy as np
import pytest
import scipy.stats as st

from tinybench.stats import (Comparison, benjamini_hochberg, bootstrap_ci, bootstrap_ratio_ci, check_bimodal,
                             check_outliers, check_sample_count, compare, count_modes, detect_pitfalls,
                             detectable_effect, early_stopping, early_stopping_min_passing, hodges_lehmann, holm,
                             mean_ratio_ci, median_ci, min_samples_for_quantile_ci, mlperf_sample_size,
                             order_stat_indices, quantile, quantile_ci, ratio_ci, sample_size, samples_of,
                             welch_ttest)
from tinybench.stats import _mwu_null_cdf
from tinybench.timing import Measurement

SIZES = [(2, 2), (2, 5), (3, 3), (4, 5), (5, 2), (30, 40), (200, 150)]


def pair(seed, na, nb, ties=False):
    rng = np.random.default_rng(seed)
    a, b = rng.lognormal(0, 0.4, na), 1.1 * rng.lognormal(0, 0.4, nb)
    if ties:
        a, b = np.round(a, 1) + 0.1, np.round(b, 1) + 0.1
    return a, b


# ------------------------------------------------------------------ agreement with scipy / statsmodels
@pytest.mark.parametrize("na,nb", SIZES)
@pytest.mark.parametrize("ties", [False, True])
def test_welch_matches_scipy(na, nb, ties):
    a, b = pair(na * 100 + nb, na, nb, ties)
    if a.var() == 0 and b.var() == 0:
        pytest.skip("degenerate draw")
    ref = st.ttest_ind(a, b, equal_var=False)
    t, df, p = welch_ttest(a, b)
    assert t == pytest.approx(ref.statistic, rel=1e-9)
    assert df == pytest.approx(ref.df, rel=1e-9)
    assert p == pytest.approx(ref.pvalue, rel=1e-9)


@pytest.mark.parametrize("na,nb", SIZES)
def test_compare_pvalues_and_difference_ci_match_scipy(na, nb):
    a, b = pair(7 + na + nb, na, nb, ties=(na > 3))
    c = compare(a, b)
    assert c.welch_p == pytest.approx(st.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-9)
    assert c.mannwhitney_p == pytest.approx(st.mannwhitneyu(a, b, alternative="two-sided").pvalue, rel=1e-9)
    ci = st.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert c.diff_means_ci == pytest.approx((ci.low, ci.high), rel=1e-9)


@pytest.mark.parametrize("n", [10, 37, 100, 1000])
@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
@pytest.mark.parametrize("level", [0.9, 0.95])
def test_quantile_ci_matches_scipy_quantile_test(n, q, level):
    x = np.random.default_rng(n).lognormal(0, 1, n)
    ref = st.quantile_test(x, q=1.0, p=q).confidence_interval(level)
    if np.isnan(ref.low) or np.isnan(ref.high):
        with pytest.raises(ValueError, match="too few"):
            quantile_ci(x, q, level)
    else:
        assert quantile_ci(x, q, level) == (ref.low, ref.high)


def test_quantile_ci_with_ties_matches_scipy():
    x = np.round(np.random.default_rng(3).lognormal(0, 1, 200), 1)
    ref = st.quantile_test(x, q=1.0, p=0.9).confidence_interval(0.95)
    assert quantile_ci(x, 0.9) == (ref.low, ref.high)
    assert median_ci(x) == tuple(st.quantile_test(x, q=1.0, p=0.5).confidence_interval(0.95))


def test_min_samples_for_quantile_ci_is_the_minimum():
    for q in (0.5, 0.9, 0.99):
        n = min_samples_for_quantile_ci(q)
        lo, hi = order_stat_indices(n, q)
        assert lo >= 0 and hi < n
        lo, hi = order_stat_indices(n - 1, q)
        assert lo < 0 or hi >= n - 1


def test_mwu_exact_null_distribution_matches_scipy():
    rng = np.random.default_rng(0)
    for n, m in [(3, 4), (6, 8), (10, 10), (12, 5)]:
        cdf = _mwu_null_cdf(n, m)
        for _ in range(3):
            res = st.mannwhitneyu(rng.normal(size=n), rng.normal(size=m), method="exact", alternative="less")
            assert cdf[int(res.statistic)] == pytest.approx(res.pvalue, rel=1e-9)


def test_holm_and_bh_match_statsmodels():
    from statsmodels.stats.multitest import multipletests
    rng = np.random.default_rng(4)
    for m in (1, 2, 5, 40):
        p = rng.uniform(0, 0.2, m)
        p[0] = p[-1]  # a tie
        assert holm(p) == pytest.approx(multipletests(p, method="holm")[1], rel=1e-12)
        assert benjamini_hochberg(p) == pytest.approx(multipletests(p, method="fdr_bh")[1], rel=1e-12)


@pytest.mark.parametrize("effect,cv", [(0.05, 0.1), (0.02, 0.2), (0.3, 0.5), (0.5, 0.25)])
def test_sample_size_matches_statsmodels(effect, cv):
    from statsmodels.stats.power import TTestIndPower
    ref = TTestIndPower().solve_power(effect_size=effect / cv, alpha=0.05, power=0.8)
    assert sample_size(effect, cv) == math.ceil(ref)


@pytest.mark.parametrize("n", [3, 10, 64, 500])
def test_detectable_effect_matches_statsmodels(n):
    from statsmodels.stats.power import TTestIndPower
    ref = TTestIndPower().solve_power(nobs1=n, alpha=0.05, power=0.9)
    assert detectable_effect(n, 0.1, power=0.9) == pytest.approx(0.1 * ref, rel=1e-5)


def test_bootstrap_ci_wraps_scipy_and_is_seeded():
    x = np.random.default_rng(5).lognormal(0, 0.5, 80)
    ref = st.bootstrap((x,), np.median, n_resamples=999, rng=np.random.default_rng(3)).confidence_interval
    assert bootstrap_ci(x, n_resamples=999, seed=3) == pytest.approx((ref.low, ref.high), rel=1e-12)
    assert bootstrap_ci(x, seed=1, method="percentile") == bootstrap_ci(x, seed=1, method="percentile")
    assert bootstrap_ci(np.full(10, 2.0)) == (2.0, 2.0)


def test_bootstrap_ratio_ci_agrees_with_scipy_percentile():
    rng = np.random.default_rng(6)
    a, b = rng.lognormal(0, 0.3, 150), 1.3 * rng.lognormal(0, 0.3, 150)
    ref = st.bootstrap((a, b), lambda x, y, axis=-1: np.median(y, axis=axis) / np.median(x, axis=axis),
                       method="percentile", n_resamples=5000, rng=np.random.default_rng(0)).confidence_interval
    lo, hi = bootstrap_ratio_ci(a, b, n_resamples=5000)
    assert abs(lo - ref.low) < 0.02 and abs(hi - ref.high) < 0.02


# ------------------------------------------------------------------ coverage by seeded simulation
def test_quantile_ci_coverage_for_p90():
    rng = np.random.default_rng(10)
    truth = math.exp(st.norm.ppf(0.9) * 0.6)
    hits = 0
    for _ in range(2000):
        lo, hi = quantile_ci(rng.lognormal(0, 0.6, 100), 0.9)
        hits += lo <= truth <= hi
    assert 0.94 <= hits / 2000 <= 0.97, hits / 2000


def test_quantile_ci_exact_coverage_never_below_level():
    for n in range(36, 400, 7):
        lo, hi = order_stat_indices(n, 0.9, 0.95)
        binom = st.binom(n, 0.9)
        assert binom.cdf(hi) - binom.cdf(lo) >= 0.95, n  # P(lo < B <= hi): X_(lo+1) <= xi < X_(hi+1)


def test_ratio_ci_coverage():
    rng = np.random.default_rng(11)
    hits = 0
    for _ in range(2000):
        a, b = rng.lognormal(0, 0.5, 25), 1.07 * rng.lognormal(0, 0.5, 25)
        _, lo, hi = ratio_ci(a, b)
        hits += lo <= 1.07 <= hi
    assert 0.94 <= hits / 2000 <= 0.97, hits / 2000


def test_mean_ratio_ci_coverage():
    rng = np.random.default_rng(12)
    hits = 0
    for _ in range(2000):
        a, b = rng.normal(10, 1, 30), rng.normal(12, 1.5, 30)
        _, lo, hi = mean_ratio_ci(a, b)
        hits += lo <= 1.2 <= hi
    assert 0.94 <= hits / 2000 <= 0.96, hits / 2000


def test_aa_false_positive_rate_at_most_six_percent():
    rng = np.random.default_rng(13)
    alarms = sum(compare(rng.lognormal(0, 0.5, 30), rng.lognormal(0, 0.5, 30)).verdict != "no detectable difference"
                 for _ in range(1000))
    assert alarms / 1000 <= 0.06, alarms / 1000


def test_hodges_lehmann_large_samples_are_subsampled_but_right():
    rng = np.random.default_rng(14)
    a, b = rng.normal(0, 1, 5000), rng.normal(0.5, 1, 5000)
    shift, lo, hi = hodges_lehmann(a, b)
    assert lo < 0.5 < hi and abs(shift - 0.5) < 0.1


# ------------------------------------------------------------------ compare: verdicts and rendering
def test_compare_detects_real_slowdown_and_speedup():
    a, b = pair(1, 200, 200)
    slower = compare(a, b)
    assert slower.verdict == "slower" and slower.ratio_ci[0] > 1 and "slower" in slower.explanation
    faster = compare(b, a)
    assert faster.verdict == "faster" and faster.ratio_ci[1] < 1


def test_compare_equivalence_needs_a_margin_and_a_tight_ci():
    rng = np.random.default_rng(2)
    a, b = rng.lognormal(0, 0.1, 500), rng.lognormal(0, 0.1, 500)
    assert compare(a, b).verdict == "no detectable difference"
    assert compare(a, b, margin=0.05).verdict == "equivalent"
    assert compare(a[:10], b[:10], margin=0.01).verdict != "equivalent"


def test_compare_accepts_measurements_and_renders():
    rng = np.random.default_rng(3)
    ma = Measurement(rng.lognormal(-7, 0.2, 100), label="fp32")
    mb = Measurement(1.2 * rng.lognormal(-7, 0.2, 100), label="int8")
    c = compare(ma, mb)
    assert isinstance(c, Comparison) and c.label_a == "fp32" and c.label_b == "int8"
    assert "int8" in repr(c) and "<table>" in c._repr_html_()
    assert c.caveats and "interleaved runs" in repr(c), "single runs carry the independence caveat"
    assert not compare([ma, ma], [mb, mb]).caveats
    d = json.loads(json.dumps(c.to_dict()))
    assert d["verdict"] == "slower" and len(d["ratio_ci"]) == 2


def test_zero_variance_gives_honest_answers():
    t, df, p = welch_ttest([1.0, 1.0, 1.0], [1.0, 1.0])
    assert (t, p) == (0.0, 1.0)
    t, df, p = welch_ttest([1.0, 1.0, 1.0], [2.0, 2.0])
    assert p == 0.0 and t == -math.inf
    c = compare([1.0] * 5, [2.0] * 5)
    assert c.verdict == "slower" and c.ratio == 2.0 and not math.isnan(c.welch_p)
    assert compare([1.0] * 5, [1.0] * 5).verdict == "no detectable difference"


# ------------------------------------------------------------------ MLPerf / LoadGen
def test_mlperf_sample_size_known_values():
    assert mlperf_sample_size(0.90, 0.99, 0.005) == (23886, 24576)
    assert mlperf_sample_size(0.99, 0.99, 0.0005)[1] == 270336


@pytest.mark.parametrize("p,t,h", [(0.99, 0, 459), (0.99, 1, 661), (0.99, 10, 2000), (0.90, 0, 44), (0.90, 1, 63)])
def test_early_stopping_reproduces_loadgen(p, t, h):
    assert early_stopping_min_passing(t, p) == h
    assert early_stopping(h + t, t, p).passed
    assert not early_stopping(h + t - 1, t, p).passed
    assert early_stopping(h + t - 1, t, p).min_queries == h + t


def test_early_stopping_estimate_is_conservative_and_follows_loadgen():
    lat = np.sort(np.random.default_rng(0).lognormal(0, 0.3, 662))
    res = early_stopping(662, 0, 0.99, latencies=lat)
    assert res.estimate_rank == 1 and res.estimate == lat[-1], "662 queries at p99 allow t=1: the maximum"
    res90 = early_stopping(662, 0, 0.90, latencies=lat)
    t = res90.estimate_rank
    assert early_stopping_min_passing(t, 0.9) + t <= 662 < early_stopping_min_passing(t + 1, 0.9) + t + 1
    assert res90.estimate == lat[662 - t] >= np.quantile(lat, 0.9)
    assert "passed" in repr(res90)


# ------------------------------------------------------------------ pitfall detectors
def test_pitfall_detectors():
    rng = np.random.default_rng(1)
    two = rng.permutation(np.r_[rng.lognormal(0, 0.05, 300), rng.lognormal(0.7, 0.05, 200)])
    assert count_modes(two) == 2 and check_bimodal(two).kind == "multimodal"
    one = rng.lognormal(0, 0.3, 500)
    assert count_modes(one) == 1 and check_bimodal(one) is None
    spiky = np.r_[rng.normal(1, 0.01, 500), [5.0, 6.0, 7.0]]
    assert "3 beyond 3 IQRs" in check_outliers(spiky).explanation
    assert check_outliers(rng.normal(1, 0.01, 500)) is None
    assert check_sample_count(one[:100], 0.99).kind == "too-few-samples"
    assert check_sample_count(one, 0.9) is None
    kinds = [p.kind for p in detect_pitfalls(np.r_[np.full(40, 5.0), rng.lognormal(0, 0.05, 200)], 0.999)]
    assert "warm-up" in kinds and "too-few-samples" in kinds


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("bad,msg", [([], "at least"), ([1.0, np.nan], "NaN"), ([1.0, np.inf], "NaN or infinite"),
                                     ([1.0, -2.0], "negative"), ([[1.0, 2.0]], "one-dimensional"),
                                     (["a", "b"], "sequence of numbers")])
def test_bad_samples_are_clear_errors(bad, msg):
    with pytest.raises(ValueError, match=msg):
        compare(bad, [1.0, 2.0, 3.0])


def test_other_bad_input():
    x = [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        quantile(x, 90)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        quantile_ci(x, 1.0)
    with pytest.raises(ValueError, match="at least 2"):
        welch_ttest([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="strictly positive"):
        ratio_ci([0.0, 1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="p-values"):
        holm([0.5, 1.5])
    with pytest.raises(ValueError, match="non-zero"):
        sample_size(0.0, 0.1)
    with pytest.raises(ValueError, match="n_over_latency"):
        early_stopping(10, 11, 0.9)
    with pytest.raises(ValueError, match="margin"):
        compare(x, x, margin=-0.1)
    assert quantile(np.array([5.0]), 0.9) == 5.0, "a single sample has a well-defined quantile"
    assert samples_of(Measurement(np.array([1.0, 2.0]))).tolist() == [1.0, 2.0]


def test_a_list_of_measurements_is_one_median_per_run():
    runs = [Measurement(np.array([1.0, 2.0, 9.0])), Measurement(np.array([3.0, 4.0, 5.0]))]
    assert samples_of(runs).tolist() == [2.0, 4.0]
    c = compare(runs, [Measurement(np.array([4.0, 4.4])), Measurement(np.array([8.0, 8.8]))])
    assert c.n_a == 2 and c.median_b == pytest.approx((4.2 + 8.4) / 2)
