"""What the suite's resource sampling costs the timing it accompanies, measured in one run.

The same model is timed under two names, round-robin (`tinybench.suite.time_interleaved`, as the suite times):
"plain", and "monitored", whose every timed block runs inside a `ResourceMonitor` exactly as `BenchmarkSuite` does
(a thread sampling CPU %, RSS and, with NVML, the GPU every `interval` seconds). The rounds are the replications:
the time ratio monitored/plain is the geometric mean of the per-round ratios of medians, with its 95% t-interval
(`compare_with_baseline`). Two workloads: a matmul stack (torch releases the GIL while it computes) and a small
MLP at batch 1 (Python-bound, where a sampling thread competes for the GIL: the worst case).
Run: `.venv/bin/python bench/resource_overhead.py [interval_s] [rounds]`. Figures depend on the machine.

Measured on the 2-core shared CPU box (torch 2.13 CPU, 2 threads, load average 3.8 from other jobs; interval 0.1 s,
the suite's default; 20 rounds of 0.1 s per name): matmul ratio 0.999 (95% CI 0.981-1.018), MLP at batch 1 0.999
(0.990-1.008): no overhead detectable at about 1-2%. At interval 0.05 s: MLP 0.994 (0.987-1.002); the matmul's
interval was 0.23-1.32 in that run (one disturbed round): rerun when the machine is quieter.
A second run at load average 8.9 (OMP_WAIT_POLICY=PASSIVE): matmul 1.002 (0.992-1.012), MLP 1.004 (0.975-1.033).
"""
import contextlib
import sys

import torch
from torch import nn

from tinybench.monitor import ResourceMonitor
from tinybench.suite import compare_with_baseline, time_interleaved


def workloads():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(384, 384, generator=g) / 384**0.5
    x = torch.randn(32, 384, generator=g)

    def matmul():
        y = x
        for _ in range(4):
            y = y @ w
        return y
    mlp = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)).eval()
    x1 = torch.randn(1, 64, generator=g)

    def small():
        with torch.inference_mode():
            return mlp(x1)
    return {"matmul 4x(32x384 @ 384x384)": matmul, "MLP 64-64-10 @ batch 1": small}


def main(interval: float = 0.1, rounds: int = 20) -> None:
    print(f"torch threads {torch.get_num_threads()}, interval {interval} s, {rounds} rounds of 0.1 s per name")
    for label, fn in workloads().items():
        def around(name):
            return ResourceMonitor(interval=interval, gpu=False) if name == "monitored" else contextlib.nullcontext()
        timings, errors = time_interleaved({"plain": fn, "monitored": fn}, batch=1, rounds=rounds,
                                           min_time=0.1 * rounds, around=around)
        assert not errors, errors
        (vc,) = compare_with_baseline({n: t.round_medians for n, t in timings.items()}, "plain")
        print(f"{label:30s} plain {timings['plain'].median * 1e6:9.1f} us  monitored "
              f"{timings['monitored'].median * 1e6:9.1f} us  ratio monitored/plain {vc.ratio:.3f} "
              f"({vc.ratio_ci[0]:.3f}-{vc.ratio_ci[1]:.3f})")


if __name__ == "__main__":
    main(*(float(a) if i == 0 else int(a) for i, a in enumerate(sys.argv[1:])))
