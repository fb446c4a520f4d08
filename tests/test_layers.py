"""tools/build.py's import rules: acyclic layers and no private names across modules (checked by `make lint`)."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("build", ROOT / "tools" / "build.py")
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)


def test_the_package_follows_its_layers():
    assert build.import_problems() == []


def test_every_module_has_a_layer():
    modules = {p.stem for p in (ROOT / "tinybench").glob("*.py")} - {"__init__"}
    assert modules <= set(build.LAYERS), modules - set(build.LAYERS)


def test_an_upward_a_private_and_an_unknown_import_are_each_reported(tmp_path):
    (tmp_path / "timing.py").write_text("def helper():\n    from .report import Report\n    return Report\n")
    (tmp_path / "stats.py").write_text("from tinybench.timing import _private, measure\n")
    (tmp_path / "cli.py").write_text("import tinybench.nowhere\nfrom . import timing\n")
    (tmp_path / "extra.py").write_text("x = 1\n")
    problems = build.import_problems(tmp_path)
    upward = f"timing.py:2: timing (layer {build.LAYERS['timing']}) imports report (layer {build.LAYERS['report']})"
    assert any(upward in p for p in problems), problems
    assert any("stats.py:1: imports timing's private _private" in p for p in problems), problems
    assert any("cli.py:1: imports tinybench.nowhere, which has no layer" in p for p in problems), problems
    assert any("extra.py: module 'extra' has no layer" in p for p in problems), problems
    assert not any(p.startswith("cli.py:2") for p in problems), "cli may import a lower layer"
    assert len(problems) == 4, problems
