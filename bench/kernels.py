"""Kernels of known cost shared by the benchmark scripts (bench/ is on sys.path when a script here runs)."""
import time

import torch

torch.set_num_threads(1)
_A = torch.randn(256, 256)


def noop() -> None:
    "Nothing: what a harness reports for it is its own floor."


def spin(seconds: float) -> None:
    "Busy-wait on perf_counter for `seconds`: a CPU kernel whose true duration is known."
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def spin_10us() -> None:
    spin(10e-6)


def spin_1ms() -> None:
    spin(1e-3)


def spin_100us() -> None:
    spin(100e-6)


def spin_105us() -> None:
    spin(105e-6)


def matmul_256() -> torch.Tensor:
    return torch.mm(_A, _A)


KERNELS = {"no-op": noop, "spin 10 us": spin_10us, "spin 1 ms": spin_1ms, "matmul 256 (1 thread)": matmul_256,
           "spin 100 us": spin_100us, "spin 105 us": spin_105us}
TRUE_SECONDS = {"spin 10 us": 10e-6, "spin 1 ms": 1e-3, "spin 100 us": 100e-6, "spin 105 us": 105e-6}
