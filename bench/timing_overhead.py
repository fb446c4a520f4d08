"""tinybench.measure vs timeit, torch.utils.benchmark and pyperf on the same kernels, in one run.

Prints, per harness and kernel: the reported median (seconds per call), its error against the known
duration (busy-waits only), the wall time the harness took, and the harness's per-sample floor: the
median it reports for a no-op timed one call per sample (what it adds to every sample it times).
Run: `make bench` (or `.venv/bin/python bench/timing_overhead.py`). Figures depend on the machine.
"""
import json
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

import torch.utils.benchmark as tbench

import tinybench as tb
from kernels import KERNELS, TRUE_SECONDS, noop

HERE = Path(__file__).resolve().parent


def run_tinybench(fn, one_loop=False):
    m = tb.measure(fn, loops=1 if one_loop else None, min_time=0.5)
    return m.median


def run_timeit(fn, one_loop=False):
    t = timeit.Timer(fn)
    if one_loop:
        return statistics.median(t.repeat(repeat=20000, number=1))
    number, _ = t.autorange()  # the timeit CLI's recipe: calibrate to >= 0.2 s per block, 5 blocks
    return statistics.median(t.repeat(repeat=5, number=number)) / number


def run_torch(fn, one_loop=False):
    timer = tbench.Timer(stmt="fn()", globals={"fn": fn})
    if one_loop:
        return statistics.median(timer.timeit(number=1).raw_times[0] for _ in range(20000))
    return timer.blocked_autorange(min_run_time=0.5).median


def run_pyperf(name, one_loop=False):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        cmd = [sys.executable, str(HERE / "_pyperf_worker.py"), "--kernel", name, "--fast", "--quiet", "-o", str(out)]
        if one_loop:
            cmd.append("--one-loop")
        subprocess.run(cmd, check=True, capture_output=True)
        import pyperf
        return pyperf.Benchmark.load(str(out)).median()


HARNESSES = {
    "tinybench": lambda name, one_loop=False: run_tinybench(KERNELS[name], one_loop),
    "timeit": lambda name, one_loop=False: run_timeit(KERNELS[name], one_loop),
    "torch.utils.benchmark": lambda name, one_loop=False: run_torch(KERNELS[name], one_loop),
    "pyperf": run_pyperf,
}


def main():
    rows, floors = [], {}
    for harness, run in HARNESSES.items():
        floors[harness] = run("no-op", one_loop=True)
        for name in KERNELS:
            t0 = time.perf_counter()
            median = run(name)
            wall = time.perf_counter() - t0
            truth = TRUE_SECONDS.get(name)
            rows.append((harness, name, median, None if truth is None else (median - truth) / truth, wall))
    print(f"machine: {tb.environment()['platform']}, {tb.environment()['cpu_count']} CPUs\n")
    print(f"{'harness':24s} {'kernel':24s} {'median':>12s} {'error':>9s} {'wall':>8s}")
    for harness, name, median, err, wall in rows:
        e = "" if err is None else f"{err:+.2%}"
        print(f"{harness:24s} {name:24s} {tb.format_seconds(median):>12s} {e:>9s} {wall:7.2f}s")
    print("\nper-sample floor (median reported for a no-op timed one call per sample):")
    for harness, floor in floors.items():
        print(f"  {harness:24s} {tb.format_seconds(floor):>10s}   {floor / floors['timeit']:.2f}x timeit")
    print(json.dumps({"rows": rows, "floors": floors}), file=sys.stderr)


if __name__ == "__main__":
    main()
