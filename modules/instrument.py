# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Instruments: clocks, hooks and probes for profiling
#
# A support notebook (`tinybench.instrument`), taught in module 03 (sections 2, 4, 5, 8 and 9):
# the low-level instruments that `tinybench.profiling` reads. A host clock and a CUDA-event clock
# with one interface; forward hooks that record when every module starts and ends, with the call
# nesting, from which self times follow; the bytes a layer's tensors take; the kernel's peak-RSS
# mark and a sampling fallback; a pyinstrument sampler for flame graphs (HTML, speedscope);
# and the recognition of out-of-memory errors. Each piece is followed by a check.

# %%
#| default_exp instrument

# %%
#| export
from __future__ import annotations

import gc
import re
import sys
import threading
import time
from typing import Any, Callable

import psutil
import torch
from torch import nn

from tinybench.timing import BenchmarkError, resolve_device

# %% [markdown]
# ## 1. Inputs, devices and errors
#
# A profiled call takes one tensor or a tuple of arguments; `as_args` makes both a tuple. When the
# model raises, `forward_error` says what was being done, to which model and on which input
# shapes, and the original error stays attached as the cause.

# %%
#| export
def as_args(inputs: Any) -> tuple:
    "The positional arguments of a call `model(*args)`: `inputs` itself if it is a tuple, else `(inputs,)`."
    return inputs if isinstance(inputs, tuple) else (inputs,)


def forward_error(model: Any, inputs: Any, e: BaseException, what: str) -> BenchmarkError:
    "A BenchmarkError for `model` raising `e` on `inputs` while doing `what`: the model's type, input shapes, cause."
    shapes = [tuple(a.shape) if hasattr(a, "shape") else type(a).__name__ for a in as_args(inputs)]
    return BenchmarkError(f"{what}: {type(model).__name__} raised {type(e).__name__} on inputs of shape "
                          f"{shapes}: {e}")

# %%
assert as_args((1, 2)) == (1, 2) and as_args(torch.zeros(2)).__class__ is tuple
err = forward_error(nn.Linear(4, 2), torch.zeros(3, 5), RuntimeError("mat1 and mat2 shapes"), "counting FLOPs")
assert "Linear raised RuntimeError on inputs of shape [(3, 5)]" in str(err)
err

# %% [markdown]
# `device_of` picks where to measure: the `device` asked for (checked by `resolve_device`, which
# refuses a CUDA device this machine does not have), else the device of the first tensor argument.

# %%
#| export
def device_of(inputs: Any, device: Any = None) -> torch.device:
    "The device to measure on: `device` ('cpu' or an available 'cuda[:i]') if given, else the first tensor's, else CPU."
    if device is not None:  # 'cpu' or an available 'cuda[:i]' (str or torch.device), else a ValueError naming device
        return torch.device(resolve_device(device, ()))
    for a in as_args(inputs):
        if isinstance(a, torch.Tensor):
            return a.device
    return torch.device("cpu")

# %%
assert device_of(torch.zeros(2)) == torch.device("cpu") and device_of((3, torch.zeros(1))).type == "cpu"
assert device_of(torch.zeros(2), "cpu") == torch.device("cpu")
try:
    device_of(torch.zeros(2), "gpu")
    raise AssertionError("an unknown device must be refused")
except ValueError as e:
    print("refused:", e)

# %% [markdown]
# ## 2. Two clocks with one interface
#
# A profiler marks points in time and later turns pairs of marks into seconds. On the CPU a mark
# is a `perf_counter` reading. On a GPU, a host clock read would only say when a kernel was
# *queued*, so a mark is a CUDA event recorded on the stream, and the durations are read after
# one `synchronize` (`settle`). Code written against `mark`, `settle` and `seconds` runs on both.

# %%
#| export
class HostClock:
    "Marks are perf_counter readings; durations in seconds."
    name = "perf_counter"

    def mark(self) -> float:
        return time.perf_counter()

    def settle(self) -> None:
        pass

    @staticmethod
    def seconds(a: float, b: float) -> float:
        return b - a


class CudaEventClock:
    "Marks are recorded CUDA events on the current stream; durations from elapsed_time after one synchronize."
    name = "cuda_events"

    def mark(self):
        ev = torch.cuda.Event(enable_timing=True)
        ev.record()
        return ev

    def settle(self) -> None:
        torch.cuda.synchronize()

    @staticmethod
    def seconds(a, b) -> float:
        return a.elapsed_time(b) / 1e3

# %%
clock = HostClock()
a = clock.mark()
time.sleep(0.01)
b = clock.mark()
clock.settle()
assert 0.01 <= clock.seconds(a, b) < 1.0, clock.seconds(a, b)

# %% [markdown]
# ## 3. Hooks that record every module's forward
#
# `LayerHooks` puts a forward pre-hook and a forward hook on every submodule. Each call is
# recorded as `[name, start mark, end mark, index of the enclosing call]`: a stack of open calls
# gives the nesting. A module's **self time** is its forward minus the forwards of the calls
# nested directly inside it, summed over its calls in the pass. `open_module` names the innermost
# call still open, which is where an error happened. With `nvtx=True` (and CUDA) each forward is
# also an NVTX range named after the module.

# %%
#| export
class LayerHooks:
    """Pre/post forward hooks on every submodule recording clock marks per call, with the call nesting, so
    that each module's *self* time (its forward minus its submodules' forwards) can be computed."""
    def __init__(self, model: nn.Module, clock: Any, nvtx: bool = False):
        self.modules = [(name, m) for name, m in model.named_modules() if name]
        self.clock, self.nvtx = clock, nvtx and torch.cuda.is_available()
        self.calls: list[list] = []  # [name, start mark, end mark, index of the enclosing call or None]
        self.stack: list[int] = []
        self.handles: list = []

    def attach(self) -> None:
        for name, module in self.modules:
            self.handles.append(module.register_forward_pre_hook(lambda m, a, name=name: self._pre(name)))
            self.handles.append(module.register_forward_hook(lambda m, a, o, name=name: self._post(name)))

    def detach(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def __enter__(self) -> "LayerHooks":
        self.attach()
        return self

    def __exit__(self, *exc) -> None:
        self.detach()

    def reset(self) -> None:
        self.calls.clear()
        self.stack.clear()

    @property
    def open_module(self) -> str | None:
        "The innermost module whose forward has started and not finished (where an error happened)."
        return self.calls[self.stack[-1]][0] if self.stack else None

    def _pre(self, name: str) -> None:
        if self.nvtx:
            torch.cuda.nvtx.range_push(name)
        self.calls.append([name, None, None, self.stack[-1] if self.stack else None])
        self.stack.append(len(self.calls) - 1)
        self.calls[-1][1] = self.clock.mark()

    def _post(self, name: str) -> None:
        mark = self.clock.mark()
        self.calls[self.stack.pop()][2] = mark
        if self.nvtx:
            torch.cuda.nvtx.range_pop()

    def self_seconds(self) -> dict[str, float]:
        "Per module, self seconds summed over its calls in the pass just run (after clock.settle())."
        incl = [self.clock.seconds(start, end) for _, start, end, _ in self.calls]
        children = [0.0] * len(self.calls)
        for i, (_, _, _, parent) in enumerate(self.calls):
            if parent is not None:
                children[parent] += incl[i]
        out: dict[str, float] = {}
        for i, (name, *_rest) in enumerate(self.calls):
            out[name] = out.get(name, 0.0) + incl[i] - children[i]
        return out

# %% [markdown]
# A check with a clock whose marks are call counts, so every figure is exact: a block `0`
# holding two leaves, then a leaf `1`. Each call takes 1 tick in its own hooks; the block's self
# time is its span minus its children's spans.

# %%
class TickClock:
    "Each mark is the next integer: durations count the marks in between."
    name, n = "ticks", 0

    def mark(self):
        self.n += 1
        return self.n

    def settle(self):
        pass

    @staticmethod
    def seconds(a, b):
        return float(b - a)


net = nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), nn.Linear(4, 2))
with LayerHooks(net, TickClock()) as hooks:
    net(torch.zeros(1, 4))
assert [c[0] for c in hooks.calls] == ["0", "0.0", "0.1", "1"] and [c[3] for c in hooks.calls] == [None, 0, 0, None]
assert hooks.self_seconds() == {"0": 6 - 1 - 2, "0.0": 1, "0.1": 1, "1": 1}  # block: marks 1..6, children 2-3, 4-5
assert sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in net.modules()) == 0, "hooks removed on exit"
bad = nn.Sequential(nn.Linear(4, 4), nn.Linear(5, 5))
with LayerHooks(bad, HostClock()) as hooks:
    try:
        bad(torch.zeros(1, 4))
    except RuntimeError:
        pass
assert hooks.open_module == "1", hooks.open_module

# %% [markdown]
# ## 4. Leaves, and the bytes their tensors take
#
# A **leaf** module has no children. The bytes a leaf moves in one forward are at least those of
# its tensor inputs, its outputs, and its own parameters and buffers: the denominator of the
# arithmetic intensity in module 03's roofline (a lower bound: caches may save re-reads, spills
# add more).

# %%
#| export
def leaf_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    "(name, module) for every module of `model` that has no children, in registration order."
    return [(name, m) for name, m in model.named_modules() if name and next(m.children(), None) is None]


def tensor_bytes(obj: Any) -> int:
    "Bytes of the tensors in `obj` (a tensor, or lists and tuples of them); 0 for anything else."
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(o) for o in obj)
    return 0

# %%
assert [n for n, _ in leaf_modules(net)] == ["0.0", "0.1", "1"]
assert tensor_bytes([torch.zeros(3, 4), (torch.zeros(2, dtype=torch.float64), "text")]) == 3 * 4 * 4 + 2 * 8

# %%
#| export
def layer_bytes(model: nn.Module, inputs: Any) -> dict[str, int]:
    "Per leaf module: bytes of its tensor inputs + outputs + parameters and buffers in one forward."
    nbytes = tensor_bytes
    moved: dict[str, int] = {}
    handles = []
    for name, mod in leaf_modules(model):
        own = sum(nbytes(p) for p in mod.parameters()) + sum(nbytes(b) for b in mod.buffers())
        handles.append(mod.register_forward_hook(
            lambda m, a, o, name=name, own=own: moved.__setitem__(name, moved.get(name, 0) + nbytes(a) + nbytes(o) + own)))
    try:
        with torch.inference_mode():
            model(*as_args(inputs))
    finally:
        for h in handles:
            h.remove()
    return moved

# %%
lin = nn.Sequential(nn.Linear(4, 2), nn.ReLU())
got = layer_bytes(lin, torch.zeros(3, 4))
assert got == {"0": (3 * 4 + 3 * 2 + 4 * 2 + 2) * 4, "1": (3 * 2 + 3 * 2) * 4}, got
got

# %% [markdown]
# ## 5. Peak resident memory
#
# Linux keeps each process's peak resident set size (`VmHWM` in `/proc/self/status`) and resets
# it to the current RSS when `5` is written to `/proc/self/clear_refs`. That peak is exact: it
# cannot miss a short spike. Where it cannot be reset, `RssSampler` reads the RSS in a thread
# every millisecond, which can miss spikes shorter than that.

# %%
#| export
def read_hwm() -> int | None:
    "Peak RSS (VmHWM) of this process in bytes, or None where /proc is not available."
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
        return int(m.group(1)) * 1024 if m else None
    except OSError:
        return None


def reset_hwm() -> bool:
    "Reset the kernel's peak-RSS mark to the current RSS (Linux >= 4.0); False where that is not possible."
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return read_hwm() is not None
    except OSError:
        return False

# %%
if reset_hwm():
    before = read_hwm()
    block = bytearray(2**26)  # 64 MiB, touched: the kernel maps every page
    del block
    print(f"the peak rose by {(read_hwm() - before) / 2**20:.0f} MiB while a 64 MiB block existed")
else:
    print("this system cannot reset the peak-RSS mark: measure_memory samples instead")

# %%
#| export
class RssSampler:
    "Fallback peak-RSS probe: samples RSS in a thread every `interval` seconds (can miss spikes shorter than that)."
    def __init__(self, interval: float = 1e-3):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._proc = psutil.Process()

    def __enter__(self):
        self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)

# %%
with RssSampler() as sampler:
    rss0 = psutil.Process().memory_info().rss
    block = bytearray(2**26)
    time.sleep(0.05)
    del block
assert sampler.peak >= rss0
print(f"sampled peak {(sampler.peak - rss0) / 2**20:.0f} MiB above the RSS at the start")

# %% [markdown]
# ## 6. A sampling profiler for flame graphs (pyinstrument)
#
# A flame graph shows call stacks and how long each stayed on the CPU. `sample_python` runs a call
# under pyinstrument, a **statistical** profiler: every `interval` seconds it records the current
# Python call stack (C functions such as `sorted` or torch's built-in methods included), at the next
# function call or return after the interval. A function that finishes between two samples may not
# appear at all, so for short calls pick a small `interval` (1e-4 s resolves ~0.1 ms) or repeat the
# call; the overhead stays small (unlike a tracer that records every call, which slows code several-
# fold). The returned profiler renders pyinstrument's interactive HTML (`output_html()`) and a
# speedscope file (`output(SpeedscopeRenderer())`, open it at <https://www.speedscope.app>).

# %%
#| export
def sample_python(fn: Callable, args: tuple = (), kwargs: dict | None = None, repeat: int = 1,
                  interval: float = 1e-4) -> Any:
    """A stopped `pyinstrument.Profiler` holding `repeat` calls of `fn(*args, **kwargs)`, sampled every `interval`
    seconds (statistical: calls shorter than the interval may be missed)."""
    from pyinstrument import Profiler
    if not isinstance(interval, (int, float)) or isinstance(interval, bool) or not 0 < interval <= 1:
        raise ValueError(f"interval must be seconds between samples in (0, 1], got {interval!r}: e.g. 1e-4")
    profiler = Profiler(interval=interval, async_mode="disabled")
    profiler.start(target_description=getattr(fn, "__qualname__", type(fn).__name__))
    try:
        for _ in range(repeat):
            fn(*args, **(kwargs or {}))
    finally:
        profiler.stop()
    return profiler

# %%
import json

from pyinstrument.renderers import SpeedscopeRenderer


def outer(n):
    return sorted([inner(i) for i in range(n)])  # the list is built first, then sorted in C for a millisecond or so


def inner(i):
    return i * 7919 % 10007  # shuffled, so that sorting takes time


doc = json.loads(sample_python(outer, (50_000,), repeat=5, interval=1e-4).output(SpeedscopeRenderer()))
names = [f["name"] for f in doc["shared"]["frames"]]
events = doc["profiles"][0]["events"]
assert {"outer", "sorted"} <= set(names), names  # a C function (sorted) is a frame too
assert sum(e["type"] == "O" for e in events) == sum(e["type"] == "C" for e in events), "every open frame is closed"
assert sys.getprofile() is None, "the sampler is switched off"
sorted(set(names))

# %% [markdown]
# ## 7. Out of memory
#
# A batch that does not fit is a boundary to record, not a crash. It shows up as a `MemoryError`,
# a `torch.cuda.OutOfMemoryError`, or a `RuntimeError` whose message says so (the CPU allocator's
# "can't allocate memory"), possibly as the cause of another error. After one, `free_memory`
# collects garbage and hands cached CUDA blocks back so that the next measurement starts clean.

# %%
#| export
def is_oom(e: BaseException) -> bool:
    "Is `e` (or its cause) an out-of-memory error: MemoryError, torch.cuda.OutOfMemoryError, or an OOM RuntimeError?"
    while e is not None:
        if isinstance(e, (MemoryError, torch.cuda.OutOfMemoryError)):
            return True
        text = str(e).lower()
        if isinstance(e, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text
                                            or "cannot allocate memory" in text):
            return True  # CUDA's message, and the CPU allocator's ("DefaultCPUAllocator: can't allocate memory")
        e = e.__cause__
    return False


def free_memory() -> None:
    "Collect garbage and return cached CUDA blocks, after an out-of-memory error."
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()

# %%
wrapped = BenchmarkError("batch 4096 failed")
wrapped.__cause__ = RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 GB")
assert is_oom(torch.cuda.OutOfMemoryError("CUDA out of memory")) and is_oom(MemoryError()) and is_oom(wrapped)
assert not is_oom(RuntimeError("mat1 and mat2 shapes cannot be multiplied")) and not is_oom(ValueError("out of memory"))
free_memory()
