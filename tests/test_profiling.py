"""tinybench.profiling: FLOP counts against closed forms, layer profiles against the whole pass, real
resource counters, batch sweeps that survive out-of-memory, and the roofline."""
import json
import math
import time

import numpy as np
import psutil
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from tinybench.instrument import sample_python
from tinybench.monitor import EnergyResult, ResourceMonitor, _joules_per_block, energy_per_inference, nvml_device
from tinybench.profiling import (batch_sweep, conv2d_flops, count_flops,
                                 largest_batch_within, leaf_modules, linear_flops, max_batch_under_latency,
                                 measure_memory, measure_peaks, model_stats, pipeline_profile,
                                 profile_layers, profile_ops, profile_python, roofline, time_layers)
from tinybench.display import format_bytes
from tinybench.timing import BenchmarkError


class Repeat(nn.Module):
    "k applications of one linear layer: a planted bottleneck made of real computation."
    def __init__(self, dim, k):
        super().__init__()
        self.lin, self.k = nn.Linear(dim, dim), k

    def forward(self, x):
        for _ in range(self.k):
            x = torch.tanh(self.lin(x))
        return x


def planted(dim=256, k=20):
    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), Repeat(dim, k), nn.Linear(dim, 10))


def counted(module, x):
    with FlopCounterMode(display=False) as c:
        module(x)
    return c.get_total_flops()


# --- the module's names ----------------------------------------------------------------------

def test_profiling_still_offers_what_instrument_and_profiles_define():
    "The instruments and result types live in support modules; tinybench.profiling re-exports the public ones."
    import tinybench.instrument as instrument
    import tinybench.profiles as profiles
    import tinybench.profiling as profiling
    for name in ("leaf_modules", "tensor_bytes"):
        assert getattr(profiling, name) is getattr(instrument, name) and name in profiling.__all__
    for name in ("ModelStats", "LayerProfile", "OpProfile", "PythonProfile", "MemoryProfile", "PipelineProfile",
                 "BatchSweep", "BatchLimit", "DevicePeaks", "Roofline"):
        assert getattr(profiling, name) is getattr(profiles, name) and name in profiling.__all__


# --- FLOPs and model stats -------------------------------------------------------------------

@pytest.mark.parametrize("b,i,o", [(1, 1, 1), (3, 17, 5), (64, 512, 64)])
def test_linear_flops_match_counter_exactly(b, i, o):
    assert linear_flops(b, i, o) == counted(nn.Linear(i, o), torch.randn(b, i)) == 2 * b * i * o


@pytest.mark.parametrize("cin,cout,k,stride,pad,groups,hw", [(1, 16, 3, 1, 1, 1, 8), (16, 32, 3, 2, 0, 1, 9),
                                                           (8, 8, (3, 5), 1, 1, 4, 12)])
def test_conv2d_flops_match_counter_exactly(cin, cout, k, stride, pad, groups, hw):
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=pad, groups=groups)
    x = torch.randn(2, cin, hw, hw)
    out = conv(x).shape[-2:]
    assert conv2d_flops(2, cin, cout, k, tuple(out), groups) == counted(conv, x)


def test_model_stats_counts_params_bytes_and_flops():
    m = nn.Sequential(nn.Linear(10, 5), nn.BatchNorm1d(5))
    s = model_stats(m.eval(), torch.randn(4, 10))
    assert s.n_params == 55 + 10 and s.param_bytes == 65 * 4
    assert s.buffer_bytes == (5 + 5) * 4 + 8, "running mean/var (float32) and num_batches_tracked (int64)"
    assert s.serialized_bytes > s.param_bytes + s.buffer_bytes
    assert s.flops == linear_flops(4, 10, 5) and s.flops_by_module["Sequential.0"] == s.flops and s.macs == s.flops / 2
    assert "params" in repr(s) and "<table>" in s._repr_html_() and s.to_dict()["flops"] == s.flops


def test_model_stats_bad_input_is_a_clear_error():
    with pytest.raises(BenchmarkError, match=r"Linear raised RuntimeError on inputs of shape \[\(4, 3\)\]"):
        model_stats(nn.Linear(10, 5), torch.randn(4, 3))


# --- per-layer timing ------------------------------------------------------------------------

def test_time_layers_finds_the_planted_layer_and_removes_hooks():
    m = planted()
    runs = [time_layers(m, torch.randn(128, 256)) for _ in range(3)]
    t = {k: min(r[k] for r in runs) for k in runs[0]}  # best of three: one pass can be hit by a stall
    assert set(t) == {name for name, _ in leaf_modules(m)} and max(t, key=t.get) == "2.lin"
    assert all(not x._forward_hooks and not x._forward_pre_hooks for x in m.modules())


def least_disturbed(make, k=3):
    """Best of k profiles: the one whose kept passes were fastest. All k always run; none is picked by the assertions.

    A stall (the OS running another process) lands inside whichever layer is running and inflates that pass. With
    two CPU-bound processes alongside (and other tenants, load average ~5 on 2 cores) this process ran ~5 ms between
    ~20 ms stalls: a 6 ms pass of planted() at batch 256 was hit every time (totals 22-62 ms; Repeat's share 2%
    instead of 13%; and, while the summary took per-column medians, parts + unattributed were 57-80% of the median
    total). Passes of ~1.7 ms (batch 64) are mostly clean; the least disturbed of three profiles is cleaner still."""
    return min((make() for _ in range(k)), key=lambda p: p.total)


def test_profile_layers_top_bottleneck_and_parts_add_up():
    p = least_disturbed(lambda: profile_layers(planted(), torch.randn(64, 256), repeat=10))
    assert p.top(1)[0][0] == "2.lin", p.top(3)
    assert p.names == ["0", "1", "2", "2.lin", "3"], "every module, with self times"
    assert p.timer == "perf_counter" and p.layer_times.shape == (10, 5)
    # the self times plus the unattributed remainder are the measured whole: within the stated tolerance
    assert p.within_tolerance and abs(p.unattributed_fraction) <= 0.10, p
    # the summary is over the same (kept) passes, so its parts add up exactly; both agree with the raw passes
    assert p.per_layer.sum() + p.unattributed == pytest.approx(p.total, rel=1e-9)
    k = p.totals <= np.median(p.totals)
    assert p.total == pytest.approx(p.totals[k].mean()) and np.allclose(p.per_layer, p.layer_times[k].mean(axis=0))
    d = p.to_dict()
    assert d["within_tolerance"] and len(d["layers"]) == 5 and "unattributed" in p._repr_html_()


def test_profile_layers_self_time_sees_work_in_a_parent_forward():
    p = least_disturbed(lambda: profile_layers(planted(dim=256, k=20), torch.randn(64, 256), repeat=5))
    share = dict((n, s) for n, _, s in p.top(5))
    assert share["2"] > 0.05, "Repeat's own tanh calls are its self time, not lost"


def test_profile_layers_errors_name_the_module():
    bad = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.ReLU(), nn.Linear(5, 5)))
    with pytest.raises(BenchmarkError, match="in module '1.1'"):
        profile_layers(bad, torch.randn(2, 4), warmup=0)
    assert all(not x._forward_hooks and not x._forward_pre_hooks for x in bad.modules())
    with pytest.raises(ValueError, match="no submodules"):
        profile_layers(nn.Linear(2, 2), torch.randn(1, 2))
    with pytest.raises(ValueError, match="repeat"):
        profile_layers(planted(), torch.randn(1, 256), repeat=0)


# --- operators and Python --------------------------------------------------------------------

def test_profile_ops_table_and_chrome_trace(tmp_path):
    m = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8))
    ops = profile_ops(m, torch.randn(32, 64), repeat=4, record_shapes=True, trace_path=tmp_path / "t.json")
    names = {r["name"]: r for r in ops.rows}
    assert "aten::addmm" in names and sum(r["calls"] for r in ops.rows if r["name"] == "aten::addmm") == 2
    assert all(r["self_cpu"] <= r["cpu_total"] + 1e-9 for r in ops.rows)
    trace = json.loads((tmp_path / "t.json").read_text())
    assert any(e.get("name") == "aten::addmm" for e in trace["traceEvents"])
    assert "aten::addmm" in ops.table() and "OpProfile" in repr(ops) and "<table>" in ops._repr_html_()


def test_profile_ops_drops_the_warm_up_and_the_slower_half_of_the_calls():
    """The warm-up calls run under the profiler and are dropped (a fresh profiler's first calls pay its start-up), and
    the table is the mean of the faster half of the profiled calls: a call that does a 600x600 matmul on its first
    run only, or on every other call (far slower than the rest), leaves no aten::mm in the table."""
    big, small, calls = torch.randn(600, 600), torch.randn(4, 4), []

    def fn(heavy_every):
        calls.append(1)
        first = len(calls) == 1
        return (big @ big) if first or (heavy_every and len(calls) % 2 == 0) else (small + 1)

    ops = profile_ops(fn, False, repeat=3, warmup=1)
    assert "aten::mm" not in {r["name"] for r in ops.rows} and {r["name"] for r in ops.rows} >= {"aten::add"}
    calls.clear()
    ops = profile_ops(fn, True, repeat=4, warmup=1)  # calls 2 and 4 of the profiled four are heavy: the slower half
    assert "aten::mm" not in {r["name"] for r in ops.rows}
    assert next(r for r in ops.rows if r["name"] == "aten::add")["calls"] == 1, "per call, over the kept calls"


def test_profile_ops_writes_the_trace_where_tensorboard_reads_it(tmp_path):
    m = nn.Sequential(nn.Linear(16, 8), nn.ReLU())
    ops = profile_ops(m, torch.randn(4, 16), repeat=2, tensorboard_dir=tmp_path / "tb" / "run1",
                      trace_path=tmp_path / "trace.json")
    (tb,) = (tmp_path / "tb" / "run1").glob("*.pt.trace.json")
    assert tb.read_bytes() == (tmp_path / "trace.json").read_bytes(), "one trace, in both places"
    names = {e.get("name") for e in json.loads(tb.read_text())["traceEvents"]}
    assert "aten::linear" in names and ops.trace_path == str(tmp_path / "trace.json")
    profile_ops(m, torch.randn(4, 16), repeat=1, tensorboard_dir=tmp_path / "tb" / "run1")
    assert len(list((tmp_path / "tb" / "run1").glob("*.pt.trace.json"))) == 2, "a second run adds its own file"


def test_profile_ops_model_error_is_clear():
    with pytest.raises(BenchmarkError, match="profile_ops"):
        profile_ops(nn.Linear(3, 3), torch.randn(2, 4))


def busy_python(n):
    return sum(i * i for i in range(n))


def test_profile_python_rows_and_speedscope_file(tmp_path):
    p = profile_python(busy_python, 20_000, repeat=3, speedscope_path=tmp_path / "p.json")
    fns = [r["function"] for r in p.rows]
    assert any("busy_python" in f for f in fns) and any("genexpr" in f for f in fns)
    top = next(r for r in p.rows if "busy_python" in r["function"])
    assert top["calls"] == 1 and top["cumulative"] == pytest.approx(p.total, rel=0.2)
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    events = doc["profiles"][0]["events"]
    depth = 0
    for e in events:  # balanced and time-ordered, as speedscope requires
        depth += 1 if e["type"] == "O" else -1
        assert depth >= 0
    assert depth == 0 and all(a["at"] <= b["at"] for a, b in zip(events, events[1:]))
    names = {f["name"] for f in doc["shared"]["frames"]}
    assert "busy_python" in names and "setprofile" not in names


def test_profile_python_flame_graph_sees_builtins(tmp_path):
    data = list(range(200_000, 0, -1))
    profile_python(sorted, data, repeat=3, speedscope_path=tmp_path / "s.json")
    doc = json.loads((tmp_path / "s.json").read_text())
    assert any(f["name"] == "sorted" and f["file"] == "<built-in>" for f in doc["shared"]["frames"])


def test_sample_python_checks_interval_and_switches_itself_off():
    import sys
    with pytest.raises(ValueError, match="interval"):
        sample_python(abs, (1,), interval=0)
    with pytest.raises(ZeroDivisionError):
        sample_python(lambda: 1 / 0)
    assert sys.getprofile() is None


# --- memory ----------------------------------------------------------------------------------

def test_measure_memory_sees_torch_tensors_in_rss_but_not_in_tracemalloc():
    def alloc():
        t = torch.ones(2**24)  # 64 MiB, touched
        return float(t[-1])
    m = measure_memory(alloc)
    assert m.rss_increase >= 50 * 2**20, m
    assert m.python_peak < 8 * 2**20, "torch's CPU allocator is invisible to tracemalloc"


def test_measure_memory_sees_numpy_in_tracemalloc():
    m = measure_memory(lambda: float(np.ones(2**23)[-1]))  # 64 MiB float64
    assert m.python_peak >= 60 * 2**20 and m.python_retained < 2**20
    assert "MemoryProfile" in repr(m) and m.to_dict()["rss_increase"] == m.rss_increase


def test_measure_memory_error_is_clear():
    with pytest.raises(BenchmarkError, match="ZeroDivisionError"):
        measure_memory(lambda: 1 / 0)


def test_format_bytes():
    assert format_bytes(512) == "512 B" and format_bytes(1536) == "1.5 KiB" and format_bytes(3 * 2**30) == "3.0 GiB"


# --- resource monitor ------------------------------------------------------------------------

def own_cpu_percent(c0, w0):
    "This process's CPU time since (c0, w0) over the wall time since, percent: what a monitor should report."
    return 100 * (time.process_time() - c0) / (time.perf_counter() - w0)


def test_resource_monitor_busy_vs_idle_and_rss_growth():
    """The monitor's CPU % agrees with the process's own CPU time over the same window, busy and idle.

    How much CPU a busy loop gets depends on the neighbours, so the reference is measured in the same run (not a fixed
    "> 50%"): with two CPU-bound processes alongside on 2 cores, the loop got 15-17% and the monitor read 15-23%;
    quiet, 61-67% and 61-67% (within 1 point). 10 points covers the 10 ms accounting tick and the window's edges."""
    with ResourceMonitor(interval=0.05, gpu=False) as idle:
        c0, w0 = time.process_time(), time.perf_counter()
        time.sleep(0.6)
        idle_own = own_cpu_percent(c0, w0)
    with ResourceMonitor(interval=0.05, gpu=False) as busy:
        c0, w0 = time.process_time(), time.perf_counter()
        t_end = time.perf_counter() + 0.6
        while time.perf_counter() < t_end:
            pass
        busy_own = own_cpu_percent(c0, w0)
    i, b = idle.result.summary(), busy.result.summary()
    assert abs(b["process_cpu_percent"]["mean"] - busy_own) <= 10, (b, busy_own)
    assert abs(i["process_cpu_percent"]["mean"] - idle_own) <= 10, (i, idle_own)
    assert i["process_cpu_percent"]["mean"] < 20, i
    assert b["process_cpu_percent"]["mean"] > 3 * i["process_cpu_percent"]["mean"], (b, i)
    with ResourceMonitor(interval=0.02, gpu=False) as mon:
        time.sleep(0.1)
        held = torch.ones(2**25)  # 128 MiB
        time.sleep(0.2)
    rss = mon.result.series["rss_bytes"]
    assert rss.max() - rss[0] >= 100 * 2**20, "RSS grows by the allocation"
    del held
    assert len(mon.result.t) == len(rss) >= 5 and np.all(np.diff(mon.result.t) > 0)
    assert np.all(np.diff(mon.result.t) >= 0.02 / 2), "no sliver of a sampling interval (CPU % would be noise)"
    for r in (idle.result, busy.result, mon.result):
        # every core busy, plus one 10 ms accounting tick of quantization over a (slightly short) sample window
        limit = 100 * psutil.cpu_count() + 100 * 0.01 / (0.8 * r.interval)
        assert r.series["process_cpu_percent"].max() <= limit, r.series["process_cpu_percent"]


def test_resource_monitor_gpu_fields_absent_with_a_reason_without_nvml():
    nv, _, reason = nvml_device()
    if nv is not None:
        pytest.skip("NVML is available here")
    with ResourceMonitor(interval=0.05) as mon:
        time.sleep(0.1)
    r = mon.result
    assert not any(k.startswith("gpu_") for k in r.series) and r.gpu_reason == reason and "NVML" in repr(r) + reason
    assert r.energy_joules() is None
    assert "<img" in r._repr_html_() and r.to_dict()["gpu_reason"] == reason
    with pytest.raises(ValueError, match="interval"):
        ResourceMonitor(interval=0)


def test_energy_without_nvml_says_why_and_block_math():
    r = energy_per_inference(lambda: None, seconds=0.1, idle_seconds=0.1)
    if torch.cuda.is_available() and nvml_device()[0] is not None:
        pytest.skip("a GPU with NVML is here: see the gpu test")
    assert isinstance(r, EnergyResult) and r.joules_per_inference is None and r.reason and "no figure" in repr(r)
    # 10 J over 2 s at a 3 W idle baseline for 4 inferences: (10 - 6) / 4 = 1 J each
    np.testing.assert_allclose(_joules_per_block(np.array([10.0]), np.array([2.0]), np.array([4]), 3.0), [1.0])
    with pytest.raises(ValueError, match="blocks"):
        energy_per_inference(lambda: None, blocks=1)


# --- pipelines -------------------------------------------------------------------------------

def test_pipeline_profile_finds_the_bottleneck_stage():
    a = torch.randn(200, 200)

    def heavy(x):
        for _ in range(10):
            a @ a
        return x

    p = pipeline_profile([("light", lambda x: x + 1), ("heavy", heavy), ("post", float)], list(range(30)))
    assert p.bottleneck == "heavy" and p.times.shape == (30, 3)
    assert p.pipelined_throughput >= p.sequential_throughput
    assert p.sequential_throughput == pytest.approx(1 / p.end_to_end.mean())
    assert p.to_dict()["bottleneck"] == "heavy" and "bottleneck heavy" in repr(p)


def test_pipeline_profile_errors():
    with pytest.raises(BenchmarkError, match=r"stage 'boom' raised ZeroDivisionError on sample 3"):
        pipeline_profile({"ok": lambda x: x, "boom": lambda x: 1 / (x - 3)}, list(range(10)), warmup=0)
    with pytest.raises(ValueError, match="empty"):
        pipeline_profile({"ok": lambda x: x}, [])
    with pytest.raises(ValueError, match="stages"):
        pipeline_profile({}, [1])


# --- batch sweeps and the latency budget -----------------------------------------------------

def test_batch_sweep_throughput_rises_with_batch_on_cpu():
    m = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).eval()
    s = batch_sweep(m, lambda b: torch.randn(b, 64), [1, 64], min_time=0.1)
    one, many = s.rows
    assert (one["batch"], many["batch"]) == (1, 64)
    assert many["samples_per_s"] > 3 * one["samples_per_s"], s.rows
    assert many["p50"] > one["p50"] and one["p50"] <= one["p90"] <= one["p99"]
    assert s.best["batch"] == 64 and s.oom_batch is None and "env" in s.to_dict() and "<img" in s._repr_html_()


class OOMAbove(nn.Module):
    "Raises the allocator's out-of-memory error above a batch size, as a real GPU does."
    def __init__(self, limit, exc):
        super().__init__()
        self.limit, self.exc, self.lin = limit, exc, nn.Linear(8, 2)

    def forward(self, x):
        if x.shape[0] > self.limit:
            raise self.exc(f"CUDA out of memory. Tried to allocate {x.shape[0]} MiB")
        return self.lin(x)


def test_batch_sweep_rows_are_the_quantiles_of_their_own_samples():
    """Each row's figures recomputed with numpy from the raw samples it keeps (a "p50" at the 0.5th percentile fails)."""
    m = torch.nn.Linear(64, 64)
    s = batch_sweep(m, lambda b: torch.randn(b, 64), [1, 16], min_time=0.05)
    for row in s.rows:
        assert row["p50"] == row["median"], row
        x = np.asarray(row["samples"])
        assert x.size == row["n_samples"] >= 10
        assert row["median"] == np.median(x)
        assert row["p90"] == pytest.approx(np.percentile(x, 90), rel=1e-12)
        assert row["p99"] == pytest.approx(np.percentile(x, 99), rel=1e-12)
        assert row["samples_per_s"] == pytest.approx(row["batch"] / np.median(x), rel=1e-12)


@pytest.mark.parametrize("exc", [torch.cuda.OutOfMemoryError, MemoryError])
def test_batch_sweep_stops_cleanly_at_out_of_memory(exc):
    s = batch_sweep(OOMAbove(32, exc), lambda b: torch.randn(b, 8), [1, 8, 32, 64, 128], min_time=0.02)
    assert [r["batch"] for r in s.rows] == [1, 8, 32] and s.oom_batch == 64
    assert exc.__name__ in s.oom_error and "out of memory at batch 64" in repr(s)


def test_batch_sweep_bad_input():
    m = nn.Linear(8, 2)
    with pytest.raises(ValueError, match="empty"):
        batch_sweep(m, lambda b: torch.randn(b, 8), [])
    with pytest.raises(ValueError, match="batch_sizes must hold positive integers"):
        batch_sweep(m, lambda b: torch.randn(b, 8), [0, 4])
    with pytest.raises(BenchmarkError, match="batch size 4 failed"):
        batch_sweep(m, lambda b: torch.randn(b, 3), [4])


def test_batch_sweep_keeps_partial_results_on_ctrl_c():
    calls = []

    def make(b):
        calls.append(b)
        if b == 16:
            raise KeyboardInterrupt
        return torch.randn(b, 8)
    s = batch_sweep(nn.Linear(8, 2), make, [1, 4, 16, 64], min_time=0.02)
    assert s.interrupted and [r["batch"] for r in s.rows] == [1, 4] and "INTERRUPTED" in repr(s)


def test_largest_batch_within_binary_search():
    calls = []

    def lat(b):
        calls.append(b)
        return 1e-3 + 1e-4 * b
    assert largest_batch_within(lat, 5e-3, 1000) == 40
    assert len(calls) <= 2 * math.ceil(math.log2(1000)) + 2
    assert largest_batch_within(lambda b: math.inf if b > 100 else 0.0, 1.0, 10_000) == 100
    assert largest_batch_within(lat, 1e-4, 10) == 0
    with pytest.raises(ValueError, match="positive"):
        largest_batch_within(lat, 0.0, 10)


def test_max_batch_under_latency_on_a_real_model():
    m = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 256)).eval()
    ref = batch_sweep(m, lambda b: torch.randn(b, 256), [64], min_time=0.1).rows[0]["p90"]
    lim = max_batch_under_latency(m, lambda b: torch.randn(b, 256), latency_budget=ref, max_batch=1024, min_time=0.05)
    assert lim.latency <= lim.budget and lim.batch >= 1
    over = [b for b, v in lim.tried.items() if v > lim.budget]
    assert lim.batch == 1024 or (over and min(over) > lim.batch), lim.tried
    assert 8 <= lim.batch <= 512, f"the budget is batch 64's p90: {lim.tried}"  # generous: a noisy machine
    assert "BatchLimit(batch" in repr(lim) and "<table>" in lim._repr_html_()
    assert lim.samples_per_s == lim.batch / lim.tried[lim.batch] and lim.to_dict()["samples_per_s"] == lim.samples_per_s
    with pytest.raises(ValueError, match="positive"):
        max_batch_under_latency(m, lambda b: torch.randn(b, 256), latency_budget=-1)
    oom = max_batch_under_latency(OOMAbove(100, torch.cuda.OutOfMemoryError), lambda b: torch.randn(b, 8), 1.0,
                                  max_batch=1000, min_time=0.01)
    assert oom.batch == 100 and math.isinf(oom.tried[128])


# --- roofline --------------------------------------------------------------------------------

def test_roofline_classifies_compute_and_memory_bound_layers():
    peaks = measure_peaks("cpu", matmul_n=512, copy_bytes=2**25, min_time=0.1)
    assert peaks.flops_per_s > 1e8 and peaks.bytes_per_s > 1e8 and peaks.ridge == peaks.flops_per_s / peaks.bytes_per_s
    roof = roofline(nn.Sequential(nn.Linear(1024, 1024), nn.ReLU()), torch.randn(512, 1024), peaks=peaks, repeat=5)
    lin, relu = roof.rows
    assert lin["flops"] == linear_flops(512, 1024, 1024) and relu["flops"] == 0
    assert lin["bytes"] == (512 * 1024 * 2 + 1024 * 1024 + 1024) * 4 and relu["bytes"] == 512 * 1024 * 2 * 4
    assert (lin["bound"], relu["bound"]) == ("compute", "memory")
    assert 0 < lin["efficiency"] <= 1.5, "achieved FLOP/s cannot far exceed the measured peak"
    assert "compute-bound: 0 (Linear)" in repr(roof) and "<img" in roof._repr_html_()


def test_count_flops_per_module_keys():
    total, per = count_flops(nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2)), torch.randn(3, 4))
    assert total == per["Sequential"] == per["Sequential.0"] + per["Sequential.1"] == 2 * 3 * (16 + 8)


# --- GPU -------------------------------------------------------------------------------------

@pytest.mark.gpu
def test_cuda_layer_times_use_events_and_add_up():
    m = planted().cuda()
    p = profile_layers(m, torch.randn(512, 256, device="cuda"), repeat=10)
    assert p.timer == "cuda_events" and p.device.startswith("cuda") and p.top(1)[0][0] in ("2.lin", "2")
    assert p.per_layer.sum() <= p.total * 1.05


@pytest.mark.gpu
def test_cuda_peak_memory_rises_with_batch_size():
    m = nn.Sequential(nn.Linear(1024, 4096), nn.ReLU(), nn.Linear(4096, 1024)).cuda().eval()
    s = batch_sweep(m, lambda b: torch.randn(b, 1024, device="cuda"), [16, 1024], min_time=0.05)
    assert s.rows[1]["cuda_peak_bytes"] > s.rows[0]["cuda_peak_bytes"]
    with torch.inference_mode():
        mem = measure_memory(m, torch.randn(1024, 1024, device="cuda"))
    assert mem.cuda_peak is not None and mem.cuda_increase >= 1024 * 4096 * 4


@pytest.mark.gpu
def test_nvml_fields_present_on_gpu():
    pytest.importorskip("pynvml")
    with ResourceMonitor(interval=0.05) as mon:
        a = torch.randn(4096, 4096, device="cuda")
        for _ in range(20):
            a @ a
        torch.cuda.synchronize()
    r = mon.result
    assert r.gpu_reason is None and "gpu_util_percent" in r.series and "gpu_memory_bytes" in r.series
    e = energy_per_inference(lambda: a @ a, seconds=1.0, idle_seconds=0.5)
    assert e.joules_per_inference is not None or e.reason


def test_nvtx_annotations_run_without_cuda():
    from tinybench.scenarios import ArrayDataset, TorchSUT, run
    from tinybench.timing import nvtx_range
    with nvtx_range("outer"):
        p = profile_layers(planted(dim=16, k=1), torch.randn(2, 16), nvtx=True, repeat=2)
    assert p.names[0] == "0"
    r = run(TorchSUT(nn.Linear(4, 2), nvtx=True), ArrayDataset(torch.randn(8, 4)), scenario="SingleStream",
            min_duration=0.05, min_query_count=5)
    assert r.n_queries >= 5 and not r.n_errors


# ------------------------------------------------------------------ CPU out-of-memory, temporary files
def test_batch_sweep_recognises_a_real_cpu_out_of_memory_and_keeps_the_rows():
    "The CPU allocator's RuntimeError ('DefaultCPUAllocator: can't allocate memory') is an OOM, not a failure."
    def make_batch(b):
        if b >= 64:
            return torch.empty(2**50, dtype=torch.uint8)  # 1 PiB: the allocator refuses at once
        return torch.randn(b, 8)
    s = batch_sweep(nn.Linear(8, 2), make_batch, [1, 8, 64, 128], min_time=0.02)
    assert [r["batch"] for r in s.rows] == [1, 8] and s.oom_batch == 64
    assert "can't allocate memory" in s.oom_error


def test_profilers_leave_no_files_in_the_temporary_folder(tmp_path, monkeypatch):
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # tempfile's folder for this test only
    m = nn.Linear(16, 4)
    ops = profile_ops(m, torch.randn(8, 16), repeat=2)
    py = profile_python(lambda: sum(range(1000)), repeat=2)
    assert ops.trace_path is None and py.speedscope_path is None
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("tinybench")] == []  # torch keeps its own cache


def test_quantized_models_count_their_packed_weights_and_flops():
    """torch.ao's quantized modules keep their weights packed, outside parameters(), and run ops FlopCounterMode
    does not know: an int8 CNN once showed 40 parameters and lost its Linear FLOPs. Same model, same counts."""
    import warnings

    from tinybench.profiling import count_flops, linear_flops, model_stats
    torch.manual_seed(0)
    fp32 = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        int8 = torch.ao.quantization.quantize_dynamic(fp32, {nn.Linear}, dtype=torch.qint8)
        conv = nn.Sequential(torch.ao.quantization.QuantStub(), nn.Conv2d(3, 8, 3), torch.ao.quantization.DeQuantStub()).eval()
        conv.qconfig = torch.ao.quantization.get_default_qconfig("x86")
        qconv = torch.ao.quantization.prepare(conv)
        qconv(torch.randn(2, 3, 8, 8))
        qconv = torch.ao.quantization.convert(qconv)
    x = torch.randn(4, 1, 8, 8)
    a, b = model_stats(fp32, x), model_stats(int8, x)
    assert b.n_params == a.n_params == 64 * 32 + 32 + 32 * 10 + 10
    assert b.flops == a.flops == linear_flops(4, 64, 32) + linear_flops(4, 32, 10)
    weights = 64 * 32 + 32 * 10
    assert b.param_bytes == weights * 1 + (32 + 10) * 4, "int8 weights at 1 byte each, float biases at 4"
    assert count_flops(qconv, torch.randn(2, 3, 8, 8))[0] == count_flops(nn.Conv2d(3, 8, 3), torch.randn(2, 3, 8, 8))[0]


def test_batch_sweep_records_the_peak_rss_of_each_batch_size_on_cpu():
    """On CPU each size's row has the process's peak RSS while it ran (VmHWM, reset before it): a batch whose output
    alone is 64 MiB (4096 × 4096 float32) peaks at least 32 MiB above a batch of 1."""
    from tinybench.instrument import reset_hwm
    if not reset_hwm():
        pytest.skip("this system cannot reset the peak-RSS mark (/proc/self/clear_refs)")
    m = nn.Linear(1024, 4096)
    rows = batch_sweep(m, lambda b: torch.randn(b, 1024), [1, 4096], min_time=0.02).rows
    small, big = (r["rss_peak_bytes"] for r in rows)
    assert big - small >= 32 * 2**20, (small, big)
