"""Tests of tinybench.suite: BenchmarkSuite, its comparisons, cross-validation, and bad input."""
import json
import time

import numpy as np
import pytest
import torch
from torch import nn

import tinybench.suite as suite_mod
from tinybench.suite import (BenchmarkSuite, ModelResult, SuiteResult, SuiteSettings, VariantComparison,
                             _timing_summary, compare_with_baseline, cross_validate, mcnemar_exact, time_interleaved)


class Work(nn.Module):
    "Real work with a known ratio: `reps` dense matmuls of one (d, d) weight, then a 10-way linear head."
    def __init__(self, reps: int, d: int = 384, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(d, d, generator=g) / d**0.5, requires_grad=False)
        self.head = nn.Linear(d, 10)
        torch.nn.init.normal_(self.head.weight, generator=g)
        self.reps = reps

    def forward(self, x):
        for _ in range(self.reps):
            x = x @ self.w
        return self.head(x)


def _data(n=200, d=384, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    return X, torch.randint(0, 10, (n,), generator=g)


FAST = SuiteSettings(batch_size=32, min_time=0.4, rounds=4, scenarios=(), batch_sizes=(1, 8), sweep_min_time=0.02,
                     sequential=False)


def test_twice_the_work_is_reported_about_2x_slower_with_its_interval():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core each: the other one is free for the machine's noise
    try:
        result = BenchmarkSuite({"slow": Work(4), "fast": Work(2)}, _data(), FAST).run()
    finally:
        torch.set_num_threads(threads)
    (vc,) = result.comparisons
    assert vc.baseline == "slow" and vc.candidate == "fast" and vc.verdict == "faster", vc
    assert 1.4 < vc.speedup < 2.6, vc  # half the matmuls: about 2x, with per-call overheads and noise
    lo, hi = vc.speedup_ci
    assert lo <= vc.speedup <= hi and lo > 1
    assert vc.method.startswith("paired over 4 rounds")
    from tinybench.report import Report
    rep = Report(result)
    text = " ".join(rep.findings())
    assert f"fast is {vc.speedup:.2f}× faster than slow" in text and "95% CI" in text and "Holm-adjusted p" in text
    assert rep.recommendations()[0].startswith("Use fast instead of slow: it is")
    for m in result.models.values():
        assert m.ok and m.timing.rounds == 4 and len(m.timing.round_medians) == 4
        assert m.stats.n_params == 384 * 384 + 3850 and m.stats.flops > 0
        assert [r["batch"] for r in m.batch_sweep.rows] == [1, 8] and m.memory.profile.rss_peak > 0
        assert m.memory.batch == 32 and m.memory.largest_layer_bytes == 32 * (384 + 10) * 4  # the head's in+out
        assert 0 <= m.accuracy <= 1 and len(m.quality["confusion_matrix"]) >= 1


def _synthetic(rounds: dict, correct: dict | None = None, margin=None) -> SuiteResult:
    "A SuiteResult made from given per-round medians (a test of the report logic, not a measurement)."
    settings = SuiteSettings(scenarios=(), batch_sizes=(), memory=False, margin=margin, sequential=False)
    rng = np.random.default_rng(0)
    models = {}
    for name, med in rounds.items():
        samples = np.concatenate([m * rng.lognormal(0, 0.01, 20) for m in med]).tolist()
        models[name] = ModelResult(name, timing=_timing_summary(samples, 32, list(med), {}))
    result = SuiteResult(models, next(iter(rounds)), settings, "none", 100, environment={"cpu_count": 2})
    result.comparisons = compare_with_baseline(rounds, result.baseline, margin=margin,
                                               pooled={n: m.timing.samples for n, m in models.items()})
    return result


def test_a_variant_that_is_not_significantly_faster_is_not_called_faster():
    from tinybench.report import Report
    rng = np.random.default_rng(3)
    base = rng.lognormal(np.log(1e-3), 0.05, 5)
    result = _synthetic({"base": base, "cand": base * 0.97 * rng.lognormal(0, 0.08, 5)})
    (vc,) = result.comparisons
    assert vc.verdict == "no detectable difference" and vc.ratio_ci[0] < 1 < vc.ratio_ci[1], vc
    rep = Report(result)
    everything = " ".join(rep.findings() + rep.recommendations())
    assert "faster" not in everything.replace("significantly faster", ""), everything
    assert "No significant difference between cand and base" in everything and "includes 1" in everything
    assert rep.recommendations()[0].startswith("Keep base: no candidate is significantly faster")


def test_holm_downgrades_a_verdict_that_only_one_test_would_support():
    rng = np.random.default_rng(0)
    base = rng.lognormal(np.log(1e-3), 0.03, 6)
    rounds = {"base": base, **{f"c{i}": base * rng.lognormal(0, 0.03, 6) for i in range(5)}}
    rounds["edge"] = base * 1.03 * rng.lognormal(0, 0.02, 6)
    raw = {c.candidate: c for c in compare_with_baseline({"base": base, "edge": rounds["edge"]}, "base")}
    corrected = {c.candidate: c for c in compare_with_baseline(rounds, "base")}
    c1, c6 = raw["edge"], corrected["edge"]
    assert c6.n_comparisons == 6 and c6.p_holm >= c1.p_value
    # seeded: significant alone (p 0.013), not after correcting for six comparisons (Holm p 0.079)
    assert c1.p_value < 0.05 <= c6.p_holm and c1.verdict == "slower" and c6.verdict == "no detectable difference"
    for c in corrected.values():
        if c.verdict in ("faster", "slower"):
            assert c.p_holm < 0.05


def test_equivalence_within_the_margin():
    rng = np.random.default_rng(1)
    base = rng.lognormal(np.log(1e-3), 0.05, 6)
    result = _synthetic({"base": base, "same": base * 1.01 * rng.lognormal(0, 0.004, 6)}, margin=0.05)
    assert result.comparisons[0].verdict == "equivalent"
    from tinybench.report import Report
    assert any("as fast as base within ±5%" in s for s in Report(result).recommendations())


def test_one_round_falls_back_to_pooled_samples_and_says_so():
    result = _synthetic({"a": [1e-3], "b": [2e-3]})
    (vc,) = result.comparisons
    assert vc.method.startswith("pooled iterations of one round") and vc.verdict == "slower"
    assert vc.pooled["ratio"] == pytest.approx(vc.ratio)


def test_result_round_trips_through_json(tmp_path):
    result = _synthetic({"a": [1e-3, 1.1e-3, 0.9e-3], "b": [2e-3, 2.1e-3, 1.9e-3]})
    result.models["a"].errors["stats"] = "ValueError: example"
    path = result.save(tmp_path / "r.json")
    loaded = SuiteResult.load(path)
    assert json.dumps(loaded.to_dict()) == json.dumps(result.to_dict())
    assert isinstance(loaded.comparisons[0], VariantComparison) and loaded.comparisons[0].ratio_ci == \
        result.comparisons[0].ratio_ci
    assert loaded.models["a"].errors == {"stats": "ValueError: example"} and not loaded.models["a"].ok
    (tmp_path / "x.json").write_text('{"schema": "something/else"}')
    with pytest.raises(ValueError, match="not a tinybench suite result"):
        SuiteResult.load(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("not json")
    with pytest.raises(ValueError, match="is not a results.json"):
        SuiteResult.load(tmp_path / "y.json")
    with pytest.raises(ValueError, match="no such results file"):
        SuiteResult.load(tmp_path / "missing.json")


def test_table_pandas_and_html():
    result = _synthetic({"a": [1e-3, 1.1e-3, 0.9e-3], "b": [2e-3, 2.1e-3, 1.9e-3]})
    df = result.to_pandas()
    assert list(df.index) == ["a", "b"] and df.loc["b", "verdict"] == "slower"
    assert df.loc["b", "speedup"] == pytest.approx(1 / result.comparisons[0].ratio)
    html = result._repr_html_()
    assert "<table>" in html and "<td>b</td>" in html and "slower" in html
    assert "baseline 'a'" in repr(result) and "slower" in repr(result)


class Raises(nn.Module):
    def forward(self, x):
        raise RuntimeError("this model is broken")


class NaNs(nn.Module):
    def forward(self, x):
        out = torch.zeros(len(x), 10)
        out[:, 3] = float("nan")
        return out


def test_a_model_that_raises_or_returns_nan_is_recorded_and_the_suite_goes_on():
    s = SuiteSettings(batch_size=8, min_time=0.05, rounds=2, sequential=False, scenarios=("SingleStream",), scenario_duration=0.1,
                      batch_sizes=(1,), sweep_min_time=0.01)
    result = BenchmarkSuite({"good": Work(1, d=16), "raises": Raises(), "nan": NaNs()}, _data(60, 16), s).run()
    good, raises, nan = (result.models[k] for k in ("good", "raises", "nan"))
    assert good.ok and good.timing and good.scenarios["SingleStream"]["n_queries"] > 0
    assert raises.errors["forward"] == "RuntimeError: this model is broken" and raises.timing is None
    assert nan.nonfinite_outputs == 60 and "NaN/Inf" in nan.errors["outputs"] and nan.timing is not None
    assert [c.candidate for c in result.comparisons] == ["nan"]
    from tinybench.report import Report
    rep = Report(result)
    assert "raises could not run: RuntimeError: this model is broken." in rep.findings()
    assert any(r.startswith("Do not use nan: outputs: 60 NaN/Inf") for r in rep.recommendations())
    assert not any(r.startswith("Use nan") for r in rep.recommendations())


def test_ctrl_c_keeps_what_was_measured(monkeypatch):
    calls = []

    def interrupt(suite, name, m, say):
        calls.append(name)
        raise KeyboardInterrupt

    monkeypatch.setattr(suite_mod, "_step_sweep", interrupt)
    s = SuiteSettings(batch_size=8, min_time=0.05, rounds=2, sequential=False, scenarios=("SingleStream",), batch_sizes=(1,))
    result = BenchmarkSuite({"a": Work(1, d=16), "b": Work(2, d=16)}, _data(40, 16), s).run()
    assert result.interrupted and calls == ["a"]
    assert all(m.timing and m.stats for m in result.models.values()), "steps before the interrupt are kept"
    assert all(not m.scenarios for m in result.models.values()), "steps after it did not run"
    assert len(result.comparisons) == 1
    from tinybench.report import Report
    assert "Interrupted" in Report(result).to_markdown()


def test_time_interleaved_round_robin_and_partial_results_on_ctrl_c():
    order = []

    def make(name, stop_at=None):
        def fn():
            order.append(name)
            if stop_at is not None and order.count(name) >= stop_at:
                raise KeyboardInterrupt
            return sum(range(50))
        return fn
    timings, errors = time_interleaved({"a": make("a"), "b": make("b")}, batch=1, rounds=3, min_time=0.03)
    assert not errors and timings["a"].rounds == timings["b"].rounds == 3
    firsts = [order.index(n) for n in "ab"]
    assert firsts == sorted(firsts) and order[-1] == "b", "a's round comes before b's"
    order.clear()
    calls_a = {"n": 0}

    def a():
        calls_a["n"] += 1
        return sum(range(50))
    timings, _ = time_interleaved({"a": a}, batch=1, rounds=1, min_time=0.02)
    with pytest.raises(KeyboardInterrupt) as e:
        time_interleaved({"a": a, "b": make("b", stop_at=10**9), "c": make("c", stop_at=1)}, 1, 2, 0.02)
    partial = e.value.partial
    assert set(partial) == {"a", "b"} and partial["a"].rounds == 1, "round 1 of a and b is kept"

    def broken():
        raise ValueError("nope")
    timings, errors = time_interleaved({"ok": a, "bad": broken}, batch=1, rounds=2, min_time=0.02)
    assert set(timings) == {"ok"} and errors == {"bad": "ValueError: nope"}


def test_mcnemar_matches_statsmodels():
    from statsmodels.stats.contingency_tables import mcnemar
    rng = np.random.default_rng(2)
    for _ in range(20):
        a, b = rng.random(300) < 0.9, rng.random(300) < 0.85
        p, n01, n10 = mcnemar_exact(a, b)
        table = [[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]]
        assert (n01, n10) == (table[0][1], table[1][0])
        assert p == pytest.approx(mcnemar(table, exact=True).pvalue, abs=1e-12)
    assert mcnemar_exact([True, False], [True, False])[0] == 1.0
    with pytest.raises(ValueError):
        mcnemar_exact([True], [True, False])


def test_cross_validation_agrees_with_sklearn_and_times_each_fold():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    X, y = load_digits(return_X_y=True)
    X, y = X[:600] / 16, y[:600]
    cv = cross_validate(lambda a, b: LogisticRegression(max_iter=500).fit(a, b), X, y, k=4, seed=1)
    sk = cross_val_score(LogisticRegression(max_iter=500), X, y, cv=StratifiedKFold(4, shuffle=True, random_state=1))
    assert np.allclose(cv.scores, sk) and cv.metric == "accuracy" and cv.k == 4
    assert len(cv.train_seconds) == 4 and all(t > 0 for t in cv.train_seconds)
    lo, hi = cv.ci
    assert lo <= cv.mean <= hi and "4-fold classification" in repr(cv)
    from sklearn.linear_model import Ridge
    Xr = np.random.default_rng(0).normal(size=(120, 3))
    yr = Xr @ [1.0, -2.0, 0.5] + np.random.default_rng(1).normal(0, 0.1, 120)
    cvr = cross_validate(lambda a, b: Ridge().fit(a, b), Xr, yr, k=3)
    assert cvr.metric == "r2" and min(cvr.scores) > 0.95
    with pytest.raises(ValueError, match="k must be"):
        cross_validate(lambda a, b: None, X, y, k=1)


def test_trainers_add_cross_validation_to_the_suite():
    from sklearn.linear_model import LogisticRegression

    class Sk:
        "A fitted sklearn classifier as a model of the suite: returns class probabilities."
        def __init__(self, est):
            self.est = est

        def __call__(self, x):
            return torch.as_tensor(self.est.predict_proba(x.numpy()))

        def predict(self, x):
            return self.est.predict(np.asarray(x))

    X, y = _data(120, 8)
    fit = lambda a, b: Sk(LogisticRegression(max_iter=300).fit(np.asarray(a), np.asarray(b)))
    s = SuiteSettings(batch_size=8, min_time=0.05, rounds=2, sequential=False, scenarios=(), batch_sizes=(), memory=False)
    result = BenchmarkSuite({"logreg": fit(X, y)}, (X, y), s, trainers={"logreg": fit}, cv_folds=3).run()
    cv = result.models["logreg"].cross_validation
    assert cv["k"] == 3 and len(cv["train_seconds"]) == 3 and result.models["logreg"].stats is None


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="no models"):
        BenchmarkSuite({}, _data())
    with pytest.raises(ValueError, match="empty"):
        BenchmarkSuite({"a": Work(1)}, (torch.zeros(0, 384), torch.zeros(0, dtype=torch.long)))
    with pytest.raises(ValueError, match="labels"):
        BenchmarkSuite({"a": Work(1)}, (torch.zeros(5, 384), torch.zeros(4, dtype=torch.long)))
    with pytest.raises(ValueError, match="baseline 'z'"):
        BenchmarkSuite({"a": Work(1)}, _data(), baseline="z")
    with pytest.raises(TypeError, match="callable"):
        BenchmarkSuite({"a": 3}, _data())
    with pytest.raises(ValueError, match="scenarios must be among"):
        SuiteSettings(scenarios=("Sometimes",))
    with pytest.raises(ValueError, match="batch_size"):
        SuiteSettings(batch_size=0)
    assert SuiteSettings.from_dict(SuiteSettings().to_dict()) == SuiteSettings()


def test_server_rate_is_derived_from_the_single_stream_run():
    s = SuiteSettings(batch_size=8, min_time=0.05, rounds=2, sequential=False, scenarios=("SingleStream", "Server"),
                      scenario_duration=0.3, batch_sizes=(), memory=False)
    result = BenchmarkSuite({"m": Work(1, d=32)}, _data(100, 32), s).run()
    sc = result.models["m"].scenarios
    assert sc["Server"]["target_qps"] == pytest.approx(0.5 * sc["SingleStream"]["qps"])
    assert sc["Server"]["n_queries"] > 0 and sc["SingleStream"]["latencies"]


@pytest.mark.gpu
def test_suite_on_cuda_times_with_events_and_reports_cuda_memory():
    s = SuiteSettings(device="cuda", batch_size=32, min_time=0.2, rounds=2, sequential=False, scenarios=("SingleStream",),
                      scenario_duration=0.2, batch_sizes=(1, 64), sweep_min_time=0.02)
    X, y = _data()
    result = BenchmarkSuite({"slow": Work(8).cuda(), "fast": Work(1).cuda()}, (X, y), s).run()
    for m in result.models.values():
        assert m.ok and m.device == "cuda" and m.memory.profile.cuda_peak is not None
        assert all("cuda_peak_bytes" in r for r in m.batch_sweep.rows)
        assert m.scenarios["SingleStream"]["n_queries"] > 0
    assert result.comparisons[0].speedup > 1 and result.environment.get("gpu")


# ------------------------------------------------------------------ sequential rounds (measure until decided)
def _peek_until_decided(rng, log_effect: float, sd: float, margin, max_rounds: int, candidates: int = 1,
                        min_rounds: int = 3) -> list[str]:
    """Simulate the suite's loop: after every round from `min_rounds` on, compare; stop once all are decided.

    Round medians are lognormal with the planted log time ratio and a per-round log spread `sd` (the spread the
    default workload's round medians show: 0.02-0.1)."""
    base = np.exp(rng.normal(np.log(1e-3), sd, max_rounds))
    rounds = {"base": base, **{f"c{i}": base * np.exp(log_effect + rng.normal(0, sd, max_rounds) * np.sqrt(2))
                               for i in range(candidates)}}
    for k in range(min_rounds, max_rounds + 1):
        vcs = compare_with_baseline({n: r[:k] for n, r in rounds.items()}, "base", margin=margin, sequential=True)
        if all(vc.decided for vc in vcs):
            break
    assert all(vc.rounds == k for vc in vcs)
    return [vc.verdict for vc in vcs]


def test_sequential_a_a_false_alarms_stay_below_alpha_when_peeking_after_every_round():
    """A/A: no margin, so a run never decides and is looked at after all 60 rounds; two candidates (the family).

    A fixed-n t-interval peeked at like this calls a difference in about a third of such runs."""
    rng = np.random.default_rng(7)
    runs = 300
    alarms = sum(any(v in ("faster", "slower") for v in _peek_until_decided(rng, 0.0, 0.05, None, 60, candidates=2))
                 for _ in range(runs))
    assert alarms / runs <= 0.05, f"{alarms} of {runs} A/A runs called a difference"


def test_sequential_a_planted_2x_slowdown_is_called_slower_early():
    rng = np.random.default_rng(1)
    for _ in range(20):
        (v,) = _peek_until_decided(rng, np.log(2.0), 0.1, 0.05, 200)
        assert v == "slower"
    vcs = compare_with_baseline({"base": [1e-3] * 3 + [1.1e-3] * 2, "slow": [2e-3] * 3 + [2.1e-3] * 2}, "base",
                                margin=0.05, sequential=True)
    assert vcs[0].verdict == "slower" and vcs[0].decided and vcs[0].more_rounds is None


def test_sequential_a_planted_3pct_difference_is_never_called_faster_or_slower():
    rng = np.random.default_rng(2)
    seen = set()
    for sd in (0.02, 0.05, 0.1):
        for _ in range(40):
            seen.update(_peek_until_decided(rng, np.log(1.03), sd, 0.05, 200))
    assert seen <= {"equivalent", "undecided"}, seen
    assert "equivalent" in seen  # at the low spread the budget suffices


def test_sequential_undecided_comparison_says_what_it_reached_and_what_would_decide_it():
    from tinybench.report import comparison_finding, suite_recommendations
    rng = np.random.default_rng(3)
    base = rng.lognormal(np.log(1e-3), 0.05, 8)
    (vc,) = compare_with_baseline({"base": base, "cand": base * 1.04 * rng.lognormal(0, 0.05, 8)}, "base",
                                  margin=0.05, sequential=True)
    assert vc.verdict == "undecided" and not vc.decided and vc.rounds == 8
    assert vc.more_rounds is None or vc.more_rounds > 0
    text = comparison_finding(vc)
    assert text.startswith("Undecided: the time budget ran out") and f"{vc.ratio_ci[0]:.3f}–{vc.ratio_ci[1]:.3f}" in text
    assert "after 8 rounds" in text and "no detectable difference" not in text


def test_time_interleaved_adds_rounds_until_decided_or_budget():
    calls = []

    def until(medians):
        calls.append({n: len(v) for n, v in medians.items()})
        return len(medians["a"]) >= 5

    timings, _ = time_interleaved({"a": lambda: None, "b": lambda: None}, batch=1, rounds=2, min_time=0.02,
                                  until=until, max_rounds=50, time_budget=30)
    assert timings["a"].rounds == timings["b"].rounds == 5 and calls[0] == {"a": 2, "b": 2}
    t0 = time.perf_counter()
    timings, _ = time_interleaved({"a": lambda: None}, batch=1, rounds=2, min_time=0.02, until=lambda m: False,
                                  max_rounds=10_000, time_budget=0.3)
    assert time.perf_counter() - t0 < 3 and 2 < timings["a"].rounds < 10_000
    timings, _ = time_interleaved({"a": lambda: None}, batch=1, rounds=2, min_time=0.02, until=lambda m: False,
                                  max_rounds=4, time_budget=100)
    assert timings["a"].rounds == 4


def test_suite_measures_until_a_2x_difference_is_decided():
    """Sleep-based models: their ratio does not depend on the CPU, so the decision must come within the budget."""
    class Sleep(torch.nn.Module):
        def __init__(self, s):
            super().__init__()
            self.s, self.head = s, torch.nn.Linear(384, 10)

        def forward(self, x):
            time.sleep(self.s)
            return self.head(x)
    s = SuiteSettings(batch_size=8, min_time=0.1, rounds=3, scenarios=(), batch_sizes=(), memory=False,
                      time_budget=20.0)
    result = BenchmarkSuite({"base": Sleep(2e-3), "slow": Sleep(4e-3)}, _data(40), s).run()
    (vc,) = result.comparisons
    assert vc.verdict == "slower" and vc.decided and vc.ratio_ci[0] > 1.05, vc
    assert vc.method.startswith("confidence sequence") and vc.rounds == result.models["slow"].timing.rounds >= 3
    from tinybench.report import Report
    from tinybench.report import methodology
    assert any("added rounds until every comparison was" in line for line in methodology(result))


@pytest.mark.parametrize("kwargs, exc, pattern", [
    (dict(rounds="3"), TypeError, "rounds must be a positive integer, got '3'"),
    (dict(max_rounds=2.5), ValueError, "max_rounds must be a positive integer, got 2.5"),
    (dict(rounds=30, max_rounds=10), ValueError, r"max_rounds must be >= rounds \(30\), got 10"),
    (dict(time_budget=float("nan")), ValueError, "time_budget must be a positive finite number .* got nan"),
    (dict(time_budget=-1), ValueError, "time_budget"),
    (dict(sequential="yes"), TypeError, "sequential must be True or False, got 'yes'"),
    (dict(batch_size=None), TypeError, "batch_size")])
def test_suite_settings_name_the_bad_field(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        SuiteSettings(**kwargs)


# --- extension points: scikit-learn estimators and user metrics ---------------------------------------------------

def _p95_per_batch(model, data, result):
    "A real measurement: the 95th percentile of the interleaved timing's seconds per batch."
    return float(np.percentile(result.timing.samples, 95))


def _sizes(model, data, result):
    "A mapping-valued metric: the model's pickled bytes and the number of samples the suite ran on."
    import pickle
    return {"pickled": len(pickle.dumps(model)), "n": len(data[0])}


def _raises(model, data, result):
    raise RuntimeError("this metric is broken")


def _nan(model, data, result):
    return float("nan")


def _text(model, data, result):
    return "fast"


def _half_bad(model, data, result):
    return {"ok": 1.0, "bad": float("inf")}


@pytest.fixture(scope="module")
def estimator_run():
    """One suite run: a seeded linear torch model and logistic regression (fitted on the flattened images) on the
    digits images (N, 1, 8, 8), with user metrics that work, fail, or return bad values."""
    import dataclasses

    from sklearn.linear_model import LogisticRegression

    from tinybench.suite import Metric
    from tinybench.workloads import load_digits
    data = load_digits()
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
    flat = data.X_train.reshape(len(data.X_train), -1).numpy()
    logreg = LogisticRegression(max_iter=1000).fit(flat, data.y_train.numpy())
    metrics = [Metric("p95_per_batch", _p95_per_batch, unit="s", higher_is_better=False,
                      description="95th percentile of seconds per batch"), Metric("sizes", _sizes),
               _raises, _nan, _text, _half_bad]  # plain functions are named by their __name__
    s = dataclasses.replace(FAST, scenarios=("Offline",), scenario_duration=0.2)
    suite = BenchmarkSuite({"linear": linear, "logreg": logreg}, data, s, metrics=metrics)
    return data, linear, logreg, suite, suite.run()


def test_an_estimator_is_measured_like_a_torch_model(estimator_run):
    from sklearn.metrics import accuracy_score
    data, linear, logreg, suite, result = estimator_run
    x = suite.input_for("logreg")
    assert isinstance(x, np.ndarray) and x.shape == (32, 64), "the timed batch is numpy before the clock starts"
    assert isinstance(suite.input_for("linear"), torch.Tensor)
    lr, lin = result.models["logreg"], result.models["linear"]
    X_flat, y = data.X_test.reshape(len(data.X_test), -1).numpy(), data.y_test.numpy()
    # quality from its scores, as for the torch model; timing, sweep, memory and a scenario
    assert lr.accuracy == accuracy_score(y, logreg.predict(X_flat))
    assert lr.quality["confusion_matrix"] and lr.stats is None and lr.description == "LogisticRegression (predict_proba)"
    assert lr.timing.n >= 2 and [r["batch"] for r in lr.batch_sweep.rows] == [1, 8] and lr.memory is not None
    assert lr.scenarios["Offline"]["accuracy"] == pytest.approx(lr.accuracy, abs=0.02)
    with torch.no_grad():
        linear_pred = linear(data.X_test).argmax(1).numpy()
    assert lr.agreement["top1_agreement"] == pytest.approx(np.mean(linear_pred == logreg.predict(X_flat)))
    (vc,) = result.comparisons
    assert vc.candidate == "logreg" and vc.accuracy_change == pytest.approx(lr.accuracy - lin.accuracy)


def test_user_metrics_become_columns_findings_and_survive_results_json(estimator_run, tmp_path):
    import pickle

    from tinybench.display import format_metric
    from tinybench.report import Report
    from tinybench.suite import results_table
    from tinybench.suite import MetricInfo
    from tinybench.timing import format_seconds
    data, linear, logreg, suite, result = estimator_run
    lr, lin = result.models["logreg"], result.models["linear"]
    # every metric value is recomputed from what the result keeps, or from the model itself
    for m in (lin, lr):
        assert m.metrics["p95_per_batch"] == np.percentile(m.timing.samples, 95)
        assert m.metrics["sizes.n"] == len(data.X_test)
    assert lr.metrics["sizes.pickled"] == len(pickle.dumps(logreg)), "the estimator itself, not its adapter"
    assert lin.metrics["sizes.pickled"] == len(pickle.dumps(linear))
    # a metric that raises, returns NaN/inf or a non-number is recorded, not fatal, and keeps none of its values
    for m in (lin, lr):
        assert m.errors["metric _raises"] == "RuntimeError: this metric is broken"
        assert "returned nan" in m.errors["metric _nan"] and "returned str 'fast'" in m.errors["metric _text"]
        assert "returned inf for 'bad'" in m.errors["metric _half_bad"] and "_half_bad.ok" not in m.metrics
        assert m.ok and set(m.errors) == {"metric _raises", "metric _nan", "metric _text", "metric _half_bad"}
    assert result.metric_columns() == ["p95_per_batch", "sizes.pickled", "sizes.n"]

    # the report: a column per metric, a finding from the values, the failures in the limitations
    table = results_table(result)
    col = table.header.index("p95_per_batch")
    assert table.header[col + 1:col + 3] == ["sizes.pickled", "sizes.n"]
    assert table.rows[1][col] == format_seconds(lr.metrics["p95_per_batch"]) == format_metric(lr.metrics["p95_per_batch"], "s")
    rep = Report(result)
    best = min(result.models, key=lambda n: result.models[n].metrics["p95_per_batch"])
    finding = next(f for f in rep.findings() if f.startswith("p95_per_batch"))
    assert finding == (f"p95_per_batch (95th percentile of seconds per batch; lower is better): linear "
                       f"{format_seconds(lin.metrics['p95_per_batch'])}, logreg "
                       f"{format_seconds(lr.metrics['p95_per_batch'])}; best: {best}.")
    assert any(f.startswith(f"sizes.n: linear {len(data.X_test):,}, logreg") for f in rep.findings())
    assert "logreg: the metric _nan step failed (ValueError: returned nan: a metric must return a finite number)." \
        in rep.limitations()
    assert not any("metric _" in r for r in rep.recommendations()), "a metric's failure is its own, not the model's"
    assert result.to_pandas().loc["logreg", "sizes.pickled"] == lr.metrics["sizes.pickled"]

    # results.json keeps the values and how to read them; a file written before metrics existed still loads
    loaded = SuiteResult.load(result.save(tmp_path / "results.json"))
    assert loaded.models["logreg"].metrics == lr.metrics and loaded.models["linear"].errors == lin.errors
    assert loaded.metrics[0] == MetricInfo("p95_per_batch", "s", False, "95th percentile of seconds per batch")
    assert json.dumps(loaded.to_dict()) == json.dumps(result.to_dict())
    assert Report(loaded).findings() == rep.findings()
    old = result.to_dict()
    del old["metrics"]
    for m in old["models"].values():
        del m["metrics"]
    before = SuiteResult.from_dict(json.loads(json.dumps(old)))
    assert before.metrics == [] and before.models["logreg"].metrics == {} and before.metric_columns() == []
    assert "p95_per_batch" not in results_table(before).header and Report(before).to_markdown()


def test_as_batch_callable_wraps_estimators_and_names_what_it_cannot_use():
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.svm import LinearSVC

    from tinybench.suite import EstimatorModel, as_batch_callable
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 4)).astype(np.float32)
    labels = np.array([1, 3, 5])[np.argmax(X[:, :3], axis=1)]  # labels 1, 3, 5: columns 0, 2, 4 stay empty
    lr = LogisticRegression(max_iter=500).fit(X, labels)
    wrapped = as_batch_callable(lr)
    assert isinstance(wrapped, EstimatorModel) and wrapped.method == "predict_proba"
    scores = wrapped(torch.from_numpy(X))
    assert scores.shape == (90, 6) and np.allclose(scores[:, [1, 3, 5]], lr.predict_proba(X))
    assert (scores[:, [0, 2, 4]] == 0).all() and (scores.argmax(1) == lr.predict(X)).all()
    images = torch.from_numpy(X.reshape(90, 1, 2, 2))  # samples first, flattened to (samples, features)
    assert np.array_equal(wrapped(images), scores) and wrapped.prepare(images).shape == (90, 4)
    svc = LinearSVC().fit(X, labels)  # no predict_proba: one-hot rows of predict's labels
    one_hot = as_batch_callable(svc)(X)
    assert one_hot.shape == (90, 6) and (one_hot.sum(1) == 1).all() and (one_hot.argmax(1) == svc.predict(X)).all()
    ridge = Ridge().fit(X, X[:, 0] * 2.0)  # a regressor: one column of values
    assert np.allclose(as_batch_callable(ridge)(X)[:, 0], ridge.predict(X))
    f = lambda x: x  # noqa: E731
    assert as_batch_callable(f) is f and as_batch_callable(lr).estimator is lr
    with pytest.raises(TypeError, match="callable on a batch .* or have predict_proba or predict .* got object"):
        as_batch_callable(object())
    with pytest.raises(TypeError, match="callable on a batch .* got object"):
        BenchmarkSuite({"a": object()}, _data())
    with pytest.raises(ValueError, match=r"LogisticRegression has predict_proba but no classes_: fit it first"):
        as_batch_callable(LogisticRegression())
    with pytest.raises(ValueError, match=r"classes_ is \['a', 'b'\].*LabelEncoder"):
        as_batch_callable(LogisticRegression().fit(X[:10], ["a", "b"] * 5))


@pytest.mark.parametrize("metrics, exc, pattern", [
    ([3], TypeError, r"metrics\[0\] must be a Metric or a function \(model, data, result\) -> number, got int 3"),
    ("p95", TypeError, "metrics must be a list of Metric objects or functions .* got str 'p95'"),
    ([lambda m, d, r: 1.0], ValueError, r"metrics\[0\] is a function without a name .* Metric\('p95_latency', fn"),
    ([_nan, _nan], ValueError, "two metrics are named '_nan': give each its own name"),
    ({"accuracy": _nan}, ValueError, "'accuracy' is a built-in column .* rename the metric, e.g. 'my_accuracy'"),
    ({"x": "not a function"}, TypeError, r"metrics\['x'\] must be a Metric or a function"),
    ({"x": "Metric:y"}, TypeError, r"metrics\['x'\]"),
])
def test_bad_metrics_arguments_name_the_value_and_the_fix(metrics, exc, pattern):
    with pytest.raises(exc, match=pattern):
        BenchmarkSuite({"a": Work(1, d=8)}, _data(20, 8), FAST, metrics=metrics)


def test_metric_fields_are_checked():
    from tinybench.suite import Metric, as_metrics
    with pytest.raises(ValueError, match=r"without '\.' .* got 'a\.b'"):
        Metric("a.b", _nan)
    with pytest.raises(ValueError, match="non-empty"):
        Metric(" ", _nan)
    with pytest.raises(TypeError, match="name must be a string, got int 3"):
        Metric(3, _nan)
    with pytest.raises(TypeError, match="Metric 'x': fn must be a function .* got float 1.5"):
        Metric("x", 1.5)
    with pytest.raises(TypeError, match="higher_is_better must be True, False or None, got 1"):
        Metric("x", _nan, higher_is_better=1)
    with pytest.raises(TypeError, match="unit must be a string"):
        Metric("x", _nan, unit=None)
    with pytest.raises(ValueError, match=r"metrics\['x'\] is Metric 'y': the key and the Metric's name must agree"):
        as_metrics({"x": Metric("y", _nan)})
    assert [m.name for m in as_metrics({"x": _nan, "y": Metric("y", _nan)})] == ["x", "y"]
    assert [m.name for m in as_metrics(_nan)] == ["_nan"] and as_metrics(None) == []


def test_timing_summary_is_typed_and_recomputes_every_figure_from_its_samples():
    "ModelResult.timing is a TimingSummary: fields are read directly, figures come from the samples it keeps."
    from tinybench.suite import TimingSummary
    rng = np.random.default_rng(3)
    samples = rng.lognormal(np.log(1e-3), 0.2, 101).tolist()
    t = TimingSummary(16, samples, [float(np.median(samples[i::5])) for i in range(5)])
    d = t.to_dict()
    assert d["median"] == float(np.median(samples)) and d["p99"] == pytest.approx(np.percentile(samples, 99))
    assert d["throughput"] == 16 / d["median"] and d["n"] == 101 and d["rounds"] == 5
    # results.json written before TimingSummary held the same keys: they load, and the figures are recomputed
    old = {**d, "median": 123.0, "p99": -1.0}
    back = TimingSummary.from_dict(old)
    assert back.samples == samples and back.median == d["median"] and back.p99 == d["p99"]
    m = ModelResult.from_dict({**ModelResult("x").to_dict(), "timing": old})
    assert isinstance(m.timing, TimingSummary) and m.median == d["median"]
    with pytest.raises(TypeError):
        t["median"]  # no dict-style reads: a renamed key would fail silently elsewhere


def test_model_result_fields_are_typed_and_survive_results_json():
    "stats and memory are module 03's result classes, read by attribute; to_dict/from_dict give them back."
    from tinybench.profiles import MemoryProfile, ModelStats
    from tinybench.suite import MemorySummary, TimingSummary
    m = ModelResult("m", timing=TimingSummary(4, [1e-3, 2e-3], [1.5e-3]),
                    stats=ModelStats(10, 10, 40, 0, 900, 600, {"Net": 600}, [[4, 3]]),
                    memory=MemorySummary(4, MemoryProfile(1_000, 1_100, 1_500, "VmHWM", None, None), 96))
    back = ModelResult.from_dict(json.loads(json.dumps(m.to_dict())))
    assert isinstance(back.stats, ModelStats) and back.stats.flops == 600 and back.stats.macs == 300
    assert isinstance(back.memory, MemorySummary) and back.memory.rss_increase == 500
    assert back.memory.largest_layer_bytes == 96 and back.timing.median == 1.5e-3
    assert back.to_dict() == m.to_dict()
    from tinybench.profiles import BatchSweep
    m.batch_sweep = BatchSweep([{"batch": 1, "samples_per_s": 10.0}, {"batch": 8, "samples_per_s": 50.0}], "cpu",
                               oom_batch=16, env={"cpu_model": "x"})
    back = ModelResult.from_dict(json.loads(json.dumps(m.to_dict())))
    assert back.batch_sweep.oom_batch == 16 and back.best_throughput == {"batch": 8, "samples_per_s": 50.0}
    assert "env" not in m.to_dict()["batch_sweep"], "the suite keeps one environment, not one per sweep"


def test_latency_budget_finds_the_largest_batch_within_it_and_round_trips(tmp_path):
    """With `latency_budget`, each model gets the largest batch whose p90 fits it (module 03's binary search), with its
    samples/s = batch / p90; the report shows the table; results.json keeps it. The budget is batch 8's p90 × 1.5,
    measured just before; every batch the search rejected measured over the budget, the one it chose within it."""
    from tinybench.profiling import batch_sweep
    from tinybench.report import Report
    from tinybench.suite import SuiteResult, batch_limit_table
    model = nn.Sequential(nn.Linear(16, 256), nn.ReLU(), nn.Linear(256, 4)).eval()
    X = torch.randn(64, 16)
    p90 = batch_sweep(model, lambda b: X[:1].repeat(b, 1), [8], min_time=0.05).rows[0]["p90"]
    s = SuiteSettings(batch_size=8, min_time=0.05, rounds=2, sequential=False, scenarios=(), batch_sizes=(8,),
                      sweep_min_time=0.02, memory=False, latency_budget=1.5 * p90)
    result = BenchmarkSuite({"m": model}, (X, None), s, task="regression").run()
    lim = result.models["m"].batch_limit
    assert lim is not None and lim.batch >= 1 and lim.latency <= lim.budget == 1.5 * p90
    assert all(v > lim.budget for b, v in lim.tried.items() if b > lim.batch), lim.tried
    assert lim.samples_per_s == lim.batch / lim.tried[lim.batch]
    row = batch_limit_table(result).rows[0]
    md = Report(result).to_markdown()
    assert row[1] == str(lim.batch) and "largest batch" in md and "Latency budget" in md
    again = SuiteResult.load(result.save(tmp_path / "r.json")).models["m"].batch_limit
    assert again == lim
    with pytest.raises(ValueError, match="latency_budget"):
        SuiteSettings(latency_budget=-1.0)
