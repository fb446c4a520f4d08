"""tinybench's load generator vs MLPerf LoadGen on the same Python SUTs, in one run.

SUTs: a no-op, and a numpy matmul of ~100 us. For each: the highest VALID Server rate each load
generator reaches (same settings: p99 under 10 ms, 1 s minimum duration, one worker thread, the same
peak search), each one's issue lateness (actual minus scheduled issue time, p50/p99) at that rate
(LoadGen's from its trace),
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


def lateness(r) -> str:
    lt = r.issue_lateness
    return f"{tb.format_seconds(np.quantile(lt, 0.5))} / {tb.format_seconds(np.quantile(lt, 0.99))}"


def main():
    ds = ArrayDataset(np.arange(256))
    kernel = tb.measure(A.__matmul__, A, min_time=0.2)
    print(f"machine: {tb.environment()['platform']}, {tb.environment()['cpu_count']} CPUs; "
          f"numpy 150x150 matmul: {tb.format_seconds(kernel.median)} per call\n")
    server = TestSettings(scenario="Server", target_qps=500, target_latency=0.01, min_duration=1.0)
    gens = (("tinybench", run), ("MLPerf LoadGen", run_loadgen))
    print(f"{'SUT':8s} {'load generator':15s} {'peak VALID qps':>15s} {'runs':>5s} {'SingleStream p90':>17s} "
          f"{'lateness p50 / p99 at own peak':>31s} {'lateness at common rate':>24s}")
    for name, sut in (("no-op", noop_sut), ("matmul", matmul_sut)):
        rows = []
        for gen, runner in gens:
            t0 = time.perf_counter()
            peak = find_peak_qps(sut, ds, server, tolerance=0.05, runner=runner, max_runs=24)
            ss = runner(sut, ds, TestSettings(scenario="SingleStream", min_duration=1.0))
            own = ""
            if peak.peak_qps:
                r = (run(sut, ds, server, target_qps=peak.peak_qps) if gen == "tinybench"
                     else run_loadgen(sut, ds, server, target_qps=peak.peak_qps, trace=True))
                own = lateness(r)
            rows.append((gen, peak, ss, own, time.perf_counter() - t0))
        common = min((p.peak_qps for _, p, *_ in rows if p.peak_qps), default=None)
        for (gen, peak, ss, own, secs), (_, runner) in zip(rows, gens):
            at_common = ""
            if common:
                r = (run(sut, ds, server, target_qps=common) if gen == "tinybench"
                     else run_loadgen(sut, ds, server, target_qps=common, trace=True))
                at_common = f"{lateness(r)} @ {common:,.0f}"
            pq = f"{peak.peak_qps:,.0f}" if peak.peak_qps else "none"
            print(f"{name:8s} {gen:15s} {pq:>15s} {len(peak.tried):>5d} {tb.format_seconds(ss.quantile(0.9)):>17s} "
                  f"{own:>31s} {at_common:>24s}   ({secs:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
