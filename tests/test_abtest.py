"""tinybench.abtest: SRM and power against scipy/statsmodels, sequential tests by seeded simulation,
guardrails, the ABTest router, interleaved comparisons and regression verdicts."""
import math

import numpy as np
import pytest
import scipy.stats as st

from tinybench.abtest import (ABTest, SequentialTest, assign_arm, detect_regression, group_sequential_bounds,
                              interleaved_compare, paired_ratio, peeking_false_positive_rate, plan_experiment,
                              proportion_diff_ci, rate_guardrail, latency_guardrail, regression_verdict, srm_test,
                              wilson_ci)
from tinybench.timing import measure


def test_srm_matches_scipy_chisquare():
    for n_a, n_b, split in [(5050, 4950, 0.5), (8000, 2100, 0.2), (10, 30, 0.7)]:
        n = n_a + n_b
        ref = st.chisquare([n_a, n_b], [n * (1 - split), n * split])
        assert srm_test(n_a, n_b, split) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-12)
    with pytest.raises(ValueError, match="split"):
        srm_test(1, 1, 1.0)
    with pytest.raises(ValueError, match="counts"):
        srm_test(0, 0)


def test_assign_arm_is_deterministic_and_splits_as_asked():
    arms = [assign_arm(i, 0.3, seed=5) for i in range(50_000)]
    assert abs(arms.count("B") / len(arms) - 0.3) < 0.01
    assert srm_test(arms.count("A"), arms.count("B"), 0.3)[1] > 0.001
    assert [assign_arm(i, 0.3, seed=5) for i in range(100)] == arms[:100]
    assert [assign_arm(i, 0.3, seed=6) for i in range(100)] != arms[:100]
    with pytest.raises(ValueError, match="split"):
        assign_arm(1, 0.0)


@pytest.mark.parametrize("effect,cv,split", [(0.05, 0.3, 0.5), (0.1, 0.2, 0.2), (0.02, 0.1, 0.75)])
def test_plan_matches_statsmodels_power(effect, cv, split):
    from statsmodels.stats.power import TTestIndPower
    plan = plan_experiment(effect, cv, split=split)
    ratio = split / (1 - split)
    ref = TTestIndPower().solve_power(effect_size=effect / cv, alpha=0.05, power=0.8, ratio=ratio)
    assert plan.n_a == math.ceil(ref) and plan.n_b == math.ceil(ratio * plan.n_a)
    assert plan.n_total == plan.n_a + plan.n_b and "requests" in repr(plan)


def test_plan_bad_input():
    with pytest.raises(ValueError):
        plan_experiment(0.0, 0.3)
    with pytest.raises(ValueError, match="split"):
        plan_experiment(0.05, 0.3, split=1.2)


def test_peeking_inflates_false_positives():
    assert abs(peeking_false_positive_rate(1, 100) - 0.05) < 0.012
    assert 0.12 < peeking_false_positive_rate(5, 100) < 0.165


def test_group_sequential_bounds_match_textbook_constants():
    # Jennison & Turnbull, table 2.1 and 2.3 (K = 5, alpha = 0.05 two-sided)
    assert group_sequential_bounds(5, kind="pocock") == pytest.approx([2.413] * 5, abs=2e-3)
    assert group_sequential_bounds(5)[-1] == pytest.approx(2.040, abs=2e-3)
    assert group_sequential_bounds(1)[0] == pytest.approx(1.95996, abs=1e-4)
    with pytest.raises(ValueError, match="kind"):
        group_sequential_bounds(3, kind="haybittle")


def _simulate(effect, sims, batches, per, seed):
    "Per simulated experiment: does the mSPRT stop (and on which side), and does a t-test after every batch fire?"
    rng = np.random.default_rng(seed)
    n = per * np.arange(1, batches + 1)
    seq_stops, naive_stops, right = 0, 0, 0
    for _ in range(sims):
        A, B = rng.normal(1.0, 0.3, (batches, per)), rng.normal(1.0 + effect, 0.3, (batches, per))
        ma, mb = np.cumsum(A.sum(1)) / n, np.cumsum(B.sum(1)) / n
        va = (np.cumsum((A * A).sum(1)) - n * ma * ma) / (n - 1)
        vb = (np.cumsum((B * B).sum(1)) - n * mb * mb) / (n - 1)
        t_naive = (mb - ma) / np.sqrt(va / n + vb / n)
        naive_stops += bool(np.any(2 * st.t.sf(np.abs(t_naive), 2 * n - 2) < 0.05))
        t = SequentialTest(alpha=0.05)
        for k in range(batches):
            s = t.update(A[k], B[k])
            if s.stop:
                seq_stops += 1
                right += s.decision == "B > A"
                break
    return seq_stops / sims, naive_stops / sims, right


def test_sequential_test_keeps_alpha_under_peeking_while_naive_does_not():
    seq, naive, _ = _simulate(0.0, sims=500, batches=30, per=10, seed=11)
    assert seq <= 0.05 + 0.01, f"always-valid: {seq:.3f}"
    assert naive > 2 * 0.05, f"a t-test after every batch: {naive:.3f}"


def test_sequential_test_stops_on_a_real_effect_with_the_right_sign():
    seq, _, right = _simulate(0.10, sims=100, batches=60, per=10, seed=12)
    assert seq >= 0.9 and right == round(seq * 100)


def test_sequential_confidence_sequence_covers_and_validates():
    rng = np.random.default_rng(0)
    t = SequentialTest(alpha=0.05, min_samples=5)
    s = t.update(rng.normal(1, 0.3, 200), rng.normal(1.2, 0.3, 200))
    assert s.ci[0] < 0.2 < s.ci[1] and s.ci[0] > 0 and s.decision == "B > A" and s.p_value < 0.05
    t2 = SequentialTest()
    assert not t2.update([1.0, 2.0], [1.0]).stop, "below min_samples nothing is decided"
    with pytest.raises(ValueError, match="NaN"):
        t2.update([math.nan])
    with pytest.raises(ValueError, match="alpha"):
        SequentialTest(alpha=1.5)


def test_proportion_intervals_match_statsmodels():
    from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint
    assert wilson_ci(13, 97, 0.9) == pytest.approx(proportion_confint(13, 97, alpha=0.1, method="wilson"), abs=1e-12)
    for xb, nb, xa, na in [(30, 1000, 20, 1000), (5, 40, 9, 61), (0, 50, 3, 50)]:
        d, lo, hi = proportion_diff_ci(xb, nb, xa, na, 0.9)
        ref = confint_proportions_2indep(xb, nb, xa, na, method="newcomb", compare="diff", alpha=0.1)
        assert (lo, hi) == pytest.approx(ref, abs=1e-12) and d == pytest.approx(xb / nb - xa / na)


def test_guardrails_are_one_sided_noninferiority():
    rng = np.random.default_rng(1)
    a = rng.lognormal(0, 0.1, 500)
    assert latency_guardrail(a, a * 1.02, margin=0.10).passed
    assert not latency_guardrail(a, a * 1.25, margin=0.10).passed
    tiny = latency_guardrail(a[:3], a[:3] * 1.0 * rng.lognormal(0, 0.3, 3), margin=0.05)
    assert not tiny.passed, "too little data cannot show non-inferiority"
    assert rate_guardrail("error_rate", 10, 10_000, 12, 10_000, 0.005, higher_is_better=False).passed
    assert not rate_guardrail("accuracy", 950, 1000, 900, 1000, 0.01, higher_is_better=True).passed


class Clf:
    "A classifier whose answers we control: correct with probability p_correct; raises on a fraction of inputs."
    def __init__(self, p_correct, fail=0.0, seed=0, cost=0):
        self.rng, self.p, self.fail, self.cost = np.random.default_rng(seed), p_correct, fail, cost

    def __call__(self, x):
        if self.rng.random() < self.fail:
            raise RuntimeError("model crashed")
        sum(range(self.cost))  # real work, so latency differs between arms
        y = x if self.rng.random() < self.p else (x + 1) % 10
        out = np.zeros(10)
        out[y] = 1
        return out


def test_abtest_routes_records_and_recommends_ship():
    data = [(i % 10, i % 10) for i in range(6000)]
    exp = ABTest(Clf(0.80, seed=1), Clf(0.90, seed=2), split=0.5, seed=3).run(data)
    assert exp.arms["A"].n + exp.arms["B"].n == 6000 and not exp.srm_check().mismatch
    res = exp.analyze(guardrails={"error_rate": 0.01})
    assert res.recommendation == "ship" and res.primary["metric"] == "accuracy", res
    assert res.primary["ci"][0] > 0 and any("significantly better" in r for r in res.reasons)
    assert "SHIP" in repr(res) and "<table>" in res._repr_html_() and res.to_dict()["recommendation"] == "ship"


def test_abtest_failed_guardrail_and_errors_counted():
    data = [(i % 10, i % 10) for i in range(4000)]
    exp = ABTest(Clf(0.9, seed=1), Clf(0.9, fail=0.05, seed=2), split=0.5, seed=0).run(data)
    assert exp.arms["B"].errors > 50 and exp.arms["A"].errors == 0
    res = exp.analyze()
    assert res.recommendation == "don't ship" and any("error_rate" in r and "failed" in r for r in res.reasons)


def test_abtest_srm_blocks_the_decision():
    exp = ABTest(Clf(0.8), Clf(0.95), split=0.5)
    for i in range(3000):
        exp.serve(i % 10, i % 10, request_id=i)
    exp.arms["B"].latencies = exp.arms["B"].latencies[: len(exp.arms["B"].latencies) // 2]  # half of B lost
    res = exp.analyze()
    assert res.srm.mismatch and res.recommendation == "don't ship" and "SRM" in " ".join(res.reasons)


def test_abtest_keep_running_on_too_little_data_and_bad_input():
    exp = ABTest(Clf(0.9, seed=1), Clf(0.9, seed=2)).run([(i % 10, i % 10) for i in range(60)])
    assert exp.analyze(guardrails={}).recommendation == "keep running"
    with pytest.raises(ValueError, match="split"):
        ABTest(Clf(0.9), Clf(0.9), split=1.0)
    with pytest.raises(TypeError):
        ABTest(Clf(0.9), "not a model")
    with pytest.raises(ValueError, match="empty"):
        ABTest(Clf(0.9), Clf(0.9)).run([])
    with pytest.raises(ValueError, match="at least 2"):
        ABTest(Clf(0.9), Clf(0.9)).analyze()
    with pytest.raises(ValueError, match="primary"):
        exp.analyze(primary="throughput")


def test_paired_ratio_and_interleaved_compare():
    rng = np.random.default_rng(0)
    a = rng.lognormal(0, 0.05, 12)
    p = paired_ratio(a, a * 1.2)
    assert p.ratio == pytest.approx(1.2) and p.verdict == "slower"
    b = a * 1.2 * rng.lognormal(0, 0.01, 12)
    assert paired_ratio(a, b).t_p == pytest.approx(st.ttest_rel(np.log(b), np.log(a)).pvalue, rel=1e-10)
    q = paired_ratio(a, a)
    assert q.verdict == "no detectable difference" and q.t_p == 1.0 and q.ratio == 1.0
    with pytest.raises(ValueError, match="equal lengths"):
        paired_ratio([1.0, 2.0], [1.0, 2.0, 3.0])
    x = np.random.default_rng(0).standard_normal((128, 128))
    tries = []  # one stalled block wrecks a 4-block t-interval on a shared machine: up to three tries
    for _ in range(3):
        tries.append(interleaved_compare(lambda: x @ x, lambda: [x @ x for _ in range(3)], blocks=4, min_time=0.02))
        if tries[-1].verdict == "slower" and 2.0 < tries[-1].ratio < 4.5:
            break
    assert tries[-1].verdict == "slower" and 2.0 < tries[-1].ratio < 4.5, tries


def test_regression_verdict_rules():
    assert regression_verdict(1.10, (1.08, 1.12), 0.05) == "regressed"
    assert regression_verdict(1.01, (0.99, 1.03), 0.05) == "equivalent"
    assert regression_verdict(0.80, (0.78, 0.83), 0.05) == "improved"
    assert regression_verdict(1.03, (1.01, 1.06), 0.05) == "unchanged"
    with pytest.raises(ValueError):
        regression_verdict(1.2, (0.9, 1.1), 0.05)


def test_detect_regression_planted_slowdown_aa_and_equivalence():
    rng = np.random.default_rng(2)
    base = rng.lognormal(np.log(1e-3), 0.05, 400)
    slow = rng.lognormal(np.log(1.1e-3), 0.05, 400)
    same = rng.lognormal(np.log(1e-3), 0.05, 400)
    close = rng.lognormal(np.log(1.01e-3), 0.02, 4000)
    base_tight = rng.lognormal(np.log(1e-3), 0.02, 4000)
    assert detect_regression({"latency": slow}, {"latency": base}).rows[0]["verdict"] == "regressed"
    quiet = detect_regression({"latency": same}, {"latency": base})
    assert quiet.ok and quiet.rows[0]["verdict"] in ("equivalent", "unchanged")
    assert detect_regression({"latency": close}, {"latency": base_tight}).rows[0]["verdict"] == "equivalent"
    # higher is better: a throughput drop of 20% is a regression
    r = detect_regression({"throughput": 800.0, "accuracy": 0.95}, {"throughput": 1000.0, "accuracy": 0.951})
    v = {row["metric"]: row["verdict"] for row in r.rows}
    assert v == {"throughput": "regressed", "accuracy": "unchanged"} and "no statistical test" in r.rows[0]["evidence"]
    assert not r.ok and "| throughput | regressed" in r.markdown()
    with pytest.raises(ValueError, match="no metric in common"):
        detect_regression({"a": [1.0, 2.0]}, {"b": [1.0, 2.0]})


def test_detect_regression_accepts_measurements():
    m1 = measure(sum, range(100), min_time=0.02)
    m2 = measure(sum, range(400), min_time=0.02)
    assert detect_regression({"t": m2}, {"t": m1}).rows[0]["verdict"] == "regressed"


def test_abtest_counts_nan_outputs_as_errors_not_correct_predictions():
    "The argmax of a NaN row is 0: counted as predictions, NaN outputs would be 100% accurate on label 0."
    def nan_model(x):
        return np.full(3, np.nan)

    def good_model(x):
        return np.array([1.0, 0.0, 0.0])
    exp = ABTest(good_model, nan_model, split=0.5, seed=0)
    for i in range(200):
        exp.serve(np.zeros(2), label=0)
    a, b = exp.arms["A"], exp.arms["B"]
    assert b.errors == b.n > 0 and b.labeled == b.correct == 0
    assert a.errors == 0 and a.correct == a.labeled == a.n > 0
