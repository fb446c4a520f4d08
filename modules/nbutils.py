# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Notebook utilities
#
# A support notebook (`tinybench.nbutils`) for the course notebooks themselves. Each module
# notebook has exercises whose functions later cells use. In the student version those functions
# raise `NotImplementedError` until the student writes them, and a first attempt may raise or
# return something wrong. So that the rest of the notebook still runs (and teaches), and so that
# one mistake cannot cascade into later cells (a wrong arrival schedule that makes a load test
# run for ten minutes, say), the cell after each exercise's graded test keeps the student's
# function only if it runs on a small probe and returns what tinybench's reference returns there;
# otherwise it swaps in the reference and warns why. The graded tests always check the student's
# own function, which they call before the swap.

# %%
#| default_exp nbutils

# %%
#| export
from __future__ import annotations

import importlib
import warnings
from typing import Any, Callable


def same_result(a: Any, b: Any, rtol: float = 1e-6) -> bool:
    """Whether two exercise results agree: numbers and arrays to `rtol` (NaN equals NaN), sequences and dicts item by
    item, strings exactly; objects of other kinds (figures, modules) are not compared and count as the same."""
    import numpy as np
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_result(a[k], b[k], rtol) for k in a)
    if isinstance(a, (int, float, np.number, np.ndarray)) or isinstance(b, (int, float, np.number, np.ndarray)):
        try:
            x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        except (TypeError, ValueError):
            return False
        return x.shape == y.shape and bool(np.allclose(x, y, rtol=rtol, atol=0.0, equal_nan=True))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(same_result(x, y, rtol) for x, y in zip(a, b))
    return True


def reference_fallback(module: str) -> Callable[..., Callable]:
    """`use(fn, *probe, compare=True)`: the student's `fn` if it works on the probe, else `module`'s reference `fn`.

    Later cells use the student's function only if calling it on `probe` returns, and (with `compare`) returns what
    the reference returns on the same probe. Otherwise they get the reference, with a warning that says why: the
    exercise is still open (NotImplementedError), it raised, or it returned something else. The graded tests always
    check the student's own function: they run before this swap."""
    def use(fn: Callable, *probe: Any, compare: bool = True) -> Callable:
        reference = getattr(importlib.import_module(module), fn.__name__)
        where = f"the cells below use {module}.{fn.__name__} instead"
        try:
            got = fn(*probe)
        except NotImplementedError:
            warnings.warn(f"exercise `{fn.__name__}` is still open: {where}", stacklevel=2)
            return reference
        except Exception as e:  # any error of a student's function: fall back, and say which
            warnings.warn(f"`{fn.__name__}` raised {type(e).__name__}: {e} (on the probe {_show(probe)}): {where}",
                          stacklevel=2)
            return reference
        if compare and fn is not reference:
            want = reference(*probe)
            if not same_result(got, want):
                warnings.warn(f"`{fn.__name__}{_show(probe)}` returned {_show(got)}, the reference returns "
                              f"{_show(want)}: {where}; check your function against its test above", stacklevel=2)
                return reference
        return fn
    return use


def assert_own(fn: Callable, module: str) -> None:
    """AssertionError unless `fn` is the notebook's own code: not `module`'s (tinybench's) reference function, and not a
    function that calls or imports it. Refused: `fn.__module__` a tinybench module; `tinybench` named in `fn`'s source
    (an import, `tinybench.x.f(...)`); a global that `fn` uses (its own code, nested functions included) that is a
    tinybench module or tinybench's function of the same name (`from tinybench.timing import f as ref`)."""
    import inspect
    import types
    name = getattr(fn, "__name__", repr(fn))
    why = None
    if str(getattr(fn, "__module__", "")).split(".")[0] == "tinybench":
        why = f"it is {fn.__module__}.{name} itself"
    else:
        try:
            source = inspect.getsource(fn)
        except (OSError, TypeError):
            source = ""
        code = [line.split("#")[0] for line in source.splitlines()]
        if any("tinybench" in line for line in code):
            why = "its code names tinybench"
        else:
            names, todo = set(), [getattr(fn, "__code__", None)]
            while todo:
                co = todo.pop()
                if co is not None:
                    names.update(co.co_names)
                    todo += [c for c in co.co_consts if isinstance(c, types.CodeType)]
            glb = getattr(fn, "__globals__", {})
            for n in sorted(names):
                obj = glb.get(n)
                if isinstance(obj, types.ModuleType) and obj.__name__.split(".")[0] == "tinybench":
                    why = f"it uses the module {obj.__name__} (as `{n}`)"
                elif (callable(obj) and getattr(obj, "__module__", None) == module
                      and getattr(obj, "__name__", None) == name):
                    why = f"it calls {module}.{name} (as `{n}`)"
                if why:
                    break
    assert why is None, (f"`{name}` must be your own code, but {why}: write it without tinybench's reference "
                         f"({module}.{name}); see the integrity policy")


def _show(x: Any, limit: int = 80) -> str:
    "A short repr for a warning (`limit` characters at most)."
    text = repr(x)
    return text if len(text) <= limit else text[:limit - 1] + "…"

# %%
use = reference_fallback("tinybench.timing")
def median_iqr(samples):
    raise NotImplementedError()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    fallback = use(median_iqr, [1.0])
assert fallback.__module__ == "tinybench.timing" and "still open" in str(caught[0].message)

import statistics
def median_iqr(samples):  # a realistic attempt that fails on one sample
    q1, q2, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return q2, q3 - q1
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert use(median_iqr, [1.0]).__module__ == "tinybench.timing" and "raised StatisticsError" in str(caught[0].message)

def median_iqr(samples):  # returns, but the wrong thing
    return 0.0, 0.0
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert use(median_iqr, [1.0, 2.0, 4.0]).__module__ == "tinybench.timing"
    assert "returned (0.0, 0.0), the reference returns (2.0, 1.5)" in str(caught[0].message)

def median_iqr(samples):  # right: kept
    import numpy as np
    q1, q2, q3 = np.percentile(samples, [25, 50, 75])
    return float(q2), float(q3 - q1)
assert use(median_iqr, [1.0, 2.0, 4.0]) is median_iqr
assert same_result((1.0, [2.0, float("nan")]), (1.0 + 1e-9, [2.0, float("nan")])) and not same_result("a", "b")

# %% [markdown]
# `assert_own(fn, module)` is the graded tests' integrity check: the installed package holds every reference
# solution, so a notebook function that only calls it (or is it) earns nothing.

# %%
import tinybench.timing as _timing
def median_iqr(samples):
    return _timing.median_iqr(samples)
def _refused(fn):
    try:
        assert_own(fn, "tinybench.timing")
    except AssertionError as e:
        return str(e)
    return ""
assert "uses the module tinybench.timing" in _refused(median_iqr)
assert "tinybench.timing.median_iqr itself" in _refused(_timing.median_iqr)
from tinybench.timing import median_iqr as _ref
def median_iqr(samples):
    return _ref(samples)
assert "calls tinybench.timing.median_iqr" in _refused(median_iqr)
def median_iqr(samples):  # own work (the source is not available here: the globals check still runs)
    import numpy as np
    q1, q2, q3 = np.percentile(samples, [25, 50, 75])
    return float(q2), float(q3 - q1)
assert _refused(median_iqr) == ""
