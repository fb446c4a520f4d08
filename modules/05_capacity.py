# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Capacity planning: from measured service times to replicas, checked against reality
#
# "How many replicas serve 2,000 requests/s with p99 under 50 ms? What happens to the tail at 80%
# utilisation? Where does adding concurrency stop helping?" Multiplying a CPU percentage by a
# growth factor does not answer these. Queueing theory does, when it is fed **measured** service
# times and its predictions are **checked** against the real Server scenario:
#
# 1. Little's law, on measured data (**exercise 1**);
# 2. utilisation and the hockey stick of waiting time: M/M/1 and M/D/1;
# 3. several servers: M/M/c and Erlang C (**exercise 2**); Kingman and Allen–Cunneen for
#    general distributions;
# 4. why the tail explodes before utilisation reaches 100%;
# 5. simulation as the ground truth when the formulas do not apply;
# 6. the measured latency-versus-load curve and its knee;
# 7. the Universal Scalability Law fitted to a concurrency sweep;
# 8. a capacity plan: replicas for an SLO, headroom, growth and cost (**exercise 3**), with its
#    prediction checked against a measurement.

# %%
#| default_exp capacity

# %%
#| export
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from scipy import stats as st

from tinybench.scenarios import ScenarioResult, TestSettings, run
from tinybench.stats import samples_of
from tinybench.display import figure_img, format_seconds
from tinybench.checks import check_level, check_number, check_quantile

# %% nbgrader={"grade": false, "grade_id": "notebook-setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import torch
from threadpoolctl import threadpool_limits

from tinybench.nbutils import reference_fallback
from tinybench.scenarios import ArrayDataset

# Thread pools, set explicitly: numpy's BLAS and torch each start one thread per core, and on a small or shared
# machine the two pools compete for the same cores, so a measurement times the contention instead of the code.
# One thread each keeps the experiments below comparable; the cells where threads are the lesson set their own.
torch.set_num_threads(1)
threadpool_limits(1)
use_reference_if_open = reference_fallback("tinybench.capacity")
M = np.random.default_rng(0).standard_normal((256, 256))


def matmul_sut(batch):
    "A real SUT: one 256×256 matrix product per sample (numpy releases the GIL while it computes)."
    for _ in batch:
        M @ M
    return [0] * len(batch)


dataset = ArrayDataset(np.arange(256))

# %% [markdown]
# The SUT throughout is a real computation, a 256×256 matrix product per query on one BLAS thread;
# its service time is whatever this machine takes, measured below, not assumed.
#
# ## 1. Little's law
#
# In any system that is stable over an observation window, the average number of requests
# inside it equals the arrival rate times the average time each spends inside: **L = λ W**. It
# needs no assumption about distributions or scheduling, which makes it the first check of any
# measurement: if L, λ and W measured separately disagree, a clock or a counter is wrong.
#
# ### Exercise 1: `mean_in_system` (2 points)
#
# Given each request's arrival and departure time (seconds, numpy arrays of equal length) and the
# length `t_end` of the observation window `[0, t_end]`, return the **time-average number of
# requests in the system** over the window: the total time requests spent inside the window
# divided by `t_end`. A request counts from `max(arrival, 0)` to `min(departure, t_end)` (and not
# at all if that is empty). The test checks L = λW on a real Server run.

# %% nbgrader={"grade": false, "grade_id": "mean-in-system", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def mean_in_system(arrivals: Sequence[float], departures: Sequence[float], t_end: float) -> float:
    "Time-average number of requests in the system over [0, t_end], from arrival and departure times (s)."
    a, d = np.asarray(arrivals, dtype=float), np.asarray(departures, dtype=float)
    if a.shape != d.shape:
        raise ValueError(f"arrivals and departures must have the same length, got {a.size} and {d.size}")
    t_end = check_number(t_end, "t_end", positive=True, hint="seconds")
    ### BEGIN SOLUTION
    inside = np.clip(np.minimum(d, t_end) - np.maximum(a, 0.0), 0.0, None)
    return float(inside.sum() / t_end)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test-mean-in-system", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
got = mean_in_system([0.0, 1.0], [2.0, 3.0], 4.0)
assert got == 1.0, f"two requests of 2 s each in a 4 s window: expected L = 1.0, got {got!r}"
got = mean_in_system([0.5], [10.0], 2.0)
assert got == 0.75, f"one request from 0.5 s, clipped at the end of the 2 s window: expected 1.5 / 2 = 0.75, got {got!r}"
r = run(matmul_sut, dataset, scenario="Server", target_qps=400, min_duration=1.0, target_latency=0.5, max_duration=10)
ok = ~np.isnan(r.completed)
T = float(r.completed[ok].max())
L = mean_in_system(r.scheduled[ok], r.completed[ok], T)
lam, W = ok.sum() / T, float(np.mean(r.completed[ok] - r.scheduled[ok]))
assert abs(L - lam * W) / (lam * W) < 0.02, f"Little's law: L = {L:.3f} but λW = {lam * W:.3f}"
### BEGIN HIDDEN TESTS
from tinybench.nbutils import assert_own as _assert_own
_assert_own(mean_in_system, "tinybench.capacity")
got = mean_in_system([], [], 1.0)
assert got == 0.0, f"no requests: expected 0.0, got {got!r}"
got = mean_in_system([-1.0, 3.0], [0.5, 4.0], 2.0)
assert got == 0.25, f"a request before the window counts from 0 (0.5 s), one after not at all: expected 0.5 / 2 = 0.25, got {got!r}"
try:
    got = mean_in_system([0.0], [1.0, 2.0], 1.0)
except ValueError:
    pass
else:
    raise AssertionError(f"mismatched lengths (1 arrival, 2 departures) must raise ValueError, got {got!r}")
### END HIDDEN TESTS

# %%
mean_in_system = use_reference_if_open(mean_in_system, [0.0, 0.5], [1.0, 2.0], 1.0)  # one stays past t_end

# %% [markdown]
# `littles_law` solves for whichever of the three is missing (units: requests, requests/s, s).

# %%
#| export
def littles_law(L: float | None = None, lam: float | None = None, W: float | None = None) -> float:
    "Little's law L = λ·W: give two of L (requests), lam (requests/s), W (seconds); returns the third."
    given = {k: v for k, v in (("L", L), ("lam", lam), ("W", W)) if v is not None}
    if len(given) != 2:
        raise ValueError(f"give exactly two of L, lam, W; got {sorted(given)}")
    units = {"L": "requests in the system", "lam": "requests per second", "W": "seconds"}
    given = {k: check_number(v, k, nonnegative=True, hint=units[k]) for k, v in given.items()}
    L, lam, W = given.get("L"), given.get("lam"), given.get("W")
    if L is None:
        return lam * W
    if lam is None:
        if W == 0:
            raise ValueError("W = 0: the arrival rate is undetermined")
        return L / W
    if lam == 0:
        raise ValueError("lam = 0: the time in system is undetermined")
    return L / lam

# %%
print(f"{littles_law(lam=2000, W=0.025):.0f} requests in flight at 2,000/s and 25 ms each")

# %% [markdown]
# ## 2. Utilisation and the hockey stick
#
# One server, service rate μ (requests/s), arrivals at rate λ: **utilisation** ρ = λ/μ is the
# fraction of time it is busy. Waiting does not grow linearly with ρ. With Poisson arrivals and
# exponential service (**M/M/1**) the mean time in system is `1/(μ − λ)`: at ρ = 0.5 twice the
# service time, at 0.9 ten times, at 0.99 a hundred. The response time is exponential with rate
# `μ − λ`, so its percentile q is `−ln(1 − q)/(μ − λ)`. With deterministic service (**M/D/1**) the
# mean wait is half of M/M/1's (Pollaczek–Khinchine: waiting scales with `(1 + c_s²)/2`, and a
# constant service time has `c_s = 0`). At ρ ≥ 1 there is no steady state: the queue grows without
# bound, and the only honest answer is "unstable".

# %%
#| export
class UnstableQueue(ValueError):
    "The offered load is at or above capacity (ρ >= 1): no steady state exists; the queue grows without bound."


def _check_rates(lam: float, mu: float, c: int = 1) -> float:
    "Utilisation ρ = λ / (c·μ) after checking λ, μ (positive finite rates per second) and c (servers, an integer >= 1)."
    lam = check_number(lam, "lam", positive=True, hint="the arrival rate, requests per second")
    mu = check_number(mu, "mu", positive=True, hint="the service rate of one server, requests per second")
    c = check_number(c, "c", integer=True, lo=1, hint="the number of servers")
    return lam / (c * mu)


@dataclass(repr=False)
class _Queue:
    lam: float
    mu: float
    c: int = 1

    def __post_init__(self):
        self.rho = _check_rates(self.lam, self.mu, self.c)

    @property
    def stable(self) -> bool:
        return self.rho < 1

    def _require_stable(self) -> None:
        if not self.stable:
            raise UnstableQueue(f"unstable: utilisation ρ = {self.rho:.3f} >= 1 ({self.lam:g}/s offered to "
                                f"{self.c} server(s) of {self.mu:g}/s): the queue grows without bound; add servers "
                                f"or lower the load below {self.c * self.mu:g}/s")

    @property
    def mean_response(self) -> float:
        "Mean time in system (wait + service), seconds."
        return self.mean_wait + 1 / self.mu

    def to_dict(self) -> dict[str, Any]:
        d = {"model": type(self).__name__, "lam": self.lam, "mu": self.mu, "c": self.c, "rho": self.rho,
             "stable": self.stable}
        if self.stable:
            d.update(mean_wait=self.mean_wait, mean_response=self.mean_response)
        return d

    def __repr__(self) -> str:
        if not self.stable:
            return f"{type(self).__name__}(UNSTABLE: ρ = {self.rho:.3f} >= 1)"
        return (f"{type(self).__name__}(λ={self.lam:g}/s, μ={self.mu:g}/s" + (f", c={self.c}" if self.c > 1 else "")
                + f": ρ = {self.rho:.3f}, mean wait {format_seconds(self.mean_wait)}, "
                f"mean response {format_seconds(self.mean_response)})")

    def _repr_html_(self) -> str:
        return f"<pre>{self!r}</pre>"


class MM1(_Queue):
    "M/M/1: Poisson arrivals (λ/s), one server with exponential service (μ/s)."
    def __init__(self, lam: float, mu: float):
        super().__init__(lam, mu, 1)

    @property
    def mean_wait(self) -> float:
        self._require_stable()
        return self.rho / (self.mu - self.lam)

    def response_quantile(self, q: float) -> float:
        "Percentile q of the time in system, seconds: exponential with rate μ − λ."
        q = check_quantile(q, open_interval=True)  # q = 1 is an infinite time: no "p100" of an unbounded tail
        self._require_stable()
        return -math.log(1 - q) / (self.mu - self.lam)


class MD1(_Queue):
    "M/D/1: Poisson arrivals (λ/s), one server with a constant service time 1/μ."
    def __init__(self, lam: float, mu: float):
        super().__init__(lam, mu, 1)

    @property
    def mean_wait(self) -> float:
        "Pollaczek–Khinchine with c_s = 0: ρ / (2μ(1 − ρ)), seconds."
        self._require_stable()
        return self.rho / (2 * self.mu * (1 - self.rho))

# %%
for rho in (0.5, 0.8, 0.9, 0.95, 0.99):
    mm1, md1 = MM1(rho, 1.0), MD1(rho, 1.0)
    print(f"ρ = {rho:4.2f}: M/M/1 mean response {mm1.mean_response:6.1f}× service, p99 {mm1.response_quantile(0.99):6.1f}×; "
          f"M/D/1 mean {md1.mean_response:5.1f}×")
print(MM1(1.2, 1.0))

# %% [markdown]
# ## 3. Several servers: M/M/c and Erlang C
#
# With `c` servers sharing one queue, a request waits only if all `c` are busy. The probability
# of that, for offered load `a = λ/μ` (in servers' worth of work), is **Erlang's C formula**:
#
# `C(c, a) = (a^c / c!) · (c / (c − a)) / ( Σ_{k=0}^{c−1} a^k / k!  +  (a^c / c!) · (c / (c − a)) )`
#
# Given that a request waits, its wait is exponential with rate `cμ − λ`; so the mean wait is
# `C / (cμ − λ)`. Do not compute `a^c` and `c!`: they overflow a float long before `c` reaches
# the sizes of real fleets (`170!` already does), and so does a running product of `a^k / k!`
# once `a` is a few hundred (it peaks near `e^a`). Two stable routes: work in logarithms, or use
# **Erlang B**'s recursion, `B(0) = 1`, `B(k) = a·B(k−1) / (k + a·B(k−1))`, which stays in
# [0, 1], and then `C = c·B / (c − a·(1 − B))`.
#
# ### Exercise 2: `erlang_c` (3 points)
#
# Return `C(c, a)` for `c` servers (a positive integer) and offered load `a` (`0 < a < c`). The
# checks on the arguments are given. The visible test compares with published values and asks
# for fleets of 500 and 2,000 servers (where naive formulas overflow); the hidden test checks more
# loads against a computation in logarithms.

# %% nbgrader={"grade": false, "grade_id": "erlang-c", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def erlang_c(c: int, a: float) -> float:
    "Probability that an arrival waits in an M/M/c queue with offered load a = λ/μ (Erlang C)."
    c = check_number(c, "c", integer=True, lo=1, hint="the number of servers")
    a = check_number(a, "a", positive=True, hint="the offered load λ/μ")
    if not 0 < a < c:
        raise UnstableQueue(f"offered load a = {a} must be in (0, c = {c}): at a >= c the queue is unstable")
    ### BEGIN SOLUTION
    b = 1.0  # Erlang B by its recursion: it stays in [0, 1] at any fleet size
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return c * b / (c - a * (1 - b))
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test-erlang-c", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
assert abs(erlang_c(10, 8.0) - 0.4092) < 1e-4, f"erlang_c(10, 8.0): expected 0.4092 (published), got {erlang_c(10, 8.0)!r}"
assert abs(erlang_c(1, 0.8) - 0.8) < 1e-12, f"erlang_c(1, 0.8): with one server P(wait) = ρ = 0.8, got {erlang_c(1, 0.8)!r}"
for _c, _a in ((500, 450.0), (2000, 1900.0)):
    _got = erlang_c(_c, _a)
    assert 0 < _got < 1, f"erlang_c({_c}, {_a}): expected a probability in (0, 1) (large fleets must not overflow), got {_got!r}"


def _erlang_c_in_logs(c, a):
    "Erlang C from log-terms (scipy's gammaln and logsumexp): an independent route."
    from scipy.special import gammaln, logsumexp
    k = np.arange(c)
    log_terms = k * np.log(a) - gammaln(k + 1)
    log_last = c * np.log(a) - gammaln(c + 1) + np.log(c / (c - a))
    return float(np.exp(log_last - logsumexp(np.append(log_terms, log_last))))


### BEGIN HIDDEN TESTS
from tinybench.nbutils import assert_own as _assert_own
_assert_own(erlang_c, "tinybench.capacity")
assert abs(erlang_c(2, 1.0) - 1 / 3) < 1e-12, f"erlang_c(2, 1.0): expected 1/3, got {erlang_c(2, 1.0)!r}"
for _c, _a in ((500, 450.0), (1000, 800.0), (2000, 1900.0), (50, 49.9), (3, 0.01)):
    _want, _got = _erlang_c_in_logs(_c, _a), erlang_c(_c, _a)
    assert abs(_got - _want) < 1e-9, f"erlang_c({_c}, {_a}): expected {_want!r} (computed in logs), got {_got!r}"
_p = [erlang_c(20, a) for a in (10.0, 15.0, 19.0)]
assert _p[0] < _p[1] < _p[2], f"c=20: P(wait) must grow with the load a = 10, 15, 19, got {_p}"
### END HIDDEN TESTS

# %%
erlang_c = use_reference_if_open(erlang_c, 500, 450.0)  # a fleet size that overflows a**c

# %%
#| export
class MMc(_Queue):
    "M/M/c: Poisson arrivals (λ/s), c servers with exponential service (μ/s each), one FIFO queue."
    def __init__(self, lam: float, mu: float, c: int):
        super().__init__(lam, mu, c)

    @property
    def p_wait(self) -> float:
        "Probability that an arrival waits (Erlang C)."
        self._require_stable()
        return erlang_c(self.c, self.lam / self.mu)

    @property
    def mean_wait(self) -> float:
        self._require_stable()
        return self.p_wait / (self.c * self.mu - self.lam)

    def response_tail(self, t: float) -> float:
        "P(time in system > t): the wait (0 w.p. 1 − C, else Exp(cμ − λ)) plus an Exp(μ) service."
        self._require_stable()
        C, mu, theta = self.p_wait, self.mu, self.c * self.mu - self.lam
        if abs(theta - mu) < 1e-12 * mu:
            both = math.exp(-mu * t) * (1 + mu * t)  # Erlang-2 tail when the rates coincide
        else:
            both = (theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)
        return (1 - C) * math.exp(-mu * t) + C * both

    def response_quantile(self, q: float) -> float:
        "Percentile q of the time in system, seconds (the tail above, inverted numerically)."
        from scipy.optimize import brentq
        q = check_quantile(q, open_interval=True)  # q = 1 is an infinite time: no "p100" of an unbounded tail
        self._require_stable()
        hi = 1 / self.mu
        while self.response_tail(hi) > 1 - q:
            hi *= 2
        return brentq(lambda t: self.response_tail(t) - (1 - q), 0.0, hi, xtol=1e-12 * hi)

# %%
q = MMc(8.0, 1.0, 10)
print(q, f"P(wait) = {q.p_wait:.4f}, p99 response {q.response_quantile(0.99):.3f} s")

# %% [markdown]
# Pooling pays: ten servers each at 80% utilisation make an arrival wait 41% of the time, for an
# average of 0.2 service times; ten separate M/M/1 queues at the same 80% make it wait 80% of the
# time, for 4 service times on average.
#
# **General distributions.** Real service times are neither exponential nor constant. Kingman's
# approximation for one server (G/G/1) scales the M/M/1 wait by the variability of arrivals and
# service, `(c_a² + c_s²)/2` (coefficients of variation squared); Allen and Cunneen apply the same
# factor to the M/M/c wait. Both are approximations, best at high load; the simulation of
# section 5 is the check. Checked against it (Poisson arrivals, lognormal service, 4 seeds × 200k
# requests), Allen–Cunneen is within 8% at 4 servers and ρ ≥ 0.7, low for low-variability service
# (c_s² = 0.25: −3 to −8%) and high for high variability (c_s² = 2: +2 to +8%); with short waits
# (ρ = 0.5, 16 servers) it is off by up to 28%, on waits of a thousandth of a service time.

# %%
#| export
def kingman(lam: float, mean_service: float, ca2: float = 1.0, cs2: float = 1.0) -> float:
    "Kingman's G/G/1 mean wait (s): ρ/(1 − ρ) · (c_a² + c_s²)/2 · E[S]. ca2, cs2: squared coefficients of variation."
    mean_service = check_number(mean_service, "mean_service", positive=True, hint="seconds")
    ca2 = check_number(ca2, "ca2", nonnegative=True, hint="squared coefficient of variation, 1 for Poisson")
    cs2 = check_number(cs2, "cs2", nonnegative=True, hint="squared coefficient of variation, 1 for exponential")
    rho = _check_rates(lam, 1 / mean_service)
    if rho >= 1:
        raise UnstableQueue(f"unstable: ρ = {rho:.3f} >= 1")
    return rho / (1 - rho) * (ca2 + cs2) / 2 * mean_service


def allen_cunneen(lam: float, mean_service: float, c: int, ca2: float = 1.0, cs2: float = 1.0) -> float:
    """Allen–Cunneen G/G/c mean wait (s): the M/M/c wait scaled by (c_a² + c_s²)/2.

    An approximation: against simulation (M/G/c, lognormal service) within ~10% for c = 4 at ρ >= 0.7; up to ~30%
    off where waits are tiny (low ρ, many servers). For one server it is Kingman's (exact for M/G/1)."""
    mean_service = check_number(mean_service, "mean_service", positive=True, hint="seconds")
    ca2 = check_number(ca2, "ca2", nonnegative=True, hint="squared coefficient of variation, 1 for Poisson")
    cs2 = check_number(cs2, "cs2", nonnegative=True, hint="squared coefficient of variation, 1 for exponential")
    return MMc(lam, 1 / mean_service, c).mean_wait * (ca2 + cs2) / 2

# %% [markdown]
# ## 4. Why the tail explodes first
#
# The mean is a poor guide to what users feel. At 80% utilisation, M/M/1's mean response is 5
# service times, its p99 23. The tail grows like the mean (both scale with `1/(μ − λ)`), so an SLO
# on p99 runs out of room far below 100% utilisation: to keep p99 under 10 service times, M/M/1
# must stay below `1 − ln(100)/10 ≈ 54%` utilisation.

# %%
rhos = np.linspace(0.05, 0.95, 19)
p99 = [MM1(r, 1.0).response_quantile(0.99) for r in rhos]
print("ρ   :", " ".join(f"{r:5.2f}" for r in rhos[::3]))
print("p99 :", " ".join(f"{p:5.1f}" for p in p99[::3]), " (service times)")

# %% [markdown]
# ## 5. Simulation: the ground truth when formulas don't apply
#
# A FIFO queue is easy to simulate exactly. With one server, **Lindley's recursion** (module 02,
# exercise 3) gives every request's wait from the previous one's. With `c` servers, a heap of
# the times at which each server becomes free does the same: each arrival takes the
# earliest-free server. Feed it **measured** service times (sampled with replacement) and any
# arrival process, and it answers what no closed form does: the p99 of *this* service-time
# distribution at *this* rate. Consecutive simulated requests are correlated, so the interval
# of each percentile comes from batch means (the run split into 20 consecutive batches), after
# dropping a warm-up.

# %%
#| export
def _service_sampler(service_times: Any) -> tuple[Callable[[np.random.Generator, int], np.ndarray], float]:
    "A sampler rng, n -> service times (s) and the mean, from measured samples or a scipy frozen distribution."
    if hasattr(service_times, "rvs") and hasattr(service_times, "mean"):
        return (lambda rng, n: np.asarray(service_times.rvs(size=n, random_state=rng), dtype=float)), \
            float(service_times.mean())
    s = samples_of(service_times, "service_times", min_n=1, positive=True)
    return (lambda rng, n: rng.choice(s, size=n, replace=True)), float(s.mean())


@dataclass(repr=False)
class QueueSimulation:
    "Simulated FIFO queue: per-request response times (s) and percentile estimates with batch-means intervals."
    arrival_rate: float
    servers: int
    utilisation: float
    response: np.ndarray
    wait: np.ndarray
    level: float = 0.95

    def quantile(self, q: float) -> float:
        "Response-time quantile `q` in [0, 1] (0.99 for p99), seconds."
        return float(np.quantile(self.response, check_quantile(q)))

    def quantile_ci(self, q: float, batches: int = 20) -> tuple[float, float]:
        "Batch-means t-interval of quantile `q` (s): the run split into consecutive batches."
        q = check_quantile(q)
        per = np.array([np.quantile(b, q) for b in np.array_split(self.response, batches)])
        half = st.t.ppf(1 - (1 - self.level) / 2, batches - 1) * per.std(ddof=1) / math.sqrt(batches)
        est = self.quantile(q)
        return est - half, est + half

    @property
    def mean_response(self) -> float:
        return float(self.response.mean())

    def mean_ci(self, batches: int = 20) -> tuple[float, float]:
        per = np.array([b.mean() for b in np.array_split(self.response, batches)])
        half = st.t.ppf(1 - (1 - self.level) / 2, batches - 1) * per.std(ddof=1) / math.sqrt(batches)
        return self.mean_response - half, self.mean_response + half

    def to_dict(self) -> dict[str, Any]:
        return {"arrival_rate": self.arrival_rate, "servers": self.servers, "utilisation": self.utilisation,
                "n": int(self.response.size), "mean_response": self.mean_response,
                **{f"p{int(q * 100)}": self.quantile(q) for q in (0.5, 0.9, 0.99)},
                "p99_ci": list(self.quantile_ci(0.99))}

    def __repr__(self) -> str:
        lo, hi = self.quantile_ci(0.99)
        return (f"QueueSimulation({self.response.size:,} requests at {self.arrival_rate:g}/s on {self.servers} "
                f"server(s), ρ = {self.utilisation:.3f}: mean {format_seconds(self.mean_response)}, "
                f"p99 {format_seconds(self.quantile(0.99))} [{format_seconds(lo)}, {format_seconds(hi)}])")

    def _repr_html_(self) -> str:
        return f"<pre>{self!r}</pre>"


def simulate_queue(arrival_rate: float | None, service_times: Any, servers: int = 1, n: int = 200_000, seed: int = 0,
                   warmup: float = 0.05, arrivals: Sequence[float] | None = None) -> QueueSimulation:
    """FIFO queue with Poisson arrivals at `arrival_rate` (/s) and `servers` servers whose service times are drawn
    from `service_times` (measured samples, seconds, or a scipy frozen distribution). Drops the first `warmup`
    fraction of requests.

    `arrivals`: recorded arrival times (seconds, non-decreasing) to replay instead of Poisson arrivals: a
    production trace, or the times a Server run really issued its queries (`ScenarioResult.issued`). Then pass
    `arrival_rate=None`; the rate reported is the trace's mean rate, `n` is its length, and a trace that
    overloads the servers for a while is simulated as it is (no steady state is needed)."""
    sample, mean_s = _service_sampler(service_times)
    servers = check_number(servers, "servers", integer=True, lo=1)
    warmup = check_number(warmup, "warmup", lo=0, hi=0.9, hint="the fraction of requests dropped, 0.05")
    if arrivals is not None:
        if arrival_rate is not None:
            raise ValueError(f"give arrival_rate or arrivals, not both (got arrival_rate={arrival_rate!r} and "
                             f"{len(arrivals)} arrival times): pass arrival_rate=None to replay a trace")
        trace = samples_of(arrivals, "arrivals", min_n=2, nonnegative=False)
        if np.any(np.diff(trace) < 0):
            raise ValueError("arrivals must be non-decreasing times in seconds (sort them first)")
        if trace[-1] == trace[0]:
            raise ValueError("arrivals all fall at one instant: a trace needs a duration to have a rate")
        n, arrival_rate = trace.size, (trace.size - 1) / float(trace[-1] - trace[0])
        rho = arrival_rate * mean_s / servers
    else:
        if arrival_rate is None:
            raise TypeError("arrival_rate is None: give a rate in requests/s, or arrivals= to replay a trace")
        arrival_rate = check_number(arrival_rate, "arrival_rate", positive=True, hint="requests per second")
        n = check_number(n, "n", integer=True, lo=100, hint="simulated requests")
        rho = arrival_rate * mean_s / servers
        if rho >= 1:
            raise UnstableQueue(f"unstable: ρ = {rho:.3f} >= 1 ({arrival_rate:g}/s against a capacity of "
                                f"{servers / mean_s:g}/s): no steady state to simulate")
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1 / arrival_rate, n)) if arrivals is None else trace - trace[0]
    service = sample(rng, n)
    start = np.empty(n)
    if servers == 1:  # Lindley: start_i = max(arrival_i, finish_{i-1})
        free = 0.0
        for i, (a, s) in enumerate(zip(arrivals.tolist(), service.tolist())):
            free = (a if a > free else free)
            start[i] = free
            free += s
    else:  # each arrival takes the earliest-free server
        heap = [0.0] * servers
        for i, (a, s) in enumerate(zip(arrivals.tolist(), service.tolist())):
            f = heapq.heappop(heap)
            b = a if a > f else f
            start[i] = b
            heapq.heappush(heap, b + s)
    k = int(n * warmup)
    wait = (start - arrivals)[k:]
    return QueueSimulation(arrival_rate, servers, rho, wait + service[k:], wait)

# %% [markdown]
# The check that makes the simulation trustworthy: on M/M/c, where the closed form is exact, it
# agrees.

# %%
sim = simulate_queue(8.0, st.expon(scale=1.0), servers=10, n=200_000, seed=1)
exact = MMc(8.0, 1.0, 10)
print(sim)
print(f"exact: mean {exact.mean_response:.4f} s, p99 {exact.response_quantile(0.99):.4f} s")

# %% [markdown]
# Now the real SUT. Measure its service times with a SingleStream run (one query at a time: pure
# service, no queueing), then ask the simulation what the Server scenario will see at 60% load:

# %%
ss = run(matmul_sut, dataset, scenario="SingleStream", min_duration=1.5)
service = ss.latencies
capacity = 1 / service.mean()
print(f"service time: mean {format_seconds(service.mean())}, p99 {format_seconds(np.quantile(service, 0.99))}, "
      f"cv {service.std() / service.mean():.2f}; one worker's capacity {capacity:,.0f} queries/s")
pred = simulate_queue(0.6 * capacity, service, n=100_000)
pred

# %% [markdown]
# ## 6. The measured latency-versus-load curve
#
# `latency_curve` runs the real Server scenario at a sweep of arrival rates and records the
# latency percentiles and the completed rate at each: flat, then a **knee**, then a wall. The
# knee is located as the last rate whose p99 stays within twice the p99 at the lowest rate.

# %%
#| export
@dataclass(repr=False)
class LatencyCurve:
    "Measured Server-scenario latency (s) against offered rate (queries/s), and where the knee is."
    rows: list[dict[str, Any]]
    quantile: float

    @property
    def knee(self) -> float | None:
        "The last offered rate whose quantile latency is within 2× the lowest rate's (None if the first fails)."
        base = self.rows[0]["latency"]
        ok = [r["rate"] for r in self.rows if r["latency"] <= 2 * base]
        return max(ok) if ok else None

    def plot(self):
        from matplotlib.figure import Figure
        fig = Figure(figsize=(5, 3), dpi=100)
        ax = fig.add_subplot()
        ax.plot([r["rate"] for r in self.rows], [r["latency"] * 1e3 for r in self.rows], "o-",
                label=f"measured p{self.quantile * 100:g}")
        if any("predicted" in r for r in self.rows):
            pts = [(r["rate"], r["predicted"] * 1e3) for r in self.rows if r.get("predicted") is not None]
            ax.plot(*zip(*pts), "k--", label="simulated from service times")
        if self.knee:
            ax.axvline(self.knee, color="orange", linestyle=":", label="knee")
        ax.set_xlabel("offered rate (queries/s)")
        ax.set_ylabel("ms")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig

    def to_dict(self) -> dict[str, Any]:
        return {"quantile": self.quantile, "knee": self.knee, "rows": self.rows}

    def __repr__(self) -> str:
        pts = ", ".join(f"{r['rate']:,.0f}/s → {format_seconds(r['latency'])}" for r in self.rows)
        return f"LatencyCurve(p{self.quantile * 100:g}: {pts}; knee ≈ {self.knee:,.0f}/s)" if self.knee else \
            f"LatencyCurve(p{self.quantile * 100:g}: {pts})"

    def _repr_html_(self) -> str:
        return f"<div><b>{self!r}</b><br>{figure_img(self.plot())}</div>"


def latency_curve(sut: Callable[[list], Any], dataset: Any, rates: Sequence[float],
                  settings: TestSettings | None = None, service_times: Any = None, **overrides) -> LatencyCurve:
    """Run the Server scenario at each offered rate (queries/s) and record the latency quantile (settings'
    latency_quantile), the completed rate and validity; with `service_times`, also the simulated prediction."""
    if isinstance(rates, (str, bytes)) or not hasattr(rates, "__len__") or not len(rates):
        raise ValueError(f"rates must be a non-empty list of positive queries/s, got {rates!r}")
    rates = [check_number(r, "rates", positive=True, hint="each a rate in queries per second") for r in rates]
    base = settings if settings is not None else TestSettings(**{"scenario": "Server", "target_qps": rates[0],
                                                                  **overrides})
    rows = []
    for rate in sorted(rates):
        res = run(sut, dataset, TestSettings(**{**base.to_dict(), "scenario": "Server", "target_qps": rate}))
        row = {"rate": float(rate), "latency": res.quantile(base.latency_quantile), "completed_qps": res.qps,
               "valid": res.valid}
        if service_times is not None:
            try:
                row["predicted"] = simulate_queue(rate, service_times, base.workers, n=50_000).quantile(
                    base.latency_quantile)
            except UnstableQueue:
                row["predicted"] = None
        rows.append(row)
    return LatencyCurve(rows, base.latency_quantile)

# %%
curve = latency_curve(matmul_sut, dataset, [f * capacity for f in (0.2, 0.4, 0.6, 0.8, 0.9)],
                      min_duration=1.0, target_latency=0.5, service_times=service, max_duration=10)
curve

# %% [markdown]
# ## 7. Concurrency and the Universal Scalability Law
#
# Adding workers raises throughput until they start to fight: **contention** (σ, the serial
# fraction: a lock, the GIL, one memory bus) caps the speed-up as in Amdahl's law, and
# **coherence** (κ, the cost of keeping workers' views consistent) makes throughput *fall* past
# a peak. Gunther's Universal Scalability Law:
#
# `X(N) = λN / (1 + σ(N − 1) + κN(N − 1))`
#
# peaks at `N* = sqrt((1 − σ)/κ)`. `fit_usl` fits σ, κ and λ (throughput of one worker) by
# least squares on log throughput (measurement noise is relative), gives each a t-interval from
# the fit's standard errors (not a residual bootstrap: in a seeded simulation its percentile
# intervals cover only about 90% for a nominal 95%; these cover 95%), and tests
# whether scaling is linear
# (σ = κ = 0) with an F-test of the nested models.

# %%
#| export
def _usl(n: np.ndarray, lam: float, sigma: float, kappa: float) -> np.ndarray:
    "The USL formula, unchecked (what the least-squares fit evaluates thousands of times)."
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def usl(n: Any, lam: float, sigma: float, kappa: float) -> np.ndarray:
    """Universal Scalability Law: throughput (/s) at concurrency n, for the throughput `lam` (/s) of one client,
    contention `sigma` >= 0 and coherency `kappa` >= 0."""
    try:
        n = np.asarray(n, dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"n must be a concurrency or an array of them (numbers >= 0), got {n!r:.60} ({e})") from e
    if not (np.isfinite(n).all() and (n >= 0).all()):
        raise ValueError(f"n must hold finite concurrencies >= 0, got {n.ravel()[:5].tolist()}")
    lam = check_number(lam, "lam", positive=True, hint="throughput of one client, per second")
    sigma = check_number(sigma, "sigma", nonnegative=True, hint="contention, a fraction")
    kappa = check_number(kappa, "kappa", nonnegative=True, hint="coherency delay")
    return _usl(n, lam, sigma, kappa)


@dataclass(repr=False)
class USLFit:
    "USL parameters with t-intervals, the peak concurrency, and the F-test of linear scaling."
    concurrency: np.ndarray
    throughput: np.ndarray
    lam: float
    sigma: float
    kappa: float
    ci: dict[str, tuple[float, float]]
    linear_p: float
    level: float = 0.95

    @property
    def peak_concurrency(self) -> float:
        "sqrt((1 − σ)/κ): where throughput stops rising (inf when κ = 0)."
        return math.inf if self.kappa <= 0 else math.sqrt(max(1 - self.sigma, 0.0) / self.kappa)

    def predict(self, n: Any) -> np.ndarray:
        return usl(n, self.lam, self.sigma, self.kappa)

    def to_dict(self) -> dict[str, Any]:
        return {"lam": self.lam, "sigma": self.sigma, "kappa": self.kappa, "ci": {k: list(v) for k, v in self.ci.items()},
                "peak_concurrency": self.peak_concurrency, "linear_p": self.linear_p,
                "concurrency": self.concurrency.tolist(), "throughput": self.throughput.tolist()}

    def __repr__(self) -> str:
        c = self.ci
        return (f"USLFit(σ = {self.sigma:.4f} [{c['sigma'][0]:.4f}, {c['sigma'][1]:.4f}], κ = {self.kappa:.5f} "
                f"[{c['kappa'][0]:.5f}, {c['kappa'][1]:.5f}], λ = {self.lam:,.1f}/s; peak at N ≈ "
                f"{self.peak_concurrency:.1f}; linear scaling p = {self.linear_p:.2g})")

    def plot(self):
        from matplotlib.figure import Figure
        fig = Figure(figsize=(5, 3), dpi=100)
        ax = fig.add_subplot()
        ax.plot(self.concurrency, self.throughput, "o", label="measured")
        grid = np.linspace(1, max(self.concurrency.max(), min(self.peak_concurrency * 1.5, 4 * self.concurrency.max())), 200)
        ax.plot(grid, self.predict(grid), "-", label="USL fit")
        ax.plot(grid, self.lam * grid, ":", color="grey", label="linear")
        ax.set_ylim(0, self.throughput.max() * 1.4)
        ax.set_xlabel("concurrency N")
        ax.set_ylabel("throughput (/s)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig

    def _repr_html_(self) -> str:
        return f"<div><b>{self!r}</b><br>{figure_img(self.plot())}</div>"


def _fit_usl_params(n: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    "Least squares on log throughput (measurement noise is relative): parameters and their covariance."
    from scipy.optimize import curve_fit
    lam0 = float(x[np.argmin(n)] / n.min())
    return curve_fit(lambda n, lam, s, k: np.log(_usl(n, lam, s, k)), n, np.log(x), p0=[lam0, 0.01, 0.0001],
                     bounds=([1e-12, 0, 0], [np.inf, 1, 1]), maxfev=20_000)


def fit_usl(concurrency: Sequence[float], throughput: Sequence[float], level: float = 0.95) -> USLFit:
    """USL fit of throughput (/s) against concurrency (least squares on log throughput), t-intervals from the
    fit's standard errors, and an F-test of linear scaling (σ = κ = 0)."""
    level = check_level(level)
    n, x = samples_of(concurrency, "concurrency", min_n=4), samples_of(throughput, "throughput", min_n=4)
    if n.shape != x.shape or n.size < 4:
        raise ValueError(f"need at least 4 (concurrency, throughput) pairs of equal length, got {n.size} and {x.size}")
    if np.any(n < 1) or np.any(x <= 0) or not np.isfinite(x).all():
        raise ValueError("concurrency must be >= 1 and throughput positive and finite")
    (lam, sigma, kappa), cov = _fit_usl_params(n, x)
    dof = n.size - 3
    se = np.sqrt(np.maximum(np.diag(cov), 0.0)) if np.isfinite(cov).all() else np.full(3, np.inf)
    tq = st.t.ppf(1 - (1 - level) / 2, dof) if dof > 0 else math.inf
    ci = {k: (float(max(v - tq * e, 0.0)), float(v + tq * e))
          for k, v, e in zip(("lam", "sigma", "kappa"), (lam, sigma, kappa), se)}
    resid = np.log(x) - np.log(usl(n, lam, sigma, kappa))
    lam_lin = float(np.exp(np.mean(np.log(x / n))))  # the linear model X = λN, fitted on the same log scale
    rss0, rss1 = float(((np.log(x) - np.log(lam_lin * n)) ** 2).sum()), float((resid ** 2).sum())
    F = ((rss0 - rss1) / 2) / (rss1 / dof) if rss1 > 0 and dof > 0 else math.inf
    p = float(st.f.sf(F, 2, dof)) if dof > 0 and math.isfinite(F) else 0.0
    return USLFit(n, x, float(lam), float(sigma), float(kappa), ci, p, level)

# %% [markdown]
# A synthetic check first (known σ = 0.05, κ = 0.002, 3% noise), then a real sweep: the matmul
# SUT in the Offline scenario with 1 to 6 worker threads on this machine (each on one BLAS thread).

# %%
n_grid = np.arange(1, 17)
true = usl(n_grid, 1000.0, 0.05, 0.002)
noisy = true * np.random.default_rng(4).lognormal(0, 0.03, n_grid.size)
fit_usl(n_grid, noisy)

# %% [markdown]
# On a shared machine one short run per point can land in a slow spell, and a single bad point
# moves the fitted peak anywhere from 0 to millions of workers. So the sweep runs three
# interleaved rounds (every worker count once per round, in a different order each round) and
# fits the median throughput per worker count; then it says how far the fit can be trusted.

# %%
counts = (1, 2, 3, 4, 6)
rounds = {w: [] for w in counts}
for k in range(3):
    for workers in np.random.default_rng(k).permutation(counts).tolist():
        r = run(matmul_sut, dataset, scenario="Offline", workers=workers, min_duration=0.3,
                expected_qps=2 * capacity, offline_batch_size=8)
        rounds[workers].append(r.samples_per_second)
sweep = [(w, float(np.median(x))) for w, x in rounds.items()]
real_fit = fit_usl(*zip(*sweep))
real_fit

# %%
import os

spread = max((max(x) - min(x)) / np.median(x) for x in rounds.values())
k_lo, k_hi = real_fit.ci["kappa"]
print(f"{os.cpu_count()} CPU cores; the rounds of one worker count differed by up to {spread:.0%}")
if k_lo <= 0:
    print(f"κ's interval [{k_lo:.2g}, {k_hi:.2g}] includes 0: this sweep cannot place a peak, so the fitted "
          f"N* = {real_fit.peak_concurrency:.3g} is not a finding")
else:
    print(f"throughput peaks near N* = {real_fit.peak_concurrency:.1f} workers (σ = {real_fit.sigma:.3f}, "
          f"κ = {real_fit.kappa:.2g}, both intervals above 0)")

# %% [markdown]
# ## 8. The capacity plan
#
# `plan_capacity` turns measured service times into a deployment: for a target rate (grown by
# `growth`), find the fewest replicas such that (a) each replica's utilisation stays at or below
# `1 − headroom` (room for bursts and failover), and (b) the predicted SLO percentile, simulated
# from the measured service times with Poisson arrivals split evenly across replicas, meets the
# SLO. It also reports the largest rate one replica sustains within the SLO, the prediction's
# interval, cost per million inferences when a replica-hour price is given, and every assumption
# it made.
#
# ### Exercise 3: `replicas_needed` (3 points)
#
# The closed-form version, for exponential service: each of `r` replicas is an M/M/1 queue with
# service rate `service_rate` (/s) receiving `target_qps / r`. Return the smallest `r`
# (1 ≤ r ≤ `max_replicas`) for which every replica is stable and its `percentile` response time,
# `−ln(1 − percentile)/(μ − λ/r)`, is at most `slo` seconds. If even the service time alone is
# too slow for the SLO (`−ln(1 − percentile)/μ > slo`, which no number of replicas fixes), raise
# `ValueError`; if `max_replicas` is not enough, raise `ValueError` as well.

# %% nbgrader={"grade": false, "grade_id": "replicas-needed", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def replicas_needed(target_qps: float, service_rate: float, slo: float, quantile: float = 0.99,
                    max_replicas: int = 100_000) -> int:
    "Fewest M/M/1 replicas (each gets target_qps / r) whose quantile response time (s) meets the SLO (s)."
    target_qps = check_number(target_qps, "target_qps", positive=True, hint="queries per second")
    service_rate = check_number(service_rate, "service_rate", positive=True, hint="queries per second per replica")
    slo = check_number(slo, "slo", positive=True, hint="seconds")
    quantile = check_quantile(quantile, "quantile", open_interval=True)
    max_replicas = check_number(max_replicas, "max_replicas", integer=True, lo=1)
    ### BEGIN SOLUTION
    k = -math.log(1 - quantile)
    if k / service_rate > slo:
        raise ValueError(f"the SLO {slo} s is below the p{quantile * 100:g} of the service time alone "
                         f"({k / service_rate:.4g} s): no number of replicas meets it")
    r = max(1, math.ceil(target_qps / (service_rate - k / slo)))  # λ/r <= μ − k/slo
    while target_qps / r >= service_rate or k / (service_rate - target_qps / r) > slo:  # rounding guard
        r += 1
    if r > max_replicas:
        raise ValueError(f"{r} replicas needed, more than max_replicas = {max_replicas}")
    return r
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test-replicas-needed", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
got = replicas_needed(2000, 100, 0.05)
assert got == 254, f"replicas_needed(2000, 100, 0.05): each replica may take μ − ln(100)/0.05 ≈ 7.9/s, " \
    f"2000/7.9 → expected 254, got {got!r}"
got = replicas_needed(50, 100, 1.0)
assert got == 1, f"replicas_needed(50, 100, 1.0): one replica at ρ = 0.5 meets a 1 s p99 (92 ms): expected 1, got {got!r}"
### BEGIN HIDDEN TESTS
from tinybench.nbutils import assert_own as _assert_own
_assert_own(replicas_needed, "tinybench.capacity")
for lam, mu, slo, q in [(2000, 100, 0.05, 0.99), (500, 40, 0.3, 0.9), (10, 1, 20, 0.5), (1e5, 2000, 0.01, 0.999)]:
    r = replicas_needed(lam, mu, slo, q)
    ok = lambda n: lam / n < mu and -math.log(1 - q) / (mu - lam / n) <= slo  # noqa: E731
    want = next(n for n in range(1, 10**6) if ok(n))
    assert r == want, f"replicas_needed({lam}, {mu}, {slo}, {q}): the fewest replicas that meet the SLO is {want}, got {r!r}"
try:
    got = replicas_needed(10, 100, 0.01)  # p99 of service alone is 46 ms
except ValueError:
    pass
else:
    raise AssertionError(f"replicas_needed(10, 100, 0.01): an SLO (10 ms) below the service time's own p99 (46 ms) "
                         f"must raise ValueError, got {got!r}")
try:
    got = replicas_needed(1e6, 100, 0.05, max_replicas=10)
except ValueError:
    pass
else:
    raise AssertionError(f"replicas_needed(1e6, 100, 0.05, max_replicas=10) needs more than 10 replicas: "
                         f"expected ValueError, got {got!r}")
### END HIDDEN TESTS

# %%
replicas_needed = use_reference_if_open(replicas_needed, 100.0, 10.0, 1.0)  # the SLO, not capacity, decides

# %%
#| export
def _service_times_of(service: Any) -> np.ndarray:
    "Service times (s) from samples, a Measurement, or a ScenarioResult (completion − start of each query)."
    if isinstance(service, ScenarioResult):
        ok = ~np.isnan(service.completed) & ~np.isnan(service.started)
        s = (service.completed - service.started)[ok]
        if s.size == 0:
            raise ValueError("the ScenarioResult has no completed queries to take service times from")
        return s
    return samples_of(service, "service_times", min_n=1, positive=True)


@dataclass(repr=False)
class CapacityPlan:
    "Replicas for a target rate under a latency SLO, predicted from measured service times; see `plan_capacity`."
    target_qps: float
    design_qps: float
    slo_latency: float
    slo_quantile: float
    replicas: int
    utilisation: float
    predicted: float
    predicted_ci: tuple[float, float]
    max_qps_per_replica: float
    mean_service: float
    cost_per_million: float | None
    assumptions: list[str]
    curve: list[tuple[float, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["predicted_ci"] = list(self.predicted_ci)
        return d

    def __repr__(self) -> str:
        cost = f"; ${self.cost_per_million:,.2f} per million inferences" if self.cost_per_million is not None else ""
        lo, hi = self.predicted_ci
        return (f"CapacityPlan({self.replicas} replicas for {self.design_qps:,.0f}/s (target {self.target_qps:,.0f}/s): "
                f"utilisation {self.utilisation:.0%} each, predicted p{self.slo_quantile * 100:g} "
                f"{format_seconds(self.predicted)} [{format_seconds(lo)}, {format_seconds(hi)}] vs SLO "
                f"{format_seconds(self.slo_latency)}; one replica sustains {self.max_qps_per_replica:,.0f}/s within "
                f"the SLO{cost})")

    def plot(self):
        from matplotlib.figure import Figure
        fig = Figure(figsize=(5, 3), dpi=100)
        ax = fig.add_subplot()
        if self.curve:
            ax.plot([r for r, _ in self.curve], [p * 1e3 for _, p in self.curve], "o-",
                    label=f"predicted p{self.slo_quantile * 100:g}")
        ax.axhline(self.slo_latency * 1e3, color="red", linestyle="--", label="SLO")
        ax.axvline(self.design_qps / self.replicas, color="green", linestyle=":", label="planned load per replica")
        ax.set_xlabel("queries/s per replica")
        ax.set_ylabel("ms")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{a}</li>" for a in self.assumptions)
        return f"<div><b>{self!r}</b><br>{figure_img(self.plot())}<br>Assumptions:<ul>{items}</ul></div>"

# %%
#| export
def _max_rate_within(service: np.ndarray, slo: float, q: float, servers: int, n: int, seed: int) -> float:
    "Largest Poisson rate (/s) at which the simulated percentile q stays within slo (bisection, common random numbers)."
    cap = servers / service.mean()
    lo, hi = 0.0, cap * 0.999
    for _ in range(30):
        mid = (lo + hi) / 2
        if mid <= 0:
            break
        if simulate_queue(mid, service, servers, n=n, seed=seed).quantile(q) <= slo:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-3 * cap:
            break
    return lo


def plan_capacity(service: Any, target_qps: float, slo_latency: float, slo_quantile: float = 0.99,
                  growth: float = 0.0, headroom: float = 0.2, cost_per_replica_hour: float | None = None,
                  workers_per_replica: int = 1, n_sim: int = 50_000, seed: int = 0) -> CapacityPlan:
    """Fewest replicas serving target_qps·(1 + growth) with per-replica utilisation <= 1 − headroom and the
    simulated `slo_quantile` latency within `slo_latency` (s). `service`: measured service times (s), a
    Measurement or a ScenarioResult."""
    s = _service_times_of(service)
    target_qps = check_number(target_qps, "target_qps", positive=True, hint="queries per second")
    slo_latency = check_number(slo_latency, "slo_latency", positive=True, hint="seconds")
    slo_quantile = check_quantile(slo_quantile, "slo_quantile", open_interval=True)
    growth = check_number(growth, "growth", nonnegative=True, hint="a fraction: 0.5 for 50% more traffic")
    headroom = check_number(headroom, "headroom", lo=0, hint="a fraction below 1: 0.2 keeps 20% spare")
    if not headroom < 1:
        raise ValueError(f"headroom must be below 1 (0.2 keeps 20% spare), got {headroom!r}")
    if cost_per_replica_hour is not None:
        cost_per_replica_hour = check_number(cost_per_replica_hour, "cost_per_replica_hour", nonnegative=True,
                                             hint="currency per replica-hour, or None")
    workers_per_replica = check_number(workers_per_replica, "workers_per_replica", integer=True, lo=1)
    n_sim = check_number(n_sim, "n_sim", integer=True, lo=100, hint="simulated requests")
    floor = float(np.quantile(s, slo_quantile))
    if not slo_latency > floor:
        raise ValueError(f"the SLO {format_seconds(slo_latency)} is not above the p{slo_quantile * 100:g} of the "
                         f"service time alone ({format_seconds(floor)}): no number of replicas meets it; make the "
                         "model faster or relax the SLO")
    design = target_qps * (1 + growth)
    per_replica_cap = workers_per_replica / s.mean()
    max_within = _max_rate_within(s, slo_latency, slo_quantile, workers_per_replica, n_sim, seed)
    if max_within <= 0:
        raise ValueError("even a trickle of traffic misses the SLO in simulation: relax the SLO")
    usable = min(max_within, (1 - headroom) * per_replica_cap)
    replicas = max(1, math.ceil(design / usable))
    sim = simulate_queue(design / replicas, s, workers_per_replica, n=n_sim * 2, seed=seed + 1)
    while sim.quantile(slo_quantile) > slo_latency:  # the search's estimate was optimistic by sampling noise
        replicas += 1
        sim = simulate_queue(design / replicas, s, workers_per_replica, n=n_sim * 2, seed=seed + 1)
    curve = []
    for f in (0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95):
        curve.append((f * per_replica_cap, simulate_queue(f * per_replica_cap, s, workers_per_replica,
                                                          n=n_sim // 2, seed=seed).quantile(slo_quantile)))
    cost = None if cost_per_replica_hour is None else replicas * cost_per_replica_hour / (target_qps * 3600) * 1e6
    assumptions = [
        f"service times drawn from the {s.size:,} measured samples (mean {format_seconds(float(s.mean()))}, "
        f"p{slo_quantile * 100:g} {format_seconds(floor)}), independent of each other and of the load",
        "Poisson arrivals, split evenly and at random across replicas (each replica sees Poisson traffic)",
        f"{workers_per_replica} worker(s) per replica serving one FIFO queue; no batching, no network time",
        f"design load = target × (1 + growth {growth:.0%}); utilisation capped at {1 - headroom:.0%} "
        f"(headroom {headroom:.0%} for bursts and failover)",
        "latency runs from arrival to completion, as in the Server scenario; validate the plan with a Server run"]
    return CapacityPlan(target_qps, design, slo_latency, slo_quantile, replicas,
                        design / replicas / per_replica_cap, sim.quantile(slo_quantile),
                        sim.quantile_ci(slo_quantile), max_within, float(s.mean()), cost, assumptions, curve)

# %% [markdown]
# The plan for the matmul SUT: 20,000 queries/s with 30% growth, 20% headroom, at $0.50 per
# replica-hour, and a p99 SLO of five times the measured p99 service time (an SLO below the service
# time alone cannot be met by any number of replicas, so the SLO is derived from what this run measured).

# %%
slo = 5 * float(np.quantile(service, 0.99))
plan = plan_capacity(service, target_qps=20_000, slo_latency=slo, growth=0.3, headroom=0.2,
                     cost_per_replica_hour=0.50)
plan

# %% [markdown]
# **Checked against reality.** A plan is a prediction; the Server scenario is the measurement.
# Run one replica (one worker) at 60% of its capacity and compare the measured p99 with the
# simulated one, predicted twice: from the SingleStream service times measured earlier, and from
# the service times of the Server run itself (completion minus start of each query).

# %%
rate = 0.6 * capacity
measured = run(matmul_sut, dataset, scenario="Server", target_qps=rate, min_duration=3.0, target_latency=0.5,
               max_duration=10)
in_run = measured.completed - measured.started
print(f"at {rate:,.0f} queries/s: measured p99 {format_seconds(measured.quantile(0.99))}")
for name, times in (("the SingleStream run", service), ("this Server run", in_run)):
    try:
        p = simulate_queue(rate, times, n=200_000)
    except UnstableQueue as e:  # the service slowed so much under load that this rate is past its capacity
        print(f"  no prediction from {name}'s service times (mean {format_seconds(times.mean())}): {e}")
        continue
    lo, hi = p.quantile_ci(0.99)
    print(f"  predicted from {name}'s service times (mean {format_seconds(times.mean())}): "
          f"p99 {format_seconds(p.quantile(0.99))} [{format_seconds(lo)}, {format_seconds(hi)}]")

# %% [markdown]
# The simulation assumed Poisson arrivals. The load generator's schedule is Poisson, but each
# query is issued when the issuer thread wakes up, a little late, and on a busy machine late in
# bursts: one stall delays several queries, which then arrive together. `arrivals=` replays
# recorded times instead (here the times this run issued its queries; in production, a trace),
# and adding each query's issue lateness gives latency from the schedule, as the Server scenario
# reports it:

# %%
ok = np.isfinite(in_run)
replay = simulate_queue(None, in_run[ok], arrivals=measured.issued[ok], warmup=0)
from_schedule = replay.response + measured.issue_lateness[ok]
print(f"  replaying the issued times (issue lateness p50 {format_seconds(np.median(measured.issue_lateness))}, "
      f"p99 {format_seconds(np.quantile(measured.issue_lateness, 0.99))}): "
      f"p99 {format_seconds(np.quantile(from_schedule, 0.99))}")

# %% [markdown]
# On a quiet machine the predictions should agree closely with each other and with the
# measurement. When the measured tail is far above the Poisson predictions but close to the
# replay, the difference is the load generator's bursty lateness. When it is far above all of them, the difference is time the model does not see: a service time that grew under
# load (the load generator shares the machine), or stalls between queries (another process
# taking the core, a garbage-collection pause) that delay everything queued behind them. On a
# small shared machine a single short run often lands well above the prediction: compare the two
# lines above for this run, and run it again to see how much it moves. Both are findings: the
# model is right about the queue, and the environment adds a tail of its own. Measure service
# times under the conditions you will serve in, and validate every plan with a Server run.

# %% [markdown]
# ## Summary
#
# - Little's law L = λW holds for any stable system: use it to check measurements.
# - Waiting grows like ρ/(1 − ρ); the tail grows with it, so a p99 SLO binds well below 100%.
# - Pool servers (M/M/c, Erlang C); use Kingman/Allen–Cunneen for a quick estimate with general
#   distributions, and simulation with measured service times for the answer.
# - Concurrency scales until contention (σ) and coherence (κ) stop it: fit the USL to a sweep.
# - Plan replicas from the SLO percentile, with headroom and growth, and check the prediction
#   against a Server run before trusting it.
