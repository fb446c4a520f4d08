"""Shared pytest setup: skip `gpu` tests without CUDA, keep the model cache inside the test session, one torch
thread."""
import os

import pytest


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _model_cache(tmp_path_factory):
    """Tests train into their own cache folder, so they never depend on (or change) the user's cache."""
    old = os.environ.get("TINYBENCH_CACHE")
    os.environ["TINYBENCH_CACHE"] = str(tmp_path_factory.mktemp("tinybench-cache"))
    yield
    if old is None:
        os.environ.pop("TINYBENCH_CACHE", None)
    else:
        os.environ["TINYBENCH_CACHE"] = old


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Tests time torch on one intra-op thread. On this machine kind (2 cores, shared) a second thread turns every
    parallel op into a barrier that waits for whichever thread the OS descheduled: with other processes on the
    cores, Linear(64, 256) -> ReLU -> Linear(256, 10) at batch 1 took 11.8 ms at the median on 2 threads against
    15 us on one, and Linear(1024, 1024) at batch 512 took 44 ms against 10.8 ms (load average 4.4 on 2 cores).
    Timings that swing 1000x with the neighbours test nothing; the library's behaviour does not depend on the
    thread count."""
    import torch
    from threadpoolctl import threadpool_limits
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):  # numpy's BLAS too: 128x128 `x @ x` against three of them gave ratio CIs of 0.02-11
        yield
    torch.set_num_threads(threads)
