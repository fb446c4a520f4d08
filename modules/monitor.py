# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Resource monitor: CPU, memory and GPU counters while work runs
#
# A support notebook (`tinybench.monitor`), taught in module 03 (sections 6 and 10) and used by
# the later modules: `ResourceMonitor` samples real counters (psutil for CPU and memory, NVML for
# the GPU) in a background thread; `energy_per_inference` turns NVML's energy counter into joules
# per inference. Where a counter is missing, the result says why; nothing is invented.

# %%
#| default_exp monitor

# %%
#| export
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from html import escape as html_escape
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import psutil

from tinybench.display import figure_img, format_bytes, format_seconds
from tinybench.checks import check_number
from tinybench.timing import BenchmarkError

# %%
#| export
_NVML_FIELDS = {
    "gpu_util_percent": lambda nv, h: nv.nvmlDeviceGetUtilizationRates(h).gpu,
    "gpu_mem_util_percent": lambda nv, h: nv.nvmlDeviceGetUtilizationRates(h).memory,
    "gpu_memory_bytes": lambda nv, h: nv.nvmlDeviceGetMemoryInfo(h).used,
    "gpu_temperature_c": lambda nv, h: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU),
    "gpu_sm_clock_mhz": lambda nv, h: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM),
    "gpu_power_w": lambda nv, h: nv.nvmlDeviceGetPowerUsage(h) / 1e3,
}


def nvml_device(index: int = 0) -> tuple[Any, Any, str | None]:
    "(pynvml module, device handle, None), or (None, None, the reason NVML is not usable)."
    try:
        import pynvml
    except ImportError:
        return None, None, "nvidia-ml-py is not installed (pip install nvidia-ml-py)"
    try:
        pynvml.nvmlInit()
        return pynvml, pynvml.nvmlDeviceGetHandleByIndex(index), None
    except pynvml.NVMLError as e:
        return None, None, f"NVML could not be loaded (no NVIDIA driver or GPU {index}?): {e}"

# %% [markdown]
# For sustained-load runs the monitor can also record the CPU's clock and temperature
# (`thermal=True`). Both come from psutil, and both are often missing: a virtual machine usually has
# no cpufreq driver and no temperature sensor. Without a cpufreq driver psutil's `cpu_freq()` falls
# back to the "cpu MHz" line of /proc/cpuinfo, which on a virtual machine is a fixed nominal figure:
# a flat line that would read as "never throttled". So the reader refuses it and says why.

# %%
#| export
_CPU_SENSORS = ("coretemp", "k10temp", "zenpower", "cpu_thermal", "cpu-thermal", "acpitz")


def cpu_clock_reader() -> tuple[Callable[[], float] | None, str | None]:
    "(function giving the CPU clock in MHz, mean over cores, from psutil.cpu_freq; None), or (None, why not)."
    if not hasattr(psutil, "cpu_freq"):
        return None, "psutil.cpu_freq() is not available on this platform"
    try:
        freq = psutil.cpu_freq()
    except (OSError, NotImplementedError) as e:
        return None, f"psutil.cpu_freq() failed: {e}"
    if freq is None:
        return None, "psutil.cpu_freq() returned nothing on this platform"
    if not freq.max:
        return None, ("no cpufreq driver: psutil.cpu_freq() would repeat the 'cpu MHz' of /proc/cpuinfo, a fixed "
                      "nominal figure on virtual machines, not the running clock")
    return (lambda: float(psutil.cpu_freq().current)), None


def cpu_temperature_reader() -> tuple[Callable[[], float] | None, str | None]:
    "(function giving the hottest CPU sensor in °C, from psutil.sensors_temperatures; None), or (None, why not)."
    if not hasattr(psutil, "sensors_temperatures"):
        return None, "psutil.sensors_temperatures() is not available on this platform"
    try:
        temps = psutil.sensors_temperatures()
    except OSError as e:
        return None, f"psutil.sensors_temperatures() failed: {e}"
    key = next((k for k in _CPU_SENSORS if temps.get(k)), None)
    if key is None:
        return None, (f"no CPU temperature sensor ({', '.join(_CPU_SENSORS)}) in psutil.sensors_temperatures() "
                      f"(found: {', '.join(temps) or 'none'})")
    return (lambda: float(max(x.current for x in psutil.sensors_temperatures()[key]))), None

# %%
_clock, _why = cpu_clock_reader()
print("CPU clock:", f"{_clock():.0f} MHz" if _clock else _why)
_temp, _why_t = cpu_temperature_reader()
print("CPU temperature:", f"{_temp():.0f} °C" if _temp else _why_t)
assert (_clock is None) != (_why is None) and (_temp is None) != (_why_t is None)

# %%
#| export
@dataclass(repr=False)
class MonitorResult:
    "Resource timeseries: `t` (seconds since start) and one array per series (units in the names)."
    interval: float
    t: np.ndarray
    series: dict[str, np.ndarray]
    gpu_reason: str | None = None
    unsupported: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, dict[str, float]]:
        "Per series: mean, min, max and last value."
        return {k: {"mean": float(np.mean(v)), "min": float(np.min(v)), "max": float(np.max(v)),
                    "last": float(v[-1])} for k, v in self.series.items() if v.size}

    def energy_joules(self) -> float | None:
        "Energy drawn by the GPU over the monitored span (trapezoid over power samples), joules; None without power."
        p = self.series.get("gpu_power_w")
        trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 has only trapz
        return None if p is None or p.size < 2 else float(trapezoid(p, self.t))

    def plot(self):
        "A matplotlib Figure: CPU %, RSS, and the GPU series when present, against time."
        from matplotlib.figure import Figure
        groups = [("CPU %", ["process_cpu_percent", "system_cpu_percent"]), ("RSS (MiB)", ["rss_bytes"]),
                  ("GPU %", ["gpu_util_percent", "gpu_mem_util_percent"]), ("GPU power (W)", ["gpu_power_w"])]
        groups = [(label, [k for k in keys if k in self.series]) for label, keys in groups]
        groups = [g for g in groups if g[1]]
        fig = Figure(figsize=(6, 1.6 * len(groups)), dpi=100)
        axes = fig.subplots(len(groups), 1, sharex=True, squeeze=False)[:, 0]
        for ax, (label, keys) in zip(axes, groups):
            for k in keys:
                v = self.series[k] / 2**20 if k == "rss_bytes" else self.series[k]
                ax.plot(self.t, v, label=k.replace("_percent", "").replace("_", " "))
            ax.set_ylabel(label)
            if len(keys) > 1:
                ax.legend(fontsize=7, loc="upper right")
        axes[-1].set_xlabel("seconds")
        fig.tight_layout()
        return fig

    def to_dict(self) -> dict[str, Any]:
        return {"interval": self.interval, "t": self.t.tolist(), "series": {k: v.tolist() for k, v in self.series.items()},
                "gpu_reason": self.gpu_reason, "unsupported": dict(self.unsupported), "summary": self.summary()}

    def __repr__(self) -> str:
        s = self.summary()
        parts = [f"{self.t.size} samples every {format_seconds(self.interval)}"]
        if "process_cpu_percent" in s:
            parts.append(f"process CPU mean {s['process_cpu_percent']['mean']:.0f}% (max {s['process_cpu_percent']['max']:.0f}%)")
        if "rss_bytes" in s:
            parts.append(f"RSS max {format_bytes(s['rss_bytes']['max'])}")
        if "gpu_util_percent" in s:
            parts.append(f"GPU util mean {s['gpu_util_percent']['mean']:.0f}%")
        if self.gpu_reason:
            parts.append(f"no GPU series: {self.gpu_reason}")
        return "MonitorResult(" + "; ".join(parts) + ")"

    def _repr_html_(self) -> str:
        img = ""
        if self.t.size > 1:
            img = figure_img(self.plot())
        rows = "".join(f"<tr><td>{k}</td><td>{v['mean']:,.1f}</td><td>{v['max']:,.1f}</td></tr>"
                       for k, v in self.summary().items())
        return (f"<div><b>{self!r}</b><table><tr><th>series</th><th>mean</th><th>max</th></tr>{rows}</table>"
                f"{img}</div>")

# %%
#| export
class ResourceMonitor:
    """Samples process/system CPU %, RSS and (with NVML) GPU metrics every `interval` seconds in a thread.

    Use as a context manager; the timeseries is in `.result` (a `MonitorResult`) after the block. Each CPU %
    sample is quantized by the kernel's 10 ms accounting tick: ±10 points at interval=0.1, ±50 at 0.02.
    `thermal=True` adds `cpu_clock_mhz` and `cpu_temperature_c` where psutil can read them (else the reason is in
    `.result.unsupported`); with NVML, `gpu_sm_clock_mhz` and `gpu_temperature_c` are always sampled."""
    def __init__(self, interval: float = 0.1, gpu: bool = True, device_index: int = 0, thermal: bool = False):
        interval = check_number(interval, "interval", positive=True, hint="seconds between samples, e.g. 0.1")
        device_index = check_number(device_index, "device_index", integer=True, nonnegative=True)
        self.interval, self.gpu, self.device_index, self.thermal = interval, gpu, device_index, bool(thermal)
        self.result: MonitorResult | None = None
        self._stop = threading.Event()

    def __repr__(self) -> str:
        return f"ResourceMonitor(interval={self.interval}, gpu={self.gpu})"

    def __enter__(self) -> "ResourceMonitor":
        self._proc = psutil.Process()
        self._proc.cpu_percent(None)  # prime: the first reading covers the time since this call
        psutil.cpu_percent(None)
        self._nv, self._handle, reason = nvml_device(self.device_index) if self.gpu else (None, None, "gpu=False")
        self._gpu_reason, self._unsupported, self._cpu_readers = reason, {}, {}
        if self.thermal:
            for key, make in (("cpu_clock_mhz", cpu_clock_reader), ("cpu_temperature_c", cpu_temperature_reader)):
                read, why = make()
                if read is None:
                    self._unsupported[key] = why
                else:
                    self._cpu_readers[key] = read
        self._t, self._rows = [], []
        self._t0 = time.perf_counter()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True, name="tinybench-monitor")
        self._thread.start()
        return self

    def _sample(self) -> None:
        row = {"process_cpu_percent": self._proc.cpu_percent(None), "system_cpu_percent": psutil.cpu_percent(None),
               "rss_bytes": self._proc.memory_info().rss}
        for key, read in list(self._cpu_readers.items()):
            try:
                row[key] = read()
            except (OSError, KeyError, ValueError) as e:  # a sensor that vanished: absent from now on, with the reason
                self._unsupported[key] = f"reading failed: {e}"
                del self._cpu_readers[key]
        if self._nv is not None:
            for key, read in _NVML_FIELDS.items():
                if key in self._unsupported:
                    continue
                try:
                    row[key] = read(self._nv, self._handle)
                except self._nv.NVMLError as e:  # e.g. power not supported on this board: absent, with the reason
                    self._unsupported[key] = str(e)
        self._t.append(time.perf_counter() - self._t0)
        self._rows.append(row)

    def _run(self) -> None:
        next_tick = time.perf_counter() + self.interval
        while not self._stop.wait(max(0.0, next_tick - time.perf_counter())):
            self._sample()
            # a late wake-up (the thread was descheduled) skips the missed ticks: catching up would take samples
            # microseconds apart, whose CPU % is rounding (see __exit__)
            next_tick = max(next_tick + self.interval, time.perf_counter() + self.interval / 2)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        # the final state, unless a sample was just taken: CPU % over a sliver of time is mostly rounding
        # (psutil's CPU times tick every 10 ms), so it would read as 0% or 1,600%
        if not self._t or time.perf_counter() - self._t0 - self._t[-1] >= self.interval / 2:
            self._sample()
        keys = [k for k in self._rows[-1] if all(k in r for r in self._rows)]
        series = {k: np.array([r[k] for r in self._rows], dtype=float) for k in keys}
        self.result = MonitorResult(self.interval, np.array(self._t), series, self._gpu_reason, dict(self._unsupported))

# %%
#| export
@dataclass(repr=False)
class EnergyResult:
    "GPU energy per inference (joules, idle baseline subtracted) with a 95% t-interval over blocks, or why none."
    joules_per_inference: float | None
    ci: tuple[float, float] | None
    idle_watts: float | None
    busy_watts: float | None
    n_inferences: int
    seconds: float
    method: str | None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def __repr__(self) -> str:
        if self.joules_per_inference is None:
            return f"EnergyResult(no figure: {self.reason})"
        lo, hi = self.ci
        return (f"EnergyResult({self.joules_per_inference * 1e3:,.3f} mJ per inference [{lo * 1e3:,.3f}, {hi * 1e3:,.3f}] "
                f"over {self.n_inferences:,} inferences; idle {self.idle_watts:.1f} W, busy {self.busy_watts:.1f} W; "
                f"{self.method})")

    def _repr_html_(self) -> str:
        return f"<pre>{self!r}</pre>"


def _energy_reader(nv: Any, handle: Any) -> tuple[Callable[[], float] | None, str]:
    "A function giving cumulative energy in joules (NVML counter), or None if unsupported, and the method name."
    try:
        nv.nvmlDeviceGetTotalEnergyConsumption(handle)
        return (lambda: nv.nvmlDeviceGetTotalEnergyConsumption(handle) / 1e3), "NVML energy counter"
    except nv.NVMLError:
        return None, "NVML power samples (trapezoid)"


def _joules_per_block(energy: np.ndarray, seconds: np.ndarray, counts: np.ndarray, idle_watts: float) -> np.ndarray:
    "Per block: (energy − idle_watts × seconds) / inferences, joules."
    return (energy - idle_watts * seconds) / counts


def energy_per_inference(fn: Callable[..., Any], *args: Any, device_index: int = 0, seconds: float = 5.0,
                         idle_seconds: float = 2.0, blocks: int = 5, interval: float = 0.02) -> EnergyResult:
    "Joules per call of `fn(*args)` on GPU `device_index` from NVML, idle baseline subtracted, with a 95% interval."
    import torch
    from scipy import stats as st
    blocks = check_number(blocks, "blocks", integer=True, lo=2, hint="blocks for the interval")
    seconds = check_number(seconds, "seconds", positive=True, hint="seconds of load per block")
    idle_seconds = check_number(idle_seconds, "idle_seconds", positive=True, hint="seconds of idle baseline")
    nv, handle, reason = nvml_device(device_index)
    if nv is None or not torch.cuda.is_available():
        return EnergyResult(None, None, None, None, 0, 0.0, None, reason or "no CUDA device")
    read_energy, method = _energy_reader(nv, handle)
    sync = torch.cuda.synchronize

    def energy_over(run: Callable[[], int], span: float) -> tuple[float, float, int]:
        "Energy (J), seconds and calls of `run` repeated for `span` seconds."
        with ResourceMonitor(interval=interval, device_index=device_index) as mon:
            e0, t0, calls = read_energy() if read_energy else 0.0, time.perf_counter(), 0
            while time.perf_counter() - t0 < span:
                calls += run()
            sync()
            e1, t1 = read_energy() if read_energy else 0.0, time.perf_counter()
        if read_energy:
            return e1 - e0, t1 - t0, calls
        joules = mon.result.energy_joules()
        if joules is None:
            raise BenchmarkError(f"GPU {device_index} reports neither an energy counter nor power: no energy figure")
        return joules, t1 - t0, calls

    sync()
    idle_j, idle_s, _ = energy_over(lambda: (time.sleep(interval), 0)[1], idle_seconds)
    idle_w = idle_j / idle_s

    def busy() -> int:
        fn(*args)
        return 1

    with torch.inference_mode():
        fn(*args)  # warm-up
        res = [energy_over(busy, seconds / blocks) for _ in range(blocks)]
    e, s, c = (np.array(v, dtype=float) for v in zip(*res))
    per = _joules_per_block(e, s, c, idle_w)
    mean, half = float(per.mean()), float(st.t.ppf(0.975, blocks - 1) * per.std(ddof=1) / math.sqrt(blocks))
    return EnergyResult(mean, (mean - half, mean + half), idle_w, float(e.sum() / s.sum()), int(c.sum()),
                        float(s.sum()), method)


# %% [markdown]
# On a machine without NVML the GPU series are absent and the reason is recorded:

# %%
with ResourceMonitor(interval=0.02) as mon:
    time.sleep(0.1)
print(mon.result)
assert "process_cpu_percent" in mon.result.series and len(mon.result.t) >= 3
print(energy_per_inference(lambda: None, seconds=0.1, idle_seconds=0.1))

# %% [markdown]
# ## What a block of work used: `ResourceSummary`
#
# A benchmark that reports only time hides what the time cost: a model that is 10% faster while
# keeping two cores busy instead of one is not an improvement on a shared server. `ResourceSummary`
# condenses one or more monitored windows into a few figures, and keeps the samples it came from
# so that every figure can be recomputed:
#
# - mean CPU %, weighted by the wall time each sample covers, which is the process's CPU time over
#   the monitored wall time × 100 (100 = one core kept busy; 190 = 1.9 cores);
# - 95th percentile of the CPU % samples (unweighted, linear interpolation);
# - peak RSS over the samples (a sample every `interval`, so a shorter spike can be missed: module
#   03's `MemoryProfile` reads the kernel's own high-water mark when that matters);
# - with NVML, the GPU's mean utilisation and power (time-weighted) and its peak memory in use;
#   without it these are None, with the reason, and shown as "n/a".

# %%
#| export
def _weighted_mean(x: Sequence[float], w: Sequence[float]) -> float:
    "Mean of `x` weighted by `w` (falls back to the plain mean when the weights sum to 0)."
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    return float(np.average(x, weights=w)) if w.sum() > 0 else float(x.mean())


@dataclass(repr=False)
class ResourceSummary:
    """What the process used during monitored windows, from `ResourceMonitor` samples that it keeps.

    Per sample i: `sample_seconds[i]`, the wall time it covers (s); `cpu_percent[i]`, the process's CPU time over
    that span / the span × 100 (100 = one core busy); `rss_bytes[i]`; with NVML `gpu_util_percent[i]`,
    `gpu_mem_bytes[i]` (memory in use on the device) and `gpu_power_watts[i]`, else None with `gpu_reason`.
    `windows`: how many monitored blocks were pooled. The derived figures are properties computed from these."""
    interval_s: float
    sample_seconds: list[float]
    cpu_percent: list[float]
    rss_bytes: list[int]
    gpu_util_percent: list[float] | None = None
    gpu_mem_bytes: list[float] | None = None
    gpu_power_watts: list[float] | None = None
    gpu_reason: str | None = None
    windows: int = 1

    @property
    def n_samples(self) -> int:
        return len(self.cpu_percent)

    @property
    def cpu_percent_mean(self) -> float:
        "Mean process CPU %, weighted by `sample_seconds` (= CPU seconds / wall seconds × 100)."
        return _weighted_mean(self.cpu_percent, self.sample_seconds)

    @property
    def cpu_percent_p95(self) -> float:
        "95th percentile of the CPU % samples (unweighted, numpy's linear interpolation)."
        return float(np.percentile(self.cpu_percent, 95))

    @property
    def cpu_cores_mean(self) -> float:
        "Cores kept busy on average: `cpu_percent_mean / 100`."
        return self.cpu_percent_mean / 100

    @property
    def rss_bytes_peak(self) -> int:
        "Largest RSS sample, bytes."
        return int(max(self.rss_bytes))

    @property
    def gpu_util_percent_mean(self) -> float | None:
        "GPU utilisation %, time-weighted mean; None without NVML."
        return None if not self.gpu_util_percent else _weighted_mean(self.gpu_util_percent, self.sample_seconds)

    @property
    def gpu_mem_bytes_peak(self) -> int | None:
        "Largest sample of device memory in use (all processes, as NVML reports it), bytes; None without NVML."
        return None if not self.gpu_mem_bytes else int(max(self.gpu_mem_bytes))

    @property
    def gpu_power_watts_mean(self) -> float | None:
        "Board power, time-weighted mean, watts; None without NVML power readings."
        return None if not self.gpu_power_watts else _weighted_mean(self.gpu_power_watts, self.sample_seconds)

    @classmethod
    def from_monitor(cls, results: Sequence[MonitorResult]) -> "ResourceSummary":
        "Pool the samples of one or more `MonitorResult`s (e.g. one per timed block) into one summary."
        results = list(results)
        if not results or not all(isinstance(r, MonitorResult) for r in results):
            raise ValueError(f"results must be a non-empty list of MonitorResult, got {results!r:.80}")
        if not all(r.t.size for r in results):
            raise ValueError("a MonitorResult without samples: nothing to summarise")
        # a sample covers the time since the previous one (the first: since the monitor started)
        secs = np.concatenate([np.diff(np.concatenate([[0.0], r.t])) for r in results])

        def pooled(key: str) -> list[float] | None:
            if not all(key in r.series for r in results):
                return None
            return np.concatenate([r.series[key] for r in results]).tolist()
        reasons = {r.gpu_reason for r in results if r.gpu_reason}
        reasons |= {f"{k}: {v}" for r in results for k, v in r.unsupported.items() if k.startswith("gpu_")}
        return cls(results[0].interval, secs.tolist(), pooled("process_cpu_percent"),
                   [int(x) for x in pooled("rss_bytes")], pooled("gpu_util_percent"), pooled("gpu_memory_bytes"),
                   pooled("gpu_power_w"), "; ".join(sorted(reasons)) or None, len(results))

    def summary(self) -> dict[str, Any]:
        "The derived figures (units in the names); GPU ones None without NVML."
        return {"n_samples": self.n_samples, "windows": self.windows, "interval_s": self.interval_s,
                "cpu_percent_mean": self.cpu_percent_mean, "cpu_percent_p95": self.cpu_percent_p95,
                "rss_bytes_peak": self.rss_bytes_peak, "gpu_util_percent_mean": self.gpu_util_percent_mean,
                "gpu_mem_bytes_peak": self.gpu_mem_bytes_peak, "gpu_power_watts_mean": self.gpu_power_watts_mean}

    def to_dict(self) -> dict[str, Any]:
        "The samples and, under `summary`, the figures derived from them (recomputed, not read, by `from_dict`)."
        return {"interval_s": self.interval_s, "sample_seconds": list(self.sample_seconds),
                "cpu_percent": list(self.cpu_percent), "rss_bytes": list(self.rss_bytes),
                "gpu_util_percent": self.gpu_util_percent, "gpu_mem_bytes": self.gpu_mem_bytes,
                "gpu_power_watts": self.gpu_power_watts, "gpu_reason": self.gpu_reason, "windows": self.windows,
                "summary": self.summary()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ResourceSummary":
        return cls(float(d["interval_s"]), list(d["sample_seconds"]), list(d["cpu_percent"]),
                   [int(x) for x in d["rss_bytes"]], d.get("gpu_util_percent"), d.get("gpu_mem_bytes"),
                   d.get("gpu_power_watts"), d.get("gpu_reason"), int(d.get("windows", 1)))

    def __repr__(self) -> str:
        gpu = (f"; GPU {self.gpu_util_percent_mean:.0f}%" if self.gpu_util_percent_mean is not None
               else "; GPU n/a")
        if self.gpu_power_watts_mean is not None:
            gpu += f", {self.gpu_power_watts_mean:.0f} W"
        return (f"ResourceSummary(CPU {self.cpu_percent_mean:.0f}% mean, {self.cpu_percent_p95:.0f}% p95; peak RSS "
                f"{format_bytes(self.rss_bytes_peak)}{gpu}; {self.n_samples} samples every "
                f"{format_seconds(self.interval_s)} over {self.windows} window{'s' if self.windows != 1 else ''})")

    def _repr_html_(self) -> str:
        return f"<pre>{html_escape(repr(self))}</pre>"

# %% [markdown]
# Two monitored windows of different work, pooled: the time-weighted mean CPU % is the CPU time
# over the wall time, which we can check against the process's own clock.

# %%
_c0, _w0 = time.process_time(), time.perf_counter()
with ResourceMonitor(interval=0.05, gpu=False) as _busy:
    _end = time.perf_counter() + 0.3
    while time.perf_counter() < _end:
        pass
with ResourceMonitor(interval=0.05, gpu=False) as _idle:
    time.sleep(0.3)
_rs = ResourceSummary.from_monitor([_busy.result, _idle.result])
_expected = (time.process_time() - _c0) / (time.perf_counter() - _w0) * 100
print(_rs, f"(process clock: {_expected:.0f}%)")
assert _rs.windows == 2 and _rs.rss_bytes_peak > 0 and ResourceSummary.from_dict(_rs.to_dict()).summary() == _rs.summary()
assert _rs.gpu_util_percent is None and _rs.gpu_reason

# %% [markdown]
# ## Thermal throttling in a sustained run
#
# A chip that gets hot lowers its clock, and a model on a slower clock takes longer: in a soak
# test the latency then drifts up for a reason that has nothing to do with the code. To blame the
# clock, both must move together. `detect_throttling` takes, per time window, the median clock
# (MHz) and the median latency (seconds), and applies one rule:
#
# - **not assessed** when there is no clock series, or fewer than `min_windows` windows hold both
#   a clock and a latency median (the reason is stated; absence is never reported as "no throttling");
# - **no clock drop** when every window's clock stays within `min_clock_drop` (5%) of the first
#   window's: nothing to attribute;
# - **throttling** when the clock fell by more than `min_clock_drop` below the first window's, the
#   Spearman correlation between the windows' clocks and latencies (`scipy.stats.spearmanr`) is
#   ≤ `max_rho` (−0.5), and the windows below the threshold have a higher median latency than the
#   windows at or above it (`latency_rise` > 0);
# - **clock drop, latency unaffected** when the clock fell but the latency did not follow.

# %%
#| export
THROTTLE_STATUSES = ("throttling", "clock drop, latency unaffected", "no clock drop", "not assessed")


@dataclass(repr=False)
class ThrottleVerdict:
    """The throttling rule's outcome (`status`, one of THROTTLE_STATUSES) with the sentence that explains it.

    `clock_drop`: 1 − lowest window clock / first window clock; `spearman_rho`: rank correlation of the windows'
    clock and latency medians (None when either is constant); `latency_rise`: median latency of the windows below
    the clock threshold / median latency of the others − 1; `n_windows`: windows that held both series."""
    status: str
    reason: str
    clock_drop: float | None = None
    spearman_rho: float | None = None
    latency_rise: float | None = None
    n_windows: int = 0
    min_clock_drop: float = 0.05
    max_rho: float = -0.5

    @property
    def throttled(self) -> bool | None:
        "True for throttling, False when assessed without it, None when not assessed."
        return None if self.status == "not assessed" else self.status == "throttling"

    def to_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__}, "throttled": self.throttled}

    def __repr__(self) -> str:
        return f"ThrottleVerdict({self.status}: {self.reason})"

    def _repr_html_(self) -> str:
        return f"<pre>{html_escape(repr(self))}</pre>"

# %%
#| export
def detect_throttling(window_clock_mhz: Sequence[float] | None, window_latency_s: Sequence[float],
                      min_clock_drop: float = 0.05, max_rho: float = -0.5, min_windows: int = 5) -> ThrottleVerdict:
    """Apply the throttling rule (above) to per-window clock medians (MHz; None or all-NaN: no clock data) and
    per-window latency medians (seconds); windows where either is NaN are left out."""
    min_clock_drop = check_number(min_clock_drop, "min_clock_drop", positive=True, hi=1,
                                  hint="a fraction, e.g. 0.05 for a 5% clock drop")
    max_rho = check_number(max_rho, "max_rho", lo=-1, hi=0, hint="a rank correlation, e.g. -0.5")
    min_windows = check_number(min_windows, "min_windows", integer=True, lo=3)
    rule = {"min_clock_drop": min_clock_drop, "max_rho": max_rho}
    lat = np.asarray(window_latency_s, dtype=float)
    if window_clock_mhz is None or not np.isfinite(np.asarray(window_clock_mhz, dtype=float)).any():
        return ThrottleVerdict("not assessed", "no clock data: throttling not assessed", **rule)
    clock = np.asarray(window_clock_mhz, dtype=float)
    if clock.shape != lat.shape:
        raise ValueError(f"window_clock_mhz has {clock.size} windows and window_latency_s {lat.size}: pass one value "
                         "per window to both")
    both = np.isfinite(clock) & np.isfinite(lat) & (clock > 0)
    c, lt, n = clock[both], lat[both], int(both.sum())
    if n < min_windows:
        return ThrottleVerdict("not assessed", f"only {n} windows hold both a clock and a latency median (the rule "
                               f"needs {min_windows}): throttling not assessed", n_windows=n, **rule)
    drop = float(1 - c.min() / c[0])
    rho = None
    if np.ptp(c) > 0 and np.ptp(lt) > 0:
        from scipy.stats import spearmanr
        rho = float(spearmanr(c, lt).statistic)
    slow = c < c[0] * (1 - min_clock_drop)
    if not slow.any():
        return ThrottleVerdict("no clock drop", f"the clock stayed within {min_clock_drop:.0%} of its first window "
                               f"({c[0]:,.0f} MHz; lowest {c.min():,.0f} MHz) over {n} windows: no throttling",
                               drop, rho, None, n, **rule)
    rise = float(np.median(lt[slow]) / np.median(lt[~slow]) - 1)
    fell = (f"the clock fell {drop:.0%} below its first window ({c[0]:,.0f} → {c.min():,.0f} MHz) and the "
            f"{int(slow.sum())} windows below {c[0] * (1 - min_clock_drop):,.0f} MHz had a median latency {rise:+.0%} "
            f"against the others; Spearman ρ(clock, latency) = " + ("n/a (constant)" if rho is None else f"{rho:.2f}"))
    if rho is not None and rho <= max_rho and rise > 0:
        return ThrottleVerdict("throttling", f"{fell} ≤ {max_rho:g}: latency followed the clock", drop, rho, rise, n,
                               **rule)
    return ThrottleVerdict("clock drop, latency unaffected", f"{fell}: latency did not follow the clock", drop, rho,
                           rise, n, **rule)

# %% [markdown]
# Synthetic series make the rule's four outcomes visible: a clock that falls while latency
# rises, a clock that falls with a flat latency, a steady clock, and no clock at all.

# %%
_rng = np.random.default_rng(0)
_hot_clock = np.r_[np.full(10, 3000.0), np.linspace(3000, 2400, 10)] + _rng.normal(0, 5, 20)
_hot_latency = 1e-3 * 3000 / _hot_clock * (1 + _rng.normal(0, 0.01, 20))
_flat_latency = 1e-3 * (1 + _rng.normal(0, 0.01, 20))
for _v in (detect_throttling(_hot_clock, _hot_latency), detect_throttling(_hot_clock, _flat_latency),
           detect_throttling(np.full(20, 3000.0), _hot_latency), detect_throttling(None, _hot_latency)):
    print(_v)
assert [v.status for v in (detect_throttling(_hot_clock, _hot_latency), detect_throttling(None, _hot_latency))] == \
    ["throttling", "not assessed"]

# %% [markdown]
# `thermal_report` turns a `ResourceMonitor` result into the per-window medians the rule needs
# (windows given by their edges in seconds since the monitor started) and keeps the series. The
# GPU's SM clock is used when NVML gives one and the GPU did work during the run (its mean
# utilisation above 0%: an idle GPU lowers its clock, which says nothing about CPU work), else the
# CPU clock; the temperature is recorded beside it (informative: the rule judges the clock, which
# is what the work feels).

# %%
#| export
@dataclass(repr=False)
class ThermalReport:
    """Clock (MHz) and temperature (°C) during a run, per sample (`t`: seconds since the monitor started) and per
    window (medians), with the throttling `verdict`. `clock_source`/`temperature_source`: the monitor series used
    (None when absent; `missing` then says why)."""
    t: np.ndarray
    clock_mhz: np.ndarray | None
    temperature_c: np.ndarray | None
    clock_source: str | None
    temperature_source: str | None
    window_clock_mhz: np.ndarray | None
    window_temperature_c: np.ndarray | None
    verdict: ThrottleVerdict
    missing: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def lst(a: np.ndarray | None) -> list | None:
            return None if a is None else a.tolist()
        return {"t": self.t.tolist(), "clock_mhz": lst(self.clock_mhz), "temperature_c": lst(self.temperature_c),
                "clock_source": self.clock_source, "temperature_source": self.temperature_source,
                "window_clock_mhz": lst(self.window_clock_mhz), "window_temperature_c": lst(self.window_temperature_c),
                "verdict": self.verdict.to_dict(), "missing": dict(self.missing)}

    @property
    def headline(self) -> str:
        "One phrase: the verdict, with the clock and temperature range when there are any."
        if self.clock_mhz is None:
            return "no clock data: throttling not assessed"
        temp = (f", {np.nanmin(self.temperature_c):.0f}–{np.nanmax(self.temperature_c):.0f} °C"
                if self.temperature_c is not None else "")
        said = {"throttling": "throttling: latency followed the clock", "not assessed": "throttling not assessed",
                "no clock drop": "no throttling: no clock drop",
                "clock drop, latency unaffected": "no throttling effect: clock drop, latency unaffected"}
        return (f"{said[self.verdict.status]} (clock {np.nanmin(self.clock_mhz):,.0f}–{np.nanmax(self.clock_mhz):,.0f} "
                f"MHz{temp})")

    def __repr__(self) -> str:
        return f"ThermalReport({self.verdict.reason if self.clock_mhz is None else self.headline + '; ' + self.verdict.reason})"

    def _repr_html_(self) -> str:
        return f"<pre>{html_escape(repr(self))}</pre>"


def _window_medians(t: np.ndarray, x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    "Median of `x` over the samples with edges[i] <= t < edges[i+1] (the last window includes its end); NaN if none."
    out = np.full(len(edges) - 1, np.nan)
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        inside = (t >= lo) & ((t < hi) if i < len(edges) - 2 else (t <= hi))
        if inside.any():
            out[i] = np.median(x[inside])
    return out


def thermal_report(monitor: MonitorResult, edges: Sequence[float], window_latency_s: Sequence[float],
                   **rule: Any) -> ThermalReport:
    """Per-window clock and temperature medians of `monitor` over the windows `edges` (seconds since the monitor
    started, len = windows + 1), and `detect_throttling` against `window_latency_s` (`rule`: its thresholds)."""
    if not isinstance(monitor, MonitorResult):
        raise TypeError(f"monitor must be a MonitorResult (ResourceMonitor(...).result), got {type(monitor).__name__}")
    edges = np.asarray(edges, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"edges must be increasing window boundaries in seconds (at least 2), got {edges!r:.80}")
    missing = {}
    gpu_busy = "gpu_util_percent" in monitor.series and float(np.mean(monitor.series["gpu_util_percent"])) > 0
    if not gpu_busy:
        for k in ("gpu_sm_clock_mhz", "gpu_temperature_c"):
            if k in monitor.series:
                missing[k] = "the GPU was idle during the run (mean utilisation 0%): its clock is not the work's"

    def pick(*keys: str) -> str | None:
        found = next((k for k in keys if k in monitor.series and k not in missing), None)
        if found is None:
            for k in keys:
                missing[k] = missing.get(k) or monitor.unsupported.get(k) or (monitor.gpu_reason if k.startswith("gpu_") else None) \
                    or "not sampled (ResourceMonitor(thermal=True) samples the CPU series)"
        return found
    clock_key = pick("gpu_sm_clock_mhz", "cpu_clock_mhz")
    temp_key = pick("gpu_temperature_c", "cpu_temperature_c")
    clock = monitor.series[clock_key] if clock_key else None
    temp = monitor.series[temp_key] if temp_key else None
    w_clock = _window_medians(monitor.t, clock, edges) if clock is not None else None
    w_temp = _window_medians(monitor.t, temp, edges) if temp is not None else None
    verdict = detect_throttling(w_clock, window_latency_s, **rule)
    if clock is None:
        verdict.reason += " (" + "; ".join(f"{k}: {v}" for k, v in missing.items() if "clock" in k) + ")"
    return ThermalReport(monitor.t, clock, temp, clock_key, temp_key, w_clock, w_temp, verdict, missing)

# %% [markdown]
# On this machine, a second of sampling: where there is no clock series the report says so and
# does not assess throttling.

# %%
with ResourceMonitor(interval=0.05, thermal=True) as _mon:
    time.sleep(0.5)
_tr = thermal_report(_mon.result, np.linspace(0, 0.5, 6), np.full(5, 1e-3))
print(_tr)
assert (_tr.clock_mhz is None) == (_tr.verdict.status == "not assessed") or _tr.verdict.n_windows < 5
