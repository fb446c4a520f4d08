"""Tests of the `tinybench` command: run (suite + report), report, compare, plan; exit status and bad input."""
import json

import numpy as np
import pytest
import torch

import tinybench.cli as cli
import tinybench.suite as suite_mod
from tinybench.suite import BenchmarkSuite, SuiteResult

QUICK = ["--quick", "--quiet", "--scenarios", "SingleStream", "--batch-sizes", "1,8"]


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    "One quick `tinybench run` of the default workload, shared by the tests that read a saved run."
    out = tmp_path_factory.mktemp("run")
    assert cli.main(["run", "--save-dir", str(out), *QUICK]) == 0
    (folder,) = out.iterdir()
    return folder


def test_run_end_to_end_writes_three_files_and_the_json_equals_the_result(tmp_path, monkeypatch, capsys):
    seen = []
    real = BenchmarkSuite.finish

    def keep(self, *a, **kw):
        seen.append(real(self, *a, **kw))
        return seen[-1]

    monkeypatch.setattr(BenchmarkSuite, "finish", keep)
    assert cli.main(["run", "--save-dir", str(tmp_path), *QUICK]) == 0
    (folder,) = tmp_path.iterdir()
    assert {p.name for p in folder.iterdir()} == {"results.json", "report.md", "report.html", "figures"}
    on_disk = json.loads((folder / "results.json").read_text())
    assert json.dumps(on_disk) == json.dumps(seen[0].to_dict()), "the JSON is exactly the in-memory result"
    loaded = SuiteResult.load(folder / "results.json")
    assert list(loaded.models) == ["fp32", "int8-dynamic", "pruned-50", "bf16"] and loaded.baseline == "fp32"
    assert all(m.accuracy >= 0.9 and m.timing.n > 0 for m in loaded.models.values())
    md = (folder / "report.md").read_text()
    for section in ("## Environment", "## Methodology", "## Results", "## Comparisons with fp32", "## Findings",
                    "## Recommendations", "## Limitations", "](figures/latency_cdf.png)"):
        assert section in md, section
    assert (folder / "figures" / "throughput_vs_batch.png").stat().st_size > 1000
    out = capsys.readouterr().out
    assert "SuiteResult(4 models" in out and "- " in out


def test_run_models_from_torchscript_and_pickled_files(tmp_path, saved_run):
    from tinybench.workloads import default_workload
    model = default_workload().variants["fp32"].model
    torch.save(model, tmp_path / "full.pt")
    torch.jit.save(torch.jit.script(model), tmp_path / "script.pt")
    x = torch.zeros(4, 1, 8, 8)
    batch = torch.export.Dim("batch", min=1, max=4096)
    torch.export.save(torch.export.export(model, (x,), dynamic_shapes=({0: batch},)), tmp_path / "exported.pt2")
    spec = f"pickled:{tmp_path / 'full.pt'},scripted:{tmp_path / 'script.pt'},exported:{tmp_path / 'exported.pt2'}"
    assert cli.main(["run", "--models", spec, "--trust-pickles", "--save-dir", str(tmp_path / "out"), *QUICK,
                     "--report-format", "json"]) == 0
    (folder,) = (tmp_path / "out").iterdir()
    assert {p.name for p in folder.iterdir()} == {"results.json"}
    r = SuiteResult.load(folder / "results.json")
    assert list(r.models) == ["pickled", "scripted", "exported"] and all(m.ok for m in r.models.values())
    assert r.models["scripted"].accuracy == r.models["exported"].accuracy == r.models["pickled"].accuracy
    assert [c.top1_agreement for c in r.comparisons] == [1.0, 1.0]


def test_a_failing_model_is_reported_and_the_exit_status_is_1(tmp_path, capsys):
    class Broken(torch.nn.Module):
        def forward(self, x):
            if x.sum() > -1e30:
                raise RuntimeError("broken on purpose")
            return x

    from tinybench.workloads import default_workload
    torch.jit.save(torch.jit.script(default_workload().variants["fp32"].model), tmp_path / "good.pt")
    torch.jit.save(torch.jit.script(Broken()), tmp_path / "bad.pt")
    code = cli.main(["run", "--models", f"good:{tmp_path / 'good.pt'},bad:{tmp_path / 'bad.pt'}",
                     "--save-dir", str(tmp_path / "out"), *QUICK])
    assert code == 1
    (folder,) = (tmp_path / "out").iterdir()
    r = SuiteResult.load(folder / "results.json")
    assert "broken on purpose" in r.models["bad"].errors["forward"] and r.models["good"].ok
    assert "bad could not run" in (folder / "report.md").read_text()
    assert "Do not use bad: forward: Error: " in capsys.readouterr().out


def test_ctrl_c_writes_the_partial_report_and_exits_130(tmp_path, monkeypatch):
    def interrupt(suite, name, m, say):
        raise KeyboardInterrupt

    monkeypatch.setattr(suite_mod, "_step_sweep", interrupt)
    assert cli.main(["run", "--save-dir", str(tmp_path), *QUICK]) == 130
    (folder,) = tmp_path.iterdir()
    r = SuiteResult.load(folder / "results.json")
    assert r.interrupted and all(m.timing for m in r.models.values()) and not any(m.scenarios for m in r.models.values())
    assert "Interrupted" in (folder / "report.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["--models", "x:/no/such/model.pt"], "no such model file: /no/such/model.pt"),
    (["--models", ""], "--models is empty"),
    (["--models", "just-a-path.pt"], "bad --models entry 'just-a-path.pt': expected name:path"),
    (["--models", "NOTAMODEL"], "is not a TorchScript archive or a saved model"),
    (["--models", "STATEDICT"], "holds a dict, not a model"),
    (["--save-dir", "FILE/sub"], "cannot write to"),
    (["--device", "tpu"], "device must be"),
    (["--report-format", "docx"], "unknown --report-format docx: choose from markdown, html, json, pdf"),
    (["--cost-per-hour", "-1"], "--cost-per-hour must be"),
    (["--baseline"], "--baseline needs --store"),
    (["--data", "/no/such.npz"], "no such data file"),
])
def test_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path, capsys, args, message):
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    torch.save({"w": torch.zeros(2)}, tmp_path / "weights.pt")
    args = [a.replace("NOTAMODEL", f"m:{text}").replace("STATEDICT", f"m:{tmp_path / 'weights.pt'}")
            .replace("FILE", str(text)) for a in args]
    if "--save-dir" not in args:
        args += ["--save-dir", str(tmp_path / "runs")]
    assert cli.main(["run", *args, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir()), "nothing was measured"


def test_data_from_an_npz_file(tmp_path):
    from tinybench.workloads import default_workload
    wl = default_workload()
    torch.jit.save(torch.jit.script(wl.variants["fp32"].model), tmp_path / "m.pt")
    import numpy as np
    np.savez(tmp_path / "d.npz", X=wl.data.X_test[:100].numpy(), y=wl.data.y_test[:100].numpy())
    assert cli.main(["run", "--models", f"m:{tmp_path / 'm.pt'}", "--data", str(tmp_path / "d.npz"),
                     "--save-dir", str(tmp_path / "out"), *QUICK, "--report-format", "json"]) == 0
    (folder,) = (tmp_path / "out").iterdir()
    r = SuiteResult.load(folder / "results.json")
    assert r.n_samples == 100 and r.models["m"].accuracy > 0.9 and r.comparisons == []


def test_store_and_baseline_gate(tmp_path, monkeypatch):
    db = tmp_path / "runs.sqlite"
    args = ["run", "--quiet", "--min-time", "0.3", "--rounds", "6", "--fixed-rounds", "--scenarios", "", "--batch-sizes", "1",
            "--no-memory", "--store", str(db), "--baseline"]
    assert cli.main([*args, "--save-dir", str(tmp_path / "first")]) == 0
    first = next((tmp_path / "first").iterdir())
    assert "No stored baseline yet" in (first / "report.md").read_text()

    real = suite_mod.time_interleaved

    def slower(*a, **kw):  # the same measurements, made 3x slower after the fact: a planted regression (3x, not
        timings, errors = real(*a, **kw)  # 1.6x: --quick runs are short, and one of them can be 1.5x slow by chance)
        t = timings["fp32"]
        timings["fp32"] = suite_mod.TimingSummary(t.batch, [x * 3 for x in t.samples],
                                                  [x * 3 for x in t.round_medians])
        return timings, errors

    monkeypatch.setattr(suite_mod, "time_interleaved", slower)
    assert cli.main([*args, "--save-dir", str(tmp_path / "second")]) == 1, "a regression fails the gate"
    second = next((tmp_path / "second").iterdir())
    r = SuiteResult.load(second / "results.json")
    rep = r.regressions["digits-cnn/fp32/batch32"]
    verdicts = {row["metric"]: row["verdict"] for row in rep["rows"]}
    assert not rep["ok"] and verdicts["round_median_s"] == "regressed" and verdicts["accuracy"] == "unchanged"
    assert "| digits-cnn/fp32/batch32 | round_median_s | regressed |" in (second / "report.md").read_text()
    assert "n = 6/6" in {row["metric"]: row for row in rep["rows"]}["round_median_s"]["evidence"]
    from tinybench.store import ResultStore
    with ResultStore(db) as s:
        assert len(s.history("digits-cnn/fp32/batch32")) == 2 and len(s.names()) == 4


def test_the_gate_uses_the_tolerance_alone_with_too_few_rounds():
    assert cli._replications([1.0, 2.0, 3.0]) == [2.0]
    assert cli._replications([1.0, 2.0, 3.0, 4.0]) == [1.0, 2.0, 3.0, 4.0]
    from tinybench.abtest import detect_regression
    rep = detect_regression({"round_median_s": cli._replications([3.0, 3.1, 2.9])},
                            {"round_median_s": cli._replications([1.0, 1.1, 0.9])}, 0.10)
    assert rep.rows[0]["verdict"] == "regressed" and "tolerance only" in rep.rows[0]["evidence"]


def test_a_foreign_store_is_refused_before_measuring(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database")
    assert cli.main(["run", "--save-dir", str(tmp_path / "runs"), *QUICK, "--store", str(notes)]) == 2
    assert "not an SQLite database" in capsys.readouterr().err


def test_report_command_rewrites_the_report_from_saved_data(saved_run, tmp_path, capsys):
    assert cli.main(["report", str(saved_run / "results.json"), "--out", str(tmp_path), "--report-format",
                     "markdown,html,json", "--title", "again"]) == 0
    assert (tmp_path / "report.html").read_text().count("<img ") == 5
    assert (tmp_path / "report.md").read_text().startswith("# again")
    assert json.loads((tmp_path / "results.json").read_text()) == json.loads((saved_run / "results.json").read_text())
    capsys.readouterr()
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert cli.main(["report", str(bad)]) == 2
    assert "not a tinybench suite result" in capsys.readouterr().err


def test_plan_from_a_saved_run_and_bad_input(saved_run, tmp_path, capsys):
    results = saved_run / "results.json"
    # the SLO comes from the run's own service times: on a busy machine their p99 was once 50 ms (0.2 ms quiet)
    service = json.loads(results.read_text())["models"]["fp32"]["scenarios"]["SingleStream"]["latencies"]
    slo_ms = f"{10 * 1e3 * float(np.quantile(service, 0.99)):.3f}"
    assert cli.main(["plan", "--target-qps", "5000", "--slo-ms", slo_ms, "--results", str(results), "--quiet",
                     "--cost-per-hour", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "CapacityPlan(" in out and "SingleStream latencies of fp32" in out and "assumptions:" in out
    assert cli.main(["plan", "--target-qps", "5000", "--slo-ms", "0.001", "--results", str(results), "--quiet"]) == 2
    assert "no number of replicas" in capsys.readouterr().err
    assert cli.main(["plan", "--target-qps", "10", "--slo-ms", "20", "--results", str(tmp_path / "nope.json")]) == 2
    assert "no such results file" in capsys.readouterr().err
    assert cli.main(["plan", "--target-qps", "10", "--slo-ms", "20", "--results", str(results), "--variant", "x"]) == 2
    assert "has no model 'x'" in capsys.readouterr().err


def test_plan_measures_the_default_workload(capsys):
    assert cli.main(["plan", "--target-qps", "2000", "--slo-ms", "50", "--quiet"]) == 0
    assert "SingleStream run of fp32" in capsys.readouterr().out


def test_compare_two_saved_runs(saved_run, tmp_path, capsys):
    assert cli.main(["run", "--save-dir", str(tmp_path), *QUICK]) == 0
    capsys.readouterr()
    new = next(tmp_path.iterdir()) / "results.json"
    old = saved_run / "results.json"
    assert cli.main(["compare", str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert "| fp32 | 32 |" in out and "## Findings" in out and "time ratio" in out
    md = cli.compare_runs(old, old)
    assert "| fp32 | 32 |" in md and "| 1.000 (" in md and "no detectable difference" in md
    assert "No significant difference" in md and "faster" not in md and "Same environment" in md
    assert cli.main(["compare", str(old), str(tmp_path / "missing.json")]) == 2
    assert "no such results file" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert cli.main(["compare", str(old), str(bad)]) == 2
    assert "not a tinybench suite result" in capsys.readouterr().err


def test_runs_ratio_is_welch_on_log_round_medians():
    import numpy as np
    from scipy import stats as st

    from tinybench.stats import ratio_of_runs
    a, b = [1.0, 1.1, 0.95, 1.05], [2.0, 2.2, 1.9, 2.1]
    rr = ratio_of_runs(a, b)
    ratio, (lo, hi), p = rr.ratio, rr.ratio_ci, rr.p_value
    t = st.ttest_ind(np.log(b), np.log(a), equal_var=False)
    assert ratio == pytest.approx(np.exp(np.mean(np.log(b)) - np.mean(np.log(a))))
    assert (lo, hi) == pytest.approx(tuple(np.exp(t.confidence_interval(0.95)))) and p == pytest.approx(t.pvalue)
    assert rr.verdict == "slower" and ratio_of_runs(a, a, margin=0.2).verdict == "equivalent"
    for bad, error in [(float("nan"), ValueError), (-0.1, ValueError), ("5%", TypeError)]:
        with pytest.raises(error, match="margin"):
            ratio_of_runs(a, b, margin=bad)
    with pytest.raises(ValueError, match="old"):
        ratio_of_runs([1.0, -1.0], b)


def test_pdf_without_chromium_is_refused_before_measuring(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TINYBENCH_CHROMIUM", "/no/such/chromium")
    assert cli.main(["run", "--save-dir", str(tmp_path / "runs"), "--report-format", "html,pdf", *QUICK]) == 2
    err = capsys.readouterr().err
    assert "--report-format pdf needs Chromium" in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir()), "nothing was measured"


def test_report_with_cost_per_hour_adds_a_cost_section(saved_run, tmp_path):
    assert cli.main(["report", str(saved_run / "results.json"), "--out", str(tmp_path), "--report-format", "markdown",
                     "--cost-per-hour", "3.06"]) == 0
    md = (tmp_path / "report.md").read_text()
    r = SuiteResult.load(saved_run / "results.json")
    assert "## Cost" in md and "cost per million inferences at 3.06/h" in md
    t = r.models["fp32"].timing
    assert f"{3.06 / (t.batch / np.median(t.round_medians) * 3600) * 1e6:.4g}" in md, "recomputed from the round medians"


def test_progress_is_phase_lines_and_a_bar_of_timing_rounds():
    import io

    from tinybench.display import Progress
    from tinybench.suite import SuiteSettings
    buf = io.StringIO()
    s = SuiteSettings(batch_size=8, min_time=0.02, rounds=3, sequential=False, scenarios=(), batch_sizes=(), memory=False)
    X = torch.randn(40, 8)
    BenchmarkSuite({"a": torch.nn.Linear(8, 4), "b": torch.nn.Linear(8, 4)}, (X, None), s,
                   task="regression").run(progress=Progress(bar=True, file=buf))
    text = buf.getvalue()
    assert "tinybench [" in text and "outputs and quality" in text, "phase lines"
    assert "timing rounds (2 models)" in text and "3/3" in text, "a tqdm bar of the rounds, to the end"
    assert "timing round 1/3" not in text, "the bar replaces one line per round"
    quiet = io.StringIO()
    BenchmarkSuite({"a": torch.nn.Linear(8, 4)}, (X, None), s, task="regression").run(
        progress=Progress(enabled=False, file=quiet))
    assert quiet.getvalue() == ""


def test_store_without_baseline_records_and_claims_no_comparison(tmp_path):
    """Without --baseline nothing is compared: the report has no 'Against the stored baseline' section (it once said
    'No stored baseline yet' while the store held earlier runs)."""
    db = tmp_path / "h.sqlite"
    assert cli.main(["run", "--save-dir", str(tmp_path / "r"), "--store", str(db), *QUICK]) == 0
    (folder,) = (tmp_path / "r").iterdir()
    assert "stored baseline" not in (folder / "report.md").read_text()
    assert SuiteResult.load(folder / "results.json").regressions is None
    from tinybench.store import ResultStore
    with ResultStore(db) as s:
        assert len(s.names()) == 4, "every model was recorded"


def test_report_names_the_flag_of_a_bad_cost(saved_run, tmp_path, capsys):
    assert cli.main(["report", str(saved_run / "results.json"), "--out", str(tmp_path), "--cost-per-hour", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--cost-per-hour must be" in err and err.count("\n") == 1
