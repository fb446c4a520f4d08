# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Profiling: where the time, memory and energy go
#
# A benchmark says *how fast*; a profile says *why*, and what to change. This notebook takes a
# model apart, each step with a small experiment on the digits CNN or a planted bottleneck:
#
# 1. what a model costs before it runs: parameters, bytes and FLOPs (**exercise 1**);
# 2. per-layer timing with hooks, and why CUDA needs events there (**exercise 2**);
# 3. the PyTorch profiler: operators, shapes and a Chrome trace;
# 4. Python overhead around a model, with a flame graph;
# 5. where memory goes: parameters, activations, allocator caching, peak versus current;
# 6. CPU and GPU utilisation sampled while a workload runs, and why 100% busy is not efficient;
# 7. pipelines: preprocess → model → postprocess, and the data-loading bottleneck;
# 8. batch size against latency and throughput; out-of-memory as a boundary to find
#    (**exercise 3**);
# 9. compute- versus memory-bound: arithmetic intensity and the roofline;
# 10. energy per inference on a GPU, and NVTX ranges for Nsight users.
#
# Every number is measured here: clocks, psutil, NVML, `torch.profiler`, and FLOPs counted by
# `torch.utils.flop_counter`. Where a counter is not available (no GPU, no NVML), the result says
# so instead of inventing a value.
#
# The instruments it reads (clocks, forward hooks, memory probes, a Python call tracer) come
# from the support notebook `instrument`, and the result types it returns from `profiles`: this
# notebook imports them and spends its cells on the measurements.

# %%
#| default_exp profiling

# %%
#| export
from __future__ import annotations

import contextlib
import cProfile
import gc
import io
import math
import pstats
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import psutil
import torch
from torch import nn

from tinybench.instrument import (
    CudaEventClock, HostClock, LayerHooks, RssSampler, as_args, device_of, forward_error, free_memory, is_oom,
    layer_bytes, leaf_modules, read_hwm, reset_hwm, sample_python, tensor_bytes)
from tinybench.profiles import (
    BatchLimit, BatchSweep, DevicePeaks, LayerProfile, MemoryProfile, ModelStats, OpProfile, PipelineProfile,
    PythonProfile, Roofline)
from tinybench.checks import check_number
from tinybench.timing import BenchmarkError, measure, resolve_device

# public names of tinybench.profiling that instrument and profiles define
_all_ = ["ModelStats", "leaf_modules", "LayerProfile", "OpProfile", "PythonProfile", "MemoryProfile", "PipelineProfile",
         "BatchSweep", "BatchLimit", "DevicePeaks", "tensor_bytes", "Roofline"]

# %% nbgrader={"grade": false, "grade_id": "notebook-setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import torch
from threadpoolctl import threadpool_limits

from tinybench.nbutils import reference_fallback
from tinybench.workloads import load_digits, load_model

# Thread pools, set explicitly: numpy's BLAS and torch each start one thread per core, and on a small or shared
# machine the two pools compete for the same cores, so a measurement times the contention instead of the code.
# One thread each keeps the experiments below comparable; the cells where threads are the lesson set their own.
torch.set_num_threads(1)
threadpool_limits(1)
use_reference_if_open = reference_fallback("tinybench.profiling")
torch.manual_seed(0)
digits = load_digits()
cnn = load_model(data=digits).model.eval()
x64 = digits.X_test[:64]

# %% [markdown]
# The setup cell loads the digits CNN from `tinybench.workloads` (trained on this CPU in a couple
# of seconds, then cached) and a batch of 64 test images. If you read the student version with an
# exercise still open, the cell after each exercise's test swaps in tinybench's reference
# implementation so that the rest of the notebook still runs.

# %% [markdown]
# ## 1. What a model costs before it runs
#
# Three numbers describe a model's size: how many **parameters** it has, how many **bytes** they
# take (4 per float32 parameter; the file on disk adds a little), and how many **FLOPs** one
# forward pass performs. FLOPs are counted, not estimated: `torch.utils.flop_counter.FlopCounterMode`
# intercepts every operator that has a FLOP formula (matmuls, convolutions, attention) and adds
# up its count for the shapes it actually saw.
#
# The convention matters when you compare numbers: one multiply-add counts as **2 FLOPs**
# (multiply, then add). Some papers quote MACs (multiply-accumulates), half as many. Element-wise
# operators (ReLU, the bias add) and pooling count as zero: they are cheap in arithmetic and
# cost memory traffic instead, which section 9 measures.
#
# ### Exercise 1: `linear_flops` (2 points)
#
# Return the FLOPs of one `nn.Linear(in_features, out_features)` applied to a
# `(batch, in_features)` input, by the counter's convention: each of the `batch × out_features`
# outputs is a dot product of length `in_features`, one multiply and one add per term. The bias
# add is not counted. The test checks your formula against `FlopCounterMode` for several shapes.

# %% nbgrader={"grade": false, "grade_id": "linear-flops", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def linear_flops(batch: int, in_features: int, out_features: int) -> int:
    "FLOPs of nn.Linear(in_features, out_features) on a (batch, in_features) input: 2 per multiply-add, bias not counted."
    batch, in_features, out_features = (check_number(v, name, integer=True, nonnegative=True) for v, name in
                                        ((batch, "batch"), (in_features, "in_features"), (out_features, "out_features")))
    ### BEGIN SOLUTION
    return 2 * batch * in_features * out_features
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test-linear-flops", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from torch.utils.flop_counter import FlopCounterMode


def counted_flops(layer, x):
    with FlopCounterMode(display=False) as counter:
        layer(x)
    return counter.get_total_flops()


got = linear_flops(1, 3, 2)
assert got == 12, f"one sample, 2 outputs of 3 multiply-adds each = 6 multiply-adds: expected 12 FLOPs, got {got}"
want, got = counted_flops(nn.Linear(512, 64), torch.randn(4, 512)), linear_flops(4, 512, 64)
assert got == want, f"linear_flops(4, 512, 64): FlopCounterMode counts {want}, got {got}"
### BEGIN HIDDEN TESTS
from tinybench.nbutils import assert_own as _assert_own
_assert_own(linear_flops, "tinybench.profiling")
for b, i, o in [(1, 1, 1), (7, 33, 5), (64, 64, 10), (0, 8, 8)]:
    want, got = counted_flops(nn.Linear(i, o), torch.randn(b, i)), linear_flops(b, i, o)
    assert got == want, f"linear_flops({b}, {i}, {o}): FlopCounterMode counts {want}, got {got}"
want, got = counted_flops(nn.Linear(5, 7, bias=False), torch.randn(3, 5)), linear_flops(3, 5, 7)
assert got == want, f"linear_flops(3, 5, 7) (bias is not counted): FlopCounterMode counts {want}, got {got}"
### END HIDDEN TESTS

# %%
linear_flops = use_reference_if_open(linear_flops, 1, 1, 1)

# %% [markdown]
# A convolution is a dot product too: every output element (`batch × out_channels × H_out ×
# W_out` of them) sums over `in_channels / groups × kh × kw` inputs.

# %%
#| export
def _pair(v: int | Sequence[int], name: str, lo: int = 0) -> tuple[int, int]:
    "(h, w) from an integer (both) or a pair of integers, each >= `lo`; else an error naming `name`."
    if isinstance(v, (str, bytes)) or not hasattr(v, "__len__"):
        v = check_number(v, name, integer=True, lo=lo)
        return v, v
    if len(v) != 2:
        raise ValueError(f"{name} must be an integer or a pair (h, w) of integers, got {v!r:.60}")
    return check_number(v[0], name, integer=True, lo=lo), check_number(v[1], name, integer=True, lo=lo)


def conv2d_flops(batch: int, in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
                 out_size: int | Sequence[int], groups: int = 1) -> int:
    "FLOPs of nn.Conv2d producing (batch, out_channels, *out_size): 2 per multiply-add, bias not counted."
    batch, in_channels, out_channels = (check_number(v, name, integer=True, nonnegative=True) for v, name in
                                        ((batch, "batch"), (in_channels, "in_channels"), (out_channels, "out_channels")))
    groups = check_number(groups, "groups", integer=True, lo=1)
    (kh, kw), (oh, ow) = _pair(kernel_size, "kernel_size", lo=1), _pair(out_size, "out_size")
    if in_channels % groups:
        raise ValueError(f"in_channels ({in_channels}) must be divisible by groups ({groups})")
    return 2 * batch * out_channels * oh * ow * (in_channels // groups) * kh * kw

# %%
conv = nn.Conv2d(16, 32, 3, padding=1)
assert conv2d_flops(64, 16, 32, 3, 8) == counted_flops(conv, torch.randn(64, 16, 8, 8))
print(f"conv 16→32, 3×3 on 8×8, batch 64: {conv2d_flops(64, 16, 32, 3, 8) / 1e6:.1f} MFLOP")

# %% [markdown]
# `model_stats` puts the size figures together. The serialized size is what `torch.save` of the
# state dict writes: the parameters plus buffers plus a little framing. For a dynamically
# quantized model it is the honest size figure, because its packed int8 weights are not
# `parameters()`; note too that quantized kernels have no FLOP formula and count as zero.
# It returns a `ModelStats`, one of the result types in `tinybench.profiles`.

# %% [markdown]
# FlopCounterMode knows aten's matmuls and convolutions, not the ops of quantized modules
# (`torch.ao.nn.quantized`: `quantized::linear_dynamic`, `quantized::conv2d`, ...): an int8 model
# would count almost nothing. We give it their formulas, the same 2 × MACs as aten's.

# %%
#| export
def quantized_flop_formulas() -> dict[Any, Callable[..., int]]:
    """FLOP formulas (2 × multiply-accumulates) for torch.ao's quantized Linear and Conv ops, for FlopCounterMode's
    `custom_mapping`: the input's last dimension (Linear) or the packed weight's fan-in (Conv) per output element."""
    def linear(x_shape, packed, *args, out_shape=None, **kwargs) -> int:
        return 2 * math.prod(out_shape) * x_shape[-1]

    def conv(x_shape, packed, *args, out_shape=None, **kwargs) -> int:
        return 2 * math.prod(out_shape) * math.prod(packed.unpack()[0].shape[1:])
    q = torch.ops.quantized
    ops = {"linear_dynamic": linear, "linear_relu_dynamic": linear, "linear": linear, "linear_relu": linear,
           "conv1d": conv, "conv2d": conv, "conv2d_relu": conv, "conv3d": conv}
    return {getattr(q, name): f for name, f in ops.items() if hasattr(q, name)}  # keys: op packets, as aten's

# %%
#| export
def count_flops(model: Callable, inputs: Any) -> tuple[int, dict[str, int]]:
    "FLOPs of one call `model(*inputs)` (FlopCounterMode), total and per module (keys: 'Root.child.name')."
    from torch.utils.flop_counter import FlopCounterMode
    if not callable(model):
        raise TypeError(f"model must be callable on the inputs (an nn.Module), got {type(model).__name__} {model!r:.60}")
    counter = FlopCounterMode(display=False, custom_mapping=quantized_flop_formulas())
    try:
        with counter, torch.inference_mode():
            model(*as_args(inputs))
    except Exception as e:  # a model that cannot run on this input: say which input, keep the cause
        raise forward_error(model, inputs, e, "counting FLOPs") from e
    per_module = {name: int(sum(ops.values())) for name, ops in counter.get_flop_counts().items()}
    return int(counter.get_total_flops()), per_module

# %%
assert count_flops(nn.Linear(512, 64), torch.randn(4, 512))[0] == linear_flops(4, 512, 64)
_q8 = torch.ao.quantization.quantize_dynamic(nn.Sequential(nn.Linear(512, 64)), {nn.Linear}, dtype=torch.qint8)
assert count_flops(_q8, torch.randn(4, 512))[0] == linear_flops(4, 512, 64), "int8 Linear: the same FLOPs"

# %%
#| export
def _check_module(model: Any) -> None:
    "TypeError unless `model` is a torch nn.Module (these functions hook or read its layers)."
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch nn.Module, got {type(model).__name__} {model!r:.60}")


def packed_weights(model: nn.Module) -> list[torch.Tensor]:
    """Weights and biases that quantized modules (torch.ao.nn.quantized: Linear, Conv, dynamic Linear) keep packed,
    outside `parameters()`: an int8 model's weights, as its `weight()` / `bias()` methods return them."""
    out = []
    for m in model.modules():
        if type(m).__module__.startswith("torch.ao.nn.quantized") and callable(getattr(m, "weight", None)):
            out += [t for t in (m.weight(), m.bias() if callable(getattr(m, "bias", None)) else None)
                    if isinstance(t, torch.Tensor)]
    return out


def model_stats(model: nn.Module, example_input: Any) -> ModelStats:
    """Parameter count and bytes (quantized modules' packed weights included, at their own element size), buffer
    bytes, serialized size and counted FLOPs of `model(example_input)`."""
    _check_module(model)
    params, buffers = list(model.parameters()) + packed_weights(model), list(model.buffers())
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    flops, per_module = count_flops(model, example_input)
    shapes = [list(a.shape) if hasattr(a, "shape") else type(a).__name__ for a in as_args(example_input)]
    return ModelStats(sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad),
                      sum(p.numel() * p.element_size() for p in params),
                      sum(b.numel() * b.element_size() for b in buffers), buf.getbuffer().nbytes,
                      flops, per_module, shapes)

# %%
stats = model_stats(cnn, x64)
stats

# %% [markdown]
# The two convolutions do most of the arithmetic even though the first linear layer holds most
# of the parameters: FLOPs and bytes are different costs, which is the whole story of section 9.

# %%
assert stats.n_params == sum(p.numel() for p in cnn.parameters()) and stats.param_bytes == 4 * stats.n_params
assert stats.flops == sum(v for k, v in stats.flops_by_module.items() if k.count(".") == 2)

# %% [markdown]
# ## 2. Per-layer timing with hooks
#
# PyTorch calls a module's *forward pre-hooks* just before its `forward` and its *forward hooks*
# just after. A pair of hooks that read a clock therefore times each layer without touching the
# model's code. The two APIs:
#
# - `handle = module.register_forward_pre_hook(hook)`, called as `hook(module, args)` before
#   `forward` (`args`: the positional inputs, a tuple); return `None` to leave them unchanged;
# - `handle = module.register_forward_hook(hook)`, called as `hook(module, args, output)` after
#   `forward`; return `None` to leave the output unchanged;
# - `handle.remove()` removes the hook again.
#
# A hook defined in a loop should bind the layer's name as a default argument
# (`def pre(module, args, name=name): ...`), or every hook sees the loop's last name. Time only
# the **leaf** modules (those without children): a `Sequential` block's time is the sum of its
# leaves plus its own small overhead.
#
# ### Exercise 2: `time_layers` (3 points)
#
# Return a dict `{leaf module name: seconds}` for **one** forward pass `model(x)` on the CPU,
# timed with `time.perf_counter` from a forward pre-hook to a forward hook on every leaf module
# (use `leaf_modules(model)` from `tinybench.instrument`, shown on the CNN below). If a module
# runs more than once in a pass, add up its times. Run the pass under `torch.inference_mode()`.
# Remove every hook before returning, **even if the model raises** (use `try`/`finally`); a
# profiler that leaves hooks behind slows down every later call of the model. The test plants a
# slow layer and checks that you find it.

# %%
[name for name, _ in leaf_modules(cnn)]

# %% nbgrader={"grade": false, "grade_id": "time-layers", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def time_layers(model: nn.Module, x: Any) -> dict[str, float]:
    "Seconds each leaf module's forward took in one pass `model(x)` (CPU clock via hooks; hooks removed after)."
    _check_module(model)
    ### BEGIN SOLUTION
    times: dict[str, float] = {}
    starts: dict[str, float] = {}
    handles = []
    for name, module in leaf_modules(model):
        def pre(mod, args, name=name):
            starts[name] = time.perf_counter()

        def post(mod, args, out, name=name):
            times[name] = times.get(name, 0.0) + time.perf_counter() - starts[name]
        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return times
    ### END SOLUTION

# %% [markdown]
# A planted bottleneck: `Repeat` runs a real matmul `k` times (extra computation, not a sleep),
# so we know which layer must come out on top.

# %% nbgrader={"grade": false, "grade_id": "planted-model", "locked": true, "schema_version": 3, "solution": false, "task": false}
class Repeat(nn.Module):
    "A linear layer applied k times: k times the work of one, a bottleneck we plant on purpose."
    def __init__(self, dim, k):
        super().__init__()
        self.lin, self.k = nn.Linear(dim, dim), k

    def forward(self, x):
        for _ in range(self.k):
            x = torch.tanh(self.lin(x))
        return x


def planted(dim=256, k=20):
    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), Repeat(dim, k), nn.Linear(dim, 10))

# %% nbgrader={"grade": true, "grade_id": "test-time-layers", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
m = planted()
x = torch.randn(256, 256)
t0 = time.perf_counter()
times = time_layers(m, x)
wall = time.perf_counter() - t0
assert set(times) == {"0", "1", "2.lin", "3"}, f"one entry per leaf module, got {sorted(times)}"
assert 0 < sum(times.values()) <= wall, \
    f"layer times are parts of the pass: expected a sum in (0, {wall:.4g} s], got {sum(times.values()):.4g} s"
runs = [time_layers(m, x) for _ in range(3)]  # one pass is one noisy sample: take each layer's best of three
best = {k: min(r[k] for r in runs) for k in runs[0]}
assert max(best, key=best.get) == "2.lin", f"the planted layer should dominate: {best}"
_left = sum(len(mod._forward_hooks) + len(mod._forward_pre_hooks) for mod in m.modules())
assert _left == 0, f"remove your hooks: expected 0 hooks left on the model after the pass, got {_left}"
### BEGIN HIDDEN TESTS
from tinybench.nbutils import assert_own as _assert_own
_assert_own(time_layers, "tinybench.profiling")
bad = nn.Sequential(nn.Linear(4, 4), nn.Linear(5, 5))
try:
    time_layers(bad, torch.randn(2, 4))
    raise AssertionError("a shape error must propagate: expected RuntimeError, got no error")
except RuntimeError:
    pass
_left = sum(len(mod._forward_hooks) + len(mod._forward_pre_hooks) for mod in bad.modules())
assert _left == 0, f"remove hooks on error too: expected 0 hooks left after a failed pass, got {_left}"
shared = nn.Linear(8, 8)
twice = nn.Sequential(shared, nn.ReLU(), shared)
_keys = set(time_layers(twice, torch.randn(2, 8)))
assert _keys == {"0", "1"}, f"a module used twice has one entry: expected {{'0', '1'}}, got {_keys}"
### END HIDDEN TESTS

# %%
time_layers = use_reference_if_open(time_layers, nn.Sequential(nn.Identity()), torch.zeros(1), compare=False)  # timed

# %% [markdown]
# One pass is one noisy sample. `profile_layers` repeats the pass, and also times the whole
# forward with the same clock so that the parts can be checked against the whole. Timing only
# the leaves loses work that a parent module does in its own `forward` (the `tanh` in `Repeat`
# above is not inside any leaf), so `profile_layers` hooks **every** submodule and reports each
# one's **self time**: its forward minus its submodules' forwards. The self times plus the
# **unattributed** time (the root module's own Python, such as `Sequential`'s loop) must add up
# to the total. The result states the unattributed share and
# whether it is within a tolerance, and the **hook overhead** (hooked minus bare passes, run
# interleaved so that drift cancels).
#
# On a GPU, a host clock read in a hook measures when the kernel was *queued*, not when it ran:
# CUDA launches are asynchronous (module 00, section 6). `profile_layers` records a CUDA event in
# each hook instead, so each layer's time is measured on the device's own timeline, and
# synchronizes once per pass, not once per layer (a synchronize per layer would serialise host and
# device and change what is measured).
#
# The pieces come from `tinybench.instrument`: two clocks with one interface (`HostClock`,
# `CudaEventClock`: `mark`, `settle`, `seconds`) and `LayerHooks`, which records every forward
# call with the call it is nested in and computes self times from that. One hooked pass:

# %%
pm = planted()
with LayerHooks(pm, HostClock()) as hooks, torch.inference_mode():
    pm(torch.randn(256, 256))
{name: f"{seconds * 1e3:.3f} ms" for name, seconds in hooks.self_seconds().items()}

# %% [markdown]
# `profile_layers` repeats such passes, alternating with bare ones, and returns a
# `LayerProfile` (`tinybench.profiles`) that keeps every pass.

# %%
#| export
def profile_layers(model: nn.Module, inputs: Any, device: Any = None, repeat: int = 20, warmup: int = 3,
                   tolerance: float = 0.10, nvtx: bool = False) -> LayerProfile:
    """Forward self time of every submodule of `model` on `inputs` (a tensor or tuple), from `repeat` passes
    (the summary uses the faster half: `LayerProfile.kept`).

    CPU: perf_counter in hooks. CUDA: events in hooks and one synchronize per pass. Hooked and bare
    passes alternate, so `hook_overhead` is measured under the same conditions. `nvtx=True` also
    wraps each module's forward in an NVTX range."""
    repeat = check_number(repeat, "repeat", integer=True, lo=1, hint="timed passes")
    warmup = check_number(warmup, "warmup", integer=True, nonnegative=True, hint="untimed passes first")
    tolerance = check_number(tolerance, "tolerance", positive=True, hint="a fraction: 0.10 for 10%")
    if next(model.children(), None) is None:
        raise ValueError(f"{type(model).__name__} has no submodules to profile: time it whole with tinybench.measure")
    dev = device_of(inputs, device)
    clock = CudaEventClock() if dev.type == "cuda" else HostClock()
    args = as_args(inputs)

    def one_pass(hooks: LayerHooks | None) -> tuple[float, dict[str, float]]:
        if hooks is not None:
            hooks.reset()
        a = clock.mark()
        try:
            model(*args)
        except Exception as e:  # name the module that raised, keep the cause
            where = f" in module '{hooks.open_module}'" if hooks is not None and hooks.open_module else ""
            raise forward_error(model, inputs, e, f"profile_layers: the forward pass failed{where}") from e
        b = clock.mark()
        clock.settle()
        return clock.seconds(a, b), (hooks.self_seconds() if hooks is not None else {})

    rows, totals, bare = [], [], []
    with torch.inference_mode():
        for _ in range(warmup):
            one_pass(None)
        with LayerHooks(model, clock, nvtx) as hooks:
            names = [n for n, _ in hooks.modules]
            kinds = [type(m).__name__ for _, m in hooks.modules]
            for _ in range(repeat):
                total, per = one_pass(hooks)
                totals.append(total)
                rows.append([per.get(n, math.nan) for n in names])
                hooks.detach()  # a bare pass between hooked passes: the overhead is measured under the same drift
                bare.append(one_pass(None)[0])
                hooks.attach()
    times = np.array(rows)
    used = [i for i in range(len(names)) if not np.isnan(times[:, i]).all()]  # drop modules the forward never ran
    return LayerProfile([names[i] for i in used], [kinds[i] for i in used], np.nan_to_num(times[:, used]),
                        np.array(totals), np.array(bare), str(dev), clock.name, tolerance)

# %%
prof = profile_layers(planted(), torch.randn(256, 256))
prof

# %% [markdown]
# A stall (the OS running another process) inflates the pass it hits, so the summary uses the
# faster half of the passes (`kept`), and every figure is a mean over those same passes: the
# layers plus the unattributed time then add up to the total exactly.

# %%
from tinybench.display import format_bytes, format_seconds

k = prof.kept
assert np.isclose(prof.total, prof.totals[k].mean())
assert np.isclose(prof.per_layer.sum() + prof.unattributed, prof.total)
print(f"kept {k.sum()} of {k.size} passes; unattributed {prof.unattributed_fraction:.1%}; "
      f"the hooks cost {format_seconds(prof.hook_overhead)} per pass")

# %% [markdown]
# The planted layer is on top, `Repeat`'s own `tanh` calls show up as module `2`'s self time,
# and the parts add up. On the small digits CNN at batch 64 the picture is different: the layers are so
# quick that the framework's per-call overhead is a visible share of each one.

# %%
assert prof.top(1)[0][0] == "2.lin" and prof.within_tolerance
cnn_layers = profile_layers(cnn, x64)
cnn_layers

# %% [markdown]
# ## 3. The PyTorch profiler: operators, shapes and a timeline
#
# Hooks see modules; `torch.profiler` sees the **operators** underneath (`aten::addmm`,
# `aten::mkldnn_convolution`, ...) with their self time (time in the operator itself) and total
# time (including the operators it calls), on the CPU and, with CUDA activity, on the GPU. It
# also writes a Chrome trace: open it at `chrome://tracing` or <https://ui.perfetto.dev> to see
# every operator on a timeline (`tensorboard_dir` writes it where TensorBoard's profiler plugin
# looks). `profile_ops` turns the profiler's table into data, an `OpProfile`.
#
# The warm-up calls run under the profiler too (its `schedule`), and are dropped: the first calls
# under a fresh profiler pay its start-up costs (tens of milliseconds on the digits CNN, a hundred
# times a pass), which would otherwise be divided into every per-call time.

# %%
#| export
def profile_ops(fn: Callable[..., Any], *args: Any, device: Any = None, repeat: int = 5, warmup: int = 2,
                record_shapes: bool = False, trace_path: str | Path | None = None,
                tensorboard_dir: str | Path | None = None) -> OpProfile:
    """Run `fn(*args)` `repeat` times under torch.profiler (CPU, plus CUDA when `device` is cuda).

    Times are per call of `fn`: the mean over the faster half of the `repeat` profiled calls (by the wall time of
    each call's `ProfilerStep`), the passes `profile_layers` keeps too, so a call the OS stalled does not inflate the
    table. The `warmup` calls (at least one) run under the profiler's schedule and are discarded: the first calls
    under a fresh profiler pay its one-off start-up costs. A Chrome trace (every call) is written to `trace_path` and/or, by
    `torch.profiler.tensorboard_trace_handler`, as `<worker>.<time>.pt.trace.json` into `tensorboard_dir` (TensorBoard's
    profiler plugin reads `<logdir>/<run>/`); nothing is written otherwise. `record_shapes=True` splits operators by
    input shapes."""
    import shutil

    from torch.profiler import ProfilerActivity, profile, schedule, tensorboard_trace_handler
    repeat = check_number(repeat, "repeat", integer=True, lo=1, hint="profiled calls")
    warmup = check_number(warmup, "warmup", integer=True, nonnegative=True, hint="unprofiled calls first")
    dev = device_of(args, device)
    cuda = dev.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])

    def call():
        try:
            fn(*args)
        except Exception as e:
            raise forward_error(fn, args, e, "profile_ops") from e
        if cuda:
            torch.cuda.synchronize()

    steps = schedule(wait=0, warmup=max(1, warmup), active=repeat, repeat=1)  # warm-up calls: profiled, dropped
    with torch.inference_mode():
        ready = None if tensorboard_dir is None else tensorboard_trace_handler(str(tensorboard_dir))
        old = set(Path(tensorboard_dir).glob("*.pt.trace.json")) if tensorboard_dir is not None else set()
        with profile(activities=activities, record_shapes=record_shapes, on_trace_ready=ready, schedule=steps) as prof:
            for _ in range(max(1, warmup) + repeat):
                call()
                prof.step()
    if trace_path is not None:
        Path(trace_path).parent.mkdir(parents=True, exist_ok=True)
        if tensorboard_dir is None:
            prof.export_chrome_trace(str(trace_path))
        else:  # a trace is saved once: copy the file the handler wrote
            shutil.copyfile(max(set(Path(tensorboard_dir).glob("*.pt.trace.json")) - old), trace_path)
    steps = [e for e in prof.events() if e.name.startswith("ProfilerStep")]  # one per profiled call, its ops below
    walls = np.array([e.time_range.elapsed_us() for e in steps])
    kept = [e for e, w in zip(steps, walls) if w <= np.median(walls)]  # the faster half, as profile_layers keeps
    totals: dict[tuple, list] = {}  # (name, shapes) -> [calls, self CPU, CPU total, self device, device total] in us
    todo = [c for e in kept for c in e.cpu_children]
    while todo:
        e = todo.pop()
        todo.extend(e.cpu_children)
        t = totals.setdefault((e.key, str(e.input_shapes) if record_shapes else ""), [0, 0.0, 0.0, 0.0, 0.0, e])
        for i, v in enumerate((1, e.self_cpu_time_total, e.cpu_time_total, getattr(e, "self_device_time_total", 0.0),
                               getattr(e, "device_time_total", 0.0))):
            t[i] += v
    n = max(1, len(kept))
    rows = [{"name": name, "calls": c / n, "self_cpu": sc / 1e6 / n, "cpu_total": ct / 1e6 / n,
             "self_device": sd / 1e6 / n, "device_total": dt / 1e6 / n,
             "shapes": [list(x) for x in e.input_shapes] if record_shapes else None}
            for (name, _), (c, sc, ct, sd, dt, e) in totals.items()]
    return OpProfile(rows, repeat, str(dev), None if trace_path is None else str(trace_path))

# %%
import tempfile

ops = profile_ops(cnn, x64, record_shapes=True, trace_path=Path(tempfile.gettempdir()) / "tinybench-cnn-trace.json")
print(ops.table(8))

# %% [markdown]
# The convolutions lead. `calls` is per call of the function: one `aten::addmm` per linear layer,
# and so on. The trace file is for looking, not reading: open it in Perfetto.

# %%
assert any("conv" in r["name"] for r in ops.top(3)) and Path(ops.trace_path).stat().st_size > 0

# %% [markdown]
# ## 4. Python overhead around a model
#
# A model call is also Python: `nn.Module.__call__`, hooks, argument handling, your own pre- and
# post-processing. For small models that overhead can dominate. `profile_python` runs the
# standard library's `cProfile` (deterministic: every function call is counted; that costs time on
# every call, so read the proportions, not the absolute times) and returns the functions by self
# time. It also writes a **flame graph** file in speedscope's format: open it at
# <https://www.speedscope.app> (it runs locally in the browser) and see the call stacks. That one
# comes from a second run under **pyinstrument**, a *statistical* profiler: it samples the call stack
# every `interval` seconds instead of recording every call, so it costs little, but a function that
# takes less than the interval may be missed. Make `interval` small (the default 1e-4 s) or `repeat`
# large for short calls. The sampler is `sample_python` in `tinybench.instrument`; the result is a
# `PythonProfile`.

# %%
#| export
def profile_python(fn: Callable[..., Any], *args: Any, repeat: int = 10, warmup: int = 1,
                   speedscope_path: str | Path | None = None, flame: bool = True, interval: float = 1e-4,
                   **kwargs: Any) -> PythonProfile:
    """cProfile `fn(*args, **kwargs)` over `repeat` calls after `warmup` unprofiled ones; times are per call, seconds.

    With `flame=True` and a `speedscope_path`, a second run of `repeat` calls, sampled by pyinstrument every `interval`
    seconds, writes a speedscope JSON flame graph there; without a path nothing is written."""
    repeat = check_number(repeat, "repeat", integer=True, lo=1, hint="profiled calls")
    warmup = check_number(warmup, "warmup", integer=True, nonnegative=True, hint="unprofiled calls first")
    for _ in range(warmup):  # first calls pay one-off costs (lazy initialisation, caches) that are not overhead
        fn(*args, **kwargs)
    prof = cProfile.Profile()
    prof.enable()
    try:
        for _ in range(repeat):
            fn(*args, **kwargs)
    finally:
        prof.disable()
    st = pstats.Stats(prof)
    rows = [{"function": f"{Path(file).name}:{line}({func})" if line else func, "calls": nc / repeat,
             "self": tt / repeat, "cumulative": ct / repeat}
            for (file, line, func), (cc, nc, tt, ct, callers) in st.stats.items()]
    rows = [r for r in rows if "disable' of '_lsprof" not in r["function"]]
    path = None
    if flame and speedscope_path is not None:
        from pyinstrument.renderers import SpeedscopeRenderer
        sampled = sample_python(fn, args, kwargs, repeat, interval)
        out = Path(speedscope_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(sampled.output(SpeedscopeRenderer()))
        path = str(out)
    return PythonProfile(rows, st.total_tt / repeat, repeat, path)

# %% [markdown]
# A realistic small-batch case: classify one image at a time, with the kind of Python
# pre-processing people write (a per-pixel conversion loop) and post-processing (softmax, then a
# dict of class probabilities). Which costs more, the model or the Python around it?

# %%
def classify_one(img):
    pixels = [float(v) for v in img.flatten().tolist()]
    x = torch.tensor(pixels).reshape(1, 1, 8, 8)
    with torch.inference_mode():
        probs = torch.softmax(cnn(x), dim=1)[0]
    return {str(i): float(p) for i, p in enumerate(probs)}


py = profile_python(classify_one, digits.X_test[0],
                    speedscope_path=Path(tempfile.gettempdir()) / "tinybench-classify.speedscope.json")
py

# %% [markdown]
# Add up the self time of torch's operators (the built-in methods) against everything else.
# cProfile's own cost lands on the Python side, so this overstates the overhead somewhat; the
# flame graph (sampled, so it costs almost nothing) shows where it sits in the call stack.

# %%
torch_ops = sum(r["self"] for r in py.rows if r["function"].startswith("<built-in method torch"))
print(f"torch operators: {torch_ops / py.total:.0%} of the profiled time per image; "
      f"Python around them (module calls, the loops, the dict): {1 - torch_ops / py.total:.0%}")
print("flame graph:", py.speedscope_path)

# %% [markdown]
# ## 5. Where memory goes
#
# A model's memory is its **parameters** (section 1), the **activations** of the forward pass
# (they grow with the batch size), and whatever the **allocator caches**: PyTorch's CUDA allocator
# keeps freed blocks for reuse, so `memory_reserved` stays above `memory_allocated`, and
# `nvidia-smi` shows the reserved figure. What matters for "will it fit" is the **peak** during a
# call, not what is left afterwards.
#
# Three instruments, each blind somewhere:
# - `tracemalloc` sees allocations through Python's allocator (Python objects, numpy arrays) but
#   **not** torch's CPU tensors, which use their own allocator;
# - the process **resident set size** (RSS) sees everything the process touches, including
#   torch's tensors; its true peak comes from the kernel's high-water mark (`VmHWM`, reset through
#   `/proc/self/clear_refs` on Linux), or else from sampling, which can miss short spikes;
# - `torch.cuda.max_memory_allocated` is the exact peak of the CUDA caching allocator (reset with
#   `reset_peak_memory_stats`).
#
# `measure_memory` reads the kernel's mark through `reset_hwm` and `read_hwm`, or samples with
# `RssSampler` where the mark cannot be reset (all three in `tinybench.instrument`), and returns
# a `MemoryProfile`.

# %%
#| export
def measure_memory(fn: Callable[..., Any], *args: Any, device: Any = None, python_allocations: bool = True,
                   **kwargs: Any) -> MemoryProfile:
    """Peak and retained memory of one call `fn(*args, **kwargs)`, bytes.

    RSS peak from the kernel's high-water mark where it can be reset (Linux), else sampled every ms.
    `python_allocations` traces Python/numpy allocations with tracemalloc (slows the call down).
    CUDA figures when `device` (or a tensor argument) is on CUDA."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__} {fn!r:.60}: pass the function and its "
                        "arguments, measure_memory(f, x), not the result of calling it")
    dev = device_of(args, device)
    cuda = dev.type == "cuda"
    proc = psutil.Process()
    gc.collect()
    if cuda:
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        cuda_before = torch.cuda.memory_allocated(dev)
    tracing = python_allocations and not tracemalloc.is_tracing()
    if tracing:
        tracemalloc.start()
    if python_allocations:
        tracemalloc.reset_peak()
        py0 = tracemalloc.get_traced_memory()[0]
    rss_before = proc.memory_info().rss
    hwm = reset_hwm()
    sampler = contextlib.nullcontext() if hwm else RssSampler()
    try:
        with sampler:
            fn(*args, **kwargs)
            if cuda:
                torch.cuda.synchronize(dev)
    except Exception as e:
        raise BenchmarkError(f"measure_memory: the call raised {type(e).__name__}: {e}") from e
    finally:
        if python_allocations:
            py_now, py_peak = tracemalloc.get_traced_memory()
        if tracing:
            tracemalloc.stop()
    rss_peak = read_hwm() if hwm else sampler.peak
    rss_after = proc.memory_info().rss
    out = MemoryProfile(rss_before, rss_after, max(rss_peak, rss_after), "VmHWM" if hwm else "sampled 1 ms",
                        py_peak - py0 if python_allocations else None, py_now - py0 if python_allocations else None)
    if cuda:
        out.cuda_before, out.cuda_after = cuda_before, torch.cuda.memory_allocated(dev)
        out.cuda_peak, out.cuda_reserved = torch.cuda.max_memory_allocated(dev), torch.cuda.memory_reserved(dev)
    return out

# %% [markdown]
# Three calls that allocate 64 MiB each and free it before returning: a numpy array, a torch
# tensor, and a list of Python floats. `tracemalloc` sees numpy and Python objects but not the
# torch tensor; RSS sees all three.

# %%
def numpy_64m():
    a = np.ones(2**24, dtype=np.float32)
    return float(a[-1])


def torch_64m():
    t = torch.ones(2**24)
    return float(t[-1])


for f in (numpy_64m, torch_64m):
    mp = measure_memory(f)
    print(f"{f.__name__:10s} RSS peak +{format_bytes(mp.rss_increase):>9s}   tracemalloc peak {format_bytes(mp.python_peak):>9s}")

# %% [markdown]
# Activations grow with the batch size. The digits CNN is tiny, so use a batch of 8,192 images to
# see the activation memory of one forward pass above the noise of the process:

# %%
big = digits.X_test.repeat(16, 1, 1, 1)[:8192]
with torch.inference_mode():
    act = measure_memory(cnn, big, python_allocations=False)
conv1_out = 8192 * 16 * 8 * 8 * 4
print(act, f"\nfor scale: the first conv's output alone is {format_bytes(conv1_out)}")

# %% [markdown]
# ## 6. Utilisation, sampled while the work runs
#
# `ResourceMonitor` is a context manager that samples, in a background thread and at a stated
# interval, the process's CPU use (100% = one core's worth; it can exceed 100 with several
# threads), the whole system's CPU use, the process RSS, and, where NVML can be loaded
# (`pip install nvidia-ml-py` and an NVIDIA driver), the GPU's utilisation, memory, temperature,
# SM clock and power draw. Without NVML the GPU series are absent and `gpu_reason` says why:
# nothing is invented.
#
# **100% utilisation does not mean efficient.** GPU "utilisation" is the fraction of time *some*
# kernel was running, however little of the chip it used; CPU utilisation counts a thread that
# spins or runs interpreter overhead as busy. Section 9 measures efficiency properly (achieved
# FLOP/s against the peak).

# %%
from tinybench.monitor import EnergyResult, MonitorResult, ResourceMonitor, energy_per_inference, nvml_device

# %% [markdown]
# An experiment: half a second idle, then half a second of the digits CNN at batch 64 in a loop,
# then half a second holding a 256 MiB tensor.

# %%
with ResourceMonitor(interval=0.05) as mon:
    time.sleep(0.5)
    t_end = time.perf_counter() + 0.5
    with torch.inference_mode():
        while time.perf_counter() < t_end:
            cnn(x64)
    held = torch.ones(2**26)
    time.sleep(0.5)
    del held
mon.result

# %% [markdown]
# **Busy is not efficient.** Two loops of the same length keep one core equally busy (torch is
# limited to one thread here so that the CPU figures compare): one runs a 64→64 linear layer on
# one sample per call, the other on 1,024 samples per call. Count the FLOPs each does:

# %%
def busy_for(seconds, layer, x):
    "Call layer(x) for `seconds`; returns (calls, elapsed seconds)."
    calls, t0 = 0, time.perf_counter()
    with torch.inference_mode():
        while time.perf_counter() - t0 < seconds:
            layer(x)
            calls += 1
    return calls, time.perf_counter() - t0


threads = torch.get_num_threads()
torch.set_num_threads(1)
try:
    small_layer = nn.Linear(64, 64)
    for batch in (1, 1024):
        with ResourceMonitor(interval=0.05, gpu=False) as m:
            calls, secs = busy_for(0.5, small_layer, torch.randn(batch, 64))
        cpu = m.result.summary()["process_cpu_percent"]["mean"]
        print(f"batch {batch:5d}: process CPU {cpu:4.0f}%   {calls * linear_flops(batch, 64, 64) / secs / 1e9:7.2f} GFLOP/s")
finally:
    torch.set_num_threads(threads)

# %% [markdown]
# Both loops read as a fully busy core; one does orders of magnitude more arithmetic. At batch 1
# the core is busy with Python and operator dispatch, not with the model.

# %% [markdown]
# ## 7. Pipelines: which stage bounds throughput?
#
# A served model is a pipeline: decode and pre-process the input, run the model, post-process
# the output. Each stage has its own latency distribution. Run one after another, the pipeline's
# throughput is `1 / (sum of stage times)`; with one worker per stage running concurrently it is
# `1 / (slowest stage time)`: the **bottleneck** stage bounds it, and speeding up any other stage
# does nothing. Data loading is the classic bottleneck: a GPU waiting for a Python decoder.
# `pipeline_profile` times each stage per sample and returns a `PipelineProfile`.

# %%
#| export
def pipeline_profile(stages: Mapping[str, Callable] | Sequence[tuple[str, Callable]], dataset: Any,
                     n: int | None = None, warmup: int = 2, device: Any = None) -> PipelineProfile:
    """Time each stage of `stages` (name → fn; each stage's output feeds the next) on the first `n` samples of
    `dataset` (len and indexing). On CUDA, the device is synchronized after each stage so time is attributed."""
    named = list(stages.items()) if isinstance(stages, Mapping) else list(stages)
    if not named:
        raise ValueError("stages is empty: give at least one (name, function)")
    if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
        raise TypeError(f"dataset must support len() and indexing, got {type(dataset).__name__}")
    if len(dataset) == 0:
        raise ValueError("the dataset is empty: a profile needs at least one sample")
    if n is not None:
        n = check_number(n, "n", integer=True, lo=1, hint="samples to profile, or None for all")
    warmup = check_number(warmup, "warmup", integer=True, nonnegative=True)
    n = len(dataset) if n is None else min(n, len(dataset))
    sync = torch.cuda.synchronize if device is not None and torch.device(device).type == "cuda" else (lambda: None)
    times = np.empty((n, len(named)))
    with torch.inference_mode():
        for i in range(-min(warmup, n), n):
            x = dataset[i % n]
            for j, (name, fn) in enumerate(named):
                t0 = time.perf_counter()
                try:
                    x = fn(x)
                    sync()
                except Exception as e:
                    raise BenchmarkError(f"pipeline stage '{name}' raised {type(e).__name__} on sample {i % n}: {e}") from e
                if i >= 0:
                    times[i, j] = time.perf_counter() - t0
    return PipelineProfile([name for name, _ in named], times)

# %% [markdown]
# The digits pipeline with a realistic pre-processing stage: images arrive as 0–16 integer
# pixel grids (as in the original data) and are upsampled to 32×32 with Python loops, then
# pooled back, before the model sees them.

# %%
raw = [(img.numpy()[0] * 16).round().astype(np.int64) for img in digits.X_test[:200]]


def preprocess(pixels):
    up = [[pixels[r // 4][c // 4] / 16.0 for c in range(32)] for r in range(32)]  # a slow, Python-level resize
    return torch.nn.functional.avg_pool2d(torch.tensor(up, dtype=torch.float32)[None, None], 4)


def postprocess(logits):
    return int(logits.argmax())


pipe = pipeline_profile({"preprocess": preprocess, "model": cnn, "postprocess": postprocess}, raw)
pipe

# %%
share = dict(zip(pipe.stages, pipe.mean / pipe.mean.sum()))
print(f"this run: the bottleneck is {pipe.bottleneck} ({share[pipe.bottleneck]:.0%} of the mean time per sample); "
      f"the model takes {share['model']:.0%}. "
      + ("The Python resize bounds this pipeline, not the model: speeding up the model would barely help."
         if pipe.bottleneck == "preprocess" else
         "Unusually, the Python resize was not the largest stage in this run: the machine was probably busy; rerun."))

# %% [markdown]
# ## 8. Batch size: latency against throughput, and out-of-memory as a boundary
#
# Batching amortises per-call overhead and fills wide hardware: samples per second rise with the
# batch size, until the hardware is saturated; meanwhile the latency of each batch grows. A batch
# sweep measures both (each point with `tinybench.measure`, so each has percentiles and a
# warm-up cut). On a GPU, a large enough batch runs out of memory: that is a **boundary** to find
# and record, not a crash. `batch_sweep` stops at the first out-of-memory error (CUDA OOM or
# `MemoryError`, which `is_oom` from `tinybench.instrument` recognises), frees the cache, and
# reports the limit with everything measured before it, as a `BatchSweep`.

# %%
#| export
def _check_batch_sizes(batch_sizes: Sequence[int]) -> list[int]:
    "The distinct batch sizes, ascending, after checking they are positive integers."
    if isinstance(batch_sizes, (str, bytes)) or not hasattr(batch_sizes, "__iter__"):
        raise TypeError(f"batch_sizes must be a sequence of positive integers (e.g. [1, 8, 64]), got {batch_sizes!r}")
    items = list(batch_sizes)
    if not items:
        raise ValueError("batch_sizes is empty: give at least one batch size, e.g. [1, 8, 64]")
    for b in items:
        if isinstance(b, (bool, np.bool_)) or not isinstance(b, (int, np.integer)):
            raise TypeError(f"batch_sizes must hold positive integers (e.g. [1, 8, 64]), got {b!r} in {items}")
        if b < 1:
            raise ValueError(f"batch_sizes must hold positive integers (e.g. [1, 8, 64]), got {b!r} in {items}")
    return sorted({int(b) for b in items})

# %%
assert _check_batch_sizes([64, 1, 8, 8]) == [1, 8, 64]

# %%
#| export
def _time_batch(model: Callable, batch: Any, dev: torch.device, min_time: float, max_time: float) -> dict[str, Any]:
    """Measure model(batch) under inference_mode: latency quantiles and raw samples (s per batch), and the peak memory
    while it ran (bytes): CUDA's peak allocation on a GPU; the process's peak RSS (VmHWM, reset first) on CPU."""
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    hwm = dev.type != "cuda" and reset_hwm()
    with torch.inference_mode():
        m = measure(model, batch, device=str(dev), min_time=min_time, max_time=max_time)
    row = {"median": m.median, "p50": m.quantile(0.5), "p90": m.quantile(0.9), "p99": m.quantile(0.99),
           "n_samples": int(m.samples.size), "samples": m.samples.tolist(), "interrupted": m.interrupted}
    if dev.type == "cuda":
        row["cuda_peak_bytes"] = int(torch.cuda.max_memory_allocated(dev))
    elif hwm:
        row["rss_peak_bytes"] = read_hwm()
    return row

# %%
row = _time_batch(cnn, x64, torch.device("cpu"), min_time=0.05, max_time=1.0)
assert row["p50"] <= row["p90"] <= row["p99"] and len(row["samples"]) == row["n_samples"]
print(f"batch 64: p50 {format_seconds(row['p50'])}, p99 {format_seconds(row['p99'])} from {row['n_samples']} samples")

# %%
#| export
def batch_sweep(model: Callable, make_batch: Callable[[int], Any], batch_sizes: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
                device: Any = None, min_time: float = 0.2, max_time: float = 5.0) -> BatchSweep:
    """Latency percentiles (s per batch) and samples/s of `model(make_batch(b))` for each batch size b, ascending.

    Stops at the first out-of-memory error and records it (`oom_batch`); Ctrl-C returns what was measured,
    marked `interrupted`. Any other error raises BenchmarkError naming the batch size."""
    sizes = _check_batch_sizes(batch_sizes)
    out = BatchSweep([], "pending")
    dev = None
    try:
        for b in sizes:
            batch = None
            try:
                batch = make_batch(b)
                dev = device_of(batch, device)
                row = {"batch": b, **_time_batch(model, batch, dev, min_time, max_time)}
            except Exception as e:
                if not is_oom(e):
                    raise BenchmarkError(f"batch_sweep: batch size {b} failed: {type(e).__name__}: {e}") from e
                out.oom_batch, out.oom_error = b, f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}"
            if out.oom_batch is not None:  # outside the except block, so the traceback no longer holds the batch
                del batch
                free_memory()
                break
            row["samples_per_s"] = b / row["median"]
            interrupted = row.pop("interrupted")
            out.rows.append(row)
            if interrupted:  # measure() kept the samples of a Ctrl-C: the sweep stops after this row
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        out.interrupted = True
    out.device = str(dev) if dev is not None else str(device or "cpu")
    return out

# %%
sweep = batch_sweep(cnn, lambda b: digits.X_test[:b], [1, 4, 16, 64, 256], min_time=0.1)
sweep

# %% [markdown]
# A make-believe device that holds at most 64 images shows the boundary on this machine: the
# sweep records the batch that failed and keeps the rows measured before it.

# %%
def oom_above_64(b):
    if b > 64:
        raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate a batch of {b}")
    return digits.X_test[:b]


capped = batch_sweep(cnn, oom_above_64, [16, 64, 256, 1024], min_time=0.05)
assert capped.oom_batch == 256 and [r["batch"] for r in capped.rows] == [16, 64]
capped

# %% [markdown]
# A server with a latency budget asks the inverse question: what is the **largest batch whose
# latency stays under the budget**? Latency rises with the batch size, so binary search finds it
# in a logarithmic number of measurements: grow the batch by doubling until it breaks the budget
# (or reaches the maximum), then bisect between the last good and the first bad size. Treat an
# out-of-memory error as an infinite latency: it breaks any budget.
#
# ### Exercise 3: `largest_batch_within` (3 points)
#
# `latency_of(b)` returns the latency in seconds of batch size `b` (assume it never decreases as
# `b` grows). Return the largest `b` in `[1, max_batch]` with `latency_of(b) <= budget`, or `0` if
# even `b = 1` is over budget. Use at most `2 * ceil(log2(max_batch)) + 2` calls of `latency_of`
# (each one is a measurement). The argument checks are given.

# %% nbgrader={"grade": false, "grade_id": "largest-batch", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def largest_batch_within(latency_of: Callable[[int], float], budget: float, max_batch: int) -> int:
    "Largest b in [1, max_batch] with latency_of(b) <= budget (seconds), 0 if none; latency_of non-decreasing."
    budget = check_number(budget, "budget", positive=True, hint="the latency budget in seconds")
    max_batch = check_number(max_batch, "max_batch", integer=True, lo=1)
    ### BEGIN SOLUTION
    if latency_of(1) > budget:
        return 0
    good, bad = 1, 2
    while bad <= max_batch and latency_of(bad) <= budget:
        good, bad = bad, bad * 2
    bad = min(bad, max_batch + 1)
    while bad - good > 1:
        mid = (good + bad) // 2
        if latency_of(mid) <= budget:
            good = mid
        else:
            bad = mid
    return good
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test-largest-batch", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
calls = []


def linear_latency(b):  # 1 ms fixed + 0.1 ms per sample
    calls.append(b)
    return 1e-3 + 1e-4 * b


got = largest_batch_within(linear_latency, 5e-3, 1000)
assert got == 40, f"budget 5 ms: 1 ms + 40 × 0.1 ms = 5 ms, expected 40, got {got}"
assert len(calls) <= 2 * math.ceil(math.log2(1000)) + 2, \
    f"too many measurements: expected at most {2 * math.ceil(math.log2(1000)) + 2} calls of latency_of, made {len(calls)}"
got = largest_batch_within(linear_latency, 0.5e-3, 1000)
assert got == 0, f"budget 0.5 ms: nothing fits (batch 1 takes 1.1 ms), expected 0, got {got}"
got = largest_batch_within(linear_latency, 10.0, 300)
assert got == 300, f"budget 10 s: everything fits, so stop at max_batch: expected 300, got {got}"
### BEGIN HIDDEN TESTS
from tinybench.nbutils import assert_own as _assert_own
_assert_own(largest_batch_within, "tinybench.profiling")
for budget, limit in [(1.1e-3, 1), (1.15e-3, 1), (2.3e-3, 13), (3e-3, 20)]:
    got = largest_batch_within(linear_latency, budget, 4096)
    assert got == limit, f"budget {budget * 1e3:g} ms: expected {limit}, got {got}"
oom = lambda b: math.inf if b > 100 else 1e-3  # noqa: E731
got = largest_batch_within(oom, 1.0, 10_000)
assert got == 100, f"an out-of-memory batch (latency inf) breaks any budget: expected 100, got {got}"
got = largest_batch_within(lambda b: 1e-3, 1.0, 1)
assert got == 1, f"max_batch=1 and batch 1 fits: expected 1, got {got}"
calls.clear()
largest_batch_within(linear_latency, 5e-3, 2**20)
assert len(calls) <= 2 * 20 + 2, f"max_batch 2**20: expected at most 42 calls of latency_of, made {len(calls)}"
### END HIDDEN TESTS

# %%
largest_batch_within = use_reference_if_open(largest_batch_within, lambda b: 0.0, 1.0, 1)

# %% [markdown]
# `max_batch_under_latency` measures the model behind `latency_of` (at a chosen percentile,
# p90 by default), remembers every measurement, and treats out-of-memory as infinite latency.
# It returns a `BatchLimit`.

# %%
#| export
def max_batch_under_latency(model: Callable, make_batch: Callable[[int], Any], latency_budget: float,
                            device: Any = None, quantile: float = 0.9, max_batch: int = 4096,
                            min_time: float = 0.1) -> BatchLimit:
    "Binary search (`largest_batch_within`) for the largest batch whose measured latency quantile fits the budget (s)."
    latency_budget = check_number(latency_budget, "latency_budget", positive=True, hint="seconds")
    max_batch = check_number(max_batch, "max_batch", integer=True, lo=1)
    keys = {0.5: "p50", 0.9: "p90", 0.99: "p99"}
    if quantile not in keys:
        raise ValueError(f"quantile must be 0.5, 0.9 or 0.99 (a fraction: 0.9 for p90), got {quantile!r}")
    tried: dict[int, float] = {}

    def latency_of(b: int) -> float:
        if b not in tried:
            batch = None
            try:
                batch = make_batch(b)
                tried[b] = _time_batch(model, batch, device_of(batch, device), min_time, 5.0)[keys[quantile]]
            except Exception as e:
                if not is_oom(e):
                    raise BenchmarkError(f"max_batch_under_latency: batch size {b} failed: {type(e).__name__}: {e}") from e
                tried[b] = math.inf
            if math.isinf(tried[b]):
                del batch
                free_memory()
        return tried[b]

    best = largest_batch_within(latency_of, latency_budget, max_batch)
    return BatchLimit(best, tried.get(best, math.nan), latency_budget, quantile, tried)

# %%
limit = max_batch_under_latency(cnn, lambda b: digits.X_test.repeat(8, 1, 1, 1)[:b], latency_budget=1e-3,
                                max_batch=2048)
limit

# %% [markdown]
# ## 9. Compute-bound or memory-bound? Arithmetic intensity and the roofline
#
# A layer's time is bounded below by two things: its FLOPs divided by the device's peak FLOP/s,
# and the bytes it must move divided by the peak memory bandwidth. Its **arithmetic intensity**
# (FLOPs per byte moved) says which bound binds. The **roofline** plots attainable FLOP/s
# against intensity: `min(peak_flops, intensity × peak_bandwidth)`. Left of the ridge point
# (`peak_flops / peak_bandwidth`) a layer is **memory-bound**: a faster ALU would not help, moving
# fewer bytes would (fusion, lower precision). Right of it, **compute-bound**.
#
# The peaks are measured here, on this device, not looked up: a large matmul for FLOP/s and a
# large copy for bytes/s (each byte is read once and written once). The bytes a layer moves are
# estimated as its inputs + outputs + parameters, a lower bound (caches may save re-reads,
# spills add more), so achieved bandwidth is a conservative figure.

# %%
#| export
def measure_peaks(device: Any = "cpu", matmul_n: int | None = None, copy_bytes: int | None = None,
                  min_time: float = 0.2) -> DevicePeaks:
    "Peak float32 FLOP/s (best of a large matmul) and memory bandwidth (best of a large copy, read + write) of `device`."
    dev = torch.device(resolve_device(device, ()))
    cuda = dev.type == "cuda"
    if matmul_n is not None:
        matmul_n = check_number(matmul_n, "matmul_n", integer=True, lo=1, hint="matrix side, or None")
    if copy_bytes is not None:
        copy_bytes = check_number(copy_bytes, "copy_bytes", integer=True, lo=4, hint="bytes copied, or None")
    min_time = check_number(min_time, "min_time", nonnegative=True, hint="seconds per measurement")
    n = matmul_n or (8192 if cuda else 1024)
    nbytes = copy_bytes or (2**30 if cuda else 2**27)
    a = torch.randn(n, n, device=dev)
    mm = measure(torch.mm, a, a, device=str(dev), min_time=min_time)
    src = torch.empty(nbytes // 4, device=dev).fill_(1.0)
    dst = torch.empty_like(src)
    cp = measure(dst.copy_, src, device=str(dev), min_time=min_time)
    return DevicePeaks(str(dev), 2 * n**3 / float(np.min(mm.samples)), 2 * nbytes / float(np.min(cp.samples)), n, nbytes)

# %% [markdown]
# This CPU's peaks:

# %%
peaks = measure_peaks("cpu")
peaks

# %% [markdown]
# The bytes a layer moves are counted by `layer_bytes` (`tinybench.instrument`), with a forward
# hook on each leaf: its tensor inputs, outputs, parameters and buffers.

# %%
wide = nn.Sequential(nn.Linear(1024, 1024), nn.ReLU())
moved = layer_bytes(wide, torch.randn(512, 1024))
assert moved["1"] == 2 * 512 * 1024 * 4, moved  # the ReLU: 2 MiB in, 2 MiB out, no parameters
{name: format_bytes(n) for name, n in moved.items()}

# %% [markdown]
# `roofline` puts the pieces together: counted FLOPs, these bytes, and each leaf's time from
# `profile_layers`, placed under the measured roof (a `Roofline`).

# %%
#| export
def roofline(model: nn.Module, example_input: Any, device: Any = None, peaks: DevicePeaks | None = None,
             repeat: int = 20) -> Roofline:
    """Place every leaf layer of `model` on this device's measured roofline.

    Per layer: counted FLOPs, bytes moved (inputs + outputs + parameters, a lower bound), time per pass from
    `profile_layers`, achieved FLOP/s and bytes/s, intensity, efficiency against the attainable roof, and
    'compute' or 'memory' bound (intensity above or below the ridge)."""
    _check_module(model)
    if peaks is not None and not isinstance(peaks, DevicePeaks):
        raise TypeError(f"peaks must be a DevicePeaks (measure_peaks(device)) or None, got {type(peaks).__name__}")
    repeat = check_number(repeat, "repeat", integer=True, lo=1, hint="timed passes")
    dev = device_of(example_input, device)
    peaks = peaks or measure_peaks(dev)
    _, per_module = count_flops(model, example_input)
    root = type(model).__name__
    moved = layer_bytes(model, example_input)
    layers = profile_layers(model, example_input, device=dev, repeat=repeat)
    leaves = {name for name, _ in leaf_modules(model)}
    rows = []
    for name, kind, t in zip(layers.names, layers.kinds, layers.per_layer):
        if name not in leaves:
            continue
        flops, nbytes = per_module.get(f"{root}.{name}", 0), moved.get(name, 0)
        intensity = flops / nbytes if nbytes else math.inf
        attainable = min(peaks.flops_per_s, intensity * peaks.bytes_per_s)
        rows.append({"layer": name, "kind": kind, "flops": flops, "bytes": nbytes, "seconds": float(t),
                     "flops_per_s": flops / t if t > 0 else math.nan, "bytes_per_s": nbytes / t if t > 0 else math.nan,
                     "intensity": intensity, "attainable_flops_per_s": attainable,
                     "efficiency": (flops / t) / attainable if t > 0 and attainable > 0 else 0.0,
                     "bound": "compute" if intensity > peaks.ridge else "memory"})
    return Roofline(rows, peaks)

# %% [markdown]
# A wide linear layer at a large batch is compute-bound: 2·512·1024·1024 FLOPs on about 8 MiB
# moved is over 100 FLOPs per byte. The ReLU after it does no counted arithmetic and streams
# 4 MiB in and out: memory-bound. The digits CNN's convolutions at batch 64 sit in between.

# %%
roof = roofline(wide, torch.randn(512, 1024), peaks=peaks)
roof

# %%
assert [r["bound"] for r in roof.rows] == ["compute", "memory"]
roofline(cnn, x64, peaks=peaks)

# %% [markdown]
# ## 10. Energy per inference (GPU), and NVTX ranges
#
# NVML exposes a GPU's power draw and, on Volta and newer, a cumulative **energy counter** in
# millijoules. Energy per inference is the energy drawn while the model runs, **minus the idle
# baseline** the GPU would have drawn anyway, divided by the number of inferences. The run is
# split into blocks; the blocks' energies per inference give a t-interval. Without NVML (this
# course's CPU machines) `energy_per_inference` returns a result that says why there is no
# figure; it never estimates one from a TDP.

# %%
energy_per_inference(cnn, x64, seconds=1.0, idle_seconds=0.5)

# %% [markdown]
# **NVTX.** Nsight Systems and Nsight Compute show CUDA kernels on a timeline; NVTX ranges put
# names on it. `profile_layers(..., nvtx=True)` wraps each layer's forward in a range named after
# the layer; `tinybench.scenarios.run` marks each scenario run and `TorchSUT(..., nvtx=True)` each
# query; `nvtx_range(name)` (from module 00) wraps any block. On a machine without CUDA all of
# them are no-ops, so the same code runs everywhere. Then: `nsys profile -t cuda,nvtx python my_bench.py`.

# %%
from tinybench.timing import nvtx_range

with nvtx_range("demo"):
    profile_layers(cnn, x64, nvtx=True, repeat=3)

# %% [markdown]
# ## Summary
#
# - **Size** (`model_stats`): parameters, bytes, serialized size, counted FLOPs (2 per multiply-add).
# - **Time by layer** (`profile_layers`): hooks, events on CUDA, parts checked against the whole.
# - **Time by operator** (`profile_ops`) and **by Python function** (`profile_python`), with a
#   Chrome trace and a speedscope flame graph to open.
# - **Memory** (`measure_memory`): RSS peak from the kernel's high-water mark, Python allocations,
#   CUDA peak; tracemalloc does not see torch tensors.
# - **Utilisation** (`ResourceMonitor`): real psutil and NVML samples, absent (with the reason)
#   when a counter is not there.
# - **Pipelines** (`pipeline_profile`): the slowest stage bounds the throughput.
# - **Batch size** (`batch_sweep`, `max_batch_under_latency`): throughput against latency, and
#   out-of-memory as a recorded boundary.
# - **Roofline** (`measure_peaks`, `roofline`): measured peaks; intensity decides the bound.
# - **Energy** (`energy_per_inference`): NVML, idle baseline subtracted, with an interval.
