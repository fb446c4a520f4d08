"""tinybench's load generator vs MLPerf LoadGen on the same Python SUTs, in one run.

SUTs: a no-op, and a numpy matmul of ~100 us. For each SUT and each load generator, printed side by side:
  - the highest VALID Server rate (same settings: p99 under 10 ms, 1 s minimum duration, one worker thread, the same
    peak search, and the same validity rules: LoadGen's own checks AND tinybench's harness rule, p99 issue lateness
    under 10% of the latency bound, read for LoadGen from its trace);
  - issue lateness (actual minus scheduled issue time) p50 / p99 at a common rate (half the lower of the two peaks);
  - the SingleStream p90 each reports;
  - at 10, 25 and 50% of the SUT's capacity, how many of three runs each tinybench's own lateness invalidated.
tinybench runs with its default issuer (`issue_mode="hybrid"`) and, for the lateness, also `"precise"`.
Goals (issue "The load generator at the limits"): tinybench's peak >= LoadGen's on both SUTs, and its default p99
lateness <= LoadGen's at the common rate. Finishes in a few minutes: tinybench stops overloaded runs early.
Run: `.venv/bin/python bench/loadgen_compare.py`.
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


class FairLoadGen:
    "A LoadGen result judged by LoadGen's checks and by tinybench's harness rule (p99 issue lateness < 10% of the bound)."
    def __init__(self, r):
        self.r, self.settings = r, r.settings
        late = r.issue_lateness
        self.harness_ok = late is None or not late.size or np.quantile(late, 0.99) <= 0.1 * r.settings.target_latency
        self.reasons = r.reasons + ([] if self.harness_ok else ["p99 issue lateness over 10% of target_latency"])
        self.valid, self.qps = r.valid and self.harness_ok, r.qps

    def quantile(self, q):
        return self.r.quantile(q)


def loadgen_runner(sut, ds, settings):
    return FairLoadGen(run_loadgen(sut, ds, settings, trace=settings.scenario == "Server"))


def lateness(late) -> str:
    return f"{tb.format_seconds(np.quantile(late, 0.5))} / {tb.format_seconds(np.quantile(late, 0.99))}"


def below_half(sut, ds, server: TestSettings, peak: float) -> str:
    """Default issuer, 10%, 25% and 50% of the SUT's capacity (tinybench's peak), three runs each: how many the
    harness's own lateness invalidated (goal: none)."""
    invalid, runs = 0, 0
    for share in (0.1, 0.25, 0.5):
        for _ in range(3):
            r = run(sut, ds, server, target_qps=share * peak)
            runs += 1
            invalid += any("fell behind its schedule" in why for why in r.reasons)
    return f"runs at 10/25/50% of capacity invalidated by the harness's lateness: {invalid} of {runs}"


def main():
    t_start = time.perf_counter()
    ds = ArrayDataset(np.arange(256))
    env = tb.environment()
    kernel = tb.measure(A.__matmul__, A, min_time=0.2)
    print(f"machine: {env.get('cpu_model')}, {env['cpu_count']} CPUs; numpy 150x150 matmul: "
          f"{tb.format_seconds(kernel.median)} per call\n")
    server = TestSettings(scenario="Server", target_qps=1000, target_latency=0.01, min_duration=1.0)
    gens = (("tinybench", run), ("MLPerf LoadGen", loadgen_runner))
    print(f"{'SUT':8s} {'load generator':15s} {'peak VALID qps':>15s} {'runs':>5s} {'SingleStream p90':>17s}   (time)")
    for name, sut in (("no-op", noop_sut), ("matmul", matmul_sut)):
        peaks = {}
        for gen, runner in gens:
            t0 = time.perf_counter()
            peak = find_peak_qps(sut, ds, server, tolerance=0.05, runner=runner, max_runs=24)
            ss = runner(sut, ds, TestSettings(scenario="SingleStream", min_duration=1.0))
            peaks[gen] = peak.peak_qps
            pq = f"{peak.peak_qps:,.0f}" if peak.peak_qps else "none"
            print(f"{name:8s} {gen:15s} {pq:>15s} {len(peak.tried):>5d} {tb.format_seconds(ss.quantile(0.9)):>17s}"
                  f"   ({time.perf_counter() - t0:.0f} s)", flush=True)
        found = [p for p in peaks.values() if p]
        common = min(found) / 2 if found else 1000.0
        rows = [(f"tinybench {mode}", run(sut, ds, server, target_qps=common, issue_mode=mode).issue_lateness)
                for mode in ("hybrid", "precise", "sleep")]
        rows.append(("MLPerf LoadGen", run_loadgen(sut, ds, server, target_qps=common, trace=True).issue_lateness))
        print(f"{'':8s} issue lateness p50 / p99 at {common:,.0f} queries/s: "
              + ";  ".join(f"{g} {lateness(late)}" for g, late in rows), flush=True)
        if peaks["tinybench"]:
            print(f"{'':8s} " + below_half(sut, ds, server, peaks["tinybench"]), flush=True)
    print("\nissue lateness p50 / p99 on the no-op SUT at the issue's rates, three 2 s runs each, interleaved:")
    for rate in (1000, 20000):
        late = {g: [] for g in ("tinybench hybrid (default)", "tinybench precise", "MLPerf LoadGen")}
        at = TestSettings(scenario="Server", target_qps=rate, target_latency=0.01, min_duration=2.0)
        for _ in range(3):
            late["tinybench hybrid (default)"].append(run(noop_sut, ds, at, issue_mode="hybrid").issue_lateness)
            late["tinybench precise"].append(run(noop_sut, ds, at, issue_mode="precise").issue_lateness)
            late["MLPerf LoadGen"].append(run_loadgen(noop_sut, ds, at, trace=True).issue_lateness)
        print(f"  {rate:>6,} queries/s: " + ";  ".join(
            f"{g} p99 " + ", ".join(tb.format_seconds(np.quantile(x, 0.99)) for x in runs) for g, runs in late.items()),
            flush=True)
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
