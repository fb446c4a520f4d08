"""Shared pytest setup: skip `gpu` tests without CUDA, keep the model cache inside the test session."""
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
