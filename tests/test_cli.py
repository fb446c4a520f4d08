"""Tests of the `tinybench run` job."""
import json

import pytest

import tinybench.cli as cli


def test_run_writes_results_and_summary(tmp_path, capsys):
    assert cli.main(["run", "--out", str(tmp_path), "--min-time", "0.02", "--quiet"]) == 0
    (folder,) = tmp_path.iterdir()
    results = json.loads((folder / "results.json").read_text())
    names = [v["name"] for v in results["variants"]]
    assert names[:3] == ["fp32", "int8-dynamic", "pruned-50"]
    for v in results["variants"]:
        assert v["accuracy"] >= 0.9
        assert set(v["timings"]) == {"1", "64"}
        t = v["timings"]["64"]
        assert t["throughput"] == pytest.approx(64 / t["median"])
        assert len(t["samples"]) == t["n"] > 0
    assert results["environment"]["python"] and not results["interrupted"]
    summary = (folder / "summary.md").read_text()
    assert "| fp32 |" in summary and "throughput" in summary
    assert "| variant |" in capsys.readouterr().out


def test_failed_variant_is_recorded_and_run_goes_on(tmp_path, monkeypatch):
    real = cli.benchmark_variant

    def flaky(variant, data, **kw):
        if variant.name == "pruned-50":
            raise RuntimeError("simulated failure")
        return real(variant, data, **kw)

    monkeypatch.setattr(cli, "benchmark_variant", flaky)
    folder = cli.run(tmp_path, min_time=0.02)
    results = json.loads((folder / "results.json").read_text())
    by_name = {v["name"]: v for v in results["variants"]}
    assert "simulated failure" in by_name["pruned-50"]["error"]
    assert "timings" in by_name["fp32"] and "timings" in by_name["int8-dynamic"]
    assert "failed" in (folder / "summary.md").read_text()


def test_ctrl_c_writes_partial_results(tmp_path, monkeypatch):
    real, seen = cli.benchmark_variant, []

    def interrupt_second(variant, data, **kw):
        seen.append(variant.name)
        if len(seen) == 2:
            raise KeyboardInterrupt
        return real(variant, data, **kw)

    monkeypatch.setattr(cli, "benchmark_variant", interrupt_second)
    folder = cli.run(tmp_path, min_time=0.02)
    results = json.loads((folder / "results.json").read_text())
    assert results["interrupted"] and [v["name"] for v in results["variants"]] == ["fp32"]
    assert "partial" in (folder / "summary.md").read_text()


def test_bad_device_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["run", "--out", str(tmp_path), "--device", "tpu", "--quiet"]) == 2
    assert "device must be" in capsys.readouterr().err


def test_store_and_baseline_gate(tmp_path, monkeypatch, capsys):
    db = tmp_path / "runs.sqlite"
    args = ["run", "--min-time", "0.02", "--quiet", "--store", str(db), "--baseline"]
    assert cli.main([*args, "--out", str(tmp_path / "first")]) == 0
    first = next((tmp_path / "first").iterdir())
    assert "No stored baseline yet" in (first / "summary.md").read_text()

    real = cli.benchmark_variant

    def slower(variant, data, **kw):  # the same measurements, made 60% slower after the fact: a planted regression
        row = real(variant, data, **kw)
        if variant.name == "fp32":
            t = row["timings"]["64"]
            t["samples"] = [x * 1.6 for x in t["samples"]]
        return row

    monkeypatch.setattr(cli, "benchmark_variant", slower)
    assert cli.main([*args, "--out", str(tmp_path / "second")]) == 1, "a regression fails the gate"
    second = next((tmp_path / "second").iterdir())
    results = json.loads((second / "results.json").read_text())
    rep = results["regressions"]["digits-cnn/fp32/batch64"]
    assert not rep["ok"] and {r["metric"]: r["verdict"] for r in rep["rows"]}["latency_s"] == "regressed"
    assert "| digits-cnn/fp32/batch64 | latency_s | regressed |" in (second / "summary.md").read_text()
    from tinybench.store import ResultStore
    with ResultStore(db) as s:
        assert len(s.history("digits-cnn/fp32/batch64")) == 2 and len(s.names()) >= 6


def test_baseline_needs_a_store_and_a_foreign_store_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "--baseline", "--out", str(tmp_path)])
    assert e.value.code == 2 and "--store" in capsys.readouterr().err
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database")
    assert cli.main(["run", "--out", str(tmp_path), "--min-time", "0.02", "--quiet", "--store", str(notes)]) == 2
    assert "not an SQLite database" in capsys.readouterr().err


def test_plan_from_a_saved_run_and_bad_input(tmp_path, capsys):
    assert cli.main(["run", "--out", str(tmp_path), "--min-time", "0.02", "--quiet"]) == 0
    capsys.readouterr()
    results = next(tmp_path.iterdir()) / "results.json"
    assert cli.main(["plan", "--target-qps", "5000", "--slo-ms", "20", "--results", str(results), "--quiet",
                     "--cost-per-hour", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "CapacityPlan(" in out and "replicas" in out and "per million" in out and "assumptions:" in out
    assert cli.main(["plan", "--target-qps", "5000", "--slo-ms", "0.001", "--results", str(results), "--quiet"]) == 2
    assert "no number of replicas" in capsys.readouterr().err
    assert cli.main(["plan", "--target-qps", "10", "--slo-ms", "20", "--results", str(tmp_path / "nope.json")]) == 2
    assert "no such results file" in capsys.readouterr().err


def test_plan_measures_the_default_workload(capsys):
    assert cli.main(["plan", "--target-qps", "2000", "--slo-ms", "50", "--quiet"]) == 0
    assert "SingleStream run of fp32" in capsys.readouterr().out


def test_compare_two_saved_runs(tmp_path, capsys):
    assert cli.main(["run", "--out", str(tmp_path / "a"), "--min-time", "0.02", "--quiet"]) == 0
    assert cli.main(["run", "--out", str(tmp_path / "b"), "--min-time", "0.02", "--quiet"]) == 0
    capsys.readouterr()
    old, new = (next((tmp_path / d).iterdir()) / "results.json" for d in "ab")
    assert cli.main(["compare", str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert "| fp32 | 64 |" in out and "## Findings" in out and "time ratio" in out
    md = cli.compare_runs(old, old)
    assert "| fp32 | 1 |" in md and "| 1.000 (" in md and "no detectable difference" in md
    assert "No significant difference" in md and "faster" not in md
    assert "Same environment" in md
    assert cli.main(["compare", str(old), str(tmp_path / "missing.json")]) == 2
    assert "no such results file" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert cli.main(["compare", str(old), str(bad)]) == 2
    assert "not a results.json" in capsys.readouterr().err
