# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Workloads: the default model every module benchmarks
#
# Benchmarks need something real to run, and it must be available on every machine without a
# download. tinybench's default workload is scikit-learn's **digits** data set (1,797 8×8
# grey-scale images of handwritten digits, shipped inside scikit-learn) and a small CNN trained
# on it on the CPU in a few seconds, deterministically, then cached. Its optimised **variants**
# (dynamic INT8 quantization, magnitude pruning, reduced precision) are what later modules
# compare; each is a real model whose accuracy is measured, never assumed.

# %%
#| default_exp workloads

# %%
#| export
from __future__ import annotations

import copy
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from tinybench.checks import check_number
from tinybench.timing import resolve_device

# %% [markdown]
# ## The data
#
# Pixel values run from 0 to 16; we scale them to [0, 1] and split 75/25 with a fixed seed,
# stratified by class so that every digit is in both parts.

# %%
#| export
@dataclass(repr=False)
class Digits:
    "The digits split: float32 images (N, 1, 8, 8) in [0, 1] and int64 labels, train and test."
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    seed: int = 0

    def __repr__(self) -> str:
        return (f"Digits(train={len(self.y_train)}, test={len(self.y_test)}, shape={tuple(self.X_test.shape[1:])}, "
                f"seed={self.seed})")


def load_digits(seed: int = 0, test_fraction: float = 0.25) -> Digits:
    "scikit-learn's digits (shipped with the package, no download), split train/test by `seed`, stratified."
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    from sklearn.datasets import load_digits as _sk_load_digits
    from sklearn.model_selection import train_test_split
    d = _sk_load_digits()
    X = (d.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = d.target.astype(np.int64)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_fraction, random_state=seed, stratify=y)
    return Digits(torch.from_numpy(Xtr), torch.from_numpy(ytr), torch.from_numpy(Xte), torch.from_numpy(yte), seed)

# %%
data = load_digits()
data

# %% [markdown]
# ## The model
#
# Two 3×3 convolutions, a max-pool and two linear layers: about 40 thousand parameters, small
# enough to train in seconds, big enough that batching, quantization and threads matter.

# %%
#| export
class DigitsCNN(nn.Module):
    "A small CNN for 8x8 digits: conv(1->16) conv(16->32) maxpool, linear(512->64) linear(64->10)."
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

# %% [markdown]
# ## Deterministic training
#
# Seeds fix the initial weights and the order of the mini-batches; training runs on the CPU
# in float32 so the result does not depend on whether a GPU is present.

# %%
#| export
def train_digits_cnn(data: Digits, seed: int = 0, epochs: int = 15, batch_size: int = 32,
                     lr: float = 3e-3) -> tuple[DigitsCNN, float]:
    "Train a `DigitsCNN` on the CPU with Adam; returns the model (eval mode) and the training time in seconds."
    if not isinstance(data, Digits):
        raise TypeError(f"data must be a Digits split (load_digits(seed)), got {type(data).__name__}")
    seed = check_number(seed, "seed", integer=True, nonnegative=True)
    epochs = check_number(epochs, "epochs", integer=True, lo=1, hint="passes over the training set")
    batch_size = check_number(batch_size, "batch_size", integer=True, lo=1, hint="samples per step")
    lr = check_number(lr, "lr", positive=True, hint="Adam's learning rate, 3e-3")
    torch.manual_seed(seed)
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    n = len(data.y_train)
    t0 = time.perf_counter()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(data.X_train[idx]), data.y_train[idx])
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - t0
    return model.eval(), seconds


@torch.inference_mode()
def predict(model: Callable[[torch.Tensor], torch.Tensor], X: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    "Class predictions of `model` on `X`, in batches; raises ValueError on empty input or NaN/Inf logits."
    if len(X) == 0:
        raise ValueError("predict() got an empty input: nothing to classify")
    preds = []
    for i in range(0, len(X), batch_size):
        logits = model(X[i:i + batch_size]).float()
        if not torch.isfinite(logits).all():
            raise ValueError(f"the model produced NaN or Inf outputs on samples {i}..{i + len(logits) - 1}")
        preds.append(logits.argmax(dim=1))
    return torch.cat(preds)


def accuracy(model: Callable[[torch.Tensor], torch.Tensor], X: torch.Tensor, y: torch.Tensor) -> float:
    "Fraction of samples in `X` that `model` classifies as `y` (0..1)."
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} samples but y has {len(y)} labels")
    return float((predict(model, X) == y).float().mean())

# %% [markdown]
# ## The cache
#
# Training takes seconds, and every notebook and test wants the model, so it is cached in the
# user's cache folder (`$TINYBENCH_CACHE`, else `$XDG_CACHE_HOME/tinybench`, else
# `~/.cache/tinybench`). The file is written atomically (temporary file, then rename) and loaded
# with `weights_only=True`; a corrupt or incompatible cache is rebuilt, not fatal.

# %%
#| export
def cache_dir() -> Path:
    "Folder for cached models: $TINYBENCH_CACHE, else $XDG_CACHE_HOME/tinybench, else ~/.cache/tinybench."
    env = os.environ.get("TINYBENCH_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tinybench"


@dataclass(repr=False)
class TrainedModel:
    "A trained model with where it came from: seed, cache path, whether it was loaded, training seconds."
    model: nn.Module
    seed: int
    path: Path
    from_cache: bool
    train_seconds: float | None = None

    def __repr__(self) -> str:
        src = "cache" if self.from_cache else f"trained in {self.train_seconds:.1f} s"
        return f"TrainedModel({type(self.model).__name__}, seed={self.seed}, {src}, path={str(self.path)!r})"


_MODEL_VERSION = "v1"


def load_model(seed: int = 0, retrain: bool = False, data: Digits | None = None) -> TrainedModel:
    "The default `DigitsCNN`, from the cache when possible; trained (and cached) otherwise."
    seed = check_number(seed, "seed", integer=True, nonnegative=True)
    if data is not None and not isinstance(data, Digits):
        raise TypeError(f"data must be a Digits split (load_digits(seed)) or None, got {type(data).__name__}")
    path = cache_dir() / f"digits_cnn_{_MODEL_VERSION}_seed{seed}.pt"
    if path.exists() and not retrain:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model = DigitsCNN()
            model.load_state_dict(state)
            return TrainedModel(model.eval(), seed, path, from_cache=True)
        except Exception as e:  # any unreadable cache is rebuilt below, with a warning that says why
            warnings.warn(f"tinybench: cached model {path} is unreadable ({type(e).__name__}: {e}); retraining",
                          stacklevel=2)
    model, seconds = train_digits_cnn(data if data is not None else load_digits(seed), seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)
    return TrainedModel(model, seed, path, from_cache=False, train_seconds=seconds)

# %%
trained = load_model()
print(trained, f"test accuracy {accuracy(trained.model, data.X_test, data.y_test):.3f}")
assert accuracy(trained.model, data.X_test, data.y_test) >= 0.95

# %% [markdown]
# ## Variants
#
# Optimisations trade accuracy for speed or size; to compare them fairly each variant must be
# a real, runnable model whose accuracy we measure:
#
# - **`fp32`**: the baseline.
# - **`int8-dynamic`**: `torch.ao.quantization.quantize_dynamic` stores the linear layers' weights
#   in INT8 and quantizes activations on the fly (convolutions stay float: dynamic quantization
#   covers linear and recurrent layers).
# - **`pruned-50`**: L1 (magnitude) unstructured pruning of half the weights of every conv and
#   linear layer, made permanent. Zeros do not make dense kernels faster: a lesson in itself.
# - **`bf16`** on CPU / **`fp16`** on CUDA: the model in reduced precision, wrapped so that it still
#   takes and returns float32.

# %%
#| export
class CastWrapper(nn.Module):
    "Runs `model` in `dtype` while taking and returning float32 tensors."
    def __init__(self, model: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.model, self.dtype = model.to(dtype), dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.to(self.dtype)).float()


@dataclass(repr=False)
class Variant:
    "One runnable version of a model: a name, the module, its device, and what was done to it."
    name: str
    model: nn.Module
    device: str
    description: str

    def __repr__(self) -> str:
        return f"Variant({self.name!r}, device={self.device!r}: {self.description})"


def _check_module(model: nn.Module) -> None:
    "TypeError unless `model` is a torch nn.Module."
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch nn.Module, got {type(model).__name__} {model!r:.60}")


def quantize_int8(model: nn.Module) -> nn.Module:
    "Dynamic INT8 quantization of the linear layers (CPU only)."
    from torch.ao.quantization import quantize_dynamic
    _check_module(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao announces its move to torchao; the API still works
        return quantize_dynamic(copy.deepcopy(model).cpu().eval(), {nn.Linear}, dtype=torch.qint8)


def prune_magnitude(model: nn.Module, amount: float = 0.5) -> nn.Module:
    "A copy of `model` with the smallest-|w| `amount` of each conv/linear weight set to zero (made permanent)."
    from torch.nn.utils import prune
    _check_module(model)
    amount = check_number(amount, "amount", lo=0, hint="the fraction of weights set to zero")
    if not amount < 1:
        raise ValueError(f"amount must be in [0, 1), got {amount}: pruning every weight leaves no model")
    pruned = copy.deepcopy(model)
    for module in pruned.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            prune.l1_unstructured(module, "weight", amount=amount)
            prune.remove(module, "weight")
    return pruned.eval()


def reduced_precision_dtype(device: str) -> torch.dtype | None:
    "float16 on CUDA, bfloat16 on a CPU whose torch build supports it, else None."
    if device.startswith("cuda"):
        return torch.float16
    try:
        nn.Linear(4, 4).to(torch.bfloat16)(torch.ones(1, 4, dtype=torch.bfloat16))
        return torch.bfloat16
    except RuntimeError:
        return None


def make_variants(model: nn.Module, device: str = "cpu") -> dict[str, Variant]:
    "The baseline and its optimised variants on `device` (INT8 stays on the CPU: it has no CUDA kernels)."
    _check_module(model)
    device = resolve_device(device, ())  # 'cpu' or an available 'cuda[:i]', else a ValueError naming device
    base = copy.deepcopy(model).eval()
    out = {"fp32": Variant("fp32", base.to(device), device, "float32 baseline")}
    out["int8-dynamic"] = Variant("int8-dynamic", quantize_int8(base), "cpu",
                                  "dynamic INT8 quantization of linear layers (torch.ao)")
    out["pruned-50"] = Variant("pruned-50", prune_magnitude(base, 0.5).to(device), device,
                               "50% L1 unstructured pruning of conv and linear weights")
    dtype = reduced_precision_dtype(device)
    if dtype is not None:
        name = {torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]
        out[name] = Variant(name, CastWrapper(copy.deepcopy(base), dtype).to(device).eval(), device,
                            f"weights and activations in {name}, float32 in and out")
    return out

# %%
variants = make_variants(trained.model)
for v in variants.values():
    acc = accuracy(v.model, data.X_test.to(v.device), data.y_test.to(v.device))
    print(f"{v.name:13s} accuracy {acc:.3f}   {v.description}")
    assert acc > 0.9

# %% [markdown]
# ## The default workload in one call
#
# `default_workload()` bundles the data, the trained model and its variants: what `tinybench run`,
# the notebooks and the tests use.

# %%
#| export
@dataclass(repr=False)
class Workload:
    "The default workload: digits data, the trained CNN, and its variants by name."
    data: Digits
    trained: TrainedModel
    variants: dict[str, Variant] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Workload({self.data!r}, {self.trained!r}, variants={list(self.variants)})"


def default_workload(device: str = "cpu", seed: int = 0) -> Workload:
    "Digits + the cached `DigitsCNN` + its variants on `device`."
    device = resolve_device(device, ())  # checked before the model is loaded (or trained)
    seed = check_number(seed, "seed", integer=True, nonnegative=True)
    data = load_digits(seed)
    trained = load_model(seed, data=data)
    return Workload(data, trained, make_variants(trained.model, device))

# %%
wl = default_workload()
wl

# %% [markdown]
# ## A SUT that holds the GIL
#
# Real serving code often does per-sample work in Python before the model: decoding, resizing,
# tokenising. `DigitsPythonPipeline` is such a SUT: it resizes each 8×8 image to 32×32 with a
# bilinear interpolation written in plain Python (the GIL is held throughout), pools it back to
# 8×8 in torch, and runs the CNN on the batch. Module 02 uses it to show why threads do not scale
# such a SUT and processes do. It builds itself from the cache (`load_model`), so a worker process
# can create its own copy from the class alone.

# %%
#| export
def resize_bilinear_python(image: Sequence[Sequence[float]], size: int) -> list[list[float]]:
    "Bilinear resize of a 2-D image (nested lists) to size × size, in plain Python (deliberately: it holds the GIL)."
    h, w = len(image), len(image[0])
    out = []
    for i in range(size):
        y = i * (h - 1) / (size - 1)
        y0 = int(y)
        y1, fy = min(y0 + 1, h - 1), y - y0
        row = []
        for j in range(size):
            x = j * (w - 1) / (size - 1)
            x0 = int(x)
            x1, fx = min(x0 + 1, w - 1), x - x0
            top = image[y0][x0] * (1 - fx) + image[y0][x1] * fx
            bottom = image[y1][x0] * (1 - fx) + image[y1][x1] * fx
            row.append(top * (1 - fy) + bottom * fy)
        out.append(row)
    return out


class DigitsPythonPipeline:
    """A SUT (list of (1, 8, 8) samples → (n, 10) logits) with per-sample Python preprocessing: a bilinear resize to
    `size` × `size` in plain Python, average-pooled back to 8 × 8, then the cached DigitsCNN on the batch."""
    def __init__(self, size: int = 32, seed: int = 0):
        if size < 8 or size % 8:
            raise ValueError(f"size must be a multiple of 8, at least 8, got {size}")
        self.size, self.model = size, load_model(seed).model.eval()

    def __call__(self, batch: list) -> torch.Tensor:
        big = [resize_bilinear_python(x[0].tolist(), self.size) for x in batch]
        x = torch.nn.functional.avg_pool2d(torch.tensor(big).unsqueeze(1), self.size // 8)
        with torch.inference_mode():
            return self.model(x)

    def __repr__(self) -> str:
        return f"DigitsPythonPipeline(Python bilinear resize to {self.size}x{self.size}, then DigitsCNN)"

# %%
pipe = DigitsPythonPipeline()
out = pipe(list(data.X_test[:64]))
assert (out.argmax(1) == data.y_test[:64]).float().mean() > 0.85, "resize and pool back keep the digits readable"
assert resize_bilinear_python([[0.0, 1.0], [2.0, 3.0]], 3) == [[0.0, 0.5, 1.0], [1.0, 1.5, 2.0], [2.0, 2.5, 3.0]]
pipe
