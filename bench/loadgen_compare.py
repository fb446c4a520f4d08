"""tinybench's load generator vs MLPerf LoadGen on the same Python SUTs, in one run.

SUTs: a no-op, and a numpy matmul of ~100 us. For each: the highest VALID Server rate each load
generator reaches (same settings: p99 under 10 ms, 1 s minimum duration, one worker thread, the same
peak search), tinybench's issue lateness (actual minus scheduled issue time, p50/p99) at that rate,
and the SingleStream p90 each reports. Run: `.venv/bin/python bench/loadgen_compare.py`.
"""
import time

import numpy as np

import tinybench as tb
from tinybench.loadgen import run_loadgen
from tinybench.scenarios import ArrayDataset, TestSettings, find_peak_qps, run

A = np.random.default_rng(0).standard_normal((150, 150))


def noop_sut(batch):
    return [0] * len(batch)


def matmul_sut(batch):
    for _ in batch:
        A @ A
    return [0] * len(batch)


def main():
    ds = ArrayDataset(np.arange(256))
    kernel = tb.measure(A.__matmul__, A, min_time=0.2)
    print(f"machine: {tb.environment()['platform']}, {tb.environment()['cpu_count']} CPUs; "
          f"numpy 150x150 matmul: {tb.format_seconds(kernel.median)} per call\n")
    server = TestSettings(scenario="Server", target_qps=500, target_latency=0.01, min_duration=1.0)
    print(f"{'SUT':10s} {'load generator':15s} {'peak VALID qps':>15s} {'runs':>5s} {'SingleStream p90':>17s} "
          f"{'issue lateness p50 / p99 at peak':>34s}")
    for name, sut in (("no-op", noop_sut), ("matmul", matmul_sut)):
        for gen, runner in (("tinybench", run), ("MLPerf LoadGen", run_loadgen)):
            t0 = time.perf_counter()
            peak = find_peak_qps(sut, ds, server, tolerance=0.05, runner=runner)
            ss = runner(sut, ds, TestSettings(scenario="SingleStream", min_duration=1.0))
            late = ""
            if gen == "tinybench" and peak.peak_qps:
                r = run(sut, ds, TestSettings(**{**server.to_dict(), "target_qps": peak.peak_qps}))
                lt = r.issue_lateness
                late = f"{tb.format_seconds(np.quantile(lt, 0.5))} / {tb.format_seconds(np.quantile(lt, 0.99))}"
            elif gen != "tinybench":
                late = "(not in LoadGen's logs)"
            pq = f"{peak.peak_qps:,.0f}" if peak.peak_qps else "none"
            print(f"{name:10s} {gen:15s} {pq:>15s} {len(peak.tried):>5d} {tb.format_seconds(ss.percentile(0.9)):>17s} "
                  f"{late:>34s}   ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
