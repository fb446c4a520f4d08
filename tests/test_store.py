"""tinybench.store: exact round trips, concurrent writers, a writer killed mid-run, foreign files, migrations."""
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from tinybench.store import SCHEMA_VERSION, ResultStore, ResultStoreError

WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from tinybench.store import ResultStore
    path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = ResultStore(path)
    for i in range(n):
        store.save(f"bench-{tag}", {"i": i}, {"x": np.arange(64) * i}, env={"writer": tag}, commit="c0ffee")
        if n > 10**6:
            print(i, flush=True)
""")


def test_round_trip_is_exact(tmp_path):
    x = np.random.default_rng(0).standard_normal(1000) * 1e-3
    with ResultStore(tmp_path / "r.sqlite") as s:
        rid = s.save("conv", {"median_s": 1.2345678901234567e-3, "n": 7}, {"latency_s": x}, {"batch": 8},
                     env={"cpu": "test"}, commit="abc123")
        run = s.load(rid)
    assert run.metrics == {"median_s": 1.2345678901234567e-3, "n": 7.0}
    assert np.array_equal(run.samples["latency_s"], x) and run.samples["latency_s"].dtype == np.float64
    assert run.settings == {"batch": 8} and run.environment == {"cpu": "test"} and run.git_commit == "abc123"
    assert "conv" in repr(run) and run.to_dict()["samples"]["latency_s"][0] == x[0]


def test_history_and_baseline(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as s:
        ids = [s.save("k", {"v": i}, commit="x") for i in range(3)]
        s.save("other", {"v": 9}, commit="x")
        assert [r.id for r in s.history("k")] == ids and s.names() == ["k", "other"]
        assert s.baseline("k").id == ids[-1], "without a mark, the latest run"
        s.set_baseline(ids[0])
        assert s.baseline("k").id == ids[0] and s.baseline("missing") is None and len(s) == 4
    with ResultStore(tmp_path / "r.sqlite") as s:
        assert s.baseline("k").id == ids[0], "the mark persists"
    with pytest.raises(KeyError):
        ResultStore(tmp_path / "r.sqlite").load(999)
    with pytest.raises(ValueError, match="numbers"):
        ResultStore(tmp_path / "r.sqlite").save("k", {"v": [1, 2]})


def test_env_and_commit_recorded_by_default(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as s:
        run = s.load(s.save("k", {"v": 1.0}))
    assert run.environment["python"] and "cpu_count" in run.environment


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "r.sqlite"
    ResultStore(path).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), tag, "200"]) for tag in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with ResultStore(path) as s:
        assert len(s) == 400 and len(s.history("bench-a")) == len(s.history("bench-b")) == 200
        assert s.conn.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] == 400
        assert s.conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 400


def test_a_writer_killed_mid_run_leaves_every_committed_run(tmp_path):
    path = tmp_path / "r.sqlite"
    p = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "k", str(10**7)], stdout=subprocess.PIPE, text=True)
    committed = -1
    deadline = time.time() + 60
    while committed < 50 and time.time() < deadline:  # let it commit some runs, then kill it mid-stream
        committed = int(p.stdout.readline())
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    with ResultStore(path) as s:
        assert s.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        runs = s.history("bench-k", samples=True)
        assert len(runs) >= committed + 1, "every run it reported as committed is there"
        for r in runs:  # and each is complete: no run without its metrics or samples
            assert r.metrics == {"i": r.metrics["i"]} and np.array_equal(r.samples["x"], np.arange(64) * r.metrics["i"])


def test_foreign_and_corrupt_files_are_refused_clearly(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("these are my notes, not a database\n" * 10)
    with pytest.raises(ResultStoreError, match="not an SQLite database"):
        ResultStore(text)
    assert text.read_text().startswith("these are my notes"), "the file is untouched"
    other = tmp_path / "app.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE users (id INTEGER)")
    con.commit()
    con.close()
    with pytest.raises(ResultStoreError, match="another application"):
        ResultStore(other)
    with pytest.raises(ResultStoreError, match="directory"):
        ResultStore(tmp_path)
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    with pytest.raises(ResultStoreError):
        ResultStore(broken)


def test_migration_from_schema_v1(tmp_path):
    path = tmp_path / "old.sqlite"
    with ResultStore(path) as s:
        rid = s.save("k", {"v": 1.0}, commit="x")
        s.conn.execute("DROP TABLE baselines")  # what a version-1 store looked like
        s.conn.execute("PRAGMA user_version = 1")
    with ResultStore(path) as s:
        assert s.schema_version == SCHEMA_VERSION and s.load(rid).metrics == {"v": 1.0}
        s.set_baseline(rid)
        assert s.baseline("k").id == rid
    with ResultStore(path) as s:
        s.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ResultStoreError, match="newer"):
        ResultStore(path)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), np.float32("nan")])
def test_a_non_finite_metric_is_refused_not_stored_as_none(tmp_path, value):
    "A NaN metric would load back as None (SQLite stores NaN as NULL). It is refused, and nothing is written."
    with ResultStore(tmp_path / "r.sqlite") as s:
        with pytest.raises(ValueError, match="metric 'median' must be a finite number .* got"):
            s.save("k", {"median": value, "p99": 1.0})
        assert s.names() == []
        rid = s.save("k", {"median": 1.0}, samples={"t": [1.0, float("nan")]})  # samples are kept bit for bit
        assert np.isnan(s.load(rid).samples["t"][1])


@pytest.mark.parametrize("kwargs, exc, pattern", [
    (dict(name=None), ValueError, "non-empty name"), (dict(name=""), ValueError, "non-empty name"),
    (dict(name="k", metrics=[1.0]), TypeError, "metrics must be a dict"),
    (dict(name="k", metrics={"m": "fast"}), ValueError, "metrics must be numbers"),
    (dict(name="k", metrics={"m": True}), ValueError, "metrics must be numbers"),
    (dict(name="k", samples={"t": ["a"]}), ValueError, "samples must map names to sequences of numbers")])
def test_save_bad_inputs(tmp_path, kwargs, exc, pattern):
    with ResultStore(tmp_path / "r.sqlite") as s, pytest.raises(exc, match=pattern):
        s.save(**kwargs)


def test_the_gate_verdict_is_stored_with_its_run(tmp_path):
    path = tmp_path / "runs.sqlite"
    verdict = {"ok": False, "tolerance": 0.1, "rows": [{"metric": "round_median_s", "verdict": "regressed",
                                                         "ci": [1.2, 1.4], "ratio": 1.3}]}
    with ResultStore(path) as s:
        judged = s.save("k", {"v": 2.0}, verdict=verdict, commit="b")
        plain = s.save("k", {"v": 1.0}, commit="a")
        assert s.load(judged).verdict == verdict and s.load(plain).verdict is None
        assert s.load(judged).to_dict()["verdict"] == verdict
        with pytest.raises(TypeError, match="verdict must be a dict"):
            s.save("k", {"v": 1.0}, verdict="regressed")
        s.conn.execute("DROP TABLE verdicts")  # what a version-2 store looked like
        s.conn.execute("PRAGMA user_version = 2")
    with ResultStore(path) as s:
        assert s.schema_version == SCHEMA_VERSION == 3 and s.load(plain).verdict is None
        assert s.load(s.save("k", {"v": 1.0}, verdict={"ok": True, "rows": []})).verdict == {"ok": True, "rows": []}
