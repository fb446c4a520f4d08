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
        assert a.timing and a.timing["n"] > 0, "the timing (before the signal) is kept"
    if point == "scenarios":
        assert a.batch_sweep and a.batch_sweep["rows"], "the sweep (before the signal) is kept"
    else:
        assert not r.models["b"].scenarios, "measuring stopped at the signal: no later step ran"
    assert "Interrupted" in (folder / "report.md").read_text(), "the report is written, marked interrupted"
    assert (folder / "report.html").read_text().rstrip().endswith("</html>")
    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")], "no temporary file is left"


def test_two_ctrl_c_0_3_s_apart_still_leave_a_valid_results_json(interrupted_runs):
    code, err, out = interrupted_runs["twice"]
    assert code == 130 and "Traceback" not in err, err
    folder = only_run(out)
    r = SuiteResult.load(folder / "results.json")
    assert r.interrupted and r.models["a"].quality is not None
    # the second one lands before results.json is written (the report is then skipped) or during the report
    assert "report skipped" in err or "interrupted while writing the report" in err, err


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
