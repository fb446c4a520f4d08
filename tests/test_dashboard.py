"""Tests of tinybench.dashboard and `tinybench dashboard`: the page shows what the store holds (trends, intervals, the
gate's verdicts, drill-down data), works offline, escapes names, and fails clearly on bad input."""
import html
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

import tinybench.cli as cli
from tinybench.dashboard import Dashboard, build_dashboard, interval_metrics, run_record
from tinybench.store import ResultStore
from tinybench.suite import ModelResult, SuiteResult, SuiteSettings, TimingSummary

MODELS = ("fp32", "int8", "<i>x&y</i>")  # the third name checks the escaping
PLANTED_MODEL, PLANTED_BUILD = "int8", 3
ENV = {"cpu_model": "Test CPU 9000", "platform": "Linux-test", "python": "3.12.0", "torch": "2.13.0"}


def _suite_result(build: int, rng) -> SuiteResult:
    "One suite run: seeded lognormal batch times, 8 rounds per model; int8 is 1.6x slower in the planted build."
    models = {}
    for k, name in enumerate(MODELS):
        scale = 2e-3 * (1 + 0.5 * k) * (1.6 if (name == PLANTED_MODEL and build == PLANTED_BUILD) else 1.0)
        rounds = [rng.lognormal(np.log(scale), 0.2, 40) for _ in range(8)]
        models[name] = ModelResult(name, timing=TimingSummary(32, list(np.concatenate(rounds)),
                                                              [float(np.median(r)) for r in rounds]),
                                   quality={"accuracy": 0.97 - 0.01 * k})
    settings = SuiteSettings(batch_size=32, scenarios=(), batch_sizes=(), sequential=False)
    return SuiteResult(models, "fp32", settings, "classification", 100, environment=ENV)


def _record_history(db, builds: int = 4) -> dict:
    "Record `builds` runs through the real gate (record_in_store with baseline=True); returns the last verdicts."
    rng = np.random.default_rng(7)
    reports = {}
    for build in range(builds):
        reports = cli.record_in_store(_suite_result(build, rng), db, baseline=True, tolerance=0.10, prefix="t")
    return reports


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    "A store with 4 builds of 3 models, the int8 regression planted in the last; the dashboard of it."
    tmp = tmp_path_factory.mktemp("dash")
    db = tmp / "runs.sqlite"
    reports = _record_history(db)
    out = tmp / "out"
    path = build_dashboard(db, out)
    return db, path, reports


def _embedded(text: str) -> dict:
    m = re.search(r'<script type="application/json" id="tb-data">(.*?)</script>', text, re.S)
    assert m, "the page embeds its data"
    return json.loads(m.group(1))


def _name(model: str) -> str:
    return f"t/{model}/batch32"


def test_the_gate_flagged_the_planted_regression_and_only_it(history):
    "Precondition of the marker tests: the real gate (not the dashboard) judged the planted build regressed."
    db, _, reports = history
    assert not reports[_name(PLANTED_MODEL)]["ok"]
    assert all(reports[_name(m)]["ok"] for m in MODELS if m != PLANTED_MODEL)
    with ResultStore(db) as s:
        judged = [r for n in s.names() for r in s.history(n)]
        assert sum(r.verdict is not None for r in judged) == 9, "the first build has no baseline: not judged"
        assert [r.id for r in judged if r.verdict and not r.verdict["ok"]] == [s.history(_name(PLANTED_MODEL))[-1].id]
        last = {r.name: r for r in judged}  # the latest run of each name: the store keeps the verdict the gate returned
        assert all(last[n].verdict == json.loads(json.dumps(rep)) for n, rep in reports.items())


def test_one_self_contained_file_with_plotly_inline(history):
    from plotly.offline import get_plotlyjs
    _, path, _ = history
    assert [p.name for p in path.parent.iterdir()] == ["dashboard.html"]
    text = path.read_text()
    assert not re.search(r"<script[^>]*\bsrc=", text), "no external script: the page works offline"
    assert get_plotlyjs()[:300] in text and "cdn.plot.ly/plotly" not in text.split("<script>")[0]


def test_one_trend_trace_per_model_and_metric(history):
    _, path, _ = history
    data = _embedded(path.read_text())
    trends = [t for t in data["figure"]["data"] if t["meta"]["kind"] == "trend"]
    metrics = {t["meta"]["metric"] for t in trends}
    assert metrics == {"median_s", "p99_s", "throughput_samples_per_s", "accuracy"}, "no ':ci_' bound is a trend"
    for metric in metrics:
        models = [t["meta"]["model"] for t in trends if t["meta"]["metric"] == metric]
        assert sorted(models) == sorted(_name(m) for m in MODELS), metric
    assert all(len(t["y"]) == 4 for t in trends), "one point per recorded run"
    visible = [t for t in data["figure"]["data"] if t.get("visible") is not False]
    assert {t["meta"]["metric"] for t in visible} == {"median_s"}, "one metric shown at a time"


def test_error_bars_are_the_stored_intervals(history):
    db, path, _ = history
    data = _embedded(path.read_text())
    (trend,) = [t for t in data["figure"]["data"] if t["meta"] == {"metric": "median_s", "model": _name("fp32"),
                                                                     "kind": "trend"}]
    with ResultStore(db) as s:
        runs = s.history(_name("fp32"), samples=True)
    for run, y, up, down in zip(runs, trend["y"], trend["error_y"]["array"], trend["error_y"]["arrayminus"]):
        assert y == run.metrics["median_s"]
        assert np.isclose(y + up, run.metrics["median_s:ci_high"]) and np.isclose(y - down, run.metrics["median_s:ci_low"])
        assert run.metrics["median_s:ci_low"] == pytest.approx(interval_metrics(run.samples["round_median_s"], 32)
                                                               ["median_s:ci_low"])


def test_regression_markers_are_exactly_the_gate_verdicts(history):
    db, path, _ = history
    data = _embedded(path.read_text())
    with ResultStore(db) as s:
        planted = s.history(_name(PLANTED_MODEL))[-1]
        others = {r.id for n in s.names() for r in s.history(n)} - {planted.id}
    marks = [t for t in data["figure"]["data"] if t["meta"]["kind"] == "regressed"]
    marked = {t["meta"]["metric"]: {c[0] for c in t["customdata"]} for t in marks}
    # the gate judged round_median_s (time per batch): shown on time and throughput, not on p99 or accuracy
    assert marked == {"median_s": {planted.id}, "throughput_samples_per_s": {planted.id}}
    assert all(t["name"] == "regression (gate)" and t["meta"]["model"] == planted.name for t in marks)
    assert all(c[1] == html.escape(planted.git_commit or "no commit") for t in marks for c in t["customdata"])
    assert not others & set().union(*marked.values())
    assert not [t for t in data["figure"]["data"] if t["meta"]["kind"] == "cannot judge"]
    assert [t.get("showlegend", True) for t in marks] == [True, True], "one legend entry per chart"
    assert f"<td>{planted.id}</td><td>{_name(PLANTED_MODEL)}</td>" in path.read_text()


def test_hover_carries_commit_and_environment(history):
    db, path, _ = history
    data = _embedded(path.read_text())
    with ResultStore(db) as s:
        by_id = {r.id: r for n in s.names() for r in s.history(n)}
    trends = [t for t in data["figure"]["data"] if t["meta"]["kind"] == "trend"]
    for t in trends:
        assert "%{customdata[1]}" in t["hovertemplate"] and "%{customdata[2]}" in t["hovertemplate"]
        for c in t["customdata"]:
            run = by_id[c[0]]
            assert c[1] == html.escape(run.git_commit or "no commit")
            assert "cpu_model Test CPU 9000" in c[2] and "torch 2.13.0" in c[2]


def test_export_data_round_trips_to_the_store(history):
    "The embedded records (what the export buttons download) equal what the store holds."
    db, path, _ = history
    data = _embedded(path.read_text())
    with ResultStore(db) as s:
        stored = sorted((s.load(r.id) for n in s.names() for r in s.history(n)), key=lambda r: (r.created, r.id))
    assert len(data["runs"]) == len(stored) == 12
    for rec, run in zip(data["runs"], stored):
        d = run.to_dict()
        assert rec == {**{k: d[k] for k in ("id", "name", "created", "git_commit", "environment", "settings",
                                            "metrics", "verdict")}, "round_median_s": d["samples"]["round_median_s"]}
        assert rec == json.loads(json.dumps(run_record(run)))
        drill = data["drill"][str(run.id)]
        assert drill["round_medians"] == d["samples"]["round_median_s"] and drill["ecdf_of"] == "batch times"
        x = np.sort(run.samples["batch_s"])
        assert len(x) == 320 and len(drill["ecdf_x"]) == 200, "at most ECDF_POINTS points per run"
        assert drill["ecdf_x"] == pytest.approx(np.quantile(x, drill["ecdf_y"]), rel=1e-12)
        assert drill["ecdf_x"][0] == x[0] and drill["ecdf_x"][-1] == x[-1]


def test_names_are_escaped(history):
    _, path, _ = history
    text = path.read_text()
    assert "<i>x&y</i>" not in text, "a stored name cannot inject HTML"
    assert "&lt;i&gt;x&amp;y&lt;/i&gt;" in text  # in the benchmark select, escaped by jinja2
    assert _embedded(text)["runs"][2]["name"] == _name("<i>x&y</i>")


def test_empty_store_gives_a_page_that_says_no_runs_yet(tmp_path):
    db = tmp_path / "empty.sqlite"
    ResultStore(db).close()
    board = Dashboard.from_store(db)
    assert board.runs == [] and "0 records" in repr(board)
    text = board.save(tmp_path / "out").read_text()
    assert 'id="tb-empty"' in text and "No runs yet" in text and "tinybench run --store" in text
    assert "Plotly.newPlot" not in text


def test_bad_input_is_refused_clearly(tmp_path, capsys):
    missing = tmp_path / "nope.sqlite"
    with pytest.raises(ValueError, match="no such result store.*nope.sqlite.*tinybench run --store"):
        Dashboard.from_store(missing)
    assert not missing.exists(), "a missing store is not created"
    assert cli.main(["dashboard", "--store", str(missing)]) == 2
    assert "no such result store" in capsys.readouterr().err
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database")
    assert cli.main(["dashboard", "--store", str(notes)]) == 2
    assert "not an SQLite database" in capsys.readouterr().err
    db = tmp_path / "runs.sqlite"
    ResultStore(db).close()
    blocker = tmp_path / "afile"
    blocker.write_text("")
    assert cli.main(["dashboard", "--store", str(db), "--out", str(blocker / "sub")]) == 1
    assert "cannot write" in capsys.readouterr().err
    with pytest.raises(OSError, match="is a file, not a folder"):
        Dashboard.from_store(db).save(blocker)


def test_cli_dashboard_writes_the_page(history, tmp_path, capsys):
    db, _, _ = history
    assert cli.main(["dashboard", "--store", str(db), "--out", str(tmp_path / "d"), "--title", "nightly"]) == 0
    path = tmp_path / "d" / "dashboard.html"
    assert capsys.readouterr().out.strip() == str(path)
    text = path.read_text()
    assert "<title>nightly</title>" in text and len(_embedded(text)["runs"]) == 12


def test_run_dashboard_needs_a_store(tmp_path, capsys):
    assert cli.main(["run", "--quiet", "--save-dir", str(tmp_path), "--dashboard"]) == 2
    assert "--dashboard needs --store" in capsys.readouterr().err


@pytest.mark.slow
def test_run_dashboard_refreshes_the_page_after_recording(tmp_path):
    """Two real quick runs with --store --baseline --dashboard: the page next to the store shows both runs, and marks
    exactly what the gate reported in the second run's results.json (whatever this machine measured)."""
    db = tmp_path / "runs.sqlite"
    args = ["run", "--quick", "--quiet", "--scenarios", "", "--batch-sizes", "1", "--no-memory", "--store", str(db),
            "--baseline", "--dashboard"]
    assert cli.main([*args, "--save-dir", str(tmp_path / "first")]) == 0, "no baseline yet: nothing can regress"
    page = tmp_path / "dashboard.html"
    first = _embedded(page.read_text())["runs"]
    assert first and all(r["verdict"] is None for r in first), "the first run is the baseline: not judged"
    code = cli.main([*args, "--save-dir", str(tmp_path / "second")])
    data = _embedded(page.read_text())
    second = [r for r in data["runs"] if r["id"] not in {f["id"] for f in first}]
    with ResultStore(db) as s:
        assert len(data["runs"]) == len(s) == 2 * len(first) and {r["name"] for r in second} == set(s.names())
    reports = SuiteResult.load(next((tmp_path / "second").iterdir()) / "results.json").regressions
    assert {r["name"]: r["verdict"] for r in second} == json.loads(json.dumps(reports))
    assert code == (1 if any(not rep["ok"] for rep in reports.values()) else 0)
    regressed = {n for n, rep in reports.items() if any(row["verdict"] == "regressed" for row in rep["rows"])}
    marked = {t["meta"]["model"] for t in data["figure"]["data"] if t["meta"]["kind"] == "regressed"}
    assert marked == regressed


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="needs Chromium (apt-get install chromium)")
def test_dashboard_renders_in_headless_chromium(history, tmp_path):
    import matplotlib.image as mpimg
    _, path, _ = history
    shot = tmp_path / "shot.png"
    base = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr",
            "--v=0", f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000"]
    proc = subprocess.run([*base, f"--screenshot={shot}", "--window-size=1280,1400", path.as_uri()],
                          capture_output=True, text=True, timeout=180)
    assert shot.exists() and shot.stat().st_size > 10_000, proc.stderr[-2000:]
    console = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console
    img = mpimg.imread(shot)[..., :3]
    ink = (img.mean(axis=2) < 0.9).mean()
    assert ink > 0.02, f"the screenshot is nearly blank ({ink:.1%} of pixels are not white)"
    dom = subprocess.run([*base, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=180).stdout
    # the median_s chart: one trend trace per model plus the gate's marker trace for the planted regression
    assert dom.count('class="trace scatter') == len(MODELS) + 1, dom.count('class="trace scatter')
    legend = re.findall(r'class="legendtext"[^>]*>([^<]*)<', dom)
    assert sorted(legend) == sorted([*(html.escape(_name(m), quote=False) for m in MODELS), "regression (gate)"]), legend
    assert dom.count('class="errorbar"') > 0, "the intervals are drawn"


@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="needs Chromium (apt-get install chromium)")
def test_drill_down_of_a_linked_run_in_headless_chromium(history, tmp_path):
    "dashboard.html#run=<id> opens that run's drill-down: its ECDF and its round medians are drawn."
    db, path, _ = history
    with ResultStore(db) as s:
        planted = s.history(_name(PLANTED_MODEL))[-1]
    base = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
            f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom"]
    proc = subprocess.run([*base, path.as_uri() + f"#run={planted.id}"], capture_output=True, text=True, timeout=180)
    dom = proc.stdout
    assert f"run #{planted.id} {html.escape(planted.name, quote=False)}, commit" in dom, proc.stderr[-2000:]
    drill = dom[dom.index('id="tb-drill"'):]
    assert drill.count('class="trace scatter') == 2 and "ECDF of batch times" in drill
    assert not [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]


@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="needs Chromium (apt-get install chromium)")
def test_filters_from_the_address_in_headless_chromium(history, tmp_path):
    "dashboard.html#metric=accuracy&model=<name> shows that metric of that benchmark only: one trace, no marker."
    from urllib.parse import quote
    _, path, _ = history
    base = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
            f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom"]
    url = path.as_uri() + "#metric=accuracy&model=" + quote(_name("<i>x&y</i>"), safe="")
    proc = subprocess.run([*base, url], capture_output=True, text=True, timeout=180)
    trend = proc.stdout[proc.stdout.index('id="tb-trend"'):proc.stdout.index('id="tb-drill"')]
    assert trend.count('class="trace scatter') == 1, proc.stderr[-2000:]
    assert "accuracy (fraction)" in trend and "regression (gate)" not in trend
    assert re.findall(r'class="legendtext"[^>]*>([^<]*)<', trend) == [html.escape(_name("<i>x&y</i>"), quote=False)]
    assert not [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run the page's export functions")
def test_csv_and_json_export_of_the_shown_data_round_trip(history, tmp_path):
    "The page's own export functions (run in Node on the embedded data) give the store's numbers and the gate's marks."
    import csv
    import io
    db, path, _ = history
    text = path.read_text()
    js = re.search(r'<script id="tb-export-js">(.*?)</script>', text, re.S).group(1)
    data = re.search(r'<script type="application/json" id="tb-data">(.*?)</script>', text, re.S).group(1)
    name = _name(PLANTED_MODEL)
    script = tmp_path / "export.js"
    script.write_text(js + f"\nconst D = JSON.parse({json.dumps(data)});\nconst X = tinybenchExport;\n"
                      f"const runs = X.shown(D.runs, 'median_s', {json.dumps(name)});\n"
                      "process.stdout.write(JSON.stringify({csv: X.csv(runs, 'median_s', D.gate), json: X.json(runs),"
                      " all: X.shown(D.runs, 'accuracy', '').length}));\n")
    out = json.loads(subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=60, check=True).stdout)
    with ResultStore(db) as s:
        runs = s.history(name, samples=True)
        n_all = len(s)
    assert json.loads(out["json"]) == [json.loads(json.dumps(run_record(r))) for r in runs]
    rows = list(csv.DictReader(io.StringIO(out["csv"])))
    assert [int(r["run_id"]) for r in rows] == [r.id for r in runs] and out["all"] == n_all
    for row, run in zip(rows, runs):
        assert float(row["value"]) == run.metrics["median_s"] and row["git_commit"] == (run.git_commit or "")
        assert float(row["ci_low"]) == run.metrics["median_s:ci_low"] and float(row["created_unix_s"]) == run.created
    assert [r["gate"] for r in rows] == ["not judged", "passed", "passed", "regressed"]


def test_a_run_the_gate_could_not_judge_is_marked_apart(tmp_path):
    db = tmp_path / "runs.sqlite"
    with ResultStore(db) as s:
        ok = s.save("k", {"median_s": 1e-3}, commit="a", env=ENV)
        bad = s.save("k", {"median_s": 1e-3, "accuracy": 0.9}, commit="b", env=ENV,
                     verdict={"ok": False, "error": "current metric 'accuracy' is NaN", "rows": []})
    board = Dashboard.from_store(db)
    assert board.flagged("median_s", "cannot judge") == [bad] and board.flagged("median_s") == []
    data = _embedded(board.to_html())
    marks = {t["meta"]["metric"]: [c[0] for c in t["customdata"]] for t in data["figure"]["data"]
             if t["meta"]["kind"] == "cannot judge"}
    assert marks == {"median_s": [bad], "accuracy": [bad]} and ok not in sum(marks.values(), [])
    assert data["gate"][str(ok)] == {"median_s": "not judged"}


def test_one_legend_entry_per_kind_of_mark_when_several_benchmarks_regressed(tmp_path):
    db = tmp_path / "runs.sqlite"
    regressed = {"ok": False, "rows": [{"metric": "round_median_s", "verdict": "regressed"}]}
    with ResultStore(db) as s:
        ids = [s.save(n, {"median_s": 2e-3}, commit="c", env=ENV, verdict=regressed) for n in ("a", "b")]
    data = _embedded(Dashboard.from_store(db).to_html())
    marks = [t for t in data["figure"]["data"] if t["meta"]["kind"] == "regressed"]
    assert [(t["meta"]["model"], t["customdata"][0][0], t.get("showlegend", True)) for t in marks] == \
        [("a", ids[0], True), ("b", ids[1], False)]


# --- what a first-time user ran into: record counts, model= by model name, drill-down vs filter, log y, notes ---

NOISY = ("fp32", "int8-dynamic", "fp16", "pruned")


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    """Two invocations of a 4-model suite (8 records, names as `tinybench run` writes them); one noisy 36 ms run among
    ~1-4 ms ones, and the second invocation timed with 3 rounds only (no 90% interval)."""
    rng = np.random.default_rng(3)
    db = tmp_path_factory.mktemp("noisy") / "h.sqlite"
    ids = {}
    with ResultStore(db) as s:
        for inv, rounds in enumerate((8, 3)):
            for k, model in enumerate(NOISY):
                scale = 36e-3 if (inv, model) == (1, "fp32") else 1e-3 * (1 + k)
                rm = list(rng.lognormal(np.log(scale), 0.05, rounds))
                name = f"digits-cnn/{model}/batch32"
                ids[(inv, model)] = s.save(name, {"median_s": float(np.median(rm)), "accuracy": 0.9,
                                                  **interval_metrics(rm, 32)},
                                           {"round_median_s": rm}, commit=f"c{inv}", env=ENV)
    return db, build_dashboard(db, db.parent / "out"), ids


def test_header_counts_records_not_invocations(noisy):
    _, path, _ = noisy
    text = path.read_text()
    assert "8 records of 4 benchmarks" in text and "8 runs" not in text
    assert "records of 4 benchmarks" in repr(Dashboard.from_store(noisy[0]))


def _node_rules(path, tmp_path, calls: str) -> dict:
    "Run the page's pure view functions (tb-export-js) in Node on its embedded data; `calls` is a JS object literal."
    text = path.read_text()
    js = re.search(r'<script id="tb-export-js">(.*?)</script>', text, re.S).group(1)
    data = re.search(r'<script type="application/json" id="tb-data">(.*?)</script>', text, re.S).group(1)
    script = tmp_path / "rules.js"
    script.write_text(js + f"\nconst D = JSON.parse({json.dumps(data)});\nconst X = tinybenchExport;\n"
                      f"process.stdout.write(JSON.stringify({calls}));\n")
    return json.loads(subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=60,
                                     check=True).stdout)


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run the page's view functions")
def test_model_in_the_address_accepts_a_model_name(noisy, tmp_path):
    _, path, _ = noisy
    out = _node_rules(path, tmp_path, "{full: X.resolveModel(D.names, 'digits-cnn/fp32/batch32'),"
                      " bare: X.resolveModel(D.names, 'fp32'), int8: X.resolveModel(D.names, 'int8-dynamic'),"
                      " suffix: X.resolveModel(D.names, 'pruned/batch32'), sub: X.resolveModel(D.names, 'FP1'),"
                      " amb: X.resolveModel(D.names, 'digits-cnn'), none: X.resolveModel(D.names, 'bf16'),"
                      " empty: X.resolveModel(D.names, '')}")
    assert out["full"] == {"name": "digits-cnn/fp32/batch32", "note": ""}
    assert out["bare"] == {"name": "digits-cnn/fp32/batch32", "note": ""}, "fp32 is the model part, not a substring"
    assert out["int8"]["name"] == "digits-cnn/int8-dynamic/batch32"
    assert out["suffix"]["name"] == "digits-cnn/pruned/batch32" and out["sub"]["name"] == "digits-cnn/fp16/batch32"
    assert out["amb"]["name"] == "" and "matches 4 benchmarks" in out["amb"]["note"]
    assert out["none"] == {"name": "", "note": "model=bf16 matches no benchmark: showing all."}
    assert out["empty"] == {"name": "", "note": ""}


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run the page's view functions")
def test_drill_down_log_scale_and_interval_rules(noisy, history, tmp_path):
    _, path, ids = noisy
    int8, fp32 = ids[(1, "int8-dynamic")], ids[(1, "fp32")]
    out = _node_rules(path, tmp_path, "{other: X.drillable(D.runs, %d, 'digits-cnn/fp32/batch32'),"
                      " same: X.drillable(D.runs, %d, 'digits-cnn/fp32/batch32'), all: X.drillable(D.runs, %d, ''),"
                      " gone: X.drillable(D.runs, 999, ''),"
                      " logAll: X.logByDefault(D.runs, 'median_s', '', D.log_ratio),"
                      " logOne: X.logByDefault(D.runs, 'median_s', 'digits-cnn/int8-dynamic/batch32', D.log_ratio),"
                      " logAcc: X.logByDefault(D.runs, 'accuracy', '', D.log_ratio),"
                      " ci: X.intervalNote(D.runs, 'median_s', '', D.interval_metrics, D.min_rounds, D.level),"
                      " ciAcc: X.intervalNote(D.runs, 'accuracy', '', D.interval_metrics, D.min_rounds, D.level)}"
                      % (int8, fp32, int8))
    assert out["other"]["ok"] is False and f"run #{int8} is a record of digits-cnn/int8-dynamic/batch32" in \
        out["other"]["note"]
    assert out["same"]["ok"] and out["all"]["ok"] and not out["gone"]["ok"]
    assert out["logAll"] is True, "36 ms among 1-4 ms: more than a factor 10, log y"
    assert out["logOne"] is False and out["logAcc"] is False
    second = ", ".join(f"#{ids[(1, m)]} (3 rounds)" for m in NOISY)
    assert out["ci"] == f"No error bar on 4 of 8 shown runs. Runs with fewer than 5 rounds have no 90% interval: {second}."
    assert out["ciAcc"] == "No error bars on this chart: the store keeps no interval for it."
    _, hpath, _ = history  # 8 rounds everywhere, values within a factor 10: no note, linear
    h = _node_rules(hpath, tmp_path, "{ci: X.intervalNote(D.runs, 'median_s', '', D.interval_metrics, D.min_rounds,"
                    " D.level), log: X.logByDefault(D.runs, 'median_s', '', D.log_ratio)}")
    assert h == {"ci": "", "log": False}


def _dump_dom(url: str, tmp_path) -> subprocess.CompletedProcess:
    base = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
            f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom"]
    return subprocess.run([*base, url], capture_output=True, text=True, timeout=180)


@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="needs Chromium (apt-get install chromium)")
def test_noisy_history_opens_on_log_y_with_notes_in_headless_chromium(noisy, tmp_path):
    "No address: log y (one 36 ms run), the interval note under the chart, the drill-down one line of hint."
    _, path, ids = noisy
    proc = _dump_dom(path.as_uri(), tmp_path)
    dom = proc.stdout
    trend = dom[dom.index('id="tb-trend"'):dom.index('id="tb-drill-title"')]
    assert "median time per batch (s), log scale" in trend, proc.stderr[-2000:]
    assert trend.count('class="trace scatter') == 4
    assert "Runs with fewer than 5 rounds have no 90% interval" in trend and f"#{ids[(1, 'fp32')]} (3 rounds)" in trend
    assert "Click a point to see that run's latency ECDF" in dom
    assert re.search(r'<div id="tb-drill" hidden="">', dom), "no empty drill-down plots before a click"
    assert not [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]


@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="needs Chromium (apt-get install chromium)")
def test_model_name_and_a_run_of_another_benchmark_in_headless_chromium(noisy, tmp_path):
    """#model=fp32&run=<an int8 record>: the bare model name selects digits-cnn/fp32/batch32 (one line), and the
    drill-down does not show the int8 run but says which benchmark it belongs to; a run of fp32 is drawn."""
    _, path, ids = noisy
    int8 = ids[(1, "int8-dynamic")]
    proc = _dump_dom(path.as_uri() + f"#model=fp32&run={int8}", tmp_path)
    dom = proc.stdout
    trend = dom[dom.index('id="tb-trend"'):dom.index('id="tb-drill-title"')]
    assert trend.count('class="trace scatter') == 1, proc.stderr[-2000:]
    assert re.findall(r'class="legendtext"[^>]*>([^<]*)<', trend) == ["digits-cnn/fp32/batch32"]
    note = re.search(r'<p id="tb-address-note">([^<]*)</p>', dom)
    assert note and note.group(1).startswith(f"run #{int8} is a record of digits-cnn/int8-dynamic/batch32, not of "
                                             "the shown benchmark digits-cnn/fp32/batch32")
    assert f"run #{int8} digits-cnn/int8-dynamic" not in dom and re.search(r'<div id="tb-drill" hidden="">', dom)
    fp32 = ids[(1, "fp32")]  # a run of the shown benchmark is drawn
    dom = _dump_dom(path.as_uri() + f"#model=fp32&run={fp32}", tmp_path).stdout
    assert f"run #{fp32} digits-cnn/fp32/batch32, commit c1" in dom
    assert re.search(r'<p id="tb-address-note" hidden=""></p>', dom), "no note when the run fits the filter"
    assert dom[dom.index('id="tb-drill"'):].count('class="trace scatter') == 2
    assert not [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
