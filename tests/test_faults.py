"""Fault tests of `tinybench run`: real SIGINTs at several points, full and read-only disks, crafted pickles.

Each Ctrl-C test starts `tinybench run` in a subprocess on two small models whose forward sleeps 20 ms (so every step
lasts long enough, whatever the CPU), reads its progress lines on stderr until the step it wants, and sends SIGINT
there. The assertions hold wherever in that step (or a later one) the signal lands: they do not depend on timing luck.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import tinybench.cli as cli
from tinybench.suite import SuiteResult

SLEEPY = textwrap.dedent('''
    import time
    import torch

    class Sleepy(torch.nn.Module):
        "A classifier of 4 features into 3 classes that takes 20 ms per call, whatever the batch."
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 3)

        def forward(self, x):
            time.sleep(0.02)
            return self.fc(x)
''')


@pytest.fixture(scope="module")
def sleepy(tmp_path_factory):
    "(folder with the model module, model spec for --models, data file) for the subprocess runs."
    d = tmp_path_factory.mktemp("sleepy")
    (d / "faultmodels.py").write_text(SLEEPY)
    sys.path.insert(0, str(d))
    try:
        import faultmodels
        torch.manual_seed(0)
        for name in ("a", "b"):
            torch.save(faultmodels.Sleepy(), d / f"{name}.pt")
    finally:
        sys.path.remove(str(d))
        sys.modules.pop("faultmodels", None)
    rng = np.random.default_rng(0)
    np.savez(d / "data.npz", X=rng.normal(size=(16, 4)).astype(np.float32), y=rng.integers(0, 3, 16))
    return d, f"a:{d / 'a.pt'},b:{d / 'b.pt'}", d / "data.npz"


def start_run(sleepy, out: Path) -> subprocess.Popen:
    d, spec, data = sleepy
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(d), os.environ.get("PYTHONPATH", "")])}
    args = [sys.executable, "-c", "import sys; from tinybench.cli import main; sys.exit(main())", "run",
            "--models", spec, "--trust-pickles", "--data", str(data), "--save-dir", str(out),
            "--rounds", "2", "--fixed-rounds", "--min-time", "1", "--batch-sizes", "1,2", "--no-memory",
            "--scenarios", "SingleStream", "--scenario-duration", "2"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def interrupt_at(proc: subprocess.Popen, marker: str, twice: bool = False) -> tuple[int, str]:
    "Read stderr until a line containing `marker`, send SIGINT (twice: again 0.3 s later); (exit code, stderr)."
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if marker in line:
            proc.send_signal(signal.SIGINT)
            if twice:
                time.sleep(0.3)
                proc.send_signal(signal.SIGINT)
            break
    else:
        proc.wait(60)
        raise AssertionError(f"the run ended before {marker!r}:\n{''.join(seen)}")
    rest = proc.stderr.read()
    return proc.wait(60), "".join(seen) + rest


def only_run(out: Path) -> Path:
    (folder,) = out.iterdir()
    return folder


POINTS = {"timing": ("timing round 1/2", False), "sweep": (": batch sweep", False),
          "scenarios": (": SingleStream scenario", False), "report": ("writing the figures and the report", False),
          "twice": ("timing round 1/2", True), "startup": ("starting:", False)}


@pytest.fixture(scope="module")
def interrupted_runs(sleepy, tmp_path_factory):
    "point -> (exit code, stderr, save dir): every SIGINT run at once (they mostly sleep), so the module stays short."
    from concurrent.futures import ThreadPoolExecutor
    outs = {p: tmp_path_factory.mktemp(p) for p in POINTS}
    procs = {p: start_run(sleepy, outs[p]) for p in POINTS}
    with ThreadPoolExecutor(len(POINTS)) as pool:
        futures = {p: pool.submit(interrupt_at, procs[p], *POINTS[p]) for p in POINTS}
        return {p: (*f.result(), outs[p]) for p, f in futures.items()}


@pytest.mark.parametrize("point", ["timing", "sweep", "scenarios"])
def test_ctrl_c_while_measuring_keeps_everything_and_writes_the_report(interrupted_runs, point):
    code, err, out = interrupted_runs[point]
    assert code == 130, err
    assert "Traceback" not in err, err
    folder = only_run(out)
    r = SuiteResult.load(folder / "results.json")
    assert r.interrupted, "results.json says the run was interrupted"
    a = r.models["a"]
    assert a.quality is not None, "the quality step (before the signal) is kept"
    if point in ("sweep", "scenarios"):
        assert a.timing and a.timing.n > 0, "the timing (before the signal) is kept"
    if point == "scenarios":
        assert a.batch_sweep and a.batch_sweep.rows, "the sweep (before the signal) is kept"
    else:
        assert not r.models["b"].scenarios, "measuring stopped at the signal: no later step ran"
    assert "Interrupted" in (folder / "report.md").read_text(), "the report is written, marked interrupted"
    assert (folder / "report.html").read_text().rstrip().endswith("</html>")
    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")], "no temporary file is left"


def test_two_ctrl_c_0_3_s_apart_still_leave_a_valid_results_json(interrupted_runs):
    """Where the second Ctrl-C lands depends on the machine: on a CI machine where the whole ending (results.json,
    figures, report) takes 0.2 s, it comes while Python is exiting, and kills it (exit -2) without `ignore_ctrl_c`.
    Each place it can land has its own outcome; all of them keep results.json and exit 130 without a traceback."""
    code, err, out = interrupted_runs["twice"]
    assert code == 130 and "Traceback" not in err, err
    folder = only_run(out)
    r = SuiteResult.load(folder / "results.json")
    assert r.interrupted and r.models["a"].quality is not None
    if "report skipped" in err:  # it landed while results.json was written
        assert not (folder / "report.html").exists()
    elif "interrupted while writing the report" not in err:  # it landed after the report, as the command ended
        assert (folder / "report.html").read_text().rstrip().endswith("</html>")
    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def test_second_ctrl_c_while_results_json_is_written_skips_the_report(tmp_path):
    """The 'report skipped' branch, made deterministic: two real SIGINTs arrive while results.json is being computed
    (sent from the progress line that starts that step). Both are counted, none raises; results.json is whole, the
    report is skipped, and afterwards SIGINT is ignored (the command is ending)."""
    torch.manual_seed(0)
    torch.save(nn.Linear(4, 3), tmp_path / "m.pt")
    X, y = _data()
    np.savez(tmp_path / "d.npz", X=X.numpy(), y=y)
    lines = []

    def say(msg):
        lines.append(msg)
        if msg.startswith("comparing with the baseline"):
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with cli.InterruptGuard() as guard:
            folder, result = cli.run(tmp_path / "out", {"m": tmp_path / "m.pt"}, tmp_path / "d.npz", FAST,
                                     progress=say, trust_pickles=True, guard=guard)
        assert guard.count == 2
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, old)
    assert any("second Ctrl-C: report skipped" in ln for ln in lines), lines
    assert SuiteResult.load(folder / "results.json").models["m"].timing.n > 0
    assert not (folder / "report.html").exists()


def test_ctrl_c_while_writing_the_report_keeps_results_json(interrupted_runs):
    code, err, out = interrupted_runs["report"]
    assert code == 130 and "Traceback" not in err, err
    folder = only_run(out)
    r = SuiteResult.load(folder / "results.json")
    # measuring had finished: the data is complete, so it is not marked partial
    assert not r.interrupted and r.models["b"].scenarios["SingleStream"]["n_queries"] > 0
    html = folder / "report.html"
    assert not html.exists() or html.read_text().rstrip().endswith("</html>"), "never a cut-off report"
    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def test_ctrl_c_at_startup_exits_130_with_one_line(interrupted_runs):
    code, err, out = interrupted_runs["startup"]
    assert code == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "tinybench: interrupted"


# ---------------------------------------------------------------- in-process faults (no subprocess)
from torch import nn  # noqa: E402

from tinybench.suite import BenchmarkSuite, SuiteSettings  # noqa: E402

FAST = SuiteSettings(batch_size=8, min_time=0.02, rounds=2, sequential=False, scenarios=("SingleStream",),
                     scenario_duration=0.05, batch_sizes=(1, 8), sweep_min_time=0.005, memory=False)


def _data(n=24, d=4):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, d, generator=g), torch.randint(0, 3, (n,), generator=g).numpy()


class Good(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x)


class WrongBatch(Good):
    def forward(self, x):
        return self.fc(x)[:1]


class OneD(Good):
    def forward(self, x):
        return self.fc(x)[:, 0]


class AllNaN(Good):
    def forward(self, x):
        return torch.full((len(x), 3), float("nan"))


class CPUOOM(Good):
    def forward(self, x):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:118] DefaultCPUAllocator: can't allocate memory: you "
                           "tried to allocate 1099511627776 bytes")


def small_suite_result(models, **kw):
    return BenchmarkSuite(models, _data(), SuiteSettings(**{**FAST.to_dict(), **kw})).run()


def test_per_model_failures_stay_per_model():
    r = small_suite_result({"good": Good(), "wrong": WrongBatch(), "oned": OneD(), "nan": AllNaN(), "oom": CPUOOM()})
    assert r.models["good"].ok and r.models["good"].timing and r.models["good"].scenarios, "the others are measured"
    assert "outputs of shape (1, 3) for a batch of 8" in r.models["wrong"].errors["forward"]
    assert "outputs of shape (8,)" in r.models["oned"].errors["forward"] and r.models["oned"].accuracy is None
    assert "DefaultCPUAllocator" in r.models["oom"].errors["forward"]
    nan = r.models["nan"]
    assert "NaN/Inf" in nan.errors["outputs"] and nan.accuracy is None, "NaN outputs are never correct predictions"
    assert r.comparison("nan").accuracy_change is None


def test_memory_error_in_a_later_step_is_that_models_error():
    m = Good()
    r = BenchmarkSuite({"good": Good(), "oom": m}, _data(), FAST)
    m.forward = lambda x: (_ for _ in ()).throw(MemoryError()) if len(x) == 1 else Good.forward(m, x)
    res = r.run()
    assert res.models["good"].ok and res.models["good"].scenarios
    assert any("MemoryError" in v for v in res.models["oom"].errors.values()), res.models["oom"].errors


def test_dollar_names_plot_and_markdown_is_escaped(tmp_path):
    from tinybench.report import Report
    r = small_suite_result({"$x$": Good(), "$\\alpha_{bad$": Good(), "<script>alert(1)</script>": Good()})
    paths = Report(r, title="<b>t</b>").save(tmp_path)
    md = paths["markdown"].read_text()
    assert "<script>" not in md and "&lt;script&gt;" in md and "# &lt;b&gt;t&lt;/b&gt;" in md
    assert len(list((tmp_path / "figures").glob("*.png"))) >= 2


def test_an_error_never_prints_an_empty_message():
    assert cli.error_line(ValueError("\nreal reason")) == "real reason"
    assert cli.error_line(ValueError("")) == "ValueError"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("saved")
    r = small_suite_result({"a": Good(), "b": Good()}, scenarios=(), batch_sizes=())
    return r.save(d / "results.json"), r


def test_report_never_overwrites_a_results_json_it_did_not_read(saved, tmp_path):
    path, r = saved
    other = tmp_path / "other.json"
    other.write_text(path.read_text().replace('"started": "', '"started": "OTHER'))
    mine = tmp_path / "results.json"
    mine.write_text(path.read_text())
    before = mine.read_text()
    assert cli.main(["report", str(other)]) == 0
    assert mine.read_text() == before and (tmp_path / "report.md").is_file()
    assert cli.main(["report", str(other), "--report-format", "json"]) == 2
    assert mine.read_text() == before


def test_crafted_pickle_does_not_run_without_trust_pickles(tmp_path, capsys):
    marker = tmp_path / "marker"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save(Payload(), tmp_path / "evil.pt")
    code = cli.main(["run", "--models", f"m:{tmp_path / 'evil.pt'}", "--save-dir", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and not marker.exists(), "the payload did not run"
    assert "--trust-pickles" in err and err.count("\n") == 1
    assert "WARNING" in cli.build_parser()._subparsers._group_actions[0].choices["run"].format_help()


@pytest.mark.parametrize("tolerance", ["nan", "-1", "inf", "0"])
def test_gate_refuses_an_invalid_tolerance_before_measuring(tmp_path, capsys, tolerance):
    code = cli.main(["run", "--store", str(tmp_path / "s.sqlite"), "--baseline", "--tolerance", tolerance,
                     "--save-dir", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "--tolerance must be a positive, finite fraction" in err and tolerance in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_gate_nan_metric_empty_baseline_and_zero_vs_zero():
    from tinybench.abtest import detect_regression
    with pytest.raises(ValueError, match="tolerance"):
        detect_regression({"t": [1.0]}, {"t": [40.0]}, tolerance=float("nan"))
    with pytest.raises(ValueError, match="'t' holds NaN"):
        detect_regression({"t": [float("nan")]}, {"t": [1.0]}, 0.1)
    with pytest.raises(ValueError, match="no values"):
        detect_regression({"t": [1.0]}, {"t": []}, 0.1)
    rep = detect_regression({"accuracy": 0.0}, {"accuracy": 0.0}, 0.1)
    assert rep.rows[0]["verdict"] == "unchanged" and rep.ok


def test_gate_in_the_cli_never_passes_a_nan_or_empty_baseline(saved, tmp_path):
    from tinybench.store import ResultStore
    _, r = saved
    db = tmp_path / "s.sqlite"
    names = [f"models/{n}/batch{m.timing.batch}" for n, m in r.models.items()]
    with ResultStore(db) as s:
        s.save(names[0], {"median_s": 1e-3}, {"round_median_s": [float("nan")] * 5})
        s.save(names[1], {"median_s": 1e-3}, {"round_median_s": []})
    reports = cli.record_in_store(r, db, True, 0.1, "models")
    assert reports[names[0]]["ok"] is False and "NaN" in reports[names[0]]["error"]
    assert reports[names[1]] is None, "an empty baseline is no baseline, not 'unchanged'"


# ---------------------------------------------------------------- full and read-only disks
def _tmpfs(path: Path, size: str = "64k") -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                                                capture_output=True).returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    d = tmp_path / "disk"
    if not _tmpfs(d):
        pytest.skip("needs root and mount -t tmpfs to make a small disk")
    yield d
    subprocess.run(["umount", "-l", str(d)], check=False)


def test_report_onto_a_full_disk_is_one_line_and_leaves_no_tmp(saved, small_disk, capsys):
    path, _ = saved
    (small_disk / "filler").write_bytes(b"\0" * (60 * 1024))
    code = cli.main(["report", str(path), "--out", str(small_disk)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "No space left on device" in err and "disk is full" in err, err
    assert not [p for p in small_disk.rglob("*") if p.name.endswith(".tmp")], "no temporary file is left"
    leftovers = [p for p in small_disk.rglob("*") if p.is_file() and p.name != "filler"]
    for p in leftovers:  # whatever was written is whole
        if p.name == "results.json":
            SuiteResult.load(p)
        elif p.suffix == ".html":
            assert p.read_text().rstrip().endswith("</html>")


def test_library_report_save_raises_a_clear_oserror(saved, small_disk):
    from tinybench.report import Report
    _, r = saved
    (small_disk / "filler").write_bytes(b"\0" * (60 * 1024))
    with pytest.raises(OSError, match="cannot write .*disk is full"):
        Report(r).save(small_disk / "run")


def test_folder_turning_read_only_mid_run_keeps_results_json(small_disk, tmp_path, capsys, monkeypatch):
    import tinybench.cli as cli_mod
    real_save = cli_mod.save_results

    def read_only_first(result, folder, say):
        subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
        return real_save(result, folder, say)

    monkeypatch.setattr(cli_mod, "save_results", read_only_first)
    monkeypatch.setattr(cli_mod, "load_model_file", lambda path, device="cpu", trust=False: Good())
    x, y = _data()
    np.savez(tmp_path / "d.npz", X=x.numpy(), y=y)
    (tmp_path / "m.pt").write_text("")
    code = cli.main(["run", "--models", f"m:{tmp_path / 'm.pt'}", "--data", str(tmp_path / "d.npz"), "--quick",
                     "--quiet", "--scenarios", "", "--batch-sizes", "1", "--no-memory", "--save-dir", str(small_disk)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "read-only" in err, err
    saved_at = Path(err.split("the results are saved in ")[1].split()[0].rstrip(";"))
    assert SuiteResult.load(saved_at).models["m"].timing
