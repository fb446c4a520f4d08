# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Environment: the facts that change timings
#
# A support notebook (`tinybench.env`), used by every result in the course: module 00 (§9) puts these
# facts into each `Measurement`, and the suite and the result store record them with every run. A timing
# without its environment cannot be compared with another one: a different CPU model, thread count,
# library version or commit explains many "regressions".

# %%
#| default_exp env

# %%
#| export
from __future__ import annotations

import os
import platform
import sys
import time
from typing import Any

import numpy as np

# %% [markdown]
# `environment()` reads what cannot change within a process once (versions, CPU model, memory,
# commit) and what can change on every call (torch's thread settings, the GPU). `git_commit()` is
# the commit of the checkout the benchmark runs in, so a stored result can be traced to its code.

# %%
#| export
def _cpu_model() -> str | None:
    "The CPU's model name (from /proc/cpuinfo on Linux, else platform.processor())."
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def git_commit(path: str | os.PathLike = ".") -> str | None:
    "The git commit (HEAD) of the checkout at `path`, or None outside a git checkout (or without git)."
    import subprocess
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


_STATIC_ENV: dict[str, Any] = {}


def environment() -> dict[str, Any]:
    """Facts that change timings: Python, numpy, torch and tinybench versions, platform, CPU model, cores and
    memory (bytes), thread settings, GPU, driver and CUDA version if any, and the git commit when available."""
    if not _STATIC_ENV:  # what cannot change within a process is read once
        try:
            from importlib.metadata import PackageNotFoundError, version
            tb_version = version("tinybench")
        except PackageNotFoundError:
            tb_version = None
        try:
            import psutil
            memory = psutil.virtual_memory().total
        except ImportError:
            memory = None
        _STATIC_ENV.update({
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "machine": platform.machine(),
            "processor": platform.processor() or None,
            "cpu_model": _cpu_model(),
            "cpu_count": os.cpu_count(),
            "memory_bytes": memory,
            "numpy": np.__version__,
            "tinybench": tb_version,
            "timer": "time.perf_counter (" + time.get_clock_info("perf_counter").implementation + ")",
            "git_commit": git_commit(),
        })
    env = dict(_STATIC_ENV)
    torch = sys.modules.get("torch")
    if torch is not None:
        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
        env["torch_interop_threads"] = torch.get_num_interop_threads()
        if torch.cuda.is_available():
            env["cuda"] = torch.version.cuda
            env["gpu"] = torch.cuda.get_device_name()
            env["gpu_count"] = torch.cuda.device_count()
            env["gpu_driver"] = _gpu_driver()
    return env


def _gpu_driver() -> str | None:
    "The NVIDIA driver version from NVML, or None without it."
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        v = pynvml.nvmlSystemGetDriverVersion()
    except pynvml.NVMLError:
        return None
    return v.decode() if isinstance(v, bytes) else v

# %%
env = environment()
assert env["python"] == platform.python_version() and env["cpu_count"] == os.cpu_count()
assert env["timer"].startswith("time.perf_counter")
{k: env[k] for k in ("python", "cpu_model", "cpu_count", "numpy", "git_commit")}
