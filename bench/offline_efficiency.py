"""Offline throughput against the model's own batched throughput, in one run.

Three figures on the default workload (the digits CNN, fp32, CPU) at one batch size:
  1. the model alone: batch / `tinybench.measure(model, batch).median` (samples/s);
  2. tinybench's Offline scenario with `TorchSUT` (samples/s; the dataset is one tensor, so each call gets a
     contiguous view of it, no per-sample collation);
  3. MLPerf LoadGen's Offline scenario with the same `TorchSUT` (samples/s; its samples come as lists).
Goal (issue "The load generator at the limits"): (2) >= 90% of (1). Each figure is the best of `repeats` runs, the
three interleaved, so that drift hits them alike.
Run: `.venv/bin/python bench/offline_efficiency.py [batch] [repeats]`.
"""
import sys

import torch

from tinybench.scenarios import ArrayDataset, TestSettings, TorchSUT, run
from tinybench.display import format_seconds
from tinybench.env import environment
from tinybench.timing import measure
from tinybench.workloads import default_workload


def main(batch: int = 128, repeats: int = 3) -> None:
    env = environment()
    wl = default_workload()
    model = wl.trained.model.eval()
    X = wl.data.X_test
    reps = max(1, -(-4096 // len(X)))  # a few thousand samples: a run of ~0.1 s at the model's rate
    X = torch.cat([X] * reps).contiguous()
    y = wl.data.y_test.tolist() * reps
    print(f"machine: {env.get('cpu_model')}, {env.get('cpu_count')} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; {len(X)} samples, batch {batch}")
    sut, ds = TorchSUT(model), ArrayDataset(X, y)
    settings = TestSettings(scenario="Offline", offline_batch_size=batch, min_duration=1.0,
                            expected_qps=50_000, performance_sample_count=len(X))
    try:
        from tinybench.loadgen import run_loadgen
    except ImportError:
        run_loadgen = None
    best = {"model": 0.0, "tinybench": 0.0, "loadgen": 0.0}
    for _ in range(repeats):
        with torch.inference_mode():
            m = measure(model, X[:batch], min_time=0.5)
        best["model"] = max(best["model"], batch / m.median)
        r = run(sut, ds, settings)
        best["tinybench"] = max(best["tinybench"], r.samples_per_second)
        if run_loadgen is not None:
            lg = run_loadgen(sut, ds, settings, expected_qps=best["tinybench"] or 50_000)
            best["loadgen"] = max(best["loadgen"], lg.samples_per_second)
    print(f"model alone (measure, batch {batch}):  {best['model']:>10,.0f} samples/s "
          f"({format_seconds(batch / best['model'])} per batch)")
    print(f"tinybench Offline:                 {best['tinybench']:>10,.0f} samples/s "
          f"= {best['tinybench'] / best['model']:.0%} of the model alone")
    if run_loadgen is not None:
        print(f"MLPerf LoadGen Offline:            {best['loadgen']:>10,.0f} samples/s "
              f"= {best['loadgen'] / best['model']:.0%} of the model alone")
    else:
        print("MLPerf LoadGen Offline:            not installed (pip install mlcommons-loadgen)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
