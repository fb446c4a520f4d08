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
# 6. the latency CDF: the plot that shows a whole distribution (**exercise 3**).
#
# *Work in progress:* the multi-model suite, the Markdown/HTML/JSON report and the
# `compare`/`report` commands come next (issue #8); this part provides the pieces they are built
# from.

# %%
#| default_exp report

# %%
#| export
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

# %% nbgrader={"grade": false, "grade_id": "notebook-setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import torch

from tinybench.nbutils import reference_fallback
from tinybench.workloads import default_workload

use_reference_if_open = reference_fallback("tinybench.report")
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
from tinybench.timing import environment

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
#| export
def agreement_metrics(base: np.ndarray, cand: np.ndarray) -> dict[str, float]:
    "Max abs/rel error, mean/min per-sample cosine similarity and top-1 agreement of two (n, k) output arrays."
    base, cand = np.asarray(base, dtype=np.float64), np.asarray(cand, dtype=np.float64)
    if base.shape != cand.shape or base.ndim != 2 or base.shape[0] == 0:
        raise ValueError(f"need two non-empty (n_samples, n_outputs) arrays of one shape, got {base.shape} and {cand.shape}")
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
assert m["max_abs_error"] == 4.0 and m["max_rel_error"] == 1.0, m
assert m["top1_agreement"] == 0.5, "sample 0 agrees (class 2), sample 1 does not"
assert abs(m["cosine_min"] - (1 - _cosine_distance(b[1], c[1]))) < 1e-12
assert abs(m["cosine_mean"] - np.mean([1 - _cosine_distance(b[i], c[i]) for i in range(2)])) < 1e-12
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(0)
B = rng.standard_normal((200, 10))
C = B + rng.normal(0, 0.01, B.shape)
m = agreement_metrics(B, C)
assert abs(m["max_abs_error"] - np.abs(B - C).max()) < 1e-15
assert abs(m["max_rel_error"] - np.abs(B - C).max() / np.abs(B).max()) < 1e-15
assert m["cosine_min"] > 0.99 and m["top1_agreement"] == float(np.mean(B.argmax(1) == C.argmax(1)))
assert agreement_metrics(B, B)["max_abs_error"] == 0.0 and abs(agreement_metrics(B, B)["cosine_min"] - 1) < 1e-12
assert all(isinstance(v, float) for v in m.values())
try:
    agreement_metrics(B, C[:, :5])
    raise AssertionError("mismatched shapes must raise ValueError")
except ValueError:
    pass
### END HIDDEN TESTS

# %%
agreement_metrics = use_reference_if_open(agreement_metrics, np.ones((1, 2)), np.ones((1, 2)))

# %% [markdown]
# `compare_outputs` runs both models on the same data (in batches, under `inference_mode`),
# counts non-finite outputs before anything else (a NaN makes every other metric meaningless),
# and, when labels are given, reports the accuracy change per class: an optimisation can keep
# overall accuracy while hurting one class.

# %%
#| export
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


def _outputs(model: Callable, X: Any, batch_size: int) -> np.ndarray:
    import torch
    outs = []
    with torch.inference_mode():
        for i in range(0, len(X), batch_size):
            o = model(X[i:i + batch_size])
            outs.append(o.detach().float().cpu().numpy() if hasattr(o, "detach") else np.asarray(o, dtype=float))
    out = np.concatenate(outs)
    return out.reshape(out.shape[0], -1)


def compare_outputs(baseline: Callable, candidate: Callable, X: Any, labels: Sequence[int] | None = None,
                    batch_size: int = 256) -> OutputAgreement:
    "Run `baseline` and `candidate` on the same inputs `X` and measure how closely the candidate agrees."
    if len(X) == 0:
        raise ValueError("no inputs: output agreement needs at least one sample")
    base, cand = _outputs(baseline, X, batch_size), _outputs(candidate, X, batch_size)
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
#| export
def classification_quality(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, Any]:
    "Accuracy, weighted and per-class precision/recall/F1 (with support) and the confusion matrix (sklearn)."
    from sklearn import metrics as skm
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"need equal, non-empty label arrays, got {y_true.shape} and {y_pred.shape}")
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
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape or y_true.size < 2:
        raise ValueError(f"need equal label arrays of at least 2 values, got {y_true.shape} and {y_pred.shape}")
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
assert text.startswith("int8 is 2.0") and "faster than fp32" in text and "95% CI" in text, text
same = compare(base_t, rng.lognormal(np.log(2e-3), 0.05, 300), label_a="fp32", label_b="pruned")
assert same.verdict == "no detectable difference" and "faster" not in latency_finding(same), latency_finding(same)
### BEGIN HIDDEN TESTS
lo, hi = fast.ratio_ci
assert text == f"int8 is {1 / fast.ratio:.2f}× faster than fp32 (time ratio {fast.ratio:.3f}, 95% CI {lo:.3f}–{hi:.3f})."
slow = compare(base_t, base_t * 1.5, label_a="A", label_b="B")
assert latency_finding(slow).startswith("B is 1.50× slower than A (time ratio 1.500")
eq = compare(base_t, base_t * 1.001, margin=0.05, label_a="A", label_b="B")
assert latency_finding(eq).startswith("B and A are equivalent within ±5% (time ratio"), latency_finding(eq)
assert latency_finding(same).startswith("No significant difference between pruned and fp32") and \
    latency_finding(same).endswith("includes 1).")
### END HIDDEN TESTS

# %%
latency_finding = use_reference_if_open(latency_finding, compare([1.0, 1.1, 0.9], [1.0, 1.1, 0.9]))

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
    if not samples:
        raise ValueError("no latency samples to plot")
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
assert len(lines) == 2 and [l.get_label() for l in lines] == ["a", "b"]
assert np.allclose(lines[0].get_xdata(), [1, 2, 3]) and np.allclose(lines[0].get_ydata(), [1 / 3, 2 / 3, 1])
assert ax.get_xlabel() == "latency (ms)" and ax.get_ylabel() == "fraction of calls" and ax.get_xscale() == "linear"
### BEGIN HIDDEN TESTS
wide = plot_latency_cdf({"x": [1e-4, 1e-2]})
assert wide.axes[0].get_xscale() == "log"
assert wide.axes[0].get_legend() is not None
assert type(wide).__module__.startswith("matplotlib.figure")
try:
    plot_latency_cdf({})
    raise AssertionError("an empty dict must raise ValueError")
except ValueError:
    pass
### END HIDDEN TESTS

# %%
plot_latency_cdf = use_reference_if_open(plot_latency_cdf, {"a": [1e-3]})

# %%
plot_latency_cdf({"fp32": base_m.samples, **{k: m.samples for k, m in variant_times.items()}})
