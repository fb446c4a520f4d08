# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The suite: every model, the same data, the same settings, interleaved
#
# A support notebook (`tinybench.suite`), taught in module 06 (sections 7 to 9), used by
# `tinybench run` and by the report. `BenchmarkSuite` runs every step of the course on a set of
# models (outputs and quality, interleaved timing, size and memory, the batch sweep, the scenarios,
# cross-validation, user metrics) and compares each candidate with the baseline; `SuiteResult` keeps
# the raw data of every step, so that each number in the report can be recomputed from it.

# %%
#| default_exp suite

# %%
#| export
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape as html_escape
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from tinybench.checks import check_level, check_number, check_quantile
from tinybench.display import Progress, Table, format_bytes, format_metric, format_percent, format_seconds, format_value
from tinybench.files import atomic_write_text
from tinybench.monitor import MonitorResult, ResourceMonitor, ResourceSummary
from tinybench.profiles import BatchLimit, BatchSweep, MemoryProfile, ModelStats
from tinybench.stats import verdict

SUITE_SCHEMA = "tinybench.suite/1"


@dataclass
class SuiteSettings:
    """What `BenchmarkSuite` measures for every model. Times in seconds, sizes in samples.

    Timing runs `rounds` interleaved rounds of `min_time / rounds` seconds per model; with `sequential` it then adds
    rounds until every comparison is decisive, up to `max_rounds` rounds or `time_budget` seconds of timing.
    `resource_interval`: seconds between `ResourceMonitor` samples during each model's timed blocks (None: off).
    `latency_budget` (seconds per batch, optional): per model, the largest batch whose p90 fits it, and its samples/s
    (module 03's `max_batch_under_latency`, up to 8 × the largest swept batch size). `tokens_per_sample` (sequence
    models with a fixed length, optional) adds tokens/s = samples/s × tokens per sample to the batch sweep's table."""
    batch_size: int = 32
    min_time: float = 2.0
    rounds: int = 20
    scenarios: tuple[str, ...] = ("SingleStream", "Offline")
    scenario_duration: float = 1.0
    server_qps: float | None = None
    batch_sizes: tuple[int, ...] = (1, 8, 32, 128)
    sweep_min_time: float = 0.1
    memory: bool = True
    level: float = 0.95
    margin: float | None = 0.05
    device: str = "cpu"
    sequential: bool = True
    max_rounds: int = 200
    time_budget: float = 60.0
    resource_interval: float | None = 0.1
    latency_budget: float | None = None
    tokens_per_sample: int | None = None

    def __post_init__(self):
        from tinybench.scenarios import SCENARIOS
        from tinybench.checks import check_number
        for name in ("batch_size", "rounds", "max_rounds"):
            setattr(self, name, check_number(getattr(self, name), name, integer=True, positive=True))
        for name in ("min_time", "time_budget", "scenario_duration", "sweep_min_time"):
            setattr(self, name, check_number(getattr(self, name), name, positive=True, hint="seconds"))
        if self.resource_interval is not None:
            self.resource_interval = check_number(self.resource_interval, "resource_interval", positive=True,
                                                  hint="seconds between resource samples, e.g. 0.1, or None for none")
        if self.tokens_per_sample is not None:
            self.tokens_per_sample = check_number(self.tokens_per_sample, "tokens_per_sample", integer=True, lo=1,
                                                  hint="tokens in each sample of a fixed-length sequence model")
        if self.latency_budget is not None:
            self.latency_budget = check_number(self.latency_budget, "latency_budget", positive=True,
                                               hint="seconds per batch at p90, e.g. 0.01, or None for no search")
        for name in ("sequential", "memory"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"SuiteSettings: {name} must be True or False, got {getattr(self, name)!r}")
        self.scenarios = tuple(self.scenarios)
        self.batch_sizes = tuple(int(b) for b in self.batch_sizes)
        checks = [(self.batch_size >= 1, f"batch_size must be >= 1 sample, got {self.batch_size}"),
                  (self.min_time > 0, f"min_time must be > 0 seconds, got {self.min_time}"),
                  (self.rounds >= 1, f"rounds must be >= 1, got {self.rounds}"),
                  (all(s in SCENARIOS for s in self.scenarios), f"scenarios must be among {SCENARIOS}, got {self.scenarios}"),
                  (self.scenario_duration > 0, "scenario_duration must be > 0 seconds"),
                  (self.server_qps is None or self.server_qps > 0, "server_qps must be > 0 queries per second"),
                  (all(b >= 1 for b in self.batch_sizes), f"batch sizes must be >= 1, got {self.batch_sizes}"),
                  (self.sweep_min_time > 0, "sweep_min_time must be > 0 seconds"),
                  (0.5 < self.level < 1, f"level must be in (0.5, 1), e.g. 0.95, got {self.level}"),
                  (self.margin is None or self.margin > 0, "margin must be a positive fraction, e.g. 0.05"),
                  (self.max_rounds >= self.rounds, f"max_rounds must be >= rounds ({self.rounds}), got {self.max_rounds}"),
                  (self.time_budget > 0, f"time_budget must be > 0 seconds, got {self.time_budget}")]
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"SuiteSettings: {msg}")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SuiteSettings":
        return cls(**d)

# %% [markdown]
# What the suite keeps per model is plain data (numbers, lists, dicts of them), so that a result
# written as JSON loads back into the same objects. Each step that failed leaves its error under
# `errors[step]` and the other steps' results stand.

# %% [markdown]
# One model's interleaved timing is typed: its fields are the raw data (the samples, pooled over
# the rounds, and one median per round), and every figure a report cites (median, p99,
# throughput, ...) is computed from them on demand, so it can be recomputed from what is kept.

# %%
#| export
@dataclass(repr=False)
class TimingSummary:
    """The interleaved timing of one model: seconds per batch of `batch` samples. `samples`: every timing sample,
    pooled over the rounds (seconds per batch); `round_medians`: one median per round, the replications that the
    comparisons use; `pitfalls`: what the harness flagged ({"kind", "explanation"}). The rest is computed."""
    batch: int
    samples: list[float]
    round_medians: list[float]
    pitfalls: list[dict[str, str]] = field(default_factory=list)
    unit = "seconds per batch"

    @property
    def n(self) -> int:
        "Number of timing samples."
        return len(self.samples)

    @property
    def rounds(self) -> int:
        "Number of rounds this model was timed in."
        return len(self.round_medians)

    def quantile(self, q: float) -> float:
        "The `q` quantile (a fraction) of the samples, seconds per batch (linear interpolation, numpy's default)."
        return float(np.quantile(np.asarray(self.samples, dtype=float), check_quantile(q)))

    @property
    def median(self) -> float:
        return float(np.median(self.samples))

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples))

    @property
    def p90(self) -> float:
        return float(np.percentile(self.samples, 90))

    @property
    def p95(self) -> float:
        return float(np.percentile(self.samples, 95))

    @property
    def p99(self) -> float:
        return float(np.percentile(self.samples, 99))

    @property
    def iqr(self) -> float:
        return float(np.subtract(*np.percentile(self.samples, [75, 25])))

    @property
    def throughput(self) -> float:
        "Samples per second at the median: batch / median."
        return self.batch / self.median

    def to_dict(self) -> dict[str, Any]:
        "The raw data and every derived figure (results.json keeps both; loading reads only the raw data)."
        return {"batch": self.batch, "unit": self.unit, "n": self.n, "samples": list(self.samples),
                "median": self.median, "mean": self.mean, "p90": self.p90, "p95": self.p95, "p99": self.p99,
                "iqr": self.iqr,
                "throughput": self.throughput, "rounds": self.rounds, "round_medians": list(self.round_medians),
                "pitfalls": list(self.pitfalls)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TimingSummary":
        return cls(int(d["batch"]), [float(x) for x in d["samples"]], [float(x) for x in d.get("round_medians", [])],
                   list(d.get("pitfalls", [])))

    def __repr__(self) -> str:
        return (f"TimingSummary(batch {self.batch}: median {format_seconds(self.median)}, p99 "
                f"{format_seconds(self.p99)}, n={self.n} over {self.rounds} rounds)")

# %%
_ts = TimingSummary(8, [1e-3, 2e-3, 3e-3, 4e-3], [2e-3, 3e-3])
assert _ts.median == 2.5e-3 and _ts.throughput == 8 / 2.5e-3 and TimingSummary.from_dict(_ts.to_dict()).samples == _ts.samples
_ts

# %% [markdown]
# The memory of one batch is typed too: module 03's `MemoryProfile` (measured) and the largest
# layer's inputs and outputs (counted from the shapes).

# %%
#| export
@dataclass(repr=False)
class MemorySummary:
    """The memory of one batch of `batch` samples: `profile`, module 03's `MemoryProfile` (bytes: process RSS before,
    after and at its peak, the CUDA allocator when used; measured), and `largest_layer_bytes`, the largest layer's
    inputs + outputs in bytes (counted from the shapes, not measured)."""
    batch: int
    profile: MemoryProfile
    largest_layer_bytes: int | None = None

    @property
    def rss_increase(self) -> int:
        "Peak RSS during the batch minus RSS before it, bytes."
        return self.profile.rss_increase

    @property
    def cuda_increase(self) -> int | None:
        "Peak CUDA allocation during the batch minus the allocation before it, bytes (None without CUDA)."
        return self.profile.cuda_increase

    def to_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, **self.profile.to_dict(), "largest_layer_bytes": self.largest_layer_bytes}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "MemorySummary":
        return cls(int(d["batch"]), MemoryProfile.from_dict(d), d.get("largest_layer_bytes"))

    def __repr__(self) -> str:
        return f"MemorySummary(batch {self.batch}: peak RSS +{format_bytes(self.rss_increase)})"

# %%
_ms = MemorySummary(4, MemoryProfile(100, 120, 150, "VmHWM", None, None), 64)
assert _ms.rss_increase == 50 and MemorySummary.from_dict(_ms.to_dict()).to_dict() == _ms.to_dict()
_ms

# %%
#| export
@dataclass(repr=False)
class ModelResult:
    """Everything the suite measured for one model. Times in seconds, memory in bytes, throughput in samples/s.

    `timing`: the interleaved timing at the suite's batch size (`samples`: seconds per batch, pooled over rounds);
    `quality`: task metrics (`classification_quality`/`regression_quality`); `agreement`: `OutputAgreement.to_dict()`
    against the baseline; `stats`: `ModelStats.to_dict()`; `memory`: `MemoryProfile.to_dict()` of one batch;
    `batch_sweep`: `BatchSweep.to_dict()`; `batch_limit`: the largest batch within `latency_budget` (`BatchLimit`);
    `scenarios`: per scenario, its metrics and latencies;
    `cross_validation`: `CrossValidation.to_dict()` when a trainer was given; `metrics`: the user metrics' values
    (column → number, see `Metric`); `resources`: CPU %, RSS and (with NVML) GPU use sampled during this model's
    timed blocks only (`ResourceSummary`, with its samples); `errors`: step → message."""
    name: str
    description: str = ""
    device: str = "cpu"
    timing: TimingSummary | None = None
    quality: dict[str, Any] | None = None
    predictions: list | None = None
    nonfinite_outputs: int = 0
    agreement: dict[str, Any] | None = None
    stats: ModelStats | None = None
    memory: MemorySummary | None = None
    batch_sweep: BatchSweep | None = None
    batch_limit: BatchLimit | None = None
    scenarios: dict[str, dict[str, Any]] = field(default_factory=dict)
    cross_validation: dict[str, Any] | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    resources: ResourceSummary | None = None

    @property
    def ok(self) -> bool:
        "No step failed and every output was finite (a user metric that failed is the metric's fault, not the model's)."
        return not any(not step.startswith("metric ") for step in self.errors) and not self.nonfinite_outputs

    @property
    def accuracy(self) -> float | None:
        return None if self.quality is None else self.quality.get("accuracy")

    @property
    def median(self) -> float | None:
        "Median seconds per batch of the interleaved timing."
        return None if self.timing is None else self.timing.median

    @property
    def best_throughput(self) -> dict[str, Any] | None:
        "The batch-sweep row with the most samples/s."
        rows = self.batch_sweep.rows if self.batch_sweep else []
        return max(rows, key=lambda r: r["samples_per_s"], default=None)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["timing"] = None if self.timing is None else self.timing.to_dict()
        d["memory"] = None if self.memory is None else self.memory.to_dict()
        d["stats"] = None if self.stats is None else self.stats.to_dict()
        d["resources"] = None if self.resources is None else self.resources.to_dict()
        d["batch_limit"] = None if self.batch_limit is None else self.batch_limit.to_dict()
        d["batch_sweep"] = None if self.batch_sweep is None else {
            k: v for k, v in self.batch_sweep.to_dict().items() if k != "env"}  # the suite keeps one environment
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelResult":
        timing, memory, stats, sweep = d.get("timing"), d.get("memory"), d.get("stats"), d.get("batch_sweep")
        resources, limit = d.get("resources"), d.get("batch_limit")  # absent from older results.json
        return cls(**{**d, "timing": None if timing is None else TimingSummary.from_dict(timing),
                      "batch_limit": None if limit is None else BatchLimit.from_dict(limit),
                      "resources": None if resources is None else ResourceSummary.from_dict(resources),
                      "memory": None if memory is None else MemorySummary.from_dict(memory),
                      "stats": None if stats is None else ModelStats.from_dict(stats),
                      "batch_sweep": None if sweep is None else BatchSweep.from_dict(sweep)})

    def __repr__(self) -> str:
        parts = [f"ModelResult({self.name!r} on {self.device}"]
        if self.accuracy is not None:
            parts.append(f"accuracy {self.accuracy:.2%}")
        if self.median is not None:
            parts.append(f"median {format_seconds(self.median)} per batch of {self.timing.batch}")
        if self.errors:
            parts.append("FAILED " + "; ".join(f"{k}: {v}" for k, v in self.errors.items()))
        return ", ".join(parts) + ")"


# %% [markdown]
# A comparison of one candidate with the baseline. The **rounds are the replications**: within a
# round the models run back to back, so the ratio of their round medians is a paired observation,
# and drift between rounds cancels out of it. The time ratio is the geometric mean of the per-round
# ratios with a t-interval on their logs (module 04's `paired_ratio`). The pooled iterations of
# all rounds are compared too (module 01's `compare`), but only as a description: iterations of
# one process are not independent, so their interval is far too narrow to decide on. With one
# round the suite has no replication and falls back to the pooled samples, and says so.

# %%
#| export
@dataclass(repr=False)
class VariantComparison:
    """Candidate vs baseline at the suite's batch size: time ratio candidate/baseline with its CI, p-value, the
    Holm-adjusted p over all candidates and the verdict; the paired accuracy change (McNemar's exact test)."""
    baseline: str
    candidate: str
    ratio: float
    ratio_ci: tuple[float, float]
    p_value: float
    p_holm: float
    n_comparisons: int
    verdict: str
    level: float
    margin: float | None
    method: str
    pooled: dict[str, Any] = field(default_factory=dict)
    accuracy_change: float | None = None
    mcnemar_p: float | None = None
    n_discordant: int | None = None
    top1_agreement: float | None = None
    rounds: int | None = None
    decided: bool = True
    more_rounds: int | None = None

    label_a = property(lambda self: self.baseline, doc="The baseline's name (as in stats.Comparison).")
    label_b = property(lambda self: self.candidate, doc="The candidate's name (as in stats.Comparison).")

    @property
    def speedup(self) -> float:
        "Baseline time / candidate time (> 1: the candidate is faster)."
        return 1 / self.ratio

    @property
    def speedup_ci(self) -> tuple[float, float]:
        lo, hi = self.ratio_ci
        return (1 / hi if hi > 0 else math.inf, 1 / lo if lo > 0 else math.inf)

    @property
    def bounded(self) -> bool:
        """Whether the interval is bounded on both sides (0 < low, high < ∞). With a few noisy rounds a confidence
        sequence can be (0, ∞): then the point estimate says nothing, and reports show none."""
        lo, hi = self.ratio_ci
        return 0 < lo and math.isfinite(hi)

    def accuracy_significant(self, alpha: float = 0.05) -> bool:
        "McNemar's test rejects 'same accuracy' at `alpha`."
        return self.mcnemar_p is not None and self.mcnemar_p < alpha

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in ((k, getattr(self, k)) for k in self.__dataclass_fields__)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "VariantComparison":
        return cls(**{**d, "ratio_ci": tuple(d["ratio_ci"])})

    def __repr__(self) -> str:
        lo, hi = self.ratio_ci
        s = (f"VariantComparison({self.candidate} vs {self.baseline}: {self.verdict}, time ratio {self.ratio:.3f} "
             f"({self.level:.0%} CI {lo:.3f}–{hi:.3f}), Holm p {self.p_holm:.2g}")
        if not self.decided:
            more = f"~{self.more_rounds} more rounds" if self.more_rounds is not None else "many more rounds"
            s += f"; undecided after {self.rounds} rounds, {more} would decide it"
        if self.accuracy_change is not None:
            s += f"; accuracy {self.accuracy_change:+.2%} (McNemar p {self.mcnemar_p:.2g})"
        return s + ")"

# %% [markdown]
# McNemar's exact test needs only the two counts of discordant samples: `b` where the baseline is
# right and the candidate wrong, `c` the other way round. Under "same accuracy" each discordant
# sample is a fair coin, so the p-value is the two-sided binomial test of `b` out of `b + c`.

# %%
#| export
def _correctness(x: Any, name: str) -> np.ndarray:
    "`x` as a non-empty 1-D bool array (bools, or 0/1 numbers), else a ValueError naming `name`."
    arr = np.asarray(x)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of True/False (one per sample), got shape "
                         f"{arr.shape}")
    if arr.dtype.kind == "b":
        return arr
    if arr.dtype.kind not in "iuf" or not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name} must hold True/False (or 0/1) per sample, got {arr[:3].tolist()} (dtype {arr.dtype})")
    return arr.astype(bool)


def mcnemar_exact(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> tuple[float, int, int]:
    "(two-sided exact p-value, b, c) of McNemar's test: b = a right and b wrong, c = a wrong and b right."
    from scipy.stats import binomtest
    a, b_ = _correctness(correct_a, "correct_a"), _correctness(correct_b, "correct_b")
    if a.shape != b_.shape:
        raise ValueError(f"correct_b has {b_.size} values but correct_a has {a.size}: one per test sample, for both")
    b, c = int(np.sum(a & ~b_)), int(np.sum(~a & b_))
    return (1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)), b, c

# %% [markdown]
# The result of a suite: the models, the comparisons, the settings and the environment, with a
# summary table (`rows()`, or `to_pandas()` when pandas is installed), a notebook rendering, and
# `save`/`load` for the versioned JSON (`schema: "tinybench.suite/1"`).

# %%
#| export
@dataclass(repr=False)
class SuiteResult:
    """A suite's per-model results, the comparisons with the baseline, its settings and environment (see ModelResult).

    `regressions`: when the run was checked against a ResultStore baseline, name → RegressionReport dict (or None);
    `metrics`: the user metrics' `MetricInfo` (their values are in each `ModelResult.metrics`)."""
    models: dict[str, ModelResult]
    baseline: str
    settings: SuiteSettings
    task: str
    n_samples: int
    comparisons: list[VariantComparison] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    started: str = ""
    duration: float = 0.0
    interrupted: bool = False
    regressions: dict[str, Any] | None = None
    metrics: list[MetricInfo] = field(default_factory=list)
    schema: str = SUITE_SCHEMA

    def comparison(self, candidate: str) -> VariantComparison | None:
        return next((c for c in self.comparisons if c.candidate == candidate), None)

    def metric_columns(self) -> list[str]:
        "The user metrics' columns that hold a value for some model, in the order the metrics were given."
        order = {info.name: i for i, info in enumerate(self.metrics)}
        cols = dict.fromkeys(c for m in self.models.values() for c in m.metrics)
        return sorted(cols, key=lambda c: order.get(c.split(".")[0], len(order)))

    def metric_info(self, column: str) -> MetricInfo:
        "The `MetricInfo` of a user metric's column (`name` or `name.key`); a bare one if the result lacks it."
        name = column.split(".")[0]
        return next((i for i in self.metrics if i.name == name), MetricInfo(name))

    def rows(self) -> list[dict[str, Any]]:
        "One summary row per model: accuracy, median and p99 per batch, speedup with CI, verdict, size, memory."
        out, metric_columns = [], self.metric_columns()
        for name, m in self.models.items():
            c, best = self.comparison(name), m.best_throughput
            t = m.timing
            out.append({"model": name, "accuracy": m.accuracy, "median_s": t and t.median, "p99_s": t and t.p99,
                        "batch": t and t.batch, "speedup": c.speedup if c else (1.0 if name == self.baseline else None),
                        "speedup_ci_low": c.speedup_ci[0] if c else None, "speedup_ci_high": c.speedup_ci[1] if c else None,
                        "verdict": c.verdict if c else ("baseline" if name == self.baseline else None),
                        "p_holm": c.p_holm if c else None,
                        "accuracy_change": c.accuracy_change if c else None, "mcnemar_p": c.mcnemar_p if c else None,
                        "top1_agreement": c.top1_agreement if c else None,
                        "best_samples_per_s": best["samples_per_s"] if best else None,
                        "best_batch": best["batch"] if best else None,
                        "params": m.stats and m.stats.n_params, "flops": m.stats and m.stats.flops,
                        "param_bytes": m.stats and m.stats.param_bytes,
                        "serialized_bytes": m.stats and m.stats.serialized_bytes,
                        "memory_peak_bytes": m.memory.rss_increase if m.memory else None,
                        "cpu_percent_mean": m.resources and m.resources.cpu_percent_mean,
                        "rss_bytes_peak": m.resources and m.resources.rss_bytes_peak,
                        "gpu_util_percent_mean": m.resources and m.resources.gpu_util_percent_mean,
                        "errors": "; ".join(f"{k}: {v}" for k, v in m.errors.items()) or None})
            out[-1].update({c: m.metrics.get(c) for c in metric_columns})
        return out

    def to_pandas(self):
        "`rows()` as a pandas DataFrame indexed by model (needs pandas)."
        try:
            import pandas as pd
        except ImportError as e:
            raise ImportError("to_pandas needs pandas: pip install pandas (or use rows())") from e
        return pd.DataFrame(self.rows()).set_index("model")

    def to_dict(self) -> dict[str, Any]:
        return {"schema": self.schema, "started": self.started, "duration": self.duration,
                "interrupted": self.interrupted, "baseline": self.baseline, "task": self.task,
                "n_samples": self.n_samples, "settings": self.settings.to_dict(), "environment": self.environment,
                "models": {k: m.to_dict() for k, m in self.models.items()},
                "comparisons": [c.to_dict() for c in self.comparisons], "regressions": self.regressions,
                "metrics": [i.to_dict() for i in self.metrics]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SuiteResult":
        schema = d.get("schema") if isinstance(d, Mapping) else None
        if schema != SUITE_SCHEMA:
            raise ValueError(f"not a tinybench suite result (schema {schema!r}, expected {SUITE_SCHEMA!r})")
        return cls(models={k: ModelResult.from_dict(m) for k, m in d["models"].items()}, baseline=d["baseline"],
                   settings=SuiteSettings.from_dict(d["settings"]), task=d["task"], n_samples=d["n_samples"],
                   comparisons=[VariantComparison.from_dict(c) for c in d["comparisons"]],
                   environment=d["environment"], started=d["started"], duration=d["duration"],
                   interrupted=d["interrupted"], regressions=d.get("regressions"),
                   metrics=[MetricInfo.from_dict(i) for i in d.get("metrics") or []], schema=schema)

    def save(self, path: str | Path) -> Path:
        "Write the result as JSON (atomically: a temporary file, then a rename) and return the path."
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "SuiteResult":
        "Read a result written by `save` (or `tinybench run`); ValueError if it is not one."
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"no such results file: {path}")
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
            raise ValueError(f"{path} is not a results.json written by tinybench: {type(e).__name__}: {e}") from e

    def __repr__(self) -> str:
        head = (f"SuiteResult({len(self.models)} models on {self.n_samples} samples, baseline {self.baseline!r}"
                + (", INTERRUPTED (partial)" if self.interrupted else "") + ")")
        lines = [head]
        for r in self.rows():
            if r["median_s"] is None:
                lines.append(f"  {r['model']:14s} failed: {r['errors']}")
                continue
            acc = f"accuracy {r['accuracy']:.2%}" if r["accuracy"] is not None else ""
            sp = (f"{speedup_text(r['speedup'], r['speedup_ci_low'], r['speedup_ci_high'])} {r['verdict']}"
                  if r["speedup_ci_low"] is not None else r["verdict"] or "")
            lines.append(f"  {r['model']:14s} {format_seconds(r['median_s']):>10s} per batch of {r['batch']}  "
                         f"{sp}  {acc}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return f"<div><b>{html_escape(repr(self).splitlines()[0])}</b>{results_table(self).html()}</div>"

# %%
#| export
@dataclass(repr=False)
class CrossValidation:
    "k-fold cross-validation: the task metric per fold (accuracy or R²), training seconds per fold, and full metrics."
    k: int
    task: str
    metric: str
    scores: list[float]
    train_seconds: list[float]
    folds: list[dict[str, Any]]
    level: float = 0.95

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))

    @property
    def ci(self) -> tuple[float, float]:
        "t-interval of the mean score over folds at `level` (optimistic: folds share training data)."
        from scipy import stats as st
        s = np.asarray(self.scores)
        if s.size < 2 or s.std() == 0:
            return (float(s.mean()), float(s.mean()))
        lo, hi = st.t.interval(self.level, s.size - 1, loc=s.mean(), scale=st.sem(s))
        return (float(lo), float(hi))

    def to_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__}, "mean": self.mean, "ci": list(self.ci)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "CrossValidation":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})

    def __repr__(self) -> str:
        lo, hi = self.ci
        return (f"CrossValidation({self.k}-fold {self.task}: {self.metric} {self.mean:.4f} ({self.level:.0%} t-interval "
                f"{lo:.4f}–{hi:.4f}, optimistic), training {format_seconds(float(np.mean(self.train_seconds)))} per fold)")

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{i + 1}</td><td>{s:.4f}</td><td>{format_seconds(t)}</td></tr>"
                       for i, (s, t) in enumerate(zip(self.scores, self.train_seconds)))
        return (f"<div><b>{html_escape(repr(self))}</b><table><tr><th>fold</th><th>{self.metric}</th>"
                f"<th>training</th></tr>{rows}</table></div>")


def _task_of(y: Any) -> str:
    "classification for integer labels, regression for float targets, none without labels."
    if y is None:
        return "none"
    return "classification" if np.issubdtype(np.asarray(y).dtype, np.integer) else "regression"


def _take(a: Any, idx: np.ndarray) -> Any:
    "Rows `idx` of a numpy array or a torch tensor."
    if hasattr(a, "index_select"):
        import torch
        return a[torch.as_tensor(idx)]
    return np.asarray(a)[idx]


def predict_labels(model: Any, X: Any, task: str, batch_size: int = 256) -> np.ndarray:
    "Predictions of `model` on `X`: `.predict` when it has one (sklearn), else argmax (classification) of outputs."
    if hasattr(model, "predict"):
        return np.asarray(model.predict(X))
    from tinybench.quality import model_outputs
    out = model_outputs(model, X, batch_size)
    return out.argmax(axis=1) if task == "classification" else out[:, 0]


def cross_validate(fit: Callable[[Any, Any], Any], X: Any, y: Any, k: int = 5, task: str | None = None,
                   seed: int = 0, level: float = 0.95) -> CrossValidation:
    """k-fold cross-validation of `fit(X_train, y_train) -> model` (stratified for classification, seeded).

    Each fold's training is timed with `tinybench.timing.time_call` (seconds); predictions come from
    `predict_labels`; quality from `classification_quality` / `regression_quality`."""
    from sklearn.model_selection import KFold, StratifiedKFold

    from tinybench.quality import classification_quality, regression_quality
    from tinybench.timing import time_call
    if not callable(fit):
        raise TypeError(f"fit must be a callable (X_train, y_train) -> fitted model, got {type(fit).__name__}: "
                        "pass the training function, not a model")
    k, level = check_number(k, "k", integer=True, lo=2, hint="folds"), check_level(level)
    y_np = np.asarray(y.cpu() if hasattr(y, "cpu") else y)
    if y_np.ndim != 1 or len(X) != len(y_np):
        raise ValueError(f"X has {len(X)} samples but y has shape {y_np.shape}: one label per sample")
    task = task or _task_of(y_np)
    if task not in ("classification", "regression"):
        raise ValueError(f"cross-validation needs labels and a task (classification or regression), got {task!r}")
    if not 2 <= k <= len(y_np):
        raise ValueError(f"k must be between 2 and the number of samples ({len(y_np)}), got {k}")
    splitter = (StratifiedKFold if task == "classification" else KFold)(k, shuffle=True, random_state=seed)
    scores, seconds, folds = [], [], []
    for train, test in splitter.split(np.zeros(len(y_np)), y_np):
        trained: list[Any] = []
        seconds.append(time_call(lambda: trained.append(fit(_take(X, train), _take(y, train)))))
        pred = predict_labels(trained[0], _take(X, test), task)
        q = (classification_quality if task == "classification" else regression_quality)(y_np[test], pred)
        scores.append(q["accuracy"] if task == "classification" else q["r2"])
        folds.append(q)
    return CrossValidation(k, task, "accuracy" if task == "classification" else "r2", scores, seconds, folds, level)

# %%
#| export
def _unwrap(obj: Any, default_device: str) -> tuple[Callable, str, str]:
    "(callable, device, description) of a model, a workloads.Variant, a scenarios.TorchSUT or an estimator."
    model = as_batch_callable(getattr(obj, "model", obj))
    if isinstance(model, EstimatorModel):  # scikit-learn predicts on the CPU, whatever the suite's device
        return model, "cpu", getattr(obj, "description", "") or model.description
    return model, getattr(obj, "device", None) or default_device, getattr(obj, "description", "") or type(model).__name__


def _as_data(dataset: Any) -> tuple[Any, np.ndarray | None]:
    "(X as a torch tensor, labels as a numpy array or None) from (X, y), an object with X_test/y_test, or X."
    import torch
    if hasattr(dataset, "X_test"):
        X, y = dataset.X_test, getattr(dataset, "y_test", None)
    elif isinstance(dataset, tuple) and len(dataset) == 2:
        X, y = dataset
    else:
        X, y = dataset, None
    X = X if torch.is_tensor(X) else torch.as_tensor(np.asarray(X))
    if X.dtype == torch.float64:
        X = X.float()
    if X.ndim == 0 or len(X) == 0:
        raise ValueError("the dataset is empty: a benchmark needs at least one sample")
    if y is not None:
        y = np.asarray(y.cpu() if hasattr(y, "cpu") else y)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} samples but y has {len(y)} labels")
    return X, y


def _batch_of(X: Any, b: int) -> Any:
    "The first `b` samples of X, cycling when X has fewer."
    import torch
    return X[:b] if b <= len(X) else X[torch.arange(b) % len(X)]


def largest_layer_bytes(model: Any, x: Any) -> int | None:
    """Counted, not measured: the largest bytes of tensor inputs + outputs of one leaf module in one forward of
    `model(x)`: a lower bound on the activation memory it needs, independent of what the allocator already holds.
    None for models without forward hooks (TorchScript, plain callables)."""
    import torch

    from tinybench.profiling import leaf_modules, tensor_bytes
    if not isinstance(model, torch.nn.Module) or isinstance(model, torch.jit.ScriptModule):
        return None
    sizes: list[int] = []
    handles = [mod.register_forward_hook(lambda mod, a, o: sizes.append(tensor_bytes(a) + tensor_bytes(o)))
               for _, mod in (leaf_modules(model) or [("", model)])]
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return max(sizes, default=None)


def _error(e: BaseException) -> str:
    "One line: the exception type, the first line of its message and, for a multi-line message, its last line."
    lines = [ln for ln in str(e).splitlines() if ln.strip()] or [""]
    tail = f" … {lines[-1].strip()[:200]}" if len(lines) > 1 and not lines[-1].startswith(" ") else ""
    return f"{type(e).__name__}: {lines[0][:300]}{tail}"

# %% [markdown]
# The timing step is the one that needs care: round-robin over the models, `rounds` times, each
# measurement `min_time / rounds` long, the samples pooled per model. Whatever was measured when
# Ctrl-C arrives is kept (the `finally` clause).

# %%
#| export
def _timing_summary(samples: list[float], batch: int, round_medians: list[float],
                    pitfalls: dict[str, str]) -> TimingSummary:
    return TimingSummary(batch, [float(x) for x in samples], [float(x) for x in round_medians],
                         [{"kind": k, "explanation": v} for k, v in pitfalls.items()])


def time_interleaved(fns: Mapping[str, Callable[[], Any]], batch: int, rounds: int, min_time: float,
                     devices: Mapping[str, str] | None = None, on_round: Callable[[int, str], None] | None = None,
                     *, until: Callable[[Mapping[str, list[float]]], bool] | None = None,
                     max_rounds: int | None = None, time_budget: float | None = None,
                     around: Callable[[str], contextlib.AbstractContextManager] | None = None
                     ) -> tuple[dict[str, dict], dict[str, str]]:
    """Time each `fns[name]()` round-robin in `rounds` rounds of `min_time / rounds` seconds, pooling the samples.

    With `until`, rounds continue after the first `rounds` until `until(round medians by name)` is true, up to
    `max_rounds` rounds, and no round starts after `time_budget` seconds (the first `rounds` always run).
    With `around`, each timed block of model `name` runs inside the context manager `around(name)` (e.g. a
    `ResourceMonitor`, so that what it samples belongs to that model alone).
    Returns ({name: timing summary (seconds per call)}, {name: error}); a function that raises is dropped from the
    later rounds. On Ctrl-C the summaries of what was measured are attached to the KeyboardInterrupt
    (`.partial`) before it propagates."""
    from tinybench.timing import BenchmarkError, measure
    if not isinstance(fns, Mapping):
        raise TypeError(f"fns must be a dict of name -> function of no arguments, got {type(fns).__name__}")
    for name, fn in fns.items():
        if not callable(fn):
            raise TypeError(f"fns[{name!r}] must be a function of no arguments, got {type(fn).__name__} {fn!r:.60}")
    batch = check_number(batch, "batch", integer=True, lo=1, hint="samples per call")
    rounds = check_number(rounds, "rounds", integer=True, lo=1)
    min_time = check_number(min_time, "min_time", positive=True, hint="seconds for all rounds")
    if max_rounds is not None:
        max_rounds = check_number(max_rounds, "max_rounds", integer=True, lo=1, hint="or None")
    if time_budget is not None:
        time_budget = check_number(time_budget, "time_budget", nonnegative=True, hint="seconds, or None")
    pooled: dict[str, list[float]] = {n: [] for n in fns}
    medians: dict[str, list[float]] = {n: [] for n in fns}
    pitfalls: dict[str, dict[str, str]] = {n: {} for n in fns}
    errors: dict[str, str] = {}

    def summaries() -> dict[str, TimingSummary]:
        return {n: _timing_summary(pooled[n], batch, medians[n], pitfalls[n]) for n in fns if pooled[n]}
    last = max(rounds, max_rounds or rounds) if until is not None else rounds
    t0 = time.perf_counter()
    try:
        for r in range(last):
            if r >= rounds and (until({n: v for n, v in medians.items() if n not in errors}) or
                                (time_budget is not None and time.perf_counter() - t0 >= time_budget)):
                break
            for name, fn in fns.items():
                if name in errors:
                    continue
                if on_round:
                    on_round(r, name)
                try:
                    with around(name) if around else contextlib.nullcontext():
                        m = measure(fn, label=name, device=(devices or {}).get(name), min_time=min_time / rounds)
                except BenchmarkError as e:
                    errors[name] = _error(e.__cause__ or e)
                    continue
                pooled[name] += m.samples.tolist()
                medians[name].append(m.median)
                pitfalls[name].update({p.kind: p.explanation for p in m.pitfalls})
                if m.interrupted:  # measure() kept the samples of a Ctrl-C: stop here, after keeping them
                    raise KeyboardInterrupt
    except KeyboardInterrupt as e:
        e.partial = summaries()
        raise
    return summaries(), errors

# %% [markdown]
# The comparisons: one per candidate, then Holm over the candidates' p-values. The verdict is
# "faster" or "slower" only if the interval excludes 1 *and* the Holm-adjusted p-value is below
# 1 − level; "equivalent" if the (1 − 2α) interval lies inside ±`margin` (TOST).

# %%
#| export
def sequential_verdict(ci: tuple[float, float], margin: float | None) -> str:
    """Verdict of an always-valid interval of a time ratio: 'slower'/'faster' when it lies wholly beyond the margin
    (beyond 1 without one), 'equivalent' when wholly inside ±margin, else 'undecided'."""
    lo, hi = ci
    up, down = (1 + margin, 1 / (1 + margin)) if margin is not None else (1.0, 1.0)
    if lo > up:
        return "slower"
    if hi < down:
        return "faster"
    if margin is not None and down < lo and hi < up:
        return "equivalent"
    return "undecided"


def _sequential_comparisons(rounds: Mapping[str, Sequence[float]], baseline: str, level: float,
                            margin: float | None, pooled: Mapping[str, Sequence[float]] | None
                            ) -> list[VariantComparison]:
    "Comparisons by confidence sequences at level 1 − α/m (Bonferroni over m candidates), valid under peeking."
    from tinybench.abtest import ratio_sequence, rounds_to_decide
    from tinybench.stats import compare, holm
    cands = [n for n in rounds if n != baseline and min(len(rounds[n]), len(rounds[baseline])) >= 2]
    if not cands:
        return []
    each = 1 - (1 - level) / len(cands)
    raw = []
    for n in cands:
        k = min(len(rounds[baseline]), len(rounds[n]))
        a, b = list(rounds[baseline])[:k], list(rounds[n])[:k]
        rs = ratio_sequence(a, b, each)
        verdict = sequential_verdict(rs.ci, margin)
        desc = (compare(pooled[baseline], pooled[n], level=level, margin=margin, label_a=baseline, label_b=n)
                if pooled and len(pooled.get(baseline, ())) >= 2 and len(pooled.get(n, ())) >= 2 else None)
        raw.append((n, rs, verdict, None if verdict != "undecided" else rounds_to_decide(a, b, margin, each), k, desc))
    adjusted = holm([r[1].p_value for r in raw])
    method = (f"confidence sequence on the log round-median ratios, always valid, {each:.2%} per comparison "
              f"(Bonferroni over {len(raw)})")
    return [VariantComparison(baseline, n, rs.ratio, rs.ci, rs.p_value, float(p_adj), len(raw), verdict, level,
                              margin, method, desc.to_dict() if desc is not None else {}, rounds=k,
                              decided=verdict != "undecided", more_rounds=more)
            for (n, rs, verdict, more, k, desc), p_adj in zip(raw, adjusted)]


def compare_with_baseline(rounds: Mapping[str, Sequence[float]], baseline: str, level: float = 0.95,
                          margin: float | None = None, pooled: Mapping[str, Sequence[float]] | None = None,
                          sequential: bool = False) -> list[VariantComparison]:
    """A VariantComparison of every candidate with `baseline` (Holm-corrected), from per-round medians (seconds).

    `rounds[name]`: the model's median in each round (paired by round); `pooled[name]`: all its samples, compared
    with module 01's `compare` for description, and for the verdict only when there is a single round.
    `sequential`: judge by always-valid intervals (`sequential_verdict`), for rounds added until decisive."""
    from tinybench.abtest import paired_ratio
    from tinybench.stats import compare, holm
    cands = [n for n in rounds if n != baseline]
    if baseline not in rounds or not cands:
        return []
    if sequential:
        return _sequential_comparisons(rounds, baseline, level, margin, pooled)
    eq_level = 1 - 2 * (1 - level)
    raw = []
    for n in cands:
        k = min(len(rounds[baseline]), len(rounds[n]))
        desc = (compare(pooled[baseline], pooled[n], level=level, margin=margin, label_a=baseline, label_b=n)
                if pooled and len(pooled.get(baseline, ())) >= 2 and len(pooled.get(n, ())) >= 2 else None)
        if k >= 2:
            pc = paired_ratio(rounds[baseline][:k], rounds[n][:k], level, baseline, n)
            eq = paired_ratio(rounds[baseline][:k], rounds[n][:k], eq_level).ci if margin is not None else None
            raw.append((n, pc.ratio, pc.ci, pc.t_p, eq, f"paired over {k} rounds (t-interval of log round-median ratios)",
                        desc))
        elif desc is not None:
            raw.append((n, desc.ratio, desc.ratio_ci, desc.mannwhitney_p, desc.equivalence_ci,
                        "pooled iterations of one round (Hodges–Lehmann, Mann–Whitney): no replication, the interval "
                        "is too narrow", desc))
    if not raw:
        return []
    adjusted = holm([r[3] for r in raw])
    return [VariantComparison(baseline, n, float(ratio), (float(ci[0]), float(ci[1])), float(p), float(p_adj),
                              len(raw), verdict(ci, eq, margin, p_adj, 1 - level), level, margin, method,
                              desc.to_dict() if desc is not None else {})
            for (n, ratio, ci, p, eq, method, desc), p_adj in zip(raw, adjusted)]

# %% [markdown]
# And the suite itself: a small class whose `run()` calls one named step after another; each
# step is a function of its own, below, that records its own errors and leaves the others' results
# alone.

# %%
#| export
class BenchmarkSuite:
    """Benchmark several models on the same data with the same settings; `run()` returns a `SuiteResult`.

    `models`: name → model / Variant / TorchSUT / fitted scikit-learn estimator (`as_batch_callable`; the first is
    the baseline unless `baseline` is given). `dataset`: (X, y), an object with X_test/y_test, or X. `trainers`:
    name → fit(X, y) for cross-validation. `metrics`: your own measurements, `Metric`s or functions (`as_metrics`),
    one column each."""

    def __init__(self, models: Mapping[str, Any], dataset: Any, settings: SuiteSettings | None = None,
                 baseline: str | None = None, trainers: Mapping[str, Callable] | None = None, cv_folds: int = 5,
                 task: str | None = None, metrics: Sequence[Metric | Callable] | Mapping[str, Any] | None = None):
        if not models:
            raise ValueError("no models to benchmark: pass at least one, e.g. {'fp32': model}")
        self.settings = settings or SuiteSettings()
        self.models = {str(n): _unwrap(m, self.settings.device) for n, m in models.items()}
        self.baseline = baseline if baseline is not None else next(iter(self.models))
        if self.baseline not in self.models:
            raise ValueError(f"baseline {self.baseline!r} is not one of the models {list(self.models)}")
        self.X, self.y = _as_data(dataset)
        self.task = task or _task_of(self.y)
        self.trainers, self.cv_folds = dict(trainers or {}), cv_folds
        unknown = set(self.trainers) - set(self.models)
        if unknown:
            raise ValueError(f"trainers for unknown models {sorted(unknown)}")
        self.metrics = as_metrics(metrics)

    def __repr__(self) -> str:
        return (f"BenchmarkSuite({list(self.models)}, baseline={self.baseline!r}, {len(self.X)} samples, "
                f"task={self.task!r})")

    def run(self, progress: Callable[[str], None] | None = None) -> SuiteResult:
        """Run every step for every model (`measure_all`), then the comparisons (`finish`); errors are recorded per
        model and step; Ctrl-C stops measuring at the next safe point and returns a partial result, marked
        `interrupted`, with the comparisons of what was measured."""
        result = self.measure_all(progress)
        try:
            return self.finish(result)
        except KeyboardInterrupt:  # Ctrl-C during the comparisons: keep the measurements without them
            result.interrupted, result.comparisons = True, []
            return result

    def measure_all(self, progress: Callable[[str], None] | None = None) -> SuiteResult:
        """Every measuring step for every model, without the comparisons; the first Ctrl-C stops at the next safe
        point and returns what was measured, marked `interrupted`. `duration` holds the seconds spent so far.
        `progress` takes a message per phase; a `tinybench.display.Progress` also draws a bar of the timing rounds."""
        from tinybench.env import environment
        say = progress or (lambda msg: None)
        t0 = time.perf_counter()
        result = SuiteResult({n: ModelResult(n, desc, dev) for n, (_, dev, desc) in self.models.items()},
                             self.baseline, self.settings, self.task, len(self.X), environment=environment(),
                             started=datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ"),
                             metrics=[mt.info for mt in self.metrics])
        self.correct: dict[str, np.ndarray] = {}  # per model: which samples it got right (for McNemar)
        try:
            _step_quality(self, result, say)
            _step_timing(self, result, say)
            for step in (_step_stats, _step_memory, _step_sweep, _step_batch_limit, _step_scenarios, _step_cross_validation,
                         _step_metrics):
                for name, m in result.models.items():
                    if "forward" not in m.errors:
                        step(self, name, m, say)
        except KeyboardInterrupt:
            result.interrupted = True
            say("interrupted: keeping the partial results")
        result.duration = time.perf_counter() - t0
        return result

    def finish(self, result: SuiteResult) -> SuiteResult:
        "The comparisons with the baseline of what `measure_all` measured; returns `result`, completed."
        t0 = time.perf_counter()
        result.comparisons = _step_comparisons(self, result)
        result.duration += time.perf_counter() - t0
        return result

    def input_for(self, name: str, b: int | None = None) -> Any:
        """A batch of `b` samples (default: the suite's batch size) on model `name`'s device; for an estimator, the
        2-D numpy array it predicts on (`EstimatorModel.prepare`), made before any clock starts."""
        model, dev, _ = self.models[name]
        x = _batch_of(self.X, b or self.settings.batch_size)
        return model.prepare(x) if isinstance(model, EstimatorModel) else x.to(dev)

# %% [markdown]
# Step 1, before any time is spent: every model's outputs on the whole dataset. A model that
# raises is marked `forward` and skipped by every later step; NaN/Inf outputs are counted and
# marked; quality metrics and the output agreement with the baseline come from the same outputs.

# %%
#| export
def _step_quality(suite: BenchmarkSuite, result: SuiteResult, say: Callable[[str], None]) -> None:
    "Outputs of every model on the whole dataset: errors, NaN/Inf counts, quality, agreement with the baseline."
    from tinybench.quality import agreement_metrics, classification_quality, model_outputs, regression_quality
    outs: dict[str, np.ndarray] = {}
    for name, (model, dev, _) in suite.models.items():
        say(f"{name}: outputs and quality on {len(suite.X)} samples")
        m = result.models[name]
        try:
            out = model_outputs(model, suite.X.to(dev), suite.settings.batch_size,
                           scores=suite.y is not None and suite.task == "classification")
        except Exception as e:  # broken, a wrong shape, out of memory: record it and go on with the others
            m.errors["forward"] = _error(e)
            continue
        m.nonfinite_outputs = int((~np.isfinite(out)).sum())
        finite = np.isfinite(out).all(axis=1)
        if m.nonfinite_outputs:  # its error, and no quality: a NaN row is never a correct prediction
            m.errors["outputs"] = (f"{m.nonfinite_outputs} NaN/Inf values in the outputs of {int((~finite).sum())} "
                                   f"of {len(finite)} samples")
        outs[name] = out
        if suite.y is not None and suite.task == "classification":
            pred = out.argmax(axis=1)
            suite.correct[name] = (pred == suite.y) & finite
            if finite.all():
                m.quality = classification_quality(suite.y, pred)
        elif suite.y is not None and suite.task == "regression" and finite.all():
            m.quality = regression_quality(suite.y, out[:, 0])
    base = outs.get(suite.baseline)
    for name, out in outs.items():
        if name == suite.baseline or base is None or out.shape != base.shape:
            continue
        ok = np.isfinite(base).all(axis=1) & np.isfinite(out).all(axis=1)
        agree = {"n_samples": int(out.shape[0]), "nonfinite_candidate": result.models[name].nonfinite_outputs,
                 **(agreement_metrics(base[ok], out[ok]) if ok.any() else {}),
                 **({"mse": float(np.mean((base[ok] - out[ok]) ** 2))} if ok.any() else {})}
        if suite.baseline in suite.correct and name in suite.correct:
            y = suite.y
            agree["per_class_accuracy_change"] = {
                str(int(k)): float(suite.correct[name][y == k].mean() - suite.correct[suite.baseline][y == k].mean())
                for k in np.unique(y)}
        result.models[name].agreement = agree

# %% [markdown]
# Step 2: the interleaved timing of every model that ran (`time_interleaved`, above). While a
# model's block is timed, a `ResourceMonitor` samples the process (CPU %, RSS, and the GPU when the
# model is on CUDA). The rounds interleave the models, so one monitor over the whole step would mix
# them: each timed block gets its own monitor, and its samples go to the model that ran in it
# (`ModelResult.resources`, a `ResourceSummary` that keeps the samples). Its cost on the timing
# is measured by bench/resource_overhead.py (a time ratio of 1.00 within about 1–3%).

# %%
#| export
def _step_timing(suite: BenchmarkSuite, result: SuiteResult, say: Callable[[str], None]) -> None:
    """Interleaved timing (seconds per batch) of every model that ran; partial timings survive Ctrl-C. With
    `resource_interval`, a `ResourceMonitor` runs during each timed block, and its samples go to that model. Its cost
    (bench/resource_overhead.py, 2-core shared CPU box, interval 0.1 s): time ratio monitored/plain 0.999 (95% CI
    0.981-1.018) for a matmul stack, 0.999 (0.990-1.008) for a Python-bound MLP at batch 1."""
    import torch
    s = suite.settings
    windows: dict[str, list[MonitorResult]] = {n: [] for n in suite.models}

    @contextlib.contextmanager
    def monitored(name: str):
        dev = devices[name]
        with ResourceMonitor(interval=s.resource_interval, gpu=dev.startswith("cuda"),
                             device_index=torch.device(dev).index or 0) as mon:
            yield
        windows[name].append(mon.result)
    fns, devices = {}, {}
    for name, (model, dev, _) in suite.models.items():
        if "forward" in result.models[name].errors:
            continue
        x = suite.input_for(name)

        def infer(model=model, x=x):
            with torch.inference_mode():
                return model(x)
        fns[name], devices[name] = infer, dev
    try:
        announced: set[int] = set()

        def on_round(r: int, name: str) -> None:  # one progress line (or a bar step) per round, not per model
            if r in announced:
                return
            announced.add(r)
            if isinstance(say, Progress) and say.draws_bar:  # a bar of rounds; a line only when extra rounds start
                say.advance(r, max(s.rounds, r + 1), f"timing rounds ({len(fns)} models)")
                if r != s.rounds:
                    return
            say(f"timing round {r + 1}/{s.rounds} ({len(fns)} models)" if r < s.rounds else
                f"timing round {r + 1} (undecided comparisons left; up to {s.max_rounds} rounds or "
                f"{s.time_budget:g} s)")

        def decided(medians: Mapping[str, list[float]]) -> bool:
            return all(vc.decided for vc in compare_with_baseline(medians, suite.baseline, s.level, s.margin,
                                                                   sequential=True))
        timings, errors = time_interleaved(fns, s.batch_size, s.rounds, s.min_time, devices, on_round,
                                           until=decided if s.sequential and len(fns) > 1 else None,
                                           max_rounds=s.max_rounds, time_budget=s.time_budget,
                                           around=monitored if s.resource_interval else None)
    except KeyboardInterrupt as e:
        timings, errors = getattr(e, "partial", {}), {}
        for name, t in timings.items():
            result.models[name].timing = t
            result.models[name].resources = resource_summary(windows[name], devices[name])
        raise
    for name, t in timings.items():
        result.models[name].timing = t
        result.models[name].resources = resource_summary(windows[name], devices[name])
    for name, err in errors.items():
        result.models[name].errors["timing"] = err
    if isinstance(say, Progress) and say.draws_bar and announced:
        say.advance(len(announced), len(announced), f"timing rounds ({len(fns)} models)")


def resource_summary(windows: Sequence[MonitorResult], device: str) -> ResourceSummary | None:
    "The pooled `ResourceSummary` of one model's monitored timing blocks (None if none); says why GPU fields are absent."
    if not windows:
        return None
    rs = ResourceSummary.from_monitor(windows)
    if not device.startswith("cuda"):
        rs.gpu_reason = f"the model ran on {device}: the GPU was not sampled"
    return rs

# %% [markdown]
# Steps 3 and 4, per model: size (parameters, bytes, counted FLOPs) and the memory of the largest
# batch the suite will run.

# %%
#| export
def _step_stats(suite: BenchmarkSuite, name: str, m: ModelResult, say: Callable[[str], None]) -> None:
    "Parameters, bytes and counted FLOPs of one batch (nn.Modules only)."
    import torch
    from tinybench.profiling import model_stats
    model = suite.models[name][0]
    if not isinstance(model, torch.nn.Module):
        return  # a plain callable has no parameters to count
    say(f"{name}: parameters and FLOPs")
    try:
        m.stats = model_stats(model, suite.input_for(name))
    except Exception as e:  # FLOP counting fails on some exotic modules: record, go on
        m.errors["stats"] = _error(e)


def _step_memory(suite: BenchmarkSuite, name: str, m: ModelResult, say: Callable[[str], None]) -> None:
    "Peak RSS (and CUDA) increase of one batch of the largest size the suite runs, and its largest layer's bytes."
    import torch
    from tinybench.profiling import measure_memory
    if not suite.settings.memory:
        return
    model, dev, _ = suite.models[name]
    b = max((suite.settings.batch_size, *suite.settings.batch_sizes))  # the largest batch the suite will run
    say(f"{name}: memory of one batch of {b}")
    x = suite.input_for(name, b)
    try:
        with torch.inference_mode():
            m.memory = MemorySummary(b, measure_memory(model, x, device=dev, python_allocations=False),
                                     largest_layer_bytes(model, x))
    except Exception as e:
        m.errors["memory"] = _error(e.__cause__ or e)

# %% [markdown]
# Step 5: the batch sweep of module 03, which stops cleanly at an out-of-memory error.

# %%
#| export
def _step_sweep(suite: BenchmarkSuite, name: str, m: ModelResult, say: Callable[[str], None]) -> None:
    "Latency and samples/s per batch size (module 03's batch_sweep); re-raises Ctrl-C after keeping the rows."
    from tinybench.profiling import batch_sweep
    if not suite.settings.batch_sizes:
        return
    say(f"{name}: batch sweep {list(suite.settings.batch_sizes)}")
    model, dev, _ = suite.models[name]
    try:
        sweep = batch_sweep(model, lambda b: suite.input_for(name, b), suite.settings.batch_sizes, device=dev,
                            min_time=suite.settings.sweep_min_time)
    except Exception as e:
        m.errors["batch_sweep"] = _error(e.__cause__ or e)
        return
    m.batch_sweep = sweep
    if sweep.interrupted:
        raise KeyboardInterrupt


def _step_batch_limit(suite: BenchmarkSuite, name: str, m: ModelResult, say: Callable[[str], None]) -> None:
    "The largest batch whose p90 fits `latency_budget`, and its samples/s (module 03's max_batch_under_latency)."
    from tinybench.profiling import max_batch_under_latency
    s = suite.settings
    if s.latency_budget is None:
        return
    say(f"{name}: largest batch with p90 within {format_seconds(s.latency_budget)}")
    model, dev, _ = suite.models[name]
    try:
        m.batch_limit = max_batch_under_latency(model, lambda b: suite.input_for(name, b), s.latency_budget, dev,
                                                quantile=0.9, max_batch=8 * max(s.batch_sizes or (s.batch_size,)),
                                                min_time=s.sweep_min_time)
    except Exception as e:  # a model that fails at some size: recorded, the other steps go on
        m.errors["batch_limit"] = _error(e.__cause__ or e)

# %% [markdown]
# Step 6: the scenarios of module 02. Server needs a rate: `server_qps`, or half the
# SingleStream throughput (about 50% utilisation of one worker); Offline issues enough samples
# to fill `scenario_duration` at the measured throughput.

# %%
#| export
def _scenario_settings(suite: BenchmarkSuite, scenario: str, m: ModelResult) -> dict[str, Any]:
    "TestSettings keywords for `scenario` from the suite settings and what was already measured of model `m`."
    s = suite.settings
    kw: dict[str, Any] = {"scenario": scenario, "min_duration": s.scenario_duration,
                          "max_duration": max(10 * s.scenario_duration, 10.0), "offline_batch_size": s.batch_size}
    if scenario == "Server":
        single = m.scenarios.get("SingleStream", {}).get("qps")
        row1 = next((r for r in (m.batch_sweep.rows if m.batch_sweep else []) if r["batch"] == 1), None)
        qps = s.server_qps or (0.5 * single if single else (0.5 / row1["median"] if row1 else None))
        if qps is None:
            raise ValueError("Server needs server_qps, or SingleStream or batch 1 of the sweep to derive it from")
        kw["target_qps"] = qps
    if scenario == "Offline" and m.timing:  # issue enough samples to fill min_duration at the measured rate
        kw["expected_qps"] = m.timing.throughput
    return kw


def _step_scenarios(suite: BenchmarkSuite, name: str, m: ModelResult, say: Callable[[str], None]) -> None:
    "Each chosen LoadGen scenario (module 02) against the model: headline metric, percentiles, validity, latencies."
    from tinybench.scenarios import ArrayDataset, TorchSUT, TestSettings, run
    model, dev, _ = suite.models[name]
    data = ArrayDataset(suite.X, None if suite.y is None or suite.task != "classification" else suite.y.tolist())
    for scenario in suite.settings.scenarios:
        say(f"{name}: {scenario} scenario ({suite.settings.scenario_duration:g} s)")
        try:
            r = run(TorchSUT(model, dev), data, TestSettings(**_scenario_settings(suite, scenario, m)))
        except (ValueError, RuntimeError, TypeError, MemoryError) as e:  # CUDA OOM is a RuntimeError
            m.errors[f"scenario {scenario}"] = _error(e)
            continue
        metric, value = r.metric
        m.scenarios[scenario] = {
            "metric": metric, "value": value, "n_queries": r.n_queries, "n_samples": r.n_samples,
            "n_errors": r.n_errors, "duration": r.duration, "qps": r.qps, "samples_per_second": r.samples_per_second,
            "p50": r.quantile(0.5), "p90": r.quantile(0.9), "p99": r.quantile(0.99),
            "accuracy": r.accuracy, "valid": r.valid, "reasons": list(r.reasons),
            "target_qps": r.settings.target_qps if scenario == "Server" else None,
            "latencies": r.latencies.tolist() if scenario != "Offline" else []}
        if r.n_errors:
            m.errors[f"scenario {scenario}"] = next(e for e in r.errors if e is not None)
        if r.interrupted:
            raise KeyboardInterrupt

# %% [markdown]
# Step 7: cross-validation, for the models that came with a trainer.

# %%
#| export
def _step_cross_validation(suite: BenchmarkSuite, name: str, m: ModelResult, say: Callable[[str], None]) -> None:
    "k-fold cross-validation with the model's trainer, when one was given."
    if name not in suite.trainers:
        return
    say(f"{name}: {suite.cv_folds}-fold cross-validation")
    try:
        m.cross_validation = cross_validate(suite.trainers[name], suite.X, suite.y, suite.cv_folds, suite.task,
                                            level=suite.settings.level).to_dict()
    except Exception as e:
        m.errors["cross_validation"] = _error(e)

# %% [markdown]
# Last: the comparisons with the baseline (`compare_with_baseline`), with McNemar's test on the
# samples each model got right.

# %%
#| export
def _step_comparisons(suite: BenchmarkSuite, result: SuiteResult) -> list[VariantComparison]:
    "Every candidate against the baseline (compare_with_baseline) plus McNemar on the samples each got right."
    s = suite.settings
    timed = {n: m.timing for n, m in result.models.items() if m.timing and m.timing.n >= 2}
    out = compare_with_baseline({n: t.round_medians for n, t in timed.items()}, suite.baseline, s.level,
                                s.margin, {n: t.samples for n, t in timed.items()}, sequential=s.sequential)
    for vc in out:
        usable = all(result.models[n].accuracy is not None for n in (suite.baseline, vc.candidate))
        if usable and suite.baseline in suite.correct and vc.candidate in suite.correct:
            a, b = suite.correct[suite.baseline], suite.correct[vc.candidate]
            vc.mcnemar_p, n_b, n_c = mcnemar_exact(a, b)
            vc.accuracy_change, vc.n_discordant = float(b.mean() - a.mean()), n_b + n_c
        vc.top1_agreement = (result.models[vc.candidate].agreement or {}).get("top1_agreement")
    return out

# %%
#| export
class EstimatorModel:
    """A fitted scikit-learn-style estimator as a model callable on a batch: numpy in, numpy out.

    `prepare(batch)`: a numpy array or torch tensor (samples first) as the 2-D numpy array the estimator reads, one
    row of features per sample (a CPU tensor is not copied). Calling it returns `predict_proba`'s class
    probabilities when the estimator has that method (column k holds label k: labels must be integers >= 0), else
    `predict`'s output: one-hot rows for a classifier (an estimator with `classes_`), one column for a regressor."""

    def __init__(self, estimator: Any):
        name = type(estimator).__name__
        self.estimator, self.method = estimator, ("predict_proba" if hasattr(estimator, "predict_proba") else
                                                  "predict" if hasattr(estimator, "predict") else None)
        if self.method is None:
            raise TypeError(f"{name} has neither predict_proba nor predict: pass a fitted scikit-learn estimator, "
                            "or a model callable on a batch")
        classes = getattr(estimator, "classes_", None)
        if classes is None and self.method == "predict_proba":
            raise ValueError(f"{name} has predict_proba but no classes_: fit it first (estimator.fit(X, y))")
        self.classes = None if classes is None else np.asarray(classes)
        if self.classes is not None and (self.classes.dtype.kind not in "iu" or self.classes.min() < 0):
            raise ValueError(f"{name}.classes_ is {self.classes[:5].tolist()}: the suite compares the argmax of the "
                             "scores with integer labels, so fit it on labels 0, 1, 2, ... "
                             "(sklearn.preprocessing.LabelEncoder)")
        self.n_columns = None if self.classes is None else int(self.classes.max()) + 1
        self._same = self.classes is not None and np.array_equal(self.classes, np.arange(self.n_columns))
        self._predict = getattr(estimator, self.method)

    @property
    def description(self) -> str:
        return f"{type(self.estimator).__name__} ({self.method})"

    def prepare(self, batch: Any) -> np.ndarray:
        "The batch as a 2-D numpy array (samples, features); images are flattened, a CPU tensor is not copied."
        x = batch.detach().cpu().numpy() if hasattr(batch, "detach") else np.asarray(batch)
        return x if x.ndim == 2 else x.reshape(len(x), -1)

    def __call__(self, batch: Any) -> np.ndarray:
        "Scores of shape (samples, columns): see the class docstring."
        out = np.asarray(self._predict(self.prepare(batch)))
        if self.classes is None:  # a regressor: its values, one column per output
            return out.reshape(len(out), -1)
        if self.method == "predict_proba" and self._same:  # labels 0..k-1: the columns are already the labels
            return out
        scores = np.zeros((len(out), self.n_columns), dtype=out.dtype if self.method == "predict_proba" else np.float32)
        if self.method == "predict_proba":
            scores[:, self.classes] = out
        else:
            scores[np.arange(len(out)), out.astype(np.int64)] = 1
        return scores

    def __repr__(self) -> str:
        return f"EstimatorModel({self.description})"


def as_batch_callable(model: Any) -> Callable:
    """`model` as something the suite calls on a batch: a callable (a torch module, a function) as it is; an object
    with `predict_proba` or `predict` (a fitted scikit-learn estimator or pipeline) as an `EstimatorModel`."""
    if callable(model):
        return model
    if hasattr(model, "predict_proba") or hasattr(model, "predict"):
        return EstimatorModel(model)
    raise TypeError(f"a model must be callable on a batch (a torch module, a function) or have predict_proba or "
                    f"predict (a fitted scikit-learn estimator), got {type(model).__name__} {model!r:.60}")

# %% [markdown]
# A metric is a name, a function and how to read its number. The result keeps only the reading
# instructions (`MetricInfo`: unit, direction, description), so a `results.json` loaded later still
# renders its columns and findings without the function.

# %%
#| export
@dataclass(frozen=True)
class MetricInfo:
    """How to read a user metric (what a `SuiteResult` keeps of a `Metric`, without its function): `unit` ('s' and
    'bytes' are scaled for display, any other unit follows the number, '' for none), `higher_is_better` (True,
    False, or None: no direction) and a one-line `description`."""
    name: str
    unit: str = ""
    higher_is_better: bool | None = None
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "MetricInfo":
        return cls(**d)


@dataclass(frozen=True)
class Metric:
    """A measurement of your own, taken by `BenchmarkSuite` once per model after its built-in steps.

    `fn(model, data, result)` returns a number, or a mapping key → number (one column each, named `name.key`).
    `model`: the model object (a Variant's or TorchSUT's `.model`; an estimator itself, not its EstimatorModel);
    `data`: the suite's `(X, y)`: X a CPU torch tensor, samples first, y a numpy array or None; `result`: the
    model's `ModelResult` so far (e.g. `result.timing.samples`: seconds per batch). See `MetricInfo` for the rest."""
    name: str
    fn: Callable[[Any, Any, ModelResult], Any]
    unit: str = ""
    higher_is_better: bool | None = None
    description: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise TypeError(f"Metric: name must be a string, got {type(self.name).__name__} {self.name!r:.60}")
        if not self.name.strip() or "." in self.name:
            raise ValueError(f"Metric: name must be non-empty and without '.' (it joins a metric's name to the keys "
                             f"of the mapping it returns), got {self.name!r}")
        if not callable(self.fn):
            raise TypeError(f"Metric {self.name!r}: fn must be a function (model, data, result) -> number, got "
                            f"{type(self.fn).__name__} {self.fn!r:.60}")
        for field_name in ("unit", "description"):
            if not isinstance(getattr(self, field_name), str):
                raise TypeError(f"Metric {self.name!r}: {field_name} must be a string, got "
                                f"{getattr(self, field_name)!r:.60}")
        if not (self.higher_is_better is None or isinstance(self.higher_is_better, bool)):
            raise TypeError(f"Metric {self.name!r}: higher_is_better must be True, False or None, got "
                            f"{self.higher_is_better!r:.60}")

    @property
    def info(self) -> MetricInfo:
        return MetricInfo(self.name, self.unit, self.higher_is_better, self.description)

# %% [markdown]
# The suite's `metrics` argument is checked when the suite is made, not after minutes of timing:
# every entry must be a `Metric` or a named function, names must be unique and must not reuse a
# built-in column.

# %%
#| export
def builtin_columns() -> tuple[str, ...]:
    "The columns of `SuiteResult.rows()` without user metrics: names a metric may not take."
    empty = SuiteResult({"m": ModelResult("m")}, "m", SuiteSettings(scenarios=(), batch_sizes=()), "none", 1)
    return tuple(empty.rows()[0])


def as_metrics(metrics: Any) -> list[Metric]:
    """BenchmarkSuite's `metrics` as a list of `Metric`: None; a Metric or function; a list of them (a function is
    named by its `__name__`); or a dict name → function or Metric. TypeError/ValueError naming the bad entry."""
    if metrics is None:
        return []
    if isinstance(metrics, Metric) or callable(metrics):
        metrics = [metrics]
    if isinstance(metrics, Mapping):
        entries = [(f"metrics[{k!r}]", k, v) for k, v in metrics.items()]
    elif isinstance(metrics, (list, tuple)):
        entries = [(f"metrics[{i}]", None, v) for i, v in enumerate(metrics)]
    else:
        raise TypeError(f"metrics must be a list of Metric objects or functions (model, data, result) -> number, or a "
                        f"dict name -> function, got {type(metrics).__name__} {metrics!r:.60}")
    out = []
    for where, key, v in entries:
        if isinstance(v, Metric):
            if key is not None and key != v.name:
                raise ValueError(f"{where} is Metric {v.name!r}: the key and the Metric's name must agree (or pass a "
                                 "list of Metrics)")
            out.append(v)
        elif callable(v):
            name = key if key is not None else getattr(v, "__name__", None)
            if name is None or name == "<lambda>":
                raise ValueError(f"{where} is a function without a name ({v!r:.60}): wrap it as "
                                 "Metric('p95_latency', fn, unit='s'), or pass a dict name -> function")
            out.append(Metric(name, v))
        else:
            raise TypeError(f"{where} must be a Metric or a function (model, data, result) -> number, got "
                            f"{type(v).__name__} {v!r:.60}")
    builtin, seen = builtin_columns(), set()
    for mt in out:
        if mt.name in builtin:
            raise ValueError(f"metrics: {mt.name!r} is a built-in column ({', '.join(builtin)}): rename the metric, "
                             f"e.g. 'my_{mt.name}'")
        if mt.name in seen:
            raise ValueError(f"metrics: two metrics are named {mt.name!r}: give each its own name")
        seen.add(mt.name)
    return out

# %% [markdown]
# Step 8, per model, after the others: each user metric, its value checked before it is kept.

# %%
#| export
def _metric_values(name: str, value: Any) -> dict[str, float]:
    "A metric's return value as {column: finite float}; TypeError/ValueError saying what it returned instead."
    from numbers import Real
    if isinstance(value, Mapping) and not value:
        raise ValueError("returned an empty mapping: return a number, or a mapping key -> number")
    out = {}
    for key, v in (value.items() if isinstance(value, Mapping) else [(None, value)]):
        where = "" if key is None else f" for {key!r}"
        if getattr(v, "ndim", None) == 0 and hasattr(v, "item"):  # a numpy or torch scalar
            v = v.item()
        if isinstance(v, bool) or not isinstance(v, Real):
            raise TypeError(f"returned {type(v).__name__} {v!r:.60}{where}: a metric must return a number (or a "
                            "mapping key -> number)")
        if not math.isfinite(v):
            raise ValueError(f"returned {v}{where}: a metric must return a finite number")
        out[name if key is None else f"{name}.{key}"] = float(v)
    return out


def _step_metrics(suite: BenchmarkSuite, name: str, m: ModelResult, say: Callable[[str], None]) -> None:
    "The user metrics of one model; a metric that raises or returns a bad value is recorded as `metric <name>`."
    model = suite.models[name][0]
    obj = model.estimator if isinstance(model, EstimatorModel) else model
    for metric in suite.metrics:
        say(f"{name}: metric {metric.name}")
        try:
            m.metrics.update(_metric_values(metric.name, metric.fn(obj, (suite.X, suite.y), m)))
        except Exception as e:  # the user's code, or what it returned: record it, go on with the others
            m.errors[f"metric {metric.name}"] = _error(e)

# %%
#| export
def speedup_text(speedup: float | None, low: float | None, high: float | None, decimals: int = 2) -> str:
    """'s (low–high)', or "– (interval unbounded)" when the interval is (0, ∞) (too few or too noisy rounds: the
    point estimate means nothing then), or the plain ratio when there is no interval (the baseline)."""
    if low is None or high is None:
        return format_value(speedup, "ratio")
    if not (0 < low and math.isfinite(high)):
        return "– (interval unbounded)"
    return f"{speedup:.{decimals}f} ({low:.{decimals}f}–{high:.{decimals}f})"


def results_table(result: Any) -> Table:
    "One row per model: accuracy, latency per batch, speedup with CI, verdict, throughput, size and memory."
    rows, metrics = [], result.metric_columns()
    for r in result.rows():
        sp = speedup_text(r["speedup"], r["speedup_ci_low"], r["speedup_ci_high"])
        rows.append([r["model"], format_value(r["accuracy"], "percent"), format_value(r["median_s"], "seconds"),
                     format_value(r["p99_s"], "seconds"), sp, r["verdict"] or "–",
                     format_value(r["best_samples_per_s"], "count") + (f" @ {r['best_batch']}" if r["best_batch"] else ""),
                     format_value(r["params"], "count"), format_value(r["serialized_bytes"], "bytes"),
                     format_value(r["memory_peak_bytes"], "bytes"),
                     *("–" if r[c] is None else format_metric(r[c], result.metric_info(c).unit) for c in metrics),
                     r["errors"] or ""])
    b = result.settings.batch_size
    return Table(["model", "accuracy", f"median / batch of {b}", "p99",
                  f"speedup ({format_percent(result.settings.level)} CI)", "verdict", "best samples/s @ batch", "params",
                  "size (state dict)", "peak RSS +", *metrics, "errors"], rows)


def latency_table(result: Any) -> Table:
    """Per model, seconds per batch of the suite's batch size: p50, p95 and p99 of the interleaved timing (computed
    from the samples it keeps), and the speedup over the baseline with its interval and verdict."""
    lvl = format_percent(result.settings.level)
    rows = []
    for name, m in result.models.items():
        t, c = m.timing, result.comparison(name)
        speed = (f"{speedup_text(c.speedup, *c.speedup_ci)} {c.verdict}" if c else
                 "baseline" if name == result.baseline else "–")
        rows.append([name, *(format_value(t and t.quantile(q), "seconds") for q in (0.5, 0.95, 0.99)), speed])
    return Table(["model", f"p50 / batch of {result.settings.batch_size}", "p95", "p99",
                  f"speedup ({lvl} CI), verdict"], rows)


def comparisons_table(result: Any) -> Table:
    """Per candidate: time ratio with CI, Holm-adjusted p, verdict, accuracy change with McNemar p, top-1 agreement, and
    the mean squared difference of its outputs from the baseline's (finite samples)."""
    def mse(name: str) -> str:
        v = (result.models[name].agreement or {}).get("mse")
        return "–" if v is None else f"{v:.3g}"

    def pooled(vc: Any) -> str:
        c = vc.pooled
        return f"{c['ratio']:.3f} ({c['ratio_ci'][0]:.3f}–{c['ratio_ci'][1]:.3f})" if c else "–"
    rows = [[vc.candidate, speedup_text(vc.ratio, *vc.ratio_ci, decimals=3), format_value(vc.p_value, "p_value"),
             format_value(vc.p_holm, "p_value"), vc.verdict, pooled(vc),
             "–" if vc.accuracy_change is None else f"{vc.accuracy_change * 100:+.2f} pts",
             format_value(vc.mcnemar_p, "p_value"), format_value(vc.top1_agreement, "percent"),
             mse(vc.candidate)] for vc in result.comparisons]
    return Table(["candidate", f"time ratio vs {result.baseline} ({format_percent(result.settings.level)} CI)", "p", "Holm p",
                  "verdict", "pooled iterations: ratio (CI), descriptive only", "accuracy change", "McNemar p",
                  "top-1 agreement", "output MSE"], rows)


def per_class_table(result: Any) -> Table | None:
    "Per-class F1 of every model (classification), so that a class an optimisation hurts is visible."
    quality = {n: m.quality for n, m in result.models.items() if m.quality and "per_class" in m.quality}
    if not quality:
        return None
    classes = sorted({int(c) for q in quality.values() for c in q["per_class"]})
    rows = [[n, *(format_value(q["per_class"].get(c, q["per_class"].get(str(c), {})).get("f1"), "ratio") for c in classes)]
            for n, q in quality.items()]
    return Table(["model (F1)", *(f"class {c}" for c in classes)], rows)


def scenarios_table(result: Any) -> Table:
    rows = [[n, sc, r["metric"], format_value(r["value"], "count" if "per second" in r["metric"] else "seconds"), format_value(r["p50"], "seconds"),
             format_value(r["p99"], "seconds"), str(r["n_queries"]), "VALID" if r["valid"] else "INVALID"]
            for n, m in result.models.items() for sc, r in m.scenarios.items()]
    return Table(["model", "scenario", "metric", "value", "p50", "p99", "queries", "result"], rows)


def sweep_table(result: Any) -> Table:
    """Samples/s per model and batch size (batch / median time per batch); with `tokens_per_sample`, tokens/s
    (samples/s × tokens per sample) in brackets."""
    sizes, tokens = list(result.settings.batch_sizes), result.settings.tokens_per_sample
    rows = []
    for n, m in result.models.items():
        by = {r["batch"]: r["samples_per_s"] for r in (m.batch_sweep.rows if m.batch_sweep else [])}
        rows.append([n, *(format_value(by.get(b), "count") + (f" ({by[b] * tokens:,.0f} tok/s)" if tokens and b in by
                                                              else "") for b in sizes)])
    what = "samples/s" + (f"; tokens/s at {tokens} tokens per sample" if tokens else "")
    return Table([f"model ({what})", *(f"batch {b}" for b in sizes)], rows)


def batch_limit_table(result: Any) -> Table | None:
    """Per model, the largest batch whose p90 latency fits the suite's `latency_budget`, that p90, and the samples/s it
    sustains (batch / p90); None when no budget was set."""
    budget = result.settings.latency_budget
    if budget is None:
        return None
    rows = []
    for n, m in result.models.items():
        lim = m.batch_limit
        rows.append([n, "–", "–", "–"] if lim is None else [n, "none" if not lim.batch else str(lim.batch),
                     format_value(lim.latency if lim.batch else None, "seconds"),
                     format_value(lim.samples_per_s, "count")])
    return Table([f"model (p90 ≤ {format_seconds(budget)} per batch)", "largest batch", "p90", "samples/s"], rows)


def batch_limit_blocks(result: Any) -> list[Any]:
    "The latency-budget table with the sentence that explains it (none without a budget)."
    table = batch_limit_table(result)
    if table is None:
        return []
    return [f"Latency budget {format_seconds(result.settings.latency_budget)} per batch: per model, the largest batch "
            "whose p90 fits it (a binary search over batch sizes, each timed for the sweep's time), and the samples/s "
            "it sustains there (batch / p90).", table]


def sweep_memory_table(result: Any) -> Table | None:
    """Peak memory while each batch size ran (bytes): CUDA's peak allocation on a GPU, the process's peak RSS on CPU
    (`batch_sweep` rows' cuda_peak_bytes / rss_peak_bytes); None when the sweep recorded neither."""
    sizes, rows, kinds = list(result.settings.batch_sizes), [], set()
    for n, m in result.models.items():
        by = {}
        for r in (m.batch_sweep.rows if m.batch_sweep else []):
            key = "cuda_peak_bytes" if "cuda_peak_bytes" in r else "rss_peak_bytes" if "rss_peak_bytes" in r else None
            if key:
                by[r["batch"]], _ = r[key], kinds.add("CUDA peak allocation" if key == "cuda_peak_bytes" else "peak RSS")
        rows.append([n, *(format_value(by.get(b), "bytes") for b in sizes)])
    if not kinds:
        return None
    return Table([f"model ({' / '.join(sorted(kinds))})", *(f"batch {b}" for b in sizes)], rows)


def resources_table(result: Any) -> Table:
    """Per model, what the process used during its own timed blocks (`ModelResult.resources`): mean and p95 CPU %
    (100% = one core), peak RSS, and GPU utilisation, peak device memory and power ("n/a" without NVML)."""
    rows = []
    for name, m in result.models.items():
        r = m.resources
        if r is None:
            rows.append([name, *["–"] * 7])
            continue
        rows.append([name, f"{r.cpu_percent_mean:.0f}% ({r.cpu_cores_mean:.2f} cores)", f"{r.cpu_percent_p95:.0f}%",
                     format_bytes(r.rss_bytes_peak),
                     "n/a" if r.gpu_util_percent_mean is None else f"{r.gpu_util_percent_mean:.0f}%",
                     "n/a" if r.gpu_mem_bytes_peak is None else format_bytes(r.gpu_mem_bytes_peak),
                     "n/a" if r.gpu_power_watts_mean is None else f"{r.gpu_power_watts_mean:.0f} W",
                     f"{r.n_samples} over {r.windows} blocks"])
    return Table(["model", "CPU mean", "CPU p95", "peak RSS", "GPU util", "GPU memory", "GPU power", "samples"], rows)


def resources_blocks(result: Any) -> list[Any]:
    "The report's Resources section: how the figures were sampled, then `resources_table`."
    s = result.settings
    gpu = sorted({m.resources.gpu_reason for m in result.models.values() if m.resources and m.resources.gpu_reason})
    return [f"Sampled by `ResourceMonitor` every {format_seconds(s.resource_interval or 0)} during each model's own "
            "timed blocks only (the rounds interleave the models; each block is monitored on its own). CPU % is the "
            "process's CPU time over the wall time × 100 (100% = one core; the monitor thread included); p95 and "
            "peak RSS are over the samples." + (f" GPU n/a: {'; '.join(gpu)}." if gpu else ""), resources_table(result)]


def resource_finding(result: Any) -> str | None:
    "One sentence: CPU cores and peak RSS (and GPU use when sampled) of every model during its timing."
    parts = []
    for name, m in result.models.items():
        r = m.resources
        if r is None:
            continue
        gpu = (f", GPU {r.gpu_util_percent_mean:.0f}% busy" if r.gpu_util_percent_mean is not None else "") + \
            (f" at {r.gpu_power_watts_mean:.0f} W" if r.gpu_power_watts_mean is not None else "")
        parts.append(f"{name} used {r.cpu_cores_mean:.1f} CPU cores on average (peak RSS "
                     f"{format_bytes(r.rss_bytes_peak)}{gpu})")
    if not parts:
        return None
    return (f"During timing, {'; '.join(parts)} (from {sum(m.resources.n_samples for m in result.models.values() if m.resources)} "
            "resource samples; the CPU figure counts all of the process's threads).")


def environment_table(env: Mapping[str, Any]) -> Table:
    keys = ("python", "tinybench", "torch", "numpy", "platform", "cpu_model", "cpu_count", "memory_bytes",
            "torch_threads", "gpu", "cuda", "gpu_driver", "git_commit")
    return Table(["field", "value"], [[k, format_bytes(env[k]) if k == "memory_bytes" else str(env[k])]
                            for k in keys if env.get(k) is not None])


def regression_blocks(regressions: Mapping[str, Any]) -> list[Any]:
    "The regression gate's verdicts (tinybench run --store --baseline) as a sentence and a table."
    rows = [[name, row["metric"], row["verdict"], row["evidence"]]
            for name, rep in regressions.items() for row in (rep or {}).get("rows", [])]
    rows += [[name, "–", "cannot judge (not a pass)", rep["error"]]
             for name, rep in regressions.items() if rep is not None and rep.get("error")]
    if not rows:
        return ["No stored baseline yet: this run is now the baseline."]
    return ["Per model: the time ratio current/baseline with its CI and the verdict at the tolerance. One run's "
            "iterations are not independent replications: confirm a flagged change with a rerun.",
            Table(["benchmark", "metric", "verdict", "evidence"], rows)]

# %% [markdown]
# The four plots of a suite's result. Each returns a matplotlib `Figure` (no window opens) or
# `None` when the result has nothing to plot; user text in them (model names) is escaped for
# matplotlib's mathtext.

# %%
#| export
def plot_text(text: str) -> str:
    "`text` for a matplotlib label, shown as written: `$` escaped, so that a model named `$x$` is not parsed as math."
    return str(text).replace("$", r"\$")


def figure_throughput(result: Any):
    "Samples/s against batch size (log2 axis), one line per model."
    from matplotlib.figure import Figure
    sweeps = {n: m.batch_sweep.rows for n, m in result.models.items() if m.batch_sweep and m.batch_sweep.rows}
    if not sweeps:
        return None
    fig = Figure(figsize=(5, 3), dpi=100)
    ax = fig.add_subplot()
    order = list(result.models)  # one colour per model in every figure: C0, C1, ... in the suite's order
    for name, rows in sweeps.items():
        ax.plot([r["batch"] for r in rows], [r["samples_per_s"] for r in rows], "o-", label=plot_text(name),
                color=f"C{order.index(name) % 10}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel("samples/s")
    ax.set_title("throughput against batch size", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def figure_accuracy_vs_speedup(result: Any):
    "Each candidate's speedup over the baseline (with its CI) against its accuracy; the baseline sits at 1."
    from matplotlib.figure import Figure
    base = result.models[result.baseline]
    if base.accuracy is None or not result.comparisons:
        return None
    fig = Figure(figsize=(5, 3), dpi=100)
    ax = fig.add_subplot()
    ax.plot([1.0], [base.accuracy * 100], "ks")
    ax.annotate(plot_text(result.baseline), (1.0, base.accuracy * 100), fontsize=7, xytext=(4, 4), textcoords="offset points")
    order = list(result.models)
    for vc in result.comparisons:
        acc = result.models[vc.candidate].accuracy
        if acc is None or not vc.bounded:  # an unbounded interval: its point estimate says nothing
            continue
        lo, hi = vc.speedup_ci
        ax.errorbar([vc.speedup], [acc * 100], xerr=[[vc.speedup - lo], [hi - vc.speedup]], fmt="o", capsize=3,
                    color=f"C{order.index(vc.candidate) % 10}")
        ax.annotate(plot_text(vc.candidate), (vc.speedup, acc * 100), fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.axvline(1.0, color="grey", linestyle=":")
    ax.set_xlabel(f"speedup over {plot_text(result.baseline)} ({format_percent(result.settings.level)} CI)")
    ax.set_ylabel("accuracy (%)")
    ax.margins(x=0.15, y=0.25)  # room for the labels inside the frame
    ax.set_title("accuracy against speedup", fontsize=9)
    fig.tight_layout()
    return fig


def figure_memory(result: Any):
    "Per model (MiB): parameter bytes, the largest layer's inputs + outputs (counted) and the peak RSS increase of one batch."
    from matplotlib.figure import Figure
    names = [n for n, m in result.models.items() if m.stats or m.memory]
    if not names:
        return None
    fig = Figure(figsize=(5, 3.6), dpi=100)
    ax = fig.add_subplot()
    y = np.arange(len(names))
    models = [result.models[n] for n in names]
    mib = lambda values: [(v or 0) / 2**20 for v in values]
    batch = next((m.memory.batch for m in models if m.memory), "?")
    ax.barh(y - 0.27, mib([m.stats and m.stats.param_bytes for m in models]), height=0.27,
            label="parameters (counted)")
    ax.barh(y, mib([m.memory and m.memory.largest_layer_bytes for m in models]), height=0.27,
            label=f"largest layer in+out, batch {batch} (counted)")
    ax.barh(y + 0.27, mib([m.memory and m.memory.rss_increase for m in models]), height=0.27,
            label=f"peak RSS increase, batch {batch} (measured)")
    ax.set_yticks(y, [plot_text(n) for n in names], fontsize=7)
    ax.set_xlabel("MiB")
    ax.set_title("memory", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)  # below: never over a bar
    fig.tight_layout()
    return fig

# %% [markdown]
# Speedup by technique: one bar per variant with its interval, coloured by the verdict, so the
# reader sees at a glance which optimisation paid off and which one the data cannot tell apart.

# %%
#| export
VERDICT_COLOURS = {"faster": "tab:green", "slower": "tab:red", "equivalent": "tab:blue"}


def figure_speedup_by_technique(result: Any):
    "Each candidate's speedup over the baseline with its CI (a bar per variant), coloured by its verdict."
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    comps = sorted((vc for vc in result.comparisons if vc.bounded), key=lambda vc: vc.speedup)  # no bar without bounds
    if not comps:
        return None
    fig = Figure(figsize=(5, 1.2 + 0.4 * len(comps)), dpi=100)
    ax = fig.add_subplot()
    y = np.arange(len(comps))
    sp = np.array([vc.speedup for vc in comps])
    err = np.array([[s - vc.speedup_ci[0], vc.speedup_ci[1] - s] for s, vc in zip(sp, comps)]).T
    ax.barh(y, sp, xerr=err, capsize=3, color=[VERDICT_COLOURS.get(vc.verdict, "tab:grey") for vc in comps])
    ax.axvline(1.0, color="black", linestyle=":")
    ax.set_yticks(y, [plot_text(vc.candidate) for vc in comps], fontsize=7)
    ax.set_xlabel(f"speedup over {plot_text(result.baseline)} ({format_percent(result.settings.level)} CI)")
    ax.set_title("speedup by technique", fontsize=9)
    seen = dict.fromkeys(vc.verdict for vc in comps)
    ax.legend(handles=[Patch(color=VERDICT_COLOURS.get(v, "tab:grey"), label=v) for v in seen], fontsize=7)
    fig.tight_layout()
    return fig

# %% [markdown]
# Cost per million inferences, from measured throughput: a machine that costs `cost_per_hour` and
# serves `r` samples/s costs `cost_per_hour / (3600 r) × 10⁶` per million. The throughput is the
# batch over the median of the round medians (the rounds are the replications), and its interval
# is the distribution-free interval of that median; a cost interval is the throughput interval
# turned upside down. It is the cost at the suite's batch size, one model per machine, fully busy:
# a lower bound on what serving costs.

# %%
#| export
def cost_per_million(samples_per_second: float, cost_per_hour: float) -> float:
    "Cost (the unit of `cost_per_hour`) of 10⁶ inferences on a machine that costs `cost_per_hour` and serves `samples_per_second`."
    return cost_per_hour / (samples_per_second * 3600.0) * 1e6


def cost_table(result: Any, cost_per_hour: float) -> Table:
    """Per model: throughput (batch / median of round medians, samples/s) with its interval, and the cost per million
    inferences at `cost_per_hour` with its interval (the distribution-free interval of the median of round medians;
    "–" with fewer rounds than that interval needs)."""
    from tinybench.stats import median_ci, min_samples_for_quantile_ci
    cost_per_hour = check_number(cost_per_hour, "cost_per_hour", nonnegative=True)
    level, rows = result.settings.level, []
    need = min_samples_for_quantile_ci(0.5, level)
    for name, m in result.models.items():
        t = m.timing
        if t is None or not t.round_medians:
            rows.append([name, "–", "–", "–"])
            continue
        rate = t.batch / float(np.median(t.round_medians))
        ci = median_ci(t.round_medians, level) if t.rounds >= need else None
        rates = (t.batch / ci[1], t.batch / ci[0]) if ci else None
        rows.append([name, format_value(rate, "count") + (f" ({rates[0]:,.0f}–{rates[1]:,.0f})" if rates else ""),
                     f"{cost_per_million(rate, cost_per_hour):.4g}",
                     f"{cost_per_million(rates[1], cost_per_hour):.4g}–{cost_per_million(rates[0], cost_per_hour):.4g}"
                     if rates else f"– (needs {need} rounds)"])
    lvl = format_percent(level)
    return Table(["model", f"samples/s at batch {result.settings.batch_size} ({lvl} CI)",
                  f"cost per million inferences at {cost_per_hour:g}/h", f"{lvl} CI"], rows)

# %% [markdown]
# How the suite measured, in sentences generated from its settings (the report's Methodology).

# %%
#| export
def rounds_run(result: Any) -> int:
    "The most timing rounds any model ran (the suite's minimum `rounds` if none ran)."
    return max((m.timing.rounds for m in result.models.values() if m.timing), default=result.settings.rounds)


def methodology(result: Any) -> list[str]:
    "How the suite measured, from its settings."
    s = result.settings
    if s.sequential:
        compare_text = (f"Comparisons: the rounds are the replications. Time ratio candidate/baseline = geometric mean of "
                        f"the per-round ratios of medians, with an always-valid {format_percent(s.level)} confidence sequence on "
                        f"their logs (paired by round; Bonferroni over the candidates), so the suite could look after "
                        f"every round: it ran at least {s.rounds} rounds and added rounds until every comparison was "
                        f"decisive, up to {s.max_rounds} rounds or {s.time_budget:g} s of timing ({rounds_run(result)} ran). "
                        + (f"'faster'/'slower' needs the whole interval beyond ±{s.margin:.0%}; 'equivalent' needs it "
                           f"wholly inside ±{s.margin:.0%}; otherwise 'undecided'." if s.margin else
                           "'faster'/'slower' needs the interval to exclude 1; otherwise 'undecided'.")
                        + " The pooled iterations' Hodges–Lehmann ratio is shown for description only.")
    out = [f"Every model ran on the same {result.n_samples} samples with the same settings; the first, "
           f"{result.baseline}, is the baseline.",
           f"Timing: `tinybench.measure` (calibrated loops, MSER-5 warm-up cut, GC off) of one batch of {s.batch_size} "
           f"under `torch.inference_mode()`, round-robin over the models in {rounds_run(result)} round"
           f"{'s' if rounds_run(result) != 1 else ''} of {s.min_time / s.rounds:g} s of steady samples per model.",
           compare_text if s.sequential else f"Comparisons: the rounds are the replications. Time ratio candidate/baseline = geometric mean of the "
           f"per-round ratios of medians, with a {format_percent(s.level)} t-interval on their logs (paired by round); "
           f"'faster'/'slower' needs the interval to exclude 1 and the Holm-adjusted p to be below {1 - s.level:.2g}"
           + (f"; 'equivalent' means the {1 - 2 * (1 - s.level):.0%} interval lies within ±{s.margin:.0%} (TOST)."
              if s.margin else "; no equivalence margin was set.")
           + " The pooled iterations' Hodges–Lehmann ratio is shown for description only."]
    if result.task == "classification":
        out.append("Accuracy on the labelled samples; the change against the baseline is tested with McNemar's exact "
                   "test (the same samples, so the comparison is paired). Output agreement compares the raw outputs.")
    if s.scenarios:
        out.append(f"Scenarios (LoadGen semantics, module 02): {', '.join(s.scenarios)}, {s.scenario_duration:g} s "
                   "each; a query's latency runs from its scheduled arrival.")
    if s.batch_sizes:
        out.append(f"Batch sweep: batch sizes {', '.join(map(str, s.batch_sizes))}, {s.sweep_min_time:g} s each.")
    if s.memory:
        out.append(f"Memory: peak RSS (the kernel's VmHWM) during one batch of {max((s.batch_size, *s.batch_sizes))}, "
                   "measured before the batch sweep; parameters, and FLOPs (FlopCounterMode) of one batch of "
                   f"{s.batch_size}.")
    if result.metrics:
        out.append("User metrics (functions passed to the suite, run once per model after the other steps): "
                   + "; ".join(i.name + (f" ({i.unit})" if i.unit else "") + (f": {i.description}" if i.description
                                                                              else "") for i in result.metrics) + ".")
    return out

# %% [markdown]
# The resources of a small suite: each model's CPU and memory during its own timed blocks, the
# report's table and its finding. The figures come from the samples the result keeps.

# %%
import torch

_X = torch.randn(64, 128, generator=torch.Generator().manual_seed(0))
_W = torch.randn(128, 128, generator=torch.Generator().manual_seed(1))
_rs_suite = BenchmarkSuite({"one matmul": lambda x: x @ _W, "four matmuls": lambda x: x @ _W @ _W @ _W @ _W}, _X,
                           SuiteSettings(batch_size=16, min_time=0.2, rounds=2, sequential=False, scenarios=(),
                                         batch_sizes=(), memory=False)).run()
print(resources_table(_rs_suite).markdown())
print(resource_finding(_rs_suite))
for _m in _rs_suite.models.values():
    _r = _m.resources
    assert _r.windows == 2 and _r.rss_bytes_peak == max(_r.rss_bytes) and _r.gpu_util_percent is None
    assert abs(_r.cpu_percent_mean - np.average(_r.cpu_percent, weights=_r.sample_seconds)) < 1e-9
