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
from typing import Any, Callable

import numpy as np
import psutil

from tinybench.display import figure_img, format_bytes, format_seconds
from tinybench.timing import BenchmarkError, check_number

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
    sample is quantized by the kernel's 10 ms accounting tick: ±10 points at interval=0.1, ±50 at 0.02."""
    def __init__(self, interval: float = 0.1, gpu: bool = True, device_index: int = 0):
        interval = check_number(interval, "interval", positive=True, hint="seconds between samples, e.g. 0.1")
        device_index = check_number(device_index, "device_index", integer=True, nonnegative=True)
        self.interval, self.gpu, self.device_index = interval, gpu, device_index
        self.result: MonitorResult | None = None
        self._stop = threading.Event()

    def __repr__(self) -> str:
        return f"ResourceMonitor(interval={self.interval}, gpu={self.gpu})"

    def __enter__(self) -> "ResourceMonitor":
        self._proc = psutil.Process()
        self._proc.cpu_percent(None)  # prime: the first reading covers the time since this call
        psutil.cpu_percent(None)
        self._nv, self._handle, reason = nvml_device(self.device_index) if self.gpu else (None, None, "gpu=False")
        self._gpu_reason, self._unsupported = reason, {}
        self._t, self._rows = [], []
        self._t0 = time.perf_counter()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True, name="tinybench-monitor")
        self._thread.start()
        return self

    def _sample(self) -> None:
        row = {"process_cpu_percent": self._proc.cpu_percent(None), "system_cpu_percent": psutil.cpu_percent(None),
               "rss_bytes": self._proc.memory_info().rss}
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
