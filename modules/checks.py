# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Checks: clear errors at the boundary
#
# A support notebook (`tinybench.checks`), introduced in module 00 and used by every module. A
# benchmark that accepts a wrong argument silently returns a wrong number; one that fails deep inside
# returns a traceback nobody can act on. Every public function of tinybench checks its arguments at
# the boundary with these helpers, so a wrong input gives one kind of error everywhere: a `TypeError`
# for something that is not a number, a `ValueError` for a number outside its range, each naming the
# argument, the value and the fix.

# %%
#| default_exp checks

# %%
#| export
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

# %% [markdown]
# Numbers: the kind (integer or real), the sign, finiteness and bounds, in one call.

# %%
#| export
def _kind(positive: bool, nonnegative: bool, integer: bool, finite: bool, lo: float | None,
          hi: float | None) -> str:
    "What `check_number` asks for, in words: 'a positive finite number', 'an integer >= 2', ..."
    noun = "integer" if integer else "number"
    sign = "positive " if positive else "non-negative " if nonnegative else ""
    words = f"{sign}{'finite ' if finite and not integer else ''}{noun}"
    words = ("an " if words[0] in "aeiou" else "a ") + words
    if lo is not None and hi is not None:
        return f"{words} in [{lo:g}, {hi:g}]"
    if lo is not None:
        return f"{words} >= {lo:g}"
    return f"{words} <= {hi:g}" if hi is not None else words


def check_number(value: Any, name: str, *, positive: bool = False, nonnegative: bool = False,
                 integer: bool = False, finite: bool = True, lo: float | None = None, hi: float | None = None,
                 hint: str = "") -> Any:
    """`value` as a float (an int with `integer=True`) if it is a real number meeting every condition, else an error.

    TypeError when `value` is not a real number (a string, None, a bool); ValueError when it is NaN, infinite
    (unless `finite=False`), not an integer with `integer=True` (3.7 servers), <= 0 with `positive`, < 0 with
    `nonnegative`, or outside [`lo`, `hi`]. `hint` ("0.05 for 5%") is added to the message to say how to fix it."""
    want = _kind(positive, nonnegative, integer, finite, lo, hi)
    extra = f" ({hint})" if hint else ""
    is_int = isinstance(value, numbers.Integral) or (isinstance(value, np.integer))
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {want}{extra}, got {value!r:.60} of type {type(value).__name__}")
    if integer and not is_int:
        if not (math.isfinite(value) and float(value).is_integer()):
            raise ValueError(f"{name} must be {want}{extra}, got {value!r}")
    v = int(value) if integer else float(value)
    bad = (math.isnan(v) or (finite and math.isinf(v)) or (positive and not v > 0) or (nonnegative and not v >= 0)
           or (lo is not None and not v >= lo) or (hi is not None and not v <= hi))
    if bad:
        raise ValueError(f"{name} must be {want}{extra}, got {value!r}")
    return v


def check_fraction(value: Any, name: str, *, hint: str = "") -> float:
    "`value` as a float if it is strictly between 0 and 1 (a probability, a confidence level, a split), else an error."
    v = check_number(value, name, hint=hint)
    if not 0 < v < 1:
        extra = f" ({hint})" if hint else ""
        pct = f"; fractions, not percentages: for {v:g}% pass {v / 100:g}" if 1 < v <= 100 else ""
        raise ValueError(f"{name} must be strictly between 0 and 1{extra}, got {value!r}{pct}")
    return v


def check_level(level: Any, name: str = "level") -> float:
    "A confidence level as a float strictly between 0 and 1 (0.95 for a 95% interval), else an error."
    return check_fraction(level, name, hint="0.95 for a 95% interval")


# %%
assert check_number(3, "c", integer=True, positive=True) == 3
assert check_level(0.95) == 0.95

# %% [markdown]
# Quantiles are fractions everywhere in tinybench (module 00, section 5): 0.99 for p99, never 99.

# %%
#| export
def check_quantile(q: Any, name: str = "q", *, open_interval: bool = False) -> float:
    "`q` as a float if it is a quantile fraction in [0, 1] ((0, 1) with `open_interval`), else a clear error."
    if isinstance(q, bool) or not isinstance(q, numbers.Real):
        raise TypeError(f"{name} must be a number (a fraction: 0.99 for p99), got {q!r} of type {type(q).__name__}")
    q = float(q)
    inside = (0 < q < 1) if open_interval else (0 <= q <= 1)
    if not inside:
        hint = f"; quantiles are fractions: for p{q:g} pass {q / 100:g}" if 1 < q <= 100 else ""
        bounds = "strictly between 0 and 1" if open_interval else "in [0, 1]"
        raise ValueError(f"{name} must be {bounds}, got {q!r}{hint}")
    return q

# %%
assert check_quantile(0.5) == 0.5

# %% [markdown]
# A model's outputs need the same care: the argmax of a row of NaNs is 0, so NaN outputs would count as
# correct predictions of class 0. `finite_rows` says, per output, whether it holds only finite numbers;
# the scenarios and the A/B test count an output with a NaN or an infinity as an error of its query.

# %%
#| export
NUMPY_DTYPES = frozenset({"torch.float16", "torch.float32", "torch.float64", "torch.complex64", "torch.complex128"})
"The floating torch dtypes (as `str(dtype)`) that numpy has too: `.numpy()` shares their memory."


def finite_rows(out: Any) -> np.ndarray | None:
    """Per output (first axis of `out`, a tensor, array or list of outputs): True when it holds no NaN or infinity.

    None when `out` has no first axis (a scalar): nothing to check per row. Non-numeric outputs (text) count as finite."""
    if hasattr(out, "detach") and hasattr(out, "isfinite"):  # a torch tensor: one vectorised check
        if out.ndim == 0:
            return None
        if not (out.is_floating_point() or out.is_complex()):
            return np.ones(len(out), dtype=bool)
        if out.device.type == "cpu" and str(out.dtype) in NUMPY_DTYPES:  # numpy on the same memory: no torch op
            return finite_rows(out.detach().resolve_conj().resolve_neg().numpy())
        flat = out.detach().reshape(len(out), -1)
        if bool(flat.isfinite().all()):  # the usual case in one reduction: no per-row vector to build and copy
            return np.ones(len(out), dtype=bool)
        return flat.isfinite().all(dim=1).cpu().numpy()
    if isinstance(out, np.ndarray):
        if out.ndim == 0:
            return None
        if out.dtype.kind not in "fc":
            return np.ones(len(out), dtype=bool)
        return np.isfinite(out.reshape(len(out), -1)).all(axis=1)
    if isinstance(out, (list, tuple)):
        return np.array([all_finite(o) for o in out], dtype=bool)
    return None


def all_finite(o: Any) -> bool:
    "True unless the output `o` (a number, array, tensor or list of numbers) holds a NaN or an infinity."
    if hasattr(o, "detach") and hasattr(o, "isfinite"):
        return bool(o.detach().isfinite().all()) if (o.is_floating_point() or o.is_complex()) else True
    if isinstance(o, numbers.Number):
        return math.isfinite(abs(o))
    try:
        arr = np.asarray(o)
    except (TypeError, ValueError):  # ragged or exotic: not numbers we can check
        return True
    return bool(np.isfinite(arr).all()) if arr.dtype.kind in "fc" else True

# %%
assert finite_rows(np.array([[0.1, 0.9], [np.nan, 1.0]])).tolist() == [True, False]
import torch

assert finite_rows(torch.tensor([[1.0], [float("inf")]])).tolist() == [True, False]
assert finite_rows([1.0, float("nan"), 3]).tolist() == [True, False, True] and finite_rows(["cat", "dog"]).all()

