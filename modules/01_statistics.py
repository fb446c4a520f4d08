# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Statistics: numbers that say how sure they are
#
# Module 00 gave us trustworthy *samples*. This module turns samples into claims: "the p90
# latency is 1.2 ms (95% CI 1.18–1.23 ms)", "the INT8 model is 7% faster (95% CI 5–9%)",
# "no regression within ±2%". Every interval here has the coverage it claims and every p-value
# is a real one, and we check both against scipy and by simulation. Two tempting shortcuts are
# wrong: a "p-value" computed as `2*(1-|t|/(|t|+sqrt(n_a+n_b-2)))`, and 1.96 whatever the sample
# size; we will watch both fail.
#
# 1. Latency distributions: skewed, heavy-tailed; mean, median, min and tails.
# 2. Quantile definitions.
# 3. Confidence intervals for quantiles from order statistics (**exercise 1**).
# 4. The bootstrap, and when it is too narrow (**exercise 2**).
# 5. Comparing two systems: Welch (**exercise 3**), Mann–Whitney, Hodges–Lehmann, ratios with CIs.
# 6. `compare`: a verdict with its evidence; equivalence (TOST) for "no regression".
# 7. The A/A experiment; iterations are not independent samples.
# 8. Multiple comparisons: Holm and Benjamini–Hochberg.
# 9. Sample size: t-based planning, MLPerf's formula, LoadGen's early stopping.
# 10. Pitfall detectors.

# %%
#| default_exp stats

# %%
#| export
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from scipy import special, stats as st

from tinybench.display import format_seconds
from tinybench.checks import check_fraction, check_level, check_number, check_quantile
from tinybench.timing import Measurement, Pitfall, check_drift, detect_warmup

# %% nbgrader={"grade": false, "grade_id": "notebook-setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import time

import torch
from threadpoolctl import threadpool_limits

from tinybench.nbutils import reference_fallback
from tinybench.timing import measure

# Thread pools, set explicitly: numpy's BLAS and torch each start one thread per core, and on a small or shared
# machine the two pools compete for the same cores, so a measurement times the contention instead of the code.
# One thread each keeps the experiments below comparable; the cells where threads are the lesson set their own.
torch.set_num_threads(1)
threadpool_limits(1)
use_reference_if_open = reference_fallback("tinybench.stats")

# %% [markdown]
# If you read the student version with an exercise still open, the cell after each exercise's
# test swaps in tinybench's reference implementation so the rest of the notebook still runs.
# The graded tests always check *your* functions.
#
# Every function here accepts a plain array of samples or a `Measurement` from module 00, and
# rejects what it cannot handle with a `ValueError` that names the problem.

# %%
#| export
def samples_of(x: Any, name: str = "x", min_n: int = 1, positive: bool = False,
               nonnegative: bool = True) -> np.ndarray:
    """1-D float array of the samples in `x`, validated: finite, n >= `min_n`, signs.

    `x` is array-like, a `Measurement` (its samples), or a list of `Measurement`s (one median per run: the
    right unit when runs, not iterations, are the independent replications)."""
    if isinstance(x, Measurement):
        arr = x.samples
    elif isinstance(x, (list, tuple)) and x and all(isinstance(m, Measurement) for m in x):
        arr = [m.median for m in x]
    else:
        arr = x
    try:
        arr = np.asarray(arr, dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a sequence of numbers or a Measurement ({e})") from e
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size < min_n:
        raise ValueError(f"{name} has {arr.size} sample{'s' if arr.size != 1 else ''}; this needs at least {min_n}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name} contains {bad.size} NaN or infinite value(s), the first at index {bad[0]}: "
                         "drop failed runs explicitly before computing statistics")
    if nonnegative and (arr < 0).any():
        raise ValueError(f"{name} contains negative values (min {arr.min():.3g}): latencies cannot be negative")
    if positive and (arr == 0).any():
        raise ValueError(f"{name} contains zeros: a ratio of times needs strictly positive samples")
    return arr

# %% [markdown]
# ## 1. Latency distributions are skewed and heavy-tailed
#
# Time a small PyTorch kernel a few thousand times and look at the shape. There is a hard
# floor (the work itself), most samples sit a little above it, and a long right tail of
# interruptions: scheduler preemption, interrupts, page faults, a sibling process. The mean is
# pulled up by the tail, the median sits with the bulk, the minimum is the best case (a good
# estimate of the work *without* interference, but not what users see), and the p99 describes
# the tail that users *do* see.

# %%
x = torch.randn(128, 128)
m = measure(torch.mm, x, x, min_time=0.3, loops=1)
s = m.samples
print(f"n={m.n}  min {format_seconds(s.min())}  median {format_seconds(np.median(s))}  "
      f"mean {format_seconds(s.mean())}  p99 {format_seconds(np.percentile(s, 99))}  max {format_seconds(s.max())}")
print(f"skewness {st.skew(s):.1f} (0 for a symmetric distribution), excess kurtosis {st.kurtosis(s):.0f} (0 for a normal)")

# %% [markdown]
# ## 2. Quantile definitions
#
# "The 90th percentile of n samples" is ambiguous: it usually falls between two order
# statistics. Hyndman & Fan (1996) list nine definitions; numpy implements them all via
# `method=`. tinybench uses **type 7** (`linear`, numpy's and R's default) for point estimates,
# and order statistics for intervals. At small n the choice matters; at large n it does not. A
# common shortcut, `sorted(x)[int(0.9*n)]`, is none of the standard ones: it is biased upward.
#
# And one scale: everywhere in tinybench a quantile is a **fraction** `q` in [0, 1], named
# `quantile` (`quantile(x, 0.9)`, `Measurement.quantile(0.99)`, `TestSettings(latency_quantile=0.99)`,
# `tinybench plan --quantile 0.99`). "p99" is only a label. Passing 99 where 0.99 is meant raises
# an error that says so, instead of silently returning the 0.99th percentile.

# %%
#| export
def quantile(x: Any, q: float, method: str = "linear") -> float:
    "The `q`-quantile (0 < q < 1) of the samples; `method` as numpy's (default linear = Hyndman-Fan type 7)."
    q = check_quantile(q, open_interval=True)
    return float(np.quantile(samples_of(x), q, method=method))

# %%
small = np.sort(np.random.default_rng(0).lognormal(0, 0.5, 10))
for method in ("inverted_cdf", "hazen", "weibull", "linear", "median_unbiased"):
    print(f"p90 {method:16s} {quantile(small, 0.9, method):.4f}")
print(f"shortcut sorted[int(0.9*n)] = {small[int(0.9 * len(small))]:.4f}")

# %% [markdown]
# ## 3. Confidence intervals for quantiles, from order statistics
#
# How far can the sample p90 be from the true p90? A distribution-free answer: for the true
# quantile $\xi_q$, the number of samples below it, $B$, is Binomial(n, q), whatever the
# distribution. So the interval between order statistics $X_{(l)}$ and $X_{(u)}$ (1-based)
# covers $\xi_q$ exactly when $l \le B < u$, with probability $F_B(u-1) - F_B(l-1)$. Choose $l$
# as the binomial's $\alpha/2$ quantile, the smallest k with $F_B(k) \ge \alpha/2$ (then
# $F_B(l-1) < \alpha/2$), and $u-1$ as the smallest k with $P(B > k) \le \alpha/2$: the coverage is
# **at least** the level, for any continuous distribution, at any n. In 0-based indices into the
# sorted samples these are `lo = l − 1` and `hi = u − 1`, the recipe below. This is what
# `scipy.stats.quantile_test(...).confidence_interval()` does.
#
# ### Exercise 1: `order_stat_indices` (3 points)
#
# Return the 0-based indices `(lo, hi)` into the **sorted** samples of the two-sided
# confidence interval for the `q`-quantile at confidence `level`, with $B \sim$ Binomial(n, q)
# and $a = (1-\text{level})/2$:
#
# - `lo = F⁻¹(a) − 1`, where `F⁻¹(a)` is the smallest k with P(B ≤ k) ≥ a (`scipy.stats.binom.ppf`);
# - `hi =` the smallest k with P(B > k) ≤ a (`scipy.stats.binom.isf`).
#
# Return them as Python ints. `lo` may come out as −1 and `hi` as n: that means the sample is too
# small for that bound (the caller handles it). The test compares with `scipy.stats.quantile_test`.

# %% nbgrader={"grade": false, "grade_id": "order-stat-indices", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def order_stat_indices(n: int, q: float, level: float = 0.95) -> tuple[int, int]:
    "0-based indices (lo, hi) into sorted samples of the distribution-free two-sided CI of the q-quantile."
    n = check_number(n, "n", integer=True, lo=1, hint="the number of samples")
    q, level = check_quantile(q, open_interval=True), check_level(level)
    ### BEGIN SOLUTION
    a = (1 - level) / 2
    binom = st.binom(n, q)
    return int(binom.ppf(a)) - 1, int(binom.isf(a))
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test-order-stat-indices", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
lo, hi = order_stat_indices(100, 0.9, 0.95)
assert (lo, hi) == (83, 95), f"n=100, p90, 95%: expected (83, 95), got {(lo, hi)}"
assert all(isinstance(i, int) for i in (lo, hi)), \
    f"expected Python ints, got ({type(lo).__name__}, {type(hi).__name__})"
xs = np.sort(np.random.default_rng(1).lognormal(0, 1, 60))
ref = st.quantile_test(xs, q=1.0, p=0.9).confidence_interval(0.95)
lo, hi = order_stat_indices(60, 0.9, 0.95)
assert (xs[lo], xs[hi]) == (ref.low, ref.high), \
    f"n=60, p90, 95%: scipy.stats.quantile_test's interval is ({ref.low:.4g}, {ref.high:.4g}), " \
    f"your indices ({lo}, {hi}) give ({xs[lo]:.4g}, {xs[hi]:.4g})"
### BEGIN HIDDEN TESTS
from tinybench.nbutils import assert_own as _assert_own
_assert_own(order_stat_indices, "tinybench.stats")
for n, q, level in [(25, 0.5, 0.95), (500, 0.99, 0.95), (1000, 0.9, 0.99), (7, 0.5, 0.9), (200, 0.1, 0.8)]:
    xs = np.sort(np.random.default_rng(n).exponential(1.0, n))
    ref = st.quantile_test(xs, q=1.0, p=q).confidence_interval(level)
    lo, hi = order_stat_indices(n, q, level)
    got = (xs[lo] if lo >= 0 else np.nan, xs[hi] if hi < n else np.nan)
    assert np.allclose(got, (ref.low, ref.high), equal_nan=True), \
        f"n={n}, q={q}, level={level}: scipy's interval is ({ref.low:.4g}, {ref.high:.4g}), " \
        f"your indices ({lo}, {hi}) give ({got[0]:.4g}, {got[1]:.4g})"
hi = order_stat_indices(10, 0.99, 0.95)[1]
assert hi == 10, f"n=10 is too few samples for an upper bound of p99: expected hi == n == 10, got {hi}"
### END HIDDEN TESTS

# %%
order_stat_indices = use_reference_if_open(order_stat_indices, 10, 0.5)

# %% [markdown]
# The library function wraps the indices and refuses, with the number of samples it would
# need, when a bound does not exist.

# %%
#| export
def smallest_passing(ok: Callable[[int], bool], start: int = 1) -> int:
    "Smallest integer n >= `start` with ok(n), for a monotone `ok` (False ... False True ...): double, then bisect."
    if not callable(ok):
        raise TypeError(f"ok must be a callable n -> bool, got {type(ok).__name__} {ok!r:.60}")
    start = check_number(start, "start", integer=True, lo=1, hint="doubling from 0 or below never grows")
    hi = start
    while not ok(hi):
        hi *= 2
    lo = hi // 2 + 1 if hi > start else start
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def min_samples_for_quantile_ci(q: float, level: float = 0.95) -> int:
    "Smallest n for which the order-statistic CI of the q-quantile at `level` has both bounds."
    q, level = check_quantile(q, open_interval=True), check_level(level)
    def ok(n: int) -> bool:
        lo, hi = order_stat_indices(n, q, level)
        return lo >= 0 and hi < n

    return smallest_passing(ok, 2)


def quantile_ci(x: Any, q: float, level: float = 0.95) -> tuple[float, float]:
    "Distribution-free CI (seconds) for the q-quantile, by order statistics; coverage >= `level` exactly."
    q, level = check_quantile(q, open_interval=True), check_level(level)
    xs = np.sort(samples_of(x))
    lo, hi = order_stat_indices(len(xs), q, level)
    if lo < 0 or hi >= len(xs):
        raise ValueError(f"{len(xs)} samples are too few for a {level:.0%} CI of the {q:g}-quantile: "
                         f"need at least {min_samples_for_quantile_ci(q, level)}")
    return float(xs[lo]), float(xs[hi])


def median_ci(x: Any, level: float = 0.95) -> tuple[float, float]:
    "Distribution-free CI (seconds) for the median."
    return quantile_ci(x, 0.5, level)

# %% [markdown]
# Check the claim by simulation: 2,000 samples of size 100 from a lognormal whose true p90 we
# know; how often does the 95% interval cover it?

# %%
rng = np.random.default_rng(0)
true_p90 = math.exp(st.norm.ppf(0.9) * 0.5)
sims = np.sort(rng.lognormal(0, 0.5, (2000, 100)), axis=1)
lo, hi = order_stat_indices(100, 0.9, 0.95)
coverage = np.mean((sims[:, lo] <= true_p90) & (true_p90 <= sims[:, hi]))
print(f"coverage of the 95% order-statistic CI for p90: {coverage:.3f}")
print(f"samples needed for a 95% CI of p99: {min_samples_for_quantile_ci(0.99)}, of p99.9: {min_samples_for_quantile_ci(0.999)}")

# %% [markdown]
# ## 4. The bootstrap, and when it is too narrow
#
# The bootstrap resamples the data with replacement to see how a statistic varies. It is
# general (ratios, differences, anything) and usually good, but it cannot invent what the sample
# does not contain: for a tail quantile at small n, every resample's p99 is one of the few
# largest observations, so the interval is too narrow. tinybench wraps `scipy.stats.bootstrap`
# (BCa by default, percentile on request), seeded.

# %%
#| export
def bootstrap_ci(data: Any, statistic: Callable[..., float] = np.median, level: float = 0.95,
                 method: str = "bca", n_resamples: int = 9999, seed: int = 0) -> tuple[float, float]:
    "Bootstrap CI of `statistic` over one sample or a tuple of independent samples (scipy.stats.bootstrap), seeded."
    if method not in ("bca", "percentile", "basic"):
        raise ValueError(f"method must be 'bca', 'percentile' or 'basic', got {method!r}")
    level = check_level(level)
    n_resamples = check_number(n_resamples, "n_resamples", integer=True, lo=100)
    groups = data if isinstance(data, tuple) else (data,)
    arrays = tuple(samples_of(g, name=f"sample {i}", min_n=2) for i, g in enumerate(groups))
    if all(np.ptp(a) == 0 for a in arrays):
        value = float(statistic(*arrays))
        return value, value
    res = st.bootstrap(arrays, statistic, confidence_level=level, method=method, n_resamples=n_resamples,
                       rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)

# %% [markdown]
# The experiment: percentile-bootstrap 95% CIs for the p99 of 50 lognormal samples, 300 times.
# The order-statistic method would refuse (it needs 368 samples for p99); the bootstrap happily answers,
# and is wrong far more often than 5% of the time.

# %%
rng = np.random.default_rng(1)
true_p99 = math.exp(st.norm.ppf(0.99))
hits = 0
for _ in range(300):
    sample = rng.lognormal(0, 1, 50)
    boot = np.quantile(rng.choice(sample, (1000, 50)), 0.99, axis=1)
    lo_b, hi_b = np.quantile(boot, [0.025, 0.975])
    hits += lo_b <= true_p99 <= hi_b
print(f"bootstrap 95% CI for p99 at n=50 covers the truth {hits / 300:.0%} of the time")

# %% [markdown]
# ### Exercise 2: `bootstrap_ratio_ci` (3 points)
#
# A speedup is a ratio, so report it with an interval. Implement the **percentile bootstrap**
# CI for `median(b) / median(a)` (candidate over baseline: above 1 means b is slower):
# create `rng = np.random.default_rng(seed)`; `n_resamples` times, resample `a` and `b`
# independently with replacement (each to its own size) and compute the ratio of medians; return
# the `(1−level)/2` and `(1+level)/2` quantiles of those ratios (numpy's default method) as floats.
# The test checks determinism, agreement with `scipy.stats.bootstrap` (percentile), and sense.

# %% nbgrader={"grade": false, "grade_id": "bootstrap-ratio-ci", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def bootstrap_ratio_ci(a: Any, b: Any, level: float = 0.95, n_resamples: int = 2000,
                       seed: int = 0) -> tuple[float, float]:
    "Percentile-bootstrap CI for median(b) / median(a), resampling each sample independently."
    a, b = samples_of(a, "a", min_n=2, positive=True), samples_of(b, "b", min_n=2, positive=True)
    level = check_level(level)
    n_resamples = check_number(n_resamples, "n_resamples", integer=True, lo=100)
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    ra = np.median(rng.choice(a, (n_resamples, a.size)), axis=1)
    rb = np.median(rng.choice(b, (n_resamples, b.size)), axis=1)
    lo, hi = np.quantile(rb / ra, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test-bootstrap-ratio-ci", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
rng = np.random.default_rng(5)
a, b = rng.lognormal(0, 0.3, 200), 1.2 * rng.lognormal(0, 0.3, 200)
ci = bootstrap_ratio_ci(a, b, seed=1)
again = bootstrap_ratio_ci(a, b, seed=1)
assert ci == again, f"the same seed must give the same interval: got {ci}, then {again}"
assert isinstance(ci[0], float), f"expected Python floats, got {type(ci[0]).__name__}"
assert ci[0] < np.median(b) / np.median(a) < ci[1], \
    f"the interval should contain the observed ratio {np.median(b) / np.median(a):.4f}, got {ci}"
ref = st.bootstrap((a, b), lambda x, y, axis=-1: np.median(y, axis=axis) / np.median(x, axis=axis),
                   method="percentile", n_resamples=4000, rng=np.random.default_rng(0)).confidence_interval
assert abs(ci[0] - ref.low) < 0.03 and abs(ci[1] - ref.high) < 0.03, f"scipy says {ref}, you say {ci}"
### BEGIN HIDDEN TESTS
from tinybench.nbutils import assert_own as _assert_own
_assert_own(bootstrap_ratio_ci, "tinybench.stats")
wide = bootstrap_ratio_ci(a[:30], b[:30], seed=2)
narrow = bootstrap_ratio_ci(a, b, seed=2)
assert wide[1] - wide[0] > narrow[1] - narrow[0], \
    f"more data, narrower interval: expected 200 samples to give a narrower interval than 30, got {narrow} and {wide}"
lo90, hi90 = bootstrap_ratio_ci(a, b, level=0.90, seed=3)
lo99, hi99 = bootstrap_ratio_ci(a, b, level=0.99, seed=3)
assert lo99 < lo90 and hi90 < hi99, \
    f"a higher level gives a wider interval: expected 99% to contain 90%, got 90% {(lo90, hi90)}, 99% {(lo99, hi99)}"
same = bootstrap_ratio_ci(a, a.copy(), seed=4)
assert same[0] <= 1.0 <= same[1], f"a sample against itself: expected an interval containing 1, got {same}"
### END HIDDEN TESTS

# %%
bootstrap_ratio_ci = use_reference_if_open(bootstrap_ratio_ci, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
                                          [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], 0.9)  # a level other than 0.95

# %% [markdown]
# ## 5. Comparing two systems
#
# ### Welch's t-test
#
# Is the mean time of b different from a's? Welch's t-test does not assume equal variances
# (which two implementations rarely have): with $v_a = s_a^2/n_a$ and $v_b = s_b^2/n_b$,
# $t = (\bar a - \bar b)/\sqrt{v_a + v_b}$, and the Welch–Satterthwaite degrees of freedom
# $\nu = (v_a+v_b)^2 / \big(v_a^2/(n_a-1) + v_b^2/(n_b-1)\big)$; the two-sided p-value is
# $2\,P(T_\nu > |t|)$ from Student's t distribution, **not** the normal: at small n, 1.96 is
# far too small a critical value.
#
# ### Exercise 3: `welch_ttest` (3 points)
#
# Return `(t, df, p)` as floats for samples `a` and `b`, with the formulas above (sample
# variances with `ddof=1`, p from `scipy.stats.t.sf`). The zero-variance case is handled for you.
# The test compares with `scipy.stats.ttest_ind(a, b, equal_var=False)` to 1e-9.

# %% nbgrader={"grade": false, "grade_id": "welch-ttest", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def welch_ttest(a: Any, b: Any) -> tuple[float, float, float]:
    "Welch's two-sample t-test of mean(a) == mean(b): (t statistic, Welch-Satterthwaite df, two-sided p-value)."
    a, b = samples_of(a, "a", min_n=2, nonnegative=False), samples_of(b, "b", min_n=2, nonnegative=False)
    if a.var() == 0 and b.var() == 0:  # no noise at all: the means either differ or they don't
        diff = a.mean() - b.mean()
        return (0.0 if diff == 0 else math.copysign(math.inf, diff)), float(a.size + b.size - 2), \
            (1.0 if diff == 0 else 0.0)
    ### BEGIN SOLUTION
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    p = 2 * st.t.sf(abs(t), df)
    return float(t), float(df), float(p)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test-welch-ttest", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
rng = np.random.default_rng(11)
a, b = rng.lognormal(0, 0.3, 40), rng.lognormal(0.1, 0.5, 25)
t, df, p = welch_ttest(a, b)
ref = st.ttest_ind(a, b, equal_var=False)
assert math.isclose(t, ref.statistic, rel_tol=1e-9), f"t statistic: scipy gives {ref.statistic!r}, got {t!r}"
assert math.isclose(df, ref.df, rel_tol=1e-9), f"Welch-Satterthwaite df: scipy gives {ref.df!r}, got {df!r}"
assert math.isclose(p, ref.pvalue, rel_tol=1e-9), f"two-sided p-value: scipy gives {ref.pvalue!r}, got {p!r}"
### BEGIN HIDDEN TESTS
from tinybench.nbutils import assert_own as _assert_own
_assert_own(welch_ttest, "tinybench.stats")
for seed, (na, nb) in enumerate([(2, 2), (3, 5), (5, 3), (100, 7)]):
    r = np.random.default_rng(seed)
    a, b = r.exponential(1.0, na), r.exponential(1.5, nb)
    ref = st.ttest_ind(a, b, equal_var=False)
    want, got = (ref.statistic, ref.df, ref.pvalue), welch_ttest(a, b)
    assert np.allclose(got, want, rtol=1e-9, atol=0), \
        f"samples of {na} and {nb}: scipy gives (t, df, p) = {want}, got {got}"
ties = [1.0, 1.0, 2.0, 2.0, 2.0]
ref = st.ttest_ind(ties, [2.0, 3.0, 3.0], equal_var=False)
want, got = (ref.statistic, ref.df, ref.pvalue), welch_ttest(ties, [2.0, 3.0, 3.0])
assert np.allclose(got, want, rtol=1e-9), f"tied samples: scipy gives (t, df, p) = {want}, got {got}"
assert all(isinstance(v, float) for v in got), f"expected three Python floats, got {[type(v).__name__ for v in got]}"
### END HIDDEN TESTS

# %%
welch_ttest = use_reference_if_open(welch_ttest, [1.0, 2.0], [1.0, 3.0])

# %% [markdown]
# The shortcut "p-value" from the introduction, next to the real one. On ordinary data it comes out
# above 1, and it does not depend on the t distribution at all.

# %%
def old_module_pvalue(a, b):
    t, _, _ = welch_ttest(a, b)
    return 2 * (1 - abs(t) / (abs(t) + math.sqrt(len(a) + len(b) - 2)))

rng = np.random.default_rng(2)
a, b = rng.normal(1.0, 0.1, 30), rng.normal(1.0, 0.1, 30)
print(f"old 'p-value' {old_module_pvalue(a, b):.3f}   real Welch p-value {welch_ttest(a, b)[2]:.3f}")
assert old_module_pvalue(a, b) > 1

# %% [markdown]
# And 1.96 instead of the t quantile: at n=10 the interval mean ± 1.96·s/√n covers the true mean
# well below 95% of the time; with `t.ppf(0.975, 9) = 2.26` it covers 95%.

# %%
rng = np.random.default_rng(3)
xs = rng.normal(10.0, 1.0, (20000, 10))
half = xs.std(axis=1, ddof=1) / math.sqrt(10)
err = np.abs(xs.mean(axis=1) - 10.0)
print(f"coverage with 1.96: {np.mean(err <= 1.96 * half):.3f};  with t(9): {np.mean(err <= st.t.ppf(0.975, 9) * half):.3f}")

# %% [markdown]
# ### Rank-based tests and the Hodges–Lehmann shift
#
# Latencies are not normal, and the mean is the statistic the tail moves most. The
# **Mann–Whitney** test asks instead whether one sample tends to be larger than the other,
# using only ranks (robust to outliers; scipy computes exact p-values at small n). Its natural
# estimate of "how much larger" is the **Hodges–Lehmann shift**: the median of all $n_a n_b$
# pairwise differences $b_j - a_i$, with a distribution-free CI (Moses) read off the sorted
# differences at the Mann–Whitney critical values.
#
# Times compare best as **ratios** ("7% faster" means the same on a fast and a slow machine).
# Taking logs turns a ratio into a shift: the Hodges–Lehmann shift of `log b − log a`,
# exponentiated, estimates the time ratio (for a change that scales the whole distribution it is
# the ratio of medians, and of every percentile), and its Moses CI has exact distribution-free
# coverage. That is tinybench's headline speedup number. For means, the ratio's CI comes from
# Fieller's theorem.

# %%
#| export
def _mwu_null_cdf(n: int, m: int) -> np.ndarray:
    "Exact CDF of the Mann-Whitney U statistic under H0 (no ties), from the Gaussian binomial coefficient."
    c = np.zeros(n * m + 1)
    c[0] = 1.0
    for i in range(1, n + 1):
        k = m + i
        if k <= n * m:
            c[k:] = c[k:] - c[:-k].copy()
        for r in range(i):  # divide by (1 - q^i): a running sum with stride i
            c[r::i] = np.cumsum(c[r::i])
    c = np.clip(c, 0, None)
    return np.cumsum(c) / c.sum()


def _moses_rank(n: int, m: int, level: float, exact: bool) -> int:
    "Number c of pairwise differences cut from each end for the Moses CI (0 if no CI exists at this n)."
    alpha = 1 - level
    if exact:
        cdf = _mwu_null_cdf(n, m)
        return int(np.sum(cdf <= alpha / 2))
    z = st.norm.ppf(1 - alpha / 2)
    return max(0, int(math.floor(n * m / 2 - z * math.sqrt(n * m * (n + m + 1) / 12))))


def _subsample(x: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    return x if x.size <= cap else rng.choice(x, cap, replace=False)


def hodges_lehmann(a: Any, b: Any, level: float = 0.95, max_n: int = 2000,
                   seed: int = 0) -> tuple[float, float, float]:
    """Hodges-Lehmann shift of b relative to a (median of all b_j - a_i) and its Moses CI: (shift, lo, hi).

    Exact Mann-Whitney critical values for small samples without ties, the normal approximation otherwise.
    Samples larger than `max_n` are randomly subsampled (seeded) to bound memory; coverage is kept.
    """
    a, b = samples_of(a, "a", min_n=2, nonnegative=False), samples_of(b, "b", min_n=2, nonnegative=False)
    return _hl_shift(a, b, level, max_n, seed)


def _hl_shift(a: np.ndarray, b: np.ndarray, level: float, max_n: int, seed: int) -> tuple[float, float, float]:
    level = check_level(level)
    max_n = check_number(max_n, "max_n", integer=True, lo=2, hint="the largest sample used before subsampling")
    rng = np.random.default_rng(seed)
    a, b = _subsample(a, max_n, rng), _subsample(b, max_n, rng)
    d = np.sort(np.subtract.outer(b, a).ravel())
    n, m = a.size, b.size
    ties = np.unique(np.r_[a, b]).size < n + m
    c = _moses_rank(n, m, level, exact=(not ties and n * m <= 10_000))
    shift = float(np.median(d))
    if c == 0:
        return shift, -math.inf, math.inf
    return shift, float(d[c - 1]), float(d[d.size - c])


def ratio_ci(a: Any, b: Any, level: float = 0.95, max_n: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    "Time ratio b/a (Hodges-Lehmann on log times, exponentiated) and its distribution-free CI: (ratio, lo, hi)."
    a = samples_of(a, "a", min_n=2, positive=True)
    b = samples_of(b, "b", min_n=2, positive=True)
    shift, lo, hi = _hl_shift(np.log(a), np.log(b), level, max_n, seed)
    return math.exp(shift), math.exp(lo), math.exp(hi)


def mean_ratio_ci(a: Any, b: Any, level: float = 0.95) -> tuple[float, float, float]:
    "Ratio of means mean(b)/mean(a) and its Fieller CI with Welch degrees of freedom: (ratio, lo, hi)."
    level = check_level(level)
    a = samples_of(a, "a", min_n=2, positive=True)
    b = samples_of(b, "b", min_n=2, positive=True)
    ma, mb = a.mean(), b.mean()
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    if va + vb == 0:
        return mb / ma, mb / ma, mb / ma
    df = (va + vb) ** 2 / ((va ** 2 / (a.size - 1) if va else 0) + (vb ** 2 / (b.size - 1) if vb else 0))
    t = st.t.ppf(1 - (1 - level) / 2, df)
    qa = ma * ma - t * t * va
    if qa <= 0:  # the baseline mean is not clearly away from zero: the ratio is unbounded
        return mb / ma, 0.0, math.inf
    disc = math.sqrt(max(ma * ma * mb * mb - qa * (mb * mb - t * t * vb), 0.0))
    return mb / ma, (ma * mb - disc) / qa, (ma * mb + disc) / qa

# %% [markdown]
# Coverage check for the ratio CI: two lognormal samples whose true time ratio is 1.10.

# %%
rng = np.random.default_rng(4)
hits = 0
for _ in range(500):
    a, b = rng.lognormal(0, 0.4, 30), 1.10 * rng.lognormal(0, 0.4, 30)
    _, lo_r, hi_r = ratio_ci(a, b)
    hits += lo_r <= 1.10 <= hi_r
print(f"95% ratio CI covers the true ratio 1.10 in {hits / 500:.1%} of 500 trials")

# %% [markdown]
# ## 6. `compare`: a verdict with its evidence
#
# `compare(a, b)` treats `a` as the baseline and `b` as the candidate and reports everything
# above. The **verdict** comes from the ratio CI: entirely above 1 → *slower*, entirely below 1 →
# *faster*, otherwise *no detectable difference*. Because the CI is the inversion of the
# Mann–Whitney test, a verdict of "different" happens at most α of the time when nothing changed.
#
# "No detectable difference" is **not** "no difference". To claim "no regression" you need an
# **equivalence test**: pick a margin (say ±2%) and show the whole (1−2α) CI lies inside it.
# That is TOST (two one-sided tests) in its confidence-interval form; with `margin=` set,
# `compare` can answer *equivalent*.

# %%
#| export
@dataclass(repr=False)
class Comparison:
    "Baseline `a` vs candidate `b`: ratios with CIs, tests, a verdict and a one-line explanation. Times in seconds."
    label_a: str
    label_b: str
    n_a: int
    n_b: int
    median_a: float
    median_b: float
    mean_a: float
    mean_b: float
    ratio: float
    ratio_ci: tuple[float, float]
    mean_ratio: float
    mean_ratio_ci: tuple[float, float]
    diff_means: float
    diff_means_ci: tuple[float, float]
    welch_p: float
    mannwhitney_p: float
    shift: float
    shift_ci: tuple[float, float]
    level: float
    margin: float | None
    equivalence_ci: tuple[float, float] | None
    verdict: str
    explanation: str
    caveats: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        "JSON-ready fields (seconds for times; ratios are b/a)."
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    def __repr__(self) -> str:
        head = f"Comparison({self.label_b} vs {self.label_a}: {self.verdict}) {self.explanation}"
        return "\n".join([head, *(f"  ! {c}" for c in self.caveats)])

    def _repr_html_(self) -> str:
        pct = int(round(self.level * 100))
        rows = [("time ratio b/a (HL, log)", f"{self.ratio:.4f}", f"{self.ratio_ci[0]:.4f} – {self.ratio_ci[1]:.4f}"),
                ("ratio of means", f"{self.mean_ratio:.4f}",
                 f"{self.mean_ratio_ci[0]:.4f} – {self.mean_ratio_ci[1]:.4f}"),
                ("shift b−a (HL)", format_seconds(self.shift),
                 f"{format_seconds(self.shift_ci[0])} – {format_seconds(self.shift_ci[1])}"),
                ("difference of means", format_seconds(self.diff_means),
                 f"{format_seconds(self.diff_means_ci[0])} – {format_seconds(self.diff_means_ci[1])}"),
                ("Welch p", f"{self.welch_p:.3g}", ""), ("Mann–Whitney p", f"{self.mannwhitney_p:.3g}", "")]
        body = "".join(f"<tr><td>{a}</td><td>{b}</td><td>{c}</td></tr>" for a, b, c in rows)
        return (f"<div><b>{self.label_b} vs {self.label_a}: {self.verdict}</b><br><small>{self.explanation}</small>"
                f"<table><tr><th></th><th>estimate</th><th>{pct}% CI</th></tr>{body}</table>"
                f"<small>medians {format_seconds(self.median_a)} vs {format_seconds(self.median_b)}, "
                f"n = {self.n_a} vs {self.n_b}</small>"
                + "".join(f"<br><small style='color:#a33'>! {c}</small>" for c in self.caveats) + "</div>")

# %% [markdown]
# The verdict and its sentence are computed from the numbers, nothing else:

# %%
#| export
def verdict(ci: tuple[float, float], equivalence_ci: tuple[float, float] | None = None, margin: float | None = None,
            p_adjusted: float | None = None, alpha: float = 0.05) -> str:
    """The verdict on a time ratio (candidate / baseline) from its confidence interval `ci`: "equivalent" when the
    (1 − 2α) interval `equivalence_ci` lies within ±`margin` (TOST); "slower" or "faster" when `ci` lies above or
    below 1 (and, given `p_adjusted`, a multiple-comparison-adjusted p-value, only when it is below `alpha`); else
    "no detectable difference"."""
    if margin is not None and equivalence_ci is not None and (
            1 / (1 + margin) <= equivalence_ci[0] and equivalence_ci[1] <= 1 + margin):
        return "equivalent"
    if p_adjusted is not None and not p_adjusted < alpha:
        return "no detectable difference"
    if ci[0] > 1:
        return "slower"
    if ci[1] < 1:
        return "faster"
    return "no detectable difference"


def _explain(c: Comparison) -> str:
    pct = f"{c.level:.0%}"
    r = f"time ratio {c.ratio:.3f} ({pct} CI {c.ratio_ci[0]:.3f}–{c.ratio_ci[1]:.3f})"
    ev = f"Mann–Whitney p={c.mannwhitney_p:.2g}, n={c.n_a}/{c.n_b}"
    if c.verdict == "equivalent":
        lo, hi = c.equivalence_ci
        return (f"{c.label_b} is equivalent to {c.label_a} within ±{c.margin:.1%}: the "
                f"{1 - 2 * (1 - c.level):.0%} CI of the ratio, {lo:.3f}–{hi:.3f}, lies inside the margin ({ev}).")
    if c.verdict in ("slower", "faster"):
        change = abs(c.ratio - 1)
        return f"{c.label_b} is {change:.1%} {c.verdict} than {c.label_a}: {r}; {ev}."
    tail = (f"; not shown equivalent within ±{c.margin:.1%}" if c.margin is not None else
            "; set margin= to test for equivalence")
    return f"no detectable difference between {c.label_b} and {c.label_a}: {r} includes 1; {ev}{tail}."


def compare(a: Any, b: Any, level: float = 0.95, margin: float | None = None, label_a: str | None = None,
            label_b: str | None = None, max_n: int = 2000, seed: int = 0) -> Comparison:
    """Compare baseline `a` with candidate `b` (arrays of seconds or `Measurement`s).

    The verdict is decided by the distribution-free CI of the time ratio b/a at `level`; with `margin`
    (e.g. 0.02 for ±2%), a (1 - 2(1 - level)) CI inside [1/(1+margin), 1+margin] is called equivalent (TOST).
    """
    level = check_level(level)
    if not level > 0.5:
        raise ValueError(f"level must be between 0.5 and 1 (0.95 for 95%), got {level}")
    if margin is not None:
        margin = check_number(margin, "margin", positive=True, hint="a fraction: 0.02 for ±2%, or None")
    la = label_a or (a.label if isinstance(a, Measurement) and a.label else "a")
    lb = label_b or (b.label if isinstance(b, Measurement) and b.label else "b")
    if la == lb:
        la, lb = f"{la} (a)", f"{lb} (b)"
    xa = samples_of(a, "a", min_n=2, positive=True)
    xb = samples_of(b, "b", min_n=2, positive=True)
    ratio, r_lo, r_hi = ratio_ci(xa, xb, level, max_n, seed)
    eq = ratio_ci(xa, xb, 1 - 2 * (1 - level), max_n, seed)[1:] if margin is not None else None
    m_ratio, m_lo, m_hi = mean_ratio_ci(xa, xb, level)
    _, _, p_welch = welch_ttest(xa, xb)
    diff = xb.mean() - xa.mean()
    if xa.var() == 0 and xb.var() == 0:
        d_ci = (diff, diff)
    else:
        d_ci = tuple(float(v) for v in st.ttest_ind(xb, xa, equal_var=False).confidence_interval(level))
    p_mw = 1.0 if np.ptp(np.r_[xa, xb]) == 0 else float(st.mannwhitneyu(xa, xb, alternative="two-sided").pvalue)
    shift, s_lo, s_hi = _hl_shift(xa, xb, level, max_n, seed)
    c = Comparison(la, lb, int(xa.size), int(xb.size), float(np.median(xa)), float(np.median(xb)),
                   float(xa.mean()), float(xb.mean()), ratio, (r_lo, r_hi), float(m_ratio), (float(m_lo), float(m_hi)),
                   float(diff), d_ci, float(p_welch), p_mw, shift, (s_lo, s_hi), level, margin, eq,
                   verdict((r_lo, r_hi), eq, margin), "")
    c.explanation = _explain(c)
    if isinstance(a, Measurement) and isinstance(b, Measurement):
        c.caveats.append("each side is one run: its samples are iterations, not independent replications, so a "
                         "small drift of the machine between the two runs can look significant; compare lists of "
                         "interleaved runs (one median each) or set a margin")
    return c

# %% [markdown]
# Two real kernels: a 256×256 matmul and a 272×272 one. The FLOP count predicts the time ratio
# (272/256)³ ≈ 1.20; the cell prints what this run measured beside it. Look at the interval, not
# only the verdict: a small kernel need not follow its FLOPs exactly (caches, vector widths), and
# on a busy machine one pair of runs can be too noisy to show the difference (the A/A experiment
# below shows why, and the interleaved runs after it what to do).

# %%
A, B = torch.randn(256, 256), torch.randn(272, 272)
ma = measure(torch.mm, A, A, label="mm 256", min_time=0.2)
mb = measure(torch.mm, B, B, label="mm 272", min_time=0.2)
cmp = compare(ma, mb)
print(f"this run measured {cmp.ratio:.2f}× (CI {cmp.ratio_ci[0]:.2f}–{cmp.ratio_ci[1]:.2f}), verdict "
      f"{cmp.verdict!r} — the FLOP ratio predicts {(272 / 256) ** 3:.2f}×")
cmp

# %% [markdown]
# ## 7. The A/A experiment, and what counts as a sample
#
# Compare a function with *itself*. Every "difference" found is a false alarm, and a correct
# procedure raises one in at most α of A/A pairs. Simulated first (where we know nothing changed):

# %%
rng = np.random.default_rng(6)
alarms = sum(compare(rng.lognormal(0, 0.5, 40), rng.lognormal(0, 0.5, 40)).verdict != "no detectable difference"
             for _ in range(400))
print(f"A/A false-alarm rate of compare at alpha=0.05: {alarms / 400:.1%}")

# %% [markdown]
# Now real A/A on this machine: the same kernel measured twice, back to back. With thousands of
# samples per run, a tiny drift of the machine between the two runs (a frequency change, another
# process) is "significant", though the code is identical. The samples *within* one run are not
# independent draws of the thing we care about: they share the process, its memory layout, the
# CPU's state at that moment. Kalibera & Jones ("Rigorous benchmarking in reasonable time",
# 2013) show the variation *between* runs (processes, reboots) usually dominates. So: repeat at
# the level that varies (several processes, or several interleaved runs), summarise each by its
# median, and compare those; and prefer equivalence margins to bare significance.

# %%
m1 = measure(torch.mm, A, A, label="mm 256, run 1", min_time=0.2)
m2 = measure(torch.mm, A, A, label="mm 256, run 2", min_time=0.2)
print(compare(m1, m2, margin=0.05))

# %% [markdown]
# The remedy: several short runs of each, **interleaved** (a, b, a, b, …) so that slow drift hits
# both alike, and one number per run. `compare` accepts a list of `Measurement`s and then uses
# each run's median as one sample. Eight runs each of the same kernel:

# %%
runs_a, runs_b = [], []
for _ in range(8):
    runs_a.append(measure(torch.mm, A, A, min_time=0.03))
    runs_b.append(measure(torch.mm, A, A, min_time=0.03))
print(compare(runs_a, runs_b, label_a="A/A runs 1", label_b="A/A runs 2"))

# %% [markdown]
# Two *separate* runs (yesterday's and today's, each with its own rounds) are not paired round by
# round, so the per-run medians are compared as two independent samples: Welch's t-interval on
# their logarithms, exponentiated, is an interval for the ratio of geometric means (new / old).
# `ratio_of_runs` returns it with its verdict; `tinybench compare` uses it.

# %%
#| export
@dataclass(repr=False)
class RunsRatio:
    """Time ratio new / old of two independent runs (`label_b` / `label_a`), from their round medians in seconds: the
    ratio of geometric means, its Welch t-interval at `level`, the p-value, the (1 − 2α) interval for equivalence
    within ±`margin`, and the verdict (`verdict`)."""
    label_a: str
    label_b: str
    ratio: float
    ratio_ci: tuple[float, float]
    p_value: float
    level: float
    margin: float | None
    equivalence_ci: tuple[float, float]
    verdict: str

    def __repr__(self) -> str:
        lo, hi = self.ratio_ci
        return (f"RunsRatio({self.label_b}/{self.label_a}: {self.ratio:.3f}, {self.level:.0%} CI {lo:.3f}–{hi:.3f}, "
                f"p={self.p_value:.2g}: {self.verdict})")


def _log_welch(old: np.ndarray, new: np.ndarray, level: float) -> tuple[float, tuple[float, float], float]:
    diff = float(new.mean() - old.mean())
    if old.size < 2 or new.size < 2 or (old.var() == 0 and new.var() == 0):
        return math.exp(diff), (math.exp(diff), math.exp(diff)), 1.0 if diff == 0 else 0.0
    t = st.ttest_ind(new, old, equal_var=False)
    lo, hi = t.confidence_interval(level)
    return math.exp(diff), (math.exp(lo), math.exp(hi)), float(t.pvalue)


def ratio_of_runs(old: Sequence[float], new: Sequence[float], level: float = 0.95, margin: float | None = None,
                  labels: tuple[str, str] = ("old", "new")) -> RunsRatio:
    "The time ratio of two independent runs' round medians (seconds, each > 0): see `RunsRatio`."
    a = np.log(samples_of(old, "old", positive=True))
    b = np.log(samples_of(new, "new", positive=True))
    level = check_level(level)
    if margin is not None:
        margin = check_number(margin, "margin", positive=True, hint="a fraction: 0.02 for ±2%, or None")
    ratio, ci, p = _log_welch(a, b, level)
    eq = _log_welch(a, b, 1 - 2 * (1 - level))[1]
    return RunsRatio(labels[0], labels[1], ratio, ci, p, level, margin, eq, verdict(ci, eq, margin, p, 1 - level))

# %%
_rr = ratio_of_runs([1.0, 1.1, 0.95, 1.05], [2.0, 2.2, 1.9, 2.1])
_t = st.ttest_ind(np.log([2.0, 2.2, 1.9, 2.1]), np.log([1.0, 1.1, 0.95, 1.05]), equal_var=False)
assert np.allclose(_rr.ratio_ci, np.exp(_t.confidence_interval(0.95))) and _rr.verdict == "slower"
_rr

# %% [markdown]
# ## 8. Multiple comparisons
#
# A suite comparing 20 kernels at α = 0.05 expects one false alarm even if nothing changed.
# **Holm**'s step-down method controls the family-wise error rate (the chance of *any* false
# alarm) and is uniformly better than Bonferroni; **Benjamini–Hochberg** controls the false
# discovery rate (the expected share of false alarms among the alarms), and keeps more power
# when many things really changed. Both return adjusted p-values to compare with α.

# %%
#| export
def _pvalues(p: Sequence[float]) -> np.ndarray:
    arr = np.asarray(p, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("need a non-empty 1-D sequence of p-values")
    if not np.all((arr >= 0) & (arr <= 1)):
        raise ValueError(f"p-values must lie in [0, 1], got min {np.nanmin(arr)}, max {np.nanmax(arr)} (NaN is not allowed)")
    return arr


def holm(pvalues: Sequence[float]) -> np.ndarray:
    "Holm step-down adjusted p-values (family-wise error control), in the input order."
    p = _pvalues(pvalues)
    order = np.argsort(p)
    m = p.size
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order]).clip(max=1.0)
    out = np.empty(m)
    out[order] = adj
    return out


def benjamini_hochberg(pvalues: Sequence[float]) -> np.ndarray:
    "Benjamini-Hochberg adjusted p-values (false discovery rate control), in the input order."
    p = _pvalues(pvalues)
    order = np.argsort(p)
    m = p.size
    scaled = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(scaled[::-1])[::-1].clip(max=1.0)
    out = np.empty(m)
    out[order] = adj
    return out

# %%
rng = np.random.default_rng(7)
runs, any_raw, any_holm = 200, 0, 0
for _ in range(runs):
    ps = [welch_ttest(rng.normal(size=20), rng.normal(size=20))[2] for _ in range(20)]
    any_raw += min(ps) < 0.05
    any_holm += holm(ps).min() < 0.05
print(f"20 A/A comparisons: at least one false alarm in {any_raw / runs:.0%} of suites raw, {any_holm / runs:.0%} with Holm")

# %% [markdown]
# ## 9. How many samples?
#
# **Planning a comparison.** To detect a relative change δ in the mean time when the
# coefficient of variation (stdev/mean) is `cv`, with a two-sided t-test at α and the given
# power, we need n per side such that the noncentral t distribution (noncentrality
# $\frac{\delta}{cv}\sqrt{n/2}$, $2n-2$ degrees of freedom) exceeds the critical value with
# that probability. `detectable_effect` inverts it.

# %%
#| export
def _t_power(n: float, d: float, alpha: float) -> float:
    df = 2 * n - 2
    crit = st.t.ppf(1 - alpha / 2, df)
    nc = d * math.sqrt(n / 2)
    power = float(st.nct.sf(crit, df, nc) + st.nct.cdf(-crit, df, nc))
    return power if math.isfinite(power) else 1.0  # scipy's nct gives NaN far in the tail, where power is 1


def _check_plan(cv: float, alpha: float, power: float) -> tuple[float, float, float]:
    "cv, alpha, power after checking them (cv > 0, alpha and power fractions)."
    return (check_number(cv, "cv", positive=True, hint="stdev / mean, e.g. 0.1"),
            check_fraction(alpha, "alpha", hint="0.05 for a 5% false-positive rate"),
            check_fraction(power, "power", hint="0.8 for 80% power"))


def sample_size(relative_effect: float, cv: float, alpha: float = 0.05, power: float = 0.8) -> int:
    "Samples per side for a two-sided two-sample t-test to detect a relative change in the mean."
    cv, alpha, power = _check_plan(cv, alpha, power)
    relative_effect = check_number(relative_effect, "relative_effect", hint="0.05 for a 5% change")
    if relative_effect == 0:
        raise ValueError("relative_effect must be non-zero (0.05 for a 5% change)")
    d = abs(relative_effect) / cv
    return smallest_passing(lambda n: _t_power(n, d, alpha) >= power, 2)


def detectable_effect(n: int, cv: float, alpha: float = 0.05, power: float = 0.8) -> float:
    "Smallest relative change in the mean a two-sided t-test with n samples per side detects with `power`."
    cv, alpha, power = _check_plan(cv, alpha, power)
    n = check_number(n, "n", integer=True, lo=2, hint="samples per side")
    from scipy.optimize import brentq
    hi = 0.1
    while _t_power(n, hi, alpha) < power:
        hi *= 2
    d = brentq(lambda d: _t_power(n, d, alpha) - power, 1e-9, hi, xtol=1e-14, rtol=1e-13)
    return float(d * cv)

# %%
print("5% change, cv 10%:", sample_size(0.05, 0.10), "samples per side")
print("with 30 samples per side and cv 10%, detectable change:", f"{detectable_effect(30, 0.10):.1%}")

# %% [markdown]
# **MLPerf's sample count.** To estimate a percentile p within a margin of error MOE with
# confidence C, the normal approximation to the binomial gives
# $n = \Phi^{-1}((1-C)/2)^2 \cdot p(1-p) / \text{MOE}^2$. For p90, C = 99%, MOE = 0.5% that is
# 23,886; MLPerf rounds up to a multiple of 2¹³ = 8,192 and uses 24,576 queries (and 270,336 for
# p99 with MOE 0.05%).

# %%
#| export
def mlperf_sample_size(quantile: float = 0.90, confidence: float = 0.99,
                       margin: float = 0.005) -> tuple[int, int]:
    "Queries to estimate a quantile within `margin` at `confidence`: (exact ceil, MLPerf's multiple of 8192)."
    quantile = check_quantile(quantile, "quantile", open_interval=True)
    confidence = check_fraction(confidence, "confidence", hint="0.99 for 99%")
    margin = check_fraction(margin, "margin", hint="0.005 for ±0.5 percentage points")
    z = st.norm.ppf((1 - confidence) / 2)
    n = math.ceil(z * z * quantile * (1 - quantile) / margin ** 2)
    return n, -(-n // 8192) * 8192

# %%
print(mlperf_sample_size(0.90, 0.99, 0.005), mlperf_sample_size(0.99, 0.99, 0.0005))

# %% [markdown]
# **Early stopping.** LoadGen replaced that fixed count with a test that lets a run stop as soon
# as the data suffice. If t of n queries exceeded the latency bound, the run passes when, were
# the true overlatency rate exactly 1−p, seeing so few overlatency queries would be unlikely:
# the smallest h such that $P(\text{Binomial}(h+t, 1-p) \le t) < 1-c$, with c = 99%, and the run
# needs h + t queries. With no overlatency query at p99 that is 459 queries; with one, 662
# (LoadGen's SingleStream minimum). For SingleStream, LoadGen then reports a *conservative*
# percentile: the largest t with h(t) + t ≤ n queries gives the t-th largest latency.

# %%
#| export
def early_stopping_min_passing(n_over: int, quantile: float, confidence: float = 0.99) -> int:
    "LoadGen's h: smallest number of within-bound queries such that P(Binomial(h+t, 1-p) <= t) < 1-c."
    n_over = check_number(n_over, "n_over", integer=True, nonnegative=True, hint="queries over the latency bound")
    quantile = check_quantile(quantile, "quantile", open_interval=True)
    confidence = check_fraction(confidence, "confidence", hint="0.99 for 99%")

    # special.betainc(h, t + 1, p) = P(Binomial(h + t, 1 - p) <= t)
    return smallest_passing(lambda h: special.betainc(h, n_over + 1, quantile) < 1 - confidence, 1)


@dataclass(repr=False)
class EarlyStopping:
    "LoadGen's early-stopping verdict for a run: queries needed, pass/fail, and the conservative estimate."
    quantile: float
    confidence: float
    n_queries: int
    n_over: int
    min_queries: int
    passed: bool
    estimate: float | None = None
    estimate_rank: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __repr__(self) -> str:
        est = "" if self.estimate is None else f", p{self.quantile * 100:g} estimate {format_seconds(self.estimate)}"
        return (f"EarlyStopping({'passed' if self.passed else 'not yet'}: {self.n_queries} queries, "
                f"{self.n_over} over the bound, {self.min_queries} needed{est})")

    def _repr_html_(self) -> str:
        return f"<code>{self!r}</code>"


def early_stopping(n_queries: int, n_over_latency: int, quantile: float, confidence: float = 0.99,
                   latencies: Any = None) -> EarlyStopping:
    """LoadGen's early-stopping rule. With `latencies` (the run's per-query seconds), also the conservative
    quantile estimate LoadGen reports for SingleStream/MultiStream: the t-th largest latency, t the largest
    count with h(t) + t <= n_queries."""
    n_queries = check_number(n_queries, "n_queries", integer=True, nonnegative=True)
    n_over_latency = check_number(n_over_latency, "n_over_latency", integer=True, nonnegative=True)
    if not n_over_latency <= n_queries:
        raise ValueError(f"need 0 <= n_over_latency <= n_queries, got {n_over_latency} and {n_queries}")
    need = early_stopping_min_passing(n_over_latency, quantile, confidence) + n_over_latency
    res = EarlyStopping(quantile, confidence, n_queries, n_over_latency, need, n_queries >= need)
    if latencies is not None:
        lat = np.sort(samples_of(latencies, "latencies"))
        if lat.size != n_queries:
            raise ValueError(f"got {lat.size} latencies for {n_queries} queries")
        if n_queries >= early_stopping_min_passing(1, quantile, confidence) + 1:
            lo, hi = 1, n_queries  # largest t with h(t) + t <= n (monotone in t)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if early_stopping_min_passing(mid, quantile, confidence) + mid <= n_queries:
                    lo = mid
                else:
                    hi = mid - 1
            res.estimate_rank, res.estimate = lo, float(lat[n_queries - lo])
    return res

# %%
for p, t in ((0.99, 0), (0.99, 1), (0.99, 10), (0.90, 0), (0.90, 1)):
    print(f"p{p * 100:g}, {t} over the bound: h = {early_stopping_min_passing(t, p)}")
lat = np.random.default_rng(8).lognormal(np.log(1e-3), 0.3, 1024)
early_stopping(1024, int(np.sum(lat > 2e-3)), 0.90, latencies=lat)

# %% [markdown]
# ## 10. Pitfall detectors
#
# Module 00's `Measurement` already flags dispersion, drift, warm-up and timer resolution. Here
# are detectors for the statistics themselves, shared with later modules:
#
# - **outliers** by Tukey's fences (beyond Q3 + 1.5·IQR or Q1 − 1.5·IQR): counted and reported,
#   never silently dropped;
# - **bimodality**: two separated modes (e.g. two code paths, or two CPU frequencies) make a
#   median meaningless; found from a kernel density estimate of the log times;
# - **too few samples** for the percentile you want to report with a CI;
# - **trend** and an unfinished **warm-up** changepoint (module 00's detectors, reused).

# %%
#| export
def check_outliers(x: Any, k: float = 1.5) -> Pitfall | None:
    "Samples beyond Tukey's fences (k IQRs outside the quartiles), if more than 2% of them or any beyond 3 IQRs."
    s = samples_of(x, min_n=4)
    k = check_number(k, "k", positive=True, hint="the fence in IQRs, 1.5 by Tukey's rule")
    q1, q3 = np.percentile(s, [25, 75])
    iqr = q3 - q1
    out = (s > q3 + k * iqr) | (s < q1 - k * iqr)
    far = (s > q3 + 3 * iqr) | (s < q1 - 3 * iqr)
    if iqr == 0 or not (out.mean() > 0.02 or far.any()):
        return None
    shift = s.mean() / np.mean(s[~out]) - 1 if (~out).any() else 0.0
    return Pitfall("outliers", f"{out.sum()} of {s.size} samples ({out.mean():.1%}) lie beyond Tukey's fences "
                   f"({format_seconds(q1 - k * iqr)}, {format_seconds(q3 + k * iqr)}), {far.sum()} beyond 3 IQRs; they "
                   f"are kept and move the mean by {shift:+.1%}: report the median and tail percentiles.")


def count_modes(x: Any, min_height: float = 0.1, max_dip: float = 0.6) -> int:
    "Modes of the log-time density (Gaussian KDE): peaks above `min_height` x the tallest, separated by deep dips."
    min_height = check_number(min_height, "min_height", lo=0, hi=1, hint="a fraction of the tallest peak")
    max_dip = check_number(max_dip, "max_dip", lo=0, hi=1, hint="a fraction of the lower peak")
    s = np.log(samples_of(x, min_n=2, positive=True))
    if np.ptp(s) == 0:
        return 1
    grid = np.linspace(s.min(), s.max(), 512)
    dens = st.gaussian_kde(s)(grid)
    peaks = [i for i in range(1, 511) if dens[i] >= dens[i - 1] and dens[i] > dens[i + 1]
             and dens[i] >= min_height * dens.max()]
    if dens[0] > dens[1] and dens[0] >= min_height * dens.max():
        peaks.insert(0, 0)
    if dens[-1] > dens[-2] and dens[-1] >= min_height * dens.max():
        peaks.append(511)
    modes = peaks[:1]
    for p in peaks[1:]:
        if dens[modes[-1]:p + 1].min() <= max_dip * min(dens[modes[-1]], dens[p]):
            modes.append(p)
        elif dens[p] > dens[modes[-1]]:
            modes[-1] = p
    return max(1, len(modes))


def check_bimodal(x: Any) -> Pitfall | None:
    "Two or more well-separated modes in the samples (needs at least 30 samples)."
    s = samples_of(x)
    if s.size < 30 or (s <= 0).any():
        return None
    k = count_modes(s)
    if k < 2:
        return None
    return Pitfall("multimodal", f"the samples have {k} separate modes: the work takes different paths (or the CPU "
                   "changes speed) between calls; a single median hides that; find the cause or report each mode.")


def check_sample_count(x: Any, quantile: float, level: float = 0.95) -> Pitfall | None:
    "Too few samples for a distribution-free CI of `quantile` (a fraction: 0.99 for p99)."
    n, need = samples_of(x).size, min_samples_for_quantile_ci(check_quantile(quantile, "quantile", open_interval=True),
                                                              check_level(level))
    if n >= need:
        return None
    return Pitfall("too-few-samples", f"{n} samples cannot support a {level:.0%} CI for p{quantile * 100:g}: "
                   f"at least {need} are needed; report a lower quantile or measure longer.")


def detect_pitfalls(x: Any, quantile: float | None = None) -> list[Pitfall]:
    "All statistical pitfalls in a sample: outliers, multiple modes, trend, warm-up, too few samples for `quantile`."
    s = samples_of(x, min_n=1)
    found = [check_outliers(s) if s.size >= 4 else None, check_bimodal(s), check_drift(s)]
    d = detect_warmup(s)
    if s.size >= 20 and d > 0.1 * s.size:
        found.append(Pitfall("warm-up", f"the first {d} of {s.size} samples differ from the rest (MSER-5 changepoint): "
                             "discard them or warm up longer."))
    if quantile is not None:
        found.append(check_sample_count(s, quantile))
    return [p for p in found if p is not None]

# %%
rng = np.random.default_rng(9)
two_paths = rng.permutation(np.r_[rng.lognormal(np.log(1e-3), 0.05, 300), rng.lognormal(np.log(2e-3), 0.05, 200)])
for p in detect_pitfalls(two_paths, quantile=0.999):
    print(p)
print("real matmul samples:", [p.kind for p in detect_pitfalls(m.samples, quantile=0.99)])

# %% [markdown]
# ## Summary
#
# - Report the median and tail percentiles with distribution-free CIs from order statistics; know
#   how many samples a tail percentile needs (368 for a 95% CI of p99).
# - The bootstrap is general but too narrow for tail quantiles at small n.
# - Compare systems with a time **ratio and its CI**; a verdict is "faster", "slower", "no detectable
#   difference", or (with a margin) "equivalent". Use t quantiles, never 1.96 at small n.
# - Samples within one run are not independent replications: repeat runs, and expect A/A
#   differences at large n; use equivalence margins.
# - Correct for multiple comparisons (Holm, or Benjamini–Hochberg for many changes).
# - Plan n from the effect you need to see, and use LoadGen's early stopping for percentile claims.
