# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · A/B testing: shipping a new model version safely, and catching regressions
#
# "Is model B better, and is it safe to ship?" is the question behind every benchmark. Module 01
# compared two sets of timings offline. Here the comparison happens **online**, on live traffic
# split between two versions, and over time, against a stored baseline:
#
# 1. offline comparison versus online A/B;
# 2. randomisation, and the sample-ratio mismatch that says the split itself is broken
#    (**exercise 1**);
# 3. power: how many requests before an effect of a given size can be seen;
# 4. the peeking problem, by simulation (**exercise 2**);
# 5. tests that allow peeking: mSPRT confidence sequences and group-sequential boundaries;
# 6. guardrail metrics as one-sided non-inferiority tests;
# 7. `ABTest`: routing, recording and a recommendation that cites its evidence;
# 8. interleaved (ABBA) runs that cancel machine drift;
# 9. regression detection against a stored baseline, with a test and a tolerance (**exercise 3**).

# %%
#| default_exp abtest

# %%
#| export
from __future__ import annotations

import contextlib
import hashlib
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from scipy import stats as st

from tinybench.stats import compare, ratio_ci, samples_of, smallest_passing
from tinybench.display import format_seconds
from tinybench.checks import all_finite, check_fraction, check_level, check_number
from tinybench.timing import Measurement, measure

# %% nbgrader={"grade": false, "grade_id": "notebook-setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import torch
from threadpoolctl import threadpool_limits

from tinybench.nbutils import reference_fallback
from tinybench.workloads import default_workload

# Thread pools, set explicitly: numpy's BLAS and torch each start one thread per core, and on a small or shared
# machine the two pools compete for the same cores, so a measurement times the contention instead of the code.
# One thread each keeps the experiments below comparable; the cells where threads are the lesson set their own.
torch.set_num_threads(1)
threadpool_limits(1)
use_reference_if_open = reference_fallback("tinybench.abtest")
workload = default_workload()
digits = workload.data

# %% [markdown]
# ## 1. Offline comparison versus online A/B
#
# Offline, you run both versions on the same inputs on one machine: module 01's `compare` on
# their timings, accuracy on a held-out set. That isolates the model, and misses everything the
# model meets in production: real inputs, real load, real clients. Online, live requests are
# split at random between the versions and the metrics users feel are compared. Randomisation
# is what makes the comparison causal: any difference between the arms beyond chance is due to
# the version, because nothing else decides who gets which. Both matter: offline first (cheap,
# controlled), then online (real), and the online experiment must be designed, checked and read
# correctly, which is this notebook.
#
# ## 2. Randomisation and the sample-ratio mismatch
#
# A router assigns each request to an arm. The assignment must be random with respect to
# everything that affects the metrics, and deterministic per request (a retried request must
# land in the same arm): hash the request id with a seed into [0, 1) and compare with the
# split (the fraction of traffic for B).

# %%
#| export
def assign_arm(request_id: Any, split: float = 0.5, seed: int = 0) -> str:
    "'B' for a fraction `split` of request ids, 'A' otherwise: a seeded hash, the same arm on every call."
    split = check_fraction(split, "split", hint="the fraction of traffic for B: 0.5 for an even split")
    h = hashlib.blake2b(f"{seed}:{request_id}".encode(), digest_size=8).digest()
    return "B" if int.from_bytes(h, "big") / 2**64 < split else "A"

# %%
arms = [assign_arm(i, 0.2, seed=1) for i in range(100_000)]
print(f"share of B: {arms.count('B') / len(arms):.4f} (intended 0.2)")
assert assign_arm(12345, 0.2, seed=1) == arms[12345], "deterministic per request"

# %% [markdown]
# If the split is 50/50, the arms should have about equal counts; how unequal can they be by
# chance? A **sample-ratio mismatch** (SRM) check is a chi-square goodness-of-fit test of the
# observed counts against the intended split. When it fails, something other than chance decides
# which requests are counted: B crashes on some inputs and those requests are never logged, a
# cache serves A's repeat visitors, a bot hits one arm. The metrics of such an experiment are
# not comparable, whatever they say. Experimentation platforms flag SRM at p < 0.001 (a strict
# threshold, because the check runs on every experiment and a false alarm stops it).
#
# ### Exercise 1: `srm_test` (2 points)
#
# Return `(statistic, p_value)` of the chi-square goodness-of-fit test of the observed counts
# `n_a` and `n_b` against the expected counts `n·(1 − split)` and `n·split` (`n = n_a + n_b`):
# the statistic is `Σ (observed − expected)² / expected`, and the p-value its upper tail under a
# chi-square distribution with 1 degree of freedom (`scipy.stats.chi2.sf`). The test compares
# with `scipy.stats.chisquare`.

# %% nbgrader={"grade": false, "grade_id": "srm-test", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def srm_test(n_a: int, n_b: int, split: float = 0.5) -> tuple[float, float]:
    "Chi-square test of arm counts (n_a, n_b) against the intended split (fraction to B): (statistic, p-value)."
    split = check_fraction(split, "split", hint="the fraction of traffic for B: 0.5 for an even split")
    n_a = check_number(n_a, "n_a", integer=True, nonnegative=True, hint="requests counted in arm A")
    n_b = check_number(n_b, "n_b", integer=True, nonnegative=True, hint="requests counted in arm B")
    if n_a + n_b == 0:
        raise ValueError("the counts n_a and n_b are both 0: a sample-ratio test needs at least one request")
    ### BEGIN SOLUTION
    n = n_a + n_b
    expected = np.array([n * (1 - split), n * split])
    observed = np.array([n_a, n_b])
    stat = float(((observed - expected) ** 2 / expected).sum())
    return stat, float(st.chi2.sf(stat, 1))
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test-srm-test", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
ref = st.chisquare([5050, 4950], [5000, 5000])
got = srm_test(5050, 4950)
assert np.allclose(got, (ref.statistic, ref.pvalue)), \
    f"srm_test(5050, 4950): scipy.stats.chisquare gives (statistic, p) = {(ref.statistic, ref.pvalue)}, got {got}"
got = srm_test(5000, 5000)
assert got == (0.0, 1.0), f"srm_test(5000, 5000), a perfect split: expected (0.0, 1.0), got {got}"
### BEGIN HIDDEN TESTS
from tinybench.nbutils import assert_own as _assert_own
_assert_own(srm_test, "tinybench.abtest")
for n_a, n_b, split in [(8000, 2100, 0.2), (790, 210, 0.2), (1, 0, 0.5), (123, 456, 0.7)]:
    n = n_a + n_b
    ref = st.chisquare([n_a, n_b], [n * (1 - split), n * split])
    got = srm_test(n_a, n_b, split)
    assert np.allclose(got, (ref.statistic, ref.pvalue)), \
        f"srm_test({n_a}, {n_b}, split={split}): scipy gives {(ref.statistic, ref.pvalue)}, got {got}"
got = srm_test(10_300, 9_700)[1]
assert got < 0.001, f"a 51.5/48.5 split of 20,000 is a mismatch: expected p < 0.001, got {got:.3g}"
### END HIDDEN TESTS

# %%
srm_test = use_reference_if_open(srm_test, 60, 40)

# %% [markdown]
# An experiment: B crashes on 3% of its requests and the logging pipeline only records completed
# requests. Over 200,000 requests, B's share of the logs drops from 50% to about 49.2%, which
# looks harmless; the SRM check says the experiment is broken:

# %%
rng = np.random.default_rng(0)
routed = np.array([assign_arm(i, 0.5, seed=7) for i in range(200_000)])
logged_b = np.sum((routed == "B") & (rng.random(routed.size) > 0.03))
print(f"logged: A {np.sum(routed == 'A')}, B {logged_b}; SRM p = {srm_test(np.sum(routed == 'A'), logged_b)[1]:.2g}")

# %% [markdown]
# ## 3. Power: how much traffic before an answer?
#
# Before starting, decide the smallest effect worth detecting (say 5% lower latency) and compute
# how many requests each arm needs for a test at level α to detect it with probability `power`
# (module 01's `sample_size`, a two-sample t-test). An uneven split costs samples: with a 20%
# canary, the experiment needs more requests in total than 50/50, because the small arm bounds
# the precision. `plan_experiment` says how many requests per arm, in total, and how long at a
# given traffic rate.

# %%
#| export
def _t_power_unequal(n_a: int, ratio: float, d: float, alpha: float) -> float:
    "Power of a two-sided two-sample t-test with n_a and ratio·n_a samples at standardized effect d."
    n_b = ratio * n_a
    df = n_a + n_b - 2
    nc = d / math.sqrt(1 / n_a + 1 / n_b)
    crit = st.t.ppf(1 - alpha / 2, df)
    p = float(st.nct.sf(crit, df, nc) + st.nct.cdf(-crit, df, nc))
    return p if math.isfinite(p) else 1.0


@dataclass(repr=False)
class ExperimentPlan:
    "Samples needed per arm to detect `relative_effect` in a metric with coefficient of variation `cv`."
    relative_effect: float
    cv: float
    alpha: float
    power: float
    split: float
    n_a: int
    n_b: int
    requests_per_s: float | None = None

    @property
    def n_total(self) -> int:
        return self.n_a + self.n_b

    @property
    def duration(self) -> float | None:
        "Seconds of traffic needed at `requests_per_s` (None if no rate was given)."
        return None if not self.requests_per_s else self.n_total / self.requests_per_s

    def to_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__}, "n_total": self.n_total,
                "duration": self.duration}

    def __repr__(self) -> str:
        d = f", {self.duration:,.0f} s at {self.requests_per_s:g} requests/s" if self.duration else ""
        return (f"ExperimentPlan({self.n_a:,} A + {self.n_b:,} B = {self.n_total:,} requests to detect a "
                f"{self.relative_effect:.1%} change (cv {self.cv:g}) with power {self.power:.0%} at α={self.alpha:g}{d})")

    def _repr_html_(self) -> str:
        return f"<pre>{self!r}</pre>"


def plan_experiment(relative_effect: float, cv: float, alpha: float = 0.05, power: float = 0.8, split: float = 0.5,
                    requests_per_s: float | None = None) -> ExperimentPlan:
    "Requests per arm for a two-sided t-test to detect a relative change in a mean (B gets a fraction `split`)."
    split = check_fraction(split, "split", hint="the fraction of traffic for B: 0.5 for an even split")
    relative_effect = check_number(relative_effect, "relative_effect", hint="0.05 for a 5% change")
    if relative_effect == 0:
        raise ValueError("relative_effect must be non-zero (0.05 for a 5% change), got 0")
    cv = check_number(cv, "cv", positive=True, hint="the metric's stdev / mean, e.g. 0.3")
    alpha = check_fraction(alpha, "alpha", hint="0.05 for a 5% false-positive rate")
    power = check_fraction(power, "power", hint="0.8 for 80% power")
    if requests_per_s is not None:
        requests_per_s = check_number(requests_per_s, "requests_per_s", positive=True,
                                      hint="traffic in requests per second, or None")
    ratio, d = split / (1 - split), abs(relative_effect) / cv
    n_a = smallest_passing(lambda n: _t_power_unequal(n, ratio, d, alpha) >= power, 2)
    return ExperimentPlan(relative_effect, cv, alpha, power, split, n_a, math.ceil(ratio * n_a), requests_per_s)

# %%
print(plan_experiment(0.05, cv=0.3))
print(plan_experiment(0.05, cv=0.3, split=0.2, requests_per_s=50))

# %% [markdown]
# ## 4. The peeking problem
#
# A dashboard shows the p-value every hour; the experimenter stops as soon as it drops below
# 0.05. Each look is a test at 5%, but the chance that *at least one* of several looks crosses
# the line by chance is larger than 5%: with five looks it is about 14%. The p-value of a
# fixed-sample test is valid only at the one sample size planned in advance.
#
# ### Exercise 2: `peeking_false_positive_rate` (3 points)
#
# Simulate `n_sims` A/A experiments (both arms draw from the same normal distribution, so every
# "significant" result is a false positive). The data are given: `a` and `b`, arrays of shape
# `(n_sims, looks * n_per_look)` of standard normal draws. At each look `k = 1..looks`, with
# `n = k · n_per_look` observations per arm so far, compute the z statistic of the difference of
# the means, `(mean(b[:, :n]) − mean(a[:, :n])) / sqrt(2 / n)` (the variance is known to be 1).
# Return the fraction of experiments in which `|z| > z_crit` at **any** look. Vectorise over
# the simulations (cumulative sums), no Python loop over them: the test runs 4,000 experiments.

# %% nbgrader={"grade": false, "grade_id": "peeking", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def peeking_false_positive_rate(looks: int, n_per_look: int, n_sims: int = 4000, z_crit: float = 1.96,
                                seed: int = 0) -> float:
    "Fraction of simulated A/A experiments called significant at any of `looks` equally spaced looks."
    looks = check_number(looks, "looks", integer=True, lo=1)
    n_per_look = check_number(n_per_look, "n_per_look", integer=True, lo=1)
    n_sims = check_number(n_sims, "n_sims", integer=True, lo=1)
    z_crit = check_number(z_crit, "z_crit", positive=True, hint="1.96 for a two-sided 5% test")
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n_sims, looks * n_per_look))
    b = rng.standard_normal((n_sims, looks * n_per_look))
    ### BEGIN SOLUTION
    n = n_per_look * np.arange(1, looks + 1)
    mean_a = np.cumsum(a, axis=1)[:, n - 1] / n
    mean_b = np.cumsum(b, axis=1)[:, n - 1] / n
    z = (mean_b - mean_a) / np.sqrt(2 / n)
    return float(np.mean(np.any(np.abs(z) > z_crit, axis=1)))
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test-peeking", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
one = peeking_false_positive_rate(1, 100)
assert abs(one - 0.05) < 0.012, f"one look is a plain 5% test, got {one:.3f}"
five = peeking_false_positive_rate(5, 100)
assert 0.12 < five < 0.165, f"five looks at 1.96 give about 14%, got {five:.3f}"
### BEGIN HIDDEN TESTS
from tinybench.nbutils import assert_own as _assert_own
_assert_own(peeking_false_positive_rate, "tinybench.abtest")
_rng = np.random.default_rng(3)
_a, _b = _rng.standard_normal((4000, 30)), _rng.standard_normal((4000, 30))
_n = 10 * np.arange(1, 4)
_z = (np.cumsum(_b, 1)[:, _n - 1] / _n - np.cumsum(_a, 1)[:, _n - 1] / _n) / np.sqrt(2 / _n)
_want, _got = float(np.mean(np.any(np.abs(_z) > 1.96, axis=1))), peeking_false_positive_rate(3, 10, seed=3)
assert _got == _want, f"3 looks of 10, seed 3: expected exactly {_want} (the same draws, z-tests at each look), got {_got}"
_ten, _two = peeking_false_positive_rate(10, 50, n_sims=2000), peeking_false_positive_rate(2, 50, n_sims=2000)
assert _ten > _two, f"more looks, more false positives: expected 10 looks > 2 looks, got {_ten} and {_two}"
_got = peeking_false_positive_rate(5, 20, z_crit=10.0, n_sims=500)
assert _got == 0.0, f"z_crit=10 is never crossed: expected 0.0, got {_got}"
### END HIDDEN TESTS

# %%
peeking_false_positive_rate = use_reference_if_open(peeking_false_positive_rate, 3, 10, 200)

# %%
for looks in (1, 2, 5, 10, 20):
    print(f"{looks:3d} looks: false-positive rate {peeking_false_positive_rate(looks, 50, n_sims=4000):.3f}")

# %% [markdown]
# ## 5. Tests that allow peeking
#
# Two remedies. **Group-sequential designs** fix the number of looks in advance and raise the
# bar at each: Pocock uses the same, higher z threshold at every look; O'Brien–Fleming starts
# very strict and ends near 1.96, so the final look keeps almost all its power. The thresholds
# solve `P(|Z_k| > b_k at some look k) = α` for the joint normal distribution of the look
# statistics (correlation `sqrt(k/j)` between looks `k < j`), which scipy integrates.

# %%
#| export
def group_sequential_bounds(looks: int, alpha: float = 0.05, kind: str = "obrien-fleming") -> np.ndarray:
    """Two-sided z thresholds for `looks` equally spaced looks with overall type-I error `alpha`.

    kind 'pocock': one constant threshold; 'obrien-fleming': c·sqrt(looks/k) at look k."""
    from scipy.optimize import brentq
    looks = check_number(looks, "looks", integer=True, lo=1)
    alpha = check_fraction(alpha, "alpha", hint="0.05 for a 5% false-positive rate")
    if kind not in ("pocock", "obrien-fleming"):
        raise ValueError(f"kind must be 'pocock' or 'obrien-fleming', got {kind!r}")
    k = np.arange(1, looks + 1)
    shape = np.ones(looks) if kind == "pocock" else np.sqrt(looks / k)
    if looks == 1:
        return np.array([st.norm.ppf(1 - alpha / 2)])
    cov = np.sqrt(np.minimum.outer(k, k) / np.maximum.outer(k, k))
    mvn = st.multivariate_normal(mean=np.zeros(looks), cov=cov, seed=0)

    def excess(c: float) -> float:  # P(cross somewhere) − alpha
        b = c * shape
        return 1 - mvn.cdf(b, lower_limit=-b) - alpha

    c = brentq(excess, st.norm.ppf(1 - alpha / 2) * 0.5, 10.0, xtol=1e-6)
    return c * shape

# %%
print("Pocock        ", np.round(group_sequential_bounds(5, kind="pocock"), 3))
print("O'Brien-Flem. ", np.round(group_sequential_bounds(5), 3))

# %% [markdown]
# **Always-valid inference** drops the fixed schedule: look after every request if you like. The
# mixture sequential probability ratio test (mSPRT; Johari et al., "Always valid inference",
# 2017) compares the likelihood of the data under "no difference" with its average over a normal
# prior `N(0, τ²)` for the difference θ = mean(B) − mean(A). With `v` the variance of the
# observed difference `d` (`s_A²/n_A + s_B²/n_B`), the mixture likelihood ratio against θ₀ is
#
# `Λ(θ₀) = sqrt(v / (v + τ²)) · exp( τ² (d − θ₀)² / (2 v (v + τ²)) )`
#
# and by Ville's inequality `P(Λ ever exceeds 1/α) ≤ α` under θ₀. So: reject "no difference" the
# first time `Λ(0) ≥ 1/α`; the always-valid p-value is the running minimum of `1/Λ(0)`; and the
# set of θ₀ not rejected, `|d − θ₀| < sqrt(2 v (v + τ²)/τ² · (ln(1/α) + ½ ln((v + τ²)/v)))`, is a
# **confidence sequence**: it covers θ at every sample size simultaneously. The price is width:
# at a fixed n it is wider than the t-interval. τ sets which effects the test is most sensitive
# to; by default tinybench takes the pooled standard deviation of one observation (a prior of
# one standard deviation), and the variance is estimated from the data, after a minimum of
# `min_samples` per arm.

# %%
#| export
@dataclass(repr=False)
class SequentialState:
    "State of a SequentialTest after an update: difference B − A, its confidence sequence, always-valid p."
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    diff: float
    ci: tuple[float, float]
    p_value: float
    decision: str
    alpha: float

    @property
    def stop(self) -> bool:
        return self.decision != "continue"

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def __repr__(self) -> str:
        return (f"SequentialState({self.decision}: B − A = {self.diff:.4g} [{self.ci[0]:.4g}, {self.ci[1]:.4g}] "
                f"({1 - self.alpha:.0%} confidence sequence), always-valid p = {self.p_value:.3g}, "
                f"n = {self.n_a}/{self.n_b})")

    def _repr_html_(self) -> str:
        return f"<pre>{self!r}</pre>"


class SequentialTest:
    """Always-valid two-sample test of mean(B) − mean(A) (mSPRT with a normal mixture): check after every batch.

    `update(a, b)` adds observations and returns a `SequentialState`; once `decision` is not 'continue' it stays."""
    def __init__(self, alpha: float = 0.05, tau: float | None = None, min_samples: int = 10):
        alpha = check_fraction(alpha, "alpha", hint="0.05 for a 5% false-positive rate")
        if tau is not None:
            tau = check_number(tau, "tau", positive=True, hint="the prior scale of the difference, or None")
        min_samples = check_number(min_samples, "min_samples", integer=True, lo=0)
        self.alpha, self.tau, self.min_samples = alpha, tau, max(2, min_samples)
        self._sums = {"A": np.zeros(3), "B": np.zeros(3)}  # count, sum, sum of squares
        self._p, self._decision = 1.0, "continue"

    def __repr__(self) -> str:
        return f"SequentialTest(alpha={self.alpha}, tau={self.tau}, decision={self._decision!r})"

    def _moments(self, arm: str) -> tuple[int, float, float]:
        n, s, ss = self._sums[arm]
        mean = s / n if n else math.nan
        var = (ss - n * mean * mean) / (n - 1) if n > 1 else math.nan
        return int(n), mean, max(var, 0.0)

    def update(self, a: Sequence[float] = (), b: Sequence[float] = ()) -> SequentialState:
        "Add observations of arm A and arm B (either may be empty) and return the current state."
        for arm, x in (("A", a), ("B", b)):
            x = np.asarray(x, dtype=float).ravel()
            if x.size and not np.isfinite(x).all():
                raise ValueError(f"arm {arm} has NaN or infinite observations")
            self._sums[arm] += (x.size, x.sum(), (x * x).sum())
        (na, ma, va), (nb, mb, vb) = self._moments("A"), self._moments("B")
        d = mb - ma if na and nb else math.nan
        if min(na, nb) < self.min_samples:
            return SequentialState(na, nb, ma, mb, d, (-math.inf, math.inf), self._p, self._decision, self.alpha)
        v = va / na + vb / nb
        tau2 = self.tau ** 2 if self.tau else ((na - 1) * va + (nb - 1) * vb) / (na + nb - 2)
        if v == 0 or tau2 == 0:  # no noise at all: nothing to infer from
            return SequentialState(na, nb, ma, mb, d, (d, d), self._p, self._decision, self.alpha)
        log_lr = 0.5 * math.log(v / (v + tau2)) + tau2 * d * d / (2 * v * (v + tau2))
        self._p = min(self._p, math.exp(-log_lr) if log_lr < 700 else 0.0)
        half = math.sqrt(2 * v * (v + tau2) / tau2 * (math.log(1 / self.alpha) + 0.5 * math.log((v + tau2) / v)))
        if self._decision == "continue" and self._p <= self.alpha:
            self._decision = "B > A" if d > 0 else "B < A"
        return SequentialState(na, nb, ma, mb, d, (d - half, d + half), self._p, self._decision, self.alpha)

# %% [markdown]
# The same A/A simulation as above, now with the mSPRT checked after **every** batch of 10
# requests per arm, 50 times: the false-positive rate stays under α. And with a real 10% effect
# the test stops, early, on the right side.

# %%
def sequential_fpr(effect=0.0, sims=400, batches=50, per=10, seed=1):
    rng, stops, right, when = np.random.default_rng(seed), 0, 0, []
    for _ in range(sims):
        t = SequentialTest(alpha=0.05)
        for k in range(batches):
            s = t.update(rng.normal(1.0, 0.3, per), rng.normal(1.0 + effect, 0.3, per))
            if s.stop:
                stops += 1
                right += s.decision == "B > A"
                when.append((k + 1) * per)
                break
    return stops / sims, right, when


fpr, _, _ = sequential_fpr()
power, right, when = sequential_fpr(effect=0.1)
print(f"A/A: stopped (false positive) in {fpr:.1%} of experiments, peeking 50 times")
print(f"10% effect: stopped in {power:.0%} of experiments, {right} on the right side, median at n = {np.median(when):.0f} per arm")

# %% [markdown]
# ## 6. Guardrails: "not worse" is a different question
#
# The primary metric decides whether B is *better*. **Guardrail** metrics (latency, error rate,
# accuracy when the primary is something else) must not get *worse* beyond a margin. "No
# significant difference" does not show that: a tiny experiment never finds one. A guardrail is a
# **one-sided non-inferiority test**: B passes when the upper end of a one-sided 95% bound for
# "how much worse" is inside the margin. For latency that is the ratio B/A (module 01's
# Hodges–Lehmann ratio, its 90% two-sided interval giving the one-sided 95% bound); for a rate
# (errors, accuracy) it is the difference of proportions with Newcombe's hybrid score interval,
# built from the two arms' Wilson intervals.

# %%
#| export
def wilson_ci(x: int, n: int, level: float = 0.95) -> tuple[float, float]:
    "Wilson score interval for a proportion x/n."
    n = check_number(n, "n", integer=True, lo=1, hint="the number of trials")
    x = check_number(x, "x", integer=True, lo=0, hi=n, hint="the number of successes, at most n")
    level = check_level(level)
    z = st.norm.ppf(1 - (1 - level) / 2)
    p = x / n
    den = 1 + z * z / n
    center = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return center - half, center + half


def proportion_diff_ci(x_b: int, n_b: int, x_a: int, n_a: int, level: float = 0.95) -> tuple[float, float, float]:
    "Difference of proportions x_b/n_b − x_a/n_a and its Newcombe hybrid score CI: (diff, lo, hi)."
    n_b, n_a = check_number(n_b, "n_b", integer=True, lo=1), check_number(n_a, "n_a", integer=True, lo=1)
    x_b = check_number(x_b, "x_b", integer=True, lo=0, hi=n_b, hint="successes in B, at most n_b")
    x_a = check_number(x_a, "x_a", integer=True, lo=0, hi=n_a, hint="successes in A, at most n_a")
    pb, pa = x_b / n_b, x_a / n_a
    lb, ub = wilson_ci(x_b, n_b, level)
    la, ua = wilson_ci(x_a, n_a, level)
    d = pb - pa
    return d, d - math.sqrt((pb - lb) ** 2 + (ua - pa) ** 2), d + math.sqrt((ub - pb) ** 2 + (pa - la) ** 2)

# %%
#| export
@dataclass
class GuardrailResult:
    "A one-sided non-inferiority test: B is not worse than A by more than `margin` (bound at 95% one-sided)."
    metric: str
    estimate: float
    bound: float
    margin: float
    kind: str  # 'ratio' (B/A, lower is better) or 'diff-lower' / 'diff-higher' (B − A of a rate)
    passed: bool
    evidence: str


def latency_guardrail(a: Any, b: Any, margin: float = 0.10, level: float = 0.95) -> GuardrailResult:
    "B's latency is not more than `margin` (fraction) above A's: the one-sided `level` upper bound of the ratio B/A."
    margin = check_number(margin, "margin", nonnegative=True, hint="a fraction: 0.10 for 10% slower")
    level = check_level(level)
    r, _, hi = ratio_ci(a, b, level=1 - 2 * (1 - level))
    ok = hi <= 1 + margin
    return GuardrailResult("latency", r, hi, margin, "ratio", ok,
                           f"latency ratio B/A {r:.3f}, one-sided {level:.0%} upper bound {hi:.3f} "
                           f"{'≤' if ok else '>'} {1 + margin:.3f}")


def rate_guardrail(metric: str, x_a: int, n_a: int, x_b: int, n_b: int, margin: float, higher_is_better: bool,
                   level: float = 0.95) -> GuardrailResult:
    "B's rate (errors: lower is better; accuracy: higher) is not worse than A's by more than `margin` (absolute)."
    margin = check_number(margin, "margin", nonnegative=True, hi=1, hint="an absolute rate: 0.01 for one point")
    level = check_level(level)
    d, lo, hi = proportion_diff_ci(x_b, n_b, x_a, n_a, level=1 - 2 * (1 - level))
    ok = lo >= -margin if higher_is_better else hi <= margin
    bound = lo if higher_is_better else hi
    word = "lower" if higher_is_better else "upper"
    return GuardrailResult(metric, d, bound, margin, "diff-higher" if higher_is_better else "diff-lower", ok,
                           f"{metric} B − A {d:+.4f}, one-sided {level:.0%} {word} bound {bound:+.4f} "
                           f"{'within' if ok else 'outside'} the margin {'-' if higher_is_better else '+'}{margin:.4f}")

# %% [markdown]
# ## 7. `ABTest`: route, record, check, recommend
#
# `ABTest` puts the pieces together. It routes each request with `assign_arm`, times each model
# call with the wall clock (the latency a client sees, excluding the network), counts errors (a
# model that raises is an error of that arm, and the experiment goes on), and, when a label comes
# with the request, counts correct predictions. `analyze` checks the split first (SRM), then the
# guardrails, then the primary metric, and turns them into a recommendation that cites every
# number it used: **don't ship** (broken split, failed guardrail, or significantly worse),
# **ship** (significantly better and every guardrail passed), or **keep running**.

# %%
#| export
@dataclass
class _Arm:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    correct: int = 0
    labeled: int = 0

    @property
    def n(self) -> int:
        return len(self.latencies) + self.errors


def _prediction(out: Any) -> Any:
    arr = np.asarray(out.detach().cpu() if hasattr(out, "detach") else out)
    return arr.argmax() if arr.ndim >= 1 and arr.size > 1 else arr.item()


@dataclass(repr=False)
class SRMResult:
    "Sample-ratio mismatch check: observed arm counts against the intended split."
    n_a: int
    n_b: int
    split: float
    statistic: float
    p_value: float
    threshold: float = 0.001

    @property
    def mismatch(self) -> bool:
        return self.p_value < self.threshold

    def __repr__(self) -> str:
        verdict = "MISMATCH: the split is broken" if self.mismatch else "ok"
        return (f"SRMResult({verdict}: A {self.n_a}, B {self.n_b} for an intended {1 - self.split:.0%}/{self.split:.0%}, "
                f"χ² = {self.statistic:.2f}, p = {self.p_value:.3g})")

    def to_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__}, "mismatch": self.mismatch}

# %%
#| export
@dataclass(repr=False)
class ABAnalysis:
    "What an A/B test showed: SRM, the primary metric, the guardrails, and a recommendation with its reasons."
    srm: SRMResult
    primary: dict[str, Any]
    guardrails: list[GuardrailResult]
    recommendation: str
    reasons: list[str]
    arms: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"srm": self.srm.to_dict(), "primary": self.primary, "recommendation": self.recommendation,
                "reasons": self.reasons, "arms": self.arms,
                "guardrails": [g.__dict__ for g in self.guardrails]}

    def __repr__(self) -> str:
        return f"ABAnalysis({self.recommendation.upper()})\n" + "\n".join(f"  - {r}" for r in self.reasons)

    def _repr_html_(self) -> str:
        color = {"ship": "#2a7", "don't ship": "#c33", "keep running": "#c80"}[self.recommendation]
        rows = "".join(f"<tr><td>{g.metric}</td><td>{'pass' if g.passed else 'FAIL'}</td><td>{g.evidence}</td></tr>"
                       for g in self.guardrails)
        def acc(v: dict[str, Any]) -> str:
            return "" if v["accuracy"] is None else f"{v['accuracy']:.2%}"
        arms = "".join(f"<tr><td>{k}</td><td>{v['n']}</td><td>{format_seconds(v['median_latency'])}</td>"
                       f"<td>{v['error_rate']:.2%}</td><td>{acc(v)}</td></tr>" for k, v in self.arms.items())
        return (f"<div><b style='color:{color}'>{self.recommendation.upper()}</b><ul>"
                + "".join(f"<li>{r}</li>" for r in self.reasons) + "</ul>"
                f"<table><tr><th>arm</th><th>requests</th><th>median latency</th><th>errors</th><th>accuracy</th></tr>"
                f"{arms}</table><table><tr><th>guardrail</th><th></th><th>evidence</th></tr>{rows}</table></div>")

# %%
#| export
class ABTest:
    """An online experiment: `model_a` (control) and `model_b` (candidate) behind a seeded router that sends a
    fraction `split` of requests to B. `serve` one request at a time or `run` a dataset; then `analyze()`."""
    def __init__(self, model_a: Callable, model_b: Callable, split: float = 0.5, seed: int = 0):
        split = check_fraction(split, "split", hint="the fraction of traffic for B: 0.5 for an even split")
        if not callable(model_a) or not callable(model_b):
            raise TypeError("model_a and model_b must be callables (a model, or a function of one request)")
        self.models = {"A": model_a, "B": model_b}
        self.split, self.seed = split, seed
        self.arms = {"A": _Arm(), "B": _Arm()}
        self.interrupted = False
        self._next_id = 0

    def __repr__(self) -> str:
        return (f"ABTest(split {1 - self.split:.0%}/{self.split:.0%}, seed {self.seed}: "
                f"A {self.arms['A'].n} requests, B {self.arms['B'].n})")

    def route(self, request_id: Any) -> str:
        return assign_arm(request_id, self.split, self.seed)

    def serve(self, x: Any, label: Any = None, request_id: Any = None) -> Any:
        "Route one request, call that arm's model on `x`, record latency (s), error or correctness; returns the output."
        if request_id is None:
            request_id, self._next_id = self._next_id, self._next_id + 1
        name = self.route(request_id)
        arm, model = self.arms[name], self.models[name]
        torch = sys.modules.get("torch")
        ctx = torch.inference_mode() if torch is not None else contextlib.nullcontext()
        t0 = time.perf_counter()
        try:
            with ctx:
                out = model(x)
                if torch is not None and isinstance(out, torch.Tensor) and out.is_cuda:
                    torch.cuda.synchronize(out.device)
        except Exception:  # an error of this arm: counted, and the experiment goes on
            arm.errors += 1
            return None
        if not all_finite(out):  # NaN or infinity is an error, never a prediction (the argmax of NaNs is 0)
            arm.errors += 1
            return None
        arm.latencies.append(time.perf_counter() - t0)
        if label is not None:
            arm.labeled += 1
            arm.correct += int(_prediction(out) == label)
        return out

    def run(self, dataset: Any, n: int | None = None) -> "ABTest":
        "Serve the first `n` samples of `dataset` (items x or (x, label); or .labels); Ctrl-C keeps what was served."
        total = len(dataset)
        if total == 0:
            raise ValueError("the dataset is empty: an experiment needs requests")
        labels = getattr(dataset, "labels", None)
        try:
            for i in range(total if n is None else n):
                item = dataset[i % total]
                if labels is not None:
                    self.serve(item, labels[i % total])
                elif isinstance(item, tuple) and len(item) == 2:
                    self.serve(item[0], item[1])
                else:
                    self.serve(item)
        except KeyboardInterrupt:
            self.interrupted = True
        return self

    def srm_check(self, threshold: float = 0.001) -> SRMResult:
        threshold = check_fraction(threshold, "threshold", hint="the p-value below which the split is wrong, 0.001")
        n_a, n_b = self.arms["A"].n, self.arms["B"].n
        stat, p = srm_test(n_a, n_b, self.split)
        return SRMResult(n_a, n_b, self.split, stat, p, threshold)

    def _arm_summary(self) -> dict[str, dict[str, Any]]:
        return {k: {"n": a.n, "errors": a.errors, "error_rate": a.errors / a.n if a.n else math.nan,
                    "median_latency": float(np.median(a.latencies)) if a.latencies else math.nan,
                    "p99_latency": float(np.quantile(a.latencies, 0.99)) if a.latencies else math.nan,
                    "accuracy": a.correct / a.labeled if a.labeled else None} for k, a in self.arms.items()}

    def analyze(self, primary: str = "auto", guardrails: Mapping[str, float] | None = None,
                alpha: float = 0.05) -> ABAnalysis:
        """SRM check, guardrails (metric → margin: 'latency' a fraction, 'error_rate' and 'accuracy' absolute),
        and the primary metric ('latency' or 'accuracy'; 'auto': accuracy when labels were given)."""
        alpha = check_fraction(alpha, "alpha", hint="0.05 for a 5% false-positive rate")
        A, B = self.arms["A"], self.arms["B"]
        if min(len(A.latencies), len(B.latencies)) < 2:
            raise ValueError(f"each arm needs at least 2 successful requests, got A {len(A.latencies)}, "
                             f"B {len(B.latencies)}: serve more traffic")
        labeled = A.labeled > 0 and B.labeled > 0
        if primary == "auto":
            primary = "accuracy" if labeled else "latency"
        if primary not in ("latency", "accuracy") or (primary == "accuracy" and not labeled):
            raise ValueError(f"primary must be 'latency' or 'accuracy' (needs labels), got {primary!r}")
        if guardrails is None:
            guardrails = {"latency": 0.10, "error_rate": 0.01} if primary == "accuracy" else \
                {"error_rate": 0.01, **({"accuracy": 0.01} if labeled else {})}
        srm = self.srm_check()
        checks = []
        for metric, margin in guardrails.items():
            if metric == "latency":
                checks.append(latency_guardrail(A.latencies, B.latencies, margin))
            elif metric == "error_rate":
                checks.append(rate_guardrail("error_rate", A.errors, A.n, B.errors, B.n, margin, False))
            elif metric == "accuracy" and labeled:
                checks.append(rate_guardrail("accuracy", A.correct, A.labeled, B.correct, B.labeled, margin, True))
            else:
                raise ValueError(f"unknown guardrail {metric!r}: use 'latency', 'error_rate' or 'accuracy' (with labels)")
        if primary == "latency":
            c = compare(A.latencies, B.latencies, level=1 - alpha, label_a="A", label_b="B")
            better, worse = c.ratio_ci[1] < 1, c.ratio_ci[0] > 1
            prim = {"metric": "latency", "estimate": c.ratio, "ci": list(c.ratio_ci), "p_value": c.mannwhitney_p,
                    "text": f"latency ratio B/A {c.ratio:.3f} ({1 - alpha:.0%} CI {c.ratio_ci[0]:.3f}–"
                            f"{c.ratio_ci[1]:.3f}, Mann–Whitney p = {c.mannwhitney_p:.2g})"}
        else:
            d, lo, hi = proportion_diff_ci(B.correct, B.labeled, A.correct, A.labeled, 1 - alpha)
            pooled = (A.correct + B.correct) / (A.labeled + B.labeled)
            se = math.sqrt(pooled * (1 - pooled) * (1 / A.labeled + 1 / B.labeled))
            p = 1.0 if se == 0 else float(2 * st.norm.sf(abs(d) / se))
            better, worse = lo > 0, hi < 0
            prim = {"metric": "accuracy", "estimate": d, "ci": [lo, hi], "p_value": p,
                    "text": f"accuracy B − A {d:+.4f} ({1 - alpha:.0%} CI {lo:+.4f} to {hi:+.4f}, p = {p:.2g})"}
        reasons = [f"split check: {'MISMATCH' if srm.mismatch else 'ok'} (A {srm.n_a}, B {srm.n_b}, "
                   f"p = {srm.p_value:.3g})"]
        failed = [g for g in checks if not g.passed]
        if srm.mismatch:
            rec = "don't ship"
            reasons.append("the traffic split does not match its design (SRM p < 0.001): the arms are not "
                           "comparable; find out why before reading any metric")
        elif failed:
            rec = "don't ship"
            reasons += [f"guardrail failed: {g.evidence}" for g in failed]
        elif worse:
            rec = "don't ship"
            reasons.append(f"B is significantly worse on the primary metric: {prim['text']}")
        elif better:
            rec = "ship"
            reasons.append(f"B is significantly better on the primary metric: {prim['text']}")
        else:
            rec = "keep running"
            reasons.append(f"no significant difference yet on the primary metric: {prim['text']}")
        reasons += [f"guardrail passed: {g.evidence}" for g in checks if g.passed]
        if self.interrupted:
            reasons.append("the experiment was interrupted (Ctrl-C): these are partial results")
        return ABAnalysis(srm, prim, checks, rec, reasons, self._arm_summary())

# %% [markdown]
# An experiment with the real models: the control is the fp32 digits CNN, the candidate its
# int8 dynamically quantized version (from `tinybench.workloads`), each request one test image with
# its label; 30% of the traffic goes to the candidate. Accuracy is the primary metric; latency
# and errors are guardrails.

# %%
fp32, int8 = workload.variants["fp32"].model, workload.variants["int8-dynamic"].model
requests = [(digits.X_test[i:i + 1], int(digits.y_test[i])) for i in range(len(digits.y_test))]
exp = ABTest(fp32, int8, split=0.3, seed=0).run(requests, n=1350)
result = exp.analyze()
result

# %% [markdown]
# With a few hundred labelled requests per arm, an accuracy difference of a fraction of a percent
# cannot be told from zero: keep running, or decide in advance with `plan_experiment` how much
# traffic the decision needs. Note what the guardrails say about latency: the quantized model's
# per-request latency is measured, not assumed.

# %% [markdown]
# ## 8. Interleaved runs cancel drift
#
# Offline comparisons have their own trap: run all of A, then all of B, and anything that changes
# over time (the CPU warming up and throttling, a background job starting, the page cache
# filling) is attributed to the version. **Interleaving** in ABBA order (A, B, B, A, repeated)
# cancels a linear drift within each block: both versions see the same average time. Each block
# gives one paired observation, the ratio of B's to A's block medians, and the comparison is a
# paired test on those ratios (a t-interval on their logarithms, and the Wilcoxon signed-rank
# test). A simulation shows the effect: two identical versions, a machine that slows down by 10%
# from the first measurement to the last, and 1% noise.

# %%
def drifting_session(seq, drift=0.10, seed=0):
    "Times of two identical versions measured in the order `seq` on a machine slowing down by `drift` over the run."
    rng = np.random.default_rng(seed)
    t = (1 + drift * np.arange(len(seq)) / len(seq)) * rng.lognormal(0, 0.01, len(seq))
    return {v: t[np.array(seq) == v] for v in "AB"}


sequential = drifting_session(["A"] * 40 + ["B"] * 40)
abba = drifting_session(["A", "B", "B", "A"] * 20)
print("all A then all B:", compare(sequential["A"], sequential["B"]).verdict,
      f"(ratio {compare(sequential['A'], sequential['B']).ratio:.3f})")
print("ABBA interleaved:", compare(abba["A"], abba["B"]).verdict, f"(ratio {compare(abba['A'], abba['B']).ratio:.3f})")

# %%
#| export
@dataclass(repr=False)
class PairedComparison:
    "Interleaved (ABBA) comparison: per block, the ratio of B's to A's median time; paired tests on the log ratios."
    label_a: str
    label_b: str
    block_a: np.ndarray
    block_b: np.ndarray
    ratio: float
    ci: tuple[float, float]
    t_p: float
    wilcoxon_p: float
    level: float
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return {"label_a": self.label_a, "label_b": self.label_b, "block_a": self.block_a.tolist(),
                "block_b": self.block_b.tolist(), "ratio": self.ratio, "ci": list(self.ci), "t_p": self.t_p,
                "wilcoxon_p": self.wilcoxon_p, "level": self.level, "verdict": self.verdict}

    def __repr__(self) -> str:
        return (f"PairedComparison({self.label_b} vs {self.label_a}: {self.verdict}; time ratio {self.ratio:.4f} "
                f"({self.level:.0%} CI {self.ci[0]:.4f}–{self.ci[1]:.4f}), paired t p = {self.t_p:.2g}, "
                f"Wilcoxon p = {self.wilcoxon_p:.2g}, {self.block_a.size} ABBA blocks)")

    def _repr_html_(self) -> str:
        return f"<pre>{self!r}</pre>"


def paired_ratio(block_a: Sequence[float], block_b: Sequence[float], level: float = 0.95,
                 label_a: str = "A", label_b: str = "B") -> PairedComparison:
    "Paired comparison of per-block times (seconds): geometric-mean ratio B/A with a t-interval on log ratios."
    level = check_level(level)
    a = samples_of(block_a, "block_a", min_n=2, positive=True)
    b = samples_of(block_b, "block_b", min_n=2, positive=True)
    if a.size != b.size:
        raise ValueError(f"paired data need equal lengths, got {a.size} blocks of A and {b.size} of B")
    r = np.log(b / a)
    m, se = r.mean(), r.std(ddof=1) / math.sqrt(r.size)
    if se == 0:
        lo = hi = m
        t_p = 1.0 if m == 0 else 0.0
    else:
        half = st.t.ppf(1 - (1 - level) / 2, r.size - 1) * se
        lo, hi = m - half, m + half
        t_p = float(st.ttest_1samp(r, 0.0).pvalue)
    w_p = 1.0 if np.all(r == 0) else float(st.wilcoxon(r).pvalue)
    verdict = "slower" if lo > 0 else "faster" if hi < 0 else "no detectable difference"
    return PairedComparison(label_a, label_b, a, b, math.exp(m), (math.exp(lo), math.exp(hi)), t_p, w_p, level, verdict)


def interleaved_compare(fn_a: Callable, fn_b: Callable, *args: Any, blocks: int = 10, min_time: float = 0.05,
                        level: float = 0.95, label_a: str = "A", label_b: str = "B") -> PairedComparison:
    "Measure fn_a and fn_b in ABBA order `blocks` times (tinybench.measure each); paired analysis of the block medians."
    blocks = check_number(blocks, "blocks", integer=True, lo=2, hint="ABBA blocks for a paired test")
    min_time = check_number(min_time, "min_time", positive=True, hint="seconds per measurement")
    level = check_level(level)
    per_a, per_b = [], []
    for _ in range(blocks):
        m = [measure(f, *args, min_time=min_time, min_samples=10).median for f in (fn_a, fn_b, fn_b, fn_a)]
        per_a.append(math.sqrt(m[0] * m[3]))  # geometric mean of the two A runs around the two B runs
        per_b.append(math.sqrt(m[1] * m[2]))
    return paired_ratio(per_a, per_b, level, label_a, label_b)

# %% [markdown]
# On real kernels: a float32 matrix product against the same product in float64, which does the
# same arithmetic on twice the bytes.

# %%
x32 = torch.randn(256, 256)
x64 = x32.double()
interleaved_compare(lambda: x32 @ x32, lambda: x64 @ x64, blocks=6, min_time=0.03, label_a="float32",
                    label_b="float64")

# %% [markdown]
# ### Measuring until the answer is clear: a confidence sequence on the paired log-ratios
#
# A fixed number of blocks is a guess: too few and a 3× difference comes out "no detectable
# difference" because one stalled block widened the interval; too many and time is wasted on an
# obvious answer. Adding blocks until the t-interval looks decisive is peeking (section 4), and it
# inflates false alarms. The honest way is the one of section 5: an interval that is valid at
# *every* number of blocks at once, a **confidence sequence**.
#
# For log-ratios `x₁, x₂, …` that are normal with unknown mean μ and unknown σ (per-block medians of
# many samples are close to that), Lai's mixture martingale gives one exactly. Mix the likelihood
# ratio over effects `μ − μ₀ = σθ`, `θ ~ N(0, 1/ρ)`, and over σ with the scale-invariant prior; after
# `t` blocks, with `S = Σ(xᵢ − μ₀)` and `Q = Σ(xᵢ − μ₀)²`,
#
# $$\Lambda_t(\mu_0) = \sqrt{\tfrac{\rho}{t+\rho}}\,\Bigl(1 - \tfrac{S^2}{(t+\rho)\,Q}\Bigr)^{-t/2},$$
#
# a nonnegative martingale with mean 1 when μ₀ is true. By Ville's inequality it ever exceeds 1/α
# with probability at most α, so `{μ₀ : Λ_t(μ₀) < 1/α}` covers μ at all `t` simultaneously. Solving
# for μ₀ gives `x̄ ± √(K·V / (t(t − K)))` with `V = Σ(xᵢ − x̄)²`,
# `K = (t + ρ)(1 − c^(−2/t))`, `c = √((t + ρ)/ρ)/α`, and no bound while `t ≤ K`. `ρ = 1` makes it
# tightest for effects about one block's noise; the always-valid p-value of "no difference" (a time
# ratio of 1, so μ₀ = 0 on the log scale) is `min(1, 1/max Λ_s(0))` over the blocks so far.
# Exponentiate the bounds for the time ratio.

# %%
#| export
@dataclass(repr=False)
class RatioSequence:
    "Always-valid (confidence-sequence) interval of the geometric-mean time ratio B/A after `n` paired blocks."
    ratio: float
    ci: tuple[float, float]
    p_value: float
    n: int
    level: float
    rho: float

    def to_dict(self) -> dict[str, Any]:
        return {"ratio": self.ratio, "ci": list(self.ci), "p_value": self.p_value, "n": self.n,
                "level": self.level, "rho": self.rho}

    def __repr__(self) -> str:
        return (f"RatioSequence(time ratio {self.ratio:.4f}, always-valid {self.level:.0%} CI "
                f"{self.ci[0]:.4f}–{self.ci[1]:.4f}, p = {self.p_value:.2g}, {self.n} blocks)")

    def _repr_html_(self) -> str:
        return f"<pre>{self!r}</pre>"


def _log_ratio_cs_half_width(n: int, ss: float, alpha: float, rho: float) -> float:
    "Half-width of Lai's confidence sequence after `n` observations with sum of squared deviations `ss`."
    c = math.sqrt((n + rho) / rho) / alpha
    k = (n + rho) * (1 - c ** (-2 / n))
    return math.sqrt(k * ss / (n * (n - k))) if n > k else math.inf


def ratio_sequence(block_a: Sequence[float], block_b: Sequence[float], level: float = 0.95,
                   rho: float = 1.0) -> RatioSequence:
    "Confidence sequence (valid under continuous monitoring) for the time ratio B/A of paired blocks (seconds)."
    level = check_level(level)
    rho = check_number(rho, "rho", positive=True, hint="the mixture's precision, 1.0 by default")
    a = samples_of(block_a, "block_a", min_n=2, positive=True)
    b = samples_of(block_b, "block_b", min_n=2, positive=True)
    if a.size != b.size:
        raise ValueError(f"paired data need equal lengths, got {a.size} blocks of A and {b.size} of B")
    x = np.log(b / a)
    alpha, p_value = 1 - level, 1.0
    for t in range(2, x.size + 1):  # the always-valid p-value is 1 / the running maximum of Λ_t at μ₀ = 0
        s, q = x[:t].sum(), (x[:t] ** 2).sum()
        frac = s * s / ((t + rho) * q) if q > 0 else 0.0
        log_lam = 0.5 * math.log(rho / (t + rho)) - t / 2 * math.log1p(-frac)
        p_value = min(p_value, math.exp(-log_lam) if log_lam < 700 else 0.0)
    mean = float(x.mean())
    half = _log_ratio_cs_half_width(x.size, float(((x - mean) ** 2).sum()), alpha, rho)
    lo, hi = (math.exp(mean - half), math.exp(mean + half)) if math.isfinite(half) else (0.0, math.inf)
    return RatioSequence(math.exp(mean), (lo, hi), min(1.0, p_value), int(x.size), level, rho)


def rounds_to_decide(block_a: Sequence[float], block_b: Sequence[float], margin: float | None, level: float = 0.95,
                     rho: float = 1.0, limit: int = 100_000) -> int | None:
    """Rough number of further blocks until the sequence would be decisive, if the mean and spread stayed as now.

    Decisive: the interval lies inside ±`margin`, or wholly outside it (outside 1 when `margin` is None).
    None when no number up to `limit` would do (the estimate sits on a boundary)."""
    a = samples_of(block_a, "block_a", min_n=2, positive=True)
    b = samples_of(block_b, "block_b", min_n=2, positive=True)
    if a.size != b.size:
        raise ValueError(f"paired data need equal lengths, got {a.size} blocks of A and {b.size} of B")
    if margin is not None:
        margin = check_number(margin, "margin", positive=True, hint="a fraction: 0.05 for 5%, or None")
    level = check_level(level)
    rho = check_number(rho, "rho", positive=True)
    limit = check_number(limit, "limit", integer=True, lo=1)
    x = np.log(b / a)
    n, mean, sd = x.size, float(x.mean()), float(x.std(ddof=1))
    edge = math.log1p(margin) if margin is not None else 0.0

    def decisive(t: int) -> bool:
        half = _log_ratio_cs_half_width(t, sd * sd * (t - 1), 1 - level, rho)
        lo, hi = mean - half, mean + half
        return lo > edge or hi < -edge or (margin is not None and -edge < lo and hi < edge)
    if decisive(n):
        return 0
    lo, hi = n, n  # the half-width shrinks with t: double until decisive, then bisect
    while not decisive(hi):
        if hi >= limit:
            return None
        lo, hi = hi, min(limit, 2 * hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if decisive(mid) else (mid, hi)
    return hi - n

# %% [markdown]
# The check that matters: A/A data, the interval looked at after **every** block from the second
# to the hundredth. A 95% fixed-n t-interval declares a difference in far more than 5% of such
# runs; the confidence sequence stays under 5%. It pays for that with width, and it lets a clear
# difference stop after a few blocks.

# %%
def peeking_false_alarms(sims: int = 1000, blocks: int = 100, seed: int = 0) -> tuple[float, float]:
    "Fraction of A/A runs in which the t-interval / the confidence sequence ever excludes 1."
    rng, t_hits, cs_hits = np.random.default_rng(seed), 0, 0
    for _ in range(sims):
        a, b = np.exp(rng.normal(0, 0.05, blocks)), np.exp(rng.normal(0, 0.05, blocks))
        t_hits += any(paired_ratio(a[:t], b[:t]).verdict != "no detectable difference" for t in range(2, blocks + 1, 3))
        cis = [ratio_sequence(a[:t], b[:t]).ci for t in range(2, blocks + 1, 3)]
        cs_hits += any(not lo <= 1 <= hi for lo, hi in cis)
    return t_hits / sims, cs_hits / sims


t_fpr, cs_fpr = peeking_false_alarms(sims=200)
print(f"A/A, peeking every 3rd block up to 100: t-interval false alarms {t_fpr:.0%}, confidence sequence {cs_fpr:.0%}")
assert cs_fpr <= 0.08, "the confidence sequence must hold its level under peeking (binomial noise on 200 runs)"
rng = np.random.default_rng(3)
a = rng.lognormal(np.log(1e-3), 0.1, 8)
print(ratio_sequence(a, 2 * a * rng.lognormal(0, 0.1, 8)), "  <- a 2x slowdown, decided after 8 blocks")

# %% [markdown]
# ## 9. Regression detection against a stored baseline
#
# A performance gate in CI compares each run with a stored baseline and must neither flake on
# noise nor hide a real slowdown. Two questions, two tools: **is there a change at all?**
# (a confidence interval of the ratio current/baseline that excludes 1) and **does it matter?**
# (a practical tolerance, e.g. 5%). Four verdicts, for a lower-is-better metric with the ratio
# and its interval (90%: each side is then a one-sided 5% test):
#
# - **equivalent**: the whole interval lies within `[1/(1 + tolerance), 1 + tolerance]` (TOST);
# - **regressed**: the interval lies above 1 *and* the estimate exceeds `1 + tolerance`;
# - **improved**: the interval lies below 1 *and* the estimate is below `1/(1 + tolerance)`;
# - **unchanged**: anything else (no practically relevant change shown either way).
#
# ### Exercise 3: `regression_verdict` (3 points)
#
# Implement the four rules above, in that order. `ratio` is current/baseline of a lower-is-better
# metric (time), `ci` its interval `(lo, hi)`, `tolerance` a positive fraction. Return one of
# the strings `"equivalent"`, `"regressed"`, `"improved"`, `"unchanged"`.

# %% nbgrader={"grade": false, "grade_id": "regression-verdict", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def regression_verdict(ratio: float, ci: tuple[float, float], tolerance: float) -> str:
    "'equivalent', 'regressed', 'improved' or 'unchanged' for a lower-is-better ratio current/baseline and its CI."
    tolerance = check_number(tolerance, "tolerance", positive=True, hint="a fraction: 0.05 for 5%")
    ratio = check_number(ratio, "ratio", nonnegative=True, hint="current / baseline")
    if isinstance(ci, (str, bytes)) or not hasattr(ci, "__len__") or len(ci) != 2:
        raise TypeError(f"ci must be a pair (lo, hi) of numbers, got {ci!r:.60}")
    lo, hi = (check_number(v, "ci", nonnegative=True, finite=False, hint="the bounds (lo, hi) of the ratio's interval")
              for v in ci)
    if not lo <= ratio <= hi:
        raise ValueError(f"the ratio {ratio} must lie inside its interval ci={tuple(ci)}")
    ### BEGIN SOLUTION
    if 1 / (1 + tolerance) <= lo and hi <= 1 + tolerance:
        return "equivalent"
    if lo > 1 and ratio > 1 + tolerance:
        return "regressed"
    if hi < 1 and ratio < 1 / (1 + tolerance):
        return "improved"
    return "unchanged"
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test-regression-verdict", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
def _verdict_case(ratio, ci, tolerance, want, why=""):
    got = regression_verdict(ratio, ci, tolerance)
    assert got == want, f"regression_verdict({ratio}, {ci}, {tolerance}){': ' + why if why else ''}: " \
        f"expected {want!r}, got {got!r}"


_verdict_case(1.10, (1.08, 1.12), 0.05, "regressed")
_verdict_case(1.01, (0.99, 1.03), 0.05, "equivalent")
_verdict_case(0.80, (0.78, 0.83), 0.05, "improved")
_verdict_case(1.00, (0.90, 1.10), 0.05, "unchanged", "too noisy to say anything")
### BEGIN HIDDEN TESTS
from tinybench.nbutils import assert_own as _assert_own
_assert_own(regression_verdict, "tinybench.abtest")
_verdict_case(1.03, (1.01, 1.06), 0.05, "unchanged", "significant but below the tolerance")
_verdict_case(1.06, (0.99, 1.13), 0.05, "unchanged", "above the tolerance but not significant")
_verdict_case(1.0, (1 / 1.05, 1.05), 0.05, "equivalent", "the bounds are inclusive")
_verdict_case(0.94, (0.92, 0.96), 0.05, "improved")
_verdict_case(0.96, (0.955, 0.97), 0.05, "equivalent", "equivalence is checked first")
for bad in (0.0, -0.1):
    try:
        got = regression_verdict(1.0, (0.9, 1.1), bad)
    except ValueError:
        continue
    raise AssertionError(f"tolerance={bad}: a non-positive tolerance must raise ValueError, got {got!r}")
### END HIDDEN TESTS

# %%
regression_verdict = use_reference_if_open(regression_verdict, 1.0, (1.0, 1.0), 0.05)

# %% [markdown]
# `detect_regression` applies the verdict per metric. Each side is a dict of metric → samples (an
# array, a `Measurement`, or a single number), or a `StoredRun` from the result store. Metrics
# whose name says higher is better (throughput, samples/s, QPS, accuracy) are inverted, so that
# "regressed" always means worse. With arrays the interval is module 01's distribution-free
# Hodges–Lehmann ratio interval; with single numbers there is no test, only the tolerance, and
# the evidence says so.

# %%
#| export
_HIGHER_IS_BETTER = ("throughput", "samples_per_s", "qps", "accuracy", "per_second", "flops")


@dataclass(repr=False)
class RegressionReport:
    "Per metric: ratio current/baseline (oriented so > 1 is worse), its interval, verdict and evidence."
    rows: list[dict[str, Any]]
    tolerance: float
    level: float

    @property
    def regressed(self) -> list[str]:
        return [r["metric"] for r in self.rows if r["verdict"] == "regressed"]

    @property
    def ok(self) -> bool:
        "True when no metric regressed."
        return not self.regressed

    def to_dict(self) -> dict[str, Any]:
        return {"tolerance": self.tolerance, "level": self.level, "ok": self.ok, "rows": self.rows}

    def markdown(self) -> str:
        lines = [f"| metric | verdict | change | {self.level:.0%} CI | evidence |", "|---|---|---:|---|---|"]
        for r in self.rows:
            ci = "" if r["ci"] is None else f"{r['ci'][0]:.3f}–{r['ci'][1]:.3f}"
            lines.append(f"| {r['metric']} | {r['verdict']} | {r['ratio'] - 1:+.1%} | {ci} | {r['evidence']} |")
        return "\n".join(lines)

    def __repr__(self) -> str:
        head = "no regression" if self.ok else f"REGRESSED: {', '.join(self.regressed)}"
        return (f"RegressionReport({head}; tolerance {self.tolerance:.0%})\n"
                + "\n".join(f"  {r['metric']}: {r['verdict']} ({r['evidence']})" for r in self.rows))

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{r['metric']}</td><td>{r['verdict']}</td><td>{r['ratio'] - 1:+.1%}</td>"
                       f"<td>{r['evidence']}</td></tr>" for r in self.rows)
        return (f"<div><b>{'no regression' if self.ok else 'REGRESSED: ' + ', '.join(self.regressed)}</b>"
                f"<table><tr><th>metric</th><th>verdict</th><th>change (worse > 0)</th><th>evidence</th></tr>"
                f"{rows}</table></div>")


def _metric_values(side: Any, name: str = "current") -> dict[str, Any]:
    "The metrics of one side (`name`: current or baseline): a dict, or a StoredRun's metrics and samples."
    if hasattr(side, "samples") and hasattr(side, "metrics") and not isinstance(side, Mapping):  # a StoredRun
        return {**side.metrics, **side.samples}
    if not isinstance(side, Mapping):
        raise TypeError(f"{name} must be a dict of metric -> samples or a StoredRun, got {type(side).__name__}")
    return dict(side)


def check_tolerance(tolerance: Any, name: str = "tolerance") -> float:
    "`tolerance` as a float if it is a positive, finite fraction; else ValueError naming it, its value and the fix."
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)):
        raise TypeError(f"{name} must be a number (0.10 for 10%), got {type(tolerance).__name__} {tolerance!r}")
    if not (tolerance > 0 and math.isfinite(tolerance)):
        raise ValueError(f"{name} must be a positive, finite fraction (0.10 for 10%), got {tolerance!r}: "
                         "a regression gate cannot judge with it")
    return float(tolerance)


def _metric_array(values: Any, side: str, metric: str) -> np.ndarray:
    "One side's samples of `metric` as a float array; ValueError when it is empty or holds NaN/inf."
    try:
        a = values.samples if isinstance(values, Measurement) else np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError) as e:
        raise ValueError(f"the {side} metric {metric!r} must be a number or a sequence of numbers, got "
                         f"{values!r:.60} ({e})") from e
    if a.size == 0:
        raise ValueError(f"the {side} metric {metric!r} has no values: there is nothing to compare")
    if not np.isfinite(a).all():
        raise ValueError(f"the {side} metric {metric!r} holds NaN or inf ({a[~np.isfinite(a)][:3].tolist()}): "
                         "it cannot be judged; rerun the benchmark that produced it")
    return a


def _single_ratio(num: float, den: float) -> float:
    "num/den of two non-negative values; 1 for 0/0 (no change), inf for x/0."
    if den == 0:
        return 1.0 if num == 0 else float("inf")
    return num / den


def detect_regression(current: Any, baseline: Any, tolerance: float = 0.05, level: float = 0.90,
                      higher_is_better: Mapping[str, bool] | None = None) -> RegressionReport:
    """Compare every metric present in both `current` and `baseline` (dicts or StoredRuns) with
    `regression_verdict`: ratio current/baseline (inverted for higher-is-better metrics) and its `level` CI."""
    check_tolerance(tolerance)
    level = check_level(level)
    cur, base = _metric_values(current, "current"), _metric_values(baseline, "baseline")
    common = [k for k in cur if k in base]
    if not common:
        raise ValueError(f"no metric in common: current has {sorted(cur)}, baseline has {sorted(base)}")
    rows = []
    for k in common:
        hib = (higher_is_better or {}).get(k, any(w in k.lower() for w in _HIGHER_IS_BETTER))
        c, b = _metric_array(cur[k], "current", k), _metric_array(base[k], "baseline", k)
        if c.size >= 2 and b.size >= 2:
            r, lo, hi = ratio_ci(b, c, level=level)  # current / baseline
            if hib:
                r, lo, hi = 1 / r, 1 / hi, 1 / lo
            p = float(st.mannwhitneyu(b, c).pvalue) if np.ptp(np.r_[b, c]) > 0 else 1.0
            verdict = regression_verdict(r, (lo, hi), tolerance)
            ev = (f"{'baseline/current' if hib else 'current/baseline'} {r:.3f} ({level:.0%} CI {lo:.3f}–{hi:.3f}), "
                  f"Mann–Whitney p = {p:.2g}, n = {c.size}/{b.size}")
            ci = (lo, hi)
        else:
            cv, bv = float(np.median(c)), float(np.median(b))
            r = _single_ratio(bv, cv) if hib else _single_ratio(cv, bv)
            verdict = "regressed" if r > 1 + tolerance else "improved" if r < 1 / (1 + tolerance) else "unchanged"
            ev, ci, p = f"single values {bv:.4g} → {cv:.4g}: no statistical test, tolerance only", None, None
        rows.append({"metric": k, "higher_is_better": hib, "ratio": r, "ci": ci, "p_value": p, "verdict": verdict,
                     "evidence": ev})
    return RegressionReport(rows, tolerance, level)

# %% [markdown]
# A CI gate end to end. Module 01 warned that the iterations of one run are not independent
# replications: two runs of the *same* code on a shared machine often differ by a few percent,
# and thousands of iterations make that difference "significant". So the unit here is the
# **run**: five short runs per build, one median each, taken interleaved (baseline build,
# candidate build, ...) as a CI job does when it rebuilds the baseline next to the change. The
# baseline's run medians go into a `ResultStore` (the support notebook `store`); two candidates
# are checked against it: the same kernel, and one with a planted slowdown (a third more
# arithmetic: a real extra computation).

# %%
import tempfile
from pathlib import Path

from tinybench.store import ResultStore

a = torch.randn(192, 192)
kernels = {"baseline": lambda: a @ a, "same": lambda: a @ a, "slower": lambda: (a @ a, a[:, :64] @ a[:64])}
runs = {k: [] for k in kernels}
for _ in range(5):
    for k, f in kernels.items():
        runs[k].append(measure(f, min_time=0.05).median)
with tempfile.TemporaryDirectory() as tmp, ResultStore(Path(tmp) / "runs.sqlite") as store:
    store.save("matmul-192", {"median_s": float(np.median(runs["baseline"]))}, {"latency_s": runs["baseline"]})
    stored = store.baseline("matmul-192")
    print(detect_regression({"latency_s": runs["same"]}, stored))
    print(detect_regression({"latency_s": runs["slower"]}, stored))

# %% [markdown]
# `tinybench run --store results.sqlite --baseline` does the same for the default workload: it
# stores every run and reports each variant's regressions against the stored baseline, exiting
# with status 1 when something regressed. Like this cell, it compares replications, not the
# iterations of one run: the medians of the suite's interleaved timing rounds (module 06).
#
# ## Summary
#
# - Randomise per request with a seeded hash; check the split (SRM, p < 0.001) before any metric.
# - Plan the sample size from the effect worth detecting (`plan_experiment`); uneven splits cost.
# - Peeking at a fixed-sample test inflates false positives (14% for five looks at 1.96); use
#   group-sequential boundaries or an always-valid test (`SequentialTest`).
# - Guardrails are one-sided non-inferiority tests, not "no significant difference".
# - Offline, interleave (ABBA) and pair; against history, gate on a test *and* a tolerance.
