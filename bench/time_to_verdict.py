"""How long does it take to call a true 5% slowdown correctly, and how often does each approach cry wolf?

Kernels: busy-waits of 100 us (baseline) and 105 us (a true 5% slowdown), and the baseline against
itself (A/A). Approaches, each with its defaults, on the same kernels in one run:
  tinybench   measure() x2 (min_time 0.2 s) + compare() (ratio CI, alpha 0.05); and 8 interleaved short
              runs of each (min_time 0.03 s), compared with one median per run
  torch       torch.utils.benchmark.Timer.adaptive_autorange() x2 + a naive median comparison
              (any difference, and a 2% threshold)
  pyperf      two pyperf runs (4 worker processes x 5 values, to fit a CI budget) + `pyperf compare_to`
Prints: per approach, the share of repetitions with the right verdict, the share of A/A pairs flagged,
and the median wall time to a verdict. Run: `.venv/bin/python bench/time_to_verdict.py [reps]`.
"""
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch.utils.benchmark as tbench

import tinybench as tb
from kernels import KERNELS

HERE = Path(__file__).resolve().parent
BASE, SLOW = "spin 100 us", "spin 105 us"


def tinybench_verdict(name_a, name_b):
    a = tb.measure(KERNELS[name_a], min_time=0.2)
    b = tb.measure(KERNELS[name_b], min_time=0.2)
    v = tb.compare(a, b).verdict
    return {"slower": "slower", "faster": "faster"}.get(v, "same")


def tinybench_interleaved_verdict(name_a, name_b, rounds=8):
    runs_a, runs_b = [], []
    for _ in range(rounds):
        runs_a.append(tb.measure(KERNELS[name_a], min_time=0.03))
        runs_b.append(tb.measure(KERNELS[name_b], min_time=0.03))
    v = tb.compare(runs_a, runs_b).verdict
    return {"slower": "slower", "faster": "faster"}.get(v, "same")


def torch_verdicts(name_a, name_b):
    ma = tbench.Timer(stmt="f()", globals={"f": KERNELS[name_a]}).adaptive_autorange()
    mb = tbench.Timer(stmt="f()", globals={"f": KERNELS[name_b]}).adaptive_autorange()
    r = mb.median / ma.median
    naive = "slower" if r > 1 else "faster"
    threshold = "slower" if r > 1.02 else "faster" if r < 1 / 1.02 else "same"
    return naive, threshold


def pyperf_verdict(name_a, name_b):
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, name in enumerate((name_a, name_b)):
            out = Path(tmp) / f"{i}.json"
            subprocess.run([sys.executable, str(HERE / "_pyperf_worker.py"), "--kernel", name, "--name", "kernel",
                            "--processes", "4",
                            "--values", "5", "--warmups", "1", "--quiet", "-o", str(out)], check=True,
                           capture_output=True)
            files.append(str(out))
        text = subprocess.run([sys.executable, "-m", "pyperf", "compare_to", *files], capture_output=True,
                              text=True).stdout
    if "Not significant" in text:
        return "same"
    return "slower" if "slower" in text else "faster" if "faster" in text else "same"


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def main(reps=20, pyperf_reps=8):
    rows = {k: {"right": 0, "aa": 0, "walls": [], "n": 0, "n_aa": 0} for k in
            ("tinybench compare", "tinybench 8 interleaved runs", "torch naive median", "torch median, 2% threshold", "pyperf compare_to")}
    for rep in range(reps):
        v, wall = timed(tinybench_verdict, BASE, SLOW)
        aa, _ = timed(tinybench_verdict, BASE, BASE)
        r = rows["tinybench compare"]
        r["right"] += v == "slower"; r["aa"] += aa != "same"; r["walls"].append(wall); r["n"] += 1; r["n_aa"] += 1
        v, wall = timed(tinybench_interleaved_verdict, BASE, SLOW)
        aa = tinybench_interleaved_verdict(BASE, BASE)
        r = rows["tinybench 8 interleaved runs"]
        r["right"] += v == "slower"; r["aa"] += aa != "same"; r["walls"].append(wall); r["n"] += 1; r["n_aa"] += 1
        (naive, thr), wall = timed(torch_verdicts, BASE, SLOW)
        naive_aa, thr_aa = torch_verdicts(BASE, BASE)
        for key, verdict, verdict_aa in (("torch naive median", naive, naive_aa),
                                         ("torch median, 2% threshold", thr, thr_aa)):
            r = rows[key]
            r["right"] += verdict == "slower"; r["aa"] += verdict_aa != "same"; r["walls"].append(wall)
            r["n"] += 1; r["n_aa"] += 1
        if rep < pyperf_reps:
            v, wall = timed(pyperf_verdict, BASE, SLOW)
            aa = pyperf_verdict(BASE, BASE)
            r = rows["pyperf compare_to"]
            r["right"] += v == "slower"; r["aa"] += aa != "same"; r["walls"].append(wall); r["n"] += 1; r["n_aa"] += 1
        print(f"repetition {rep + 1}/{reps} done", file=sys.stderr, flush=True)
    env = tb.environment()
    print(f"machine: {env['platform']}, {env['cpu_count']} CPUs; true slowdown 5% (100 us vs 105 us busy-wait)\n")
    print(f"{'approach':30s} {'right':>9s} {'A/A flagged':>12s} {'median wall to verdict':>24s}")
    for name, r in rows.items():
        if not r["n"]:
            continue
        print(f"{name:30s} {r['right']:>4d}/{r['n']:<4d} {r['aa']:>7d}/{r['n_aa']:<4d} {statistics.median(r['walls']):>20.2f} s")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
