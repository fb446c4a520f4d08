"""Tests of the default workload: data, deterministic training, cache, variants."""
import warnings

import pytest
import torch

from tinybench.workloads import (CastWrapper, DigitsCNN, accuracy, cache_dir, default_workload, load_digits,
                                 load_model, make_variants, predict, prune_magnitude)


@pytest.fixture(scope="module")
def data():
    return load_digits()


@pytest.fixture(scope="module")
def trained(data):
    return load_model(data=data)


def test_digits_split_is_deterministic_and_stratified(data):
    assert len(data.y_train) + len(data.y_test) == 1797
    assert data.X_test.shape[1:] == (1, 8, 8) and data.X_test.dtype == torch.float32
    assert 0.0 <= float(data.X_train.min()) and float(data.X_train.max()) <= 1.0
    again = load_digits()
    assert torch.equal(again.y_test, data.y_test)
    assert set(data.y_test.tolist()) == set(range(10))
    assert not torch.equal(load_digits(seed=1).y_test, data.y_test)
    with pytest.raises(ValueError):
        load_digits(test_fraction=1.5)


def test_model_accuracy_and_cache(trained, data):
    assert accuracy(trained.model, data.X_test, data.y_test) >= 0.95
    assert trained.path.parent == cache_dir()
    again = load_model(data=data)
    assert again.from_cache
    for p, q in zip(trained.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(p, q)


def test_training_is_deterministic(data):
    a, b = load_model(seed=3, retrain=True, data=data), load_model(seed=3, retrain=True, data=data)
    assert not a.from_cache and a.train_seconds > 0
    for p, q in zip(a.model.state_dict().values(), b.model.state_dict().values()):
        assert torch.equal(p, q)


def test_corrupt_cache_is_rebuilt(trained, data):
    trained.path.write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="unreadable"):
        rebuilt = load_model(data=data)
    assert not rebuilt.from_cache
    assert accuracy(rebuilt.model, data.X_test, data.y_test) >= 0.95
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_model(data=data).from_cache


def test_variants_are_real_models_with_measured_accuracy(trained, data):
    variants = make_variants(trained.model)
    assert {"fp32", "int8-dynamic", "pruned-50"} <= set(variants)
    for v in variants.values():
        out = v.model(data.X_test[:5].to(v.device))
        assert out.shape == (5, 10) and out.dtype == torch.float32
        assert accuracy(v.model, data.X_test, data.y_test) >= 0.90, v
    int8 = variants["int8-dynamic"].model
    assert any("quantized" in type(m).__module__ for m in int8.modules())
    assert type(trained.model.classifier[1]) is torch.nn.Linear, "variants must not modify the baseline"


def test_pruning_zeroes_the_requested_fraction(trained):
    pruned = prune_magnitude(trained.model, 0.5)
    w = pruned.classifier[1].weight
    assert abs(float((w == 0).float().mean()) - 0.5) < 0.01
    assert float((trained.model.classifier[1].weight == 0).float().mean()) < 0.01
    with pytest.raises(ValueError):
        prune_magnitude(trained.model, 1.0)


def test_cast_wrapper_keeps_float32_interface():
    m = CastWrapper(DigitsCNN(), torch.bfloat16)
    assert m(torch.zeros(2, 1, 8, 8)).dtype == torch.float32


def test_predict_rejects_empty_input_and_nan_outputs(trained):
    with pytest.raises(ValueError, match="empty"):
        predict(trained.model, torch.zeros(0, 1, 8, 8))
    with pytest.raises(ValueError, match="NaN"):
        predict(lambda x: torch.full((len(x), 10), float("nan")), torch.zeros(3, 1, 8, 8))
    with pytest.raises(ValueError, match="labels"):
        accuracy(trained.model, torch.zeros(3, 1, 8, 8), torch.zeros(2, dtype=torch.long))


def test_default_workload_bundles_everything():
    wl = default_workload()
    assert wl.trained.from_cache and "fp32" in wl.variants and "Workload(" in repr(wl)


@pytest.mark.gpu
def test_variants_on_cuda(trained, data):
    variants = make_variants(trained.model, "cuda")
    assert variants["fp32"].device == "cuda" and "fp16" in variants
    assert accuracy(variants["fp16"].model, data.X_test.cuda(), data.y_test.cuda()) >= 0.90
