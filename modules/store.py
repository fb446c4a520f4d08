# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Result store: the history of benchmark runs in SQLite
#
# A support notebook (`tinybench.store`), taught in module 04 (regression detection against a
# stored baseline) and used by `tinybench run`. A regression gate needs history: what did this
# benchmark measure last week, on which commit, with which settings? `ResultStore` keeps it in one
# SQLite file (the standard library's `sqlite3`, nothing to install):
#
# - a run: name, time, environment, git commit (when there is one), settings;
# - its metrics (one number each) and raw samples (arrays of float64);
# - which run is the baseline for a name;
# - the regression gate's verdict on a run (`verdict`: the `RegressionReport` dict that
#   `tinybench run --store --baseline` acted on), so that a later reader (the dashboard) shows
#   what the gate decided instead of deciding again by another rule.
#
# The file runs in WAL mode, so readers never block the writer; every `save` is one transaction
# (`BEGIN IMMEDIATE`), so a process killed mid-write loses only the run it was writing, and two
# processes writing at once wait for each other instead of failing. The schema has a version and
# migrations; a file that is not a tinybench store is refused with a clear error.

# %%
#| default_exp store

# %%
#| export
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tinybench.env import environment, git_commit
from tinybench.checks import check_number

SCHEMA_VERSION = 3
APPLICATION_ID = 0x74696E62  # "tinb": marks the file as a tinybench store (PRAGMA application_id)

# %%
#| export
class ResultStoreError(RuntimeError):
    "The file is not a usable tinybench result store (not SQLite, another application's database, corrupt, newer)."


_SCHEMA = [
    """CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, created REAL NOT NULL,
       git_commit TEXT, environment TEXT NOT NULL, settings TEXT NOT NULL)""",
    "CREATE INDEX runs_by_name ON runs (name, created)",
    """CREATE TABLE metrics (run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, metric TEXT NOT NULL,
       value REAL, PRIMARY KEY (run_id, metric))""",
    """CREATE TABLE samples (run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, metric TEXT NOT NULL,
       data BLOB NOT NULL, PRIMARY KEY (run_id, metric))""",
]
# version n -> n+1; version 1 had no baselines table, version 2 no verdicts table
_MIGRATIONS = {1: ["CREATE TABLE baselines (name TEXT PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id))"],
               2: ["""CREATE TABLE IF NOT EXISTS verdicts (run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
                   report TEXT NOT NULL)"""]}

# %%
#| export
@dataclass(repr=False)
class StoredRun:
    """One run from the store: metrics (numbers), samples (float64 arrays), and where and how it was measured;
    `verdict`: the regression gate's report on this run (a `RegressionReport` dict), None when no gate judged it."""
    id: int
    name: str
    created: float
    git_commit: str | None
    environment: dict[str, Any]
    settings: dict[str, Any]
    metrics: dict[str, float]
    samples: dict[str, np.ndarray] = field(default_factory=dict)
    verdict: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "created": self.created, "git_commit": self.git_commit,
                "environment": self.environment, "settings": self.settings, "metrics": self.metrics,
                "samples": {k: v.tolist() for k, v in self.samples.items()}, "verdict": self.verdict}

    def __repr__(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.created))
        commit = f", commit {self.git_commit[:8]}" if self.git_commit else ""
        return (f"StoredRun(#{self.id} {self.name!r} at {when} UTC{commit}: {len(self.metrics)} metrics, "
                f"{len(self.samples)} sample arrays)")

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{k}</td><td>{v:.6g}</td></tr>" for k, v in self.metrics.items())
        return f"<div><b>{self!r}</b><table><tr><th>metric</th><th>value</th></tr>{rows}</table></div>"

# %%
#| export
class ResultStore:
    "Benchmark runs in one SQLite file (WAL mode, one transaction per save); see the notebook."
    def __init__(self, path: str | Path = "tinybench-results.sqlite", timeout: float = 30.0):
        self.path = Path(path)
        self._check_file()
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self._init_schema()
        except sqlite3.DatabaseError as e:
            raise ResultStoreError(f"{self.path} is not a usable tinybench result store: {e}") from e

    def _check_file(self) -> None:
        if self.path.is_dir():
            raise ResultStoreError(f"{self.path} is a directory: give the path of a .sqlite file")
        if self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, "rb") as f:
                head = f.read(16)
            if head != b"SQLite format 3\x00":
                raise ResultStoreError(f"{self.path} is not an SQLite database (it starts with {head[:8]!r}): "
                                       "refusing to touch it; give a new path for the result store")

    def _init_schema(self) -> None:
        with self._transaction():
            app = self.conn.execute("PRAGMA application_id").fetchone()[0]
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if app == 0 and not tables:  # a new, empty file
                for stmt in _SCHEMA:
                    self.conn.execute(stmt)
                version = 1
                self.conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            elif app != APPLICATION_ID:
                raise ResultStoreError(f"{self.path} is an SQLite database of another application "
                                       f"(tables: {sorted(tables)}): give a new path for the result store")
            if version > SCHEMA_VERSION:
                raise ResultStoreError(f"{self.path} has schema version {version}, newer than this tinybench "
                                       f"({SCHEMA_VERSION}): upgrade tinybench")
            for v in range(version, SCHEMA_VERSION):
                for stmt in _MIGRATIONS[v]:
                    self.conn.execute(stmt)
            self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    class _Tx:
        def __init__(self, conn: sqlite3.Connection):
            self.conn = conn

        def __enter__(self):
            self.conn.execute("BEGIN IMMEDIATE")  # take the write lock now: no deadlock when upgrading later
            return self.conn

        def __exit__(self, exc_type, *rest):
            self.conn.execute("ROLLBACK" if exc_type else "COMMIT")

    def _transaction(self) -> "ResultStore._Tx":
        return ResultStore._Tx(self.conn)

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def save(self, name: str, metrics: dict[str, float] | None = None, samples: dict[str, Sequence[float]] | None = None,
             settings: dict[str, Any] | None = None, env: dict[str, Any] | None = None,
             commit: str | None = None, verdict: dict[str, Any] | None = None) -> int:
        """Store one run atomically; returns its id. `env` defaults to `environment()`, `commit` to the git HEAD;
        `verdict` is the regression gate's report on this run (a JSON-able dict, e.g. `RegressionReport.to_dict()`).

        Metrics are finite numbers: a NaN or infinite metric is refused with a ValueError (SQLite would store NaN as
        NULL, which loads back as None), so record a failed measurement as missing, not as NaN. Sample arrays are
        stored bit for bit, NaN included."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a run needs a non-empty name (the benchmark it belongs to), got {name!r}")
        for arg, value in (("metrics", metrics), ("samples", samples), ("settings", settings), ("env", env),
                           ("verdict", verdict)):
            if value is not None and not isinstance(value, dict):
                raise TypeError(f"{arg} must be a dict or None, got {type(value).__name__}")
        metrics, samples = dict(metrics or {}), dict(samples or {})
        bad = [k for k, v in metrics.items()
               if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number))]
        if bad:
            raise ValueError(f"metrics must be numbers; put arrays in samples=: {bad}")
        metrics = {k: check_number(v, f"metric {k!r}", hint="store a failed measurement as missing, not NaN")
                   for k, v in metrics.items()}
        try:
            arrays = {k: np.asarray(v, dtype=np.float64).ravel() for k, v in samples.items()}
        except (TypeError, ValueError) as e:
            raise ValueError(f"samples must map names to sequences of numbers ({e})") from e
        with self._transaction() as c:
            cur = c.execute("INSERT INTO runs (name, created, git_commit, environment, settings) VALUES (?, ?, ?, ?, ?)",
                            (name, time.time(), commit if commit is not None else git_commit(),
                             json.dumps(env if env is not None else environment(), default=str),
                             json.dumps(settings or {}, default=str)))
            run_id = cur.lastrowid
            c.executemany("INSERT INTO metrics VALUES (?, ?, ?)", [(run_id, k, float(v)) for k, v in metrics.items()])
            c.executemany("INSERT INTO samples VALUES (?, ?, ?)", [(run_id, k, a.tobytes()) for k, a in arrays.items()])
            if verdict is not None:
                c.execute("INSERT INTO verdicts VALUES (?, ?)", (run_id, json.dumps(verdict, default=str)))
        return int(run_id)

    def load(self, run_id: int, samples: bool = True) -> StoredRun:
        "The run with id `run_id` (with its sample arrays unless samples=False)."
        row = self.conn.execute("SELECT id, name, created, git_commit, environment, settings FROM runs WHERE id = ?",
                                (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run with id {run_id} in {self.path}")
        metrics = dict(self.conn.execute("SELECT metric, value FROM metrics WHERE run_id = ?", (run_id,)))
        arrays = {}
        if samples:
            arrays = {k: np.frombuffer(b, dtype=np.float64).copy()
                      for k, b in self.conn.execute("SELECT metric, data FROM samples WHERE run_id = ?", (run_id,))}
        verdict = self.conn.execute("SELECT report FROM verdicts WHERE run_id = ?", (run_id,)).fetchone()
        return StoredRun(row[0], row[1], row[2], row[3], json.loads(row[4]), json.loads(row[5]), metrics, arrays,
                         None if verdict is None else json.loads(verdict[0]))

    def history(self, name: str, samples: bool = False) -> list[StoredRun]:
        "Every run of `name`, oldest first."
        ids = [r[0] for r in self.conn.execute("SELECT id FROM runs WHERE name = ? ORDER BY created, id", (name,))]
        return [self.load(i, samples=samples) for i in ids]

    def names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT name FROM runs ORDER BY name")]

    def set_baseline(self, run_id: int) -> None:
        "Mark run `run_id` as the baseline of its name."
        name = self.load(run_id, samples=False).name
        with self._transaction() as c:
            c.execute("INSERT OR REPLACE INTO baselines VALUES (?, ?)", (name, run_id))

    def baseline(self, name: str, samples: bool = True) -> StoredRun | None:
        "The marked baseline of `name`, else its latest run; None if the store has no run of that name."
        row = self.conn.execute("SELECT run_id FROM baselines WHERE name = ?", (name,)).fetchone()
        if row is None:
            row = self.conn.execute("SELECT id FROM runs WHERE name = ? ORDER BY created DESC, id DESC LIMIT 1",
                                    (name,)).fetchone()
        return None if row is None else self.load(row[0], samples=samples)

    def __len__(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResultStore({str(self.path)!r}: {len(self)} runs of {len(self.names())} benchmarks, schema v{self.schema_version})"

    def _repr_html_(self) -> str:
        return f"<pre>{self!r}</pre>"

# %% [markdown]
# A round trip in a temporary folder:

# %%
import tempfile

with tempfile.TemporaryDirectory() as tmp:
    with ResultStore(Path(tmp) / "runs.sqlite") as store:
        rid = store.save("matmul", {"median_s": 1.5e-3}, {"latency_s": [1.4e-3, 1.5e-3, 1.7e-3]}, {"n": 512})
        run = store.load(rid)
        print(store, run, sep="\n")
        assert run.metrics == {"median_s": 1.5e-3} and run.samples["latency_s"].tolist() == [1.4e-3, 1.5e-3, 1.7e-3]
        assert store.baseline("matmul").id == rid and store.history("matmul")[0].settings == {"n": 512}
        judged = store.save("matmul", {"median_s": 1.9e-3}, verdict={"ok": False, "rows": [{"verdict": "regressed"}]})
        assert store.load(judged).verdict["ok"] is False and run.verdict is None
