"""Resources during the run: ResourceSummary (samples kept, figures recomputed), the suite's per-model resources
(sampled during each model's own timed blocks), and thermal throttling in soak (the rule, and its honesty when the
machine has no clock to read)."""
import json
import time

import numpy as np
import pytest
import torch
from torch import nn

import tinybench.monitor as mon_mod
from tinybench.monitor import (THROTTLE_STATUSES, MonitorResult, ResourceMonitor, ResourceSummary, ThermalReport,
                               cpu_clock_reader, detect_throttling, nvml_device, thermal_report)
from tinybench.suite import BenchmarkSuite, SuiteResult, SuiteSettings, resource_finding, resources_table


# ------------------------------------------------------------------------------------------- ResourceSummary
def _mr(t, cpu, rss, **gpu):
    series = {"process_cpu_percent": np.array(cpu, float), "rss_bytes": np.array(rss, float),
              **{k: np.array(v, float) for k, v in gpu.items()}}
    return MonitorResult(0.1, np.array(t, float), series, None if gpu else "no NVML here")


def test_resource_summary_figures_are_recomputed_from_its_samples_and_round_trip():
    a = _mr([0.1, 0.2, 0.25], [100, 80, 40], [10, 30, 20])
    b = _mr([0.1, 0.2], [0, 200], [25, 5])
    rs = ResourceSummary.from_monitor([a, b])
    secs = np.array([0.1, 0.1, 0.05, 0.1, 0.1])  # each sample covers the time since the one before
    cpu = np.array([100, 80, 40, 0, 200])
    assert np.allclose(rs.sample_seconds, secs) and rs.cpu_percent == cpu.tolist() and rs.windows == 2
    assert rs.cpu_percent_mean == pytest.approx((cpu * secs).sum() / secs.sum())  # CPU seconds / wall seconds
    assert rs.cpu_percent_mean != pytest.approx(cpu.mean())  # weighted, not the plain mean
    assert rs.cpu_percent_p95 == pytest.approx(np.percentile(cpu, 95))
    assert rs.cpu_cores_mean == pytest.approx(rs.cpu_percent_mean / 100)
    assert rs.rss_bytes_peak == 30 and rs.n_samples == 5
    assert rs.gpu_util_percent is None and rs.gpu_util_percent_mean is None and rs.gpu_mem_bytes_peak is None
    assert rs.gpu_power_watts_mean is None and rs.gpu_reason == "no NVML here"
    d = json.loads(json.dumps(rs.to_dict()))
    assert d["summary"]["cpu_percent_mean"] == pytest.approx(rs.cpu_percent_mean)
    d["summary"]["cpu_percent_mean"] = -1.0  # the figures are recomputed from the samples, never read back
    back = ResourceSummary.from_dict(d)
    assert back.summary() == rs.summary() and back.to_dict() == rs.to_dict()
    assert "GPU n/a" in repr(rs) and "5 samples" in repr(rs)


def test_resource_summary_gpu_fields_when_the_series_exist():
    g = _mr([0.1, 0.3], [50, 50], [1, 1], gpu_util_percent=[20, 80], gpu_memory_bytes=[5e8, 7e8], gpu_power_w=[100, 300])
    rs = ResourceSummary.from_monitor([g])
    assert rs.gpu_util_percent_mean == pytest.approx((20 * 0.1 + 80 * 0.2) / 0.3)
    assert rs.gpu_mem_bytes_peak == 700_000_000 and rs.gpu_power_watts_mean == pytest.approx((100 * .1 + 300 * .2) / .3)
    assert rs.gpu_reason is None and ResourceSummary.from_dict(rs.to_dict()).summary() == rs.summary()


def test_resource_summary_refuses_nothing_to_summarise():
    with pytest.raises(ValueError, match="non-empty list of MonitorResult"):
        ResourceSummary.from_monitor([])
    with pytest.raises(ValueError, match="without samples"):
        ResourceSummary.from_monitor([_mr([], [], [])])


def test_resource_summary_cpu_mean_is_the_process_cpu_time_over_the_monitored_time():
    "Busy then idle windows: the weighted mean agrees with the process's own CPU clock over the same span."
    c0, w0 = time.process_time(), time.perf_counter()
    with ResourceMonitor(interval=0.05, gpu=False) as busy:
        end = time.perf_counter() + 0.4
        while time.perf_counter() < end:
            pass
    with ResourceMonitor(interval=0.05, gpu=False) as idle:
        time.sleep(0.4)
    expected = (time.process_time() - c0) / (time.perf_counter() - w0) * 100
    rs = ResourceSummary.from_monitor([busy.result, idle.result])
    assert abs(rs.cpu_percent_mean - expected) < 15, (rs.cpu_percent_mean, expected)
    assert rs.cpu_percent_p95 > rs.cpu_percent_mean  # a busy window and an idle one: the high samples are the busy ones


# ------------------------------------------------------------------------------------------ the suite
class Busy(nn.Module):
    "Real CPU work: dense matmuls, then a 10-way head."
    def __init__(self, d=256):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = nn.Parameter(torch.randn(d, d, generator=g) / d**0.5, requires_grad=False)
        self.head = nn.Linear(d, 10)

    def forward(self, x):
        for _ in range(4):
            x = x @ self.w
        return self.head(x)


class Waits(Busy):
    "The same outputs after waiting 5 ms off the CPU: a model that uses (almost) no CPU while it is timed."
    def forward(self, x):
        time.sleep(0.005)
        return super().forward(x)


def _data(n=64, d=256):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, d, generator=g), torch.randint(0, 10, (n,), generator=g)


FAST = SuiteSettings(batch_size=8, min_time=0.4, rounds=2, sequential=False, scenarios=(), batch_sizes=(),
                     memory=False)


@pytest.fixture(scope="module")
def resources_suite():
    return BenchmarkSuite({"busy": Busy(), "waits": Waits()}, _data(), FAST).run()


def test_suite_samples_resources_of_each_model_during_its_own_timed_blocks(resources_suite):
    r = resources_suite
    for name, m in r.models.items():
        rs = m.resources
        assert rs is not None and m.timing is not None, name
        assert rs.windows == m.timing.rounds == 2  # one monitored window per timed block
        # the kernel counts CPU time in 10 ms ticks: the model that waits may honestly read 0% over its windows
        assert (0 < rs.cpu_percent_mean if name == "busy" else 0 <= rs.cpu_percent_mean)
        assert rs.rss_bytes_peak > 0 and rs.n_samples >= 2
        assert rs.gpu_util_percent is None and rs.gpu_mem_bytes is None and rs.gpu_power_watts is None
        assert "ran on cpu" in rs.gpu_reason and rs.interval_s == FAST.resource_interval
        # every figure from the kept samples
        secs, cpu = np.array(rs.sample_seconds), np.array(rs.cpu_percent)
        assert rs.cpu_percent_mean == pytest.approx((cpu * secs).sum() / secs.sum())
        assert rs.cpu_percent_p95 == pytest.approx(np.percentile(cpu, 95)) and rs.rss_bytes_peak == max(rs.rss_bytes)
        # the monitored time is the timed time: the windows cover about what the rounds took, not the whole run
        assert sum(rs.sample_seconds) < r.duration
    # attribution: the rounds interleave the models, and the model that waits off the CPU is charged less CPU than
    # the one that computes (one shared monitor over the whole timing step would give them the same figure)
    assert r.models["waits"].resources.cpu_percent_mean < r.models["busy"].resources.cpu_percent_mean
    row = {x["model"]: x for x in r.rows()}
    assert row["busy"]["cpu_percent_mean"] == r.models["busy"].resources.cpu_percent_mean
    assert row["busy"]["gpu_util_percent_mean"] is None


def test_suite_resources_round_trip_and_old_results_still_load(resources_suite, tmp_path):
    r = resources_suite
    back = SuiteResult.load(r.save(tmp_path / "results.json"))
    for name, m in r.models.items():
        assert back.models[name].resources.to_dict() == m.resources.to_dict()
    old = json.loads((tmp_path / "results.json").read_text())
    for m in old["models"].values():
        del m["resources"]
    del old["settings"]["resource_interval"]
    (tmp_path / "old.json").write_text(json.dumps(old))
    loaded = SuiteResult.load(tmp_path / "old.json")
    assert all(m.resources is None for m in loaded.models.values()) and loaded.settings.resource_interval == 0.1
    assert resource_finding(loaded) is None and resources_table(loaded).rows[0][1] == "–"
    from tinybench.report import Report
    assert "Resources during timing" not in Report(loaded).to_markdown()


def test_suite_without_resource_sampling_has_none():
    s = SuiteSettings(**{**FAST.to_dict(), "resource_interval": None, "min_time": 0.1})
    r = BenchmarkSuite({"busy": Busy()}, _data(), s).run()
    assert r.models["busy"].timing is not None and r.models["busy"].resources is None
    with pytest.raises(ValueError, match="resource_interval"):
        SuiteSettings(resource_interval=-0.1)


def test_report_shows_the_resources_table_and_finding(resources_suite):
    from tinybench.report import Report
    rep = Report(resources_suite)
    md = rep.to_markdown()
    assert "## Resources during timing" in md
    assert "| model | CPU mean | CPU p95 | peak RSS | GPU util | GPU memory | GPU power | samples |" in md
    busy = resources_suite.models["busy"].resources
    assert f"| busy | {busy.cpu_percent_mean:.0f}% ({busy.cpu_cores_mean:.2f} cores) | {busy.cpu_percent_p95:.0f}% |" in md
    assert "| n/a | n/a | n/a |" in md and "GPU n/a: the model ran on cpu" in md
    finding = next(f for f in rep.findings() if f.startswith("During timing"))
    assert f"busy used {busy.cpu_cores_mean:.1f} CPU cores on average" in finding
    assert "Resources during timing" in rep.to_html()


@pytest.mark.gpu
def test_suite_on_cuda_fills_the_gpu_resource_fields():
    nv, _, why = nvml_device(0)
    if nv is None:
        pytest.skip(f"CUDA without NVML: {why}")
    s = SuiteSettings(**{**FAST.to_dict(), "device": "cuda", "batch_size": 64})
    r = BenchmarkSuite({"busy": Busy().cuda()}, _data(256), s).run()
    rs = r.models["busy"].resources
    assert rs.gpu_util_percent is not None and rs.gpu_util_percent_mean > 0 and rs.gpu_mem_bytes_peak > 0
    assert len(rs.gpu_util_percent) == len(rs.gpu_mem_bytes) == rs.n_samples
    assert rs.gpu_power_watts is not None or "gpu_power_w" in (rs.gpu_reason or "")  # a board without power: why
    assert "n/a" not in resources_table(r).rows[0][4]


# ------------------------------------------------------------------------------------------ throttling
def _hot(n=20, seed=0):
    rng = np.random.default_rng(seed)
    clock = np.r_[np.full(n // 2, 3000.0), np.linspace(3000, 2400, n - n // 2)] + rng.normal(0, 5, n)
    return clock, 1e-3 * 3000 / clock * (1 + rng.normal(0, 0.01, n))


def test_throttling_detected_when_latency_follows_a_clock_drop():
    clock, lat = _hot()
    v = detect_throttling(clock, lat)
    assert v.status == "throttling" and v.throttled is True
    assert v.clock_drop == pytest.approx(1 - clock.min() / clock[0])
    from scipy.stats import spearmanr
    assert v.spearman_rho == pytest.approx(spearmanr(clock, lat).statistic) and v.spearman_rho <= -0.5
    slow = clock < clock[0] * 0.95
    assert v.latency_rise == pytest.approx(np.median(lat[slow]) / np.median(lat[~slow]) - 1) and v.latency_rise > 0
    assert v.n_windows == 20 and v.to_dict()["throttled"] is True and "throttling" in repr(v)


def test_no_throttling_verdicts():
    clock, lat = _hot()
    flat = 1e-3 * (1 + np.random.default_rng(1).normal(0, 0.01, 20))
    drop_only = detect_throttling(clock, flat)  # the clock fell but latency did not follow
    assert drop_only.status == "clock drop, latency unaffected" and drop_only.throttled is False
    steady = detect_throttling(np.full(20, 3000.0), lat)  # latency drifts, the clock does not: not the clock
    assert steady.status == "no clock drop" and steady.throttled is False and steady.spearman_rho is None
    small = detect_throttling(3000 - np.arange(20.0), lat[::-1])  # a 0.6% drift, below the 5% threshold
    assert small.status == "no clock drop" and small.clock_drop < 0.05
    # a drop with latency falling (faster at the lower clock) is not throttling either
    assert detect_throttling(clock, np.sort(lat)[::-1]).status == "clock drop, latency unaffected"


def test_throttling_not_assessed_without_clock_data():
    lat = np.full(20, 1e-3)
    for clock in (None, np.full(20, np.nan)):
        v = detect_throttling(clock, lat)
        assert v.status == "not assessed" and v.throttled is None and "no clock data: throttling not assessed" in v.reason
    few = detect_throttling([3000, 2000, 1000, np.nan], [1, 2, 3, 4])
    assert few.status == "not assessed" and "only 3 windows" in few.reason
    with pytest.raises(ValueError, match="one value per window"):
        detect_throttling([3000, 2000], [1e-3])
    with pytest.raises(ValueError, match="max_rho"):
        detect_throttling([3000] * 5, [1e-3] * 5, max_rho=0.5)
    assert set(THROTTLE_STATUSES) == {"throttling", "clock drop, latency unaffected", "no clock drop", "not assessed"}


def test_thermal_report_windows_and_the_gpu_clock_only_when_the_gpu_worked():
    t = np.arange(1, 21) * 0.1
    cpu_clock = np.linspace(3000, 2000, 20)
    m = MonitorResult(0.1, t, {"rss_bytes": np.ones(20), "cpu_clock_mhz": cpu_clock,
                               "gpu_sm_clock_mhz": np.full(20, 300.0), "gpu_util_percent": np.zeros(20)})
    rep = thermal_report(m, np.linspace(0, 2, 11), np.linspace(1e-3, 2e-3, 10))
    assert rep.clock_source == "cpu_clock_mhz" and "idle" in rep.missing["gpu_sm_clock_mhz"]
    assert np.allclose(rep.window_clock_mhz[:9], [np.median(cpu_clock[(t >= lo) & (t < lo + 0.2)])
                                                  for lo in np.linspace(0, 1.6, 9)])
    assert rep.verdict.status == "throttling" and rep.temperature_c is None and "cpu_temperature_c" in rep.missing
    busy_gpu = MonitorResult(0.1, t, {**m.series, "gpu_util_percent": np.full(20, 90.0)})
    assert thermal_report(busy_gpu, np.linspace(0, 2, 11), np.linspace(1e-3, 2e-3, 10)).clock_source == "gpu_sm_clock_mhz"
    with pytest.raises(ValueError, match="increasing"):
        thermal_report(m, [0, 0], [1e-3])


# ------------------------------------------------------------------------------------------ soak end to end
class SleepSUT:
    "Sleeps `seconds(batch)` per query: a SUT whose time does not depend on the CPU."
    def __init__(self, seconds):
        self.seconds = seconds

    def __call__(self, batch):
        time.sleep(self.seconds())
        return batch


def _ds():
    from tinybench.scenarios import ArrayDataset
    return ArrayDataset(np.zeros((64, 4), np.float32))


def test_soak_records_thermal_fields_honestly_on_this_machine():
    from tinybench.scenarios import soak
    r = soak(SleepSUT(lambda: 1e-3), _ds(), target_qps=200, min_duration=1.0, target_latency=0.05, interval=0.05,
             min_query_count=1, max_duration=3)
    th = r.thermal
    assert isinstance(th, ThermalReport) and r.to_dict()["thermal"]["verdict"]["status"] in THROTTLE_STATUSES
    has_clock = cpu_clock_reader()[0] is not None or nvml_device(0)[0] is not None
    if th.clock_mhz is None:  # absent sensors: not assessed, with the reason, never a "no throttling"
        assert th.verdict.status == "not assessed" and th.verdict.throttled is None
        assert "no clock data: throttling not assessed" in repr(r) and "cpu_clock_mhz" in th.missing
        assert not cpu_clock_reader()[0] and th.verdict.reason.count(th.missing["cpu_clock_mhz"]) == 1
    else:
        assert has_clock and len(th.clock_mhz) == len(th.t) and len(th.window_clock_mhz) == len(r.window_p50)
        assert th.clock_source in ("cpu_clock_mhz", "gpu_sm_clock_mhz")


def test_soak_flags_throttling_when_the_clock_falls_and_latency_follows(monkeypatch):
    """The plumbing with a clock we control: the CPU clock reader reports 3,000 MHz for 0.6 s, then a clock falling to
    2,000 MHz at 1.6 s, and the SUT sleeps 4 ms × (3,000 / clock)³ (4 to 13.5 ms: work that slows with the clock, by
    more than a loaded machine's scheduling noise)."""
    from tinybench.scenarios import soak
    t0 = time.perf_counter()

    def clock():
        return 3000.0 - 1000.0 * min(1.0, max(0.0, time.perf_counter() - t0 - 0.6))
    monkeypatch.setattr(mon_mod, "cpu_clock_reader", lambda: (clock, None))
    r = soak(SleepSUT(lambda: 4e-3 * (3000 / clock()) ** 3), _ds(), target_qps=40, min_duration=2.0,
             target_latency=0.2, interval=0.05, windows=10, min_query_count=1, max_duration=4)
    th = r.thermal
    assert th.clock_source == "cpu_clock_mhz" and th.clock_mhz.min() < 2100 and th.clock_mhz.max() > 2900
    # the windows line up with soak's latency windows, and the verdict is the rule applied to them
    assert len(th.window_clock_mhz) == len(r.window_p50) == 10
    assert th.window_clock_mhz[0] > 2900 and th.window_clock_mhz[-1] < 2100
    again = detect_throttling(th.window_clock_mhz, r.window_p50)
    assert again.to_dict() == th.verdict.to_dict() and r.to_dict()["thermal"]["verdict"] == again.to_dict()
    assert np.nanmedian(r.window_p50[-3:]) > np.nanmedian(r.window_p50[:3])  # the SUT did slow down with the clock
    # a clock that fell is assessed, never "not assessed". Latency follows it clearly at load average 9 (rho -0.86 to
    # -0.90, "throttling" 3 of 3), but scheduling stalls of tens of ms from two CPU-bound processes alongside can blur a
    # 10-window rank correlation (-0.29 seen once), so the verdict is only required to be one of the "clock fell" two
    assert th.verdict.status in ("throttling", "clock drop, latency unaffected"), th.verdict
    assert th.verdict.clock_drop > 0.25 and th.headline.split(" (")[0] in repr(r)


def test_resource_monitor_thermal_series_or_reasons(monkeypatch):
    with ResourceMonitor(interval=0.05, gpu=False, thermal=True) as m:
        time.sleep(0.12)
    for key in ("cpu_clock_mhz", "cpu_temperature_c"):
        assert (key in m.result.series) != (key in m.result.unsupported), key
    monkeypatch.setattr(mon_mod, "cpu_temperature_reader", lambda: (lambda: 55.0, None))
    with ResourceMonitor(interval=0.05, gpu=False, thermal=True) as m:
        time.sleep(0.12)
    assert np.all(m.result.series["cpu_temperature_c"] == 55.0)
    with ResourceMonitor(interval=0.05, gpu=False) as m:  # thermal off: not sampled, not claimed missing
        time.sleep(0.06)
    assert "cpu_clock_mhz" not in m.result.series and "cpu_clock_mhz" not in m.result.unsupported
