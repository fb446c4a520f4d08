"""tinybench.capacity: closed forms against independent values, simulation against Erlang C, USL recovery,
and a plan's prediction against the measured Server scenario."""
import math
import time

import numpy as np
import pytest
import scipy.stats as st

from tinybench.capacity import (MD1, MM1, MMc, UnstableQueue, allen_cunneen, erlang_c, fit_usl, kingman,
                                latency_curve, littles_law, mean_in_system, plan_capacity, replicas_needed,
                                simulate_queue, usl)
from tinybench.scenarios import ArrayDataset, burst_schedule, fifo_latencies, poisson_schedule, run

DS = ArrayDataset(np.arange(64))


def test_closed_forms_against_independent_values():
    q = MMc(8.0, 1.0, 10)
    assert q.p_wait == pytest.approx(0.4092, abs=1e-4) and q.mean_wait == pytest.approx(0.2046, abs=1e-4)
    assert MM1(0.8, 1.0).response_quantile(0.99) == pytest.approx(math.log(100) / 0.2, rel=1e-12)
    assert MM1(0.8, 1.0).mean_response == pytest.approx(5.0)
    assert MD1(0.8, 1.0).mean_wait == pytest.approx(2.0)
    # M/M/1 is M/M/c with c = 1: the two routes agree
    assert MMc(0.8, 1.0, 1).response_quantile(0.99) == pytest.approx(MM1(0.8, 1.0).response_quantile(0.99), rel=1e-9)
    assert MMc(0.8, 1.0, 1).p_wait == pytest.approx(0.8)
    # Kingman with c_a = c_s = 1 is exact for M/M/1; with c_s = 0 it is M/D/1's Pollaczek–Khinchine value
    assert kingman(0.8, 1.0) == pytest.approx(MM1(0.8, 1.0).mean_wait)
    assert kingman(0.8, 1.0, cs2=0.0) == pytest.approx(MD1(0.8, 1.0).mean_wait)
    assert allen_cunneen(8.0, 1.0, 10) == pytest.approx(q.mean_wait)


def test_erlang_c_large_fleet_matches_erlang_b_recursion():
    b = 1.0
    for k in range(1, 801):
        b = 700.0 * b / (k + 700.0 * b)
    assert erlang_c(800, 700.0) == pytest.approx(800 * b / (800 - 700.0 * (1 - b)), rel=1e-9)


def test_unstable_loads_are_explicit():
    for q in (MM1(1.0, 1.0), MD1(1.2, 1.0), MMc(10.0, 1.0, 10)):
        assert not q.stable and "UNSTABLE" in repr(q)
        with pytest.raises(UnstableQueue, match="unstable"):
            q.mean_wait
    with pytest.raises(UnstableQueue):
        MM1(2.0, 1.0).response_quantile(0.99)
    with pytest.raises(UnstableQueue):
        erlang_c(4, 4.0)
    with pytest.raises(UnstableQueue):
        simulate_queue(2.0, [1.0], servers=1)
    with pytest.raises(ValueError, match="positive"):
        MM1(-1.0, 1.0)
    with pytest.raises(ValueError, match="positive"):
        MM1(0.5, 0.0)
    assert MM1(0.5, 1.0).to_dict()["stable"] and "mean_wait" not in MM1(2.0, 1.0).to_dict()


@pytest.mark.parametrize("lam", [5.0, 8.0, 9.0])
def test_simulation_agrees_with_erlang_c(lam):
    exact = MMc(lam, 1.0, 10)
    sim = simulate_queue(lam, st.expon(scale=1.0), servers=10, n=400_000, seed=3)
    assert sim.mean_response == pytest.approx(exact.mean_response, rel=0.03)
    assert sim.quantile(0.99) == pytest.approx(exact.response_quantile(0.99), rel=0.03)
    lo, hi = sim.quantile_ci(0.99)
    assert lo < sim.quantile(0.99) < hi


def test_single_server_simulation_agrees_with_md1_and_mm1():
    sim = simulate_queue(0.8, [1.0], servers=1, n=400_000, seed=5)  # deterministic service
    assert sim.mean_response == pytest.approx(MD1(0.8, 1.0).mean_response, rel=0.03)
    sim = simulate_queue(0.7, st.expon(scale=1.0), n=400_000, seed=6)
    assert sim.quantile(0.99) == pytest.approx(MM1(0.7, 1.0).response_quantile(0.99), rel=0.03)
    assert "QueueSimulation" in repr(sim) and sim.to_dict()["servers"] == 1


def test_simulation_bad_input():
    with pytest.raises(ValueError):
        simulate_queue(1.0, [])
    with pytest.raises(ValueError, match="arrival_rate"):
        simulate_queue(0.0, [1.0])


def test_littles_law_and_mean_in_system():
    assert littles_law(lam=100, W=0.05) == pytest.approx(5.0)
    assert littles_law(L=5, W=0.05) == pytest.approx(100)
    assert littles_law(L=5, lam=100) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="exactly two"):
        littles_law(L=1)
    sim_arr = np.cumsum(np.random.default_rng(0).exponential(0.01, 20_000))
    dep = sim_arr + 0.005
    T = dep[-1]
    assert mean_in_system(sim_arr, dep, T) == pytest.approx(len(sim_arr) / T * 0.005, rel=1e-9)


def test_fit_usl_recovers_known_parameters_within_intervals():
    n = np.arange(1, 25)
    truth = dict(lam=500.0, sigma=0.04, kappa=0.003)
    x = usl(n, **truth) * np.random.default_rng(7).lognormal(0, 0.02, n.size)
    fit = fit_usl(n, x)
    for k, v in truth.items():
        lo, hi = fit.ci[k]
        assert lo <= v <= hi, (k, v, fit.ci[k])
    assert fit.peak_concurrency == pytest.approx(math.sqrt((1 - fit.sigma) / fit.kappa))
    assert 12 < fit.peak_concurrency < 24 and fit.linear_p < 1e-6
    assert "peak at N" in repr(fit) and "<img" in fit._repr_html_()


def test_fit_usl_intervals_have_their_coverage():
    n, truth, hits = np.arange(1, 25), (500.0, 0.04, 0.003), np.zeros(3)
    for seed in range(200):
        x = usl(n, *truth) * np.random.default_rng(seed).lognormal(0, 0.02, n.size)
        fit = fit_usl(n, x)
        hits += [fit.ci[k][0] <= v <= fit.ci[k][1] for k, v in zip(("lam", "sigma", "kappa"), truth)]
    assert np.all(hits / 200 >= 0.91), hits / 200  # nominal 95%; 200 runs give a standard error of 1.5%


def test_fit_usl_linear_scaling_is_not_rejected_on_linear_data():
    n = np.arange(1, 13)
    x = 100.0 * n * np.random.default_rng(1).lognormal(0, 0.01, n.size)
    fit = fit_usl(n, x)
    assert fit.linear_p > 0.01 and fit.sigma < 0.02
    with pytest.raises(ValueError, match="at least 4"):
        fit_usl([1, 2], [1.0, 2.0])


def test_replicas_needed_closed_form():
    assert replicas_needed(2000, 100, 0.05) == 254
    assert replicas_needed(50, 100, 1.0) == 1
    with pytest.raises(ValueError, match="no number of replicas"):
        replicas_needed(10, 100, 0.01)


def test_plan_capacity_structure_and_errors():
    s = np.random.default_rng(0).lognormal(np.log(2e-3), 0.2, 2000)
    plan = plan_capacity(s, target_qps=1000, slo_latency=0.02, growth=0.5, headroom=0.25, cost_per_replica_hour=1.0,
                         n_sim=20_000)
    assert plan.design_qps == pytest.approx(1500)
    assert plan.utilisation <= 0.75 + 1e-9 and plan.predicted <= 0.02
    assert plan.replicas >= math.ceil(1500 / min(plan.max_qps_per_replica, 0.75 / s.mean()))
    assert plan.replicas <= math.ceil(1500 / min(plan.max_qps_per_replica, 0.75 / s.mean())) + 1
    assert plan.cost_per_million == pytest.approx(plan.replicas * 1.0 / (1000 * 3600) * 1e6)
    assert len(plan.assumptions) >= 4 and "replicas" in repr(plan) and "<img" in plan._repr_html_()
    with pytest.raises(ValueError, match="no number of replicas"):
        plan_capacity(s, 100, slo_latency=1e-3)
    with pytest.raises(ValueError, match="target_qps"):
        plan_capacity(s, 0, slo_latency=0.02)
    with pytest.raises(ValueError):
        plan_capacity([], 100, slo_latency=0.02)


class LognormalSleep:
    "A SUT whose service time is a sleep drawn from a seeded lognormal (mean 2 ms, CV ~0.5): M/G/1 without the CPU."

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def __call__(self, batch):
        time.sleep(self.rng.lognormal(np.log(2e-3) - 0.125, 0.5))
        return [0] * len(batch)


def test_plan_prediction_matches_the_measured_server_p99():
    """The simulated p50 and p99 against the Server scenario's, at utilisation ~0.6, like with like.

    The Server scenario's latency runs from the schedule, so it holds the harness's own overhead, which tinybench
    measures in the same run: the issuer's lateness (time.sleep overshoot) and the hand-off to the worker thread
    (issue, or the previous completion, to the start of service). The prediction replays the arrivals as they were
    issued (`simulate_queue(arrivals=...)`), with service drawn i.i.d. from the measured busy time per query
    (service + hand-off), and adds each query's measured lateness. Leaving out the lateness and hand-off gave
    1.30-1.84x at p50 on a quiet machine (lateness ~125 us at the median against ~500 us of service); simulating
    Poisson arrivals and adding the lateness gave 1.26-1.29x at p50 with two CPU-bound processes alongside: the
    issuer is late in bursts there (one stall delays several queries, which then arrive together), and bursty
    arrivals wait longer than Poisson ones.

    The SUT sleeps a seeded random time (not numpy work): with two CPU-bound processes alongside, a CPU-bound SUT's
    capacity changed between the SingleStream and Server runs (utilisation 0.31-1.32 for a planned 0.6) and within
    them. Stalls from other tenants (tens of ms) can still inflate one 3 s run's p99, so an attempt passes when p50 is
    within 25% and p99 within 50%, and the test takes the first of up to five attempts that does. A wrong model
    misses on all of them: latency timed from the start of service, hiding the queue (coordinated omission), gives
    ratios near 0.6 (p50) and 0.3 (p99) at this load."""
    ratios = []
    for attempt in range(5):
        service = run(LognormalSleep(attempt), DS, scenario="SingleStream", min_duration=1.0).latencies
        rate = 0.6 / service.mean()
        measured = run(LognormalSleep(100 + attempt), DS, scenario="Server", target_qps=rate, min_duration=3.0,
                       target_latency=1.0)
        in_run = measured.completed - measured.started
        handoff = measured.started - np.maximum(measured.issued, np.concatenate([[-np.inf], measured.completed[:-1]]))
        replays = [simulate_queue(None, in_run + handoff, arrivals=measured.issued, warmup=0, seed=k).response
                   for k in range(20)]
        predicted = np.concatenate(replays) + np.tile(measured.issue_lateness, len(replays))
        ratios.append(tuple(measured.quantile(q) / np.quantile(predicted, q) for q in (0.5, 0.99)))
        if abs(ratios[-1][0] - 1) <= 0.25 and abs(ratios[-1][1] - 1) <= 0.5:
            break
    assert abs(ratios[-1][0] - 1) <= 0.25 and abs(ratios[-1][1] - 1) <= 0.5, \
        f"measured/predicted (p50, p99) in each attempt: {ratios}"
    plan = plan_capacity(measured, target_qps=rate, slo_latency=1.0, headroom=0.0, n_sim=20_000)
    assert plan.mean_service == pytest.approx(float(np.nanmean(in_run)), rel=1e-9), "a ScenarioResult's service times"


def test_simulate_queue_replays_a_trace():
    "Replayed arrivals: exact against Lindley's recursion with constant service; bursts wait longer than Poisson."
    poisson = poisson_schedule(100.0, 5000, seed=3)
    sim = simulate_queue(None, [5e-3], arrivals=poisson, warmup=0)
    assert sim.arrival_rate == pytest.approx(4999 / (poisson[-1] - poisson[0]))
    assert np.allclose(sim.response, fifo_latencies(poisson, np.full(poisson.size, 5e-3)))
    bursty = simulate_queue(None, [5e-3], arrivals=burst_schedule(100.0, 5000, burst_size=4, seed=3), warmup=0)
    assert bursty.wait.mean() > 2 * sim.wait.mean()
    overloaded = simulate_queue(None, [20e-3], arrivals=poisson, warmup=0)  # a finite trace needs no steady state
    assert overloaded.utilisation > 1 and overloaded.wait[-1] > 10
    with pytest.raises(ValueError, match="not both"):
        simulate_queue(100.0, [5e-3], arrivals=poisson)
    with pytest.raises(ValueError, match="non-decreasing"):
        simulate_queue(None, [5e-3], arrivals=poisson[::-1])
    with pytest.raises(ValueError, match="one instant"):
        simulate_queue(None, [5e-3], arrivals=[1.0, 1.0, 1.0])
    with pytest.raises(TypeError, match="arrival_rate"):
        simulate_queue(None, [5e-3])


def sleep_sut(batch):
    time.sleep(2e-3)  # a known service time: a test of the load generator path, not a model
    return [0] * len(batch)


def test_latency_curve_has_a_knee_below_capacity():
    curve = latency_curve(sleep_sut, DS, [100, 300, 450, 600], min_duration=0.8, target_latency=0.5)
    lat = [r["latency"] for r in curve.rows]
    assert lat[-1] > 3 * lat[0], "past capacity (~480/s) the latency explodes"
    assert curve.knee is not None and curve.knee <= 450
    with pytest.raises(ValueError, match="rates"):
        latency_curve(sleep_sut, DS, [])


@pytest.mark.parametrize("cs2", [0.25, 2.0])
def test_allen_cunneen_against_simulation_of_m_g_c(cs2):
    "Allen–Cunneen is an approximation: within 10% of a simulated M/G/c at 4 servers and high load; exact for c=1."
    sigma = np.sqrt(np.log(1 + cs2))
    service = st.lognorm(sigma, scale=np.exp(-sigma**2 / 2))  # mean 1 s, squared CV cs2
    for c, rho, tol in ((1, 0.7, 0.06), (4, 0.85, 0.10)):
        sim = np.mean([simulate_queue(rho * c, service, servers=c, n=150_000, seed=s).wait.mean() for s in range(3)])
        approx = allen_cunneen(rho * c, 1.0, c, 1.0, cs2)
        assert approx == pytest.approx(sim, rel=tol), (c, rho, approx, sim)
    if cs2 < 1:  # the documented direction of its error: low for low-variability service at c = 4
        sim4 = np.mean([simulate_queue(0.7 * 4, service, servers=4, n=150_000, seed=s).wait.mean() for s in range(3)])
        assert allen_cunneen(0.7 * 4, 1.0, 4, 1.0, cs2) < sim4


@pytest.mark.parametrize("c,a", [(1000, 800.0), (2000, 1900.0), (500, 450.0), (10, 8.0), (1, 0.5)])
def test_erlang_c_is_finite_and_exact_for_large_fleets(c, a):
    """Against an independent computation in logarithms (scipy): the reference once returned NaN at c = 1000."""
    from scipy.special import gammaln, logsumexp
    k = np.arange(c)
    log_terms = k * np.log(a) - gammaln(k + 1)
    log_last = c * np.log(a) - gammaln(c + 1) + np.log(c / (c - a))
    want = float(np.exp(log_last - logsumexp(np.append(log_terms, log_last))))
    got = erlang_c(c, a)
    assert math.isfinite(got) and got == pytest.approx(want, rel=1e-9, abs=1e-15)
