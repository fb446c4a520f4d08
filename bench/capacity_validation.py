"""Queueing predictions against the measured Server scenario, on a real SUT, in one run.

SUT: a 256x256 numpy matmul per query on one BLAS thread, one worker. For each utilisation, `repeats` times:
measure the Server scenario's p99 at that rate, and predict it by simulation (tinybench.capacity.simulate_queue)
from (a) the service times of a SingleStream run and (b) the service times of the Server run itself.
Prints measured/predicted ratios.
Run: `.venv/bin/python bench/capacity_validation.py [repeats]`.
"""
import sys

import numpy as np
from threadpoolctl import threadpool_limits

from tinybench.capacity import simulate_queue
from tinybench.scenarios import ArrayDataset, run
from tinybench.display import format_seconds
from tinybench.env import environment

M = np.random.default_rng(0).standard_normal((256, 256))
DS = ArrayDataset(np.arange(64))


def matmul_sut(batch):
    for _ in batch:
        M @ M
    return [0] * len(batch)


def main(repeats: int = 3) -> None:
    env = environment()
    print(f"machine: {env['cpu_model']}, {env['cpu_count']} CPUs; one worker, one BLAS thread\n")
    print(f"{'rho':>4s} {'measured p99':>13s} {'pred (SingleStream)':>20s} {'ratio':>6s} {'pred (in-run)':>14s} {'ratio':>6s}")
    with threadpool_limits(1):
        for rho in (0.3, 0.5, 0.6, 0.7):
            for _ in range(repeats):
                service = run(matmul_sut, DS, scenario="SingleStream", min_duration=1.0).latencies
                rate = rho / service.mean()
                m = run(matmul_sut, DS, scenario="Server", target_qps=rate, min_duration=3.0, target_latency=1.0)
                in_run = m.completed - m.started
                p_ss = simulate_queue(rate, service, n=200_000).quantile(0.99)
                p_in = simulate_queue(rate, in_run, n=200_000).quantile(0.99)
                meas = m.quantile(0.99)
                print(f"{rho:4.1f} {format_seconds(meas):>13s} {format_seconds(p_ss):>20s} {meas / p_ss:6.2f} "
                      f"{format_seconds(p_in):>14s} {meas / p_in:6.2f}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
