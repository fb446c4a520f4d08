# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Reporting: comparing optimised variants fairly, and saying only what the data shows
#
# The deliverable engineers hand over is a comparison: "FP32 baseline vs INT8 vs pruned vs
# FP16", on latency, throughput, memory, accuracy and **output agreement**, with the environment
# it was measured in and findings that follow from the numbers. This notebook builds it up:
#
# 1. what a trustworthy benchmark report contains;
# 2. the environment, recorded with every result;
# 3. output agreement: did the optimisation change the answers? (**exercise 1**);
# 4. quality metrics by task, from `sklearn.metrics`;
# 5. findings generated from the data, never boilerplate (**exercise 2**);
# 6. the latency CDF: the plot that shows a whole distribution (**exercise 3**);
# 7. the suite: every variant on the same data, with the same settings, interleaved, compared
#    with the baseline (Holm for the latencies, McNemar for the accuracies);
# 8. cross-validation and training time, for trainable models;
# 9. `BenchmarkSuite` → `SuiteResult`;
# 10. the report: Markdown, self-contained HTML and JSON, with findings, recommendations and
#     limitations generated from the data;
# 11. the `tinybench` command.

# %%
#| default_exp report

# %%
#| export
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from tinybench.checks import check_number
from tinybench.display import Table, format_bytes, format_metric, format_percent, format_seconds, markdown_text
from tinybench.documents import Chart, as_path, html_to_pdf, png_data_uri, render_document, save_figure
from tinybench.files import atomic_write_text, write_error_message
from tinybench.stats import samples_of
from tinybench.suite import (ModelResult, SuiteResult, VariantComparison, batch_limit_blocks, comparisons_table, cost_table,
                             environment_table, figure_accuracy_vs_speedup, figure_memory, figure_speedup_by_technique,
                             figure_throughput, latency_table, methodology, per_class_table, plot_text,
                             regression_blocks, resource_finding, resources_blocks, results_table, rounds_run,
                             scenarios_table, sweep_memory_table, sweep_table)

# %%
#| export quality
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from tinybench.stats import samples_of
from tinybench.checks import check_number

# %% [markdown]
# §3–4 (output agreement, quality metrics) are exported to `tinybench.quality`, the layer the
# suite builds on; §5–6 and §10 to `tinybench.report`, which reads the suite's results.

# %% nbgrader={"grade": false, "grade_id": "notebook-setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import torch
from threadpoolctl import threadpool_limits

from tinybench.nbutils import reference_fallback
from tinybench.workloads import default_workload

# Thread pools, set explicitly: numpy's BLAS and torch each start one thread per core, and on a small or shared
# machine the two pools compete for the same cores, so a measurement times the contention instead of the code.
# One thread each keeps the experiments below comparable; the cells where threads are the lesson set their own.
torch.set_num_threads(1)
threadpool_limits(1)
use_reference_if_open = reference_fallback("tinybench.report")
use_quality_reference_if_open = reference_fallback("tinybench.quality")
workload = default_workload()
X, y = workload.data.X_test, workload.data.y_test

# %% [markdown]
# ## 1. What a trustworthy report contains
#
# A reader must be able to judge a benchmark without asking its author. That takes five parts:
#
# - **environment**: hardware, software versions, thread settings, the commit: what the numbers
#   are numbers *of*;
# - **methodology**: what was timed (warm-up, loops, scenario, data on device or not), how many
#   samples, which statistics;
# - **results with uncertainty**: percentiles and intervals, not a single mean;
# - **comparisons with significance**: a ratio with its interval and a verdict that a test
#   supports, corrected when many comparisons are made at once (module 01's Holm);
# - **limitations**: what was not measured, what the machine's noise was, where the numbers do
#   not transfer.
#
# And no sentence that the data does not support: "consistent performance across scenarios"
# written whatever the measurements said is worse than no sentence.
#
# ## 2. The environment, with every result
#
# `tinybench.environment()` (module 00) records Python, numpy, torch and tinybench versions, the
# platform, the CPU model, core count and memory, torch's thread settings, the GPU, its driver
# and CUDA version when present, and the git commit when the working directory is a checkout.
# Every `Measurement`, every `tinybench run`, every stored run carries it.

# %%
from tinybench.env import environment

env = environment()
{k: env[k] for k in ("python", "torch", "tinybench", "cpu_model", "cpu_count", "memory_bytes", "torch_threads",
                     "git_commit") if k in env}

# %% [markdown]
# ## 3. Output agreement: did the optimisation change the answers?
#
# An optimised variant (quantized, pruned, lower precision) is only an optimisation if it still
# computes (nearly) the same function. Accuracy on a test set is a coarse check: two models can
# have the same accuracy and disagree on many inputs. Compare the **outputs** directly, on the
# same inputs:
#
# - **max absolute error** of the outputs, and the **max relative error** (the max absolute error
#   divided by the largest absolute baseline output: relative to the scale of the outputs, so that
#   near-zero logits do not blow it up);
# - **cosine similarity** of each sample's output vector with the baseline's (1 = same direction);
# - **top-1 agreement**: the fraction of samples where both predict the same class;
# - **NaN/Inf counts**: a low-precision overflow shows up here first.
#
# ### Exercise 1: `agreement_metrics` (3 points)
#
# `base` and `cand` are float arrays of shape `(n_samples, n_outputs)` (the outputs of the
# baseline and the candidate for the same inputs; both finite here). Return a dict with the keys
# `"max_abs_error"`, `"max_rel_error"` (as defined above), `"cosine_mean"` and `"cosine_min"` (the
# mean and the minimum over samples of the per-sample cosine similarity), and
# `"top1_agreement"` (fraction of samples with the same argmax), all Python floats. The test
# compares with `scipy.spatial.distance.cosine` and plain numpy.

# %% nbgrader={"grade": false, "grade_id": "agreement-metrics", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export quality
def _output_array(a: Any, name: str) -> np.ndarray:
    "`a` as a finite float64 (n_samples, n_outputs) array with at least one sample, else a ValueError naming `name`."
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be an array of numbers of shape (n_samples, n_outputs), got {a!r:.60} "
                         f"({e})") from e
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty (n_samples, n_outputs) array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds {int((~np.isfinite(arr)).sum())} NaN or infinite values: drop those samples "
                         "first (compare_outputs counts them and compares the rest)")
    return arr


def agreement_metrics(base: np.ndarray, cand: np.ndarray) -> dict[str, float]:
    "Max abs/rel error, mean/min per-sample cosine similarity and top-1 agreement of two (n, k) output arrays."
    base, cand = _output_array(base, "base"), _output_array(cand, "cand")
    if base.shape != cand.shape:
        raise ValueError(f"cand has shape {cand.shape} but base has {base.shape}: the two must be the outputs of "
                         "the same inputs, of one shape")
    ### BEGIN SOLUTION
    diff = np.abs(base - cand)
    scale = np.abs(base).max()
    norms = np.linalg.norm(base, axis=1) * np.linalg.norm(cand, axis=1)
    cos = np.where(norms > 0, (base * cand).sum(axis=1) / np.where(norms > 0, norms, 1.0), 0.0)
    return {"max_abs_error": float(diff.max()), "max_rel_error": float(diff.max() / scale) if scale > 0 else 0.0,
            "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
            "top1_agreement": float(np.mean(base.argmax(axis=1) == cand.argmax(axis=1)))}
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test-agreement-metrics", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
from scipy.spatial.distance import cosine as _cosine_distance

b = np.array([[1.0, 2.0, 3.0], [4.0, 0.5, 0.0]])
c = np.array([[1.0, 2.5, 3.0], [0.0, 0.5, 4.0]])
m = agreement_metrics(b, c)
def _check_metric(m, key, want, tol=1e-12, what=""):
    assert key in m, f"{what}expected a key {key!r}, got the keys {sorted(m)}"
    assert abs(m[key] - want) <= tol, f"{what}{key}: expected {want!r}, got {m[key]!r}"


_check_metric(m, "max_abs_error", 4.0, 0.0, "largest |difference| is |4 − 0| = 4: ")
_check_metric(m, "max_rel_error", 1.0, 0.0, "4 relative to the largest |base| 4: ")
_check_metric(m, "top1_agreement", 0.5, 0.0, "sample 0 agrees (class 2), sample 1 does not: ")
_check_metric(m, "cosine_min", 1 - _cosine_distance(b[1], c[1]), what="scipy's cosine similarity of sample 1: ")
_check_metric(m, "cosine_mean", np.mean([1 - _cosine_distance(b[i], c[i]) for i in range(2)]),
              what="mean of scipy's cosine similarities: ")
### BEGIN HIDDEN TESTS
from tinybench.nbutils import assert_own as _assert_own
_assert_own(agreement_metrics, "tinybench.quality")
rng = np.random.default_rng(0)
B = rng.standard_normal((200, 10))
C = B + rng.normal(0, 0.01, B.shape)
m = agreement_metrics(B, C)
_check_metric(m, "max_abs_error", np.abs(B - C).max(), 1e-15, "200 noisy samples: ")
_check_metric(m, "max_rel_error", np.abs(B - C).max() / np.abs(B).max(), 1e-15, "200 noisy samples: ")
_check_metric(m, "top1_agreement", float(np.mean(B.argmax(1) == C.argmax(1))), 0.0, "200 noisy samples: ")
assert m["cosine_min"] > 0.99, f"200 samples with 1% noise: expected cosine_min > 0.99, got {m['cosine_min']!r}"
_check_metric(agreement_metrics(B, B), "max_abs_error", 0.0, 0.0, "identical outputs: ")
_check_metric(agreement_metrics(B, B), "cosine_min", 1.0, 1e-12, "identical outputs: ")
_types = {k: type(v).__name__ for k, v in m.items() if not isinstance(v, float)}
assert not _types, f"expected Python floats for every metric, got {_types}"
try:
    got = agreement_metrics(B, C[:, :5])
except ValueError:
    pass
else:
    raise AssertionError(f"shapes (200, 10) and (200, 5): mismatched shapes must raise ValueError, got {got!r}")
### END HIDDEN TESTS

# %%
agreement_metrics = use_quality_reference_if_open(agreement_metrics, np.array([[1.0, 0.0]]), np.array([[1.0, 0.5]]))

# %% [markdown]
# `compare_outputs` runs both models on the same data (in batches, under `inference_mode`),
# counts non-finite outputs before anything else (a NaN makes every other metric meaningless),
# and, when labels are given, reports the accuracy change per class: an optimisation can keep
# overall accuracy while hurting one class.

# %%
#| export quality
@dataclass(repr=False)
class OutputAgreement:
    "How closely a candidate's outputs match the baseline's on the same inputs (see `agreement_metrics`)."
    n_samples: int
    metrics: dict[str, float]
    nonfinite_baseline: int
    nonfinite_candidate: int
    per_class_accuracy_change: dict[int, float] = field(default_factory=dict)
    accuracy_baseline: float | None = None
    accuracy_candidate: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"n_samples": self.n_samples, **self.metrics, "nonfinite_baseline": self.nonfinite_baseline,
                "nonfinite_candidate": self.nonfinite_candidate, "accuracy_baseline": self.accuracy_baseline,
                "accuracy_candidate": self.accuracy_candidate,
                "per_class_accuracy_change": {str(k): v for k, v in self.per_class_accuracy_change.items()}}

    def __repr__(self) -> str:
        if self.nonfinite_candidate:
            return f"OutputAgreement({self.nonfinite_candidate} NaN/Inf outputs in the candidate: it is broken)"
        m = self.metrics
        s = (f"OutputAgreement({self.n_samples} samples: top-1 agreement {m['top1_agreement']:.2%}, cosine min "
             f"{m['cosine_min']:.5f}, max abs error {m['max_abs_error']:.3g} ({m['max_rel_error']:.2%} of scale)")
        if self.per_class_accuracy_change:
            worst = min(self.per_class_accuracy_change, key=self.per_class_accuracy_change.get)
            change = self.per_class_accuracy_change[worst]
            s += f"; worst class {worst}: {change:+.2%} accuracy" if change < 0 else "; no class lost accuracy"
        return s + ")"

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{k}</td><td>{v:.6g}</td></tr>" for k, v in self.metrics.items())
        return f"<div><b>{self!r}</b><table>{rows}</table></div>"


def model_outputs(model: Callable, X: Any, batch_size: int, scores: bool = False) -> np.ndarray:
    """The model's outputs on X, batch by batch, as a (samples, values) array. ValueError naming the shape when a
    batch's outputs do not have one row per input, or, with `scores` (a classifier), are not (batch, classes)."""
    import torch
    outs = []
    with torch.inference_mode():
        for i in range(0, len(X), batch_size):
            n = len(X[i:i + batch_size])
            o = model(X[i:i + batch_size])
            o = o.detach().float().cpu().numpy() if hasattr(o, "detach") else np.asarray(o, dtype=float)
            if o.ndim == 0 or o.shape[0] != n:
                raise ValueError(f"outputs of shape {tuple(o.shape)} for a batch of {n} inputs: the first dimension "
                                 f"must be the batch ({n})")
            if scores and o.ndim != 2:
                raise ValueError(f"outputs of shape {tuple(o.shape)} for a batch of {n} inputs: a classifier must "
                                 f"return scores of shape (batch, classes), e.g. ({n}, 10)")
            outs.append(o)
    out = np.concatenate(outs)
    return out.reshape(out.shape[0], -1)


def compare_outputs(baseline: Callable, candidate: Callable, X: Any, labels: Sequence[int] | None = None,
                    batch_size: int = 256) -> OutputAgreement:
    "Run `baseline` and `candidate` on the same inputs `X` and measure how closely the candidate agrees."
    for name, model in (("baseline", baseline), ("candidate", candidate)):
        if not callable(model):
            raise TypeError(f"{name} must be a model callable on a batch, got {type(model).__name__} {model!r:.60}")
    try:
        n = len(X)
    except TypeError as e:
        raise TypeError(f"X must be a batch of inputs (a tensor or an array), got {type(X).__name__}") from e
    if n == 0:
        raise ValueError("X is empty (no inputs): output agreement needs at least one sample")
    batch_size = check_number(batch_size, "batch_size", integer=True, lo=1, hint="samples per call")
    if labels is not None and (np.ndim(labels) != 1 or len(labels) != n):
        raise ValueError(f"labels must hold one label per input: X has {n} samples, labels has shape "
                         f"{np.shape(labels)}")
    base, cand = model_outputs(baseline, X, batch_size), model_outputs(candidate, X, batch_size)
    if base.shape != cand.shape:
        raise ValueError(f"the models disagree on the output shape: {base.shape} vs {cand.shape}")
    bad_b, bad_c = int((~np.isfinite(base)).sum()), int((~np.isfinite(cand)).sum())
    ok = np.isfinite(base).all(axis=1) & np.isfinite(cand).all(axis=1)
    metrics = agreement_metrics(base[ok], cand[ok]) if ok.any() else {}
    out = OutputAgreement(int(base.shape[0]), metrics, bad_b, bad_c)
    if labels is not None:
        y = np.asarray(labels)
        pb, pc = base.argmax(axis=1), cand.argmax(axis=1)
        out.accuracy_baseline, out.accuracy_candidate = float(np.mean(pb == y)), float(np.mean(pc == y))
        out.per_class_accuracy_change = {int(k): float(np.mean(pc[y == k] == k) - np.mean(pb[y == k] == k))
                                         for k in np.unique(y)}
    return out

# %% [markdown]
# The digits CNN against each of its optimised variants:

# %%
base_model = workload.variants["fp32"].model
for name, v in workload.variants.items():
    if name != "fp32":
        print(f"{name:13s}", compare_outputs(base_model, v.model, X, y.numpy()))

# %% [markdown]
# ## 4. Quality metrics by task
#
# Accuracy alone hides which classes suffer. For classification, report accuracy, precision,
# recall and F1 (weighted by class support, and per class) and the confusion matrix; for
# regression, R², RMSE and MAE. These are `sklearn.metrics`' definitions: no reason to write
# them again.

# %%
#| export quality
def _class_labels(a: Any, name: str) -> np.ndarray:
    "`a` as a non-empty 1-D int64 array of class labels (integers; floats only if whole), else a ValueError naming `name`."
    arr = np.asarray(a)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of class labels, got shape {arr.shape}")
    if arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all():
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iub":
        raise ValueError(f"{name} must hold integer class labels (0, 1, ...), got {arr[:3].tolist()} "
                         f"(dtype {arr.dtype})")
    return arr.astype(np.int64)


def classification_quality(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, Any]:
    "Accuracy, weighted and per-class precision/recall/F1 (with support) and the confusion matrix (sklearn)."
    from sklearn import metrics as skm
    y_true, y_pred = _class_labels(y_true, "y_true"), _class_labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_pred has {y_pred.size} labels but y_true has {y_true.size}: one prediction per sample")
    classes = np.unique(np.concatenate([y_true, y_pred]))
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=classes, zero_division=0)
    pw, rw, fw, _ = skm.precision_recall_fscore_support(y_true, y_pred, average="weighted", zero_division=0)
    return {"accuracy": float(skm.accuracy_score(y_true, y_pred)), "precision_weighted": float(pw),
            "recall_weighted": float(rw), "f1_weighted": float(fw),
            "per_class": {int(c): {"precision": float(a), "recall": float(b), "f1": float(d), "support": int(e)}
                          for c, a, b, d, e in zip(classes, p, r, f, s)},
            "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=classes).tolist(),
            "labels": [int(c) for c in classes]}


def regression_quality(y_true: Sequence[float], y_pred: Sequence[float]) -> dict[str, float]:
    "R², RMSE and MAE of a regression (sklearn)."
    from sklearn import metrics as skm
    y_true = samples_of(y_true, "y_true", min_n=2, nonnegative=False)
    y_pred = samples_of(y_pred, "y_pred", min_n=2, nonnegative=False)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_pred has {y_pred.size} values but y_true has {y_true.size}: one prediction per sample")
    return {"r2": float(skm.r2_score(y_true, y_pred)),
            "rmse": float(math.sqrt(skm.mean_squared_error(y_true, y_pred))),
            "mae": float(skm.mean_absolute_error(y_true, y_pred))}

# %%
with torch.inference_mode():
    pred = base_model(X).argmax(dim=1).numpy()
q = classification_quality(y.numpy(), pred)
worst = min(q["per_class"], key=lambda k: q["per_class"][k]["f1"])
print(f"accuracy {q['accuracy']:.3f}, weighted F1 {q['f1_weighted']:.3f}; weakest class {worst} "
      f"(F1 {q['per_class'][worst]['f1']:.3f})")

# %% [markdown]
# ## 5. Findings generated from the data
#
# Every sentence of a report's findings must follow from a number it cites. For a latency
# comparison that means: module 01's `compare` decides the verdict from the interval of the time
# ratio, and the sentence states the verdict *and* the evidence. A variant that is not
# significantly faster is not called faster, however good its point estimate looks.
#
# ### Exercise 2: `latency_finding` (2 points)
#
# Given a `tinybench.stats.Comparison` `c` (baseline `c.label_a`, candidate `c.label_b`; `c.ratio`
# is the time ratio candidate/baseline with the interval `c.ratio_ci` at level `c.level`), return
# one sentence according to `c.verdict`:
#
# - `"faster"`: `f"{b} is {1 / ratio:.2f}× faster than {a} (time ratio {ratio:.3f}, {pct} CI {lo:.3f}–{hi:.3f})."`
# - `"slower"`: `f"{b} is {ratio:.2f}× slower than {a} (time ratio {ratio:.3f}, {pct} CI {lo:.3f}–{hi:.3f})."`
# - `"equivalent"`: `f"{b} and {a} are equivalent within ±{margin:.0%} (time ratio {ratio:.3f}, {pct} CI {lo:.3f}–{hi:.3f})."`
# - anything else: `f"No significant difference between {b} and {a} (time ratio {ratio:.3f}, {pct} CI {lo:.3f}–{hi:.3f} includes 1)."`
#
# where `a`, `b` are the labels, `margin` is `c.margin`, and `pct` is `f"{c.level:.0%}"`.

# %% nbgrader={"grade": false, "grade_id": "latency-finding", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def latency_finding(c: Any) -> str:
    "One sentence stating a latency comparison's verdict with the numbers behind it (a stats.Comparison)."
    ### BEGIN SOLUTION
    a, b, r = c.label_a, c.label_b, c.ratio
    lo, hi = c.ratio_ci
    ev = f"time ratio {r:.3f}, {c.level:.0%} CI {lo:.3f}–{hi:.3f}"
    if c.verdict == "faster":
        return f"{b} is {1 / r:.2f}× faster than {a} ({ev})."
    if c.verdict == "slower":
        return f"{b} is {r:.2f}× slower than {a} ({ev})."
    if c.verdict == "equivalent":
        return f"{b} and {a} are equivalent within ±{c.margin:.0%} ({ev})."
    return f"No significant difference between {b} and {a} ({ev} includes 1)."
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test-latency-finding", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
from tinybench.stats import compare

rng = np.random.default_rng(0)
base_t = rng.lognormal(np.log(2e-3), 0.05, 300)
fast = compare(base_t, base_t / 2 * rng.lognormal(0, 0.05, 300), label_a="fp32", label_b="int8")
text = latency_finding(fast)
assert text.startswith("int8 is 2.0") and "faster than fp32" in text and "95% CI" in text, \
    f"a 2× speed-up: expected a sentence starting 'int8 is 2.0…× faster than fp32' with its '95% CI', got {text!r}"
same = compare(base_t, rng.lognormal(np.log(2e-3), 0.05, 300), label_a="fp32", label_b="pruned")
assert same.verdict == "no detectable difference", f"(setup) expected no detectable difference, got {same.verdict!r}"
assert "faster" not in latency_finding(same), \
    f"no detectable difference: expected no 'faster' in the sentence, got {latency_finding(same)!r}"
### BEGIN HIDDEN TESTS
from tinybench.nbutils import assert_own as _assert_own
_assert_own(latency_finding, "tinybench.report")
lo, hi = fast.ratio_ci
_want = f"int8 is {1 / fast.ratio:.2f}× faster than fp32 (time ratio {fast.ratio:.3f}, 95% CI {lo:.3f}–{hi:.3f})."
assert text == _want, f"expected {_want!r}, got {text!r}"
slow = compare(base_t, base_t * 1.5, label_a="A", label_b="B")
_got = latency_finding(slow)
assert _got.startswith("B is 1.50× slower than A (time ratio 1.500"), \
    f"expected a sentence starting 'B is 1.50× slower than A (time ratio 1.500', got {_got!r}"
eq = compare(base_t, base_t * 1.001, margin=0.05, label_a="A", label_b="B")
_got = latency_finding(eq)
assert _got.startswith("B and A are equivalent within ±5% (time ratio"), \
    f"expected a sentence starting 'B and A are equivalent within ±5% (time ratio', got {_got!r}"
_got = latency_finding(same)
assert _got.startswith("No significant difference between pruned and fp32") and _got.endswith("includes 1)."), \
    f"expected 'No significant difference between pruned and fp32 (… includes 1).', got {_got!r}"
### END HIDDEN TESTS

# %%
latency_finding = use_reference_if_open(latency_finding, compare([1.0, 1.1, 0.9] * 5, [0.5, 0.55, 0.45] * 5))

# %% [markdown]
# The finding for each optimised variant of the digits CNN at batch 64:

# %%
from tinybench.timing import measure

X64 = X[:64]


def timed(model):
    with torch.inference_mode():
        return measure(model, X64, min_time=0.2)


base_m = timed(base_model)
variant_times = {name: timed(v.model) for name, v in workload.variants.items() if name != "fp32"}
for name, m in variant_times.items():
    print(latency_finding(compare(base_m, m, label_a="fp32", label_b=name)))

# %% [markdown]
# ## 6. The latency CDF
#
# A table of percentiles answers the questions its author thought of; the empirical cumulative
# distribution function (ECDF) answers all of them: for any latency on the x axis, the fraction
# of calls at or below it. Two models' curves side by side show a shift (one is faster
# everywhere), a tail (they cross near the top), or bimodality (a step in the middle).
#
# ### Exercise 3: `plot_latency_cdf` (2 points)
#
# Given `samples`, a dict of name → latencies in seconds, draw one step curve per name on a new
# `matplotlib.figure.Figure` (use `Figure`, not `pyplot`, so that nothing opens a window): x is
# the sorted latencies **in milliseconds**, y is `1/n, 2/n, ..., 1` (use
# `ax.step(x, y, where="post", label=name)`). Label the axes `"latency (ms)"` and
# `"fraction of calls"`, use a log x scale when the largest latency is more than 20 times the
# smallest, add a legend, and return the figure. Raise `ValueError` for an empty dict.

# %% nbgrader={"grade": false, "grade_id": "plot-latency-cdf", "locked": false, "schema_version": 3, "solution": true, "task": false}
#| export
def plot_latency_cdf(samples: dict[str, Sequence[float]]):
    "A matplotlib Figure with the ECDF of each model's latencies (seconds in, milliseconds on the axis)."
    from matplotlib.figure import Figure
    if not isinstance(samples, Mapping):
        raise TypeError(f"samples must be a dict of model name -> latencies (seconds), got {type(samples).__name__}")
    if not samples:
        raise ValueError("samples is empty: no latency samples to plot")
    for name, s in samples.items():
        samples_of(s, f"samples[{name!r}]")  # finite, non-negative, 1-D, at least one: else a ValueError
    ### BEGIN SOLUTION
    fig = Figure(figsize=(5, 3), dpi=100)
    ax = fig.add_subplot()
    lo, hi = math.inf, 0.0
    for name, s in samples.items():
        x = np.sort(np.asarray(s, dtype=float)) * 1e3
        ax.step(x, np.arange(1, x.size + 1) / x.size, where="post", label=name)
        lo, hi = min(lo, x[0]), max(hi, x[-1])
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("fraction of calls")
    if lo > 0 and hi / lo > 20:
        ax.set_xscale("log")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test-plot-latency-cdf", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
fig = plot_latency_cdf({"a": [3e-3, 1e-3, 2e-3], "b": [4e-3, 5e-3]})
ax = fig.axes[0]
lines = ax.get_lines()
_labels = [l.get_label() for l in lines]
assert _labels == ["a", "b"], f"one line per model, labelled by name: expected ['a', 'b'], got {_labels}"
assert np.allclose(lines[0].get_xdata(), [1, 2, 3]), \
    f"x: sorted latencies in ms, expected [1, 2, 3], got {list(lines[0].get_xdata())}"
assert np.allclose(lines[0].get_ydata(), [1 / 3, 2 / 3, 1]), \
    f"y: the fraction of calls at or below each latency, expected [1/3, 2/3, 1], got {list(lines[0].get_ydata())}"
_axes = (ax.get_xlabel(), ax.get_ylabel(), ax.get_xscale())
assert _axes == ("latency (ms)", "fraction of calls", "linear"), \
    f"(x label, y label, x scale): expected ('latency (ms)', 'fraction of calls', 'linear'), got {_axes}"
### BEGIN HIDDEN TESTS
from tinybench.nbutils import assert_own as _assert_own
_assert_own(plot_latency_cdf, "tinybench.report")
wide = plot_latency_cdf({"x": [1e-4, 1e-2]})
assert wide.axes[0].get_xscale() == "log", \
    f"latencies spanning 100×: expected a log x scale, got {wide.axes[0].get_xscale()!r}"
assert wide.axes[0].get_legend() is not None, "expected a legend, got none"
assert type(wide).__module__.startswith("matplotlib.figure"), \
    f"expected a matplotlib Figure, got {type(wide).__module__}.{type(wide).__name__}"
try:
    got = plot_latency_cdf({})
except ValueError:
    pass
else:
    raise AssertionError(f"an empty dict must raise ValueError, got {got!r}")
### END HIDDEN TESTS

# %%
plot_latency_cdf = use_reference_if_open(plot_latency_cdf, {"a": [1e-3]})

# %%
plot_latency_cdf({"fp32": base_m.samples, **{k: m.samples for k, m in variant_times.items()}})

# %% [markdown]
# ## 7. The suite: every variant, the same data, the same settings, interleaved
#
# A fair comparison of optimised variants controls everything except the variant:
#
# - **same data**: every model sees the same test split and the same timed batch;
# - **same settings**: one `SuiteSettings` for all (batch size, time per measurement, scenarios,
#   batch sizes of the sweep);
# - **interleaved**: the machine drifts (other tenants, clocks, thermals). Timing model A for a
#   minute and then model B for a minute confounds the difference with the drift. The suite times
#   the models round-robin in `rounds` short rounds and pools each model's samples, so drift hits
#   all of them alike. The rounds are also the replications of the comparison (below), so many
#   short rounds beat a few long ones: the interval narrows with the number of rounds, not with
#   the number of iterations inside one;
# - **measure until the answer is clear**: a fixed number of rounds is a guess. The suite keeps
#   adding rounds until every comparison is decisive or its time budget runs out, and judges each
#   comparison by an always-valid interval (module 04's confidence sequence), so looking after
#   every round does not inflate false alarms. A comparison the budget could not decide says so,
#   with the interval it reached and roughly how many more rounds would decide it;
# - **one baseline**: every candidate is compared with it, and because several candidates are
#   tested at once the p-values are **Holm-corrected** (module 01): a "faster" verdict needs the
#   interval of the time ratio to exclude 1 *and* the Holm-adjusted p-value to be below 1 − level;
# - **accuracy change tested on the same samples**: two models scored on the same test images
#   are paired, so the right test is **McNemar's** (exact binomial on the samples where exactly one
#   of them is right), not a comparison of two independent proportions.
#
# For each model `BenchmarkSuite` measures: quality (accuracy, per-class F1, confusion matrix),
# output agreement with the baseline, the interleaved timing at `batch_size`, model statistics
# (parameters, bytes, FLOPs), the memory of one batch, a batch-size sweep, and the chosen
# scenarios of module 02. A model that raises is recorded with its error and the suite goes on;
# Ctrl-C returns the partial result, marked `interrupted`.

# %%
from tinybench.suite import *  # noqa: F403 (the support notebook `suite` holds the code this section uses)

# %% [markdown]
# **The experiment first: why the rounds, and not the pooled iterations, decide.** An A/A test:
# the fp32 model against an exact copy of itself. Any "difference" is the machine's. The pooled
# iterations (hundreds of samples, treated as independent) give a narrow interval that often
# excludes 1, and on a busy machine it can call the copy "slower". The round medians, paired by
# round, give a wider and honest interval. Because the suite judges them with an always-valid interval, it may look after
# every round: it adds rounds until the copy is shown equivalent within ±5%, or its budget runs
# out and it says so. Run the cell a few times; the sentences below are computed from this run.

# %%
import copy

aa = BenchmarkSuite({"fp32": base_model, "fp32 copy": copy.deepcopy(base_model)}, workload.data,
                    SuiteSettings(min_time=0.5, rounds=5, scenarios=(), batch_sizes=(), memory=False,
                                  time_budget=8.0)).run()
vc = aa.comparisons[0]
print(f"rounds (decide): {vc.rounds} rounds, ratio {vc.ratio:.3f}, always-valid CI "
      f"{vc.ratio_ci[0]:.3f}–{vc.ratio_ci[1]:.3f} -> {vc.verdict}")
lo, hi = vc.pooled["ratio_ci"]
print(f"pooled iterations: ratio {vc.pooled['ratio']:.3f}, CI {lo:.3f}–{hi:.3f} "
      f"({'excludes' if not lo <= 1 <= hi else 'includes'} 1; n = {vc.pooled['n_a']} and {vc.pooled['n_b']})")
print("the paired rounds " + ("called a difference: this run was unusually noisy" if vc.verdict in ("faster", "slower")
                              else f"did not call a difference ({vc.verdict})"))

# %%
from statsmodels.stats.contingency_tables import mcnemar as _sm_mcnemar

_a = np.r_[np.ones(40, bool), np.zeros(10, bool), np.ones(5, bool)]
_b = np.r_[np.ones(40, bool), np.ones(10, bool) * 0, np.zeros(5, bool)]
_b[40:43] = True
p, b, c = mcnemar_exact(_a, _b)
assert (b, c) == (5, 3) and abs(p - _sm_mcnemar([[40, b], [c, 7]], exact=True).pvalue) < 1e-12
p, b, c

# %% [markdown]
# ## 8. Cross-validation and training time
#
# When a model is trainable, one train/test split gives one accuracy; a different split gives a
# different one. **k-fold cross-validation** trains k times, each time testing on a different
# fold, and reports the spread. Each fold's training is timed with module 00's `time_call` (one
# call: training is long, and what matters is its cost per fold).
#
# A caveat the numbers cannot show: the k folds share most of their training data, so their scores
# are not independent, and a t-interval over folds is **too narrow** (Bengio & Grandvalet, 2004).
# Read it as a lower bound on the uncertainty.

# %% [markdown]
# A trainable model: logistic regression on the digits pixels (scikit-learn), 5 folds. The mean
# fold accuracy agrees with scikit-learn's own `cross_val_score` on the same folds.

# %%
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score

Xall = np.concatenate([workload.data.X_train.reshape(len(workload.data.X_train), -1).numpy(),
                       workload.data.X_test.reshape(len(workload.data.X_test), -1).numpy()])
yall = np.concatenate([workload.data.y_train.numpy(), workload.data.y_test.numpy()])


def fit_logreg(X, y):
    return LogisticRegression(max_iter=2000).fit(X, y)


cv = cross_validate(fit_logreg, Xall, yall, k=5)
sk = cross_val_score(LogisticRegression(max_iter=2000), Xall, yall, cv=StratifiedKFold(5, shuffle=True, random_state=0))
assert np.allclose(cv.scores, sk), (cv.scores, sk)
cv

# %% [markdown]
# ## 9. `BenchmarkSuite`: running it all
#
# `BenchmarkSuite(models, dataset, settings)` takes the models by name (the first is the baseline
# unless `baseline=` says otherwise). A model is anything callable on a batch: a `torch.nn.Module`,
# a TorchScript module, a `Variant` of the default workload or a module 02 `TorchSUT` (their
# `.model` and `.device` are used). `dataset` is `(X, y)`, a `Digits`-like object with `X_test` and
# `y_test`, or `X` alone (then there are no quality metrics). `trainers` optionally maps a model
# name to `fit(X, y) -> model` for cross-validation.
#
# The steps, in order: outputs and quality for every model (a model that raises or returns NaN is
# found here, before any time is spent on it); the interleaved timing; then per model the
# statistics, memory, batch sweep, scenarios and cross-validation; finally the comparisons.

# %% [markdown]
# Three synthetic candidates (generated numbers, to show the rules, not measurements): one that
# takes half the time in every round; one the same but noisy (its interval is wider than the
# margin, so neither a difference nor equivalence is shown); one 1% slower with little noise. The
# last one is significantly slower *and* equivalent within ±5%: for a decision, the equivalence is
# the useful answer, and it is the verdict.

# %%
rng = np.random.default_rng(1)
base_rounds = rng.lognormal(np.log(1e-3), 0.05, 5)
demo = compare_with_baseline({"base": base_rounds, "2x": base_rounds / 2 * rng.lognormal(0, 0.02, 5),
                              "same": base_rounds * rng.lognormal(0, 0.10, 5),
                              "1%": base_rounds * 1.01 * rng.lognormal(0, 0.005, 5)}, "base", margin=0.05)
assert [c.verdict for c in demo] == ["faster", "no detectable difference", "equivalent"], demo
demo

# %% [markdown]
# The digits CNN and its three variants, with short settings so that the notebook runs in about
# half a minute (`tinybench run` uses longer ones), and logistic regression's cross-validation as
# the example of a trainable model:

# %%
from tinybench.suite import BenchmarkSuite, SuiteResult, SuiteSettings

settings = SuiteSettings(batch_size=32, min_time=1.0, rounds=10, scenarios=("SingleStream", "Offline"),
                         scenario_duration=0.5, batch_sizes=(1, 8, 32, 128), sweep_min_time=0.05, time_budget=10.0)
suite = BenchmarkSuite(workload.variants, workload.data, settings)
result = suite.run()
result

# %% [markdown]
# ### Extension points: estimators, and measurements of your own
#
# The suite's steps are fixed; two things plug into them.
#
# **Models that are not callable on a batch.** A scikit-learn estimator predicts through a method,
# `predict_proba(X)` or `predict(X)`, on a 2-D numpy array. `as_batch_callable` wraps one in an
# `EstimatorModel`: numpy in, numpy out, each image flattened to one row of features. Its scores
# are `predict_proba`'s class probabilities (column k holds label k), so accuracy, McNemar's test
# and top-1 agreement are computed exactly as from a network's logits. (The cosine and
# max-difference agreement then compare probabilities with logits: meaningful only between models
# of the same kind.) The suite converts the timed batch to numpy *before* any clock starts, so
# the timing is the estimator's prediction, what a caller holding a numpy array pays.
#
# **Measurements of your own.** `metrics=[...]` takes `Metric(name, fn, unit, higher_is_better)`
# objects, or plain functions named by their `__name__`. After the built-in steps the suite calls
# `fn(model, (X, y), model_result)` once per model; the number it returns becomes a column of the
# results table and a finding of the report. Compute it from something measured (the timing
# samples the result keeps, the model's bytes, a counter), never a constant. A metric that raises,
# or returns NaN or something that is not a number, is recorded in that model's `errors` and shown
# in the report's limitations; the other metrics and models go on.

# %% [markdown]
# Logistic regression on the digits, fitted on the flattened training images: through the
# adapter, its argmax is sklearn's own `predict`, and a batch of images comes out as one row of
# ten class probabilities per image.

# %%
from sklearn.linear_model import LogisticRegression

flat_train = workload.data.X_train.reshape(len(workload.data.X_train), -1).numpy()
logreg = LogisticRegression(max_iter=1000).fit(flat_train, workload.data.y_train.numpy())
lr_model = as_batch_callable(logreg)
scores = lr_model(X[:32])
assert scores.shape == (32, 10) and (scores.argmax(axis=1) == logreg.predict(lr_model.prepare(X[:32]))).all()
lr_model, scores.shape

# %%
p95_metric = Metric("p95_per_batch", lambda model, data, result: float(np.percentile(result.timing.samples, 95)),
                    unit="s", higher_is_better=False, description="95th percentile of seconds per batch")
p95_metric.info

# %%
try:
    as_metrics([p95_metric, Metric("accuracy", p95_metric.fn)])
except ValueError as e:
    print(e)

# %% [markdown]
# The demo: the digits CNN next to logistic regression, with two measurements of our own, both
# real: the 95th percentile of the seconds per batch from the timing samples the result keeps, and
# the model's size as pickled bytes. Short settings: a few seconds.

# %%
import pickle


def p95_per_batch(model, data, result):
    "95th percentile of the interleaved timing's seconds per batch."
    return float(np.percentile(result.timing.samples, 95))


from tinybench.report import Report
from tinybench.suite import Metric

ext_metrics = [Metric("p95_per_batch", p95_per_batch, unit="s", higher_is_better=False,
                      description="95th percentile of seconds per batch"),
               Metric("pickled_size", lambda model, data, result: len(pickle.dumps(model)), unit="bytes",
                      higher_is_better=False, description="the model pickled")]
ext_settings = SuiteSettings(batch_size=32, min_time=0.4, rounds=4, scenarios=(), batch_sizes=(1, 32),
                             sweep_min_time=0.02, sequential=False)
ext = BenchmarkSuite({"cnn": workload.variants["fp32"], "logreg": logreg}, workload.data, ext_settings,
                     metrics=ext_metrics).run()
for name, m in ext.models.items():
    assert m.metrics["p95_per_batch"] == np.percentile(m.timing.samples, 95), name
from sklearn.metrics import accuracy_score

assert ext.models["logreg"].accuracy == accuracy_score(workload.data.y_test, logreg.predict(lr_model.prepare(X)))
print(ext)
print("\n".join(s for s in Report(ext).findings() if s.startswith(("p95_per_batch", "pickled_size"))))

# %% [markdown]
# ## 10. The report: every sentence generated from the data
#
# `Report(result)` turns a `SuiteResult` into the document a reader can judge without asking:
# environment, methodology, results with uncertainty, comparisons with significance, findings,
# recommendations and limitations, plus five plots (latency CDF per model, speedup by technique,
# accuracy against speedup, throughput against batch size, memory), each next to the table it
# illustrates. It answers first: an executive summary, then the latency table (p50 / p95 / p99). Each finding is built by a small function from
# the numbers it cites; a recommendation follows from the verdicts (a variant is recommended only
# if it is significantly faster after Holm's correction *and* does not lose accuracy
# significantly); limitations come from what the measurements flagged.
#
# The same sections render as Markdown (`report.md`, plots as PNG files next to it), as one
# self-contained HTML file (`report.html`, plots inlined as base64 PNG, no scripts), as PDF
# (`report.pdf`, that HTML printed by headless Chromium), and the data as versioned JSON
# (`results.json`) that `SuiteResult.load` reads back. With `cost_per_hour`, a Cost section turns
# measured throughput into cost per million inferences, with its interval.

# %%
#| export
def undecided_finding(comparison: VariantComparison) -> str:
    "A sentence for a comparison the time budget could not decide: the interval reached and what would decide it."
    lo, hi = comparison.ratio_ci
    ev = f"time ratio {comparison.ratio:.3f}, {comparison.level:.0%} CI {lo:.3f}–{hi:.3f} after {comparison.rounds} rounds"
    side = (" It is slower than the baseline, but not shown to be by more than the margin or less." if lo > 1 else
            " It is faster than the baseline, but not shown to be by more than the margin or less." if hi < 1 else "")
    more = (f"roughly {comparison.more_rounds} more rounds would decide it at this spread" if comparison.more_rounds is not None else
            "no affordable number of rounds would decide it: the ratio sits on the margin's edge")
    target = f"outside or inside ±{comparison.margin:.0%}" if comparison.margin is not None else "away from 1"
    return (f"Undecided: the time budget ran out before {comparison.candidate} vs {comparison.baseline} was decided ({ev}; the "
            f"interval is not yet wholly {target}); {more}.{side}")


def comparison_finding(comparison: VariantComparison) -> str:
    "The latency finding (`latency_finding`) of a suite's VariantComparison, with its batch and Holm correction."
    k = comparison.n_comparisons
    first = undecided_finding(comparison) if comparison.verdict == "undecided" else latency_finding(comparison)
    return (f"{first} Holm-adjusted p = {comparison.p_holm:.2g} over {k} comparison"
            f"{'s' if k != 1 else ''}; {comparison.method}.")


def accuracy_finding(comparison: VariantComparison, result: SuiteResult) -> str | None:
    "A sentence on the candidate's accuracy change against the baseline, tested with McNemar's exact test."
    if comparison.accuracy_change is None:
        return None
    a, b = result.models[comparison.baseline].accuracy, result.models[comparison.candidate].accuracy
    alpha = 1 - result.settings.level
    test = ("finds the change significant" if comparison.accuracy_significant(alpha) else
            "does not find the change significant")
    s = (f"{comparison.candidate}'s accuracy is {b:.2%} against {comparison.baseline}'s {a:.2%} ({comparison.accuracy_change * 100:+.2f} "
         f"points); they differ on {comparison.n_discordant} of {result.n_samples} samples, and McNemar's exact test {test} "
         f"(p = {comparison.mcnemar_p:.2g}).")
    agree = result.models[comparison.candidate].agreement or {}
    if "top1_agreement" in agree:
        s += (f" Top-1 agreement with {comparison.baseline} is {agree['top1_agreement']:.2%}, minimum cosine similarity "
              f"{agree['cosine_min']:.4f}.")
    return s


def throughput_finding(model: ModelResult) -> str | None:
    "How a model's throughput (samples/s) changes over the batch sweep, and where it peaked or ran out of memory."
    sweep = model.batch_sweep
    rows = sweep.rows if sweep else []
    if not rows:
        return None
    first, best = rows[0], model.best_throughput
    s = (f"{model.name}'s throughput goes from {first['samples_per_s']:,.0f} samples/s at batch {first['batch']} to "
         f"{best['samples_per_s']:,.0f} at batch {best['batch']}, the highest of batch sizes "
         f"{', '.join(str(r['batch']) for r in rows)}")
    if sweep.oom_batch:
        s += f"; it ran out of memory at batch {sweep.oom_batch}"
    return s + "."


def size_finding(model: ModelResult) -> str | None:
    "Parameters, bytes and counted FLOPs of a model, and the memory one batch needed."
    if not model.stats:
        return None
    st = model.stats
    s = (f"{model.name} has {st.n_params:,} parameters ({format_bytes(st.param_bytes)}; "
         f"{format_bytes(st.serialized_bytes)} serialized) and {st.flops / 1e6:,.1f} MFLOP counted per batch "
         f"of {model.timing.batch if model.timing else '?'}")
    if model.memory:
        if model.memory.largest_layer_bytes:
            s += (f"; at batch {model.memory.batch} its largest layer reads and writes "
                  f"{format_bytes(model.memory.largest_layer_bytes)} of activations (counted)")
        s += (f"; one batch of {model.memory.batch} raised the process's peak RSS by "
              f"{format_bytes(model.memory.rss_increase)}")
        if model.memory.cuda_increase is not None:
            s += f" and its CUDA allocation by {format_bytes(model.memory.cuda_increase)}"
    return s + "."


def metric_finding(result: SuiteResult, column: str) -> str | None:
    "A user metric's values for every model, with its unit; the best model when the metric has a direction."
    info = result.metric_info(column)
    values = {n: m.metrics[column] for n, m in result.models.items() if column in m.metrics}
    if not values:
        return None
    about = "; ".join(x for x in (info.description, {True: "higher is better", False: "lower is better"}
                                  .get(info.higher_is_better, "")) if x)
    s = f"{column}{f' ({about})' if about else ''}: " + ", ".join(f"{n} {format_metric(v, info.unit)}"
                                                                 for n, v in values.items())
    if info.higher_is_better is not None and len(values) > 1:
        best = (max if info.higher_is_better else min)(values.values())
        s += f"; best: {', '.join(n for n, v in values.items() if v == best)}"
    missing = [n for n, m in result.models.items() if f"metric {info.name}" in m.errors]
    if missing:
        s += f"; not measured for {', '.join(missing)} (the metric failed: see the limitations)"
    return s + "."


def scenario_finding(result: SuiteResult, scenario: str) -> str | None:
    "One sentence per scenario: each model's headline metric and whether the run was valid."
    runs = [(n, m.scenarios[scenario]) for n, m in result.models.items() if scenario in m.scenarios]
    if not runs:
        return None

    def value(r: dict) -> str:
        return (f"{r['value']:,.0f}" if "per second" in r["metric"] else format_seconds(r["value"]))
    parts = [f"{n} {value(r)}" + ("" if r["valid"] else " (INVALID)") for n, r in runs]
    text = f"{scenario}, {runs[0][1]['metric']}: {', '.join(parts)}."
    return text + (offline_vs_sweep(result) if scenario == "Offline" else "")


def offline_vs_sweep(result: SuiteResult) -> str:
    """What Offline measures next to the batch sweep: sustained samples/s through the load generator at the suite's
    batch size, against the model alone (batch / median time per batch) at the same size and at its best size."""
    b = result.settings.batch_size
    parts = []
    for n, m in result.models.items():
        off = m.scenarios.get("Offline")
        rows = m.batch_sweep.rows if m.batch_sweep else []
        same = next((r for r in rows if r["batch"] == b), None)
        if off and same and same["samples_per_s"] > 0:
            parts.append(f"{n} {off['samples_per_second'] / same['samples_per_s']:.0%}")
    if not parts:
        return ""
    return (f" Offline runs batches of {b} through the load generator for its whole duration (sustained samples/s, "
            f"stalls included); the batch sweep times the model alone (batch / median time per batch). Offline as a "
            f"share of the sweep at batch {b}: {', '.join(parts)}; the sweep's best batch size is higher still.")

# %%
#| export
def suite_findings(result: SuiteResult) -> list[str]:
    "Every finding of a suite, each generated from the numbers it cites."
    out = []
    for name, m in result.models.items():
        if "forward" in m.errors:
            out.append(f"{name} could not run: {m.errors['forward']}.")
        elif m.nonfinite_outputs:
            out.append(f"{name} produced {m.nonfinite_outputs} NaN/Inf output values: its results are not usable.")
    for vc in result.comparisons:
        out.append(comparison_finding(vc))
        acc = accuracy_finding(vc, result)
        if acc:
            out.append(acc)
    out += [s for s in (throughput_finding(m) for m in result.models.values()) if s]
    out += [s for s in (size_finding(m) for m in result.models.values()) if s]
    out += [s for s in (scenario_finding(result, sc) for sc in result.settings.scenarios) if s]
    out += [s for s in [resource_finding(result)] if s]
    out += [s for s in (metric_finding(result, c) for c in result.metric_columns()) if s]
    for name, m in result.models.items():
        if m.cross_validation:
            cv = m.cross_validation
            out.append(f"{name}: {cv['k']}-fold cross-validated {cv['metric']} {cv['mean']:.4f} (t-interval "
                       f"{cv['ci'][0]:.4f}–{cv['ci'][1]:.4f}), training {format_seconds(float(np.mean(cv['train_seconds'])))} "
                       "per fold.")
    return out

# %% [markdown]
# The recommendations follow rules stated in their own text: use the fastest candidate that is
# significantly faster and does not lose accuracy significantly; warn about one that is faster but
# less accurate; keep the baseline when none is faster; never recommend a slower or broken one.

# %%
#| export
def suite_recommendations(result: SuiteResult) -> list[str]:
    "Recommendations that follow from the suite's verdicts; each cites its numbers."
    alpha, lvl, base = 1 - result.settings.level, format_percent(result.settings.level), result.baseline
    batch = result.settings.batch_size
    usable = [vc for vc in result.comparisons if result.models[vc.candidate].ok]
    faster = [vc for vc in usable if vc.verdict == "faster"]
    lossy = [vc for vc in faster if vc.accuracy_change is not None and vc.accuracy_change < 0
             and vc.accuracy_significant(alpha)]
    good = sorted((vc for vc in faster if vc not in lossy), key=lambda vc: -vc.speedup)
    why = "; ".join(f"{k}: {v}" for k, v in result.models[base].errors.items()) or "NaN/Inf outputs"
    out = [] if result.models[base].ok else [f"No decision: the baseline {base} failed ({why}), so nothing compares "
                                             "with it: fix it and run again."]

    def speed(vc: Any) -> str:
        lo, hi = vc.speedup_ci
        return f"{vc.speedup:.2f}× faster ({lvl} CI {lo:.2f}–{hi:.2f}) at batch {batch}"

    def accuracy(vc: Any) -> str:
        if vc.accuracy_change is None:
            return "accuracy was not measured (no labels)"
        return (f"its accuracy change of {vc.accuracy_change * 100:+.2f} points is not significant "
                f"(McNemar p = {vc.mcnemar_p:.2g})")
    if good:
        out.append(f"Use {good[0].candidate} instead of {base}: it is {speed(good[0])}, and {accuracy(good[0])}.")
        out += [f"{vc.candidate} is also {speed(vc)}, and {accuracy(vc)}." for vc in good[1:]]
    for vc in lossy:
        out.append(f"{vc.candidate} is {speed(vc)} but loses {-vc.accuracy_change * 100:.2f} accuracy points "
                   f"(McNemar p = {vc.mcnemar_p:.2g}): use it only if that loss is acceptable.")
    if not faster and result.comparisons:
        out.append(f"Keep {base}: no candidate is significantly faster at batch {batch} after Holm's correction.")
    for vc in usable:
        if vc.verdict == "undecided":
            more = f"about {vc.more_rounds} more rounds" if vc.more_rounds is not None else "many more rounds"
            out.append(f"{vc.candidate} is undecided after {vc.rounds} rounds: rerun with a larger time budget "
                       f"(`--time-budget`; {more}) before choosing it.")
    for vc in usable:
        if vc.verdict == "slower":
            lo, hi = vc.ratio_ci
            out.append(f"Do not use {vc.candidate} on this machine: it is {vc.ratio:.2f}× slower than {base} "
                       f"({lvl} CI {lo:.2f}–{hi:.2f}).")
        elif vc.verdict == "equivalent":
            out.append(f"{vc.candidate} is as fast as {base} within ±{result.settings.margin:.0%}: choose between them "
                       "on accuracy, size and memory.")
    for name, m in result.models.items():
        if not m.ok and name != base:
            out.append(f"Do not use {name}: " + "; ".join(f"{k}: {v}" for k, v in m.errors.items()) + ".")
    chosen = good[0].candidate if good else base
    best = result.models[chosen].best_throughput if chosen in result.models else None
    if best and result.models[chosen].ok:
        out.append(f"For offline throughput, serve {chosen} at batch {best['batch']}: {best['samples_per_s']:,.0f} "
                   "samples/s, its highest measured rate (one measurement per batch size, without an interval).")
    return out

# %%
#| export
def suite_limitations(result: SuiteResult) -> list[str]:
    "What the reader should not conclude from these numbers, from the run's own flags and environment."
    env, s = result.environment, result.settings
    out = [f"Measured on {env.get('cpu_model') or env.get('processor') or 'an unknown CPU'} "
           f"({env.get('cpu_count')} CPUs, torch {env.get('torch')}, {env.get('torch_threads')} threads)"
           + (f" and {env['gpu']}" if env.get("gpu") else ", no GPU") + ": the ratios may not transfer to other hardware.",
           f"Timing samples are iterations within one process, interleaved over {rounds_run(result)} round"
           f"{'s' if rounds_run(result) != 1 else ''}: not independent replications. Confirm a decision with a rerun."]
    undecided = [vc.candidate for vc in result.comparisons if vc.verdict == "undecided"]
    if undecided:
        out.append(f"The time budget ({s.time_budget:g} s, {s.max_rounds} rounds at most) ran out before "
                   f"{', '.join(undecided)} could be decided: their intervals are reported, not a verdict.")
    if result.interrupted:
        out.append("The run was interrupted (Ctrl-C): the results are partial.")
    for name, m in result.models.items():
        flags = m.timing.pitfalls if m.timing else []
        if flags:
            out.append(f"{name}'s timing was flagged: " + "; ".join(f"{p['kind']}: {p['explanation']}" for p in flags))
        for sc, r in m.scenarios.items():
            if not r["valid"]:
                out.append(f"{name}'s {sc} run is INVALID: {'; '.join(r['reasons'])}.")
        for step, err in m.errors.items():
            out.append(f"{name}: the {step} step failed ({err}).")
    flops = {n: m.stats.flops for n, m in result.models.items() if m.stats}
    if len(set(flops.values())) > 1:
        out.append("FLOP counts differ between models (" + ", ".join(f"{n} {f / 1e6:,.1f} M" for n, f in flops.items())
                   + "): torch's FlopCounterMode counts only the operators it knows; quantized kernels are not counted.")
    if any(m.memory for m in result.models.values()):
        out.append("The measured memory is the peak RSS increase of one batch inside this process (VmHWM): memory "
                   "the allocator already holds (from earlier steps and earlier models) is reused and not counted, so "
                   "it depends on the order the models ran in and is a lower bound for a fresh process (0 B: the batch "
                   "fit in memory the process already had). The counted layer bytes do not depend on the order.")
    if any(m.cross_validation for m in result.models.values()):
        out.append("Cross-validation intervals are optimistic: folds share training data.")
    if result.metrics:
        out.append(f"The user metrics ({', '.join(i.name for i in result.metrics)}) are what their functions computed: "
                   "tinybench checked only that each returned a finite number, not what it measures.")
    return out

# %% [markdown]
# A report answers first. The executive summary is three of the report's own sentences, in the
# order a reader needs them: the decision (the first recommendation), where to serve it (the batch
# size with the highest measured throughput), and the main caveat (the first limitation).

# %%
#| export
def executive_summary(result: SuiteResult) -> list[str]:
    "The decision, where to serve it, and the main caveat: sentences of the recommendations and limitations."
    recs = suite_recommendations(result)
    out = recs[:1] + [r for r in recs[1:] if r.startswith("For offline throughput")]
    limits = suite_limitations(result)
    return out + ([f"Main caveat: {limits[0]}"] if limits else [])

# %% [markdown]
# The plots. Each returns a matplotlib `Figure` (no window opens) or `None` when the data is
# missing (e.g. no batch sweep). A report places each one as a `Chart` next to the table or
# sentences that cite it, not in an appendix.

# %%
#| export
def figure_latency_cdf(result: SuiteResult):
    "ECDF of each model's seconds per batch (the interleaved timing), via `plot_latency_cdf`."
    samples = {plot_text(n): m.timing.samples for n, m in result.models.items() if m.timing}
    if not samples:
        return None
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    fig = plot_latency_cdf(samples)
    ax = fig.axes[0]
    ax.set_title(f"latency per batch of {result.settings.batch_size}", fontsize=9)
    if ax.get_xscale() == "log":  # plain labels at 1, 2, 5 × 10ⁿ: the default minor labels (2×10⁻¹, ...) overlap
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    fig.tight_layout()
    return fig


FIGURES = {"latency_cdf": figure_latency_cdf, "speedup_by_technique": figure_speedup_by_technique,
           "accuracy_vs_speedup": figure_accuracy_vs_speedup, "throughput_vs_batch": figure_throughput,
           "memory": figure_memory}

# %% [markdown]
# The sections are built once as plain data (a heading, then paragraphs, lists, tables of strings
# and charts) and rendered twice: as Markdown by hand (plain text), and as HTML by a jinja2
# template with autoescaping (`tinybench.documents`), so the two cannot disagree and no model name
# can inject markup. The PDF is that HTML, printed by headless Chromium.

# %%
#| export
REPORT_FORMATS = ("markdown", "html", "json", "pdf")


@dataclass(repr=False)
class Report:
    """A benchmark report of a `SuiteResult`: Markdown, self-contained HTML, PDF and JSON, every sentence from the data.
    `cost_per_hour` (money per machine-hour, optional) adds cost per million inferences from measured throughput."""
    result: Any
    title: str = "tinybench report"
    cost_per_hour: float | None = None

    def __post_init__(self):
        if not all(hasattr(self.result, a) for a in ("models", "baseline", "comparisons", "to_dict", "save")):
            raise TypeError(f"result must be a SuiteResult (BenchmarkSuite.run() or SuiteResult.load(path)), got "
                            f"{type(self.result).__name__} {self.result!r:.60}")
        if self.cost_per_hour is not None:
            self.cost_per_hour = check_number(self.cost_per_hour, "cost_per_hour", nonnegative=True,
                                              hint="the price of one machine-hour, e.g. 3.06")

    def findings(self) -> list[str]:
        return suite_findings(self.result)

    def recommendations(self) -> list[str]:
        return suite_recommendations(self.result)

    def limitations(self) -> list[str]:
        return suite_limitations(self.result)

    def figures(self) -> dict[str, Any]:
        "name → matplotlib Figure, for the plots the data allows."
        figs = {name: make(self.result) for name, make in FIGURES.items()}
        return {k: f for k, f in figs.items() if f is not None}

    def sections(self) -> list[tuple[str, list[Any]]]:
        "(heading, blocks) in order; a block is a sentence (str), a list of sentences, a Table or a Chart."
        r, lvl = self.result, format_percent(self.result.settings.level)
        meta = (f"Started {r.started} (UTC), {r.duration:.0f} s, {len(r.models)} models, task: {r.task}."
                + (" **Interrupted: partial results.**" if r.interrupted else ""))
        out = [("", [meta]), ("Executive summary", [executive_summary(r)]),
               ("Latency", [latency_table(r), Chart("latency_cdf", "Latency per batch, every kept sample: the further "
                                                    "left, the faster; the top of each curve is its tail.")]),
               ("Environment", [environment_table(r.environment)]), ("Methodology", [methodology(r)]),
               ("Results", [results_table(r), Chart("memory", "Memory per model: counted parameters and layer bytes, "
                                                    "and the measured peak RSS increase of one batch.")])]
        per_class = per_class_table(r)
        if per_class is not None:
            out.append(("Quality per class", [per_class]))
        if r.comparisons:
            out.append((f"Comparisons with {r.baseline}", [comparisons_table(r), Chart(
                "speedup_by_technique", f"Speedup of each variant over {r.baseline} with its {lvl} interval, coloured "
                "by the verdict; the dotted line is no change."), Chart(
                "accuracy_vs_speedup", "Accuracy against speedup: up and to the right is better; left of the dotted "
                "line is slower than the baseline.")]))
        if self.cost_per_hour is not None:
            out.append(("Cost", [cost_table(r, self.cost_per_hour), f"At {self.cost_per_hour:g} per machine-hour, one "
                                 "model per machine, fully busy at the suite's batch size: a lower bound on serving cost."]))
        if any(m.scenarios for m in r.models.values()):
            out.append(("Scenarios", [scenarios_table(r)]))
        if any(m.batch_sweep or m.batch_limit for m in r.models.values()):
            out.append(("Throughput against batch size", [sweep_table(r), *filter(None, [sweep_memory_table(r)]),
                                                          *batch_limit_blocks(r), Chart(
                "throughput_vs_batch", "Samples/s against batch size (the model alone, median time per batch).")]))
        if any(m.resources for m in r.models.values()):
            out.append(("Resources during timing", resources_blocks(r)))
        if r.regressions is not None:
            out.append(("Against the stored baseline", regression_blocks(r.regressions)))
        out += [("Findings", [self.findings()]), ("Recommendations", [self.recommendations()]),
                ("Limitations", [self.limitations()])]
        return out

    def to_markdown(self, figure_files: Mapping[str, str] | None = None) -> str:
        "The report as Markdown; `figure_files` (chart name → relative path of a PNG) places the plots."
        lines, files = [f"# {markdown_text(self.title)}", ""], figure_files or {}
        for heading, blocks in self.sections():
            if heading:
                lines += [f"## {markdown_text(heading)}", ""]
            for b in blocks:
                if isinstance(b, Chart):
                    lines += [f"![{markdown_text(b.caption)}]({files[b.name]})", ""] if b.name in files else []
                    continue
                lines += [b.markdown() if isinstance(b, Table) else
                          "\n".join(f"- {markdown_text(s)}" for s in b) if isinstance(b, list) else markdown_text(b), ""]
        return "\n".join(lines).rstrip() + "\n"

    def html_body(self) -> str:
        "The report's sections with inline plots as an HTML fragment (what notebooks show)."
        images = {n: png_data_uri(f) for n, f in self.figures().items()}
        return render_document(self.title, self.sections(), images, page=False)

    def to_html(self) -> str:
        "The report as one self-contained HTML page: tables, and the plots inlined as PNG (no scripts, no links)."
        images = {n: png_data_uri(f) for n, f in self.figures().items()}
        return render_document(self.title, self.sections(), images)

    def to_json(self) -> str:
        "The result as versioned JSON (`SuiteResult.load` reads it back)."
        return json.dumps(self.result.to_dict(), indent=1) + "\n"

    def save(self, folder: str | Path, formats: Sequence[str] = ("markdown", "html", "json"),
             results: bool = True) -> dict[str, Path]:
        """Write results.json, then report.md (+ figures/*.png), report.html and report.pdf (printed from the HTML by
        headless Chromium) into `folder`; return format → path.

        results.json is written first, whatever `formats` says (it is the data the others are made from), unless
        `results=False` (it is already there). Every file is written atomically: a failure leaves the files already
        written whole and no partial file; it raises an OSError naming the file and why (RuntimeError for PDF without
        Chromium, after the HTML is written)."""
        if isinstance(formats, str) or not all(isinstance(f, str) for f in formats):
            raise TypeError(f"formats must be a list of format names, e.g. ['html'], got {formats!r:.60}")
        unknown = set(formats) - set(REPORT_FORMATS)
        if unknown:
            raise ValueError(f"unknown report format(s) {sorted(unknown)}: choose from {', '.join(REPORT_FORMATS)}")
        folder = as_path(folder, "folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OSError(e.errno, write_error_message(folder, e)) from e
        out = {"json": self.result.save(folder / "results.json")} if results else {}
        if "markdown" in formats:
            files = {}
            for name, fig in self.figures().items():
                files[name] = save_figure(fig, folder / "figures" / f"{name}.png").relative_to(folder).as_posix()
            out["markdown"] = atomic_write_text(folder / "report.md", self.to_markdown(files))
        if "html" in formats or "pdf" in formats:
            out["html"] = atomic_write_text(folder / "report.html", self.to_html())
        if "pdf" in formats:
            out["pdf"] = html_to_pdf(out["html"], folder / "report.pdf")
        return out

    def __repr__(self) -> str:
        return f"Report({self.title!r}: {len(self.result.models)} models, {len(self.findings())} findings)"

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        return self.html_body()

# %% [markdown]
# `to_pandas()` gives the same rows as a DataFrame for further analysis:

# %%
result.to_pandas()[["accuracy", "median_s", "speedup", "speedup_ci_low", "speedup_ci_high", "verdict", "p_holm"]]

# %% [markdown]
# The report of this run. Read the findings against the tables: every number in a sentence is in a
# table, and a variant is called faster only where its comparison says so.

# %%
from tinybench.report import Report

report = Report(result, title="digits CNN: fp32 vs its optimised variants")
for s in report.findings() + report.recommendations():
    print("-", s)

# %% [markdown]
# Accuracy against speedup is the trade-off plot: up and to the right is better; a point left of
# the dotted line is slower than the baseline; the horizontal bar is the speedup's interval.

# %%
report.figures()["accuracy_vs_speedup"]

# %% [markdown]
# Saved, the report is three files and a folder of figures; the JSON loads back into an equal
# `SuiteResult`:

# %%
import json
import tempfile
from pathlib import Path

with tempfile.TemporaryDirectory() as tmp:
    paths = report.save(tmp)
    loaded = SuiteResult.load(paths["json"])
    assert json.dumps(loaded.to_dict()) == json.dumps(result.to_dict())
    assert "<img" in paths["html"].read_text() and (Path(tmp) / "figures" / "latency_cdf.png").exists()
    print({k: p.name for k, p in paths.items()})

# %% [markdown]
# ## 11. The `tinybench` command
#
# The same suite and report from the shell (see `modules/cli.py`):
#
# ```bash
# tinybench run                                   # the default workload: fp32 and its variants
# tinybench run --models "fp32:base.pt,int8:int8.pt" --batch-size 32 --save-dir results --report-format markdown,html
# tinybench report results/20261122T120000Z/results.json   # the report again, from the saved data
# tinybench compare old/results.json new/results.json      # two runs, per model, with intervals
# tinybench plan --target-qps 2000 --slo-ms 50 --results results/.../results.json
# ```
#
# `--models` takes TorchScript files (`torch.jit.save`) or whole pickled modules (`torch.save(model)`);
# the first is the baseline. Exit status: 0 success, 1 a model failed or regressed, 2 bad usage
# (a missing file, a file that is not a model, an unwritable folder), with a one-line message.
