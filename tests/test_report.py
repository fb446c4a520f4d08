"""Module 06: tinybench.quality (output agreement, quality metrics), the environment record, and tinybench.report."""
import math
import numpy as np
import pytest
import torch
from scipy.spatial.distance import cosine
from torch import nn

from tinybench.quality import agreement_metrics, classification_quality, compare_outputs, regression_quality
from tinybench.env import environment


def test_agreement_metrics_against_scipy_and_numpy():
    rng = np.random.default_rng(1)
    b = rng.standard_normal((50, 7))
    c = b + rng.normal(0, 0.05, b.shape)
    m = agreement_metrics(b, c)
    cos = [1 - cosine(b[i], c[i]) for i in range(50)]
    assert m["cosine_mean"] == pytest.approx(np.mean(cos), abs=1e-12) and m["cosine_min"] == pytest.approx(min(cos))
    assert m["max_abs_error"] == np.abs(b - c).max() and m["max_rel_error"] == np.abs(b - c).max() / np.abs(b).max()
    assert m["top1_agreement"] == np.mean(b.argmax(1) == c.argmax(1))
    with pytest.raises(ValueError, match="shape"):
        agreement_metrics(b, c[:10])


class Scaled(nn.Module):
    "The baseline's logits, perturbed: a stand-in for an optimised variant with known differences."
    def __init__(self, base, noise=0.0, nan_every=0):
        super().__init__()
        self.base, self.noise, self.nan_every = base, noise, nan_every

    def forward(self, x):
        out = self.base(x) + self.noise * torch.randn_like(self.base(x))
        if self.nan_every:
            out[:: self.nan_every, 0] = float("nan")
        return out


def test_compare_outputs_identical_perturbed_and_broken():
    torch.manual_seed(0)
    base = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).eval()
    X = torch.randn(300, 8)
    labels = base(X).argmax(1).detach().numpy()
    same = compare_outputs(base, base, X, labels, batch_size=64)
    assert same.metrics["top1_agreement"] == 1.0 and same.metrics["max_abs_error"] == 0.0
    assert same.accuracy_baseline == same.accuracy_candidate == 1.0
    assert all(v == 0.0 for v in same.per_class_accuracy_change.values())
    noisy = compare_outputs(base, Scaled(base, noise=0.5), X, labels)
    assert noisy.metrics["top1_agreement"] < 1.0 and noisy.accuracy_candidate < 1.0
    assert min(noisy.per_class_accuracy_change.values()) < 0 and "worst class" in repr(noisy)
    broken = compare_outputs(base, Scaled(base, nan_every=10), X, batch_size=300)
    assert broken.nonfinite_candidate == 30 and broken.nonfinite_baseline == 0 and "NaN/Inf" in repr(broken)
    assert broken.to_dict()["nonfinite_candidate"] == 30
    with pytest.raises(ValueError, match="no inputs"):
        compare_outputs(base, base, X[:0])
    with pytest.raises(ValueError, match="output shape"):
        compare_outputs(base, nn.Linear(8, 3), X)


def test_quality_metrics_equal_sklearn():
    from sklearn import metrics as skm
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 500)
    p = np.where(rng.random(500) < 0.8, y, rng.integers(0, 4, 500))
    q = classification_quality(y, p)
    assert q["accuracy"] == skm.accuracy_score(y, p)
    assert q["f1_weighted"] == pytest.approx(skm.f1_score(y, p, average="weighted"))
    assert q["per_class"][2]["recall"] == pytest.approx(skm.recall_score(y, p, labels=[2], average=None)[0])
    assert np.array_equal(q["confusion_matrix"], skm.confusion_matrix(y, p))
    assert sum(v["support"] for v in q["per_class"].values()) == 500
    t = rng.standard_normal(100)
    r = regression_quality(t, t + 0.1)
    assert r["rmse"] == pytest.approx(0.1) and r["mae"] == pytest.approx(0.1)
    assert r["r2"] == pytest.approx(skm.r2_score(t, t + 0.1))
    with pytest.raises(ValueError):
        classification_quality([], [])
    with pytest.raises(ValueError):
        regression_quality([1.0, 2.0], [1.0])


def test_environment_records_what_a_report_needs():
    env = environment()
    for key in ("python", "numpy", "tinybench", "cpu_model", "cpu_count", "memory_bytes", "platform"):
        assert key in env, key
    assert env["memory_bytes"] is None or env["memory_bytes"] > 2**28
    assert env["torch"] == torch.__version__ and env["torch_threads"] == torch.get_num_threads()
    assert "git_commit" in env


def test_latency_finding_claims_only_what_the_interval_supports():
    from tinybench.report import latency_finding
    from tinybench.stats import compare
    rng = np.random.default_rng(3)
    a = rng.lognormal(np.log(1e-3), 0.1, 200)
    fast = compare(a, a / 2 * rng.lognormal(0, 0.1, 200), label_a="base", label_b="opt")
    text = latency_finding(fast)
    lo, hi = fast.ratio_ci
    assert "opt is" in text and "faster than base" in text and f"{lo:.3f}–{hi:.3f}" in text
    noise = compare(a, rng.lognormal(np.log(0.99e-3), 0.1, 200), label_a="base", label_b="opt")
    assert noise.verdict == "no detectable difference"
    assert "faster" not in latency_finding(noise) and "includes 1" in latency_finding(noise)


def test_plot_latency_cdf_draws_one_ecdf_per_model():
    from tinybench.report import plot_latency_cdf
    fig = plot_latency_cdf({"m1": [2e-3, 1e-3], "m2": [1e-3, 1e-3, 5e-3]})
    l1, l2 = fig.axes[0].get_lines()
    assert np.allclose(l1.get_xdata(), [1, 2]) and np.allclose(l2.get_ydata(), [1 / 3, 2 / 3, 1])
    with pytest.raises(ValueError):
        plot_latency_cdf({})


# ---- the report of a suite: files, self-contained HTML, and a real browser

import base64
import io
import re
import shutil
import subprocess


@pytest.fixture(scope="module")
def small_report(tmp_path_factory):
    "A real (short) suite of the digits CNN and one variant, and its report saved to a folder."
    from tinybench.report import Report
    from tinybench.suite import BenchmarkSuite, SuiteSettings
    from tinybench.workloads import default_workload
    wl = default_workload()
    s = SuiteSettings(batch_size=32, min_time=0.1, rounds=2, sequential=False, scenarios=("SingleStream",), scenario_duration=0.2,
                      batch_sizes=(1, 16), sweep_min_time=0.02)
    result = BenchmarkSuite({k: wl.variants[k] for k in ("fp32", "int8-dynamic")}, wl.data, s).run()
    folder = tmp_path_factory.mktemp("report")
    return Report(result, title="small <report> & test"), Report(result).save(folder), folder


def _png_arrays(html_text):
    import matplotlib.image as mpimg
    return [mpimg.imread(io.BytesIO(base64.b64decode(b)), format="png")
            for b in re.findall(r"src=[\"']data:image/png;base64,([A-Za-z0-9+/=]+)[\"']", html_text)]


def test_html_report_is_self_contained_with_five_nonempty_plots_next_to_their_text(small_report):
    rep, paths, folder = small_report
    text = paths["html"].read_text()
    assert text.startswith("<!DOCTYPE html>") and "<script" not in text and "http://" not in text and "https://" not in text
    images = _png_arrays(text)
    assert len(images) == 5 == text.count("<img ")
    for img in images:
        assert img.shape[0] > 100 and img.shape[1] > 100 and img[..., :3].std() > 0.05, "a plot is blank"
    for heading in ("Executive summary", "Latency", "Environment", "Methodology", "Results", "Comparisons with fp32",
                    "Scenarios", "Throughput against batch size", "Findings", "Recommendations", "Limitations"):
        assert f"<h2>{heading}</h2>" in text, heading
    sections = {m.group(1): m.group(2) for m in re.finditer(r"<h2>(.*?)</h2>(.*?)(?=<h2>|</body>)", text, re.S)}
    for chart, heading in (("latency_cdf", "Latency"), ("memory", "Results"), ("speedup_by_technique", "Comparisons with fp32"),
                           ("accuracy_vs_speedup", "Comparisons with fp32"), ("throughput_vs_batch", "Throughput against batch size")):
        assert f'alt="{chart}"' in sections[heading], f"{chart} sits next to the text that cites it ({heading})"
    assert text.count("<table>") >= 5
    assert "<h1>small &lt;report&gt; &amp; test</h1>" in rep.to_html(), "the title is escaped"


def test_markdown_report_links_existing_figures_and_every_number_comes_from_the_result(small_report):
    rep, paths, folder = small_report
    md = paths["markdown"].read_text()
    for link in re.findall(r"\]\((figures/[a-z_]+\.png)\)", md):
        assert (folder / link).stat().st_size > 1000
    vc = rep.result.comparisons[0]
    assert f"{vc.ratio:.3f} ({vc.ratio_ci[0]:.3f}–{vc.ratio_ci[1]:.3f})" in md
    assert f"time ratio {vc.ratio:.3f}, 95% CI {vc.ratio_ci[0]:.3f}–{vc.ratio_ci[1]:.3f}" in md
    for name, m in rep.result.models.items():
        assert f"| {name} | {m.accuracy:.2%} |" in md
        f1 = [f"{m.quality['per_class'][c]['f1']:.3f}" for c in sorted(m.quality["per_class"])]
        assert f"| {name} | {' | '.join(f1)} |" in md, "per-class F1 row"
    assert rep._repr_markdown_() == rep.to_markdown() and "findings" in repr(rep)


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="needs Chromium (apt-get install chromium)")
def test_html_report_renders_in_headless_chromium(small_report, tmp_path):
    import matplotlib.image as mpimg
    _, paths, _ = small_report
    shot = tmp_path / "shot.png"
    base = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr",
            "--v=0", f"--user-data-dir={tmp_path / 'profile'}"]
    proc = subprocess.run([*base, f"--screenshot={shot}", "--window-size=1280,2400", paths["html"].as_uri()],
                          capture_output=True, text=True, timeout=180)
    assert shot.exists() and shot.stat().st_size > 10_000, proc.stderr[-2000:]
    console = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console
    img = mpimg.imread(shot)[..., :3]
    ink = (img.mean(axis=2) < 0.9).mean()
    assert ink > 0.02, f"the screenshot is nearly blank ({ink:.1%} of pixels are not white)"
    dom = subprocess.run([*base, "--dump-dom", paths["html"].as_uri()], capture_output=True, text=True, timeout=180)
    assert dom.stdout.count("<table>") >= 5 and dom.stdout.count("<img ") == 5, dom.stderr[-2000:]


def test_offline_is_explained_against_the_batch_sweep_at_the_same_batch():
    from tinybench.report import offline_vs_sweep
    from tinybench.suite import ModelResult, SuiteResult, SuiteSettings
    settings = SuiteSettings(batch_size=32, scenarios=("Offline",), batch_sizes=(8, 32, 128), sequential=False)
    from tinybench.profiles import BatchSweep
    rows = [{"batch": 8, "samples_per_s": 20_000.0}, {"batch": 32, "samples_per_s": 40_000.0},
            {"batch": 128, "samples_per_s": 90_000.0}]
    m = ModelResult("fp32", scenarios={"Offline": {"samples_per_second": 30_000.0}},
                    batch_sweep=BatchSweep(rows, "cpu", env={}))
    text = offline_vs_sweep(SuiteResult({"fp32": m}, "fp32", settings, "classification", 100))
    assert "fp32 75%" in text and "batch 32" in text and "model alone" in text
    empty = ModelResult("fp32", scenarios={"Offline": {"samples_per_second": 30_000.0}})
    assert offline_vs_sweep(SuiteResult({"fp32": empty}, "fp32", settings, "classification", 100)) == ""


def test_the_report_answers_first_with_a_p50_p95_p99_latency_table():
    "Executive summary, then the latency table (p50 / p95 / p99 from the kept samples), then the rest."
    import numpy as np

    from tinybench.display import format_seconds
    from tinybench.report import Report, executive_summary
    from tinybench.suite import ModelResult, SuiteResult, SuiteSettings, TimingSummary, latency_table
    samples = list(np.random.default_rng(0).lognormal(np.log(2e-3), 0.3, 200))
    r = SuiteResult({"fp32": ModelResult("fp32", timing=TimingSummary(32, samples, samples[:5]))}, "fp32",
                    SuiteSettings(batch_size=32, scenarios=(), batch_sizes=(), sequential=False), "classification", 100)
    row = latency_table(r).rows[0]
    assert row[:4] == ["fp32", *(format_seconds(np.percentile(samples, q)) for q in (50, 95, 99))]
    assert row[4] == "baseline"
    text = Report(r).to_markdown()
    order = [text.index(h) for h in ("## Executive summary", "## Latency", "## Environment", "## Findings")]
    assert order == sorted(order), "the answer comes first"
    summary = executive_summary(r)
    assert summary and all(s in text for s in summary)


def test_cost_table_is_recomputed_from_the_round_medians(small_report):
    "Cost per million = cost_per_hour / (3600 × batch / median of round medians) × 10⁶, the interval from median_ci."
    from tinybench.stats import median_ci, min_samples_for_quantile_ci
    from tinybench.suite import cost_per_million, cost_table
    rep, _, _ = small_report
    r = rep.result
    assert cost_per_million(1000.0, 3.6) == pytest.approx(1.0), "1,000 samples/s at 3.6/h: 3.6 M samples/h cost 3.6"
    table = cost_table(r, 2.5)
    for row in table.rows:
        t = r.models[row[0]].timing
        rate = t.batch / np.median(t.round_medians)
        assert row[2] == f"{2.5 / (rate * 3600) * 1e6:.4g}"
        if t.rounds >= min_samples_for_quantile_ci(0.5, r.settings.level):
            lo, hi = median_ci(t.round_medians, r.settings.level)
            assert row[3] == f"{cost_per_million(t.batch / lo, 2.5):.4g}–{cost_per_million(t.batch / hi, 2.5):.4g}"
        else:
            assert row[3].startswith("– (needs"), "too few rounds for an interval: says so, invents none"
    with pytest.raises(ValueError, match="cost_per_hour"):
        cost_table(r, -1)


def test_cost_interval_with_enough_rounds_brackets_the_estimate():
    from tinybench.suite import ModelResult, SuiteResult, SuiteSettings, TimingSummary, cost_table
    rng = np.random.default_rng(1)
    medians = list(rng.lognormal(np.log(2e-3), 0.05, 20))
    r = SuiteResult({"fp32": ModelResult("fp32", timing=TimingSummary(32, medians, medians))}, "fp32",
                    SuiteSettings(batch_size=32, scenarios=(), batch_sizes=(), sequential=False), "classification", 100)
    _, rate, cost, ci = cost_table(r, 3.0).rows[0]
    lo, hi = map(float, ci.split("–"))
    assert lo < float(cost) < hi and "(" in rate


def test_report_with_cost_and_hostile_names_escapes_every_string():
    from tinybench.report import Report
    from tinybench.suite import ModelResult, SuiteResult, SuiteSettings, TimingSummary
    s = list(np.random.default_rng(0).lognormal(np.log(2e-3), 0.2, 30))
    name = "<script>alert(1)</script>"
    r = SuiteResult({name: ModelResult(name, timing=TimingSummary(8, s, s[:10]))}, name,
                    SuiteSettings(batch_size=8, scenarios=(), batch_sizes=(), sequential=False), "classification", 10)
    text = Report(r, title="<b>t</b>", cost_per_hour=1.5).to_html()
    assert "<script" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<h2>Cost</h2>" in text
    with pytest.raises(TypeError, match="cost_per_hour"):
        Report(r, cost_per_hour="3 dollars")


def test_pdf_without_chromium_is_a_clear_error_and_keeps_the_html(small_report, tmp_path, monkeypatch):
    rep, _, _ = small_report
    monkeypatch.setenv("TINYBENCH_CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(RuntimeError, match="needs Chromium"):
        rep.save(tmp_path, formats=("pdf",))
    assert (tmp_path / "report.html").stat().st_size > 10_000 and not list(tmp_path.glob("*.pdf"))
    with pytest.raises(ValueError, match="markdown, html, json, pdf"):
        rep.save(tmp_path, formats=("docx",))


@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="needs Chromium (apt-get install chromium)")
def test_pdf_report_has_pages_that_render_non_blank(small_report, tmp_path):
    "The PDF is the HTML printed by Chromium: it opens (pypdfium2, PDFium), has pages, and they are not blank."
    import pypdfium2 as pdfium
    rep, _, _ = small_report
    paths = rep.save(tmp_path, formats=("pdf",))
    assert set(paths) == {"json", "html", "pdf"} and paths["pdf"].read_bytes().startswith(b"%PDF")
    pdf = pdfium.PdfDocument(str(paths["pdf"]))
    assert len(pdf) >= 2, "a whole report is more than a page"
    first = pdf[0].render(scale=1).to_numpy()[..., :3]
    assert ((first.mean(axis=2) < 200).mean()) > 0.01, "the first page has ink"
    text = pdf[0].get_textpage().get_text_range()
    assert "Executive summary" in text and "small <report> & test" in text, "the escaped title prints as written"
    images = sum(1 for page in pdf for obj in page.get_objects() if obj.type == pdfium.raw.FPDF_PAGEOBJ_IMAGE)
    pdf.close()
    assert images == 5, f"the five plots are in the PDF, found {images}"


def test_the_sweep_section_shows_memory_per_batch_size_from_the_rows(small_report):
    "A second table under 'Throughput against batch size': each size's peak memory, exactly as the sweep recorded it."
    from tinybench.display import format_bytes
    from tinybench.suite import sweep_memory_table
    rep, _, _ = small_report
    table = sweep_memory_table(rep.result)
    if table is None:
        pytest.skip("this system cannot reset the peak-RSS mark: the sweep recorded no memory")
    assert table.header[0] == "model (peak RSS)"
    for row in table.rows:
        rows = rep.result.models[row[0]].batch_sweep.rows
        assert row[1:] == [format_bytes(r["rss_peak_bytes"]) for r in rows]
    md = rep.to_markdown()
    assert md.index("| model (peak RSS) |") > md.index("## Throughput against batch size")


def test_tokens_per_sample_adds_tokens_per_second_to_the_sweep_table():
    from tinybench.profiles import BatchSweep
    from tinybench.suite import ModelResult, SuiteResult, SuiteSettings, sweep_table
    rows = [{"batch": 8, "samples_per_s": 1000.0}, {"batch": 32, "samples_per_s": 2500.0}]
    r = SuiteResult({"lm": ModelResult("lm", batch_sweep=BatchSweep(rows, "cpu", env={}))}, "lm",
                    SuiteSettings(scenarios=(), batch_sizes=(8, 32), tokens_per_sample=128), "regression", 10)
    t = sweep_table(r)
    assert t.header[0] == "model (samples/s; tokens/s at 128 tokens per sample)"
    assert t.rows[0] == ["lm", "1,000 (128,000 tok/s)", "2,500 (320,000 tok/s)"]
    with pytest.raises(ValueError, match="tokens_per_sample"):
        SuiteSettings(tokens_per_sample=0)


def test_an_unbounded_interval_shows_no_point_speedup_and_no_bar():
    """Three noisy rounds can give a confidence sequence of (0, ∞): the point estimate then means nothing (a user saw
    '2.53 (0.00–inf)' next to a slower p50). Tables say so, and the speedup and trade-off plots leave it out."""
    from tinybench.suite import (ModelResult, SuiteResult, SuiteSettings, TimingSummary, VariantComparison,
                                 comparisons_table, figure_accuracy_vs_speedup, figure_speedup_by_technique,
                                 latency_table, results_table, speedup_text)
    s = [2e-3, 2.1e-3, 1.9e-3]
    vc = VariantComparison("fp32", "int8", ratio=0.4, ratio_ci=(0.0, math.inf), p_value=0.5, p_holm=0.5,
                           verdict="undecided", method="confidence sequence", margin=0.05, level=0.95, n_comparisons=1)
    ok = VariantComparison("fp32", "bf16", ratio=0.8, ratio_ci=(0.7, 0.9), p_value=0.01, p_holm=0.02,
                           verdict="faster", method="confidence sequence", margin=0.05, level=0.95, n_comparisons=1)
    models = {n: ModelResult(n, timing=TimingSummary(32, s, s), quality={"accuracy": 0.9}) for n in ("fp32", "int8", "bf16")}
    r = SuiteResult(models, "fp32", SuiteSettings(scenarios=(), batch_sizes=()), "classification", 100, comparisons=[vc, ok])
    assert not vc.bounded and ok.bounded and speedup_text(2.5, 0.0, math.inf) == "– (interval unbounded)"
    assert latency_table(r).rows[1][-1] == "– (interval unbounded) undecided"
    assert results_table(r).rows[1][4] == "– (interval unbounded)" and comparisons_table(r).rows[0][1] == "– (interval unbounded)"
    assert latency_table(r).rows[2][-1] == "1.25 (1.11–1.43) faster"
    bars = figure_speedup_by_technique(r).axes[0].patches
    assert len(bars) == 1, "one bar: bf16's"
    assert len(figure_accuracy_vs_speedup(r).axes[0].containers) == 1, "one error bar: bf16's"


def test_a_failed_baseline_is_the_first_thing_the_summary_says():
    from tinybench.report import executive_summary
    from tinybench.suite import ModelResult, SuiteResult, SuiteSettings
    r = SuiteResult({"fp32": ModelResult("fp32", errors={"forward": "RuntimeError: expected 1 channel, got 3"}),
                     "int8": ModelResult("int8", errors={"forward": "RuntimeError: expected 1 channel, got 3"})},
                    "fp32", SuiteSettings(scenarios=(), batch_sizes=()), "classification", 10)
    first = executive_summary(r)[0]
    assert first.startswith("No decision: the baseline fp32 failed (forward: RuntimeError: expected 1 channel")
