"""Tests of the pipeline's output: the exported package."""
import ast
import configparser
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import tinybench

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / "tinybench"
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


@pytest.mark.parametrize("path", sorted(LIB.glob("*.py")), ids=lambda p: p.name)
def test_exported_module_has_no_solution_text_or_stubs(path):
    text = path.read_text()
    for marker in MARKERS:
        assert marker not in text
    assert "raise NotImplementedError" not in text, "no exercise stubs in the package"
    tree = ast.parse(text)
    module = importlib.import_module("tinybench" if path.stem == "__init__" else f"tinybench.{path.stem}")
    assert not [n for n in getattr(module, "__all__", []) if n.startswith("test")], "test functions exported"
    funcs = [n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    assert not [f for f in funcs if f.startswith("test_")]


def test_import_is_light_and_lazy():
    code = ("import sys, tinybench as tb; heavy = [m for m in ('torch', 'scipy', 'matplotlib') if m in sys.modules];"
            "assert not heavy, heavy; tb.measure; assert 'tinybench.timing' in sys.modules;"
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_api_and_version():
    cfg = configparser.ConfigParser(delimiters=["="])
    cfg.read(ROOT / "settings.ini")
    assert tinybench.__version__ == cfg["DEFAULT"]["version"]
    assert tinybench.measure is tinybench.timing.measure
    assert "measure" in dir(tinybench)
    with pytest.raises(AttributeError):
        tinybench.no_such_thing


def test_the_top_level_is_a_curated_set_of_entry_points():
    "About 25 entry points; every other public name is reached through its module, and `tb.x` says which one."
    public = [n for n in tinybench.__all__ if n != "__version__"]
    assert 20 <= len(public) <= 30, len(public)
    assert {"measure", "Timer", "compare", "run", "TestSettings", "BenchmarkSuite", "Report"} <= set(public)
    assert tinybench.stats.holm is importlib.import_module("tinybench.stats").holm
    with pytest.raises(AttributeError, match=r"not a top-level entry point: use tinybench\.stats\.holm"):
        tinybench.holm
    for name in public:  # each resolves to the object its module defines
        obj = getattr(tinybench, name)
        assert getattr(importlib.import_module(obj.__module__), name) is obj


def test_torch_requirement_admits_2_13():
    from packaging.requirements import Requirement
    cfg = configparser.ConfigParser(delimiters=["="])
    cfg.read(ROOT / "settings.ini")
    reqs = [Requirement(r) for r in cfg["DEFAULT"]["requirements"].split()]
    torch_req = next(r for r in reqs if r.name == "torch")
    assert torch_req.specifier.contains("2.13.0") and not torch_req.specifier.contains("3.0.0")
    assert not [r for r in reqs if r.name in ("nbdev", "fastcore", "jupytext", "nbgrader")]


def test_installed_package_does_not_import_authoring_tools():
    for path in LIB.glob("*.py"):
        tree = ast.parse(path.read_text())
        mods = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        mods |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not mods & {"nbdev", "fastcore", "jupytext", "nbgrader", "execnb"}, path
