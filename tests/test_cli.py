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
